"""The deployment runtime: what an application uses to find people with a bundle.

    PoseEstimator (estimator)   a bundle as an object to call per frame, or to stream frames through
    PoseTracker (tracking)      ids that stay with people across frames (OKS matching)
    PoseSmoother (smoothing)    One-Euro filtering of each tracked keypoint
    predict (predict)           a bundle on images, a video, a camera or a stream, written to a folder

Needs the base install only (openvino, numpy, opencv; imageio-ffmpeg for H.264 video): no torch, onnx or nncf.
"""

# What predict's --save takes (deploy/outputs.py writes them), here where the CLI can read it without cv2:
# the input drawn as it came, the poses alone (nothing drawn or encoded), the drawn frames as one video.
SAVE = ("drawn", "poses", "video")
