"""Fixtures of the web pages' tests: Debian's chromium driven by Playwright, one browser per module (never a
browser Playwright would download), a fresh context per test, and the site (the API and pages) on a real uvicorn."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.web.weblib import Api, serve

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

CHROMIUM = "/usr/bin/chromium"
TIMEOUT_MS = 5000


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not os.path.exists(CHROMIUM):
        pytest.skip("chromium is not installed (scripts/setup.sh installs Debian's chromium)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (the test extra)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Api]:
    """The API and the pages on a database with customers acme and beta and operator ops (tests/web/weblib)."""
    with serve(tmp_path) as api:
        yield api


@pytest.fixture
def context(browser: Browser, site: Api) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=site.server.url, viewport={"width": 1200, "height": 900})
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()


def sign_in(ctx: BrowserContext, api: Api, login: str, role: str = "customer") -> None:
    """A session cookie in `ctx`, got from the API as the sign-in page gets it."""
    reply = ctx.request.post("/api/v1/session", data={"login": login, "password": api.passwords[login], "role": role})
    assert reply.status == 200, reply.text()


def prefix() -> str:
    return f"webui{uuid.uuid4().hex[:8]}"


@pytest.fixture
def browser_phone(browser: Browser, site: Api) -> Iterator[BrowserContext]:
    """A phone-sized screen (360 × 740, touch)."""
    ctx = browser.new_context(base_url=site.server.url, viewport={"width": 360, "height": 740}, is_mobile=True,
                              has_touch=True, device_scale_factor=2)
    ctx.set_default_timeout(TIMEOUT_MS)
    try:
        yield ctx
    finally:
        ctx.close()
