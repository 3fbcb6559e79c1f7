"""What the household designs (`p2p`, `stackelberg`) share: a population of households in DER
clusters with devices (`model.devices`), its year of data (`model.households`), each day's EV trips
and start states, the grid tariffs, the households' own observations, and the cluster learners.

A day is an episode: each household's start states (SOC, the EV's energy, indoor temperature) are
drawn from the scenario's seed for that day (the same day always starts the same), and the energy
stored over the day is valued at the day's mean mid-market rate of the grid tariffs.
"""

from __future__ import annotations

import functools
import json
from dataclasses import replace

import numpy as np

from agents.households import Household
from model import dataset, devices, households as household_data
from model.design import OWN, TIME, Feature, MarketDesign

HOURS_PER_DAY = devices.HOURS_PER_DAY

#: A household's own, changing observation (after the hour of week) and its constants (last).
OWN_OBSERVATION = (
    Feature("load_kw", OWN, 5.0, low=0.0),
    Feature("pv_kw", OWN, 5.0, low=0.0),
    Feature("battery_soc", OWN, low=0.0, high=1.0),
    Feature("ev_home", OWN, low=0.0, high=1.0),
    Feature("ev_energy_kwh", OWN, 50.0, low=0.0),
    Feature("ev_hours_to_departure", OWN, 24.0, low=0.0, high=24.0),
    Feature("ev_need_kwh", OWN, 50.0, low=0.0),
    Feature("ev_shortfall_kwh", OWN, 50.0, low=0.0),
    Feature("t_in_c", OWN, 20.0),
)
#: the column of a household design's first shared feature (after the hour and the own features)
FIRST_SHARED = 1 + len(OWN_OBSERVATION)
CONSTANT_OBSERVATION = (
    Feature("pv_kwp", OWN, 5.0, low=0.0),
    Feature("battery_kwh", OWN, 10.0, low=0.0),
    Feature("ev_charger_kw", OWN, 10.0, low=0.0),
    Feature("hp_kw", OWN, 5.0, low=0.0),
    Feature("t_min_c", OWN, 20.0),
    Feature("t_max_c", OWN, 20.0),
)
TIME_FEATURE = Feature("hour_of_week", TIME, low=0, high=dataset.HOURS_PER_WEEK - 1)


def observation(*shared: Feature) -> tuple[Feature, ...]:
    """A household design's observation: the hour, the household's own features, the design's
    shared features, the household's constants."""
    return (TIME_FEATURE, *OWN_OBSERVATION, *shared, *CONSTANT_OBSERVATION)


def _draw_clusters(rng: np.random.Generator, n: int, shares) -> np.ndarray:
    """Each household's cluster index (N,): the clusters' shares of `n` by largest remainder, in a random order."""
    shares = np.asarray(shares, dtype=float)
    counts = np.floor(shares * n).astype(int)
    counts[np.argsort(-(shares * n - counts), kind="stable")[: n - counts.sum()]] += 1  # largest remainder
    return rng.permutation(np.repeat(np.arange(len(counts)), counts))


def household_clusters(scenario: dict) -> list[str]:
    """Each household's cluster name, in participant order, from a scenario's dict (a run's policy.json
    `scenario`): the population's draw without its data, for readers of a run's outputs (the reports)."""
    rng = np.random.default_rng([scenario["seed"], 2])
    names = [c["name"] for c in scenario["clusters"]]
    return [names[k] for k in _draw_clusters(rng, scenario["n_households"], [c["share"] for c in scenario["clusters"]])]


@functools.lru_cache(maxsize=8)
def _population(scenario_json: str):
    """The households of a scenario (cached: the env builds a model per episode): their year of data,
    cluster, device sizes, in one seeded draw. Returns (year, cluster index (N,), sizes dict of (N,))."""
    sc = json.loads(scenario_json)
    n, seed = sc["n_households"], sc["seed"]
    data = sc["data"]
    if data["source"] == "synthetic":
        year = household_data.synthetic_household_year(n, seed=data["synthetic_seed"])
    else:
        year = household_data.select_households(household_data.load_household_year(), n, seed)
    rng = np.random.default_rng([seed, 2])
    cluster = _draw_clusters(rng, n, [c["share"] for c in sc["clusters"]])
    sizes = {}
    for key in ("pv_kwp", "battery_kwh", "battery_kw", "battery_eta", "soc_min", "soc_max", "ev_kwh", "ev_charger_kw",
                "ev_eta", "hp_kw", "hp_r_k_kw", "hp_c_kwh_k", "hp_cop_7c", "t_min_c", "t_max_c", "load_scale"):
        values = np.empty(n)
        for k, c in enumerate(sc["clusters"]):
            v, members = c[key], cluster == k
            values[members] = rng.uniform(v[0], v[1], members.sum()) if isinstance(v, list) else v
        sizes[key] = values
    return year, cluster, sizes



def grid_tariffs(da_eur_mwh: np.ndarray, tariffs) -> tuple[np.ndarray, np.ndarray]:
    """Import = day-ahead + the time-of-use adder; export = the feed-in tariff (never above import)."""
    t = tariffs
    hour_of_day = np.arange(len(da_eur_mwh)) % HOURS_PER_DAY
    adder = np.where(np.isin(hour_of_day, t.peak_hours), t.peak_adder_eur_mwh, t.offpeak_adder_eur_mwh)
    imp = da_eur_mwh + adder
    exp = t.feed_in_share * da_eur_mwh if t.feed_in_share > 0 else np.full_like(da_eur_mwh, t.feed_in_eur_mwh)
    return imp, np.minimum(exp, imp)


class HouseholdDesign(MarketDesign):
    """The household machinery of the P2P-family designs (see the module docstring). Subclasses
    add their stages, policies, record and the role their households play (`household_role`)."""

    episode_hours = HOURS_PER_DAY
    household_role = "household"

    def __init__(self, model):
        super().__init__(model)
        sc = model.scenario
        self.year, self.cluster, self.sizes = _population(json.dumps(sc.to_dict(), sort_keys=True))
        self.cluster_names = tuple(c.name for c in sc.clusters)
        self.learning_clusters = tuple(k for k, c in enumerate(sc.clusters) if c.learn)
        n = sc.n_households
        self.n = n
        self.zeros = np.zeros(n)
        self.ev_penalty_factor, self.comfort_eur_kh = sc.penalties.ev_penalty_factor, sc.penalties.comfort_eur_kh
        self.storage_credit = sc.penalties.storage_credit  # when the battery's stored energy is credited
        self.raw = dataset.synthetic_raw_data(seed=sc.data.synthetic_seed) if sc.data.source == "synthetic" else dataset.load_raw_data()
        self.import_all, self.export_all = grid_tariffs(self.raw.da_eur_mwh, sc.tariffs)
        self.households = [Household(model, i, int(i), self.cluster_names[c]) for i, c in enumerate(self.cluster)]
        self._base_params = self._device_params()
        self._constants = np.column_stack([self.sizes["pv_kwp"], self.sizes["battery_kwh"], self.sizes["ev_charger_kw"],
                                           self.sizes["hp_kw"], self.sizes["t_min_c"], self.sizes["t_max_c"]])
        self._member = [np.flatnonzero(self.cluster == k) for k in range(len(sc.clusters))]
        self._inv_count = np.array([1.0 / max(len(m), 1) for m in self._member])

    # --- the population ------------------------------------------------------------------------
    def participants(self):
        return self.households

    def participant_ids(self):
        return list(range(self.n))

    def participant_groups(self) -> list[str]:
        return [self.cluster_names[c] for c in self.cluster]

    #: the households' columns that the evaluation's hours.csv sums per hour and cluster
    CLUSTER_SUMS: tuple[str, ...] = ()

    def evaluation_hours(self, record, week_labels: np.ndarray):
        """The evaluation's hours.csv: per hour and cluster the households' sums (`CLUSTER_SUMS`),
        beside the hour's community outcome (a community column named like a sum gets "community_")."""
        hh = record.frame("households", ("hour", "cluster", *self.CLUSTER_SUMS))
        per = hh.groupby(["hour", "cluster"], sort=True)[list(self.CLUSTER_SUMS)].sum().reset_index()
        c = record.frame("community")
        c = c.rename(columns={k: f"community_{k}" for k in c.columns if k in self.CLUSTER_SUMS})
        c.insert(0, "week_label", week_labels)
        out = per.merge(c, on="hour")
        out["cluster"] = out["cluster"].map(dict(enumerate(self.cluster_names)))
        out["households"] = out["cluster"].map(dict(zip(self.cluster_names, np.bincount(self.cluster))))
        return out.rename(columns={"week_label": "week", "week": "week_number"})

    def device_actions(self, spec):
        """The households' action bounds `spec` with what the scenario makes their heat-pump action mean
        (`[control].heat_pump`: a set point instead of a power share), so a policy trained on the other refuses."""
        heat_pump = self.model.scenario.control.heat_pump
        return spec if heat_pump == "power" else spec.with_meaning("heat_pump", heat_pump)

    def _device_params(self) -> devices.DeviceParams:
        s, n = self.sizes, self.n
        no_trip = np.full(n, devices.NO_TRIP)
        return devices.DeviceParams(
            bat_capacity_kwh=s["battery_kwh"], bat_power_kw=s["battery_kw"], bat_eta_charge=s["battery_eta"],
            bat_eta_discharge=s["battery_eta"], bat_soc_min=s["soc_min"], bat_soc_max=s["soc_max"],
            ev_capacity_kwh=s["ev_kwh"], ev_charger_kw=s["ev_charger_kw"], ev_eta=s["ev_eta"],
            ev_departure_hour=no_trip, ev_arrival_hour=no_trip, ev_need_kwh=np.zeros(n), ev_arrival_kwh=np.zeros(n),
            hp_p_max_kw=s["hp_kw"], hp_r_k_kw=s["hp_r_k_kw"], hp_c_kwh_k=s["hp_c_kwh_k"], hp_cop_7c=s["hp_cop_7c"],
            hp_t_min_c=s["t_min_c"], hp_t_max_c=s["t_max_c"], hp_setpoint_action=self.model.scenario.control.heat_pump == "setpoint",
        )

    # --- data and episodes -------------------------------------------------------------------------
    def load_week(self, week: int) -> None:
        lo, hi = week * dataset.HOURS_PER_WEEK, (week + 1) * dataset.HOURS_PER_WEEK
        y, s = self.year, self.sizes
        self.week_load = np.ascontiguousarray((y.load_kw[:, lo:hi] * s["load_scale"][:, None]).T, dtype=float)  # (168, N)
        self.week_pv = np.ascontiguousarray((y.pv_kw_per_kwp[:, lo:hi] * s["pv_kwp"][:, None]).T, dtype=float)
        self.week_t_out = np.asarray(y.outdoor_temp_c[lo:hi], dtype=float)
        self.week_import, self.week_export = self.import_all[lo:hi], self.export_all[lo:hi]
        self.week = week

    exploring_starts_refused = None  # a day that training starts part-way begins from `exploring_start`'s states

    def begin_day(self) -> None:
        """Start of a day: that day's EV trips, and the start states drawn for (scenario seed, day); an episode
        that starts part-way through its day (training's `exploring_starts`) begins from `exploring_start`'s
        states instead. The energy stored from here to the day's end is valued at the whole day's mean
        mid-market rate."""
        day = self.week * 7 + self.model.hour_of_week // HOURS_PER_DAY
        self.params, self.state = self.day_start(day)
        first = self.model.hour_of_week - self.model.hour_of_week % HOURS_PER_DAY  # the day's first hour
        if self.model.hour_of_week > first:
            self.state = self.exploring_start(day, self.model.hour_of_week - first)
        self._day_mid = float(np.mean(0.5 * (self.week_import[first:first + HOURS_PER_DAY]
                                             + self.week_export[first:first + HOURS_PER_DAY])))
        self._day_state = self.state

    def exploring_start(self, day: int, hour_of_day: int) -> devices.DeviceState:
        """The device states of an episode that training starts at `hour_of_day` (> 0) of `day`: battery energy and
        indoor temperature uniform within each household's limits, the EV's energy as at the day's start (what it
        came home with the night before; a trip's departure and arrival still reset it). Drawn for (scenario seed,
        day, hour): the same start is always the same. States the learners' own play may never reach (a battery
        that still holds energy in the afternoon, a house at the top of its band) are visited this way."""
        s = self.sizes
        rng = np.random.default_rng([self.model.scenario.seed, 4, day, hour_of_day])
        soc = rng.uniform(s["soc_min"], s["soc_max"])
        t_in = rng.uniform(s["t_min_c"], s["t_max_c"])
        return devices.DeviceState(soc * s["battery_kwh"], self.state.ev_energy_kwh, t_in)

    def day_start(self, day: int) -> tuple[devices.DeviceParams, devices.DeviceState]:
        """The day's device parameters (its EV trips) and start states, the same for the same day."""
        y, s = self.year, self.sizes
        has_ev = s["ev_kwh"] > 0
        scale = np.where(has_ev, s["ev_kwh"] / np.maximum(y.ev_capacity_kwh, 1e-9), 0.0)
        prev = max(day - 1, 0)
        need = np.minimum(y.ev_energy_needed_kwh[:, day] * scale, s["ev_kwh"])
        arrive = np.minimum(y.ev_energy_on_arrival_kwh[:, day] * scale, s["ev_kwh"])
        params = replace(
            self._base_params,
            ev_departure_hour=np.where(has_ev, y.ev_departure_hour[:, day], devices.NO_TRIP),
            ev_arrival_hour=np.where(has_ev, y.ev_arrival_hour[:, day], devices.NO_TRIP),
            ev_need_kwh=np.where(has_ev, need, 0.0), ev_arrival_kwh=np.where(has_ev, arrive, 0.0),
        )
        rng = np.random.default_rng([self.model.scenario.seed, 3, day])
        soc = rng.uniform(s["soc_min"], s["soc_max"])
        t_in = rng.uniform(s["t_min_c"], s["t_max_c"])
        ev_start = np.minimum(y.ev_energy_on_arrival_kwh[:, prev] * scale, s["ev_kwh"])  # it came home with this last night
        return params, devices.DeviceState(soc * s["battery_kwh"], np.where(has_ev, ev_start, 0.0), t_in)

    def peak_settings(self) -> dict:
        """The peak penalty of the day's LP (`p2p_optimum.DayInputs` fields; none by default)."""
        return {}

    def day_problem(self, day: int, import_eur_mwh=None, export_eur_mwh=None):
        """(device parameters, start states, `p2p_optimum.DayInputs`) of an absolute day: what the
        centralised perfect-foresight optimum of that day solves (the same data, tariffs, penalties
        and start states the simulation plays). `import_eur_mwh`/`export_eur_mwh` (24,): other prices
        to buy and sell at (a Stackelberg follower's retail prices); the EV penalty and the value of
        stored energy stay at the grid tariffs', as in the simulation."""
        from model.markets.p2p_optimum import DayInputs

        week, first = self.episode_start(day)
        if week != getattr(self, "week", None):
            self.load_week(week)
        hours = slice(first, first + HOURS_PER_DAY)
        pen = self.model.scenario.penalties
        params, state = self.day_start(day)
        grid_imp, grid_exp = self.week_import[hours], self.week_export[hours]
        inputs = DayInputs(
            load_kw=self.week_load[hours], pv_kw=self.week_pv[hours], t_out_c=self.week_t_out[hours],
            import_eur_mwh=grid_imp if import_eur_mwh is None else import_eur_mwh,
            export_eur_mwh=grid_exp if export_eur_mwh is None else export_eur_mwh,
            ev_penalty_factor=pen.ev_penalty_factor, comfort_eur_kh=pen.comfort_eur_kh,
            terminal_price_eur_mwh=float(np.mean(0.5 * (grid_imp + grid_exp))), ev_penalty_import_eur_mwh=grid_imp,
            **self.peak_settings(),
        )
        return params, state, inputs

    def stored_value(self, end_state: devices.DeviceState) -> np.ndarray:
        """The value of the energy each household stored over the day, at the day's mean mid-market
        rate (+ = it ends the day with more than it started with)."""
        return devices.terminal_value_eur(self.params, self._day_state, end_state, self._day_mid)

    def storage_credit_eur(self, day_end_eur: np.ndarray, end_state: devices.DeviceState, last_hour: bool) -> np.ndarray:
        """The value of stored energy credited to each household this hour (EUR, + = it gains), given `day_end_eur`,
        what the day's last hour credits as the scenario's day-end value (`stored_value`; zeros before that hour) and
        the devices' state after this hour. `storage_credit = "day_end"`: `day_end_eur` unchanged. "hourly": the
        battery's change this hour at the day's mid-market rate, and in the last hour the day-end value less the
        battery's part of it (the EV's energy stays valued at the day's end, against its arrival energy), so the
        day's credits add up to the same (to rounding). The battery's value then reaches the learner in the hour
        that charges or discharges it, not hours later through the discount."""
        if self.storage_credit == "day_end":
            return day_end_eur
        credit = self._day_mid * (end_state.bat_energy_kwh - self.state.bat_energy_kwh) / 1000.0
        if last_hour:
            day_end_eur = day_end_eur - self._day_mid * (end_state.bat_energy_kwh - self._day_state.bat_energy_kwh) / 1000.0
        return day_end_eur + credit

    def fill_household_columns(self, obs: np.ndarray, h, hour_of_day: int) -> None:
        """Write the hour, the households' own features and constants into `obs` (see `observation`)."""
        p, s = self.params, self.state
        obs[:, 0] = h.hour_of_week
        obs[:, 1] = h.inputs.load_kw
        obs[:, 2] = h.inputs.pv_kw
        obs[:, 3] = s.bat_energy_kwh / np.where(p.bat_capacity_kwh > 0, p.bat_capacity_kwh, 1.0)
        home = (hour_of_day < p.ev_departure_hour) | (hour_of_day >= p.ev_arrival_hour)
        obs[:, 4] = home & (p.ev_capacity_kwh > 0)
        e_ev = devices.ev_arrival_departure(p, s.ev_energy_kwh, hour_of_day)[0]
        obs[:, 5] = e_ev
        before = (hour_of_day <= p.ev_departure_hour) & p.has_trip
        obs[:, 6] = np.where(before, p.ev_departure_hour - hour_of_day, 0.0)
        obs[:, 7] = np.where(before, p.ev_need_kwh, 0.0)
        obs[:, 8] = np.where(before, np.maximum(p.ev_need_kwh - e_ev, 0.0), 0.0)
        obs[:, 9] = s.t_in_c
        obs[:, -len(CONSTANT_OBSERVATION):] = self._constants

    # --- counterfactual transitions (`HyperParams.counterfactual_households`) ------------------------------------
    counterfactual_households_refused = None
    #: what `end_hour` sets `counterfactual_hour` back to: the design's attributes as the ended hour found them
    _hour_start: dict | None = None

    def counterfactual_hour(self, model, hour, stage: str, actions: np.ndarray):
        """The hour that has just ended (`end_hour` has run) as it would have been with `actions`: cleared again from
        its start (`_hour_start`: the devices' states and whatever else the hour changed; `MarketModel.reclear`), a
        later stage whose observations did not change playing what it played (followers who do not see what the
        deviation changed act as they did); changes nothing."""
        if self._hour_start is None:
            raise RuntimeError("counterfactual_hour replays the hour that has just ended: step the model first")
        now = {name: getattr(self, name) for name in self._hour_start}
        self.__dict__.update(self._hour_start)
        try:
            return model.reclear(hour, stage, actions, replay_unchanged=True)
        finally:
            self.__dict__.update(now)

    def counterfactual_observation(self, hour, variant) -> np.ndarray:
        """`hour`'s household observations (the hour after `variant`'s) as the households would have seen them had
        `variant` happened: their devices' states as it left them and the market's last-hour columns as its
        (`variant_market_columns`); everything else (time, weather, tariffs, a leader's posted prices) as `hour`."""
        stage = next(s.name for s in self.stages if s.role == self.household_role)
        obs = np.array(hour.observations[stage], dtype=float)
        state = self.state
        self.state = variant.records[stage].step.state
        try:
            self.fill_household_columns(obs, hour, hour.inputs.hour_of_day)
        finally:
            self.state = state
        self.variant_market_columns(obs, variant)
        return obs

    def variant_market_columns(self, obs: np.ndarray, variant) -> None:
        """Write into `obs` the columns that show the last hour's market, as `variant` cleared it."""
        raise NotImplementedError

    def training_episodes(self) -> np.ndarray:
        """Training days: the days of the training weeks (ids = absolute day numbers)."""
        return np.array([w * 7 + d for w in dataset.week_split().train for d in range(7)])

    def episode_start(self, episode: int) -> tuple[int, int]:
        return int(episode) // 7, (int(episode) % 7) * HOURS_PER_DAY

    learners = ("maddpg-ps", "ddpg-ps", "maddpg", "one-cluster")  # agents.learning.clusters.VARIANTS

    def default_learner(self, hp, seed: int, device, config=None):
        """MADDPG with parameter sharing per cluster (or a variant: `config["variant"]`)."""
        from agents.learning.clusters import cluster_learner

        config = {"variant": "maddpg-ps", **(config or {})}
        return cluster_learner(self.role_specs(), hp, seed, device, config | self.learner_groups(config["variant"]))

    def learner_groups(self, variant: str) -> dict:
        """The groups a learner plays: per learning cluster its rows and the action components of the
        devices it has (one group for them all in the "one-cluster" variant)."""
        clusters = self.model.scenario.clusters
        names = [clusters[k].name for k in self.learning_clusters]
        rows = [self._member[k].tolist() for k in self.learning_clusters]
        comps = [[i for i, d in enumerate(("battery", "ev", "heat_pump")) if d in clusters[k].devices]
                 for k in self.learning_clusters]
        if variant == "one-cluster":
            return {"names": ["all"], "clusters": [sorted(i for g in rows for i in g)],
                    "components": [sorted({c for g in comps for c in g})]}
        return {"names": names, "clusters": rows, "components": comps}

