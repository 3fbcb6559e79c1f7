"""Would choosing an arbitrage run's snapshot by its shortfall against constant bids on the evaluation
week help? (issue 15, stop 33: the summed earnings, the one free score, keep the untrained, collusive
policy, so the arbitrage design refuses `keep_best`.)

Trains the quick (or paper) profile's HMADDPG for SCENARIO and SEED, saving the policy every EVERY
episodes; then, for each snapshot, with everyone else playing the same snapshot:

  - on the evaluation week: every aggregator's shortfall against its best constant up-price bid
    (the candidate selection score: lower is closer to an equilibrium among constant deviations);
  - on test weeks 1, 5, 12 (as `scripts/convergence_levers.py`): aggregator 5's hour-by-hour regret,
    aggregators short of a constant bid, their shortfall, everyone's earnings.

    .venv/bin/python scripts/snapshot_selection.py SCENARIO SEED [--every 100] [--profile quick] --out DIR

prints the table and writes DIR/SCENARIO-SEED.csv."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from runs.studies import arbitrage_best_response as br  # noqa: E402
from runs.studies.arbitrage import PROFILES  # noqa: E402
from runs.training import design_hyperparams, load_trained_policy, train  # noqa: E402

WEEKS = ["test:1", "test:5", "test:12"]


def checks(scenario: str, learned, seed: int) -> dict:
    ev = br.summarise_constant_prices(br.constant_prices(scenario, learned, ["eval:1"], seed=seed))
    cp = br.summarise_constant_prices(br.constant_prices(scenario, learned, WEEKS, seed=seed))
    b = br.summarise_best_response(br.best_response(scenario, learned, WEEKS, 5, br.COARSE, seed=seed))
    short = cp.shortfall_eur > 1e-3 * cp.best_constant_up_eur.abs() + 1e-6
    return {"eval_shortfall_eur": float(ev.shortfall_eur.clip(lower=0).sum()), "eval_all_eur": float(ev.learned_eur.sum()),
            "agg5_regret_share": float(b.regret_eur.sum() / b.best_eur.sum()),
            "all_eur_per_week": float(cp.learned_eur.sum() / len(WEEKS)), "aggregators_short": int(short.sum()),
            "shortfall_eur_per_week": float(cp.shortfall_eur.clip(lower=0).sum() / len(WEEKS))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("scenario")
    ap.add_argument("seed", type=int)
    ap.add_argument("--every", type=int, default=100, help="episodes between snapshots")
    ap.add_argument("--profile", default="quick", choices=("quick", "paper"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    prof = PROFILES[a.profile]
    base = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in prof.hp_overrides.items()]
    hp = dataclasses.replace(design_hyperparams(a.scenario, base), episodes=prof.episodes)
    out = Path(a.out)
    run = out / f"run-{a.scenario}-{a.seed}"
    snaps = {}

    def keep(episode, learner):
        if episode % a.every == 0:
            snaps[episode] = copy.deepcopy(learner.policy_state())

    train(a.scenario, seed=a.seed, out=run, eval_every=hp.episodes, hp=hp, checkpoint_every=10**9, progress=False,
          overwrite=True, callback=keep)
    learned, _ = load_trained_policy(run)
    rows = []
    for episode, state in sorted(snaps.items()):
        learned.load_state(state)
        rows.append({"scenario": a.scenario, "seed": a.seed, "episode": episode, **checks(a.scenario, learned, a.seed)})
        print(rows[-1], flush=True)
    df = pd.DataFrame(rows)
    out.mkdir(parents=True, exist_ok=True)
    df.to_csv(out / f"{a.scenario}-{a.seed}.csv", index=False, float_format="%.6g")
    print(df.round(3).to_string(index=False))


if __name__ == "__main__":
    main()
