"""Run hostile images through the real app in a fresh process and measure each request.

``python -m tests.fuzz.image_budget bomb`` sends issue 10's PNG (IDAT length
0xFFFFFFFF) to every image route and asks the web UI for a thumbnail of a
stored blob replaced by it; ``python -m tests.fuzz.image_budget mutations``
runs the structured mutation fuzz (hypothesis, seeded like the other fuzz
tests) over the same routes. Each request is timed (under 1 s for the bomb,
2 s for a mutated file) and the growth of the process's peak RSS (under
100 MB; ``ru_maxrss`` sees OpenCV's and libpng's allocations, unlike
tracemalloc) is taken around it, after a warm-up that decoded the seed files
on every route. Prints one JSON line per request; exits non-zero when a
request breaks its budget or is a 5xx."""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz import image_mutations, nasty_images
from tests.fuzz.harness import BASE, FUZZ
from tests.fuzz.image_routes import ROUTES
from tests.fuzz.world import KEY, fuzz_settings, seed
from tests.server.asgi_client import ASGIClient
from winnow.app import create_app

BOMB_SECONDS = 1.0  # per request, issue 10's bound for the PNG bomb
# Mutated files decode in well under 0.1 s; the slack is for a loaded, shared CI machine
# (one request in 3000 took 0.8 s there with nothing to decode), the 18 s of a bomb is far off.
MUTATION_SECONDS = 2.0
EXTRA_MB = 100.0  # peak RSS growth per request


def peak_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports KB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure(what: str, call: Callable[[], Any]) -> dict[str, Any]:
    """Run one request; its status, message, seconds and peak-RSS growth, printed as JSON."""
    before = peak_mb()
    start = time.perf_counter()
    response = call()
    seconds = time.perf_counter() - start
    is_json = response.headers.get("content-type", "").startswith("application/json")
    row = {
        "what": what,
        "status": response.status_code,
        "message": response.json().get("message") if is_json else None,
        "seconds": round(seconds, 4),
        "extra_mb": round(peak_mb() - before, 1),
    }
    print(json.dumps(row), flush=True)
    return row


def within_budget(row: dict[str, Any], seconds: float) -> bool:
    """A 2xx or a 4xx naming the problem, in time and memory."""
    status, message = int(row["status"]), row["message"]
    named = message is None or (isinstance(message, str) and bool(message.strip()))
    status_ok = 200 <= status < 300 or (400 <= status < 500 and named)
    return status_ok and float(row["seconds"]) < seconds and float(row["extra_mb"]) < EXTRA_MB


def warm_up(client: ASGIClient, names: list[str]) -> None:
    """Every route decodes each named seed once, so later growth is the request's own."""
    for name in names:
        data = image_mutations.SEEDS[name]()
        for route, send in ROUTES.items():
            response = send(client, data)
            assert response.status_code in (200, 201), (name, route, response.text)


def thumbnail_of(client: ASGIClient, app: Any, data: bytes) -> Callable[[], Any]:
    """A thumbnail request for a stored image whose blob now holds ``data``."""
    from sqlalchemy import select

    from winnow.platform.schema import Image

    platform = app.state.platform
    with platform.db.read() as session:
        image = session.scalars(select(Image).order_by(Image.id.desc()).limit(1)).one()
        image_id, key = image.id, image.blob_key
    platform.blobs.put(key, data)
    return lambda: client.get(f"/app/images/{image_id}/thumb")


def run(mode: str) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(fuzz_settings(Path(tmp) / "data"))
        with ASGIClient(app, base_url=BASE) as client:
            seed(client.request)
            signed = client.post("/app/login", data={"api_key": KEY}, follow_redirects=False)
            assert signed.status_code == 303, signed.text
            warm_up(client, ["png"] if mode == "bomb" else sorted(image_mutations.SEEDS))
            rows: list[dict[str, Any]] = []
            if mode == "bomb":
                bomb = nasty_images.png_idat_length_bomb()
                for route, send in ROUTES.items():
                    rows.append(measure(route, partial(send, client, bomb)))
                rows.append(measure("thumbnail", thumbnail_of(client, app, bomb)))
                # The bomb must be refused, not merely survived.
                refused = all(400 <= row["status"] < 500 for row in rows)
                return 0 if refused and all(within_budget(row, BOMB_SECONDS) for row in rows) else 1

            @FUZZ
            @given(case=image_mutations.mutated_images(), route=st.sampled_from(sorted(ROUTES)))
            def fuzz(case: tuple[str, bytes], route: str) -> None:
                name, data = case
                row = measure(f"{route} {name}", partial(ROUTES[route], client, data))
                assert within_budget(row, MUTATION_SECONDS), row

            fuzz()
            return 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1]))
