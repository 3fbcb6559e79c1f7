"""The Stackelberg leader's counterfactual hours (`--learner-config leader_counterfactuals=M`, `Team.counterfactuals`
on the leader's slot): each stored variant is what the model does when the leader posts that action and the
followers' policies answer it; the real hour is left as it was; the variants pause while a rule start plays the
leader's prices; a run with them resumes to the same bytes; a far-sighted leader is refused by name. Variants of
some components only (`leader_counterfactual_actions`): the day-ahead position alone, which the followers do not see,
replays their actions as played (also their exploration noise) and is what the model pays for that position; the
simultaneous move's followers, who see the last hour's prices, are replayed whatever the leader posts."""

import dataclasses

import numpy as np
import pytest

from agents.learning.hyperparams import HyperParams
from model import dataset
from runs.training import design_hyperparams, make_model, store_hour, train
from tests.learning_helpers import assert_resumes_to_same_bytes, play_to

WEEK = "test:2"
HP = HyperParams.from_dict(design_hyperparams("stackelberg").to_dict() | {"hidden_sizes": [8], "batch_size": 32})


POSITION = "da_position_share_from_forecast"


def _learner(m=3, hp=HP, scenario="stackelberg", **config):
    """A learner whose leader stores `m` variants an hour, drawing every action (unless `config` names some)."""
    design = make_model(scenario, "rule", 0).design
    return design.default_learner(hp, 0, "cpu", {"leader_counterfactuals": m, "leader_counterfactual_actions": [], **config})


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
    plain = train("stackelberg-small", out=tmp_path / "plain", learner_config={"leader_counterfactuals": 0}, **kw)
    assert not plain.curve.equals(whole.curve) and len(resumed.curve) == len(whole.curve)


def _variants(learner, model, hour):
    stored = []
    remember = learner._remember_slot
    learner._remember_slot = lambda slot, h, last: stored.append((slot.name, h)) or remember(slot, h, last)
    learner.counterfactuals(model, hour)
    learner._remember_slot = remember
    return stored


@pytest.mark.parametrize("hour_of_day", [12, 19])
def test_a_position_variant_replays_the_followers_as_played_and_pays_what_the_model_pays(hour_of_day):
    learner = _learner(m=3, leader_counterfactual_actions=[POSITION])
    model = make_model("stackelberg", learner, 0)
    play_to(model, hour_of_day - 1, WEEK)
    learner.explore = True  # exploring followers this hour: asked again, they would draw new noise
    model.step()
    hour = model.hour_result
    stored = _variants(learner, model, hour)
    assert [name for name, _ in stored] == ["leader"] * 3
    played = hour.actions["retail"][0]
    positions = set()
    for _, variant in stored:
        raw = variant.actions["retail"][0]
        assert raw[:2].tobytes() == played[:2].tobytes() and raw[2] != played[2]  # the prices as played
        positions.add(variant.retail.da_position_kw)
        np.testing.assert_array_equal(variant.actions["auction"], hour.actions["auction"])  # replayed, noise and all
        np.testing.assert_array_equal(variant.rewards["follower"], hour.rewards["follower"])
        assert variant.auction.residual_kw == hour.auction.residual_kw
        # the model's own hour with the leader posting that action, the followers playing what they played
        learner.explore = False
        pinned = make_model("stackelberg", _Replaying(_PinnedLeader(learner, raw, hour_of_day), hour, hour_of_day), 0)
        reference = play_to(pinned, hour_of_day, WEEK)
        learner.explore = True
        np.testing.assert_array_equal(variant.rewards["leader"], reference.rewards["leader"])
    assert len(positions) == 3 and hour.retail.da_position_kw not in positions
    # another position pays otherwise (hour 19: long positions all pay the day-ahead price, imbalance long = day-ahead)
    assert {v.rewards["leader"][0] for _, v in stored} - {hour.rewards["leader"][0]}


def test_a_position_variant_settles_again_what_clearing_the_hour_again_gives():
    """The design's shortcut for a position alone (the played auction settled with the new position) against the
    generic replay (devices and auction cleared again from the hour's start, the followers replayed)."""
    from model.designs.household_base import HouseholdDesign

    learner = _learner(m=3)
    learner.explore = True
    model = make_model("stackelberg", learner, 0)
    hour = play_to(model, 17, WEEK)
    design = model.design
    for share in (-1.0, -0.3, 0.4, 1.0):
        actions = np.array(hour.actions["retail"], dtype=float)
        actions[0, 2] = share
        fast = design.counterfactual_hour(model, hour, "retail", actions)
        full = HouseholdDesign.counterfactual_hour(design, model, hour, "retail", actions)
        assert fast.retail == full.retail and fast.retail.da_position_kw != hour.retail.da_position_kw
        for name in fast.auction._fields:
            a, b = getattr(fast.auction, name), getattr(full.auction, name)
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b, err_msg=name)
            elif name not in ("step", "auction", "residual"):  # records of the played hour (the full one's equal)
                assert a == b, name
        for role in ("leader", "follower"):
            np.testing.assert_array_equal(fast.rewards[role], full.rewards[role])
        for stage in ("retail", "auction"):
            np.testing.assert_array_equal(fast.actions[stage], full.actions[stage])
            np.testing.assert_array_equal(fast.observations[stage], full.observations[stage])
    # prices that move take the full replay (the followers see them)
    actions = np.array(hour.actions["retail"], dtype=float)
    actions[0, 0] = 0.5 * (actions[0, 0] + 1.0)
    moved = design.counterfactual_hour(model, hour, "retail", actions)
    assert moved.auction.step is not hour.auction.step


def test_training_with_the_shortcut_is_training_with_the_full_replay(small_hp, tmp_path, monkeypatch):
    from model.designs.household_base import HouseholdDesign
    from model.designs.stackelberg import StackelbergDesign

    hp = small_hp("stackelberg-small", episodes=3, selection_weeks="eval:1", rule_start_episodes=1,
                  rule_start_critic_episodes=1)
    kw = dict(seed=2, eval_every=3, progress=False, hp=hp)
    train("stackelberg-small", out=tmp_path / "fast", **kw)
    monkeypatch.setattr(StackelbergDesign, "counterfactual_hour", HouseholdDesign.counterfactual_hour)
    train("stackelberg-small", out=tmp_path / "full", **kw)
    for name in ("policy.pt", "train_curve.csv"):
        assert (tmp_path / "fast" / name).read_bytes() == (tmp_path / "full" / name).read_bytes(), name


class _Replaying:
    """`policy`, except the followers playing `hour`'s actions at its hour of the day."""

    def __init__(self, policy, hour, hour_of_day):
        self.policy, self.hour, self.hour_of_day = policy, hour, hour_of_day

    def act(self, stage, obs, rows):
        if stage == "auction" and int(obs[0, 0]) % 24 == self.hour_of_day:
            return self.hour.actions["auction"][rows]
        return self.policy.act(stage, obs, rows)


def test_the_simultaneous_moves_followers_are_replayed_whatever_the_leader_posts():
    learner = _learner(m=3, scenario="stackelberg-simultaneous", variant="simultaneous")
    learner.explore = True
    model = make_model("stackelberg-simultaneous", learner, 0)
    hour = play_to(model, 15, WEEK)
    stored = _variants(learner, model, hour)
    for _, variant in stored:  # new prices, which these followers see only next hour (fails if the last retail
        # prices were not cleared from the hour's start: they would see this hour's and be asked again)
        assert variant.retail.buy_eur_mwh != hour.retail.buy_eur_mwh
        np.testing.assert_array_equal(variant.actions["auction"], hour.actions["auction"])
    # in the Stackelberg move they see the posted prices, so they answer anew
    learner = _learner(m=3)
    learner.explore = True
    model = make_model("stackelberg", learner, 0)
    hour = play_to(model, 15, WEEK)
    assert all(not np.array_equal(v.actions["auction"], hour.actions["auction"]) for _, v in _variants(learner, model, hour))


def test_position_variants_go_on_while_a_rule_plays_the_leaders_prices():
    learner = _learner(m=2, leader_counterfactual_actions=[POSITION])
    learner.rule_start_playing = True
    assert learner._counterfactual_count(learner.slots[0]) == 2 and learner.stores_counterfactuals
    prices = _learner(m=2, leader_counterfactual_actions=["sell_price_share", POSITION])
    prices.rule_start_playing = True
    assert prices._counterfactual_count(prices.slots[0]) == 0


def test_by_default_a_myopic_leader_stores_four_position_variants_an_hour_and_a_far_sighted_one_none():
    design = make_model("stackelberg", "rule", 0).design
    for variant in ("stackelberg", "simultaneous"):
        leader = design.default_learner(HP, 0, "cpu", {"variant": variant}).slots[0]
        assert (leader.counterfactual, leader.counterfactual_samples, leader.counterfactual_actions) == (True, 4, (POSITION,))
    for config in ({"leader_gamma": 0.95}, {"leader_gamma": None}, {"leader_counterfactuals": 0}):
        assert not design.default_learner(HP, 0, "cpu", config).slots[0].counterfactual
    every = design.default_learner(HP, 0, "cpu", {"leader_counterfactuals": 2, "leader_counterfactual_actions": []})
    assert every.slots[0].counterfactual_samples == 2 and every.slots[0].counterfactual_actions == ()


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
    with pytest.raises(ValueError, match=r"\['price'\] not among the leader's actions"):
        design_learner_config("stackelberg", ["leader_counterfactual_actions=price"])
    assert design_learner_config("stackelberg", [f"leader_counterfactual_actions={POSITION}"]) == {
        "leader_counterfactual_actions": [POSITION]}
    assert design_learner_config("stackelberg", ["leader_counterfactual_actions=all"]) == {
        "leader_counterfactual_actions": []}
    with pytest.raises(ValueError, match="but there are none \\(leader_counterfactuals=0\\)"):
        _learner(m=0, leader_counterfactual_actions=[POSITION])
    with pytest.raises(ValueError, match=r"leader: counterfactual actions \['battery'\] are not among its actions"):
        _learner(m=2, leader_counterfactual_actions=["battery"])
