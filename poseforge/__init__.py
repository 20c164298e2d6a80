"""poseforge: Lightweight OpenPose from checkpoint to fast, verified deployment artifacts."""

__version__ = "0.1.0"
