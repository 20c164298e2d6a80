"""poseforge: Lightweight OpenPose from checkpoint to fast, verified deployment artifacts."""

import os as _os

__version__ = "0.1.0"

# The most pixels an image may decode to (poseforge.images refuses more). OpenCV reads its own
# limit once, when it loads: set here, before any poseforge module imports cv2.
MAX_IMAGE_PIXELS = 1 << 26  # 67 megapixels: above any camera's frame, 200 MB as BGR pixels
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
