"""POST /v1/projects/{project}/backtest over records in the platform's prediction log."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from tests.factories import AUTH, KEY, log_records, make_records, new_project
from tests.server.asgi_client import ASGIClient
from winnow.activelearning.config import validate_config
from winnow.backtest.routes import router
from winnow.errors import InvalidConfigError
from winnow.http.errors import install_error_handlers
from winnow.platform.service import Platform
from winnow.settings import Settings

START = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CONFIG: dict[str, Any] = {
    "enabled": True,
    "persist_predictions": True,
    "sampling_strategies": [
        {
            "name": "crowded",
            "type": "detections_number_based",
            "more_than": 4,
            "probability": 1.0,
            "limits": [{"type": "hourly", "value": 10}],
        }
    ],
    "batching_strategy": {"batches_name_prefix": "al", "recreation_interval": "daily"},
}


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    opened = Platform.open(Settings(data_dir=tmp_path / "data", api_key=KEY))
    new_project(opened, "cars")
    log_records(opened, make_records(500, seed=1, start=START, seconds=3 * 3600, project="cars"))
    # another project's records are never replayed
    log_records(opened, make_records(300, seed=2, start=START, seconds=3600, project="other"))
    yield opened
    opened.close()


@pytest.fixture
def api(platform: Platform) -> Iterator[ASGIClient]:
    app = FastAPI()
    install_error_handlers(app)
    app.state.platform = platform
    app.include_router(router)
    with ASGIClient(app) as client:
        yield client


def body(**extra: Any) -> dict[str, Any]:
    return {
        "config": CONFIG,
        "since": "2026-12-01T08:00:00Z",
        "until": "2026-12-01T11:00:00Z",
        **extra,
    }


def test_backtest_replays_the_window_under_the_limits(api: ASGIClient) -> None:
    response = api.post("/v1/projects/cars/backtest", headers=AUTH, json=body())
    assert response.status_code == 200, response.text
    data = response.json()
    assert data["predictions"] == 500
    assert data["collected"] == 30  # 10 an hour, 3 hours
    assert data["strategies"]["crowded"]["collected"] == 30
    assert data["strategies"]["crowded"]["limited"] > 0
    assert list(data["per_hour"].values()) == [10, 10, 10]
    assert sum(data["per_source"].values()) == 30
    assert data["actual"]["collected"] == 0
    assert data["actual"]["outcomes"] == {"disabled": 500}


def test_a_narrower_window_replays_fewer_records(api: ASGIClient) -> None:
    data = api.post(
        "/v1/projects/cars/backtest",
        headers=AUTH,
        json=body(since="2026-12-01T09:00:00+00:00", until="2026-12-01T10:00:00"),
    ).json()
    assert 0 < data["predictions"] < 500
    assert data["collected"] == 10
    assert data["since"] == "2026-12-01T09:00:00Z"


def test_the_same_seed_gives_the_same_answer(api: ASGIClient) -> None:
    config = {
        **CONFIG,
        "sampling_strategies": [{"name": "r", "type": "random", "traffic_percentage": 0.3}],
    }
    runs = [
        api.post(
            "/v1/projects/cars/backtest", headers=AUTH, json=body(config=config, seed=seed)
        ).json()["collected"]
        for seed in (3, 3, 4)
    ]
    assert runs[0] == runs[1] != runs[2]


def test_an_invalid_config_gets_the_field_errors_of_a_save(api: ASGIClient) -> None:
    bad = {**CONFIG, "sampling_strategies": [{"name": "x", "type": "random"}]}
    response = api.post("/v1/projects/cars/backtest", headers=AUTH, json=body(config=bad))
    assert response.status_code == 400
    with pytest.raises(InvalidConfigError) as save:
        validate_config(bad)  # what a save (PUT al-config, the web editor) runs
    assert response.json()["errors"] == save.value.errors
    assert save.value.errors == ["sampling_strategies[0].traffic_percentage: is required"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"since": "yesterday"}, "since: must be an ISO 8601 time"),
        ({"until": 5}, "until: must be an ISO 8601 time"),
        ({"since": "2026-12-01T12:00:00Z"}, "since: must be before until"),
        ({"since": "2026-10-01T00:00:00Z"}, "since: the window is at most 31 days"),
        ({"seed": -1}, "seed: must be an integer"),
        ({"seed": "0"}, "seed: must be an integer"),
        ({"since": "999999d"}, "since: 999999d reaches before year 1"),
        ({"config": 5}, "invalid active learning configuration"),
        ({"config": []}, "invalid active learning configuration"),
    ],
)
def test_bad_fields_are_400s_naming_them(
    api: ASGIClient, change: dict[str, Any], message: str
) -> None:
    response = api.post("/v1/projects/cars/backtest", headers=AUTH, json=body(**change))
    assert response.status_code == 400
    assert message in response.json()["message"]


def test_a_body_without_config_and_an_unknown_project(api: ASGIClient) -> None:
    response = api.post("/v1/projects/cars/backtest", headers=AUTH, json={"since": "1h"})
    assert response.status_code == 400
    assert "config" in response.json()["message"]
    missing = api.post("/v1/projects/nope/backtest", headers=AUTH, json=body())
    assert missing.status_code == 404
    assert api.post("/v1/projects/cars/backtest", json=body()).status_code == 401


def test_relative_times_count_back_from_now(api: ASGIClient, platform: Platform) -> None:
    now = datetime.now(UTC)
    recent = make_records(
        40, seed=5, start=now - timedelta(minutes=50), seconds=600, project="cars"
    )
    log_records(platform, recent)
    data = api.post(
        "/v1/projects/cars/backtest", headers=AUTH, json={"config": CONFIG, "since": "1h"}
    ).json()
    assert data["predictions"] == 40
