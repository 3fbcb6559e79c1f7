"""`localmarl simulate --policy RUN_DIR`: a trained run plays in the command line, resolved by the
same code as the app's Policy control (`runs.policies.resolve_policy`)."""

import json
import shutil
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from agents.learning.hyperparams import HyperParams
from model.atomic import file_sha256
from runs.policies import resolve_policy
from runs.training import evaluate_policy, load_trained_policy, train
from runs.cli import main, scenario_to_play


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A one-episode HMADDPG run on a synthetic-data copy of one-arb."""
    tmp = tmp_path_factory.mktemp("trained")
    scenario = tmp / "toy-one-arb.toml"
    scenario.write_text('extends = "one-arb"\nname = "toy-one-arb"\n\n[data]\nsource = "synthetic"\n')
    run = tmp / "toy-run"
    train(str(scenario), out=run, episodes=1, seed=0, eval_every=1, progress=False,
          hp=HyperParams(hidden_sizes=(16,), buffer_size=5000, batch_size=16))
    return run


def test_simulate_plays_a_trained_run_like_evaluate_policy(run_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # the default --out is relative: runs/out/simulate-...
    assert main(["simulate", "--policy", str(run_dir), "--week", "test:1"]) == 0
    out = tmp_path / "runs" / "out" / "simulate-toy-one-arb-test1-toy-run"  # the run folder's name, no slashes
    assert f"policy hmaddpg from {run_dir} (episode 1)" in capsys.readouterr().out
    aggs = pd.read_csv(out / "aggregators.csv")
    assert len(aggs) == 168 * 10 and aggs["withheld"].abs().sum() > 0  # the actor withholds: not truthful bids
    # a second code path: the training code's evaluation of the same brain on the same week
    learner, meta = load_trained_policy(run_dir)
    expected, _ = evaluate_policy(meta["scenario_arg"], learner, seed=0, weeks=["test:1"], keep_hours=False)
    got = aggs.groupby("aggregator", as_index=False)[["r1", "r2"]].sum()
    got = got.rename(columns={"r1": "first_stage_eur", "r2": "second_stage_eur"})
    got["total_eur"] = got.first_stage_eur + got.second_stage_eur
    assert list(got.aggregator) == list(expected.aggregator)
    for col in ("first_stage_eur", "second_stage_eur", "total_eur"):
        np.testing.assert_allclose(got[col], expected[col], rtol=1e-6, atol=1e-6, err_msg=col)
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["args"]["scenario"] == meta["scenario_arg"] and cfg["scenario"]["name"] == "toy-one-arb"
    trained = cfg["trained_policy"]
    assert trained["run_dir"] == str(run_dir) and trained["kind"] == "localmarl-policy"
    assert trained["tensor_sha256"] == file_sha256(run_dir / "policy.pt") and trained["episode"] == 1


def test_a_scenario_other_than_the_runs_is_refused(run_dir, tmp_path, capsys):
    bad = tmp_path / "bad"
    assert main(["simulate", "--policy", str(run_dir), "--scenario", "s-a", "--out", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "--scenario s-a (scenario 's-a') is not the scenario the policy in" in err
    assert "trained on ('toy-one-arb'" in err and "omit --scenario" in err
    assert not bad.exists()
    # the run's own scenario, by the same string or by another file with the same content, is accepted
    played = resolve_policy(str(run_dir))
    assert scenario_to_play(None, played) == played.scenario
    assert scenario_to_play(played.scenario, played) == played.scenario
    copy = tmp_path / "copy.toml"
    shutil.copy(played.scenario, copy)
    assert scenario_to_play(str(copy), played) == str(copy)


def test_a_corrupt_or_missing_policy_is_exit_2_and_writes_nothing(run_dir, tmp_path, capsys):
    corrupt = tmp_path / "corrupt"
    shutil.copytree(run_dir, corrupt)
    (corrupt / "policy.json").write_text("{not json")
    out = tmp_path / "sim"
    assert main(["simulate", "--policy", str(corrupt), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert f"could not load the trained run {corrupt}: CheckpointError" in err
    assert "cannot read metadata" in err and "missing or corrupt" in err and "Traceback" not in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["simulate", "--policy", str(empty), "--out", str(out)]) == 2
    assert "no policy.json and no checkpoints; is this a `localmarl train` folder?" in capsys.readouterr().err
    assert main(["simulate", "--policy", str(tmp_path / "nowhere"), "--out", str(out)]) == 2
    assert "nowhere: FileNotFoundError: no such folder" in capsys.readouterr().err
    assert not out.exists() and not list(tmp_path.glob(".sim*"))


def test_an_unknown_policy_name_lists_the_names_and_mentions_run_folders(tmp_path, capsys):
    out = tmp_path / "sim"
    assert main(["simulate", "--policy", "greedy", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "unknown policy 'greedy': use one of truthful, random, rule, or the path of a run folder" in err
    assert not out.exists()


def test_built_in_policies_stay_light():
    code = ("import sys; from runs.policies import resolve_policy; import runs.cli; "
            "r = resolve_policy('rule'); print(r.policy, r.scenario, r.label, 'torch' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "rule None rule False"
