"""The arbitrage design's best-response check: how good are the learned strategies?

- `best_response`: with every other aggregator's learned policy fixed, search one aggregator's
  actions hour by hour (hours are independent: nothing carries over from one hour to the next)
  and report how much more it could have earned than with its own learned actions. The gain is
  its *regret* against the others' policies (exploitability); near zero means training found a
  best response, large means it did not.

Search, per hour, through the same model stages the training uses (the probe policy plays the
aggregator, the learned policy plays everyone else and reacts to the new LEM outcome as it would):
  1. the learned actions (the reference);
  2. prices only: keep the learned withholding a1, search (up, down) prices;
  3. joint: for every a1 in a grid (plus the learned a1), clear the LEM, then search prices;
  4. the best *constant* up price over a week (learned a1 and down price): unlike 2 and 3, a
     policy the aggregator could actually play from its own observations.
The hour-by-hour search knows each hour's outcome (what the others bid, whether the feeder is
congested), which an actor seeing only its own observation cannot; so its gain is an upper
bound on what better learning could reach, while 4 is a lower bound.
The price search is a coordinate search over a grid (up, then down, then a finer grid around
the best up price), run only where the LFM buys anything: when it buys nothing at the learned
prices, it buys nothing at any positive price, and the prices cannot matter. A grid search
finds a lower bound on the true hour-by-hour best response.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from model.designs.arbitrage import PAPER, bought_flexibility
from runs.training import make_model


def each_hour(model, weeks: list[str], max_hours: int | None = None):
    """Walk `model` through `weeks` (each from a cold solver, its first `max_hours` hours): yields the week's
    label with the model at each hour, and steps on once the caller is done with it."""
    from model import dataset

    for label in weeks:
        model.design.cold_start()
        model.reset_week(dataset.resolve_week(label)[0])
        while model.running and (max_hours is None or model.hour_of_week < max_hours):
            yield label
            model.step()


@dataclass(frozen=True)
class SearchGrid:
    a1: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    price_frac: tuple[float, ...] = (1e-5, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)
    refine: int = 6  # extra up prices between the best grid point's neighbours (0 = none)

    def describe(self) -> str:
        return (f"a1 in {len(self.a1)} values {self.a1[0]}..{self.a1[-1]} (+ the learned a1); up/down prices on "
                f"{len(self.price_frac)} levels from ~0 to the price cap, coordinate search"
                + (f", {self.refine} refinement points" if self.refine else ""))


FINE = SearchGrid()
COARSE = SearchGrid(a1=(0.0, 0.25, 0.5, 0.75, 1.0), price_frac=(1e-5, 0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.85, 1.0), refine=0)
TINY = SearchGrid(a1=(0.0, 1.0), price_frac=(1e-5, 0.5, 1.0), refine=0)

UNSOLD_MW = 1e-9  # up flexibility sold at or below this counts as none (`OptionValues` skips the higher prices' clears)


def tie_break_eur_mwh(index: int) -> float:
    """What a searched or constant bid of the aggregator at `index` (0-based, in the scenario's order)
    is lowered by: 1e-4 €/MWh per place. Grid prices are round numbers, and two aggregators bidding the
    very same price make the DSO's LP degenerate: which one it buys from then depends on the solver's
    warm-start basis, i.e. on what was solved before (measured: a replay of the same bids paid an
    aggregator 8,134 instead of 8,381 €/week). The offset makes the cheaper bid, and so the outcome, unique."""
    return 1e-4 * (index + 1)


def constant_up_bid(up_eur_mwh, learned_bid: np.ndarray, index) -> np.ndarray:
    """The (up, down) bid of the aggregator at `index` playing the constant up price with its learned
    down price (`learned_bid`), both lowered by `tie_break_eur_mwh` as `ProbePolicy` bids them. Also for
    several at once: `up_eur_mwh` (n,), `learned_bid` (n, 2), `index` (n,) -> (n, 2)."""
    bid = np.array(learned_bid, dtype=float)
    bid[..., 0] = up_eur_mwh
    return np.maximum(bid - np.asarray(tie_break_eur_mwh(np.asarray(index)))[..., None], 0.0)


class ProbePolicy:
    """Plays one aggregator: fixed actions where set, else what the learned `base` policy would do.
    Fixed prices are bid `tie_eur_mwh` lower (`tie_break_eur_mwh`)."""

    name = "probe"

    def __init__(self, base, tie_eur_mwh: float = 0.0):
        self.base, self.tie_eur_mwh = base, tie_eur_mwh
        self.a1: float | None = None
        self.prices: np.ndarray | None = None

    def act(self, stage, obs, rows):
        if stage == "lem":
            return self.base.act(stage, obs, rows) if self.a1 is None else np.full((len(rows), 1), self.a1)
        if self.prices is None:
            return self.base.act(stage, obs, rows)
        return np.tile(np.maximum(self.prices - self.tie_eur_mwh, 0.0), (len(rows), 1))


class HourSearch:
    """Searches one aggregator's actions in the model's current hour. Installs a `ProbePolicy` for the
    aggregator in `model`; the learned policy plays everyone else (and the aggregator wherever the
    probe's actions are unset)."""

    def __init__(self, model, learned, aggregator: int, grid: SearchGrid):
        self.model, self.grid = model, grid
        self.aggregator = aggregator
        self.k = list(model.scenario.aggregator_ids).index(aggregator)  # its index in the hour's arrays
        self.probe = ProbePolicy(learned, tie_break_eur_mwh(self.k))
        model.set_policy(self.probe, [aggregator])
        self.levels = np.array(grid.price_frac) * model.scenario.market.flex_price_max_eur_mwh  # €/MWh
        self.stages = model.design.stages
        self.first_lfm = [s.name for s in self.stages].index("lfm")

    def lem_stage(self, a1):
        """Clear the LEM with the aggregator withholding a1 (None: its learned primary)."""
        self.probe.a1, self.probe.prices = a1, None
        return self.model.clear_stage(self.model.begin_hour(), self.stages[0])

    def lfm_value(self, h, prices):
        """Finish hour h (LFM, balancing) with the aggregator bidding `prices` (None: its learned secondary)."""
        self.probe.prices = prices
        h = self.model.clear_hour(h, self.first_lfm)
        return float(h.lem.r1[self.k] + h.balancing.r2[self.k]), h

    def search_prices(self, h, up_values=None):
        """Best (value, up, down) for the LEM outcome h, starting from the learned prices' outcome.
        up_values: filled with the value of every up-price level (down price as learned)."""
        v0, h = self.lfm_value(h, None)
        best = (v0, *h.lfm.bid_eur_mwh[self.k])
        if up_values is not None:
            up_values[:] = v0
        if not bought_flexibility(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum()):  # it buys nothing at any positive price
            return best
        levels = self.levels
        for j, up in enumerate(levels):
            v, _ = self.lfm_value(h, np.array([up, best[2]]))
            if up_values is not None:
                up_values[j] = v
            if v > best[0] + 1e-9:
                best = (v, up, best[2])
        for dn in levels:
            v, _ = self.lfm_value(h, np.array([best[1], dn]))
            if v > best[0] + 1e-9:
                best = (v, best[1], dn)
        if self.grid.refine:
            i = int(np.argmin(np.abs(levels - best[1])))
            lo, hi = levels[max(i - 1, 0)], levels[min(i + 1, len(levels) - 1)]
            for up in np.linspace(lo, hi, self.grid.refine + 2)[1:-1]:
                v, _ = self.lfm_value(h, np.array([up, best[2]]))
                if v > best[0] + 1e-9:
                    best = (v, up, best[2])
        return best

    def hour_row(self, week: str) -> dict:
        """The current hour's row of `best_response`: the learned actions' reward, what each constant up
        price earns, and the best found by search; leaves the probe playing the learned policy."""
        k, probe = self.k, self.probe
        probe.a1 = probe.prices = None
        h = self.model.clear_hour()  # the learned actions
        learned_eur, a1_learned = float(h.lem.r1[k] + h.balancing.r2[k]), float(h.lem.withhold[k])
        row = {
            "week": week, "hour_of_week": self.model.hour_of_week, "aggregator": self.aggregator,
            "learned_eur": learned_eur, "learned_r1_eur": float(h.lem.r1[k]), "learned_r2_eur": float(h.balancing.r2[k]),
            "learned_a1": a1_learned, "learned_up_eur_mwh": float(h.lfm.bid_eur_mwh[k, 0]),
            "learned_dn_eur_mwh": float(h.lfm.bid_eur_mwh[k, 1]),
            "lfm_active": bool(bought_flexibility(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum())),
        }
        up_values = np.empty(len(self.levels))
        v_lfm, up, dn = self.search_prices(self.lem_stage(a1_learned), up_values)
        row |= {f"{UP_AT_PREFIX}{lev:.4g}{UP_AT_SUFFIX}": v for lev, v in zip(self.levels, up_values)}
        best = (v_lfm, a1_learned, up, dn)
        for a1 in self.grid.a1:
            v, up, dn = self.search_prices(self.lem_stage(a1))
            if v > best[0] + 1e-9:
                best = (v, a1, up, dn)
        row |= {"best_prices_only_eur": max(v_lfm, learned_eur), "best_eur": max(best[0], learned_eur),
                "best_a1": best[1], "best_up_eur_mwh": best[2], "best_dn_eur_mwh": best[3]}
        probe.a1 = probe.prices = None
        return row


def best_response(scenario, learned, weeks: list[str], aggregator: int = PAPER.focus_aggregator, grid: SearchGrid = FINE,
                  seed: int = 0, max_hours: int | None = None) -> pd.DataFrame:
    """Per hour: the aggregator's learned total reward r1 + r2 and the best found by search.

    max_hours: stop each week after this many hours (smoke tests)."""
    learned.explore = False
    model = make_model(scenario, learned, seed)
    search = HourSearch(model, learned, aggregator, grid)
    rows = [search.hour_row(label) for label in each_hour(model, weeks, max_hours)]
    return pd.DataFrame(rows)


UP_AT_PREFIX, UP_AT_SUFFIX = "up_at_", "_eur"  # best_response's columns of what a constant up price earns per hour


def constant_up_prices(df: pd.DataFrame) -> dict[str, float]:
    """The `up_at_<price>_eur` columns of a `best_response` table -> their up price (€/MWh)."""
    return {c: float(c[len(UP_AT_PREFIX):-len(UP_AT_SUFFIX)]) for c in df.columns if c.startswith(UP_AT_PREFIX)}


def summarise_best_response(df: pd.DataFrame) -> pd.DataFrame:
    """Per week: learned and best-found totals, and the regret (best - learned).

    best_constant_up_eur: the best *constant* up-price bid over the week (learned withholding and
    down price) - a policy the aggregator could play from its own observations, unlike the
    hour-by-hour search, which knows each hour's outcome."""
    prices = constant_up_prices(df)
    const = list(prices)
    g = df.groupby("week", sort=False)[["learned_eur", "best_prices_only_eur", "best_eur", *const]].sum()
    g["best_constant_up_eur"] = g[const].max(axis=1)
    g["best_constant_up_eur_mwh"] = g[const].idxmax(axis=1).map(prices)
    g = g.drop(columns=const)
    g["regret_prices_only_eur"] = g["best_prices_only_eur"] - g["learned_eur"]
    g["regret_eur"] = g["best_eur"] - g["learned_eur"]
    return g.reset_index()


def constant_prices(scenario, learned, weeks: list[str], aggregators=None, grid: SearchGrid = COARSE, seed: int = 0,
                    max_hours: int | None = None) -> pd.DataFrame:
    """Every aggregator's (default: all) learned reward per hour and what each constant up-price bid
    would have earned instead (its learned withholding and down price, everyone else learned): the
    simplest strategy an aggregator could play from its own observations. One row per aggregator and
    hour with `up_at_<price>_eur` columns, as in `best_response` (`summarise_constant_prices`)."""
    from model.scenario import load as load_scenario

    learned.explore = False
    rows = []

    for agg in aggregators if aggregators is not None else load_scenario(scenario).aggregator_ids:
        model = make_model(scenario, learned, seed)
        search = HourSearch(model, learned, agg, grid)
        k, probe = search.k, search.probe
        for label in each_hour(model, weeks, max_hours):
            probe.a1 = probe.prices = None
            h = model.clear_hour()
            row = {"week": label, "hour_of_week": model.hour_of_week, "aggregator": agg,
                   "learned_eur": float(h.lem.r1[k] + h.balancing.r2[k])}
            active = bool(bought_flexibility(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum()))
            dn = float(h.lfm.bid_eur_mwh[k, 1])
            lem = search.lem_stage(None) if active else None
            for lev in search.levels:
                v = search.lfm_value(lem, np.array([lev, dn]))[0] if active else row["learned_eur"]
                row[f"{UP_AT_PREFIX}{lev:.4g}{UP_AT_SUFFIX}"] = v
            rows.append(row)
            probe.a1 = probe.prices = None
    return pd.DataFrame(rows)


class ConstantUpPrices:
    """Plays every aggregator as `base` (the learned policy) does, except that those in `up_eur_mwh`
    bid that constant up price (€/MWh) in the LFM (learned withholding and down price), both prices
    lowered by `tie_break_eur_mwh` as `ProbePolicy` bids them."""

    name = "constant-up-prices"

    def __init__(self, base, aggregator_ids):
        self.base, self.ids = base, list(aggregator_ids)
        self.up_eur_mwh: dict[int, float] = {}
        base.explore = False

    def act(self, stage, obs, rows):
        out = self.base.act(stage, obs, rows)
        if stage == "lem" or not self.up_eur_mwh:
            return out
        out = np.array(out, dtype=float)
        for i, row in enumerate(rows):
            up = self.up_eur_mwh.get(self.ids[row])
            if up is not None:  # the prices `ProbePolicy` bid when `constant_prices` valued this constant bid
                out[i] = constant_up_bid(up, out[i], row)
        return out


def constant_bid_dynamics(scenario, learned, weeks: list[str], grid: SearchGrid = COARSE, seed: int = 0,
                          max_rounds: int = 12, max_hours: int | None = None) -> pd.DataFrame:
    """Best-response dynamics among constant up-price bids: starting from the learned policies, each
    aggregator in turn switches to its best constant up price on `weeks` (`constant_prices` against
    everyone else's current strategy) where that earns more than its current one (by > 0.1 %).
    A round in which nobody switches is a pure equilibrium of the constant-bid game; a profile seen
    before is a cycle (an Edgeworth cycle in price competition), and no pure equilibrium is reached.

    One row per round and aggregator: its up price after its turn (NaN: still its learned bids), the
    €/week it earned before and after switching; `outcome` on every row: "equilibrium", "cycle of k
    rounds (round r = round r - k)" or "no repeat in max_rounds rounds"."""
    from model.scenario import load as load_scenario

    ids = list(load_scenario(scenario).aggregator_ids)
    probe = ConstantUpPrices(learned, ids)
    n_weeks = len(weeks)
    rows, seen, outcome = [], {}, f"no repeat in {max_rounds} rounds"
    for rnd in range(max_rounds):
        switched = 0
        for agg in ids:
            s = summarise_constant_prices(constant_prices(scenario, probe, weeks, [agg], grid, seed, max_hours)).iloc[0]
            before = float(s.learned_eur) / n_weeks
            gain = float(s.shortfall_eur) / n_weeks
            switch = gain > 1e-3 * abs(before) + 1e-6
            if switch:
                switched += probe.up_eur_mwh.get(agg) != float(s.best_constant_up_eur_mwh)
                probe.up_eur_mwh[agg] = float(s.best_constant_up_eur_mwh)
            rows.append({"round": rnd, "aggregator": agg, "up_eur_mwh": probe.up_eur_mwh.get(agg, np.nan),
                         "before_eur_per_week": before, "after_eur_per_week": before + (gain if switch else 0.0)})
        profile = tuple(sorted(probe.up_eur_mwh.items()))
        if not switched:
            outcome = "equilibrium"
            break
        if profile in seen:
            outcome = f"cycle of {rnd - seen[profile]} rounds (round {rnd} = round {seen[profile]})"
            break
        seen[profile] = rnd
    out = pd.DataFrame(rows)
    out["outcome"] = outcome
    return out


class MixedUpPrices:
    """Plays every aggregator as `base` (the learned policy) does, except that each one with a mixture
    in `p` draws its LFM up price every hour: option 0 its learned bids, option j > 0 the constant up
    price `levels[j - 1]` (learned withholding and down price, lowered by `tie_break_eur_mwh` as
    `ProbePolicy` bids). A draw depends only on (seed, aggregator, its observation this hour): the
    same hour replayed (as `constant_prices` does for every price level) draws the same, and a rerun
    gives the same numbers."""

    name = "mixed-up-prices"

    def __init__(self, base, aggregator_ids, seed: int = 0):
        self.base, self.ids, self.seed = base, list(aggregator_ids), seed
        self.levels = np.zeros(0)  # €/MWh: the constant options
        self.p: dict[int, np.ndarray | None] = {a: None for a in self.ids}  # None: the learned bids
        base.explore = False

    def act(self, stage, obs, rows):
        out = self.base.act(stage, obs, rows)
        if stage == "lem" or all(p is None for p in self.p.values()):
            return out
        out = np.array(out, dtype=float)
        for i, row in enumerate(rows):
            p = self.p[self.ids[row]]
            if p is None:
                continue
            key = zlib.crc32(np.ascontiguousarray(obs[i]).tobytes())
            u = np.random.default_rng([self.seed, int(row), key]).random()
            j = min(int(np.searchsorted(np.cumsum(p), u, side="right")), len(p) - 1)
            if j > 0:
                out[i] = constant_up_bid(self.levels[j - 1], out[i], row)
        return out


class OptionValues:
    """What every aggregator earns per week with each of its options - 0: its learned bids, j > 0: the
    constant up price `levels[j - 1]` (learned withholding and down price, lowered by `tie_break_eur_mwh`)
    - while the others draw their options hour by hour from given mixtures, as `MixedUpPrices` draws
    them. The same numbers as `constant_prices` played against `MixedUpPrices` (a test checks this),
    computed faster:
      - nothing but the LFM bids differs between the options and the draws, so each hour's LEM is
        cleared once, with the learned withholding, and kept;
      - in an hour where the LFM buys nothing at the learned prices it buys nothing at any positive
        price: everyone earns the same under every option, so that hour is cleared once;
      - an hour's LFM and balancing are cleared once per profile of options (one clear pays every
        aggregator), and a profile seen in the previous call is not cleared again: with the mixtures
        of fictitious play moving by 1/t per iteration, most hours' draws repeat;
      - an aggregator's constant up prices are tried from the lowest up: once it sells no up flexibility
        at one, it sells none at any higher one and the hour clears alike (the LFM is a linear programme
        in which only that unused offer's cost rises, so its solution stays optimal and its DLMPs stay),
        so the higher ones are not cleared (`UNSOLD_MW`). Measured on the quick study's regret matching:
        70 % of the constant-price clears skipped, every skipped profile's rewards within 1e-6 € of
        clearing it (docs/arbitrage-study.md, stop 70).
    Where two learned bids are equal (saturated policies bid the 0.01 €/MWh floor) and the scenario sets no
    LFM tie rule (`[market].lfm_tie_break_eur_mwh`), the DSO's split between them depends on what the
    warm-started solver solved before, so the plain loop, which solves in another order, can differ there
    by a few € per week (measured: 2.15 €/week in one hour of quick-18 one-arb)."""

    name = "option-profile"

    def __init__(self, scenario, learned, weeks: list[str], grid: SearchGrid = COARSE, seed: int = 0,
                 max_hours: int | None = None):
        from model import dataset

        learned.explore = False
        self.learned, self.seed, self.n_weeks = learned, seed, len(weeks)
        self.model = model = make_model(scenario, self, seed)
        self.ids = list(model.scenario.aggregator_ids)
        n = len(self.ids)
        self.levels = np.array(grid.price_frac) * model.scenario.market.flex_price_max_eur_mwh  # €/MWh
        if not (np.diff(self.levels) > 0).all():  # `hour_values` tries them from the lowest up
            raise ValueError(f"the search grid's price levels must rise (got price_frac {grid.price_frac})")
        stages = model.design.stages
        self.first_lfm = [s.name for s in stages].index("lfm")
        self.options = np.zeros(n, dtype=int)  # what each aggregator bids in the hour being cleared
        self._memo: tuple[bytes, np.ndarray] | None = None
        self.quiet_eur = np.zeros(n)  # summed over the hours where no flexibility is bought
        self.hours: list = []  # the other hours: (LEM cleared, u of each aggregator's draw)
        self.observations: list[np.ndarray] = []  # the LFM observation of each of those hours (N, features)
        self.hour_keys: list[tuple[str, int]] = []  # (week, hour_of_week) of each of those hours
        for label in weeks:
            model.design.cold_start()
            model.reset_week(dataset.resolve_week(label)[0])
            while model.running and (max_hours is None or model.hour_of_week < max_hours):
                self.options[:] = 0
                h = model.clear_hour()
                if bought_flexibility(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum()):
                    lem = model.clear_stage(model.begin_hour(), stages[0])
                    obs = stages[self.first_lfm].observe(lem)
                    u = np.array([np.random.default_rng([seed, k, zlib.crc32(np.ascontiguousarray(obs[k]).tobytes())]).random()
                                  for k in range(n)])
                    self.hours.append((lem, u))
                    self.observations.append(obs)
                    self.hour_keys.append((label, int(model.hour_of_week)))
                else:
                    self.quiet_eur += h.lem.r1 + h.balancing.r2
                model.step()
        self._cache: list[dict[bytes, np.ndarray]] = [{} for _ in self.hours]
        self.clears = 0  # LFM clears done by `__call__` (for benchmarks)

    def act(self, stage, obs, rows):
        """The model's policy: the learned actions, with the LFM bids of the current profile of options."""
        if stage == "lem":
            return self.learned.act(stage, obs, rows)
        key = obs.tobytes()
        if self._memo is None or self._memo[0] != key:  # the learned bids depend on the LEM outcome only
            self._memo = (key, np.array(self.learned.act(stage, obs, rows), dtype=float))
        out = self._memo[1].copy()
        j = self.options[rows]
        fixed = j > 0
        if fixed.any():
            out[fixed] = constant_up_bid(self.levels[j[fixed] - 1], out[fixed], rows[fixed])
        return out

    def _rewards(self, i: int, profile: np.ndarray, fresh: dict, unsold=None) -> tuple[np.ndarray, np.ndarray]:
        """(every aggregator's reward €, every aggregator's up flexibility sold MW) in hour `i` under the profile of
        options: remembered, else `unsold` (the outcome of a profile with a lower constant price at which the
        aggregator whose option is raised sold nothing up: the same outcome), else cleared."""
        key = profile.tobytes()
        r = fresh.get(key)
        if r is None:
            r = self._cache[i].get(key)
            if r is None and unsold is not None:
                r = unsold
            elif r is None:
                self.options[:] = profile
                h = self.model.clear_hour(self.hours[i][0], self.first_lfm)
                r = (h.lem.r1 + h.balancing.r2, h.lfm.up_mw)
                self.clears += 1
            fresh[key] = r
        return r

    def __call__(self, mixtures: dict) -> dict[int, np.ndarray]:
        """{aggregator: its mixture over the options, or None (its learned bids)} -> {aggregator: € per week
        of each of its options, against the others' draws}."""
        return self.values_over(mixtures)

    def values_over(self, mixtures: dict, index=None, quiet: bool = True) -> dict[int, np.ndarray]:
        """`__call__` over the hours `index` (positions in `hours`; None: all), with the quiet hours' earnings
        (the same under every option) added or not (`quiet`)."""
        index = np.arange(len(self.hours)) if index is None else np.asarray(index, dtype=int)
        values = self.hour_values(self.draw(mixtures, index), index).sum(0)
        if quiet:
            values = self.quiet_eur[:, None] + values
        return {a: values[k] / self.n_weeks for k, a in enumerate(self.ids)}

    def draw(self, mixtures: dict, index) -> np.ndarray:
        """(len(index), N) each aggregator's option in each of the hours `index`, drawn from its mixture (None: 0,
        its learned bids) with the hour's own uniform number, as `MixedUpPrices` draws."""
        m = len(self.levels) + 1
        cum = [None if mixtures[a] is None else np.cumsum(mixtures[a]) for a in self.ids]
        return np.array([[0 if c is None else min(int(np.searchsorted(c, self.hours[i][1][k], side="right")), m - 1)
                          for k, c in enumerate(cum)] for i in index], dtype=int).reshape(len(index), len(self.ids))

    def hour_values(self, drawn: np.ndarray, index=None) -> np.ndarray:
        """(H, N, options) €: in each of the H hours `index` (positions in `hours`; None: all, where the DSO
        buys), what every aggregator earns with each of its options while the others play their options
        `drawn` (H, N) in that hour."""
        n, m = len(self.ids), len(self.levels) + 1
        index = range(len(self.hours)) if index is None else index
        out = np.empty((len(index), n, m))
        for row, i in enumerate(index):
            fresh: dict[bytes, tuple] = {}
            for k in range(n):
                profile, unsold = drawn[row].copy(), None
                for j in range(m):  # option 0, then the constant up prices from the lowest
                    profile[k] = j
                    r, up_mw = self._rewards(i, profile, fresh, unsold)
                    out[row, k, j] = r[k]
                    if j > 0 and up_mw[k] <= UNSOLD_MW:
                        unsold = (r, up_mw)
            self._cache[i] = fresh
        self.options[:] = 0
        return out

    def public_feature(self, name: str = "feeder_sched_mw") -> np.ndarray:
        """(H,) a feature every aggregator observes before its LFM bids (`LFM_COLUMNS`, a SHARED one), in each
        of the `hours`: by default the feeder's net scheduled injection after the LEM (MW), which tells how much
        flexibility the DSO will need (measured: correlation -0.95 with the MW it buys, docs/arbitrage-study.md)."""
        from model.designs.arbitrage import LFM_COLUMNS

        j = LFM_COLUMNS.index(name)
        return np.array([o[0, j] for o in self.observations], dtype=float)


class HourSubset:
    """`OptionValues` over some of its hours only, without the quiet hours' earnings: the `values` callable of
    `regret_matching_play` and `score_correlated` for play that depends on the hour (`bucketed_regret_matching`)."""

    def __init__(self, values: OptionValues, index):
        self.parent, self.index = values, np.asarray(index, dtype=int)
        self.ids, self.levels, self.n_weeks = values.ids, values.levels, values.n_weeks

    def __call__(self, mixtures: dict) -> dict[int, np.ndarray]:
        return self.parent.values_over(mixtures, self.index, quiet=False)


def constant_bids_along_training(scenario, run_dir, weeks: list[str], grid: SearchGrid = COARSE, seed: int = 0,
                                 max_hours: int | None = None, progress=None, from_episode: int = 0) -> pd.DataFrame:
    """Every aggregator against constant up-price bids at each policy snapshot a run kept (`train(...,
    snapshot_every=k)`, `snapshot_folders`): with everyone else at that snapshot's learned policy, what its
    learned bids and its best constant up price earn over `weeks` (€ per week; `OptionValues`, the numbers
    of `constant_prices`). Summed over aggregators, the gains are the profile's distance from an equilibrium
    of these deviations (a NashConv over constant bids, `constant_bid_distance`), along training. One row per
    snapshot (from episode `from_episode` on) and aggregator. progress(done, total): called after each snapshot."""
    from pathlib import Path

    from agents.learning.checkpoint import snapshot_folders
    from runs.training import load_trained_policy

    folders = [f for f in snapshot_folders(Path(run_dir)) if int(f.name[2:]) >= from_episode]
    if not folders:
        raise FileNotFoundError(f"{run_dir}: no policy snapshots (snapshots/ep*/policy.json); train it with "
                                f"snapshot_every (`localmarl train --snapshot-every K`) to check it along training")
    rows = []
    for i, folder in enumerate(folders):
        learned, meta = load_trained_policy(folder)
        values = OptionValues(scenario, learned, weeks, grid, seed, max_hours)
        for agg, v in values({a: None for a in values.ids}).items():
            j = int(np.argmax(v))  # 0: no constant bid beats the learned ones
            rows.append({"episode": int(meta["episode"]), "aggregator": agg, "learned_eur_per_week": float(v[0]),
                         "best_constant_eur_per_week": float(v[j]),
                         "best_constant_up_eur_mwh": float(values.levels[j - 1]) if j else np.nan,
                         "gain_eur_per_week": float(v[j] - v[0])})
        if progress is not None:
            progress(i + 1, len(folders))
    return pd.DataFrame(rows)


def constant_bid_distance(rows: pd.DataFrame) -> pd.Series:
    """Per episode of `constant_bids_along_training` rows: what every aggregator's best constant up price adds, summed
    over the aggregators, as a share of their summed learned earnings (floored at 1 €): 0 at an equilibrium of
    these deviations."""
    per = rows.groupby("episode")[["gain_eur_per_week", "learned_eur_per_week"]].sum()
    return per.gain_eur_per_week / per.learned_eur_per_week.abs().clip(lower=1.0)


def choose_snapshot(scenario, run_dir, weeks: list[str], grid: SearchGrid = COARSE, seed: int = 0,
                    max_hours: int | None = None) -> pd.DataFrame:
    """The policy snapshot of a run (`train(..., snapshot_every=k)`) nearest an equilibrium of constant up-price
    deviations on `weeks` (validation weeks, not those it is checked on): every snapshot after episode 0 (the
    untrained policy is no learned one) against constant bids (`constant_bids_along_training`), the smallest
    `constant_bid_distance` chosen, the earliest of equals. The last snapshot is seldom the nearest: training
    swings between profiles (an Edgeworth cycle; docs/arbitrage-study.md, "Which snapshot to hand on").
    Returns its rows with `distance` (the snapshot's) and `chosen`; `hand_on_chosen` makes it the run's policy."""
    rows = constant_bids_along_training(scenario, run_dir, weeks, grid, seed=seed, max_hours=max_hours, from_episode=1)
    distance = constant_bid_distance(rows)
    rows["distance"] = rows.episode.map(distance)
    rows["chosen"] = rows.episode == int(distance.idxmin())
    rows["weeks"] = ",".join(weeks)
    return rows


def hand_on_chosen(run_dir, chosen: pd.DataFrame) -> None:
    """Make the snapshot `choose_snapshot` chose the run's policy.pt (the final one kept as policy_last.pt;
    `hand_on_snapshot`, safe to rerun), its JSON saying which and how (`selected_episode`, `selected_on`,
    `selected_by`, `selected_distance`)."""
    from agents.learning.checkpoint import hand_on_snapshot

    row = chosen[chosen.chosen].iloc[0]
    hand_on_snapshot(run_dir, int(row.episode), {
        "selected_episode": int(row.episode), "selected_on": str(row.weeks),
        "selected_by": "nearest an equilibrium of constant up-price bids", "selected_distance": float(row.distance)})


def mixture_gain(v: np.ndarray, mixture: np.ndarray | None) -> tuple[float, int, float]:
    """(what the mixture earns, its best option, that option's gain as a share of the mixture's earnings)
    for the options' values `v` (€ per week); `mixture` None: option 0 (the learned bids)."""
    own = float(v[0]) if mixture is None else float(mixture @ v)
    best = int(np.argmax(v))
    return own, best, (float(v[best]) - own) / max(abs(own), 1.0)


def fictitious_play(values, ids: list, levels: np.ndarray, iterations: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fictitious play among options 0 (the learned bids) and j > 0 (constant up price `levels[j - 1]`):
    `values({aggregator: mixture or None}) -> {aggregator: € per week of each option}` (`OptionValues`).
    Returns (history, mixtures) as `constant_bid_fictitious_play` describes."""
    mixtures: dict = {a: None for a in ids}
    counts: dict[int, np.ndarray] = {}
    rows, chosen = [], (np.inf, 0, mixtures)
    for it in range(iterations + 1):  # the last one only scores the final mixtures
        v_all = values(mixtures)
        largest = -np.inf
        for agg in ids:
            v = v_all[agg]
            mixture, best, share = mixture_gain(v, mixtures[agg])
            largest = max(largest, share)
            rows.append({"iteration": it, "aggregator": agg, "mixture_eur_per_week": mixture,
                         "learned_eur_per_week": float(v[0]), "best_eur_per_week": float(v[best]),
                         "best_up_eur_mwh": levels[best - 1] if best else np.nan, "exploitability_share": share})
            if it < iterations:
                counts.setdefault(agg, np.eye(len(v))[0].copy())[best] += 1
        if it > 0 and largest < chosen[0]:
            chosen = (largest, it, mixtures)
        mixtures = {agg: counts[agg] / counts[agg].sum() for agg in ids}
    _, it_chosen, mixtures = chosen
    history = pd.DataFrame(rows)
    history["chosen"] = history.iteration == it_chosen
    out = pd.DataFrame([{"aggregator": agg, "option": j, "up_eur_mwh": levels[j - 1] if j else np.nan,
                         "probability": 1.0 * (j == 0) if mixtures[agg] is None else float(mixtures[agg][j]),
                         "iteration": it_chosen} for agg in ids for j in range(len(levels) + 1)])
    return history, out


def regret_matching_play(values, ids: list, levels: np.ndarray, iterations: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """No-regret play among options 0 (the learned bids) and j > 0 (constant up price `levels[j - 1]`), by regret
    matching+ (Hart & Mas-Colell 2000; Tammelin et al. 2015): every iteration each aggregator's mixture puts weight
    on each option in proportion to its cumulative regret floored at zero (Q_t = max(Q_{t-1} + v_t - p_t.v_t, 0)),
    v_t what each option earns against the others' t-th mixtures (`values`, as for `fictitious_play`). Iteration
    0 plays the learned bids; where no option has positive regret, the mixture stays.

    Its object is the whole sequence, not a last mixture: the play that draws iteration t with probability
    proportional to t + 1 (every aggregator the same t, then each its option from its t-th mixture) is a coarse
    correlated equilibrium to within the aggregators' regret against it, i.e. no aggregator gains more than that by
    any option played throughout, a constant bid or its learned bids. For regret matching+ that regret is at most
    2 max_k Q_T,k / (T + 1) (Q_t >= Q_{t-1} + r_t and weights that grow: Tammelin et al. 2015), so it falls as
    O(1/sqrt(T)) however many aggregators play, where fictitious play's best options need not settle with more than
    two (`constant_bid_fictitious_play`). Weighting by t + 1 rather than uniformly discounts the first iterations,
    still near the learned profile: measured on the quick study's all-arb seed 0, 300 iterations leave 0.54 % at
    most, uniform weights 3.25 % (docs/arbitrage-study.md, stop 67). It is also the long-run play of aggregators
    who each adjust their bids by their regrets.

    Returns (history, mixtures). history: one row per iteration t < `iterations` and aggregator:
    `mixture_eur_per_week` (its t-th mixture against the others' t-th), `learned_eur_per_week`,
    `average_eur_per_week` (the play of iterations 0..t, iteration s drawn with weight s + 1), `best_option`,
    `best_up_eur_mwh` (NaN: the learned bids) and `best_average_eur_per_week` of the option best against that
    play, `regret_share` = (best - average) / |average|, and what each option j earned against the others' t-th
    mixtures (`option<j>_eur_per_week`; iteration 0: against the learned profile). mixtures: every iteration's
    probabilities, one row per iteration, aggregator and option (`up_eur_mwh` NaN: the learned bids), with
    `weight`, the probability that the play draws that iteration."""
    m = len(levels) + 1
    mixtures = {a: np.eye(m)[0].copy() for a in ids}
    regret = {a: np.zeros(m) for a in ids}
    earned = {a: 0.0 for a in ids}
    option_sums = {a: np.zeros(m) for a in ids}
    rows, mix_rows = [], []
    for it in range(iterations):
        v_all = values(mixtures)
        weight, total = it + 1.0, (it + 1.0) * (it + 2.0) / 2.0  # this iteration's weight; the weights so far
        for agg in ids:
            v, p = v_all[agg], mixtures[agg]
            own = float(p @ v)
            earned[agg] += weight * own
            option_sums[agg] += weight * v
            average, best_values = earned[agg] / total, option_sums[agg] / total
            best = int(np.argmax(best_values))
            rows.append({"iteration": it, "aggregator": agg, "mixture_eur_per_week": own,
                         "learned_eur_per_week": float(v[0]), "average_eur_per_week": average, "best_option": best,
                         "best_up_eur_mwh": levels[best - 1] if best else np.nan,
                         "best_average_eur_per_week": float(best_values[best]),
                         "regret_share": (float(best_values[best]) - average) / max(abs(average), 1.0),
                         **{f"option{j}_eur_per_week": float(v[j]) for j in range(m)}})
            mix_rows += [{"iteration": it, "aggregator": agg, "option": j, "up_eur_mwh": levels[j - 1] if j else np.nan,
                          "probability": float(p[j])} for j in range(m)]
            regret[agg] = np.maximum(regret[agg] + v - own, 0.0)
        mixtures = {a: regret[a] / regret[a].sum() if regret[a].sum() > 0 else mixtures[a] for a in ids}
    mix = pd.DataFrame(mix_rows)
    return pd.DataFrame(rows), mix.assign(weight=play_weights(mix.iteration, iterations))


def play_weights(iteration, iterations: int) -> np.ndarray:
    """The probability with which `regret_matching_play`'s play draws each of `iterations` iterations: (t + 1) / sum."""
    return (np.asarray(iteration, dtype=float) + 1.0) / (iterations * (iterations + 1) / 2.0)


def _score_row(profile: str, aggregator, own: float, v: np.ndarray, levels: np.ndarray) -> dict:
    """One row of `score_correlated`: an aggregator's own earnings under `profile` and each option's `v` (€/week)."""
    best = int(np.argmax(v))
    return {"profile": profile, "aggregator": aggregator, "own_eur_per_week": own, "best_eur_per_week": float(v[best]),
            "best_up_eur_mwh": levels[best - 1] if best else np.nan,
            "gain_share": (float(v[best]) - own) / max(abs(own), 1.0),
            **{f"option{j}_eur_per_week": float(x) for j, x in enumerate(v)}}


def correlated_scores_from_history(history: pd.DataFrame, levels: np.ndarray) -> pd.DataFrame:
    """`score_correlated`'s rows on the weeks `regret_matching_play` ran on, read off its `history` without clearing
    again: the learned profile is iteration 0 (everyone's learned bids), the correlated play the weighted average
    over the iterations (`play_weights`)."""
    options = sorted((c for c in history.columns if c.startswith("option") and c.endswith("_eur_per_week")),
                     key=lambda c: int(c[len("option"):-len("_eur_per_week")]))
    n = int(history.iteration.max()) + 1
    rows = []
    for agg, d in history.sort_values("iteration").groupby("aggregator", sort=True):
        first, last = d.iloc[0], d.iloc[-1]
        w = play_weights(d.iteration, n)
        rows += [_score_row("learned", agg, float(first[options[0]]), first[options].to_numpy(float), levels),
                 _score_row("correlated", agg, float(last.average_eur_per_week), w @ d[options].to_numpy(float), levels)]
    return pd.DataFrame(rows)


def score_correlated(values, mixtures: pd.DataFrame) -> pd.DataFrame:
    """Every aggregator under two profiles, on `values`' weeks (an `OptionValues`): everyone learned, and the
    correlated play of `regret_matching_play`'s mixtures (iteration t drawn with probability `weight`, everyone at
    the same one; each iteration equally likely without that column). One row per profile and aggregator: what its
    own strategy earns (€/week), its best option played throughout against the others and that option's up price
    (NaN: its learned bids), and the gain share
    (best - own) / |own|: on weeks the play was not fitted to, its out-of-sample regret; and what each option j
    played throughout earns (`option<j>_eur_per_week`; 0: the learned bids), to judge an option chosen on other
    weeks."""
    ids = list(values.ids)
    seq = {t: {a: d.sort_values("option").probability.to_numpy() for a, d in it.groupby("aggregator")}
           for t, it in mixtures.groupby("iteration", sort=True)}
    weight = (mixtures.groupby("iteration").weight.first() if "weight" in mixtures
              else pd.Series(1.0 / len(seq), index=list(seq)))
    m = len(values.levels) + 1
    own, options = {a: 0.0 for a in ids}, {a: np.zeros(m) for a in ids}
    for t, p in seq.items():
        v_all = values(p)
        for a in ids:
            own[a] += weight[t] * float(p[a] @ v_all[a])
            options[a] += weight[t] * v_all[a]
    learned = values({a: None for a in ids})
    return pd.DataFrame([_score_row("learned", a, float(learned[a][0]), learned[a], values.levels) for a in ids]
                        + [_score_row("correlated", a, own[a], options[a], values.levels) for a in ids])


def bucket_edges(feature: np.ndarray, n_buckets: int, quantiles=()) -> np.ndarray:
    """The n_buckets - 1 inner edges splitting `feature` (the fit weeks' hours) into buckets of equal counts, or at
    the given `quantiles` of it (n_buckets - 1 of them, rising, in (0, 1): e.g. (0.125, 0.25, 0.5, 0.75) splits the
    lowest quarter, the most congested hours, in two); the outer buckets are open, so every hour of other weeks falls
    into one."""
    q = np.asarray(quantiles, dtype=float) if len(quantiles) else np.arange(1, n_buckets) / n_buckets
    if len(q) != n_buckets - 1 or not ((q > 0) & (q < 1)).all() or not (np.diff(q) > 0).all():
        raise ValueError(f"{n_buckets} buckets need {n_buckets - 1} rising quantiles in (0, 1) (got {list(q)})")
    return np.quantile(feature, q) if len(feature) else np.zeros(0)


def hour_buckets(values: OptionValues, edges: np.ndarray, feature: str = "feeder_sched_mw") -> np.ndarray:
    """(H,) the bucket of each of `values`' hours: its public `feature` against `edges` (`bucket_edges`)."""
    return np.searchsorted(np.asarray(edges, dtype=float), values.public_feature(feature), side="right")


def bucket_table(values: OptionValues, edges: np.ndarray, feature: str = "feeder_sched_mw") -> pd.DataFrame:
    """One row per bucket: its bounds of the public `feature` (`low_mw` < x <= `high_mw`, open outer ones) and how
    many of `values`' hours fall into it (`fit_hours`)."""
    bounds = np.concatenate([[-np.inf], np.asarray(edges, dtype=float), [np.inf]])
    return pd.DataFrame({"bucket": range(len(edges) + 1), "low_mw": bounds[:-1], "high_mw": bounds[1:],
                         "fit_hours": np.bincount(hour_buckets(values, edges, feature), minlength=len(edges) + 1)})


def bucketed_regret_matching(values: OptionValues, edges: np.ndarray, iterations: int,
                             feature: str = "feeder_sched_mw") -> tuple[pd.DataFrame, pd.DataFrame]:
    """`regret_matching_play` once per bucket of hours (`hour_buckets`): a play whose mixtures depend on a feature
    every aggregator sees before it bids, so that congested and idle hours get their own. The hours are independent
    games (nothing carries over), so the bucket games are independent and their correlated plays compose: an
    aggregator's regret against a constant bid played throughout is at most the sum of its per-bucket regrets (and
    the play is also near-unexploitable by a constant bid chosen per bucket). Fitted on some weeks (`values`), the
    play is judged on others (`score_bucketed`); one mixture for every hour, fitted on the training weeks, did not
    carry over to the check weeks (docs/arbitrage-study.md, stop 67). Returns `regret_matching_play`'s (history,
    mixtures), each with a `bucket` column (0: the lowest feature values)."""
    buckets = hour_buckets(values, edges, feature)
    histories, mixtures = [], []
    for b in range(len(edges) + 1):
        history, mix = regret_matching_play(HourSubset(values, np.flatnonzero(buckets == b)), values.ids,
                                            values.levels, iterations)
        histories.append(history.assign(bucket=b))
        mixtures.append(mix.assign(bucket=b))
    return pd.concat(histories, ignore_index=True), pd.concat(mixtures, ignore_index=True)


def bucketed_scores_from_history(history: pd.DataFrame, values: OptionValues) -> pd.DataFrame:
    """`score_bucketed`'s totals on the weeks `bucketed_regret_matching` ran on (`values`), read off its `history`
    without clearing again (`correlated_scores_from_history` per bucket, summed, the quiet hours added)."""
    per_bucket = pd.concat([correlated_scores_from_history(h.drop(columns="bucket"), values.levels)
                            for _, h in history.groupby("bucket", sort=True)])
    options = [f"option{j}_eur_per_week" for j in range(len(values.levels) + 1)]
    quiet = dict(zip(values.ids, values.quiet_eur / values.n_weeks))
    return pd.DataFrame([_score_row(profile, a, quiet[a] + float(d.own_eur_per_week.sum()),
                                    quiet[a] + d[options].to_numpy(float).sum(0), values.levels)
                         for (profile, a), d in per_bucket.groupby(["profile", "aggregator"], sort=False)])


def score_bucketed(values: OptionValues, mixtures: pd.DataFrame, edges: np.ndarray,
                   feature: str = "feeder_sched_mw") -> tuple[pd.DataFrame, pd.DataFrame]:
    """`bucketed_regret_matching`'s play on `values`' weeks (each hour drawn from its bucket's play: its iteration t
    with probability `weight`, then each aggregator's option from its t-th mixture): (totals, hours).

    totals: `score_correlated`'s rows (profile "learned": everyone's learned bids; "correlated": the play), over all
    hours, quiet ones included, every option played throughout (a constant bid in every hour). hours: one row per
    profile, hour where the DSO buys and aggregator (`week`, `hour_of_week`, `bucket`): what it earns under the profile
    (`play_eur`) and with each option j against the others' (`option<j>_eur`), expectations over the draws; in the
    other hours every option earns the same. The day-block bootstrap of the report reads them (`clearly short`)."""
    ids, n, m = values.ids, len(values.ids), len(values.levels) + 1
    buckets = hour_buckets(values, edges, feature)
    own, options = np.zeros((len(values.hours), n)), np.zeros((len(values.hours), n, m))
    for b, mix in mixtures.groupby("bucket", sort=True):
        index = np.flatnonzero(buckets == b)
        if not len(index):
            continue
        for _, it in mix.groupby("iteration", sort=True):
            p = it.pivot(index="aggregator", columns="option", values="probability").loc[ids].to_numpy()
            v = values.hour_values(values.draw(dict(zip(ids, p)), index), index)  # (hours, N, options)
            w = float(it.weight.iloc[0]) if "weight" in it else 1.0 / mix.iteration.nunique()
            options[index] += w * v
            own[index] += w * np.einsum("hkj,kj->hk", v, p)
    everyone = np.arange(len(values.hours))
    learned = values.hour_values(values.draw({a: None for a in ids}, everyone), everyone)
    quiet = values.quiet_eur / values.n_weeks
    rows = [_score_row(profile, a, quiet[k] + float(mine[:, k].sum()) / values.n_weeks,
                       quiet[k] + v[:, k].sum(0) / values.n_weeks, values.levels)
            for profile, mine, v in (("learned", learned[:, :, 0], learned), ("correlated", own, options))
            for k, a in enumerate(ids)]
    keys = pd.DataFrame(values.hour_keys, columns=["week", "hour_of_week"]).assign(bucket=buckets)
    hours = pd.concat([keys.assign(profile=profile, aggregator=a, play_eur=mine[:, k],
                                   **{f"option{j}_eur": v[:, k, j] for j in range(m)})
                       for profile, mine, v in (("learned", learned[:, :, 0], learned), ("correlated", own, options))
                       for k, a in enumerate(ids)], ignore_index=True)
    return pd.DataFrame(rows), hours


def constant_bid_fictitious_play(scenario, learned, weeks: list[str], grid: SearchGrid = COARSE, seed: int = 0,
                                 iterations: int = 60, max_hours: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Fictitious play over each aggregator's learned policy and its constant up-price bids: every
    iteration, each aggregator's best option against the others' current mixtures (the empirical
    frequencies of their past best options, drawn hour by hour as `MixedUpPrices` draws; `OptionValues`)
    gets one more count. Where best-response dynamics cycle (`constant_bid_dynamics`), the mixtures
    can still approach a mixed equilibrium of this restricted game: then every aggregator's mixture earns
    about as much as its best option, which is the check "learned >= best constant bid" a mixed strategy
    can pass.

    Fictitious play need not converge in a game of more than two players, and here it does not settle:
    the largest gain falls within ~100 iterations, then wanders (measured: docs/arbitrage-study.md). So
    the mixtures returned are those of the iteration whose largest gain was smallest (`chosen`); where
    they are scored on other weeks (`score_profiles`), that choice is checked out of sample.

    Returns (history, mixtures). history: one row per iteration and aggregator, for the mixtures at
    the start of the iteration (iteration 0: everyone learned; the extra last iteration, `iterations`:
    the final mixtures): `mixture_eur_per_week` (its mixture's value against the others'),
    `learned_eur_per_week` (its learned bids against the others' mixtures), `best_eur_per_week` and
    `best_up_eur_mwh` (NaN: its learned bids) of its best option, `exploitability_share` =
    (best - mixture) / |mixture|, and `chosen` (the iteration whose mixtures are returned). mixtures: the
    chosen iteration's probabilities, one row per aggregator and option (`up_eur_mwh` NaN: the learned
    bids; `iteration`: the chosen one)."""
    values = OptionValues(scenario, learned, weeks, grid, seed, max_hours)
    return fictitious_play(values, values.ids, values.levels, iterations)


def score_profiles(values: OptionValues, mixtures: pd.DataFrame) -> pd.DataFrame:
    """Every aggregator under two profiles, on `values`' weeks: everyone learned, and everyone drawing
    from `mixtures` (`constant_bid_fictitious_play`'s). One row per profile and aggregator: what its own
    strategy earns (€/week), its best option against the others and that option's up price (NaN: its
    learned bids), and the gain share (best - own) / |own|. On weeks the mixtures were not fitted to, this
    is their out-of-sample exploitability."""
    p = {a: d.sort_values("option").probability.to_numpy() for a, d in mixtures.groupby("aggregator")}
    rows = []
    for name, mix in (("learned", {a: None for a in values.ids}), ("mixtures", {a: p[a] for a in values.ids})):
        v_all = values(mix)
        for a in values.ids:
            own, best, share = mixture_gain(v_all[a], mix[a])
            rows.append({"profile": name, "aggregator": a, "own_eur_per_week": own, "best_eur_per_week": float(v_all[a][best]),
                         "best_up_eur_mwh": values.levels[best - 1] if best else np.nan, "gain_share": share})
    return pd.DataFrame(rows)


def summarise_constant_prices(df: pd.DataFrame) -> pd.DataFrame:
    """Per aggregator, over all weeks: the learned total, the best constant up-price bid's total and
    price, and the shortfall of the learned policy (best constant - learned; > 0: it learned worse than
    a constant bid)."""
    prices = constant_up_prices(df)
    const = list(prices)
    g = df.groupby("aggregator", sort=True)[["learned_eur", *const]].sum()
    out = pd.DataFrame({"learned_eur": g["learned_eur"], "best_constant_up_eur": g[const].max(axis=1),
                        "best_constant_up_eur_mwh": g[const].idxmax(axis=1).map(prices)})
    out["shortfall_eur"] = out["best_constant_up_eur"] - out["learned_eur"]
    return out.reset_index()


# --- how well the learned critics rank an aggregator's own up prices ------------------------------------
def critic_up_values(learned, hour, levels_frac: np.ndarray) -> np.ndarray:
    """(N, L): each aggregator's secondary critic's value (€, reward_scale undone) of the cleared `hour`
    with its own up price at each level (a fraction of the cap), everything else as played: its own
    down price and every other aggregator's actions, as the learner stores them (`Team.remember`)."""
    import torch

    slot = next(s for s in learned.slots if s.role.role == "secondary")
    g, record = slot.group, hour.records[slot.role.stage]
    act = getattr(record, "executed_actions", None)
    act = hour.actions[slot.role.stage] if act is None else act
    unit = slot.action.to_unit(np.asarray(act, dtype=float)).astype(np.float32)  # (N, 2)
    n, m = unit.shape[0], len(levels_frac)
    a = np.broadcast_to(unit, (n, m, n, unit.shape[1])).copy()
    a[np.arange(n), :, np.arange(n), 0] = np.asarray(levels_frac, dtype=np.float32)  # agent n's own up price
    joint = g.features.joint(hour.observations[slot.role.stage])
    x = np.broadcast_to(joint, (n, m, len(joint)))
    with torch.no_grad():
        inp = torch.from_numpy(np.concatenate([x, a.reshape(n, m, -1)], -1)).to(g.device)
        return g.critic(inp)[..., 0].cpu().numpy() / learned.hp.reward_scale


def critic_ranking(scenario, learned, constant: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Per aggregator and LFM-active hour of `constant` (a `constant_prices` table): the true value of
    every constant up price (its columns) beside what the aggregator's own secondary critic says it is
    worth (`critic_up_values`, at the same prices). Columns: week, hour_of_week, aggregator, learned_eur,
    true_best_eur, critic_pick_eur (the true value of the critic's best price), critic_picks_best
    (whether that is a best price), levels_matter (the prices' values differ by more than 1 €)."""
    from model import dataset

    prices = constant_up_prices(constant)
    cols, levels_eur = list(prices), np.array(list(prices.values()))
    learned.explore = False
    model = make_model(scenario, learned, seed)
    cap, order = model.scenario.market.flex_price_max_eur_mwh, list(model.scenario.aggregator_ids)
    rows = []
    for label in constant.week.drop_duplicates():
        model.design.cold_start()
        model.reset_week(dataset.resolve_week(label)[0])
        hours = set(constant.hour_of_week[constant.week == label])
        while model.running and model.hour_of_week <= max(hours):
            h = model.clear_hour()
            if bought_flexibility(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum()):
                q = critic_up_values(learned, h, levels_eur / cap)
                for agg in constant.aggregator.unique():
                    rows.append({"week": label, "hour_of_week": model.hour_of_week, "aggregator": agg,
                                 "critic_best": int(np.argmax(q[order.index(agg)]))})
            model.step()
    picks = pd.DataFrame(rows, columns=["week", "hour_of_week", "aggregator", "critic_best"])
    df = constant.merge(picks, on=["week", "hour_of_week", "aggregator"], how="inner")
    values = df[cols].to_numpy()
    return pd.DataFrame({
        "week": df.week, "hour_of_week": df.hour_of_week, "aggregator": df.aggregator, "learned_eur": df.learned_eur,
        "true_best_eur": values.max(1), "critic_pick_eur": values[np.arange(len(df)), df.critic_best.to_numpy()],
        "critic_picks_best": values[np.arange(len(df)), df.critic_best.to_numpy()] >= values.max(1) - 1e-6,
        "levels_matter": values.max(1) - values.min(1) > 1.0})


def summarise_critic_ranking(df: pd.DataFrame, n_weeks: int) -> pd.DataFrame:
    """Per aggregator: hours where the price matters, the share of them in which its critic's best price
    is a best one, and €/week over the active hours: learned, the critic's picks, the best price per hour."""
    m = df[df.levels_matter]
    g = df.groupby("aggregator", sort=False)
    out = pd.DataFrame({"hours_price_matters": m.groupby("aggregator", sort=False).size(),
                        "critic_picks_best_share": m.groupby("aggregator", sort=False).critic_picks_best.mean(),
                        "learned_eur_per_week": g.learned_eur.sum() / n_weeks,
                        "critic_pick_eur_per_week": g.critic_pick_eur.sum() / n_weeks,
                        "best_per_hour_eur_per_week": g.true_best_eur.sum() / n_weeks})
    return out.reset_index()


# --- a best responder fitted on the market's exact values --------------------------------------------
def own_inputs(scenario, learned, weeks: list[str], seed: int = 0, max_hours: int | None = None) -> pd.DataFrame:
    """Every aggregator's secondary actor input (what its LFM policy sees) in every hour of `weeks`
    played by `learned`: one row per (week, hour_of_week, aggregator), columns x0..x{d-1}."""
    slot = next(s for s in learned.slots if s.role.role == "secondary")
    learned.explore = False
    model = make_model(scenario, learned, seed)
    ids = list(model.scenario.aggregator_ids)
    frames = []
    for label in each_hour(model, weeks, max_hours):
        h = model.clear_hour()
        x = slot.group.features.actor_inputs(h.observations[slot.role.stage])
        frames.append(pd.DataFrame(x, columns=[f"x{i}" for i in range(x.shape[1])])
                      .assign(week=label, hour_of_week=model.hour_of_week, aggregator=ids))
    return pd.concat(frames, ignore_index=True)


def fitted_up_price_responder(constant: pd.DataFrame, inputs: pd.DataFrame, fit_weeks: list[str],
                              hidden: tuple[int, ...] = (64, 64), steps: int = 3000, seed: int = 0) -> pd.DataFrame:
    """A best responder for each aggregator's up price, fitted rather than trained by gradient play:
    hours are independent games, so its best response to everyone else's frozen policy is, hour by
    hour, the up price of highest expected value given what it observes. A network maps the
    aggregator's own LFM input to the value of every constant up price of `constant` (the exact
    values the re-cleared market gave on `fit_weeks`); the responder bids the price of highest
    predicted value. Returns `constant`'s rows of the other weeks with `responder_eur` (the true value
    of the price it picks in that hour: hours are independent, so picking per hour is exact) and
    `responder_up_eur_mwh`."""
    import torch

    prices = constant_up_prices(constant)
    cols, levels = list(prices), np.array(list(prices.values()))
    xcols = [c for c in inputs.columns if c.startswith("x")]
    df = constant.merge(inputs, on=["week", "hour_of_week", "aggregator"], how="inner")
    out = []
    gen = torch.Generator().manual_seed(seed)
    for agg, d in df.groupby("aggregator", sort=False):
        fit = d.week.isin(fit_weeks).to_numpy()
        x = torch.from_numpy(d[xcols].to_numpy(np.float32))
        y = torch.from_numpy((d[cols].to_numpy() - d[cols].to_numpy().mean(1, keepdims=True)).astype(np.float32) / 100.0)
        sizes = [x.shape[1], *hidden, len(cols)]
        torch.manual_seed(seed)
        layers = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            layers += [torch.nn.Linear(a, b), torch.nn.ReLU()]
        net = torch.nn.Sequential(*layers[:-1])
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        xf, yf = x[fit], y[fit]
        for _ in range(steps):
            idx = torch.randint(0, len(xf), (min(256, len(xf)),), generator=gen)
            loss = torch.nn.functional.mse_loss(net(xf[idx]), yf[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            pick = net(x[~fit]).argmax(1).numpy()
        rest = d[~fit]
        values = rest[cols].to_numpy()
        out.append(rest[["week", "hour_of_week", "aggregator", "learned_eur", *cols]].assign(
            responder_eur=values[np.arange(len(rest)), pick], responder_up_eur_mwh=levels[pick]))
    return pd.concat(out, ignore_index=True)
