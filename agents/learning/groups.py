"""Groups of agents that learn together: actors, critics, their targets, Adam, a replay buffer, and
one update step (paper (26)-(31)), for every agent of the group at once.

Two kinds, chosen by the size of the group and what the design gives its critics:

- `JointGroup` (MADDPG, a small group such as the paper's 10 primaries): one actor and one
  centralised critic per agent (stacked networks), every critic seeing the group's joint
  observation and joint action.
- `MemberGroup` (a large group, such as a DER cluster of households): per-member transitions;
  `share=True` gives one actor and one critic for all members, trained on all members' experience
  (parameter sharing), `share=False` one per member (stacked); the critic sees the member's own
  input and action plus, with `critic="collective"`, the hour's collective information the design
  declares (the platform's aggregates; its size does not grow with the group), or nothing else
  with `critic="own"` (independent DDPG learners).

Update of a group (both kinds), with s = reward_scale:

    y      = s * r + gamma * (1 - done) * Q'(next inputs, mu'(next observation))
             with `n_step` = n > 1: s * sum_{k<m} gamma^k r_{t+k} + gamma^m (1 - done_{t+m-1}) Q'(t+m), m <= n steps,
             cut at the episode's end (`ReplayBuffer.n_step_plan`)
    critic: minimise SmoothL1(Q(inputs, a), y)
    actor:  maximise Q(inputs, mu(o)) - actor_reg * z^2    (z = the actor's raw output)
            with `actor_z_max` > 0, sigmoid actors also minimise max(|z| - actor_z_max, 0)^2 (no deep saturation)
            with `action_search` = K > 0, also minimise search_weight * |mu(o) - a*|^2, where a* is the
            critic's best of {mu(o)} and K uniform random actions for the sample (a sampled policy
            improvement step: it can jump to a distant better action the local gradient does not reach)
    bounds: mu = sigmoid(z), or clip(0.5 + z, 0, 1) with inverted gradients at the bounds
            (Hausknecht & Stone 2016): the step toward a bound shrinks with the distance to it
    targets: theta' <- tau * theta + (1 - tau) * theta'; at gamma = 0 no target is read (y = s r), so none
            is updated: a gamma = 0 run's targets stay its initial networks, and its training is the same
    MATD3 options (off by default): `twin_critics` fits a second critic Q2 on the same y and bootstraps
    from min(Q1', Q2'); `target_noise` adds clip(N(0, sigma), -2 sigma, 2 sigma) to mu'(next
    observation) inside y; `policy_delay` = d updates the actors and all targets after every d-th
    critic step only.

Actions inside a group are in [0, 1] per component; the policy maps them to the stage's bounds.
"""

from __future__ import annotations

import copy
import hashlib

import numpy as np
import torch
from scipy.special import expit
from torch.nn import functional as F

from agents.learning.buffers import MemberBuffer, ReplayBuffer, TransitionBuffer
from agents.learning.features import Features
from agents.learning.hyperparams import HyperParams
from agents.learning.networks import StackedMLP, soft_update_params

try:  # numpy's clip ufunc: exactly np.clip's result, without its Python wrapper (~1 us less per call)
    from numpy._core.umath import clip as _clip
except ImportError:  # numpy < 2
    from numpy.core.umath import clip as _clip


NETS = ("actor", "critic", "actor_target", "critic_target")  # every group's networks
TWIN_NETS = ("critic2", "critic2_target")  # a group's second critic, with `HyperParams.twin_critics`


def searched_actions(mu: torch.Tensor, q_many, n_candidates: int, rng: np.random.Generator) -> torch.Tensor:
    """The critic's best action per sample among the actor's own `mu` (N, B, act) and `n_candidates`
    uniform random actions in [0, 1]: `q_many(c)` values candidates c (N, K, B, act) -> (N, K, B).
    Returns (N, B, act), no gradient; ties keep mu (candidate 0)."""
    n, b, act = mu.shape
    draws = torch.from_numpy(rng.random((n, n_candidates, b, act), dtype=np.float32)).to(mu.device)
    cand = torch.cat([mu.detach()[:, None], draws], 1)
    with torch.no_grad():
        best = q_many(cand).argmax(1)  # (N, B)
    return cand.gather(1, best[:, None, :, None].expand(n, 1, b, act))[:, 0]


def policy_gradient_loss(z: torch.Tensor, sigmoid: bool, q_of, actor_reg: float, q_many=None,
                         search: tuple[int, float, np.random.Generator] | None = None, z_max: float = 0.0,
                         anchor: tuple[torch.Tensor, torch.Tensor, float] | None = None) -> torch.Tensor:
    """A loss whose gradient in the actors' parameters is minus the deterministic policy gradient:
    `q_of(mu)` is the summed critic value of the actions mu = squash(z).
    `search` = (K, weight, rng) with `q_many` (see `searched_actions`): plus weight * the mean squared
    distance (summed over agents) of the actions to the critic's best of mu and K random actions.
    `anchor` = (actions (N, B, act), mask (act,), weight) (`HyperParams.rule_anchor_weight`): plus weight * the
    squared distance of the masked action components to those actions, summed over components, averaged over the
    batch and summed over networks (in the critic's units: a deviation d costs weight * d^2 per sample).

    Sigmoid actors backpropagate -Q directly. Inverting gradients: the critic sees the action clipped
    to [0, 1], and dQ/da is scaled by (1 - a) where it asks for more and by a where it asks for less,
    so the step shrinks toward the bound it points at and turns back beyond it."""
    raw = z + 0.5
    mu = torch.sigmoid(z) if sigmoid else raw.detach().clamp(0.0, 1.0).requires_grad_(True)
    q = q_of(mu)
    if sigmoid:
        loss = -q
    else:
        (dq_da,) = torch.autograd.grad(q, mu)
        p = raw.detach()
        dq_da = torch.where(dq_da > 0, dq_da * (1.0 - p), dq_da * p)  # Hausknecht & Stone (2016), bounds [0, 1]
        loss = -(raw * dq_da).sum()  # its gradient in raw is -dq_da
    if actor_reg:
        loss = loss + actor_reg * z.square().mean((1, 2)).sum()  # pulls actions toward 0.5 (off by default)
    if sigmoid and z_max > 0.0:  # keeps sigmoid actors out of deep saturation, where sigmoid'(z) ~ 0 stops learning
        loss = loss + (z.abs() - z_max).clamp(min=0.0).square().mean((1, 2)).sum()
    if (search is not None and search[0] > 0) or anchor is not None:
        action = torch.sigmoid(z) if sigmoid else raw  # raw: a target at a bound pulls the unclipped output onto it
    if search is not None and search[0] > 0:
        n_candidates, weight, rng = search
        target = searched_actions(action.detach().clamp(0.0, 1.0), q_many, n_candidates, rng)
        loss = loss + weight * (action - target).square().sum(2).mean(1).sum()
    if anchor is not None:
        target, mask, weight = anchor
        loss = loss + weight * ((action - target).square() * mask).sum(2).mean(1).sum()
    return loss


def _clear_grads(params: list[torch.Tensor]) -> None:
    """What `Optimizer.zero_grad(set_to_none=True)` does, without its profiler and compiler wrappers."""
    for p in params:
        p.grad = None


class _Group:
    """What both kinds share: the networks and their optimisers, acting, targets, (de)serialisation."""

    critic_only = False  # True: updates fit the critic and leave the actor as it is (a best responder's warm-up)
    can_imitate = True  # its actors can be fitted to stored actions (`imitate`): deterministic actors
    anchor_actor = None  # `HyperParams.rule_anchor_weight`: the actor as fitted to the rule (frozen), after `imitate`
    anchor_mask = None  # (act,) 1.0 on the action components fitted to the rule, 0.0 elsewhere
    variants = None  # `HyperParams.counterfactual_households`: a `TransitionBuffer` of variant transitions (MemberGroup)

    def _build(self, n_nets: int, actor_in: int, critic_in: int, act_dim: int, generator):
        hp, device = self.hp, self.device
        self.actor = StackedMLP(n_nets, [actor_in, *hp.hidden_sizes, self._actor_outputs(act_dim)],
                                self.sigmoid and self._actor_outputs(act_dim) == act_dim, generator).to(device)
        self.critic = StackedMLP(n_nets, [critic_in, *hp.hidden_sizes, 1], False, generator).to(device)
        self.actor_target = copy.deepcopy(self.actor)
        self.critic_target = copy.deepcopy(self.critic)
        self.nets = NETS
        critic_params = list(self.critic.parameters())
        if hp.twin_critics:  # drawn after the others, so the default networks' initial weights do not change
            self.critic2 = StackedMLP(n_nets, [critic_in, *hp.hidden_sizes, 1], False, generator).to(device)
            self.critic2_target = copy.deepcopy(self.critic2)
            self.nets = NETS + TWIN_NETS
            critic_params += list(self.critic2.parameters())
        self.critic_steps = 0  # critic updates so far (`policy_delay`)
        fused = device.type in ("cpu", "cuda")
        self._actor_params, self._critic_params = list(self.actor.parameters()), critic_params
        self.actor_opt = torch.optim.Adam(self._actor_params, lr=hp.lr_actor, fused=fused)
        self.critic_opt = torch.optim.Adam(critic_params, lr=hp.lr_critic, fused=fused)
        # (target, source) parameter lists of the soft updates, actor first; none at gamma = 0, where no
        # target is read (the parameters are updated in place, by Adam and `load_state_dict`, so the lists stay valid)
        pairs = [("actor_target", "actor"), ("critic_target", "critic")] + ([("critic2_target", "critic2")]
                                                                           if hp.twin_critics else [])
        self._soft_pairs = [(list(getattr(self, t).parameters()), list(getattr(self, s).parameters()))
                            for t, s in pairs] if hp.gamma else []
        self._np_actor = ([(layer.weight.detach().numpy(), layer.bias.detach().numpy()) for layer in self.actor.layers]
                          if device.type == "cpu" else None)  # views of the live parameters, for `act`

    def _actor_outputs(self, act_dim: int) -> int:
        """How many raw outputs the actor has for `act_dim` actions (one each here)."""
        return act_dim

    def _search(self, rng: np.random.Generator) -> tuple[int, float, np.random.Generator] | None:
        """The actor loss's action search settings (None: off, and no random numbers are drawn)."""
        return (self.hp.action_search, self.hp.action_search_weight, rng) if self.hp.action_search else None

    def decay_learning_rates(self) -> None:
        """Multiply both optimisers' learning rates by the per-episode factor (`HyperParams.lr_decay`)."""
        factor = self.hp.lr_decay
        if factor != 1.0:
            for opt in (self.actor_opt, self.critic_opt):
                for g in opt.param_groups:
                    g["lr"] *= factor

    def _forward_numpy(self, x: np.ndarray) -> np.ndarray:
        """The actor in numpy on views of its live parameters (Adam and `load_state_dict` update them
        in place): for one observation per hour ~2x faster than a torch call; tests check it equals
        the torch forward. x: (N_nets, batch, in) -> (N_nets, batch, act) in [0, 1]."""
        return self._squash_numpy(self._logits_numpy(x))

    def _squash_numpy(self, z: np.ndarray) -> np.ndarray:
        return expit(z) if self.sigmoid else _clip(z + 0.5, 0.0, 1.0)  # expit: no overflow warnings

    def _logits_numpy(self, x: np.ndarray) -> np.ndarray:
        """The actor's raw outputs z (before squashing) in numpy: (N_nets, batch, in) -> (N_nets, batch, out)."""
        *hidden, (w, b) = self._np_actor
        if len(w) == 1:  # one network (shared parameters): plain matrix products, which BLAS does fastest
            x = x[0]
            for wh, bh in hidden:
                x = x @ wh[0]
                x += bh[0]  # in place: the same sums, no temporaries
                np.maximum(x, 0.0, out=x)
            z = x @ w[0]
            z += b[0]
            z = z[None]
        else:
            for wh, bh in hidden:
                x = x @ wh
                x += bh
                np.maximum(x, 0.0, out=x)
            z = x @ w
            z += b
        return z

    def policy(self, actor: StackedMLP, inputs: torch.Tensor) -> torch.Tensor:
        """Actions in [0, 1] of `actor` (the actor or its target) for inputs (N, B, actor_dim)."""
        out = actor(inputs)  # already squashed when sigmoid
        return out if self.sigmoid else (out + 0.5).clamp(0.0, 1.0)

    def target_policy(self, inputs: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        """The target actors' next actions for the bootstrapped target: `policy(actor_target, inputs)`,
        with `target_noise` > 0 smoothed by clipped Gaussian noise (TD3), kept in [0, 1]."""
        a = self.policy(self.actor_target, inputs)
        sigma = self.hp.target_noise
        if sigma:
            noise = torch.from_numpy(rng.standard_normal(a.shape, dtype=np.float32)).to(a.device)
            a = (a + (sigma * noise).clamp(-2.0 * sigma, 2.0 * sigma)).clamp(0.0, 1.0)
        return a

    def target_value(self, critic_input: torch.Tensor) -> torch.Tensor:
        """Q'(critic_input) (N, B), with twin critics the smaller of the two target critics' values."""
        q = self.critic_target(critic_input)[..., 0]
        return torch.minimum(q, self.critic2_target(critic_input)[..., 0]) if self.hp.twin_critics else q

    def critic_loss(self, critic_input: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """SmoothL1(Q(critic_input), y), averaged over the batch and summed over networks (twin critics:
        both critics' losses)."""
        loss = F.smooth_l1_loss(self.critic(critic_input)[..., 0], y, reduction="none").mean(1).sum()
        if self.hp.twin_critics:
            loss = loss + F.smooth_l1_loss(self.critic2(critic_input)[..., 0], y, reduction="none").mean(1).sum()
        return loss

    def _soft_update(self, critics_only: bool) -> None:
        """theta' <- tau theta + (1 - tau) theta' for the critics' targets (and the actor's); nothing at gamma = 0."""
        for target, source in self._soft_pairs[1:] if critics_only else self._soft_pairs:
            soft_update_params(target, source, self.hp.tau)

    def _step(self, critic_loss: torch.Tensor, actor_loss_fn) -> None:
        _clear_grads(self._critic_params)
        critic_loss.backward()
        self.critic_opt.step()
        self.critic_steps += 1
        if self.critic_only:
            self._soft_update(critics_only=True)
            return
        if self.critic_steps % self.hp.policy_delay:  # TD3's delayed policy updates (1: every step)
            return
        actor_loss = actor_loss_fn()
        _clear_grads(self._actor_params)
        actor_loss.backward(inputs=self._actor_params)
        self.actor_opt.step()
        self._soft_update(critics_only=False)

    def imitate(self, components: list[int], steps: int, rng: np.random.Generator) -> float:
        """Behaviour cloning (`HyperParams.rule_start_actions`): `steps` Adam steps (at lr_actor, an optimiser of its
        own) that fit the actor's outputs `components` to the stored actions of those components (squared error in
        [0, 1] units; targets kept 0.02 inside the bounds, where a sigmoid still has a gradient) and its other outputs
        to what they were before the fit, on mini-batches of the buffer; then the target actor is set to the actor.
        Returns the last mini-batch's loss."""
        frozen = copy.deepcopy(self.actor)
        opt = torch.optim.Adam(self._actor_params, lr=self.hp.lr_actor)
        cloned = torch.zeros(self.act_dim, dtype=torch.bool, device=self.device)
        cloned[list(components)] = True
        loss = torch.zeros(())
        for _ in range(steps):
            x, stored = self._imitation_batch(rng)
            with torch.no_grad():
                target = torch.where(cloned, stored.clamp(0.02, 0.98), self.policy(frozen, x))
            loss = (self.policy(self.actor, x) - target).square().mean(1).sum()
            _clear_grads(self._actor_params)
            loss.backward(inputs=self._actor_params)
            opt.step()
        with torch.no_grad():
            for t, a in zip(self.actor_target.parameters(), self._actor_params):
                t.copy_(a)
        if self.hp.rule_anchor_weight:
            self._set_anchor(copy.deepcopy(self.actor), cloned.float())
        return float(loss.detach()) / len(components)

    def _set_anchor(self, actor: StackedMLP, mask: torch.Tensor) -> None:
        """Keep `actor` (frozen) as the actions the fitted components are pulled toward (`rule_anchor_weight`)."""
        actor.requires_grad_(False)
        self.anchor_actor, self.anchor_mask = actor, mask

    def _anchor(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, float] | None:
        """`policy_gradient_loss`'s anchor for actor inputs (N_nets, B, actor_dim): the anchor actor's actions there
        (None: no anchor). An anchor actor's outputs are what `policy` squashes, or for inverted gradients the raw
        output z + 0.5 the loss compares them with."""
        if self.anchor_actor is None:
            return None
        with torch.no_grad():
            out = self.anchor_actor(inputs)
            target = out if self.sigmoid else out + 0.5
        return target, self.anchor_mask, self.hp.rule_anchor_weight

    def _imitation_batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(actor inputs (N_nets, B, actor_dim), the stored actions (N_nets, B, act)) of a mini-batch."""
        raise NotImplementedError

    # --- (de)serialisation -------------------------------------------------------------------
    def policy_state(self) -> dict:
        return {k: getattr(self, k).state_dict() for k in self.nets}

    def training_state(self) -> dict:
        return {
            **self.policy_state(),
            "actor_opt": self.actor_opt.state_dict(),
            "critic_opt": self.critic_opt.state_dict(),
            "buffer": self.buffer.state_dict(),
            "critic_steps": torch.tensor(self.critic_steps),  # where a resumed run is in the `policy_delay` cycle
            **({"anchor_actor": self.anchor_actor.state_dict(), "anchor_mask": self.anchor_mask}
               if self.anchor_actor is not None else {}),
            **({"variants": self.variants.state_dict()} if self.variants is not None else {}),
        }

    def load(self, state: dict):
        for k in self.nets:
            getattr(self, k).load_state_dict(state[k])
        if "actor_opt" in state:
            self.actor_opt.load_state_dict(state["actor_opt"])
            self.critic_opt.load_state_dict(state["critic_opt"])
            self.buffer.load_state_dict(state["buffer"])
            self.critic_steps = int(state.get("critic_steps", 0))  # checkpoints written before it: policy_delay 1
            if self.variants is not None:
                if "variants" not in state:
                    raise ValueError("the checkpoint holds no counterfactual transitions, but this run stores them "
                                     "(counterfactual_households > 0): resume it with the settings it was started with")
                self.variants.load_state_dict(state["variants"])
            if "anchor_actor" in state:
                anchor = copy.deepcopy(self.actor)
                anchor.load_state_dict(state["anchor_actor"])
                self._set_anchor(anchor, state["anchor_mask"].to(self.device))


class JointGroup(_Group):
    """N agents, each with its own actor and a centralised critic over the joint observation and
    joint action (MADDPG); one replay buffer of joint transitions, one uniform mini-batch per update
    for all N (each agent's batch is still uniform; sharing the draw only correlates the updates of
    agents whose parameters are disjoint, and makes the target actions N times cheaper)."""

    def __init__(self, n_agents: int, features: Features, act_dim: int, hp: HyperParams, device: torch.device,
                 generator: torch.Generator | None = None, sigmoid: bool = True):
        self.n, self.act_dim, self.features, self.hp, self.device = n_agents, act_dim, features, hp, device
        self.sigmoid = sigmoid  # else inverted gradients
        obs_dim = features.joint_dim(n_agents)
        self._build(n_agents, features.actor_dim, obs_dim + n_agents * act_dim, act_dim, generator)
        self.buffer = ReplayBuffer(hp.buffer_size, obs_dim, n_agents * act_dim, n_agents)
        self.actor_index = torch.as_tensor(features.actor_index(n_agents), device=device)  # (N, actor_dim)
        self.own_slot = torch.eye(n_agents, dtype=torch.bool, device=device)[:, None, :, None]  # (N, 1, N, 1)

    def inputs(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """The actors' inputs (N, actor_dim) for the observations of `rows` (other rows: zeros)."""
        if len(rows) == self.n:
            return self.features.actor_inputs(obs)
        inputs = np.zeros((self.n, self.features.actor_dim), np.float32)  # a subset (e.g. another policy plays one)
        inputs[rows] = self.features.actor_inputs(obs)
        return inputs

    def act(self, actor_inputs: np.ndarray) -> np.ndarray:
        """(N, actor_dim) -> (N, act_dim) deterministic actions in [0, 1], all actors in one call."""
        if self._np_actor is None:
            with torch.inference_mode():
                x = torch.from_numpy(actor_inputs).to(self.device).unsqueeze(1)
                return self.policy(self.actor, x)[:, 0].cpu().numpy()
        return self._forward_numpy(actor_inputs[:, None, :])[:, 0]

    def remember(self, obs: np.ndarray, unit_actions: np.ndarray, rewards: np.ndarray, info, done: bool) -> None:
        """One hour: the raw observations (N, k), actions in [0, 1] (N, act), rewards (N,)."""
        self.buffer.add(self.features.joint(obs), unit_actions.ravel(), rewards, done)

    def _batch(self, idx: np.ndarray):
        """(x, a, r (N, B), discount (B,), x_next) of the records `idx`; the discount multiplies the bootstrapped value:
        gamma (1 - done) (None at gamma = 0), or with `n_step` > 1 the n-step return's, r its discounted sum and x_next
        its last observation."""
        b, dev, hp = self.buffer, self.device, self.hp
        t = lambda a: torch.from_numpy(a).to(dev)  # noqa: E731
        if hp.n_step == 1:
            discount = hp.gamma * (1.0 - t(b.done[idx])) if hp.gamma else None  # gamma = 0: nothing is bootstrapped
            return t(b.obs[idx]), t(b.act[idx]), t(b.rew[idx].T.copy()), discount, t(b.obs[(idx + 1) % b.capacity])
        steps, weights, boot, discount = b.n_step_plan(idx, hp.n_step, hp.gamma)
        r = np.einsum("bk,bkn->nb", weights, b.rew[steps])
        return t(b.obs[idx]), t(b.act[idx]), t(np.ascontiguousarray(r)), t(discount), t(b.obs[boot])

    def _own_inputs(self, x: torch.Tensor) -> torch.Tensor:
        """Joint observations (B, obs) -> every actor's own input (N, B, actor_dim)."""
        return x[:, self.actor_index].transpose(0, 1)

    def _imitation_batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        idx = self.buffer.sample_indices(rng, self.hp.batch_size)
        x, a = self._batch(idx)[:2]
        return self._own_inputs(x), a.view(len(idx), self.n, self.act_dim).transpose(0, 1)

    def _critic_input(self, x: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        """(B, obs), (B or N, B, N*act) -> (N, B, obs + N*act): every critic sees the joint x and a."""
        if a.dim() == 2:
            a = a.expand(self.n, *a.shape)
        return torch.cat([x.expand(self.n, *x.shape), a], -1)

    def update(self, rng: np.random.Generator) -> dict[str, float]:
        """One gradient step for every agent of the group and soft targets."""
        hp = self.hp
        if self.buffer.n_valid() < hp.batch_size:
            return {}
        if hp.per_agent_batches:
            return self._update_per_agent(rng)
        idx = self.buffer.sample_indices(rng, hp.batch_size)
        x, a, r, discount, x_next = self._batch(idx)  # r: (N, B), agent n's own reward in row n
        with torch.no_grad():
            y = hp.reward_scale * r
            if hp.gamma:  # gamma = 0: the target is the reward alone, no target networks to evaluate
                a_next = self.target_policy(self._own_inputs(x_next), rng)  # (N, B, act): mu'_k(o'_k)
                a_next = a_next.transpose(0, 1).reshape(len(idx), self.n * self.act_dim)
                y = y + discount * self.target_value(self._critic_input(x_next, a_next))
        critic_loss = self.critic_loss(self._critic_input(x, a), y)
        self._step(critic_loss, lambda: self.actor_loss(x, a, rng))
        return {"critic_loss": critic_loss.item() / self.n}

    def _update_per_agent(self, rng: np.random.Generator) -> dict[str, float]:
        """The update with a mini-batch of its own for every agent (the arbitrage paper's Algorithm 1
        samples one per sub-agent): agent n's critic and actor see the joint transitions of its draw."""
        hp, n, B, dev = self.hp, self.n, self.hp.batch_size, self.device
        b = self.buffer
        idx = self.buffer.sample_indices(rng, n * B).reshape(n, B)
        t = lambda arr: torch.from_numpy(arr).to(dev)  # noqa: E731
        x, a = t(b.obs[idx]), t(b.act[idx])  # (N, B, ...)
        agent = np.arange(n)[:, None]
        if hp.n_step > 1:
            steps, weights, boot, discount = b.n_step_plan(idx, hp.n_step, hp.gamma)  # (N, B, n), ..., (N, B)
            r = t((weights * b.rew[steps, agent[..., None]]).sum(-1, dtype=np.float32))  # (N, B): agent n's own return
        else:
            r = t(b.rew[idx, agent])  # (N, B): agent n's own reward
        with torch.no_grad():
            y = hp.reward_scale * r
            if hp.gamma:  # every target actor acts on every agent's next observations
                if hp.n_step > 1:
                    x_next, discount = t(b.obs[boot]), t(discount)
                else:
                    x_next, discount = t(b.obs[(idx + 1) % b.capacity]), hp.gamma * (1.0 - t(b.done[idx]))
                flat = x_next.reshape(n * B, -1)
                a_next = self.target_policy(self._own_inputs(flat), rng)  # (N actors, N*B, act)
                a_next = a_next.reshape(n, n, B, self.act_dim).permute(1, 2, 0, 3).reshape(n, B, n * self.act_dim)
                y = y + discount * self.target_value(torch.cat([x_next, a_next], -1))
        critic_loss = self.critic_loss(torch.cat([x, a], -1), y)
        rows = torch.arange(n, device=dev)[:, None, None]
        own = x[rows, torch.arange(B, device=dev)[None, :, None], self.actor_index[:, None, :]]  # (N, B, actor_dim)
        self._step(critic_loss, lambda: self._policy_loss(x, a, own, rng))
        return {"critic_loss": critic_loss.item() / n}

    def actor_loss(self, x: torch.Tensor, a: torch.Tensor, rng: np.random.Generator | None = None) -> torch.Tensor:
        """The policy-gradient loss of (31), summed over agents: agent n's own action in the stored
        joint actions `a` (B, N*act) is replaced by mu_n(o_n), and every critic sees its own version.
        rng: draws the action search's candidates (`HyperParams.action_search`; None: no search)."""
        return self._policy_loss(x, a, self._own_inputs(x), rng)

    def _policy_loss(self, x: torch.Tensor, a: torch.Tensor, own: torch.Tensor, rng: np.random.Generator | None):
        """`actor_loss` for one batch shared by all agents (x (B, D), a (B, N*act)) or one per agent
        (x (N, B, D), a (N, B, N*act); per-agent batches); `own`: each actor's inputs (N, B, actor_dim)."""
        n, batch, act = self.n, x.shape[-2], self.act_dim
        x = x.expand(n, batch, x.shape[-1])
        a = a.reshape(-1, batch, n, act).expand(n, batch, n, act)

        def q_of(mu):
            a_joint = torch.where(self.own_slot, mu[:, :, None, :], a).reshape(n, batch, -1)
            return self.critic(torch.cat([x, a_joint], -1))[..., 0].mean(1).sum()

        def q_many(cand):  # (N, K, B, act): agent n's candidates in its own slot of its batch's joint actions
            k = cand.shape[1]
            a_joint = torch.where(self.own_slot[:, None], cand[:, :, :, None, :], a[:, None]).reshape(n, k * batch, -1)
            x_rep = x[:, None].expand(n, k, batch, x.shape[-1]).reshape(n, k * batch, -1)
            return self.critic(torch.cat([x_rep, a_joint], -1))[..., 0].view(n, k, batch)

        return policy_gradient_loss(self.actor.logits(own), self.sigmoid, q_of, self.hp.actor_reg, q_many,
                                    None if rng is None else self._search(rng), self.hp.actor_z_max, self._anchor(own))


def hashed_uniforms(x: np.ndarray, agents: np.ndarray) -> np.ndarray:
    """One uniform number in [0, 1) per row of x (N, ..., D), a function of the row's bytes and of
    `agents[n]` (the agent's number in its population) only: a mixed strategy's draw for an observation.
    Replays, checks that fix everyone else's policy, and reruns then draw the same actions, without a
    random state to carry (as `MixedUpPrices` draws its options)."""
    x = np.ascontiguousarray(x, dtype=np.float32)
    rows = x.reshape(-1, x.shape[-1])
    agent = np.broadcast_to(np.asarray(agents).reshape((-1,) + (1,) * (x.ndim - 2)), x.shape[:-1]).ravel()
    out = np.empty(len(rows))
    for i, (row, n) in enumerate(zip(rows, agent)):
        digest = hashlib.blake2b(row.tobytes(), digest_size=8, salt=int(n).to_bytes(8, "little")).digest()
        out[i] = int.from_bytes(digest, "little") / 2.0**64
    return out.reshape(x.shape[:-1])


class MixedJointGroup(JointGroup):
    """A `JointGroup` whose actors play their first action as a mixed strategy (`HyperParams.mixed_levels`
    = K): the actor's first K raw outputs are the logits of a softmax distribution pi(o) over K evenly
    spaced levels in [0, 1], the rest are the other actions' raw outputs as in `JointGroup`. Acting
    draws a level from pi(o) by inverse CDF with `hashed_uniforms` of the actor input (the same
    observation gives the same draw; exploration noise is added on top while training).

    Actor loss, with Q_k = the centralised critic with the agent's own first action at level k (the
    other agents' stored actions, its own other actions mu(o)), T = `mixed_temperature`:

        L = - sum_k pi_k(o) Q_k  - T * H(pi(o))      (the expectation over its own draw, exactly)
            + the policy-gradient loss of the other actions against sum_k pi_k Q_k

    The first term's gradient in the logits is pi_k (Q_k - V) - T * dH: an entropy-regularised
    (logit) response, whose fixed points are quantal-response equilibria that approach Nash
    equilibria as T -> 0. A deterministic actor cannot represent a mixed equilibrium at all. With
    `mixed_temperature_relative`, T is multiplied by each sample's standard deviation of Q over the
    levels (detached), so the response softmax(Q / (T std Q)) does not depend on the reward's scale.
    Bootstrapped targets (gamma > 0) draw the target actor's level the same way."""

    can_imitate = False  # its actors' first output is a distribution, not an action

    def __init__(self, n_agents: int, features: Features, act_dim: int, hp: HyperParams, device: torch.device,
                 generator: torch.Generator | None = None, sigmoid: bool = True):
        if hp.mixed_levels < 2:
            raise ValueError(f"MixedJointGroup needs mixed_levels >= 2, got {hp.mixed_levels}")
        self.n_levels = hp.mixed_levels
        super().__init__(n_agents, features, act_dim, hp, device, generator, sigmoid)
        self.agents = np.arange(n_agents)  # each actor's number in the population, for its draws (`hashed_uniforms`)
        self.levels = torch.linspace(0.0, 1.0, self.n_levels, device=device)
        self._np_levels = np.linspace(0.0, 1.0, self.n_levels)

    def _actor_outputs(self, act_dim: int) -> int:
        return self.n_levels + act_dim - 1

    def probabilities(self, inputs: np.ndarray) -> np.ndarray:
        """pi(o): (N, batch, actor_dim) actor inputs -> (N, batch, K) level probabilities."""
        with torch.inference_mode():
            logits = self.actor.logits(torch.as_tensor(inputs, dtype=torch.float32, device=self.device))[..., :self.n_levels]
            return torch.softmax(logits, -1).cpu().numpy()

    def _mixed_actions(self, z: np.ndarray, u: np.ndarray) -> np.ndarray:
        """Raw outputs z (N, B, K + act - 1) and uniforms u (N, B) -> actions (N, B, act) in [0, 1]."""
        logits = z[..., :self.n_levels]
        p = np.exp(logits - logits.max(-1, keepdims=True))
        cdf = np.cumsum(p, -1)
        k = np.minimum((cdf < (u * cdf[..., -1])[..., None]).sum(-1), self.n_levels - 1)
        return np.concatenate([self._np_levels[k][..., None], self._squash_numpy(z[..., self.n_levels:])], -1)

    def _forward_numpy(self, x: np.ndarray) -> np.ndarray:
        return self._mixed_actions(self._logits_numpy(x), hashed_uniforms(x, self.agents))

    def policy(self, actor: StackedMLP, inputs: torch.Tensor) -> torch.Tensor:
        """Drawn actions of `actor` (N, B, act) for inputs (N, B, actor_dim): the draw of `act`."""
        u = hashed_uniforms(inputs.detach().cpu().numpy(), self.agents)
        z = actor.logits(inputs).detach().cpu().numpy().astype(np.float64)
        return torch.from_numpy(self._mixed_actions(z, u).astype(np.float32)).to(inputs.device)

    def _policy_loss(self, x: torch.Tensor, a: torch.Tensor, own: torch.Tensor, rng: np.random.Generator | None):
        n, batch, act, k = self.n, x.shape[-2], self.act_dim, self.n_levels
        x = x.expand(n, batch, x.shape[-1])
        a = a.reshape(-1, batch, n, act).expand(n, batch, n, act)
        out = self.actor.logits(own)
        log_pi = torch.log_softmax(out[..., :k], -1)  # (N, B, K)
        pi = log_pi.exp()
        levels = self.levels.view(1, k, 1, 1).expand(n, k, batch, 1)

        def q_levels(rest: torch.Tensor) -> torch.Tensor:  # (N, B, act - 1) -> Q_k (N, B, K)
            cand = torch.cat([levels, rest[:, None].expand(n, k, batch, act - 1)], -1)  # (N, K, B, act)
            a_joint = torch.where(self.own_slot[:, None], cand[:, :, :, None, :], a[:, None]).reshape(n, k * batch, -1)
            x_rep = x[:, None].expand(n, k, batch, x.shape[-1]).reshape(n, k * batch, -1)
            return self.critic(torch.cat([x_rep, a_joint], -1))[..., 0].view(n, k, batch).transpose(1, 2)

        seen = {}

        def q_of(rest):  # the expected value of the other actions under the agent's own draw
            q = q_levels(rest)
            seen["q"] = q.detach()
            return (pi.detach() * q).sum(-1).mean(1).sum()

        if act > 1:
            loss = policy_gradient_loss(out[..., k:], self.sigmoid, q_of, self.hp.actor_reg, z_max=self.hp.actor_z_max)
        else:  # the level is the only action
            with torch.no_grad():
                q_of(out[..., k:])
            loss = 0.0
        entropy = -(pi * log_pi).sum(-1)
        temperature = self.hp.mixed_temperature
        if self.hp.mixed_temperature_relative:  # scale-free: softmax(Q / (T * std_k Q)) in every observation
            temperature = temperature * seen["q"].std(-1, unbiased=False)
        return loss - ((pi * seen["q"]).sum(-1) + temperature * entropy).mean(1).sum()


class MemberGroup(_Group):
    """n members with per-member transitions (see the module docstring): `share` one actor and
    critic among all members or stack one per member; `critic` "collective" (own input and action +
    the hour's collective information, `info_dim` values) or "own" (own input and action only).

    Shared groups sample `batch_size` (hour, member) pairs per update; unshared groups sample
    `batch_size` hours and train every member's networks on its own transitions of those hours.
    The target uses the next hour's stored collective information (realised, not re-predicted)."""

    CRITICS = ("collective", "own")

    def __init__(self, n_members: int, features: Features, act_dim: int, hp: HyperParams, device: torch.device,
                 generator: torch.Generator | None = None, sigmoid: bool = True, share: bool = True,
                 critic: str = "collective", info_dim: int = 0):
        if critic not in self.CRITICS:
            raise ValueError(f"critic {critic!r}: use one of {self.CRITICS}")
        self.n, self.act_dim, self.features, self.hp, self.device = n_members, act_dim, features, hp, device
        self.sigmoid, self.share, self.critic_kind = sigmoid, share, critic
        self.info_dim = info_dim if critic == "collective" else 0
        d = features.actor_dim
        self._build(1 if share else n_members, d, d + act_dim + self.info_dim, act_dim, generator)
        hours = max(hp.buffer_size // (n_members if share else 1), hp.batch_size + 1)
        self.buffer = MemberBuffer(hours, n_members, d, act_dim, self.info_dim)

    def inputs(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        inputs = self.features.member_inputs(obs)
        if len(rows) == self.n:
            return inputs
        full = np.zeros((self.n, self.features.actor_dim), np.float32)
        full[rows] = inputs
        return full

    def act(self, inputs: np.ndarray) -> np.ndarray:
        """(n, actor_dim) -> (n, act_dim) deterministic actions in [0, 1]: one forward for the group."""
        x = inputs[None] if self.share else inputs[:, None, :]
        if self._np_actor is None:
            with torch.inference_mode():
                out = self.policy(self.actor, torch.from_numpy(x).to(self.device)).cpu().numpy()
        else:
            out = self._forward_numpy(x)
        return out[0] if self.share else out[:, 0]

    def remember(self, obs: np.ndarray, unit_actions: np.ndarray, rewards: np.ndarray, info, done: bool) -> None:
        self.buffer.add(self.features.member_inputs(obs), unit_actions, rewards,
                        info if self.info_dim else np.zeros(0, np.float32), done)

    def _critic_input(self, o: torch.Tensor, a: torch.Tensor, info: torch.Tensor) -> torch.Tensor:
        parts = [o, a] + ([info] if self.info_dim else [])
        return torch.cat(parts, -1)

    def store_variants(self, per_hour: int) -> None:
        """Keep `per_hour` counterfactual transitions per stored hour beside the real ones (`HyperParams.
        counterfactual_households`; `Team.household_counterfactuals` makes them) and sample both."""
        if not self.share:
            raise ValueError("counterfactual_households: only parameter-shared household groups sample single member "
                             "transitions; train a shared learner (e.g. maddpg-ps) or counterfactual_households=0")
        b = self.buffer
        self.variants = TransitionBuffer(b.capacity * per_hour, b.obs.shape[-1], self.act_dim, self.info_dim)

    def remember_variants(self, inputs, unit_actions, rewards, info, inputs_next, info_next, done: bool) -> None:
        """Store variant transitions, one per row of `inputs` (k, actor_dim): each member's own next inputs."""
        self.variants.add_rows(inputs, unit_actions, rewards, info, inputs_next, info_next, done)

    def _batch(self, rng: np.random.Generator, variants: bool = True):
        """(o, a, r, info, discount, o_next, info_next), each shaped (N_nets, B, ...); the discount multiplies the
        bootstrapped value: gamma (1 - done) (None at gamma = 0), or with `n_step` > 1 the n-step return's, r its
        discounted sum and o_next, info_next its last observation. With stored counterfactual transitions
        (`variants`), each of the B draws is one of them with the probability of its share of all stored transitions."""
        if variants and self.variants is not None and self.variants.size:
            return self._batch_with_variants(rng)
        b, dev, B, hp = self.buffer, self.device, self.hp.batch_size, self.hp
        hours = b.sample_indices(rng, B)
        nets = 1 if self.share else self.n
        if hp.n_step > 1:
            steps, weights, nxt, discount = b.n_step_plan(hours, hp.n_step, hp.gamma)
        else:
            nxt = (hours + 1) % b.capacity
        t = lambda a: torch.from_numpy(np.array(a, dtype=np.float32)).to(dev)  # noqa: E731  (a copy: some are broadcast views)
        if self.share:
            m = rng.integers(0, self.n, size=B)
            pick = lambda arr, h: arr[h, m][None]  # noqa: E731  (1, B, ...)
            info, info_next = b.info[hours][None], b.info[nxt][None]
        else:
            pick = lambda arr, h: np.swapaxes(arr[h], 0, 1)  # noqa: E731  (n, B, ...)
            info = np.broadcast_to(b.info[hours][None], (self.n, B, self.info_dim))
            info_next = np.broadcast_to(b.info[nxt][None], (self.n, B, self.info_dim))
        if hp.n_step > 1:
            rew = b.rew[steps, m[:, None]][..., None] if self.share else b.rew[steps]  # (B, n, nets)
            r = np.einsum("bk,bkn->nb", weights, rew)
            discount = t(np.broadcast_to(discount[None], (nets, B)))
        else:
            r = pick(b.rew, hours)
            discount = hp.gamma * (1.0 - t(np.broadcast_to(b.done[hours][None], (nets, B)))) if hp.gamma else None
        return (t(pick(b.obs, hours)), t(pick(b.act, hours)), t(r), t(info), discount,
                t(pick(b.obs, nxt)), t(info_next))

    def _batch_with_variants(self, rng: np.random.Generator):
        """`_batch` of a shared group (n_step 1) whose first k draws are counterfactual transitions, k ~ Binomial(B,
        their share of the stored transitions)."""
        b, v, B, hp, dev = self.buffer, self.variants, self.hp.batch_size, self.hp, self.device
        real = b.n_valid() * self.n
        k = int(rng.binomial(B, v.size / (v.size + real))) if real else B
        hours = b.sample_indices(rng, B - k) if B > k else np.zeros(0, np.int64)
        m = rng.integers(0, self.n, size=B - k)
        nxt = (hours + 1) % b.capacity
        j = v.sample_indices(rng, k)
        cat = lambda own, var: np.concatenate([var, own])[None]  # noqa: E731  (1, B, ...): the variants first
        o, o_next = cat(b.obs[hours, m], v.obs[j]), cat(b.obs[nxt, m], v.obs_next[j])
        a, r = cat(b.act[hours, m], v.act[j]), cat(b.rew[hours, m], v.rew[j])
        info, info_next = cat(b.info[hours], v.info[j]), cat(b.info[nxt], v.info_next[j])
        t = lambda x: torch.from_numpy(np.array(x, dtype=np.float32)).to(dev)  # noqa: E731
        discount = hp.gamma * (1.0 - t(cat(b.done[hours], v.done[j]))) if hp.gamma else None
        return t(o), t(a), t(r), t(info), discount, t(o_next), t(info_next)

    def _imitation_batch(self, rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        o, a = self._batch(rng, variants=False)[:2]  # the stored actions of what was played, never the variants' draws
        return o, a

    def update(self, rng: np.random.Generator) -> dict[str, float]:
        hp = self.hp
        if self.buffer.n_valid() < max(hp.batch_size if not self.share else 1, 1):
            return {}
        o, a, r, info, discount, o_next, info_next = self._batch(rng)
        with torch.no_grad():
            y = hp.reward_scale * r
            if hp.gamma:
                a_next = self.target_policy(o_next, rng)
                y = y + discount * self.target_value(self._critic_input(o_next, a_next, info_next))
        critic_loss = self.critic_loss(self._critic_input(o, a, info), y)

        def actor_loss():
            q_of = lambda mu: self.critic(self._critic_input(o, mu, info))[..., 0].mean(1).sum()  # noqa: E731

            def q_many(cand):  # (N_nets, K, B, act)
                nets, k, b = cand.shape[:3]
                rep = lambda t: t[:, None].expand(nets, k, *t.shape[1:]).reshape(nets, k * b, t.shape[-1])  # noqa: E731
                return self.critic(self._critic_input(rep(o), cand.reshape(nets, k * b, -1), rep(info)))[..., 0].view(nets, k, b)

            return policy_gradient_loss(self.actor.logits(o), self.sigmoid, q_of, hp.actor_reg, q_many, self._search(rng),
                                        hp.actor_z_max, self._anchor(o))

        self._step(critic_loss, actor_loss)
        return {"critic_loss": critic_loss.item() / (1 if self.share else self.n)}
