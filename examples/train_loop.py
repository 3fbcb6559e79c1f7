"""How a MARL learner trains on the PettingZoo env: a plain loop, CleanRL style.

Every env step is one market stage, so an agent's own transition runs from a step where it acts
(`infos[agent]["acting"]`) to its next one, and its reward is all it received in between
(primary: r1 on the LEM step plus, if it arbitrages, r2 on the LFM step; secondary: r2).
`agent_transitions` turns the env's steps into those transitions; any learner can consume them.
The one here is a sketch: independent DDPG with one actor and one critic per role, shared by the
ten aggregators of that role; a few episodes, no tuning. Run from the repository root:

    python examples/train_loop.py
"""

import copy

import numpy as np
import torch
from torch import nn

from model.env import parallel_env


def agent_transitions(env, act, seed):
    """Play one episode; yield (agent, obs, action, reward, next_obs, truncated) per acting step."""
    obs, infos = env.reset(seed=seed)
    pending = {}  # agent -> [obs, action, reward so far]
    while env.agents:
        actions = {a: act(a, obs[a]) for a in env.agents if infos[a]["acting"]}
        for a, x in actions.items():
            pending[a] = [obs[a], x, 0.0]
        next_obs, rewards, terminations, truncations, next_infos = env.step(actions)
        for a, r in rewards.items():
            if a in pending:
                pending[a][2] += r
        for a in list(pending):
            if truncations[a] or next_infos[a]["acting"]:
                o, x, r = pending.pop(a)
                yield a, o, x, r, next_obs[a], truncations[a]
        obs, infos = next_obs, next_infos


class RoleDDPG:
    """One actor and critic for all agents of a role; observations and actions scaled to ~[0, 1]."""

    def __init__(self, obs_space, act_space, reward_scale=1e-2, gamma=0.99, tau=0.01, sigma=0.3):
        high = obs_space.high
        self.obs_scale = torch.tensor(np.where(np.isfinite(high), np.abs(high), 100.0), dtype=torch.float32)
        self.low, self.high = torch.tensor(act_space.low), torch.tensor(act_space.high)
        n_obs, n_act = obs_space.shape[0], act_space.shape[0]
        self.actor = nn.Sequential(nn.Linear(n_obs, 64), nn.ReLU(), nn.Linear(64, n_act), nn.Sigmoid())
        self.critic = nn.Sequential(nn.Linear(n_obs + n_act, 64), nn.ReLU(), nn.Linear(64, 1))
        self.actor_target, self.critic_target = copy.deepcopy(self.actor), copy.deepcopy(self.critic)
        self.opt_actor = torch.optim.Adam(self.actor.parameters(), lr=1e-4)
        self.opt_critic = torch.optim.Adam(self.critic.parameters(), lr=1e-3)
        self.reward_scale, self.gamma, self.tau, self.sigma = reward_scale, gamma, tau, sigma
        self.buffer = []  # (obs, action, reward, next_obs)

    def act(self, obs, explore=True):
        with torch.no_grad():
            a01 = self.actor(torch.as_tensor(obs) / self.obs_scale)
        if explore:
            a01 = (a01 + self.sigma * torch.randn_like(a01)).clamp(0.0, 1.0)
        return (self.low + a01 * (self.high - self.low)).numpy()

    def update(self, batch_size=64):
        batch = [self.buffer[i] for i in np.random.randint(len(self.buffer), size=batch_size)]
        o, a, r, o2 = (torch.as_tensor(np.array(x), dtype=torch.float32) for x in zip(*batch))
        o, o2 = o / self.obs_scale, o2 / self.obs_scale
        a01, r = (a - self.low) / (self.high - self.low), r[:, None] * self.reward_scale
        with torch.no_grad():  # the week's end is a time limit: bootstrap there too
            y = r + self.gamma * self.critic_target(torch.cat([o2, self.actor_target(o2)], 1))
        critic_loss = nn.functional.smooth_l1_loss(self.critic(torch.cat([o, a01], 1)), y)
        self.opt_critic.zero_grad()
        critic_loss.backward()
        self.opt_critic.step()
        actor_loss = -self.critic(torch.cat([o, self.actor(o)], 1)).mean()
        self.opt_actor.zero_grad()
        actor_loss.backward()
        self.opt_actor.step()
        for net, target in ((self.actor, self.actor_target), (self.critic, self.critic_target)):
            for p, tp in zip(net.parameters(), target.parameters()):
                tp.data.mul_(1 - self.tau).add_(self.tau * p.data)


if __name__ == "__main__":
    torch.set_num_threads(1)  # tiny networks: threads only add overhead
    torch.manual_seed(0)
    np.random.seed(0)
    env = parallel_env(scenario="one-arb", weeks="train")
    learners = {role: RoleDDPG(env.observation_space(f"{role}_2"), env.action_space(f"{role}_2"))
                for role in ("primary", "secondary")}

    def role(agent):
        return agent.split("_")[0]

    for episode in range(3):
        week_reward = dict.fromkeys(learners, 0.0)
        for agent, o, a, r, o2, truncated in agent_transitions(env, lambda ag, ob: learners[role(ag)].act(ob), episode):
            learner = learners[role(agent)]
            learner.buffer.append((o, a, r, o2))
            week_reward[role(agent)] += r
            if len(learner.buffer) >= 256 and len(learner.buffer) % 10 == 0:  # ~one update per role and hour
                learner.update()
        print(f"episode {episode} (week {env.model.week}): "
              + ", ".join(f"{k} reward {v:10.2f} €" for k, v in week_reward.items()))
