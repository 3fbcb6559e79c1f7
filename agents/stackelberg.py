"""The Stackelberg design's Mesa agents: the aggregator (the leader, who sets retail prices and takes
a day-ahead position) and the auctioneer that clears each hour; the records both stages leave; and
the rule-based policies of the leader and the followers.

Money: + = the participant pays. Energy: kW over one hour = kWh. The aggregator's position: q^DA
(+ = bought day-ahead); the community's residual R (+ = the community buys from the aggregator);
its deviation q^DA - R (+ = long) settles at the imbalance prices through the balancing market's
settlement function (`model.markets.settlement.balancing_costs_eur`), as in the arbitrage design.
"""

from __future__ import annotations

from typing import NamedTuple

import mesa
import numpy as np

from model import devices
from model.markets import double_auction, settlement

#: A follower's action: its devices (battery in [-1, 1], EV and heat pump in [0, 1]) and its limit price,
#: a share of the way from the retail sell price (0) to the retail buy price (1).
FOLLOWER_ACTIONS = ("battery", "ev", "heat_pump", "limit_price")
#: The leader's action: the retail sell price, a share of the way from the export to the import tariff;
#: the retail buy price, a share of the way from the retail sell price to the import tariff; the day-ahead
#: position relative to the leader's forecast of the residual: 0 buys the forecast, + a share of the way
#: from it up to the bound, - down to minus the bound (`da_position_kw`).
LEADER_ACTIONS = ("sell_price_share", "buy_price_share", "da_position_share_from_forecast")


def da_position_kw(share, forecast_kw, bound_kw) -> float:
    """The leader's day-ahead position q (kW, + bought) for its action share a in [-1, 1]: the forecast
    F of the residual (clipped to the bound B) for a = 0, F + a (B - F) for a > 0 and F + a (B + F) for
    a < 0, so a = +-1 reach +-B from any forecast. Hedging the forecast is the zero action, and a
    learner's exploration around it stays near the residual (an absolute share of the bound puts the
    zero action at a 0 kW position whatever the community needs)."""
    f = float(np.clip(forecast_kw, -bound_kw, bound_kw))
    a = float(np.clip(share, -1.0, 1.0))
    return f + a * (bound_kw - f) if a >= 0 else f + a * (bound_kw + f)


def da_position_share(position_kw, forecast_kw, bound_kw) -> float:
    """The action share that `da_position_kw` maps to `position_kw` (clipped to the bound)."""
    f = float(np.clip(forecast_kw, -bound_kw, bound_kw))
    q = float(np.clip(position_kw, -bound_kw, bound_kw))
    room = bound_kw - f if q >= f else bound_kw + f
    return (q - f) / room if room > 0 else 0.0


class Aggregator(mesa.Agent):
    """The leader: it buys the community's residual and sells it its deficit at retail prices, and
    trades the difference day-ahead and in the imbalance settlement."""

    participant_id = "aggregator"

    def __init__(self, model, policy=None):
        super().__init__(model)
        self.policy = policy


class StackelbergInputs(NamedTuple):
    load_kw: np.ndarray
    pv_kw: np.ndarray
    t_out_c: float
    import_eur_mwh: float  # grid tariffs: they bound the retail prices
    export_eur_mwh: float
    da_eur_mwh: float
    imb_long_eur_mwh: float  # paid for a long position
    imb_short_eur_mwh: float  # paid when short
    hour_of_day: int
    forecast_residual_kw: float  # the leader's forecast of the community residual R this hour: load minus PV
    # (perfect, *reconstructed*; the abstract gives no forecast model), computed once in `begin_hour`


class RetailRecord(NamedTuple):
    """The leader's move: retail prices (€/MWh) and day-ahead position (kW, + bought)."""

    buy_eur_mwh: float
    sell_eur_mwh: float
    da_position_kw: float


class AuctionRecord(NamedTuple):
    """The followers' hour: devices, the auction, the residual at retail prices, the wholesale settlement."""

    requested: np.ndarray  # (N, 4)
    executed_actions: np.ndarray  # (N, 4): the devices' projection; the limit price share as asked
    step: devices.StepResult
    net_kw: np.ndarray  # (N,) the orders: + bid to buy, - ask to sell
    limit_eur_mwh: np.ndarray  # (N,)
    auction: double_auction.DoubleAuctionResult | None  # None without the auction (retail only)
    residual: double_auction.ResidualSettlement
    residual_kw: float  # R: + = the community buys from the aggregator
    imbalance_kw: float  # q^DA - R (+ = the aggregator is long)
    da_cost_eur: float  # λ^DA q^DA
    imbalance_cost_eur: float  # what the aggregator pays in the imbalance settlement
    leader_profit_eur: float  # retail revenue - day-ahead cost - imbalance cost
    ev_penalty_eur: np.ndarray
    comfort_penalty_eur: np.ndarray
    storage_value_eur: np.ndarray  # credited this hour (the day's last, or hourly for the battery: [penalties].storage_credit)
    follower_reward: np.ndarray  # - (auction + retail payments + device penalties) + stored value
    collective: np.ndarray  # the auction's public information for the critics


class Auctioneer(mesa.Agent):
    """Clears the followers' stage: devices, the uniform-price double auction, the residual at retail
    prices and the aggregator's wholesale settlement."""

    def __init__(self, model, design):
        super().__init__(model)
        self.design = design

    def post(self, hour, actions: np.ndarray) -> RetailRecord:
        """The leader's move, mapped from its action shares onto prices within the grid tariffs."""
        x = hour.inputs
        sell = x.export_eur_mwh + actions[0, 0] * (x.import_eur_mwh - x.export_eur_mwh)
        buy = sell + actions[0, 1] * (x.import_eur_mwh - sell)
        d = self.design
        return RetailRecord(float(buy), float(sell), da_position_kw(actions[0, 2], x.forecast_residual_kw, d.da_bound_kw))

    def clear(self, hour, actions: np.ndarray) -> AuctionRecord:
        d, x, r = self.design, hour.inputs, hour.retail
        step = devices.step(d.params, d.state, x.hour_of_day, x.t_out_c, actions[:, 0], actions[:, 1], actions[:, 2])
        share = np.clip(actions[:, 3], 0.0, 1.0)
        executed = np.column_stack([step.bat_action, step.ev_action, step.hp_action, share])
        net = x.load_kw + step.bat_kw + step.ev_kw + step.hp_kw - x.pv_kw
        limit = r.sell_eur_mwh + share * (r.buy_eur_mwh - r.sell_eur_mwh)
        if d.auction_enabled:
            auction = double_auction.clear_double_auction(net, limit)
            traded, paid = auction.traded_kwh, auction.payment_eur
        else:
            auction, traded, paid = None, d.zeros, d.zeros
        residual = double_auction.settle_residual(traded, net, r.buy_eur_mwh, r.sell_eur_mwh)
        resid_kw = float(residual.bought_kwh.sum() - residual.sold_kwh.sum())
        imbalance_kw, da_cost, imb_cost, profit = self.wholesale(x, r, residual, resid_kw)
        ev_pen = step.ev_unmet_kwh * (d.ev_penalty_factor * x.import_eur_mwh / 1000.0)
        comfort = step.comfort_violation_kh * d.comfort_eur_kh
        last = x.hour_of_day == devices.HOURS_PER_DAY - 1
        stored = d.storage_credit_eur(d.stored_value(step.state) if last else d.zeros, step.state, last)
        reward = stored - (paid + residual.payment_eur + ev_pen + comfort)
        return AuctionRecord(actions, executed, step, net, limit, auction, residual, resid_kw, imbalance_kw, da_cost,
                             imb_cost, profit, ev_pen, comfort, stored, reward, d.collective(r, auction, resid_kw))

    @staticmethod
    def wholesale(x: StackelbergInputs, r: RetailRecord, residual, resid_kw: float) -> tuple[float, float, float, float]:
        """The leader's settlement of an hour whose residual R the retail trades `residual` left: (imbalance q^DA - R
        (kW), day-ahead cost, imbalance cost, profit = retail revenue - both costs; €)."""
        imbalance_kw = r.da_position_kw - resid_kw
        da_cost = x.da_eur_mwh * r.da_position_kw / 1000.0
        imb_cost = float(settlement.balancing_costs_eur(np.array([imbalance_kw / 1000.0]), x.imb_long_eur_mwh,
                                                        x.imb_short_eur_mwh)[0])
        return imbalance_kw, da_cost, imb_cost, float(residual.payment_eur.sum()) - da_cost - imb_cost


# --- policies -------------------------------------------------------------------------------------
class TariffLeader:
    """Retail prices at the grid tariffs (the aggregator as a default supplier; with `margin`, that
    share of the tariff spread inside them on each side) and a day-ahead position of its forecast of
    the community's residual: `forecast(design)` (kW), by default this hour's load minus PV."""

    name = "tariff"

    def __init__(self, design, margin: float = 0.0, forecast=None):
        self.design, self.margin = design, margin
        self.forecast = forecast

    def act(self, stage, obs, rows):
        d = self.design
        da = 0.0 if self.forecast is None else da_position_share(self.forecast(d), d.current_inputs.forecast_residual_kw,
                                                                 d.da_bound_kw)  # 0: the leader's own forecast
        return np.array([[self.margin, 1.0 - self.margin, da]])[rows]


class RuleFollowers:
    """The followers' rules: the P2P design's device rules (`model.devices.rule_actions`) and
    truthful limit prices (a buyer bids the retail buy price, a seller asks the retail sell price:
    neither does worse in the auction than with the aggregator)."""

    name = "rule"

    def __init__(self, design):
        self.design = design

    def plan(self) -> tuple[np.ndarray, np.ndarray]:
        """(device actions (N, 3), net positions (N,) kW) the rules take this hour."""
        d, x = self.design, self.design.current_inputs
        bat, ev, hp = devices.rule_actions(d.params, d.state, x.hour_of_day, x.load_kw, x.pv_kw, x.t_out_c)
        step = devices.step(d.params, d.state, x.hour_of_day, x.t_out_c, bat, ev, hp)
        return np.column_stack([bat, ev, hp]), x.load_kw + step.bat_kw + step.ev_kw + step.hp_kw - x.pv_kw

    def act(self, stage, obs, rows):
        acts, net = self.plan()
        return np.column_stack([acts, (net > 0).astype(float)])[rows]


class RulePlay:
    """The rule-based game: the leader at the grid tariffs (with a margin), followers by their rules.
    The leader knows the rules, so it commits the residual they will produce day-ahead (the best
    forecast an aggregator of rule-run devices can have: its imbalance comes only from the clipping
    of its position to its bound)."""

    def __init__(self, design, name: str, margin: float):
        self.name = name
        self.followers = RuleFollowers(design)
        self.leader = TariffLeader(design, margin, forecast=lambda d: float(self.followers.plan()[1].sum()))

    def act(self, stage, obs, rows):
        return self.leader.act(stage, obs, rows) if stage == "retail" else self.followers.act(stage, obs, rows)
