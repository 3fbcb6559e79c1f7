"""Measure one training lever of the arbitrage learner on paired seeds (docs/arbitrage-study.md,
"Convergence"): train the quick profile's HMADDPG with `--set` overrides, then check the policy
against everyone else's frozen learned policy on test weeks 1, 5 and 12:

  - aggregator 5's hour-by-hour best response (coarse grid): its regret as a share of the best;
  - every aggregator's best constant up-price bid: how many fall short of it, and by how much.

    .venv/bin/python scripts/convergence_levers.py NAME SCENARIO SEED [name=value ...] [--out DIR]

prints one JSON line (and appends it to DIR/results.jsonl; default runs/out/levers)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runs.studies import arbitrage_best_response as br  # noqa: E402
from runs.studies.arbitrage import PROFILES  # noqa: E402
from runs.training import design_hyperparams, load_trained_policy, train  # noqa: E402

WEEKS = ["test:1", "test:5", "test:12"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("scenario")
    ap.add_argument("seed", type=int)
    ap.add_argument("sets", nargs="*", help="hyperparameter overrides name=value (on top of the quick profile's)")
    ap.add_argument("--episodes", type=int, default=PROFILES["quick"].episodes)
    ap.add_argument("--out", default="runs/out/levers")
    a = ap.parse_args()
    quick = [f"{k}={str(v).lower() if isinstance(v, bool) else v}" for k, v in PROFILES["quick"].hp_overrides.items()]
    hp = dataclasses.replace(design_hyperparams(a.scenario, quick + a.sets), episodes=a.episodes)
    out = Path(a.out)
    run = out / f"{a.name}-{a.scenario}-{a.seed}"
    t0 = time.perf_counter()
    train(a.scenario, seed=a.seed, out=run, eval_every=hp.episodes, hp=hp, checkpoint_every=10**9, progress=False,
          overwrite=True)
    t1 = time.perf_counter()
    learned, _ = load_trained_policy(run)
    cp = br.summarise_constant_prices(br.constant_prices(a.scenario, learned, WEEKS, seed=a.seed))
    b = br.summarise_best_response(br.best_response(a.scenario, learned, WEEKS, 5, br.COARSE, seed=a.seed))
    short = cp.shortfall_eur > 1e-3 * cp.best_constant_up_eur.abs() + 1e-6
    res = {"name": a.name, "scenario": a.scenario, "seed": a.seed, "sets": a.sets, "train_s": round(t1 - t0, 1),
           "agg5_learned_eur_per_week": b.learned_eur.sum() / len(WEEKS), "agg5_regret_share": b.regret_eur.sum() / b.best_eur.sum(),
           "all_learned_eur_per_week": cp.learned_eur.sum() / len(WEEKS),
           "aggregators_below_constant": int(short.sum()),
           "shortfall_eur_per_week": cp.shortfall_eur.clip(lower=0).sum() / len(WEEKS)}
    print(json.dumps(res))
    out.mkdir(parents=True, exist_ok=True)
    with open(out / "results.jsonl", "a") as f:
        f.write(json.dumps(res) + "\n")


if __name__ == "__main__":
    main()
