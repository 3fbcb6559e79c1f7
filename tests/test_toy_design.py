"""A design that lives in the tests (tests/toy_design.py) runs through `localmarl simulate`, the
PettingZoo env and `mesa.batch_run` without any framework file knowing it."""

import numpy as np
import pandas as pd
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from model import markets
from model.env import parallel_env
from model.model import MarketModel
from model.scenario import ScenarioError, load_scenario
from runs.cli import main

SCENARIO = "tests/toy_pool.toml"


def test_the_pool_clears_by_hand():
    from tests.toy_design import clear_uniform_pool

    assert markets.get("toy_uniform_pool") is clear_uniform_pool  # registered by name
    cap = np.array([1.0, 1.0])
    # demand 1.5: the 10 €/MWh seller runs fully, the 30 €/MWh one covers the last 0.5 MW and sets the price
    r = clear_uniform_pool(np.array([10.0, 30.0]), cap, 1.5)
    assert r.price_eur_mwh == 30.0 and r.sold_mw.tolist() == [1.0, 0.5]
    r = clear_uniform_pool(np.array([30.0, 10.0]), cap, 0.5)  # the cheaper bid first, whoever bids it
    assert r.price_eur_mwh == 10.0 and r.sold_mw.tolist() == [0.0, 0.5]
    r = clear_uniform_pool(np.array([10.0, 30.0]), cap, 3.0)  # short: both sell everything
    assert r.price_eur_mwh == 30.0 and r.sold_mw.tolist() == [1.0, 1.0]


def test_simulate_runs_the_toy_design(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--scenario", SCENARIO, "--policy", "truthful", "--week", "test:1", "--out", str(out)]) == 0
    assert "mean price" in capsys.readouterr().out
    sellers, market = pd.read_csv(out / "sellers.csv"), pd.read_csv(out / "market.csv")
    assert len(sellers) == 2 * 168 and len(market) == 168
    first = sellers[sellers.hour == 0]  # hour 0: demand 1.5 MW (the daily swing is 0 at midnight)
    assert first.sold_mw.tolist() == [1.0, 0.5] and first.profit_eur.tolist() == [20.0, 0.0]
    assert market.price_eur_mwh.iloc[0] == 30.0
    assert {"config.json", "summary.txt"} <= {p.name for p in out.iterdir()}
    assert main(["simulate", "--scenario", SCENARIO, "--policy", "rule", "--out", str(tmp_path / "x")]) == 2
    assert "unknown policy 'rule': use one of truthful, random" in capsys.readouterr().err


def test_the_env_runs_the_toy_design_and_pays_the_models_profits():
    env = parallel_env(scenario=SCENARIO, weeks="test:1", collect=True)
    parallel_api_test(env, num_cycles=200)
    parallel_seed_test(lambda: parallel_env(scenario=SCENARIO, weeks="train"), num_cycles=30)
    env = parallel_env(scenario=SCENARIO, weeks="test:1", collect=True)
    env.reset(seed=1)
    assert env.possible_agents == ["seller_1", "seller_2"] and env.action_space("seller_1").high[0] == 100.0
    totals = dict.fromkeys(env.possible_agents, 0.0)
    while env.agents:
        _, rewards, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
        for a, r in rewards.items():
            totals[a] += r
    profits = env.model.record.frame("sellers").groupby("seller").profit_eur.sum()
    assert [totals["seller_1"], totals["seller_2"]] == pytest.approx(profits.tolist())


def test_overrides_and_bad_scenarios_are_named_errors(tmp_path):
    m = MarketModel(scenario=SCENARIO, demand_mw=0.5, collect=False)
    m.step()
    assert m.hour_result.pool.sold_mw.tolist() == [0.5, 0.0]
    with pytest.raises(ScenarioError, match="override demand_mw must be a finite number"):
        MarketModel(scenario=SCENARIO, demand_mw=float("nan"))
    bad = tmp_path / "bad.toml"
    bad.write_text('design = "tests.toy_design:TwoSellerPool"\ncost_eur_mwh = [1.0]\ncapacity_mw = [1.0, 1.0]\n')
    with pytest.raises(ScenarioError, match="cost_eur_mwh must list two numbers"):
        load_scenario(bad)
    bad.write_text('design = "tests.toy_design:NoSuchDesign"\n')
    with pytest.raises(ScenarioError, match="design = 'tests.toy_design:NoSuchDesign': market design .*cannot import"):
        load_scenario(bad)
