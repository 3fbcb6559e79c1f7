"""The arbitrage design's scenarios: who arbitrages, portfolios, locations, market rules, grid limits.

A scenario fixes the aggregators' portfolios, who arbitrages, where each aggregator sits on the
feeder, the market rules and the grid limits (`model.scenario` finds the file, merges its
`extends` chain and hands the table to `ArbitrageScenario.from_raw`). Every error names the file,
the field and the fix; nothing runs with a half-valid scenario.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, ClassVar

from model.dataset import AggregatorPortfolio, PriceSettings
from model.scenario import ScenarioError, read_section as _section
from model.scenario import number as _number

CIGRE_BUSES = tuple(range(2, 12))


@dataclass(frozen=True)
class MarketSettings:
    export_spread_factor: float = 0.9  # λexp = λimp - (1 - f)|λimp|  (paper: 0.9)
    imbalance_spread_factor: float = 1.0  # scales the DK1 spreads around the day-ahead price
    flex_price_max_eur_mwh: float = 1000.0  # upper bound of LFM bid prices
    voll_eur_mwh: float = 3000.0  # price of emergency slack in the LFM
    gen_power_factor: float = 1.0  # Q^G = P^G tan(acos pf); 1.0 = unity (the default)
    forecast_error_sd: float = 0.0  # renewable forecast error, fraction of PV+wind output (0 = off)
    # The LFM's tie rule between equal bids: a lottery per hour with this step, €/MWh (0 = none: the solver's
    # choice, which can depend on what it solved before; `model.markets.lfm.tie_break_priorities`)
    lfm_tie_break_eur_mwh: float = 0.0


@dataclass(frozen=True)
class GridSettings:
    v_slack_pu: float = 1.0
    v_min_pu: float = 0.95
    v_max_pu: float = 1.05
    line_limit_factor: float = 1.0
    node_s_max_mva: float = 10.0
    polygon_sides: int = 12


@dataclass(frozen=True)
class DataSettings:
    source: str = "offline"  # "offline" (committed 2018 data) or "synthetic"
    synthetic_seed: int = 0


@dataclass(frozen=True)
class ArbitrageScenario:
    """An arbitrage-design scenario (see the module docstring)."""

    design: ClassVar[str] = "arbitrage"
    #: keyword arguments a model, a sweep or the app may override, and their types
    OVERRIDES: ClassVar[dict[str, type]] = {
        "location_swap": str,  # "5:9,8:10"; "none" = no swap
        "arbitrage": str,  # "all", "none", "5,8"
        "export_spread_factor": float,
        "imbalance_spread_factor": float,
        "v_slack_pu": float,
        "line_limit_factor": float,
        "lfm_tie_break_eur_mwh": float,
    }

    name: str
    description: str
    aggregator_ids: tuple[int, ...]  # e.g. (2, ..., 11)
    portfolios: tuple[AggregatorPortfolio, ...]
    arbitrage: frozenset[int]  # aggregator ids whose primary learns from r1 + r2
    location: dict[int, int]  # aggregator id -> CIGRE bus
    market: MarketSettings = field(default_factory=MarketSettings)
    grid: GridSettings = field(default_factory=GridSettings)
    data: DataSettings = field(default_factory=DataSettings)
    source: str = ""

    @property
    def n_aggregators(self) -> int:
        return len(self.aggregator_ids)

    @property
    def prices(self) -> PriceSettings:
        return PriceSettings(self.market.export_spread_factor, self.market.imbalance_spread_factor)

    def with_overrides(self, **kw) -> "ArbitrageScenario":
        """Apply model/sweep/app overrides (None = keep). Keys: any [market] or [grid] field,
        `arbitrage` ("none" | "all" | ids like "5,8"), `location_swap` ("5:9,8:10"; "none" = no swap).
        Values are checked as in a scenario file (finite numbers within their ranges)."""
        sc = self
        known = _field_names(MarketSettings) | _field_names(GridSettings) | {"arbitrage", "location_swap"}
        unknown = set(kw) - known
        if unknown:
            raise ScenarioError(f"unknown scenario override(s) {sorted(unknown)}; valid: {sorted(known)}")
        market = {k: _override_value(MarketSettings, k, v) for k, v in kw.items() if v is not None and k in _field_names(MarketSettings)}
        grid = {k: _override_value(GridSettings, k, v) for k, v in kw.items() if v is not None and k in _field_names(GridSettings)}
        if market:
            sc = replace(sc, market=_check_market(replace(sc.market, **market), "override"))
        if grid:
            sc = replace(sc, grid=_check_grid(replace(sc.grid, **grid), "override"))
        if kw.get("arbitrage") is not None:
            sc = replace(sc, arbitrage=_parse_arbitrage(kw["arbitrage"], sc.aggregator_ids, "override arbitrage"))
        if kw.get("location_swap") not in (None, "", "none"):
            sc = replace(sc, location=_apply_swaps(sc.location, parse_swaps(kw["location_swap"]), "override location_swap"))
        return sc

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "source": self.source,
            "arbitrage": sorted(self.arbitrage),
            "location": {str(k): v for k, v in sorted(self.location.items())},
            "market": asdict(self.market),
            "grid": asdict(self.grid),
            "data": asdict(self.data),
            "aggregators": [{"id": i, **asdict(p)} for i, p in zip(self.aggregator_ids, self.portfolios)],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=False)

    @classmethod
    def from_raw(cls, raw: dict[str, Any], where: str, stem: str) -> "ArbitrageScenario":
        """Validate the merged TOML table of a scenario file (`where` names it in errors)."""
        return _from_raw(raw, where, stem)


def _from_raw(raw: dict[str, Any], where: str, stem: str) -> ArbitrageScenario:
    unknown = set(raw) - _TOP_KEYS
    if unknown:
        raise ScenarioError(f"{where}: unknown top-level key(s) {sorted(unknown)}; valid keys: {sorted(_TOP_KEYS)}")
    if "aggregators" not in raw:
        raise ScenarioError(f"{where}: no [[aggregators]] tables; define one per aggregator or extends = \"base\"")
    ids, portfolios = [], []
    for i, agg in enumerate(raw["aggregators"]):
        ctx = f"{where}: [[aggregators]] #{i + 1}"
        if not isinstance(agg, dict):
            raise ScenarioError(f"{ctx}: must be a table")
        bad = set(agg) - _AGG_KEYS
        if bad:
            raise ScenarioError(f"{ctx}: unknown field(s) {sorted(bad)}; valid fields: {sorted(_AGG_KEYS)}")
        missing = _AGG_KEYS - set(agg)
        if missing:
            raise ScenarioError(f"{ctx} (id={agg.get('id')}): missing field(s) {sorted(missing)}")
        ctx = f"{where}: aggregator {agg['id']}"
        if not isinstance(agg["id"], int):
            raise ScenarioError(f"{ctx}: id must be an integer aggregator number (2..11 by default)")
        values = {}
        for f in fields(AggregatorPortfolio):
            v = agg[f.name]
            if f.type in ("float", float):
                v = _number(v, f"{ctx}: {f.name}")
                if f.name != "marginal_cost_eur_mwh" and v < 0:
                    raise ScenarioError(f"{ctx}: {f.name} = {v} must be >= 0")
            elif not isinstance(v, str):
                raise ScenarioError(f"{ctx}: {f.name} must be a profile name (a string)")
            values[f.name] = v
        if not 0 < values["load_power_factor"] <= 1:
            raise ScenarioError(f"{ctx}: load_power_factor = {values['load_power_factor']} must be in (0, 1]")
        ids.append(agg["id"])
        portfolios.append(AggregatorPortfolio(**values))
    if len(set(ids)) != len(ids):
        raise ScenarioError(f"{where}: aggregator ids repeat: {ids}; each id once")

    location = {i: i for i in ids}
    loc = raw.get("location", {})
    if not isinstance(loc, dict):
        raise ScenarioError(f"{where}: [location] must be a table with 'buses' and/or 'swap'")
    bad = set(loc) - {"buses", "swap"}
    if bad:
        raise ScenarioError(f"{where}: [location] unknown key(s) {sorted(bad)}; use buses = {{\"5\" = 9}} or swap = [[5, 9]]")
    for k, v in loc.get("buses", {}).items():
        if not str(k).isdigit() or int(k) not in location:
            raise ScenarioError(f"{where}: [location].buses key '{k}' is not an aggregator id {ids}")
        location[int(k)] = v
    location = _apply_swaps(location, [tuple(s) for s in loc.get("swap", [])], f"{where}: [location].swap")
    for k, bus in location.items():
        if bus not in CIGRE_BUSES:
            raise ScenarioError(f"{where}: aggregator {k} placed at bus {bus}; buses must be CIGRE buses 2..11 (bus 1 is the slack)")

    market = _section(raw, "market", MarketSettings, where)
    grid = _section(raw, "grid", GridSettings, where)
    data = _section(raw, "data", DataSettings, where)
    if data.source not in ("offline", "synthetic"):
        raise ScenarioError(f"{where}: [data].source = '{data.source}' must be 'offline' or 'synthetic'")
    return ArbitrageScenario(
        name=str(raw.get("name", stem)),
        description=str(raw.get("description", "")),
        aggregator_ids=tuple(ids),
        portfolios=tuple(portfolios),
        arbitrage=_parse_arbitrage(raw.get("arbitrage", []), tuple(ids), f"{where}: arbitrage"),
        location=location,
        market=_check_market(market, where),
        grid=_check_grid(grid, where),
        data=data,
        source=where,
    )


def _field_names(cls) -> set[str]:
    return {f.name for f in fields(cls)}


_TOP_KEYS = {"name", "description", "arbitrage", "location", "market", "grid", "data", "aggregators"}
_AGG_KEYS = {"id"} | _field_names(AggregatorPortfolio)


def _override_value(cls, name: str, v):
    """An override of a [market]/[grid] field, checked like the same value in a scenario file."""
    kind = next(f.type for f in fields(cls) if f.name == name)
    where = f"override {name}"
    if kind in ("int", int):
        if isinstance(v, bool) or not isinstance(v, (int,)) and not (isinstance(v, float) and v.is_integer()):
            raise ScenarioError(f"{where} must be an integer, got {v!r}")
        return int(v)
    if kind in ("float", float):
        return _number(v, where)
    return v


def _check_market(m: MarketSettings, where) -> MarketSettings:
    if not 0 <= m.export_spread_factor <= 1:
        raise ScenarioError(f"{where}: [market].export_spread_factor = {m.export_spread_factor} must be in [0, 1] (paper: 0.9)")
    if m.imbalance_spread_factor < 0:
        raise ScenarioError(f"{where}: [market].imbalance_spread_factor must be >= 0")
    if m.flex_price_max_eur_mwh <= 0:
        raise ScenarioError(f"{where}: [market].flex_price_max_eur_mwh must be > 0 (default 1000)")
    if m.voll_eur_mwh <= m.flex_price_max_eur_mwh:
        raise ScenarioError(
            f"{where}: [market].voll_eur_mwh = {m.voll_eur_mwh} must exceed flex_price_max_eur_mwh = "
            f"{m.flex_price_max_eur_mwh}, or emergency slack would be cheaper than flexibility"
        )
    if not 0 < m.gen_power_factor <= 1:
        raise ScenarioError(f"{where}: [market].gen_power_factor must be in (0, 1]")
    if m.forecast_error_sd < 0:
        raise ScenarioError(f"{where}: [market].forecast_error_sd must be >= 0")
    if not 0 <= m.lfm_tie_break_eur_mwh <= 1e-3:
        raise ScenarioError(f"{where}: [market].lfm_tie_break_eur_mwh = {m.lfm_tie_break_eur_mwh} must be in [0, 0.001] "
                            "€/MWh: a tie-break, not a price (0 = no tie rule; e.g. 1e-4)")
    return m


def _check_grid(g: GridSettings, where) -> GridSettings:
    if not 0.8 <= g.v_slack_pu <= 1.2:
        raise ScenarioError(f"{where}: [grid].v_slack_pu = {g.v_slack_pu} must be within 0.8..1.2 p.u.")
    if not 0 < g.v_min_pu < g.v_max_pu:
        raise ScenarioError(f"{where}: [grid].v_min_pu = {g.v_min_pu} must be > 0 and below v_max_pu = {g.v_max_pu}")
    if not g.v_min_pu <= g.v_slack_pu <= g.v_max_pu:
        raise ScenarioError(f"{where}: [grid].v_slack_pu = {g.v_slack_pu} must lie within [v_min_pu, v_max_pu]")
    if g.line_limit_factor <= 0 or g.node_s_max_mva <= 0:
        raise ScenarioError(f"{where}: [grid].line_limit_factor and node_s_max_mva must be > 0")
    if g.polygon_sides < 4:
        raise ScenarioError(f"{where}: [grid].polygon_sides = {g.polygon_sides} must be >= 4 (default 12)")
    return g


def _parse_arbitrage(value, ids: tuple[int, ...], ctx) -> frozenset[int]:
    if value in ("all",):
        return frozenset(ids)
    if value in ("none", None):
        return frozenset()
    if isinstance(value, str):
        try:
            value = [int(x) for x in value.replace(",", " ").split()]
        except ValueError:
            raise ScenarioError(f"{ctx}: '{value}' must be \"all\", \"none\" or aggregator ids like [5] or \"5,8\"") from None
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(x, int) for x in value):
        raise ScenarioError(f"{ctx}: must be \"all\", \"none\" or a list of aggregator ids, got {value!r}")
    bad = set(value) - set(ids)
    if bad:
        raise ScenarioError(f"{ctx}: {sorted(bad)} are not aggregator ids {list(ids)}")
    return frozenset(value)


def parse_swaps(text: str) -> list[tuple[int, int]]:
    """"5:9,8:10" -> [(5, 9), (8, 10)]"""
    try:
        return [tuple(int(x) for x in part.split(":")) for part in text.split(",") if part.strip()]
    except ValueError:
        raise ScenarioError(f"location swap '{text}' must look like \"5:9,8:10\" (aggregator ids)") from None


def _apply_swaps(location: dict[int, int], swaps, ctx) -> dict[int, int]:
    location = dict(location)
    for pair in swaps:
        if len(pair) != 2 or any(a not in location for a in pair):
            raise ScenarioError(f"{ctx}: swap {list(pair)} must name two aggregator ids from {sorted(location)}")
        a, b = pair
        location[a], location[b] = location[b], location[a]
    return location
