"""`MarketModel`: the Mesa model of every market design; one step is one market hour.

The scenario names its design (`model.design`); the design creates the participants (Mesa agents,
each acting through its own policy) and the operators, and declares the hour's stages. One step:

    hour = design.begin_hour()                       the hour's exogenous data
    for each stage of the design, in order:
        the acting role observes; its policies act (one vectorised call per group of participants
        sharing a policy); the actions are checked (a NaN is a named error) and clipped to the
        stage's bounds; the stage's operator clears it with its mechanism; the immutable record
        and the rewards known so far join the hour
    design.end_hour(hour)                            device states advance
    the tidy record and Mesa's DataCollector grow by one hour; time moves on

The same model serves the command line, the Solara app, `mesa.batch_run`, sweeps, training,
evaluation, the PettingZoo env and the benchmarks.
"""

from __future__ import annotations

import os

import mesa
import numpy as np

from model import dataset
from model.design import Hour, MarketDesign, Stage, get_design
from model.record import Recorder
from model.scenario import load


_BLAS_THREADS_SET = False


def limit_blas_threads() -> None:
    """Run BLAS (numpy's matrix products) on one thread in this process, once, unless
    `LOCALMARL_BLAS_THREADS` says otherwise. The models' matrices are small (hundreds of rows): a
    multi-threaded BLAS gains nothing on them and, when the cores are busy (parallel study jobs,
    training), its threads wait on each other: measured 8-12 ms instead of 45 us for one
    (750 x 23) @ (23 x 64) product with 2 threads on a loaded 2-core machine."""
    global _BLAS_THREADS_SET
    if not _BLAS_THREADS_SET:
        from threadpoolctl import threadpool_limits

        threadpool_limits(int(os.environ.get("LOCALMARL_BLAS_THREADS", "1")), user_api="blas")
        _BLAS_THREADS_SET = True


class MarketModel(mesa.Model):
    """A market design's hours, stage by stage.

    Keyword arguments (plain values, so `mesa.batch_run` and the app's controls can drive them):
      scenario: a scenario name (`s-a`, `one-arb`, `all-arb`, ...), a TOML path, or a loaded scenario.
      week: week spec (`test:1`, `train:3`, `eval:1`, `week:12`, `all`) or a 0-based week number.
      policy: a built-in policy name of the design (arbitrage: `truthful`, `random`, `rule`), or a
        policy object acting for every participant.
      seed: seeds the model's random streams (random policies, forecast errors, device start states).
      collect: keep the tidy record and Mesa's DataCollector (off for training speed).
      **overrides: the scenario settings the design lets a run override (`scenario.OVERRIDES`),
        e.g. arbitrage: location_swap="5:9,8:10", arbitrage="all", export_spread_factor=0.8, ...
    """

    def __init__(self, scenario="s-a", week: str | int = "test:1", policy="truthful", seed: int | None = 0,
                 collect: bool = True, rng=None, **overrides):
        super().__init__(rng=seed if rng is None else rng)
        limit_blas_threads()
        self.scenario = load(scenario).with_overrides(**overrides)
        self.seed = seed
        self.np_rng = np.random.default_rng(seed)
        self.collect = collect
        self.design: MarketDesign = get_design(self.scenario.design)(self)
        policy = policy if not isinstance(policy, str) else self.design.make_policy(policy, self.np_rng)
        self.policy_name = getattr(policy, "name", type(policy).__name__)
        self.set_policy(policy)

        self.weeks = dataset.resolve_week(week) if isinstance(week, str) else [int(week)]
        self.week_index = 0
        self.hour_of_week = 0
        self.hours_done = 0
        self._hours_left = len(self.weeks) * dataset.HOURS_PER_WEEK
        self.hour_result: Hour | None = None
        self._pending: tuple[Hour, int] | None = None  # an hour cleared up to stage k (begin/clear_until)
        self._load_week(self.weeks[0])
        self.design.begin_episode()
        self.record = Recorder(self.design.tables(), self.n_hours_total) if collect else None
        self.datacollector = mesa.DataCollector(model_reporters=dict(self.design.model_reporters()))
        self.running = True

    # --- participants and their policies ---------------------------------------------------------
    def set_policy(self, policy, participant_ids=None) -> None:
        """Give `policy` to the listed participants (all by default), e.g. one aggregator's probe. A policy
        with `check_fits` (a learner) is checked against the design's roles first (a named error where
        it was trained on another observation)."""
        fits = getattr(policy, "check_fits", None)
        if fits is not None:
            fits(self.design.role_specs())
        for agent, pid in zip(self.design.participants(), self.design.participant_ids()):
            if participant_ids is None or pid in participant_ids:
                agent.policy = policy
        self._groups = {}
        for stage in self.design.acting_stages():
            groups: dict[int, tuple[object, list[int]]] = {}
            for row, agent in enumerate(self.design.population(stage.role)):
                groups.setdefault(id(agent.policy), (agent.policy, []))[1].append(row)
            self._groups[stage.name] = [(p, np.array(rows)) for p, rows in groups.values()]

    # --- time ------------------------------------------------------------------------------------
    @property
    def n_hours_total(self) -> int:
        return len(self.weeks) * dataset.HOURS_PER_WEEK

    @property
    def week(self) -> int:
        return self.weeks[self.week_index]

    def _load_week(self, week: int) -> None:
        self.design.load_week(int(week))

    def reset_episode(self, week: int, first_hour: int = 0, hours: int | None = None) -> None:
        """Start over at `first_hour` of `week` for `hours` hours (default: the design's episode,
        capped at the week's end); training and evaluation reuse one model this way."""
        self.weeks = [int(week)]
        self.week_index = 0
        self.hour_of_week = int(first_hour)
        self._hours_left = min(self.design.episode_hours if hours is None else int(hours),
                               dataset.HOURS_PER_WEEK - self.hour_of_week)
        self._pending = None
        self._load_week(int(week))
        self.design.begin_episode()
        self.running = True

    def reset_week(self, week: int) -> None:
        """Start over at hour 0 of `week`, for the whole week."""
        self.reset_episode(week, 0, dataset.HOURS_PER_WEEK)

    # --- one stage -------------------------------------------------------------------------------
    def act(self, stage: Stage, obs: np.ndarray) -> np.ndarray:
        """The acting role's actions for `obs`: one call per group sharing a policy, checked, clipped."""
        groups = self._groups[stage.name]
        if len(groups) == 1:  # one policy plays every row: no gather/scatter
            policy, rows = groups[0]
            out = np.asarray(policy.act(stage.name, obs, rows), dtype=float).reshape(len(obs), stage.action.dim)
        else:
            out = np.empty((len(obs), stage.action.dim))
            for policy, rows in groups:
                out[rows] = policy.act(stage.name, obs[rows], rows)
        if not np.isfinite(out).all():
            population = self.design.population(stage.role)
            bad = [getattr(population[i], "participant_id", i) for i in np.nonzero(~np.isfinite(out).all(1))[0]]
            raise ValueError(
                f"{stage.name.upper()} action is NaN/inf for {self.design.participant_label}(s) {bad} (role {stage.role}) "
                f"at week {self.week} hour {self.hour_of_week}; the policy produced non-finite output "
                "(check its network weights / inputs)."
            )
        return stage.action.clip(out)

    def clear_stage(self, hour: Hour, stage: Stage, played: Hour | None = None) -> Hour:
        """`hour` with `stage` cleared: observe, act, clear, pay. With `played` (the same hour as it was
        played), a stage whose observations are those it played on plays its actions again, policy unasked."""
        if stage.role is None:
            hour = hour.with_stage(stage.name, stage.clear(hour, None))
        else:
            obs = stage.observe(hour)
            if played is not None and np.array_equal(obs, played.observations[stage.name]):
                actions = played.actions[stage.name]
            else:
                actions = self.act(stage, obs)
            hour = hour.with_stage(stage.name, stage.clear(hour, actions), obs, actions)
        if stage.pay is not None:
            hour = hour.with_rewards(stage.pay(hour))
        return hour

    def reclear(self, hour: Hour, stage_name: str, actions: np.ndarray, replay_unchanged: bool = False) -> Hour:
        """What `hour` would have been had its role played `actions` (raw, clipped to the stage's bounds as
        `act` clips) in stage `stage_name`: that stage and the later ones cleared again on the same inputs,
        later acting roles asking the policy again (with `replay_unchanged`: those whose observations did not
        change play what they played, e.g. followers who do not see the deviating action; asked again, an
        exploring policy would draw new noise). A counterfactual: time does not move and nothing is
        recorded (the learners' counterfactual samples, `Team.counterfactuals`)."""
        stages = self.design.stages
        k = [s.name for s in stages].index(stage_name)
        stage = stages[k]
        actions = stage.action.clip(np.asarray(actions, dtype=float))
        played = hour if replay_unchanged else None
        hour = hour.with_stage(stage.name, stage.clear(hour, actions), hour.observations[stage.name], actions)
        if stage.pay is not None:
            hour = hour.with_rewards(stage.pay(hour))
        for later in stages[k + 1:]:
            hour = self.clear_stage(hour, later, played)
        return hour

    # --- one hour --------------------------------------------------------------------------------
    def begin_hour(self) -> Hour:
        """The current hour's exogenous inputs, before any stage (does not advance time)."""
        return self.design.begin_hour(self.week, self.hour_of_week)

    def clear_until(self, stage_name: str, inclusive: bool = True) -> Hour:
        """Clear the current hour up to `stage_name` (including it, or not) and keep it pending: the
        next `step()` finishes that hour instead of starting a new one. For drivers that act stage
        by stage, such as the PettingZoo env."""
        hour, k = self._pending or (self.begin_hour(), 0)
        stages = self.design.stages
        stop = [s.name for s in stages].index(stage_name) + (1 if inclusive else 0)
        for stage in stages[k:stop]:
            hour = self.clear_stage(hour, stage)
        self._pending = (hour, max(k, stop))
        return hour

    def clear_hour(self, hour: Hour | None = None, first_stage: int = 0) -> Hour:
        """Clear the current hour (or the rest of `hour` from stage `first_stage`); does not advance time."""
        hour = self.begin_hour() if hour is None else hour
        for stage in self.design.stages[first_stage:]:
            hour = self.clear_stage(hour, stage)
        return hour

    def step(self) -> None:
        """One market hour (Mesa advances its own clock around this)."""
        if not self.running:
            return
        hour, k = self._pending or (None, 0)
        self._pending = None
        self.advance(self.clear_hour(hour, k))

    def advance(self, hour: Hour) -> None:
        """Record the cleared `hour` and move market time on (to the next week, or stop). Called by
        `step()`; call `step()` rather than this, so that Mesa's own clock moves too."""
        self.design.end_hour(hour)
        self.hour_result = hour
        if self.collect:
            self.record.append(self.design.record(hour, self.hours_done))
            self.datacollector.collect(self)
        self.hours_done += 1
        self.hour_of_week += 1
        self._hours_left -= 1
        if self._hours_left == 0:
            self.running = False
        elif self.hour_of_week == dataset.HOURS_PER_WEEK:
            self.week_index += 1
            self.hour_of_week = 0
            self._load_week(self.week)
        if self.running and self.hour_of_week % self.design.episode_hours == 0:
            self.design.begin_episode()

    def run_hours(self, n: int | None = None) -> None:
        """Step until `n` hours are done (default: to the end)."""
        for _ in range(self._hours_left if n is None else n):
            if not self.running:
                break
            self.step()


#: The name the arbitrage-only versions used; the same class.
LocalMarketModel = MarketModel
