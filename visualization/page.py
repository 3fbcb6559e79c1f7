"""The app's page, the same for every market design: controls on the left; the hour and the design's
views on the right.

Every browser session renders its own `Page`, so each builds and steps its own model. The model is
built in a background thread (a trained policy takes seconds to load; the page says so meanwhile).
What it draws comes from the design's views module (`visualization.designs.views_for`).

Speed: one market hour costs well under a millisecond; drawing its figures costs ~100 times
more. So the parts of the page redraw at different rates:

- the hour counter and the design's status line redraw after every hour (`Signals.tick`);
- the design's figures redraw after every Step, on Pause and at most every `FIGURE_INTERVAL_S`
  while playing (`Signals.figures`), and they draw off the render path (`visualization.figures`);
- the controls redraw only when a setting changes.

Each part reads only the reactive values it shows, so solara re-renders that part alone.

Threads: the model builds, plays and draws in threads, and a render asked for while another thread
renders happens later, in that thread. So on a busy machine a click can come before the page shows
the last change. The buttons' handlers therefore never change, and they act on what the settings
ask for when the click comes: a Step after a settings change or Reset steps the new model once it
is built (`Stepper`), and a control change starts from the latest settings (`Controls`).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from dataclasses import dataclass

import solara

from model.scenario import available_scenarios
from visualization.designs import ViewsError, no_views, views_for
from visualization.figures import Drawing, drawing_context
from visualization.guard import Guarded
from visualization.session import (
    WEEK_SETS,
    Settings,
    Snapshot,
    build_model,
    design_of,
    policy_options,
    take_snapshot,
    weeks_in_set,
)

log = logging.getLogger(__name__)

DEFAULT_TITLE = "localmarl: agent-based local electricity markets"
#: While playing, the figures redraw at most this often (seconds); the hour counter every hour.
FIGURE_INTERVAL_S = 0.5
#: ... and playing waits for them to be drawn, at most this long (seconds).
FIGURE_WAIT_S = 2.0
#: ... and where drawing is slow (a slower machine), at most every this many times the last drawing's time, so
#: that drawing takes at most about a fifth of playing and the hours keep to the speed (0.6 s figures: every 2.4 s).
FIGURE_DRAW_FACTOR = 4.0
#: Playing keeps to its speed by catching up after drawing, but never by more than this (seconds).
CATCH_UP_S = 0.5
#: The Play speed slider's range and start (hours/s).
SPEED_MIN, SPEED_MAX, SPEED_DEFAULT = 1, 50, 10

_ticks = itertools.count(1)  # values for the tick signals: every set is a change


@dataclass(frozen=True, eq=False)
class Signals:
    """One session's reactive values; each part of the page reads only those it shows."""

    generation: solara.Reactive[int]  # Reset bumps it: a new model with the same settings
    playing: solara.Reactive[bool]
    speed: solara.Reactive[int]  # hours per second while playing
    tick: solara.Reactive[int]  # a new number after every hour: the status line redraws
    figures: solara.Reactive[int]  # a new number when the figures should redraw
    running: solara.Reactive[bool]  # whether the model has hours left (the Step and Play buttons)
    step_error: solara.Reactive[str | None]

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


@dataclass(frozen=True, eq=False)
class Built:
    """A model built for `key` = (settings, generation), its views module and first snapshot, or
    the error that prevented it."""

    key: tuple
    model: object | None = None
    views: object | None = None
    first: Snapshot | None = None
    error: str | None = None


def load_views(design):
    """The views module of a design class or instance; stand-in views saying why if it has none."""
    try:
        return views_for(design)
    except ViewsError as e:
        log.warning("%s", e)
        return no_views(str(e))


def build(settings: Settings, generation: int = 0) -> Built:
    """The session's model, views and first snapshot for `settings`; an error becomes a message."""
    key = (settings, generation)
    try:
        model = build_model(settings)
    except Exception as e:  # noqa: BLE001 - shown in the page; the controls stay usable
        log.exception("could not build the model for %s", settings)
        return Built(key, error=f"Could not build the model: {type(e).__name__}: {e}")
    views = load_views(model.design)
    return Built(key, model, views, take_snapshot(model, views, settings.week_spec))


def _design_or_none(scenario: str):
    try:
        return design_of(scenario)
    except Exception:  # noqa: BLE001 - a broken scenario file: building it shows the error
        return None


class Runner:
    """Step and play one session's model; keeps its latest snapshot and the one the figures show.

    Its `drawing` knows which of this model's figures are still drawing (the play loop waits for
    them). One per model, closed when the page stops showing the model: a replaced model's play
    loop does not wait for figures that will never be drawn, and its last request to draw cannot
    hold up the next model's play loop.
    """

    def __init__(self, built: Built, signals: Signals):
        self.key, self.model, self.views, self.signals = built.key, built.model, built.views, signals
        self.drawing = Drawing()
        self.week_spec = built.key[0].week_spec
        self.lock = threading.Lock()  # held while the model steps and is copied into a snapshot
        self.latest: Snapshot = built.first  # after the latest hour: the status line
        self.shown: Snapshot = built.first  # what the figures show
        self._shown_at = 0.0

    @property
    def description(self) -> str:
        m = self.model
        return f"scenario {m.scenario.name}, policy {m.policy_name}, week {self.latest.week} ({self.week_spec})"

    def start(self):
        """Once the page shows this runner: its buttons follow its model."""
        self.signals.running.set(self.latest.running)

    def advance(self) -> bool:
        """Clear one hour and show it in the status line; False when the week is done or the step failed."""
        try:
            with self.lock:
                if not self.model.running:
                    return False
                self.model.step()
                snap = take_snapshot(self.model, self.views, self.week_spec)
        except Exception as e:  # noqa: BLE001 - a failing hour stops the run with a message
            log.exception("step failed")
            self.signals.step_error.set(f"Step failed: {type(e).__name__}: {e}")
            self.signals.playing.set(False)
            return False
        self.latest = snap
        self.signals.running.set(snap.running)
        self.signals.tick.set(next(_ticks))
        return True

    def show_figures(self):
        """Redraw the figures for the latest hour."""
        self.shown, self._shown_at = self.latest, time.monotonic()
        tick = next(_ticks)
        self.drawing.request(self, tick)  # done once `Figures` has rendered it (and its figures asked to draw)
        self.signals.figures.set(tick)

    def step(self):
        """The Step button: one hour, then its figures."""
        if self.advance():
            self.show_figures()

    def play_loop(self, cancel: threading.Event):
        """Runs in a thread while playing; stops when paused, when the model changes, or at the end.
        The status line follows every hour, the figures every `FIGURE_INTERVAL_S` (and playing
        waits until they are drawn: on busy cores they would otherwise fall seconds behind), or every
        `FIGURE_DRAW_FACTOR` times their last drawing time where that is longer (a slow machine: the
        hours keep to the speed), and always the hour at which playing stopped."""
        if not self.signals.playing.value:
            return
        due = time.monotonic()  # when the next hour is due: hours keep to the speed, drawing included
        interval_s = FIGURE_INTERVAL_S
        try:
            while not cancel.is_set():
                if not self.advance():
                    break
                if time.monotonic() - self._shown_at >= interval_s:
                    self.show_figures()
                    self.drawing.wait_idle(FIGURE_WAIT_S)
                    interval_s = max(FIGURE_INTERVAL_S, FIGURE_DRAW_FACTOR * (time.monotonic() - self._shown_at))
                now = time.monotonic()
                due = max(due + 1.0 / self.signals.speed.value, now - CATCH_UP_S)
                cancel.wait(max(0.0, due - now))
        finally:
            self.show_figures()
        if not cancel.is_set():
            self.signals.playing.set(False)


class Stepper:
    """The Step button of one page: a click steps the model that the settings ask for at that moment.

    The button's handler is this one object's `click` for the page's whole life, so a click never
    goes to a handler of a model that is being replaced. After a settings change (or Reset), the
    page re-renders after the new model is built, and on a busy machine the re-render itself can
    come late (another thread is rendering); a click meanwhile is kept and steps the new model once
    the page shows it, instead of stepping the old model that is about to be thrown away.
    """

    def __init__(self, wanted):
        self._wanted = wanted  # () -> the key (settings, generation) of the model the settings ask for
        self._lock = threading.Lock()
        self._runner: Runner | None = None  # the model the page shows
        self._waiting: tuple[object, int] = (None, 0)  # (key of a model being built, clicks for it)

    def click(self):
        with self._lock:
            runner, key = self._runner, self._wanted()
            if runner is None or runner.key != key:
                waiting_for, clicks = self._waiting
                self._waiting = (key, clicks + 1 if waiting_for == key else 1)
                return
        runner.step()

    def show(self, built: Built | None, runner: Runner | None):
        """The page now shows `built` (None: a model is being built) and its `runner` (None: no model)."""
        with self._lock:
            self._runner = runner
            waiting_for, clicks = self._waiting
            if (built is not None and built.key == waiting_for) or waiting_for != self._wanted():
                self._waiting = (None, 0)  # for the model now shown (or that failed to build), or no longer wanted
        if runner is not None:
            runner.start()
            for _ in range(clicks if waiting_for == runner.key else 0):
                runner.step()


# --- the parts of the page -------------------------------------------------------------------------
@solara.component
def Controls(settings: solara.Reactive[Settings], design, views, on_change):
    """Scenario, week, policy and the design's own options; a change calls `on_change`, then builds a
    new model. `design` is the design class of the model (or of the chosen scenario)."""
    s = settings.value
    # a change starts from the settings as they are when it comes, not as this render saw them: two
    # changes before the page re-renders (on a busy machine) must both count

    def update(change):
        on_change()
        settings.set(change(settings.value))

    def set_field(**kw):
        update(lambda now: Settings(**(vars(now) | kw)))

    def set_scenario(name: str):
        new = _design_or_none(name)
        now = settings.value
        if new is not None and new is not _design_or_none(now.scenario):  # another design: its own policies and options
            set_field(scenario=name, policy=new.policies[0] if new.policies else now.policy, overrides=())
        else:
            set_field(scenario=name)

    solara.Select("Scenario", values=available_scenarios(), value=s.scenario, disabled=s.trained, on_value=set_scenario)
    if s.trained:
        solara.Text("a trained policy plays the scenario it was trained on",
                    style={"font-size": "0.8em", "color": "#555"})
    solara.Select("Week set", values=list(WEEK_SETS), value=s.week_set,
                  on_value=lambda v: set_field(week_set=v, week_number=1))
    n_weeks = weeks_in_set(s.week_set)
    if n_weeks > 1:
        solara.SliderInt(f"Week: {s.week_set}:{s.week_number} (of {n_weeks})", value=s.week_number, min=1, max=n_weeks,
                         on_value=lambda v: set_field(week_number=v))
    policies = policy_options(design) if design is not None else [s.policy]
    solara.Select("Policy", values=policies if s.policy in policies else [*policies, s.policy], value=s.policy,
                  on_value=lambda v: set_field(policy=v))
    design_controls = getattr(views, "Controls", None)
    if design_controls is not None:
        design_controls(dict(s.overrides), lambda key, value: update(lambda now: now.with_override(key, value)))


@solara.component
def SpeedSlider(speed: solara.Reactive[int]):
    solara.SliderInt(f"Play speed: {speed.value} hours/s", value=speed, min=SPEED_MIN, max=SPEED_MAX)


def _not_playing(cancel: threading.Event):
    return None


@solara.component
def RunButtons(runner: Runner | None, signals: Signals, on_step):
    """Step, Play/Pause, Reset (Step and Play disabled while no model is ready); the play thread
    lives here (it follows `playing`). Each button's handler is the same for the page's whole life."""
    playing = signals.playing.value
    play_loop = runner.play_loop if runner is not None else _not_playing
    solara.use_thread(play_loop, dependencies=[playing, runner], intrusive_cancel=False)
    can_step = runner is not None and signals.running.value and not playing
    with solara.Row(gap="6px", style={"flex-wrap": "wrap"}):
        solara.Button("Step", on_click=on_step, disabled=not can_step, color="primary")
        if playing:
            solara.Button("Pause", on_click=signals.pause, color="warning")
        else:
            solara.Button("Play", on_click=signals.play, disabled=not can_step)
        solara.Button("Reset", on_click=signals.reset)


@solara.component
def DesignStatus(views, snap: Snapshot):
    with solara.Row(gap="24px", style={"flex-wrap": "wrap", "align-items": "baseline"}):
        for i, line in enumerate(views.status(snap)):
            solara.Text(line, classes=["lm-status"], style={"font-weight": "bold"} if i == 0 else {})


@solara.component
def StatusLine(runner: Runner, tick: solara.Reactive[int]):
    """The hour counter (the browser test reads `.lm-hour`) and the design's status texts (`.lm-status`)."""
    tick.value  # noqa: B018 - read to redraw after every hour
    snap = runner.latest
    hour_text = f"Hour {snap.hours_done} of {snap.n_hours_total}"
    clock = getattr(runner.views, "clock", None)
    when = clock(snap) if clock is not None and snap.hour is not None else None
    if when:
        hour_text += f" (last cleared: {when})"
    if not snap.running:
        hour_text += ", week done: reset or pick another week"
    with solara.Row(gap="24px", style={"flex-wrap": "wrap", "align-items": "baseline"}):
        solara.Text(hour_text, classes=["lm-hour"], style={"font-size": "1.15em", "font-weight": "bold"})
        Guarded("The status line", DesignStatus, views=runner.views, snap=snap)


@solara.component
def Figures(runner: Runner, figures: solara.Reactive[int]):
    tick = figures.value  # read to redraw when the runner says
    drawing_context.provide(runner.drawing)  # the figures tell the runner when they are drawn
    solara.use_effect(lambda: runner.drawing.done(runner, tick), [runner, tick])
    # another model shown (or none): a play loop of this one stops waiting for figures it will never see
    solara.use_effect(lambda: runner.drawing.close, [runner])
    Guarded("The views", runner.views.Views, snap=runner.shown)


@solara.component
def StepError(step_error: solara.Reactive[str | None]):
    if step_error.value:
        solara.Error(step_error.value)


@solara.component
def Loading(trained: bool):
    with solara.Column(gap="4px", classes=["lm-loading"]):
        solara.ProgressLinear(True)
        solara.Text("loading the trained policy …" if trained else "building the model …")


@solara.component
def Page():
    settings = solara.use_reactive(Settings())
    reactives = (solara.use_reactive(0), solara.use_reactive(False), solara.use_reactive(SPEED_DEFAULT),
                 solara.use_reactive(0), solara.use_reactive(0), solara.use_reactive(False), solara.use_reactive(None))
    signals = solara.use_memo(lambda: Signals(*reactives), [])
    stepper = solara.use_memo(lambda: Stepper(lambda: (settings.value, signals.generation.value)), [])

    # the model builds off the render path: a trained policy takes seconds to load
    key = (settings.value, signals.generation.value)
    result = solara.use_thread(lambda: build(*key), dependencies=list(key), intrusive_cancel=False)
    built = result.value if result.value is not None and result.value.key == key else None
    ready = built is not None and built.model is not None
    runner = solara.use_memo(lambda: Runner(built, signals) if ready else None, [built])
    solara.use_effect(lambda: stepper.show(built, runner), [built, runner])

    design = type(runner.model.design) if runner is not None else _design_or_none(settings.value.scenario)
    views = solara.use_memo(lambda: load_views(design) if design is not None else None, [design])

    solara.Title("localmarl")
    with solara.Column(style={"padding": "12px"}, gap="8px"):
        # (not solara.Markdown: it loads KaTeX, which solara-assets does not ship, so it would need the internet)
        solara.Text(getattr(views, "TITLE", DEFAULT_TITLE), style={"font-size": "1.5em", "font-weight": "500"})
        with solara.Columns([1, 5], gutters_dense=True):
            with solara.Card("Model", margin=0):
                Controls(settings, design, views, on_change=signals.stop)
                RunButtons(runner, signals, stepper.click)
                SpeedSlider(signals.speed)
                if runner is not None:
                    solara.Text(runner.description, style={"font-size": "0.85em", "color": "#555"})
            with solara.Column(gap="8px"):
                if built is None:
                    Loading(settings.value.trained)
                elif built.error:
                    solara.Error(built.error)
                else:
                    StepError(signals.step_error)
                    with solara.Card(margin=0):
                        StatusLine(runner, signals.tick)
                    Figures(runner, signals.figures)

