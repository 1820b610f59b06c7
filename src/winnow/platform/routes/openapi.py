"""OpenAPI request bodies of the routes that read their body by hand (multipart, text, JSON)."""

from __future__ import annotations

from typing import Any

from winnow.activelearning.datapoint import DatapointMetadata, metadata_to_json


def metadata_keys() -> list[str]:
    """The keys of the native ``metadata`` part, as the codec writes them (prediction apart)."""
    return list(metadata_to_json(DatapointMetadata(batch_name="-"), prediction=False))


def multipart(fields: dict[str, dict[str, Any]], required: list[str]) -> dict[str, Any]:
    """``openapi_extra`` for a multipart/form-data body."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {"type": "object", "properties": fields, "required": required}
                }
            },
        }
    }


def json_body(schema: dict[str, Any]) -> dict[str, Any]:
    """``openapi_extra`` for a JSON body."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


def text_body(description: str) -> dict[str, Any]:
    """``openapi_extra`` for a text/plain body."""
    return {
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string", "description": description}}},
        }
    }


FILE = {"type": "string", "format": "binary"}
JSON_TEXT = {"type": "string", "description": "JSON text"}

DATAPOINT = multipart(
    {
        "file": {**FILE, "description": "The JPEG image."},
        "metadata": {
            **JSON_TEXT,
            "description": (
                "JSON object (the DatapointMetadata codec; unknown keys ignored): "
                + ", ".join(f'"{key}"' for key in metadata_keys())
                + '; "batch" is required'
            ),
        },
        "prediction": {**JSON_TEXT, "description": "Reference-shaped prediction JSON (optional)."},
    },
    ["file", "metadata"],
)
DATAPOINT_BATCH = multipart(
    {
        "datapoints": {
            **JSON_TEXT,
            "description": (
                'JSON list (at most 64) of {"metadata": <the datapoint part\'s metadata object>, '
                '"prediction": <prediction JSON or null>}; the i-th image is part "file<i>"'
            ),
        },
        "file0": {
            **FILE,
            "description": "The first datapoint's JPEG (file1, file2, ... the next).",
        },
    },
    ["datapoints", "file0"],
)
UPLOAD = multipart(
    {
        "file": {**FILE, "description": "The image (file name imageToUpload)."},
        "name": {"type": "string", "description": "<uuid>.jpg"},
        "metadata": {**JSON_TEXT, "description": "JSON object kept with the image (optional)."},
    },
    ["file"],
)
MODEL = multipart(
    {
        "model_id": {"type": "string", "description": "<project>/<version>"},
        "file": {**FILE, "description": "The ONNX file."},
        "task_type": {"type": "string", "description": "Default: the project's task."},
        "class_names": {**JSON_TEXT, "description": "JSON list of class names, by class id."},
        "metadata": {**JSON_TEXT, "description": "JSON object (optional)."},
    },
    ["model_id", "file"],
)
ANNOTATION = text_body("Prediction JSON (.json) or the class name (.txt).")
PROJECT = json_body(
    {
        "type": "object",
        "properties": {"name": {"type": "string"}, "type": {"type": "string"}},
        "required": ["name", "type"],
    }
)
AL_CONFIG = json_body({"type": "object", "description": "An active learning configuration."})
AL_CONFIG_WRAPPED = json_body(
    {
        "type": "object",
        "properties": {"config": {"type": "object"}},
        "required": ["config"],
    }
)
