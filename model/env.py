"""PettingZoo `ParallelEnv` over `LocalMarketModel`: both market stages, both sub-agent roles.

    from model.env import parallel_env
    env = parallel_env(scenario="one-arb", weeks="train")
    obs, infos = env.reset(seed=0)

Agents: `primary_<id>` (LEM withholding) and `secondary_<id>` (LFM up/down prices) for every
aggregator id of the scenario (2..11 by default).

Design (the conformance test forbids agents that leave `env.agents` and come back, so the roles
cannot take turns by entering and leaving it):

- One env step is one market *stage*; one market hour is two steps: "lem", then "lfm".
  An episode is one week: 168 hours = 336 steps; then every agent is truncated (time limit).
- All agents are live on every step. Only the stage's role acts: primaries in "lem", secondaries
  in "lfm"; the other role's actions are ignored and may be left out. The last observation
  feature, `acting`, is 1.0 for the role whose action counts next, 0.0 for the other (also in
  `infos[agent]["acting"]`), so the game stays Markov for a learner that only sees observations.
- Observations (float32, raw units, as `agents.brains` OBS1/OBS2 plus `acting`):
  primary `PRIMARY_OBS`, secondary `SECONDARY_OBS`. A role that is not acting keeps its last
  observation; before the first LFM stage of an episode the secondaries see zeros.
- Actions: primary Box(0, 1, (1,)) withholding fraction; secondary Box(0, flex_price_max, (2,))
  up and down prices in €/MWh. The model clips actions to these bounds.
- Rewards, when they become known: on the "lem" step each primary gets r1 (eq. 21: it is final
  once the LEM clears); on the "lfm" step each secondary gets r2 and each primary gets
  r_primary - r1 (r2 if its aggregator arbitrages, 0 if stand-alone). So a primary's rewards of an
  hour add up to the model's `HourResult.r_primary` (eq. 25), a secondary's to `r2`.

One code path: each hour is cleared by the model's own stages, driven by a brain that plays the
actions the env received: the "lem" step runs `LocalMarketModel.begin_hour()` (the LEM stage, which gives
the secondaries their stage-2 observation), the "lfm" step runs `model.step()`, which finishes
that pending hour (LFM, balancing, data collection, Mesa's clock).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from agents.brains import OBS1, OBS2
from model import dataset
from model.markets import settlement
from model.model import LocalMarketModel

PRIMARY_OBS = (*OBS1, "acting")
SECONDARY_OBS = (*OBS2, "acting")
STAGES = ("lem", "lfm")
ROLES = ("primary", "secondary")


class _EnvBrain:
    """Plays the actions the env received, for every aggregator (rows index the model's aggregators)."""

    name = "env"

    def __init__(self, n: int):
        self.withhold = np.zeros(n)
        self.flex_eur_mwh = np.zeros((n, 2))

    def act_lem(self, obs, rows):
        return self.withhold[rows]

    def act_lfm(self, obs, rows):
        return self.flex_eur_mwh[rows]


class LocalMarketParallelEnv(ParallelEnv):
    """See the module docstring. `weeks`: a week spec (`train`, `test`, `test:1`, `week:12`, ...);
    each episode draws one of its weeks at random (the paper: a random training week).
    Other keyword arguments go to `LocalMarketModel` (location_swap, arbitrage, export_spread_factor, ...)."""

    metadata = {"name": "localmarl_v0", "render_modes": [], "is_parallelizable": True}

    def __init__(self, scenario="s-a", weeks: str = "train", collect: bool = False, **model_kwargs):
        bad = set(model_kwargs) & {"week", "seed", "policy", "rng"}
        if bad:
            raise ValueError(
                f"parallel_env: {sorted(bad)} are set by the env (weeks=..., reset(seed=...), the agents' actions); remove them"
            )
        self.week_pool = tuple(dataset.resolve_week(weeks))
        self._model_kwargs = dict(scenario=scenario, collect=collect, **model_kwargs)
        # a model for the spaces (and to check the arguments now); reset() builds the episode's own
        self.model = self._new_model(self.week_pool[0], seed=0)
        ids = [a.aggregator_id for a in self.model.aggregators]
        self._role_agents = {role: [f"{role}_{i}" for i in ids] for role in ROLES}
        self.possible_agents = [*self._role_agents["primary"], *self._role_agents["secondary"]]
        self.agents: list[str] = []
        self._row = {f"{role}_{i}": k for role in ROLES for k, i in enumerate(ids)}
        self._observation_spaces, self._action_spaces = self._make_spaces()
        self._rng: np.random.Generator | None = None
        self.stage = "lem"

    def _new_model(self, week: int, seed: int) -> LocalMarketModel:
        model = LocalMarketModel(week=int(week), seed=seed, policy="truthful", **self._model_kwargs)
        self._brain = _EnvBrain(len(model.aggregators))
        model.set_brain(self._brain)
        return model

    def _make_spaces(self):
        m, sc = self.model, self.model.scenario
        # generous finite bounds for powers: twice the aggregator's nameplate plus peak load
        bound_mw = 2.0 * (m.nameplate_mw + np.array([p.load_peak_mw for p in sc.portfolios]))
        inf, hmax = np.inf, dataset.HOURS_PER_WEEK - 1
        obs, act = {}, {}
        for agent, k in self._row.items():
            b = bound_mw[k]
            if agent.startswith("primary"):
                low, high = [0, -b, -inf, -inf, 0], [hmax, b, inf, inf, 1]
                act[agent] = spaces.Box(0.0, 1.0, (1,), np.float32)
            else:
                low, high = [0, -b, 0, 0, -inf, -inf, 0], [hmax, b, b, b, inf, inf, 1]
                act[agent] = spaces.Box(0.0, sc.market.flex_price_max_eur_mwh, (2,), np.float32)
            obs[agent] = spaces.Box(np.array(low, np.float32), np.array(high, np.float32), dtype=np.float32)
        return obs, act

    def observation_space(self, agent):
        return self._observation_spaces[agent]

    def action_space(self, agent):
        return self._action_spaces[agent]

    # --- episode -------------------------------------------------------------------------
    def reset(self, seed=None, options=None):
        """Start a week. `seed` seeds the week draw and the model; `options={"week": spec}` fixes the week."""
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        pool = self.week_pool
        if options and "week" in options:
            pool = tuple(dataset.resolve_week(options["week"]))
        week = pool[int(self._rng.integers(len(pool)))]
        self.model = self._new_model(week, seed=int(self._rng.integers(2**31 - 1)))
        self.agents = list(self.possible_agents)
        self.stage = "lem"
        self._obs = {a: np.zeros(self._observation_spaces[a].shape, np.float32) for a in self.possible_agents}
        self._show_lem_observation()
        return self._observations(), self._infos()

    def step(self, actions):
        if not self.agents:
            raise RuntimeError("the episode is over (the week has ended); call reset()")
        rewards = dict.fromkeys(self.agents, 0.0)
        if self.stage == "lem":
            self._brain.withhold[:] = self._take(actions, "primary", (1,))[:, 0]
            r1 = self._clear_lem()
            for k, agent in enumerate(self._role_agents["primary"]):
                rewards[agent] = float(r1[k])
            self.stage = "lfm"
            self._set_acting("secondary")
            truncated = False
        else:
            self._brain.flex_eur_mwh[:] = self._take(actions, "secondary", (2,))
            self.model.step()
            h = self.model.hour_result
            for k, (p, s) in enumerate(zip(self._role_agents["primary"], self._role_agents["secondary"])):
                rewards[p] = float(h.r_primary[k] - h.r1[k])
                rewards[s] = float(h.r2[k])
            self.stage = "lem"
            truncated = not self.model.running
            if truncated:
                self._set_acting(None)
            else:
                self._show_lem_observation()
        infos = self._infos()
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, truncated)
        obs = self._observations()
        if truncated:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    # --- helpers -------------------------------------------------------------------------
    def _take(self, actions, role, shape) -> np.ndarray:
        agents = self._role_agents[role]
        missing = [a for a in agents if a not in actions]
        if missing:
            raise KeyError(f"stage '{self.stage}' needs an action for every {role} agent; missing {missing}")
        return np.stack([np.asarray(actions[a], dtype=float).reshape(shape) for a in agents])

    def _set_acting(self, role):
        for agent, ob in self._obs.items():
            ob[-1] = 1.0 if role is not None and agent.startswith(role) else 0.0

    def _show_lem_observation(self):
        m = self.model
        obs_lem = m.observe_lem(m.hour_inputs())
        for k, agent in enumerate(self._role_agents["primary"]):
            self._obs[agent] = np.append(obs_lem[k], 1.0).astype(np.float32)
        self._set_acting("primary")

    def _clear_lem(self) -> np.ndarray:
        """Run the model's LEM stage of this hour; show the secondaries their stage-2 observation
        and return the primaries' r1 (final once the LEM has cleared)."""
        h = self.model.begin_hour()
        for k, agent in enumerate(self._role_agents["secondary"]):
            self._obs[agent] = np.append(h.obs_lfm[k], 1.0).astype(np.float32)
        return settlement.first_stage_reward(h.ref_cost_eur, h.lem_cost_eur)

    def _observations(self):
        return {a: o.copy() for a, o in self._obs.items()}  # copies: the env updates its own in place

    def _infos(self):
        m = self.model
        return {
            a: {"stage": self.stage, "acting": bool(self._obs[a][-1]), "week": int(m.week), "hour_of_week": int(m.hour_of_week)}
            for a in self.agents
        }

    def close(self):
        pass


def parallel_env(**kwargs) -> LocalMarketParallelEnv:
    """The localmarl market as a PettingZoo ParallelEnv (keyword arguments: see LocalMarketParallelEnv)."""
    return LocalMarketParallelEnv(**kwargs)
