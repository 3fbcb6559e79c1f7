"""The P2P design's scenarios: households in DER clusters, tariffs, the platform's rules, penalties.

    design = "p2p"
    name = "p2p-mmr"
    n_households = 300          # the same code runs 3,000
    seed = 0                    # draws who is in which cluster, device sizes and start states

    [tariffs]                   # reconstructed: import = day-ahead + a time-of-use adder; export = feed-in
    offpeak_adder_eur_mwh = 60.0
    peak_adder_eur_mwh = 130.0
    peak_hours = [17, 18, 19, 20]
    feed_in_eur_mwh = 40.0      # flat; or feed_in_share = 0.9 (a share of the day-ahead price)

    [platform]
    p2p = true                  # false: every household trades with the grid at the tariffs (baseline)
    peak_penalty = "hourly"     # "hourly" (rho above a threshold, per hour), "daily" (demand charge), "none"
    peak_rho_eur_mwh = 300.0
    peak_threshold_kw_per_household = 1.2
    peak_pi_eur_kw = 0.5

    [penalties]
    ev_penalty_factor = 2.0     # unmet EV energy at departure: x the import tariff of that hour (EUR/kWh)
    comfort_eur_kh = 0.5        # per degree-hour outside the comfort band
    storage_credit = "day_end"  # when the battery's stored energy is valued (at the day's mid-market rate):
                                # "day_end" (its change over the day, in the last hour) or "hourly" (each
                                # hour's change in that hour); the day's total is the same

    [control]
    heat_pump = "power"         # what a heat pump's action is: "power" (its share of the rated power) or
                                # "setpoint" (a set point in its comfort band, T_min + a (T_max - T_min), that a
                                # modulating thermostat then holds; `model.devices.setpoint_power_kw`)

    [[clusters]]                # one per DER portfolio; `share` of the households
    name = "pv-battery"
    share = 0.3
    pv_kwp = [3.0, 7.0]         # a number is the same for every household, [low, high] a uniform draw
    battery_kwh = [5.0, 13.5]
    ...

Every reconstructed choice is a setting here; every error names the file, the field and the fix.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

from model.scenario import ScenarioError, read_section as _section
from model.scenario import number as _number

#: Device parameters a cluster may set, their defaults (absent device: 0 size) and what they need.
DEVICE_FIELDS: dict[str, float] = {
    "pv_kwp": 0.0,
    "battery_kwh": 0.0, "battery_kw": 0.0, "battery_eta": 0.95, "soc_min": 0.1, "soc_max": 0.95,
    "ev_kwh": 0.0, "ev_charger_kw": 0.0, "ev_eta": 0.92,
    "hp_kw": 0.0, "hp_r_k_kw": 8.0, "hp_c_kwh_k": 4.0, "hp_cop_7c": 3.2, "t_min_c": 19.0, "t_max_c": 23.0,
    "load_scale": 1.0,
}
NONNEGATIVE = ("pv_kwp", "battery_kwh", "battery_kw", "ev_kwh", "ev_charger_kw", "hp_kw", "load_scale")
FRACTIONS = ("battery_eta", "ev_eta", "soc_min", "soc_max")
POSITIVE = ("hp_r_k_kw", "hp_c_kwh_k", "hp_cop_7c")
PEAK_FORMS = ("hourly", "daily", "none")


@dataclass(frozen=True)
class Cluster:
    """A DER portfolio: its share of the households and each device parameter, a number or [low, high]."""

    name: str
    share: float
    learn: bool  # its households learn (a passive cluster has no device to control)
    params: dict[str, float | tuple[float, float]]

    @property
    def devices(self) -> tuple[str, ...]:
        has = lambda key: _high(self.params[key]) > 0  # noqa: E731
        return tuple(d for d, key in (("pv", "pv_kwp"), ("battery", "battery_kwh"), ("ev", "ev_kwh"), ("heat_pump", "hp_kw"))
                     if has(key))


@dataclass(frozen=True)
class TariffSettings:
    offpeak_adder_eur_mwh: float = 60.0  # network charges and levies on top of the day-ahead price
    peak_adder_eur_mwh: float = 130.0  # the evening peak's adder
    peak_hours: tuple[int, ...] = (17, 18, 19, 20)  # hours of the day (0..23)
    feed_in_eur_mwh: float = 40.0  # flat feed-in tariff (used when feed_in_share is 0)
    feed_in_share: float = 0.0  # > 0: the export tariff is this share of the day-ahead price instead


@dataclass(frozen=True)
class PlatformSettings:
    p2p: bool = True
    peak_penalty: str = "hourly"
    peak_rho_eur_mwh: float = 300.0
    peak_threshold_kw_per_household: float = 1.2
    peak_pi_eur_kw: float = 0.5


STORAGE_CREDITS = ("day_end", "hourly")  # PenaltySettings.storage_credit


@dataclass(frozen=True)
class PenaltySettings:
    ev_penalty_factor: float = 2.0
    comfort_eur_kh: float = 0.5
    storage_credit: str = "day_end"  # when the battery's stored energy is credited (`HouseholdDesign.storage_credit_eur`)

    def to_dict(self) -> dict:
        """The settings; `storage_credit` only where it is not the default, so scenarios written before it existed
        keep their fingerprint (`scenario_sha256`) and trained runs stay valid."""
        d = asdict(self)
        if d["storage_credit"] == "day_end":
            del d["storage_credit"]
        return d


HEAT_PUMP_ACTIONS = ("power", "setpoint")  # ControlSettings.heat_pump


@dataclass(frozen=True)
class ControlSettings:
    heat_pump: str = "power"  # what a heat pump's action is (`model.devices`, `hp_setpoint_action`)


def _check_control(c: ControlSettings, where) -> ControlSettings:
    if c.heat_pump not in HEAT_PUMP_ACTIONS:
        raise ScenarioError(f"{where}: [control].heat_pump = {c.heat_pump!r} must be one of {list(HEAT_PUMP_ACTIONS)}")
    return c


def control_dict(control: ControlSettings) -> dict:
    """{"control": ...} for a scenario's `to_dict`, or {} at the defaults, so scenarios written before the section
    existed keep their fingerprint (`scenario_sha256`) and trained runs stay valid."""
    return {} if control == ControlSettings() else {"control": asdict(control)}


def with_control_override(sc, kw: dict):
    """`sc` with the override `heat_pump_action` taken out of `kw` and applied (checked), if given."""
    if "heat_pump_action" not in kw:
        return sc
    return replace(sc, control=_check_control(replace(sc.control, heat_pump=str(kw.pop("heat_pump_action"))), "override"))


@dataclass(frozen=True)
class HouseholdDataSettings:
    source: str = "offline"  # "offline" (model/data/households.npz) or "synthetic"
    synthetic_seed: int = 0


@dataclass(frozen=True)
class P2PScenario:
    """A P2P-design scenario (see the module docstring)."""

    design: ClassVar[str] = "p2p"
    OVERRIDES: ClassVar[dict[str, type]] = {
        "n_households": int,
        "peak_penalty": str,
        "peak_rho_eur_mwh": float,
        "peak_threshold_kw_per_household": float,
        "peak_pi_eur_kw": float,
        "feed_in_eur_mwh": float,
        "p2p": str,  # "true" / "false" (a string, as the app and sweep files give it)
        "battery_share": float,  # the share of the first cluster with a battery; the others shrink to fit
        "storage_credit": str,  # [penalties].storage_credit
        "heat_pump_action": str,  # [control].heat_pump
    }

    name: str
    description: str
    n_households: int
    seed: int
    clusters: tuple[Cluster, ...]
    tariffs: TariffSettings = field(default_factory=TariffSettings)
    platform: PlatformSettings = field(default_factory=PlatformSettings)
    penalties: PenaltySettings = field(default_factory=PenaltySettings)
    data: HouseholdDataSettings = field(default_factory=HouseholdDataSettings)
    source: str = ""
    control: ControlSettings = field(default_factory=ControlSettings)

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "name": self.name, "description": self.description, "source": self.source,
                "n_households": self.n_households, "seed": self.seed,
                "clusters": clusters_dict(self.clusters),
                "tariffs": asdict(self.tariffs), "platform": asdict(self.platform), "penalties": self.penalties.to_dict(),
                **control_dict(self.control), "data": asdict(self.data)}

    def with_overrides(self, **kw) -> "P2PScenario":
        """Apply model/sweep/app overrides (None = keep), checked like the same values in a file."""
        unknown = set(kw) - set(self.OVERRIDES)
        if unknown:
            raise ScenarioError(f"unknown scenario override(s) {sorted(unknown)}; valid: {sorted(self.OVERRIDES)}")
        sc = self
        kw = {k: v for k, v in kw.items() if v is not None}
        if "n_households" in kw:
            sc = replace(sc, n_households=_count(kw.pop("n_households"), "override n_households"))
        if "p2p" in kw:
            value = str(kw.pop("p2p")).lower()
            if value not in ("true", "false"):
                raise ScenarioError(f"override p2p = {value!r} must be \"true\" or \"false\"")
            sc = replace(sc, platform=replace(sc.platform, p2p=value == "true"))
        if "battery_share" in kw:
            sc = replace(sc, clusters=_with_battery_share(sc.clusters, _number(kw.pop("battery_share"), "override battery_share")))
        if "storage_credit" in kw:
            sc = replace(sc, penalties=_check_penalties(replace(sc.penalties, storage_credit=str(kw.pop("storage_credit"))), "override"))
        sc = with_control_override(sc, kw)
        if "feed_in_eur_mwh" in kw:
            sc = replace(sc, tariffs=_check_tariffs(replace(sc.tariffs, feed_in_eur_mwh=_number(kw.pop("feed_in_eur_mwh"), "override feed_in_eur_mwh")), "override"))
        platform = {k: (v if k == "peak_penalty" else _number(v, f"override {k}")) for k, v in kw.items()}
        if platform:
            sc = replace(sc, platform=_check_platform(replace(sc.platform, **platform), "override"))
        return sc

    @classmethod
    def from_raw(cls, raw: dict[str, Any], where: str, stem: str) -> "P2PScenario":
        """Validate the merged TOML table of a scenario file (`where` names it in errors)."""
        known = {"name", "description", "n_households", "seed", "clusters", "tariffs", "platform", "penalties", "control",
                 "data"}
        bad = set(raw) - known
        if bad:
            raise ScenarioError(f"{where}: unknown top-level key(s) {sorted(bad)}; valid keys: {sorted(known)}")
        clusters = tuple(_cluster(c, i, where) for i, c in enumerate(raw.get("clusters", [])))
        if not clusters:
            raise ScenarioError(f"{where}: no [[clusters]]; define at least one DER portfolio (name, share, devices)")
        names = [c.name for c in clusters]
        if len(set(names)) != len(names):
            raise ScenarioError(f"{where}: cluster names repeat: {names}; name each cluster once")
        total = sum(c.share for c in clusters)
        if abs(total - 1.0) > 1e-9:
            raise ScenarioError(f"{where}: the clusters' shares sum to {total:g}; they must sum to 1")
        sc = cls(
            name=str(raw.get("name", stem)), description=str(raw.get("description", "")),
            n_households=_count(raw.get("n_households", 300), f"{where}: n_households"),
            seed=int(_count(raw.get("seed", 0), f"{where}: seed", minimum=0)), clusters=clusters,
            tariffs=_check_tariffs(_section(raw, "tariffs", TariffSettings, where), where),
            platform=_check_platform(_section(raw, "platform", PlatformSettings, where), where),
            penalties=_check_penalties(_section(raw, "penalties", PenaltySettings, where), where),
            control=_check_control(_section(raw, "control", ControlSettings, where), where),
            data=_section(raw, "data", HouseholdDataSettings, where), source=where,
        )
        if sc.data.source not in ("offline", "synthetic"):
            raise ScenarioError(f"{where}: [data].source = '{sc.data.source}' must be 'offline' or 'synthetic'")
        empty = [c.name for c in sc.clusters if round(c.share * sc.n_households) == 0]
        if empty:
            raise ScenarioError(f"{where}: cluster(s) {empty} get no household out of {sc.n_households}; raise their "
                                "share or n_households, or remove them")
        return sc


# --- validation helpers -------------------------------------------------------------------------
def _count(v, ctx, minimum: int = 1) -> int:
    if isinstance(v, bool) or not isinstance(v, int) and not (isinstance(v, float) and v.is_integer()) or v < minimum:
        raise ScenarioError(f"{ctx} must be a whole number >= {minimum}, got {v!r}")
    return int(v)


def _high(v) -> float:
    return v[1] if isinstance(v, tuple) else v


def _value(v, ctx) -> float | tuple[float, float]:
    """A number, or [low, high] with low <= high (a uniform draw per household)."""
    if isinstance(v, list):
        if len(v) != 2:
            raise ScenarioError(f"{ctx} = {v!r} must be a number or [low, high]")
        lo, hi = _number(v[0], ctx), _number(v[1], ctx)
        if lo > hi:
            raise ScenarioError(f"{ctx} = [{lo:g}, {hi:g}]: low must not exceed high; swap them")
        return (lo, hi)
    return _number(v, ctx)


def clusters_dict(clusters) -> list[dict]:
    """The [[clusters]] as plain values (a scenario's `to_dict`)."""
    return [{"name": c.name, "share": c.share, "learn": c.learn,
             **{k: list(v) if isinstance(v, tuple) else v for k, v in c.params.items()}} for c in clusters]


def _cluster(c, i: int, where: str, learn_without_devices: bool = False) -> Cluster:
    """One [[clusters]] table. `learn_without_devices`: a cluster without a controllable device may
    still learn (in the Stackelberg design every follower learns its limit price)."""
    ctx = f"{where}: [[clusters]] #{i + 1}"
    if not isinstance(c, dict) or not isinstance(c.get("name"), str):
        raise ScenarioError(f"{ctx}: each cluster is a table with a name (a string)")
    ctx = f"{where}: cluster '{c['name']}'"
    bad = set(c) - {"name", "share", "learn"} - set(DEVICE_FIELDS)
    if bad:
        raise ScenarioError(f"{ctx}: unknown device or field(s) {sorted(bad)}; valid: {sorted(DEVICE_FIELDS)} "
                            "(and name, share, learn)")
    share = _number(c.get("share", -1), f"{ctx}: share")
    if not 0 < share <= 1:
        raise ScenarioError(f"{ctx}: share = {share:g} must be in (0, 1]; an empty cluster is not allowed")
    params = {k: _value(c.get(k, d), f"{ctx}: {k}") for k, d in DEVICE_FIELDS.items()}
    low = lambda k: params[k][0] if isinstance(params[k], tuple) else params[k]  # noqa: E731
    for k in NONNEGATIVE:
        if low(k) < 0:
            raise ScenarioError(f"{ctx}: {k} = {c.get(k)!r} must be >= 0 (a capacity or power cannot be negative)")
    for k in FRACTIONS:
        if not (0 <= low(k) and _high(params[k]) <= 1):
            raise ScenarioError(f"{ctx}: {k} = {c.get(k)!r} must lie within [0, 1]")
    for k in ("battery_eta", "ev_eta", *POSITIVE):
        if low(k) <= 0:
            raise ScenarioError(f"{ctx}: {k} = {c.get(k)!r} must be > 0")
    if _high(params["soc_min"]) > low("soc_max"):
        raise ScenarioError(f"{ctx}: soc_min ({c.get('soc_min', DEVICE_FIELDS['soc_min'])}) exceeds soc_max "
                            f"({c.get('soc_max', DEVICE_FIELDS['soc_max'])}); the SOC bounds are inverted")
    if _high(params["t_min_c"]) >= low("t_max_c"):
        raise ScenarioError(f"{ctx}: t_min_c must be below t_max_c; the comfort band is inverted")
    for size, power in (("battery_kwh", "battery_kw"), ("ev_kwh", "ev_charger_kw")):
        if (_high(params[size]) > 0) != (_high(params[power]) > 0):
            raise ScenarioError(f"{ctx}: {size} and {power} must both be > 0 (the device) or both 0 (none)")
    learn = c.get("learn", True)
    if not isinstance(learn, bool):
        raise ScenarioError(f"{ctx}: learn must be true or false")
    cluster = Cluster(c["name"], share, learn, params)
    if learn and not learn_without_devices and not set(cluster.devices) - {"pv"}:
        raise ScenarioError(f"{ctx}: learn = true, but the cluster has no device to control (battery, ev, heat pump); "
                            "set learn = false for a passive cluster")
    return cluster


def _check_tariffs(t: TariffSettings, where) -> TariffSettings:
    if not all(0 <= h <= 23 for h in t.peak_hours):
        raise ScenarioError(f"{where}: [tariffs].peak_hours = {list(t.peak_hours)} must be hours of the day 0..23")
    for k in ("offpeak_adder_eur_mwh", "peak_adder_eur_mwh", "feed_in_eur_mwh"):
        if getattr(t, k) < 0:
            raise ScenarioError(f"{where}: [tariffs].{k} = {getattr(t, k):g} must be >= 0")
    if not 0 <= t.feed_in_share <= 1:
        raise ScenarioError(f"{where}: [tariffs].feed_in_share = {t.feed_in_share:g} must be in [0, 1] (never above import)")
    return t


def _check_platform(p: PlatformSettings, where) -> PlatformSettings:
    if p.peak_penalty not in PEAK_FORMS:
        raise ScenarioError(f"{where}: [platform].peak_penalty = {p.peak_penalty!r} must be one of {list(PEAK_FORMS)}")
    for k in ("peak_rho_eur_mwh", "peak_threshold_kw_per_household", "peak_pi_eur_kw"):
        if getattr(p, k) < 0:
            raise ScenarioError(f"{where}: [platform].{k} = {getattr(p, k):g} must be >= 0")
    return p


def _check_penalties(p: PenaltySettings, where) -> PenaltySettings:
    for k in ("ev_penalty_factor", "comfort_eur_kh"):
        if getattr(p, k) < 0:
            raise ScenarioError(f"{where}: [penalties].{k} = {getattr(p, k):g} must be >= 0")
    if p.storage_credit not in STORAGE_CREDITS:
        raise ScenarioError(f"{where}: [penalties].storage_credit = {p.storage_credit!r} must be one of {list(STORAGE_CREDITS)}")
    return p


def _with_battery_share(clusters: tuple[Cluster, ...], share: float) -> tuple[Cluster, ...]:
    """The first cluster with a battery gets `share` of the households; the others are rescaled."""
    if not 0 < share < 1:
        raise ScenarioError(f"override battery_share = {share:g} must be in (0, 1)")
    k = next((i for i, c in enumerate(clusters) if "battery" in c.devices), None)
    if k is None:
        raise ScenarioError("override battery_share: no cluster has a battery")
    rest = sum(c.share for i, c in enumerate(clusters) if i != k)
    return tuple(replace(c, share=share if i == k else c.share * (1 - share) / rest) for i, c in enumerate(clusters))
