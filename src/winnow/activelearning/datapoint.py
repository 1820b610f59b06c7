"""The datapoint: what the collector hands to the outbox and the platform stores.

``DatapointMetadata`` is everything a datapoint carries besides its image
bytes and its address (API key, project). It is the one type from the
collector to the database: the outbox stores it, the HTTP clients send it,
the native datapoints route reads it, and ``Platform.register`` validates
and stores it. ``metadata_to_json`` / ``metadata_from_json`` are its one
JSON codec; both walk the dataclass fields, so a field added to the type is
encoded, decoded, validated and (when it is a ``COLUMN``) stored without
touching them.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any, Final

from winnow.errors import BadRequestError
from winnow.predictions import Prediction

SCHEMA_VERSION: Final = 1
"""Version of the JSON layout ``metadata_to_json`` writes (key ``"v"``).

Readers accept any version up to theirs; a missing ``"v"`` means 1 (HTTP
clients need not send it). Unknown keys are ignored, so a newer sender's
added field does not break an older reader.
"""


def column(max_length: int | None = None) -> dict[str, Any]:
    """Field metadata of a provenance field stored in the image column of the same name.

    ``max_length`` (text fields) is the column's length: the write path checks
    it, and forbids control characters, before any row is written.
    """
    return {"column": True, "max_length": max_length}


@dataclass(slots=True, frozen=True, kw_only=True)
class DatapointMetadata:
    """What one datapoint carries besides its image bytes and its address.

    ``prediction`` is reference-shaped JSON matching the image (None: store no
    pre-annotation); ``task_type`` is the prediction's task; ``created_at`` is
    when the collector took it (aware). ``extra`` is free JSON stored with the
    image (the stream's frame index and time; the reference upload's
    ``metadata`` part). Fields with ``column()`` metadata are provenance,
    stored in the image column of the same name. ``where`` is not data: the
    prefix naming the fields in error messages (``"metadata."`` when they
    came from the native route's metadata part).
    """

    batch_name: str = field(metadata={"json": "batch"})
    tags: tuple[str, ...] = ()
    prediction: dict[str, Any] | None = None
    task_type: str | None = None
    created_at: datetime | None = None
    extra: dict[str, Any] | None = None
    strategy: str | None = field(default=None, metadata=column(128))
    model_id: str | None = field(default=None, metadata=column(128))
    inference_id: str | None = field(default=None, metadata=column(128))
    source: str | None = field(default=None, metadata=column(128))
    source_info: str | None = field(default=None, metadata=column(256))
    config_version: int | None = field(default=None, metadata=column())
    idempotency_key: str | None = field(default=None, metadata=column(128))
    name: str | None = field(default=None, metadata=column(256))
    where: str = field(default="", compare=False, repr=False, metadata={"json": None})

    def columns(self) -> dict[str, Any]:
        """The provenance fields by column name, as the image row stores them."""
        return {name: getattr(self, name) for name in PROVENANCE_COLUMNS}


PROVENANCE_COLUMNS: Final = tuple(
    f.name for f in fields(DatapointMetadata) if f.metadata.get("column")
)
"""Names of the ``column()`` fields: the image columns the platform stores them in."""

METADATA_FIELDS: Final = tuple(f.name for f in fields(DatapointMetadata))
"""Names of every ``DatapointMetadata`` field (``where`` included)."""


@dataclass(slots=True, frozen=True, kw_only=True)
class Datapoint(DatapointMetadata):
    """A prepared datapoint, ready to deliver: its metadata, its address and its JPEG.

    ``prediction`` is rescaled to the encoded image (``width`` x ``height``);
    ``idempotency_key`` and ``created_at`` are required here.
    ``idempotency_key`` makes registration on the platform idempotent:
    delivering the same datapoint twice stores it once.
    """

    idempotency_key: str
    created_at: datetime
    api_key: str
    project: str
    image_jpeg: bytes
    width: int
    height: int

    @property
    def metadata(self) -> DatapointMetadata:
        """The metadata part alone (what the platform receives besides the bytes)."""
        return DatapointMetadata(**{name: getattr(self, name) for name in METADATA_FIELDS})


@dataclass(slots=True, frozen=True)
class CollectionContext:
    """Who asked for the prediction and where the datapoint should go.

    ``project`` is the target project (the model's project, or
    ``active_learning_target_dataset``). ``source`` names where the image
    came from (``"http"``, the request's ``source`` such as a camera's name,
    ``"stream:cam1"``...) and ``source_info`` (the request's ``source_info``)
    is stored beside it; both are image columns on the platform.
    ``source_tags`` (the stream runner adds the source id), then ``tags``
    (the request's ``active_learning_tags``) are added to the datapoint's
    tags. ``extra`` (JSON values: the request's ``active_learning_metadata``,
    or the stream's frame index and time) becomes the datapoint's ``extra``,
    stored as the image's metadata on the platform.
    ``shadow`` is the project's shadow model's prediction of the same image,
    when the shadow runner ran it (``server/shadow.py``); None otherwise.
    """

    api_key: str
    project: str
    model_id: str
    inference_id: str | None = None
    source: str = "http"
    source_tags: tuple[str, ...] = ()
    extra: dict[str, Any] = field(default_factory=dict)
    source_info: str | None = None
    tags: tuple[str, ...] = ()
    shadow: ShadowRun | None = None


@dataclass(slots=True, frozen=True)
class ShadowRun:
    """What the shadow model (``model_id``) predicted for the image of a request."""

    model_id: str
    prediction: Prediction


def extra_problem(extra: Mapping[str, Any]) -> str | None:
    """Why ``extra`` cannot travel as JSON, or None when it can.

    NaN and infinity (which ``json`` would write as bare ``NaN``/``Infinity``,
    not JSON) and values of no JSON type (bytes, sets, objects, circular
    containers) are problems: the platform refuses such ``extra`` with a 400,
    so the collector refuses it before it takes a credit or a place in the
    outbox.
    """
    try:
        json.dumps(extra, allow_nan=False)
    except (TypeError, ValueError) as exc:
        return str(exc)
    return None


# ---------------------------------------------------------------------- codec


def _json_name(f: Any) -> str | None:
    name: str | None = f.metadata.get("json", f.name)
    return name


def metadata_to_json(meta: DatapointMetadata, *, prediction: bool = True) -> dict[str, Any]:
    """The JSON object of ``meta`` (``"v"`` first); ``prediction=False`` leaves it out.

    Tuples become lists and datetimes ISO 8601 strings; ``None`` is written
    as ``null``. The native HTTP client sends the prediction as a part of its
    own, hence ``prediction=False`` there.
    """
    out: dict[str, Any] = {"v": SCHEMA_VERSION}
    for name, key, _decode in _CODEC:
        if key == "prediction" and not prediction:
            continue
        value = getattr(meta, name)
        if isinstance(value, tuple):
            value = list(value)
        elif isinstance(value, datetime):
            value = value.isoformat()
        out[key] = value
    return out


def metadata_from_json(obj: Any, *, where: str = "") -> DatapointMetadata:
    """Decode a ``metadata_to_json`` object; 400 naming the first field of a wrong JSON type.

    ``where`` (e.g. ``"metadata"``) prefixes the field names in errors and is
    kept on the result so the write path's checks name fields the same way.
    Only JSON types are checked here; lengths, characters and the
    prediction's shape are checked once, by the platform's write path.
    """
    prefix = f"{where}." if where else ""
    if not isinstance(obj, dict):
        raise BadRequestError(f"{where or 'metadata'}: must be a JSON object")
    version = obj.get("v", SCHEMA_VERSION)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise BadRequestError(f"{prefix}v: must be a positive integer")
    if version > SCHEMA_VERSION:
        raise BadRequestError(
            f"{prefix}v: layout version {version} is newer than this reader's {SCHEMA_VERSION}"
        )
    values: dict[str, Any] = {"where": prefix}
    for name, key, decode in _CODEC:
        value = obj.get(key)
        if value is None:
            if name == "batch_name":
                raise BadRequestError(f"{prefix}{key}: required, the name of the labeling batch")
            continue
        values[name] = decode(f"{prefix}{key}", value)
    return DatapointMetadata(**values)


def _text(path: str, value: Any) -> str:
    if not isinstance(value, str):
        raise BadRequestError(f"{path}: must be a string")
    return value


def _integer(path: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError(f"{path}: must be an integer")
    return value


def _strings(path: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise BadRequestError(f"{path}: must be a list of strings")
    return tuple(value)


def _object(path: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadRequestError(f"{path}: must be a JSON object")
    return value


def _instant(path: str, value: Any) -> datetime:
    try:
        instant = datetime.fromisoformat(_text(path, value))
    except ValueError:
        instant = None
    if instant is None or instant.tzinfo is None:
        raise BadRequestError(f"{path}: must be an ISO 8601 time with a UTC offset")
    return instant


# One decoder per field type, keyed by the annotation as written (PEP 563 keeps
# them as strings): a field of a type not listed here fails at import, not on
# the first datapoint.
_DECODERS: Mapping[str, Callable[[str, Any], Any]] = {
    "str": _text,
    "str | None": _text,
    "int | None": _integer,
    "tuple[str, ...]": _strings,
    "dict[str, Any] | None": _object,
    "datetime | None": _instant,
}
_unknown = {
    f.name: f.type
    for f in fields(DatapointMetadata)
    if _json_name(f) is not None and str(f.type) not in _DECODERS
}
if _unknown:  # pragma: no cover - a programming error caught by any import
    raise TypeError(f"DatapointMetadata fields without a JSON decoder: {_unknown}")
# (field name, JSON key, decoder) of every encoded field, in declaration order: the
# codec walks this instead of dataclasses.fields() on every datapoint.
_CODEC: tuple[tuple[str, str, Callable[[str, Any], Any]], ...] = tuple(
    (f.name, key, _DECODERS[str(f.type)])
    for f in fields(DatapointMetadata)
    if (key := _json_name(f)) is not None
)
