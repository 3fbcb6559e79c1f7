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
import tempfile
from pathlib import Path

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


@contextlib.contextmanager
def atomic_dir(out: Path, overwrite: bool = False):
    """Yield a temporary folder beside `out`; on success it replaces `out`, on error it is removed.

    A run that fails half-way leaves the previous contents of `out` (if any) untouched.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"output folder {out} exists and is not empty; choose another --out or pass --overwrite")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def prepare_run_dir(path: Path, resume: bool, overwrite: bool, what: str = "output folder") -> Path:
    """A folder for a run that writes as it goes (training, studies): continue it (`resume`),
    start it over (`overwrite`), or refuse to touch a non-empty one."""
    path = Path(path)
    if path.exists() and any(path.iterdir()) and not resume:
        if not overwrite:
            raise FileExistsError(f"{what} {path} exists and is not empty; pass --resume to continue it, "
                                  "--overwrite to start over, or choose another --out")
        shutil.rmtree(path)
    path.mkdir(parents=True, exist_ok=True)
    return path


def print_result(result: dict, as_json: bool, width: int = 28) -> None:
    """A benchmark's figures as one JSON object, or as an aligned table."""
    if as_json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print(f"{k:{width}s} {v}")


def write_json(path: Path, obj) -> None:
    Path(path).write_text(json.dumps(obj, indent=2, default=str) + "\n")
