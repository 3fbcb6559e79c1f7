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
