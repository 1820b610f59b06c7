"""ONNX runners for Ultralytics exports (detect, segment, pose, classify, end-to-end)."""
