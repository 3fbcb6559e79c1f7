"""The fitted play measured on a whole quick study (docs/arbitrage-study.md, "Fitted play on five seeds"):
the learned policies against the policies fictitious play over fitted responders keeps, run by run.

  summary     per scenario and seed, learned (the study's own files) vs fitted play (the output folder of
              `scripts/convergence_levers.py NAME SC K --run STUDY/runs/SC/seedK --fitted --fitted-play ...`,
              folders NAME-SC-K): aggregator 5's € and regret, every aggregator against its validated constant
              bid (at least / clearly short / shortfall), fitted responders over 10 %, the in-sample largest
              constant gain; means per scenario; paired Wilcoxon tests over the runs; the paper's two
              all-aggregator steps per seed. Learned fitted responders the study lacks (it fits them for
              seed 0 only) are fitted first, as its step does, into --learned-fitted.
  responders  trained best responders (the study's `responders` budget and weeks) for every aggregator
              against the fitted-play policy the study kept (STUDY/fitted_play/SC-seed0-policy.npz).
  two-stage-play  the study's two-stage play step (fictitious play over fitted two-stage responders, with its
              checks) on the study's learned runs of --seeds, and the report's table of them against the learned
              policies, with paired differences over the seeds.
  orderings   the paper's orderings (S-a < one-arb < all-arb; aggregator 5's S-a < one-arb) judged on played
              policies: every saved play policy scored on the study's evaluation weeks (`localmarl evaluate
              --fitted-play`), paired over seeds against the learned policies on the same weeks.
  play-iterations  every iteration of a saved two-stage play (its policy file keeps all rounds) checked with
              constant up prices on the profile's check and validation weeks: which iteration a choice on the
              validation weeks would keep, and how each does on the check weeks.
  skip-check  `two_stage_values` with and without its shortcuts (unsold up prices, shared LEM outcomes): speed and
              how far values differ.
  two-stage   fitted two-stage responders (withholding and up price, `runs.studies.arbitrage_two_stage`)
              for every aggregator against the learned policy or the study's fitted-play policy, as the
              study's `two_stage_responders` step fits them (a study made before that step lacks them).

    .venv/bin/python scripts/fitted_play_check.py summary --study STUDY --levers DIR --name NAME
                                                          [--learned-fitted DIR]
    .venv/bin/python scripts/fitted_play_check.py responders --study STUDY SCENARIO --out FILE.csv [--episodes N]
    .venv/bin/python scripts/fitted_play_check.py two-stage-play --study STUDY SCENARIO --seeds 0,1,2 --out DIR
                                                          [--weeks busy:K+spread:M] [--no-checks]
    .venv/bin/python scripts/fitted_play_check.py orderings --study STUDY --plays DIR [--plays DIR2]
                                                          [--play SC:K=FILE] --out DIR
    .venv/bin/python scripts/fitted_play_check.py play-iterations --run RUN --play FILE.npz --out DIR [--iterations 1,2,...]
    .venv/bin/python scripts/fitted_play_check.py two-stage --study STUDY SCENARIO --out FILE.csv
                                                          [--policy learned|fitted-play | --play FILE] [--seed K]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from runs.reports.arbitrage import AGG, every_aggregator_table, exploitability_table, fitted_responder_table  # noqa: E402
from runs.studies.arbitrage import PROFILES  # noqa: E402

SCENARIOS = ("s-a", "one-arb", "all-arb")


def _constant_bids(cp: pd.DataFrame, sc: str, seed: int) -> dict:
    ag = every_aggregator_table(cp.assign(scenario=sc, seed=seed), pd.DataFrame(), [sc])
    ref = ag.validated_constant_eur_per_week.fillna(ag.best_constant_eur_per_week)
    return {"all_eur_per_week": ag.learned_eur_per_week.sum(), "at_least_constant": int(ag.seeds_at_least_constant.sum()),
            "clearly_short": int(ag.seeds_clearly_short.sum()),
            "shortfall_eur_per_week": float((ref - ag.learned_eur_per_week).clip(lower=0).sum())}


def _fitted(fr: pd.DataFrame, sc: str, seed: int) -> dict:
    ft = fitted_responder_table(fr.assign(scenario=sc, seed=seed), [sc])
    return {"fitted_over_10pct": int((ft.exploitability_share > 0.10).sum()), "fitted_max_share": float(ft.exploitability_share.max())}


def learned_fitted_file(study: Path, learned_dir: Path, sc: str, seed: int) -> Path:
    """The learned policy's fitted-responder file: the study's, or one fitted now as its step fits them."""
    import torch

    from runs.studies.arbitrage import fitted_responders

    own = study / "fitted_responders" / f"{sc}-seed{seed}.csv"
    if own.exists():
        return own
    path = learned_dir / f"{sc}-seed{seed}.csv"
    if not path.exists():
        torch.set_num_threads(1)
        t0 = time.perf_counter()
        fitted_responders(study / "runs" / sc / f"seed{seed}", path, study / "constant_prices" / f"{sc}-seed{seed}.csv", sc,
                          PROFILES["quick"], seed)
        print(f"fitted the learned policy's responders, {sc} seed {seed}: {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


def summary(a) -> None:
    from scipy import stats

    study, levers = Path(a.study), Path(a.levers)
    results = {(r["scenario"], r["seed"]): r for r in map(json.loads, open(levers / "results.jsonl")) if r["name"] == a.name}
    rows = []
    for (sc, seed), r in sorted(results.items(), key=lambda kv: (kv[0][1], SCENARIOS.index(kv[0][0]))):
        d = levers / f"{a.name}-{sc}-{seed}"
        history = pd.read_csv(d / "fitted_play.csv")
        in_sample = history.groupby("iteration").constant_gain_share.max()
        kept = int(history[history.chosen].iteration.iloc[0]) if history.chosen.any() else int(history.iteration.max())
        ex = exploitability_table(pd.read_csv(study / "best_response" / f"{sc}-seed{seed}.csv").assign(scenario=sc, seed=seed),
                                  [sc]).iloc[0]
        learned_fr = pd.read_csv(learned_fitted_file(study, Path(a.learned_fitted), sc, seed))
        rows.append({"scenario": sc, "seed": seed, "policy": "learned", "iteration": 0, "agg5_eur_per_week": ex.learned_eur_per_week,
                     "agg5_regret_share": ex.regret_share, "in_sample_largest_constant_gain": in_sample.loc[0],
                     **_constant_bids(pd.read_csv(study / "constant_prices" / f"{sc}-seed{seed}.csv"), sc, seed),
                     **_fitted(learned_fr, sc, seed)})
        rows.append({"scenario": sc, "seed": seed, "policy": "fitted play", "iteration": kept,
                     "agg5_eur_per_week": r["agg5_learned_eur_per_week"], "agg5_regret_share": r["agg5_regret_share"],
                     "in_sample_largest_constant_gain": in_sample.loc[kept],
                     **_constant_bids(pd.read_csv(d / "constant_prices.csv"), sc, seed),
                     **_fitted(pd.read_csv(d / "fitted_responders.csv"), sc, seed), "fitted_play_s": r["fitted_play_s"]})
    t = pd.DataFrame(rows)
    pd.set_option("display.width", 250)
    print(t.round(3).to_string(index=False))
    print("\nmeans over seeds:")
    cols = ["agg5_eur_per_week", "agg5_regret_share", "all_eur_per_week", "at_least_constant", "clearly_short",
            "shortfall_eur_per_week", "fitted_over_10pct", "fitted_max_share", "in_sample_largest_constant_gain"]
    print(t.groupby(["scenario", "policy"], sort=False)[cols].mean().round(3).to_string())
    print("\npaired over the runs, fitted play - learned (Wilcoxon signed-rank):")
    for col in ("fitted_max_share", "clearly_short", "at_least_constant", "agg5_regret_share"):
        p = t.pivot_table(index=["scenario", "seed"], columns="policy", values=col)
        diff = p["fitted play"] - p["learned"]
        test = stats.wilcoxon(diff) if (diff != 0).any() else None
        print(f"  {col}: mean {diff.mean():+.3f}; lower in {int((diff < 0).sum())}, higher in {int((diff > 0).sum())} of "
              f"{len(diff)}; p = {'-' if test is None else f'{test.pvalue:.4f}'}")
    print("  runs with a fitted responder above 10 %:", t.assign(x=t.fitted_max_share > 0.10).groupby("policy").x.sum().to_dict())
    print("\nthe all-aggregator steps on the check weeks, paired per seed (mean ± s.e., seeds that agree, one-sided t-test):")
    for policy in ("learned", "fitted play"):
        p = t[t.policy == policy].pivot(index="seed", columns="scenario", values="all_eur_per_week")
        for lo, hi in (("s-a", "one-arb"), ("one-arb", "all-arb")):
            if {lo, hi} <= set(p.columns):
                diff = (p[hi] - p[lo]).dropna()
                test = stats.ttest_1samp(diff, 0.0, alternative="greater") if len(diff) > 1 else None
                print(f"  {policy}: {lo} < {hi}: {diff.mean():+,.0f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):,.0f} "
                      f"({int((diff > 0).sum())} of {len(diff)}, p = {'-' if test is None else f'{test.pvalue:.3f}'})")


def _played(a, run: Path, seed: int):
    """The policy to check: the study's learned run, or a fictitious play's policy file over it (--play, or the
    study's fitted-play policy for --policy fitted-play)."""
    from runs.studies.arbitrage_two_stage import load_play
    from runs.training import load_trained_policy

    policy, meta = load_trained_policy(run)
    path = a.play or (Path(a.study) / "fitted_play" / f"{a.scenario}-seed{seed}-policy.npz"
                      if getattr(a, "policy", "") == "fitted-play" else None)
    if path:
        policy = load_play(path, policy, meta["participant_ids"], base_sha256=meta["tensor_sha256"])
    return policy, meta


def responders(a) -> None:
    import torch

    from agents.learning.hyperparams import HyperParams
    from runs.best_response import train_best_response
    from runs.studies.arbitrage_fitted_play import gain_shares
    from runs.training import load_trained_policy

    torch.set_num_threads(1)
    a.policy = "fitted-play"  # the study's, unless --play names another file
    study, prof = Path(a.study), PROFILES["quick"]
    run = study / "runs" / a.scenario / "seed0"
    _, meta = load_trained_policy(run)
    hp, rows = HyperParams.from_dict(meta["hyperparams"]), []
    for agg in meta["participant_ids"]:
        policy, _ = _played(a, run, 0)  # a fresh copy: nothing of one responder reaches the next
        r = train_best_response(a.scenario, policy, agg, a.episodes, hp, list(prof.br_weeks), seed=0,
                                curve_weeks=prof.responder_validation_weeks)
        r.pop("curve")
        rows.append({"aggregator": agg, **{k: v for k, v in r.items() if k != "participant"}})
        print(f"{a.scenario} aggregator {agg}: gain {r['gain_eur']:+,.1f} € on {len(prof.br_weeks)} weeks, "
              f"actor of episode {r['best_episode']}, {r['seconds']:.0f} s", flush=True)
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    t = pd.DataFrame(rows)
    t.to_csv(a.out, index=False)
    share = gain_shares(t.gain_eur.to_numpy(), t.learned_eur.to_numpy())  # the report's floored base: known at the end
    print("gain shares (the report's base): " + ", ".join(f"{g}: {100 * v:+.1f} %" for g, v in zip(t.aggregator, share))
          + f"; over 10 %: {int((share > 0.10).sum())} of {len(t)}")


def two_stage(a) -> None:
    import torch

    from runs.reports.arbitrage import summarise_two_stage
    from runs.studies.arbitrage import two_stage_responders

    torch.set_num_threads(1)
    study, prof = Path(a.study), PROFILES["quick"]
    run = study / "runs" / a.scenario / f"seed{a.seed}"
    policy, meta = _played(a, run, a.seed)
    t0 = time.perf_counter()
    out = Path(a.out)
    two_stage_responders(run, out, a.scenario, prof, meta["seed"], policy=policy)  # as the study's step
    table = summarise_two_stage(pd.read_csv(out))
    table.to_csv(out.with_name(out.stem + "-summary.csv"), index=False)
    print(f"{a.scenario} seed {a.seed}, {a.play or a.policy} policy, fitted on {prof.two_stage_weeks}: {time.perf_counter() - t0:.0f} s")
    print(table.round(3).to_string(index=False))


def two_stage_play_seeds(a) -> None:
    """The study's two-stage play step (`runs.studies.arbitrage.two_stage_play`) on the study's learned runs of
    --seeds, into --out/two_stage_play/ (a finished seed is kept); the learned policy's two-stage responders the
    study lacks (it fits them for seed 0 only) are fitted into --out/two_stage/. Then the report's table
    (`fitted_play_table`) of the learned and the two-stage-play policy per seed, and the paired differences."""
    import torch
    from scipy import stats

    from runs.reports.arbitrage import fitted_play_table
    from runs.studies import arbitrage as study_mod

    torch.set_num_threads(1)
    study, out, prof = Path(a.study), Path(a.out), PROFILES[a.profile]
    if a.iterations is not None and a.iterations < 1:
        raise SystemExit(f"--iterations must be at least 1, got {a.iterations}")
    changes = {"two_stage_play_weeks": a.weeks, "two_stage_play_rounds": a.rounds, "two_stage_play_window": a.window,
               "two_stage_play_iterations": a.iterations}
    try:  # the profile refuses values no play can run
        prof = dataclasses.replace(prof, **{k: v for k, v in changes.items() if v is not None and v != ""})
    except ValueError as e:
        raise SystemExit(str(e)) from None
    seeds = [int(k) for k in a.seeds.split(",")]
    for seed in seeds:
        run = study / "runs" / a.scenario / f"seed{seed}"
        learned_ts = study / "two_stage" / f"{a.scenario}-seed{seed}.csv"
        if not a.no_checks and not learned_ts.exists() and not (out / "two_stage" / learned_ts.name).exists():
            t0 = time.perf_counter()
            study_mod.two_stage_responders(run, out / "two_stage" / learned_ts.name, a.scenario, prof, seed)
            print(f"seed {seed}: learned policy's two-stage responders, {time.perf_counter() - t0:.0f} s", flush=True)
        path = out / "two_stage_play" / f"{a.scenario}-seed{seed}.csv"
        checked = Path(f"{path.with_suffix('')}-two_stage.csv").exists()  # the checks' last file
        if not path.exists() or not (a.no_checks or checked):
            t0 = time.perf_counter()
            study_mod.two_stage_play(run, path, a.scenario, prof, seed, checks=not a.no_checks)
            print(f"seed {seed}: two-stage play{'' if a.no_checks else ' and its checks'}, "
                  f"{time.perf_counter() - t0:.0f} s", flush=True)
    if a.no_checks:
        for seed in seeds:
            h = pd.read_csv(out / "two_stage_play" / f"{a.scenario}-seed{seed}.csv")
            kept = h[h.chosen]
            print(f"seed {seed}: kept iteration {int(kept.iteration.iloc[0])}, in-sample largest fixed gain "
                  f"{kept.fixed_gain_share.max():.3f} (policy: {a.scenario}-seed{seed}-policy.npz; score it with orderings)")
        return

    def read(folder: Path, suffix: str = "") -> pd.DataFrame:
        parts = [pd.read_csv(f).assign(scenario=a.scenario, seed=k) for k in seeds
                 if (f := folder / f"{a.scenario}-seed{k}{suffix}.csv").exists()]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    data = {"best_response": read(study / "best_response"), "constant_prices": read(study / "constant_prices"),
            "two_stage": pd.concat([read(study / "two_stage"), read(out / "two_stage")], ignore_index=True),
            "two_stage_play": read(out / "two_stage_play"),
            **{f"tsp_{k}": read(out / "two_stage_play", f"-{k}") for k in ("constant_prices", "best_response", "two_stage")}}
    t = fitted_play_table(data, [a.scenario])
    t.to_csv(out / f"{a.scenario}-two_stage_play.csv", index=False)
    pd.set_option("display.width", 250)
    cols = ["seed", "policy", "iteration", "in_sample_largest_fixed_gain_share", "agg5_regret_share", "all_aggregators_eur_per_week",
            "at_least_validated_constant", "clearly_short", "shortfall_eur_per_week", "two_stage_over_10pct",
            "largest_two_stage_gain_share"]
    print(t[cols].round(3).to_string(index=False))
    print("\npaired over the seeds, two-stage play - learned (Wilcoxon signed-rank where 5 or more):")
    lr, tp = (t[t.policy == p].set_index("seed") for p in ("learned", "two-stage play"))
    for col in cols[3:]:
        d = (tp[col] - lr[col]).dropna()
        test = stats.wilcoxon(d) if len(d) >= 5 and (d != 0).any() else None
        print(f"  {col}: mean {d.mean():+,.3f}, per seed {', '.join(f'{v:+,.3g}' for v in d)}"
              + (f", p = {test.pvalue:.3f}" if test is not None else ""))


PLAY_KIND = {"TwoStagePlayPolicy": "two-stage play", "FittedPlayPolicy": "fitted play"}


def _play_files(a) -> dict[tuple[str, int], Path]:
    """(scenario, seed) -> policy file: --play SC:K=FILE, and every two_stage_play/SC-seedK-policy.npz under the
    --plays folders (a folder's own SC-seedK-policy.npz files too)."""
    found = {}
    for folder in a.plays:
        for f in sorted([*Path(folder).glob("*-seed*-policy.npz"), *Path(folder).glob("two_stage_play/*-seed*-policy.npz")]):
            sc, _, seed = f.name[:-len("-policy.npz")].rpartition("-seed")
            if sc and seed.isdigit():
                found[(sc, int(seed))] = f
    for spec in a.play:
        key, eq, file = spec.partition("=")
        sc, colon, seed = key.rpartition(":")
        if not (eq and colon and sc and seed.isdigit()):
            raise SystemExit(f"--play {spec!r}: write SCENARIO:SEED=FILE, e.g. one-arb:0=DIR/two_stage_play.npz")
        found[(sc, int(seed))] = Path(file)
    missing = [str(f) for f in found.values() if not f.is_file()]
    if missing:
        raise SystemExit(f"no such policy file: {', '.join(missing)}")
    return found


def orderings(a) -> None:
    """The paper's orderings judged on played policies: each play's saved policy (`load_play`: the two-stage
    play's or the fitted play's .npz) scored on the study's evaluation weeks as `localmarl evaluate --fitted-play`
    does, into --out/eval/SC/seedK/ (kept when already made from the same file), against the learned policies'
    scores on the same weeks; each step is judged on the seeds played in both its scenarios (`ordering_steps_table`:
    paired differences, one-sided t-test), on the 12 test weeks, the profile's check weeks and the other test weeks."""
    from model.atomic import file_sha256
    from runs.reports.arbitrage import aggregator_week_means, ordering_steps_table
    from runs.reports.common import is_test
    from runs.train import fitted_play_wrap
    from runs.training import evaluate_run

    study, out, prof = Path(a.study), Path(a.out), PROFILES[a.profile]
    files, played, kinds = _play_files(a), [], set()
    if not files:
        raise SystemExit("no play policies: give --plays DIR (holding two_stage_play/SC-seedK-policy.npz) or --play SC:K=FILE")
    for (sc, seed), f in sorted(files.items()):
        run, dest = study / "runs" / sc / f"seed{seed}", out / "eval" / sc / f"seed{seed}"
        config = dest / "config.json"
        made = json.loads(config.read_text()).get("fitted_play", {}) if config.exists() else {}
        if not ((dest / "scores.csv").exists() and made.get("sha256") == file_sha256(f)):
            t0 = time.perf_counter()
            evaluate_run(run, dest, weeks=list(prof.eval_weeks) if prof.eval_weeks else None, overwrite=True,
                         wrap=fitted_play_wrap(str(f)))
            made = json.loads(config.read_text())["fitted_play"]
            print(f"{sc} seed {seed}: {f} scored on the evaluation weeks, {time.perf_counter() - t0:.0f} s", flush=True)
        kinds.add(PLAY_KIND.get(made["kind"], made["kind"]))
        played.append(pd.read_csv(dest / "scores.csv").assign(scenario=sc, seed=seed))
    play = pd.concat(played, ignore_index=True)
    learned = pd.concat([pd.read_csv(study / "eval" / sc / f"seed{k}" / "scores.csv").assign(scenario=sc, seed=k)
                         for sc, k in sorted(files)], ignore_index=True)
    label = " / ".join(sorted(kinds))
    check = list(prof.br_weeks)
    selections = {"test weeks": is_test, "check weeks": lambda w: w.isin(check),
                  "other test weeks": lambda w: is_test(w) & ~w.isin(check)}
    frames = {(weeks, profile): aggregator_week_means(df[keep(df.week)], play)
              for weeks, keep in selections.items() for profile, df in (("learned", learned), (label, play))}
    t = ordering_steps_table(frames)
    out.mkdir(parents=True, exist_ok=True)
    t.to_csv(out / "orderings.csv", index=False)
    pd.set_option("display.width", 250)
    seeds = pd.Series([k for _, k in sorted(files)], index=[sc for sc, _ in sorted(files)]).groupby(level=0).apply(list)
    print(f"\nthe paper's orderings, learned vs {label} (seeds played: {seeds.to_dict()}):")
    print(t.drop(columns="per_seed_difference_eur_per_week").round(3).to_string(index=False) if len(t) else
          "  none: a step needs both of its scenarios played on the same seeds")
    by_week = pd.concat([_agg5_by_week(study / "eval", files, "learned"), _agg5_by_week(out / "eval", files, label)])
    by_week = by_week.pivot_table(index="week", columns=["scenario", "profile"], values=["eur", "withhold"], sort=False)
    order = {sc: i for i, sc in enumerate(SCENARIOS)}
    by_week = by_week[sorted(by_week.columns, key=lambda c: (c[0], order.get(c[1], len(order)), c[1], c[2] != "learned"))]
    by_week.to_csv(out / "agg5_by_week.csv")
    print(f"\naggregator {AGG}'s € and mean withholding per week, mean over the seeds played:")
    print(by_week.round(2).to_string())
    print(f"\nwrote {out / 'orderings.csv'}, {out / 'agg5_by_week.csv'}")


def _agg5_by_week(folder: Path, files: dict, profile: str) -> pd.DataFrame:
    """Aggregator 5's € per week and its mean withholding (hours.csv) in each evaluation of `folder`/SC/seedK."""
    rows = []
    for sc, k in sorted(files):
        scores = pd.read_csv(folder / sc / f"seed{k}" / "scores.csv")
        hours = pd.read_csv(folder / sc / f"seed{k}" / "hours.csv", usecols=["week", "aggregator", "withhold"])
        eur = scores[scores.aggregator == AGG].groupby("week", sort=False).total_eur.sum()
        rows.append(pd.DataFrame({"scenario": sc, "seed": k, "profile": profile, "week": eur.index, "eur": eur.values,
                                  "withhold": eur.index.map(hours[hours.aggregator == AGG].groupby("week").withhold.mean())}))
    return pd.concat(rows, ignore_index=True)


def play_iterations(a) -> None:
    """Each iteration t of a saved two-stage play (population t + 1) against constant up prices, as the study's
    checks score the play it keeps: per iteration, the validation weeks' largest and summed constant gain and the
    check weeks' counts (`_constant_bids`). Each iteration's constant prices are kept in --out and reused."""
    import torch

    from runs.studies import arbitrage_best_response as br
    from runs.studies.arbitrage_fitted_play import gain_shares
    from runs.studies.arbitrage_two_stage import TwoStagePlayPolicy
    from runs.training import load_trained_policy

    torch.set_num_threads(1)
    prof, out = PROFILES[a.profile], Path(a.out)
    learned, meta = load_trained_policy(Path(a.run))
    policy = TwoStagePlayPolicy.load(a.play, learned, meta["participant_ids"], base_sha256=meta["tensor_sha256"])
    its = [int(t) for t in a.iterations.split(",")] if a.iterations else list(range(1, len(policy.snapshots) + 1))
    if not all(1 <= t <= len(policy.snapshots) for t in its):
        raise SystemExit(f"--iterations must be in 1..{len(policy.snapshots)} (the rounds {a.play} holds), got {a.iterations}")
    check, val = list(prof.br_weeks), [w for w in prof.responder_validation_weeks if w not in prof.br_weeks]
    scenario, seed = meta["scenario_arg"], int(meta["seed"])
    out.mkdir(parents=True, exist_ok=True)
    rows = []
    for t in its:
        f = out / f"constant_prices-iteration{t}.csv"
        if not f.exists():
            t0 = time.perf_counter()
            policy.population = t + 1
            cp = br.constant_prices(scenario, policy, check + val, grid=br.COARSE, seed=seed)
            cp["use"] = cp.week.map(lambda w: "validation" if w in val else "check")
            cp.to_csv(f, index=False, float_format="%.6g")
            print(f"iteration {t}: {time.perf_counter() - t0:.0f} s", flush=True)
        cp = pd.read_csv(f)
        const = [c for c in cp.columns if c.startswith("up_at_")]
        v = cp[cp.use == "validation"].groupby("aggregator")[["learned_eur", *const]].sum() / len(val)
        gain = v[const].max(axis=1).to_numpy() - v.learned_eur.to_numpy()
        rows.append({"iteration": t, "validation_largest_constant_gain_share": float(gain_shares(gain, v.learned_eur.to_numpy()).max()),
                     "validation_summed_gain_eur_per_week": float(gain.clip(min=0).sum()),
                     **_constant_bids(cp, scenario, seed)})
    table = pd.DataFrame(rows)
    table.to_csv(out / "play_iterations.csv", index=False)
    print(table.round(3).to_string(index=False))


def skip_check(a) -> None:
    """`two_stage_values` with every option cleared, then with its shortcuts one after the other (skipping the
    up prices above one at which the aggregator sells nothing; sharing the LFM values of withholdings with the
    same LEM outcome), on the study's learned run: wall times, side by side, and how far the values differ."""
    import torch

    from runs.studies.arbitrage_two_stage import two_stage_values
    from runs.training import load_trained_policy

    torch.set_num_threads(1)
    policy, meta = load_trained_policy(Path(a.study) / "runs" / a.scenario / f"seed{a.seed}")
    weeks, got = a.weeks.split(","), {}
    two_stage_values(a.scenario, policy, weeks[:1], seed=meta["seed"], max_hours=1)  # imports and caches, untimed
    variants = {"every option cleared": (False, False), "skip unsold": (True, False), "skip unsold + shared outcomes": (True, True)}
    for name, (skip, share) in variants.items():
        t0 = time.perf_counter()
        tv = two_stage_values(a.scenario, policy, weeks, seed=meta["seed"], max_hours=a.hours, skip_unsold=skip,
                              share_outcomes=share)
        got[name] = (tv, time.perf_counter() - t0)
    full, t_full = got["every option cleared"]
    H, N, W = full.r1.shape
    same = np.zeros((H, N, W), bool)  # an option whose LFM input and r1 an earlier option of its hour has
    for w in range(1, W):
        same[:, :, w] = ((full.x_lfm[:, :, :w] == full.x_lfm[:, :, w:w + 1]).all(3)
                         & (full.r1[:, :, :w] == full.r1[:, :, w:w + 1])).any(2)
    print(f"{a.scenario} seed {a.seed}, {weeks}, {a.hours} hours each; {100 * same.mean():.0f} % of the withholding options "
          f"have an earlier option's LFM input and r1 ({W - same.sum(2).mean():.2f} distinct of {W} per hour and aggregator):")
    for name, (tv, t) in got.items():
        d = np.abs(tv.values - full.values)
        print(f"  {name:30s} {t:6.1f} s ({t_full / t:.2f}x); values differ by at most {d.max():.3g} €, "
              f"{int((d > 1e-6).sum())} of {d.size} by more than 1e-6; LFM inputs differ by at most "
              f"{np.abs(tv.x_lfm - full.x_lfm).max():.3g}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    s = sub.add_parser("summary")
    s.add_argument("--study", required=True)
    s.add_argument("--levers", required=True, help="convergence_levers.py's --out folder")
    s.add_argument("--name", required=True, help="the NAME those runs were given")
    s.add_argument("--learned-fitted", default="runs/out/fitted-play-check/learned-fitted",
                   help="where the learned policies' missing fitted responders go")
    s.set_defaults(func=summary)
    r = sub.add_parser("responders")
    r.add_argument("--study", required=True)
    r.add_argument("scenario")
    r.add_argument("--episodes", type=int, default=PROFILES["quick"].responder_episodes)
    r.add_argument("--out", required=True)
    r.add_argument("--play", help="against this policy file instead of the study's fitted-play policy (a fitted-play or "
                                  "two-stage-play .npz made from the study's seed-0 run)")
    r.set_defaults(func=responders)
    t = sub.add_parser("two-stage")
    t.add_argument("--study", required=True)
    t.add_argument("scenario")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--policy", choices=("learned", "fitted-play"), default="learned",
                   help="respond to the learned policy or to the study's fitted-play policy (seed 0)")
    t.add_argument("--play", help="respond to this policy file instead (a fitted-play or two-stage-play .npz made from "
                                  "the study's run, e.g. convergence_levers.py --two-stage-play's)")
    t.add_argument("--out", required=True)
    t.set_defaults(func=two_stage)
    p = sub.add_parser("two-stage-play")
    p.add_argument("--study", required=True)
    p.add_argument("scenario")
    p.add_argument("--seeds", default="0")
    p.add_argument("--profile", default="quick", help="the study's profile (its weeks, iterations and budgets)")
    p.add_argument("--weeks", default=None, metavar="busy:K[+spread:M]|W1,W2,...",
                   help="the weeks the play learns on (default: the profile's two_stage_play_weeks)")
    p.add_argument("--rounds", choices=("linear", "uniform"), default=None,
                   help="how the play's mixture weighs its rounds (default: the profile's two_stage_play_rounds)")
    p.add_argument("--window", type=int, default=None,
                   help="iterations of values each round is fitted on (default: the profile's two_stage_play_window)")
    p.add_argument("--iterations", type=int, default=None,
                   help="iterations of the play (default: the profile's two_stage_play_iterations); the first ones "
                        "are the same as a shorter play's")
    p.add_argument("--no-checks", action="store_true",
                   help="the play's policy and history only, no checks and no table (to score more seeds with orderings)")
    p.add_argument("--out", required=True, help="folder for the play's files, its checks and the table")
    p.set_defaults(func=two_stage_play_seeds)
    o = sub.add_parser("orderings")
    o.add_argument("--study", required=True)
    o.add_argument("--plays", action="append", default=[], metavar="DIR",
                   help="a folder holding two_stage_play/SC-seedK-policy.npz (a study, or two-stage-play's --out); repeatable")
    o.add_argument("--play", action="append", default=[], metavar="SC:K=FILE", help="one more policy file; repeatable")
    o.add_argument("--profile", default="quick", help="the study's profile (its check weeks)")
    o.add_argument("--out", required=True, help="folder for the played scores and orderings.csv")
    o.set_defaults(func=orderings)
    i = sub.add_parser("play-iterations")
    i.add_argument("--run", required=True, help="the learned run the play was made from")
    i.add_argument("--play", required=True, help="a two-stage play's policy file (two_stage_play/SC-seedK-policy.npz)")
    i.add_argument("--iterations", default="", help="comma-separated iterations (default: every one the file holds)")
    i.add_argument("--profile", default="quick", help="the study's profile (its check and validation weeks)")
    i.add_argument("--out", required=True, help="folder for each iteration's constant prices and play_iterations.csv")
    i.set_defaults(func=play_iterations)
    k = sub.add_parser("skip-check")
    k.add_argument("--study", required=True)
    k.add_argument("scenario")
    k.add_argument("--seed", type=int, default=0)
    k.add_argument("--weeks", default="train:3,test:1")
    k.add_argument("--hours", type=int, default=48, help="the first hours of each week")
    k.set_defaults(func=skip_check)
    a = ap.parse_args()
    a.func(a)


if __name__ == "__main__":
    main()
