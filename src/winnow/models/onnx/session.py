"""An onnxruntime session on CPU plus the model's metadata, parsed once.

Ultralytics stores its export facts as strings in ``custom_metadata_map``:
``task``, ``names`` (a Python dict literal), ``imgsz`` (``[h, w]``),
``kpt_shape`` (``[K, 2|3]``), ``stride``, ``batch``, ``end2end``. Any of them
may be missing; the runners then fall back to tensor shapes. Extra keys that
winnow reads for non-Ultralytics classifiers are listed in
``docs/reference/models.md``: ``mean``, ``std``, ``resize_short``,
``channel_order``, ``multi_label``.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import onnxruntime as ort

from winnow.errors import UnprocessableError

ULTRALYTICS_TASKS: dict[str, str] = {
    "detect": "object-detection",
    "segment": "instance-segmentation",
    "pose": "keypoint-detection",
    "classify": "classification",
}


def literal(value: Any) -> Any:
    """A metadata value as Python data: already-parsed values pass, strings are literal-eval'd."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    for parse in (ast.literal_eval, json.loads):
        try:
            return parse(text)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
    return text


def parse_names(value: Any) -> list[str] | None:
    """Class names from a dict literal ``{0: 'a'}``, a list, or newline-separated text."""
    data = literal(value)
    if isinstance(data, Mapping):
        try:
            items = sorted((int(k), str(v)) for k, v in data.items())
        except (TypeError, ValueError):
            return None
        size = items[-1][0] + 1 if items else 0
        names = [str(i) for i in range(size)]
        for index, name in items:
            if index >= 0:
                names[index] = name
        return names
    if isinstance(data, list | tuple):
        return [str(v) for v in data]
    if isinstance(data, str) and data:
        return [line for line in data.splitlines() if line.strip()]
    if isinstance(data, int | float) and not isinstance(data, bool):
        return [str(data)]
    return None


def _int_pair(value: Any) -> tuple[int, int] | None:
    data = literal(value)
    if isinstance(data, int) and not isinstance(data, bool):
        return (data, data)
    if isinstance(data, list | tuple) and len(data) == 2 and all(isinstance(v, int) for v in data):
        return (int(data[0]), int(data[1]))
    return None


def _floats(value: Any, count: int) -> tuple[float, ...] | None:
    data = literal(value)
    if isinstance(data, list | tuple) and len(data) == count:
        try:
            return tuple(float(v) for v in data)
        except (TypeError, ValueError):
            return None
    return None


def _bool(value: Any) -> bool:
    data = literal(value)
    if isinstance(data, str):
        return data.strip().lower() in {"true", "1", "yes"}
    return bool(data)


@dataclass(slots=True, frozen=True)
class ModelMetadata:
    """What the file (and the registration) says about the model. ``None`` = not stated."""

    task_type: str | None = None
    names: list[str] | None = None
    imgsz: tuple[int, int] | None = None
    kpt_shape: tuple[int, int] | None = None
    end2end: bool | None = None
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    resize_short: int | None = None
    channel_order: str = "rgb"
    multi_label: bool = False
    raw: dict[str, Any] = field(default_factory=dict)


def parse_metadata(raw: Mapping[str, Any]) -> ModelMetadata:
    """Parse Ultralytics-style metadata (strings or already-typed values).

    ``task`` may be an Ultralytics name (``detect``) or a task type
    (``object-detection``); an unknown task raises ``UnprocessableError``.
    """
    task_type: str | None = None
    task = raw.get("task")
    if task is not None:
        task = str(task).strip()
        if task in ULTRALYTICS_TASKS:
            task_type = ULTRALYTICS_TASKS[task]
        elif task in ULTRALYTICS_TASKS.values():
            task_type = task
        else:
            raise UnprocessableError(
                f"unsupported model task {task!r}: expected one of {', '.join(ULTRALYTICS_TASKS)}"
            )
    names = parse_names(raw["names"]) if "names" in raw else None
    end2end = _bool(raw["end2end"]) if "end2end" in raw else None
    resize = literal(raw.get("resize_short"))
    order = str(raw.get("channel_order", "rgb")).strip().lower()
    if order not in {"rgb", "bgr"}:
        raise UnprocessableError(f"channel_order must be rgb or bgr, got {order!r}")
    mean = _floats(raw.get("mean"), 3)
    std = _floats(raw.get("std"), 3)
    return ModelMetadata(
        task_type=task_type,
        names=names,
        imgsz=_int_pair(raw.get("imgsz")),
        kpt_shape=_int_pair(raw.get("kpt_shape")),
        end2end=end2end,
        mean=mean if mean is None else (mean[0], mean[1], mean[2]),
        std=std if std is None else (std[0], std[1], std[2]),
        resize_short=resize if isinstance(resize, int) and resize > 0 else None,
        channel_order=order,
        multi_label=_bool(raw.get("multi_label", False)),
        raw=dict(raw),
    )


def _dim(value: Any) -> int | None:
    return value if isinstance(value, int) and value > 0 else None


class OnnxSession:
    """One CPU ``InferenceSession`` with its input geometry and file metadata.

    ``batch``/``height``/``width`` are ``None`` for dynamic axes. ``run`` is
    thread-safe (onnxruntime allows concurrent ``run`` on one session).
    """

    def __init__(self, source: bytes | Path, *, threads: int | None = None) -> None:
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(
                source if isinstance(source, bytes) else str(source),
                sess_options=options,
                providers=["CPUExecutionProvider"],
            )
        except Exception as exc:  # onnxruntime raises several private exception types
            # Its message names the cache file path; clients need the reason, not our disk.
            reason = re.sub(r"Load model from \S+ failed:\s*", "", str(exc))
            raise UnprocessableError(f"not a loadable ONNX model: {reason}") from exc
        inputs = self.session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise UnprocessableError(
                "expected one image input of shape [batch, 3, height, width], got "
                + ", ".join(f"{i.name}{i.shape}" for i in inputs)
            )
        self.input_name: str = inputs[0].name
        shape = inputs[0].shape
        self.batch: int | None = _dim(shape[0])
        self.height: int | None = _dim(shape[2])
        self.width: int | None = _dim(shape[3])
        self.output_shapes: list[list[Any]] = [list(o.shape) for o in self.session.get_outputs()]
        self.file_metadata: dict[str, str] = dict(self.session.get_modelmeta().custom_metadata_map)

    def run(self, batch: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float32]]:
        """Run the network on an NCHW float32 batch; all outputs as float32 arrays."""
        outputs = self.session.run(None, {self.input_name: batch})
        return [np.asarray(o, dtype=np.float32) for o in outputs]
