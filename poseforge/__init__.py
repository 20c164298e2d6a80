"""poseforge: Lightweight OpenPose from checkpoint to fast, verified deployment artifacts."""

import os as _os

from poseforge.limits import MAX_IMAGE_PIXELS as _MAX_IMAGE_PIXELS

__version__ = "0.1.0"

# OpenCV reads its decoded-image limit once, when it loads: set here, before any poseforge module
# imports cv2.
_os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(_MAX_IMAGE_PIXELS))


# The application API (docs/api.md). Each name is imported from its module when first asked for:
# `import poseforge` stays light: openvino loads when the first PoseEstimator is made.
__all__ = ["DecoderParams", "OneEuroParams", "PoseEstimator", "PoseforgeError", "Poses", "TrackerParams",
           "__version__", "draw_poses"]  # fmt: skip


def __getattr__(name: str) -> object:
    if name == "PoseEstimator":
        from poseforge.deploy.estimator import PoseEstimator

        return PoseEstimator
    if name in ("Poses", "DecoderParams"):
        from poseforge import decode

        return getattr(decode, name)
    if name == "TrackerParams":
        from poseforge.deploy.tracking import TrackerParams

        return TrackerParams
    if name == "OneEuroParams":
        from poseforge.deploy.smoothing import OneEuroParams

        return OneEuroParams
    if name == "draw_poses":
        from poseforge.draw import draw_poses

        return draw_poses
    if name == "PoseforgeError":
        from poseforge.errors import PoseforgeError

        return PoseforgeError
    raise AttributeError(f"module 'poseforge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
