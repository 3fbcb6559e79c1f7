"""Stage 2b (balancing) and the money: settlements (19), (20) and rewards (21), (22), (25).

Sign conventions, written once for the whole project:
- Power: injections are + when exported into the grid (generation minus load); P^sch = P^G - D.
- Deviation from the LEM schedule: Delta = actual - scheduled injection = up - dn (+ renewable
  forecast error where enabled); Delta > 0 is *long*, Delta < 0 is *short*.
- Money: every `*_cost_eur` is what the aggregator pays (+) or receives (-); rewards and scores
  are cost reductions, r = -(cost) or reference cost - cost, so + is good for the aggregator.
- DLMP pi_b: marginal LFM cost of one more MW of load at bus b; an aggregator that raises its
  injection by Delta at b is paid pi_b * Delta by the DSO.
"""

from __future__ import annotations

import numpy as np


def imbalance_mw(up_mw, dn_mw, forecast_error_mw=0.0):
    """Deviation of the final injection from the LEM schedule (+ = long)."""
    return np.asarray(up_mw) - np.asarray(dn_mw) + forecast_error_mw


def lfm_costs_eur(cost_eur_mwh, dlmp_eur_mwh, up_mw, dn_mw):
    """(19) C^LFM = (c - pi)(up - dn): operating cost of the extra generation, minus the DLMP payment."""
    return (np.asarray(cost_eur_mwh) - np.asarray(dlmp_eur_mwh)) * (np.asarray(up_mw) - np.asarray(dn_mw))


def balancing_costs_eur(imbalance, imb_long_eur_mwh, imb_short_eur_mwh):
    """(20) C^BM = lambda^- * max(-Delta, 0) - lambda^+ * max(Delta, 0): short pays, long is paid."""
    imbalance = np.asarray(imbalance)
    short_price = np.asarray(imb_short_eur_mwh)[..., None] if np.ndim(imb_short_eur_mwh) < imbalance.ndim else imb_short_eur_mwh
    long_price = np.asarray(imb_long_eur_mwh)[..., None] if np.ndim(imb_long_eur_mwh) < imbalance.ndim else imb_long_eur_mwh
    return short_price * np.maximum(-imbalance, 0.0) - long_price * np.maximum(imbalance, 0.0)


def imbalance_spread_cost_eur(imbalance, da_eur_mwh, imb_long_eur_mwh, imb_short_eur_mwh):
    """What a deviation costs beyond settling the same energy at the day-ahead price (>= 0 where the
    imbalance prices lie outside the day-ahead price): (da - long price) * long + (short price - da) * short.
    `balancing_costs_eur` is the whole settlement, which also pays for (or is paid for) the energy
    itself; this is the part that deviating adds. Units as `balancing_costs_eur`'s (MW -> EUR per hour)."""
    d, da = np.asarray(imbalance), np.asarray(da_eur_mwh)
    return balancing_costs_eur(d, imb_long_eur_mwh, imb_short_eur_mwh) + da * d


def second_stage_costs_eur(cost_eur_mwh, dlmp_eur_mwh, up_mw, dn_mw, imb_long_eur_mwh, imb_short_eur_mwh,
                           forecast_error_mw=0.0):
    """One hour's stage 2 per aggregator: (deviation Delta [MW], C^LFM (19), C^BM (20)) [euro]."""
    imbalance = imbalance_mw(up_mw, dn_mw, forecast_error_mw)
    return (imbalance, lfm_costs_eur(cost_eur_mwh, dlmp_eur_mwh, up_mw, dn_mw),
            balancing_costs_eur(imbalance, imb_long_eur_mwh, imb_short_eur_mwh))


def dso_payment_eur(dlmp_at_agg_eur_mwh, up_mw, dn_mw):
    """What the DSO pays the aggregators for flexibility in total (+ = DSO pays)."""
    return (np.asarray(dlmp_at_agg_eur_mwh) * (np.asarray(up_mw) - np.asarray(dn_mw))).sum(axis=-1)


def first_stage_reward(reference_cost_eur, lem_cost_eur):
    """(21) r1 = C^ref - C^LEM (<= 0 when withholding only raises the aggregator's LEM cost)."""
    return np.asarray(reference_cost_eur) - np.asarray(lem_cost_eur)


def second_stage_reward(lfm_cost_eur, bm_cost_eur):
    """(22) r2 = -(C^LFM + C^BM)."""
    return -(np.asarray(lfm_cost_eur) + np.asarray(bm_cost_eur))


def primary_reward(r1, r2, arbitrage):
    """(25) the primary sub-agent learns from r1 + r2 if it arbitrages, else from r1 alone."""
    return np.where(np.asarray(arbitrage, dtype=bool), np.asarray(r1) + np.asarray(r2), r1)
