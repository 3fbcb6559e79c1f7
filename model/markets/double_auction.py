"""Design 3, stages 3 and 4: the P2P retail auction and the residual settlement (stackelberg.md).

`clear_double_auction` is a uniform-price call double auction with k = 1/2 for one hour.
`settle_residual` settles what the auction left unmatched with the aggregator at retail prices.

Sign conventions (written once here; the design's other stages use the same):
- quantity_kwh: + is a bid to buy, - is an ask to sell, 0 is no order (the participant's limit
  price is then ignored, but must still be finite).
- traded_kwh: + bought, - sold in the auction; it has the sign of the order and |traded| <= |q|.
- Every `*_eur` payment is what the participant pays (+) or receives (-).

The auction. Bids sorted by limit price, highest first, make the demand step curve; asks sorted
lowest first the supply step curve. The traded volume V is where they cross: the most energy such
that every traded kWh has a bid price >= its ask price (so trades at zero surplus, bid == ask, do
happen: V is the largest volume among the welfare-maximising ones). Bids above the marginal bid
price b* and asks below the marginal ask price a* trade in full; the orders *at* the marginal
price level of each side share what is left of V in proportion to their quantities (pro rata,
whatever their order in the input; the tie rule is tested). Everything beyond is rejected.

The price is the midpoint (k = 1/2) of the crossing interval [p_low, p_high]: the prices at which
demand and supply both equal V, i.e. where the two step curves meet.
- A marginal level that is only partly filled pins its side: the crossing falls inside that
  step, and the price must be that step's price (else its orders would want more, or less).
- A marginal level filled exactly (the crossing at a step boundary) leaves its side free
  between its own price and the next, rejected, level on that side (or without bound if none).
So p_low = max(a*, b* if the bids' marginal level is partly filled else the next bid price),
p_high = min(b*, a* if the asks' marginal level is partly filled else the next ask price), and
a* <= p_low <= price <= p_high <= b*. At that price every order is content with its fill: bids
above it and asks below it are filled in full, bids below it and asks above it get nothing.
Example: one buyer 10 kWh @ 50 and one seller 10 kWh @ 30 trade 10 kWh at 40; the same buyer
with a seller of only 4 kWh trades 4 kWh at 50 (the buyer's step is cut, the long side sets the
price).

When nothing trades (no bids, no asks, or the best bid below the best ask) the price and its
interval are NaN: no uniform price exists. Callers settle everything at retail (`settle_residual`)
and must not average or compare NaN prices unfiltered.

Vectorised: two sorts, two cumulative sums and a few searches; no Python loop over orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from model.markets import mechanism

#: A marginal level whose unfilled rest is below this (kWh) counts as filled exactly when the
#: crossing interval is worked out, so a price does not jump on cumulative-sum rounding (0.1 + 0.2).
FILL_TOL_KWH = 1e-9


@dataclass(frozen=True)
class DoubleAuctionResult:
    """One hour's auction. Per-participant arrays have shape (N,) in input order."""

    price_eur_mwh: float  # uniform price, midpoint of [price_low, price_high]; NaN if nothing trades
    price_low_eur_mwh: float  # crossing interval (NaN if nothing trades)
    price_high_eur_mwh: float
    volume_kwh: float  # energy traded (bought = sold)
    traded_kwh: np.ndarray  # + bought, - sold; same sign as the order, never more than it
    payment_eur: np.ndarray  # price * traded / 1000, + paid; sums to zero (to float rounding)
    marginal: np.ndarray  # bool: at its side's last accepted price level (b* or a*), whose orders share pro rata


@dataclass(frozen=True)
class ResidualSettlement:
    """What the aggregator settles at retail prices after the auction, per participant (N,)."""

    bought_kwh: np.ndarray  # unmatched demand, bought from the aggregator at the retail buy price
    sold_kwh: np.ndarray  # unmatched supply, sold to the aggregator at the retail sell price
    payment_eur: np.ndarray  # + paid to the aggregator; the sum is the aggregator's retail revenue


def _vectors(who: str, fixes: dict[str, str], **arrays) -> list[np.ndarray]:
    """The named arrays as floats, each (N,) and finite; a ValueError names the problem and `fixes[name]`."""
    out = [np.asarray(x, dtype=float) for x in arrays.values()]
    shapes = {name: x.shape for name, x in zip(arrays, out)}
    if out[0].ndim != 1 or any(x.shape != out[0].shape for x in out):
        raise ValueError(
            f"{who}: {', '.join(f'{name} has shape {shape}' for name, shape in shapes.items())}; "
            "pass one value per participant in each, all of shape (N,)."
        )
    for name, x in zip(arrays, out):
        if not np.isfinite(x).all():
            raise ValueError(
                f"{who}: {name} must be finite (NaN or inf at participants {np.flatnonzero(~np.isfinite(x)).tolist()}); "
                f"{fixes[name]}"
            )
    return out


_AUCTION_FIXES = {
    "quantity_kwh": "check the followers' net positions.",
    "limit_eur_mwh": "give every participant a finite limit price (a bid that must trade can bid the retail buy "
    "price; a participant with no order may give any number).",
}


def _sorted_side(key: np.ndarray, qty: np.ndarray):
    """One side in priority order (key ascending, ties in input order): order, key, qty, cumsum."""
    order = np.argsort(key, kind="stable")
    k, q = key[order], qty[order]
    return order, k, q, np.cumsum(q)


def _fill(k, q, cum, volume):
    """Fill one side, in priority order, up to `volume` (0 < volume <= cum[-1]).

    Returns (filled kWh in priority order, marginal key, [start, stop) of the marginal level,
    whether that level is filled exactly, key of the next level or +inf)."""
    j = min(int(np.searchsorted(cum, volume, side="left")), len(k) - 1)  # first order reaching V
    start = int(np.searchsorted(k, k[j], side="left"))
    stop = int(np.searchsorted(k, k[j], side="right"))
    above = cum[start - 1] if start else 0.0
    level = q[start:stop].sum()
    share = min(max((volume - above) / level, 0.0), 1.0)
    filled = q.copy()
    filled[start:stop] *= share
    filled[stop:] = 0.0
    exact = above + level - volume <= FILL_TOL_KWH
    next_key = k[stop] if stop < len(k) else np.inf
    return filled, k[j], start, stop, exact, next_key


@mechanism("double_auction")
def clear_double_auction(quantity_kwh, limit_eur_mwh) -> DoubleAuctionResult:
    """Clear one hour's uniform-price call double auction with k = 1/2 (rules in the module doc).

    quantity_kwh: (N,) signed order per participant (+ bid to buy, - ask to sell, 0 no order).
    limit_eur_mwh: (N,) limit price per participant: the most a bidder pays, the least an asker
    takes. Both finite; raises ValueError naming the problem otherwise.
    """
    q, p = _vectors("double auction", _AUCTION_FIXES, quantity_kwh=quantity_kwh, limit_eur_mwh=limit_eur_mwh)
    n = len(q)
    bids, asks = np.flatnonzero(q > 0), np.flatnonzero(q < 0)
    traded = np.zeros(n)
    marginal = np.zeros(n, dtype=bool)
    volume = 0.0
    if len(bids) and len(asks):
        # bids keyed by -price (highest first), asks by price (lowest first)
        b_order, b_key, b_q, b_cum = _sorted_side(-p[bids], q[bids])
        a_order, a_key, a_q, a_cum = _sorted_side(p[asks], -q[asks])
        # supply offered at or below each bid's price; the crossing is the largest min(D, S)
        supply_le = np.concatenate(([0.0], a_cum))[np.searchsorted(a_key, -b_key, side="right")]
        volume = float(np.minimum(b_cum, supply_le).max())
    if volume <= 0.0:
        nan = float("nan")
        return DoubleAuctionResult(nan, nan, nan, 0.0, traded, np.zeros(n), marginal)

    b_fill, b_mkey, b_start, b_stop, b_exact, b_next = _fill(b_key, b_q, b_cum, volume)
    a_fill, a_mkey, a_start, a_stop, a_exact, a_next = _fill(a_key, a_q, a_cum, volume)
    bid_price, ask_price = -b_mkey, a_mkey
    low = max(ask_price, -b_next if b_exact else bid_price)
    high = min(bid_price, a_next if a_exact else ask_price)
    price = min(max(0.5 * (low + high), low), high)

    traded[bids[b_order]] = b_fill
    traded[asks[a_order]] = 0.0 - a_fill  # (0.0 - x, not -x: no -0.0 for rejected asks)
    marginal[bids[b_order[b_start:b_stop]]] = True
    marginal[asks[a_order[a_start:a_stop]]] = True
    return DoubleAuctionResult(float(price), float(low), float(high), volume, traded, price * traded / 1000.0, marginal)


_SETTLE_FIXES = {
    "traded_kwh": "pass the auction's traded_kwh (zeros where nothing traded).",
    "quantity_kwh": "check the followers' net positions.",
}


def settle_residual(traded_kwh, quantity_kwh, retail_buy_eur_mwh, retail_sell_eur_mwh) -> ResidualSettlement:
    """Stage 4: unmatched demand buys from the aggregator at the retail buy price pi^b, unmatched
    supply sells to it at the retail sell price pi^s (pi^s <= pi^b, scalars or (N,)).

    traded_kwh: (N,) the auction's fills (`DoubleAuctionResult.traded_kwh`); quantity_kwh: (N,)
    the orders (the followers' net positions). payment = (pi^b * bought - pi^s * sold) / 1000.
    """
    traded, q = _vectors("settle_residual", _SETTLE_FIXES, traded_kwh=traded_kwh, quantity_kwh=quantity_kwh)
    buy = np.asarray(retail_buy_eur_mwh, dtype=float)
    sell = np.asarray(retail_sell_eur_mwh, dtype=float)
    if not (np.isfinite(buy).all() and np.isfinite(sell).all()) or np.any(sell > buy):
        raise ValueError(
            "settle_residual: retail prices must be finite with retail_sell_eur_mwh <= retail_buy_eur_mwh; "
            "check the leader's price action (pi^s <= pi^b)."
        )
    bad = (traded * q < 0) | (np.abs(traded) > np.abs(q) + FILL_TOL_KWH)
    if bad.any():
        raise ValueError(
            f"settle_residual: traded_kwh has the wrong sign or exceeds the order at participants {np.flatnonzero(bad).tolist()}; "
            "pass the auction's traded_kwh for these same quantity_kwh."
        )
    rest = q - traded
    bought = np.where(q > 0, np.maximum(rest, 0.0), 0.0)
    sold = np.where(q < 0, np.maximum(-rest, 0.0), 0.0)
    return ResidualSettlement(bought, sold, (buy * bought - sell * sold) / 1000.0)
