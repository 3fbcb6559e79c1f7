"""The learners on a CUDA GPU (`--device cuda`): the same networks, the same updates and the same actions as on
the CPU for every design's default learner, and a run trained on the GPU that resumes there and loads on a CPU.

These need a GPU that torch sees; CI's machines have none, so there they are skipped (the refusal of
`--device cuda` without a GPU is tested in tests/test_hmaddpg.py and tests/test_reliability.py). On a GPU
machine: `python -m pytest tests/test_cuda.py` (docs/arbitrage-study.md, "Training speed", has the last run)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from agents.learning.hyperparams import HyperParams
from model.scenario import load_scenario
from runs.training import default_policy_name, design_hyperparams, load_trained_policy, make_model, store_hour, train
from tests.learning_helpers import train_killed_after

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (torch.cuda.is_available() is False)")

# every design's default learner, small: the arbitrage HMADDPG (one-arb), P2P MADDPG-PS (24 households) and the
# Stackelberg leader-follower learner (its small scenario)
GPU = "cuda"
SCENARIOS = {"one-arb": None, "p2p-mmr": 24, "stackelberg-small": None}


def _scenario(name):
    n = SCENARIOS[name]
    return load_scenario(name) if n is None else load_scenario(name).with_overrides(n_households=n)


def _hp(name) -> HyperParams:
    base = design_hyperparams(name, [])
    return HyperParams.from_dict(base.to_dict() | {"hidden_sizes": [32, 32], "batch_size": 32, "updates_per_episode": 3})


def _flat(state) -> dict[str, torch.Tensor]:
    out = {}

    def walk(prefix, v):
        if isinstance(v, dict):
            for k, x in v.items():
                walk(f"{prefix}/{k}", x)
        elif isinstance(v, torch.Tensor):
            out[prefix] = v.detach().cpu()

    walk("", state)
    return out


def _assert_close_states(a, b, atol):
    fa, fb = _flat(a), _flat(b)
    assert fa.keys() == fb.keys() and fa
    for k in fa:
        torch.testing.assert_close(fa[k], fb[k], rtol=1e-3, atol=atol, msg=lambda m, k=k: f"{k}: {m}")


def _assert_same_actions(model, a, b):
    """The two learners' actions on the model's last hour's observations, every acting stage."""
    d, obs = model.design, model.hour_result.observations
    for stage in d.acting_stages():
        rows = np.arange(len(d.population(stage.role)))
        np.testing.assert_allclose(a.act(stage.name, obs[stage.name], rows), b.act(stage.name, obs[stage.name], rows),
                                   rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_the_gpu_learner_learns_and_acts_as_the_cpu_learner_does(name):
    hp = _hp(name)
    model = make_model(_scenario(name), default_policy_name(name), 0, week="train:1")
    d = model.design
    cpu, gpu = d.default_learner(hp, 0, "cpu"), d.default_learner(hp, 0, GPU)
    assert all(p.device.type == torch.device(GPU).type for s in gpu.slots for p in s.group.actor.parameters())
    _assert_close_states(cpu.policy_state(), gpu.policy_state(), atol=0.0)  # one initialisation, from a CPU generator
    model.set_policy(cpu)  # the CPU learner plays, deterministically; both store the same hours and draw the same batches
    cpu.explore = gpu.explore = False
    pool = d.training_episodes()
    for episode in pool[:2]:
        model.reset_episode(*d.episode_start(int(episode)))
        while model.running:
            model.step()
            hour = model.hour_result
            _assert_same_actions(model, gpu, cpu)
            for learner in (cpu, gpu):
                store_hour(learner, model, hour, last=not model.running)
        cpu_stats, gpu_stats = cpu.end_episode(), gpu.end_episode()
        assert cpu_stats.keys() == gpu_stats.keys() and cpu_stats  # they learned
        np.testing.assert_allclose(list(gpu_stats.values()), list(cpu_stats.values()), rtol=1e-3, atol=1e-4)
    _assert_close_states(cpu.policy_state(), gpu.policy_state(), atol=1e-4)
    moved = _flat(d.default_learner(hp, 0, "cpu").policy_state())
    assert any(not torch.equal(moved[k], v) for k, v in _flat(gpu.policy_state()).items())  # and the networks moved


@pytest.mark.parametrize("name", ["p2p-mmr", "one-arb"])
def test_a_run_trained_on_the_gpu_resumes_there_and_loads_on_a_cpu(name, tmp_path):
    hp = HyperParams.from_dict(_hp(name).to_dict() | {"episodes": 4})
    kw = dict(seed=1, eval_every=2, checkpoint_every=2, progress=False, hp=hp, device=GPU)
    whole = train(_scenario(name), out=tmp_path / "whole", **kw)
    train_killed_after(_scenario(name), tmp_path / "resumed", 3, **kw)  # the newest checkpoint is episode 2's
    resumed = train(_scenario(name), out=tmp_path / "resumed", resume=True, **kw)
    assert len(whole.curve) and list(resumed.curve.episode) == list(whole.curve.episode)
    np.testing.assert_allclose(resumed.curve.eval_score_eur, whole.curve.eval_score_eur, rtol=1e-4, atol=1e-2)
    on_cpu, meta = load_trained_policy(tmp_path / "whole", device="cpu")
    on_gpu, _ = load_trained_policy(tmp_path / "whole", device=GPU)
    assert meta["seed"] == 1
    _assert_close_states(on_cpu.policy_state(), on_gpu.policy_state(), atol=0.0)
    model = make_model(_scenario(name), on_cpu, 0, week="test:2")
    model.step()
    _assert_same_actions(model, on_gpu, on_cpu)
