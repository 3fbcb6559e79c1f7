"""Independent AC power-flow check of a :class:`~grid.feeder.Feeder` via pandapower.

This is the only module of the project that imports pandapower for power
flows (lazily, inside functions).  The market code works on ``Feeder``
arrays and :mod:`grid.lindistflow`; use this module to validate results.

Injections follow :mod:`grid.lindistflow`'s convention: ``+`` = export into
the grid (generation minus load), MW / Mvar, shape ``(n_bus,)`` (or
``(H, n_bus)`` for :func:`ac_power_flow_hours`); the slack entry (index 0)
is ignored.  The net is the feeder only: one bus per feeder bus, the same
lines (r, x, shunt capacitance, thermal limit), an ext_grid at the slack with
``vm_pu = v_slack_pu`` and one static generator per non-slack bus carrying
the injection (negative for net load).  Newton-Raphson.
"""

from __future__ import annotations

import math
import threading
import warnings
import weakref
from dataclasses import dataclass

import numpy as np

from grid.feeder import Feeder

__all__ = ["AcResult", "AcHours", "ac_power_flow", "ac_power_flow_hours"]


@dataclass
class AcResult:
    """AC power-flow result for one snapshot (NaN everywhere if not converged)."""

    v_pu: np.ndarray  # (n_bus,)
    line_loading_pct: np.ndarray  # (n_bus,), line into each bus; entry 0 = nan
    p_slack_mw: float  # import from the upstream grid (+) incl. losses
    converged: bool


@dataclass
class AcHours:
    """AC power-flow results for ``H`` snapshots (rows of NaN where not converged)."""

    v_pu: np.ndarray  # (H, n_bus)
    line_loading_pct: np.ndarray  # (H, n_bus), column 0 = nan
    p_slack_mw: np.ndarray  # (H,)
    converged: np.ndarray  # (H,) bool

    def __len__(self) -> int:
        return len(self.converged)

    def __getitem__(self, h: int) -> AcResult:
        return AcResult(self.v_pu[h], self.line_loading_pct[h], float(self.p_slack_mw[h]),
                        bool(self.converged[h]))


class _AcNet:
    """A pandapower net mirroring the feeder; only the sgen values change per run."""

    def __init__(self, feeder: Feeder, v_slack_pu: float = 1.0):
        import pandapower as pp

        self._pp = pp
        self.n_bus = feeder.n_bus  # no reference to the feeder: it keys a WeakKeyDictionary
        n = feeder.n_bus
        net = pp.create_empty_network(sn_mva=feeder.base_mva)
        self.bus = np.array([pp.create_bus(net, vn_kv=feeder.base_kv, name=str(b))
                             for b in feeder.bus_names])
        z_base = feeder.z_base_ohm
        self.line = np.full(n, -1, dtype=int)
        for j in range(1, n):
            length = float(feeder.line_length_km[j]) or 1.0
            self.line[j] = pp.create_line_from_parameters(
                net, from_bus=int(self.bus[feeder.parent[j]]), to_bus=int(self.bus[j]),
                length_km=length,
                r_ohm_per_km=float(feeder.r_pu[j]) * z_base / length,
                x_ohm_per_km=float(feeder.x_pu[j]) * z_base / length,
                c_nf_per_km=float(feeder.line_c_nf[j]) / length,
                max_i_ka=float(feeder.line_s_max_mva[j]) / (math.sqrt(3.0) * feeder.base_kv),
                name=feeder.line_name(j),
            )
        self.ext_grid = pp.create_ext_grid(net, bus=int(self.bus[0]), vm_pu=float(v_slack_pu))
        self.sgen = np.array([pp.create_sgen(net, bus=int(self.bus[j]), p_mw=0.0, q_mvar=0.0)
                              for j in range(1, n)])
        self.net = net
        # positional rows of results tables (indices are 0..k-1 here, but be safe)
        self._bus_rows = net.bus.index.get_indexer(self.bus)
        self._line_rows = net.line.index.get_indexer(self.line[1:])
        self._sgen_rows = net.sgen.index.get_indexer(self.sgen)
        self._p_col = net.sgen.columns.get_loc("p_mw")
        self._q_col = net.sgen.columns.get_loc("q_mvar")
        self._recycle_ok = False
        self.lock = threading.Lock()

    def _runpp(self, **kw) -> bool:
        pp = self._pp
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                pp.runpp(self.net, algorithm="nr", max_iteration=30, calculate_voltage_angles=True,
                         check_connectivity=False, numba=False, **kw)
            return bool(self.net.converged)
        except (pp.LoadflowNotConverged, np.linalg.LinAlgError, FloatingPointError):
            return False

    def run(self, p_inj: np.ndarray, q_inj: np.ndarray, v_slack_pu: float):
        """Run one power flow; returns (v, loading, p_slack, converged)."""
        net = self.net
        n = self.n_bus
        net.ext_grid.at[self.ext_grid, "vm_pu"] = float(v_slack_pu)
        net.sgen.iloc[self._sgen_rows, self._p_col] = p_inj[1:]
        net.sgen.iloc[self._sgen_rows, self._q_col] = q_inj[1:]
        ok = False
        if self._recycle_ok:
            # fast path: reuse Ybus etc., update only the bus PQ and slack voltage
            ok = self._runpp(recycle=dict(bus_pq=True, gen=True, trafo=False))
            # guard against a warm start landing on the low-voltage NR branch
            ok = ok and bool(np.nanmin(net.res_bus["vm_pu"].to_numpy()) > 0.5)
        if not ok:
            # cold start (first run, or the fast path failed)
            ok = self._runpp(init="flat")
        self._recycle_ok = ok
        v = np.full(n, np.nan)
        loading = np.full(n, np.nan)
        if not ok:
            return v, loading, math.nan, False
        v[:] = net.res_bus["vm_pu"].to_numpy()[self._bus_rows]
        loading[1:] = net.res_line["loading_percent"].to_numpy()[self._line_rows]
        p_slack = float(net.res_ext_grid["p_mw"].iloc[0])
        if not np.all(np.isfinite(v)):
            return np.full(n, np.nan), np.full(n, np.nan), math.nan, False
        return v, loading, p_slack, True


_NETS: "weakref.WeakKeyDictionary[Feeder, _AcNet]" = weakref.WeakKeyDictionary()
_NETS_LOCK = threading.Lock()


def _net_for(feeder: Feeder) -> _AcNet:
    """One cached pandapower net per Feeder object (building one takes ~0.2 s)."""
    with _NETS_LOCK:
        acnet = _NETS.get(feeder)
        if acnet is None:
            acnet = _NETS[feeder] = _AcNet(feeder)
        return acnet


def _inputs(feeder: Feeder, p, q, batch: bool):
    p = np.asarray(p, dtype=float)
    q = np.asarray(q, dtype=float)
    want = "(H, n_bus)" if batch else "(n_bus,)"
    nd = 2 if batch else 1
    if p.ndim != nd or p.shape[-1] != feeder.n_bus or p.shape != q.shape:
        raise ValueError(f"injections must both have shape {want} with n_bus={feeder.n_bus}; "
                         f"got p {p.shape}, q {q.shape}")
    bad = ~np.isfinite(p[..., 1:]) | ~np.isfinite(q[..., 1:])
    if bad.any():
        raise ValueError("injections contain non-finite values")
    return p, q


def ac_power_flow(feeder: Feeder, p_inj_mw, q_inj_mvar, v_slack_pu: float = 1.0) -> AcResult:
    """AC power flow for one set of nodal injections (see module docstring)."""
    p, q = _inputs(feeder, p_inj_mw, q_inj_mvar, batch=False)
    acnet = _net_for(feeder)
    with acnet.lock:
        v, loading, p_slack, ok = acnet.run(p, q, float(v_slack_pu))
    return AcResult(v, loading, p_slack, ok)


def ac_power_flow_hours(feeder: Feeder, p_inj_mw, q_inj_mvar, v_slack_pu=1.0) -> AcHours:
    """AC power flow for ``H`` snapshots, reusing one pandapower net.

    ``p_inj_mw``/``q_inj_mvar`` have shape ``(H, n_bus)``; ``v_slack_pu`` is a
    scalar or shape ``(H,)``.  Hours that do not converge get NaN rows and
    ``converged=False``; the other hours are unaffected.
    """
    p, q = _inputs(feeder, p_inj_mw, q_inj_mvar, batch=True)
    h_count = p.shape[0]
    vs = np.asarray(v_slack_pu, dtype=float)
    if vs.size == h_count and vs.ndim > 1:
        vs = vs.reshape(h_count)  # accept (H, 1)
    vs = np.broadcast_to(vs, (h_count,))
    out = AcHours(
        v_pu=np.full((h_count, feeder.n_bus), np.nan),
        line_loading_pct=np.full((h_count, feeder.n_bus), np.nan),
        p_slack_mw=np.full(h_count, np.nan),
        converged=np.zeros(h_count, dtype=bool),
    )
    if h_count == 0:
        return out
    acnet = _net_for(feeder)
    with acnet.lock:
        for h in range(h_count):
            v, loading, p_slack, ok = acnet.run(p[h], q[h], float(vs[h]))
            out.v_pu[h], out.line_loading_pct[h] = v, loading
            out.p_slack_mw[h], out.converged[h] = p_slack, ok
    return out
