"""Tracing under the production server: each gunicorn worker (forked, not preloaded) sends
its spans, and a worker stopped by SIGTERM sends what it still held before it exits."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.gunicorn_process import Gunicorn
from tests.gateway.test_tracing_otel import Receiver, attributes

TRACE = "0af7651916cd43dd8448eb211c80319c"  # pragma: allowlist secret
PARENT = "b7ad6b7169203331"  # pragma: allowlist secret


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_stopped_worker_sends_the_spans_it_still_held(
    gateway_env: dict[str, str], receiver: Receiver, tmp_path: Path
) -> None:
    env = {
        **gateway_env,
        "GATEWAY_OTEL_ENABLED": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.url,
        "OTEL_BSP_SCHEDULE_DELAY": "600000",  # nothing leaves before the stop
    }
    server = Gunicorn(env, tmp_path / "gunicorn.log", "--workers", "2")
    try:
        server.wait_until_ready()
        answer = server.get("/", traceparent=f"00-{TRACE}-{PARENT}-01")
        assert answer.status_code == 200
        assert answer.headers["traceresponse"].startswith(f"00-{TRACE}-")
        assert receiver.spans() == []
    finally:
        server.stop()
    assert server.process.returncode == 0, server.tail()

    spans = [s for s in receiver.spans() if s.trace_id.hex() == TRACE]
    [request] = [s for s in spans if s.parent_span_id.hex() == PARENT]
    assert attributes(request)["http.route"] == "/"
    assert not [s for s in receiver.spans() if attributes(s).get("http.route") == "/readyz"]
