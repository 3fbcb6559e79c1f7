"""Two ways to explore what a learner's own play never reaches. Exploring starts (`HyperParams.exploring_starts`):
training days that start part-way through the day from random storage states, in both household designs, valued
over the rest of the day at the whole day's rate; evaluation's days and the default training untouched; refused
where a design has nothing to explore. Uniform exploration (`HyperParams.explore_uniform`): a share of the
exploring actions drawn from the whole action range, decaying with the Gaussian noise. Requested actions
(`HyperParams.requested_actions`): the named action components stored as the policy asked for them."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pytest

from agents.learning.hyperparams import HyperParams
from model import devices
from model.scenario import load_scenario
from runs.training import design_hyperparams, make_model, train

H = devices.HOURS_PER_DAY
STAGE = {"p2p-mmr": "p2p", "stackelberg": "auction"}


def _play(model, week: int, first: int, hours: int):
    """Reset to (week, first, hours), play to the episode's end: (start state, the stage records)."""
    model.reset_episode(week, first, hours)
    start, out = model.design.state, []
    while model.running:
        model.step()
        out.append(getattr(model.hour_result, STAGE[model.scenario.name]))
    return start, out


@pytest.mark.parametrize("scenario", ["p2p-mmr", "stackelberg"])
def test_a_day_started_part_way_starts_from_random_storage_and_is_credited_for_the_rest_of_the_day(scenario):
    model = make_model(load_scenario(scenario).with_overrides(n_households=24), "random", 3)
    d = model.design
    week, first = d.episode_start(7 * 40 + 2)
    midnight, _ = _play(model, week, first, H)
    start, records = _play(model, week, first + 14, H - 14)
    assert len(records) == H - 14 and not model.running  # it ends with its day
    cap = d.params.bat_capacity_kwh
    battery, no_ev = cap > 0, (cap > 0) & (d.params.ev_capacity_kwh == 0)
    assert battery.sum() >= 5 and no_ev.any()
    assert (start.bat_energy_kwh >= d.sizes["soc_min"] * cap - 1e-9).all()
    assert (start.bat_energy_kwh <= d.sizes["soc_max"] * cap + 1e-9).all()
    assert np.abs(start.bat_energy_kwh - midnight.bat_energy_kwh)[battery].max() > 0.5  # not the day's midnight start
    np.testing.assert_array_equal(start.ev_energy_kwh, midnight.ev_energy_kwh)  # the car as it came home last night
    # the energy stored from the start hour to the day's end, at the mean mid-market rate of the whole day's tariffs
    hours = slice(first, first + H)
    mid = np.mean(0.5 * (d.week_import[hours] + d.week_export[hours]))
    end = records[-1].step.state
    assert all((r.storage_value_eur == 0).all() for r in records[:-1])
    np.testing.assert_allclose(records[-1].storage_value_eur[no_ev],
                               mid * (end.bat_energy_kwh - start.bat_energy_kwh)[no_ev] / 1000.0, rtol=0, atol=1e-12)
    assert np.abs(records[-1].storage_value_eur[no_ev]).max() > 1e-4
    # seeded by (scenario seed, day, hour): the same start again, another hour another draw, midnight unchanged
    np.testing.assert_array_equal(_play(model, week, first + 14, H - 14)[0].bat_energy_kwh, start.bat_energy_kwh)
    assert np.abs(_play(model, week, first + 15, H - 15)[0].bat_energy_kwh - start.bat_energy_kwh)[battery].max() > 0.5
    np.testing.assert_array_equal(_play(model, week, first, H)[0].bat_energy_kwh, midnight.bat_energy_kwh)


def test_training_with_exploring_starts_plays_part_days_and_resumes_exactly(tmp_path):
    scenario = tmp_path / "small.toml"
    scenario.write_text('extends = "p2p-mmr"\nn_households = 24\n')
    hp = design_hyperparams(str(scenario))
    kw = dict(episodes=6, seed=1, eval_every=3, checkpoint_every=2, progress=False, learner="ddpg-ps")
    plain = train(str(scenario), out=tmp_path / "plain", hp=hp, **kw)
    assert plain.market_hours == 6 * H  # off (the default): every training day is whole

    def snapshot(episode, learner):
        if episode == 4:
            shutil.copytree(tmp_path / "X" / "checkpoints", tmp_path / "ck4")

    exploring = dataclasses.replace(hp, exploring_starts=1.0)
    r = train(str(scenario), out=tmp_path / "X", hp=exploring, callback=snapshot, **kw)
    assert 6 <= r.market_hours <= 6 * (H - 1)  # every day started after midnight
    (tmp_path / "Y" / "checkpoints").mkdir(parents=True)
    for f in (tmp_path / "ck4").glob("ep000004.*"):
        shutil.copy(f, tmp_path / "Y" / "checkpoints")
    train(str(scenario), out=tmp_path / "Y", hp=exploring, resume=True, **kw)  # the start draws continue where they were
    for name in ("policy.pt", "train_curve.csv"):
        assert (tmp_path / "X" / name).read_bytes() == (tmp_path / "Y" / name).read_bytes(), name
    assert (tmp_path / "X" / "policy.pt").read_bytes() != (tmp_path / "plain" / "policy.pt").read_bytes()


def test_the_setting_is_checked_and_refused_where_a_design_has_no_state_to_explore(tmp_path):
    with pytest.raises(ValueError, match=r"exploring_starts = 1.5 must be a share in \[0, 1\]"):
        HyperParams(exploring_starts=1.5)
    hp = dataclasses.replace(design_hyperparams("s-a"), exploring_starts=0.5)
    with pytest.raises(ValueError, match="the arbitrage design cannot start training episodes part-way: .*exploring_starts=0"):
        train("s-a", episodes=1, out=tmp_path / "run", hp=hp, progress=False)
    assert not (tmp_path / "run").exists()  # refused before the run folder is touched


def _battery_draws(explore_uniform: float, sigma_share: float, n: int = 100):
    """A fresh MADDPG-PS learner's battery actions for the pv-battery households at one observed hour: (its own
    actions, (n, households) of them exploring with sigma = `sigma_share` of the initial)."""
    model = make_model(load_scenario("p2p-mmr").with_overrides(n_households=60), "rule", 0)
    seen = []

    class Capture:
        name = "capture"

        def act(self, stage, obs, rows):
            seen.append((obs.copy(), rows.copy()))
            return np.zeros((len(rows), 3))

    model.set_policy(Capture())
    model.reset_episode(*model.design.episode_start(7 * 40 + 2), H)
    model.step()
    obs, rows = seen[0]
    hp = dataclasses.replace(design_hyperparams("p2p-mmr"), explore_uniform=explore_uniform)
    learner = model.design.default_learner(hp, 0, "cpu")
    battery = model.design.cluster[rows] == model.design.cluster_names.index("pv-battery")
    own = learner.act("p2p", obs, rows)[battery, 0]
    learner.explore, learner.sigma = True, hp.noise_sigma0 * sigma_share
    return own, np.array([learner.act("p2p", obs, rows)[battery, 0] for _ in range(n)])


def test_uniform_exploration_reaches_the_whole_action_range_and_decays_with_sigma():
    own, uniform = _battery_draws(1.0, 1.0)
    assert uniform.size >= 1500
    # at the initial sigma all are drawn uniformly from [-1, 1]: every quarter of the range holds about a quarter
    shares = np.histogram(uniform, bins=4, range=(-1, 1))[0] / uniform.size
    assert shares.min() > 0.2 and shares.max() < 0.3
    # at a tenth of it a tenth of them, the rest the actor's own actions plus the Gaussian noise (0.04 here)
    for share, lo, hi in ((1.0, 0.04, 0.1), (0.0, 0.0, 0.0)):
        own, draws = _battery_draws(share, 0.1)
        far = np.abs(draws - own) > 0.25  # beyond 6 of the noise's standard deviations
        assert lo <= far.mean() <= hi, (share, far.mean())
    with pytest.raises(ValueError, match=r"explore_uniform = -0.1 must be a share in \[0, 1\]"):
        HyperParams(explore_uniform=-0.1)


def _stored_actions(requested_actions: str):
    """A day of 60 households asking every hour for full discharge, full EV charging, heat pumps off, stored in a
    fresh MADDPG-PS learner's buffers: per cluster name, the (24, members, components) unit actions stored."""
    model = make_model(load_scenario("p2p-mmr").with_overrides(n_households=60), "rule", 0)
    hp = dataclasses.replace(design_hyperparams("p2p-mmr"), requested_actions=requested_actions)
    learner = model.design.default_learner(hp, 0, "cpu")

    class Ask:  # a fixed request; the learner only stores
        name = "ask"

        def act(self, stage, obs, rows):
            return np.tile([-1.0, 1.0, 0.0], (len(rows), 1))

    model.set_policy(Ask())
    model.reset_episode(*model.design.episode_start(7 * 40 + 2), H)
    while model.running:
        model.step()
        learner.remember(model.hour_result, last=not model.running)
    return {s.name: s.group.buffer.act[:H] for s in learner.slots}


def test_requested_actions_store_what_the_policy_asked_for_in_the_named_components_only():
    executed, requested = _stored_actions(""), _stored_actions("battery")
    # executed: the batteries' discharge stops once they are empty (unit 0.5 = battery 0), so "discharge" is stored only
    # where there was energy; requested: the discharge asked for in every hour (unit 0 = -1)
    assert (executed["pv-battery"][:, :, 0] == 0.0).any() and (executed["pv-battery"][-1, :, 0] == 0.5).all()
    assert (requested["pv-battery"][:, :, 0] == 0.0).all()
    # the EV is not named: stored as executed either way (no charging while the car is away)
    np.testing.assert_array_equal(requested["pv-ev"], executed["pv-ev"])
    assert (executed["pv-ev"] < 1.0).any()
    # the heat pumps' set point (the P2P scenario's control): executed, the set point the house's new temperature
    # equals (above the floor asked for wherever the house is warmer); requested, the floor asked for in every hour
    both = _stored_actions("battery,heat_pump")
    assert (executed["heat-pump"] > 0.05).mean() > 0.1 and (requested["heat-pump"] == executed["heat-pump"]).all()
    assert (both["heat-pump"] == 0.0).all() and (both["pv-battery"] == requested["pv-battery"]).all()



def test_an_unknown_requested_action_is_refused_before_the_run_folder_is_touched(tmp_path):
    hp = dataclasses.replace(design_hyperparams("p2p-mmr"), requested_actions="batery")
    with pytest.raises(ValueError, match=r"requested_actions \['batery'\]: not actions of the p2p design \(it has "
                                         r"\['battery', 'ev', 'heat_pump'\]\)"):
        train("p2p-mmr", episodes=1, out=tmp_path / "run", hp=hp, progress=False)
    assert not (tmp_path / "run").exists()
