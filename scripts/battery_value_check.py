"""Does a trained household run's critic value a device's action right? (docs/p2p.md, "The batteries sit at full
discharge"). For the households of a P2P or Stackelberg run's cluster that owns DEVICE (battery: the pv-battery
cluster; heat_pump: the heat-pump cluster), at a day started part-way (an exploring start: random states of charge
and indoor temperatures, `HouseholdDesign.exploring_start`) at HOUR of the week's third day:

  - the truth: each household alone plays DEVICE's action ACTION (battery: 0, hold; heat pump: 0, the floor of its
    band as set point, or off) for the first HOLD hours, everyone else and it afterwards playing the learned policy,
    and the reward it gets to the day's end changes by `true_gain_eur` (discounted at the run's gamma:
    `true_gain_discounted`, in the critic's units: reward_scale x EUR);
  - the critic: its Q of that action less its Q of the learned action, at the household's observation and the hour's
    collective information (`critic_gain`): what the policy gradient follows. With HOLD = 1 the two answer the same
    question, one step of policy improvement; a critic that values the device's action right has them agree in sign.

    .venv/bin/python scripts/battery_value_check.py RUN [--device battery|heat_pump] [--action A] [--week test:8]
                                [--hour 16] [--hold 1] [--households 12] [--soc-sweep]

prints one line per household and the means (with --soc-sweep, batteries only, also the critic's Q along the state of
charge)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import torch  # noqa: E402

from model import dataset  # noqa: E402
from runs.studies.household_checks import PinnedAction  # noqa: E402
from runs.training import load_trained_policy, make_model  # noqa: E402

HOURS_PER_DAY = 24
STAGE = {"p2p": ("p2p", "reward"), "stackelberg": ("auction", "follower_reward")}
CLUSTER = {"battery": "pv-battery", "heat_pump": "heat-pump"}  # the cluster whose households own the device


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--device", choices=sorted(CLUSTER), default="battery")
    ap.add_argument("--action", type=float, default=0.0,
                    help="the device's action the household plays instead of the learned one, in its raw units "
                         "(battery -1..1, 0 holds; heat pump 0..1, 0: the band's floor as set point, or off)")
    ap.add_argument("--week", default="test:8")
    ap.add_argument("--hour", type=int, default=16, help="the start hour of the day (1..23)")
    ap.add_argument("--hold", type=int, default=1, help="hours the household holds its battery")
    ap.add_argument("--households", type=int, default=12, help="the first N households of the device's cluster")
    ap.add_argument("--soc-sweep", action="store_true",
                    help="also the critic's Q along the state of charge (0.1 .. 0.95) for the first household, at "
                         "battery actions -1, 0, +1 and the learned one")
    a = ap.parse_args()
    if not 1 <= a.hour < HOURS_PER_DAY or not 1 <= a.hold <= HOURS_PER_DAY - a.hour:
        sys.exit("battery_value_check.py: --hour must be 1..23 and --hold 1..(24 - hour)")
    if a.soc_sweep and a.device != "battery":
        sys.exit("battery_value_check.py: --soc-sweep sweeps the battery's state of charge; leave it out with --device "
                 f"{a.device}")
    learner, meta = load_trained_policy(a.run)
    model = make_model(meta["scenario_arg"], learner, meta["seed"])
    d = model.design
    stage, field = STAGE[model.scenario.design]
    slot = next(s for s in learner.slots if s.name == CLUSTER[a.device])
    group, members = slot.group, np.asarray(slot.rows)
    column = slot.role.action.names.index(a.device)  # in the executed action; `comp` in the slot's own
    comp = slot.action.names.index(a.device)
    low, high = slot.action.low[comp], slot.action.high[comp]
    if not low <= a.action <= high:
        sys.exit(f"battery_value_check.py: --action {a.action} is outside the {a.device}'s range [{low:g}, {high:g}]")
    unit = (a.action - low) / (high - low)  # the learners act in [0, 1] per component
    gamma, scale = learner.hp.gamma, learner.hp.reward_scale
    week, first = dataset.resolve_week(a.week)[0], 2 * HOURS_PER_DAY + a.hour

    def play(who, seen=None):
        model.set_policy(PinnedAction(learner, stage, [] if who is None else [who], column, a.action,
                                      lambda step: step < a.hold, seen))
        model.reset_episode(week, first, HOURS_PER_DAY - a.hour)
        if a.device == "battery":  # the start state: the state of charge, or the indoor temperature in the band
            start = d.state.bat_energy_kwh / np.maximum(d.params.bat_capacity_kwh, 1e-9)
        else:
            start = (d.state.t_in_c - d.params.hp_t_min_c) / np.maximum(d.params.hp_t_max_c - d.params.hp_t_min_c, 1e-9)
        rewards, info = [], None
        while model.running:
            model.step()
            rec = getattr(model.hour_result, stage)
            rewards.append(getattr(rec, field))
            info = rec.collective if info is None else info  # the first hour's
        return np.array(rewards), start, info

    seen: list = []
    base, start, info = play(None, seen)
    state_name = "soc" if a.device == "battery" else "t_in_in_band"  # 0: the band's floor, 1: its ceiling
    obs = seen[0][0]
    inputs = group.features.member_inputs(obs)  # every member's, in slot row order
    info = info / learner._info_div[slot.role.role]
    discount = gamma ** np.arange(len(base))
    rows = []
    for who in members[:a.households]:
        played, _, _ = play(int(who))
        k = int(np.searchsorted(members, who))
        o = torch.tensor(inputs[k], dtype=torch.float32)
        with torch.no_grad():
            mu = group.act(inputs)[k]
            hold = mu.copy()
            hold[comp] = unit
            x = torch.stack([torch.cat([o, torch.tensor(u, dtype=torch.float32), torch.tensor(info, dtype=torch.float32)])
                             for u in (mu, hold)])[None]
            q = group.critic(x)[0, :, 0].numpy()
        true = played[:, who] - base[:, who]
        learned = low + mu[comp] * (high - low)
        rows.append((int(who), start[who], learned, true.sum(), scale * (discount * true).sum(), q[1] - q[0]))
        print(f"household {who:4d}  {state_name} {start[who]:.2f}  learned action {learned:+.2f}  true_gain_eur {true.sum():+.3f}  "
              f"true_gain_discounted {scale * (discount * true).sum():+.3f}  critic_gain {q[1] - q[0]:+.3f}")
    if a.soc_sweep:
        column = list(group.features.names).index("battery_soc")
        who = int(members[0])
        print(f"household {who} at {a.hour}:00 ({d.params.bat_capacity_kwh[who]:.1f} kWh): the critic's Q at battery "
              "actions -1 / 0 / +1, and the learned action, by state of charge")
        for soc_value in (0.1, 0.3, 0.5, 0.7, 0.95):
            o = obs.copy()
            o[:, column] = soc_value
            x = group.features.member_inputs(o)[0]
            mu = group.act(group.features.member_inputs(o))[0]
            with torch.no_grad():
                q = [float(group.critic(torch.cat([torch.tensor(x, dtype=torch.float32),
                                                   torch.tensor(np.r_[u, mu[1:]], dtype=torch.float32),
                                                   torch.tensor(info, dtype=torch.float32)])[None, None])[0, 0, 0])
                     for u in (0.0, 0.5, 1.0)]
            print(f"  soc {soc_value:.2f}: Q {q[0]:+.3f} / {q[1]:+.3f} / {q[2]:+.3f}   learned {2 * mu[0] - 1:+.2f}")
    r = np.array(rows)
    # the sign is compared where the action changes the household's reward (a heat pump above its set point either way
    # does not run: its true gain is exactly 0 and no sign is right)
    moved = np.abs(r[:, 3]) > 1e-9
    agree = f"{np.mean(np.sign(r[moved, 4]) == np.sign(r[moved, 5])):.0%}" if moved.any() else "-"
    print(f"mean over {len(r)}: true_gain_eur {r[:, 3].mean():+.3f}  true_gain_discounted {r[:, 4].mean():+.3f}  "
          f"critic_gain {r[:, 5].mean():+.3f}  same sign {agree} of the {moved.sum()} whose reward it changes  "
          f"({a.device} at {a.action:g}; {a.week}, day 3 from {a.hour}:00, for {a.hold} h)")


if __name__ == "__main__":
    main()
