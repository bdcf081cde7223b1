"""What of a span may leave the gateway (gateway/tracing_otel.py exports through this).

An allow-list of attributes that say how, never who or what: method, route template,
status, the peer host of a client span, Redis command names with `?` for every argument.
Paths and query strings (ids, codes, states, mailbox addresses in provider URLs), headers,
client addresses, a server span's Host, Redis keys and values, exception messages, span
events and status texts are dropped; a URL is cut to its origin.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.trace import SpanKind, Status

# Attributes that say how, never who or what: everything else is dropped before export.
KEPT_ATTRIBUTES = frozenset(
    {
        "http.method",
        "http.request.method",
        "http.route",
        "http.scheme",
        "url.scheme",
        "http.status_code",
        "http.response.status_code",
        "http.flavor",
        "network.protocol.version",
        "net.transport",
        "network.transport",
        "error.type",
        "db.system",
        "db.system.name",
        "db.redis.database_index",
        "db.namespace",
        "db.operation.name",
        "db.redis.args_length",
        "db.redis.pipeline_length",
    }
)
# a client span's peer is a provider or Redis; a server span's is the browser, and its
# host attributes are whatever Host header the caller sent: kept for client spans only
CLIENT_PEER_ATTRIBUTES = frozenset(
    {"server.address", "server.port", "net.peer.name", "net.peer.port"}
)
URL_ATTRIBUTES = frozenset({"http.url", "url.full"})
STATEMENT_ATTRIBUTES = frozenset({"db.statement", "db.query.text"})
# a Redis statement as the instrumentation sanitizes it: the command, then one ? per
# argument (a pipeline: one such line per command)
_COMMAND = r"[A-Za-z][A-Za-z0-9_.]*( \?)*(\.\.\.)?"
SANITIZED_STATEMENT = re.compile(rf"{_COMMAND}(\n{_COMMAND})*")
# a span name: a method and a route template, or a Redis command; anything else is replaced
SAFE_SPAN_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.]*( /[A-Za-z0-9_/<>:.-]*)?")


def _origin(url: str) -> str | None:
    """scheme://host[:port]/ of a URL: no user, path or query."""
    try:
        parts = urlsplit(url)
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return None
    if not parts.scheme or not parts.hostname:
        return None
    return f"{parts.scheme}://{parts.hostname}{port}/"


def scrubbed_attributes(attributes: Any, client: bool) -> dict[str, Any]:
    """The attributes of a span that may leave the gateway (see the module's docstring)."""
    kept: dict[str, Any] = {}
    for key, value in dict(attributes or {}).items():
        if key in KEPT_ATTRIBUTES or (client and key in CLIENT_PEER_ATTRIBUTES):
            kept[key] = value
        elif key in URL_ATTRIBUTES and client:
            origin = _origin(str(value))
            if origin is not None:
                kept[key] = origin
        elif key in STATEMENT_ATTRIBUTES and SANITIZED_STATEMENT.fullmatch(str(value)):
            kept[key] = value
    return kept


def scrubbed(span: ReadableSpan) -> ReadableSpan:
    """A copy of the span with only what may leave: kept attributes, no events (exception
    messages), no link attributes, the status without its description."""
    client = span.kind in (SpanKind.CLIENT, SpanKind.PRODUCER)
    name = span.name if SAFE_SPAN_NAME.fullmatch(span.name) else span.kind.name.lower()
    return ReadableSpan(
        name=name,
        context=span.context,
        parent=span.parent,
        resource=span.resource,
        attributes=scrubbed_attributes(span.attributes, client),
        events=(),
        links=(),
        kind=span.kind,
        status=Status(span.status.status_code),
        start_time=span.start_time,
        end_time=span.end_time,
        instrumentation_scope=span.instrumentation_scope,
    )


class ScrubbingExporter(SpanExporter):
    """Passes each span through `scrubbed` on its way to the real exporter."""

    def __init__(self, inner: SpanExporter) -> None:
        self.inner = inner

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return self.inner.export([scrubbed(span) for span in spans])

    def shutdown(self) -> None:
        self.inner.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return self.inner.force_flush(timeout_millis)
