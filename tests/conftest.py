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


@pytest.fixture(scope="session")
def small_p2p(tmp_path_factory):
    """A scenario file: the P2P design's p2p-mmr with 24 households."""
    p = tmp_path_factory.mktemp("small-p2p") / "small.toml"
    p.write_text('extends = "p2p-mmr"\nn_households = 24\n')
    return str(p)


@pytest.fixture(scope="session")
def small_hp():
    """`small_hp(scenario, **settings)`: the design's hyperparameters with small networks and batches (32, 32; batch
    32; 2 updates per episode) and `settings` on top."""
    def make(scenario, **settings):
        from agents.learning.hyperparams import HyperParams
        from runs.training import design_hyperparams

        base = design_hyperparams(scenario).to_dict() | {"hidden_sizes": [32, 32], "batch_size": 32, "updates_per_episode": 2}
        return HyperParams.from_dict(base | settings)

    return make
