"""The "why" of a collected image and the inference-id search box, in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apps import web_app
from tests.factories import KEY, add_image, new_project, prediction_entry, prediction_segment
from tests.live_server import serve
from tests.web.chromium import chromium, sign_in
from winnow.settings import Settings

pytestmark = pytest.mark.browser


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A live server: one collected image and the log records of it and of a skipped frame."""
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY)
    app, platform = web_app(settings)
    new_project(platform, "cars")
    image_id = add_image(platform, "cars", inference_id="inf-collected")
    name, data = prediction_segment(
        [
            prediction_entry("inf-collected"),
            prediction_entry(
                "inf-limited",
                outcome="limited",
                paid=None,
                limited_by="rnd:daily",
                matched=("rnd",),
            ),
        ]
    )
    assert platform.predictions.store_segment(workspace="default", name=name, data=data)
    with serve(app) as url:
        yield url, image_id
    platform.close()


def test_label_view_says_why_and_search_finds_any_inference_id(
    site: tuple[str, int],
) -> None:
    url, image_id = site
    with chromium() as browser:
        page: Any = browser.new_page()  # type: ignore[attr-defined]
        sign_in(page, url)
        page.goto(f"{url}/app/projects/cars/images/{image_id}")
        why = page.locator("#why .why-text")
        assert why.inner_text() == "collected by strategy rnd"

        page.fill("#search-inference", "inf-limited")
        page.press("#search-inference", "Enter")
        page.wait_for_url("**/app/predictions?inference_id=inf-limited")
        assert page.locator("#inference-id").inner_text() == "inf-limited"
        text = page.locator("#why .why-text").inner_text()
        assert text == "not collected: every matching strategy had spent its limit (rnd:daily)"
        assert page.locator("#collected-image").count() == 0

        page.fill("#search-inference", "inf-collected")
        page.press("#search-inference", "Enter")
        page.wait_for_url("**/app/predictions?inference_id=inf-collected")
        page.click("#collected-image")
        page.wait_for_url(f"**/app/projects/cars/images/{image_id}")

        response = page.goto(f"{url}/app/predictions?inference_id=nope")
        assert response.status == 404
        assert "not found" in page.content()
