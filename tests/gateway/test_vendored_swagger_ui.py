"""The vendored Swagger UI (gateway/static/swagger-ui/) is the npm package's files, byte for
byte: each file's sha256 is the manifest's, the manifest names an exact version, and the
folder holds nothing the manifest does not list (no source maps, no stray edits)."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

VENDORED = Path(__file__).resolve().parents[2] / "gateway" / "static" / "swagger-ui"
MANIFEST = VENDORED / "manifest.json"


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    found: dict[str, Any] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return found


def test_every_vendored_file_is_the_one_the_manifest_names(manifest: dict[str, Any]) -> None:
    on_disk = {p.name for p in VENDORED.iterdir() if p != MANIFEST}
    assert on_disk == set(manifest["files"])
    for name, sha256 in manifest["files"].items():
        assert hashlib.sha256((VENDORED / name).read_bytes()).hexdigest() == sha256, name


def test_the_manifest_pins_one_exact_version_with_its_licence(manifest: dict[str, Any]) -> None:
    component = manifest["component"]
    assert component["name"] == "swagger-ui-dist"
    assert re.fullmatch(r"\d+\.\d+\.\d+", component["version"])
    assert component["purl"] == f"pkg:npm/swagger-ui-dist@{component['version']}"
    assert component["source"].endswith(f"swagger-ui-dist-{component['version']}.tgz")
    assert component["licenses"] == ["Apache-2.0"]
    assert {"LICENSE", "NOTICE", "swagger-ui-bundle.js.LICENSE.txt"} <= set(manifest["files"])
    assert "Apache License" in (VENDORED / "LICENSE").read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("name", "mimetype"),
    [("swagger-ui-bundle.js", "text/javascript"), ("swagger-ui.css", "text/css")],
)
def test_the_files_are_served_with_a_type_nosniff_accepts(
    app: Flask, name: str, mimetype: str
) -> None:
    answer = app.test_client().get(f"/static/swagger-ui/{name}")
    assert answer.status_code == 200
    assert answer.mimetype == mimetype
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert answer.get_data() == (VENDORED / name).read_bytes()
    answer.close()
