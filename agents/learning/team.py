"""A team of learning groups that plays a design's acting roles, and the policy the model calls.

A design's stage tells who acts (a role), what they see (features) and how they may act (an
action spec); a `Slot` puts a learning group (`agents.learning.groups`) on some participants
(rows) of one role. A `Team` holds the slots, acts for the model (one forward per slot and stage),
stores every cleared hour in its slots' buffers and runs the updates at the end of an episode on
a schedule (updates per episode per slot: two time scales for a leader and its followers).

The hierarchical learners of the designs are teams:
- HMADDPG (arbitrage, `agents.learning.hmaddpg`): a primary and a secondary `JointGroup`;
- MADDPG with parameter sharing per cluster (P2P): one shared `MemberGroup` per DER cluster;
- a Stackelberg leader and followers: a one-agent `JointGroup` (DDPG) and the followers' groups.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import torch

from agents.learning.groups import MemberGroup

try:  # numpy's clip ufunc: exactly np.clip's result, without its Python wrapper (~1 us less per call)
    from numpy._core.umath import clip as _clip
except ImportError:  # numpy < 2
    from numpy.core.umath import clip as _clip


@dataclass(frozen=True)
class RoleSpec:
    """What a learner knows of one acting role (from the design's stage): its stage, how many
    participants play it, their observation features and action bounds, and the collective
    information its critics may see (feature names; empty: none)."""

    role: str
    stage: str
    n_agents: int
    features: tuple
    action: object  # model.spaces.ActionSpec
    collective: tuple = ()  # Features of the collective information (empty: none)

    def to_dict(self) -> dict:
        features = lambda fs: [[f.name, f.kind, f.divisor, f.low, f.high] for f in fs]  # noqa: E731
        return {"role": self.role, "stage": self.stage, "n_agents": self.n_agents, "features": features(self.features),
                "action": {"names": list(self.action.names), "low": list(self.action.low), "high": list(self.action.high),
                           "policy_low": list(self.action.policy_low),
                           **({"meanings": list(self.action.meanings)} if self.action.meanings else {})},
                "collective": features(self.collective)}

    @classmethod
    def from_dict(cls, d: dict) -> "RoleSpec":
        from model.spaces import ActionSpec, Feature

        a = d["action"]
        return cls(d["role"], d["stage"], int(d["n_agents"]), tuple(Feature(*f) for f in d["features"]),
                   ActionSpec(tuple(a["names"]), tuple(a["low"]), tuple(a["high"]), tuple(a["policy_low"]),
                              tuple(a.get("meanings", ()))),
                   tuple(Feature(*f) for f in d.get("collective", ())))


@dataclass
class Slot:
    """A learning group on `rows` of a role (all rows: `rows=None`), updated `updates` times per
    episode, controlling the action `components` listed (None: all; the others are left at 0, e.g.
    a cluster of households without an EV does not learn an EV action)."""

    name: str
    role: RoleSpec
    group: object  # JointGroup | MemberGroup
    rows: np.ndarray | None = None
    updates: int = 1
    components: tuple[int, ...] | None = None
    counterfactual: bool = False  # store `HyperParams.counterfactual_samples` re-cleared variants of every hour (`Team.counterfactuals`)
    counterfactual_samples: int = 0  # with `counterfactual`: how many per hour (0: `HyperParams.counterfactual_samples`;
    # the Stackelberg leader's `leader_counterfactuals`)
    counterfactual_actions: tuple[str, ...] = ()  # with `counterfactual`: the action components its variants draw at
    # random, the others as played (empty: all; the Stackelberg leader's `leader_counterfactual_actions`)
    noise_scale: float = 1.0  # its exploration noise's std as a multiple of the team's sigma (the Stackelberg leader's `leader_noise_scale`)
    random_day_share: float = 0.0  # the share of exploring episodes it plays uniformly random actions (`Team.begin_episode`)
    info_columns: tuple[int, ...] | None = None  # the columns of its role's collective information its critics see (None: all)
    random_today: bool = field(init=False, default=False)  # this episode is one of them
    action: object = field(init=False, repr=False)  # the bounds of the components it controls

    def __post_init__(self):
        spec = self.role.action
        self.action = spec if self.components is None else spec.subset(self.components)
        if self.rows is not None:
            self.rows = np.asarray(self.rows)
        unknown = [n for n in self.counterfactual_actions if n not in self.action.names]
        if unknown:
            raise ValueError(f"{self.name}: counterfactual actions {unknown} are not among its actions "
                             f"{list(self.action.names)}; name some of those (empty: all)")


def resolve_device(device: str | torch.device) -> torch.device:
    """`auto` -> CUDA when present, else CPU; a named error for CUDA without a GPU or an unknown device."""
    if isinstance(device, torch.device):
        return device
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"--device {device}: CUDA is not available here; use --device cpu or auto")
    if device != "cpu" and not device.startswith("cuda"):
        raise ValueError(f"--device {device!r}: use cpu, cuda (cuda:N) or auto")
    return torch.device(device)


class Team:
    """Learning slots playing a design's roles (see the module docstring).

    `explore=True` adds Gaussian noise (std `sigma`, in [0, 1] action units) to the actions (32) and, with
    `hp.explore_uniform`, draws a decaying share of them uniformly instead;
    `begin_episode()` draws which slots play a random day (`Slot.random_day_share`); `remember(hour, last)` stores a
    cleared hour; `end_episode()` runs each slot's updates and decays sigma. With `explore=False` it is a fixed
    policy (evaluation, the app, best responses)."""

    kind = "team"
    name = "team"

    def __init__(self, slots: list[Slot], hp, seed: int = 0, device: torch.device = torch.device("cpu")):
        self.slots = slots
        self.hp = hp
        self.seed = seed
        self.device = device
        self.rng = np.random.default_rng(seed)  # exploration noise and mini-batches
        self.sigma = hp.noise_sigma0
        self.explore = False
        self._by_stage: dict[str, list[Slot]] = {}
        for slot in slots:
            self._by_stage.setdefault(slot.role.stage, []).append(slot)
        self._layouts: dict[str, tuple] = {}  # `_layout`'s, per stage
        self._info_div = {s.role.role: np.array([f.divisor for f in s.role.collective]) for s in slots}
        # the action components stored as requested, not as executed (`hp.requested_actions`; `train` checks the names
        # against the design's actions), per role
        self._requested = {s.role.role: [i for i, n in enumerate(s.role.action.names) if n in hp.requested_action_names]
                           for s in slots}
        self.config: dict = {}  # how the builder set it up (`agents.learning.builders`), saved with checkpoints
        self._pending_variants: list = []  # `household_counterfactuals`: the last hour's variants, awaiting their next hour
        # the training loop sets it while a rule plays `hp.rule_start_actions` (`runs.training.RuleStart`): the slots
        # playing them then store no `counterfactuals`, whose random actions would be fitted as the rule's
        self.rule_start_playing = False
        if hp.counterfactual_households:  # parameter-shared household groups only (`MemberGroup.store_variants`)
            unshared = [s.name for s in slots if isinstance(s.group, MemberGroup) and not s.group.share]
            if unshared:
                warnings.warn(f"counterfactual_households = {hp.counterfactual_households}: the groups {unshared} are not "
                              "parameter-shared (each member its own networks, trained on its own hours), so they "
                              "train without counterfactual transitions", stacklevel=2)
            for slot in slots:
                if isinstance(slot.group, MemberGroup) and slot.group.share:
                    slot.group.store_variants(hp.counterfactual_households)
        # `hp.counterfactual_actions`: per slot, the indices (into its own components) its variants draw at random
        named = set(hp.counterfactual_action_names)
        self._variant_drawn = {s.name: [i for i, n in enumerate(s.action.names) if not named or n in named]
                               for s in slots}

    @property
    def roles(self) -> list[RoleSpec]:
        return list({s.role.role: s.role for s in self.slots}.values())

    def check_fits(self, specs: list[RoleSpec]) -> None:
        """Raise a named error where the design (its `role_specs()`) observes or acts differently from
        the roles this team was built for, e.g. a run trained before the design's observation changed:
        its networks would read the wrong columns and act on them without any error."""
        by_role = {s.role: s for s in specs}
        for mine in self.roles:
            spec = by_role.get(mine.role)
            if spec is None:
                raise ValueError(f"this policy plays the role {mine.role!r}, which the design does not have "
                                 f"(it has {sorted(by_role)}); use a policy trained on this design")
            for what, have, want in (("observation", [f.name for f in mine.features], [f.name for f in spec.features]),
                                     ("action", list(mine.action.names), list(spec.action.names))):
                if have != want:
                    extra, missing = sorted(set(want) - set(have)), sorted(set(have) - set(want))
                    raise ValueError(
                        f"the {mine.role} policy was trained on a different {what} than the design's "
                        f"(the design {'adds ' + str(extra) if extra else 'has'}{' and drops ' + str(missing) if missing else ''}"
                        f"{' the same features in another order' if not extra and not missing else ''}): "
                        f"it was trained with an older version of localmarl; retrain it (`localmarl train`), or use the "
                        f"version named in the run's config.json (versions.git_commit)")
            if mine.action.meanings != spec.action.meanings:
                said = lambda a: ", ".join(f"{n} {m or 'as usual'}" for n, m in zip(a.names, a.meanings or [""] * a.dim))  # noqa: E731
                raise ValueError(
                    f"the {mine.role} policy was trained with actions that mean something else than this scenario's "
                    f"(trained: {said(mine.action)}; the scenario: {said(spec.action)}): play it on the scenario it was "
                    f"trained on (e.g. `--override heat_pump_action=...` as its config.json records), or retrain it")

    # --- the Policy the model calls --------------------------------------------------------------
    def act(self, stage: str, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Raw actions (len(rows), dim) for the rows' observations; one forward per slot."""
        slots = self._by_stage[stage]
        if len(slots) == 1 and slots[0].rows is None and slots[0].components is None:
            return self._act_slot(slots[0], obs, rows)
        out = np.zeros((len(rows), slots[0].role.action.dim))  # rows no slot plays (a passive cluster) stay at 0
        member_inputs: dict[int, np.ndarray] = {}  # per feature map: every row's member inputs, computed once
        for slot, mine, local, where in self._layout(stage, slots, rows):
            g = slot.group
            if isinstance(g, MemberGroup) and len(local) == g.n:  # the whole group acts: its rows of the shared inputs
                key = id(g.features)
                if key not in member_inputs:
                    member_inputs[key] = g.features.member_inputs(obs)  # shared features are every row's
                out[where] = self._act_inputs(slot, member_inputs[key][mine], local)
            else:
                out[where] = self._act_slot(slot, obs[mine], local)
        return out

    def _layout(self, stage: str, slots: list[Slot], rows: np.ndarray) -> list:
        """Per slot that plays some of `rows`: (slot, its positions in rows, its local rows, where its
        actions go in the output). The model passes the same rows array every hour, so this is worked
        out once per array (kept with a reference to it, so a new array is never mistaken for an old one)."""
        cached = self._layouts.get(stage)
        if cached is not None and cached[0] is rows:
            return cached[1]
        layout = []
        for slot in slots:
            mine = np.flatnonzero(np.isin(rows, slot.rows)) if slot.rows is not None else np.arange(len(rows))
            if len(mine):
                local = np.searchsorted(slot.rows, rows[mine]) if slot.rows is not None else rows[mine]
                where = mine if slot.components is None else np.ix_(mine, slot.components)
                layout.append((slot, mine, local, where))
        self._layouts[stage] = (rows, layout)
        return layout

    def _act_slot(self, slot: Slot, obs: np.ndarray, local_rows: np.ndarray) -> np.ndarray:
        return self._act_inputs(slot, slot.group.inputs(obs, local_rows), local_rows)

    def _act_inputs(self, slot: Slot, inputs: np.ndarray, local_rows: np.ndarray) -> np.ndarray:
        if self.explore and slot.random_today:  # one of its random episodes: every action uniform in its bounds
            return slot.action.from_unit(self.rng.random((len(local_rows), slot.action.dim)))
        u = slot.group.act(inputs)[local_rows]
        if self.explore:
            u = _clip(u + self.rng.normal(0.0, self.sigma * slot.noise_scale, u.shape), 0.0, 1.0)
            if self.hp.explore_uniform:  # some actions uniformly random instead, as many fewer as sigma has decayed
                swap = self.rng.random(u.shape) < self.hp.explore_uniform * self.sigma / self.hp.noise_sigma0
                u = np.where(swap, self.rng.random(u.shape), u)
        return slot.action.from_unit(np.asarray(u, dtype=float))  # no copy when already float64 (exploring)

    # --- learning --------------------------------------------------------------------------------
    def begin_episode(self) -> None:
        """Before an episode: every slot with a `random_day_share` draws whether it plays this episode at uniformly
        random actions when exploring (e.g. the Stackelberg leader's `leader_random_days`: its followers then learn to
        answer prices off the leader's path). Slots without one draw nothing (the team's random stream unchanged)."""
        for slot in self.slots:
            if slot.random_day_share:
                slot.random_today = bool(self.rng.random() < slot.random_day_share)

    def remember(self, hour, last: bool) -> None:
        """Store a cleared hour in every slot's buffer: the role's observations, actions (in [0, 1])
        and its reward of the hour (what the design pays that role), `last` = end of the episode."""
        for slot in self.slots:
            self._remember_slot(slot, hour, last)

    def _remember_slot(self, slot: Slot, hour, last: bool) -> None:
        slot.group.remember(*self._transition(slot, hour), last)

    def _transition(self, slot: Slot, hour, rows: np.ndarray | None = None):
        """(observations, actions in [0, 1], rewards, collective information or None) of the slot's rows in `hour`, or
        of `rows` (indices into the role's population) only."""
        r = slot.role
        record = hour.records[r.stage]
        # what the devices or markets executed, where the stage projects the actions (it records them), except the
        # components stored as requested (`hp.requested_actions`)
        executed = getattr(record, "executed_actions", None)
        act = hour.actions[r.stage] if executed is None else executed
        keep = self._requested[r.role]
        if keep and executed is not None:
            act = act.copy()
            act[:, keep] = hour.actions[r.stage][:, keep]
        obs, rew = hour.observations[r.stage], hour.rewards[r.role]
        pick = slot.rows if rows is None else rows
        if pick is not None:
            obs, act, rew = obs[pick], act[pick], rew[pick]
        if slot.components is not None:
            act = act[:, slot.components]
        return obs, slot.action.to_unit(act), rew, self._collective(slot, hour)

    def _collective(self, slot: Slot, hour):
        """The collective information the slot's critics see in `hour` (scaled), or None where its role has none."""
        r = slot.role
        if not r.collective:
            return None
        info = hour.records[r.stage].collective / self._info_div[r.role]
        return info if slot.info_columns is None else info[..., list(slot.info_columns)]

    def household_counterfactuals(self, model, hour, last: bool) -> None:
        """`HyperParams.counterfactual_households` = K: complete the previous hour's variants with this hour (each
        deviating member's next observation as its devices would have left it, `design.counterfactual_observation`),
        then draw this hour's: K members of every slot with a variant buffer (a parameter-shared household group) play
        uniformly random actions on the slot's components, everyone else as played, and the hour clears again from its
        start states (`design.counterfactual_hour`). At the episode's last hour they are stored at once, as terminal."""
        for slot, rows, first, variant in self._pending_variants:
            after = model.design.counterfactual_observation(hour, variant)[rows]
            self._store_variants(slot, first, slot.group.features.member_inputs(after), self._collective(slot, hour),
                                 done=False)
        self._pending_variants = []
        k = self.hp.counterfactual_households
        for stage, slots in self._by_stage.items():
            slots = [s for s in slots if s.group.variants is not None and self._variant_drawn[s.name]]
            if not slots:
                continue
            draws = []
            for slot in slots:
                members = slot.rows if slot.rows is not None else np.arange(slot.role.n_agents)
                rows = np.sort(self.rng.choice(members, size=min(k, len(members)), replace=False))
                draws.append((slot, rows, self.rng.random((len(rows), slot.action.dim))))
            variant = self.counterfactual_variant(model, hour, stage, draws)
            for slot, rows, _ in draws:
                first = self._transition(slot, variant, rows)
                if last:
                    self._store_variants(slot, first, slot.group.features.member_inputs(first[0]), first[3], done=True)
                else:
                    self._pending_variants.append((slot, rows, first, variant))

    def counterfactual_variant(self, model, hour, stage: str, draws):
        """`hour` cleared again with, for each (slot, rows, unit actions (len(rows), slot's action dim)) of `draws`,
        those rows playing those actions on the slot's components (`hp.counterfactual_actions`: on those named only;
        the others as played)."""
        actions = np.array(hour.actions[stage], dtype=float)
        for slot, rows, unit in draws:
            raw = slot.action.from_unit(np.asarray(unit, dtype=float))
            own = np.arange(slot.action.dim) if slot.components is None else np.asarray(slot.components)
            drawn = self._variant_drawn[slot.name]
            actions[np.ix_(rows, own[drawn])] = raw[:, drawn]
        return model.design.counterfactual_hour(model, hour, stage, actions)

    def _store_variants(self, slot: Slot, first, inputs_next: np.ndarray, info_next, done: bool) -> None:
        obs, unit, rew, info = first
        g = slot.group
        none = np.zeros(0, np.float32)
        g.remember_variants(g.features.member_inputs(obs), unit, rew, info if g.info_dim else none, inputs_next,
                            info_next if g.info_dim else none, done)

    def counterfactuals(self, model, hour) -> None:
        """`HyperParams.counterfactual_samples` = M extra transitions of `hour` for every slot built with
        `counterfactual=True`: M times, one agent drawn at random plays a uniformly random action instead
        of its own, the market clears that stage again (`MarketModel.reclear`), and the hour as it would
        have been is stored. Each is a true joint transition, valid for every agent's critic; they show
        the critics what other actions would have earned, which exploration near the current policy
        rarely does. For stages whose hours are independent (what an action does now changes no later
        observation) and gamma = 0 (the stored order of transitions is then never read)."""
        # household designs replay the hour from its start states (`counterfactual_hour`): their stages move devices
        reclear = getattr(model.design, "counterfactual_hour", None) or (lambda m, h, s, a: m.reclear(h, s, a))
        for slot in self.slots:
            m = self._counterfactual_count(slot)
            if not m:
                continue
            stage, n = slot.role.stage, slot.role.n_agents
            played = np.asarray(hour.actions[stage], dtype=float)
            columns = [slot.role.action.names.index(c) for c in slot.counterfactual_actions]
            drawn = slot.role.action.subset(columns) if columns else None
            for _ in range(m):
                actions = played.copy()
                agent = int(self.rng.integers(n))
                if drawn is None:
                    actions[agent] = slot.action.from_unit(self.rng.random(played.shape[1]))
                else:  # some components only, the others as played
                    actions[agent, columns] = drawn.from_unit(self.rng.random(len(columns)))
                self._remember_slot(slot, reclear(model, hour, stage, actions), last=False)

    def _counterfactual_count(self, slot: Slot) -> int:
        """How many `counterfactuals` of every hour `slot` stores: its own count, else the team's (0 unless built with
        `counterfactual=True`, and while a rule plays some of its components: `rule_start_playing`)."""
        if not slot.counterfactual or (self.rule_start_playing and self._imitating(slot, slot.counterfactual_actions)):
            return 0
        return slot.counterfactual_samples or self.hp.counterfactual_samples

    def _imitating(self, slot: Slot, names: tuple[str, ...] = ()) -> bool:
        """Whether `slot` plays one of the rule start's components (`hp.rule_start_actions`), among `names` (empty:
        all of its components)."""
        return bool(set(names or slot.action.names) & set(self.hp.rule_start_action_names))

    @property
    def stores_counterfactuals(self) -> bool:
        """Whether some slot stores `counterfactuals` of every hour (`runs.training.store_hour` asks)."""
        return any(self._counterfactual_count(s) for s in self.slots)

    def imitation_problem(self, names: tuple[str, ...]) -> str | None:
        """Why this team cannot fit its actors to stored actions of the components `names` (None: it can)."""
        for slot, _ in self._imitating_slots(names):
            if not slot.group.can_imitate:
                return (f"its {slot.name} actors play mixed strategies (mixed_levels), which cannot be fitted to a "
                        "rule's actions")
        return None

    def _imitating_slots(self, names: tuple[str, ...]) -> list[tuple[Slot, list[int]]]:
        """(slot, its local action columns named in `names`) for every slot controlling one of them."""
        out = []
        for slot in self.slots:
            names_of = slot.role.action.names
            comps = range(len(names_of)) if slot.components is None else slot.components
            local = [k for k, c in enumerate(comps) if names_of[c] in names]
            if local:
                out.append((slot, local))
        return out

    def imitate(self, names: tuple[str, ...], steps: int) -> dict[str, float]:
        """Fit every slot's actor outputs for the action components `names` to the actions stored for them
        (`_Group.imitate`, mini-batches drawn with the team's rng); slots without such a component are left as they
        are. Returns each fitted slot's last loss ({slot name}_imitation_loss)."""
        return {f"{slot.name}_imitation_loss": slot.group.imitate(local, steps, self.rng)
                for slot, local in self._imitating_slots(names)}

    def hold_actors(self, names: tuple[str, ...], hold: bool) -> None:
        """Hold (or release) the actors of every slot that plays one of the components `names`: a held slot's updates
        fit its critics only (`_Group.critic_only`; `HyperParams.rule_start_critic_episodes`)."""
        for slot, _ in self._imitating_slots(names):
            slot.group.critic_only = hold

    def end_episode(self) -> dict[str, float]:
        """Each slot's updates per episode (interleaved, slot order), then sigma *= decay factor."""
        stats: dict[str, float] = {}
        for k in range(max((s.updates for s in self.slots), default=0)):
            for slot in self.slots:
                if k < slot.updates:
                    for key, v in slot.group.update(self.rng).items():
                        stats[f"{slot.name}_{key}"] = v
        self.sigma *= self.hp.noise_decay
        for slot in self.slots:
            slot.group.decay_learning_rates()
        return stats

    # --- state -----------------------------------------------------------------------------------
    def policy_state(self) -> dict:
        return {s.name: s.group.policy_state() for s in self.slots}

    def training_state(self) -> dict:
        return {s.name: s.group.training_state() for s in self.slots}

    def load_state(self, state: dict) -> None:
        for s in self.slots:
            s.group.load(state[s.name])
