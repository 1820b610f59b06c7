"""The Evaluation page and the overview's yield table: server-rendered, and in Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.apps import web_app
from tests.factories import KEY
from tests.live_server import serve
from tests.server.asgi_client import ASGIClient
from tests.web.chromium import ARTIFACTS, chromium, sign_in
from tests.web.evaluation_data import labeled_project
from winnow.platform.service import Platform
from winnow.settings import Settings


def test_the_page_shows_figures_worst_images_and_the_comparison(
    signed_in: tuple[ASGIClient, Platform],
) -> None:
    client, platform = signed_in
    ids = labeled_project(platform)
    page = client.get(
        "/app/projects/cars/evaluation", params={"model_id": "cars/1", "a": "cars/1", "b": "cars/2"}
    )
    assert page.status_code == 200, page.text
    html = page.text
    assert 'aria-label="precision-recall curves"' in html
    assert 'aria-label="confusion matrix"' in html
    # cars/1 misses the person on every odd image: those are the worst, linked to labeling.
    for image_id in ids[1::2]:
        assert f"/app/projects/cars/images/{image_id}" in html
    assert 'id="comparison"' in html and "+1.000" in html  # person recall 0 -> 1


def test_the_overview_shows_the_yield_of_each_rule(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    labeled_project(platform)
    html = client.get("/app/projects/cars").text
    assert 'id="yield"' in html
    # Every 'uncertain' image was corrected (a person added), no 'random-10' one was.
    assert "<td>uncertain</td>" in html and "100%" in html
    assert "<td>random-10</td>" in html and "0%" in html


@pytest.fixture
def site(tmp_path: Path) -> Iterator[str]:
    app, platform = web_app(Settings(data_dir=tmp_path / "data", api_key=KEY))
    labeled_project(platform)
    with serve(app) as url:
        yield url
    platform.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as instance:
        yield instance


@pytest.mark.browser
def test_evaluation_page_in_a_browser(browser: object, site: str) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 1400})  # type: ignore[attr-defined]
    try:
        sign_in(page, site)
        page.goto(f"{site}/app/projects/cars/evaluation")
        page.select_option("#slice select[name=model_id]", "cars/1")
        page.click("#slice button[type=submit]")
        page.wait_for_url("**model_id=cars%2F1**")
        headline = page.inner_text("#headline")
        assert "8 images" in headline
        assert page.locator("svg.pr-curves polyline").count() == 3
        assert page.locator("svg.confusion rect").count() == 16  # 3 classes + background
        page.select_option("#compare-form select[name=a]", "cars/1")
        page.select_option("#compare-form select[name=b]", "cars/2")
        page.click("#compare-form button[type=submit]")
        page.wait_for_selector("#comparison")
        assert "+1.000" in page.inner_text("#comparison")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "evaluation-page.png"), full_page=True)
        page.goto(f"{site}/app/projects/cars")
        assert "100%" in page.inner_text("#yield")
        page.screenshot(path=str(ARTIFACTS / "overview-yield.png"), full_page=True)
        page.goto(f"{site}/app/projects/cars/evaluation?model_id=cars%2F1")
        page.click("#worst a >> nth=0")
        page.wait_for_url("**/images/**")
        assert page.locator("#canvas").count() == 1
    finally:
        page.close()
