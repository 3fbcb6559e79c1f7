"""`localmarl sweep`: config validation (exact messages), one run's rows, local vs Ray equality."""

import inspect
import itertools
from pathlib import Path

import pandas as pd
import pytest

from model.designs.arbitrage import SWEEP_AGGREGATOR_COLUMNS
from model.model import MarketModel
from model.scenario import load_scenario
from runs.cli import main
from runs.sweep import SweepConfigError, available_sweeps, load_sweep, parameters_of, run_point


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "s.toml"
    p.write_text(text)
    return p


def error(tmp_path, text) -> str:
    p = write(tmp_path, text)
    with pytest.raises(SweepConfigError) as e:
        load_sweep(p)
    return str(e.value).replace(str(p), "S")


def test_parameters_are_the_models_keyword_arguments():
    """Every sweep axis is a keyword argument the model takes: its own, or a scenario override."""
    sc = load_scenario("s-a")
    own = set(inspect.signature(MarketModel.__init__).parameters) - {"self", "week", "seed", "collect", "rng", "overrides"}
    params = parameters_of(sc)
    assert own <= set(params) | {"policy"}
    assert set(params) - own == set(type(sc).OVERRIDES)
    for key, kind in type(sc).OVERRIDES.items():  # each override builds a model
        value = {"location_swap": "5:9", "arbitrage": "all", "lfm_tie_break_eur_mwh": 1e-4}.get(key, 1.0)
        assert isinstance(value, kind)
        assert MarketModel(scenario=sc, collect=False, **{key: value}).scenario is not None


def test_shipped_configs_load():
    assert {"demo-4", "sensitivity"} <= set(available_sweeps())
    demo = load_sweep("runs/sweeps/demo-4.toml")
    assert len(demo.points()) == 4 and demo.weeks == (0,) and demo.seeds == (0,)
    assert demo.points()[1] == {"scenario": "one-arb", "policy": "rule", "location_swap": "none", "v_slack_pu": 1.02}
    sens = load_sweep("sensitivity")
    assert len(sens.tasks()) == 36 * 12


def test_grid_and_tasks(tmp_path):
    cfg = load_sweep(write(tmp_path, 'weeks = ["test:1", "test:2"]\nseeds = [0, 1]\n[parameters]\n'
                                     'arbitrage = ["none", "all"]\nexport_spread_factor = 1\n'))
    assert cfg.scenario == "s-a" and cfg.policy == "truthful" and cfg.weeks == (0, 5)
    assert cfg.parameters == {"arbitrage": ("none", "all"), "export_spread_factor": (1.0,)}
    tasks = cfg.tasks()
    assert [(t["point"], t["week"], t["seed"]) for t in tasks] == [
        (p, w, s) for p in (0, 1) for w in (0, 5) for s in (0, 1)]
    assert tasks[-1]["kwargs"]["arbitrage"] == "all" and tasks[-1]["kwargs"]["scenario"].name == "s-a"


@pytest.mark.parametrize("text, message", [
    ("[parameters]\nexport_spread = [0.9]\n",
     "S: [parameters] unknown parameter(s) ['export_spread']; valid parameters: ['arbitrage', 'export_spread_factor', "
     "'imbalance_spread_factor', 'lfm_tie_break_eur_mwh', 'line_limit_factor', 'location_swap', 'policy', 'scenario', "
     "'v_slack_pu']"),
    ("[parameters]\nseed = [0, 1]\n",
     "S: [parameters] ['seed']: weeks and seeds are not grid parameters; "
     "set the top-level weeks = [\"test:1\", ...] and seeds = [0, ...] instead"),
    ("grid = 1\n",
     "S: unknown key(s) ['grid']; valid keys: ['description', 'name', 'parameters', 'policy', 'scenario', 'seeds', 'weeks']"),
    ("[parameters]\nv_slack_pu = []\n", "S: [parameters].v_slack_pu is an empty list; give at least one value"),
    ("[parameters]\nv_slack_pu = [\"1.0\"]\n", "S: [parameters].v_slack_pu values must be numbers, got '1.0'"),
    ("[parameters]\nlocation_swap = [[5, 9]]\n", "S: [parameters].location_swap values must be strings, got [5, 9]"),
    ("[parameters]\nv_slack_pu = [1.0, 1]\n", "S: [parameters].v_slack_pu = [1.0, 1.0] repeats a value; list each value once"),
    ("[parameters]\nexport_spread_factor = [0.9, 1.5]\n",
     "S: [parameters].export_spread_factor = 1.5: override: [market].export_spread_factor = 1.5 must be in [0, 1] (paper: 0.9)"),
    ("[parameters]\narbitrage = [\"5,12\"]\n",
     "S: [parameters].arbitrage = '5,12': override arbitrage: [12] are not aggregator ids [2, 3, 4, 5, 6, 7, 8, 9, 10, 11]"),
    ("policy = \"greedy\"\n", "S: policy = 'greedy' is not a policy; use one of ['truthful', 'random', 'rule']"),
    ("scenario = \"x\"\n[parameters]\nscenario = [\"s-a\"]\n",
     "S: scenario is set both at the top level and in [parameters]; keep one"),
    ("weeks = [\"test:13\"]\n",
     "S: weeks: week spec 'test:13': test index must be in 1..12 (1-based); "),
    ("seeds = [0, -1]\n", "S: seeds must be non-negative integers, like seeds = [0, 1], got [0, -1]"),
    ("name = \n", "S: not valid TOML ("),
])
def test_config_errors_name_the_field_and_the_fix(tmp_path, text, message):
    assert error(tmp_path, text).startswith(message)


def test_unknown_config_name():
    with pytest.raises(SweepConfigError, match=r"^sweep config 'nope' does not exist; use one of \[.*'demo-4'"):
        load_sweep("nope")


def test_one_run_gives_tidy_rows():
    cfg = load_sweep("demo-4")
    task = cfg.tasks()[3]
    out = run_point(task)
    rows = pd.DataFrame(out["participants"])
    keys = ["point", "scenario", "policy", "location_swap", "v_slack_pu", "week", "seed"]
    assert list(rows.columns) == [*keys, *SWEEP_AGGREGATOR_COLUMNS]
    assert list(out["market"]) == [*keys, "mean_lem_price_eur_mwh", "flex_mwh", "dso_payments_eur", "slack_mwh",
                                   "min_v_pu", "hours_with_flex", "hours_with_slack"]
    assert rows["aggregator"].tolist() == list(range(2, 12))
    assert rows.loc[rows["aggregator"] == 5, "bus"].item() == 9  # swapped 5 <-> 9
    assert rows["arbitrage"].tolist() == [a == 5 for a in range(2, 12)]  # one-arb
    assert (rows["total_eur"] == rows["first_stage_eur"] + rows["second_stage_eur"]).all()
    assert (rows["flex_sold_mwh"] == rows["up_mwh"] + rows["dn_mwh"]).all()
    # the same numbers `localmarl simulate` reports for that week
    m = MarketModel(scenario="one-arb", week="test:1", policy="rule", location_swap="5:9,8:10", v_slack_pu=1.02)
    m.run_hours()
    from runs.results import tables

    t = tables(m)
    per = t["aggregators"].groupby("aggregator")[["r1", "r2"]].sum().sum(axis=1)
    assert rows["total_eur"].tolist() == pytest.approx(per.tolist(), abs=1e-9)
    assert out["market"]["dso_payments_eur"] == pytest.approx(t["market"]["lfm_cost_eur"].sum(), abs=1e-9)


def test_an_infinite_value_is_caught_when_the_config_loads(tmp_path):
    """A value the scenario file would reject is rejected in the sweep config too, before any run."""
    assert error(tmp_path, "[parameters]\nline_limit_factor = [inf]\n").startswith(
        "S: [parameters].line_limit_factor = inf: override line_limit_factor must be a finite number, got inf")


def test_cli_rejects_bad_combinations(tmp_path, capsys):
    assert main(["sweep", "--config", "demo-4", "--engine", "local", "--address", "auto", "--out", str(tmp_path / "o")]) == 2
    assert "--address is for --engine ray" in capsys.readouterr().err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    assert main(["sweep", "--config", "demo-4", "--out", str(tmp_path / "full")]) == 2
    assert "exists and is not empty; choose another --out or pass --overwrite" in capsys.readouterr().err


def test_local_and_ray_engines_write_identical_tables(tmp_path, monkeypatch):
    """The done-criterion: the 4-point demo on both engines gives byte-identical tables."""
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    # two local processes finish runs out of order; one Ray CPU keeps the suite's load down on 2 cores
    for engine, workers in (("local", "2"), ("ray", "1")):
        assert main(["sweep", "--config", "runs/sweeps/demo-4.toml", "--engine", engine, "--workers", workers,
                     "--out", str(tmp_path / engine)]) == 0
    for name in ("aggregators.csv", "market.csv"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "ray" / name).read_bytes()
    agg = pd.read_csv(tmp_path / "local" / "aggregators.csv")
    assert len(agg) == 4 * 10 and agg["point"].nunique() == 4
    assert agg.groupby("point")["v_slack_pu"].first().tolist() == [1.0, 1.02, 1.0, 1.02]
    files = {p.name for p in (tmp_path / "local").iterdir()}
    assert {"aggregators.csv", "market.csv", "config.json", "sweep.toml", "total_score.png",
            "market_vs_location_swap.png", "market_vs_v_slack_pu.png"} <= files
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial folders left


def test_progress_eta_follows_the_planned_jobs_not_their_count(monkeypatch, capsys):
    """A study's seed-0 jobs run its checks and finish first; counted as one job each, they made the ETA several
    times the time left (the quick arbitrage study, replayed in docs/arbitrage-study.md: 'ETA 23291 s' after 1 of 17
    jobs, 3,029 s before the end)."""
    from runs import executor

    clock = itertools.chain([0.0, 100.0, 130.0], itertools.repeat(0.0))  # then the second Progress and its jobs
    monkeypatch.setattr(executor.time, "perf_counter", lambda: next(clock))
    p = executor.Progress(4, "study")
    p.plan([10, 10, 2, 2], workers=2)  # both workers start a long job, then each takes a short one: ends at 12
    assert p.expected_finish == [10, 10, 12, 12] and p.expected_end == 12
    p.update("seed 0", 0)  # finished at 100 s, expected at 10: 10 s a unit, so the end at 120 s
    p.update("seed 1", 2)  # at 130 s, expected at 12: (100 + 130) / (10 + 12) s a unit, the end at 125.5 s
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "study: 1/4 done (seed 0), 100.0 s elapsed, ETA 20.0 s"  # counting jobs: 300 s
    assert err[1] == "study: 2/4 done (seed 1), 130.0 s elapsed, ETA 0.0 s"  # later than planned: nothing left to wait
    q = executor.Progress(2, "jobs", enabled=False)
    q.plan([3.0, 1.0], workers=1)
    assert q.expected_finish == [3.0, 4.0]  # one worker: one after the other
    assert executor.run_jobs([executor.Job(len, ((1, 2),), "a", 3.0), executor.Job(len, ((),), "b", 1.0)], workers=1,
                             progress=q) == [2, 0]
    assert q.done == 2 and q.skipped == {0, 1}  # each reported its own time: too short to count as work


def test_progress_eta_of_a_resumed_study_comes_from_the_jobs_that_work(monkeypatch, capsys):
    """A resumed study's finished jobs return at once; counted as planned, they made the paper P2P study's ETA
    '36.5 s' with 11 jobs of 10-20 minutes left (stop 37). Jobs that report no work cost nothing in the plan."""
    from runs import executor

    clock = iter([0.0, 0.1, 0.2, 50.0])
    monkeypatch.setattr(executor.time, "perf_counter", lambda: next(clock))
    p = executor.Progress(5, "study")
    p.plan([10] * 5, workers=2)
    p.update("seed 0", 0, seconds=0.01)  # resumed: its outputs were there
    p.update("seed 1", 1, seconds=0.02)
    assert p.expected_finish == [0, 0, 10, 10, 20]  # job 0 and 1 cost nothing: jobs 2 and 3 start at once
    p.update("seed 2", 2, seconds=49.9)  # 5 s a unit, so the end at 20 x 5 = 100 s
    err = capsys.readouterr().err.splitlines()
    assert err[0] == "study: 1/5 done (seed 0), 0.1 s elapsed, ETA ? (so far only jobs whose outputs were there)"
    assert err[2] == "study: 3/5 done (seed 2), 50.0 s elapsed, ETA 50.0 s"  # counted as planned: 0.0 s


def test_progress_a_resumed_job_that_paid_its_workers_imports_still_did_no_work(monkeypatch, capsys):
    """The P2P paper study resumed at stop 38: each worker's first resumed job took ~1.4 s (torch's import),
    over NO_WORK_S, and the ETA read '24.3 s' with an hour left. Under 2 % of the job's expected cost is no work;
    a light job (a baseline weighing 2 s) that takes 1.4 s did work."""
    from runs import executor

    clock = iter([0.0, 1.4, 1.5, 2.9, 300.0, 301.0])
    monkeypatch.setattr(executor.time, "perf_counter", lambda: next(clock))
    p = executor.Progress(5, "study")
    p.plan([500, 500, 2, 500, 0], workers=2)
    p.update("seed 0", 0, seconds=1.4)  # 0.28 % of 500 s: its outputs were there
    p.update("seed 1", 1, seconds=1.4)
    p.update("baseline", 2, seconds=1.4)  # 70 % of its 2 s: work
    assert p.skipped == {0, 1} and p.expected_finish == [0, 0, 2, 500, 2]
    p.update("seed 2", 3, seconds=297.1)
    err = capsys.readouterr().err.splitlines()
    assert err[1].endswith("ETA ? (so far only jobs whose outputs were there)")
    assert err[2] == "study: 3/5 done (baseline), 2.9 s elapsed, ETA 722.1 s"  # the baseline's pace: 1.45 x planned
    # the pace over both working jobs: (2.9 + 300) / (2 + 500); 500 x that - 300 = 1.7 s
    assert err[3] == "study: 4/5 done (seed 2), 300.0 s elapsed, ETA 1.7 s"
    p.update("last", 4, seconds=1.0)
    assert capsys.readouterr().err == "study: 5/5 done (last), 301.0 s elapsed, ETA 0.0 s\n"  # all done: nothing left


def test_heartbeat_says_where_the_running_jobs_are_with_their_rate_and_time_left(monkeypatch, capsys):
    """A paper study's first job trains for 20-25 minutes; the progress line came only when a job finished, so a
    study said nothing for that long (stop 42). While no job finishes, a heartbeat says how far each running job is."""
    from runs import executor

    clock = iter([0.0, 120.0, 240.0])
    monkeypatch.setattr(executor.time, "perf_counter", lambda: next(clock))
    p = executor.Progress(3, "study")
    p.plan([10, 10, 10], workers=2)
    p.heartbeat([("stackelberg seed 1", (400, 6000, "day")), ("simultaneous seed 1", (6000, 6000, "day"))])
    p.heartbeat([("stackelberg seed 1", (1000, 6000, "day"))])  # 600 days in 120 s: 300 a minute, 5,000 left
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("study: 0/3 done, 120.0 s elapsed; running: stackelberg seed 1 (day 400 of 6,000); "
                      "simultaneous seed 1 (day 6,000 of 6,000: trained, evaluating and checking); ETA ?")
    assert err[1] == ("study: 0/3 done, 240.0 s elapsed; running: stackelberg seed 1 (day 1,000 of 6,000, 300 per min, "
                      "16.7 min left); ETA ?")


def test_before_any_job_finishes_a_studys_eta_is_its_plan(monkeypatch, capsys):
    """A quick arbitrage study's seed-0 jobs check for 20-25 minutes before the first finishes, and its ETA read "?"
    all that time (stop 64). Where the weights are seconds (a study's), the plan says when it should end: jobs of
    300, 100 and 100 s on two workers end at 300 s; 120 s in, 180 s are left. Weights that are not seconds (a
    sweep's) still say "?"; after the first finish the measured pace takes over."""
    from runs import executor

    clock = iter([0.0, 120.0, 0.0, 120.0, 150.0])
    monkeypatch.setattr(executor.time, "perf_counter", lambda: next(clock))
    p = executor.Progress(3, "study", planned_seconds=True)
    p.plan([300, 100, 100], workers=2)
    p.heartbeat([("s-a seed 0", (800, 800, "episode"))])
    sweep = executor.Progress(3, "sweep")
    sweep.plan([1.0, 1.0, 1.0], workers=2)
    sweep.heartbeat([("point 1", (1, 2, "episode"))])
    p.update("seed 1", index=1, seconds=150.0)  # planned to end at 100 s, ended at 150: 1.5 x the plan's 300
    err = capsys.readouterr().err.splitlines()
    assert err[0] == ("study: 0/3 done, 120.0 s elapsed; running: s-a seed 0 (episode 800 of 800: trained, evaluating "
                      "and checking); ETA 180.0 s as planned (no job finished yet)")
    assert err[1].endswith("ETA ?")
    assert err[2] == "study: 1/3 done (seed 1), 150.0 s elapsed, ETA 300.0 s"


def test_training_progress_reads_the_runs_curve(tmp_path):
    from runs.study import training_progress

    run = tmp_path / "seed0"
    assert training_progress(run, 800) is None  # not started
    run.mkdir()
    (run / "train_curve.csv").write_text("episode,participant,eval_score_eur\n")
    assert training_progress(run, 800) is None  # before its first evaluation
    (run / "train_curve.csv").write_text("episode,participant,eval_score_eur\n0,a,1.0\n0,b,2.0\n50,a,1.5\n50,b,2.5\n")
    assert training_progress(run, 800, "week") == (50, 800, "week")
    (run / "policy.json").write_text("{}")
    assert training_progress(run, 800) == (800, 800, "episode")  # trained: the job is evaluating and checking


def test_a_local_pool_prints_heartbeats_between_finished_jobs(monkeypatch, capsys):
    import time

    from runs import executor

    monkeypatch.setattr(executor, "HEARTBEAT_S", 0.3)
    calls = []

    def watch():
        calls.append(1)
        return len(calls), 100, "episode"

    jobs = [executor.Job(time.sleep, (3.0,), "slow", 3.0, watch), executor.Job(time.sleep, (3.0,), "unwatched", 3.0)]
    assert executor.run_jobs(jobs, workers=2, progress=executor.Progress(2, "study")) == [None, None]
    err = [line for line in capsys.readouterr().err.splitlines() if "running:" in line]
    assert err and all("slow (episode " in line and "unwatched" not in line for line in err)
    assert "per min" in err[-1]
