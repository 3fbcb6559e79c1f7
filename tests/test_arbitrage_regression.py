"""The arbitrage design's simulate outputs against the numbers of the code before the framework
(commit dd9b23b, pinned here as column sums of its CSVs): a change of any market's clearing,
settlement or recording moves some of them. Holds on any machine to a tight tolerance (the
byte-identical comparison with the old commit is done side by side on one machine; see issue 11)."""

from __future__ import annotations

import pandas as pd
import pytest

from runs.cli import main

RUNS = {  # simulate arguments -> the old code's column sums of its three CSVs
    ("--scenario", "s-a", "--week", "test:1", "--policy", "truthful"): {
        "aggregators.lem_cost_eur": 23875.2301, "aggregators.lfm_cost_eur": -7149.49275, "aggregators.bm_cost_eur": -7176.6587,
        "aggregators.r1": 0.0, "aggregators.r2": 14326.1514, "aggregators.withheld": 0.0, "aggregators.up_mw": 226.061546,
        "aggregators.dn_mw": 0.0, "market.lem_price_eur_mwh": 5786.87, "market.lfm_cost_eur": 19195.7689,
        "market.flex_mw": 226.061546, "market.lfm_objective_eur": 5628.65558, "market.v_min_pu": 160.74179,
        "market.slack_mw": 0.253011056, "buses.v_pu": 1783.0368, "buses.dlmp_eur_mwh": 51638.8842},
    ("--scenario", "one-arb", "--week", "test:3", "--policy", "random"): {
        "aggregators.lem_cost_eur": 29518.7339, "aggregators.lfm_cost_eur": -17614.5946,
        "aggregators.bm_cost_eur": -2727.24592, "aggregators.r1": -3486.75216, "aggregators.r2": 20341.8405,
        "aggregators.withheld": 821.873346, "aggregators.up_mw": 56.1704909, "aggregators.dn_mw": 0.0,
        "market.lem_price_eur_mwh": 8662.66, "market.lfm_cost_eur": 21051.6604, "market.flex_mw": 56.1704909,
        "market.lfm_objective_eur": 12490.7716, "market.v_min_pu": 161.444196, "market.slack_mw": 0.0,
        "buses.v_pu": 1789.33743, "buses.dlmp_eur_mwh": 164719.09},
    ("--scenario", "all-arb", "--week", "test:12", "--policy", "rule", "--location-swap", "5:9,8:10"): {
        "aggregators.lem_cost_eur": 29483.0036, "aggregators.lfm_cost_eur": -10926.5162,
        "aggregators.bm_cost_eur": -866.912062, "aggregators.r1": -1986.76102, "aggregators.r2": 11793.4283,
        "aggregators.withheld": 140.0, "aggregators.up_mw": 25.9005359, "aggregators.dn_mw": 0.0,
        "market.lem_price_eur_mwh": 10228.743, "market.lfm_cost_eur": 12308.2676, "market.flex_mw": 25.9005359,
        "market.lfm_objective_eur": 6004.1241, "market.v_min_pu": 163.314362, "market.slack_mw": 1.34494106,
        "buses.v_pu": 1807.76039, "buses.dlmp_eur_mwh": 43592.3986},
}


@pytest.mark.parametrize("args", list(RUNS), ids=["s-a truthful", "one-arb random", "all-arb rule swapped"])
def test_simulate_gives_the_old_codes_numbers(tmp_path, args):
    out = tmp_path / "sim"
    assert main(["simulate", *args, "--out", str(out)]) == 0
    frames = {name: pd.read_csv(out / f"{name}.csv") for name in ("aggregators", "market", "buses")}
    got = {key: float(frames[key.split(".")[0]][key.split(".")[1]].sum()) for key in RUNS[args]}
    assert got == pytest.approx(RUNS[args], rel=1e-7, abs=1e-6)
