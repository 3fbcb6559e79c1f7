"""The architecture's layers hold (import-linter contracts in pyproject.toml), and the README draws
the same layers in the same order."""

import re
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _layers() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]
    return next(c for c in config["contracts"] if c["type"] == "layers")["layers"]


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_the_readme_draws_the_contracts_layers_in_order():
    readme = (ROOT / "README.md").read_text()
    drawing = readme[readme.index("```text\nlayers"):]
    drawing = drawing[: drawing.index("```", 8)]
    drawn = [line.split("  ")[0].strip() for line in drawing.splitlines()[2:] if line.strip()]
    expected = [re.sub(r"\s*[:|]\s*", " : ", layer) for layer in _layers()]
    assert drawn == expected, "README's layer drawing and pyproject.toml's import-linter layers differ"
