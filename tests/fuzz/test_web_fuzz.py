"""Hypothesis over the cookie-authenticated web UI (not in the OpenAPI document): no 5xx."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.harness import BASE, FUZZ, check, quoted
from tests.fuzz.strategies import (
    dumps,
    header_text,
    image_ids,
    json_bytes,
    json_objects,
    numbers_as_text,
    project_names,
)
from tests.fuzz.world import World
from tests.server.asgi_client import ASGIClient

pytestmark = pytest.mark.slow


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
