"""What the app draws for each market design: one views module per design, loaded by name.

The page (controls, Step/Play/Pause/Reset, the hour counter) knows no design. A design class names
its views module in `plugins["views"]`, a dotted module path (the arbitrage design:
`"visualization.designs.arbitrage"`); `views_for(design)` imports it. A views module provides

    snapshot(model) -> object
        The design's part of the page's snapshot, taken after every hour while the session's lock
        is held. It must cost the same at every hour: keep references to the record's column
        views (`model.record.column(table, col)`, read-only, no copy) and to immutable objects
        (the last `Hour`), never `model.record.frame(...)`. The page's `Snapshot` carries it as
        `snap.detail`; every function below receives that `Snapshot`.
    status(snap) -> list[str]
        The status line's texts after the hour counter, e.g. the hour's prices. Drawn every hour,
        so keep it cheap (no figures).
    Views(snap)
        A solara component: the design's figures. The page renders it after every Step, on Pause
        and at most every `visualization.page.FIGURE_INTERVAL_S` while playing. Draw matplotlib
        figures with `visualization.figures.LiveFigure`, which draws them off the render path and
        shows a failing figure as a message in its own box.

and optionally

    TITLE: str
        The page's heading for this design.
    clock(snap) -> str | None
        When the last cleared hour began, shown after the hour counter ("Mon 01 Jan 00:00 CET").
    Controls(overrides, set_override)
        A solara component with the design's own controls. `overrides` maps keyword arguments of
        `MarketModel` (the scenario settings the design lets a run override, `scenario.OVERRIDES`)
        to values; `set_override(key, value)` changes one (None removes it) and builds a new model.
"""

from __future__ import annotations

import importlib
from types import ModuleType, SimpleNamespace

import solara

REQUIRED = ("snapshot", "status", "Views")


class ViewsError(ImportError):
    """A design's views module is missing, cannot be imported, or lacks part of the interface."""


def views_for(design) -> ModuleType:
    """The views module of `design` (a `MarketDesign` class or instance), named in `design.plugins["views"]`."""
    name = getattr(design, "name", None) or type(design).__name__
    path = getattr(design, "plugins", {}).get("views")
    if not path:
        raise ViewsError(f"market design {name!r} names no views module: set "
                         "plugins = {\"views\": \"package.module\"} on its class "
                         "(see visualization/designs/__init__.py for what the module provides)")
    try:
        module = importlib.import_module(path)
    except ImportError as e:
        raise ViewsError(f"market design {name!r}: cannot import its views module {path!r} "
                         f"({type(e).__name__}: {e})") from e
    missing = [a for a in REQUIRED if not hasattr(module, a)]
    if missing:
        raise ViewsError(f"views module {path!r} of design {name!r} lacks {', '.join(missing)} "
                         "(see visualization/designs/__init__.py)")
    return module


def no_views(message: str):
    """Stand-in views for a design whose views module cannot be loaded: the page still steps it
    (hour counter only) and `Views` shows `message`."""

    @solara.component
    def Views(snap):
        solara.Warning(message)

    return SimpleNamespace(snapshot=lambda model: None, status=lambda snap: [], Views=Views)
