"""Prices over the week so far, and each aggregator's scores, withholding and flexibility sold.

Both figures are drawn from the tidy tables of `runs.results.tables` held in a `Snapshot`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure

from model.dataset import HOURS_PER_WEEK
from visualization.session import Snapshot

#: (column of the market table, label, style) of the energy prices drawn.
PRICE_LINES = (
    ("lem_price_eur_mwh", "LEM price", dict(color="black", lw=2.0)),
    ("import_price_eur_mwh", "import", dict(color="#2471a3", lw=1.0)),
    ("export_price_eur_mwh", "export", dict(color="#85c1e9", lw=1.0)),
    ("imb_long_eur_mwh", "imbalance long", dict(color="#1e8449", lw=1.0, ls="--")),
    ("imb_short_eur_mwh", "imbalance short", dict(color="#c0392b", lw=1.0, ls="--")),
)


def _week_axis(ax, last_ax: bool):
    ax.set_xlim(0, HOURS_PER_WEEK)
    ax.set_xticks(np.arange(0, HOURS_PER_WEEK + 1, 24))
    ax.grid(alpha=0.3)
    if last_ax:
        ax.set_xlabel("hour of the week")


def price_figure(snap: Snapshot) -> Figure:
    """Energy prices (top) and the DLMP of every bus (bottom) for the hours cleared so far."""
    fig = Figure(figsize=(6.8, 6.2), dpi=90)  # fixed layout: constrained layout triples the drawing time
    ax_e, ax_d = fig.subplots(2, 1, sharex=True, height_ratios=(3, 2))
    fig.subplots_adjust(left=0.11, right=0.98, top=0.95, bottom=0.08, hspace=0.08)
    if snap.tables is not None:
        m = snap.tables["market"]
        # one week is shown; with several weeks, the current one
        m = m[m["week"] == m["week"].iloc[-1]]
        t = m["hour_of_week"].to_numpy()
        for col, label, style in PRICE_LINES:
            ax_e.plot(t, m[col].to_numpy(), label=label, **style)
        ax_e.legend(fontsize=7, ncols=3, loc="upper left")
        b = snap.tables["buses"]
        dlmp = b[b["bus"] != snap.feeder.bus_names[0]].pivot(index="hour", columns="bus", values="dlmp_eur_mwh")
        dlmp = dlmp.loc[m["hour"].to_numpy()]
        for bus in dlmp.columns:
            ax_d.plot(t, dlmp[bus].to_numpy(), lw=1.0, label=f"bus {bus}")
        ax_d.legend(fontsize=6, ncols=5, loc="upper left")
        # DLMPs are 0 while nothing is congested: keep 0 near the bottom, with room for the legend
        top = float(np.nanmax(dlmp.to_numpy(), initial=0.0))
        ax_d.set_ylim(min(0.0, float(np.nanmin(dlmp.to_numpy(), initial=0.0))) - 2.0, max(10.0, 1.3 * top))
    else:
        ax_e.text(0.5, 0.5, "step the model to see prices", transform=ax_e.transAxes, ha="center", color="#777")
    ax_e.set_ylabel("€/MWh")
    ax_e.set_title(f"Prices, {snap.week_spec} = week {snap.week} of the year (weeks 0-51)", fontsize=9)
    ax_d.set_ylabel("DLMP (€/MWh)")
    _week_axis(ax_e, False)
    _week_axis(ax_d, True)
    return fig


def aggregator_totals(aggregators: pd.DataFrame) -> pd.DataFrame:
    """Cumulative first-stage (r1), second-stage (r2) and total score, mean withholding and
    flexibility sold, per aggregator, over the hours in `aggregators` (a results table)."""
    g = aggregators.groupby("aggregator")
    out = g[["r1", "r2", "up_mw", "dn_mw"]].sum()
    out["total"] = out["r1"] + out["r2"]
    out["withheld"] = g["withheld"].mean()
    out["bus"] = g["bus"].last()
    return out


def score_figure(snap: Snapshot) -> Figure:
    fig = Figure(figsize=(11.8, 3.1), dpi=90)
    ax_s, ax_w, ax_f = fig.subplots(1, 3, width_ratios=(2.2, 1, 1.3))
    fig.subplots_adjust(left=0.05, right=0.99, top=0.9, bottom=0.1, wspace=0.18)
    ids = np.array(snap.aggregator_ids)
    x = np.arange(len(ids))
    labels = [f"A{i}" for i in ids]
    if snap.tables is not None:
        tot = aggregator_totals(snap.tables["aggregators"]).reindex(ids)
        w = 0.27
        ax_s.bar(x - w, tot["r1"], w, label="first stage (LEM)", color="#5dade2")
        ax_s.bar(x, tot["r2"], w, label="second stage (LFM + balancing)", color="#f5b041")
        ax_s.bar(x + w, tot["total"], w, label="total", color="#34495e")
        ax_s.axhline(0, color="#333", lw=0.6)
        ax_s.legend(fontsize=7, loc="best")
        ax_w.bar(x, 100 * tot["withheld"], color="#a569bd")
        ax_f.bar(x, tot["up_mw"], label="up", color="#1e8449")
        ax_f.bar(x, tot["dn_mw"], bottom=tot["up_mw"], label="down", color="#8e44ad")
        ax_f.legend(fontsize=7)
    hours = snap.hours_done
    ax_s.set_title(f"Cumulative score over {hours} h (€)", fontsize=9)
    ax_w.set_title("Withholding (mean % of offer)", fontsize=9)
    ax_f.set_title("Flexibility sold (MWh)", fontsize=9)
    ax_w.set_ylim(0, 100)
    for ax in (ax_s, ax_w, ax_f):
        ax.set_xticks(x, labels, fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    return fig


@solara.component
def PriceView(snap: Snapshot, version: int):
    fig = solara.use_memo(lambda: price_figure(snap), [version])
    solara.FigureMatplotlib(fig, dependencies=[version], format="png")


@solara.component
def ScoreView(snap: Snapshot, version: int):
    fig = solara.use_memo(lambda: score_figure(snap), [version])
    solara.FigureMatplotlib(fig, dependencies=[version], format="png")
