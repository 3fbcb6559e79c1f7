"""What a role observes and how it may act: observation features and action bounds.

Plain data read by the model (which clips actions), the learners (which normalise observations and
act in [0, 1]) and the PettingZoo env (its spaces). Nothing here knows any market.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

try:  # numpy's clip ufunc: exactly np.clip's result, without its Python wrapper (~1 us less per call)
    from numpy._core.umath import clip as _clip
except ImportError:  # numpy < 2
    from numpy.core.umath import clip as _clip

#: Kinds of observation feature (how a learner turns it into inputs; see `agents.learning.features`):
TIME = "time"  # hour of week: becomes sin/cos of the hour of day and of the hour of week
SHARED = "shared"  # the same for every participant of the stage (a price): appears once in a joint observation
OWN = "own"  # the participant's own value
FEATURE_KINDS = (TIME, SHARED, OWN)


@dataclass(frozen=True)
class Feature:
    """One observation column: its name (with units), its kind, the scale a learner divides the raw
    value by, and finite bounds where the design knows them (the env's observation spaces)."""

    name: str
    kind: str = OWN
    divisor: float = 1.0
    low: float = -np.inf
    high: float = np.inf

    def __post_init__(self):
        if self.kind not in FEATURE_KINDS:
            raise ValueError(f"feature {self.name!r}: kind {self.kind!r} must be one of {FEATURE_KINDS}")
        if not self.divisor > 0:
            raise ValueError(f"feature {self.name!r}: divisor must be > 0")


@dataclass(frozen=True, eq=False)
class ActionSpec:
    """The bounds of one role's action, per action component, in raw units.

    `low`/`high` bound what the model executes (it clips to them) and the env's action space.
    `policy_low` is the lowest value the framework's own policies emit (default `low`): e.g. LFM
    prices, where a zero-price bid makes the LP degenerate, so rule-based and learned bidders bid at
    least 0.01 €/MWh while the env accepts 0. Learners act in [0, 1] per component (`from_unit`)."""

    names: tuple[str, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    policy_low: tuple[float, ...] | None = None
    #: per component, what the action means where a scenario changes it from the design's usual meaning ("" = the
    #: usual; empty tuple: every one usual), e.g. a heat pump's "setpoint": a policy trained on one meaning refuses another
    meanings: tuple[str, ...] = ()

    def __post_init__(self):
        object.__setattr__(self, "meanings", tuple(str(m) for m in self.meanings) if any(self.meanings) else ())
        if self.meanings and len(self.meanings) != len(self.names):
            raise ValueError(f"ActionSpec {self.names}: meanings need one entry per component (or none), got {self.meanings}")
        object.__setattr__(self, "low", tuple(float(x) for x in self.low))
        object.__setattr__(self, "high", tuple(float(x) for x in self.high))
        if self.policy_low is None:
            object.__setattr__(self, "policy_low", self.low)
        if not len(self.names) == len(self.low) == len(self.high) == len(self.policy_low):
            raise ValueError(f"ActionSpec {self.names}: names, low, high and policy_low need one entry per component")
        if any(not (lo < hi) for lo, hi in zip(self.low, self.high)):
            raise ValueError(f"ActionSpec {self.names}: every low must be below its high ({self.low} vs {self.high})")
        object.__setattr__(self, "_low", np.array(self.low))
        object.__setattr__(self, "_high", np.array(self.high))
        object.__setattr__(self, "_span", np.array(self.high) - np.array(self.low))
        object.__setattr__(self, "_plow", np.array(self.policy_low))

    @property
    def dim(self) -> int:
        return len(self.names)

    def clip(self, actions: np.ndarray) -> np.ndarray:
        return _clip(actions, self._low, self._high)

    def to_unit(self, actions: np.ndarray) -> np.ndarray:
        """Raw actions (..., dim) -> [0, 1] per component."""
        return (actions - self._low) / self._span

    def subset(self, components) -> "ActionSpec":
        """The bounds of some components only (e.g. the devices a cluster of households has)."""
        k = list(components)
        return ActionSpec(tuple(self.names[i] for i in k), tuple(self.low[i] for i in k), tuple(self.high[i] for i in k),
                          tuple(self.policy_low[i] for i in k), tuple(self.meanings[i] for i in k) if self.meanings else ())

    def with_meaning(self, name: str, meaning: str) -> "ActionSpec":
        """These bounds with the component `name` meaning `meaning` ("" = the usual)."""
        meanings = list(self.meanings or [""] * self.dim)
        meanings[self.names.index(name)] = meaning
        return replace(self, meanings=tuple(meanings))

    def from_unit(self, unit: np.ndarray) -> np.ndarray:
        """[0, 1] per component -> raw actions within [policy_low, high]."""
        return _clip(self._low + unit * self._span, self._plow, self._high)
