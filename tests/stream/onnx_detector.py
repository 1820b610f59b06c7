"""A real ONNX detector built here: it finds the green rectangle of the test frames.

The graph thresholds the (letterboxed, 0-1) input for "green" (G > 0.6 and
R < 0.4), projects the mask on both axes and answers one end-to-end box
``x1, y1, x2, y2, score, class`` around it (score 0 when nothing is green).
"""

from __future__ import annotations

import hashlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from winnow.errors import NotFoundError, UnauthorizedError
from winnow.models.source import ModelInfo

SIZE = 64


def green_box_detector(size: int = SIZE) -> bytes:
    """The ONNX bytes of the detector, input ``images [1, 3, size, size]``."""
    c = numpy_helper.from_array

    def i64(values: list[int], name: str) -> onnx.TensorProto:
        return c(np.array(values, np.int64), name)

    inits = [
        i64([0], "c0"),
        i64([1], "c1"),
        i64([2], "c2"),
        i64([1], "axis1"),
        i64([-1], "neg1"),
        i64([-(size + 1)], "rev_end"),
        c(np.array(0.6, np.float32), "g_min"),
        c(np.array(0.4, np.float32), "r_max"),
        c(np.array(float(size), np.float32), "size_f"),
        c(np.array(0.9, np.float32), "score_scale"),
        c(np.zeros((1, 1), np.float32), "class0"),
        i64([2], "axes_h"),
        i64([1], "axes_w"),
    ]
    n = helper.make_node
    nodes = [
        n("Slice", ["images", "c0", "c1", "axis1"], ["red"]),  # [1,1,S,S]
        n("Slice", ["images", "c1", "c2", "axis1"], ["green"]),
        n("Greater", ["green", "g_min"], ["g_hi"]),
        n("Less", ["red", "r_max"], ["r_lo"]),
        n("And", ["g_hi", "r_lo"], ["mask_b"]),
        n("Cast", ["mask_b"], ["mask4"], to=TensorProto.FLOAT),
        n("Squeeze", ["mask4", "axis1"], ["mask"]),  # [1,S,S]
        n("ReduceMax", ["mask", "axes_w"], ["cols"], keepdims=0),  # over H -> [1,S] columns
        n("ReduceMax", ["mask", "axes_h"], ["rows"], keepdims=0),  # over W -> [1,S] rows
    ]
    for name in ("cols", "rows"):
        nodes += [
            n("ArgMax", [name], [f"{name}_first"], axis=1, keepdims=1, select_last_index=0),
            n("ArgMax", [name], [f"{name}_last"], axis=1, keepdims=1, select_last_index=1),
            n("Cast", [f"{name}_first"], [f"{name}_lo"], to=TensorProto.FLOAT),
            n("Cast", [f"{name}_last"], [f"{name}_last_f"], to=TensorProto.FLOAT),
            n("Add", [f"{name}_last_f", "one_f"], [f"{name}_hi"]),
        ]
    inits.append(c(np.array(1.0, np.float32), "one_f"))
    nodes += [
        n("ReduceMax", ["cols", "axes_w"], ["any"], keepdims=1),  # 1 when anything is green
        n("Mul", ["any", "score_scale"], ["score"]),  # [1,1]
        n(
            "Concat",
            ["cols_lo", "rows_lo", "cols_hi", "rows_hi", "score", "class0"],
            ["box"],
            axis=1,
        ),  # [1,6]
        n("Unsqueeze", ["box", "c0"], ["output0"]),  # [1,1,6]
    ]
    graph = helper.make_graph(
        nodes,
        "green-box",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, size, size])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [1, 1, 6])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    for key, value in {
        "task": "detect",
        "names": "{0: 'green-box'}",
        "imgsz": f"[{size}, {size}]",
        "end2end": "True",
        "stride": "32",
        "batch": "1",
    }.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


class OneProjectSource:
    """A ModelSource with one workspace, one key and project ``shapes`` (version 1: the detector)."""

    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.data = green_box_detector()

    def workspace_of(self, api_key: str) -> str:
        if api_key != self.api_key:
            raise UnauthorizedError("unknown API key")
        return "default"

    def project_type(self, api_key: str, project: str) -> str:
        self.workspace_of(api_key)
        if project != "shapes":
            raise NotFoundError(f"project {project!r} not found")
        return "object-detection"

    def model_info(self, api_key: str, project: str, version: int) -> ModelInfo:
        self.project_type(api_key, project)
        if version != 1:
            raise NotFoundError(f"model {project}/{version} not found")
        return ModelInfo(
            workspace="default",
            project="shapes",
            version=1,
            task_type="object-detection",
            class_names=("green-box",),
            sha256=hashlib.sha256(self.data).hexdigest(),
            size_bytes=len(self.data),
        )

    def model_file(self, api_key: str, project: str, version: int) -> bytes:
        self.model_info(api_key, project, version)
        return self.data
