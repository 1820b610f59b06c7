"""``OnnxModel``: one loaded ONNX file behind the :class:`~winnow.models.base.Model` protocol.

The task comes from the registration (``task_type``) or the file's ``task``
metadata (they must agree), else from tensor shapes: a rank-2 output is a
classifier, a second rank-4 output (prototypes) means segmentation, a rank-3
output is detection (keypoint detection when ``kpt_shape`` is known). Class
names come from the registration, else the file's ``names``, else ``"0".."n-1"``.
The layout of a rank-3 output ``[B, d1, d2]`` is the raw Ultralytics head when
``d2 > d1`` (anchors last) and end-to-end ``[B, N, 6 + extra]`` otherwise,
unless the metadata states ``end2end``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from winnow.errors import InvalidImageError, UnprocessableError
from winnow.images import CapturedImage
from winnow.models.base import TASK_TYPES, Image, InferenceParams
from winnow.models.onnx.classify import ClassifyPreprocess, classification
from winnow.models.onnx.detect import Candidates, decode_end2end, decode_raw, select, to_detections
from winnow.models.onnx.letterbox import Letterbox, letterbox, to_nchw
from winnow.models.onnx.pose import keypoints
from winnow.models.onnx.segment import mask_polygons
from winnow.models.onnx.session import ModelMetadata, OnnxSession, literal, parse_metadata
from winnow.models.source import PROJECT_TASK_TYPES
from winnow.predictions import DetectionPrediction, ImageSize, Prediction, TaskType

DEFAULT_DETECT_SIZE = 640
DEFAULT_CLASSIFY_SIZE = 224
DEFAULT_KPT_SHAPE = (17, 3)
# Images stacked into one run when the batch axis is dynamic.
MAX_DYNAMIC_BATCH = 8


def _infer_task(session: OnnxSession, meta: ModelMetadata) -> str:
    shapes = session.output_shapes
    if len(shapes[0]) == 2:
        return "classification"
    if len(shapes) >= 2 and any(len(s) == 4 for s in shapes[1:]):
        return "instance-segmentation"
    if len(shapes[0]) == 3:
        return "keypoint-detection" if meta.kpt_shape is not None else "object-detection"
    raise UnprocessableError(
        "cannot tell the task of this model from its outputs "
        f"{shapes}; register it with a task type"
    )


@dataclass(slots=True, frozen=True)
class _Input:
    """One image as the network's preprocessing sees it: ``pixels`` are ``1/scale`` of the
    image of ``size`` (the size the prediction is about)."""

    pixels: Image
    scale: int
    size: ImageSize


class OnnxModel:
    """A loaded ONNX model; ``infer`` is thread-safe."""

    def __init__(
        self,
        model_id: str,
        session: OnnxSession,
        *,
        task_type: str | None = None,
        class_names: list[str] | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.model_id = model_id
        self.session = session
        self.meta = parse_metadata({**session.file_metadata, **(metadata or {})})
        if task_type is not None:
            task_type = PROJECT_TASK_TYPES.get(task_type, task_type)
            if task_type not in TASK_TYPES:
                raise UnprocessableError(f"unknown task type {task_type!r} for {model_id}")
            if self.meta.task_type is not None and self.meta.task_type != task_type:
                raise UnprocessableError(
                    f"model {model_id} is registered as {task_type} but its file is a "
                    f"{self.meta.task_type} model"
                )
        self.task_type: str = task_type or self.meta.task_type or _infer_task(session, self.meta)
        self._names: list[str] = list(class_names or self.meta.names or [])
        default = (
            DEFAULT_CLASSIFY_SIZE if self.task_type == "classification" else DEFAULT_DETECT_SIZE
        )
        imgsz = self.meta.imgsz or (default, default)
        self.input_height: int | None = session.height or imgsz[0]
        self.input_width: int | None = session.width or imgsz[1]
        self.batch_size: int | None = session.batch
        self._keypoint_names = _keypoint_names(self.meta.raw.get("kpt_names"))
        self._classify = ClassifyPreprocess(
            height=self.input_height,
            width=self.input_width,
            resize_short=self.meta.resize_short or min(self.input_height, self.input_width),
            mean=self.meta.mean or (0.0, 0.0, 0.0),
            std=self.meta.std or (1.0, 1.0, 1.0),
            channel_order=self.meta.channel_order,
        )

    @property
    def class_names(self) -> list[str]:
        """Class names by id (may be extended with ``"<id>"`` once outputs reveal more classes)."""
        return list(self._names)

    # ------------------------------------------------------------------ inference

    def infer(
        self, images: Sequence[Image | CapturedImage], params: InferenceParams
    ) -> list[Prediction]:
        """One prediction per RGB uint8 image, coordinates in the original image.

        Grey (HxW) and RGBA images are accepted too; anything else raises
        ``InvalidImageError``. A :class:`CapturedImage` JPEG not yet decoded, at least
        twice the network input's scale, is decoded at 1/2, 1/4 or 1/8 (the smallest
        scale that the preprocessing still shrinks, see :meth:`_wanted_size`), and the
        results are mapped back onto its full-size pixels exactly (the scale is a
        factor of the letterbox's); its full pixels are left for collection to decode.
        """
        inputs = [self._input(im) for im in images]
        chunk = self.batch_size or MAX_DYNAMIC_BATCH
        out: list[Prediction] = []
        for start in range(0, len(inputs), chunk):
            out.extend(self._infer_chunk(inputs[start : start + chunk], params))
        return out

    def _input(self, image: Image | CapturedImage) -> _Input:
        if not isinstance(image, CapturedImage):
            array = _as_rgb(image)
            return _Input(array, 1, ImageSize(width=array.shape[1], height=array.shape[0]))
        size = ImageSize(width=image.width, height=image.height)
        want_width, want_height = self._wanted_size(image.width, image.height)
        pixels, denominator = image.pixels_at_least(want_width, want_height)
        return _Input(_as_rgb(pixels), denominator, size)

    def _wanted_size(self, width: int, height: int) -> tuple[int, int]:
        """The smallest image the preprocessing of this model still shrinks (or keeps) to its
        input: the letterbox's resized size, or the classifier's short-side resize."""
        assert self.input_height is not None and self.input_width is not None
        if self.task_type == "classification":
            ratio = self._classify.resize_short / min(width, height)
            return (
                max(self.input_width, round(width * ratio)),
                max(self.input_height, round(height * ratio)),
            )
        scale = min(self.input_height / height, self.input_width / width)
        return max(1, round(width * scale)), max(1, round(height * scale))

    def _run(self, inputs: list[npt.NDArray[np.float32]]) -> list[npt.NDArray[np.float32]]:
        batch = np.stack(inputs)
        if self.batch_size is not None and len(inputs) < self.batch_size:
            fill = np.zeros((self.batch_size - len(inputs), *batch.shape[1:]), np.float32)
            batch = np.concatenate([batch, fill])
        return self.session.run(batch)

    def _infer_chunk(self, inputs: list[_Input], params: InferenceParams) -> list[Prediction]:
        assert self.input_height is not None and self.input_width is not None
        images = [item.pixels for item in inputs]
        sizes = [item.size for item in inputs]
        if self.task_type == "classification":
            outputs = self._run([self._classify(im) for im in images])
            scores = outputs[0].reshape(outputs[0].shape[0], -1)
            return [
                classification(
                    scores[i], self._names, sizes[i], params, multi_label=self.meta.multi_label
                )
                for i in range(len(images))
            ]
        boxed = [letterbox(im, self.input_height, self.input_width) for im in images]
        outputs = self._run([to_nchw([b[0]])[0] for b in boxed])
        # A reduced decode's letterbox maps onto the full image: its scale divided by the
        # decode's denominator, clipped to the full size.
        boxes = [
            Letterbox(b.scale / item.scale, b.pad_x, b.pad_y, item.size.width, item.size.height)
            if item.scale != 1
            else b
            for (_, b), item in zip(boxed, inputs, strict=True)
        ]
        return [
            self._detections(outputs, i, boxes[i], sizes[i], params) for i in range(len(images))
        ]

    # ------------------------------------------------------------------ detection family

    def _detections(
        self,
        outputs: list[npt.NDArray[np.float32]],
        index: int,
        box: Letterbox,
        size: ImageSize,
        params: InferenceParams,
    ) -> DetectionPrediction:
        head = outputs[0]
        if head.ndim != 3:
            raise UnprocessableError(
                f"model {self.model_id}: expected a [batch, C, N] output, got {list(head.shape)}"
            )
        protos = next((o for o in outputs[1:] if o.ndim == 4), None)
        if self.task_type == "instance-segmentation" and protos is None:
            raise UnprocessableError(f"model {self.model_id}: no mask prototype output")
        extra = self._extra_width(protos)
        rows = head[index]
        end2end = (
            self.meta.end2end if self.meta.end2end is not None else rows.shape[1] <= rows.shape[0]
        )
        if end2end:
            if rows.shape[1] != 6 + extra:
                raise UnprocessableError(
                    f"model {self.model_id}: end-to-end rows have {rows.shape[1]} values, "
                    f"expected 6 + {extra}"
                )
            candidates = decode_end2end(rows, params.confidence)
        else:
            num_classes = rows.shape[0] - 4 - extra
            if num_classes < 1 or (self._names and num_classes != len(self._names)):
                raise UnprocessableError(
                    f"model {self.model_id}: output has {rows.shape[0]} channels, which does "
                    f"not fit 4 + {len(self._names) or 'nc'} classes + {extra} extra values"
                )
            candidates = decode_raw(rows, num_classes, params.confidence)
        candidates = select(candidates, params, self._names, run_nms=not end2end)
        original = box.boxes_to_original(candidates.xyxy)
        nonempty = (original[:, 2] > original[:, 0]) & (original[:, 3] > original[:, 1])
        candidates, original = candidates.take(nonempty), original[nonempty]
        detections = to_detections(candidates, box, self._names)
        if self.task_type == "instance-segmentation":
            assert protos is not None
            polygons = mask_polygons(
                candidates.extra,
                protos[index],
                original,
                box,
                (self.input_height or 0, self.input_width or 0),
            )
            for det, poly in zip(detections, polygons, strict=True):
                det.points = poly
            # The reference leaves out instances whose mask has no polygon.
            detections = [d for d in detections if d.points is not None and len(d.points) >= 3]
        elif self.task_type == "keypoint-detection":
            shape = self._kpt_shape(extra)
            for det, kps in zip(
                detections,
                keypoints(
                    candidates.extra, shape, box, self._keypoint_names, params.keypoint_confidence
                ),
                strict=True,
            ):
                det.keypoints = kps
        return DetectionPrediction(
            task_type=TaskType(self.task_type), image=size, detections=detections
        )

    def _extra_width(self, protos: npt.NDArray[np.float32] | None) -> int:
        if self.task_type == "instance-segmentation" and protos is not None:
            return int(protos.shape[1])
        if self.task_type == "keypoint-detection":
            if self.meta.kpt_shape is not None:
                return self.meta.kpt_shape[0] * self.meta.kpt_shape[1]
            if not self._names:
                return DEFAULT_KPT_SHAPE[0] * DEFAULT_KPT_SHAPE[1]
            # nc known from names: whatever follows the class scores is keypoints (K * 3).
            channels = self._raw_channels()
            if channels is not None:
                return channels - 4 - len(self._names)
            return DEFAULT_KPT_SHAPE[0] * DEFAULT_KPT_SHAPE[1]
        return 0

    def _raw_channels(self) -> int | None:
        dim = self.session.output_shapes[0][1] if len(self.session.output_shapes[0]) == 3 else None
        return dim if isinstance(dim, int) else None

    def _kpt_shape(self, extra: int) -> tuple[int, int]:
        if self.meta.kpt_shape is not None:
            return self.meta.kpt_shape
        return (extra // 3, 3)


def _as_rgb(image: Image) -> Image:
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or 0 in array.shape[:2]:
        raise InvalidImageError(
            f"expected a non-empty uint8 HxWx3 image, got {array.dtype} {list(array.shape)}"
        )
    if array.ndim == 2:
        return np.repeat(array[:, :, None], 3, axis=2)
    if array.shape[2] == 3:
        return array
    if array.shape[2] == 4:
        return np.ascontiguousarray(array[:, :, :3])
    if array.shape[2] == 1:
        return np.repeat(array, 3, axis=2)
    raise InvalidImageError(f"expected 1, 3 or 4 channels, got {array.shape[2]}")


def _keypoint_names(value: Any) -> list[str]:
    """Keypoint names from ``kpt_names`` metadata: a list, or ``{class: [names]}`` (first class)."""
    data = literal(value)
    if isinstance(data, Mapping) and data:
        data = next(iter(data.values()))
    if isinstance(data, list | tuple):
        return [str(v) for v in data]
    return []


def load_onnx_model(
    model_id: str,
    source: bytes | Path,
    *,
    task_type: str | None = None,
    class_names: list[str] | None = None,
    metadata: Mapping[str, Any] | None = None,
    threads: int | None = None,
    warm_up: bool = True,
) -> OnnxModel:
    """Load an ONNX file (bytes or path) as a model; ``UnprocessableError`` when it cannot serve.

    ``metadata`` entries override the file's ``custom_metadata_map`` (same keys,
    see :mod:`winnow.models.onnx.session`). With ``warm_up`` one grey image is
    run through the model, so a file whose outputs do not fit its metadata is
    refused here (not on every request) and the first request is not slow.
    """
    model = OnnxModel(
        model_id,
        OnnxSession(source, threads=threads),
        task_type=task_type,
        class_names=class_names,
        metadata=metadata,
    )
    if warm_up:
        height, width = model.input_height or 64, model.input_width or 64
        grey = np.full((height, width, 3), 114, np.uint8)
        try:
            model.infer([grey], InferenceParams())
        except UnprocessableError:
            raise
        except Exception as exc:  # onnxruntime raises private exception types
            raise UnprocessableError(f"model {model_id} fails on a test image: {exc}") from exc
    return model


__all__ = ["Candidates", "OnnxModel", "load_onnx_model"]
