"""A simulated run's tidy tables: the CSVs the design declares (`design.outputs`), from the record."""

from __future__ import annotations

import pandas as pd


def tables(model) -> dict[str, pd.DataFrame]:
    """The model's recorded hours as the design's output tables (hour = 0.. in the order simulated)."""
    if model.record is None or model.record.hours == 0:
        raise ValueError("the model has recorded no hours (was it created with collect=False, or not stepped?)")
    return {name: out.frame(model.record) for name, out in model.design.outputs.items()}
