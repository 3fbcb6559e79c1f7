"""`LocalMarketModel`: the Mesa model; one step is one hour, cleared in stages LEM -> LFM -> balancing.

One hour, as data flowing once through the model:

    week data (prices, profiles) -> aggregators observe -> brains act (withholding)
      -> LEM operator clears (schedules, LEM price, truthful reference costs)
      -> aggregators observe -> brains act (up/down flexibility prices)
      -> DSO clears the LinDistFlow LFM (up/down quantities, DLMPs, voltages)
      -> balancing operator settles deviations, LFM payments and rewards
      -> DataCollector

The same model serves the command line, the Solara app, `mesa.batch_run`, training and benchmarks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import mesa
import numpy as np

from agents.brains import OBS1, OBS2, Brain, make_brain
from agents.market_agents import Aggregator, BalancingOperator, Dso, LemOperator
from grid.feeder import cigre_mv_feeder
from model import dataset
from model.markets.lem import check_lem_inputs
from model.markets.lfm import LfmNetwork, LfmResult, LfmSolver
from model.scenario import Scenario, load_scenario


@functools.lru_cache(maxsize=4)
def raw_data(source: str = "offline", seed: int = 0) -> dataset.RawData:
    """The year of data a scenario uses (cached per process)."""
    if source == "synthetic":
        return dataset.synthetic_raw_data(seed=seed)
    return dataset.load_raw_data()


@dataclass
class HourResult:
    """Everything about one cleared hour; per-aggregator arrays have shape (n_aggregators,)."""

    week: int
    hour_of_week: int
    # inputs
    load_mw: np.ndarray
    load_mvar: np.ndarray
    available_mw: np.ndarray
    offer_cap_mw: np.ndarray
    import_eur_mwh: float
    export_eur_mwh: float
    imb_long_eur_mwh: float
    imb_short_eur_mwh: float
    forecast_error_mw: np.ndarray
    # stage 1
    obs_lem: np.ndarray = None  # (n, len(OBS1)) what the primary sub-agents saw
    withhold: np.ndarray = None
    p_gen_mw: np.ndarray = None
    q_gen_mvar: np.ndarray = None
    p_sched_mw: np.ndarray = None
    p_import_mw: float = 0.0
    p_export_mw: float = 0.0
    lem_price_eur_mwh: float = float("nan")
    lem_cost_eur: np.ndarray = None
    ref_cost_eur: np.ndarray = None
    # stage 2
    obs_lfm: np.ndarray = None  # (n, len(OBS2)) what the secondary sub-agents saw
    flex_bid_eur_mwh: np.ndarray = None  # (n, 2) up, down
    lfm: LfmResult = None
    up_mw: np.ndarray = None
    dn_mw: np.ndarray = None
    dlmp_agg_eur_mwh: np.ndarray = None
    dso_payment_eur: float = 0.0
    imbalance_mw: np.ndarray = None
    lfm_cost_eur: np.ndarray = None
    bm_cost_eur: np.ndarray = None
    r1: np.ndarray = None
    r2: np.ndarray = None
    r_primary: np.ndarray = None


class LocalMarketModel(mesa.Model):
    """Local electricity, flexibility and balancing markets on the CIGRE MV feeder.

    Keyword arguments (all plain values, so `mesa.batch_run` and Solara controls can drive them):
      scenario: name (`s-a`, `one-arb`, `all-arb`, ...) or path of a scenario TOML, or a `Scenario`.
      week: week spec (`test:1`, `train:3`, `eval:1`, `week:12`, `all`) or a 0-based week number.
      policy: `truthful`, `random`, `rule`, or a `Brain` object acting for every aggregator.
      location_swap: e.g. "5:9,8:10" swaps those aggregators' buses; arbitrage: "all"/"none"/"5,8".
      export_spread_factor, v_slack_pu, line_limit_factor, ...: override the scenario's settings.
      seed: seeds the model's random streams (random policy, forecast errors).
      collect: record every hour in the DataCollector (off for training speed).
    """

    def __init__(
        self,
        scenario: str | Scenario = "s-a",
        week: str | int = "test:1",
        policy: str | Brain = "truthful",
        location_swap: str | None = None,
        arbitrage: str | None = None,
        export_spread_factor: float | None = None,
        imbalance_spread_factor: float | None = None,
        v_slack_pu: float | None = None,
        line_limit_factor: float | None = None,
        seed: int | None = 0,
        collect: bool = True,
        rng=None,
    ):
        super().__init__(rng=seed if rng is None else rng)
        sc = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.scenario = sc.with_overrides(
            location_swap=location_swap,
            arbitrage=arbitrage,
            export_spread_factor=export_spread_factor,
            imbalance_spread_factor=imbalance_spread_factor,
            v_slack_pu=v_slack_pu,
            line_limit_factor=line_limit_factor,
        )
        sc = self.scenario
        self.seed = seed
        self.np_rng = np.random.default_rng(seed)
        self.collect = collect
        self.feeder = cigre_mv_feeder()
        self.raw = raw_data(sc.data.source, sc.data.synthetic_seed)

        self.cost_eur_mwh = np.array([p.marginal_cost_eur_mwh for p in sc.portfolios])
        self.nameplate_mw = np.array([p.pv_mw + p.wind_mw + p.dispatchable_mw for p in sc.portfolios])
        self.tan_phi_gen = float(np.tan(np.arccos(sc.market.gen_power_factor)))
        self.arbitrage_mask = np.array([i in sc.arbitrage for i in sc.aggregator_ids])
        self.agg_bus_index = np.array([self.feeder.index_of(sc.location[i]) for i in sc.aggregator_ids])
        g = sc.grid
        self.lfm_network = LfmNetwork(
            self.feeder, self.agg_bus_index, g.v_slack_pu, g.v_min_pu, g.v_max_pu,
            g.node_s_max_mva, g.line_limit_factor, g.polygon_sides, sc.market.voll_eur_mwh,
        )

        brain = policy if not isinstance(policy, str) else make_brain(
            policy, self.cost_eur_mwh, sc.market.flex_price_max_eur_mwh, self.np_rng
        )
        self.policy_name = getattr(brain, "name", type(brain).__name__)
        self.aggregators = [
            Aggregator(self, k, agg_id, sc.location[agg_id], brain, bool(self.arbitrage_mask[k]))
            for k, agg_id in enumerate(sc.aggregator_ids)
        ]
        self.lem_operator = LemOperator(self)
        self.dso = Dso(self, LfmSolver(self.lfm_network))
        self.balancing_operator = BalancingOperator(self)
        self._brain_groups = self._group_brains()

        self.weeks = dataset.resolve_week(week) if isinstance(week, str) else [int(week)]
        self.week_index = 0
        self.hour_of_week = 0
        self.hours_done = 0
        self.hour_result: HourResult | None = None
        self._pending: HourResult | None = None  # an hour whose LEM stage has cleared (begin_hour)
        self._load_week(self.weeks[0])
        self.datacollector = mesa.DataCollector(
            model_reporters=MODEL_REPORTERS, agenttype_reporters={Aggregator: AGGREGATOR_REPORTERS}
        )
        self.running = True

    # --- set-up helpers -------------------------------------------------------------
    def _group_brains(self):
        groups: dict[int, tuple[Brain, list[int]]] = {}
        for a in self.aggregators:
            groups.setdefault(id(a.brain), (a.brain, []))[1].append(a.index)
        return [(b, np.array(rows)) for b, rows in groups.values()]

    def set_brain(self, brain: Brain, aggregator_ids=None):
        """Give `brain` to the listed aggregators (all by default)."""
        for a in self.aggregators:
            if aggregator_ids is None or a.aggregator_id in aggregator_ids:
                a.brain = brain
        self._brain_groups = self._group_brains()

    def _load_week(self, week: int):
        sc = self.scenario
        self.week = week
        self.week_data = dataset.week_data(self.raw, week, sc.portfolios, sc.prices)
        wd = self.week_data
        check_lem_inputs(wd.available_mw, wd.load_mw, wd.import_eur_mwh, wd.export_eur_mwh)
        self.offer_cap_all = np.minimum(wd.available_mw, self.nameplate_mw * sc.market.gen_power_factor)
        sd = sc.market.forecast_error_sd
        renewable = wd.pv_mw + wd.wind_mw
        self.forecast_error_all = sd * renewable * self.np_rng.standard_normal(renewable.shape) if sd > 0 else np.zeros_like(renewable)

    def reset_week(self, week: int):
        """Start over at hour 0 of `week` (training episodes reuse one model)."""
        self.weeks = [int(week)]
        self._pending = None
        self.week_index = 0
        self.hour_of_week = 0
        self._load_week(int(week))
        self.running = True

    @property
    def n_hours_total(self) -> int:
        return len(self.weeks) * dataset.HOURS_PER_WEEK

    # --- observations and actions ---------------------------------------------------
    def hour_inputs(self) -> HourResult:
        """This hour's exogenous inputs (data, prices), before anyone acts."""
        wd, t = self.week_data, self.hour_of_week
        return HourResult(
            week=self.week,
            hour_of_week=t,
            load_mw=wd.load_mw[t],
            load_mvar=wd.load_mvar[t],
            available_mw=wd.available_mw[t],
            offer_cap_mw=self.offer_cap_all[t],
            import_eur_mwh=float(wd.import_eur_mwh[t]),
            export_eur_mwh=float(wd.export_eur_mwh[t]),
            imb_long_eur_mwh=float(wd.imb_long_eur_mwh[t]),
            imb_short_eur_mwh=float(wd.imb_short_eur_mwh[t]),
            forecast_error_mw=self.forecast_error_all[t],
        )

    def observe_lem(self, h: HourResult) -> np.ndarray:
        """Stage-1 observations, one row per aggregator, columns `agents.brains.OBS1`."""
        obs = np.empty((len(self.aggregators), len(OBS1)))
        obs[:, 0] = h.hour_of_week
        obs[:, 1] = h.available_mw - h.load_mw
        obs[:, 2] = h.import_eur_mwh
        obs[:, 3] = h.export_eur_mwh
        return obs

    def observe_lfm(self, h: HourResult) -> np.ndarray:
        """Stage-2 observations (after the LEM cleared), columns `agents.brains.OBS2`."""
        obs = np.empty((len(self.aggregators), len(OBS2)))
        obs[:, 0] = h.hour_of_week
        obs[:, 1] = h.p_sched_mw
        obs[:, 2] = np.maximum(h.offer_cap_mw - h.p_gen_mw, 0.0)
        obs[:, 3] = h.p_gen_mw
        obs[:, 4] = h.imb_long_eur_mwh
        obs[:, 5] = h.imb_short_eur_mwh
        return obs

    def _act(self, stage: str, obs: np.ndarray) -> np.ndarray:
        out = np.empty(len(obs)) if stage == "lem" else np.empty((len(obs), 2))
        for brain, rows in self._brain_groups:
            act = brain.act_lem(obs[rows], rows) if stage == "lem" else brain.act_lfm(obs[rows], rows)
            out[rows] = act
        if not np.isfinite(out).all():
            bad = [self.aggregators[i].aggregator_id for i in np.nonzero(~np.isfinite(out.reshape(len(obs), -1)).any(1))[0]]
            raise ValueError(
                f"{stage.upper()} action is NaN/inf for aggregator(s) {bad} at week {self.week} hour {self.hour_of_week}; "
                "the brain produced non-finite output (check its network weights / inputs)."
            )
        if stage == "lem":
            return np.clip(out, 0.0, 1.0)
        return np.clip(out, 0.0, self.scenario.market.flex_price_max_eur_mwh)

    # --- the staged hour ------------------------------------------------------------
    def clear_lem_stage(self) -> HourResult:
        """Stage 1 of the current hour: observe, act, clear the LEM (fills `obs_lfm` for stage 2)."""
        h = self.hour_inputs()
        h.obs_lem = self.observe_lem(h)
        h.withhold = self._act("lem", h.obs_lem)
        self.lem_operator.clear(h)
        h.obs_lfm = self.observe_lfm(h)
        return h

    def clear_lfm_stage(self, h: HourResult) -> HourResult:
        """Stage 2 of hour `h`: act, clear the LFM, settle the balancing market and the rewards."""
        h.flex_bid_eur_mwh = self._act("lfm", h.obs_lfm)
        self.dso.clear(h)
        self.balancing_operator.settle(h)
        return h

    def clear_hour(self) -> HourResult:
        """Clear the current hour: LEM -> LFM -> balancing. Does not advance time."""
        return self.clear_lfm_stage(self.clear_lem_stage())

    def advance(self, h: HourResult) -> None:
        """Record the cleared hour `h` and move market time on (to the next week, or stop).
        Called by `step()`; call `step()` rather than this, so Mesa's own clock moves too."""
        self.hour_result = h
        if self.collect:
            self.datacollector.collect(self)
        self.hours_done += 1
        self.hour_of_week += 1
        if self.hour_of_week == dataset.HOURS_PER_WEEK:
            self.week_index += 1
            if self.week_index == len(self.weeks):
                self.running = False
            else:
                self.hour_of_week = 0
                self._load_week(self.weeks[self.week_index])

    def begin_hour(self) -> HourResult:
        """Clear only the LEM stage of the current hour and keep it pending: the next `step()`
        finishes that hour (LFM, balancing) instead of starting a new one. For drivers that act
        stage by stage, such as the PettingZoo env."""
        self._pending = self.clear_lem_stage()
        return self._pending

    def step(self):
        """One market hour (Mesa advances its own clock around this): LEM -> LFM -> balancing."""
        if not self.running:
            return
        h = self._pending if self._pending is not None else self.clear_lem_stage()
        self._pending = None
        self.advance(self.clear_lfm_stage(h))

    def run_hours(self, n: int | None = None):
        """Step until `n` hours are done (default: all weeks)."""
        for _ in range(self.n_hours_total - self.hours_done if n is None else n):
            if not self.running:
                break
            self.step()


def _h(attr, fn=float):
    return lambda m: fn(getattr(m.hour_result, attr))


MODEL_REPORTERS = {
    "week": lambda m: m.hour_result.week,
    "hour_of_week": lambda m: m.hour_result.hour_of_week,
    "lem_price_eur_mwh": _h("lem_price_eur_mwh"),
    "import_price_eur_mwh": _h("import_eur_mwh"),
    "export_price_eur_mwh": _h("export_eur_mwh"),
    "imb_long_eur_mwh": _h("imb_long_eur_mwh"),
    "imb_short_eur_mwh": _h("imb_short_eur_mwh"),
    "lfm_cost_eur": _h("dso_payment_eur"),
    "lfm_objective_eur": lambda m: m.hour_result.lfm.cost_eur,
    "slack_mw": lambda m: m.hour_result.lfm.slack_mw,
    "slack_mvar": lambda m: float(np.abs(m.hour_result.lfm.slack_q_mvar).sum()),
    "flex_mw": lambda m: float(m.hour_result.up_mw.sum() + m.hour_result.dn_mw.sum()),
    "v_min_pu": lambda m: float(m.hour_result.lfm.v_pu.min()),
    "buses": lambda m: bus_table(m, m.hour_result),
}

AGGREGATOR_REPORTERS = {
    "aggregator": "aggregator_id",
    "bus": "bus",
    "withheld": "withheld",
    "lem_cost_eur": "lem_cost_eur",
    "lfm_cost_eur": "lfm_cost_eur",
    "bm_cost_eur": "bm_cost_eur",
    "r1": "r1",
    "r2": "r2",
    "up_mw": "up_mw",
    "dn_mw": "dn_mw",
}

BUS_COLUMNS = ("bus", "p_sched_mw", "p_mw", "q_mvar", "v_pu", "dlmp_eur_mwh", "up_mw", "down_mw")


def bus_table(model: LocalMarketModel, h: HourResult) -> np.ndarray:
    """Per-bus outcome of an hour, (n_bus, len(BUS_COLUMNS)); the slack bus's injection is P_0."""
    fd, lfm = model.feeder, h.lfm
    B = fd.n_bus
    inc = np.zeros((B, len(model.aggregators)))
    inc[model.agg_bus_index, np.arange(len(model.aggregators))] = 1.0
    p_sched = inc @ h.p_sched_mw
    p_final = inc @ (h.p_sched_mw + h.up_mw - h.dn_mw + h.forecast_error_mw) + lfm.slack_up_mw - lfm.slack_dn_mw
    q = inc @ (h.q_gen_mvar - h.load_mvar) + lfm.slack_q_mvar
    p_sched[0] = -p_sched[1:].sum()
    p_final[0] = lfm.p_line_mw[0]
    q[0] = lfm.q_line_mvar[0]
    return np.column_stack([
        np.array(fd.bus_names, float), p_sched, p_final, q, lfm.v_pu, lfm.dlmp_eur_mwh, inc @ h.up_mw, inc @ h.dn_mw,
    ])
