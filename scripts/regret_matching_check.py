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
                                         [--fit-weeks check|fit|train] [--buckets B] [--profile quick|paper] --out DIR

With --buckets B (and --fit-weeks fit), the play by congestion instead, as the study's step runs it
(`bucketed_regret_matching`: B buckets of the feeder's scheduled injection, of equal counts or split at --quantiles
Q1,...,Q(B-1) of it, fitted on the fit weeks, scored with
`score_bucketed`; the summary is the report's `bucketed_play_table`, with the day-block bootstrap), written to
DIR/<scenario>-seed<k>-b<B>[-q<Q1_..>]-w<weeks>.csv and its -mixtures, -edges, -scores and -hours.csv (the study's files)
and DIR/summary-buckets.csv; --fit-weeks train fits it on all 39 training weeks.

writes DIR/<scenario>-seed<k>-{rm,rm-mixtures,rm-scores}.csv, DIR/summary.csv (the report's `regret_matching_table`:
per run, weeks and profile, aggregators more than 1 % short of their best option, the largest and summed gains, all
aggregators' earnings; on the check weeks also those short of the validated option) and DIR/weighting.csv (the play's
regret on its own weeks after 150 / 300 / 600 / 1,000 iterations, iterations weighted uniformly or by t + 1: the
table in docs/arbitrage-study.md, stop 67, from `--iterations 1000`), and prints both. A run whose files exist is
reused."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pandas as pd  # noqa: E402

from model.atomic import write_csv_atomic  # noqa: E402
from runs.studies import arbitrage_best_response as br  # noqa: E402
from runs.reports.arbitrage import fictitious_play_table, regret_matching_table  # noqa: E402
from runs.studies.arbitrage import PROFILES, TRAIN_WEEKS  # noqa: E402
from runs.studies.arbitrage_fitted_play import gain_shares  # noqa: E402
from runs.training import load_trained_policy  # noqa: E402


def weighting_table(history: pd.DataFrame, scenario: str, seed: int) -> pd.DataFrame:
    """The play's regret on its own weeks after n iterations (150, 300, 600, 1,000, as far as the history goes),
    iteration t drawn uniformly or with weight t + 1 (`play_weights`, the study's): the aggregators gaining more than
    1 %, the largest gain (% of the aggregator's earnings, `gain_shares`' floored base) and the summed gain, from the
    history's option values (the same dynamics; only the weights of the play differ)."""
    import numpy as np

    options = sorted((c for c in history.columns if c.startswith("option") and c.endswith("_eur_per_week")),
                     key=lambda c: int(c[len("option"):-len("_eur_per_week")]))
    rows = []
    if not options:  # a history written before the option values were kept
        return pd.DataFrame()
    for n in (k for k in (150, 300, 600, 1000) if k <= history.iteration.max() + 1):
        h = history[history.iteration < n].sort_values(["aggregator", "iteration"])
        for name, w in (("uniform", np.ones(n) / n), ("t + 1", br.play_weights(np.arange(n), n))):
            own = h.groupby("aggregator").mixture_eur_per_week.apply(lambda x: float(w @ x.to_numpy()))
            best = h.groupby("aggregator")[options].apply(lambda d: float((w @ d.to_numpy()).max()))
            share = gain_shares((best - own).to_numpy(), own.to_numpy())
            rows.append({"scenario": scenario, "seed": seed, "iterations": n, "weights": name,
                         "aggregators_over_1pct": int((share > 0.01).sum()), "largest_gain_pct": 100 * float(share.max()),
                         "summed_gain_eur_per_week": float((best - own).sum()),
                         "all_aggregators_eur_per_week": float(own.sum())})
    return pd.DataFrame(rows)


def measure(study: Path, scenario: str, seed: int, profile, iterations: int, fit_weeks: str,
            out: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Play (or reuse) one run's regret matching and score it; (the report's `regret_matching_table` rows, the
    weighting table)."""
    stem = out / f"{scenario}-seed{seed}"
    scores_path = Path(f"{stem}-rm-scores.csv")
    if not scores_path.exists():
        learned, _ = load_trained_policy(study / "runs" / scenario / f"seed{seed}")
        t0 = time.perf_counter()
        weeks = {"check": list(profile.br_weeks), "fit": list(profile.fit_weeks), "train": list(TRAIN_WEEKS)}[fit_weeks]
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
    scores = pd.read_csv(scores_path).assign(scenario=scenario, seed=seed)
    mixtures = pd.read_csv(f"{stem}-rm-mixtures.csv").assign(scenario=scenario, seed=seed)
    fp = study / "fictitious_play" / f"{scenario}-seed{seed}.csv"
    ft = (fictitious_play_table(pd.read_csv(fp).assign(scenario=scenario, seed=seed),
                                pd.read_csv(fp.with_name(fp.stem + "-validation.csv")).assign(scenario=scenario, seed=seed),
                                [scenario]) if fp.exists() else pd.DataFrame())
    history = pd.read_csv(f"{stem}-rm.csv")
    return (regret_matching_table(scores, mixtures, ft, [scenario]).assign(fit_weeks=history.fit_weeks.iloc[0],
                                                                          play_seconds=history.play_seconds.iloc[0]),
            weighting_table(history, scenario, seed))


def measure_bucketed(study: Path, scenario: str, seed: int, profile, iterations: int, buckets: int,
                     out: Path, quantiles=()) -> pd.DataFrame:
    """Play (or reuse) one run's regret matching by congestion, the study's step with `buckets` (split at
    `quantiles` where given) and `iterations`; the report's `bucketed_play_table` rows."""
    from runs.reports.arbitrage import bucketed_play_table
    from runs.studies.arbitrage import bucketed_regret_matching

    weeks = len(profile.rm_fit_weeks or profile.fit_weeks)
    tag = "-q" + "_".join(f"{q:g}" for q in quantiles) if quantiles else ""
    path = out / f"{scenario}-seed{seed}-b{buckets}{tag}-w{weeks}.csv"
    if not path.exists():
        t0 = time.perf_counter()
        bucketed_regret_matching(study / "runs" / scenario / f"seed{seed}", path, scenario,
                                 dataclasses.replace(profile, rm_iterations=iterations, rm_buckets=buckets,
                                                     rm_bucket_quantiles=tuple(quantiles)), seed)
        print(f"{scenario} seed {seed}: {buckets} buckets, {iterations} iterations in {time.perf_counter() - t0:.0f} s",
              flush=True)
    tagged = {k: pd.read_csv(path.with_name(f"{path.stem}-{k}.csv")).assign(scenario=scenario, seed=seed)
              for k in ("scores", "hours", "edges")}
    return bucketed_play_table(tagged["scores"], tagged["hours"], tagged["edges"], [scenario]).assign(iterations=iterations)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("study", type=Path)
    ap.add_argument("runs", nargs="+", metavar="SCENARIO:SEED")
    ap.add_argument("--iterations", type=int, default=150)
    ap.add_argument("--fit-weeks", default="check", choices=("check", "fit", "train"),
                    help="the weeks regret matching plays on: the check weeks (as the study's fictitious play), the "
                         "profile's fit_weeks (13 training weeks; with --buckets, the profile's rm_fit_weeks where set) "
                         "or all 39 training weeks (then the check weeks are out of sample)")
    ap.add_argument("--buckets", type=int, default=0,
                    help="play by congestion with this many buckets, fitted on the fit weeks (needs --fit-weeks fit)")
    ap.add_argument("--quantiles", default="",
                    help="with --buckets B: the B - 1 inner bucket edges as rising quantiles of the fit hours' feature, "
                         "comma-separated (e.g. 0.125,0.25,0.5,0.75 splits the most congested quarter in two; "
                         "default: buckets of equal counts)")
    ap.add_argument("--profile", default="quick", choices=sorted(PROFILES))
    ap.add_argument("--out", type=Path, required=True)
    a = ap.parse_args()
    a.out.mkdir(parents=True, exist_ok=True)
    if a.buckets:
        if a.fit_weeks == "check":
            ap.error("--buckets fits the play on training weeks: add --fit-weeks fit or train")
        profile = PROFILES[a.profile]
        if a.fit_weeks == "train":
            profile = dataclasses.replace(profile, rm_fit_weeks=TRAIN_WEEKS)
        quantiles = tuple(float(q) for q in a.quantiles.split(",")) if a.quantiles else ()
        try:
            dataclasses.replace(profile, rm_buckets=a.buckets, rm_bucket_quantiles=quantiles)
        except ValueError as e:
            ap.error(str(e))
        summary = pd.concat([measure_bucketed(a.study, sc, int(seed), profile, a.iterations, a.buckets, a.out, quantiles)
                             for sc, seed in (spec.rsplit(":", 1) for spec in a.runs)], ignore_index=True)
        write_csv_atomic(a.out / "summary-buckets.csv", summary)
        with pd.option_context("display.width", 250, "display.max_columns", 30):
            print(summary.round(3).to_string(index=False))
        return
    tables, weightings = [], []
    for spec in a.runs:
        scenario, seed = spec.rsplit(":", 1)
        table, weighting = measure(a.study, scenario, int(seed), PROFILES[a.profile], a.iterations, a.fit_weeks, a.out)
        tables.append(table)
        weightings.append(weighting)
    summary, weighting = pd.concat(tables, ignore_index=True), pd.concat(weightings, ignore_index=True)
    write_csv_atomic(a.out / "summary.csv", summary)
    write_csv_atomic(a.out / "weighting.csv", weighting)
    with pd.option_context("display.width", 250, "display.max_columns", 30):
        print(summary.round(3).to_string(index=False))
        if len(weighting):
            print(weighting.round(2).to_string(index=False))


if __name__ == "__main__":
    main()
