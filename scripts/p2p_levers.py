"""Measure one lever of the P2P design's learner on one seed (docs/p2p.md, "The batteries sit at full
discharge"): train MADDPG-PS (or `--learner`) on p2p-mmr at the quick (or paper) profile's settings, exactly as
the study trains its `maddpg-ps` method, with hyperparameter overrides (`--set`) and scenario overrides
(`--override`, e.g. storage_credit=hourly), then

  - evaluate it on the 12 test weeks: the community's cost per test day, each cluster's cost per
    household and day, and the batteries' charging (kWh per day, the pv-battery cluster's hours with a
    net charge) and discharging;
  - on the checked weeks (default test:2, winter, and test:8, summer) the households' LP check
    (`p2p_checks.household_best_response`: regret of the learned play against each day's best response)
    and the clock check (`household_checks.clock_schedule_check`: how much of each cluster's gap to the
    day LP one schedule by hour of day closes), on the study's sample of households.

With the same seed and no overrides it trains the study's run to the digit on the same machine.
A scenario override is written as a scenario file extending p2p-mmr (DIR/NAME-seedK/scenario.toml),
so the run, its evaluation and its checks all replay the scenario it was trained on.

    .venv/bin/python scripts/p2p_levers.py NAME SEED [--set NAME=VALUE ...] [--override NAME=VALUE ...] [--learner L]
                                [--profile quick|paper|tiny] [--episodes N] [--check-weeks test:2,test:8]
                                [--run DIR] [--out DIR]

prints one JSON line (and appends it to DIR/results.jsonl; default runs/out/levers-p2p); the run, its
evaluation and its checks go to DIR/NAME-seedK/ (the run's checkpoints are dropped once it is trained, as the study
drops them)."""

from __future__ import annotations

import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from model.atomic import write_csv_atomic  # noqa: E402
from model.scenario import write_overridden  # noqa: E402
from runs.args import lever_parser  # noqa: E402
from runs.output import log_result  # noqa: E402
from runs.reports.common import clock_table  # noqa: E402
from runs.study import profile_hyperparams  # noqa: E402
from runs.studies.p2p import PROFILES, SCENARIO  # noqa: E402
from runs.training import evaluate_run, make_model, train, week_labels  # noqa: E402

DAY_H = 24


def test_summary(hours: pd.DataFrame) -> dict:
    """Over the test weeks (`hours`: an evaluation's hours.csv): the community's cost per day, each cluster's per
    household and day, and the pv-battery cluster's charging and discharging, kWh per day (its hours with a net
    charge, and with a net discharge)."""
    h = hours[hours.week.str.startswith("test")]
    days = h.groupby("week").hour.nunique().sum() / DAY_H
    cost = h.bill_eur + h.peak_penalty_eur + h.device_penalty_eur - h.storage_value_eur
    per_cluster = (cost.groupby(h.cluster).sum() / h.groupby("cluster").households.first() / days).round(3).to_dict()
    bat = h[h.cluster == "pv-battery"]
    out = {"test_days": int(days), "community_cost_eur_per_day": round(float(cost.sum() / days), 2),
           "cluster_cost_eur_per_household_day": per_cluster,
           "battery_charge_kwh_per_day": round(float(bat.battery_kw.clip(lower=0).sum() / days), 1),
           "battery_discharge_kwh_per_day": round(float((-bat.battery_kw).clip(lower=0).sum() / days), 1)}
    return out


def main() -> None:
    ap = lever_parser(__doc__, "p2p-mmr", "runs/out/levers-p2p")
    ap.add_argument("--learner", default="maddpg-ps", help="the P2P learner (maddpg-ps, ddpg-ps, maddpg, one-cluster)")
    ap.add_argument("--check-weeks", default="test:2,test:8", help="the LP and clock checks' weeks (comma-separated)")
    a = ap.parse_args()

    from runs.studies.household_checks import clock_schedule_check
    from runs.studies.p2p_checks import day_costs, faced_prices, household_best_response, sample_households

    profile = PROFILES[a.profile]
    folder = a.out / f"{a.name}-seed{a.seed}"
    # a scenario file extending p2p-mmr with the overrides, which the run records and its checks reload
    scenario = str(write_overridden(SCENARIO, dict(a.override), folder / "scenario.toml")) if a.override else SCENARIO
    hp = profile_hyperparams(SCENARIO, profile, a.episodes).with_overrides(a.set)
    weeks = [w.strip() for w in a.check_weeks.split(",") if w.strip()]
    t0 = time.perf_counter()
    run = a.run
    if run is None:
        run = folder / "run"
        train(scenario, seed=a.seed, out=run, eval_every=profile.eval_every, hp=hp,
              checkpoint_every=profile.checkpoint_every, progress=True, overwrite=True, learner=a.learner)
        shutil.rmtree(Path(run) / "checkpoints", ignore_errors=True)  # ~160 MB a P2P run (replay buffers); the policies stay
    t1 = time.perf_counter()
    test_weeks = [label for label, _ in week_labels(("test",))]
    evaluate_run(run, folder / "eval", weeks=test_weeks, overwrite=True)
    summary = test_summary(pd.read_csv(folder / "eval" / "hours.csv"))
    t2 = time.perf_counter()
    lp = household_best_response(run, weeks, profile.br_per_cluster)
    write_csv_atomic(folder / "household_br.csv", lp)
    rows = sample_households(make_model(scenario, "rule", 0).design, profile.br_per_cluster, 0)
    clock = clock_schedule_check(run, weeks, rows, "p2p", faced_prices, day_costs, profile.clock_levels, profile.clock_passes)
    write_csv_atomic(folder / "household_clock.csv", clock)
    t3 = time.perf_counter()
    table = clock_table(clock.assign(seed=a.seed)).set_index("cluster")
    result = {"name": a.name, "seed": a.seed, "profile": a.profile, "learner": a.learner, "run": str(run), "set": a.set,
              "override": [f"{k}={v}" for k, v in a.override], "train_s": round(t1 - t0, 1),
              "evaluate_s": round(t2 - t1, 1), "check_s": round(t3 - t2, 1), "test": summary,
              "lp_regret_eur_per_household_day": round(float(lp.regret_eur.mean()), 3),
              "lp_regret_by_cluster": lp.groupby("cluster").regret_eur.mean().round(3).to_dict(),
              "clock_share_of_lp_gap": table.clock_share_of_lp_gap.round(3).replace({np.nan: None}).to_dict(),
              "price_taker_gap_eur_per_household_day": (table.learned_priced_eur_per_day
                                                        - table.lp_eur_per_day).round(3).to_dict()}
    log_result(a.out, result)


if __name__ == "__main__":
    try:
        main()
    except ValueError as e:  # a bad setting or value: its named message, no traceback
        sys.exit(f"p2p_levers.py: {e}")
