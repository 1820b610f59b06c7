"""Strategy names: one rule, checked when a configuration is saved, and the platform agrees.

Issue 10: names with control characters were accepted by the configuration,
then the platform refused every datapoint they collected. Now the
configuration and the platform call the same function
(``winnow.activelearning.strategy_names``); the property below sends each
generated name both ways through the real app, the configuration over
``PUT /v1/projects/det/al-config`` and a datapoint over the native route and
in process, and requires the same verdict.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.factories import make_jpeg
from tests.fuzz.harness import FUZZ
from tests.fuzz.world import AL_CONFIG, AUTH, World
from tests.server.asgi_client import ASGIClient
from winnow.activelearning.config import validate_config
from winnow.activelearning.strategy_names import MAX_LENGTH, RULE, is_strategy_name
from winnow.errors import BadRequestError, InvalidConfigError
from winnow.platform.service import DatapointInput

Target = tuple[ASGIClient, World]
IMAGE = make_jpeg(seed=99)

REFUSED = ["a\nb", "a\u0000b", "a\tb", "a\x7fb", "a\x85b", "zero\u200bwidth", "a\u2028b", "\ud800"]
REFUSED += ["", "x" * (MAX_LENGTH + 1), "rtl\u202eoverride", "nb\u00a0sp"]
ACCEPTED = ["rand", "close to threshold", "x" * MAX_LENGTH, "café-crème", "車両", "🙂 happy"]


def config_with(name: str) -> dict[str, Any]:
    strategy = {**AL_CONFIG["sampling_strategies"][0], "name": name}
    return {**AL_CONFIG, "sampling_strategies": [strategy]}


@pytest.mark.parametrize("name", REFUSED)
def test_config_refuses_a_bad_name_naming_the_strategy_path(name: str) -> None:
    with pytest.raises(InvalidConfigError) as info:
        validate_config(config_with(name))
    (error,) = info.value.errors
    # Length and lone surrogates are refused by the field's own checks before the rule runs.
    expected = {
        "": "must not be empty",
        "x" * (MAX_LENGTH + 1): f"must be at most {MAX_LENGTH} characters",
        "\ud800": "input should be a valid string",
    }.get(name, RULE)
    assert error.startswith(f"sampling_strategies[0].name: {expected}"), error


@pytest.mark.parametrize("name", ACCEPTED)
def test_config_accepts_printable_names(name: str) -> None:
    config = validate_config(config_with(name))
    assert config.sampling_strategies[0].name == name


def test_saving_a_config_with_a_bad_name_is_400_naming_the_path(target: Target) -> None:
    client, _world = target
    response = put_config(client, "a\nb")
    assert response.status_code == 400, response.text
    assert f"sampling_strategies[0].name: {RULE}" in response.json()["message"]


def platform_accepts(client: ASGIClient, name: str) -> bool:
    """Whether the native route and in-process registration both take ``name`` as strategy."""
    meta = {"batch": "names", "strategy": name}
    response = client.post(
        "/v1/projects/det/datapoints",
        headers=AUTH,
        data={"metadata": json.dumps(meta)},
        files={"file": ("n.jpg", IMAGE, "image/jpeg")},
    )
    assert response.status_code < 500, response.text
    over_http = response.status_code < 300
    if not over_http:
        assert response.json()["message"].startswith("metadata.strategy: "), response.text
    platform = client.app.state.platform
    refusal = ""
    try:
        platform.register(
            workspace=platform.workspace(AUTH["Authorization"].removeprefix("Bearer ")),
            project="det",
            data=IMAGE,
            datapoint=DatapointInput(batch_name="names", strategy=name),
        )
    except BadRequestError as exc:
        refusal = exc.message
    in_process = not refusal
    assert in_process or refusal.startswith("strategy: "), refusal
    assert over_http == in_process, (name, response.text)
    return over_http


def put_config(client: ASGIClient, name: str) -> Any:
    # json.dumps escapes lone surrogates as \\udXXX, which httpx's json= cannot encode.
    return client.request(
        "PUT",
        "/v1/projects/det/al-config",
        headers={**AUTH, "Content-Type": "application/json"},
        content=json.dumps(config_with(name)).encode(),
    )


def config_accepts(client: ASGIClient, name: str) -> bool:
    response = put_config(client, name)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert "sampling_strategies[0].name: " in response.json()["message"], response.text
    return bool(response.status_code == 200)


names = st.one_of(
    st.text(max_size=MAX_LENGTH + 4),
    st.text(st.characters(codec="utf-8"), min_size=1, max_size=8),
    st.sampled_from(REFUSED + ACCEPTED),
)


@FUZZ
@given(name=names)
@example(name="a\nb")
@example(name="a\u0000b")
def test_platform_accepts_exactly_the_names_the_config_accepts(target: Target, name: str) -> None:
    client, _world = target
    accepted = config_accepts(client, name)
    assert accepted == is_strategy_name(name)
    assert platform_accepts(client, name) == accepted
