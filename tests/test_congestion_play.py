"""The play by congestion as a policy (`CongestionPlayPolicy`): checked on hand-made observations (the bucket follows
the public feature, the iteration is one public draw shared by every aggregator, the weights are the iteration
frequencies), on its file (round trip, refusals), and on the arbitrage model against independent players: the
learned hours of `evaluate_policy` with `constant_up_bid` applied where the play says, and `ConstantUpPrices`."""

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from model.designs.arbitrage import LFM_COLUMNS
from runs.studies import arbitrage_best_response as br
from runs.studies.arbitrage_congestion_play import CongestionPlayPolicy
from runs.studies.arbitrage_two_stage import load_play

FEEDER = LFM_COLUMNS.index("feeder_sched_mw")
LEVELS = np.array([100.0, 1000.0])


def fake_base():
    """A learned policy stand-in: every aggregator bids (700, 40) €/MWh in the LFM; one secondary (LFM) slot."""
    slot = SimpleNamespace(role=SimpleNamespace(role="secondary", stage="lfm"))
    return SimpleNamespace(explore=True, slots=[slot],
                           act=lambda stage, obs, rows: np.tile([[700.0, 40.0]], (len(rows), 1)))


def hours(n: int, feeder_mw, seed: int = 0) -> list[np.ndarray]:
    """n hours of a two-aggregator LFM observation with random own and shared columns and the given feeder injection."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        obs = rng.uniform(0.0, 1.0, (2, len(LFM_COLUMNS)))
        obs[1, [0, 4, 5]] = obs[0, [0, 4, 5]]  # hour of week and imbalance prices: shared
        obs[:, FEEDER] = feeder_mw[k] if np.ndim(feeder_mw) else feeder_mw
        out.append(obs)
    return out


def pure(option_per_iteration: list[list[int]], m: int = 3) -> np.ndarray:
    """(T, N, m) mixtures: iteration t, aggregator k plays option_per_iteration[t][k] for sure."""
    return np.array([[np.eye(m)[j] for j in per] for per in option_per_iteration])


def test_the_bucket_follows_the_public_feature_and_the_iteration_is_one_draw_for_everyone():
    # bucket 0 (feeder <= 2 MW): iterations 0 / 1 equally likely, everyone 100 / everyone 1000; bucket 1: learned bids
    probabilities = np.stack([pure([[1, 1], [2, 2]]), pure([[0, 0], [0, 0]])])
    policy = CongestionPlayPolicy(fake_base(), [5, 6], LEVELS, [2.0], probabilities, np.full((2, 2), 0.5), seed=3)
    rows = np.array([0, 1])
    low = [policy.act("lfm", obs, rows) for obs in hours(2000, 1.0)]
    ups = np.array([a[:, 0] + br.tie_break_eur_mwh(rows) for a in low])
    assert set(np.round(ups.ravel(), 6)) == {100.0, 1000.0}
    assert np.array_equal(ups[:, 0], ups[:, 1])  # correlated: both play the same iteration in every hour
    assert 0.45 < np.mean(ups[:, 0] == 100.0) < 0.55  # the iteration's weight
    assert np.allclose([a[:, 1] + br.tie_break_eur_mwh(rows) for a in low], 40.0)  # the learned down price kept
    high = [policy.act("lfm", obs, rows) for obs in hours(50, 2.5)]
    assert all(np.array_equal(a, np.tile([[700.0, 40.0]], (2, 1))) for a in high)  # bucket 1: learned bids
    # a play without the correlation (each draws its own iteration) would disagree in about half the hours:
    # independent mixtures of 50 % / 50 % as `MixedUpPrices` draws them do
    mixed = br.MixedUpPrices(fake_base(), [5, 6], seed=3)
    mixed.levels, mixed.p = LEVELS, {5: np.array([0.0, 0.5, 0.5]), 6: np.array([0.0, 0.5, 0.5])}
    independent = np.array([mixed.act("lfm", obs, rows)[:, 0] + br.tie_break_eur_mwh(rows) for obs in hours(2000, 1.0)])
    assert 0.4 < np.mean(independent[:, 0] != independent[:, 1]) < 0.6


def test_weights_pick_iterations_and_own_mixtures_pick_options():
    # one bucket, three iterations weighted 0 / 0.25 / 0.75; aggregator 5 mixes 50 / 50 in iteration 2
    p = pure([[1, 1], [2, 2], [0, 0]])
    p[2, 0] = [0.0, 0.5, 0.5]
    policy = CongestionPlayPolicy(fake_base(), [5, 6], LEVELS, [], p[None], np.array([[0.0, 0.25, 0.75]]), seed=1)
    acts = np.array([policy.act("lfm", obs, np.array([0, 1]))[:, 0] for obs in hours(4000, 0.0, seed=2)])
    six = np.round(acts[:, 1], 2)  # the learned 700, or a level lowered by its tie-break offset (1e-4 per place)
    assert not np.any(six == 100.0)  # iteration 0 has weight 0
    assert 0.70 < np.mean(six == 700.0) < 0.80 and 0.20 < np.mean(six == 1000.0) < 0.30
    five = np.round(acts[six == 700.0, 0], 2)  # iteration 2: aggregator 5's own 50 / 50
    assert set(five) == {100.0, 1000.0} and 0.45 < np.mean(five == 100.0) < 0.55
    obs = hours(1, 0.0, seed=7)[0]
    assert np.array_equal(policy.act("lfm", obs, np.array([0, 1])), policy.act("lfm", obs.copy(), np.array([0, 1])))
    assert np.array_equal(policy.act("lem", obs, np.array([0, 1])), fake_base().act("lem", obs, [0, 1]))


def test_the_file_round_trips_and_refuses_what_it_cannot_play(tmp_path):
    probabilities = np.stack([pure([[1, 0], [2, 1]]), pure([[0, 2], [0, 0]])])
    policy = CongestionPlayPolicy(fake_base(), [5, 6], LEVELS, [2.0], probabilities, np.array([[0.3, 0.7], [1.0, 0.0]]), seed=4)
    policy.save(tmp_path / "play.npz", base_sha256="abc")
    back = load_play(tmp_path / "play.npz", fake_base(), [5, 6], base_sha256="abc")
    assert isinstance(back, CongestionPlayPolicy)
    for obs in hours(200, np.linspace(0.0, 4.0, 200)):
        assert np.array_equal(back.act("lfm", obs, np.array([0, 1])), policy.act("lfm", obs, np.array([0, 1])))
    with pytest.raises(ValueError, match="made from another learned policy"):
        load_play(tmp_path / "play.npz", fake_base(), [5, 6], base_sha256="def")
    with pytest.raises(ValueError, match="for 2 aggregators, the run 3"):
        load_play(tmp_path / "play.npz", fake_base(), [5, 6, 7])
    (tmp_path / "bad.npz").write_bytes((tmp_path / "play.npz").read_bytes()[:200])
    with pytest.raises(ValueError, match="bad.npz"):
        load_play(tmp_path / "bad.npz", fake_base(), [5, 6])
    nan = probabilities.copy()
    nan[0, 0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="sum to 1"):
        CongestionPlayPolicy(fake_base(), [5, 6], LEVELS, [2.0], nan, np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="2 buckets need 1 increasing edges"):
        CongestionPlayPolicy(fake_base(), [5, 6], LEVELS, [], probabilities, np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="'p_sched_mw' is not one"):
        CongestionPlayPolicy(fake_base(), [5, 6], LEVELS, [2.0], probabilities, np.full((2, 2), 0.5), feature="p_sched_mw")


def test_on_the_model_the_play_bids_a_constant_in_its_bucket_and_the_learned_bids_elsewhere(tmp_path):
    """The study's step (`play_by_congestion`) from its files: in the hours whose feeder injection (the sum of every
    aggregator's scheduled MW, read off the learned evaluation's hours) is at most the edge, aggregator 6 bids
    350 €/MWh; elsewhere, and for everyone else, the learned bids; the LEM is the learned one throughout. With that
    constant in every bucket, the scores are `ConstantUpPrices`' to the cent."""
    from agents.learning.hyperparams import HyperParams
    from runs.studies.arbitrage import PROFILES, play_by_congestion
    from runs.training import evaluate_policy, load_trained_policy, train

    hp = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 2, "episodes": 2})
    train("one-arb", seed=0, out=tmp_path / "run", eval_every=2, hp=hp, progress=False)
    profile = replace(PROFILES["tiny"], eval_weeks=("test:1",))
    ids, levels = list(range(2, 12)), np.array(br.COARSE.price_frac) * 1000.0
    _, learned = evaluate_policy("one-arb", load_trained_policy(tmp_path / "run")[0], seed=0, weeks=["test:1"])
    feeder = learned.groupby("hour_of_week").p_sched_mw.transform("sum")
    edge = float(np.median(feeder))

    def write_play(choice_per_bucket: list[dict]) -> pd.DataFrame:
        rows = [{"bucket": b, "iteration": t, "aggregator": a, "option": j, "up_eur_mwh": levels[j - 1] if j else np.nan,
                 "probability": float(j == choice.get(a, 0)), "weight": 0.5}
                for b, choice in enumerate(choice_per_bucket) for t in range(2) for a in ids for j in range(len(levels) + 1)]
        pd.DataFrame(rows).to_csv(tmp_path / "rm" / "one-arb-seed0-buckets-mixtures.csv", index=False)
        pd.DataFrame({"bucket": [0, 1], "low_mw": [-np.inf, edge], "high_mw": [edge, np.inf], "fit_hours": [1, 1]}).to_csv(
            tmp_path / "rm" / "one-arb-seed0-buckets-edges.csv", index=False)
        play_by_congestion(tmp_path / "run", tmp_path / "rm" / "one-arb-seed0-buckets.csv", "one-arb", profile, seed=0)
        return pd.read_csv(tmp_path / "rm" / "one-arb-seed0-buckets-play-hours.csv")

    (tmp_path / "rm").mkdir()
    got = write_play([{6: 5}, {}])  # option 5: 350 €/MWh
    pd.testing.assert_frame_equal(got[["withhold", "p_sched_mw"]], learned[["withhold", "p_sched_mw"]])
    six, low = (learned.aggregator == 6).to_numpy(), (feeder <= edge).to_numpy()
    assert (six & low).any() and (six & ~low).any()
    want = learned[["up_bid_eur_mwh", "dn_bid_eur_mwh"]].to_numpy().copy()
    want[six & low] = br.constant_up_bid(levels[4], want[six & low], ids.index(6))
    assert np.allclose(got[["up_bid_eur_mwh", "dn_bid_eur_mwh"]].to_numpy(), want, rtol=1e-5, atol=1e-3)  # 6 digits
    # the saved policy, played by `localmarl evaluate --fitted-play`, bids the same
    from runs.cli import main

    assert main(["evaluate", "--run", str(tmp_path / "run"), "--weeks", "test:1", "--out", str(tmp_path / "ev"),
                 "--fitted-play", str(tmp_path / "rm" / "one-arb-seed0-buckets-policy.npz")]) == 0
    ev = pd.read_csv(tmp_path / "ev" / "hours.csv")
    assert np.allclose(ev[["up_bid_eur_mwh", "dn_bid_eur_mwh"]].to_numpy(), want, rtol=1e-5, atol=1e-3)

    got = write_play([{6: 5}, {6: 5}])
    scores = pd.read_csv(tmp_path / "rm" / "one-arb-seed0-buckets-play-scores.csv")
    probe = br.ConstantUpPrices(load_trained_policy(tmp_path / "run")[0], ids)
    probe.up_eur_mwh = {6: float(levels[4])}
    want, _ = evaluate_policy("one-arb", probe, seed=0, weeks=["test:1"], keep_hours=False)
    pd.testing.assert_frame_equal(scores, want, check_exact=False, rtol=1e-5, atol=0.01)  # the CSV keeps 6 digits
