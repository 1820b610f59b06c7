"""Models: the stub ``<project>/0``, ONNX runners for Ultralytics exports, the registry."""
