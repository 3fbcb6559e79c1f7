"""What the app's controls choose, the model built from that choice, and the snapshot the page draws.

Each browser session builds its own `MarketModel` from a `Settings`; after every hour the page
takes a `Snapshot` of it (under the session's lock), so drawing never reads a model that a play
thread is stepping at that moment. A snapshot costs the same at hour 1 and hour 8,000: the design's
views keep references to the record's column views (`model.record.column`), they copy nothing.

Trained runs are the `localmarl train` folders under `runs/out` of the current working directory
(where the command line writes by default, `runs.output.DEFAULT_OUT`) and, when that is another
folder, under the repository's own `runs/out`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from model import dataset
from runs.output import DEFAULT_OUT

#: The repository's own runs folder (searched besides `runs/out` of the working directory).
REPO_RUNS_OUT = Path(__file__).resolve().parent.parent / DEFAULT_OUT
#: Prefix of a policy choice that names a trained run folder (relative to the working directory, or absolute).
TRAINED_PREFIX = "trained:"
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
    policy: str = "truthful"  # a built-in policy of the scenario's design, or TRAINED_PREFIX + run folder
    overrides: tuple[tuple[str, object], ...] = ()  # the design's own options (`MarketModel(**overrides)`)
    seed: int = 0

    @property
    def week_spec(self) -> str:
        return f"{self.week_set}:{self.week_number}"

    @property
    def trained(self) -> bool:
        return self.policy.startswith(TRAINED_PREFIX)

    def with_override(self, key: str, value) -> "Settings":
        """These settings with the design option `key` set to `value` (None removes it)."""
        kept = tuple((k, v) for k, v in self.overrides if k != key)
        return Settings(**(vars(self) | {"overrides": kept if value is None else (*kept, (key, value))}))


@functools.lru_cache(maxsize=64)
def design_of(scenario: str):
    """The design class of a scenario name or path (raises the scenario's own error if it cannot load)."""
    from model.design import get_design
    from model.scenario import load_scenario

    return get_design(load_scenario(scenario).design)


def trained_roots() -> list[Path]:
    """Where trained runs are looked for: `runs/out` of the working directory, then the repository's."""
    here = Path.cwd() / DEFAULT_OUT
    return [here] if here.resolve() == REPO_RUNS_OUT.resolve() else [here, REPO_RUNS_OUT]


def trained_runs(roots: list[Path] | None = None) -> list[Path]:
    """The `localmarl train` run folders under `roots` (default `trained_roots()`): the folders that
    hold a final policy or a checkpoint. A run's policy snapshots (`snapshots/ep*`, `--snapshot-every`) are
    not listed: one run would fill the list (`localmarl simulate --policy RUN/snapshots/epE` plays one)."""
    from agents.learning.checkpoint import CHECKPOINTS, POLICY_META, SNAPSHOTS  # light: no torch

    found: set[Path] = set()
    for root in trained_roots() if roots is None else roots:
        if Path(root).is_dir():
            found |= {p.parent for p in Path(root).glob(f"**/{POLICY_META}")}
            found |= {p.parent.parent for p in Path(root).glob(f"**/{CHECKPOINTS}/ep*.json")}
    return sorted(p for p in found if p.parent.name != SNAPSHOTS)


def run_label(run_dir: Path) -> str:
    """A run folder as the Policy control shows it: relative to the working directory when inside it."""
    path = Path(run_dir).absolute()
    try:
        return path.relative_to(Path.cwd()).as_posix()
    except ValueError:
        return path.as_posix()


def run_design(run_dir: Path) -> str | None:
    """The design a run folder was trained for (its policy.json or newest checkpoint's metadata;
    runs from before designs existed are arbitrage runs); None when it cannot be read."""
    import json

    from agents.learning.checkpoint import CHECKPOINTS, POLICY_META  # light: no torch

    metas = [run_dir / POLICY_META, *sorted((run_dir / CHECKPOINTS).glob("ep*.json"), reverse=True)]
    for f in metas:
        try:
            meta = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        return meta.get("design") or meta.get("scenario", {}).get("design") or "arbitrage"
    return None


def policy_options(design, roots: list[Path] | None = None) -> list[str]:
    """The policies offered for a design (class or instance): its built-in ones, then the runs trained
    for it (and runs whose design cannot be read, rather than hiding them)."""
    runs = [d for d in trained_runs(roots) if run_design(d) in (design.name, None)]
    return [*design.policies, *(TRAINED_PREFIX + run_label(d) for d in runs)]


def build_model(settings: Settings):
    """The session's model. A trained run plays the scenario it was trained on; a run that cannot be
    loaded raises `runs.policies.PolicyLoadError` (torch is imported only then)."""
    from model.model import MarketModel
    from runs.policies import resolve_policy

    policy, scenario = settings.policy, settings.scenario
    if settings.trained:
        resolved = resolve_policy(Path(policy[len(TRAINED_PREFIX):]))
        policy, scenario = resolved.policy, resolved.scenario or scenario
    return MarketModel(scenario=scenario, week=settings.week_spec, policy=policy, seed=settings.seed,
                       **dict(settings.overrides))


@dataclass(frozen=True, eq=False)
class Snapshot:
    """The model after its latest step: what the page and the design's views draw.

    `detail` is the design's own part (its views module's `snapshot(model)`)."""

    scenario: str
    design: str
    policy: str
    week: int  # absolute 0-based week of the last cleared hour (or the first week before any)
    week_spec: str
    hours_done: int
    n_hours_total: int
    running: bool
    hour: object | None  # the last cleared `model.design.Hour` (immutable; None before the first step)
    detail: object


def take_snapshot(model, views, week_spec: str) -> Snapshot:
    """A snapshot of `model` for the page and `views` (the design's views module); O(1) in the hours done."""
    h = model.hour_result
    return Snapshot(
        scenario=model.scenario.name,
        design=model.design.name,
        policy=model.policy_name,
        week=model.week if h is None else h.week,
        week_spec=week_spec,
        hours_done=model.hours_done,
        n_hours_total=model.n_hours_total,
        running=model.running,
        hour=h,
        detail=views.snapshot(model),
    )
