"""HMADDPG building blocks on small known cases: replay buffer, soft update, Smooth L1 critic step,
actor gradient, reward wiring (which reward reaches which critic), and a toy one-hour market whose
best response is known in closed form."""

import dataclasses
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from agents.bidding import MIN_FLEX_PRICE_EUR_MWH
from agents.learning.buffers import ReplayBuffer
from agents.learning.features import Features
from agents.learning.groups import JointGroup
from agents.learning.hmaddpg import hmaddpg
from agents.learning.hyperparams import HyperParams
from agents.learning.networks import StackedMLP, soft_update
from agents.learning.team import RoleSpec, resolve_device
from model.designs.arbitrage import LEM_OBSERVATION, LFM_OBSERVATION, WITHHOLD
from model.spaces import ActionSpec

torch.set_num_threads(1)
LEM_FEATURES, LFM_FEATURES = Features(LEM_OBSERVATION), Features(LFM_OBSERVATION)
FLEX = ActionSpec(("up_eur_mwh", "dn_eur_mwh"), (0.0, 0.0), (1000.0, 1000.0), policy_low=(MIN_FLEX_PRICE_EUR_MWH,) * 2)


def roles(n):
    """The arbitrage design's two roles for n aggregators."""
    return [RoleSpec("primary", "lem", n, LEM_OBSERVATION, WITHHOLD), RoleSpec("secondary", "lfm", n, LFM_OBSERVATION, FLEX)]


def HMADDPGBrain(n, mask, price_max, hp=HyperParams(), seed=0, device="cpu"):  # noqa: N802 - the learner under test
    assert price_max == 1000.0
    team = hmaddpg(roles(n), hp, seed, device)
    team.primary, team.secondary = (s.group for s in team.slots)
    return team


def act_lem(team, obs, rows):
    return team.act("lem", obs, rows)[:, 0]


def act_lfm(team, obs, rows):
    return team.act("lfm", obs, rows)


# --- replay buffer ---------------------------------------------------------------------------
def test_replay_buffer_wraps_and_never_samples_a_missing_successor():
    buf = ReplayBuffer(capacity=5, obs_dim=1, act_dim=1, n_agents=2)
    for t in range(7):  # records 0..6; 0 and 1 are overwritten
        buf.add([t], [t / 10], [t, -t], done=False)
    assert (buf.size, buf.ptr) == (5, 2)
    assert buf.obs[:, 0].tolist() == [5, 6, 2, 3, 4]
    assert buf.n_valid() == 4  # the newest (6) has no successor yet
    rng = np.random.default_rng(0)
    idx = buf.sample_indices(rng, 2000)
    assert set(buf.obs[idx, 0].astype(int)) == {2, 3, 4, 5}  # uniform over the 4 complete records
    assert set(buf.obs[(idx + 1) % 5, 0].astype(int)) == {3, 4, 5, 6}  # successor = next record
    counts = np.bincount(buf.obs[idx, 0].astype(int))[2:]
    assert counts.min() > 400
    buf.add([7], [0.7], [7, -7], done=True)  # a terminal newest record is complete
    assert buf.n_valid() == 5
    # round trip through a state dict
    other = ReplayBuffer(5, 1, 1, 2)
    other.load_state_dict(buf.state_dict())
    for f in ReplayBuffer.FIELDS:
        np.testing.assert_array_equal(getattr(other, f), getattr(buf, f))
    assert (other.ptr, other.size) == (buf.ptr, buf.size)


# --- soft target update ----------------------------------------------------------------------
def test_soft_update_moves_target_by_tau():
    src, tgt = StackedMLP(3, [2, 4, 1], squash=False), StackedMLP(3, [2, 4, 1], squash=False)
    with torch.no_grad():
        for p in src.parameters():
            p.fill_(1.0)
        for p in tgt.parameters():
            p.fill_(0.0)
    soft_update(tgt, src, 0.1)
    soft_update(tgt, src, 0.1)
    for p in tgt.parameters():
        torch.testing.assert_close(p, torch.full_like(p, 0.19))  # 1 - 0.9^2


def test_stacked_mlp_agents_are_independent():
    g = torch.Generator().manual_seed(0)
    net = StackedMLP(3, [2, 5, 1], squash=True, generator=g)
    x = torch.randn(3, 4, 2, generator=g)
    y = net(x)
    with torch.no_grad():
        net.layers[-1].bias[1] += 1.0  # change agent 1 only (an output bias: it shows whatever the ReLUs do)
    y2 = net(x)
    torch.testing.assert_close(y[[0, 2]], y2[[0, 2]])
    assert not torch.allclose(y[1], y2[1])
    assert y.min() >= 0 and y.max() <= 1


# --- critic and actor steps on known cases ----------------------------------------------------
def _linear_stage(n=2, lr=0.01, gamma=0.5, actor_output="inverting-gradients"):
    """A stage with linear critics and actors (no hidden layers) and deterministic numbers."""
    hp = HyperParams(hidden_sizes=(), batch_size=4, lr_actor=lr, lr_critic=lr, gamma=gamma, reward_scale=1.0,
                     buffer_size=16, actor_reg=0.0, actor_output=actor_output)
    stage = JointGroup(n, LEM_FEATURES, 1, hp, torch.device("cpu"), sigmoid=actor_output == "sigmoid")
    for net in (stage.actor, stage.critic, stage.actor_target, stage.critic_target):
        with torch.no_grad():
            for p in net.parameters():
                p.zero_()
    return stage, hp


def test_critic_step_is_smooth_l1_on_the_td_error():
    stage, hp = _linear_stage()
    with torch.no_grad():
        stage.critic_target.layers[0].bias[:] = torch.tensor([[[2.0]], [[-2.0]]])  # Q'_0 = 2, Q'_1 = -2
    x = np.zeros(LEM_FEATURES.joint_dim(2), np.float32)
    rewards = [(0.2, 3.0), (0.6, -1.0)]  # agent 0: small TD errors (quadratic zone); agent 1: large (linear)
    for r in rewards * 3:
        stage.buffer.add(x, [0.5, 0.5], r, done=False)
    stage.buffer.add(x, [0.5, 0.5], (0.0, 0.0), done=True)
    r = stage.buffer.rew[: stage.buffer.n_valid()]
    done = stage.buffer.done[: stage.buffer.n_valid()]
    rng = np.random.default_rng(1)
    idx = stage.buffer.sample_indices(np.random.default_rng(1), hp.batch_size)
    y = r[idx] + hp.gamma * (1 - done[idx, None]) * np.array([2.0, -2.0])  # (B, N); Q = 0 before the step
    err = 0.0 - y
    expected = np.where(np.abs(err) < 1, 0.5 * err**2, np.abs(err) - 0.5).mean(0).sum() / 2
    stats = stage.update(rng)
    assert stats["critic_loss"] == pytest.approx(expected, rel=1e-6)
    # first Adam step moves each critic's bias by lr against the sign of its mean gradient
    grad = np.clip(err, -1, 1).mean(0)
    bias = stage.critic.layers[0].bias.detach().numpy()[:, 0, 0]
    np.testing.assert_allclose(bias, -hp.lr_critic * np.sign(grad), rtol=1e-4)


def test_gamma_zero_targets_the_reward_alone_without_the_target_networks():
    # gamma = 0 (the quick profile): y = s * r. The target networks are not evaluated, so even
    # NaN target weights leave the step finite and equal to Smooth L1 against the rewards.
    stage, hp = _linear_stage(gamma=0.0)
    with torch.no_grad():
        for p in list(stage.critic_target.parameters()) + list(stage.actor_target.parameters()):
            p.fill_(float("nan"))
    x = np.zeros(LEM_FEATURES.joint_dim(2), np.float32)
    for r in [(0.2, 3.0), (0.6, -1.0)] * 4:
        stage.buffer.add(x, [0.5, 0.5], r, done=False)
    idx = stage.buffer.sample_indices(np.random.default_rng(1), hp.batch_size)
    err = 0.0 - stage.buffer.rew[idx]  # Q = 0 before the step
    expected = np.where(np.abs(err) < 1, 0.5 * err**2, np.abs(err) - 0.5).mean(0).sum() / 2
    assert stage.update(np.random.default_rng(1))["critic_loss"] == pytest.approx(expected, rel=1e-6)
    assert all(torch.isfinite(p).all() for p in stage.critic.parameters())
    # nothing reads them, so nothing updates them either: zeroed targets stay zero through an update
    # (a soft update would move them tau of the way to the networks' weights)
    targets = list(stage.critic_target.parameters()) + list(stage.actor_target.parameters())
    with torch.no_grad():
        for p in targets:
            p.zero_()
    critic_before = [p.detach().clone() for p in stage.critic.parameters()]
    stage.update(np.random.default_rng(2))
    assert all(not torch.equal(p, q) for p, q in zip(stage.critic.parameters(), critic_before))  # the critic did learn
    assert all(torch.count_nonzero(p) == 0 for p in targets)


def _critics_liking(stage, own0: float, own1: float):
    """Linear critics: Q_0 = own0 * a_0 - 5 a_1, Q_1 = 5 a_0 + own1 * a_1 (each actor sees only its own slot)."""
    d = LEM_FEATURES.joint_dim(2)
    with torch.no_grad():
        w = stage.critic.layers[0].weight  # (N, d + N, 1): slots d (agent 0's action), d + 1 (agent 1's)
        w[0, d, 0], w[0, d + 1, 0] = own0, -5.0
        w[1, d, 0], w[1, d + 1, 0] = 5.0, own1
    return d


@pytest.mark.parametrize("actor_output", ["inverting-gradients", "sigmoid"])
def test_actor_follows_its_own_action_slot_of_its_own_critic(actor_output):
    stage, hp = _linear_stage(lr=0.01, actor_output=actor_output)
    d = _critics_liking(stage, 1.0, -1.0)  # critic 0 likes a_0 up, critic 1 likes a_1 down
    x = np.zeros(d, np.float32)
    for _ in range(8):
        stage.buffer.add(x, [0.3, 0.7], (0.0, 0.0), done=True)
    # freeze the critic step so the actor sees exactly these critics
    stage.critic_opt.param_groups[0]["lr"] = 0.0
    stage.update(np.random.default_rng(0))
    b = stage.actor.layers[0].bias.detach().numpy()[:, 0, 0]
    np.testing.assert_allclose(b, [+hp.lr_actor, -hp.lr_actor], rtol=1e-4)
    # the gradient itself, at a = 0.5 for both actors: dQ_n/da_n = +1, -1, times
    #   sigmoid: sigmoid'(0) = 0.25;  inverting gradients: (1 - a) = 0.5 for +1, a = 0.5 for -1
    stage2, _ = _linear_stage(actor_output=actor_output)
    _critics_liking(stage2, 1.0, -1.0)
    stage2.actor_loss(torch.zeros(1, d), torch.tensor([[0.3, 0.7]])).backward()
    g = stage2.actor.layers[0].bias.grad[:, 0, 0].numpy()
    k = 0.25 if actor_output == "sigmoid" else 0.5
    np.testing.assert_allclose(g, [-k, +k], rtol=1e-6)  # the loss's gradient = minus the policy gradient


@pytest.mark.parametrize("a0, a1, want", [
    (0.9, 0.9, [-0.1, 0.9]),  # inside: the push toward a bound shrinks with the distance to it, away is larger
    (1.2, -0.1, [0.2, -0.1]),  # beyond the bounds, the step points back inside even though Q wants further out
])
def test_inverting_gradients_shrink_toward_a_bound_and_turn_back_beyond_it(a0, a1, want):
    """Hausknecht & Stone (2016): dQ/da * (1 - a) if dQ/da > 0, else * a (bounds [0, 1])."""
    stage, _ = _linear_stage()
    d = _critics_liking(stage, 1.0, -1.0)  # agent 0 wants more, agent 1 wants less
    with torch.no_grad():
        stage.actor.layers[0].bias[:, 0, 0] = torch.tensor([a0 - 0.5, a1 - 0.5])
    stage.actor_loss(torch.zeros(1, d), torch.tensor([[0.3, 0.7]])).backward()
    np.testing.assert_allclose(stage.actor.layers[0].bias.grad[:, 0, 0].numpy(), want, rtol=1e-5)
    # and the actions played are clipped to [0, 1]
    acts = stage.act(np.zeros((2, LEM_FEATURES.actor_dim), np.float32))[:, 0]
    np.testing.assert_allclose(acts, np.clip([a0, a1], 0, 1), rtol=1e-6)


# --- wiring: which reward reaches which critic -------------------------------------------------
class FakeHour(SimpleNamespace):
    """What a learner reads of a cleared hour: observations and actions per stage, rewards per role."""

    @property
    def observations(self):
        return {"lem": self.obs_lem, "lfm": self.obs_lfm}

    @property
    def actions(self):
        return {"lem": self.withhold[:, None], "lfm": self.flex_bid_eur_mwh}

    @property
    def rewards(self):
        return {"primary": self.r_primary, "secondary": self.r2}

    @property
    def records(self):
        return {"lem": None, "lfm": None}  # the arbitrage stages record no executed actions: the actions are stored


def _fake_hour(rng, n, t=5):
    obs_lem = np.column_stack([np.full(n, t), rng.normal(size=n), np.full(n, 50.0), np.full(n, 45.0)])
    obs_lfm = np.column_stack([np.full(n, t), rng.normal(size=(n, 3)), np.full(n, 40.0), np.full(n, 60.0),
                               np.full(n, -1.5)])  # ..., imbalance prices, the feeder's scheduled injection
    r1, r2 = rng.normal(size=n), rng.normal(size=n)
    return FakeHour(obs_lem=obs_lem, obs_lfm=obs_lfm, withhold=rng.uniform(size=n),
                    flex_bid_eur_mwh=rng.uniform(0, 1000, (n, 2)), r1=r1, r2=r2, r_primary=r1)


def test_arbitrage_primary_learns_from_r1_plus_r2_standalone_from_r1():
    n = 4
    mask = np.array([False, True, False, True])
    brain = HMADDPGBrain(n, mask, 1000.0, HyperParams(buffer_size=8, batch_size=4, hidden_sizes=(8,)), seed=0)
    rng = np.random.default_rng(0)
    h = _fake_hour(rng, n)
    h.r_primary = np.where(mask, h.r1 + h.r2, h.r1)  # what the model's settlement hands over
    brain.remember(h, last=True)
    np.testing.assert_allclose(brain.primary.buffer.rew[0], np.where(mask, h.r1 + h.r2, h.r1), rtol=1e-6)
    np.testing.assert_allclose(brain.secondary.buffer.rew[0], h.r2, rtol=1e-6)
    np.testing.assert_allclose(brain.primary.buffer.act[0], h.withhold, rtol=1e-6)
    np.testing.assert_allclose(brain.secondary.buffer.act[0], (h.flex_bid_eur_mwh / 1000).ravel(), rtol=1e-6)
    # shapes: centralised critics see the joint observation and the joint actions of their stage
    assert brain.primary.critic.layers[0].weight.shape == (n, LEM_FEATURES.joint_dim(n) + n, 8)
    assert brain.secondary.critic.layers[0].weight.shape == (n, LFM_FEATURES.joint_dim(n) + 2 * n, 8)
    assert brain.primary.actor.layers[0].weight.shape == (n, LEM_FEATURES.actor_dim, 8)
    assert LEM_FEATURES.joint_dim(n) == 6 + n and LFM_FEATURES.joint_dim(n) == 7 + 3 * n  # 4 time + shared, own per agent
    # each critic's TD target uses its own reward column
    x, a, r, _, x_next = brain.primary._batch(np.array([0, 0, 0]))
    assert r.shape == (n, 3) and x.shape == (3, LEM_FEATURES.joint_dim(n)) and a.shape == (3, n)
    np.testing.assert_allclose(r[:, 0].numpy(), h.r_primary, rtol=1e-6)


def test_actor_inputs_are_own_features_plus_shared_ones():
    rng = np.random.default_rng(3)
    h = _fake_hour(rng, 3, t=30)
    for feats, obs in ((LEM_FEATURES, h.obs_lem), (LFM_FEATURES, h.obs_lfm)):
        x = feats.joint(obs)
        a = feats.actor_inputs(obs)
        assert a.shape == (3, feats.actor_dim)
        hod = 2 * np.pi * 30 / 24
        np.testing.assert_allclose(a[:, :2], [[np.sin(hod), np.cos(hod)]] * 3, rtol=1e-6)
        np.testing.assert_allclose(a[:, feats.n_shared:], obs[:, feats.own_cols], rtol=1e-6)
        np.testing.assert_allclose(a, feats.member_inputs(obs), rtol=1e-6)  # the large-group path: the same inputs
        # the group's gather reproduces the same inputs from the stored joint observation
        stage = JointGroup(3, feats, 1, HyperParams(hidden_sizes=(4,), buffer_size=4, batch_size=4), torch.device("cpu"))
        np.testing.assert_allclose(stage._own_inputs(torch.from_numpy(x)[None])[:, 0].numpy(), a, rtol=1e-6)


def test_brain_acts_for_a_subset_of_rows_like_for_all():
    brain = HMADDPGBrain(4, np.zeros(4, bool), 1000.0, HyperParams(hidden_sizes=(8,)), seed=1)
    h = _fake_hour(np.random.default_rng(0), 4)
    full = act_lfm(brain, h.obs_lfm, np.arange(4))
    part = act_lfm(brain, h.obs_lfm[[1, 3]], np.array([1, 3]))
    np.testing.assert_allclose(part, full[[1, 3]], rtol=1e-6)
    assert full.shape == (4, 2) and full.min() > 0 and full.max() <= 1000
    np.testing.assert_allclose(act_lem(brain, h.obs_lem[[2]], np.array([2])), act_lem(brain, h.obs_lem, np.arange(4))[[2]], rtol=1e-6)


def test_device_auto_falls_back_to_cpu_and_cuda_without_a_gpu_is_a_named_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="CUDA is not available.*--device cpu or auto"):
        HMADDPGBrain(2, np.zeros(2, bool), 1000.0, HyperParams(hidden_sizes=(8,)), seed=0, device="cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize("actor_output", ["inverting-gradients", "sigmoid"])
def test_numpy_acting_follows_the_live_torch_actor_through_updates_and_loads(actor_output):
    """`StageLearner.act` runs in numpy on views of the actor's parameters: it must equal the
    torch forward pass after Adam steps and after loading another brain's state."""
    n = 3
    hp = HyperParams(hidden_sizes=(16, 16), batch_size=4, actor_output=actor_output)
    brain = HMADDPGBrain(n, np.zeros(n, bool), 1000.0, hp, seed=0)
    rng = np.random.default_rng(0)

    def same_as_torch():
        for stage, obs in ((brain.primary, h.obs_lem), (brain.secondary, h.obs_lfm)):
            inputs = stage.features.actor_inputs(obs)
            with torch.no_grad():
                ref = stage.policy(stage.actor, torch.from_numpy(inputs)[:, None, :])[:, 0].numpy()
            np.testing.assert_allclose(stage.act(inputs), ref, rtol=1e-5, atol=1e-7)

    h = _fake_hour(rng, n)
    before = brain.primary.act(LEM_FEATURES.actor_inputs(h.obs_lem))
    for t in range(12):
        h = _fake_hour(rng, n, t=t)
        h.r_primary = h.r1
        brain.remember(h, last=t == 11)
    brain.end_episode()
    same_as_torch()
    assert not np.allclose(brain.primary.act(LEM_FEATURES.actor_inputs(h.obs_lem)), before)  # it did learn
    other = HMADDPGBrain(n, np.zeros(n, bool), 1000.0, dataclasses.replace(hp, batch_size=35), seed=7)
    brain.load_state(other.policy_state())
    same_as_torch()
    np.testing.assert_array_equal(act_lfm(brain, h.obs_lfm, np.arange(n)), act_lfm(other, h.obs_lfm, np.arange(n)))


def test_hyperparams_defaults_are_the_papers_and_overrides_parse():
    hp = HyperParams()
    assert (hp.gamma, hp.batch_size, hp.updates_per_episode, hp.tau, hp.noise_sigma0, hp.episodes) == (0.99, 35, 5, 0.001, 0.3, 5000)
    assert hp.noise_sigma0 * hp.noise_decay ** hp.episodes == pytest.approx(hp.noise_sigma_final)
    hp2 = hp.with_overrides(["lr_actor=3e-4", "hidden_sizes=32,16", "batch_size=64"])
    assert (hp2.lr_actor, hp2.hidden_sizes, hp2.batch_size) == (3e-4, (32, 16), 64)
    assert HyperParams.from_dict(hp2.to_dict()) == hp2
    with pytest.raises(ValueError, match="lr_actr"):
        hp.with_overrides(["lr_actr=1"])
    assert hp.with_overrides(["actor_output=sigmoid"]).actor_output == "sigmoid"
    with pytest.raises(ValueError, match="actor_output 'tanh'"):
        hp.with_overrides(["actor_output=tanh"])
    # metadata written before `actor_output` existed describes sigmoid actors
    legacy = {k: v for k, v in hp.to_dict().items() if k != "actor_output"}
    assert HyperParams.from_dict(legacy).actor_output == "sigmoid"
    assert hp.actor_output == "sigmoid-primary"
    for output, primary, secondary in (("sigmoid-primary", True, False), ("sigmoid", True, True),
                                       ("inverting-gradients", False, False)):
        brain = HMADDPGBrain(3, np.zeros(3, bool), 1000.0, HyperParams(hidden_sizes=(4,), actor_output=output))
        assert (brain.primary.sigmoid, brain.secondary.sigmoid) == (primary, secondary)
        assert (brain.primary.actor.squash, brain.secondary.actor.squash) == (primary, secondary)


# --- a one-hour toy market with a closed-form best response ----------------------------------
A_EUR, C_EUR = 0.85, 0.10  # inverse demand P = A - (q_1 + q_2); marginal cost c; capacity 1 MW each
PRICE_TARGET = np.array([0.2, 0.7])  # secondary: reward -(u - target)^2, best response u = target


def toy_hour(brain, rng):
    """Stage 1: Cournot duopoly in withholding form, q_n = 1 - a1_n, r1_n = q_n (P - c), scaled to
    euro (x100). Stage 2: r2_n = -100 (u_n - target_n)^2. Nash: q* = (A - c) / 3, a1* = 1 - q*."""
    n = 2
    t = 12
    obs_lem = np.array([[t, 0.5, 50.0, 45.0]] * n)
    a1 = np.clip(act_lem(brain, obs_lem, np.arange(n)), 0, 1)
    q = 1 - a1
    r1 = 100 * q * (A_EUR - q.sum() - C_EUR)
    obs_lfm = np.array([[t, 0.0, 0.5, 0.5, 40.0, 60.0, 0.0]] * n)
    bids = act_lfm(brain, obs_lfm, np.arange(n))
    r2 = -100 * (bids[:, 0] / 1000 - PRICE_TARGET) ** 2
    return FakeHour(obs_lem=obs_lem, withhold=a1, obs_lfm=obs_lfm, flex_bid_eur_mwh=bids, r1=r1, r2=r2, r_primary=r1)


def test_short_training_on_a_toy_market_reaches_the_closed_form_best_response():
    hp = HyperParams(hidden_sizes=(32, 32), lr_actor=2e-3, lr_critic=3e-3, batch_size=64, updates_per_episode=2,
                     episodes=1500, noise_sigma0=0.3, noise_sigma_final=0.05, tau=0.02, buffer_size=2000,
                     reward_scale=0.01)
    brain = HMADDPGBrain(2, np.zeros(2, bool), 1000.0, hp, seed=0)
    rng = np.random.default_rng(0)
    q0 = 1 - toy_hour(brain, rng).withhold
    assert np.abs(q0 - (A_EUR - C_EUR) / 3).max() > 0.15  # the untrained policy is far from it
    brain.explore = True
    for _ in range(hp.episodes):
        brain.remember(toy_hour(brain, rng), last=True)  # one-hour episodes
        brain.end_episode()
    brain.explore = False
    h = toy_hour(brain, rng)
    q = 1 - h.withhold
    best_response = (A_EUR - C_EUR - q[::-1]) / 2  # given the other's learned quantity
    np.testing.assert_allclose(q, best_response, atol=0.06)
    np.testing.assert_allclose(q, (A_EUR - C_EUR) / 3, atol=0.06)  # the Nash equilibrium
    np.testing.assert_allclose(h.flex_bid_eur_mwh[:, 0] / 1000, PRICE_TARGET, atol=0.06)
