"""Mesa's batch_run over MarketModel: truthful vs rule-based bids, with and without the
location swap 5<->9, 8<->10, on one test week. Run from the repository root:

    python examples/batch_run.py
"""

import mesa
import pandas as pd

from model.model import MarketModel

if __name__ == "__main__":  # batch_run starts its worker processes with "spawn"
    results = mesa.batch_run(
        MarketModel,
        parameters={
            "scenario": "one-arb",
            "policy": ["truthful", "rule"],
            "location_swap": [None, "5:9,8:10"],
            "week": "test:1",
            "seed": 0,
        },
        number_processes=2,
        max_steps=168,  # one week of hours
        data_collection_period=1,  # a row per run and hour (-1: only the last hour)
        display_progress=False,
    )
    # One row per run and hour with the model reporters; "buses" holds each hour's per-bus array.
    hours = pd.DataFrame(results).drop(columns="buses")
    hours["location_swap"] = hours["location_swap"].fillna("none")
    week = hours.groupby(["policy", "location_swap"]).agg(
        hours=("Step", "size"),
        mean_lem_price_eur_mwh=("lem_price_eur_mwh", "mean"),
        flex_mwh=("flex_mw", "sum"),
        dso_payments_eur=("lfm_cost_eur", "sum"),
        slack_mwh=("slack_mw", "sum"),
        v_min_pu=("v_min_pu", "min"),
    )
    print(week.round(2).to_string())
