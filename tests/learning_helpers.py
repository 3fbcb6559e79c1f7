"""Helpers shared by the learner tests: a group's buffer filled with random hours; a run killed and resumed."""

import numpy as np

from agents.learning.groups import MemberGroup
from model.spaces import OWN, SHARED, TIME, Feature

FEATURES = (Feature("hour_of_week", TIME), Feature("price", SHARED, 10.0), Feature("target", OWN))


def fill_group(group, hours: int, day_hours: int, seed: int = 1) -> None:
    """Store `hours` random hours (observations of `FEATURES`, actions in [0, 1], rewards ~ N(0, 100); a member group
    also one collective feature), an episode ending every `day_hours` (the last one unfinished where `hours` is not a
    multiple)."""
    rng = np.random.default_rng(seed)
    n = group.n
    for k in range(hours):
        obs = np.column_stack([np.full(n, k % 168), np.full(n, rng.uniform(20, 60)), rng.uniform(0, 1, n)])
        group.remember(obs, rng.uniform(0, 1, (n, group.act_dim)), rng.normal(0, 100, n),
                       rng.uniform(0, 1, 1) if isinstance(group, MemberGroup) else None, k % day_hours == day_hours - 1)


class Killed(Exception):
    """Raised from a training callback to stop a run as a crash would (after that episode's checkpoint)."""


def assert_resumes_to_same_bytes(scenario, whole, out, kill_after: int, **kw):
    """Train `scenario` into `out`, killed after episode `kill_after` (its checkpoint is written before the callback),
    resume it there, and assert its policy.pt and train_curve.csv are those of the uninterrupted run in `whole`.
    Returns the resumed run's result."""
    import pytest

    from runs.training import train

    def kill(episode, learner):
        if episode == kill_after:
            raise Killed

    with pytest.raises(Killed):
        train(scenario, out=out, callback=kill, **kw)
    resumed = train(scenario, out=out, resume=True, **kw)
    for name in ("policy.pt", "train_curve.csv"):
        assert (whole / name).read_bytes() == (out / name).read_bytes(), name
    return resumed
