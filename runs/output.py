"""Run folders: written completely or not at all, each with the config and versions that made it."""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

from model.atomic import atomic_dir

DEFAULT_OUT = Path("runs/out")

_PACKAGES = ("localmarl", "numpy", "pandas", "torch", "mesa", "pulp", "highspy", "pandapower", "networkx")


def versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in _PACKAGES:
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            out[pkg] = "not installed"
    try:
        root = Path(__file__).resolve().parent.parent
        out["git_commit"] = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        ).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        out["git_commit"] = "unknown"
    return out


def data_fingerprint(source: str, seed: int) -> dict:
    """Which data a run used: the committed files' manifest, or the synthetic generator's seed."""
    if source == "synthetic":
        return {"source": "synthetic", "seed": seed}
    manifest = Path(__file__).resolve().parent.parent / "model" / "data" / "manifest.json"
    return {"source": "offline", "manifest": json.loads(manifest.read_text()) if manifest.exists() else "missing"}


def run_metadata(command: str, args: dict, scenario=None) -> dict:
    meta = {
        "command": command,
        "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in args.items()},
        "created_utc": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": versions(),
    }
    if scenario is not None:
        meta["scenario"] = scenario.to_dict()
        data = getattr(scenario, "data", None)  # a design without data settings uses no data files
        meta["data"] = data_fingerprint(data.source, data.synthetic_seed) if data is not None else {"source": "none"}
    return meta


class OutputError(ValueError):
    """An --out that cannot be used: a file, not writable, not empty, nothing to resume."""


def check_out(out: Path, overwrite: bool = False, resume: bool = False, what: str = "output folder") -> Path:
    """Check an output folder before any work: the path it names (a symlink is followed, so the
    folder it points to is written), that it is not a file, that it is empty or may be replaced
    (`overwrite`) or continued (`resume`), and that its parent folder can be written. Creates the
    parent folders. Returns the real path. Raises `OutputError` naming the problem and the fix."""
    out = Path(out)
    real = Path(os.path.realpath(out))
    if real.exists() and not real.is_dir():
        raise OutputError(f"{what} {out} is a file, not a folder; choose another --out")
    if resume and not (real.is_dir() and any(real.iterdir())):
        raise OutputError(f"--resume: {what} {out} does not exist or is empty, so there is nothing to resume (a typo?); "
                          "run without --resume to start a new run there")
    if real.is_dir() and any(real.iterdir()) and not (overwrite or resume):
        raise OutputError(f"{what} {out} exists and is not empty; choose another --out or pass --overwrite"
                          + (" (or --resume to continue it)" if what != "output folder" else ""))
    try:
        real.parent.mkdir(parents=True, exist_ok=True)
        probe = real.parent / f".{real.name}.probe-{os.getpid()}"
        probe.mkdir()
        probe.rmdir()
        if real.is_dir():
            probe = real / f".probe-{os.getpid()}"
            probe.mkdir()
            probe.rmdir()
    except OSError as e:
        raise OutputError(f"cannot write {what} {out}: {e.strerror or e} ({e.filename or real.parent}); "
                          "choose a folder you can write to with --out") from None
    return real


@contextlib.contextmanager
def output_dir(out: Path, overwrite: bool = False):
    """An output folder written completely or not at all: `check_out`, then a temporary folder that
    replaces `out` when the block succeeds (`model.atomic.atomic_dir`). Call `check_out` at the start
    of a command too, so that a bad --out fails before the work, not after it."""
    with atomic_dir(check_out(out, overwrite)) as tmp:
        yield tmp


def prepare_run_dir(path: Path, resume: bool, overwrite: bool, what: str = "run folder") -> Path:
    """A folder for a run that writes as it goes (training, studies): continue it (`resume`), start
    it over (`overwrite`), or refuse to touch a non-empty one. Call it once everything else has been
    validated: with `overwrite` it removes the old contents."""
    real = check_out(path, overwrite=overwrite, resume=resume, what=what)
    if real.is_dir() and any(real.iterdir()) and not resume:
        for child in real.iterdir():  # the folder itself stays (it may be a symlink's target or a mount)
            shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
    real.mkdir(exist_ok=True)
    return real


def print_result(result: dict, as_json: bool, width: int = 28) -> None:
    """A benchmark's figures as one JSON object, or as an aligned table."""
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:{width}s} {v}")


def write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")


def log_result(out: Path, result: dict) -> None:
    """A measuring script's result (scripts/*_levers.py): printed as one JSON line and appended to out/results.jsonl."""
    line = json.dumps(result)
    print(line)
    Path(out).mkdir(parents=True, exist_ok=True)
    with open(Path(out) / "results.jsonl", "a") as f:
        f.write(line + "\n")
