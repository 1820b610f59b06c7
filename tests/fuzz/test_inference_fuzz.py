"""Hypothesis over the inference routes: the raw-body legacy route and v1 JSON; no 5xx.

The legacy route ``POST /{project}/{version}`` takes any Content-Type, base64
or bytes or multipart, and its parameters in the query string; the v1 routes
take JSON objects whose fields are generated with the right names and wrong
types. The test client re-raises anything the app did not handle.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import FUZZ, check, quoted
from tests.fuzz.strategies import (
    base64_texts,
    content_types,
    dumps,
    header_text,
    images,
    json_bytes,
    json_objects,
    json_values,
    numbers_as_text,
    project_names,
    urls,
)
from tests.fuzz.world import KEY, World
from tests.server.asgi_client import ASGIClient

pytestmark = pytest.mark.slow


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
