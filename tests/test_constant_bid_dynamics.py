"""Best-response dynamics among constant up-price bids (`constant_bid_dynamics`): checked on hand-worked
price games (one with an Edgeworth cycle and no pure equilibrium, one with a pure equilibrium; both
checked by enumerating every profile) and, on the arbitrage model, against an independent replay."""

import itertools
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from runs.studies import arbitrage_best_response as br

LEVELS = [float(p) for p in range(1, 11)]  # € per MWh; 10 is the cap and the "learned" bid both start from


def pay_as_bid_capacity_6(p_own, p_other):
    """Two sellers of 6 MW each, a buyer of 10 MW, each paid its own bid (Bertrand-Edgeworth): the cheaper sells 6,
    the dearer the remaining 4, a tie splits 5/5. No pure equilibrium: undercut while prices are high, jump to the
    cap once undercutting earns less than selling the residual 4 MW at the cap."""
    mw = 6 if p_own < p_other else 4 if p_own > p_other else 5
    return mw * p_own


def pay_as_bid_capacity_12(p_own, p_other):
    """The same with 12 MW each (either covers the buyer alone): plain Bertrand, which has pure equilibria."""
    mw = 10 if p_own < p_other else 0 if p_own > p_other else 5
    return mw * p_own


def pure_equilibria(payoff):
    return [(a, b) for a, b in itertools.product(LEVELS, LEVELS)
            if max(payoff(x, b) for x in LEVELS) <= payoff(a, b) and max(payoff(x, a) for x in LEVELS) <= payoff(b, a)]


@pytest.fixture
def price_game(monkeypatch):
    """Replace the model by a two-seller price game: `constant_prices` returns what each level earns
    against the other seller's current bid (10, the cap, while it still plays its learned policy)."""
    def install(payoff):
        monkeypatch.setattr("model.scenario.load", lambda scenario: SimpleNamespace(aggregator_ids=[1, 2]))

        def constant_prices(scenario, probe, weeks, aggregators, grid, seed, max_hours):
            (agg,) = aggregators
            other = probe.up_eur_mwh.get(3 - agg, 10.0)
            own = probe.up_eur_mwh.get(agg, 10.0)
            return pd.DataFrame([{"week": "w", "aggregator": agg, "learned_eur": payoff(own, other),
                                  **{f"up_at_{lev:.4g}_eur": payoff(lev, other) for lev in LEVELS}}])

        monkeypatch.setattr(br, "constant_prices", constant_prices)
        return br.constant_bid_dynamics("game", SimpleNamespace(explore=True), ["w"], max_rounds=10)

    return install


def test_an_edgeworth_cycle_is_found_where_no_pure_equilibrium_exists(price_game):
    assert pure_equilibria(pay_as_bid_capacity_6) == []
    df = price_game(pay_as_bid_capacity_6)
    # undercut 10 -> 9 -> 8 -> 7, then the residual at the cap (4 x 10 = 40) beats undercutting 7 (6 x 6 = 36), then again
    prices = df.pivot(index="round", columns="aggregator", values="up_eur_mwh")
    assert prices.values.tolist() == [[9.0, 8.0], [7.0, 10.0], [9.0, 8.0]]
    assert (df.outcome == "cycle of 2 rounds (round 2 = round 0)").all()
    assert (df.after_eur_per_week >= df.before_eur_per_week).all()


def test_the_dynamics_stop_at_a_pure_equilibrium_where_one_exists(price_game):
    equilibria = pure_equilibria(pay_as_bid_capacity_12)
    df = price_game(pay_as_bid_capacity_12)
    assert (df.outcome == "equilibrium").all()
    last = df[df["round"] == df["round"].max()]
    assert (last.after_eur_per_week == last.before_eur_per_week).all()  # nobody switched in the last round
    assert tuple(last.sort_values("aggregator").up_eur_mwh) in equilibria


def test_on_the_model_each_switch_pays_and_the_last_profile_replays_to_the_same_earnings(tmp_path):
    """One round on one week: the last aggregator's earnings after its switch equal what an independent
    replay of the whole week (`evaluate_policy`) pays it under the round's final profile of bids."""
    from agents.learning.hyperparams import HyperParams
    from runs.training import evaluate_policy, load_trained_policy, train

    hp = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 2, "episodes": 2})
    train("one-arb", seed=0, out=tmp_path / "run", eval_every=2, hp=hp, progress=False)
    learned, _ = load_trained_policy(tmp_path / "run")
    df = br.constant_bid_dynamics("one-arb", learned, ["test:1"], br.TINY, seed=0, max_rounds=1)
    ids = list(df.aggregator)
    assert len(ids) == 10 and (df.after_eur_per_week >= df.before_eur_per_week).all()
    assert (df.after_eur_per_week > df.before_eur_per_week).any()  # an untrained policy is beaten by some constant bid
    probe = br.ConstantUpPrices(load_trained_policy(tmp_path / "run")[0], ids)
    probe.up_eur_mwh = {int(r.aggregator): float(r.up_eur_mwh) for r in df.itertuples() if np.isfinite(r.up_eur_mwh)}
    scores, _ = evaluate_policy("one-arb", probe, seed=0, weeks=["test:1"], keep_hours=False)
    last = df.iloc[-1]
    replayed = scores.set_index("aggregator").loc[int(last.aggregator), "total_eur"]
    assert replayed == pytest.approx(last.after_eur_per_week, rel=1e-9, abs=1e-6)


def game_values(payoff):
    """The two-seller game as `OptionValues` serves it: each option's expected payoff against the other seller's
    mixture (option 0, its learned policy, bids the cap 10)."""
    def values(mixtures):
        out = {}
        for agg in (1, 2):
            q = mixtures[3 - agg]
            mixture = [(10.0, 1.0)] if q is None else [(10.0 if j == 0 else LEVELS[j - 1], w) for j, w in enumerate(q)]
            value = lambda p: sum(w * payoff(p, x) for x, w in mixture)  # noqa: E731, B023
            out[agg] = np.array([value(10.0)] + [value(lev) for lev in LEVELS])
        return out

    class Game:  # what `score_correlated` reads of an `OptionValues`
        ids, levels = [1, 2], np.array(LEVELS)

        def __call__(self, mixtures):
            return values(mixtures)

    return Game(), values


def fictitious_play(payoff, iterations):
    """`fictitious_play` on the two-seller game (`game_values`)."""
    _, values = game_values(payoff)
    return br.fictitious_play(values, [1, 2], np.array(LEVELS), iterations)


def test_fictitious_play_approaches_the_mixed_equilibrium_of_an_edgeworth_game():
    """Where best responses cycle (the test above), the empirical mixtures approach the game's mixed
    equilibrium. By hand: a seller bidding the cap 10 sells at least the residual 4 MW, 40 €; so no price
    below 40 / 6 = 6.67 (where selling 6 MW earns less) is in the support, and each seller's equilibrium
    value is about 40. The check is computed here from the returned mixtures, by enumeration."""
    history, mixtures = fictitious_play(pay_as_bid_capacity_6, 400)
    # the learned bids, cap against cap, earn 5 x 10 = 50; undercutting to 9 earns 6 x 9 = 54: 8 % more
    assert history[history.iteration == 0].exploitability_share.tolist() == pytest.approx([0.08, 0.08])
    price = mixtures.up_eur_mwh.fillna(10.0)  # option 0 bids the cap
    dist = {agg: list(zip(price[mixtures.aggregator == agg], mixtures.probability[mixtures.aggregator == agg])) for agg in (1, 2)}
    for agg in (1, 2):
        assert sum(w for x, w in dist[agg] if x < 6.67) < 0.02
        value = lambda p: sum(w * pay_as_bid_capacity_6(p, x) for x, w in dist[3 - agg])  # noqa: E731, B023
        mixture_value = sum(w * value(x) for x, w in dist[agg])
        assert 38.0 < mixture_value < 44.0
        assert max(value(p) for p in LEVELS) - mixture_value < 0.02 * mixture_value  # within 2 % of a best response


def test_regret_matching_reaches_a_coarse_correlated_equilibrium_of_an_edgeworth_game():
    """Where best responses cycle and no pure equilibrium exists, regret matching's play (iteration t drawn for both
    sellers with probability proportional to t + 1, each then drawing its price from that iteration's mixture)
    leaves neither seller more than 0.5 % to gain by any price bid throughout. Checked here by enumerating the
    play's profiles from the returned mixtures and weights; the seller's security value (the cap sells at least the
    residual 4 MW: 40) bounds its earnings below; the history and `score_correlated` score the same play; and the
    regret stays within regret matching+'s bound 2 max_k Q_T,k / (T + 1), Q the floored cumulative regrets."""
    game, values = game_values(pay_as_bid_capacity_6)
    T = 400
    history, mixtures = br.regret_matching_play(values, [1, 2], np.array(LEVELS), T)
    assert history[history.iteration == 0].mixture_eur_per_week.tolist() == [50.0, 50.0]  # the learned bids, cap vs cap
    weight = mixtures.groupby("iteration").weight.first()
    assert weight.sum() == pytest.approx(1.0) and weight[T - 1] == pytest.approx(T * weight[0])
    price = mixtures.up_eur_mwh.fillna(10.0)
    seq = {t: {a: list(zip(price[(mixtures.iteration == t) & (mixtures.aggregator == a)],
                           mixtures.probability[(mixtures.iteration == t) & (mixtures.aggregator == a)])) for a in (1, 2)}
           for t in range(T)}
    assert len(seq[T - 1][1]) == 11 and abs(sum(w for _, w in seq[T - 1][1]) - 1.0) < 1e-12
    scored = br.score_correlated(game, mixtures).set_index(["profile", "aggregator"])
    from_history = br.correlated_scores_from_history(history, np.array(LEVELS)).set_index(["profile", "aggregator"])
    pd.testing.assert_frame_equal(from_history.loc[scored.index, scored.columns], scored, rtol=1e-12)
    for agg in (1, 2):
        own = sum(weight[t] * sum(w * v * pay_as_bid_capacity_6(x, y) for x, w in seq[t][agg] for y, v in seq[t][3 - agg])
                  for t in range(T))
        deviation = {k: sum(weight[t] * sum(v * pay_as_bid_capacity_6(k, y) for y, v in seq[t][3 - agg]) for t in range(T))
                     for k in LEVELS}
        assert own > 0.99 * 40.0
        assert max(deviation.values()) - own < 0.005 * own  # no price bid throughout gains 0.5 %
        last = history[(history.iteration == T - 1) & (history.aggregator == agg)].iloc[0]
        assert last.average_eur_per_week == pytest.approx(own, rel=1e-12)
        assert last.regret_share == pytest.approx((max(deviation.values()) - own) / own, abs=1e-12)
        assert scored.loc[("correlated", agg), "own_eur_per_week"] == pytest.approx(own, rel=1e-12)
        assert scored.loc[("learned", agg), "own_eur_per_week"] == 50.0
        assert scored.loc[("learned", agg), "best_up_eur_mwh"] == 9.0  # undercutting the cap: 6 x 9 = 54
        # regret matching+'s bound, from the floored cumulative regrets rebuilt from the history
        d = history[history.aggregator == agg].sort_values("iteration")
        opts = d[[f"option{j}_eur_per_week" for j in range(11)]].to_numpy()
        q = np.zeros(11)
        for v, mine in zip(opts, d.mixture_eur_per_week):
            q = np.maximum(q + v - mine, 0.0)
        assert max(deviation.values()) - own <= 2 * q.max() / (T + 1) + 1e-9
    # fictitious play's product mixtures on the same game are further from their equilibrium after as many iterations
    fp_history, _ = fictitious_play(pay_as_bid_capacity_6, T)
    assert history[history.iteration == T - 1].regret_share.max() < fp_history[fp_history.chosen].exploitability_share.max()


def must_sell_12(p_own, p_other):
    """Two sellers of 12 MW each and a buyer of 24 MW: both sell everything whatever they bid, so the cap is dominant."""
    return 12 * p_own


class HourGames:
    """An `OptionValues` of hand-worked games: one two-seller game per hour (option 0 bids the cap), each hour with
    its public feature (MW). It draws no options: `hour_values` gets the mixtures and pays their expectations
    (`game_values`), so a play's scores are exact; the rest is `OptionValues`' own code."""
    ids, levels, n_weeks, quiet_eur = [1, 2], np.array(LEVELS), 1, np.zeros(2)
    values_over, public_feature = br.OptionValues.values_over, br.OptionValues.public_feature

    def __init__(self, games, feature_mw):
        from model.designs.arbitrage import LFM_COLUMNS

        self.hours, self.hour_keys = games, [("w", i) for i in range(len(games))]
        self.observations = [np.full((2, len(LFM_COLUMNS)), np.nan) for _ in games]
        for obs, x in zip(self.observations, feature_mw):
            obs[:, LFM_COLUMNS.index("feeder_sched_mw")] = x

    def draw(self, mixtures, index):
        return [mixtures] * len(index)

    def hour_values(self, drawn, index):
        return np.array([[game_values(self.hours[i])[1](mix)[a] for a in self.ids] for mix, i in zip(drawn, index)])


def enumerate_bucketed_play(games, feature_mw, edges, mixtures):
    """By enumeration, on hours `games`: each seller's earnings under the bucketed play (each hour drawn from its
    bucket's iterations, by `weight`) and under each price bid throughout against the other's play."""
    price = mixtures.up_eur_mwh.fillna(10.0)
    own, deviation = {1: 0.0, 2: 0.0}, {1: np.zeros(len(LEVELS)), 2: np.zeros(len(LEVELS))}
    for game, x in zip(games, feature_mw):
        b = int(np.searchsorted(edges, x, side="right"))
        for t, it in mixtures[mixtures.bucket == b].groupby("iteration"):
            w = it.weight.iloc[0]
            dist = {a: list(zip(price[it.index][it.aggregator == a], it.probability[it.aggregator == a])) for a in (1, 2)}
            for a in (1, 2):
                own[a] += w * sum(p * q * game(x1, y) for x1, p in dist[a] for y, q in dist[3 - a])
                deviation[a] += w * np.array([sum(q * game(k, y) for y, q in dist[3 - a]) for k in LEVELS])
    return own, deviation


def test_bucketed_regret_matching_carries_over_to_weeks_of_another_mix_where_one_play_for_all_hours_does_not():
    """Two kinds of hours, told apart by a public feature: congested ones (-6 MW) where either seller alone covers
    the buyer (Bertrand: prices fall), and idle ones (-2 MW) where both sell everything (the cap is dominant). Fitted
    on three congested hours and one idle hour, then judged on one congested and three idle hours, by enumeration:
    one play for all hours learns low prices and the cap gains more than half on the other mix; a play per bucket
    of the feature keeps the cap in idle hours and leaves neither seller 1 % to gain by any price bid throughout,
    on the weeks it was fitted to and on the others; `score_bucketed` scores that play as the enumeration does."""
    fit = ([pay_as_bid_capacity_12] * 3 + [must_sell_12], [-6.0, -6.0, -6.0, -2.0])
    check = ([pay_as_bid_capacity_12] + [must_sell_12] * 3, [-6.0, -2.0, -2.0, -2.0])
    T = 400
    for edges, carries_over in ((np.zeros(0), False), (np.array([-4.0]), True)):
        _, mixtures = br.bucketed_regret_matching(HourGames(*fit), edges, T)
        assert sorted(mixtures.bucket.unique()) == list(range(len(edges) + 1))
        for games, feature in (fit, check):
            own, deviation = enumerate_bucketed_play(games, feature, edges, mixtures)
            totals, hours = br.score_bucketed(HourGames(games, feature), mixtures, edges)
            correlated = totals[totals.profile == "correlated"].set_index("aggregator")
            for a in (1, 2):
                gain = (deviation[a].max() - own[a]) / own[a]
                assert correlated.loc[a, "own_eur_per_week"] == pytest.approx(own[a], rel=1e-9)
                assert correlated.loc[a, "gain_share"] == pytest.approx(gain, abs=1e-9)
                if carries_over:
                    assert gain < 0.01
                elif games is check[0]:
                    assert gain > 0.5 and deviation[a].argmax() == len(LEVELS) - 1  # the cap throughout
            for a in (1, 2):  # the hours' rows add up to the totals
                mine = hours[(hours.aggregator == a) & (hours.profile == "correlated")]
                assert mine.play_eur.sum() == pytest.approx(own[a], rel=1e-9)
                assert mine[[f"option{j}_eur" for j in range(1, 11)]].sum().to_numpy() == pytest.approx(deviation[a], rel=1e-9)
                assert mine.bucket.tolist() == [int(np.searchsorted(edges, x, side="right")) for x in feature]
    assert br.bucket_edges(np.arange(12.0), 4).tolist() == [2.75, 5.5, 8.25]  # equal counts: 3 hours each
    # at given quantiles: numpy's linear interpolation of 0..12 at 1/12, 1/6, 1/2 (0-based positions 1, 2, 6)
    assert br.bucket_edges(np.arange(13.0), 4, (1 / 12, 1 / 6, 0.5)).tolist() == pytest.approx([1.0, 2.0, 6.0])
    for wrong in ((0.25, 0.5), (0.5, 0.25, 0.75), (0.0, 0.5, 0.75)):  # too few, not rising, not inside (0, 1)
        with pytest.raises(ValueError, match="4 buckets need 3 rising quantiles in"):
            br.bucket_edges(np.arange(12.0), 4, wrong)


def test_mixed_up_prices_draw_per_hour_and_replay_the_same_draw():
    """Option 0 keeps the learned bids, option j bids the j-th level (minus the tie-break offset); the
    withholding stage is never touched; the same observation draws the same option (a replayed hour),
    and over many hours each option is drawn about as often as its probability says."""
    base = SimpleNamespace(explore=True, act=lambda stage, obs, rows: np.tile([[700.0, 40.0]], (len(rows), 1)))
    policy = br.MixedUpPrices(base, [5, 6], seed=3)
    policy.levels = np.array([100.0, 1000.0])
    obs = np.random.default_rng(0).uniform(0, 1, (2000, 7))
    rows = np.tile([0, 1], 1000)
    assert np.array_equal(policy.act("lfm", obs, rows), base.act("lfm", obs, rows))  # no mixtures yet: learned
    policy.p = {5: np.array([0.0, 1.0, 0.0]), 6: np.array([0.5, 0.0, 0.5])}
    out = policy.act("lfm", obs, rows)
    assert np.allclose(out[rows == 0], [100.0 - br.tie_break_eur_mwh(0), 40.0 - br.tie_break_eur_mwh(0)])
    six = out[rows == 1, 0]
    assert set(np.round(six, 3)) == {700.0, round(1000.0 - br.tie_break_eur_mwh(1), 3)}
    assert 0.45 < np.mean(six == 700.0) < 0.55
    assert np.array_equal(policy.act("lfm", obs, rows), out)  # the same hours replayed
    assert np.array_equal(policy.act("lem", obs, rows), base.act("lem", obs, rows))


def test_option_values_equal_constant_prices_against_mixed_up_prices(tmp_path):
    """`OptionValues` (each LEM cleared once, cached profiles, higher prices than an unsold one not cleared) pays
    every aggregator what the plain check, which clears every profile, does: `constant_prices` for that aggregator
    while the others play `MixedUpPrices` with the same mixtures - twice, so that the second call, which reuses the
    first call's profiles, is checked too.
    A briefly trained policy bids no two prices alike, so the LFM's outcome is unique (see `OptionValues`)."""
    from agents.learning.hyperparams import HyperParams
    from runs.training import load_trained_policy, train

    hp = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 2, "episodes": 2})
    train("one-arb", seed=0, out=tmp_path / "run", eval_every=2, hp=hp, progress=False)
    weeks, hours = ["test:1", "test:5"], 30
    values = br.OptionValues("one-arb", load_trained_policy(tmp_path / "run")[0], weeks, br.TINY, seed=4, max_hours=hours)
    ids, m = values.ids, len(br.TINY.price_frac) + 1
    assert len(values.hours) >= 10  # hours in which the LFM buys flexibility, where the options differ
    rng = np.random.default_rng(1)
    for call in range(2):
        mixtures = {a: rng.dirichlet(np.ones(m)) for a in ids}
        got = values(mixtures)
        if call == 0:  # every profile new: one clear each, but those an aggregator's unsold lower price settles
            assert 0 < values.clears < len(values.hours) * (1 + len(ids) * (m - 1))
        probe = br.MixedUpPrices(load_trained_policy(tmp_path / "run")[0], ids, seed=4)
        probe.levels = values.levels
        probe.p = dict(mixtures)
        for agg in ids:
            probe.p[agg] = None  # its option 0: its learned bids
            df = br.constant_prices("one-arb", probe, weeks, [agg], br.TINY, seed=4, max_hours=hours)
            probe.p[agg] = mixtures[agg]
            want = np.concatenate([[df.learned_eur.sum()], df[list(br.constant_up_prices(df))].sum().to_numpy()]) / len(weeks)
            assert got[agg] == pytest.approx(want, rel=1e-9, abs=1e-6), agg
        assert max(np.ptp(v) for v in got.values()) > 10.0  # the options earn differently
        # the hours split in two (as `bucketed_regret_matching` splits them) pay the same, the quiet hours aside
        low = values.public_feature() < np.median(values.public_feature())
        parts = [br.HourSubset(values, np.flatnonzero(half))(mixtures) for half in (low, ~low)]
        for k, agg in enumerate(ids):
            assert parts[0][agg] + parts[1][agg] + values.quiet_eur[k] / len(weeks) == pytest.approx(got[agg], rel=1e-9, abs=1e-6)
    assert len(values.hour_keys) == len(values.hours) and {w for w, _ in values.hour_keys} <= set(weeks)


def test_constant_bids_along_training_are_what_the_plain_check_finds_at_each_snapshot(tmp_path):
    """`constant_bids_along_training` values every policy snapshot a run kept: at the last one, each aggregator's
    learned earnings and best constant up price are what the plain loop (`constant_prices`, another path through
    the model) finds for the run's final policy; a run without snapshots is refused with how to make them."""
    from agents.learning.hyperparams import HyperParams
    from runs.training import load_trained_policy, train

    hp = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 2, "episodes": 2})
    train("one-arb", seed=0, out=tmp_path / "run", eval_every=2, hp=hp, progress=False, snapshot_every=1)
    weeks, hours = ["test:1", "test:5"], 30
    df = br.constant_bids_along_training("one-arb", tmp_path / "run", weeks, br.TINY, seed=4, max_hours=hours)
    assert sorted(set(df.episode)) == [0, 1, 2] and (df.groupby("episode").size() == 10).all()
    assert (df.gain_eur_per_week >= 0).all() and df.gain_eur_per_week.max() > 10.0  # constant bids pay somewhere
    plain = br.constant_prices("one-arb", load_trained_policy(tmp_path / "run")[0], weeks, None, br.TINY, seed=4,
                               max_hours=hours)
    const = list(br.constant_up_prices(plain))
    want = plain.groupby("aggregator")[["learned_eur", *const]].sum() / len(weeks)  # € per week
    last = df[df.episode == 2].set_index("aggregator").loc[want.index]
    np.testing.assert_allclose(last.learned_eur_per_week, want.learned_eur, rtol=1e-9, atol=1e-6)
    best = np.maximum(want[const].max(axis=1), want.learned_eur)
    np.testing.assert_allclose(last.best_constant_eur_per_week, best, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(last.gain_eur_per_week, best - want.learned_eur, rtol=1e-9, atol=1e-6)
    priced = last.gain_eur_per_week > 0  # the price named is the constant bid that earns most
    chosen = want[const].idxmax(axis=1).map(br.constant_up_prices(plain))
    np.testing.assert_allclose(last.best_constant_up_eur_mwh[priced], chosen[priced])
    assert last.best_constant_up_eur_mwh[~priced].isna().all()
    with pytest.raises(FileNotFoundError, match="--snapshot-every"):
        br.constant_bids_along_training("one-arb", tmp_path / "nothing", weeks, br.TINY)


def test_a_run_hands_on_its_snapshot_nearest_an_equilibrium_of_constant_bids_and_keeps_the_last(tmp_path):
    """`choose_snapshot` values the snapshots after episode 0 as `constant_bids_along_training` does and chooses the
    one whose summed constant-bid gain, as a share of all aggregators' earnings (computed here by hand), is smallest;
    `hand_on_chosen` makes it the run's policy.pt and keeps the final one as policy_last.pt. A rerun (a study
    resumed after a kill, even one that left policy.pt half swapped) hands on the same and keeps the final one; a
    corrupt snapshot is refused before any file moves."""
    import torch

    from agents.learning.checkpoint import CheckpointError
    from agents.learning.hyperparams import HyperParams
    from runs.training import load_trained_policy, train

    run = tmp_path / "run"
    hp = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 2, "episodes": 3})
    train("one-arb", seed=0, out=run, eval_every=3, hp=hp, progress=False, snapshot_every=1)
    weeks, hours = ["test:1"], 30
    chosen = br.choose_snapshot("one-arb", run, weeks, br.TINY, seed=4, max_hours=hours)
    every = br.constant_bids_along_training("one-arb", run, weeks, br.TINY, seed=4, max_hours=hours)
    assert sorted(set(chosen.episode)) == [1, 2, 3]  # the untrained policy is no candidate
    cols = list(every.columns)
    pd.testing.assert_frame_equal(chosen[cols].reset_index(drop=True), every[every.episode > 0].reset_index(drop=True))
    by_hand = {e: d.gain_eur_per_week.sum() / max(abs(d.learned_eur_per_week.sum()), 1.0)
               for e, d in chosen.groupby("episode")}
    np.testing.assert_allclose(chosen.distance, chosen.episode.map(by_hand), rtol=1e-12)
    assert len(set(by_hand.values())) == 3  # the snapshots differ, so the choice means something
    episode = min(by_hand, key=by_hand.get)
    assert set(chosen.episode[chosen.chosen]) == {episode} and (chosen.weeks == "test:1").all()

    final = torch.load(run / "policy.pt", weights_only=True)
    snap = torch.load(run / "snapshots" / f"ep{episode:06d}" / "policy.pt", weights_only=True)

    def check():
        got = torch.load(run / "policy.pt", weights_only=True)
        assert all(torch.equal(a, b) for a, b in zip(_leaves(got), _leaves(snap), strict=True))
        last = torch.load(run / "policy_last.pt", weights_only=True)
        assert all(torch.equal(a, b) for a, b in zip(_leaves(last), _leaves(final), strict=True))
        meta = load_trained_policy(run)[1]
        assert meta["selected_episode"] == episode and meta["selected_on"] == "test:1" and meta["episode"] == 3
        assert meta["selected_distance"] == pytest.approx(by_hand[episode])
        assert load_trained_policy(run, last=True)[1]["episode"] == 3 and "selected_episode" not in \
            load_trained_policy(run, last=True)[1]

    assert episode != 3  # the last is not the nearest here: handing on changes the policy
    br.hand_on_chosen(run, chosen)
    check()
    br.hand_on_chosen(run, chosen)  # a rerun keeps the final policy as the last, not the chosen one
    check()
    (run / "policy.pt").write_bytes(b"half swapped")  # killed while replacing policy.pt: its JSON no longer matches
    with pytest.raises(CheckpointError):
        load_trained_policy(run)
    br.hand_on_chosen(run, chosen)
    check()
    bad = run / "snapshots" / "ep000002" / "policy.pt"
    bad.write_bytes(b"corrupt")
    before = (run / "policy.pt").read_bytes(), (run / "policy.json").read_text()
    with pytest.raises(CheckpointError):
        br.hand_on_chosen(run, chosen.assign(chosen=chosen.episode == 2))
    assert ((run / "policy.pt").read_bytes(), (run / "policy.json").read_text()) == before


def _leaves(tree):
    """The tensors of a nested state dict, in key order."""
    if isinstance(tree, dict):
        return [t for k in sorted(tree) for t in _leaves(tree[k])]
    return [tree]


def test_the_studys_mixture_scores_replay_the_learned_and_a_constant_profile(tmp_path):
    """`mixture_scores` (the study playing the mixtures fictitious play kept) with every aggregator on its
    learned bids scores what `evaluate_policy` gives the learned policy; with aggregator 6 on one constant up
    price, what `ConstantUpPrices` (an independent player of constant bids) gives."""
    from agents.learning.hyperparams import HyperParams
    from runs.studies.arbitrage import PROFILES, mixture_scores
    from runs.training import evaluate_policy, load_trained_policy, train

    hp = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 2, "episodes": 2})
    train("one-arb", seed=0, out=tmp_path / "run", eval_every=2, hp=hp, progress=False)
    profile = PROFILES["tiny"]
    levels = np.array(br.COARSE.price_frac) * 1000.0
    ids = list(range(2, 12))

    def mixtures(choice):
        return pd.DataFrame([{"aggregator": a, "option": j, "up_eur_mwh": levels[j - 1] if j else np.nan,
                              "probability": float(j == choice.get(a, 0))} for a in ids for j in range(len(levels) + 1)])

    got, _ = mixture_scores(tmp_path / "run", mixtures({}), "one-arb", profile, seed=0)
    want, _ = evaluate_policy("one-arb", load_trained_policy(tmp_path / "run")[0], seed=0, weeks=list(profile.eval_weeks),
                              keep_hours=False)
    pd.testing.assert_frame_equal(got, want)
    got, _ = mixture_scores(tmp_path / "run", mixtures({6: 5}), "one-arb", profile, seed=0)  # level 5: 350 €/MWh
    probe = br.ConstantUpPrices(load_trained_policy(tmp_path / "run")[0], ids)
    probe.up_eur_mwh = {6: float(levels[4])}
    want, _ = evaluate_policy("one-arb", probe, seed=0, weeks=list(profile.eval_weeks), keep_hours=False)
    pd.testing.assert_frame_equal(got, want)
    assert not np.allclose(got.total_eur, evaluate_policy("one-arb", load_trained_policy(tmp_path / "run")[0], seed=0,
                                                         weeks=list(profile.eval_weeks), keep_hours=False)[0].total_eur)


def test_critic_ranking_asks_each_aggregators_own_critic_what_the_learner_stores(tmp_path):
    """`critic_up_values` at an aggregator's own played up price equals its critic on the transition the
    learner itself stores for that hour (`Team.remember` -> the replay buffer: an independent path to the
    critic's inputs); `critic_ranking` pairs each active hour's critic pick with the re-cleared market's
    value of that price (`constant_prices`)."""
    import torch

    from agents.learning.hyperparams import HyperParams
    from model.designs.arbitrage import bought_flexibility
    from runs.training import load_trained_policy, make_model, train

    hp = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 2, "episodes": 2})
    train("one-arb", seed=0, out=tmp_path / "run", eval_every=2, hp=hp, progress=False)
    learned, _ = load_trained_policy(tmp_path / "run")
    model = make_model("one-arb", learned, seed=0)
    from model import dataset
    model.design.cold_start()
    model.reset_week(dataset.resolve_week("test:1")[0])
    g = learned.slots[1].group
    checked = 0
    while checked < 3:
        h = model.clear_hour()
        if bought_flexibility(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum()):
            learned.remember(h, last=False)
            i = (g.buffer.ptr - 1) % g.buffer.capacity
            x, a = torch.from_numpy(g.buffer.obs[i]), torch.from_numpy(g.buffer.act[i])
            with torch.no_grad():
                stored = g.critic(torch.cat([x, a])[None, None].expand(g.n, 1, -1).contiguous())[:, 0, 0].numpy()
            played_up = g.buffer.act[i].reshape(g.n, -1)[:, 0]
            q = np.stack([br.critic_up_values(learned, h, np.array([u]))[n] for n, u in enumerate(played_up)])[:, 0]
            np.testing.assert_allclose(q, stored / learned.hp.reward_scale, rtol=1e-5, atol=1e-6)
            checked += 1
        model.step()
    cp = br.constant_prices("one-arb", learned, ["test:1"], [5, 8], br.TINY, seed=0, max_hours=60)
    cr = br.critic_ranking("one-arb", learned, cp, seed=0)
    assert set(cr.aggregator) == {5, 8} and cr.levels_matter.any()
    values = cp.merge(cr, on=["week", "hour_of_week", "aggregator"])[list(br.constant_up_prices(cp))].to_numpy()
    assert np.isin(cr.critic_pick_eur.to_numpy()[:, None], values).any(1).all()  # the true value of one of the prices
    np.testing.assert_allclose(cr.true_best_eur, values.max(1))
    assert (cr.critic_picks_best == (cr.critic_pick_eur >= cr.true_best_eur - 1e-6)).all()


def test_the_fitted_responder_learns_which_price_pays_from_what_the_aggregator_observes():
    """Three constant up prices whose values depend on an observed input (low x: 10 pays most; middle: 100;
    high: 500), plus a distracting input. Fitted on 600 hours, it picks the best price in almost every one
    of 300 other hours, and its € are the true values of its picks."""
    rng = np.random.default_rng(0)
    n = 900
    x = rng.random((n, 2))
    values = np.stack([30 - 40 * x[:, 0], 20 - 10 * np.abs(x[:, 0] - 0.5), 40 * x[:, 0] - 10], 1)  # € per hour
    weeks = np.where(np.arange(n) < 600, "train:1", "test:1")
    key = {"week": weeks, "hour_of_week": np.arange(n) % 600, "aggregator": 5}
    constant = pd.DataFrame(key | {"learned_eur": values[:, 1]} |
                            {f"{br.UP_AT_PREFIX}{p}{br.UP_AT_SUFFIX}": values[:, j] for j, p in enumerate((10, 100, 500))})
    inputs = pd.DataFrame(key | {"x0": x[:, 0], "x1": x[:, 1]})
    r = br.fitted_up_price_responder(constant, inputs, ["train:1"], hidden=(16,), steps=3000)
    assert len(r) == 300 and set(r.week) == {"test:1"}
    test = values[600:]
    picked = r.responder_eur.to_numpy()
    assert np.mean(picked >= test.max(1) - 1e-9) > 0.95
    np.testing.assert_array_equal(picked, test[np.arange(300), np.searchsorted([10, 100, 500], r.responder_up_eur_mwh)])
    assert picked.sum() > r.learned_eur.sum() + 1000  # the middle price alone (the "learned" policy) earns much less
