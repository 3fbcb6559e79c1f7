"""Rule-based policies of the arbitrage design's aggregators (truthful, random, rule).

A policy acts for a *group* of aggregators in one call: `act(stage, obs, rows)` with `obs` the
rows' observations of that stage (raw units; columns named by the design), `rows` their positions
among the aggregators; it returns (len(rows), action dim) raw actions:

- stage "lem" (the primary sub-agent): the withholding fraction a1 in [0, 1];
- stage "lfm" (the secondary sub-agent): (up, down) flexibility prices in €/MWh.
"""

from __future__ import annotations

import numpy as np

#: Smallest flexibility price a rule-based or learned bidder bids (a zero-price bid makes the LFM degenerate).
MIN_FLEX_PRICE_EUR_MWH = 0.01


class TruthfulBidder:
    """Withholds nothing and bids flexibility at its true marginal cost.

    Up-regulation costs c_n per MWh to generate and earns λ+ in the balancing market (it makes the
    aggregator long); down-regulation saves c_n and costs λ- (short). So the price at which the
    aggregator is indifferent is max(c - λ+, ε) for up and max(λ- - c, ε) for down.
    `lfm_columns`: the LFM observation's column names (the design's)."""

    name = "truthful"

    def __init__(self, cost_eur_mwh: np.ndarray, flex_price_max_eur_mwh: float, lfm_columns: tuple[str, ...]):
        self.cost = np.asarray(cost_eur_mwh, dtype=float)
        self.price_max = flex_price_max_eur_mwh
        self._long = lfm_columns.index("imb_long_eur_mwh")
        self._short = lfm_columns.index("imb_short_eur_mwh")

    def act(self, stage: str, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if stage == "lem":
            return self.withhold(obs, rows)[:, None]
        return self.flex_prices(obs, rows)

    def withhold(self, obs, rows) -> np.ndarray:
        return np.zeros(len(rows))

    def flex_prices(self, obs, rows) -> np.ndarray:
        c = self.cost[rows]
        up = c - obs[:, self._long]
        dn = obs[:, self._short] - c
        return np.clip(np.stack([up, dn], axis=1), MIN_FLEX_PRICE_EUR_MWH, self.price_max)


class RandomBidder:
    """Uniformly random withholding and prices (a sanity baseline); seeded."""

    name = "random"

    def __init__(self, flex_price_max_eur_mwh: float, rng: np.random.Generator):
        self.price_max = flex_price_max_eur_mwh
        self.rng = rng

    def act(self, stage: str, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        if stage == "lem":
            return self.rng.uniform(0.0, 1.0, len(rows))[:, None]
        return self.rng.uniform(MIN_FLEX_PRICE_EUR_MWH, self.price_max, (len(rows), 2))


class WithholdingRule(TruthfulBidder):
    """A simple rule: withhold a fixed share of capacity in the hours of the day when the feeder is
    usually short (the evening peak), and bid flexibility at cost plus a markup."""

    name = "rule"

    def __init__(self, cost_eur_mwh, flex_price_max_eur_mwh, lfm_columns, lem_columns,
                 withhold=0.5, hours=(17, 18, 19, 20), markup_eur_mwh=50.0):
        super().__init__(cost_eur_mwh, flex_price_max_eur_mwh, lfm_columns)
        self.share, self.hours, self.markup = withhold, np.asarray(hours), markup_eur_mwh
        self._hour = lem_columns.index("hour_of_week")

    def withhold(self, obs, rows):
        hour_of_day = obs[:, self._hour].astype(int) % 24
        return np.where(np.isin(hour_of_day, self.hours), self.share, 0.0)

    def flex_prices(self, obs, rows):
        return np.clip(super().flex_prices(obs, rows) + self.markup, MIN_FLEX_PRICE_EUR_MWH, self.price_max)
