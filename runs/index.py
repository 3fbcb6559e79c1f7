"""`localmarl index`: one page linking the studies' reports (`runs/out/index.md` after `make run`),
with each study's one-paragraph reading (the `reading.md` its report wrote), what produced it and
how long it took."""

from __future__ import annotations

import json
import os
from pathlib import Path

from runs.output import DEFAULT_OUT

#: The designs in the order the index lists them, with what each system is.
DESIGNS = {
    "arbitrage": "Arbitrage: aggregators in a local market, the DSO's flexibility market and balancing (seed 002, full paper)",
    "p2p": "P2P with mid-market-rate pricing: households in DER clusters on a platform with a peak penalty (seed 001)",
    "stackelberg": "Retail P2P under a wholesale aggregator: a leader-follower game with double auctions (seed 000)",
}


def find_studies(root: Path) -> list[Path]:
    """The study folders (with a study.json and a report.md) directly under `root`, by design then name."""
    found = [p for p in sorted(root.iterdir()) if (p / "study.json").exists() and (p / "report.md").exists()] \
        if root.is_dir() else []

    def key(p: Path):
        design = json.loads((p / "study.json").read_text()).get("design", "arbitrage")
        return (list(DESIGNS).index(design) if design in DESIGNS else len(DESIGNS), p.name)

    return sorted(found, key=key)


def build_index(studies: list[Path], out: Path) -> Path:
    """Write `out` (markdown) linking every study's report, relative to `out`'s folder."""
    if not studies:
        raise ValueError("no study folder with a study.json and a report.md to index; run a study first "
                         "(`localmarl study --design NAME --profile quick`)")
    L = ["# localmarl: the studies\n",
         "Each section is one market design's study: what the system is, a paragraph read off its report, and the "
         "command that produced it. Open the reports for the tables, figures and checks.\n"]
    for study in studies:
        meta = json.loads((study / "study.json").read_text())
        design = meta.get("design", "arbitrage")
        prof = meta.get("profile", {})
        reading = (study / "reading.md").read_text().strip() if (study / "reading.md").exists() else \
            "(this study's report predates readings: rebuild it with `python -m runs.report` on its folder)"
        link = os.path.relpath(study / "report.md", out.parent)
        minutes = meta.get("total_wall_s", meta.get("jobs_wall_s", float("nan"))) / 60
        L += [f"## {DESIGNS.get(design, design)}\n", reading + "\n",
              f"Report: [{link}]({link}). Profile `{prof.get('name', '?')}` ({prof.get('seeds', '?')} seed(s), "
              f"{prof.get('episodes', '?')} episodes), {minutes:.0f} min on {meta.get('args', {}).get('jobs', '?')} "
              f"process(es); `localmarl study --design {design} --profile {prof.get('name', '?')}`; created "
              f"{meta.get('created_utc', '?')}.\n"]
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text("\n".join(L))
    tmp.replace(out)
    return out


def cmd_index(args) -> int:
    root = Path(args.root)
    studies = [Path(s) for s in args.studies] if args.studies else find_studies(root)
    missing = [str(s) for s in studies if not (s / "report.md").exists()]
    if missing:
        raise ValueError(f"no report.md in {missing}; run or finish those studies first (`localmarl study ... --resume`)")
    out = Path(args.out) if args.out else root / "index.md"
    print(build_index(studies, out))
    return 0


def register(sub) -> None:
    p = sub.add_parser("index", help="write an index page linking the studies' reports (default runs/out/index.md)")
    p.add_argument("studies", nargs="*", help="study folders (default: every study folder under --root)")
    p.add_argument("--root", default=str(DEFAULT_OUT), help=f"where to look for studies (default {DEFAULT_OUT})")
    p.add_argument("--out", default=None, help="the index file (default ROOT/index.md)")
    p.set_defaults(func=cmd_index)
