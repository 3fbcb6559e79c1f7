"""The arbitrage design's Mesa agents: aggregators (the participants) and the three operators that
clear its stages (LEM operator, DSO, balancing operator), with the immutable record each stage leaves.

Operators hold no market logic of their own: each calls the pure mechanisms in `model.markets` on
the hour's arrays (per-aggregator arrays have shape (n_aggregators,)). Sign conventions are those
of `model.markets.settlement`.
"""

from __future__ import annotations

from typing import NamedTuple

import mesa
import numpy as np

from model.markets import lem, settlement
from model.markets.lfm import LfmBids, LfmResult, LfmSolver, tie_break_priorities


class Aggregator(mesa.Agent):
    """One aggregator: a portfolio at a bus, with a primary (LEM) and a secondary (LFM) sub-agent,
    both played by its `policy`."""

    def __init__(self, model, index: int, aggregator_id: int, bus: int, policy, arbitrage: bool):
        super().__init__(model)
        self.index = index  # row in the design's per-aggregator arrays
        self.aggregator_id = aggregator_id
        self.bus = bus  # CIGRE bus number
        self.policy = policy
        self.arbitrage = arbitrage

    @property
    def participant_id(self) -> int:
        return self.aggregator_id


class ArbitrageInputs(NamedTuple):
    """An hour's exogenous data, per aggregator (MW) and market-wide prices (€/MWh)."""

    load_mw: np.ndarray
    load_mvar: np.ndarray
    available_mw: np.ndarray
    offer_cap_mw: np.ndarray  # what an aggregator can offer (available, capped by its nameplate x power factor)
    import_eur_mwh: float
    export_eur_mwh: float
    imb_long_eur_mwh: float
    imb_short_eur_mwh: float
    forecast_error_mw: np.ndarray


class LemRecord(NamedTuple):
    """Stage 1: the community LEM as cleared, each aggregator's LEM cost and first-stage reward r1 (21)."""

    withhold: np.ndarray  # a1 in [0, 1]
    p_gen_mw: np.ndarray
    q_gen_mvar: np.ndarray
    p_sched_mw: np.ndarray  # P^sch = P^G - D (+ = export)
    p_import_mw: float
    p_export_mw: float
    price_eur_mwh: float
    cost_eur: np.ndarray  # C^LEM (2)
    ref_cost_eur: np.ndarray  # C^ref: the LEM cost had the aggregator offered truthfully
    r1: np.ndarray


class LfmRecord(NamedTuple):
    """Stage 2a: the flexibility bought by the DSO (LinDistFlow OPF), the DLMPs and what the DSO pays."""

    bid_eur_mwh: np.ndarray  # (n, 2) up, down prices
    result: LfmResult  # the full OPF outcome: per-bus DLMPs, voltages, flows, emergency slack
    up_mw: np.ndarray
    dn_mw: np.ndarray
    dlmp_agg_eur_mwh: np.ndarray  # the DLMP at each aggregator's bus
    dso_payment_eur: float


class BalancingRecord(NamedTuple):
    """Stage 2b: deviations settled, LFM settlement (19), balancing (20), r2 (22) and the primaries' reward (25)."""

    imbalance_mw: np.ndarray
    lfm_cost_eur: np.ndarray
    bm_cost_eur: np.ndarray
    r2: np.ndarray
    r_primary: np.ndarray


class LemOperator(mesa.Agent):
    """Clears the community LEM (stage 1) and prices each aggregator's truthful reference cost."""

    def __init__(self, model, cost_eur_mwh: np.ndarray, tan_phi_gen: float):
        super().__init__(model)
        self.cost = cost_eur_mwh
        self.tan_phi_gen = tan_phi_gen
        self.merit_order = lem.MeritOrder(cost_eur_mwh)

    def clear(self, hour, actions: np.ndarray) -> LemRecord:
        x = hour.inputs
        withhold = actions[:, 0]
        offer = (1.0 - withhold) * x.offer_cap_mw
        res, ref = self.merit_order.clear_with_references(
            offer, x.offer_cap_mw, x.load_mw, x.import_eur_mwh, x.export_eur_mwh, check=False
        )  # inputs are checked once per week when the design loads it
        return self.settle(hour, withhold, res, ref)

    def settle(self, hour, withhold: np.ndarray, res: lem.LemResult, ref: np.ndarray) -> LemRecord:
        """The LEM's money for a clearing `res` (from the merit order, or any other solver of (1)-(5))
        and the truthful reference costs `ref`."""
        x = hour.inputs
        cost = lem.lem_costs_eur(res.p_gen_mw, x.load_mw, self.cost, res.price_eur_mwh)
        return LemRecord(
            withhold=withhold, p_gen_mw=res.p_gen_mw, q_gen_mvar=res.p_gen_mw * self.tan_phi_gen,
            p_sched_mw=res.p_gen_mw - x.load_mw, p_import_mw=float(res.p_import_mw), p_export_mw=float(res.p_export_mw),
            price_eur_mwh=float(res.price_eur_mwh), cost_eur=cost, ref_cost_eur=ref,
            r1=settlement.first_stage_reward(ref, cost),
        )


class Dso(mesa.Agent):
    """Clears the LFM (stage 2a): buys up/down flexibility so that the schedule respects the grid."""

    def __init__(self, model, solver: LfmSolver, agg_bus_index: np.ndarray, tie_break_eur_mwh: float = 0.0):
        super().__init__(model)
        self.solver = solver
        self.agg_bus_index = agg_bus_index
        self.tie_break_eur_mwh = tie_break_eur_mwh  # the tie rule's step (`tie_break_priorities`); 0: none

    def bids(self, hour, bid_eur_mwh: np.ndarray) -> LfmBids:
        """The LFM's inputs: schedules after the LEM, capacities left, the (up, down) bids, and the
        hour's tie-break priorities (if the scenario sets a tie rule)."""
        x, s1 = hour.inputs, hour.lem
        priority = (tie_break_priorities(hour.week, hour.hour_of_week, len(bid_eur_mwh), self.tie_break_eur_mwh)
                    if self.tie_break_eur_mwh > 0 else None)
        return LfmBids(
            p_sched_mw=s1.p_sched_mw,
            q_mvar=s1.q_gen_mvar - x.load_mvar,
            up_cap_mw=np.maximum(x.offer_cap_mw - s1.p_gen_mw, 0.0),
            dn_cap_mw=s1.p_gen_mw,
            up_eur_mwh=bid_eur_mwh[:, 0],
            dn_eur_mwh=bid_eur_mwh[:, 1],
            priority_eur_mwh=priority,
        )

    def clear(self, hour, actions: np.ndarray) -> LfmRecord:
        return self.settle(actions, self.solver.solve(self.bids(hour, actions)))

    def settle(self, actions: np.ndarray, res: LfmResult) -> LfmRecord:
        """What the DSO pays for an OPF outcome `res` (from the persistent solver, or any other)."""
        dlmp_agg = res.dlmp_eur_mwh[self.agg_bus_index]
        return LfmRecord(
            bid_eur_mwh=actions, result=res, up_mw=res.up_mw, dn_mw=res.dn_mw, dlmp_agg_eur_mwh=dlmp_agg,
            dso_payment_eur=float(settlement.dso_payment_eur(dlmp_agg, res.up_mw, res.dn_mw)),
        )


class BalancingOperator(mesa.Agent):
    """Settles deviations from the LEM schedule (stage 2b), the LFM, and the second-stage rewards."""

    def __init__(self, model, cost_eur_mwh: np.ndarray, arbitrage_mask: np.ndarray):
        super().__init__(model)
        self.cost = cost_eur_mwh
        self.arbitrage_mask = arbitrage_mask

    def settle(self, hour, actions=None) -> BalancingRecord:
        return self.settle_records(hour.inputs, hour.lem, hour.lfm)

    def settle_records(self, x: ArbitrageInputs, s1: LemRecord, s2: LfmRecord) -> BalancingRecord:
        """The second stage's money for an hour's inputs and its LEM and LFM records."""
        imbalance, lfm_cost, bm_cost = settlement.second_stage_costs_eur(
            self.cost, s2.dlmp_agg_eur_mwh, s2.up_mw, s2.dn_mw, x.imb_long_eur_mwh, x.imb_short_eur_mwh, x.forecast_error_mw)
        r2 = settlement.second_stage_reward(lfm_cost, bm_cost)
        return BalancingRecord(imbalance_mw=imbalance, lfm_cost_eur=lfm_cost, bm_cost_eur=bm_cost, r2=r2,
                               r_primary=settlement.primary_reward(s1.r1, r2, self.arbitrage_mask))
