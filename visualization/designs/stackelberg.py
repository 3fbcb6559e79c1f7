"""The app's views of the `stackelberg` design (an aggregator leading prosumers in P2P retail auctions).

- the prices of the week so far: the leader's retail buy and sell prices against the grid's import
  and export tariffs, the auction's clearing price and the day-ahead price; the auction's volume;
- the aggregator: its day-ahead position against the community's residual, the imbalance between
  them, and its profit (and imbalance cost) since the week began;
- the followers per cluster (mean per follower): cost so far, net position, limit price, battery
  SOC, EV energy or indoor temperature (a toggle).

The plug-in interface is described in `visualization.designs`; what the household designs share
(the snapshot of column views, the per-cluster figure) in `visualization.designs.households`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import solara
from matplotlib.figure import Figure

from model.dataset import HOURS_PER_WEEK
from visualization.designs import households as hh
from visualization.figures import LiveFigure

TITLE = "localmarl: an aggregator leading prosumers in P2P retail auctions (Stackelberg)"

#: (column of the community table, label, style) of the prices drawn; the auction price as dots
#: (it has no value in an hour without trades).
PRICE_LINES = (  # the tariffs wide and pale beneath the retail prices, which run along them
    ("import_tariff_eur_mwh", "import tariff", dict(color="#85c1e9", lw=4.5, alpha=0.55)),
    ("export_tariff_eur_mwh", "export tariff", dict(color="#58d68d", lw=4.5, alpha=0.45)),
    ("da_price_eur_mwh", "day-ahead", dict(color="#7f8c8d", lw=1.0, ls=":")),
    ("retail_buy_eur_mwh", "retail buy", dict(color="#c0392b", lw=1.4)),
    ("retail_sell_eur_mwh", "retail sell", dict(color="#1e8449", lw=1.4)),
    ("auction_price_eur_mwh", "auction price", dict(color="black", lw=0, marker="o", ms=2.5)),
)
#: (column, label, style) of the aggregator's position figure.
POSITION_LINES = (
    ("residual_kw", "community residual", dict(color="black", lw=1.4)),
    ("da_position_kw", "day-ahead position", dict(color="#2471a3", lw=1.2, ls="--")),
)
COMMUNITY_COLUMNS = (*(c for c, _, _ in PRICE_LINES), *(c for c, _, _ in POSITION_LINES), "auction_volume_kwh",
                     "imbalance_kw", "imbalance_cost_eur", "leader_profit_eur")
HOUSEHOLD_COLUMNS = ("net_kw", "limit_price_eur_mwh", "battery_soc", "ev_energy_kwh", "t_in_c", "auction_eur",
                     "retail_eur", "device_penalty_eur", "storage_value_eur")
#: The per-cluster figure's choices.
CLUSTER_VIEWS = (
    hh.cost_so_far("Cost since the week began, mean per follower (auction + retail payments + device penalties "
                   "- stored energy's value)", ("auction_eur", "retail_eur", "device_penalty_eur"),
                   ("storage_value_eur",)),
    hh.NET,
    hh.cluster_mean("limit price", "Limit price, mean per follower (within [retail sell, retail buy])", "€/MWh",
                    "limit_price_eur_mwh", zero=False),
    hh.SOC, hh.EV, hh.INDOOR,
)
MOVES = {"Stackelberg (this hour's prices)": "true", "simultaneous (last hour's prices)": "false"}
AUCTION = {"on": "true", "off (retail only)": "false"}


@dataclass(frozen=True)
class StackelbergSettings:
    """The scenario's settings the views name."""

    n_households: int
    visible: bool  # the followers see this hour's retail prices before they act (else the last hour's)
    auction: bool  # False: no P2P auction, everyone trades with the aggregator

    @property
    def text(self) -> str:
        moves = "Stackelberg (followers see this hour's prices)" if self.visible else "simultaneous moves"
        auction = "P2P auction" if self.auction else "no auction (retail only)"
        return f"{self.n_households} followers, {moves}, {auction}"


clock = hh.clock  # when the last cleared hour began


def settings_of(model) -> StackelbergSettings:
    sc = model.scenario
    return StackelbergSettings(sc.n_households, sc.leader.visible, sc.auction.enabled)


def snapshot(model) -> hh.HouseholdSnapshot:
    """The design's part of the page's snapshot: references to the record's column views, O(1)."""
    return hh.take(model, COMMUNITY_COLUMNS, HOUSEHOLD_COLUMNS, settings_of(model))


# --- the status line and the controls ----------------------------------------------------------
def auction_text(h) -> str:
    """The hour's auction: its price and volume, "no trade" or "off"."""
    a = h.auction.auction
    if a is None:
        return "auction: off (retail only)"
    if a.volume_kwh <= 0 or math.isnan(a.price_eur_mwh):
        return "auction: no trade"
    return f"auction: {a.price_eur_mwh:.2f} €/MWh, {a.volume_kwh:,.1f} kWh"


def status(snap) -> list[str]:
    """The hour's retail prices, auction, the aggregator's imbalance and profit, as text."""
    h = snap.hour
    if h is None:
        return ["retail prices: no hour cleared yet"]
    r, a, x = h.retail, h.auction, h.inputs
    imbalance = f"{a.imbalance_kw:+,.1f} kW ({'long' if a.imbalance_kw > 0 else 'short'})"
    return [
        f"retail buy / sell: {r.buy_eur_mwh:.2f} / {r.sell_eur_mwh:.2f} €/MWh",
        f"import / export tariff: {x.import_eur_mwh:.2f} / {x.export_eur_mwh:.2f} €/MWh",
        auction_text(h),
        f"imbalance: {imbalance if abs(a.imbalance_kw) >= 0.05 else '0.0 kW (balanced)'}",
        f"leader profit: {a.leader_profit_eur:.2f} €",
    ]


@solara.component
def Controls(overrides: Mapping[str, object], set_override):
    """Who sees what when (`MarketModel(visible=...)`: Stackelberg or simultaneous moves) and the
    P2P auction on or off (`MarketModel(auction=...)`)."""
    hh.override_select("Moves", "visible", MOVES, overrides, set_override)
    hh.override_select("P2P auction", "auction", AUCTION, overrides, set_override)


# --- the figures -------------------------------------------------------------------------------
class PricePainter(hh.Painter):
    """Retail prices against the tariffs, the auction and day-ahead prices; the auction's volume."""

    def setup(self, fig: Figure):
        self.ax_p, self.ax_v = ax_p, ax_v = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.2))
        fig.subplots_adjust(left=0.11, right=0.97, top=0.76, bottom=0.12, hspace=0.1)
        self.lines = {col: ax_p.plot([], [], label=label, **style)[0] for col, label, style in PRICE_LINES}
        hh.legend_above(ax_p, ncols=3)
        self.bars = ax_v.bar(np.arange(HOURS_PER_WEEK), np.zeros(HOURS_PER_WEEK), width=0.9, color="#34495e")
        self.empty = ax_p.text(0.5, 0.5, "step the model to see prices", transform=ax_p.transAxes, ha="center",
                               color="#777")
        ax_p.set_ylabel("€/MWh", fontsize=9)
        ax_v.set_ylabel("auction\nvolume (kWh)", fontsize=9)
        hh.hour_axis(ax_p, label=False)
        hh.hour_axis(ax_v)
        self.title = fig.suptitle("", fontsize=10, y=0.985)

    def update(self, snap):
        t, values = hh.draw_week_lines(self.lines, snap)
        volume = hh.week_column(snap, "auction_volume_kwh")
        hh.draw_bars(self.bars, volume)
        self.empty.set_visible(len(t) == 0)
        hh.fit_ylim(self.ax_p, *values.values(), empty=(0.0, 200.0))
        self.ax_v.set_ylim(0.0, max(1.2 * float(volume.max(initial=0.0)), 1.0))
        self.title.set_text(f"Prices, {snap.week_spec} = week {snap.week} of the year (weeks 0-51)\n"
                            f"{snap.detail.settings.text}")


def leader_so_far(snap) -> dict[str, np.ndarray]:
    """The aggregator's profit and imbalance cost summed since the week began (€, per hour so far)."""
    return {c: np.cumsum(hh.week_column(snap, c)) for c in ("leader_profit_eur", "imbalance_cost_eur")}


class AggregatorPainter(hh.Painter):
    """The aggregator's day-ahead position against the community's residual and the imbalance
    between them (kW); its profit and imbalance cost since the week began."""

    def setup(self, fig: Figure):
        self.ax_q, self.ax_e = ax_q, ax_e = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.8))
        fig.subplots_adjust(left=0.11, right=0.97, top=0.8, bottom=0.12, hspace=0.32)
        self.bars = ax_q.bar(np.arange(HOURS_PER_WEEK), np.zeros(HOURS_PER_WEEK), width=0.9, color="#bb8fce",
                             label="imbalance (+ long)")
        self.lines = {col: ax_q.plot([], [], label=label, **style)[0] for col, label, style in POSITION_LINES}
        ax_q.axhline(0.0, color="#333", lw=0.6)
        hh.legend_above(ax_q, ncols=3)
        self.profit = ax_e.plot([], [], color="#1b4f72", lw=1.6, label="profit")[0]
        self.imbalance = ax_e.plot([], [], color="#8e44ad", lw=1.0, ls="--", label="imbalance cost")[0]
        ax_e.axhline(0.0, color="#333", lw=0.6)
        ax_e.legend(fontsize=8, loc="upper left", frameon=False)
        self.empty = ax_q.text(0.5, 0.5, "step the model to see the aggregator", transform=ax_q.transAxes,
                               ha="center", color="#777")
        ax_q.set_ylabel("kW (+ bought)", fontsize=9)
        ax_e.set_ylabel("€ this week", fontsize=9)
        self.money_title = ax_e.set_title("", fontsize=9, y=1.0)
        hh.hour_axis(ax_q, label=False)
        hh.hour_axis(ax_e)
        self.title = fig.suptitle("", fontsize=10, y=0.985)

    def update(self, snap):
        t, values = hh.draw_week_lines(self.lines, snap)
        imbalance = hh.week_column(snap, "imbalance_kw")
        hh.draw_bars(self.bars, imbalance)
        money = leader_so_far(snap)
        self.profit.set_data(t, money["leader_profit_eur"])
        self.imbalance.set_data(t, money["imbalance_cost_eur"])
        self.empty.set_visible(len(t) == 0)
        hh.fit_ylim(self.ax_q, *values.values(), imbalance, floor=0.0)
        hh.fit_ylim(self.ax_e, *money.values(), floor=0.0, pad=0.15)
        profit = float(money["leader_profit_eur"][-1]) if len(t) else 0.0
        self.money_title.set_text(f"Profit since the week began: {profit:,.2f} €")
        self.title.set_text(f"The aggregator (leader) and {snap.detail.settings.n_households} followers\n"
                            "day-ahead position vs. the community's residual")


# --- the views ---------------------------------------------------------------------------------
@solara.component
def Views(snap):
    """The prices and the aggregator side by side, the followers by cluster below."""
    pop = snap.detail.pop
    prices, aggregator, clusters = solara.use_memo(
        lambda: (PricePainter(pop), AggregatorPainter(pop), hh.ClusterPainter(pop, CLUSTER_VIEWS, "followers")), [pop])
    with solara.Column(gap="8px"):
        with solara.Row(gap="8px", style={"flex-wrap": "wrap", "align-items": "flex-start"}):
            with solara.Card(margin=0):
                LiveFigure("The price chart", prices.draw, (snap,))
            with solara.Card(margin=0):
                LiveFigure("The aggregator chart", aggregator.draw, (snap,))
        with solara.Card(margin=0):
            hh.ClusterView("The follower chart", clusters, snap)
