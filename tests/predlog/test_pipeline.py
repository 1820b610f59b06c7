"""The serving side records what the collector never decides: dropped and disabled."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.apps import inference_app
from tests.factories import FakeClock
from tests.factories import v1_body as body
from tests.server.asgi_client import ASGIClient
from winnow.images import CapturedImage
from winnow.predictions import Prediction
from winnow.predlog.query import RecordStore, read_records
from winnow.predlog.writer import PredictionLog
from winnow.settings import Settings


class FullCollector:
    """A collector whose hand-off queue is always full."""

    def submit(self, image: CapturedImage, prediction: Prediction, context: Any) -> bool:
        return False


def served_records(settings: Settings, requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    app = inference_app(settings, FullCollector())
    services = app.state.services
    log = PredictionLog(
        settings.data_dir / "predlog",
        node="n1",
        workspace_of=services.registry.workspace_of,
        clock=FakeClock(),
    )
    services.predlog = log
    with ASGIClient(app) as client:
        for request in requests:
            response = client.post("/infer/object_detection", json=request)
            assert response.status_code == 200, response.text
    log.flush()
    log.close_segments()
    store = RecordStore.local(str(log.closed_dir), flat=True)
    rows: list[dict[str, Any]] = read_records(store, workspace=None).to_pylist()
    return rows


def test_a_full_queue_is_recorded_dropped_and_a_disabled_request_disabled(
    settings: Settings,
) -> None:
    rows = served_records(settings, [body("cars/0"), body("cars/0", disable_active_learning=True)])
    assert [(r["outcome"], r["workspace"], r["project"]) for r in rows] == [
        ("dropped", "default", "cars"),
        ("disabled", "default", "cars"),
    ]
    assert all(r["config_version"] is None and r["matched"] == [] for r in rows)


def test_collection_switched_off_is_recorded_disabled(tmp_path: Path) -> None:
    off = Settings(data_dir=tmp_path, active_learning_enabled=False)
    (row,) = served_records(off, [body("cars/0")])
    assert (row["outcome"], row["task"], row["source"]) == ("disabled", "stub", "http")
