"""`localmarl bench --scenario p2p-mmr --json` (and `stackelberg`): how fast a household design runs
and learns, measured side by side in one run. The design's bench plug-in (`runs.benches.p2p`,
`runs.benches.stackelberg`) names the population it measures and its day's optimisation.

- env: the model's hours (devices, the market, observations) with the default learner acting for
  every participant (one vectorised forward per cluster and hour), exploring, no learning;
- training: the same with learning at the design's default hyperparameters (storing every hour as training does,
  with its counterfactual variants where the hyperparameters ask for them, the updates at the end of each day);
- reference: what a researcher writes first: a plain MADDPG in torch, one actor and one critic per
  participant (`torch.nn.Sequential`), called one by one to act every hour and updated one by one
  at the end of each day, on the same model hours;
- scaling: the env's time per hour as the population grows to 3,000 households;
- the design's day optimisation (P2P: the centralised optimum of a day; Stackelberg: every
  follower's best response to a day of retail prices, one LP each);
- with `--device cpu,cuda`: env and training on the first device, then training on each device side
  by side at the scenario's population and at 3,000 households (`devices_side_by_side`).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

import numpy as np

DAYS, WARMUP_DAYS, REFERENCE_DAYS = 6, 1, 1


def _model(scenario, n: int | None = None):
    """The bench's model: `n` households (default the scenario's)."""
    from model.model import MarketModel

    return MarketModel(scenario=scenario, week="train:1", policy="rule", collect=False, seed=0,
                       **({} if n is None else {"n_households": n}))


def _play(model, learner, days: int, learn: bool) -> tuple[int, float, float]:
    """(hours, wall s, learning s) of `days` training days (first `WARMUP_DAYS` not timed); learning stores each hour
    as training does (`store_hour`: with the counterfactual variants the hyperparameters ask for)."""
    from runs.training import store_hour

    design, pool = model.design, model.design.training_episodes()
    rng = np.random.default_rng(0)
    hours = 0
    wall = learn_s = 0.0
    for day in range(WARMUP_DAYS + days):
        t0 = time.perf_counter()
        model.reset_episode(*design.episode_start(int(rng.choice(pool))))
        if learn:
            learner.begin_episode()
        while model.running:
            model.step()
            if learn:
                store_hour(learner, model, model.hour_result, last=not model.running)
        t1 = time.perf_counter()
        if learn:
            learner.end_episode()
        t2 = time.perf_counter()
        if day >= WARMUP_DAYS:
            hours += design.episode_hours
            wall += t2 - t0
            learn_s += t2 - t1
    return hours, wall, learn_s


def env_and_training(scenario, hp, n: int | None = None, config: dict | None = None, device: str = "cpu") -> dict:
    model = _model(scenario, n)
    learner = model.design.default_learner(hp, 0, device, config)
    model.set_policy(learner)
    learner.explore = True
    n = model.design.n
    hours, wall, _ = _play(model, learner, DAYS, learn=False)
    env_rate = hours * n / wall
    hours, wall, learn_s = _play(model, learner, DAYS, learn=True)
    return {"households": n, "env_household_hours_per_s": round(env_rate), "training_household_hours_per_s": round(hours * n / wall),
            "training_learning_share": round(learn_s / wall, 3), "learner": learner.kind,
            "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}


class _NaivePolicy:
    """One torch actor and critic per participant of every acting stage, called one by one (the reference)."""

    name = "naive-maddpg"

    def __init__(self, design, hidden):
        import torch

        self.torch = torch
        mlp = lambda i, o: torch.nn.Sequential(torch.nn.Linear(i, hidden[0]), torch.nn.ReLU(),  # noqa: E731
                                               torch.nn.Linear(hidden[0], hidden[1]), torch.nn.ReLU(),
                                               torch.nn.Linear(hidden[1], o))
        self.stages = design.acting_stages()
        self.actors, self.critics, self.opts = {}, {}, {}
        for st in self.stages:
            n, obs_dim, act_dim = len(design.population(st.role)), len(st.observation), st.action.dim
            self.actors[st.name] = [mlp(obs_dim, act_dim) for _ in range(n)]
            self.critics[st.name] = [mlp(obs_dim + act_dim + len(st.collective), 1) for _ in range(n)]
            self.opts[st.name] = [(torch.optim.Adam(a.parameters(), 1e-3), torch.optim.Adam(c.parameters(), 1e-3))
                                  for a, c in zip(self.actors[st.name], self.critics[st.name])]
        self.memory: dict[str, list] = {}

    def act(self, stage, obs, rows):
        torch = self.torch
        x = torch.as_tensor(obs, dtype=torch.float32)
        with torch.no_grad():
            out = [torch.sigmoid(self.actors[stage][i](x[k])) for k, i in enumerate(rows)]  # one at a time
        return torch.stack(out).numpy().astype(float)

    def remember(self, hour):
        for st in self.stages:
            record = hour.records[st.name]
            act = getattr(record, "executed_actions", None)
            act = hour.actions[st.name] if act is None else act
            info = getattr(record, "collective", np.zeros(0))
            self.memory.setdefault(st.name, []).append((hour.observations[st.name], act, info, hour.rewards[st.role]))

    def update(self, batch: int = 64):
        torch = self.torch
        for st in self.stages:
            mem = self.memory[st.name]
            obs, act, info, rew = (torch.as_tensor(np.stack([m[j] for m in mem]), dtype=torch.float32) for j in range(4))
            info = info.reshape(len(mem), -1)
            idx = torch.randint(0, len(mem), (batch,))
            for i, (actor, critic) in enumerate(zip(self.actors[st.name], self.critics[st.name])):  # one at a time
                actor_opt, critic_opt = self.opts[st.name][i]
                q = critic(torch.cat([obs[idx, i], act[idx, i], info[idx]], -1))[:, 0]
                loss = torch.nn.functional.mse_loss(q, rew[idx, i])
                critic_opt.zero_grad()
                loss.backward()
                critic_opt.step()
                a = torch.sigmoid(actor(obs[idx, i]))
                actor_loss = -critic(torch.cat([obs[idx, i], a, info[idx]], -1)).mean()
                actor_opt.zero_grad()
                actor_loss.backward()
                actor_opt.step()


def reference(scenario, hp, n: int | None = None) -> dict:
    model = _model(scenario, n)
    design = model.design
    naive = _NaivePolicy(design, hp.hidden_sizes)
    model.set_policy(naive)
    pool, rng = design.training_episodes(), np.random.default_rng(0)
    hours, wall = 0, 0.0
    for day in range(WARMUP_DAYS + REFERENCE_DAYS):
        t0 = time.perf_counter()
        model.reset_episode(*design.episode_start(int(rng.choice(pool))))
        naive.memory = {}
        while model.running:
            model.step()
            naive.remember(model.hour_result)
        for _ in range(hp.updates_per_episode):
            naive.update()
        if day >= WARMUP_DAYS:
            hours += design.episode_hours
            wall += time.perf_counter() - t0
    return {"reference_household_hours_per_s": round(hours * design.n / wall),
            "reference": "plain torch MADDPG: one actor and critic per participant (nn.Sequential), acting and updated "
                         "one by one, the same model hours and updates per day"}


def scaling(scenario, hp, sizes=(300, 1000, 3000), config: dict | None = None) -> dict:
    """The env's ms per hour at each population size (median of 3 days each), how the time grows
    from the first size to 3,000 against linear growth (1.0 = linear), and the seconds to build the
    model at each size (the households' year drawn from the data, the markets, the agents)."""
    out, build_s = {}, {}
    for n in sizes:
        t0 = time.perf_counter()
        model = _model(scenario, n)
        build_s[n] = time.perf_counter() - t0
        learner = model.design.default_learner(hp, 0, "cpu", config)
        model.set_policy(learner)
        learner.explore = True
        times = []
        for day in range(4):
            model.reset_episode(*model.design.episode_start(int(model.design.training_episodes()[day])))
            t0 = time.perf_counter()
            while model.running:
                model.step()
            times.append((time.perf_counter() - t0) / model.design.episode_hours * 1e3)
        out[n] = statistics.median(times[1:])
    first = sizes[0]
    return {"ms_per_hour_by_households": {str(n): round(v, 3) for n, v in out.items()},
            "time_growth_vs_linear_3000": round(out[3000] / out[first] / (3000 / first), 3),
            "model_build_s_by_households": {str(n): round(v, 2) for n, v in build_s.items()}}


def devices_side_by_side(scenario, hp, devices: list[str], sizes: tuple[int, ...], config: dict | None = None,
                         rounds: int = 3) -> dict:
    """`--device cpu,cuda`: training household-hours per second on each device at each population size,
    alternating devices within each of `rounds` rounds (medians printed), and each device's ratio to the first."""
    out = {}
    for n in sizes:
        rates: dict[str, list[float]] = {d: [] for d in devices}
        for _ in range(rounds):
            for d in devices:
                rates[d].append(env_and_training(scenario, hp, n, config, d)["training_household_hours_per_s"])
        for d in devices:
            out[f"{d}_training_household_hours_per_s_{n}"] = round(statistics.median(rates[d]))
            out[f"{d}_training_household_hours_per_s_{n}_rounds"] = rates[d]
        for d in devices[1:]:
            out[f"{d}_over_{devices[0]}_{n}"] = round(statistics.median(rates[d]) / statistics.median(rates[devices[0]]), 3)
    return out


def bench(args, n: int | None = None, sizes=(300, 1000, 3000), day_optimisation=None) -> dict:
    """The household designs' bench at `n` households (default the scenario's); `day_optimisation`:
    the design's (scenario) -> dict of its day's optimisation time."""
    import torch

    from runs.training import design_hyperparams

    torch.set_num_threads(1)
    hp = design_hyperparams(args.scenario, args.set)
    config = getattr(args, "learner_settings", None) or {}  # `--learner-config`, read by the design
    from runs.train import device_label

    devices = getattr(args, "devices", None) or ["cpu"]
    t0 = time.perf_counter()
    result = {"scenario": args.scenario, **env_and_training(args.scenario, hp, n, config, devices[0])}
    print(f"bench: env and training measured ({time.perf_counter() - t0:.0f} s); reference ...", file=sys.stderr)
    result |= reference(args.scenario, hp, n)
    result["speedup"] = round(result["training_household_hours_per_s"] / result["reference_household_hours_per_s"], 1)
    print("bench: scaling ...", file=sys.stderr)
    result |= scaling(args.scenario, hp, sizes, config)
    if day_optimisation is not None:
        result |= day_optimisation(args.scenario)
    if len(devices) > 1:
        print(f"bench: training on {', '.join(devices)} side by side ...", file=sys.stderr)
        result |= devices_side_by_side(args.scenario, hp, devices, (result["households"], sizes[-1]), config)
    result |= {"learner_config": config, "torch_threads": torch.get_num_threads(),
               "device": ", ".join(device_label(d) for d in devices), "days_timed": DAYS,
               "note": "untrained, exploring policy; household-hours = households x simulated hours"}
    return result
