"""Clearing benchmark: the same hours cleared by the fast path and by plain PuLP + CBC, side by side.

Both paths get identical inputs (the bids the model's brains made for each hour of the week).
Fast path = what the model runs every hour: vectorised merit-order LEM (with the truthful
reference costs of every aggregator), persistent warm-started highspy LFM, balancing settlement.
Reference = a plain PuLP LP per hour for the LEM and for the LFM (built and solved from scratch
with CBC), then the same settlement; it skips the reference costs, so the speed-up is, if
anything, understated. Also checks that both give the same LEM and LFM costs.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from model.markets import lem, settlement
from agents.market_agents import Dso
from model.markets.lfm import LfmSolver, solve_lfm_pulp


def _week_inputs(model):
    """Run the model over one week and keep each hour's cleared inputs (bids included)."""
    hours = []
    while model.running and len(hours) < 168:
        model.step()
        hours.append(model.hour_result)
    return hours


def _settle(model, h, lem_res, lfm_res):
    """The hour's money for one path's clearing results (the model's settlement functions)."""
    c = model.cost_eur_mwh
    lem_cost = lem.lem_costs_eur(lem_res.p_gen_mw, h.load_mw, c, lem_res.price_eur_mwh)
    _, lfm_cost, bm = settlement.second_stage_costs_eur(
        c, lfm_res.dlmp_eur_mwh[model.agg_bus_index], lfm_res.up_mw, lfm_res.dn_mw, h.imb_long_eur_mwh, h.imb_short_eur_mwh)
    return lem_cost, lfm_cost, bm


def run_bench(model, repeats: int = 3) -> dict:
    import pulp

    hours = _week_inputs(model)
    c = model.cost_eur_mwh
    solver = LfmSolver(model.lfm_network)
    merit = lem.MeritOrder(c)
    fast_ms, ref_ms, lem_ms, lfm_ms = [], [], [], []
    max_cost_gap = 0.0
    for h in hours:
        offer = (1 - h.withhold) * h.offer_cap_mw
        bids = Dso.bids(h)
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            res, _ = merit.clear_with_references(offer, h.offer_cap_mw, h.load_mw, h.import_eur_mwh, h.export_eur_mwh)
            t1 = time.perf_counter()
            fl = solver.solve(bids)
            t2 = time.perf_counter()
            _settle(model, h, res, fl)
            t3 = time.perf_counter()
            if t3 - t0 < best:
                best, best_lem, best_lfm = t3 - t0, t1 - t0, t2 - t1
        fast_ms.append(best * 1e3)
        lem_ms.append(best_lem * 1e3)
        lfm_ms.append(best_lfm * 1e3)

        t0 = time.perf_counter()
        rl = lem.clear_lem_pulp(offer, c, h.load_mw, h.import_eur_mwh, h.export_eur_mwh, solver=pulp.PULP_CBC_CMD(msg=False))
        rf = solve_lfm_pulp(model.lfm_network, bids, solver=pulp.PULP_CBC_CMD(msg=False))
        _settle(model, h, rl, rf)
        ref_ms.append((time.perf_counter() - t0) * 1e3)
        max_cost_gap = max(
            max_cost_gap,
            abs(float(lem.lem_system_cost(res, c, h.import_eur_mwh, h.export_eur_mwh) - lem.lem_system_cost(rl, c, h.import_eur_mwh, h.export_eur_mwh))),
            abs(fl.cost_eur - rf.cost_eur),
        )
    fast, ref = statistics.median(fast_ms), statistics.median(ref_ms)
    return {
        "hours": len(hours),
        "scenario": model.scenario.name,
        "week": int(model.week),
        "policy": model.policy_name,
        "fast_ms_per_hour": round(fast, 4),
        "fast_lem_ms_per_hour": round(statistics.median(lem_ms), 4),
        "fast_lfm_ms_per_hour": round(statistics.median(lfm_ms), 4),
        "reference_ms_per_hour": round(ref, 3),
        "speedup": round(ref / fast, 1),
        "reference": "PuLP 3 + CBC, LEM and LFM built and solved per hour",
        "lfm_rows": solver.n_rows,
        "lfm_cols": solver.n_cols,
        "hours_with_flexibility": int(sum(float(h.up_mw.sum() + h.dn_mw.sum()) > 1e-6 for h in hours)),
        "max_objective_gap_eur": float(f"{max_cost_gap:.3g}"),
    }


def model_step_ms(make_model, hours: int = 168) -> float:
    """Median ms per `model.step()` (Mesa + brains + clearing; DataCollector off)."""
    model = make_model()
    times = []
    for _ in range(hours):
        t0 = time.perf_counter()
        model.step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)
