"""The household designs' exploitability tables against hand-worked sums: the Stackelberg leader's
(`runs.reports.stackelberg.leader_exploitability`: per week and seed, each week's seeds pooled, every
week pooled) and the P2P households' per checked week (`runs.reports.p2p.exploitability_by_week`); the heat
pumps' comfort by week and seed beside the rule thermostat's (`runs.reports.common.comfort_by_week`); whether
a training curve had settled (`runs.reports.common.learning_trend`) against hand-worked means and scipy's t, and
from which day (`settled_from`) against hand-worked stretch means."""

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from model.designs.household_base import household_clusters
from runs.reports.common import (
    cluster_curves, comfort_by_week, comfort_sentence, learning_trend, settled_from, trend_display, trend_sentence,
    trend_table,
)
from runs.training import make_model
from runs.reports.p2p import exploitability_by_week, exploitability_table
from runs.reports.stackelberg import leader_exploitability, leader_regret_curve, reading


def _checks() -> pd.DataFrame:
    """Two checked weeks (a summer week listed first, so the order must come from the labels), two seeds,
    two days each: learned profit, best response's profit and the regret's two parts (€ per day)."""
    rows = [  # week, seed, learned, best response, position part
        ("test:8", 0, 10.0, 14.0, 1.0), ("test:8", 0, 10.0, 12.0, 2.0),
        ("test:8", 1, 20.0, 21.0, 0.5), ("test:8", 1, 20.0, 23.0, 1.5),
        ("test:2", 0, 50.0, 52.0, 1.0), ("test:2", 0, 50.0, 51.0, 0.0),
        ("test:2", 1, 40.0, 44.0, 2.0), ("test:2", 1, 40.0, 40.0, 0.0),
    ]
    df = pd.DataFrame(rows, columns=["week", "seed", "learned_profit_eur", "best_response_profit_eur", "position_regret_eur"])
    df["regret_eur"] = df.best_response_profit_eur - df.learned_profit_eur
    df["price_regret_eur"] = df.regret_eur - df.position_regret_eur
    return df


def test_leader_exploitability_splits_the_regret_by_week_and_pools_seeds_and_weeks():
    t = leader_exploitability(_checks())
    assert list(zip(t.week, t.seed)) == [("test:2", 0), ("test:2", 1), ("test:8", 0), ("test:8", 1),
                                         ("test:2", "all"), ("test:8", "all"), ("all", "all")]
    t = t.set_index(["week", "seed"])
    # test:8, seed 0: learned 20, best 26, position 3 -> 30 %, 15 points position, 15 points prices
    assert t.loc[("test:8", 0), ["days", "regret_pct", "position_points", "price_points"]].tolist() == pytest.approx(
        [2, 30.0, 15.0, 15.0])
    # test:2 pooled: learned 180, best 187 (regret 7), position 3 -> 7/180 and 3/180
    row = t.loc[("test:2", "all")]
    assert (row.days, row.learned_profit_eur, row.regret_eur) == (4, 180.0, 7.0)
    assert (row.regret_pct, row.position_points, row.price_points) == pytest.approx((700 / 180, 300 / 180, 400 / 180))
    # every week pooled: learned 240, regret 7 + 10 = 17
    row = t.loc[("all", "all")]
    assert (row.days, row.regret_eur) == (8, 17.0) and row.regret_pct == pytest.approx(1700 / 240)
    assert row.position_points + row.price_points == pytest.approx(row.regret_pct)


def test_the_schedule_check_is_in_points_of_the_learned_profit_beside_the_prices_part():
    checks = _checks().assign(day=[35, 36] * 4)
    gains = [2.0, 0.5, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0]  # the schedule above the learned prices, per day
    schedule = checks[["seed", "week", "day"]].assign(  # the learned prices with the best positions, and the schedule
        learned_position_profit_eur=checks.learned_profit_eur + checks.position_regret_eur)
    schedule = schedule.assign(schedule_profit_eur=schedule.learned_position_profit_eur + gains)
    t = leader_exploitability(checks, schedule).set_index(["week", "seed"])
    # test:8 seed 0: learned 20, gains 2.5 -> 12.5 points (of its 15 price points)
    assert t.loc[("test:8", 0), "schedule_points"] == pytest.approx(12.5)
    assert t.loc[("test:8", 0), "price_points"] == pytest.approx(15.0)
    # test:2 pooled: learned 180, gains 1.5 -> 1.5 / 180; every week: learned 240, gains 5.0
    assert t.loc[("test:2", "all"), "schedule_points"] == pytest.approx(150 / 180)
    assert t.loc[("all", "all"), "schedule_points"] == pytest.approx(500 / 240)
    assert "schedule_gain_eur" not in t and "schedule_profit_eur" not in t
    text = reading(pd.DataFrame(), [], pd.DataFrame(), t.reset_index(), {})
    assert "(of which one price schedule by hour of day reaches 2.1)" in text
    # a seed without the schedule check leaves its pools without the figure, not a partial sum
    t = leader_exploitability(checks, schedule[schedule.seed == 0]).set_index(["week", "seed"])
    assert t.loc[("test:8", 0), "schedule_points"] == pytest.approx(12.5)
    assert pd.isna(t.loc[("test:8", 1), "schedule_points"]) and pd.isna(t.loc[("all", "all"), "schedule_points"])
    assert "schedule" not in reading(pd.DataFrame(), [], pd.DataFrame(), t.reset_index(), {})


def test_one_checked_week_has_no_all_weeks_row_and_the_reading_quotes_the_pooled_week():
    one = _checks().query("week == 'test:2'")
    t = leader_exploitability(one)
    assert list(t.week) == ["test:2"] * 3 and list(t.seed) == [0, 1, "all"]
    text = reading(pd.DataFrame(), [], pd.DataFrame(), t, {})
    assert "earns 3.9 % more than the learned leader;" in text  # 7 / 180, no per-week list for one week
    assert "1.7 points of it the day-ahead position" in text
    both = reading(pd.DataFrame(), [], pd.DataFrame(), leader_exploitability(_checks()), {})
    assert "earns 7.1 % more than the learned leader (test:2 3.9 %, test:8 16.7 %)" in both  # 17/240; 10/60


def _household_checks() -> pd.DataFrame:
    """P2P household checks: two weeks (the later listed first), seeds 0 and 1, two clusters; one row per
    household and day, € per day."""
    rows = [  # week, seed, household, cluster, learned, best response, LP at the faced prices
        ("test:8", 0, 3, "pv-ev", 2.0, 1.0, 0.5), ("test:8", 0, 3, "pv-ev", 4.0, 3.0, 2.5),
        ("test:8", 0, 7, "heat-pump", 5.0, 5.5, 4.0), ("test:8", 1, 3, "pv-ev", 1.0, 1.0, 1.0),
        ("test:2", 0, 3, "pv-ev", 6.0, 5.0, 5.0), ("test:2", 0, 7, "heat-pump", 9.0, 7.0, 6.0),
        ("test:2", 1, 3, "pv-ev", 3.0, 3.5, 2.0),
    ]
    df = pd.DataFrame(rows, columns=["week", "seed", "household", "cluster", "learned_cost_eur",
                                     "best_response_cost_eur", "lp_cost_eur"])
    return df.assign(regret_eur=df.learned_cost_eur - df.best_response_cost_eur)


def test_p2p_exploitability_by_week_is_the_pooled_table_of_each_week():
    br = _household_checks()
    t = exploitability_by_week(br)
    assert list(t.columns) == ["week", *exploitability_table(br).columns]
    assert list(zip(t.week, t.cluster)) == [("test:2", "heat-pump"), ("test:2", "pv-ev"), ("test:2", "all"),
                                            ("test:8", "heat-pump"), ("test:8", "pv-ev"), ("test:8", "all")]
    t = t.set_index(["week", "cluster"])
    # test:8, pv-ev: household 3 in seed 0 (days: regret 1, 1 -> mean 1) and in seed 1 (regret 0): mean 0.5
    row = t.loc[("test:8", "pv-ev")]
    assert (row.households_sampled, row.regret_eur_per_day, row.share_positive_regret) == (2, 0.5, 0.5)
    # its price-taker's regret: seed 0 mean (1.5 + 1.5) / 2 = 1.5, seed 1: 0 -> 0.75
    assert row.price_taker_regret_eur_per_day == pytest.approx(0.75)
    # test:2, all: regrets 1 (pv-ev seed 0), 2 (heat-pump), -0.5 (pv-ev seed 1) -> mean 5/6, 2 of 3 positive
    row = t.loc[("test:2", "all")]
    assert row.regret_eur_per_day == pytest.approx(2.5 / 3) and row.share_positive_regret == pytest.approx(2 / 3)
    assert exploitability_by_week(br[br.week == "test:2"]).empty  # one week: the pooled table says it all


def _comfort_days() -> pd.DataFrame:
    """Per-day comfort violation (K·h, the community's heat pumps) of a rule thermostat (one seed) and two learned
    methods: test:10 listed before test:2 (the order must come from the labels); an evaluation and a training week
    that the table must leave out."""
    rows = [  # method, seed, week, day, K·h
        ("rules", 0, "test:10", 0, 4.0), ("rules", 0, "test:10", 1, 6.0), ("rules", 0, "test:2", 7, 0.0),
        ("rules", 0, "test:2", 8, 2.0), ("rules", 0, "eval:1", 20, 9.0),
        ("learned", 0, "test:10", 0, 30.0), ("learned", 0, "test:10", 1, 10.0), ("learned", 0, "test:2", 7, 1.0),
        ("learned", 0, "test:2", 8, 1.0), ("learned", 0, "eval:1", 20, 99.0), ("learned", 0, "train:3", 30, 99.0),
        ("learned", 1, "test:10", 0, 3.0), ("learned", 1, "test:10", 1, 5.0), ("learned", 1, "test:2", 7, 3.0),
        ("learned", 1, "test:2", 8, 5.0),
        ("other", 0, "test:10", 0, 0.0), ("other", 0, "test:10", 1, 0.0), ("other", 0, "test:2", 7, 0.0),
        ("other", 0, "test:2", 8, 0.0),
    ]
    return pd.DataFrame(rows, columns=["method", "seed", "week", "day", "comfort_violation_kh"])


def test_comfort_by_week_is_each_seeds_daily_mean_beside_the_thermostats():
    t = comfort_by_week(_comfort_days(), "rules", ("other", "learned"))
    assert list(zip(t.method, t.seed, t.week)) == [("other", 0, "test:2"), ("other", 0, "test:10"),
                                                   ("learned", 0, "test:2"), ("learned", 0, "test:10"),
                                                   ("learned", 1, "test:2"), ("learned", 1, "test:10")]
    assert t.comfort_violation_kh_per_day.tolist() == [0.0, 0.0, 1.0, 20.0, 4.0, 4.0]
    assert t.thermostat_kh_per_day.tolist() == [1.0, 5.0] * 3  # test:2 (0 + 2) / 2, test:10 (4 + 6) / 2
    assert t.excess_kh_per_day.tolist() == [-1.0, -5.0, 0.0, 15.0, 3.0, -1.0]
    assert t.optimum_kh_per_day.isna().all()  # no optimum given
    # the day optimum's days: its mean per test week beside every row of that week (its evaluation week left out)
    optimum = pd.DataFrame({"week": ["test:2", "test:2", "test:10", "eval:1"], "comfort_violation_kh": [0.5, 1.5, 3.0, 9.0]})
    t = comfort_by_week(_comfort_days(), "rules", ("other", "learned"), optimum)
    assert t.optimum_kh_per_day.tolist() == [1.0, 3.0] * 3


def test_the_comfort_sentence_quotes_the_methods_mean_and_its_seed_furthest_above_the_thermostat():
    t = comfort_by_week(_comfort_days(), "rules", ("other", "learned"))
    text = comfort_sentence(t, "learned")
    # learned: (1 + 20 + 4 + 4) / 4 = 7.25 K·h/day; the thermostat's weeks (1 + 5) / 2 = 3.0; seed 0 in test:10 worst
    assert "learned leave the houses 7.2 K·h per day" in text and "the rule thermostat's 3.0" in text
    assert "furthest above the thermostat, seed 0 in test:10: 20.0 against 5.0" in text and "optimum" not in text
    optimum = pd.DataFrame({"week": ["test:2", "test:10"], "comfort_violation_kh": [1.0, 3.0]})
    with_optimum = comfort_sentence(comfort_by_week(_comfort_days(), "rules", ("learned",), optimum), "learned")
    assert "the rule thermostat's 3.0 and the perfect-foresight day optimum's 2.0 (which trades" in with_optimum
    # a method never above the thermostat names no worst seed, and says so
    assert "furthest" not in comfort_sentence(t, "other") and comfort_sentence(t, "absent") == ""
    assert comfort_sentence(t, "other").endswith("in no seed and test week above the thermostat's by 0.05 K·h per day or more.")
    # nor one above it by less than the sentence shows (stop 53's study: "seed 0 in test:1: 0.0 against 0.0")
    nearly = t.assign(excess_kh_per_day=t.excess_kh_per_day.where(t.method != "learned", 0.04))
    assert "furthest" not in comfort_sentence(nearly, "learned")
    # an unfinished study without the thermostat's evaluation: the learned mean alone, no NaN
    alone = comfort_by_week(_comfort_days()[lambda d: d.method != "rules"], "rules", ("learned",))
    assert alone.thermostat_kh_per_day.isna().all()
    assert comfort_sentence(alone, "learned").endswith("7.2 K·h per day outside their comfort band over the test weeks.")


def _kept_snapshots(study, *metas):
    """`selected_snapshots` of a study folder whose stackelberg seeds 0, 1, ... have these policy.json contents."""
    import json

    from runs.reports.common import selected_snapshots

    for seed, meta in enumerate(metas):
        run = study / "runs" / "stackelberg" / f"seed{seed}"
        run.mkdir(parents=True)
        (run / "policy.json").write_text(json.dumps(meta))
    return selected_snapshots(study, ["stackelberg"])


def test_the_selection_note_names_the_kept_days_and_where_the_competing_snapshots_started(tmp_path):
    """The report's sentence on kept snapshots reads each run's policy.json: its kept day, its selection weeks
    and, for a run that let only its later snapshots compete (`keep_best_from`), the day they started from; a run
    without that key (all snapshots competed) adds no such clause."""
    from runs.reports.common import selection_note

    selected = _kept_snapshots(tmp_path, {"selected_episode": 1100, "selected_on": "eval:1,train:23",
                                          "selected_from_episode": 750},
                               {"selected_episode": 400, "selected_on": "eval:1,train:23"})
    assert selected.selected_from.tolist() == [750, 0]
    note = selection_note(selected)
    assert "stackelberg: seed 0 day 1100, seed 1 day 400; only the snapshots from day 750 of training on " \
           "competed (`keep_best_from`)" in note
    assert "training week 23 (week 29)" in note
    assert "from day" not in selection_note(selected.iloc[1:])
    assert "selection_best_response" not in note


def test_the_selection_note_names_the_weighted_best_response(tmp_path):
    """A run whose policy.json records `selected_best_response_weight` (its selection score less that weight times
    the design's cheap best response's gain) gets a clause saying so; one without it (weight 0) none."""
    from runs.reports.common import selection_note

    selected = _kept_snapshots(tmp_path, {"selected_episode": 1300, "selected_on": "eval:1,train:23",
                                          "selected_best_response_weight": 1.0},
                               {"selected_episode": 1500, "selected_on": "eval:1,train:23"})
    assert selected.best_response_weight.tolist() == [1.0, 0.0]
    assert ("seed 0 day 1300, seed 1 day 1500; each snapshot's score less 1 × what the design's cheap best response "
            "gains over it there (`selection_best_response`" in selection_note(selected))
    assert "selection_best_response" not in selection_note(selected.iloc[1:])


def test_the_leaders_regret_curve_is_its_gain_over_its_profit_on_the_selection_weeks():
    """The training curves' third panel: per episode and seed, 100 x the leader's best-response gain over its own
    selection-week score (by hand: 2 over 80 EUR is 2.5 %); the followers' rows (NaN gains) do not enter; a run
    trained without the column gives an empty frame (the figure then keeps its two panels)."""
    rows = [{"episode": e, "seed": s, "participant": p, "best_response_gain_eur": g, "selection_score_eur": v}
            for e, s, p, g, v in ((0, 0, "aggregator", 2.0, 80.0), (0, 0, "3", float("nan"), -40.0),
                                  (100, 0, "aggregator", 0.5, 100.0), (100, 1, "aggregator", -1.0, 50.0))]
    curve = leader_regret_curve(pd.DataFrame(rows))
    assert curve.loc[0, 0] == 2.5 and curve.loc[100, 0] == 0.5 and curve.loc[100, 1] == -2.0
    assert leader_regret_curve(pd.DataFrame(rows).drop(columns="best_response_gain_eur")).empty


def _curve(third: list[float], fourth: list[float], early: float = 1e3) -> pd.DataFrame:
    """Evaluations every 100 days to day 800, one column per seed: wild values up to day 400 (the first half, which
    must not count), then each seed's value on days 500 and 600 (the third quarter) averaging `third`, and on days
    700 and 800 (the last quarter) averaging `fourth` (±1 around the mean: one evaluation week is noisy)."""
    rows = {e: [early * (k + 1) * (-1) ** e for k in range(len(third))] for e in range(0, 500, 100)}
    rows |= {500: [v + 1 for v in third], 600: [v - 1 for v in third], 700: [v - 1 for v in fourth],
             800: [v + 1 for v in fourth]}
    return pd.DataFrame.from_dict(rows, orient="index")


def test_a_curve_falling_in_every_seed_is_still_moving_and_a_noisy_flat_one_is_not():
    """By hand: the quarters' means 10 / 20 / 10 / 40 -> 8 / 16 / 8 / 36 are changes of -2 / -4 / -2 / -4, mean -3,
    15 % of the earlier level (20); the paired t-test over seeds is scipy's (t -5.2, two-sided p 0.014): falling.
    Changes of +1 / -1 / +1 / -1 average 0: flat. One seed gives no spread; a run with evaluations only at days 0
    and 1 has no quarter to compare."""
    third, fourth = [10, 20, 10, 40], [8, 16, 8, 36]
    falling = learning_trend(_curve(third, fourth))
    reference = stats.ttest_rel(fourth, third)
    assert falling["change_share"] == pytest.approx(-0.15) and falling["t"] == pytest.approx(reference.statistic)
    assert falling["p"] == pytest.approx(reference.pvalue) and falling["p"] < 0.05 and falling["t"] < -5
    assert falling["trend"] == "falling" and falling["seeds_rising"] == "0 of 4" and falling["days"] == 800
    assert falling["third_quarter"] == pytest.approx(20.0) and falling["last_quarter"] == pytest.approx(17.0)
    flat = learning_trend(_curve([10, 10, 20, 20], [11, 9, 21, 19]))
    assert flat["change_share"] == pytest.approx(0.0, abs=1e-12) and flat["trend"] == "flat"
    assert flat["seeds_rising"] == "2 of 4"
    # -0.5 / -0.5 / -0.4 / -0.6: a change every seed shares (p 0.001) but 0.25 % of the level is flat
    small = learning_trend(_curve([100, 200, 100, 400], [99.5, 199.5, 99.6, 399.4]))
    assert small["p"] < 0.01 and small["change_share"] == pytest.approx(-0.0025) and small["trend"] == "flat"
    # two seeds falling by 2 and 2.5: t = -9, short of the 12.7 that one degree of freedom needs at 5 %: flat
    two = learning_trend(_curve([10, 20], [8, 17.5]))
    assert two["t"] == pytest.approx(stats.ttest_rel([8, 17.5], [10, 20]).statistic) and two["t"] < -8
    assert two["p"] > 0.05 and two["trend"] == "flat"
    # a seed whose level is near 0 does not swamp the change (aggregator 5's earnings in S-a)
    assert learning_trend(_curve([0.01, 50, 50], [30, 50, 50]))["change_share"] == pytest.approx(10 / 33.34, rel=1e-3)
    assert learning_trend(_curve([10], [8]))["trend"] == "one seed"
    assert learning_trend(pd.DataFrame({0: [5.0, 6.0]}, index=[0, 1]))["trend"] == "too few evaluations"


def test_the_trend_sentence_names_the_curves_still_moving_and_is_silent_in_brief_when_none_is():
    tt = trend_table({("stackelberg", "leader's regret (% of its profit)"): _curve([2, 4, 2, 8], [1.5, 3.4, 1.5, 7.4]),
                      ("stackelberg", "leader's profit (€ per day)"): _curve([10, 10, 20, 20], [11, 9, 21, 19])})
    assert tt.trend.tolist() == ["falling", "flat"]
    text = trend_sentence(tt, str.title)
    assert "Still moving at the end of training: Stackelberg: leader's regret (% of its profit) falling (4.00 → 3.45, " \
           "-13.7 %, 0 of 4 seeds rising)" in text and "The others were flat." in text
    assert "profit (€ per day) " not in text
    assert trend_sentence(tt.iloc[1:], brief=True) == ""
    assert "No curve was still moving" in trend_sentence(tt.iloc[1:])


def _means(values: list[float], spread: float = 1.0) -> pd.DataFrame:
    """Two seeds evaluated every 100 days whose mean is `values` (the seeds ±`spread` around it, by turns)."""
    return pd.DataFrame({0: [v + spread * (-1) ** i for i, v in enumerate(values)],
                         1: [v - spread * (-1) ** i for i, v in enumerate(values)]}, index=range(0, 100 * len(values), 100))


def test_a_curve_has_settled_from_the_first_day_its_quarter_long_averages_stay_near_its_end():
    """By hand, evaluations at days 0-1,200: the last quarter (days 1,000-1,200) is 3 evaluations, so every stretch
    averages 3 in a row, and 1 % of the last quarter's level is the band."""
    # 100, 75, then 50 to the end: the stretch from day 0 averages 75, from day 100 58.3, from day 200 50
    falling = _means([100, 75] + [50] * 11)
    assert settled_from(falling) == 200 and learning_trend(falling)["settled_from"] == 200
    # a rise of 2 % in the last quarter: the stretch from day 900 averages 50.67, within 0.51 of 51, but from day 800
    # 50.33: near the end only from day 900, the last quarter's first evaluation (a quarter of 1,200 days): not before it
    assert np.isnan(settled_from(_means([50] * 10 + [51] * 3)))
    assert settled_from(_means([50] * 10 + [51] * 3), tolerance=0.7) == 800  # a band in the measure's unit
    # a rise of 6 %: from day 800 the stretch averages 51, 2 away from 53; from day 700 50, 3 away
    late = _means([50] * 10 + [53] * 3)
    assert np.isnan(settled_from(late))
    assert settled_from(late, tolerance=2.1) == 800 and settled_from(late, tolerance=3.5) == 0
    # a level near 0 gets a band of 1 % of a tenth of the curve's largest magnitude (1,000): 1, not 0
    assert settled_from(_means([1000] + [0.5] * 12, spread=0.0)) == 100
    assert np.isnan(settled_from(pd.DataFrame({0: [5.0, 6.0]}, index=[0, 1])))  # no quarter before the last
    tt = trend_table({("a", "cost"): falling, ("a", "drift"): late, ("b", "short"): pd.DataFrame({0: [5.0], 1: [6.0]})})
    assert trend_display(tt).settled_from_day.tolist() == ["200", "last quarter", "—"]
    assert trend_table({("a", "drift"): late}, {"drift": 2.1}).settled_from.tolist() == [800]
    text = trend_sentence(tt.iloc[:2], str.upper)
    assert tt.trend.tolist()[:2] == ["flat", "flat"]  # two seeds: +6 % is within their noise (t < 12.7)
    assert "yet not within 1 % of their end before the last quarter" in text and "A: drift (+6.0 %)" in text
    assert "A: cost" not in text


@pytest.mark.parametrize("scenario", ["p2p-mmr", "stackelberg"])
def test_a_reports_household_clusters_are_the_models(scenario):
    """What the reports read off a run's scenario (`household_clusters`) is what the model plays: its design's
    participant groups (the Stackelberg leader first)."""
    model = make_model(scenario, "rule", 0)
    groups = model.design.participant_groups()
    clusters = household_clusters(model.scenario.to_dict())
    assert groups[len(groups) - len(clusters):] == clusters and len(clusters) == model.scenario.n_households


def test_a_clusters_curve_is_its_households_cost_per_household_and_day():
    """By hand: households 0 and 1 in cluster a, 2 in b (3 does not learn): at episode 0 seed 0 the rewards -7 and
    -21 EUR over the week are a cost of (7 + 21) / 2 / 7 = 2 EUR per household and day; b's -14 is 2 too."""
    rows = [(0, 0, "0", -7.0), (0, 0, "1", -21.0), (0, 0, "2", -14.0), (0, 0, "3", -700.0),
            (100, 0, "0", -7.0), (100, 0, "1", -7.0), (100, 0, "2", 7.0), (100, 0, "3", -700.0)]
    g = pd.DataFrame(rows, columns=["episode", "seed", "household", "eval_score_eur"])
    curves = cluster_curves(g, "household", {"0": "a", "1": "a", "2": "b"})
    assert list(curves) == ["a cluster's cost (€ per household and day)", "b cluster's cost (€ per household and day)"]
    a, b = curves.values()
    assert a.loc[0, 0] == pytest.approx(2.0) and a.loc[100, 0] == pytest.approx(1.0)
    assert b.loc[0, 0] == pytest.approx(2.0) and b.loc[100, 0] == pytest.approx(-1.0)
