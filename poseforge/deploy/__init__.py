"""The deployment runtime: what turns per-frame network outputs into a usable video stream.

- `poseforge.deploy.tracking`: `PoseTracker`, an integer id per person that stays the same
  from frame to frame (greedy OKS matching against recently seen people).
- `poseforge.deploy.smoothing`: `PoseSmoother`, a One-Euro filter per keypoint coordinate of
  each tracked person, so that keypoints do not jitter while still following motion.

Both are pure NumPy, like the decoder, so they run wherever the network does. This file
imports nothing on purpose: import the submodules you need.
"""
