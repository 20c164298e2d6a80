"""poseforge: Lightweight OpenPose from checkpoint to fast, verified deployment artifacts."""

import os as _os

from poseforge.limits import MAX_IMAGE_PIXELS as _MAX_IMAGE_PIXELS

__version__ = "0.1.0"

# OpenCV reads its decoded-image limit once, when it loads: set here, before any poseforge module
# imports cv2.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(_MAX_IMAGE_PIXELS))


def __getattr__(name: str) -> object:
    # `from poseforge import PoseEstimator` without importing openvino for `import poseforge`.
    if name == "PoseEstimator":
        from poseforge.deploy.estimator import PoseEstimator

        return PoseEstimator
    raise AttributeError(f"module 'poseforge' has no attribute {name!r}")
