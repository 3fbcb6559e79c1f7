"""The Stackelberg leader's counterfactual hours (`--learner-config leader_counterfactuals=M`, `Team.counterfactuals`
on the leader's slot): each stored variant is what the model does when the leader posts that action and the
followers' policies answer it; the real hour is left as it was; the variants pause while a rule start plays the
leader's prices; a run with them resumes to the same bytes; a far-sighted leader is refused by name."""

import dataclasses

import numpy as np
import pytest

from agents.learning.hyperparams import HyperParams
from model import dataset
from runs.training import design_hyperparams, make_model, store_hour, train
from tests.learning_helpers import assert_resumes_to_same_bytes, play_to

WEEK = "test:2"
HP = HyperParams.from_dict(design_hyperparams("stackelberg").to_dict() | {"hidden_sizes": [8], "batch_size": 32})


def _learner(m=3, hp=HP, **config):
    design = make_model("stackelberg", "rule", 0).design
    return design.default_learner(hp, 0, "cpu", {"leader_counterfactuals": m, **config})


class _PinnedLeader:
    """The learner's actions, except the leader posting `raw` at `hour_of_day`."""

    def __init__(self, learner, raw, hour_of_day):
        self.learner, self.raw, self.hour_of_day = learner, raw, hour_of_day

    def act(self, stage, obs, rows):
        if stage == "retail" and int(obs[0, 0]) % 24 == self.hour_of_day:
            return np.array([self.raw])
        return self.learner.act(stage, obs, rows)


@pytest.mark.parametrize("hour_of_day", [12, 19])
def test_a_leader_variant_is_what_the_model_does_when_the_leader_posts_it(hour_of_day):
    learner = _learner()
    learner.explore = False  # the followers answer deterministically, here as in the reference
    model = make_model("stackelberg", learner, 0)
    hour = play_to(model, hour_of_day, WEEK)
    state = model.design.state
    stored = []  # the leader's variants, as the learner stores them
    remember = learner._remember_slot
    learner._remember_slot = lambda slot, h, last: stored.append((slot.name, h)) or remember(slot, h, last)
    learner.counterfactuals(model, hour)
    assert [name for name, _ in stored] == ["leader"] * 3  # the followers store none of these
    assert model.design.state is state  # the real hour's devices are as they were
    played = hour.actions["retail"][0]
    for _, variant in stored:
        raw = variant.actions["retail"][0]
        assert not np.allclose(raw, played)
        ref = make_model("stackelberg", _PinnedLeader(learner, raw, hour_of_day), 0)
        pinned = play_to(ref, hour_of_day, WEEK)
        for role in ("leader", "follower"):  # the leader's profit and every follower's, exactly
            np.testing.assert_array_equal(variant.rewards[role], pinned.rewards[role])
        np.testing.assert_array_equal(variant.actions["auction"], pinned.actions["auction"])  # the followers answered
        np.testing.assert_array_equal(variant.observations["retail"], hour.observations["retail"])  # the leader's hour
    answers = {v.actions["auction"][:, -1].tobytes() for _, v in stored}
    assert len(answers) == 3  # the followers' limit prices answer the posted prices (observed before they act)


def test_the_leader_stores_m_variants_an_hour_and_none_while_a_rule_plays_its_prices():
    learner = _learner(m=2)
    learner.explore = True
    model = make_model("stackelberg", learner, 0)
    model.design.cold_start()
    model.reset_episode(dataset.resolve_week(WEEK)[0], 0, 24)
    leader = learner.slots[0]
    follower = learner.slots[1]
    assert HP.counterfactual_households == 2 and "sell_price_share" in HP.rule_start_action_names
    for t in range(6):
        learner.rule_start_playing = t >= 3  # the rule start's days: its prices are the rule's, fitted later
        model.step()
        store_hour(learner, model, model.hour_result, last=False)
    assert leader.group.buffer.size == 3 * 3 + 3 and follower.group.buffer.size == 6
    stored = leader.group.buffer.act[:12]
    assert len({row.tobytes() for row in stored[:9]}) == 9  # real hours and their variants
    # a rule start that does not play the leader's prices does not pause them
    heat_pumps_only = dataclasses.replace(HP, rule_start_actions="heat_pump=0", rule_anchor_weight=0.0)
    other = _learner(m=2, hp=heat_pumps_only)
    other.rule_start_playing = True
    assert other.stores_counterfactuals and other._counterfactual_count(other.slots[0]) == 2
    assert not _learner(m=0).stores_counterfactuals


def test_a_run_with_leader_variants_resumes_to_the_same_bytes_and_differs_from_one_without(small_hp, tmp_path):
    hp = small_hp("stackelberg-small", episodes=4, selection_weeks="eval:1", rule_start_episodes=1,
                  rule_start_critic_episodes=1)
    kw = dict(seed=1, eval_every=2, checkpoint_every=1, progress=False, hp=hp)
    whole = train("stackelberg-small", out=tmp_path / "whole", learner_config={"leader_counterfactuals": 2}, **kw)
    resumed = assert_resumes_to_same_bytes("stackelberg-small", tmp_path / "whole", tmp_path / "resumed", 2,
                                           learner_config={"leader_counterfactuals": 2}, **kw)
    plain = train("stackelberg-small", out=tmp_path / "plain", **kw)
    assert not plain.curve.equals(whole.curve) and len(resumed.curve) == len(whole.curve)


def test_refusals_name_the_problem(tmp_path):
    with pytest.raises(ValueError, match="leader_counterfactuals=2: the leader's counterfactual hours need a myopic leader "
                                         r"\(leader_gamma=0; it is 0.5\)"):
        _learner(m=2, leader_gamma=0.5)
    from runs.training import design_learner_config

    with pytest.raises(ValueError, match="'two' is not a whole number of variants per hour"):
        design_learner_config("stackelberg", ["leader_counterfactuals=two"])
    assert design_learner_config("stackelberg", ["leader_counterfactuals=4"]) == {"leader_counterfactuals": 4}
    with pytest.raises(ValueError, match="need a myopic leader"):
        train("stackelberg-small", seed=0, out=tmp_path / "far", progress=False, hp=dataclasses.replace(HP, episodes=1),
              learner_config={"leader_counterfactuals": 2, "leader_gamma": 0.9})
    assert not (tmp_path / "far").exists()
