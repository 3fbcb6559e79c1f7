"""Stage 1: the community Local Electricity Market (LEM), day-ahead, one pool per hour.

Formulation (market-model.md, (1)-(5)); hours are independent:

    min  sum_n c_n P^G_n + imp * P^imp - exp * P^exp
    s.t. sum_n P^G_n + P^imp - P^exp = sum_n D_n      (dual: the LEM price)
         0 <= P^G_n <= offered_n,  P^imp, P^exp >= 0

The LP is a merit order, solved here in closed form for any number of hours at once
(`clear_lem`). `clear_lem_pulp` is the same LP written plainly in PuLP; the tests check one
against the other.

Rules where the LP's answer is not unique (fixed here, tested in tests/test_lem.py):
- a unit whose cost equals the export price runs fully (it is indifferent; we export);
- a unit whose cost equals or exceeds the import price never runs (we import);
- units with exactly equal costs share the demand they serve in proportion to their offers;
- the price is the cost of the *next* MW of demand (the upper end of the interval of valid
  duals): the export price while the community exports, else the cheapest unit cost with
  spare offer among those below the import price, else the import price.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Spare offer below this is treated as none when finding the unit that serves the next MW.
SPARE_TOL_MW = 1e-9


@dataclass(frozen=True)
class LemResult:
    """Clearing of one or more hours; arrays have the leading shape of the inputs."""

    p_gen_mw: np.ndarray  # (..., N) dispatch per aggregator
    p_import_mw: np.ndarray  # (...)
    p_export_mw: np.ndarray  # (...)
    price_eur_mwh: np.ndarray  # (...) LEM price (dual of the community balance)


def check_lem_inputs(offer_mw, demand_mw, import_eur_mwh, export_eur_mwh) -> None:
    """Preconditions of the merit order; raises ValueError naming the problem and the fix."""
    if np.any(np.asarray(export_eur_mwh) > np.asarray(import_eur_mwh)):
        raise ValueError(
            "LEM export price exceeds import price in some hour; the pool would be unbounded. "
            "Use PriceSettings.export_spread_factor <= 1."
        )
    if np.any(np.asarray(offer_mw) < 0) or np.any(np.asarray(demand_mw) < 0):
        raise ValueError("LEM offers and demand must be >= 0 MW.")
    if not (np.all(np.isfinite(offer_mw)) and np.all(np.isfinite(demand_mw))):
        raise ValueError("LEM offers and demand must be finite (got NaN or inf); check the data and the withholding actions.")


class MeritOrder:
    """The merit-order kernel for fixed marginal costs (one scenario): the cost order and the
    groups of equal cost are worked out once; each clearing is then a few array operations."""

    def __init__(self, cost_eur_mwh):
        cost = np.asarray(cost_eur_mwh, dtype=float)
        if cost.ndim != 1:
            raise ValueError("MeritOrder needs one marginal cost per aggregator, shape (N,)")
        self.cost = cost
        # below[j, i] = 1 if unit j is strictly cheaper than i; same[j, i] = 1 if equally expensive
        self._below = (cost[:, None] < cost[None, :]).astype(float)
        self._same = (cost[:, None] == cost[None, :]).astype(float)
        self._eye = np.eye(len(cost), dtype=bool)

    def clear(self, offer_mw, total_demand_mw, import_eur_mwh, export_eur_mwh, check: bool = True) -> LemResult:
        """Clear any number of markets at once (leading dimensions). `check=False` skips the input
        checks for callers that validated their prices and offers already (the model's hot loop)."""
        offer = np.asarray(offer_mw, dtype=float)
        total_demand = np.asarray(total_demand_mw, dtype=float)
        imp = np.asarray(import_eur_mwh, dtype=float)
        exp = np.asarray(export_eur_mwh, dtype=float)
        if check:
            check_lem_inputs(offer, total_demand, imp, exp)
        cost = self.cost
        cheap = cost <= exp[..., None]  # run fully, surplus is exported
        mid = (cost > exp[..., None]) & (cost < imp[..., None])  # run in merit order
        residual = total_demand - (offer * cheap).sum(axis=-1)  # what mid units and imports must cover
        mid_offer = offer * mid
        below = mid_offer @ self._below  # mid capacity strictly cheaper than each unit
        group = mid_offer @ self._same  # mid capacity at each unit's cost (pro-rata ties)
        share = np.clip((residual[..., None] - below) / np.where(group > 0, group, 1.0), 0.0, 1.0)
        p_gen = np.where(cheap, offer, mid_offer * share)
        p_export = np.maximum(-residual, 0.0)
        p_import = np.maximum(residual - mid_offer.sum(axis=-1), 0.0)
        p_import = np.where(p_import > SPARE_TOL_MW, p_import, 0.0)
        spare = mid & (offer - p_gen > SPARE_TOL_MW)
        next_cost = np.where(spare, cost, np.inf).min(axis=-1)
        price = np.where(residual < 0, exp, np.minimum(next_cost, imp))
        return LemResult(p_gen, p_import, p_export, price)

    def clear_with_references(self, offer_mw, truthful_offer_mw, demand_mw, import_eur_mwh: float, export_eur_mwh: float,
                              check: bool = True):
        """One hour: the market as offered, and each aggregator's truthful reference cost C^ref_n
        of (21) (aggregator n offers `truthful_offer_mw[n]`, the rest as they did). The actual
        market and its N counterfactuals are cleared in one batched call.

        Returns (LemResult of the actual market, C^ref (N,))."""
        offer = np.asarray(offer_mw, dtype=float)
        n = offer.shape[-1]
        rows = np.empty((n + 1, n))
        rows[0] = offer
        rows[1:] = np.where(self._eye, np.asarray(truthful_offer_mw, dtype=float)[None, :], offer[None, :])
        demand = np.asarray(demand_mw, dtype=float)
        if check:
            check_lem_inputs(offer, demand, np.asarray(import_eur_mwh), np.asarray(export_eur_mwh))
        res = self.clear(rows, np.full(n + 1, demand.sum()), np.full(n + 1, import_eur_mwh), np.full(n + 1, export_eur_mwh), check=False)
        p_own = np.diagonal(res.p_gen_mw[1:])
        ref = self.cost * p_own + res.price_eur_mwh[1:] * (demand - p_own)  # (2) in counterfactual n, for n
        actual = LemResult(res.p_gen_mw[0], res.p_import_mw[0], res.p_export_mw[0], res.price_eur_mwh[0])
        return actual, ref


def clear_lem(
    offer_mw: np.ndarray,
    cost_eur_mwh: np.ndarray,
    demand_mw: np.ndarray,
    import_eur_mwh: np.ndarray,
    export_eur_mwh: np.ndarray,
) -> LemResult:
    """Clear the LEM by merit order for any leading shape (hours, scenarios, ...).

    offer_mw: (..., N) offered quantity per aggregator (already net of withholding).
    cost_eur_mwh: (N,) marginal cost per aggregator.
    demand_mw: (..., N) per-aggregator demand, or (...) total community demand.
    import_eur_mwh, export_eur_mwh: (...) prices; export must not exceed import.
    """
    offer = np.asarray(offer_mw, dtype=float)
    demand = np.asarray(demand_mw, dtype=float)
    total_demand = demand.sum(axis=-1) if demand.shape == offer.shape else demand
    return MeritOrder(cost_eur_mwh).clear(offer, total_demand, import_eur_mwh, export_eur_mwh)


def lem_system_cost(result: LemResult, cost_eur_mwh, import_eur_mwh, export_eur_mwh):
    """Objective (1) of a clearing, per hour."""
    return (
        (np.asarray(cost_eur_mwh) * result.p_gen_mw).sum(axis=-1)
        + np.asarray(import_eur_mwh) * result.p_import_mw
        - np.asarray(export_eur_mwh) * result.p_export_mw
    )


def clear_lem_pulp(
    offer_mw, cost_eur_mwh, demand_mw, import_eur_mwh: float, export_eur_mwh: float, solver=None
) -> LemResult:
    """One hour of the LEM as a plain PuLP LP (the readable reference; slow)."""
    import pulp

    offer = np.asarray(offer_mw, dtype=float)
    cost = np.asarray(cost_eur_mwh, dtype=float)
    total_demand = float(np.sum(demand_mw))
    prob = pulp.LpProblem("lem", pulp.LpMinimize)
    gen = [pulp.LpVariable(f"gen_{n}", 0, float(offer[n])) for n in range(len(offer))]
    p_imp = pulp.LpVariable("import", 0)
    p_exp = pulp.LpVariable("export", 0)
    prob += pulp.lpSum(c * g for c, g in zip(cost, gen)) + import_eur_mwh * p_imp - export_eur_mwh * p_exp
    prob += pulp.lpSum(gen) + p_imp - p_exp == total_demand, "balance"
    status = prob.solve(solver or pulp.HiGHS(msg=False))
    if pulp.LpStatus[status] != "Optimal":
        raise RuntimeError(f"PuLP LEM reference: status {pulp.LpStatus[status]}")
    return LemResult(
        np.array([g.value() for g in gen]),
        np.array(p_imp.value()),
        np.array(p_exp.value()),
        np.array(prob.constraints["balance"].pi),
    )


def lem_costs_eur(p_gen_mw, demand_mw, cost_eur_mwh, price_eur_mwh):
    """(2) each aggregator's LEM net cost: own generation cost plus the net purchase at the LEM price."""
    price = np.asarray(price_eur_mwh)[..., None]
    return np.asarray(cost_eur_mwh) * p_gen_mw + price * (np.asarray(demand_mw) - p_gen_mw)
