"""Exploitability by a trained best responder, for any design (`agents.learning.best_response`).

    freeze the learned policy of every participant
    participant p gets a best responder (its learned actor as the start, fresh critics)
    for episode = 1 .. budget:   training episodes as in `runs.training.train`, p exploring and learning
                                 (the first `warmup` share of them fits the critics only: a fresh
                                 critic's first gradients would otherwise pull the actor off at random)
        every budget/8 episodes: score p on the validation weeks; keep the actor that scored best
                                 (the learned one at episode 0 included)
    on the scoring weeks (no exploration, the same start states for both):
        gain_p = score(p's best responder, others learned) - score(everyone learned)

Selecting on a validation week and scoring on other weeks keeps the selection from flattering the
gain; a gain of exactly 0 means no actor the budget found beat the learned one on the validation week.

A gain near 0 (or below: the budget found nothing better) says that, within what p observes and
this budget, the learned policy is a best response to the others; a large gain says it is not.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pandas as pd

from model import dataset
from runs.training import make_model, play_episode, play_week, training_episode


def participant_scores(scenario, learned, weeks: list[str], participant=None, responder=None, seed: int = 0) -> pd.DataFrame:
    """Per week: every participant's total score with the learned policy, `participant` played by
    `responder` when given. Columns week, participant, score_eur."""
    learned.explore = False
    model = make_model(scenario, learned, seed)
    if responder is not None:
        responder.explore = False
        model.set_policy(responder, [participant])
    ids = list(model.design.participant_ids())
    rows = []
    for label in weeks:
        sums = play_week(model, dataset.resolve_week(label)[0])
        total = sum(sums[1:], sums[0])
        rows += [{"week": label, "participant": pid, "score_eur": float(v)} for pid, v in zip(ids, total)]
    return pd.DataFrame(rows)


def train_best_response(scenario, learned, participant, episodes: int, hp, weeks: list[str], seed: int = 0,
                        curve_every: int | None = None, curve_weeks: tuple[str, ...] = ("eval:1",), warmup: float = 0.1) -> dict:
    """Train a best responder for `participant` against the frozen `learned` policy (`episodes`
    training episodes, hyperparameters `hp` with its episodes set to the budget, its days started part-way as
    the run's were: `hp.exploring_starts`), keep the actor that
    scored best on the validation weeks `curve_weeks` (keep them apart from `weeks`) and score it on
    `weeks`. Returns {"participant", "learned_eur", "responder_eur", "gain_eur", "episodes",
    "best_episode", "seconds", "curve": [(episode, score on the validation weeks)]}; scores are the
    participant's totals over `weeks`."""
    import copy

    import torch

    from agents.learning.best_response import best_responder, participant_rows

    torch.set_num_threads(1)
    t0 = time.perf_counter()
    hp = dataclasses.replace(hp, episodes=max(int(episodes), 1))  # the noise decays over the budget
    learned.explore = False
    model = make_model(scenario, learned, seed, week="train:1")
    design = model.design
    rows = participant_rows(design, participant)
    responder = best_responder(learned, rows, hp, seed)
    model.set_policy(responder, [participant])
    pid = list(design.participant_ids()).index(participant)
    rng = np.random.default_rng([seed, 2, pid])  # which training episode each episode plays
    start_rng = np.random.default_rng([seed, 6, pid])  # the run's exploring starts, if it trained with them
    pool = design.training_episodes()
    curve_model = make_model(scenario, learned, seed)
    curve_model.set_policy(responder, [participant])
    curve_state = curve_model.np_rng.bit_generator.state
    curve, best = [], {}

    def score_curve(episode):
        responder.explore = False
        curve_model.np_rng.bit_generator.state = curve_state  # the same start states at every point
        score = 0.0
        for label in curve_weeks:
            sums = play_week(curve_model, dataset.resolve_week(label)[0])
            score += float(sum(sums[1:], sums[0])[pid])
        curve.append((episode, score))
        if not best or curve[-1][1] > best["score"]:
            best.update(score=curve[-1][1], episode=episode,
                        actors={s.name: copy.deepcopy(s.group.actor.state_dict()) for s in responder.slots})

    every = curve_every or max(episodes // 8, 1)
    n_warmup = int(warmup * episodes)
    score_curve(0)
    for episode in range(1, episodes + 1):
        for s in responder.slots:
            s.group.critic_only = episode <= n_warmup
        week, first_hour, hours = training_episode(design, pool, rng, hp.exploring_starts, start_rng)
        responder.explore = True
        play_episode(model, week, first_hour, hours, learner=responder)
        responder.end_episode()
        if episode % every == 0 or episode == episodes:
            score_curve(episode)
    for s in responder.slots:
        s.group.actor.load_state_dict(best["actors"][s.name])  # in place: the numpy actor's views follow
    base = participant_scores(scenario, learned, weeks, seed=seed)
    played = participant_scores(scenario, learned, weeks, participant, responder, seed=seed)
    learned_eur = float(base.loc[base.participant == participant, "score_eur"].sum())
    responder_eur = float(played.loc[played.participant == participant, "score_eur"].sum())
    return {"participant": participant, "learned_eur": learned_eur, "responder_eur": responder_eur,
            "gain_eur": responder_eur - learned_eur, "episodes": int(episodes), "best_episode": best["episode"],
            "seconds": time.perf_counter() - t0, "curve": curve}
