"""Observations -> network inputs, from the features a design declares for a role.

Each observation column is a feature of one kind (`model.spaces`): the hour of week ("time", which
becomes sin/cos of the hour of day and of the hour of week), a value every participant of the
stage shares ("shared", e.g. a price), or the participant's own value ("own"). A learner divides
each raw value by the feature's divisor.

- The *joint* observation x of a small group (what its centralised critics see) holds the time and
  shared features once, then every participant's own features in participant order.
- An actor's (or a member's) input is the time and shared features plus its own features.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from model.spaces import OWN, SHARED, TIME

HOURS_PER_DAY, HOURS_PER_WEEK = 24, 168
N_TIME = 4  # sin, cos of the hour of day and of the hour of week


@functools.lru_cache(maxsize=HOURS_PER_WEEK)
def time_features(hour_of_week: float) -> tuple[float, float, float, float]:
    """sin, cos of the hour of day and of the hour of week."""
    d, w = 2 * math.pi * hour_of_week / HOURS_PER_DAY, 2 * math.pi * hour_of_week / HOURS_PER_WEEK
    return math.sin(d), math.cos(d), math.sin(w), math.cos(w)


class Features:
    """How one role's raw observation (n, len(features)) becomes network inputs."""

    def __init__(self, features):
        self.names = tuple(f.name for f in features)
        kinds = [f.kind for f in features]
        times = [i for i, k in enumerate(kinds) if k == TIME]
        if len(times) > 1:
            raise ValueError(f"features {self.names}: at most one time feature (the hour of week)")
        self.time_col = times[0] if times else None
        self.n_time = N_TIME if times else 0
        self.shared_cols = [i for i, k in enumerate(kinds) if k == SHARED]
        self.own_cols = [i for i, k in enumerate(kinds) if k == OWN]
        self.shared_div = np.array([features[i].divisor for i in self.shared_cols])
        self.own_div = np.array([features[i].divisor for i in self.own_cols])
        self._own_scaled = bool(np.any(self.own_div != 1.0))

    @property
    def n_shared(self) -> int:
        return self.n_time + len(self.shared_cols)

    @property
    def n_own(self) -> int:
        return len(self.own_cols)

    @property
    def actor_dim(self) -> int:
        return self.n_shared + self.n_own

    def joint_dim(self, n_agents: int) -> int:
        return self.n_shared + n_agents * self.n_own

    @functools.lru_cache(maxsize=8)
    def actor_index(self, n_agents: int) -> np.ndarray:
        """(n_agents, actor_dim) positions in x of each actor's input."""
        k = self.n_own
        shared = np.arange(self.n_shared)
        return np.stack([np.concatenate([shared, self.n_shared + n * k + np.arange(k)]) for n in range(n_agents)])

    def _own(self, obs: np.ndarray) -> np.ndarray:
        own = obs[:, self.own_cols]
        return own / self.own_div if self._own_scaled else own

    def joint(self, obs: np.ndarray) -> np.ndarray:
        """Raw (n, len(features)) -> normalised joint observation x, (joint_dim,) float32."""
        x = np.empty(self.joint_dim(len(obs)), np.float32)
        if self.n_time:
            x[: self.n_time] = time_features(float(obs[0, self.time_col]))
        x[self.n_time:self.n_shared] = obs[0, self.shared_cols] / self.shared_div
        x[self.n_shared:] = self._own(obs).ravel()
        return x

    def actor_inputs(self, obs: np.ndarray) -> np.ndarray:
        """Raw (n, len(features)) -> (n, actor_dim): shared features + own features, per row."""
        return self.joint(obs)[self.actor_index(len(obs))]

    def member_inputs(self, obs: np.ndarray) -> np.ndarray:
        """Raw (n, len(features)) -> (n, actor_dim) float32 without a joint vector (large groups)."""
        out = np.empty((len(obs), self.actor_dim), np.float32)
        if self.n_time:
            out[:, : self.n_time] = time_features(float(obs[0, self.time_col]))
        out[:, self.n_time:self.n_shared] = obs[0, self.shared_cols] / self.shared_div
        out[:, self.n_shared:] = self._own(obs)
        return out
