"""The app's page: controls on the left; the hour's status, the feeder, prices and scores on the right.

Every browser session renders its own `Page`, so each builds and steps its own model. A step (by
the Step button or the play thread, both through the session's `Runner`) holds the session's lock
while the model clears the hour, then sets `tick`; the page copies the model into a `Snapshot`
once per tick (or new model), and the views draw that.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time

import solara

from model.scenario import available_scenarios
from visualization.charts import PriceView, ScoreView
from visualization.feeder_view import FeederView
from visualization.guard import Guarded
from visualization.session import (
    LOCATION_SWAPS,
    TRAINED_PREFIX,
    WEEK_SETS,
    Settings,
    Snapshot,
    build_model,
    policy_options,
    take_snapshot,
    weeks_in_set,
)

log = logging.getLogger(__name__)

TITLE = "localmarl: local electricity markets on the CIGRE MV feeder"


def _build(settings: Settings):
    """(model, None) or (None, error message)."""
    try:
        return build_model(settings), None
    except Exception as e:  # noqa: BLE001 - shown in the page; the controls stay usable
        log.exception("could not build the model for %s", settings)
        return None, f"Could not build the model: {type(e).__name__}: {e}"


@solara.component
def Controls(settings: solara.Reactive[Settings], on_change):
    """Scenario, week, policy and location swap; a change calls `on_change`, then builds a new model."""
    s = settings.value

    def set_field(**kw):
        on_change()
        settings.set(Settings(**(vars(s) | kw)))

    trained = s.policy.startswith(TRAINED_PREFIX)
    solara.Select("Scenario", values=available_scenarios(), value=s.scenario, disabled=trained,
                  on_value=lambda v: set_field(scenario=v))
    if trained:
        solara.Text("a trained policy plays the scenario it was trained on", style={"font-size": "0.8em", "color": "#555"})
    solara.Select("Week set", values=list(WEEK_SETS), value=s.week_set,
                  on_value=lambda v: set_field(week_set=v, week_number=1))
    n_weeks = weeks_in_set(s.week_set)
    if n_weeks > 1:
        solara.SliderInt(f"Week ({s.week_set}:1..{n_weeks})", value=s.week_number, min=1, max=n_weeks,
                         on_value=lambda v: set_field(week_number=v))
    policies = policy_options()
    solara.Select("Policy", values=policies if s.policy in policies else [*policies, s.policy], value=s.policy,
                  on_value=lambda v: set_field(policy=v))
    solara.Select("Location swap", values=list(LOCATION_SWAPS), value=s.location_swap,
                  on_value=lambda v: set_field(location_swap=v))


@solara.component
def Status(snap: Snapshot, version: int):
    """The hour and this hour's prices, as text (the browser test reads `.lm-hour`, `.lm-price`)."""
    h = snap.hour
    hour_text = f"Hour {snap.hours_done} of {snap.n_hours_total}"
    if h is not None:
        hour_text += f" (last cleared: {snap.hour_start_cet:%a %d %b %H:%M} CET)"
    if not snap.running:
        hour_text += ", week done: reset or pick another week"
    with solara.Row(gap="24px", style={"flex-wrap": "wrap", "align-items": "baseline"}):
        solara.Text(hour_text, classes=["lm-hour"], style={"font-size": "1.15em", "font-weight": "bold"})
        if h is None:
            solara.Text("LEM price: no hour cleared yet", classes=["lm-price"])
            return
        solara.Text(f"LEM price: {h.lem_price_eur_mwh:.2f} €/MWh", classes=["lm-price"], style={"font-weight": "bold"})
        solara.Text(f"import / export: {h.import_eur_mwh:.2f} / {h.export_eur_mwh:.2f} €/MWh")
        solara.Text(f"imbalance long / short: {h.imb_long_eur_mwh:.2f} / {h.imb_short_eur_mwh:.2f} €/MWh")
        solara.Text(f"flexibility bought: {snap.flex_mw:.2f} MW for {h.dso_payment_eur:.2f} €")
        solara.Text(f"lowest voltage: {h.lfm.v_pu.min():.3f} p.u.")


class Runner:
    """Step, play, pause and reset for one session's model.

    One object per model, so its bound methods stay equal across renders: reacton then keeps the
    buttons' handlers (and skips re-rendering the controls) while the play thread re-renders the
    page every hour, and a click never lands between an old handler's removal and a new one's.
    """

    def __init__(self, model, lock, ticker, tick, playing, speed, step_error, generation):
        self.model, self.lock, self.ticker = model, lock, ticker
        self.tick, self.playing, self.speed, self.step_error, self.generation = tick, playing, speed, step_error, generation
        # set once the page has drawn the latest step: playing waits for it, so that steps never
        # outrun drawing (else the thread that renders, maybe the one handling the browser's
        # messages, would be kept re-rendering and a click on Pause would wait for the week's end)
        self.drawn = threading.Event()
        self.drawn.set()

    def step(self) -> bool:
        """Clear one hour; False when the week is done or the step failed."""
        try:
            with self.lock:
                if self.model is None or not self.model.running:
                    return False
                self.model.step()
        except Exception as e:  # noqa: BLE001 - a failing hour stops the run with a message
            log.exception("step failed")
            self.step_error.set(f"Step failed: {type(e).__name__}: {e}")
            self.playing.set(False)
            return False
        self.drawn.clear()
        self.tick.set(next(self.ticker))
        return True

    def play_loop(self, cancel: threading.Event):
        """Runs in a thread while `playing`; stops when paused, when the model changes, or at the end."""
        if not self.playing.value:
            return
        while not cancel.is_set():
            t0 = time.perf_counter()
            if not self.step():
                break
            self.drawn.wait(timeout=30.0)
            cancel.wait(max(0.0, 1.0 / self.speed.value - (time.perf_counter() - t0)))
        if not cancel.is_set():
            self.playing.set(False)

    def play(self):
        self.playing.set(True)

    def pause(self):
        self.playing.set(False)

    def stop(self):
        """Before the model is replaced: stop playing and forget the last step's error."""
        self.playing.set(False)
        self.step_error.set(None)

    def reset(self):
        self.stop()
        self.generation.set(self.generation.value + 1)


@solara.component
def RunButtons(runner: Runner, playing: bool, can_step: bool):
    with solara.Row(gap="6px", style={"flex-wrap": "wrap"}):
        solara.Button("Step", on_click=runner.step, disabled=not can_step, color="primary")
        if playing:
            solara.Button("Pause", on_click=runner.pause, color="warning")
        else:
            solara.Button("Play", on_click=runner.play, disabled=not can_step)
        solara.Button("Reset", on_click=runner.reset)


@solara.component
def Page():
    settings = solara.use_reactive(Settings())
    generation = solara.use_reactive(0)  # Reset bumps it: a new model with the same settings
    playing = solara.use_reactive(False)
    speed = solara.use_reactive(4)  # hours per second while playing
    step_error = solara.use_reactive(None)
    tick = solara.use_reactive(0)  # set to a fresh number after every step
    ticker = solara.use_memo(itertools.count, [])
    lock = solara.use_memo(threading.Lock, [])

    model, build_error = solara.use_memo(lambda: _build(settings.value), [settings.value, generation.value])
    runner = solara.use_memo(lambda: Runner(model, lock, ticker, tick, playing, speed, step_error, generation), [model])
    solara.use_thread(runner.play_loop, dependencies=[playing.value, model], intrusive_cancel=False)

    def snapshot():
        if model is None:
            return None
        with lock:
            return take_snapshot(model, settings.value.week_spec)

    # `version` names this snapshot: the views redraw when it changes (a step, a reset, new settings)
    snap, version = solara.use_memo(lambda: (snapshot(), next(ticker)), [model, tick.value])
    solara.use_effect(runner.drawn.set, [version])  # effects run once the render is done

    solara.Title("localmarl")
    with solara.Column(style={"padding": "12px"}, gap="8px"):
        # (not solara.Markdown: it loads KaTeX, which solara-assets does not ship, so it would need the internet)
        solara.Text(TITLE, style={"font-size": "1.5em", "font-weight": "500"})
        with solara.Columns([1, 5], gutters_dense=True):
            with solara.Card("Model", margin=0):
                Controls(settings, on_change=runner.stop)
                can_step = snap is not None and snap.running and not playing.value
                RunButtons(runner, playing.value, can_step)
                solara.SliderInt("Play speed (hours/s)", value=speed, min=1, max=20)
                if snap is not None:
                    solara.Text(f"scenario {snap.scenario}, policy {snap.policy}, week {snap.week} ({snap.week_spec})",
                                style={"font-size": "0.85em", "color": "#555"})
            with solara.Column(gap="8px"):
                if build_error:
                    solara.Error(build_error)
                    return
                if step_error.value:
                    solara.Error(step_error.value)
                if snap is None:
                    return
                with solara.Card(margin=0):
                    Guarded("The status line", Status, snap=snap, version=version)
                with solara.Row(gap="8px", style={"flex-wrap": "wrap", "align-items": "flex-start"}):
                    with solara.Card(margin=0):
                        Guarded("The feeder", FeederView, snap=snap, version=version)
                    with solara.Card(margin=0):
                        Guarded("The price chart", PriceView, snap=snap, version=version)
                with solara.Card(margin=0):
                    Guarded("The aggregator scores", ScoreView, snap=snap, version=version)
