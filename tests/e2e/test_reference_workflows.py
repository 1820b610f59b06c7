"""The reference's Workflows upload block, run by an unmodified reference server, into winnow.

A team with a workflow whose step is the Roboflow Dataset Upload block (v1 or v2) keeps it
unchanged: the reference inference server (the same inference-core 1.8.3 as
test_reference_server.py, started the same way, ``API_BASE_URL`` at a recording proxy in front
of ``winnow serve --role platform``) runs the workflow through its own ``/workflows/run`` route,
and the images land in winnow in the named batch with the tags. Every platform call the block
makes must be answered below 400.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.e2e.test_reference_server import (
    KEY,
    Reference,
    _assert_all_answered,
    _calls_for,
    _images,
    _jpeg_b64,
    _wait,
    reference,
)

pytestmark = [pytest.mark.sdk, pytest.mark.slow, pytest.mark.timeout(1500)]

__all__ = ["reference"]  # the module-scoped fixture: one reference server for these tests


def _new_project(ref: Reference, name: str) -> None:
    with ref.platform.client() as http:
        created = http.post("/v1/projects", json={"name": name, "type": "object-detection"})
        assert created.status_code == 201, created.text


def _upload_step(version: str, project: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": f"roboflow_core/roboflow_dataset_upload@{version}",
        "name": "upload",
        "images": "$inputs.image",
        "target_project": project,
        "usage_quota_name": f"quota-{project}",
        "fire_and_forget": False,  # wait for the upload, so its status is in the answer
        **fields,
    }


def _run(ref: Reference, step: dict[str, Any], seed: int, **size: int) -> dict[str, Any]:
    specification = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [step],
        "outputs": [
            {"type": "JsonField", "name": "error_status", "selector": "$steps.upload.error_status"},
            {"type": "JsonField", "name": "message", "selector": "$steps.upload.message"},
        ],
    }
    response = httpx.post(
        f"{ref.url}/workflows/run",
        json={
            "api_key": KEY,
            "specification": specification,
            "inputs": {"image": {"type": "base64", "value": _jpeg_b64(seed, **size)}},
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    (output,) = response.json()["outputs"]
    result: dict[str, Any] = output
    return result


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_dataset_upload_block_stores_images_in_the_named_batch_with_tags(
    reference: Reference, version: str
) -> None:
    project = f"wf-upload-{version}"
    _new_project(reference, project)
    since = len(reference.recorder.calls())
    fields: dict[str, Any] = {
        "registration_tags": ["workflow", "site:b"],
        "labeling_batch_prefix": f"wf batch.{version}",
        "labeling_batches_recreation_frequency": "never",
        "max_image_size": [240, 320],
        "persist_predictions": True,
        "image_name": f"serial-{version}",
    }
    if version == "v2":
        fields["data_percentage"] = 100.0
    result = _run(
        reference, _upload_step(version, project, **fields), seed=40, width=640, height=480
    )
    assert result["error_status"] is False, (result, reference.log()[-5000:])

    assert _wait(lambda: len(_images(reference, project)) == 1), reference.log()[-5000:]
    (image,) = _images(reference, project)
    assert image["batch"] == f"wf batch.{version}"
    assert {"workflow", "site:b"} <= set(image["tags"])
    # the block resized before upload; it reads max_image_size as (width, height)
    assert (image["width"], image["height"]) == (240, 180)
    with reference.platform.client() as http:
        details = http.get(f"/v1/images/{image['id']}").json()
    assert details["annotations"] == []  # no predictions wired in: nothing to persist
    _assert_all_answered(reference, since)
    uploads = [c for c in _calls_for(reference, project) if c.path.endswith("/upload")]
    assert len(uploads) == 1
    assert uploads[0].query["batch"] == [f"wf batch.{version}"]
    assert f"serial-{version}" in uploads[0].body.decode("utf-8", "replace")


def test_dataset_upload_block_data_percentage_zero_uploads_nothing(reference: Reference) -> None:
    project = "wf-upload-none"
    _new_project(reference, project)
    since = len(reference.recorder.calls())
    step = _upload_step(
        "v2", project, data_percentage=0.0, labeling_batch_prefix="never", registration_tags=[]
    )
    result = _run(reference, step, seed=41)
    assert result["error_status"] is False
    assert "skipped" in result["message"].lower()
    time.sleep(0.5)
    assert _images(reference, project) == []
    assert [c for c in _calls_for(reference, project) if c.path.endswith("/upload")] == []
    _assert_all_answered(reference, since)


def test_dataset_upload_block_persists_the_model_step_predictions(reference: Reference) -> None:
    # ref-boxes/0 is the harness's stub that answers one centred box (test_reference_server.py)
    project = "ref-boxes"
    _new_project(reference, project)
    since = len(reference.recorder.calls())
    specification = {
        "version": "1.0",
        "inputs": [{"type": "WorkflowImage", "name": "image"}],
        "steps": [
            {
                "type": "roboflow_core/roboflow_object_detection_model@v2",
                "name": "model",
                "images": "$inputs.image",
                "model_id": f"{project}/0",
            },
            {
                **_upload_step(
                    "v2",
                    project,
                    registration_tags=["with-boxes"],
                    labeling_batch_prefix="boxes",
                    persist_predictions=True,
                ),
                "predictions": "$steps.model.predictions",
            },
        ],
        "outputs": [
            {"type": "JsonField", "name": "error_status", "selector": "$steps.upload.error_status"}
        ],
    }
    response = httpx.post(
        f"{reference.url}/workflows/run",
        json={
            "api_key": KEY,
            "specification": specification,
            "inputs": {"image": {"type": "base64", "value": _jpeg_b64(42, 640, 480)}},
        },
        timeout=120,
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"][0]["error_status"] is False, reference.log()[-5000:]
    assert _wait(lambda: len(_images(reference, project)) == 1), reference.log()[-5000:]
    (image,) = _images(reference, project)
    assert image["batch"] == "boxes" and "with-boxes" in image["tags"]
    with reference.platform.client() as http:
        (annotation,) = http.get(f"/v1/images/{image['id']}").json()["annotations"]
    assert annotation["kind"] == "prediction"
    (box,) = annotation["body"]["predictions"]
    assert (box["x"], box["y"], box["width"], box["height"]) == (320, 240, 320, 240)
    assert box["class"] == "thing"
    _assert_all_answered(reference, since)
