"""The trained best responder (`agents.learning.best_response`, `runs.best_response`): one
participant learns against everyone else's frozen learned policy."""

import dataclasses

import numpy as np
import pytest
import torch

from agents.learning.best_response import best_responder, participant_rows
from agents.learning.hyperparams import HyperParams
from runs.best_response import participant_scores, train_best_response
from runs.training import load_trained_policy, make_model, train

HP = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 5, "episodes": 2})


@pytest.fixture(scope="module")
def arbitrage_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("br") / "run"
    train("one-arb", seed=0, out=out, eval_every=2, hp=HP, progress=False)
    return out


def _weights(team):
    return {k: v.clone() for s in team.slots for k, v in s.group.actor.state_dict().items()} | {
        f"{s.name}.{k}": v.clone() for s in team.slots for k, v in s.group.critic.state_dict().items()}


def test_an_untrained_responder_plays_exactly_the_learned_policy(arbitrage_run):
    learned, _ = load_trained_policy(arbitrage_run)
    r = train_best_response("one-arb", learned, 5, 0, HP, ["test:1"], seed=0)
    assert r["learned_eur"] != 0.0
    assert r["responder_eur"] == r["learned_eur"] and r["gain_eur"] == 0.0


def test_a_responder_plays_one_participant_and_leaves_the_others_frozen(arbitrage_run):
    learned, _ = load_trained_policy(arbitrage_run)
    before = _weights(learned)
    r = train_best_response("one-arb", learned, 7, 3, HP, ["test:1"], seed=0)
    after = _weights(learned)
    assert all(torch.equal(before[k], after[k]) for k in before)  # the others' (and its own learned) nets untouched
    assert r["episodes"] == 3 and len(r["curve"]) >= 2 and r["curve"][0][0] == 0
    # the actor kept is the one that scored best on the validation week, the learned one (episode 0) included
    assert r["curve"][[e for e, _ in r["curve"]].index(r["best_episode"])][1] == max(v for _, v in r["curve"])


def test_a_warm_up_fits_the_critics_and_leaves_the_actor_at_the_learned_policy(arbitrage_run):
    learned, _ = load_trained_policy(arbitrage_run)
    r = train_best_response("one-arb", learned, 5, 3, HP, ["test:1"], seed=0, warmup=1.0)
    assert r["gain_eur"] == 0.0 and len({v for _, v in r["curve"]}) == 1


def test_participant_rows_and_a_responder_per_role(arbitrage_run):
    learned, _ = load_trained_policy(arbitrage_run)
    model = make_model("one-arb", learned, 0)
    rows = participant_rows(model.design, 5)
    assert rows == {"primary": 3, "secondary": 3}  # aggregators 2..11: aggregator 5 is row 3 of both roles
    team = best_responder(learned, rows, HP)
    assert [s.name for s in team.slots] == ["primary", "secondary"] and all(s.group.n == 1 for s in team.slots)
    with pytest.raises(ValueError, match="not one of"):
        participant_rows(model.design, 99)


def test_a_responder_finds_the_gain_a_bad_policy_leaves(arbitrage_run):
    """Aggregator 5's learned up bid is forced to the lowest price (a = 0): in the congested winter
    week the DSO buys its flexibility anyway, so a higher bid earns more (the constant-price check says
    how much) and a responder that learns must find part of it."""
    from runs.studies.arbitrage_best_response import (
        COARSE,
        constant_prices,
        summarise_constant_prices,
    )

    learned, _ = load_trained_policy(arbitrage_run)
    g = learned.slots[1].group  # secondaries (inverted gradients: a = clip(0.5 + z, 0, 1))
    with torch.no_grad():
        g.actor.layers[-1].weight[3].zero_()
        g.actor.layers[-1].bias[3].fill_(-5.0)  # a = 0: the lowest price for both directions
    cp = summarise_constant_prices(constant_prices("one-arb", learned, ["test:1"], [5], COARSE, max_hours=None))
    assert cp.shortfall_eur.iloc[0] > 100.0  # a constant higher bid earns more: there is something to find
    hp = dataclasses.replace(HP, lr_actor=1e-3, updates_per_episode=20)
    r = train_best_response("one-arb", learned, 5, 25, hp, ["test:1"], seed=0)
    assert r["gain_eur"] > 0.1 * cp.shortfall_eur.iloc[0]


def test_household_designs_get_responders_too(tmp_path):
    hp = HyperParams.from_dict(HyperParams().to_dict() | {"updates_per_episode": 2, "episodes": 2})
    train("p2p-mmr", seed=0, out=tmp_path / "p2p", eval_every=2, hp=hp, progress=False)
    learned, _ = load_trained_policy(tmp_path / "p2p")
    model = make_model("p2p-mmr", learned, 0)
    pid = model.design.participant_ids()[10]
    r = train_best_response("p2p-mmr", learned, pid, 0, hp, ["test:1"], seed=0)
    # untrained: its cluster's shared policy (one row through BLAS instead of the cluster's batch: ~1e-6 €)
    assert r["gain_eur"] == pytest.approx(0.0, abs=1e-4) and abs(r["learned_eur"]) > 0.1
    r = train_best_response("p2p-mmr", learned, pid, 2, hp, ["test:1"], seed=0)
    scores = participant_scores("p2p-mmr", learned, ["test:1"], seed=0)
    assert np.isclose(scores.loc[scores.participant == pid, "score_eur"].sum(), r["learned_eur"])
