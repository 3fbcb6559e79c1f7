"""Fictitious play over fitted best responders (`runs.studies.arbitrage_fitted_play`): the round draws are
uniform and stable, a game whose only equilibrium is mixed is approached, a best response that depends
on the observation is found, and the played policy is the one the play valued (on the real market,
through the independent `OptionValues` check), saved without pickles."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from runs.studies import arbitrage_best_response as br
from runs.studies import arbitrage_fitted_play as fp


def test_round_draws_are_uniform_and_a_new_round_moves_few_draws():
    v = np.random.default_rng(0).random((40_000, 12))
    for population in (1, 2, 5, 12):
        r = fp.drawn_rounds(v, population)
        assert r.min() == 0 and r.max() == population - 1
        np.testing.assert_allclose(np.bincount(r, minlength=population) / len(r), 1 / population, atol=0.01)
    moved = (fp.drawn_rounds(v, 10) != fp.drawn_rounds(v, 11)).mean()
    assert moved == pytest.approx(1 / 11, abs=0.01)
    assert (fp.drawn_rounds(v, 11)[fp.drawn_rounds(v, 10) != fp.drawn_rounds(v, 11)] == 10).all()  # only to the new round
    r = fp.drawn_rounds(v, 8, linear=True)  # round s with weight s + 1
    np.testing.assert_allclose(np.bincount(r, minlength=8) / len(r), np.arange(1, 9) / 36, atol=0.01)
    moved = fp.drawn_rounds(v, 8, linear=True) != fp.drawn_rounds(v, 9, linear=True)
    assert moved.mean() == pytest.approx(9 / 45, abs=0.01) and (fp.drawn_rounds(v, 9, linear=True)[moved] == 8).all()


class TableGame:
    """`OptionValues`' interface for a hand-made game of N players and hours: each hour's observation is
    one number per player; `payoff(obs_i, drawn_i, k, j)` is player k's € for option j (1..L) when the
    others play `drawn_i`. One week."""

    def __init__(self, observations: np.ndarray, levels: np.ndarray, payoff):
        self.observations = list(observations)  # (H, N, 1)
        self.ids = list(range(observations.shape[1]))
        self.levels, self.payoff = levels, payoff
        self.quiet_eur, self.n_weeks = np.zeros(len(self.ids)), 1

    def hour_values(self, drawn):
        n, m = len(self.ids), len(self.levels) + 1
        out = np.zeros((len(self.observations), n, m))
        for i, o in enumerate(self.observations):
            for k in range(n):
                for j in range(m):
                    d = drawn[i].copy()
                    d[k] = j
                    out[i, k, j] = self.payoff(o, d, k, j)
        return out


def _identity_learner():
    features = SimpleNamespace(actor_inputs=lambda obs: np.asarray(obs, dtype=np.float32))
    return SimpleNamespace(slots=[SimpleNamespace(role=SimpleNamespace(role="secondary", stage="lfm"),
                                                  group=SimpleNamespace(features=features))])


def test_a_best_response_that_depends_on_the_observation_is_found():
    """One player alone: option 2 pays 1 where its observation is above 0.5, option 1 elsewhere. The
    first fitted responder picks the best option in (nearly) every hour, and as rounds are added the
    population's draws earn almost the best per hour (its learned option 0 pays nothing)."""
    obs = np.random.default_rng(1).random((400, 1, 1))
    game = TableGame(obs, np.array([10.0, 20.0]), lambda o, d, k, j: float(j == (2 if o[k, 0] > 0.5 else 1)))
    history, snapshots = fp.fitted_play(game, _identity_learner(), 20, hidden=(16,), first_steps=1500, steps=100)
    first = history[history.iteration == 1].iloc[0]
    assert first.responder_eur_per_week >= 0.98 * 400
    last = history[history.iteration == 20].iloc[0]
    assert last.mixture_eur_per_week >= 0.9 * 400  # round 0 (the learned option 0, worth 0) is 1/21 of the draws
    above = int((obs[:, 0, 0] > 0.5).sum())
    assert last.best_constant_eur_per_week == max(above, 400 - above)  # a constant is right in one half only
    assert last.best_constant_eur_per_week < 0.6 * last.mixture_eur_per_week


def test_a_responder_worse_than_a_constant_price_is_replaced_by_it():
    """An unfitted network (no training steps) picks prices at random; the play keeps the best constant
    price instead, as the round's responder, and the played policy bids it in every hour."""
    obs = np.random.default_rng(3).random((200, 1, 1))
    game = TableGame(obs, np.array([10.0, 20.0, 30.0]), lambda o, d, k, j: (0.2, 1.0, 0.5)[j - 1] if j else 0.0)
    history, snapshots = fp.fitted_play(game, _identity_learner(), 1, hidden=(4,), first_steps=0)
    assert history[history.iteration == 0].responder_eur_per_week.iloc[0] == pytest.approx(200.0)
    assert (fp._mlp(snapshots[0], obs.transpose(1, 0, 2)).argmax(2) == 1).all()  # option 2, 20 €/MWh
    raw, _ = fp.fitted_play(game, _identity_learner(), 1, hidden=(4,), first_steps=0, constant_fallback=False)
    assert raw[raw.iteration == 0].responder_eur_per_week.iloc[0] < 190.0


def test_matching_pennies_is_approached_by_the_population_mixture():
    """Matching pennies in every hour (player 0 wins 1 when the options match, player 1 when they differ;
    the observation carries nothing): the only equilibrium mixes 50/50, and best responses cycle.
    Fictitious play's populations approach it: after 60 rounds a best constant gains under 0.15 per hour
    against them, and the options played are within 0.12 of 50/50. (Option 0, the learned starting point outside the game, pays nobody anything.)"""
    obs = np.random.default_rng(2).random((300, 2, 1))

    def payoff(o, d, k, j):
        if 0 in d:
            return 0.0
        match = d[0] == d[1]
        return float(match) if k == 0 else float(not match)

    game = TableGame(obs, np.array([1.0, 2.0]), payoff)
    history, snapshots = fp.fitted_play(game, _identity_learner(), 60, hidden=(8,), first_steps=300, steps=50)
    last = history[history.iteration == 60]
    assert (last.constant_gain_share * last.mixture_eur_per_week.abs().clip(lower=1.0) / 300).max() < 0.15
    x = obs.astype(np.float64).transpose(1, 0, 2)
    picks = np.stack([fp._mlp(s, x).argmax(2) + 1 for s in snapshots])  # (round, N, H)
    drawn = fp.drawn_rounds(np.stack([[fp.round_uniforms(0, k, obs[i, k], 61) for k in range(2)] for i in range(300)]), 61)
    played = picks[np.maximum(drawn - 1, 0), np.arange(2)[None, :], np.arange(300)[:, None]][drawn > 0]
    assert (played == 1).mean() == pytest.approx(0.5, abs=0.12)


def test_the_played_policy_is_the_one_the_play_valued_and_it_saves_without_pickles(briefly_trained, tmp_path):
    """On the real market: the `FittedPlayPolicy` the play ends with, played through an independent
    `OptionValues` on the same hours, earns every aggregator exactly what the play's kept iteration says
    its population earns, and each constant bid what it says that bid earns (the draws and picks of the
    learning loop and of the played policy agree). Saved and loaded, it acts the same; a corrupt file is
    refused with its name."""
    from runs.training import load_trained_policy

    weeks, hours = ["test:1"], 40
    learned = load_trained_policy(briefly_trained)[0]
    history, policy = fp.run_fitted_play("one-arb", learned, weeks, 3, grid=br.TINY, seed=3, max_hours=hours,
                                         first_steps=200, steps=50, keep="chosen")
    kept = history[history.chosen].set_index("aggregator")  # the iteration whose populations the policy plays
    assert len(policy.snapshots) == 3 and policy.population == kept.iteration.iloc[0] + 1 >= 2
    largest = history[history.iteration > 0].groupby("iteration").constant_gain_share.max()
    assert largest[kept.iteration.iloc[0]] == largest.min()
    replay = br.OptionValues("one-arb", policy, weeks, br.TINY, seed=3, max_hours=hours)
    assert len(replay.hours) >= 10
    got = replay({a: None for a in replay.ids})
    for a in replay.ids:
        assert got[a][0] == pytest.approx(kept.mixture_eur_per_week[a], rel=1e-9, abs=1e-6), a
        assert got[a][1:].max() == pytest.approx(kept.best_constant_eur_per_week[a], rel=1e-9, abs=1e-6), a
    # the population plays the fitted rounds somewhere (not only the learned bids)
    obs = np.stack(replay.observations)
    rounds = np.stack([policy.rounds_of(o, np.arange(len(replay.ids))) for o in obs])
    assert (rounds > 0).mean() > 0.5
    path = tmp_path / "fitted_play.npz"
    meta = load_trained_policy(briefly_trained)[1]
    policy.save(path, base_sha256=meta["tensor_sha256"])
    again = fp.FittedPlayPolicy.load(path, load_trained_policy(briefly_trained)[0], replay.ids)
    rows = np.arange(len(replay.ids))
    for o in obs[:5]:
        np.testing.assert_array_equal(again.act("lfm", o, rows), policy.act("lfm", o, rows))
    with pytest.raises(ValueError, match="another learned policy"):  # made from a different run
        fp.FittedPlayPolicy.load(path, learned, replay.ids, base_sha256="0" * 64)
    # `localmarl evaluate --fitted-play` plays the saved policy, not the learned one, and records the file
    import json

    from runs.cli import main
    from runs.training import evaluate_policy

    assert main(["evaluate", "--run", str(briefly_trained), "--weeks", "test:1", "--out", str(tmp_path / "ev"),
                 "--fitted-play", str(path)]) == 0
    got = pd.read_csv(tmp_path / "ev" / "scores.csv")
    want = evaluate_policy("one-arb", policy, seed=meta["seed"], weeks=["test:1"])[0]
    np.testing.assert_allclose(got.total_eur, want.total_eur, rtol=1e-5, atol=1e-3)  # the CSV keeps 6 digits
    plain = evaluate_policy("one-arb", load_trained_policy(briefly_trained)[0], seed=meta["seed"], weeks=["test:1"])[0]
    assert not np.allclose(got.total_eur, plain.total_eur, rtol=1e-5, atol=1e-3)
    recorded = json.loads((tmp_path / "ev" / "config.json").read_text())["fitted_play"]
    assert recorded["file"] == str(path) and recorded["population"] == policy.population
    path.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="fitted_play.npz"):
        fp.FittedPlayPolicy.load(path, learned, replay.ids)
    assert main(["evaluate", "--run", str(briefly_trained), "--weeks", "test:1", "--out", str(tmp_path / "ev2"),
                 "--fitted-play", str(path)]) == 2
    assert not (tmp_path / "ev2").exists()


def test_busy_weeks_are_the_training_weeks_where_truthful_bidding_leaves_the_dso_buying_most():
    from model import dataset
    from model.designs.arbitrage import bought_flexibility
    from model.model import MarketModel

    labels, table = fp.busy_weeks("one-arb", 3)
    assert len(table) == len(dataset.resolve_week("train"))
    counts = table.set_index("week").hours_bought
    assert list(counts[labels]) == sorted(counts[labels], reverse=True)
    assert counts[labels].min() >= counts.drop(labels).max()  # no other week is busier
    for label in (labels[0], table.week.iloc[-1]):  # the count through the recorded market table, as `simulate` prints it
        model = MarketModel(scenario="one-arb", week=label, policy="truthful", seed=0)
        while model.running:
            model.step()
        assert counts[label] == int(bought_flexibility(model.record.frame("market")["flex_mw"].to_numpy()).sum())
    assert fp.resolve_fit_weeks("one-arb", "busy:3") == labels
    # and three more, one from each third of the other 36 training weeks (calendar order): the 7th, 19th and 31st
    rest = [f"train:{k}" for k in range(1, 40) if f"train:{k}" not in labels]
    assert fp.resolve_fit_weeks("one-arb", "busy:3+spread:3") == labels + [rest[6], rest[18], rest[30]]
    for bad, match in (("busy:3+spread:x", "busy:K\\+spread:M"), ("busy:3+quiet:2", "busy:K\\+spread:M"),
                       ("busy:3+spread:37", "0..36")):
        with pytest.raises(ValueError, match=match):
            fp.resolve_fit_weeks("one-arb", bad)
    assert fp.resolve_fit_weeks("one-arb", "train:2, train:7") == ["train:2", "train:7"]
    with pytest.raises(ValueError, match="busy:K"):
        fp.resolve_fit_weeks("one-arb", "busy:x")
    for spec in ("busy:3", "busy:3+spread:3", "busy:3+spread:0", "train:2, train:7"):  # the cost estimate's count
        assert fp.fit_week_count(spec) == len(fp.resolve_fit_weeks("one-arb", spec))
    assert fp.describe_fit_weeks("busy:7+spread:3") == "the 7 busiest training weeks and 3 others spread through the year"
    assert fp.describe_fit_weeks("busy:7") == "the 7 busiest training weeks"
    assert fp.describe_fit_weeks("train:2, train:7") == "the weeks train:2, train:7"
    with pytest.raises(ValueError, match="k=0"):
        fp.busy_weeks("one-arb", 0)


def test_a_profile_no_step_can_run_is_refused_when_it_is_made():
    import dataclasses

    from runs.studies.arbitrage import PROFILES

    quick = PROFILES["quick"]
    for change, named in ((dict(two_stage_play_window=0), "two_stage_play_window must be at least 1"),
                          (dict(two_stage_play_rounds="cubic"), "two_stage_play_rounds must be 'linear' or 'uniform'"),
                          (dict(fp_iterations=-1), "fp_iterations must be 0 or more"),
                          (dict(play_seeds=-1), "play_seeds must be 0 or more"),
                          (dict(rm_bucket_quantiles=(0.25, 0.5)), "rm_bucket_quantiles must be rm_buckets - 1 = 3"),
                          (dict(rm_bucket_quantiles=(0.5, 0.25, 0.75)), "rm_bucket_quantiles must be"),
                          (dict(fitted_play_fit_steps=(300, 0)), "fitted_play_fit_steps must be positive"),
                          (dict(br_grid="medium"), "br_grid must be"),
                          (dict(rm_fit_weeks=("train:2", "train")), "rm_fit_weeks: 'train' is 39 weeks"),
                          (dict(rm_fit_weeks=("test:5",)), "rm_fit_weeks: 'test:5' is one of the check weeks"),
                          (dict(rm_fit_weeks=("train:40",)), "rm_fit_weeks: week spec 'train:40'")):
        with pytest.raises(ValueError, match=f"arbitrage profile 'quick': {named}"):
            dataclasses.replace(quick, **change)
    assert dataclasses.replace(quick, rm_bucket_quantiles=(0.125, 0.25, 0.5)).rm_bucket_quantiles == (0.125, 0.25, 0.5)
    ok = dataclasses.replace(quick, two_stage_play_rounds="uniform", two_stage_play_window=1)
    assert (ok.two_stage_play_rounds, ok.two_stage_play_window) == ("uniform", 1)
