"""What every hand-written fuzz test shares: bounded settings and the 5xx/message check."""

from __future__ import annotations

import os
from urllib.parse import quote

import httpx
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

from tests.fuzz.world import KEY

# Examples per test; WINNOW_FUZZ_EXAMPLES raises it for a deeper local run.
EXAMPLES = int(os.environ.get("WINNOW_FUZZ_EXAMPLES", "40"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    # CI runs the same cases each time; WINNOW_FUZZ_RANDOM=1 explores new ones.
    derandomize=not os.environ.get("WINNOW_FUZZ_RANDOM"),
    database=None,
    phases=[Phase.explicit, Phase.generate, Phase.shrink],
    suppress_health_check=list(HealthCheck),
)
BASE = "https://127.0.0.1"


def check(response: httpx.Response, what: str) -> None:
    """Below 500; a JSON 4xx names the problem in ``message``."""
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    is_json = response.headers.get("content-type", "").startswith("application/json")
    if 400 <= response.status_code < 500 and is_json:
        message = response.json().get("message")
        assert isinstance(message, str) and message.strip(), (what, response.text[:300])


def quoted(segment: str) -> str:
    """A path segment with everything but unreserved characters percent-encoded."""
    return quote(segment, safe="") or "%20"


def auth(data: st.DataObject) -> dict[str, str]:
    """The key as a Bearer header, or a wrong key, or nothing."""
    how = data.draw(st.sampled_from(["bearer", "none", "wrong"]), label="auth")
    return {"bearer": {"Authorization": f"Bearer {KEY}"}, "wrong": {"Authorization": "x"}}.get(
        how, {}
    )
