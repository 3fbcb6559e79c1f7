"""The Mesa model: stage order, money balance, AC cross-check, reproducibility, named errors."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from agents.aggregators import BalancingOperator, Dso, LemOperator
from agents.bidding import TruthfulBidder
from grid.acpf import ac_power_flow_hours
from model.designs.arbitrage import BUS_COLUMNS, LFM_COLUMNS
from model.model import MarketModel
from model.scenario import load_scenario


@pytest.fixture(scope="module")
def week_model():
    m = MarketModel(scenario="s-a", week="test:1", policy="truthful", seed=0)
    m.run_hours()
    return m


def test_stages_run_in_order_lem_lfm_balancing(monkeypatch):
    calls = []
    for cls, name in ((LemOperator, "clear"), (Dso, "clear"), (BalancingOperator, "settle")):
        original = getattr(cls, name)

        def wrapped(self, h, actions, _orig=original, _cls=cls):
            calls.append((_cls.__name__, tuple(h.records)))  # the stages cleared before this one
            return _orig(self, h, actions)

        monkeypatch.setattr(cls, name, wrapped)
    m = MarketModel(scenario="s-a", week="test:1", collect=False)
    for _ in range(3):
        m.step()
    assert calls == [("LemOperator", ()), ("Dso", ("lem",)), ("BalancingOperator", ("lem", "lfm"))] * 3
    assert [s.name for s in m.design.stages] == ["lem", "lfm", "balancing"]
    assert [s.role for s in m.design.stages] == ["primary", "secondary", None]


def test_a_week_runs_168_hours_then_stops(week_model):
    assert week_model.hours_done == 168 and not week_model.running
    assert len(week_model.datacollector.get_model_vars_dataframe()) == 168


def test_money_balance_dso_pays_what_aggregators_receive():
    m = MarketModel(scenario="s-a", week="test:1", policy="random", seed=3, collect=False)
    paid = received = 0.0
    n_flex = 0
    for _ in range(168):
        m.step()
        h = m.hour_result
        # aggregators' flexibility income at the DLMP: -(C^LFM) + operating cost of the change
        received += float((-h.balancing.lfm_cost_eur + m.design.cost_eur_mwh * (h.lfm.up_mw - h.lfm.dn_mw)).sum())
        paid += h.lfm.dso_payment_eur
        n_flex += float(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum()) > 1e-6
    assert n_flex > 10  # random bids with real loads do buy flexibility
    assert received == pytest.approx(paid, rel=1e-9, abs=1e-6)


def test_balancing_settles_the_deviation_signs():
    m = MarketModel(scenario="s-a", week="test:1", policy="random", seed=1, collect=False)
    for _ in range(168):
        m.step()
        h = m.hour_result
        b = h.balancing
        long_ = np.maximum(b.imbalance_mw, 0)
        short = np.maximum(-b.imbalance_mw, 0)
        np.testing.assert_allclose(b.bm_cost_eur, h.inputs.imb_short_eur_mwh * short - h.inputs.imb_long_eur_mwh * long_)
        np.testing.assert_allclose(b.imbalance_mw, h.lfm.up_mw - h.lfm.dn_mw)


def test_truthful_first_stage_reward_is_zero_and_withholding_costs(week_model):
    agg = week_model.record.frame("aggregators")
    assert len(agg) == 168 * 10 and np.abs(agg["r1"]).max() < 1e-9  # truthful = the reference
    m = MarketModel(scenario="s-a", week="test:1", policy="rule", collect=False)
    r1 = []
    for _ in range(168):
        m.step()
        r1.append(m.hour_result.lem.r1)
    assert np.max(r1) <= 1e-9 and np.min(r1) < -1.0  # withholding never lowers own LEM cost here


def test_lindistflow_voltages_within_0005_of_ac_power_flow_over_a_week(week_model):
    buses = week_model.record.frame("buses")
    n_bus = week_model.design.feeder.n_bus
    p, q, v = (buses[c].to_numpy().reshape(168, n_bus) for c in ("p_mw", "q_mvar", "v_pu"))
    reported = np.stack(week_model.datacollector.get_model_vars_dataframe()["buses"])  # Mesa's view: the same numbers
    np.testing.assert_array_equal(reported[:, :, BUS_COLUMNS.index("v_pu")], v)
    ac = ac_power_flow_hours(week_model.design.feeder, p, q, week_model.scenario.grid.v_slack_pu)
    assert ac.converged.all()
    assert np.abs(ac.v_pu - v).max() < 0.005


def test_same_seed_same_numbers_and_different_seed_differs():
    def run(seed):
        m = MarketModel(scenario="s-a", week="test:2", policy="random", seed=seed, collect=False)
        out = []
        for _ in range(48):
            m.step()
            h = m.hour_result
            out.append(np.concatenate([h.lem.r1, h.balancing.r2, h.lfm.result.dlmp_eur_mwh]))
        return np.array(out)

    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_nan_action_names_the_aggregator():
    class Broken(TruthfulBidder):
        def withhold(self, obs, rows):
            out = np.zeros(len(rows))
            out[rows == 3] = np.nan
            return out

    sc = load_scenario("s-a")
    m = MarketModel(scenario=sc, week="test:1", collect=False)
    m.set_policy(Broken(m.design.cost_eur_mwh, 1000.0, LFM_COLUMNS))
    with pytest.raises(ValueError, match=r"LEM action is NaN/inf for aggregator\(s\) \[5\] \(role primary\)"):
        m.step()


def test_infeasible_hour_clears_with_slack_and_is_reported():
    # far too much load on the feeder: the LFM must shed, report it and price it, not crash
    sc = load_scenario("s-a")
    heavy = dataclasses.replace(sc, portfolios=tuple(dataclasses.replace(p, load_peak_mw=p.load_peak_mw * 3) for p in sc.portfolios))
    m = MarketModel(scenario=heavy, week="test:1", seed=0)
    m.run_hours(24)
    market = m.record.frame("market")
    assert (market["slack_mw"] > 0).any()
    assert market.loc[market["slack_mw"] > 0, "v_min_pu"].min() >= sc.grid.v_min_pu - 1e-6


def test_location_swap_moves_aggregators():
    m = MarketModel(scenario="s-a", location_swap="5:9,8:10", collect=False)
    where = {a.aggregator_id: a.bus for a in m.design.aggregators}
    assert where[5] == 9 and where[9] == 5 and where[8] == 10 and where[10] == 8 and where[2] == 2
    assert MarketModel(scenario="all-arb-swap", collect=False).scenario.location[5] == 9


def test_arbitrage_wiring_reaches_primary_reward():
    m = MarketModel(scenario="one-arb", week="test:1", policy="random", seed=0, collect=False)
    for _ in range(24):
        m.step()
        h = m.hour_result
        k5 = m.scenario.aggregator_ids.index(5)
        r1, r2, r_primary = h.lem.r1, h.balancing.r2, h.balancing.r_primary
        assert r_primary[k5] == pytest.approx(r1[k5] + r2[k5])
        others = np.arange(len(r1)) != k5
        np.testing.assert_array_equal(r_primary[others], r1[others])
        # what the primaries and secondaries learn from: the design's payment to each role
        np.testing.assert_array_equal(h.rewards["primary"], r_primary)
        np.testing.assert_array_equal(h.rewards["secondary"], r2)


def test_stage_by_stage_equals_one_step():
    """clear_until() + step() (how the PettingZoo env drives the model) is the same hour as step()."""
    a = MarketModel(scenario="one-arb", week="test:3", policy="random", seed=11, collect=True)
    b = MarketModel(scenario="one-arb", week="test:3", policy="random", seed=11, collect=True)
    for _ in range(5):
        a.step()
        lem = b.clear_until("lem")
        assert b.hour_of_week == a.hour_of_week - 1 and list(lem.records) == ["lem"]  # the LEM alone does not advance time
        b.step()
        assert b.hour_result.lem is lem.lem  # the pending hour was finished, not cleared anew
        for stage, field in (("lem", "withhold"), ("lem", "r1"), ("balancing", "r2"), ("lfm", "up_mw"), ("lfm", "dn_mw")):
            np.testing.assert_array_equal(getattr(a.hour_result.records[stage], field),
                                          getattr(b.hour_result.records[stage], field))
    assert a.steps == b.steps == 5  # Mesa's own clock moved with every hour
    assert len(b.record.frame("aggregators")) == 50
    pd.testing.assert_frame_equal(a.record.frame("market"), b.record.frame("market"))


def test_an_hour_is_immutable_and_names_its_stages():
    m = MarketModel(scenario="s-a", week="test:1", collect=False)
    h = m.clear_hour()
    assert list(h.records) == ["lem", "lfm", "balancing"] and h.lfm is h.records["lfm"]
    with pytest.raises(AttributeError):
        h.week = 3
    with pytest.raises(TypeError):
        h.records["lem"] = None
    with pytest.raises(AttributeError, match="no stage record or field 'dso'"):
        h.dso  # noqa: B018
    assert m.hours_done == 0  # clear_hour does not advance time


def test_the_record_grows_by_one_hour_per_step_without_copies():
    m = MarketModel(scenario="s-a", week="test:1", seed=0)
    m.run_hours(3)
    view = m.record.column("market", "lem_price_eur_mwh")
    assert len(view) == 3 and not view.flags.writeable
    m.run_hours(200)  # past the week: the model stops at its end
    assert m.record.hours == 168 and len(m.record.frame("aggregators")) == 1680
    np.testing.assert_array_equal(m.record.column("market", "hour"), np.arange(168))


class _RandomThenTruthful(TruthfulBidder):
    """Random withholding and prices before hour `switch`, truthful from then on."""

    def __init__(self, model, switch):
        super().__init__(model.design.cost_eur_mwh, model.scenario.market.flex_price_max_eur_mwh, LFM_COLUMNS)
        self.model, self.switch, self.rng = model, switch, np.random.default_rng(7)

    def withhold(self, obs, rows):
        if self.model.hour_of_week < self.switch:
            return self.rng.uniform(0.0, 1.0, len(rows))
        return super().withhold(obs, rows)

    def flex_prices(self, obs, rows):
        if self.model.hour_of_week < self.switch:
            return self.rng.uniform(0.0, self.price_max, (len(rows), 2))
        return super().flex_prices(obs, rows)


def test_actions_do_not_change_later_observations():
    # The premise of gamma = 0 in the quick profile (runs/study.py): what an aggregator does in one
    # hour changes nothing it or anyone observes later. Two runs of the same week, one bidding at
    # random for the first 12 hours: every later observation of both stages is the same.
    base = load_scenario("all-arb")  # with forecast errors: they are drawn per week, not per action
    sc = dataclasses.replace(base, market=dataclasses.replace(base.market, forecast_error_sd=0.1))
    truthful = MarketModel(scenario=sc, week="test:1", policy="truthful", seed=3, collect=False)
    mixed = MarketModel(scenario=sc, week="test:1", policy="truthful", seed=3, collect=False)
    mixed.set_policy(_RandomThenTruthful(mixed, switch=12))
    differed = False
    for hour in range(36):
        ht, hm = truthful.clear_hour(), mixed.clear_hour()
        np.testing.assert_array_equal(ht.observations["lem"], hm.observations["lem"])  # never depends on actions
        if hour >= 12:
            np.testing.assert_array_equal(ht.observations["lfm"], hm.observations["lfm"])
        else:
            differed |= not np.array_equal(ht.observations["lfm"], hm.observations["lfm"])  # same-hour withholding shows
        truthful.advance(ht)
        mixed.advance(hm)
    assert differed  # the random hours were really different
