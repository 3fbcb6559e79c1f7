"""Fixtures shared by several test files."""

import pytest


@pytest.fixture(scope="session")
def briefly_trained(tmp_path_factory):
    """A one-arb run of the arbitrage learner trained for two episodes (seed 0): a real policy on the real
    market, for the checks that take any policy (fitted play, fitted two-stage responders)."""
    from agents.learning.hyperparams import HyperParams
    from runs.training import train

    d = tmp_path_factory.mktemp("briefly-trained") / "run"
    hp = HyperParams.from_dict(HyperParams().to_dict() | {"gamma": 0.0, "updates_per_episode": 2, "episodes": 2})
    train("one-arb", seed=0, out=d, eval_every=2, hp=hp, progress=False)
    return d
