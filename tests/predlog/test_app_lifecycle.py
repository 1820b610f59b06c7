"""The log in a whole app: stop ships what was served, a restart ships what a crash left,
and a process that has logged nothing yet has not loaded pyarrow."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.apps import ship_predictions
from tests.factories import AUTH, KEY, FakeClock, prediction_entry
from tests.factories import v1_body as body
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.predlog.query import read_records
from winnow.predlog.writer import PredictionLog
from winnow.settings import Settings


def stored(client: ASGIClient) -> list[str]:
    table = read_records(client.app.state.platform.predictions.records, workspace="default")
    return [str(i) for i in table.column("inference_id").to_pylist()]


def test_stop_ships_and_a_restart_recovers_what_a_crash_left_open(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, api_key=KEY, blob_sweep_interval_seconds=0)
    with ASGIClient(create_app(settings)) as client:
        client.post("/v1/projects", json={"name": "cars", "type": "object-detection"}, headers=AUTH)
        assert client.post("/infer/object_detection", json=body("cars/0")).status_code == 200
    # A process killed mid-segment: its stream file is left open, its lock released.
    dead = PredictionLog(settings.predlog_dir, node="dead", workspace_of=str, clock=FakeClock())
    dead.append(prediction_entry("crashed-1"))
    dead.append(prediction_entry("crashed-2"))
    dead.flush()
    for segment in dead._open.values():
        segment.handle.close()
        os.close(segment.fd)
    with ASGIClient(create_app(settings)) as client:
        ship_predictions(client.app)  # what start() recovered, shipped
        ids = stored(client)
    assert len(ids) == 3 and ids[1:] == ["crashed-1", "crashed-2"]
    assert list((settings.predlog_dir / "open").iterdir()) == []
    assert list((settings.predlog_dir / "closed").iterdir()) == []


PROGRAM = """
import json, sys, tempfile
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app
from winnow.settings import Settings
with tempfile.TemporaryDirectory() as folder:
    with ASGIClient(create_app(Settings(data_dir=folder))) as client:
        client.get("/healthz")
        print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("pyarrow", "duckdb"))))
"""


def test_an_idle_process_loads_neither_pyarrow_nor_duckdb() -> None:
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=120, check=True
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
