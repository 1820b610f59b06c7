"""One parsed inference request, whichever route it came in on.

The v1 routes send JSON (``{"api_key", "model_id", "image", ...params}``);
the legacy route ``POST /{project}/{version}`` sends the image as a raw
base64 body, a multipart ``file`` part or an ``?image=`` URL, with its
parameters in the query string. Both are turned into an
:class:`InferenceRequest` here, so the routes share everything after
parsing. Unknown fields are ignored; every bad value raises a
``BadRequestError`` naming the field.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from winnow.errors import BadRequestError, UnauthorizedError
from winnow.http.auth import api_key_from
from winnow.models.base import InferenceParams
from winnow.settings import TAG_CHARS


class ImageKind(StrEnum):
    """How the bytes of one input image reach us."""

    BASE64 = "base64"
    URL = "url"
    BYTES = "bytes"


@dataclass(slots=True, frozen=True)
class ImageInput:
    """One input image before decoding: base64 text, a URL, or raw bytes (multipart)."""

    kind: ImageKind
    value: str | bytes


@dataclass(slots=True)
class InferenceRequest:
    """Everything a route needs to run a model and hand the result to the collector."""

    api_key: str
    model_id: str
    images: list[ImageInput]
    as_list: bool = False
    params: InferenceParams = field(default_factory=InferenceParams)
    disable_active_learning: bool = False
    target_dataset: str | None = None
    visualize: bool = False
    response_format: str = "json"
    auto_orient: bool = True
    source: str | None = None
    source_info: str | None = None
    tags: tuple[str, ...] = ()
    metadata: dict[str, Any] | None = None

    @property
    def project(self) -> str:
        """The project part of ``model_id``."""
        return self.model_id.split("/", 1)[0]


MODEL_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*/[0-9]+$")
TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off", "none", ""})

# Request fields that map onto InferenceParams, with the type each must have.
_FLOAT_PARAMS = ("confidence", "iou_threshold", "keypoint_confidence", "tradeoff_factor")
_INT_PARAMS = ("max_detections", "max_candidates")


def parse_bool(value: Any, name: str) -> bool:
    """A boolean from JSON or a query string (``True``/``False`` as Python prints them too)."""
    if isinstance(value, bool):
        return value
    if value is None:
        return False
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    raise BadRequestError(f"{name} must be true or false, got {value!r}")


def resolve_api_key(body_key: Any, authorization: str | None) -> str:
    """The API key in force: ``Authorization: Bearer K`` wins over the body's/query's key."""
    key = api_key_from(authorization, body_key)
    if key is not None:
        return key
    raise UnauthorizedError("an API key is required (api_key field or Authorization: Bearer)")


def check_model_id(model_id: Any) -> str:
    """``model_id`` as ``<project>/<version>`` with a non-negative integer version."""
    if not isinstance(model_id, str) or not model_id:
        raise BadRequestError("model_id is required, as '<project>/<version>'")
    if not MODEL_ID.match(model_id):
        raise BadRequestError(
            f"model_id {model_id!r} is malformed; expected '<project>/<version>', e.g. 'cars/0'"
        )
    return model_id


def _image_input(item: Any, where: str) -> ImageInput:
    if not isinstance(item, Mapping):
        raise BadRequestError(f"{where} must be an object with 'type' and 'value'")
    kind = item.get("type")
    value = item.get("value")
    if kind in ("base64", "multipart"):
        # The client's 'multipart' type only makes sense in a form upload; in JSON
        # the value can only be text, which we read as base64.
        if not isinstance(value, str) or not value:
            raise BadRequestError(f"{where}.value must be a non-empty base64 string")
        return ImageInput(ImageKind.BASE64, value)
    if kind == "url":
        if not isinstance(value, str) or not value:
            raise BadRequestError(f"{where}.value must be a non-empty URL")
        return ImageInput(ImageKind.URL, value)
    if kind is None:
        raise BadRequestError(f"{where}.type is required: base64 or url")
    raise BadRequestError(f"{where}.type {kind!r} is not supported; use base64 or url")


def _params_from(values: Mapping[str, Any]) -> InferenceParams:
    kwargs: dict[str, Any] = {}
    for name in _FLOAT_PARAMS:
        if values.get(name) is not None:
            kwargs[name] = values[name]
    for name in _INT_PARAMS:
        if values.get(name) is not None:
            kwargs[name] = values[name]
    if values.get("class_agnostic_nms") is not None:
        kwargs["class_agnostic_nms"] = parse_bool(
            values["class_agnostic_nms"], "class_agnostic_nms"
        )
    if values.get("class_filter") is not None:
        kwargs["class_filter"] = values["class_filter"]
    if values.get("mask_decode_mode") is not None:
        kwargs["mask_decode_mode"] = values["mask_decode_mode"]
    return InferenceParams(**kwargs)


def _target_dataset(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$", value):
        raise BadRequestError(
            f"active_learning_target_dataset must be a project name, got {value!r}"
        )
    return value


# ------------------------------------------------ what the client attaches to its datapoints

SOURCE_MAX = 128
SOURCE_INFO_MAX = 256
MAX_REQUEST_TAGS = 32
DEFAULT_METADATA_MAX_BYTES = 4096
_TAG = re.compile(rf"^[{TAG_CHARS}]{{1,64}}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _label(value: Any, name: str, max_length: int) -> str | None:
    """``source`` / ``source_info``: absent or empty is None, else a short text."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > max_length or _CONTROL.search(value):
        raise BadRequestError(
            f"{name} must be a string of at most {max_length} characters without control "
            f"characters, got {repr(value)[:80]}"
        )
    return value


def _request_tags(value: Any, name: str = "active_learning_tags") -> tuple[str, ...]:
    """A list of tags (the platform's tag rule), each once, at most ``MAX_REQUEST_TAGS``."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise BadRequestError(f"{name} must be a list of strings, got {type(value).__name__}")
    if len(value) > MAX_REQUEST_TAGS:
        raise BadRequestError(f"{name} has {len(value)} tags; at most {MAX_REQUEST_TAGS} allowed")
    for index, tag in enumerate(value):
        if not isinstance(tag, str):
            raise BadRequestError(f"{name}[{index}] must be a string, got {repr(tag)[:80]}")
        if not _TAG.match(tag):
            raise BadRequestError(
                f"{name}[{index}] {tag[:80]!r} must be 1-64 characters of "
                "a-z A-Z 0-9 - _ : / . [ ] < > { } @"
            )
    return tuple(dict.fromkeys(value))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def _metadata(
    value: Any, max_bytes: int, name: str = "active_learning_metadata"
) -> dict[str, Any] | None:
    """A JSON object of at most ``max_bytes`` bytes as compact JSON; ``{}`` is None."""
    if value is None:
        return None
    if not isinstance(value, dict):
        kind = "array" if isinstance(value, list) else type(value).__name__
        raise BadRequestError(f"{name} must be a JSON object, got {kind}")
    try:
        size = len(json.dumps(value, separators=(",", ":"), allow_nan=False).encode())
    except ValueError:
        raise BadRequestError(f"{name} must hold JSON values only (no NaN or infinity)") from None
    except RecursionError:
        raise BadRequestError(f"{name} is nested too deeply") from None
    if size > max_bytes:
        raise BadRequestError(
            f"{name} is {size} bytes as JSON, over the limit of {max_bytes} bytes "
            "(WINNOW_ACTIVE_LEARNING_METADATA_MAX_BYTES)"
        )
    return value or None


def _query_tags(raw: str | None) -> tuple[str, ...]:
    """Legacy route: ``active_learning_tags=a,b`` (repeated parameters arrive comma-joined)."""
    if raw is None or not raw.strip():
        return ()
    return _request_tags([part.strip() for part in raw.split(",") if part.strip()])


def _query_metadata(raw: str | None, max_bytes: int) -> dict[str, Any] | None:
    """Legacy route: ``active_learning_metadata`` is the JSON text of an object."""
    name = "active_learning_metadata"
    if raw is None or not raw.strip():
        return None
    try:
        value = json.loads(raw, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise BadRequestError(f"{name} must be the JSON text of an object ({exc})") from None
    except RecursionError:
        raise BadRequestError(f"{name} is nested too deeply") from None
    return _metadata(value, max_bytes, name)


def parse_v1(
    body: Any,
    authorization: str | None,
    *,
    metadata_max_bytes: int = DEFAULT_METADATA_MAX_BYTES,
) -> InferenceRequest:
    """Parse a v1 JSON body (``/infer/...``). ``image`` may be one object or a list.

    ``source``, ``source_info``, ``active_learning_tags`` and
    ``active_learning_metadata`` (at most ``metadata_max_bytes`` as compact
    JSON) go to the datapoints of the request; a bad one is a 400 naming it.
    """
    if not isinstance(body, Mapping):
        raise BadRequestError("request body must be a JSON object")
    api_key = resolve_api_key(body.get("api_key"), authorization)
    model_id = check_model_id(body.get("model_id"))
    raw_image = body.get("image")
    if raw_image is None:
        raise BadRequestError("image is required: {'type': 'base64', 'value': '...'}")
    as_list = isinstance(raw_image, list)
    items = raw_image if as_list else [raw_image]
    if not items:
        raise BadRequestError("image list is empty")
    images = [
        _image_input(item, f"image[{i}]" if as_list else "image") for i, item in enumerate(items)
    ]
    return InferenceRequest(
        api_key=api_key,
        model_id=model_id,
        images=images,
        as_list=as_list,
        params=_params_from(body),
        disable_active_learning=parse_bool(
            body.get("disable_active_learning"), "disable_active_learning"
        ),
        target_dataset=_target_dataset(body.get("active_learning_target_dataset")),
        visualize=parse_bool(body.get("visualize_predictions"), "visualize_predictions"),
        auto_orient=not parse_bool(
            body.get("disable_preproc_auto_orient"), "disable_preproc_auto_orient"
        ),
        source=_label(body.get("source"), "source", SOURCE_MAX),
        source_info=_label(body.get("source_info"), "source_info", SOURCE_INFO_MAX),
        tags=_request_tags(body.get("active_learning_tags")),
        metadata=_metadata(body.get("active_learning_metadata"), metadata_max_bytes),
    )


def _number(query: Mapping[str, str], name: str, *, integer: bool = False) -> float | int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        kind = "an integer" if integer else "a number"
        raise BadRequestError(f"{name} must be {kind}, got {raw!r}") from None


def _fraction(value: float | int | None) -> float | None:
    # The hosted legacy API takes percentages; values >= 1 are read as such.
    if value is None:
        return None
    return float(value) / 100.0 if value >= 1 else float(value)


def parse_legacy_query(
    project: str,
    version: str,
    query: Mapping[str, str],
    authorization: str | None,
    *,
    metadata_max_bytes: int = DEFAULT_METADATA_MAX_BYTES,
) -> InferenceRequest:
    """Parse the legacy route's path and query; ``images`` is left empty for the caller.

    ``active_learning_tags`` is comma-separated (tags hold no comma);
    ``active_learning_metadata`` is the JSON text of an object.
    """
    api_key = resolve_api_key(query.get("api_key"), authorization)
    model_id = check_model_id(f"{project}/{version}")
    values: dict[str, Any] = {
        "confidence": _fraction(_number(query, "confidence")),
        "iou_threshold": _fraction(_number(query, "overlap")),
        "max_detections": _number(query, "max_detections", integer=True),
        "max_candidates": _number(query, "max_candidates", integer=True),
        "keypoint_confidence": _fraction(_number(query, "keypoint_confidence")),
    }
    classes = query.get("classes")
    if classes:
        values["class_filter"] = [c.strip() for c in classes.split(",") if c.strip()]
    if query.get("class_agnostic_nms") is not None:
        values["class_agnostic_nms"] = query["class_agnostic_nms"]
    response_format = (query.get("format") or "json").lower()
    if response_format not in ("json", "image"):
        raise BadRequestError(f"format must be json or image, got {query.get('format')!r}")
    return InferenceRequest(
        api_key=api_key,
        model_id=model_id,
        images=[],
        params=_params_from(values),
        disable_active_learning=parse_bool(
            query.get("disable_active_learning"), "disable_active_learning"
        ),
        target_dataset=_target_dataset(query.get("active_learning_target_dataset")),
        response_format=response_format,
        auto_orient=not parse_bool(
            query.get("disable_preproc_auto_orient"), "disable_preproc_auto_orient"
        ),
        source=_label(query.get("source"), "source", SOURCE_MAX),
        source_info=_label(query.get("source_info"), "source_info", SOURCE_INFO_MAX),
        tags=_query_tags(query.get("active_learning_tags")),
        metadata=_query_metadata(query.get("active_learning_metadata"), metadata_max_bytes),
    )


def legacy_body_image(body: bytes) -> ImageInput:
    """The image of a legacy request whose body is the raw base64 text."""
    text = body.strip()
    if not text:
        raise BadRequestError("request body is empty; send the image as base64 text")
    if text[:1] == b'"' and text[-1:] == b'"':
        # Some clients JSON-encode the string; accept the quoted form as well.
        text = text[1:-1]
    try:
        decoded = text.decode("ascii")
    except UnicodeDecodeError:
        raise BadRequestError(
            "request body is not base64 text; send base64, or multipart with a 'file' part"
        ) from None
    return ImageInput(ImageKind.BASE64, decoded)
