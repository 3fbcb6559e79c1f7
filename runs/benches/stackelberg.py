"""`localmarl bench --scenario stackelberg --json`: the household designs' bench
(`runs.benches.households`) with the leader and its followers, at 1,000 followers (the scenario's 50
followers leave a fixed per-hour cost of the two stages dominating; the scaling field gives the time
per hour from 50 to 3,000 followers), and the time to compute every follower's best response to a
day of retail prices (one LP per follower, the exact check's inner problem) at 300 followers."""

from __future__ import annotations

import statistics
import time

from runs.benches.households import _model
from runs.benches.households import bench as household_bench

FOLLOWERS = 1000


def follower_response_day(scenario) -> dict:
    """Seconds for 300 followers' best responses to a day of retail prices at the grid tariffs (median of 3 days)."""
    from runs.studies.stackelberg_checks import follower_response

    design = _model(scenario, 300).design
    times = []
    for day in design.training_episodes()[:3]:
        params, state, inputs = design.day_problem(int(day))
        t0 = time.perf_counter()
        follower_response(design, int(day), inputs.import_eur_mwh, inputs.export_eur_mwh)
        times.append(time.perf_counter() - t0)
    return {"optimum_day_s": round(statistics.median(times), 3), "optimum_day": "300 followers' best responses (LPs)"}


def bench(args) -> dict:
    return household_bench(args, n=FOLLOWERS, sizes=(50, 300, 1000, 3000), day_optimisation=follower_response_day)
