"""PettingZoo env: conformance tests, and a random week whose rewards are the model's own r1/r2."""

import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pettingzoo.test import parallel_api_test, parallel_seed_test

from model.designs.arbitrage import LEM_COLUMNS, LFM_COLUMNS
from model.env import parallel_env
from model.model import MarketModel
from runs.results import tables

IDS = range(2, 12)
ROOT = Path(__file__).resolve().parent.parent


def test_parallel_api_test_over_a_whole_episode():
    env = parallel_env(scenario="one-arb", weeks="test:1")
    parallel_api_test(env, num_cycles=400)  # > 336 steps: the truncation at the week's end is checked too


def test_parallel_seed_test():
    parallel_seed_test(lambda: parallel_env(scenario="one-arb", weeks="train"), num_cycles=50)


def test_agents_and_spaces():
    env = parallel_env(scenario="s-a", weeks="test:1")
    assert env.possible_agents == [f"primary_{i}" for i in IDS] + [f"secondary_{i}" for i in IDS]
    assert len(LEM_COLUMNS) + 1 == 5 and len(LFM_COLUMNS) + 1 == 8  # the stages' features, then `acting`
    assert env.observation_space("primary_5").shape == (5,) and env.observation_space("secondary_5").shape == (8,)
    assert env.action_space("primary_5").shape == (1,) and env.action_space("primary_5").high[0] == 1.0
    assert env.action_space("secondary_5").shape == (2,) and env.action_space("secondary_5").high[0] == 1000.0
    assert env.observation_space("secondary_2") is env.observation_space("secondary_2")


def test_reset_seeds_the_week_and_the_model():
    env = parallel_env(scenario="s-a", weeks="train")
    env.reset(seed=7)
    week, seed = env.model.week, env.model.seed
    env.reset(seed=7)
    assert (env.model.week, env.model.seed) == (week, seed)
    weeks = {env.reset(seed=s)[1]["primary_2"]["week"] for s in range(8)}
    assert len(weeks) > 1
    obs, infos = env.reset(seed=0, options={"week": "test:2"})
    assert env.model.week == 5 and infos["primary_2"] == {"stage": "lem", "acting": True, "week": 5, "hour_of_week": 0}
    assert obs["primary_2"][-1] == 1.0 and not obs["secondary_2"].any()  # no LFM observation yet this episode


class Replay:
    """Plays recorded actions hour by hour (the same clipping happens in the model)."""

    name = "replay"

    def __init__(self, withhold, flex):
        self.recorded = {"lem": [w[:, None] for w in withhold], "lfm": flex}
        self.hour = {"lem": 0, "lfm": 0}

    def act(self, stage, obs, rows):
        self.hour[stage] += 1
        return self.recorded[stage][self.hour[stage] - 1][rows]


def test_random_week_rewards_are_the_models_r1_and_r2():
    env = parallel_env(scenario="one-arb", weeks="test:1", collect=True)
    obs, infos = env.reset(seed=3)
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(i)
    totals = dict.fromkeys(env.possible_agents, 0.0)
    withhold, flex, steps = [], [], 0
    while env.agents:
        for a, o in obs.items():
            assert env.observation_space(a).contains(o), (a, o)
        stage = env.stage
        acting = "primary" if stage == "lem" else "secondary"
        assert all(infos[a]["acting"] == a.startswith(acting) and infos[a]["stage"] == stage for a in env.agents)
        actions = {a: env.action_space(a).sample() for a in env.agents}
        if stage == "lem":
            withhold.append(np.array([actions[f"primary_{i}"][0] for i in IDS], dtype=float))
        else:
            flex.append(np.array([actions[f"secondary_{i}"] for i in IDS], dtype=float))
        obs, rewards, terms, truncs, infos = env.step(actions)
        for a, r in rewards.items():
            totals[a] += r
        if stage == "lem":
            assert all(rewards[f"secondary_{i}"] == 0.0 for i in IDS)
        else:  # stand-alone primaries get nothing more after the LEM
            assert all(rewards[f"primary_{i}"] == 0.0 for i in IDS if i != 5)
        steps += 1
        assert not any(terms.values()) and all(truncs.values()) == (not env.agents)
    assert steps == 2 * 168 and len(withhold) == len(flex) == 168
    with pytest.raises(RuntimeError, match="call reset"):
        env.step({})

    # the same week replayed through a fresh model, as the model's own brains would play it
    replay = MarketModel(scenario="one-arb", week=env.model.week, seed=env.model.seed, policy=Replay(withhold, flex))
    r_primary, r2 = np.zeros(10), np.zeros(10)
    while replay.running:
        replay.step()
        r_primary += replay.hour_result.balancing.r_primary
        r2 += replay.hour_result.balancing.r2
    assert [totals[f"primary_{i}"] for i in IDS] == pytest.approx(r_primary, rel=1e-9, abs=1e-6)
    assert [totals[f"secondary_{i}"] for i in IDS] == pytest.approx(r2, rel=1e-9, abs=1e-6)
    assert r_primary[3] != r2[3] and r2[3] != 0.0  # aggregator 5 arbitrages: its primary also earned r2
    for name, df in tables(replay).items():  # every hour identical, not only the sums
        pd.testing.assert_frame_equal(tables(env.model)[name], df)


def test_missing_and_bad_arguments():
    env = parallel_env(scenario="s-a", weeks="test:1")
    env.reset(seed=0)
    with pytest.raises(KeyError, match=r"stage 'lem' needs an action for every primary agent; missing \['primary_11'\]"):
        env.step({f"primary_{i}": np.zeros(1, np.float32) for i in range(2, 11)})
    env.step({f"primary_{i}": np.zeros(1, np.float32) for i in IDS})  # secondaries may be left out in the LEM stage
    assert env.stage == "lfm"
    with pytest.raises(ValueError, match=r"\['seed', 'week'\] are set by the env"):
        parallel_env(week="test:1", seed=3)


def test_readme_random_rollout_runs_as_written():
    done = subprocess.run([sys.executable, "examples/random_rollout.py"], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("week 0: 336 steps\nprimary_5 ")


def test_training_sketch_transitions_carry_each_agents_rewards():
    agent_transitions = runpy.run_path(str(ROOT / "examples" / "train_loop.py"))["agent_transitions"]  # no training
    env = parallel_env(scenario="one-arb", weeks="test:1", collect=True)
    for i, a in enumerate(env.possible_agents):
        env.action_space(a).seed(i)
    got = {a: [] for a in env.possible_agents}
    for agent, o, a, r, o2, truncated in agent_transitions(env, lambda ag, ob: env.action_space(ag).sample(), seed=1):
        assert o[-1] == 1.0 and (o2[-1] == 1.0) != truncated  # from an acting step to the next one
        got[agent].append(r)
    assert all(len(v) == 168 for v in got.values())
    sums = tables(env.model)["aggregators"].groupby("aggregator")[["r1", "r2"]].sum()
    for i in IDS:
        primary = sums.loc[i, "r1"] + (sums.loc[i, "r2"] if i == 5 else 0.0)
        assert sum(got[f"primary_{i}"]) == pytest.approx(primary, abs=1e-6)
        assert sum(got[f"secondary_{i}"]) == pytest.approx(sums.loc[i, "r2"], abs=1e-6)


def test_secondaries_see_the_feeders_scheduled_injection():
    """The LFM observation's last feature is the feeder's net scheduled injection after the LEM (the sum
    of every aggregator's P^sch), the same for every aggregator; a policy trained on the first six
    features reads only those."""
    from runs.training import make_model

    model = make_model("one-arb", "rule", 0, week="test:1")
    for _ in range(5):
        model.step()
        h = model.hour_result
        obs = h.observations["lfm"]
        assert LFM_COLUMNS[-1] == "feeder_sched_mw" and obs.shape[1] == len(LFM_COLUMNS)
        assert np.allclose(obs[:, -1], h.lem.p_sched_mw.sum()) and np.allclose(obs[:, 1], h.lem.p_sched_mw)
