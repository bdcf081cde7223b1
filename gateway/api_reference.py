"""The OpenAPI document as /api shows it without JavaScript (and before Swagger UI starts).

The document's descriptions are CommonMark, which Swagger UI renders; this fallback renders
the only markup they use, code spans (and `**strong**`, should one appear), and escapes
everything else, so a reader sees `timeMin` set as code and never a raw backtick.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

# A code span: a run of backticks, then text, then the same run (CommonMark §6.1).
CODE_SPAN = re.compile(r"(`+)(.+?)(?<!`)\1(?!`)", re.DOTALL)
PROSE = frozenset({"description", "title", "examples", "example"})
STRONG = re.compile(r"\*\*(?=\S)(.+?)(?<=\S)\*\*")


def inline_markdown(text: str | None) -> Markup:
    """`text` as HTML: code spans become <code>, `**x**` <strong>, the rest is escaped."""
    parts: list[str] = []
    last = 0
    for found in CODE_SPAN.finditer(text or ""):
        parts.append(_strong(str(escape(found.string[last : found.start()]))))
        parts.append(f"<code>{escape(found.group(2).strip(' ') or found.group(2))}</code>")
        last = found.end()
    parts.append(_strong(str(escape((text or "")[last:]))))
    # Every piece of text was escaped above; only the <code> and <strong> tags added here
    # are markup (tests/gateway/test_api_reference.py sends it HTML and sees it escaped).
    return Markup("".join(parts))  # noqa: S704  # nosec B704


def _strong(escaped: str) -> str:
    return STRONG.sub(r"<strong>\1</strong>", escaped)


def schema_shape(schema: dict[str, Any] | None) -> dict[str, Any]:
    """A field's schema without its prose (shown next to it, rendered) or examples."""
    return {k: v for k, v in (schema or {}).items() if k not in PROSE}


def readable_operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The operations in path order, with what a reader needs next to each."""
    found = []
    for path, methods in document["paths"].items():
        for method, described in methods.items():
            body = described.get("requestBody", {}).get("content", {}).get("application/json")
            ok_status, ok = _success(described["responses"])
            ok_json = (ok or {}).get("content", {}).get("application/json")
            found.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "id": described["operationId"],
                    "summary": described["summary"],
                    "description": described.get("description", ""),
                    "parameters": described.get("parameters", []),
                    "body": _ref_name(body["schema"]) if body else None,
                    "success": ok_status,
                    "response": _ref_name(ok_json["schema"]) if ok_json else None,
                    "errors": [
                        (status, answer["description"])
                        for status, answer in described["responses"].items()
                        if not status.startswith("2")
                    ],
                    "security": [name for item in described["security"] for name in item],
                }
            )
    return found


def _success(responses: dict[str, Any]) -> tuple[str, dict[str, Any] | None]:
    for status, answer in responses.items():
        if status.startswith("2"):
            return status, answer
    return "200", None


def _ref_name(schema: dict[str, Any]) -> str:
    return str(schema.get("$ref", "")).rsplit("/", 1)[-1]
