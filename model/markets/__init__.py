"""Market mechanisms: clearing and settlement as functions over arrays, registered by name.

A mechanism knows nothing of agents, models, scenarios or learners: arrays in, a frozen result
out. Market designs (`model.designs`) name the mechanisms their stages clear with; tests check
each mechanism against hand-worked examples and a plain PuLP formulation; the ABM, the
PettingZoo env, training and the benchmarks all call the same functions.

    from model import markets
    clear = markets.get("p2p_mmr")          # the registered function
    markets.available()                     # every registered name

A module registers its mechanisms with the `mechanism` decorator:

    @mechanism("p2p_mmr")
    def clear_mmr(net_kw, import_eur_mwh, export_eur_mwh): ...

Some mechanisms have a kernel that is prepared once per scenario (the merit order's cost order,
the LFM's persistent LP): their registered entry is that kernel's factory, and the kernel's
`clear`/`solve` method is then a function of each hour's arrays.

Modules are imported only when a name is looked up (`BUILTIN_MODULES`), so heavy solver backends
load where they are needed.
"""

from __future__ import annotations

import importlib
from typing import Callable

#: Modules whose import registers the built-in mechanisms (imported on the first lookup).
BUILTIN_MODULES = (
    "model.markets.lem",
    "model.markets.lfm",
    "model.markets.settlement",
    "model.markets.double_auction",
    "model.markets.p2p_mmr",
)

_REGISTRY: dict[str, Callable] = {}


def mechanism(name: str) -> Callable[[Callable], Callable]:
    """Register `fn` under `name` (a decorator). A name is registered once."""

    def register(fn: Callable) -> Callable:
        if _REGISTRY.get(name, fn) is not fn:
            raise ValueError(f"mechanism {name!r} is already registered by {_REGISTRY[name].__module__}")
        _REGISTRY[name] = fn
        fn.mechanism_name = name
        return fn

    return register


def _load_builtins() -> None:
    for module in BUILTIN_MODULES:
        importlib.import_module(module)


def get(name: str) -> Callable:
    """The mechanism registered as `name`; a clear error lists the registered names."""
    if name not in _REGISTRY:
        _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise KeyError(f"unknown market mechanism {name!r}: registered are {available()}") from None


def available() -> list[str]:
    """Every registered mechanism name, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)
