"""The tidy record of a run: per-hour tables that grow as the run goes.

A design declares its tables (`TableSpec`: columns with dtypes, and how many rows an hour adds:
one for a market-wide table, one per participant or per bus for the others). Every hour the model
appends that hour's rows; columns live in preallocated numpy arrays that double when full, so
appending costs the same at hour 1 and hour 8,000 and reading a column so far is a view. The same
record feeds `localmarl simulate`'s CSVs, evaluation, sweeps and the app.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class TableSpec:
    """A tidy table: `columns` (name -> numpy dtype, in order) and the rows one hour adds."""

    columns: dict[str, str]
    rows_per_hour: int = 1


@dataclass(frozen=True)
class Output:
    """A CSV written from a table of the record: its columns in order (after `renames`), sorted by `sort`."""

    table: str
    columns: tuple[str, ...]
    renames: dict[str, str] = field(default_factory=dict)
    sort: tuple[str, ...] = ()

    def frame(self, record: "Recorder") -> pd.DataFrame:
        df = record.frame(self.table).rename(columns=self.renames)[list(self.columns)]
        return df.sort_values(list(self.sort), ignore_index=True) if self.sort else df


class _Table:
    def __init__(self, spec: TableSpec, hours: int):
        self.spec = spec
        self.n = 0  # rows so far
        cap = max(hours, 1) * spec.rows_per_hour
        self.data = {c: np.empty(cap, dtype) for c, dtype in spec.columns.items()}

    def append(self, values: dict) -> None:
        k = self.spec.rows_per_hour
        if self.n + k > len(next(iter(self.data.values()))):
            for c, a in self.data.items():
                self.data[c] = np.concatenate([a, np.empty_like(a)])
        lo, hi = self.n, self.n + k
        for c, a in self.data.items():
            a[lo:hi] = values[c]
        self.n = hi


class Recorder:
    """The run's tables; `append(hour_rows)` once per hour, `frame(name)` / `column(name, col)` to read."""

    def __init__(self, tables: dict[str, TableSpec], hours: int = 168):
        self._tables = {name: _Table(spec, hours) for name, spec in tables.items()}
        self.hours = 0

    @property
    def names(self) -> list[str]:
        return list(self._tables)

    def append(self, rows: dict[str, dict]) -> None:
        """One hour's rows: {table: {column: scalar or array of rows_per_hour}} for every table."""
        for name, table in self._tables.items():
            table.append(rows[name])
        self.hours += 1

    def column(self, table: str, column: str) -> np.ndarray:
        """The column's values so far (a read-only view, no copy)."""
        t = self._tables[table]
        view = t.data[column][: t.n]
        view.flags.writeable = False
        return view

    def last(self, table: str, column: str):
        """The latest hour's value(s) of a column (a scalar for one-row-per-hour tables)."""
        t = self._tables[table]
        k = t.spec.rows_per_hour
        return t.data[column][t.n - 1] if k == 1 else t.data[column][t.n - k: t.n]

    def frame(self, table: str, columns=None) -> pd.DataFrame:
        """The table so far as a DataFrame (a copy), optionally only `columns`, in that order."""
        t = self._tables[table]
        cols = list(t.spec.columns) if columns is None else list(columns)
        return pd.DataFrame({c: t.data[c][: t.n].copy() for c in cols})
