"""Brains: what an aggregator's two sub-agents bid, given what they observe.

A brain acts for a *group* of aggregators in one call (rows of an observation matrix), so a
learner can evaluate all its sub-agents of a stage at once. Each aggregator holds a reference
to its brain; the model groups aggregators by brain and calls each brain once per stage.

Observations (built by `LocalMarketModel`, raw units; normalising is the learner's job):
- stage 1 (LEM), per aggregator: hour of week, own net generation P̄ - D [MW], λimp, λexp [€/MWh]
- stage 2 (LFM), per aggregator: hour of week, P^sch [MW], P̄ - P^G [MW], P^G [MW], λ+, λ- [€/MWh]
Actions:
- stage 1: withholding fraction a1 in [0, 1]
- stage 2: (λ^up, λ^dn) in [0, flex_price_max]^2 [€/MWh]
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

OBS1 = ("hour_of_week", "net_generation_mw", "import_eur_mwh", "export_eur_mwh")
OBS2 = ("hour_of_week", "p_sched_mw", "up_cap_mw", "dn_cap_mw", "imb_long_eur_mwh", "imb_short_eur_mwh")

#: Smallest flexibility price a rule-based brain bids (a zero-price bid makes the LFM degenerate).
MIN_FLEX_PRICE_EUR_MWH = 0.01


class Brain(Protocol):
    name: str

    def act_lem(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """obs (n, len(OBS1)) for aggregators `rows` (indices into the model's aggregators) -> a1 (n,)"""

    def act_lfm(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """obs (n, len(OBS2)) -> (n, 2) up and down prices in €/MWh"""


class TruthfulBrain:
    """Withholds nothing and bids flexibility at its true marginal cost.

    Up-regulation costs c_n per MWh to generate and earns λ+ in the balancing market (it makes
    the aggregator long); down-regulation saves c_n and costs λ- (short). So the price at which
    the aggregator is indifferent is max(c - λ+, ε) for up and max(λ- - c, ε) for down.
    """

    name = "truthful"

    def __init__(self, cost_eur_mwh: np.ndarray, flex_price_max_eur_mwh: float):
        self.cost = np.asarray(cost_eur_mwh, dtype=float)
        self.price_max = flex_price_max_eur_mwh

    def act_lem(self, obs, rows):
        return np.zeros(len(rows))

    def act_lfm(self, obs, rows):
        c = self.cost[rows]
        up = c - obs[:, OBS2.index("imb_long_eur_mwh")]
        dn = obs[:, OBS2.index("imb_short_eur_mwh")] - c
        return np.clip(np.stack([up, dn], axis=1), MIN_FLEX_PRICE_EUR_MWH, self.price_max)


class RandomBrain:
    """Uniformly random withholding and prices (a sanity baseline); seeded."""

    name = "random"

    def __init__(self, flex_price_max_eur_mwh: float, rng: np.random.Generator):
        self.price_max = flex_price_max_eur_mwh
        self.rng = rng

    def act_lem(self, obs, rows):
        return self.rng.uniform(0.0, 1.0, len(rows))

    def act_lfm(self, obs, rows):
        return self.rng.uniform(MIN_FLEX_PRICE_EUR_MWH, self.price_max, (len(rows), 2))


class WithholdingRuleBrain(TruthfulBrain):
    """A simple rule-based strategy: withhold a fixed share of capacity in the hours of the day
    when the feeder is usually short (evening peak), and bid flexibility at cost plus a markup."""

    name = "rule"

    def __init__(self, cost_eur_mwh, flex_price_max_eur_mwh, withhold=0.5, hours=(17, 18, 19, 20), markup_eur_mwh=50.0):
        super().__init__(cost_eur_mwh, flex_price_max_eur_mwh)
        self.withhold, self.hours, self.markup = withhold, np.asarray(hours), markup_eur_mwh

    def act_lem(self, obs, rows):
        hour_of_day = obs[:, OBS1.index("hour_of_week")].astype(int) % 24
        return np.where(np.isin(hour_of_day, self.hours), self.withhold, 0.0)

    def act_lfm(self, obs, rows):
        return np.clip(super().act_lfm(obs, rows) + self.markup, MIN_FLEX_PRICE_EUR_MWH, self.price_max)


POLICIES = ("truthful", "random", "rule")


def make_brain(policy: str, cost_eur_mwh, flex_price_max_eur_mwh: float, rng: np.random.Generator) -> Brain:
    """A brain for every aggregator, by name. Trained HMADDPG runs are loaded elsewhere."""
    if policy == "truthful":
        return TruthfulBrain(cost_eur_mwh, flex_price_max_eur_mwh)
    if policy == "random":
        return RandomBrain(flex_price_max_eur_mwh, rng)
    if policy == "rule":
        return WithholdingRuleBrain(cost_eur_mwh, flex_price_max_eur_mwh)
    raise ValueError(f"unknown policy '{policy}': use one of {POLICIES} (or a trained run directory)")
