"""The report's reading of the evidence follows the numbers, whichever way they point."""

import numpy as np
import pandas as pd
import pytest

from runs.reports import arbitrage as report
from runs.reports.common import trend_sentence


def _scores(totals_by_seed):
    """All aggregators' test-week totals {scenario: [seed0, seed1, ...]} as a scores table of two
    aggregators and two test weeks per seed (so the helper must sum aggregators and average weeks)."""
    rows = [{"scenario": sc, "seed": k, "week": wk, "aggregator": agg, "total_eur": v / 2 + (5 if wk == "test:1" else -5)}
            for sc, vals in totals_by_seed.items() for k, v in enumerate(vals)
            for wk in ("test:1", "test:2") for agg in (1, 2)]
    rows += [{"scenario": "s-a", "seed": 0, "week": "eval:1", "aggregator": 1, "total_eur": 1e6}]  # not a test week
    return pd.DataFrame(rows)


def test_paired_seed_test_judges_each_step_within_seeds():
    # one-arb beats S-a by exactly 100 + seed noise shared by both: paired, that is clear even though
    # the seeds' totals overlap; all-arb against one-arb goes either way
    sa, one, all_ = [1000, 5000, 9000, 3000], [1110, 5090, 9120, 3080], [1200, 4800, 9400, 2900]
    pt = report.paired_seed_test(_scores({"s-a": sa, "one-arb": one, "all-arb": all_}))
    first, second = pt.iloc[0], pt.iloc[1]
    assert first.step == "S-a < one-arb" and first.seeds == 4 and first.seeds_with_positive_difference == 4
    assert first.mean_difference_eur_per_week == pytest.approx(100.0)
    assert first.per_seed_difference_eur_per_week == "+110 / +90 / +120 / +80"
    from scipy import stats  # an independent check of the test statistic

    assert first.p_one_sided == pytest.approx(stats.ttest_rel([1110, 5090, 9120, 3080], sa, alternative="greater").pvalue)
    assert first.p_one_sided < 0.01 and second.p_one_sided > 0.3 and second.seeds_with_positive_difference == 2
    assert not report.ordering_resolved(pt)
    text = report._seed_reading(pt)
    assert "S-a < one-arb: +100 ± 9 €/week (positive in 4 of 4 seeds" in text
    assert "one-arb < all-arb is within seed-to-seed noise" in text
    assert "For one-arb < all-arb the mean difference is smaller than its standard error" in text  # -25 ± 129
    clear = report.paired_seed_test(_scores({"s-a": sa, "one-arb": one, "all-arb": [v + 300 + i for i, v in enumerate(one)]}))
    assert report.ordering_resolved(clear) and "Both steps are resolved" in report._seed_reading(clear)
    one_seed = report.paired_seed_test(_scores({"s-a": [1], "one-arb": [2], "all-arb": [3]}))
    assert report._seed_reading(one_seed) is None and not report.ordering_resolved(one_seed)  # nothing to judge


def test_the_findings_table_says_when_an_ordering_is_only_on_the_means():
    scores = _scores({"s-a": [1000, 5000, 9000], "one-arb": [1500, 4000, 9600], "all-arb": [2000, 4100, 9800]})
    scores = pd.concat([scores, scores.assign(week="eval:1", total_eur=scores.total_eur)])
    t2 = report.table2(scores, ["s-a", "one-arb", "all-arb"])
    pt = report.paired_seed_test(scores)
    test_claim = next(c for c in report.checks(pd.DataFrame({"scenario": [], "stage": []}), t2, scores, pt)
                      if "test weeks" in c["claim"])
    assert test_claim["ok"] and test_claim["resolved"] is False
    assert report._verdict(test_claim) == "yes, within seed noise"
    assert report._verdict({**test_claim, "resolved": True}) == "yes"
    assert report._verdict({**test_claim, "ok": False}) == "**no**"


def _market(withhold, flex, bid, pays):
    return pd.Series({"mean_withholding_all": withhold, "flex_bought_mwh_per_week": flex,
                      "median_up_bid_congested_eur_mwh": bid, "dso_pays_eur_per_week": pays})


def test_market_evidence_explains_competition_only_when_prices_fell():
    scores = pd.DataFrame({"scenario": ["all-arb", "one-arb"], "week": ["test:1", "test:1"], "seed": [0, 0],
                           "first_stage_eur": [-900.0, -300.0]})
    fell = report._market_evidence(_market(0.5, 60, 200, 9000), _market(0.4, 50, 300, 10000), scores)
    assert "price falls" in fell and "1,000 €/week less" in fell and "600 €/week larger" in fell
    rose = report._market_evidence(_market(0.5, 60, 400, 12000), _market(0.4, 50, 300, 10000), scores)
    assert "price falls" not in rose and "2,000 €/week more" in rose


def test_by_week_table_and_reading_follow_the_weekly_numbers():
    # two aggregators, two seeds; week 1 is congested (all-arb gains), week 2 is not (withholding only costs)
    totals = {("s-a", "test:1"): 100, ("one-arb", "test:1"): 150, ("all-arb", "test:1"): 300,
              ("s-a", "test:2"): 0, ("one-arb", "test:2"): -20, ("all-arb", "test:2"): -80}
    rows = [{"scenario": sc, "seed": seed, "week": wk, "aggregator": agg,
             "total_eur": v / 2 + (seed - 0.5) * 10, "first_stage_eur": -abs(v) / 10 / 2}
            for (sc, wk), v in totals.items() for seed in (0, 1) for agg in (1, 2)]
    scores = pd.DataFrame(rows)
    flex = pd.DataFrame({"week": ["test:1", "test:2"], "s-a_flex_bought_mwh": [30.0, 1.0]})
    tw = report.table2_by_week(scores, flex, ["s-a", "one-arb", "all-arb"])
    assert tw.week.tolist() == ["test:1", "test:2"]
    assert tw["all-arb_total_eur"].tolist() == [300, -80]  # summed over aggregators, mean over seeds
    assert tw["one-arb_first_stage_eur"].tolist() == [-15, -2]
    text = report._by_week_reading(tw)
    assert "one-arb > S-a in 1 of 2 weeks (1; 97 % of the flexibility" in text
    assert "all-arb > one-arb in 1 of 2 weeks (1;" in text
    assert "the DSO buys 1.0 MWh/week of flexibility in S-a (in the others 30.0)" in text
    assert "8 €/week in the LEM in all-arb (2 in one-arb)" in text and "little congestion" in text
    # without a week where all-arb earns less there is nothing to explain about withholding
    assert "withholding" not in report._by_week_reading(tw.iloc[:1])
    # weak weeks that are congested as much as the others: no claim about little congestion
    congested = tw.assign(**{"s-a_flex_bought_mwh": [30.0, 25.0]})
    assert "little congestion" not in report._by_week_reading(congested)


def test_market_row_counts_saturated_actions_where_bids_matter():
    # two hours, two aggregators; the DSO buys only in hour 1, so only hour 1's up bids are judged
    h = pd.DataFrame({"week": ["test:1"] * 4, "hour_of_week": [0, 0, 1, 1], "aggregator": [5, 6, 5, 6],
                      "withhold": [0.0, 0.5, 1.0, 0.995], "up_bid_eur_mwh": [1000.0, 0.0, 995.0, 400.0],
                      "up_mw": [0.0, 0.0, 0.2, 0.1], "dn_mw": 0.0, "dlmp_eur_mwh": [0.0, 0.0, 500.0, 500.0]})
    row = report._market_row(h, price_max_eur_mwh=1000.0)
    assert row["up_bids_at_bound_congested_share"] == 0.5  # 995 is within 1 % of the cap, 400 is not
    assert row["withholding_at_bound_share"] == 0.75  # 0.0, 1.0 and 0.995; not 0.5
    assert row["flex_bought_mwh_per_week"] == pytest.approx(0.3) and row["dso_pays_eur_per_week"] == pytest.approx(150.0)
    assert row["median_up_bid_congested_eur_mwh"] == 697.5
    assert row["flex_sold_agg5_mwh_per_week"] == pytest.approx(0.2) and row["flex_sold_others_mwh_per_week"] == pytest.approx(0.1)
    assert row["flex_revenue_agg5_eur_per_week"] == pytest.approx(100.0) and row["flex_revenue_others_eur_per_week"] == pytest.approx(50.0)
    # the cap is the scenario's, not a constant: with a 2000 cap, 995 is interior
    assert report._market_row(h, price_max_eur_mwh=2000.0)["up_bids_at_bound_congested_share"] == 0.0
    # written before hours.csv recorded load shedding: unknown, not zero
    assert np.isnan(row["load_shed_hours_per_week"]) and np.isnan(row["load_shed_mwh_per_week"])


def test_market_row_counts_load_shed_hours_and_revenue_above_the_bid_cap():
    # two weeks of two hours, aggregators 5 and 6; the LFM sheds 0.3 MW in week 1 hour 1 (the feeder's
    # total, repeated on both rows) and 0.1 MW in week 2 hour 0; DLMPs above the 1000 cap in three rows
    h = pd.DataFrame({"week": ["test:1"] * 4 + ["test:2"] * 4, "hour_of_week": [0, 0, 1, 1] * 2,
                      "aggregator": [5, 6] * 4, "withhold": 0.0, "up_bid_eur_mwh": 100.0,
                      "up_mw": [0.0, 0.0, 0.2, 0.4, 0.1, 0.0, 0.0, 0.5], "dn_mw": 0.0,
                      "dlmp_eur_mwh": [0.0, 0.0, 2500.0, 2400.0, 1200.0, 900.0, 80.0, 90.0],
                      "feeder_load_shed_mw": [0.0, 0.0, 0.3, 0.3, 0.1, 0.1, 0.0, 0.0]})
    row = report._market_row(h, price_max_eur_mwh=1000.0)
    assert row["load_shed_hours_per_week"] == 1.0  # 2 hours in 2 weeks, each counted once, not per row
    assert row["load_shed_mwh_per_week"] == pytest.approx(0.2)  # (0.3 + 0.1) / 2
    assert row["flex_revenue_agg5_above_cap_eur_per_week"] == pytest.approx((0.2 * 2500 + 0.1 * 1200) / 2)
    assert row["flex_revenue_others_above_cap_eur_per_week"] == pytest.approx(0.4 * 2400 / 2)
    assert row["dso_pays_eur_per_week"] == pytest.approx((500 + 120 + 960 + 45) / 2)
    assert report._market_row(h, price_max_eur_mwh=3000.0)["flex_revenue_agg5_above_cap_eur_per_week"] == 0.0


def test_who_gains_splits_the_one_arb_step_between_aggregator_5_and_the_others():
    # aggregator 5 gains 300 €/week, aggregator 6 loses 100; two test weeks, two seeds
    rows = [{"scenario": sc, "seed": k, "week": wk, "aggregator": agg, "total_eur": base + k}
            for sc, gain5, gain6 in (("s-a", 0, 0), ("one-arb", 300, -100)) for k in (0, 1)
            for wk in ("test:1", "test:2") for agg, base in ((5, 1000 + gain5), (6, 2000 + gain6))]
    mk = pd.DataFrame([
        {"scenario": "s-a", "flex_bought_mwh_per_week": 40.0, "dso_pays_eur_per_week": 7000.0, "median_up_bid_congested_eur_mwh": 100.0,
         "flex_sold_agg5_mwh_per_week": 10.0, "flex_sold_others_mwh_per_week": 30.0,
         "flex_revenue_agg5_eur_per_week": 1400.0, "flex_revenue_others_eur_per_week": 5600.0},
        {"scenario": "one-arb", "flex_bought_mwh_per_week": 45.0, "dso_pays_eur_per_week": 7400.0, "median_up_bid_congested_eur_mwh": 70.0,
         "flex_sold_agg5_mwh_per_week": 10.5, "flex_sold_others_mwh_per_week": 34.5,
         "flex_revenue_agg5_eur_per_week": 1800.0, "flex_revenue_others_eur_per_week": 5600.0}])
    text = report._who_gains(pd.DataFrame(rows), mk)
    assert "aggregator 5 +300 €/week, the other aggregators together -100 (paper: +586 and +479)" in text
    assert "buys +5.0 MWh/week of flexibility and pays +400 €/week" in text and "100 → 70 €/MWh" in text
    assert "aggregator 5 sells +0.5 MWh/week for +400 €/week, the others +4.5 MWh/week for +0 €/week" in text
    assert report._who_gains(pd.DataFrame(rows)[lambda d: d.scenario == "s-a"], mk) is None  # nothing to compare
    assert "Load shed" not in text and "above the" not in text  # older market tables lack the columns: nothing said
    shed = {"bid_cap_eur_mwh": (1000.0, 1000.0), "load_shed_hours_per_week": (0.5, 2.0), "load_shed_mwh_per_week": (0.1, 0.6),
            "flex_revenue_agg5_above_cap_eur_per_week": (100.0, 150.0), "flex_revenue_others_above_cap_eur_per_week": (800.0, 3850.0)}
    text = report._who_gains(pd.DataFrame(rows), mk.assign(**{c: list(v) for c, v in shed.items()}))
    assert "above the 1,000 €/MWh bid cap (set by binding limits or shed load, not by any bid): aggregator 5 +50, the others +3,050 €/week" in text
    assert "Load shed by the LFM: 0.50 → 2.00 hours per week (0.10 → 0.60 MWh)" in text


def _best_response_rows(scenario, learned_up, gains_at_50, gains_at_1000):
    """Two seeds x two test weeks x two hours of a best-response table: per hour what aggregator 5
    earned with its learned bid and with a constant up bid of 50 or 1000 €/MWh."""
    return [{"scenario": scenario, "seed": k, "week": wk, "hour_of_week": t, "aggregator": 5, "learned_eur": 10.0,
             "best_prices_only_eur": 30.0, "best_eur": 40.0, "learned_a1": 0.0, "best_a1": 0.0,
             "learned_up_eur_mwh": learned_up[t], "lfm_active": t == 0,
             "up_at_50_eur": gains_at_50[k], "up_at_1000_eur": gains_at_1000[k]}
            for k in (0, 1) for wk in ("test:1", "test:2") for t in (0, 1)]


def test_exploitability_names_the_one_up_price_that_earns_most_over_all_weeks_and_seeds():
    # seed 0 earns more at 1000, seed 1 at 50; summed over both, 1000 wins (per-week maxima would mix the two)
    br = pd.DataFrame(_best_response_rows("s-a", (60.0, 999.0), (5.0, 12.0), (11.0, 8.0))
                      + _best_response_rows("one-arb", (80.0, 999.0), (5.0, 12.0), (11.0, 8.0)))
    ex = report.exploitability_table(br, ["s-a", "one-arb"])
    row = ex.set_index("scenario").loc["s-a"]
    assert row.best_common_up_price_eur_mwh == 1000.0
    assert row.best_constant_up_price_eur_per_week == pytest.approx((2 * 11 + 2 * 12) / 2)  # per seed and week: its best
    assert row.learned_median_up_bid_lfm_active_eur_mwh == 60.0  # only the hours in which the LFM is active
    text = report._price_level_reading(ex)
    assert "medians 60–80 €/MWh) are far below the one up price that would earn it most (1,000 €/MWh)" in text
    # within a factor of 2 of the best price, or on different sides in S-a and one-arb: nothing to say
    assert report._price_level_reading(ex.assign(learned_median_up_bid_lfm_active_eur_mwh=[600.0, 80.0])) is None
    assert report._price_level_reading(ex.assign(learned_median_up_bid_lfm_active_eur_mwh=[3000.0, 80.0])) is None


def test_aggregator_5s_regret_is_split_into_what_a_playable_policy_recovers_and_what_is_left():
    """Seed 0 by hand (seed 1's search is made 10x richer and must not count): the search earns 80 per week where the
    learned policy earns 20 (regret 60, 75 %). Playable, each chosen without the check week: the trained responder
    +5, the constant up price picked on the validation week (10 €/MWh: 40 > 25 there) +10 on the check week (not the
    check week's best, 20 €/MWh: +25), the fitted up-price responder +24 (it won on the validation week), the two-stage
    responder 0 (it lost there, so the learned policy is kept though it would earn +50 on the check week). The best,
    +24, recovers 40 % of the regret and leaves (60 - 24) / 80 = 45 %: short of halving it."""
    br = pd.DataFrame(_best_response_rows("one-arb", (60.0, 999.0), (5.0, 12.0), (11.0, 8.0)))
    br.loc[br.seed == 1, "best_eur"] = 400.0
    key = {"scenario": "one-arb", "aggregator": 5}
    cp = pd.DataFrame([key | {"seed": 0, "week": "test:1", "use": "check", "learned_eur": 20.0, "up_at_10_eur": 30.0,
                              "up_at_20_eur": 45.0},
                       key | {"seed": 0, "week": "eval:1", "use": "validation", "learned_eur": 20.0, "up_at_10_eur": 40.0,
                              "up_at_20_eur": 25.0}])
    resp = pd.DataFrame([key | {"seed": 0, "learned_eur": 20.0, "gain_eur": 5.0, "episodes": 200}])
    fitted = pd.DataFrame([key | {"seed": 0, "week": "eval:1", "use": "validation", "learned_eur": 10.0,
                                  "responder_eur": 12.0, "best_up_price_eur": 15.0},
                           key | {"seed": 0, "week": "test:1", "use": "check", "learned_eur": 20.0, "responder_eur": 44.0,
                                  "best_up_price_eur": 50.0}])
    two = pd.DataFrame([key | {"seed": 0, "week": "eval:1", "use": "validation", "learned_eur": 10.0, "responder_eur": 9.0,
                               "learned_a1": 0.5, "responder_a1": 0.9, "best_option_eur": 15.0},
                        key | {"seed": 0, "week": "test:1", "use": "check", "learned_eur": 20.0, "responder_eur": 70.0,
                               "learned_a1": 0.5, "responder_a1": 0.9, "best_option_eur": 80.0}])
    data = {"best_response": br, "constant_prices": cp, "responders": resp, "fitted_responders": fitted, "two_stage": two}
    r = report.observable_regret_table(data, ["s-a", "one-arb"]).set_index("scenario").loc["one-arb"]
    assert (r.learned_eur_per_week, r.best_eur_per_week, r.regret_eur_per_week) == (20, 80, 60)
    assert r.regret_share == pytest.approx(0.75)
    assert (r.trained_responder_gain_eur_per_week, r.validated_constant_gain_eur_per_week,
            r.fitted_responder_gain_eur_per_week, r.two_stage_gain_eur_per_week) == (5, 10, 24, 0)
    assert r.best_playable_gain_eur_per_week == 24 and r.recovered_share == pytest.approx(0.4)
    assert r.regret_left_share == pytest.approx(0.45)
    ob = report.observable_regret_table(data, ["one-arb"])
    [line] = report.observable_sentences(ob)
    assert "(the fitted up-price responder: €+24/week) recovers 40 % of it, so a regret of 45 % remains" in line
    assert "no policy seeing these observations was found to halve the regret" in line
    assert "halve" not in report.observable_sentences(ob.assign(best_playable_gain_eur_per_week=30.0))[0]
    # without responders or fits, the learned policy itself is the best playable one found
    bare = report.observable_regret_table({"best_response": br}, ["one-arb"]).iloc[0]
    assert bare.best_playable_gain_eur_per_week == 0 and bare.regret_left_share == pytest.approx(0.75)
    assert "no playable policy checked recovers any of it" in report.observable_sentences(
        report.observable_regret_table({"best_response": br}, ["one-arb"]))[0]


def test_every_aggregator_table_by_hand():
    """One aggregator, two seeds, one check week (c) and one validation week (v), two constant up prices.
    Seed 0 picks 20 €/MWh on v (60 > 50), which earns 130 on c; seed 1 picks 10 (70 > 60): 120. The
    responder (seed 0) gains 10; the validated constant bid of seed 0 gains 30, so its exploitability is 30."""
    from runs.reports.arbitrage import every_aggregator_table

    rows = []
    for seed, check, val in ((0, (90, 130), (50, 60)), (1, (120, 80), (70, 60))):
        rows.append({"scenario": "one-arb", "seed": seed, "aggregator": 5, "week": "c", "use": "check",
                     "learned_eur": 100.0, "up_at_10_eur": check[0], "up_at_20_eur": check[1]})
        rows.append({"scenario": "one-arb", "seed": seed, "aggregator": 5, "week": "v", "use": "validation",
                     "learned_eur": 55.0, "up_at_10_eur": val[0], "up_at_20_eur": val[1]})
    resp = pd.DataFrame([{"scenario": "one-arb", "seed": 0, "aggregator": 5, "learned_eur": 100.0, "gain_eur": 10.0,
                          "episodes": 5}])
    t = every_aggregator_table(pd.DataFrame(rows), resp, ["one-arb"]).iloc[0]
    assert t.learned_eur_per_week == 100 and t.best_constant_eur_per_week == 125 and t.validated_constant_eur_per_week == 125
    assert t.seeds_at_least_constant == 0 and t.seeds_clearly_short == 2  # one week, nothing to resample: exact
    assert t.responder_gain_eur_per_week == 10 and t.responder_gain_share == pytest.approx(0.1)
    assert t.exploitability_eur_per_week == 30 and t.exploitability_share == pytest.approx(0.3)


def test_constant_bids_along_training_are_summed_per_snapshot_by_hand():
    """Three aggregators at two snapshots. Episode 0: they earn 100 / 50 / 0.2 and gain 10 / 0 / 1 (the third's
    base floored at 1 % of the mean |earnings| 50.07, i.e. 1 €: +100 %); summed 11 of 150.2 (7.3 %), 2 of 3 gain > 1 %.
    Episode 100: 200 / 100 / 0 with gains 1 / 20 / 0: 21 of 300 (7 %), aggregator 5 (the second) +20 %."""
    from runs.reports.arbitrage import along_training_sentences, along_training_table

    rows = [(0, 2, 100.0, 10.0), (0, 5, 50.0, 0.0), (0, 7, 0.2, 1.0), (100, 2, 200.0, 1.0), (100, 5, 100.0, 20.0),
            (100, 7, 0.0, 0.0)]
    at = pd.DataFrame([{"scenario": "one-arb", "seed": 0, "episode": e, "aggregator": a, "learned_eur_per_week": own,
                        "best_constant_eur_per_week": own + g, "gain_eur_per_week": g} for e, a, own, g in rows])
    t = along_training_table(at, ["s-a", "one-arb"]).set_index("episode")
    assert list(t.index) == [0, 100] and (t.scenario == "one-arb").all()
    assert t.loc[0, "summed_gain_eur_per_week"] == pytest.approx(11.0)
    assert t.loc[0, "summed_gain_share"] == pytest.approx(11 / 150.2)
    assert t.loc[0, "aggregators_gaining"] == 2 and t.loc[0, "largest_gain_aggregator"] == 7
    assert t.loc[0, "largest_gain_share"] == pytest.approx(1.0) and t.loc[0, "agg5_gain_share"] == 0
    assert t.loc[100, "summed_gain_share"] == pytest.approx(0.07) and t.loc[100, "aggregators_gaining"] == 1
    assert t.loc[100, "largest_gain_aggregator"] == 5 and t.loc[100, "agg5_gain_share"] == pytest.approx(0.2)
    (sentence,) = along_training_sentences(t.reset_index())
    assert "7.3 % to the aggregators' earnings at episode 0 (2 of 3" in sentence
    assert "7.0 % at episode 100 (1 of 3" in sentence


def test_the_snapshot_handed_on_is_reported_beside_the_last_on_both_week_sets():
    """Two runs' `choose_snapshot` rows (two aggregators, snapshots 100 and 200 on the validation weeks): one hands on
    episode 100 (distance 5 % against the last's 20 %), the other its last (10 %). The table names each (as the runs'
    policy.json record it; a run that has not handed on yet has no row); the sentences
    average the distances and read the check weeks' along-training rows at the episode handed on and at the last."""
    from runs.reports.arbitrage import _section_snapshot_choice, snapshot_choice_sentences, snapshot_choice_table

    rows = []
    for sc, per in (("one-arb", {100: (0.05, 60.0), 200: (0.20, 40.0)}), ("all-arb", {100: (0.30, 10.0), 200: (0.10, 30.0)})):
        chosen = min(per, key=lambda e: per[e][0])
        for e, (dist, own) in per.items():
            for agg in (2, 5):
                rows.append({"scenario": sc, "seed": 0, "episode": e, "aggregator": agg, "learned_eur_per_week": own / 2,
                             "distance": dist, "chosen": e == chosen, "weeks": "eval:1,test:2"})
    selected = pd.DataFrame({"method": ["one-arb", "all-arb"], "seed": [0, 0], "selected_episode": [100, 200]})
    t = snapshot_choice_table(pd.DataFrame(rows), ["s-a", "one-arb", "all-arb"], selected).set_index("scenario")
    assert list(t.index) == ["one-arb", "all-arb"]
    not_yet = snapshot_choice_table(pd.DataFrame(rows), ["s-a", "one-arb", "all-arb"], selected.iloc[:1])
    assert list(not_yet.scenario) == ["one-arb"]  # all-arb chose but has not handed on: no row
    assert t.loc["one-arb", "handed_on_episode"] == 100 and t.loc["all-arb", "handed_on_episode"] == 200
    assert (t.last_episode == 200).all() and t.loc["one-arb", "handed_on_all_eur_per_week"] == pytest.approx(60.0)
    assert t.loc["one-arb", "last_distance"] == pytest.approx(0.2) and t.loc["all-arb", "handed_on_distance"] == pytest.approx(0.1)
    along = pd.DataFrame([{"scenario": "one-arb", "seed": 0, "episode": e, "summed_gain_share": v}
                          for e, v in ((0, 0.6), (100, 0.04), (200, 0.12))])
    first, second = snapshot_choice_sentences(t.reset_index(), along)
    assert first.startswith("- 1 of 2 runs hand on a snapshot before their last (episodes 100)")
    assert "averages 7.5 % of all aggregators' earnings at the snapshots handed on against 15.0 % at the last" in first
    assert "one-arb: 4.0 % at the snapshots handed on against 12.0 % at the last (mean); lower in 1 of 1" in second
    section = "\n".join(_section_snapshot_choice(t.reset_index(), along, {"snapshot_every": 100}))
    header = next(line for line in section.splitlines() if line.startswith("| scenario"))
    assert "| weeks |" not in header and "check_handed_on_distance_%" in header
    one_arb = next(line for line in section.splitlines() if line.startswith("| one-arb"))
    assert "| 4.0 | 12.0 |" in one_arb  # the check weeks' distances at episode 100 and at the last, 200


def test_a_shortfall_is_clear_only_beyond_the_check_weeks_sampling_noise():
    """Three check weeks of hourly rows. A constant bid that earns 2 € more every day is clearly better; one
    whose daily gain is noise of sd 30 € around +1 € is better on the sample (the learned policy is not "at
    least" as good) but not clearly. The bootstrap's bound agrees with the normal approximation
    mean - 1.645 sd / sqrt(days) (days per week times it)."""
    from runs.reports.arbitrage import every_aggregator_table, shortfall_lower_bound_eur_per_week

    rng = np.random.default_rng(3)
    days = 21
    noise = rng.normal(0.0, 30.0, days)
    noise += 1.0 - noise.mean()  # a sample mean of exactly +1 € per day
    rows = []
    for agg, daily_gain in ((2, np.full(days, 2.0)), (5, noise)):
        for day in range(days):
            for h in range(24):
                gain = daily_gain[day] if h == 12 else 0.0  # the whole day's gain in one hour, the rest equal
                rows.append({"scenario": "one-arb", "seed": 0, "aggregator": agg, "week": f"test:{day // 7 + 1}",
                             "hour_of_week": (day % 7) * 24 + h, "use": "check", "learned_eur": 10.0,
                             "up_at_10_eur": 10.0 + gain})
    cp = pd.DataFrame(rows)
    t = every_aggregator_table(cp, pd.DataFrame(), ["one-arb"]).set_index("aggregator")
    assert (t.seeds_at_least_constant == 0).all()  # both constants earn more on the sample
    assert t.loc[2, "seeds_clearly_short"] == 1 and t.loc[5, "seeds_clearly_short"] == 0
    bound = shortfall_lower_bound_eur_per_week(cp[cp.aggregator == 5], "up_at_10_eur")
    normal = 7 * (1.0 - 1.645 * noise.std(ddof=1) / np.sqrt(days))
    assert bound == pytest.approx(normal, abs=0.15 * abs(normal))
    assert shortfall_lower_bound_eur_per_week(cp[cp.aggregator == 2], "up_at_10_eur") == pytest.approx(14.0)


def test_a_check_week_without_a_flexibility_hour_still_counts_in_the_per_week_shortfall():
    """The play's hour rows exist only where the DSO buys. A gain of 7 € on every day of week 1 is 7 € per day and
    49 € per week over that week alone, but 24.5 € per week over the two check weeks when week 2 bought nothing:
    `_every_day` fills week 2's seven days with zeros, as the constant-price check's rows have them."""
    from runs.reports.arbitrage import _every_day, shortfall_lower_bound_eur_per_week

    rows = pd.DataFrame({"week": "test:1", "hour_of_week": 24 * np.arange(7) + 12, "play_eur": 10.0, "option1_eur": 17.0})
    alone, both = _every_day(rows), _every_day(rows, ["test:1", "test:2"])
    assert len(alone) == 7 and len(both) == 14 and (both[both.week == "test:2"].option1_eur == 0).all()
    bound = lambda d: shortfall_lower_bound_eur_per_week(d.rename(columns={"play_eur": "learned_eur"}), "option1_eur")  # noqa: E731
    assert bound(alone) == pytest.approx(49.0) and bound(both) < 49.0
    assert (both.option1_eur - both.play_eur).sum() / both.week.nunique() == pytest.approx(24.5)


def test_the_p2p_generalisation_claim_shows_the_gap_in_euros_beside_the_percentages():
    """Relative gaps differ when the optimum's own cost does: 120 EUR/day above an optimum of 250 is 48 %,
    above 320 it is 37.5 %; the evidence gives both, the verdict stays the percentage rule."""
    from runs.reports.p2p import claims

    days = pd.DataFrame({"week": ["test:1"], "method": ["maddpg-ps"], "seed": [0], "cost_eur": [370.0], "peak_import_kw": [200.0]})
    mt = pd.DataFrame({"method": ["maddpg-ps"], "cost_eur_per_day": [370.0], "optimum_cost_eur_per_day": [250.0],
                       "gap_to_optimum_pct": [48.0]})
    mt_train = pd.DataFrame({"method": ["maddpg-ps"], "cost_eur_per_day": [440.0], "optimum_cost_eur_per_day": [320.0],
                             "gap_to_optimum_pct": [37.5]})
    (c,) = [c for c in claims(days, mt, mt_train) if "unseen" in c["claim"]]
    assert c["held"] is False
    assert "48.0 % on the test days vs 37.5 %" in c["evidence"]
    assert "in € per day the gap is 120.0 on the test days vs 120.0 on training days" in c["evidence"]


def test_the_convergence_table_holds_every_scenarios_curves_and_names_the_one_still_rising():
    """Two scenarios, 3 seeds, evaluations every 100 episodes to 800: aggregator 5 earns 100 a week in every seed until
    episode 600 and 130 / 131 / 132 after it (+30-32 %, a paired t-test's p < 0.001), aggregator 2 earns 1,000 +/- 5
    throughout; in the other scenario nothing moves (no seed changes at all: flat, not undecided). The table has both
    measures per scenario; only one-arb's aggregator 5 (+31 %) and, through it, the all-aggregator sum (31 on 1,100:
    +2.8 %) are still rising."""
    rows = []
    for sc in ("s-a", "one-arb"):
        for seed in range(3):
            for ep in range(0, 801, 100):
                up = sc == "one-arb" and ep > 600
                rows += [(sc, seed, ep, report.AGG, 100.0 + (30 + seed) * up),
                         (sc, seed, ep, 2, 1000.0 + 5 * (-1) ** (ep // 100 + seed))]
    curves = pd.DataFrame(rows, columns=["scenario", "seed", "episode", "aggregator", "eval_score_eur"])
    cv = report.convergence_table(curves, ["s-a", "one-arb"])
    assert list(zip(cv.scenario, cv.trend)) == [("s-a", "flat"), ("s-a", "flat"), ("one-arb", "rising"),
                                                ("one-arb", "rising")]
    total, a5 = cv[cv.scenario == "one-arb"].itertuples()
    assert a5.change_share == pytest.approx(0.31) and a5.seeds_rising == "3 of 3" and a5.p < 0.001
    assert total.change_share == pytest.approx(31 / 1100)
    text = trend_sentence(cv.rename(columns={"scenario": "method"}), brief=True)
    assert text.startswith("Still moving over the last quarter of training: one-arb: all aggregators' earnings")
    assert "s-a" not in text


def _bucketed_two_seeds():
    """`bucketed_play_table`'s shape for two seeds of S-a and one-arb: on the check weeks, the aggregators clearly short
    of the validated option are (learned, by congestion) S-a 5, 0 and 6, 1; one-arb 4, 1 and 4, 0."""
    short = {("s-a", 0): (5, 0), ("s-a", 1): (6, 1), ("one-arb", 0): (4, 1), ("one-arb", 1): (4, 0)}
    return pd.DataFrame([
        {"scenario": sc, "seed": seed, "weeks": weeks, "profile": profile, "aggregators_over_1pct": n + 2, "of": 10,
         "largest_gain_share": 0.01 * (n + 1), "all_aggregators_eur_per_week": 1000.0 * (seed + 1), "buckets": 4,
         "clearly_short_of_validated": n if weeks == "check" else np.nan}
        for (sc, seed), counts in short.items() for weeks in ("fit", "check", "validation")
        for profile, n in zip(("learned", "by congestion"), counts)])


def test_a_play_by_congestion_on_several_seeds_is_summarised_over_them():
    """With two seeds the report shows ranges and totals over the seeds (by hand), not one row per seed."""
    bt = _bucketed_two_seeds()
    s = report._bucketed_summary(bt).set_index(["scenario", "weeks", "profile"])
    sa = s.loc[("S-a", "check", "learned")]
    assert (sa.seeds, sa.clearly_short_of_validated_range, sa.clearly_short_of_validated_total) == (2, "5–6", "11")
    assert sa.aggregators_over_1pct_range == "7–8" and sa.largest_gain_pct_median == pytest.approx(6.5)  # 6 and 7 %
    assert sa.all_aggregators_eur_per_week_mean == pytest.approx(1500.0)
    assert s.loc[("one-arb", "check", "learned")].clearly_short_of_validated_range == "4"
    assert s.loc[("one-arb", "check", "by congestion")].clearly_short_of_validated_total == "1"
    assert s.loc[("S-a", "fit", "learned")].clearly_short_of_validated_range == ""  # judged on the check weeks only
    text = "\n".join(report._section_bucketed_play(bt, {"fit_weeks": ["train:1"]}))
    assert "| S-a | 0 |" not in text  # no per-seed rows
    assert ("- S-a (2 seeds): aggregators more than 1 % short of their best option per seed, learned → by congestion: "
            "fit weeks 7–8 → 2–3") in text
    assert "clearly short of the option validated beforehand 5–6 → 0–1 of 10 per seed (11 → 1 over the seeds)" in text
    one = "\n".join(report._section_bucketed_play(bt[bt.seed == 0], {"fit_weeks": ["train:1"]}))
    assert "| S-a | 0 | check | learned | 7 |" in one and "- S-a, seed 0:" in one  # one seed: its rows, as before


def test_the_reading_of_a_play_by_congestion_on_two_seeds_pairs_them():
    """Stop 69's crash: with the play on two seeds, `reading` failed (one row per seed where it took one number). It
    now gives both seeds' counts and the paired steps under the play: S-a → one-arb +60 and +50 €/week, mean 55, standard
    error 5, t = 11 on one degree of freedom: p = 1/2 - atan(11)/pi."""
    import dataclasses

    learned = _scores({"s-a": [100, 200], "one-arb": [90, 230], "all-arb": [300, 100]})
    play = _scores({"s-a": [100, 200], "one-arb": [160, 250], "all-arb": [300, 100]})
    tables = report.ReportTables(**{f.name: pd.DataFrame() for f in dataclasses.fields(report.ReportTables)}
                                 | {"checks": [], "bucketed_play": _bucketed_two_seeds(),
                                    "congestion_ordering": report.congestion_play_ordering(learned, play)})
    text = report.reading(tables, {"episodes": 2, "seeds": 2})
    assert "2 seeds): on the check weeks, aggregators clearly short of the option validated beforehand 5–6 → 0–1, " \
           "4 → 0–1 of 10 per seed (S-a, one-arb; learned → by congestion)" in text
    p = 0.5 - np.arctan(11.0) / np.pi
    assert f"all aggregators' S-a < one-arb step +55 ± 5 €/week (2 of 2 seeds positive, p = {p:.3f})" in text
    assert "one-arb < all-arb step" in text and "aggregator 5" not in text.split("Under it")[1]  # no aggregator 5 here


def test_the_orderings_figure_under_the_play_needs_two_paired_seeds(tmp_path):
    learned = _scores({"s-a": [100, 200], "one-arb": [90, 230], "all-arb": [300, 100]})
    play = _scores({"s-a": [100, 200], "one-arb": [160, 250], "all-arb": [300, 100]})
    assert report.fig_play_orderings(learned, play, tmp_path / "two.png") and (tmp_path / "two.png").stat().st_size > 0
    one = play[play.seed == 0]
    assert not report.fig_play_orderings(learned, one, tmp_path / "one.png") and not (tmp_path / "one.png").exists()
