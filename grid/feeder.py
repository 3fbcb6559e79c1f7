"""The radial 20 kV feeder: CIGRE MV benchmark feeder 1 (buses 1-11).

Data come from ``pandapower.networks.create_cigre_network_mv(with_der=False)``
(see ``/work/shared/spec/grid.md``):

* buses 1-11 (20 kV) are kept; bus 1, the 20 kV side of the 110/20 kV
  transformer, is the slack.  Bus 0 (110 kV), the transformers and feeder 2
  (buses 12-14) are dropped, and so are bus 1's ~19.8 MW of lumped loads
  (they stand for the rest of the substation).
* lines with an open switch (S2 = line 6-7, S3 = line 11-4; S1 = line 14-8
  belongs to feeder 2 anyway) are dropped, leaving the radial tree
  1-2-3; 3-4-5-6; 3-8; 8-7; 8-9-10-11.
* per unit: base 1 MVA, 20 kV, Z_base = 400 ohm, so 1 MW = 1 p.u.

Buses are addressed by *index* 0..n_bus-1 everywhere in the project; index 0
is the slack (CIGRE bus 1) and index k-1 is CIGRE bus k.  Arrays indexed by
bus describe the line *into* that bus (from its parent); entry 0 (the slack,
which has no incoming line) is 0 (``inf`` for the thermal limit).

Nothing here imports pandapower at module import time; only
:func:`cigre_mv_feeder` (cached) touches it.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import networkx as nx
import numpy as np

__all__ = ["Feeder", "FeederError", "cigre_mv_feeder", "build_feeder"]

#: CIGRE MV feeder 1 bus numbers kept (bus 1 = slack first).
CIGRE_FEEDER1_BUSES: tuple[int, ...] = tuple(range(1, 12))
CIGRE_SLACK_BUS = 1


class FeederError(ValueError):
    """The network data do not form a valid radial feeder."""


@dataclass(frozen=True, eq=False)
class Feeder:
    """A radial distribution feeder with precomputed LinDistFlow matrices.

    Build it with :func:`cigre_mv_feeder` (or :func:`build_feeder`); the
    derived fields (``order``, ``downstream``, ``path_r``, ``path_x``) are
    computed once there.  All arrays are read-only.
    """

    bus_names: tuple[int, ...]
    parent: np.ndarray
    r_pu: np.ndarray
    x_pu: np.ndarray
    line_s_max_mva: np.ndarray
    line_length_km: np.ndarray
    load_p_peak_mw: np.ndarray
    load_q_peak_mvar: np.ndarray
    base_mva: float
    base_kv: float
    graph: nx.DiGraph
    # derived
    order: np.ndarray
    downstream: np.ndarray
    path_r: np.ndarray
    path_x: np.ndarray
    # extra line data, only needed by the AC check (shunt capacitance of the
    # line into each bus, total over its length, in nF; 0 at the slack)
    line_c_nf: np.ndarray

    @property
    def n_bus(self) -> int:
        return len(self.bus_names)

    @property
    def z_base_ohm(self) -> float:
        return self.base_kv**2 / self.base_mva

    def index_of(self, cigre_bus: int) -> int:
        """Index (0..n_bus-1) of CIGRE bus number ``cigre_bus``."""
        try:
            return self.bus_names.index(int(cigre_bus))
        except (ValueError, TypeError):
            raise ValueError(
                f"unknown bus {cigre_bus!r}: this feeder has CIGRE buses "
                f"{list(self.bus_names)} (bus {self.bus_names[0]} is the slack)"
            ) from None

    def children(self, i: int) -> list[int]:
        """Indices of the buses fed directly from bus index ``i``."""
        return sorted(self.graph.successors(int(i)))

    def lines(self) -> list[tuple[int, int]]:
        """(parent, child) index pairs, one per line, in bus order."""
        return [(int(self.parent[j]), j) for j in range(1, self.n_bus)]

    def line_name(self, j: int) -> str:
        """Human-readable name of the line into bus index ``j`` (e.g. '2-3')."""
        if j == 0:
            return "slack"
        return f"{self.bus_names[int(self.parent[j])]}-{self.bus_names[j]}"


def _ro(a: np.ndarray) -> np.ndarray:
    a = np.ascontiguousarray(a)
    a.setflags(write=False)
    return a


def build_feeder(
    bus_names: tuple[int, ...],
    lines: list[tuple[int, int, float, float, float, float, float]],
    load_p_mw: dict[int, float],
    load_q_mvar: dict[int, float],
    base_mva: float = 1.0,
    base_kv: float = 20.0,
) -> Feeder:
    """Build a :class:`Feeder` from raw data.

    ``bus_names[0]`` is the slack.  ``lines`` holds
    ``(bus_a, bus_b, length_km, r_ohm, x_ohm, s_max_mva, c_nf)`` in CIGRE bus
    names, in either direction; they must form a spanning tree of the buses.
    Loads are keyed by bus name (missing = 0; the slack's loads are ignored).
    """
    bus_names = tuple(int(b) for b in bus_names)
    n = len(bus_names)
    if len(set(bus_names)) != n:
        raise FeederError(f"duplicate bus names in {bus_names}")
    idx = {b: i for i, b in enumerate(bus_names)}

    ug = nx.Graph()
    ug.add_nodes_from(range(n))
    for a, b, length, r, x, smax, c in lines:
        if a not in idx or b not in idx:
            raise FeederError(f"line {a}-{b} connects a bus outside {bus_names}")
        ia, ib = idx[a], idx[b]
        if ug.has_edge(ia, ib):
            raise FeederError(f"parallel lines between buses {a} and {b}")
        ug.add_edge(ia, ib, length_km=float(length), r_ohm=float(r), x_ohm=float(x),
                    s_max_mva=float(smax), c_nf=float(c))
    if not nx.is_tree(ug):
        n_comp = nx.number_connected_components(ug)
        raise FeederError(
            f"the network is not a radial tree: {n} buses, {ug.number_of_edges()} closed "
            f"lines, {n_comp} connected component(s)"
            + (f", cycle {[bus_names[i] for i, _ in nx.find_cycle(ug)]}" if n_comp == 1 else "")
        )

    z_base = base_kv**2 / base_mva
    parent = np.full(n, -1, dtype=int)
    r_pu = np.zeros(n)
    x_pu = np.zeros(n)
    s_max = np.full(n, np.inf)
    length_km = np.zeros(n)
    c_nf = np.zeros(n)
    g = nx.DiGraph()
    for i, b in enumerate(bus_names):
        g.add_node(i, name=b)
    order = [0] + [v for _, v in nx.bfs_edges(ug, 0)]
    for u, v in nx.bfs_edges(ug, 0):  # u is the parent of v
        e = ug.edges[u, v]
        parent[v] = u
        r_pu[v] = e["r_ohm"] / z_base
        x_pu[v] = e["x_ohm"] / z_base
        s_max[v] = e["s_max_mva"]
        length_km[v] = e["length_km"]
        c_nf[v] = e["c_nf"]
        g.add_edge(u, v, r_pu=r_pu[v], x_pu=x_pu[v], s_max_mva=s_max[v],
                   length_km=length_km[v])
    assert nx.is_arborescence(g)

    p_load = np.array([0.0] + [float(load_p_mw.get(b, 0.0)) for b in bus_names[1:]])
    q_load = np.array([0.0] + [float(load_q_mvar.get(b, 0.0)) for b in bus_names[1:]])

    # downstream[l, j] = 1 iff j is in the subtree rooted at l (incl. l)
    downstream = np.zeros((n, n))
    for l in range(n):
        downstream[l, l] = 1.0
        downstream[l, list(nx.descendants(g, l))] = 1.0
    # on_path[i, l] = 1 iff line l (into bus l, l != 0) lies on the path slack -> i
    # i.e. i is downstream of l  <=>  on_path = downstream.T (minus the slack column)
    on_path = downstream.T.copy()
    on_path[:, 0] = 0.0
    path_r = on_path * r_pu[None, :]
    path_x = on_path * x_pu[None, :]

    return Feeder(
        bus_names=bus_names,
        parent=_ro(parent),
        r_pu=_ro(r_pu),
        x_pu=_ro(x_pu),
        line_s_max_mva=_ro(s_max),
        line_length_km=_ro(length_km),
        load_p_peak_mw=_ro(p_load),
        load_q_peak_mvar=_ro(q_load),
        base_mva=float(base_mva),
        base_kv=float(base_kv),
        graph=g,
        order=_ro(np.array(order, dtype=int)),
        downstream=_ro(downstream),
        path_r=_ro(path_r),
        path_x=_ro(path_x),
        line_c_nf=_ro(c_nf),
    )


@functools.lru_cache(maxsize=1)
def _cigre_mv_raw() -> tuple[tuple, tuple, tuple]:
    """Feeder-1 data read from pandapower's CIGRE MV network (slow: cached).

    Returns immutable ``(lines, loads_p, loads_q)``: lines as
    ``(from, to, length_km, r_ohm, x_ohm, s_max_mva, c_nf)`` in CIGRE bus
    numbers and loads as ``((bus, MW), ...)`` summed per bus.
    """
    import pandapower.networks as pn

    net = pn.create_cigre_network_mv(with_der=False)
    keep = set(CIGRE_FEEDER1_BUSES)
    # CIGRE bus number from the pandapower bus index (names are "Bus k")
    num = {int(i): int(str(nm).split()[-1]) for i, nm in net.bus["name"].items()}

    sw = net.switch
    open_lines = set(sw.loc[(sw["et"] == "l") & (~sw["closed"].astype(bool)), "element"].astype(int))

    lines = []
    for li, row in net.line.iterrows():
        a, b = num[int(row["from_bus"])], num[int(row["to_bus"])]
        if a not in keep or b not in keep or not bool(row["in_service"]) or int(li) in open_lines:
            continue
        length = float(row["length_km"])
        par = float(row["parallel"])
        r_ohm = float(row["r_ohm_per_km"]) * length / par
        x_ohm = float(row["x_ohm_per_km"]) * length / par
        vn_kv = float(net.bus.at[int(row["from_bus"]), "vn_kv"])
        s_max = float(row["max_i_ka"]) * float(row["df"]) * par * vn_kv * math.sqrt(3.0)
        c_nf = float(row["c_nf_per_km"]) * length * par
        lines.append((a, b, length, r_ohm, x_ohm, s_max, c_nf))

    p: dict[int, float] = {}
    q: dict[int, float] = {}
    for _, row in net.load.iterrows():
        b = num[int(row["bus"])]
        if b not in keep or b == CIGRE_SLACK_BUS or not bool(row["in_service"]):
            continue
        sc = float(row["scaling"])
        p[b] = p.get(b, 0.0) + float(row["p_mw"]) * sc
        q[b] = q.get(b, 0.0) + float(row["q_mvar"]) * sc
    return tuple(lines), tuple(sorted(p.items())), tuple(sorted(q.items()))


@functools.lru_cache(maxsize=8)
def cigre_mv_feeder(line_limit_factor: float = 1.0) -> Feeder:
    """CIGRE MV feeder 1 as a :class:`Feeder` (buses 1..11, bus 1 = slack).

    ``line_limit_factor`` scales every line's thermal limit (e.g. 0.8 to
    tighten the network).  Results are cached; the Feeder is immutable.
    """
    if not (line_limit_factor > 0 and math.isfinite(line_limit_factor)):
        raise ValueError(f"line_limit_factor must be a positive finite number, got {line_limit_factor!r}")
    lines, p, q = _cigre_mv_raw()
    lines = [(a, b, ln, r, x, s * line_limit_factor, c) for a, b, ln, r, x, s, c in lines]
    return build_feeder(CIGRE_FEEDER1_BUSES, lines, dict(p), dict(q), base_mva=1.0, base_kv=20.0)
