"""Rebuild a study's report from its folder: `python -m runs.report STUDY_DIR`.

The study's `study.json` names its design (studies written before designs existed are arbitrage
studies); the design's report plug-in (`runs/reports/<design>.py`) writes tables/, figures/ and
report.md, reading only the study folder.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def build_report(study: Path) -> Path:
    from runs.study import plugin

    meta_file = Path(study) / "study.json"
    meta = json.loads(meta_file.read_text()) if meta_file.exists() else {}
    return plugin(meta.get("design", "arbitrage"), "report").build_report(Path(study))


if __name__ == "__main__":  # pragma: no cover
    print(build_report(Path(sys.argv[1])))
