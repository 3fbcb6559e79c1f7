"""MATD3's three options on the shared learner (`HyperParams.twin_critics`, `target_noise`,
`policy_delay`): the target computed by hand from Fujimoto et al. (2018)'s definitions, the delayed
actor steps, the errors where an option cannot act, and a run that uses them resuming exactly."""

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from agents.learning.features import Features
from agents.learning.groups import JointGroup, MemberGroup
from agents.learning.hyperparams import HyperParams
from tests.learning_helpers import FEATURES, fill_group, train_killed_after

torch.set_num_threads(1)


def _filled_joint_group(n: int, hp: HyperParams) -> JointGroup:
    group = JointGroup(n, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0))
    fill_group(group, 100, 20)
    return group


def test_the_twin_critics_target_is_the_smaller_target_value_at_smoothed_target_actions():
    """TD3's target by hand: y = s r + gamma (1 - done) min_i Q'_i(x', clip(mu'(o') + clip(eps, -c, c), 0, 1)),
    eps ~ N(0, sigma), c = 2 sigma; both critics are fitted on it and the loss sums theirs."""
    n, B, gamma, sigma = 3, 16, 0.9, 0.1
    hp = HyperParams(hidden_sizes=(8,), batch_size=B, buffer_size=256, gamma=gamma, twin_critics=True,
                     target_noise=sigma)
    group = _filled_joint_group(n, hp)
    with torch.no_grad():  # make the second target critic disagree, so that the min matters in both directions
        group.critic2_target.layers[-1].bias.add_(torch.tensor([-0.05, 0.0, 0.05])[:, None, None])
    rng = np.random.default_rng(7)
    idx = group.buffer.sample_indices(rng, B)
    eps = rng.standard_normal((n, B, 2), dtype=np.float32)  # the update's next draw: the target actions' noise
    x, a, r, _, x_next = group._batch(idx)
    done = torch.from_numpy(group.buffer.done[idx])
    with torch.no_grad():
        mu_next = group.policy(group.actor_target, group._own_inputs(x_next))
        a_next = (mu_next + torch.from_numpy(np.clip(sigma * eps, -2 * sigma, 2 * sigma))).clamp(0.0, 1.0)
        a_next = a_next.transpose(0, 1).reshape(B, -1)
        inp_next = group._critic_input(x_next, a_next)
        q1_next, q2_next = group.critic_target(inp_next)[..., 0], group.critic2_target(inp_next)[..., 0]
        assert (q1_next < q2_next).any() and (q2_next < q1_next).any()
        y = hp.reward_scale * r + gamma * (1.0 - done) * torch.minimum(q1_next, q2_next)
        inp = group._critic_input(x, a)
        expected = sum(F.smooth_l1_loss(critic(inp)[k, :, 0], y[k]).item()
                       for critic in (group.critic, group.critic2) for k in range(n)) / n
    critic2_before = [p.clone() for p in group.critic2.parameters()]
    stats = group.update(np.random.default_rng(7))
    assert stats["critic_loss"] == pytest.approx(expected, rel=1e-5)
    assert all(not torch.equal(p, q) for p, q in zip(critic2_before, group.critic2.parameters()))  # fitted too


def test_smoothed_target_actions_stay_in_range_within_two_sigma_and_are_reproducible():
    hp = HyperParams(hidden_sizes=(8,), batch_size=16, buffer_size=256, gamma=0.9, target_noise=0.2)
    group = _filled_joint_group(2, hp)
    inputs = group._own_inputs(group._batch(np.arange(64))[0])
    plain = group.policy(group.actor_target, inputs)
    smoothed = group.target_policy(inputs, np.random.default_rng(3))
    assert smoothed.min() >= 0.0 and smoothed.max() <= 1.0
    assert (smoothed - plain).abs().max() <= 0.4 + 1e-6 and not torch.equal(smoothed, plain)
    assert torch.equal(smoothed, group.target_policy(inputs, np.random.default_rng(3)))
    group.hp = HyperParams(hidden_sizes=(8,), batch_size=16, buffer_size=256, gamma=0.9)  # no noise: mu' itself
    assert torch.equal(group.target_policy(inputs, np.random.default_rng(3)), plain)


@pytest.mark.parametrize("kind", ["joint", "member"])
def test_delayed_policy_updates_step_the_actor_and_targets_every_dth_critic_step(kind):
    hp = HyperParams(hidden_sizes=(8,), batch_size=16, buffer_size=256, gamma=0.9, policy_delay=3,
                     twin_critics=True)
    if kind == "joint":
        group = _filled_joint_group(3, hp)
    else:
        group = MemberGroup(4, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0), info_dim=1)
        rng = np.random.default_rng(1)
        for k in range(60):
            obs = np.column_stack([np.full(4, k % 168), np.full(4, rng.uniform(20, 60)), rng.uniform(0, 1, 4)])
            group.remember(obs, rng.uniform(0, 1, (4, 2)), rng.normal(0, 100, 4), np.array([rng.normal()], np.float32),
                           k % 20 == 19)
    rng = np.random.default_rng(0)
    snapshot = lambda net: [p.clone() for p in getattr(group, net).parameters()]  # noqa: E731
    same = lambda net, before: all(torch.equal(p, q) for p, q in zip(before, getattr(group, net).parameters()))  # noqa: E731
    nets = ("actor", "actor_target", "critic", "critic_target", "critic2", "critic2_target")
    for step in range(1, 7):
        before = {net: snapshot(net) for net in nets}
        group.update(rng)
        assert not same("critic", before["critic"]) and not same("critic2", before["critic2"])  # every step
        for net in ("actor", "actor_target", "critic_target", "critic2_target"):
            assert same(net, before[net]) == (step % 3 != 0), (net, step)
    assert group.critic_steps == 6


@pytest.mark.parametrize("override, said", [
    ({"twin_critics": True}, "twin_critics"),
    ({"target_noise": 0.1}, "target_noise"),
])
def test_an_option_that_acts_on_the_bootstrapped_target_is_an_error_without_one(override, said):
    with pytest.raises(ValueError, match=f"{said} .* needs gamma > 0"):
        HyperParams(gamma=0.0, **override)
    with pytest.raises(ValueError, match="policy_delay = 0 must be >= 1"):
        HyperParams(policy_delay=0)
    with pytest.raises(ValueError, match="target_noise = -0.1 must be >= 0"):
        HyperParams(target_noise=-0.1)


def test_a_matd3_run_resumes_to_the_uninterrupted_numbers_and_loads_for_play(tmp_path):
    import pandas as pd

    from agents.learning.checkpoint import latest_checkpoint
    from runs.training import load_trained_policy, train

    scenario = tmp_path / "toy-one-arb.toml"
    scenario.write_text('extends = "one-arb"\nname = "toy-one-arb"\n\n[data]\nsource = "synthetic"\n')
    hp = HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16, twin_critics=True, target_noise=0.1,
                     policy_delay=2)
    kw = dict(episodes=4, seed=3, eval_every=3, checkpoint_every=2, progress=False, hp=hp)
    ref = train(str(scenario), out=tmp_path / "ref", **kw)
    train_killed_after(str(scenario), tmp_path / "run", 3, **kw)
    assert latest_checkpoint(tmp_path / "run") is not None
    resumed = train(str(scenario), out=tmp_path / "run", resume=True, **kw)
    pd.testing.assert_frame_equal(ref.curve, resumed.curve)
    a, b = (torch.load(d / "policy.pt", weights_only=True) for d in (tmp_path / "ref", tmp_path / "run"))
    assert a.keys() == b.keys()
    for role in a:
        assert {"critic2", "critic2_target"} <= set(a[role])
        for net in a[role]:
            for k in a[role][net]:
                assert torch.equal(a[role][net][k], b[role][net][k]), (role, net, k)
    learner, meta = load_trained_policy(tmp_path / "ref")
    assert meta["hyperparams"]["twin_critics"] and meta["hyperparams"]["policy_delay"] == 2
    for slot in learner.slots:
        assert torch.equal(slot.group.critic2.layers[0].weight, a[slot.name]["critic2"]["layers.0.weight"])
