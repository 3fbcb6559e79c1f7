"""What a household design's exploitability check needs beside `stackelberg_checks`' helpers: each
household's own day LP at given prices, and a probe through which one household plays that plan
while the learned policy plays everyone else.

`clock_schedule` asks what a household seeing only the clock could do: its best device schedule by hour of day
over a week's days, beside its learned play and each day's LP (`clock_schedule_check` runs it on a trained run).

`household_plans` and `HouseholdProbe` generalise parts of `stackelberg_checks` (which does not use them yet):
`household_plans` is the LP half of its `follower_response`, without the design's peak term (a community's penalty is
not one household's to pay), and `HouseholdProbe` is the follower branch of its `Probe` for any
stage (the Stackelberg followers act at "auction", the P2P households at "p2p").

Conventions as in `model.devices`: kW over one hour = kWh; prices EUR/MWh; + = the household pays.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from model import devices
from model.markets.p2p_optimum import simulate_day, solve_day
from runs.studies.stackelberg_checks import _state_of, _trained_model

if TYPE_CHECKING:
    import pandas as pd

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
    is set: (row, (24, k) actions by hour of day, which replace the first k columns of its stage action;
    column 0 of the observation is the hour of the week). With `seen` a dict, every action the stage's
    policy gives (after the plan) is recorded as seen[(hour of the week, row)]."""

    name = "probe"

    def __init__(self, base, stage: str):
        self.base, self.stage = base, stage
        self.plan: tuple[int, np.ndarray] | None = None
        self.seen: dict[tuple[int, int], np.ndarray] | None = None

    def act(self, stage, obs, rows):
        out = np.array(self.base.act(stage, obs, rows), dtype=float)
        if stage == self.stage and self.plan is not None:
            row, actions = self.plan
            out[np.asarray(rows) == row, :actions.shape[1]] = actions[int(obs[0, 0]) % H]
        if stage == self.stage and self.seen is not None:
            hour = int(obs[0, 0])
            self.seen.update({(hour, int(r)): a.copy() for r, a in zip(rows, out)})
        return out


class PinnedAction:
    """A trained learner's policy with the participants `rows` playing `value` in action column `column` at `stage`
    in the stage's steps for which `pinned(step)` holds (steps counted from 0; set `step = 0` to start over);
    `seen`, a list, collects the stage's (observation, rows). The what-if plays of `scripts/battery_value_check.py`
    and `scripts/constant_action_check.py`."""

    name = "pinned"

    def __init__(self, learner, stage: str, rows, column: int, value: float, pinned, seen: list | None = None):
        self.learner, self.stage, self.rows, self.column, self.value = learner, stage, np.asarray(rows), column, value
        self.pinned, self.seen, self.step = pinned, seen, 0

    def act(self, stage, obs, rows):
        a = self.learner.act(stage, obs, rows)
        if stage == self.stage:
            if self.seen is not None:
                self.seen.append((obs.copy(), rows.copy()))
            if self.rows.size and self.pinned(self.step):
                a[np.isin(np.asarray(rows), self.rows), self.column] = self.value
            self.step += 1
        return a


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


# ---------------------------------------------------------------------------------------------
# what a household seeing only the clock could do: its best device schedule by hour of day
# ---------------------------------------------------------------------------------------------
ACTION_LOW, ACTION_HIGH = np.array([-1.0, 0.0, 0.0]), np.array([1.0, 1.0, 1.0])  # battery, EV, heat pump (`devices.step`)
DEVICE_ACTIONS = ("battery", "ev", "heat_pump")  # the schedule's columns, in that order


@dataclass(frozen=True, eq=False)
class ClockSchedule:
    """One household's best device schedule by hour of day over some days, against its learned actions and
    each day's LP, all priced alike: as a price-taker at the prices it faced (per day (D,) EUR)."""

    actions: np.ndarray  # (24, 3) battery, EV and heat-pump actions by hour of day, the same every day
    learned_eur: np.ndarray  # (D,) the learned actions' cost
    clock_eur: np.ndarray  # (D,) the schedule's
    lp_eur: np.ndarray  # (D,) each day's LP optimum (perfect foresight of the day)
    passes: int  # coordinate-search passes made


def _priced_days(problems, row: int, actions: np.ndarray) -> np.ndarray:
    """(D, K) each day's cost of K candidates for household `row` (actions: (D, 24, K, 3) stage device
    actions), stepped through `devices.step` and billed at the day's problem prices (`simulate_day` without
    the P2P settlement or a peak term): bills + EV and comfort penalties - the stored energy's value."""
    k = actions.shape[2]
    rows = np.full(k, row)
    out = np.empty((len(problems), k))
    for d, (params, state, day_in) in enumerate(problems):
        one = replace(day_in, load_kw=day_in.load_kw[:, rows], pv_kw=day_in.pv_kw[:, rows], peak_form=None)
        a = actions[d]
        out[d] = simulate_day(params.select(rows), _state_of(state, rows), one, (a[..., 0], a[..., 1], a[..., 2]),
                              p2p=False).household_cost_eur
    return out


def clock_schedule(design, days, buy_eur_mwh, sell_eur_mwh, learned_actions, row: int, levels: int = 21,
                   max_passes: int = 6) -> ClockSchedule:
    """Household `row`'s best device schedule by hour of day, one for all of `days` (absolute days; the
    designs start every day from its own start state): what a policy that sees only the clock could reach,
    found in hindsight over these days as a price-taker at the prices it faced (`buy`, `sell`: (D, 24) EUR/MWh;
    in the P2P design the buy price carries the peak rate, as `household_plans`). Beside it, priced alike:
    its learned actions (`learned_actions` (D, 24, 3)) and each day's LP (`household_plans`, which also knows
    the day's load, sun and weather).

    Coordinate search: from the better of the learned and the LP actions' hourly means, hour by hour and
    device by device (those the household has) over `levels` evenly spaced actions in each device's range,
    all days side by side, kept where the days' summed cost falls by over 1e-9 EUR; passes until one
    changes nothing (or `max_passes`). A lower bound on what the clock could reach: the grid and the
    search's order may miss a better schedule. The LP's hindsight of the day is the rest of the gap."""
    days = [int(x) for x in days]
    buy, sell = np.asarray(buy_eur_mwh, dtype=float), np.asarray(sell_eur_mwh, dtype=float)
    learned = np.asarray(learned_actions, dtype=float)[..., :3]
    problems = [design.day_problem(day, buy[d], sell[d]) for d, day in enumerate(days)]
    plans = [household_plans(design, day, buy[d], sell[d], [row]) for d, day in enumerate(days)]
    lp_eur = np.array([p.cost_eur[0] for p in plans])
    learned_eur = _priced_days(problems, row, learned[:, :, None, :])[:, 0]
    params = problems[0][0]
    present = [c for c, size in enumerate((params.bat_capacity_kwh, params.ev_capacity_kwh, params.hp_p_max_kw))
               if size[row] > 0]
    starts = np.stack([learned.mean(axis=0), np.mean([p.actions[:, 0] for p in plans], axis=0)])  # (2, 24, 3)
    totals = _priced_days(problems, row, np.broadcast_to(starts.transpose(1, 0, 2)[None], (len(days), H, 2, 3))).sum(0)
    best = starts[int(np.argmin(totals))].copy()
    best_total = float(totals.min())
    grids = np.linspace(ACTION_LOW, ACTION_HIGH, levels)  # (levels, 3)
    passes = 0
    while passes < max_passes:
        passes += 1
        changed = False
        for t in range(H):
            for c in present:
                cand = np.repeat(best[None], levels, axis=0)  # (levels, 24, 3)
                cand[:, t, c] = grids[:, c]
                totals = _priced_days(problems, row, np.broadcast_to(cand.transpose(1, 0, 2)[None],
                                                                   (len(days), H, levels, 3))).sum(0)
                k = int(np.argmin(totals))
                if totals[k] < best_total - 1e-9:
                    best, best_total, changed = cand[k].copy(), float(totals[k]), True
        if not changed:
            break
    clock_eur = _priced_days(problems, row, np.broadcast_to(best[None, :, None, :], (len(days), H, 1, 3)))[:, 0]
    return ClockSchedule(best, learned_eur, clock_eur, lp_eur, passes)


def clock_schedule_check(run_dir, weeks, rows, stage: str, faced, cost_of, levels: int = 21,
                         max_passes: int = 6) -> "pd.DataFrame":
    """For each household of `rows` and each week of `weeks`: its learned play, its best schedule by hour of
    day over the week's days (`clock_schedule`) and each day's LP, priced as a price-taker at the prices it
    faced, and the schedule replayed through the model (its device actions by the hour of day, its learned
    limit price or order kept; everyone else learned, reacting as they do).

    `faced(design, hours) -> (buy (24,), sell (24,))` the prices a household faced in a played day (the
    design's own: retail prices; MMR prices with the peak rate); `cost_of(hours) -> (N,)` each household's
    realised cost of a played day.

    `levels`, `max_passes`: the search's (`clock_schedule`). One row per (week, household), EUR per day (means over the week's days): learned_cost_eur and
    clock_realised_cost_eur (played through the model), learned_priced_eur, clock_eur and lp_eur (priced
    at the faced prices), clock_share_of_lp_gap (how much of the price-taker's gap between the learned
    actions and the LP the clock schedule closes: 1 = all of it), passes, and the schedule's device actions by hour:
    `battery_h00`..`battery_h23`, `ev_h00`..`ev_h23`, `heat_pump_h00`..`heat_pump_h23` (raw units)."""
    import pandas as pd

    from model import dataset
    from model.designs.stackelberg_search import play_day
    from runs.studies.stackelberg_checks import _days

    model, probe = trained_model(run_dir, stage)
    d = model.design
    out = []
    for label in weeks:
        week = dataset.resolve_week(label)[0]
        firsts = [first for _, _, first in _days(model, [label], None)]
        days = [week * 7 + first // H for first in firsts]
        probe.plan, probe.seen = None, {}
        learned_cost, buy, sell = [], [], []
        for first in firsts:
            hours = play_day(model, week, first)
            learned_cost.append(cost_of(hours))
            b, s = faced(d, hours)
            buy.append(b)
            sell.append(s)
        seen, probe.seen = probe.seen, None
        for i in rows:
            i = int(i)
            acts = np.array([[seen[(first + t, i)] for t in range(H)] for first in firsts])  # (D, 24, k)
            sched = clock_schedule(d, days, np.array(buy), np.array(sell), acts, i, levels, max_passes)
            probe.plan = (i, sched.actions)
            realised = [cost_of(play_day(model, week, first))[i] for first in firsts]
            probe.plan = None
            gap = float(sched.learned_eur.mean() - sched.lp_eur.mean())
            out.append({
                "week": label, "week_number": week, "household": i, "cluster": d.cluster_names[d.cluster[i]],
                "learned_cost_eur": float(np.mean([c[i] for c in learned_cost])),
                "clock_realised_cost_eur": float(np.mean(realised)),
                "learned_priced_eur": float(sched.learned_eur.mean()), "clock_eur": float(sched.clock_eur.mean()),
                "lp_eur": float(sched.lp_eur.mean()),
                "clock_share_of_lp_gap": float((sched.learned_eur.mean() - sched.clock_eur.mean()) / gap) if gap > 1e-9 else np.nan,
                "passes": sched.passes, **{f"{name}_h{t:02d}": float(sched.actions[t, k])
                                            for k, name in enumerate(DEVICE_ACTIONS) for t in range(H)},
            })
    return pd.DataFrame(out)
