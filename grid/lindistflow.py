"""Vectorised LinDistFlow (Baran & Wu) on a radial :class:`~grid.feeder.Feeder`.

Sign convention (used throughout the project)
---------------------------------------------
* Nodal injections ``p_inj_mw``/``q_inj_mvar`` are **positive for export into
  the grid** (generation minus load).  Arrays have shape ``(..., n_bus)``
  with any leading batch dimensions (e.g. ``(168, n_bus)`` for a week).
  The slack entry (index 0) is ignored: the slack supplies the balance.
* Line flows are indexed by the bus the line feeds (line ``l`` runs from
  ``parent[l]`` to ``l``) and are **positive in the direction parent -> child**,
  i.e. ``P_l = -sum(injections in the subtree of l)`` (losses neglected).
  Entry 0 holds the slack injection, ``-sum(non-slack injections)``: positive
  when the feeder imports from the upstream grid.
* With base 1 MVA, MW = p.u. (the code divides by ``feeder.base_mva`` anyway).
* Voltages: ``v`` is the squared magnitude in p.u.;
  ``v_j = v_i - 2 (r_ij P_ij + x_ij Q_ij)`` for each line i -> j.

Everything is a matrix product with the feeder's precomputed ``downstream``
and ``path_r``/``path_x`` matrices; there are no per-bus Python loops.
"""

from __future__ import annotations

import numpy as np

from grid.feeder import Feeder

__all__ = ["line_flows", "voltages_pu2", "voltages_pu", "voltage_sensitivity"]


def _check(feeder: Feeder, a, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=float)
    if a.ndim == 0 or a.shape[-1] != feeder.n_bus:
        raise ValueError(f"{name} must have shape (..., {feeder.n_bus}), got {a.shape}")
    return a


def line_flows(feeder: Feeder, p_inj_mw, q_inj_mvar) -> tuple[np.ndarray, np.ndarray]:
    """Lossless line flows (MW, Mvar) parent -> child, shape ``(..., n_bus)``.

    Entry ``l`` is the flow on the line into bus ``l``; entry 0 is the slack
    injection (sum of all non-slack withdrawals).
    """
    p = _check(feeder, p_inj_mw, "p_inj_mw")
    q = _check(feeder, q_inj_mvar, "q_inj_mvar")
    d = feeder.downstream[:, 1:].T  # (n_bus-1, n_bus): slack injection ignored
    return -(p[..., 1:] @ d), -(q[..., 1:] @ d)


def voltages_pu2(feeder: Feeder, p_inj_mw, q_inj_mvar, v_slack_pu=1.0) -> np.ndarray:
    """Squared voltage magnitudes (p.u.^2), shape ``(..., n_bus)``.

    ``v_slack_pu`` (a magnitude, not squared) may be a scalar or broadcast
    against the batch dimensions, e.g. shape ``(168,)`` or ``(168, 1)``.
    """
    p_line, q_line = line_flows(feeder, p_inj_mw, q_inj_mvar)
    vs = np.asarray(v_slack_pu, dtype=float)
    if vs.ndim > 0 and vs.shape[-1:] != (1,):
        vs = vs[..., None]
    drop = 2.0 * (p_line @ feeder.path_r.T + q_line @ feeder.path_x.T) / feeder.base_mva
    return vs**2 - drop


def voltages_pu(feeder: Feeder, p_inj_mw, q_inj_mvar, v_slack_pu=1.0) -> np.ndarray:
    """Voltage magnitudes (p.u.) = sqrt of :func:`voltages_pu2` (NaN if negative)."""
    v2 = voltages_pu2(feeder, p_inj_mw, q_inj_mvar, v_slack_pu)
    with np.errstate(invalid="ignore"):
        return np.sqrt(v2)


def voltage_sensitivity(feeder: Feeder) -> tuple[np.ndarray, np.ndarray]:
    """Linear map from injections to squared voltages.

    Returns ``(R, X)``, each ``(n_bus, n_bus)``, with
    ``v = v_slack**2 + R @ p_inj + X @ q_inj`` (column 0 is zero, as the
    slack entry is ignored).  ``R[i, j] = 2 * (resistance of the common path
    of i and j to the slack) / base_mva``.  Handy for linear constraints in a
    market-clearing LP.
    """
    d = feeder.downstream.copy()
    d[:, 0] = 0.0
    return (2.0 * feeder.path_r @ d / feeder.base_mva, 2.0 * feeder.path_x @ d / feeder.base_mva)
