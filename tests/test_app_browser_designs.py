"""The household designs' views in a real browser: `localmarl app` serves the app offline, headless
Chromium switches to a `p2p` and a `stackelberg` scenario, steps each a few hours, checks the hour
counter and the status line, waits until every figure has been drawn for the last hour (no error
box), times each Step (click to the counter showing the next hour) and Play at the top speed
(printed with `-s`), and plays into the week before it takes a screenshot.

Leaves screenshots in `test-artifacts/` (app-p2p.png, app-stackelberg.png). Uses the server
fixture and the Chromium of tests/test_app_browser.py (`make test` gets a Chromium first).
"""

from __future__ import annotations

import re
import statistics
import time
from urllib.parse import urlparse

from tests import test_app_browser
from tests.test_app_browser import (
    ARTIFACTS, CHROMIUM_FLAGS, LOCAL_HOSTS, PLAY_MIN_HOURS_S, STEP_LIMIT_S, TIMING_JS, _hour, _hour_number,
    _step_latency_s, chromium_path, open_page,
)
from visualization.designs import p2p, stackelberg

app_url = test_app_browser.app_url  # the fixture that serves the app (`localmarl app` on a free port)

STEPS = 4
PLAYED_HOURS = 60  # Play on to at least this hour before the screenshot
#: (scenario, views module, the figures' toggle button to show before the screenshot)
SCENARIOS = (("p2p-mmr", p2p, "cost so far"), ("stackelberg", stackelberg, "limit price"))
#: The sources of the page's images, to see when all of them have been drawn anew.
IMAGE_SOURCES_JS = "() => Array.from(document.querySelectorAll('img')).map(i => i.src)"
FIGURES = 3
#: Forget the counter's texts so far (TIMING_JS's list; the hour counter was gone while the model was built).
RESET_TIMING_JS = "() => { window.__lm.clicks = []; window.__lm.hours = []; }"


def _image_sources(page) -> list[str]:
    return page.evaluate(IMAGE_SOURCES_JS)


def _wait_for_new_figures(page, before: list[str]):
    """Wait until all the page's figures show images other than `before` (drawn anew), and no
    figure is still drawing its first image."""
    page.wait_for_function("""([before, n]) => {
      const now = Array.from(document.querySelectorAll('img')).map(i => i.src);
      return now.length === n && now.every(src => !before.includes(src));
    }""", arg=[before, FIGURES], timeout=60_000)


def _choose(page, label: str, option: str):
    """Open the select labelled `label` and pick `option`."""
    page.locator(".v-select").filter(has_text=label).first.click()
    page.get_by_role("option", name=option, exact=True).click()


def test_browser_steps_the_household_designs_and_draws_their_figures_offline(app_url):
    from playwright.sync_api import sync_playwright  # a missing Playwright fails the test too

    requested, failed, latencies, played = [], [], {}, {}
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium_path(pw), args=CHROMIUM_FLAGS)
        try:
            page = open_page(browser, app_url, requested, failed)
            page.locator(".lm-hour").wait_for(timeout=180_000)  # the kernel is up, the default model built
            page.evaluate(TIMING_JS)
            speed = page.get_by_role("slider").last  # the top speed for Play (the slider's End key)
            speed.focus()
            speed.press("End")
            page.get_by_text(re.compile(r"Play speed: 50 hours/s")).wait_for(timeout=30_000)
            for scenario, views, toggle in SCENARIOS:
                _choose(page, "Scenario", scenario)
                page.get_by_text(views.TITLE, exact=True).wait_for(timeout=60_000)
                page.get_by_text(re.compile(f"scenario {scenario}, policy rule")).wait_for(timeout=60_000)
                page.locator(".lm-hour", has_text="Hour 0 of 168").wait_for(timeout=60_000)
                page.locator("img").nth(FIGURES - 1).wait_for(timeout=60_000)
                page.wait_for_timeout(500)  # the first images of this model are in
                before = _image_sources(page)
                page.evaluate(RESET_TIMING_JS)
                latencies[scenario] = []
                for hour in range(1, STEPS + 1):
                    latencies[scenario].append(_step_latency_s(page, hour))
                    page.wait_for_timeout(250)  # a user's pause between clicks; the figures draw meanwhile
                assert _hour(page) == f"Hour {STEPS} of 168 (last cleared: Mon 01 Jan {STEPS - 1:02d}:00 CET)"
                status = page.locator(".lm-status").all_inner_texts()
                assert len(status) >= 4 and re.fullmatch(r"(MMR|retail) buy / sell: -?\d+\.\d\d / -?\d+\.\d\d €/MWh",
                                                         status[0]), status
                _wait_for_new_figures(page, before)
                assert page.locator(".v-alert").count() == 0, page.locator(".v-alert").all_inner_texts()

                # play into the week at the top speed, so the screenshot shows days, not hours
                started = time.monotonic()
                page.get_by_role("button", name="Play", exact=True).click()
                page.wait_for_function("(n) => /^Hour (\\d+)/.exec(document.querySelector('.lm-hour').innerText)[1] >= n",
                                       arg=PLAYED_HOURS, timeout=60_000)
                played[scenario] = (_hour_number(page) - STEPS) / (time.monotonic() - started)
                page.get_by_role("button", name="Pause", exact=True).click()
                page.get_by_role("button", name="Play", exact=True).wait_for(timeout=60_000)
                page.wait_for_timeout(1500)  # the hour playing stopped at is drawn
                drawn = _image_sources(page)
                page.get_by_role("button", name=toggle, exact=True).click()  # another quantity per cluster
                page.wait_for_function("(old) => document.querySelectorAll('img')[2].src !== old",
                                       arg=drawn[2], timeout=60_000)
                page.wait_for_timeout(300)
                assert page.locator(".v-alert").count() == 0, page.locator(".v-alert").all_inner_texts()
                assert page.get_by_text(re.compile("could not be drawn|drawing the")).count() == 0
                page.screenshot(path=str(ARTIFACTS / f"app-{views.__name__.rsplit('.', 1)[-1]}.png"), full_page=True)
        finally:
            browser.close()

    for scenario, times in latencies.items():
        print(f"\n{scenario} in Chromium: Step shows the next hour after {statistics.median(times):.3f} s "
              f"(median of {STEPS}; all: {', '.join(f'{s:.3f}' for s in times)}); Play at top speed: "
              f"{played[scenario]:.1f} hours/s")
        assert statistics.median(times) < STEP_LIMIT_S, f"{scenario}: a Step took {statistics.median(times):.2f} s"
        assert played[scenario] > PLAY_MIN_HOURS_S, f"{scenario}: Play advanced {played[scenario]:.1f} hours/s"
    off_site = [u for u in requested if urlparse(u).scheme in ("http", "https", "ws", "wss")
                and urlparse(u).hostname not in LOCAL_HOSTS]
    assert off_site == [], f"the page asked for resources off this machine: {off_site}"
    assert failed == [], f"requests that failed (an asset missing offline?): {failed}"
