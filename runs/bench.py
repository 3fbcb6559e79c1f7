"""Clearing benchmark: the same hours cleared by the fast path and by plain PuLP + CBC, side by side.

Both paths get identical inputs (the bids the model's policies made for each hour of the week)
and settle through the same operators' code (`agents.aggregators`: `LemOperator.settle`,
`Dso.settle`, `BalancingOperator.settle`); only the solvers differ.
Fast path = what the model runs every hour: vectorised merit-order LEM (with the truthful
reference costs of every aggregator), persistent warm-started highspy LFM, settlement.
Reference = a plain PuLP LP per hour for the LEM and for the LFM (built and solved from scratch
with CBC), then the same settlement; it skips the truthful counterfactuals of the LEM, so the
speed-up is, if anything, understated. Also checks that both give the same LEM and LFM costs.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from model.designs.arbitrage import bought_flexibility
from model.markets import lem
from model.markets.lfm import LfmSolver, solve_lfm_pulp


def _week_hours(model):
    """Run the model over one week and keep each cleared hour (bids included)."""
    hours = []
    while model.running and len(hours) < 168:
        model.step()
        hours.append(model.hour_result)
    return hours


def run_bench(model, repeats: int = 3) -> dict:
    import pulp

    design = model.design
    if model.scenario.design != "arbitrage":
        raise ValueError(f"the clearing benchmark measures the arbitrage design's markets; scenario "
                         f"{model.scenario.name!r} is a {model.scenario.design!r} scenario")
    hours = _week_hours(model)
    c = design.cost_eur_mwh
    solver = LfmSolver(design.lfm_network)
    merit = lem.MeritOrder(c)
    lem_op, dso, bm = design.lem_operator, design.dso, design.balancing_operator
    fast_ms, ref_ms, lem_ms, lfm_ms = [], [], [], []
    max_cost_gap = 0.0
    for h in hours:
        x, withhold, bids_eur = h.inputs, h.lem.withhold, h.lfm.bid_eur_mwh
        offer = (1 - withhold) * x.offer_cap_mw
        bids = dso.bids(h, bids_eur)
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            res, ref = merit.clear_with_references(offer, x.offer_cap_mw, x.load_mw, x.import_eur_mwh, x.export_eur_mwh)
            t1 = time.perf_counter()
            fl = solver.solve(bids)
            t2 = time.perf_counter()
            bm.settle_records(x, lem_op.settle(h, withhold, res, ref), dso.settle(bids_eur, fl))
            t3 = time.perf_counter()
            if t3 - t0 < best:
                best, best_lem, best_lfm = t3 - t0, t1 - t0, t2 - t1
        fast_ms.append(best * 1e3)
        lem_ms.append(best_lem * 1e3)
        lfm_ms.append(best_lfm * 1e3)

        t0 = time.perf_counter()
        rl = lem.clear_lem_pulp(offer, c, x.load_mw, x.import_eur_mwh, x.export_eur_mwh, solver=pulp.PULP_CBC_CMD(msg=False))
        rf = solve_lfm_pulp(design.lfm_network, bids, solver=pulp.PULP_CBC_CMD(msg=False))
        bm.settle_records(x, lem_op.settle(h, withhold, rl, np.zeros_like(c)), dso.settle(bids_eur, rf))
        ref_ms.append((time.perf_counter() - t0) * 1e3)
        max_cost_gap = max(
            max_cost_gap,
            abs(float(lem.lem_system_cost(res, c, x.import_eur_mwh, x.export_eur_mwh) - lem.lem_system_cost(rl, c, x.import_eur_mwh, x.export_eur_mwh))),
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
        "hours_with_flexibility": int(sum(bool(bought_flexibility(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum())) for h in hours)),
        "max_objective_gap_eur": float(f"{max_cost_gap:.3g}"),
    }


def model_step_ms(make_model, hours: int = 168) -> float:
    """Median ms per `model.step()` (Mesa + policies + clearing; record off)."""
    model = make_model()
    times = []
    for _ in range(hours):
        t0 = time.perf_counter()
        model.step()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)
