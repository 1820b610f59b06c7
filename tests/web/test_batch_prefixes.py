"""Any batch prefix the reference accepts: stored as given, encoded in every URL, page and export."""

from __future__ import annotations

import html
import io
import re
import zipfile
from datetime import UTC, datetime

import pytest

from tests.factories import KEY, add_image, make_boxes_json, new_project
from tests.server.asgi_client import ASGIClient
from winnow.activelearning.batching import batch_name
from winnow.activelearning.config import validate_config
from winnow.platform.service import Platform

PREFIXES = ["my batches", "v1.2", "a/b", "ü", "50% off?#x&y=1"]
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize("prefix", PREFIXES)
def test_batch_named_from_any_prefix_is_stored_listed_shown_and_exported(
    signed_in: tuple[ASGIClient, Platform], prefix: str
) -> None:
    client, platform = signed_in
    config = validate_config(
        {
            "enabled": True,
            "persist_predictions": True,
            "batching_strategy": {"batches_name_prefix": prefix, "recreation_interval": "daily"},
            "sampling_strategies": [{"name": "r", "type": "random", "traffic_percentage": 1}],
        }
    )
    assert config.warnings == ()
    assert config.batching_strategy is not None
    name = batch_name(prefix, config.batching_strategy.recreation_interval, NOW)
    assert name == f"{prefix}_2026_12_01"
    new_project(platform, "cars")
    add_image(
        platform,
        "cars",
        batch=name,
        predictions=make_boxes_json([(10, 10, 5, 5)], class_name=["car"]),
    )
    add_image(platform, "cars", batch="other", seed=2)

    # the reference API lists it exactly as given
    listed = client.get("/default/cars/batches", params={"api_key": KEY}).json()["batches"]
    assert sorted(b["name"] for b in listed) == sorted([name, "other"])

    # the project page links to it with an encoded URL that leads to its page
    page = client.get("/app/projects/cars").text
    links = set(re.findall(r'href="https://127.0.0.1(/app/projects/cars/batches/[^"?]*)"', page))
    assert len(links) == 2
    shown = {}
    for link in links:
        assert " " not in link and "#" not in link and "?" not in link
        response = client.get(html.unescape(link))
        assert response.status_code == 200, link
        shown[link] = response.text
    (mine,) = [text for text in shown.values() if f"<h1>{html.escape(name)} " in text]
    assert "1 images" in mine

    # exporting that batch alone gives its one image
    response = client.get(
        "/app/projects/cars/export.zip",
        params={"format": "coco", "batch": name, "status": "unlabeled"},
    )
    assert response.status_code == 200, response.text
    disposition = response.headers["content-disposition"]
    assert prefix not in disposition  # file names carry the project, never the batch
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        images = [n for n in archive.namelist() if n.endswith(".jpg")]
    assert len(images) == 1
