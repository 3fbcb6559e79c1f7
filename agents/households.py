"""The P2P design's Mesa agents: households (the participants, in DER clusters) and the platform
operator that clears each hour, with the immutable record the hour leaves; and the households'
rule-based policies.

The platform (the trusted third party of the paper) executes the households' device setpoints
(projected onto what each device allows: `model.devices.step`), prices the community's net
positions with the mid-market rate (`model.markets.p2p_mmr`), charges the peak penalty and the
device penalties, and publishes the hour's collective information. Money: + = the household pays.
"""

from __future__ import annotations

from typing import NamedTuple

import mesa
import numpy as np

from model import devices
from model.markets import p2p_mmr

#: One household's action: battery power share in [-1, 1] (+ charge), EV charging and heat-pump power shares in [0, 1].
ACTIONS = ("battery", "ev", "heat_pump")


class Household(mesa.Agent):
    """One household: its cluster (DER portfolio) and the policy that runs its devices."""

    def __init__(self, model, index: int, household_id: str, cluster: str, policy=None):
        super().__init__(model)
        self.index = index
        self.participant_id = household_id
        self.cluster = cluster
        self.policy = policy


class P2PInputs(NamedTuple):
    """An hour's data: per household (N,) load and PV (kW); outdoor temperature; tariffs (€/MWh)."""

    load_kw: np.ndarray
    pv_kw: np.ndarray
    t_out_c: float
    import_eur_mwh: float
    export_eur_mwh: float
    hour_of_day: int


class PlatformRecord(NamedTuple):
    """The cleared hour: what the devices did, the platform's prices and every household's money."""

    requested: np.ndarray  # (N, 3) the actions asked for
    executed_actions: np.ndarray  # (N, 3) what the devices did (the projection), in action units
    step: devices.StepResult  # executed powers, the next state, unmet EV energy, comfort violation
    net_kw: np.ndarray  # (N,) + = the household needs energy
    mmr: p2p_mmr.MmrResult  # buy/sell prices, demand, supply, bills, grid import/export, P2P-traded
    peak_share_eur: np.ndarray  # (N,) the household's share of this hour's peak penalty (hourly form)
    daily_peak_share_eur: np.ndarray  # (N,) its share of the day's demand charge (daily form, at the day's last hour)
    peak_penalty_eur: float  # the community's peak penalty: this hour's (hourly form) or the day's (daily, last hour)
    ev_penalty_eur: np.ndarray  # (N,)
    comfort_penalty_eur: np.ndarray  # (N,)
    storage_value_eur: np.ndarray  # (N,) the value of stored energy credited this hour (at the day's last hour, or
    # hourly for the battery: [penalties].storage_credit)
    reward: np.ndarray  # (N,) - (bill + peak shares + penalties) + stored value  (EUR)
    collective: np.ndarray  # what the platform tells the critics (see P2PDesign.COLLECTIVE)


class Platform(mesa.Agent):
    """Clears the P2P platform each hour (see the module docstring)."""

    def __init__(self, model, design):
        super().__init__(model)
        self.design = design

    def clear(self, hour, actions: np.ndarray) -> PlatformRecord:
        d, x = self.design, hour.inputs
        step = devices.step(d.params, d.state, x.hour_of_day, x.t_out_c, actions[:, 0], actions[:, 1], actions[:, 2])
        executed = np.column_stack([step.bat_action, step.ev_action, step.hp_action])
        net = x.load_kw + step.bat_kw + step.ev_kw + step.hp_kw - x.pv_kw
        if d.p2p:
            mmr = p2p_mmr.clear_mmr(net, x.import_eur_mwh, x.export_eur_mwh, check=False)
        else:  # no platform: every household buys at the import tariff and sells at the export tariff
            mmr = p2p_mmr.grid_only(net, x.import_eur_mwh, x.export_eur_mwh)
        peak_share, peak_total = d.hourly_peak(net)
        ev_pen = step.ev_unmet_kwh * (d.ev_penalty_factor * x.import_eur_mwh / 1000.0)
        comfort_pen = step.comfort_violation_kh * d.comfort_eur_kh
        if x.hour_of_day == devices.HOURS_PER_DAY - 1:
            stored, daily_share, daily_total = d.day_end(net, step.state)
        else:
            stored, daily_share, daily_total = d.zeros, d.zeros, 0.0
        stored = d.storage_credit_eur(stored, step.state, x.hour_of_day == devices.HOURS_PER_DAY - 1)
        reward = stored - (mmr.bill_eur + peak_share + daily_share + ev_pen + comfort_pen)
        return PlatformRecord(actions, executed, step, net, mmr, peak_share, daily_share, peak_total + daily_total, ev_pen,
                              comfort_pen, stored, reward, d.collective(mmr, executed))


# --- policies -------------------------------------------------------------------------------------
class RulePolicy:
    """The rules of the paper's baselines: the battery follows the household's own meter (stores its
    PV surplus, covers its own demand), the EV charges at full power when home, the heat pump keeps
    the middle of the comfort band (`model.devices.rule_actions`). Reads its own devices' state."""

    name = "rule"

    def __init__(self, design):
        self.design = design

    def act(self, stage, obs, rows):
        d, x = self.design, self.design.current_inputs
        bat, ev, hp = devices.rule_actions(d.params, d.state, x.hour_of_day, x.load_kw, x.pv_kw, x.t_out_c)
        return np.column_stack([bat, ev, hp])[rows]


class PassivePolicy:
    """Does nothing: batteries idle, EVs not charged, heat pumps off (a lower reference)."""

    name = "passive"

    def act(self, stage, obs, rows):
        return np.zeros((len(rows), len(ACTIONS)))


class RandomPolicy:
    """Uniformly random setpoints (a sanity baseline); seeded."""

    name = "random"

    def __init__(self, rng: np.random.Generator):
        self.rng = rng

    def act(self, stage, obs, rows):
        u = self.rng.uniform(0.0, 1.0, (len(rows), len(ACTIONS)))
        u[:, 0] = 2.0 * u[:, 0] - 1.0
        return u
