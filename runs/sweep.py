"""`localmarl sweep`: a sensitivity study over `LocalMarketModel`'s keyword arguments.

A sweep config (`runs/sweeps/*.toml`, validated on load) names a base scenario and policy, the
weeks and seeds, and a `[parameters]` grid whose axes are model keyword arguments: `scenario`,
`policy` and the overrides the scenario's design allows (`scenario.OVERRIDES`; arbitrage:
location_swap, export_spread_factor, arbitrage, v_slack_pu, line_limit_factor, ...). Every grid
point, week and seed is one *run*; `run_point` computes it (a pure function: task in, tidy rows
out, the design's `sweep_rows` summary of the run's record) and both engines call it:

- `--engine local`: a process pool on this machine (spawn start method);
- `--engine ray`: Ray tasks, on a local Ray instance or an existing cluster (`--address`), which
  gets this project's packages shipped with the job, so a study that outgrows one machine runs
  unchanged on many.

Rows come back in task order, so both engines write identical tables for the same seeds.
Written into `--out`, all or nothing (`runs.output.atomic_dir`):

- `<participants>.csv` (arbitrage: `aggregators.csv`): the tidy table, one row per (point, week,
  seed, participant): its scores and market totals;
- `market.csv`: one row per (point, week, seed): the design's market summary (arbitrage: LEM
  price, flexibility, DSO payments, emergency slack, lowest voltage);
- `total_score.png`, `market_vs_<parameter>.png`; `sweep.toml` (the config as given); `config.json`.
"""

from __future__ import annotations

import itertools
import os
import sys
import time
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

SWEEP_DIR = Path(__file__).resolve().parent / "sweeps"

#: Grid axes every design has; the rest are the design's scenario overrides (`scenario.OVERRIDES`).
BASE_PARAMETERS: dict[str, type] = {"scenario": str, "policy": str}
_TOP_KEYS = {"name", "description", "scenario", "policy", "weeks", "seeds", "parameters"}
_NO_SWAP = ("none", "")


def sweep_label(design) -> str:
    """What a row of a design's per-participant sweep table is (a participant, or e.g. a cluster)."""
    return design.sweep_participant_label or design.participant_label


def parameters_of(scenario) -> dict[str, type]:
    """The sweepable keyword arguments of a scenario's model, and the TOML type of their values."""
    return BASE_PARAMETERS | dict(type(scenario).OVERRIDES)


from runs.executor import ENGINES  # noqa: E402  (the engines a sweep runs on)


class SweepConfigError(ValueError):
    """A sweep config is malformed; the message names the file, the field and the fix."""


@dataclass(frozen=True)
class SweepConfig:
    name: str
    description: str
    scenario: str  # base scenario (name or path), unless swept
    policy: str  # base policy, unless swept
    weeks: tuple[int, ...]  # absolute 0-based week numbers
    seeds: tuple[int, ...]
    parameters: dict[str, tuple] = field(default_factory=dict)  # axis -> values, in file order
    source: str = ""
    text: str = ""  # the file as given

    def points(self) -> list[dict]:
        """The full factorial grid: one dict per point, always with `scenario` and `policy`."""
        base = {k: getattr(self, k) for k in ("scenario", "policy") if k not in self.parameters}
        axes = list(self.parameters.items())
        return [base | dict(zip([k for k, _ in axes], combo)) for combo in itertools.product(*[v for _, v in axes])]

    def tasks(self) -> list[dict]:
        """One task per (point, week, seed), in that order: what `run_point` computes."""
        from model.scenario import load_scenario

        scenarios = {}
        out = []
        for i, params in enumerate(self.points()):
            kwargs = {k: v for k, v in params.items() if k != "scenario"}
            if kwargs.get("location_swap") in _NO_SWAP:
                kwargs["location_swap"] = None
            # workers get the loaded Scenario, so they need no access to its file
            sc = scenarios.setdefault(params["scenario"], load_scenario(params["scenario"]))
            for week in self.weeks:
                for seed in self.seeds:
                    out.append({
                        "point": i, "params": params, "week": week, "seed": seed,
                        "kwargs": kwargs | {"scenario": sc, "week": week, "seed": seed, "collect": True},
                    })
        return out


def available_sweeps() -> list[str]:
    return sorted(p.stem for p in SWEEP_DIR.glob("*.toml"))


def _resolve(name_or_path: str | Path) -> Path:
    p = Path(name_or_path)
    if p.exists():
        return p
    if p.suffix != ".toml" and (SWEEP_DIR / f"{p}.toml").exists():
        return SWEEP_DIR / f"{p}.toml"
    raise SweepConfigError(
        f"sweep config '{name_or_path}' does not exist; use one of {available_sweeps()} or a path to a .toml file"
    )


def _as_list(value, where: str, what: str) -> list:
    values = value if isinstance(value, list) else [value]
    if not values:
        raise SweepConfigError(f"{where} is an empty list; give at least one {what}")
    return values


def load_sweep(name_or_path: str | Path) -> SweepConfig:
    """Load and validate a sweep config by name (`demo-4`, `sensitivity`) or path."""
    path = _resolve(name_or_path)
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepConfigError(f"{path}: not valid TOML ({e}); fix the syntax at that line") from None
    params = _check_top_level(path, raw)
    base = _base_scenario(path, raw, params)
    axes = _parameter_axes(path, raw, params, parameters_of(base))
    for key, default in (("scenario", "s-a"), ("policy", "truthful"), ("name", path.stem), ("description", "")):
        if not isinstance(raw.get(key, default), str):
            raise SweepConfigError(f"{path}: {key} must be a string, got {raw[key]!r}")
    weeks, seeds = _weeks(path, raw), _seeds(path, raw)
    cfg = SweepConfig(
        name=raw.get("name", path.stem), description=raw.get("description", ""),
        scenario=raw.get("scenario", "s-a"), policy=raw.get("policy", "truthful"),
        weeks=weeks, seeds=seeds, parameters=axes, source=str(path), text=text,
    )
    _check_points(path, cfg, base)
    return cfg


def _check_top_level(path: Path, raw: dict) -> dict:
    """The config's keys are known and its [parameters] is a table without weeks or seeds; returns that table."""
    bad = set(raw) - _TOP_KEYS
    if bad:
        raise SweepConfigError(f"{path}: unknown key(s) {sorted(bad)}; valid keys: {sorted(_TOP_KEYS)}")
    params = raw.get("parameters", {})
    if not isinstance(params, dict):
        raise SweepConfigError(f"{path}: [parameters] must be a table of parameter = [values, ...]")
    misplaced = set(params) & {"week", "weeks", "seed", "seeds"}
    if misplaced:
        raise SweepConfigError(
            f"{path}: [parameters] {sorted(misplaced)}: weeks and seeds are not grid parameters; "
            "set the top-level weeks = [\"test:1\", ...] and seeds = [0, ...] instead"
        )
    return params


def _base_scenario(path: Path, raw: dict, params: dict):
    """The scenario whose design says what can be swept: the top-level one, or the first swept one."""
    from model.scenario import ScenarioError, load_scenario

    base_name = raw.get("scenario", "s-a")
    if not isinstance(base_name, str):
        raise SweepConfigError(f"{path}: scenario must be a string, got {base_name!r}")
    try:
        return load_scenario(base_name if "scenario" not in params else _as_list(params["scenario"], "", "")[0])
    except (ScenarioError, TypeError) as e:
        raise SweepConfigError(f"{path}: scenario: {e}") from None


def _parameter_axes(path: Path, raw: dict, params: dict, parameters: dict[str, type]) -> dict[str, tuple]:
    """[parameters] -> axis: values, each a sweepable parameter (`parameters`) with distinct values of its type."""
    bad = set(params) - set(parameters)
    if bad:
        raise SweepConfigError(
            f"{path}: [parameters] unknown parameter(s) {sorted(bad)}; valid parameters: {sorted(parameters)}"
        )
    for key in ("scenario", "policy"):
        if key in raw and key in params:
            raise SweepConfigError(f"{path}: {key} is set both at the top level and in [parameters]; keep one")
    axes: dict[str, tuple] = {}
    for key, value in params.items():
        where = f"{path}: [parameters].{key}"
        values = _as_list(value, where, "value")
        kind = parameters[key]
        for v in values:
            ok = isinstance(v, str) if kind is str else isinstance(v, (int, float)) and not isinstance(v, bool)
            if not ok:
                want = "strings" if kind is str else "numbers"
                raise SweepConfigError(f"{where} values must be {want}, got {v!r}")
        values = [kind(v) for v in values]
        if len(set(values)) != len(values):
            raise SweepConfigError(f"{where} = {values} repeats a value; list each value once")
        axes[key] = tuple(values)
    return axes


def _weeks(path: Path, raw: dict) -> tuple[int, ...]:
    """The weeks' specs (`model.dataset.resolve_week`) -> absolute week numbers, each once, in order."""
    from model import dataset

    weeks = []
    for spec in _as_list(raw.get("weeks", "test:1"), f"{path}: weeks", "week spec"):
        if not isinstance(spec, str):
            raise SweepConfigError(f"{path}: weeks must be week specs like \"test:1\" (strings), got {spec!r}")
        try:
            weeks += dataset.resolve_week(spec)
        except ValueError as e:
            raise SweepConfigError(f"{path}: weeks: {e}") from None
    return tuple(dict.fromkeys(weeks))


def _seeds(path: Path, raw: dict) -> tuple[int, ...]:
    seeds = _as_list(raw.get("seeds", 0), f"{path}: seeds", "seed")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise SweepConfigError(f"{path}: seeds must be non-negative integers, like seeds = [0, 1], got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise SweepConfigError(f"{path}: seeds = {seeds} repeats a seed; list each seed once")
    return tuple(seeds)


def _check_points(path: Path, cfg: SweepConfig, base) -> None:
    """Every point builds a valid scenario of the base's design with one of its policies: checked
    here, not in a worker half-way through the sweep."""
    from model.design import get_design
    from model.scenario import ScenarioError, load_scenario

    axes = cfg.parameters
    scenarios = {}
    for point in cfg.points():
        where = f"{path}: [parameters]" if "scenario" in axes else f"{path}: scenario"
        try:
            sc = scenarios.setdefault(point["scenario"], load_scenario(point["scenario"]))
        except ScenarioError as e:
            raise SweepConfigError(f"{where} = {point['scenario']!r}: {e}") from None
        if sc.design != base.design:
            raise SweepConfigError(f"{where} = {point['scenario']!r} is a {sc.design!r} scenario, the others "
                                   f"{base.design!r}: one sweep compares scenarios of one design")
        policies = get_design(sc.design).policies
        if point["policy"] not in policies:
            where = f"{path}: [parameters].policy" if "policy" in axes else f"{path}: policy"
            raise SweepConfigError(f"{where} = {point['policy']!r} is not a policy; use one of {list(policies)}")
        for key, v in point.items():
            if key in ("scenario", "policy") or (key == "location_swap" and v in _NO_SWAP):
                continue
            try:
                sc.with_overrides(**{key: v})
            except ScenarioError as e:
                raise SweepConfigError(f"{path}: [parameters].{key} = {v!r}: {e}") from None


# --- one run: the pure function both engines call ---------------------------------------
def run_point(task: dict) -> dict:
    """Simulate one (point, week, seed) and return its tidy rows:
    {"participants": [row per participant], "market": row}, each row starting with the point's keys."""
    from model.model import MarketModel

    model = MarketModel(**task["kwargs"])
    model.run_hours()
    keys = {"point": task["point"], **task["params"], "week": task["week"], "seed": task["seed"]}
    participants, market = model.design.sweep_rows(model.record)
    return {"participants": [keys | row for row in participants], "market": keys | market,
            "label": sweep_label(model.design)}


# --- running ---------------------------------------------------------------------------
def _describe(task: dict) -> str:
    return f"run (point {task['point']} {task['params']}, week {task['week']}, seed {task['seed']})"


def run_sweep(cfg: SweepConfig, engine: str = "local", workers: int | None = None, address: str | None = None,
              progress: bool = True):
    """Run every (point, week, seed) of `cfg` on `engine`; returns the (participants, market) tables."""
    import pandas as pd

    from runs.executor import Job, Progress, check_engine, run_jobs

    check_engine(engine, address)
    tasks = cfg.tasks()
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    jobs = [Job(run_point, (t,), _describe(t)) for t in tasks]
    out = run_jobs(jobs, engine, workers, address, Progress(len(tasks), f"sweep {cfg.name} [{engine}]", progress))
    participants = pd.DataFrame([row for r in out for row in r["participants"]])
    market = pd.DataFrame([r["market"] for r in out])
    keys = ["point", "week", "seed"]
    participants = participants.sort_values([*keys, out[0]["label"]], ignore_index=True)
    market = market.sort_values(keys, ignore_index=True)
    return participants, market


# --- plots -----------------------------------------------------------------------------
def _point_label(row, axes) -> str:
    return ", ".join(f"{k}={row[k]}" for k in axes) or "base"


def plot_total_score(participants, label: str, axes: list[str], path: Path) -> None:
    """Heatmap: mean total score (over weeks and seeds) per point and participant."""
    import numpy as np
    from matplotlib.figure import Figure

    mean = participants.groupby(["point", label])["total_eur"].mean().unstack(label)
    labels = participants.drop_duplicates("point").set_index("point").loc[mean.index]
    labels = [_point_label(r, axes) for _, r in labels.iterrows()]
    fig = Figure(figsize=(min(1.0 + 0.75 * mean.shape[1], 40) + 0.06 * max(map(len, labels)), 1.2 + 0.45 * len(mean)),
                 layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(mean.to_numpy(), aspect="auto", cmap="viridis")
    if mean.shape[1] <= 40:
        ax.set_xticks(range(mean.shape[1]), [str(c) for c in mean.columns])
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel(label)
    ax.set_title("total score €, mean over weeks and seeds")
    if mean.size <= 200:
        for (i, j), v in np.ndenumerate(mean.to_numpy()):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="w")
    fig.colorbar(im, ax=ax, label="€")
    fig.savefig(path, dpi=110)


def plot_market_vs(market, participants, axes: list[str], param: str, panels, path: Path) -> None:
    """The design's market outcomes (`panels`: (column, title)) and all participants' total score
    against one swept parameter, one line per combination of the others."""
    from matplotlib.figure import Figure

    score = participants.groupby(["point", "week", "seed"], as_index=False)["total_eur"].sum()
    df = market.merge(score, on=["point", "week", "seed"])
    others = [a for a in axes if a != param and df[a].nunique() > 1]
    groups = list(df.groupby(others, sort=False)) if others and df[others].drop_duplicates().shape[0] <= 6 else [(None, df)]
    values = list(dict.fromkeys(df[param]))
    panels = (*panels, ("total_eur", "total score, all participants €"))
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    for ax, (col, title) in zip(fig.subplots(2, (len(panels) + 1) // 2).ravel(), panels):
        for key, g in groups:
            y = g.groupby(param, sort=False)[col].mean().reindex(values)
            label = "mean over the other parameters" if key is None else _point_label(
                dict(zip(others, key if isinstance(key, tuple) else (key,))), others)
            ax.plot(range(len(values)), y.to_numpy(), marker="o", label=label)
        ax.set_xticks(range(len(values)), [str(v) for v in values])
        ax.set_xlabel(param)
        ax.set_title(title, fontsize=10)
    fig.axes[0].legend(fontsize=7)
    fig.suptitle(f"market outcomes vs {param} (mean over weeks and seeds)")
    fig.savefig(path, dpi=110)


# --- command line ----------------------------------------------------------------------
def design_of(cfg: SweepConfig):
    """The design class of the sweep's scenarios (one design per sweep)."""
    from model.design import get_design
    from model.scenario import load_scenario

    return get_design(load_scenario(cfg.points()[0]["scenario"]).design)


def write_outputs(out: Path, cfg: SweepConfig, participants, market, meta: dict, overwrite: bool) -> list[str]:
    from runs.output import output_dir, write_json

    design = design_of(cfg)
    label = sweep_label(design)
    axes = list(cfg.parameters)
    with output_dir(out, overwrite) as tmp:
        participants.to_csv(tmp / f"{label}s.csv", index=False)
        market.to_csv(tmp / "market.csv", index=False)
        (tmp / "sweep.toml").write_text(cfg.text)
        write_json(tmp / "config.json", meta)
        plot_total_score(participants, label, axes, tmp / "total_score.png")
        for param in axes:
            if market[param].nunique() > 1:
                plot_market_vs(market, participants, axes, param, design.sweep_panels, tmp / f"market_vs_{param}.png")
        files = sorted(p.name for p in tmp.iterdir())
    return files


def cmd_sweep(args) -> int:
    from model.scenario import load_scenario
    from runs.output import DEFAULT_OUT, check_out, run_metadata

    cfg = load_sweep(args.config)
    out = Path(args.out) if args.out else DEFAULT_OUT / f"sweep-{cfg.name}"
    check_out(out, args.overwrite)  # a bad --out fails before the runs, not after them
    args.interrupt_hint = f"Nothing was written to {out}."
    n_runs = len(cfg.points()) * len(cfg.weeks) * len(cfg.seeds)
    print(f"sweep {cfg.name}: {len(cfg.points())} points x {len(cfg.weeks)} week(s) x {len(cfg.seeds)} seed(s) "
          f"= {n_runs} runs on engine {args.engine}", file=sys.stderr)
    t0 = time.perf_counter()
    participants, market = run_sweep(cfg, args.engine, args.workers, args.address)
    seconds = time.perf_counter() - t0
    cli_args = {k: v for k, v in vars(args).items() if k != "func"} | {"out": str(out)}
    meta = run_metadata("sweep", cli_args, load_scenario(cfg.scenario) if "scenario" not in cfg.parameters else None)
    meta |= {"sweep": {"name": cfg.name, "source": cfg.source, "weeks": list(cfg.weeks), "seeds": list(cfg.seeds),
                       "parameters": {k: list(v) for k, v in cfg.parameters.items()}},
             "points": cfg.points(), "runs": n_runs, "seconds": round(seconds, 2)}
    files = write_outputs(out, cfg, participants, market, meta, args.overwrite)

    design = design_of(cfg)
    cols = ["point", *cfg.parameters]
    per_point = participants.groupby(cols, sort=False)[[*design.score_columns, "total_eur"]].sum()
    per_point = per_point.join(market.groupby(cols, sort=False)[list(design.sweep_market_sums)].sum())
    print(f"sweep {cfg.name}: {n_runs} runs in {seconds:.1f} s (engine {args.engine}); "
          f"sums over {sweep_label(design)}s, weeks, seeds:")
    print(per_point.round(2).to_string())
    print(f"\nwrote {out}/: {', '.join(files)}")
    return 0


def register(sub) -> None:
    """Add `localmarl sweep` to the `localmarl` parser."""
    s = sub.add_parser(
        "sweep", help="sensitivity study over model parameters (a TOML grid), on local processes or Ray",
        description="Run every point x week x seed of a sweep config and write PARTICIPANTS.csv (one row per "
                    "point, week, seed and participant; arbitrage: aggregators.csv), market.csv and plots.",
    )
    s.add_argument("--config", required=True,
                   help=f"sweep TOML: a path, or a name from runs/sweeps/ ({', '.join(available_sweeps())})")
    s.add_argument("--out", default=None, help="output folder (default runs/out/sweep-NAME)")
    s.add_argument("--engine", choices=ENGINES, default="local",
                   help="local: processes on this machine; ray: Ray tasks (local instance, or --address)")
    s.add_argument("--workers", type=int, default=None,
                   help="processes (local) or CPUs of the private Ray instance (default: all cores, at most one per run)")
    s.add_argument("--address", default=None,
                   help='Ray cluster to join (e.g. "auto", "HOST:6379", "ray://HOST:10001"); default: a private local instance')
    s.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    s.set_defaults(func=cmd_sweep)
