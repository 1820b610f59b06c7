"""Tiny ONNX models built with the onnx helper API that emit known tensors.

Each graph reads its ``images`` input (so onnxruntime runs a real graph) and
adds a constant: the output is exactly the constant, in the layout of an
Ultralytics export, with metadata (task, names, imgsz) like one.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper


def _graph_model(
    output: npt.NDArray[Any], metadata: dict[str, str], size: int, *extra: npt.NDArray[Any]
) -> bytes:
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    initializers = [numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero")]
    outputs = []
    for index, tensor in enumerate((output, *extra)):
        initializers.append(numpy_helper.from_array(tensor.astype(np.float32), f"const{index}"))
        nodes.append(helper.make_node("Add", [f"const{index}", "nothing"], [f"output{index}"]))
        outputs.append(
            helper.make_tensor_value_info(f"output{index}", TensorProto.FLOAT, list(tensor.shape))
        )
    graph = helper.make_graph(
        nodes,
        "winnow-test",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        outputs,
        initializer=initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    for key, value in metadata.items():
        entry = model.metadata_props.add()
        entry.key = key
        entry.value = value
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def end2end_detector() -> bytes:
    """64x64 end-to-end detector: one 'car' box (8, 20)-(24, 36) at 0.9 in input pixels."""
    out = np.zeros((1, 300, 6), dtype=np.float32)
    out[0, 0] = [8, 20, 24, 36, 0.9, 0]
    out[0, 1] = [30, 30, 40, 40, 0.1, 1]  # below any sensible confidence
    meta = {
        "task": "detect",
        "names": "{0: 'car', 1: 'person'}",
        "imgsz": "[64, 64]",
        "end2end": "True",
        "stride": "32",
        "batch": "1",
    }
    return _graph_model(out, meta, 64)


def classifier() -> bytes:
    """32x32 classifier of three classes answering cat 0.7, dog 0.2, bird 0.1."""
    out = np.array([[0.7, 0.2, 0.1]], dtype=np.float32)
    meta = {"task": "classify", "names": "{0: 'cat', 1: 'dog', 2: 'bird'}", "imgsz": "[32, 32]"}
    return _graph_model(out, meta, 32)


def pose_model() -> bytes:
    """64x64 raw pose head: 1 class, 2 keypoints, 32 anchors; anchor 3 is a person at 0.8."""
    channels = 4 + 1 + 2 * 3
    out = np.zeros((1, channels, 32), dtype=np.float32)
    out[0, :, 3] = [32, 32, 16, 16, 0.8, 28, 30, 0.9, 36, 34, 0.95]
    meta = {
        "task": "pose",
        "names": "{0: 'person'}",
        "imgsz": "[64, 64]",
        "kpt_shape": "[2, 3]",
        "batch": "1",
    }
    return _graph_model(out, meta, 64)


def segmenter() -> bytes:
    """64x64 raw segmentation head: 1 class, 64 anchors, 32 mask coefficients, 16x16 prototypes.

    Anchor 5 is a 'blob' box centred (32, 32), 16x16 in input pixels, at 0.85; its
    mask (prototype 0 everywhere positive, coefficient 0 = 1) fills the box.
    """
    channels = 4 + 1 + 32
    out = np.zeros((1, channels, 64), dtype=np.float32)
    out[0, :5, 5] = [32, 32, 16, 16, 0.85]
    out[0, 5, 5] = 1.0
    protos = np.zeros((1, 32, 16, 16), dtype=np.float32)
    protos[0, 0] = 4.0
    meta = {"task": "segment", "names": "{0: 'blob'}", "imgsz": "[64, 64]", "batch": "1"}
    return _graph_model(out, meta, 64, protos)


def threshold_classifier(threshold: float) -> bytes:
    """32x32 classifier: scores [mean, threshold] for classes bright, dark (mean of RGB/255)."""
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], keepdims=0),
        helper.make_node("Reshape", ["mean", "shape"], ["mean2"]),
        helper.make_node("Concat", ["mean2", "threshold"], ["scores"], axis=1),
    ]
    inits = [
        numpy_helper.from_array(np.array([1, 1], np.int64), "shape"),
        numpy_helper.from_array(np.array([[threshold]], np.float32), "threshold"),
    ]
    graph = helper.make_graph(
        nodes,
        "threshold",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, [1, 2])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(
        model, {"task": "classify", "names": "{0: 'bright', 1: 'dark'}", "imgsz": "[32, 32]"}
    )
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())
