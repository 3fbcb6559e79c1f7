"""The Stackelberg design's checks 4 and 5 (spec: stackelberg.md, "Baselines, checks").

Check 4, an exact Stackelberg solution on a small instance:
- `follower_response`: every follower's exact best response to a day of retail prices: its devices
  scheduled for the day by its own perfect-foresight LP (`model.markets.p2p_optimum.solve_day`, one
  household per LP, buying at the retail buy price and selling at the retail sell price) and truthful
  limit prices (a buyer bids the retail buy price, a seller asks the retail sell price). The LP's
  schedule is replayed through `model.devices.step`: what the auction sees is what the devices do.
- `leader_outcome`: the day those followers play, through the real auction
  (`double_auction.clear_double_auction`, `settle_residual`) and the wholesale settlement
  (`settlement.balancing_costs_eur`), the functions the design's `Auctioneer.clear` calls, with the
  leader's best day-ahead position for each hour's realised residual.
- `exact_stackelberg`: the leader's constant price shares searched over a grid, each point answered
  by the followers' exact response; `replay_prices` answers any hourly prices (a learned leader's).

  The followers' response is exact for the spec's follower model (truthful limits, devices planned
  against the retail prices), not for followers who would also anticipate the auction price. The
  day-ahead position is chosen knowing the hour's residual (the leader's perfect forecast): an upper
  bound on what a position committed before the hour can earn. Where an LP has several optima (a
  retail buy price equal to the sell price leaves a battery indifferent), the solver's choice stands.

Check 5, exploitability of a trained run (`localmarl train --scenario stackelberg ...`) on both levels:
- `leader_best_response`: the followers' learned policies fixed, the leader's actions searched hour
  by hour (retail price shares on a grid, the day-ahead position best for the realised residual).
- `follower_best_response`: one sampled follower plays its LP best response to the retail prices it
  faced, everyone else (the leader included) their learned policies, replayed through the model.

Money: + = the participant pays (a follower's cost), except the leader's profit (+ = it earns).
Energy: kW over one hour = kWh. Residual R: + = the community buys from the aggregator.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from model import dataset, devices
from model.designs.stackelberg_search import (
    TIE_EUR, DayPrices, H, Probe, best_da_position, commit_hour, day_prices, hour_profit, leader_candidates, play_day,
    search_leader_day, value_candidate,
)
from model.markets import double_auction
from model.markets.p2p_optimum import solve_day
from model.scenario import load as load_scenario
from model.scenario import scenario_sha256
from runs.training import load_trained_policy, make_model

#: the exact solution's grid of price shares (for the sell share and for the buy share)
SHARES = tuple(round(0.1 * k, 1) for k in range(11))
#: the leader best response's grid, 6 x 6 (a quick profile's)
QUICK_SHARES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


# ---------------------------------------------------------------------------------------------
# the day's prices and the leader's mapping from action shares to retail prices
# ---------------------------------------------------------------------------------------------
def retail_prices(prices: DayPrices, sell_share, buy_share) -> tuple[np.ndarray, np.ndarray]:
    """(buy, sell) (24,) EUR/MWh for the leader's shares (scalars or (24,)), as `Auctioneer.post` maps
    them: sell = export + s (import - export), buy = sell + b (import - sell)."""
    sell = prices.export_eur_mwh + np.asarray(sell_share, dtype=float) * (prices.import_eur_mwh - prices.export_eur_mwh)
    buy = sell + np.asarray(buy_share, dtype=float) * (prices.import_eur_mwh - sell)
    return buy, sell


# ---------------------------------------------------------------------------------------------
# check 4: the followers' exact response and the leader's outcome
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, eq=False)
class FollowerResponse:
    """The followers' best response to a day of retail prices (hours first: (24, n), n = len(rows))."""

    rows: np.ndarray  # (n,) the followers (the design's household rows)
    device_actions: np.ndarray  # (24, n, 3) executed battery, EV, heat-pump actions (`devices.step` replays them)
    limit_share: np.ndarray  # (24, n) truthful: 1 for a buyer (limit = retail buy), 0 for a seller (retail sell)
    net_kw: np.ndarray  # (24, n) the replayed net positions: the followers' orders
    lp_net_kw: np.ndarray  # (24, n) the LPs' own net positions
    lp_cost_eur: np.ndarray  # (n,) each LP's optimum: its day at the retail prices without the auction
    ev_penalty_eur: np.ndarray  # (24, n) of the replay, at the grid tariff as the design pays it
    comfort_penalty_eur: np.ndarray  # (24, n)
    storage_value_eur: np.ndarray  # (n,) the energy stored over the day, at the day's mid-market rate

    @property
    def replay_gap_kw(self) -> float:
        """The largest |replayed - LP| net position (0 to rounding: the LP's schedule is executable)."""
        return float(np.abs(self.net_kw - self.lp_net_kw).max())

    def actions(self) -> np.ndarray:
        """(24, n, 4) the followers' stage actions: devices and limit price share."""
        return np.concatenate([self.device_actions, self.limit_share[..., None]], axis=2)


def follower_response(design, day: int, buy_eur_mwh, sell_eur_mwh, rows=None) -> FollowerResponse:
    """Each follower's exact best response to the leader's day of retail prices (buy, sell: (24,)
    EUR/MWh): its LP (`solve_day` with that household alone, buying at `buy` and selling at `sell`;
    the EV penalty and stored value at the grid tariffs, as the design pays them) and truthful limits.
    rows: the followers to answer (default all)."""
    rows = np.arange(design.n) if rows is None else np.asarray(rows, dtype=int)
    buy, sell = np.asarray(buy_eur_mwh, dtype=float), np.asarray(sell_eur_mwh, dtype=float)
    params, state, day_in = design.day_problem(day, buy, sell)
    n = len(rows)
    lp_net, lp_cost, bat, ev, hp = np.empty((H, n)), np.empty(n), np.empty((H, n)), np.empty((H, n)), np.empty((H, n))
    for k, i in enumerate(rows):
        one = [i]
        opt = solve_day(params.select(one), _state_of(state, one),
                        replace(day_in, load_kw=day_in.load_kw[:, one], pv_kw=day_in.pv_kw[:, one]))
        lp_net[:, k], lp_cost[k] = opt.net_kw[:, 0], opt.cost.total_eur
        bat[:, k], ev[:, k], hp[:, k] = opt.bat_action[:, 0], opt.ev_action[:, 0], opt.hp_action[:, 0]

    p, s = params.select(rows), _state_of(state, rows)
    start = s
    net, ev_pen, comfort = np.empty((H, n)), np.empty((H, n)), np.empty((H, n))
    executed = np.empty((H, n, 3))
    for h in range(H):
        r = devices.step(p, s, h, day_in.t_out_c[h], bat[h], ev[h], hp[h])
        net[h] = day_in.load_kw[h, rows] + r.bat_kw + r.ev_kw + r.hp_kw - day_in.pv_kw[h, rows]
        executed[h] = np.column_stack([r.bat_action, r.ev_action, r.hp_action])
        ev_pen[h] = r.ev_unmet_kwh * (design.ev_penalty_factor * day_in.ev_penalty_import_eur_mwh[h] / 1000.0)
        comfort[h] = r.comfort_violation_kh * design.comfort_eur_kh
        s = r.state
    stored = devices.terminal_value_eur(p, start, s, day_in.terminal_price_eur_mwh)
    return FollowerResponse(rows, executed, (net > 0).astype(float), net, lp_net, lp_cost, ev_pen, comfort, stored)


def _state_of(state: devices.DeviceState, rows) -> devices.DeviceState:
    return devices.DeviceState(state.bat_energy_kwh[rows], state.ev_energy_kwh[rows], state.t_in_c[rows])


@dataclass(frozen=True, eq=False)
class DayOutcome:
    """A day of the game: the leader's prices, the followers' play, per hour (24,) or (24, N)."""

    buy_eur_mwh: np.ndarray
    sell_eur_mwh: np.ndarray
    da_position_kw: np.ndarray  # the leader's best position for the realised residual
    residual_kw: np.ndarray  # R
    bought_kwh: np.ndarray  # (24,) unmatched demand the followers bought from the aggregator
    sold_kwh: np.ndarray  # (24,) unmatched supply they sold to it
    auction_volume_kwh: np.ndarray
    auction_price_eur_mwh: np.ndarray  # NaN where nothing traded
    retail_revenue_eur: np.ndarray  # what the followers paid the aggregator
    wholesale_cost_eur: np.ndarray  # day-ahead cost + imbalance cost
    leader_profit_eur: np.ndarray  # retail revenue - wholesale cost
    follower_cost_eur: np.ndarray  # (24, N) auction + retail payments + device penalties - stored value (last hour)

    def summary(self) -> dict:
        """The day's totals (one row of `exact_stackelberg`'s table)."""
        traded = self.auction_volume_kwh > 0
        volume = float(self.auction_volume_kwh.sum())
        return {
            "mean_buy_eur_mwh": float(self.buy_eur_mwh.mean()), "mean_sell_eur_mwh": float(self.sell_eur_mwh.mean()),
            "leader_profit_eur": float(self.leader_profit_eur.sum()), "follower_cost_eur": float(self.follower_cost_eur.sum()),
            "retail_revenue_eur": float(self.retail_revenue_eur.sum()), "wholesale_cost_eur": float(self.wholesale_cost_eur.sum()),
            "auction_volume_kwh": volume,
            "auction_price_eur_mwh": float((self.auction_price_eur_mwh[traded] * self.auction_volume_kwh[traded]).sum() / volume)
            if volume > 0 else float("nan"),
            "residual_bought_kwh": float(self.bought_kwh.sum()), "residual_sold_kwh": float(self.sold_kwh.sum()),
            "residual_kwh": float(self.residual_kw.sum()),
        }


def leader_outcome(design, day: int, buy_eur_mwh, sell_eur_mwh, response: FollowerResponse) -> DayOutcome:
    """The leader's profit and every follower's cost when all followers play `response` (of every
    follower, in row order) to the retail prices (buy, sell) (24,): each hour the orders clear in the
    uniform-price double auction (or not, where the scenario has none), the rest settles at the retail
    prices, and the leader holds its best day-ahead position for the realised residual
    (`best_da_position`). The same market functions as `Auctioneer.clear`: the numbers agree with the
    model's to rounding."""
    if len(response.rows) != design.n or np.any(response.rows != np.arange(design.n)):
        raise ValueError(f"leader_outcome needs every follower's response in row order (0..{design.n - 1}); "
                         "call follower_response without rows")
    prices = day_prices(design, day)
    buy, sell = np.asarray(buy_eur_mwh, dtype=float), np.asarray(sell_eur_mwh, dtype=float)
    limit = sell[:, None] + response.limit_share * (buy - sell)[:, None]
    volume, price = np.zeros(H), np.full(H, np.nan)
    bought, sold, revenue = np.empty(H), np.empty(H), np.empty(H)
    cost = response.ev_penalty_eur + response.comfort_penalty_eur
    cost[-1] -= response.storage_value_eur
    for h in range(H):
        net = response.net_kw[h]
        if design.auction_enabled:
            auction = double_auction.clear_double_auction(net, limit[h])
            traded, volume[h], price[h] = auction.traded_kwh, auction.volume_kwh, auction.price_eur_mwh
            cost[h] += auction.payment_eur
        else:
            traded = np.zeros(design.n)
        residual = double_auction.settle_residual(traded, net, buy[h], sell[h])
        bought[h], sold[h], revenue[h] = residual.bought_kwh.sum(), residual.sold_kwh.sum(), residual.payment_eur.sum()
        cost[h] += residual.payment_eur
    residual_kw = bought - sold
    q, wholesale = best_da_position(residual_kw, prices.da_eur_mwh, prices.imb_long_eur_mwh, prices.imb_short_eur_mwh,
                                    prices.da_bound_kw)
    return DayOutcome(buy, sell, q, residual_kw, bought, sold, volume, price, revenue, wholesale, revenue - wholesale, cost)


def replay_prices(design, day: int, buy_eur_mwh, sell_eur_mwh) -> dict:
    """Any hourly retail prices (24,) (a learned leader's, say) answered by the followers' exact
    response: the day's totals (`DayOutcome.summary`), comparable with `exact_stackelberg`'s rows."""
    response = follower_response(design, day, buy_eur_mwh, sell_eur_mwh)
    return leader_outcome(design, day, buy_eur_mwh, sell_eur_mwh, response).summary()


def exact_stackelberg(scenario, day: int, grid=SHARES) -> tuple[pd.DataFrame, pd.Series]:
    """The exact Stackelberg solution of day `day` (absolute) among constant price shares: for every
    (sell share, buy share) in grid x grid, the followers' exact response (`follower_response`) and
    the leader's profit (`leader_outcome`). Meant for a small instance (few followers: 121 points x N
    LPs). Returns (every grid point's row: sell_share, buy_share and `DayOutcome.summary()`'s columns;
    the row of the largest leader profit, the first of equals)."""
    design = make_model(load_scenario(scenario), "rule", 0).design
    prices = day_prices(design, day)
    rows = []
    for s, b in itertools.product(grid, grid):
        buy, sell = retail_prices(prices, s, b)
        rows.append({"sell_share": float(s), "buy_share": float(b), **replay_prices(design, day, buy, sell)})
    table = pd.DataFrame(rows)
    return table, table.loc[table["leader_profit_eur"].idxmax()]


# ---------------------------------------------------------------------------------------------
# check 5: exploitability of a trained run
# ---------------------------------------------------------------------------------------------
def _trained_model(run_dir):
    """A model of the run's scenario in which a `Probe` of its learned policy plays everyone."""
    models, probe = _trained_models(run_dir, 1)
    return models[0], probe


def _trained_models(run_dir, copies: int) -> tuple[list, Probe]:
    """`copies` models of the run's scenario (one per day played side by side), one `Probe` of its learned
    policy playing everyone in all of them."""
    learner, meta = load_trained_policy(run_dir)
    learner.explore = False
    sc = load_scenario(meta["scenario_arg"])
    if scenario_sha256(sc) != meta["scenario_sha256"]:
        warnings.warn(f"scenario '{sc.name}' changed since {run_dir} was trained; checking it on the current one",
                      stacklevel=4)
    probe = Probe(learner)
    models = [make_model(sc, probe, meta["seed"])]
    models += [make_model(load_scenario(meta["scenario_arg"]), probe, meta["seed"]) for _ in range(copies - 1)]
    return models, probe


def _days(model, weeks, days):
    """(week label, absolute week, first hour) of the days played: each week's days (`days`: which of
    them, 0..6; default all)."""
    out = []
    for label in weeks:
        week = dataset.resolve_week(label)[0]
        for k, (first, _) in enumerate(model.design.episodes_of_week(week)):
            if days is None or k in days:
                out.append((label, week, first))
    return out


def leader_best_response(run_dir, weeks, grid=QUICK_SHARES, days=None, rollout: bool = True):
    """The leader's best response to the followers' learned policies of a trained run, searched hour
    by hour over the days of `weeks` (labels: "test:1", ...; `days`: which days of the week, 0..6).

    Each hour, from the same state (the followers' devices, the last hour's auction): every
    candidate retail action, (sell share, buy share) in grid x grid and the learned leader's own prices,
    is cleared through the model's stages (the learned followers respond to it), given the best
    day-ahead position for the realised residual (`best_da_position`; the followers see no position,
    so it changes nothing else; the regret includes what a better position alone earns, and the hours
    table keeps the learned positions), and valued by its profit this
    hour plus, with `rollout`, the learned leader's profit over the rest of the day from the state it
    leaves. The best is committed and the search moves on. With `rollout` the result is a one-step
    improvement of the learned leader, so its day profit is >= the learned play's (regret >= 0);
    without it (myopic, ~10x faster: a 50-follower week on a 6 x 6 grid takes ~3 s instead of ~30 s on
    one core) it may fall below. Either is a lower bound on the true best
    response (an action sequence over the whole day), which a greedy grid search need not find.

    Returns (days, hours): per day (week, week_number, day, learned_profit_eur,
    best_response_profit_eur, regret_eur = best - learned, split into position_regret_eur (what the
    best day-ahead position for the realised residual alone adds to the learned play: it knows the
    residual, which the leader only forecasts) and price_regret_eur (the rest: the retail prices and the
    followers' response to them), learned_follower_cost_eur,
    best_response_follower_cost_eur, mean retail prices of both); per hour of both plays (prices,
    day-ahead position, profit, and the best response's action shares, which replay it) and the
    learned play's profit with the best position (`learned_best_da_position_kw`,
    `learned_position_profit_eur`)."""
    model, probe = _trained_model(run_dir)
    candidates = leader_candidates(grid)
    hour_rows = []
    for label, week, first in _days(model, weeks, days):
        day = week * 7 + first // H
        prices, learned, committed = search_leader_day(model, probe, week, first, candidates, rollout)
        for t, (hl, hb) in enumerate(zip(learned, committed)):
            q_learned, position_profit = hour_profit(hl, prices, t)
            hour_rows.append({
                "week": label, "week_number": week, "day": day, "hour": t,
                **_hour_columns("learned", hl), "learned_best_da_position_kw": q_learned,
                "learned_position_profit_eur": position_profit, **_hour_columns("best", hb),
                "best_sell_share": float(hb.actions["retail"][0, 0]), "best_buy_share": float(hb.actions["retail"][0, 1]),
                "best_da_share": float(hb.actions["retail"][0, 2]),
            })
    hours = pd.DataFrame(hour_rows)
    if hours.empty:
        return pd.DataFrame(), hours
    sums = hours.groupby(["week", "week_number", "day"], sort=False)
    days_df = sums[["learned_profit_eur", "best_profit_eur", "learned_follower_cost_eur", "best_follower_cost_eur"]].sum()
    days_df = days_df.rename(columns={"best_profit_eur": "best_response_profit_eur",
                                      "best_follower_cost_eur": "best_response_follower_cost_eur"})
    days_df.insert(2, "regret_eur", days_df["best_response_profit_eur"] - days_df["learned_profit_eur"])
    position = sums["learned_position_profit_eur"].sum() - days_df["learned_profit_eur"]
    days_df.insert(3, "position_regret_eur", position)
    days_df.insert(4, "price_regret_eur", days_df["regret_eur"] - position)
    means = sums[["learned_buy_eur_mwh", "learned_sell_eur_mwh", "best_buy_eur_mwh", "best_sell_eur_mwh"]].mean()
    return pd.concat([days_df, means.add_prefix("mean_")], axis=1).reset_index(), hours


def leader_schedule_response(run_dir, weeks, grid=QUICK_SHARES, days=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """How much of the leader's price regret a policy that sees only the clock could take: its best
    response among price schedules by hour of day, one schedule per week, found as `leader_best_response`
    finds the hour-by-hour one, with every day of the week (`days`: which of them, 0..6; default all)
    played side by side.

    Hour by hour, each candidate (a grid point, or the learned leader's own prices of each day) is cleared
    in all of the week's days from the state the schedule so far left them in, valued by its profit this
    hour plus the learned leader's over the rest of each day, summed over the days; the best is committed
    in all of them. The day-ahead position is the best for the realised residual, as in
    `leader_best_response`, so the difference between the two searches is the prices' information alone:
    the hour-by-hour search may set each day's price on what that day's followers will do; the schedule,
    only on the hour. A one-step improvement of the learned play (its own prices are a candidate), and a
    lower bound on what the leader's observations (the hour among them) could reach.

    Returns (days, schedule): per day (week, week_number, day, learned_profit_eur,
    learned_position_profit_eur (the learned prices with the best position), schedule_profit_eur,
    learned_follower_cost_eur, schedule_follower_cost_eur); each week's schedule by hour of day (week,
    hour, sell_share, buy_share; NaN where the learned prices were kept)."""
    candidates = leader_candidates(grid)
    day_rows, schedule_rows = [], []
    for label in weeks:
        week = dataset.resolve_week(label)[0]
        models, probe = _trained_models(run_dir, 7 if days is None else len(days))
        firsts = [first for _, _, first in _days(models[0], [label], days)]
        models = models[:len(firsts)]
        prices = [day_prices(m.design, week * 7 + first // H) for m, first in zip(models, firsts)]
        probe.leader = None
        learned = [play_day(m, week, first) for m, first in zip(models, firsts)]
        for m, first in zip(models, firsts):
            m.design.cold_start()
            m.reset_episode(week, first, H)
        committed: list[list] = [[] for _ in models]
        for t in range(H):
            starts = [m.begin_hour() for m in models]
            best = None
            for c in candidates:
                total, acts = 0.0, []
                for m, first, h0, p, done in zip(models, firsts, starts, prices, committed):
                    value, action = value_candidate(m, probe, c, h0, p, t, first, done)
                    total += value
                    acts.append(action)
                if best is None or total > best[0] + TIE_EUR:
                    best = (total, c, acts)
            _, c, acts = best
            schedule_rows.append({"week": label, "hour": t, "sell_share": np.nan if c is None else c[0],
                                  "buy_share": np.nan if c is None else c[1]})
            for m, h0, p, done, action in zip(models, starts, prices, committed, acts):
                commit_hour(m, probe, h0, p, action, done)
        probe.leader = None
        for first, p, hl, hs in zip(firsts, prices, learned, committed):
            day_rows.append({
                "week": label, "week_number": week, "day": week * 7 + first // H,
                "learned_profit_eur": sum(h.auction.leader_profit_eur for h in hl),
                "learned_position_profit_eur": sum(hour_profit(h, p, t)[1] for t, h in enumerate(hl)),
                "schedule_profit_eur": sum(h.auction.leader_profit_eur for h in hs),
                "learned_follower_cost_eur": -sum(float(h.auction.follower_reward.sum()) for h in hl),
                "schedule_follower_cost_eur": -sum(float(h.auction.follower_reward.sum()) for h in hs),
            })
    return pd.DataFrame(day_rows), pd.DataFrame(schedule_rows)


def _hour_columns(who: str, h) -> dict:
    return {f"{who}_buy_eur_mwh": h.retail.buy_eur_mwh, f"{who}_sell_eur_mwh": h.retail.sell_eur_mwh,
            f"{who}_da_position_kw": h.retail.da_position_kw, f"{who}_residual_kw": h.auction.residual_kw,
            f"{who}_profit_eur": h.auction.leader_profit_eur,
            f"{who}_follower_cost_eur": -float(h.auction.follower_reward.sum())}


def follower_sample(n: int, sample: int, seed: int = 0) -> np.ndarray:
    """The followers the checks sample: `sample` of the `n`, seeded, sorted rows."""
    return np.sort(np.random.default_rng(seed).choice(n, size=min(sample, n), replace=False))


def follower_faced_prices(design, hours: list) -> tuple[np.ndarray, np.ndarray]:
    """(buy, sell) (24,) EUR/MWh: the retail prices the followers faced in a played day."""
    buy, sell = (np.array([getattr(h.retail, f) for h in hours]) for f in ("buy_eur_mwh", "sell_eur_mwh"))
    return buy, sell


def follower_day_costs(hours: list) -> np.ndarray:
    """(N,) each follower's cost of a played day (its rewards' negative: auction, retail, penalties)."""
    return -sum(np.asarray(h.auction.follower_reward, dtype=float) for h in hours)


def follower_best_response(run_dir, weeks, sample: int = 5, seed: int = 0, days=None) -> pd.DataFrame:
    """One follower's best response with everyone else (the leader and the other followers) at their
    learned policies, for a seeded sample of `sample` followers, on the days of `weeks` (`days`:
    which days of the week, 0..6).

    A first replay of the day (everyone learned) gives the retail prices the follower faced and its
    learned cost; its LP (`follower_response`) plans its devices against those prices, with a truthful
    limit price; the day is replayed through the model with the follower playing that plan (the
    leader sees the last hour's auction, so its prices may move). The regret = learned cost - realised
    cost is signed: + = the plan saves that much; - = the learned follower does better than a plan
    against retail prices, e.g. by exploiting the auction (whose price can beat the retail prices)
    or the leader's reaction, which the LP does not model.

    Per (day, follower): week, week_number, day, follower, cluster, learned_cost_eur, lp_cost_eur (the
    plan's cost at the faced prices without the auction), best_response_cost_eur (realised),
    regret_eur, auction_gain_eur (what the auction saved the plan against settling all at the realised
    retail prices, >= 0 with a truthful limit), max_price_change_eur_mwh (of the retail prices, replay
    vs first play), learned_leader_profit_eur, best_response_leader_profit_eur."""
    model, probe = _trained_model(run_dir)
    d = model.design
    rows = follower_sample(d.n, sample, seed)
    out = []
    for label, week, first in _days(model, weeks, days):
        day = week * 7 + first // H
        probe.follower = None
        learned = play_day(model, week, first)
        buy, sell = follower_faced_prices(d, learned)
        learned_cost = -sum(h.auction.follower_reward for h in learned)
        response = follower_response(d, day, buy, sell, rows)
        plans = response.actions()
        for k, i in enumerate(rows):
            probe.follower = (int(i), plans[:, k])
            played = play_day(model, week, first)
            buy2, sell2 = follower_faced_prices(d, played)
            net = np.array([h.auction.net_kw[i] for h in played])
            cost = -sum(float(h.auction.follower_reward[i]) for h in played)
            auction_eur = sum(float(h.auction.auction.payment_eur[i]) for h in played if h.auction.auction is not None)
            retail_eur = sum(float(h.auction.residual.payment_eur[i]) for h in played)
            at_retail = float((buy2 * np.maximum(net, 0.0) - sell2 * np.maximum(-net, 0.0)).sum() / 1000.0)
            out.append({
                "week": label, "week_number": week, "day": day, "follower": int(i),
                "cluster": d.cluster_names[d.cluster[i]], "learned_cost_eur": float(learned_cost[i]),
                "lp_cost_eur": float(response.lp_cost_eur[k]), "best_response_cost_eur": cost,
                "regret_eur": float(learned_cost[i]) - cost, "auction_gain_eur": at_retail - auction_eur - retail_eur,
                "max_price_change_eur_mwh": float(max(np.abs(buy2 - buy).max(), np.abs(sell2 - sell).max())),
                "learned_leader_profit_eur": sum(h.auction.leader_profit_eur for h in learned),
                "best_response_leader_profit_eur": sum(h.auction.leader_profit_eur for h in played),
            })
        probe.follower = None
    return pd.DataFrame(out)


def replay_learned_prices(run_dir, days) -> pd.DataFrame:
    """The learned leader of a trained run beside the exact solution: for each absolute day of `days`,
    play the day with the learned policies (leader and followers), then answer the leader's posted
    hourly prices with the followers' exact response (`replay_prices`). Per day: the learned play's
    leader profit and followers' cost, its mean posted prices, and the leader profit and followers'
    cost those prices earn against LP followers (comparable with `exact_stackelberg`'s rows)."""
    model, _ = _trained_model(run_dir)
    rows = []
    for day in days:
        week, first = model.design.episode_start(int(day))
        hours = play_day(model, week, first)
        buy = np.array([h.retail.buy_eur_mwh for h in hours])
        sell = np.array([h.retail.sell_eur_mwh for h in hours])
        learned_cost = -float(sum(h.auction.follower_reward.sum() for h in hours))
        replayed = replay_prices(model.design, int(day), buy, sell)
        rows.append({"day": int(day), "learned_profit_eur": float(sum(h.auction.leader_profit_eur for h in hours)),
                     "learned_follower_cost_eur": learned_cost, "mean_buy_eur_mwh": float(buy.mean()),
                     "mean_sell_eur_mwh": float(sell.mean()), "replayed_profit_eur": replayed["leader_profit_eur"],
                     "replayed_follower_cost_eur": replayed["follower_cost_eur"]})
    return pd.DataFrame(rows)
