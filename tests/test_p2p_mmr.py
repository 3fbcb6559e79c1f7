"""MMR pricing and the peak penalty: hand-worked hours, price order and budget balance on random hours, named errors."""

import numpy as np
import pytest

from model import markets
from model.markets.p2p_mmr import (
    ERR_DAILY_SHAPE,
    ERR_EXPORT_ABOVE_IMPORT,
    ERR_NET_NOT_FINITE,
    ERR_PEAK_RATE,
    clear_mmr,
    peak_penalty_daily,
    peak_penalty_hourly,
)

IMP, EXP = 300.0, 100.0  # EUR/MWh, mid = 200


def one(x):
    return clear_mmr(np.array(x, float), IMP, EXP)


def test_surplus_by_hand():
    # D = 2, S = 4: buyers pay mid = 200; sellers get (2 * 200 + 2 * 100) / 4 = 150
    r = one([2, -3, -1])
    assert (float(r.demand_kw), float(r.supply_kw)) == (2, 4)
    assert (float(r.buy_eur_mwh), float(r.sell_eur_mwh)) == (200, 150)
    np.testing.assert_allclose(r.bill_eur, [2 * 200 / 1000, -3 * 150 / 1000, -1 * 150 / 1000])
    assert (float(r.grid_import_kw), float(r.grid_export_kw), float(r.p2p_kw)) == (0, 2, 2)
    assert r.bill_eur.sum() == pytest.approx(-2 * EXP / 1000)  # the community exports 2 kWh at 100


def test_deficit_by_hand():
    # D = 4, S = 2: sellers get mid = 200; buyers pay (2 * 200 + 2 * 300) / 4 = 250
    r = one([3, 1, -2])
    assert (float(r.buy_eur_mwh), float(r.sell_eur_mwh)) == (250, 200)
    np.testing.assert_allclose(r.bill_eur, [0.75, 0.25, -0.4])
    assert (float(r.grid_import_kw), float(r.grid_export_kw), float(r.p2p_kw)) == (2, 0, 2)
    assert r.bill_eur.sum() == pytest.approx(2 * IMP / 1000)


def test_balance_and_no_trade_by_hand():
    r = one([1.5, -1, -0.5])  # D = S = 1.5: everyone at mid
    assert (float(r.buy_eur_mwh), float(r.sell_eur_mwh)) == (200, 200)
    np.testing.assert_allclose(r.bill_eur, [0.3, -0.2, -0.1])
    assert (float(r.grid_import_kw), float(r.grid_export_kw), float(r.p2p_kw)) == (0, 0, 1.5)
    r = one([0, 0, 0])  # no trade: prices reported at mid, nothing paid
    assert (float(r.buy_eur_mwh), float(r.sell_eur_mwh)) == (200, 200)
    assert r.bill_eur.tolist() == [0, 0, 0] and float(r.p2p_kw) == 0


def test_single_household_trades_with_the_grid():
    r = one([2.0])  # (0 * 200 + 2 * 300) / 2: the import tariff
    assert float(r.buy_eur_mwh) == 300 and r.bill_eur.tolist() == [pytest.approx(0.6)]
    r = one([-2.0])  # the export tariff
    assert float(r.sell_eur_mwh) == 100 and r.bill_eur.tolist() == [pytest.approx(-0.2)]


def test_many_hours_at_once_equal_hour_by_hour():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 2, (30, 8))
    imp = rng.uniform(150, 400, 30)
    exp = imp * rng.uniform(0, 1, 30)
    batch = clear_mmr(x, imp, exp)
    for t in range(30):
        r = clear_mmr(x[t], imp[t], exp[t])
        np.testing.assert_array_equal(r.bill_eur, batch.bill_eur[t])
        assert (r.buy_eur_mwh, r.sell_eur_mwh) == (batch.buy_eur_mwh[t], batch.sell_eur_mwh[t])


def test_price_order_same_price_per_side_and_budget_balance_on_random_hours():
    rng = np.random.default_rng(1)
    T, N = 2000, 40
    # mixes of surplus, deficit, near balance, single traders and idle households
    x = rng.normal(rng.normal(0, 1, (T, 1)), 2, (T, N)) * (rng.random((T, N)) < rng.random((T, 1)))
    imp = rng.uniform(-20, 500, T)
    exp = imp - rng.exponential(100, T) * (rng.random(T) < 0.9)  # some hours export == import
    r = clear_mmr(x, imp, exp)
    mid = (imp + exp) / 2
    tol = 1e-9
    assert np.all(exp - tol <= r.sell_eur_mwh) and np.all(r.sell_eur_mwh <= mid + tol)
    assert np.all(mid - tol <= r.buy_eur_mwh) and np.all(r.buy_eur_mwh <= imp + tol)
    buyers, sellers = x > 0, x < 0
    unit = np.divide(r.bill_eur * 1000, x, out=np.zeros_like(x), where=x != 0)  # EUR/MWh each household paid
    assert np.allclose(np.where(buyers, unit, r.buy_eur_mwh[:, None]), r.buy_eur_mwh[:, None], rtol=0, atol=1e-9)
    assert np.allclose(np.where(sellers, unit, r.sell_eur_mwh[:, None]), r.sell_eur_mwh[:, None], rtol=0, atol=1e-9)
    D, S = np.maximum(x, 0).sum(1), np.maximum(-x, 0).sum(1)
    grid_bill = (imp * np.maximum(D - S, 0) - exp * np.maximum(S - D, 0)) / 1000
    np.testing.assert_allclose(r.bill_eur.sum(axis=1), grid_bill, rtol=0, atol=1e-9)
    np.testing.assert_allclose(r.p2p_kw, np.minimum(D, S))
    np.testing.assert_allclose(r.grid_import_kw - r.grid_export_kw, x.sum(axis=1), atol=1e-12)


def test_named_errors():
    with pytest.raises(ValueError) as e:
        clear_mmr(np.array([[1.0, -1], [2, 0]]), np.array([100.0, 100]), np.array([101.0, 50]))
    assert str(e.value) == ERR_EXPORT_ABOVE_IMPORT.format(n=1)
    with pytest.raises(ValueError) as e:
        clear_mmr(np.array([1.0, np.nan, np.inf]), IMP, EXP)
    assert str(e.value) == ERR_NET_NOT_FINITE.format(n=2)
    with pytest.raises(ValueError) as e:
        peak_penalty_hourly(np.array([1.0]), -5.0, 0.0)
    assert str(e.value) == ERR_PEAK_RATE.format(rate=-5.0)
    with pytest.raises(ValueError) as e:
        peak_penalty_daily(np.array([1.0, 2.0]), 1.0)
    assert str(e.value) == ERR_DAILY_SHAPE.format(shape=(2,))


def test_registered_by_name():
    assert markets.get("p2p_mmr") is clear_mmr
    assert markets.get("peak_penalty_hourly") is peak_penalty_hourly
    assert markets.get("peak_penalty_daily") is peak_penalty_daily


def test_hourly_peak_penalty_by_hand():
    # P_net = 4 + 2 - 1 = 5 kW, threshold 3: 2 kWh over at 500 EUR/MWh = 1 EUR, shared 4 : 2 : 0
    r = peak_penalty_hourly(np.array([4.0, 2.0, -1.0]), 500.0, 3.0)
    assert float(r.total_eur) == pytest.approx(1.0) and float(r.net_import_kw) == 5
    np.testing.assert_allclose(r.share_eur, [4 / 6, 2 / 6, 0])
    r = peak_penalty_hourly(np.array([[4.0, 2.0, -1.0], [1.0, 1.0, 0.0], [-3, 1, 0]]), 500.0, 3.0)
    np.testing.assert_allclose(r.total_eur, [1.0, 0, 0])  # under the threshold; exporting
    assert r.share_eur[1:].sum() == 0


def test_daily_peak_penalty_by_hand():
    x = np.array([[2.0, 1, 0], [3, 3, -1], [1, 4, 0]])  # P_net = 3, 5, 5: the first peak, hour 1, counts
    r = peak_penalty_daily(x, 2.0)  # 2 EUR/kW * 5 kW
    assert int(r.peak_hour) == 1 and float(r.total_eur) == 10
    np.testing.assert_allclose(r.share_eur, [5, 5, 0])  # hour 1's imports 3 : 3 (hour 2 would give 2 : 8)
    np.testing.assert_allclose(r.net_import_kw, [3, 5, 5])
    r = peak_penalty_daily(-np.abs(x), 2.0)  # never importing: nothing to pay
    assert float(r.total_eur) == 0 and r.share_eur.sum() == 0


def test_peak_shares_add_up_on_random_days():
    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 2, (10, 24, 30))  # 10 days
    hourly = peak_penalty_hourly(x, 250.0, 5.0)
    np.testing.assert_allclose(hourly.share_eur.sum(axis=-1), hourly.total_eur, rtol=1e-12, atol=1e-15)
    daily = peak_penalty_daily(x, 3.0)
    np.testing.assert_allclose(daily.share_eur.sum(axis=-1), daily.total_eur, rtol=1e-12)
    np.testing.assert_allclose(daily.total_eur, 3.0 * np.maximum(x.sum(axis=-1), 0).max(axis=-1))
    assert np.all(daily.share_eur >= 0) and np.all(hourly.share_eur >= 0)
