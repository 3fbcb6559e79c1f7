"""`localmarl` command line."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import importlib

from runs.args import Terminated, add_hp_set, add_learner_config, check_devices, nonnegative_int, positive_int, scenario_override, sigterm_as_interrupt
from runs.output import DEFAULT_OUT, check_out, output_dir, print_result, run_metadata, write_json


#: Modules that add sub-commands: each has `register(subparsers)` (imports must stay light).
EXTENSIONS = ("runs.train", "runs.sweep", "runs.app_cli", "runs.index")


def _progress(total: int, desc: str, unit: str = "h"):
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, disable=None, mininterval=1.0, file=sys.stderr)


#: The scenario `simulate` plays when --scenario is omitted and the policy is not a trained run.
DEFAULT_SCENARIO = "s-a"


def scenario_to_play(requested: str | None, played) -> str:
    """--scenario (default s-a); for a trained run, the scenario it was trained on, which an explicit
    --scenario must name too (the same string, or a scenario that simulates the same thing)."""
    if played.run_dir is None:
        return requested or DEFAULT_SCENARIO
    if requested is None or requested == played.scenario:
        return played.scenario
    from model.scenario import load, scenario_sha256

    asked = load(requested)
    if scenario_sha256(asked) == played.meta["scenario_sha256"]:
        return requested
    raise ValueError(
        f"--scenario {requested} (scenario '{asked.name}') is not the scenario the policy in {played.run_dir} "
        f"was trained on ('{played.meta['scenario_name']}', from {played.scenario}); omit --scenario to play "
        f"the run on its own scenario, or pass --scenario {played.scenario}"
    )


def cmd_simulate(args) -> int:
    from runs.policies import resolve_policy
    from model.model import MarketModel
    from runs import results

    played = resolve_policy(args.policy)
    scenario = scenario_to_play(args.scenario, played)
    overrides = dict(args.override) | ({"location_swap": args.location_swap} if args.location_swap else {})
    model = MarketModel(scenario=scenario, week=args.week, policy=played.policy, seed=args.seed, **overrides)
    out = Path(args.out) if args.out else DEFAULT_OUT / f"simulate-{model.scenario.name}-{args.week.replace(':', '')}-{played.label}"
    check_out(out, args.overwrite)  # a bad --out fails now, not after the simulation
    args.interrupt_hint = f"Nothing was written to {out}."
    with _progress(model.n_hours_total, f"simulate {model.scenario.name}") as bar:
        while model.running:
            model.step()
            bar.update(1)
    t = results.tables(model)
    summary = model.design.summary(model.record)
    config = run_metadata("simulate", vars(args) | {"scenario": scenario, "out": str(out), "override": dict(args.override)},
                          model.scenario)
    if played.run_dir is not None:
        config["trained_policy"] = played.record()
    with output_dir(out, args.overwrite) as tmp:
        for name, df in t.items():
            df.to_csv(tmp / f"{name}.csv", index=False, float_format="%.9g")
        write_json(tmp / "config.json", config)
        (tmp / "summary.txt").write_text(summary + "\n")
    trained = "" if played.run_dir is None else f" from {played.run_dir} (episode {played.meta.get('episode')})"
    print(f"scenario {model.scenario.name}, weeks {model.weeks}, policy {model.policy_name}{trained}")
    print(summary)
    print(f"\nwrote {out}/{', '.join(f'{n}.csv' for n in t)}, config.json, summary.txt")
    return 0


def cmd_flex_share(args) -> int:
    from model.designs.arbitrage import bought_flexibility
    from model.model import MarketModel

    model = MarketModel(scenario=args.scenario, week="all", policy="truthful", collect=False, seed=args.seed)
    if model.scenario.design != "arbitrage":
        raise ValueError(f"flex-share measures the arbitrage design's LFM; scenario {model.scenario.name!r} is a "
                         f"{model.scenario.design!r} scenario")
    bought = slack = 0
    t0 = time.perf_counter()
    with _progress(model.n_hours_total, f"flex-share {model.scenario.name}") as bar:
        while model.running:
            model.step()
            lfm = model.hour_result.lfm
            bought += bool(bought_flexibility(lfm.up_mw.sum() + lfm.dn_mw.sum()))
            slack += lfm.result.slack_mw > 1e-6
            bar.update(1)
    n = model.hours_done
    print(f"scenario {model.scenario.name}: {n} hours (52 weeks), truthful bidding, {time.perf_counter() - t0:.1f} s")
    print(f"hours in which the LFM buys flexibility: {bought} ({bought / n:.1%}); hours needing emergency slack: {slack}")
    print(f"{bought / n:.4f}")
    return 0


def cmd_bench(args) -> int:
    from model.design import get_design
    from model.scenario import load_scenario

    design = get_design(load_scenario(args.scenario).design)
    args.learner_settings = design.learner_config(args.learner_config)  # a design without settings refuses any
    args.devices = check_devices(args.device)
    if len(args.devices) > 1 and args.profile:
        raise ValueError("--profile compares hyperparameters on one device and a device list compares devices: "
                         "give one of them")
    if args.devices != ["cpu"] and not (args.training or "bench" in design.plugins):
        raise ValueError("--device is where the learner runs: add --training (the clearing bench learns nothing)")
    if args.profile and not args.training:
        raise ValueError("--profile measures training speed: add --training")
    if args.rounds and not args.training:
        raise ValueError("--rounds repeats the training bench: add --training (the clearing bench takes --repeats)")
    if "bench" in design.plugins:  # a design with a benchmark of its own (P2P: env, training, reference, scaling)
        if args.profile or args.rounds:
            raise ValueError(f"--profile and --rounds are for the arbitrage design's training bench; the {design.name} bench "
                             f"measures its design's hyperparameters (change them with --set NAME=VALUE)")
        result = importlib.import_module(design.plugins["bench"]).bench(args)
        print_result(result, args.json, width=34)
        return 0
    if args.training:
        from runs.train import bench_training

        return bench_training(args, design.name)
    from model.model import MarketModel
    from runs.bench import model_step_ms, run_bench

    def make():
        return MarketModel(scenario=args.scenario, week=args.week, policy=args.policy, collect=False, seed=0)

    result = run_bench(make(), repeats=args.repeats)
    result["model_step_ms_per_hour"] = round(model_step_ms(make), 4)
    print_result(result, args.json)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="localmarl", description=__doc__)
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("simulate", help="simulate weeks of a scenario and write tidy CSVs")
    s.add_argument("--scenario", default=None, help="scenario name (s-a, one-arb, all-arb, ...) or TOML path "
                   f"(default {DEFAULT_SCENARIO}; with a trained --policy, the scenario it was trained on)")
    s.add_argument("--week", default="test:1", help="test:N (1-12), train:N (1-39), eval:1, week:W (0-51) or all")
    s.add_argument("--policy", default="truthful", help="truthful, random, rule, or a run folder written by "
                   "`localmarl train` (plays its trained policy), e.g. runs/out/train-one-arb-seed0")
    s.add_argument("--location-swap", default=None, help='swap aggregators\' buses, e.g. "5:9,8:10"')
    s.add_argument("--override", type=scenario_override, action="append", default=[], metavar="NAME=VALUE",
                   help="simulate the scenario with this setting changed (any a run or a sweep may override), "
                        "e.g. --override line_limit_factor=0.8; repeatable")
    s.add_argument("--seed", type=nonnegative_int, default=0)
    s.add_argument("--out", default=None, help=f"output folder (default under {DEFAULT_OUT}/)")
    s.add_argument("--overwrite", action="store_true", help="replace a non-empty output folder")
    s.set_defaults(func=cmd_simulate)

    f = sub.add_parser("flex-share", help="share of the year's hours in which the LFM buys flexibility (truthful bids)")
    f.add_argument("--scenario", default="s-a")
    f.add_argument("--seed", type=nonnegative_int, default=0)
    f.set_defaults(func=cmd_flex_share)

    b = sub.add_parser("bench", help="arbitrage: fast clearing vs plain PuLP + CBC on the same week (--training: "
                                     "training speed); p2p: env, training and a naive reference side by side")
    b.add_argument("--scenario", default="s-a")
    b.add_argument("--week", default="test:1")
    b.add_argument("--policy", default="truthful")
    b.add_argument("--repeats", type=positive_int, default=5, help="fast-path repeats per hour (best of)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--training", action="store_true", help="measure training speed instead (market hours per second)")
    add_hp_set(b, "with --training: override a hyperparameter of the paper defaults, e.g. --set gamma=0")
    b.add_argument("--profile", help="with --training: also measure a study profile's hyperparameters (e.g. quick: "
                                     "the ones `make run` trains with), side by side with the paper defaults")
    b.add_argument("--rounds", type=positive_int, default=None,
                   help="with --training: rounds to measure, medians printed (default 1; with --profile 3, alternating)")
    add_learner_config(b, "stackelberg: a setting of the learner the bench measures, e.g. leader_action_search=32 "
                          "(repeatable; the settings: `localmarl train --help`)")
    b.add_argument("--device", default="cpu",
                   help="training benches: where the learner runs (cpu, cuda, cuda:N, auto); several, comma-separated "
                        "(cpu,cuda), are measured side by side, alternating, with their ratio")
    b.set_defaults(func=cmd_bench)
    for module in EXTENSIONS:
        importlib.import_module(module).register(sub)
    return p


def main(argv=None) -> int:
    """Run a command. Bad input: exit 2 and one line naming the problem and the fix. Ctrl-C or
    SIGTERM: exit 130 / 143, partial output removed, and how to continue (e.g. --resume)."""
    args = build_parser().parse_args(argv)
    sigterm_as_interrupt()
    from model.design import SettingsListed

    try:
        return args.func(args)
    except SettingsListed as e:  # `--learner-config help`: the listing is the answer
        print(e)
        return 0
    except (FileExistsError, ValueError) as e:  # ScenarioError, OutputError, CheckpointError, ... are ValueErrors
        print(f"localmarl {args.command}: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as e:
        how = "terminated (SIGTERM)" if isinstance(e, Terminated) else "interrupted (Ctrl-C)"
        print(f"localmarl {args.command}: {how}. {getattr(args, 'interrupt_hint', '')}".rstrip(), file=sys.stderr)
        return 143 if isinstance(e, Terminated) else 130


if __name__ == "__main__":
    sys.exit(main())
