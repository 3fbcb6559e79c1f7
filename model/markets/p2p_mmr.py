"""Design 2: the P2P platform with mid-market-rate (MMR) pricing and the peak penalty.

MMR (Long et al. 2017; spec p2p-mmr.md), per hour, from the households' net positions only
(households bid no prices). Conventions as in `model.devices`: x_i (kW, = kWh over the 1 h step)
is + when household i needs energy, - when it has energy to sell; tariffs in EUR/MWh; money in
EUR = EUR/MWh * kWh / 1000; bills are what a household pays (+) or receives (-).

    D = sum_i max(x_i, 0)   S = sum_i max(-x_i, 0)   mid = (import + export) / 2
    S == D (incl. no trade):  buy = sell = mid
    S > D (surplus):          buy = mid,  sell = (D mid + (S - D) export) / S
    S < D (deficit):          sell = mid, buy = (S mid + (D - S) import) / D
    bill_i = buy max(x_i, 0) - sell max(-x_i, 0)

so export <= sell <= mid <= buy <= import, every household pays the same price per side, and the
bills add up to the community's own grid bill, import max(D - S, 0) - export max(S - D, 0)
(budget balance). The community imports max(D - S, 0), exports max(S - D, 0) and trades
min(D, S) peer to peer.

Peak penalty on the community's grid import P_net = max(D - S, 0), two forms:
- hourly: rho max(0, P_net - threshold) [EUR/MWh * kWh / 1000] per hour, shared among the
  households in deficit in proportion to max(x_i, 0);
- daily demand charge: pi max_t P_net [EUR/kW * kW] per day, shared in proportion to each
  household's net import max(x_i, 0) at the peak hour (ties: the first peak hour).

Every function works for one hour, x of shape (N,), and for many hours at once, x of shape
(T, N) (tariffs scalar or (T,)); the daily charge needs the day's hours, x of shape (T, N).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.devices import DT_H
from model.markets import mechanism

ERR_EXPORT_ABOVE_IMPORT = ("MMR: the export tariff exceeds the import tariff in {n} hour(s); buy and sell prices "
                           "would cross. Keep export <= import (a feed-in tariff below the retail tariff).")
ERR_NET_NOT_FINITE = ("MMR: {n} household net position(s) are NaN or inf; check the devices' executed powers, "
                      "the load and the PV data.")
ERR_TARIFF_NOT_FINITE = "MMR: the import and export tariffs must be finite (got NaN or inf); check the price data."
ERR_PEAK_RATE = "Peak penalty: the rate must be >= 0 and finite; got {rate}."
ERR_PEAK_THRESHOLD = "Peak penalty: the threshold must be >= 0 kW and finite; got {threshold}."
ERR_DAILY_SHAPE = "Daily peak penalty: net_kw must hold the day's hours, shape (T, N); got shape {shape}."


@dataclass(frozen=True)
class MmrResult:
    """One or more hours of the platform; hour arrays have the leading shape of x without N."""

    buy_eur_mwh: np.ndarray  # (...) price every household in deficit pays
    sell_eur_mwh: np.ndarray  # (...) price every household with surplus receives
    demand_kw: np.ndarray  # (...) D
    supply_kw: np.ndarray  # (...) S
    bill_eur: np.ndarray  # (..., N) + = the household pays
    grid_import_kw: np.ndarray  # (...) max(D - S, 0) = P_net
    grid_export_kw: np.ndarray  # (...) max(S - D, 0)
    p2p_kw: np.ndarray  # (...) energy traded between households, min(D, S)


@dataclass(frozen=True)
class PeakPenaltyResult:
    """The peak penalty: its total and each household's share (shares sum to the total)."""

    total_eur: np.ndarray  # hourly form: (...) per hour; daily form: (...) per day
    share_eur: np.ndarray  # hourly form: (..., N) per hour; daily form: (..., N) per day
    net_import_kw: np.ndarray  # (...) P_net per hour
    peak_hour: np.ndarray | None = None  # daily form: index of the (first) peak hour


def check_mmr_inputs(net_kw, import_eur_mwh, export_eur_mwh) -> None:
    """Preconditions of MMR; raises ValueError with the messages named above."""
    n_bad = int(np.size(net_kw) - np.isfinite(net_kw).sum())
    if n_bad:
        raise ValueError(ERR_NET_NOT_FINITE.format(n=n_bad))
    if not (np.all(np.isfinite(import_eur_mwh)) and np.all(np.isfinite(export_eur_mwh))):
        raise ValueError(ERR_TARIFF_NOT_FINITE)
    n_cross = int(np.sum(np.asarray(export_eur_mwh) > np.asarray(import_eur_mwh)))
    if n_cross:
        raise ValueError(ERR_EXPORT_ABOVE_IMPORT.format(n=n_cross))


@mechanism("p2p_mmr")
def clear_mmr(net_kw, import_eur_mwh, export_eur_mwh, check: bool = True) -> MmrResult:
    """Price and settle one hour (x shape (N,)) or many (x shape (T, N)) with the mid-market rate.

    `check=False` skips the input checks for callers that validated their inputs already."""
    x = np.asarray(net_kw, dtype=float)
    imp = np.asarray(import_eur_mwh, dtype=float)
    exp = np.asarray(export_eur_mwh, dtype=float)
    if check:
        check_mmr_inputs(x, imp, exp)
    buy_kw = np.maximum(x, 0.0)
    sell_kw = np.maximum(-x, 0.0)
    demand = buy_kw.sum(axis=-1)
    supply = sell_kw.sum(axis=-1)
    mid = 0.5 * (imp + exp)
    gap = demand - supply
    deficit, surplus = gap > 0, gap < 0
    buy = np.where(deficit, (supply * mid + gap * imp) / np.where(deficit, demand, 1.0), mid)
    sell = np.where(surplus, (demand * mid - gap * exp) / np.where(surplus, supply, 1.0), mid)
    bill = (buy[..., None] * buy_kw - sell[..., None] * sell_kw) * (DT_H / 1000.0)
    return MmrResult(buy, sell, demand, supply, bill, np.maximum(gap, 0.0), np.maximum(-gap, 0.0),
                     np.minimum(demand, supply))


def _grid_import_kw(x: np.ndarray):
    buy_kw = np.maximum(x, 0.0)
    demand = buy_kw.sum(axis=-1)
    return buy_kw, demand, np.maximum(demand - np.maximum(-x, 0.0).sum(axis=-1), 0.0)


def _check_rate(rate) -> None:
    if not (np.all(np.isfinite(rate)) and np.all(np.asarray(rate) >= 0)):
        raise ValueError(ERR_PEAK_RATE.format(rate=rate))


@mechanism("peak_penalty_hourly")
def peak_penalty_hourly(net_kw, rho_eur_mwh, threshold_kw) -> PeakPenaltyResult:
    """Per-hour penalty rho max(0, P_net - threshold) (EUR), shared in proportion to max(x_i, 0).

    rho_eur_mwh: EUR per MWh of grid import above the threshold (scalar or per hour);
    threshold_kw: the community import the platform tolerates (>= 0)."""
    x = np.asarray(net_kw, dtype=float)
    _check_rate(rho_eur_mwh)
    if not (np.all(np.isfinite(threshold_kw)) and np.all(np.asarray(threshold_kw) >= 0)):
        raise ValueError(ERR_PEAK_THRESHOLD.format(threshold=threshold_kw))
    buy_kw, demand, p_net = _grid_import_kw(x)
    total = np.asarray(rho_eur_mwh) * np.maximum(p_net - threshold_kw, 0.0) * (DT_H / 1000.0)
    # total > 0 only where P_net > 0, hence D > 0
    share = buy_kw * (total / np.where(demand > 0, demand, 1.0))[..., None]
    return PeakPenaltyResult(total, share, p_net)


@mechanism("peak_penalty_daily")
def peak_penalty_daily(net_kw, pi_eur_kw) -> PeakPenaltyResult:
    """Daily demand charge pi max_t P_net (EUR per day), shared by each household's net import
    at the peak hour; with several equal peaks, the first peak hour counts.

    net_kw: (T, N) the day's hours (or (..., T, N) for several days); pi_eur_kw: EUR per kW of peak."""
    x = np.asarray(net_kw, dtype=float)
    if x.ndim < 2:
        raise ValueError(ERR_DAILY_SHAPE.format(shape=x.shape))
    _check_rate(pi_eur_kw)
    buy_kw, demand, p_net = _grid_import_kw(x)
    peak_hour = np.argmax(p_net, axis=-1)  # the first maximum
    at_peak = lambda a: np.take_along_axis(a, peak_hour[..., None], axis=-1)[..., 0]  # noqa: E731
    peak_kw = at_peak(p_net)
    total = np.asarray(pi_eur_kw) * peak_kw
    buy_at_peak = np.take_along_axis(buy_kw, peak_hour[..., None, None], axis=-2)[..., 0, :]
    d_at_peak = at_peak(demand)
    share = buy_at_peak * (total / np.where(d_at_peak > 0, d_at_peak, 1.0))[..., None]
    return PeakPenaltyResult(total, share, p_net, peak_hour)


@mechanism("grid_only")
def grid_only(net_kw, import_eur_mwh, export_eur_mwh) -> MmrResult:
    """No platform (the baseline without P2P): every household buys its deficit at the import tariff
    and sells its surplus at the export tariff; nothing is traded between households. The community's
    grid import and export are then its total demand and supply."""
    x = np.asarray(net_kw, dtype=float)
    imp = np.asarray(import_eur_mwh, dtype=float)
    exp = np.asarray(export_eur_mwh, dtype=float)
    buy_kw, sell_kw = np.maximum(x, 0.0), np.maximum(-x, 0.0)
    demand, supply = buy_kw.sum(axis=-1), sell_kw.sum(axis=-1)
    bill = (imp[..., None] * buy_kw - exp[..., None] * sell_kw) * (DT_H / 1000.0)
    return MmrResult(np.broadcast_to(imp, demand.shape).copy(), np.broadcast_to(exp, demand.shape).copy(), demand, supply,
                     bill, demand, supply, np.zeros_like(demand))
