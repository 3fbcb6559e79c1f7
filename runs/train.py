"""Sub-commands `train`, `evaluate` and `study`, and `localmarl bench --training`.

Imports stay light here (torch is imported inside the commands), so `localmarl --help` is fast.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from runs.args import add_hp_set, add_learner_config, check_device, nonnegative_int, positive_int, scenario_override
from runs.output import DEFAULT_OUT, print_result

#: `--learner-config`'s help: the settings are the design's (`MarketDesign.learner_settings`, stackelberg's in
#: model/designs/stackelberg.py); `--learner-config help` lists them with their defaults, rather than a list here going stale
LEARNER_CONFIG_HELP = ("change a setting of {whose}, e.g. --learner-config leader_gamma=0.95 (stackelberg: the "
                       "leader's discount, timescale, counterfactual hours, exploration, ...); `--learner-config help` "
                       "lists the design's settings with their defaults")


def register(sub) -> None:
    """Add `train`, `evaluate` and `study` to the `localmarl` parser."""
    t = sub.add_parser("train", help="train the design's learner (arbitrage: HMADDPG bidders, the paper's Algorithm 1)")
    t.add_argument("--scenario", default="all-arb", help="s-a, one-arb, all-arb, ... or a TOML path")
    t.add_argument("--episodes", type=positive_int, default=None,
                   help="episodes (arbitrage: one random training week each, default the paper's 5000; p2p: a day each)")
    t.add_argument("--learner", default=None, help="the design's learner (arbitrage: hmaddpg; p2p: maddpg-ps, ddpg-ps, "
                   "maddpg, one-cluster); default the design's first")
    t.add_argument("--seed", type=nonnegative_int, default=0)
    t.add_argument("--out", default=None, help=f"run folder (default {DEFAULT_OUT}/train-SCENARIO-seedN)")
    t.add_argument("--eval-every", type=positive_int, default=50, help="episodes between evaluations on the evaluation week")
    t.add_argument("--checkpoint-every", type=positive_int, default=250, help="episodes between checkpoints")
    t.add_argument("--snapshot-every", type=nonnegative_int, default=0,
                   help="episodes between policy snapshots kept in RUN/snapshots/epE (also episode 0 and the last; "
                        "0: none), each a folder `evaluate --run` and the checks read; the training is the same")
    t.add_argument("--device", default="cpu", help="cpu, cuda or auto (CUDA when present); the CPU is faster for these "
                                                     "small nets (an H200 trains at 0.45-0.69x: docs/arbitrage-study.md)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    t.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out")
    add_hp_set(t, "override a hyperparameter, e.g. --set lr_actor=3e-4 --set hidden_sizes=64,64")
    add_learner_config(t, LEARNER_CONFIG_HELP.format(whose="the design's learner"))
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="score a trained run on the 12 test weeks and the evaluation week")
    e.add_argument("--run", required=True, help="folder written by `localmarl train`")
    e.add_argument("--out", default=None, help="output folder (default RUN/evaluation, with --fitted-play "
                                               "RUN/evaluation-fitted-play)")
    e.add_argument("--weeks", default=None, help="comma-separated week specs (default: test:1..12 and eval:1)")
    e.add_argument("--override", type=scenario_override, action="append", default=[], metavar="NAME=VALUE",
                   help="play the run's scenario with this setting changed (any the scenario lets a run override, "
                        "as a sweep does), e.g. --override lfm_tie_break_eur_mwh=1e-4; repeatable")
    e.add_argument("--fitted-play", default=None, metavar="FILE",
                   help="play the policy a play saved in FILE (an arbitrage study's fitted_play/ or "
                        "two_stage_play/SCENARIO-seedK-policy.npz, or its play by congestion, "
                        "regret_matching/SCENARIO-seedK-buckets-policy.npz; made from this run) instead of the "
                        "learned one")
    e.add_argument("--last", action="store_true",
                   help="score the run's last snapshot (policy_last.pt) where it kept its best on its selection "
                        "weeks (keep_best: the p2p and stackelberg default) as policy.pt")
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("study", help="a design's study: train its scenarios over seeds, evaluate, check, report "
                                     "(arbitrage: the paper's S-a, one-arb, all-arb (+ swaps))")
    s.add_argument("--design", default="arbitrage", help="the market design whose study runs (default arbitrage)")
    s.add_argument("--profile", default="quick", help="quick (arbitrage ~78 min on 2 cores), paper (the paper's episodes), "
                   "tiny (smoke test)")
    s.add_argument("--seeds", type=positive_int, default=None, help="seeds per scenario (default: the profile's)")
    s.add_argument("--episodes", type=positive_int, default=None, help="override the profile's episodes")
    s.add_argument("--out", default=None, help=f"study folder (default {DEFAULT_OUT}/study-PROFILE)")
    s.add_argument("--jobs", type=positive_int, default=2, help="parallel worker processes, or Ray CPUs (default 2)")
    s.add_argument("--engine", choices=("local", "ray"), default="local",
                   help="local: processes on this machine; ray: Ray tasks (local instance, or --address)")
    s.add_argument("--address", default=None, help="Ray cluster to join (with --engine ray)")
    s.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    s.add_argument("--resume", action="store_true", help="reuse finished runs / resume unfinished ones in --out")
    s.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    add_hp_set(s, "override a hyperparameter of every run on top of the profile's, e.g. --set gamma=0")
    add_learner_config(s, LEARNER_CONFIG_HELP.format(whose="every run's learner"))
    s.set_defaults(func=cmd_study)


def cmd_train(args) -> int:
    from runs.training import design_hyperparams, design_learner_config, score_table, train

    hp = design_hyperparams(args.scenario, args.set)
    learner_config = design_learner_config(args.scenario, args.learner_config)
    check_device(args.device)
    out = Path(args.out) if args.out else DEFAULT_OUT / f"train-{Path(args.scenario).stem}-seed{args.seed}"
    args.interrupt_hint = (f"The run folder {out} keeps its newest checkpoint: continue with the same command "
                           "and --resume (it ends with the numbers an uninterrupted run gives).")
    r = train(args.scenario, episodes=args.episodes, seed=args.seed, out=out, eval_every=args.eval_every,
              device=args.device, resume=args.resume, hp=hp, checkpoint_every=args.checkpoint_every,
              overwrite=args.overwrite, learner=args.learner, learner_config=learner_config,
              snapshot_every=args.snapshot_every)
    last = r.curve[r.curve.episode == r.curve.episode.max()]
    who = r.curve.columns[1]  # the design's participant label
    print(f"trained {r.episodes} episodes; this session {r.seconds:.0f} s, "
          f"{r.market_hours / max(r.seconds, 1e-9):.0f} market hours/s")
    table = score_table(args.scenario, last, who, list(r.curve.columns[2:]))
    print(f"evaluation week, last evaluation (episode {int(last.episode.iloc[0])}): total "
          f"€{last.eval_score_eur.sum():,.0f}; per {table.index.name}:")
    print(table.round(1).to_string())
    print(f"\nwrote {out}/train_curve.csv, policy.pt, checkpoints/")
    return 0


def fitted_play_wrap(path: str):
    """`evaluate_run`'s wrap: the play's policy saved at `path` (`load_play`) over the run's learned policy (refused
    unless made from that policy file), and what config.json records of it."""
    def wrap(learner, meta):
        from model.atomic import file_sha256
        from runs.studies.arbitrage_two_stage import load_play

        policy = load_play(path, learner, meta["participant_ids"], base_sha256=meta["tensor_sha256"])
        return policy, {"fitted_play": {"file": str(path), "sha256": file_sha256(Path(path)), "kind": type(policy).__name__,
                                        "population": getattr(policy, "population", None)}}

    return wrap


def cmd_evaluate(args) -> int:
    from agents.learning.checkpoint import LAST_POLICY_META
    from runs.training import evaluate_run, score_table

    default = "evaluation" if args.fitted_play is None else "evaluation-fitted-play"  # not over the learned policy's
    default += "-last" if args.last else ""
    if args.last and not (Path(args.run) / LAST_POLICY_META).exists():
        raise ValueError(f"--last: {args.run} has no {LAST_POLICY_META}; only a run trained with keep_best keeps a "
                         "snapshot other than its last (its policy.pt is then the last one: drop --last)")
    out = Path(args.out) if args.out else Path(args.run) / default
    weeks = args.weeks.split(",") if args.weeks else None
    args.interrupt_hint = f"Nothing was written to {out}."
    scores = evaluate_run(args.run, out, weeks=weeks, overwrite=args.overwrite, overrides=dict(args.override), last=args.last,
                          wrap=None if args.fitted_play is None else fitted_play_wrap(args.fitted_play))
    who = scores.columns[1]  # the design's participant label
    per = score_table(json.loads((Path(args.run) / "policy.json").read_text())["scenario_arg"], scores, who,
                      list(scores.columns[2:-1]))
    print(f"scores over {scores.week.nunique()} weeks (sum), per {per.index.name}:")
    print(per.round(1).to_string())
    print(f"\nwrote {out}/scores.csv, hours.csv")
    return 0


def cmd_study(args) -> int:
    from runs.study import StudyJobsFailed, run_study

    check_device(args.device)
    prefix = "study" if args.design == "arbitrage" else f"study-{args.design}"
    out = Path(args.out) if args.out else DEFAULT_OUT / f"{prefix}-{args.profile}"
    args.interrupt_hint = (f"Finished runs (and checkpoints of unfinished ones) are kept in {out}: run the same "
                           "command with --resume to do only what is missing.")
    try:
        report = run_study(args.profile, out, seeds=args.seeds, episodes=args.episodes, jobs=args.jobs,
                           device=args.device, resume=args.resume, overwrite=args.overwrite, hp_sets=args.set,
                           learner_sets=args.learner_config, design=args.design, engine=args.engine, address=args.address)
    except StudyJobsFailed as e:
        print(f"localmarl study: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {report}")
    return 0


def _timed_training(model, learner, pool, episodes: int, warmup: int) -> dict:
    """Train `learner` in `model` on `warmup` + `episodes` episodes drawn from `pool`; returns what
    the timed episodes took: hours, wall and CPU seconds, and the seconds spent stepping the model
    (clearing and acting), storing transitions and learning."""
    import numpy as np

    from runs.training import store_hour

    design = model.design
    rng = np.random.default_rng(0)
    clock = time.perf_counter
    t_step = t_store = t_learn = 0.0
    wall0 = cpu0 = 0.0
    hours = 0
    for ep in range(warmup + episodes):
        if ep == warmup:
            t_step = t_store = t_learn = 0.0
            wall0, cpu0, hours = clock(), time.process_time(), 0
            design.reset_counters()
        learner.explore = True
        week, first_hour = design.episode_start(int(rng.choice(pool)))
        model.reset_episode(week, first_hour)
        while model.running:
            t0 = clock()
            model.step()
            t1 = clock()
            store_hour(learner, model, model.hour_result, last=not model.running)
            t_step += t1 - t0
            t_store += clock() - t1
            hours += 1
        t0 = clock()
        learner.end_episode()
        t_learn += clock() - t0
    return {"hours": hours, "wall_s": clock() - wall0, "cpu_s": time.process_time() - cpu0,
            "step_s": t_step, "store_s": t_store, "learn_s": t_learn}


def _acting_ms_per_hour(model, learner, episode: int) -> float:
    """Acting alone: milliseconds per hour `learner` takes to act on the observations of one
    training episode, without clearing any market."""
    import numpy as np

    design = model.design
    week, first_hour = design.episode_start(episode)
    model.reset_episode(week, first_hour)
    seen = []
    while model.running:
        model.step()
        seen.append(model.hour_result.observations)
    stages = design.acting_stages()
    rows = {s.name: np.arange(len(design.population(s.role))) for s in stages}
    t0 = time.perf_counter()
    for obs in seen:
        for s in stages:
            learner.act(s.name, obs[s.name], rows[s.name])
    return (time.perf_counter() - t0) / len(seen) * 1e3


BENCH_EPISODES = 30  # timed training episodes per measurement (168 market hours each)


def device_label(device: str) -> str:
    """What a bench ran on: the device name, with the GPU's model where it is one (`cuda (NVIDIA H200)`)."""
    import torch

    from agents.learning.team import resolve_device

    d = resolve_device(device)
    return f"{d} ({torch.cuda.get_device_name(d)})" if d.type == "cuda" else str(d)


def _bench_one(scenario: str, hp, episodes: int, device: str = "cpu") -> dict:
    """One training-speed measurement: the design's default learner with `hp` on `device`, `episodes`
    timed episodes after 2 warm-up ones, in a fresh model."""
    from runs.training import default_policy_name, make_model

    model = make_model(scenario, default_policy_name(scenario), 0, week="train:1")
    design = model.design
    learner = design.default_learner(hp, 0, device)
    model.set_policy(learner)
    pool = design.training_episodes()
    t = _timed_training(model, learner, pool, episodes, warmup=2)
    act_ms = _acting_ms_per_hour(model, learner, int(pool[0]))
    hours, wall = t["hours"], t["wall_s"]
    ms = wall / hours * 1e3
    return {
        "market_hours_per_s": round(hours / wall, 1),
        "ms_per_hour": round(ms, 4),
        "clearing_and_acting_ms_per_hour": round(t["step_s"] / hours * 1e3, 4),
        "acting_ms_per_hour": round(act_ms, 4),
        "storing_ms_per_hour": round(t["store_s"] / hours * 1e3, 4),
        "learning_ms_per_hour": round(t["learn_s"] / hours * 1e3, 4),
        "learning_ms_per_episode": round(t["learn_s"] / episodes * 1e3, 3),
        "projected_5000_episode_run_min": round(5000 * design.episode_hours * ms / 1e3 / 60, 2),
        "cpu_time_over_wall": round(t["cpu_s"] / wall, 3),
        **design.counters(),
        "episodes": episodes,
        "hours": hours,
        "scenario": model.scenario.name,
        "learner": learner.kind,
    }


def bench_training(args, design_name: str) -> int:
    """Market hours per second while training (clearing + acting + learning), the design's default
    learner at the paper's hyperparameters unless `--set NAME=VALUE` overrides some. With
    `--profile NAME`, the paper's hyperparameters and the study profile's (its `hp_overrides`, e.g. the
    quick profile's 20 updates per episode) are measured side by side, alternating for `--rounds`
    rounds (default 3), and the medians and their ratio printed. Without a profile, `--rounds K`
    measures the paper's K times and prints the median (default one round)."""
    import statistics

    import torch

    from runs.study import profile_hyperparams, resolve_profile
    from runs.training import design_hyperparams

    torch.set_num_threads(1)
    episodes = BENCH_EPISODES
    paper_label = "paper defaults (agents.learning.hyperparams.HyperParams())" + (f" with {', '.join(args.set)}"
                                                                                 if args.set else "")
    devices = getattr(args, "devices", None) or ["cpu"]
    common = {"torch_threads": torch.get_num_threads(), "device": ", ".join(device_label(d) for d in devices),
              "note": "untrained, exploring policy"}
    paper_hp = design_hyperparams(args.scenario, args.set)
    if len(devices) > 1:
        return _bench_devices(args, devices, paper_hp, paper_label, common)
    device = devices[0]
    rounds = args.rounds or (3 if args.profile else 1)
    if not args.profile:
        measured_rounds = [_bench_one(args.scenario, paper_hp, episodes, device) for _ in range(rounds)]
        result = sorted(measured_rounds, key=lambda r: r["market_hours_per_s"])[rounds // 2]  # the median round's breakdown
        if rounds > 1:
            result |= {"market_hours_per_s": statistics.median(r["market_hours_per_s"] for r in measured_rounds),
                       "market_hours_per_s_rounds": [r["market_hours_per_s"] for r in measured_rounds],
                       "rounds": rounds}
        print_result(result | {"hyperparams": paper_label} | common, args.json, width=34)
        return 0
    profile = resolve_profile(design_name, args.profile, args.set)
    if not profile.hp_overrides:
        raise ValueError(f"study profile {args.profile!r} trains with the paper defaults, which this bench measures "
                         f"anyway: run `localmarl bench --training --rounds K` for their median over K rounds")
    configs = {"paper": paper_hp, args.profile: profile_hyperparams(args.scenario, profile)}
    measured: dict[str, list[dict]] = {name: [] for name in configs}
    for _ in range(rounds):  # alternating, so that a slower spell of a shared machine hits both
        for name, hp in configs.items():
            measured[name].append(_bench_one(args.scenario, hp, episodes, device))
    median = {name: statistics.median(r["market_hours_per_s"] for r in rs) for name, rs in measured.items()}
    result = {}
    for name, rs in measured.items():
        mid = sorted(rs, key=lambda r: r["market_hours_per_s"])[len(rs) // 2]  # the median round's breakdown
        result[f"{name}_market_hours_per_s"] = median[name]
        result[f"{name}_market_hours_per_s_rounds"] = [r["market_hours_per_s"] for r in rs]
        for k in ("clearing_and_acting_ms_per_hour", "learning_ms_per_hour", "projected_5000_episode_run_min"):
            result[f"{name}_{k}"] = mid[k]
    result[f"{args.profile}_over_paper"] = round(median[args.profile] / median["paper"], 3)
    result |= {"rounds": rounds, "episodes_per_round": episodes, "scenario": measured["paper"][0]["scenario"],
               "learner": measured["paper"][0]["learner"], "paper_hyperparams": paper_label,
               f"{args.profile}_hp_overrides": json.dumps(profile.hp_overrides, sort_keys=True)} | common
    print_result(result, args.json, width=44)
    return 0


def _bench_devices(args, devices: list[str], hp, hp_label: str, common: dict) -> int:
    """`bench --training --device cpu,cuda`: the same training measured on each device, alternating for
    `--rounds` rounds (default 3) so that a slower spell of a shared machine hits each; the medians and
    each device's ratio to the first printed."""
    import statistics

    rounds = args.rounds or 3
    measured: dict[str, list[dict]] = {d: [] for d in devices}
    for _ in range(rounds):
        for d in devices:
            measured[d].append(_bench_one(args.scenario, hp, BENCH_EPISODES, d))
    result = {}
    for d, rs in measured.items():
        mid = sorted(rs, key=lambda r: r["market_hours_per_s"])[len(rs) // 2]  # the median round's breakdown
        result[f"{d}_market_hours_per_s"] = statistics.median(r["market_hours_per_s"] for r in rs)
        result[f"{d}_market_hours_per_s_rounds"] = [r["market_hours_per_s"] for r in rs]
        for k in ("clearing_and_acting_ms_per_hour", "acting_ms_per_hour", "learning_ms_per_hour",
                  "projected_5000_episode_run_min"):
            result[f"{d}_{k}"] = mid[k]
    first = devices[0]
    for d in devices[1:]:
        result[f"{d}_over_{first}"] = round(result[f"{d}_market_hours_per_s"] / result[f"{first}_market_hours_per_s"], 3)
    result |= {"rounds": rounds, "episodes_per_round": BENCH_EPISODES, "scenario": measured[first][0]["scenario"],
               "learner": measured[first][0]["learner"], "hyperparams": hp_label} | common
    print_result(result, args.json, width=44)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `localmarl train|evaluate|study`")
