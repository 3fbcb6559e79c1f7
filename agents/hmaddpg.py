"""HMADDPG: hierarchical multi-agent DDPG bidders (paper Sec. III-B, Algorithm 1), in torch.

Every aggregator n has two sub-agents, each with an actor, a centralised critic, target copies of
both, and a replay buffer:

    primary   (stage 1, LEM)   actor  mu1_n(o1_n) -> a1_n = withholding fraction in [0, 1]
                               critic Q1_n(x1, a1_1..a1_N)      x1 = joint LEM observation
    secondary (stage 2, LFM)   actor  mu2_n(o2_n) -> a2_n = (up, down) price / flex_price_max
                               critic Q2_n(x2, a2_1..a2_N)      x2 = joint LFM observation

The N sub-agents of one stage form one MADDPG (`StageLearner`). HMADDPG is the two stages plus
the reward wiring of (25), the only difference between the two kinds of aggregator:

    stand-alone n:  primary learns from r1_n            -> two independent MADDPGs
    arbitrage n:    primary learns from r1_n + r2_n     (the model's `HourResult.r_primary`)
    every secondary learns from r2_n

Update of one stage (paper (26)-(31)), for every sub-agent n at once:

    y_n    = s * r_n + gamma * (1 - done) * Q'_n(x', mu'_1(o'_1), ..., mu'_N(o'_N))   s = reward_scale
    critic: minimise SmoothL1(Q_n(x, a), y_n)
    actor:  maximise Q_n(x, a_1, .., mu_n(o_n), .., a_N) - actor_reg * z_n^2   (others' actions from the
            buffer; z = the actor's raw output; actor_reg is 0 by default, see HyperParams)
    bounds: mu_n = clip(0.5 + z_n, 0, 1) with inverted gradients at the bounds, or sigmoid(z_n); by default
            sigmoid primaries and inverted-gradient secondaries (HyperParams.actor_output)
    targets: theta' <- tau * theta + (1 - tau) * theta'

Speed: the N actors (and the N critics) of a stage are one module whose weights carry a leading
agent axis, (N, in, out), evaluated with `torch.baddbmm`: one forward per stage per hour.

Observations are normalised here with fixed scales (the model hands over raw units):
    hour of week h  -> sin, cos(2 pi h / 24), sin, cos(2 pi h / 168)
    prices          -> euro/MWh / 100
    powers          -> MW as they are (0..~2 MW on this feeder)
Features shared by all aggregators (time, prices) appear once in the joint observation x; each
aggregator's own features (LEM: net generation; LFM: P^sch, up and down capacity) follow in
aggregator order. An actor sees the shared features and its own ones, as the paper's o1_n, o2_n.

Replay buffer: every sub-agent of a stage stores the same joint transition, so the N per-agent
buffers of the paper would hold identical records; one `ReplayBuffer` per stage holds them once
(sub-agent n's reward in column n), and one uniform mini-batch per update serves all N sub-agents.
The episode is one week; the next state of hour t is hour t + 1. The week's last hour has no
successor in the episode and is stored as terminal (target y = s * r): 1 of 168 transitions.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from scipy.special import expit
from torch import nn
from torch.nn import functional as F

from agents.brains import MIN_FLEX_PRICE_EUR_MWH, OBS1, OBS2

ACTOR_OUTPUTS = ("inverting-gradients", "sigmoid", "sigmoid-primary")  # HyperParams.actor_output
PRICE_SCALE_EUR_MWH = 100.0  # observation scale for prices
HOURS_PER_DAY, HOURS_PER_WEEK = 24, 168


@dataclass(frozen=True)
class HyperParams:
    """HMADDPG hyperparameters: the paper's values where it gives them (Sec. IV-A), else
    *reconstructed* (its extracted text lost them, or it never says): common MADDPG defaults or
    values measured here, each labelled. `runs/study.py` profiles may change reconstructed ones."""

    # --- paper, Sec. IV-A -------------------------------------------------------------------
    gamma: float = 0.99  # no action changes the next observation here, so any gamma has the same optimal policies;
    # 0 spares the critics from fitting future rewards (the quick profile uses it: runs/study.py)
    batch_size: int = 35
    updates_per_episode: int = 5
    tau: float = 0.001
    noise_sigma0: float = 0.3  # std of the Gaussian exploration noise, in normalised action units [0, 1]
    episodes: int = 5000
    # --- reconstructed ----------------------------------------------------------------------
    buffer_size: int = 100_000  # common MADDPG default (spec)
    lr_actor: float = 1e-4  # common MADDPG default (spec)
    lr_critic: float = 1e-3  # common MADDPG default (spec)
    noise_sigma_final: float = 0.01  # sigma after the last episode; fixes the paper's per-episode decay factor
    hidden_sizes: tuple[int, ...] = (64, 64)  # two ReLU layers for every actor and critic
    reward_scale: float = 0.001  # euro -> learning units. Measured: with 0.01, TD errors in hours of LFM
    # rents (hundreds of euro) fall in Smooth L1's linear zone, the critic fits a median and aggregator
    # 5's one-arb test score halved (600-episode runs); 0.001 keeps most errors in the quadratic zone.
    actor_output: str = "sigmoid-primary"  # how an actor's raw output z becomes an action in [0, 1]:
    # "inverting-gradients" (a = clip(0.5 + z, 0, 1), policy gradient scaled by the distance to the bound it
    # points at, reversed beyond it: Hausknecht & Stone 2016, ICLR, "Deep RL in parameterized action space")
    # or "sigmoid" (a = sigmoid(z), runs written before this field existed), or "sigmoid-primary" (sigmoid
    # primaries, inverted-gradient secondaries). The paper does not say.
    # Measured with the sigmoid (quick study, 6 seeds): 86-96 % of test-week bids and withholdings sat
    # within 1 % of a bound, where sigmoid'(z) ~ 0 and the critic can no longer move them. Inverted gradients
    # everywhere: prices interior, but stand-alone primaries approach "withhold nothing" (a bound, their optimum)
    # slowly. "sigmoid-primary" (3 seeds): S-a aggregator 5 first stage -0.0 (inverted: -12.8), regrets
    # 52/34/33 % (inverted 56/36/32, sigmoid 61/37/47), 12-15 % of up bids at a bound (sigmoid 86 %).
    actor_reg: float = 0.0  # optional penalty on the actors' squared raw outputs z (the original MADDPG
    # code uses 1e-3 with unscaled rewards). It pulls every action toward 0.5 wherever the critic's gradient is
    # weak. Measured with the quick profile (800 episodes, 2 seeds, `localmarl study --set actor_reg=X`):
    # 1e-4 -> S-a aggregator 5 still withholds (first stage -50..-93 euro/week; paper ~0), one-arb beats S-a
    # for aggregator 5 in 1 of 2 seeds; 0 -> first stage -0.0, one-arb beats S-a in 2 of 2 seeds (gap +632,
    # paper +690). 1e-3 was worse still (-302 euro/week, 600-episode runs).

    def __post_init__(self):
        if self.actor_output not in ACTOR_OUTPUTS:
            raise ValueError(f"actor_output {self.actor_output!r}: use one of {ACTOR_OUTPUTS}")

    def sigmoid_actor(self, stage: str) -> bool:
        """Whether the actors of `stage` ("primary" or "secondary") squash with a sigmoid (else
        inverted gradients): the one place that reads `actor_output`."""
        return self.actor_output == "sigmoid" or (self.actor_output == "sigmoid-primary" and stage == "primary")

    @property
    def noise_decay(self) -> float:
        """Factor that multiplies sigma after each episode (paper: decayed by a factor per episode)."""
        return (self.noise_sigma_final / self.noise_sigma0) ** (1.0 / max(self.episodes, 1))

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "HyperParams":
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown hyperparameter(s) {sorted(unknown)}; valid: {sorted(names)}")
        d = dict(d)
        d.setdefault("actor_output", "sigmoid")  # metadata written before the field existed
        if "hidden_sizes" in d:
            d["hidden_sizes"] = tuple(int(x) for x in d["hidden_sizes"])
        return cls(**d)

    def with_overrides(self, pairs: list[str] | None) -> "HyperParams":
        """Apply `name=value` strings (from the command line)."""
        out = self.to_dict()
        for pair in pairs or []:
            name, sep, value = pair.partition("=")
            if not sep or name not in out:
                raise ValueError(f"--set {pair!r}: use NAME=VALUE with NAME one of {sorted(out)}")
            current = out[name]
            if isinstance(current, list):
                out[name] = [int(x) for x in value.split(",")]
            elif isinstance(current, str):
                out[name] = value
            else:
                out[name] = type(current)(float(value)) if isinstance(current, int) else float(value)
        return HyperParams.from_dict(out)


# ---------------------------------------------------------------------------------------------
# observations -> features
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StageFeatures:
    """How one stage's raw observation (n, len(cols)) becomes the joint x and the actors' inputs."""

    cols: tuple[str, ...]  # OBS1 or OBS2
    shared_prices: tuple[str, ...]  # price columns (same for every aggregator), scaled by 1/100
    own: tuple[str, ...]  # per-aggregator columns in MW
    N_TIME: ClassVar[int] = 4  # sin, cos of the hour of day and of the hour of week

    def __post_init__(self):
        assert self.cols[0] == "hour_of_week"
        object.__setattr__(self, "_price_cols", [self.cols.index(c) for c in self.shared_prices])
        object.__setattr__(self, "_own_cols", [self.cols.index(c) for c in self.own])

    @property
    def n_shared(self) -> int:
        return self.N_TIME + len(self.shared_prices)

    def joint_dim(self, n_agents: int) -> int:
        return self.n_shared + n_agents * len(self.own)

    @property
    def actor_dim(self) -> int:
        return self.n_shared + len(self.own)

    @functools.lru_cache(maxsize=8)
    def actor_index(self, n_agents: int) -> np.ndarray:
        """(n_agents, actor_dim) positions in x of each actor's input."""
        k = len(self.own)
        shared = np.arange(self.n_shared)
        return np.stack([np.concatenate([shared, self.n_shared + n * k + np.arange(k)]) for n in range(n_agents)])

    def joint(self, obs: np.ndarray) -> np.ndarray:
        """Raw (n, len(cols)) -> normalised joint observation x, (joint_dim,) float32."""
        x = np.empty(self.joint_dim(len(obs)), np.float32)
        x[: self.N_TIME] = time_features(float(obs[0, 0]))  # hour_of_week is column 0 of OBS1 and OBS2
        x[4:self.n_shared] = obs[0, self._price_cols] / PRICE_SCALE_EUR_MWH
        x[self.n_shared:] = obs[:, self._own_cols].ravel()
        return x

    def actor_inputs(self, obs: np.ndarray) -> np.ndarray:
        """Raw (n, len(cols)) -> (n, actor_dim): shared features + own features, per row."""
        return self.joint(obs)[self.actor_index(len(obs))]


@functools.lru_cache(maxsize=HOURS_PER_WEEK)
def time_features(hour_of_week: float) -> tuple[float, float, float, float]:
    """sin, cos of the hour of day and of the hour of week."""
    d, w = 2 * math.pi * hour_of_week / HOURS_PER_DAY, 2 * math.pi * hour_of_week / HOURS_PER_WEEK
    return math.sin(d), math.cos(d), math.sin(w), math.cos(w)


LEM_FEATURES = StageFeatures(OBS1, ("import_eur_mwh", "export_eur_mwh"), ("net_generation_mw",))
LFM_FEATURES = StageFeatures(OBS2, ("imb_long_eur_mwh", "imb_short_eur_mwh"), ("p_sched_mw", "up_cap_mw", "dn_cap_mw"))


# ---------------------------------------------------------------------------------------------
# networks with a leading agent axis
# ---------------------------------------------------------------------------------------------
class StackedLinear(nn.Module):
    """N independent linear layers: x (N, batch, in) -> (N, batch, out). Init as `nn.Linear`."""

    def __init__(self, n_agents: int, in_features: int, out_features: int, generator: torch.Generator | None = None):
        super().__init__()
        bound = 1.0 / math.sqrt(in_features)
        self.weight = nn.Parameter(torch.empty(n_agents, in_features, out_features).uniform_(-bound, bound, generator=generator))
        self.bias = nn.Parameter(torch.empty(n_agents, 1, out_features).uniform_(-bound, bound, generator=generator))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.baddbmm(self.bias, x, self.weight)


class StackedMLP(nn.Module):
    """N independent MLPs (ReLU hidden layers) evaluated in one call: (N, batch, in) -> (N, batch, out)."""

    def __init__(self, n_agents: int, sizes: list[int], squash: bool, generator: torch.Generator | None = None):
        super().__init__()
        self.layers = nn.ModuleList(StackedLinear(n_agents, a, b, generator) for a, b in zip(sizes[:-1], sizes[1:]))
        self.squash = squash  # sigmoid output in [0, 1] (actors)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """The output before the squashing sigmoid."""
        *hidden, last = [(layer.weight, layer.bias) for layer in self.layers]
        for w, b in hidden:
            x = torch.relu(torch.baddbmm(b, x, w))
        return torch.baddbmm(last[1], x, last[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.logits(x)
        return torch.sigmoid(z) if self.squash else z


# ---------------------------------------------------------------------------------------------
# replay buffer
# ---------------------------------------------------------------------------------------------
class ReplayBuffer:
    """Circular buffer of one stage's joint transitions. Record i holds (x_t, a_t, r_t, done_t);
    the next observation x_{t+1} is record i + 1 (read only where done_t is false)."""

    FIELDS = ("obs", "act", "rew", "done")

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, n_agents: int):
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.act = np.zeros((capacity, act_dim), np.float32)
        self.rew = np.zeros((capacity, n_agents), np.float32)
        self.done = np.zeros(capacity, np.float32)
        self.ptr = 0  # next slot to write
        self.size = 0

    def add(self, obs, act, rew, done: bool):
        i = self.ptr
        self.obs[i], self.act[i], self.rew[i], self.done[i] = obs, act, rew, float(done)
        self.ptr = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def n_valid(self) -> int:
        """Records whose next observation is stored (the newest one only if it is terminal)."""
        newest = (self.ptr - 1) % self.capacity
        return self.size - (self.size > 0 and self.done[newest] == 0.0)

    def sample_indices(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        """(batch,) uniform draws among the records whose next observation is stored."""
        k = rng.integers(0, self.n_valid(), size=batch)
        oldest = self.ptr if self.size == self.capacity else 0
        return (oldest + k) % self.capacity

    def state_dict(self) -> dict[str, torch.Tensor]:
        n = self.size
        return {
            **{f: torch.from_numpy(getattr(self, f)[:n].copy()) for f in self.FIELDS},
            "ptr": torch.tensor(self.ptr), "size": torch.tensor(n), "capacity": torch.tensor(self.capacity),
        }

    def load_state_dict(self, sd: dict[str, torch.Tensor]):
        if int(sd["capacity"]) != self.capacity:
            raise ValueError(f"replay buffer capacity {int(sd['capacity'])} in checkpoint != {self.capacity}")
        n = int(sd["size"])
        for f in self.FIELDS:
            getattr(self, f)[:n] = sd[f].numpy()
        self.ptr, self.size = int(sd["ptr"]), n


# ---------------------------------------------------------------------------------------------
# one stage = one MADDPG
# ---------------------------------------------------------------------------------------------
class StageLearner:
    """The N sub-agents of one stage: stacked actors, critics, targets, Adam, one replay buffer."""

    def __init__(self, n_agents: int, features: StageFeatures, act_dim: int, hp: HyperParams, device: torch.device,
                 generator: torch.Generator | None = None, stage: str = "primary"):
        self.n, self.act_dim, self.features, self.hp, self.device = n_agents, act_dim, features, hp, device
        obs_dim = features.joint_dim(n_agents)
        self.sigmoid = hp.sigmoid_actor(stage)  # else inverted gradients
        self.actor = StackedMLP(n_agents, [features.actor_dim, *hp.hidden_sizes, act_dim], self.sigmoid, generator).to(device)
        self.critic = StackedMLP(n_agents, [obs_dim + n_agents * act_dim, *hp.hidden_sizes, 1], False, generator).to(device)
        self.actor_target = copy.deepcopy(self.actor)
        self.critic_target = copy.deepcopy(self.critic)
        fused = device.type in ("cpu", "cuda")
        self.actor_opt = torch.optim.Adam(self.actor.parameters(), lr=hp.lr_actor, fused=fused)
        self.critic_opt = torch.optim.Adam(self.critic.parameters(), lr=hp.lr_critic, fused=fused)
        self.buffer = ReplayBuffer(hp.buffer_size, obs_dim, n_agents * act_dim, n_agents)
        self.actor_index = torch.as_tensor(features.actor_index(n_agents), device=device)  # (N, actor_dim)
        self.own_slot = torch.eye(n_agents, dtype=torch.bool, device=device)[:, None, :, None]  # (N, 1, N, 1)
        self._np_actor = ([(layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in self.actor.layers]
                          if device.type == "cpu" else None)  # views of the live parameters, for `act`

    def act(self, actor_inputs: np.ndarray) -> np.ndarray:
        """(N, actor_dim) -> (N, act_dim) deterministic actions in [0, 1], all actors in one call.

        On the CPU the forward pass runs in numpy on arrays that share memory with the actor's
        parameters (Adam and `load_state_dict` update them in place): for one observation per hour
        this is ~2x faster than a torch call; tests check it equals the torch forward."""
        if self._np_actor is None:
            with torch.inference_mode():
                x = torch.from_numpy(actor_inputs).to(self.device).unsqueeze(1)
                return self.policy(self.actor, x)[:, 0].cpu().numpy()
        *hidden, (w, b) = self._np_actor
        x = actor_inputs[:, None, :]
        for wh, bh in hidden:
            x = np.maximum(x @ wh + bh, 0.0)
        z = (x @ w + b)[:, 0]
        return expit(z) if self.sigmoid else np.clip(z + 0.5, 0.0, 1.0)  # expit: no overflow warnings

    def policy(self, actor: "StackedMLP", inputs: torch.Tensor) -> torch.Tensor:
        """Actions in [0, 1] of `actor` (the actor or its target) for inputs (N, B, actor_dim)."""
        out = actor(inputs)  # already squashed when sigmoid
        return out if self.sigmoid else (out + 0.5).clamp(0.0, 1.0)

    def _batch(self, idx: np.ndarray):
        b, dev = self.buffer, self.device
        t = lambda a: torch.from_numpy(a).to(dev)  # noqa: E731
        return t(b.obs[idx]), t(b.act[idx]), t(b.rew[idx].T.copy()), t(b.done[idx]), t(b.obs[(idx + 1) % b.capacity])

    def _own_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Joint observations (B, obs) -> every actor's own input (N, B, actor_dim)."""
        return x[:, self.actor_index].transpose(0, 1)

    def _critic_input(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """(B, obs), (B or N, B, N*act) -> (N, B, obs + N*act): every critic sees the joint x and a."""
        if a.dim() == 2:
            a = a.expand(self.n, *a.shape)
        return torch.cat([x.expand(self.n, *x.shape), a], -1)

    def update(self, rng: np.random.Generator) -> dict[str, float]:
        """One gradient step for every sub-agent of this stage (paper (28)-(31)) and soft targets ((26)-(27)).

        One uniform mini-batch of the (identical) per-agent buffers serves all N sub-agents: each
        sub-agent's batch is still uniform; sharing the draw only correlates the updates of
        sub-agents whose parameters are disjoint, and makes the target actions 10x cheaper.
        """
        hp = self.hp
        if self.buffer.n_valid() < hp.batch_size:
            return {}
        idx = self.buffer.sample_indices(rng, hp.batch_size)
        x, a, r, done, x_next = self._batch(idx)  # r: (N, B), sub-agent n's own reward in row n

        # critic: Smooth L1 on the TD error (summed over sub-agents of each one's batch mean)
        with torch.no_grad():
            y = hp.reward_scale * r
            if hp.gamma:  # gamma = 0: the target is the reward alone, no target networks to evaluate
                a_next = self.policy(self.actor_target, self._own_inputs(x_next))  # (N, B, act): mu'_k(o'_k)
                a_next = a_next.transpose(0, 1).reshape(len(idx), self.n * self.act_dim)
                q_next = self.critic_target(self._critic_input(x_next, a_next))[..., 0]
                y = y + hp.gamma * (1.0 - done) * q_next
        q = self.critic(self._critic_input(x, a))[..., 0]
        critic_loss = F.smooth_l1_loss(q, y, reduction="none").mean(1).sum()
        self.critic_opt.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_opt.step()

        # actor: deterministic policy gradient; only sub-agent n's own action is replaced by mu_n(o_n)
        actor_loss = self.actor_loss(x, a)
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward(inputs=list(self.actor.parameters()))
        self.actor_opt.step()

        soft_update(self.actor_target, self.actor, hp.tau)
        soft_update(self.critic_target, self.critic, hp.tau)
        return {"critic_loss": critic_loss.item() / self.n}

    def actor_loss(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """Loss whose gradient in the actors' parameters is the policy gradient of (31), summed over
        sub-agents: -dQ_n/da_n (batch mean) through mu_n, where a_n = mu_n(o_n) replaces sub-agent n's
        own action in the stored joint actions `a` (B, N*act) and every critic sees its own version.

        Sigmoid actors: backpropagate -Q directly. Inverting gradients: the critic sees the action
        clipped to [0, 1], and dQ/da is scaled by (1 - a) where it asks for more and by a where it asks
        for less, so the step shrinks toward the bound it points at and turns back beyond it.
        """
        hp, batch = self.hp, len(x)
        z = self.actor.logits(self._own_inputs(x))  # (N, B, act)
        raw = z + 0.5
        mu = torch.sigmoid(z) if self.sigmoid else raw.detach().clamp(0.0, 1.0).requires_grad_(True)
        a_joint = a.view(1, batch, self.n, self.act_dim)
        a_joint = torch.where(self.own_slot, mu[:, :, None, :], a_joint).reshape(self.n, batch, -1)
        q = self.critic(self._critic_input(x, a_joint))[..., 0].mean(1).sum()
        if self.sigmoid:
            loss = -q
        else:
            (dq_da,) = torch.autograd.grad(q, mu)
            p = raw.detach()
            dq_da = torch.where(dq_da > 0, dq_da * (1.0 - p), dq_da * p)  # Hausknecht & Stone (2016), bounds [0, 1]
            loss = -(raw * dq_da).sum()  # its gradient in raw is -dq_da
        if hp.actor_reg:
            loss = loss + hp.actor_reg * z.square().mean((1, 2)).sum()  # pulls actions toward 0.5 (off by default)
        return loss

    # --- (de)serialisation -------------------------------------------------------------------
    NETS = ("actor", "critic", "actor_target", "critic_target")

    def policy_state(self) -> dict:
        return {k: getattr(self, k).state_dict() for k in self.NETS}

    def training_state(self) -> dict:
        return {
            **self.policy_state(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "buffer": self.buffer.state_dict(),
        }

    def load(self, state: dict):
        for k in self.NETS:
            getattr(self, k).load_state_dict(state[k])
        if "actor_opt" in state:
            self.actor_opt.load_state_dict(state["actor_opt"])
            self.critic_opt.load_state_dict(state["critic_opt"])
            self.buffer.load_state_dict(state["buffer"])


@torch.no_grad()
def soft_update(target: nn.Module, source: nn.Module, tau: float):
    """theta' <- tau * theta + (1 - tau) * theta'  (paper (26)-(27))."""
    torch._foreach_lerp_(list(target.parameters()), list(source.parameters()), tau)


# ---------------------------------------------------------------------------------------------
# the brain the model calls
# ---------------------------------------------------------------------------------------------
class HMADDPGBrain:
    """Brain for all aggregators of a scenario: a primary (LEM) and a secondary (LFM) sub-agent each.

    `explore=True` adds Gaussian noise (std `sigma`, normalised units) to the actions (32);
    `remember(h)` stores a cleared hour; `end_episode()` runs the paper's updates per episode and
    decays sigma. With `explore=False` it is a fixed policy (evaluation, the app, best response).
    """

    name = "hmaddpg"

    def __init__(self, n_agents: int, arbitrage_mask, flex_price_max_eur_mwh: float,
                 hp: HyperParams = HyperParams(), seed: int = 0, device: str | torch.device = "cpu"):
        self.n = n_agents
        self.arbitrage_mask = np.asarray(arbitrage_mask, dtype=bool)
        if self.arbitrage_mask.shape != (n_agents,):
            raise ValueError(f"arbitrage_mask must have shape ({n_agents},), got {self.arbitrage_mask.shape}")
        self.price_max = float(flex_price_max_eur_mwh)
        self.hp = hp
        self.device = resolve_device(device)
        init = torch.Generator().manual_seed(seed)  # network initialisation, independent of torch's global RNG
        self.primary = StageLearner(n_agents, LEM_FEATURES, 1, hp, self.device, init, "primary")
        self.secondary = StageLearner(n_agents, LFM_FEATURES, 2, hp, self.device, init, "secondary")
        self.rng = np.random.default_rng(seed)  # exploration noise and mini-batches
        self.sigma = hp.noise_sigma0
        self.explore = False

    # --- Brain interface (the model calls these once per stage per hour) -------------------
    def _policy(self, stage: StageLearner, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if len(rows) == self.n:
            inputs = stage.features.actor_inputs(obs)
        else:  # a subset of aggregators (e.g. another brain plays one of them)
            inputs = np.zeros((self.n, stage.features.actor_dim), np.float32)
            inputs[rows] = stage.features.actor_inputs(obs)
        u = stage.act(inputs)[rows]
        if self.explore:
            u = np.clip(u + self.rng.normal(0.0, self.sigma, u.shape), 0.0, 1.0)
        return u

    def act_lem(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self._policy(self.primary, obs, rows)[:, 0].astype(float)

    def act_lfm(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        u = self._policy(self.secondary, obs, rows).astype(float)
        return np.clip(u * self.price_max, MIN_FLEX_PRICE_EUR_MWH, self.price_max)

    # --- learning ----------------------------------------------------------------------------
    def remember(self, h, last: bool):
        """Store cleared hour `h` (a `model.HourResult`) in both stages' buffers; `last` = end of episode.

        Rewards: primary <- h.r_primary (r1, or r1 + r2 for arbitrage aggregators), secondary <- h.r2.
        Actions stored are those the model applied, in normalised units.
        """
        self.primary.buffer.add(LEM_FEATURES.joint(h.obs_lem), h.withhold, h.r_primary, last)
        self.secondary.buffer.add(LFM_FEATURES.joint(h.obs_lfm), (h.flex_bid_eur_mwh / self.price_max).ravel(), h.r2, last)

    def end_episode(self) -> dict[str, float]:
        """The paper's updates per episode for both stages, then sigma *= decay factor."""
        stats: dict[str, float] = {}
        for _ in range(self.hp.updates_per_episode):
            for tag, stage in (("primary", self.primary), ("secondary", self.secondary)):
                for k, v in stage.update(self.rng).items():
                    stats[f"{tag}_{k}"] = v
        self.sigma *= self.hp.noise_decay
        return stats

    # --- state ------------------------------------------------------------------------------
    def policy_state(self) -> dict:
        return {"primary": self.primary.policy_state(), "secondary": self.secondary.policy_state()}

    def training_state(self) -> dict:
        return {"primary": self.primary.training_state(), "secondary": self.secondary.training_state()}

    def load_state(self, state: dict):
        self.primary.load(state["primary"])
        self.secondary.load(state["secondary"])


def resolve_device(device: str | torch.device) -> torch.device:
    """`auto` -> CUDA when present, else CPU."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available here; use --device cpu or auto")
    return torch.device(device)
