"""Counterfactual samples (`HyperParams.counterfactual_samples`, `Team.counterfactuals`,
`MarketModel.reclear`): an hour cleared again with other LFM bids pays what the market pays those
bids, and the learner stores those variants for its secondaries only."""

import dataclasses

import numpy as np
import pytest

from agents.learning.hyperparams import HyperParams
from model import dataset
from model.designs.arbitrage import bought_flexibility
from runs.studies import arbitrage_best_response as br
from runs.training import make_model, store_hour

HP = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "hidden_sizes": [8], "counterfactual_samples": 3})


def _active_hours(model, n):
    """The first n hours of test:1 in which the DSO buys flexibility, cleared by the model's policy."""
    model.design.cold_start()
    model.reset_week(dataset.resolve_week("test:1")[0])
    out = []
    while len(out) < n:
        h = model.clear_hour()
        if bought_flexibility(h.lfm.up_mw.sum() + h.lfm.dn_mw.sum()):
            out.append((model.hour_of_week, h))
        model.step()
    return out


def test_reclearing_with_the_played_bids_is_the_hour_and_with_other_bids_what_the_market_pays_them():
    learner = make_model("one-arb", "truthful", 0).design.default_learner(HP, 0, "cpu")
    model = make_model("one-arb", learner, 0)
    for hour_of_week, h in _active_hours(model, 3):
        same = model.reclear(h, "lfm", h.actions["lfm"])
        for role in ("primary", "secondary"):
            np.testing.assert_array_equal(same.rewards[role], h.rewards[role])
        # aggregator 5 bidding 300 €/MWh up: what the constant-bid check's probe earns in that hour
        k = list(model.scenario.aggregator_ids).index(5)
        bids = np.array(h.actions["lfm"], dtype=float)
        bids[k] = br.constant_up_bid(300.0, bids[k], k)
        other = model.reclear(h, "lfm", bids)
        check = br.constant_prices("one-arb", learner, ["test:1"], [5], dataclasses.replace(br.TINY, price_frac=(0.3,)),
                                   seed=0, max_hours=hour_of_week + 1)
        want = check[check.hour_of_week == hour_of_week][f"{br.UP_AT_PREFIX}300{br.UP_AT_SUFFIX}"].item()
        assert float(other.lem.r1[k] + other.balancing.r2[k]) == pytest.approx(want, rel=1e-9, abs=1e-9)
        assert other.rewards["secondary"][k] != h.rewards["secondary"][k] or other.lfm.up_mw[k] == h.lfm.up_mw[k]


def test_the_learner_stores_m_variants_per_hour_for_its_secondaries_each_one_agent_off_its_bid():
    learner = make_model("one-arb", "truthful", 0).design.default_learner(HP, 0, "cpu")
    model = make_model("one-arb", learner, 0)
    primary, secondary = (s.group for s in learner.slots)
    variants = 0
    for i, (_, h) in enumerate(_active_hours(model, 2)):
        store_hour(learner, model, h, last=False)
        assert primary.buffer.size == i + 1 and secondary.buffer.size == 4 * (i + 1)  # the hour and 3 variants
        played = secondary.buffer.act[4 * i].reshape(10, 2)
        for j in range(1, 4):
            row = 4 * i + j
            act = secondary.buffer.act[row].reshape(10, 2)
            changed = np.flatnonzero(np.abs(act - played).max(1) > 1e-6)
            assert len(changed) <= 1  # one aggregator bids otherwise (a draw may land on its own bid)
            variants += len(changed)
            bids = np.array(h.actions["lfm"], dtype=float)
            bids[changed] = learner.slots[1].action.from_unit(act[changed].astype(float))
            np.testing.assert_allclose(secondary.buffer.rew[row], model.reclear(h, "lfm", bids).rewards["secondary"],
                                       rtol=1e-5, atol=1e-3)  # the buffer keeps float32
            np.testing.assert_array_equal(secondary.buffer.obs[row], secondary.buffer.obs[4 * i])
    assert variants == 6  # uniform draws: every variant moved its aggregator's bid


def test_counterfactual_samples_need_gamma_zero():
    with pytest.raises(ValueError, match="counterfactual_samples .* needs gamma = 0"):
        HyperParams(counterfactual_samples=2, gamma=0.99)
