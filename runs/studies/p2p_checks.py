"""The P2P design's exploitability check: how much one household could save by leaving its learned
policy while everyone else keeps theirs (mirrors `stackelberg_checks.follower_best_response`).

`household_best_response`: a seeded sample of learning households per cluster; on each checked day
1. the day is played with the learned policies (everyone), which gives the MMR buy and sell prices
   each hour and the sampled household's learned cost;
2. the household's LP (`household_checks.household_plans`) plans its devices for the day as a
   price-taker at those prices, its peak-penalty share included: the hourly penalty is shared in
   proportion to import, so with everyone's positions fixed a household pays `peak_rate_eur_mwh` on
   every kWh it imports (over the buy price) and the LP buys at buy + that rate;
3. the day is replayed through the model with that household playing its LP's actions and everyone
   else their learned policies (who react to the prices it moves: they see the last hour's).

Priced at the faced prices, the learned schedule costs exactly its learned cost (the bill and the
peak share are linear in its import at fixed prices and rate), so the LP's cost is <= the learned
cost: the price-taker's regret `learned - lp` is >= 0. The realised regret, learned cost - the
replay's cost, is signed: + = the plan saves that much; - = the learned household does better than
a plan that ignores its price impact (its import raises the MMR buy price in deficit hours and the
peak penalty above the threshold; its export lowers the sell price in surplus hours) and the others'
reaction. Money: + = the household pays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from model import devices
from model.designs.stackelberg_search import play_day
from model.markets import p2p_mmr
from runs.studies.household_checks import household_plans, trained_model
from runs.studies.stackelberg_checks import _days

H = devices.HOURS_PER_DAY


def peak_rate_eur_mwh(design, net_kw) -> np.ndarray:
    """(24,) EUR/MWh: what a household's peak-penalty share costs per unit it imports in each hour of a
    day with net positions `net_kw` (24, N) (the design's peak settings: `peak_settings()`). The
    penalty is shared in proportion to max(x_i, 0): hourly, rate = the hour's penalty / its demand D;
    daily, the day's charge / D at the peak hour, in that hour only; 0 without a penalty."""
    settings = design.peak_settings()
    x = np.asarray(net_kw, dtype=float)
    demand_kwh = np.maximum(x, 0.0).sum(axis=1)
    rate = np.zeros(len(x))
    if settings.get("peak_form") == "hourly":
        total = p2p_mmr.peak_penalty_hourly(x, settings["peak_rho_eur_mwh"], settings["peak_threshold_kw"]).total_eur
        rate = np.where(demand_kwh > 0, 1000.0 * total / np.where(demand_kwh > 0, demand_kwh, 1.0), 0.0)
    elif settings.get("peak_form") == "daily":
        res = p2p_mmr.peak_penalty_daily(x, settings["peak_pi_eur_kw"])
        t = int(res.peak_hour)
        rate[t] = 1000.0 * float(res.total_eur) / demand_kwh[t] if demand_kwh[t] > 0 else 0.0
    return rate


def sample_households(design, per_cluster: int, seed: int) -> np.ndarray:
    """`per_cluster` households of each learning cluster (all where it has fewer), seeded; sorted rows."""
    rng = np.random.default_rng(seed)
    picks = [rng.choice(members, size=min(per_cluster, len(members)), replace=False)
             for members in (np.flatnonzero(design.cluster == k) for k in design.learning_clusters) if len(members)]
    return np.sort(np.concatenate(picks)) if picks else np.array([], dtype=int)


def _column(hours: list, field: str) -> np.ndarray:
    """(24, ...) a field of the cleared hours' platform records ("mmr.buy_eur_mwh", "reward", ...)."""
    out = []
    for h in hours:
        value = h.p2p
        for part in field.split("."):
            value = getattr(value, part)
        out.append(value)
    return np.array(out, dtype=float)


def _peak_share(hours: list) -> np.ndarray:
    """(N,) each household's peak-penalty shares over the day (hourly and daily forms)."""
    return (_column(hours, "peak_share_eur") + _column(hours, "daily_peak_share_eur")).sum(axis=0)


def faced_prices(design, hours: list) -> tuple[np.ndarray, np.ndarray]:
    """(buy, sell) (24,) EUR/MWh a household faced in a played day as a price-taker: the MMR prices, the
    buy price with the peak rate (`peak_rate_eur_mwh`), as `household_best_response` plans."""
    buy = _column(hours, "mmr.buy_eur_mwh") + peak_rate_eur_mwh(design, _column(hours, "net_kw"))
    return buy, _column(hours, "mmr.sell_eur_mwh")


def day_costs(hours: list) -> np.ndarray:
    """(N,) each household's cost of a played day (its rewards' negative: bills, peak share, penalties)."""
    return -_column(hours, "reward").sum(axis=0)


def household_best_response(run_dir, weeks, per_cluster: int = 4, seed: int = 0, days=None) -> pd.DataFrame:
    """One household's best response with everyone else at their learned policies, for a seeded sample
    of `per_cluster` learning households per cluster (`sample_households`), on the days of `weeks`
    (labels: "test:2", ...; `days`: which days of the week, 0..6); see the module docstring.

    Per (day, household): week, week_number, day (absolute), household, cluster, learned_cost_eur,
    lp_cost_eur (its LP's optimum at the faced prices and peak rate: <= learned_cost_eur),
    best_response_cost_eur (realised in the replay, its peak share included), regret_eur (learned -
    best response, signed), learned_peak_eur and best_response_peak_eur (its peak shares),
    others_cost_change_eur (what the replay changes for everyone else together; + = they pay more),
    max_price_change_eur_mwh (of the MMR prices, replay vs learned play)."""
    model, probe = trained_model(run_dir, "p2p")
    d = model.design
    rows = sample_households(d, per_cluster, seed)
    out = []
    for label, week, first in _days(model, weeks, days):
        day = week * 7 + first // H
        probe.plan = None
        learned = play_day(model, week, first)
        buy, sell = _column(learned, "mmr.buy_eur_mwh"), _column(learned, "mmr.sell_eur_mwh")
        learned_cost = -_column(learned, "reward").sum(axis=0)
        learned_peak = _peak_share(learned)
        plans = household_plans(d, day, buy + peak_rate_eur_mwh(d, _column(learned, "net_kw")), sell, rows)
        for k, i in enumerate(rows):
            probe.plan = (int(i), plans.actions[:, k])
            played = play_day(model, week, first)
            cost = -_column(played, "reward").sum(axis=0)
            price_change = max(np.abs(_column(played, "mmr.buy_eur_mwh") - buy).max(),
                               np.abs(_column(played, "mmr.sell_eur_mwh") - sell).max())
            others = np.arange(d.n) != i
            out.append({
                "week": label, "week_number": week, "day": day, "household": int(i),
                "cluster": d.cluster_names[d.cluster[i]], "learned_cost_eur": float(learned_cost[i]),
                "lp_cost_eur": float(plans.cost_eur[k]), "best_response_cost_eur": float(cost[i]),
                "regret_eur": float(learned_cost[i] - cost[i]), "learned_peak_eur": float(learned_peak[i]),
                "best_response_peak_eur": float(_peak_share(played)[i]),
                "others_cost_change_eur": float((cost - learned_cost)[others].sum()),
                "max_price_change_eur_mwh": float(price_change),
            })
        probe.plan = None
    return pd.DataFrame(out)
