"""Schemathesis over the app's whole OpenAPI document: no generated request gets a 5xx.

The app is the real one (``create_app``, role all) on a temporary data dir,
seeded with a key, a project of each type, an AL config, images and a model
version. Each generated case is aimed at what exists about half of the time
(path parameters replaced by seeded names and ids) and carries the key as a
Bearer header, as the ``api_key`` query parameter, or not at all, so the
fuzzer reaches the code behind authentication and lookups, not only 401/404.

Cases are drawn from both schemathesis modes: positive (values the schema
allows) and negative (values it forbids: wrong types, missing fields).
Checked: no 5xx (``not_a_server_error``), and every 4xx is JSON with a
non-empty ``message``. Bounded by ``FUZZ_EXAMPLES`` per operation
(``WINNOW_FUZZ_EXAMPLES`` raises it for a deeper local run) and derandomized,
so CI runs the same cases each time.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.python import asgi

from tests.factories import make_jpeg
from tests.fuzz.world import KEY, World, fuzz_settings, seed
from winnow.app import create_app

JPEG_B64 = base64.b64encode(make_jpeg(48, 32)).decode()
FUZZ_EXAMPLES = int(os.environ.get("WINNOW_FUZZ_EXAMPLES", "15"))

pytestmark = pytest.mark.slow

# Prediction-log segments (PUT /v1/prediction-segments/{name}) are Parquet bytes: generated
# bodies go on the wire as binary, which the route must refuse with a 4xx, not a 5xx.
schemathesis.serializer.alias("application/vnd.apache.parquet", "application/octet-stream")


@pytest.fixture(scope="module")
def fuzz_target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, World]]:
    """The loaded schema (its app running) and what was seeded into the app."""
    app: Any = create_app(
        fuzz_settings(tmp_path_factory.mktemp("fuzz") / "data")
    )  # an ASGI app to schemathesis
    loaded = schemathesis.openapi.from_asgi("/openapi.json", app)  # starts the lifespan
    with asgi.get_client(app) as client:
        world = seed(client.request)
    try:
        yield loaded, world
    finally:
        asgi.shutdown_lifespans()


def aim(case: Any, world: World, data: st.DataObject) -> None:
    """Replace path parameters by seeded names/ids about half of the time."""
    choices: dict[str, list[str]] = {
        "project": list(world.projects),
        "image_id": world.image_ids,
        "ws": ["default"],
        "version": ["0", "1"],
        "batch": world.batches,
    }
    for name in list(case.path_parameters or {}):
        pool = choices.get(name)
        if pool and data.draw(st.booleans(), label=f"aim {name}"):
            case.path_parameters[name] = data.draw(st.sampled_from(pool), label=name)
    body = case.body
    if isinstance(body, dict) and "model_id" in body and data.draw(st.booleans(), label="aim"):
        # The v1 inference bodies: a real model and a decodable image, the rest as generated.
        body["model_id"] = data.draw(st.sampled_from(world.model_ids), label="model_id")
        body["image"] = {"type": "base64", "value": JPEG_B64}


def credentials(data: st.DataObject) -> tuple[dict[str, str], dict[str, str]]:
    """Headers and query parameters carrying the key (or not)."""
    how = data.draw(st.sampled_from(["bearer", "query", "none", "wrong"]), label="auth")
    if how == "bearer":
        return {"Authorization": f"Bearer {KEY}"}, {}
    if how == "query":
        return {}, {"api_key": KEY}
    if how == "wrong":
        return {"Authorization": "Bearer not-a-key"}, {}
    return {}, {}


def assert_4xx_has_message(response: Any, label: str) -> None:
    """A 4xx body is JSON ``{"message": <non-empty text>}``."""
    if not 400 <= response.status_code < 500:
        return
    try:
        body = response.json()
    except ValueError:
        raise AssertionError(
            f"{label}: {response.status_code} is not JSON: {response.text[:200]!r}"
        ) from None
    message = body.get("message") if isinstance(body, dict) else None
    assert isinstance(message, str) and message.strip(), (label, response.status_code, body)


def fuzz_operation(operation: Any, world: World, answered: set[str]) -> None:
    """Run ``FUZZ_EXAMPLES`` generated cases of one operation; raises on the first failure."""

    cases = st.one_of(
        operation.as_strategy(GenerationMode.POSITIVE),
        operation.as_strategy(GenerationMode.NEGATIVE),  # values the schema forbids
    )

    @given(case=cases, data=st.data())
    @settings(
        max_examples=FUZZ_EXAMPLES,
        deadline=None,
        derandomize=not os.environ.get("WINNOW_FUZZ_RANDOM"),
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any, data: st.DataObject) -> None:
        aim(case, world, data)
        headers, params = credentials(data)
        if isinstance(case.body, dict) and "api_key" in params:
            # The v1 inference routes read the key from their JSON body.
            case.body.setdefault("api_key", KEY)
        response = case.call(headers=headers, params=params)
        if response.status_code < 300:
            answered.add(operation.label)
        case.validate_response(response, checks=[not_a_server_error])
        assert_4xx_has_message(response, f"{case.method} {case.formatted_path}")

    run()


def test_no_operation_answers_5xx(fuzz_target: tuple[Any, World]) -> None:
    # One test over every operation (schemathesis' per-operation pytest
    # parametrization needs pytest internals that pytest 9 no longer has).
    loaded, world = fuzz_target
    failures: list[str] = []
    answered: set[str] = set()
    operations = [result.ok() for result in loaded.get_all_operations()]
    assert len(operations) > 30, "the OpenAPI document lost its routes"
    for operation in operations:
        try:
            fuzz_operation(operation, world, answered)
        except Exception as exc:
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    # The aiming works: most operations got past authentication and lookups at least once.
    assert len(answered) >= len(operations) // 3, sorted(answered)
