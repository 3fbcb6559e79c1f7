"""Design 3's P2P retail auction (uniform price, k = 1/2) and residual settlement: hand-worked
cases, properties on random instances, and the welfare LP in plain PuLP."""


import numpy as np
import pulp
import pytest

from model import markets
from model.markets.double_auction import DoubleAuctionResult, clear_double_auction, settle_residual


def clear(q, p) -> DoubleAuctionResult:
    return clear_double_auction(np.array(q, float), np.array(p, float))


def assert_no_trade(r, n):
    assert np.isnan(r.price_eur_mwh) and np.isnan(r.price_low_eur_mwh) and np.isnan(r.price_high_eur_mwh)
    assert r.volume_kwh == 0
    assert r.traded_kwh.tolist() == [0.0] * n and r.payment_eur.tolist() == [0.0] * n
    assert r.marginal.tolist() == [False] * n


def test_registered_by_name():
    assert markets.get("double_auction") is clear_double_auction


# --- hand-worked examples -------------------------------------------------------------------


def test_crossing_inside_a_bid_step():
    # bids:  A 4 kWh @ 60, B 6 kWh @ 50       demand: 0-4 @ 60, 4-10 @ 50
    # asks:  C 3 kWh @ 20, D 5 kWh @ 40, E 4 kWh @ 55   supply: 0-3 @ 20, 3-8 @ 40, 8-12 @ 55
    # bid 60 meets min(4, supply <= 60 = 12) = 4; bid 50 meets min(10, supply <= 50 = 8) = 8 -> V = 8.
    # Asks C + D (3 + 5) are used up exactly at 8; B's step (4..10 @ 50) is cut at 8 -> inside a step.
    # Interval: bids partly filled pin the price to 50; asks filled exactly leave [40, 55]:
    # [max(40, 50), min(50, 55)] = [50, 50] -> price 50.
    r = clear([4, 6, -3, -5, -4], [60, 50, 20, 40, 55])
    assert (r.volume_kwh, r.price_eur_mwh, r.price_low_eur_mwh, r.price_high_eur_mwh) == (8, 50, 50, 50)
    assert r.traded_kwh.tolist() == [4, 4, -3, -5, 0]
    np.testing.assert_allclose(r.payment_eur, [0.2, 0.2, -0.15, -0.25, 0])  # 4 kWh * 50 EUR/MWh = 0.2 EUR
    assert r.marginal.tolist() == [False, True, False, True, False]  # B (bid level 50), D (ask level 40)


def test_crossing_inside_an_ask_step():
    # bid A 5 kWh @ 70; asks B 2 @ 30, C 6 @ 45. Demand 5 meets supply 0-2 @ 30, 2-8 @ 45 inside C's step:
    # V = 5, C sells 3 of 6; the bid is filled exactly with no bid below it -> [max(45, -inf), min(70, 45)]
    # = [45, 45] -> price 45.
    r = clear([5, -2, -6], [70, 30, 45])
    assert (r.volume_kwh, r.price_eur_mwh) == (5, 45)
    assert r.traded_kwh.tolist() == [5, -2, -3]


def test_crossing_at_a_step_boundary_price_is_the_midpoint_of_the_interval():
    # bids A 5 @ 50, B 5 @ 44; asks C 5 @ 30, D 5 @ 46.
    # V = 5: bid 50 meets min(5, supply <= 50 = 10) = 5; bid 44 meets min(10, supply <= 44 = 5) = 5.
    # A and C are filled exactly: the vertical segment at 5 kWh runs from max(next bid 44, ask 30) = 44
    # to min(bid 50, next ask 46) = 46 -> price (44 + 46) / 2 = 45.
    # (Not (50 + 30) / 2 = 40: at 40 B would buy too, demand 10 > supply 5.)
    r = clear([5, 5, -5, -5], [50, 44, 30, 46])
    assert (r.volume_kwh, r.price_low_eur_mwh, r.price_high_eur_mwh, r.price_eur_mwh) == (5, 44, 46, 45)
    assert r.traded_kwh.tolist() == [5, 0, -5, 0]
    assert r.payment_eur.tolist() == [5 * 45 / 1000, 0, -5 * 45 / 1000, 0]


def test_single_buyer_and_single_seller():
    # equal quantities: both filled exactly, nothing beyond -> [30, 50] -> 40; each gains 10 kWh * 10 EUR/MWh
    r = clear([10, -10], [50, 30])
    assert (r.volume_kwh, r.price_eur_mwh) == (10, 40) and r.traded_kwh.tolist() == [10, -10]
    assert r.payment_eur.tolist() == [0.4, -0.4]
    # the seller is short: 4 kWh trade; the buyer's step is cut -> price = its limit, 50 (the long side's price)
    r = clear([10, -4], [50, 30])
    assert (r.volume_kwh, r.price_eur_mwh) == (4, 50) and r.traded_kwh.tolist() == [4, -4]
    # the buyer is short: price = the seller's limit, 30
    r = clear([-10, 4], [30, 50])
    assert (r.volume_kwh, r.price_eur_mwh) == (4, 30) and r.traded_kwh.tolist() == [-4, 4]
    # bid == ask: the zero-surplus trade happens (V is the largest welfare-maximising volume)
    r = clear([5, -5], [40, 40])
    assert (r.volume_kwh, r.price_eur_mwh) == (5, 40)


def test_ties_at_the_marginal_price_share_pro_rata():
    # bids A 2 @ 60, B 3 @ 50, C 6 @ 50; asks D 7 @ 40, E 5 @ 70.
    # Supply <= 60 is 7: V = min(2 + 3 + 6, 7) = 7. A takes 2 in full; the level @ 50 holds 3 + 6 = 9 kWh
    # and shares the remaining 5: B 3 * 5/9 = 5/3, C 6 * 5/9 = 10/3. Bids partly filled -> price 50.
    r = clear([2, 3, 6, -7, -5], [60, 50, 50, 40, 70])
    assert (r.volume_kwh, r.price_eur_mwh) == (7, 50)
    np.testing.assert_allclose(r.traded_kwh, [2, 5 / 3, 10 / 3, -7, 0], rtol=1e-15)
    assert r.marginal.tolist() == [False, True, True, True, False]
    # ties among asks: D 4 @ 40, E 8 @ 40 share a 6 kWh bid @ 60 by 6/12: D 2, E 4. Asks partly filled -> 40.
    r = clear([-4, 6, -8], [40, 60, 40])
    assert (r.volume_kwh, r.price_eur_mwh) == (6, 40)
    assert r.traded_kwh.tolist() == [-2, 6, -4]
    assert r.marginal.tolist() == [True, True, True]


def test_no_trade_when_best_bid_is_below_best_ask():
    r = clear([5, 3, -5, 0], [30, 20, 40, 99])
    assert_no_trade(r, 4)


def test_one_side_empty():
    assert_no_trade(clear([5, 3], [30, 20]), 2)  # only bids
    assert_no_trade(clear([-5, -3], [30, 20]), 2)  # only asks
    assert_no_trade(clear([0, 0, 0], [30, 20, 10]), 3)  # no orders
    assert_no_trade(clear([], []), 0)  # no participants


def test_participant_without_order_is_ignored_whatever_its_limit():
    r = clear([10, 0, -10], [50, 1000, 30])
    assert r.traded_kwh.tolist() == [10, 0, -10] and r.price_eur_mwh == 40 and not r.marginal[1]


def test_cumulative_sum_rounding_does_not_move_the_price():
    # asks 0.1 + 0.2 kWh @ 30 against one bid 0.3 @ 50 (and one @ 20): filled exactly on both sides,
    # interval [max(30, 20), min(50, +inf)] = [30, 50] -> 40, although 0.1 + 0.2 != 0.3 in floating point
    r = clear([-0.1, -0.2, 0.3, 1.0], [30, 30, 50, 20])
    assert r.price_eur_mwh == 40 and r.volume_kwh == pytest.approx(0.3)
    assert abs(r.payment_eur.sum()) < 1e-15


# --- properties on random instances ---------------------------------------------------------


def random_book(rng, n):
    q = np.round(rng.uniform(-5, 5, n), 1) * (rng.random(n) > 0.15)  # some participants without order
    p = np.round(rng.uniform(20, 80, n), 0)  # rounded: ties and equal bid/ask prices happen
    return q, p


@pytest.mark.parametrize("seed", range(5))
def test_auction_properties_on_random_books(seed):
    rng = np.random.default_rng(seed)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        q, p = random_book(rng, n)
        r = clear_double_auction(q, p)
        t = r.traded_kwh
        buy, sell = q > 0, q < 0
        assert np.all(t * q >= 0) and np.all(np.abs(t) <= np.abs(q)) and np.all(t[q == 0] == 0)
        assert t[buy].sum() == pytest.approx(r.volume_kwh, abs=1e-9)
        assert -t[sell].sum() == pytest.approx(r.volume_kwh, abs=1e-9)
        assert abs(r.payment_eur.sum()) <= 1e-12 * max(1.0, np.abs(r.payment_eur).sum())
        if r.volume_kwh == 0:
            assert np.isnan(r.price_eur_mwh)
            assert not (buy.any() and sell.any()) or p[buy].max() < p[sell].min()  # no crossing
            continue
        price = r.price_eur_mwh
        np.testing.assert_allclose(r.payment_eur, price * t / 1000)
        # every trade respects its limit: buyers pay <= their limit, sellers receive >= theirs
        assert np.all(p[t > 0] >= price) and np.all(p[t < 0] <= price)
        # k = 1/2: the price is the midpoint of the crossing interval, which lies within
        # [marginal (highest accepted) ask, lowest accepted bid]
        assert price == pytest.approx((r.price_low_eur_mwh + r.price_high_eur_mwh) / 2)
        assert p[t < 0].max() <= r.price_low_eur_mwh <= price <= r.price_high_eur_mwh <= p[t > 0].min()
        # at that price every order is content: bids above it and asks below it are filled in full,
        # bids below it and asks above it get nothing
        full = np.abs(q - t) <= 1e-9
        assert np.all(full[buy & (p > price)]) and np.all(full[sell & (p < price)])
        assert np.all(t[buy & (p < price)] == 0) and np.all(t[sell & (p > price)] == 0)
        # the marginal orders of each side are filled in the same proportion (pro rata)
        for side in (buy, sell):
            m = r.marginal & side
            assert len(np.unique(p[m])) == 1
            np.testing.assert_allclose(t[m] / q[m], (t[m] / q[m])[0], rtol=1e-12)


def test_input_order_does_not_change_the_outcome():
    rng = np.random.default_rng(11)
    for _ in range(100):
        q, p = random_book(rng, 30)
        perm = rng.permutation(30)
        a, b = clear_double_auction(q, p), clear_double_auction(q[perm], p[perm])
        np.testing.assert_allclose(b.traded_kwh, a.traded_kwh[perm], rtol=1e-12, atol=1e-12)
        np.testing.assert_array_equal(b.marginal, a.marginal[perm])
        assert b.price_eur_mwh == a.price_eur_mwh or np.isnan(a.price_eur_mwh) and np.isnan(b.price_eur_mwh)


def welfare_lp(q, p):
    """The welfare LP: max sum_i limit_i * traded_i (bids +, asks -) s.t. bought = sold, 0 <= |traded_i| <= |q_i|.

    Returns (optimal surplus [kWh * EUR/MWh], the largest traded volume among the optimal solutions)."""
    def build(name, sense):
        prob = pulp.LpProblem(name, sense)
        x = {i: pulp.LpVariable(f"x_{i}", 0, abs(float(q[i]))) for i in np.flatnonzero(q != 0)}
        bought = pulp.lpSum(x[i] for i in x if q[i] > 0)
        sold = pulp.lpSum(x[i] for i in x if q[i] < 0)
        surplus = pulp.lpSum(float(p[i]) * x[i] * (1 if q[i] > 0 else -1) for i in x)
        prob += bought - sold == 0, "balance"
        return prob, bought, surplus

    def solve(prob):
        status = prob.solve(pulp.HiGHS(msg=False))
        assert pulp.LpStatus[status] == "Optimal"

    prob, _, surplus = build("welfare", pulp.LpMaximize)
    prob += surplus
    solve(prob)
    best = pulp.value(surplus) or 0.0
    prob, bought, surplus = build("volume", pulp.LpMaximize)  # among the welfare optima, the most volume
    prob += bought
    prob += surplus >= best - 1e-7
    solve(prob)
    return best, pulp.value(bought) or 0.0


@pytest.mark.parametrize("seed", range(3))
def test_volume_and_surplus_equal_the_welfare_lp(seed):
    rng = np.random.default_rng(100 + seed)
    for _ in range(25):
        q, p = random_book(rng, int(rng.integers(2, 25)))
        r = clear_double_auction(q, p)
        best, most_volume = welfare_lp(q, p)
        assert float(p @ r.traded_kwh) == pytest.approx(best, abs=1e-6)  # total surplus = LP optimum
        assert r.volume_kwh == pytest.approx(most_volume, abs=1e-6)  # the largest optimal volume


def test_a_1000_order_book_clears_at_the_welfare_lp_optimum():
    q, p = random_book(np.random.default_rng(0), 1000)
    r = clear_double_auction(q, p)
    best, most_volume = welfare_lp(q, p)
    assert r.volume_kwh > 100  # a deep book: hundreds of kWh cross
    assert float(p @ r.traded_kwh) == pytest.approx(best, abs=1e-5)
    assert r.volume_kwh == pytest.approx(most_volume, abs=1e-5)


# --- errors ---------------------------------------------------------------------------------


def test_rejects_bad_inputs_with_named_fixes():
    with pytest.raises(ValueError, match=r"quantity_kwh has shape \(3,\), limit_eur_mwh has shape \(2,\); pass one value per participant"):
        clear([1, -1, 2], [10, 20])
    with pytest.raises(ValueError, match=r"quantity_kwh has shape \(1, 2\)"):
        clear([[1, -1]], [[10, 20]])
    with pytest.raises(ValueError, match=r"quantity_kwh must be finite \(NaN or inf at participants \[1\]\); check the followers' net positions"):
        clear([1, np.nan], [10, 20])
    with pytest.raises(ValueError, match=r"limit_eur_mwh must be finite \(NaN or inf at participants \[0\]\); give every participant a finite limit"):
        clear([1, -1], [np.inf, 20])


# --- residual settlement (stage 4) ----------------------------------------------------------


def test_residual_settlement_by_hand_and_money_balance():
    # the crossing-inside-a-step book: A 4 @ 60 (fills 4), B 6 @ 50 (fills 4), C -3, D -5 (fill), E -4 (nothing)
    q = np.array([4, 6, -3, -5, -4.0])
    r = clear(q, [60, 50, 20, 40, 55])
    buy, sell = 80.0, 30.0  # retail prices pi^b, pi^s [EUR/MWh]
    s = settle_residual(r.traded_kwh, q, buy, sell)
    # unmatched: B still needs 2 kWh (buys from the aggregator), E still has 4 kWh (sells to it)
    assert s.bought_kwh.tolist() == [0, 2, 0, 0, 0] and s.sold_kwh.tolist() == [0, 0, 0, 0, 4]
    np.testing.assert_allclose(s.payment_eur, [0, 2 * 80 / 1000, 0, 0, -4 * 30 / 1000])  # 0.16 EUR, -0.12 EUR
    # money balance: what the followers pay the aggregator is its retail revenue pi^b U^b - pi^s U^s
    assert s.payment_eur.sum() == pytest.approx((buy * s.bought_kwh.sum() - sell * s.sold_kwh.sum()) / 1000)
    assert s.payment_eur.sum() == pytest.approx(0.04)
    # each follower's energy balances: auction + retail = its order
    np.testing.assert_allclose(r.traded_kwh + s.bought_kwh - s.sold_kwh, q)
    # no trade: everything is settled at retail
    s = settle_residual(np.zeros(3), np.array([2.0, -1.0, 0.0]), buy, sell)
    np.testing.assert_allclose(s.payment_eur, [0.16, -0.03, 0])


def test_residual_settlement_rejects_inconsistent_inputs():
    with pytest.raises(ValueError, match=r"wrong sign or exceeds the order at participants \[0, 1\]"):
        settle_residual(np.array([-1.0, 3.0]), np.array([2.0, 2.0]), 80, 30)
    with pytest.raises(ValueError, match=r"retail_sell_eur_mwh <= retail_buy_eur_mwh"):
        settle_residual(np.zeros(1), np.ones(1), 30, 80)
    with pytest.raises(ValueError, match=r"traded_kwh has shape \(2,\), quantity_kwh has shape \(3,\)"):
        settle_residual(np.zeros(2), np.ones(3), 80, 30)
    with pytest.raises(ValueError, match=r"traded_kwh must be finite"):
        settle_residual(np.array([np.nan]), np.ones(1), 80, 30)
