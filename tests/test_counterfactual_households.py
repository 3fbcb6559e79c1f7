"""Counterfactual household transitions (`HyperParams.counterfactual_households`, `Team.household_counterfactuals`,
`HouseholdDesign.counterfactual_hour` / `counterfactual_observation`): a household's variant of an hour is what the
model does when that household plays the variant's action (P2P, and the Stackelberg followers' auction), and the
learner stores and samples those transitions beside the real ones."""

import dataclasses

import numpy as np
import pytest

from agents.learning.buffers import TransitionBuffer
from agents.learning.hyperparams import HyperParams
from model import dataset
from model.designs.household_base import FIRST_SHARED
from runs.training import design_hyperparams, make_model, store_hour, train
from tests.learning_helpers import assert_resumes_to_same_bytes, play_to

HP = HyperParams.from_dict(design_hyperparams("p2p-mmr").to_dict() | {"hidden_sizes": [8], "counterfactual_households": 2,
                                                                     "batch_size": 32})
WEEK = "test:2"


def _learner(hp=HP, variant="maddpg-ps", scenario="p2p-mmr"):
    design = make_model(scenario, "rule", 0).design
    if scenario != "p2p-mmr":
        hp = HyperParams.from_dict(design_hyperparams(scenario).to_dict() | {"hidden_sizes": [8], "counterfactual_households": 2,
                                                                             "batch_size": 32, "counterfactual_actions": ""})
        return design.default_learner(hp, 0, "cpu")
    return design.default_learner(hp, 0, "cpu", {"variant": variant})


class _Pinned:
    """The learner's deterministic actions, except `row` playing `raw` on `components` in `stage` at `hour_of_day`."""

    def __init__(self, learner, stage, row, components, raw, hour_of_day):
        self.learner, self.stage, self.row, self.components = learner, stage, row, components
        self.raw, self.hour_of_day = raw, hour_of_day

    def act(self, stage, obs, rows):
        out = np.array(self.learner.act(stage, obs, rows), dtype=float)
        if stage == self.stage and int(obs[0, 0]) % 24 == self.hour_of_day:
            out[self.row, self.components] = self.raw
        return out


# (scenario, the households' stage, the next observation's columns that the variant does not replay: the Stackelberg
# leader's next retail prices, its answer to the deviation, stay as it posted them)
DESIGNS = [("p2p-mmr", "p2p", []), ("stackelberg", "auction", [FIRST_SHARED + 1, FIRST_SHARED + 2])]


@pytest.mark.parametrize("scenario, stage, leader_columns", DESIGNS)
@pytest.mark.parametrize("hour_of_day", [13, 23])
def test_a_variant_is_what_the_model_does_when_the_household_plays_it(scenario, stage, leader_columns, hour_of_day):
    learner = _learner(scenario=scenario)
    slot = next(s for s in learner.slots if s.name == "heat-pump")
    row = int(slot.rows[3])
    unit = np.full((1, slot.action.dim), 0.85)
    model = make_model(scenario, learner, 0)
    hour = play_to(model, hour_of_day, WEEK)
    variant = learner.counterfactual_variant(model, hour, stage, [(slot, np.array([row]), unit)])
    raw = slot.action.from_unit(unit)[0]
    ref = make_model(scenario, _Pinned(learner, stage, row, list(slot.components), raw, hour_of_day), 0)
    pinned = play_to(ref, hour_of_day, WEEK)
    role = slot.role.role
    real, seen_then = hour.records[stage], pinned.records[stage]
    assert seen_then.step.hp_kw[row] != real.step.hp_kw[row]  # the variant's action does something
    np.testing.assert_array_equal(variant.rewards[role], pinned.rewards[role])  # everyone's, exactly
    for other in set(pinned.rewards) - {role}:  # a Stackelberg leader's profit too
        np.testing.assert_array_equal(variant.rewards[other], pinned.rewards[other])
    np.testing.assert_array_equal(variant.records[stage].step.state.t_in_c, seen_then.step.state.t_in_c)
    np.testing.assert_array_equal(model.design.state.t_in_c, real.step.state.t_in_c)  # the real world unchanged
    if hour_of_day < 23:  # the next hour as the household would have seen it
        model.step()
        ref.step()
        seen = model.design.counterfactual_observation(model.hour_result, variant)
        want = ref.hour_result.observations[stage]
        keep = [c for c in range(want.shape[1]) if c not in leader_columns]
        np.testing.assert_array_equal(seen[:, keep], want[:, keep])
        np.testing.assert_array_equal(seen[:, leader_columns], model.hour_result.observations[stage][:, leader_columns])
        assert seen[row, 9] != model.hour_result.observations[stage][row, 9]  # its indoor temperature differs
        assert not np.array_equal(seen[:, FIRST_SHARED + 3:], model.hour_result.observations[stage][:, FIRST_SHARED + 3:])


def test_variants_of_the_limit_price_alone_keep_every_device_as_played():
    """`counterfactual_actions=limit_price`: a Stackelberg follower's variant redraws its limit price only; its devices
    play what it played, so the devices' states are the real hour's, and the variant pays everyone what the model pays
    when the follower asks that limit price with its own devices. The learner's variants of a day keep every other
    component as played."""
    from agents.stackelberg import FOLLOWER_ACTIONS

    hp = HyperParams.from_dict(design_hyperparams("stackelberg").to_dict() | {
        "hidden_sizes": [8], "counterfactual_households": 2, "batch_size": 32, "counterfactual_actions": "limit_price"})
    learner = make_model("stackelberg", "rule", 0).design.default_learner(hp, 0, "cpu")
    slot = next(s for s in learner.slots if s.name == "pv-ev")
    limit = FOLLOWER_ACTIONS.index("limit_price")
    row, hour_of_day = int(slot.rows[2]), 12
    model = make_model("stackelberg", learner, 0)
    hour = play_to(model, hour_of_day, WEEK)
    played = np.asarray(hour.actions["auction"], dtype=float)
    variants = {}
    for share in (0.0, 1.0):
        unit = np.full((1, slot.action.dim), share)  # every component asked at `share`; only the limit price is drawn
        variant = learner.counterfactual_variant(model, hour, "auction", [(slot, np.array([row]), unit)])
        seen = np.asarray(variant.actions["auction"], dtype=float)
        others = [c for c in range(played.shape[1]) if c != limit]
        np.testing.assert_array_equal(seen[:, others], played[:, others])
        assert seen[row, limit] == share
        for name in ("bat_energy_kwh", "ev_energy_kwh", "t_in_c"):  # the devices' states: the real hour's
            np.testing.assert_array_equal(getattr(variant.records["auction"].step.state, name),
                                          getattr(hour.records["auction"].step.state, name))
        raw = played[row].copy()
        raw[limit] = share
        ref = make_model("stackelberg", _Pinned(learner, "auction", row, list(range(played.shape[1])), raw, hour_of_day), 0)
        pinned = play_to(ref, hour_of_day, WEEK)
        for role in pinned.rewards:
            np.testing.assert_array_equal(variant.rewards[role], pinned.rewards[role])
        variants[share] = variant
    # the limit price matters in this hour: asking the lowest and the highest price pay this follower differently
    assert variants[0.0].rewards["follower"][row] != variants[1.0].rewards["follower"][row]
    made = []
    clear = learner.counterfactual_variant
    learner.counterfactual_variant = lambda model, hour, stage, draws: made.append((hour, clear(model, hour, stage, draws))) or made[-1][1]
    model = make_model("stackelberg", learner, 0)
    model.design.cold_start()
    model.reset_episode(dataset.resolve_week(WEEK)[0], 0, 24)
    while model.running:
        model.step()
        store_hour(learner, model, model.hour_result, last=not model.running)
    assert len(made) == 24
    changed = 0
    for real, variant in made:
        a, b = np.asarray(real.actions["auction"], dtype=float), np.asarray(variant.actions["auction"], dtype=float)
        np.testing.assert_array_equal(np.delete(b, limit, axis=1), np.delete(a, limit, axis=1))
        changed += int((a[:, limit] != b[:, limit]).sum())
    assert changed == 24 * 2 * 4  # 2 followers of each of the 4 clusters every hour


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


@pytest.mark.parametrize("scenario", ["p2p", "stackelberg-small"])
def test_a_run_with_variants_resumes_to_the_same_bytes_and_differs_from_one_without(scenario, small_hp, small_p2p, tmp_path):
    scenario = small_p2p if scenario == "p2p" else scenario
    hp = small_hp(scenario, episodes=4, counterfactual_households=2, selection_weeks="eval:1")
    kw = dict(seed=1, eval_every=2, checkpoint_every=1, progress=False, hp=hp)
    whole = train(scenario, out=tmp_path / "whole", **kw)
    # killed after day 2's checkpoint, with variants in the buffers
    resumed = assert_resumes_to_same_bytes(scenario, tmp_path / "whole", tmp_path / "resumed", 2, **kw)
    plain = train(scenario, out=tmp_path / "plain", **(kw | {"hp": dataclasses.replace(hp, counterfactual_households=0)}))
    assert not plain.curve.equals(whole.curve) and len(resumed.curve) == len(whole.curve)


def test_refusals_name_the_problem(small_hp, small_p2p, tmp_path):
    with pytest.raises(ValueError, match="counterfactual_households = 2 must be >= 0 .* needs n_step = 1"):
        HyperParams(counterfactual_households=2, n_step=3)
    with pytest.warns(UserWarning, match=r"counterfactual_households = 2: the groups \['pv-battery', 'pv-ev', 'heat-pump'\] are "
                                         "not parameter-shared .* train without counterfactual transitions"):
        unshared = _learner(variant="maddpg")
    assert all(s.group.variants is None for s in unshared.slots)
    with pytest.raises(ValueError, match="only parameter-shared household groups"):
        unshared.slots[0].group.store_variants(2)
    fresh = make_model("p2p-mmr", "rule", 0)
    with pytest.raises(RuntimeError, match="replays the hour that has just ended: step the model first"):
        fresh.design.counterfactual_hour(fresh, fresh.begin_hour(), "p2p", np.zeros((fresh.design.n, 3)))
    hp = small_hp("one-arb", episodes=1, counterfactual_households=2)
    with pytest.raises(ValueError, match="counterfactual_households: the .* design cannot replay"):
        train("one-arb", seed=0, hp=hp, out=tmp_path / "one-arb", progress=False)
    assert not (tmp_path / "one-arb").exists()
    hp = small_hp("stackelberg-small", episodes=1, counterfactual_households=2, counterfactual_actions="limit")
    with pytest.raises(ValueError, match=r"counterfactual_actions \['limit'\]: not actions of the stackelberg design .*'limit_price'"):
        train("stackelberg-small", seed=0, hp=hp, out=tmp_path / "limit", progress=False)
    assert not (tmp_path / "limit").exists()


def test_rows_written_at_once_are_the_rows_written_one_by_one_across_the_wrap():
    rng = np.random.default_rng(0)
    one, many = TransitionBuffer(7, 3, 2, 1), TransitionBuffer(7, 3, 2, 1)
    for k, done in [(3, False), (2, False), (4, True), (5, False)]:  # 14 rows: wraps twice
        rows = [rng.random((k, 3)), rng.random((k, 2)), rng.random(k), rng.random(1), rng.random((k, 3)), rng.random(1)]
        many.add_rows(*rows, done)
        for j in range(k):
            one.add(rows[0][j], rows[1][j], rows[2][j], rows[3], rows[4][j], rows[5], done)
        assert (many.ptr, many.size) == (one.ptr, one.size)
        for f in TransitionBuffer.FIELDS:
            np.testing.assert_array_equal(getattr(many, f), getattr(one, f))
    with pytest.raises(ValueError, match="8 rows do not fit a buffer of 7"):
        many.add_rows(*[np.zeros((8, 3)), np.zeros((8, 2)), np.zeros(8), np.zeros(1), np.zeros((8, 3)), np.zeros(1)], False)
