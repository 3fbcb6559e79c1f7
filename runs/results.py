"""Tidy tables from a model's DataCollector: buses.csv, aggregators.csv, market.csv."""

from __future__ import annotations

import numpy as np
import pandas as pd

from agents.market_agents import Aggregator
from model.model import BUS_COLUMNS, LocalMarketModel

MARKET_COLUMNS = (
    "hour", "week", "hour_of_week", "lem_price_eur_mwh", "import_price_eur_mwh", "export_price_eur_mwh",
    "imb_long_eur_mwh", "imb_short_eur_mwh", "lfm_cost_eur", "slack_mw", "slack_mvar", "flex_mw", "lfm_objective_eur", "v_min_pu",
)
AGGREGATOR_COLUMNS = (
    "hour", "aggregator", "bus", "lem_cost_eur", "lfm_cost_eur", "bm_cost_eur", "r1", "r2", "withheld", "up_mw", "dn_mw",
)


def tables(model: LocalMarketModel) -> dict[str, pd.DataFrame]:
    """The model's collected hours as three tidy frames (hour = 0.. in the order simulated)."""
    mv = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    if mv.empty:
        raise ValueError("the model has collected no hours (was it created with collect=False, or not stepped?)")
    mv.insert(0, "hour", np.arange(len(mv)))
    market = mv[list(MARKET_COLUMNS)]

    arr = np.stack(mv["buses"].to_numpy())  # (hours, n_bus, columns)
    buses = pd.DataFrame(arr.reshape(-1, len(BUS_COLUMNS)), columns=BUS_COLUMNS)
    buses.insert(0, "hour", np.repeat(np.arange(len(mv)), arr.shape[1]))
    buses["bus"] = buses["bus"].astype(int)

    ag = model.datacollector.get_agenttype_vars_dataframe(Aggregator).reset_index()
    ag["hour"] = ag["Step"] - ag["Step"].min()
    aggregators = ag[list(AGGREGATOR_COLUMNS)].sort_values(["hour", "aggregator"], ignore_index=True)
    return {"buses": buses, "aggregators": aggregators, "market": market}


def scores(aggregators: pd.DataFrame, hours_per_week: int = 168) -> pd.DataFrame:
    """Per aggregator and week: first-stage, second-stage and total score (sums of r1, r2)."""
    df = aggregators.assign(week_index=aggregators["hour"] // hours_per_week)
    g = df.groupby(["week_index", "aggregator"], as_index=False)[["r1", "r2"]].sum()
    g = g.rename(columns={"r1": "first_stage_eur", "r2": "second_stage_eur"})
    g["total_eur"] = g["first_stage_eur"] + g["second_stage_eur"]
    return g


def summary(t: dict[str, pd.DataFrame]) -> str:
    m, a = t["market"], t["aggregators"]
    per = a.groupby("aggregator")[["lem_cost_eur", "lfm_cost_eur", "bm_cost_eur", "r1", "r2", "up_mw", "dn_mw"]].sum()
    per.columns = ["LEM cost €", "LFM cost €", "BM cost €", "score 1 €", "score 2 €", "up MWh", "down MWh"]
    flex_hours = int((m["flex_mw"] > 1e-6).sum())
    lines = [
        f"hours simulated            {len(m)}",
        f"mean LEM price             {m['lem_price_eur_mwh'].mean():.2f} €/MWh",
        f"hours the LFM bought flex  {flex_hours} ({flex_hours / len(m):.1%})",
        f"flexibility bought         {m['flex_mw'].sum():.2f} MWh for {m['lfm_cost_eur'].sum():.2f} € (DSO payments)",
        f"hours with emergency slack {int((m['slack_mw'] > 1e-6).sum())} ({m['slack_mw'].sum():.3f} MWh)",
        f"lowest voltage             {m['v_min_pu'].min():.4f} p.u.",
        "",
        per.round(2).to_string(),
    ]
    return "\n".join(lines)
