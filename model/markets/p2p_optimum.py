"""Design 2, baseline 6: the centralised perfect-foresight optimum of one day over all households.

Because MMR is budget-balanced, the households' bills add up to the community's grid bill, so the
lowest system cost any coordination can reach is the LP (hours h = 0..23, households i)

    min  sum_h (import_h G^imp_h - export_h G^exp_h) / 1000            grid bill
         + peak penalty (hourly: rho / 1000 sum_h max(G^imp_h - thr, 0); daily: pi max_h G^imp_h; or none)
         + sum_i ev_penalty_eur_kwh(import_{d_i}) u_i                  EV energy missing at departure d_i
         + comfort_eur_kh sum_{h,i} (lo_{h,i} + hi_{h,i})              degree-hours outside the band
         - price / 1000 sum_i (E^bat_{24,i} - E^bat_{0,i} + E^ev_{24,i} - ref_i)   terminal value
    s.t. G^imp_h - G^exp_h = sum_i x_{h,i},  x = load + ch - dis + P^ev + P^hp - PV
         battery:   E_{h+1} = E_h + eta_c ch_h - dis_h / eta_d,  soc_min C <= E <= soc_max C,  0 <= ch, dis <= P
         EV:        present hours only (t < departure or t >= arrival): e_{h+1} = e_h + eta P^ev_h,
                    0 <= e <= capacity, 0 <= P^ev <= charger; the energy restarts at e_0 (hour 0) or at
                    the energy on arrival (arrival hour); u_i >= need_i - e_{d_i}, u_i >= 0
         heat pump: T_{h+1} = T_h + k (T^out_h - T_h) + COP_h P^hp_h / C,  0 <= P^hp <= p_max,
                    T_{h+1} + lo_h >= T_min,  T_{h+1} - hi_h <= T_max,  lo, hi >= 0
         G^imp, G^exp >= 0

with exactly the device models of `model.devices` (same conventions: kW = kWh per hour, prices
EUR/MWh, x + when a household needs energy) starting from given device states. Households without a
heat pump have no comfort band and no thermal variables; their indoor temperature drifts.

Two paths to the same LP, tested equal:
- `build_day_problem` writes it plainly in PuLP (the readable reference; `solve_day_pulp`).
- `solve_day` builds the same matrix directly with numpy/scipy.sparse and solves it with highspy:
  a 300-household day in well under a second.

Charging and discharging are separate variables. While energy is worth something in every hour
(import and export tariffs > 0) and eta_c eta_d < 1, doing both in one hour only wastes energy and
is never optimal, so the optimum's net battery power is what `model.devices.step` executes (with
negative tariffs the LP may burn energy that way, which the device model cannot). `simulate_day` prices any schedule or policy the same way by
stepping the devices and clearing MMR hour by hour (the replay the tests use, and baselines 1/2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from model import devices
from model.devices import DT_H, HOURS_PER_DAY as H, DeviceParams, DeviceState
from model.markets.p2p_mmr import clear_mmr, peak_penalty_daily, peak_penalty_hourly

PEAK_FORMS = ("hourly", "daily", None)


class OptimumSolveError(RuntimeError):
    """The day's LP did not solve to optimality (it always should: every constraint has slack)."""


@dataclass(frozen=True, eq=False)
class DayInputs:
    """One day's data and the cost settings (hours first: (24, N) per household, (24,) per hour)."""

    load_kw: np.ndarray  # (24, N)
    pv_kw: np.ndarray  # (24, N), 0 for a household without PV
    t_out_c: np.ndarray  # (24,)
    import_eur_mwh: np.ndarray  # (24,)
    export_eur_mwh: np.ndarray  # (24,), <= import
    peak_form: str | None = None  # "hourly", "daily" or None (no peak penalty)
    peak_rho_eur_mwh: float = 0.0  # hourly form: EUR per MWh of grid import above the threshold
    peak_threshold_kw: float = 0.0  # hourly form
    peak_pi_eur_kw: float = 0.0  # daily form: EUR per kW of the day's peak grid import
    ev_penalty_factor: float = devices.EV_PENALTY_FACTOR  # x the import tariff of the departure hour
    comfort_eur_kh: float = 1.0  # EUR per degree-hour outside the comfort band
    terminal_price_eur_mwh: float | None = None  # None: the day's mean mid-market rate
    #: (24,) the import tariff the EV penalty is a multiple of; None: import_eur_mwh (a Stackelberg
    #: follower buys at retail prices, but its EV penalty stays a multiple of the grid tariff)
    ev_penalty_import_eur_mwh: np.ndarray | None = None

    def __post_init__(self):
        for name in ("load_kw", "pv_kw", "t_out_c", "import_eur_mwh", "export_eur_mwh"):
            a = np.asarray(getattr(self, name), dtype=float)
            if a.shape[:1] != (H,) or a.ndim != (2 if name in ("load_kw", "pv_kw") else 1):
                raise ValueError(f"DayInputs.{name} must have shape {'(24, N)' if name.endswith('_kw') else '(24,)'}; got {a.shape}")
            if not np.all(np.isfinite(a)):
                raise ValueError(f"DayInputs.{name} has NaN or inf; check the data")
            object.__setattr__(self, name, a)
        if self.load_kw.shape != self.pv_kw.shape:
            raise ValueError(f"DayInputs.load_kw and pv_kw must have the same shape; got {self.load_kw.shape} and {self.pv_kw.shape}")
        if np.any(self.export_eur_mwh > self.import_eur_mwh):
            raise ValueError("DayInputs.export_eur_mwh exceeds import_eur_mwh in some hour; keep export <= import")
        if self.peak_form not in PEAK_FORMS:
            raise ValueError(f"DayInputs.peak_form must be one of {PEAK_FORMS}; got {self.peak_form!r}")
        for name in ("peak_rho_eur_mwh", "peak_threshold_kw", "peak_pi_eur_kw", "ev_penalty_factor", "comfort_eur_kh"):
            value = getattr(self, name)
            if not (np.isfinite(value) and value >= 0):
                raise ValueError(f"DayInputs.{name} must be >= 0 and finite; got {value}")
        if self.ev_penalty_import_eur_mwh is None:
            object.__setattr__(self, "ev_penalty_import_eur_mwh", self.import_eur_mwh)
        else:
            a = np.asarray(self.ev_penalty_import_eur_mwh, dtype=float)
            if a.shape != (H,) or not np.all(np.isfinite(a)):
                raise ValueError(f"DayInputs.ev_penalty_import_eur_mwh must be finite with shape (24,); got {a.shape}")
            object.__setattr__(self, "ev_penalty_import_eur_mwh", a)
        if self.terminal_price_eur_mwh is None:
            object.__setattr__(self, "terminal_price_eur_mwh", float(np.mean(0.5 * (self.import_eur_mwh + self.export_eur_mwh))))

    @property
    def n(self) -> int:
        return self.load_kw.shape[1]


@dataclass(frozen=True)
class DayCost:
    """A day's system cost and its parts (EUR): total = grid + peak + EV + comfort - terminal."""

    total_eur: float
    grid_bill_eur: float  # the community's grid bill (= the sum of the MMR bills)
    peak_penalty_eur: float
    ev_penalty_eur: float
    comfort_penalty_eur: float
    terminal_value_eur: float


@dataclass(frozen=True, eq=False)
class DayOptimum:
    """The optimal day. Per hour (24,), per hour and household (24, N); states (25, N), index 0 =
    the start of the day, index h + 1 = after hour h (what `devices.step` reports)."""

    cost: DayCost  # parts recomputed from the schedule
    objective_eur: float  # the solver's objective value (equals cost.total_eur to solver tolerance)
    grid_import_kw: np.ndarray  # (24,)
    grid_export_kw: np.ndarray  # (24,)
    net_kw: np.ndarray  # (24, N) household net positions x
    bat_charge_kw: np.ndarray  # (24, N)
    bat_discharge_kw: np.ndarray  # (24, N)
    bat_kw: np.ndarray  # (24, N) charge - discharge (+ charging)
    ev_kw: np.ndarray  # (24, N)
    hp_kw: np.ndarray  # (24, N)
    bat_action: np.ndarray  # (24, N) executed actions: power over its limit (0 without the device)
    ev_action: np.ndarray
    hp_action: np.ndarray
    bat_energy_kwh: np.ndarray  # (25, N)
    ev_energy_kwh: np.ndarray  # (25, N) (while away: the energy the car left with)
    t_in_c: np.ndarray  # (25, N)
    ev_unmet_kwh: np.ndarray  # (N,) energy missing at departure
    comfort_violation_kh: np.ndarray  # (24, N)


def _peak_eur(day: DayInputs, grid_import_kw: np.ndarray) -> float:
    if day.peak_form == "hourly":
        return float(day.peak_rho_eur_mwh * np.maximum(grid_import_kw - day.peak_threshold_kw, 0.0).sum() * DT_H / 1000.0)
    if day.peak_form == "daily":
        return float(day.peak_pi_eur_kw * grid_import_kw.max())
    return 0.0


def _ev_unmet_eur(params: DeviceParams, day: DayInputs, unmet_kwh: np.ndarray) -> np.ndarray:
    """(N,) penalty of the EV energy missing at departure (0 for a car without a trip)."""
    d = np.minimum(params.ev_departure_hour, H - 1)
    rate = devices.ev_penalty_eur_kwh(day.ev_penalty_import_eur_mwh[d], day.ev_penalty_factor)
    return np.where(params.has_trip, rate * unmet_kwh, 0.0)


def _check(params: DeviceParams, state: DeviceState, day: DayInputs) -> None:
    if day.n != params.n:
        raise ValueError(f"DayInputs has {day.n} households, DeviceParams {params.n}")
    devices.check_state(params, state)


# ---------------------------------------------------------------------------------------------
# the readable reference: plain PuLP
# ---------------------------------------------------------------------------------------------

def build_day_problem(params: DeviceParams, state: DeviceState, day: DayInputs):
    """The day's LP in plain PuLP. Returns (problem, variables): `variables` maps "ch", "dis",
    "ev", "hp" to (24, N) object arrays of LpVariables (0 where a household lacks the device)
    and "g_imp", "g_exp" to lists of 24."""
    import pulp

    _check(params, state, day)
    N, price = params.n, day.terminal_price_eur_mwh / 1000.0
    prob = pulp.LpProblem("p2p_day", pulp.LpMinimize)
    zeros = lambda: np.zeros((H, N), dtype=object)  # noqa: E731
    ch, dis, ev, hp = zeros(), zeros(), zeros(), zeros()
    objective = []

    g_imp = [pulp.LpVariable(f"g_imp_{h}", 0) for h in range(H)]
    g_exp = [pulp.LpVariable(f"g_exp_{h}", 0) for h in range(H)]
    objective += [(day.import_eur_mwh[h] * g_imp[h] - day.export_eur_mwh[h] * g_exp[h]) * DT_H / 1000.0 for h in range(H)]

    for i in range(N):
        if params.bat_capacity_kwh[i] > 0:  # battery
            energy = state.bat_energy_kwh[i]
            for h in range(H):
                ch[h, i] = pulp.LpVariable(f"ch_{i}_{h}", 0, params.bat_power_kw[i])
                dis[h, i] = pulp.LpVariable(f"dis_{i}_{h}", 0, params.bat_power_kw[i])
                e_next = pulp.LpVariable(f"ebat_{i}_{h}", params.bat_e_min_kwh[i], params.bat_e_max_kwh[i])
                prob += e_next == energy + DT_H * (params.bat_eta_charge[i] * ch[h, i] - dis[h, i] / params.bat_eta_discharge[i]), f"bat_{i}_{h}"
                energy = e_next
            objective.append(-price * (energy - state.bat_energy_kwh[i]))

        if params.ev_capacity_kwh[i] > 0:  # electric vehicle
            dep, arr = params.ev_departure_hour[i], params.ev_arrival_hour[i]
            energy = state.ev_energy_kwh[i]
            for h in range(H):
                if h == arr:
                    energy = params.ev_arrival_kwh[i]
                if h == dep:
                    unmet = pulp.LpVariable(f"ev_unmet_{i}", 0)
                    prob += unmet >= params.ev_need_kwh[i] - energy, f"ev_need_{i}"
                    rate = devices.ev_penalty_eur_kwh(day.ev_penalty_import_eur_mwh[h], day.ev_penalty_factor)
                    objective.append(float(rate) * unmet)
                if dep <= h < arr:
                    continue  # away
                ev[h, i] = pulp.LpVariable(f"ev_{i}_{h}", 0, params.ev_charger_kw[i])
                e_next = pulp.LpVariable(f"eev_{i}_{h}", 0, params.ev_capacity_kwh[i])
                prob += e_next == energy + DT_H * params.ev_eta[i] * ev[h, i], f"ev_{i}_{h}"
                energy = e_next
            reference = params.ev_arrival_kwh[i] if params.has_trip[i] else state.ev_energy_kwh[i]
            objective.append(-price * (energy - reference))

        if params.has_hp[i]:  # heat pump
            temp = state.t_in_c[i]
            k, cap = params.hp_k[i], params.hp_c_kwh_k[i]
            for h in range(H):
                hp[h, i] = pulp.LpVariable(f"hp_{i}_{h}", 0, params.hp_p_max_kw[i])
                t_next = pulp.LpVariable(f"t_{i}_{h}")
                cop = float(devices.heat_pump_cop(day.t_out_c[h], params.hp_cop_7c[i]))
                prob += t_next == temp + k * (day.t_out_c[h] - temp) + DT_H * cop * hp[h, i] / cap, f"hp_{i}_{h}"
                below = pulp.LpVariable(f"t_lo_{i}_{h}", 0)
                above = pulp.LpVariable(f"t_hi_{i}_{h}", 0)
                prob += t_next + below >= params.hp_t_min_c[i], f"comfort_lo_{i}_{h}"
                prob += t_next - above <= params.hp_t_max_c[i], f"comfort_hi_{i}_{h}"
                objective.append(day.comfort_eur_kh * DT_H * (below + above))
                temp = t_next

    for h in range(H):
        net = pulp.lpSum(ch[h]) - pulp.lpSum(dis[h]) + pulp.lpSum(ev[h]) + pulp.lpSum(hp[h]) + float(np.sum(day.load_kw[h] - day.pv_kw[h]))
        prob += g_imp[h] - g_exp[h] == net, f"balance_{h}"

    if day.peak_form == "hourly":
        for h in range(H):
            excess = pulp.LpVariable(f"peak_excess_{h}", 0)
            prob += excess >= g_imp[h] - day.peak_threshold_kw, f"peak_{h}"
            objective.append(day.peak_rho_eur_mwh * DT_H / 1000.0 * excess)
    elif day.peak_form == "daily":
        peak = pulp.LpVariable("peak_kw", 0)
        for h in range(H):
            prob += peak >= g_imp[h], f"peak_{h}"
        objective.append(day.peak_pi_eur_kw * peak)

    prob += pulp.lpSum(objective)
    return prob, {"ch": ch, "dis": dis, "ev": ev, "hp": hp, "g_imp": g_imp, "g_exp": g_exp}


def solve_day_pulp(params: DeviceParams, state: DeviceState, day: DayInputs, solver=None) -> DayOptimum:
    """Solve `build_day_problem` with PuLP (default: in-process HiGHS) — the slow reference."""
    import pulp

    prob, v = build_day_problem(params, state, day)
    status = prob.solve(solver or pulp.HiGHS(msg=False))
    if pulp.LpStatus[status] != "Optimal":
        raise OptimumSolveError(f"P2P day optimum (PuLP reference): status {pulp.LpStatus[status]}")
    value = np.vectorize(lambda a: float(pulp.value(a)) if not isinstance(a, (int, float)) else float(a), otypes=[float])
    return _assemble(params, state, day, value(v["ch"]), value(v["dis"]), value(v["ev"]), value(v["hp"]),
                     value(np.array(v["g_imp"], dtype=object)), value(np.array(v["g_exp"], dtype=object)),
                     float(pulp.value(prob.objective)))


# ---------------------------------------------------------------------------------------------
# the fast path: the same LP as sparse matrices, solved by highspy
# ---------------------------------------------------------------------------------------------

class _MatrixLp:
    """Columns and rows added in vectorised blocks; coefficients as (row, col, value) triplets."""

    def __init__(self):
        self.n_col = self.n_row = 0
        self.col_lower, self.col_upper, self.cost = [], [], []
        self.row_lower, self.row_upper = [], []
        self.entries, self.extra_cost = [], []
        self.offset = 0.0

    def cols(self, shape, lower, upper, cost=0.0) -> np.ndarray:
        index = self.n_col + np.arange(int(np.prod(shape))).reshape(shape)
        self.n_col += index.size
        for target, value in ((self.col_lower, lower), (self.col_upper, upper), (self.cost, cost)):
            target.append(np.broadcast_to(np.asarray(value, dtype=float), shape).ravel())
        return index

    def rows(self, shape, lower, upper) -> np.ndarray:
        index = self.n_row + np.arange(int(np.prod(shape))).reshape(shape)
        self.n_row += index.size
        self.row_lower.append(np.broadcast_to(np.asarray(lower, dtype=float), shape).ravel())
        self.row_upper.append(np.broadcast_to(np.asarray(upper, dtype=float), shape).ravel())
        return index

    def add_cost(self, cols, value) -> None:
        """Add `value` to the objective coefficients of columns that exist already."""
        self.extra_cost.append(np.broadcast_arrays(cols, np.asarray(value, dtype=float)))

    def coef(self, rows, cols, value) -> None:
        rows, cols, value = np.broadcast_arrays(rows, cols, np.asarray(value, dtype=float))
        self.entries.append((rows.ravel(), cols.ravel(), value.ravel()))

    def solve(self):
        import highspy
        import scipy.sparse as sp

        r, c, v = (np.concatenate(x) for x in zip(*self.entries))
        a = sp.csc_matrix((v, (r, c)), shape=(self.n_row, self.n_col))
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = self.n_col, self.n_row
        cost = np.concatenate(self.cost)
        for cols, value in self.extra_cost:
            np.add.at(cost, cols.ravel(), value.ravel())
        lp.col_cost_ = cost
        lp.col_lower_, lp.col_upper_ = np.concatenate(self.col_lower), np.concatenate(self.col_upper)
        lp.row_lower_, lp.row_upper_ = np.concatenate(self.row_lower), np.concatenate(self.row_upper)
        lp.offset_ = self.offset
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.passModel(lp)
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal:
            raise OptimumSolveError(f"P2P day optimum: highspy status {h.modelStatusToString(status)}")
        return np.asarray(h.getSolution().col_value), h.getInfo().objective_function_value


def solve_day(params: DeviceParams, state: DeviceState, day: DayInputs) -> DayOptimum:
    """The day's optimum: `build_day_problem`'s LP built as sparse matrices, solved with highspy."""
    _check(params, state, day)
    N, price = params.n, day.terminal_price_eur_mwh / 1000.0
    hours = np.arange(H)
    lp = _MatrixLp()
    fixed_kw = (day.pv_kw - day.load_kw).sum(axis=1)  # what the households' devices do not decide
    balance = lp.rows(H, fixed_kw, fixed_kw)  # sum of device powers - G^imp + G^exp = sum(PV - load)
    g_imp = lp.cols(H, 0.0, np.inf, day.import_eur_mwh * DT_H / 1000.0)
    g_exp = lp.cols(H, 0.0, np.inf, -day.export_eur_mwh * DT_H / 1000.0)
    lp.coef(balance, g_imp, -1.0)
    lp.coef(balance, g_exp, 1.0)
    # column index (24, N) of each household-hour power, -1 where the device is absent
    column = {name: np.full((H, N), -1) for name in ("ch", "dis", "ev", "hp")}

    # battery: E_{h+1} - E_h - eta_c ch_h + dis_h / eta_d = 0 (E_0 on the right-hand side)
    ib = np.flatnonzero(params.bat_capacity_kwh > 0)
    if ib.size:
        nb = ib.size
        ch = lp.cols((H, nb), 0.0, params.bat_power_kw[ib])
        dis = lp.cols((H, nb), 0.0, params.bat_power_kw[ib])
        energy = lp.cols((H, nb), params.bat_e_min_kwh[ib], params.bat_e_max_kwh[ib])
        rhs = np.zeros((H, nb))
        rhs[0] = state.bat_energy_kwh[ib]
        dyn = lp.rows((H, nb), rhs, rhs)
        lp.coef(dyn, energy, 1.0)
        lp.coef(dyn[1:], energy[:-1], -1.0)
        lp.coef(dyn, ch, -DT_H * params.bat_eta_charge[ib])
        lp.coef(dyn, dis, DT_H / params.bat_eta_discharge[ib])
        lp.coef(balance[:, None], ch, 1.0)
        lp.coef(balance[:, None], dis, -1.0)
        column["ch"][:, ib], column["dis"][:, ib] = ch, dis
        lp.add_cost(energy[-1], -price)
        lp.offset += price * state.bat_energy_kwh[ib].sum()

    # EV: columns only for the hours the car is home
    ie = np.flatnonzero(params.ev_capacity_kwh > 0)
    if ie.size:
        dep, arr = params.ev_departure_hour[ie], params.ev_arrival_hour[ie]
        present = (hours[:, None] < dep) | (hours[:, None] >= arr)  # (24, ne)
        hh, jj = np.nonzero(present)
        power = lp.cols(hh.size, 0.0, params.ev_charger_kw[ie][jj])
        energy = lp.cols(hh.size, 0.0, params.ev_capacity_kwh[ie][jj])
        energy_at = np.full((H, ie.size), -1)
        energy_at[hh, jj] = energy
        prev = np.where(hh > 0, energy_at[np.maximum(hh - 1, 0), jj], -1)  # the previous hour's energy, if home
        start = np.where(hh == 0, state.ev_energy_kwh[ie][jj], params.ev_arrival_kwh[ie][jj])
        rhs = np.where(prev >= 0, 0.0, start)
        dyn = lp.rows(hh.size, rhs, rhs)
        lp.coef(dyn, energy, 1.0)
        lp.coef(dyn[prev >= 0], prev[prev >= 0], -1.0)
        lp.coef(dyn, power, -DT_H * params.ev_eta[ie][jj])
        lp.coef(balance[hh], power, 1.0)
        column["ev"][hh, ie[jj]] = power
        trip = np.flatnonzero(params.has_trip[ie])
        if trip.size:  # u >= need - e_dep  <=>  u + e_dep >= need
            d = dep[trip]
            rate = devices.ev_penalty_eur_kwh(day.ev_penalty_import_eur_mwh[d], day.ev_penalty_factor)
            unmet = lp.cols(trip.size, 0.0, np.inf, rate)
            e0 = np.where(d == 0, state.ev_energy_kwh[ie][trip], 0.0)
            need = lp.rows(trip.size, params.ev_need_kwh[ie][trip] - e0, np.inf)
            lp.coef(need, unmet, 1.0)
            later = d > 0
            lp.coef(need[later], energy_at[d[later] - 1, trip[later]], 1.0)
        lp.add_cost(energy_at[-1], -price)  # every car is home in the last hour
        reference = np.where(params.has_trip[ie], params.ev_arrival_kwh[ie], state.ev_energy_kwh[ie])
        lp.offset += price * reference.sum()

    # heat pump: T_{h+1} - (1 - k) T_h - COP_h P_h / C = k T^out_h ((1 - k) T_0 added in hour 0)
    ih = np.flatnonzero(params.has_hp)
    if ih.size:
        nh = ih.size
        k = params.hp_k[ih]
        power = lp.cols((H, nh), 0.0, params.hp_p_max_kw[ih])
        temp = lp.cols((H, nh), -np.inf, np.inf)
        below = lp.cols((H, nh), 0.0, np.inf, day.comfort_eur_kh * DT_H)
        above = lp.cols((H, nh), 0.0, np.inf, day.comfort_eur_kh * DT_H)
        rhs = k * day.t_out_c[:, None] + np.zeros((H, nh))
        rhs[0] += (1.0 - k) * state.t_in_c[ih]
        dyn = lp.rows((H, nh), rhs, rhs)
        lp.coef(dyn, temp, 1.0)
        lp.coef(dyn[1:], temp[:-1], -(1.0 - k))
        cop = devices.heat_pump_cop(day.t_out_c[:, None], params.hp_cop_7c[ih])
        lp.coef(dyn, power, -DT_H * cop / params.hp_c_kwh_k[ih])
        lo = lp.rows((H, nh), params.hp_t_min_c[ih], np.inf)
        lp.coef(lo, temp, 1.0)
        lp.coef(lo, below, 1.0)
        hi = lp.rows((H, nh), -np.inf, params.hp_t_max_c[ih])
        lp.coef(hi, temp, 1.0)
        lp.coef(hi, above, -1.0)
        lp.coef(balance[:, None], power, 1.0)
        column["hp"][:, ih] = power

    if day.peak_form == "hourly":  # G^imp_h - z_h <= threshold
        excess = lp.cols(H, 0.0, np.inf, day.peak_rho_eur_mwh * DT_H / 1000.0)
        rows = lp.rows(H, -np.inf, day.peak_threshold_kw)
        lp.coef(rows, g_imp, 1.0)
        lp.coef(rows, excess, -1.0)
    elif day.peak_form == "daily":  # G^imp_h - peak <= 0
        peak = lp.cols(1, 0.0, np.inf, day.peak_pi_eur_kw)
        rows = lp.rows(H, -np.inf, 0.0)
        lp.coef(rows, g_imp, 1.0)
        lp.coef(rows, peak[0], -1.0)

    x, objective = lp.solve()
    value = lambda index: np.where(index >= 0, x[np.maximum(index, 0)], 0.0)  # noqa: E731
    return _assemble(params, state, day, value(column["ch"]), value(column["dis"]), value(column["ev"]), value(column["hp"]),
                     x[g_imp], x[g_exp], objective)


def _assemble(params, state, day, ch, dis, ev, hp, g_imp, g_exp, objective) -> DayOptimum:
    """The result of either path: the states follow from the powers by the LP's own dynamics."""
    N = params.n
    bat_e, ev_e, t_in = np.empty((H + 1, N)), np.empty((H + 1, N)), np.empty((H + 1, N))
    bat_e[0], ev_e[0], t_in[0] = state.bat_energy_kwh, state.ev_energy_kwh, state.t_in_c
    unmet = np.zeros(N)
    for h in range(H):
        bat_e[h + 1] = bat_e[h] + DT_H * (params.bat_eta_charge * ch[h] - dis[h] / params.bat_eta_discharge)
        e, unmet_h, _ = devices.ev_arrival_departure(params, ev_e[h], h)
        unmet += unmet_h
        ev_e[h + 1] = e + DT_H * params.ev_eta * ev[h]
        cop = devices.heat_pump_cop(day.t_out_c[h], params.hp_cop_7c)
        t_in[h + 1] = t_in[h] + params.hp_k * (day.t_out_c[h] - t_in[h]) + DT_H * cop * hp[h] / params.hp_c_kwh_k
    violation = np.where(params.has_hp, np.maximum(params.hp_t_min_c - t_in[1:], 0) + np.maximum(t_in[1:] - params.hp_t_max_c, 0), 0) * DT_H
    bat = ch - dis
    end = DeviceState(bat_e[-1], ev_e[-1], t_in[-1])
    grid = float(np.sum(day.import_eur_mwh * g_imp - day.export_eur_mwh * g_exp) * DT_H / 1000.0)
    peak = _peak_eur(day, g_imp)
    ev_pen = float(_ev_unmet_eur(params, day, unmet).sum())
    comfort = float(day.comfort_eur_kh * violation.sum())
    terminal = float(devices.terminal_value_eur(params, state, end, day.terminal_price_eur_mwh).sum())
    cost = DayCost(grid + peak + ev_pen + comfort - terminal, grid, peak, ev_pen, comfort, terminal)
    return DayOptimum(
        cost=cost, objective_eur=float(objective), grid_import_kw=g_imp, grid_export_kw=g_exp,
        net_kw=day.load_kw - day.pv_kw + bat + ev + hp,
        bat_charge_kw=ch, bat_discharge_kw=dis, bat_kw=bat, ev_kw=ev, hp_kw=hp,
        **dict(zip(("bat_action", "ev_action", "hp_action"), devices.executed_actions(params, bat, ev, hp, t_in[1:]))),
        bat_energy_kwh=bat_e, ev_energy_kwh=ev_e, t_in_c=t_in, ev_unmet_kwh=unmet, comfort_violation_kh=violation,
    )


# ---------------------------------------------------------------------------------------------
# any schedule or policy, priced by stepping the devices and clearing the platform
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class DaySimulation:
    """A day stepped through `devices.step` and priced (per hour (24,), per household (24, N) or (N,))."""

    cost: DayCost
    net_kw: np.ndarray  # (24, N)
    bill_eur: np.ndarray  # (24, N) MMR bills (p2p) or each household's grid bill (no P2P)
    peak_share_eur: np.ndarray  # (24, N) hourly form; (N,) daily form; zeros without a penalty
    household_cost_eur: np.ndarray  # (N,) bills + peak share + EV and comfort penalties - terminal value
    grid_import_kw: np.ndarray  # (24,) community P_net
    bat_action: np.ndarray  # (24, N) executed actions
    ev_action: np.ndarray
    hp_action: np.ndarray
    ev_unmet_kwh: np.ndarray  # (N,)
    comfort_violation_kh: np.ndarray  # (24, N)
    end_state: DeviceState


Policy = Callable[[int, DeviceState, np.ndarray, np.ndarray, float], tuple]


def rule_policy(params: DeviceParams) -> Policy:
    """`devices.rule_actions` as a policy for `simulate_day` (baselines 1 and 2)."""
    return lambda hour, state, load_kw, pv_kw, t_out_c: devices.rule_actions(params, state, hour, load_kw, pv_kw, t_out_c)


def simulate_day(params: DeviceParams, state: DeviceState, day: DayInputs, actions, p2p: bool = True) -> DaySimulation:
    """Step one day and price it like the optimum does.

    actions: (bat, ev, hp) arrays of shape (24, N), or a policy (hour, state, load_kw, pv_kw,
    t_out_c) -> (bat, ev, hp). p2p=True settles with MMR (its bills add up to the community's grid
    bill); p2p=False settles every household with the grid at the tariffs (baseline 1). The peak
    penalty (on the community's grid import), EV, comfort and terminal lines are the same in both.
    """
    _check(params, state, day)
    policy = actions if callable(actions) else (lambda h, *_: (actions[0][h], actions[1][h], actions[2][h]))
    N = params.n
    net, unmet, violation = np.empty((H, N)), np.zeros(N), np.empty((H, N))
    executed = np.empty((3, H, N))
    s = state
    for h in range(H):
        a_bat, a_ev, a_hp = policy(h, s, day.load_kw[h], day.pv_kw[h], day.t_out_c[h])
        r = devices.step(params, s, h, day.t_out_c[h], a_bat, a_ev, a_hp)
        net[h] = devices.net_position_kw(day.load_kw[h], day.pv_kw[h], r)
        executed[:, h] = r.bat_action, r.ev_action, r.hp_action
        unmet += r.ev_unmet_kwh
        violation[h] = r.comfort_violation_kh
        s = r.state
    mmr = clear_mmr(net, day.import_eur_mwh, day.export_eur_mwh)
    if p2p:
        bills = mmr.bill_eur
    else:
        bills = (day.import_eur_mwh[:, None] * np.maximum(net, 0) - day.export_eur_mwh[:, None] * np.maximum(-net, 0)) * DT_H / 1000.0
    if day.peak_form == "hourly":
        pen = peak_penalty_hourly(net, day.peak_rho_eur_mwh, day.peak_threshold_kw)
    elif day.peak_form == "daily":
        pen = peak_penalty_daily(net, day.peak_pi_eur_kw)
    else:
        pen = None
    share = pen.share_eur if pen is not None else np.zeros((H, N))
    ev_pen = _ev_unmet_eur(params, day, unmet)
    comfort = day.comfort_eur_kh * violation.sum(axis=0)
    terminal = devices.terminal_value_eur(params, state, s, day.terminal_price_eur_mwh)
    per_household = bills.sum(axis=0) + share.reshape(-1, N).sum(axis=0) + ev_pen + comfort - terminal
    cost = DayCost(float(per_household.sum()), float(bills.sum()), float(share.sum()), float(ev_pen.sum()),
                   float(comfort.sum()), float(terminal.sum()))
    return DaySimulation(cost, net, bills, share, per_household, mmr.grid_import_kw, *executed,
                         ev_unmet_kwh=unmet, comfort_violation_kh=violation, end_state=s)
