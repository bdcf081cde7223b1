"""DESIGN "nothing read from Redis is ever unpickled", ASVS 5.0 1.5.2: a static rule over
the shipped packages. (bandit -ll, T35, runs as a step of `make test`; see the Makefile and
[tool.bandit] in pyproject.toml. It is not repeated here.)"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("gateway", "connectors", "scopes")


DANGEROUS_IMPORTS = {"pickle", "cPickle", "marshal", "shelve", "dill", "jsonpickle", "yaml"}


def test_nothing_shipped_imports_a_deserialiser_that_runs_code() -> None:
    """DESIGN "nothing read from Redis is ever unpickled": no module of the three packages
    imports pickle, marshal, shelve, dill, jsonpickle or yaml (whose `load` runs code)."""
    found = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                names: list[str] = []
                line = getattr(node, "lineno", 0)
                if isinstance(node, ast.Import):
                    names = [alias.name.split(".")[0] for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module.split(".")[0]]
                found += [
                    f"{path.relative_to(ROOT)}:{line} {n}" for n in names if n in DANGEROUS_IMPORTS
                ]
    assert found == []
