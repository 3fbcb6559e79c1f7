"""Tests of grid/: the CIGRE MV feeder, LinDistFlow and the pandapower AC check."""

from __future__ import annotations

import math

import networkx as nx
import numpy as np
import pytest

from grid.acpf import ac_power_flow, ac_power_flow_hours
from grid.feeder import FeederError, build_feeder, cigre_mv_feeder
from grid.lindistflow import line_flows, voltage_sensitivity, voltages_pu, voltages_pu2

# /work/shared/spec/grid.md: bus -> (parent, km, r pu, x pu, peak P MW, peak Q Mvar)
GRID_MD = {
    2: (1, 2.82, 0.003532, 0.005048, 0.0, 0.0),
    3: (2, 4.42, 0.005536, 0.007912, 0.5017, 0.2089),
    4: (3, 0.61, 0.000764, 0.001092, 0.4316, 0.1082),
    5: (4, 0.56, 0.000701, 0.001002, 0.7275, 0.1823),
    6: (5, 1.54, 0.001929, 0.002757, 0.5480, 0.1374),
    7: (8, 1.67, 0.002092, 0.002989, 0.0765, 0.0474),
    8: (3, 1.30, 0.001628, 0.002327, 0.5868, 0.1471),
    9: (8, 0.32, 0.000401, 0.000573, 0.5738, 0.3556),
    10: (9, 0.77, 0.000964, 0.001378, 0.5433, 0.1613),
    11: (10, 0.33, 0.000413, 0.000591, 0.3298, 0.0827),
}


@pytest.fixture(scope="module")
def feeder():
    return cigre_mv_feeder()


def _peak(feeder):
    return -feeder.load_p_peak_mw.copy(), -feeder.load_q_peak_mvar.copy()


# ---------------------------------------------------------------- feeder


def test_feeder_matches_grid_md(feeder):
    assert feeder.bus_names == tuple(range(1, 12))
    assert feeder.n_bus == 11
    assert feeder.parent[0] == -1 and feeder.r_pu[0] == 0 and feeder.x_pu[0] == 0
    assert math.isinf(feeder.line_s_max_mva[0])
    assert feeder.load_p_peak_mw[0] == 0 and feeder.load_q_peak_mvar[0] == 0
    assert feeder.base_mva == 1.0 and feeder.base_kv == 20.0 and feeder.z_base_ohm == 400.0
    for bus, (par, km, r, x, p, q) in GRID_MD.items():
        i = feeder.index_of(bus)
        assert i == bus - 1
        assert feeder.bus_names[feeder.parent[i]] == par, bus
        assert feeder.line_length_km[i] == pytest.approx(km)
        assert feeder.r_pu[i] == pytest.approx(r, abs=1e-5)
        assert feeder.x_pu[i] == pytest.approx(x, abs=1e-5)
        assert feeder.line_s_max_mva[i] == pytest.approx(0.145 * 20 * math.sqrt(3))
        assert feeder.line_s_max_mva[i] == pytest.approx(5.02, abs=0.01)
        assert feeder.load_p_peak_mw[i] == pytest.approx(p, abs=1e-4)
        assert feeder.load_q_peak_mvar[i] == pytest.approx(q, abs=1e-4)
    assert feeder.load_p_peak_mw.sum() == pytest.approx(4.32, abs=0.005)
    assert feeder.load_q_peak_mvar.sum() == pytest.approx(1.43, abs=0.005)


def test_feeder_is_tree_rooted_at_slack(feeder):
    g = feeder.graph
    assert nx.is_arborescence(g)
    assert [n for n, d in g.in_degree() if d == 0] == [0]
    assert g.number_of_edges() == feeder.n_bus - 1
    for i in range(feeder.n_bus):
        assert g.nodes[i]["name"] == feeder.bus_names[i]
    for u, v, e in g.edges(data=True):
        assert feeder.parent[v] == u
        assert e["r_pu"] == feeder.r_pu[v] and e["x_pu"] == feeder.x_pu[v]
        assert e["s_max_mva"] == feeder.line_s_max_mva[v]
        assert e["length_km"] == feeder.line_length_km[v]
    # order is topological: every parent before its child
    pos = {int(b): k for k, b in enumerate(feeder.order)}
    assert feeder.order[0] == 0 and sorted(pos) == list(range(feeder.n_bus))
    assert all(pos[int(feeder.parent[j])] < pos[j] for j in range(1, feeder.n_bus))
    name = feeder.bus_names
    assert [name[c] for c in feeder.children(feeder.index_of(3))] == [4, 8]
    assert [name[c] for c in feeder.children(feeder.index_of(8))] == [7, 9]
    assert feeder.children(feeder.index_of(6)) == []
    # arrays are read-only
    with pytest.raises(ValueError):
        feeder.r_pu[1] = 0.0


def test_derived_matrices_agree_with_networkx(feeder):
    g = feeder.graph
    n = feeder.n_bus
    assert feeder.downstream.shape == feeder.path_r.shape == feeder.path_x.shape == (n, n)
    assert np.all(feeder.downstream[0] == 1)
    for l in range(n):
        want = np.zeros(n)
        want[[l, *nx.descendants(g, l)]] = 1
        np.testing.assert_array_equal(feeder.downstream[l], want)
    for i in range(n):
        path = nx.shortest_path(g, 0, i)  # buses slack..i; lines are the buses after the slack
        want_r = np.zeros(n)
        want_x = np.zeros(n)
        want_r[path[1:]] = feeder.r_pu[path[1:]]
        want_x[path[1:]] = feeder.x_pu[path[1:]]
        np.testing.assert_array_equal(feeder.path_r[i], want_r)
        np.testing.assert_array_equal(feeder.path_x[i], want_x)


def test_unknown_bus_raises_clearly(feeder):
    with pytest.raises(ValueError, match=r"unknown bus 12.*CIGRE buses \[1, 2, .*11\]"):
        feeder.index_of(12)
    with pytest.raises(ValueError, match="unknown bus 0"):
        feeder.index_of(0)
    with pytest.raises(ValueError, match="unknown bus"):
        feeder.index_of("bus 5")
    assert feeder.index_of(1) == 0 and feeder.index_of(11) == 10


def test_non_radial_network_rejected():
    line = (1.0, 0.5, 0.7, 5.0, 0.0)
    with pytest.raises(FeederError, match="not a radial tree"):
        build_feeder((1, 2, 3), [(1, 2, *line), (2, 3, *line), (3, 1, *line)], {}, {})
    with pytest.raises(FeederError, match="not a radial tree"):
        build_feeder((1, 2, 3), [(1, 2, *line)], {}, {})
    f = build_feeder((1, 2, 3), [(2, 1, *line), (3, 2, *line)], {2: 1.0, 1: 9.0}, {})
    assert list(f.parent) == [-1, 0, 1] and list(f.load_p_peak_mw) == [0.0, 1.0, 0.0]


def test_line_limit_factor(feeder):
    tight = cigre_mv_feeder(line_limit_factor=0.8)
    np.testing.assert_allclose(tight.line_s_max_mva[1:], 0.8 * feeder.line_s_max_mva[1:])
    np.testing.assert_array_equal(tight.r_pu, feeder.r_pu)
    assert cigre_mv_feeder() is feeder  # cached
    with pytest.raises(ValueError):
        cigre_mv_feeder(line_limit_factor=0)


# ---------------------------------------------------------------- LinDistFlow


def _flows_reference(feeder, p):
    """Loop reference: walk the tree from the leaves up."""
    flow = np.zeros(feeder.n_bus)
    for j in reversed(feeder.order):
        if j != 0:
            flow[j] += -p[j]
            flow[feeder.parent[j]] += flow[j]
    return flow


def test_line_flows_balance_and_batch(feeder):
    rng = np.random.default_rng(0)
    p = rng.normal(size=(4, 3, feeder.n_bus))
    q = rng.normal(size=(4, 3, feeder.n_bus))
    pl, ql = line_flows(feeder, p, q)
    assert pl.shape == ql.shape == p.shape
    # the slack supplies the sum of non-slack withdrawals; its own entry is ignored
    np.testing.assert_allclose(pl[..., 0], -p[..., 1:].sum(-1))
    np.testing.assert_allclose(ql[..., 0], -q[..., 1:].sum(-1))
    p2 = p.copy()
    p2[..., 0] = 123.0
    np.testing.assert_array_equal(line_flows(feeder, p2, q)[0], pl)
    # flow conservation at each bus: inflow = withdrawal + outflows
    for j in range(1, feeder.n_bus):
        out = sum(pl[..., c] for c in feeder.children(j)) if feeder.children(j) else 0.0
        np.testing.assert_allclose(pl[..., j], -p[..., j] + out, atol=1e-12)
    np.testing.assert_allclose(pl[2, 1], _flows_reference(feeder, p[2, 1]), atol=1e-12)
    with pytest.raises(ValueError, match="shape"):
        line_flows(feeder, p[..., :5], q[..., :5])


def test_voltages_batch_and_sensitivity(feeder):
    rng = np.random.default_rng(1)
    p = rng.normal(scale=0.5, size=(168, feeder.n_bus))
    q = rng.normal(scale=0.2, size=(168, feeder.n_bus))
    vs = rng.uniform(0.98, 1.03, size=168)
    v2 = voltages_pu2(feeder, p, q, vs)
    assert v2.shape == (168, feeder.n_bus)
    np.testing.assert_allclose(v2[:, 0], vs**2)
    np.testing.assert_allclose(voltages_pu2(feeder, p, q, vs[:, None]), v2)
    # per-line recursion v_j = v_i - 2 (r P + x Q)
    pl, ql = line_flows(feeder, p, q)
    for j in range(1, feeder.n_bus):
        i = feeder.parent[j]
        np.testing.assert_allclose(
            v2[:, j], v2[:, i] - 2 * (feeder.r_pu[j] * pl[:, j] + feeder.x_pu[j] * ql[:, j]))
    r_mat, x_mat = voltage_sensitivity(feeder)
    np.testing.assert_allclose(v2, vs[:, None] ** 2 + p @ r_mat.T + q @ x_mat.T, atol=1e-12)
    np.testing.assert_allclose(voltages_pu(feeder, p, q, vs), np.sqrt(v2))
    # single snapshot, scalar slack
    assert voltages_pu(feeder, p[0], q[0]).shape == (feeder.n_bus,)


def test_lindistflow_peak_matches_grid_md(feeder):
    v = voltages_pu(feeder, *_peak(feeder))
    assert np.argmin(v) == feeder.index_of(11)
    assert v.min() == pytest.approx(0.9324, abs=2e-4)


# ---------------------------------------------------------------- AC check


def test_ac_peak_load_no_der_matches_pandapower_cigre(feeder):
    res = ac_power_flow(feeder, *_peak(feeder), v_slack_pu=1.0)
    assert res.converged
    assert res.v_pu[0] == pytest.approx(1.0)
    assert np.argmin(res.v_pu) == feeder.index_of(11)
    assert res.v_pu.min() == pytest.approx(0.9317, abs=1e-3)
    assert math.isnan(res.line_loading_pct[0])
    i23 = feeder.index_of(3)  # line 2-3 feeds bus 3
    assert np.nanargmax(res.line_loading_pct) == i23
    assert res.line_loading_pct[i23] == pytest.approx(96.0, abs=1.0)
    # slack import = load + losses (minus cable charging effects, tiny in P)
    assert feeder.load_p_peak_mw.sum() < res.p_slack_mw < feeder.load_p_peak_mw.sum() * 1.1


def test_lindistflow_vs_ac_random(feeder):
    rng = np.random.default_rng(2024)
    n_sets, n = 60, feeder.n_bus
    load = rng.uniform(0.0, 1.2, (n_sets, n))
    gen = rng.uniform(0.0, 1.0, (n_sets, n))
    p = gen - load * feeder.load_p_peak_mw
    q = -load * feeder.load_q_peak_mvar + gen * rng.uniform(-0.3, 0.3, (n_sets, n))
    p[:, 0] = q[:, 0] = 0.0
    vs = rng.uniform(0.98, 1.03, n_sets)
    ac = ac_power_flow_hours(feeder, p, q, vs)
    assert len(ac) == n_sets and ac.v_pu.shape == (n_sets, n)
    v_lin = voltages_pu(feeder, p, q, vs)
    ok = ac.converged & np.all((ac.v_pu >= 0.9) & (ac.v_pu <= 1.1), axis=1)
    assert ok.sum() >= 50
    err = np.abs(v_lin - ac.v_pu)[ok]
    assert err.max() < 0.005, err.max()
    # lossless LinDistFlow slack injection vs AC slack (AC adds losses)
    p_line, _ = line_flows(feeder, p, q)
    assert np.all(np.abs(p_line[ok, 0] - ac.p_slack_mw[ok]) < 0.3)
    # one hour through the single-snapshot API gives the same answer
    one = ac[3]
    again = ac_power_flow(feeder, p[3], q[3], vs[3])
    np.testing.assert_allclose(again.v_pu, one.v_pu, atol=1e-8)


def test_ac_non_convergence_keeps_other_hours(feeder):
    p0, q0 = _peak(feeder)
    p = np.tile(p0, (4, 1))
    q = np.tile(q0, (4, 1))
    p[1, feeder.index_of(11)] = -200.0  # impossible: 200 MW at the feeder end
    ac = ac_power_flow_hours(feeder, p, q, 1.0)
    assert list(ac.converged) == [True, False, True, True]
    assert np.all(np.isnan(ac.v_pu[1])) and math.isnan(ac.p_slack_mw[1])
    np.testing.assert_allclose(ac.v_pu[2], ac.v_pu[0], atol=1e-8)
    np.testing.assert_allclose(ac.v_pu[3], ac.v_pu[0], atol=1e-8)
    bad = ac_power_flow(feeder, p[1], q[1])
    assert not bad.converged and np.all(np.isnan(bad.v_pu))
    with pytest.raises(ValueError, match="shape"):
        ac_power_flow_hours(feeder, p0, q0)
