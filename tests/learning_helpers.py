"""Helpers shared by the learner tests: a group's buffer filled with random hours; a day played to an hour; a run killed
and resumed."""

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


def play_to(model, hour_of_day: int, week: str = "test:2"):
    """Reset `model` to the third day of `week` from a cold start and clear its hours up to and including `hour_of_day`;
    returns the last cleared hour."""
    from model import dataset

    model.design.cold_start()
    model.reset_episode(dataset.resolve_week(week)[0], 2 * 24, 24)
    for _ in range(hour_of_day + 1):
        model.step()
    return model.hour_result


class Killed(Exception):
    """Raised from a training callback to stop a run as a crash would (after that episode's checkpoint)."""


def train_killed_after(scenario, out, kill_after: int, **kw) -> None:
    """Train `scenario` into `out` and kill it after episode `kill_after` (its checkpoint, where one is due, is written
    before the callback); asserts that the run died there."""
    import pytest

    from runs.training import train

    def kill(episode, learner):
        if episode == kill_after:
            raise Killed

    with pytest.raises(Killed):
        train(scenario, out=out, callback=kill, **kw)


def assert_resumes_to_same_bytes(scenario, whole, out, kill_after: int, files=("policy.pt", "train_curve.csv"), **kw):
    """Train `scenario` into `out`, killed after episode `kill_after` (`train_killed_after`), resume it there, and
    assert its `files` are those of the uninterrupted run in `whole`. Returns the resumed run's result."""
    from runs.training import train

    train_killed_after(scenario, out, kill_after, **kw)
    resumed = train(scenario, out=out, resume=True, **kw)
    for name in files:
        assert (whole / name).read_bytes() == (out / name).read_bytes(), name
    return resumed
