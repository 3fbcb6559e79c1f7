"""Checkpoints and trained policies of any learner: SHA-256-checked, loaded with `weights_only=True`.

A run folder (`localmarl train`) holds:

    checkpoints/ep<E>.pt/.json  full training state (networks, Adam, replay buffers, RNG states) + metadata
    policy.pt / policy.json     the final policy (actors and critics only); with `keep_best`, the best
                                snapshot on the evaluation week, and policy_last.pt / .json the final one
                                (the same where a study hands on a chosen snapshot: `hand_on_snapshot`)
    snapshots/ep<E>/policy.pt/.json  with `snapshot_every`: the policy at episode E (0, every k-th, the
                                last), each a folder `load_policy` reads like a run's

The JSON of each pair is written last and carries the SHA-256 of its tensor file, the learner's
kind (`learner`, e.g. "hmaddpg"), its configuration and the roles it plays (features and action
bounds), so a policy loads from its folder alone. Files written before learners had kinds (format 1,
"localmarl-hmaddpg-*") load as HMADDPG; their roles come from the caller (`legacy_roles`).
"""

from __future__ import annotations

import json
from pathlib import Path

from model.atomic import file_sha256, write_atomic, write_json_atomic

CHECKPOINTS = "checkpoints"
SNAPSHOTS = "snapshots"  # the policy along training (`save_snapshot`)
POLICY_FILE, POLICY_META = "policy.pt", "policy.json"
LAST_POLICY_FILE, LAST_POLICY_META = "policy_last.pt", "policy_last.json"  # a `keep_best` run's final policy
CHECKPOINT_KIND, POLICY_KIND = "localmarl-checkpoint", "localmarl-policy"
LEGACY_KINDS = {"localmarl-hmaddpg-checkpoint": CHECKPOINT_KIND, "localmarl-hmaddpg-policy": POLICY_KIND}
FORMAT_VERSION = 2
READABLE_FORMATS = (1, 2)


class CheckpointError(ValueError):
    """A checkpoint or policy file is missing, corrupt, or belongs to a different run."""


def save_checkpoint(run_dir: Path, episode: int, learner, state_extra: dict, meta: dict, keep: int = 2,
                    tensors: dict | None = None) -> Path:
    """Write checkpoints/ep<episode>.pt/.json (tensor file first, its JSON last); keep the newest `keep`.
    `tensors`: more tensors to keep beside the learner's state (e.g. the best snapshot so far)."""
    import torch

    ck = Path(run_dir) / CHECKPOINTS
    ck.mkdir(parents=True, exist_ok=True)
    pt = ck / f"ep{episode:06d}.pt"
    state = {**(tensors or {}), "brain": learner.training_state(), "torch_rng": torch.get_rng_state()}
    write_atomic(pt, lambda p: torch.save(state, p))
    write_json_atomic(pt.with_suffix(".json"), {
        **meta, **state_extra, "kind": CHECKPOINT_KIND, "format_version": FORMAT_VERSION, "episode": episode,
        "tensor_file": pt.name, "tensor_sha256": file_sha256(pt),
    })
    for old in sorted(ck.glob("ep*.json"))[:-keep]:
        old.unlink(missing_ok=True)
        old.with_suffix(".pt").unlink(missing_ok=True)
    return pt


def save_policy(run_dir: Path, learner, meta: dict, state: dict | None = None, name: str = POLICY_FILE) -> None:
    """Write <name> (the learner's policy, or `state`, a `policy_state()` taken earlier) and its JSON."""
    import torch

    pt = Path(run_dir) / name
    policy = learner.policy_state() if state is None else state
    write_atomic(pt, lambda p: torch.save(policy, p))
    write_json_atomic(pt.with_suffix(".json"), meta | {
        "kind": POLICY_KIND, "format_version": FORMAT_VERSION, "tensor_file": pt.name, "tensor_sha256": file_sha256(pt),
    })


def save_snapshot(run_dir: Path, episode: int, learner, meta: dict) -> Path:
    """Write snapshots/ep<episode>/policy.pt/.json: the policy as it is after `episode` episodes, a folder
    `load_policy` reads like a finished run's."""
    folder = Path(run_dir) / SNAPSHOTS / f"ep{episode:06d}"
    folder.mkdir(parents=True, exist_ok=True)
    save_policy(folder, learner, meta | {"episode": episode})
    return folder


def snapshot_folders(run_dir: Path) -> list[Path]:
    """A run's policy snapshots (`save_snapshot`) whose JSON was written, in episode order."""
    return sorted(p.parent for p in (Path(run_dir) / SNAPSHOTS).glob(f"ep*/{POLICY_META}"))


def hand_on_snapshot(run_dir: Path, episode: int, selected: dict) -> None:
    """Make snapshot `episode` (`save_snapshot`) the run's policy.pt, its final policy kept as policy_last.pt, as a
    `keep_best` run hands on its best snapshot; policy.json is the final one's metadata with `selected` (which
    snapshot, chosen how) added. Safe to rerun after a kill at any point: the final policy is copied to
    policy_last.pt/.json (JSON last) before policy.pt is replaced, and a rerun finds it there."""
    run_dir = Path(run_dir)
    folder = run_dir / SNAPSHOTS / f"ep{episode:06d}"
    read_verified(folder / POLICY_META, POLICY_KIND)  # a missing or corrupt snapshot fails before anything moves
    if not (run_dir / LAST_POLICY_META).exists():
        final, _ = read_verified(run_dir / POLICY_META, POLICY_KIND)
        _copy_policy(run_dir / POLICY_FILE, run_dir / LAST_POLICY_FILE, final)
    final, _ = read_verified(run_dir / LAST_POLICY_META, POLICY_KIND)
    _copy_policy(folder / POLICY_FILE, run_dir / POLICY_FILE, final | selected)


def _copy_policy(src: Path, dst: Path, meta: dict) -> None:
    """Copy a policy's tensor file to `dst` and write its JSON (`meta`, pointing at `dst`) last."""
    import shutil

    write_atomic(dst, lambda p: shutil.copyfile(src, p))
    write_json_atomic(dst.with_suffix(".json"), meta | {"tensor_file": dst.name, "tensor_sha256": file_sha256(dst)})


def latest_checkpoint(run_dir: Path) -> Path | None:
    """The newest checkpoint whose JSON was written (a kill mid-write leaves the previous one)."""
    found = sorted((Path(run_dir) / CHECKPOINTS).glob("ep*.json"))
    return found[-1] if found else None


def read_verified(json_path: Path, kind: str) -> tuple[dict, dict]:
    """Metadata and tensors of a checkpoint/policy, verified; clear errors for corrupt files."""
    import torch

    json_path = Path(json_path)
    try:
        meta = json.loads(json_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise CheckpointError(f"{json_path}: cannot read metadata ({e}); the file is missing or corrupt") from None
    if not isinstance(meta, dict) or LEGACY_KINDS.get(meta.get("kind"), meta.get("kind")) != kind:
        got = meta.get("kind") if isinstance(meta, dict) else type(meta).__name__
        raise CheckpointError(f"{json_path}: not a {kind} file (kind={got!r})")
    if meta.get("format_version") not in READABLE_FORMATS:
        raise CheckpointError(f"{json_path}: format_version {meta.get('format_version')} unsupported "
                              f"(this version reads {READABLE_FORMATS})")
    meta.setdefault("learner", "hmaddpg")  # format 1 files: HMADDPG was the only learner
    pt = json_path.with_name(str(meta.get("tensor_file", "")))
    if not meta.get("tensor_file") or not pt.is_file():
        raise CheckpointError(f"{pt}: tensor file missing (metadata {json_path.name} refers to it)")
    digest = file_sha256(pt)
    if digest != meta.get("tensor_sha256"):
        raise CheckpointError(
            f"{pt}: corrupt (SHA-256 {digest[:12]}… != {str(meta.get('tensor_sha256'))[:12]}… recorded in {json_path.name}); "
            "the file was truncated or changed. Delete this checkpoint pair to fall back to an older one, or retrain."
        )
    try:
        state = torch.load(pt, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - re-raised with the file name
        raise CheckpointError(f"{pt}: cannot be loaded with weights_only=True ({type(e).__name__}: {e})") from None
    return meta, state


def load_policy(run_dir: str | Path, legacy_roles=None, device: str = "cpu", last: bool = False):
    """(learner, metadata) of a run folder: its policy (`last`: the final one, where a `keep_best` run
    kept a better snapshot as its policy), or its newest checkpoint while it is still training. The
    learner acts without exploration. `legacy_roles`: the roles of a run written before runs recorded
    them (a callable of the metadata, giving `RoleSpec`s)."""
    from agents.learning.builders import build_learner
    from agents.learning.groups import NETS, TWIN_NETS
    from agents.learning.hyperparams import HyperParams
    from agents.learning.team import RoleSpec

    run_dir = Path(run_dir)
    if last and (run_dir / LAST_POLICY_META).exists():
        meta, state = read_verified(run_dir / LAST_POLICY_META, POLICY_KIND)
        policy = state
    elif (run_dir / POLICY_META).exists():
        meta, state = read_verified(run_dir / POLICY_META, POLICY_KIND)
        policy = state
    else:
        ck = latest_checkpoint(run_dir)
        if ck is None:
            raise CheckpointError(f"{run_dir}: no {POLICY_META} and no checkpoints; is this a `localmarl train` folder?")
        meta, state = read_verified(ck, CHECKPOINT_KIND)
        policy = state["brain"]
    if "roles" in meta:
        roles = [RoleSpec.from_dict(r) for r in meta["roles"]]
    elif legacy_roles is not None:
        roles = legacy_roles(meta)
    else:
        raise CheckpointError(f"{run_dir}: the metadata names no roles (a run written before learners recorded them)")
    learner = build_learner(meta["learner"], roles, HyperParams.from_dict(meta["hyperparams"]), meta["seed"], device,
                            meta.get("learner_config", {}))
    try:
        learner.load_state({name: {k: v for k, v in s.items() if k in NETS + TWIN_NETS}  # not the optimisers
                            for name, s in policy.items()})
    except (KeyError, RuntimeError, TypeError, AttributeError) as e:
        raise CheckpointError(f"{run_dir}: policy tensors do not fit the networks its metadata describes ({e})") from None
    learner.explore = False
    return learner, meta
