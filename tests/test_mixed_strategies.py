"""Mixed-strategy actors (`HyperParams.mixed_levels`, `agents.learning.groups.MixedJointGroup`): the
actor loss's optimum is the logit response to the critic, draws follow the policy and repeat, a
two-player game whose only equilibrium is mixed is learned, and everything that loads, replays or
best-responds to a learned policy handles one."""

import numpy as np
import torch
from torch import nn

from agents.learning.best_response import best_responder
from agents.learning.features import Features
from agents.learning.groups import JointGroup, MixedJointGroup, hashed_uniforms
from agents.learning.hmaddpg import hmaddpg
from agents.learning.hyperparams import HyperParams
from agents.learning.team import RoleSpec, Slot, Team
from model.spaces import OWN, SHARED, TIME, ActionSpec, Feature

torch.set_num_threads(1)
FEATURES = (Feature("hour_of_week", TIME), Feature("price", SHARED, 10.0), Feature("own", OWN))


class TableCritic(nn.Module):
    """Q of the own first action's level k (q[k]) minus (own second action - 0.3)^2, for agent 0 of a
    one-agent group: the exact values the actor loss is minimised against."""

    def __init__(self, q: np.ndarray, obs_dim: int):
        super().__init__()
        self.q, self.obs_dim = torch.tensor(q, dtype=torch.float32), obs_dim

    def forward(self, inp):
        level, rest = inp[..., self.obs_dim], inp[..., self.obs_dim + 1]
        k = torch.round(level * (len(self.q) - 1)).long()
        return (self.q[k] - (rest - 0.3).square())[..., None]


def test_the_mixed_actor_loss_is_minimised_by_the_logit_response_to_its_critic():
    """Minimising -sum_k pi_k Q_k - T H(pi) over pi gives pi = softmax(Q / T) exactly (Gibbs); the
    deterministic second action goes to the critic's maximum as in MADDPG."""
    q, temperature = np.array([0.0, 0.02, 0.05, 0.01]), 0.02
    hp = HyperParams(mixed_levels=4, mixed_temperature=temperature, hidden_sizes=(8,), lr_actor=1e-2)
    g = MixedJointGroup(1, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0), sigmoid=False)
    obs_dim = Features(FEATURES).joint_dim(1)
    g.critic = TableCritic(q, obs_dim)
    x = torch.from_numpy(np.random.default_rng(0).random((32, obs_dim), dtype=np.float32))
    a = torch.zeros(32, 2)
    for _ in range(1500):
        g.actor_opt.zero_grad()
        g.actor_loss(x, a).backward(inputs=list(g.actor.parameters()))
        g.actor_opt.step()
    pi = g.probabilities(g._own_inputs(x).numpy())[0]
    want = np.exp(q / temperature) / np.exp(q / temperature).sum()
    np.testing.assert_allclose(pi, np.broadcast_to(want, pi.shape), atol=0.01)
    rest = g.policy(g.actor, g._own_inputs(x))[0, :, 1].numpy()
    np.testing.assert_allclose(rest, 0.3, atol=0.01)
    # with no entropy weight it is a best response: all weight on the best level
    g0 = MixedJointGroup(1, Features(FEATURES), 2, HyperParams(mixed_levels=4, mixed_temperature=0.0, hidden_sizes=(8,),
                                                                lr_actor=1e-2), torch.device("cpu"), torch.Generator().manual_seed(0), sigmoid=False)
    g0.critic = TableCritic(q, obs_dim)
    for _ in range(1500):
        g0.actor_opt.zero_grad()
        g0.actor_loss(x, a).backward(inputs=list(g0.actor.parameters()))
        g0.actor_opt.step()
    assert g0.probabilities(g0._own_inputs(x).numpy())[0, :, 2].min() > 0.97


def test_a_relative_temperature_gives_the_same_logit_response_at_any_reward_scale():
    """mixed_temperature_relative: T in units of the levels' spread of Q, so Q and 1000 Q give the same
    policy, softmax(Q / (T std Q)); with T in reward units the larger scale is a near best response."""
    q, temperature = np.array([0.0, 0.02, 0.05, 0.01]), 1.0
    obs_dim = Features(FEATURES).joint_dim(1)
    x = torch.from_numpy(np.random.default_rng(0).random((32, obs_dim), dtype=np.float32))
    a = torch.zeros(32, 2)

    def learned_pi(scale: float, relative: bool) -> np.ndarray:
        hp = HyperParams(mixed_levels=4, mixed_temperature=temperature if relative else 0.02, hidden_sizes=(8,), lr_actor=1e-2,
                         mixed_temperature_relative=relative)
        g = MixedJointGroup(1, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0), sigmoid=False)
        g.critic = TableCritic(q * scale, obs_dim)
        for _ in range(1500):
            g.actor_opt.zero_grad()
            g.actor_loss(x, a).backward(inputs=list(g.actor.parameters()))
            g.actor_opt.step()
        return g.probabilities(g._own_inputs(x).numpy())[0]

    z = q / (temperature * q.std())
    want = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    for scale in (1.0, 1000.0):
        np.testing.assert_allclose(learned_pi(scale, True), np.broadcast_to(want, (32, 4)), atol=0.01)
    assert learned_pi(1000.0, False)[:, 2].min() > 0.97  # T = 0.02 reward units against values 1000x larger


def test_draws_follow_the_policy_repeat_for_the_same_observation_and_differ_between_agents():
    hp = HyperParams(mixed_levels=5, hidden_sizes=(8,))
    g = MixedJointGroup(3, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(1), sigmoid=False)
    inputs = np.random.default_rng(0).random((3, 4000, g.features.actor_dim), dtype=np.float32) * 4
    a = g._forward_numpy(inputs)
    np.testing.assert_array_equal(a, g._forward_numpy(inputs))  # a function of the observation
    np.testing.assert_allclose(a, g.policy(g.actor, torch.from_numpy(inputs)).numpy(), atol=1e-6)  # torch path draws alike
    assert set(np.unique(a[..., 0])) <= set(np.linspace(0, 1, 5))
    pi = g.probabilities(inputs)  # (3, 4000, 5)
    freq = np.stack([(np.isclose(a[..., 0], lv)).mean(1) for lv in np.linspace(0, 1, 5)], 1)
    np.testing.assert_allclose(freq, pi.mean(1), atol=0.025)  # 4000 draws: ~0.008 standard error
    # the same input row gives agents independent draws; a responder (agents = [2]) draws as agent 2 did
    same = np.broadcast_to(inputs[:1, :200], (3, 200, inputs.shape[-1]))
    u = hashed_uniforms(same, np.arange(3))
    assert not np.allclose(u[0], u[1])
    np.testing.assert_array_equal(hashed_uniforms(same[2:], np.array([2])), u[2:])
    assert 0.4 < u.mean() < 0.6


def _pennies(team, rng, levels):
    """One hour of matching pennies between prices: agent 0 earns 1 when both draw the same level
    (0 or 1), agent 1 earns 1 when they differ. The only equilibrium is 50/50 each."""
    from types import SimpleNamespace
    obs = np.column_stack([np.full(2, 5.0), np.full(2, 1.0), np.zeros(2)]) + rng.normal(0, 0.01, (2, 3))
    act = team.act("s", obs, np.arange(2))
    up = np.round(act[:, 0])
    same = float(up[0] == up[1])
    rew = np.array([same, 1.0 - same])
    return SimpleNamespace(observations={"s": obs}, actions={"s": act}, rewards={"r": rew},
                           records={"s": SimpleNamespace(collective=None)}), up


def _train_pennies(group_class, hp):
    role = RoleSpec("r", "s", 2, FEATURES, ActionSpec(("up", "dn"), (0.0, 0.0), (1.0, 1.0)))
    group = group_class(2, Features(FEATURES), 2, hp, torch.device("cpu"), torch.Generator().manual_seed(0), sigmoid=False)
    team = Team([Slot("g", role, group, updates=2)], hp, seed=0)
    rng = np.random.default_rng(0)
    team.explore = True
    for _ in range(hp.episodes):
        team.remember(_pennies(team, rng, 2)[0], last=True)
        team.end_episode()
    team.explore = False
    return np.array([_pennies(team, rng, 2)[1] for _ in range(400)])  # (hours, 2): each agent's level, 0 or 1


def _nash_conv(ups: np.ndarray) -> float:
    """Summed gain of each agent's best pure deviation over what it earned in these hours (NashConv)."""
    same = (ups[:, 0] == ups[:, 1]).mean()
    p, q = ups.mean(0)  # each agent's frequency of level 1
    return (max(q, 1 - q) - same) + (max(p, 1 - p) - (1 - same))


def test_mixed_actors_learn_the_mixed_equilibrium_of_matching_pennies_where_deterministic_ones_cannot():
    hp = HyperParams(mixed_levels=2, mixed_temperature=0.3, hidden_sizes=(16,), lr_actor=1e-3, lr_critic=3e-3,
                     batch_size=64, gamma=0.0, reward_scale=1.0, buffer_size=2000, noise_sigma0=0.1,
                     noise_sigma_final=0.01, episodes=1500)
    ups = _train_pennies(MixedJointGroup, hp)
    np.testing.assert_allclose(ups.mean(0), 0.5, atol=0.1)  # each agent's level-1 frequency over 400 hours
    assert _nash_conv(ups) < 0.2
    # a deterministic actor plays a pure action, and one of the two can always gain by switching
    assert _nash_conv(_train_pennies(JointGroup, hp)) > 0.9


def test_a_mixed_team_saves_loads_and_gets_a_responder_that_draws_as_it_did(tmp_path):
    from agents.learning.checkpoint import load_policy, save_policy
    from model.designs.arbitrage import LEM_OBSERVATION, LFM_OBSERVATION, WITHHOLD
    flex = ActionSpec(("up_eur_mwh", "dn_eur_mwh"), (0.0, 0.0), (1000.0, 1000.0))
    roles = [RoleSpec("primary", "lem", 4, LEM_OBSERVATION, WITHHOLD), RoleSpec("secondary", "lfm", 4, LFM_OBSERVATION, flex)]
    hp = HyperParams(mixed_levels=11, hidden_sizes=(8,))
    team = hmaddpg(roles, hp, seed=2)
    assert [type(s.group) for s in team.slots] == [JointGroup, MixedJointGroup]
    obs = np.random.default_rng(0).random((4, len(LFM_OBSERVATION))) * 3
    shared = [i for i, f in enumerate(LFM_OBSERVATION) if f.kind != OWN]
    obs[:, shared] = obs[0, shared]  # the market's shared observations are every aggregator's
    rows = np.arange(4)
    bids = team.act("lfm", obs, rows)
    assert set(np.round(bids[:, 0], 6)) <= set(np.round(np.linspace(0, 1000, 11), 6))
    save_policy(tmp_path, team, {"roles": [r.to_dict() for r in roles], "hyperparams": hp.to_dict(),
                                 "learner": team.kind, "seed": 2})
    loaded, _ = load_policy(tmp_path)
    np.testing.assert_array_equal(loaded.act("lfm", obs, rows), bids)
    responder = best_responder(team, {"primary": 2, "secondary": 2}, hp, seed=5)
    assert isinstance(responder.slots[1].group, MixedJointGroup)
    np.testing.assert_array_equal(responder.act("lfm", obs[2:3], np.array([2])), bids[2:3])
