"""Does handing on the snapshot nearest an equilibrium of constant bids beat handing on the last? (issue 15;
the study's `hand_on_nearest`, stops 64-65.)

For each SCENARIO:SEED, trains the profile's HMADDPG keeping its policy every `snapshot_every` episodes (the
study's own training: `profile_hyperparams`, `train(snapshot_every=...)`), chooses the snapshot as the study does
(`choose_snapshot` on the validation weeks eval:1, test:2, test:11), and then judges the snapshot chosen against
the last on the check weeks (test:1, 5, 12), which the choice never saw:

  - every aggregator against constant up-price bids at each snapshot (`constant_bids_along_training`): the summed
    gain as a share of all aggregators' earnings (`constant_bid_distance`), how many gain > 1 %, aggregator 5's gain;
  - aggregator 5's hour-by-hour regret (`best_response`, coarse grid) at the snapshot chosen and at the last.

    OMP_NUM_THREADS=1 .venv/bin/python scripts/snapshot_selection.py SCENARIO:SEED [...] [--profile quick] --out DIR

writes DIR/runs/<scenario>/seed<k> (with its snapshots), DIR/<scenario>-seed<k>-{choice,check,br}.csv and
DIR/summary.csv, and prints the summary (one row per run) with the means. A finished run's files are reused, so
the same command with more runs adds them. About 5 min per run on the quick profile (one core)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from model.atomic import write_csv_atomic  # noqa: E402
from model.designs.arbitrage import PAPER  # noqa: E402
from runs.reports.arbitrage import along_training_table  # noqa: E402
from runs.studies import arbitrage_best_response as br  # noqa: E402
from runs.studies.arbitrage import PROFILES  # noqa: E402
from runs.study import profile_hyperparams  # noqa: E402
from runs.training import load_trained_policy, train  # noqa: E402

CHECK_WEEKS = ["test:1", "test:5", "test:12"]


def measure(scenario: str, seed: int, profile, out: Path) -> dict:
    """Train (or reuse) one run with snapshots, choose on the validation weeks, judge on the check weeks."""
    run = out / "runs" / scenario / f"seed{seed}"
    if not (run / "policy.json").exists():
        train(scenario, seed=seed, out=run, eval_every=profile.eval_every, hp=profile_hyperparams(scenario, profile),
              checkpoint_every=profile.checkpoint_every, progress=False, snapshot_every=profile.snapshot_every,
              overwrite=True)
    stem = out / f"{scenario}-seed{seed}"

    def cached(tag: str, make) -> pd.DataFrame:
        path = Path(f"{stem}-{tag}.csv")
        if not path.exists():
            write_csv_atomic(path, make())
        return pd.read_csv(path)

    choice = cached("choice", lambda: br.choose_snapshot(scenario, run, list(profile.responder_validation_weeks),
                                                         br.COARSE, seed=seed))
    check = cached("check", lambda: br.constant_bids_along_training(scenario, run, CHECK_WEEKS, br.COARSE, seed=seed))
    picked, last = int(choice.episode[choice.chosen].iloc[0]), int(check.episode.max())

    def regrets() -> pd.DataFrame:
        rows = []
        for episode in sorted({picked, last}):
            learned, _ = load_trained_policy(run / "snapshots" / f"ep{episode:06d}")
            s = br.summarise_best_response(br.best_response(scenario, learned, CHECK_WEEKS, PAPER.focus_aggregator,
                                                            br.COARSE, seed=seed))
            rows.append({"episode": episode, "regret_share": float(s.regret_eur.sum() / s.best_eur.sum())})
        return pd.DataFrame(rows)

    regret = cached("br", regrets).set_index("episode").regret_share
    c = along_training_table(check.assign(scenario=scenario, seed=seed), [scenario]).set_index("episode")
    agg = f"agg{PAPER.focus_aggregator}_gain_share"
    return {"scenario": scenario, "seed": seed, "picked": picked,
            "check_last_%": 100 * c.loc[last].summed_gain_share, "check_picked_%": 100 * c.loc[picked].summed_gain_share,
            "check_min_%": 100 * c.loc[c.index > 0].summed_gain_share.min(),
            "gaining_last": int(c.loc[last].aggregators_gaining), "gaining_picked": int(c.loc[picked].aggregators_gaining),
            "agg5_const_last_%": 100 * c.loc[last, agg], "agg5_const_picked_%": 100 * c.loc[picked, agg],
            "agg5_regret_last_%": 100 * regret[last], "agg5_regret_picked_%": 100 * regret[picked],
            "all_last_eur_per_week": c.loc[last].all_learned_eur_per_week,
            "all_picked_eur_per_week": c.loc[picked].all_learned_eur_per_week,
            "validation_last_%": 100 * float(choice.distance[choice.episode == last].iloc[0]),
            "validation_picked_%": 100 * float(choice.distance[choice.chosen].iloc[0])}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", metavar="SCENARIO:SEED")
    ap.add_argument("--profile", default="quick", choices=("quick", "paper"))
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    profile, out = PROFILES[a.profile], Path(a.out)
    rows = []
    for item in a.runs:
        scenario, _, seed = item.rpartition(":")
        if not scenario or not seed.isdigit():
            ap.error(f"{item!r}: give each run as SCENARIO:SEED, e.g. one-arb:0")
        rows.append(measure(scenario, int(seed), profile, out))
        print({k: round(float(v), 1) if isinstance(v, float) else v for k, v in rows[-1].items()}, flush=True)
    df = pd.DataFrame(rows)
    write_csv_atomic(out / "summary.csv", df)
    pd.set_option("display.width", 250)
    print(df.round(1).to_string(index=False))
    lower = int((df["check_picked_%"] < df["check_last_%"]).sum())
    print(f"check-week distance lower at the snapshot chosen in {lower} of {len(df)} runs; means: distance "
          f"{df['check_last_%'].mean():.1f} -> {df['check_picked_%'].mean():.1f} %, gaining > 1 % "
          f"{df.gaining_last.mean():.1f} -> {df.gaining_picked.mean():.1f}, aggregator 5's constant-bid gain "
          f"{df['agg5_const_last_%'].mean():.1f} -> {df['agg5_const_picked_%'].mean():.1f} %, its hour-by-hour regret "
          f"{df['agg5_regret_last_%'].mean():.1f} -> {df['agg5_regret_picked_%'].mean():.1f} %, all aggregators "
          f"{df.all_last_eur_per_week.mean():,.0f} -> {df.all_picked_eur_per_week.mean():,.0f} €/week (last -> chosen)")


if __name__ == "__main__":
    main()
