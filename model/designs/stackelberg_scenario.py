"""The Stackelberg design's scenarios: the followers (households in DER clusters, as in the P2P
design: the same [[clusters]], [tariffs], [penalties], [data] keys), the leader (the aggregator)
and the auction.

    design = "stackelberg"
    n_households = 50
    seed = 0

    [leader]
    visible = true                  # followers see this hour's retail prices before they act (Stackelberg);
                                    # false: only last hour's (the simultaneous-move variant)
    da_position_kw_per_household = 3.0   # the bound of the day-ahead position, per follower
    imbalance_spread_factor = 1.0   # scales the imbalance spreads around the day-ahead price

    [auction]
    enabled = true                  # false: no P2P auction, everyone trades with the aggregator (retail only)

The grid tariffs bound the retail prices: export <= retail sell <= retail buy <= import.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, ClassVar

from model.designs.p2p_scenario import (
    Cluster, ControlSettings, HouseholdDataSettings, clusters_dict, control_dict, PenaltySettings, TariffSettings, _check_control,
    _check_penalties, _check_tariffs, _cluster, _count, with_control_override,
)
from model.scenario import ScenarioError, read_section
from model.scenario import number as _number


@dataclass(frozen=True)
class LeaderSettings:
    visible: bool = True
    da_position_kw_per_household: float = 3.0
    imbalance_spread_factor: float = 1.0


@dataclass(frozen=True)
class AuctionSettings:
    enabled: bool = True


@dataclass(frozen=True)
class StackelbergScenario:
    """A Stackelberg-design scenario (see the module docstring)."""

    design: ClassVar[str] = "stackelberg"
    OVERRIDES: ClassVar[dict[str, type]] = {"n_households": int, "visible": str, "auction": str,
                                            "da_position_kw_per_household": float, "imbalance_spread_factor": float,
                                            "storage_credit": str, "heat_pump_action": str}

    name: str
    description: str
    n_households: int
    seed: int
    clusters: tuple[Cluster, ...]
    tariffs: TariffSettings = field(default_factory=TariffSettings)
    penalties: PenaltySettings = field(default_factory=PenaltySettings)
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    auction: AuctionSettings = field(default_factory=AuctionSettings)
    data: HouseholdDataSettings = field(default_factory=HouseholdDataSettings)
    source: str = ""
    control: ControlSettings = field(default_factory=ControlSettings)

    def to_dict(self) -> dict[str, Any]:
        return {"design": self.design, "name": self.name, "description": self.description, "source": self.source,
                "n_households": self.n_households, "seed": self.seed,
                "clusters": clusters_dict(self.clusters),
                "tariffs": asdict(self.tariffs), "penalties": self.penalties.to_dict(), "leader": asdict(self.leader),
                "auction": asdict(self.auction), **control_dict(self.control), "data": asdict(self.data)}

    def with_overrides(self, **kw) -> "StackelbergScenario":
        unknown = set(kw) - set(self.OVERRIDES)
        if unknown:
            raise ScenarioError(f"unknown scenario override(s) {sorted(unknown)}; valid: {sorted(self.OVERRIDES)}")
        sc = self
        kw = {k: v for k, v in kw.items() if v is not None}
        if "n_households" in kw:
            sc = replace(sc, n_households=_count(kw["n_households"], "override n_households"))
        if "storage_credit" in kw:
            sc = replace(sc, penalties=_check_penalties(replace(sc.penalties, storage_credit=str(kw["storage_credit"])), "override"))
        sc = with_control_override(sc, kw)
        for key, section, attr in (("visible", "leader", "visible"), ("auction", "auction", "enabled")):
            if key in kw:
                value = str(kw[key]).lower()
                if value not in ("true", "false"):
                    raise ScenarioError(f"override {key} = {value!r} must be \"true\" or \"false\"")
                sc = replace(sc, **{section: replace(getattr(sc, section), **{attr: value == "true"})})
        for key in ("da_position_kw_per_household", "imbalance_spread_factor"):
            if key in kw:
                sc = replace(sc, leader=_check_leader(replace(sc.leader, **{key: _number(kw[key], f"override {key}")}), "override"))
        return sc

    @classmethod
    def from_raw(cls, raw: dict[str, Any], where: str, stem: str) -> "StackelbergScenario":
        known = {"name", "description", "n_households", "seed", "clusters", "tariffs", "penalties", "control", "leader",
                 "auction", "data"}
        bad = set(raw) - known
        if bad:
            raise ScenarioError(f"{where}: unknown top-level key(s) {sorted(bad)}; valid keys: {sorted(known)}")
        clusters = tuple(_cluster(c, i, where, learn_without_devices=True) for i, c in enumerate(raw.get("clusters", [])))
        if not clusters:
            raise ScenarioError(f"{where}: no [[clusters]]; define at least one DER portfolio (name, share, devices)")
        total = sum(c.share for c in clusters)
        if abs(total - 1.0) > 1e-9:
            raise ScenarioError(f"{where}: the clusters' shares sum to {total:g}; they must sum to 1")
        sc = cls(
            name=str(raw.get("name", stem)), description=str(raw.get("description", "")),
            n_households=_count(raw.get("n_households", 50), f"{where}: n_households"),
            seed=_count(raw.get("seed", 0), f"{where}: seed", minimum=0), clusters=clusters,
            tariffs=_check_tariffs(read_section(raw, "tariffs", TariffSettings, where), where),
            penalties=_check_penalties(read_section(raw, "penalties", PenaltySettings, where), where),
            leader=_check_leader(read_section(raw, "leader", LeaderSettings, where), where),
            auction=read_section(raw, "auction", AuctionSettings, where),
            control=_check_control(read_section(raw, "control", ControlSettings, where), where),
            data=read_section(raw, "data", HouseholdDataSettings, where), source=where,
        )
        empty = [c.name for c in sc.clusters if round(c.share * sc.n_households) == 0]
        if empty:
            raise ScenarioError(f"{where}: cluster(s) {empty} get no household out of {sc.n_households}; raise their "
                                "share or n_households, or remove them")
        return sc


def _check_leader(leader: LeaderSettings, where) -> LeaderSettings:
    if leader.da_position_kw_per_household < 0:
        raise ScenarioError(f"{where}: [leader].da_position_kw_per_household must be >= 0")
    if leader.imbalance_spread_factor < 0:
        raise ScenarioError(f"{where}: [leader].imbalance_spread_factor must be >= 0")
    return leader
