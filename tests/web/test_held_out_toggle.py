"""The batch page marks a batch as a held-out evaluation set, and unmarks it."""

from __future__ import annotations

from sqlalchemy import select

from tests.factories import add_image, new_project
from tests.server.asgi_client import ASGIClient
from winnow.platform.schema import Batch
from winnow.platform.service import Platform

ORIGIN = {"Origin": "https://127.0.0.1"}


def _held_out(platform: Platform) -> bool:
    with platform.db.read() as session:
        batch = session.scalar(select(Batch).where(Batch.name == "eval/1"))
        assert batch is not None
        return batch.held_out


def test_the_batch_page_toggles_held_out(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    add_image(platform, "cars", batch="eval/1")
    page = client.get("/app/projects/cars/batches/eval/1")
    assert 'value="true"' in page.text and "Mark as held out" in page.text
    assert "held-out-badge" not in page.text
    url = "/app/projects/cars/batches/eval/1/held-out"
    marked = client.post(url, data={"held_out": "true"}, headers=ORIGIN, follow_redirects=False)
    assert marked.status_code == 303
    assert client.get(marked.headers["location"]).status_code == 200
    assert _held_out(platform) is True
    page = client.get("/app/projects/cars/batches/eval/1")
    assert "held-out-badge" in page.text and "Use for training again" in page.text
    assert "held out</span>" in client.get("/app/projects/cars").text
    client.post(url, data={"held_out": "false"}, headers=ORIGIN, follow_redirects=False)
    assert _held_out(platform) is False
    bad = client.post(url, data={"held_out": "sometimes"}, headers=ORIGIN, follow_redirects=False)
    assert bad.status_code == 400
    assert _held_out(platform) is False
