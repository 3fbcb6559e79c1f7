"""The report's reading of the evidence follows the numbers, whichever way they point."""

import pandas as pd

from runs import report


def _t2(means, lo, hi, seeds=3):
    return pd.DataFrame({"scenario": ["s-a", "one-arb", "all-arb"], "test_weeks_eur": means,
                         "test_weeks_min_seed_eur": lo, "test_weeks_max_seed_eur": hi, "seeds": seeds})


def test_seed_spread_says_whether_the_ordering_is_resolved():
    noisy = report._seed_spread(_t2([100, 150, 400], [50, 0, 390], [150, 300, 410]))
    assert "within seed-to-seed noise" in noisy and "300" in noisy and "as little as 50" in noisy
    clear = report._seed_spread(_t2([100, 500, 900], [90, 480, 880], [110, 520, 920]))
    assert "resolved" in clear and "noise" not in clear
    assert report._seed_spread(_t2([1, 2, 3], [1, 2, 3], [1, 2, 3], seeds=1)) is None  # one seed: no spread to judge


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
