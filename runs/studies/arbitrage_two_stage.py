"""A best responder fitted on the market's exact values for both of an aggregator's decisions: how much
it withholds from the LEM and what up price it bids in the LFM.

The fitted up-price responder (`fitted_up_price_responder`) and fictitious play over fitted responders
(`arbitrage_fitted_play`) choose the LFM up price only, with the learned withholding. A trained best
responder, which changes every action, finds more where withholding pays: all-arb's small aggregator 7
withholds more in the LEM and sells the flexibility that creates (docs/arbitrage-study.md). This
responder covers that move without gradient play. Hours are independent games, so a best response
to everyone else's frozen policy is a per-hour choice given what the aggregator observes, found by
backward induction over the two stages of its hour:

  for every hour of the fit weeks and every withholding option w (its learned withholding, or one of the
  grid's levels), the LEM is cleared again with the aggregator withholding w; in that LEM outcome the
  LFM and balancing are cleared again at every up-price option j (its learned bids, or a constant up
  price with its learned down price) while everyone else plays its policy: the exact value V[w, j];

  stage 2: a network maps the aggregator's own LFM input (what its secondary actor sees after that LEM
  outcome) to V[w, :], over every (hour, w) sample; its pick j*(w) is the responder's up price;

  stage 1: a network maps its own LEM input to U[w] = V[w, j*(w)], the value of withholding w and then
  bidding as stage 2 picks; its pick w* is the responder's withholding.

Each sub-agent answers for its own reward, as the trained responder's do (`settlement.primary_reward`): an
arbitraging aggregator's withholding for r1 + r2, so U as above; a stand-alone one's for its LEM reward r1
alone, so U[w] = r1[w] (it does not withhold to sell flexibility: that is what arbitrage means here). The up
price always answers for r2, which is r1 + r2 less a term the up price does not change.

On other weeks the responder plays (w*, j*(w*)) in every hour and earns V[w*, j*(w*)] there, which is
exact since hours are independent. Like the fitted up-price responder it is kept only where it beats
the policy it answers on the validation weeks. The down price stays the policy's.

`two_stage_play` runs fictitious play over such responders, as `arbitrage_fitted_play` does over up-price
ones: every iteration, every aggregator's options are valued against the others' current populations, and
a new round, fitted by backward induction on the grid's options, joins each population
(`TwoStagePlayPolicy`: per stage and hour, a round drawn by a hash of the aggregator's own observation).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.designs.arbitrage import bought_flexibility
from runs.studies.arbitrage_best_response import COARSE, HourSearch, SearchGrid, each_hour
from runs.studies.arbitrage_fitted_play import UNREADABLE, PlaysOverLearned, check_made_from, gain_shares, save_arrays
from runs.training import make_model


@dataclass
class TwoStageValues:
    """Every aggregator's options in every hour of some weeks (H hours, N aggregators, W withholding and
    J up-price options; option 0 of each is the policy's own action):
    values (H, N, W, J) €, x_lem (H, N, d1) and x_lfm (H, N, W, d2) its own actor inputs, a1 (H, N, W) the
    withholding of each option, r1 (H, N, W) its LEM reward with each withholding option, arbitrage (N,) whether
    it arbitrages (its withholding answers for r1 + r2, else r1), up_eur_mwh (J - 1,) the constant up prices,
    keys (H rows: week, hour_of_week)."""

    ids: list
    keys: pd.DataFrame
    values: np.ndarray
    x_lem: np.ndarray
    x_lfm: np.ndarray
    a1: np.ndarray
    r1: np.ndarray
    arbitrage: np.ndarray
    up_eur_mwh: np.ndarray


def _up_price_values(search: HourSearch, lem, dn_eur_mwh: float, levels: np.ndarray) -> np.ndarray:
    """The aggregator's value at each constant up price `levels` (ascending), its down price `dn_eur_mwh`, in
    the LEM outcome `lem`. Where the DSO buys nothing from it at one price (neither up nor down), it buys nothing
    from it at any higher up price: that solution stays optimal (its cost does not change) and any solution
    buying its up offer costs more than before. Its value then stays that price's, and the higher prices are
    not cleared (a warm-started solver would return the same solution: its basis stays optimal)."""
    k = search.k
    out = np.empty(len(levels))
    for j, up in enumerate(levels):
        out[j], h = search.lfm_value(lem, np.array([up, dn_eur_mwh]))
        if h.lfm.up_mw[k] <= 0.0 and h.lfm.dn_mw[k] <= 0.0:
            out[j + 1:] = out[j]
            break
    return out


def _lem_outcome(rec) -> bytes:
    """What the LFM and balancing stages read of a LEM outcome (`agents.aggregators.LemRecord`): everyone's
    generation (schedules, reactive power and capacities left follow from it), the price and the r1 that
    the rewards add. Two withholdings with the same outcome lead to the same LFM and balancing, whatever
    the withholding asked for."""
    return b"".join((rec.p_gen_mw.tobytes(), rec.r1.tobytes(), np.float64(rec.price_eur_mwh).tobytes()))


def two_stage_values(scenario, policy, weeks: list[str], grid: SearchGrid = COARSE, seed: int = 0,
                     max_hours: int | None = None, progress=None, skip_unsold: bool = True,
                     share_outcomes: bool = True) -> TwoStageValues:
    """The exact value of every (withholding, up price) option of every aggregator in every hour of `weeks`,
    everyone else playing `policy` (the module's docstring). Two shortcuts, each exact but for the warm-started
    LFM solver's pick among tied optima (`scripts/fitted_play_check.py skip-check` measures both):
    `skip_unsold`: in an hour where the LFM buys nothing at the policy's own prices it buys nothing at any
    positive price, so every up-price option earns the same, and prices above one at which it sells nothing
    are not cleared (`_up_price_values`); `share_outcomes`: a withholding whose LEM outcome equals an earlier
    option's (`_lem_outcome`: most hours, where withholding more or less moves no merit-order step) takes
    that option's LFM values and input instead of clearing them again."""
    from model.scenario import load as load_scenario

    policy.explore = False
    slots = {s.role.role: s for s in policy.slots}
    lem_slot, lfm_slot = slots["primary"], slots["secondary"]
    ids = list(load_scenario(scenario).aggregator_ids)
    options = [None, *grid.a1]  # withholding: the policy's own, then the grid's
    per_agg = []
    for a, agg in enumerate(ids):
        model = make_model(scenario, policy, seed)
        search = HourSearch(model, policy, agg, grid)
        k, probe, levels = search.k, search.probe, search.levels
        rows, vals, x1s, x2s, a1s, r1s = [], [], [], [], [], []
        for label in each_hour(model, weeks, max_hours):
            v = np.empty((len(options), len(levels) + 1))
            x2 = []
            a1, r1 = np.empty(len(options)), np.empty(len(options))
            seen = {}  # LEM outcome -> the first option with it
            for wi, w in enumerate(options):
                lem = search.lem_stage(w)
                a1[wi], r1[wi] = float(lem.lem.withhold[k]), float(lem.lem.r1[k])
                if wi == 0:  # the policy's own LEM: what its primary actor saw
                    x1s.append(lem_slot.group.features.actor_inputs(lem.observations[lem_slot.role.stage])[k])
                same = seen.setdefault(_lem_outcome(lem.lem), wi) if share_outcomes else wi
                if same != wi:
                    v[wi], x2 = v[same], x2 + [x2[same]]
                    continue
                v0, h2 = search.lfm_value(lem, None)
                v[wi, 0] = v0
                x2.append(lfm_slot.group.features.actor_inputs(h2.observations[lfm_slot.role.stage])[k])
                if bought_flexibility(h2.lfm.up_mw.sum() + h2.lfm.dn_mw.sum()):
                    dn = float(h2.lfm.bid_eur_mwh[k, 1])
                    v[wi, 1:] = _up_price_values(search, lem, dn, levels) if skip_unsold else [
                        search.lfm_value(lem, np.array([up, dn]))[0] for up in levels]
                else:
                    v[wi, 1:] = v0
            rows.append((label, model.hour_of_week))
            vals.append(v)
            x2s.append(np.stack(x2))
            a1s.append(a1)
            r1s.append(r1)
            probe.a1 = probe.prices = None
        per_agg.append((rows, np.stack(vals), np.stack(x1s), np.stack(x2s), np.stack(a1s), np.stack(r1s)))
        if progress is not None:
            progress(a, agg)
    keys = pd.DataFrame(per_agg[0][0], columns=["week", "hour_of_week"])
    stack = lambda i: np.stack([p[i] for p in per_agg], axis=1)  # noqa: E731  (H, N, ...)
    return TwoStageValues(ids, keys, stack(1), stack(2), stack(3), stack(4), stack(5),
                          np.asarray(model.design.arbitrage_mask, dtype=bool), levels)


class StageNet:
    """One stacked network per aggregator, fitted from its own inputs x (S, N, d) to option values y
    (S, N, options) (centred per sample, scaled per aggregator so each fits alike); kept between fits, so
    a later fit continues from the last. `snapshot()` is its weights as numpy arrays, and `pick` chooses
    with them in float64 (`_mlp`), exactly as a played policy does."""

    def __init__(self, n: int, d: int, options: int, hidden=(64, 64), seed: int = 0):
        import torch

        from agents.learning.networks import StackedMLP

        self.gen = torch.Generator().manual_seed(seed)
        torch.manual_seed(seed)
        self.net = StackedMLP(n, [d, *hidden, options], squash=False, generator=self.gen)
        self.opt = torch.optim.Adam(self.net.parameters(), lr=1e-3)

    def fit(self, x: np.ndarray, y: np.ndarray, steps: int) -> list:
        from runs.studies.arbitrage_fitted_play import fit_values

        yc = y - y.mean(2, keepdims=True)
        scale = np.maximum(np.abs(yc).mean((0, 2)), 1e-6)[None, :, None]
        fit_values(self.net, self.opt, x, yc / scale, steps, self.gen)
        return self.snapshot()

    def snapshot(self) -> list:
        return [(layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()) for layer in self.net.layers]


def pick(snapshot: list, x: np.ndarray) -> np.ndarray:
    """(S, N) option of highest value by the networks `snapshot` for inputs x (S, N, d)."""
    from runs.studies.arbitrage_fitted_play import _mlp

    return _mlp(snapshot, x.astype(np.float64).transpose(1, 0, 2)).argmax(2).T


def backward_induction(tv: TwoStageValues, fit: np.ndarray, nets: tuple[StageNet, StageNet] | None = None,
                       steps: int = 3000, hidden=(64, 64), seed: int = 0, own_options: bool = True):
    """Fit stage 2, then stage 1 on its picks (the module's docstring), on the hours `fit` (H,) of `tv`.
    own_options: the policy's own withholding and up price (option 0) are options too; else only the
    grid's levels and constant prices are. Returns (nets, stage-1 snapshot, stage-2 snapshot, pick1 (H, N),
    pick2 (H, N, W)); the picks index `tv`'s options (0: the policy's own)."""
    H, N, W, J = tv.values.shape
    w0, j0 = (0, 0) if own_options else (1, 1)
    if nets is None:
        nets = (StageNet(N, tv.x_lem.shape[2], W - w0, hidden, seed + 1), StageNet(N, tv.x_lfm.shape[3], J - j0, hidden, seed))
    x2 = tv.x_lfm.transpose(0, 2, 1, 3).reshape(H * W, N, -1)  # (hour, withholding option) samples
    v2 = tv.values.transpose(0, 2, 1, 3).reshape(H * W, N, J)[:, :, j0:]
    snap2 = nets[1].fit(x2[np.repeat(fit, W)], v2[np.repeat(fit, W)], steps)
    pick2 = pick(snap2, x2).reshape(H, W, N).transpose(0, 2, 1) + j0  # (H, N, W)
    u = np.take_along_axis(tv.values, pick2[..., None], axis=3)[..., 0]  # (H, N, W): withhold w, then stage 2's price
    u = np.where(tv.arbitrage[None, :, None], u, tv.r1)  # a stand-alone primary answers for r1 alone
    snap1 = nets[0].fit(tv.x_lem[fit], u[fit][:, :, w0:], steps)
    pick1 = pick(snap1, tv.x_lem) + w0
    return nets, snap1, snap2, pick1, pick2


def fitted_two_stage_responder(tv: TwoStageValues, fit_weeks: list[str], hidden: tuple[int, ...] = (64, 64),
                               steps: int = 3000, seed: int = 0) -> pd.DataFrame:
    """Backward induction on `tv` (the module's docstring), fitted on the hours of `fit_weeks` and scored on
    the others. One row per aggregator and hour of the other weeks: learned_eur (the policy's own actions),
    learned_a1, responder_eur (the responder's picks), responder_a1 (the policy's where no withholding option
    changes the hour's values or r1), responder_up_eur_mwh (NaN where it keeps
    the policy's own up price), best_option_eur (the best (withholding, up price) option in hindsight: an upper
    bound on what any choice among the options earns)."""
    H, N, W, J = tv.values.shape
    fit = tv.keys.week.isin(fit_weeks).to_numpy()
    if not fit.any() or fit.all():
        raise ValueError(f"fit weeks {fit_weeks}: the values must cover them and other weeks to score on")
    _, _, _, pick1, pick2 = backward_induction(tv, fit, steps=steps, hidden=hidden, seed=seed)
    j = np.take_along_axis(pick2, pick1[..., None], axis=2)[..., 0]
    hh, nn = np.meshgrid(np.arange(H), np.arange(N), indexing="ij")
    responder = tv.values[hh, nn, pick1, j]
    up = np.where(j > 0, tv.up_eur_mwh[np.maximum(j - 1, 0)], np.nan)
    # where no withholding changes anything (nothing offered, or the offer out of merit) the pick is arbitrary:
    # the responder is taken to keep the policy's withholding there
    matters = (np.ptp(tv.values, axis=2).max(axis=2) > 1e-6) | (np.ptp(tv.r1, axis=2) > 1e-6)  # (H, N)
    responder_a1 = np.where(matters, tv.a1[hh, nn, pick1], tv.a1[:, :, 0])
    out = pd.DataFrame({
        "week": np.repeat(tv.keys.week.to_numpy(), N), "hour_of_week": np.repeat(tv.keys.hour_of_week.to_numpy(), N),
        "aggregator": np.tile(tv.ids, H), "learned_eur": tv.values[:, :, 0, 0].ravel(), "learned_a1": tv.a1[:, :, 0].ravel(),
        "responder_eur": responder.ravel(), "responder_a1": responder_a1.ravel(), "responder_up_eur_mwh": up.ravel(),
        "best_option_eur": tv.values.reshape(H, N, -1).max(2).ravel()})
    return out[~np.repeat(fit, N)].reset_index(drop=True)


# --- fictitious play over fitted two-stage responders ---------------------------------------------------
SALT_LEM, SALT_LFM = 0x71, 0x72  # a stage's round draws, apart from each other's and from `FittedPlayPolicy`'s


class TwoStagePlayPolicy(PlaysOverLearned):
    """Plays every aggregator as `base` (its learned policy) does, except where a fitted round is drawn: in
    each stage of each hour it draws one round r of its population by a hash of its own observation there
    (`drawn_rounds`; round 0: its learned action), and round r >= 1 withholds the grid level its stage-1
    network rates best (LEM) and bids the constant up price its stage-2 network rates best, with its learned
    down price (LFM; lowered by `tie_break_eur_mwh` as the constant-bid checks bid). A behavioural strategy:
    the stages draw apart, each from what the aggregator sees then.

    snapshots: per round 1..R, (stage-1 layers, stage-2 layers) as `StageNet.snapshot` gives them."""

    name = "two-stage-play"

    def __init__(self, base, aggregator_ids, a1_levels: np.ndarray, up_levels_eur_mwh: np.ndarray, snapshots: list,
                 seed: int = 0, population: int | None = None, linear: bool = True):
        slots = {s.role.role: s for s in base.slots}
        if "primary" not in slots or "secondary" not in slots:
            raise ValueError("a two-stage play plays the arbitrage design's LEM and LFM actors; this learned policy "
                             "lacks one: use it with an arbitrage run")
        self.base, self.ids, self.seed, self.linear = base, list(aggregator_ids), seed, linear
        self._stage_slots = slots
        self.a1_levels = np.asarray(a1_levels, dtype=float)
        self.up_levels = np.asarray(up_levels_eur_mwh, dtype=float)
        self.snapshots = snapshots
        self._memo: dict[tuple, tuple] = {}  # (stage, rows) -> (observation, actions) of the last hour asked
        self.population = len(snapshots) + 1 if population is None else population
        base.explore = False

    @property
    def population(self) -> int:
        """Rounds drawn from, the learned policy (round 0) included."""
        return self._population

    @population.setter
    def population(self, value: int) -> None:
        self._population = int(value)
        self._memo.clear()  # actions memoised for another population are not this one's

    def rounds_of(self, stage: str, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        from runs.studies.arbitrage_fitted_play import drawn_rounds, round_uniforms

        salt = SALT_LEM if stage == "lem" else SALT_LFM
        v = np.stack([round_uniforms(self.seed, r, obs[i], self.population, salt) for i, r in enumerate(rows)])
        return drawn_rounds(v, self.population, self.linear)

    def act(self, stage, obs, rows):
        out = np.array(self.base.act(stage, obs, rows), dtype=float)
        if self.population == 1 or stage not in ("lem", "lfm"):
            return out
        rows = np.asarray(rows)
        slot_key, obs_key = (stage, rows.tobytes()), obs.tobytes()
        memo = self._memo.get(slot_key)
        if memo is not None and memo[0] == obs_key:  # the checks clear one hour many times
            return memo[1].copy()
        slot = self._stage_slots["primary" if stage == "lem" else "secondary"]
        x = slot.group.features.actor_inputs(obs).astype(np.float64)
        rounds = self.rounds_of(stage, obs, rows)
        from runs.studies.arbitrage_best_response import constant_up_bid
        from runs.studies.arbitrage_fitted_play import _mlp

        layer_of = 0 if stage == "lem" else 1
        for i in np.flatnonzero(rounds > 0):
            snap = self.snapshots[rounds[i] - 1][layer_of]
            q = _mlp([(w[rows[i]][None], b[rows[i]][None]) for w, b in snap], x[None, i:i + 1])[0, 0]
            choice = int(q.argmax())
            if stage == "lem":
                out[i, 0] = self.a1_levels[choice]
            else:
                out[i] = constant_up_bid(self.up_levels[choice], out[i], rows[i])
        self._memo[slot_key] = (obs_key, out.copy())
        return out

    # --- a safe file format: numpy arrays, no pickles ---------------------------------------------
    def save(self, path, base_sha256: str = "") -> None:
        arrays = {"a1_levels": self.a1_levels, "up_levels_eur_mwh": self.up_levels, "base_sha256": np.array(base_sha256),
                  "meta": np.array([self.seed, self.population, len(self.snapshots), int(self.linear)])}
        for r, stages in enumerate(self.snapshots):
            for st, layers in enumerate(stages):
                for li, (w, b) in enumerate(layers):
                    arrays[f"r{r}_s{st}_w{li}"], arrays[f"r{r}_s{st}_b{li}"] = w, b
        save_arrays(path, arrays)

    @classmethod
    def load(cls, path, base, aggregator_ids, base_sha256: str | None = None) -> "TwoStagePlayPolicy":
        try:
            with np.load(path, allow_pickle=False) as z:
                seed, population, n_rounds, linear = (int(v) for v in z["meta"])
                n_layers = sum(1 for k in z.files if k.startswith("r0_s0_w"))
                snaps = [tuple([(z[f"r{r}_s{st}_w{li}"], z[f"r{r}_s{st}_b{li}"]) for li in range(n_layers)] for st in (0, 1))
                         for r in range(n_rounds)]
                a1_levels, up_levels, made_from = z["a1_levels"], z["up_levels_eur_mwh"], str(z["base_sha256"])
        except UNREADABLE as e:
            raise ValueError(f"{path}: not a two-stage play file ({e}); rerun the two-stage play that writes it") from e
        check_made_from(path, made_from, base_sha256)
        return cls(base, aggregator_ids, a1_levels, up_levels, snaps, seed, population, bool(linear))


def load_play(path, base, aggregator_ids, base_sha256: str | None = None):
    """A play's saved policy over `base`, whichever play wrote it: a `TwoStagePlayPolicy` (withholding and up price),
    a `FittedPlayPolicy` or a `CongestionPlayPolicy` (up price); each refuses a corrupt file or one made from another
    learned policy."""
    from runs.studies.arbitrage_congestion_play import CongestionPlayPolicy
    from runs.studies.arbitrage_fitted_play import FittedPlayPolicy

    try:
        with np.load(path, allow_pickle=False) as z:
            kind = (TwoStagePlayPolicy if "a1_levels" in z.files
                    else CongestionPlayPolicy if "congestion_edges_mw" in z.files else FittedPlayPolicy)
    except UNREADABLE as e:
        raise ValueError(f"{path}: not a play's policy file ({e}); pass a fitted_play/ or two_stage_play/ "
                         "SCENARIO-seedK-policy.npz or a regret_matching/SCENARIO-seedK-buckets-policy.npz written by "
                         "the arbitrage study") from e
    return kind.load(path, base, aggregator_ids, base_sha256=base_sha256)


def fixed_option_gains(tv: TwoStageValues, n_weeks: int) -> tuple[np.ndarray, np.ndarray]:
    """Per aggregator: € per week of its own play (option (0, 0)) and of its best fixed option played in every
    hour: a grid withholding (arbitrageurs only; a stand-alone keeps its own) with its own or a constant up price,
    or its own withholding with a constant up price."""
    H, N, W, J = tv.values.shape
    week = tv.values.sum(0) / n_weeks  # (N, W, J)
    own = week[:, 0, 0].copy()
    week[:, 0, 0] = -np.inf
    week[~tv.arbitrage, 1:, :] = -np.inf
    return own, week.reshape(N, -1).max(1)


def two_stage_play(scenario, learned, weeks: list[str], iterations: int, grid=COARSE, seed: int = 0,
                   hidden: tuple[int, ...] = (64, 64), first_steps: int = 3000, steps: int = 300, window: int = 4,
                   linear: bool = True, max_hours: int | None = None, progress=None):
    """Fictitious play over fitted two-stage responders on `weeks`: every iteration, the exact values of every
    aggregator's (withholding, up price) options against the current populations (`two_stage_values`), and for
    every aggregator a new round fitted by backward induction on the last `window` iterations' values (the nets
    continue from the last round's; grid options only). Returns (history, policy with every round): history has
    one row per iteration and aggregator for the populations at its start (the extra last iteration scores the
    final ones): own_eur_per_week, best_fixed_eur_per_week and fixed_gain_share (`fixed_option_gains`),
    responder_eur_per_week and responder_gain_share (the round fitted in that iteration, in sample; shares of a
    floored base, `gain_shares`), and
    `chosen` marking the iteration (>= 1) whose largest fixed_gain_share was smallest."""
    from model.scenario import load as load_scenario

    sc = load_scenario(scenario)
    ids = list(sc.aggregator_ids)
    policy = TwoStagePlayPolicy(learned, ids, np.array(grid.a1), np.array(grid.price_frac) * sc.market.flex_price_max_eur_mwh,
                                [], seed, linear=linear)
    nets, recent, rows = None, [], []
    for t in range(iterations + 1):
        policy.population = t + 1
        tv = two_stage_values(scenario, policy, weeks, grid, seed, max_hours)
        own, best = fixed_option_gains(tv, len(weeks))
        resp = np.full(len(ids), np.nan)
        if t < iterations:
            recent = (recent + [tv])[-window:]
            both = _concat(recent)
            nets, snap1, snap2, p1, p2 = backward_induction(both, np.ones(len(both.keys), bool), nets,
                                                            first_steps if t == 0 else steps, hidden, seed, own_options=False)
            policy.snapshots.append((snap1, snap2))
            H = len(tv.keys)  # this iteration's hours are the last of `both`
            j = np.take_along_axis(p2[-H:], p1[-H:, :, None], axis=2)[..., 0]
            hh, nn = np.meshgrid(np.arange(H), np.arange(len(ids)), indexing="ij")
            resp = tv.values[hh, nn, p1[-H:], j].sum(0) / len(weeks)
        fixed_share, resp_share = gain_shares(best - own, own), gain_shares(resp - own, own)
        for k, agg in enumerate(ids):
            rows.append({"iteration": t, "aggregator": agg, "own_eur_per_week": own[k], "best_fixed_eur_per_week": best[k],
                         "fixed_gain_share": fixed_share[k], "responder_eur_per_week": resp[k],
                         "responder_gain_share": resp_share[k]})
        if progress is not None:
            progress(t, rows[-len(ids):])
    history = pd.DataFrame(rows)
    largest = history[history.iteration > 0].groupby("iteration").fixed_gain_share.max()
    history["chosen"] = history.iteration == (int(largest.idxmin()) if len(largest) else 0)
    return history, policy


def _concat(tvs: list[TwoStageValues]) -> TwoStageValues:
    """Several iterations' values as one sample set (hours stacked)."""
    if len(tvs) == 1:
        return tvs[0]
    cat = lambda name: np.concatenate([getattr(t, name) for t in tvs])  # noqa: E731
    return TwoStageValues(tvs[0].ids, pd.concat([t.keys for t in tvs], ignore_index=True), cat("values"), cat("x_lem"),
                          cat("x_lfm"), cat("a1"), cat("r1"), tvs[0].arbitrage, tvs[0].up_eur_mwh)
