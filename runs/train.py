"""Sub-commands `train`, `evaluate` and `study`, and `localmarl bench --training`.

Imports stay light here (torch is imported inside the commands), so `localmarl --help` is fast.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from runs.output import DEFAULT_OUT, print_result


def add_hp_set(parser, help: str) -> None:
    """`--set NAME=VALUE` (repeatable): hyperparameter overrides, parsed by `HyperParams.with_overrides`."""
    parser.add_argument("--set", action="append", metavar="NAME=VALUE", default=[], help=help)


def register(sub) -> None:
    """Add `train`, `evaluate` and `study` to the `localmarl` parser."""
    t = sub.add_parser("train", help="train HMADDPG bidders on random training weeks (paper Algorithm 1)")
    t.add_argument("--scenario", default="all-arb", help="s-a, one-arb, all-arb, ... or a TOML path")
    t.add_argument("--episodes", type=int, default=5000, help="episodes (one random training week each; paper: 5000)")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", default=None, help=f"run folder (default {DEFAULT_OUT}/train-SCENARIO-seedN)")
    t.add_argument("--eval-every", type=int, default=50, help="episodes between evaluations on the evaluation week")
    t.add_argument("--checkpoint-every", type=int, default=250, help="episodes between checkpoints")
    t.add_argument("--device", default="cpu", help="cpu, cuda or auto (CUDA when present); CPU is faster for these small nets")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its newest checkpoint")
    t.add_argument("--overwrite", action="store_true", help="start over in a non-empty --out")
    add_hp_set(t, "override a hyperparameter, e.g. --set lr_actor=3e-4 --set hidden_sizes=64,64")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("evaluate", help="score a trained run on the 12 test weeks and the evaluation week")
    e.add_argument("--run", required=True, help="folder written by `localmarl train`")
    e.add_argument("--out", default=None, help="output folder (default RUN/evaluation)")
    e.add_argument("--weeks", default=None, help="comma-separated week specs (default: test:1..12 and eval:1)")
    e.add_argument("--overwrite", action="store_true")
    e.set_defaults(func=cmd_evaluate)

    s = sub.add_parser("study", help="the paper's study: train S-a, one-arb, all-arb (+ swaps), evaluate, report")
    s.add_argument("--profile", default="quick", help="quick (<= 20 min on 2 cores), paper (5000 episodes), tiny (smoke test)")
    s.add_argument("--seeds", type=int, default=None, help="seeds per scenario (default: the profile's)")
    s.add_argument("--episodes", type=int, default=None, help="override the profile's episodes")
    s.add_argument("--out", default=None, help=f"study folder (default {DEFAULT_OUT}/study-PROFILE)")
    s.add_argument("--jobs", type=int, default=2, help="parallel worker processes (default 2)")
    s.add_argument("--device", default="cpu", help="cpu, cuda or auto")
    s.add_argument("--resume", action="store_true", help="reuse finished runs / resume unfinished ones in --out")
    s.add_argument("--overwrite", action="store_true", help="replace a non-empty --out")
    add_hp_set(s, "override a hyperparameter of every run on top of the profile's, e.g. --set gamma=0")
    s.set_defaults(func=cmd_study)


def cmd_train(args) -> int:
    from agents.hmaddpg import HyperParams
    from agents.training import train

    hp = HyperParams().with_overrides(args.set)
    out = Path(args.out) if args.out else DEFAULT_OUT / f"train-{Path(args.scenario).stem}-seed{args.seed}"
    r = train(args.scenario, episodes=args.episodes, seed=args.seed, out=out, eval_every=args.eval_every,
              device=args.device, resume=args.resume, hp=hp, checkpoint_every=args.checkpoint_every,
              overwrite=args.overwrite)
    last = r.curve[r.curve.episode == r.curve.episode.max()]
    print(f"trained {r.episodes} episodes; this session {r.seconds:.0f} s, "
          f"{r.market_hours / max(r.seconds, 1e-9):.0f} market hours/s")
    print(f"evaluation week, last evaluation (episode {int(last.episode.iloc[0])}): total "
          f"€{last.eval_score_eur.sum():,.0f}; per aggregator:")
    print(last.set_index("aggregator")[["eval_score_eur", "first_stage_eur", "second_stage_eur"]].round(1).to_string())
    print(f"\nwrote {out}/train_curve.csv, policy.pt, checkpoints/")
    return 0


def cmd_evaluate(args) -> int:
    from agents.training import evaluate_run

    out = Path(args.out) if args.out else Path(args.run) / "evaluation"
    weeks = args.weeks.split(",") if args.weeks else None
    scores = evaluate_run(args.run, out, weeks=weeks, overwrite=args.overwrite)
    per = scores.groupby("aggregator")[["first_stage_eur", "second_stage_eur", "total_eur"]].sum().round(1)
    print(f"scores over {scores.week.nunique()} weeks (sum):")
    print(per.to_string())
    print(f"\nwrote {out}/scores.csv, hours.csv")
    return 0


def cmd_study(args) -> int:
    from runs.study import StudyJobsFailed, run_study

    out = Path(args.out) if args.out else DEFAULT_OUT / f"study-{args.profile}"
    try:
        report = run_study(args.profile, out, seeds=args.seeds, episodes=args.episodes, jobs=args.jobs,
                           device=args.device, resume=args.resume, overwrite=args.overwrite, hp_sets=args.set)
    except StudyJobsFailed as e:
        print(f"localmarl study: error: {e}", file=sys.stderr)
        return 1
    print(f"wrote {report}")
    return 0


def bench_training(args) -> int:
    """Market hours per second while training (clearing + acting + learning), paper hyperparameters
    unless `--set NAME=VALUE` overrides some."""
    import numpy as np
    import torch

    from agents.hmaddpg import HyperParams
    from agents.training import make_model, new_brain
    from model import dataset

    torch.set_num_threads(1)
    episodes, warmup = 30, 2
    hp = HyperParams().with_overrides(args.set)
    model = make_model(args.scenario, "truthful", 0, week="train:1")
    brain = new_brain(model, hp, 0)
    model.set_brain(brain)
    rng = np.random.default_rng(0)
    train_weeks = dataset.week_split().train
    t_step = t_store = t_learn = 0.0
    wall0 = cpu0 = 0.0
    hours = 0
    clock = time.perf_counter
    for ep in range(warmup + episodes):
        if ep == warmup:
            t_step = t_store = t_learn = 0.0
            wall0, cpu0, hours = clock(), time.process_time(), 0
            solver = model.dso.solver
            solver.n_lp = solver.n_screened = 0  # the rest of the hours skip the LP (LfmSolver.screen)
        brain.explore = True
        model.reset_week(int(rng.choice(train_weeks)))
        while model.running:
            t0 = clock()
            model.step()
            t1 = clock()
            brain.remember(model.hour_result, last=not model.running)
            t_step += t1 - t0
            t_store += clock() - t1
            hours += 1
        t0 = clock()
        brain.end_episode()
        t_learn += clock() - t0
    wall, cpu = clock() - wall0, time.process_time() - cpu0
    # acting alone: the same brain on the hours of one week, no clearing
    model.reset_week(train_weeks[0])
    obs = []
    while model.running:
        model.step()
        obs.append((model.hour_result.obs_lem, model.hour_result.obs_lfm))
    rows = np.arange(model.scenario.n_aggregators)
    t0 = clock()
    for o1, o2 in obs:
        brain.act_lem(o1, rows)
        brain.act_lfm(o2, rows)
    act_ms = (clock() - t0) / len(obs) * 1e3
    ms = wall / hours * 1e3
    result = {
        "market_hours_per_s": round(hours / wall, 1),
        "ms_per_hour": round(ms, 4),
        "clearing_and_acting_ms_per_hour": round(t_step / hours * 1e3, 4),
        "acting_ms_per_hour": round(act_ms, 4),
        "storing_ms_per_hour": round(t_store / hours * 1e3, 4),
        "learning_ms_per_hour": round(t_learn / hours * 1e3, 4),
        "learning_ms_per_episode": round(t_learn / episodes * 1e3, 3),
        "projected_5000_episode_run_min": round(5000 * 168 * ms / 1e3 / 60, 2),
        "cpu_time_over_wall": round(cpu / wall, 3),
        "lfm_hours_solved_by_lp_share": round(solver.n_lp / max(solver.n_lp + solver.n_screened, 1), 3),
        "episodes": episodes,
        "hours": hours,
        "scenario": model.scenario.name,
        "hyperparams": "paper defaults (agents.hmaddpg.HyperParams())" + (f" with {', '.join(args.set)}" if args.set else ""),
        "torch_threads": torch.get_num_threads(),
        "device": "cpu",
        "note": "untrained, exploring policy (the LFM clears more congestion than with truthful bids)",
    }
    print_result(result, args.json, width=34)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `localmarl train|evaluate|study`")
