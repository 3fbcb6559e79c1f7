"""Regret matching over learned and constant bids on a finished arbitrage study's runs, beside the study's own
fictitious play (issue 15's first bar: does any aggregator gain by a constant up-price bid?).

For each SCENARIO:SEED, on the run the study handed on (STUDY/runs/SCENARIO/seedSEED):
  - `regret_matching_play` for N iterations on the fit weeks (--fit-weeks check: the profile's best-response weeks
    test:1, 5, 12, where the study's fictitious play runs; fit: the profile's `fit_weeks`, 13 training weeks), every
    aggregator's options its learned bids and the coarse grid's constant up prices;
  - its correlated play (one iteration drawn for everyone) scored on the check weeks and on the validation weeks
    (`score_correlated`), beside the learned profile and the study's fictitious-play mixtures
    (STUDY/fictitious_play/SCENARIO-seedSEED.csv and -validation.csv, fitted on the check weeks);
  - "validated": each aggregator's option best on the validation weeks, judged on the check weeks (as the study
    judges the learned policies against the validated constant bid).

    OMP_NUM_THREADS=1 .venv/bin/python scripts/regret_matching_check.py STUDY SCENARIO:SEED [...] [--iterations N]
                                         [--fit-weeks check|fit] [--profile quick|paper] --out DIR

writes DIR/<scenario>-seed<k>-{rm,rm-mixtures,rm-scores}.csv and DIR/summary.csv (one row per run, weeks and
profile: aggregators more than 1 % short of their best option, the largest and summed gains, all aggregators'
earnings; for the check weeks also those short of the validated option), and prints the summary. A run whose
files exist is reused."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from model.atomic import write_csv_atomic  # noqa: E402
from runs.studies import arbitrage_best_response as br  # noqa: E402
from runs.studies.arbitrage import PROFILES  # noqa: E402
from runs.training import load_trained_policy  # noqa: E402


def summarise(scores: pd.DataFrame, own: str, best: str, share: str) -> dict:
    """Aggregators more than 1 % short of their best option, the largest share, the summed gain, everyone's €."""
    return {"aggregators_over_1pct": int((scores[share] > 0.01).sum()), "largest_gain_pct": 100 * float(scores[share].max()),
            "summed_gain_eur_per_week": float((scores[best] - scores[own]).sum()),
            "all_aggregators_eur_per_week": float(scores[own].sum())}


def validated(scores: pd.DataFrame) -> dict:
    """On the check weeks, each aggregator's option best on the validation weeks against its own strategy."""
    options = [c for c in scores.columns if c.startswith("option") and c.endswith("_eur_per_week")]
    val = scores[scores.weeks == "validation"].set_index("aggregator")[options]
    check = scores[scores.weeks == "check"].set_index("aggregator")
    chosen = val.idxmax(axis=1)
    gain = pd.Series({a: check.loc[a, chosen[a]] - check.loc[a, "own_eur_per_week"] for a in check.index})
    share = gain / check.own_eur_per_week.abs().clip(lower=1.0)
    return {"short_of_validated_over_1pct": int((share > 0.01).sum()),
            "shortfall_to_validated_eur_per_week": float(gain.clip(lower=0.0).sum())}


def measure(study: Path, scenario: str, seed: int, profile, iterations: int, fit_weeks: str, out: Path) -> list[dict]:
    stem = out / f"{scenario}-seed{seed}"
    scores_path = Path(f"{stem}-rm-scores.csv")
    if not scores_path.exists():
        learned, _ = load_trained_policy(study / "runs" / scenario / f"seed{seed}")
        t0 = time.perf_counter()
        weeks = {"check": list(profile.br_weeks), "fit": list(profile.fit_weeks)}[fit_weeks]
        fit = br.OptionValues(scenario, learned, weeks, br.COARSE, seed, profile.br_max_hours)
        history, mixtures = br.regret_matching_play(fit, fit.ids, fit.levels, iterations)
        seconds = time.perf_counter() - t0
        print(f"{scenario} seed {seed}: {iterations} iterations on {len(weeks)} weeks in {seconds:.0f} s", flush=True)
        validation = [w for w in profile.responder_validation_weeks if w not in profile.br_weeks]
        check = fit if fit_weeks == "check" else br.OptionValues(scenario, learned, list(profile.br_weeks), br.COARSE,
                                                                  seed, profile.br_max_hours)
        held_out = br.OptionValues(scenario, learned, validation, br.COARSE, seed, profile.br_max_hours)
        scores = pd.concat([br.score_correlated(check, mixtures).assign(weeks="check"),
                            br.score_correlated(held_out, mixtures).assign(weeks="validation")])
        write_csv_atomic(Path(f"{stem}-rm.csv"), history.assign(play_seconds=round(seconds, 1), fit_weeks=fit_weeks))
        write_csv_atomic(Path(f"{stem}-rm-mixtures.csv"), mixtures, float_format="%.17g")
        write_csv_atomic(scores_path, scores)  # last: its presence means this run finished
    scores = pd.read_csv(scores_path)
    history = pd.read_csv(f"{stem}-rm.csv")
    last = history[history.iteration == history.iteration.max()]
    rows = [{"scenario": scenario, "seed": seed, "weeks": f"fit ({history.fit_weeks.iloc[0]})", "profile": "correlated",
             "aggregators_over_1pct": int((last.regret_share > 0.01).sum()), "largest_gain_pct": 100 * last.regret_share.max(),
             "summed_gain_eur_per_week": float((last.best_average_eur_per_week - last.average_eur_per_week).sum()),
             "all_aggregators_eur_per_week": float(last.average_eur_per_week.sum()),
             "play_seconds": float(history.play_seconds.iloc[0])}]
    for (weeks, prof), d in scores.groupby(["weeks", "profile"], sort=False):
        rows.append({"scenario": scenario, "seed": seed, "weeks": weeks, "profile": prof,
                     **summarise(d, "own_eur_per_week", "best_eur_per_week", "gain_share"),
                     **(validated(scores[scores.profile == prof]) if weeks == "check" else {})})
    fp = study / "fictitious_play" / f"{scenario}-seed{seed}.csv"
    if fp.exists():
        h = pd.read_csv(fp)
        rows.append({"scenario": scenario, "seed": seed, "weeks": "check", "profile": "fictitious play",
                     **summarise(h[h.chosen], "mixture_eur_per_week", "best_eur_per_week", "exploitability_share")})
        v = pd.read_csv(fp.with_name(fp.stem + "-validation.csv"))
        rows.append({"scenario": scenario, "seed": seed, "weeks": "validation", "profile": "fictitious play",
                     **summarise(v[v.profile == "mixtures"], "own_eur_per_week", "best_eur_per_week", "gain_share")})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("runs", nargs="+", metavar="SCENARIO:SEED")
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--fit-weeks", default="check", choices=("check", "fit"),
                    help="the weeks regret matching plays on: the check weeks (as the study's fictitious play) or the "
                         "profile's fit_weeks (training weeks; then the check weeks are out of sample)")
    ap.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for spec in a.runs:
        scenario, seed = spec.rsplit(":", 1)
        rows += measure(a.study, scenario, int(seed), PROFILES[a.profile], a.iterations, a.fit_weeks, a.out)
    summary = pd.DataFrame(rows)
    write_csv_atomic(a.out / "summary.csv", summary)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
