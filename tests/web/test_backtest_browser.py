"""The drift charts and the editor's dry run (a backtest) in a real browser."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import pytest

from tests.apps import web_app
from tests.factories import KEY, log_records, make_records, new_project, set_config
from tests.live_server import serve
from tests.web.chromium import ARTIFACTS, chromium
from winnow.settings import Settings

pytestmark = pytest.mark.browser

SAVED: dict[str, Any] = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [{"name": "saved-random", "type": "random", "traffic_percentage": 0.5}],
    "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "daily"},
}
DRAFT: dict[str, Any] = {
    **SAVED,
    "sampling_strategies": [
        {"name": "crowded", "type": "detections_number_based", "more_than": 4, "probability": 1.0}
    ],
}


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """A live server; project 'cars' with a saved configuration and 300 predictions logged
    in the last hour from three cameras. Gives the URL and how many logged records have
    more than four objects (what DRAFT collects)."""
    app, platform = web_app(Settings(data_dir=tmp_path / "data", api_key=KEY))
    new_project(platform, "cars")
    set_config(platform, platform.workspace(KEY), "cars", SAVED)
    start = datetime.now(UTC) - timedelta(minutes=45)
    records = make_records(300, seed=7, start=start, seconds=1800, project="cars")
    log_records(platform, records)
    crowded = int(pc.sum(pc.greater(records.column("objects_total"), 4)).as_py())
    with serve(app) as url:
        yield url, crowded
    platform.close()


def _signed_in_page(browser: Any, url: str) -> Any:
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.goto(f"{url}/app/")
    page.fill("#api_key", KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/app/")
    return page


def test_the_overview_draws_drift_charts_with_data(browser: object, site: tuple[str, int]) -> None:
    url, _ = site
    page = _signed_in_page(browser, url)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{url}/app/projects/cars")
    assert "300 predictions logged" in (page.text_content("#drift-total") or "")
    by_source = page.locator("svg[data-chart=predictions-by-source]")
    assert by_source.get_attribute("data-series") == "3"
    # three cameras, each a line with points in the hours the records fall in
    assert (
        page.locator(
            "svg[data-chart=predictions-by-source] polyline, "
            "svg[data-chart=predictions-by-source] circle"
        ).count()
        >= 3
    )
    box = by_source.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 50
    for kind in (
        "predictions-by-model",
        "class-frequencies",
        "confidence",
        "confidence-by-source",
        "objects-by-source",
    ):
        chart = page.locator(f"svg[data-chart={kind}]")
        assert chart.locator("polyline, circle").count() > 0, kind
    assert page.locator("svg[data-chart=confidence-histogram] rect").count() == 10
    assert page.locator("#classes-by-model tbody tr").count() == 1
    ARTIFACTS.mkdir(exist_ok=True)
    page.locator("#drift").scroll_into_view_if_needed()
    page.screenshot(path=str(ARTIFACTS / "drift-charts.png"), full_page=True)
    page.click("#drift-windows a")  # the last 7 days: the same records, more hours
    page.wait_for_url(f"{url}/app/projects/cars?drift=7d#drift")
    assert "300 predictions logged" in (page.text_content("#drift-total") or "")
    assert errors == []
    page.close()


def test_the_dry_run_backtests_the_text_beside_the_saved_version(
    browser: object, site: tuple[str, int]
) -> None:
    url, crowded = site
    page = _signed_in_page(browser, url)
    page.goto(f"{url}/app/projects/cars/config")
    page.fill("#config-text", json.dumps(DRAFT, indent=2))
    page.wait_for_function(
        "document.getElementById('config-status').textContent.startsWith('valid')"
    )
    page.click("#dry-run-form button[data-window='1h']")
    page.wait_for_selector("#dry-run-summary")
    summary = page.text_content("#dry-run-summary")
    assert summary is not None
    assert summary.startswith("300 predictions from ")
    assert f"this text collects {crowded}, saved v1 collects " in summary
    assert "actually collected 0" in summary
    rows = page.locator("#dry-run-strategies tbody tr")
    assert rows.count() == 2
    first = rows.nth(0).locator("td")
    assert first.nth(0).text_content() == "crowded"
    assert (first.nth(1).text_content() or "").startswith(f"{crowded} ({crowded} matched")
    assert first.nth(2).text_content() == "—"  # the saved version has no such strategy
    assert rows.nth(1).locator("td").nth(0).text_content() == "saved-random"
    assert page.locator("#dry-run-sources tbody tr").count() == 3
    page.screenshot(path=str(ARTIFACTS / "config-dry-run.png"), full_page=True)
    page.close()
