"""The app's views of the `p2p` design (households in DER clusters on an MMR platform with a peak penalty).

- the prices of the week so far: the platform's mid-market-rate buy and sell prices against the
  grid's import and export tariffs;
- the community: demand, supply and grid import against the peak penalty's threshold, and the
  peak penalty per hour;
- per cluster (mean per household): net position, battery SOC, EV energy, indoor temperature or
  cost so far (a toggle).

The plug-in interface is described in `visualization.designs`; what the household designs share
(the snapshot of column views, the per-cluster figure) in `visualization.designs.households`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import solara
from matplotlib.figure import Figure

from model.dataset import HOURS_PER_WEEK
from visualization.designs import households as hh
from visualization.figures import LiveFigure

TITLE = "localmarl: households trading peer to peer at the mid-market rate (P2P, peak penalty)"

#: (column of the community table, label, style) of the prices drawn.
PRICE_LINES = (  # the tariffs wide and pale beneath the prices, which often run along them
    ("import_tariff_eur_mwh", "import tariff", dict(color="#85c1e9", lw=4.5, alpha=0.55)),
    ("export_tariff_eur_mwh", "export tariff", dict(color="#58d68d", lw=4.5, alpha=0.45)),
    ("buy_price_eur_mwh", "MMR buy", dict(color="#c0392b", lw=1.4)),
    ("sell_price_eur_mwh", "MMR sell", dict(color="#1e8449", lw=1.4)),
)
#: (column of the community table, label, style) of the community's power drawn.
POWER_LINES = (  # demand wide and pale beneath the grid import, which is the demand the supply leaves
    ("demand_kw", "demand", dict(color="#f0b27a", lw=4.5, alpha=0.7)),
    ("supply_kw", "supply", dict(color="#27ae60", lw=1.4)),
    ("grid_import_kw", "grid import", dict(color="black", lw=1.2)),
)
COMMUNITY_COLUMNS = (*(c for c, _, _ in PRICE_LINES), *(c for c, _, _ in POWER_LINES), "peak_penalty_eur")
HOUSEHOLD_COLUMNS = ("net_kw", "battery_soc", "ev_energy_kwh", "t_in_c", "bill_eur", "peak_penalty_eur",
                     "device_penalty_eur", "storage_value_eur")
#: The per-cluster figure's choices.
CLUSTER_VIEWS = (
    hh.NET, hh.SOC, hh.EV, hh.INDOOR,
    hh.cost_so_far("Cost since the week began, mean per household (bill + peak share + device penalties "
                   "- stored energy's value)", ("bill_eur", "peak_penalty_eur", "device_penalty_eur"),
                   ("storage_value_eur",)),
)
#: The households counts the control offers (building 3,000 takes ~2 s).
N_HOUSEHOLDS = (50, 100, 300, 1000, 3000)
PEAK_FORMS = {"hourly (above a threshold)": "hourly", "daily (demand charge)": "daily", "none": "none"}
_PEAK_STATUS = {"hourly": "peak penalty: {:.2f} €", "daily": "daily demand charge: {:.2f} € (at the day's last hour)",
                "none": "peak penalty: none"}
_PEAK_FORM_TEXT = {"hourly": "hourly peak penalty", "daily": "daily demand charge", "none": "no peak penalty"}


@dataclass(frozen=True)
class P2PSettings:
    """The scenario's settings the views name."""

    n_households: int
    p2p: bool  # False: everyone trades with the grid at the tariffs
    peak_penalty: str  # "hourly", "daily" or "none"
    threshold_kw: float | None  # the community's import above which the hourly penalty is paid (hourly form)

    @property
    def text(self) -> str:
        platform = "MMR platform" if self.p2p else "no platform (grid tariffs)"
        return f"{self.n_households} households, {platform}, {_PEAK_FORM_TEXT[self.peak_penalty]}"


clock = hh.clock  # when the last cleared hour began


def settings_of(model) -> P2PSettings:
    sc = model.scenario
    pf = sc.platform
    threshold = pf.peak_threshold_kw_per_household * sc.n_households if pf.peak_penalty == "hourly" else None
    return P2PSettings(sc.n_households, pf.p2p, pf.peak_penalty, threshold)


def snapshot(model) -> hh.HouseholdSnapshot:
    """The design's part of the page's snapshot: references to the record's column views, O(1)."""
    return hh.take(model, COMMUNITY_COLUMNS, HOUSEHOLD_COLUMNS, settings_of(model))


# --- the status line and the controls ----------------------------------------------------------
def status(snap) -> list[str]:
    """The hour's platform prices, tariffs, grid import and peak penalty, as text."""
    h = snap.hour
    if h is None:
        return ["MMR prices: no hour cleared yet"]
    r, x, s = h.p2p, h.inputs, snap.detail.settings
    prices = "MMR buy / sell" if s.p2p else "buy / sell at the tariffs (no platform)"
    threshold = f" (threshold {s.threshold_kw:,.1f} kW)" if s.threshold_kw is not None else ""
    return [
        f"{prices}: {float(r.mmr.buy_eur_mwh):.2f} / {float(r.mmr.sell_eur_mwh):.2f} €/MWh",
        f"import / export tariff: {x.import_eur_mwh:.2f} / {x.export_eur_mwh:.2f} €/MWh",
        f"grid import: {float(r.mmr.grid_import_kw):,.1f} kW{threshold}",
        _PEAK_STATUS[s.peak_penalty].format(r.peak_penalty_eur),
    ]


@solara.component
def Controls(overrides: Mapping[str, object], set_override):
    """The platform on or off, the peak penalty's form and the number of households
    (`MarketModel(p2p=..., peak_penalty=..., n_households=...)`)."""
    hh.override_select("P2P platform", "p2p", {"on (MMR prices)": "true", "off (grid tariffs)": "false"},
                       overrides, set_override)
    hh.override_select("Peak penalty", "peak_penalty", PEAK_FORMS, overrides, set_override)
    hh.override_select("Households", "n_households", {str(n): n for n in N_HOUSEHOLDS}, overrides, set_override)


# --- the figures -------------------------------------------------------------------------------
class PricePainter(hh.Painter):
    """The MMR prices against the tariffs over the week's hours so far."""

    def setup(self, fig: Figure):
        self.ax = ax = fig.add_axes((0.11, 0.12, 0.86, 0.68))
        self.lines = {col: ax.plot([], [], label=label, **style)[0] for col, label, style in PRICE_LINES}
        hh.legend_above(ax, ncols=4)
        self.empty = ax.text(0.5, 0.5, "step the model to see prices", transform=ax.transAxes, ha="center",
                             color="#777")
        ax.set_ylabel("€/MWh", fontsize=9)
        hh.hour_axis(ax)
        self.title = fig.suptitle("", fontsize=10, y=0.985)

    def update(self, snap):
        t, values = hh.draw_week_lines(self.lines, snap)
        self.empty.set_visible(len(t) == 0)
        hh.fit_ylim(self.ax, *values.values(), empty=(0.0, 200.0))
        self.title.set_text(f"Prices, {snap.week_spec} = week {snap.week} of the year (weeks 0-51)\n"
                            f"{snap.detail.settings.text}")


class CommunityPainter(hh.Painter):
    """The community's demand, supply and grid import (with the hourly penalty's threshold) and
    the peak penalty paid each hour."""

    def setup(self, fig: Figure):
        self.ax_p, self.ax_pen = ax_p, ax_pen = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1.2))
        fig.subplots_adjust(left=0.11, right=0.97, top=0.8, bottom=0.12, hspace=0.1)
        self.lines = {col: ax_p.plot([], [], label=label, **style)[0] for col, label, style in POWER_LINES}
        self.threshold = ax_p.axhline(0.0, color="#c0392b", lw=1.0, ls="--", label="penalty threshold")
        hh.legend_above(ax_p, ncols=4)
        self.bars = ax_pen.bar(np.arange(HOURS_PER_WEEK), np.zeros(HOURS_PER_WEEK), width=0.9, color="#c0392b")
        self.empty = ax_p.text(0.5, 0.5, "step the model to see the community", transform=ax_p.transAxes,
                               ha="center", color="#777")
        ax_p.set_ylabel("kW", fontsize=9)
        ax_pen.set_ylabel("peak\npenalty (€)", fontsize=9)
        hh.hour_axis(ax_p, label=False)
        hh.hour_axis(ax_pen)
        self.title = fig.suptitle("", fontsize=10, y=0.985)

    def update(self, snap):
        s = snap.detail.settings
        t, values = hh.draw_week_lines(self.lines, snap)
        self.threshold.set_visible(s.threshold_kw is not None)
        self.threshold.set_ydata([s.threshold_kw or 0.0] * 2)
        penalty = hh.week_column(snap, "peak_penalty_eur")
        hh.draw_bars(self.bars, penalty)
        self.empty.set_visible(len(t) == 0)
        hh.fit_ylim(self.ax_p, *values.values(), floor=0.0, ceiling=s.threshold_kw, empty=(0.0, 1.0))
        self.ax_pen.set_ylim(0.0, max(1.2 * float(penalty.max(initial=0.0)), 1.0))
        form = {"hourly": f"hourly peak penalty above {s.threshold_kw or 0:,.0f} kW of grid import",
                "daily": "daily demand charge (paid at the day's last hour)", "none": "no peak penalty"}
        self.title.set_text(f"The community's power ({s.n_households} households)\n{form[s.peak_penalty]}")


# --- the views ---------------------------------------------------------------------------------
@solara.component
def Views(snap):
    """The prices and the community side by side, the clusters below."""
    pop = snap.detail.pop
    prices, community, clusters = solara.use_memo(
        lambda: (PricePainter(pop), CommunityPainter(pop), hh.ClusterPainter(pop, CLUSTER_VIEWS)), [pop])
    with solara.Column(gap="8px"):
        with solara.Row(gap="8px", style={"flex-wrap": "wrap", "align-items": "flex-start"}):
            with solara.Card(margin=0):
                LiveFigure("The price chart", prices.draw, (snap,))
            with solara.Card(margin=0):
                LiveFigure("The community chart", community.draw, (snap,))
        with solara.Card(margin=0):
            hh.ClusterView("The cluster chart", clusters, snap)
