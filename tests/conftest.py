"""Fixtures shared by several test files."""

import pytest


def pytest_collection_modifyitems(session, config, items):
    """Tests marked `long` (whole tiny studies, minutes each) run first: pytest-xdist hands tests out in
    collection order, and one of them started last keeps a single worker busy while the other idles
    (`make test` took 709 s with the arbitrage tiny study at the end, for 1,025 s of tests on two workers)."""
    items.sort(key=lambda item: item.get_closest_marker("long") is None)  # stable: the rest keep their order


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
