"""A small market design that lives outside the framework: two sellers in a uniform-price pool.

It is the README's "Adding a market design" example: a mechanism (a pure function, registered by
name), the participants (Mesa agents), two policies, a scenario class, one stage, and the tidy
record. Nothing in model/, agents/ or runs/ knows it; a scenario file names it
(`design = "tests.toy_design:TwoSellerPool"`), and `localmarl simulate` and the PettingZoo env run it.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import ClassVar, NamedTuple

import mesa
import numpy as np

from model.design import OWN, SHARED, TIME, ActionSpec, Feature, Hour, MarketDesign, Stage
from model.markets import mechanism
from model.record import Output, TableSpec
from model.scenario import ScenarioError


# --- 1. the mechanism: arrays in, a result out ---------------------------------------------------
class PoolResult(NamedTuple):
    price_eur_mwh: float  # the uniform price: the highest accepted bid
    sold_mw: np.ndarray  # per seller


@mechanism("toy_uniform_pool")
def clear_uniform_pool(bid_eur_mwh: np.ndarray, capacity_mw: np.ndarray, demand_mw: float) -> PoolResult:
    """Accept bids from the cheapest until demand is met; every accepted MW is paid the marginal bid."""
    order = np.argsort(bid_eur_mwh, kind="stable")
    before = np.concatenate([[0.0], np.cumsum(capacity_mw[order])[:-1]])
    sold = np.zeros_like(capacity_mw)
    sold[order] = np.clip(demand_mw - before, 0.0, capacity_mw[order])
    accepted = sold > 0
    return PoolResult(float(bid_eur_mwh[accepted].max()) if accepted.any() else 0.0, sold)


# --- 2. the scenario ----------------------------------------------------------------------------
@dataclass(frozen=True)
class PoolScenario:
    design: ClassVar[str] = "tests.toy_design:TwoSellerPool"
    OVERRIDES: ClassVar[dict[str, type]] = {"demand_mw": float}  # what a model, a sweep or the app may change

    name: str
    description: str
    cost_eur_mwh: tuple[float, float]
    capacity_mw: tuple[float, float]
    demand_mw: float  # mean demand; it swings by a third over the day
    source: str = ""

    @classmethod
    def from_raw(cls, raw: dict, where: str, stem: str) -> "PoolScenario":
        known = {"name", "description", "cost_eur_mwh", "capacity_mw", "demand_mw"}
        if set(raw) - known:
            raise ScenarioError(f"{where}: unknown key(s) {sorted(set(raw) - known)}; valid keys: {sorted(known)}")
        for key in ("cost_eur_mwh", "capacity_mw"):
            if len(raw.get(key, ())) != 2:
                raise ScenarioError(f"{where}: {key} must list two numbers, one per seller")
        return cls(raw.get("name", stem), raw.get("description", ""), tuple(raw["cost_eur_mwh"]),
                   tuple(raw["capacity_mw"]), float(raw.get("demand_mw", 1.5)), where)

    def with_overrides(self, **kw) -> "PoolScenario":
        if set(kw) - set(self.OVERRIDES):
            raise ScenarioError(f"unknown scenario override(s) {sorted(set(kw) - set(self.OVERRIDES))}")
        value = kw.get("demand_mw")
        if value is not None and not (math.isfinite(value) and value >= 0):
            raise ScenarioError(f"override demand_mw must be a finite number >= 0, got {value!r}")
        return self if value is None else replace(self, demand_mw=float(value))

    def to_dict(self) -> dict:
        return asdict(self) | {"design": self.design}


# --- 3. participants and policies ---------------------------------------------------------------
class Seller(mesa.Agent):
    def __init__(self, model, seller_id: int):
        super().__init__(model)
        self.participant_id = seller_id
        self.policy = None


class Truthful:
    name = "truthful"

    def __init__(self, cost):
        self.cost = np.asarray(cost)

    def act(self, stage, obs, rows):
        return self.cost[rows][:, None]  # bid the marginal cost


class Random:
    name = "random"

    def __init__(self, rng, price_max):
        self.rng, self.price_max = rng, price_max

    def act(self, stage, obs, rows):
        return self.rng.uniform(0.0, self.price_max, (len(rows), 1))


class PoolRecord(NamedTuple):
    bid_eur_mwh: np.ndarray
    price_eur_mwh: float
    sold_mw: np.ndarray
    profit_eur: np.ndarray


# --- 4. the design: one stage per hour --------------------------------------------------------
class TwoSellerPool(MarketDesign):
    name = "two-seller-pool"
    scenario_class = PoolScenario
    policies = ("truthful", "random")
    roles = ("seller",)
    participant_label = "seller"
    score_columns = ("profit_eur",)
    PRICE_MAX = 100.0

    def __init__(self, model):
        super().__init__(model)
        sc = model.scenario
        self.cost, self.capacity = np.array(sc.cost_eur_mwh), np.array(sc.capacity_mw)
        self.sellers = [Seller(model, i + 1) for i in range(2)]
        self.stages = (
            Stage("pool", self.clear, role="seller", mechanism="toy_uniform_pool",
                  observation=(Feature("hour_of_week", TIME, low=0, high=167),
                               Feature("demand_mw", SHARED, low=0.0, high=10.0),
                               Feature("cost_eur_mwh", OWN, low=0.0, high=self.PRICE_MAX)),
                  observe=self.observe, action=ActionSpec(("bid_eur_mwh",), (0.0,), (self.PRICE_MAX,)),
                  pay=lambda h: {"seller": h.pool.profit_eur}),
        )

    def participants(self):
        return self.sellers

    def make_policy(self, name, rng):
        if name == "truthful":
            return Truthful(self.cost)
        if name == "random":
            return Random(rng, self.PRICE_MAX)
        raise ValueError(f"unknown policy '{name}': use one of {', '.join(self.policies)}")

    def load_week(self, week):
        pass  # the demand is a daily shape; no data to load

    def begin_hour(self, week, hour_of_week):
        demand = self.model.scenario.demand_mw * (1 + math.sin(2 * math.pi * hour_of_week / 24) / 3)
        return Hour(week, hour_of_week, demand)

    def observe(self, h):
        return np.column_stack([np.full(2, h.hour_of_week), np.full(2, h.inputs), self.cost])

    def clear(self, h, actions):
        bids = actions[:, 0]
        res = clear_uniform_pool(bids, self.capacity, h.inputs)
        return PoolRecord(bids, res.price_eur_mwh, res.sold_mw, (res.price_eur_mwh - self.cost) * res.sold_mw)

    def hour_scores(self, h):
        return (h.pool.profit_eur,)

    # the tidy record, and what `localmarl simulate` writes from it
    def tables(self):
        return {"sellers": TableSpec({"hour": "int64", "seller": "int64", "bid_eur_mwh": "float64", "sold_mw": "float64",
                                      "profit_eur": "float64"}, 2),
                "market": TableSpec({"hour": "int64", "demand_mw": "float64", "price_eur_mwh": "float64"}, 1)}

    def record(self, h, i):
        p = h.pool
        return {"sellers": {"hour": i, "seller": [1, 2], "bid_eur_mwh": p.bid_eur_mwh, "sold_mw": p.sold_mw,
                            "profit_eur": p.profit_eur},
                "market": {"hour": i, "demand_mw": h.inputs, "price_eur_mwh": p.price_eur_mwh}}

    outputs = {"sellers": Output("sellers", ("hour", "seller", "bid_eur_mwh", "sold_mw", "profit_eur")),
               "market": Output("market", ("hour", "demand_mw", "price_eur_mwh"))}

    def summary(self, record):
        profit = record.frame("sellers").groupby("seller").profit_eur.sum()
        return f"mean price {record.column('market', 'price_eur_mwh').mean():.2f} €/MWh; profit per seller: {profit.round(2).to_dict()}"
