"""`gateway/` names no provider: every provider fact comes from connectors/registry.py.

What counts as naming one (case-insensitive "google" or "microsoft"):
- in Python: any identifier (variable, attribute, function, class, argument, keyword,
  imported module or name) and any string literal, f-string parts included, since those
  are what code can act on (`if kind == "google"`, `GATEWAY_GOOGLE_CLIENT_ID`,
  `from connectors.google import ...`);
- in templates and static files: anywhere in the file, since all of it reaches people.
Comments and docstrings may still mention a provider: they explain why generic code is as
it is (say, why a revocation waits for the last grant sharing a refresh token) without
the code depending on a kind.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

GATEWAY = Path(__file__).resolve().parents[2] / "gateway"
NAMED = re.compile(r"google|microsoft", re.IGNORECASE)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the Constant nodes that are docstrings (module, class, function)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                found.add(id(body[0].value))
    return found


def named_in_code(source: str) -> list[str]:
    """The identifiers and string literals of `source` that name a provider."""
    tree = ast.parse(source)
    skip = _docstrings(tree)
    words: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            if id(node) not in skip:
                words.append(node.value)
        elif isinstance(node, ast.Name):
            words.append(node.id)
        elif isinstance(node, ast.Attribute):
            words.append(node.attr)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            words.append(node.name)
        elif isinstance(node, ast.arg) or (isinstance(node, ast.keyword) and node.arg):
            words.append(node.arg)
        elif isinstance(node, ast.alias):
            words += [node.name, node.asname or ""]
        elif isinstance(node, ast.ImportFrom):
            words.append(node.module or "")
    return [w for w in words if NAMED.search(w)]


def test_the_check_finds_a_provider_named_in_code_and_not_in_prose() -> None:
    assert named_in_code('if cfg.kind == "google":\n    pass\n') == ["google"]
    assert named_in_code('x = f"GATEWAY_{p}_ID" + "GATEWAY_MICROSOFT_TENANT"\n') == [
        "GATEWAY_MICROSOFT_TENANT"
    ]
    assert named_in_code("from connectors.google import CalendarInfo\n")
    assert named_in_code("def f(google_api):\n    return google_api.x\n")
    assert named_in_code("kinds = {'provider': 'Microsoft'}\n") == ["Microsoft"]
    prose = '"""Google shares one refresh token."""\n\n# Microsoft has no revocation\nx = 1\n'
    assert named_in_code(prose) == []


def test_no_python_module_of_the_gateway_names_a_provider() -> None:
    modules = sorted(GATEWAY.rglob("*.py"))
    assert len(modules) > 50  # the whole package is read, not an empty folder
    found = {
        str(path.relative_to(GATEWAY)): named
        for path in modules
        if (named := named_in_code(path.read_text(encoding="utf-8")))
    }
    assert found == {}


def vendored() -> set[Path]:
    """Third-party files whose sha256 the manifest pins to the npm package's (checked by
    test_vendored_swagger_ui.py): not the gateway's words, and not to be edited (Swagger
    UI's bundle holds a list of top-level domains, "google" and "microsoft" among them)."""
    folder = GATEWAY / "static" / "swagger-ui"
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return {folder / name for name in manifest["files"]}


def test_no_template_or_static_file_names_a_provider() -> None:
    files = [
        p
        for folder in ("templates", "static")
        for p in sorted((GATEWAY / folder).rglob("*"))
        if p.is_file() and p not in vendored()
    ]
    assert any(p.suffix == ".html" for p in files)
    found = {
        str(p.relative_to(GATEWAY)): NAMED.findall(p.read_text(encoding="utf-8", errors="replace"))
        for p in files
    }
    assert {name: hits for name, hits in found.items() if hits} == {}
