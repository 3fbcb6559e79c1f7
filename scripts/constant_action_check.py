"""What would one constant action of a device earn the cluster of a trained household run? (docs/p2p.md, "The heat
pumps started at the floor of their bands"). Every household of the cluster that owns DEVICE (battery: pv-battery,
ev: pv-ev, heat_pump: heat-pump) plays ACTION (raw units) for it in the hours of the day HOURS, everything else as
learned, and each week of WEEKS is played whole (seven days, each from its own start states, as the evaluation plays
them) with and without the change. A P2P or Stackelberg run (there: the followers).

Prints, per week, the cluster's reward (EUR per day) as learned and its change, the community's change (every
household), the cluster's comfort violation (K h per day) and the device's energy (kWh per day) before and after;
then the means over the weeks. A positive change is a gain: the learned policy is that far from the constant.

    .venv/bin/python scripts/constant_action_check.py RUN [--device heat_pump] [--action 0] [--hours 0-23]
                                [--weeks test]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from model import dataset  # noqa: E402
from runs.studies.household_checks import PinnedAction  # noqa: E402
from runs.training import load_trained_policy, make_model, week_labels  # noqa: E402

HOURS_PER_DAY = 24
STAGE = {"p2p": ("p2p", "reward"), "stackelberg": ("auction", "follower_reward")}
CLUSTER = {"battery": "pv-battery", "ev": "pv-ev", "heat_pump": "heat-pump"}  # the cluster whose households own it
ENERGY = {"battery": "bat_kw", "ev": "ev_kw", "heat_pump": "hp_kw"}  # the device's power in the hour's step (kW)


def parse_hours(text: str) -> list[int]:
    """"0-6,20-23" -> [0, ..., 6, 20, ..., 23]; a bad range is a named error."""
    hours = []
    for part in text.split(","):
        first, sep, last = part.strip().partition("-")
        try:
            lo, hi = int(first), int(last) if sep else int(first)
        except ValueError:
            raise ValueError(f"--hours {text!r}: write hours of the day 0..23 as ranges, e.g. 0-6,20-23") from None
        if not 0 <= lo <= hi < HOURS_PER_DAY:
            raise ValueError(f"--hours {text!r}: {part.strip()!r} is not a range inside 0..23")
        hours += range(lo, hi + 1)
    return sorted(set(hours))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--device", choices=sorted(CLUSTER), default="heat_pump")
    ap.add_argument("--action", type=float, default=0.0,
                    help="the device's constant action in its raw units (heat pump 0..1: 0 is the band's floor as "
                         "set point, or off; battery -1..1; EV 0..1)")
    ap.add_argument("--hours", default="0-23", help="hours of the day it is played, e.g. 0-6,20-23 (default all)")
    ap.add_argument("--weeks", default="test", help="week specs, comma-separated (default: the 12 test weeks)")
    a = ap.parse_args()
    try:
        hours = parse_hours(a.hours)
        hour_set = set(hours)
        weeks = list(dict.fromkeys(w for spec in a.weeks.split(",") for w in dataset.resolve_week(spec.strip())))
    except ValueError as e:
        sys.exit(f"constant_action_check.py: {e}")
    learner, meta = load_trained_policy(a.run)
    model = make_model(meta["scenario_arg"], learner, meta["seed"])
    if model.scenario.design not in STAGE:
        sys.exit(f"constant_action_check.py: {a.run} is a {model.scenario.design} run; this check plays household "
                 f"designs ({', '.join(STAGE)})")
    stage, field = STAGE[model.scenario.design]
    slot = next((s for s in learner.slots if s.name == CLUSTER[a.device]), None)
    if slot is None:
        sys.exit(f"constant_action_check.py: the run's learner has no {CLUSTER[a.device]} cluster to play the {a.device}")
    rows = np.asarray(slot.rows)
    i = slot.action.names.index(a.device)
    low, high = slot.action.low[i], slot.action.high[i]
    if not low <= a.action <= high:
        sys.exit(f"constant_action_check.py: --action {a.action:g} is outside the {a.device}'s range [{low:g}, {high:g}]")
    column = slot.role.action.names.index(a.device)

    def play(week: int, changed: bool) -> np.ndarray:
        """Per day: the cluster's reward, the community's, the cluster's comfort violation, the device's energy."""
        policy = PinnedAction(learner, stage, rows if changed else [], column, a.action,
                              lambda step: step % HOURS_PER_DAY in hour_set)
        model.set_policy(policy)
        total = np.zeros(4)
        for day in range(7):
            policy.step = 0
            model.reset_episode(week, day * HOURS_PER_DAY, HOURS_PER_DAY)
            while model.running:
                model.step()
                rec = getattr(model.hour_result, stage)
                reward = getattr(rec, field)
                total += [reward[rows].sum(), reward.sum(), rec.step.comfort_violation_kh[rows].sum(),
                          np.abs(getattr(rec.step, ENERGY[a.device])[rows]).sum()]
        return total / 7

    print(f"{a.run}: the {CLUSTER[a.device]} cluster's {len(rows)} households play {a.device} = {a.action:g} in hours "
          f"{a.hours}; EUR, K h and kWh per day")
    label = {w: name for name, w in week_labels(("train", "eval", "test"))}
    out = []
    for week in weeks:
        learned, constant = play(week, False), play(week, True)
        out.append(np.r_[learned, constant])
        print(f"{label.get(week, f'week:{week}'):>8s}: cluster reward {learned[0]:9.2f}  gain {constant[0] - learned[0]:+7.2f}  community gain "
              f"{constant[1] - learned[1]:+7.2f}  comfort {learned[2]:7.1f} -> {constant[2]:7.1f}  {a.device} energy "
              f"{learned[3]:8.1f} -> {constant[3]:8.1f}")
    m = np.mean(out, axis=0)
    better = sum(o[4] > o[0] for o in out)
    print(f"mean over {len(out)} weeks: cluster gain {m[4] - m[0]:+.2f} EUR per day ({(m[4] - m[0]) / len(rows):+.3f} per "
          f"household; higher in {better} of {len(out)} weeks), community gain {m[5] - m[1]:+.2f}, comfort "
          f"{m[2]:.1f} -> {m[6]:.1f} K h per day, {a.device} energy {m[3]:.1f} -> {m[7]:.1f} kWh per day")


if __name__ == "__main__":
    main()
