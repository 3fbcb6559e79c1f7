"""Household devices: projections, EV days and the thermal model by hand; limits never exceeded; named errors."""

import dataclasses

import numpy as np
import pytest

from model import devices
from model.devices import NO_TRIP, DeviceParams, DeviceState


def params(n=1, **fields):
    """n passive households with the given device fields (scalars are broadcast)."""
    base = DeviceParams.empty(n)
    return dataclasses.replace(base, **{k: np.broadcast_to(np.asarray(v, float), (n,)) for k, v in fields.items()})


def state(n=1, bat=0.0, ev=0.0, t=20.0):
    return DeviceState(np.full(n, bat, float), np.full(n, ev, float), np.full(n, t, float))


def step(p, s, hour=12, t_out=5.0, bat=0.0, ev=0.0, hp=0.0):
    n = p.n
    return devices.step(p, s, hour, t_out, np.full(n, bat, float), np.full(n, ev, float), np.full(n, hp, float))


BAT = dict(bat_capacity_kwh=10, bat_power_kw=5, bat_eta_charge=0.9, bat_eta_discharge=0.8, bat_soc_min=0.1, bat_soc_max=0.9)


def test_battery_projection_by_hand():
    p = params(**BAT)  # stored energy within [1, 9] kWh
    # E = 8: charging is limited by the headroom (9 - 8) / 0.9 = 1.111 kW
    r = step(p, state(bat=8.0), bat=1.0)
    assert r.bat_kw[0] == pytest.approx(1 / 0.9) and r.bat_action[0] == pytest.approx(1 / 0.9 / 5)
    assert r.state.bat_energy_kwh[0] == pytest.approx(9.0)
    # E = 8, full discharge: 5 kW (the energy would allow (8 - 1) * 0.8 = 5.6); E falls by 5 / 0.8
    r = step(p, state(bat=8.0), bat=-1.0)
    assert r.bat_kw[0] == -5.0 and r.bat_action[0] == -1.0
    assert r.state.bat_energy_kwh[0] == pytest.approx(8 - 5 / 0.8)
    # E = 3: discharging is limited to (3 - 1) * 0.8 = 1.6 kW and ends exactly at soc_min
    r = step(p, state(bat=3.0), bat=-0.9)
    assert r.bat_kw[0] == pytest.approx(-1.6) and r.bat_action[0] == pytest.approx(-0.32)
    assert r.state.bat_energy_kwh[0] == pytest.approx(1.0)
    # half power, room to spare: executed as asked
    r = step(p, state(bat=4.0), bat=0.5)
    assert r.bat_kw[0] == 2.5 and r.state.bat_energy_kwh[0] == pytest.approx(4 + 0.9 * 2.5)


def test_actions_out_of_range_are_clipped_and_nan_is_named():
    p = params(**BAT, hp_p_max_kw=2.0)
    assert step(p, state(bat=4.0), bat=7.0).bat_kw[0] == step(p, state(bat=4.0), bat=1.0).bat_kw[0]
    assert step(p, state(bat=4.0), bat=-7.0).bat_kw[0] == step(p, state(bat=4.0), bat=-1.0).bat_kw[0]
    assert step(p, state(), hp=3.0).hp_kw[0] == 2.0 and step(p, state(), hp=-1.0).hp_kw[0] == 0.0
    q = params(3, **BAT)
    with pytest.raises(ValueError, match=r"^battery action is NaN or inf for 2 household\(s\)"):
        devices.step(q, state(3, bat=4.0), 0, 5.0, np.array([np.nan, 0, np.inf]), np.zeros(3), np.zeros(3))
    with pytest.raises(ValueError, match=r"^EV action is NaN or inf for 1 household\(s\)"):
        devices.step(q, state(3, bat=4.0), 0, 5.0, np.zeros(3), np.array([0, np.nan, 0]), np.zeros(3))
    with pytest.raises(ValueError, match=r"^heat-pump action is NaN or inf for 3 household\(s\)"):
        devices.step(q, state(3, bat=4.0), 0, 5.0, np.zeros(3), np.zeros(3), np.full(3, np.nan))


EV = dict(ev_capacity_kwh=40, ev_charger_kw=7, ev_eta=0.9, ev_departure_hour=7, ev_arrival_hour=18, ev_need_kwh=30, ev_arrival_kwh=10)


def run_ev(p, e0, action):
    s, out = state(ev=e0), []
    for hour in range(24):
        r = step(p, s, hour=hour, ev=action)
        out.append((r.ev_kw[0], r.state.ev_energy_kwh[0], r.ev_unmet_kwh[0]))
        s = r.state
    return np.array(out)


def test_ev_day_by_hand():
    p = params(**EV)
    out = run_ev(p, 20.0, 1.0)
    # hours 0-2 at 7 kW (+6.3 kWh each), hour 3 fills the last 1.1 kWh, then full
    np.testing.assert_allclose(out[:4, 0], [7, 7, 7, 1.1 / 0.9])
    np.testing.assert_allclose(out[:7, 1], [26.3, 32.6, 38.9, 40, 40, 40, 40])
    assert out[4:7, 0].tolist() == [0, 0, 0]
    # away 7..17: no charging whatever the action, nothing unmet (40 >= 30), energy kept as it left
    assert out[7:18, 0].tolist() == [0] * 11 and out[:, 2].sum() == 0 and out[17, 1] == 40
    # back at 18 with 10 kWh, charges at full power
    np.testing.assert_allclose(out[18:21, 1], [16.3, 22.6, 28.9])
    # never charged: 5 kWh at departure, 25 kWh missing at hour 7 only
    out = run_ev(p, 5.0, 0.0)
    assert out[7, 2] == 25.0 and out[:, 2].sum() == 25.0
    # a car that stays home: present all day, never anything unmet
    home = params(**{**EV, "ev_departure_hour": NO_TRIP, "ev_arrival_hour": NO_TRIP})
    out = run_ev(home, 5.0, 1.0)
    assert (out[:5, 0] == 7).all() and out[:, 2].sum() == 0 and out[-1, 1] == 40


def test_heat_pump_by_hand():
    # R = 10 K/kW, C = 5 kWh/K -> k = 1 / 50; COP at 0 C = 3.5 - 0.7 = 2.8; P = 0.5 * 2 kW
    p = params(hp_p_max_kw=2, hp_r_k_kw=10, hp_c_kwh_k=5, hp_cop_7c=3.5, hp_t_min_c=20.5, hp_t_max_c=22)
    r = step(p, state(t=20.0), t_out=0.0, hp=0.5)
    t_new = 20 + (0 - 20) / 50 + 2.8 * 1.0 / 5  # 20.16
    assert r.hp_kw[0] == 1.0 and r.hp_action[0] == 0.5
    assert r.state.t_in_c[0] == pytest.approx(t_new)
    assert r.comfort_violation_kh[0] == pytest.approx(20.5 - t_new)  # 0.34 K h below the band
    r = step(p, state(t=23.0), t_out=20.0, hp=1.0)  # above the band: 23 - 3/50 + 2 * 4.8 / 5
    assert r.comfort_violation_kh[0] == pytest.approx(23 - 3 / 50 + 2 * 4.8 / 5 - 22)
    # the COP is linear in the outdoor temperature and clipped
    np.testing.assert_allclose(devices.heat_pump_cop(np.array([-40.0, 0.0, 7.0, 60.0]), 3.5),
                               [devices.COP_MIN, 2.8, 3.5, devices.COP_MAX])
    # a household without a heat pump drifts and has no comfort band
    r = step(params(), state(t=20.0), t_out=-10.0, hp=1.0)
    assert r.hp_kw[0] == 0 and r.hp_action[0] == 0 and r.comfort_violation_kh[0] == 0


def random_households(n, rng):
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    some = lambda x: np.where(rng.random(n) < 0.7, x, 0.0)  # noqa: E731
    cap = some(u(20, 60))
    dep = rng.integers(0, 12, n)
    arr = rng.integers(12, 24, n)
    home = rng.random(n) < 0.2
    return DeviceParams(
        bat_capacity_kwh=some(u(2, 14)), bat_power_kw=u(1, 6), bat_eta_charge=u(0.8, 1), bat_eta_discharge=u(0.8, 1),
        bat_soc_min=u(0, 0.3), bat_soc_max=u(0.7, 1), ev_capacity_kwh=cap, ev_charger_kw=u(2, 11), ev_eta=u(0.85, 1),
        ev_departure_hour=np.where(home, NO_TRIP, dep), ev_arrival_hour=np.where(home, NO_TRIP, arr),
        ev_need_kwh=cap * u(0, 1), ev_arrival_kwh=cap * u(0, 1), hp_p_max_kw=some(u(1, 5)), hp_r_k_kw=u(3, 12),
        hp_c_kwh_k=u(2, 8), hp_cop_7c=u(2.5, 4.5), hp_t_min_c=u(18, 20), hp_t_max_c=u(21, 24),
    )


def test_random_steps_never_exceed_a_limit_and_keep_the_books():
    rng = np.random.default_rng(0)
    n = 200
    p = random_households(n, rng)
    s = DeviceState(rng.uniform(p.bat_e_min_kwh, p.bat_e_max_kwh), rng.uniform(0, p.ev_capacity_kwh), rng.uniform(15, 25, n))
    for day in range(3):
        for hour in range(24):
            a = rng.uniform(-2, 2, (3, n))
            r = devices.step(p, s, hour, rng.uniform(-10, 15), *a)
            assert np.all(r.state.bat_energy_kwh >= p.bat_e_min_kwh) and np.all(r.state.bat_energy_kwh <= p.bat_e_max_kwh)
            assert np.all(r.state.ev_energy_kwh >= 0) and np.all(r.state.ev_energy_kwh <= p.ev_capacity_kwh)
            assert np.all(np.abs(r.bat_kw) <= p.bat_power_kw) and np.all(np.abs(r.bat_action) <= 1)
            assert np.all((r.ev_kw >= 0) & (r.ev_kw <= p.ev_charger_kw)) and np.all((r.ev_action >= 0) & (r.ev_action <= 1))
            assert np.all((r.hp_kw >= 0) & (r.hp_kw <= p.hp_p_max_kw)) and np.all(r.comfort_violation_kh >= 0)
            present = (hour < p.ev_departure_hour) | (hour >= p.ev_arrival_hour)
            assert np.all(r.ev_kw[~present] == 0)
            stored = np.where(r.bat_kw > 0, p.bat_eta_charge * r.bat_kw, r.bat_kw / p.bat_eta_discharge)
            np.testing.assert_allclose(r.state.bat_energy_kwh - s.bat_energy_kwh, stored, atol=1e-9)
            # the executed action is a fixed point: replaying it executes the same powers
            again = devices.step(p, s, hour, 0.0, r.bat_action, r.ev_action, r.hp_action)
            np.testing.assert_allclose(again.bat_kw, r.bat_kw, atol=1e-12)
            np.testing.assert_allclose(again.ev_kw, r.ev_kw, atol=1e-12)
            s = r.state


def test_vectorised_equals_one_household_at_a_time():
    rng = np.random.default_rng(1)
    n = 12
    p = random_households(n, rng)
    s = DeviceState(rng.uniform(p.bat_e_min_kwh, p.bat_e_max_kwh), rng.uniform(0, p.ev_capacity_kwh), rng.uniform(15, 25, n))
    a = rng.uniform(-1, 1, (3, n))
    for hour in (0, 5, 13, 23):
        r = devices.step(p, s, hour, 3.0, *a)
        for i in range(n):
            one = devices.step(p.select([i]), DeviceState(*(np.array([getattr(s, f)[i]]) for f in ("bat_energy_kwh", "ev_energy_kwh", "t_in_c"))),
                               hour, 3.0, *a[:, [i]])
            for name in ("bat_kw", "ev_kw", "hp_kw", "ev_unmet_kwh", "comfort_violation_kh"):
                assert getattr(one, name)[0] == getattr(r, name)[i]


@pytest.mark.parametrize("field, value, message", [
    ("bat_capacity_kwh", -1.0, r"bat_capacity_kwh is negative .* use 0 for a household without that device"),
    ("bat_eta_charge", 1.2, r"bat_eta_charge is outside \(0, 1\]"),
    ("ev_eta", 0.0, r"ev_eta is outside \(0, 1\]"),
    ("bat_soc_min", 0.95, r"bat_soc_min exceeds bat_soc_max .* swap them"),
    ("hp_t_min_c", 23.0, r"hp_t_min_c exceeds hp_t_max_c"),
    ("ev_departure_hour", 19, r"ev_departure_hour is not before ev_arrival_hour"),
    ("ev_arrival_hour", 24, r"ev_arrival_hour is not a valid return hour"),
    ("ev_need_kwh", 50.0, r"ev_need_kwh exceeds ev_capacity_kwh"),
    ("hp_c_kwh_k", 0.05, r"hp_c_kwh_k times hp_r_k_kw is below the 1 h step .* raise R or C"),
    ("hp_r_k_kw", -2.0, r"hp_r_k_kw is not positive"),
    ("bat_power_kw", np.nan, r"bat_power_kw is NaN or inf"),
])
def test_invalid_parameters_name_the_field_and_the_fix(field, value, message):
    good = params(2, **BAT, **EV, hp_p_max_kw=2, hp_t_min_c=20, hp_t_max_c=22)
    values = getattr(good, field).astype(float).copy()
    values[1] = value
    with pytest.raises(ValueError, match=rf"DeviceParams\.{message}"):
        dataclasses.replace(good, **{field: values})


def test_invalid_state_is_named():
    p = params(**BAT, **EV)
    with pytest.raises(ValueError, match=r"bat_energy_kwh is outside \[soc_min, soc_max\]"):
        devices.check_state(p, state(bat=9.5, ev=10))
    with pytest.raises(ValueError, match=r"ev_energy_kwh is outside \[0, ev_capacity_kwh\]"):
        devices.check_state(p, state(bat=5, ev=41))


def test_terminal_value_and_ev_penalty_by_hand():
    p = params(2, ev_capacity_kwh=40, ev_charger_kw=7,
               ev_departure_hour=[7, NO_TRIP], ev_arrival_hour=[18, NO_TRIP], ev_arrival_kwh=[10, 0])
    start = DeviceState(np.array([4.0, 0.0]), np.array([30.0, 20.0]), np.full(2, 20.0))
    end = DeviceState(np.array([6.0, 0.0]), np.array([16.0, 25.0]), np.full(2, 20.0))
    # 100 EUR/MWh: battery +2 kWh and EV +6 kWh above its arrival energy; the car at home +5 kWh
    np.testing.assert_allclose(devices.terminal_value_eur(p, start, end, 100.0), [0.2 + 0.6, 0.5])
    assert devices.ev_penalty_eur_kwh(300.0) == pytest.approx(0.6)  # 2 x 300 EUR/MWh
    assert devices.ev_penalty_eur_kwh(300.0, factor=3) == pytest.approx(0.9)


def test_rule_actions():
    p = params(3, **BAT, **EV, hp_p_max_kw=3, hp_r_k_kw=10, hp_c_kwh_k=5, hp_cop_7c=3.0, hp_t_min_c=20, hp_t_max_c=22)
    s = state(3, bat=5.0, ev=20.0, t=20.0)
    load, pv = np.array([0.5, 2.0, 0.5]), np.array([3.0, 0.0, 0.5])
    a_bat, a_ev, a_hp = devices.rule_actions(p, s, 12, load, pv, 7.0)  # midday: car away
    assert a_ev.tolist() == [0, 0, 0]
    # heat pump: bring 20 C to the middle of the band, 21 C: (21 - (20 - 13/50)) * 5 / 3 kW
    p_hp = (21 - (20 + (7 - 20) / 50)) * 5 / 3.0
    np.testing.assert_allclose(a_hp, p_hp / 3)
    # battery follows the meter: charge the PV surplus, discharge to cover the net demand
    np.testing.assert_allclose(a_bat, np.clip(-(load + p_hp - pv) / 5, -1, 1))
    _, a_ev, _ = devices.rule_actions(p, s, 19, load, pv, 7.0)  # evening: home, full power
    assert a_ev.tolist() == [1, 1, 1]


def test_setpoint_heat_pump_by_hand():
    # [control].heat_pump = "setpoint": a -> T_set = T_min + a (T_max - T_min), the power that reaches it within [0, p_max].
    # R = 8 K/kW, C = 4 kWh/K -> k = 1/32; T_out = 4 C -> COP 3.2 - 0.3 = 2.9; from 20 C the house drifts to 19.5 C.
    p = dataclasses.replace(params(hp_p_max_kw=3, hp_r_k_kw=8, hp_c_kwh_k=4, hp_cop_7c=3.2, hp_t_min_c=19, hp_t_max_c=23),
                            hp_setpoint_action=True)
    r = step(p, state(t=20.0), t_out=4.0, hp=0.25)  # set point 20 C: (20 - 19.5) * 4 / 2.9 kW
    assert r.hp_kw[0] == pytest.approx(0.5 * 4 / 2.9)
    assert r.state.t_in_c[0] == pytest.approx(20.0) and r.hp_action[0] == pytest.approx(0.25)
    r = step(p, state(t=20.0), t_out=4.0, hp=0.0)  # set point 19 C, below the drift: off; executed = where it drifted
    assert r.hp_kw[0] == 0 and r.state.t_in_c[0] == pytest.approx(19.5) and r.hp_action[0] == pytest.approx(0.125)
    r = step(p, state(t=20.0), t_out=4.0, hp=1.0)  # set point 23 C needs 4.83 kW: full power, 19.5 + 2.9 * 3 / 4
    assert r.hp_kw[0] == 3 and r.state.t_in_c[0] == pytest.approx(21.675)
    assert r.hp_action[0] == pytest.approx((21.675 - 19) / 4)
    r = step(p, state(t=25.0), t_out=30.0, hp=1.0)  # a summer afternoon above the band: no set point heats
    assert r.hp_kw[0] == 0 and r.hp_action[0] == 1.0 and r.comfort_violation_kh[0] == pytest.approx(25 + 5 / 32 - 23)
    # out of range is clipped, NaN refused; a household without a heat pump gets 0
    assert step(p, state(t=20.0), t_out=4.0, hp=7.0).hp_kw[0] == 3
    with pytest.raises(ValueError, match="heat-pump action is NaN"):
        step(p, state(t=20.0), hp=np.nan)
    none = dataclasses.replace(params(), hp_setpoint_action=True)
    r = step(none, state(t=20.0), t_out=-10.0, hp=0.7)
    assert r.hp_kw[0] == 0 and r.hp_action[0] == 0 and r.comfort_violation_kh[0] == 0
    assert none.select(np.array([0])).hp_setpoint_action  # a subset keeps the action's meaning


def test_setpoint_rule_is_the_power_rule_and_replays_what_it_executed():
    """The rule's thermostat is the set point RULE_SETPOINT_FRACTION: the same power in both action meanings; and a
    set-point household replaying its executed actions (any policy's) steps to the same temperatures."""
    rng = np.random.default_rng(3)
    n = 60
    power = random_households(n, rng)
    setpoint = dataclasses.replace(power, hp_setpoint_action=True)
    s = DeviceState(rng.uniform(power.bat_e_min_kwh, power.bat_e_max_kwh), rng.uniform(0, power.ev_capacity_kwh),
                    rng.uniform(16, 25, n))
    for hour in range(24):
        t_out, load, pv = rng.uniform(-10, 30), rng.uniform(0, 3, n), rng.uniform(0, 4, n)
        rule_p = devices.rule_actions(power, s, hour, load, pv, t_out)
        rule_s = devices.rule_actions(setpoint, s, hour, load, pv, t_out)
        np.testing.assert_array_equal(rule_s[2], np.where(power.has_hp, devices.RULE_SETPOINT_FRACTION, 0.0))
        a, b = devices.step(power, s, hour, t_out, *rule_p), devices.step(setpoint, s, hour, t_out, *rule_s)
        np.testing.assert_allclose(a.hp_kw, b.hp_kw, rtol=1e-12, atol=1e-12)  # the power share's round trip: an ulp
        np.testing.assert_allclose(a.state.t_in_c, b.state.t_in_c, rtol=1e-12)
        # a random set point, then its executed action replayed: the same power and temperature
        r = devices.step(setpoint, s, hour, t_out, rule_s[0], rule_s[1], rng.uniform(-0.2, 1.2, n))
        again = devices.step(setpoint, s, hour, t_out, rule_s[0], rule_s[1], r.hp_action)
        np.testing.assert_allclose(again.hp_kw, r.hp_kw, atol=1e-9)
        np.testing.assert_allclose(again.state.t_in_c, r.state.t_in_c, atol=1e-12)
        s = r.state
