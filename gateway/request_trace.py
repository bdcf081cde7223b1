"""The request's place in a W3C trace (Trace Context): read from the caller, passed on.

Tracing (W3C Trace Context): a valid `traceparent` (parsed as §3.2 and §4.3 of the
Recommendation say: lower-case hex, version `ff` and all-zero ids refused, a future version
read by its first four fields) puts the request in the caller's trace; anything else, or
none, starts a new trace. The gateway's own span id is new for every request; the
response carries `traceresponse: 00-<trace-id>-<span-id>-<flags>` (Trace Context Level 2),
and provider calls made for the request carry `traceparent` with the gateway's span as
parent, plus the caller's `tracestate` (connectors/trace_context.py). The sampled flag is
passed on as it came (a new trace: not sampled); the gateway records no spans itself.
Kept apart from `request_log`, which writes these ids on every line.
"""

from __future__ import annotations

import os
import re
import threading
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

TRACE_KEY = "gateway.trace"
ENTROPY_SIZE = 4096  # one `os.urandom` draw: the ids of some 100 requests
TRACEPARENT_ENVIRON = "HTTP_TRACEPARENT"
TRACESTATE_ENVIRON = "HTTP_TRACESTATE"
TRACERESPONSE = "traceresponse"
# traceparent: version "-" trace-id "-" parent-id "-" trace-flags, all lower-case hex
TRACEPARENT = re.compile(r"([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})")
TRACEPARENT_LENGTH = 55
# tracestate (§3.3): at most 32 list members, 512 characters kept; printable ASCII only
TRACESTATE = re.compile(r"[\x20-\x7e]{1,512}")


@dataclass(frozen=True)
class Trace:
    """The request's place in a W3C trace: the caller's trace (or a new one), our span."""

    trace_id: str
    span_id: str
    flags: str
    state: str | None = None

    @property
    def traceparent(self) -> str:
        """What a call made for this request sends: our span is its parent."""
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"


def parse_traceparent(value: str) -> tuple[str, str, str] | None:
    """(trace-id, parent-id, flags) of a valid `traceparent` header, else None (§4.3)."""
    value = value.strip(" \t")
    head = value[:TRACEPARENT_LENGTH]
    found = TRACEPARENT.fullmatch(head)
    if found is None:
        return None
    version, trace_id, parent_id, flags = found.groups()
    if version == "ff" or set(trace_id) == {"0"} or set(parent_id) == {"0"}:
        return None
    if version == "00" and len(value) != TRACEPARENT_LENGTH:
        return None  # version 00 has exactly four fields
    if len(value) > TRACEPARENT_LENGTH and value[TRACEPARENT_LENGTH] != "-":
        return None  # a later version may add fields, each after a dash
    return trace_id, parent_id, flags


def trace_of(environ: dict[str, Any]) -> Trace:
    """This request's trace: continued from a valid `traceparent`, else new (on environ)."""
    found = environ.get(TRACE_KEY)
    if isinstance(found, Trace):
        return found
    parsed = parse_traceparent(str(environ.get(TRACEPARENT_ENVIRON, "")))
    span_id = _random_hex(environ, 8)
    if parsed is None:
        trace = Trace(trace_id=_random_hex(environ, 16), span_id=span_id, flags="00")
    else:
        trace_id, _parent, flags = parsed
        # version 00 defines only the sampled bit; pass that on, nothing we cannot honour
        state = str(environ.get(TRACESTATE_ENVIRON, "")).strip(" \t")
        trace = Trace(
            trace_id=trace_id,
            span_id=span_id,
            flags="01" if int(flags, 16) & 1 else "00",
            state=state if TRACESTATE.fullmatch(state) else None,
        )
    environ[TRACE_KEY] = trace
    return trace


def _random_hex(environ: dict[str, Any], size: int) -> str:
    while True:
        value = random_bytes(environ, size).hex()
        if set(value) != {"0"}:  # all zeros is the invalid id
            return value


class _Entropy(threading.local):
    """A thread's unused random bytes: `os.urandom` releases the GIL (a getrandom call),
    and a worker thread that lets go of the GIL mid-request may wait for another request's
    Python to finish before it runs on (the warm path's tail, README "Benchmarks"). So one
    draw serves some 100 requests' ids, and no byte of it is handed out twice."""

    def __init__(self) -> None:
        self.pool = b""
        self.at = 0


_entropy = _Entropy()


def _forget_entropy() -> None:
    """A forked child draws its own bytes: the parent's pool would give both the same ids."""
    global _entropy
    _entropy = _Entropy()


os.register_at_fork(after_in_child=_forget_entropy)


def random_bytes(environ: dict[str, Any], size: int) -> bytes:
    """`size` random bytes for one of this request's new ids (request id, trace id, span
    id), from the thread's pool of one `os.urandom` draw."""
    del environ  # kept for callers; the pool is the thread's, not the request's
    found = _entropy
    if found.at + size > len(found.pool):
        found.pool, found.at = os.urandom(max(size, ENTROPY_SIZE)), 0
    start, found.at = found.at, found.at + size
    return found.pool[start : found.at]


# The trace of the request being answered, for code it runs in a copied context (threads).
CURRENT_TRACE: ContextVar[Trace | None] = ContextVar("gateway_trace", default=None)
