"""Matplotlib figures drawn off the render path: a view shows its last finished image while the next draws.

Drawing a figure takes ~50-150 ms, a hundred times a market hour; drawn inside the page's render
it would hold back the status line (the hour counter) and every click. `LiveFigure` draws in a
background thread instead, one figure at a time per process (matplotlib is not thread-safe), and
shows a failure as a message in its own box (solara's thread hook logs the traceback).

A page may provide a `Drawing` through `drawing_context`: it knows which of a model's figures are
still drawing, so the play loop can let them finish before it steps on (else, on two busy cores,
the figures would fall seconds behind the hour counter).
"""

from __future__ import annotations

import io
import threading
from typing import Callable

import reacton.ipywidgets as w
import solara
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

_DRAWING = threading.Lock()


class Painter:
    """A figure laid out once (`setup`) and then updated in place (`update`) for each snapshot:
    a fixed layout, since constrained layout triples the drawing time. `LiveFigure` draws one figure
    at a time, so a painter is never drawn from two threads at once."""

    figsize = (6.0, 4.4)
    dpi = 90

    fig: Figure | None = None

    def draw(self, snap, *options) -> Figure:
        if self.fig is None:
            self.fig = Figure(figsize=self.figsize, dpi=self.dpi)
            self.setup(self.fig)
        self.update(snap, *options)
        return self.fig

    def setup(self, fig: Figure) -> None:
        raise NotImplementedError

    def update(self, snap, *options) -> None:
        raise NotImplementedError


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes at its own dpi (zlib level 1: encoding time matters more here than a few KB)."""
    buf = io.BytesIO()
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.print_png(buf, pil_kwargs={"compress_level": 1})
    return buf.getvalue()


def draw_png(draw: Callable[..., Figure], args: tuple, cancel: threading.Event | None = None) -> bytes:
    """`draw(*args)` as PNG bytes, once no other figure is drawing; raises `solara.util.CancelledError`
    instead if `cancel` was set meanwhile (newer arguments came, or the figure is gone)."""
    with _DRAWING:
        if cancel is not None and cancel.is_set():
            raise solara.util.CancelledError()
        return png(draw(*args))


class Drawing:
    """What of one model's page is still to be drawn: figures with an image to draw, and renders
    asked for but not yet done (a render asked for while another thread renders happens in that
    thread, later)."""

    def __init__(self):
        self._changed = threading.Condition()
        self._pending: dict[object, object] = {}  # who -> the request it is working on (the newest wins)
        self._closed = False

    def request(self, who, request) -> None:
        with self._changed:
            if not self._closed:
                self._pending[who] = request

    def done(self, who, request=None) -> None:
        """`who` finished `request` (whatever it was doing if None: it is gone)."""
        with self._changed:
            if request is None or self._pending.get(who) == request:
                self._pending.pop(who, None)
                self._changed.notify_all()

    def wait_idle(self, timeout_s: float) -> bool:
        """Block until no figure is drawing (or this is closed), or `timeout_s` passed; whether it is idle."""
        with self._changed:
            return self._changed.wait_for(lambda: not self._pending, timeout_s)

    def close(self) -> None:
        """Nothing more will be drawn (the page no longer shows these figures): stop waiting for them."""
        with self._changed:
            self._closed = True
            self._pending.clear()
            self._changed.notify_all()


drawing_context = solara.create_context(None)


@solara.component
def LiveFigure(title: str, draw: Callable[..., Figure], args: tuple):
    """`draw(*args)` (a matplotlib `Figure`) as an image, drawn in a background thread whenever
    `args` change; the previous image stays until the new one is ready. A draw still waiting for its
    turn when `args` change again (or the figure goes away) is skipped. If `draw` raises, the box
    says "<title> could not be drawn: ..." and the next change of `args` tries again."""
    drawing: Drawing | None = solara.use_context(drawing_context)
    me = solara.use_memo(object, [])

    def ask():
        request = object()
        if drawing is not None:
            drawing.request(me, request)
        return request

    # the same figure can be handed another Drawing (the page shows a new model): it follows it
    dependencies = [drawing, draw, *args]
    request = solara.use_memo(ask, dependencies)  # in the render, so the play loop sees it at once
    solara.use_effect(lambda: (lambda: drawing.done(me)) if drawing is not None else None, [drawing])

    def work(cancel: threading.Event):
        try:
            return draw_png(draw, args, cancel)  # cancelled: the previous image stays, the next draw follows
        finally:
            if drawing is not None:
                drawing.done(me, request)

    result = solara.use_thread(work, dependencies=dependencies, intrusive_cancel=False)
    if result.error is not None:
        e = result.error
        solara.Error(f"{title} could not be drawn: {type(e).__name__}: {e}")
    elif result.value is None:
        solara.Text(f"drawing {title.lower()} …", style={"color": "#777", "font-size": "0.85em"})
    else:
        w.Image(value=result.value, format="png")
