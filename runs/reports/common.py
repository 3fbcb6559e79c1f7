"""Helpers every design's study report shares: reading a study folder, week labels, seed totals,
a paired test across seeds, markdown tables and figure set-up. The design-specific report (its
tables, figures and written reading) lives in `runs/reports/<design>.py`; `runs.report` builds the
report a study's design names."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from model import dataset

SIGNIFICANCE = 0.05  # one-sided paired t-test level at which a step counts as resolved beyond seed noise


# ---------------------------------------------------------------------------------------------
# a study folder
# ---------------------------------------------------------------------------------------------
def typed_options(meta: dict) -> str:
    """The `--set` and `--learner-config` options of the command that ran a study (study.json's
    args), as typed: what a reader adds to the profile's command to make the same runs."""
    args = meta.get("args", {})
    return "".join(f" --set {p}" for p in args.get("set", [])) + "".join(
        f" --learner-config {p}" for p in args.get("learner_config", []))


def study_meta(study: Path) -> dict:
    """study.json; for a study that has not finished (a report built from its finished runs), what
    study-started.json recorded: the profile, with the seed count its command asked for."""
    from runs.study import STARTED_FILE

    if (study / "study.json").exists():
        return json.loads((study / "study.json").read_text())
    if not (study / STARTED_FILE).exists():
        return {}
    meta = json.loads((study / STARTED_FILE).read_text())
    seeds = meta.get("args", {}).get("seeds")
    return meta | {"profile": meta.get("profile", {}) | ({"seeds": seeds} if seeds is not None else {}), "unfinished": True}


def unfinished_note(meta: dict) -> str:
    """A warning line for the report of a study that has not finished (`study_meta`), else ""."""
    if not meta.get("unfinished"):
        return ""
    return ("**This study has not finished** (no study.json): the tables and figures cover the runs finished so far, "
            "not every seed the profile names. Run its command again with `--resume` to complete it.\n")


def study_scenarios(study: Path, order: list[str]) -> list[str]:
    """The scenarios with evaluations in `study/eval/`, in `order` (others after)."""
    found = [p.name for p in (study / "eval").iterdir() if p.is_dir()] if (study / "eval").exists() else []
    return sorted(found, key=lambda s: order.index(s) if s in order else len(order))


def load_study(study: Path, order: list[str]) -> dict:
    """Scores, training curves, baselines, best-response tables and study.json of a study folder."""
    study = Path(study)
    scen = study_scenarios(study, order)

    def frames(pattern_dir: str, name: str):
        rows = []
        for sc in scen:
            for seed_dir in sorted((study / pattern_dir / sc).glob("seed*")):
                f = seed_dir / name
                if f.exists():
                    rows.append(pd.read_csv(f).assign(scenario=sc, seed=int(seed_dir.name[4:])))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    scores = frames("eval", "scores.csv")
    curves = frames("runs", "train_curve.csv")
    base = []
    for d in sorted((study / "baselines").glob("*")) if (study / "baselines").exists() else []:
        if (d / "scores.csv").exists():
            base.append(pd.read_csv(d / "scores.csv").assign(policy=d.name))
    br = []
    for f in sorted((study / "best_response").glob("*.csv")) if (study / "best_response").exists() else []:
        sc, _, seed = f.stem.rpartition("-seed")
        br.append(pd.read_csv(f).assign(scenario=sc, seed=int(seed)))
    meta = study_meta(study)
    return {
        "study": study, "scenarios": scen, "scores": scores, "curves": curves, "meta": meta,
        "baselines": pd.concat(base, ignore_index=True) if base else pd.DataFrame(),
        "best_response": pd.concat(br, ignore_index=True) if br else pd.DataFrame(),
    }


def load_methods(study: Path, methods) -> dict:
    """A method study's folder (the household designs' layout: `eval/<method>/seed<k>/` scores.csv and
    hours.csv, `runs/<method>/seed<k>/` train_curve.csv and train_time.json, study.json): every
    method of `methods` (in that order) that has evaluations, each frame with method and seed columns."""
    study = Path(study)
    found = [m for m in methods if (study / "eval" / m).is_dir()]

    def frames(folder: str, name: str):
        rows = []
        for m in found:
            for d in sorted((study / folder / m).glob("seed*")):
                if (d / name).exists():
                    rows.append(pd.read_csv(d / name).assign(method=m, seed=int(d.name[4:])))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    times = []
    for m in found:
        for d in sorted((study / "runs" / m).glob("seed*")):
            if (d / "train_time.json").exists():
                times.append({"method": m, "seed": int(d.name[4:]), **json.loads((d / "train_time.json").read_text())})
    meta = study_meta(study)
    return {"methods": found, "scores": frames("eval", "scores.csv"), "hours": frames("eval", "hours.csv"),
            "curves": frames("runs", "train_curve.csv"), "times": pd.DataFrame(times), "meta": meta,
            "selected": selected_snapshots(study, found)}


def selected_snapshots(study: Path, methods) -> pd.DataFrame:
    """method, seed, selected_episode, selected_on (the run's `selection_weeks`) of every run that kept its best
    snapshot (`keep_best`: its policy.json names the episode) rather than its last."""
    rows = []
    for m in methods:
        for d in sorted((Path(study) / "runs" / m).glob("seed*")):
            f = d / "policy.json"
            meta = json.loads(f.read_text()) if f.exists() else {}
            if "selected_episode" in meta:
                groups = meta.get("selected_groups") or {}  # `keep_best_per_group`: each group's own day, where handed on
                rows.append({"method": m, "seed": int(d.name[4:]), "selected_episode": int(meta["selected_episode"]),
                             "selected_on": meta.get("selected_on", "eval:1"),
                             "selected_groups": ", ".join(f"{k} {v}" for k, v in groups.items()),
                             "selected_from": int(meta.get("selected_from_episode", 0)),
                             "best_response_weight": float(meta.get("selected_best_response_weight", 0.0))})
    return pd.DataFrame(rows, columns=["method", "seed", "selected_episode", "selected_on", "selected_groups",
                                       "selected_from", "best_response_weight"])


def selection_weeks_words(spec: str) -> str:
    """Words for a run's `selection_weeks`: "eval:1,train:23" -> "the evaluation week (week 48) and training week
    23 (week 29)"."""
    words = []
    for part in (p.strip() for p in str(spec).split(",") if p.strip()):
        weeks = dataset.resolve_week(part)
        kind, _, number = part.partition(":")
        if len(weeks) > 1:
            words.append(f"the {len(weeks)} weeks of {part!r}")
        elif kind == "eval":
            words.append(f"the evaluation week (week {weeks[0]})")
        elif kind == "train":
            words.append(f"training week {number} (week {weeks[0]})")
        else:
            words.append(f"week {weeks[0]}")
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def selection_specs(selected: pd.DataFrame) -> list[str]:
    """The distinct `selection_weeks` of the kept snapshots (`selected_snapshots`), in order; a run recorded before
    stop 40 (no `selected_on`) was chosen on the evaluation week, "eval:1"."""
    return list(dict.fromkeys(selected.get("selected_on", pd.Series(["eval:1"])).fillna("eval:1")))


def selection_note(selected: pd.DataFrame) -> str:
    """A report's sentence on the runs that kept their best snapshot on their selection weeks ('' when none did)."""
    if selected is None or selected.empty:
        return ""
    kept = "; ".join(f"{m}: " + ", ".join(f"seed {r.seed} " + (f"days {r.selected_groups} by learning group"
                                                                 if getattr(r, "selected_groups", "") else f"day {r.selected_episode}")
                                          for r in g.itertuples())
                     for m, g in selected.groupby("method", sort=False))
    if "selected_groups" in selected and selected.selected_groups.fillna("").astype(bool).any():
        kept += ("; where days are given by learning group, each group's actor is its own best snapshot "
                 "(`keep_best_per_group`) and the circle marks the best whole snapshot, which the composed policy "
                 "scored at least as well as")
    starts = sorted({int(v) for v in selected.get("selected_from", pd.Series(dtype=int)).fillna(0) if v})
    if starts:  # `keep_best_from`: the earlier snapshots did not compete
        kept += ("; only the snapshots from day " + " / ".join(f"{v:,}" for v in starts)
                 + " of training on competed (`keep_best_from`)")
    weights = sorted({float(v) for v in selected.get("best_response_weight", pd.Series(dtype=float)).fillna(0.0) if v})
    if weights:  # `selection_best_response`: the score less the weighted gain of the design's cheap best response
        kept += ("; each snapshot's score less " + " / ".join(f"{v:g}" for v in weights)
                 + " × what the design's cheap best response gains over it there (`selection_best_response`; "
                 "the Stackelberg leader's myopic hour-by-hour search on a 3 × 3 price grid)")
    specs = selection_specs(selected)
    if specs == ["eval:1"]:
        return ("Learned policies are the snapshots that scored best on the evaluation week (`keep_best`; the "
                f"design's selection score), not the last ones ({kept}; circles in the training curves). The evaluation "
                "week is then a validation week and flatters them; the test days do not.\n")
    on = "; ".join(selection_weeks_words(spec) for spec in specs)
    return ("Learned policies are the snapshots that scored best on " + on + " together (`keep_best`, `selection_weeks`; "
            f"the design's selection score), not the last ones ({kept}; circles in the training curves, which show the "
            "evaluation week alone). Those weeks are then validation weeks and flatter them; the test days do not.\n")


TREND_P = 0.05  # two-sided t-test level (over seeds) below which a training curve counts as still moving
TREND_MIN_SHARE = 0.01  # ... and the least mean change (share of the level) that counts: smaller ones are flat
SETTLED_SHARE = 0.01  # `settled_from`: a curve has settled once its quarter-long averages stay this close to the end
SETTLED_FLOOR = 0.1  # ... as a share of the last quarter's level, or of this share of the curve's largest magnitude
# where that is more (a level near 0, as aggregator 5's evaluation-week earnings in S-a, would leave no tolerance)


def settled_from(per: pd.DataFrame, tolerance: float | None = None) -> float:
    """When a training curve stopped improving: `per` is evaluations (episode index) x seeds of one measure. The first
    evaluation from which the mean over seeds, averaged over every later stretch of a quarter of training's
    evaluations (as many as the last quarter holds), stays within `tolerance` of the last quarter's mean; `tolerance`
    in the measure's unit, by default SETTLED_SHARE of the last quarter's level (floored at SETTLED_FLOOR of the
    curve's largest magnitude). NaN where that evaluation is in the last quarter (the curve had not settled before
    it) or where a quarter has no evaluation. A description of the seeds' mean, not a test: `learning_trend`'s t-test says
    whether the last quarter's change stands out of the seeds' noise."""
    per = per.dropna(how="all")
    if per.empty:
        return float("nan")
    mean = per.mean(axis=1).sort_index()
    last = float(mean.index.max())
    in_fourth = mean.index > 0.75 * last
    w = int(in_fourth.sum())
    if not w or not ((mean.index > 0.5 * last) & ~in_fourth).any():
        return float("nan")
    level = float(mean[in_fourth].mean())
    if tolerance is None:
        tolerance = SETTLED_SHARE * max(abs(level), SETTLED_FLOOR * float(mean.abs().max()))
    stretches = mean.rolling(w).mean().to_numpy()[w - 1:]  # stretch i: evaluations i .. i + w - 1
    away = np.flatnonzero(~(np.abs(stretches - level) <= tolerance))
    first = int(away[-1]) + 1 if len(away) else 0
    day = float(mean.index[first])
    return day if day < 0.75 * last else float("nan")  # from the last quarter on: no stretch before it was near its end


def learning_trend(per: pd.DataFrame, tolerance: float | None = None) -> dict:
    """Whether a training curve had settled: `per` is evaluations (episode index) x seeds of one measure. Each seed's
    mean over the evaluations of the last quarter of training against its mean over the quarter before (means over
    several evaluations, since one evaluation week is noisy), paired by seed; `change_share` the mean change over seeds
    as a share of the quarter before's mean level, `seeds_rising` how many rose, `t` and `p` the paired two-sided
    t-test over seeds, and `trend`: "rising" / "falling" where p is below TREND_P (with 2 seeds t must pass 12.7, with
    4 3.2, with 8 2.4) and the change at least TREND_MIN_SHARE, else "flat"; "one seed" where a single seed gives no
    spread, "too few evaluations" where a quarter has none. (Absolute changes, not each seed's own share: a seed whose
    level is near 0, as aggregator 5's evaluation-week earnings in S-a, would swamp shares.) `settled_from`: the
    day from which the seeds' mean stayed near its end (`settled_from`, `tolerance` passed on)."""
    from scipy import stats

    per = per.dropna(how="all")
    last = float(per.index.max()) if len(per) else 0.0
    in_third, in_fourth = (per.index > 0.5 * last) & (per.index <= 0.75 * last), per.index > 0.75 * last
    third, fourth = per[in_third].mean(), per[in_fourth].mean()
    change = (fourth - third).dropna()
    n = len(change)
    level = float(third[change.index].mean()) if n else float("nan")
    share = float(change.mean()) / abs(level) if n and level else float("nan")
    se = float(change.std(ddof=1) / np.sqrt(n)) if n > 1 else float("nan")
    if n > 1 and se == 0:  # every seed changed by the same amount: no spread, the sign is certain (or 0: flat)
        t, p = (np.sign(change.mean()) * np.inf, 0.0) if change.mean() else (0.0, 1.0)
    else:
        t = float(change.mean()) / se if n > 1 else float("nan")
        p = float(2 * stats.t.sf(abs(t), n - 1)) if n > 1 else float("nan")
    trend = ("too few evaluations" if not in_third.any() or not in_fourth.any() else "one seed" if n == 1
             else "—" if np.isnan(p) else "flat" if not abs(share) >= TREND_MIN_SHARE or p >= TREND_P
             else "rising" if t > 0 else "falling")
    return {"days": int(last), "third_quarter": float(third.mean()), "last_quarter": float(fourth.mean()),
            "change_share": share, "seeds_rising": f"{int((change > 0).sum())} of {n}", "t": t, "p": p, "trend": trend,
            "settled_from": settled_from(per, tolerance)}


def learning_clusters(study: Path, method: str) -> dict[str, str]:
    """participant id (str) -> cluster name for the households of a household design's learning clusters, from the
    scenario that a method's first run recorded (its policy.json); {} where there is none."""
    from model.designs.household_base import household_clusters

    runs = sorted((Path(study) / "runs" / method).glob("seed*/policy.json"))
    scenario = json.loads(runs[0].read_text()).get("scenario") if runs else None
    if not scenario or "clusters" not in scenario:
        return {}
    order = [c["name"] for c in scenario["clusters"] if c.get("learn", True)]
    members = list(enumerate(household_clusters(scenario)))
    return {str(i): c for c in order for i, name in members if name == c}  # clusters in the scenario's order


def cluster_curves(g: pd.DataFrame, who: str, clusters: dict[str, str]) -> dict[str, pd.DataFrame]:
    """One method's training curve per learning cluster (`learning_clusters`): its households' cost on the
    evaluation week, € per household and day, episodes x seeds (`who`: the curve's participant column)."""
    label = g[who].astype(str).map(clusters)
    out = {}
    for name in dict.fromkeys(clusters.values()):
        members = g[label == name]
        if len(members):
            out[f"{name} cluster's cost (€ per household and day)"] = (
                -members.groupby(["episode", "seed"]).eval_score_eur.sum().unstack("seed")
                / members[who].nunique() / 7)
    return out


def trend_table(series: dict[tuple[str, str], pd.DataFrame], tolerances: dict[str, float] | None = None) -> pd.DataFrame:
    """`learning_trend` of each (method, measure) curve: one row each, in the order given; `tolerances`: per measure,
    `settled_from`'s tolerance where it is not the default share of the level."""
    return pd.DataFrame([{"method": m, "measure": what, **learning_trend(per, (tolerances or {}).get(what))}
                         for (m, what), per in series.items() if len(per)])


def trend_display(tt: pd.DataFrame) -> pd.DataFrame:
    """A `trend_table` as a report shows it: the change in %, t to one decimal, p to three, the settled day whole
    ("last quarter": not before it)."""
    settled = [f"{v:.0f}" if np.isfinite(v) else "last quarter" if tr not in ("too few evaluations", "—") else "—"
               for v, tr in zip(tt.settled_from, tt.trend)]
    return (tt.assign(change_share=100 * tt.change_share, t=[f"{v:.1f}" if np.isfinite(v) else "—" for v in tt.t],
                      p=[f"{v:.3f}" if np.isfinite(v) else "—" for v in tt.p], settled_from=settled)
            .rename(columns={"change_share": "change_%", "settled_from": "settled_from_day"}))


def trend_sentence(tt: pd.DataFrame, label=str, brief: bool = False) -> str:
    """A report's reading of a `trend_table`: which curves were still moving over the last quarter of training and,
    with `settled_from`, which flat ones still drifted (`brief`: the moving ones alone, for a study's one-paragraph
    reading, '' when every curve was flat)."""
    if tt is None or tt.empty:
        return ""
    moving = tt[tt.trend.isin(["rising", "falling"])]
    flat = tt[tt.trend == "flat"]
    how = (f"Each seed's mean over the last quarter's evaluations against its mean over the quarter before; a curve "
           f"counts as still moving where a paired two-sided t-test over seeds puts the change away from 0 (p < "
           f"{TREND_P:g}) and its mean is at least {100 * TREND_MIN_SHARE:g} % of the earlier level.")
    late = ""
    if "settled_from" in tt:
        how += (f" `settled_from_day`: the first evaluation from which the seeds' mean, averaged over every later stretch "
                f"as long as the last quarter, stays within {100 * SETTLED_SHARE:g} % of the last quarter's level, i.e. "
                "when the curve stopped improving by that much (\"last quarter\": not before it).")
        drift = flat[flat.settled_from.isna()]
        if len(drift):
            late = (f" Flat by the test, yet not within {100 * SETTLED_SHARE:g} % of their end before the last quarter (a "
                    "drift the seeds' noise cannot tell from 0): " + "; ".join(
                        f"{label(r.method)}: {r.measure.split(' (')[0]} ({100 * r.change_share:+.1f} %)"
                        for r in drift.itertuples()) + ".")
    if moving.empty:
        return "" if brief else (f"{how} No curve was still moving over the last quarter of training beyond the "
                                 "seeds' noise (the table's p)." + late if len(flat) else
                                 f"{how} Too few evaluations or seeds to tell (the table's `trend`).")
    parts = "; ".join(f"{label(r.method)}: {r.measure} {r.trend} ({r.third_quarter:,.2f} → {r.last_quarter:,.2f}, "
                      f"{100 * r.change_share:+.1f} %, {r.seeds_rising} seeds rising)" for r in moving.itertuples())
    if brief:
        return f"Still moving over the last quarter of training: {parts}."
    return (f"{how} Still moving at the end of training: {parts}. Those curves had not settled: more training days "
            "could change them (the profile's `episodes`)." + (" The others were flat." if len(flat) else "") + late)


MARK_LABELS = ("policy kept", "settled")  # the legend entries of `mark_selected` and `mark_settled`


def legend_marks_last(ax, **kw) -> None:
    """`ax.legend(**kw)` with the curves' entries first and the marks' (`MARK_LABELS`) after them."""
    handles, labels = ax.get_legend_handles_labels()
    order = sorted(range(len(labels)), key=lambda i: labels[i].startswith(MARK_LABELS))
    ax.legend([handles[i] for i in order], [labels[i] for i in order], **kw)


def mark_settled(ax, per: pd.DataFrame, color, labelled: list, tolerance: float | None = None, since: float = 0.0) -> None:
    """Mark on `ax` the day from which the curve `per` (episodes x seeds; its seeds' mean drawn) had settled
    (`settled_from`, `tolerance` passed on) with a triangle on the mean; nothing where it had not before the last
    quarter or where that day is before `since` (a panel that starts later). One legend entry per axes, in black."""
    day = settled_from(per, tolerance)
    if not np.isfinite(day) or day < since:
        return
    if ax not in labelled:
        ax.plot([], [], "v", color="k", ms=7, label=f"settled: within {100 * SETTLED_SHARE:g} % of its end from here")
        labelled.append(ax)
    ax.plot(day, float(per.dropna(how="all").mean(axis=1).loc[day]), "v", color=color, ms=7)


def mark_selected(ax, per: pd.DataFrame, selected: pd.DataFrame, method: str, color, labelled: list,
                  label: str | None = None) -> None:
    """Mark on `ax` each seed's kept snapshot (`selected_snapshots`) on its curve `per` (episodes x seeds); `label`:
    the legend's words for the circles (default: the best on the evaluation week or its selection weeks)."""
    for row in selected[selected.method == method].itertuples():
        if row.seed in per.columns and row.selected_episode in per.index:
            if ax not in labelled:  # one legend entry per axes, in black: the circles take their method's colour
                on = "the evaluation week" if selection_specs(selected) == ["eval:1"] else "its selection weeks"
                ax.plot([], [], "o", mfc="none", color="k", ms=7, label=label or f"policy kept (each seed's best on {on})")
                labelled.append(ax)
            ax.plot(row.selected_episode, per.loc[row.selected_episode, row.seed], "o", mfc="none", color=color, ms=7)


def per_cluster_per_day(hours: pd.DataFrame, cost: pd.Series, hours_per_day: int = 24) -> pd.DataFrame:
    """Each cluster's `cost` (a column aligned with `hours`, the evaluation's per-hour-and-cluster
    rows) per member and day, mean over seeds: one row per method, one column per cluster."""
    days = hours.groupby(["method", "seed"]).hour.nunique() / hours_per_day
    per = hours.assign(cost=cost / hours.households).groupby(["method", "seed", "cluster"]).cost.sum()
    per = (per / days.reindex(per.index.droplevel("cluster")).to_numpy()).groupby(["method", "cluster"]).mean()
    return per.unstack("cluster").reset_index().rename_axis(columns=None)


def train_time_columns(times: pd.DataFrame, method: str) -> dict:
    """A method's mean training wall-clock (minutes, and seconds per training day) from `load_methods`'s times."""
    t = times[times.method == method] if len(times) else times
    return {"train_min": t.seconds.mean() / 60, "train_s_per_day": (t.seconds / t.episodes).mean()} if len(t) else {}


def hours_of(study: Path, scenario: str, seed: int = 0) -> pd.DataFrame:
    f = Path(study) / "eval" / scenario / f"seed{seed}" / "hours.csv"
    return pd.read_csv(f) if f.exists() else pd.DataFrame()


# ---------------------------------------------------------------------------------------------
# weeks and seeds
# ---------------------------------------------------------------------------------------------
def is_test(week: pd.Series) -> pd.Series:
    return week.astype(str).str.startswith("test:")


def test_index(week: pd.Series) -> pd.Series:
    return week.astype(str).str.split(":").str[1].astype(int)


def week_order(week: str) -> tuple[str, int]:
    """A sort key for week labels ("test:2" before "test:10"; labels without a number first in their kind)."""
    kind, _, number = str(week).partition(":")
    return kind, int(number) if number.isdigit() else 0


def is_eval(week: pd.Series) -> pd.Series:
    return week.astype(str).str.startswith("eval")


def seed_totals(scores: pd.DataFrame, weeks=is_test) -> pd.DataFrame:
    """All participants' total per week, mean over the weeks `weeks` selects: rows seed, columns scenario."""
    s = scores[weeks(scores.week)]
    return s.groupby(["seed", "scenario", "week"]).total_eur.sum().groupby(["seed", "scenario"]).mean().unstack("scenario")


def paired_steps(per_seed: pd.DataFrame, steps, label=str) -> pd.DataFrame:
    """Each step (lo, hi) of an ordering of scenarios, seed by seed.

    Runs of different scenarios with the same seed share their initial weights, the sequence of
    training episodes and the exploration-noise draws (`runs.training.train`), so the difference
    between two scenarios is taken within each seed (common random numbers) and tested with a
    one-sided paired t-test on those differences (H1: `hi` earns more). `per_seed`: rows seed,
    columns scenario (e.g. `seed_totals`)."""
    from scipy import stats

    rows = []
    for lo, hi in steps:
        if lo not in per_seed or hi not in per_seed:
            continue
        d = (per_seed[hi] - per_seed[lo]).dropna()
        n = len(d)
        se = float(d.std(ddof=1) / np.sqrt(n)) if n > 1 else np.nan
        p = float(stats.ttest_1samp(d, 0.0, alternative="greater").pvalue) if n > 1 and d.std(ddof=1) > 0 else np.nan
        rows.append({"step": f"{label(lo)} < {label(hi)}", "seeds": n,
                     "mean_difference_eur_per_week": float(d.mean()), "standard_error_eur_per_week": se,
                     "seeds_with_positive_difference": int((d > 0).sum()), "p_one_sided": p,
                     "per_seed_difference_eur_per_week": " / ".join(f"{v:+,.0f}" for v in d)})
    return pd.DataFrame(rows)


def comfort_by_week(days: pd.DataFrame, reference: str, learned, optimum: pd.DataFrame | None = None) -> pd.DataFrame:
    """The heat pumps' comfort violation per learned method, seed and test week, beside the rule
    thermostat's (`reference`, a rule-based method: the same days, one seed), K·h per day summed over the
    community's houses (`days`: a household design's per-day table with `comfort_violation_kh`).
    `excess_kh_per_day`: the learned policy's violation less the thermostat's (+ = less comfortable).
    `optimum` (optional): the perfect-foresight day optimum's days (week, comfort_violation_kh), its K·h per day
    per week as `optimum_kh_per_day` (NaN without it). Rows in the order of `learned`, then seed and week."""
    d = days[is_test(days.week)]
    per = d.groupby(["method", "seed", "week"]).comfort_violation_kh.mean().rename("comfort_violation_kh_per_day")
    ref = d[d.method == reference].groupby("week").comfort_violation_kh.mean().rename("thermostat_kh_per_day")
    out = per.reset_index()
    out = out[out.method.isin(list(learned))].merge(ref.reset_index(), on="week", how="left")
    out["excess_kh_per_day"] = out.comfort_violation_kh_per_day - out.thermostat_kh_per_day
    best = (optimum.groupby("week").comfort_violation_kh.mean() if optimum is not None and len(optimum)
            else pd.Series(dtype=float))
    out["optimum_kh_per_day"] = out.week.map(best).astype(float)
    order = {m: i for i, m in enumerate(learned)}
    out = out.assign(_m=out.method.map(order), _k=out.week.map(week_order))
    return out.sort_values(["_m", "seed", "_k"]).drop(columns=["_m", "_k"]).reset_index(drop=True)


def comfort_sentence(cw: pd.DataFrame, method: str, label=str) -> str:
    """One sentence on the heat pumps' comfort: `method`'s mean over seeds and test weeks against the rule
    thermostat's, and its seed and week furthest above the thermostat ("" without data)."""
    g = cw[cw.method == method]
    if not len(g):
        return ""
    text = (f"The heat pumps under {label(method)} leave the houses {g.comfort_violation_kh_per_day.mean():,.1f} K·h "
            f"per day outside their comfort band over the test weeks")
    thermostat = g.drop_duplicates("week").thermostat_kh_per_day
    if thermostat.isna().any():  # the rule thermostat has not been evaluated on every week (an unfinished study)
        return text + "."
    text += f", against the rule thermostat's {thermostat.mean():,.1f}"
    optimum = g.drop_duplicates("week").get("optimum_kh_per_day")
    if optimum is not None and optimum.notna().all():
        text += (f" and the perfect-foresight day optimum's {optimum.mean():,.1f} (which trades comfort against energy "
                 "at the scenario's penalty per K·h)")
    if g.excess_kh_per_day.notna().any():
        w = g.loc[g.excess_kh_per_day.idxmax()]
        if w.excess_kh_per_day >= 0.05:  # above it at the sentence's precision (0.1 K·h): not 0.0 against 0.0
            text += (f"; furthest above the thermostat, seed {int(w.seed)} in {w.week}: "
                     f"{w.comfort_violation_kh_per_day:,.1f} against {w.thermostat_kh_per_day:,.1f}")
        else:
            text += "; in no seed and test week above the thermostat's by 0.05 K·h per day or more"
    return text + "."


def comfort_section(cw: pd.DataFrame, label=str) -> list[str]:
    """The report's section on the heat pumps' comfort: per learned method, the seeds' K·h per day in each test
    week beside the rule thermostat's (`comfort_by_week`)."""
    wide = cw.assign(method=cw.method.map(label)).pivot_table(
        index=["method", "seed"], columns="week", values="comfort_violation_kh_per_day", sort=False)
    weeks = sorted(wide.columns, key=week_order)
    refs = _comfort_references(cw, weeks)
    table = pd.concat([pd.DataFrame([[name, "—", *row.to_numpy()] for name, row in refs.items()],
                                    columns=["method", "seed", *weeks]),
                       wide[weeks].reset_index()], ignore_index=True)
    table.columns = ["method", "seed", *[w.split(":")[1] for w in weeks]]
    optimum = ("; the perfect-foresight day optimum, which plans each day's heating knowing its weather and trades "
               "comfort against energy at the scenario's penalty per K·h, shows how much of it no schedule avoids"
               if "day optimum" in refs else "")
    return ["\n## The heat pumps' comfort by test week and seed\n",
            "Degree-hours per day outside the comfort band, summed over the community's heat-pump houses, for each "
            "learned run in each test week (columns: test week), beside the rule thermostat's (which heats to a "
            "set point inside the band; a heat pump cannot cool, so warm weeks overheat some houses whatever it does"
            f"{optimum}). A seed far above the thermostat in one season learned a worse heating policy there. "
            "`tables/comfort_by_week.csv`:\n",
            md_table(table, "{:,.1f}"), "\n" + comfort_sentence(cw, cw.method.iloc[0], label) + "\n"]  # the first method's


CLOCK_COLUMNS = ("learned_cost_eur", "clock_realised_cost_eur", "learned_priced_eur", "clock_eur", "lp_eur")


def clock_table(clock: pd.DataFrame) -> pd.DataFrame:
    """Per cluster, pooled over the checked weeks, households and seeds (`household_checks.clock_schedule_check`
    rows with a `seed`): households and seeds checked, the means per household and day of the learned play and the
    best schedule by hour of day (realised through the model), the price-taker's learned, schedule and LP costs,
    and `clock_share_of_lp_gap` = (learned priced - schedule) / (learned priced - LP) of the pooled means (NaN where
    the learned play is the LP's to 1e-6 EUR per day)."""
    g = clock.groupby("cluster", sort=True)
    out = g[list(CLOCK_COLUMNS)].mean()
    out.insert(0, "households", g.household.nunique())
    out.insert(1, "seeds", g.seed.nunique())
    gap = out.learned_priced_eur - out.lp_eur
    out["clock_share_of_lp_gap"] = ((out.learned_priced_eur - out.clock_eur) / gap).where(gap > 1e-6)
    return out.reset_index().rename(columns={c: c.replace("_eur", "_eur_per_day") for c in CLOCK_COLUMNS})


def clock_sentences(ct: pd.DataFrame, who: str = "households") -> str:
    """The clock check read off `clock_table`: the clusters whose gap to the LP a schedule by hour of day closes
    mostly (>= 50 %: a learning shortfall, the clock alone allows it) and those where it does not."""
    if not len(ct) or ct.clock_share_of_lp_gap.isna().all():
        return ""
    most = ct[ct.clock_share_of_lp_gap >= 0.5]
    parts = []
    if len(most):
        parts.append("A device schedule by hour of day, the same every day of a checked week, closes " + "; ".join(
            f"{100 * r.clock_share_of_lp_gap:.0f} % of the {r.cluster} {who}' gap to the day LP (realised "
            f"{r.learned_cost_eur_per_day:,.2f} → {r.clock_realised_cost_eur_per_day:,.2f} € per day)"
            for r in most.itertuples()) + ": there the learned policy falls short of what the clock alone allows, a "
            "learning shortfall, not missing information")
    rest = ct[ct.clock_share_of_lp_gap < 0.5]
    if len(rest):
        parts.append("for the " + ", ".join(rest.cluster) + f" {who} it closes "
                     + ", ".join(f"{100 * v:.0f} %" for v in rest.clock_share_of_lp_gap)
                     + " (below 0: worse than the learned play, which reacts to what it observes beyond the clock)")
    return "; ".join(parts) + "."


def clock_section(ct: pd.DataFrame, files: str, who: str = "households", prof: dict | None = None) -> list[str]:
    """The report's section on the clock check (`clock_table`), naming the check files `files` and the search's
    levels and passes of the study's profile `prof` (its recorded dict)."""
    prof = prof or {}
    return ["\n## What the clock alone could do\n",
            f"For the same sampled {who}, the best device schedule by hour of day, one for all days of a checked week "
            "(what a policy that sees only the clock could play; found in hindsight over the week by a coordinate "
            f"search over {prof.get('clock_levels', 21)} levels per device and hour, at most {prof.get('clock_passes', 6)} "
            "passes), beside the learned play and each day's perfect-foresight LP "
            "(which also knows the day's load, sun and weather), all three priced as a price-taker at the prices each "
            "faced (`*_priced`, `clock`, `lp`). `clock_share_of_lp_gap`: how much of the gap between the learned "
            "actions and the LP the schedule closes (1: all of it); where it is large, the learned policy falls short "
            "of what its own observations (the clock among them) allow. `learned`, `clock_realised`: the learned play "
            f"and the schedule replayed through the model, everyone else learned (a follower keeps its learned limit price). € per "
            f"household and day, `{files}`:\n",
            md_table(ct, "{:,.3f}"), "\n" + clock_sentences(ct, who) + "\n"]


def _comfort_references(cw: pd.DataFrame, weeks) -> dict[str, pd.Series]:
    """The comfort view's reference rows per week: the rule thermostat's, and the day optimum's where known."""
    per_week = cw.drop_duplicates("week").set_index("week")
    refs = {"rule thermostat": per_week.thermostat_kh_per_day.reindex(weeks)}
    if "optimum_kh_per_day" in per_week and per_week.optimum_kh_per_day.notna().any():
        refs["day optimum"] = per_week.optimum_kh_per_day.reindex(weeks)
    return refs


def fig_comfort(cw: pd.DataFrame, path: Path, label=str):
    """One heat map per learned method: seeds × test weeks, the heat pumps' comfort violation (K·h per day),
    the rule thermostat's (and, where known, the day optimum's) on the top rows."""
    pyplot = plt()
    from matplotlib.colors import PowerNorm

    methods = list(dict.fromkeys(cw.method))
    weeks = sorted(cw.week.unique(), key=week_order)
    height = sum(0.8 + 0.3 * (cw[cw.method == m].seed.nunique() + 2) for m in methods)
    fig, axes = pyplot.subplots(len(methods), 1, figsize=(1.6 + 0.55 * len(weeks), height), squeeze=False)
    # a square-root colour scale: a few K·h in cold weeks stay visible beside tens in a warm one
    refs = _comfort_references(cw, weeks)
    values = np.r_[cw.comfort_violation_kh_per_day.to_numpy(), *[r.to_numpy() for r in refs.values()]]
    vmax = max(float(np.nanmax(values)) if np.isfinite(values).any() else 1.0, 1.0)
    norm = PowerNorm(0.5, vmin=0.0, vmax=vmax)
    for ax, m in zip(axes[:, 0], methods):
        g = cw[cw.method == m]
        grid = g.pivot(index="seed", columns="week", values="comfort_violation_kh_per_day").reindex(columns=weeks)
        values = np.vstack([*[r.to_numpy()[None, :] for r in refs.values()], grid.to_numpy()])
        rows = [name.replace("rule ", "") for name in refs] + [f"seed {s}" for s in grid.index]
        im = ax.imshow(values, aspect="auto", cmap="Reds", norm=norm)
        for (i, j), v in np.ndenumerate(values):
            if np.isfinite(v):
                ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if v > 0.4 * vmax else "black")
        ax.axhline(len(refs) - 0.5, color="black", lw=1.0)
        ax.set_xticks(range(len(weeks)), [w.split(":")[1] for w in weeks])
        ax.set_xlabel("test week")
        ax.set_yticks(range(len(rows)), rows)
        ax.set_title(f"{label(m)}: heat pumps' comfort violation, K·h per day (test week)")
        ax.grid(False)
        fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# output
# ---------------------------------------------------------------------------------------------
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as pyplot

    pyplot.rcParams.update({"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9})
    return pyplot


def save_figure(fig, path: Path, **layout):
    import matplotlib.pyplot as pyplot

    fig.tight_layout(**layout)
    fig.savefig(path)
    pyplot.close(fig)


def md_table(df: pd.DataFrame, floatfmt="{:,.1f}") -> str:
    """A DataFrame as a markdown table (NaN shown as —)."""
    def fmt(v):
        if v is pd.NA:
            return "—"
        if isinstance(v, (float, np.floating)):
            return "—" if not np.isfinite(v) else floatfmt.format(v)
        return str(v)

    head = "| " + " | ".join(map(str, df.columns)) + " |"
    sep = "|" + "|".join("---" for _ in df.columns) + "|"
    body = ["| " + " | ".join(fmt(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, sep, *body])
