"""Stage 2a: the Local Flexibility Market (LFM), cleared by the DSO as a LinDistFlow OPF.

`build_lfm_problem` is the formulation, written plainly in PuLP (market-model.md (8)-(18)).
`LfmSolver` is the hot path: it builds that same PuLP model once, exports it to matrix form
(PuLP names -> highspy column/row positions) and keeps one persistent, warm-started highspy
model, changing only each hour's costs, bounds and right-hand sides. The per-hour numbers are
written once in `_hour_vectors`; tests check the solver against plain PuLP + HiGHS.

Uncongested hours skip the LP (`LfmSolver.screen`): when the schedule itself respects every
voltage, line and nodal limit with a margin and every bid price is positive, buying nothing is
the LP's unique optimum, the flows and voltages are the LinDistFlow of the schedule, no
constraint binds and all DLMPs are 0. Most hours are like that (85 % of the year with truthful
bids); the LP solves the rest. Tests check both kinds of hour against plain PuLP.

Variables (per hour): up_k, dn_k per aggregator k (bids' quantities); emergency slack per bus
(slack_up_b: load shed / emergency injection, slack_dn_b: generation curtailment, and their
reactive counterparts slack_qup_b, slack_qdn_b at 10x that) priced at the value of lost load, so every hour
clears (with all injections slackable, zero flow is always feasible); line flows P_l, Q_l on the line *into* bus l (direction parent -> child);
squared voltages v_b; the slack bus's injections P_0, Q_0 (free, cost 0).

Rows:
- pbal_b: supply - net outflow = 0 at every bus, written with the scheduled injection on the
  right-hand side:  sum_{k at b}(up_k - dn_k) + slack_up_b - slack_dn_b + P_b - sum_{c child} P_c
  = -sum_{k at b} P^sch_k. Its dual is the DLMP: the marginal LFM cost of one more MW of load at
  b. The slack bus's P_0 costs nothing, so its DLMP is 0 and, with nothing binding, all are 0.
- qbal_b: the same for reactive power (Q is fixed in the LFM: Q_k = Q^G_k - Q^D_k).
- vdrop_b: v_b - v_parent + 2 (r_b P_b + x_b Q_b) = 0 (v_slack fixed), bounds V_min^2..V_max^2.
- line_b_s: inscribed regular polygon of the circle P_l^2 + Q_l^2 <= S_l^2 (`polygon_sides`);
  every point it admits is inside the circle; it cuts at most a fraction 1 - cos(pi/sides).
- node_b_lo/hi: nodal limit (13). Q at a bus is fixed in the LFM, so P_b^2 + Q_b^2 <= S^2 is
  exactly |P_b| <= sqrt(S^2 - Q_b^2) (no polygon needed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from grid.feeder import Feeder
from grid.lindistflow import line_flows, voltages_pu2

#: Reactive emergency slack costs this many times the value of lost load: a last resort, used
#: only where shedding active power cannot restore feasibility (reactive flow over a limit).
Q_SLACK_PRICE_FACTOR = 10.0

#: Coefficients smaller than this are dropped (e.g. cos(pi/2) in the polygon).
COEF_TOL = 1e-12

#: An hour skips the LP only if every limit holds with at least this margin (MW, Mvar, p.u.^2):
#: well above HiGHS's feasibility tolerance (1e-7), so near-binding hours go to the LP.
SCREEN_MARGIN = 1e-6


@dataclass(frozen=True, eq=False)
class LfmNetwork:
    """What the DSO knows about the grid and the market rules; fixed for a scenario."""

    feeder: Feeder
    agg_bus: np.ndarray  # (K,) bus index of each aggregator (1..n_bus-1)
    v_slack_pu: float = 1.0
    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    node_s_max_mva: float = 10.0
    line_limit_factor: float = 1.0
    polygon_sides: int = 12
    voll_eur_mwh: float = 3000.0

    def __post_init__(self):
        bus = np.asarray(self.agg_bus)
        if bus.ndim != 1 or np.any(bus < 1) or np.any(bus >= self.feeder.n_bus):
            raise ValueError(
                f"aggregator buses must be non-slack bus indices 1..{self.feeder.n_bus - 1}; got {bus.tolist()}"
            )
        if self.polygon_sides < 4:
            raise ValueError("polygon_sides must be >= 4 (12 is the default)")
        if not 0 < self.v_min_pu < self.v_max_pu:
            raise ValueError("need 0 < v_min_pu < v_max_pu")

    @property
    def n_agg(self) -> int:
        return len(self.agg_bus)

    @property
    def line_s_max_mva(self) -> np.ndarray:
        return self.feeder.line_s_max_mva * self.line_limit_factor

    def polygon(self) -> tuple[np.ndarray, np.ndarray, float]:
        """Outward normals (cos, sin) of the inscribed polygon and its apothem ratio."""
        theta = 2 * np.pi * np.arange(self.polygon_sides) / self.polygon_sides
        cos, sin = np.cos(theta), np.sin(theta)
        cos[np.abs(cos) < COEF_TOL] = 0.0
        sin[np.abs(sin) < COEF_TOL] = 0.0
        return cos, sin, float(np.cos(np.pi / self.polygon_sides))


@dataclass(frozen=True)
class LfmBids:
    """One hour's inputs per aggregator (MW, Mvar, €/MWh)."""

    p_sched_mw: np.ndarray  # P^sch = P^G - D (+ = export)
    q_mvar: np.ndarray  # Q^G - Q^D
    up_cap_mw: np.ndarray  # P̄ - P^G
    dn_cap_mw: np.ndarray  # P^G
    up_eur_mwh: np.ndarray
    dn_eur_mwh: np.ndarray
    #: (K,) added to both of an aggregator's prices in the DSO's objective to break ties between equal
    #: bids (`tie_break_priorities`); None: no tie rule, and the solver picks among equally cheap dispatches
    priority_eur_mwh: np.ndarray | None = None

    def objective_prices(self) -> tuple[np.ndarray, np.ndarray]:
        """The (up, down) prices the DSO minimises: the bids plus their tie-break priority."""
        if self.priority_eur_mwh is None:
            return self.up_eur_mwh, self.dn_eur_mwh
        return self.up_eur_mwh + self.priority_eur_mwh, self.dn_eur_mwh + self.priority_eur_mwh


def tie_break_priorities(week: int, hour_of_week: int, n_agg: int, step_eur_mwh: float) -> np.ndarray:
    """The LFM's tie rule, a lottery per hour: a random order of the aggregators, drawn from (week, hour)
    alone, so that every run, policy and replay of that hour uses the same one, adds `step_eur_mwh` times
    its place (0 .. K-1) to each aggregator's prices in the DSO's objective. Among bids of equal price the
    DSO then buys from the earlier one first; bids differing by more than (K-1) x step are ordered by
    price as before. Without it, equal bids (common: learned prices saturate at the floor or the cap)
    leave several cheapest dispatches, and which one the warm-started simplex returns depends on what it
    solved before. The step reaches the DLMPs (the duals), by at most (K-1) x step."""
    place = np.empty(n_agg)
    place[np.random.default_rng([int(week), int(hour_of_week)]).permutation(n_agg)] = np.arange(n_agg)
    return step_eur_mwh * place


@dataclass(frozen=True)
class LfmResult:
    up_mw: np.ndarray  # (K,)
    dn_mw: np.ndarray  # (K,)
    dlmp_eur_mwh: np.ndarray  # (n_bus,)
    v_pu: np.ndarray  # (n_bus,)
    p_line_mw: np.ndarray  # (n_bus,) flow into bus l; entry 0 = slack injection P_0
    q_line_mvar: np.ndarray
    slack_up_mw: np.ndarray  # (n_bus,) entry 0 unused (0)
    slack_dn_mw: np.ndarray
    slack_q_mvar: np.ndarray  # (n_bus,) reactive emergency slack (+ = injected), entry 0 unused
    cost_eur: float  # optimal objective (8) incl. slack penalties

    @property
    def slack_mw(self) -> float:
        return float(self.slack_up_mw.sum() + self.slack_dn_mw.sum())


class LfmInfeasibleError(RuntimeError):
    pass


def _names(net: LfmNetwork):
    nonslack = range(1, net.feeder.n_bus)
    cols = (
        [f"up_{k}" for k in range(net.n_agg)]
        + [f"dn_{k}" for k in range(net.n_agg)]
        + [f"slack_up_{b}" for b in nonslack]
        + [f"slack_dn_{b}" for b in nonslack]
        + [f"slack_qup_{b}" for b in nonslack]
        + [f"slack_qdn_{b}" for b in nonslack]
        + [f"pl_{b}" for b in nonslack]
        + [f"ql_{b}" for b in nonslack]
        + [f"v_{b}" for b in nonslack]
        + ["p0", "q0"]
    )
    return cols


def build_lfm_problem(net: LfmNetwork, bids: LfmBids):
    """The LFM of one hour as a PuLP LpProblem. Returns (problem, variables by name)."""
    import pulp

    fd = net.feeder
    K, B = net.n_agg, fd.n_bus
    nonslack = range(1, B)
    prob = pulp.LpProblem("lfm", pulp.LpMinimize)
    up = [pulp.LpVariable(f"up_{k}", 0, float(bids.up_cap_mw[k])) for k in range(K)]
    dn = [pulp.LpVariable(f"dn_{k}", 0, float(bids.dn_cap_mw[k])) for k in range(K)]
    s_up = {b: pulp.LpVariable(f"slack_up_{b}", 0) for b in nonslack}
    s_dn = {b: pulp.LpVariable(f"slack_dn_{b}", 0) for b in nonslack}
    sq_up = {b: pulp.LpVariable(f"slack_qup_{b}", 0) for b in nonslack}
    sq_dn = {b: pulp.LpVariable(f"slack_qdn_{b}", 0) for b in nonslack}
    pl = {b: pulp.LpVariable(f"pl_{b}") for b in nonslack}
    ql = {b: pulp.LpVariable(f"ql_{b}") for b in nonslack}
    v = {b: pulp.LpVariable(f"v_{b}", net.v_min_pu**2, net.v_max_pu**2) for b in nonslack}
    p0, q0 = pulp.LpVariable("p0"), pulp.LpVariable("q0")
    v0 = net.v_slack_pu**2

    # (8) flexibility cost (with the tie rule's priorities, if any), plus the value of lost load on emergency slack
    up_price, dn_price = bids.objective_prices()
    prob += (
        pulp.lpSum(float(up_price[k]) * up[k] + float(dn_price[k]) * dn[k] for k in range(K))
        + pulp.lpSum(net.voll_eur_mwh * (s_up[b] + s_dn[b]) for b in nonslack)
        + pulp.lpSum(Q_SLACK_PRICE_FACTOR * net.voll_eur_mwh * (sq_up[b] + sq_dn[b]) for b in nonslack)
    )
    at_bus = {b: [k for k in range(K) if net.agg_bus[k] == b] for b in range(B)}
    children = {b: fd.children(b) for b in range(B)}
    p_sched_bus = {b: float(sum(bids.p_sched_mw[k] for k in at_bus[b])) for b in range(B)}
    q_bus = {b: float(sum(bids.q_mvar[k] for k in at_bus[b])) for b in range(B)}

    # (9), (11): active balance, supply - net outflow = 0, scheduled injection on the right
    prob += p0 - pulp.lpSum(pl[c] for c in children[0]) == 0, "pbal_0"
    for b in nonslack:
        flex = pulp.lpSum(up[k] - dn[k] for k in at_bus[b])
        prob += (
            flex + s_up[b] - s_dn[b] + pl[b] - pulp.lpSum(pl[c] for c in children[b]) == -p_sched_bus[b],
            f"pbal_{b}",
        )
    # (10), (12): reactive balance (Q fixed in the LFM)
    prob += q0 - pulp.lpSum(ql[c] for c in children[0]) == 0, "qbal_0"
    for b in nonslack:
        prob += sq_up[b] - sq_dn[b] + ql[b] - pulp.lpSum(ql[c] for c in children[b]) == -q_bus[b], f"qbal_{b}"
    # (17) LinDistFlow voltage drop, (18) voltage bounds on v
    for b in nonslack:
        parent = int(fd.parent[b])
        drop = 2 * float(fd.r_pu[b]) * pl[b] + 2 * float(fd.x_pu[b]) * ql[b]
        if parent == 0:
            prob += v[b] + drop == v0, f"vdrop_{b}"
        else:
            prob += v[b] - v[parent] + drop == 0, f"vdrop_{b}"
    # (15) line limits, inscribed polygon
    cos, sin, apothem = net.polygon()
    s_line = net.line_s_max_mva
    for b in nonslack:
        for s in range(net.polygon_sides):
            prob += float(cos[s]) * pl[b] + float(sin[s]) * ql[b] <= float(s_line[b]) * apothem, f"line_{b}_{s}"
    # (13) nodal limits, exact for fixed Q; (14) is implied by the bid bounds
    for b in nonslack:
        p_max = float(np.sqrt(max(net.node_s_max_mva**2 - q_bus[b] ** 2, 0.0)))
        p_b = p_sched_bus[b] + pulp.lpSum(up[k] - dn[k] for k in at_bus[b]) + s_up[b] - s_dn[b]
        prob += p_b <= p_max, f"node_{b}_hi"
        prob += p_b >= -p_max, f"node_{b}_lo"
    variables = {var.name: var for var in [*up, *dn, *s_up.values(), *s_dn.values(), *sq_up.values(), *sq_dn.values(), *pl.values(), *ql.values(), *v.values(), p0, q0]}
    return prob, variables


def solve_lfm_pulp(net: LfmNetwork, bids: LfmBids, solver=None) -> LfmResult:
    """Build and solve one hour with plain PuLP (reference; default solver HiGHS in-process)."""
    import pulp

    prob, var = build_lfm_problem(net, bids)
    status = prob.solve(solver or pulp.HiGHS(msg=False))
    if pulp.LpStatus[status] != "Optimal":
        raise LfmInfeasibleError(f"LFM reference: PuLP status {pulp.LpStatus[status]}")
    B = net.feeder.n_bus
    val = lambda name: var[name].value() or 0.0  # noqa: E731  (PuLP gives None for unused vars)
    dlmp = np.array([prob.constraints[f"pbal_{b}"].pi for b in range(B)], dtype=float)
    v = np.array([net.v_slack_pu**2] + [val(f"v_{b}") for b in range(1, B)])
    return LfmResult(
        up_mw=np.array([val(f"up_{k}") for k in range(net.n_agg)]),
        dn_mw=np.array([val(f"dn_{k}") for k in range(net.n_agg)]),
        dlmp_eur_mwh=dlmp,
        v_pu=np.sqrt(np.maximum(v, 0.0)),
        p_line_mw=np.array([val("p0")] + [val(f"pl_{b}") for b in range(1, B)]),
        q_line_mvar=np.array([val("q0")] + [val(f"ql_{b}") for b in range(1, B)]),
        slack_up_mw=np.array([0.0] + [val(f"slack_up_{b}") for b in range(1, B)]),
        slack_dn_mw=np.array([0.0] + [val(f"slack_dn_{b}") for b in range(1, B)]),
        slack_q_mvar=np.array([0.0] + [val(f"slack_qup_{b}") - val(f"slack_qdn_{b}") for b in range(1, B)]),
        cost_eur=float(pulp.value(prob.objective) or 0.0),
    )


@dataclass
class _MatrixForm:
    col_names: list[str]
    row_names: list[str]
    a_csc: tuple[np.ndarray, np.ndarray, np.ndarray]  # start, index, value (column-wise)
    col_lower: np.ndarray
    col_upper: np.ndarray
    row_lower: np.ndarray
    row_upper: np.ndarray
    cost: np.ndarray
    col: dict[str, int] = field(default_factory=dict)
    row: dict[str, int] = field(default_factory=dict)


def pulp_to_matrix(prob, col_names: list[str]) -> _MatrixForm:
    """Export a PuLP LpProblem to column-wise sparse matrix form in the given column order."""
    import pulp

    col = {name: j for j, name in enumerate(col_names)}
    variables = {v.name: v for v in prob.variables()}
    missing = set(variables) - set(col)
    if missing:
        raise ValueError(f"PuLP model has variables not in the column order: {sorted(missing)[:5]}")
    n = len(col_names)
    lower = np.array([-np.inf if variables.get(c) is None or variables[c].lowBound is None else variables[c].lowBound for c in col_names], float)
    upper = np.array([np.inf if variables.get(c) is None or variables[c].upBound is None else variables[c].upBound for c in col_names], float)
    cost = np.zeros(n)
    for var, coef in prob.objective.items():
        cost[col[var.name]] = coef
    rows, triplets = [], []
    r_lo, r_hi = [], []
    for i, (name, con) in enumerate(prob.constraints.items()):
        rows.append(name)
        rhs = -con.constant
        r_lo.append(rhs if con.sense in (pulp.LpConstraintEQ, pulp.LpConstraintGE) else -np.inf)
        r_hi.append(rhs if con.sense in (pulp.LpConstraintEQ, pulp.LpConstraintLE) else np.inf)
        for var, coef in con.items():
            if abs(coef) > COEF_TOL:
                triplets.append((col[var.name], i, coef))
    triplets.sort()
    cols_, rows_, vals_ = (np.array(x) for x in zip(*triplets))
    start = np.searchsorted(cols_, np.arange(n + 1)).astype(np.int32)
    return _MatrixForm(
        col_names=list(col_names), row_names=rows, a_csc=(start, rows_.astype(np.int32), vals_.astype(float)),
        col_lower=lower, col_upper=upper, row_lower=np.array(r_lo), row_upper=np.array(r_hi), cost=cost,
        col=col, row={r: i for i, r in enumerate(rows)},
    )


class LfmSolver:
    """Persistent highspy model of the LFM, derived once from `build_lfm_problem`.

    `solve(bids)` changes only the hour-dependent numbers and re-solves from the previous basis.
    """

    def __init__(self, net: LfmNetwork):
        import highspy

        self.net = net
        K, B = net.n_agg, net.feeder.n_bus
        template = LfmBids(*(np.zeros(K) for _ in range(6)))
        prob, _ = build_lfm_problem(net, template)
        m = pulp_to_matrix(prob, _names(net))
        self._m = m

        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = len(m.col_names), len(m.row_names)
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = m.cost, m.col_lower, m.col_upper
        lp.row_lower_, lp.row_upper_ = m.row_lower, m.row_upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = m.a_csc
        self._lp = lp
        self._optimal = highspy.HighsModelStatus.kOptimal

        nonslack = np.arange(1, B)
        idx = lambda names: np.array([m.col[n] for n in names], dtype=np.int32)  # noqa: E731
        ridx = lambda names: np.array([m.row[n] for n in names], dtype=np.int32)  # noqa: E731
        self._c_bid = idx([f"up_{k}" for k in range(K)] + [f"dn_{k}" for k in range(K)])
        self._c_slack = idx([f"slack_up_{b}" for b in nonslack] + [f"slack_dn_{b}" for b in nonslack])
        self._c_qslack = idx([f"slack_qup_{b}" for b in nonslack] + [f"slack_qdn_{b}" for b in nonslack])
        self._c_pl = idx(["p0"] + [f"pl_{b}" for b in nonslack])
        self._c_ql = idx(["q0"] + [f"ql_{b}" for b in nonslack])
        self._c_v = idx([f"v_{b}" for b in nonslack])
        self._r_pbal = ridx([f"pbal_{b}" for b in range(B)])
        self._r_qbal_ns = ridx([f"qbal_{b}" for b in nonslack])
        self._r_pbal_ns = self._r_pbal[1:]
        self._r_node = ridx([f"node_{b}_hi" for b in nonslack] + [f"node_{b}_lo" for b in nonslack])
        self._r_hour = np.concatenate([self._r_pbal_ns, self._r_qbal_ns, self._r_node])
        # aggregator -> bus incidence (non-slack buses), to sum per-bus quantities
        self._inc = np.zeros((B - 1, K))
        self._inc[np.asarray(net.agg_bus) - 1, np.arange(K)] = 1.0
        self._h = self._new_highs()
        # the screen: LinDistFlow of a schedule as one linear map of the non-slack injections,
        # [p_bus, q_bus] -> [P_line, Q_line, v - v_slack^2] (non-slack buses), read off grid.lindistflow
        unit = np.zeros((2 * (B - 1), B)), np.zeros((2 * (B - 1), B))
        unit[0][np.arange(B - 1), np.arange(1, B)] = 1.0
        unit[1][np.arange(B - 1, 2 * B - 2), np.arange(1, B)] = 1.0
        p_line, q_line = line_flows(net.feeder, *unit)
        dv2 = voltages_pu2(net.feeder, *unit, v_slack_pu=0.0)
        self._screen_map = np.hstack([p_line[:, 1:], q_line[:, 1:], dv2[:, 1:]]).T  # (3(B-1), 2(B-1))
        cos, sin, apothem = net.polygon()
        self._poly = np.stack([cos, sin])  # (2, sides): line l's polygon rows are [P_l, Q_l] @ _poly
        self._poly_limit = net.line_s_max_mva[1:, None] * apothem - SCREEN_MARGIN  # (B-1, 1)
        v0 = net.v_slack_pu**2
        self._dv2_lo, self._dv2_hi = net.v_min_pu**2 - v0 + SCREEN_MARGIN, net.v_max_pu**2 - v0 - SCREEN_MARGIN
        self.n_screened = self.n_lp = 0  # hours cleared without / with the LP (for benchmarks)
        self.n_cold_retries = 0  # LP hours solved a second time from scratch after a stalled warm start

    def _new_highs(self):
        """A fresh highspy model of the LFM (no basis, no solver history)."""
        import highspy

        h = highspy.Highs()
        h.setOptionValue("output_flag", False)
        h.setOptionValue("presolve", "off")  # keep the basis between hours (warm start)
        h.passModel(self._lp)
        voll = self.net.voll_eur_mwh
        h.changeColsCost(len(self._c_slack), self._c_slack, np.full(len(self._c_slack), voll))
        h.changeColsCost(len(self._c_qslack), self._c_qslack, np.full(len(self._c_qslack), Q_SLACK_PRICE_FACTOR * voll))
        return h

    def reset(self) -> None:
        """Start from a fresh solver: the next hour solves cold and nothing of earlier hours is left
        (degenerate hours have several optimal vertices, and `clearSolver` alone keeps state that
        can change which one the simplex returns). Training calls this at the start of every
        episode, which makes a run resumed from any checkpoint identical to an uninterrupted one."""
        self._h = self._new_highs()

    @property
    def n_rows(self) -> int:
        return len(self._m.row_names)

    @property
    def n_cols(self) -> int:
        return len(self._m.col_names)

    def _bus_injections(self, bids: LfmBids):
        """Scheduled P and fixed Q per non-slack bus, and the nodal P limit sqrt(S^2 - Q^2)."""
        p_bus, q_bus = self._inc @ bids.p_sched_mw, self._inc @ bids.q_mvar
        return p_bus, q_bus, np.sqrt(np.maximum(self.net.node_s_max_mva**2 - q_bus**2, 0.0))

    def screen(self, bids: LfmBids, injections=None) -> LfmResult | None:
        """The LP's solution without the LP, if the schedule needs no flexibility; else None.

        With every bid price > 0, zero flexibility is the unique optimum whenever the schedule is
        feasible; it is then the LinDistFlow of the schedule, with nothing binding (all limits
        hold with `SCREEN_MARGIN`), so every constraint's dual, hence every DLMP, is 0.
        `injections`: `_bus_injections(bids)` if the caller has them already."""
        if not ((bids.up_eur_mwh > 0).all() and (bids.dn_eur_mwh > 0).all()):  # (methods: no numpy wrapper per call)
            return None  # zero-price bids: several optima; the LP picks one
        net, B, K = self.net, self.net.feeder.n_bus, self.net.n_agg
        p_bus, q_bus, p_max = self._bus_injections(bids) if injections is None else injections
        if (np.abs(p_bus) > p_max - SCREEN_MARGIN).any():
            return None
        flow_p, flow_q, dv2 = (self._screen_map @ np.concatenate([p_bus, q_bus])).reshape(3, B - 1)
        if dv2.min() < self._dv2_lo or dv2.max() > self._dv2_hi:
            return None
        if (np.column_stack([flow_p, flow_q]) @ self._poly > self._poly_limit).any():
            return None
        zeros_k, zeros_b = np.zeros(K), np.zeros(B)
        return LfmResult(
            up_mw=zeros_k, dn_mw=zeros_k.copy(), dlmp_eur_mwh=zeros_b,
            v_pu=np.sqrt(np.concatenate([[net.v_slack_pu**2], net.v_slack_pu**2 + dv2])),
            p_line_mw=np.concatenate([[-p_bus.sum()], flow_p]), q_line_mvar=np.concatenate([[-q_bus.sum()], flow_q]),
            slack_up_mw=zeros_b.copy(), slack_dn_mw=zeros_b.copy(), slack_q_mvar=zeros_b.copy(), cost_eur=0.0,
        )

    def _hour_vectors(self, bids: LfmBids, injections):
        """This hour's bid costs, bid bounds and row bounds, in the solver's order."""
        cost = np.concatenate(bids.objective_prices()).astype(float)
        upper = np.concatenate([bids.up_cap_mw, bids.dn_cap_mw]).astype(float)
        p_bus, q_bus, p_max = injections
        # pbal/qbal equalities: rhs = -scheduled; node rows: -p_max - p_bus <= flex <= p_max - p_bus
        lo = np.concatenate([-p_bus, -q_bus, np.full_like(p_max, -np.inf), -p_max - p_bus])
        hi = np.concatenate([-p_bus, -q_bus, p_max - p_bus, np.full_like(p_max, np.inf)])
        return cost, upper, lo, hi

    def solve(self, bids: LfmBids) -> LfmResult:
        h, net = self._h, self.net
        if not (np.isfinite(bids.up_eur_mwh).all() and np.isfinite(bids.dn_eur_mwh).all()):
            raise ValueError("LFM bid prices must be finite (got NaN or inf); check the policy's actions.")
        injections = self._bus_injections(bids)
        quiet = self.screen(bids, injections)
        if quiet is not None:
            self.n_screened += 1
            return quiet
        self.n_lp += 1
        cost, upper, lo, hi = self._hour_vectors(bids, injections)
        nb = len(self._c_bid)
        h.changeColsCost(nb, self._c_bid, cost)
        h.changeColsBounds(nb, self._c_bid, np.zeros(nb), upper)
        h.changeRowsBounds(len(self._r_hour), self._r_hour, lo, hi)
        h.run()
        status = h.getModelStatus()
        if status != self._optimal:
            # a warm start can stall (highspy 1.15 reports status Unknown after a few iterations on
            # some bases; tests/test_lfm.py replays such a sequence): solve this hour again from scratch
            self.n_cold_retries += 1
            h.clearSolver()
            h.run()
            status = h.getModelStatus()
        if status != self._optimal:
            raise LfmInfeasibleError(
                f"LFM could not be cleared even with emergency slack (highspy status: {h.modelStatusToString(status)}); "
                "this should not happen: please report the scenario and hour."
            )
        sol = h.getSolution()
        x = np.asarray(sol.col_value)
        y = np.asarray(sol.row_dual)
        K, B = net.n_agg, net.feeder.n_bus
        v = np.concatenate([[net.v_slack_pu**2], x[self._c_v]])
        slack = x[self._c_slack]
        q_slack = x[self._c_qslack]
        return LfmResult(
            up_mw=x[self._c_bid[:K]],
            dn_mw=x[self._c_bid[K:]],
            dlmp_eur_mwh=y[self._r_pbal],
            v_pu=np.sqrt(np.maximum(v, 0.0)),
            p_line_mw=x[self._c_pl],
            q_line_mvar=x[self._c_ql],
            slack_up_mw=np.concatenate([[0.0], slack[: B - 1]]),
            slack_dn_mw=np.concatenate([[0.0], slack[B - 1 :]]),
            slack_q_mvar=np.concatenate([[0.0], q_slack[: B - 1] - q_slack[B - 1 :]]),
            cost_eur=float(h.getInfo().objective_function_value),
        )
