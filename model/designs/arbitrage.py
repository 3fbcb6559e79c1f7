"""The `arbitrage` design: aggregators on the CIGRE MV feeder in a local electricity market (LEM),
a LinDistFlow flexibility market (LFM) run by the DSO, and a balancing market (seed 002).

Each hour, three stages (market-model.md):

    lem        primaries act: withholding a1 in [0, 1]       -> LEM operator clears the merit order
               (paid: r1, the LEM cost against truthful bidding, (21))
    lfm        secondaries act: (up, down) prices in €/MWh   -> DSO clears the LinDistFlow OPF (DLMPs)
    balancing  nobody acts                                   -> deviations, LFM and balancing settled
               (paid: r2 = -(C^LFM + C^BM) (22) to secondaries; r1 + r2 to arbitraging primaries,
               r1 to stand-alone ones (25))

Hours are independent: nothing carries over from one hour to the next (no storage), so no action
changes a later observation. An episode is one week (168 hours), as in the paper.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd

from agents.aggregators import Aggregator, ArbitrageInputs, BalancingOperator, Dso, LemOperator
from agents.bidding import MIN_FLEX_PRICE_EUR_MWH, RandomBidder, TruthfulBidder, WithholdingRule
from grid.feeder import cigre_mv_feeder
from model import dataset
from model.design import OWN, SHARED, TIME, ActionSpec, Feature, Hour, MarketDesign, Stage
from model.designs.arbitrage_scenario import ArbitrageScenario
from model.markets.lem import check_lem_inputs
from model.markets.lfm import LfmNetwork, LfmSolver
from model.record import Output, TableSpec

PRICE_DIVISOR = 100.0  # learners see prices in €/MWh / 100; powers in MW as they are (0..~2 MW here)


@dataclass(frozen=True)
class PaperCase:
    """The constants of the paper's case study, in one place (reports, study, app, baselines)."""

    focus_aggregator: int = 5  # the aggregator the paper follows ("high generation capacity, significant market share")
    location_swap: str = "5:9,8:10"  # the paper's sensitivity (Fig. 12)
    scenarios: tuple[str, ...] = ("s-a", "one-arb", "all-arb")  # stand-alone, one arbitrageur, all arbitrage
    swapped: tuple[str, ...] = ("s-a-swap", "one-arb-swap", "all-arb-swap")  # the same, locations swapped
    labels: tuple[tuple[str, str], ...] = (("s-a", "S-a"), ("one-arb", "one-arb"), ("all-arb", "all-arb"),
                                            ("s-a-swap", "S-a (swap)"), ("one-arb-swap", "one-arb (swap)"),
                                            ("all-arb-swap", "all-arb (swap)"))

    def label(self, scenario: str) -> str:
        return dict(self.labels).get(scenario, scenario)

    def is_swapped(self, scenario: str) -> bool:
        return scenario in self.swapped


PAPER = PaperCase()

#: What a primary (LEM) and a secondary (LFM) sub-agent observe, raw units.
LEM_OBSERVATION = (
    Feature("hour_of_week", TIME, low=0, high=dataset.HOURS_PER_WEEK - 1),
    Feature("net_generation_mw", OWN),  # own P̄ - D
    Feature("import_eur_mwh", SHARED, PRICE_DIVISOR),
    Feature("export_eur_mwh", SHARED, PRICE_DIVISOR),
)
LFM_OBSERVATION = (
    Feature("hour_of_week", TIME, low=0, high=dataset.HOURS_PER_WEEK - 1),
    Feature("p_sched_mw", OWN),  # P^sch after the LEM
    Feature("up_cap_mw", OWN, low=0.0),  # P̄ - P^G: what is left to sell upward
    Feature("dn_cap_mw", OWN, low=0.0),  # P^G: what can be sold downward
    Feature("imb_long_eur_mwh", SHARED, PRICE_DIVISOR),
    Feature("imb_short_eur_mwh", SHARED, PRICE_DIVISOR),
    # Not in the paper: the feeder's net scheduled injection after the LEM (sum of every aggregator's
    # P^sch, MW), public once the LEM has cleared. Whether the DSO will buy flexibility depends on it
    # (congested winter vs idle summer hours), which no other feature tells. Measured (docs/arbitrage-study.md,
    # "Convergence"): aggregator 5's learned earnings +8-13 %, all aggregators' +11-31 % (one-arb, 2 seeds).
    # Policies trained without it read only the first six columns and play as before.
    Feature("feeder_sched_mw", SHARED),
)
LEM_COLUMNS = tuple(f.name for f in LEM_OBSERVATION)
LFM_COLUMNS = tuple(f.name for f in LFM_OBSERVATION)
WITHHOLD = ActionSpec(("withhold",), (0.0,), (1.0,))

#: The per-bus table of an hour (buses.csv): the slack bus's injection is P_0.
BUS_COLUMNS = ("bus", "p_sched_mw", "p_mw", "q_mvar", "v_pu", "dlmp_eur_mwh", "up_mw", "down_mw")
MARKET_TABLE = {
    "hour": "int64", "week": "int64", "hour_of_week": "int64", "lem_price_eur_mwh": "float64",
    "import_price_eur_mwh": "float64", "export_price_eur_mwh": "float64", "imb_long_eur_mwh": "float64",
    "imb_short_eur_mwh": "float64", "lfm_cost_eur": "float64", "slack_mw": "float64", "slack_mvar": "float64",
    "flex_mw": "float64", "lfm_objective_eur": "float64", "v_min_pu": "float64",
    "feeder_load_shed_mw": "float64", "feeder_curtailed_mw": "float64",
}
AGGREGATOR_TABLE = {
    "hour": "int64", "week": "int64", "hour_of_week": "int64", "aggregator": "int64", "bus": "int64",
    "withhold": "float64", "up_bid_eur_mwh": "float64", "dn_bid_eur_mwh": "float64", "available_mw": "float64",
    "load_mw": "float64", "p_gen_mw": "float64", "p_sched_mw": "float64", "up_mw": "float64", "dn_mw": "float64",
    "dlmp_eur_mwh": "float64", "imbalance_mw": "float64", "lem_cost_eur": "float64", "lfm_cost_eur": "float64",
    "bm_cost_eur": "float64", "r1": "float64", "r2": "float64", "r_primary": "float64",
}
#: evaluation's hours.csv: these columns of the aggregators table, then the hour's market columns
EVALUATION_HOUR_COLUMNS = (
    "hour_of_week", "aggregator", "withhold", "up_bid_eur_mwh", "dn_bid_eur_mwh", "available_mw", "load_mw", "p_gen_mw",
    "p_sched_mw", "up_mw", "dn_mw", "dlmp_eur_mwh", "imbalance_mw", "lem_cost_eur", "lfm_cost_eur", "bm_cost_eur", "r1", "r2",
)
#: `localmarl simulate`'s CSVs, from the record
SIMULATE_OUTPUTS = {
    "buses": Output("buses", ("hour", *BUS_COLUMNS)),
    "aggregators": Output("aggregators", ("hour", "aggregator", "bus", "lem_cost_eur", "lfm_cost_eur", "bm_cost_eur", "r1",
                                          "r2", "withheld", "up_mw", "dn_mw"), {"withhold": "withheld"},
                          sort=("hour", "aggregator")),
    "market": Output("market", ("hour", "week", "hour_of_week", "lem_price_eur_mwh", "import_price_eur_mwh",
                                "export_price_eur_mwh", "imb_long_eur_mwh", "imb_short_eur_mwh", "lfm_cost_eur", "slack_mw",
                                "slack_mvar", "flex_mw", "lfm_objective_eur", "v_min_pu")),
}


@functools.lru_cache(maxsize=4)
def raw_data(source: str = "offline", seed: int = 0) -> dataset.RawData:
    """The year of data a scenario uses (cached per process)."""
    if source == "synthetic":
        return dataset.synthetic_raw_data(seed=seed)
    return dataset.load_raw_data()


def bought_flexibility(flex_mw) -> np.ndarray | bool:
    """Whether the LFM bought flexibility: up + down (MW, summed over aggregators; per hour for an
    array of hours) above `FLEX_BOUGHT_MW`. The one test of "the DSO bought flexibility" for every
    table, report, summary, benchmark and best-response search."""
    return np.asarray(flex_mw) > FLEX_BOUGHT_MW


FLEX_BOUGHT_MW = 1e-6  # flexibility (up + down, MW) above which an hour counts as one in which the LFM bought
SLACK_USED_MW = 1e-6  # emergency slack above which an hour counts as one that needed it
#: a sweep's per-aggregator columns (`sweep_rows`)
SWEEP_AGGREGATOR_COLUMNS = (
    "aggregator", "bus", "arbitrage", "first_stage_eur", "second_stage_eur", "total_eur",
    "lem_cost_eur", "lfm_cost_eur", "bm_cost_eur", "flex_sold_mwh", "up_mwh", "dn_mwh", "withheld_mean",
)


class ArbitrageDesign(MarketDesign):
    """LEM -> LFM -> balancing for the aggregators of an `ArbitrageScenario` (see the module docstring)."""

    name = "arbitrage"
    episode_hours = dataset.HOURS_PER_WEEK
    policies = ("truthful", "random", "rule")
    roles = ("primary", "secondary")
    participant_label = "aggregator"
    scenario_class = ArbitrageScenario
    plugins = MappingProxyType({"report": "runs.reports.arbitrage", "study": "runs.studies.arbitrage",
                                "views": "visualization.designs.arbitrage"})

    def __init__(self, model):
        super().__init__(model)
        sc = model.scenario
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
        K, B = sc.n_aggregators, self.feeder.n_bus
        self._bus_of_agg = np.zeros((B, K))  # aggregator -> bus incidence
        self._bus_of_agg[self.agg_bus_index, np.arange(K)] = 1.0
        self._ids = np.array(sc.aggregator_ids)
        self._buses = np.array([sc.location[i] for i in sc.aggregator_ids])
        self._bus_names = np.array(self.feeder.bus_names)
        self.aggregators = [
            Aggregator(model, k, agg_id, sc.location[agg_id], None, bool(self.arbitrage_mask[k]))
            for k, agg_id in enumerate(sc.aggregator_ids)
        ]
        self.lem_operator = LemOperator(model, self.cost_eur_mwh, self.tan_phi_gen)
        self.dso = Dso(model, LfmSolver(self.lfm_network), self.agg_bus_index, sc.market.lfm_tie_break_eur_mwh)
        self.balancing_operator = BalancingOperator(model, self.cost_eur_mwh, self.arbitrage_mask)
        self.flex_prices = ActionSpec(("up_eur_mwh", "dn_eur_mwh"), (0.0, 0.0), (sc.market.flex_price_max_eur_mwh,) * 2,
                                      policy_low=(MIN_FLEX_PRICE_EUR_MWH,) * 2)
        self.stages = (
            Stage("lem", self.lem_operator.clear, role="primary", observation=LEM_OBSERVATION, observe=self.observe_lem,
                  action=WITHHOLD, mechanism="lem_merit_order", pay=lambda h: {"primary": h.lem.r1}),
            Stage("lfm", self.dso.clear, role="secondary", observation=LFM_OBSERVATION, observe=self.observe_lfm,
                  action=self.flex_prices, mechanism="lfm_lindistflow"),
            Stage("balancing", self.balancing_operator.settle, mechanism="balancing",
                  pay=lambda h: {"primary": h.balancing.r_primary, "secondary": h.balancing.r2}),
        )

    def cold_start(self) -> None:
        self.dso.solver.reset()

    def reset_counters(self) -> None:
        self.dso.solver.n_lp = self.dso.solver.n_screened = 0

    def counters(self) -> dict:
        s = self.dso.solver
        return {"lfm_hours_solved_by_lp_share": round(s.n_lp / max(s.n_lp + s.n_screened, 1), 3)}

    # --- learning ------------------------------------------------------------------------------
    score_columns = ("first_stage_eur", "second_stage_eur")  # the paper's first- and second-stage scores
    learners = ("hmaddpg",)
    focus_participant = PAPER.focus_aggregator
    keep_best_refused = (
        "the aggregators compete, and the one cheap score, their summed earnings on the evaluation week, rewards "
        "collusive bids: measured (one-arb, quick profile, seeds 0 and 1), it kept the untrained policy, whose high bids "
        "earn the ten aggregators 3.6-4.3x what the trained ones do, while every one of them falls short of a constant bid; "
        "the shortfall against constant bids on the evaluation week, measured offline, chose no better than the last "
        "snapshot (docs/arbitrage-study.md, 'Keeping the best snapshot'). Train without keep_best")

    def hour_scores(self, h: Hour):
        return h.lem.r1, h.balancing.r2

    def default_learner(self, hp, seed: int, device, config=None):
        from agents.learning.hmaddpg import hmaddpg

        return hmaddpg(self.role_specs(), hp, seed, device)

    # --- participants and policies -----------------------------------------------------------
    def participants(self) -> list[Aggregator]:
        return self.aggregators

    def make_policy(self, name: str, rng: np.random.Generator):
        price_max = self.model.scenario.market.flex_price_max_eur_mwh
        if name == "truthful":
            return TruthfulBidder(self.cost_eur_mwh, price_max, LFM_COLUMNS)
        if name == "random":
            return RandomBidder(price_max, rng)
        if name == "rule":
            return WithholdingRule(self.cost_eur_mwh, price_max, LFM_COLUMNS, LEM_COLUMNS)
        raise ValueError(f"unknown policy '{name}': use one of {', '.join(self.policies)}, or the path of a run folder "
                         "written by `localmarl train`")

    # --- data ------------------------------------------------------------------------------------
    def load_week(self, week: int) -> None:
        sc, model = self.model.scenario, self.model
        self.week_data = wd = dataset.week_data(self.raw, week, sc.portfolios, sc.prices)
        check_lem_inputs(wd.available_mw, wd.load_mw, wd.import_eur_mwh, wd.export_eur_mwh)
        self.offer_cap_all = np.minimum(wd.available_mw, self.nameplate_mw * sc.market.gen_power_factor)
        sd = sc.market.forecast_error_sd
        renewable = wd.pv_mw + wd.wind_mw
        self.forecast_error_all = (sd * renewable * model.np_rng.standard_normal(renewable.shape) if sd > 0
                                   else np.zeros_like(renewable))

    def begin_hour(self, week: int, hour_of_week: int) -> Hour:
        wd, t = self.week_data, hour_of_week
        return Hour(week, t, ArbitrageInputs(
            load_mw=wd.load_mw[t], load_mvar=wd.load_mvar[t], available_mw=wd.available_mw[t],
            offer_cap_mw=self.offer_cap_all[t], import_eur_mwh=float(wd.import_eur_mwh[t]),
            export_eur_mwh=float(wd.export_eur_mwh[t]), imb_long_eur_mwh=float(wd.imb_long_eur_mwh[t]),
            imb_short_eur_mwh=float(wd.imb_short_eur_mwh[t]), forecast_error_mw=self.forecast_error_all[t],
        ))

    # --- observations ----------------------------------------------------------------------------
    def observe_lem(self, h: Hour) -> np.ndarray:
        """Stage-1 observations, one row per aggregator, columns `LEM_COLUMNS`."""
        x = h.inputs
        obs = np.empty((len(self.aggregators), len(LEM_COLUMNS)))
        obs[:, 0] = h.hour_of_week
        obs[:, 1] = x.available_mw - x.load_mw
        obs[:, 2] = x.import_eur_mwh
        obs[:, 3] = x.export_eur_mwh
        return obs

    def observe_lfm(self, h: Hour) -> np.ndarray:
        """Stage-2 observations (after the LEM cleared), columns `LFM_COLUMNS`."""
        x, s1 = h.inputs, h.lem
        obs = np.empty((len(self.aggregators), len(LFM_COLUMNS)))
        obs[:, 0] = h.hour_of_week
        obs[:, 1] = s1.p_sched_mw
        obs[:, 2] = np.maximum(x.offer_cap_mw - s1.p_gen_mw, 0.0)
        obs[:, 3] = s1.p_gen_mw
        obs[:, 4] = x.imb_long_eur_mwh
        obs[:, 5] = x.imb_short_eur_mwh
        obs[:, 6] = s1.p_sched_mw.sum()
        return obs

    def observation_bounds(self, stage: Stage):
        """Feature bounds, with generous finite bounds for each aggregator's own powers: twice its
        nameplate plus its peak load (MW)."""
        low, high = super().observation_bounds(stage)
        bound_mw = 2.0 * (self.nameplate_mw + np.array([p.load_peak_mw for p in self.model.scenario.portfolios]))
        for j, f in enumerate(stage.observation):
            if f.kind == OWN:
                low[:, j] = np.maximum(low[:, j], -bound_mw)
                high[:, j] = np.minimum(high[:, j], bound_mw)
        return low, high

    # --- the record ------------------------------------------------------------------------------
    def tables(self):
        return {
            "market": TableSpec(MARKET_TABLE, 1),
            "aggregators": TableSpec(AGGREGATOR_TABLE, len(self.aggregators)),
            "buses": TableSpec({"hour": "int64", "bus": "int64"} | {c: "float64" for c in BUS_COLUMNS[1:]}, self.feeder.n_bus),
        }

    def bus_rows(self, h: Hour) -> dict[str, np.ndarray]:
        """Per-bus outcome of an hour (`BUS_COLUMNS`); the slack bus's injection is P_0."""
        x, s1, s2 = h.inputs, h.lem, h.lfm
        lfm, inc = s2.result, self._bus_of_agg
        p_sched = inc @ s1.p_sched_mw
        p_final = inc @ (s1.p_sched_mw + s2.up_mw - s2.dn_mw + x.forecast_error_mw) + lfm.slack_up_mw - lfm.slack_dn_mw
        q = inc @ (s1.q_gen_mvar - x.load_mvar) + lfm.slack_q_mvar
        p_sched[0] = -p_sched[1:].sum()
        p_final[0] = lfm.p_line_mw[0]
        q[0] = lfm.q_line_mvar[0]
        return {"bus": self._bus_names, "p_sched_mw": p_sched, "p_mw": p_final, "q_mvar": q, "v_pu": lfm.v_pu,
                "dlmp_eur_mwh": lfm.dlmp_eur_mwh, "up_mw": inc @ s2.up_mw, "down_mw": inc @ s2.dn_mw}

    def record(self, h: Hour, hour_index: int):
        x, s1, s2, s3 = h.inputs, h.lem, h.lfm, h.balancing
        lfm = s2.result
        market = {
            "hour": hour_index, "week": h.week, "hour_of_week": h.hour_of_week, "lem_price_eur_mwh": s1.price_eur_mwh,
            "import_price_eur_mwh": x.import_eur_mwh, "export_price_eur_mwh": x.export_eur_mwh,
            "imb_long_eur_mwh": x.imb_long_eur_mwh, "imb_short_eur_mwh": x.imb_short_eur_mwh,
            "lfm_cost_eur": s2.dso_payment_eur, "slack_mw": lfm.slack_mw,
            "slack_mvar": float(np.abs(lfm.slack_q_mvar).sum()), "flex_mw": float(s2.up_mw.sum() + s2.dn_mw.sum()),
            "lfm_objective_eur": lfm.cost_eur, "v_min_pu": float(lfm.v_pu.min()),
            # the LFM's emergency slack over the feeder: load it sheds (priced at the value of lost load,
            # which then sets the DLMPs above any bid) and generation it curtails
            "feeder_load_shed_mw": lfm.slack_up_mw.sum(), "feeder_curtailed_mw": lfm.slack_dn_mw.sum(),
        }
        aggregators = {
            "hour": hour_index, "week": h.week, "hour_of_week": h.hour_of_week, "aggregator": self._ids,
            "bus": self._buses, "withhold": s1.withhold, "up_bid_eur_mwh": s2.bid_eur_mwh[:, 0],
            "dn_bid_eur_mwh": s2.bid_eur_mwh[:, 1], "available_mw": x.offer_cap_mw, "load_mw": x.load_mw,
            "p_gen_mw": s1.p_gen_mw, "p_sched_mw": s1.p_sched_mw, "up_mw": s2.up_mw, "dn_mw": s2.dn_mw,
            "dlmp_eur_mwh": s2.dlmp_agg_eur_mwh, "imbalance_mw": s3.imbalance_mw, "lem_cost_eur": s1.cost_eur,
            "lfm_cost_eur": s3.lfm_cost_eur, "bm_cost_eur": s3.bm_cost_eur, "r1": s1.r1, "r2": s3.r2,
            "r_primary": s3.r_primary,
        }
        return {"market": market, "aggregators": aggregators, "buses": {"hour": hour_index, **self.bus_rows(h)}}

    outputs = SIMULATE_OUTPUTS

    def evaluation_hours(self, record, week_labels: np.ndarray) -> pd.DataFrame:
        """The evaluation's hours.csv: per hour and aggregator its actions, the markets' outcome and
        its money, beside the hour's prices and the LFM's emergency slack over the feeder
        (`week_labels`: the label of each recorded hour, e.g. "test:1")."""
        a = record.frame("aggregators", EVALUATION_HOUR_COLUMNS)
        m = record.frame("market", ("lem_price_eur_mwh", "imb_long_eur_mwh", "imb_short_eur_mwh",
                                    "feeder_load_shed_mw", "feeder_curtailed_mw"))
        k = len(self.aggregators)
        for col in m.columns:
            a[col] = np.repeat(m[col].to_numpy(), k)
        a.insert(0, "week", np.repeat(week_labels, k))
        return a

    def summary(self, record) -> str:
        """What `localmarl simulate` prints: the markets over the simulated hours, per aggregator."""
        m, a = record.frame("market"), record.frame("aggregators")
        per = a.groupby("aggregator")[["lem_cost_eur", "lfm_cost_eur", "bm_cost_eur", "r1", "r2", "up_mw", "dn_mw"]].sum()
        per.columns = ["LEM cost €", "LFM cost €", "BM cost €", "score 1 €", "score 2 €", "up MWh", "down MWh"]
        flex_hours = int(bought_flexibility(m["flex_mw"].to_numpy()).sum())
        return "\n".join([
            f"hours simulated            {len(m)}",
            f"mean LEM price             {m['lem_price_eur_mwh'].mean():.2f} €/MWh",
            f"hours the LFM bought flex  {flex_hours} ({flex_hours / len(m):.1%})",
            f"flexibility bought         {m['flex_mw'].sum():.2f} MWh for {m['lfm_cost_eur'].sum():.2f} € (DSO payments)",
            f"hours with emergency slack {int((m['slack_mw'] > SLACK_USED_MW).sum())} ({m['slack_mw'].sum():.3f} MWh)",
            f"lowest voltage             {m['v_min_pu'].min():.4f} p.u.",
            "",
            per.round(2).to_string(),
        ])

    # --- sweeps ---------------------------------------------------------------------------------
    #: the market outcomes a sweep plots against each swept parameter, and those its summary sums
    sweep_panels = (("mean_lem_price_eur_mwh", "mean LEM price €/MWh"), ("flex_mwh", "flexibility bought MWh"),
                    ("dso_payments_eur", "DSO payments €"), ("slack_mwh", "emergency slack MWh"),
                    ("min_v_pu", "lowest voltage p.u."))
    sweep_market_sums = ("dso_payments_eur", "flex_mwh", "slack_mwh")

    def sweep_rows(self, record):
        """A run's summary for a sweep: one row per aggregator (scores, market costs, flexibility
        sold, mean withholding) and one market row (LEM price, flexibility, DSO payments, slack, voltage)."""
        ag, mk = SIMULATE_OUTPUTS["aggregators"].frame(record), record.frame("market")
        per = ag.groupby("aggregator", sort=True).agg(
            bus=("bus", "first"), first_stage_eur=("r1", "sum"), second_stage_eur=("r2", "sum"),
            lem_cost_eur=("lem_cost_eur", "sum"), lfm_cost_eur=("lfm_cost_eur", "sum"), bm_cost_eur=("bm_cost_eur", "sum"),
            up_mwh=("up_mw", "sum"), dn_mwh=("dn_mw", "sum"), withheld_mean=("withheld", "mean"),
        )
        per["total_eur"] = per["first_stage_eur"] + per["second_stage_eur"]
        per["flex_sold_mwh"] = per["up_mwh"] + per["dn_mwh"]
        arbitrage = {a.aggregator_id: a.arbitrage for a in self.aggregators}
        rows = []
        for agg_id, r in per.iterrows():
            row = {"aggregator": int(agg_id), "bus": int(r["bus"]), "arbitrage": bool(arbitrage[agg_id])}
            rows.append(row | {c: float(r[c]) for c in SWEEP_AGGREGATOR_COLUMNS[3:]})
        market = {
            "mean_lem_price_eur_mwh": float(mk["lem_price_eur_mwh"].mean()),
            "flex_mwh": float(mk["flex_mw"].sum()),
            "dso_payments_eur": float(mk["lfm_cost_eur"].sum()),
            "slack_mwh": float(mk["slack_mw"].sum()),
            "min_v_pu": float(mk["v_min_pu"].min()),
            "hours_with_flex": int(bought_flexibility(mk["flex_mw"].to_numpy()).sum()),
            "hours_with_slack": int((mk["slack_mw"] > SLACK_USED_MW).sum()),
        }
        return rows, market

    def model_reporters(self):
        def market(col):
            return lambda m: m.record.last("market", col)

        reporters = {c: market(c) for c in SIMULATE_OUTPUTS["market"].columns if c != "hour"}
        reporters["buses"] = lambda m: np.column_stack([m.record.last("buses", c) for c in BUS_COLUMNS]).astype(float)
        return reporters
