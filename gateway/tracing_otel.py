"""Optional OpenTelemetry tracing (`GATEWAY_OTEL_ENABLED=1`): spans for each request, each
provider call and each Redis command, exported as OTLP over HTTP.

Off by default: the gateway's own W3C trace handling (gateway/request_log.py) always runs,
and this only adds spans to it. On, the two agree: the request's server span has the trace id
the logs and `traceresponse` carry, so a log line finds its spans.
Request_log decides the trace (it validates `traceparent` as the Recommendation says); the
OpenTelemetry instrumentation is then handed exactly that decision (`TraceAgreement`,
`RequestIds`) rather than parsing the headers a second way.

Where spans go is the standard OpenTelemetry configuration, read by the SDK from the
process environment: `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`), `..._HEADERS`,
`OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES`, `OTEL_TRACES_SAMPLER`, `OTEL_BSP_*`.
Only W3C trace context is propagated: no `baggage`, which would forward whatever a caller
put in it to the providers.

Nothing private leaves in a span: every span passes gateway/tracing_scrub.py on its way
to the exporter (an allow-list of protocol facts).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import httplib2
from flask import Flask
from opentelemetry import propagate
from opentelemetry.context import Context
from opentelemetry.instrumentation.flask import FlaskInstrumentor
from opentelemetry.instrumentation.redis import RedisInstrumentor
from opentelemetry.instrumentation.requests import RequestsInstrumentor
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider, sampling
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SpanExporter,
)
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.sdk.trace.sampling import Decision, Sampler, SamplingResult
from opentelemetry.trace import Link, SpanKind, Status, StatusCode, get_current_span
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

from connectors.fanout_http import Answer, FanoutHttp
from gateway.request_trace import (
    CURRENT_TRACE,
    TRACEPARENT_ENVIRON,
    TRACESTATE_ENVIRON,
    parse_traceparent,
    trace_of,
)
from gateway.tracing_scrub import ScrubbingExporter

SERVICE_NAME = "consent-gateway"
# probes and scrapes: many a minute, nothing to learn from their spans
UNTRACED_PATHS = "/healthz,/readyz,/metrics"


class RequestIds(RandomIdGenerator):
    """A root span started while a request is answered takes the request's trace id (the one
    request_log logs and answers in `traceresponse`). Elsewhere (the worker, start-up) and
    for span ids: random. The logs' `span_id` stays request_log's own, the parent the
    gateway's provider calls named before; the trace id is what joins logs and spans."""

    def generate_trace_id(self) -> int:
        trace = CURRENT_TRACE.get()
        return int(trace.trace_id, 16) if trace is not None else super().generate_trace_id()


class WithinWork(Sampler):
    """Drops a client span (a Redis command, an HTTP call) that belongs to no request:
    huey's consumer polling Redis, the /metrics collector reading job times, housekeeping
    threads. Each would be a trace of one span, thousands an hour. Everything else is
    decided by the configured sampler (OTEL_TRACES_SAMPLER; default: parent-based, on)."""

    def __init__(self, inner: Sampler) -> None:
        self.inner = inner

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        if kind is SpanKind.CLIENT and not parent.is_valid:
            return SamplingResult(Decision.DROP)
        return self.inner.should_sample(
            parent_context, trace_id, name, kind, attributes, links, trace_state
        )

    def get_description(self) -> str:
        return f"WithinWork{{{self.inner.get_description()}}}"


class TraceAgreement:
    """WSGI middleware, outermost: settles the request's trace once (request_log's rules,
    kept on environ for it) and rewrites the trace headers the instrumentation reads to
    say the same: the caller's valid parent, or none (a new root, `RequestIds`)."""

    def __init__(self, wsgi_app: Callable[..., Iterable[bytes]]) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        parsed = parse_traceparent(str(environ.get(TRACEPARENT_ENVIRON, "")))
        trace = trace_of(environ)  # kept on environ: request_log reads the same one
        environ.pop(TRACEPARENT_ENVIRON, None)
        environ.pop(TRACESTATE_ENVIRON, None)
        if parsed is not None:
            _trace_id, parent, _flags = parsed
            environ[TRACEPARENT_ENVIRON] = f"00-{trace.trace_id}-{parent}-{trace.flags}"
            if trace.state:
                environ[TRACESTATE_ENVIRON] = trace.state
        return self.wsgi_app(environ, start_response)


def _httplib2_request_signature() -> inspect.Signature:
    signature = inspect.signature(httplib2.Http.request)
    return signature.replace(parameters=list(signature.parameters.values())[1:])  # no self


class Httplib2Spans:
    """A client span around each httplib2 request, with the trace context in its headers:
    one provider's API client library speaks httplib2, for which OpenTelemetry publishes
    no instrumentation. The same attributes as the requests instrumentation's, scrubbed the
    same way on export."""

    def __init__(self, provider: TracerProvider) -> None:
        self.tracer = provider.get_tracer(__name__)
        self.signature = _httplib2_request_signature()

    def __call__(self, wrapped: Any, _instance: Any, args: Any, kwargs: Any) -> Any:
        call = self.signature.bind(*args, **kwargs)
        call.apply_defaults()
        method = str(call.arguments["method"]).upper()
        attributes = {"http.method": method, "http.url": str(call.arguments["uri"])}
        with self.tracer.start_as_current_span(
            method, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            headers = dict(call.arguments["headers"] or {})
            propagate.inject(headers)
            call.arguments["headers"] = headers
            response, content = wrapped(*call.args, **call.kwargs)
            span.set_attribute("http.status_code", int(response.status))
            if int(response.status) >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return response, content


class FanoutSpans:
    """A client span around each `FanoutHttp` request (urllib3 without requests, which the
    requests instrumentation does not see): the same attributes as that instrumentation's,
    the span's own trace context in the headers, scrubbed the same way on export."""

    def __init__(self, provider: TracerProvider, send: Callable[..., Answer]) -> None:
        self.tracer = provider.get_tracer(__name__)
        self.send = send

    def __call__(
        self, http: FanoutHttp, method: str, url: str, body: bytes | None, headers: dict[str, str]
    ) -> Answer:
        attributes = {"http.method": method, "http.url": url}
        with self.tracer.start_as_current_span(
            method, kind=SpanKind.CLIENT, attributes=attributes
        ) as span:
            headers = dict(headers)
            propagate.inject(headers)
            answer = self.send(http, method, url, body, headers)
            span.set_attribute("http.status_code", answer.status_code)
            if answer.status_code >= 500:
                span.set_status(Status(StatusCode.ERROR))
            return answer


class OtelTracing:
    """The tracer provider and the instrumentation it drives, for one process."""

    def __init__(self, exporter: SpanExporter) -> None:
        self.provider = TracerProvider(
            resource=Resource.create({"service.name": SERVICE_NAME}),
            id_generator=RequestIds(),
            sampler=WithinWork(sampling._get_from_env_or_default()),
            shutdown_on_exit=True,  # a stopping worker sends the spans it still holds
        )
        self.provider.add_span_processor(BatchSpanProcessor(ScrubbingExporter(exporter)))
        self.httplib2_request = httplib2.Http.request  # what shutdown puts back
        self.fanout_send = FanoutHttp.send

    def instrument(self, app: Flask) -> None:
        propagate.set_global_textmap(TraceContextTextMapPropagator())
        FlaskInstrumentor.instrument_app(
            app, tracer_provider=self.provider, excluded_urls=UNTRACED_PATHS
        )
        # the request's span starts before the other hooks (host check, session, limits),
        # so their Redis commands are its children, not roots of their own
        hooks = app.before_request_funcs.setdefault(None, [])
        started = app._before_request  # type: ignore[attr-defined]
        hooks.remove(started)
        hooks.insert(0, started)
        # process-wide patches of requests and redis-py; a second app in the same process
        # keeps the first one's provider (gunicorn builds one app per worker process)
        RequestsInstrumentor().instrument(tracer_provider=self.provider)
        RedisInstrumentor().instrument(tracer_provider=self.provider)
        if not hasattr(httplib2.Http.request, "traced_by"):
            spans, original = Httplib2Spans(self.provider), self.httplib2_request

            def traced_request(http: httplib2.Http, *args: Any, **kwargs: Any) -> Any:
                return spans(original.__get__(http), http, args, kwargs)

            traced_request.traced_by = self  # type: ignore[attr-defined]
            httplib2.Http.request = traced_request
        if not hasattr(FanoutHttp.send, "traced_by"):
            fanout_spans = FanoutSpans(self.provider, self.fanout_send)

            def traced_send(http: FanoutHttp, *args: Any) -> Answer:
                return fanout_spans(http, *args)

            traced_send.traced_by = self  # type: ignore[attr-defined]
            FanoutHttp.send = traced_send  # type: ignore[method-assign, assignment]
        app.wsgi_app = TraceAgreement(app.wsgi_app)  # type: ignore[method-assign]

    def shutdown(self) -> None:
        """Stops the process-wide patches and sends what is still queued."""
        RequestsInstrumentor().uninstrument()
        RedisInstrumentor().uninstrument()
        if getattr(httplib2.Http.request, "traced_by", None) is self:
            httplib2.Http.request = self.httplib2_request
        if getattr(FanoutHttp.send, "traced_by", None) is self:
            FanoutHttp.send = self.fanout_send  # type: ignore[method-assign]
        self.provider.shutdown()


def install_tracing(app: Flask, enabled: bool, exporter: SpanExporter | None = None) -> None:
    """Turns tracing on for this app when the setting says so; `exporter` defaults to OTLP
    over HTTP configured by the standard OTEL_* variables. Call after the request log."""
    if not enabled:
        return
    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    tracing = OtelTracing(exporter)
    tracing.instrument(app)
    app.extensions["otel_tracing"] = tracing
