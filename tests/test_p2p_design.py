"""The P2P design end to end: scenario validation, the simulate CSVs' MMR identities, the model's day
against the day pricing of the optimum module, the env, learning (one forward per cluster, exact
resume), 3,000 households, and the centralised optimum as a bound."""

import json
import shutil
import textwrap

import numpy as np
import pandas as pd
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from model.env import parallel_env
from model.markets.p2p_optimum import rule_policy, simulate_day, solve_day
from model.model import MarketModel
from model.scenario import ScenarioError, load_scenario
from runs.cli import main

SMALL = dict(scenario="p2p-mmr", n_households=24)


# --- scenario validation -------------------------------------------------------------------------
def _scenario(tmp_path, clusters: str, extra: str = "") -> str:
    p = tmp_path / "sc.toml"
    p.write_text(f'design = "p2p"\nn_households = 20\n{extra}\n' + textwrap.dedent(clusters))
    return str(p)


BATTERY = '[[clusters]]\nname = "b"\nshare = 0.5\nbattery_kwh = 10.0\nbattery_kw = 5.0\n'
PASSIVE = '[[clusters]]\nname = "p"\nshare = 0.5\nlearn = false\n'


@pytest.mark.parametrize("clusters, message", [
    (BATTERY.replace("10.0", "-1.0") + PASSIVE, "cluster 'b': battery_kwh = -1.0 must be >= 0"),
    (BATTERY + "soc_min = 0.9\nsoc_max = 0.2\n" + PASSIVE, "cluster 'b': soc_min (0.9) exceeds soc_max (0.2); the SOC bounds are inverted"),
    ('[[clusters]]\nname = "h"\nshare = 0.5\nhp_kw = 3.0\nt_min_c = 23.0\nt_max_c = 19.0\n' + PASSIVE,
     "cluster 'h': t_min_c must be below t_max_c; the comfort band is inverted"),
    (BATTERY.replace("0.5", "0.0") + PASSIVE.replace("0.5", "1.0"), "cluster 'b': share = 0 must be in (0, 1]; an empty cluster"),
    (BATTERY + "fuel_cell_kw = 2.0\n" + PASSIVE, "cluster 'b': unknown device or field(s) ['fuel_cell_kw']"),
    (BATTERY, "the clusters' shares sum to 0.5; they must sum to 1"),
    (BATTERY.replace("0.5", "0.99") + PASSIVE.replace("0.5", "0.01"), "cluster(s) ['p'] get no household out of 20"),
    ('[[clusters]]\nname = "pv"\nshare = 1.0\npv_kwp = 3.0\n', "cluster 'pv': learn = true, but the cluster has no device"),
    (BATTERY.replace("battery_kw = 5.0", "") + PASSIVE, "battery_kwh and battery_kw must both be > 0"),
])
def test_bad_scenarios_name_the_field_and_the_fix(tmp_path, clusters, message):
    with pytest.raises(ScenarioError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[").replace("]", r"\]")):
        load_scenario(_scenario(tmp_path, clusters))


def test_a_bad_scenario_runs_nothing(tmp_path, capsys):
    path = _scenario(tmp_path, BATTERY)
    assert main(["simulate", "--scenario", path, "--out", str(tmp_path / "out")]) == 2
    assert "shares sum to 0.5" in capsys.readouterr().err and not (tmp_path / "out").exists()


# --- simulate: CSVs and the MMR identities -------------------------------------------------------
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "p2p"
    assert main(["simulate", "--scenario", "p2p-mmr", "--week", "test:1", "--policy", "rule", "--out", str(out)]) == 0
    return pd.read_csv(out / "households.csv"), pd.read_csv(out / "community.csv")


def test_simulate_writes_the_households_and_community_tables(simulated):
    hh, c = simulated
    for col in ("hour", "household", "cluster", "load_kw", "pv_kw", "net_kw", "bill_eur", "peak_penalty_eur",
                "device_penalty_eur", "battery_kw", "battery_soc", "ev_kw", "ev_energy_kwh", "hp_kw", "t_in_c"):
        assert col in hh
    for col in ("hour", "import_tariff_eur_mwh", "export_tariff_eur_mwh", "buy_price_eur_mwh", "sell_price_eur_mwh",
                "demand_kw", "supply_kw", "grid_import_kw", "grid_export_kw", "peak_penalty_eur"):
        assert col in c
    assert len(hh) == 168 * 300 and len(c) == 168 and hh.household.nunique() == 300


def test_the_csvs_keep_the_mmr_identities(simulated):
    hh, c = simulated
    per = hh.groupby("hour").agg(bill=("bill_eur", "sum"), demand=("net_kw", lambda x: x.clip(lower=0).sum()),
                                 supply=("net_kw", lambda x: (-x).clip(lower=0).sum()),
                                 peak=("peak_penalty_eur", "sum"))
    c = c.set_index("hour")
    # the households' bills sum to the community's grid bill (kW over one hour = kWh; EUR/MWh / 1000)
    grid_bill = (c.import_tariff_eur_mwh * c.grid_import_kw - c.export_tariff_eur_mwh * c.grid_export_kw) / 1000
    np.testing.assert_allclose(per.bill, grid_bill, atol=1e-6)
    np.testing.assert_allclose(per.demand, c.demand_kw, rtol=1e-6)
    np.testing.assert_allclose(per.supply, c.supply_kw, rtol=1e-6)
    np.testing.assert_allclose(per.peak, c.peak_penalty_eur, atol=1e-6)  # the shares sum to the penalty
    mid = (c.import_tariff_eur_mwh + c.export_tariff_eur_mwh) / 2
    assert (c.export_tariff_eur_mwh <= c.sell_price_eur_mwh + 1e-9).all() and (c.sell_price_eur_mwh <= mid + 1e-9).all()
    assert (mid <= c.buy_price_eur_mwh + 1e-9).all() and (c.buy_price_eur_mwh <= c.import_tariff_eur_mwh + 1e-9).all()
    np.testing.assert_allclose(c.grid_import_kw - c.grid_export_kw, c.demand_kw - c.supply_kw, atol=1e-6)


# --- the model's day against the optimum module's own day pricing --------------------------------
def test_a_rule_based_day_costs_what_the_optimum_module_prices_it_at_and_the_optimum_is_lower():
    m = MarketModel(**SMALL, week="test:2", policy="rule", collect=True)
    m.run_hours(24)
    day = m.design.week * 7
    params, state, inputs = m.design.day_problem(day)
    ref = simulate_day(params, state, inputs, rule_policy(params))
    hh = m.record.frame("households")
    cost = (hh.bill_eur + hh.peak_penalty_eur + hh.device_penalty_eur - hh.storage_value_eur).sum()
    assert cost == pytest.approx(ref.cost.total_eur, rel=1e-9, abs=1e-9)
    assert hh.bill_eur.sum() == pytest.approx(ref.cost.grid_bill_eur, rel=1e-9, abs=1e-9)
    best = solve_day(params, state, inputs)
    assert best.cost.total_eur <= cost + 1e-6  # nobody beats the centralised optimum


def test_nan_actions_are_refused_with_a_named_error():
    class Broken:
        name = "broken"

        def act(self, stage, obs, rows):
            out = np.zeros((len(rows), 3))
            out[rows == 7, 1] = np.nan
            return out

    m = MarketModel(**SMALL, week="test:1", policy=Broken(), collect=False)
    with pytest.raises(ValueError, match=r"P2P action is NaN/inf for household\(s\) \[7\]"):
        m.step()


def test_three_thousand_households_run():
    m = MarketModel(scenario="p2p-mmr", n_households=3000, week="test:1", policy="rule", collect=False)
    m.run_hours(24)
    assert len(m.hour_result.p2p.net_kw) == 3000 and np.isfinite(m.hour_result.rewards["household"]).all()


# --- the env --------------------------------------------------------------------------------------
def test_the_env_passes_the_conformance_tests():
    parallel_api_test(parallel_env(scenario="p2p-mmr", weeks="test:1", n_households=12), num_cycles=60)
    parallel_seed_test(lambda: parallel_env(scenario="p2p-mmr", weeks="train", n_households=12), num_cycles=30)


def test_a_random_days_env_rewards_are_the_models():
    env = parallel_env(scenario="p2p-mmr", weeks="test:1", n_households=12, collect=True)
    env.reset(seed=4)
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(i)
    totals, played = dict.fromkeys(env.possible_agents, 0.0), []
    while env.agents:
        actions = {a: env.action_space(a).sample() for a in env.agents}
        played.append(np.stack([actions[a] for a in env.possible_agents]))
        _, rewards, *_ = env.step(actions)
        for a, r in rewards.items():
            totals[a] += r
    assert len(played) == 24  # one step per hour, a day per episode

    class Replay:
        name = "replay"

        def __init__(self):
            self.t = 0

        def act(self, stage, obs, rows):
            self.t += 1
            return played[self.t - 1][rows]

    m = MarketModel(scenario="p2p-mmr", n_households=12, week=env.model.week, seed=env.model.seed, policy=Replay())
    m.reset_episode(env.model.week, _first_hour(env))
    while m.running:
        m.step()
    got = m.record.frame("households").groupby("household").reward_eur.sum()
    assert [totals[f"household_{i}"] for i in range(12)] == pytest.approx(got.tolist(), rel=1e-9, abs=1e-9)


def _first_hour(env) -> int:
    return int(env.model.record.column("community", "hour_of_week")[0])


# --- learning -------------------------------------------------------------------------------------
def test_one_forward_pass_per_cluster_per_hour(monkeypatch):
    from agents.learning import groups
    from runs.training import design_hyperparams

    m = MarketModel(**SMALL, week="train:1", policy="rule", collect=False)
    learner = m.design.default_learner(design_hyperparams("p2p-mmr"), 0, "cpu")
    m.set_policy(learner)
    calls = []
    real = groups._Group._forward_numpy
    monkeypatch.setattr(groups._Group, "_forward_numpy", lambda self, x: calls.append(x.shape) or real(self, x))
    m.run_hours(5)
    learning = [c for c in m.scenario.clusters if c.learn]
    assert len(calls) == 5 * len(learning)  # not one per household
    assert sum(shape[1] for shape in calls) == 5 * sum(len(m.design._member[k]) for k in m.design.learning_clusters)


def test_p2p_training_resumes_exactly_and_records_its_learner(tmp_path):
    from runs.training import train

    scenario = tmp_path / "small.toml"
    scenario.write_text('extends = "p2p-mmr"\nn_households = 24\n')
    kw = dict(episodes=6, seed=1, eval_every=3, checkpoint_every=2, progress=False, learner="ddpg-ps")

    def snapshot(episode, learner):
        if episode == 4:
            shutil.copytree(tmp_path / "X" / "checkpoints", tmp_path / "ck4")

    train(str(scenario), out=tmp_path / "X", callback=snapshot, **kw)
    meta = json.loads((tmp_path / "X" / "policy.json").read_text())
    assert meta["learner"] == "ddpg-ps" and meta["learner_config"]["names"] == ["pv-battery", "pv-ev", "heat-pump"]
    (tmp_path / "Y" / "checkpoints").mkdir(parents=True)
    for f in (tmp_path / "ck4").glob("ep000004.*"):
        shutil.copy(f, tmp_path / "Y" / "checkpoints")
    train(str(scenario), out=tmp_path / "Y", resume=True, **kw)
    for name in ("policy.pt", "train_curve.csv"):
        assert (tmp_path / "X" / name).read_bytes() == (tmp_path / "Y" / name).read_bytes(), name


def test_a_household_sees_its_ev_shortfall_in_the_hour_its_penalty_is_charged():
    """The EV penalty is charged in the departure hour, so that hour's observation shows the need and
    the shortfall it is charged on (a critic that cannot see them cannot learn what charging avoids);
    the hour the car comes back, the observed energy is what it came back with."""
    from model.designs.p2p import OBSERVATION

    col = {f.name: k for k, f in enumerate(OBSERVATION)}
    seen, params = [], []

    class Trickle:  # charges at 5 % of the charger's power, so most cars that leave are short
        name = "trickle"

        def act(self, stage, obs, rows):
            seen.append(obs.copy())
            params.append(m.design.params)
            return np.tile([0.0, 0.05, 0.0], (len(rows), 1))

    m = MarketModel(**SMALL, week="test:1", policy=Trickle(), collect=True)
    m.run_hours(24)
    p = params[0]
    assert all(q is p for q in params)  # one day
    hh = m.record.frame("households")
    unmet = hh.pivot(index="hour", columns="household", values="ev_unmet_kwh").to_numpy()
    penalty = hh.pivot(index="hour", columns="household", values="device_penalty_eur").to_numpy()
    stored = hh.pivot(index="hour", columns="household", values="ev_energy_kwh").to_numpy()  # at each hour's end
    imp = m.design.week_import[:24]
    trips = np.flatnonzero(p.has_trip)
    assert len(trips) >= 4 and (unmet[p.ev_departure_hour[trips], trips] > 0.5).sum() >= 3
    for i in trips:
        dep, arr = int(p.ev_departure_hour[i]), int(p.ev_arrival_hour[i])
        at_dep = seen[dep][i]
        assert at_dep[col["ev_hours_to_departure"]] == 0 and at_dep[col["ev_need_kwh"]] == p.ev_need_kwh[i]
        assert at_dep[col["ev_shortfall_kwh"]] == pytest.approx(unmet[dep, i], abs=1e-12)
        assert penalty[dep, i] == pytest.approx(2.0 * imp[dep] / 1000 * at_dep[col["ev_shortfall_kwh"]], rel=1e-12, abs=1e-15)
        away = seen[dep + 1][i]
        assert away[col["ev_need_kwh"]] == away[col["ev_shortfall_kwh"]] == away[col["ev_home"]] == 0
        assert stored[arr - 1, i] != pytest.approx(p.ev_arrival_kwh[i])  # what it left with, not what it comes back with
        assert seen[arr][i][col["ev_energy_kwh"]] == p.ev_arrival_kwh[i] and seen[arr][i][col["ev_home"]] == 1


def test_a_policy_trained_on_another_observation_is_refused_by_name():
    import dataclasses

    from agents.learning.builders import build_learner
    from agents.learning.hyperparams import HyperParams

    m = MarketModel(**SMALL, week="test:1", policy="rule", collect=False)
    specs = m.design.role_specs()
    older = [dataclasses.replace(s, features=tuple(f for f in s.features if f.name != "ev_shortfall_kwh")) for s in specs]
    assert len(older[0].features) == len(specs[0].features) - 1
    config = {"variant": "maddpg-ps", **m.design.learner_groups("maddpg-ps")}
    learner = build_learner("maddpg-ps", older, HyperParams(), 0, "cpu", config)
    with pytest.raises(ValueError, match=r"household policy was trained on a different observation .*adds \['ev_shortfall_kwh'\].*retrain"):
        m.set_policy(learner)
    m.set_policy(build_learner("maddpg-ps", specs, HyperParams(), 0, "cpu", config))  # the design's own roles fit


def test_a_policy_trained_on_another_heat_pump_action_is_refused_by_name(tmp_path):
    """A policy records what its actions mean ([control].heat_pump); played on a scenario where the heat pump's action
    means the other thing it is refused, naming both and the fix; its own meaning fits, also after a save and load."""
    from agents.learning.builders import build_learner
    from agents.learning.hyperparams import HyperParams
    from agents.learning.team import RoleSpec

    setpoint = MarketModel(**SMALL, week="test:1", policy="rule", collect=False)  # p2p-mmr: set points (stop 46)
    power = MarketModel(**SMALL, week="test:1", policy="rule", collect=False, heat_pump_action="power")
    assert setpoint.design.role_specs()[0].action.meanings == ("", "", "setpoint")
    assert power.design.role_specs()[0].action.meanings == ()
    config = {"variant": "maddpg-ps", **setpoint.design.learner_groups("maddpg-ps")}
    for trained, other, said in ((setpoint, power, "heat_pump setpoint"), (power, setpoint, "heat_pump as usual")):
        specs = [RoleSpec.from_dict(json.loads(json.dumps(s.to_dict()))) for s in trained.design.role_specs()]
        learner = build_learner("maddpg-ps", specs, HyperParams(), 0, "cpu", config)
        with pytest.raises(ValueError, match=rf"household policy was trained with actions that mean something else .*"
                                             rf"trained: battery as usual, ev as usual, {said};.*heat_pump_action"):
            other.set_policy(learner)
        trained.set_policy(learner)
