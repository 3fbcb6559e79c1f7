"""Replay buffers of the MADDPG-family learners.

- `ReplayBuffer`: a small group's *joint* transitions (the paper's per-agent buffers hold identical
  records, so one buffer holds them once): record i = (x_t, a_t, r_t, done_t), with the joint
  observation x, the joint action a and one reward column per agent; the next observation x_{t+1}
  is record i + 1 (read only where done_t is false).
- `MemberBuffer`: a large group's per-member transitions, one record per hour holding every
  member's own inputs, action and reward plus the hour's collective information (what the
  platform tells the critics); the next record is the next hour. Parameter-shared groups sample
  (hour, member) pairs from it: every member's experience trains the shared networks.
"""

from __future__ import annotations

import numpy as np
import torch


class _Circular:
    """Records in preallocated arrays (`FIELDS`); the oldest is overwritten when full."""

    FIELDS: tuple[str, ...] = ()
    capacity: int
    ptr: int = 0  # next slot to write
    size: int = 0

    def _add(self, values, done: bool):
        i = self.ptr
        for f, v in zip(self.FIELDS[:-1], values):
            getattr(self, f)[i] = v
        self.done[i] = float(done)
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

    def n_step_plan(self, idx: np.ndarray, n: int, gamma: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """The n-step return of the sampled records `idx` (shape S; `sample_indices`' draws):

            R = sum_{k < m} gamma^k r_{i+k},   y = s R + gamma^m (1 - done_{i+m-1}) Q'(x_{i+m}, mu'(o_{i+m}))

        where m <= n steps are taken: up to and including the step that ends the episode (done), and never onto a record
        whose next observation is not stored (the newest, unless it is terminal; so the return never wraps onto the
        oldest). Returns `steps` (S, n) record indices i + k, `weights` (S, n) float32, gamma^k for the steps taken and 0
        for the rest, `boot` (S,) the record i + m whose observation the target bootstraps from, and `discount` (S,)
        float32, gamma^m (1 - done of the last step taken). n = 1 gives the one-step target: weights 1, boot i + 1,
        discount gamma (1 - done_i)."""
        cap = self.capacity
        newest = (self.ptr - 1) % cap
        steps = (np.asarray(idx)[..., None] + np.arange(n)) % cap  # (S, n)
        done = self.done[steps] != 0.0
        taken = np.ones(steps.shape, bool)
        for k in range(1, n):  # step k follows a step that did not end the episode, onto a record that can be completed
            taken[..., k] = taken[..., k - 1] & ~done[..., k - 1] & ((steps[..., k] != newest) | done[..., k])
        m = taken.sum(-1)
        last = np.take_along_axis(steps, (m - 1)[..., None], -1)[..., 0]
        weights = np.where(taken, gamma ** np.arange(n), 0.0).astype(np.float32)
        discount = (gamma ** m * (1.0 - self.done[last])).astype(np.float32)
        return steps, weights, (last + 1) % cap, discount

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


class ReplayBuffer(_Circular):
    """Circular buffer of one small group's joint transitions. Record i holds (x_t, a_t, r_t, done_t);
    the next observation x_{t+1} is record i + 1 (read only where done_t is false)."""

    FIELDS = ("obs", "act", "rew", "done")

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, n_agents: int):
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.act = np.zeros((capacity, act_dim), np.float32)
        self.rew = np.zeros((capacity, n_agents), np.float32)
        self.done = np.zeros(capacity, np.float32)

    def add(self, obs, act, rew, done: bool):
        self._add((obs, act, rew), done)


class MemberBuffer(_Circular):
    """Circular buffer of a group's hours: record i holds every member's inputs (n, obs_dim), actions
    (n, act_dim), rewards (n,), the collective information (info_dim,) and done; the next record
    is the next hour (read only where done is false)."""

    FIELDS = ("obs", "act", "rew", "info", "done")

    def __init__(self, capacity: int, n_members: int, obs_dim: int, act_dim: int, info_dim: int):
        self.capacity = capacity
        self.obs = np.zeros((capacity, n_members, obs_dim), np.float32)
        self.act = np.zeros((capacity, n_members, act_dim), np.float32)
        self.rew = np.zeros((capacity, n_members), np.float32)
        self.info = np.zeros((capacity, info_dim), np.float32)
        self.done = np.zeros(capacity, np.float32)

    def add(self, obs, act, rew, info, done: bool):
        self._add((obs, act, rew, info), done)


class TransitionBuffer(_Circular):
    """Circular buffer of single member transitions that carry their own next observation: record i holds one member's
    inputs (obs_dim,), action, reward, the hour's collective information, the next hour's inputs and collective
    information, and done. What `MemberGroup` stores for `HyperParams.counterfactual_households`: a variant of an hour
    is not followed by a stored hour, so its next observation cannot be the next record. Every record is complete."""

    FIELDS = ("obs", "act", "rew", "info", "obs_next", "info_next", "done")

    def __init__(self, capacity: int, obs_dim: int, act_dim: int, info_dim: int):
        self.capacity = capacity
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.act = np.zeros((capacity, act_dim), np.float32)
        self.rew = np.zeros(capacity, np.float32)
        self.info = np.zeros((capacity, info_dim), np.float32)
        self.obs_next = np.zeros((capacity, obs_dim), np.float32)
        self.info_next = np.zeros((capacity, info_dim), np.float32)
        self.done = np.zeros(capacity, np.float32)

    def add(self, obs, act, rew, info, obs_next, info_next, done: bool):
        self._add((obs, act, rew, info, obs_next, info_next), done)

    def add_rows(self, obs, act, rew, info, obs_next, info_next, done: bool):
        """k records at once, one per row of `obs`, `act`, `rew`, `obs_next` (k, ...), sharing the hour's `info`,
        `info_next` and `done`; as k calls of `add`."""
        k = len(obs)
        if k > self.capacity:
            raise ValueError(f"{k} rows do not fit a buffer of {self.capacity}")
        i = (self.ptr + np.arange(k)) % self.capacity
        for f, v in zip(self.FIELDS, (obs, act, rew, info, obs_next, info_next, float(done))):
            getattr(self, f)[i] = v
        self.ptr = (self.ptr + k) % self.capacity
        self.size = min(self.size + k, self.capacity)

    def n_valid(self) -> int:
        return self.size

    def sample_indices(self, rng: np.random.Generator, batch: int) -> np.ndarray:
        return rng.integers(0, self.size, size=batch)
