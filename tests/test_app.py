"""The Solara app without a browser: the page renders, steps, plays, isolates errors; `localmarl app`."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import ipyvuetify as v
import ipywidgets
import numpy as np
import pytest
import solara

from agents.policies import PolicyLoadError
from model.model import LocalMarketModel
from runs import results
from visualization import charts, feeder_view
from visualization.guard import Guarded
from visualization.page import Page, _build
from visualization.session import (
    Settings,
    policy_options,
    resolve_policy,
    take_snapshot,
    trained_runs,
)


_contexts = []


def render_page():
    _box, rc = solara.render(Page(), handle_error=False)
    _contexts.append(rc)
    return rc


@pytest.fixture(autouse=True)
def _close_pages():
    """Close the pages a test rendered and wait for their play threads to end (a thread still
    inside the LP solver when Python exits aborts the process)."""
    yield
    while _contexts:
        _contexts.pop().close()
    wait_for(lambda: not _play_threads())


def _play_threads():
    return [t for t in threading.enumerate() if "runner" in t.name and t.is_alive()]


def text(rc, cls: str) -> str:
    return rc.find(v.Html, class_=cls).widget.children[0]


def click(rc, label: str):
    rc.find(v.Btn, children=[label]).widget.click()


def alerts(rc) -> list[str]:
    return [" ".join(map(str, a.children)) for a in rc.find(v.Alert).widgets]


def images(rc) -> list[bytes]:
    return [bytes(w.value) for w in rc.find(ipywidgets.Image).widgets]


def wait_for(predicate, timeout_s: float = 120.0):  # generous: CI shares 2 cores with other tests
    """Poll `predicate` (the play thread re-renders the page meanwhile) until it is true."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except (AssertionError, IndexError, ValueError):  # a widget can be mid-replacement while the thread renders
            pass
        time.sleep(0.1)
    raise AssertionError(f"condition not met within {timeout_s} s")


def test_page_steps_hours_and_draws_feeder_prices_and_scores():
    rc = render_page()
    assert text(rc, "lm-hour") == "Hour 0 of 168"
    assert text(rc, "lm-price") == "LEM price: no hour cleared yet"
    reference = LocalMarketModel(scenario="s-a", week="test:1", policy="truthful", seed=0)
    prices = []
    for hour in (1, 2, 3):
        click(rc, "Step")
        reference.step()
        assert text(rc, "lm-hour") == f"Hour {hour} of 168 (last cleared: Mon 01 Jan {hour - 1:02d}:00 CET)"
        prices.append(text(rc, "lm-price"))
        assert prices[-1] == f"LEM price: {reference.hour_result.lem_price_eur_mwh:.2f} €/MWh"
    assert prices[0] != prices[2]
    imgs = images(rc)
    assert len(imgs) == 3 and all(img.startswith(b"\x89PNG") for img in imgs)  # feeder, prices, scores
    rc.find(v.BtnToggle).widget.v_model = 1  # colour the buses by DLMP: only the feeder redraws
    assert sum(a != b for a, b in zip(imgs, images(rc))) == 1
    assert alerts(rc) == []


def test_each_session_gets_its_own_model():
    first, second = render_page(), render_page()
    click(first, "Step")
    click(first, "Step")
    assert text(first, "lm-hour").startswith("Hour 2 of 168")
    assert text(second, "lm-hour") == "Hour 0 of 168"


def test_changing_a_control_builds_a_new_model_and_reset_starts_over():
    rc = render_page()
    click(rc, "Step")
    rc.find(v.Select, label="Scenario").widget.v_model = "s-a-swap"
    assert text(rc, "lm-hour") == "Hour 0 of 168"
    assert any("scenario s-a-swap" in str(w.children) for w in rc.find(v.Html).widgets)
    rc.find(v.Select, label="Policy").widget.v_model = "rule"
    assert any("policy rule" in str(w.children) for w in rc.find(v.Html).widgets)
    click(rc, "Step")
    click(rc, "Step")
    assert text(rc, "lm-hour").startswith("Hour 2 of 168")
    click(rc, "Reset")
    assert text(rc, "lm-hour") == "Hour 0 of 168"
    assert any("scenario s-a-swap, policy rule" in str(w.children) for w in rc.find(v.Html).widgets)


def test_play_advances_hours_until_paused():
    rc = render_page()
    click(rc, "Play")
    wait_for(lambda: int(text(rc, "lm-hour").split()[1]) >= 2)
    wait_for(lambda: click(rc, "Pause") is None)
    wait_for(lambda: rc.find(v.Btn, children=["Play"]).widget is not None)  # drawn as paused
    wait_for(lambda: not _play_threads())  # an hour under way when Pause came is finished and drawn
    hour = text(rc, "lm-hour")
    time.sleep(1.0)
    assert text(rc, "lm-hour") == hour  # no more hours
    assert alerts(rc) == []


def test_a_failing_view_shows_its_error_and_the_rest_of_the_page_still_draws(monkeypatch):
    def broken(snap):
        raise RuntimeError("no prices today")

    monkeypatch.setattr(charts, "price_figure", broken)
    rc = render_page()
    click(rc, "Step")
    assert alerts(rc) == ["The price chart could not be drawn: RuntimeError: no prices today"]
    assert len(images(rc)) == 2  # the feeder and the scores
    assert text(rc, "lm-hour").startswith("Hour 1 of 168")
    monkeypatch.undo()  # fixed: the next step draws the view again
    click(rc, "Step")
    assert alerts(rc) == []
    assert len(images(rc)) == 3


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
    model, error = _build(Settings(scenario="no-such-scenario"))
    assert model is None and "unknown scenario 'no-such-scenario'" in error
    model, error = _build(Settings(policy="trained:no-such-run"))
    assert model is None and "could not load the trained run" in error and "no-such-run" in error


def test_trained_runs_are_the_folders_with_a_policy_or_a_checkpoint(tmp_path):
    (tmp_path / "final").mkdir()
    (tmp_path / "final" / "policy.json").write_text("not json")
    (tmp_path / "sweep" / "seed1" / "checkpoints").mkdir(parents=True)
    (tmp_path / "sweep" / "seed1" / "checkpoints" / "ep000100.json").write_text("{}")
    (tmp_path / "simulate-only").mkdir()
    (tmp_path / "simulate-only" / "config.json").write_text("{}")
    assert trained_runs(tmp_path) == ["final", "sweep/seed1"]
    assert policy_options(tmp_path) == ["truthful", "random", "rule", "trained:final", "trained:sweep/seed1"]
    assert trained_runs(tmp_path / "missing") == []
    assert resolve_policy("rule", tmp_path) == ("rule", None)
    with pytest.raises(PolicyLoadError, match="could not load the trained run .*final"):
        resolve_policy("trained:final", tmp_path)


def test_page_plays_a_trained_run_on_its_own_scenario(tmp_path, monkeypatch):
    from agents.hmaddpg import HyperParams
    from agents.training import train
    from visualization import session

    scenario = tmp_path / "toy-s-a.toml"
    scenario.write_text('extends = "s-a"\nname = "toy-s-a"\n\n[data]\nsource = "synthetic"\n')
    out = tmp_path / "out"
    train(str(scenario), out=out / "toy", episodes=1, seed=0, eval_every=1, progress=False,
          hp=HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16))
    monkeypatch.setattr(session, "RUNS_OUT", out)
    rc = render_page()
    policy = rc.find(v.Select, label="Policy").widget
    assert "trained:toy" in policy.items
    policy.v_model = "trained:toy"
    assert any("scenario toy-s-a, policy hmaddpg" in str(w.children) for w in rc.find(v.Html).widgets)
    assert rc.find(v.Select, label="Scenario").widget.disabled
    click(rc, "Step")
    click(rc, "Step")
    assert text(rc, "lm-hour").startswith("Hour 2 of 168")
    assert alerts(rc) == []


def test_tree_layout_puts_the_slack_on_top_and_parents_over_children():
    model = LocalMarketModel(week="test:1")
    fd = model.feeder
    xy = feeder_view.tree_layout(fd.parent)
    assert xy[0, 1] == 0 and np.all(xy[1:, 1] < 0)
    assert len({tuple(p) for p in xy}) == fd.n_bus  # no two buses on one spot
    for i in range(fd.n_bus):
        kids = fd.children(i)
        for j in kids:
            assert xy[j, 1] == xy[i, 1] - 1
        if kids:
            assert xy[i, 0] == pytest.approx(np.mean(xy[kids, 0]))


def _texts(fig) -> dict[str, tuple[float, float]]:
    return {t.get_text(): t.get_position() for t in fig.axes[0].texts}


def test_feeder_figure_labels_aggregators_at_their_buses_and_marks_flexibility():
    model = LocalMarketModel(scenario="s-a", week="test:1", location_swap="5:9,8:10")
    while model.hour_result is None or model.hour_result.up_mw.sum() + model.hour_result.dn_mw.sum() < 1e-6:
        model.step()
    snap = take_snapshot(model, "test:1")
    fig = feeder_view.feeder_figure(snap, "voltage")
    texts = _texts(fig)
    xy = feeder_view.tree_layout(model.feeder.parent)
    # with 5<->9 swapped, aggregator 9's label sits next to CIGRE bus 5
    assert np.allclose(texts["A9"], xy[model.feeder.index_of(5)] + (0.2, 0.13))
    h = model.hour_result
    flex = [feeder_view.flex_label(u, d) for u, d in zip(h.up_mw, h.dn_mw) if u > 1e-6 or d > 1e-6]
    assert flex and sorted(t for t in texts if t.startswith("flex")) == sorted(flex)
    assert feeder_view.flex_label(0.5, 0.0) == "flex +0.50 MW" and feeder_view.flex_label(0, 0.3) == "flex -0.30 MW"
    assert feeder_view.flex_label(0.5, 0.3) == "flex +0.50 / -0.30 MW" and feeder_view.flex_label(0, 0) is None
    loading = feeder_view.line_loading(snap)
    assert loading[0] == 0 and np.all(loading[1:] > 0)
    feeder_view.feeder_figure(snap, "DLMP")  # the other colouring draws too


def test_score_totals_match_the_results_tables():
    model = LocalMarketModel(week="test:1")
    model.run_hours(30)
    agg = results.tables(model)["aggregators"]
    tot = charts.aggregator_totals(agg)
    s = results.scores(agg).set_index("aggregator")
    assert np.allclose(tot["r1"], s["first_stage_eur"]) and np.allclose(tot["total"], s["total_eur"])
    assert np.allclose(tot["up_mw"] + tot["dn_mw"], agg.groupby("aggregator")[["up_mw", "dn_mw"]].sum().sum(axis=1))


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


def test_app_cli_import_is_light():
    code = "import sys, runs.app_cli; heavy = {'solara', 'matplotlib', 'model.model'} & set(sys.modules); print(sorted(heavy))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
