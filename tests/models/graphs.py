"""Tiny ONNX graphs that emit known tensors, for driving the runners through onnxruntime.

``constant_model`` ignores the image values and broadcasts fixed outputs over
the batch axis (so a dynamic batch works); ``channel_mean_model`` outputs the
mean of each input channel, to check what the runner feeds the network.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import onnx
from onnx import TensorProto, helper, numpy_helper


def _finish(graph: onnx.GraphProto, metadata: Mapping[str, str] | None) -> bytes:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, dict(metadata))
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


def constant_model(
    outputs: Sequence[npt.NDArray[Any]],
    *,
    input_shape: Sequence[int | str] = ("batch", 3, 640, 640),
    metadata: Mapping[str, str] | None = None,
) -> bytes:
    """A model whose outputs are ``outputs`` (each with a leading batch axis of 1) for every image.

    With a symbolic batch axis the outputs are broadcast to the batch size.
    """
    nodes = [
        helper.make_node("Shape", ["images"], ["in_shape"]),
        helper.make_node("Slice", ["in_shape", "zero", "one"], ["batch"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
    ]
    graph_outputs = []
    for i, value in enumerate(outputs):
        value = np.asarray(value, np.float32)
        assert value.shape[0] == 1, "give outputs with a batch axis of 1"
        inits.append(numpy_helper.from_array(value, f"value{i}"))
        inits.append(numpy_helper.from_array(np.array(value.shape[1:], np.int64), f"rest{i}"))
        nodes.append(helper.make_node("Concat", ["batch", f"rest{i}"], [f"shape{i}"], axis=0))
        nodes.append(helper.make_node("Expand", [f"value{i}", f"shape{i}"], [f"output{i}"]))
        dims: list[int | str] = ["batch", *value.shape[1:]]
        graph_outputs.append(helper.make_tensor_value_info(f"output{i}", TensorProto.FLOAT, dims))
    graph = helper.make_graph(
        nodes,
        "constant",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, list(input_shape))],
        graph_outputs,
        initializer=inits,
    )
    return _finish(graph, metadata)


def channel_mean_model(size: int, *, metadata: Mapping[str, str] | None = None) -> bytes:
    """A "classifier" whose scores ``[B, 3]`` are the means of input channels 0, 1, 2."""
    graph = helper.make_graph(
        [helper.make_node("ReduceMean", ["images"], ["scores"], axes=[2, 3], keepdims=0)],
        "channel_mean",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["batch", 3])],
    )
    return _finish(graph, metadata)


def raw_head(rows: Sequence[Sequence[float]], anchors: int) -> npt.NDArray[Any]:
    """A raw Ultralytics head ``[1, C, anchors]`` whose first columns are ``rows`` (one per box).

    Each row is ``cx, cy, w, h, class scores..., extras...``; unused anchors are zero.
    """
    data = np.asarray(rows, np.float32)
    head = np.zeros((1, data.shape[1], anchors), np.float32)
    head[0, :, : len(data)] = data.T
    return head


def end2end_head(rows: Sequence[Sequence[float]], width: int, count: int = 300) -> npt.NDArray[Any]:
    """An end-to-end output ``[1, count, width]`` starting with ``rows`` (x1, y1, x2, y2, score, class, ...)."""
    head = np.zeros((1, count, width), np.float32)
    data = np.asarray(rows, np.float32)
    head[0, : len(data)] = data
    return head
