"""The fitted two-stage responder (`runs.studies.arbitrage_two_stage`): backward induction picks the
withholding whose value it can reach with the up prices it will bid (not the one best in hindsight), and
on the real market every option's value is what a plain run of the hour pays the aggregator."""

import numpy as np
import pandas as pd
import pytest

from runs.studies import arbitrage_best_response as br
from runs.studies import arbitrage_fitted_play as fp
from runs.studies import arbitrage_two_stage as ts


def _hand_made(hours: int = 3000, seed: int = 0) -> tuple[ts.TwoStageValues, np.ndarray, np.ndarray]:
    """Two aggregators, three withholding options (0: learned) and three up-price options per hour.
      w = 0: 1 € whatever the price;
      w = 1: 2.7 € at one up price drawn at random each hour and seen by no input (0 € at the others):
             2.7 € in hindsight, 0.9 € expected for any policy;
      w = 2: 2 € at the price the LFM input names (price 1 if its input > 0.5, else price 2), when the LEM
             input is below 0.5; otherwise 0.5 € at that price.
    So the best policy withholds w = 2 where the LEM input is below 0.5, else w = 0; a stage 1 fitted on the
    hindsight best would withhold w = 1 everywhere. Returns the values, and the best (w, j) per hour."""
    rng = np.random.default_rng(seed)
    n, W, J = 2, 3, 3
    s = rng.random((hours, n))  # LEM input
    z = rng.random((hours, n, W))  # LFM input after each withholding
    hidden = rng.integers(0, J, (hours, n))
    v = np.zeros((hours, n, W, J))
    v[:, :, 0, :] = 1.0
    hh, nn = np.meshgrid(np.arange(hours), np.arange(n), indexing="ij")
    v[hh, nn, 1, hidden] = 2.7
    named = np.where(z[:, :, 2] > 0.5, 1, 2)
    v[hh, nn, 2, named] = np.where(s < 0.5, 2.0, 0.5)
    best_w = np.where(s < 0.5, 2, 0)
    keys = pd.DataFrame({"week": np.where(np.arange(hours) < hours * 2 // 3, "fit", "other"),
                         "hour_of_week": np.arange(hours)})
    tv = ts.TwoStageValues(ids=[1, 2], keys=keys, values=v, x_lem=s[..., None], x_lfm=z[..., None],
                           a1=np.broadcast_to(np.array([0.3, 0.5, 1.0]), (hours, n, W)).copy(), r1=np.zeros((hours, n, W)),
                           arbitrage=np.array([True, True]), up_eur_mwh=np.array([10.0, 20.0]))
    return tv, best_w, named


def test_backward_induction_withholds_where_the_reachable_value_is_highest():
    tv, best_w, named = _hand_made()
    df = ts.fitted_two_stage_responder(tv, ["fit"], hidden=(32, 32), steps=1500, seed=0)
    other = tv.keys.week.to_numpy() == "other"
    want_w, want_j = best_w[other].ravel(), named[other].ravel()
    got_w = df.responder_a1.map({0.3: 0, 0.5: 1, 1.0: 2}).to_numpy()
    assert (got_w == want_w).mean() > 0.95  # not w = 1, the hindsight best
    at_w2 = want_w == 2
    assert (df.responder_up_eur_mwh.to_numpy()[at_w2] == np.where(want_j[at_w2] == 1, 10.0, 20.0)).mean() > 0.95
    assert df.responder_eur.mean() == pytest.approx(0.5 * 2.0 + 0.5 * 1.0, abs=0.05)  # the reachable optimum
    still = tv.values.copy()  # an hour where no withholding changes anything: the policy's own (0.3) is reported
    hour = int(np.flatnonzero(other)[0])
    still[hour] = 1.0
    same = ts.fitted_two_stage_responder(ts.TwoStageValues(**{**tv.__dict__, "values": still}), ["fit"], hidden=(32, 32),
                                         steps=50, seed=0)
    assert (same[same.hour_of_week == hour].responder_a1 == 0.3).all()
    assert (same[same.hour_of_week != hour].responder_a1 != 0.3).mean() > 0.3  # elsewhere it reports its picks
    assert df.best_option_eur.min() == 2.7 and df.learned_eur.eq(1.0).all()
    df["use"] = np.where(df.hour_of_week % 2 == 0, "validation", "check")
    from runs.reports.arbitrage import summarise_two_stage

    table = summarise_two_stage(df)
    assert table.responder_kept.all() and (table.gain_share > 0.4).all()


def test_a_stand_alone_aggregator_withholds_for_its_lem_reward_alone():
    """Aggregator 2 does not arbitrage: its withholding answers for r1 (here best at w = 1 in every hour), not
    for r1 + r2 (best at w = 2 where the LEM input is below 0.5); aggregator 1 arbitrages and answers for both."""
    tv, best_w, _ = _hand_made()
    tv.arbitrage[:] = [True, False]
    tv.r1[:, :, 1] = 0.1
    df = ts.fitted_two_stage_responder(tv, ["fit"], hidden=(32, 32), steps=1500, seed=0)
    other = tv.keys.week.to_numpy() == "other"
    got_w = df.responder_a1.map({0.3: 0, 0.5: 1, 1.0: 2}).to_numpy().reshape(-1, 2)
    assert (got_w[:, 0] == best_w[other, 0]).mean() > 0.95
    assert (got_w[:, 1] == 1).mean() > 0.95


def test_fit_weeks_must_leave_weeks_to_score_on():
    tv = _hand_made(hours=30)[0]
    with pytest.raises(ValueError, match="fit weeks"):
        ts.fitted_two_stage_responder(tv, ["fit", "other"], steps=10)


class _Fixed:
    """The learned policy, except that the aggregator in row `k` withholds `a1` and bids the constant up
    price `up` (its learned down price; both lowered by the constant-bid tie break) in the hours set."""

    def __init__(self, base, k: int):
        self.base, self.k = base, k
        self.a1 = self.up = None

    def act(self, stage, obs, rows):
        out = np.array(self.base.act(stage, obs, rows), dtype=float)
        i = list(rows).index(self.k)
        if stage == "lem" and self.a1 is not None:
            out[i] = self.a1
        if stage == "lfm" and self.up is not None:
            out[i] = br.constant_up_bid(self.up, out[i], self.k)
        return out


def test_every_option_earns_what_a_plain_run_of_the_hour_pays(briefly_trained):
    """On the real market (one-arb, a briefly trained policy): the values of sampled (hour, aggregator,
    withholding, up price) options equal the aggregator's reward in a plain run of the week (`model.step`)
    with those actions in that hour, and the learned option equals the plain learned run's reward."""
    from model import dataset
    from runs.training import load_trained_policy, make_model

    learned = load_trained_policy(briefly_trained)[0]
    hours = 30
    tv = ts.two_stage_values("one-arb", learned, ["test:1"], br.TINY, seed=0, max_hours=hours)
    H, N, W, J = tv.values.shape
    assert (H, W, J) == (hours, 1 + len(br.TINY.a1), 1 + len(br.TINY.price_frac))
    active = tv.values.max(3) - tv.values.min(3) > 1e-6  # (H, N, W): the up price matters
    assert active.any()
    withholding_matters = np.ptp(tv.values[..., 0], axis=2) > 1e-6  # (H, N): withholding changes the reward
    assert withholding_matters.any()
    np.testing.assert_array_equal(tv.arbitrage, np.array(tv.ids) == 5)  # one-arb: aggregator 5 arbitrages
    rng = np.random.default_rng(1)
    picks = [(*map(int, x), int(rng.integers(1, J))) for x in np.argwhere(active)[rng.choice(active.sum(), 3, replace=False)]]
    picks += [(*map(int, x), int(rng.integers(1, W)), int(rng.integers(J)))
              for x in np.argwhere(withholding_matters)[rng.choice(withholding_matters.sum(), 3, replace=False)]]

    def plain(k, h, a1, up):
        policy = _Fixed(load_trained_policy(briefly_trained)[0], k)
        model = make_model("one-arb", policy, 0)
        model.design.cold_start()
        model.reset_week(dataset.resolve_week("test:1")[0])
        model.run_hours(h)
        policy.a1, policy.up = a1, up
        model.step()
        r = model.hour_result
        return float(r.lem.r1[k] + r.balancing.r2[k]), float(r.lem.r1[k])

    for h, k, w, j in picks:
        a1 = None if w == 0 else br.TINY.a1[w - 1]
        up = None if j == 0 else tv.up_eur_mwh[j - 1]
        total, r1 = plain(k, h, a1, up)
        assert tv.values[h, k, w, j] == pytest.approx(total, abs=1e-6), (h, k, w, j)
        assert tv.r1[h, k, w] == pytest.approx(r1, abs=1e-6), (h, k, w)
        if w > 0:
            assert tv.a1[h, k, w] == a1
    learned_plain = [plain(0, h, None, None)[0] for h in (0, 7, 19)]
    np.testing.assert_allclose(tv.values[[0, 7, 19], 0, 0, 0], learned_plain, atol=1e-6)


def test_withholdings_with_one_lem_outcome_share_their_lfm_values(briefly_trained):
    """On the real market (one-arb): valuing a withholding whose LEM outcome an earlier option already had by
    that option's LFM values (`share_outcomes`) gives the values, LFM inputs and r1 of clearing every option, and
    it does share (most withholdings move no merit-order step)."""
    from runs.training import load_trained_policy

    learned = load_trained_policy(briefly_trained)[0]
    kw = dict(grid=br.TINY, seed=0, max_hours=20)
    shared = ts.two_stage_values("one-arb", learned, ["test:1"], **kw)
    cleared = ts.two_stage_values("one-arb", learned, ["test:1"], share_outcomes=False, **kw)
    np.testing.assert_allclose(shared.values, cleared.values, atol=1e-6)
    np.testing.assert_array_equal(shared.x_lfm, cleared.x_lfm)
    np.testing.assert_array_equal(shared.r1, cleared.r1)
    np.testing.assert_array_equal(shared.a1, cleared.a1)
    same_outcome = (shared.x_lfm[:, :, 1:] == shared.x_lfm[:, :, :1]).all(3) & (shared.a1[:, :, 1:] != shared.a1[:, :, :1])
    assert same_outcome.mean() > 0.3


def test_the_report_counts_a_near_zero_earners_gain_against_a_floored_base():
    """The report's two-stage table: aggregator 7 earning 0.5 €/week gains 2 €, which counts as 2 € over 1 % of the
    aggregators' mean earnings, not as +400 %; the big earner's share is its plain share."""
    from runs.reports.arbitrage import summarise_two_stage

    rows = []
    for agg, learned, resp in ((5, 1000.0, 1100.0), (7, 0.5, 2.5)):
        for week, use in (("eval:1", "validation"), ("test:1", "check")):
            rows.append({"aggregator": agg, "week": week, "hour_of_week": 0, "use": use, "learned_eur": learned,
                         "responder_eur": resp, "learned_a1": 0.0, "responder_a1": 0.5, "best_option_eur": resp})
    t = summarise_two_stage(pd.DataFrame(rows)).set_index("aggregator")
    assert t.gain_share[5] == pytest.approx(0.1)
    assert t.gain_share[7] == pytest.approx(2.0 / (0.01 * 500.25))


def test_gain_shares_floor_a_near_zero_base():
    """A gain over an aggregator earning next to nothing counts against 1 % of the mean earnings (or 1 €),
    not against its own few €."""
    own = np.array([1000.0, 0.5, -200.0])
    np.testing.assert_allclose(fp.gain_shares(np.array([100.0, 1.0, 10.0]), own),
                               [0.1, 1.0 / (0.01 * 1200.5 / 3), 0.05])
    np.testing.assert_allclose(fp.gain_shares(np.array([1.0, 2.0]), np.array([0.0, 0.5])), [1.0, 2.0])  # floor 1 €


def test_fixed_options_leave_a_stand_alone_aggregators_withholding_alone():
    tv = _hand_made(hours=30)[0]
    tv.arbitrage[:] = [True, False]
    tv.values[:, 1, 1, :] = 100.0  # a grid withholding that would pay the stand-alone aggregator: not its decision
    own, best = ts.fixed_option_gains(tv, n_weeks=1)
    np.testing.assert_allclose(own, tv.values[:, :, 0, 0].sum(0))
    assert best[1] == tv.values[:, 1, 0, 1:].sum(0).max()  # its own withholding, a constant up price
    assert best[0] == tv.values[:, 0].sum(0).reshape(-1)[1:].max()


def test_the_two_stage_play_plays_what_it_valued_and_saves_without_pickles(briefly_trained, tmp_path):
    """On the real market (one-arb, where aggregator 5 withholds): the policy a short two-stage play keeps,
    played hour by hour by a plain model run, earns every aggregator what the play's values said its own play
    earns (the draws and picks of the loop, which probes one aggregator at a time, and of the policy playing
    all at once agree); its rounds change withholding and up prices; saved and loaded it acts the same, and
    a corrupt file or another run's policy is refused."""
    from model import dataset
    from runs.training import load_trained_policy, make_model

    learned, meta = load_trained_policy(briefly_trained)
    hours = 24
    history, policy = ts.two_stage_play("one-arb", learned, ["test:1"], 2, grid=br.TINY, seed=2, max_hours=hours,
                                        first_steps=200, steps=50, window=2)
    assert len(policy.snapshots) == 2 and history.iteration.max() == 2 and history.chosen.sum() == len(policy.ids)
    last = history[history.iteration == 2].set_index("aggregator")
    model = make_model("one-arb", policy, 2)
    model.design.cold_start()
    model.reset_week(dataset.resolve_week("test:1")[0])
    earned, a1, up = np.zeros(len(policy.ids)), [], []
    for _ in range(hours):
        model.step()
        h = model.hour_result
        earned += h.lem.r1 + h.balancing.r2
        a1.append(h.lem.withhold.copy())
        up.append(h.lfm.bid_eur_mwh[:, 0].copy())
    np.testing.assert_allclose(earned, last.own_eur_per_week.loc[policy.ids].to_numpy(), rtol=1e-9, atol=1e-6)
    plain = make_model("one-arb", load_trained_policy(briefly_trained)[0], 2)
    plain.design.cold_start()
    plain.reset_week(dataset.resolve_week("test:1")[0])
    a1_l, up_l = [], []
    for _ in range(hours):
        plain.step()
        a1_l.append(plain.hour_result.lem.withhold.copy())
        up_l.append(plain.hour_result.lfm.bid_eur_mwh[:, 0].copy())
    k5 = policy.ids.index(5)
    assert not np.allclose(np.array(a1)[:, k5], np.array(a1_l)[:, k5])  # aggregator 5's withholding is played
    assert not np.allclose(np.array(up), np.array(up_l))
    path = tmp_path / "two_stage_play.npz"
    policy.save(path, base_sha256=meta["tensor_sha256"])
    again = ts.TwoStagePlayPolicy.load(path, load_trained_policy(briefly_trained)[0], policy.ids, meta["tensor_sha256"])
    assert again.population == policy.population
    obs = np.stack([model.hour_result.observations["lem"]])
    rows = np.arange(len(policy.ids))
    np.testing.assert_array_equal(again.act("lem", obs[0], rows), policy.act("lem", obs[0], rows))
    with pytest.raises(ValueError, match="another learned policy"):
        ts.TwoStagePlayPolicy.load(path, learned, policy.ids, base_sha256="0" * 64)
    # `localmarl evaluate --fitted-play` takes either play's file: this one scores what the policy itself scores
    import json

    from runs.cli import main
    from runs.training import evaluate_policy

    assert main(["evaluate", "--run", str(briefly_trained), "--weeks", "test:1", "--out", str(tmp_path / "ev"),
                 "--fitted-play", str(path)]) == 0
    got = pd.read_csv(tmp_path / "ev" / "scores.csv")
    want = evaluate_policy("one-arb", policy, seed=meta["seed"], weeks=["test:1"])[0]
    np.testing.assert_allclose(got.total_eur, want.total_eur, rtol=1e-5, atol=1e-3)  # the CSV keeps 6 digits
    assert json.loads((tmp_path / "ev" / "config.json").read_text())["fitted_play"]["kind"] == "TwoStagePlayPolicy"
    path.write_bytes(b"not an npz")
    with pytest.raises(ValueError, match="two_stage_play.npz"):
        ts.TwoStagePlayPolicy.load(path, learned, policy.ids)
    with pytest.raises(ValueError, match="not a play's policy file"):
        ts.load_play(path, learned, policy.ids)
    assert main(["evaluate", "--run", str(briefly_trained), "--weeks", "test:1", "--out", str(tmp_path / "ev2"),
                 "--fitted-play", str(path)]) == 2
    assert not (tmp_path / "ev2").exists()
