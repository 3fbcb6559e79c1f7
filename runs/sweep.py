"""`localmarl sweep`: a sensitivity study over `LocalMarketModel`'s keyword arguments.

A sweep config (`runs/sweeps/*.toml`, validated on load) names a base scenario and policy, the
weeks and seeds, and a `[parameters]` grid whose axes are model keyword arguments (location_swap,
export_spread_factor, arbitrage, v_slack_pu, line_limit_factor, ...). Every grid point, week and
seed is one *run*; `run_point` computes it (a pure function: task in, tidy rows out) and both
engines call it:

- `--engine local`: a process pool on this machine (spawn start method);
- `--engine ray`: Ray tasks, on a local Ray instance or an existing cluster (`--address`), which
  gets this project's packages shipped with the job, so a study that outgrows one machine runs
  unchanged on many.

Rows come back in task order, so both engines write identical tables for the same seeds.
Written into `--out`, all or nothing (`runs.output.atomic_dir`):

- `aggregators.csv`: the tidy table, one row per (point, week, seed, aggregator);
- `market.csv`: one row per (point, week, seed): LEM price, flexibility, DSO payments, slack, voltage;
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

#: Sweepable keyword arguments of `LocalMarketModel` and the TOML type of their values.
#: (week and seed are the config's `weeks` and `seeds`; tests keep this in sync with the model.)
PARAMETERS: dict[str, type] = {
    "scenario": str,
    "policy": str,
    "location_swap": str,  # "5:9,8:10"; "none" = no swap
    "arbitrage": str,  # "all", "none", "5,8"
    "export_spread_factor": float,
    "imbalance_spread_factor": float,
    "v_slack_pu": float,
    "line_limit_factor": float,
}
_TOP_KEYS = {"name", "description", "scenario", "policy", "weeks", "seeds", "parameters"}
_NO_SWAP = ("none", "")

AGGREGATOR_COLUMNS = (
    "aggregator", "bus", "arbitrage", "first_stage_eur", "second_stage_eur", "total_eur",
    "lem_cost_eur", "lfm_cost_eur", "bm_cost_eur", "flex_sold_mwh", "up_mwh", "dn_mwh", "withheld_mean",
)
MARKET_COLUMNS = (
    "mean_lem_price_eur_mwh", "flex_mwh", "dso_payments_eur", "slack_mwh", "min_v_pu",
    "hours_with_flex", "hours_with_slack",
)
ENGINES = ("local", "ray")


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
    from agents.brains import POLICIES
    from model import dataset
    from model.scenario import ScenarioError, load_scenario

    path = _resolve(name_or_path)
    text = path.read_text()
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SweepConfigError(f"{path}: not valid TOML ({e}); fix the syntax at that line") from None
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
    bad = set(params) - set(PARAMETERS)
    if bad:
        raise SweepConfigError(
            f"{path}: [parameters] unknown parameter(s) {sorted(bad)}; valid parameters: {sorted(PARAMETERS)}"
        )
    for key in ("scenario", "policy"):
        if key in raw and key in params:
            raise SweepConfigError(f"{path}: {key} is set both at the top level and in [parameters]; keep one")

    axes: dict[str, tuple] = {}
    for key, value in params.items():
        where = f"{path}: [parameters].{key}"
        values = _as_list(value, where, "value")
        kind = PARAMETERS[key]
        for v in values:
            ok = isinstance(v, str) if kind is str else isinstance(v, (int, float)) and not isinstance(v, bool)
            if not ok:
                want = "strings" if kind is str else "numbers"
                raise SweepConfigError(f"{where} values must be {want}, got {v!r}")
        values = [kind(v) for v in values]
        if len(set(values)) != len(values):
            raise SweepConfigError(f"{where} = {values} repeats a value; list each value once")
        axes[key] = tuple(values)

    for key, default in (("scenario", "s-a"), ("policy", "truthful"), ("name", path.stem), ("description", "")):
        if not isinstance(raw.get(key, default), str):
            raise SweepConfigError(f"{path}: {key} must be a string, got {raw[key]!r}")

    weeks = []
    for spec in _as_list(raw.get("weeks", "test:1"), f"{path}: weeks", "week spec"):
        if not isinstance(spec, str):
            raise SweepConfigError(f"{path}: weeks must be week specs like \"test:1\" (strings), got {spec!r}")
        try:
            weeks += dataset.resolve_week(spec)
        except ValueError as e:
            raise SweepConfigError(f"{path}: weeks: {e}") from None
    seeds = _as_list(raw.get("seeds", 0), f"{path}: seeds", "seed")
    if not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in seeds):
        raise SweepConfigError(f"{path}: seeds must be non-negative integers, like seeds = [0, 1], got {seeds!r}")
    if len(set(seeds)) != len(seeds):
        raise SweepConfigError(f"{path}: seeds = {seeds} repeats a seed; list each seed once")

    cfg = SweepConfig(
        name=raw.get("name", path.stem), description=raw.get("description", ""),
        scenario=raw.get("scenario", "s-a"), policy=raw.get("policy", "truthful"),
        weeks=tuple(dict.fromkeys(weeks)), seeds=tuple(seeds), parameters=axes, source=str(path), text=text,
    )
    # every point must build a valid scenario: check the values here, not in a worker half-way through
    scenarios = {}
    for point in cfg.points():
        where = f"{path}: [parameters]" if "scenario" in axes else f"{path}: scenario"
        try:
            sc = scenarios.setdefault(point["scenario"], load_scenario(point["scenario"]))
        except ScenarioError as e:
            raise SweepConfigError(f"{where} = {point['scenario']!r}: {e}") from None
        if point["policy"] not in POLICIES:
            where = f"{path}: [parameters].policy" if "policy" in axes else f"{path}: policy"
            raise SweepConfigError(f"{where} = {point['policy']!r} is not a policy; use one of {list(POLICIES)}")
        for key, v in point.items():
            if key in ("scenario", "policy") or (key == "location_swap" and v in _NO_SWAP):
                continue
            try:
                sc.with_overrides(**{key: v})
            except ScenarioError as e:
                raise SweepConfigError(f"{path}: [parameters].{key} = {v!r}: {e}") from None
    return cfg


# --- one run: the pure function both engines call ---------------------------------------
def run_point(task: dict) -> dict:
    """Simulate one (point, week, seed) and return its tidy rows:
    {"aggregators": [row per aggregator], "market": row}, each row starting with the point's keys."""
    from model.model import LocalMarketModel
    from runs import results

    model = LocalMarketModel(**task["kwargs"])
    model.run_hours()
    t = results.tables(model)
    ag, mk = t["aggregators"], t["market"]
    keys = {"point": task["point"], **task["params"], "week": task["week"], "seed": task["seed"]}

    per = ag.groupby("aggregator", sort=True).agg(
        bus=("bus", "first"), first_stage_eur=("r1", "sum"), second_stage_eur=("r2", "sum"),
        lem_cost_eur=("lem_cost_eur", "sum"), lfm_cost_eur=("lfm_cost_eur", "sum"), bm_cost_eur=("bm_cost_eur", "sum"),
        up_mwh=("up_mw", "sum"), dn_mwh=("dn_mw", "sum"), withheld_mean=("withheld", "mean"),
    )
    per["total_eur"] = per["first_stage_eur"] + per["second_stage_eur"]
    per["flex_sold_mwh"] = per["up_mwh"] + per["dn_mwh"]
    arbitrage = {a.aggregator_id: a.arbitrage for a in model.aggregators}
    rows = []
    for agg_id, r in per.iterrows():
        row = {"aggregator": int(agg_id), "bus": int(r["bus"]), "arbitrage": bool(arbitrage[agg_id])}
        row |= {c: float(r[c]) for c in AGGREGATOR_COLUMNS[3:]}
        rows.append(keys | row)
    market = keys | {
        "mean_lem_price_eur_mwh": float(mk["lem_price_eur_mwh"].mean()),
        "flex_mwh": float(mk["flex_mw"].sum()),
        "dso_payments_eur": float(mk["lfm_cost_eur"].sum()),
        "slack_mwh": float(mk["slack_mw"].sum()),
        "min_v_pu": float(mk["v_min_pu"].min()),
        "hours_with_flex": int((mk["flex_mw"] > 1e-6).sum()),
        "hours_with_slack": int((mk["slack_mw"] > 1e-6).sum()),
    }
    return {"aggregators": rows, "market": market}


# --- engines ---------------------------------------------------------------------------
class Progress:
    """One line on stderr per finished run: runs done / total, elapsed, ETA."""

    def __init__(self, total: int, label: str, enabled: bool = True):
        self.total, self.label, self.enabled = total, label, enabled
        self.done, self.t0 = 0, time.perf_counter()

    def update(self, task: dict):
        self.done += 1
        if not self.enabled:
            return
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / self.done * (self.total - self.done)
        print(
            f"{self.label}: {self.done}/{self.total} runs done (point {task['point']}, week {task['week']}, "
            f"seed {task['seed']}), {elapsed:.1f} s elapsed, ETA {eta:.1f} s",
            file=sys.stderr, flush=True,
        )


def _describe(task: dict) -> str:
    return f"run (point {task['point']} {task['params']}, week {task['week']}, seed {task['seed']})"


def run_local(tasks: list[dict], workers: int, progress: Progress) -> list[dict]:
    """Map `run_point` over a spawn process pool on this machine; results in task order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    out: list[dict | None] = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        futures = {pool.submit(run_point, t): i for i, t in enumerate(tasks)}
        try:
            for f in as_completed(futures):
                i = futures[f]
                try:
                    out[i] = f.result()
                except Exception as e:
                    raise RuntimeError(f"{_describe(tasks[i])} failed: {type(e).__name__}: {e}") from e
                progress.update(tasks[i])
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return out


def _project_modules() -> list:
    import agents
    import grid
    import model
    import runs

    return [agents, grid, model, runs]


def run_ray(tasks: list[dict], workers: int, progress: Progress, address: str | None = None) -> list[dict]:
    """Run `run_point` as Ray tasks; results in task order.

    Without `address`: a private local Ray instance with `workers` CPUs, shut down at the end.
    With `address` (e.g. "auto", "10.0.0.5:6379", "ray://head:10001"): that cluster; the
    project's packages travel with the job (`runtime_env` py_modules), its dependencies must be
    installed on the nodes.
    """
    os.environ.setdefault("RAY_AUTH_MODE", "disabled")
    import logging

    import ray

    started = not ray.is_initialized()
    if started and address:
        ray.init(address=address, runtime_env={"py_modules": _project_modules()}, logging_level=logging.WARNING)
    elif started:
        ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.WARNING)
    try:
        remote = ray.remote(num_cpus=1, max_retries=0)(run_point)
        refs = [remote.remote(t) for t in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        out: list[dict | None] = [None] * len(tasks)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            for ref in done:
                i = index[ref]
                try:
                    out[i] = ray.get(ref)
                except Exception as e:
                    for r in pending:
                        ray.cancel(r)
                    raise RuntimeError(f"{_describe(tasks[i])} failed on Ray: {e}") from e
                progress.update(tasks[i])
        return out
    finally:
        if started:
            ray.shutdown()


def run_sweep(cfg: SweepConfig, engine: str = "local", workers: int | None = None, address: str | None = None,
              progress: bool = True):
    """Run every (point, week, seed) of `cfg` on `engine`; returns the (aggregators, market) tables."""
    import pandas as pd

    if engine not in ENGINES:
        raise ValueError(f"unknown engine '{engine}': use one of {list(ENGINES)}")
    if address and engine != "ray":
        raise ValueError("--address is for --engine ray (the address of an existing Ray cluster)")
    tasks = cfg.tasks()
    workers = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    bar = Progress(len(tasks), f"sweep {cfg.name} [{engine}]", progress)
    if engine == "local":
        out = run_local(tasks, workers, bar)
    else:
        out = run_ray(tasks, workers, bar, address)
    aggregators = pd.DataFrame([row for r in out for row in r["aggregators"]])
    market = pd.DataFrame([r["market"] for r in out])
    keys = ["point", "week", "seed"]
    aggregators = aggregators.sort_values([*keys, "aggregator"], ignore_index=True)
    market = market.sort_values(keys, ignore_index=True)
    return aggregators, market


# --- plots -----------------------------------------------------------------------------
def _point_label(row, axes) -> str:
    return ", ".join(f"{k}={row[k]}" for k in axes) or "base"


def plot_total_score(aggregators, axes: list[str], path: Path) -> None:
    """Heatmap: mean total score (over weeks and seeds) per point and aggregator."""
    import numpy as np
    from matplotlib.figure import Figure

    mean = aggregators.groupby(["point", "aggregator"])["total_eur"].mean().unstack("aggregator")
    labels = aggregators.drop_duplicates("point").set_index("point").loc[mean.index]
    labels = [_point_label(r, axes) for _, r in labels.iterrows()]
    fig = Figure(figsize=(1.0 + 0.75 * mean.shape[1] + 0.06 * max(map(len, labels)), 1.2 + 0.45 * len(mean)),
                 layout="constrained")
    ax = fig.subplots()
    im = ax.imshow(mean.to_numpy(), aspect="auto", cmap="viridis")
    ax.set_xticks(range(mean.shape[1]), [str(c) for c in mean.columns])
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("aggregator")
    ax.set_title("total score (first + second stage) €, mean over weeks and seeds")
    if mean.size <= 200:
        for (i, j), v in np.ndenumerate(mean.to_numpy()):
            ax.text(j, i, f"{v:.0f}", ha="center", va="center", fontsize=7, color="w")
    fig.colorbar(im, ax=ax, label="€")
    fig.savefig(path, dpi=110)


def plot_market_vs(market, aggregators, axes: list[str], param: str, path: Path) -> None:
    """Six market outcomes against one swept parameter, one line per combination of the others."""
    from matplotlib.figure import Figure

    score = aggregators.groupby(["point", "week", "seed"], as_index=False)["total_eur"].sum()
    df = market.merge(score, on=["point", "week", "seed"])
    others = [a for a in axes if a != param and df[a].nunique() > 1]
    groups = list(df.groupby(others, sort=False)) if others and df[others].drop_duplicates().shape[0] <= 6 else [(None, df)]
    values = list(dict.fromkeys(df[param]))
    fig = Figure(figsize=(12, 6.5), layout="constrained")
    panels = (("mean_lem_price_eur_mwh", "mean LEM price €/MWh"), ("flex_mwh", "flexibility bought MWh"),
              ("dso_payments_eur", "DSO payments €"), ("slack_mwh", "emergency slack MWh"),
              ("min_v_pu", "lowest voltage p.u."), ("total_eur", "total score, all aggregators €"))
    for ax, (col, title) in zip(fig.subplots(2, 3).ravel(), panels):
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
def write_outputs(out: Path, cfg: SweepConfig, aggregators, market, meta: dict, overwrite: bool) -> list[str]:
    from runs.output import atomic_dir, write_json

    axes = list(cfg.parameters)
    with atomic_dir(out, overwrite=overwrite) as tmp:
        aggregators.to_csv(tmp / "aggregators.csv", index=False)
        market.to_csv(tmp / "market.csv", index=False)
        (tmp / "sweep.toml").write_text(cfg.text)
        write_json(tmp / "config.json", meta)
        plot_total_score(aggregators, axes, tmp / "total_score.png")
        for param in axes:
            if market[param].nunique() > 1:
                plot_market_vs(market, aggregators, axes, param, tmp / f"market_vs_{param}.png")
        files = sorted(p.name for p in tmp.iterdir())
    return files


def cmd_sweep(args) -> int:
    from model.scenario import load_scenario
    from runs.output import DEFAULT_OUT, run_metadata

    cfg = load_sweep(args.config)
    out = Path(args.out) if args.out else DEFAULT_OUT / f"sweep-{cfg.name}"
    if out.exists() and any(out.iterdir()) and not args.overwrite:  # fail before the runs, not after
        raise FileExistsError(f"output folder {out} exists and is not empty; choose another --out or pass --overwrite")
    n_runs = len(cfg.points()) * len(cfg.weeks) * len(cfg.seeds)
    print(f"sweep {cfg.name}: {len(cfg.points())} points x {len(cfg.weeks)} week(s) x {len(cfg.seeds)} seed(s) "
          f"= {n_runs} runs on engine {args.engine}", file=sys.stderr)
    t0 = time.perf_counter()
    aggregators, market = run_sweep(cfg, args.engine, args.workers, args.address)
    seconds = time.perf_counter() - t0
    cli_args = {k: v for k, v in vars(args).items() if k != "func"} | {"out": str(out)}
    meta = run_metadata("sweep", cli_args, load_scenario(cfg.scenario) if "scenario" not in cfg.parameters else None)
    meta |= {"sweep": {"name": cfg.name, "source": cfg.source, "weeks": list(cfg.weeks), "seeds": list(cfg.seeds),
                       "parameters": {k: list(v) for k, v in cfg.parameters.items()}},
             "points": cfg.points(), "runs": n_runs, "seconds": round(seconds, 2)}
    files = write_outputs(out, cfg, aggregators, market, meta, args.overwrite)

    cols = ["point", *cfg.parameters]
    per_point = aggregators.groupby(cols, sort=False)[["first_stage_eur", "second_stage_eur", "total_eur"]].sum()
    per_point = per_point.join(market.groupby(cols, sort=False)[["dso_payments_eur", "flex_mwh", "slack_mwh"]].sum())
    print(f"sweep {cfg.name}: {n_runs} runs in {seconds:.1f} s (engine {args.engine}); sums over aggregators, weeks, seeds:")
    print(per_point.round(2).to_string())
    print(f"\nwrote {out}/: {', '.join(files)}")
    return 0


def register(sub) -> None:
    """Add `localmarl sweep` to the `localmarl` parser."""
    s = sub.add_parser(
        "sweep", help="sensitivity study over model parameters (a TOML grid), on local processes or Ray",
        description="Run every point x week x seed of a sweep config and write aggregators.csv (one row per "
                    "point, week, seed and aggregator), market.csv and plots.",
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
