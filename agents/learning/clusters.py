"""MADDPG with parameter sharing per cluster (the P2P paper's learner) and its variants.

The households of a DER cluster share one actor and one critic (`MemberGroup(share=True)`), fed
by every member's experience; clusters keep their own networks, so their policies differ. Each
critic sees its household's own observation and action plus the platform's collective
information of the hour (the paper's "trusted third party"), whose size does not grow with the
number of households. A cluster learns only the actions of the devices it has. Variants (what the
study compares, each a learner kind):

    maddpg-ps     the above
    ddpg-ps       independent learners: shared networks per cluster, critics without the collective information
    maddpg        without parameter sharing: one actor and critic per household (stacked, one call per cluster)
    one-cluster   parameter sharing across all learning households (policies forced to be the same)

One vectorised forward pass per group and hour acts for all its households.
"""

from __future__ import annotations

import torch

from agents.learning.features import Features
from agents.learning.groups import MemberGroup
from agents.learning.team import Slot, Team, resolve_device

VARIANTS = {
    "maddpg-ps": {"share": True, "critic": "collective"},
    "ddpg-ps": {"share": True, "critic": "own"},
    "maddpg": {"share": False, "critic": "collective"},
    "one-cluster": {"share": True, "critic": "collective"},
}


def cluster_learner(roles, hp, seed: int = 0, device="cpu", config: dict | None = None) -> Team:
    """A team of one `MemberGroup` per cluster of the (single) acting role.

    config: {"variant": one of VARIANTS, "clusters": [rows of each group], "components": [the action
    components each group controls], "names": [group names]}."""
    config = dict(config or {})
    variant = config.get("variant", "maddpg-ps")
    if variant not in VARIANTS:
        raise ValueError(f"unknown learner variant {variant!r}: use one of {sorted(VARIANTS)}")
    (role,) = roles
    device = resolve_device(device)
    init = torch.Generator().manual_seed(seed)
    features = Features(role.features)
    kind = VARIANTS[variant]
    slots = []
    for name, rows, comps in zip(config["names"], config["clusters"], config["components"]):
        group = MemberGroup(len(rows), features, len(comps), hp, device, init, sigmoid=hp.sigmoid_actor(role.role),
                            share=kind["share"], critic=kind["critic"], info_dim=len(role.collective))
        slots.append(Slot(name, role, group, rows=rows, updates=hp.updates_per_episode, components=tuple(comps)))
    team = Team(slots, hp, seed, device)
    team.kind = team.name = variant
    team.config = config
    return team
