"""The P2P study's report: every method's community cost and peak over the test days beside the
centralised optimum, per cluster, training curves and wall-clock, a typical day, the distribution of
household savings, unmet EV energy and comfort, the paper's three claims judged on our data, and
the exploitability of MADDPG-PS (sampled households' LP best responses and trained best responders). Reads only the study folder (`python -m runs.report DIR` rebuilds it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from runs.reports.common import (
    clock_section, clock_table, cluster_curves, comfort_by_week, comfort_section, comfort_sentence, fig_comfort,
    learning_clusters, legend_marks_last, load_methods, mark_selected, mark_settled, md_table, per_cluster_per_day, plt,
    save_figure, selection_note, train_time_columns, trend_display, trend_sentence, trend_table, typed_options,
    unfinished_note, week_order,
)
from runs.studies.p2p import METHODS, SCENARIO

LEARNERS = ("maddpg-ps", "ddpg-ps", "one-cluster", "maddpg")
#: the learned methods whose heat pumps' comfort the report shows by week and seed (not the one-cluster baseline,
#: whose diverged seeds would set the figure's scale), and the rule thermostat beside them
COMFORT_METHODS, THERMOSTAT = ("maddpg-ps", "ddpg-ps", "maddpg", "maddpg-ps-nopeak"), "p2p-rules"
COLORS = {"no-p2p-rules": "tab:gray", "p2p-rules": "tab:olive", "maddpg-ps": "tab:blue", "ddpg-ps": "tab:orange",
          "one-cluster": "tab:purple", "maddpg": "tab:brown", "maddpg-ps-nopeak": "tab:cyan", "optimum": "k"}
HOURS_PER_DAY = 24


def _label(method: str) -> str:
    return METHODS[method].label if method in METHODS else method


# ---------------------------------------------------------------------------------------------
# loading
# ---------------------------------------------------------------------------------------------
def load(study: Path) -> dict:
    study = Path(study)
    data = load_methods(study, METHODS)
    folder = study / "optimum"
    data["optimum"] = {f.stem: pd.read_csv(f) for f in sorted(folder.glob("*.csv"))} if folder.exists() else {}
    checks = study / "checks"
    br = [pd.read_csv(f).assign(seed=int(f.stem.rpartition("seed")[2]))
          for f in sorted(checks.glob("household_br_seed*.csv"))] if checks.exists() else []
    br = [b for b in br if len(b)]
    data["household_br"] = pd.concat(br, ignore_index=True) if br else pd.DataFrame()
    clock = [pd.read_csv(f).assign(seed=int(f.stem.rpartition("seed")[2]))
             for f in sorted(checks.glob("household_clock_seed*.csv"))] if checks.exists() else []
    clock = [c for c in clock if len(c)]
    data["household_clock"] = pd.concat(clock, ignore_index=True) if clock else pd.DataFrame()
    files = sorted(checks.glob("household_responders_seed*.csv")) if checks.exists() else []
    for key, curve in (("responders", False), ("responder_curves", True)):
        frames = [pd.read_csv(f).assign(seed=int(f.stem.rpartition("seed")[2].removesuffix("-curve")))
                  for f in files if f.stem.endswith("-curve") == curve]
        data[key] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return data


def _kind(week: pd.Series) -> pd.Series:
    return week.astype(str).str.split(":").str[0]


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
def daily(hours: pd.DataFrame) -> pd.DataFrame:
    """Per method, seed and day: community cost (EUR), peak import (kW), P2P-traded and demand (kWh),
    unmet EV energy (kWh), comfort violation (K h). `hours`: the evaluations' hours.csv rows."""
    h = hours.assign(day=(hours.hour // HOURS_PER_DAY))
    cost = h.bill_eur + h.peak_penalty_eur + h.device_penalty_eur - h.storage_value_eur
    h = h.assign(cost_eur=cost)
    keys = ["method", "seed", "week", "day"]
    sums = h.groupby(keys)[["cost_eur", "ev_unmet_kwh", "comfort_violation_kh"]].sum()
    community = h.drop_duplicates(["method", "seed", "hour"])  # community columns repeat on every cluster's row
    c = community.groupby(keys).agg(peak_import_kw=("grid_import_kw", "max"), p2p_kwh=("p2p_kw", "sum"),
                                    demand_kwh=("demand_kw", "sum"),
                                    peak_penalty_eur=("community_peak_penalty_eur", "sum"))
    return sums.join(c).reset_index()


def optimum_daily(optimum: dict[str, pd.DataFrame]) -> pd.DataFrame:
    rows = [o.assign(scenario=sc).rename(columns={"total_eur": "cost_eur"}) for sc, o in optimum.items()]
    return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()


def methods_table(days: pd.DataFrame, opt: pd.DataFrame, times: pd.DataFrame, which: str = "test") -> pd.DataFrame:
    """Per method over the `which` days ("test", "train"): the mean per day over days and seeds, and the
    seeds' range of the community cost; the gap to the optimum of the same scenario and days."""
    d = days[_kind(days.week) == which]
    per_seed = d.groupby(["method", "seed"])[["cost_eur", "peak_import_kw", "p2p_kwh", "demand_kwh", "ev_unmet_kwh",
                                              "comfort_violation_kh"]].mean()
    rows = []
    for m, g in per_seed.groupby(level="method"):
        mean = g.mean()
        row = {"method": m, "seeds": len(g), "cost_eur_per_day": mean.cost_eur, "cost_min_seed": g.cost_eur.min(),
               "cost_max_seed": g.cost_eur.max(), "peak_import_kw": mean.peak_import_kw,
               "p2p_share_of_demand": mean.p2p_kwh / mean.demand_kwh if mean.demand_kwh else np.nan,
               "ev_unmet_kwh_per_day": mean.ev_unmet_kwh, "comfort_violation_kh_per_day": mean.comfort_violation_kh}
        o = opt[(opt.scenario == METHODS[m].scenario) & (_kind(opt.week) == which)] if len(opt) else opt
        if len(o):
            row["optimum_cost_eur_per_day"] = o.cost_eur.mean()
            row["gap_to_optimum_pct"] = 100 * (mean.cost_eur - o.cost_eur.mean()) / abs(o.cost_eur.mean())
            row["optimum_peak_import_kw"] = o.peak_import_kw.mean()
        rows.append(row | train_time_columns(times, m))
    order = {m: i for i, m in enumerate(METHODS)}
    return pd.DataFrame(rows).sort_values("method", key=lambda s: s.map(order)).reset_index(drop=True)


def cluster_table(hours: pd.DataFrame) -> pd.DataFrame:
    """Each cluster's cost per household and day (test days, mean over seeds), per method."""
    h = hours[_kind(hours.week) == "test"]
    return per_cluster_per_day(h, (h.bill_eur + h.peak_penalty_eur + h.device_penalty_eur - h.storage_value_eur), HOURS_PER_DAY)


def savings(scores: pd.DataFrame, method: str = "maddpg-ps", reference: str = "no-p2p-rules") -> pd.Series:
    """Each household's saving (EUR per test day, mean over seeds) with `method` against `reference`."""
    t = scores[_kind(scores.week) == "test"]
    per = t.groupby(["method", "seed", "household"]).total_eur.sum() / (7 * t.week.nunique())
    per = per.groupby(["method", "household"]).mean()
    if method not in per.index.get_level_values(0) or reference not in per.index.get_level_values(0):
        return pd.Series(dtype=float)
    return per.loc[method] - per.loc[reference]  # rewards: + = the household pays less


def household_regrets(br: pd.DataFrame) -> pd.DataFrame:
    """Per sampled household and seed (`checks/household_br_seed*.csv`): its cluster and its mean
    learned cost, best response's realised cost, LP cost at the faced prices and regret, € per day."""
    cols = ["learned_cost_eur", "best_response_cost_eur", "lp_cost_eur", "regret_eur"]
    return br.groupby(["seed", "household", "cluster"])[cols].mean().reset_index()


def exploitability_table(br: pd.DataFrame) -> pd.DataFrame:
    """Per cluster (and all together): the households sampled (over seeds), their mean learned cost,
    best response's realised cost and regret (€ per household and day), the price-taker's regret at the
    faced prices (learned - LP, >= 0) and the share of households whose mean regret is positive."""
    per = household_regrets(br)
    rows = []
    for cluster, g in [*per.groupby("cluster", sort=True), ("all", per)]:
        rows.append({"cluster": cluster, "households_sampled": len(g), "learned_cost_eur_per_day": g.learned_cost_eur.mean(),
                     "best_response_cost_eur_per_day": g.best_response_cost_eur.mean(),
                     "regret_eur_per_day": g.regret_eur.mean(),
                     "price_taker_regret_eur_per_day": (g.learned_cost_eur - g.lp_cost_eur).mean(),
                     "share_positive_regret": (g.regret_eur > 0).mean()})
    return pd.DataFrame(rows)


def exploitability_by_week(br: pd.DataFrame) -> pd.DataFrame:
    """`exploitability_table` for each checked week on its own (a `week` column first), where more than
    one week is checked (the paper profile: a winter and a summer week, whose devices and prices differ);
    empty for one week, which the pooled table already is."""
    weeks = sorted(br.week.unique(), key=week_order)
    if len(weeks) < 2:
        return pd.DataFrame()
    return pd.concat([exploitability_table(br[br.week == w]).assign(week=w) for w in weeks], ignore_index=True).pipe(
        lambda t: t[["week", *t.columns[:-1]]])


def responder_table(rs: pd.DataFrame, br: pd.DataFrame) -> pd.DataFrame:
    """Per cluster (and all together), the trained best responders (`checks/household_responders_seed*.csv`,
    one household per cluster and seed): how many, their learned cost and the responder's, both € per
    household and day over the scoring days; the gain = learned cost - responder cost (+ = the responder
    pays less: the learned policy leaves that much), also as % of the learned cost's magnitude; how
    many kept the learned actor (best_episode 0: nothing better found on the validation weeks); and the
    same households' LP regret from the LP check (`household_regrets`; same sign: + = the LP saves)."""
    r = rs.assign(learned_cost=-rs.learned_eur / rs.days, responder_cost=-rs.responder_eur / rs.days,
                  gain=rs.gain_eur / rs.days)
    if len(br):
        lp = household_regrets(br)[["seed", "household", "regret_eur"]].rename(columns={"household": "participant"})
        r = r.merge(lp, on=["seed", "participant"], how="left")
    else:
        r = r.assign(regret_eur=np.nan)
    rows = []
    for cluster, g in [*r.groupby("cluster", sort=True), ("all", r)]:
        rows.append({"cluster": cluster, "households": len(g), "episodes": int(g.episodes.max()),
                     "learned_cost_eur_per_day": g.learned_cost.mean(), "responder_cost_eur_per_day": g.responder_cost.mean(),
                     "gain_eur_per_day": g.gain.mean(),
                     "gain_pct_of_learned_cost": 100 * g.gain.mean() / max(abs(g.learned_cost.mean()), 1e-9),
                     "kept_learned": int((g.best_episode == 0).sum()),
                     "lp_regret_eur_per_day": g.regret_eur.mean()})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------------------------------------
# the paper's claims
# ---------------------------------------------------------------------------------------------
def claims(days: pd.DataFrame, mt: pd.DataFrame, mt_train: pd.DataFrame) -> list[dict]:
    out = []
    t = mt.set_index("method") if len(mt) else mt
    test = days[_kind(days.week) == "test"]
    per_seed = test.groupby(["method", "seed"])[["cost_eur", "peak_import_kw"]].mean()
    others = [m for m in LEARNERS[1:] if m in t.index]
    if "maddpg-ps" in t.index and others:
        wins = []
        for m in others:
            both = per_seed.loc["maddpg-ps"].join(per_seed.loc[m], rsuffix="_o", how="inner")
            wins.append(f"{_label(m)}: cost lower in {int((both.cost_eur < both.cost_eur_o).sum())} of {len(both)} seeds, "
                        f"peak in {int((both.peak_import_kw < both.peak_import_kw_o).sum())} of {len(both)}")
        ok = all(t.loc["maddpg-ps", c] <= t.loc[m, c] for m in others for c in ("cost_eur_per_day", "peak_import_kw"))
        out.append({"claim": "clustered MADDPG-PS beats the other learners on system cost and peak", "held": ok,
                    "evidence": f"cost {t.loc['maddpg-ps', 'cost_eur_per_day']:,.1f} €/day vs "
                                + ", ".join(f"{t.loc[m, 'cost_eur_per_day']:,.1f} ({_label(m)})" for m in others)
                                + f"; peak {t.loc['maddpg-ps', 'peak_import_kw']:,.0f} kW vs "
                                + ", ".join(f"{t.loc[m, 'peak_import_kw']:,.0f}" for m in others) + ". " + "; ".join(wins)})
    if {"maddpg-ps", "maddpg"} <= set(t.index) and "train_s_per_day" in t:
        a, b = t.loc["maddpg-ps", "train_s_per_day"], t.loc["maddpg", "train_s_per_day"]
        out.append({"claim": "MADDPG-PS trains faster than MADDPG without sharing", "held": bool(a < b),
                    "evidence": f"{a:.3f} vs {b:.3f} s of wall-clock per training day ({b / a:.1f}x), one process each"})
    if len(mt_train) and "maddpg-ps" in t.index and "gap_to_optimum_pct" in t:
        tr = mt_train.set_index("method")
        if "maddpg-ps" in tr.index and "gap_to_optimum_pct" in tr:
            g_test, g_train = t.loc["maddpg-ps", "gap_to_optimum_pct"], tr.loc["maddpg-ps", "gap_to_optimum_pct"]
            evidence = (f"gap to the optimum {g_test:.1f} % on the test days vs {g_train:.1f} % on training days "
                        "(held: within 5 percentage points or better)")
            if {"cost_eur_per_day", "optimum_cost_eur_per_day"} <= set(t.columns) & set(tr.columns):
                a_test = t.loc["maddpg-ps", "cost_eur_per_day"] - t.loc["maddpg-ps", "optimum_cost_eur_per_day"]
                a_train = tr.loc["maddpg-ps", "cost_eur_per_day"] - tr.loc["maddpg-ps", "optimum_cost_eur_per_day"]
                evidence += (f"; in € per day the gap is {a_test:,.1f} on the test days vs {a_train:,.1f} on training days "
                             "(the optimum's own cost differs between the two sets of days)")
            out.append({"claim": "MADDPG-PS keeps its performance on the unseen test days", "held": bool(g_test <= g_train + 5),
                        "evidence": evidence})
    return out


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def fig_methods(mt: pd.DataFrame, path: Path):
    p = plt()
    fig, axes = p.subplots(1, 2, figsize=(12, 4))
    x = np.arange(len(mt))
    for ax, col, opt, title in ((axes[0], "cost_eur_per_day", "optimum_cost_eur_per_day", "community cost (€ per day)"),
                                (axes[1], "peak_import_kw", "optimum_peak_import_kw", "community peak import, kW (mean of daily peaks)")):
        ax.bar(x, mt[col], color=[COLORS.get(m, "tab:gray") for m in mt.method])
        if col == "cost_eur_per_day" and {"cost_min_seed", "cost_max_seed"} <= set(mt):
            ax.errorbar(x, mt[col], yerr=[mt[col] - mt.cost_min_seed, mt.cost_max_seed - mt[col]], fmt="none", ecolor="k",
                        capsize=3, lw=1)
        if opt in mt:
            ax.scatter(x, mt[opt], marker="_", s=400, color="k", zorder=3, label="centralised optimum (same scenario)")
            ax.legend(fontsize=8)
        ax.set_xticks(x, [_label(m) for m in mt.method], rotation=25, ha="right", fontsize=8)
        ax.set_title(title)
    fig.suptitle("Test days: every method (bars; whiskers = range over seeds) and the optimum")
    save_figure(fig, path)


def community_curve(g: pd.DataFrame) -> pd.DataFrame:
    """One method's training curve: the community's cost on the evaluation week, € per day, episodes x seeds."""
    return -g.groupby(["seed", "episode"]).eval_score_eur.sum().unstack(0) / 7


def convergence_table(curves: pd.DataFrame, clusters: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """Whether each learned method's training curves had settled (`learning_trend` of `community_curve`, then of each
    learning cluster's households, `cluster_curves`; `clusters`: per method, `learning_clusters`)."""
    return trend_table({(m, what): per for m, g in curves.groupby("method", sort=False)
                        for what, per in ({"community cost (€ per day)": community_curve(g)}
                                          | cluster_curves(g, "household", (clusters or {}).get(m, {}))).items()})


def fig_curves(curves: pd.DataFrame, path: Path, selected: pd.DataFrame | None = None):
    """The community's cost on the evaluation week over training, per method (band = seeds): all evaluations on the
    left; on the right from the second evaluation on, whose scale the untrained day 0 (several times the learned
    cost) would flatten on the left; triangles where each had settled (`mark_settled`)."""
    p = plt()
    fig, axes = p.subplots(1, 2, figsize=(14, 4), gridspec_kw={"width_ratios": [1, 1.6]})
    labelled, settled = [], []
    later = sorted(curves.episode.unique())[1:2]  # the second evaluation's episode
    for m, g in curves.groupby("method"):
        per = community_curve(g)
        for ax, shown in ((axes[0], per), (axes[1], per[per.index >= later[0]] if later else per)):
            ax.plot(shown.index, shown.mean(1), color=COLORS.get(m), label=_label(m))
            ax.fill_between(shown.index, shown.min(1), shown.max(1), color=COLORS.get(m), alpha=0.2, lw=0)
            if selected is not None:
                mark_selected(ax, shown, selected, m, COLORS.get(m), labelled)
            mark_settled(ax, per, COLORS.get(m), settled, since=float(shown.index.min()))
    axes[0].set(xlabel="training day (episode)", ylabel="community cost (€ per day)", title="Training: the evaluation week")
    axes[1].set(xlabel="training day (episode)", ylabel="community cost (€ per day)",
                title=f"From day {later[0] if later else 0} on (band = seeds)")
    legend_marks_last(axes[1], fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # beside the axes: curves fill them
    save_figure(fig, path)


def typical_day(hours: pd.DataFrame) -> tuple[str, int] | None:
    """A test day with the typical (median) community demand (of the rule-based P2P run)."""
    h = hours[(hours.method == "p2p-rules") & (_kind(hours.week) == "test")].drop_duplicates("hour")
    if h.empty:
        return None
    per = h.assign(day=h.hour // HOURS_PER_DAY).groupby(["week", "day"]).demand_kw.sum()
    key = (per - per.median()).abs().idxmin()
    return key


def fig_typical_day(hours: pd.DataFrame, path: Path) -> str | None:
    key = typical_day(hours)
    if key is None:
        return None
    week, day = key
    p = plt()
    fig, axes = p.subplots(2, 1, figsize=(10, 7), sharex=True)
    h = hours[(hours.week == week) & (hours.hour // HOURS_PER_DAY == day) & (hours.seed == 0)].drop_duplicates(["method", "hour"])
    for m in ("no-p2p-rules", "maddpg-ps", "maddpg-ps-nopeak"):
        g = h[h.method == m]
        if len(g):
            axes[0].plot(g.hour_of_week % 24, g.grid_import_kw - g.grid_export_kw, color=COLORS[m], label=_label(m), lw=1.5)
    axes[0].set(ylabel="community net import, kW", title=f"A typical test day ({week}, day {day + 1}): community net load")
    axes[0].axhline(0, color="k", lw=0.6)
    axes[0].legend(fontsize=8)
    g = h[h.method == "maddpg-ps"]
    if g.empty:
        g = h[h.method == "p2p-rules"]
    hod = g.hour_of_week % 24
    axes[1].plot(hod, g.import_tariff_eur_mwh, "k--", lw=1, label="import tariff")
    axes[1].plot(hod, g.export_tariff_eur_mwh, "k:", lw=1, label="export (feed-in) tariff")
    axes[1].plot(hod, g.buy_price_eur_mwh, color="tab:red", label="MMR buy price")
    axes[1].plot(hod, g.sell_price_eur_mwh, color="tab:green", label="MMR sell price")
    axes[1].set(xlabel="hour of day", ylabel="€/MWh", title=f"MMR prices between the tariffs ({_label(g.method.iloc[0])})")
    axes[1].legend(fontsize=8, ncol=2)
    save_figure(fig, path)
    return f"{week}, day {day + 1}"


def fig_clusters(ct: pd.DataFrame, path: Path):
    p = plt()
    clusters = [c for c in ct.columns if c != "method"]
    fig, ax = p.subplots(figsize=(10, 4))
    w = 0.8 / max(len(ct), 1)
    x = np.arange(len(clusters))
    for j, row in enumerate(ct.itertuples(index=False)):
        ax.bar(x + (j - (len(ct) - 1) / 2) * w, [getattr(row, c) if hasattr(row, c) else row[1 + k]
                                                  for k, c in enumerate(clusters)],
               w, color=COLORS.get(row.method), label=_label(row.method))
    ax.set_xticks(x, clusters)
    ax.set(ylabel="€ per household and day", title="Cost per household by cluster (test days)")
    ax.legend(fontsize=7, ncol=2)
    save_figure(fig, path)


def fig_exploitability(br: pd.DataFrame, path: Path):
    """Per cluster (own y-scale: the clusters' regrets differ by orders of magnitude): each sampled
    household's regret per day (grey dots) and its mean over the checked days (coloured by seed), a
    box over the means, the zero line."""
    p = plt()
    per = household_regrets(br)
    clusters = sorted(per.cluster.unique())
    fig, axes = p.subplots(1, len(clusters), figsize=(max(3.2 * len(clusters), 6), 4), squeeze=False)
    rng = np.random.default_rng(0)
    seeds = sorted(per.seed.unique())
    for ax, cluster in zip(axes[0], clusters):
        days, means = br[br.cluster == cluster], per[per.cluster == cluster]
        ax.axhline(0, color="k", lw=0.8)
        ax.boxplot(means.regret_eur, positions=[0], widths=0.5, showfliers=False,
                   medianprops={"color": "k"}, boxprops={"color": "0.4"}, whiskerprops={"color": "0.4"})
        ax.scatter(rng.uniform(-0.3, 0.3, len(days)), days.regret_eur, s=8, color="0.6", alpha=0.6,
                   label="a household-day", zorder=2)
        for k, seed in enumerate(seeds):
            m = means[means.seed == seed]
            ax.scatter(rng.uniform(-0.15, 0.15, len(m)), m.regret_eur, s=36, color=f"C{k}", edgecolor="k", lw=0.5,
                       label=f"a household's mean, seed {seed}", zorder=3)
        ax.set_xticks([])
        ax.set_xlim(-0.6, 0.6)
        ax.set_title(f"{cluster}: mean {means.regret_eur.mean():,.2f} €/day", fontsize=9)
    axes[0][0].set_ylabel("regret, € per day (+ = its LP plan saves this)")
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=min(len(labels), 4), fontsize=8, frameon=False)
    fig.suptitle("Exploitability of MADDPG-PS: one household's best response (its LP at the prices it faced),\n"
                 "everyone else at their learned policies; box: the households' means", fontsize=10)
    save_figure(fig, path, rect=(0, 0.07, 1, 1))


def fig_savings(s: pd.Series, path: Path):
    p = plt()
    fig, ax = p.subplots(figsize=(8, 3.8))
    ax.hist(s, bins=40, color="tab:blue", alpha=0.8)
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="saving, € per day (+ = pays less)", ylabel="households",
           title=f"Household savings: MADDPG-PS against no P2P with rules (test days); {100 * (s < 0).mean():.0f} % worse off")
    save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------
def reading(mt: pd.DataFrame, cl: list[dict], prof: dict, ex: pd.DataFrame | None = None,
            rt: pd.DataFrame | None = None, cw: pd.DataFrame | None = None, cv: pd.DataFrame | None = None) -> str:
    """One paragraph for the index of studies (`runs.index`): costs, peaks and the paper's claims."""
    parts = [f"300 households in DER clusters trade on a mid-market-rate platform with a peak penalty; MADDPG with "
             f"parameter sharing per cluster and its variants ({prof.get('episodes', '?')} training days x "
             f"{prof.get('seeds', '?')} seeds)."]
    if len(mt):
        t = mt.set_index("method")
        shown = [m for m in ("no-p2p-rules", "p2p-rules", "maddpg-ps", "ddpg-ps", "maddpg-ps-nopeak") if m in t.index]
        parts.append("Community cost on the test days: " + ", ".join(
            f"{_label(m)} €{t.loc[m, 'cost_eur_per_day']:,.0f}/day (peak {t.loc[m, 'peak_import_kw']:,.0f} kW)"
            for m in shown) + ".")
        if "maddpg-ps" in t.index and "gap_to_optimum_pct" in t:
            parts.append(f"MADDPG-PS is {t.loc['maddpg-ps', 'gap_to_optimum_pct']:.0f} % above the centralised "
                         "perfect-foresight optimum.")
    if cl:
        parts.append(f"{sum(c['held'] for c in cl)} of {len(cl)} of the paper's claims hold here ("
                     + "; ".join(f"{c['claim']}: {'yes' if c['held'] else 'no'}" for c in cl) + ").")
    if ex is not None and len(ex):
        a = ex.set_index("cluster").loc["all"]
        parts.append(f"A sampled household's LP best response, everyone else fixed, saves it {a.regret_eur_per_day:,.2f} "
                     f"€/day on average ({100 * a.share_positive_regret:.0f} % of households gain).")
    if rt is not None and len(rt):
        a = rt.set_index("cluster").loc["all"]
        parts.append(f"A best responder trained for {int(a.episodes):,} days (one household per cluster, everyone else "
                     f"frozen) gains it {a.gain_eur_per_day:,.2f} €/day ({a.gain_pct_of_learned_cost:+.1f} % of its "
                     f"learned cost; {int(a.kept_learned)} of {int(a.households)} found nothing better).")
    if cw is not None and len(cw):
        parts.append(comfort_sentence(cw, "maddpg-ps", _label))
    if cv is not None and len(cv):
        parts.append(trend_sentence(cv, _label, brief=True))
    return " ".join(p for p in parts if p)


def _section_responders(rt: pd.DataFrame, rs: pd.DataFrame, prof: dict) -> list[str]:
    """The trained best responders: what they are, and their table beside the LP regret."""
    validation = ", ".join(prof.get("responder_validation_weeks") or ["eval:1"])
    weeks = ", ".join(sorted(set(" ".join(rs.weeks.astype(str)).split())))
    return [
        "### Trained best responders\n",
        (f"The standard multi-agent RL measure of exploitability: for one household per learning cluster (the first of "
        f"the LP check's sample, so the same household's LP regret stands beside it) everyone else's learned policy is "
        f"frozen and the household's own policy keeps training alone for {int(rt.episodes.max()):,} random training "
        "days with the learner's own hyperparameters (`runs/best_response.py`): its actor starts from its cluster's "
        "learned shared actor, its critics are fresh (fitted alone for a warm-up first). Every eighth of the budget "
        f"it is scored on the validation week(s) {validation} and the best-scoring actor is kept, the learned one "
        f"(day 0) included; it is then scored on the check's days ({weeks}) against the learned household, from the "
        "same start states. Gain = learned cost - responder cost, € per household and day: **+ = the responder pays "
        "less**, i.e. the learned policy leaves that much on the table (the LP regret beside it has the same sign); "
        "`gain_pct_of_learned_cost`: % of the learned cost's magnitude; `kept_learned`: responders that kept the "
        "learned actor (gain 0: nothing better found). The responder sees only what the learned policy sees and has no "
        "foresight, so its gain is a lower bound on what the household could gain within its observations; the LP "
        "plans the day with perfect foresight but as a price-taker. MADDPG-PS (`checks/household_responders_seed*.csv`, "
        "curves in `-curve.csv`):\n"),
        md_table(rt, "{:,.3f}"),
    ]


def build_report(study: Path) -> Path:
    study = Path(study)
    data = load(study)
    (study / "tables").mkdir(exist_ok=True)
    (study / "figures").mkdir(exist_ok=True)
    days = daily(data["hours"]) if len(data["hours"]) else pd.DataFrame()
    opt = optimum_daily(data["optimum"])
    mt = methods_table(days, opt, data["times"]) if len(days) else pd.DataFrame()
    mt_train = methods_table(days, opt, data["times"], "train") if len(days) else pd.DataFrame()
    ct = cluster_table(data["hours"]) if len(data["hours"]) else pd.DataFrame()
    sv = savings(data["scores"]) if len(data["scores"]) else pd.Series(dtype=float)
    cl = claims(days, mt, mt_train) if len(mt) else []
    br = data["household_br"]
    ex = exploitability_table(br) if len(br) else pd.DataFrame()
    exw = exploitability_by_week(br) if len(br) else pd.DataFrame()
    rs = data["responders"]
    rt = responder_table(rs, br) if len(rs) else pd.DataFrame()
    ck = clock_table(data["household_clock"]) if len(data.get("household_clock", ())) else pd.DataFrame()
    cw = (comfort_by_week(days, THERMOSTAT, COMFORT_METHODS, opt[opt.scenario == SCENARIO] if len(opt) else None)
          if len(days) else pd.DataFrame())
    cv = (convergence_table(data["curves"], {m: learning_clusters(study, m) for m in data["methods"]})
          if len(data["curves"]) else pd.DataFrame())
    for name, df in (("methods_test_days", mt), ("methods_training_days", mt_train), ("clusters", ct),
                     ("days", days), ("optimum_days", opt), ("exploitability", ex),
                     ("exploitability_by_week", exw), ("responders", rt), ("comfort_by_week", cw), ("clock_schedule", ck),
                     ("convergence", cv)):
        if len(df):
            df.to_csv(study / "tables" / f"{name}.csv", index=False, float_format="%.6g")
    if len(sv):
        sv.rename("saving_eur_per_day").to_csv(study / "tables" / "household_savings.csv", float_format="%.6g")

    figs = {}
    f = study / "figures"
    if len(mt):
        fig_methods(mt, f / "methods.png")
        figs["methods.png"] = "Community cost and peak per method, beside the centralised optimum"
    if len(data["curves"]):
        fig_curves(data["curves"], f / "training_curves.png", data.get("selected"))
        figs["training_curves.png"] = "Training curves"
    day = fig_typical_day(data["hours"], f / "typical_day.png") if len(data["hours"]) else None
    if day:
        figs["typical_day.png"] = f"A typical day ({day}): net load and MMR prices"
    if len(ct):
        fig_clusters(ct, f / "clusters.png")
        figs["clusters.png"] = "Cost per household by cluster"
    if len(sv):
        fig_savings(sv, f / "savings.png")
        figs["savings.png"] = "Distribution of household savings"
    if len(br):
        fig_exploitability(br, f / "exploitability.png")
        figs["exploitability.png"] = "Exploitability of MADDPG-PS: sampled households' regret by cluster"
    if len(cw):
        fig_comfort(cw, f / "comfort.png", _label)
        figs["comfort.png"] = "The heat pumps' comfort violation by test week and seed"

    prof = data["meta"].get("profile", {})
    L = [f"# P2P study report: profile `{prof.get('name', '?')}`\n", unfinished_note(data["meta"]),
         f"Generated by `localmarl study --design p2p --profile {prof.get('name', '?')}{typed_options(data['meta'])}`; "
         f"{prof.get('seeds', '?')} seed(s), "
         f"{prof.get('episodes', '?')} training days per learner. The profile as defined: {prof.get('note', '')}.",
         "Costs are the community's (the households' MMR bills, which sum to its grid bill, plus peak and device "
         "penalties, minus the value of energy stored over the day), € per day over the test days. Numbers are "
         "bitwise reproducible on one machine for the same seeds; across machines, expect small differences.\n",
         selection_note(data.get("selected")),
         "## The paper's claims on our data\n"]
    if cl:
        L.append(md_table(pd.DataFrame([{"claim": c["claim"], "held here": "yes" if c["held"] else "**no**",
                                         "evidence": c["evidence"]} for c in cl])))
    L.append("\n## Every method on the test days\n")
    L.append("Mean per day over days and seeds; `cost_min/max_seed`: the range of the seeds' means; the gap is to the "
             "centralised perfect-foresight optimum of the same scenario and days (no method can do better).\n")
    if len(mt):
        L.append(md_table(mt.assign(method=mt.method.map(_label)), "{:,.2f}"))
    if len(mt_train):
        L.append("\nThe same on training days (the generalisation check):\n")
        L.append(md_table(mt_train.assign(method=mt_train.method.map(_label))[
            [c for c in ("method", "cost_eur_per_day", "optimum_cost_eur_per_day", "gap_to_optimum_pct") if c in mt_train]],
            "{:,.2f}"))
    L.append("\n## Per cluster (€ per household and day, test days)\n")
    if len(ct):
        L.append(md_table(ct.assign(method=ct.method.map(_label)), "{:,.3f}"))
    if len(sv):
        L.append(f"\nHousehold savings with MADDPG-PS against no P2P with rules: median {sv.median():.3f} €/day, "
                 f"{100 * (sv < 0).mean():.0f} % of households worse off (table `household_savings.csv`).")
    if len(cv):
        L.append("\n## Had learning settled?\n")
        L.append("The training curves over the last quarter of training: the community's cost on the evaluation week and "
                 "each learning cluster's households' (each cluster is one learner where its households share their "
                 "networks; `tables/convergence.csv`). " + trend_sentence(cv, _label)
                 + " The training-curve figure marks each method's settled day.\n")
        L.append(md_table(trend_display(cv.assign(method=cv.method.map(_label))), "{:,.2f}"))
    if len(ex) or len(rt):
        L.append("\n## Exploitability\n")
    if len(ex):
        weeks = ", ".join(sorted(br.week.unique()))
        L.append("For a sample of learning households per cluster, each checked day is replayed with one household "
                 "playing its own perfect-foresight LP schedule, planned as a price-taker at the MMR prices (and the "
                 "peak-penalty share per kWh imported) it faced under the learned policies, while everyone else keeps "
                 "their learned policies. The regret, its learned cost less its realised cost in that replay, is what "
                 "leaving the learned policy would have saved it; it can be negative, because the plan ignores its own "
                 "effect on the prices and the peak penalty and the others' reaction (the price-taker's regret at the "
                 "faced prices, learned - LP, is never negative).\n")
        L.append(f"MADDPG-PS, {weeks}, € per household and day (mean over each household's checked days; "
                 f"`checks/household_br_seed*.csv`):\n")
        L.append(md_table(ex, "{:,.3f}"))
        if len(exw):
            L.append("\nThe same for each checked week on its own (`tables/exploitability_by_week.csv`):\n")
            L.append(md_table(exw, "{:,.3f}"))
    if len(ck):
        L += clock_section(ck, "checks/household_clock_seed*.csv", prof=prof)
    if len(rt):
        L += ["", *_section_responders(rt, rs, prof)]
    if len(cw):
        L += comfort_section(cw, _label)
    L.append("\n## Figures\n")
    for name, cap in figs.items():
        L.append(f"### {cap}\n\n![{cap}](figures/{name})\n")
    path = study / "report.md"
    path.write_text("\n".join(L) + "\n")
    (study / "reading.md").write_text(reading(mt, cl, prof, ex, rt, cw, cv) + "\n")
    return path



