"""`mesa.batch_run` drives MarketModel; the README's example runs as written."""

import os
import subprocess
import sys
from pathlib import Path

import mesa
import numpy as np
import pandas as pd

from model.designs.arbitrage import BUS_COLUMNS
from model.model import MarketModel

ROOT = Path(__file__).resolve().parent.parent


def test_batch_run_rows():
    params = {"scenario": "s-a", "location_swap": [None, "5:9,8:10"], "week": "test:1", "seed": 0}
    every_hour = mesa.batch_run(MarketModel, parameters=params, number_processes=1, max_steps=24,
                                data_collection_period=1, display_progress=False)
    df = pd.DataFrame(every_hour)
    reporters = MarketModel(scenario="s-a", collect=False).design.model_reporters()
    assert set(reporters) <= set(df.columns) and df["RunId"].nunique() == 2
    for _, run in df.groupby("RunId"):
        n = len(run)
        assert n >= 24 and run["hour_of_week"].tolist() == list(range(n))  # one row per simulated hour
    assert df["buses"].iloc[0].shape == (11, len(BUS_COLUMNS))  # per-bus array, CIGRE buses 1..11
    swapped = df[df["location_swap"].notna()]
    assert swapped["lfm_cost_eur"].sum() != df[df["location_swap"].isna()]["lfm_cost_eur"].sum()

    last = pd.DataFrame(mesa.batch_run(MarketModel, parameters=params, number_processes=1, max_steps=24,
                                       data_collection_period=-1, display_progress=False))
    assert len(last) == 2  # one row per run: the last hour
    for run_id, row in last.set_index("RunId").iterrows():
        final = df[df["RunId"] == run_id].iloc[-1]
        assert row["hour_of_week"] == final["hour_of_week"] and row["v_min_pu"] == final["v_min_pu"]
        assert np.array_equal(row["buses"], final["buses"])


def test_readme_example_runs_as_written():
    env = dict(os.environ, MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "examples/batch_run.py"], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.strip().splitlines()
    assert lines[0].split()[:2] == ["hours", "mean_lem_price_eur_mwh"]
    rows = [line.split() for line in lines[2:]]
    assert [r[-6] for r in rows] == ["168"] * 4  # four runs, a full week each
    assert [r[0] for r in rows if len(r) == 8] == ["rule", "truthful"]  # policy x location swap
