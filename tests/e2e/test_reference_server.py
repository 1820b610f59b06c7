"""An unmodified reference inference server (PyPI inference-core 1.8.3) collecting into winnow.

compat.md section 2: a reference server whose ``API_BASE_URL`` points at
winnow's platform must collect data into winnow. Here the real server runs
in its own virtualenv (tests/e2e/reference/venv.py), built as its CPU docker
image builds it (tests/e2e/reference/app.py), with ``API_BASE_URL`` at a
recording proxy in front of a real ``winnow serve --role platform``; the
tests call the reference server's own inference routes and then read what
arrived through winnow's /v1 API. The proxy's record shows every platform call
the reference made and winnow's status for it.

The reference reads a project's AL configuration once per model and keeps it
for the life of the process, so every test uses its own project, configured
before its first inference.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.reference.launch import prepare_workdir, reference_command, reference_env
from tests.e2e.reference.recorder import Call, Recorder, recording_proxy
from tests.e2e.reference.venv import reference_python
from tests.e2e.servers import Server, stop_process, winnow_serve
from tests.factories import make_jpeg_b64
from tests.live_server import free_port

pytestmark = [pytest.mark.sdk, pytest.mark.slow, pytest.mark.timeout(1500)]

KEY = "ref-compat-key-0123456789abcdef"
BOX_PROJECTS = ("ref-boxes", "ref-boxes-small", "ref-boxes-workflow")
STARTUP_TIMEOUT = 180.0


@dataclass
class Reference:
    """The running reference server, the winnow platform behind it, and the proxy's record."""

    url: str
    platform: Server
    recorder: Recorder
    log_path: Path

    def log(self) -> str:
        """What the reference server printed so far."""
        return self.log_path.read_text(errors="replace")


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Reference]:
    """winnow (role platform) <- recording proxy <- reference inference server, once per module."""
    python = reference_python()
    work = tmp_path_factory.mktemp("reference")
    prepare_workdir(work)
    with (
        winnow_serve(work / "winnow", api_key=KEY, args=("--role", "platform")) as platform,
        recording_proxy(platform.url) as (proxy_url, recorder),
    ):
        port = free_port()
        log_path = work / "reference.log"
        command = reference_command(python)
        with log_path.open("wb") as log:
            process = subprocess.Popen(
                [*command, "--port", str(port)],
                cwd=work,
                env=reference_env(proxy_url, work, BOX_PROJECTS),
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        running = Reference(f"http://127.0.0.1:{port}", platform, recorder, log_path)
        try:
            _wait_until_up(running, process)
            yield running
        finally:
            stop_process(process)


def _wait_until_up(reference: Reference, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"the reference server exited early:\n{reference.log()[-5000:]}")
        try:
            if httpx.get(f"{reference.url}/info", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the reference server did not come up:\n{reference.log()[-5000:]}")
        time.sleep(0.5)


def _project(reference: Reference, name: str, config: dict[str, Any]) -> None:
    with reference.platform.client() as http:
        created = http.post("/v1/projects", json={"name": name, "type": "object-detection"})
        assert created.status_code == 201, created.text
        saved = http.put(f"/v1/projects/{name}/al-config", json=config)
        assert saved.status_code == 200, saved.text


def _config(prefix: str, **extra: Any) -> dict[str, Any]:
    batching = {"batches_name_prefix": prefix, "recreation_interval": "never"}
    batching.update(extra.pop("batching", {}))
    return {
        "enabled": True,
        "persist_predictions": False,
        "sampling_strategies": [
            {"name": "everything", "type": "random", "traffic_percentage": 1.0, "tags": ["sampled"]}
        ],
        "batching_strategy": batching,
        "tags": ["from-reference", "site:a"],
        **extra,
    }


def _infer_v1(reference: Reference, model_id: str, seed: int, **size: int) -> dict[str, Any]:
    body = {
        "api_key": KEY,
        "model_id": model_id,
        "image": {
            "type": "base64",
            "value": make_jpeg_b64(**({"width": 640, "height": 480} | size), seed=seed, quality=95),
        },
    }
    response = httpx.post(f"{reference.url}/infer/object_detection", json=body, timeout=60)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _infer_legacy(reference: Reference, model_id: str, seed: int) -> dict[str, Any]:
    response = httpx.post(
        f"{reference.url}/{model_id}",
        params={"api_key": KEY},
        content=make_jpeg_b64(640, 480, seed=seed, quality=95),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def _images(reference: Reference, project: str) -> list[dict[str, Any]]:
    with reference.platform.client() as http:
        response = http.get(f"/v1/projects/{project}/images", params={"limit": 100})
        assert response.status_code == 200, response.text
        found: list[dict[str, Any]] = response.json()["images"]
        return found


def _wait(what: Callable[[], bool], timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while not what():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def _calls_for(reference: Reference, project: str) -> list[Call]:
    return [
        call
        for call in reference.recorder.calls()
        if f"/{project}/" in f"{call.path}/" and not call.path.startswith("/v1/")
    ]


def _assert_all_answered(reference: Reference, since: int) -> None:
    """Every platform call since the ``since``-th was answered below 400; no AL error logged."""
    failed = [
        (c.method, c.path, c.status) for c in reference.recorder.calls()[since:] if c.status >= 400
    ]
    assert failed == [], f"winnow refused calls of the reference server: {failed}"
    assert "Error in datapoint registration" not in reference.log(), reference.log()[-5000:]


@pytest.mark.parametrize("route", ["v1", "legacy"])
def test_stub_inference_lands_in_the_configured_batch_with_tags(
    reference: Reference, route: str
) -> None:
    project = f"ref-stub-{route}"
    since = len(reference.recorder.calls())
    _project(reference, project, _config(f"al-{route}"))
    if route == "v1":
        result = _infer_v1(reference, f"{project}/0", seed=1)
    else:
        result = _infer_legacy(reference, f"{project}/0", seed=2)
    assert result["is_stub"] is True
    assert result["model_id"] == f"{project}/0"

    assert _wait(lambda: len(_images(reference, project)) == 1), reference.log()[-5000:]
    (image,) = _images(reference, project)
    assert image["batch"] == f"al-{route}"
    assert sorted(image["tags"]) == sorted(["from-reference", "site:a", "sampled"])
    assert (image["width"], image["height"]) == (640, 480)
    assert image["inference_id"]  # the reference sends its request id
    with reference.platform.client() as http:
        details = http.get(f"/v1/images/{image['id']}").json()
    assert details["annotations"] == []  # a stub predicts nothing: no annotation upload
    _assert_all_answered(reference, since)
    used = {(c.method, c.path) for c in _calls_for(reference, project)}
    assert used == {
        ("GET", f"/default/{project}"),
        ("GET", f"/default/{project}/active_learning"),
        ("POST", f"/dataset/{project}/upload"),
    }
    upload = next(c for c in _calls_for(reference, project) if c.path.endswith("/upload"))
    assert upload.query["batch"] == [f"al-{route}"]
    assert upload.query["api_key"] == [KEY]


def _annotations(reference: Reference, image_id: str) -> list[dict[str, Any]]:
    with reference.platform.client() as http:
        found: list[dict[str, Any]] = http.get(f"/v1/images/{image_id}").json()["annotations"]
        return found


def _collect_one_box(
    reference: Reference, project: str, config: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Configure ``project``, infer one 640x480 image; the stored image and its annotation."""
    _project(reference, project, config)
    result = _infer_v1(reference, f"{project}/0", seed=3, width=640, height=480)
    assert len(result["predictions"]) == 1

    def annotated() -> bool:
        images = _images(reference, project)
        return len(images) == 1 and _annotations(reference, images[0]["id"]) != []

    assert _wait(annotated), reference.log()[-5000:]
    (image,) = _images(reference, project)
    (annotation,) = _annotations(reference, image["id"])
    return image, annotation


def test_detection_prediction_is_stored_as_a_prediction_annotation(reference: Reference) -> None:
    since = len(reference.recorder.calls())
    image, annotation = _collect_one_box(
        reference, BOX_PROJECTS[0], _config("boxes", persist_predictions=True)
    )
    assert annotation["kind"] == "prediction"
    assert annotation["format"] == "json"
    body = annotation["body"]
    assert (image["width"], image["height"]) == (640, 480)
    assert body["image"] == {"width": 640, "height": 480}
    (box,) = body["predictions"]
    assert (box["x"], box["y"], box["width"], box["height"]) == (320, 240, 320, 240)
    assert box["class"] == "thing"
    # With persist_predictions the reference also tags the image with the model id.
    assert f"{BOX_PROJECTS[0]}-0" in image["tags"]
    _assert_all_answered(reference, since)
    annotate = [c for c in _calls_for(reference, BOX_PROJECTS[0]) if "/annotate/" in c.path]
    assert [c.query["prediction"] for c in annotate] == [["true"]]
    assert annotate[0].path == f"/dataset/{BOX_PROJECTS[0]}/annotate/{image['id']}"


def test_prediction_of_a_shrunk_image_lines_up_with_the_stored_image(
    reference: Reference,
) -> None:
    # max_image_size halves the 640x480 image; the reference divides its prediction by the
    # scale (declaring a 1280x960 image); winnow maps it onto the stored 320x240 image.
    since = len(reference.recorder.calls())
    config = _config("small", persist_predictions=True, max_image_size=[240, 320])
    image, annotation = _collect_one_box(reference, BOX_PROJECTS[1], config)
    assert (image["width"], image["height"]) == (320, 240)
    body = annotation["body"]
    assert body["image"] == {"width": 320, "height": 240}
    (box,) = body["predictions"]
    assert (box["x"], box["y"], box["width"], box["height"]) == (160, 120, 160, 120)
    _assert_all_answered(reference, since)
    (sent,) = [c for c in _calls_for(reference, BOX_PROJECTS[1]) if "/annotate/" in c.path]
    assert json.loads(sent.body)["image"] == {"width": 1280, "height": 960}  # the reference bug


def test_max_batch_images_counts_each_image_once(reference: Reference) -> None:
    project = "ref-capped"
    since = len(reference.recorder.calls())
    _project(reference, project, _config("capped", batching={"max_batch_images": 3}))

    def batch_checks() -> int:
        return sum(
            1 for c in _calls_for(reference, project) if c.path == f"/default/{project}/batches"
        )

    for seed in range(3):
        _infer_v1(reference, f"{project}/0", seed=10 + seed, width=160, height=120)

        def stored(n: int = seed + 1) -> bool:
            return len(_images(reference, project)) == n

        assert _wait(stored), (
            f"the reference stopped at {len(_images(reference, project))} images of 3"
        )
    for seed in range(3, 5):
        _infer_v1(reference, f"{project}/0", seed=10 + seed, width=160, height=120)

        def checked(n: int = seed + 1) -> bool:
            return batch_checks() >= n

        assert _wait(checked)
    time.sleep(1.0)  # an upload would follow its batch check at once
    assert len(_images(reference, project)) == 3
    _assert_all_answered(reference, since)


# --------------------------------------------------------------------------- Workflows
# A workflow whose step is the reference's Roboflow Dataset Upload block (v1 or v2), run by the
# same unmodified reference server through its own /workflows/run route, stores its images in
# winnow in the named batch with the tags; every platform call the block makes is answered
# below 400. The block needs only the project in winnow, no active learning configuration.


def _new_project(ref: Reference, name: str) -> None:
    """A project without an active learning configuration: the block needs none."""
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
            "inputs": {
                "image": {
                    "type": "base64",
                    "value": make_jpeg_b64(
                        **({"width": 640, "height": 480} | size), seed=seed, quality=95
                    ),
                }
            },
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
    # the harness's stub model of a box project answers one centred box
    project = BOX_PROJECTS[2]
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
            "inputs": {
                "image": {"type": "base64", "value": make_jpeg_b64(640, 480, seed=42, quality=95)}
            },
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
