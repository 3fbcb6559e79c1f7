"""Counterfactual household transitions (`HyperParams.counterfactual_households`, `Team.household_counterfactuals`,
`P2PDesign.counterfactual_hour` / `counterfactual_observation`): a household's variant of an hour is what the model
does when that household plays the variant's action, and the learner stores and samples those transitions beside
the real ones."""

import dataclasses

import numpy as np
import pytest

from agents.learning.hyperparams import HyperParams
from model import dataset
from runs.training import design_hyperparams, make_model, store_hour, train
from tests.learning_helpers import assert_resumes_to_same_bytes

HP = HyperParams.from_dict(design_hyperparams("p2p-mmr").to_dict() | {"hidden_sizes": [8], "counterfactual_households": 2,
                                                                     "batch_size": 32})
WEEK = "test:2"


def _learner(hp=HP, variant="maddpg-ps"):
    design = make_model("p2p-mmr", "rule", 0).design
    return design.default_learner(hp, 0, "cpu", {"variant": variant})


class _Pinned:
    """The learner's deterministic actions, except `row` playing `raw` on `components` at `hour_of_day`."""

    def __init__(self, learner, row, components, raw, hour_of_day):
        self.learner, self.row, self.components, self.raw, self.hour_of_day = learner, row, components, raw, hour_of_day

    def act(self, stage, obs, rows):
        out = np.array(self.learner.act(stage, obs, rows), dtype=float)
        if int(obs[0, 0]) % 24 == self.hour_of_day:
            out[self.row, self.components] = self.raw
        return out


def _play_to(model, hour_of_day):
    """Reset to the third day of WEEK and clear its hours up to and including `hour_of_day`; the last hour."""
    model.design.cold_start()
    model.reset_episode(dataset.resolve_week(WEEK)[0], 2 * 24, 24)
    for _ in range(hour_of_day + 1):
        model.step()
    return model.hour_result


@pytest.mark.parametrize("hour_of_day", [13, 23])
def test_a_variant_is_what_the_model_does_when_the_household_plays_it(hour_of_day):
    learner = _learner()
    slot = next(s for s in learner.slots if s.name == "heat-pump")
    row = int(slot.rows[3])
    unit = np.array([[0.85]])
    model = make_model("p2p-mmr", learner, 0)
    hour = _play_to(model, hour_of_day)
    variant = learner.counterfactual_variant(model, hour, "p2p", [(slot, np.array([row]), unit)])
    raw = slot.action.from_unit(unit)[0]
    ref = make_model("p2p-mmr", _Pinned(learner, row, list(slot.components), raw, hour_of_day), 0)
    pinned = _play_to(ref, hour_of_day)
    assert pinned.p2p.step.hp_kw[row] != hour.p2p.step.hp_kw[row]  # the variant's action does something
    np.testing.assert_array_equal(variant.rewards["household"], pinned.rewards["household"])  # everyone's, exactly
    np.testing.assert_array_equal(variant.p2p.step.state.t_in_c, pinned.p2p.step.state.t_in_c)
    np.testing.assert_array_equal(model.design.state.t_in_c, hour.p2p.step.state.t_in_c)  # the real world unchanged
    if hour_of_day < 23:  # the next hour as the household would have seen it
        model.step()
        ref.step()
        seen = model.design.counterfactual_observation(model.hour_result, variant)
        np.testing.assert_array_equal(seen, ref.hour_result.observations["p2p"])
        assert seen[row, 9] != model.hour_result.observations["p2p"][row, 9]  # its indoor temperature differs


def test_the_learner_stores_k_variants_per_cluster_and_hour_with_the_next_hour_of_their_own():
    learner = _learner()
    made = []  # every variant the learner clears: (its draws, the variant)
    clear = learner.counterfactual_variant
    learner.counterfactual_variant = lambda model, hour, stage, draws: made.append((draws, clear(model, hour, stage, draws))) or made[-1][1]
    model = make_model("p2p-mmr", learner, 0)
    model.design.cold_start()
    model.reset_episode(dataset.resolve_week(WEEK)[0], 0, 24)
    hours = []
    while model.running:
        model.step()
        hours.append(model.hour_result)
        store_hour(learner, model, model.hour_result, last=not model.running)
    assert len(made) == 24  # one re-clearing per hour serves every cluster
    for s_index, slot in enumerate(learner.slots):
        v, g = slot.group.variants, slot.group
        assert v.size == 2 * 24 and g.buffer.size == 24
        np.testing.assert_array_equal(v.done[:2 * 24], [0.0] * 46 + [1.0] * 2)  # the day's last hour is terminal
        for t in (0, 10, 23):
            draws, variant = made[t]
            d_slot, rows, unit = draws[s_index]
            assert d_slot is slot and len(rows) == 2 and set(rows) <= set(slot.rows)
            for q in range(2):
                j = 2 * t + q
                # the drawn action where it is stored as requested (battery, heat pump), else what the device executed
                comps = list(slot.components)
                names = [slot.role.action.names[c] for c in comps]
                executed = slot.action.to_unit(variant.p2p.executed_actions[rows[q], comps][None])[0]
                want = [unit[q][c] if n in HP.requested_action_names else executed[c] for c, n in enumerate(names)]
                np.testing.assert_allclose(v.act[j], want, rtol=0, atol=1e-6)
                assert v.rew[j] == np.float32(variant.rewards["household"][rows[q]])
                np.testing.assert_array_equal(v.obs[j], g.features.member_inputs(hours[t].observations["p2p"][rows[q:q + 1]])[0])
                if t < 23:
                    real_next = g.features.member_inputs(hours[t + 1].observations["p2p"][rows[q:q + 1]])[0]
                    assert not np.array_equal(v.obs_next[j], v.obs[j])
                    # the next hour's time and prices are the real next hour's; the household's own state is its own
                    np.testing.assert_array_equal(v.obs_next[j][:4], real_next[:4])


def test_batches_mix_the_variants_in_by_their_share_and_the_rule_fit_never_sees_them():
    learner = _learner()
    g = next(s for s in learner.slots if s.name == "heat-pump").group
    rng = np.random.default_rng(0)
    n, d, a = g.n, g.buffer.obs.shape[-1], g.act_dim
    for _ in range(10):  # 10 real hours at action 0, 75 members each
        g.remember(np.zeros((n, d), np.float32), np.zeros((n, a)), np.zeros(n), np.zeros(g.info_dim, np.float32), False)
    for _ in range(250):  # 750 variants at action 1: a share of 750 / (9 * 75 + 750) = 0.53 of the valid transitions
        g.remember_variants(np.zeros((3, d), np.float32), np.ones((3, a)), np.ones(3), np.zeros(g.info_dim, np.float32),
                            np.zeros((3, d), np.float32), np.zeros(g.info_dim, np.float32), False)
    shares = [float(g._batch(rng)[1].mean()) for _ in range(200)]
    assert np.mean(shares) == pytest.approx(750 / (9 * 75 + 750), abs=0.02)
    assert all(float(g._imitation_batch(rng)[1].max()) == 0.0 for _ in range(20))


def test_a_run_with_variants_resumes_to_the_same_bytes_and_differs_from_one_without(small_hp, small_p2p, tmp_path):
    hp = small_hp(small_p2p, episodes=4, counterfactual_households=2, selection_weeks="eval:1")
    kw = dict(seed=1, eval_every=2, checkpoint_every=1, progress=False, hp=hp)
    whole = train(small_p2p, out=tmp_path / "whole", **kw)
    # killed after day 2's checkpoint, with variants in the buffers
    resumed = assert_resumes_to_same_bytes(small_p2p, tmp_path / "whole", tmp_path / "resumed", 2, **kw)
    plain = train(small_p2p, out=tmp_path / "plain", **(kw | {"hp": dataclasses.replace(hp, counterfactual_households=0)}))
    assert not plain.curve.equals(whole.curve) and len(resumed.curve) == len(whole.curve)


def test_refusals_name_the_problem(small_hp, small_p2p, tmp_path):
    with pytest.raises(ValueError, match="counterfactual_households = 2 must be >= 0 .* needs n_step = 1"):
        HyperParams(counterfactual_households=2, n_step=3)
    with pytest.raises(ValueError, match="only parameter-shared household groups"):
        _learner(variant="maddpg")
    for scenario in ("one-arb", "stackelberg"):
        hp = small_hp(scenario, episodes=1, counterfactual_households=2)
        with pytest.raises(ValueError, match="counterfactual_households: the .* design cannot replay"):
            train(scenario, seed=0, hp=hp, out=tmp_path / scenario, progress=False)
        assert not (tmp_path / scenario).exists()
