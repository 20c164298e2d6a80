"""The convert stage: checkpoint -> ONNX -> simplified ONNX -> OpenVINO IR (FP32, FP16), and parity."""
