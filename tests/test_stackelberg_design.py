"""The Stackelberg design: scenario checks, the money balances of its CSVs (auction payments sum to
zero, what the followers pay the aggregator is its retail revenue, its profit is that revenue less
its day-ahead and imbalance costs), price bounds, the retail-only and simultaneous-move variants,
the env, and its learner (two time scales, resume)."""

from __future__ import annotations

import dataclasses

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from pettingzoo.test import parallel_api_test

from agents.learning.checkpoint import CheckpointError
from model.env import parallel_env
from model.markets.settlement import balancing_costs_eur
from model.designs.stackelberg import FOLLOWER_OBSERVATION
from model.model import MarketModel
from model.scenario import ScenarioError, load_scenario
from runs.cli import main

SMALL = dict(scenario="stackelberg", n_households=12)


# --- scenarios --------------------------------------------------------------------------------------
@pytest.mark.parametrize("overrides, message", [
    ({"visible": "maybe"}, "override visible = 'maybe' must be \"true\" or \"false\""),
    ({"da_position_kw_per_household": -1.0}, r"\[leader\].da_position_kw_per_household must be >= 0"),
    ({"n_households": 0}, "n_households"),
    ({"peak_penalty": "daily"}, r"unknown scenario override\(s\) \['peak_penalty'\]"),
])
def test_bad_overrides_name_the_setting(overrides, message):
    with pytest.raises(ScenarioError, match=message):
        load_scenario("stackelberg").with_overrides(**overrides)


def test_an_unknown_section_key_is_refused(tmp_path):
    p = tmp_path / "sc.toml"
    p.write_text('extends = "stackelberg"\n[leader]\nvisibel = true\n')
    with pytest.raises(ScenarioError, match="visibel"):
        load_scenario(str(p))


# --- simulate: the money balances -------------------------------------------------------------------
@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    out = tmp_path_factory.mktemp("sim") / "stk"
    assert main(["simulate", "--scenario", "stackelberg", "--week", "test:3", "--policy", "rule", "--out", str(out)]) == 0
    return pd.read_csv(out / "households.csv"), pd.read_csv(out / "community.csv")


def test_the_auction_payments_sum_to_zero_and_the_retail_payments_are_the_leaders_revenue(simulated):
    hh, c = simulated
    assert len(hh) == 168 * 50 and len(c) == 168
    per = hh.groupby("hour").agg(auction=("auction_eur", "sum"), retail=("retail_eur", "sum"),
                                 traded=("auction_kwh", lambda x: x.clip(lower=0).sum()), net=("net_kw", "sum"))
    c = c.set_index("hour")
    # (the CSVs hold 9 significant digits)
    np.testing.assert_allclose(per.auction, 0.0, atol=1e-6)  # the auction's money only changes hands
    np.testing.assert_allclose(per.traded, c.auction_volume_kwh, rtol=1e-6, atol=1e-6)
    # R, the community's residual with the aggregator, is its net position whatever the auction matched
    np.testing.assert_allclose(per.net, c.residual_kw, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(c.imbalance_kw, c.da_position_kw - c.residual_kw, atol=1e-6)
    imbalance = balancing_costs_eur(c.imbalance_kw.to_numpy() / 1000, c.imb_long_eur_mwh.to_numpy(),
                                    c.imb_short_eur_mwh.to_numpy())
    np.testing.assert_allclose(c.imbalance_cost_eur, imbalance, rtol=1e-6, atol=1e-6)
    profit = per.retail - c.da_price_eur_mwh * c.da_position_kw / 1000 - c.imbalance_cost_eur
    np.testing.assert_allclose(c.leader_profit_eur, profit, rtol=1e-6, atol=1e-6)
    assert c.auction_volume_kwh.sum() > 10  # the rules trade P2P in a summer-ish test week


def test_prices_stay_within_their_bounds(simulated):
    hh, c = simulated
    eps = 1e-6  # the CSVs hold 9 significant digits
    assert (c.export_tariff_eur_mwh <= c.retail_sell_eur_mwh + eps).all()
    assert (c.retail_sell_eur_mwh <= c.retail_buy_eur_mwh + eps).all()
    assert (c.retail_buy_eur_mwh <= c.import_tariff_eur_mwh + eps).all()
    traded = c[c.auction_volume_kwh > 0]
    assert (traded.retail_sell_eur_mwh <= traded.auction_price_eur_mwh + eps).all()
    assert (traded.auction_price_eur_mwh <= traded.retail_buy_eur_mwh + eps).all()
    m = hh.merge(c[["hour", "retail_buy_eur_mwh", "retail_sell_eur_mwh", "auction_price_eur_mwh"]], on="hour")
    assert ((m.retail_sell_eur_mwh - eps <= m.limit_price_eur_mwh) & (m.limit_price_eur_mwh <= m.retail_buy_eur_mwh + eps)).all()
    # uniform price: everyone who traded paid (or got) the hour's price
    t = m[m.auction_kwh.abs() > 1e-9]
    np.testing.assert_allclose(t.auction_eur, t.auction_price_eur_mwh * t.auction_kwh / 1000, rtol=1e-6, atol=1e-9)
    # a follower never pays more per kWh than the retail buy price, nor gets less than the retail sell price
    bought = m[m.net_kw > 0]
    np.testing.assert_array_less((bought.auction_eur + bought.retail_eur) - bought.retail_buy_eur_mwh * bought.net_kw / 1000, 1e-6)


def test_retail_only_has_no_auction_and_bills_at_retail_prices():
    m = MarketModel(**SMALL, week="test:3", policy="rule", collect=True, auction="false")
    m.run_hours(48)
    hh, c = m.record.frame("households"), m.record.frame("community")
    assert (c.auction_volume_kwh == 0).all() and (hh.auction_eur == 0).all()
    x = hh.merge(c[["hour", "retail_buy_eur_mwh", "retail_sell_eur_mwh"]], on="hour")
    bill = (x.retail_buy_eur_mwh * x.net_kw.clip(lower=0) - x.retail_sell_eur_mwh * (-x.net_kw).clip(lower=0)) / 1000
    np.testing.assert_allclose(x.retail_eur, bill, atol=1e-12)


RETAIL_BUY = [f.name for f in FOLLOWER_OBSERVATION].index("retail_buy_eur_mwh")  # retail_sell_eur_mwh follows


def test_the_followers_see_this_hours_prices_only_in_the_stackelberg_setting():
    seen = {}

    class Spy:
        name = "spy"

        def __init__(self, key):
            self.key, self.t = key, 0

        def act(self, stage, obs, rows):
            if stage == "retail":
                self.t += 1
                return np.array([[0.1 * (self.t % 5), 0.5, 0.0]])
            seen.setdefault(self.key, []).append(obs[0, [RETAIL_BUY, RETAIL_BUY + 1]].copy())
            return np.zeros((len(rows), 4))

    for visible in ("true", "false"):
        m = MarketModel(**SMALL, week="test:1", policy=Spy(visible), collect=True, visible=visible)
        m.run_hours(6)
        posted = m.record.frame("community")[["retail_buy_eur_mwh", "retail_sell_eur_mwh"]].to_numpy()
        got = np.array(seen[visible])
        if visible == "true":
            np.testing.assert_allclose(got, posted)
        else:
            np.testing.assert_allclose(got[1:], posted[:-1])  # last hour's prices
            assert not np.allclose(got[1:], posted[1:])


def test_nan_actions_name_the_role_and_participant():
    class Broken:
        name = "broken"

        def act(self, stage, obs, rows):
            if stage == "retail":
                return np.array([[0.1, 0.5, 0.0]])
            out = np.zeros((len(rows), 4))
            out[2, 3] = np.nan
            return out

    with pytest.raises(ValueError, match=r"AUCTION action is NaN/inf for participant\(s\) \[2\] \(role follower\)"):
        MarketModel(**SMALL, week="test:1", policy=Broken()).step()


# --- the env -----------------------------------------------------------------------------------------
def test_the_env_passes_the_conformance_test_with_both_roles():
    env = parallel_env(scenario="stackelberg", weeks="test:1", n_households=6)
    assert env.possible_agents[0] == "leader_aggregator" and len(env.possible_agents) == 7
    parallel_api_test(env, num_cycles=60)


def test_the_env_observes_the_episodes_own_model():
    env = parallel_env(scenario="stackelberg", weeks="test:1", n_households=6)
    for seed in (1, 2):
        obs, _ = env.reset(seed=seed)
        stage = env.model.design.stage("retail")
        expect = stage.observe(env.model.begin_hour())[0]
        np.testing.assert_allclose(obs["leader_aggregator"][:-1], expect, rtol=1e-6)
        env.step({"leader_aggregator": np.array([0.2, 0.5, 0.0], np.float32)})
        follower = env.model.design.stage("auction").observe(env.model.clear_until("auction", inclusive=False))
        soc = np.array([env._obs[f"follower_{i}"][3] for i in range(6)])
        np.testing.assert_allclose(soc, follower[:, 3], rtol=1e-6)  # the battery SOC of this episode's day


def test_the_env_pays_each_role_what_the_model_records():
    env = parallel_env(scenario="stackelberg", weeks="test:1", n_households=6, collect=True)
    env.reset(seed=2)
    totals = dict.fromkeys(env.possible_agents, 0.0)
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(i)
    while env.agents:
        _, rewards, *_ = env.step({a: env.action_space(a).sample() for a in env.agents})
        for a, r in rewards.items():
            totals[a] += r
    c, hh = env.model.record.frame("community"), env.model.record.frame("households")
    assert totals["leader_aggregator"] == pytest.approx(c.leader_profit_eur.sum(), rel=1e-6)
    per = hh.groupby("household").reward_eur.sum()
    assert [totals[f"follower_{i}"] for i in range(6)] == pytest.approx(per.tolist(), rel=1e-5, abs=1e-6)


# --- learning -------------------------------------------------------------------------------------
def test_the_learner_updates_followers_k_times_per_leader_update_and_every_follower_learns_its_limit_price():
    from runs.training import design_hyperparams

    m = MarketModel(**SMALL, week="train:1", policy="rule")
    hp = design_hyperparams("stackelberg")
    team = m.design.default_learner(hp, 0, "cpu")
    by = {s.name: s for s in team.slots}
    assert by["leader"].updates == hp.updates_per_episode // 2  # K = 2 (stop 39)
    assert all(s.updates == hp.updates_per_episode for name, s in by.items() if name != "leader")
    assert by["pv-only"].components == (3,)  # no device: only the limit price
    assert by["pv-battery"].components == (0, 3)
    same = m.design.default_learner(hp, 0, "cpu", {"variant": "simultaneous"})
    assert all(s.updates == hp.updates_per_episode for s in same.slots)
    # both variants' leaders learn each hour's profit (gamma 0); the followers, whose devices carry energy
    # between hours, keep the learner's gamma; `leader_gamma` None gives the leader that gamma too
    assert hp.gamma == 0.95
    for t in (team, same):
        assert [s.group.hp.gamma for s in t.slots] == [0.0] + [hp.gamma] * (len(t.slots) - 1)
    far = m.design.default_learner(hp, 0, "cpu", {"leader_gamma": None})
    assert {s.group.hp.gamma for s in far.slots} == {hp.gamma}
    # `leader_action_search` gives the leader alone the learner's sampled policy improvement
    assert hp.action_search == 0 and {s.group.hp.action_search for s in team.slots} == {0}
    searching = m.design.default_learner(hp, 0, "cpu", {"leader_action_search": 32})
    assert [s.group.hp.action_search for s in searching.slots] == [32] + [0] * (len(searching.slots) - 1)
    assert searching.slots[0].group.hp.gamma == 0.0  # with the leader's other settings kept
    # `leader_noise_scale` scales the leader's exploration alone
    noisy = m.design.default_learner(hp, 0, "cpu", {"leader_noise_scale": 3.0})
    assert [s.noise_scale for s in noisy.slots] == [3.0] + [1.0] * (len(noisy.slots) - 1)
    assert [s.noise_scale for s in team.slots] == [1.0] * len(team.slots)
    # `leader_random_days` gives the leader alone random days
    wild = m.design.default_learner(hp, 0, "cpu", {"leader_random_days": 0.25})
    assert [s.random_day_share for s in wild.slots] == [0.25] + [0.0] * (len(wild.slots) - 1)
    assert {s.random_day_share for s in team.slots} == {0.0}
    # `leader_anchor_weight` changes the leader's pull toward its rule-start fit alone
    anchored = m.design.default_learner(hp, 0, "cpu", {"leader_anchor_weight": 1.5})
    assert [s.group.hp.rule_anchor_weight for s in anchored.slots] == [1.5] + [hp.rule_anchor_weight] * (
        len(anchored.slots) - 1)
    # ... which needs the leader's actions in the rule start: without them it is refused by name, not ignored
    heat_pumps_only = dataclasses.replace(hp, rule_start_actions="heat_pump=0")
    with pytest.raises(ValueError, match="leader_anchor_weight=1.5: the leader has no rule start .*,sell_price_share=0,buy_price_share=1"):
        m.design.default_learner(heat_pumps_only, 0, "cpu", {"leader_anchor_weight": 1.5})
    assert m.design.default_learner(heat_pumps_only, 0, "cpu", {"leader_anchor_weight": 0.0}).slots[0].group.hp.rule_anchor_weight == 0
    # a trained best responder learns with the discount of the slot it replaces: the leader's 0, a follower's 0.95
    from agents.learning.best_response import best_responder

    assert [s.group.hp.gamma for s in best_responder(team, {"leader": 0}, hp).slots] == [0.0]
    follower = int(by["pv-battery"].rows[0])
    assert [s.group.hp.gamma for s in best_responder(team, {"follower": follower}, hp).slots] == [hp.gamma]
    assert [s.group.hp.gamma for s in best_responder(far, {"leader": 0}, hp).slots] == [hp.gamma]


@pytest.mark.parametrize("info, kind, columns", [("all", "collective", [0, 1, 2, 3, 4]), ("none", "own", []),
                                                 (["auction_price_eur_mwh", "retail_buy_eur_mwh"], "collective", [2, 0])])
def test_the_followers_critics_see_the_collective_information_follower_critic_info_names(info, kind, columns):
    """`follower_critic_info`: the followers' critics are fed those columns of the hour's collective information (the
    stored transitions hold them, scaled), "none" gives critics of their own input and action only; the leader and a
    trained best responder of a follower keep what the run's followers saw."""
    from agents.learning.best_response import best_responder
    from runs.training import design_hyperparams

    hp = dataclasses.replace(design_hyperparams("stackelberg"), hidden_sizes=(8,))
    model = MarketModel(**SMALL, week="test:2", policy="rule")
    team = model.design.default_learner(hp, 0, "cpu", {} if info == "all" else {"follower_critic_info": info})
    model.set_policy(team)
    for _ in range(14):
        model.step()
    hour = model.hour_result
    record = hour.records["auction"]
    full = np.asarray(record.collective) / np.array([f.divisor for f in model.design.stages[1].collective])
    assert model.design.stages[1].role == "follower" and full.shape == (5,) and np.ptp(full) > 0
    followers = [s for s in team.slots if s.name != "leader"]
    for slot in followers:
        assert slot.group.critic_kind == kind and slot.group.info_dim == len(columns)
        if columns:
            np.testing.assert_array_equal(team._transition(slot, hour)[3], full[columns])
    team.remember(hour, last=False)
    for slot in followers:
        assert slot.group.buffer.info.shape[-1] == len(columns)
    if columns:
        np.testing.assert_allclose(followers[0].group.buffer.info[0], full[columns], rtol=1e-6)
    assert team.slots[0].info_columns is None  # the leader: no collective information
    responder = best_responder(team, {"follower": int(followers[1].rows[0])}, hp).slots[0]
    assert responder.group.critic_kind == kind and responder.group.info_dim == len(columns)
    assert responder.info_columns == followers[1].info_columns


def test_learner_config_reads_the_stackelberg_learners_settings_and_refuses_anything_else():
    """`--learner-config NAME=VALUE`: the design's `learner_settings` only, each value checked, with a
    message naming what is accepted; a design with none refuses every one."""
    from model.design import get_design

    st, p2p = get_design("stackelberg"), get_design("p2p")
    assert st.learner_config(["leader_gamma=0.95", "follower_updates_per_leader_update=2",
                              "leader_timescale=learning-rate"]) == {
        "leader_gamma": 0.95, "follower_updates_per_leader_update": 2, "leader_timescale": "learning-rate"}
    assert st.learner_config(["leader_gamma=none"]) == {"leader_gamma": None} and st.learner_config(None) == {}
    assert st.learner_config(["leader_action_search=32"]) == {"leader_action_search": 32}
    assert st.learner_config(["leader_anchor_weight=1"]) == {"leader_anchor_weight": 1.0}
    assert st.learner_config(["leader_noise_scale=3"]) == {"leader_noise_scale": 3.0}
    assert st.learner_config(["leader_random_days=0.2"]) == {"leader_random_days": 0.2}
    assert st.learner_config(["follower_critic_info=none"]) == {"follower_critic_info": "none"}
    assert st.learner_config(["follower_critic_info=retail_buy_eur_mwh, residual_kw_per_household"]) == {
        "follower_critic_info": ["retail_buy_eur_mwh", "residual_kw_per_household"]}
    for bad, says in [("leader_gamma=1.5", "not a discount factor"), ("leader_gamma=nan", "not a discount factor"),
                      ("leader_gamma=x", "not a discount factor"), ("follower_updates_per_leader_update=0", ">= 1"),
                      ("follower_updates_per_leader_update=2.5", ">= 1"), ("leader_timescale=fast", "updates or learning-rate"),
                      ("leader_action_search=-1", "candidate actions >= 0"), ("leader_action_search=4.5", "candidate actions >= 0"),
                      ("leader_anchor_weight=-0.1", "anchor weight from 0 to 100"), ("leader_anchor_weight=inf", "anchor weight"),
                      ("leader_anchor_weight=nan", "anchor weight"),
                      ("leader_noise_scale=11", "noise scale from 0 to 10"), ("leader_noise_scale=x", "noise scale"),
                      ("leader_random_days=1.5", "share of days from 0 to 1"), ("leader_random_days=-0.1", "share of days"),
                      ("follower_critic_info=auction_price", r"\['auction_price'\] not among .*auction_price_eur_mwh"),
                      ("follower_critic_info=", "no names"),
                      ("gamma=0.9", "NAME one of the stackelberg learner's settings"), ("leader_gamma", "NAME=VALUE")]:
        with pytest.raises(ValueError, match=says):
            st.learner_config([bad])
    with pytest.raises(ValueError, match="the p2p design's learner has no settings to change"):
        p2p.learner_config(["leader_gamma=0"])


def test_train_records_the_learner_config_it_was_given_and_checks_it_before_writing(tmp_path):
    from runs.training import train

    scenario = tmp_path / "small.toml"
    scenario.write_text('extends = "stackelberg"\nn_households = 10\n')
    assert main(["train", "--scenario", str(scenario), "--episodes", "1", "--eval-every", "1", "--out", str(tmp_path / "A"),
                 "--learner-config", "leader_gamma=0.95", "--learner-config", "follower_updates_per_leader_update=4",
                 "--learner-config", "follower_critic_info=retail_buy_eur_mwh,residual_kw_per_household"]) == 0
    meta = json.loads((tmp_path / "A" / "policy.json").read_text())
    assert meta["learner_config"]["leader_gamma"] == 0.95 and meta["learner_config"]["follower_updates_per_leader_update"] == 4
    from runs.training import load_trained_policy

    learned, _ = load_trained_policy(tmp_path / "A")  # rebuilt from the record: the leader's gamma and update count
    by = {s.name: s for s in learned.slots}
    assert by["leader"].group.hp.gamma == 0.95 and by["leader"].updates == learned.hp.updates_per_episode // 4
    assert {s.info_columns for name, s in by.items() if name != "leader"} == {(0, 4)}  # the followers' critics' columns
    assert main(["train", "--scenario", str(scenario), "--episodes", "1", "--out", str(tmp_path / "B"),
                 "--learner-config", "leader_gamma=2"]) == 2
    with pytest.raises(ValueError, match="not settings of the stackelberg design's learner"):
        train(str(scenario), episodes=1, out=tmp_path / "C", progress=False, learner_config={"lr": 1})
    assert not (tmp_path / "B").exists() and not (tmp_path / "C").exists()  # refused before the run folder is made


@pytest.mark.parametrize("config", [{}, {"leader_random_days": 0.5}])
def test_stackelberg_training_resumes_exactly(tmp_path, config):
    """A run resumed from its episode-4 checkpoint ends byte for byte as the run trained through, with the leader's
    random days too (drawn each day from the team's random stream, which the checkpoint keeps)."""
    from runs.training import train

    scenario = tmp_path / "small.toml"
    scenario.write_text('extends = "stackelberg"\nn_households = 10\n')
    kw = dict(episodes=6, seed=1, eval_every=3, checkpoint_every=2, progress=False, learner_config=config)
    random_days = []

    def snapshot(episode, learner):
        random_days.append(learner.slots[0].random_today)
        if episode == 4:
            shutil.copytree(tmp_path / "X" / "checkpoints", tmp_path / "ck4")

    train(str(scenario), out=tmp_path / "X", callback=snapshot, **kw)
    meta = json.loads((tmp_path / "X" / "policy.json").read_text())
    assert meta["learner"] == "stackelberg" and meta["roles"][0]["role"] == "leader"
    (tmp_path / "Y" / "checkpoints").mkdir(parents=True)
    for f in (tmp_path / "ck4").glob("ep000004.*"):
        shutil.copy(f, tmp_path / "Y" / "checkpoints")
    train(str(scenario), out=tmp_path / "Y", resume=True, **kw)
    for name in ("policy.pt", "train_curve.csv"):
        assert (tmp_path / "X" / name).read_bytes() == (tmp_path / "Y" / name).read_bytes(), name
    assert set(random_days) == ({False, True} if config else {False})  # some days random, some not
    # a checkpoint of a learner configured otherwise (here: written before the leader learned myopically)
    # is refused by name, not continued under today's configuration
    (tmp_path / "Z" / "checkpoints").mkdir(parents=True)
    for f in (tmp_path / "ck4").glob("ep000004.*"):
        shutil.copy(f, tmp_path / "Z" / "checkpoints")
    ck = tmp_path / "Z" / "checkpoints" / "ep000004.json"
    meta = json.loads(ck.read_text())
    del meta["learner_config"]["leader_gamma"]
    ck.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="learner's configuration differs .* versions.git_commit"):
        train(str(scenario), out=tmp_path / "Z", resume=True, **kw)


def test_the_imbalance_spread_cost_is_what_deviating_adds_to_buying_the_residual_day_ahead():
    """Leader profit = retail revenue - day-ahead price x residual - spread cost: the settlement's
    energy part is not a cost of deviating. Hand-worked: long 2 MW at DA 50, long price 40 -> 20 EUR;
    short 1 MW at DA 50, short price 65 -> 15 EUR; no spread -> 0."""
    from model.markets.settlement import imbalance_spread_cost_eur

    np.testing.assert_allclose(imbalance_spread_cost_eur(np.array([2.0, -1.0, -3.0]), 50.0, np.array([40.0, 40.0, 50.0]),
                                                         np.array([65.0, 65.0, 50.0])), [20.0, 15.0, 0.0])
    m = MarketModel(**SMALL, week="test:1", policy="random", collect=True)
    m.run_hours(48)
    c, hh = m.record.frame("community"), m.record.frame("households")
    spread = imbalance_spread_cost_eur(c.imbalance_kw / 1000, c.da_price_eur_mwh, c.imb_long_eur_mwh, c.imb_short_eur_mwh)
    assert (spread >= -1e-12).all() and spread.sum() > 0 and (c.imbalance_kw.abs() > 1).mean() > 0.9
    revenue = hh.groupby("hour").retail_eur.sum().to_numpy()
    np.testing.assert_allclose(c.leader_profit_eur, revenue - c.da_price_eur_mwh * c.residual_kw / 1000 - spread, atol=1e-9)
    _, market = m.design.sweep_rows(m.record)
    assert market["imbalance_spread_cost_eur_per_day"] == pytest.approx(spread.sum() / 2)
    assert market["imbalance_cost_eur_per_day"] != pytest.approx(market["imbalance_spread_cost_eur_per_day"])
