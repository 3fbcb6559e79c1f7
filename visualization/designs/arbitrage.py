"""The app's views of the `arbitrage` design (aggregators on the CIGRE MV feeder: LEM, LFM, balancing).

- the feeder: buses coloured by voltage or DLMP, lines by loading, a ring where the DSO bought
  flexibility this hour, the aggregators' numbers at their buses;
- the prices of the week so far: LEM, import/export, imbalance long/short, and every bus's DLMP;
- per aggregator: cumulative first-stage (LEM), second-stage (LFM + balancing) and total score,
  mean withholding and flexibility sold.

The plug-in interface is described in `visualization.designs`. Everything is read from the model's
tidy record through column views (`model.record.column`), so a snapshot copies nothing.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import pandas as pd
import solara
from matplotlib import colors, patheffects
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from model.dataset import HOURS_PER_WEEK
from model.designs.arbitrage import FLEX_BOUGHT_MW, PAPER
from visualization.figures import LiveFigure, Painter

TITLE = "localmarl: aggregators on the CIGRE MV feeder (LEM, LFM, balancing)"

#: The location swaps the Location swap control offers: none, the paper's (Fig. 12), and each of its pairs.
LOCATION_SWAPS = ("none", *dict.fromkeys((PAPER.location_swap, *PAPER.location_swap.split(","))))
COLOR_BY = ("voltage", "DLMP")
DPI = 80

#: (column of the market table, label, style) of the energy prices drawn.
PRICE_LINES = (
    ("lem_price_eur_mwh", "LEM price", dict(color="black", lw=2.0)),
    ("import_price_eur_mwh", "import", dict(color="#2471a3", lw=1.0)),
    ("export_price_eur_mwh", "export", dict(color="#85c1e9", lw=1.0)),
    ("imb_long_eur_mwh", "imbalance long", dict(color="#1e8449", lw=1.0, ls="--")),
    ("imb_short_eur_mwh", "imbalance short", dict(color="#c0392b", lw=1.0, ls="--")),
)
#: Columns of the aggregators table the score figure sums.
SCORE_COLUMNS = ("r1", "r2", "withhold", "up_mw", "dn_mw")

_LINE_CMAP = "YlOrRd"
_NO_DATA = "#c8c8c8"
_UP, _DOWN = "#1e8449", "#8e44ad"
_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]  # readable on any bus colour


# --- the snapshot ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FeederInfo:
    """What does not change during a run: the feeder and who sits where (one object per model)."""

    feeder: object  # grid.feeder.Feeder
    aggregator_ids: tuple[int, ...]
    agg_bus_index: np.ndarray  # bus index of each aggregator
    line_s_max_mva: np.ndarray  # the limits the DSO enforces (line_limit_factor applied)
    v_min_pu: float
    v_max_pu: float


@dataclass(frozen=True, eq=False)
class ArbitrageSnapshot:
    """The design's part of a page snapshot. The tables are read-only views of the record's columns
    (all hours so far; no copy); `week_start` is the row of the current week's first hour."""

    grid: FeederInfo
    start_cet: pd.Timestamp | None  # when the last cleared hour began, CET (UTC+1, as the market's data)
    week_start: int
    market: Mapping[str, np.ndarray]
    aggregators: Mapping[str, np.ndarray]
    bus_dlmp_eur_mwh: np.ndarray  # the buses table's DLMP column: one row per hour and bus


_INFO: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # design -> its FeederInfo


def _feeder_info(model) -> FeederInfo:
    d = model.design
    info = _INFO.get(d)
    if info is None:
        g = model.scenario.grid
        info = _INFO[d] = FeederInfo(d.feeder, tuple(model.scenario.aggregator_ids), d.agg_bus_index,
                                     np.asarray(d.lfm_network.line_s_max_mva, float), g.v_min_pu, g.v_max_pu)
    return info


def snapshot(model) -> ArbitrageSnapshot:
    """The design's part of the page's snapshot: references to the record's column views, O(1)."""
    rec, h = model.record, model.hour_result
    start = week_start = None
    if h is not None:
        utc = model.design.raw.hour_utc[h.week * HOURS_PER_WEEK + h.hour_of_week]
        start = pd.Timestamp(utc) + pd.Timedelta(hours=1)
        week_start = model.hours_done - (h.hour_of_week + 1)
    return ArbitrageSnapshot(
        grid=_feeder_info(model),
        start_cet=start,
        week_start=week_start or 0,
        market={c: rec.column("market", c) for c in (col for col, _, _ in PRICE_LINES)},
        aggregators={c: rec.column("aggregators", c) for c in SCORE_COLUMNS},
        bus_dlmp_eur_mwh=rec.column("buses", "dlmp_eur_mwh"),
    )


def flex_mw(hour) -> float:
    """Flexibility the DSO bought in `hour` (up + down, MW)."""
    return float(hour.lfm.up_mw.sum() + hour.lfm.dn_mw.sum())


# --- the status line and the controls ----------------------------------------------------------
def clock(snap) -> str | None:
    s = snap.detail.start_cet
    return None if s is None else f"{s:%a %d %b %H:%M} CET"


def status(snap) -> list[str]:
    """The hour's prices and the LFM's outcome, as text."""
    h = snap.hour
    if h is None:
        return ["LEM price: no hour cleared yet"]
    x = h.inputs
    return [
        f"LEM price: {h.lem.price_eur_mwh:.2f} €/MWh",
        f"import / export: {x.import_eur_mwh:.2f} / {x.export_eur_mwh:.2f} €/MWh",
        f"imbalance long / short: {x.imb_long_eur_mwh:.2f} / {x.imb_short_eur_mwh:.2f} €/MWh",
        f"flexibility bought: {flex_mw(h):.2f} MW for {h.lfm.dso_payment_eur:.2f} €",
        f"lowest voltage: {h.lfm.result.v_pu.min():.3f} p.u.",
    ]


@solara.component
def Controls(overrides: Mapping[str, object], set_override):
    """The location swap (`MarketModel(location_swap=...)`): none, the paper's, or one of its pairs."""
    solara.Select("Location swap", values=list(LOCATION_SWAPS), value=overrides.get("location_swap") or "none",
                  on_value=lambda v: set_override("location_swap", None if v == "none" else v))


# --- the figures -------------------------------------------------------------------------------
# Each figure of a model is a painter: its first draw lays out the axes, the labels and the colour
# bars; later draws only update data, colours and texts. Redrawing a figure that way costs about
# half of building it anew (matplotlib spends most of a fresh figure's time creating tick marks).
# `LiveFigure` draws one figure at a time, so a painter is never drawn from two threads at once.

class _Painter(Painter):
    dpi = DPI

    def __init__(self, info: FeederInfo):
        self.info = info


@functools.lru_cache(maxsize=8)
def _layout_cached(parent: tuple[int, ...]) -> np.ndarray:
    n = len(parent)
    children = [[] for _ in range(n)]
    for j, p in enumerate(parent):
        if p >= 0:
            children[p].append(j)
    xy = np.zeros((n, 2))
    next_leaf = [0.0]

    def place(i: int, depth: int) -> float:
        if children[i]:
            x = float(np.mean([place(c, depth + 1) for c in children[i]]))
        else:
            x, next_leaf[0] = next_leaf[0], next_leaf[0] + 1.0
        xy[i] = (x, -depth)
        return x

    place(int(np.flatnonzero(np.asarray(parent) < 0)[0]), 0)
    xy.flags.writeable = False
    return xy


def tree_layout(parent) -> np.ndarray:
    """(x, y) of each bus for a radial feeder: the root at y = 0, children one row lower,
    leaves one unit apart left to right, each parent centred over its children (cached)."""
    return _layout_cached(tuple(int(p) for p in parent))


def line_loading(snap) -> np.ndarray:
    """|S| of the line into each bus over its limit (entry 0, the slack, is 0)."""
    lfm = snap.hour.lfm.result
    s = np.hypot(lfm.p_line_mw, lfm.q_line_mvar)
    load = np.zeros_like(s)
    load[1:] = s[1:] / snap.detail.grid.line_s_max_mva[1:]
    return load


def flex_label(up_mw: float, dn_mw: float) -> str | None:
    """'flex +0.50 MW' (up), 'flex -0.30 MW' (down), both, or None when nothing was bought."""
    parts = [f"{mw:+.2f}" for mw, bought in ((up_mw, up_mw > FLEX_BOUGHT_MW), (-dn_mw, dn_mw > FLEX_BOUGHT_MW))
             if bought]
    return f"flex {' / '.join(parts)} MW" if parts else None


class FeederPainter(_Painter):
    """The feeder in the hour a snapshot last cleared (grey before the first step), buses coloured
    by `color_by` ("voltage" or "DLMP")."""

    figsize = (4.6, 6.2)

    def setup(self, fig: Figure):
        info = self.info
        fd = info.feeder
        xy = tree_layout(fd.parent)
        ax = self.ax = fig.add_axes((0.0, 0.17, 0.78, 0.77))
        cax_lines = fig.add_axes((0.08, 0.115, 0.64, 0.02))
        self.cax_buses = fig.add_axes((0.8, 0.3, 0.03, 0.45))
        ax.set_axis_off()
        ax.set_xlim(xy[:, 0].min() - 0.7, xy[:, 0].max() + 0.9)
        ax.set_ylim(xy[:, 1].min() - 0.6, 0.6)

        segments = [(xy[p], xy[j]) for p, j in fd.lines()]
        self.line_colors = ScalarMappable(colors.Normalize(0.0, 1.0), _LINE_CMAP)
        self.lines = LineCollection(segments, colors=_NO_DATA, linewidths=4, zorder=1)
        ax.add_collection(self.lines)
        self.loading = [ax.text((a + b)[0] / 2 - 0.08, (a + b)[1] / 2, "", fontsize=7, ha="right", va="center",
                                color="#555") for a, b in segments]
        fig.colorbar(self.line_colors, cax=cax_lines, orientation="horizontal", label="line loading |S| / limit")

        # the slack is a square, the other buses circles
        self.slack = ax.scatter(*xy[0], s=330, c=[_NO_DATA], marker="s", edgecolors="#333", linewidths=0.8, zorder=3)
        self.buses = ax.scatter(xy[1:, 0], xy[1:, 1], s=330, c=[_NO_DATA] * (fd.n_bus - 1), marker="o",
                                edgecolors="#333", linewidths=0.8, zorder=3)
        for i in range(fd.n_bus):
            ax.text(*xy[i], str(fd.bus_names[i]), fontsize=8, ha="center", va="center", zorder=4, path_effects=_HALO)
        ax.text(xy[0, 0] + 0.25, xy[0, 1], "slack (HV grid)", fontsize=7, va="center", color="#555")

        # aggregators on their buses; a ring and a label where the DSO bought flexibility this hour
        at = xy[info.agg_bus_index]
        for (x, y), agg_id in zip(at, info.aggregator_ids):
            ax.text(x + 0.2, y + 0.13, f"A{agg_id}", fontsize=8, fontweight="bold", color="#1b4f72", va="center")
        self.rings = ax.scatter(at[:, 0], at[:, 1], s=900, facecolors="none", edgecolors="none", linewidths=2.2,
                                zorder=2)
        self.flex = [ax.text(x + 0.2, y - 0.17, "", fontsize=7, va="center") for x, y in at]

        self.bus_colors = {
            "voltage": (ScalarMappable(colors.TwoSlopeNorm(1.0, info.v_min_pu, info.v_max_pu), "coolwarm"),
                        "voltage (p.u.)"),
            "DLMP": (ScalarMappable(colors.Normalize(0.0, 1.0), "viridis"), "DLMP (€/MWh)"),
        }
        self.colorbar_for = None
        self.title = fig.suptitle("", fontsize=10, y=0.985)
        fig.text(0.5, 0.01, "A5 = aggregator 5 at that bus; ring = flexibility bought this hour",
                 fontsize=7, ha="center", color="#555")

    def update(self, snap, color_by: str = "voltage"):
        info, h = self.info, snap.hour
        k = len(info.aggregator_ids)
        if h is None:
            self.lines.set_color(_NO_DATA)
            for t in self.loading:
                t.set_text("")
            self.slack.set_facecolors([_NO_DATA])
            self.buses.set_facecolors([_NO_DATA])
            self.cax_buses.set_visible(False)
            self.title.set_text("Feeder, before the first hour")
            up = dn = np.zeros(k)
        else:
            load = line_loading(snap)[1:]
            self.lines.set_color(self.line_colors.to_rgba(load))
            for t, frac in zip(self.loading, load):
                t.set_text(f"{frac:.0%}")
            lfm = h.lfm.result
            mappable, label = self.bus_colors[color_by]
            if color_by == "DLMP":
                values = lfm.dlmp_eur_mwh
                mappable.set_clim(min(0.0, float(values.min())), max(1.0, float(values.max())))
            else:
                values = np.clip(lfm.v_pu, info.v_min_pu, info.v_max_pu)
            rgba = mappable.to_rgba(values)
            self.slack.set_facecolors(rgba[:1])
            self.buses.set_facecolors(rgba[1:])
            if self.colorbar_for != color_by:
                self.cax_buses.clear()
                self.fig.colorbar(mappable, cax=self.cax_buses, label=label)
                self.colorbar_for = color_by
            self.cax_buses.set_visible(True)
            self.title.set_text(f"Feeder, buses by {'DLMP' if color_by == 'DLMP' else 'voltage'}")
            up, dn = h.lfm.up_mw, h.lfm.dn_mw
        ring_colors = []
        for text, u, d in zip(self.flex, up, dn):
            label = flex_label(u, d)
            color = "none" if not label else _UP if d <= FLEX_BOUGHT_MW else _DOWN if u <= FLEX_BOUGHT_MW else "#333"
            text.set_text(label or "")
            text.set_color("#333" if color == "none" else color)
            ring_colors.append(color)
        self.rings.set_edgecolors(ring_colors)


def feeder_figure(snap, color_by: str = "voltage") -> Figure:
    """The feeder figure of a snapshot, drawn once (the app keeps one `FeederPainter` per model)."""
    return FeederPainter(snap.detail.grid).draw(snap, color_by)


# --- prices ------------------------------------------------------------------------------------
def week_so_far(snap) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
    """(hour of the week, {price column: values}, DLMP per hour and non-slack bus) of the current
    week's hours so far (views of the record; empty before the first step)."""
    d = snap.detail
    lo, hi = d.week_start, snap.hours_done
    prices = {c: v[lo:hi] for c, v in d.market.items()}
    dlmp = d.bus_dlmp_eur_mwh.reshape(-1, d.grid.feeder.n_bus)[lo:hi, 1:]
    return np.arange(hi - lo), prices, dlmp


class PricePainter(_Painter):
    """Energy prices (top) and the DLMP of every bus (bottom) for the hours of the week cleared so
    far; the legends sit to the right of the axes, clear of the first hours."""

    figsize = (7.6, 6.2)

    def setup(self, fig: Figure):
        self.ax_e, self.ax_d = ax_e, ax_d = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
        fig.subplots_adjust(left=0.1, right=0.8, top=0.95, bottom=0.08, hspace=0.08)
        self.prices = {col: ax_e.plot([], [], label=label, **style)[0] for col, label, style in PRICE_LINES}
        ax_e.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False)
        self.dlmps = [ax_d.plot([], [], lw=1.0, label=f"bus {bus}")[0] for bus in self.info.feeder.bus_names[1:]]
        ax_d.legend(fontsize=6.5, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, frameon=False,
                    ncols=2, columnspacing=0.8, handlelength=1.5)
        self.empty = ax_e.text(0.5, 0.5, "step the model to see prices", transform=ax_e.transAxes, ha="center",
                               color="#777")
        ax_e.set_ylabel("€/MWh")
        ax_e.set_ylim(0.0, 100.0)  # until the first hour
        ax_d.set_ylabel("DLMP (€/MWh)")
        ax_d.set_ylim(-2.0, 10.0)
        for ax in (ax_e, ax_d):
            ax.set_xlim(0, HOURS_PER_WEEK)
            ax.set_xticks(np.arange(0, HOURS_PER_WEEK + 1, 24))
            ax.grid(alpha=0.3)
        ax_d.set_xlabel("hour of the week")

    def update(self, snap):
        t, prices, dlmp = week_so_far(snap)
        for col, line in self.prices.items():
            line.set_data(t, prices[col])
        for j, line in enumerate(self.dlmps):
            line.set_data(t, dlmp[:, j])
        self.empty.set_visible(len(t) == 0)
        if len(t):
            values = np.concatenate(list(prices.values()))
            lo, hi = float(values.min()), float(values.max())
            pad = 0.05 * max(hi - lo, 1.0)
            self.ax_e.set_ylim(lo - pad, hi + pad)
            # DLMPs are 0 while nothing is congested: keep 0 near the bottom
            self.ax_d.set_ylim(min(0.0, float(dlmp.min())) - 2.0, max(10.0, 1.15 * float(dlmp.max())))
        self.ax_e.set_title(f"Prices, {snap.week_spec} = week {snap.week} of the year (weeks 0-51)", fontsize=9, y=1.0)


def price_figure(snap) -> Figure:
    """The price figure of a snapshot, drawn once (the app keeps one `PricePainter` per model)."""
    return PricePainter(snap.detail.grid).draw(snap)


# --- scores ------------------------------------------------------------------------------------
def aggregator_totals(snap) -> dict[str, np.ndarray]:
    """Per aggregator (in `aggregator_ids` order) over the hours so far: cumulative first-stage
    (`r1`), second-stage (`r2`) and `total` score, mean withholding (`withheld`, 0..1) and
    flexibility sold (`up_mw`, `dn_mw`, MWh)."""
    d = snap.detail
    k = len(d.grid.aggregator_ids)
    per_hour = {c: v.reshape(-1, k) for c, v in d.aggregators.items()}  # rows: hours, in aggregator order
    out = {c: per_hour[c].sum(axis=0) for c in ("r1", "r2", "up_mw", "dn_mw")}
    out["total"] = out["r1"] + out["r2"]
    out["withheld"] = per_hour["withhold"].mean(axis=0) if len(per_hour["withhold"]) else np.zeros(k)
    return out


class ScorePainter(_Painter):
    """Per aggregator: cumulative scores, mean withholding, flexibility sold."""

    figsize = (12.4, 3.1)

    def setup(self, fig: Figure):
        self.ax_s, ax_w, self.ax_f = ax_s, ax_w, ax_f = fig.subplots(1, 3, width_ratios=(2.2, 1, 1.3))
        fig.subplots_adjust(left=0.05, right=0.99, top=0.9, bottom=0.1, wspace=0.18)
        ids = self.info.aggregator_ids
        x, zero, w = np.arange(len(ids)), np.zeros(len(ids)), 0.27
        self.bars = {
            "r1": ax_s.bar(x - w, zero, w, label="first stage (LEM)", color="#5dade2"),
            "r2": ax_s.bar(x, zero, w, label="second stage (LFM + balancing)", color="#f5b041"),
            "total": ax_s.bar(x + w, zero, w, label="total", color="#34495e"),
            "withheld": ax_w.bar(x, zero, color="#a569bd"),
            "up_mw": ax_f.bar(x, zero, label="up", color=_UP),
            "dn_mw": ax_f.bar(x, zero, label="down", color=_DOWN),
        }
        ax_s.axhline(0, color="#333", lw=0.6)
        # fixed places: loc="best" and automatic title positions cost a third of a redraw
        ax_s.legend(fontsize=7, loc="upper left")
        ax_f.legend(fontsize=7, loc="upper left")
        self.title = ax_s.set_title("", fontsize=9, y=1.0)
        ax_w.set_title("Withholding (mean % of offer)", fontsize=9, y=1.0)
        ax_f.set_title("Flexibility sold (MWh)", fontsize=9, y=1.0)
        ax_w.set_ylim(0, 100)
        for ax in (ax_s, ax_w, ax_f):
            ax.set_xticks(x, [f"A{i}" for i in ids], fontsize=7)
            ax.grid(axis="y", alpha=0.3)

    def update(self, snap):
        tot = aggregator_totals(snap)
        tot["withheld"] = 100 * tot["withheld"]
        for col, bars in self.bars.items():
            for bar, value in zip(bars, tot[col]):
                bar.set_height(value)
        for bar, up in zip(self.bars["dn_mw"], tot["up_mw"]):
            bar.set_y(up)  # down stacked on up
        # room above the bars for the legend in the upper left
        scores = np.concatenate([tot["r1"], tot["r2"], tot["total"], [0.0]])
        lo, hi = float(scores.min()), float(scores.max())
        span = max(hi - lo, 1.0)
        self.ax_s.set_ylim(lo - 0.05 * span, hi + 0.45 * span)
        self.ax_f.set_ylim(0.0, max(1.45 * float((tot["up_mw"] + tot["dn_mw"]).max()), 1.0))
        self.title.set_text(f"Cumulative score over {snap.hours_done} h (€)")


def score_figure(snap) -> Figure:
    """The score figure of a snapshot, drawn once (the app keeps one `ScorePainter` per model)."""
    return ScorePainter(snap.detail.grid).draw(snap)


# --- the views ---------------------------------------------------------------------------------
@solara.component
def Views(snap):
    """The feeder (with its colouring toggle) and the prices side by side, the scores below."""
    color_by = solara.use_reactive(COLOR_BY[0])
    grid = snap.detail.grid
    feeder, prices, scores = solara.use_memo(lambda: (FeederPainter(grid), PricePainter(grid), ScorePainter(grid)),
                                             [grid])
    with solara.Column(gap="8px"):
        with solara.Row(gap="8px", style={"flex-wrap": "wrap", "align-items": "flex-start"}):
            with solara.Card(margin=0):
                solara.ToggleButtonsSingle(value=color_by, values=list(COLOR_BY), dense=True)
                LiveFigure("The feeder", feeder.draw, (snap, color_by.value))
            with solara.Card(margin=0):
                LiveFigure("The price chart", prices.draw, (snap,))
        with solara.Card(margin=0):
            LiveFigure("The aggregator scores", scores.draw, (snap,))
