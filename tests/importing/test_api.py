"""``POST /v1/projects/{project}/import`` and ``PATCH .../batches/{batch}``, in-process over httpx."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.apps import web_app
from tests.factories import KEY, capped_config
from tests.importing.helpers import create_empty, det, export_to, jpeg, labeled
from tests.server.asgi_client import ASGIClient
from winnow.platform import store
from winnow.platform.export.formats import ExportFormat
from winnow.platform.importing.routes import router as import_router
from winnow.platform.schema import Image
from winnow.platform.service import Platform
from winnow.settings import Settings

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def setup(import_settings: Settings) -> Iterator[tuple[ASGIClient, Platform]]:
    app, platform = web_app(import_settings)
    app.include_router(import_router)
    app.state.platform = platform
    with ASGIClient(app) as client:
        yield client, platform
    platform.close()


def zipped(root: Path) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for path in sorted(root.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(root).as_posix())
    return out.getvalue()


def zip_of(files: dict[str, bytes]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return out.getvalue()


def coco_zip(annotations: list[dict[str, Any]], *, size: tuple[int, int] = (64, 48)) -> bytes:
    doc = {
        "images": [{"id": 1, "file_name": "a.jpg", "width": size[0], "height": size[1]}],
        "categories": [{"id": 1, "name": "car"}],
        "annotations": annotations,
    }
    return zip_of(
        {"train/_annotations.coco.json": json.dumps(doc).encode(), "train/a.jpg": jpeg(64, 48)}
    )


def post(client: ASGIClient, project: str, data: bytes, **fields: str) -> httpx.Response:
    return client.post(
        f"/v1/projects/{project}/import",
        headers=AUTH,
        files={"file": ("dataset.zip", data, "application/zip")},
        data=fields,
    )


def blob_files(platform: Platform) -> list[Path]:
    return [p for p in (platform.settings.data_dir / "blobs").rglob("*") if p.is_file()]


def image_count(platform: Platform) -> int:
    with platform.db.read() as session:
        return len(list(session.scalars(select(Image))))


def test_a_zipped_export_imports_as_labeled_images_with_classes_merged(
    setup: tuple[ASGIClient, Platform], tmp_path: Path
) -> None:
    client, platform = setup
    labeled(
        platform,
        "src",
        "object-detection",
        [((64, 48), [det("car", 1, 2, 30, 40)]), ((32, 32), [det("bus", 0, 0, 9, 9)])],
    )
    folder = export_to(platform, "src", ExportFormat.YOLO, tmp_path / "yolo", (1, 0, 0))
    create_empty(platform, "dst", "object-detection")
    response = post(client, "dst", zipped(folder), format="yolo", batch="from-yolo")
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["images"] == 2 and body["duplicates"] == 0
    assert body["new_classes"] == ["bus", "car"]
    batches = (client.get("/v1/projects/dst/batches", headers=AUTH)).json()["batches"]
    assert [(b["name"], b["images"], b["annotated"], b["held_out"]) for b in batches] == [
        ("from-yolo", 2, 2, False)
    ]
    images = (client.get("/v1/projects/dst/images", headers=AUTH)).json()["images"]
    details = (client.get(f"/v1/images/{images[0]['id']}", headers=AUTH)).json()
    assert [a["kind"] for a in details["annotations"]] == ["human"]
    # the same dataset again: nothing new, nothing lost
    again = post(client, "dst", zipped(folder), format="yolo", batch="from-yolo")
    assert again.status_code == 201
    assert again.json()["images"] == 0 and again.json()["duplicates"] == 2
    assert len(blob_files(platform)) == 4  # two per project, no copies left behind


@pytest.mark.parametrize(
    ("annotations", "message"),
    [
        (
            [{"id": 7, "image_id": 1, "category_id": 9, "bbox": [1, 1, 5, 5]}],
            "train/_annotations.coco.json: annotation id 7: category_id 9 is not in 'categories'",
        ),
        (
            [{"id": 3, "image_id": 1, "category_id": 1, "bbox": [1, 1, "x", 5]}],
            "train/_annotations.coco.json: annotation id 3.bbox: must be a number, got 'x'",
        ),
        (
            [{"id": 4, "image_id": 2, "category_id": 1, "bbox": [1, 1, 5, 5]}],
            "annotations name image_id 2, not in 'images'",
        ),
    ],
)
def test_bad_coco_entries_are_400s_naming_file_and_entry_and_store_nothing(
    setup: tuple[ASGIClient, Platform], annotations: list[dict[str, Any]], message: str
) -> None:
    client, platform = setup
    create_empty(platform, "p", "object-detection")
    response = post(client, "p", coco_zip(annotations), format="coco")
    assert response.status_code == 400
    assert message in response.json()["message"]
    assert image_count(platform) == 0
    assert blob_files(platform) == []


def test_declared_size_other_than_the_file_is_refused(
    setup: tuple[ASGIClient, Platform],
) -> None:
    client, platform = setup
    create_empty(platform, "p", "object-detection")
    response = post(client, "p", coco_zip([], size=(640, 480)), format="coco")
    assert response.status_code == 400
    assert (
        "image 'a.jpg': declared 640x480 but the image file is 64x48" in response.json()["message"]
    )


def test_a_corrupt_image_is_named(setup: tuple[ASGIClient, Platform]) -> None:
    client, platform = setup
    create_empty(platform, "p", "classification")
    data = zip_of({"cat/a.jpg": jpeg(20, 20), "dog/b.jpg": b"\xff\xd8\xffnot a jpeg"})
    response = post(client, "p", data, format="folders")
    assert response.status_code == 400
    assert response.json()["message"].startswith("dog/b.jpg: ")
    assert image_count(platform) == 0


def test_a_failed_transaction_deletes_the_blobs_it_wrote(
    setup: tuple[ASGIClient, Platform],
) -> None:
    client, platform = setup
    create_empty(platform, "p", "classification")
    with platform.db.write() as session:
        target = store.get_project(session=session, workspace=platform.workspace(KEY), name="p")
        store.save_al_config(
            session=session,
            project=target,
            config=capped_config(1),
            created_by="t",
        )
    data = zip_of({"cat/a.jpg": jpeg(20, 20, 1), "dog/b.jpg": jpeg(20, 20, 2)})
    response = post(client, "p", data, format="folders")
    assert response.status_code == 409
    assert "max_batch_images 1" in response.json()["message"]
    assert image_count(platform) == 0
    assert blob_files(platform) == []


@pytest.mark.parametrize(
    "name", ["../evil.jpg", "/abs/evil.jpg", "a/../../evil.jpg", "c:evil.jpg", "a\\..\\evil.jpg"]
)
def test_zip_paths_leaving_the_archive_are_refused(
    setup: tuple[ASGIClient, Platform], name: str
) -> None:
    client, platform = setup
    create_empty(platform, "p", "classification")
    response = post(client, "p", zip_of({"cat/a.jpg": jpeg(8, 8), name: b"x"}), format="folders")
    assert response.status_code == 400
    assert "has a path outside the archive" in response.json()["message"]


def test_zip_bombs_and_oversized_uploads_are_413(
    setup: tuple[ASGIClient, Platform],
) -> None:
    client, platform = setup
    create_empty(platform, "p", "classification")
    bomb = zip_of({"cat/a.jpg": jpeg(8, 8), "cat/zeros.bin": bytes(3_000_000)})
    assert len(bomb) < 100_000  # small on the wire, 3 MB inflated; the cap is 2 MB
    response = post(client, "p", bomb, format="folders")
    assert response.status_code == 413
    assert "uncompressed" in response.json()["message"]
    too_big = post(client, "p", bytes(2_100_000), format="folders")
    assert too_big.status_code == 413
    assert image_count(platform) == 0


@pytest.mark.parametrize(
    ("fields", "status", "message"),
    [
        ({"format": "csv"}, 400, "format: must be one of coco, yolo, voc, folders"),
        ({}, 400, "format: required"),
        ({"format": "coco", "split": "holdout"}, 400, "split: must be train, valid or test"),
        ({"format": "coco", "held_out": "maybe"}, 400, "held_out: must be true or false"),
        (
            {"format": "folders"},
            400,
            "format: an object-detection project imports coco, yolo or voc, not folders",
        ),
    ],
)
def test_bad_form_fields_are_400s_naming_them(
    setup: tuple[ASGIClient, Platform], fields: dict[str, str], status: int, message: str
) -> None:
    client, platform = setup
    create_empty(platform, "p", "object-detection")
    response = post(client, "p", coco_zip([]), **fields)
    assert response.status_code == status
    assert message in response.json()["message"]


def test_not_a_zip_and_unknown_project_and_no_key(
    setup: tuple[ASGIClient, Platform],
) -> None:
    client, platform = setup
    create_empty(platform, "p", "object-detection")
    bad = post(client, "p", b"PK not really", format="coco")
    assert bad.status_code == 400 and bad.json()["message"].startswith("zip: not a readable zip")
    missing = post(client, "nope", coco_zip([]), format="coco")
    assert missing.status_code == 404
    anonymous = client.post(
        "/v1/projects/p/import", files={"file": ("d.zip", coco_zip([]))}, data={"format": "coco"}
    )
    assert anonymous.status_code == 401


def test_held_out_on_import_and_by_patch(setup: tuple[ASGIClient, Platform]) -> None:
    client, platform = setup
    create_empty(platform, "p", "object-detection")
    response = post(
        client, "p", coco_zip([]), format="coco", batch="eval", held_out="true", split="train"
    )
    assert response.status_code == 201, response.text
    assert response.json()["held_out"] is True
    url = "/v1/projects/p/batches/eval"
    off = client.request("PATCH", url, headers=AUTH, json={"held_out": False})
    assert off.status_code == 200 and off.json()["held_out"] is False
    on = client.request("PATCH", url, headers=AUTH, json={"held_out": True})
    assert on.json()["held_out"] is True and on.json()["images"] == 1
    listed = (client.get("/v1/projects/p/batches", headers=AUTH)).json()["batches"]
    assert listed[0]["held_out"] is True
    bad = client.request("PATCH", url, headers=AUTH, json={"held_out": "yes"})
    assert bad.status_code == 400 and "held_out" in bad.json()["message"]
    extra = client.request("PATCH", url, headers=AUTH, json={"held_out": True, "name": "x"})
    assert extra.status_code == 400 and "'name'" in extra.json()["message"]
    slashed = post(client, "p", coco_zip([], size=(64, 48)), format="coco", batch="a/b c")
    assert slashed.status_code == 201, slashed.text
    marked = client.request(
        "PATCH", "/v1/projects/p/batches/a%2Fb%20c", headers=AUTH, json={"held_out": True}
    )
    assert marked.status_code == 200, marked.text
    assert marked.json()["name"] == "a/b c" and marked.json()["held_out"] is True
    unknown = client.request(
        "PATCH", "/v1/projects/p/batches/nope", headers=AUTH, json={"held_out": True}
    )
    assert unknown.status_code == 404


def test_an_image_no_annotation_file_names_does_not_fail_the_import(
    setup: tuple[ASGIClient, Platform],
) -> None:
    client, platform = setup
    create_empty(platform, "p", "object-detection")
    with zipfile.ZipFile(io.BytesIO(coco_zip([]))) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["extras/broken.jpg"] = b"\xff\xd8\xff broken"
    response = post(client, "p", zip_of(files), format="coco")
    assert response.status_code == 201, response.text
    assert response.json()["images"] == 1


def test_an_upload_without_content_length_is_refused_before_it_is_read(
    setup: tuple[ASGIClient, Platform],
) -> None:
    client, platform = setup
    create_empty(platform, "p", "object-detection")

    async def chunks() -> AsyncIterator[bytes]:
        yield b"--x\r\n"

    response = client.post(
        "/v1/projects/p/import",
        headers={**AUTH, "Content-Type": "multipart/form-data; boundary=x"},
        content=chunks(),
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("Content-Length: required")


def _patched(data: bytes, member: str, change: str) -> bytes:
    """The zip ``data`` with ``member`` marked encrypted, or its compressed bytes garbled."""
    raw = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
    start = info.header_offset
    if change == "encrypted":
        raw[start + 6] |= 1  # general purpose flag bit 0, local header...
        at = raw.find(b"PK\x01\x02")
        while at >= 0:  # ...and in the member's central directory entry
            name_len = int.from_bytes(raw[at + 28 : at + 30], "little")
            if raw[at + 46 : at + 46 + name_len] == member.encode():
                raw[at + 8] |= 1
            at = raw.find(b"PK\x01\x02", at + 4)
    else:
        name_len = int.from_bytes(raw[start + 26 : start + 28], "little")
        extra_len = int.from_bytes(raw[start + 28 : start + 30], "little")
        body = start + 30 + name_len + extra_len
        raw[body : body + 8] = b"\xff" * 8
    return bytes(raw)


@pytest.mark.parametrize("change", ["encrypted", "garbled"])
def test_unreadable_zip_entries_are_400s_naming_them(
    setup: tuple[ASGIClient, Platform], change: str
) -> None:
    client, platform = setup
    create_empty(platform, "p", "object-detection")
    data = _patched(coco_zip([]), "train/_annotations.coco.json", change)
    response = post(client, "p", data, format="coco")
    assert response.status_code == 400, response.text
    assert response.json()["message"].startswith("train/_annotations.coco.json: ")
    assert image_count(platform) == 0
