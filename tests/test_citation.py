"""LICENSE and CITATION.cff: the citation metadata parse as CFF 1.2.0 and agree with pyproject.toml."""

import tomllib
from pathlib import Path

import yaml  # PyYAML: a test dependency (pyproject.toml [test])

ROOT = Path(__file__).resolve().parents[1]
#: The three papers the project implements, by their identifiers.
PAPERS = {"arXiv:2507.16479", "10.1016/j.apenergy.2021.116940", "arXiv:2604.20586"}


def load_cff() -> dict:
    return yaml.safe_load((ROOT / "CITATION.cff").read_text(encoding="utf-8"))


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]


def test_citation_has_the_required_cff_keys_and_matches_pyproject():
    cff = load_cff()
    assert cff["cff-version"] == "1.2.0"
    for key in ("message", "title", "authors"):  # required by CFF 1.2.0
        assert cff[key], key
    assert all("name" in a or "family-names" in a for a in cff["authors"])
    assert cff["type"] == "software"
    assert cff["title"].startswith(pyproject()["name"])
    assert str(cff["version"]) == pyproject()["version"]
    assert cff["license"] == pyproject()["license"] == "MIT"  # an SPDX expression (setuptools >= 77)


def test_citation_references_the_three_papers():
    refs = load_cff()["references"]
    assert len(refs) == 3
    for ref in refs:
        assert ref["type"] and ref["title"] and isinstance(ref["year"], int) and ref["journal"]
        assert ref["authors"] and all(a["family-names"] and a["given-names"] for a in ref["authors"])
    ids = {ref.get("doi") for ref in refs} | {i["value"] for ref in refs for i in ref.get("identifiers", [])}
    assert PAPERS <= ids


def test_license_is_mit_for_the_contributors():
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) 2026 localmarl contributors\n")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\"" in text
