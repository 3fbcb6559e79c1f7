"""What every `localmarl` command shares: argument types that reject bad values with a named error,
the `--set NAME=VALUE` hyperparameter option, and interrupts (Ctrl-C, SIGTERM) that clean up and
say how to continue.

Values are checked where argparse reads them (`positive_int`, ...) or, for scenario settings, by the
scenario itself (`scenario.with_overrides`, the same check a sweep's grid goes through), always
before any output folder is touched.
"""

from __future__ import annotations

import argparse
import signal


def positive_int(text: str) -> int:
    """An integer >= 1 (episodes, seeds, jobs, evaluation and checkpoint spacing)."""
    value = _int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number >= 1")
    return value


def nonnegative_int(text: str) -> int:
    """An integer >= 0 (a seed)."""
    value = _int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number >= 0")
    return value


def port(text: str) -> int:
    value = _int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a TCP port: use 1..65535 (e.g. 8765)")
    return value


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def scenario_override(text: str) -> tuple[str, object]:
    """`NAME=VALUE` for a scenario setting (`--override`): the value as a number where it reads as one,
    else as text; the scenario checks name and value (`with_overrides`)."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip() or not value.strip():
        raise argparse.ArgumentTypeError(f"{text!r}: use NAME=VALUE, e.g. lfm_tie_break_eur_mwh=1e-4 or line_limit_factor=0.8")
    value = value.strip()
    for kind in (int, float):
        try:
            return name.strip(), kind(value)
        except ValueError:
            pass
    return name.strip(), value


def add_hp_set(parser, help: str) -> None:
    """`--set NAME=VALUE` (repeatable): hyperparameter overrides, parsed by `HyperParams.with_overrides`."""
    parser.add_argument("--set", action="append", metavar="NAME=VALUE", default=[], help=help)


def lever_parser(doc: str, scenario: str, out: str) -> argparse.ArgumentParser:
    """The arguments the lever scripts share (`scripts/*_levers.py NAME SEED`): --set, --override (a setting of
    `scenario`), --profile, --episodes, --run and --out (default `out`); a script adds its own."""
    import argparse
    from pathlib import Path

    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("seed", type=int)
    add_hp_set(ap, "a hyperparameter on top of the profile's; repeatable")
    ap.add_argument("--override", action="append", default=[], type=scenario_override, metavar="NAME=VALUE",
                    help=f"a scenario setting of {scenario} (as `localmarl simulate --override`); repeatable")
    ap.add_argument("--profile", default="quick", choices=("quick", "paper", "tiny"))
    ap.add_argument("--episodes", type=int, help="training days (default: the profile's)")
    ap.add_argument("--run", type=Path, help="check this trained run instead of training one")
    ap.add_argument("--out", type=Path, default=Path(out))
    return ap


def add_learner_config(parser, help: str) -> None:
    """`--learner-config NAME=VALUE` (repeatable): settings of the design's learner (its
    `learner_settings`, read by `MarketDesign.learner_config`)."""
    parser.add_argument("--learner-config", action="append", metavar="NAME=VALUE", default=[], help=help)


def check_device(device: str) -> str:
    """A `--device` value checked before any work (cpu, cuda, cuda:N, auto); returns it."""
    from agents.learning.team import resolve_device

    resolve_device(device)
    return device


def check_devices(devices: str) -> list[str]:
    """`--device` of the benches: one device or several, comma-separated (`cpu,cuda`: measured side by
    side, alternating), each checked before any work; returns them in order, without repeats."""
    names = [d.strip() for d in devices.split(",") if d.strip()]
    if not names:
        raise ValueError(f"--device {devices!r}: name a device (cpu, cuda, cuda:N or auto), or several, comma-separated")
    for name in names:
        check_device(name)
    return list(dict.fromkeys(names))


class Terminated(KeyboardInterrupt):
    """SIGTERM (what `timeout`, SLURM and docker send), raised like Ctrl-C so that the same cleanup runs."""


def _raise_terminated(signum, frame):
    raise Terminated()


def sigterm_as_interrupt() -> None:
    """From now on SIGTERM interrupts this process like Ctrl-C (`Terminated`): output folders being
    written are removed, workers are stopped, the command says how to continue."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def ignore_interrupts() -> None:
    """For worker processes: Ctrl-C in a terminal reaches every process of the group; the parent
    stops the workers itself, so they ignore it (and print no tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
