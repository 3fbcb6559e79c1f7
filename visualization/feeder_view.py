"""The feeder as a network: buses coloured by voltage or DLMP, lines by loading, flexibility marked.

The drawing is a matplotlib figure on a fixed tree layout (slack at the top), computed once per
feeder from its parent array.
"""

from __future__ import annotations

import functools

import numpy as np
import solara
from matplotlib import colors, patheffects
from matplotlib.cm import ScalarMappable
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from visualization.session import Snapshot

COLOR_BY = ("voltage", "DLMP")
_LINE_CMAP = "YlOrRd"
_NO_DATA = "#c8c8c8"
_UP, _DOWN = "#1e8449", "#8e44ad"
_EPS_MW = 1e-6
_HALO = [patheffects.withStroke(linewidth=2.5, foreground="white")]  # readable on any bus colour


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


def flex_label(up_mw: float, dn_mw: float) -> str | None:
    """'flex +0.50 MW' (up), 'flex -0.30 MW' (down), both, or None when nothing was bought."""
    parts = [f"{mw:+.2f}" for mw, bought in ((up_mw, up_mw > _EPS_MW), (-dn_mw, dn_mw > _EPS_MW)) if bought]
    return f"flex {' / '.join(parts)} MW" if parts else None


def feeder_figure(snap: Snapshot, color_by: str = "voltage") -> Figure:
    """The feeder in the hour `snap` last cleared (grey before the first step)."""
    fd = snap.feeder
    xy = tree_layout(fd.parent)
    h = snap.hour
    # a fixed layout (no constrained layout: it triples the drawing time)
    fig = Figure(figsize=(4.6, 6.2), dpi=90)
    ax = fig.add_axes((0.0, 0.17, 0.78, 0.77))
    cax_lines = fig.add_axes((0.08, 0.115, 0.64, 0.02))
    cax_buses = fig.add_axes((0.8, 0.3, 0.03, 0.45))
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
    fig.colorbar(ScalarMappable(line_norm, _LINE_CMAP), cax=cax_lines, orientation="horizontal",
                 label="line loading |S| / limit")

    if h is None:
        bus_colors, title = [_NO_DATA] * fd.n_bus, "before the first hour"
        cax_buses.set_axis_off()
    else:
        if color_by == "DLMP":
            values, cmap, label, title = h.lfm.dlmp_eur_mwh, "viridis", "DLMP (€/MWh)", "buses by DLMP"
            norm = colors.Normalize(min(0.0, float(values.min())), max(1.0, float(values.max())))
        else:
            values, cmap, label, title = h.lfm.v_pu, "coolwarm", "voltage (p.u.)", "buses by voltage"
            norm = colors.TwoSlopeNorm(1.0, snap.v_min_pu, snap.v_max_pu)
            values = np.clip(values, snap.v_min_pu, snap.v_max_pu)
        mappable = ScalarMappable(norm, cmap)
        bus_colors = mappable.to_rgba(values)
        fig.colorbar(mappable, cax=cax_buses, label=label)

    # the slack is a square, the other buses circles
    ax.scatter(*xy[0], s=330, c=[bus_colors[0]], marker="s", edgecolors="#333", linewidths=0.8, zorder=3)
    ax.scatter(xy[1:, 0], xy[1:, 1], s=330, c=bus_colors[1:], marker="o", edgecolors="#333", linewidths=0.8, zorder=3)
    for i in range(fd.n_bus):
        ax.text(*xy[i], str(fd.bus_names[i]), fontsize=8, ha="center", va="center", zorder=4, path_effects=_HALO)
    ax.text(xy[0, 0] + 0.25, xy[0, 1], "slack (HV grid)", fontsize=7, va="center", color="#555")

    # aggregators on their buses, and a mark where the DSO bought flexibility this hour
    for k, agg_id in enumerate(snap.aggregator_ids):
        x, y = xy[snap.agg_bus_index[k]]
        ax.text(x + 0.2, y + 0.13, f"A{agg_id}", fontsize=8, fontweight="bold", color="#1b4f72", va="center")
        label = flex_label(h.up_mw[k], h.dn_mw[k]) if h is not None else None
        if label:
            color = _UP if h.dn_mw[k] <= _EPS_MW else _DOWN if h.up_mw[k] <= _EPS_MW else "#333"
            ax.scatter(x, y, s=900, facecolors="none", edgecolors=color, linewidths=2.2, zorder=2)
            ax.text(x + 0.2, y - 0.17, label, fontsize=7, color=color, va="center")
    fig.suptitle(f"Feeder, {title}", fontsize=10, y=0.985)
    fig.text(0.5, 0.01, "A5 = aggregator 5 at that bus; ring = flexibility bought this hour",
             fontsize=7, ha="center", color="#555")
    return fig


@solara.component
def FeederView(snap: Snapshot, version: int):
    color_by = solara.use_reactive(COLOR_BY[0])
    fig = solara.use_memo(lambda: feeder_figure(snap, color_by.value), [version, color_by.value])
    with solara.Column(gap="4px"):
        solara.ToggleButtonsSingle(value=color_by, values=list(COLOR_BY), dense=True)
        solara.FigureMatplotlib(fig, dependencies=[version, color_by.value], format="png")
