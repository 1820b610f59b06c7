"""Hypothesis over the platform routes read by hand: multipart, text, JSON and GET queries.

Datapoint and upload and model-file multipart bodies (parts named right,
contents wrong), the annotate text route, JSON routes fed JSON of the right
vocabulary with wrong types, and listing/export/lookup queries with odd
values. No answer is a 5xx; JSON 4xx answers carry a ``message``.
"""

from __future__ import annotations

import pytest
from hypothesis import event, given
from hypothesis import strategies as st

from tests.factories import make_jpeg
from tests.fuzz.harness import BASE, FUZZ, auth, check, quoted
from tests.fuzz.strategies import (
    JPEG_B64,
    al_configs,
    content_types,
    dumps,
    header_text,
    image_ids,
    images,
    json_bytes,
    json_objects,
    json_values,
    numbers_as_text,
    predictions,
    project_names,
    valid_al_configs,
)
from tests.fuzz.world import KEY, World
from tests.server.asgi_client import ASGIClient

pytestmark = pytest.mark.slow


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


@FUZZ
@given(data=st.data())
def test_registered_predictions_read_back(
    target: tuple[ASGIClient, World], data: st.DataObject
) -> None:
    # What registration accepts, every reader (API, labeling page, thumbnail, export) serves.
    client, world = target
    project = data.draw(st.sampled_from(list(world.projects)), label="project")
    prediction = data.draw(predictions, label="prediction")
    batch = data.draw(
        st.one_of(
            st.sampled_from(["odd", "a/b", "x/review", "a?b#c", "%2F"]), st.text(max_size=20)
        ),
        label="batch",
    )
    # Everything is drawn before the first request: answers depend on the app's state.
    fmt = data.draw(st.sampled_from(["coco", "yolo", "voc", "folders"]), label="format")
    seed = data.draw(st.integers(0, 10**6), label="jpeg seed")
    registered = client.post(
        f"/v1/projects/{project}/datapoints",
        headers={"Authorization": f"Bearer {KEY}"},
        data={"metadata": dumps({"batch": batch}).decode(), "prediction": dumps(prediction)},
        files={"file": ("a.jpg", make_jpeg(48, 32, seed=seed), "image/jpeg")},
    )
    check(registered, f"register {project} {prediction}")
    event(f"registration answered {registered.status_code}")
    if registered.status_code >= 300:
        return
    image = registered.json()["id"]
    for path in (
        f"/app/projects/{project}",
        f"/v1/images/{image}",
        f"/app/projects/{project}/images/{image}",
        f"/app/images/{image}/thumb",
        f"/app/projects/{project}/batches/{quoted(batch)}",
    ):
        check(client.get(path, params={"api_key": KEY}), f"GET {path} after {prediction}")
    exported = client.get(
        f"/v1/projects/{project}/export", params={"api_key": KEY, "format": fmt, "batch": batch}
    )
    check(exported, f"export {project} {fmt} after {prediction}")


@FUZZ
@given(data=st.data())
def test_al_configs_of_the_right_shape(
    target: tuple[ASGIClient, World], data: st.DataObject
) -> None:
    # Saved or refused with a message, validated and dry-run by the editor, and whatever
    # was saved still renders on the config page and feeds inference without a 5xx.
    client, world = target
    project = data.draw(st.sampled_from(list(world.projects)), label="project")
    config = data.draw(st.one_of(valid_al_configs, al_configs), label="config")
    origin = {"Origin": BASE}
    saved = client.request(
        "PUT", f"/v1/projects/{project}/al-config", params={"api_key": KEY}, content=dumps(config)
    )
    check(saved, f"save {config}")
    event(f"config save answered {saved.status_code}")
    for path in ("config/validate", "config/dry-run"):
        response = client.post(
            f"/app/projects/{project}/{path}",
            content=dumps({"config": config, "n": 20}),
            headers={"Content-Type": "application/json", **origin},
        )
        check(response, f"{path} {config}")
    check(client.get(f"/app/projects/{project}/config"), f"config page after {config}")
    check(client.get(f"/app/projects/{project}/config", params={"diff": 1}), "config diff")
    inferred = client.post(
        "/infer/object_detection",
        json={"api_key": KEY, "model_id": "det/1", "image": {"type": "base64", "value": JPEG_B64}},
    )
    check(inferred, "inference after a config change")
