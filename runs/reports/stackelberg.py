"""The Stackelberg study's report: every method's leader profit, followers' cost (per cluster and
against retail only, with the share of followers worse off), P2P volume and price, the aggregator's
imbalance, the community's peak and training time over the test days; what the leader-follower order
buys over simultaneous moves; the exact Stackelberg solution of the small instance beside the
learned leader; the exploitability of both levels (best responses searched, and trained). Reads only the study folder (`python -m
runs.report DIR` rebuilds it)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from model.markets.settlement import imbalance_spread_cost_eur
from runs.reports.common import (
    clock_section, clock_table, cluster_curves, comfort_by_week, comfort_section, comfort_sentence, fig_comfort,
    learning_clusters, legend_marks_last, load_methods, mark_selected, mark_settled, md_table, per_cluster_per_day, plt,
    save_figure, selection_note, SETTLED_SHARE, train_time_columns, trend_display, trend_sentence, trend_table,
    typed_options, unfinished_note, week_order,
)
from runs.studies.stackelberg import METHODS, SCENARIO

#: the learned methods whose heat pumps' comfort the report shows by week and seed, and the rule thermostat beside them
LEARNED, THERMOSTAT = ("stackelberg", "simultaneous"), "p2p-tariff-rules"
COLORS = {"retail-only": "tab:gray", "p2p-tariff-rules": "tab:olive", "p2p-margin-rules": "tab:green",
          "stackelberg": "tab:blue", "simultaneous": "tab:orange", "stackelberg-small": "tab:purple"}
HOURS_PER_DAY = 24
LEADER = "aggregator"
REGRET_CURVE = "leader's regret (% of its profit)"  # `curve_series`' third curve, where the run has it
SETTLED_TOLERANCES = {REGRET_CURVE: 100 * SETTLED_SHARE}  # `settled_from`: the regret within 1 point, 1 % of the profit


def _label(method: str) -> str:
    return METHODS[method].label if method in METHODS else method


def _kind(week: pd.Series) -> pd.Series:
    return week.astype(str).str.split(":").str[0]


def load(study: Path) -> dict:
    study = Path(study)
    data = load_methods(study, METHODS)
    optimum = study / "optimum" / f"{SCENARIO}.csv"  # the followers' day optimum at the grid tariffs (comfort reference)
    data["optimum"] = pd.read_csv(optimum) if optimum.exists() else pd.DataFrame()
    checks = study / "checks"

    def read(pattern: str) -> pd.DataFrame:
        rows = []
        for f in sorted(checks.glob(pattern)) if checks.exists() else []:
            seed = f.stem.rpartition("seed")[2]
            rows.append(pd.read_csv(f).assign(seed=int(seed) if seed.isdigit() else 0))
        return pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()

    data |= {"exact_grid": read("exact_grid.csv"), "exact_days": read("exact_days.csv"),
             "replayed": read("learned_prices_replayed_seed*.csv"), "leader_br": read("leader_br_seed*.csv"),
             "leader_schedule": read("leader_schedule_seed*.csv"),
             "follower_br": read("follower_br_seed*.csv"), "follower_clock": read("follower_clock_seed*.csv")}
    files = sorted(checks.glob("responders_seed*.csv")) if checks.exists() else []
    for key, curve in (("responders", False), ("responder_curves", True)):
        frames = [pd.read_csv(f).assign(seed=int(f.stem.rpartition("seed")[2].removesuffix("-curve")))
                  for f in files if f.stem.endswith("-curve") == curve]
        data[key] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return data


# ---------------------------------------------------------------------------------------------
# tables
# ---------------------------------------------------------------------------------------------
def daily(hours: pd.DataFrame) -> pd.DataFrame:
    """Per method, seed and day: leader profit, followers' cost, P2P volume, imbalance, peak import,
    unmet EV energy, comfort violation. `hours`: the evaluations' hours.csv rows (per hour and cluster,
    the community's columns repeated on every cluster's row)."""
    h = hours.assign(day=hours.hour // HOURS_PER_DAY)
    h = h.assign(follower_cost_eur=h.auction_eur + h.retail_eur + h.device_penalty_eur - h.storage_value_eur)
    keys = ["method", "seed", "week", "day"]
    f = h.groupby(keys)[["follower_cost_eur", "ev_unmet_kwh", "comfort_violation_kh"]].sum()
    c = h.drop_duplicates(["method", "seed", "hour"]).assign(
        imbalance_kwh=lambda x: x.imbalance_kw.abs(), priced=lambda x: x.auction_price_eur_mwh * x.auction_volume_kwh,
        imbalance_spread_cost_eur=lambda x: imbalance_spread_cost_eur(x.imbalance_kw / 1000, x.da_price_eur_mwh,
                                                                      x.imb_long_eur_mwh, x.imb_short_eur_mwh))
    c = c.groupby(keys).agg(leader_profit_eur=("leader_profit_eur", "sum"), auction_kwh=("auction_volume_kwh", "sum"),
                            auction_value=("priced", "sum"), imbalance_kwh=("imbalance_kwh", "sum"),
                            imbalance_cost_eur=("imbalance_cost_eur", "sum"),
                            imbalance_spread_cost_eur=("imbalance_spread_cost_eur", "sum"), peak_import_kw=("grid_import_kw", "max"),
                            retail_buy_eur_mwh=("retail_buy_eur_mwh", "mean"),
                            retail_sell_eur_mwh=("retail_sell_eur_mwh", "mean"))
    return f.join(c).reset_index()


def methods_table(days: pd.DataFrame, times: pd.DataFrame, n_followers: dict[str, int]) -> pd.DataFrame:
    """Per method over the test days: means per day over days and seeds, the seeds' range of the
    leader's profit and the followers' cost, and training time."""
    d = days[_kind(days.week) == "test"]
    cols = ["leader_profit_eur", "follower_cost_eur", "auction_kwh", "auction_value", "imbalance_kwh", "imbalance_cost_eur",
            "imbalance_spread_cost_eur", "peak_import_kw", "retail_buy_eur_mwh", "retail_sell_eur_mwh", "ev_unmet_kwh", "comfort_violation_kh"]
    per_seed = d.groupby(["method", "seed"])[cols].mean()
    rows = []
    for m, g in per_seed.groupby(level="method"):
        mean = g.mean()
        row = {"method": m, "followers": n_followers.get(m, np.nan), "seeds": len(g),
               "leader_profit_eur_per_day": mean.leader_profit_eur, "leader_min_seed": g.leader_profit_eur.min(),
               "leader_max_seed": g.leader_profit_eur.max(), "follower_cost_eur_per_day": mean.follower_cost_eur,
               "follower_min_seed": g.follower_cost_eur.min(), "follower_max_seed": g.follower_cost_eur.max(),
               "p2p_kwh_per_day": mean.auction_kwh,
               "p2p_price_eur_mwh": mean.auction_value / mean.auction_kwh if mean.auction_kwh > 0 else np.nan,
               "retail_buy_eur_mwh": mean.retail_buy_eur_mwh, "retail_sell_eur_mwh": mean.retail_sell_eur_mwh,
               "imbalance_kwh_per_day": mean.imbalance_kwh, "imbalance_cost_eur_per_day": mean.imbalance_cost_eur,
               "imbalance_spread_cost_eur_per_day": mean.imbalance_spread_cost_eur,
               "peak_import_kw": mean.peak_import_kw, "ev_unmet_kwh_per_day": mean.ev_unmet_kwh,
               "comfort_violation_kh_per_day": mean.comfort_violation_kh}
        rows.append(row | train_time_columns(times, m))
    order = {m: i for i, m in enumerate(METHODS)}
    return pd.DataFrame(rows).sort_values("method", key=lambda s: s.map(order)).reset_index(drop=True)


def cluster_table(hours: pd.DataFrame) -> pd.DataFrame:
    """Each cluster's cost per follower and day (test days, mean over seeds), per method."""
    h = hours[_kind(hours.week) == "test"]
    return per_cluster_per_day(h, (h.auction_eur + h.retail_eur + h.device_penalty_eur - h.storage_value_eur), HOURS_PER_DAY)


def follower_costs(scores: pd.DataFrame) -> pd.DataFrame:
    """Each follower's cost per test day (mean over seeds), one column per method."""
    t = scores[(_kind(scores.week) == "test") & (scores.participant.astype(str) != LEADER)]
    days = 7 * t.week.nunique()
    per = -t.groupby(["method", "seed", "participant"]).total_eur.sum() / days
    return per.groupby(["method", "participant"]).mean().unstack("method")


def versus_retail(fc: pd.DataFrame, groups: pd.Series) -> pd.DataFrame:
    """Per method and cluster: the mean saving per follower and day against retail only, and the
    share of followers worse off (cost higher by more than 0.1 cent a day)."""
    if "retail-only" not in fc:
        return pd.DataFrame()
    rows = []
    for m in [c for c in fc.columns if c != "retail-only"]:
        saving = (fc["retail-only"] - fc[m]).dropna()
        for name, s in [("all", saving), *saving.groupby(groups.reindex(saving.index))]:
            rows.append({"method": m, "cluster": name, "followers": len(s), "saving_eur_per_day": s.mean(),
                         "worse_off_share": float((s < -1e-3).mean())})
    return pd.DataFrame(rows)


def paired_orders(days: pd.DataFrame) -> pd.DataFrame:
    """Stackelberg against simultaneous moves, seed by seed (same seeds, same test days)."""
    d = days[_kind(days.week) == "test"].groupby(["method", "seed"])[["leader_profit_eur", "follower_cost_eur"]].mean()
    if not {"stackelberg", "simultaneous"} <= set(d.index.get_level_values(0)):
        return pd.DataFrame()
    both = d.loc["stackelberg"].join(d.loc["simultaneous"], rsuffix="_simultaneous", how="inner")
    both["leader_gain_eur_per_day"] = both.leader_profit_eur - both.leader_profit_eur_simultaneous
    both["follower_saving_eur_per_day"] = both.follower_cost_eur_simultaneous - both.follower_cost_eur
    return both.reset_index()


def exact_table(exact_days: pd.DataFrame, replayed: pd.DataFrame, grid: pd.DataFrame) -> pd.DataFrame:
    """Per sample day: the exact solution (best constant price shares against LP followers), the
    leader at the tariffs against the same followers, and the learned small-instance leader (its
    prices replayed against the LP followers; and its profit against its own learned followers)."""
    if exact_days.empty:
        return pd.DataFrame()
    keep = ["day_label", "day", "sell_share", "buy_share", "mean_buy_eur_mwh", "mean_sell_eur_mwh", "leader_profit_eur",
            "follower_cost_eur", "auction_volume_kwh"]
    out = exact_days[[c for c in keep if c in exact_days]].rename(columns={
        "sell_share": "exact_sell_share", "buy_share": "exact_buy_share", "mean_buy_eur_mwh": "exact_buy_eur_mwh",
        "mean_sell_eur_mwh": "exact_sell_eur_mwh", "leader_profit_eur": "exact_profit_eur",
        "follower_cost_eur": "exact_follower_cost_eur", "auction_volume_kwh": "exact_p2p_kwh"})
    tariff = grid[(grid.sell_share == 0) & (grid.buy_share == 1)].set_index("day").leader_profit_eur
    out["tariff_profit_eur"] = out.day.map(tariff)
    if len(replayed):
        r = replayed.groupby("day")[["mean_buy_eur_mwh", "mean_sell_eur_mwh", "replayed_profit_eur",
                                     "learned_profit_eur"]].mean()
        out = out.join(r.rename(columns={"mean_buy_eur_mwh": "learned_buy_eur_mwh",
                                         "mean_sell_eur_mwh": "learned_sell_eur_mwh"}), on="day")
    return out


def system_cost(days: pd.DataFrame) -> pd.DataFrame:
    """Per method and seed over the test days: the system's cost per day, followers' cost less the
    leader's profit (the money between them cancels: what remains is the community's energy bought
    and sold on the wholesale market, the imbalance, device penalties, less stored value)."""
    d = days[_kind(days.week) == "test"]
    per = d.groupby(["method", "seed"])[["leader_profit_eur", "follower_cost_eur", "peak_import_kw"]].mean()
    per["system_cost_eur"] = per.follower_cost_eur - per.leader_profit_eur
    return per


def responder_table(rs: pd.DataFrame, lbr: pd.DataFrame, fbr: pd.DataFrame) -> pd.DataFrame:
    """The trained best responders (`checks/responders_seed*.csv`): per kind, the leader and each
    follower cluster (and all followers), over the seeds that trained them. The leader's measure is its
    profit, a follower's its cost, € per participant and day over the scoring days; gain_eur_per_day:
    + = the responder does better (earns more, pays less) than the learned policy, also as % of the
    learned value's magnitude; kept_learned: responders that kept the learned actor (nothing better found
    on the validation weeks); check_regret_eur_per_day: the searched best responses of the same seeds
    (same sign): the leader's hour-by-hour regret, the LP regret of the follower check's sample of that
    cluster (not necessarily the same followers)."""
    r = rs.assign(participant=rs.participant.astype(str))
    leader = r.cluster == "leader"
    sign = np.where(leader, 1.0, -1.0)  # profit for the leader, cost for a follower
    r = r.assign(learned=sign * r.learned_eur / r.days, responder=sign * r.responder_eur / r.days, gain=r.gain_eur / r.days)
    seeds = set(r.seed)
    lr = lbr[lbr.seed.isin(seeds)] if len(lbr) else lbr
    fr = fbr[fbr.seed.isin(seeds)] if len(fbr) else fbr
    groups = [("leader", r[leader], lr.regret_eur.mean() if len(lr) else np.nan)]
    for cluster, g in r[~leader].groupby("cluster", sort=True):
        groups.append((cluster, g, fr[fr.cluster == cluster].regret_eur.mean() if len(fr) else np.nan))
    if (~leader).any():
        groups.append(("all followers", r[~leader], fr.regret_eur.mean() if len(fr) else np.nan))
    rows = []
    for who, g, regret in groups:
        if g.empty:
            continue
        rows.append({"who": who, "participants": len(g), "measure": "profit" if who == "leader" else "cost",
                     "episodes": int(g.episodes.max()), "learned_eur_per_day": g.learned.mean(),
                     "responder_eur_per_day": g.responder.mean(), "gain_eur_per_day": g.gain.mean(),
                     "gain_pct_of_learned": 100 * g.gain.mean() / max(abs(g.learned.mean()), 1e-9),
                     "kept_learned": int((g.best_episode == 0).sum()), "check_regret_eur_per_day": regret})
    return pd.DataFrame(rows)


def leader_exploitability(lbr: pd.DataFrame, schedule: pd.DataFrame | None = None) -> pd.DataFrame:
    """The leader check (`checks/leader_br_seed*.csv`) per checked week and seed, each week's seeds
    pooled (seed "all") and, with more than one week, every week pooled (week "all"): € over the days;
    regret_pct: the best response's profit above the learned one, % of the learned profit's magnitude,
    split into its position and price points. Weeks differ by season (a winter and a summer week in the
    profiles), and so does the leader's regret, so a pooled figure alone hides where it sits.
    With `schedule` (`checks/leader_schedule_seed*.csv`), `schedule_points`: what the best price schedule
    by hour of day earns above the learned prices (both with the best day-ahead positions), in the same
    points, the part of the price points that a policy seeing only the clock reaches."""
    parts = [c for c in ("position_regret_eur", "price_regret_eur") if c in lbr]
    if schedule is not None and len(schedule):
        keys = ["seed", "week", "day"]
        lbr = lbr.merge(schedule[[*keys, "schedule_profit_eur", "learned_position_profit_eur"]], on=keys,
                        how="left", validate="one_to_one")
        lbr = lbr.assign(schedule_gain_eur=lbr.schedule_profit_eur - lbr.learned_position_profit_eur)
        parts.append("schedule_gain_eur")
    cols = ["learned_profit_eur", "best_response_profit_eur", "regret_eur", *parts]
    weeks = sorted(lbr.week.unique(), key=week_order)
    pools = [(w, s, lbr[(lbr.week == w) & (lbr.seed == s)]) for w in weeks for s in sorted(lbr[lbr.week == w].seed.unique())]
    pools += [(w, "all", lbr[lbr.week == w]) for w in weeks]
    if len(weeks) > 1:
        pools.append(("all", "all", lbr))
    rows = []
    for week, seed, g in pools:
        row = {"week": week, "seed": seed, "days": len(g), **g[cols].sum().to_dict()}
        scale = 100 / max(abs(row["learned_profit_eur"]), 1e-9)
        row["regret_pct"] = scale * row["regret_eur"]
        for c in parts:
            row[c.replace("_regret_eur", "_points").replace("_gain_eur", "_points")] = scale * row[c]
        row.pop("schedule_gain_eur", None)
        if "schedule_gain_eur" in parts and g.schedule_gain_eur.isna().any():
            row["schedule_points"] = float("nan")  # some days of the pool have no schedule check
        rows.append(row)
    return pd.DataFrame(rows)


def claims(days: pd.DataFrame, vr: pd.DataFrame) -> list[dict]:
    """The abstract's claim, that coordinating the two levels as a Stackelberg game "enhances market
    performance", judged against the simultaneous-move and no-leader baselines on the system's cost
    (seed by seed where both are learned), and the spec's follower condition against retail only."""
    out = []
    if days.empty:
        return out
    per = system_cost(days)
    methods = set(per.index.get_level_values(0))
    if {"stackelberg", "simultaneous"} <= methods:
        a, b = per.loc["stackelberg"], per.loc["simultaneous"]
        both = a.join(b, rsuffix="_sim", how="inner")
        wins = int((both.system_cost_eur < both.system_cost_eur_sim).sum())
        gain = (both.system_cost_eur_sim - both.system_cost_eur).mean()
        out.append({"claim": "the leader-follower order lowers the system's cost against simultaneous moves",
                    "held": bool(gain > 0 and wins == len(both)),
                    "evidence": f"system cost {a.system_cost_eur.mean():,.1f} vs {b.system_cost_eur.mean():,.1f} €/day "
                                f"(lower in {wins} of {len(both)} seeds); leader profit {a.leader_profit_eur.mean():,.1f} "
                                f"vs {b.leader_profit_eur.mean():,.1f}; followers' cost {a.follower_cost_eur.mean():,.1f} "
                                f"vs {b.follower_cost_eur.mean():,.1f}"})
    if {"stackelberg", "p2p-tariff-rules"} <= methods:
        a, b = per.loc["stackelberg"], per.loc["p2p-tariff-rules"]
        worse = int((a.system_cost_eur >= b.system_cost_eur.iloc[0]).sum())
        out.append({"claim": "the learned hierarchy lowers the system's cost against P2P without a learning leader "
                             "(retail at the tariffs, followers by rules)",
                    "held": bool(worse == 0),
                    "evidence": f"system cost {a.system_cost_eur.mean():,.1f} vs {b.system_cost_eur.iloc[0]:,.1f} €/day "
                                f"(higher or equal in {worse} of {len(a)} seeds); community peak "
                                f"{a.peak_import_kw.mean():,.0f} vs {b.peak_import_kw.iloc[0]:,.0f} kW"})
    if len(vr):
        row = vr[(vr.method == "stackelberg") & (vr.cluster == "all")]
        if len(row):
            r = row.iloc[0]
            out.append({"claim": "no follower is worse off on average than with retail only (Stackelberg)",
                        "held": bool(r.worse_off_share == 0),
                        "evidence": f"{100 * r.worse_off_share:.0f} % of {int(r.followers)} followers worse off; mean "
                                    f"saving {r.saving_eur_per_day:,.3f} €/day per follower"})
    return out


def reading(mt: pd.DataFrame, cl: list[dict], ex: pd.DataFrame, lex: pd.DataFrame, prof: dict,
            rt: pd.DataFrame | None = None, cw: pd.DataFrame | None = None, cv: pd.DataFrame | None = None) -> str:
    """One paragraph for the index of studies (`runs.index`)."""
    parts = [f"An aggregator (leader, DDPG) sets retail prices and trades day-ahead; 50 prosumers (followers, "
             f"MADDPG-PS per cluster) trade in P2P double auctions ({prof.get('episodes', '?')} training days x "
             f"{prof.get('seeds', '?')} seeds)."]
    if len(mt):
        t = mt.set_index("method")
        shown = [m for m in ("retail-only", "p2p-tariff-rules", "stackelberg", "simultaneous") if m in t.index]
        parts.append("Leader profit / followers' cost per day: " + ", ".join(
            f"{_label(m)} €{t.loc[m, 'leader_profit_eur_per_day']:,.0f} / €{t.loc[m, 'follower_cost_eur_per_day']:,.0f}"
            for m in shown) + ".")
    if cl:
        text = "; ".join(f"{c['claim']}: {'yes' if c['held'] else 'no'}" for c in cl)
        parts.append(text[:1].upper() + text[1:] + ".")
    if len(ex) and "exact_sell_share" in ex:
        at_tariffs = bool(((ex.exact_sell_share == 0) & (ex.exact_buy_share == 1)).all())
        parts.append("On the small instance the exact Stackelberg prices are "
                     + ("the grid tariffs on every checked day" if at_tariffs else "inside the tariffs on some days")
                     + (f"; the learned leader's prices earn {100 * (ex.replayed_profit_eur / ex.exact_profit_eur).mean():.0f} % "
                        "of the exact profit against the same LP followers." if "replayed_profit_eur" in ex else "."))
    if len(lex):
        pooled = lex[lex.seed == "all"].set_index("week")
        overall = pooled.loc["all"] if "all" in pooled.index else pooled.iloc[0]
        weeks = [w for w in pooled.index if w != "all"]
        by_week = f" ({', '.join(f'{w} {pooled.regret_pct[w]:.1f} %' for w in weeks)})" if len(weeks) > 1 else ""
        parts.append(f"The leader's hour-by-hour best response earns {overall.regret_pct:.1f} % more than the learned "
                     f"leader{by_week}" + (f"; {overall.position_points:.1f} points of it the day-ahead position best for "
                                           "the realised residual, which the leader only forecasts, "
                                           f"{overall.price_points:.1f} points its retail prices"
                                           + (f" (of which one price schedule by hour of day reaches "
                                              f"{overall.schedule_points:.1f})" if "schedule_points" in pooled
                                              and pd.notna(overall.schedule_points) else "") + "."
                                           if "position_points" in pooled else "."))
    if rt is not None and len(rt):
        t = rt.set_index("who")
        said = []
        if "leader" in t.index:
            said.append(f"the leader {t.loc['leader', 'gain_eur_per_day']:,.2f} €/day "
                        f"({t.loc['leader', 'gain_pct_of_learned']:+.1f} % of its learned profit)")
        if "all followers" in t.index:
            said.append(f"a sampled follower {t.loc['all followers', 'gain_eur_per_day']:,.2f} €/day "
                        f"({t.loc['all followers', 'gain_pct_of_learned']:+.1f} % of its learned cost)")
        parts.append(f"A best responder trained for {int(rt.episodes.max()):,} days against everyone else's frozen "
                     f"policies gains {' and '.join(said)}.")
    if cw is not None and len(cw):
        parts.append(comfort_sentence(cw, "stackelberg", _label))
    if cv is not None and len(cv):
        parts.append(trend_sentence(cv, _label, brief=True))
    return " ".join(p for p in parts if p)


# ---------------------------------------------------------------------------------------------
# figures
# ---------------------------------------------------------------------------------------------
def fig_methods(mt: pd.DataFrame, path: Path):
    p = plt()
    fig, axes = p.subplots(2, 2, figsize=(12, 7.5))
    x = np.arange(len(mt))
    panels = (("leader_profit_eur_per_day", "leader_min_seed", "leader_max_seed", "leader (aggregator) profit, € per day"),
              ("follower_cost_eur_per_day", "follower_min_seed", "follower_max_seed", "followers' total cost, € per day"),
              ("p2p_kwh_per_day", None, None, "P2P-traded energy, kWh per day"),
              ("imbalance_kwh_per_day", None, None, "aggregator's imbalance, kWh per day"))
    for ax, (col, lo, hi, title) in zip(axes.flat, panels):
        ax.bar(x, mt[col], color=[COLORS.get(m, "tab:gray") for m in mt.method])
        if lo:
            ax.errorbar(x, mt[col], yerr=[mt[col] - mt[lo], mt[hi] - mt[col]], fmt="none", ecolor="k", capsize=3, lw=1)
        ax.set_xticks(x, [_label(m) for m in mt.method], rotation=25, ha="right", fontsize=7)
        ax.set_title(title)
    fig.suptitle("Test days: every method (whiskers = range over seeds; the small instance has 8 followers, not 50)")
    save_figure(fig, path)


def leader_regret_curve(g: pd.DataFrame) -> pd.DataFrame:
    """episodes x seeds: the leader's regret on the selection weeks along training, % of its profit there (the
    training curve's `best_response_gain_eur`, the myopic search that `selection_best_response` weighs, over its
    `selection_score_eur`); empty for runs trained without it."""
    lead = g[g.participant.astype(str) == LEADER]
    if "best_response_gain_eur" not in lead or lead.best_response_gain_eur.isna().all():
        return pd.DataFrame()
    gain = lead.pivot_table(index="episode", columns="seed", values="best_response_gain_eur")
    profit = lead.pivot_table(index="episode", columns="seed", values="selection_score_eur")
    return 100 * gain / profit.abs()


def curve_series(g: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """One method's training curves, each episodes x seeds: the leader's profit and the followers' total cost on the
    evaluation week (€ per day), and the leader's regret on the selection weeks (`leader_regret_curve`, where
    trained with it)."""
    lead = g[g.participant.astype(str) == LEADER]
    out = {"leader's profit (€ per day)": lead.pivot_table(index="episode", columns="seed", values="eval_score_eur") / 7,
           "followers' cost (€ per day)": -g[g.participant.astype(str) != LEADER].groupby(["episode", "seed"])
           .eval_score_eur.sum().unstack("seed") / 7}
    regret = leader_regret_curve(g)
    if len(regret):
        out[REGRET_CURVE] = regret
    return out


def convergence_table(curves: pd.DataFrame, clusters: dict[str, dict[str, str]] | None = None) -> pd.DataFrame:
    """Whether each learned method's training curves had settled (`learning_trend` of each `curve_series`, then of
    each learning cluster's followers, `cluster_curves`; `clusters`: per method, `learning_clusters`)."""
    return trend_table({(m, what): per for m, g in curves.groupby("method", sort=False)
                        for what, per in (curve_series(g) | cluster_curves(g, "participant", (clusters or {}).get(m, {})))
                        .items()},
                       SETTLED_TOLERANCES)


def fig_curves(curves: pd.DataFrame, path: Path, selected: pd.DataFrame | None = None):
    p = plt()
    series = {m: curve_series(g) for m, g in curves.groupby("method")}
    panels = 3 if any(REGRET_CURVE in c for c in series.values()) else 2
    fig, axes = p.subplots(1, panels, figsize=(6 * panels, 4))
    labelled, settled = [], []
    for m, c in series.items():
        for ax, (what, per) in zip(axes, c.items()):
            ax.plot(per.index, per.mean(1), color=COLORS.get(m), label=_label(m))
            ax.fill_between(per.index, per.min(1), per.max(1), color=COLORS.get(m), alpha=0.2, lw=0)
            if selected is not None:
                mark_selected(ax, per, selected, m, COLORS.get(m), labelled)
            mark_settled(ax, per, COLORS.get(m), settled, SETTLED_TOLERANCES.get(what))
    axes[0].set(xlabel="training day (episode)", ylabel="€ per day", title="Leader profit on the evaluation week")
    axes[1].set(xlabel="training day (episode)", ylabel="€ per day", title="Followers' total cost on the evaluation week")
    axes[1].set_yscale("symlog", linthresh=100)
    if panels == 3:  # scaled to the second half of training: the untrained leader's regret is ~100 times larger
        regrets = [c[REGRET_CURVE] for c in series.values() if REGRET_CURVE in c]
        late = pd.concat([r[r.index >= r.index.max() / 2] for r in regrets])
        axes[2].set_ylim(min(0.0, float(late.min().min())), 1.5 * float(late.max().max()))
        axes[2].set(xlabel="training day (episode)", ylabel="% of its profit there",
                    title="Leader's regret on the selection weeks (its myopic best\nresponse, 3 × 3 prices; early days off the scale)")
    legend_marks_last(axes[0], fontsize=8)
    save_figure(fig, path)


def fig_day(hours: pd.DataFrame, path: Path) -> str | None:
    """A test day (the first day of the first test week): retail prices, auction price and the
    day-ahead price, and the community's residual with the day-ahead position."""
    h = hours[(_kind(hours.week) == "test") & (hours.seed == 0)].drop_duplicates(["method", "hour"])
    if h.empty:
        return None
    week = sorted(h.week.unique(), key=lambda w: int(w.split(":")[1]))[0]
    h = h[(h.week == week) & (h.hour_of_week < HOURS_PER_DAY)]
    shown = [m for m in ("p2p-tariff-rules", "stackelberg", "simultaneous") if m in set(h.method)]
    p = plt()
    fig, axes = p.subplots(2, len(shown), figsize=(5 * len(shown), 7), sharex=True, squeeze=False)
    for j, m in enumerate(shown):
        g = h[h.method == m]
        hod = g.hour_of_week
        ax = axes[0, j]
        ax.fill_between(hod, g.export_tariff_eur_mwh, g.import_tariff_eur_mwh, color="0.9", label="between the tariffs")
        ax.plot(hod, g.retail_buy_eur_mwh, color="tab:red", label="retail buy")
        ax.plot(hod, g.retail_sell_eur_mwh, color="tab:green", label="retail sell")
        ax.plot(hod, g.auction_price_eur_mwh, "o", ms=3, color="tab:blue", label="P2P auction price")
        ax.plot(hod, g.da_price_eur_mwh, "k:", lw=1, label="day-ahead price")
        ax.set(title=_label(m), ylabel="€/MWh")
        ax = axes[1, j]
        ax.plot(hod, g.residual_kw, color="tab:purple", label="community residual R")
        ax.plot(hod, g.da_position_kw, color="tab:brown", ls="--", label="day-ahead position")
        ax.bar(hod, g.auction_volume_kwh, color="tab:blue", alpha=0.4, label="P2P volume (kWh)")
        ax.axhline(0, color="k", lw=0.6)
        ax.set(xlabel="hour of day", ylabel="kW")
    axes[0, 0].legend(fontsize=7)
    axes[1, 0].legend(fontsize=7)
    fig.suptitle(f"{week}, first day, seed 0")
    save_figure(fig, path)
    return week


def fig_exact(grid: pd.DataFrame, table: pd.DataFrame, path: Path) -> str | None:
    if grid.empty:
        return None
    day = table.day_label.iloc[0]
    g = grid[grid.day_label == day].pivot_table(index="buy_share", columns="sell_share", values="leader_profit_eur")
    p = plt()
    fig, ax = p.subplots(figsize=(6.5, 5))
    half_x = 0.5 * (g.columns[1] - g.columns[0]) if len(g.columns) > 1 else 0.5
    half_y = 0.5 * (g.index[1] - g.index[0]) if len(g.index) > 1 else 0.5
    im = ax.imshow(g.to_numpy(), origin="lower", aspect="auto", cmap="viridis",  # cells centred on the grid points
                   extent=(g.columns.min() - half_x, g.columns.max() + half_x, g.index.min() - half_y, g.index.max() + half_y))
    fig.colorbar(im, ax=ax, label="leader profit, € per day")
    best = table.iloc[0]
    ax.plot(0, 1, "ws", ms=12, mfc="none", mew=2, label="retail at the grid tariffs")
    ax.plot(best.exact_sell_share, best.exact_buy_share, "r*", ms=14, label="exact Stackelberg (grid argmax)")
    ax.set(xlabel="sell price share (0 = export tariff, 1 = import)", ylabel="buy price share (0 = sell price, 1 = import)",
           title=f"Leader profit against LP followers ({day}, 8 followers)")
    ax.legend(fontsize=7, loc="lower right")
    save_figure(fig, path)
    return day


def fig_savings(fc: pd.DataFrame, path: Path):
    p = plt()
    fig, ax = p.subplots(figsize=(8, 3.8))
    for m in ("stackelberg", "simultaneous", "p2p-tariff-rules"):
        if m in fc and "retail-only" in fc:
            s = (fc["retail-only"] - fc[m]).dropna()
            ax.hist(s, bins=30, alpha=0.5, color=COLORS[m], label=f"{_label(m)}: {100 * (s < -1e-3).mean():.0f} % worse off")
    ax.axvline(0, color="k", lw=0.8)
    ax.set(xlabel="saving against retail only, € per follower and day (+ = pays less)", ylabel="followers",
           title="Followers' savings against retail only (test days, mean over seeds)")
    ax.legend(fontsize=8)
    save_figure(fig, path)


def fig_exploitability(lex: pd.DataFrame, fbr: pd.DataFrame, path: Path):
    p = plt()
    fig, axes = p.subplots(1, 2, figsize=(12, 4))
    rows = lex[(lex.week != "all") & (lex.seed != "all")] if len(lex) else lex
    if len(rows):
        split = "position_points" in rows
        weeks = list(dict.fromkeys(rows.week))
        seeds = sorted(set(rows.seed))
        width = 0.8 / len(weeks)
        x = np.arange(len(seeds))
        for k, (week, colour) in enumerate(zip(weeks, ("tab:blue", "tab:red", "tab:green", "tab:purple") * 4)):
            g = rows[rows.week == week].set_index("seed").reindex(seeds)
            at = x - 0.4 + (k + 0.5) * width
            if split:
                axes[0].bar(at, g.position_points, width, color=colour, alpha=0.45, label=f"{week}: day-ahead position")
                axes[0].bar(at, g.price_points, width, bottom=g.position_points, color=colour,
                            label=f"{week}: retail prices")
                if "schedule_points" in g and g.schedule_points.notna().any():
                    axes[0].scatter(at, g.position_points + g.schedule_points, marker="_", s=900 * width, color="k",
                                    zorder=3, label="one price schedule by hour of day reaches" if k == 0 else None)
            else:
                axes[0].bar(at, g.regret_pct, width, color=colour, label=week)
        axes[0].axhline(0, color="k", lw=0.8)
        top = float(np.nanmax(rows.regret_pct)) if rows.regret_pct.notna().any() else 0.0
        if top > 0:
            axes[0].set_ylim(top=1.5 * top)  # room for the legend above the bars
        axes[0].set_xticks(x, [f"seed {s}" for s in seeds])
        axes[0].set(ylabel="% of the learned profit",
                    title="Leader: hour-by-hour best response's gain (followers fixed)")
        axes[0].legend(fontsize=8)
    if len(fbr):
        axes[1].hist(fbr.regret_eur, bins=20, color="tab:orange")
        axes[1].axvline(0, color="k", lw=0.8)
        axes[1].set(xlabel="regret, € per day (+ = the LP schedule would have saved this)", ylabel="follower-days (sampled followers x days x seeds)",
                    title="Followers: one follower's best response, everyone else fixed")
    save_figure(fig, path)


# ---------------------------------------------------------------------------------------------
# the report
# ---------------------------------------------------------------------------------------------
def _groups(scores: pd.DataFrame, hours: pd.DataFrame) -> pd.Series:
    """Each follower's cluster, from a model of the main scenario."""
    from runs.training import make_model

    design = make_model("stackelberg", "rule", 0).design
    return pd.Series(design.participant_groups()[1:], index=pd.Index([str(i) for i in range(design.n)], name="participant"))


def _followers(hours: pd.DataFrame) -> dict[str, int]:
    h = hours.drop_duplicates(["method", "cluster"])
    return h.groupby("method").households.sum().to_dict()


def _section_responders(rt: pd.DataFrame, rs: pd.DataFrame, prof: dict) -> list[str]:
    """The trained best responders: what they are, and their table beside the searched best responses."""
    validation = ", ".join(prof.get("responder_validation_weeks") or ["eval:1"])
    weeks = ", ".join(sorted(set(" ".join(rs.weeks.astype(str)).split())))
    return [
        "### Trained best responders\n",
        ("The standard multi-agent RL measure of exploitability, for the leader and a seeded sample of followers "
         "(one per learning cluster unless the profile says more; the same followers for every seed): everyone else's "
         f"learned policy is frozen and the participant's own policy keeps training alone for {int(rt.episodes.max()):,} "
         "random training days with the learner's own hyperparameters (`runs/best_response.py`; every role updates "
         "`updates_per_episode` times a day, the leader included): its actor starts from its learned actor (a "
         "follower's: its cluster's shared one), its critics are fresh (fitted alone for a warm-up first). Every eighth "
         f"of the budget it is scored on the validation week(s) {validation} and the best-scoring actor is kept, the "
         f"learned one (day 0) included; it is then scored on the checks' days ({weeks}) against the learned "
         "participant, from the same start states. The leader's measure is its profit, a follower's its cost, € per "
         "participant and day; **gain + = the responder does better** (the leader earns more, a follower pays less), "
         "the same sign as the searched best responses' regret beside it (`check_regret_eur_per_day`: the leader's "
         "hour-by-hour search on the same seeds; for followers the LP check's sample of that cluster, not necessarily "
         "the same followers). `gain_pct_of_learned`: % of the learned value's magnitude; `kept_learned`: responders "
         "that kept the learned actor (gain 0: nothing better found). The responder sees only what the learned policy "
         "sees, so its gain is a lower bound on what the participant could gain within its observations; the grid "
         "search and the LP act with perfect knowledge of the day. `checks/responders_seed*.csv`, curves in "
         "`-curve.csv`:\n"),
        md_table(rt, "{:,.3f}"),
    ]


def build_report(study: Path) -> Path:
    study = Path(study)
    data = load(study)
    (study / "tables").mkdir(exist_ok=True)
    (study / "figures").mkdir(exist_ok=True)
    hours, scores = data["hours"], data["scores"]
    days = daily(hours) if len(hours) else pd.DataFrame()
    mt = methods_table(days, data["times"], _followers(hours)) if len(days) else pd.DataFrame()
    ct = cluster_table(hours[hours.method != "stackelberg-small"]) if len(hours) else pd.DataFrame()
    main_scores = scores[scores.method != "stackelberg-small"] if len(scores) else scores
    if len(main_scores):
        main_scores = main_scores.assign(participant=main_scores.participant.astype(str))
    fc = follower_costs(main_scores) if len(main_scores) else pd.DataFrame()
    vr = versus_retail(fc, _groups(scores, hours)) if len(fc) else pd.DataFrame()
    po = paired_orders(days) if len(days) else pd.DataFrame()
    ex = exact_table(data["exact_days"], data["replayed"], data["exact_grid"])
    lbr, fbr = data["leader_br"], data["follower_br"]
    rs = data["responders"]
    rt = responder_table(rs, lbr, fbr) if len(rs) else pd.DataFrame()
    ck = clock_table(data["follower_clock"]) if len(data.get("follower_clock", ())) else pd.DataFrame()
    lex = leader_exploitability(lbr, data.get("leader_schedule")) if len(lbr) else pd.DataFrame()
    cl = claims(days, vr) if len(days) else []
    cw = comfort_by_week(days, THERMOSTAT, LEARNED, data.get("optimum")) if len(days) else pd.DataFrame()
    cv = (convergence_table(data["curves"], {m: learning_clusters(study, m) for m in data["methods"]})
          if len(data["curves"]) else pd.DataFrame())
    for name, df in (("methods_test_days", mt), ("clusters", ct), ("days", days), ("versus_retail_only", vr),
                     ("stackelberg_vs_simultaneous", po), ("exact_solution", ex), ("follower_costs", fc),
                     ("responders", rt), ("leader_exploitability", lex), ("comfort_by_week", cw),
                     ("clock_schedule", ck), ("convergence", cv)):
        if len(df):
            df.to_csv(study / "tables" / f"{name}.csv", index=name == "follower_costs", float_format="%.6g")

    figs, f = {}, study / "figures"
    if len(mt):
        fig_methods(mt, f / "methods.png")
        figs["methods.png"] = "Leader profit, followers' cost, P2P volume and imbalance per method"
    if len(data["curves"]):
        fig_curves(data["curves"], f / "training_curves.png", data.get("selected"))
        figs["training_curves.png"] = ("Training curves: leader and followers, and the leader's regret on the selection "
                                       "weeks (the kept snapshot's choice weighs it)")
    week = fig_day(hours, f / "test_day.png") if len(hours) else None
    if week:
        figs["test_day.png"] = f"A test day ({week}): prices and positions"
    day = fig_exact(data["exact_grid"], ex, f / "exact_solution.png") if len(ex) else None
    if day:
        figs["exact_solution.png"] = f"The leader's profit over its price grid against LP followers ({day})"
    if len(fc):
        fig_savings(fc, f / "follower_savings.png")
        figs["follower_savings.png"] = "Followers' savings against retail only"
    if len(lbr) or len(fbr):
        fig_exploitability(lex, fbr, f / "exploitability.png")
        figs["exploitability.png"] = "Exploitability of both levels"
    if len(cw):
        fig_comfort(cw, f / "comfort.png", _label)
        figs["comfort.png"] = "The heat pumps' comfort violation by test week and seed"

    prof = data["meta"].get("profile", {})
    n_days = int(days[_kind(days.week) == "test"].groupby(["week", "day"]).ngroups) if len(days) else 0
    L = [f"# Stackelberg study report: profile `{prof.get('name', '?')}`\n", unfinished_note(data["meta"]),
         (f"Generated by `localmarl study --design stackelberg --profile {prof.get('name', '?')}"
          f"{typed_options(data['meta'])}`; "
          f"{prof.get('seeds', '?')} seed(s), {prof.get('episodes', '?')} training days per learned method. "
          f"The profile as defined: {prof.get('note', '')}."),
         ("The leader's profit is its retail revenue less its day-ahead and imbalance costs; a follower's cost is "
          "what it pays in the auction and to the aggregator, plus its device penalties, less the value of the energy "
          f"it stored over the day; € per day over {n_days} test days. The system's cost is the followers' cost less "
          "the leader's profit (the money between them cancels). `imbalance_cost_eur_per_day` is the whole imbalance "
          "settlement, which also pays for the energy the day-ahead position did not buy; "
          "`imbalance_spread_cost_eur_per_day` is what deviating added beyond buying the residual at the day-ahead "
          "price. Reconstructed settings (the paper gives only its "
          "abstract): docs/stackelberg.md.\n"),
         selection_note(data.get("selected")),
         "## Does the leader-follower structure enhance market performance?\n"]
    if cl:
        L.append(md_table(pd.DataFrame([{"claim": c["claim"], "held here": "yes" if c["held"] else "**no**",
                                         "evidence": c["evidence"]} for c in cl])))
    L += ["\n## Every method on the test days\n",
         "Means per day over days and seeds; `*_min/max_seed`: the range of the seeds' means.\n"]
    if len(mt):
        L.append(md_table(mt.assign(method=mt.method.map(_label)), "{:,.2f}"))
    if len(vr):
        L.append("\n## Followers against retail only\n")
        L.append("Saving per follower and day against the retail-only baseline (same followers, same days; + = pays "
                 "less), and the share of followers worse off. The spec asks that no follower be worse off on average.\n")
        L.append(md_table(vr.assign(method=vr.method.map(_label)), "{:,.3f}"))
    if len(ct):
        L.append("\n## Per cluster (€ per follower and day, test days)\n")
        L.append(md_table(ct.assign(method=ct.method.map(_label)), "{:,.3f}"))
    if len(po):
        L.append("\n## What the leader-follower order buys (Stackelberg − simultaneous moves, per seed)\n")
        L.append(md_table(po[["seed", "leader_profit_eur", "leader_profit_eur_simultaneous", "leader_gain_eur_per_day",
                              "follower_cost_eur", "follower_cost_eur_simultaneous", "follower_saving_eur_per_day"]],
                          "{:,.2f}"))
    if len(ex):
        L.append("\n## The exact Stackelberg solution of the small instance\n")
        L.append("Eight followers; each follower's best response to the leader's prices by LP (devices scheduled "
                 "optimally for the day, truthful limit prices); the leader's constant price shares searched over a "
                 "grid; its day-ahead position set to the residual it induces. `replayed_profit`: the learned "
                 "small-instance leader's own hourly prices against the same LP followers; `learned_profit`: what it "
                 "earned against its learned followers.\n")
        L.append(md_table(ex, "{:,.3f}"))
    if len(cv):
        L.append("\n## Had learning settled?\n")
        L.append("The training curves over the last quarter of training (`tables/convergence.csv`): the leader's profit "
                 "and the followers' cost on the evaluation week, the leader's regret on the selection weeks (its "
                 "myopic best response's gain, in % of its profit there), and each learning cluster's followers' cost "
                 "(each cluster is one learner: its followers share their networks). " + trend_sentence(cv, _label)
                 + f" The leader's regret, itself a share of its profit, counts as settled within {100 * SETTLED_SHARE:g} "
                 "point of its end (that share of its profit). The training-curve figure marks each settled day.\n")
        L.append(md_table(trend_display(cv.assign(method=cv.method.map(_label))), "{:,.2f}"))
    if len(lbr) or len(fbr) or len(rt):
        L.append("\n## Exploitability\n")
    if len(lex):
        L.append("The leader's hour-by-hour best response with the followers' learned policies fixed (a lower bound "
                 "on its true best response), per checked week and seed, € over the checked days (seed `all`: the "
                 "week's seeds pooled; week `all`: every week). Its regret splits into `position_regret` (the "
                 "learned play with the day-ahead position best for each hour's realised residual: the check knows the "
                 "residual, the leader only forecasts it, so this part is partly clairvoyant) and `price_regret` (the "
                 "rest: better retail prices and the followers' response to them); `regret_pct` is the regret in % of "
                 "the learned profit, `*_points` its parts. `schedule_points`: the best single price schedule by hour "
                 "of day for the week (`leader_schedule_response`, searched the same way over all the week's days at "
                 "once, the same best positions), above the learned prices: the part of `price_points` that a policy "
                 "seeing only the clock reaches; the rest needs what each day's followers will do. "
                 "`tables/leader_exploitability.csv`:\n")
        L.append(md_table(lex.drop(columns="regret_eur"), "{:,.2f}"))
    if len(fbr):
        L.append(f"\nSampled followers' best responses (their day's LP at the retail prices they faced, everyone else "
                 f"fixed): mean regret {fbr.regret_eur.mean():.3f} €/day, median "
                 f"{fbr.regret_eur.median():.3f}, {100 * (fbr.regret_eur > 0).mean():.0f} % of "
                 f"{len(fbr)} followers could have done better; negative: the learned follower beat the retail-price LP "
                 "by trading in the auction.\n")
    if len(ck):
        L += clock_section(ck, "checks/follower_clock_seed*.csv", "followers", prof)
    if len(rt):
        L += _section_responders(rt, rs, prof)
    if len(cw):
        L += comfort_section(cw, _label)
    L.append("\n## Figures\n")
    for name, cap in figs.items():
        L.append(f"### {cap}\n\n![{cap}](figures/{name})\n")
    L.append("Commands: `localmarl study --design stackelberg --profile NAME --out DIR` (everything above); the checks "
             "alone: `runs.studies.stackelberg_checks` (`exact_stackelberg`, `replay_learned_prices`, "
             "`leader_best_response`, `follower_best_response`; `household_checks.clock_schedule_check`). Tidy CSVs: `tables/`, `checks/`, `eval/`.")
    path = study / "report.md"
    path.write_text("\n".join(L) + "\n")
    (study / "reading.md").write_text(reading(mt, cl, ex, lex, prof, rt, cw, cv) + "\n")
    return path
