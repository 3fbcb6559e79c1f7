"""Fictitious play over fitted best responders: a learner of observation-conditioned mixed up prices.

Gradient play (HMADDPG) leaves the aggregators' up prices cycling in an Edgeworth cycle, where only
mixed strategies can be an equilibrium, and its critics rank their own prices poorly
(docs/arbitrage-study.md). Fictitious play over constant bids approaches a mixed equilibrium on
the weeks it plays, but its mixtures see nothing of the hour and carry over poorly. This learner
keeps fictitious play's averaging and gives each best response the aggregator's own observation:

  every iteration t, for every aggregator at once,
    1. the market is re-cleared at every constant up price of the aggregator in every hour of the
       fit weeks where the DSO buys, while the others draw from their current populations
       (`OptionValues.hour_values`): the exact value of each price, hour by hour;
    2. a network per aggregator (one stacked module) is fitted to map its own LFM input (what its
       secondary actor sees) to those values, and the price of highest predicted value becomes its
       best response of round t + 1 (the fitted responder of `fitted_up_price_responder`, against the
       others' mixtures instead of their learned policies);
    3. the population grows by that responder; every aggregator plays a draw from its population
       every hour (round 0 is its learned policy): uniform, as fictitious play averages, or with
       `linear` weights s + 1 for round s (later, better-informed responders count more).

Where a fitted responder earns less than one constant up price on the values it was fitted to (a
poor fit, seen for the small aggregators), `constant_fallback` makes that constant the round's
responder instead: fictitious play needs a best response, and a constant is one of the options.

A responder fitted on one draw of the others per hour answers that draw's noise as much as the
mixture; `new_value_weight` < 1 fits it on a moving average of the values over the iterations
instead (1: this iteration's values only; 0: the running mean of all).

Hours are independent games (nothing an aggregator does changes the next hour's observation), so a
best response is a per-hour choice given the observation, and fitting it on exact values is a
regression, not a reinforcement-learning problem. The played policy (`FittedPlayPolicy`) keeps the
learned withholding and down price and draws its round from a hash of (seed, aggregator, its
observation), so replays, the constant-bid checks and the responders see one fixed policy. The draw
is reservoir-style: adding round t + 1 changes an hour's round with probability 1 / (t + 2) only, so
most profiles repeat between iterations and `OptionValues` need not clear them again.
"""

from __future__ import annotations

import functools
import zipfile
import zlib

import numpy as np
import pandas as pd

from runs.studies.arbitrage_best_response import COARSE, OptionValues, SearchGrid, constant_up_bid

DRAW_SALT = 0x5F  # keeps these draws apart from `MixedUpPrices`' (same seed, aggregator and observation)
#: what reading a damaged or foreign .npz raises (a truncated file is no zip: `zipfile.BadZipFile`)
UNREADABLE = (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile)


def round_uniforms(seed: int, row: int, obs_row: np.ndarray, rounds: int, salt: int = DRAW_SALT) -> np.ndarray:
    """(rounds,) uniforms of one aggregator (its place `row`) in an hour, from its observation there;
    `salt` keeps the draws of different players of the same observation apart."""
    key = zlib.crc32(np.ascontiguousarray(obs_row).tobytes())
    return np.random.default_rng([seed, int(row), key, salt]).random(rounds)


def drawn_rounds(v: np.ndarray, population: int, linear: bool = False) -> np.ndarray:
    """Which of `population` rounds each draw plays: the last s < population with v[..., s] < 1 / (s + 1)
    (round 0 always qualifies). Uniform over the population (reservoir sampling), and growing the
    population by one changes a draw with probability 1 / (population + 1) only. `linear`: round s
    drawn with weight s + 1 (later responders count more), accepting s where v[..., s] < 2 / (s + 2).
    v: (..., >= population)."""
    s = np.arange(population)
    ok = v[..., :population] < (2.0 / (s + 2) if linear else 1.0 / (s + 1))
    return population - 1 - np.argmax(ok[..., ::-1], axis=-1)


def save_arrays(path, arrays: dict) -> None:
    """A play's policy file: `arrays` as an .npz at `path`, written atomically (numpy arrays only, no pickles)."""
    from model.atomic import write_atomic

    def write(tmp):
        with open(tmp, "wb") as f:  # a file object: np.savez would add ".npz" to a name
            np.savez(f, **arrays)

    write_atomic(path, write)


def check_made_from(path, made_from: str, base_sha256: str | None) -> None:
    """Refuse a play's policy file made from another learned policy file than the run's (`base_sha256`, its
    `policy.json` tensor_sha256; nothing to check where either is empty)."""
    if base_sha256 and made_from and made_from != base_sha256:
        raise ValueError(f"{path} was made from another learned policy (SHA-256 {made_from[:12]}…, this run's "
                         f"{base_sha256[:12]}…): pass the run folder it was made from")


def _mlp(weights: list[tuple[np.ndarray, np.ndarray]], x: np.ndarray) -> np.ndarray:
    """Stacked MLP on numpy in float64 (the fitted play and the played policy pick alike): weights
    [(W (B, in, out), b (B, 1, out))], x (B, rows, in) -> (B, rows, out)."""
    for i, (w, b) in enumerate(weights):
        x = b.astype(np.float64) + x @ w.astype(np.float64)
        if i < len(weights) - 1:
            x = np.maximum(x, 0.0)
    return x


class PlaysOverLearned:
    """A policy that plays over a learned `base` policy and never explores; the learner's parts (slots, device,
    hp) are the base's, so a trained responder can start from them."""

    @property
    def explore(self) -> bool:
        return False

    @explore.setter
    def explore(self, value: bool) -> None:
        self.base.explore = False

    def __getattr__(self, name):
        if name == "base":
            raise AttributeError(name)
        return getattr(self.base, name)


class UpPricesOverLearned(PlaysOverLearned):
    """A play over a learned policy that changes only LFM up prices: every hour each aggregator plays an option
    (`options_of`; 0: its learned bids, j > 0: the constant up price `levels[j - 1]` with its learned withholding and
    down price, lowered by `tie_break_eur_mwh` as the constant-bid checks bid). The bids of the last hour asked are
    memoised: the checks clear one hour many times with one LEM outcome. Needs `base`, `levels`, `slot` (the
    learned policy's secondary slot) and `_memo`."""

    def plays(self) -> bool:
        """False where every option is the learned bids (the base is asked directly)."""
        return True

    def options_of(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def act(self, stage, obs, rows):
        if stage != self.slot.role.stage or not self.plays():
            return self.base.act(stage, obs, rows)
        rows = np.asarray(rows)
        key = (obs.tobytes(), rows.tobytes())
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1].copy()
        out = np.array(self.base.act(stage, obs, rows), dtype=float)
        j = self.options_of(obs, rows)
        fixed = j > 0
        if fixed.any():
            out[fixed] = constant_up_bid(self.levels[j[fixed] - 1], out[fixed], rows[fixed])
        self._memo = (key, out.copy())
        return out


class FittedPlayPolicy(UpPricesOverLearned):
    """Plays every aggregator as `base` (its learned policy) does, except its LFM up price: every hour
    it draws one round r of its population (`drawn_rounds`; round 0: its learned bids) and bids the
    constant up price that round's fitted responder rates best for its own observation (withholding
    and down price as learned, lowered by `tie_break_eur_mwh` as the constant-bid checks bid).

    snapshots: per round 1..R, the responders' layers [(W (N, in, out), b (N, 1, out)), ...] (float32).
    `population` (default: all R + 1 rounds) plays a prefix of them, as fictitious play did at that
    iteration."""

    name = "fitted-play"

    def __init__(self, base, aggregator_ids, levels_eur_mwh: np.ndarray, snapshots: list, seed: int = 0,
                 population: int | None = None, linear: bool = False):
        self.base, self.ids, self.seed = base, list(aggregator_ids), seed
        self.levels = np.asarray(levels_eur_mwh, dtype=float)
        self.snapshots = snapshots
        self.rounds = len(snapshots) + 1
        self.population = self.rounds if population is None else population
        self.linear = linear  # rounds weighted as `drawn_rounds` weighs them in the play
        self._memo: tuple | None = None  # the last hour's (observation, rows) and bids
        self.slot = next((s for s in base.slots if s.role.role == "secondary"), None)
        if self.slot is None:
            raise ValueError("a fitted-play policy plays the arbitrage design's LFM bids; its learned policy has no "
                             "secondary (LFM) actor: use it with an arbitrage run")
        if snapshots and len(snapshots[0][0][0]) != len(self.ids):
            raise ValueError(f"the fitted-play policy has responders for {len(snapshots[0][0][0])} aggregators, the run "
                             f"{len(self.ids)}: it was made from another scenario's run")
        base.explore = False

    def rounds_of(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        v = np.stack([round_uniforms(self.seed, r, obs[i], self.rounds) for i, r in enumerate(rows)])
        return drawn_rounds(v, self.population, self.linear)

    def choices(self, x: np.ndarray, rounds: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Option per row (0: learned bids, j > 0: levels[j - 1]) for actor inputs x (len(rows), d)."""
        out = np.zeros(len(rows), dtype=int)
        fitted = np.flatnonzero(rounds > 0)
        if len(fitted):
            r, k = rounds[fitted] - 1, rows[fitted]
            layers = [(np.stack([self.snapshots[a][li][0][b] for a, b in zip(r, k)]),
                       np.stack([self.snapshots[a][li][1][b] for a, b in zip(r, k)])) for li in range(len(self.snapshots[0]))]
            q = _mlp(layers, x[fitted, None, :].astype(np.float64))[:, 0]
            out[fitted] = q.argmax(1) + 1
        return out

    def plays(self) -> bool:
        return self.rounds > 1

    def options_of(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return self.choices(self.slot.group.features.actor_inputs(obs), self.rounds_of(obs, rows), rows)

    # --- a safe file format: numpy arrays, no pickles ---------------------------------------------
    def save(self, path, base_sha256: str = "") -> None:
        """`base_sha256`: the learned run's policy file hash (`policy.json`'s tensor_sha256), checked by `load`."""
        arrays = {"levels_eur_mwh": self.levels, "meta": np.array([self.seed, self.population, len(self.snapshots), int(self.linear)]),
                  "base_sha256": np.array(base_sha256)}
        for r, layers in enumerate(self.snapshots):
            for li, (w, b) in enumerate(layers):
                arrays[f"r{r}_w{li}"], arrays[f"r{r}_b{li}"] = w, b
        save_arrays(path, arrays)

    @classmethod
    def load(cls, path, base, aggregator_ids, base_sha256: str | None = None) -> "FittedPlayPolicy":
        """The policy saved at `path`, playing over `base`; with `base_sha256`, refused unless it was made
        from that learned policy file (where the file recorded one)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                seed, population, n_rounds, linear = (int(v) for v in z["meta"])
                n_layers = sum(1 for k in z.files if k.startswith("r0_w"))
                snaps = [[(z[f"r{r}_w{li}"], z[f"r{r}_b{li}"]) for li in range(n_layers)] for r in range(n_rounds)]
                levels = z["levels_eur_mwh"]
                made_from = str(z["base_sha256"]) if "base_sha256" in z.files else ""
        except UNREADABLE as e:
            raise ValueError(f"{path}: not a fitted-play file ({e}); rerun the fitted play that writes it") from e
        check_made_from(path, made_from, base_sha256)
        return cls(base, aggregator_ids, levels, snaps, seed, population, bool(linear))


def gain_shares(gain_eur: np.ndarray, own_eur: np.ndarray, floor_share: float = 0.01) -> np.ndarray:
    """Each aggregator's gain as a share of its own earnings (the plays' kept-iteration rule), the base floored at
    `floor_share` of the aggregators' mean |earnings| and at 1 €: an aggregator earning next to nothing (S-a's
    aggregator 7) would otherwise decide the rule with a gain of a few € (1 € on 0.5 € is +200 %)."""
    own_eur = np.asarray(own_eur, dtype=float)
    base = np.maximum(np.abs(own_eur), max(floor_share * float(np.abs(own_eur).mean()), 1.0))
    return np.asarray(gain_eur, dtype=float) / base


def fit_values(net, opt, x: np.ndarray, y: np.ndarray, steps: int, gen, batch: int = 256) -> None:
    """`steps` Adam steps of the stacked regression net on x (H, N, d) -> y (H, N, L)."""
    import torch

    xt = torch.from_numpy(x.astype(np.float32)).transpose(0, 1)  # (N, H, d)
    yt = torch.from_numpy(y.astype(np.float32)).transpose(0, 1)
    for _ in range(steps):
        idx = torch.randint(0, xt.shape[1], (min(batch, xt.shape[1]),), generator=gen)
        loss = torch.nn.functional.mse_loss(net(xt[:, idx]), yt[:, idx])
        opt.zero_grad()
        loss.backward()
        opt.step()


def fitted_play(values: OptionValues, learned, iterations: int, seed: int = 0, hidden: tuple[int, ...] = (64, 64),
                first_steps: int = 3000, steps: int = 300, new_value_weight: float = 1.0, linear: bool = False,
                constant_fallback: bool = True, progress=None) -> tuple[pd.DataFrame, list]:
    """Fictitious play over fitted best responders on `values`' weeks (the module's docstring). Returns
    (history, snapshots): history has one row per iteration and aggregator for the populations at its
    start (iteration 0: everyone learned; the extra last iteration scores the final populations):
    `mixture_eur_per_week` (its own draws against the others'), `learned_eur_per_week`,
    `best_constant_eur_per_week` and `best_constant_up_eur_mwh` (its best constant up price against the
    others' draws), `responder_eur_per_week` (what the responder fitted in this iteration earns, in
    sample; NaN in the last), `constant_gain_share` = (best constant - mixture) / |mixture| and
    `responder_gain_share` likewise (the base floored, `gain_shares`). snapshots: `FittedPlayPolicy`'s, one per
    round 1..iterations."""
    import torch

    from agents.learning.networks import StackedMLP

    slot = next(s for s in learned.slots if s.role.role == "secondary")
    obs = np.stack(values.observations)  # (H, N, features)
    hours, n = obs.shape[:2]
    x = np.stack([slot.group.features.actor_inputs(o) for o in obs])  # (H, N, d)
    v = np.stack([[round_uniforms(seed, k, obs[i, k], iterations + 1) for k in range(n)] for i in range(hours)])
    choice = np.zeros((iterations + 1, hours, n), dtype=int)  # option per round, hour and aggregator
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    net = StackedMLP(n, [x.shape[2], *hidden, len(values.levels)], squash=False, generator=gen)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    rows, snapshots = [], []
    mean_values = np.zeros((hours, n, len(values.levels)))  # moving average over the iterations
    ar_h, ar_n = np.arange(hours)[:, None], np.arange(n)[None, :]
    for t in range(iterations + 1):
        drawn = choice[drawn_rounds(v, t + 1, linear), ar_h, ar_n]  # (H, N)
        hv = values.hour_values(drawn)  # (H, N, options) €
        week = (values.quiet_eur[:, None] + hv.sum(0)) / values.n_weeks  # (N, options) €/week
        own = (values.quiet_eur + hv[ar_h, ar_n, drawn].sum(0)) / values.n_weeks
        resp = np.full(n, np.nan)
        if t < iterations:
            mean_values += (hv[:, :, 1:] - mean_values) * max(new_value_weight, 1.0 / (t + 1))
            y = mean_values - mean_values.mean(2, keepdims=True)
            scale = np.maximum(np.abs(y).mean((0, 2)), 1e-6)[None, :, None]  # per aggregator, so each fits alike
            fit_values(net, opt, x, y / scale, first_steps if t == 0 else steps, gen)
            snap = [(layer.weight.detach().numpy().copy(), layer.bias.detach().numpy().copy()) for layer in net.layers]
            pick = _mlp(snap, x.astype(np.float64).transpose(1, 0, 2)).argmax(2).T  # (H, N), as the policy computes it
            if constant_fallback:  # a responder worse than one constant price on the values it was fitted to
                fitted_eur, constant_eur = mean_values[ar_h, ar_n, pick].sum(0), mean_values.sum(0)  # (N,), (N, L)
                best_constant = constant_eur.argmax(1)
                for k in np.flatnonzero(constant_eur.max(1) > fitted_eur + 1e-9):
                    for w, b in snap:  # becomes that constant: zero weights, the last layer's bias picks it
                        w[k], b[k] = 0.0, 0.0
                    snap[-1][1][k, 0, best_constant[k]] = 1.0
                    pick[:, k] = best_constant[k]
            snapshots.append(snap)
            choice[t + 1] = pick + 1
            resp = (values.quiet_eur + hv[ar_h, ar_n, choice[t + 1]].sum(0)) / values.n_weeks
        best_k = np.argmax(week[:, 1:], axis=1) + 1
        constant_share = gain_shares(week[np.arange(n), best_k] - own, own)
        responder_share = gain_shares(resp - own, own)
        for k, agg in enumerate(values.ids):
            best = int(best_k[k])
            rows.append({"iteration": t, "aggregator": agg, "mixture_eur_per_week": own[k],
                         "learned_eur_per_week": week[k, 0], "best_constant_eur_per_week": week[k, best],
                         "best_constant_up_eur_mwh": values.levels[best - 1], "responder_eur_per_week": resp[k],
                         "constant_gain_share": constant_share[k], "responder_gain_share": responder_share[k]})
        if progress is not None:
            progress(t, rows[-n:])
    return pd.DataFrame(rows), snapshots


def busy_weeks(scenario, k: int, pool: str = "train", seed: int = 0) -> tuple[list[str], pd.DataFrame]:
    """The `k` weeks of `pool` in which the LFM buys flexibility in the most hours under truthful bids
    (what `localmarl flex-share` counts), most first; ties keep the pool's order. A rule fixed before any
    learning, so the weeks a fitted play learns on are not picked from the policy it is checked on.
    Returns (labels like "train:3", every week's count: week, hours_bought)."""
    from model import dataset

    weeks = dataset.resolve_week(pool)
    if not 1 <= k <= len(weeks):
        raise ValueError(f"busy weeks: k={k} must be in 1..{len(weeks)} (the {pool} weeks)")
    table = pd.DataFrame(_hours_bought(scenario, pool, seed, len(weeks)), columns=["week", "hours_bought"])
    order = table.sort_values("hours_bought", ascending=False, kind="stable")
    return list(order.week[:k]), table


@functools.lru_cache(maxsize=16)
def _hours_bought(scenario, pool: str, seed: int, n_weeks: int) -> tuple[tuple[str, int], ...]:
    """(week label, hours in which the LFM buys flexibility under truthful bids) for each of `pool`'s weeks: one
    truthful replay of the pool (39 training weeks, ~5 s), kept for the process, since a study job resolves its
    fit weeks for several checks."""
    from model.designs.arbitrage import bought_flexibility
    from model.model import MarketModel

    counts = []
    for i in range(1, n_weeks + 1):
        model = MarketModel(scenario=scenario, week=f"{pool}:{i}", policy="truthful", collect=False, seed=seed)
        n = 0
        while model.running:
            model.step()
            lfm = model.hour_result.lfm
            n += bool(bought_flexibility(lfm.up_mw.sum() + lfm.dn_mw.sum()))
        counts.append((f"{pool}:{i}", n))
    return tuple(counts)


def _parse_fit_weeks(spec: str) -> tuple[int, int | None] | list[str]:
    """"busy:K" -> (K, None); "busy:K+spread:M" -> (K, M); otherwise the comma-separated week labels."""
    busy, plus, spread = spec.partition("+")
    kind, sep, num = busy.partition(":")
    if kind != "busy" or not sep:
        return [w.strip() for w in spec.split(",") if w.strip()]
    spread_kind, _, m = spread.partition(":")
    if not num.isdigit() or (plus and not (spread_kind == "spread" and m.isdigit())):
        raise ValueError(f"fit weeks {spec!r}: write busy:K or busy:K+spread:M with K and M whole numbers, "
                         "e.g. busy:7 or busy:7+spread:3")
    return int(num), (int(m) if plus else None)


def fit_week_count(spec: str) -> int:
    """How many weeks `resolve_fit_weeks` gives for `spec`, without reading the data (for cost estimates)."""
    parsed = _parse_fit_weeks(spec)
    return len(parsed) if isinstance(parsed, list) else parsed[0] + (parsed[1] or 0)


def describe_fit_weeks(spec: str) -> str:
    """`spec` in words, for reports: "the 7 busiest training weeks and 3 others spread through the year"."""
    parsed = _parse_fit_weeks(spec)
    if isinstance(parsed, list):
        return "the weeks " + ", ".join(parsed)
    k, m = parsed
    return f"the {k} busiest training weeks" + (f" and {m} others spread through the year" if m else "")


def resolve_fit_weeks(scenario, spec: str, seed: int = 0) -> list[str]:
    """Week labels for a fitted play: "busy:K" (`busy_weeks`); "busy:K+spread:M", those and M of the other
    training weeks spaced evenly through the year (the quiet weeks a policy fitted on busy weeks alone meets
    unprepared); or a comma-separated list ("train:3,train:5")."""
    parsed = _parse_fit_weeks(spec)
    if isinstance(parsed, list):
        return parsed
    k, m = parsed
    labels, table = busy_weeks(scenario, k, seed=seed)
    if m is None:
        return labels
    rest = [w for w in table.week if w not in labels]  # the pool's (calendar) order
    if not 0 <= m <= len(rest):
        raise ValueError(f"fit weeks {spec!r}: M={m} must be in 0..{len(rest)} (the training weeks left after the busy ones)")
    return labels + [rest[i] for i in ((np.arange(m) + 0.5) * len(rest) / max(m, 1)).astype(int)]


def run_fitted_play(scenario, learned, weeks: list[str], iterations: int, grid: SearchGrid = COARSE, seed: int = 0,
                    max_hours: int | None = None, keep: str = "last", **kw) -> tuple[pd.DataFrame, FittedPlayPolicy]:
    """`fitted_play` on `weeks` of `scenario` from the `learned` policy: (history, the policy it keeps).
    history's `chosen` marks the iteration (>= 1) whose largest gain of a constant up price over an
    aggregator's draws was smallest, as `constant_bid_fictitious_play` keeps (fictitious play's gains fall,
    then wander). keep="last" plays the final populations; "chosen" those of that iteration (a population
    is a prefix of the rounds, so that is the policy as it played then)."""
    if keep not in ("last", "chosen"):
        raise ValueError(f"keep={keep!r}: use 'last' or 'chosen'")
    values = OptionValues(scenario, learned, weeks, grid, seed, max_hours)
    history, snapshots = fitted_play(values, learned, iterations, seed, **kw)
    largest = history[history.iteration > 0].groupby("iteration").constant_gain_share.max()
    chosen = int(largest.idxmin()) if len(largest) else 0
    history["chosen"] = history.iteration == chosen
    population = chosen + 1 if keep == "chosen" else iterations + 1
    return history, FittedPlayPolicy(learned, values.ids, values.levels, snapshots, seed, population=population,
                                     linear=kw.get("linear", False))
