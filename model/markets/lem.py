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


def clear_lem(
    offer_mw: np.ndarray,
    cost_eur_mwh: np.ndarray,
    demand_mw: np.ndarray,
    import_eur_mwh: np.ndarray,
    export_eur_mwh: np.ndarray,
) -> LemResult:
    """Clear the LEM by merit order for any leading shape (hours, scenarios, ...).

    offer_mw: (..., N) offered quantity per aggregator (already net of withholding).
    cost_eur_mwh: (N,) or (..., N) marginal cost per aggregator.
    demand_mw: (..., N) per-aggregator demand, or (...) total community demand.
    import_eur_mwh, export_eur_mwh: (...) prices; export must not exceed import.
    """
    offer = np.asarray(offer_mw, dtype=float)
    cost = np.broadcast_to(np.asarray(cost_eur_mwh, dtype=float), offer.shape)
    demand = np.asarray(demand_mw, dtype=float)
    total_demand = demand.sum(axis=-1) if demand.shape == offer.shape else demand
    imp = np.broadcast_to(np.asarray(import_eur_mwh, dtype=float), total_demand.shape)
    exp = np.broadcast_to(np.asarray(export_eur_mwh, dtype=float), total_demand.shape)
    if np.any(exp > imp):
        raise ValueError(
            "LEM export price exceeds import price in some hour; the pool would be unbounded. "
            "Use PriceSettings.export_spread_factor <= 1."
        )
    if np.any(offer < 0) or np.any(total_demand < 0):
        raise ValueError("LEM offers and demand must be >= 0 MW.")

    cheap = cost <= exp[..., None]  # run fully, surplus is exported
    mid = (cost > exp[..., None]) & (cost < imp[..., None])  # run in merit order
    supply_cheap = np.where(cheap, offer, 0.0).sum(axis=-1)
    residual = total_demand - supply_cheap  # what mid units and imports must cover

    # Capacity of mid units strictly cheaper than unit i, and of its own cost group.
    mid_offer = np.where(mid, offer, 0.0)
    lower = cost[..., None, :] < cost[..., :, None]  # [..., i, j]: c_j < c_i
    same = cost[..., None, :] == cost[..., :, None]
    below = (mid_offer[..., None, :] * lower).sum(axis=-1)
    group = (mid_offer[..., None, :] * same).sum(axis=-1)
    share = np.clip(
        (residual[..., None] - below) / np.where(group > 0, group, 1.0), 0.0, 1.0
    )
    p_gen = np.where(cheap, offer, np.where(mid, offer * share, 0.0))

    p_export = np.maximum(-residual, 0.0)
    p_import = np.maximum(residual - mid_offer.sum(axis=-1), 0.0)
    p_import = np.where(p_import > SPARE_TOL_MW, p_import, 0.0)

    spare = mid & (offer - p_gen > SPARE_TOL_MW)
    next_cost = np.where(spare, cost, np.inf).min(axis=-1)
    price = np.where(residual < 0, exp, np.minimum(next_cost, imp))
    return LemResult(p_gen, p_import, p_export, price)


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


def truthful_reference_costs_eur(offer_mw, truthful_offer_mw, cost_eur_mwh, demand_mw, import_eur_mwh, export_eur_mwh):
    """C^ref_n of (21): aggregator n's LEM cost had it offered `truthful_offer_mw[..., n]`, everyone
    else as they did. Clears N counterfactual markets per hour in one vectorised call."""
    offer = np.asarray(offer_mw, dtype=float)
    n = offer.shape[-1]
    eye = np.eye(n, dtype=bool)
    # counterfactual k: aggregator k truthful, the rest as offered -> shape (..., k, N)
    cf_offer = np.where(eye, np.asarray(truthful_offer_mw)[..., None, :], offer[..., None, :])
    cost = np.broadcast_to(np.asarray(cost_eur_mwh, dtype=float), offer.shape)[..., None, :]
    demand = np.asarray(demand_mw, dtype=float)
    imp = np.asarray(import_eur_mwh, dtype=float)[..., None]
    exp = np.asarray(export_eur_mwh, dtype=float)[..., None]
    cf = clear_lem(cf_offer, np.broadcast_to(cost, cf_offer.shape), demand.sum(axis=-1)[..., None], imp, exp)
    cf_costs = lem_costs_eur(cf.p_gen_mw, demand[..., None, :], cost, cf.price_eur_mwh)  # (..., k, N)
    return np.diagonal(cf_costs, axis1=-2, axis2=-1)
