"""The W3C trace context (traceparent, tracestate) that outgoing provider calls carry.

The gateway's request log (gateway/request_log.py) sets it for each request it answers,
naming the gateway's own span as the parent; `connectors.http.ProviderSession` (requests),
`BoundedHttp` (httplib2) and `connectors.fanout_http.FanoutHttp` (urllib3, Graph's
per-grant calls) add it to each request they send. A context variable, so
worker threads that run in a copied context (free/busy fans out) send the trace of the
request they work for. No Flask here.
"""

from __future__ import annotations

from contextvars import ContextVar

# (traceparent, tracestate or None) of the request being answered, or None outside one.
OUTGOING: ContextVar[tuple[str, str | None] | None] = ContextVar("outgoing_trace", default=None)


def headers() -> dict[str, str]:
    """The trace headers for an outgoing call: none outside a request."""
    found = OUTGOING.get()
    if found is None:
        return {}
    traceparent, tracestate = found
    return {"traceparent": traceparent, **({"tracestate": tracestate} if tracestate else {})}
