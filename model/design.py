"""Market designs: a market as an ordered list of stages that the framework clears every hour.

A *design* (one per market system: `arbitrage`, `p2p`, `stackelberg`, or one of your own) declares

- its **stages** in order. Each `Stage` names the role that acts in it (or none: a settlement),
  what that role observes (`Feature`s, raw units, with the scale a learner divides by), the
  bounds of its action (`ActionSpec`, read by the model, the learners and the PettingZoo env
  alike), the registered mechanism that clears it (`model.markets`), and what each role is paid
  once it has cleared;
- its **participants**: Mesa agents created by the design, each acting through its own policy
  (`policy.act(stage, observations, rows)`); the model groups the participants of a role by
  policy object, so a population of hundreds acts in one vectorised call per group;
- its **record**: the tidy per-hour tables (`model.record.TableSpec`) it appends every hour.

The model (`model.model.MarketModel`) then runs, every hour,

    inputs = design.begin_hour()                    exogenous data of the hour
    for stage in design.stages:
        obs     = stage.observe(hour)               what the acting role sees
        actions = policies act (one call per group), checked and clipped to stage.action
        record  = stage.clear(hour, actions)        the mechanism clears; an immutable record
        hour    = hour.with_stage(...)              + the rewards known after this stage
    design.end_hour(hour)                           device states advance; the record grows

and keeps the cleared hour as one immutable `Hour` (its stage records by name: `hour.lem`).

Designs are found by name (`get_design("arbitrage")`) or by a dotted path to a class
(`get_design("tests.toy_design:TwoSellerPool")`), so a new design needs no framework edit.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, ClassVar, Mapping, NamedTuple

import numpy as np

from model import dataset
from model.spaces import OWN, SHARED, TIME, ActionSpec, Feature  # noqa: F401  (re-exported for designs)


@dataclass(frozen=True)
class LearnerSetting:
    """A key of a design's learner configuration (`MarketDesign.default_learner(config=...)`) that
    users may change (`localmarl train|study --learner-config NAME=VALUE`): what it means, and how
    its text is read (`parse` raises ValueError naming what it accepts)."""

    help: str
    parse: Callable[[str], Any]


class SettingsListed(Exception):
    """Raised by `MarketDesign.learner_config` for `--learner-config help`: the command prints the message (the
    design's settings) and exits 0 without doing any work."""


@dataclass(frozen=True, eq=False)
class Stage:
    """One market stage of an hour (see the module docstring)."""

    name: str
    clear: Callable[["Hour", np.ndarray | None], Any]
    role: str | None = None
    observation: tuple[Feature, ...] = ()
    observe: Callable[["Hour"], np.ndarray] | None = None
    action: ActionSpec | None = None
    mechanism: str = ""
    pay: Callable[["Hour"], Mapping[str, np.ndarray]] | None = None
    #: names of the collective information its record carries for the critics (`record.collective`)
    collective: tuple[str, ...] = ()

    def __post_init__(self):
        if self.role is not None and (self.observe is None or self.action is None):
            raise ValueError(f"stage {self.name!r}: a stage in which {self.role!r} acts needs `observe` and `action`")

    @property
    def columns(self) -> tuple[str, ...]:
        """The observation's column names, in order."""
        return tuple(f.name for f in self.observation)


_EMPTY: Mapping = MappingProxyType({})


class Hour(NamedTuple):
    """One market hour, immutable: its inputs, and per stage cleared so far its record (`hour.lem`),
    the acting role's observations and actions, and each role's reward known so far this hour.
    (A named tuple: cheap to create, several per hour.)"""

    week: int
    hour_of_week: int
    inputs: Any
    records: Mapping[str, Any] = _EMPTY
    observations: Mapping[str, np.ndarray] = _EMPTY
    actions: Mapping[str, np.ndarray] = _EMPTY
    rewards: Mapping[str, np.ndarray] = _EMPTY

    def __getattr__(self, name: str):
        # only called for names that are not fields: the stage records by stage name
        try:
            return self.records[name]
        except KeyError:
            raise AttributeError(f"this hour has no stage record or field {name!r} (stages so far: {list(self.records)})") from None

    def __repr__(self) -> str:
        return f"Hour(week={self.week}, hour_of_week={self.hour_of_week}, stages={list(self.records)})"

    def with_stage(self, stage: str, record, observations=None, actions=None) -> "Hour":
        """This hour with `stage` cleared (a new object; this one is unchanged)."""
        obs = self.observations if observations is None else MappingProxyType({**self.observations, stage: observations})
        act = self.actions if actions is None else MappingProxyType({**self.actions, stage: actions})
        return Hour(self.week, self.hour_of_week, self.inputs, MappingProxyType({**self.records, stage: record}), obs, act,
                    self.rewards)

    def with_rewards(self, rewards: Mapping[str, np.ndarray]) -> "Hour":
        """This hour with the rewards known so far updated per role (a new object)."""
        return Hour(self.week, self.hour_of_week, self.inputs, self.records, self.observations, self.actions,
                    MappingProxyType({**self.rewards, **rewards}))


class DesignError(ValueError):
    """A design cannot be found or imported; the message says which and how to name one."""


class Policy:
    """What a participant does in the stages its role acts in (documentation of the protocol).

    `act(stage, obs, rows)`: `obs` is (len(rows), len(stage.observation)) in raw units, `rows`
    the participants' positions in the design's population; returns (len(rows), stage.action.dim)
    raw actions. A policy acts for a whole group at once."""

    name: str = "policy"

    def act(self, stage: str, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:  # pragma: no cover - protocol
        raise NotImplementedError


class MarketDesign:
    """Base class of a market design bound to one model (its scenario, data, solvers, agents).

    Subclasses set `name`, `episode_hours`, `policies` (built-in policy names), and implement
    `stages`, `participants`, `load_week`, `begin_hour`, `make_policy`, and optionally `end_hour`,
    `begin_episode`, `tables`/`record` (the tidy record), `model_reporters` (Mesa's DataCollector,
    for `mesa.batch_run`), `outputs` (the CSVs `localmarl simulate` writes)."""

    name: ClassVar[str] = ""
    episode_hours: ClassVar[int] = 168  # a learning episode (and an evaluation episode)
    policies: ClassVar[tuple[str, ...]] = ()
    #: the acting roles, in stage order
    roles: ClassVar[tuple[str, ...]] = ()
    #: what a participant is called in messages and tables ("aggregator", "household")
    participant_label: ClassVar[str] = "participant"
    #: dotted paths of this design's plug-ins in the layers above the model (loaded by name):
    #: "report" (the study report), "views" (the app's views), "study" (the study's profiles and jobs)
    plugins: ClassVar[Mapping[str, str]] = MappingProxyType({})
    #: the class that reads this design's scenario files (`from_raw(raw, where, stem)`)
    scenario_class: ClassVar[type] = object

    def __init__(self, model):
        self.model = model

    # --- what subclasses provide -------------------------------------------------------------
    stages: tuple[Stage, ...] = ()

    def participants(self) -> list:
        """The Mesa agents that act (rows of every stage's observation, in order)."""
        raise NotImplementedError

    def population(self, role: str) -> list:
        """The Mesa agents that play `role` (the rows of its stages' observations), in order."""
        return self.participants()

    def participant_ids(self) -> list:
        """A label per participant (row), used in error messages and agent names."""
        return [getattr(a, "participant_id", i) for i, a in enumerate(self.participants())]

    def participant_groups(self) -> list[str] | None:
        """A group label per participant (a DER cluster, "leader") for summaries of many participants;
        None: summarise per participant."""
        return None

    def load_week(self, week: int) -> None:
        raise NotImplementedError

    def begin_episode(self) -> None:
        """Start of an episode (`episode_hours` long): reset device states and the like."""

    def begin_hour(self, week: int, hour_of_week: int) -> Hour:
        raise NotImplementedError

    def end_hour(self, hour: Hour) -> None:
        """After the last stage: advance device states and the like."""

    def reset_counters(self) -> None:
        """Zero the design's work counters (`counters`), e.g. before a benchmark's timed part."""

    def counters(self) -> dict:
        """What the design's solvers did since `reset_counters` (benchmarks report it)."""
        return {}

    def cold_start(self) -> None:
        """Forget state carried over from earlier hours that is not part of the market (a solver's
        warm start), so that an episode's numbers never depend on earlier episodes."""

    def make_policy(self, name: str, rng: np.random.Generator) -> Policy:
        raise NotImplementedError

    def tables(self) -> Mapping[str, "object"]:
        """The tidy record's tables (`model.record.TableSpec` by name)."""
        return {}

    def record(self, hour: Hour, hour_index: int) -> Mapping[str, Mapping[str, object]]:
        """One cleared hour's rows for each table: {table: {column: values}}."""
        return {}

    #: `localmarl simulate`'s CSVs: file stem -> `model.record.Output`
    outputs: ClassVar[Mapping[str, Any]] = MappingProxyType({})

    def summary(self, record) -> str:
        """A few lines about a simulated run (printed by `localmarl simulate`, saved as summary.txt)."""
        return f"hours simulated {record.hours}"

    #: the market columns of `sweep_rows` a sweep plots against each parameter ((column, title)), and sums
    sweep_panels: ClassVar[tuple[tuple[str, str], ...]] = ()
    sweep_market_sums: ClassVar[tuple[str, ...]] = ()
    #: what a row of `sweep_rows`'s first table is (default: a participant; the P2P design: a cluster)
    sweep_participant_label: ClassVar[str | None] = None


    def sweep_rows(self, record) -> tuple[list[dict], dict]:
        """A run's summary for a sweep: (one row per participant incl. its scores and "total_eur", one market row)."""
        raise NotImplementedError

    def model_reporters(self) -> Mapping[str, Callable]:
        """Mesa DataCollector model reporters (what `mesa.batch_run` returns per step)."""
        return {}

    # --- learning and evaluation ------------------------------------------------------------------
    #: the per-participant scores of an hour (`hour_scores`), summed over an episode; their sum is the total
    score_columns: ClassVar[tuple[str, ...]] = ()
    #: the participant a report or a progress line follows (None: none in particular)
    focus_participant: ClassVar[object] = None

    def hour_scores(self, hour: Hour) -> tuple[np.ndarray, ...]:
        raise NotImplementedError

    #: why a run of this design cannot keep its best snapshot (`keep_best`; None: it can, by `selection_score`)
    keep_best_refused: ClassVar[str | None] = None
    #: why a run of this design cannot keep each learning group at its own best snapshot (`keep_best_per_group`; None: it
    #: can: every group's slot rows are participant indices, in `participant_ids` order, and its score is
    #: `selection_score` over those participants)
    keep_best_per_group_refused: ClassVar[str | None] = "its learners' groups are not sets of its participants"
    #: why a run of this design cannot weigh a best response's gain into its snapshot selection
    #: (`selection_best_response`; None: it can, by `selection_best_response_eur`)
    selection_best_response_refused: ClassVar[str | None] = "it has no best response cheap enough to search at every evaluation"
    #: why a run of this design cannot start training episodes part-way (`exploring_starts`; None: it can: an episode
    #: that `reset_episode` starts after the episode's first hour begins from the design's exploring start states)
    exploring_starts_refused: ClassVar[str | None] = "its episodes carry no state from hour to hour to explore"
    #: why a run of this design cannot store counterfactual household transitions (`counterfactual_households`; None: it
    #: can: it has `counterfactual_hour` and `counterfactual_observation`)
    counterfactual_households_refused: ClassVar[str | None] = "it has no household clusters whose hours it can replay"

    def selection_score(self, total: np.ndarray) -> float:
        """One number for a learned policy from every participant's total score over the evaluation week
        (`total`, in `participant_ids` order; higher is better): what a run with `keep_best` keeps the best
        snapshot by. Default: the sum over participants (the community's net reward; in a competitive design
        it favours snapshots where the participants earn well together, not ones closer to an equilibrium)."""
        return float(np.sum(total))

    def selection_best_response_eur(self, model, policy, weeks: list[int]) -> np.ndarray:
        """(n_participants,) what a cheap best response gains over `policy` (EUR summed over every episode of
        `weeks`, absolute week numbers; NaN: a participant not searched), each participant's searched with
        everyone else at `policy`, played through `model` (this design's, from its episodes' cold starts; it has
        `policy` back after). A run with `selection_best_response` > 0 subtracts the weighted sum from
        `selection_score` (`selection_best_response_refused` says why a design has none)."""
        raise NotImplementedError(f"the {self.name} design: {self.selection_best_response_refused}")

    def training_episodes(self) -> np.ndarray:
        """The ids of the episodes training draws from (`episode_start` maps an id to its first hour)."""
        return np.array(dataset.week_split().train)

    def episode_start(self, episode: int) -> tuple[int, int]:
        """(week, first hour of week) of a training episode id."""
        return int(episode), 0

    def episodes_of_week(self, week: int) -> list[tuple[int, int]]:
        """The (first hour, hours) of the episodes that make up `week` (evaluation plays them all)."""
        return [(h, self.episode_hours) for h in range(0, dataset.HOURS_PER_WEEK, self.episode_hours)]

    def role_specs(self):
        """What a learner needs of each acting role: stage, number of participants, features, bounds."""
        from agents.learning.team import RoleSpec

        return [RoleSpec(s.role, s.name, len(self.population(s.role)), s.observation, s.action, s.collective)
                for s in self.acting_stages()]

    #: the learner kinds `localmarl train --learner` offers (the first is the default)
    learners: ClassVar[tuple[str, ...]] = ()
    #: the design's learner hyperparameters where they differ from `HyperParams()` (the paper's arbitrage values)
    hyperparams: ClassVar[Mapping[str, object]] = MappingProxyType({})

    #: the learner configuration keys users may change (`--learner-config NAME=VALUE`); none by default
    learner_settings: ClassVar[Mapping[str, LearnerSetting]] = MappingProxyType({})

    def default_learner(self, hp, seed: int, device, config: dict | None = None):
        """The learner `localmarl train` trains for this design (`config["variant"]`: one of `learners`;
        the keys of `learner_settings` on top of the design's values)."""
        raise NotImplementedError

    @classmethod
    def learner_settings_text(cls) -> str:
        """`--learner-config help`: the design's learner settings, one per line with what it means and its default."""
        if not cls.learner_settings:
            return (f"the {cls.name} design's learner has no settings to change with --learner-config (its "
                    "hyperparameters change with --set NAME=VALUE)")
        return "\n".join([f"--learner-config NAME=VALUE settings of the {cls.name} design's learner:",
                          *(f"  {k}: {v.help}" for k, v in cls.learner_settings.items())])

    @classmethod
    def learner_config(cls, pairs: list[str] | None) -> dict:
        """`NAME=VALUE` texts (`--learner-config`) as a learner configuration: NAME one of
        `learner_settings`, VALUE read by its `parse`. A clear ValueError for any other; "help" among them raises
        `SettingsListed` with `learner_settings_text()`, for the command to print instead of running."""
        out = {}
        if any(pair.strip() == "help" for pair in pairs or ()):
            raise SettingsListed(cls.learner_settings_text())
        for pair in pairs or ():
            name, eq, text = (part.strip() for part in pair.partition("="))
            if not cls.learner_settings:
                raise ValueError(f"--learner-config {pair!r}: {cls.learner_settings_text()}")
            if not eq or name not in cls.learner_settings:
                known = "; ".join(f"{k}: {v.help}" for k, v in cls.learner_settings.items())
                raise ValueError(f"--learner-config {pair!r}: use NAME=VALUE with NAME one of the {cls.name} learner's "
                                 f"settings ({known})")
            try:
                out[name] = cls.learner_settings[name].parse(text)
            except ValueError as e:
                raise ValueError(f"--learner-config {pair!r}: {e}") from None
        return out

    def observation_bounds(self, stage: Stage) -> tuple[np.ndarray, np.ndarray]:
        """(low, high), each (n_participants, n_features): the env's observation space per participant."""
        n = len(self.population(stage.role))
        low = np.array([f.low for f in stage.observation], float)
        high = np.array([f.high for f in stage.observation], float)
        return np.tile(low, (n, 1)), np.tile(high, (n, 1))

    # --- derived --------------------------------------------------------------------------------
    def stage(self, name: str) -> Stage:
        for s in self.stages:
            if s.name == name:
                return s
        raise KeyError(f"design {self.name!r} has no stage {name!r}; stages: {[s.name for s in self.stages]}")

    def acting_stages(self) -> tuple[Stage, ...]:
        return tuple(s for s in self.stages if s.role is not None)


#: Built-in designs: name -> "module:Class" (imported when first asked for).
BUILTIN_DESIGNS: dict[str, str] = {
    "arbitrage": "model.designs.arbitrage:ArbitrageDesign",
    "p2p": "model.designs.p2p:P2PDesign",
    "stackelberg": "model.designs.stackelberg:StackelbergDesign",
}


def get_design(name: str) -> type[MarketDesign]:
    """A design class by registered name, or by `"package.module:Class"` for one of your own."""
    target = BUILTIN_DESIGNS.get(name, name)
    module, sep, attr = target.partition(":")
    if not sep:
        raise DesignError(f"unknown market design {name!r}: use one of {sorted(BUILTIN_DESIGNS)} "
                       "or \"package.module:DesignClass\" for a design of your own")
    try:
        cls = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise DesignError(f"market design {name!r}: cannot import {target} ({type(e).__name__}: {e})") from None
    if not (isinstance(cls, type) and issubclass(cls, MarketDesign)):
        raise DesignError(f"market design {name!r}: {target} is not a MarketDesign subclass")
    return cls
