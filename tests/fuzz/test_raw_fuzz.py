"""Hypothesis over the routes the OpenAPI document cannot describe: no input gets a 5xx.

Raw-body legacy inference (``POST /{project}/{version}``: any Content-Type,
base64 or bytes, query parameters), the hand-read multipart and text routes
(datapoints, upload, annotate, model files), JSON routes fed JSON of the
right vocabulary with wrong types, and the cookie-authenticated web UI.
Every answer must be below 500; JSON 4xx answers carry a ``message``. The
test client re-raises anything the app did not handle, so a crash fails the
example too.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.fuzz.strategies import (
    base64_texts,
    content_types,
    dumps,
    header_text,
    images,
    json_bytes,
    json_objects,
    json_values,
    urls,
)
from tests.fuzz.world import KEY, World, build_app, seed
from tests.server.asgi_client import ASGIClient

pytestmark = pytest.mark.slow

EXAMPLES = int(os.environ.get("WINNOW_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
BASE = "https://127.0.0.1"


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ASGIClient, World]]:
    """A seeded app and a client signed in to its web UI (session cookie set)."""
    app = build_app(Path(tmp_path_factory.mktemp("rawfuzz")) / "data")
    with ASGIClient(app, base_url=BASE) as client:
        world = seed(client.request)
        signed = client.post("/app/login", data={"api_key": KEY}, follow_redirects=False)
        assert signed.status_code == 303, signed.text
        yield client, world


def check(response: httpx.Response, what: str) -> None:
    """Below 500; a JSON 4xx names the problem in ``message``."""
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if 400 <= response.status_code < 500 and is_json:
        message = response.json().get("message")
        assert isinstance(message, str) and message.strip(), (what, response.text[:300])


def project_names(world: World) -> st.SearchStrategy[str]:
    """A seeded project name, or any text (URL-quoted by httpx)."""
    return st.one_of(st.sampled_from(list(world.projects)), st.text(min_size=1, max_size=12))


def image_ids(world: World) -> st.SearchStrategy[str]:
    """A seeded image id, or another number or text."""
    return st.one_of(
        st.sampled_from(world.image_ids),
        st.integers(min_value=-(2**70), max_value=2**70).map(str),
        st.sampled_from(["9" * 5000, "²", "1¹", "0", "٣"]),
        st.text(min_size=1, max_size=12),
    )


def quoted(segment: str) -> str:
    """A path segment with everything but unreserved characters percent-encoded."""
    from urllib.parse import quote

    return quote(segment, safe="") or "%20"


def auth(data: st.DataObject) -> dict[str, str]:
    """The key as a Bearer header, or a wrong key, or nothing."""
    how = data.draw(st.sampled_from(["bearer", "none", "wrong"]), label="auth")
    return {"bearer": {"Authorization": f"Bearer {KEY}"}, "wrong": {"Authorization": "x"}}.get(
        how, {}
    )


LEGACY_PARAMS = [
    "confidence",
    "overlap",
    "max_detections",
    "max_candidates",
    "keypoint_confidence",
    "classes",
    "class_agnostic_nms",
    "format",
    "image",
    "disable_active_learning",
    "active_learning_target_dataset",
    "disable_preproc_auto_orient",
    "api_key",
]


@FUZZ
@given(data=st.data())
def test_legacy_inference_route(target: tuple[ASGIClient, World], data: st.DataObject) -> None:
    client, world = target
    project = data.draw(project_names(world), label="project")
    version = data.draw(
        st.one_of(st.sampled_from(["0", "1"]), st.integers(0, 10**30).map(str)), label="version"
    )
    params = data.draw(
        st.dictionaries(
            st.sampled_from(LEGACY_PARAMS),
            st.one_of(header_text, numbers_as_text(), urls),
            max_size=5,
        ),
        label="query",
    )
    params.setdefault("api_key", KEY)
    content_type = data.draw(content_types, label="content-type")
    body = data.draw(
        st.one_of(base64_texts.map(str.encode), images, st.binary(max_size=64), json_bytes),
        label="body",
    )
    headers = {"Content-Type": content_type} if content_type else {}
    if data.draw(st.booleans(), label="multipart"):
        response = client.post(
            f"/{quoted(project)}/{version}",
            params=params,
            files={data.draw(st.sampled_from(["file", "image", "x"])): ("f", body)},
        )
    else:
        response = client.post(
            f"/{quoted(project)}/{version}", params=params, content=body, headers=headers
        )
    check(response, f"legacy {project}/{version} {params}")


def numbers_as_text() -> st.SearchStrategy[str]:
    """Numbers as a query string carries them, odd ones included."""
    return st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).map(str),
        st.integers(min_value=-(10**40), max_value=10**40).map(str),
        st.sampled_from(
            ["1e309", "-0", "0x10", "1_000", " 5 ", "٣", "²", "NaN", "inf", "9" * 5000]
        ),
        st.sampled_from(["nan,1,1", "inf,0,0", "1e308,1e308,1e308", "0.8,0.1", "-1,2,0"]),
    )


@FUZZ
@given(data=st.data())
def test_v1_inference_json(target: tuple[ASGIClient, World], data: st.DataObject) -> None:
    client, world = target
    route = data.draw(
        st.sampled_from(
            ["object_detection", "instance_segmentation", "classification", "keypoints_detection"]
        ),
        label="route",
    )
    body: dict[str, Any] = data.draw(json_objects, label="fields")
    body.setdefault("api_key", KEY)
    body.setdefault("model_id", data.draw(st.sampled_from([*world.model_ids, "kp/0", "x/1"])))
    image = data.draw(
        st.one_of(
            st.fixed_dictionaries({"type": st.just("base64"), "value": base64_texts}),
            st.fixed_dictionaries({"type": st.just("url"), "value": urls}),
            json_values,
        ),
        label="image",
    )
    body.setdefault("image", image if data.draw(st.booleans()) else [image, image])
    raw = dumps(body) if data.draw(st.booleans(), label="json") else data.draw(json_bytes)
    check(client.post(f"/infer/{route}", content=raw), f"/infer/{route}")


MULTIPART_ROUTES = ("datapoints", "upload", "models")
PART_NAMES = ("file", "metadata", "prediction", "name", "model_id", "class_names", "task_type")


@FUZZ
@given(data=st.data())
def test_multipart_routes(target: tuple[ASGIClient, World], data: st.DataObject) -> None:
    client, world = target
    kind = data.draw(st.sampled_from(MULTIPART_ROUTES), label="route")
    project = quoted(data.draw(project_names(world), label="project"))
    path = {
        "datapoints": f"/v1/projects/{project}/datapoints",
        "upload": f"/dataset/{project}/upload",
        "models": "/v1/models",
    }[kind]
    headers = auth(data)
    params = {"api_key": KEY} if not headers else {}
    fields = data.draw(
        st.dictionaries(
            st.sampled_from(PART_NAMES),
            st.one_of(
                json_values.map(lambda v: dumps(v).decode()),
                st.text(max_size=30),
                st.sampled_from(["det/1", "det/2", "kp/1", "[]", '["a"]', "{}"]),
            ),
            max_size=5,
        ),
        label="fields",
    )
    if "metadata" not in fields and data.draw(st.booleans()):
        fields["metadata"] = dumps({"batch": "fuzz", **data.draw(json_objects)}).decode()
    file_part = data.draw(st.one_of(st.none(), images), label="file")
    files = {"file": ("f.jpg", file_part, "image/jpeg")} if file_part is not None else None
    if data.draw(st.booleans(), label="raw"):
        raw = data.draw(st.binary(max_size=200), label="raw body")
        ctype = data.draw(content_types, label="content-type")
        response = client.post(
            path, params=params, content=raw, headers={**headers, "Content-Type": ctype}
        )
    else:
        response = client.post(path, params=params, data=fields, files=files, headers=headers)
    check(response, f"{path} {sorted(fields)}")


@FUZZ
@given(data=st.data())
def test_annotate_route(target: tuple[ASGIClient, World], data: st.DataObject) -> None:
    client, world = target
    project = quoted(data.draw(project_names(world), label="project"))
    image_id = quoted(data.draw(image_ids(world), label="image id"))
    name = data.draw(
        st.one_of(st.sampled_from(["a.json", "a.txt", "a", ".json"]), st.text(max_size=12)),
        label="name",
    )
    prediction = data.draw(
        st.one_of(
            st.fixed_dictionaries(
                {"predictions": st.lists(json_objects, max_size=3)},
                optional={
                    "image": json_values,
                    "top": json_values,
                    "predicted_classes": json_values,
                },
            ),
            json_values,
        ),
        label="prediction",
    )
    body = dumps(prediction) if data.draw(st.booleans()) else data.draw(json_bytes)
    response = client.post(
        f"/dataset/{project}/annotate/{image_id}",
        params={"api_key": KEY, "name": name},
        content=body,
        headers={"Content-Type": data.draw(content_types, label="content-type")},
    )
    check(response, f"annotate {project}/{image_id} {name}")


@FUZZ
@given(data=st.data())
def test_platform_json_routes(target: tuple[ASGIClient, World], data: st.DataObject) -> None:
    client, world = target
    project = quoted(data.draw(project_names(world), label="project"))
    method, path = data.draw(
        st.sampled_from(
            [
                ("POST", "/v1/projects"),
                ("PUT", f"/v1/projects/{project}/al-config"),
                ("POST", f"/default/{project}/active_learning"),
                ("POST", "/model/add"),
                ("POST", "/model/remove"),
                ("POST", "/model/clear"),
            ]
        ),
        label="route",
    )
    body = data.draw(
        st.one_of(
            json_objects.map(dumps),
            json_objects.map(lambda c: dumps({"config": c})),
            json_bytes,
        ),
        label="body",
    )
    headers = {"Content-Type": data.draw(content_types, label="content-type")}
    response = client.request(method, path, params={"api_key": KEY}, content=body, headers=headers)
    check(response, f"{method} {path}")


def web_paths(world: World, data: st.DataObject) -> tuple[str, str]:
    """A web UI route (method, path) with seeded or odd path parameters."""
    project = quoted(data.draw(project_names(world), label="project"))
    batch = quoted(data.draw(st.one_of(st.sampled_from(world.batches), st.text(min_size=1))))
    image = quoted(data.draw(image_ids(world), label="image id"))
    return data.draw(
        st.sampled_from(
            [
                ("GET", "/app/"),
                ("GET", "/app/login"),
                ("POST", "/app/projects"),
                ("GET", f"/app/projects/{project}"),
                ("GET", f"/app/projects/{project}/config"),
                ("GET", f"/app/projects/{project}/batches/{batch}"),
                ("GET", f"/app/projects/{project}/images/{image}"),
                ("GET", f"/app/images/{image}/file"),
                ("GET", f"/app/images/{image}/thumb"),
                ("POST", f"/app/images/{image}/annotation"),
                ("POST", f"/app/images/{image}/status"),
                ("POST", f"/app/projects/{project}/batches/{batch}/review"),
                ("POST", f"/app/projects/{project}/config/validate"),
                ("POST", f"/app/projects/{project}/config"),
                ("POST", f"/app/projects/{project}/config/dry-run"),
                ("GET", f"/app/projects/{project}/export.zip"),
            ]
        ),
        label="web route",
    )


WEB_QUERY = [
    "status",
    "strategy",
    "tag",
    "cursor",
    "page",
    "diff",
    "next",
    "error",
    "format",
    "batch",
    "split",
    "seed",
]


@FUZZ
@given(data=st.data())
def test_web_ui_routes(target: tuple[ASGIClient, World], data: st.DataObject) -> None:
    client, world = target
    method, path = web_paths(world, data)
    params = data.draw(
        st.dictionaries(
            st.sampled_from(WEB_QUERY), st.one_of(header_text, numbers_as_text()), max_size=4
        ),
        label="query",
    )
    if method == "GET":
        response = client.get(path, params=params)
    elif data.draw(st.booleans(), label="form"):
        form = data.draw(
            st.dictionaries(
                st.sampled_from(["name", "type", "action", "api_key", "next"]),
                st.text(max_size=20),
                max_size=3,
            ),
            label="form",
        )
        response = client.post(path, params=params, data=form, headers={"Origin": BASE})
    else:
        body = data.draw(
            st.one_of(
                json_objects.map(dumps),
                json_objects.map(lambda c: dumps({"config": c, "n": 5})),
                json_bytes,
            ),
            label="body",
        )
        response = client.post(
            path,
            params=params,
            content=body,
            headers={"Content-Type": "application/json", "Origin": BASE},
        )
    check(response, f"{method} {path} {params}")


PLATFORM_QUERY = [
    "batch",
    "tag",
    "strategy",
    "status",
    "limit",
    "cursor",
    "format",
    "split",
    "seed",
    "predictions",
    "project",
]


@FUZZ
@given(data=st.data())
def test_platform_get_routes(target: tuple[ASGIClient, World], data: st.DataObject) -> None:
    client, world = target
    project = quoted(data.draw(project_names(world), label="project"))
    image = quoted(data.draw(image_ids(world), label="image id"))
    version = quoted(data.draw(st.one_of(st.sampled_from(["0", "1"]), numbers_as_text())))
    path = data.draw(
        st.sampled_from(
            [
                f"/v1/projects/{project}/images",
                f"/v1/projects/{project}/batches",
                f"/v1/projects/{project}/export",
                f"/v1/projects/{project}/al-config",
                f"/v1/images/{image}",
                f"/v1/images/{image}/file",
                f"/v1/models/{project}/{version}",
                f"/v1/models/{project}/{version}/file",
                "/v1/models",
                f"/default/{project}",
                f"/default/{project}/batches",
                f"/default/{project}/jobs",
                f"/default/{project}/active_learning",
            ]
        ),
        label="path",
    )
    params = data.draw(
        st.dictionaries(
            st.sampled_from(PLATFORM_QUERY),
            st.one_of(header_text, numbers_as_text()),
            max_size=4,
        ),
        label="query",
    )
    params["api_key"] = KEY
    check(client.get(path, params=params), f"GET {path} {params}")
