"""max_batch_images holds exactly while threads race uploads into one batch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.factories import (
    KEY,
    capped_config,
    make_datapoint_input,
    make_jpeg,
    new_project,
    set_config,
)
from tests.server.asgi_client import ASGIClient
from winnow.errors import BatchFullError
from winnow.platform.service import Platform
from winnow.settings import Settings

CAP = 5
RACERS = 16


def test_racing_uploads_store_exactly_the_cap(client: ASGIClient, platform: Platform) -> None:
    auth = {"Authorization": f"Bearer {KEY}"}
    client.post("/v1/projects", headers=auth, json={"name": "cars", "type": "object-detection"})
    client.request("PUT", "/v1/projects/cars/al-config", headers=auth, json=capped_config(CAP))
    images = [make_jpeg(seed=100 + i) for i in range(RACERS)]

    def upload(i: int) -> int:
        response = client.post(
            f"/dataset/cars/upload?api_key={KEY}&batch=racing&tag=r{i}",
            data={"name": f"{i}.jpg"},
            files={"file": ("imageToUpload", images[i], "image/jpeg")},
        )
        if response.status_code == 409:
            assert "full" in response.json()["message"]
        return response.status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(upload, range(RACERS)))
    assert statuses.count(200) == CAP
    assert statuses.count(409) == RACERS - CAP
    batches = client.get("/v1/projects/cars/batches", headers=auth).json()["batches"]
    assert batches[0]["images"] == CAP
    assert (
        len(client.get("/v1/projects/cars/images?batch=racing", headers=auth).json()["images"])
        == CAP
    )
    blobs = list((platform.settings.data_dir / "blobs").rglob("*.jpg"))
    assert len(blobs) == CAP  # refused uploads deleted their blobs


def test_racing_same_idempotency_key_stores_once(platform: Platform) -> None:
    workspace = platform.workspace(KEY)
    new_project(platform, "cars", workspace=workspace)
    image = make_jpeg(seed=7)

    def register(_i: int) -> str:
        result = platform.register(
            workspace=workspace,
            project="cars",
            data=image,
            datapoint=make_datapoint_input(idempotency_key="same"),
        )
        return str(result.image.id)

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(register, range(12)))
    assert len(ids) == 1
    assert len(list((platform.settings.data_dir / "blobs").rglob("*.jpg"))) == 1


def test_two_platforms_on_one_sqlite_file_respect_the_cap(tmp_path: Path) -> None:
    """Separate engines (as separate processes would have) serialize through BEGIN IMMEDIATE."""
    settings = Settings(data_dir=tmp_path / "d", api_key=KEY)
    first = Platform.open(settings)
    second = Platform.open(settings)
    try:
        workspace = first.workspace(KEY)
        new_project(first, "cars", workspace=workspace)
        set_config(first, workspace, "cars", capped_config(CAP))
        images = [make_jpeg(seed=200 + i) for i in range(RACERS)]

        def register(i: int) -> bool:
            target = first if i % 2 else second
            try:
                target.register(
                    workspace=workspace,
                    project="cars",
                    data=images[i],
                    datapoint=make_datapoint_input("shared"),
                )
            except BatchFullError:
                return False
            return True

        with ThreadPoolExecutor(max_workers=8) as pool:
            stored = sum(pool.map(register, range(RACERS)))
        assert stored == CAP
        details = second.image_details(workspace, "1")
        assert details["batch"] == "shared"
    finally:
        first.close()
        second.close()
