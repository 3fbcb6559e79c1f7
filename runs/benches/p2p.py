"""`localmarl bench --scenario p2p-mmr --json`: how fast the P2P design runs and learns, measured
side by side in one run.

- env: the model's hours (devices, platform, observations) with the default learner acting for
  every household (one vectorised forward per cluster and hour), exploring, no learning;
- training: the same with learning at the design's default hyperparameters (storing every hour,
  the updates at the end of each day);
- reference: what a researcher writes first: a plain MADDPG in torch, one actor and one critic per
  household (`torch.nn.Sequential`), called one by one to act every hour and updated one by one
  at the end of each day, on the same model hours;
- scaling: the env's time per hour at 300, 1,000 and 3,000 households;
- the centralised perfect-foresight optimum of one 300-household day (`model.markets.p2p_optimum`).
"""

from __future__ import annotations

import resource
import statistics
import sys
import time

import numpy as np

DAYS, WARMUP_DAYS, REFERENCE_DAYS = 6, 1, 1


def _model(scenario, n: int | None = None):
    from model.model import MarketModel

    return MarketModel(scenario=scenario, week="train:1", policy="rule", collect=False, seed=0,
                       **({} if n is None else {"n_households": n}))


def _play(model, learner, days: int, learn: bool) -> tuple[int, float, float]:
    """(hours, wall s, learning s) of `days` training days (first `WARMUP_DAYS` not timed)."""
    design, pool = model.design, model.design.training_episodes()
    rng = np.random.default_rng(0)
    hours = 0
    wall = learn_s = 0.0
    for day in range(WARMUP_DAYS + days):
        t0 = time.perf_counter()
        model.reset_episode(*design.episode_start(int(rng.choice(pool))))
        while model.running:
            model.step()
            if learn:
                learner.remember(model.hour_result, last=not model.running)
        t1 = time.perf_counter()
        if learn:
            learner.end_episode()
        t2 = time.perf_counter()
        if day >= WARMUP_DAYS:
            hours += design.episode_hours
            wall += t2 - t0
            learn_s += t2 - t1
    return hours, wall, learn_s


def env_and_training(scenario, hp) -> dict:
    model = _model(scenario)
    learner = model.design.default_learner(hp, 0, "cpu")
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
    """One torch actor per household, called one by one (the reference)."""

    name = "naive-maddpg"

    def __init__(self, n, obs_dim, act_dim, hidden, design):
        import torch

        self.torch = torch
        mlp = lambda i, o: torch.nn.Sequential(torch.nn.Linear(i, hidden[0]), torch.nn.ReLU(),  # noqa: E731
                                               torch.nn.Linear(hidden[0], hidden[1]), torch.nn.ReLU(),
                                               torch.nn.Linear(hidden[1], o))
        self.actors = [mlp(obs_dim, act_dim) for _ in range(n)]
        self.critics = [mlp(obs_dim + act_dim + len(design.stages[0].collective), 1) for _ in range(n)]
        self.actor_opt = [torch.optim.Adam(a.parameters(), 1e-3) for a in self.actors]
        self.critic_opt = [torch.optim.Adam(c.parameters(), 1e-3) for c in self.critics]
        self.memory: list = []

    def act(self, stage, obs, rows):
        torch = self.torch
        x = torch.as_tensor(obs, dtype=torch.float32)
        with torch.no_grad():
            out = [torch.sigmoid(self.actors[i](x[k])) for k, i in enumerate(rows)]  # one household at a time
        return torch.stack(out).numpy().astype(float)

    def update(self, batch: int = 64):
        torch = self.torch
        obs = torch.as_tensor(np.stack([m[0] for m in self.memory]), dtype=torch.float32)  # (T, n, obs)
        act = torch.as_tensor(np.stack([m[1] for m in self.memory]), dtype=torch.float32)
        info = torch.as_tensor(np.stack([m[2] for m in self.memory]), dtype=torch.float32)
        rew = torch.as_tensor(np.stack([m[3] for m in self.memory]), dtype=torch.float32)
        idx = torch.randint(0, len(self.memory), (batch,))
        for i in range(len(self.actors)):  # one household at a time
            q = self.critics[i](torch.cat([obs[idx, i], act[idx, i], info[idx]], -1))[:, 0]
            loss = torch.nn.functional.mse_loss(q, rew[idx, i])
            self.critic_opt[i].zero_grad()
            loss.backward()
            self.critic_opt[i].step()
            a = torch.sigmoid(self.actors[i](obs[idx, i]))
            actor_loss = -self.critics[i](torch.cat([obs[idx, i], a, info[idx]], -1)).mean()
            self.actor_opt[i].zero_grad()
            actor_loss.backward()
            self.actor_opt[i].step()


def reference(scenario, hp) -> dict:
    model = _model(scenario)
    design = model.design
    naive = _NaivePolicy(design.n, len(design.stages[0].observation), 3, hp.hidden_sizes, design)
    model.set_policy(naive)
    pool, rng = design.training_episodes(), np.random.default_rng(0)
    hours, wall = 0, 0.0
    for day in range(WARMUP_DAYS + REFERENCE_DAYS):
        t0 = time.perf_counter()
        model.reset_episode(*design.episode_start(int(rng.choice(pool))))
        naive.memory = []
        while model.running:
            model.step()
            h = model.hour_result
            naive.memory.append((h.observations["p2p"], h.p2p.executed_actions, h.p2p.collective, h.rewards["household"]))
        for _ in range(hp.updates_per_episode):
            naive.update()
        if day >= WARMUP_DAYS:
            hours += design.episode_hours
            wall += time.perf_counter() - t0
    return {"reference_household_hours_per_s": round(hours * design.n / wall),
            "reference": "plain torch MADDPG: one actor and critic per household (nn.Sequential), acting and updated one "
                         "by one, the same model hours and updates per day"}


def scaling(scenario, hp) -> dict:
    """The env's ms per hour at 300, 1,000 and 3,000 households (median of 3 days each)."""
    out = {}
    for n in (300, 1000, 3000):
        model = _model(scenario, n)
        learner = model.design.default_learner(hp, 0, "cpu")
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
    base = out[300]
    return {"ms_per_hour_by_households": {str(n): round(v, 3) for n, v in out.items()},
            "time_growth_vs_linear_3000": round(out[3000] / base / 10, 3)}


def optimum_day(scenario) -> dict:
    """Seconds to solve the centralised optimum of one 300-household day (median of 3 days)."""
    from model.markets.p2p_optimum import solve_day

    design = _model(scenario).design
    times = []
    for day in design.training_episodes()[:3]:
        params, state, inputs = design.day_problem(int(day))
        t0 = time.perf_counter()
        solve_day(params, state, inputs)
        times.append(time.perf_counter() - t0)
    return {"optimum_day_s": round(statistics.median(times), 3)}


def bench(args) -> dict:
    import torch

    from runs.training import design_hyperparams

    torch.set_num_threads(1)
    hp = design_hyperparams(args.scenario, args.set)
    t0 = time.perf_counter()
    result = {"scenario": args.scenario, **env_and_training(args.scenario, hp)}
    print(f"bench: env and training measured ({time.perf_counter() - t0:.0f} s); reference ...", file=sys.stderr)
    result |= reference(args.scenario, hp)
    result["speedup"] = round(result["training_household_hours_per_s"] / result["reference_household_hours_per_s"], 1)
    print("bench: scaling ...", file=sys.stderr)
    result |= scaling(args.scenario, hp)
    result |= optimum_day(args.scenario)
    result |= {"torch_threads": torch.get_num_threads(), "device": "cpu", "days_timed": DAYS,
               "note": "untrained, exploring policy; household-hours = households x simulated hours"}
    return result
