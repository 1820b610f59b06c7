"""What a request attaches to its datapoints: source, source_info, tags and metadata.

Parsed on both routes (v1 JSON body; legacy query string) into the
``InferenceRequest`` and handed to the collector on the ``CollectionContext``;
every bad value is a 400 naming the field, before any model runs.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.apps import SpyCollector, inference_app
from tests.factories import AUTH, KEY, make_jpeg_b64, v1_body
from tests.server.asgi_client import ASGIClient
from winnow.errors import BadRequestError
from winnow.server.inference_request import parse_legacy_query, parse_v1
from winnow.settings import Settings

IMG = {"type": "base64", "value": "aGVsbG8="}


def _v1(**fields: Any) -> dict[str, Any]:
    return {"api_key": "k", "model_id": "cars/0", "image": IMG, **fields}


def test_v1_fields_are_parsed() -> None:
    req = parse_v1(
        _v1(
            source="gate-3",
            source_info="rtsp relay 2",
            active_learning_tags=["night", "lane:2", "night"],
            active_learning_metadata={"site": "north", "lane": 2, "tags": ["x"]},
        ),
        None,
    )
    assert req.source == "gate-3"
    assert req.source_info == "rtsp relay 2"
    assert req.tags == ("night", "lane:2")  # each once, first order kept
    assert req.metadata == {"site": "north", "lane": 2, "tags": ["x"]}


def test_absent_and_empty_fields_are_none() -> None:
    req = parse_v1(
        _v1(source="", source_info=None, active_learning_tags=[], active_learning_metadata={}),
        None,
    )
    assert (req.source, req.source_info, req.tags, req.metadata) == (None, None, (), None)
    bare = parse_v1(_v1(), None)
    assert (bare.source, bare.source_info, bare.tags, bare.metadata) == (None, None, (), None)


@pytest.mark.parametrize(
    ("fields", "named"),
    [
        ({"active_learning_metadata": [1, 2]}, "active_learning_metadata must be a JSON object"),
        ({"active_learning_metadata": "x"}, "active_learning_metadata must be a JSON object"),
        ({"active_learning_metadata": {"v": float("nan")}}, "active_learning_metadata"),
        ({"active_learning_tags": "night"}, "active_learning_tags must be a list of strings"),
        ({"active_learning_tags": ["ok", 5]}, "active_learning_tags[1] must be a string"),
        ({"active_learning_tags": ["with space"]}, "active_learning_tags[0]"),
        ({"active_learning_tags": ["x" * 65]}, "active_learning_tags[0]"),
        ({"active_learning_tags": [f"t{i}" for i in range(33)]}, "at most 32"),
        ({"source": 7}, "source must be a string"),
        ({"source": "a" * 129}, "at most 128 characters"),
        ({"source": "cam\n1"}, "source must be a string"),
        ({"source_info": {"a": 1}}, "source_info must be a string"),
        ({"source_info": "i" * 257}, "source_info must be a string of at most 256"),
    ],
)
def test_bad_values_are_400_naming_the_field(fields: dict[str, Any], named: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_v1(_v1(**fields), None)
    assert named in caught.value.message
    assert caught.value.status == 400


def test_metadata_is_capped_by_its_compact_json_size() -> None:
    exactly = {"k": "x" * 92}  # {"k":"xxx..."} is 100 bytes
    assert len(json.dumps(exactly, separators=(",", ":"))) == 100
    assert parse_v1(_v1(active_learning_metadata=exactly), None, metadata_max_bytes=100).metadata
    with pytest.raises(BadRequestError) as caught:
        parse_v1(_v1(active_learning_metadata={"k": "x" * 93}), None, metadata_max_bytes=100)
    message = caught.value.message
    assert "active_learning_metadata is 101 bytes" in message
    assert "limit of 100 bytes" in message


def test_legacy_query_fields() -> None:
    req = parse_legacy_query(
        "cars",
        "0",
        {
            "api_key": "k",
            "source": "gate-3",
            "source_info": "sdk",
            "source_info_origin": "context",  # the SDK's own provenance flag: ignored
            "active_learning_tags": "night, lane:2,,night",
            "active_learning_metadata": '{"site": "north"}',
        },
        None,
    )
    assert req.source == "gate-3"
    assert req.source_info == "sdk"
    assert req.tags == ("night", "lane:2")
    assert req.metadata == {"site": "north"}


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ({"active_learning_metadata": "{not json"}, "active_learning_metadata must be the JSON"),
        ({"active_learning_metadata": "[1]"}, "active_learning_metadata must be a JSON object"),
        ({"active_learning_metadata": '{"v": NaN}'}, "active_learning_metadata must be the JSON"),
        ({"active_learning_metadata": '{"k": "' + "x" * 5000 + '"}'}, "over the limit"),
        ({"active_learning_tags": "ok,not ok"}, "active_learning_tags[1]"),
        ({"source": "s" * 129}, "source must be a string of at most 128"),
    ],
)
def test_legacy_bad_values_are_400_naming_the_field(query: dict[str, str], named: str) -> None:
    with pytest.raises(BadRequestError) as caught:
        parse_legacy_query("cars", "0", {"api_key": "k", **query}, None)
    assert named in caught.value.message


# ---------------------------------------------------------------- over HTTP, to the collector


@pytest.fixture
def small_cap(settings: Settings) -> Settings:
    return settings.model_copy(update={"active_learning_metadata_max_bytes": 64})


def test_v1_route_hands_the_fields_to_the_collector(client: ASGIClient, spy: SpyCollector) -> None:
    response = client.post(
        "/infer/object_detection",
        json=v1_body(
            "cars/0",
            source="gate-3",
            source_info="relay",
            active_learning_tags=["night"],
            active_learning_metadata={"lane": 2},
        ),
    )
    assert response.status_code == 200, response.text
    (_image, _prediction, context) = spy.calls[0]
    assert context.source == "gate-3"
    assert context.source_info == "relay"
    assert context.tags == ("night",)
    assert context.extra == {"lane": 2}


def test_without_fields_the_source_stays_http(client: ASGIClient, spy: SpyCollector) -> None:
    assert client.post("/infer/object_detection", json=v1_body("cars/0")).status_code == 200
    (_image, _prediction, context) = spy.calls[0]
    assert (context.source, context.source_info, context.tags, context.extra) == (
        "http",
        None,
        (),
        {},
    )


def test_legacy_route_reads_repeated_and_comma_separated_tags(
    client: ASGIClient, spy: SpyCollector
) -> None:
    response = client.post(
        "/cars/0",
        params=[
            ("api_key", KEY),
            ("source", "gate-4"),
            ("active_learning_tags", "a,b"),
            ("active_learning_tags", "c"),
            ("active_learning_metadata", '{"lane": 1}'),
        ],
        content=make_jpeg_b64(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    (_image, _prediction, context) = spy.calls[0]
    assert context.source == "gate-4"
    assert context.tags == ("a", "b", "c")
    assert context.extra == {"lane": 1}


def test_the_setting_caps_metadata_on_both_routes(small_cap: Settings) -> None:
    spy = SpyCollector()
    big = {"k": "x" * 80}
    with ASGIClient(inference_app(small_cap, spy)) as client:
        v1 = client.post(
            "/infer/object_detection", json=v1_body("cars/0", active_learning_metadata=big)
        )
        legacy = client.post(
            "/cars/0",
            params={"active_learning_metadata": json.dumps(big)},
            content=make_jpeg_b64(),
            headers={**AUTH, "Content-Type": "application/json"},
        )
    for response in (v1, legacy):
        assert response.status_code == 400
        assert "active_learning_metadata" in response.json()["message"]
        assert "limit of 64 bytes" in response.json()["message"]
    assert spy.calls == []


def test_a_bad_tag_is_a_400_over_http_and_nothing_is_collected(
    client: ASGIClient, spy: SpyCollector
) -> None:
    response = client.post(
        "/infer/object_detection", json=v1_body("cars/0", active_learning_tags=[["nested"]])
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("active_learning_tags[0] must be a string")
    assert spy.calls == []
