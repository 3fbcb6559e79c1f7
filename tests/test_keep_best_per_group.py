"""Keeping each learning group at its own best snapshot (`HyperParams.keep_best_per_group`): per group the
snapshot whose participants scored best on the selection weeks, checked against the training curve; the composed
policy handed on only where it scores at least the best whole snapshot on those weeks, and then replaying to that
score; resumable to the same bytes; refused by name where a design's groups are not sets of its participants; a
learner of one group keeps its best whole snapshot."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from agents.learning.hyperparams import HyperParams
from runs.training import design_hyperparams, evaluate_policy, load_trained_policy, make_model, train
from tests.learning_helpers import assert_resumes_to_same_bytes


@pytest.fixture
def _hp(small_hp):
    """This file's hyperparameters: the shared small ones (conftest `small_hp`), 6 days, a 2-day rule start of the
    batteries alone (the heat pumps learn from the first day) and the groups kept apart, unless a test sets them."""
    defaults = {"episodes": 6, "rule_start_actions": "battery", "requested_actions": "battery", "rule_start_episodes": 2,
                "rule_start_critic_episodes": 0, "rule_anchor_weight": 0.0, "keep_best_per_group": True}
    return lambda scenario, **kw: small_hp(scenario, **(defaults | kw))


def _selection_score(scenario, run_dir) -> float:
    """The handed-on policy's summed score on the selection weeks, replayed by a plain evaluation."""
    learner, meta = load_trained_policy(run_dir)
    weeks = meta["selected_on"].split(",")
    scores, _ = evaluate_policy(scenario, learner, seed=meta["seed"], weeks=weeks, keep_hours=False)
    return float(scores.groupby("week").total_eur.sum().sum())


@pytest.mark.parametrize("design_networks, episodes, eval_every, rule_days, handed_on", [
    (False, 6, 1, 2, True),  # here the composed policy scores more on the selection weeks than any whole snapshot
    (True, 30, 10, 10, False),  # here (the design's networks and batches) less than the best whole snapshot (day 30)
])
def test_each_group_keeps_its_best_day_and_the_composed_policy_only_where_it_scores_at_least_the_whole(_hp, 
        small_p2p, tmp_path, design_networks, episodes, eval_every, rule_days, handed_on):
    hp = _hp(small_p2p, episodes=episodes, rule_start_episodes=rule_days)
    if design_networks:
        settings = {"episodes": episodes, "rule_start_actions": "battery", "requested_actions": "battery",
                    "rule_start_episodes": rule_days, "rule_start_critic_episodes": 0, "rule_anchor_weight": 0.0,
                    "keep_best_per_group": True}
        hp = HyperParams.from_dict(design_hyperparams(small_p2p).to_dict() | settings)
    run = train(small_p2p, out=tmp_path / "run", hp=hp, seed=0, eval_every=eval_every, progress=False)
    meta = json.loads((tmp_path / "run" / "policy.json").read_text())
    # from the training curve: each cluster's households' summed selection score by evaluation, and its best day
    design = make_model(small_p2p, "rule", 0).design
    curve = run.curve.assign(cluster=np.array(design.cluster_names)[design.cluster[run.curve.household.to_numpy()]])
    by_group = curve.groupby(["episode", "cluster"]).selection_score_eur.sum().unstack()
    whole = curve.groupby("episode").selection_score_eur.sum()
    assert meta["selected_episode"] == int(whole.idxmax())  # the best whole snapshot (the earliest of a tie)
    assert (meta["selected_groups"] is not None) == handed_on
    if handed_on:  # its days are each group's best, and it scores at least the best whole snapshot
        assert meta["selected_groups"] == {g: int(by_group[g].idxmax()) for g in ("pv-battery", "pv-ev", "heat-pump")}
        assert len(set(meta["selected_groups"].values())) > 1  # a policy no single snapshot was
        assert meta["selected_score"] == meta["selected_groups_score"] >= whole.max()
    else:  # the best whole snapshot, which scored more than the composed policy
        assert meta["selected_score"] == pytest.approx(whole.max(), rel=1e-9)
        assert meta["selected_groups_score"] < whole.max()
    # the policy handed on replays to the score it was kept by
    assert _selection_score(small_p2p, tmp_path / "run") == pytest.approx(meta["selected_score"], rel=1e-9)
    assert (tmp_path / "run" / "policy_last.pt").exists()


def test_a_run_keeping_its_groups_apart_resumes_to_the_same_bytes(_hp, small_p2p, tmp_path):
    kw = dict(seed=2, eval_every=1, checkpoint_every=1, progress=False, hp=_hp(small_p2p, episodes=5))
    train(small_p2p, out=tmp_path / "whole", **kw)
    # killed after episode 4: the newest checkpoint is episode 3's, with the groups' best snapshots so far
    assert_resumes_to_same_bytes(small_p2p, tmp_path / "whole", tmp_path / "resumed", 4,
                                 files=("policy.pt", "policy_last.pt", "train_curve.csv"), **kw)
    whole, resumed = (json.loads((tmp_path / d / "policy.json").read_text()) for d in ("whole", "resumed"))
    assert {k: v for k, v in whole.items() if k.startswith("selected")} == \
        {k: v for k, v in resumed.items() if k.startswith("selected")}


def test_keeping_groups_apart_is_refused_by_name_where_it_cannot_work(_hp, small_p2p, tmp_path):
    with pytest.raises(ValueError, match="keep_best_per_group = True needs keep_best = true"):
        _hp(small_p2p, keep_best=False)
    settings = {"episodes": 1, "keep_best_per_group": True}
    hp = HyperParams.from_dict(design_hyperparams("stackelberg-small").to_dict() | settings)
    with pytest.raises(ValueError, match="keep_best_per_group: the stackelberg design cannot keep its learning groups at "
                                         "their own snapshots: its learners' groups are not sets of its participants"):
        train("stackelberg-small", out=tmp_path / "st", hp=hp, progress=False)
    assert not (tmp_path / "st").exists()


def test_a_learner_of_one_group_keeps_its_best_whole_snapshot(_hp, small_p2p, tmp_path):
    """One group (`--learner one-cluster`): nothing to keep apart, so the option is keep_best's whole snapshot (the
    P2P design's default may stay on for every learner the study trains)."""
    run = train(small_p2p, out=tmp_path / "one", hp=_hp(small_p2p, episodes=4), seed=0, eval_every=1, progress=False,
                learner="one-cluster")
    meta = json.loads((tmp_path / "one" / "policy.json").read_text())
    whole = run.curve.groupby("episode").selection_score_eur.sum()
    assert "selected_groups" not in meta and meta["selected_episode"] == int(whole.idxmax())
    assert meta["selected_score"] == pytest.approx(whole.max(), rel=1e-9)
