"""When the household designs credit the value of stored energy ([penalties].storage_credit): at the day's end
(the default) or hour by hour for the battery. The day's money is the same either way; only its timing moves."""

from __future__ import annotations

import numpy as np
import pytest

from model import devices
from model.scenario import ScenarioError, load_scenario, scenario_sha256
from runs.training import make_model

H = devices.HOURS_PER_DAY


def _day(scenario: str, credit: str):
    """A test day of 24 households under random actions (seeded): per hour, the stage record."""
    sc = load_scenario(scenario).with_overrides(n_households=24, storage_credit=credit)
    model = make_model(sc, "random", 3)
    model.reset_episode(*model.design.episode_start(7 * 40 + 2), H)
    stage = "p2p" if scenario == "p2p-mmr" else "auction"
    out = []
    while model.running:
        model.step()
        out.append(getattr(model.hour_result, stage))
    return model.design, out


@pytest.mark.parametrize("scenario", ["p2p-mmr", "stackelberg"])
def test_hourly_credit_moves_the_batterys_value_into_its_hours_and_keeps_the_days_money(scenario):
    d, day_end = _day(scenario, "day_end")
    _, hourly = _day(scenario, "hourly")
    # the same play: random actions and device steps do not depend on when the value is credited
    for a, b in zip(day_end, hourly):
        np.testing.assert_array_equal(a.step.state.bat_energy_kwh, b.step.state.bat_energy_kwh)
    field = "reward" if scenario == "p2p-mmr" else "follower_reward"
    day_total = [np.sum([getattr(r, field) for r in rec], axis=0) for rec in (hourly, day_end)]
    np.testing.assert_allclose(day_total[0], day_total[1], rtol=0, atol=1e-9)
    credit = np.array([r.storage_value_eur for r in hourly])  # (24, N)
    assert (np.array([r.storage_value_eur for r in day_end])[:-1] == 0).all()  # day_end: nothing before the last hour
    battery = d.params.bat_capacity_kwh > 0
    assert battery.any() and (~battery).any()
    assert (credit[:-1, ~battery] == 0).all()  # no battery, nothing to credit before the day's end
    charged = np.array([r.step.bat_kw for r in hourly])[:-1, battery]  # + = charging
    moved = np.abs(charged) > 1e-6
    assert moved.sum() > 20
    assert (np.sign(credit[:-1, battery][moved]) == np.sign(charged[moved])).all()  # charging is credited, discharging debited


def test_the_setting_is_checked_and_leaves_existing_scenarios_fingerprints_alone():
    sc = load_scenario("stackelberg")
    assert sc.penalties.storage_credit == "day_end" and "storage_credit" not in sc.to_dict()["penalties"]
    hourly = sc.with_overrides(storage_credit="hourly")
    assert hourly.to_dict()["penalties"]["storage_credit"] == "hourly"
    assert scenario_sha256(hourly) != scenario_sha256(sc)
    with pytest.raises(ScenarioError, match=r"storage_credit = 'weekly' must be one of \['day_end', 'hourly'\]"):
        load_scenario("p2p-mmr").with_overrides(storage_credit="weekly")
