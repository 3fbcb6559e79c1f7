"""Measure one lever of the Stackelberg learner on one seed (docs/stackelberg.md, "Learning"): train the
quick (or, with --profile paper, the paper) profile's leader-follower learner with learner settings and
hyperparameter and scenario overrides, exactly as the study trains its `stackelberg` method, then on the profile's
checked weeks (test:2, a winter week, and test:8, a summer week):

  - the leader's hour-by-hour best response to the followers' learned policies (the study's
    `leader_best_response`, on the profile's price grid): its regret in % of the learned profit, the
    day-ahead position's part of it, the leader's profit and the followers' cost per day;
  - the heat pumps under the learned play (`localmarl evaluate` of the run on those weeks): their comfort
    violation (K·h per day, summed over the community's houses) and the heat drawn (kWh per day), the
    follower-side outcome that a leader lever can tip (the summer overheating of docs/stackelberg.md), and each
    cluster's cost per follower and day;
  - the leader's imbalance on those weeks (kWh and € per day) and its day-ahead position's swing within a day (kW);
  - the sampled followers' LP best responses (the study's `follower_best_response`, its sample): their regret,
    € per follower and day, over all and per cluster;
  - with --responders, the study's trained best responders (`runs.studies.p2p.train_responders` for the study's
    `responder_participants`: the leader and one seeded follower per cluster, the profile's budget and
    validation weeks): each one's gain in % of its learned score (+ = the responder does better), the table in
    DIR/NAME-seedK/responders.csv as the study's checks/responders_seedK.csv.

With the same seed and no overrides it reproduces the study's seed to the digit on the same machine.
A scenario override (`--override`, e.g. storage_credit=hourly) is written as a scenario file extending
stackelberg (DIR/NAME-seedK/scenario.toml), so the run and its checks replay the scenario it trained on.
With --run DIR the checks run on that trained run (e.g. a study's runs/stackelberg/seed0) instead.

    .venv/bin/python scripts/stackelberg_levers.py NAME SEED [--learner-config NAME=VALUE ...]
                                [--set NAME=VALUE ...] [--override NAME=VALUE ...] [--profile quick|paper|tiny]
                                [--episodes N] [--run DIR] [--responders]
                                [--out DIR]

prints one JSON line (and appends it to DIR/results.jsonl; default runs/out/levers-stackelberg); the run,
its checks and evaluation go to DIR/NAME-seedK/ (the run's checkpoints are dropped once it is trained, as the study
drops them)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from model.atomic import write_csv_atomic  # noqa: E402
from model.scenario import write_overridden  # noqa: E402
from runs.args import lever_parser  # noqa: E402
from runs.output import log_result  # noqa: E402
from runs.study import profile_hyperparams  # noqa: E402
from runs.studies import stackelberg_checks as checks  # noqa: E402
from runs.studies.p2p import train_responders  # noqa: E402
from runs.studies.stackelberg import PROFILES, SCENARIO, _shares, responder_participants  # noqa: E402
from runs.training import design_learner_config, evaluate_run, train  # noqa: E402


def leader_summary(days: pd.DataFrame) -> dict:
    """Per checked week and pooled ("all"): the leader's check regret (% of its learned profit), the
    position part in points, its learned profit and the followers' cost, € per day."""
    out = {}
    for week, g in [*days.groupby("week"), ("all", days)]:
        learned, best = g.learned_profit_eur.sum(), g.best_response_profit_eur.sum()
        out[week] = {"regret_pct": 100 * (best - learned) / abs(learned),
                     "position_points": 100 * g.position_regret_eur.sum() / abs(learned),
                     "leader_profit_eur_per_day": learned / len(g),
                     "follower_cost_eur_per_day": g.learned_follower_cost_eur.sum() / len(g)}
    return out


def _days(hours: pd.DataFrame) -> float:
    """The days an evaluation's hours.csv rows cover, summed over its weeks."""
    return hours.groupby("week").hour.nunique().sum() / 24


def heat_pump_summary(hours: pd.DataFrame) -> dict:
    """Per evaluated week: the heat pumps' comfort violation (K·h) and heat drawn (kWh) per day, over the
    community (`hours`: an evaluation's hours.csv, one row per hour and cluster)."""
    out = {}
    for week, g in hours.groupby("week"):
        days = _days(g)
        out[week] = {"comfort_violation_kh_per_day": g.comfort_violation_kh.sum() / days,
                     "heat_pump_kwh_per_day": g.hp_kw.sum() / days}
    return out


def imbalance_summary(hours: pd.DataFrame) -> dict:
    """Per evaluated week: the leader's imbalance |q_DA - residual| (kWh per day) and its cost (€ per day), and its
    day-ahead position's swing within a day (max - min, kW, the mean over days) (`hours`: an evaluation's hours.csv,
    whose community columns repeat on every cluster's row)."""
    community = hours.drop_duplicates(["week", "hour_of_week"]).assign(day=lambda h: h.hour_of_week // 24)
    out = {}
    for week, g in community.groupby("week"):
        days = g.day.nunique()
        out[week] = {"imbalance_kwh_per_day": g.imbalance_kw.abs().sum() / days,
                     "imbalance_cost_eur_per_day": g.imbalance_cost_eur.sum() / days,
                     "position_swing_kw": float(g.groupby("day").da_position_kw.agg(lambda s: s.max() - s.min()).mean())}
    return out


def follower_summary(hours: pd.DataFrame, responses: pd.DataFrame) -> dict:
    """Over the checked weeks: each cluster's cost, € per follower and day (`hours`: an evaluation's hours.csv, its
    rewards' negative), and the sampled followers' LP regret, € per follower and day (`responses`:
    `follower_best_response`'s rows, one per follower and day), over all and per cluster."""
    days = _days(hours)
    per_cluster = hours.groupby("cluster").agg(reward=("reward_eur", "sum"), n=("households", "first"))
    return {"cluster_cost_eur_per_follower_day": (-per_cluster.reward / per_cluster.n / days).round(3).to_dict(),
            "lp_regret_eur_per_follower_day": round(float(responses.regret_eur.mean()), 3),
            "lp_regret_by_cluster": responses.groupby("cluster").regret_eur.mean().round(3).to_dict()}


def responder_summary(table: pd.DataFrame) -> dict:
    """The trained best responders (`train_responders`' table, one row per participant): each one's gain in % of its
    learned score, keyed `cluster:participant`, and the mean per cluster (the leader's cluster is "leader")."""
    pct = 100 * table.gain_share
    return {"gain_pct": {f"{c}:{p}": round(float(g), 2) for c, p, g in zip(table.cluster, table.participant, pct)},
            "gain_pct_by_cluster": pct.groupby(table.cluster).mean().round(2).to_dict()}


def main() -> None:
    ap = lever_parser(__doc__, "stackelberg", "runs/out/levers-stackelberg")
    ap.add_argument("--learner-config", action="append", default=[], metavar="NAME=VALUE",
                    help="a setting of the Stackelberg learner (`localmarl train --help`); repeatable")
    ap.add_argument("--responders", action="store_true",
                    help="also train the study's best responders (the leader and one follower per cluster, the "
                         "profile's budget: ~2.5 min per seed in the quick profile)")
    a = ap.parse_args()

    profile = PROFILES[a.profile]
    config = design_learner_config(SCENARIO, a.learner_config)  # all checked before anything runs
    hp = profile_hyperparams(SCENARIO, profile, a.episodes).with_overrides(a.set)
    folder = a.out / f"{a.name}-seed{a.seed}"
    # a scenario file extending stackelberg with the overrides, which the run records and its checks reload
    scenario = str(write_overridden(SCENARIO, dict(a.override), folder / "scenario.toml")) if a.override else SCENARIO
    t0 = time.perf_counter()
    run = a.run
    if run is None:
        run = folder / "run"
        train(scenario, seed=a.seed, out=run, eval_every=profile.eval_every, hp=hp,
              checkpoint_every=profile.checkpoint_every, progress=True, overwrite=True, learner_config=config)
        shutil.rmtree(Path(run) / "checkpoints", ignore_errors=True)  # ~160 MB a P2P run (replay buffers); the policies stay
    t1 = time.perf_counter()
    weeks = list(profile.leader_br_weeks)
    days, hours = checks.leader_best_response(run, weeks, _shares(profile.leader_br_grid))
    folder.mkdir(parents=True, exist_ok=True)
    write_csv_atomic(folder / "leader_br_hours.csv", hours)
    write_csv_atomic(folder / "leader_br.csv", days)
    evaluate_run(run, folder / "eval", weeks=weeks, overwrite=True)
    evaluated = pd.read_csv(folder / "eval" / "hours.csv")
    responses = checks.follower_best_response(run, list(profile.follower_br_weeks), profile.follower_br_sample)
    write_csv_atomic(folder / "follower_br.csv", responses)
    t2 = time.perf_counter()
    responders = None
    if a.responders:
        responders = train_responders(run, folder / "responders.csv", responder_participants(profile, scenario),
                                      profile.responder_episodes, profile.responder_validation_weeks)
    result = {"name": a.name, "seed": a.seed, "profile": a.profile, "run": str(run),
              "learner_config": dict(config), "set": a.set, "override": [f"{k}={v}" for k, v in a.override], "train_s": round(t1 - t0, 1), "check_s": round(t2 - t1, 1),
              "leader": leader_summary(days), "imbalance": imbalance_summary(evaluated),
              "heat_pumps": heat_pump_summary(evaluated),
              "followers": follower_summary(evaluated, responses)}
    if responders is not None:
        result["responders_s"] = round(time.perf_counter() - t2, 1)
        result["responders"] = responder_summary(responders)
    log_result(a.out, result)


if __name__ == "__main__":
    from model.design import SettingsListed

    try:
        main()
    except SettingsListed as e:  # `--learner-config help`: the design's settings
        print(e)
    except ValueError as e:  # a bad setting or value: its named message, no traceback
        sys.exit(f"stackelberg_levers.py: {e}")
