"""max_batch_images holds exactly while threads race uploads into one batch."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.platform.conftest import API_KEY, make_jpeg
from tests.platform.helpers import capped_config
from tests.server.asgi_client import ASGIClient
from winnow.platform.service import Platform

CAP = 5
RACERS = 16


def test_racing_uploads_store_exactly_the_cap(client: ASGIClient, platform: Platform) -> None:
    auth = {"Authorization": f"Bearer {API_KEY}"}
    client.post("/v1/projects", headers=auth, json={"name": "cars", "type": "object-detection"})
    client.request("PUT", "/v1/projects/cars/al-config", headers=auth, json=capped_config(CAP))
    images = [make_jpeg(seed=100 + i) for i in range(RACERS)]

    def upload(i: int) -> int:
        response = client.post(
            f"/dataset/cars/upload?api_key={API_KEY}&batch=racing&tag=r{i}",
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
    from tests.platform.helpers import datapoint, new_project

    workspace = platform.workspace(API_KEY)
    new_project(platform, workspace, "cars")
    image = make_jpeg(seed=7)

    def register(_i: int) -> str:
        result = platform.register(
            workspace=workspace,
            project="cars",
            data=image,
            datapoint=datapoint(idempotency_key="same"),
        )
        return str(result.image.id)

    with ThreadPoolExecutor(max_workers=6) as pool:
        ids = set(pool.map(register, range(12)))
    assert len(ids) == 1
    assert len(list((platform.settings.data_dir / "blobs").rglob("*.jpg"))) == 1
