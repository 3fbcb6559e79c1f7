"""`localmarl study`: a design's study end to end: train its scenarios with several seeds, evaluate,
compare with baselines and checks, and write the design's report.

The design names its study and report plug-ins (`MarketDesign.plugins["study"]`, `["report"]`):
the study module holds `PROFILES` (name -> `Profile`, e.g. quick / paper / tiny) and
`jobs(out, profile, seeds, episodes, device, resume)`; the report module `build_report(out)`.
Jobs run through the same executor as sweeps (`runs.executor`: a local process pool, or Ray
tasks on a cluster with `--engine ray --address ...`), and a failed job leaves the finished ones
in place for `--resume`.
"""

from __future__ import annotations

import dataclasses
import functools
import importlib
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Profile:
    """A study profile: which scenarios, how many episodes and seeds, evaluation and checkpoint
    spacing, hyperparameter changes from the defaults, the weeks evaluated (None = the 12 test weeks
    and the evaluation week), and a note the report prints. Designs add fields of their own."""

    name: str
    scenarios: tuple[str, ...]
    episodes: int
    seeds: int
    eval_every: int
    checkpoint_every: int
    hp_overrides: dict = field(default_factory=dict)
    #: settings of the learner (`--learner-config`; the design's `learner_settings`) over its own values
    learner_config: dict = field(default_factory=dict)
    eval_weeks: tuple[str, ...] | None = None
    note: str = ""


@dataclass(frozen=True)
class Method:
    """One method a design's study compares: a learner trained on a scenario, or a rule-based policy."""

    name: str
    label: str
    scenario: str
    learner: str | None = None  # None: a rule-based policy
    policy: str = "rule"
    overrides: tuple = ()  # scenario overrides of the evaluation (e.g. no platform)


def profile_hyperparams(scenario, profile: Profile, episodes: int | None = None):
    """The hyperparameters a study with `profile` trains `scenario` with: the design's
    (`design_hyperparams`), the profile's `hp_overrides` on top, and `episodes` (default the profile's)."""
    from runs.training import design_hyperparams

    base = design_hyperparams(scenario)
    hp = type(base).from_dict(base.to_dict() | profile.hp_overrides)
    return dataclasses.replace(hp, episodes=profile.episodes if episodes is None else episodes)


def resumes(run_dir: Path, resume: bool) -> bool:
    """Whether a study job continues the run in `run_dir` (`--resume` and a run there, finished or not)
    rather than starting it: a resumed study also runs the jobs it had not started when it stopped."""
    return resume and run_dir.is_dir() and any(run_dir.iterdir())


def run_folder(out: str | Path, method: str, seed: int) -> Path:
    """Where a study trains `method` with `seed`: `out/runs/<method>/seed<k>`."""
    return Path(out) / "runs" / method / f"seed{seed}"


def expected_training_s(seconds: float, reference_days: int, days: int, run_dir: Path, resume: bool) -> float:
    """A learned job's expected cost for the progress line's ETA: `seconds` measured for `reference_days` training
    days, scaled to the `days` it trains, less the days its latest checkpoint already holds when it resumes (a
    run stopped at day 500 of 1,500 has two thirds of its cost left)."""
    import json

    from agents.learning.checkpoint import latest_checkpoint

    ck = latest_checkpoint(run_dir) if resume else None
    done = 0
    if ck is not None:
        try:
            done = int(json.loads(ck.read_text()).get("episode", 0))
        except (OSError, ValueError, AttributeError):
            pass  # an unreadable checkpoint counts as no progress: the job's own resume names the problem
    return seconds * (days - min(max(done, 0), days)) / reference_days


def training_progress(run_dir: str | Path, episodes: int, unit: str = "episode") -> tuple[int, int, str] | None:
    """How far a study job's training in `run_dir` is, for the heartbeat line (`runs.executor.Job.watch`):
    (episodes done, `episodes`, `unit`) from the last row of its train_curve.csv (written at every evaluation),
    all of them once its policy.json is there (the job is then evaluating and checking); None before
    its first evaluation."""
    run_dir = Path(run_dir)
    if (run_dir / "policy.json").exists():
        return episodes, episodes, unit
    try:
        with open(run_dir / "train_curve.csv", "rb") as f:
            last = f.read().rstrip().rsplit(b"\n", 1)[-1]
        done = int(last.split(b",", 1)[0])
    except (OSError, ValueError):  # no curve yet (or only its header)
        return None
    return min(done, episodes), episodes, unit


def training_watch(run_dir: str | Path, episodes: int, unit: str = "episode"):
    """`training_progress` of a study job's run, as its `Job.watch`."""
    return functools.partial(training_progress, run_dir, episodes, unit)


def train_and_evaluate(out: str, profile: Profile, method: str, scenario: str, learner: str, seed: int, episodes: int,
                       device: str, resume: bool, weeks: list[str]) -> tuple[dict, Path, Path]:
    """A learned method's job: train `learner` on `scenario` into `out/runs/<method>/seed<k>` (its
    wall-clock in train_time.json; checkpoints dropped once done), then evaluate it on `weeks` into
    `out/eval/<method>/seed<k>`. With `resume`, what is already there is kept. Returns (timings,
    run folder, evaluation folder)."""
    import json

    import torch

    from runs.training import evaluate_run, train

    torch.set_num_threads(1)
    run_dir = run_folder(out, method, seed)
    eval_dir = Path(out) / "eval" / method / f"seed{seed}"
    hp = profile_hyperparams(scenario, profile, episodes)
    t0 = time.perf_counter()
    if not ((run_dir / "policy.json").exists() and resume):
        r = train(scenario, seed=seed, out=run_dir, eval_every=profile.eval_every, device=device,
                  resume=resumes(run_dir, resume), hp=hp,
                  checkpoint_every=profile.checkpoint_every, progress=False, learner=learner,
                  learner_config=profile.learner_config)
        shutil.rmtree(run_dir / "checkpoints", ignore_errors=True)
        (run_dir / "train_time.json").write_text(json.dumps({"seconds": r.seconds, "episodes": r.episodes,
                                                             "market_hours": r.market_hours}))
    t1 = time.perf_counter()
    if not (resume and (eval_dir / "scores.csv").exists()):
        evaluate_run(run_dir, eval_dir, weeks=weeks, overwrite=True)
    return {"job": f"{method} seed {seed}", "train_s": t1 - t0, "evaluate_s": time.perf_counter() - t1}, run_dir, eval_dir


def evaluate_rules(out: str, method: str, scenario, policy: str, weeks: list[str]) -> dict:
    """A rule-based method's job: play `policy` on `scenario` (a name, path or scenario object) over
    `weeks`; scores.csv and hours.csv into `out/eval/<method>/seed0`."""
    from runs.training import evaluate_policy

    t0 = time.perf_counter()
    d = Path(out) / "eval" / method / "seed0"
    scores, hours = evaluate_policy(scenario, policy, weeks=weeks)
    d.mkdir(parents=True, exist_ok=True)
    scores.to_csv(d / "scores.csv", index=False, float_format="%.6g")
    hours.to_csv(d / "hours.csv", index=False, float_format="%.6g")
    return {"job": f"baseline {method}", "evaluate_s": time.perf_counter() - t0}


def plugin(design: str, kind: str):
    """A design's plug-in module of the layers above the model ("study", "report", "views")."""
    from model.design import get_design

    cls = get_design(design)
    if kind not in cls.plugins:
        raise ValueError(f"design {design!r} has no {kind} (its plug-ins: {sorted(cls.plugins)})")
    return importlib.import_module(cls.plugins[kind])


class StudyJobsFailed(RuntimeError):
    """Some jobs of a study raised; the others finished and are kept for --resume."""


def resolve_profile(design: str, profile_name: str, hp_sets: list[str] | None, learner_sets: list[str] | None = None):
    """The design's profile by name, with `--set NAME=VALUE` hyperparameter overrides and
    `--learner-config NAME=VALUE` learner settings on top (validated)."""
    profiles = plugin(design, "study").PROFILES
    if profile_name not in profiles:
        raise ValueError(f"unknown study profile '{profile_name}' for design {design!r}: use one of {sorted(profiles)}")
    profile = profiles[profile_name]
    if hp_sets:
        from agents.learning.hyperparams import HyperParams, expand_shorthands

        parsed = HyperParams().with_overrides(hp_sets).to_dict()  # validates names and values
        named = [pair.partition("=")[0].strip() for pair in expand_shorthands(hp_sets)]
        profile = dataclasses.replace(profile, hp_overrides=profile.hp_overrides | {n: parsed[n] for n in named})
    if learner_sets:
        from model.design import get_design

        profile = dataclasses.replace(profile, learner_config=profile.learner_config
                                      | get_design(design).learner_config(learner_sets))
    return profile


STARTED_FILE = "study-started.json"


def study_settings(design: str, profile: Profile, episodes: int) -> dict:
    """What a study's runs are made with: the design and the profile's every field (`--set` included),
    with `episodes` (JSON-normal: tuples as lists). The seed count is left out: a resumed study may
    add seeds."""
    import json

    fields = _comparable(dataclasses.asdict(profile) | {"episodes": episodes})
    return json.loads(json.dumps({"design": design, "profile": fields}, default=str))


def _comparable(fields: dict) -> dict:
    """A profile's recorded fields as a resume compares them: without the seed count (a resumed study may add
    seeds) and without an empty learner_config (as studies recorded before the field existed)."""
    fields = {k: v for k, v in fields.items() if k != "seeds"}
    if fields.get("learner_config") == {}:
        fields.pop("learner_config")
    return fields


def check_resumed_settings(out: Path, settings: dict) -> None:
    """Refuse to `--resume` a study with other settings than it was started with (a changed `--set`
    or `--episodes`, or a profile changed by a newer localmarl): its finished runs would mix with new
    ones made differently, and the report would name settings some of them did not use. The record
    is `study-started.json`, or for a study finished before it existed, its `study.json`; a study
    with neither is resumed as it is (and its settings are recorded from then on)."""
    import json

    for name in (STARTED_FILE, "study.json"):
        if (Path(out) / name).exists():
            recorded = json.loads((Path(out) / name).read_text())
            break
    else:
        return
    was = {"design": recorded.get("design", "arbitrage"), "profile": _comparable(recorded.get("profile", {}))}
    if was == settings:
        return
    changes = [f"design was {was['design']!r}, now {settings['design']!r}"] if was["design"] != settings["design"] else []
    for key in sorted(set(was["profile"]) | set(settings["profile"])):
        old, new = was["profile"].get(key, "<not recorded>"), settings["profile"].get(key, "<not recorded>")
        if old != new:
            changes.append(f"{key} was {json.dumps(old)}, now {json.dumps(new)}")
    made_by = recorded.get("versions", {}).get("git_commit", "unknown")
    raise ValueError(f"--resume: study folder {out} was started with other settings than this command's "
                     f"({'; '.join(changes)}), so its finished runs would mix with runs made differently. Resume it with "
                     f"the --profile, --set, --learner-config and --episodes it was started with (and the localmarl it was made with, "
                     f"commit {made_by}, if the profile changed since), or start it again with --overwrite or "
                     f"another --out.")


def run_study(profile_name: str, out: Path, seeds: int | None = None, episodes: int | None = None, jobs: int = 2,
              device: str = "cpu", resume: bool = False, overwrite: bool = False, hp_sets: list[str] | None = None,
              design: str = "arbitrage", engine: str = "local", address: str | None = None,
              learner_sets: list[str] | None = None) -> Path:
    """Run every job of the design's profile, then write the report; returns report.md.

    `hp_sets`: `NAME=VALUE` hyperparameter overrides on top of the profile's; `learner_sets`:
    `NAME=VALUE` settings of the design's learner (both recorded in study.json and the report)."""
    from agents.learning.team import resolve_device
    from runs.executor import JobsFailed, Progress, check_engine, run_jobs
    from runs.output import prepare_run_dir, run_metadata, write_json

    check_engine(engine, address)
    resolve_device(device)  # every argument is checked before the study folder is touched
    profile = resolve_profile(design, profile_name, hp_sets, learner_sets)
    seeds = profile.seeds if seeds is None else seeds
    episodes = profile.episodes if episodes is None else episodes
    if seeds < 1 or episodes < 1 or jobs < 1:
        raise ValueError("--seeds, --episodes and --jobs must be >= 1")
    settings = study_settings(design, profile, episodes)
    if resume:
        check_resumed_settings(out, settings)
    out = prepare_run_dir(out, resume, overwrite, what="study folder")
    if not (out / STARTED_FILE).exists():  # what the study's runs are made with, for a later --resume to compare
        write_json(out / STARTED_FILE, run_metadata("study", {"design": design, "profile": profile.name, "seeds": seeds,
                                                              "episodes": episodes, "set": hp_sets or [],
                                                              "learner_config": learner_sets or []}) | settings)
    study_jobs = plugin(design, "study").jobs(out, profile, seeds, episodes, device, resume)

    t0 = time.perf_counter()
    print(f"study '{profile.name}' ({design}): {len(study_jobs)} jobs ({', '.join(profile.scenarios)}; {seeds} seed(s); "
          f"{episodes} episodes each), {jobs} worker(s) on engine {engine}", file=sys.stderr)
    timings = []

    def done(i, t):
        timings.append(t)
        took = " ".join(f"{k.removesuffix('_s')} {v:.0f}s" for k, v in t.items() if k.endswith("_s"))
        print(f"  {t['job']}: {took}", file=sys.stderr, flush=True)

    try:
        run_jobs(study_jobs, engine, jobs, address, Progress(len(study_jobs), f"study {profile.name}", planned_seconds=True),
                 keep_going=True, on_done=done)
    except JobsFailed as e:
        raise StudyJobsFailed(f"{len(e.failures)} of {len(study_jobs)} study jobs failed, so no report was written:\n  "
                              + "\n  ".join(f"{n}: {m}" for n, m in e.failures) + f"\nFinished runs are kept in {out}; "
                              "fix the cause and run the same command with --resume to redo only what is missing.") from None
    jobs_s = time.perf_counter() - t0
    meta = run_metadata("study", {"design": design, "profile": profile.name, "seeds": seeds, "episodes": episodes,
                                  "jobs": jobs, "engine": engine, "set": hp_sets or [],
                                  "learner_config": learner_sets or [], "resume": resume,
                                  "device": device, "out": str(out)})
    meta |= {"design": design, "profile": dataclasses.asdict(profile) | {"episodes": episodes, "seeds": seeds},
             "job_timings": timings, "jobs_wall_s": jobs_s}
    write_json(out / "study.json", meta)
    path = plugin(design, "report").build_report(out)
    meta["total_wall_s"] = time.perf_counter() - t0
    write_json(out / "study.json", meta)
    print(f"study done in {meta['total_wall_s']:.0f} s", file=sys.stderr)
    return path
