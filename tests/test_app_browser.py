"""The app in a real browser: `localmarl app` serves it, headless Chromium (Debian's) steps it.

Fails (never skips) when Chromium or Playwright is missing: `.ci/run` installs Chromium. Leaves
screenshots in `test-artifacts/` at the repository root.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = os.environ.get("LOCALMARL_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_until_serving(url: str, proc: subprocess.Popen, log: Path, timeout_s: float = 180.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"`localmarl app` exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    pytest.fail(f"`localmarl app` did not answer {url} within {timeout_s} s:\n{log.read_text()[-3000:]}")


@pytest.fixture
def app_url(tmp_path):
    """Start `localmarl app` on a free port; always stop it (and its children) afterwards."""
    port = _free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "runs.cli", "app", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_until_serving(url, proc, log)
        yield url
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def _hour(page) -> str:
    return page.locator(".lm-hour").inner_text()


def _price(page) -> str:
    return page.locator(".lm-price").inner_text()


def test_browser_steps_the_app_offline_and_saves_a_screenshot(app_url):
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: `apt-get install -y chromium` (.ci/run does), "
                    "or set LOCALMARL_CHROMIUM to its path")
    from playwright.sync_api import sync_playwright  # a missing Playwright fails the test too

    requested, failed = [], []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1500, "height": 1250})
            page.on("request", lambda r: requested.append(r.url))
            page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
            page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
            page.goto(app_url)
            page.locator(".lm-hour").wait_for(timeout=180_000)  # the page's own text: the kernel is up
            assert _hour(page) == "Hour 0 of 168"
            assert page.get_by_text("Scenario").first.is_visible()

            prices = []
            for hour in (1, 2, 3):
                page.get_by_role("button", name="Step", exact=True).click()
                page.locator(".lm-hour", has_text=f"Hour {hour} of 168").wait_for(timeout=90_000)
                prices.append(_price(page))
            assert _hour(page) == "Hour 3 of 168 (last cleared: Mon 01 Jan 02:00 CET)"
            assert all(re.fullmatch(r"LEM price: -?\d+\.\d\d €/MWh", p) for p in prices), prices
            assert prices[0] != prices[2], prices
            page.locator("img").nth(2).wait_for(timeout=90_000)  # feeder, prices and scores are drawn
            page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)

            # play into the morning, when the DSO buys flexibility, then pause
            page.get_by_role("button", name="Play", exact=True).click()
            page.locator(".lm-hour", has_text=re.compile(r"Hour (1[0-9]|[2-9][0-9]) of")).wait_for(timeout=135_000)
            page.get_by_role("button", name="Pause", exact=True).click()
            page.get_by_role("button", name="Play", exact=True).wait_for(timeout=90_000)
            page.wait_for_timeout(1500)  # an hour under way when Pause came is drawn
            page.screenshot(path=str(ARTIFACTS / "app-played.png"), full_page=True)
            assert page.locator(".v-alert").count() == 0, page.locator(".v-alert").all_inner_texts()
        finally:
            browser.close()

    off_site = [u for u in requested if urlparse(u).scheme in ("http", "https", "ws", "wss")
                and urlparse(u).hostname not in LOCAL_HOSTS]
    assert off_site == [], f"the page asked for resources off this machine: {off_site}"
    assert failed == [], f"requests that failed (an asset missing offline?): {failed}"
