"""A request's source, source_info, tags and metadata reach the stored image, its filters and exports.

In-process ``create_app`` (role all): the inference routes, the collector,
delivery and the platform. The image listing filters by source and tag; the
COCO export carries the identity in ``images[].extra``, the other formats in
``metadata.jsonl``.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import inspect, text

from tests.apps import drain, make_project, run_migration
from tests.factories import AUTH, KEY, al_config, make_jpeg_b64, v1_body
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.platform.db import make_engine
from winnow.settings import Settings


@pytest.fixture
def app_client(settings: Settings) -> Iterator[ASGIClient]:
    with ASGIClient(create_app(settings)) as client:
        yield client


def _image(seed: int) -> dict[str, str]:
    return {"type": "base64", "value": make_jpeg_b64(seed=seed)}  # distinct bytes: stored apart


def _listing(client: ASGIClient, project: str, **filters: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/projects/{project}/images", params=filters, headers=AUTH)
    assert response.status_code == 200, response.text
    images: list[dict[str, Any]] = response.json()["images"]
    return images


def _collect_three(client: ASGIClient) -> None:
    make_project(client, "cars", "object-detection", al_config(tags=["cfg"]))
    gate = client.post(
        "/infer/object_detection",
        json=v1_body(
            "cars/0",
            image=_image(1),
            source="gate-3",
            source_info="relay-7",
            active_learning_tags=["night", "lane:2"],
            active_learning_metadata={"site": "north", "lane": 2},
        ),
    )
    legacy = client.post(
        "/cars/0",
        params={
            "api_key": KEY,
            "source": "dock",
            "active_learning_tags": "day",
            "active_learning_metadata": '{"site": "south"}',
        },
        content=make_jpeg_b64(seed=2),
        headers={"Content-Type": "application/json"},
    )
    plain = client.post("/infer/object_detection", json=v1_body("cars/0", image=_image(3)))
    for response in (gate, legacy, plain):
        assert response.status_code == 200, response.text
    drain(client.app)


def test_the_request_fields_are_stored_on_the_image(app_client: ASGIClient) -> None:
    _collect_three(app_client)
    by_source = {i["source"]: i for i in _listing(app_client, "cars")}
    assert set(by_source) == {"gate-3", "dock", "http"}
    gate = by_source["gate-3"]
    assert gate["source_info"] == "relay-7"
    assert gate["metadata"] == {"site": "north", "lane": 2}
    # the configuration's tags first, then the request's, then the model id
    assert gate["tags"] == ["cfg", "night", "lane:2", "cars-0"]
    dock = by_source["dock"]
    assert (dock["source_info"], dock["metadata"]) == (None, {"site": "south"})
    assert dock["tags"] == ["cfg", "day", "cars-0"]
    plain = by_source["http"]
    assert (plain["source_info"], plain["metadata"]) == (None, None)
    assert plain["tags"] == ["cfg", "cars-0"]


def test_images_are_filtered_by_source_and_by_tag(app_client: ASGIClient) -> None:
    _collect_three(app_client)
    assert [i["source"] for i in _listing(app_client, "cars", source="gate-3")] == ["gate-3"]
    assert [i["source"] for i in _listing(app_client, "cars", source="http")] == ["http"]
    assert _listing(app_client, "cars", source="nowhere") == []
    assert [i["source"] for i in _listing(app_client, "cars", tag="day")] == ["dock"]
    assert len(_listing(app_client, "cars", tag="cfg")) == 3
    assert _listing(app_client, "cars", source="dock", tag="night") == []
    bad = app_client.get("/v1/projects/cars/images", params={"source": "x" * 129}, headers=AUTH)
    assert bad.status_code == 400
    assert bad.json()["message"].startswith("source:")


def _export(client: ASGIClient, fmt: str) -> zipfile.ZipFile:
    response = client.get(
        "/v1/projects/cars/export",
        params={"format": fmt, "status": "unlabeled", "split": "1,0,0"},
        headers=AUTH,
    )
    assert response.status_code == 200, response.text
    return zipfile.ZipFile(io.BytesIO(response.content))


def test_coco_export_carries_the_identity_in_images_extra(app_client: ASGIClient) -> None:
    _collect_three(app_client)
    archive = _export(app_client, "coco")
    doc = json.loads(archive.read("train/_annotations.coco.json"))
    extras = {image["extra"]["source"]: image["extra"] for image in doc["images"]}
    assert extras["gate-3"] == {
        "source": "gate-3",
        "source_info": "relay-7",
        "tags": ["cfg", "night", "lane:2", "cars-0"],
        "metadata": {"site": "north", "lane": 2},
    }
    assert extras["http"] == {"source": "http", "tags": ["cfg", "cars-0"]}
    assert "metadata.jsonl" not in archive.namelist()


@pytest.mark.parametrize("fmt", ["yolo", "voc"])
def test_other_formats_carry_it_in_metadata_jsonl(app_client: ASGIClient, fmt: str) -> None:
    _collect_three(app_client)
    archive = _export(app_client, fmt)
    lines = [json.loads(line) for line in archive.read("metadata.jsonl").splitlines()]
    assert len(lines) == 3
    names = set(archive.namelist())
    for line in lines:
        assert line["file_name"] in names  # the path of the image file in the archive
    gate = next(line for line in lines if line["source"] == "gate-3")
    assert gate["source_info"] == "relay-7"
    assert gate["tags"] == ["cfg", "night", "lane:2", "cars-0"]
    assert gate["metadata"] == {"site": "north", "lane": 2}


def test_migration_0005_adds_source_info_and_reverts(settings: Settings) -> None:
    url = settings.resolved_database_url
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    run_migration(url, "upgrade", "0004")
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            assert "source_info" not in {c["name"] for c in inspect(conn).get_columns("image")}
        run_migration(url, "upgrade", "0005")
        with engine.connect() as conn:
            assert "source_info" in {c["name"] for c in inspect(conn).get_columns("image")}
            indexes = {i["name"] for i in inspect(conn).get_indexes("image")}
            assert "ix_image_project_source" in indexes
        run_migration(url, "downgrade", "0004")
        with engine.connect() as conn:
            assert "source_info" not in {c["name"] for c in inspect(conn).get_columns("image")}
            assert conn.execute(text("SELECT count(*) FROM image")).scalar_one() == 0
    finally:
        engine.dispose()
