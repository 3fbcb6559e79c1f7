"""The app in a real browser: `localmarl app` serves it, headless Chromium steps and plays it, and
the test measures what a user waits for.

- Step: the time from the click until the hour counter shows the next hour (median of 10 steps,
  timed inside the browser: a capture listener notes the click, a MutationObserver the new text);
- Play at the top speed: hours per second over two seconds.

Both are printed (run with `-s` to see them) and checked against generous bounds that still fail
the app as it was before it drew its figures off the render path (~0.7-1.4 s a step, ~1-2 hours/s).

Fails (never skips) when no Chromium can be found: `make test` gets one first
(`scripts/ensure_browser.sh`). Leaves screenshots in `test-artifacts/` at the repository root.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import statistics
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
DEBIAN_CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
STEPS = 10
STEP_LIMIT_S = 0.5  # the issue asks for <= 0.3 s; generous for a loaded 2-core machine (typically ~0.02 s)
PLAY_MIN_HOURS_S = 5.0  # the issue asks for >= 10 hours/s at the top speed (typically 25-45)
#: Notes when a click happens and when the hour counter's text changes (browser clock, ms).
TIMING_JS = """() => {
  window.__lm = {clicks: [], hours: []};
  document.addEventListener('click', () => window.__lm.clicks.push(performance.now()), true);
  let last = null;
  new MutationObserver(() => {
    const el = document.querySelector('.lm-hour');
    const text = el ? el.innerText : null;
    if (text !== last) { last = text; window.__lm.hours.push([performance.now(), text]); }
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def chromium_path(pw) -> str:
    """$LOCALMARL_CHROMIUM, Debian's /usr/bin/chromium, or Playwright's own Chromium; else the test fails."""
    wanted = os.environ.get("LOCALMARL_CHROMIUM")
    candidates = [wanted] if wanted else [DEBIAN_CHROMIUM, pw.chromium.executable_path]
    for path in candidates:
        if path and Path(path).is_file():
            return path
    pytest.fail(f"no Chromium found (looked at {candidates}): run `bash scripts/ensure_browser.sh` "
                "(`make test` does), or set LOCALMARL_CHROMIUM to a Chromium's path")


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
    """Start `localmarl app` (solara in production mode) on a free port; always stop it afterwards."""
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


def _hour_number(page) -> int:
    return int(re.match(r"Hour (\d+) of", _hour(page)).group(1))


def _step_latency_s(page, hour: int) -> float:
    """Click Step; seconds from the click until the counter shows `hour` (browser clock)."""
    page.get_by_role("button", name="Step", exact=True).click()
    page.locator(".lm-hour", has_text=f"Hour {hour} of 168").wait_for(timeout=60_000)
    return page.evaluate("""(hour) => {
      const shown = window.__lm.hours.find(([t, text]) => text && text.startsWith(`Hour ${hour} of`));
      return (shown[0] - window.__lm.clicks[window.__lm.clicks.length - 1]) / 1000;
    }""", hour)


def open_page(browser, app_url: str, requested: list, failed: list):
    """A page of the app at `app_url` that notes every request (`requested`) and every failed one or
    HTTP error (`failed`), so a test can check that nothing left the machine or failed."""
    page = browser.new_page(viewport={"width": 1500, "height": 1250})
    page.on("request", lambda r: requested.append(r.url))
    page.on("requestfailed", lambda r: failed.append(f"{r.url} ({r.failure})"))
    page.on("response", lambda r: failed.append(f"{r.url} (HTTP {r.status})") if r.status >= 400 else None)
    page.goto(app_url)
    return page


def test_browser_steps_and_plays_the_app_quickly_offline(app_url):
    from playwright.sync_api import sync_playwright  # a missing Playwright fails the test too

    requested, failed = [], []
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(pw), args=CHROMIUM_FLAGS)
        try:
            page = open_page(browser, app_url, requested, failed)
            page.locator(".lm-hour").wait_for(timeout=180_000)  # the page's own text: the kernel is up, the model built
            assert _hour(page) == "Hour 0 of 168"
            assert page.get_by_text("Scenario").first.is_visible()
            page.locator("img").nth(2).wait_for(timeout=90_000)  # feeder, prices and scores are drawn
            page.evaluate(TIMING_JS)

            latencies, prices = [], []
            for hour in range(1, STEPS + 1):
                latencies.append(_step_latency_s(page, hour))
                # the status text may render a moment after the counter (seen once in CI after the first Step)
                page.wait_for_function("() => !document.querySelector('.lm-status').innerText.includes('no hour cleared')",
                                       timeout=10_000)
                prices.append(page.locator(".lm-status").first.inner_text())
                page.wait_for_timeout(250)  # a user's pause between clicks; the figures draw meanwhile
            assert _hour(page) == f"Hour {STEPS} of 168 (last cleared: Mon 01 Jan {STEPS - 1:02d}:00 CET)"
            assert all(re.fullmatch(r"LEM price: -?\d+\.\d\d €/MWh", p) for p in prices), prices
            assert len(set(prices)) > 1, prices
            page.wait_for_timeout(500)
            page.screenshot(path=str(ARTIFACTS / "app.png"), full_page=True)

            # play at the top speed (the slider's End key), into the days when the DSO buys flexibility
            speed = page.get_by_role("slider").last
            speed.focus()
            speed.press("End")
            page.get_by_text(re.compile(r"Play speed: 50 hours/s")).wait_for(timeout=30_000)
            page.get_by_role("button", name="Play", exact=True).click()
            page.wait_for_timeout(500)  # settle into playing
            h0, t0 = _hour_number(page), time.monotonic()
            page.wait_for_timeout(2000)
            h1, t1 = _hour_number(page), time.monotonic()
            hours_per_s = (h1 - h0) / (t1 - t0)
            page.get_by_role("button", name="Pause", exact=True).click()
            page.get_by_role("button", name="Play", exact=True).wait_for(timeout=60_000)
            page.wait_for_timeout(1500)  # the hour playing stopped at is drawn
            page.screenshot(path=str(ARTIFACTS / "app-played.png"), full_page=True)
            assert page.locator(".v-alert").count() == 0, page.locator(".v-alert").all_inner_texts()
        finally:
            browser.close()

    step_s = statistics.median(latencies)
    print(f"\napp in Chromium: Step shows the next hour after {step_s:.3f} s (median of {STEPS}; "
          f"all: {', '.join(f'{s:.3f}' for s in latencies)}); Play at top speed: {hours_per_s:.1f} hours/s "
          f"(hours {h0}->{h1})")
    assert step_s < STEP_LIMIT_S, f"a Step took {step_s:.2f} s (median) to show the next hour"
    assert hours_per_s > PLAY_MIN_HOURS_S, f"Play advanced {hours_per_s:.1f} hours/s at its top speed"

    off_site = [u for u in requested if urlparse(u).scheme in ("http", "https", "ws", "wss")
                and urlparse(u).hostname not in LOCAL_HOSTS]
    assert off_site == [], f"the page asked for resources off this machine: {off_site}"
    assert failed == [], f"requests that failed (an asset missing offline?): {failed}"
