"""Household devices with state (battery, electric vehicle, heat pump), vectorised over households.

Conventions, written once for the P2P design (`model.markets.p2p_mmr`, `model.markets.p2p_optimum`):
- Time: hourly steps, dt = 1 h, so a power of P kW held for one step is P kWh. `hour` is the hour
  of the day, 0..23 (0 = midnight); a day is 24 steps.
- Arrays: every per-household array has the household axis last, shape (N,) for one hour; day
  arrays are (24, N), hours first.
- Power: a device power is + when the device draws from the household's connection (battery
  charging, EV charging, heat pump), - when it feeds it (battery discharging).
- Net position x (kW) of a household, + when it needs energy (imports), - when it has energy to
  sell:  x = load + battery power + EV charging + heat-pump power - PV   (`net_position_kw`).
- Prices in EUR/MWh; money in EUR = EUR/MWh * kWh / 1000.
- Every household has every device: a household without a device has capacity and power 0, its
  actions project to 0 and the device contributes nothing; one code path serves all clusters.
  A household without a heat pump (hp_p_max_kw == 0) has no comfort band: its indoor
  temperature drifts with the outdoor temperature and no comfort violation is counted.

Actions and their projection (what is executed never exceeds a limit):
- NaN or inf actions raise ValueError naming the device and the number of households.
- Actions outside their range are clipped: battery to [-1, 1], EV and heat pump to [0, 1].
- Battery: a -> requested power a * bat_power_kw (+ charging), then projected onto what the
  stored energy allows: charging at most (E_max - E) / (eta_c dt), discharging at most
  (E - E_min) eta_d / dt, with E_min/max = soc_min/max * capacity. Stored energy rises by
  eta_c * P_charge * dt and falls by P_discharge / eta_d * dt.
- EV (a day: present for hours t < departure and t >= arrival): at the start of the arrival
  hour the stored energy is reset to `ev_arrival_kwh`; at the departure hour the energy still
  missing, max(ev_need_kwh - stored, 0) kWh, is returned as unmet energy (the caller penalises
  it, `ev_penalty_eur_kwh`), and the car is away (it keeps reporting the energy it left with
  until it returns). When present, a in [0, 1] -> charging a * ev_charger_kw, at most the
  headroom (capacity - stored) / (eta dt); stored energy rises by eta * P * dt.
  departure = arrival = 24 (`NO_TRIP`) is a car that stays home all day.
- Heat pump: a in [0, 1] -> P = a * hp_p_max_kw (always executable), first-order thermal model
      T_{t+1} = T_t + dt/(R C) (T_out,t - T_t) + dt COP_t P / C
  with R in K/kW, C in kWh/K and COP_t = `heat_pump_cop(T_out,t, hp_cop_7c)`. Degree-hours of
  the new temperature outside [T_min, T_max] are returned (the caller penalises them, EUR/(K h)).
  With `hp_setpoint_action` (the scenario's `[control].heat_pump = "setpoint"`) the action is a set
  point instead: a in [0, 1] -> T_set = T_min + a (T_max - T_min), and the heat pump runs the
  power that brings T_{t+1} to T_set, within [0, hp_p_max_kw] (`setpoint_power_kw`; the rule's
  modulating thermostat is the constant a = RULE_SETPOINT_FRACTION).
- The executed action is the executed power over its limit (0 for a household without the
  device): what the market saw and what a replay buffer stores. A set-point heat pump's executed
  action is the set point its new temperature equals, (T_{t+1} - T_min) / (T_max - T_min) clipped
  to [0, 1]: the request itself where the power is inside its limits (`hp_setpoint_actions`).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

try:  # numpy's clip ufunc: exactly np.clip's result, without its Python wrapper (~1 us less per call)
    from numpy._core.umath import clip as _clip
except ImportError:  # numpy < 2
    from numpy.core.umath import clip as _clip

#: Step length (h). kW over one step = kWh.
DT_H = 1.0

#: Hours in a day (the optimum and the terminal value work on one day).
HOURS_PER_DAY = 24

#: `ev_departure_hour = ev_arrival_hour = NO_TRIP`: the car stays home all day.
NO_TRIP = 24

#: Default EV unmet-energy penalty: this many times the import tariff of the departure hour.
EV_PENALTY_FACTOR = 2.0

#: Air-source heat pump COP: COP_7C + COP_SLOPE_PER_K * (T_out - 7 C), clipped to [COP_MIN, COP_MAX]
#: (a linear fit of the kind manufacturers' data sheets give between -15 and +15 C).
COP_SLOPE_PER_K = 0.1
COP_MIN = 1.0
COP_MAX = 6.0

#: The rule policy's heat-pump setpoint: this fraction of the way from T_min to T_max.
RULE_SETPOINT_FRACTION = 0.5

_BAT = ("bat_capacity_kwh", "bat_power_kw", "bat_eta_charge", "bat_eta_discharge", "bat_soc_min", "bat_soc_max")
_EV = ("ev_capacity_kwh", "ev_charger_kw", "ev_eta", "ev_departure_hour", "ev_arrival_hour", "ev_need_kwh", "ev_arrival_kwh")
_HP = ("hp_p_max_kw", "hp_r_k_kw", "hp_c_kwh_k", "hp_cop_7c", "hp_t_min_c", "hp_t_max_c")


def _fail(field_name: str, mask: np.ndarray, problem: str, fix: str) -> None:
    bad = np.flatnonzero(mask)
    if bad.size:
        shown = ", ".join(map(str, bad[:5])) + (", ..." if bad.size > 5 else "")
        raise ValueError(f"DeviceParams.{field_name} {problem} for {bad.size} household(s) [{shown}]; {fix}")


@dataclass(frozen=True, eq=False)
class DeviceParams:
    """Per-household device parameters, every field an array of shape (N,).

    The EV trip fields describe one day; for another day pass `dataclasses.replace(params, ...)`.
    Arrays are stored read-only. `DeviceParams.empty(n)` gives n passive households.
    """

    # battery
    bat_capacity_kwh: np.ndarray  # usable capacity; 0 = no battery
    bat_power_kw: np.ndarray  # charge and discharge power limit
    bat_eta_charge: np.ndarray  # (0, 1]
    bat_eta_discharge: np.ndarray  # (0, 1]
    bat_soc_min: np.ndarray  # fraction of capacity, 0 <= soc_min <= soc_max <= 1
    bat_soc_max: np.ndarray
    # electric vehicle
    ev_capacity_kwh: np.ndarray  # 0 = no EV
    ev_charger_kw: np.ndarray
    ev_eta: np.ndarray  # charging efficiency (0, 1]
    ev_departure_hour: np.ndarray  # int, leaves at the start of this hour (morning); NO_TRIP = stays home
    ev_arrival_hour: np.ndarray  # int, back at the start of this hour (evening), departure < arrival <= 23
    ev_need_kwh: np.ndarray  # energy wanted at departure
    ev_arrival_kwh: np.ndarray  # energy on arrival
    # heat pump
    hp_p_max_kw: np.ndarray  # electric power limit; 0 = no heat pump
    hp_r_k_kw: np.ndarray  # thermal resistance to outside, K/kW (> 0)
    hp_c_kwh_k: np.ndarray  # thermal capacity, kWh/K (> 0); R * C >= dt
    hp_cop_7c: np.ndarray  # COP at 7 C outdoor temperature (> 0)
    hp_t_min_c: np.ndarray  # comfort band
    hp_t_max_c: np.ndarray
    # the heat pump's action: its power share (False) or a set point in its comfort band (True); one for all
    hp_setpoint_action: bool = False

    # derived once (not arguments)
    bat_e_min_kwh: np.ndarray = field(init=False, repr=False)
    bat_e_max_kwh: np.ndarray = field(init=False, repr=False)
    _bat_inv_power: np.ndarray = field(init=False, repr=False)
    _ev_inv_charger: np.ndarray = field(init=False, repr=False)
    _hp_inv_pmax: np.ndarray = field(init=False, repr=False)
    _hp_inv_band: np.ndarray = field(init=False, repr=False)  # 1 / (T_max - T_min), 0 for a zero-width band
    hp_k: np.ndarray = field(init=False, repr=False)  # dt / (R C): the share of the indoor-outdoor gap lost per step
    has_hp: np.ndarray = field(init=False, repr=False)
    has_trip: np.ndarray = field(init=False, repr=False)

    def __post_init__(self):
        names = _BAT + _EV + _HP
        arrays = {}
        for name in names:
            a = np.asarray(getattr(self, name), dtype=float)
            if a.ndim != 1:
                raise ValueError(f"DeviceParams.{name} must have shape (N,), one value per household; got shape {a.shape}")
            arrays[name] = a
        n = {a.shape[0] for a in arrays.values()}
        if len(n) != 1:
            raise ValueError(f"DeviceParams fields must all have the same number of households; got lengths {sorted(n)}")
        for name, a in arrays.items():
            _fail(name, ~np.isfinite(a), "is NaN or inf", "give a finite number (0 for a device the household does not have)")
        p = arrays
        for name in ("bat_capacity_kwh", "bat_power_kw", "ev_capacity_kwh", "ev_charger_kw", "ev_need_kwh",
                     "ev_arrival_kwh", "hp_p_max_kw"):
            _fail(name, p[name] < 0, "is negative", "use 0 for a household without that device")
        for name in ("bat_eta_charge", "bat_eta_discharge", "ev_eta"):
            _fail(name, (p[name] <= 0) | (p[name] > 1), "is outside (0, 1]", "give an efficiency such as 0.95 (1 = lossless)")
        for name in ("bat_soc_min", "bat_soc_max"):
            _fail(name, (p[name] < 0) | (p[name] > 1), "is outside [0, 1]", "give a fraction of the capacity")
        _fail("bat_soc_min", p["bat_soc_min"] > p["bat_soc_max"], "exceeds bat_soc_max", "swap them or lower bat_soc_min")
        for name in ("ev_departure_hour", "ev_arrival_hour"):
            _fail(name, (p[name] != np.round(p[name])) | (p[name] < 0) | (p[name] > NO_TRIP),
                  "is not a whole hour in 0..24", f"give the hour of the day (or {NO_TRIP} for a car that stays home)")
        dep, arr = p["ev_departure_hour"], p["ev_arrival_hour"]
        no_trip = dep == NO_TRIP
        _fail("ev_departure_hour", ~no_trip & (dep >= arr), "is not before ev_arrival_hour",
              f"the car leaves in the morning and is back in the evening; set both to {NO_TRIP} for no trip")
        _fail("ev_arrival_hour", (no_trip & (arr != NO_TRIP)) | (~no_trip & (arr > HOURS_PER_DAY - 1)),
              f"is not a valid return hour (<= {HOURS_PER_DAY - 1} after a trip, {NO_TRIP} without one)",
              "the car must be back by the last hour of the day")
        for name in ("ev_need_kwh", "ev_arrival_kwh"):
            _fail(name, p[name] > p["ev_capacity_kwh"], "exceeds ev_capacity_kwh", "lower it to at most the capacity")
        for name in ("hp_r_k_kw", "hp_c_kwh_k", "hp_cop_7c"):
            _fail(name, p[name] <= 0, "is not positive", "give a positive value (any, e.g. 10, for a household without a heat pump)")
        _fail("hp_c_kwh_k", p["hp_r_k_kw"] * p["hp_c_kwh_k"] < DT_H, "times hp_r_k_kw is below the 1 h step",
              "the explicit thermal model overshoots when R * C < dt; raise R or C")
        _fail("hp_t_min_c", p["hp_t_min_c"] > p["hp_t_max_c"], "exceeds hp_t_max_c", "swap them or lower hp_t_min_c")

        def put(name, value):
            value = np.asarray(value)
            value.setflags(write=False)
            object.__setattr__(self, name, value)

        for name in names:
            put(name, p[name].astype(np.int64) if name in ("ev_departure_hour", "ev_arrival_hour") else p[name])
        put("bat_e_min_kwh", p["bat_soc_min"] * p["bat_capacity_kwh"])
        put("bat_e_max_kwh", p["bat_soc_max"] * p["bat_capacity_kwh"])
        inv = lambda x: np.divide(1.0, x, out=np.zeros_like(x), where=x > 0)  # noqa: E731
        put("_bat_inv_power", inv(p["bat_power_kw"]))
        put("_ev_inv_charger", inv(p["ev_charger_kw"]))
        put("_hp_inv_pmax", inv(p["hp_p_max_kw"]))
        put("hp_k", DT_H / (p["hp_r_k_kw"] * p["hp_c_kwh_k"]))
        put("has_hp", p["hp_p_max_kw"] > 0)
        put("has_trip", ~no_trip)
        object.__setattr__(self, "hp_setpoint_action", bool(self.hp_setpoint_action))
        put("_hp_inv_band", inv(p["hp_t_max_c"] - p["hp_t_min_c"]))

    @property
    def n(self) -> int:
        return self.bat_capacity_kwh.shape[0]

    @classmethod
    def empty(cls, n: int) -> "DeviceParams":
        """n passive households: no battery, no EV, no heat pump (placeholder thermal values)."""
        z, one = np.zeros(n), np.ones(n)
        return cls(
            bat_capacity_kwh=z, bat_power_kw=z, bat_eta_charge=one, bat_eta_discharge=one, bat_soc_min=z, bat_soc_max=one,
            ev_capacity_kwh=z, ev_charger_kw=z, ev_eta=one, ev_departure_hour=np.full(n, NO_TRIP),
            ev_arrival_hour=np.full(n, NO_TRIP), ev_need_kwh=z, ev_arrival_kwh=z,
            hp_p_max_kw=z, hp_r_k_kw=np.full(n, 10.0), hp_c_kwh_k=np.full(n, 10.0), hp_cop_7c=np.full(n, 3.0),
            hp_t_min_c=np.full(n, 20.0), hp_t_max_c=np.full(n, 22.0),
        )

    def select(self, index) -> "DeviceParams":
        """The parameters of a subset of households (index array or boolean mask)."""
        values = {f.name: getattr(self, f.name) for f in fields(self) if f.init}
        return DeviceParams(**{k: v if np.ndim(v) == 0 else v[index] for k, v in values.items()})  # scalars: for all


@dataclass(frozen=True, eq=False)
class DeviceState:
    """Per-household device state at the start of an hour, arrays of shape (N,)."""

    bat_energy_kwh: np.ndarray  # stored energy (SOC * capacity)
    ev_energy_kwh: np.ndarray  # stored energy (while away: what the car left with)
    t_in_c: np.ndarray  # indoor temperature


def check_state(params: DeviceParams, state: DeviceState, tol: float = 1e-9) -> None:
    """Raise ValueError naming the field if a state is outside what its device allows."""
    for name in ("bat_energy_kwh", "ev_energy_kwh", "t_in_c"):
        a = np.asarray(getattr(state, name), dtype=float)
        if a.shape != (params.n,):
            raise ValueError(f"DeviceState.{name} must have shape ({params.n},); got {a.shape}")
        if not np.all(np.isfinite(a)):
            raise ValueError(f"DeviceState.{name} is NaN or inf for {int((~np.isfinite(a)).sum())} household(s)")
    e = np.asarray(state.bat_energy_kwh, dtype=float)
    bad = np.flatnonzero((e < params.bat_e_min_kwh - tol) | (e > params.bat_e_max_kwh + tol))
    if bad.size:
        raise ValueError(f"DeviceState.bat_energy_kwh is outside [soc_min, soc_max] * capacity for {bad.size} household(s) "
                         f"{bad[:5].tolist()}; start within the SOC bounds")
    e = np.asarray(state.ev_energy_kwh, dtype=float)
    bad = np.flatnonzero((e < -tol) | (e > params.ev_capacity_kwh + tol))
    if bad.size:
        raise ValueError(f"DeviceState.ev_energy_kwh is outside [0, ev_capacity_kwh] for {bad.size} household(s) "
                         f"{bad[:5].tolist()}; start within the capacity")


@dataclass(frozen=True, eq=False)
class StepResult:
    """One hour of all devices, arrays (N,). Powers in kW (= kWh over the hour), + = drawn."""

    bat_kw: np.ndarray  # executed battery power, + charging, - discharging
    ev_kw: np.ndarray  # executed EV charging
    hp_kw: np.ndarray  # executed heat-pump electric power
    bat_action: np.ndarray  # executed actions: bat_kw / bat_power_kw in [-1, 1], ...
    ev_action: np.ndarray  # ... ev_kw / ev_charger_kw in [0, 1]
    hp_action: np.ndarray  # ... hp_kw / hp_p_max_kw in [0, 1] (0 without the device; a set point: `hp_setpoint_actions`)
    state: DeviceState  # state at the start of the next hour
    ev_unmet_kwh: np.ndarray  # energy missing at departure (0 outside the departure hour)
    comfort_violation_kh: np.ndarray  # degree-hours of the new temperature outside the band (K h)


def heat_pump_cop(t_out_c, cop_7c):
    """COP of an air-source heat pump: cop_7c + COP_SLOPE_PER_K (T_out - 7 C), clipped to [COP_MIN, COP_MAX]."""
    return _clip(cop_7c + COP_SLOPE_PER_K * (np.asarray(t_out_c) - 7.0), COP_MIN, COP_MAX)


def _finite_action(name: str, a) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if not np.isfinite(a).all():
        raise ValueError(f"{name} action is NaN or inf for {int((~np.isfinite(a)).sum())} household(s); check the policy output")
    return a


def ev_arrival_departure(params: DeviceParams, ev_energy_kwh, hour: int):
    """The EV at the start of `hour`: (stored energy after an arrival reset, kWh missing if it departs
    now, whether it is home this hour), each (N,)."""
    e = np.where(params.ev_arrival_hour == hour, params.ev_arrival_kwh, ev_energy_kwh)
    unmet = np.where(params.ev_departure_hour == hour, np.maximum(params.ev_need_kwh - e, 0.0), 0.0)
    present = (hour < params.ev_departure_hour) | (hour >= params.ev_arrival_hour)
    return e, unmet, present


def _ev_power(params: DeviceParams, e, present, action) -> np.ndarray:
    headroom_kw = np.maximum(params.ev_capacity_kwh - e, 0.0) / (params.ev_eta * DT_H)
    return np.where(present, np.minimum(_clip(action, 0.0, 1.0) * params.ev_charger_kw, headroom_kw), 0.0)


def _bat_power(params: DeviceParams, e, action) -> np.ndarray:
    max_charge = np.maximum(params.bat_e_max_kwh - e, 0.0) / (params.bat_eta_charge * DT_H)
    max_discharge = np.maximum(e - params.bat_e_min_kwh, 0.0) * params.bat_eta_discharge / DT_H
    return _clip(_clip(action, -1.0, 1.0) * params.bat_power_kw, -max_discharge, max_charge)


def setpoint_power_kw(params: DeviceParams, t_in_c, t_out_c, cop, action) -> np.ndarray:
    """The heat-pump power (kW) that brings the next hour's indoor temperature to the set point
    T_min + a (T_max - T_min) (`action` a, clipped to [0, 1]), within [0, hp_p_max_kw]: 0 where the house
    drifts to the set point or above without heating, full power where even that falls short."""
    setpoint = params.hp_t_min_c + _clip(action, 0.0, 1.0) * (params.hp_t_max_c - params.hp_t_min_c)
    drift = t_in_c + params.hp_k * (np.asarray(t_out_c) - t_in_c)
    return _clip((setpoint - drift) * params.hp_c_kwh_k / (DT_H * cop), 0.0, params.hp_p_max_kw)


def hp_setpoint_actions(params: DeviceParams, t_new_c) -> np.ndarray:
    """A set-point heat pump's executed action: the set point its new indoor temperature `t_new_c` equals,
    (T - T_min) / (T_max - T_min) clipped to [0, 1] (0 without a heat pump). Any leading shape ((N,), (24, N))."""
    a = _clip((np.asarray(t_new_c) - params.hp_t_min_c) * params._hp_inv_band, 0.0, 1.0)
    return np.where(params.has_hp, a, 0.0)


def step(params: DeviceParams, state: DeviceState, hour: int, t_out_c, bat_action, ev_action, hp_action) -> StepResult:
    """Advance every device of every household by one hour.

    hour: hour of the day (0..23); t_out_c: outdoor temperature (scalar or (N,));
    bat_action in [-1, 1], ev_action and hp_action in [0, 1], each (N,) (clipped; NaN/inf raise).
    """
    if not 0 <= hour < HOURS_PER_DAY:
        raise ValueError(f"hour must be the hour of the day, 0..{HOURS_PER_DAY - 1}; got {hour}")
    a_bat = _finite_action("battery", bat_action)
    a_ev = _finite_action("EV", ev_action)
    a_hp = _finite_action("heat-pump", hp_action)

    # battery
    e = state.bat_energy_kwh
    p_bat = _bat_power(params, e, a_bat)
    e_bat = e + DT_H * (params.bat_eta_charge * np.maximum(p_bat, 0.0) + np.minimum(p_bat, 0.0) / params.bat_eta_discharge)
    e_bat = _clip(e_bat, params.bat_e_min_kwh, params.bat_e_max_kwh)  # rounding only

    # EV
    e, unmet, present = ev_arrival_departure(params, state.ev_energy_kwh, hour)
    p_ev = _ev_power(params, e, present, a_ev)
    e_ev = np.minimum(e + DT_H * params.ev_eta * p_ev, params.ev_capacity_kwh)

    # heat pump
    t = state.t_in_c
    cop = heat_pump_cop(t_out_c, params.hp_cop_7c)
    if params.hp_setpoint_action:
        p_hp = setpoint_power_kw(params, t, t_out_c, cop, a_hp)
    else:
        p_hp = _clip(a_hp, 0.0, 1.0) * params.hp_p_max_kw
    t_new = t + params.hp_k * (t_out_c - t) + DT_H * cop * p_hp / params.hp_c_kwh_k
    violation = np.where(params.has_hp, np.maximum(params.hp_t_min_c - t_new, 0.0) + np.maximum(t_new - params.hp_t_max_c, 0.0), 0.0) * DT_H

    a_bat, a_ev, a_hp = executed_actions(params, p_bat, p_ev, p_hp, t_new)
    return StepResult(
        bat_kw=p_bat, ev_kw=p_ev, hp_kw=p_hp, bat_action=a_bat, ev_action=a_ev, hp_action=a_hp,
        state=DeviceState(e_bat, e_ev, t_new), ev_unmet_kwh=unmet, comfort_violation_kh=violation,
    )


def executed_actions(params: DeviceParams, bat_kw, ev_kw, hp_kw, t_new_c=None):
    """Executed powers in action units: (bat_kw / bat_power_kw, ev_kw / ev_charger_kw, hp_kw / hp_p_max_kw),
    0 for a household without the device; a set-point heat pump's from the indoor temperature `t_new_c` its
    power led to (`hp_setpoint_actions`). Any leading shape ((N,), (24, N))."""
    if params.hp_setpoint_action:
        if t_new_c is None:
            raise ValueError("executed_actions: a set-point heat pump's action needs the new indoor temperature t_new_c")
        a_hp = hp_setpoint_actions(params, t_new_c)
    else:
        a_hp = hp_kw * params._hp_inv_pmax
    return bat_kw * params._bat_inv_power, ev_kw * params._ev_inv_charger, a_hp


def net_position_kw(load_kw, pv_kw, result: StepResult) -> np.ndarray:
    """x = load + battery power + EV charging + heat-pump power - PV (kW; + = needs energy)."""
    return np.asarray(load_kw) + result.bat_kw + result.ev_kw + result.hp_kw - np.asarray(pv_kw)


def ev_penalty_eur_kwh(import_eur_mwh, factor: float = EV_PENALTY_FACTOR):
    """Penalty rate for unmet EV energy (EUR/kWh): `factor` x the import tariff of the departure hour."""
    return factor * np.asarray(import_eur_mwh, dtype=float) / 1000.0


def terminal_value_eur(params: DeviceParams, day_start: DeviceState, day_end: DeviceState, price_eur_mwh):
    """Value of the energy stored at the end of a day, per household (EUR; + = more than the reference).

    price * (energy at end - reference) for the battery (reference: start of day) and the EV
    (reference: energy on arrival; start of day for a car that stayed home). `price_eur_mwh`
    is the day's mean mid-market rate, mean((import + export) / 2), or any price the caller sets.
    """
    ev_ref = np.where(params.has_trip, params.ev_arrival_kwh, day_start.ev_energy_kwh)
    delta_kwh = (day_end.bat_energy_kwh - day_start.bat_energy_kwh) + (day_end.ev_energy_kwh - ev_ref)
    return np.asarray(price_eur_mwh) * delta_kwh / 1000.0


def rule_actions(params: DeviceParams, state: DeviceState, hour: int, load_kw, pv_kw, t_out_c):
    """The rule-based policy of baselines 1/2 (no learning, no coordination): (bat, ev, hp) actions (N,).

    - EV: charge at full power whenever the car is home (from arrival until full).
    - Heat pump: a modulating thermostat: the power that brings the next hour's temperature to
      the setpoint T_min + RULE_SETPOINT_FRACTION (T_max - T_min), within [0, p_max].
    - Battery: self-consumption mode (the inverter follows the household's meter): charge with
      the household's PV surplus, discharge to cover its own net demand (load, EV, heat pump).
    """
    e_ev, _, present = ev_arrival_departure(params, state.ev_energy_kwh, hour)
    p_ev = _ev_power(params, e_ev, present, 1.0)

    cop = heat_pump_cop(t_out_c, params.hp_cop_7c)
    p_hp = setpoint_power_kw(params, state.t_in_c, t_out_c, cop, RULE_SETPOINT_FRACTION)

    residual_kw = np.asarray(load_kw) + p_ev + p_hp - np.asarray(pv_kw)
    a_bat = _clip(-residual_kw * params._bat_inv_power, -1.0, 1.0)
    a_hp = np.where(params.has_hp, RULE_SETPOINT_FRACTION, 0.0) if params.hp_setpoint_action else p_hp * params._hp_inv_pmax
    return a_bat, present.astype(float), a_hp
