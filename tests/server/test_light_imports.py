"""An inference node's routes and app load no database code: no SQLAlchemy, Alembic or platform."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("sqlalchemy", "alembic", "winnow.platform")

PROGRAM = """
import json, sys
import winnow.server.info_routes, winnow.server.legacy_routes
import winnow.server.model_routes, winnow.server.v1_routes
from winnow.app import create_app
from winnow.settings import Role, Settings
create_app(Settings.model_construct(role=Role.INFERENCE, platform_url="http://p")).openapi()
print(json.dumps(sorted(sys.modules)))
"""


def loaded_modules() -> list[str]:
    # A fresh interpreter: this test process has long imported everything.
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM], capture_output=True, text=True, timeout=60, check=True
    )
    modules: list[str] = json.loads(done.stdout)
    return modules


def test_inference_routes_and_app_load_no_platform_code() -> None:
    modules = loaded_modules()
    assert "winnow.server.v1_routes" in modules
    heavy = [m for m in modules if any(m == h or m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
