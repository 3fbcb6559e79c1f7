"""Which policy plays: a design's built-in policy name, or a run folder written by `localmarl train`.

One resolver for every front end (the app's Policy control, `localmarl simulate --policy`): a name
passes through to `MarketModel(policy=...)` (the design checks it); a run folder brings its
trained policy, the scenario it was trained on and its metadata. Imports stay light: torch is
loaded only when a run folder is given.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

#: What `config.json` of a simulation records about a trained policy (the policy file's metadata,
#: without the checkpoint's replay of the training curve and RNG states).
RECORDED_META = ("kind", "learner", "episode", "seed", "scenario_name", "scenario_arg", "scenario_sha256",
                 "hyperparams", "tensor_file", "tensor_sha256")


class PolicyLoadError(ValueError):
    """A policy choice names no built-in brain, or its run folder could not be turned into a brain."""


@dataclass(frozen=True)
class ResolvedPolicy:
    """What to hand the model, and where it came from."""

    policy: object  # a built-in policy name, or a trained policy
    scenario: str | None = None  # the scenario a trained run was trained on (name or TOML path)
    run_dir: Path | None = None
    meta: dict | None = None  # the run's policy (or newest checkpoint) metadata

    @property
    def label(self) -> str:
        """A short name for file names: the policy name, or the run folder's name."""
        return self.policy if self.run_dir is None else self.run_dir.resolve().name

    def record(self) -> dict | None:
        """The trained run's folder, policy file hash and training metadata, for a config.json."""
        if self.run_dir is None:
            return None
        return {"run_dir": str(self.run_dir), **{k: self.meta.get(k) for k in RECORDED_META}}


def is_run_folder(policy: str | Path) -> bool:
    """A Path, or a string that points at a folder or looks like a path (a policy name never does)."""
    if isinstance(policy, Path):
        return True
    return Path(policy).is_dir() or "/" in policy or os.sep in policy


def resolve_policy(policy: str | Path) -> ResolvedPolicy:
    """A built-in policy name (the design checks it when the model is built) or a `localmarl train`
    run folder, resolved. A run plays its final policy (`policy.json`/`policy.pt`), or its newest
    checkpoint while it is still training. Every failure is a `PolicyLoadError` naming the folder
    and the cause."""
    if not is_run_folder(policy):
        return ResolvedPolicy(policy)
    run_dir = Path(policy)
    try:
        if not run_dir.is_dir():
            raise FileNotFoundError("no such folder")
        from runs.training import load_trained_policy  # torch: loaded only when a run folder is given

        trained, meta = load_trained_policy(run_dir)
        return ResolvedPolicy(trained, meta["scenario_arg"], run_dir, meta)
    except Exception as e:  # noqa: BLE001 - any failure becomes one message (a page alert, a CLI error)
        raise PolicyLoadError(f"could not load the trained run {run_dir}: {type(e).__name__}: {e}") from e
