"""What the views of the household designs (`p2p`, `stackelberg`) share: the population in its DER
clusters, the design's part of the snapshot, the week's clock, the figures' hour axis and the
per-cluster figure (one quantity at a time, a line per cluster).

The snapshot keeps references to the record's column views (`model.record.column`) and to objects
made once per model (the population), so it costs the same at every hour; the figures slice out the
current week and reduce the households to their clusters' means when they draw (a matrix product
over the week's hours, well under a millisecond for 3,000 households).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import solara
from matplotlib.figure import Figure

from model.dataset import HOURS_PER_WEEK
from visualization import figures
from visualization.figures import LiveFigure

DPI = 90
#: The choice of a design control that keeps the scenario's own value (no override).
AS_SCENARIO = "as in the scenario"
#: One colour per cluster, in the scenario's order.
CLUSTER_COLORS = ("#2e86c1", "#e67e22", "#c0392b", "#7f8c8d", "#8e44ad", "#16a085", "#d4ac0d", "#34495e")
#: What the legend says of a cluster none of whose households has the device a quantity is about.
LACKING = {"battery": "no battery", "ev": "no EV", "heat_pump": "no heat pump"}


# --- the population ------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class Population:
    """The households in their clusters, fixed for a model's life (one object per model).

    `weights[device]` = (W, present): W (N, K) averages a per-household row over each cluster's
    households that have `device` ("all": every household); `present[k]` is False for a cluster with
    no such household (its mean is NaN)."""

    n: int
    cluster_names: tuple[str, ...]
    cluster: np.ndarray  # (N,) cluster index of each household
    counts: np.ndarray  # (K,) households per cluster
    weights: Mapping[str, tuple[np.ndarray, np.ndarray]]
    comfort_band_c: tuple[float, float] | None  # mean (t_min, t_max) of the households with a heat pump

    @property
    def labels(self) -> list[str]:
        return [f"{name} ({count})" for name, count in zip(self.cluster_names, self.counts)]


_POPULATIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # design -> its Population


def population(model) -> Population:
    """The population of a household design's model (made once per model)."""
    d = model.design
    pop = _POPULATIONS.get(d)
    if pop is None:
        k = len(d.cluster_names)
        cluster = np.asarray(d.cluster)
        has = {"all": np.ones(d.n, bool), "battery": d.sizes["battery_kwh"] > 0, "ev": d.sizes["ev_kwh"] > 0,
               "heat_pump": d.sizes["hp_kw"] > 0}
        weights = {}
        for device, mask in has.items():
            member = (cluster[:, None] == np.arange(k)[None, :]) & mask[:, None]  # (N, K)
            count = member.sum(axis=0)
            w = member / np.maximum(count, 1)
            w.flags.writeable = False
            weights[device] = (w, count > 0)
        hp = has["heat_pump"]
        band = (float(d.sizes["t_min_c"][hp].mean()), float(d.sizes["t_max_c"][hp].mean())) if hp.any() else None
        pop = _POPULATIONS[d] = Population(d.n, tuple(d.cluster_names), cluster, np.bincount(cluster, minlength=k),
                                           weights, band)
    return pop


# --- the snapshot --------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class HouseholdSnapshot:
    """A household design's part of a page snapshot. The tables are read-only views of the record's
    columns (all hours so far, no copy); `week_start` is the row (hour) of the current week's first
    hour; `settings` are the scenario's settings the figures name (the design's own object)."""

    pop: Population
    settings: object
    start_cet: pd.Timestamp | None  # when the last cleared hour began, CET (UTC+1, as the market's data)
    week_start: int
    community: Mapping[str, np.ndarray]  # one row per hour
    households: Mapping[str, np.ndarray]  # one row per hour and household (hour-major)


def take(model, community: tuple[str, ...], households: tuple[str, ...], settings) -> HouseholdSnapshot:
    """The design's part of the page's snapshot: references to the record's column views, O(1)."""
    rec, h = model.record, model.hour_result
    start = week_start = None
    if h is not None:
        utc = model.design.raw.hour_utc[h.week * HOURS_PER_WEEK + h.hour_of_week]
        start = pd.Timestamp(utc) + pd.Timedelta(hours=1)
        week_start = model.hours_done - (h.hour_of_week + 1)
    return HouseholdSnapshot(
        pop=population(model), settings=settings, start_cet=start, week_start=week_start or 0,
        community={c: rec.column("community", c) for c in community},
        households={c: rec.column("households", c) for c in households},
    )


def clock(snap) -> str | None:
    s = snap.detail.start_cet
    return None if s is None else f"{s:%a %d %b %H:%M} CET"


def hours_of_week(snap) -> np.ndarray:
    """The hours of the week so far (0, 1, ...): the figures' x values."""
    return np.arange(snap.hours_done - snap.detail.week_start)


def week_column(snap, column: str) -> np.ndarray:
    """A community column over the current week so far (a view)."""
    return snap.detail.community[column][snap.detail.week_start:snap.hours_done]


def household_rows(snap, column: str) -> np.ndarray:
    """A households column over the current week so far, one row per hour (hours, N) (a view)."""
    d = snap.detail
    return d.households[column].reshape(-1, d.pop.n)[d.week_start:snap.hours_done]


def cluster_means(snap, per_hour: np.ndarray, device: str = "all") -> np.ndarray:
    """(hours, K): each cluster's mean of `per_hour` (hours, N) over its households with `device`
    (NaN for a cluster without such households)."""
    w, present = snap.detail.pop.weights[device]
    out = per_hour @ w
    out[:, ~present] = np.nan
    return out


# --- the controls ---------------------------------------------------------------------------------
def override_select(label: str, key: str, choices: Mapping[str, object], overrides: Mapping[str, object], set_override):
    """A select for the scenario override `key`: `AS_SCENARIO` (no override) or one of `choices`
    (shown text -> the override's value)."""
    shown = {value: text for text, value in choices.items()}
    current = overrides.get(key)
    solara.Select(label, values=[AS_SCENARIO, *choices], value=shown.get(current, AS_SCENARIO),
                  on_value=lambda text: set_override(key, choices.get(text)))


# --- the figures -----------------------------------------------------------------------------------
# A painter lays out its figure once (axes, labels, legends) and later only updates data and texts:
# about half the time of a new figure. `LiveFigure` draws one figure at a time, so a painter is never
# drawn from two threads at once.
class Painter(figures.Painter):
    """A household design's figure: it knows the population (clusters, devices)."""

    dpi = DPI

    def __init__(self, pop: Population):
        self.pop = pop


def draw_week_lines(lines: Mapping[str, object], snap) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Set each line (by community column) to the week so far; returns (hours of week, {column: values})."""
    t = hours_of_week(snap)
    values = {col: week_column(snap, col) for col in lines}
    for col, line in lines.items():
        line.set_data(t, values[col])
    return t, values


def draw_bars(bars, heights: np.ndarray) -> None:
    """Heights of the week's hourly bars: the hours so far, then zero."""
    for bar, h in zip(bars, heights):
        bar.set_height(h)
    for bar in bars[len(heights):]:
        bar.set_height(0.0)


def hour_axis(ax, label: bool = True):
    """The week's hours on the x axis, a tick per day."""
    ax.set_xlim(-0.5, HOURS_PER_WEEK - 0.5)
    ax.set_xticks(np.arange(0, HOURS_PER_WEEK + 1, 24))
    ax.grid(alpha=0.3)
    if label:
        ax.set_xlabel("hour of the week", fontsize=9)
    ax.tick_params(labelsize=8)


def legend_above(ax, ncols: int = 3):
    """The axes' legend in a row above it (a fixed place: `loc="best"` costs a third of a redraw)."""
    ax.legend(fontsize=8, loc="lower left", bbox_to_anchor=(0.0, 1.0), ncols=ncols, frameon=False, borderaxespad=0.2,
              handlelength=1.8, columnspacing=1.0)


def fit_ylim(ax, *arrays, floor=None, ceiling=None, pad: float = 0.08, empty=(0.0, 1.0)):
    """Fit the y axis to the finite values of `arrays` (with `pad` of the span on each side);
    `floor`/`ceiling` are always shown."""
    values = np.concatenate([*(np.asarray(a, float).ravel() for a in arrays),
                             [v for v in (floor, ceiling) if v is not None]])
    values = values[np.isfinite(values)]
    if not len(values):
        ax.set_ylim(*empty)
        return
    lo, hi = float(values.min()), float(values.max())
    span = max(hi - lo, 1e-6 + 0.1 * max(abs(lo), abs(hi), 1.0))
    ax.set_ylim(lo - pad * span, hi + pad * span)


@dataclass(frozen=True)
class Quantity:
    """One choice of the per-cluster figure: `values(snap)` (hours, K) per cluster and hour."""

    label: str  # the toggle's text
    title: str
    unit: str  # the y axis
    values: Callable[[object], np.ndarray]
    device: str = "all"  # the households the means are over: "all", "battery", "ev" or "heat_pump"
    comfort_band: bool = False  # draw the heat-pump households' mean comfort band
    zero: bool = True  # the y axis always shows 0 (a price or a temperature need not)

    @property
    def lacking(self) -> str:
        """What the legend says of a cluster without the device (its mean is NaN)."""
        return LACKING.get(self.device, "")


def cluster_mean(label: str, title: str, unit: str, column: str, device: str = "all", scale: float = 1.0,
                 **kw) -> Quantity:
    """The quantity "each cluster's mean of a households column (times `scale`), over its households
    with `device`" (`kw`: more `Quantity` fields)."""
    return Quantity(label, title, unit, lambda snap: scale * cluster_means(snap, household_rows(snap, column), device),
                    device, **kw)


def cost_so_far(title: str, paid: tuple[str, ...], credited: tuple[str, ...]) -> Quantity:
    """The quantity "each cluster's mean cost per household since the week began": the `paid`
    columns minus the `credited` ones, summed over the hours so far."""
    def values(snap):
        per_hour = sum(household_rows(snap, c) for c in paid) - sum(household_rows(snap, c) for c in credited)
        return np.cumsum(cluster_means(snap, per_hour), axis=0)

    return Quantity("cost so far", title, "€ per household", values)


NET = cluster_mean("net position", "Net position, mean per household (+ = needs energy)", "kW", "net_kw")
SOC = cluster_mean("battery SOC", "Battery state of charge, mean over the households with a battery", "%",
                   "battery_soc", "battery", 100.0)
EV = cluster_mean("EV energy", "EV battery energy, mean over the households with an EV", "kWh", "ev_energy_kwh", "ev")
INDOOR = cluster_mean("indoor temperature", "Indoor temperature, mean over the households with a heat pump", "°C",
                      "t_in_c", "heat_pump", comfort_band=True, zero=False)


class ClusterPainter(Painter):
    """A line per cluster of one `Quantity` over the week's hours; the legend names each cluster
    with its household count (and says when a cluster lacks the device the quantity is about)."""

    figsize = (12.4, 3.3)

    def __init__(self, pop: Population, quantities: tuple[Quantity, ...], members: str = "households"):
        super().__init__(pop)
        self.quantities = {q.label: q for q in quantities}
        self.members = members

    def setup(self, fig: Figure):
        self.ax = ax = fig.add_axes((0.055, 0.14, 0.74, 0.76))
        self.lines = [ax.plot([], [], lw=1.6, color=CLUSTER_COLORS[k % len(CLUSTER_COLORS)], label=label)[0]
                      for k, label in enumerate(self.pop.labels)]
        self.band = [ax.axhline(0.0, color="#555", lw=0.8, ls=":") for _ in range(2)]
        self.band[0].set_label("comfort band (mean)")
        self.legend = ax.legend(handles=[*self.lines, self.band[0]], fontsize=8, loc="upper left",
                                bbox_to_anchor=(1.01, 1.0), frameon=False, borderaxespad=0.0,
                                title=f"cluster ({self.members})", title_fontsize=8, alignment="left")
        self.legend_texts = self.legend.get_texts()
        self.zero = ax.axhline(0.0, color="#333", lw=0.6)
        self.empty = ax.text(0.5, 0.5, "step the model to see the clusters", transform=ax.transAxes, ha="center",
                             color="#777")
        self.title = ax.set_title("", fontsize=10, y=1.0)
        hour_axis(ax)

    def update(self, snap, label: str):
        q = self.quantities[label]
        t = hours_of_week(snap)
        values = q.values(snap)
        for k, line in enumerate(self.lines):
            line.set_data(t, values[:, k])
            absent = not self.pop.weights[q.device][1][k]
            self.legend_texts[k].set_text(self.pop.labels[k] + (f": {q.lacking}" if absent else ""))
        band = self.pop.comfort_band_c if q.comfort_band else None
        for y, line in zip(band or (0.0, 0.0), self.band):
            line.set_ydata([y, y])
            line.set_visible(band is not None)
        self.legend_texts[-1].set_visible(band is not None)
        self.legend.legend_handles[-1].set_visible(band is not None)
        self.empty.set_visible(len(t) == 0)
        self.zero.set_visible(q.zero)
        fit_ylim(self.ax, values, *(band or ()), floor=0.0 if q.zero else None)
        self.ax.set_ylabel(q.unit, fontsize=9)
        self.title.set_text(q.title)


@solara.component
def ClusterView(title: str, painter: ClusterPainter, snap):
    """The per-cluster figure with its quantity toggle."""
    labels = list(painter.quantities)
    shown = solara.use_reactive(labels[0])
    solara.ToggleButtonsSingle(value=shown, values=labels, dense=True)
    LiveFigure(title, painter.draw, (snap, shown.value))
