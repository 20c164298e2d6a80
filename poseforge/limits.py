"""Bounds on what poseforge accepts, where more than one module needs them (standard library only)."""

# The most pixels an image may decode to (poseforge.images refuses more; OpenCV is told the same
# limit before it loads, by poseforge/__init__.py).
MAX_IMAGE_PIXELS = 1 << 26  # 67 megapixels: above any camera's frame, 200 MB as BGR pixels
