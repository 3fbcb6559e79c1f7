"""Training through the Mesa model: exact resume after a kill, checkpoint errors, loading a run."""

import json

import numpy as np
import pandas as pd
import pytest
import torch

from agents.learning.checkpoint import CheckpointError, latest_checkpoint
from agents.learning.hyperparams import HyperParams
from model.model import MarketModel
from runs.training import evaluate_policy, evaluate_run, load_trained_policy, train
from tests.learning_helpers import Killed, train_killed_after

HP = HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16)


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    p = tmp_path_factory.mktemp("sc") / "toy-one-arb.toml"
    p.write_text('extends = "one-arb"\nname = "toy-one-arb"\n\n[data]\nsource = "synthetic"\n')
    return str(p)


def _policy_tensors(run_dir):
    return torch.load(run_dir / "policy.pt", weights_only=True)


def _assert_same_tensors(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same_tensors(a[k], b[k])
    else:
        assert torch.equal(a, b)


def test_killed_run_resumes_to_the_same_result(scenario, tmp_path):
    kw = dict(episodes=4, seed=3, eval_every=3, checkpoint_every=2, progress=False, hp=HP)
    ref = train(scenario, out=tmp_path / "ref", **kw)
    train_killed_after(scenario, tmp_path / "run", 3, **kw)  # dies after episode 3; the newest checkpoint is episode 2
    assert json.loads(latest_checkpoint(tmp_path / "run").read_text())["episode"] == 2
    assert not (tmp_path / "run" / "policy.pt").exists()
    resumed = train(scenario, out=tmp_path / "run", resume=True, **kw)

    _assert_same_tensors(_policy_tensors(tmp_path / "ref"), _policy_tensors(tmp_path / "run"))
    pd.testing.assert_frame_equal(ref.curve, resumed.curve)
    pd.testing.assert_frame_equal(pd.read_csv(tmp_path / "ref" / "train_curve.csv"), pd.read_csv(tmp_path / "run" / "train_curve.csv"))
    assert sorted(ref.curve.episode.unique()) == [0, 3, 4]
    # the same seed gives the same numbers; another seed does not
    other = train(scenario, out=tmp_path / "other", **(kw | {"seed": 4, "episodes": 1}))
    assert not np.allclose(other.curve[other.curve.episode == 0].eval_score_eur.values,
                           ref.curve[ref.curve.episode == 0].eval_score_eur.values)
    # a finished run resumes to itself without training again
    again = train(scenario, out=tmp_path / "ref", resume=True, **kw)
    pd.testing.assert_frame_equal(again.curve, ref.curve)
    assert again.market_hours == 0


def test_corrupt_or_mismatched_checkpoint_gives_a_clear_error(scenario, tmp_path):
    kw = dict(episodes=2, seed=0, eval_every=5, checkpoint_every=1, progress=False, hp=HP)
    train(scenario, out=tmp_path / "r", **kw)
    with pytest.raises(CheckpointError, match="seed differs"):
        train(scenario, out=tmp_path / "r", resume=True, **(kw | {"seed": 1}))
    with pytest.raises(CheckpointError, match="hyperparameters differ"):
        train(scenario, out=tmp_path / "r", resume=True, **(kw | {"hp": HyperParams(hidden_sizes=(8,))}))
    with pytest.raises(CheckpointError, match="scenario differs"):
        train("s-a", out=tmp_path / "r", resume=True, **kw)
    pt = latest_checkpoint(tmp_path / "r").with_suffix(".pt")
    pt.write_bytes(pt.read_bytes()[:1000])  # truncated, as by a full disk
    with pytest.raises(CheckpointError, match="corrupt"):
        train(scenario, out=tmp_path / "r", resume=True, **kw)
    with pytest.raises(ValueError, match="exists and is not empty; choose another --out or pass --overwrite "
                                         r"\(or --resume to continue it\)"):
        train(scenario, out=tmp_path / "r", **kw)


def test_trained_run_loads_on_cpu_and_plays_the_model(scenario, tmp_path):
    train(scenario, out=tmp_path / "r", episodes=1, seed=0, eval_every=1, progress=False, hp=HP)
    learner, meta = load_trained_policy(tmp_path / "r")
    assert meta["scenario_name"] == "toy-one-arb" and meta["scenario"]["arbitrage"] == [5] and not learner.explore
    assert meta["learner"] == "hmaddpg" and [r["role"] for r in meta["roles"]] == ["primary", "secondary"]
    m = MarketModel(scenario=meta["scenario_arg"], week="test:2", policy=learner, collect=False)
    for _ in range(3):
        m.step()
    h = m.hour_result
    assert h.lem.withhold.shape == (10,) and h.lfm.bid_eur_mwh.shape == (10, 2)
    np.testing.assert_allclose(h.rewards["primary"], np.where(m.design.arbitrage_mask, h.lem.r1 + h.balancing.r2, h.lem.r1))
    scores = evaluate_run(tmp_path / "r", tmp_path / "ev", weeks=["test:1", "eval:1"])
    assert list(scores.columns[:5]) == ["week", "aggregator", "first_stage_eur", "second_stage_eur", "total_eur"]
    assert set(scores.week) == {"test:1", "eval:1"} and len(scores) == 20
    np.testing.assert_allclose(scores.total_eur, scores.first_stage_eur + scores.second_stage_eur)
    hours = pd.read_csv(tmp_path / "ev" / "hours.csv")
    assert len(hours) == 2 * 168 * 10
    # the week scores are the sums of the hourly rewards
    s = hours.groupby(["week", "aggregator"]).r1.sum()
    np.testing.assert_allclose(scores.set_index(["week", "aggregator"]).first_stage_eur.loc[s.index], s, rtol=1e-5, atol=1e-3)


def test_evaluation_hours_record_the_lfms_load_shedding_as_the_model_reports_it():
    """hours.csv's feeder_load_shed_mw / feeder_curtailed_mw (repeated on every aggregator's row) are
    the LFM's emergency slack that the model's own DataCollector reports, hour by hour; test week 1
    has an hour of load shedding even with truthful bids."""
    from runs.results import tables

    _, hours = evaluate_policy("s-a", "truthful", seed=0, weeks=["test:1"])
    per_hour = hours.groupby("hour_of_week")[["feeder_load_shed_mw", "feeder_curtailed_mw"]]
    assert (per_hour.nunique() == 1).all().all()  # one value per hour, on every row
    shed = per_hour.first()
    m = MarketModel(scenario="s-a", week="test:1", policy="truthful", collect=True, seed=0)
    m.run_hours(168)
    market = tables(m)["market"]
    assert (shed.feeder_load_shed_mw > 1e-6).sum() >= 1
    np.testing.assert_allclose(shed.sum(axis=1).to_numpy(), market.slack_mw.to_numpy(), atol=1e-9)


def test_checkpoints_record_the_learner_and_runs_written_before_that_still_load(scenario, tmp_path):
    """A policy file names its learner kind and roles; a format-1 file (written before learners had
    kinds, `localmarl-hmaddpg-policy`) loads as HMADDPG and plays the same actions."""
    train(scenario, out=tmp_path / "r", episodes=1, seed=0, eval_every=1, progress=False, hp=HP)
    meta = json.loads((tmp_path / "r" / "policy.json").read_text())
    assert meta["kind"] == "localmarl-policy" and meta["format_version"] == 2 and meta["learner"] == "hmaddpg"
    legacy = {k: v for k, v in meta.items() if k not in ("roles", "learner")} | {
        "kind": "localmarl-hmaddpg-policy", "format_version": 1}
    (tmp_path / "r" / "policy.json").write_text(json.dumps(legacy))
    old, old_meta = load_trained_policy(tmp_path / "r")
    assert old_meta["learner"] == "hmaddpg"
    (tmp_path / "r" / "policy.json").write_text(json.dumps(meta))
    new, _ = load_trained_policy(tmp_path / "r")
    runs = [MarketModel(scenario=scenario, week="test:1", policy=p, collect=False) for p in (old, new)]
    for _ in range(5):
        for m in runs:
            m.step()
        np.testing.assert_array_equal(runs[0].hour_result.lfm.bid_eur_mwh, runs[1].hour_result.lfm.bid_eur_mwh)
    meta["learner"] = "no-such-learner"
    (tmp_path / "r" / "policy.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="unknown learner kind 'no-such-learner'"):
        load_trained_policy(tmp_path / "r")


def test_resume_from_any_checkpoint_on_the_real_data_ends_with_the_uninterrupted_numbers(tmp_path):
    """A run resumed from the checkpoint of episode 25 or 40 (real data, the paper's hyperparameters)
    ends with the uninterrupted run's policy and training curve, byte for byte: no state carried
    across episodes (the LFM solver's history included) is missing from a checkpoint."""
    import filecmp
    import shutil

    kw = dict(episodes=50, seed=0, eval_every=25, checkpoint_every=5, progress=False)

    def snapshot(episode, learner):
        if episode in (25, 40):
            shutil.copytree(tmp_path / "X" / "checkpoints", tmp_path / f"ck{episode}")

    train("s-a", out=tmp_path / "X", callback=snapshot, **kw)
    for episode in (25, 40):
        resumed = tmp_path / f"Y{episode}"
        (resumed / "checkpoints").mkdir(parents=True)
        for f in (tmp_path / f"ck{episode}").glob(f"ep{episode:06d}.*"):
            shutil.copy(f, resumed / "checkpoints")
        train("s-a", out=resumed, resume=True, **kw)
        for name in ("policy.pt", "train_curve.csv"):
            assert filecmp.cmp(tmp_path / "X" / name, resumed / name, shallow=False), (episode, name)


def test_keep_best_hands_on_the_snapshot_chosen_and_resumes_to_it(scenario, tmp_path, monkeypatch):
    """With `keep_best`, policy.pt is the snapshot of the evaluation that scored best by the design's
    `selection_score` (here scripted per episode: best at episode 2), policy_last.pt the final one; a run
    killed after the best snapshot's checkpoint resumes to the same files, the snapshot coming from the
    checkpoint."""
    from model.design import MarketDesign
    from model.designs.arbitrage import ArbitrageDesign

    monkeypatch.setattr(ArbitrageDesign, "keep_best_refused", None)  # the mechanism, on the fastest design
    hp = HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16, keep_best=True)
    scripted = {0: 0.0, 1: 1.0, 2: 5.0, 3: 2.0, 4: 5.0}  # a tie (episode 4) keeps the earlier snapshot
    now = {"episode": 0}
    monkeypatch.setattr(MarketDesign, "selection_score", lambda self, total: scripted[now["episode"]])
    seen = {}

    def follow(episode, learner, kill_at=None):
        import copy

        seen[episode] = copy.deepcopy(learner.policy_state())
        now["episode"] = episode + 1  # the next evaluation's episode
        if episode == kill_at:
            raise Killed

    kw = dict(episodes=4, seed=3, eval_every=1, checkpoint_every=2, progress=False, hp=hp)
    train(scenario, out=tmp_path / "ref", callback=follow, **kw)
    ref = tmp_path / "ref"
    meta = json.loads((ref / "policy.json").read_text())
    assert meta["selected_episode"] == 2 and meta["selected_score"] == 5.0 and meta["episode"] == 4
    _assert_same_tensors(_policy_tensors(ref), seen[2])
    _assert_same_tensors(torch.load(ref / "policy_last.pt", weights_only=True), seen[4])
    with pytest.raises(AssertionError):
        _assert_same_tensors(_policy_tensors(ref), seen[4])
    last, last_meta = load_trained_policy(ref, last=True)
    assert "selected_episode" not in last_meta and last_meta["episode"] == 4

    now["episode"] = 0
    with pytest.raises(Killed):
        train(scenario, out=tmp_path / "run", callback=lambda e, ln: follow(e, ln, kill_at=3), **kw)
    assert json.loads(latest_checkpoint(tmp_path / "run").read_text())["best"] == {"episode": 2, "score": 5.0}
    now["episode"] = 3
    train(scenario, out=tmp_path / "run", resume=True, callback=follow, **kw)
    for name in ("policy.pt", "policy_last.pt"):
        _assert_same_tensors(torch.load(ref / name, weights_only=True), torch.load(tmp_path / "run" / name, weights_only=True))
    assert json.loads((tmp_path / "run" / "policy.json").read_text())["selected_episode"] == 2


def test_keep_best_from_lets_only_the_later_snapshots_compete_and_resumes_before_any_did(scenario, tmp_path, monkeypatch):
    """With `keep_best_from` 0.5 of 6 episodes only the snapshots of episodes 3-6 compete: the scripted best of the
    whole run (episodes 0 and 1) is passed over for the best of those (episode 4); a run killed after episode 2's
    checkpoint, written before any snapshot competed, resumes to the same files. A share outside [0, 1], or one
    without keep_best, is a named error."""
    from model.design import MarketDesign
    from model.designs.arbitrage import ArbitrageDesign

    monkeypatch.setattr(ArbitrageDesign, "keep_best_refused", None)  # the mechanism, on the fastest design
    hp = HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16, keep_best=True, keep_best_from=0.5)
    scripted = {0: 9.0, 2: 8.0, 3: 1.0, 4: 3.0, 5: 2.0, 6: 3.0}  # by `now`: episodes 0 and 1 both score 9
    now = {"episode": 0}
    monkeypatch.setattr(MarketDesign, "selection_score", lambda self, total: scripted[now["episode"]])
    seen = {}

    def follow(episode, learner, kill_at=None):
        import copy

        seen[episode] = copy.deepcopy(learner.policy_state())
        now["episode"] = episode + 1
        if episode == kill_at:
            raise Killed

    kw = dict(episodes=6, seed=3, eval_every=1, checkpoint_every=2, progress=False, hp=hp)
    train(scenario, out=tmp_path / "ref", callback=follow, **kw)
    meta = json.loads((tmp_path / "ref" / "policy.json").read_text())
    assert meta["selected_episode"] == 4 and meta["selected_score"] == 3.0 and meta["selected_from_episode"] == 3
    _assert_same_tensors(_policy_tensors(tmp_path / "ref"), seen[4])

    now["episode"] = 0
    with pytest.raises(Killed):
        train(scenario, out=tmp_path / "run", callback=lambda e, ln: follow(e, ln, kill_at=2), **kw)
    assert "best" not in json.loads(latest_checkpoint(tmp_path / "run").read_text())
    now["episode"] = 3
    train(scenario, out=tmp_path / "run", resume=True, callback=follow, **kw)
    for name in ("policy.pt", "policy_last.pt"):
        _assert_same_tensors(torch.load(tmp_path / "ref" / name, weights_only=True),
                             torch.load(tmp_path / "run" / name, weights_only=True))
    assert json.loads((tmp_path / "run" / "policy.json").read_text())["selected_episode"] == 4
    for bad in (dict(keep_best=True, keep_best_from=1.5), dict(keep_best=True, keep_best_from=-0.1),
                dict(keep_best_from=0.5)):
        with pytest.raises(ValueError, match="hyperparameter keep_best_from = .* must be a share of the training in "
                                             r"\[0, 1\].*only with keep_best = true"):
            HyperParams(**bad)


def test_selection_best_response_keeps_the_snapshot_best_after_the_weighted_gain(scenario, tmp_path, monkeypatch):
    """With `selection_best_response` 2 the kept snapshot is the best of (selection score - 2 x the design's best
    response gain): scripted, the score alone keeps episode 3 (6.0), the weighted gain turns it to episode 2
    (6.0 - 2 x 2.5 = 1.0 < 4.0). The gains go to the training curve (NaN for the participants not searched). A design
    without a best response, or a weight without keep_best or below 0, is a named error."""
    from model.design import MarketDesign
    from model.designs.arbitrage import ArbitrageDesign

    monkeypatch.setattr(ArbitrageDesign, "keep_best_refused", None)  # the mechanism, on the fastest design
    hp = HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16, keep_best=True, selection_best_response=2.0)
    kw = dict(episodes=4, seed=3, eval_every=1, checkpoint_every=4, progress=False, hp=hp)
    with pytest.raises(ValueError, match="selection_best_response: the arbitrage design cannot weigh a best response "
                                         "into its snapshot selection: it has no best response cheap enough"):
        train(scenario, out=tmp_path / "refused", **kw)
    assert not (tmp_path / "refused").exists()

    scores = {0: 0.0, 1: 5.0, 2: 4.0, 3: 6.0, 4: 1.0}  # by evaluation (at episodes 0..4, in order)
    gains = {0: 0.0, 1: 1.0, 2: 0.0, 3: 2.5, 4: 0.0}
    evaluations = []  # the episodes evaluated so far: the search runs first in each evaluation
    seen = {}
    monkeypatch.setattr(ArbitrageDesign, "selection_best_response_refused", None)
    monkeypatch.setattr(MarketDesign, "selection_score", lambda self, total: scores[evaluations[-1]])

    def searched(self, model, policy, weeks):
        assert weeks == hp.selection_week_numbers() and policy.explore is False
        evaluations.append(len(evaluations))
        out = np.full(len(self.participant_ids()), np.nan)
        out[1] = gains[evaluations[-1]]
        return out

    monkeypatch.setattr(MarketDesign, "selection_best_response_eur", searched)

    def follow(episode, learner):
        import copy

        seen[episode] = copy.deepcopy(learner.policy_state())

    result = train(scenario, out=tmp_path / "run", callback=follow, **kw)
    meta = json.loads((tmp_path / "run" / "policy.json").read_text())
    assert meta["selected_episode"] == 2 and meta["selected_score"] == 4.0
    _assert_same_tensors(_policy_tensors(tmp_path / "run"), seen[2])
    curve = result.curve
    second = curve.aggregator == curve.aggregator.unique()[1]
    assert curve[second].set_index("episode").best_response_gain_eur.to_dict() == gains
    assert curve[~second].best_response_gain_eur.isna().all()
    for bad in (dict(selection_best_response=1.0), dict(keep_best=True, selection_best_response=-1.0)):
        with pytest.raises(ValueError, match="hyperparameter selection_best_response = .* must be >= 0 .* only with "
                                             "keep_best = true"):
            HyperParams(**bad)


def test_keep_best_policy_replays_the_evaluation_it_was_chosen_by(scenario, tmp_path, monkeypatch):
    """Replayed by `evaluate_policy` on the evaluation week, policy.pt scores exactly the training curve's
    evaluation it was chosen by, and policy_last.pt the curve's last. The criterion is turned around here
    (the lowest total: the design's own, the highest, is usually the last of a short run), so the two differ;
    without `keep_best` a run has one policy, the last."""
    from model.design import MarketDesign
    from model.designs.arbitrage import ArbitrageDesign

    monkeypatch.setattr(ArbitrageDesign, "keep_best_refused", None)  # the mechanism, on the fastest design
    assert MarketDesign.selection_score(None, np.array([1.5, -4.0, 2.5])) == 0.0  # the default: the sum
    monkeypatch.setattr(MarketDesign, "selection_score", lambda self, total: -float(np.sum(total)))
    kw = dict(episodes=4, seed=0, eval_every=1, checkpoint_every=4, progress=False)
    result = train(scenario, out=tmp_path / "best", hp=HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16,
                                                                   keep_best=True), **kw)
    curve = result.curve.groupby("episode").eval_score_eur.sum()
    assert curve.min() != curve.loc[4]
    for last, expect in ((False, curve.min()), (True, curve.loc[4])):
        learner, meta = load_trained_policy(tmp_path / "best", last=last)
        scores, _ = evaluate_policy(scenario, learner, seed=0, weeks=["eval:1"], keep_hours=False)
        assert scores.total_eur.sum() == pytest.approx(expect, rel=1e-9)
    assert json.loads((tmp_path / "best" / "policy.json").read_text())["selected_episode"] == int(curve.idxmin())
    train(scenario, out=tmp_path / "plain", hp=HP, **kw)
    assert not (tmp_path / "plain" / "policy_last.pt").exists()
    learner, meta = load_trained_policy(tmp_path / "plain")
    assert "selected_episode" not in meta


def test_keep_best_selects_on_the_sum_over_its_selection_weeks(scenario, tmp_path, monkeypatch):
    """With `selection_weeks` "eval:1,train:1" every evaluation also plays training week 1: the curve's
    evaluation-week scores are those of a run selecting on the evaluation week alone (training untouched),
    its `selection_score_eur` is the evaluation week's plus that week's, and policy.pt, replayed on both weeks by
    `evaluate_policy`, scores the highest of those sums, at the episode policy.json names."""
    from model.designs.arbitrage import ArbitrageDesign

    monkeypatch.setattr(ArbitrageDesign, "keep_best_refused", None)  # the mechanism, on the fastest design
    base = dict(hidden_sizes=(16,), buffer_size=5000, batch_size=16, keep_best=True)
    kw = dict(episodes=3, seed=0, eval_every=1, checkpoint_every=3, progress=False)
    plain = train(scenario, out=tmp_path / "plain", hp=HyperParams(**base), **kw)
    both = train(scenario, out=tmp_path / "both", hp=HyperParams(**base, selection_weeks="eval:1,train:1"), **kw)
    assert "selection_score_eur" not in plain.curve
    pd.testing.assert_series_equal(plain.curve.eval_score_eur, both.curve.eval_score_eur)
    per_episode = both.curve.groupby("episode")[["eval_score_eur", "selection_score_eur"]].sum()
    assert (per_episode.selection_score_eur != per_episode.eval_score_eur).all()  # the second week counts
    meta = json.loads((tmp_path / "both" / "policy.json").read_text())
    assert meta["selected_on"] == "eval:1,train:1"
    assert meta["selected_episode"] == int(per_episode.selection_score_eur.idxmax())
    learner, _ = load_trained_policy(tmp_path / "both")
    scores, _ = evaluate_policy(scenario, learner, seed=0, weeks=["eval:1", "train:1"], keep_hours=False)
    assert scores.total_eur.sum() == pytest.approx(per_episode.selection_score_eur.max(), rel=1e-9)
    assert scores[scores.week == "eval:1"].total_eur.sum() == pytest.approx(
        per_episode.eval_score_eur.loc[meta["selected_episode"]], rel=1e-9)


@pytest.mark.parametrize("weeks, problem", [
    ("eval:1,test:8", "'test:8' is \\(or holds\\) test week 31: selecting a snapshot on a test week would flatter"),
    (" , ", "no week given"),
    ("eval:1,summer", "bad week spec 'summer'; accepted forms"),
])
def test_selection_weeks_are_training_or_evaluation_weeks(weeks, problem):
    """A test week among `selection_weeks` (it would flatter the test scores), an empty list or a bad spec is a
    named error when the hyperparameters are made, before any run; a whole set of weeks is accepted."""
    assert HyperParams(selection_weeks="train,eval:1").selection_week_numbers()[-2:] == [51, 48]
    with pytest.raises(ValueError, match=f"hyperparameter selection_weeks = .*{problem}"):
        HyperParams(selection_weeks=weeks)


def test_a_checkpoint_written_before_a_hyperparameter_existed_resumes(scenario, tmp_path):
    """A checkpoint whose hyperparameters lack a field added since (here `keep_best`) resumes, the field
    taking its default, to the uninterrupted run's policy."""
    kw = dict(episodes=2, seed=0, eval_every=1, checkpoint_every=1, progress=False, hp=HP)
    train(scenario, out=tmp_path / "ref", **kw)
    train_killed_after(scenario, tmp_path / "run", 1, **kw)
    ck = latest_checkpoint(tmp_path / "run")
    meta = json.loads(ck.read_text())
    del meta["hyperparams"]["keep_best"]
    ck.write_text(json.dumps(meta))
    train(scenario, out=tmp_path / "run", resume=True, **kw)
    _assert_same_tensors(_policy_tensors(tmp_path / "ref"), _policy_tensors(tmp_path / "run"))


def test_keep_best_is_refused_where_the_design_has_no_score_for_it(scenario, tmp_path):
    """The arbitrage aggregators compete: their summed earnings would keep collusive snapshots, so a run
    with `keep_best` is a named error before anything is written."""
    hp = HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16, keep_best=True)
    with pytest.raises(ValueError, match="keep_best: the arbitrage design has no score to keep a best snapshot by: "
                                         "the aggregators compete.*Train without keep_best"):
        train(scenario, out=tmp_path / "r", episodes=1, progress=False, hp=hp)
    assert not (tmp_path / "r").exists()


def test_policy_snapshots_along_training_leave_the_run_unchanged_and_end_at_its_policy(scenario, tmp_path):
    """`snapshot_every` keeps the policy at episode 0, every k-th and the last, each loadable like a run; the run
    trains exactly as without them (same curve, same final tensors), and the last snapshot is its policy."""
    from agents.learning.checkpoint import snapshot_folders

    hp = HyperParams.from_dict(HP.to_dict() | {"episodes": 5})
    with_snaps = train(scenario, seed=3, out=tmp_path / "a", eval_every=2, checkpoint_every=2, hp=hp, progress=False,
                       snapshot_every=2)
    plain = train(scenario, seed=3, out=tmp_path / "b", eval_every=2, checkpoint_every=2, hp=hp, progress=False)
    pd.testing.assert_frame_equal(with_snaps.curve, plain.curve)
    _assert_same_tensors(_policy_tensors(tmp_path / "a"), _policy_tensors(tmp_path / "b"))
    folders = snapshot_folders(tmp_path / "a")
    assert [f.name for f in folders] == ["ep000000", "ep000002", "ep000004", "ep000005"]
    _assert_same_tensors(_policy_tensors(folders[-1]), _policy_tensors(tmp_path / "b"))
    assert [load_trained_policy(f)[1]["episode"] for f in folders] == [0, 2, 4, 5]
    assert json.loads((tmp_path / "a" / "config.json").read_text())["args"]["snapshot_every"] == 2
    with pytest.raises(AssertionError):  # it learned: the untrained snapshot is another policy
        _assert_same_tensors(_policy_tensors(folders[0]), _policy_tensors(folders[-1]))
    with pytest.raises(ValueError, match="snapshot_every"):
        train(scenario, seed=3, out=tmp_path / "c", hp=hp, progress=False, snapshot_every=-1)
