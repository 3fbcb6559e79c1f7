"""`localmarl bench --scenario p2p-mmr --json`: the household designs' bench (`runs.benches.households`)
at the scenario's 300 households, with the centralised optimum of a 300-household day."""

from __future__ import annotations

import statistics
import time

from runs.benches.households import _model
from runs.benches.households import bench as household_bench


def optimum_day(scenario) -> dict:
    """Seconds to solve the centralised optimum of one day of the scenario's households (median of 3 days)."""
    from model.markets.p2p_optimum import solve_day

    design = _model(scenario).design
    times = []
    for day in design.training_episodes()[:3]:
        params, state, inputs = design.day_problem(int(day))
        t0 = time.perf_counter()
        solve_day(params, state, inputs)
        times.append(time.perf_counter() - t0)
    return {"optimum_day_s": round(statistics.median(times), 3)}


def bench(args) -> dict:
    return household_bench(args, sizes=(300, 1000, 3000), day_optimisation=optimum_day)
