"""Hypothesis strategies for hostile inputs: JSON of the right vocabulary, bytes, images, URLs."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import strategies as st

from tests.factories import make_jpeg
from tests.fuzz.world import World

JPEG = make_jpeg(48, 32)
JPEG_B64 = base64.b64encode(JPEG).decode()

# Field names the routes read, so generated objects hit real code paths, not only "unknown field".
VOCABULARY = [
    "api_key",
    "model_id",
    "image",
    "type",
    "value",
    "confidence",
    "iou_threshold",
    "max_detections",
    "max_candidates",
    "class_filter",
    "class_agnostic_nms",
    "keypoint_confidence",
    "disable_active_learning",
    "active_learning_target_dataset",
    "visualize_predictions",
    "mask_decode_mode",
    "tradeoff_factor",
    "predictions",
    "predicted_classes",
    "top",
    "x",
    "y",
    "width",
    "height",
    "class",
    "class_id",
    "detection_id",
    "points",
    "keypoints",
    "keypoint_confidences",
    "tracker_id",
    "enabled",
    "persist_predictions",
    "sampling_strategies",
    "batching_strategy",
    "name",
    "traffic_percentage",
    "limits",
    "selected_class_names",
    "threshold",
    "epsilon",
    "probability",
    "batches_name_prefix",
    "recreation_interval",
    "max_batch_images",
    "max_image_size",
    "jpeg_compression_level",
    "tags",
    "config",
    "status",
    "n",
    "batch",
    "strategy",
    "inference_id",
    "source",
    "idempotency_key",
    "extra",
    "config_version",
]

numbers = st.one_of(
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, 1, -1, 0.5, 1e308, -1e308, 2**63, 2**64, -(2**63) - 1]),
)
scalars = st.one_of(
    st.none(), st.booleans(), numbers, st.text(max_size=20), st.sampled_from(VOCABULARY)
)
keys = st.one_of(st.sampled_from(VOCABULARY), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=6)
    ),
    max_leaves=24,
)
json_objects = st.dictionaries(keys, json_values, max_size=8)


def dumps(value: Any) -> bytes:
    """JSON text of ``value``; NaN/Infinity as Python writes them (clients do send them)."""
    return json.dumps(value, allow_nan=True).encode()


def _lossy_text(data: bytes) -> str:
    return data.decode("latin-1")


json_bytes = st.one_of(
    json_values.map(dumps),
    json_objects.map(dumps),
    st.binary(max_size=64),
    st.sampled_from(
        [b"", b"{", b'{"a":"\xff"}', b"\xef\xbb\xbf{}", b"nul\x00l", b"1e999", b"-" + b"9" * 5000]
    ),
)
# JSON nested past the parser's recursion limit (tests/fuzz/test_deep_json.py covers every route).
DEEP_JSON = (b"[" * 3000 + b"]" * 3000, b'{"a":' * 3000 + b"1" + b"}" * 3000)

images = st.one_of(
    st.just(JPEG),
    st.binary(max_size=64),
    st.binary(min_size=1, max_size=len(JPEG)).map(lambda cut: JPEG[: len(cut)]),
    st.sampled_from([b"", b"GIF89a", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff"]),
)
base64_texts = st.one_of(
    st.just(JPEG_B64),
    images.map(lambda data: base64.b64encode(data).decode()),
    st.text(max_size=40),
    st.sampled_from(["data:image/jpeg;base64," + JPEG_B64, "====", "a", JPEG_B64[:-3]]),
)
urls = st.one_of(
    st.sampled_from(
        [
            "http://127.0.0.1/x.jpg",
            "http://169.254.169.254/latest/meta-data/",
            "http://[::1]/x.jpg",
            "file:///etc/passwd",
            "gopher://127.0.0.1:6379/_INFO",
            "http://2130706433/",
            "http://[::ffff:127.0.0.1]/",
            "http://example.com:99999/",
            "http://user:pw@10.0.0.1/",
            "http://",
            "//x",
        ]
    ),
    st.text(max_size=30),
)
header_text = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=40)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/x-www-form-urlencoded",
            "multipart/form-data",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data; boundary=",
            "text/plain",
            "text/plain; charset=utf-16",
            "image/jpeg",
            "application/octet-stream",
            "",
        ]
    ),
    header_text,
)


def project_names(world: World) -> st.SearchStrategy[str]:
    """A seeded project name, or any text (quote it for a path)."""
    return st.one_of(st.sampled_from(list(world.projects)), st.text(min_size=1, max_size=12))


def image_ids(world: World) -> st.SearchStrategy[str]:
    """A seeded image id, or another number or text (digits int() refuses included)."""
    return st.one_of(
        st.sampled_from(world.image_ids),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.sampled_from(["9" * 5000, "\u00b2", "1\u00b9", "0", "\u0663"]),
        st.text(min_size=1, max_size=12),
    )


def numbers_as_text() -> st.SearchStrategy[str]:
    """Numbers as a query string carries them, odd ones included."""
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.sampled_from(
            ["1e309", "-0", "0x10", "1_000", " 5 ", "\u0663", "\u00b2", "NaN", "inf", "9" * 5000]
        ),
        st.sampled_from(["nan,1,1", "inf,0,0", "1e308,1e308,1e308", "0.8,0.1", "-1,2,0"]),
    )


# A prediction the routes will mostly accept, with odd numbers and types where they may slip in.
_point = st.fixed_dictionaries(
    {"x": numbers, "y": numbers}, optional={"confidence": scalars, "class_id": scalars}
)
_detection = st.fixed_dictionaries(
    {"x": numbers, "y": numbers, "width": numbers, "height": numbers},
    optional={
        "confidence": st.one_of(numbers, scalars),
        "class": scalars,
        "class_id": scalars,
        "detection_id": scalars,
        "points": st.lists(_point, max_size=4),
        "keypoints": st.lists(_point, max_size=3),
    },
)
predictions = st.fixed_dictionaries(
    {
        "image": st.fixed_dictionaries({"width": numbers, "height": numbers}),
        "predictions": st.one_of(
            st.lists(_detection, max_size=3),
            st.lists(st.fixed_dictionaries({"class": scalars, "confidence": numbers}), max_size=3),
            st.dictionaries(
                st.text(max_size=5), st.fixed_dictionaries({"confidence": numbers}), max_size=3
            ),
        ),
    },
    optional={"top": scalars, "predicted_classes": json_values, "time": scalars},
)


# An active learning configuration: the right structure, with values that may be wrong.
_limit = st.fixed_dictionaries(
    {"type": st.one_of(st.sampled_from(["minutely", "hourly", "daily"]), scalars), "value": numbers}
)
_range = st.one_of(st.lists(st.one_of(st.none(), numbers, scalars), max_size=3), scalars)
_condition = st.one_of(
    st.dictionaries(
        st.sampled_from(
            ["classes", "confidence", "area", "width", "height", "aspect", "region", "colour"]
        ),
        st.one_of(
            _range,
            st.lists(st.one_of(st.text(max_size=4), scalars), max_size=3),
            st.lists(_range, max_size=5),
        ),
        max_size=4,
    ),
    scalars,
)
_strategy = st.fixed_dictionaries(
    {
        "name": st.one_of(st.text(min_size=1, max_size=8), scalars),
        "type": st.one_of(
            st.sampled_from(
                [
                    "random",
                    "close_to_threshold",
                    "classes_based",
                    "detections_number_based",
                    "uncertainty",
                ]
            ),
            scalars,
        ),
    },
    optional={
        key: st.one_of(
            st.floats(0, 1),
            st.integers(0, 9),
            st.booleans(),
            numbers,
            scalars,
            st.lists(scalars, max_size=3),
        )
        for key in (
            "traffic_percentage",
            "threshold",
            "epsilon",
            "probability",
            "more_than",
            "less_than",
            "minimum_objects_close_to_threshold",
            "only_top_classes",
            "selected_class_names",
            "tags",
            "measure",
            "aggregate",
            "top_fraction",
            "window",
            "min_objects",
            "max_objects",
        )
    }
    | {
        "limits": st.lists(_limit, max_size=3),
        "conditions": st.one_of(st.lists(_condition, max_size=3), scalars),
    },
)
al_configs = st.fixed_dictionaries(
    {"enabled": st.one_of(st.just(True), st.just(True), scalars)},
    optional={
        "persist_predictions": st.one_of(st.booleans(), st.booleans(), scalars),
        "sampling_strategies": st.lists(_strategy, max_size=3),
        "batching_strategy": st.fixed_dictionaries(
            {
                "batches_name_prefix": st.one_of(st.sampled_from(["al", "a/b", ""]), scalars),
                "recreation_interval": st.one_of(
                    st.sampled_from(["never", "daily", "weekly", "monthly"]), scalars
                ),
            },
            optional={"max_batch_images": numbers},
        ),
        "tags": st.lists(scalars, max_size=3),
        "max_image_size": st.one_of(st.lists(numbers, max_size=3), scalars),
        "jpeg_compression_level": numbers,
        "dedup": st.dictionaries(
            st.sampled_from(["enabled", "max_distance", "window_seconds"]), scalars, max_size=3
        ),
    },
)

_probability = st.one_of(st.sampled_from([0.0, 1.0, 0, 1]), st.floats(0, 1))
_valid_strategy = st.one_of(
    st.fixed_dictionaries(
        {"name": st.just("r"), "type": st.just("random"), "traffic_percentage": _probability}
    ),
    st.fixed_dictionaries(
        {
            "name": st.just("c"),
            "type": st.just("close_to_threshold"),
            "threshold": _probability,
            "epsilon": st.floats(1e-9, 1),
            "probability": _probability,
        },
        optional={"selected_class_names": st.lists(st.sampled_from(["car", "bus"]), max_size=2)},
    ),
    st.fixed_dictionaries(
        {
            "name": st.just("k"),
            "type": st.just("classes_based"),
            "selected_class_names": st.lists(st.sampled_from(["car", "a"]), min_size=1),
            "probability": _probability,
        }
    ),
    st.fixed_dictionaries(
        {
            "name": st.just("d"),
            "type": st.just("detections_number_based"),
            "probability": _probability,
        },
        optional={"more_than": st.integers(0, 10**9), "less_than": st.integers(1, 10**9)},
    ),
    st.fixed_dictionaries(
        {
            "name": st.just("u"),
            "type": st.just("uncertainty"),
            "measure": st.sampled_from(["least_confidence", "margin", "entropy"]),
            "aggregate": st.sampled_from(["max", "mean"]),
        },
        optional={
            "conditions": st.just(
                [{"classes": ["car"], "width": [None, 32], "region": [[0, 0.5], [1, 0.5], [1, 1]]}]
            )
        },
    ).map(lambda s: {**s, "top_fraction": 0.1} if len(s) % 2 else {**s, "threshold": 0.4}),
)
valid_al_configs = st.fixed_dictionaries(
    {
        "enabled": st.just(True),
        "persist_predictions": st.booleans(),
        "sampling_strategies": st.lists(
            _valid_strategy, min_size=1, max_size=3, unique_by=lambda s: s["name"]
        ),
        "batching_strategy": st.fixed_dictionaries(
            {
                "batches_name_prefix": st.sampled_from(["al", "x-y_z"]),
                "recreation_interval": st.sampled_from(["never", "daily", "weekly", "monthly"]),
            },
            optional={"max_batch_images": st.integers(1, 10**9)},
        ),
    },
    optional={
        "max_image_size": st.tuples(st.integers(1, 10**5), st.integers(1, 10**5)).map(list),
        "jpeg_compression_level": st.integers(1, 100),
    },
)
