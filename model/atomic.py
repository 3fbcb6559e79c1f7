"""Writing files so that a reader never sees half of one: write a temporary sibling, then rename.

`write_atomic(path, write)` for one file (checkpoints, policies, curves, config files);
`atomic_dir(out)` for a whole output folder (`runs.output`), built on the same rename. The
temporary names start with a dot and carry the process id, so they are easy to recognise and
clean up.
"""

from __future__ import annotations

import hashlib
import json
import os
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
