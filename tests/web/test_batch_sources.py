"""The batch view shows each image's source and tags and filters by source and by tag.

The page itself through the ASGI client, then the filter form in a real
browser (Debian's Chromium driven by Playwright); the labeling page's
previous/next links keep the source filter.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apps import web_app
from tests.factories import KEY, make_datapoint_input, make_jpeg, new_project
from tests.live_server import serve
from tests.server.asgi_client import ASGIClient
from tests.web.chromium import chromium, sign_in
from winnow.platform.service import Platform
from winnow.settings import Settings

# (source, source_info, tags) of the batch's images, in id order
IMAGES: list[tuple[str, str | None, tuple[str, ...]]] = [
    ("gate-3", "relay-7", ("night",)),
    ("dock", None, ("day",)),
    ("gate-3", None, ("day",)),
    ("http", None, ()),
]


def _fill(platform: Platform) -> list[int]:
    new_project(platform, "cars")
    ids = []
    for seed, (source, source_info, tags) in enumerate(IMAGES):
        result = platform.register(
            workspace=platform.workspace(KEY),
            project="cars",
            data=make_jpeg(64, 48, seed=seed, quality=85),
            datapoint=make_datapoint_input(
                "cam/1", source=source, source_info=source_info, tags=tags
            ),
        )
        ids.append(int(result.image.id))
    return ids


def _shown(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'data-image-id="(\d+)"', html)]


def test_the_page_lists_sources_and_filters(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    ids = _fill(platform)
    page = client.get("/app/projects/cars/batches/cam/1")
    assert page.status_code == 200
    options = re.search(r'<select name="source".*?</select>', page.text, re.S)
    assert options is not None
    assert re.findall(r"<option ?>([^<]+)</option>", options.group(0)) == [
        "dock",
        "gate-3",
        "http",
    ]
    assert '<option value="night">' in page.text and '<option value="day">' in page.text
    assert 'title="relay-7">gate-3</span>' in page.text  # the source, source_info on hover
    assert _shown(page.text) == ids
    gate = client.get("/app/projects/cars/batches/cam/1", params={"source": "gate-3"})
    assert _shown(gate.text) == [ids[0], ids[2]]
    both = client.get("/app/projects/cars/batches/cam/1", params={"source": "gate-3", "tag": "day"})
    assert _shown(both.text) == [ids[2]]
    # the labeling page's neighbours are those the filter keeps
    label = client.get(f"/app/projects/cars/images/{ids[0]}", params={"source": "gate-3"})
    assert f"/app/projects/cars/images/{ids[2]}?source=gate-3" in label.text
    assert f"/app/projects/cars/images/{ids[1]}?" not in label.text
    assert '<span id="image-source" title="relay-7">gate-3</span>' in label.text


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    with chromium() as instance:
        yield instance


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    app, platform = web_app(Settings(data_dir=tmp_path / "data", api_key=KEY))
    ids = _fill(platform)
    with serve(app) as url:
        yield url, ids
    platform.close()


def _thumbs(page: Any) -> list[int]:
    return [
        int(x) for x in page.eval_on_selector_all(".thumb", "e => e.map(t => t.dataset.imageId)")
    ]


@pytest.mark.browser
def test_filter_by_source_then_by_tag_in_the_browser(
    browser: Any, site: tuple[str, list[int]]
) -> None:
    url, ids = site
    page = browser.new_page()
    try:
        sign_in(page, url)
        page.goto(f"{url}/app/projects/cars/batches/cam/1")
        assert _thumbs(page) == ids
        assert page.inner_text(f'.thumb[data-image-id="{ids[1]}"] .ident') == "dock day"
        page.select_option("#source-filter", "gate-3")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*source=gate-3.*"))
        assert _thumbs(page) == [ids[0], ids[2]]
        assert page.input_value("#source-filter") == "gate-3"  # the choice stays selected
        page.fill("#tag-filter", "night")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*tag=night.*"))
        assert _thumbs(page) == [ids[0]]
        page.select_option("#source-filter", "")
        page.fill("#tag-filter", "day")
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r".*tag=day.*"))
        assert _thumbs(page) == [ids[1], ids[2]]
        # "Label from here" carries the filter to the labeling page and back
        page.click("#start-labeling")
        page.wait_for_url(re.compile(rf".*/images/{ids[1]}\?.*tag=day.*"))
    finally:
        page.close()
