"""A leader and its followers, learned hierarchically (the Stackelberg design's learner).

The leader (one agent) learns with DDPG (a one-agent `JointGroup`); the followers with MADDPG and
parameter sharing per DER cluster (`MemberGroup`s, their critics fed the auction's public
information). Stackelberg coordination by two time scales: the followers update K times per leader
update, so the leader learns against followers that have nearly responded to it (and, in the design,
the followers see the leader's prices before they act). The "simultaneous" variant updates both at
the same rate (and is trained on a scenario in which the followers see only the last hour's prices).
"""

from __future__ import annotations

import dataclasses

import torch

from agents.learning.features import Features
from agents.learning.groups import JointGroup, MemberGroup
from agents.learning.team import Slot, Team, resolve_device

VARIANTS = ("stackelberg", "simultaneous")
#: K, the followers' updates per leader update of the "stackelberg" variant (stop 39: 2, measured against 4 on 8
#: paired seeds, docs/stackelberg.md "K = 2 on eight seeds")
FOLLOWER_UPDATES_PER_LEADER_UPDATE = 2
#: a myopic leader's counterfactual hours by default (stop 58, docs/stackelberg.md "The leader's day-ahead position
#: as counterfactual hours"): M = 4 variants of every training hour with another day-ahead position, its prices and
#: the followers' actions as played. Reviewed at stop 59 ("The default reviewed against both profiles"): the runs' last
#: snapshots agree in both profiles (quick 2.41 -> 1.91 %, paper 1.36 -> 1.04 %); the paper profile's kept snapshots,
#: chosen early on a flat system cost, do not (1.01 -> 1.64 %)
LEADER_COUNTERFACTUALS = 4
LEADER_COUNTERFACTUAL_ACTIONS = ("da_position_share_from_forecast",)


def leader_follower_learner(roles, hp, seed: int = 0, device="cpu", config: dict | None = None) -> Team:
    """config: {"variant": "stackelberg" | "simultaneous", "follower_updates_per_leader_update": K,
    "leader_gamma": the leader's discount factor (absent or None: hp.gamma, as the followers'),
    "leader_timescale": "updates" (the leader updates K times less often; the default) or "learning-rate"
    (as often as the followers, with K times smaller learning rates),
    "leader_action_search": N, the leader's `HyperParams.action_search` (absent or 0: hp's),
    "leader_anchor_weight": w, the leader's `HyperParams.rule_anchor_weight` (absent: hp's),
    "leader_noise_scale": s, the leader's exploration noise as a multiple of the followers' (absent: 1),
    "leader_random_days": p, the share of training days the leader plays uniformly random actions (absent: 0),
    "leader_counterfactuals": M, every training hour M variants of it stored for the leader, each with a uniformly
    random leader action and the followers answering it (`Team.counterfactuals`; needs a myopic leader, leader_gamma
    0; absent or 0: none),
    "leader_counterfactual_actions": the leader's action names its variants draw, the others as played (absent or
    empty: all); variants that leave what the followers see unchanged (the day-ahead position) replay the followers'
    actions as played,
    "follower_critic_info": "all" (absent), "none" (the followers' critics see their own input and action only:
    `MemberGroup(critic="own")`) or a list of the follower role's collective feature names its critics see,
    "names", "clusters", "components": the follower groups (as `HouseholdDesign.learner_groups`)}."""
    config = dict(config or {})
    variant = config.get("variant", "stackelberg")
    if variant not in VARIANTS:
        raise ValueError(f"unknown learner variant {variant!r}: use one of {list(VARIANTS)}")
    leader, follower = roles
    device = resolve_device(device)
    init = torch.Generator().manual_seed(seed)
    k = 1 if variant != "stackelberg" else int(config.get("follower_updates_per_leader_update",
                                                          FOLLOWER_UPDATES_PER_LEADER_UPDATE))
    if config.get("leader_timescale", "updates") == "updates":  # the leader updates K times less often
        leader_hp, leader_updates = hp, max(1, hp.updates_per_episode // k)
    else:  # "learning-rate": as often as the followers, with learning rates K times smaller
        leader_hp = dataclasses.replace(hp, lr_actor=hp.lr_actor / k, lr_critic=hp.lr_critic / k)
        leader_updates = hp.updates_per_episode
    if config.get("leader_gamma") is not None:  # the leader's own discount (default: the learner's gamma)
        gamma = float(config["leader_gamma"])  # a myopic leader (0) has one-step targets whatever the followers' n_step
        leader_hp = dataclasses.replace(leader_hp, gamma=gamma, n_step=leader_hp.n_step if gamma else 1)
    if config.get("leader_action_search"):  # the leader's own sampled policy improvement (default: hp's)
        leader_hp = dataclasses.replace(leader_hp, action_search=int(config["leader_action_search"]))
    if config.get("leader_anchor_weight") is not None:  # the leader's own pull toward its fit to the rule start
        if config["leader_anchor_weight"] and not set(leader.action.names) & set(hp.rule_start_action_names):
            raise ValueError(
                f"leader_anchor_weight={config['leader_anchor_weight']:g}: the leader has no rule start to be pulled "
                f"toward: rule_start_actions ({hp.rule_start_actions!r}) names none of its actions "
                f"{list(leader.action.names)}; add its prices there (e.g. --set "
                f"rule_start_actions={hp.rule_start_actions + ',' if hp.rule_start_actions else ''}sell_price_share=0,"
                "buy_price_share=1) or drop leader_anchor_weight")
        leader_hp = dataclasses.replace(leader_hp, rule_anchor_weight=float(config["leader_anchor_weight"]))
    variants = int(config.get("leader_counterfactuals", 0))
    if variants and leader_hp.gamma:  # a variant's next hour is not stored: only a myopic leader's targets are exact
        raise ValueError(f"leader_counterfactuals={variants}: the leader's counterfactual hours need a myopic leader "
                         f"(leader_gamma=0; it is {leader_hp.gamma:g}): set leader_gamma=0 or leader_counterfactuals=0")
    drawn = tuple(config.get("leader_counterfactual_actions", ()))
    if drawn and not variants:
        raise ValueError(f"leader_counterfactual_actions={','.join(drawn)}: names what the leader's counterfactual hours "
                         "draw, but there are none (leader_counterfactuals=0): set leader_counterfactuals=M > 0 too")
    slots = [Slot("leader", leader, JointGroup(1, Features(leader.features), leader.action.dim, leader_hp, device, init,
                                               sigmoid=False), updates=leader_updates,
                  noise_scale=float(config.get("leader_noise_scale", 1.0)),
                  random_day_share=float(config.get("leader_random_days", 0.0)),
                  counterfactual=bool(variants), counterfactual_samples=variants, counterfactual_actions=drawn)]
    features = Features(follower.features)
    critic, columns = follower_critic_info([f.name for f in follower.collective], config.get("follower_critic_info", "all"))
    for name, rows, comps in zip(config["names"], config["clusters"], config["components"]):
        comps = [*comps, len(follower.action.names) - 1]  # every follower also learns its limit price
        group = MemberGroup(len(rows), features, len(comps), hp, device, init, sigmoid=False, share=True,
                            critic=critic, info_dim=len(follower.collective) if columns is None else len(columns))
        slots.append(Slot(name, follower, group, rows=rows, updates=hp.updates_per_episode, components=tuple(comps),
                          info_columns=columns))
    team = Team(slots, hp, seed, device)
    team.kind = team.name = variant
    team.config = config
    return team


def follower_critic_info(names: list[str], info) -> tuple[str, tuple[int, ...] | None]:
    """(critic kind, collective columns or None for all) of the followers' critics for `follower_critic_info`:
    "all", "none" or a list among `names`, the follower role's collective features (e.g. the leader's posted prices
    alone, without the auction's outcome, which each follower's own order moves). A ValueError names anything else."""
    if info == "all":
        return "collective", None
    if info == "none":
        return "own", None
    unknown = [n for n in info if n not in names]
    if unknown or not info:
        raise ValueError(f"follower_critic_info: {unknown or 'no names'} not among the followers' collective information "
                         f"{names}; name some of them (comma-separated), or all, or none")
    return "collective", tuple(names.index(n) for n in info)
