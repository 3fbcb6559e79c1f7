"""The feeder as a network: buses coloured by voltage or DLMP, lines by loading, flexibility marked.

The drawing is a matplotlib figure on a fixed tree layout (slack at the top), computed once per
feeder from its parent array.
"""

from __future__ import annotations

import functools

import numpy as np
import solara
from matplotlib import colors
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from visualization.session import Snapshot

COLOR_BY = ("voltage", "DLMP")
_LINE_CMAP = "YlOrRd"
_NO_DATA = "#c8c8c8"


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
    return xy


def tree_layout(parent) -> np.ndarray:
    """(x, y) of each bus for a radial feeder: the root at y = 0, children one row lower,
    leaves one unit apart left to right, each parent centred over its children."""
    return _layout_cached(tuple(int(p) for p in parent))


def line_loading(snap: Snapshot) -> np.ndarray:
    """|S| of the line into each bus over its limit (entry 0, the slack, is 0)."""
    lfm = snap.hour.lfm
    s = np.hypot(lfm.p_line_mw, lfm.q_line_mvar)
    load = np.zeros_like(s)
    load[1:] = s[1:] / snap.line_s_max_mva[1:]
    return load


def feeder_figure(snap: Snapshot, color_by: str = "voltage") -> Figure:
    """The feeder in the hour `snap` last cleared (grey before the first step)."""
    fd = snap.feeder
    xy = tree_layout(fd.parent)
    h = snap.hour
    fig = Figure(figsize=(4.6, 6.2), dpi=90, layout="constrained")
    ax = fig.subplots()
    ax.set_axis_off()
    ax.set_xlim(xy[:, 0].min() - 0.7, xy[:, 0].max() + 0.9)
    ax.set_ylim(xy[:, 1].min() - 0.6, 0.6)

    segments = [(xy[int(fd.parent[j])], xy[j]) for j in range(1, fd.n_bus)]
    line_norm = colors.Normalize(0.0, 1.0)
    if h is None:
        ax.add_collection(LineCollection(segments, colors=_NO_DATA, linewidths=4, zorder=1))
    else:
        load = line_loading(snap)[1:]
        ax.add_collection(LineCollection(segments, cmap=_LINE_CMAP, norm=line_norm, array=load, linewidths=4, zorder=1))
        for (a, b), frac in zip(segments, load):
            mid = (np.asarray(a) + np.asarray(b)) / 2
            ax.text(mid[0] - 0.08, mid[1], f"{frac:.0%}", fontsize=7, ha="right", va="center", color="#555")
    fig.colorbar(ScalarMappable(line_norm, _LINE_CMAP), ax=ax, location="bottom", shrink=0.8, pad=0.01,
                 aspect=30, label="line loading |S| / limit")

    if h is None:
        bus_colors, title = _NO_DATA, "not stepped yet"
    elif color_by == "DLMP":
        dlmp = h.lfm.dlmp_eur_mwh
        norm = colors.Normalize(min(0.0, float(dlmp.min())), max(1.0, float(dlmp.max())))
        bus_colors = ScalarMappable(norm, "viridis").to_rgba(dlmp)
        fig.colorbar(ScalarMappable(norm, "viridis"), ax=ax, location="right", shrink=0.6, label="DLMP (€/MWh)")
        title = "buses: DLMP"
    else:
        norm = colors.TwoSlopeNorm(1.0, snap.v_min_pu, snap.v_max_pu)
        bus_colors = ScalarMappable(norm, "coolwarm").to_rgba(np.clip(h.lfm.v_pu, snap.v_min_pu, snap.v_max_pu))
        fig.colorbar(ScalarMappable(norm, "coolwarm"), ax=ax, location="right", shrink=0.6, label="voltage (p.u.)")
        title = "buses: voltage"

    markers = ["s"] + ["o"] * (fd.n_bus - 1)  # the slack is a square
    for i in range(fd.n_bus):
        c = bus_colors if isinstance(bus_colors, str) else [bus_colors[i]]
        ax.scatter(*xy[i], s=330, c=c, marker=markers[i], edgecolors="#333", linewidths=0.8, zorder=3)
        ax.text(*xy[i], str(fd.bus_names[i]), fontsize=8, ha="center", va="center", zorder=4)
    ax.text(xy[0, 0] + 0.25, xy[0, 1], "slack (HV grid)", fontsize=7, va="center", color="#555")

    # aggregators on their buses, and a mark where the DSO bought flexibility this hour
    for k, agg_id in enumerate(snap.aggregator_ids):
        x, y = xy[snap.agg_bus_index[k]]
        ax.text(x + 0.2, y + 0.13, f"A{agg_id}", fontsize=8, fontweight="bold", color="#1b4f72", va="center")
        if h is not None and (h.up_mw[k] > 1e-6 or h.dn_mw[k] > 1e-6):
            up = h.up_mw[k] > 1e-6
            ax.scatter(x, y, s=900, facecolors="none", edgecolors="#1e8449" if up else "#8e44ad", linewidths=2.2, zorder=2)
            mw = h.up_mw[k] if up else -h.dn_mw[k]
            ax.text(x + 0.2, y - 0.17, f"flex {mw:+.2f} MW", fontsize=7, color="#1e8449" if up else "#8e44ad", va="center")
    ax.set_title(f"Feeder ({title}); A = aggregator, ring = flex bought", fontsize=9)
    return fig


@solara.component
def FeederView(snap: Snapshot, version: int):
    color_by = solara.use_reactive(COLOR_BY[0])
    fig = solara.use_memo(lambda: feeder_figure(snap, color_by.value), [version, color_by.value])
    with solara.Column(gap="4px"):
        solara.ToggleButtonsSingle(value=color_by, values=list(COLOR_BY), dense=True)
        solara.FigureMatplotlib(fig, dependencies=[version, color_by.value], format="png")
