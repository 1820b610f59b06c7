"""Debian's Chromium driven by Playwright, for every browser test."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.factories import KEY
from tests.services import in_ci

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@contextmanager
def chromium() -> Iterator[object]:
    """A launched Chromium (skipped without it on a laptop, failed under CI=true)."""
    if not os.path.exists(CHROMIUM):
        if in_ci():
            pytest.fail(f"{CHROMIUM} is missing (CI=true: install chromium with apt)")
        pytest.skip(f"{CHROMIUM} is missing; apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        instance = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield instance
        finally:
            instance.close()


def sign_in(page: object, url: str) -> None:
    """Sign in on the live server at ``url`` with the bootstrap key."""
    page.goto(f"{url}/app/")  # type: ignore[attr-defined]
    page.fill("#api_key", KEY)  # type: ignore[attr-defined]
    page.click("button[type=submit]")  # type: ignore[attr-defined]
    page.wait_for_url(f"{url}/app/")  # type: ignore[attr-defined]
