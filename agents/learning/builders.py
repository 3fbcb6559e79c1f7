"""Learners by kind: what a checkpoint's `learner` field names, rebuilt from its roles and configuration."""

from __future__ import annotations

from agents.learning.clusters import VARIANTS, cluster_learner
from agents.learning.hmaddpg import KIND as HMADDPG, hmaddpg
from agents.learning.stackelberg import VARIANTS as LEADER_FOLLOWER, leader_follower_learner


def _hmaddpg(roles, hp, seed, device, config):
    return hmaddpg(roles, hp, seed, device)


def _clusters(variant):
    return lambda roles, hp, seed, device, config: cluster_learner(roles, hp, seed, device, config | {"variant": variant})


def _leader_follower(variant):
    return lambda roles, hp, seed, device, config: leader_follower_learner(roles, hp, seed, device, config | {"variant": variant})


#: learner kind -> builder(roles, hp, seed, device, config) -> Team
BUILDERS = {HMADDPG: _hmaddpg, **{variant: _clusters(variant) for variant in VARIANTS},
            **{variant: _leader_follower(variant) for variant in LEADER_FOLLOWER}}


def register(kind: str, builder) -> None:
    """Add a learner kind (a design's own learner); a kind is registered once."""
    if BUILDERS.get(kind, builder) is not builder:
        raise ValueError(f"learner kind {kind!r} is already registered")
    BUILDERS[kind] = builder


def build_learner(kind: str, roles, hp, seed: int = 0, device="cpu", config: dict | None = None):
    try:
        builder = BUILDERS[kind]
    except KeyError:
        raise ValueError(f"unknown learner kind {kind!r}: known are {sorted(BUILDERS)}") from None
    return builder(roles, hp, seed, device, config or {})
