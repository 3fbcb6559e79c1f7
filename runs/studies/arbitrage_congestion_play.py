"""The play by congestion as a policy: regret matching's correlated play, per bucket of a public feature.

`bucketed_regret_matching` (runs/studies/arbitrage_best_response.py) fits, on training weeks, one regret
matching+ per bucket of the feeder's scheduled injection after the LEM (`feeder_sched_mw`, which every
aggregator observes before its LFM bids). Its object is a correlated play: in an hour of bucket b, an
iteration t is drawn with probability `weights[b, t]`, the same for every aggregator, and each aggregator then
draws its option from its own t-th mixture (0: its learned bids; j > 0: the constant up price `levels[j - 1]`,
learned withholding and down price). `score_bucketed` values that play exactly, as an expectation over the
draws; `CongestionPlayPolicy` plays it hour by hour, so that `evaluate`, `simulate` and the report's markets
and orderings can run it on any week like any other policy.

The draws are hashes, so a replayed hour draws the same (the constant-bid checks clear one hour many times) and
a rerun gives the same numbers:
  - the iteration: from (seed, the public part of the LFM observation: hour of week, imbalance prices, feeder
    injection), identical for every aggregator: the public signal a correlated play needs;
  - each aggregator's option: from (seed, aggregator, its own observation), the uniform `MixedUpPrices` and
    `OptionValues.draw` use, so that, given the iteration, the policy plays what `OptionValues` values.

File: numpy arrays (`np.savez`, no pickles), refused if corrupt, inconsistent or made from another learned
policy (`load`)."""

from __future__ import annotations

import zlib

import numpy as np
import pandas as pd

from runs.studies.arbitrage_fitted_play import UNREADABLE, UpPricesOverLearned, check_made_from, save_arrays

PUBLIC_SALT = 0x81  # the iteration's draw, apart from the aggregators' own (`MixedUpPrices`) and the plays' rounds


def public_columns() -> np.ndarray:
    """Positions in the LFM observation of the columns every aggregator sees alike (time and shared features)."""
    from model.designs.arbitrage import LFM_OBSERVATION
    from model.spaces import SHARED, TIME

    return np.array([i for i, f in enumerate(LFM_OBSERVATION) if f.kind in (TIME, SHARED)], dtype=int)


def feature_column(name: str) -> int:
    """Position of the public feature `name` in the LFM observation; a clear error for any other name."""
    from model.designs.arbitrage import LFM_COLUMNS

    if name not in LFM_COLUMNS or LFM_COLUMNS.index(name) not in public_columns():
        raise ValueError(f"a play by congestion buckets hours by a feature every aggregator sees before its LFM bids; "
                         f"{name!r} is not one (public LFM features: {[LFM_COLUMNS[i] for i in public_columns()]})")
    return LFM_COLUMNS.index(name)


class CongestionPlayPolicy(UpPricesOverLearned):
    """Plays every aggregator as `base` (its learned policy) does, except its LFM up price, drawn every hour from
    the correlated play of the hour's bucket (module docstring).

    edges_mw: (B - 1,) inner bucket edges of `feature` (`bucket_edges`; low < x <= high, open outer buckets);
    probabilities: (B, T, N, options) each iteration's mixtures; weights: (B, T) the probability of each iteration;
    levels_eur_mwh: (options - 1,) the constant up prices."""

    name = "congestion-play"

    def __init__(self, base, aggregator_ids, levels_eur_mwh, edges_mw, probabilities, weights, seed: int = 0,
                 feature: str = "feeder_sched_mw"):
        self.base, self.ids, self.seed, self.feature = base, list(aggregator_ids), int(seed), feature
        self.levels = np.asarray(levels_eur_mwh, dtype=float)
        self.edges = np.asarray(edges_mw, dtype=float)
        self.probabilities = np.asarray(probabilities, dtype=float)
        self.weights = np.asarray(weights, dtype=float)
        self._check()
        self._column, self._public = feature_column(feature), public_columns()
        self._cum_weights = np.cumsum(self.weights, axis=1)
        self._cum_probabilities = np.cumsum(self.probabilities, axis=3)
        self.slot = next((s for s in getattr(base, "slots", ()) if s.role.role == "secondary"), None)
        if self.slot is None:
            raise ValueError("a play by congestion plays the arbitrage design's LFM bids; its learned policy has no "
                             "secondary (LFM) actor: use it with an arbitrage run")
        self._memo: tuple | None = None  # the last hour's (observation, rows) and bids
        base.explore = False

    def _check(self) -> None:
        B, T, N, M = self.probabilities.shape if self.probabilities.ndim == 4 else (0, 0, 0, 0)
        problems = []
        if self.probabilities.ndim != 4:
            problems.append(f"probabilities must be (buckets, iterations, aggregators, options), not {self.probabilities.shape}")
        else:
            if self.edges.shape != (B - 1,) or not np.all(np.diff(self.edges) >= 0):
                problems.append(f"{B} buckets need {B - 1} increasing edges, not {self.edges.tolist()}")
            if self.weights.shape != (B, T):
                problems.append(f"weights must be (buckets, iterations) = {(B, T)}, not {self.weights.shape}")
            if N != len(self.ids):
                problems.append(f"the play has mixtures for {N} aggregators, the run {len(self.ids)}: it was made from "
                                f"another scenario's run")
            if M != len(self.levels) + 1:
                problems.append(f"{M} options need {M - 1} constant up prices, not {len(self.levels)}")
        for name, p, axis in (("probabilities", self.probabilities, -1), ("weights", self.weights, -1)):
            if p.size and (not np.all(np.isfinite(p)) or (p < -1e-12).any()
                           or not np.allclose(p.sum(axis=axis), 1.0, atol=1e-9)):
                problems.append(f"{name} must be finite, non-negative and sum to 1 (each mixture, each bucket)")
        if problems:
            raise ValueError("not a play by congestion: " + "; ".join(problems))

    @property
    def buckets(self) -> int:
        return len(self.edges) + 1

    def bucket_of(self, obs: np.ndarray) -> int:
        """The hour's bucket, from its public feature (the same in every row of an LFM observation)."""
        return int(np.searchsorted(self.edges, obs[0, self._column], side="right"))

    def iteration_of(self, obs: np.ndarray, bucket: int) -> int:
        """The iteration every aggregator plays this hour: a draw from the bucket's weights, keyed by the public
        part of the observation only, so every aggregator draws the same."""
        key = zlib.crc32(np.ascontiguousarray(obs[0, self._public]).tobytes())
        u = np.random.default_rng([self.seed, PUBLIC_SALT, key]).random()
        return min(int(np.searchsorted(self._cum_weights[bucket], u, side="right")), self.weights.shape[1] - 1)

    def options_of(self, obs: np.ndarray, rows: np.ndarray) -> np.ndarray:
        """Each row's option this hour (0: learned bids, j > 0: levels[j - 1])."""
        b = self.bucket_of(obs)
        t = self.iteration_of(obs, b)
        out = np.zeros(len(rows), dtype=int)
        for i, row in enumerate(rows):
            key = zlib.crc32(np.ascontiguousarray(obs[i]).tobytes())
            u = np.random.default_rng([self.seed, int(row), key]).random()
            c = self._cum_probabilities[b, t, int(row)]
            out[i] = min(int(np.searchsorted(c, u, side="right")), len(c) - 1)
        return out

    @classmethod
    def from_tables(cls, base, aggregator_ids, mixtures: pd.DataFrame, edges: pd.DataFrame, levels_eur_mwh,
                    seed: int = 0) -> "CongestionPlayPolicy":
        """From the study's files: `mixtures` (`bucketed_regret_matching`'s: bucket, iteration, aggregator, option,
        probability, weight) and `edges` (`bucket_table`'s: bucket, low_mw, high_mw)."""
        need = {"bucket", "iteration", "aggregator", "option", "probability", "weight"}
        if missing := need - set(mixtures.columns):
            raise ValueError(f"the play's mixtures lack the columns {sorted(missing)}: rerun the study's regret matching "
                             "by congestion that writes them")
        ids = list(aggregator_ids)
        if set(mixtures.aggregator.unique()) != set(ids):
            raise ValueError(f"the play's mixtures are for aggregators {sorted(mixtures.aggregator.unique())}, the run has "
                             f"{ids}: it was made from another scenario's run")
        B, T = int(mixtures.bucket.max()) + 1, int(mixtures.iteration.max()) + 1
        M = int(mixtures.option.max()) + 1
        p = np.full((B, T, len(ids), M), np.nan)
        k = mixtures.aggregator.map({a: i for i, a in enumerate(ids)}).to_numpy()
        p[mixtures.bucket.to_numpy(), mixtures.iteration.to_numpy(), k, mixtures.option.to_numpy()] = mixtures.probability
        w = np.full((B, T), np.nan)
        w[mixtures.bucket.to_numpy(), mixtures.iteration.to_numpy()] = mixtures.weight
        inner = edges.sort_values("bucket").high_mw.to_numpy()[:-1]
        return cls(base, ids, levels_eur_mwh, inner, p, w / w.sum(axis=1, keepdims=True), seed)

    # --- a safe file format: numpy arrays, no pickles ---------------------------------------------
    def save(self, path, base_sha256: str = "") -> None:
        """`base_sha256`: the learned run's policy file hash (`policy.json`'s tensor_sha256), checked by `load`."""
        arrays = {"congestion_edges_mw": self.edges, "congestion_probabilities": self.probabilities,
                  "congestion_weights": self.weights, "levels_eur_mwh": self.levels, "meta": np.array([self.seed]),
                  "feature": np.array(self.feature), "base_sha256": np.array(base_sha256)}
        save_arrays(path, arrays)

    @classmethod
    def load(cls, path, base, aggregator_ids, base_sha256: str | None = None) -> "CongestionPlayPolicy":
        """The policy saved at `path`, playing over `base`; with `base_sha256`, refused unless it was made from that
        learned policy file."""
        try:
            with np.load(path, allow_pickle=False) as z:
                arrays = {k: z[k] for k in ("congestion_edges_mw", "congestion_probabilities", "congestion_weights",
                                            "levels_eur_mwh", "meta", "feature", "base_sha256")}
        except UNREADABLE as e:
            raise ValueError(f"{path}: not a play-by-congestion file ({e}); rerun the study's regret matching by "
                             "congestion that writes it") from e
        made_from = str(arrays["base_sha256"])
        check_made_from(path, made_from, base_sha256)
        try:
            return cls(base, aggregator_ids, arrays["levels_eur_mwh"], arrays["congestion_edges_mw"],
                       arrays["congestion_probabilities"], arrays["congestion_weights"], int(arrays["meta"][0]),
                       str(arrays["feature"]))
        except ValueError as e:
            raise ValueError(f"{path}: {e}; rerun the study's regret matching by congestion that writes it") from e
