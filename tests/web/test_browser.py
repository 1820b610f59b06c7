"""The labeling UI in a real browser (Debian's Chromium driven by Playwright)."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.apps import web_app
from tests.factories import KEY, add_image, make_boxes_json, new_project
from tests.live_server import serve
from tests.web.chromium import ARTIFACTS, chromium
from winnow.settings import Settings

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One Chromium for the module."""
    with chromium() as instance:
        yield instance


@pytest.fixture
def site(tmp_path: Path) -> Iterator[tuple[str, list[int]]]:
    """A live server with project 'cars': two images with a predicted car each."""
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY)
    app, platform = web_app(settings)
    new_project(platform, "cars")
    ids = [
        add_image(
            platform,
            "cars",
            seed=1,
            predictions=make_boxes_json(
                [[200, 150, 100, 80]], class_name=["car"], confidence=[0.55]
            ),
        ),
        add_image(
            platform,
            "cars",
            seed=2,
            predictions=make_boxes_json(
                [[320, 240, 60, 60]], class_name=["truck"], confidence=[0.7]
            ),
        ),
    ]
    with serve(app) as url:
        yield url, ids
    platform.close()


def _signed_in_page(browser: Any, url: str, **options: Any) -> Any:
    """A new page (``options`` as for ``browser.new_page``) signed in with the test key."""
    page = browser.new_page(**options)
    page.goto(f"{url}/app/")
    page.fill("#api_key", KEY)
    page.click("button[type=submit]")
    page.wait_for_url(f"{url}/app/")
    return page


def _screen(page: object, x: float, y: float) -> tuple[float, float]:
    """Page coordinates of image pixel (x, y) in the labeling canvas."""
    box = page.locator("#canvas").bounding_box()  # type: ignore[attr-defined]
    sx, sy = page.evaluate(f"labeler.toScreen({x}, {y})")  # type: ignore[attr-defined]
    return box["x"] + sx, box["y"] + sy


def _drag(page: object, start: tuple[float, float], end: tuple[float, float]) -> None:
    mouse = page.mouse  # type: ignore[attr-defined]
    mouse.move(*start)
    mouse.down()
    mouse.move((start[0] + end[0]) / 2, (start[1] + end[1]) / 2, steps=4)
    mouse.move(*end, steps=4)
    mouse.up()


def test_correct_a_box_add_one_change_class_save_and_reload(
    browser: object, site: tuple[str, list[int]]
) -> None:
    url, ids = site
    page = _signed_in_page(browser, url, viewport={"width": 1280, "height": 800})
    page.click("text=cars")
    page.click("text=batch-1")
    page.click(f"a.thumb[data-image-id='{ids[0]}']")
    page.wait_for_url(f"{url}/app/projects/cars/images/{ids[0]}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    assert page.evaluate("labeler.classes") == ["car", "truck"]

    # drag the predicted car 60 px right and 30 px down (image pixels)
    _drag(page, _screen(page, 200, 150), _screen(page, 260, 180))
    # draw a new box with the box tool, then make it a truck with key 2
    page.keyboard.press("b")
    _drag(page, _screen(page, 400, 300), _screen(page, 520, 420))
    page.keyboard.press("2")
    objects = page.evaluate("labeler.state.objects")
    assert [o["cls"] for o in objects] == ["car", "truck"]

    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "labeling-view.png"))

    page.keyboard.press("Enter")  # save and move on
    page.wait_for_url(f"{url}/app/projects/cars/images/{ids[1]}")
    page.goto(f"{url}/app/projects/cars/images/{ids[0]}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    saved = page.evaluate("labeler.state.objects")
    assert [o["cls"] for o in saved] == ["car", "truck"]
    tolerance = 2.0  # one screen pixel is about 1.3 image pixels at this zoom
    for got, want in zip(
        [saved[0][k] for k in ("x1", "y1", "x2", "y2")], [210, 140, 310, 220], strict=True
    ):
        assert abs(got - want) <= tolerance
    for got, want in zip(
        [saved[1][k] for k in ("x1", "y1", "x2", "y2")], [400, 300, 520, 420], strict=True
    ):
        assert abs(got - want) <= tolerance
    assert page.text_content("#status-badge") == "labeled"
    page.keyboard.press("r")  # review: accept, and move on
    page.wait_for_url(f"{url}/app/projects/cars/images/{ids[1]}")
    page.goto(f"{url}/app/projects/cars/batches/batch-1?status=reviewed")
    assert page.locator("a.thumb").count() == 1
    assert page.get_attribute("a.thumb", "data-image-id") == str(ids[0])
    page.close()


def test_undo_redo_delete_and_reject(browser: object, site: tuple[str, list[int]]) -> None:
    url, ids = site
    page = _signed_in_page(browser, url, viewport={"width": 1280, "height": 800})
    page.goto(f"{url}/app/projects/cars/images/{ids[1]}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    page.keyboard.press("Tab")  # select the first object
    page.keyboard.press("Delete")
    assert page.evaluate("labeler.state.objects.length") == 0
    page.keyboard.press("Control+z")
    assert page.evaluate("labeler.state.objects.length") == 1
    page.keyboard.press("Control+y")
    assert page.evaluate("labeler.state.objects.length") == 0
    page.keyboard.press("Control+z")
    page.keyboard.press("x")  # reject: last image, so back to the batch
    page.wait_for_url(f"{url}/app/projects/cars/batches/batch-1")
    assert "rejected" in page.text_content(f"a.thumb[data-image-id='{ids[1]}']")
    page.close()


def test_config_mistake_shows_the_field_error(browser: object, site: tuple[str, list[int]]) -> None:
    url, _ids = site
    page = _signed_in_page(browser, url)
    page.goto(f"{url}/app/projects/cars/config")
    config = {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "daily"},
        "sampling_strategies": [{"name": "r", "type": "random", "traffic_percentage": 1.5}],
    }
    page.fill("#config-text", json.dumps(config, indent=2))
    error = page.locator("#config-errors li").first
    error.wait_for()
    assert error.text_content().startswith("sampling_strategies[0].traffic_percentage")
    assert page.is_disabled("#config-save")
    config["sampling_strategies"][0]["traffic_percentage"] = 0.5  # type: ignore[index]
    page.fill("#config-text", json.dumps(config, indent=2))
    page.wait_for_function(
        "document.getElementById('config-status').textContent.startsWith('valid')"
    )
    page.click("#config-save")
    page.wait_for_selector("text=in force")
    assert "version 1" in page.content() or "1 <span" in page.content()
    page.close()


def test_config_warning_is_shown_and_does_not_block_saving(
    browser: object, site: tuple[str, list[int]]
) -> None:
    url, _ids = site
    page = _signed_in_page(browser, url)
    page.goto(f"{url}/app/projects/cars/config")
    config = {
        "enabled": True,
        "persist_predictions": True,
        "batching_strategy": {"batches_name_prefix": "my batches", "recreation_interval": "daily"},
        "sampling_strategies": [
            {"name": "r", "type": "random", "traffic_percentage": 0.5, "traffic_percentge": 1}
        ],
    }
    page.fill("#config-text", json.dumps(config, indent=2))
    warning = page.locator("#config-warnings li").first
    warning.wait_for()
    assert warning.text_content() == (
        "warning: sampling_strategies[0].traffic_percentge: unknown field, ignored "
        "(did you mean 'traffic_percentage'?)"
    )
    assert page.locator("#config-errors li").count() == 0
    assert not page.is_disabled("#config-save")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "config-warning.png"))
    page.click("#config-save")
    page.wait_for_selector("text=in force")
    page.close()


def test_export_downloads_a_yolo_zip(browser: object, site: tuple[str, list[int]]) -> None:
    url, ids = site
    page = _signed_in_page(browser, url)
    page.goto(f"{url}/app/projects/cars")
    page.select_option("select[name=format]", "yolo")
    page.check("input[name=status][value=unlabeled]")
    page.fill("input[name=split]", "1,0,0")
    with page.expect_download() as info:
        page.click("text=Download zip")
    data = Path(info.value.path()).read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        names = set(archive.namelist())
        assert {"data.yaml", f"train/images/{ids[0]}.jpg", f"train/labels/{ids[0]}.txt"} <= names
        assert 'names: ["car", "truck"]' in archive.read("data.yaml").decode()
        line = archive.read(f"train/labels/{ids[0]}.txt").decode().split()
    assert line[0] == "0"
    assert [float(v) for v in line[1:]] == pytest.approx(
        [200 / 640, 150 / 480, 100 / 640, 80 / 480], abs=1e-5
    )
    page.close()


@pytest.fixture
def shapes_site(tmp_path: Path) -> Iterator[tuple[str, int, int]]:
    """A live server with a segmentation image (one triangle) and a classification image."""
    settings = Settings(data_dir=tmp_path / "data", api_key=KEY)
    app, platform = web_app(settings)
    new_project(platform, "leaves", "instance-segmentation")
    points = [{"x": 100, "y": 100}, {"x": 300, "y": 100}, {"x": 200, "y": 300}]
    leaf = add_image(
        platform,
        "leaves",
        seed=3,
        predictions=[
            make_boxes_json([[200, 200, 200, 200]], class_name=["leaf"], confidence=[0.6])[0]
            | {"points": points}
        ],
    )
    new_project(platform, "pets", "classification")
    pet = add_image(platform, "pets", seed=4, predictions=None)
    from winnow.platform import store

    with platform.db.write() as session:
        workspace = store.resolve_key(session=session, api_key=KEY)
        image = store.get_image(session=session, workspace=workspace, image_id=pet)
        # a classification prediction so the editor offers the classes
        store.add_annotation(
            session=session,
            image=image,
            project_type="classification",
            body=json.dumps(
                {
                    "image": {"width": 640, "height": 480},
                    "predictions": [
                        {"class": "cat", "class_id": 0, "confidence": 0.6},
                        {"class": "dog", "class_id": 1, "confidence": 0.4},
                    ],
                    "top": "cat",
                    "confidence": 0.6,
                }
            ),
            name="prediction.json",
            prediction=True,
        )
    new_project(platform, "people", "keypoint-detection")
    keypoints = [
        {"x": 250, "y": 150, "confidence": 0.9, "class_id": 0, "class": "nose"},
        {"x": 350, "y": 150, "confidence": 0.9, "class_id": 1, "class": "tail"},
    ]
    add_image(
        platform,
        "people",
        seed=5,
        predictions=[
            make_boxes_json([[300, 200, 200, 200]], class_name=["person"], confidence=[0.6])[0]
            | {"keypoints": keypoints}
        ],
    )
    new_project(platform, "tags", "multi-label-classification")
    add_image(platform, "tags", seed=6, predictions=None)
    with serve(app) as url:
        yield url, leaf, pet
    platform.close()


def test_polygon_vertex_drag_and_classification_pick(
    browser: object, shapes_site: tuple[str, int, int]
) -> None:
    url, leaf, pet = shapes_site
    page = _signed_in_page(browser, url, viewport={"width": 1280, "height": 800})
    page.goto(f"{url}/app/projects/leaves/images/{leaf}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    page.mouse.click(*_screen(page, 200, 150))  # select the polygon
    _drag(page, _screen(page, 200, 300), _screen(page, 200, 400))  # pull the bottom vertex down
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/app/projects/leaves/batches/batch-1")
    page.goto(f"{url}/app/projects/leaves/images/{leaf}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    saved = page.evaluate("labeler.state.objects[0]")
    assert saved["points"][2] == pytest.approx([200, 400], abs=2)
    assert saved["y2"] == pytest.approx(400, abs=2)

    page.goto(f"{url}/app/projects/pets/images/{pet}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    assert page.evaluate("labeler.state.labels") == ["cat"]
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/app/projects/pets/batches/batch-1")
    page.goto(f"{url}/app/projects/pets/images/{pet}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    assert page.evaluate("labeler.state.labels") == ["dog"]
    page.close()


def test_keypoint_drag_and_multi_label_toggle(
    browser: object, shapes_site: tuple[str, int, int]
) -> None:
    url, _leaf, pet = shapes_site
    page = _signed_in_page(browser, url, viewport={"width": 1280, "height": 800})
    person, tagged = pet + 1, pet + 2
    page.goto(f"{url}/app/projects/people/images/{person}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    page.mouse.click(*_screen(page, 300, 250))  # select the person
    _drag(page, _screen(page, 350, 150), _screen(page, 380, 260))  # move the tail keypoint
    page.keyboard.press("Enter")
    page.wait_for_url(f"{url}/app/projects/people/batches/batch-1")
    page.goto(f"{url}/app/projects/people/images/{person}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    points = page.evaluate("labeler.state.objects[0].keypoints")
    assert [p["name"] for p in points] == ["nose", "tail"]
    assert (points[0]["x"], points[0]["y"]) == pytest.approx((250, 150), abs=0.01)
    assert (points[1]["x"], points[1]["y"]) == pytest.approx((380, 260), abs=2)

    page.goto(f"{url}/app/projects/tags/images/{tagged}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    for name in ("sunny", "street", "night"):
        page.fill("#new-class", name)
        page.press("#new-class", "Enter")
    page.press("#new-class", "Escape")  # leave the field: shortcuts work again
    page.keyboard.press("1")  # toggles "sunny" off again (adding a class picks it)
    assert sorted(page.evaluate("labeler.state.labels")) == ["night", "street"]
    page.click("#save")
    page.wait_for_url(f"{url}/app/projects/tags/batches/batch-1")
    page.goto(f"{url}/app/projects/tags/images/{tagged}")
    page.wait_for_function("window.labeler && window.labeler.ready")
    assert sorted(page.evaluate("labeler.state.labels")) == ["night", "street"]
    page.close()
