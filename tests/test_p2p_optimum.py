"""The day's centralised optimum: tiny instances by hand, PuLP against the matrix path, the replay
through the devices and MMR, and the rule-based baselines never beating it."""

import dataclasses

import numpy as np
import pytest

from model.devices import NO_TRIP, DeviceParams, DeviceState
from model.markets.p2p_optimum import (
    DayInputs,
    OptimumSolveError,
    _MatrixLp,
    rule_policy,
    simulate_day,
    solve_day,
    solve_day_pulp,
)

PEAKS = {
    None: {},
    "hourly": dict(peak_rho_eur_mwh=400.0, peak_threshold_kw=None),  # threshold set per instance
    "daily": dict(peak_pi_eur_kw=0.8),
}


def households(n, seed=0):
    """A realistic mix: 1/3 PV + battery, 1/4 PV + EV, 1/4 heat pump, the rest passive (some with PV);
    a winter day with an evening price peak."""
    rng = np.random.default_rng(seed)
    kind = rng.permutation(np.arange(n) * 12 // n)  # 0..11 in equal shares
    bat, ev, hp = kind < 4, (kind >= 4) & (kind < 7), (kind >= 7) & (kind < 10)
    u = lambda lo, hi: rng.uniform(lo, hi, n)  # noqa: E731
    cap_ev = np.where(ev, u(30, 60), 0)
    stay = ev & (rng.random(n) < 0.15)  # some cars stay home
    dep = np.where(ev & ~stay, rng.integers(6, 10, n), NO_TRIP)
    arr = np.where(ev & ~stay, rng.integers(16, 21, n), NO_TRIP)
    params = DeviceParams(
        bat_capacity_kwh=np.where(bat, u(5, 13.5), 0), bat_power_kw=np.where(bat, u(2.5, 5), 0),
        bat_eta_charge=u(0.92, 0.97), bat_eta_discharge=u(0.92, 0.97), bat_soc_min=u(0.05, 0.15), bat_soc_max=u(0.9, 1.0),
        ev_capacity_kwh=cap_ev, ev_charger_kw=np.where(ev, rng.choice([3.7, 7.4, 11.0], n), 0), ev_eta=u(0.88, 0.95),
        ev_departure_hour=dep, ev_arrival_hour=arr, ev_need_kwh=cap_ev * u(0.6, 0.9), ev_arrival_kwh=cap_ev * u(0.2, 0.5),
        hp_p_max_kw=np.where(hp, u(2, 5), 0), hp_r_k_kw=u(5, 12), hp_c_kwh_k=u(3, 8), hp_cop_7c=u(2.8, 4.0),
        hp_t_min_c=u(19, 20.5), hp_t_max_c=u(22, 23.5),
    )
    state = DeviceState(
        bat_energy_kwh=params.bat_capacity_kwh * np.clip(u(0.2, 0.8), params.bat_soc_min, params.bat_soc_max),
        ev_energy_kwh=cap_ev * u(0.3, 0.7), t_in_c=u(19.5, 22.5))
    h = np.arange(24)[:, None]
    kwp = np.where(bat | ev | (~hp & (rng.random(n) < 0.4)), u(3, 8), 0)
    pv = kwp * np.clip(np.sin((h - 7) / 10 * np.pi), 0, None) * u(0.3, 0.8)
    load = u(0.2, 0.5) + u(0.3, 1.2) * np.exp(-((h - 19) / 2.5) ** 2) + 0.3 * np.exp(-((h - 8) / 1.5) ** 2) * rng.random((24, n))
    t_out = 2 + 4 * np.sin((np.arange(24) - 9) / 24 * 2 * np.pi)
    imp = 250 + 60 * np.exp(-((np.arange(24) - 18.5) / 2) ** 2) + 20 * rng.random(24)
    return params, state, (load, pv, t_out, imp, np.full(24, 80.0))


def day_of(data, form, n):
    settings = dict(PEAKS[form])
    if form == "hourly":
        settings["peak_threshold_kw"] = 0.4 * n  # binds in the evening
    return DayInputs(*data, peak_form=form, **settings)


@pytest.mark.parametrize("form", [None, "hourly", "daily"])
@pytest.mark.parametrize("seed", range(3))
def test_pulp_reference_and_matrix_path_agree(form, seed):
    n = 5 + 2 * seed
    params, state, data = households(n, seed)
    day = day_of(data, form, n)
    fast, ref = solve_day(params, state, day), solve_day_pulp(params, state, day)
    assert fast.objective_eur == pytest.approx(ref.objective_eur, rel=1e-6, abs=1e-6)
    assert fast.cost.total_eur == pytest.approx(fast.objective_eur, rel=1e-6, abs=1e-6)  # parts add up
    for part in ("grid_bill_eur", "peak_penalty_eur", "ev_penalty_eur", "comfort_penalty_eur", "terminal_value_eur"):
        assert getattr(fast.cost, part) == pytest.approx(getattr(ref.cost, part), rel=1e-4, abs=1e-4)


def one_household(**fields):
    base = DeviceParams.empty(1)
    return dataclasses.replace(base, **{k: np.array([v], float) for k, v in fields.items()})


def test_battery_charges_in_the_cheap_hours_up_to_its_limit():
    # import 100 EUR/MWh in hours 0-11, 300 in 12-23; 2 kW load in the expensive hours only.
    # Battery 10 kWh, SOC 0.1..0.9, eta 0.9 both ways, starts empty (1 kWh), stored energy worth 0.
    p = one_household(bat_capacity_kwh=10, bat_power_kw=2, bat_eta_charge=0.9, bat_eta_discharge=0.9,
                      bat_soc_min=0.1, bat_soc_max=0.9)
    s = DeviceState(np.array([1.0]), np.zeros(1), np.full(1, 20.0))
    imp = np.repeat([100.0, 300.0], 12)
    load = np.repeat([0.0, 2.0], 12)[:, None]
    day = DayInputs(load, np.zeros((24, 1)), np.zeros(24), imp, np.full(24, 50.0), terminal_price_eur_mwh=0.0)
    r = solve_day(p, s, day)
    # 8 kWh of room: 8 / 0.9 kWh bought at 100; 8 * 0.9 = 7.2 kWh delivered, 24 - 7.2 imported at 300
    assert r.grid_import_kw[:12].sum() == pytest.approx(8 / 0.9)
    assert r.bat_energy_kwh.max() == pytest.approx(9.0) and r.bat_energy_kwh[-1, 0] == pytest.approx(1.0)
    assert r.cost.total_eur == pytest.approx(8 / 0.9 * 0.1 + (24 - 7.2) * 0.3)
    assert r.objective_eur == pytest.approx(solve_day_pulp(p, s, day).objective_eur)
    assert np.all(r.bat_kw[:12] >= -1e-9) and np.all(r.bat_kw[12:] <= 1e-9)


def test_ev_charges_before_departure_and_pays_for_the_rest():
    # needs 30 kWh at 2:00, has 10, charger 3 kW: 6 kWh in hours 0-1 at 200 EUR/MWh (1.2 EUR);
    # 14 kWh missing at 2 x 200 EUR/MWh (5.6 EUR); back at 18 with 10 kWh (the reference), evening
    # charging is worth only the mean mid rate (125) and does not happen.
    p = one_household(ev_capacity_kwh=40, ev_charger_kw=3, ev_eta=1.0, ev_departure_hour=2, ev_arrival_hour=18,
                      ev_need_kwh=30, ev_arrival_kwh=10)
    s = DeviceState(np.zeros(1), np.array([10.0]), np.full(1, 20.0))
    day = DayInputs(np.zeros((24, 1)), np.zeros((24, 1)), np.zeros(24), np.full(24, 200.0), np.full(24, 50.0))
    r = solve_day(p, s, day)
    np.testing.assert_allclose(r.ev_kw[:, 0], [3, 3] + [0] * 22, atol=1e-9)
    assert r.ev_unmet_kwh[0] == pytest.approx(14)
    assert (r.cost.grid_bill_eur, r.cost.ev_penalty_eur, r.cost.terminal_value_eur) == pytest.approx((1.2, 5.6, 0))
    assert r.cost.total_eur == pytest.approx(6.8)
    assert r.ev_energy_kwh[:, 0].tolist() == pytest.approx([10, 13, 16] + [16] * 16 + [10] * 6)


def test_heat_pump_keeps_the_band_at_least_cost():
    # k = 1/50, C = 5 kWh/K, COP 3 at 7 C outside: holding 20 C needs 13/50 K/h = 0.26 * 5 / 3 kW per hour
    p = one_household(hp_p_max_kw=3, hp_r_k_kw=10, hp_c_kwh_k=5, hp_cop_7c=3, hp_t_min_c=20, hp_t_max_c=22)
    s = DeviceState(np.zeros(1), np.zeros(1), np.array([20.0]))
    day = DayInputs(np.zeros((24, 1)), np.zeros((24, 1)), np.full(24, 7.0), np.full(24, 200.0), np.full(24, 50.0),
                    comfort_eur_kh=10.0)
    r = solve_day(p, s, day)
    np.testing.assert_allclose(r.hp_kw[:, 0], 0.26 * 5 / 3)
    np.testing.assert_allclose(r.t_in_c[:, 0], 20.0)
    assert r.cost.total_eur == pytest.approx(24 * 0.26 * 5 / 3 * 0.2) and r.cost.comfort_penalty_eur == pytest.approx(0, abs=1e-9)


@pytest.mark.parametrize("form", [None, "hourly", "daily"])
def test_replay_through_devices_and_mmr_reproduces_the_optimum_and_beats_the_rules(form):
    n = 300
    params, state, data = households(n, seed=11)
    day = day_of(data, form, n)
    opt = solve_day(params, state, day)
    replay = simulate_day(params, state, day, (opt.bat_action, opt.ev_action, opt.hp_action))
    assert replay.cost.total_eur == pytest.approx(opt.objective_eur, rel=1e-6)
    for part in ("grid_bill_eur", "peak_penalty_eur", "ev_penalty_eur", "comfort_penalty_eur", "terminal_value_eur"):
        assert getattr(replay.cost, part) == pytest.approx(getattr(opt.cost, part), rel=1e-5, abs=1e-5)
    np.testing.assert_allclose(replay.net_kw, opt.net_kw, atol=1e-6)
    np.testing.assert_allclose(replay.end_state.bat_energy_kwh, opt.bat_energy_kwh[-1], atol=1e-6)
    np.testing.assert_allclose(replay.end_state.t_in_c, opt.t_in_c[-1], atol=1e-6)
    assert np.minimum(opt.bat_charge_kw, opt.bat_discharge_kw).max() < 1e-7  # never both in one hour
    # the household costs add up to the system cost (MMR is budget-balanced)
    assert replay.household_cost_eur.sum() == pytest.approx(replay.cost.total_eur)
    # baselines 2 (P2P + rules) and 1 (no P2P + rules) cost at least as much
    p2p_rules = simulate_day(params, state, day, rule_policy(params))
    grid_rules = simulate_day(params, state, day, rule_policy(params), p2p=False)
    assert opt.objective_eur <= p2p_rules.cost.total_eur + 1e-6
    assert opt.objective_eur <= grid_rules.cost.total_eur + 1e-6
    assert p2p_rules.cost.total_eur <= grid_rules.cost.total_eur + 1e-9  # netting only helps


@pytest.mark.parametrize("form", [None, "hourly", "daily"])
@pytest.mark.parametrize("seed", range(3))
def test_rules_never_beat_the_optimum_on_small_random_days(form, seed):
    params, state, data = households(8, 100 + seed)
    day = day_of(data, form, 8)
    opt = solve_day(params, state, day)
    rules = simulate_day(params, state, day, rule_policy(params))
    assert opt.objective_eur <= rules.cost.total_eur + 1e-6
    # and the optimum replays exactly on small instances too
    replay = simulate_day(params, state, day, (opt.bat_action, opt.ev_action, opt.hp_action))
    assert replay.cost.total_eur == pytest.approx(opt.objective_eur, rel=1e-6, abs=1e-6)


def test_inputs_are_checked():
    params, state, (load, pv, t_out, imp, exp) = households(4)
    with pytest.raises(ValueError, match=r"DayInputs.export_eur_mwh exceeds import_eur_mwh"):
        DayInputs(load, pv, t_out, imp, imp + 1)
    with pytest.raises(ValueError, match=r"DayInputs.peak_form must be one of"):
        DayInputs(load, pv, t_out, imp, exp, peak_form="monthly")
    with pytest.raises(ValueError, match=r"DayInputs.load_kw must have shape \(24, N\)"):
        DayInputs(load[:23], pv, t_out, imp, exp)
    with pytest.raises(ValueError, match=r"DayInputs has 4 households, DeviceParams 3"):
        solve_day(params.select([0, 1, 2]), state, DayInputs(load, pv, t_out, imp, exp))
    assert DayInputs(load, pv, t_out, imp, exp).terminal_price_eur_mwh == pytest.approx(np.mean((imp + exp) / 2))


def test_solver_status_is_checked():
    lp = _MatrixLp()
    col = lp.cols(1, 0.0, 1.0, 1.0)
    row = lp.rows(1, 2.0, 3.0)  # x >= 2 with x <= 1: infeasible
    lp.coef(row, col, 1.0)
    with pytest.raises(OptimumSolveError, match="highspy status Infeasible"):
        lp.solve()
