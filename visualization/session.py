"""What the app's controls choose, the model built from that choice, and the snapshot the views draw.

Each browser session builds its own `LocalMarketModel` from a `Settings`; after every step the page
copies what the views need into a `Snapshot`, so drawing never reads a model that a play thread
is stepping at the same moment.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from agents import policies
from agents.brains import POLICIES
from model import dataset
from model.model import HourResult, LocalMarketModel
from runs import results

#: Where run folders go (`localmarl train` writes its trained policies there).
RUNS_OUT = Path(__file__).resolve().parent.parent / "runs" / "out"
#: Prefix of a policy choice that names a trained run folder (relative to the runs folder).
TRAINED_PREFIX = "trained:"
#: Location swaps offered in the controls ("none" keeps the scenario's locations).
LOCATION_SWAPS = ("none", "5:9,8:10", "5:9", "8:10")
WEEK_SETS = ("test", "eval", "train")


def weeks_in_set(week_set: str) -> int:
    """How many weeks `week_set` ("train", "eval" or "test") has."""
    return len(getattr(dataset.week_split(), week_set))


@dataclass(frozen=True)
class Settings:
    """One choice of the app's controls; a change builds a new model."""

    scenario: str = "s-a"
    week_set: str = "test"
    week_number: int = 1  # 1-based within the set
    policy: str = "truthful"  # a name in POLICIES, or TRAINED_PREFIX + run folder
    location_swap: str = "none"
    seed: int = 0

    @property
    def week_spec(self) -> str:
        return f"{self.week_set}:{self.week_number}"


def _run_files():
    """The file names that mark a `localmarl train` folder (the learning code's own constants)."""
    from agents.training import CHECKPOINTS, POLICY_META  # light: numpy and pandas only

    return POLICY_META, CHECKPOINTS


def trained_runs(root: Path | None = None) -> list[str]:
    """Training run folders under `root` (default `runs/out`), as relative POSIX paths: the folders
    that hold a final policy or a checkpoint."""
    root = Path(RUNS_OUT if root is None else root)
    if not root.is_dir():
        return []
    policy_meta, checkpoints = _run_files()
    found = {p.parent for p in root.glob(f"**/{policy_meta}")}
    found |= {p.parent.parent for p in root.glob(f"**/{checkpoints}/ep*.json")}
    return sorted(d.relative_to(root).as_posix() for d in found)


def policy_options(root: Path | None = None) -> list[str]:
    """The policies offered: the built-in brains, then one entry per trained run folder."""
    return [*POLICIES, *(TRAINED_PREFIX + r for r in trained_runs(root))]


def resolve_policy(policy: str, root: Path | None = None):
    """(policy argument for the model, scenario to use or None) for a choice of the Policy control.

    A trained run brings its brain and the scenario it was trained on; a run that cannot be loaded
    raises `agents.policies.PolicyLoadError`."""
    if policy.startswith(TRAINED_PREFIX):
        policy = Path(RUNS_OUT if root is None else root) / policy[len(TRAINED_PREFIX):]
    resolved = policies.resolve_policy(policy)
    return resolved.policy, resolved.scenario


def build_model(settings: Settings, runs_root: Path | None = None) -> LocalMarketModel:
    policy, trained_scenario = resolve_policy(settings.policy, runs_root)
    swap = None if settings.location_swap == "none" else settings.location_swap
    return LocalMarketModel(
        scenario=trained_scenario or settings.scenario,
        week=settings.week_spec,
        policy=policy,
        location_swap=swap,
        seed=settings.seed,
    )


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The model after its latest step: everything the views draw, copied out of the model."""

    scenario: str
    policy: str
    week: int  # absolute 0-based week
    week_spec: str
    hours_done: int
    n_hours_total: int
    running: bool
    hour: HourResult | None  # the last cleared hour (None before the first step)
    hour_start_cet: pd.Timestamp | None  # when that hour began, CET (UTC+1, as the market's data)
    tables: dict[str, pd.DataFrame] | None  # runs.results.tables (None before the first step)
    # the feeder and who sits where
    feeder: object
    aggregator_ids: tuple[int, ...]
    agg_bus_index: np.ndarray  # bus index of each aggregator
    line_s_max_mva: np.ndarray  # the limits the DSO enforces (line_limit_factor applied)
    v_min_pu: float
    v_max_pu: float

    @property
    def flex_mw(self) -> float:
        h = self.hour
        return 0.0 if h is None else float(h.up_mw.sum() + h.dn_mw.sum())


def take_snapshot(model: LocalMarketModel, week_spec: str) -> Snapshot:
    g, h = model.scenario.grid, model.hour_result
    start = None
    if h is not None:
        start = pd.Timestamp(model.raw.hour_utc[h.week * dataset.HOURS_PER_WEEK + h.hour_of_week]) + pd.Timedelta(hours=1)
    return Snapshot(
        scenario=model.scenario.name,
        policy=model.policy_name,
        week=model.week if h is None else h.week,
        week_spec=week_spec,
        hours_done=model.hours_done,
        n_hours_total=model.n_hours_total,
        running=model.running,
        hour=h,
        hour_start_cet=start,
        tables=results.tables(model) if model.hours_done else None,
        feeder=model.feeder,
        aggregator_ids=tuple(model.scenario.aggregator_ids),
        agg_bus_index=model.agg_bus_index.copy(),
        line_s_max_mva=np.asarray(model.lfm_network.line_s_max_mva, float).copy(),
        v_min_pu=g.v_min_pu,
        v_max_pu=g.v_max_pu,
    )
