"""What a household design's exploitability check needs beside `stackelberg_checks`' helpers: each
household's own day LP at given prices, and a probe through which one household plays that plan
while the learned policy plays everyone else.

Both generalise parts of `stackelberg_checks` (which does not use them yet): `household_plans` is
the LP half of its `follower_response`, without the design's peak term (a community's penalty is
not one household's to pay), and `HouseholdProbe` is the follower branch of its `Probe` for any
stage (the Stackelberg followers act at "auction", the P2P households at "p2p").

Conventions as in `model.devices`: kW over one hour = kWh; prices EUR/MWh; + = the household pays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from model import devices
from model.markets.p2p_optimum import solve_day
from runs.studies.stackelberg_checks import _state_of, _trained_model

H = devices.HOURS_PER_DAY


@dataclass(frozen=True, eq=False)
class HouseholdPlans:
    """Each household's optimal day on its own (hours first: (24, n), n = len(rows))."""

    rows: np.ndarray  # (n,) the design's household rows
    actions: np.ndarray  # (24, n, 3) the LP's battery, EV and heat-pump actions (what `devices.step` executes)
    net_kw: np.ndarray  # (24, n) the LP's net positions
    cost_eur: np.ndarray  # (n,) each LP's optimum: bill at the given prices + device penalties - stored value


def household_plans(design, day: int, buy_eur_mwh, sell_eur_mwh, rows) -> HouseholdPlans:
    """Each listed household's perfect-foresight day alone (`solve_day` with that household only), buying
    at `buy` and selling at `sell` (24,) EUR/MWh, as a price-taker: no peak term (a price adder in `buy`
    stands for a share of one); the EV penalty and the stored energy's value at the grid tariffs, as
    the designs pay them (`HouseholdDesign.day_problem`)."""
    rows = np.asarray(rows, dtype=int)
    params, state, day_in = design.day_problem(day, np.asarray(buy_eur_mwh, dtype=float),
                                               np.asarray(sell_eur_mwh, dtype=float))
    day_in = replace(day_in, peak_form=None)
    n = len(rows)
    actions, net, cost = np.empty((H, n, 3)), np.empty((H, n)), np.empty(n)
    for k, i in enumerate(rows):
        one = [i]
        opt = solve_day(params.select(one), _state_of(state, one),
                        replace(day_in, load_kw=day_in.load_kw[:, one], pv_kw=day_in.pv_kw[:, one]))
        actions[:, k] = np.column_stack([opt.bat_action[:, 0], opt.ev_action[:, 0], opt.hp_action[:, 0]])
        net[:, k], cost[k] = opt.net_kw[:, 0], opt.cost.total_eur
    return HouseholdPlans(rows, actions, net, cost)


class HouseholdProbe:
    """Plays the policy `base` for everyone, except one household's actions at `stage` where `plan`
    is set: (row, (24, k) actions by hour of day; column 0 of the observation is the hour of the week)."""

    name = "probe"

    def __init__(self, base, stage: str):
        self.base, self.stage = base, stage
        self.plan: tuple[int, np.ndarray] | None = None

    def act(self, stage, obs, rows):
        out = np.array(self.base.act(stage, obs, rows), dtype=float)
        if stage == self.stage and self.plan is not None:
            row, actions = self.plan
            out[np.asarray(rows) == row] = actions[int(obs[0, 0]) % H]
        return out


def trained_model(run_dir, stage: str):
    """A model of a trained run's scenario in which a `HouseholdProbe` (at `stage`) of its learned policy
    plays everyone: (model, probe). The learned policy acts without exploration noise; a scenario changed
    since training is warned about (`stackelberg_checks._trained_model`, whose own probe, left unset,
    plays the learned policy unchanged)."""
    model, learned = _trained_model(run_dir)
    probe = HouseholdProbe(learned, stage)
    model.set_policy(probe)
    return model, probe


def day_optimum(scenario, weeks) -> "pd.DataFrame":
    """The community's centralised perfect-foresight optimum of every day of `weeks` (labels, e.g. "test:8"): each
    day's LP (`solve_day` over the design's `day_problem`: the same data, grid tariffs, penalties and start states
    the simulation plays), one row per day: week, week_number, day (0..6), solve_s, the cost parts (`DayCost`),
    peak_import_kw, ev_unmet_kwh, comfort_violation_kh (the heat pumps' K·h outside their bands) and heat_pump_kwh
    (what they draw). In the P2P design the platform's optimum; in the Stackelberg design the followers' at the grid
    tariffs, with no leader between them and the grid."""
    import dataclasses
    import time

    import pandas as pd

    from model import dataset
    from runs.training import default_policy_name, make_model

    design = make_model(scenario, default_policy_name(scenario), 0).design
    rows = []
    for label in weeks:
        week = dataset.resolve_week(label)[0]
        for day in range(7):
            params, state, inputs = design.day_problem(week * 7 + day)
            t = time.perf_counter()
            opt = solve_day(params, state, inputs)
            rows.append({"week": label, "week_number": week, "day": day, "solve_s": time.perf_counter() - t,
                         **dataclasses.asdict(opt.cost), "peak_import_kw": float(opt.grid_import_kw.max()),
                         "ev_unmet_kwh": float(opt.ev_unmet_kwh.sum()),
                         "comfort_violation_kh": float(opt.comfort_violation_kh.sum()),
                         "heat_pump_kwh": float(opt.hp_kw.sum())})
    return pd.DataFrame(rows)

