"""Pages render for a signed-in workspace, and only for it."""

from __future__ import annotations

import re

from tests.factories import (
    KEY,
    OTHER_KEY,
    add_image,
    make_boxes_json,
    new_project,
    workspace_with_key,
)
from tests.server.asgi_client import ASGIClient
from winnow.platform.service import Platform
from winnow.settings import Settings


def test_pages_redirect_to_sign_in_and_back(web: tuple[ASGIClient, Platform]) -> None:
    client, _platform = web
    response = client.get("/app/projects/p", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/app/login?next=/app/projects/p"
    response = client.post(
        "/app/login", data={"api_key": KEY, "next": "/app/projects/p"}, follow_redirects=False
    )
    assert response.headers["location"] == "/app/projects/p"
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    assert KEY not in cookie


def test_sign_in_refuses_a_bad_key_and_never_redirects_off_site(
    web: tuple[ASGIClient, Platform],
) -> None:
    client, _platform = web
    response = client.post("/app/login", data={"api_key": "nope-nope-nope"})
    assert response.status_code == 401
    assert "unknown or revoked API key" in response.text
    response = client.post(
        "/app/login", data={"api_key": KEY, "next": "//evil.example/x"}, follow_redirects=False
    )
    assert response.headers["location"] == "/app/"


def test_forged_cookie_is_not_a_session(web: tuple[ASGIClient, Platform]) -> None:
    client, _platform = web
    response = client.get("/app/", headers={"Cookie": "winnow_session=1.9999999999.forged"})
    assert response.status_code == 303


def test_projects_list_and_create(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    add_image(
        platform,
        "cars",
        predictions=make_boxes_json([[100, 100, 50, 40]], class_name=["car"], confidence=[0.6]),
    )
    page = client.get("/app/")
    assert page.status_code == 200
    assert re.search(
        r">cars</a></td><td>object-detection</td>\s*<td class=\"num\">1</td><td class=\"num\">1</td>",
        page.text,
    )
    response = client.post(
        "/app/projects",
        data={"name": "leaves", "type": "instance-segmentation"},
        follow_redirects=False,
    )
    assert response.headers["location"] == "/app/projects/leaves"
    assert "instance-segmentation" in client.get("/app/projects/leaves").text
    bad = client.post("/app/projects", data={"name": "bad name", "type": "object-detection"})
    assert bad.status_code == 400
    assert "project name" in bad.text


def test_cross_site_form_post_is_refused(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, _platform = signed_in
    response = client.post(
        "/app/projects",
        data={"name": "x", "type": "object-detection"},
        headers={"Origin": "https://evil.example"},
    )
    assert response.status_code == 403


def test_overview_shows_batches_chart_and_strategies(
    signed_in: tuple[ASGIClient, Platform],
) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    for i in range(3):
        add_image(platform, "cars", seed=i, predictions=[], strategy="few-cars")
    add_image(platform, "cars", seed=9, batch="batch-2", predictions=[], strategy="random-10")
    page = client.get("/app/projects/cars")
    assert page.status_code == 200
    text = page.text
    assert "batch-1" in text and "batch-2" in text
    assert "<svg" in text and "few-cars: 3</title>" in text
    assert re.search(r"few-cars.*?<td class=\"num\">—</td>.*?<td class=\"num\">3</td>", text, re.S)
    assert "this process runs no inference role" in text
    # no prediction logged: the drift charts say so; a bad window is a 400 naming the parameter
    assert "0 predictions logged" in text and 'data-chart="predictions-by-source"' in text
    assert "no predictions logged in this period" in text
    bad = client.get("/app/projects/cars?drift=1y")
    assert bad.status_code == 400 and "drift:" in bad.text


def test_other_workspace_sees_nothing(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    image_id = add_image(platform, "cars", predictions=[])
    other = workspace_with_key(platform, "other", key=OTHER_KEY)[1]
    client.post("/app/logout")
    client.post("/app/login", data={"api_key": other})
    assert "cars" not in client.get("/app/").text
    assert client.get("/app/projects/cars").status_code == 404
    assert client.get(f"/app/images/{image_id}/file").status_code == 404
    assert (
        client.post(f"/app/images/{image_id}/status", json={"status": "rejected"}).status_code
        == 404
    )


def test_batch_grid_filters_pages_and_draws_boxes(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, platform = signed_in
    new_project(platform, "cars")
    ids = [
        add_image(
            platform,
            "cars",
            seed=i,
            predictions=make_boxes_json([[100, 100, 50, 40]], class_name=["car"], confidence=[0.6]),
            tags=("cam1",) if i % 2 else (),
        )
        for i in range(50)
    ]
    page = client.get("/app/projects/cars/batches/batch-1")
    assert page.status_code == 200
    assert page.text.count('class="thumb"') == 48
    assert 'loading="lazy"' in page.text
    assert '<rect x="75.0" y="80.0" width="50.0" height="40.0"' in page.text
    nxt = re.search(r'id="next-page" href="\?&cursor=(\d+)&page=2"', page.text)
    assert nxt is not None
    second = client.get(f"/app/projects/cars/batches/batch-1?cursor={nxt.group(1)}&page=2")
    assert second.text.count('class="thumb"') == 2
    tagged = client.get("/app/projects/cars/batches/batch-1?tag=cam1")
    assert tagged.text.count('class="thumb"') == 25
    assert client.get("/app/projects/cars/batches/batch-1?status=done").status_code == 400
    thumb = client.get(f"/app/images/{ids[0]}/thumb")
    assert thumb.status_code == 200 and thumb.content[:2] == b"\xff\xd8"
    assert thumb.headers["cache-control"].startswith("private")


def test_static_files_are_local_and_cached(signed_in: tuple[ASGIClient, Platform]) -> None:
    client, _platform = signed_in
    page = client.get("/app/")
    css = re.search(r'href="(/app/static/app.css\?v=\w+)"', page.text)
    assert css is not None
    response = client.get(css.group(1))
    assert response.status_code == 200
    assert "immutable" in response.headers["cache-control"]
    assert "http" not in re.sub(
        r"http://www.w3.org/2000/svg", "", client.get("/app/static/label.js").text
    )


def test_overview_shows_this_process_inference_counts(settings: Settings) -> None:
    from types import SimpleNamespace

    from tests.apps import web_app
    from winnow.metrics import Metrics

    app, platform = web_app(settings)
    metrics = Metrics()
    app.state.services = SimpleNamespace(metrics=metrics)
    new_project(platform, "cars")
    add_image(platform, "cars", predictions=[], strategy="few-cars")
    for outcome, n in (("sampled", 7), ("limited", 4), ("batch_full", 2), ("refused", 1)):
        for _ in range(n):
            metrics.datapoint("cars", "few-cars", outcome)
    metrics.datapoint("boats", "few-cars", "sampled")  # another project: not counted
    with ASGIClient(app, base_url="https://127.0.0.1") as client:
        client.post("/app/login", data={"api_key": KEY})
        text = client.get("/app/projects/cars").text
    platform.close()
    row = re.search(r"<td>few-cars.*?</tr>", text, re.S)
    assert row is not None
    # sampled, limited, batch full, refused, then the stored delivered, labeled, rejected
    cells = re.findall(r'<td class="num">(\d+)</td>', row.group(0))
    assert cells == ["7", "4", "2", "1", "1", "0", "0"]
    assert '<th class="num">Limited</th><th class="num">Batch full</th>' in text
    assert "the figures shown come from this process's inference role" in text


def test_revoking_the_key_ends_its_sessions(signed_in: tuple[ASGIClient, Platform]) -> None:
    from winnow.platform import store

    client, platform = signed_in
    assert client.get("/app/").status_code == 200
    with platform.db.write() as session:
        workspace = store.resolve_key(session=session, api_key=KEY)
        for record in store.list_api_keys(session=session, workspace=workspace):
            store.revoke_api_key(session=session, workspace=workspace, key_id=record.id)
    assert client.get("/app/").status_code == 303


def test_sessions_expire(web: tuple[ASGIClient, Platform]) -> None:
    import time

    from winnow.platform.sessions import MAX_AGE, Sessions, load_secret

    _client, platform = web
    sessions = Sessions(platform.db, load_secret(platform.settings.data_dir))
    value, workspace = sessions.sign_in(KEY)
    assert sessions.workspace(value) is not None
    assert sessions.workspace(value, now=time.time() + MAX_AGE + 5) is None
    key_id, issued, mac = value.split(".")
    assert sessions.workspace(f"{key_id}.{int(issued) + 1}.{mac}") is None  # tampered time
    # digits int() refuses, though str.isdigit() accepts them (once a 500 on every page)
    assert sessions.workspace(f"{key_id}.{'9' * 5000}.{mac}") is None
    assert sessions.workspace(f"{key_id}.\u00b2.{mac}") is None
    assert sessions.workspace(f"\u00b2.{issued}.{mac}") is None
    other = Sessions(platform.db, b"another secret")
    assert other.workspace(value) is None
    assert workspace.name == "default"


def test_batch_names_with_slashes_and_url_characters_get_working_pages(
    signed_in: tuple[ASGIClient, Platform],
) -> None:
    # Batch names are free text from clients; "a/b" once made every project page a 500.
    client, platform = signed_in
    new_project(platform, "cars")
    names = ["a/b", "x/review", "a?b#c", "50%", "é ü"]
    ids = {name: add_image(platform, "cars", batch=name, seed=i) for i, name in enumerate(names)}
    assert client.get("/app/projects/cars").status_code == 200
    for name, image_id in ids.items():
        label = client.get(f"/app/projects/cars/images/{image_id}")
        assert label.status_code == 200, (name, label.text[:200])
        href = re.search(r'href="([^"]*/batches/[^"?]*)', label.text)
        assert href is not None, name
        page = client.get(href.group(1))
        assert page.status_code == 200, (name, page.text[:200])
        assert name in page.text, name
        review = client.post(
            href.group(1) + "/review",
            data={"action": "accept"},
            headers={"Origin": "https://127.0.0.1"},
            follow_redirects=False,
        )
        assert review.status_code == 303, (name, review.text[:200])
        assert review.headers["location"].endswith(href.group(1).split("/app", 1)[1]), name
