"""PettingZoo `ParallelEnv` over `MarketModel`, for any market design.

    from model.env import parallel_env
    env = parallel_env(scenario="one-arb", weeks="train")
    obs, infos = env.reset(seed=0)

Agents: `<role>_<participant id>` for every acting role of the design and every participant that
plays it (arbitrage: `primary_2` .. `primary_11` (LEM withholding), `secondary_2` ..
`secondary_11` (LFM up/down prices)), in stage order.

Design (the conformance test forbids agents that leave `env.agents` and come back, so the roles
cannot take turns by entering and leaving it):

- One env step is one *acting* stage of the design (stages in which nobody acts, such as the
  arbitrage design's balancing settlement, run right after the acting stage before them). An
  episode is one of the design's episodes (arbitrage: a week, 168 hours = 336 steps); then every
  agent is truncated (time limit).
- All agents are live on every step. Only the stage's role acts; the other roles' actions are
  ignored and may be left out. The last observation feature, `acting`, is 1.0 for the role whose
  action counts next, 0.0 for the others (also in `infos[agent]["acting"]`), so the game stays
  Markov for a learner that only sees observations.
- Observations: float32, raw units: the stage's features (the design's `Stage.observation`) plus
  `acting`. A role that is not acting keeps its last observation; before its first stage of an
  episode it sees zeros.
- Actions: `Box(low, high)` of the stage's `ActionSpec`; the model clips actions to these bounds.
- Rewards, when they become known: after each step, every agent gets what the design's stages
  paid its role since the last step (arbitrage: on the "lem" step each primary gets r1, on the
  "lfm" step each secondary r2 and each primary r_primary - r1). So an agent's rewards of an hour
  add up to what the model's `hour.rewards` holds for its role.

One code path: each hour is cleared by the model's own stages, driven by a policy that plays the
actions the env received (`MarketModel.clear_until` for all acting stages but the last,
`model.step()` for the last one, which also records the hour and moves Mesa's clock).
"""

from __future__ import annotations

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from model import dataset
from model.design import get_design
from model.model import MarketModel
from model.scenario import load


class _EnvPolicy:
    """Plays the actions the env received, for every participant (rows index the role's population)."""

    name = "env"

    def __init__(self):
        self.actions: dict[str, np.ndarray] = {}

    def act(self, stage, obs, rows):
        return self.actions[stage][rows]


class MarketParallelEnv(ParallelEnv):
    """See the module docstring. `weeks`: a week spec (`train`, `test`, `test:1`, `week:12`, ...);
    each episode draws one of the design's episodes in those weeks at random (arbitrage: a week,
    as in the paper). Other keyword arguments go to `MarketModel` (its scenario overrides)."""

    metadata = {"name": "localmarl_v1", "render_modes": [], "is_parallelizable": True}

    def __init__(self, scenario="s-a", weeks: str = "train", collect: bool = False, **model_kwargs):
        bad = set(model_kwargs) & {"week", "seed", "policy", "rng"}
        if bad:
            raise ValueError(
                f"parallel_env: {sorted(bad)} are set by the env (weeks=..., reset(seed=...), the agents' actions); remove them"
            )
        self.scenario = load(scenario)
        self.week_pool = tuple(dataset.resolve_week(weeks))
        self._model_kwargs = dict(scenario=self.scenario, collect=collect, **model_kwargs)
        # a model for the spaces (and to check the arguments now); reset() builds the episode's own
        self.model = self._new_model(self.week_pool[0], 0, seed=0)
        design = self.model.design
        self.stages = design.acting_stages()
        self._role_agents = {
            s.role: [f"{s.role}_{getattr(p, 'participant_id', i)}" for i, p in enumerate(design.population(s.role))]
            for s in self.stages
        }
        self.possible_agents = [a for s in self.stages for a in self._role_agents[s.role]]
        self.agents: list[str] = []
        self._role_of = {a: role for role, agents in self._role_agents.items() for a in agents}
        self._observation_spaces, self._action_spaces = self._make_spaces()
        self._rng: np.random.Generator | None = None
        self._k = 0  # the acting stage that acts next

    def _new_model(self, week: int, first_hour: int, seed: int) -> MarketModel:
        default = get_design(self.scenario.design).policies[0]
        model = MarketModel(week=int(week), seed=seed, policy=default, **self._model_kwargs)
        if model.design.episode_hours < dataset.HOURS_PER_WEEK:
            model.reset_episode(int(week), first_hour)
        self._policy = _EnvPolicy()
        model.set_policy(self._policy)
        return model

    def _make_spaces(self):
        design = self.model.design
        obs, act = {}, {}
        for stage in self.stages:
            low, high = design.observation_bounds(stage)  # (n, k) each
            a = stage.action
            for k, agent in enumerate(self._role_agents[stage.role]):
                obs[agent] = spaces.Box(np.append(low[k], 0.0).astype(np.float32), np.append(high[k], 1.0).astype(np.float32),
                                        dtype=np.float32)
                act[agent] = spaces.Box(np.array(a.low, np.float32), np.array(a.high, np.float32), dtype=np.float32)
        return obs, act

    def observation_space(self, agent):
        return self._observation_spaces[agent]

    def action_space(self, agent):
        return self._action_spaces[agent]

    @property
    def stage(self) -> str:
        """The name of the stage whose role acts next."""
        return self.stages[self._k].name

    # --- episode -------------------------------------------------------------------------
    def reset(self, seed=None, options=None):
        """Start an episode. `seed` seeds the draw and the model; `options={"week": spec}` fixes the week."""
        if seed is not None or self._rng is None:
            self._rng = np.random.default_rng(seed)
        weeks = self.week_pool
        if options and "week" in options:
            weeks = tuple(dataset.resolve_week(options["week"]))
        design = self.model.design
        pool = [(w, first) for w in weeks for first, _ in design.episodes_of_week(w)]
        week, first = pool[int(self._rng.integers(len(pool)))]
        self.model = self._new_model(week, first, seed=int(self._rng.integers(2**31 - 1)))
        self.stages = self.model.design.acting_stages()  # the new model's: its stages observe its own state
        self.agents = list(self.possible_agents)
        self._k = 0
        self._given = {}  # rewards given so far this hour, per role
        self._obs = {a: np.zeros(self._observation_spaces[a].shape, np.float32) for a in self.possible_agents}
        self._show(self.model.begin_hour())
        return self._observations(), self._infos()

    def step(self, actions):
        if not self.agents:
            raise RuntimeError("the episode is over; call reset()")
        stage = self.stages[self._k]
        self._policy.actions[stage.name] = self._take(actions, stage)
        last = self._k == len(self.stages) - 1
        if last:
            self.model.step()  # finishes the hour: this stage, the settlements after it, the record, Mesa's clock
            hour = self.model.hour_result
        else:
            hour = self.model.clear_until(self.stages[self._k + 1].name, inclusive=False)
        rewards = self._rewards(hour)
        self._k = 0 if last else self._k + 1
        truncated = last and not self.model.running
        if truncated:
            self._set_acting(None)
        else:
            self._show(self.model.begin_hour() if last else hour)
        infos = self._infos()
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, truncated)
        obs = self._observations()
        if truncated:
            self.agents = []
        return obs, rewards, terminations, truncations, infos

    # --- helpers -------------------------------------------------------------------------
    def _take(self, actions, stage) -> np.ndarray:
        agents = self._role_agents[stage.role]
        missing = [a for a in agents if a not in actions]
        if missing:
            raise KeyError(f"stage '{stage.name}' needs an action for every {stage.role} agent; missing {missing}")
        return np.stack([np.asarray(actions[a], dtype=float).reshape(stage.action.dim) for a in agents])

    def _rewards(self, hour) -> dict[str, float]:
        """What each role was paid since the last step (the hour's rewards known now, minus given)."""
        out = dict.fromkeys(self.agents, 0.0)
        for role, known in hour.rewards.items():
            if role not in self._role_agents:
                continue
            given = self._given.get(role)
            delta = known if given is None else known - given
            for k, agent in enumerate(self._role_agents[role]):
                out[agent] = float(delta[k])
            self._given[role] = known
        if self._k == len(self.stages) - 1:
            self._given = {}
        return out

    def _set_acting(self, role):
        for agent, ob in self._obs.items():
            ob[-1] = 1.0 if role is not None and self._role_of[agent] == role else 0.0

    def _show(self, hour):
        """Show the acting stage's role its observation of `hour` (cleared up to that stage)."""
        stage = self.stages[self._k]
        obs = stage.observe(hour)
        for k, agent in enumerate(self._role_agents[stage.role]):
            self._obs[agent] = np.append(obs[k], 1.0).astype(np.float32)
        self._set_acting(stage.role)

    def _observations(self):
        return {a: o.copy() for a, o in self._obs.items()}  # copies: the env updates its own in place

    def _infos(self):
        m = self.model
        return {a: {"stage": self.stage, "acting": bool(self._obs[a][-1]), "week": int(m.week),
                    "hour_of_week": int(m.hour_of_week)} for a in self.agents}

    def close(self):
        pass


#: The name the arbitrage-only versions used; the same class.
LocalMarketParallelEnv = MarketParallelEnv


def parallel_env(**kwargs) -> MarketParallelEnv:
    """The localmarl market as a PettingZoo ParallelEnv (keyword arguments: see MarketParallelEnv)."""
    return MarketParallelEnv(**kwargs)
