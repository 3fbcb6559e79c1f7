"""A trained best responder: one participant learns while everyone else's learned policy is frozen.

The standard multi-agent measure of how far a learned joint policy is from an equilibrium
(exploitability): give one participant the same observations and action bounds as its learned
policy, freeze everyone else, train it with the same learner parts, and measure what it gains
over its learned policy. The others' policies are fixed, so the participant faces a single-agent
problem: each of its roles gets a one-member group of the kind that played it (a `JointGroup` of
one agent: DDPG with a critic of its own observation and action; a one-member `MemberGroup` with
the same critic inputs as its cluster's). The actor starts from the participant's learned actor
(`warm_start`), so training explores around the learned policy: a gain means better actions
exist within reach of these observations.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from agents.learning.features import Features
from agents.learning.groups import JointGroup, MemberGroup
from agents.learning.team import Slot, Team

KIND = "best-responder"


def _copy_actor(src_group, index: int, dst_group) -> None:
    """Copy network `index` of src's stacked actor (and target) into dst's one-network actor."""
    with torch.no_grad():
        for name in ("actor", "actor_target"):
            for s, d in zip(getattr(src_group, name).layers, getattr(dst_group, name).layers):
                d.weight.copy_(s.weight[index:index + 1])
                d.bias.copy_(s.bias[index:index + 1])


def best_responder(learned: Team, rows: dict[str, int], hp, seed: int = 0, warm_start: bool = True) -> Team:
    """A team that plays one participant: `rows` maps each role it plays to its row in that role's
    population (`participant_rows`). One slot per learned slot that plays the row, with its action
    components and update schedule (`hp.updates_per_episode` per episode), learning with `hp` and the
    discount factor of the slot it replaces (a slot's own gamma, as the Stackelberg leader's myopic
    0, says what return the role learns; a responder handed another would learn another objective)."""
    init = torch.Generator().manual_seed(seed)
    slots = []
    for slot in learned.slots:
        row = rows.get(slot.role.role)
        if row is None or (slot.rows is not None and row not in slot.rows):
            continue
        g = slot.group
        hp_slot = dataclasses.replace(hp, gamma=g.hp.gamma, n_step=g.hp.n_step)
        index = row if slot.rows is None else int(np.searchsorted(slot.rows, row))
        if isinstance(g, JointGroup):
            group = type(g)(1, Features(slot.role.features), g.act_dim, hp_slot, learned.device, init, sigmoid=g.sigmoid)
        elif isinstance(g, MemberGroup):
            group = MemberGroup(1, g.features, g.act_dim, hp_slot, learned.device, init, sigmoid=g.sigmoid, share=True,
                                critic=g.critic_kind, info_dim=g.info_dim)
            index = 0 if g.share else index
        else:
            raise TypeError(f"slot {slot.name}: no best responder for a {type(g).__name__}")
        if hasattr(g, "agents"):  # a mixed strategy: the responder draws as the learned actor it replaces
            group.agents = g.agents[index:index + 1]
        if warm_start:
            _copy_actor(g, index, group)
        slots.append(Slot(slot.name, slot.role, group, rows=np.array([row]), updates=hp.updates_per_episode,
                          components=slot.components, info_columns=slot.info_columns))
    if not slots:
        raise ValueError(f"no learned slot plays the rows {rows}: nothing to train a best responder for")
    team = Team(slots, hp, seed, learned.device)
    team.kind = team.name = KIND
    team.config = {"rows": dict(rows), "warm_start": warm_start, "of": learned.kind}
    return team


def participant_rows(design, participant) -> dict[str, int]:
    """The row of `participant` (a participant id) in each acting role's population."""
    ids = list(design.participant_ids())
    if participant not in ids:
        raise ValueError(f"participant {participant!r} is not one of this design's {ids[:12]}{'...' if len(ids) > 12 else ''}")
    agent = design.participants()[ids.index(participant)]
    out = {}
    for stage in design.acting_stages():
        pop = design.population(stage.role)
        for row, a in enumerate(pop):
            if a is agent:
                out[stage.role] = row
    return out
