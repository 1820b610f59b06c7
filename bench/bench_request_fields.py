"""What the identity fields cost when a v1 body is parsed.

Parses one inference-sdk-shaped v1 body with ``parse_v1``, interleaved call
batch by call batch: ``plain`` (no identity fields), ``sdk_source`` (``source``
and ``source_info`` as the SDK sends them) and ``all_fields`` (plus two tags
and a small ``active_learning_metadata`` object). Prints JSON: per case the
median and spread (min, max) of microseconds per parse over ``rounds`` rounds
(default 15) of 5,000 parses, and each case's median ratio to ``plain``.
Run: ``PYTHONPATH=src .venv/bin/python bench/bench_request_fields.py [rounds]``.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from typing import Any

from winnow.server.inference_request import parse_v1

PER_ROUND = 5_000

PLAIN: dict[str, Any] = {
    "api_key": "k" * 20,
    "model_id": "cars/3",
    "image": {"type": "base64", "value": "aGVsbG8="},
    "confidence": 0.4,
    "iou_threshold": 0.3,
    "disable_active_learning": False,
}
CASES: dict[str, dict[str, Any]] = {
    "plain": PLAIN,
    "sdk_source": {**PLAIN, "source": "gate-3", "source_info": "relay-7"},
    "all_fields": {
        **PLAIN,
        "source": "gate-3",
        "source_info": "relay-7",
        "active_learning_tags": ["night", "lane:2"],
        "active_learning_metadata": {"site": "north", "lane": 2, "operator": "a. smith"},
    },
}


def _round(body: dict[str, Any]) -> float:
    started = time.perf_counter()
    for _ in range(PER_ROUND):
        parse_v1(body, None)
    return (time.perf_counter() - started) / PER_ROUND * 1e6


def main(rounds: int) -> dict[str, Any]:
    """Per case: median, min and max microseconds per parse, and the median ratio to plain."""
    samples: dict[str, list[float]] = {name: [] for name in CASES}
    for _ in range(rounds):
        for name, body in CASES.items():
            samples[name].append(_round(body))
    plain = samples["plain"]
    out: dict[str, Any] = {"rounds": rounds, "parses_per_round": PER_ROUND, "cases": {}}
    for name, values in samples.items():
        ratios = [v / p for v, p in zip(values, plain, strict=True)]
        out["cases"][name] = {
            "median_us": round(statistics.median(values), 2),
            "min_us": round(min(values), 2),
            "max_us": round(max(values), 2),
            "ratio_to_plain": round(statistics.median(ratios), 3),
        }
    return out


if __name__ == "__main__":
    print(json.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 15), indent=2))
