"""Writing files and folders so that a reader never sees half of one: write a temporary sibling,
then rename it into place.

`write_atomic(path, write)` for one file (checkpoints, policies, curves, config files);
`atomic_dir(out)` for a whole output folder (simulations, evaluations, sweeps), the same rename for
a folder. The temporary names start with a dot and carry the process id; they are removed when
the work fails or is interrupted (Ctrl-C, or SIGTERM once the command line turns it into an
exception). Folders are created with the user's umask (as `mkdir` would), not mode 0700.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
import shutil
from pathlib import Path


def write_atomic(path: Path, write) -> None:
    """`write(tmp_path)`, fsync, then rename over `path`: readers see the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_dir(out: Path):
    """Yield a new temporary folder beside `out`; when the block ends normally it replaces `out`
    (an existing `out` is moved aside and removed only then), on any error or interrupt it is removed.
    `out` must be a real path (resolve symlinks first: the folder a link points to is replaced)."""
    out = Path(out)
    tmp = out.with_name(f".{out.name}.partial-{os.getpid()}-{secrets.token_hex(4)}")
    tmp.mkdir(parents=False)  # mode 0o777 & ~umask
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}-{secrets.token_hex(4)}")
        out.rename(old)
        tmp.rename(out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        tmp.rename(out)


def write_json_atomic(path: Path, obj) -> None:
    write_atomic(path, lambda p: p.write_text(json.dumps(obj, indent=2, default=str) + "\n"))


def write_csv_atomic(path: Path, df, float_format: str = "%.6g") -> None:
    write_atomic(path, lambda p: df.to_csv(p, index=False, float_format=float_format))


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
