"""Browser tests: Playwright driving Debian's Chromium against a real `reconcile serve` on loopback.

Chromium comes from ``RECONCILE_CHROMIUM`` (default ``/usr/bin/chromium``); without it the tests
skip, unless ``RECONCILE_REQUIRE_CHROMIUM`` is set (CI), when they fail. Screenshots of every page go
to ``test-artifacts/screenshots/`` at the repository root.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.api.conftest import build_world, free_port

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "correct-horse-42"


def chromium_path() -> str | None:
    path = os.environ.get("RECONCILE_CHROMIUM", "/usr/bin/chromium")
    if Path(path).exists():
        return path
    if os.environ.get("RECONCILE_REQUIRE_CHROMIUM"):
        pytest.fail(f"RECONCILE_REQUIRE_CHROMIUM is set but there is no Chromium at {path}")
    pytest.skip(f"no Chromium at {path} (set RECONCILE_CHROMIUM)")


@pytest.fixture(scope="module")
def ui_world(tmp_path_factory):
    from reconcile import auth, store

    url = f"sqlite:///{tmp_path_factory.mktemp('ui') / 'store.sqlite3'}"
    world = build_world(url)
    with store.session_scope(world.engine) as session:
        for name in ("steward_a", "steward_b", "supervisor_a"):
            auth.set_password(session, name, PASSWORD)
    yield world
    world.engine.dispose()


@pytest.fixture(scope="module")
def base_url(ui_world, tmp_path_factory):
    port = free_port()
    tmp = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "RECONCILE_DATABASE_URL": ui_world.url, "RECONCILE_SECRET_KEY": "test-key-not-secret",
           "RECONCILE_CONFIG": str(tmp / "none.toml"), "RECONCILE_UPLOAD_DIR": str(tmp / "uploads")}
    proc = subprocess.Popen([sys.executable, "-m", "reconcile.cli.main", "serve", "--host", "127.0.0.1",
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            out = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
            pytest.fail(f"reconcile serve did not come up: {out[-2000:]}")
        time.sleep(0.2)
    yield base
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def browser():
    path = chromium_path()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=["--no-sandbox"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ja-JP")
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in(page, base_url: str, user: str, secret: str = PASSWORD) -> None:
    page.goto(f"{base_url}/login")
    page.fill("#username", user)
    page.fill("#password", secret)
    page.click("form.login button[type=submit]")
    page.wait_for_url("**/queues")
