"""Scenarios: TOML files, selected by name or path, validated on load by their market design.

A scenario file names its design (`design = "arbitrage"`, `"p2p"`, `"stackelberg"`, or
`"package.module:DesignClass"`); a file without the key is an arbitrage scenario, so every file
written before designs existed keeps working. A file may start with `extends = "NAME"` and then
only say what differs. The design's scenario class (`MarketDesign.scenario_class`) reads the rest:
every error names the file, the field and the fix; nothing runs with a half-valid scenario.

Named scenarios are looked up in `model/scenarios/` (the built-in ones) and in the folders listed
in the environment variable `LOCALMARL_SCENARIO_PATH` (separated like PATH), in that order.

A scenario object offers `name`, `description`, `design`, `source`, `to_dict()`,
`with_overrides(**kw)` and `OVERRIDES` (the keyword arguments a model, a sweep or the app may
override, with their types).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tomllib
from dataclasses import asdict, fields, is_dataclass
from pathlib import Path
from typing import Any

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
SCENARIO_PATH_ENV = "LOCALMARL_SCENARIO_PATH"
DEFAULT_DESIGN = "arbitrage"


class ScenarioError(ValueError):
    """A scenario file is malformed; the message names the field and the fix."""


def scenario_dirs() -> list[Path]:
    extra = [Path(p) for p in os.environ.get(SCENARIO_PATH_ENV, "").split(os.pathsep) if p]
    return [SCENARIO_DIR, *extra]


def available_scenarios() -> list[str]:
    """Names of the scenarios found in the scenario folders."""
    return sorted({p.stem for d in scenario_dirs() if d.is_dir() for p in d.glob("*.toml")})


def number(v, ctx: str) -> float:
    """A finite number from a scenario file (or an override); else a named error."""
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise ScenarioError(f"{ctx} must be a finite number, got {v!r}")
    return float(v)


def read_section(raw: dict, name: str, cls, where: str):
    """A [name] table of a scenario file read into the settings dataclass `cls`: unknown keys and
    values of the wrong type are named errors; absent keys keep the class's defaults. Field types:
    float (a finite number), int, bool, str, and tuple[int, ...] (a list of whole numbers)."""
    sec = raw.get(name, {})
    if not isinstance(sec, dict):
        raise ScenarioError(f"{where}: [{name}] must be a table")
    valid = {f.name for f in fields(cls)}
    bad = set(sec) - valid
    if bad:
        raise ScenarioError(f"{where}: [{name}] unknown key(s) {sorted(bad)}; valid keys: {sorted(valid)}")
    out = {}
    for f in fields(cls):
        if f.name not in sec:
            continue
        v, ctx = sec[f.name], f"{where}: [{name}].{f.name}"
        kind = str(f.type)
        if kind == "float":
            v = number(v, ctx)
        elif kind == "bool":
            if not isinstance(v, bool):
                raise ScenarioError(f"{ctx} must be true or false, got {v!r}")
        elif kind == "int":
            if not isinstance(v, int) or isinstance(v, bool):
                raise ScenarioError(f"{ctx} must be an integer, got {v!r}")
        elif kind.startswith("tuple[int"):
            if not isinstance(v, list) or not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
                raise ScenarioError(f"{ctx} must be a list of whole numbers, got {v!r}")
            v = tuple(v)
        elif not isinstance(v, str):
            raise ScenarioError(f"{ctx} must be a string, got {v!r}")
        out[f.name] = v
    return cls(**out)


def scenario_path(name_or_path: str | Path) -> Path:
    """The file of a scenario name or path; a clear error if there is none."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise ScenarioError(f"scenario file {p} does not exist")
        return p
    for d in scenario_dirs():
        candidate = d / f"{name_or_path}.toml"
        if candidate.is_file():
            return candidate
    raise ScenarioError(f"unknown scenario '{name_or_path}': use one of {available_scenarios()} or a path to a .toml file")


def read_merged(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's TOML with its `extends` chain merged in (tables merge key by key)."""
    if path.resolve() in seen:
        raise ScenarioError(f"{path}: 'extends' forms a cycle: {' -> '.join(map(str, seen + (path,)))}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as e:
        raise ScenarioError(f"{path}: not valid TOML ({e}); fix the syntax at that line") from None
    except OSError as e:
        raise ScenarioError(f"{path}: cannot be read ({e})") from None
    parent = raw.pop("extends", None)
    if parent is None:
        return raw
    if not isinstance(parent, str):
        raise ScenarioError(f"{path}: 'extends' must be a scenario name or path (a string)")
    base_path = scenario_path(path.parent / parent if parent.endswith(".toml") else parent)
    base = read_merged(base_path, seen + (path.resolve(),))
    for key, value in raw.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            base[key] = {**base[key], **value}
        else:
            base[key] = value
    return base


def load_scenario(name_or_path: str | Path):
    """Load and validate a scenario by name (`s-a`, `one-arb`, `p2p-mmr`, ...) or path."""
    from model.design import DesignError, get_design

    path = scenario_path(name_or_path)
    raw = read_merged(path)
    design = raw.pop("design", DEFAULT_DESIGN)
    if not isinstance(design, str):
        raise ScenarioError(f"{path}: design must be a design name (a string), got {design!r}")
    try:
        cls = get_design(design)
    except DesignError as e:
        raise ScenarioError(f"{path}: design = {design!r}: {e}") from None
    return cls.scenario_class.from_raw(raw, str(path), path.stem)


def is_scenario(obj) -> bool:
    """Whether `obj` is a loaded scenario object (of any design)."""
    return hasattr(obj, "to_dict") and hasattr(obj, "with_overrides") and hasattr(obj, "design")


def load(scenario):
    """A scenario object as given, or loaded from its name or path."""
    return scenario if is_scenario(scenario) else load_scenario(scenario)


def scenario_sha256(scenario) -> str:
    """Fingerprint of what a scenario simulates (not where its file lives)."""
    d = scenario.to_dict()
    d.pop("source", None)
    return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()


def _toml_value(value, where: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)) and math.isfinite(value):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string is a JSON string
    if isinstance(value, (list, tuple)) and all(not isinstance(v, (dict, list, tuple)) for v in value):
        return "[" + ", ".join(_toml_value(v, where) for v in value) + "]"
    raise ScenarioError(f"{where}, which is not a plain value ({type(value).__name__}) and cannot be written as one "
                        "scenario key here; write the scenario file by hand (extends = ... and what changes)")


def write_overridden(name_or_path: str | Path, overrides: dict, path: Path) -> Path:
    """Write `path`, a scenario file that extends `name_or_path` with `overrides` (as `with_overrides`, checked by the
    scenario): the scenario a run trained with overrides can be replayed from (a run records its scenario by name or
    path, and every check reloads it from there). Returns `path`. Only overrides that change plain keys (of the top
    level or of a table) can be written; others are an error naming the fix."""
    base = load_scenario(name_or_path)
    overridden = base.with_overrides(**overrides)
    changed, before = overridden.to_dict(), base.to_dict()
    for key in set(before) - set(changed):  # a table `to_dict` leaves out at its defaults (e.g. [control]): written whole
        value = getattr(overridden, key, None)
        if is_dataclass(value):
            changed[key] = asdict(value)
    said = ", ".join(f"{k}={v}" for k, v in overrides.items())
    lines = [f"extends = {json.dumps(str(scenario_path(name_or_path).resolve()))}", f"name = {json.dumps(base.name + '-overridden')}",
             f"description = {json.dumps(f'{base.name} with {said}')}"]
    tables = []
    for key in sorted(changed):
        if key in ("name", "description", "source") or changed[key] == before.get(key):
            continue
        if isinstance(changed[key], dict) and isinstance(before.get(key, {}), dict):  # a table (new where the base has none)
            prior = before.get(key, {})
            tables += [f"\n[{key}]"] + [f"{k} = {_toml_value(v, f'override {said} changes [{key}] {k}')}"
                                        for k, v in changed[key].items() if prior.get(k, object()) != v]
        else:
            lines.append(f"{key} = {_toml_value(changed[key], f'override {said} changes {key}')}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines + tables) + "\n")
    label = ("name", "description", "source")
    what = sorted(k for k, v in load_scenario(path).to_dict().items() if k not in label and v != overridden.to_dict().get(k))
    if what:
        path.unlink()
        raise ScenarioError(f"override {said}: the scenario file written for it differs from the overridden scenario in "
                            f"{what}; write the scenario file by hand (extends = ... and the changed table)")
    return path
