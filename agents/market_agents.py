"""The Mesa agents: aggregators, the LEM operator, the DSO and the balancing operator.

Agents hold no market logic of their own: operators call the pure clearing functions in
`model.markets` on the model's arrays for the hour; aggregators carry their portfolio, brain
and this hour's outcome (read from the model's `HourResult`) for the UI and the DataCollector.
"""

from __future__ import annotations

import mesa
import numpy as np

from model.markets import lem, settlement
from model.markets.lfm import LfmBids


class Aggregator(mesa.Agent):
    """One aggregator: a portfolio at a bus, with a primary (LEM) and a secondary (LFM) sub-agent."""

    def __init__(self, model, index: int, aggregator_id: int, bus: int, brain, arbitrage: bool):
        super().__init__(model)
        self.index = index  # row in the model's per-aggregator arrays
        self.aggregator_id = aggregator_id
        self.bus = bus  # CIGRE bus number
        self.brain = brain
        self.arbitrage = arbitrage

    def _hour(self, name):
        r = self.model.hour_result
        return float(getattr(r, name)[self.index]) if r is not None else float("nan")

    # outcome of the last cleared hour (for the DataCollector and the UI)
    withheld = property(lambda self: self._hour("withhold"))
    lem_cost_eur = property(lambda self: self._hour("lem_cost_eur"))
    lfm_cost_eur = property(lambda self: self._hour("lfm_cost_eur"))
    bm_cost_eur = property(lambda self: self._hour("bm_cost_eur"))
    r1 = property(lambda self: self._hour("r1"))
    r2 = property(lambda self: self._hour("r2"))
    up_mw = property(lambda self: self._hour("up_mw"))
    dn_mw = property(lambda self: self._hour("dn_mw"))


class LemOperator(mesa.Agent):
    """Clears the community LEM (stage 1) and computes each aggregator's truthful reference cost."""

    def __init__(self, model):
        super().__init__(model)
        self.merit_order = lem.MeritOrder(model.cost_eur_mwh)

    def clear(self, h):
        m = self.model
        offer = (1.0 - h.withhold) * h.offer_cap_mw
        res, h.ref_cost_eur = self.merit_order.clear_with_references(
            offer, h.offer_cap_mw, h.load_mw, h.import_eur_mwh, h.export_eur_mwh, check=False
        )  # inputs are checked once per week when the model loads it
        h.p_gen_mw = res.p_gen_mw
        h.lem_price_eur_mwh = float(res.price_eur_mwh)
        h.p_import_mw, h.p_export_mw = float(res.p_import_mw), float(res.p_export_mw)
        h.lem_cost_eur = lem.lem_costs_eur(res.p_gen_mw, h.load_mw, m.cost_eur_mwh, res.price_eur_mwh)
        h.p_sched_mw = h.p_gen_mw - h.load_mw
        h.q_gen_mvar = h.p_gen_mw * m.tan_phi_gen


class Dso(mesa.Agent):
    """Clears the LFM (stage 2a): buys up/down flexibility so the schedule respects the grid."""

    def __init__(self, model, solver):
        super().__init__(model)
        self.solver = solver

    @staticmethod
    def bids(h) -> LfmBids:
        """The LFM's inputs for hour `h`: schedules, capacities left after the LEM, and the bids."""
        return LfmBids(
            p_sched_mw=h.p_sched_mw,
            q_mvar=h.q_gen_mvar - h.load_mvar,
            up_cap_mw=np.maximum(h.offer_cap_mw - h.p_gen_mw, 0.0),
            dn_cap_mw=h.p_gen_mw,
            up_eur_mwh=h.flex_bid_eur_mwh[:, 0],
            dn_eur_mwh=h.flex_bid_eur_mwh[:, 1],
        )

    def clear(self, h):
        h.lfm = self.solver.solve(self.bids(h))
        h.up_mw, h.dn_mw = h.lfm.up_mw, h.lfm.dn_mw
        h.dlmp_agg_eur_mwh = h.lfm.dlmp_eur_mwh[self.model.agg_bus_index]
        h.dso_payment_eur = float(settlement.dso_payment_eur(h.dlmp_agg_eur_mwh, h.up_mw, h.dn_mw))


class BalancingOperator(mesa.Agent):
    """Settles deviations from the LEM schedule (stage 2b), then the LFM and the rewards."""

    def settle(self, h):
        m = self.model
        h.imbalance_mw, h.lfm_cost_eur, h.bm_cost_eur = settlement.second_stage_costs_eur(
            m.cost_eur_mwh, h.dlmp_agg_eur_mwh, h.up_mw, h.dn_mw, h.imb_long_eur_mwh, h.imb_short_eur_mwh, h.forecast_error_mw)
        h.r1 = settlement.first_stage_reward(h.ref_cost_eur, h.lem_cost_eur)
        h.r2 = settlement.second_stage_reward(h.lfm_cost_eur, h.bm_cost_eur)
        h.r_primary = settlement.primary_reward(h.r1, h.r2, m.arbitrage_mask)
