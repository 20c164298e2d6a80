"""Prediction with a bundle: `poseforge predict BUNDLE INPUT -o OUT`.

    predict(bundle, "photos/", "out/")   # -> out/poses.json, out/predict.json, out/<drawn images>

Needs only openvino, numpy and opencv (and rich for the progress bar): no torch, onnx or nncf.
"""

from .pipeline import predict, summary_line

__all__ = ["predict", "summary_line"]
