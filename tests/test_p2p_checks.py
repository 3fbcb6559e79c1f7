"""The P2P exploitability check (runs/studies/p2p_checks.py) against independent things: the learned
play's own record, the schedules priced by `p2p_optimum.simulate_day`, random schedules, and the
plan replayed through the model; and the clock check (`household_checks.clock_schedule`: one household's
best device schedule by hour of day) against each day's LP, whose optimum no executable schedule beats.

Regret signs: the price-taker's regret at the faced prices (learned - LP) is >= 0, since the LP is
optimal for those prices and its peak rate; the realised regret (learned - the replay's cost) is
signed: + = the plan saves that much; - = the plan's own effect on the MMR prices and the peak
penalty, and the others' reaction to it, cost more than it saved. The two differ by exactly the
plan's realised cost less its LP cost."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from model import dataset, devices
from model.designs.stackelberg_search import play_day
from model.markets.p2p_optimum import simulate_day
from model.scenario import load_scenario
from runs.studies import p2p_checks as checks
from runs.studies.household_checks import (
    _priced_days, clock_schedule, clock_schedule_check, household_plans, trained_model,
)
from runs.training import design_hyperparams, load_trained_policy, make_model, train

H = devices.HOURS_PER_DAY
WEEK = "test:2"
DOW = 1  # the checked day of that week


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run: 24 households, 2 training days (an untrained-like policy whose checked day exceeds the
    peak threshold: without the default's rule start, which plays the batteries by the rule in a run this short, and
    keeping the snapshot by the evaluation week alone; the threshold lowered to 0.8 kW per household, since the heat
    pumps' set points (stop 46) keep the untrained community below the default 1.0 on that day)."""
    folder = tmp_path_factory.mktemp("p2p_run")
    (folder / "small.toml").write_text('extends = "p2p-mmr"\nn_households = 24\n[platform]\n'
                                       'peak_threshold_kw_per_household = 0.8\n')
    hp = replace(design_hyperparams(str(folder / "small.toml")), rule_start_actions="", rule_start_episodes=0, rule_start_critic_episodes=0,
                 rule_anchor_weight=0.0,
                 selection_weeks="eval:1")
    train(str(folder / "small.toml"), episodes=2, out=folder / "run", eval_every=2, checkpoint_every=2, progress=False,
          hp=hp)
    return folder / "run"


@pytest.fixture(scope="module")
def table(run):
    return checks.household_best_response(run, [WEEK], per_cluster=2, seed=3, days=[DOW])


def _day() -> int:
    return dataset.resolve_week(WEEK)[0] * 7 + DOW


def _learned_day(run):
    """The checked day played with the learned policies: (model, probe, its cleared hours, buy, sell, peak rate)."""
    model, probe = trained_model(run, "p2p")
    hours = play_day(model, *model.design.episode_start(_day()))
    buy, sell = checks._column(hours, "mmr.buy_eur_mwh"), checks._column(hours, "mmr.sell_eur_mwh")
    return model, probe, hours, buy, sell, checks.peak_rate_eur_mwh(model.design, checks._column(hours, "net_kw"))


def test_the_sample_is_seeded_and_per_learning_cluster(run, table):
    d = make_model(load_scenario("p2p-mmr").with_overrides(n_households=24), "rule", 0).design
    rows = checks.sample_households(d, 2, 3)
    assert np.array_equal(rows, checks.sample_households(d, 2, 3)) and len(np.unique(rows)) == len(rows)
    learning = {d.cluster_names[k] for k in d.learning_clusters}
    assert sorted(table.household) == rows.tolist()
    assert table.groupby("cluster").size().to_dict() == {c: 2 for c in learning}  # the passive cluster is left out
    assert (table.day == _day()).all() and (table.week == WEEK).all()


def test_learned_cost_is_the_records_and_the_lp_beats_the_learned_schedule_at_the_faced_prices(run, table):
    """Priced at the MMR prices it faced and its peak rate (`simulate_day` alone at those prices), every
    household's learned schedule costs exactly what the model's record says it paid; the LP at those
    prices does no worse than that, nor than random schedules: regret >= 0 for a price-taker."""
    model, _, hours, buy, sell, rate = _learned_day(run)
    d = model.design
    learner, meta = load_trained_policy(run)
    learner.explore = False
    recorded = make_model(meta["scenario_arg"], learner, meta["seed"], collect=True)
    play_day(recorded, *d.episode_start(_day()))
    hh = recorded.record.frame("households")
    record_cost = -hh.groupby("household").reward_eur.sum().to_numpy()
    np.testing.assert_allclose(table.learned_cost_eur, record_cost[table.household], rtol=0, atol=1e-9)

    # the peak rate is what each household's recorded peak share costs per kWh it imports
    shares = checks._column(hours, "peak_share_eur")
    assert shares.sum() > 0.1  # the day exceeds the threshold: the rate matters
    np.testing.assert_allclose(rate[:, None] * np.maximum(checks._column(hours, "net_kw"), 0) / 1000, shares, atol=1e-12)

    params, state, day_in = d.day_problem(_day(), buy + rate, sell)
    day_in = replace(day_in, peak_form=None)
    executed = checks._column(hours, "executed_actions")  # (24, N, 3)
    learned = simulate_day(params, state, day_in, [executed[..., k] for k in range(3)], p2p=False)
    np.testing.assert_allclose(learned.household_cost_eur, record_cost, rtol=0, atol=1e-9)
    assert (table.lp_cost_eur <= table.learned_cost_eur + 1e-7).all()

    rng = np.random.default_rng(0)
    rows = table.household.to_numpy()
    for _ in range(10):
        other = simulate_day(params, state, day_in, [rng.uniform(lo, 1, (H, d.n)) for lo in (-1, 0, 0)], p2p=False)
        assert (other.household_cost_eur[rows] >= table.lp_cost_eur.to_numpy() - 1e-7).all()


def test_the_replayed_household_plays_its_lp_and_everyone_else_their_learned_policies(run, table):
    model, probe, hours, buy, sell, rate = _learned_day(run)
    d = model.design
    rows = table.household.to_numpy()
    plans = household_plans(d, _day(), buy + rate, sell, rows)
    np.testing.assert_allclose(plans.cost_eur, table.lp_cost_eur, rtol=0, atol=1e-9)
    for k, row in enumerate(table.itertuples()):
        probe.plan = (row.household, plans.actions[:, k])
        played = play_day(model, *d.episode_start(_day()))
        np.testing.assert_allclose(checks._column(played, "net_kw")[:, row.household], plans.net_kw[:, k], atol=1e-6)
        assert -checks._column(played, "reward")[:, row.household].sum() == pytest.approx(row.best_response_cost_eur, abs=1e-9)
        # the first hour, before any price it moved is seen: everyone else acts as in the learned play
        others = np.arange(d.n) != row.household
        np.testing.assert_array_equal(played[0].p2p.requested[others], hours[0].p2p.requested[others])
    probe.plan = None


def test_regret_signs(table):
    np.testing.assert_allclose(table.regret_eur, table.learned_cost_eur - table.best_response_cost_eur)
    assert (table.learned_cost_eur - table.lp_cost_eur >= -1e-7).all()  # the price-taker's regret
    impact = table.best_response_cost_eur - table.lp_cost_eur  # what its own price and peak impact cost the plan
    np.testing.assert_allclose(table.regret_eur, table.learned_cost_eur - table.lp_cost_eur - impact)
    assert (table.max_price_change_eur_mwh > 0).any()  # one household moves the MMR prices of 24


@pytest.mark.parametrize("form", ["hourly", "daily"])
def test_peak_rate_prices_every_households_peak_share(form):
    """Rule-based households, both penalty forms: rate x import = each household's recorded share."""
    sc = load_scenario("p2p-mmr").with_overrides(n_households=24, peak_penalty=form, peak_threshold_kw_per_household=0.3)
    model = make_model(sc, "rule", 0)
    day = dataset.resolve_week("test:1")[0] * 7  # a winter day: the community imports
    hours = play_day(model, *model.design.episode_start(day))
    net = checks._column(hours, "net_kw")
    rate = checks.peak_rate_eur_mwh(model.design, net)
    shares = checks._column(hours, "peak_share_eur") + checks._column(hours, "daily_peak_share_eur")
    assert shares.sum() > 0.1 and (np.count_nonzero(rate) == 1) == (form == "daily")
    np.testing.assert_allclose((rate[:, None] * np.maximum(net, 0) / 1000).sum(axis=0), shares.sum(axis=0), atol=1e-12)


def test_the_responders_are_not_chosen_on_the_weeks_they_are_scored_on_or_the_learners_were_kept_on():
    """In both household designs the trained responders' actor is chosen on weeks that are neither scored by the
    checks nor among the learners' selection weeks (`keep_best` kept the learned snapshot there)."""
    from runs.studies import p2p, stackelberg
    from runs.study import profile_hyperparams

    for study in (p2p, stackelberg):
        for profile in study.PROFILES.values():
            chosen = {w for spec in profile.responder_validation_weeks for w in dataset.resolve_week(spec)}
            scored = {w for spec in getattr(profile, "br_weeks", ()) + getattr(profile, "leader_br_weeks", ())
                      + getattr(profile, "follower_br_weeks", ()) for w in dataset.resolve_week(spec)}
            hp = profile_hyperparams(study.SCENARIO, profile)
            assert hp.keep_best, study.__name__
            assert chosen and scored and not chosen & scored and not chosen & set(hp.selection_week_numbers())
    with pytest.raises(ValueError, match=r"share \['test:2'\].*Pick another week"):
        p2p.P2PProfile("x", (), 1, 1, 1, 1, br_weeks=("test:2",), responder_validation_weeks=("test:2",))
    with pytest.raises(ValueError, match=r"the checks' weeks share \['test:8'\].*Pick another week"):
        stackelberg.StackelbergProfile("x", (), 1, 1, 1, 1, follower_br_weeks=("test:8",),
                                       responder_validation_weeks=("test:8",))


# --- the clock check (household_checks.clock_schedule): one household's best device schedule by hour of day
def _battery_household(design) -> int:
    return int(np.flatnonzero(design.params.bat_capacity_kwh > 0)[0])


def _played(run, days):
    """The days played with the learned policies: (design, buy (D, 24), sell, each day's recorded stage actions
    {(hour of the week, row): action}, the last day's first hour)."""
    model, probe = trained_model(run, "p2p")
    buy, sell, acts = [], [], []
    for day in days:
        week, first = model.design.episode_start(day)
        probe.seen = {}
        hours = play_day(model, week, first)
        b, s = checks.faced_prices(model.design, hours)
        buy.append(b)
        sell.append(s)
        acts.append(probe.seen)
    return model.design, np.array(buy), np.array(sell), acts, first


def test_one_day_the_schedule_reaches_the_lp_and_never_beats_it(run):
    """Over a single day a schedule by hour of day is a day plan: the search starts from the LP's own actions
    and ends at the LP's optimum to the solver's tolerance (priced by stepping the devices, not by the LP)."""
    day = dataset.resolve_week(WEEK)[0] * 7 + 1
    d, buy, sell, seen, first = _played(run, [day])
    row = _battery_household(d)
    learned = np.array([[seen[0][(first + t, row)] for t in range(H)]])
    s = clock_schedule(d, [day], buy, sell, learned, row, levels=5, max_passes=1)
    lp = household_plans(d, day, buy[0], sell[0], [row]).cost_eur[0]
    assert s.lp_eur[0] == pytest.approx(lp, abs=1e-12)
    assert s.clock_eur[0] == pytest.approx(lp, abs=1e-6)
    assert s.learned_eur[0] >= lp - 1e-6


def test_the_week_check_prices_the_learned_play_as_the_record_and_orders_lp_clock_learned(run):
    """Over a week: the learned actions priced at the faced prices cost what the model says the household paid
    (P2P: bills and the peak share are linear at fixed prices and rate); the LP of each day (hindsight) <= the
    best schedule by the clock <= the learned actions; the replay plays the schedule's device actions."""
    model, _ = trained_model(run, "p2p")
    row = _battery_household(model.design)
    table = clock_schedule_check(run, [WEEK], [row], "p2p", checks.faced_prices, checks.day_costs, levels=5)
    r = table.iloc[0]
    assert r.household == row and r.week == WEEK
    assert r.learned_priced_eur == pytest.approx(r.learned_cost_eur, abs=1e-9)
    assert r.lp_eur <= r.clock_eur + 1e-7  # no executable schedule beats each day's LP
    assert r.clock_share_of_lp_gap <= 1.0 + 1e-9

    # the search only improves on where it starts: the learned actions' hourly mean, the same every day
    d, buy, sell, seen, _ = _played(run, days := [dataset.resolve_week(WEEK)[0] * 7 + k for k in range(7)])
    firsts = [24 * k for k in range(7)]
    learned = np.array([[seen[j][(f + t, row)] for t in range(H)] for j, f in enumerate(firsts)])
    s = clock_schedule(d, days, buy, sell, learned, row, levels=5, max_passes=2)
    problems = [d.day_problem(day, buy[j], sell[j]) for j, day in enumerate(days)]
    mean = np.broadcast_to(learned[..., :3].mean(axis=0)[None, :, None, :], (7, H, 1, 3))
    assert s.clock_eur.sum() <= _priced_days(problems, row, mean).sum() + 1e-9

    # the replay: the household's first three stage actions are the schedule's, by hour of day (every device's columns)
    schedule = np.array([[r[f"{name}_h{t:02d}"] for name in ("battery", "ev", "heat_pump")] for t in range(H)])
    m, probe = trained_model(run, "p2p")
    week, first = dataset.resolve_week(WEEK)[0], 24
    probe.plan = (row, schedule)
    probe.seen = {}
    play_day(m, week, first)
    played = np.array([probe.seen[(first + t, row)][:3] for t in range(H)])
    np.testing.assert_array_equal(played, schedule)
    others = [k for k in probe.seen if k[1] != row]
    assert others  # everyone else acted through the learned policy


def test_the_reports_table_pools_households_and_seeds_per_cluster():
    """`clock_table`: means per cluster over weeks, households and seeds; the share of the gap closed is taken on
    the pooled means, NaN where the learned play is already the LP's."""
    from runs.reports.common import clock_table

    rows = [  # cluster, household, seed, learned, clock realised, learned priced, clock, lp
        ("pv-battery", 1, 0, 1.0, 0.5, 1.2, 0.6, 0.2), ("pv-battery", 2, 1, 3.0, 2.5, 3.2, 2.6, 2.2),
        ("pv-only", 3, 0, 0.5, 0.5, 0.4, 0.4, 0.4)]
    df = pd.DataFrame(rows, columns=["cluster", "household", "seed", "learned_cost_eur", "clock_realised_cost_eur",
                                     "learned_priced_eur", "clock_eur", "lp_eur"])
    t = clock_table(df).set_index("cluster")
    assert t.loc["pv-battery", "households"] == 2 and t.loc["pv-battery", "seeds"] == 2
    assert t.loc["pv-battery", "learned_priced_eur_per_day"] == pytest.approx(2.2)
    assert t.loc["pv-battery", "clock_share_of_lp_gap"] == pytest.approx((2.2 - 1.6) / (2.2 - 1.2))
    assert np.isnan(t.loc["pv-only", "clock_share_of_lp_gap"])
