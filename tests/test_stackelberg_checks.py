"""The Stackelberg checks (runs/studies/stackelberg_checks.py) against independent things: days stepped
through `p2p_optimum.simulate_day`, random schedules, hand-worked formulas, brute force over the
leader's day-ahead position, and the same actions replayed through the `MarketModel`."""

from __future__ import annotations

import numpy as np
import pytest

from agents.stackelberg import da_position_kw, da_position_share
from model import devices
from model.markets import settlement
from model.markets.p2p_optimum import simulate_day
from model.model import MarketModel
from model.scenario import load_scenario
from runs.studies import stackelberg_checks as checks
from runs.training import design_hyperparams, load_trained_policy, make_model, play_episode, train

H = devices.HOURS_PER_DAY
SUMMER_DAY = 26 * 7 + 2  # week 26 (test:7), a sunny day: the PV households sell around noon
WINTER_DAY = 0  # week 0 (test:1)


class ReplayPolicy:
    """Plays given actions by hour of day: the leader's (24, 2) price shares and (24,) day-ahead positions
    (kW, turned into its action share against the hour's forecast), the followers' (24, N, 4) or a policy's."""

    name = "replay"

    def __init__(self, design, prices, positions_kw, followers):
        self.design, self.prices, self.positions_kw, self.followers = design, prices, positions_kw, followers

    def act(self, stage, obs, rows):
        t = int(obs[0, 0]) % H  # column 0 of both roles' observations: the hour of the week
        if stage == "auction":
            return self.followers.act(stage, obs, rows) if hasattr(self.followers, "act") else self.followers[t][rows]
        d = self.design
        share = da_position_share(self.positions_kw[t], d.current_inputs.forecast_residual_kw, d.da_bound_kw)
        return np.array([[*self.prices[t], share]])


def write_scenario(path, body: str):
    path.write_text('extends = "stackelberg"\n' + body)
    return load_scenario(path)


@pytest.fixture(scope="module")
def ten():
    """A 10-follower Stackelberg model (every cluster present)."""
    return make_model(load_scenario("stackelberg").with_overrides(n_households=10), "rule", 0)


def day_of_model(model, day: int):
    """The day's cleared hours, played through the model (`MarketModel.step`)."""
    return checks.play_day(model, *model.design.episode_start(day))


# --- check 4: the followers' response ------------------------------------------------------------------
def test_follower_response_is_every_households_own_optimum(ten):
    d = ten.design
    prices = checks.day_prices(d, SUMMER_DAY)
    rng = np.random.default_rng(1)
    buy, sell = checks.retail_prices(prices, rng.uniform(0, 1, H), rng.uniform(0, 1, H))
    r = checks.follower_response(d, SUMMER_DAY, buy, sell)
    assert r.replay_gap_kw < 1e-6
    assert np.array_equal(r.limit_share, (r.net_kw > 0).astype(float))  # truthful
    assert r.actions().shape == (H, d.n, 4)

    # the schedule stepped by p2p_optimum.simulate_day, each household billed alone at the retail prices
    params, state, day_in = d.day_problem(SUMMER_DAY, buy, sell)
    acts = [r.device_actions[..., k] for k in range(3)]
    sim = simulate_day(params, state, day_in, acts, p2p=False)
    np.testing.assert_allclose(sim.net_kw, r.net_kw, atol=1e-9)
    np.testing.assert_allclose(sim.household_cost_eur, r.lp_cost_eur, atol=1e-6)

    # brute force over actions: no random schedule and not the rule policy does better for any household
    others = [simulate_day(params, state, day_in, [rng.uniform(lo, 1, (H, d.n)) for lo in (-1, 0, 0)], p2p=False)
              for _ in range(40)]
    others.append(simulate_day(params, state, day_in, lambda h, s, load, pv, t: devices.rule_actions(params, s, h, load, pv, t),
                               p2p=False))
    worst_gap = min(float((o.household_cost_eur - r.lp_cost_eur).min()) for o in others)
    assert worst_gap > -1e-7
    assert max(float((o.household_cost_eur - r.lp_cost_eur).max()) for o in others) > 0.01  # the devices matter

    # a subset answers the same as the whole
    sub = checks.follower_response(d, SUMMER_DAY, buy, sell, rows=[7, 2])
    np.testing.assert_allclose(sub.net_kw, r.net_kw[:, [7, 2]], atol=1e-9)


# --- check 4: the leader's outcome against the MarketModel --------------------------------------------
@pytest.mark.parametrize("day", [SUMMER_DAY, WINTER_DAY])
def test_leader_outcome_equals_the_model_replaying_the_same_actions(ten, day):
    d = ten.design
    prices = checks.day_prices(d, day)
    rng = np.random.default_rng(day)
    s, b = rng.uniform(0, 1, H), rng.uniform(0, 1, H)
    buy, sell = checks.retail_prices(prices, s, b)
    r = checks.follower_response(d, day, buy, sell)
    out = checks.leader_outcome(d, day, buy, sell, r)

    policy = ReplayPolicy(None, np.column_stack([s, b]), out.da_position_kw, r.actions())
    model = MarketModel(scenario=ten.scenario, policy=policy, seed=0, collect=False)
    policy.design = model.design
    hours = day_of_model(model, day)
    np.testing.assert_allclose([h.retail.da_position_kw for h in hours], out.da_position_kw, rtol=0, atol=1e-9)
    np.testing.assert_allclose([h.retail.buy_eur_mwh for h in hours], buy, rtol=0, atol=1e-12)
    np.testing.assert_allclose([h.auction.leader_profit_eur for h in hours], out.leader_profit_eur, rtol=0, atol=1e-9)
    np.testing.assert_allclose([-h.auction.follower_reward for h in hours], out.follower_cost_eur, rtol=0, atol=1e-9)
    np.testing.assert_allclose([h.auction.residual_kw for h in hours], out.residual_kw, rtol=0, atol=1e-9)
    np.testing.assert_allclose([h.auction.net_kw for h in hours], r.net_kw, rtol=0, atol=1e-12)
    volume = [h.auction.auction.volume_kwh if h.auction.auction is not None else 0.0 for h in hours]
    np.testing.assert_allclose(volume, out.auction_volume_kwh, rtol=0, atol=1e-12)
    if day == SUMMER_DAY:
        assert out.auction_volume_kwh.max() > 0.1  # the auction trades: the test exercises it


def test_the_day_ahead_share_is_relative_to_the_forecast():
    """Hand-worked: bound 150 kW, forecast 30 kW; 0 buys the forecast, +-1 the bounds, halfway on each side."""
    assert da_position_kw(0.0, 30.0, 150.0) == 30.0
    assert da_position_kw(1.0, 30.0, 150.0) == 150.0 and da_position_kw(-1.0, 30.0, 150.0) == -150.0
    assert da_position_kw(0.5, 30.0, 150.0) == 90.0 and da_position_kw(-0.5, 30.0, 150.0) == -60.0
    assert da_position_kw(0.0, 400.0, 150.0) == 150.0 and da_position_kw(-2.0, 0.0, 150.0) == -150.0  # clipped
    for q in (-150.0, -60.0, 0.0, 30.0, 90.0, 150.0):
        assert da_position_kw(da_position_share(q, 30.0, 150.0), 30.0, 150.0) == pytest.approx(q, abs=1e-12)
    assert da_position_share(500.0, 30.0, 150.0) == 1.0


def test_best_da_position_is_the_brute_force_minimum():
    rng = np.random.default_rng(0)
    bound = 30.0
    residual = rng.uniform(-50, 50, 200)
    da = rng.uniform(-20, 120, 200)
    long_, short = da + rng.uniform(-40, 20, 200), da + rng.uniform(-20, 40, 200)  # also long > da or short < da
    q, cost = checks.best_da_position(residual, da, long_, short, bound)
    grid = np.linspace(-bound, bound, 6001)
    brute = (da[:, None] * grid / 1000.0
             + settlement.balancing_costs_eur((grid - residual[:, None]) / 1000.0, long_, short))
    step_eur = (np.abs(da) + np.abs(long_) + np.abs(short)) * (grid[1] - grid[0]) / 1000.0
    assert np.all(cost <= brute.min(axis=1) + 1e-12)
    assert np.all(brute.min(axis=1) - cost <= step_eur)
    assert np.all(np.abs(q) <= bound)
    # the usual order (long <= day-ahead <= short): no imbalance where the residual is within the bound
    usual = (long_ <= da) & (da <= short) & (np.abs(residual) < bound)
    np.testing.assert_allclose(q[usual], residual[usual])


# --- check 4: the exact Stackelberg solution -----------------------------------------------------------
def test_exact_stackelberg_of_households_without_devices_by_hand(tmp_path):
    """Three PV-only households (no devices: net = load - PV whatever the prices), truthful limits: the
    auction matches the short side at the long side's retail price, so the leader's revenue is
    buy * R+ - sell * R- of the community residual R. The profit rises with the buy price and falls
    with the sell price: the argmax is the tariffs, (sell share 0, buy share 1)."""
    sc = write_scenario(tmp_path / "pv3.toml", 'n_households = 3\n[[clusters]]\nname = "pv-only"\nshare = 1.0\n'
                                               'pv_kwp = [2.0, 6.0]\nbattery_kwh = [0.0, 0.0]\n')
    grid = (0.0, 0.25, 0.5, 1.0)
    table, best = checks.exact_stackelberg(sc, SUMMER_DAY, grid)
    assert len(table) == 16
    d = make_model(sc, "rule", 0).design
    day_in = d.day_problem(SUMMER_DAY)[2]
    x = day_in.load_kw - day_in.pv_kw
    resid = x.sum(axis=1)
    assert (x > 0).any(axis=1).any() and ((x > 0).any(axis=1) & (x < 0).any(axis=1)).any()  # a buyer meets a seller
    prices = checks.day_prices(d, SUMMER_DAY)
    q = np.clip(resid, -d.da_bound_kw, d.da_bound_kw)
    dev = q - resid
    wholesale = (prices.da_eur_mwh * q + prices.imb_short_eur_mwh * np.maximum(-dev, 0)
                 - prices.imb_long_eur_mwh * np.maximum(dev, 0)) / 1000.0
    for row in table.itertuples():
        sell = prices.export_eur_mwh + row.sell_share * (prices.import_eur_mwh - prices.export_eur_mwh)
        buy = sell + row.buy_share * (prices.import_eur_mwh - sell)
        revenue = (buy * np.maximum(resid, 0) - sell * np.maximum(-resid, 0)) / 1000.0
        assert row.leader_profit_eur == pytest.approx((revenue - wholesale).sum(), abs=1e-9)
        assert row.follower_cost_eur == pytest.approx(revenue.sum(), abs=1e-9)  # auction payments sum to zero
        assert row.residual_kwh == pytest.approx(resid.sum(), abs=1e-9)
        assert row.auction_volume_kwh == pytest.approx(np.minimum(np.maximum(x, 0).sum(1), np.maximum(-x, 0).sum(1)).sum())
    assert (best.sell_share, best.buy_share) == (0.0, 1.0)
    assert (table.leader_profit_eur < best.leader_profit_eur - 1e-6).sum() == 15  # a unique argmax


def test_exact_stackelberg_argmax_and_replayed_prices():
    sc = load_scenario("stackelberg").with_overrides(n_households=6)
    table, best = checks.exact_stackelberg(sc, SUMMER_DAY, (0.0, 0.5, 1.0))
    assert (table.leader_profit_eur <= best.leader_profit_eur).all()
    tariff = table[(table.sell_share == 0.0) & (table.buy_share == 1.0)].iloc[0]
    assert best.leader_profit_eur >= tariff.leader_profit_eur
    d = make_model(sc, "rule", 0).design
    prices = checks.day_prices(d, SUMMER_DAY)
    at_tariffs = checks.replay_prices(d, SUMMER_DAY, prices.import_eur_mwh, prices.export_eur_mwh)
    assert at_tariffs["leader_profit_eur"] == pytest.approx(tariff.leader_profit_eur, abs=1e-6)
    # the study's path for any prices (a learned leader's): the best point's prices give the best row
    buy, sell = checks.retail_prices(prices, best.sell_share, best.buy_share)
    again = checks.replay_prices(d, SUMMER_DAY, buy, sell)
    assert again == pytest.approx({k: best[k] for k in again}, abs=1e-9, nan_ok=True)
    assert again["retail_revenue_eur"] - again["wholesale_cost_eur"] == pytest.approx(again["leader_profit_eur"])


# --- check 5: exploitability of a trained run ----------------------------------------------------------
@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tiny trained run: 8 followers, 2 training days."""
    folder = tmp_path_factory.mktemp("stackelberg_run")
    (folder / "small.toml").write_text('extends = "stackelberg"\nn_households = 8\n')
    train(str(folder / "small.toml"), episodes=2, out=folder / "run", eval_every=2, checkpoint_every=2, progress=False)
    return folder / "run"


def test_leader_best_response_beats_the_learned_leader_and_replays(run):
    days, hours = checks.leader_best_response(run, ["test:1"], grid=(0.0, 0.5, 1.0), days=[1])
    assert len(days) == 1 and len(hours) == H
    row = days.iloc[0]
    assert row.regret_eur >= -1e-9
    assert row.regret_eur == pytest.approx(row.best_response_profit_eur - row.learned_profit_eur)

    learner, meta = load_trained_policy(run)
    model = make_model(meta["scenario_arg"], learner, meta["seed"])
    # every committed hour holds the day-ahead position it was valued with: the best one for its residual
    # (the search's rollouts clear later hours, whose inputs must not leak into the hour it commits)
    prices = checks.day_prices(model.design, 1)
    best_q, _ = checks.best_da_position(hours.best_residual_kw.to_numpy(), prices.da_eur_mwh, prices.imb_long_eur_mwh,
                                        prices.imb_short_eur_mwh, prices.da_bound_kw)
    np.testing.assert_allclose(hours.best_da_position_kw, best_q, atol=1e-9)
    scores = play_episode(model, 0, 24)  # test:1 is week 0; day 1 starts at hour 24
    assert row.learned_profit_eur == pytest.approx(scores[0][0], abs=1e-9)

    # the best response's actions replayed through a fresh model: the same profit, hour by hour
    probe = checks.Probe(learner)
    replay = make_model(meta["scenario_arg"], probe, meta["seed"])
    replay.design.cold_start()
    replay.reset_episode(0, 24, H)
    for t in range(H):
        probe.leader = hours.loc[t, ["best_sell_share", "best_buy_share", "best_da_share"]].to_numpy(float)
        replay.step()
        assert replay.hour_result.auction.leader_profit_eur == pytest.approx(hours.loc[t, "best_profit_eur"], abs=1e-9)


def test_leader_regret_splits_into_the_position_and_the_prices(run):
    """The position part of the leader's regret is the learned prices replayed with the best day-ahead
    position for each hour's residual: the same followers' play, a different wholesale settlement."""
    days, hours = checks.leader_best_response(run, ["test:1"], grid=(0.0, 1.0), days=[1])
    row = days.iloc[0]
    assert row.position_regret_eur >= -1e-9
    assert row.position_regret_eur + row.price_regret_eur == pytest.approx(row.regret_eur)
    learner, meta = load_trained_policy(run)
    learner.explore = False
    prices = checks.day_prices(make_model(meta["scenario_arg"], "rule", 0).design, 1)  # test:1 is week 0, day 1
    room = np.maximum(prices.import_eur_mwh - hours.learned_sell_eur_mwh, 1e-12)
    shares = np.column_stack([(hours.learned_sell_eur_mwh - prices.export_eur_mwh) / (prices.import_eur_mwh - prices.export_eur_mwh),
                              (hours.learned_buy_eur_mwh - hours.learned_sell_eur_mwh) / room])
    policy = ReplayPolicy(None, shares, hours.learned_best_da_position_kw.to_numpy(), learner)
    replay = make_model(meta["scenario_arg"], policy, meta["seed"])
    policy.design = replay.design
    replay.design.cold_start()
    replay.reset_episode(0, 24, H)
    profit = 0.0
    for t in range(H):
        h = hours.loc[t]
        replay.step()
        r = replay.hour_result
        assert r.retail.da_position_kw == pytest.approx(h.learned_best_da_position_kw, abs=1e-9)
        assert r.auction.residual_kw == pytest.approx(h.learned_residual_kw, abs=1e-9)  # the same followers' play
        assert r.auction.leader_profit_eur == pytest.approx(h.learned_position_profit_eur, abs=1e-9)
        profit += r.auction.leader_profit_eur
    assert profit - row.learned_profit_eur == pytest.approx(row.position_regret_eur, abs=1e-9)


def test_myopic_leader_best_response_is_the_brute_force_best_hour(run):
    grid = (0.0, 0.5, 1.0)
    _, hours = checks.leader_best_response(run, ["test:1"], grid=grid, days=[1], rollout=False)
    learner, meta = load_trained_policy(run)
    probe = checks.Probe(learner)
    model = make_model(meta["scenario_arg"], probe, meta["seed"])
    bound = model.design.da_bound_kw
    best = -np.inf
    for s in grid:  # the first hour, every price point and day-ahead share on a fine grid, each from the day's start
        for q in np.linspace(-1, 1, 81):
            probe.leader = np.array([s, 0.0, q])
            for b in grid:
                probe.leader[1] = b
                model.design.cold_start()
                model.reset_episode(0, 24, H)
                model.step()
                best = max(best, model.hour_result.auction.leader_profit_eur)
    top = hours.loc[0, "best_profit_eur"]
    assert top >= best - 1e-9
    assert top <= best + 2 * bound / 40 * 200 / 1000  # within the day-ahead grid's step (<= 2 bound / 40) at <= 200 EUR/MWh
    assert hours.loc[0, "best_profit_eur"] >= hours.loc[0, "learned_profit_eur"] - 1e-9


def test_the_selection_search_is_the_checks_myopic_search_and_gives_the_model_back(run):
    """`selection_best_response_eur` (what a run with `selection_best_response` weighs into its snapshot choice):
    the leader's gain is the check's myopic hour-by-hour search on the same grid, summed over the week's seven days;
    the followers are not searched (NaN); afterwards the model plays the learned policy again, as a fresh one does."""
    learner, meta = load_trained_policy(run)
    model = make_model(meta["scenario_arg"], learner, meta["seed"])
    d = model.design
    gain = d.selection_best_response_eur(model, learner, [0])  # test:1 is week 0
    days, _ = checks.leader_best_response(run, ["test:1"], grid=d.selection_shares, rollout=False)
    assert len(days) == 7 and len(gain) == d.n + 1 and np.isnan(gain[1:]).all()
    assert gain[0] == pytest.approx(days.regret_eur.sum(), abs=1e-9)
    assert gain[0] > 0  # the untrained leader leaves money on the table
    after = [h.auction.leader_profit_eur for h in day_of_model(model, 3)]
    fresh = [h.auction.leader_profit_eur for h in day_of_model(make_model(meta["scenario_arg"], learner, meta["seed"]), 3)]
    assert after == fresh


def test_a_run_weighing_the_leaders_gain_trains_the_same_and_curves_it(tmp_path):
    """`selection_best_response` changes only which snapshot is kept: the last policy is byte for byte a run's without
    it, and the training curve's leader gain of the last evaluation is the design's search on that
    policy over the selection weeks (the followers' NaN)."""
    (tmp_path / "small.toml").write_text('extends = "stackelberg"\nn_households = 8\n')
    scenario = str(tmp_path / "small.toml")
    kw = dict(episodes=3, eval_every=3, checkpoint_every=3, progress=False)
    plain = train(scenario, out=tmp_path / "plain",
                  hp=design_hyperparams(scenario, ["selection_weeks=eval:1", "selection_best_response=0"]), **kw)
    hp = design_hyperparams(scenario, ["selection_weeks=eval:1"])  # the design's default weighs the leader's gain
    assert hp.selection_best_response == 1.0
    weighed = train(scenario, out=tmp_path / "weighed", hp=hp, **kw)
    assert (plain.run_dir / "policy_last.pt").read_bytes() == (weighed.run_dir / "policy_last.pt").read_bytes()
    assert "best_response_gain_eur" not in plain.curve
    last = weighed.curve[weighed.curve.episode == 3]
    learner, meta = load_trained_policy(weighed.run_dir, last=True)
    model = make_model(meta["scenario_arg"], learner, meta["seed"])
    gain = model.design.selection_best_response_eur(model, learner, hp.selection_week_numbers())
    np.testing.assert_allclose(last.best_response_gain_eur.to_numpy(), gain, rtol=0, atol=1e-9)


def test_leader_schedule_response_improves_on_the_learned_leader_and_replays(run):
    """The best price schedule by hour of day over two days at once: it keeps or beats the learned play
    summed over the days, and its schedule replayed through fresh models, one day at a time, earns what it
    reports (the best day-ahead position for each hour's residual, as in the hour-by-hour search)."""
    days, schedule = checks.leader_schedule_response(run, ["test:1"], grid=(0.0, 1.0), days=[1, 3])
    assert days.day.tolist() == [1, 3] and len(schedule) == H
    assert days.schedule_profit_eur.sum() >= days.learned_profit_eur.sum() - 1e-9
    by_hour, _ = checks.leader_best_response(run, ["test:1"], grid=(0.0, 1.0), days=[1, 3])
    np.testing.assert_allclose(days.learned_profit_eur, by_hour.learned_profit_eur, atol=1e-9)

    learner, meta = load_trained_policy(run)
    learner.explore = False
    for row in days.itertuples():
        probe = checks.Probe(learner)
        model = make_model(meta["scenario_arg"], probe, meta["seed"])
        prices = checks.day_prices(model.design, row.day)
        model.design.cold_start()
        model.reset_episode(0, 24 * row.day, H)  # test:1 is week 0
        profit = cost = 0.0
        for t in range(H):
            s, b = schedule.loc[t, ["sell_share", "buy_share"]]
            probe.leader = None if np.isnan(s) else np.array([s, b, 0.0])  # the position changes no follower
            model.step()
            h = model.hour_result
            if not np.isnan(s):
                assert h.actions["retail"][0, :2].tolist() == [s, b]
            profit += checks.best_da_position(h.auction.residual_kw, prices.da_eur_mwh[t], prices.imb_long_eur_mwh[t],
                                              prices.imb_short_eur_mwh[t], prices.da_bound_kw)[1] * -1
            profit += float(h.auction.residual.payment_eur.sum())
            cost -= float(h.auction.follower_reward.sum())
        assert profit == pytest.approx(row.schedule_profit_eur, abs=1e-6)
        assert cost == pytest.approx(row.schedule_follower_cost_eur, abs=1e-9)


def test_follower_best_response_plays_its_plan_through_the_model(run):
    table = checks.follower_best_response(run, ["test:1"], sample=3, seed=4, days=[1])
    assert len(table) == 3 and table.follower.is_unique
    np.testing.assert_allclose(table.regret_eur, table.learned_cost_eur - table.best_response_cost_eur)
    assert (table.auction_gain_eur >= -1e-9).all()  # a truthful limit never does worse than retail

    learner, meta = load_trained_policy(run)
    model = make_model(meta["scenario_arg"], learner, meta["seed"])
    cost = -play_episode(model, 0, 24)[0][1:]
    np.testing.assert_allclose(table.learned_cost_eur, cost[table.follower], atol=1e-9)

    # replayed here: the follower's net positions are its LP's, its cost the table's
    d = model.design
    first = day_of_model(make_model(meta["scenario_arg"], learner, meta["seed"]), 7 * 0 + 1)
    buy = np.array([h.retail.buy_eur_mwh for h in first])
    sell = np.array([h.retail.sell_eur_mwh for h in first])
    probe = checks.Probe(learner)
    replay = make_model(meta["scenario_arg"], probe, meta["seed"])
    for row in table.itertuples():
        plan = checks.follower_response(d, 1, buy, sell, rows=[row.follower])
        probe.follower = (row.follower, plan.actions()[:, 0])
        played = day_of_model(replay, 1)
        np.testing.assert_allclose([h.auction.net_kw[row.follower] for h in played], plan.lp_net_kw[:, 0], atol=1e-6)
        assert -sum(h.auction.follower_reward[row.follower] for h in played) == pytest.approx(row.best_response_cost_eur, abs=1e-9)
        assert row.lp_cost_eur == pytest.approx(plan.lp_cost_eur[0], abs=1e-9)
