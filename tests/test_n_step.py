"""n-step returns (`HyperParams.n_step`): which records a return sums, checked by hand, and the critics' targets of
every kind of group against a plain loop over the buffer."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from agents.learning.buffers import ReplayBuffer
from agents.learning.features import Features
from agents.learning.groups import JointGroup, MemberGroup
from agents.learning.hyperparams import HyperParams
from model.spaces import SHARED, Feature
from tests.learning_helpers import FEATURES, fill_group

torch.set_num_threads(1)


def _chain(rewards, dones, capacity=8) -> ReplayBuffer:
    b = ReplayBuffer(capacity, 1, 1, 1)
    for i, (r, d) in enumerate(zip(rewards, dones)):
        b.add([i], [0.0], [r], bool(d))
    return b


def test_a_return_stops_at_the_episodes_end_and_before_a_record_it_cannot_complete():
    # an episode of 3 hours (done at record 2), then 4 hours of one still running: record 6 is the newest,
    # its next observation not stored yet
    b = _chain([1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6], [0, 0, 1, 0, 0, 0, 0])
    steps, weights, boot, discount = b.n_step_plan(np.arange(6), 3, 0.5)
    np.testing.assert_array_equal(steps[:, 0], np.arange(6))
    np.testing.assert_allclose(weights, [[1, .5, .25], [1, .5, 0], [1, 0, 0], [1, .5, .25], [1, .5, 0], [1, 0, 0]])
    np.testing.assert_array_equal(boot, [3, 3, 3, 6, 6, 6])  # 3: never read (discount 0); 6: the newest observation
    np.testing.assert_allclose(discount, [0, 0, 0, 0.125, 0.25, 0.5])
    # the hour before the end: r_1 + 0.5 r_2, nothing bootstrapped
    assert (weights[1] * b.rew[steps[1], 0]).sum() == pytest.approx(10 + 50)
    # n = 1 is the one-step target
    steps, weights, boot, discount = b.n_step_plan(np.arange(6), 1, 0.5)
    np.testing.assert_array_equal(boot, np.arange(1, 7))
    np.testing.assert_allclose(discount, 0.5 * (1 - b.done[:6]))
    np.testing.assert_allclose(weights, 1.0)


def test_a_return_in_a_full_buffer_wraps_onto_newer_records_but_never_onto_the_oldest():
    b = _chain(np.arange(11.0), [0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0], capacity=8)  # records 8, 9, 10 overwrote 0, 1, 2
    assert b.ptr == 3 and b.size == 8  # slot 2 holds record 10, the newest (not done); slot 3 the oldest (record 3)
    steps, weights, boot, discount = b.n_step_plan(np.array([7, 0, 1]), 4, 0.9)  # records 7, 8, 9
    np.testing.assert_array_equal(steps[0], [7, 0, 1, 2])  # record 7's return runs through slot 0 (record 8, done)
    np.testing.assert_allclose(weights[0], [1, 0.9, 0, 0])
    assert discount[0] == 0.0
    np.testing.assert_allclose(weights[2], [1, 0, 0, 0])  # record 9: its next (10) is the newest, not done
    assert boot[2] == 2 and discount[2] == pytest.approx(0.9)
    assert b.rew[steps[2, 0], 0] == 9.0


def _return_by_hand(buffer, h: int, column: int, n: int, gamma: float) -> tuple[float, int, float]:
    """A plain loop: (sum of gamma^k r, the record to bootstrap from, its discount)."""
    newest = (buffer.ptr - 1) % buffer.capacity
    total, j = 0.0, h
    for k in range(n):
        j = (h + k) % buffer.capacity
        total += gamma ** k * float(buffer.rew[j, column])
        if buffer.done[j]:
            return total, (j + 1) % buffer.capacity, 0.0
        if (j + 1) % buffer.capacity == newest and not buffer.done[newest] and k + 1 < n:
            return total, newest, gamma ** (k + 1)
    return total, (j + 1) % buffer.capacity, gamma ** n


@pytest.mark.parametrize("share", [True, False])
def test_a_member_groups_critic_is_fitted_on_the_n_step_return(share):
    n, B, gamma, steps = 4, 32, 0.9, 5
    hp = HyperParams(hidden_sizes=(8,), batch_size=B, buffer_size=400, gamma=gamma, n_step=steps)
    group = MemberGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0),
                        share=share, info_dim=1)
    fill_group(group, 70, 24)  # the last day unfinished: returns near its end are cut before the newest record
    b = group.buffer
    rng = np.random.default_rng(7)  # the update's draws: the hours, then (shared) the members
    hours = b.sample_indices(rng, B)
    members = rng.integers(0, n, size=B) if share else None
    nets = 1 if share else n
    losses = []
    with torch.no_grad():
        for net in range(nets):
            q_rows, y_rows = [], []
            for i, h in enumerate(hours):
                m = members[i] if share else net
                ret, boot, disc = _return_by_hand(b, int(h), m, steps, gamma)
                o_next = torch.from_numpy(b.obs[boot, m])[None, None].expand(nets, 1, -1)
                a_next = group.policy(group.actor_target, o_next)
                inp_next = torch.cat([o_next, a_next, torch.from_numpy(b.info[boot])[None, None].expand(nets, 1, -1)], -1)
                y_rows.append(hp.reward_scale * ret + disc * group.critic_target(inp_next)[net, 0, 0].item())
                inp = torch.from_numpy(np.concatenate([b.obs[h, m], b.act[h, m], b.info[h]]))[None, None]
                q_rows.append(group.critic(inp.expand(nets, 1, -1))[net, 0, 0].item())
            losses.append(F.smooth_l1_loss(torch.tensor(q_rows), torch.tensor(y_rows)).item())
    stats = group.update(np.random.default_rng(7))
    assert stats["critic_loss"] == pytest.approx(np.sum(losses) / (1 if share else n), rel=1e-4)


def test_a_joint_groups_critic_is_fitted_on_the_n_step_return():
    n, B, gamma, steps = 3, 32, 0.8, 4
    hp = HyperParams(hidden_sizes=(8,), batch_size=B, buffer_size=256, gamma=gamma, n_step=steps)
    group = JointGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0))
    fill_group(group, 60, 24)
    b = group.buffer
    idx = b.sample_indices(np.random.default_rng(7), B)
    expected = 0.0
    with torch.no_grad():
        for agent in range(n):
            q_rows, y_rows = [], []
            for h in idx:
                ret, boot, disc = _return_by_hand(b, int(h), agent, steps, gamma)
                x_next = torch.from_numpy(b.obs[boot])[None]
                a_next = group.policy(group.actor_target, group._own_inputs(x_next)).transpose(0, 1).reshape(1, -1)
                y_rows.append(hp.reward_scale * ret + disc * group.critic_target(group._critic_input(x_next, a_next))[agent, 0, 0].item())
                x, a = torch.from_numpy(b.obs[h])[None], torch.from_numpy(b.act[h])[None]
                q_rows.append(group.critic(group._critic_input(x, a))[agent, 0, 0].item())
            expected += F.smooth_l1_loss(torch.tensor(q_rows), torch.tensor(y_rows)).item()
    stats = group.update(np.random.default_rng(7))
    assert stats["critic_loss"] == pytest.approx(expected / n, rel=1e-4)


def test_n_step_needs_a_discounted_future_and_a_myopic_leader_keeps_one_step_targets():
    with pytest.raises(ValueError, match="n_step = 3 .*needs gamma > 0"):
        HyperParams(gamma=0.0, n_step=3)
    with pytest.raises(ValueError, match="n_step = 0"):
        HyperParams(gamma=0.9, n_step=0)
    assert HyperParams(gamma=0.9).with_overrides(["n_step=4"]).n_step == 4
    from agents.learning.stackelberg import leader_follower_learner
    from model.spaces import ActionSpec
    from agents.learning.team import RoleSpec

    leader = RoleSpec("leader", "l", 1, FEATURES, ActionSpec(("p",), (0.0,), (1.0,)))
    follower = RoleSpec("follower", "f", 4, FEATURES, ActionSpec(("a", "limit"), (0.0, 0.0), (1.0, 1.0)),
                        collective=(Feature("mean_action", SHARED),))
    team = leader_follower_learner((leader, follower), HyperParams(gamma=0.9, n_step=4, hidden_sizes=(8,)),
                                   config={"leader_gamma": 0.0, "names": ["g"], "clusters": [np.arange(4)],
                                           "components": [[0]]})
    assert team.slots[0].group.hp.n_step == 1 and team.slots[0].group.hp.gamma == 0.0
    assert team.slots[1].group.hp.n_step == 4
