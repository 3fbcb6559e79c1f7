"""The Solara app without a browser: the page renders, steps, plays, isolates errors; the arbitrage
views; the snapshot's constant cost; `localmarl app`."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from types import MappingProxyType

import ipyvuetify as v
import ipywidgets
import numpy as np
import pytest
import solara
from matplotlib.backends.backend_agg import FigureCanvasAgg

from model.designs.arbitrage import PAPER, ArbitrageDesign
from model.model import MarketModel
from model.record import Recorder
from model.scenario import available_scenarios
from runs import results
from runs.policies import PolicyLoadError
from visualization import page, session
from visualization.designs import ViewsError, no_views, views_for
from visualization.designs import arbitrage as views
from visualization.figures import Drawing
from visualization.guard import Guarded
from visualization.page import Page, build
from visualization.session import Settings, policy_options, take_snapshot, trained_runs

_contexts = []


def render_page():
    _box, rc = solara.render(Page(), handle_error=False)
    _contexts.append(rc)
    wait_for(lambda: hour_text(rc).startswith("Hour 0 of 168"))  # the model builds in a thread
    return rc


@pytest.fixture(autouse=True)
def _close_pages(monkeypatch):
    """Close the pages a test rendered and wait for their threads (build, play, drawing) to end
    (a thread still inside the LP solver when Python exits aborts the process); before the test's
    monkeypatches are undone (a build in flight may depend on them)."""
    yield
    while _contexts:
        _contexts.pop().close()
    wait_for(lambda: not _page_threads())


def _page_threads():
    return [t for t in threading.enumerate() if "runner" in t.name and t.is_alive()]  # solara's use_thread


def texts(rc, cls: str) -> list[str]:
    return [w.children[0] for w in rc.find(v.Html, class_=cls).widgets]


def hour_text(rc) -> str:
    return rc.find(v.Html, class_="lm-hour").widget.children[0]


def click(rc, label: str):
    rc.find(v.Btn, children=[label]).widget.click()


def step(rc, hour: int):
    """Click Step and wait until the counter shows `hour` (a click renders in the clicking thread,
    unless another thread, e.g. a figure that finished drawing, is rendering: then in that one)."""
    click(rc, "Step")
    wait_for(lambda: hour_text(rc).startswith(f"Hour {hour} of 168"), timeout_s=30)


def describes(rc, words: str) -> bool:
    """Whether the model's description under the buttons contains `words`."""
    return any(words in str(w.children) for w in rc.find(v.Html).widgets)


def alerts(rc) -> list[str]:
    return [" ".join(map(str, a.children)) for a in rc.find(v.Alert).widgets]


def images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def slider(rc, starts: str):
    return next(s for s in rc.find(v.Slider).widgets if s.label.startswith(starts))


def wait_for(predicate, timeout_s: float = 120.0):  # generous: CI shares 2 cores with other tests
    """Poll `predicate` (threads re-render the page meanwhile) until it is true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (AssertionError, IndexError, ValueError, StopIteration):  # a widget can be mid-replacement
            pass
        time.sleep(0.05)
    raise AssertionError(f"condition not met within {timeout_s} s")


def drawn_images(rc) -> list[bytes]:
    """The page's images once every figure has finished drawing (its threads have ended)."""
    wait_for(lambda: not _page_threads())
    return images(rc)


# --- the page ------------------------------------------------------------------------------------

def test_page_steps_hours_and_draws_feeder_prices_and_scores():
    rc = render_page()
    assert hour_text(rc) == "Hour 0 of 168"
    assert texts(rc, "lm-status") == ["LEM price: no hour cleared yet"]
    before = drawn_images(rc)  # the figures before the first hour
    assert len(before) == 3 and all(i.startswith(b"\x89PNG") for i in before)
    reference = MarketModel(scenario="s-a", week="test:1", policy="truthful", seed=0)
    prices = []
    for hour in (1, 2, 3):
        step(rc, hour)  # the hour counter and the status line follow the click (the figures draw meanwhile)
        reference.step()
        prices.append(f"LEM price: {reference.hour_result.lem.price_eur_mwh:.2f} €/MWh")
        # another thread may be rendering the status line's texts one after the other: wait for all of them
        shown = f"Hour {hour} of 168 (last cleared: Mon 01 Jan {hour - 1:02d}:00 CET)", prices[-1]
        wait_for(lambda shown=shown: (hour_text(rc), texts(rc, "lm-status")[0]) == shown)
    assert prices[0] != prices[2]
    imgs = drawn_images(rc)
    assert len(imgs) == 3 and all(a != b for a, b in zip(imgs, before))  # feeder, prices, scores: all redrawn
    rc.find(v.BtnToggle).widget.v_model = 1  # colour the buses by DLMP: only the feeder redraws
    recoloured = drawn_images(rc)
    assert sum(a != b for a, b in zip(imgs, recoloured)) == 1
    assert alerts(rc) == []


def test_each_session_gets_its_own_model():
    first, second = render_page(), render_page()
    step(first, 1)
    step(first, 2)
    assert hour_text(second) == "Hour 0 of 168"


def test_changing_a_control_builds_a_new_model_and_reset_starts_over():
    rc = render_page()
    step(rc, 1)
    rc.find(v.Select, label="Scenario").widget.v_model = "s-a-swap"
    wait_for(lambda: describes(rc, "scenario s-a-swap") and hour_text(rc) == "Hour 0 of 168")
    rc.find(v.Select, label="Policy").widget.v_model = "rule"
    wait_for(lambda: describes(rc, "policy rule") and hour_text(rc) == "Hour 0 of 168")
    step(rc, 1)
    step(rc, 2)
    click(rc, "Reset")
    wait_for(lambda: hour_text(rc) == "Hour 0 of 168")
    assert describes(rc, "scenario s-a-swap, policy rule")
    # the page re-renders late when another thread is rendering; what comes meanwhile still counts:
    with rc:  # two changes before the page re-renders: both
        rc.find(v.Select, label="Scenario").widget.v_model = "s-a"
        rc.find(v.Select, label="Policy").widget.v_model = "random"
    wait_for(lambda: describes(rc, "scenario s-a, policy random") and hour_text(rc) == "Hour 0 of 168")
    step(rc, 1)
    with rc:  # Reset, then Step twice before the page re-renders: the two steps are the new model's
        click(rc, "Reset")
        click(rc, "Step")
        click(rc, "Step")
    wait_for(lambda: hour_text(rc).startswith("Hour 2 of 168"))


def test_controls_offer_every_scenario_the_designs_policies_and_its_options():
    rc = render_page()
    assert rc.find(v.Select, label="Scenario").widget.items == available_scenarios()
    policies = rc.find(v.Select, label="Policy").widget.items
    assert policies[:3] == list(ArbitrageDesign.policies)
    assert all(p.startswith(session.TRAINED_PREFIX) for p in policies[3:])
    swap = rc.find(v.Select, label="Location swap").widget
    assert swap.items == ["none", PAPER.location_swap, *PAPER.location_swap.split(",")]
    swap.v_model = PAPER.location_swap  # the design's own option builds a new model
    wait_for(lambda: rc.find(v.Select, label="Location swap").widget.v_model == PAPER.location_swap)
    wait_for(lambda: hour_text(rc) == "Hour 0 of 168" and alerts(rc) == [])
    step(rc, 1)


def test_sliders_show_their_values():
    rc = render_page()
    assert slider(rc, "Week").label == "Week: test:1 (of 12)"
    speed = slider(rc, "Play speed")
    assert speed.label == "Play speed: 10 hours/s"
    speed.v_model = 50  # the label follows once the page re-renders (maybe in a thread that is rendering now)
    wait_for(lambda: slider(rc, "Play speed").label == "Play speed: 50 hours/s")
    reference = MarketModel(scenario="s-a", week="test:3", policy="truthful", seed=0)
    reference.step()
    cleared = views.clock(take_snapshot(reference, views, "test:3"))
    assert not cleared.startswith("Mon 01 Jan")  # not the first week's first hour
    with rc:  # a Step clicked before the page re-renders (another thread is rendering) ...
        slider(rc, "Week").v_model = 3
        click(rc, "Step")
    # ... steps the new week's model, built after the click (not the old one, about to be replaced)
    wait_for(lambda: slider(rc, "Week").label == "Week: test:3 (of 12)" and describes(rc, "(test:3)")
             and hour_text(rc) == f"Hour 1 of 168 (last cleared: {cleared})")


def test_play_advances_hours_until_paused_and_then_draws_the_hour_it_stopped_at():
    rc = render_page()
    slider(rc, "Play speed").v_model = 50
    before = drawn_images(rc)
    click(rc, "Play")
    wait_for(lambda: int(hour_text(rc).split()[1]) >= 5)
    wait_for(lambda: click(rc, "Pause") is None)
    wait_for(lambda: rc.find(v.Btn, children=["Play"]).widget is not None)  # drawn as paused
    wait_for(lambda: not _page_threads())  # the hour under way is finished, its figures drawn
    hour = hour_text(rc)
    drawn = images(rc)
    assert all(a != b for a, b in zip(drawn, before))
    time.sleep(1.0)
    assert hour_text(rc) == hour and images(rc) == drawn  # no more hours, nothing left to draw
    assert alerts(rc) == []


def test_a_new_model_plays_at_its_speed_after_a_setting_changed_while_playing(monkeypatch):
    """Playing waits for its figures to be drawn; a replaced model's last figures must not hold up
    the next model's playing (here it would wait for them forever)."""
    monkeypatch.setattr(page, "FIGURE_WAIT_S", 3600.0)
    rc = render_page()
    slider(rc, "Play speed").v_model = 50
    click(rc, "Play")
    wait_for(lambda: int(hour_text(rc).split()[1]) >= 3)
    slider(rc, "Week").v_model = 2  # while playing: a new model, not playing
    wait_for(lambda: describes(rc, "(test:2)") and rc.find(v.Btn, children=["Play"]).widget is not None)
    click(rc, "Play")
    wait_for(lambda: int(hour_text(rc).split()[1]) >= 5)
    wait_for(lambda: click(rc, "Pause") is None)


def test_a_closed_drawing_is_waited_for_no_longer():
    """The page closes a model's `Drawing` when it stops showing the model: a play loop waiting for
    that model's figures (which will never be drawn) goes on at once."""
    drawing = Drawing()
    drawing.request("the hour's figures", 1)
    assert not drawing.wait_idle(0.01)
    threading.Timer(0.05, drawing.close).start()
    started = time.monotonic()
    assert drawing.wait_idle(60) and time.monotonic() - started < 30
    drawing.request("the hour's figures", 2)  # a late request of the replaced model's play loop
    assert drawing.wait_idle(0)


def test_a_failing_figure_shows_its_error_and_the_rest_of_the_page_still_draws(monkeypatch):
    def broken(self, snap):
        raise RuntimeError("no prices today")

    rc = render_page()
    monkeypatch.setattr(views.PricePainter, "draw", broken)
    step(rc, 1)
    wait_for(lambda: alerts(rc) == ["The price chart could not be drawn: RuntimeError: no prices today"])
    wait_for(lambda: len(images(rc)) == 2)  # the feeder and the scores
    monkeypatch.undo()  # fixed: the next step draws the figure again
    step(rc, 2)
    wait_for(lambda: alerts(rc) == [] and len(images(rc)) == 3)


def test_a_failing_status_line_shows_its_error_and_the_hour_still_counts(monkeypatch):
    rc = render_page()
    monkeypatch.setattr(views, "status", lambda snap: 1 / 0)
    step(rc, 1)
    wait_for(lambda: alerts(rc) == ["The status line could not be drawn: ZeroDivisionError: division by zero"])


def test_guarded_turns_an_exception_into_a_message():
    @solara.component
    def Broken():
        raise ValueError("bad input")

    @solara.component
    def Two():
        with solara.Column():
            Guarded("Broken view", Broken)
            solara.Text("sibling still here")

    _box, rc = solara.render(Two(), handle_error=False)
    assert alerts(rc) == ["Broken view could not be drawn: ValueError: bad input"]
    assert rc.find(v.Html, children=["sibling still here"]).widget is not None


def test_a_model_that_cannot_be_built_is_a_message():
    built = build(Settings(scenario="no-such-scenario"))
    assert built.model is None and "unknown scenario 'no-such-scenario'" in built.error
    built = build(Settings(policy="trained:no-such-run"))
    assert built.model is None and "could not load the trained run" in built.error and "no-such-run" in built.error


# --- the views plug-ins ----------------------------------------------------------------------------

def test_views_are_loaded_by_the_name_the_design_gives():
    assert ArbitrageDesign.plugins["views"] == "visualization.designs.arbitrage"
    assert views_for(ArbitrageDesign) is views
    model = MarketModel(week="test:1")
    assert views_for(model.design) is views

    class NoViews:
        name, plugins = "toy", MappingProxyType({})

    class BadViews:
        name, plugins = "toy", MappingProxyType({"views": "no.such.module"})

    with pytest.raises(ViewsError, match="design 'toy' names no views module"):
        views_for(NoViews)
    with pytest.raises(ViewsError, match="cannot import its views module 'no.such.module'"):
        views_for(BadViews)
    stand_in = no_views("no views for toy")
    _box, rc = solara.render(stand_in.Views(snap=None), handle_error=False)
    assert alerts(rc) == ["no views for toy"]


def test_another_design_brings_its_own_policies_and_a_design_without_views_still_steps(monkeypatch):
    monkeypatch.setenv("LOCALMARL_SCENARIO_PATH", str(Path(__file__).parent))  # tests/toy_pool.toml
    rc = render_page()
    rc.find(v.Select, label="Scenario").widget.v_model = "toy_pool"  # tests/toy_design.py: no views plug-in
    # (one condition: another thread may be updating the page's widgets one after the other)
    wait_for(lambda: describes(rc, "scenario toy-pool, policy truthful") and hour_text(rc) == "Hour 0 of 168"
             and rc.find(v.Select, label="Policy").widget.items[:2] == ["truthful", "random"]
             and rc.find(v.Select, label="Location swap").widgets == [])  # the arbitrage design's option is gone
    wait_for(lambda: len(alerts(rc)) == 1)
    assert "market design 'two-seller-pool' names no views module" in alerts(rc)[0]
    step(rc, 1)


def test_the_page_imports_no_design_views_by_name():
    code = ("import sys, visualization.page; print(sorted(m for m in sys.modules "
            "if m.startswith('visualization.designs.') or m == 'model.designs.arbitrage'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_snapshot_cost_does_not_grow_with_the_hour(monkeypatch):
    """A snapshot references the record's columns (no copy, no `record.frame`), so it costs the
    same at hour 1 and hour 167."""
    def no_frames(self, *a, **k):
        raise AssertionError("take_snapshot must not rebuild tables (Recorder.frame)")

    monkeypatch.setattr(Recorder, "frame", no_frames)
    monkeypatch.setattr(results, "tables", no_frames)
    model = MarketModel(week="test:1")
    sizes = {}
    for hours in (1, 167):
        model.run_hours(hours - model.hours_done)
        snap = take_snapshot(model, views, "test:1")
        d = snap.detail
        arrays = [*d.market.values(), *d.aggregators.values(), d.bus_dlmp_eur_mwh]
        # every array is a view of the record's own storage: nothing was copied
        assert all(not a.flags.owndata and not a.flags.writeable for a in arrays)
        assert np.shares_memory(d.market["lem_price_eur_mwh"], model.record.column("market", "lem_price_eur_mwh"))
        assert np.shares_memory(d.bus_dlmp_eur_mwh, model.record.column("buses", "dlmp_eur_mwh"))
        assert len(d.market["lem_price_eur_mwh"]) == hours
        sizes[hours] = sum(a.nbytes for a in arrays if a.flags.owndata)
    assert sizes == {1: 0, 167: 0}
    assert take_snapshot(model, views, "test:1").detail.grid is d.grid  # the feeder's facts: once per model


def test_policy_options_are_the_designs_policies_then_the_trained_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "runs" / "out"  # where `localmarl train` writes from this working directory
    (out / "final").mkdir(parents=True)
    (out / "final" / "policy.json").write_text("not json")
    (out / "sweep" / "seed1" / "checkpoints").mkdir(parents=True)
    (out / "sweep" / "seed1" / "checkpoints" / "ep000100.json").write_text("{}")
    (out / "simulate-only").mkdir()
    (out / "simulate-only" / "config.json").write_text("{}")
    (out / "final" / "snapshots" / "ep000100").mkdir(parents=True)  # `--snapshot-every`: a run's, not runs
    (out / "final" / "snapshots" / "ep000100" / "policy.json").write_text("{}")
    assert session.trained_runs([out / "final" / "snapshots"]) == []
    assert session.trained_roots() == [tmp_path / "runs" / "out", session.REPO_RUNS_OUT]
    assert trained_runs([out]) == [out / "final", out / "sweep" / "seed1"]
    assert policy_options(ArbitrageDesign, [out]) == ["truthful", "random", "rule", "trained:runs/out/final",
                                                      "trained:runs/out/sweep/seed1"]
    assert {"trained:runs/out/final", "trained:runs/out/sweep/seed1"} <= set(policy_options(ArbitrageDesign))
    assert trained_runs([tmp_path / "missing"]) == []
    elsewhere = tmp_path.parent / f"{tmp_path.name}-elsewhere"
    assert session.run_label(elsewhere / "x") == (elsewhere / "x").as_posix()  # outside: an absolute path
    with pytest.raises(PolicyLoadError, match="could not load the trained run .*final"):
        session.build_model(Settings(policy="trained:runs/out/final"))


def test_page_plays_a_trained_run_on_its_own_scenario_and_says_so_while_loading(tmp_path, monkeypatch):
    from agents.learning.hyperparams import HyperParams
    from runs.training import train

    scenario = tmp_path / "toy-s-a.toml"
    scenario.write_text('extends = "s-a"\nname = "toy-s-a"\n\n[data]\nsource = "synthetic"\n')
    train(str(scenario), out=tmp_path / "runs" / "out" / "toy", episodes=1, seed=0, eval_every=1, progress=False,
          hp=HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16))
    monkeypatch.chdir(tmp_path)
    rc = render_page()
    policy = rc.find(v.Select, label="Policy").widget
    assert "trained:runs/out/toy" in policy.items
    loaded = threading.Event()  # hold the build until the test has seen the page say it is loading
    build_model = page.build_model
    monkeypatch.setattr(page, "build_model", lambda settings: (loaded.wait(30), build_model(settings))[1])
    policy.v_model = "trained:runs/out/toy"
    wait_for(lambda: "loading the trained policy …" in [w.children[0] for w in rc.find(v.Html).widgets if w.children]
             and rc.find(v.Btn, children=["Step"]).widget.disabled)  # no model to step meanwhile
    loaded.set()
    wait_for(lambda: describes(rc, "scenario toy-s-a, policy hmaddpg") and hour_text(rc) == "Hour 0 of 168"
             and rc.find(v.Select, label="Scenario").widget.disabled)
    step(rc, 1)
    step(rc, 2)
    assert alerts(rc) == []


# --- the arbitrage figures -------------------------------------------------------------------------

def test_tree_layout_puts_the_slack_on_top_and_parents_over_children():
    fd = MarketModel(week="test:1").design.feeder
    xy = views.tree_layout(fd.parent)
    assert xy[0, 1] == 0 and np.all(xy[1:, 1] < 0)
    assert len({tuple(p) for p in xy}) == fd.n_bus  # no two buses on one spot
    for i in range(fd.n_bus):
        kids = fd.children(i)
        for j in kids:
            assert xy[j, 1] == xy[i, 1] - 1
        if kids:
            assert xy[i, 0] == pytest.approx(np.mean(xy[kids, 0]))


def _texts(fig) -> dict[str, tuple[float, float]]:
    return {t.get_text(): t.get_position() for t in fig.axes[0].texts if t.get_text()}


def test_feeder_figure_labels_aggregators_at_their_buses_and_marks_flexibility():
    model = MarketModel(scenario="s-a", week="test:1", location_swap=PAPER.location_swap)
    while model.hour_result is None or model.hour_result.lfm.up_mw.sum() + model.hour_result.lfm.dn_mw.sum() < 1e-6:
        model.step()
    snap = take_snapshot(model, views, "test:1")
    painter = views.FeederPainter(snap.detail.grid)
    texts_ = _texts(painter.draw(snap, "voltage"))
    xy = views.tree_layout(model.design.feeder.parent)
    # with 5<->9 swapped, aggregator 9's label sits next to CIGRE bus 5
    assert np.allclose(texts_["A9"], xy[model.design.feeder.index_of(5)] + (0.2, 0.13))
    lfm = model.hour_result.lfm
    flex = [views.flex_label(u, d) for u, d in zip(lfm.up_mw, lfm.dn_mw) if u > 1e-6 or d > 1e-6]
    assert flex and sorted(t for t in texts_ if t.startswith("flex")) == sorted(flex)
    assert views.flex_label(0.5, 0.0) == "flex +0.50 MW" and views.flex_label(0, 0.3) == "flex -0.30 MW"
    assert views.flex_label(0.5, 0.3) == "flex +0.50 / -0.30 MW" and views.flex_label(0, 0) is None
    loading = views.line_loading(snap)
    assert loading[0] == 0 and np.all(loading[1:] > 0)
    # the same painter redraws the next hours, in the other colouring too, keeping one label per aggregator
    for _ in range(3):
        model.step()
        fig = painter.draw(take_snapshot(model, views, "test:1"), "DLMP")
    labels = [t for t in _texts(fig) if t.startswith("A")]
    assert sorted(labels) == sorted(f"A{i}" for i in model.scenario.aggregator_ids)
    assert fig._suptitle.get_text() == "Feeder, buses by DLMP"


def test_price_legends_sit_beside_the_axes_not_over_the_first_hours():
    model = MarketModel(week="test:1")
    model.run_hours(30)
    fig = views.price_figure(take_snapshot(model, views, "test:1"))
    renderer = FigureCanvasAgg(fig).get_renderer()
    for ax in fig.axes[:2]:
        legend = ax.get_legend().get_window_extent(renderer)
        assert legend.x0 >= ax.get_window_extent(renderer).x1  # right of the plotting area
    lines = fig.axes[0].get_lines()
    assert [line.get_label() for line in lines] == [label for _, label, _ in views.PRICE_LINES]
    assert len(lines[0].get_xdata()) == 30
    lo, hi = fig.axes[0].get_ylim()  # the axis follows the prices
    prices = np.concatenate([line.get_ydata() for line in lines])
    assert lo < prices.min() and prices.max() < hi and hi - lo < 2 * (prices.max() - prices.min()) + 10


def test_score_totals_match_the_recorded_tables():
    model = MarketModel(week="test:1")
    model.run_hours(30)
    tot = views.aggregator_totals(take_snapshot(model, views, "test:1"))
    agg = model.record.frame("aggregators")
    per = agg.groupby("aggregator")[["r1", "r2", "up_mw", "dn_mw", "withhold"]]
    ids = list(model.scenario.aggregator_ids)
    sums, means = per.sum().loc[ids], per.mean().loc[ids]
    assert np.allclose(tot["r1"], sums["r1"]) and np.allclose(tot["total"], sums["r1"] + sums["r2"])
    assert np.allclose(tot["up_mw"], sums["up_mw"]) and np.allclose(tot["dn_mw"], sums["dn_mw"])
    assert np.allclose(tot["withheld"], means["withhold"])


# --- localmarl app ----------------------------------------------------------------------------------

def test_localmarl_app_execs_solara_run_with_telemetry_off(monkeypatch):
    from runs import app_cli
    from runs.cli import main

    calls = []
    monkeypatch.setattr(app_cli.os, "execve", lambda path, argv, env: calls.append((path, argv, env)))
    main(["app"])
    main(["app", "--host", "0.0.0.0", "--port", "9000", "--dev"])
    (path, argv, env), (_, argv_dev, _) = calls
    assert path == sys.executable
    assert argv == [sys.executable, "-m", "solara", "run", str(app_cli.APP_PATH),
                    "--host", "127.0.0.1", "--port", "8765", "--no-check-version", "--production"]
    assert app_cli.APP_PATH.name == "app.py" and app_cli.APP_PATH.is_file()
    assert env["SOLARA_TELEMETRY_MIXPANEL_ENABLE"] == "False"
    assert argv_dev[-5:] == ["--host", "0.0.0.0", "--port", "9000", "--no-check-version"]


@pytest.mark.parametrize("args, message", [
    (["--port", "99999"], "localmarl app: error: --port must be from 1 to 65535, got 99999"),
    (["--port", "0"], "localmarl app: error: --port must be from 1 to 65535, got 0"),
    (["--port", "http"], "localmarl app: error: --port must be a whole number from 1 to 65535, got 'http'"),
    (["--host", "my host"], "localmarl app: error: --host must be an IP address or a host name "
                            "(e.g. 127.0.0.1, 0.0.0.0, localhost), got 'my host'"),
    (["--host", "300.1.2.3"], "localmarl app: error: --host must be an IP address or a host name "
                              "(e.g. 127.0.0.1, 0.0.0.0, localhost), got '300.1.2.3'"),
])
def test_localmarl_app_rejects_a_bad_port_or_host_in_one_line(args, message):
    out = subprocess.run([sys.executable, "-m", "runs.cli", "app", *args], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    assert out.stderr.strip() == message and out.stdout == ""


def test_app_cli_import_is_light():
    code = ("import sys, runs.app_cli; "
            "heavy = {'solara', 'matplotlib', 'model.model'} & set(sys.modules); print(sorted(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


class _SlowDrawingRunner:
    """What `Runner.play_loop` uses, with figures that take `draw_s` to draw (a slow machine) and a
    week of hours that step at once: counts the hours played and the drawings."""

    def __init__(self, draw_s: float, hours: int):
        self.draw_s, self.hours_left, self.hours, self.draws = draw_s, hours, 0, 0
        self.signals = type("S", (), {})()
        self.signals.playing = solara.reactive(True)
        self.signals.speed = solara.reactive(50.0)
        self._shown_at = 0.0
        self.drawing = self

    def advance(self) -> bool:
        if self.hours_left == 0:
            return False
        self.hours_left -= 1
        self.hours += 1
        return True

    def show_figures(self):
        self._shown_at = time.monotonic()
        self.draws += 1

    def wait_idle(self, timeout_s: float) -> bool:
        time.sleep(min(self.draw_s, timeout_s))
        return True


def test_play_keeps_its_speed_when_figures_draw_slower_than_their_interval():
    """Figures that take longer to draw than `FIGURE_INTERVAL_S` (0.6 s: stop 31's machine) are drawn
    at most every `FIGURE_DRAW_FACTOR` x that time, so the hours keep close to the speed, instead of
    every hour waiting for a full drawing (1.6 hours/s at 50 hours/s)."""
    slow = _SlowDrawingRunner(draw_s=0.6, hours=100)
    page.Runner.play_loop(slow, threading.Event())
    assert slow.hours == 100 and not slow.signals.playing.value  # the whole week, then stopped
    # the first hour, about every 2.4 s, and the hour it stopped at: 100 drawings without the rule
    assert 2 <= slow.draws <= 6
