"""/api without JavaScript: the document's markdown (code spans, strong) is set as HTML,
and nothing else of a description is ever markup."""

from __future__ import annotations

import pytest

from gateway.api_reference import inline_markdown, schema_shape


@pytest.mark.parametrize(
    ("text", "html"),
    [
        ("Send `timeMin` first.", "Send <code>timeMin</code> first."),
        ('Errors are `{"error": code}`.', "Errors are <code>{&#34;error&#34;: code}</code>."),
        ("``a ` b`` and `c`", "<code>a ` b</code> and <code>c</code>"),
        ("**Only** `ok` means free", "<strong>Only</strong> <code>ok</code> means free"),
        ("a lone ` stays", "a lone ` stays"),
        ("", ""),
        (None, ""),
    ],
)
def test_code_spans_and_strong_become_html(text: str | None, html: str) -> None:
    assert str(inline_markdown(text)) == html


def test_html_in_a_description_is_escaped_inside_and_outside_code() -> None:
    rendered = str(inline_markdown("<script>x()</script> `<img src=x onerror=y>` **<b>**"))
    assert "<script>" not in rendered and "<img" not in rendered and "<b>" not in rendered
    assert rendered == (
        "&lt;script&gt;x()&lt;/script&gt; <code>&lt;img src=x onerror=y&gt;</code> "
        "<strong>&lt;b&gt;</strong>"
    )


def test_a_fields_schema_is_shown_without_its_prose() -> None:
    field = {"type": "integer", "description": "Seats, `n`.", "title": "C", "examples": [8]}
    assert schema_shape(field) == {"type": "integer"}
    assert schema_shape(None) == {}
