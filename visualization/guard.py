"""Error isolation: a failing view shows a message in its own box instead of breaking the page."""

from __future__ import annotations

import logging
import traceback

import solara

log = logging.getLogger(__name__)


@solara.component
def Guarded(title: str, component, **props):
    """Render `component(**props)`; if it (or anything under it) raises, show the error instead.

    The error clears, and the view is tried again, when its props change (e.g. the next step).
    """
    exc, clear = solara.use_exception()
    solara.use_effect(lambda: clear() if exc is not None else None, list(props.values()))
    if exc is None:
        component(**props)
        return
    log.error("%s failed:\n%s", title, "".join(traceback.format_exception(exc)))
    with solara.Column(gap="4px"):
        solara.Error(f"{title} could not be drawn: {type(exc).__name__}: {exc}")
        solara.Button("Try again", on_click=clear, text=True, small=True)
