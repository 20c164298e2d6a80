"""The quantize stage: NNCF post-training quantization of the FP32 IR, optionally accuracy-controlled."""
