"""The learners' parts beyond HMADDPG: groups that share parameters across many members, critics fed
the collective information, teams that split a role's rows and action components between groups."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agents.learning.features import Features
from agents.learning.groups import MemberGroup
from agents.learning.hyperparams import HyperParams
from agents.learning.team import RoleSpec, Slot, Team
from model.spaces import SHARED, ActionSpec, Feature
from tests.learning_helpers import FEATURES, fill_group

torch.set_num_threads(1)
ACTIONS = ActionSpec(("a", "b", "c"), (-1.0, 0.0, 0.0), (1.0, 1.0, 1.0))


def _hour(obs, act, rew, info):
    return SimpleNamespace(observations={"s": obs}, actions={"s": act}, rewards={"r": rew},
                           records={"s": SimpleNamespace(collective=info)})


@pytest.mark.parametrize("critic", ["collective", "own"])
def test_a_shared_group_learns_each_members_best_response_from_its_own_features(critic):
    """Forty members share one actor and one critic; member i's reward is -(a - target_i)^2, so the one
    shared network must map each member's own feature to its own best action."""
    n = 40
    hp = HyperParams(hidden_sizes=(32, 32), lr_actor=3e-3, lr_critic=3e-3, batch_size=128, gamma=0.0,
                     reward_scale=1.0, buffer_size=20_000, tau=0.05, noise_sigma0=0.3, noise_sigma_final=0.05, episodes=400)
    role = RoleSpec("r", "s", n, FEATURES, ACTIONS.subset([1]), collective=(Feature("mean_action", SHARED),))
    group = MemberGroup(n, Features(FEATURES), 1, hp, torch.device("cpu"), torch.Generator().manual_seed(0), sigmoid=False,
                        share=True, critic=critic, info_dim=1)
    team = Team([Slot("g", role, group, updates=4)], hp, seed=0)
    target = np.linspace(0.1, 0.9, n)
    rng = np.random.default_rng(0)
    obs = np.column_stack([np.full(n, 5.0), np.full(n, 40.0), target])
    team.explore = True
    for _ in range(hp.episodes):
        act = team.act("s", obs, np.arange(n))
        team.remember(_hour(obs, act, -((act[:, 0] - target) ** 2) * 100, np.array([act.mean()])), last=True)
        team.end_episode()
        obs[:, 1] = rng.uniform(20, 60)  # a shared feature that does not matter
    team.explore = False
    learned = team.act("s", obs, np.arange(n))[:, 0]
    assert np.abs(learned - target).max() < 0.08  # every member near its own best response
    assert group.actor.layers[0].weight.shape[0] == 1  # one network, not forty


def test_an_unshared_group_keeps_one_network_per_member_and_acts_in_one_call():
    n = 5
    hp = HyperParams(hidden_sizes=(8,), batch_size=4, buffer_size=64)
    group = MemberGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0), share=False,
                        critic="collective", info_dim=3)
    assert group.actor.layers[0].weight.shape == (n, 6, 8) and group.critic.layers[0].weight.shape == (n, 6 + 2 + 3, 8)
    obs = np.column_stack([np.zeros(n), np.ones(n), np.arange(n)])
    a = group.act(group.inputs(obs, np.arange(n)))
    with torch.no_grad():  # the numpy forward equals each member's own torch network
        ref = group.policy(group.actor, torch.from_numpy(Features(FEATURES).member_inputs(obs))[:, None, :])[:, 0].numpy()
    np.testing.assert_allclose(a, ref, rtol=1e-5, atol=1e-6)
    for _ in range(6):
        group.remember(obs, np.full((n, 2), 0.5), np.ones(n), np.zeros(3), done=False)
    assert group.update(np.random.default_rng(0))["critic_loss"] >= 0


def test_a_team_splits_rows_and_action_components_between_groups_and_leaves_the_rest_at_zero():
    hp = HyperParams(hidden_sizes=(4,), batch_size=4, buffer_size=64)
    role = RoleSpec("r", "s", 5, FEATURES, ACTIONS)
    make = lambda k, comps: MemberGroup(k, Features(FEATURES), len(comps), hp, torch.device("cpu"), share=True,  # noqa: E731
                                        critic="own")
    team = Team([Slot("x", role, make(2, [0]), rows=[0, 3], components=(0,)),
                 Slot("y", role, make(2, [1, 2]), rows=[1, 2], components=(1, 2))], hp)
    obs = np.column_stack([np.zeros(5), np.ones(5), np.arange(5.0)])
    out = team.act("s", obs, np.arange(5))
    assert out.shape == (5, 3)
    assert (out[[0, 3]][:, [1, 2]] == 0).all() and (out[[1, 2], 0] == 0).all() and (out[4] == 0).all()  # row 4: nobody's
    assert (-1 <= out[[0, 3], 0]).all() and (out[[1, 2]][:, [1, 2]] >= 0).all()
    # a subset of rows (another policy plays the rest) gets the same actions as acting for all
    np.testing.assert_allclose(team.act("s", obs[[3, 1]], np.array([3, 1])), out[[3, 1]])
    # stored: each group its own rows and components, the executed actions where the stage records them
    executed = np.tile([[0.2, 0.4, 0.6]], (5, 1))
    hour = SimpleNamespace(observations={"s": obs}, actions={"s": out}, rewards={"r": np.arange(5.0)},
                           records={"s": SimpleNamespace(executed_actions=executed)})
    team.remember(hour, last=True)
    x, y = team.slots[0].group.buffer, team.slots[1].group.buffer
    np.testing.assert_allclose(x.act[0], [[0.6], [0.6]])  # (0.2 - (-1)) / 2 in [0, 1] units
    np.testing.assert_allclose(y.act[0], [[0.4, 0.6], [0.4, 0.6]])
    np.testing.assert_allclose(x.rew[0], [0.0, 3.0])


TWO_SLOT_OBS = np.column_stack([np.zeros(4), np.ones(4), np.arange(4.0)])


def _two_slot_team(**x_options) -> Team:
    """A team of two parameter-shared slots on one role of 4 agents: "x" (rows 0, 1; component 0; built with
    `x_options`, e.g. noise_scale=3) and "y" (rows 2, 3; components 1, 2), sigma 0.01 (small: an exploring action stays
    within 0.05 of its deterministic one and reaches no bound)."""
    hp = HyperParams(hidden_sizes=(4,), batch_size=4, buffer_size=64)
    role = RoleSpec("r", "s", 4, FEATURES, ACTIONS)
    make = lambda k, comps: MemberGroup(k, Features(FEATURES), len(comps), hp, torch.device("cpu"),  # noqa: E731
                                        torch.Generator().manual_seed(0), share=True, critic="own")
    team = Team([Slot("x", role, make(2, [0]), rows=[0, 1], components=(0,), **x_options),
                 Slot("y", role, make(2, [1, 2]), rows=[2, 3], components=(1, 2))], hp, seed=0)
    team.sigma = 0.01
    return team


def test_a_slots_noise_scale_multiplies_its_exploration_noise_and_leaves_the_other_slots_alone():
    """`Slot.noise_scale` (the Stackelberg leader's `leader_noise_scale`): with the same draws, a slot at scale 3
    explores exactly 3 times as far from its deterministic action; a slot at 1 explores as before."""
    obs = TWO_SLOT_OBS

    def exploring(scale):
        team = _two_slot_team(noise_scale=scale)
        greedy = team.act("s", obs, np.arange(4))
        team.explore = True
        return team.act("s", obs, np.arange(4)) - greedy

    one, three = exploring(1.0), exploring(3.0)
    assert np.abs(one[[0, 1], 0]).min() > 0  # it explores
    np.testing.assert_allclose(three[[0, 1], 0], 3 * one[[0, 1], 0], rtol=1e-6)
    np.testing.assert_array_equal(three[[2, 3]], one[[2, 3]])  # the other slot: the same noise as before


def test_a_slots_random_days_play_uniform_actions_when_exploring_and_only_on_the_days_drawn():
    """`Slot.random_day_share` (the Stackelberg leader's `leader_random_days`): `Team.begin_episode` draws each day
    whether the slot plays uniformly random actions; on such a day, exploring, its actions are spread over the whole
    of their bounds (not near its deterministic action); greedy play (evaluation) and the other slot are untouched; a
    share of 0 draws nothing from the team's random stream, 1 makes every day random."""
    obs = TWO_SLOT_OBS
    team = lambda share: _two_slot_team(random_day_share=share)  # noqa: E731

    off, always = team(0.0), team(1.0)
    off.begin_episode()
    assert off.rng.bit_generator.state == team(0.0).rng.bit_generator.state  # nothing drawn
    always.begin_episode()
    assert always.slots[0].random_today and not always.slots[1].random_today
    greedy = always.act("s", obs, np.arange(4))
    np.testing.assert_array_equal(greedy, off.act("s", obs, np.arange(4)))  # not exploring: the policy
    always.explore = True
    played = np.array([always.act("s", obs, np.arange(4))[[0, 1], 0] for _ in range(200)]).ravel()
    lo, hi = ACTIONS.low[0], ACTIONS.high[0]
    assert played.min() < lo + 0.1 * (hi - lo) and played.max() > hi - 0.1 * (hi - lo)  # the whole range
    assert abs(np.mean((played - lo) / (hi - lo)) - 0.5) < 0.05  # uniform: its mean the range's middle
    other = always.act("s", obs, np.arange(4))[[2, 3]]
    assert np.abs(other - greedy[[2, 3]]).max() < 0.05 * np.max(np.subtract(ACTIONS.high, ACTIONS.low))
    # a share of a half: about half the days random
    half = team(0.5)
    days = []
    for _ in range(400):
        half.begin_episode()
        days.append(half.slots[0].random_today)
    assert 0.4 < np.mean(days) < 0.6


@pytest.mark.parametrize("gamma, n_step", [(0.0, 1), (0.9, 1), (0.9, 3), (1.0, 1)])
def test_per_agent_batches_give_each_agent_the_loss_of_its_own_draw(gamma, n_step):
    """With `per_agent_batches`, agent n's critic is fitted on a draw of its own: the group's loss is the
    mean over agents of the loss the one-draw update computes for agent n on agent n's indices (with n-step
    returns too: the two paths build them separately)."""
    from agents.learning.groups import JointGroup

    n, B = 3, 16
    hp = HyperParams(hidden_sizes=(8,), batch_size=B, buffer_size=256, gamma=gamma, per_agent_batches=True,
                     n_step=n_step)
    group = JointGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0))
    fill_group(group, 100, 20)
    idx = group.buffer.sample_indices(np.random.default_rng(7), n * B).reshape(n, B)
    expected = []
    with torch.no_grad():
        for agent in range(n):
            x, a, r, discount, x_next = group._batch(idx[agent])
            y = hp.reward_scale * r[agent]
            if gamma:
                a_next = group.policy(group.actor_target, group._own_inputs(x_next)).transpose(0, 1).reshape(B, -1)
                y = y + discount * group.critic_target(group._critic_input(x_next, a_next))[agent, :, 0]
            q = group.critic(group._critic_input(x, a))[agent, :, 0]
            expected.append(torch.nn.functional.smooth_l1_loss(q, y).item())
    before = [p.clone() for p in group.actor.parameters()]
    stats = group.update(np.random.default_rng(7))
    assert stats["critic_loss"] == pytest.approx(np.mean(expected), rel=1e-5)
    assert any(not torch.equal(p, q) for p, q in zip(before, group.actor.parameters()))  # the actors stepped too


def test_learning_rates_decay_to_their_final_factor():
    hp = HyperParams(hidden_sizes=(8,), batch_size=4, buffer_size=64, episodes=10, lr_final_factor=0.1)
    group = MemberGroup(2, Features(FEATURES), 1, hp, torch.device("cpu"), torch.Generator().manual_seed(0))
    for _ in range(10):
        group.decay_learning_rates()
    assert group.actor_opt.param_groups[0]["lr"] == pytest.approx(0.1 * hp.lr_actor)
    assert group.critic_opt.param_groups[0]["lr"] == pytest.approx(0.1 * hp.lr_critic)
    with pytest.raises(ValueError, match="lr_final_factor"):
        HyperParams(lr_final_factor=0.0)
    assert HyperParams().with_overrides(["per_agent_batches=true"]).per_agent_batches is True
    with pytest.raises(ValueError, match="bool"):
        HyperParams().with_overrides(["per_agent_batches=maybe"])


def test_searched_actions_pick_the_critics_best_candidate_and_keep_the_actor_on_ties():
    from agents.learning.groups import searched_actions

    mu = torch.full((2, 5, 1), 0.2)
    peak = lambda c: -(c[..., 0] - 0.9).square()  # noqa: E731  (N, K, B): the best action is 0.9
    target = searched_actions(mu, peak, 64, np.random.default_rng(0))
    assert target.shape == mu.shape and (target - 0.9).abs().max() < 0.05
    flat = lambda c: torch.zeros(c.shape[:3])  # noqa: E731  every candidate equal: the actor's own action stays
    assert torch.equal(searched_actions(mu, flat, 64, np.random.default_rng(0)), mu)


@pytest.mark.parametrize("search", [0, 16])
def test_action_search_leaves_a_local_optimum_the_policy_gradient_keeps(search):
    """A bandit with a local peak at a = 0.2 (reward 0.5) and the global one at a = 0.85 (reward 1).
    The critic is fitted on uniformly random actions; an actor that starts on the local peak stays
    there under the policy gradient alone (the slope between the peaks points back to it) and moves
    to the global peak when each update also pulls toward the critic's best of 16 random actions."""
    from agents.learning.groups import JointGroup

    hp = HyperParams(hidden_sizes=(32, 32), batch_size=64, buffer_size=4096, gamma=0.0, reward_scale=1.0,
                     lr_actor=3e-3, lr_critic=3e-3, tau=0.05, action_search=search)
    group = JointGroup(1, Features(FEATURES), 1, hp, torch.device("cpu"), torch.Generator().manual_seed(0), sigmoid=False)
    with torch.no_grad():  # the actor starts on the local peak: raw output 0.5 + z = 0.2 for every input
        group.actor.layers[-1].weight.zero_()
        group.actor.layers[-1].bias.fill_(-0.3)
    rng = np.random.default_rng(0)
    reward = lambda a: np.exp(-((a - 0.85) / 0.07) ** 2) + 0.5 * np.exp(-((a - 0.2) / 0.1) ** 2)  # noqa: E731
    obs = np.array([[5.0, 40.0, 0.5]])
    for k in range(4096):
        a = rng.uniform(0, 1, (1, 1))
        group.remember(obs, a, reward(a[:, 0]), None, k % 168 == 167)
    group.critic_only = True
    for _ in range(1500):
        group.update(rng)
    group.critic_only = False
    for _ in range(1500):
        group.update(rng)
    learned = float(group.act(group.inputs(obs, np.arange(1)))[0, 0])
    assert abs(learned - (0.85 if search else 0.2)) < 0.05


@pytest.mark.parametrize("kind", ["shared", "unshared", "shared-own-critic", "joint-per-agent"])
def test_action_search_runs_in_every_kind_of_group_and_moves_the_actors(kind):
    """The search's candidate batch has the right shape in every update path (a wrong one raises): shared and
    unshared member groups with and without collective information, and a joint group with per-agent batches."""
    from agents.learning.groups import JointGroup

    n = 4
    hp = HyperParams(hidden_sizes=(8,), batch_size=8, buffer_size=128, gamma=0.5, action_search=5,
                     per_agent_batches=kind == "joint-per-agent")
    gen = torch.Generator().manual_seed(0)
    if kind == "joint-per-agent":
        group = JointGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), gen)
    else:
        own = kind == "shared-own-critic"
        group = MemberGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), gen, share=kind != "unshared",
                            critic="own" if own else "collective", info_dim=0 if own else 3)
    rng = np.random.default_rng(0)
    for k in range(40):
        obs = np.column_stack([np.full(n, k % 168), np.full(n, 40.0), rng.uniform(0, 1, n)])
        group.remember(obs, rng.uniform(0, 1, (n, 2)), rng.normal(0, 100, n), rng.uniform(0, 1, 3), k % 20 == 19)
    before = [p.clone() for p in group.actor.parameters()]
    for _ in range(3):
        group.update(rng)
    assert any(not torch.equal(p, q) for p, q in zip(before, group.actor.parameters()))


@pytest.mark.parametrize("z_max", [0.0, 6.0])
def test_a_saturated_sigmoid_actor_learns_again_only_with_the_saturation_bound(z_max):
    """A bandit whose best action moves: first the reward falls with the action (best a = 0), then it
    rises (best a = 1), as the value of withholding does for an arbitraging aggregator while the others
    learn. In the first phase Adam drives the sigmoid actor's raw output z deep into saturation, where
    sigmoid'(z) ~ 0; in the second the critic asks for more, but the policy gradient no longer reaches
    the action and the actor stays near 0. With `actor_z_max` the hinge on |z| keeps it where the
    gradient still acts, and the actor climbs to a ~ 1."""
    from agents.learning.groups import JointGroup, policy_gradient_loss

    z = torch.tensor([[[-30.0], [3.0]]], requires_grad=True)  # inside the bound the loss is the plain one
    policy_gradient_loss(z, True, lambda mu: mu.sum(), 0.0, z_max=z_max).backward()
    s3 = 1.0 / (1.0 + np.exp(-3.0))
    assert float(z.grad[0, 1, 0]) == pytest.approx(-s3 * (1.0 - s3), rel=1e-5)
    assert (z.grad[0, 0, 0] < -1.0) == (z_max > 0)  # the hinge's gradient, mean over 2 samples: 2 * (30 - 6) / 2

    hp = HyperParams(hidden_sizes=(16,), batch_size=64, buffer_size=2048, gamma=0.0, reward_scale=1.0,
                     lr_actor=3e-3, lr_critic=3e-3, tau=0.05, actor_z_max=z_max)
    group = JointGroup(1, Features(FEATURES), 1, hp, torch.device("cpu"), torch.Generator().manual_seed(0), sigmoid=True)
    rng = np.random.default_rng(0)
    obs = np.array([[5.0, 40.0, 0.5]])
    played = []
    for sign in (-1.0, 1.0):
        for k in range(2048):  # the ring buffer's contents are replaced by the new phase's samples
            a = rng.uniform(0, 1, (1, 1))
            group.remember(obs, a, sign * a[:, 0], None, k % 168 == 167)
        for _ in range(1000):
            group.update(rng)
        played.append(float(group.act(group.inputs(obs, np.arange(1)))[0, 0]))
    assert played[0] < 0.01
    assert (played[1] > 0.95) if z_max else (played[1] < 1e-3)
