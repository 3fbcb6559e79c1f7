"""The Stackelberg leader's best response searched hour by hour through a model: the core of the design's
exploitability check (`runs.studies.stackelberg_checks.leader_best_response`, which tables it) and of its cheap
version that a training run's snapshot selection may weigh (`Stackelberg.selection_best_response_eur`).

Each hour, from the same state (the followers' devices, the last hour's auction), every candidate retail
action (sell share, buy share) and the learned leader's own prices is cleared through the model's stages,
the followers' policies answering it, and given the best day-ahead position for the realised residual
(`best_da_position`: the followers see no position, so it changes nothing else). A candidate is valued by
its profit this hour plus, with `rollout`, the learned leader's profit over the rest of the day from the state
it leaves; the best is committed and the search moves on to the next hour.

Money: the leader's profit, + = it earns. Energy: kW over one hour = kWh. Residual R: + = the community buys
from the aggregator.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agents.stackelberg import da_position_share
from model import dataset, devices
from model.markets import settlement

H = devices.HOURS_PER_DAY
#: a candidate must beat the best so far by this much (EUR) to replace it (ties keep the earlier one)
TIE_EUR = 1e-9


@dataclass(frozen=True)
class DayPrices:
    """One day's exogenous prices (24,) (EUR/MWh) and the bound of the leader's day-ahead position."""

    import_eur_mwh: np.ndarray  # grid tariffs: they bound the retail prices
    export_eur_mwh: np.ndarray
    da_eur_mwh: np.ndarray
    imb_long_eur_mwh: np.ndarray  # paid for a long position
    imb_short_eur_mwh: np.ndarray  # paid when short
    da_bound_kw: float


def day_prices(design, day: int) -> DayPrices:
    """The prices of absolute day `day` (week * 7 + day of week) that the design plays."""
    week, first = design.episode_start(day)
    hours = slice(week * dataset.HOURS_PER_WEEK + first, week * dataset.HOURS_PER_WEEK + first + H)
    return DayPrices(design.import_all[hours], design.export_all[hours], design.da_all[hours],
                     design.imb_long_all[hours], design.imb_short_all[hours], float(design.da_bound_kw))


def best_da_position(residual_kw, da_eur_mwh, imb_long_eur_mwh, imb_short_eur_mwh, bound_kw: float):
    """The leader's best day-ahead position for a realised residual R (any shape; the prices the
    same shape or scalars): (q kW, its wholesale cost EUR = day-ahead cost + the imbalance settlement
    of q - R). The cost is piecewise linear in q with its only kink at R, so the best of {R clipped to
    the bound, -bound, +bound} is the optimum (R itself when long price <= day-ahead <= short price);
    ties keep that order."""
    r = np.asarray(residual_kw, dtype=float)
    q = np.stack([np.clip(r, -bound_kw, bound_kw), np.full_like(r, -bound_kw), np.full_like(r, bound_kw)], axis=-1)
    cost = (np.asarray(da_eur_mwh, dtype=float)[..., None] * q / 1000.0
            + settlement.balancing_costs_eur((q - r[..., None]) / 1000.0, imb_long_eur_mwh, imb_short_eur_mwh))
    best = np.argmin(cost, axis=-1)[..., None]
    return np.take_along_axis(q, best, -1)[..., 0], np.take_along_axis(cost, best, -1)[..., 0]


class Probe:
    """Plays the learned policy `base` for everyone, except the leader's action where `leader` is set
    ((3,) shares) and one follower's where `follower` is set ((row, (24, 4) actions by hour of day))."""

    name = "probe"

    def __init__(self, base):
        self.base = base
        self.leader: np.ndarray | None = None
        self.follower: tuple[int, np.ndarray] | None = None

    def act(self, stage, obs, rows):
        if stage == "retail" and self.leader is not None:
            return np.tile(self.leader, (len(rows), 1))
        out = np.array(self.base.act(stage, obs, rows), dtype=float)
        if stage == "auction" and self.follower is not None:
            row, actions = self.follower
            mine = np.asarray(rows) == row
            out[mine] = actions[int(obs[0, 0]) % H]  # column 0: the hour of the week
        return out


def play_day(model, week: int, first: int) -> list:
    """The day's cleared hours, every participant playing its (probe's) policy."""
    model.design.cold_start()
    model.reset_episode(week, first, H)
    hours = []
    while model.running:
        model.step()
        hours.append(model.hour_result)
    return hours


def hour_profit(h, prices: DayPrices, t: int) -> tuple[float, float]:
    """(best day-ahead position kW, the leader's profit with it) for the cleared hour h (its t-th of the day)."""
    q, cost = best_da_position(h.auction.residual_kw, prices.da_eur_mwh[t], prices.imb_long_eur_mwh[t],
                               prices.imb_short_eur_mwh[t], prices.da_bound_kw)
    return float(q), float(h.auction.residual.payment_eur.sum()) - float(cost)


def rest_of_day(model, probe: Probe, h, first: int, committed: list) -> float:
    """The leader's learned profit over the rest of the day after the cleared hour h, the one after the
    `committed` hours; then the model is put back at the start of h's hour, as the committed hours left
    it (the design's state replayed from the day's start: its last-hour information carries a price
    over hours without trade, so the previous hour alone does not restore it)."""
    d, t = model.design, len(committed)
    probe.leader, total = None, 0.0
    d.end_hour(h)
    for hour in range(first + t + 1, first + H):
        model.hour_of_week = hour
        later = model.clear_hour()
        total += later.auction.leader_profit_eur
        d.end_hour(later)
    model.hour_of_week = first  # the design starts its day at the model's hour
    d.begin_episode()
    for before in committed:
        d.end_hour(before)
    model.hour_of_week = first + t
    return total


def value_candidate(model, probe: Probe, candidate, h0, prices: DayPrices, t: int, first: int, committed: list,
                    rollout: bool = True) -> tuple[float, tuple[float, float, float]]:
    """Hour t cleared from its start h0 with the leader's `candidate` (sell share, buy share; None: the learned
    prices): its profit with the best day-ahead position plus, with `rollout`, the learned leader's over the rest
    of the day (the model then put back at h0's hour), and the action that replays it (sell share, buy share,
    best position kW)."""
    probe.leader = None if candidate is None else np.array([candidate[0], candidate[1], 0.0])
    retail, auction = model.design.stages
    h = model.clear_stage(model.clear_stage(h0, retail), auction)
    q, now = hour_profit(h, prices, t)
    later = rest_of_day(model, probe, h, first, committed) if rollout and t < H - 1 else 0.0
    return now + later, (*h.actions["retail"][0, :2], q)


def commit_hour(model, probe: Probe, h0, prices: DayPrices, action: tuple[float, float, float], committed: list) -> None:
    """Play h0's hour with `action` (from `value_candidate`), its position as the leader's day-ahead share."""
    s, b, q = action
    probe.leader = np.array([s, b, da_position_share(q, h0.inputs.forecast_residual_kw, prices.da_bound_kw)])
    model.step()
    committed.append(model.hour_result)


def leader_candidates(grid) -> list:
    """The search's candidates: the learned prices (None) first, then every (sell share, buy share) of grid x grid."""
    return [None, *((s, b) for s in grid for b in grid)]


def search_leader_day(model, probe: Probe, week: int, first: int, candidates: list,
                      rollout: bool = True) -> tuple[DayPrices, list, list]:
    """One day (absolute `week`, its `first` hour) played twice from a cold start: as learned, and with the
    leader's action searched hour by hour among `candidates` ((sell share, buy share) pairs; None: the learned
    prices). Returns (the day's prices, the learned play's hours, the search's hours); the probe's leader is
    unset after."""
    prices = day_prices(model.design, week * 7 + first // H)
    probe.leader = None
    learned = play_day(model, week, first)
    model.design.cold_start()
    model.reset_episode(week, first, H)
    committed: list = []
    for t in range(H):
        h0 = model.begin_hour()
        best = None
        for c in candidates:
            value, action = value_candidate(model, probe, c, h0, prices, t, first, committed, rollout)
            if best is None or value > best[0] + TIE_EUR:
                best = (value, action)
        commit_hour(model, probe, h0, prices, best[1], committed)
    probe.leader = None
    return prices, learned, committed


def leader_gain_eur(model, policy, weeks: list[int], grid, rollout: bool = False) -> float:
    """What the leader's hour-by-hour best response (`search_leader_day` over grid x grid and the learned prices,
    myopic unless `rollout`) earns over the learned `policy` on every day of `weeks` (absolute week numbers), the
    day-ahead position's part included (the best position for the realised residual), EUR summed over the days.
    Plays `model` from a cold start each day, `policy` playing everyone but the searched leader; gives the model
    `policy` back after."""
    candidates = leader_candidates(grid)
    probe = Probe(policy)
    model.set_policy(probe)
    try:
        gain = 0.0
        for week in weeks:
            for first, _ in model.design.episodes_of_week(week):
                prices, learned, best = search_leader_day(model, probe, week, first, candidates, rollout)
                gain += (sum(h.auction.leader_profit_eur for h in best)
                         - sum(h.auction.leader_profit_eur for h in learned))
    finally:
        model.set_policy(policy)
    return float(gain)
