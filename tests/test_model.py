"""The Mesa model: stage order, money balance, AC cross-check, reproducibility, named errors."""

import dataclasses

import numpy as np
import pytest

from agents.brains import TruthfulBrain
from agents.market_agents import BalancingOperator, Dso, LemOperator
from grid.acpf import ac_power_flow_hours
from model.model import BUS_COLUMNS, LocalMarketModel
from model.scenario import load_scenario


@pytest.fixture(scope="module")
def week_model():
    m = LocalMarketModel(scenario="s-a", week="test:1", policy="truthful", seed=0)
    m.run_hours()
    return m


def test_stages_run_in_order_lem_lfm_balancing(monkeypatch):
    calls = []
    for cls, name in ((LemOperator, "clear"), (Dso, "clear"), (BalancingOperator, "settle")):
        original = getattr(cls, name)

        def wrapped(self, h, _orig=original, _cls=cls):
            calls.append(_cls.__name__)
            return _orig(self, h)

        monkeypatch.setattr(cls, name, wrapped)
    m = LocalMarketModel(scenario="s-a", week="test:1", collect=False)
    for _ in range(3):
        m.step()
    assert calls == ["LemOperator", "Dso", "BalancingOperator"] * 3


def test_a_week_runs_168_hours_then_stops(week_model):
    assert week_model.hours_done == 168 and not week_model.running
    assert len(week_model.datacollector.get_model_vars_dataframe()) == 168


def test_money_balance_dso_pays_what_aggregators_receive():
    m = LocalMarketModel(scenario="s-a", week="test:1", policy="random", seed=3, collect=False)
    paid = received = 0.0
    n_flex = 0
    for _ in range(168):
        m.step()
        h = m.hour_result
        # aggregators' flexibility income at the DLMP: -(C^LFM) + operating cost of the change
        received += float((-h.lfm_cost_eur + m.cost_eur_mwh * (h.up_mw - h.dn_mw)).sum())
        paid += h.dso_payment_eur
        n_flex += float(h.up_mw.sum() + h.dn_mw.sum()) > 1e-6
    assert n_flex > 10  # random bids with real loads do buy flexibility
    assert received == pytest.approx(paid, rel=1e-9, abs=1e-6)


def test_balancing_settles_the_deviation_signs():
    m = LocalMarketModel(scenario="s-a", week="test:1", policy="random", seed=1, collect=False)
    for _ in range(168):
        m.step()
        h = m.hour_result
        long_ = np.maximum(h.imbalance_mw, 0)
        short = np.maximum(-h.imbalance_mw, 0)
        np.testing.assert_allclose(h.bm_cost_eur, h.imb_short_eur_mwh * short - h.imb_long_eur_mwh * long_)
        np.testing.assert_allclose(h.imbalance_mw, h.up_mw - h.dn_mw)


def test_truthful_first_stage_reward_is_zero_and_withholding_costs(week_model):
    agg = week_model.datacollector.get_agenttype_vars_dataframe(type(week_model.aggregators[0]))
    assert np.abs(agg["r1"]).max() < 1e-9  # truthful = the reference
    m = LocalMarketModel(scenario="s-a", week="test:1", policy="rule", collect=False)
    r1 = []
    for _ in range(168):
        m.step()
        r1.append(m.hour_result.r1)
    assert np.max(r1) <= 1e-9 and np.min(r1) < -1.0  # withholding never lowers own LEM cost here


def test_lindistflow_voltages_within_0005_of_ac_power_flow_over_a_week(week_model):
    buses = week_model.datacollector.get_model_vars_dataframe()["buses"]
    arr = np.stack(list(buses))  # (168, n_bus, cols)
    col = {c: i for i, c in enumerate(BUS_COLUMNS)}
    p, q, v = arr[:, :, col["p_mw"]], arr[:, :, col["q_mvar"]], arr[:, :, col["v_pu"]]
    ac = ac_power_flow_hours(week_model.feeder, p, q, week_model.scenario.grid.v_slack_pu)
    assert ac.converged.all()
    assert np.abs(ac.v_pu - v).max() < 0.005


def test_same_seed_same_numbers_and_different_seed_differs():
    def run(seed):
        m = LocalMarketModel(scenario="s-a", week="test:2", policy="random", seed=seed, collect=False)
        out = []
        for _ in range(48):
            m.step()
            out.append(np.concatenate([m.hour_result.r1, m.hour_result.r2, m.hour_result.lfm.dlmp_eur_mwh]))
        return np.array(out)

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_nan_action_names_the_aggregator():
    class Broken(TruthfulBrain):
        def act_lem(self, obs, rows):
            out = np.zeros(len(rows))
            out[rows == 3] = np.nan
            return out

    sc = load_scenario("s-a")
    m = LocalMarketModel(scenario=sc, week="test:1", collect=False)
    m.set_brain(Broken(m.cost_eur_mwh, 1000.0))
    with pytest.raises(ValueError, match=r"LEM action is NaN/inf for aggregator\(s\) \[5\]"):
        m.step()


def test_infeasible_hour_clears_with_slack_and_is_reported():
    # far too much load on the feeder: the LFM must shed, report it and price it, not crash
    sc = load_scenario("s-a")
    heavy = dataclasses.replace(sc, portfolios=tuple(dataclasses.replace(p, load_peak_mw=p.load_peak_mw * 3) for p in sc.portfolios))
    m = LocalMarketModel(scenario=heavy, week="test:1", seed=0)
    m.run_hours(24)
    market = m.datacollector.get_model_vars_dataframe()
    assert (market["slack_mw"] > 0).any()
    assert market.loc[market["slack_mw"] > 0, "v_min_pu"].min() >= sc.grid.v_min_pu - 1e-6


def test_location_swap_moves_aggregators():
    m = LocalMarketModel(scenario="s-a", location_swap="5:9,8:10", collect=False)
    where = {a.aggregator_id: a.bus for a in m.aggregators}
    assert where[5] == 9 and where[9] == 5 and where[8] == 10 and where[10] == 8 and where[2] == 2
    assert LocalMarketModel(scenario="all-arb-swap", collect=False).scenario.location[5] == 9


def test_arbitrage_wiring_reaches_primary_reward():
    m = LocalMarketModel(scenario="one-arb", week="test:1", policy="random", seed=0, collect=False)
    for _ in range(24):
        m.step()
        h = m.hour_result
        k5 = m.scenario.aggregator_ids.index(5)
        assert h.r_primary[k5] == pytest.approx(h.r1[k5] + h.r2[k5])
        others = np.arange(len(h.r1)) != k5
        np.testing.assert_array_equal(h.r_primary[others], h.r1[others])


def test_stage_by_stage_equals_one_step():
    """begin_hour() + step() (how the PettingZoo env drives the model) is the same hour as step()."""
    a = LocalMarketModel(scenario="one-arb", week="test:3", policy="random", seed=11, collect=True)
    b = LocalMarketModel(scenario="one-arb", week="test:3", policy="random", seed=11, collect=True)
    for _ in range(5):
        a.step()
        lem = b.begin_hour()
        assert b.hour_of_week == a.hour_of_week - 1  # the LEM stage alone does not advance time
        b.step()
        assert b.hour_result is lem
        for field in ("withhold", "r1", "r2", "up_mw", "dn_mw"):
            np.testing.assert_array_equal(getattr(a.hour_result, field), getattr(b.hour_result, field))
    assert a.steps == b.steps == 5  # Mesa's own clock moved with every hour
    assert len(b.datacollector.get_agenttype_vars_dataframe(type(b.aggregators[0]))) == 50


class _RandomThenTruthful(TruthfulBrain):
    """Random withholding and prices before hour `switch`, truthful from then on."""

    def __init__(self, model, switch):
        super().__init__(model.cost_eur_mwh, model.scenario.market.flex_price_max_eur_mwh)
        self.model, self.switch, self.rng = model, switch, np.random.default_rng(7)

    def act_lem(self, obs, rows):
        if self.model.hour_of_week < self.switch:
            return self.rng.uniform(0.0, 1.0, len(rows))
        return super().act_lem(obs, rows)

    def act_lfm(self, obs, rows):
        if self.model.hour_of_week < self.switch:
            return self.rng.uniform(0.0, self.price_max, (len(rows), 2))
        return super().act_lfm(obs, rows)


def test_actions_do_not_change_later_observations():
    # The premise of gamma = 0 in the quick profile (runs/study.py): what an aggregator does in one
    # hour changes nothing it or anyone observes later. Two runs of the same week, one bidding at
    # random for the first 12 hours: every later observation of both stages is the same.
    base = load_scenario("all-arb")  # with forecast errors: they are drawn per week, not per action
    sc = dataclasses.replace(base, market=dataclasses.replace(base.market, forecast_error_sd=0.1))
    truthful = LocalMarketModel(scenario=sc, week="test:1", policy="truthful", seed=3, collect=False)
    mixed = LocalMarketModel(scenario=sc, week="test:1", policy="truthful", seed=3, collect=False)
    mixed.set_brain(_RandomThenTruthful(mixed, switch=12))
    differed = False
    for hour in range(36):
        ht, hm = truthful.clear_hour(), mixed.clear_hour()
        np.testing.assert_array_equal(ht.obs_lem, hm.obs_lem)  # the LEM observation never depends on actions
        if hour >= 12:
            np.testing.assert_array_equal(ht.obs_lfm, hm.obs_lfm)
        else:
            differed |= not np.array_equal(ht.obs_lfm, hm.obs_lfm)  # same-hour withholding does show
        truthful.advance(ht)
        mixed.advance(hm)
    assert differed  # the random hours were really different
