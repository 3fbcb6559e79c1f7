"""The arbitrage design's study report: our Table I and Table II beside the paper's, baselines, the
best-response check, and PNG figures in the spirit of the paper's Figs. 5-12. Reads only the study
folder, so `python -m runs.report DIR` rebuilds it. Shared helpers: `runs.reports.common`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from model.designs.arbitrage import PAPER, bought_flexibility
from runs.reports.common import (
    SIGNIFICANCE, hours_of, is_eval as _is_eval, is_test as _is_test, legend_marks_last, load_study, mark_selected, mark_settled, selected_snapshots,
    md_table as _md, paired_steps, plt as _plt, save_figure as _save, seed_totals, test_index as _test_index,
    trend_display, trend_sentence, trend_table, typed_options, unfinished_note,
)

AGG = PAPER.focus_aggregator  # the aggregator the paper follows
SA, ONE, ALL = PAPER.scenarios  # stand-alone, one arbitrageur, all arbitrage
SA_SWAP, ONE_SWAP, ALL_SWAP = PAPER.swapped
SCENARIO_LABEL = dict(PAPER.labels)
COLORS = {SA: "tab:green", ONE: "tab:blue", ALL: "tab:red", SA_SWAP: "tab:olive",
          ONE_SWAP: "tab:cyan", ALL_SWAP: "tab:purple"}

# The paper's reported numbers (its Tables I and II), euro per week.
PAPER_TABLE1 = {
    (SA, "first"): [-8.5, -0.5, 0.0, 0.0, 0.0, -0.2, -1.7, -0.8, -4.1, -1.3, -2.4, -37.6],
    (SA, "second"): [2189.9, 1387.6, 502.5, 127.6, 625.4, 147.5, 442.3, 516.1, 173.4, 198.8, 837.1, 799.3],
    (SA, "total"): [2181.4, 1387.0, 502.4, 127.6, 625.4, 147.4, 440.6, 515.3, 169.3, 197.5, 834.7, 761.7],
    (ONE, "first"): [-181.6, -15.5, -2.0, -0.8, -0.8, -5.5, -42.0, -40.4, -121.8, -57.6, -106.9, -529.2],
    (ONE, "second"): [3961.4, 2033.3, 670.9, 182.2, 749.6, 174.5, 567.6, 897.0, 534.4, 594.6, 2002.5, 3656.5],
    (ONE, "total"): [3779.8, 2017.8, 669.0, 181.4, 748.8, 169.0, 525.6, 856.5, 412.6, 537.0, 1895.6, 3127.3],
    (ALL, "first"): [-169.9, -14.3, -1.6, -0.9, -0.8, -5.1, -41.6, -42.2, -121.3, -56.2, -93.1, -485.7],
    (ALL, "second"): [3852.3, 2220.9, 752.5, 236.0, 864.2, 201.6, 623.6, 1047.9, 606.7, 628.2, 2036.8, 3961.5],
    (ALL, "total"): [3682.4, 2206.6, 750.9, 235.1, 863.4, 196.5, 581.9, 1005.7, 485.3, 572.0, 1943.6, 3475.8],
}
PAPER_TABLE2 = {SA: (7238.5, 5054.7), ONE: (9644.9, 6120.0), ALL: (12986.0, 7108.1)}
STAGE_COL = {"first": "first_stage_eur", "second": "second_stage_eur", "total": "total_eur"}


def load(study: Path) -> dict:
    data = load_study(study, list(SCENARIO_LABEL))

    def per_run(folder: str, suffix: str = "") -> pd.DataFrame:
        rows = []
        for f in sorted((Path(study) / folder).glob(f"*-seed*{suffix}.csv")) if (Path(study) / folder).exists() else []:
            stem = f.stem[:-len(suffix)] if suffix else f.stem
            sc, _, seed = stem.rpartition("-seed")
            if seed.isdigit():
                rows.append(pd.read_csv(f).assign(scenario=sc, seed=int(seed)))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    return data | {"constant_prices": per_run("constant_prices"), "responders": per_run("responders"),
                   "along_training": per_run("along_training"), "snapshot_choice": per_run("snapshot_choice"),
                   "selected": selected_snapshots(study, data["scenarios"]),  # the runs that handed on a snapshot
                   "dynamics": per_run("constant_bid_dynamics"),
                   "fictitious_play": per_run("fictitious_play"),
                   "fp_validation": per_run("fictitious_play", "-validation"),
                   "fp_scores": per_run("fictitious_play", "-scores"),
                   "regret_matching": per_run("regret_matching"),
                   "rm_scores": per_run("regret_matching", "-scores"),
                   "rm_mixtures": per_run("regret_matching", "-mixtures"),
                   "rmb_scores": per_run("regret_matching", "-buckets-scores"),
                   "rmb_hours": per_run("regret_matching", "-buckets-hours"),
                   "rmb_edges": per_run("regret_matching", "-buckets-edges"),
                   "rmb_play_scores": per_run("regret_matching", "-buckets-play-scores"),
                   "critic_ranking": per_run("critic_ranking"),
                   "fitted_responders": per_run("fitted_responders"),
                   "responder_curves": per_run("responders", "-curve"),
                   "fitted_play": per_run("fitted_play"),
                   "ffp_constant_prices": per_run("fitted_play", "-constant_prices"),
                   "ffp_best_response": per_run("fitted_play", "-best_response"),
                   "ffp_fitted_responders": per_run("fitted_play", "-fitted_responders"),
                   "two_stage": per_run("two_stage"), "ffp_two_stage": per_run("fitted_play", "-two_stage"),
                   "two_stage_play": per_run("two_stage_play"),
                   "tsp_constant_prices": per_run("two_stage_play", "-constant_prices"),
                   "tsp_best_response": per_run("two_stage_play", "-best_response"),
                   "tsp_two_stage": per_run("two_stage_play", "-two_stage")}


SHORT_CONFIDENCE = 0.95  # one-sided: a shortfall is "clear" where the day-block bootstrap's bound is above the tolerance
SHORT_RESAMPLES = 2000


def shortfall_lower_bound_eur_per_week(check: pd.DataFrame, column: str, seed: int = 0) -> float:
    """One-sided `SHORT_CONFIDENCE` lower bound of (`column` - learned_eur) in € per week on one aggregator's
    check-week rows (week, hour_of_week, learned_eur, column): the percentile bootstrap of the mean over
    days, resampling whole days (hours of a day share their weather and load), times the days per week.
    Rows without hour_of_week are resampled by week. Above zero: the constant bid beats the learned policy
    by more than the check weeks' sampling noise explains."""
    from scipy.stats import bootstrap

    blocks = [check.week, check.hour_of_week // 24] if "hour_of_week" in check else [check.week]
    d = (check[column] - check.learned_eur).groupby(blocks).sum().to_numpy()
    per_week = len(d) / max(check.week.nunique(), 1)  # blocks per week
    if len(d) < 2 or np.ptp(d) == 0:  # nothing to resample: the mean is exact
        return per_week * float(d.mean()) if len(d) else np.nan
    res = bootstrap((d,), np.mean, n_resamples=SHORT_RESAMPLES, confidence_level=SHORT_CONFIDENCE, method="percentile",
                    alternative="greater", rng=np.random.default_rng(seed))
    return per_week * float(res.confidence_interval.low)


def every_aggregator_table(cp: pd.DataFrame, resp: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Per scenario and aggregator: the learned policy against constant up-price bids (every seed) and
    against a trained best responder (the seeds that trained one), € per week on the check weeks.

    best_constant_eur_per_week: the best of the constant bids on the check weeks themselves (chosen
    where it is scored: an upper bound of what a constant bid earns); validated_constant_eur_per_week:
    the constant bid that earned most on the validation weeks, scored on the check weeks (a strategy the
    aggregator could have chosen beforehand); seeds_at_least_constant: seeds in which the learned policy
    earned at least the validated constant bid (to 0.1 %); seeds_clearly_short: seeds in which it earned
    less by more than sampling noise (`shortfall_lower_bound_eur_per_week` above 0.1 % of the constant's
    earnings, at least 0.001 € per week: an equilibrium mixture falls short of some constant on any finite
    sample, so "at least" alone cannot tell noise from a real shortfall); responder_gain_eur_per_week /
    _share: the trained best responder's gain over the learned policy (share of |learned|, at least 1 €; mean over
    the seeds that trained one); exploitability_eur_per_week / _share: in those seeds, the larger of the
    responder's gain and the validated constant bid's (both are policies the aggregator could play from
    its own observations, chosen without seeing the check weeks)."""
    from runs.studies.arbitrage_best_response import constant_up_prices

    if cp.empty:
        return pd.DataFrame()
    const = list(constant_up_prices(cp))
    use = cp["use"] if "use" in cp else pd.Series("check", index=cp.index)
    check, val = cp[use == "check"], cp[use == "validation"]
    n_weeks = check.groupby(["scenario", "seed"]).week.nunique().rename("weeks")
    keys = ["scenario", "seed", "aggregator"]
    per = check.groupby(keys)[["learned_eur", *const]].sum()
    per["best_constant_eur"] = per[const].max(axis=1)
    if len(val):
        choice = val.groupby(keys)[const].sum().idxmax(axis=1)  # the level chosen on the validation weeks
        per["validated_constant_eur"] = [per.loc[k, choice.loc[k]] if k in choice.index else np.nan for k in per.index]
        level = {k: choice.loc[k] if k in choice.index else per.loc[k, const].astype(float).idxmax() for k in per.index}
    else:
        per["validated_constant_eur"] = np.nan
        level = {k: per.loc[k, const].astype(float).idxmax() for k in per.index}
    rows_of = check.groupby(keys)
    per["short_lower_eur"] = [shortfall_lower_bound_eur_per_week(rows_of.get_group(k), level[k]) for k in per.index]
    per = per[["learned_eur", "best_constant_eur", "validated_constant_eur", "short_lower_eur"]].reset_index().merge(
        n_weeks.reset_index(), on=["scenario", "seed"])
    for c in ("learned_eur", "best_constant_eur", "validated_constant_eur"):
        per[c] /= per.weeks
    ref = per.validated_constant_eur.fillna(per.best_constant_eur)
    per["ok"] = per.learned_eur >= ref - 1e-3 * ref.abs() - 1e-6
    per["clearly_short"] = per.short_lower_eur > 1e-3 * ref.abs().clip(lower=1.0)  # € per week, as learned_eur now is
    rows = []
    for (sc, agg), d in per.groupby(["scenario", "aggregator"], sort=False):
        if sc not in scenarios:
            continue
        row = {"scenario": sc, "aggregator": int(agg), "seeds": len(d), "learned_eur_per_week": d.learned_eur.mean(),
               "best_constant_eur_per_week": d.best_constant_eur.mean(),
               "validated_constant_eur_per_week": d.validated_constant_eur.mean(),
               "seeds_at_least_constant": int(d.ok.sum()), "seeds_clearly_short": int(d.clearly_short.sum())}
        r = resp[(resp.scenario == sc) & (resp.aggregator == agg)] if len(resp) else resp
        if len(r):
            weeks = n_weeks.loc[sc].iloc[0]
            gain = (r.gain_eur / weeks).mean()
            seeds = d.set_index("seed").reindex(r.seed.to_numpy())
            constant_gain = (seeds.validated_constant_eur.fillna(seeds.best_constant_eur) - seeds.learned_eur).to_numpy()
            exploit = float(np.mean(np.maximum(r.gain_eur.to_numpy() / weeks, constant_gain)))
            row |= {"responder_seeds": len(r), "responder_episodes": int(r.episodes.iloc[0]),
                    "responder_gain_eur_per_week": gain, "responder_learned_eur_per_week": (r.learned_eur / weeks).mean(),
                    "exploitability_eur_per_week": exploit}
        rows.append(row)
    out = pd.DataFrame(rows)
    if "responder_gain_eur_per_week" in out:  # shares of a floored base, per scenario over its aggregators
        for sc, d in out[out.responder_gain_eur_per_week.notna()].groupby("scenario", sort=False):
            own = d.responder_learned_eur_per_week.to_numpy()
            out.loc[d.index, "responder_gain_share"] = _shares(d.responder_gain_eur_per_week, own)
            out.loc[d.index, "exploitability_share"] = _shares(d.exploitability_eur_per_week, own)
        out = out.drop(columns="responder_learned_eur_per_week")
    order = {sc: i for i, sc in enumerate(scenarios)}
    return out.sort_values(["scenario", "aggregator"], key=lambda c: c.map(order) if c.name == "scenario" else c,
                           ignore_index=True)


def _mean_over_seeds(per_seed: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Rows per (scenario, seed, aggregator) -> their mean per (scenario, aggregator) with a `seeds` count,
    scenarios in the study's order."""
    out = per_seed.groupby(["scenario", "aggregator"], sort=False).mean(numeric_only=True).drop(columns="seed").reset_index()
    out.insert(2, "seeds", per_seed.groupby(["scenario", "aggregator"], sort=False).size().to_numpy())
    order = {s: i for i, s in enumerate(scenarios)}
    return out.sort_values(["scenario", "aggregator"], key=lambda c: c.map(order) if c.name == "scenario" else c,
                           kind="stable").reset_index(drop=True)


def _shown(df: pd.DataFrame, share: str) -> str:
    """A per-aggregator table as the report shows it: scenario labels, the `share` column in %."""
    return _md(df.assign(scenario=df.scenario.map(lambda x: SCENARIO_LABEL.get(x, x)), **{share: 100 * df[share]})
               .rename(columns={share: share.replace("_share", "_%")}))


def _shares(gain_eur, own_eur) -> np.ndarray:
    """Gains as shares of the aggregators' own earnings, the base floored at 1 % of their mean |earnings| and 1 €
    (`arbitrage_fitted_play.gain_shares`): a gain of a few € over an aggregator earning next to nothing is no
    exploit worth a percentage. `own_eur`: every aggregator of one run (or of one scenario)."""
    from runs.studies.arbitrage_fitted_play import gain_shares

    return gain_shares(np.asarray(gain_eur, dtype=float), np.asarray(own_eur, dtype=float))


def _validated_responder(d: pd.DataFrame):
    """One aggregator's per-hour responder rows (learned_eur, responder_eur, use): € per check week of the policy
    and of the responder, whether the responder won on the validation weeks, the € per week of the one kept
    (chosen without the check weeks), and the check rows."""
    val, chk = d[d.use == "validation"], d[d.use == "check"]
    weeks = chk.week.nunique()
    wins = val.empty or val.responder_eur.sum() > val.learned_eur.sum()
    policy, responder = chk.learned_eur.sum() / weeks, chk.responder_eur.sum() / weeks
    return policy, responder, wins, responder if wins else policy, chk


def fitted_responder_table(fr: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Per scenario and aggregator (mean over the seeds that have them), on the check weeks: the learned
    policy, its fitted up-price responder, the policy kept (the responder where it earned more than the
    learned policy on the validation weeks, else the learned one: chosen without the check weeks), the kept
    policy's gain (exploitability) and the best up price hour by hour (clairvoyant). € per week."""
    if fr.empty:
        return pd.DataFrame()
    rows = []
    for (sc, seed, agg), d in fr.groupby(["scenario", "seed", "aggregator"], sort=False):
        learned, fitted, fitted_wins, kept, chk = _validated_responder(d)
        weeks = chk.week.nunique()
        rows.append({"scenario": sc, "seed": seed, "aggregator": agg, "learned_eur_per_week": learned,
                     "fitted_responder_eur_per_week": fitted, "fitted_kept": float(fitted_wins),
                     "exploitability_eur_per_week": kept - learned,
                     "best_up_price_per_hour_eur_per_week": chk.best_up_price_eur.sum() / weeks})
    out = pd.DataFrame(rows)
    for _, d in out.groupby(["scenario", "seed"], sort=False):  # shares of a floored base, per run
        out.loc[d.index, "exploitability_share"] = _shares(d.exploitability_eur_per_week, d.learned_eur_per_week)
    return _mean_over_seeds(out, scenarios)


def summarise_two_stage(df: pd.DataFrame) -> pd.DataFrame:
    """Per aggregator of one run's fitted two-stage responders (`runs.studies.arbitrage_two_stage`), on the check
    weeks (`use` == "check"), € per week: the policy responded to, the responder, the one kept (the responder where
    it beat the policy on the validation weeks, else the policy: chosen without the check weeks), the kept one's
    gain and its share of the policy's earnings (`_shares`: the base floored at 1 % of the aggregators' mean), both
    mean withholdings, and the best option per hour in hindsight."""
    rows = []
    for agg, d in df.groupby("aggregator", sort=False):
        learned, resp, wins, kept, chk = _validated_responder(d)
        weeks = chk.week.nunique()
        rows.append({"aggregator": agg, "policy_eur_per_week": learned, "responder_eur_per_week": resp,
                     "responder_kept": wins, "gain_eur_per_week": kept - learned, "gain_share": np.nan,
                     "policy_a1_mean": chk.learned_a1.mean(), "responder_a1_mean": chk.responder_a1.mean(),
                     "best_option_per_hour_eur_per_week": chk.best_option_eur.sum() / weeks})
    out = pd.DataFrame(rows)
    out["gain_share"] = _shares(out.gain_eur_per_week, out.policy_eur_per_week)  # of a floored base (`_shares`)
    return out


def two_stage_table(data: dict, scenarios: list[str]) -> pd.DataFrame:
    """`summarise_two_stage` per scenario, seed and policy responded to: the learned one (`two_stage/`), the
    one fictitious play over fitted responders kept (`fitted_play/*-two_stage.csv`) and the one fictitious play over
    two-stage responders kept (`two_stage_play/*-two_stage.csv`)."""
    parts = []
    for policy, key in (("learned", "two_stage"), ("fitted play", "ffp_two_stage"), ("two-stage play", "tsp_two_stage")):
        df = data.get(key, pd.DataFrame())
        for (sc, seed), d in (df.groupby(["scenario", "seed"], sort=False) if len(df) else []):
            if sc in scenarios:
                parts.append(summarise_two_stage(d).assign(scenario=sc, seed=seed, policy=policy))
    if not parts:
        return pd.DataFrame()
    order = {sc: i for i, sc in enumerate(scenarios)}
    out = pd.concat(parts, ignore_index=True)
    out = out[["scenario", "seed", "policy", *[c for c in out.columns if c not in ("scenario", "seed", "policy")]]]
    return out.sort_values(["scenario", "seed"], key=lambda c: c.map(order) if c.name == "scenario" else c, kind="stable",
                           ignore_index=True)


#: The playable responders `observable_regret_table` weighs, each chosen without the check weeks: column -> words.
PLAYABLE = {"trained_responder_gain_eur_per_week": "the trained best responder",
            "validated_constant_gain_eur_per_week": "the constant up price chosen on the validation weeks",
            "fitted_responder_gain_eur_per_week": "the fitted up-price responder",
            "two_stage_gain_eur_per_week": "the fitted two-stage responder"}


def observable_regret_table(data: dict, scenarios: list[str], seed: int = 0) -> pd.DataFrame:
    """Aggregator 5's hour-by-hour regret against what policies seeing only its own observations were found to reach,
    per scenario, for the seed whose responders run (`seed`), on the check weeks, € per week.

    `best_eur_per_week`: the hour-by-hour search (it knows each hour's outcome); `regret_eur_per_week`, `regret_share`
    (of the search's best): its gain over the learned policy (`exploitability_table`). The PLAYABLE columns: the gain
    over the learned policy of the trained best responder (`every_aggregator_table`; it keeps the learned actor where
    it finds nothing better on the validation weeks), the constant up price chosen on the validation weeks, the fitted
    up-price responder (`fitted_responder_table`) and the fitted two-stage responder (`summarise_two_stage`), the
    fitted ones counted only where they beat the learned policy on the validation weeks; NaN where one did not run.
    `best_playable_gain_eur_per_week`: the largest (at least 0: the learned policy is playable too);
    `recovered_share`: its share of the regret; `regret_left_share`: the regret less it, of the search's best, the
    part that none of these policies reached (what knowing each hour's outcome adds, as far as they find)."""
    def own(key):
        df = data.get(key, pd.DataFrame())
        return df[df.seed == seed] if len(df) else df

    def agg5(df, sc, column):
        row = df[(df.scenario == sc) & (df.aggregator == AGG)] if len(df) else df
        return float(row[column].iloc[0]) if len(row) and column in row else np.nan

    ex = exploitability_table(own("best_response"), scenarios)
    ag = every_aggregator_table(own("constant_prices"), own("responders"), scenarios)
    ft = fitted_responder_table(own("fitted_responders"), scenarios)
    ts = two_stage_table({"two_stage": own("two_stage")}, scenarios)  # against the learned policy
    rows = []
    for r in ex.itertuples():
        sc = r.scenario
        row = {"scenario": sc, "seed": seed, "learned_eur_per_week": r.learned_eur_per_week,
               "best_eur_per_week": r.best_eur_per_week, "regret_eur_per_week": r.regret_eur_per_week,
               "regret_share": r.regret_share,
               "trained_responder_gain_eur_per_week": agg5(ag, sc, "responder_gain_eur_per_week"),
               "validated_constant_gain_eur_per_week": (agg5(ag, sc, "validated_constant_eur_per_week")
                                                        - agg5(ag, sc, "learned_eur_per_week")),
               "fitted_responder_gain_eur_per_week": agg5(ft, sc, "exploitability_eur_per_week"),
               "two_stage_gain_eur_per_week": agg5(ts, sc, "gain_eur_per_week")}
        gains = [row[c] for c in PLAYABLE if np.isfinite(row[c])]
        best = max([0.0, *gains])
        regret = r.regret_eur_per_week
        row |= {"best_playable_gain_eur_per_week": best,
                "recovered_share": best / regret if regret > 0 else np.nan,
                "regret_left_share": (regret - best) / max(abs(r.best_eur_per_week), 1e-9)}
        rows.append(row)
    return pd.DataFrame(rows)


def fitted_play_table(data: dict, scenarios: list[str]) -> pd.DataFrame:
    """Per scenario and seed that ran fictitious play over fitted responders (`fitted_play/`) or over fitted
    two-stage responders (`two_stage_play/`): the learned policy and the policies the plays kept, checked alike on
    the check weeks. Aggregator 5's € per week and hour-by-hour regret (`exploitability_table`); all aggregators'
    € per week, how many earn at least their validated constant up price and how many fall clearly short of it
    (`every_aggregator_table`); the fitted responders (`fitted_responder_table`): how many gain more than 10 %,
    the largest gain, and the share of aggregator 5's up-price regret (best up price per hour in hindsight - the
    policy) its responder recovers; the fitted two-stage responders likewise; in sample (the play's weeks): the
    largest gain of a constant up price over an aggregator's play (the up-price play) or of a fixed (withholding,
    up price) option (the two-stage play)."""
    plays = [(name, data.get(key, pd.DataFrame()), prefix, col) for name, key, prefix, col in (
        ("fitted play", "fitted_play", "ffp_", "constant_gain_share"),
        ("two-stage play", "two_stage_play", "tsp_", "fixed_gain_share"))]
    runs = list(dict.fromkeys((sc, seed) for _, h, _, _ in plays if len(h)
                              for sc, seed in h[["scenario", "seed"]].itertuples(index=False)))
    rows = []
    for sc, seed in runs:
        if sc not in scenarios:
            continue
        policies = [("learned", "", 0, {})]
        for name, hist, prefix, col in plays:
            h = hist[(hist.scenario == sc) & (hist.seed == seed)] if len(hist) else hist
            if len(h):
                in_sample = h.groupby("iteration")[col].max()
                policies[0][3][f"in_sample_largest_{col}"] = float(in_sample.loc[0])
                chosen = int(h[h.chosen].iteration.iloc[0])
                policies.append((name, prefix, chosen, {f"in_sample_largest_{col}": float(in_sample.loc[chosen])}))
        for policy, prefix, it, in_sample in policies:
            def own(name):
                df = data.get(prefix + name, pd.DataFrame())
                return df[(df.scenario == sc) & (df.seed == seed)] if len(df) else df

            row = {"scenario": sc, "seed": seed, "policy": policy, "iteration": it} | in_sample
            ex = exploitability_table(own("best_response"), [sc])
            if len(ex):
                row |= {"agg5_eur_per_week": ex.learned_eur_per_week.iloc[0], "agg5_regret_share": ex.regret_share.iloc[0]}
            ag = every_aggregator_table(own("constant_prices"), pd.DataFrame(), [sc])
            if len(ag):
                ref = ag.validated_constant_eur_per_week.fillna(ag.best_constant_eur_per_week)
                row |= {"all_aggregators_eur_per_week": ag.learned_eur_per_week.sum(), "aggregators": len(ag),
                        "at_least_validated_constant": int(ag.seeds_at_least_constant.sum()),
                        "clearly_short": int(ag.seeds_clearly_short.sum()),
                        "shortfall_eur_per_week": float((ref - ag.learned_eur_per_week).clip(lower=0).sum())}
            ft = fitted_responder_table(own("fitted_responders"), [sc])
            if len(ft):
                a5 = ft[ft.aggregator == AGG]
                gap = (a5.best_up_price_per_hour_eur_per_week - a5.learned_eur_per_week).sum()
                row |= {"fitted_responders_over_10pct": int((ft.exploitability_share > 0.10).sum()),
                        "largest_fitted_responder_gain_share": ft.exploitability_share.max(),
                        "agg5_up_price_regret_recovered_share": a5.exploitability_eur_per_week.sum() / gap if gap > 0 else np.nan}
            ts = own("two_stage")
            if len(ts):
                tt = summarise_two_stage(ts)
                row |= {"two_stage_over_10pct": int((tt.gain_share > 0.10).sum()),
                        "largest_two_stage_gain_share": float(tt.gain_share.max())}
            rows.append(row)
    if not rows:
        return pd.DataFrame()
    order = {sc: i for i, sc in enumerate(scenarios)}
    out = pd.DataFrame(rows)
    counts = ["aggregators", "at_least_validated_constant", "clearly_short", "fitted_responders_over_10pct", "two_stage_over_10pct"]
    out = out.astype({c: "Int64" for c in counts if c in out})  # counts stay whole where a policy lacks a check
    return out.sort_values(["scenario", "seed"], key=lambda c: c.map(order) if c.name == "scenario" else c,
                           kind="stable", ignore_index=True)


def critic_ranking_table(cr: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Per scenario and aggregator, mean over seeds, on the check weeks' LFM-active hours (the study's
    `critic_ranking/`): in how many hours its up price changes what it earns, the share of those in which
    its own critic's best constant up price is a best one, and € per week: learned, the critic's picks,
    the best price per hour."""
    if cr.empty:
        return pd.DataFrame()
    cr = cr[cr.use == "check"]
    rows = []
    for (sc, seed, agg), d in cr.groupby(["scenario", "seed", "aggregator"], sort=False):
        weeks, m = d.week.nunique(), d[d.levels_matter]
        rows.append({"scenario": sc, "seed": seed, "aggregator": agg, "hours_price_matters": len(m) / weeks,
                     "critic_picks_best_share": m.critic_picks_best.mean() if len(m) else np.nan,
                     "learned_eur_per_week": d.learned_eur.sum() / weeks, "critic_pick_eur_per_week": d.critic_pick_eur.sum() / weeks,
                     "best_price_per_hour_eur_per_week": d.true_best_eur.sum() / weeks})
    return _mean_over_seeds(pd.DataFrame(rows), scenarios)


def dynamics_table(dyn: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Best-response dynamics among constant up-price bids, per scenario, seed and round: the spread of
    the aggregators' up prices after the round (learned bidders excluded), how many switched, what they
    earned right after their switch, and the outcome (equilibrium or cycle)."""
    if dyn is None or dyn.empty:
        return pd.DataFrame()
    rows = []
    for (sc, seed, rnd), d in dyn.groupby(["scenario", "seed", "round"], sort=False):
        up = d.up_eur_mwh.dropna()
        switched = d.after_eur_per_week > d.before_eur_per_week
        rows.append({"scenario": sc, "seed": seed, "round": rnd, "switched": int(switched.sum()), "of": len(d),
                     "up_min_eur_mwh": up.min(), "up_median_eur_mwh": up.median(), "up_max_eur_mwh": up.max(),
                     "gain_of_switches_eur_per_week": float((d.after_eur_per_week - d.before_eur_per_week).sum()),
                     "outcome": d.outcome.iloc[0]})
    out = pd.DataFrame(rows)
    order = {sc: i for i, sc in enumerate(scenarios)}
    return out.sort_values(["scenario", "seed", "round"], key=lambda c: c.map(order) if c.name == "scenario" else c,
                           kind="stable").reset_index(drop=True)


def fictitious_play_table(fp: pd.DataFrame, val: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Fictitious play over learned and constant bids, per scenario and seed: the learned profile (its
    first iteration) and the mixtures it chose (those of the iteration with the smallest largest gain,
    `mixtures_of_iteration`), each on the weeks the play was run on (`check`) and on the validation
    weeks, which the mixtures were neither fitted to nor chosen on. Per row: how many aggregators have an option
    earning more than 1 % over their own strategy, the largest such gain (share of |own|) and whose, the
    gains summed over aggregators, and all aggregators' € per week."""
    if fp is None or fp.empty:
        return pd.DataFrame()
    parts = []
    n = fp.groupby(["scenario", "seed"]).iteration.max()
    at = fp[fp.chosen].groupby(["scenario", "seed"]).iteration.first()
    for profile, d in (("learned", fp[fp.iteration == 0]), ("mixtures", fp[fp.chosen])):
        parts.append(d.assign(profile=profile, weeks="check", own=d.mixture_eur_per_week, best=d.best_eur_per_week))
    if val is not None and len(val):
        parts.append(val.assign(weeks="validation", own=val.own_eur_per_week, best=val.best_eur_per_week))
    rows = []
    for (sc, seed, profile, weeks), d in pd.concat(parts, ignore_index=True).groupby(
            ["scenario", "seed", "profile", "weeks"], sort=False):
        gain = (d.best - d.own).to_numpy()
        share = _shares(gain, d.own.to_numpy())
        k = int(np.argmax(share))
        rows.append({"scenario": sc, "seed": seed, "profile": profile, "weeks": weeks, "iterations": int(n[(sc, seed)]),
                     "mixtures_of_iteration": int(at[(sc, seed)]), "aggregators_over_1pct": int((share > 0.01).sum()),
                     "of": len(d), "largest_gain_share": float(share[k]), "largest_gain_aggregator": int(d.aggregator.iloc[k]),
                     "summed_gain_eur_per_week": float(gain.sum()), "all_aggregators_eur_per_week": float(d.own.sum())})
    out = pd.DataFrame(rows)
    order = {sc: i for i, sc in enumerate(scenarios)}
    out = out[out.scenario.isin(scenarios)]
    return out.sort_values(["scenario", "seed", "weeks", "profile"], key=lambda c: c.map(order) if c.name == "scenario" else c,
                           kind="stable").reset_index(drop=True)


def _option_gains(d: pd.DataFrame) -> dict:
    """One profile's rows (`score_correlated`'s: aggregator, own_eur_per_week, best_eur_per_week), every aggregator
    of one run: those with an option earning more than 1 % over their own strategy (`_shares`), of how many, the
    largest such gain and whose, the summed gain and all aggregators' € per week."""
    gain = (d.best_eur_per_week - d.own_eur_per_week).to_numpy()
    share = _shares(gain, d.own_eur_per_week.to_numpy())
    k = int(np.argmax(share))
    return {"aggregators_over_1pct": int((share > 0.01).sum()), "of": len(d), "largest_gain_share": float(share[k]),
            "largest_gain_aggregator": int(d.aggregator.iloc[k]), "summed_gain_eur_per_week": float(gain.sum()),
            "all_aggregators_eur_per_week": float(d.own_eur_per_week.sum())}


def _profile_row(run: pd.DataFrame, weeks: str, profile: str, options: list[str]):
    """One run's scores (`score_correlated`'s rows with `weeks`), one profile on some weeks: (`_option_gains`' row, on
    the check weeks with `short_of_validated_over_1pct`: the aggregators more than 1 % short of the option best on the
    validation weeks under the same profile (one they could have chosen beforehand); the profile's rows; per
    aggregator that option, or None off the check weeks). (None, ...) where the run has no such rows."""
    d = run[(run.weeks == weeks) & (run.profile == profile)].sort_values("aggregator")
    if d.empty:
        return None, d, None
    row, chosen = _option_gains(d), None
    val = run[(run.weeks == "validation") & (run.profile == profile)]
    if weeks == "check" and len(val):
        c = d.set_index("aggregator")
        chosen = val.set_index("aggregator")[options].idxmax(axis=1).reindex(c.index)
        gain = np.array([c.loc[a, chosen[a]] - c.loc[a, "own_eur_per_week"] for a in c.index])
        row["short_of_validated_over_1pct"] = int((_shares(gain, c.own_eur_per_week.to_numpy()) > 0.01).sum())
    return row, d, chosen


def _in_scenario_order(out: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """A table's rows of `scenarios` only, in their order, then by seed (stable)."""
    if out.empty:
        return out
    order = {sc: i for i, sc in enumerate(scenarios)}
    out = out[out.scenario.isin(scenarios)]
    return out.sort_values(["scenario", "seed"], key=lambda c: c.map(order) if c.name == "scenario" else c,
                           kind="stable").reset_index(drop=True)


def regret_matching_table(rm_scores: pd.DataFrame, rm_mixtures: pd.DataFrame, ft: pd.DataFrame,
                          scenarios: list[str]) -> pd.DataFrame:
    """The runs regret matching ran on (`regret_matching_play`), per scenario, seed and weeks (`check`: the weeks both
    plays ran on; `validation`: weeks neither was fitted to), three profiles: the learned one, fictitious play's
    mixtures (`fictitious_play_table`'s rows) and regret matching's correlated play. Per row, as
    `fictitious_play_table`: aggregators with an option earning more than 1 % over their own strategy, the largest
    such gain and whose, the summed gain, all aggregators' € per week; on the check weeks also the aggregators more
    than 1 % short of the option best on the validation weeks (an option they could have chosen beforehand; the
    learned and correlated profiles), and the correlated play's average probability of the learned bids."""
    if rm_scores is None or rm_scores.empty:
        return pd.DataFrame()
    options = [c for c in rm_scores.columns if c.startswith("option") and c.endswith("_eur_per_week")]
    if rm_mixtures is not None and len(rm_mixtures):  # the play's probability of the learned bids (iteration weights)
        zero = rm_mixtures[rm_mixtures.option == 0]
        w = zero.weight if "weight" in zero else 1.0 / zero.groupby(["scenario", "seed", "aggregator"]).iteration.transform("size")
        learned_p = (zero.probability * w).groupby([zero.scenario, zero.seed, zero.aggregator]).sum().groupby(level=[0, 1]).mean()
    else:
        learned_p = pd.Series(dtype=float)
    iterations = (rm_mixtures.groupby(["scenario", "seed"]).iteration.max() + 1
                  if rm_mixtures is not None and len(rm_mixtures) else pd.Series(dtype=float))
    rows = []
    for (sc, seed), run in rm_scores.groupby(["scenario", "seed"], sort=False):
        for weeks in ("check", "validation"):
            for profile, label in (("learned", "learned"), ("mixtures", "fictitious play"), ("correlated", "regret matching")):
                if profile == "mixtures":
                    f = ft[(ft.scenario == sc) & (ft.seed == seed) & (ft.weeks == weeks) & (ft.profile == "mixtures")] \
                        if ft is not None and len(ft) else pd.DataFrame()
                    if len(f):
                        r = f.iloc[0]
                        rows.append({"scenario": sc, "seed": seed, "weeks": weeks, "profile": label,
                                     "aggregators_over_1pct": int(r.aggregators_over_1pct), "of": int(r.of),
                                     "largest_gain_share": float(r.largest_gain_share),
                                     "largest_gain_aggregator": int(r.largest_gain_aggregator),
                                     "summed_gain_eur_per_week": float(r.summed_gain_eur_per_week),
                                     "all_aggregators_eur_per_week": float(r.all_aggregators_eur_per_week)})
                    continue
                row, _, _ = _profile_row(run, weeks, profile, options)
                if row is None:
                    continue
                row = {"scenario": sc, "seed": seed, "weeks": weeks, "profile": label, **row}
                if profile == "correlated":
                    row["learned_bids_probability"] = float(learned_p.get((sc, seed), np.nan))
                    row["iterations"] = int(iterations.get((sc, seed), 0))
                rows.append(row)
    return _in_scenario_order(pd.DataFrame(rows), scenarios)


def _every_day(rows: pd.DataFrame, weeks=()) -> pd.DataFrame:
    """One aggregator's hour rows (week, hour_of_week, ...) with a zero row for every day of `weeks` (and of the
    rows' own weeks) that has none (a day the DSO bought nothing: every option earned the same; a week without
    such an hour has no rows at all), so that the day-block bootstrap (`shortfall_lower_bound_eur_per_week`)
    resamples every day, as it does the constant-price check's rows."""
    days = pd.MultiIndex.from_product([list(dict.fromkeys([*weeks, *rows.week.unique()])), range(7)], names=["week", "day"])
    have = pd.MultiIndex.from_arrays([rows.week, rows.hour_of_week // 24])
    missing = days.difference(have)
    fill = pd.DataFrame({"week": missing.get_level_values(0), "hour_of_week": 24 * missing.get_level_values(1)})
    return pd.concat([rows, fill], ignore_index=True).fillna({c: 0.0 for c in rows.columns if c.endswith("_eur")})


def _clearly_short(hours: pd.DataFrame, d: pd.DataFrame, chosen: pd.Series, weeks=()) -> int:
    """How many aggregators fall short of their `chosen` option (`_profile_row`'s, per aggregator) by more than the
    check weeks' noise explains: the day-block bootstrap's bound (`shortfall_lower_bound_eur_per_week`) on one
    profile's check-week hour rows (`score_bucketed`'s; `weeks`: the check weeks, so that one without a row counts),
    above 0.1 % of that option's € per week in `d`, as `every_aggregator_table` judges the learned policies."""
    clear = 0
    for agg, option in chosen.items():
        col = option.removesuffix("_per_week")
        mine = _every_day(hours[hours.aggregator == agg][["week", "hour_of_week", "play_eur", col]], weeks)
        lower = shortfall_lower_bound_eur_per_week(mine.rename(columns={"play_eur": "learned_eur"}), col)
        ref = float(d.set_index("aggregator").loc[agg, option])
        clear += bool(lower > 1e-3 * max(abs(ref), 1.0))
    return clear


def bucketed_play_table(scores: pd.DataFrame, hours: pd.DataFrame, edges: pd.DataFrame,
                        scenarios: list[str], check_weeks=()) -> pd.DataFrame:
    """Regret matching by congestion (`bucketed_regret_matching`), fitted on the training weeks and judged on the check
    and validation weeks, per scenario, seed, weeks (`fit`, `check`, `validation`) and profile (`learned`, `by
    congestion`): `_option_gains`' counts (an option played throughout, a constant bid in every hour), and on the
    check weeks the aggregators more than 1 % short of the option best on the validation weeks and those clearly short
    of it (the day-block bootstrap's one-sided 95 % bound above 0.1 % of that option's earnings, as
    `every_aggregator_table` judges the learned policies against their validated constant bid); `buckets`, and the
    fit weeks' hours per bucket. `check_weeks`: the study's (`br_weeks`), each day of which the bootstrap resamples."""
    if scores is None or scores.empty:
        return pd.DataFrame()
    options = [c for c in scores.columns if c.startswith("option") and c.endswith("_eur_per_week")]
    rows = []
    for (sc, seed), run in scores.groupby(["scenario", "seed"], sort=False):
        e = edges[(edges.scenario == sc) & (edges.seed == seed)] if edges is not None and len(edges) else pd.DataFrame()
        for weeks in ("fit", "check", "validation"):
            for profile, label in (("learned", "learned"), ("correlated", "by congestion")):
                row, d, chosen = _profile_row(run, weeks, profile, options)
                if row is None:
                    continue
                row = {"scenario": sc, "seed": seed, "weeks": weeks, "profile": label, **row}
                h = hours[(hours.scenario == sc) & (hours.seed == seed) & (hours.weeks == "check")
                          & (hours.profile == profile)] if hours is not None and len(hours) else pd.DataFrame()
                if chosen is not None and len(h):
                    row["clearly_short_of_validated"] = _clearly_short(h, d, chosen, check_weeks)
                row["buckets"] = len(e) if len(e) else np.nan
                rows.append(row)
    return _in_scenario_order(pd.DataFrame(rows), scenarios)


def fp_ordering_table(fp: pd.DataFrame, scores: pd.DataFrame | None = None, fp_scores: pd.DataFrame | None = None,
                      fp_weeks=()) -> pd.DataFrame:
    """The paper's orderings seed by seed (`paired_steps`) under the learned profile and under the mixtures
    fictitious play kept: all aggregators' € per week (S-a < one-arb < all-arb) and aggregator 5's (S-a <
    one-arb, the paper's arbitrage gain). On fictitious play's own weeks (`check`, from its history) and,
    where the study played the mixtures on the evaluation weeks (`fp_scores`), on the test weeks it did not
    use (`other test weeks`; the learned policies' `scores` on the same weeks and seeds)."""
    if fp is None or fp.empty:
        return pd.DataFrame()
    frames = {("check", "learned"): fp[fp.iteration == 0].rename(columns={"mixture_eur_per_week": "eur"}),
              ("check", "mixtures"): fp[fp.chosen].rename(columns={"mixture_eur_per_week": "eur"})}
    if fp_scores is not None and len(fp_scores) and scores is not None and len(scores):
        def other_weeks(df):
            return aggregator_week_means(df[_is_test(df.week) & ~df.week.isin(list(fp_weeks))], fp_scores)
        frames |= {("other test weeks", "learned"): other_weeks(scores), ("other test weeks", "mixtures"): other_weeks(fp_scores)}
    return ordering_steps_table(frames)


def aggregator_week_means(scores: pd.DataFrame, runs: pd.DataFrame) -> pd.DataFrame:
    """Each aggregator's € per week, mean over the weeks of `scores` (an evaluation's scores.csv rows, with
    scenario and seed), for the (scenario, seed) runs that `runs` holds: columns scenario, seed, aggregator, eur."""
    df = scores.merge(runs[["scenario", "seed"]].drop_duplicates(), on=["scenario", "seed"])
    return (df.groupby(["scenario", "seed", "aggregator", "week"]).total_eur.sum()
            .groupby(["scenario", "seed", "aggregator"]).mean().rename("eur").reset_index())


def ordering_steps_table(frames: dict[tuple[str, str], pd.DataFrame]) -> pd.DataFrame:
    """The paper's orderings seed by seed (`paired_steps`) for each (weeks, profile) of `frames`, whose frames
    hold each aggregator's € per week (columns scenario, seed, aggregator, eur): all aggregators (S-a < one-arb <
    all-arb) and aggregator 5 (S-a < one-arb, the paper's arbitrage gain)."""
    out = []
    for (weeks, profile), d in frames.items():
        for who, per_seed, steps in _ordering_per_seed(d):
            t = paired_steps(per_seed, steps, PAPER.label)
            if len(t):
                out.append(t.assign(weeks=weeks, profile=profile, who=who))
    if not out:
        return pd.DataFrame()
    t = pd.concat(out, ignore_index=True)
    return t[["who", "weeks", "profile", *[c for c in t.columns if c not in ("who", "weeks", "profile")]]]


def _ordering_per_seed(d: pd.DataFrame) -> list[tuple[str, pd.DataFrame, list]]:
    """(who, € per week by seed and scenario, the ordering's steps) for all aggregators and for aggregator 5, from
    each aggregator's € per week (columns scenario, seed, aggregator, eur)."""
    per_seed = lambda x: x.groupby(["seed", "scenario"]).eur.sum().unstack("scenario")  # noqa: E731
    return [("all aggregators", per_seed(d), list(ORDERING_STEPS)),
            (f"aggregator {AGG}", per_seed(d[d.aggregator == AGG]), [(SA, ONE)])]


def convergence_table(curves: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Per scenario: whether the training curves had settled (`learning_trend`): all aggregators' and aggregator
    5's evaluation-week earnings, the last quarter of training against the quarter before. A flat curve is not the
    same as a best response (the exploitability tables say how far that is)."""
    series = {}
    for sc in scenarios:
        c = curves[curves.scenario == sc] if len(curves) else curves
        if c.empty:
            continue
        series[(sc, "all aggregators' earnings (€ per week)")] = (c.groupby(["episode", "seed"]).eval_score_eur.sum()
                                                                  .unstack("seed"))
        series[(sc, f"aggregator {AGG}'s earnings (€ per week)")] = (
            c[c.aggregator == AGG].pivot_table(index="episode", columns="seed", values="eval_score_eur"))
    return trend_table(series).rename(columns={"method": "scenario"})


GAINING_SHARE = 0.01  # an aggregator counts as gaining from a constant bid above 1 % of its (floored) earnings
SAME_POINTS = 0.5  # `along_training_sentences`: two halves of training within this many points read "about the same"


def along_training_table(at: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Per scenario, seed and policy snapshot (`constant_bids_along_training`): all aggregators' learned earnings, what
    their best constant up prices would add summed over them (€ per week and as a share of their summed earnings),
    how many gain more than 1 % (`_shares`' floored base), the largest gain's share and aggregator, and aggregator 5's
    gain share. Shares are fractions."""
    from runs.studies.arbitrage_best_response import constant_bid_distance

    rows = []
    for sc in scenarios:
        for (seed, episode), d in (at[at.scenario == sc].groupby(["seed", "episode"]) if len(at) else ()):
            share = _shares(d.gain_eur_per_week, d.learned_eur_per_week)
            k = int(np.argmax(share))
            own = float(d.learned_eur_per_week.sum())
            focus = d.aggregator.to_numpy() == AGG
            rows.append({"scenario": sc, "seed": int(seed), "episode": int(episode), "all_learned_eur_per_week": own,
                         "summed_gain_eur_per_week": float(d.gain_eur_per_week.sum()),
                         "summed_gain_share": float(constant_bid_distance(d).iloc[0]),
                         "aggregators_gaining": int((share > GAINING_SHARE).sum()), "aggregators": len(d),
                         "largest_gain_share": float(share[k]), "largest_gain_aggregator": int(d.aggregator.iloc[k]),
                         f"agg{AGG}_gain_share": float(share[focus][0]) if focus.any() else np.nan})
    return pd.DataFrame(rows)


def snapshot_choice_table(sc: pd.DataFrame, scenarios: list[str], selected: pd.DataFrame) -> pd.DataFrame:
    """Per scenario and seed of a study that handed on each run's snapshot nearest an equilibrium of constant bids
    (`choose_snapshot`'s rows `sc`): the episode handed on and the last, and on the validation weeks they were chosen
    on, the summed constant-bid gain as a share of all aggregators' earnings (the distance chosen by) and those
    earnings (€ per week) at each. Shares are fractions. The episode handed on is the run's own record
    (`selected`: `selected_snapshots`, from its policy.json, which the training curves mark too); a run with
    choice rows that has not handed on yet (a study stopped between the two) is left out."""
    handed = {(r.method, int(r.seed)): int(r.selected_episode) for r in selected.itertuples()}
    rows = []
    for s in scenarios:
        for seed, d in (sc[sc.scenario == s].groupby("seed") if len(sc) else ()):
            if (s, int(seed)) not in handed:
                continue
            per = d.groupby("episode").agg(distance=("distance", "first"), own=("learned_eur_per_week", "sum"))
            chosen, last = handed[s, int(seed)], int(per.index.max())
            rows.append({"scenario": s, "seed": int(seed), "handed_on_episode": chosen, "last_episode": last,
                         "weeks": str(d.weeks.iloc[0]), "handed_on_distance": float(per.distance[chosen]),
                         "last_distance": float(per.distance[last]),
                         "handed_on_all_eur_per_week": float(per.own[chosen]), "last_all_eur_per_week": float(per.own[last])})
    return pd.DataFrame(rows)


def table1(scores: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Aggregator 5 per test week, mean over seeds: rows (scenario, stage), columns test weeks + mean."""
    s = scores[(scores.aggregator == AGG) & _is_test(scores.week)].copy()
    s["test_week"] = _test_index(s.week)
    rows = []
    for sc in scenarios:
        d = s[s.scenario == sc].groupby("test_week")[list(STAGE_COL.values())].mean()
        for stage, col in STAGE_COL.items():
            rows.append({"scenario": sc, "stage": stage, **{str(w): d.loc[w, col] for w in d.index},
                         "mean": d[col].mean()})
    return pd.DataFrame(rows)


def table2(scores: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Average total profit of all aggregators per week: evaluation week and test weeks (mean and seed spread)."""
    rows = []
    test, evaluation = seed_totals(scores), seed_totals(scores, _is_eval)
    for sc in scenarios:
        ev = evaluation[sc].dropna() if sc in evaluation else pd.Series(dtype=float)
        te = test[sc].dropna() if sc in test else pd.Series(dtype=float)
        rows.append({"scenario": sc, "eval_week_eur": ev.mean(), "test_weeks_eur": te.mean(),
                     "test_weeks_min_seed_eur": te.min(), "test_weeks_max_seed_eur": te.max(), "seeds": len(te),
                     "paper_eval_week_eur": PAPER_TABLE2.get(sc, (np.nan, np.nan))[0],
                     "paper_test_weeks_eur": PAPER_TABLE2.get(sc, (np.nan, np.nan))[1]})
    return pd.DataFrame(rows)


def table2_by_week(scores: pd.DataFrame, flex: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """All aggregators' total and LEM (first-stage) score per test week, mean over seeds, for each
    scenario, beside the flexibility the DSO buys that week in S-a (the grid's congestion without
    arbitrage; `flex_by_week`)."""
    t = scores[_is_test(scores.week)]
    mean = lambda col: t.groupby(["scenario", "seed", "week"])[col].sum().groupby(["scenario", "week"]).mean().unstack(0)  # noqa: E731
    total, first = mean("total_eur"), mean("first_stage_eur")
    present = [sc for sc in scenarios if sc in total.columns]
    out = pd.concat([total[present].rename(columns=lambda sc: f"{sc}_total_eur"),
                     first[present].rename(columns=lambda sc: f"{sc}_first_stage_eur")], axis=1)
    if len(flex):
        out = out.join(flex.set_index("week"))
    return out.reset_index().sort_values("week", key=_test_index).reset_index(drop=True)


def _by_week_reading(tw: pd.DataFrame) -> str | None:
    """In which test weeks each step of the ordering holds, and what the other weeks cost."""
    need = {f"{SA}_total_eur", f"{ONE}_total_eur", f"{ALL}_total_eur", f"{SA}_flex_bought_mwh"}
    if not len(tw) or not need <= set(tw.columns):
        return None
    flex = tw[f"{SA}_flex_bought_mwh"]
    parts = []
    for hi, lo in ((ONE, SA), (ALL, ONE)):
        up = tw[f"{hi}_total_eur"] > tw[f"{lo}_total_eur"]
        share = flex[up].sum() / flex.sum() if flex.sum() > 0 else np.nan
        parts.append(f"{SCENARIO_LABEL[hi]} > {SCENARIO_LABEL[lo]} in {int(up.sum())} of {len(tw)} weeks "
                     f"({', '.join(w.split(':')[1] for w in tw.week[up]) or 'none'}; {100 * share:.0f} % of the flexibility "
                     "the DSO buys in S-a)")
    text = "- Per test week (table under Table II): " + "; ".join(parts) + "."
    down = tw[f"{ALL}_total_eur"] <= tw[f"{ONE}_total_eur"]
    if down.any():
        rest = tw[down]
        weak, strong = rest[f"{SA}_flex_bought_mwh"].mean(), tw.loc[~down, f"{SA}_flex_bought_mwh"].mean()
        text += (f" In the weeks where all-arb earns less, the DSO buys {weak:,.1f} MWh/week of flexibility in S-a "
                 f"(in the others {strong:,.1f}) and withholding costs all aggregators "
                 f"{-rest[ALL + '_first_stage_eur'].mean():,.0f} €/week in the LEM in all-arb "
                 f"({-rest[ONE + '_first_stage_eur'].mean():,.0f} in one-arb).")
        if weak < 0.25 * strong:
            text += (" The arbitraging primaries withhold in weeks with little congestion too, where withholding only "
                     "loses LEM revenue.")
    return text


def baseline_table(scores: pd.DataFrame, baselines: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Test-week means: all aggregators' total, and aggregator 5's stages, for policies and learned scenarios."""
    rows = []

    def add(label, s, n_seeds):
        t = s[_is_test(s.week)]
        weeks = t.week.nunique()
        a5 = t[t.aggregator == AGG]
        rows.append({"policy": label, "all_aggregators_eur_per_week": t.total_eur.sum() / weeks / n_seeds,
                     "agg5_first_stage_eur": a5.first_stage_eur.mean(), "agg5_second_stage_eur": a5.second_stage_eur.mean(),
                     "agg5_total_eur": a5.total_eur.mean()})

    for p in sorted(baselines.policy.unique()) if len(baselines) else []:
        add(p, baselines[baselines.policy == p], 1)
    for sc in scenarios:
        s = scores[scores.scenario == sc]
        add(f"learned {SCENARIO_LABEL.get(sc, sc)}", s, s.seed.nunique())
    return pd.DataFrame(rows)


def exploitability_table(br: pd.DataFrame, scenarios: list[str]) -> pd.DataFrame:
    """Aggregator 5's learned reward vs the best responses found (mean per week over seeds and weeks)."""
    from runs.studies.arbitrage_best_response import constant_up_prices

    if br.empty:
        return pd.DataFrame()
    rows = []
    prices = constant_up_prices(br)
    const = list(prices)
    for sc in scenarios:
        d = br[br.scenario == sc]
        if d.empty:
            continue
        per_week = d.groupby(["seed", "week"])[["learned_eur", "best_prices_only_eur", "best_eur", *const]].sum()
        per_week["best_constant_up_eur"] = per_week[const].max(axis=1) if const else np.nan
        m = per_week.mean()
        level = per_week[const].mean().idxmax() if const else None  # one price for every week and seed
        active = d[d.lfm_active.astype(bool)]
        rows.append({
            "scenario": sc, "weeks": ", ".join(sorted(d.week.unique(), key=lambda w: int(w.split(":")[1]))),
            "seeds": d.seed.nunique(), "learned_eur_per_week": m.learned_eur,
            "best_constant_up_price_eur_per_week": m.best_constant_up_eur,
            "best_common_up_price_eur_mwh": prices[level] if level else np.nan,
            "learned_median_up_bid_lfm_active_eur_mwh": active.learned_up_eur_mwh.median() if len(active) else np.nan,
            "best_prices_only_eur_per_week": m.best_prices_only_eur, "best_eur_per_week": m.best_eur,
            "regret_eur_per_week": m.best_eur - m.learned_eur,
            "regret_share": (m.best_eur - m.learned_eur) / max(abs(m.best_eur), 1e-9),
            "lfm_active_hours_share": d.lfm_active.mean(),
            "learned_mean_a1": d.learned_a1.mean(), "best_mean_a1": d.best_a1.mean(),
        })
    return pd.DataFrame(rows)


def checks(t1: pd.DataFrame, t2: pd.DataFrame, scores: pd.DataFrame, pt: pd.DataFrame | None = None) -> list[dict]:
    """The study's pass/fail statements (the issue's 'done when'), with the numbers behind them. With
    `pt` (`paired_seed_test`), the test-week ordering also says whether it is resolved beyond seed noise."""
    out = []

    def mean(sc, stage):
        r = t1[(t1.scenario == sc) & (t1.stage == stage)]
        return float(r["mean"].iloc[0]) if len(r) else np.nan

    def seeds_agree(pred):
        s = scores[(scores.aggregator == AGG) & _is_test(scores.week)]
        by = s.groupby(["scenario", "seed"])[list(STAGE_COL.values())].mean()
        seeds = sorted(s.seed.unique())
        ok = [pred(by, k) for k in seeds if (SA, k) in by.index and (ONE, k) in by.index]
        return f"{sum(ok)} of {len(ok)} seeds"

    if {SA, ONE} <= set(t1.scenario):
        f1, f0 = mean(ONE, "first"), mean(SA, "first")
        out.append({"claim": "aggregator 5, one-arb: negative first-stage score", "ok": f1 < 0,
                    "ours": f"{f1:.1f} € per test week (S-a: {f0:.1f})", "paper": "−92.0 (S-a ≈ 0)",
                    "seeds": seeds_agree(lambda b, k: b.loc[(ONE, k), "first_stage_eur"] < 0)})
        s1, s0 = mean(ONE, "second"), mean(SA, "second")
        out.append({"claim": "aggregator 5: higher second-stage score in one-arb than in S-a", "ok": s1 > s0,
                    "ours": f"{s1:.1f} vs {s0:.1f} €", "paper": "1335.4 vs 662.3",
                    "seeds": seeds_agree(lambda b, k: b.loc[(ONE, k), "second_stage_eur"] > b.loc[(SA, k), "second_stage_eur"])})
        a1, a0 = mean(ONE, "total"), mean(SA, "total")
        out.append({"claim": "aggregator 5: higher total in one-arb than in S-a", "ok": a1 > a0,
                    "ours": f"{a1:.1f} vs {a0:.1f} € (gap {a1 - a0:+.1f})", "paper": "gap +690.0",
                    "seeds": seeds_agree(lambda b, k: b.loc[(ONE, k), "total_eur"] > b.loc[(SA, k), "total_eur"])})
    if {SA, ONE, ALL} <= set(t2.scenario):
        for col, label, paper, test in (("test_weeks_eur", "test weeks", "5054.7 < 6120.0 < 7108.1", True),
                                        ("eval_week_eur", "evaluation week", "7238.5 < 9644.9 < 12986.0", False)):
            v = t2.set_index("scenario")[col]
            per = seed_totals(scores, _is_test if test else _is_eval)
            n_ok = int(((per[SA] < per[ONE]) & (per[ONE] < per[ALL])).sum())
            out.append({"claim": f"total profit of all aggregators: S-a < one-arb < all-arb ({label})",
                        "ok": v[SA] < v[ONE] < v[ALL],
                        "ours": f"{v[SA]:,.0f} / {v[ONE]:,.0f} / {v[ALL]:,.0f}", "paper": paper,
                        "seeds": f"{n_ok} of {len(per)} seeds",
                        "resolved": ordering_resolved(pt) if test and pt is not None and len(pt) else None})
    return out


def _verdict(c: dict) -> str:
    if not c["ok"]:
        return "**no**"
    return "yes, within seed noise" if c.get("resolved") is False else "yes"


def eval_test_hours(study: Path, scenarios: list[str]) -> dict[str, dict[int, tuple[pd.DataFrame, float]]]:
    """Each scenario's evaluation hours on the test weeks, {seed: (hours, flexibility price cap)}, read
    once for every table that needs them (`market_table`, `flex_by_week`, `fp_markets_table`)."""
    out = {}
    for sc in scenarios:
        out[sc] = {}
        for d in sorted((Path(study) / "eval" / sc).glob("seed*")):
            if not d.name[len("seed"):].isdigit():
                continue
            h = pd.read_csv(d / "hours.csv")
            cap = json.loads((d / "config.json").read_text())["scenario"]["market"]["flex_price_max_eur_mwh"]
            out[sc][int(d.name[len("seed"):])] = (h[_is_test(h.week)], cap)
    return out


PLAYED_MARKET_COLUMNS = ["flex_bought_mwh_per_week", "dso_pays_eur_per_week", "median_up_bid_congested_eur_mwh",
                         f"flex_revenue_agg{AGG}_eur_per_week", "flex_revenue_others_eur_per_week",
                         "load_shed_hours_per_week", "up_bids_at_bound_congested_share"]


def played_markets_table(study: Path, hours: dict[str, dict[int, tuple[pd.DataFrame, float]]], pattern: str,
                         label: str) -> pd.DataFrame:
    """What the markets look like on the test weeks under the learned policies (`hours`, from `eval_test_hours`) and
    under a play (its evaluation hours at `pattern`, e.g. "fictitious_play/{sc}-seed{seed}-hours.csv", profile
    `label`), for the seeds that have both; means over seeds of `market_table`'s columns that say most
    (`PLAYED_MARKET_COLUMNS`): flexibility bought, what the DSO pays, the up-price level where it buys, who earns
    it, and load shed."""
    rows = []
    for sc, learned in hours.items():
        pairs = []
        for seed, (h, cap) in learned.items():
            f = Path(study) / pattern.format(sc=sc, seed=seed)
            if f.exists():
                played = pd.read_csv(f)
                pairs.append((h, played[_is_test(played.week)], cap))
        for k, profile in ((0, "learned"), (1, label)):
            if pairs:
                per_seed = pd.DataFrame([_market_row(p[k], p[2]) for p in pairs])
                rows.append({"scenario": sc, "profile": profile, "seeds": len(pairs),
                             **per_seed[PLAYED_MARKET_COLUMNS].mean().to_dict()})
    return pd.DataFrame(rows)


def fp_markets_table(study: Path, hours: dict[str, dict[int, tuple[pd.DataFrame, float]]]) -> pd.DataFrame:
    """`played_markets_table` under the mixtures fictitious play kept (`fictitious_play/*-hours.csv`)."""
    return played_markets_table(study, hours, "fictitious_play/{sc}-seed{seed}-hours.csv", "mixtures")


CONGESTION_PLAY_HOURS = "regret_matching/{sc}-seed{seed}-buckets-play-hours.csv"


def congestion_play_table(study: Path, scores: pd.DataFrame, play_scores: pd.DataFrame,
                          hours: dict[str, dict[int, tuple[pd.DataFrame, float]]], scenarios: list[str]) -> pd.DataFrame:
    """The play by congestion (`play_by_congestion`: fitted on training weeks only) played on the 12 test weeks
    beside the learned policies, for the runs that have it: per scenario and profile (mean over those seeds), all
    aggregators' € per week, aggregator 5's by stage, and the markets (`played_markets_table`)."""
    if play_scores is None or play_scores.empty or scores is None or scores.empty:
        return pd.DataFrame()
    runs = play_scores[["scenario", "seed"]].drop_duplicates()
    rows = []
    for profile, df in (("learned", scores.merge(runs, on=["scenario", "seed"])), ("by congestion", play_scores)):
        t = df[_is_test(df.week)]
        weeks = t.groupby(["scenario", "seed"]).week.nunique()
        total = (t.groupby(["scenario", "seed"]).total_eur.sum() / weeks).groupby(level=0).mean()
        five = (t[t.aggregator == AGG].groupby(["scenario", "seed"])[list(STAGE_COL.values())].sum()
                .div(weeks, axis=0).groupby(level=0).mean())
        for sc in total.index:
            rows.append({"scenario": sc, "profile": profile, "seeds": int((runs.scenario == sc).sum()),
                         "all_aggregators_eur_per_week": float(total[sc]),
                         **{f"agg{AGG}_{stage}_eur_per_week": float(five.loc[sc, col]) for stage, col in STAGE_COL.items()}})
    out = pd.DataFrame(rows)
    mk = played_markets_table(study, {sc: {k: v for k, v in per.items() if ((runs.scenario == sc) & (runs.seed == k)).any()}
                                       for sc, per in hours.items()}, CONGESTION_PLAY_HOURS, "by congestion")
    if len(mk):
        out = out.merge(mk.drop(columns="seeds"), on=["scenario", "profile"], how="left")
    order = {sc: i for i, sc in enumerate(scenarios)}
    out = out[out.scenario.isin(scenarios)]
    return out.sort_values(["scenario", "profile"], key=lambda c: c.map(order) if c.name == "scenario" else
                           c.map({"learned": 0, "by congestion": 1}), kind="stable").reset_index(drop=True)


def congestion_play_ordering(scores: pd.DataFrame, play_scores: pd.DataFrame) -> pd.DataFrame:
    """The paper's orderings seed by seed (`ordering_steps_table`) on the test weeks, under the learned policies and
    under the play by congestion, for the seeds that have the play in every scenario of a step."""
    if play_scores is None or play_scores.empty or scores is None or scores.empty:
        return pd.DataFrame()
    return ordering_steps_table({("test weeks", k): d for k, d in congestion_play_frames(scores, play_scores).items()})


def congestion_play_frames(scores: pd.DataFrame, play_scores: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """{"learned", "by congestion"}: each aggregator's € per week on the test weeks (`aggregator_week_means`) for the
    runs that have the play."""
    runs = play_scores[["scenario", "seed"]].drop_duplicates()
    test = {"learned": scores[_is_test(scores.week)], "by congestion": play_scores[_is_test(play_scores.week)]}
    return {k: aggregator_week_means(d, runs) for k, d in test.items()}


def flex_by_week(per_seed: dict[int, tuple[pd.DataFrame, float]], scenario: str = SA) -> pd.DataFrame:
    """Flexibility the DSO buys per test week (up + down, MWh, mean over seeds) in one scenario,
    from its entry of `eval_test_hours`."""
    if not per_seed:
        return pd.DataFrame(columns=["week", f"{scenario}_flex_bought_mwh"])
    h = pd.concat([d.groupby("week")[["up_mw", "dn_mw"]].sum().sum(axis=1) for d, _ in per_seed.values()], axis=1)
    return h.mean(axis=1).rename(f"{scenario}_flex_bought_mwh").reset_index()


AT_BOUND = 0.01  # an action within 1 % of its range from a bound counts as "at the bound"


def _market_row(h: pd.DataFrame, price_max_eur_mwh: float) -> dict:
    """One evaluation run's test hours -> the market table's columns (see `market_table`)."""
    weeks = h.week.nunique()
    # bids matter only where the DSO buys: elsewhere an actor's bid is free to drift anywhere
    bought = bought_flexibility((h.up_mw + h.dn_mw).groupby([h.week, h.hour_of_week]).transform("sum"))
    congested = h[bought]
    up = congested.up_bid_eur_mwh / price_max_eur_mwh
    flex, revenue, agg = h.up_mw + h.dn_mw, h.dlmp_eur_mwh * (h.up_mw - h.dn_mw), h.aggregator == AGG
    return {
        "bid_cap_eur_mwh": price_max_eur_mwh,
        "mean_withholding_all": h.withhold.mean(),
        f"mean_withholding_agg{AGG}": h[agg].withhold.mean(),
        "flex_bought_mwh_per_week": flex.sum() / weeks,
        "dso_pays_eur_per_week": revenue.sum() / weeks,
        "median_up_bid_congested_eur_mwh": congested.up_bid_eur_mwh.median(),
        f"median_up_bid_agg{AGG}_congested_eur_mwh": congested[congested.aggregator == AGG].up_bid_eur_mwh.median(),
        # a saturated actor: its output sits where the critic's gradient can no longer move it (see HyperParams.actor_output)
        "up_bids_at_bound_congested_share": ((up <= AT_BOUND) | (up >= 1 - AT_BOUND)).mean(),
        "withholding_at_bound_share": ((h.withhold <= AT_BOUND) | (h.withhold >= 1 - AT_BOUND)).mean(),
        # who sells the flexibility, and for how much (revenue at the DLMP, before operating costs)
        f"flex_sold_agg{AGG}_mwh_per_week": flex[agg].sum() / weeks,
        "flex_sold_others_mwh_per_week": flex[~agg].sum() / weeks,
        f"flex_revenue_agg{AGG}_eur_per_week": revenue[agg].sum() / weeks,
        "flex_revenue_others_eur_per_week": revenue[~agg].sum() / weeks,
        **_scarcity_columns(h, revenue, agg, weeks, price_max_eur_mwh),
    }


def _scarcity_columns(h: pd.DataFrame, revenue: pd.Series, agg: pd.Series, weeks: int, price_max_eur_mwh: float) -> dict:
    """Grid safety and prices set by no bid. Load shed: the LFM's emergency slack, priced at the
    value of lost load. Revenue above the cap: paid at DLMPs above the bid cap, which happens where
    shed load sets them, or where a binding voltage or line limit makes the DLMP the marginal bid
    times a ratio of sensitivities. Load shed is NaN for evaluations written before `hours.csv`
    had the column (delete the study's `eval/` and rerun it with `--resume` to add it)."""
    above = h.dlmp_eur_mwh > price_max_eur_mwh
    out = {f"flex_revenue_agg{AGG}_above_cap_eur_per_week": revenue[above & agg].sum() / weeks,
           "flex_revenue_others_above_cap_eur_per_week": revenue[above & ~agg].sum() / weeks}
    if "feeder_load_shed_mw" not in h:
        return {"load_shed_hours_per_week": np.nan, "load_shed_mwh_per_week": np.nan} | out
    per_hour = h[h.feeder_load_shed_mw > 1e-6].groupby(["week", "hour_of_week"]).feeder_load_shed_mw.first()
    return {"load_shed_hours_per_week": len(per_hour) / weeks, "load_shed_mwh_per_week": per_hour.sum() / weeks} | out


def market_table(hours: dict[str, dict[int, tuple[pd.DataFrame, float]]]) -> pd.DataFrame:
    """What the learned policies do to the markets (test weeks, mean over seeds): withholding,
    flexibility bought, what the DSO pays for it, the price level of the up bids in the hours in
    which the DSO buys flexibility, and the share of actions at a bound of their range.
    `hours` is `eval_test_hours(...)`."""
    rows = [{"scenario": sc, **pd.DataFrame([_market_row(h, cap) for h, cap in per_seed.values()]).mean().to_dict()}
            for sc, per_seed in hours.items() if per_seed]
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def fig_training_curves(curves: pd.DataFrame, scenarios, path: Path, selected: pd.DataFrame | None = None):
    """Evaluation-week earnings along training, mean over seeds (band: min..max); circles on each seed's curve at the
    snapshot it handed on (`selected`: `selected_snapshots`), where it chose one."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    settled, circled = [], []
    for ax, (title, sel) in zip(axes, (("all aggregators", None), (f"aggregator {AGG}", AGG))):
        for sc in scenarios:
            c = curves[curves.scenario == sc]
            if sel is not None:
                c = c[c.aggregator == sel]
            per = c.groupby(["seed", "episode"]).eval_score_eur.sum().unstack(0)
            ax.plot(per.index, per.mean(1), color=COLORS.get(sc), label=SCENARIO_LABEL.get(sc, sc))
            ax.fill_between(per.index, per.min(1), per.max(1), color=COLORS.get(sc), alpha=0.2, lw=0)
            mark_settled(ax, per, COLORS.get(sc), settled)
            if selected is not None and len(selected):
                mark_selected(ax, per, selected, sc, COLORS.get(sc), circled,
                              label="policy kept: each seed's snapshot nearest an equilibrium of constant bids")
        ax.set(title=f"Evaluation-week score, {title}", xlabel="episode", ylabel="€ per week")
    legend_marks_last(axes[0], fontsize=8)
    fig.suptitle("Training curves (cf. paper Fig. 5): mean over seeds, band = min..max")
    _save(fig, path)


def fig_agg5_boxplots(scores: pd.DataFrame, scenarios, path: Path):
    plt = _plt()
    s = scores[(scores.aggregator == AGG) & _is_test(scores.week)].copy()
    s["test_week"] = _test_index(s.week)
    weeks = sorted(s.test_week.unique())
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / max(len(scenarios), 1)
    for j, sc in enumerate(scenarios):
        data = [s[(s.scenario == sc) & (s.test_week == w)].total_eur.values for w in weeks]
        pos = np.arange(len(weeks)) + (j - (len(scenarios) - 1) / 2) * width
        bp = ax.boxplot(data, positions=pos, widths=width * 0.9, patch_artist=True, showfliers=True)
        for box in bp["boxes"]:
            box.set(facecolor=COLORS.get(sc), alpha=0.5)
        ax.plot([], [], color=COLORS.get(sc), lw=6, alpha=0.5, label=SCENARIO_LABEL.get(sc, sc))
    ax.set_xticks(np.arange(len(weeks)), [str(w) for w in weeks])
    ax.set(xlabel="test week", ylabel="€ per week", title=f"Aggregator {AGG}: total score per test week over seeds (cf. paper Fig. 6)")
    ax.axhline(0, color="k", lw=0.6)
    ax.legend()
    _save(fig, path)


def pick_detail_week(study: Path) -> str | None:
    """The test week with the most flexibility bought from aggregator 5 in one-arb (seed 0)."""
    h = hours_of(study, ONE)
    if h.empty:
        return None
    t = h[(h.aggregator == AGG) & _is_test(h.week)]
    if t.empty:
        return None
    return str((t.up_mw + t.dn_mw).groupby(t.week).sum().idxmax())


def _detail(study, scenario, week):
    h = hours_of(study, scenario)
    return h[(h.aggregator == AGG) & (h.week == week)].sort_values("hour_of_week") if len(h) else h


DETAIL_SCENARIOS = (SA, ONE)  # the detail figures (paper Figs. 7-10) set these two side by side


def _details(study, week):
    """(panel index, scenario, aggregator 5's hours in `week`, seed 0) for each detail scenario that has them."""
    for i, sc in enumerate(DETAIL_SCENARIOS):
        d = _detail(study, sc, week)
        if not d.empty:
            yield i, sc, d


def fig_daily_costs(study, week, path: Path):
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for i, sc, d in _details(study, week):
        ax = axes[i]
        day = d.hour_of_week // 24 + 1
        daily = d.groupby(day)[["lem_cost_eur", "lfm_cost_eur", "bm_cost_eur"]].sum()
        x = np.arange(len(daily))
        for i, (col, lab) in enumerate((("lem_cost_eur", "LEM"), ("lfm_cost_eur", "LFM"), ("bm_cost_eur", "balancing"))):
            ax.bar(x + (i - 1) * 0.27, daily[col], width=0.27, label=lab)
        ax.set_xticks(x, [f"day {i}" for i in daily.index])
        ax.axhline(0, color="k", lw=0.6)
        ax.set(title=f"{SCENARIO_LABEL[sc]}", ylabel="net cost € (+ pays, − earns)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", ncol=3, fontsize=8)
    fig.suptitle(f"Aggregator {AGG}: daily net costs by market, {week} (seed 0) (cf. paper Fig. 7)", x=0.02, ha="left")
    _save(fig, path, rect=(0, 0, 1, 0.94))


def fig_net_generation(study, week, path: Path):
    plt = _plt()
    fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True, sharey=True)
    for i, sc, d in _details(study, week):
        ax = axes[i]
        ax.plot(d.hour_of_week, d.available_mw - d.load_mw, color="grey", lw=0.8, label="available − load (no withholding)")
        ax.plot(d.hour_of_week, d.p_sched_mw, color=COLORS[sc], ls="--", lw=1, label="LEM schedule P^sch")
        ax.plot(d.hour_of_week, d.p_sched_mw + d.up_mw - d.dn_mw, color=COLORS[sc], lw=1.3, label="after the LFM")
        ax.axhline(0, color="k", lw=0.6)
        ax.set(ylabel="net generation MW", title=f"{SCENARIO_LABEL[sc]}: mean withholding {d.withhold.mean():.2f}")
        ax.legend(ncol=3, fontsize=7, loc="lower left")
    axes[1].set_xlabel("hour of week")
    fig.suptitle(f"Aggregator {AGG}: net generation, {week} (seed 0) (cf. paper Fig. 8)")
    _save(fig, path)


def fig_flexibility(study, week, path: Path):
    plt = _plt()
    fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    for _, sc, d in _details(study, week):
        sold = d.up_mw > 1e-9
        axes[0].plot(d.hour_of_week, d.up_bid_eur_mwh, color=COLORS[sc], lw=0.8, alpha=0.7, label=f"{SCENARIO_LABEL[sc]}: up bid")
        axes[0].scatter(d.hour_of_week[sold], d.dlmp_eur_mwh[sold], color=COLORS[sc], s=12, zorder=3,
                        label=f"{SCENARIO_LABEL[sc]}: DLMP when up-flex sold")
        axes[1].bar(d.hour_of_week + (0.2 if sc == ONE else -0.2), d.up_mw - d.dn_mw, width=0.4, color=COLORS[sc],
                    label=f"{SCENARIO_LABEL[sc]}: up − down sold ({d.up_mw.sum():.1f} / {d.dn_mw.sum():.1f} MWh)")
    axes[0].set(ylabel="€/MWh", title=f"Aggregator {AGG}: flexibility prices and quantities, {week} (seed 0) (cf. paper Fig. 9)")
    axes[1].set(xlabel="hour of week", ylabel="MW")
    axes[0].legend(fontsize=7, ncol=2)
    axes[1].legend(fontsize=7)
    _save(fig, path)


def fig_imbalances(study, week, path: Path):
    plt = _plt()
    fig, axes = plt.subplots(2, 1, figsize=(11, 5.5), sharex=True)
    d = None
    for _, sc, d in _details(study, week):
        off = 0.2 if sc == ONE else -0.2
        axes[0].bar(d.hour_of_week + off, d.imbalance_mw.clip(lower=0), width=0.4, color=COLORS[sc],
                    label=f"{SCENARIO_LABEL[sc]}: positive (long) {d.imbalance_mw.clip(lower=0).sum():.1f} MWh")
        axes[1].bar(d.hour_of_week + off, -(-d.imbalance_mw).clip(lower=0), width=0.4, color=COLORS[sc],
                    label=f"{SCENARIO_LABEL[sc]}: negative (short) {(-d.imbalance_mw).clip(lower=0).sum():.1f} MWh")
    if d is not None:  # the imbalance prices are data, the same in both scenarios
        for ax, col, lab in ((axes[0], "imb_long_eur_mwh", "λ+ (paid for long)"), (axes[1], "imb_short_eur_mwh", "λ− (paid when short)")):
            tw = ax.twinx()
            tw.plot(d.hour_of_week, d[col], color="k", lw=0.7, alpha=0.6)
            tw.set_ylabel(f"{lab} €/MWh")
            tw.grid(False)
    axes[0].set(ylabel="MW", title=f"Aggregator {AGG}: imbalances and imbalance prices, {week} (seed 0) (cf. paper Fig. 10)")
    axes[1].set(xlabel="hour of week", ylabel="MW")
    axes[0].legend(fontsize=7, loc="upper left")
    axes[1].legend(fontsize=7, loc="lower left")
    _save(fig, path)


def fig_per_aggregator(scores: pd.DataFrame, baselines: pd.DataFrame, scenarios, path: Path):
    plt = _plt()
    base = [sc for sc in (SA, ONE, ALL) if sc in scenarios]
    t = scores[_is_test(scores.week)]
    per = t.groupby(["scenario", "seed", "aggregator"]).total_eur.sum().groupby(["scenario", "aggregator"]).mean().unstack(0)
    fig, ax = plt.subplots(figsize=(11, 4))
    x = np.arange(len(per.index))
    w = 0.8 / max(len(base), 1)
    for j, sc in enumerate(base):
        ax.bar(x + (j - (len(base) - 1) / 2) * w, per[sc], width=w, color=COLORS[sc], label=SCENARIO_LABEL[sc])
    if len(baselines) and "truthful" in set(baselines.policy):
        tr = baselines[(baselines.policy == "truthful") & _is_test(baselines.week)].groupby("aggregator").total_eur.sum()
        ax.scatter(x, tr.reindex(per.index), marker="_", s=300, color="k", label="truthful bidding", zorder=3)
    ax.set_xticks(x, [str(a) for a in per.index])
    ax.axhline(0, color="k", lw=0.6)
    ax.set(xlabel="aggregator", ylabel="€ over the test weeks", title="Total score per aggregator over the test weeks, mean over seeds (cf. paper Fig. 11)")
    ax.legend()
    _save(fig, path)


def swapped_aggregators() -> list[int]:
    """The aggregators the paper's location swap moves ("5:9,8:10" -> 5, 9, 8, 10)."""
    return [int(x) for pair in PAPER.location_swap.split(",") for x in pair.split(":")]


def swap_table(scores: pd.DataFrame) -> pd.DataFrame:
    need = {SA, ALL, SA_SWAP, ALL_SWAP}
    if not need <= set(scores.scenario):
        return pd.DataFrame()
    t = scores[_is_test(scores.week)]
    per = t.groupby(["scenario", "seed", "aggregator"]).total_eur.sum().groupby(["scenario", "aggregator"]).mean()
    rows = []
    for a in swapped_aggregators():
        before = per[(ALL, a)] - per[(SA, a)]
        after = per[(ALL_SWAP, a)] - per[(SA_SWAP, a)]
        rows.append({"aggregator": a, "gap_before_eur": before, "gap_after_eur": after,
                     "gap_before_pct": 100 * before / max(abs(per[(SA, a)]), 1e-9),
                     "gap_after_pct": 100 * after / max(abs(per[(SA_SWAP, a)]), 1e-9)})
    return pd.DataFrame(rows)


def fig_swap(sw: pd.DataFrame, path: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(7, 3.8))
    x = np.arange(len(sw))
    ax.bar(x - 0.2, sw.gap_before_eur, 0.4, label="before swap", color="tab:blue")
    ax.bar(x + 0.2, sw.gap_after_eur, 0.4, label=f"after swap ({PAPER.location_swap.replace(':', '↔').replace(',', ', ')})",
           color="tab:orange")
    ax.set_xticks(x, [str(a) for a in sw.aggregator])
    ax.set(xlabel="aggregator", ylabel="all-arb − S-a, € over test weeks", title="Location swap: arbitrage gain before/after (cf. paper Fig. 12)")
    ax.axhline(0, color="k", lw=0.6)
    ax.legend()
    _save(fig, path)


def fig_exploitability(ex: pd.DataFrame, path: Path):
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4))
    x = np.arange(len(ex))
    for j, (col, label, color) in enumerate((
            ("learned_eur_per_week", "learned policy", "tab:gray"),
            ("best_constant_up_price_eur_per_week", "best constant up price (playable)", "tab:olive"),
            ("best_prices_only_eur_per_week", "hour-by-hour best prices", "tab:cyan"),
            ("best_eur_per_week", "hour-by-hour best withholding + prices", "tab:blue"))):
        ax.bar(x + (j - 1.5) * 0.2, ex[col], 0.2, label=label, color=color)
    ax.set_xticks(x, [SCENARIO_LABEL.get(s, s) for s in ex.scenario])
    ax.set(ylabel="€ per week (r1 + r2)", title=f"Aggregator {AGG}: learned vs best response (others fixed)")
    ax.axhline(0, color="k", lw=0.6)
    ax.legend(fontsize=8)
    _save(fig, path)


def fig_along_training(tab: pd.DataFrame, scenarios, path: Path, weeks: str = "", choice: pd.DataFrame | None = None):
    """What constant up-price bids would add at each policy snapshot (`along_training_table`): summed over the
    aggregators as a share of their earnings, and how many gain more than 1 %; one line per scenario and seed,
    a circle on the snapshot each run handed on where it chose one (`snapshot_choice_table`)."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    handed = {} if choice is None or choice.empty else {
        (r.scenario, r.seed): r.handed_on_episode for r in choice.itertuples()}
    many = tab.seed.nunique() > 1
    for sc in scenarios:
        for seed, d in tab[tab.scenario == sc].groupby("seed"):
            label = SCENARIO_LABEL.get(sc, sc) + (" (seed 0; dotted: the other seeds)" if many else "")
            style = {"color": COLORS.get(sc), "marker": "o", "ms": 3, "ls": "-" if seed == 0 else ":",
                     "lw": 1.5 if seed == 0 else 0.9, "label": label if seed == 0 or not many else None}
            axes[0].plot(d.episode, 100 * d.summed_gain_share, **style)
            axes[1].plot(d.episode, d.aggregators_gaining, **style)
            at = d[d.episode == handed.get((sc, seed))]
            for ax, col in zip(axes, (100 * at.summed_gain_share, at.aggregators_gaining)):
                ax.plot(at.episode, col, "o", mfc="none", ms=9, mew=1.5, color=COLORS.get(sc))
    axes[0].set(title="Summed gain of every aggregator's best constant bid", xlabel="episode of training",
                ylabel="% of all aggregators' earnings (symlog)")
    axes[0].set_yscale("symlog", linthresh=1.0)  # the untrained policies' tens of % beside the trained ones' few
    top = 100 * float(tab.summed_gain_share.max())
    axes[0].set_yticks([v for v in (0, 1, 2, 5, 10, 20, 50, 100, 200, 500) if v <= max(top, 1.0) * 1.5])
    axes[0].yaxis.set_major_formatter(plt.FuncFormatter(lambda v, _: f"{v:g}"))
    axes[1].set(title=f"Aggregators gaining > {100 * GAINING_SHARE:.0f} % from a constant bid", xlabel="episode of training",
                ylabel="aggregators", ylim=(-0.3, max(10, int(tab.aggregators.max())) + 0.3))
    for ax in axes:
        ax.axhline(0, color="k", lw=0.6)
    if handed:
        axes[0].plot([], [], "o", mfc="none", ms=9, mew=1.5, color="k", label="handed on (chosen on the validation weeks)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="lower center", ncol=2, fontsize=8, frameon=False)
    fig.suptitle("Every aggregator against constant up-price bids along training (the others at the same snapshot"
                 + (f"; {weeks})" if weeks else ")"), fontsize=10)
    _save(fig, path, rect=(0, 0.16, 1, 0.96))  # the legend below the panels


def fig_every_aggregator(ag: pd.DataFrame, path: Path):
    plt = _plt()
    scen = list(dict.fromkeys(ag.scenario))
    fig, axes = plt.subplots(len(scen), 1, figsize=(10, 2.8 * len(scen)), squeeze=False)
    for ax, sc in zip(axes[:, 0], scen):
        d = ag[ag.scenario == sc]
        x = np.arange(len(d))
        ax.bar(x - 0.27, d.learned_eur_per_week, 0.27, color="tab:gray", label="learned policy")
        ax.bar(x, d.validated_constant_eur_per_week.fillna(d.best_constant_eur_per_week), 0.27, color="tab:olive",
               label="constant up price (chosen on the validation weeks)")
        if "responder_gain_eur_per_week" in d:
            ax.bar(x + 0.27, d.learned_eur_per_week + d.responder_gain_eur_per_week.fillna(0.0), 0.27,
                   color="tab:blue", label="trained best responder")
        ax.set_xticks(x, [f"agg {a}" for a in d.aggregator])
        ax.set(ylabel="€ per week", title=SCENARIO_LABEL.get(sc, sc))
        ax.axhline(0, color="k", lw=0.6)
    axes[0, 0].legend(fontsize=8, ncol=3)
    fig.suptitle("Each aggregator against the others' learned policies (best-response weeks)")
    _save(fig, path)


def fig_responder_curves(rc: pd.DataFrame, scenarios, path: Path):
    plt = _plt()
    scen = [sc for sc in scenarios if sc in set(rc.scenario)]
    fig, axes = plt.subplots(1, len(scen), figsize=(4.2 * len(scen), 3.6), squeeze=False)
    for ax, sc in zip(axes[0], scen):
        d = rc[(rc.scenario == sc) & (rc.seed == rc[rc.scenario == sc].seed.min())]
        for agg, c in d.groupby("aggregator"):
            start = c.validation_eur.iloc[0]
            ax.plot(c.episode, c.validation_eur - start, marker=".", label=f"agg {agg}")
        ax.axhline(0, color="k", lw=0.6)
        ax.set(title=SCENARIO_LABEL.get(sc, sc), xlabel="best-responder episode", ylabel="gain on the validation weeks, €")
    axes[0, -1].legend(fontsize=7, ncol=2)
    fig.suptitle("Trained best responders: each aggregator learning against the others' frozen policies")
    _save(fig, path)


def fig_dynamics(dyn: pd.DataFrame, scenarios, path: Path):
    """Each aggregator's constant up price after every round of best-response dynamics (first seed), as
    a grid: rounds across, aggregators down, the price in each cell ("L": still its learned bids)."""
    plt = _plt()
    scen = [sc for sc in scenarios if sc in set(dyn.scenario)]
    fig, axes = plt.subplots(1, len(scen), figsize=(4.6 * len(scen), 4.2), squeeze=False)
    cap = float(np.nanmax(dyn.up_eur_mwh)) if dyn.up_eur_mwh.notna().any() else 1.0
    for ax, sc in zip(axes[0], scen):
        d = dyn[(dyn.scenario == sc) & (dyn.seed == dyn[dyn.scenario == sc].seed.min())]
        grid = d.pivot(index="aggregator", columns="round", values="up_eur_mwh")
        cmap = plt.get_cmap("viridis").with_extremes(bad="lightgray")
        im = ax.imshow(np.ma.masked_invalid(grid.values), cmap=cmap, vmin=0.0, vmax=cap, aspect="auto")
        ax.grid(False)
        for (i, j), v in np.ndenumerate(grid.values):
            ax.text(j, i, "L" if np.isnan(v) else f"{v:.0f}", ha="center", va="center", fontsize=7,
                    color="black" if np.isnan(v) or v >= 0.6 * cap else "white")
        ax.set_xticks(range(grid.shape[1]), [str(r + 1) for r in grid.columns])
        ax.set_yticks(range(grid.shape[0]), [f"agg {a}" for a in grid.index])
        ax.set(title=f"{SCENARIO_LABEL.get(sc, sc)}: {d.outcome.iloc[0]}", xlabel="after round")
        ax.title.set_fontsize(9)
    fig.colorbar(im, ax=axes[0, -1], label="constant up price, €/MWh")
    fig.suptitle("Best-response dynamics among constant up-price bids, starting from the learned policies (seed 0)")
    _save(fig, path)


def fig_fictitious_play(fp: pd.DataFrame, scenarios, path: Path):
    """Per iteration of fictitious play (first seed): the largest and the median gain an aggregator could
    make over its mixture, and all aggregators' € per week under the mixtures."""
    plt = _plt()
    scen = [sc for sc in scenarios if sc in set(fp.scenario)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 4))
    for sc in scen:
        d = fp[(fp.scenario == sc) & (fp.seed == fp[fp.scenario == sc].seed.min())]
        g = d.groupby("iteration").exploitability_share
        color = COLORS.get(sc)
        a1.plot(g.max().index, 100 * g.max().clip(lower=1e-4), color=color, label=f"{SCENARIO_LABEL.get(sc, sc)}: largest")
        a1.plot(g.median().index, 100 * g.median().clip(lower=1e-4), color=color, ls=":", label="median")
        total = d.groupby("iteration").mixture_eur_per_week.sum()
        a2.plot(total.index, total.values, color=color, label=SCENARIO_LABEL.get(sc, sc))
        kept = d[d.chosen].iteration.iloc[0] if "chosen" in d and d.chosen.any() else None
        if kept is not None:
            a1.plot([kept], [100 * max(g.max().loc[kept], 1e-4)], "o", color=color, ms=6, mfc="none")
            a2.plot([kept], [total.loc[kept]], "o", color=color, ms=6, mfc="none")
    a1.axhline(1.0, color="k", lw=0.6, ls="--")
    a1.set(yscale="log", xlabel="iteration (0: the learned policies)", ylabel="gain of the best option over the mixture, %",
           title="How far from a mixed equilibrium (o: the mixtures kept)")
    a2.set(xlabel="iteration (0: the learned policies)", ylabel="€ per week", title="All aggregators under the mixtures (o: kept)")
    a1.legend(fontsize=7, ncol=3)
    a2.legend(fontsize=8)
    fig.suptitle("Fictitious play over each aggregator's learned bids and constant up prices (seed 0, best-response weeks)")
    _save(fig, path)


def _lookup(table: pd.DataFrame, keys: list[str]):
    """at(*key, column): the cell of `table` (indexed by `keys`) in that row and column; NaN where either is missing."""
    r = table.set_index(keys)

    def at(*key_and_column):
        *key, col = key_and_column
        return r.loc[tuple(key), col] if tuple(key) in r.index and col in r else np.nan

    return at


def _section_bucketed_play(bt: pd.DataFrame, prof: dict) -> list[str]:
    """Regret matching by congestion, fitted on the training weeks, judged on the check and validation weeks."""
    if bt is None or bt.empty:
        return []
    show = bt.assign(scenario=bt.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)),
                     largest_gain_share=100 * bt.largest_gain_share).rename(columns={"largest_gain_share": "largest_gain_%"})
    for c in ("short_of_validated_over_1pct", "clearly_short_of_validated", "buckets"):
        if c in show:
            show[c] = show[c].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    fit = prof.get("rm_fit_weeks") or prof.get("fit_weeks") or []
    L = ["\n### Fitted on the training weeks: a play by congestion\n",
         "The correlated play above is fitted to the weeks it is judged on. One an aggregator could follow has to be "
         "fixed beforehand, and one mixture for every hour, fitted on the training weeks, did not carry over: the "
         "weeks differ in how often the feeder is congested. So the play here depends on a feature every aggregator "
         "observes before it bids in the LFM, the feeder's net scheduled injection after the LEM (the sum of the "
         "aggregators' schedules, MW; it tells how much flexibility the DSO will buy). Its hours where the DSO buys, "
         f"in {len(fit)} training weeks (`rm_fit_weeks`, or `fit_weeks`: every season), are split into {int(bt.buckets.max())} buckets "
         + ("of equal counts" if not prof.get("rm_bucket_quantiles") else
            "at the quantiles " + ", ".join(f"{q:g}" for q in prof["rm_bucket_quantiles"]) + " of their feature (`rm_bucket_quantiles`)")
         + " (outer buckets open), and regret matching runs in each bucket as above "
         "(`bucketed_regret_matching`). The hours are independent games, so the buckets' plays compose: against a "
         "constant bid played throughout, an aggregator's regret is at most the sum of its regrets in the buckets. "
         "The play is then judged on the check weeks and the validation weeks, which it was not fitted to (each "
         "hour drawn from its bucket's play): the gains are those of an option played throughout against it; "
         "`clearly_short_of_validated` counts, on the check weeks, the aggregators short of the option best on the "
         "validation weeks by more than the day-to-day noise explains, as the every-aggregator table judges the "
         "learned policies (`regret_matching/*-buckets*.csv`, `tables/regret_matching_by_congestion.csv`):\n",
         _md(show) if bt.seed.nunique() == 1 else _md(_bucketed_summary(bt)), ""]
    if bt.seed.nunique() > 1:
        return L + ["Per seed in `tables/regret_matching_by_congestion.csv`; per scenario, ranges over the seeds:", "",
                    *_bucketed_seeds_reading(bt)]
    for (sc, seed), d in bt.groupby(["scenario", "seed"], sort=False):
        at = _lookup(d, ["weeks", "profile"])
        parts = []
        for weeks in ("fit", "check", "validation"):
            if np.isfinite(at(weeks, "learned", "aggregators_over_1pct")):
                parts.append(f"{weeks} weeks {int(at(weeks, 'learned', 'aggregators_over_1pct'))} → "
                             f"{int(at(weeks, 'by congestion', 'aggregators_over_1pct'))} (largest "
                             f"{100 * at(weeks, 'learned', 'largest_gain_share'):.1f} → "
                             f"{100 * at(weeks, 'by congestion', 'largest_gain_share'):.1f} %)")
        line = (f"- {SCENARIO_LABEL.get(sc, sc)}, seed {seed}: aggregators more than 1 % short of their best option, "
                "learned → by congestion: " + "; ".join(parts))
        if np.isfinite(at("check", "learned", "clearly_short_of_validated")):
            line += (f"; on the check weeks, clearly short of the option validated beforehand "
                     f"{int(at('check', 'learned', 'clearly_short_of_validated'))} → "
                     f"{int(at('check', 'by congestion', 'clearly_short_of_validated'))} of "
                     f"{int(at('check', 'learned', 'of'))}")
        L.append(line + ".")
    return L


def _seed_range(x: pd.Series) -> str:
    """Counts over seeds as "lo–hi" ("n" where every seed has the same)."""
    lo, hi = int(x.min()), int(x.max())
    return f"{lo}" if lo == hi else f"{lo}–{hi}"


def _bucketed_summary(bt: pd.DataFrame) -> pd.DataFrame:
    """`bucketed_play_table` over seeds: per scenario, weeks and profile, the aggregators more than 1 % short of their
    best option and (check weeks) clearly short of the validated one (ranges over seeds and totals), the median largest
    gain and the mean of all aggregators' earnings."""
    g = bt.groupby(["scenario", "weeks", "profile"], sort=False)
    out = pd.DataFrame({"seeds": g.seed.nunique(), "aggregators_over_1pct_range": g.aggregators_over_1pct.agg(_seed_range),
                        "largest_gain_pct_median": 100 * g.largest_gain_share.median(),
                        "all_aggregators_eur_per_week_mean": g.all_aggregators_eur_per_week.mean()})
    if "clearly_short_of_validated" in bt:
        short = g.clearly_short_of_validated
        out["clearly_short_of_validated_range"] = short.agg(lambda x: _seed_range(x) if x.notna().all() else "")
        out["clearly_short_of_validated_total"] = short.agg(lambda x: f"{int(x.sum())}" if x.notna().all() else "")
    out = out.reset_index()
    return out.assign(scenario=out.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))


def _bucketed_seeds_reading(bt: pd.DataFrame) -> list[str]:
    """One bullet per scenario of a several-seed `bucketed_play_table`: learned → by congestion, ranges over seeds."""
    out = []
    for sc, d in bt.groupby("scenario", sort=False):
        g = d.groupby(["weeks", "profile"])
        over, short = g.aggregators_over_1pct, g.clearly_short_of_validated if "clearly_short_of_validated" in d else None
        big = 100 * g.largest_gain_share.median()
        parts = [f"{weeks} weeks {_seed_range(over.get_group((weeks, 'learned')))} → "
                 f"{_seed_range(over.get_group((weeks, 'by congestion')))} (median largest {big[(weeks, 'learned')]:.1f} → "
                 f"{big[(weeks, 'by congestion')]:.1f} %)"
                 for weeks in ("fit", "check", "validation") if {(weeks, "learned"), (weeks, "by congestion")} <= set(big.index)]
        line = (f"- {SCENARIO_LABEL.get(sc, sc)} ({d.seed.nunique()} seeds): aggregators more than 1 % short of their best "
                "option per seed, learned → by congestion: " + "; ".join(parts))
        if short is not None and {("check", "learned"), ("check", "by congestion")} <= set(big.index):
            a, b = short.get_group(("check", "learned")), short.get_group(("check", "by congestion"))
            if a.notna().all() and b.notna().all():
                line += (f"; on the check weeks, clearly short of the option validated beforehand {_seed_range(a)} → "
                         f"{_seed_range(b)} of {int(d.of.max())} per seed ({int(a.sum())} → {int(b.sum())} over the seeds)")
        out.append(line + ".")
    return out


def _section_congestion_play(cp: pd.DataFrame, co: pd.DataFrame) -> list[str]:
    """The play by congestion as a policy on the test weeks: the paper's findings, its orderings and the markets."""
    if cp is None or cp.empty:
        return []
    show = cp.assign(scenario=cp.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))
    show = show[[c for c in show.columns if not c.startswith("flex_revenue") and c != "up_bids_at_bound_congested_share"]]
    L = ["\n### The play by congestion on the test weeks: the paper's findings and the markets\n",
         "The play above, fitted on training weeks only, is also a policy over the learned one "
         "(`regret_matching/*-buckets-policy.npz`; `localmarl evaluate --run RUN --fitted-play FILE` plays it): in "
         "each hour every aggregator draws the same iteration of its bucket's play, by a hash of what all of them "
         "observe, then its option from its own mixture by a hash of its own observation (learned withholding and "
         "down price throughout). Played on every evaluation week as the learned policies are, none of the test "
         "weeks is one it was fitted to. Per scenario, mean over the seeds that have it, learned policies and the "
         "play (€ per week; who earns the flexibility revenue in `tables/play_by_congestion_test_weeks.csv`):\n", _md(show, "{:,.1f}"), ""]
    for sc, d in cp.groupby("scenario", sort=False):
        r = d.set_index("profile")
        if not {"learned", "by congestion"} <= set(r.index):
            continue
        a, b = r.loc["learned"], r.loc["by congestion"]
        L.append(f"- {SCENARIO_LABEL.get(sc, sc)} ({int(b.seeds)} seed{'s' if b.seeds > 1 else ''}): all aggregators "
                 f"{a.all_aggregators_eur_per_week:,.0f} → {b.all_aggregators_eur_per_week:,.0f} €/week; aggregator "
                 f"{AGG} in the LEM {round(a[f'agg{AGG}_first_eur_per_week']) + 0:+,d} → "
                 f"{round(b[f'agg{AGG}_first_eur_per_week']) + 0:+,d}, "
                 f"in the LFM and balancing {a[f'agg{AGG}_second_eur_per_week']:,.0f} → "
                 f"{b[f'agg{AGG}_second_eur_per_week']:,.0f}"
                 + (f"; the DSO pays {a.dso_pays_eur_per_week:,.0f} → {b.dso_pays_eur_per_week:,.0f} €/week for "
                    f"{a.flex_bought_mwh_per_week:,.1f} → {b.flex_bought_mwh_per_week:,.1f} MWh"
                    if "dso_pays_eur_per_week" in r else "") + ".")
    if co is not None and len(co):
        L += ["\nThe paper's orderings seed by seed on the test weeks (as in Seeds above), under the learned policies and "
              "under the play (`tables/ordering_play_by_congestion.csv`):\n",
              _md(co.assign(p_one_sided=co.p_one_sided.map(lambda v: "" if pd.isna(v) else f"{v:.3f}")), "{:,.0f}"), "",
              *_fp_ordering_reading(co, "by congestion")]
    return L


def fig_regret_matching(rm: pd.DataFrame, fp: pd.DataFrame, table: pd.DataFrame, scenarios, path: Path,
                        bucketed: pd.DataFrame | None = None):
    """Left: per iteration (first seed), the largest regret of an aggregator against regret matching's play so far
    (iteration t weighted t + 1) beside fictitious play's largest gain over its current mixtures. Right: per
    scenario, the aggregators more than 1 % short of their best option under each profile, on the weeks the plays
    ran on and on the validation weeks; with `bucketed` (`bucketed_play_table`), also the play by congestion fitted
    on the training weeks, on the check and validation weeks (neither fitted to)."""
    plt = _plt()
    scen = [sc for sc in scenarios if sc in set(rm.scenario)]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(12, 4.2))
    for sc in scen:
        seed = rm[rm.scenario == sc].seed.min()
        color = COLORS.get(sc)
        g = rm[(rm.scenario == sc) & (rm.seed == seed)].groupby("iteration").regret_share.max()
        a1.plot(g.index + 1, 100 * g.clip(lower=1e-4), color=color, label=f"{SCENARIO_LABEL.get(sc, sc)}: regret matching")
        if fp is not None and len(fp) and ((fp.scenario == sc) & (fp.seed == seed)).any():
            h = fp[(fp.scenario == sc) & (fp.seed == seed)].groupby("iteration").exploitability_share.max()
            a1.plot(h.index + 1, 100 * h.clip(lower=1e-4), color=color, ls=":", label="fictitious play")
    a1.axhline(1.0, color="k", lw=0.6, ls="--")
    a1.set(xscale="log", yscale="log", xlabel="iteration + 1 (1: the learned policies)",
           ylabel="largest gain of an option, % of own", title="How far from an equilibrium, the plays' weeks")
    a1.legend(fontsize=7, ncol=2)
    profiles = ["learned", "fictitious play", "regret matching"]
    if bucketed is not None and len(bucketed):
        table = pd.concat([table, bucketed[bucketed.profile == "by congestion"].assign(
            profile="by congestion, fitted on training weeks")], ignore_index=True)
        profiles.append("by congestion, fitted on training weeks")
    width = 0.8 / len(profiles)
    if table is not None and len(table):
        first = table[table.seed == table.groupby("scenario").seed.transform("min")]
        for i, prof in enumerate(profiles):
            for j, weeks in enumerate(("check", "validation")):
                d = first[(first.profile == prof) & (first.weeks == weeks)].set_index("scenario")
                x = np.array([k + (i - (len(profiles) - 1) / 2) * width for k in range(len(scen))])
                y = [d.aggregators_over_1pct.get(sc, np.nan) for sc in scen]
                bars = a2.bar(x + (0.0 if j == 0 else width / 2) - width / 4, y, width / 2, color=f"C{i}",
                              hatch="" if j == 0 else "//", alpha=1.0 if j == 0 else 0.5,
                              label=f"{prof}, " + ("check weeks" if j == 0 else "validation weeks"))
                a2.bar_label(bars, fmt="%d", fontsize=7)  # a 0 shows as one
    a2.set_xticks(range(len(scen)), [SCENARIO_LABEL.get(sc, sc) for sc in scen])
    a2.set(ylabel="aggregators > 1 % short of their best option", title="Every aggregator against its options (of 10)")
    a2.set_ylim(0, 14.5 if len(profiles) > 3 else 12.5)
    a2.legend(fontsize=7, ncol=2, loc="upper center")
    fig.suptitle("Regret matching over learned and constant up-price bids: a coarse correlated equilibrium (seed 0)"
                 + ("\nfictitious play and regret matching fitted on the check weeks; the play by congestion on training weeks"
                    if len(profiles) > 3 else ""), fontsize=10)
    _save(fig, path)


def fig_play_orderings(scores: pd.DataFrame, play_scores: pd.DataFrame, path: Path) -> bool:
    """The paper's orderings seed by seed on the test weeks, under the learned policies and under the play by
    congestion (`congestion_play_ordering`'s numbers): one panel per step, each seed's difference under both (a line
    joins a seed's two), mean ± standard error in black. False (nothing drawn) with fewer than two seeds."""
    per = {k: _ordering_per_seed(d) for k, d in congestion_play_frames(scores, play_scores).items()}
    panels = []
    for i, (who, _, steps) in enumerate(per["learned"]):
        for lo, hi in steps:
            tables = {k: v[i][1] for k, v in per.items()}
            if all({lo, hi} <= set(t.columns) for t in tables.values()):
                diff = {k: (t[hi] - t[lo]).dropna() for k, t in tables.items()}
                p = {k: paired_steps(t, [(lo, hi)]).p_one_sided.iloc[0] for k, t in tables.items()}
                if min(len(v) for v in diff.values()) >= 2:
                    panels.append((who, f"{PAPER.label(lo)} < {PAPER.label(hi)}", diff, p))
    if not panels:
        return False
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(4.6 * len(panels), 4), squeeze=False)
    for ax, (who, step, diff, p) in zip(axes[0], panels):
        a, b = diff["learned"], diff["by congestion"]
        for seed in a.index.intersection(b.index):
            ax.plot([0, 1], [a[seed], b[seed]], "-", color="0.75", lw=0.8, zorder=1)
        for x, (k, d) in enumerate(diff.items()):
            ax.scatter(np.full(len(d), x), d.values, color=f"C{x}", zorder=2, label=f"{k}: a seed")
            se = d.std(ddof=1) / np.sqrt(len(d))
            ax.errorbar([x + 0.12], [d.mean()], yerr=[se], fmt="o", color="k", capsize=4, zorder=3,
                        label="mean ± standard error" if x == 0 else None)
        p = [f"{p[k]:.3f}" if p[k] >= 0.001 else "< 0.001" for k in ("learned", "by congestion")]
        ax.axhline(0.0, color="k", lw=0.6, ls="--")
        ax.set_xticks([0, 1], ["learned", "by congestion"])
        ax.set(xlim=(-0.5, 1.5), ylabel="difference, € per week")
        ax.set_title(f"{who}: {step}\none-sided p: learned {p[0]}, by congestion {p[1]}", fontsize=9)
        ax.legend(fontsize=7, loc="best")
    fig.suptitle("The paper's orderings seed by seed on the 12 test weeks, learned policies and the play by congestion "
                 "(fitted on training weeks)", fontsize=10)
    _save(fig, path)
    return True


def fig_fitted_play(history: pd.DataFrame, ft: pd.DataFrame, scenarios, path: Path, two_stage: pd.DataFrame | None = None):
    """Left: per iteration of fictitious play over fitted responders (first seed), the largest gain of a constant
    up price over an aggregator's play on the play's weeks (dashed: the two-stage play's largest gain of a fixed
    option, from `two_stage`, its history). Middle and right, on the check weeks, learned vs the policies kept: the
    largest fitted responder's gain (up price; two-stage responder for the two-stage play), and aggregator 5's
    hour-by-hour regret."""
    plt = _plt()
    two_stage = pd.DataFrame() if two_stage is None else two_stage
    scen = [sc for sc in scenarios if sc in set(history.scenario) | set(two_stage.get("scenario", []))]
    fig, (a1, a2, a3) = plt.subplots(1, 3, figsize=(14, 4))
    for hist, col, ls, what in ((history, "constant_gain_share", "-", ""), (two_stage, "fixed_gain_share", "--", ", two-stage play")):
        for sc in [sc for sc in scen if len(hist) and sc in set(hist.scenario)]:
            d = hist[(hist.scenario == sc) & (hist.seed == hist[hist.scenario == sc].seed.min())]
            g = 100 * d.groupby("iteration")[col].max().clip(lower=1e-4)
            a1.plot(g.index, g.values, ls, color=COLORS.get(sc), label=SCENARIO_LABEL.get(sc, sc) + what)
            kept = int(d[d.chosen].iteration.iloc[0])
            a1.plot([kept], [g.loc[kept]], "o", color=COLORS.get(sc), ms=6, mfc="none")
    from matplotlib.patches import Patch
    from matplotlib.ticker import FormatStrFormatter, FuncFormatter

    a1.set(yscale="log", xlabel="iteration (0: the learned policies)",
           ylabel="largest gain of a constant up price" + (" (--: of a fixed option)" if len(two_stage) else "") + ", %",
           title="In sample: how far from an equilibrium (o: kept)")
    a1.yaxis.set_major_formatter(FormatStrFormatter("%g"))
    a1.yaxis.set_minor_formatter(FuncFormatter(  # label 2 and 5 times a power of ten only
        lambda v, _: f"{v:g}" if v > 0 and round(v / 10 ** np.floor(np.log10(v))) in (2, 5) else ""))
    a1.legend(fontsize=8)
    t = ft[ft.scenario.isin(scen)].groupby(["scenario", "policy"], sort=False).mean(numeric_only=True)
    if "largest_two_stage_gain_share" in t and "largest_fitted_responder_gain_share" in t:  # the two-stage play's
        tsp = t.index.get_level_values("policy") == "two-stage play"  # responders answer both decisions
        t.loc[tsp, "largest_fitted_responder_gain_share"] = t.loc[tsp, "largest_two_stage_gain_share"]
    x = np.arange(len(scen))
    styles = [st for st in (("learned", "", 0.45), ("fitted play", "//", 0.9), ("two-stage play", "xx", 0.9))
              if st[0] in set(ft.policy)]
    w = 0.8 / len(styles)
    for ax, col, title in ((a2, "largest_fitted_responder_gain_share", "Check weeks: largest fitted responder's gain"),
                           (a3, "agg5_regret_share", f"Check weeks: aggregator {AGG}'s hour-by-hour regret")):
        for i, (policy, hatch, alpha) in enumerate(styles):
            v = np.array([100 * t[col].get((sc, policy), np.nan) if col in t else np.nan for sc in scen])
            bars = ax.bar(x + (i - (len(styles) - 1) / 2) * w, np.nan_to_num(v), w, color=[COLORS.get(sc) for sc in scen],
                          hatch=hatch, edgecolor="k", alpha=alpha)
            ax.bar_label(bars, labels=[f"{u:.1f}" if np.isfinite(u) else "" for u in v], fontsize=7)
        ax.set_xticks(x, [SCENARIO_LABEL.get(sc, sc) for sc in scen])
        ax.set(ylabel="%", title=title)
        ax.legend([Patch(facecolor="0.6", alpha=a, hatch=h, edgecolor="k") for _, h, a in styles],
                  [p for p, _, _ in styles], fontsize=8)
    a2.axhline(10.0, color="k", lw=0.6, ls="--")
    fig.suptitle("Fictitious play over fitted best responders: learned policy vs the policies the plays keep (seed 0; "
                 "the two-stage play's responders answer withholding and up price)", fontsize=10)
    _save(fig, path)


def fig_two_stage(tt: pd.DataFrame, scenarios, path: Path):
    """Per scenario (first seed), every aggregator's fitted two-stage responder's gain over the policy it answers
    (the responder kept on the validation weeks, scored on the check weeks): learned vs fitted-play policy (and the
    two-stage play's, where it ran). Gains above the axis are drawn at its top with their value printed."""
    plt = _plt()
    scen = [sc for sc in scenarios if sc in set(tt.scenario)]
    top, cut = 80.0, 60.0
    fig, axes = plt.subplots(1, len(scen), figsize=(4.8 * len(scen), 4.2), squeeze=False, sharey=True)
    for ax, sc in zip(axes[0], scen):
        d = tt[(tt.scenario == sc) & (tt.seed == tt[tt.scenario == sc].seed.min())]
        aggs = sorted(d.aggregator.unique())
        x = np.arange(len(aggs))
        styles = [st for st in (("learned", "", 0.45), ("fitted play", "//", 0.9), ("two-stage play", "xx", 0.9))
                  if st[0] in set(d.policy)]
        w = 0.8 / len(styles)
        for i, (policy, hatch, alpha) in enumerate(styles):
            g = d[d.policy == policy].set_index("aggregator")
            v = np.array([100 * g.gain_share.get(a, np.nan) for a in aggs])
            bars = ax.bar(x + (i - (len(styles) - 1) / 2) * w, np.clip(v, -top, cut), w, color=COLORS.get(sc), hatch=hatch,
                          edgecolor="k", alpha=alpha, label=f"against the {policy.replace(' ', '-')} policy")
            ax.bar_label(bars, labels=[f"{u:+.0f}" if abs(u) >= 10 else "" for u in v], fontsize=7, rotation=90, padding=2)
        ax.axhline(10.0, color="k", lw=0.6, ls="--")
        ax.axhline(0.0, color="k", lw=0.4)
        ax.set_ylim(-20, top)
        ax.set_xticks(x, [str(a) for a in aggs])
        ax.set(xlabel="aggregator", title=SCENARIO_LABEL.get(sc, sc))
        ax.legend(fontsize=8, loc="lower left")
    axes[0][0].set_ylabel("gain over the policy it answers, %")
    fig.suptitle("Fitted two-stage responders (withholding and up price) on the check weeks, seed 0; dashed: 10 %; "
                 f"bars above {cut:.0f} % are cut and print their value", fontsize=10)
    _save(fig, path)


# ---------------------------------------------------------------------------------------------
# markdown
# ---------------------------------------------------------------------------------------------
def _table1_md(t1: pd.DataFrame) -> str:
    weeks = [c for c in t1.columns if c.isdigit()]
    show = t1.assign(scenario=t1.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))
    return _md(show[["scenario", "stage", *weeks, "mean"]], "{:,.0f}")


def _paper_table1_md() -> str:
    rows = [{"scenario": SCENARIO_LABEL[sc], "stage": st, **{str(i + 1): v for i, v in enumerate(vals)}, "mean": float(np.mean(vals))}
            for (sc, st), vals in PAPER_TABLE1.items()]
    return _md(pd.DataFrame(rows), "{:,.0f}")


def _market_evidence(a, o, scores: pd.DataFrame) -> str:
    """All-arb (a) against one-arb (o) in the markets, in words that follow the numbers."""
    t = scores[_is_test(scores.week)]
    first = t.groupby("scenario").first_stage_eur.sum() / (t.week.nunique() * t.groupby("scenario").seed.nunique())
    lem_loss_a, lem_loss_o = -first.get(ALL, np.nan), -first.get(ONE, np.nan)
    more = lambda x, y, up, down: up if x > y else down  # noqa: E731
    text = (f"- Market evidence, all-arb vs one-arb (test weeks): withholding {a.mean_withholding_all:.2f} vs "
            f"{o.mean_withholding_all:.2f} on average; the DSO buys {a.flex_bought_mwh_per_week:,.1f} vs "
            f"{o.flex_bought_mwh_per_week:,.1f} MWh/week of flexibility at a median up bid (in the hours it buys) of "
            f"{a.median_up_bid_congested_eur_mwh:,.0f} vs {o.median_up_bid_congested_eur_mwh:,.0f} €/MWh and pays {a.dso_pays_eur_per_week:,.0f} vs {o.dso_pays_eur_per_week:,.0f} "
            f"€/week; all aggregators together lose {lem_loss_a:,.0f} vs {lem_loss_o:,.0f} €/week in the LEM (first stage).")
    if a.flex_bought_mwh_per_week > o.flex_bought_mwh_per_week and a.median_up_bid_congested_eur_mwh < o.median_up_bid_congested_eur_mwh:
        text += (" With everyone arbitraging, more flexibility is offered for the same congestion and its price falls "
                 "(the paper also notes sharper competition in all-arb).")
    extra_pay, extra_loss = a.dso_pays_eur_per_week - o.dso_pays_eur_per_week, lem_loss_a - lem_loss_o
    text += (f" The DSO pays {abs(extra_pay):,.0f} €/week {more(extra_pay, 0, 'more', 'less')} in all-arb while the "
             f"aggregators' LEM loss is {abs(extra_loss):,.0f} €/week {more(extra_loss, 0, 'larger', 'smaller')}.")
    return text


ORDERING_STEPS = tuple(zip(PAPER.scenarios[:-1], PAPER.scenarios[1:]))  # the paper's S-a < one-arb < all-arb, step by step


def paired_seed_test(scores: pd.DataFrame) -> pd.DataFrame:
    """Each step of the paper's ordering of all aggregators' test-week totals, seed by seed
    (`runs.reports.common.paired_steps`)."""
    return paired_steps(seed_totals(scores), ORDERING_STEPS, PAPER.label)


def _seed_reading(pt: pd.DataFrame) -> str | None:
    """Is each step of the test-week ordering larger than the seed-to-seed noise of the differences?"""
    if len(pt) < len(ORDERING_STEPS) or pt.seeds.min() < 2:
        return None
    parts = [f"{r.step}: {r.mean_difference_eur_per_week:+,.0f} ± {r.standard_error_eur_per_week:,.0f} €/week "
             f"(positive in {r.seeds_with_positive_difference} of {r.seeds} seeds, p = {r.p_one_sided:.3f})"
             for r in pt.itertuples(index=False)]
    text = ("- Seeds: scenarios run with the same seed share initial weights, training weeks and exploration noise, so "
            "each step of the ordering is judged on its per-seed differences (mean ± standard error, one-sided paired "
            f"t-test): {'; '.join(parts)}. ")
    if ordering_resolved(pt):
        return text + f"Both steps are resolved beyond seed-to-seed noise (p < {SIGNIFICANCE})."
    weak = [r for r in pt.itertuples(index=False) if not r.p_one_sided < SIGNIFICANCE]
    text += (f"{' and '.join(r.step for r in weak)} {'is' if len(weak) == 1 else 'are'} within seed-to-seed noise "
             f"(p ≥ {SIGNIFICANCE}).")
    null = [r.step for r in weak if abs(r.mean_difference_eur_per_week) < r.standard_error_eur_per_week]
    if null:
        text += (f" For {' and '.join(null)} the mean difference is smaller than its standard error, so these seeds "
                 "cannot tell the two scenarios apart.")
    return text + " More seeds (`--seeds N --resume` keeps the finished ones) narrow the standard errors."


def _who_gains(scores: pd.DataFrame, mk: pd.DataFrame) -> str | None:
    """One-arb against S-a: how the change in all aggregators' total splits between aggregator 5
    and the others, beside the paper's split and what the DSO pays."""
    t = scores[_is_test(scores.week) & scores.scenario.isin([SA, ONE])]
    if t.scenario.nunique() < 2:
        return None
    per = t.assign(who=np.where(t.aggregator == AGG, "agg", "others")).groupby(["scenario", "seed", "who", "week"]).total_eur.sum()
    m = per.groupby(["scenario", "who"]).mean().unstack("who")  # € per week: mean over test weeks, then seeds
    d = m.loc[ONE] - m.loc[SA]
    p_agg = np.mean(PAPER_TABLE1[(ONE, "total")]) - np.mean(PAPER_TABLE1[(SA, "total")])
    p_all = PAPER_TABLE2[ONE][1] - PAPER_TABLE2[SA][1]
    text = (f"- Who gains when aggregator {AGG} arbitrages (one-arb − S-a, test weeks, mean over seeds): aggregator {AGG} "
            f"{d['agg']:+,.0f} €/week, the other aggregators together {d['others']:+,.0f} (paper: {p_agg:+,.0f} and "
            f"{p_all - p_agg:+,.0f}).")
    k = mk.set_index("scenario") if len(mk) else mk
    if len(k) and {SA, ONE} <= set(k.index):
        dm = k.loc[ONE] - k.loc[SA]
        text += (f" The DSO buys {dm.flex_bought_mwh_per_week:+,.1f} MWh/week of flexibility and pays "
                 f"{dm.dso_pays_eur_per_week:+,.0f} €/week for it (median up bid where it buys "
                 f"{k.loc[SA].median_up_bid_congested_eur_mwh:,.0f} → {k.loc[ONE].median_up_bid_congested_eur_mwh:,.0f} €/MWh): "
                 f"aggregator {AGG} sells {dm[f'flex_sold_agg{AGG}_mwh_per_week']:+,.1f} MWh/week for "
                 f"{dm[f'flex_revenue_agg{AGG}_eur_per_week']:+,.0f} €/week, the others "
                 f"{dm.flex_sold_others_mwh_per_week:+,.1f} MWh/week for {dm.flex_revenue_others_eur_per_week:+,.0f} €/week.")
        if "flex_revenue_others_above_cap_eur_per_week" in dm:
            text += (f" Of that, paid at DLMPs above the {k.loc[ONE].bid_cap_eur_mwh:,.0f} €/MWh bid cap (set by binding limits or shed load, "
                     f"not by any bid): aggregator {AGG} {dm[f'flex_revenue_agg{AGG}_above_cap_eur_per_week']:+,.0f}, "
                     f"the others {dm.flex_revenue_others_above_cap_eur_per_week:+,.0f} €/week.")
        if not np.isnan(dm.get("load_shed_hours_per_week", np.nan)):
            text += (f" Load shed by the LFM: {k.loc[SA].load_shed_hours_per_week:.2f} → "
                     f"{k.loc[ONE].load_shed_hours_per_week:.2f} hours per week "
                     f"({k.loc[SA].load_shed_mwh_per_week:.2f} → {k.loc[ONE].load_shed_mwh_per_week:.2f} MWh).")
    return text


def _price_level_reading(ex: pd.DataFrame) -> str | None:
    """Aggregator 5's learned up bids against the one up price that would earn it most, when they are
    a factor of 2 or more apart on the same side in both S-a and one-arb (the 'who gains' comparison)."""
    cols = ["learned_median_up_bid_lfm_active_eur_mwh", "best_common_up_price_eur_mwh"]
    if not len(ex) or not set(cols) <= set(ex.columns) or not {SA, ONE} <= set(ex.scenario):
        return None
    px = ex[ex.scenario.isin([SA, ONE])].dropna(subset=cols)
    ratio = px[cols[0]] / px[cols[1]].clip(lower=1e-9)
    side = "below" if len(px) and (ratio <= 0.5).all() else "above" if len(px) and (ratio >= 2).all() else None
    if side is None:
        return None
    best = sorted(set(px[cols[1]].round(0)))
    return (f"- Prices: aggregator {AGG}'s learned up bids in the hours in which the LFM is active (medians "
            f"{px[cols[0]].min():,.0f}–{px[cols[0]].max():,.0f} €/MWh) are far {side} the one up price that would earn "
            f"it most ({' / '.join(f'{b:,.0f}' for b in best)} €/MWh) in S-a and in one-arb. Who sells the flexibility "
            f"the DSO buys, and so whether the other aggregators gain when aggregator {AGG} arbitrages (Who gains), "
            "depends on price levels that are not yet best responses.")


def ordering_resolved(pt: pd.DataFrame) -> bool:
    return len(pt) == len(ORDERING_STEPS) and bool((pt.p_one_sided < SIGNIFICANCE).all())


def explain(checks_: list[dict], ex: pd.DataFrame, t1: pd.DataFrame, pt: pd.DataFrame, mk: pd.DataFrame,
            scores: pd.DataFrame, tw: pd.DataFrame) -> list[str]:
    """Plain-language reading of the results, using the best-response and market evidence."""
    lines = []
    for c in checks_:
        if not c["ok"]:
            lines.append(f"- **Differs from the paper: {c['claim']}** (ours: {c['ours']}; paper: {c['paper']}).")
    m = mk.set_index("scenario") if len(mk) else mk
    if len(m) and {ONE, ALL} <= set(m.index) and any(not c["ok"] and "total profit" in c["claim"] for c in checks_):
        lines.append(_market_evidence(m.loc[ALL], m.loc[ONE], scores))
    for extra in (_seed_reading(pt), _who_gains(scores, mk) if len(scores) else None, _by_week_reading(tw)):
        if extra:
            lines.append(extra)
    first = t1[(t1.scenario == SA) & (t1.stage == "first")] if len(t1) else t1
    if len(first) and first["mean"].iloc[0] < -1:
        f = first["mean"].iloc[0]
        lines.append(
            f"- S-a: a stand-alone primary's own objective is r¹, and withholding nothing gives r¹ = 0 by definition, so "
            f"aggregator {AGG}'s first-stage score in S-a ({f:,.0f} €/week; paper ≈ 0) is its primary's regret in its own "
            "objective: the stand-alone primaries have not learned to stop withholding in these runs. (Where its unit is "
            "not dispatched anyway, withholding is free and the critic sees no gradient.)")
    for r in ex.itertuples(index=False) if len(ex) else []:
        name = SCENARIO_LABEL.get(r.scenario, r.scenario)
        if r.regret_share < 0.15:
            verdict = ("close to the hour-by-hour best response: differences from the paper in this scenario "
                       "reflect our market rather than incomplete learning")
        else:
            verdict = "far from the hour-by-hour best response"
            if r.best_constant_up_price_eur_per_week > r.learned_eur_per_week * 1.05 + 10:
                verdict += (f"; even the best *constant* up-price bid would earn {r.best_constant_up_price_eur_per_week:,.0f}, "
                            "so the learned strategy is not a best response to the others (whether any deterministic "
                            "strategy profile can be one here: 'Is there an equilibrium to converge to?' below)")
                if np.isfinite(getattr(r, "best_common_up_price_eur_mwh", np.nan)):
                    verdict += (f". Its learned up bid in the hours in which the LFM is active has a median of "
                                f"{r.learned_median_up_bid_lfm_active_eur_mwh:,.0f} €/MWh; the one up price that earns most "
                                f"over these weeks is {r.best_common_up_price_eur_mwh:,.0f}")
            else:
                verdict += ("; but no constant up-price bid beats the learned one, so much of the gap needs hour-by-hour "
                            "knowledge of the others' bids that an actor seeing only its own observation lacks")
        lines.append(
            f"- {name}: aggregator {AGG} earns {r.learned_eur_per_week:,.0f} €/week with its learned policy; the "
            f"hour-by-hour best response found earns {r.best_eur_per_week:,.0f} (prices alone: "
            f"{r.best_prices_only_eur_per_week:,.0f}); regret {r.regret_eur_per_week:,.0f} €/week "
            f"({100 * r.regret_share:.0f} % of the best) — {verdict}.")
    price_line = _price_level_reading(ex)
    if price_line:
        lines.append(price_line)
    return lines


@dataclass(frozen=True)
class ReportTables:
    """What the report shows, computed once from the study's data (`_tables`)."""

    table1: pd.DataFrame  # aggregator 5 per test week (`table1`)
    table2: pd.DataFrame  # all aggregators' total profit (`table2`)
    by_week: pd.DataFrame  # Table II per test week, beside the flexibility bought in S-a (`table2_by_week`)
    paired: pd.DataFrame  # the ordering seed by seed (`paired_seed_test`)
    baselines: pd.DataFrame  # rule-based policies beside the learned ones (`baseline_table`)
    markets: pd.DataFrame  # what the learned policies do to the markets (`market_table`)
    exploitability: pd.DataFrame  # aggregator 5 against its best response (`exploitability_table`)
    swap: pd.DataFrame  # the location swap (`swap_table`)
    aggregators: pd.DataFrame  # every aggregator against constant bids and a trained best responder
    convergence: pd.DataFrame  # whether the training curves have flattened (`convergence_table`)
    dynamics: pd.DataFrame  # best-response dynamics among constant bids (`dynamics_table`)
    fictitious_play: pd.DataFrame  # learned and mixed profiles' distance from an equilibrium (`fictitious_play_table`)
    fp_ordering: pd.DataFrame  # the orderings seed by seed, learned vs mixtures (`fp_ordering_table`)
    fp_markets: pd.DataFrame  # the markets on the test weeks, learned vs mixtures (`fp_markets_table`)
    regret_matching: pd.DataFrame  # learned, mixtures and regret matching's correlated play (`regret_matching_table`)
    bucketed_play: pd.DataFrame  # regret matching by congestion, fitted on training weeks (`bucketed_play_table`)
    congestion_play: pd.DataFrame  # that play on the test weeks: findings and markets (`congestion_play_table`)
    congestion_ordering: pd.DataFrame  # the orderings seed by seed, learned vs that play (`congestion_play_ordering`)
    critics: pd.DataFrame  # whether the trained critics rank the aggregators' own up prices right (`critic_ranking_table`)
    fitted: pd.DataFrame  # every aggregator against its fitted up-price responder (`fitted_responder_table`)
    fitted_play: pd.DataFrame  # learned vs fictitious play over fitted responders (`fitted_play_table`)
    two_stage: pd.DataFrame  # every aggregator against its fitted two-stage responder (`two_stage_table`)
    observable: pd.DataFrame  # aggregator 5's regret against what its own observations were found to allow
    along_training: pd.DataFrame  # every aggregator against constant bids at the policy snapshots (`along_training_table`)
    snapshot_choice: pd.DataFrame  # the snapshot each run handed on, nearest an equilibrium (`snapshot_choice_table`)
    checks: list[dict]  # the paper's findings, reproduced or not (`checks`)


#: The file under tables/ of each `ReportTables` table.
TABLE_FILES = {"table1": "table1_agg5_test_weeks", "table2": "table2_total_profit", "by_week": "table2_by_test_week",
               "paired": "ordering_paired_by_seed", "baselines": "baselines", "markets": "markets",
               "exploitability": "exploitability_agg5", "swap": "location_swap",
               "aggregators": "exploitability_every_aggregator", "convergence": "convergence",
               "dynamics": "constant_bid_dynamics", "fictitious_play": "fictitious_play",
               "fp_ordering": "ordering_fictitious_play", "fp_markets": "markets_fictitious_play",
               "regret_matching": "regret_matching", "bucketed_play": "regret_matching_by_congestion",
               "congestion_play": "play_by_congestion_test_weeks", "congestion_ordering": "ordering_play_by_congestion",
               "critics": "critic_ranking", "fitted": "exploitability_fitted_responders", "fitted_play": "fitted_play",
               "two_stage": "exploitability_two_stage", "observable": "agg5_regret_observable",
               "along_training": "constant_bids_along_training", "snapshot_choice": "snapshot_choice"}


def _tables(study: Path, data: dict) -> ReportTables:
    """Every table of the report, from the study's data (`load`) and its evaluation hours."""
    scen, scores = data["scenarios"], data["scores"]
    t1, t2 = table1(scores, scen), table2(scores, scen)
    hours = eval_test_hours(study, scen)
    tw = table2_by_week(scores, flex_by_week(hours[SA]) if SA in scen else pd.DataFrame(), scen) if len(scores) else pd.DataFrame()
    pt = paired_seed_test(scores) if len(scores) else pd.DataFrame()
    return ReportTables(table1=t1, table2=t2, by_week=tw, paired=pt,
                        baselines=baseline_table(scores, data["baselines"], scen), markets=market_table(hours),
                        exploitability=exploitability_table(data["best_response"], scen), swap=swap_table(scores),
                        aggregators=every_aggregator_table(data["constant_prices"], data["responders"], scen),
                        convergence=convergence_table(data["curves"], scen),
                        dynamics=dynamics_table(data["dynamics"], scen),
                        fictitious_play=fictitious_play_table(data["fictitious_play"], data["fp_validation"], scen),
                        fp_ordering=fp_ordering_table(data["fictitious_play"], scores, data["fp_scores"],
                                                      data["meta"].get("profile", {}).get("br_weeks", ())),
                        fp_markets=fp_markets_table(study, hours),
                        regret_matching=regret_matching_table(
                            data["rm_scores"], data["rm_mixtures"],
                            fictitious_play_table(data["fictitious_play"], data["fp_validation"], scen), scen),
                        bucketed_play=bucketed_play_table(data["rmb_scores"], data["rmb_hours"], data["rmb_edges"], scen,
                                                          data["meta"].get("profile", {}).get("br_weeks", ())),
                        congestion_play=congestion_play_table(study, scores, data["rmb_play_scores"], hours, scen),
                        congestion_ordering=congestion_play_ordering(scores, data["rmb_play_scores"]),
                        critics=critic_ranking_table(data["critic_ranking"], scen),
                        fitted=fitted_responder_table(data["fitted_responders"], scen),
                        fitted_play=fitted_play_table(data, scen),
                        two_stage=two_stage_table(data, scen),
                        observable=observable_regret_table(data, scen),
                        along_training=along_training_table(data["along_training"], scen),
                        snapshot_choice=snapshot_choice_table(data["snapshot_choice"], scen, data["selected"]),
                        checks=checks(t1, t2, scores, pt))


def _write_tables(study: Path, tables: ReportTables) -> None:
    """tables/NAME.csv for every table that has rows (`TABLE_FILES`)."""
    (study / "tables").mkdir(exist_ok=True)
    for attr, name in TABLE_FILES.items():
        df = getattr(tables, attr)
        if len(df):
            df.to_csv(study / "tables" / f"{name}.csv", index=False, float_format="%.6g")


def _figures(study: Path, data: dict, tables: ReportTables) -> dict[str, str]:
    """Draw figures/*.png for what the study has; returns {file name: caption}, in report order."""
    scen, scores, curves = data["scenarios"], data["scores"], data["curves"]
    f = study / "figures"
    f.mkdir(exist_ok=True)
    figs = {}
    if len(curves):
        fig_training_curves(curves, scen, f / "fig05_training_curves.png", data.get("selected"))
        figs["fig05_training_curves.png"] = "Training curves on the evaluation week"
    if len(scores):
        fig_agg5_boxplots(scores, scen, f / "fig06_agg5_test_weeks_boxplot.png")
        figs["fig06_agg5_test_weeks_boxplot.png"] = f"Aggregator {AGG}'s score per test week over seeds"
    week = pick_detail_week(study)
    if week:
        fig_daily_costs(study, week, f / "fig07_agg5_daily_costs.png")
        fig_net_generation(study, week, f / "fig08_agg5_net_generation.png")
        fig_flexibility(study, week, f / "fig09_agg5_flexibility.png")
        fig_imbalances(study, week, f / "fig10_agg5_imbalances.png")
        figs |= {"fig07_agg5_daily_costs.png": f"Daily costs by market, {week}",
                 "fig08_agg5_net_generation.png": f"Net generation, {week}",
                 "fig09_agg5_flexibility.png": f"Flexibility prices and quantities, {week}",
                 "fig10_agg5_imbalances.png": f"Imbalances, {week}"}
    if len(scores):
        fig_per_aggregator(scores, data["baselines"], scen, f / "fig11_per_aggregator_totals.png")
        figs["fig11_per_aggregator_totals.png"] = "Per-aggregator totals, three scenarios"
    if len(tables.swap):
        fig_swap(tables.swap, f / "fig12_location_swap.png")
        figs["fig12_location_swap.png"] = "Location swap gaps"
    if len(tables.exploitability):
        fig_exploitability(tables.exploitability, f / "fig_exploitability_agg5.png")
        figs["fig_exploitability_agg5.png"] = f"Aggregator {AGG}: learned vs best response"
    if len(tables.aggregators):
        fig_every_aggregator(tables.aggregators, f / "fig_exploitability_every_aggregator.png")
        figs["fig_exploitability_every_aggregator.png"] = "Every aggregator: learned vs constant bids and a trained best responder"
    if len(tables.along_training):
        fig_along_training(tables.along_training, scen, f / "fig_constant_bids_along_training.png",
                           ", ".join(data["meta"].get("profile", {}).get("along_training_weeks", ())), tables.snapshot_choice)
        figs["fig_constant_bids_along_training.png"] = "Every aggregator against constant up-price bids along training"
    if len(data["dynamics"]):
        fig_dynamics(data["dynamics"], scen, f / "fig_constant_bid_dynamics.png")
        figs["fig_constant_bid_dynamics.png"] = "Best-response dynamics among constant up-price bids"
    if len(data["fictitious_play"]):
        fig_fictitious_play(data["fictitious_play"], scen, f / "fig_fictitious_play.png")
        figs["fig_fictitious_play.png"] = "Fictitious play over learned and constant bids"
    if len(data["regret_matching"]):
        fig_regret_matching(data["regret_matching"], data["fictitious_play"], tables.regret_matching, scen,
                            f / "fig_regret_matching.png", tables.bucketed_play)
        figs["fig_regret_matching.png"] = "Regret matching over learned and constant bids, beside fictitious play"
    if (data["rmb_play_scores"] is not None and len(data["rmb_play_scores"]) and len(scores)
            and fig_play_orderings(scores, data["rmb_play_scores"], f / "fig_play_orderings.png")):
        figs["fig_play_orderings.png"] = "The paper's orderings seed by seed under the learned policies and the play by congestion"
    if len(data["fitted_play"]) and len(tables.fitted_play):
        fig_fitted_play(data["fitted_play"], tables.fitted_play, scen, f / "fig_fitted_play.png", data.get("two_stage_play"))
        figs["fig_fitted_play.png"] = "Fictitious play over fitted best responders"
    if len(tables.two_stage):
        fig_two_stage(tables.two_stage, scen, f / "fig_two_stage.png")
        figs["fig_two_stage.png"] = "Fitted two-stage responders (withholding and up price): every aggregator's gain"
    if len(data["responder_curves"]):
        fig_responder_curves(data["responder_curves"], scen, f / "fig_responder_curves.png")
        figs["fig_responder_curves.png"] = "Trained best responders' evaluation-week curves"
    return figs


def _section_intro(data: dict) -> list[str]:
    """The title, how the study was run, and what the scores mean."""
    scen, scores, meta = data["scenarios"], data["scores"], data["meta"]
    prof = meta.get("profile", {})
    n_test = scores[_is_test(scores.week)].week.nunique() if len(scores) else 0
    L = [f"# Study report: profile `{prof.get('name', '?')}`\n", unfinished_note(meta)]
    L.append(f"Generated by `localmarl study --profile {prof.get('name', '?')} --seeds {prof.get('seeds', '?')}"
             f"{typed_options(meta)}`. "
             f"Scenarios: {', '.join(SCENARIO_LABEL.get(s, s) for s in scen)}; {prof.get('seeds', '?')} seed(s) each; "
             f"{prof.get('episodes', '?')} episodes per run (paper: 5000); scores over {n_test} test week(s) and the evaluation week.")
    if prof.get("note"):
        L.append(f"\nThe profile as defined: {prof['note']}.")
    if prof.get("hp_overrides"):
        L.append(f"Hyperparameters: defaults of `agents.learning.hyperparams.HyperParams` (paper values + labelled reconstructions) "
                 f"except, for this profile: `{json.dumps(prof['hp_overrides'])}`.")
    else:
        L.append("Hyperparameters: paper defaults (`agents.learning.hyperparams.HyperParams`).")
    if meta.get("jobs_wall_s"):
        resumed = " in this `--resume` session (work kept from earlier sessions not counted)" if meta.get("args", {}).get("resume") else ""
        L.append(f"Training, evaluation and best-response jobs took {meta['jobs_wall_s'] / 60:.1f} min wall-clock{resumed} "
                 f"({meta.get('args', {}).get('jobs', '?')} processes).")
    L.append("\nScores are cumulative rewards in € per week (net-cost reductions): first stage Σr¹ (LEM, against truthful "
             "bidding), second stage Σr² (LFM + balancing), total = sum. Our market differs from the paper's (NL 2018 prices, "
             "DK1 imbalance spreads, our own portfolios), so absolute euros differ; the *shape* is what should reproduce.\n")
    return L


def _section_findings(tables: ReportTables, scores: pd.DataFrame, prof: dict) -> list[str]:
    """Which of the paper's findings reproduce, and the reading of the evidence (`explain`)."""
    ch, ex = tables.checks, tables.exploitability
    L = ["## Does it reproduce the paper's findings?\n"]
    if ch:
        L.append(_md(pd.DataFrame([{"finding": c["claim"], "reproduced": _verdict(c), "ours": c["ours"],
                                    "paper": c["paper"], "per seed": c["seeds"]} for c in ch])))
    lines = explain(ch, ex, tables.table1, tables.paired, tables.markets, scores, tables.by_week)
    if ch and all(c["ok"] for c in ch) and len(ex) and (ex.regret_share > 0.15).any():
        noisy = any(c.get("resolved") is False for c in ch)
        lines.append("- Taken together: the paper's orderings hold here" + (" on the means (the test-week ordering within "
                     "seed noise, see Seeds)" if noisy else "") + ", but they compare strategies that are still far "
                     "from best responses; treat the sizes of the gaps as provisional"
                     + (" (the `paper` profile trains 5000 episodes)." if prof.get("name") != "paper" else "."))
    if lines:
        L.append("\nReading of the evidence (best response below):\n")
        L += lines
    return L


def _section_table1(t1: pd.DataFrame) -> list[str]:
    return [f"\n## Table I — aggregator {AGG} per test week (mean over seeds, €)\n", "Ours:\n",
            _table1_md(t1) if len(t1) else "(no scores)", "\nPaper:\n", _paper_table1_md()]


def _section_table2(t2: pd.DataFrame, pt: pd.DataFrame, tw: pd.DataFrame) -> list[str]:
    """Table II, the ordering seed by seed (`paired_seed_test`), and per test week (`table2_by_week`)."""
    L = ["\n## Table II — average total profit of all aggregators (€ per week)\n"]
    if len(t2):
        show = t2.assign(scenario=t2.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))
        L.append(_md(show[["scenario", "eval_week_eur", "test_weeks_eur", "test_weeks_min_seed_eur", "test_weeks_max_seed_eur",
                           "paper_eval_week_eur", "paper_test_weeks_eur"]], "{:,.0f}"))
    if len(pt):
        L.append("\nThe ordering seed by seed (all aggregators, test weeks): the difference between neighbouring scenarios "
                 "within each seed, its mean and standard error over seeds, and a one-sided paired t-test.\n")
        L.append(_md(pt.assign(p_one_sided=pt.p_one_sided.map(lambda v: f"{v:.3f}")), "{:,.0f}"))
    if len(tw):
        L.append("\nPer test week (mean over seeds): all aggregators' total and LEM (first-stage) score per "
                 "scenario, and the flexibility (up + down, MWh) the DSO buys in S-a.\n")
        L.append(_md(tw, "{:,.0f}"))
    return L


def _section_markets(mk: pd.DataFrame) -> list[str]:
    """What the learned policies do to the markets (`market_table`), one row per measure."""
    L = ["\n## What the learned policies do to the markets (test weeks, mean over seeds)\n"]
    L.append("Arbitrage shows in the quantities (withholding, flexibility bought); the profits also depend on the price "
             "level the secondaries learn, which varies much more between seeds. The `at_bound` shares count actions within "
             f"{AT_BOUND:.0%} of either end of their range (up bids in the hours in which the DSO buys; all withholdings): "
             "a sigmoid actor there gets almost no gradient from its critic. In the hours in which the LFM sheds load "
             "(`load_shed_*`), the value of lost load sets the DLMPs; where a voltage or line limit binds, a DLMP is the "
             "marginal bid times a ratio of sensitivities. Either can pay sellers above the bid cap (`above_cap`).\n")
    if len(mk):
        show = mk.set_index("scenario").T.dropna(how="all")  # one row per measure: 20 columns do not fit across
        show.columns = [SCENARIO_LABEL.get(s, s) for s in show.columns]
        L.append(_md(show.rename_axis("measure").reset_index(), "{:,.2f}"))
    return L


def _section_baselines(bt: pd.DataFrame) -> list[str]:
    L = ["\n## Baselines (test weeks, € per week)\n"]
    L.append("Truthful bidding (no withholding, flexibility at cost) and the rule-based strategy (withhold 50 % in hours "
             "17–20, flexibility at cost + 50 €/MWh), played by every aggregator, beside the learned policies.\n")
    if len(bt):
        L.append(_md(bt))
    return L


def _section_best_response(ex: pd.DataFrame, prof: dict) -> list[str]:
    """How far aggregator 5's learned strategy is from a best response (`exploitability_table`)."""
    from runs.studies.arbitrage_best_response import COARSE, FINE, TINY

    L = [f"\n## How good are the learned strategies? Best response of aggregator {AGG}\n"]
    L.append(f"Everyone else's learned policy is fixed; aggregator {AGG}'s actions are searched hour by hour (hours are "
             "independent) through the same model, and the regret is what it could have earned on top of its learned "
             "actions. 'Prices only' keeps the learned withholding; 'constant up price' is the best single up-price bid "
             "for the whole week (learned withholding and down price): a policy the aggregator could play from its own "
             "observations. The hour-by-hour search knows each hour's outcome, which the actor does not; so its regret is "
             "an upper bound on what better learning could add, and the constant-price gain a lower bound (both found on "
             "a grid). In S-a the search maximises the aggregator's total r¹ + r², so it includes the gain from "
             "arbitraging that a stand-alone aggregator forgoes by design.")
    grid = {"fine": FINE, "coarse": COARSE, "tiny": TINY}.get(prof.get("br_grid", ""), None)
    if grid is not None:
        L.append(f"Search grid: {grid.describe()}.")
    if len(ex):
        show = ex.assign(scenario=ex.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)),
                         regret_share=100 * ex.regret_share, lfm_active_hours_share=100 * ex.lfm_active_hours_share)
        L.append("")
        L.append(_md(show.rename(columns={"regret_share": "regret_%_of_best", "lfm_active_hours_share": "LFM_active_hours_%"})))
    else:
        L.append("\n(not run in this profile)")
    return L


def _section_every_aggregator(ag: pd.DataFrame, cv: pd.DataFrame, prof: dict) -> list[str]:
    """Exploitability of every aggregator (constant bids, trained best responders) and whether training
    has stopped improving."""
    L = ["\n## Convergence: every aggregator against the others' learned policies\n"]
    if cv is not None and len(cv):
        L.append("Whether the training curves had settled (the evaluation week's earnings; `tables/convergence.csv`). "
                 + trend_sentence(cv.rename(columns={"scenario": "method"}), lambda sc: SCENARIO_LABEL.get(sc, sc))
                 + " The training-curve figure marks each scenario's settled episode.\n")
        L.append(_md(trend_display(cv.assign(scenario=cv.scenario.map(lambda sc: SCENARIO_LABEL.get(sc, sc))))))
    if ag is None or ag.empty:
        L.append("\n(no exploitability check of every aggregator in this profile)")
        return L
    budget = prof.get("responder_episodes", 0)
    val = ", ".join(prof.get("responder_validation_weeks", ()))
    L.append(f"\nFor each aggregator, everyone else's learned policy is frozen and (1) constant up-price bids are tried "
             "(its learned withholding and down price, every seed): the best on the best-response weeks themselves (an "
             "upper bound: chosen where it is scored) and the one that earned most on the validation weeks, scored on the "
             "best-response weeks (a strategy it could have chosen beforehand; the comparison that counts), and (2) a "
             f"best responder is trained: its learned actors as the start, fresh critics (fitted alone for the first 10 % "
             f"of the budget), {budget} training weeks with the learner's own hyperparameters (`runs/best_response.py`); "
             f"the actor kept is the one that scored best on the validation weeks ({val}; the learned actor included, so "
             "a gain of exactly 0 means nothing better was found) and it is scored on the best-response weeks. Its gain over the "
             "learned policy is that aggregator's exploitability as the multi-agent RL literature measures it: what a "
             "policy seeing the same observations could still add. € per week; shares (%) are of the aggregator's own "
             "earnings, floored at 1 % of the aggregators' mean and at 1 € (a few € over an aggregator earning about "
             "nothing is no exploit worth a percentage; the same base in every exploitability table below).\n")
    show = ag.assign(scenario=ag.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))
    for col in ("responder_gain_share", "exploitability_share"):
        if col in show:
            show = show.assign(**{col: 100 * show[col]}).rename(columns={col: col.replace("_share", "_%")})
    L.append(_md(show))
    L += ["", *_every_aggregator_reading(ag)]
    return L


def along_training_sentences(tab: pd.DataFrame) -> list[str]:
    """Per scenario and seed: what constant bids add at the untrained policies, at the end, and between (its lowest
    and highest after episode 0), and whether the second half of training brought the profile nearer to an
    equilibrium of constant-bid deviations than the first."""
    out = []
    for (sc, seed), d in tab.groupby(["scenario", "seed"], sort=False):
        d = d.sort_values("episode")
        first, last = d.iloc[0], d.iloc[-1]
        later = d[d.episode > first.episode]
        if later.empty:
            continue
        lo, hi = later.loc[later.summed_gain_share.idxmin()], later.loc[later.summed_gain_share.idxmax()]
        half = first.episode + (last.episode - first.episode) / 2
        early, late = later[later.episode <= half], later[later.episode > half]
        trend = ""
        if len(early) and len(late):
            a, b = 100 * early.summed_gain_share.mean(), 100 * late.summed_gain_share.mean()
            trend = (f"; the second half of training averages {b:.1f} % against the first half's {a:.1f} % "
                     + ("(nearer an equilibrium of these deviations)" if b < a - SAME_POINTS else
                        "(further from an equilibrium of these deviations)" if b > a + SAME_POINTS else "(about the same)"))
        out.append(f"- {SCENARIO_LABEL.get(sc, sc)}, seed {seed}: constant bids add {100 * first.summed_gain_share:.1f} % "
                   f"to the aggregators' earnings at episode {first.episode} ({first.aggregators_gaining} of "
                   f"{first.aggregators} gain > {100 * GAINING_SHARE:.0f} %), {100 * last.summed_gain_share:.1f} % at "
                   f"episode {last.episode} ({last.aggregators_gaining} of {last.aggregators}); after episode "
                   f"{first.episode} between {100 * lo.summed_gain_share:.1f} % (episode {lo.episode}) and "
                   f"{100 * hi.summed_gain_share:.1f} % (episode {hi.episode}){trend}.")
    return out


def _section_along_training(tab: pd.DataFrame, prof: dict, choice: pd.DataFrame | None = None) -> list[str]:
    """Every aggregator against constant bids at the policy snapshots: whether training brings the profile nearer
    to an equilibrium, not only whether its earnings curve is flat."""
    if tab is None or tab.empty:
        return []
    policy = ("the snapshot each run handed on, circled in the figure, is that table's policy" if choice is not None
              and len(choice) else "the last snapshot is that table's policy")
    weeks = ", ".join(prof.get("along_training_weeks", ()))
    L = ["\n### Every aggregator against constant bids along training\n",
         f"A flat training curve says the earnings stopped changing, not that the policies are near an equilibrium. "
         f"The run kept its policy every {prof.get('snapshot_every')} episodes (and at episode 0); at each snapshot, "
         f"with everyone else at that snapshot's learned policy, each aggregator's best constant up-price bid (learned "
         f"withholding and down price; the coarse grid) is found over {weeks} "
         "(`along_training/`, `tables/constant_bids_along_training.csv`): the summed gain is how far the profile is from "
         "an equilibrium of these deviations (a NashConv over constant bids; 0 at one), as a share of all aggregators' "
         "earnings there. Chosen and scored on the same weeks: an upper bound on what these bids add, as the in-sample "
         f"`best_constant` column above ({policy}).\n"]
    show = tab[tab.seed == tab.seed.min()]  # one seed's table here; every seed's in the CSV and the sentences below
    if tab.seed.nunique() > 1:
        L[-1] = L[-1].rstrip("\n") + f" Seed {int(show.seed.iloc[0])} below; every seed's snapshots are in the CSV.\n"
    show = show.assign(scenario=show.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))
    for col in ("summed_gain_share", "largest_gain_share", f"agg{AGG}_gain_share"):
        show = show.assign(**{col: 100 * show[col]}).rename(columns={col: col.replace("_share", "_%")})
    L.append(_md(show))
    L += ["", *along_training_sentences(tab)]
    return L


def _check_week_distances(choice: pd.DataFrame, along: pd.DataFrame | None) -> pd.DataFrame:
    """`choice` (`snapshot_choice_table`) with the check weeks' distances (the along-training table's summed
    constant-bid gain share) at the episode handed on and at the last: NaN where that run or episode was not checked."""
    out = choice.assign(check_handed_on_distance=np.nan, check_last_distance=np.nan)
    if along is None or along.empty:
        return out
    a = along.set_index(["scenario", "seed", "episode"]).summed_gain_share
    for col, episode in (("check_handed_on_distance", "handed_on_episode"), ("check_last_distance", "last_episode")):
        keys = list(zip(choice.scenario, choice.seed, choice[episode]))
        out[col] = [a.get(k, np.nan) for k in keys]
    return out


def snapshot_choice_sentences(choice: pd.DataFrame, along: pd.DataFrame) -> list[str]:
    """How far the snapshots handed on are from an equilibrium of constant bids against the last ones: on the
    validation weeks they were chosen on (every run), and on the check weeks (not chosen on; the runs checked along
    training)."""
    if choice is None or choice.empty:
        return []
    earlier = choice[choice.handed_on_episode < choice.last_episode]
    out = [f"- {len(earlier)} of {len(choice)} runs hand on a snapshot before their last (episodes "
           + (", ".join(str(e) for e in sorted(earlier.handed_on_episode)) or "none") + "); on the validation weeks the "
           f"summed constant-bid gain averages {100 * choice.handed_on_distance.mean():.1f} % of all aggregators' "
           f"earnings at the snapshots handed on against {100 * choice.last_distance.mean():.1f} % at the last."]
    checked = _check_week_distances(choice, along).dropna(subset=["check_handed_on_distance", "check_last_distance"])
    for sc, d in checked.groupby("scenario", sort=False):
        out.append(f"- Out of sample (the check weeks, the along-training table), {SCENARIO_LABEL.get(sc, sc)}: "
                   f"{100 * d.check_handed_on_distance.mean():.1f} % at the snapshots handed on against "
                   f"{100 * d.check_last_distance.mean():.1f} % at the last (mean{' of ' + str(len(d)) + ' runs' if len(d) > 1 else ''}); "
                   "lower in "
                   f"{int((d.check_handed_on_distance < d.check_last_distance).sum())} of {len(d)}.")
    return out


def _section_snapshot_choice(choice: pd.DataFrame, along: pd.DataFrame, prof: dict) -> list[str]:
    """Which snapshot each run handed on (`hand_on_nearest`): the one nearest an equilibrium of constant bids on the
    validation weeks, not the last."""
    if choice is None or choice.empty:
        return []
    weeks = ", ".join(prof.get("responder_validation_weeks", ()))
    L = ["\n### Which snapshot each run hands on\n",
         "Training does not settle: all aggregators' earnings and their distance from an equilibrium of constant bids "
         "swing between snapshots. So each run hands on, instead of its last policy, the snapshot (every "
         f"{prof.get('snapshot_every')} episodes, after episode 0) nearest an equilibrium of constant up-price bids on "
         f"the validation weeks ({weeks}): the smallest summed gain of every aggregator's best constant up price, as a "
         "share of all aggregators' earnings there (`choose_snapshot`; `snapshot_choice/`, `tables/snapshot_choice.csv`). "
         "Everything else in this report (the evaluation, Tables I and II, the best-response checks, the responders, "
         "the plays) is of the policy handed on; the training curves end at the last one (kept as `policy_last.pt`; "
         "circles mark the snapshots handed on). No check week is among the weeks chosen on. In the table, "
         "`handed_on_distance_%` and `last_distance_%` are that share on the validation weeks, `check_…` on the check "
         "weeks (the runs checked along training), which the choice never saw.\n"]
    show = _check_week_distances(choice, along).drop(columns="weeks", errors="ignore")
    show = show.assign(scenario=show.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))
    if show.check_handed_on_distance.isna().all():
        show = show.drop(columns=["check_handed_on_distance", "check_last_distance"])
    for col in ("handed_on_distance", "last_distance", "check_handed_on_distance", "check_last_distance"):
        if col in show:
            show = show.assign(**{col: 100 * show[col]}).rename(columns={col: col + "_%"})
    L.append(_md(show))
    L += ["", *snapshot_choice_sentences(choice, along)]
    return L


def _section_fitted(ft: pd.DataFrame, prof: dict) -> list[str]:
    """Exploitability by a best responder fitted on the market's exact values (hours are independent games)."""
    if ft is None or ft.empty:
        return []
    fit = prof.get("fit_weeks", ())
    L = ["\n### A best responder fitted on the market's values\n",
         "Hours are independent games, so an aggregator's best response to everyone else's frozen policy picks, hour by "
         "hour, the up price of highest expected value given what it observes. For every aggregator, the market is "
         f"re-cleared at each constant up price of the coarse grid in every hour of {len(fit)} training weeks; a network "
         "maps the aggregator's own LFM observation to those values, and the responder bids the price it predicts best "
         "(its withholding and down price as learned; `fitted_up_price_responder`). It is kept where it beats the "
         "learned policy on the validation weeks and scored on the check weeks. Unlike the trained responder it does "
         "not follow a policy gradient from the learned actor, so its gain is a tighter lower bound on what a policy "
         "seeing these observations could add. The last column is the best up price chosen hour by hour in "
         "hindsight (an upper bound). € per week.\n",
         _shown(ft, "exploitability_share"), ""]
    for sc, d in ft.groupby("scenario", sort=False):
        over = d[d.exploitability_share > 0.10]
        line = (f"- {SCENARIO_LABEL.get(sc, sc)}: {len(over)} of {len(d)} aggregators' fitted responders gain more than "
                f"10 %{' (' + ', '.join(f'{int(a)}: +{100 * g:.0f} %' for a, g in zip(over.aggregator, over.exploitability_share)) + ')' if len(over) else ''}")
        a = d[d.aggregator == AGG]
        if len(a):
            r = a.iloc[0]
            gap = r.best_up_price_per_hour_eur_per_week - r.learned_eur_per_week
            if gap > 0:
                line += (f"; aggregator {AGG}'s responder recovers €{r.exploitability_eur_per_week:,.0f} of the "
                         f"€{gap:,.0f}/week its learned up prices leave to the best price per hour "
                         f"({100 * r.exploitability_eur_per_week / gap:.0f} %)")
        L.append(line + ".")
    return L


def _weeks_in_words(spec: str | None) -> str:
    from runs.studies.arbitrage_fitted_play import describe_fit_weeks

    if not spec:
        return "the profile's weeks"
    return describe_fit_weeks(spec) + (f" (`{spec}`)" if spec.startswith("busy") else "")


def _section_fitted_play(fp: pd.DataFrame, prof: dict) -> list[str]:
    """Fictitious play over fitted best responders: the learned policy against the policy the play keeps."""
    if fp is None or fp.empty:
        return []
    from runs.studies.arbitrage import FITTED_PLAY

    L = ["\n### Fictitious play over fitted best responders\n",
         "Gradient play leaves the aggregators' up prices cycling, where only a mixed equilibrium exists. This step looks "
         f"for one from the learned policies ({prof.get('fitted_play_iterations', '?')} iterations on the "
         f"`{prof.get('fitted_play_weeks', '?')}` weeks: the training weeks in which the DSO buys flexibility in the most "
         "hours under truthful bids). Every iteration, for all aggregators at once, the market is re-cleared at each "
         "constant up price in every hour where the DSO buys, against the others' current play; a network per aggregator "
         "maps its own LFM observation to those values, and the price it rates best is its next responder (a constant "
         "price instead where one beats the fit). Each aggregator plays, hour by hour, a draw from its learned policy and "
         f"its responders so far (later ones weighted more; values averaged with weight {FITTED_PLAY['new_value_weight']}). "
         "The policy kept is the iteration's whose largest in-sample gain of a constant up price was smallest "
         "(`runs/studies/arbitrage_fitted_play.py`). It is then checked on the check weeks as the learned policy is: "
         "constant up prices chosen on the validation weeks (`clearly_short`: short by more than the check weeks' "
         "day-to-day noise explains, a one-sided 95 % day-block bootstrap), aggregator "
         f"{AGG}'s hour-by-hour search, and a freshly fitted responder for every aggregator. It settles the up price "
         "only: the two-stage responders of the next section also move the withholding (no trained responder is run "
         "against it here; docs/arbitrage-study.md measures them). "
         + (f"Where every aggregator arbitrages, fictitious play over those two-stage responders also runs "
            f"({prof.get('two_stage_play_iterations', '?')} iterations on "
            f"{_weeks_in_words(prof.get('two_stage_play_weeks', prof.get('fitted_play_weeks')))}; `two_stage_play`): each "
            "iteration values every (withholding, up price) option of the coarse grid against the others' current play, "
            "and fits each aggregator a new round for both decisions by backward induction, on the values of the last "
            f"{prof.get('two_stage_play_window', 4)} iterations; each aggregator plays, in each stage of each hour, a draw "
            "from its learned policy and its rounds so far ("
            + ("equally weighted, as textbook fictitious play does" if prof.get("two_stage_play_rounds") == "uniform"
               else "later ones weighted more") + "); the iteration kept is the one "
            "whose largest in-sample gain of a fixed option was smallest (shares of a base floored at 1 % of the mean "
            "aggregator's earnings). It is checked as the learned policy is, with two-stage responders in place of the "
            "up-price ones. " if "two-stage play" in set(fp.policy) else "")
         + "The learned policy remains the one every other table plays. € per week; shares in %.\n"]
    show = fp.assign(scenario=fp.scenario.map(lambda x: SCENARIO_LABEL.get(x, x)))
    for col in [c for c in show.columns if c.endswith("_share")]:
        show = show.assign(**{col: 100 * show[col]}).rename(columns={col: col.replace("_share", "_%")})
    L += [_md(show), ""]
    for (sc, seed), d in fp.groupby(["scenario", "seed"], sort=False):
        r = d.set_index("policy")
        if not {"learned", "fitted play"} <= set(r.index):
            continue
        a, b = r.loc["learned"], r.loc["fitted play"]
        line = (f"- {SCENARIO_LABEL.get(sc, sc)} (seed {seed}): in sample, the largest constant gain "
                f"{100 * a.in_sample_largest_constant_gain_share:.1f} → {100 * b.in_sample_largest_constant_gain_share:.1f} % "
                f"(iteration {int(b.iteration)})")
        if "fitted_responders_over_10pct" in r and pd.notna(b.get("fitted_responders_over_10pct")):
            line += (f"; fitted responders gaining more than 10 %: {int(a.fitted_responders_over_10pct)} → "
                     f"{int(b.fitted_responders_over_10pct)} (largest {100 * a.largest_fitted_responder_gain_share:+.1f} → "
                     f"{100 * b.largest_fitted_responder_gain_share:+.1f} %)")
        if "clearly_short" in r and pd.notna(b.get("clearly_short")):
            line += (f"; aggregators at least as good as their validated constant {int(a.at_least_validated_constant)} → "
                     f"{int(b.at_least_validated_constant)} of {int(b.aggregators)}, clearly short {int(a.clearly_short)} → "
                     f"{int(b.clearly_short)}")
        if "agg5_regret_share" in r and pd.notna(b.get("agg5_regret_share")):
            line += (f"; aggregator {AGG}'s hour-by-hour regret {100 * a.agg5_regret_share:.0f} → {100 * b.agg5_regret_share:.0f} %")
            rec = b.get("agg5_up_price_regret_recovered_share")
            if pd.notna(rec):
                line += (f", and a responder fitted against the policy kept recovers {max(100 * rec, 0):.0f} % of its up-price "
                         f"part" + (f" (it was kept on the validation weeks and loses {-100 * rec:.0f} % of it on the check "
                                    "weeks)" if rec < 0 else ""))
        L.append(line + ".")
    for (sc, seed), d in fp[fp.policy.isin(["learned", "two-stage play"])].groupby(["scenario", "seed"], sort=False):
        r = d.set_index("policy")
        if "two-stage play" not in r.index:
            continue
        a, b = r.loc["learned"], r.loc["two-stage play"]
        line = (f"- {SCENARIO_LABEL.get(sc, sc)} (seed {seed}), two-stage play: in sample, the largest gain of a fixed "
                f"option {100 * a.in_sample_largest_fixed_gain_share:.1f} → {100 * b.in_sample_largest_fixed_gain_share:.1f} % "
                f"(iteration {int(b.iteration)})")
        if pd.notna(b.get("two_stage_over_10pct")) and pd.notna(a.get("two_stage_over_10pct")):
            line += (f"; two-stage responders gaining more than 10 %: {int(a.two_stage_over_10pct)} → "
                     f"{int(b.two_stage_over_10pct)} (largest {100 * a.largest_two_stage_gain_share:+.1f} → "
                     f"{100 * b.largest_two_stage_gain_share:+.1f} %)")
        if pd.notna(b.get("clearly_short")):
            line += (f"; clearly short of their validated constant {int(a.clearly_short)} → {int(b.clearly_short)} of "
                     f"{int(b.aggregators)}, shortfall {a.shortfall_eur_per_week:,.0f} → {b.shortfall_eur_per_week:,.0f} €/week; "
                     f"all aggregators {a.all_aggregators_eur_per_week:,.0f} → {b.all_aggregators_eur_per_week:,.0f} €/week")
        if pd.notna(b.get("agg5_regret_share")):
            line += f"; aggregator {AGG}'s hour-by-hour regret {100 * a.agg5_regret_share:.0f} → {100 * b.agg5_regret_share:.0f} %"
        L.append(line + ".")
    if "agg5_up_price_regret_recovered_share" in fp and (fp[fp.policy == "fitted play"].agg5_up_price_regret_recovered_share < 0.1).any():
        L.append(f"\nWhere a responder seeing aggregator {AGG}'s observations recovers little of its hour-by-hour regret "
                 "against the policy kept, what remains is what knowing each hour's outcome adds (the others' draws "
                 "included), not a strategy the aggregator could play.")
    return L


def _section_two_stage(tt: pd.DataFrame, prof: dict) -> list[str]:
    """Exploitability by a responder fitted on the market's values for both decisions: withholding and up price."""
    if tt is None or tt.empty:
        return []
    L = ["\n### A best responder for both decisions: withholding and up price\n",
         "The fitted responders above and the fitted play choose the up price only, with the learned withholding; a "
         "trained responder also moves the withholding. This one fits both, from the market's exact values on the "
         f"`{prof.get('two_stage_weeks', '?')}` weeks: in every hour, the LEM is cleared again at each withholding of the "
         "coarse grid (and the policy's own), and in each of those outcomes the LFM and balancing at each constant up "
         "price; a network per aggregator maps its own LFM observation to the up prices' values, and another its LEM "
         "observation to the value of each withholding followed by the up price the first network picks (backward "
         "induction; `runs/studies/arbitrage_two_stage.py`). A stand-alone aggregator's withholding answers for its LEM "
         "reward alone, as its primary learns. It is kept where it beats the policy on the validation weeks and scored on "
         "the check weeks; the policy it answers is the learned one, the one fictitious play over fitted responders "
         "kept, or (where every aggregator arbitrages) the one fictitious play over these two-stage responders kept. "
         "€ per week; `*_a1_mean`: mean withholding.\n"]
    show = tt.assign(scenario=tt.scenario.map(lambda x: SCENARIO_LABEL.get(x, x)), gain_share=100 * tt.gain_share)
    L += [_md(show.rename(columns={"gain_share": "gain_%"})), ""]
    for (sc, seed, policy), d in tt.groupby(["scenario", "seed", "policy"], sort=False):
        over = d[d.gain_share > 0.10]
        line = (f"- {SCENARIO_LABEL.get(sc, sc)} (seed {seed}), against the {policy} policy: {len(over)} of {len(d)} "
                "aggregators' responders gain more than 10 %")
        if len(over):
            line += " (" + ", ".join(f"{int(r.aggregator)}: {100 * r.gain_share:+.0f} % = {r.gain_eur_per_week:+,.0f} €/week on "
                                     f"{r.policy_eur_per_week:,.0f}, withholding {r.policy_a1_mean:.2f} → {r.responder_a1_mean:.2f}"
                                     for r in over.itertuples()) + ")"
        L.append(line + ".")
    return L


def _pct(share: float) -> str:
    """A share as a whole percentage ("—" where it is undefined)."""
    return f"{100 * share:.0f} %" if np.isfinite(share) else "—"


def observable_sentences(ob: pd.DataFrame) -> list[str]:
    """Per scenario of `observable_regret_table`: how much of aggregator 5's hour-by-hour regret the best policy
    seeing its own observations reached, and what is left."""
    out = []
    for r in ob.itertuples():
        found = {c: getattr(r, c) for c in PLAYABLE if np.isfinite(getattr(r, c))}
        top = max(found, key=found.get) if found else None
        who = (f"the best of the playable policies ({PLAYABLE[top]}: €{found[top]:+,.0f}/week) recovers "
               f"{100 * r.recovered_share:.0f} % of it" if top and r.best_playable_gain_eur_per_week > 0
               else "no playable policy checked recovers any of it")
        line = (f"- {SCENARIO_LABEL.get(r.scenario, r.scenario)} (seed {r.seed}): the hour-by-hour search earns "
                f"€{r.best_eur_per_week:,.0f}/week, €{r.regret_eur_per_week:,.0f} more than the learned policy (a regret of "
                f"{100 * r.regret_share:.0f} % of the search's best); {who}, so a regret of "
                f"{100 * r.regret_left_share:.0f} % remains that no checked policy seeing these observations reached")
        if r.regret_eur_per_week > 0 and r.best_playable_gain_eur_per_week < 0.5 * r.regret_eur_per_week:
            line += (": no policy seeing these observations was found to halve the regret (what these four find is a "
                     "lower bound on what such a policy could)")
        out.append(line + ".")
    return out


def _section_observable(ob: pd.DataFrame) -> list[str]:
    """Aggregator 5's hour-by-hour regret against what a policy seeing its own observations was found to reach."""
    if ob is None or ob.empty:
        return []
    show = ob.assign(scenario=ob.scenario.map(lambda x: SCENARIO_LABEL.get(x, x)))
    for col in ("regret_share", "recovered_share", "regret_left_share"):
        show = show.assign(**{col: 100 * show[col]}).rename(columns={col: col.replace("_share", "_%")})
    return ["\n### Aggregator 5's regret: how much of it its own observations allow\n",
            f"The hour-by-hour search knows each hour's outcome, which aggregator {AGG}'s actors do not. Every policy "
            "checked above that sees only its observations and is chosen without the check weeks (the trained best "
            "responder, the constant up price chosen on the validation weeks, the fitted up-price and two-stage "
            "responders where they beat the learned policy on the validation weeks) is a lower bound on what such a "
            "policy could gain; the best of them says how much of the regret is learning left undone and how much, as far "
            "as they find, needs the outcome itself (`tables/agg5_regret_observable.csv`; the seed whose responders "
            "run, check weeks, € per week; in S-a the search also withholds, which a stand-alone aggregator forgoes by "
            "design, and the two-stage responder's withholding there answers for its LEM reward alone).\n",
            _md(show), "", *observable_sentences(ob)]


def _section_critics(cr: pd.DataFrame) -> list[str]:
    """Where learning falls short: do the trained critics rank each aggregator's own up prices right?"""
    if cr is None or cr.empty:
        return []
    L = ["\n### Where learning falls short: the critics\n",
         "In every hour of the check weeks in which the DSO buys flexibility, each aggregator's own trained critic "
         "(which sees every aggregator's observation and action) values each constant up price of the coarse grid, "
         "everything else as played; the market, re-cleared, gives each price's true value "
         "(`runs/studies/arbitrage_best_response.py::critic_ranking`). Hours where the price changes the aggregator's "
         "earnings by more than €1 count. € per week on those weeks, mean over seeds.\n",
         _shown(cr, "critic_picks_best_share"), ""]
    for sc, d in cr.groupby("scenario", sort=False):
        share = float((d.critic_picks_best_share * d.hours_price_matters).sum() / d.hours_price_matters.sum())
        L.append(f"- {SCENARIO_LABEL.get(sc, sc)}: the critics' best price is a best one in {100 * share:.0f} % of the "
                 f"hours where the price matters; their picks would earn €{d.critic_pick_eur_per_week.sum():,.0f}/week "
                 f"(all aggregators), the learned policies earn €{d.learned_eur_per_week.sum():,.0f} and the best price "
                 f"per hour €{d.best_price_per_hour_eur_per_week.sum():,.0f}.")
    L.append("\nWhere the critics' picks earn about what the learned policies earn, the actors have learned what their "
             "critics say, and the distance to the best price per hour is the critics' ranking error. The critics see every "
             "aggregator's schedule, capacities and bids, i.e. the LFM's inputs except reactive power, so that error is "
             "mostly one of fitting, not of missing information.")
    return L


def _section_dynamics(dt: pd.DataFrame, prof: dict) -> list[str]:
    """Best-response dynamics among constant bids: is there a pure equilibrium the learners could reach?"""
    if dt is None or dt.empty:
        return []
    L = ["\n## Is there an equilibrium to converge to? Best-response dynamics among constant bids\n",
         "Starting from the learned policies (seed 0), each aggregator in turn switches to its best constant up-price "
         "bid against everyone else's current strategy (learned withholding and down price, the best-response weeks, "
         "the coarse price grid), if that earns it more than 0.1 %. A round in which nobody switches is a pure "
         "equilibrium of this constant-bid game; a profile of bids seen before is a cycle. Prices after each round "
         f"(at most {prof.get('dynamics_rounds', '?')} rounds):\n",
         _md(dt.assign(scenario=dt.scenario.map(lambda s: SCENARIO_LABEL.get(s, s))))]
    L += ["", *_dynamics_reading(dt)]
    return L


def _dynamics_reading(dt: pd.DataFrame) -> list[str]:
    out = []
    cycles = 0
    for (sc, seed), d in dt.groupby(["scenario", "seed"], sort=False):
        outcome = d.outcome.iloc[0]
        cycles += outcome.startswith("cycle")
        out.append(f"- {SCENARIO_LABEL.get(sc, sc)} (seed {seed}): {outcome}; up prices range from "
                   f"€{d.up_min_eur_mwh.min():,.0f} to €{d.up_max_eur_mwh.max():,.0f}/MWh over the rounds, and "
                   f"{int(d.switched.min())}–{int(d.switched.max())} of {int(d.of.iloc[0])} aggregators switch in every round.")
    if cycles:
        out.append("\nWhere the dynamics cycle, bids are undercut round after round until one aggregator does better by "
                   "bidding high and selling only what the others cannot cover, and the others follow it up: an Edgeworth "
                   "cycle, the textbook outcome of price competition between suppliers with limited capacity and a buyer "
                   "(here the DSO) that must buy, a game whose equilibria are in mixed strategies (randomised bids). The "
                   "dynamics found no profile of constant bids from which no aggregator gains by another constant bid. "
                   "Where none exists, every profile of constant bids leaves some aggregator a better constant bid, and "
                   "policies that set their bids from the hour's observations face the same undercut-or-jump choice in "
                   "every hour the DSO buys; then 'the learned policy earns at least the best constant bid, for every "
                   "aggregator' need not hold for all of them at once, and which aggregators fall short, by how much, "
                   "depends on where in the cycle training stopped. The table above measures that distance; it is not a "
                   "sign that more of the same training would close it.")
    return out


def _section_fictitious_play(ft: pd.DataFrame, fo: pd.DataFrame, fm: pd.DataFrame) -> list[str]:
    """Fictitious play: how close a randomised profile of learned and constant bids gets to an equilibrium."""
    if ft is None or ft.empty:
        return []
    show = _fp_summary(ft)
    L = ["\n## A mixed equilibrium to aim at? Fictitious play over learned and constant bids\n",
         "Where best responses cycle, price competition has its equilibria in mixed strategies (randomised bids). "
         "Fictitious play looks for one in the game whose options are each aggregator's learned bids and its constant "
         "up prices (the coarse grid, learned withholding and down price): every iteration, each aggregator's best "
         "option against the others' current mixtures (the frequencies of their past best options, drawn hour by "
         "hour from the aggregator's own observation, so a mixture is a policy it could play) gets one more count. "
         "A profile from which no aggregator gains more than 1 % with another option is close to an equilibrium of "
         "this game. Fictitious play need not converge with more than two players, and here the largest gain falls "
         "and then wanders; the mixtures kept are those of the iteration whose largest gain was smallest. `learned` "
         "is the learned profile, `mixtures` the one kept; `check` are the best-response weeks the play ran on, "
         "`validation` weeks the mixtures were neither fitted to nor chosen on (per seed: "
         "`tables/fictitious_play.csv`):\n", _md(show)]
    L += ["", *_fictitious_play_reading(ft)]
    if len(fo):
        L += ["\nThe paper's orderings seed by seed (as in Seeds above), under the learned profile and under the mixtures: "
              "on fictitious play's weeks (`check`) and on the test weeks it did not use, where the study played the "
              "mixtures:\n", _md(fo.assign(p_one_sided=fo.p_one_sided.map(lambda v: f"{v:.3f}")), "{:,.0f}"), "",
              *_fp_ordering_reading(fo)]
    if len(fm):
        show = fm.assign(scenario=fm.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))
        L += ["\nThe markets on the test weeks (mean over seeds) under the learned policies and under the mixtures, "
              "played on every evaluation week (`fictitious_play/*-hours.csv`): what a regulator would see if the "
              "aggregators bid nearer an equilibrium:\n", _md(show, "{:,.2f}")]
    return L


def _section_regret_matching(rt: pd.DataFrame) -> list[str]:
    """Regret matching: a coarse correlated equilibrium over learned and constant bids, beside fictitious play."""
    if rt is None or rt.empty:
        return []
    n = int(rt.iterations.dropna().max()) if "iterations" in rt and rt.iterations.notna().any() else 0
    show = rt.assign(scenario=rt.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)),
                     largest_gain_share=100 * rt.largest_gain_share).rename(columns={"largest_gain_share": "largest_gain_%"})
    if "short_of_validated_over_1pct" in show:
        show["short_of_validated_over_1pct"] = show.short_of_validated_over_1pct.map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    if "learned_bids_probability" in show:
        show["learned_bids_probability"] = show.learned_bids_probability.map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
    L = ["\n## An equilibrium that no-regret play finds: regret matching over learned and constant bids\n",
         "Fictitious play's best options need not settle with more than two players. Regret matching does not need "
         "them to: every iteration each aggregator puts weight on each option (its learned bids, each constant up "
         "price) in proportion to how much more the option would have earned than its own play so far, against "
         "the others' play of the same iterations (regret matching+, `regret_matching_play`; the options and weeks "
         "are fictitious play's). The play that draws iteration t with probability proportional to t + 1, the same "
         "for every aggregator, and then each aggregator's option from its mixture of that iteration, is a coarse "
         "correlated equilibrium to within the aggregators' regret against it, which regret matching+ bounds by "
         "2 max Q_T / (T + 1) (Q the regrets floored at zero): it falls at least as 1/sqrt(iterations), however "
         "many aggregators play. In it, no aggregator gains more than that regret by any constant bid played "
         "throughout: the check \"earns at least as much as its best constant bid\", passed by a randomised play, "
         "in expectation. "
         "It is also what aggregators who each adjust their bids by their regrets play on average over many periods. "
         f"{n} iterations on the check weeks, scored there and on the validation weeks, which the play was not fitted "
         "to (`regret_matching/`, `tables/regret_matching.csv`; `short_of_validated_over_1pct`: aggregators more "
         "than 1 % short, on the check weeks, of the option that was best on the validation weeks):\n",
         _md(show.drop(columns=["iterations"], errors="ignore")), ""]
    for sc, d in rt.groupby("scenario", sort=False):
        for seed in d.seed.unique():
            at = _lookup(d[d.seed == seed], ["weeks", "profile"])
            parts = [f"{p} {int(at('check', p, 'aggregators_over_1pct'))} ({100 * at('check', p, 'largest_gain_share'):.1f} %)"
                     for p in ("learned", "fictitious play", "regret matching") if np.isfinite(at("check", p, "aggregators_over_1pct"))]
            val = [f"{p} {int(at('validation', p, 'aggregators_over_1pct'))} ({100 * at('validation', p, 'largest_gain_share'):.1f} %)"
                   for p in ("learned", "fictitious play", "regret matching")
                   if np.isfinite(at("validation", p, "aggregators_over_1pct"))]
            line = (f"- {SCENARIO_LABEL.get(sc, sc)}, seed {seed}: aggregators more than 1 % short of their best option "
                    f"(largest gain) on the check weeks: " + ", ".join(parts))
            if val:
                line += "; on the validation weeks: " + ", ".join(val)
            p_learned = at("check", "regret matching", "learned_bids_probability")
            if np.isfinite(p_learned):
                line += f". The correlated play keeps the learned bids with probability {p_learned:.2f} on average."
            L.append(line)
    return L


def _fp_summary(ft: pd.DataFrame) -> pd.DataFrame:
    """`fictitious_play_table` over seeds: per scenario, profile and weeks, the aggregators more than 1 % short
    (mean and range over seeds), the median largest gain and the means of the summed gain and the total."""
    g = ft.groupby(["scenario", "weeks", "profile"], sort=False)
    out = pd.DataFrame({
        "seeds": g.seed.nunique(),
        "aggregators_over_1pct_mean": g.aggregators_over_1pct.mean(),
        "aggregators_over_1pct_range": g.aggregators_over_1pct.agg(lambda x: f"{x.min()}–{x.max()}"),
        "largest_gain_pct_median": 100 * g.largest_gain_share.median(),
        "summed_gain_eur_per_week_mean": g.summed_gain_eur_per_week.mean(),
        "all_aggregators_eur_per_week_mean": g.all_aggregators_eur_per_week.mean()}).reset_index()
    return out.assign(scenario=out.scenario.map(lambda s: SCENARIO_LABEL.get(s, s)))


def _fp_ordering_reading(fo: pd.DataFrame, play: str = "mixtures") -> list[str]:
    """Bullets: does each step keep its sign and significance when the learned profile is replaced by the `play`
    (a profile of `ordering_steps_table`'s rows: fictitious play's "mixtures", or "by congestion")?"""
    out = []
    for (who, weeks, step), d in fo.groupby(["who", "weeks", "step"], sort=False):
        r = d.set_index("profile")
        if not {"learned", play} <= set(r.index) or r.seeds.min() < 2:
            continue
        a, b = r.loc["learned"], r.loc[play]
        verdict = lambda x: f"p = {x.p_one_sided:.3f}, " + ("resolved" if x.p_one_sided < SIGNIFICANCE else "within seed noise")  # noqa: E731
        out.append(f"- {who}, {step}, {weeks}: learned {a.mean_difference_eur_per_week:+,.0f} ± {a.standard_error_eur_per_week:,.0f} "
                   f"€/week ({a.seeds_with_positive_difference} of {a.seeds} seeds positive, {verdict(a)}); {play} "
                   f"{b.mean_difference_eur_per_week:+,.0f} ± {b.standard_error_eur_per_week:,.0f} "
                   f"({b.seeds_with_positive_difference} of {b.seeds}, {verdict(b)}).")
    return out


def _fictitious_play_reading(ft: pd.DataFrame) -> list[str]:
    out = []
    for sc, d in ft.groupby("scenario", sort=False):
        g = d.groupby(["weeks", "profile"])
        lo, hi, big = g.aggregators_over_1pct.min(), g.aggregators_over_1pct.max(), 100 * g.largest_gain_share.median()
        n = lambda k: f"{lo[k]}" if lo[k] == hi[k] else f"{lo[k]}–{hi[k]}"  # noqa: E731, B023
        seeds = d.seed.nunique()
        kept = (f"the mixtures of iteration {int(d.mixtures_of_iteration.iloc[0])}" if seeds == 1 else f"{seeds} seeds")
        median = "median " if seeds > 1 else ""
        line = (f"- {SCENARIO_LABEL.get(sc, sc)} ({kept}, {int(d.iterations.iloc[0])} iterations): aggregators more than "
                f"1 % short of their best option, learned {n(('check', 'learned'))} → mixtures {n(('check', 'mixtures'))} "
                f"of {int(d.of.iloc[0])}{' per seed' if seeds > 1 else ''}; {median}largest gain "
                f"{big[('check', 'learned')]:.1f} % → {big[('check', 'mixtures')]:.1f} %")
        if ("validation", "mixtures") in big.index:
            line += (f"; on the validation weeks {n(('validation', 'learned'))} → {n(('validation', 'mixtures'))} "
                     f"aggregators, {median}largest {big[('validation', 'learned')]:.1f} % → {big[('validation', 'mixtures')]:.1f} %")
        out.append(line + ".")
    check = ft[ft.weeks == "check"]
    if check.scenario.nunique() > 1:
        def order(profile):
            v = check[check.profile == profile].groupby("scenario", sort=False).all_aggregators_eur_per_week.mean()
            return v, " < ".join(SCENARIO_LABEL.get(s, s) for s in v.sort_values().index)

        (lv, lo), (mv, mo) = order("learned"), order("mixtures")
        fmt = lambda v: ", ".join(f"{SCENARIO_LABEL.get(sc, sc)} €{x:,.0f}" for sc, x in v.items())  # noqa: E731
        seeds = check.seed.nunique()
        out.append(f"- All aggregators' € per week on the check weeks{f' (mean of {seeds} seeds)' if seeds > 1 else ''}: "
                   f"learned {fmt(lv)} ({lo}); under the mixtures {fmt(mv)} ({mo}). "
                   + ("The scenarios rank the same under both profiles." if lo == mo else
                      "The scenarios rank differently under the two profiles: where the learned profile is not an "
                      "equilibrium, which scenario pays most depends on where training stopped"
                      + (" (one seed, three weeks)." if seeds < 2 else "; the paired steps below say what the seeds resolve.")))
    return out


def _every_aggregator_reading(ag: pd.DataFrame) -> list[str]:
    """Bullets: how many aggregators learned at least the best constant bid; the largest responder gains."""
    out = []
    for sc, d in ag.groupby("scenario", sort=False):
        n_ok = int((d.seeds_at_least_constant == d.seeds).sum())
        line = (f"- {SCENARIO_LABEL.get(sc, sc)}: {n_ok} of {len(d)} aggregators earn at least the validated constant "
                f"bid in every seed ({int(d.seeds_at_least_constant.sum())} of {int(d.seeds.sum())} aggregator-seeds; "
                f"short by more than the check weeks' sampling noise in {int(d.seeds_clearly_short.sum())})")
        if "responder_gain_share" in d and d.responder_gain_share.notna().any():
            r = d.dropna(subset=["responder_gain_share"])
            worst = r.loc[r.responder_gain_share.idxmax()]
            within = int((r.responder_gain_share <= 0.10).sum())
            line += (f"; a trained best responder gains at most 10 % for {within} of {len(r)} (largest: aggregator "
                     f"{int(worst.aggregator)}, {100 * worst.responder_gain_share:+.0f} %, "
                     f"€{worst.responder_gain_eur_per_week:,.0f}/week)")
            if "exploitability_share" in r:
                ex_worst = r.loc[r.exploitability_share.idxmax()]
                line += (f"; taking the better of the responder and the validated constant bid, {int((r.exploitability_share <= 0.10).sum())} "
                         f"of {len(r)} are within 10 % (largest: aggregator {int(ex_worst.aggregator)}, "
                         f"{100 * ex_worst.exploitability_share:+.0f} %)")
        out.append(line + ".")
    return out


def _section_swap(sw: pd.DataFrame) -> list[str]:
    L = ["\n## Location swap (paper Fig. 12)\n"]
    if len(sw):
        L.append(_md(sw))
    else:
        L.append("Not run in this profile (the `paper` profile trains S-a and all-arb with aggregators 5↔9 and 8↔10 swapped).")
    return L


def _section_figures(figs: dict[str, str]) -> list[str]:
    """Each figure under its caption (`_figures`), and where the data behind the report lies."""
    L = ["\n## Figures\n"]
    for name, cap in figs.items():
        L.append(f"### {cap}\n\n![{cap}](figures/{name})\n")
    L.append("Tidy CSVs behind the tables: `tables/`; per-run scores and hours: `eval/`, `baselines/`; "
             "training curves: `runs/*/seed*/train_curve.csv`; best-response hours: `best_response/`; every aggregator's "
             "constant-bid check: `constant_prices/`; trained best responders: `responders/`; best-response dynamics among "
             "constant bids: `constant_bid_dynamics/`; fictitious play: `fictitious_play/`; fitted responders: "
             "`fitted_responders/`; fictitious play over fitted responders, its policy and that policy's checks: "
             "`fitted_play/`.")
    return L


def _possessive(who: str) -> str:
    """"aggregator 5" -> "aggregator 5's", "all aggregators" -> "all aggregators'"."""
    return who + ("'" if who.endswith("s") else "'s")


def reading(tables: ReportTables, prof: dict) -> str:
    """One paragraph for the index of studies (`runs.index`): which findings reproduce, with the numbers."""
    ch, ex, t2 = tables.checks, tables.exploitability, tables.table2
    parts = [f"Ten aggregators on the CIGRE MV feeder learn (hierarchical MADDPG, {prof.get('episodes', '?')} "
             f"episodes x {prof.get('seeds', '?')} seeds) to bid in a local market, the DSO's flexibility market and "
             "balancing."]
    if ch:
        held = [c for c in ch if c["ok"]]
        parts.append(f"{len(held)} of {len(ch)} of the paper's findings reproduce"
                     + ("" if len(held) == len(ch) else " (not: " + "; ".join(c["claim"] for c in ch if not c["ok"]) + ")")
                     + ".")
    if len(t2) and {"scenario", "test_weeks_eur"} <= set(t2.columns):
        v = t2.set_index("scenario").test_weeks_eur
        parts.append("All aggregators' profit per test week: " + ", ".join(f"{sc} €{x:,.0f}" for sc, x in v.items()) + ".")
    if len(ex):
        parts.append("Aggregator 5's learned strategy leaves " + ", ".join(
            f"{100 * r.regret_share:.0f} % ({r.scenario})" for r in ex.itertuples()) + " of its hour-by-hour best "
            "response's profit unclaimed.")
    cv = tables.convergence
    if len(cv):  # a curve still moving over the last quarter of training, where one is ('' otherwise)
        parts.append(trend_sentence(cv.rename(columns={"scenario": "method"}), lambda sc: SCENARIO_LABEL.get(sc, sc),
                                    brief=True))
    ag = tables.aggregators
    if len(ag):
        parts.append("Every aggregator against the others' learned policies: " + " ".join(_every_aggregator_reading(ag))
                     .replace("- ", "").replace("\n", " "))
    fr = tables.fitted
    if len(fr):
        over = fr[fr.exploitability_share > 0.10].groupby("scenario", sort=False).size()
        a5 = fr[fr.aggregator == AGG].set_index("scenario").exploitability_share
        parts.append("Responders fitted on the market's values of constant up prices gain more than 10 % for " + ", ".join(
            f"{int(over.get(sc, 0))} of {n} ({sc}; aggregator {AGG} {100 * a5.get(sc, np.nan):+.0f} %)"
            for sc, n in fr.groupby("scenario", sort=False).size().items()) + ".")
    fp = tables.fitted_play
    fp = fp[fp.policy.isin(["learned", "fitted play"])] if len(fp) else fp  # the two-stage play has no up-price responders
    if len(fp) and "fitted_responders_over_10pct" in fp and fp.fitted_responders_over_10pct.notna().all():
        r = fp.groupby(["scenario", "policy"], sort=False).fitted_responders_over_10pct.sum()  # over the seeds that ran it
        seeds = ", ".join(str(s) for s in sorted(fp.seed.unique()))
        parts.append(f"Fictitious play over fitted best responders (seed {seeds}): fitted responders gaining more than "
                     "10 %, learned → the policy it keeps: " + ", ".join(
                         f"{sc} {int(r[(sc, 'learned')])} → {int(r[(sc, 'fitted play')])}"
                         for sc in fp.scenario.unique() if (sc, "fitted play") in r.index and (sc, "learned") in r.index) + ".")
    tt = tables.two_stage
    if len(tt):
        over = (tt.gain_share > 0.10).groupby([tt.scenario, tt.policy], sort=False).sum()
        parts.append("Responders fitted for both withholding and up price gain more than 10 % for " + ", ".join(
            f"{int(n)} of {int((tt.scenario == sc).sum() / tt[tt.scenario == sc].policy.nunique())} ({sc}, {policy} policy)"
            for (sc, policy), n in over.items()) + ".")
    ob = tables.observable
    if len(ob):
        parts.append(f"Of aggregator {AGG}'s hour-by-hour regret, the best checked policy that sees only its observations "
                     "recovers " + ", ".join(f"{_pct(r.recovered_share)} ({r.scenario})" for r in ob.itertuples())
                     + f" (seed {ob.seed.iloc[0]}), leaving a regret of " + ", ".join(
                         f"{100 * r.regret_left_share:.0f} %" for r in ob.itertuples()) + " of the search's best.")
    dt = tables.dynamics
    if len(dt):
        outcomes = dt.groupby(["scenario", "seed"], sort=False).outcome.first()
        parts.append("Best-response dynamics among constant bids, from the learned policies: " + "; ".join(
            f"{sc} (seed {seed}) {o}" for (sc, seed), o in outcomes.items()) + ".")
    ft, fo = tables.fictitious_play, tables.fp_ordering
    if len(ft):
        c = ft[ft.weeks == "check"].groupby(["scenario", "profile"], sort=False).aggregators_over_1pct.mean().unstack()
        parts.append(f"Fictitious play over learned and constant bids ({int(ft.iterations.iloc[0])} iterations, "
                     f"{ft.seed.nunique()} seed(s)): aggregators more than 1 % short of their best option, learned → "
                     "mixtures (mean per seed): " + ", ".join(f"{sc} {r.learned:.1f} → {r.mixtures:.1f}" for sc, r in c.iterrows())
                     + ".")
        a5 = fo[(fo.who == f"aggregator {AGG}") & (fo.profile == "mixtures") & (fo.weeks == "check")] if len(fo) else fo
        if len(a5) and a5.seeds.iloc[0] > 1:
            r = a5.iloc[0]
            parts.append(f"Under the mixtures, aggregator {AGG}'s {r.step} step is {r.mean_difference_eur_per_week:+,.0f} ± "
                         f"{r.standard_error_eur_per_week:,.0f} €/week ({r.seeds_with_positive_difference} of {r.seeds} "
                         f"seeds, p = {r.p_one_sided:.3f}).")
    rt = tables.regret_matching
    if len(rt):
        rt = rt[rt.seed == rt.seed.min()]  # one seed's play per scenario (the first `responder_seeds` have one)
        r = rt[rt.profile == "regret matching"].set_index(["scenario", "weeks"])
        check = r.xs("check", level="weeks")
        line = (f"Regret matching over the same options ({int(check.iterations.max())} iterations, seed "
                f"{int(rt.seed.min())}): a correlated play in which no aggregator gains more than "
                + ", ".join(f"{100 * x.largest_gain_share:.1f} %" for x in check.itertuples())
                + " (" + ", ".join(SCENARIO_LABEL.get(sc, sc) for sc in check.index) + ") by any constant bid on the check weeks")
        if "validation" in r.index.get_level_values("weeks"):
            val = r.xs("validation", level="weeks")
            line += ("; on the validation weeks, which it was not fitted to, "
                     + ", ".join(f"{int(x.aggregators_over_1pct)}" for x in val.itertuples()) + " of 10 gain more than 1 %")
        parts.append(line + ".")
    bt = tables.bucketed_play
    if len(bt) and "clearly_short_of_validated" in bt:
        c = bt[(bt.weeks == "check") & bt.clearly_short_of_validated.notna()]
        per = c.groupby(["scenario", "profile"], sort=False).clearly_short_of_validated
        scen = [sc for sc in dict.fromkeys(c.scenario) if {(sc, "learned"), (sc, "by congestion")} <= set(per.groups)]
        seeds = c.seed.nunique()
        parts.append("Fitted on the training weeks instead, one regret matching per bucket of the feeder's scheduled "
                     "injection (a feature the aggregators see before they bid; "
                     + (f"seed {int(c.seed.min())}" if seeds == 1 else f"{seeds} seeds") + "): on the check weeks, "
                     "aggregators clearly short of the option validated beforehand "
                     + ", ".join(f"{_seed_range(per.get_group((sc, 'learned')))} → "
                                 f"{_seed_range(per.get_group((sc, 'by congestion')))}" for sc in scen)
                     + f" of 10{' per seed' if seeds > 1 else ''} ("
                     + ", ".join(SCENARIO_LABEL.get(sc, sc) for sc in scen) + "; learned → by congestion).")
    cp = tables.congestion_play
    if len(cp):
        r = cp.set_index(["scenario", "profile"])
        scen = [sc for sc in dict.fromkeys(cp.scenario) if {(sc, "learned"), (sc, "by congestion")} <= set(r.index)]
        if scen:
            parts.append("Played on the test weeks, that play moves all aggregators' earnings "
                         + ", ".join(f"{r.loc[(sc, 'learned'), 'all_aggregators_eur_per_week']:,.0f} → "
                                     f"{r.loc[(sc, 'by congestion'), 'all_aggregators_eur_per_week']:,.0f}" for sc in scen)
                         + " €/week (" + ", ".join(SCENARIO_LABEL.get(sc, sc) for sc in scen)
                         + f"; mean over the {int(cp.seeds.max())} seed(s) that have it).")
    co = tables.congestion_ordering
    steps = co[(co.profile == "by congestion") & (co.seeds > 1)] if len(co) else co
    if len(steps):
        parts.append("Under it, seed by seed on the test weeks: " + "; ".join(
            f"{_possessive(r.who)} {r.step} step {r.mean_difference_eur_per_week:+,.0f} ± {r.standard_error_eur_per_week:,.0f} €/week "
            f"({r.seeds_with_positive_difference} of {r.seeds} seeds positive, p = {r.p_one_sided:.3f})"
            for r in steps.itertuples(index=False)) + ".")
    return " ".join(p for p in parts if p)


def build_report(study: Path) -> Path:
    """Write tables/*.csv, figures/*.png, report.md and reading.md (the index's paragraph) for a study
    folder; returns report.md."""
    data = load(study)
    study = Path(study)
    tables = _tables(study, data)
    _write_tables(study, tables)
    figs = _figures(study, data, tables)
    prof = data["meta"].get("profile", {})
    L = [*_section_intro(data), *_section_findings(tables, data["scores"], prof), *_section_table1(tables.table1),
         *_section_table2(tables.table2, tables.paired, tables.by_week), *_section_markets(tables.markets),
         *_section_baselines(tables.baselines), *_section_best_response(tables.exploitability, prof),
         *_section_every_aggregator(tables.aggregators, tables.convergence, prof),
         *_section_along_training(tables.along_training, prof, tables.snapshot_choice),
         *_section_snapshot_choice(tables.snapshot_choice, tables.along_training, prof),
         *_section_fitted(tables.fitted, prof), *_section_fitted_play(tables.fitted_play, prof),
         *_section_two_stage(tables.two_stage, prof), *_section_observable(tables.observable),
         *_section_critics(tables.critics),
         *_section_dynamics(tables.dynamics, prof), *_section_fictitious_play(tables.fictitious_play, tables.fp_ordering, tables.fp_markets),
         *_section_regret_matching(tables.regret_matching), *_section_bucketed_play(tables.bucketed_play, prof),
         *_section_congestion_play(tables.congestion_play, tables.congestion_ordering),
         *_section_swap(tables.swap), *_section_figures(figs)]
    path = study / "report.md"
    path.write_text("\n".join(L) + "\n")
    (study / "reading.md").write_text(reading(tables, prof) + "\n")
    return path
