"""The one place for test data: images, predictions, datapoints, configurations, keys.

Factories take plain lists, one entry per object (supervision's
``mock_detections(xyxy=[[...]], confidence=[...])``), and default what a
test does not care about. Boxes are ``[x, y, width, height]`` with ``x, y``
the centre, as in the reference JSON and :class:`winnow.predictions.Detection`.
App builders live in ``tests/apps.py``; fixtures in the ``conftest.py`` files.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import simplejpeg

from winnow.activelearning.datapoint import Datapoint
from winnow.predictions import Detection, DetectionPrediction, ImageSize, TaskType

if TYPE_CHECKING:
    from winnow.platform.schema import Workspace
    from winnow.platform.service import DatapointInput, Platform
    from winnow.predlog.entry import Entry

KEY = "test-key-0123456789"
"""The bootstrap key of every test app (``Settings.api_key``)."""
OTHER_KEY = "other-key-0123456789"
"""A key of a second workspace, for isolation tests."""
AUTH = {"Authorization": f"Bearer {KEY}"}

AL_CONFIG: dict[str, Any] = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [{"name": "rand", "type": "random", "traffic_percentage": 0.5}],
    "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "daily"},
}
"""A valid active learning configuration: random 50 %, daily batches named ``al``."""

Pattern = Literal["noise", "gradient", "flat"]


# ---------------------------------------------------------------------------------- images


def make_pixels(
    width: int = 64, height: int = 48, *, seed: int = 0, pattern: Pattern = "noise"
) -> npt.NDArray[np.uint8]:
    """An RGB image (height, width, 3).

    ``noise``: random pixels (distinct per seed, so content hashes differ);
    ``gradient``: a horizontal/vertical gradient with a light square whose
    colour depends on the seed (small JPEGs of any size); ``flat``: mid grey.
    """
    if pattern == "flat":
        return np.full((height, width, 3), 128, dtype=np.uint8)
    rng = np.random.default_rng(seed)
    if pattern == "noise":
        return rng.integers(0, 255, size=(height, width, 3), dtype=np.uint8)
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack(
        [(x * 255 // max(width, 1)), (y * 255 // max(height, 1)), np.full_like(x, 90)], axis=-1
    ).astype(np.uint8)
    image[height // 4 : height // 2, width // 4 : width // 2] = rng.integers(150, 255, 3)
    return image


def make_jpeg(
    width: int = 64,
    height: int = 48,
    *,
    seed: int = 0,
    quality: int = 80,
    pattern: Pattern = "noise",
) -> bytes:
    """A JPEG of :func:`make_pixels`."""
    image = make_pixels(width, height, seed=seed, pattern=pattern)
    return bytes(simplejpeg.encode_jpeg(image, quality=quality, colorspace="RGB"))


def make_jpeg_b64(width: int = 128, height: int = 64, *, seed: int = 0, quality: int = 90) -> str:
    """A random-pixel JPEG as base64 text (the v1 request body's ``image.value``)."""
    return base64.b64encode(make_jpeg(width, height, seed=seed, quality=quality)).decode()


def make_png(width: int = 32, height: int = 32) -> bytes:
    """A solid green PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


# ----------------------------------------------------------------------------- predictions


def _column(values: Sequence[Any] | None, default: Any, count: int, name: str) -> list[Any]:
    if values is None:
        return [default(i) if callable(default) else default for i in range(count)]
    if len(values) != count:
        raise ValueError(f"{name} has {len(values)} entries, expected {count} (one per box)")
    return list(values)


def make_boxes_json(
    xywh: Sequence[Sequence[float]],
    *,
    class_name: Sequence[str],
    confidence: Sequence[float] | None = None,
    class_id: Sequence[int] | None = None,
    detection_id: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """Reference-shaped detections (``x, y, width, height, confidence, class, class_id``).

    ``confidence`` defaults to 0.9, ``class_id`` to the box's index;
    ``detection_id`` is left out unless given.
    """
    count = len(xywh)
    names = _column(class_name, None, count, "class_name")
    scores = _column(confidence, 0.9, count, "confidence")
    ids = _column(class_id, lambda i: i, count, "class_id")
    out: list[dict[str, Any]] = []
    for i, (x, y, w, h) in enumerate(xywh):
        item: dict[str, Any] = {
            "x": x,
            "y": y,
            "width": w,
            "height": h,
            "confidence": scores[i],
            "class": names[i],
            "class_id": ids[i],
        }
        if detection_id is not None:
            item["detection_id"] = _column(detection_id, None, count, "detection_id")[i]
        out.append(item)
    return out


def make_detections_json(
    xywh: Sequence[Sequence[float]],
    *,
    class_name: Sequence[str],
    confidence: Sequence[float] | None = None,
    class_id: Sequence[int] | None = None,
    detection_id: Sequence[str] | None = None,
    width: int = 64,
    height: int = 48,
) -> dict[str, Any]:
    """A reference-shaped detection prediction: ``{"image": {...}, "predictions": [...]}``."""
    return {
        "image": {"width": width, "height": height},
        "predictions": make_boxes_json(
            xywh,
            class_name=class_name,
            confidence=confidence,
            class_id=class_id,
            detection_id=detection_id,
        ),
    }


def make_detections(
    xywh: Sequence[Sequence[float]] | None = None,
    *,
    class_name: Sequence[str],
    confidence: Sequence[float] | None = None,
    class_id: Sequence[int] | None = None,
    width: int = 640,
    height: int = 480,
    task: TaskType = TaskType.OBJECT_DETECTION,
) -> DetectionPrediction:
    """A typed detection prediction, one box per class name.

    ``xywh`` defaults to a 5x5 box at (10, 10) for each; ``confidence`` to
    0.9 and ``class_id`` to the box's index.
    """
    count = len(class_name)
    boxes = _column(xywh, (10.0, 10.0, 5.0, 5.0), count, "xywh")
    scores = _column(confidence, 0.9, count, "confidence")
    ids = _column(class_id, lambda i: i, count, "class_id")
    return DetectionPrediction(
        task_type=task,
        image=ImageSize(width=width, height=height),
        detections=[
            Detection(
                x=x, y=y, width=w, height=h, confidence=scores[i], class_name=name, class_id=ids[i]
            )
            for i, ((x, y, w, h), name) in enumerate(zip(boxes, class_name, strict=True))
        ],
    )


# ------------------------------------------------------------------------------ datapoints


def make_datapoint(
    key: str | None = None, *, jpeg_size: int = 1000, project: str = "proj"
) -> Datapoint:
    """An outbox datapoint with a recognisable JPEG payload of about ``jpeg_size`` bytes."""
    return Datapoint(
        idempotency_key=key or uuid.uuid4().hex,
        api_key="key-123",
        project=project,
        batch_name="al_2026_11_28",
        image_jpeg=b"\xff\xd8\xff" + bytes(range(256)) * (jpeg_size // 256 + 1),
        width=640,
        height=480,
        prediction={"image": {"width": 640, "height": 480}, "predictions": []},
        task_type="object-detection",
        tags=("a", "b:c"),
        strategy="random",
        model_id="proj/3",
        inference_id="inf-1",
        source="stream:cam1",
        config_version=7,
        created_at=datetime(2026, 11, 28, 10, 0, 0, 123456, tzinfo=UTC),
    )


def al_config(percentage: float = 1.0, **extra: Any) -> dict[str, Any]:
    """A random-strategy configuration collecting ``percentage`` of the traffic into ``al``."""
    return {
        "enabled": True,
        "persist_predictions": True,
        "sampling_strategies": [
            {"name": "rnd", "type": "random", "traffic_percentage": percentage}
        ],
        "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "never"},
        **extra,
    }


def capped_config(cap: int) -> dict[str, Any]:
    """:data:`AL_CONFIG` with ``max_batch_images`` set."""
    config = dict(AL_CONFIG)
    config["batching_strategy"] = {**AL_CONFIG["batching_strategy"], "max_batch_images": cap}
    return config


def v1_body(model_id: str, **extra: Any) -> dict[str, Any]:
    """A v1 inference request body with one base64 JPEG and :data:`KEY`."""
    return {
        "api_key": KEY,
        "model_id": model_id,
        "image": {"type": "base64", "value": make_jpeg_b64()},
        **extra,
    }


class FakeClock:
    """A clock a test moves by hand: ``clock.now += 1``."""

    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ------------------------------------------------------------------ platform contents


def make_datapoint_input(batch: str = "b1", **kwargs: Any) -> DatapointInput:
    """A platform ``DatapointInput`` into ``batch``; other fields as given."""
    from winnow.platform.service import DatapointInput

    return DatapointInput(batch_name=batch, **kwargs)


def workspace_with_key(
    platform: Platform, name: str, *, key: str | None = None
) -> tuple[Workspace, str]:
    """A new workspace and an API key of it (``key``, or a generated one)."""
    from winnow.platform import store

    with platform.db.write() as session:
        workspace = store.create_workspace(session=session, name=name)
        _record, plaintext = store.create_api_key(
            session=session, workspace=workspace, plaintext=key
        )
    return workspace, plaintext


def new_project(
    platform: Platform,
    name: str,
    type: str = "object-detection",
    *,
    workspace: Workspace | None = None,
) -> None:
    """Create a project in ``workspace`` (default: the workspace of :data:`KEY`)."""
    from winnow.platform import store

    target = workspace if workspace is not None else platform.workspace(KEY)
    with platform.db.write() as session:
        store.create_project(session=session, workspace=target, name=name, type=type)


def set_config(
    platform: Platform, workspace: Workspace, project: str, config: dict[str, Any]
) -> int:
    """Save an active learning configuration version; returns its number."""
    from winnow.platform import store

    with platform.db.write() as session:
        target = store.get_project(session=session, workspace=workspace, name=project)
        return store.save_al_config(
            session=session, project=target, config=config, created_by="test"
        ).version


def add_image(
    platform: Platform,
    project: str,
    *,
    batch: str = "batch-1",
    seed: int = 0,
    size: tuple[int, int] = (640, 480),
    predictions: list[dict[str, Any]] | None = None,
    strategy: str = "random-10",
    tags: tuple[str, ...] = (),
    inference_id: str | None = None,
) -> int:
    """Register one gradient JPEG of ``size`` into ``project`` of :data:`KEY`'s workspace.

    ``predictions`` (reference-shaped, :func:`make_boxes_json`) become its
    pre-annotation; returns the image id.
    """
    width, height = size
    prediction = None
    if predictions is not None:
        prediction = {"image": {"width": width, "height": height}, "predictions": predictions}
    result = platform.register(
        workspace=platform.workspace(KEY),
        project=project,
        data=make_jpeg(width, height, seed=seed, quality=85, pattern="gradient"),
        datapoint=make_datapoint_input(
            batch, prediction=prediction, strategy=strategy, tags=tags, inference_id=inference_id
        ),
    )
    return int(result.image.id)


# ------------------------------------------------------------------ prediction log


def prediction_entry(inference_id: str, **fields: Any) -> Entry:
    """One prediction-log entry of a stub prediction (``fields`` override any attribute)."""
    from winnow.predictions import StubPrediction
    from winnow.predlog.entry import Entry

    values: dict[str, Any] = {
        "time": datetime.now(UTC),
        "api_key": KEY,
        "workspace": "default",
        "project": "cars",
        "source": "http",
        "model_id": "cars/0",
        "inference_id": inference_id,
        "width": 640,
        "height": 480,
        "prediction": StubPrediction(model_id="cars/0", task_type="object-detection"),
        "outcome": "queued",
        "matched": ("rnd",),
        "paid": "rnd",
        "config_version": 1,
    }
    values.update(fields)
    return Entry(**values)


def prediction_segment(
    entries: Sequence[Entry], *, node: str = "n1", started: str = "20261201T120000", seq: int = 1
) -> tuple[str, bytes]:
    """A segment name and its Parquet bytes holding ``entries`` (all of one workspace)."""
    import pyarrow.parquet as pq

    from winnow.predlog.record import to_table

    workspaces = [e.workspace or "default" for e in entries]
    table = to_table(entries, node=node, workspaces=workspaces, cap=100)
    out = io.BytesIO()
    pq.write_table(table, out, compression="zstd")
    return f"{node}.{started}.1.abcdef.{seq:06d}.parquet", out.getvalue()


# ------------------------------------------------------------------ prediction records

RECORD_CLASSES = ("car", "truck", "bus", "person", "bike")
"""The classes :func:`make_records` draws from."""


def make_records(
    n: int,
    *,
    seed: int = 0,
    start: datetime = datetime(2026, 12, 1, tzinfo=UTC),
    seconds: float = 86400.0,
    tasks: Sequence[str] = ("object-detection",),
    sources: Sequence[str] = ("cam1", "cam2", "cam3"),
    mean_objects: float = 4.0,
    max_objects: int = 100,
    project: str = "proj",
) -> Any:
    """``n`` prediction records (Arrow, the prediction log's schema) spread over ``seconds``.

    Times are random, sorted; each record's task is drawn from ``tasks``.
    Detection-family records get a Poisson number of boxes (``objects_total``;
    at most ``max_objects`` kept, the most confident); classification records
    one confidence per :data:`RECORD_CLASSES` class, highest first. Decisions
    (``matched``, ``outcome``, ...) are those of a disabled configuration.
    Vectorized: a million records take about a second.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    from winnow.backtest.records import OBJECT_TYPE, RECORD_SCHEMA

    rng = np.random.default_rng(seed)
    base = int(start.timestamp() * 1_000_000)
    times = np.sort(base + (rng.random(n) * seconds * 1_000_000).astype(np.int64))
    task_of = np.asarray(tasks)[rng.integers(0, len(tasks), n)]
    is_cls = np.isin(task_of, ["classification", "multi-label-classification"])
    total = np.where(is_cls, len(RECORD_CLASSES), rng.poisson(mean_objects, n)).astype(np.int32)
    kept = np.where(is_cls, total, np.minimum(total, max_objects))
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(kept, out=offsets[1:])
    m = int(offsets[-1])
    owner = np.repeat(np.arange(n), kept)
    confidence = rng.random(m).astype(np.float32)
    # highest first within each record (what the log keeps, and how classification lists)
    order = np.lexsort((-confidence, owner))
    confidence = confidence[order]
    position = np.arange(m) - offsets[owner]
    cls_obj = is_cls[owner]
    class_index = np.where(
        cls_obj, position % len(RECORD_CLASSES), rng.integers(0, len(RECORD_CLASSES), m)
    )
    width = np.full(n, 640, dtype=np.int32)
    height = np.full(n, 480, dtype=np.int32)
    xy = rng.random((4, m)).astype(np.float32) * np.array([[640], [480], [200], [200]])
    geometry = [pa.array(v, type=pa.float32(), mask=cls_obj) for v in xy]
    class_array = pa.DictionaryArray.from_arrays(
        pa.array(class_index.astype(np.int32)), pa.array(RECORD_CLASSES)
    ).cast(pa.string())
    objects = pa.StructArray.from_arrays(
        [class_array, pa.array(confidence), *geometry],
        fields=list(OBJECT_TYPE),
    )
    columns = {
        "time": pa.array(times, type=pa.timestamp("us", tz="UTC")),
        "node": pa.array(["node-1"] * n),
        "workspace": pa.array(["default"] * n),
        "project": pa.array([project] * n),
        "source": pa.array(np.asarray(sources)[rng.integers(0, len(sources), n)]),
        "model_id": pa.array([f"{project}/1"] * n),
        "task": pa.array(task_of),
        "inference_id": pc.binary_join_element_wise(
            "inf", pc.cast(pa.array(np.arange(n)), pa.string()), "-"
        ),
        "width": pa.array(width),
        "height": pa.array(height),
        "objects": pa.ListArray.from_arrays(pa.array(offsets), objects),
        "objects_total": pa.array(total),
        "matched": pa.array([[]] * n, type=pa.list_(pa.string())),
        "outcome": pa.array(["disabled"] * n),
        "limited_by": pa.nulls(n, pa.string()),
        "paid": pa.nulls(n, pa.string()),
        "config_version": pa.nulls(n, pa.int32()),
    }
    return pa.table(columns, schema=RECORD_SCHEMA)


def log_records(platform: Platform, table: Any, *, workspace: str = "default") -> None:
    """Store ``table`` (prediction records) as one shipped segment of ``workspace``'s log,
    through the platform's prediction store (as a node's shipper would)."""
    import pyarrow.parquet as pq

    first = table.column("time")[0].as_py() if table.num_rows else datetime(2026, 1, 1, tzinfo=UTC)
    stamp = first.astimezone(UTC).strftime("%Y%m%dT%H%M%S")
    name = f"node-1.{stamp}.1.{uuid.uuid4().hex[:8]}.000001.parquet"
    out = io.BytesIO()
    pq.write_table(table, out)
    platform.predictions.store_segment(workspace=workspace, name=name, data=out.getvalue())
