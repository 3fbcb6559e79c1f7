"""HMADDPG: hierarchical multi-agent DDPG bidders (the arbitrage paper, Sec. III-B, Algorithm 1).

Every aggregator n has two sub-agents, each with an actor, a centralised critic, target copies of
both, and a replay buffer:

    primary   (stage 1, LEM)   actor  mu1_n(o1_n) -> a1_n = withholding fraction in [0, 1]
                               critic Q1_n(x1, a1_1..a1_N)      x1 = joint LEM observation
    secondary (stage 2, LFM)   actor  mu2_n(o2_n) -> a2_n = (up, down) price / flex_price_max
                               critic Q2_n(x2, a2_1..a2_N)      x2 = joint LFM observation

The N sub-agents of one stage form one MADDPG (a `JointGroup`); HMADDPG is the two groups, one per
role, in a `Team`:

    for episode = 1 .. E:                                       (the trainer, `runs.training`)
        play a random training week with exploration noise, storing every hour:
            primary_n   <- (o1, a1, r_primary_n)                r_primary: what the design pays the
            secondary_n <- (o2, a2, r2_n)                       primary role, eq. (25): r1 + r2 if
        for _ in range(updates_per_episode):                    aggregator n arbitrages, r1 if it is
            update every primary, then every secondary          stand-alone (two independent MADDPGs)
        sigma <- sigma * decay

The reward wiring of (25), the only difference between the kinds of aggregator, is the design's
(`model.designs.arbitrage`, its balancing stage's payment); the learner learns each role from what
that role is paid. Observations are normalised from the design's features (`agents.learning.features`):
hour of week -> sin, cos of the hour of day and week; prices / 100; powers in MW as they are.
"""

from __future__ import annotations

import torch

from agents.learning.features import Features
from agents.learning.groups import JointGroup, MixedJointGroup
from agents.learning.hyperparams import HyperParams
from agents.learning.team import RoleSpec, Slot, Team, resolve_device

KIND = "hmaddpg"


def _group_class(hp: HyperParams, role: RoleSpec) -> type[JointGroup]:
    """With `hp.mixed_levels`, the secondaries' up price is a mixed strategy."""
    return MixedJointGroup if hp.mixed_levels and role.role == "secondary" else JointGroup


def hmaddpg(roles: list[RoleSpec], hp: HyperParams = HyperParams(), seed: int = 0, device="cpu") -> Team:
    """One MADDPG (`JointGroup`) per role, in the roles' order (primary, then secondary); with
    `hp.mixed_levels` the secondaries' group is a `MixedJointGroup` (mixed-strategy up prices)."""
    device = resolve_device(device)
    init = torch.Generator().manual_seed(seed)  # network initialisation, independent of torch's global RNG
    slots = [Slot(r.role, r, _group_class(hp, r)(r.n_agents, Features(r.features), r.action.dim, hp, device, init,
                                                 sigmoid=hp.sigmoid_actor(r.role)), updates=hp.updates_per_episode,
                  counterfactual=r.role == "secondary")  # the last stage: re-clearing it asks no policy again
             for r in roles]
    team = Team(slots, hp, seed, device)
    team.kind = team.name = KIND
    return team
