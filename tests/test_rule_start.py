"""Starting a learner's named actions from the design's rule (`HyperParams.rule_start_actions`,
`rule_start_episodes`): the rule plays those action components in the first training episodes, the hours are
stored as any others, and the actors are then fitted to the rule's actions (behaviour cloning) before learning
goes on; resumable to the same numbers, refused by name where it cannot work."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from agents.learning.hyperparams import HyperParams
from agents.learning.team import Team
from runs.study import profile_hyperparams, resolve_profile
from runs.training import design_hyperparams, train
from tests.learning_helpers import assert_resumes_to_same_bytes

H = 24


@pytest.fixture
def _hp(small_hp):
    """This file's hyperparameters: the shared small ones (conftest `small_hp`), 3 days, the rule start off and the
    evaluation week alone, the fitted actors not held, unless a test sets them."""
    defaults = {"episodes": 3, "rule_start_actions": "", "rule_start_episodes": 0, "rule_start_critic_episodes": 0,
                "rule_anchor_weight": 0.0,
                "selection_weeks": "eval:1"}
    return lambda scenario, **kw: small_hp(scenario, **(defaults | kw))


def _state(module) -> dict[str, torch.Tensor]:
    """A copy of a network's parameters."""
    return {k: v.clone() for k, v in module.state_dict().items()}


def _actor_state(group) -> dict[str, torch.Tensor]:
    return _state(group.actor)


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(v, b[k]) for k, v in a.items())


def _battery_out(group, inputs: torch.Tensor) -> np.ndarray:
    """The shared actor's battery action in [0, 1] for stored inputs (hours, members, actor_dim)."""
    with torch.no_grad():
        out = group.policy(group.actor, inputs.reshape(1, -1, inputs.shape[-1]))[0, :, 0]
    return out.numpy().reshape(inputs.shape[:2])


def test_the_rule_plays_the_battery_first_and_the_battery_actors_then_start_from_it(_hp, small_p2p, tmp_path,
                                                                                    monkeypatch):
    hp = _hp(small_p2p, rule_start_actions="battery", rule_start_episodes=2)
    seen = {}
    real = Team.imitate

    def imitate(self, names, steps):  # snapshots around the fit
        seen["before"] = {s.name: _actor_state(s.group) for s in self.slots}
        b = next(s for s in self.slots if s.name == "pv-battery")
        seen["inputs"] = torch.from_numpy(b.group.buffer.obs[:2 * H].copy())  # (hours, members, actor_dim)
        seen["stored"] = b.group.buffer.act[:2 * H, :, 0].copy()
        seen["out_before"] = _battery_out(b.group, seen["inputs"])
        seen["steps"], seen["stats"] = steps, real(self, names, steps)
        seen["after"] = {s.name: _actor_state(s.group) for s in self.slots}
        seen["target"] = _state(b.group.actor_target)
        seen["rows"], seen["n_shared"] = b.rows, b.group.features.n_shared
        seen["out_after"] = _battery_out(b.group, seen["inputs"])
        return seen["stats"]

    monkeypatch.setattr(Team, "imitate", imitate)
    calls = []
    monkeypatch.setattr(Team, "end_episode", lambda self, real_end=Team.end_episode: calls.append(1) or real_end(self))
    run = train(small_p2p, out=tmp_path / "run", hp=hp, seed=0, eval_every=3, progress=False)
    assert len(calls) == 3 and seen["steps"] == 1000 and set(seen["stats"]) == {"pv-battery_imitation_loss"}

    # the rule's battery in the first two days: self-consumption, from the stored load and PV (kW / 5) and the
    # battery's power: a = clip((pv - load) / P, -1, 1), stored in [0, 1] units as (a + 1) / 2 (requested = played)
    from runs.training import make_model

    design = make_model(small_p2p, "rule", 0).design
    power = design.params.bat_power_kw[seen["rows"]]
    x = seen["inputs"].numpy()
    load, pv = 5.0 * x[..., seen["n_shared"]], 5.0 * x[..., seen["n_shared"] + 1]
    rule = np.clip((pv - load) / power, -1.0, 1.0)
    np.testing.assert_allclose(seen["stored"], (rule + 1.0) / 2.0, atol=1e-5)
    assert (np.abs(rule) == 1.0).mean() < 0.9 and (rule > 0.1).any() and (rule < -0.1).any()  # it charges and discharges

    # the pv-battery actors now play (close to) the rule on those hours; the other clusters' actors are untouched
    target = np.clip(seen["stored"], 0.02, 0.98)
    before, after = np.abs(seen["out_before"] - target).mean(), np.abs(seen["out_after"] - target).mean()
    assert after < 0.1 and after < 0.4 * before, (before, after)
    for name in ("pv-ev", "heat-pump"):
        for k, v in seen["before"][name].items():
            assert torch.equal(v, seen["after"][name][k]), (name, k)
    assert any(not torch.equal(v, seen["after"]["pv-battery"][k]) for k, v in seen["before"]["pv-battery"].items())
    for k, v in seen["after"]["pv-battery"].items():  # the target actor starts as the fitted actor
        assert torch.equal(seen["target"][k], v), k
    assert run.market_hours == 3 * H


def test_a_run_no_longer_than_its_rule_start_plays_the_rule_throughout_and_fits_after_its_last_episode(
        _hp, small_p2p, tmp_path, monkeypatch):
    fitted = []
    real = Team.imitate
    monkeypatch.setattr(Team, "imitate", lambda self, names, steps: fitted.append(len(fitted)) or real(self, names, steps))
    stored = {}

    def look(episode, learner):
        b = next(s for s in learner.slots if s.name == "pv-battery")
        stored[episode] = (b.group.buffer.act[:episode * H, :, 0].copy(), len(fitted))

    hp = _hp(small_p2p, rule_start_actions="battery", rule_start_episodes=100, episodes=2)
    train(small_p2p, out=tmp_path / "run", hp=hp, seed=0, eval_every=2, progress=False, callback=look)
    assert stored[1][1] == 0 and stored[2][1] == 1  # one fit, after the last episode
    plain = _hp(small_p2p, episodes=2)
    stored_rule = stored[2][0]
    stored.clear()
    fitted.clear()
    train(small_p2p, out=tmp_path / "plain", hp=plain, seed=0, eval_every=2, progress=False, callback=look)
    assert not fitted and not np.array_equal(stored[2][0], stored_rule)  # the rule, not the learner, played the battery


def test_a_component_written_with_a_value_starts_at_that_constant_and_its_actors_are_fitted_to_it(_hp, small_p2p,
                                                                                                  tmp_path):
    stored = {}

    def look(episode, learner):  # after each day: the buffers' stored actions and the actors' outputs on them
        for s in learner.slots:
            g = s.group
            inputs = torch.from_numpy(g.buffer.obs[:episode * H].copy())
            with torch.no_grad():
                out = g.policy(g.actor, inputs.reshape(1, -1, inputs.shape[-1]))[0].numpy()
            stored[episode, s.name] = (g.buffer.act[:episode * H].copy(), out.reshape(*inputs.shape[:2], -1))

    # stored as requested (a set-point heat pump's executed action is the set point its new temperature equals, which
    # above the floor is the house's temperature, not the floor asked for)
    hp = _hp(small_p2p, rule_start_actions="battery,heat_pump=0", rule_start_episodes=2,
             requested_actions="battery,heat_pump")
    train(small_p2p, out=tmp_path / "run", hp=hp, seed=0, eval_every=3, progress=False, callback=look)
    hp_act, hp_out = stored[2, "heat-pump"]
    assert hp_act.shape[-1] == 1 and np.all(hp_act == 0.0)  # the heat pumps' set point at the floor in the rule's days
    assert stored[1, "heat-pump"][1].mean() > 0.2  # the actor before the fit (it acts around 0.5)
    assert hp_out.max() < 0.05  # fitted: the floor on every stored hour
    later, _ = stored[3, "heat-pump"]
    assert later[2 * H:].std() > 0  # the third day the learner plays them, exploring
    # the batteries still play the rule: the same stored actions as with the battery's rule start alone
    battery = _hp(small_p2p, rule_start_actions="battery", rule_start_episodes=2, requested_actions="battery,heat_pump")
    plain = dict(stored)
    train(small_p2p, out=tmp_path / "battery", hp=battery, seed=0, eval_every=3, progress=False, callback=look)
    np.testing.assert_array_equal(plain[2, "pv-battery"][0], stored[2, "pv-battery"][0])
    assert not np.all(stored[2, "heat-pump"][0] == 0.0)  # there the learner played the heat pumps
    with pytest.raises(ValueError, match=r"rule_start_actions heat_pump=2: outside the heat_pump action's range \[0, 1\]"):
        train(small_p2p, out=tmp_path / "bad", hp=_hp(small_p2p, rule_start_actions="heat_pump=2", rule_start_episodes=2),
              seed=0, progress=False)
    assert not (tmp_path / "bad").exists()
    with pytest.raises(ValueError, match="gives heat_pump the constant 'warm', which is not a finite number"):
        HyperParams(rule_start_actions="battery,heat_pump=warm", rule_start_episodes=2)
    with pytest.raises(ValueError, match="names an action twice"):
        HyperParams(rule_start_actions="battery,battery=0", rule_start_episodes=2)


def test_a_run_with_a_rule_start_resumes_to_the_same_numbers(_hp, small_p2p, tmp_path):
    hp = _hp(small_p2p, rule_start_actions="battery", rule_start_episodes=2, episodes=4)
    kw = dict(seed=1, eval_every=2, checkpoint_every=1, progress=False, hp=hp)
    whole = train(small_p2p, out=tmp_path / "whole", **kw)
    # killed after day 1's checkpoint: the rule's last day and the fit come after
    resumed = assert_resumes_to_same_bytes(small_p2p, tmp_path / "whole", tmp_path / "resumed", 1, **kw)
    plain = train(small_p2p, out=tmp_path / "plain", **(kw | {"hp": dataclasses.replace(hp, rule_start_actions="",
                                                                                    rule_start_episodes=0)}))
    assert not plain.curve.equals(whole.curve) and len(resumed.curve) == len(whole.curve)


def test_the_rule_start_settings_are_checked_before_the_run_folder_is_touched(_hp, small_p2p, tmp_path):
    with pytest.raises(ValueError, match="rule_start_episodes = 0 must be >= 0, and > 0 exactly when rule_start_actions"):
        HyperParams(rule_start_actions="battery")
    with pytest.raises(ValueError, match="rule_start_episodes = 5 must be >= 0, and > 0 exactly when"):
        HyperParams(rule_start_episodes=5)
    with pytest.raises(ValueError, match="rule_start_episodes = -1 must be >= 0"):
        HyperParams(rule_start_actions="battery", rule_start_episodes=-1)
    with pytest.raises(ValueError, match=r"rule_start_actions \['batery'\]: not actions of the p2p design \(it has "
                                         r"\['battery', 'ev', 'heat_pump'\]\)"):
        hp = _hp(small_p2p, rule_start_actions="batery", rule_start_episodes=1)
        train(small_p2p, out=tmp_path / "a", hp=hp, progress=False)
    mixed = dataclasses.replace(design_hyperparams("one-arb"), mixed_levels=3, rule_start_actions="up_eur_mwh",
                                rule_start_episodes=1, episodes=2)
    with pytest.raises(ValueError, match="rule_start_actions: the hmaddpg learner cannot start from the rule: its "
                                         "secondary actors play mixed strategies"):
        train("one-arb", out=tmp_path / "b", hp=mixed, progress=False)
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_one_set_turns_the_design_s_rule_start_off_with_the_hold_and_the_anchor_that_need_it():
    design = design_hyperparams("p2p-mmr")
    assert design.rule_start_episodes > 0 and design.rule_start_critic_episodes > 0 and design.rule_anchor_weight > 0
    off = dataclasses.replace(design, rule_start_actions="", rule_start_episodes=0, rule_start_critic_episodes=0,
                              rule_anchor_weight=0.0)
    assert design.with_overrides(["rule_start=off"]) == off
    assert design.with_overrides([" rule_start = OFF "]) == off
    # applied where it stands: a later setting builds on it (a rule start of its own, without the hold and anchor)
    again = design.with_overrides(["rule_start=off", "rule_start_actions=battery", "rule_start_episodes=50"])
    assert again == dataclasses.replace(off, rule_start_actions="battery", rule_start_episodes=50)
    with pytest.raises(ValueError, match=r"--set 'rule_start=on': rule_start is a shorthand that takes off"):
        design.with_overrides(["rule_start=on"])
    # turning off one of the four names the shorthand
    with pytest.raises(ValueError, match=r"`--set rule_start=off` turns it off"):
        design.with_overrides(["rule_start_episodes=0"])
    with pytest.raises(ValueError, match=r"`--set rule_start=off` sets all four"):
        design.with_overrides(["rule_start_actions=", "rule_start_episodes=0"])
    # a study's --set takes it too: its runs train with the four settings off
    profile = resolve_profile("p2p", "quick", ["rule_start=off"])
    assert profile_hyperparams("p2p-mmr", profile) == dataclasses.replace(off, episodes=profile.episodes)


def test_the_fitted_actors_are_held_while_their_critics_learn_and_released_after(_hp, small_p2p, tmp_path):
    """`rule_start_critic_episodes`: after the fit (day 2) the pv-battery actor stays as fitted through days 3 and 4
    while its critic keeps learning, the other clusters' actors learn on; day 5 moves it again; resumed across the
    hold, the run ends with the same numbers."""
    hp = _hp(small_p2p, rule_start_actions="battery", rule_start_episodes=2, rule_start_critic_episodes=2, episodes=5)
    states = {}

    def look(episode, learner):
        states[episode] = {s.name: (_actor_state(s.group), _state(s.group.critic))
                           for s in learner.slots}

    kw = dict(seed=1, eval_every=5, checkpoint_every=1, progress=False, hp=hp)
    train(small_p2p, out=tmp_path / "whole", callback=look, **kw)
    for day in (3, 4):
        assert _same(states[day]["pv-battery"][0], states[2]["pv-battery"][0]), day  # held as fitted
        assert not _same(states[day]["pv-battery"][1], states[day - 1]["pv-battery"][1]), day  # its critic learns
        assert not _same(states[day]["pv-ev"][0], states[day - 1]["pv-ev"][0]), day  # the others' actors learn
    assert not _same(states[5]["pv-battery"][0], states[4]["pv-battery"][0])  # released

    # killed after day 3's checkpoint, inside the hold: day 4 is held, 5 not
    assert_resumes_to_same_bytes(small_p2p, tmp_path / "whole", tmp_path / "resumed", 3, **kw)
    with pytest.raises(ValueError, match="rule_start_critic_episodes = 3 must be >= 0, and > 0 only with a rule start"):
        HyperParams(rule_start_critic_episodes=3)


def test_the_anchored_actors_keep_their_fit_to_the_rule_as_a_frozen_anchor_and_resume_with_it(_hp, small_p2p, tmp_path):
    """`rule_anchor_weight`: after the fit (day 2) the pv-battery slot keeps a frozen copy of its fitted actor, its
    battery component marked; the other clusters, which play no battery, get none; the actor moves away while the
    anchor stays; a run resumed after the fit ends with the same numbers, and the anchor changes what is learned."""
    hp = _hp(small_p2p, rule_start_actions="battery", rule_start_episodes=2, rule_anchor_weight=5.0, episodes=4)
    seen = {}

    def look(episode, learner):
        seen[episode] = {s.name: (_actor_state(s.group), None if s.group.anchor_actor is None
                                  else (_state(s.group.anchor_actor), s.group.anchor_mask.clone())) for s in learner.slots}

    kw = dict(seed=1, eval_every=4, checkpoint_every=1, progress=False, hp=hp)
    train(small_p2p, out=tmp_path / "whole", callback=look, **kw)
    assert all(anchor is None for _, anchor in seen[1].values())  # the rule still plays
    assert seen[2]["pv-ev"][1] is None and seen[2]["heat-pump"][1] is None
    actor2, (anchor2, mask) = seen[2]["pv-battery"]
    assert _same(anchor2, actor2) and mask.tolist() == [1.0]  # the fitted actor; its one action, the battery
    actor4, (anchor4, _) = seen[4]["pv-battery"]
    assert _same(anchor4, anchor2) and not _same(actor4, actor2)  # frozen while the actor learns

    # killed after day 3's checkpoint, past the fit: the resumed day 4 learns with the anchor it holds
    assert_resumes_to_same_bytes(small_p2p, tmp_path / "whole", tmp_path / "resumed", 3, **kw)
    train(small_p2p, out=tmp_path / "free", **(kw | {"hp": dataclasses.replace(hp, rule_anchor_weight=0.0)}))
    assert (tmp_path / "whole" / "policy.pt").read_bytes() != (tmp_path / "free" / "policy.pt").read_bytes()
    with pytest.raises(ValueError, match="rule_anchor_weight = 1.0 must be >= 0, and > 0 only with a rule start"):
        HyperParams(rule_anchor_weight=1.0)
    with pytest.raises(ValueError, match="rule_anchor_weight = -1.0 must be >= 0"):
        HyperParams(rule_start_actions="battery", rule_start_episodes=2, rule_anchor_weight=-1.0)


@pytest.mark.parametrize("kind, sigmoid", [("shared", True), ("unshared", False), ("joint", True), ("joint", False)])
def test_the_anchor_adds_its_weight_times_the_fitted_components_squared_distance_to_the_actor_loss(kind, sigmoid):
    """Every group kind's actor loss gains exactly weight * (action - anchor action)^2 on the fitted component (0 of
    2), averaged over the batch and summed over networks, on the actor inputs of the update's batch; the other
    component is free. Checked by hand from the inputs the anchor was asked about, sigmoid and inverted-gradient
    actors alike (inverted gradients compare the raw output z + 0.5)."""
    from agents.learning.features import Features
    from agents.learning.groups import JointGroup, MemberGroup
    from tests.learning_helpers import FEATURES, fill_group

    weight, n = 3.0, 3
    hp = HyperParams(hidden_sizes=(8,), batch_size=16, buffer_size=200, gamma=0.9, rule_start_actions="a",
                     rule_start_episodes=1, rule_anchor_weight=weight)
    gen = torch.Generator().manual_seed(0)
    group = (JointGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), gen, sigmoid) if kind == "joint" else
             MemberGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), gen, sigmoid=sigmoid, share=kind == "shared",
                         info_dim=1))
    fill_group(group, 60, 24)
    group.imitate([0], 5, np.random.default_rng(3))
    assert group.anchor_mask.tolist() == [1.0, 0.0]
    with torch.no_grad():
        for p in group.actor.parameters():  # the actor moved off its fit
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
    asked, fns = [], []
    real_anchor = group._anchor
    group._anchor = lambda inputs: (asked.append(inputs), real_anchor(inputs))[1]
    group._step = lambda critic_loss, actor_loss_fn: fns.append(actor_loss_fn)
    group.update(np.random.default_rng(7))
    anchored = fns[0]().item()  # (inverted gradients take dQ/da with autograd: not under no_grad)
    inputs = asked[-1]
    group._anchor = lambda inputs: None
    free = fns[0]().item()
    with torch.no_grad():
        squash = (lambda z: torch.sigmoid(z)) if sigmoid else (lambda z: z + 0.5)
        distance = squash(group.actor.logits(inputs)) - squash(group.anchor_actor.logits(inputs))
        by_hand = weight * distance[..., 0].square().mean(1).sum().item()
    assert inputs.shape == ((1 if kind == "shared" else n), 16, group.features.actor_dim)
    assert by_hand > 1e-3 and anchored - free == pytest.approx(by_hand, rel=1e-4)
