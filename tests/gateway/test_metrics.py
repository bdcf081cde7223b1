"""Prometheus metrics: /metrics shows the named series, for the cluster network only, and
never with a user id, e-mail address or room id in a label."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from gateway import metrics
from gateway.metrics import init_metrics

ALICE = "alice@example.com"
ROOM = "room-7f3a9c2e5b"
SERIES = (
    "gateway_http_requests_total",
    "gateway_http_request_duration_seconds_bucket",
    "gateway_provider_calls_total",
    "gateway_provider_call_duration_seconds_count",
    "gateway_freebusy_cache_total",
    "gateway_token_refreshes_total",
    "gateway_revocations_total",
    "gateway_redis_errors_total",
)


@pytest.fixture(autouse=True)
def wired(app: Flask) -> None:
    """Until app.py calls it: metrics on the test app, before its first request."""
    if "metrics" not in app.extensions:
        init_metrics(app)


def scrape(client: FlaskClient) -> dict[str, list[tuple[dict[str, str], float]]]:
    """The gateway_* samples of /metrics: name -> [(labels, value)]."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            if sample.name.startswith("gateway_"):
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict[str, Any], name: str, **labels: str) -> float:
    return sum(v for found, v in samples.get(name, []) if labels.items() <= found.items())


def test_requests_are_counted_per_exact_status_and_timed_per_status_class(
    client: FlaskClient,
) -> None:
    before = scrape(client)
    for _ in range(3):
        assert client.get("/healthz").status_code == 200
    client.get("/no/such/page")
    after = scrape(client)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    healthz = {"endpoint": "api.healthz", "method": "GET"}
    assert grew("gateway_http_requests_total", **healthz, status="200") == 3
    assert grew("gateway_http_request_duration_seconds_count", **healthz, status_class="2xx") == 3
    assert grew("gateway_http_requests_total", endpoint="unmatched", status="404") == 1
    assert not any(
        labels.get("endpoint") == "metrics" for labels, _ in after["gateway_http_requests_total"]
    ), "scrapes are not counted as requests"


def test_service_counters_appear_under_their_names(client: FlaskClient) -> None:
    metrics.provider_call("google", "freebusy", "ok", seconds=0.12)
    metrics.provider_call("microsoft", "refresh", "provider_unavailable")
    metrics.cache(hit=True, n=5)
    metrics.cache(hit=False)
    metrics.cache(hit=False, n=0)
    metrics.refresh("ok")
    metrics.refresh("failed")
    metrics.revocation("user")
    metrics.redis_error(ConnectionError("down"))
    client.get("/healthz")

    samples = scrape(client)

    for name in SERIES:
        assert name in samples, name
    assert value(samples, "gateway_provider_calls_total", provider="google", outcome="ok") >= 1
    failed = {"provider": "microsoft", "kind": "refresh", "outcome": "provider_unavailable"}
    assert value(samples, "gateway_provider_calls_total", **failed) >= 1
    assert value(samples, "gateway_freebusy_cache_total", result="hit") >= 5
    assert value(samples, "gateway_token_refreshes_total", outcome="failed") >= 1
    assert value(samples, "gateway_redis_errors_total", error="connectionerror") >= 1


def test_no_user_id_email_or_room_id_reaches_a_label(
    app: Flask, client: FlaskClient, sign_in: Any
) -> None:
    sign_in.complete("google", ALICE)
    uid = client.get("/v1/me").get_json()["id"]
    app.extensions["gateway"].rooms.create(
        {
            "id": ROOM,
            "name": "Blue",
            "location": "Ghent",
            "time_zone": "Europe/Brussels",
            "hours": {"monday": [["09:00", "17:00"]]},
            "visibility": ["staff"],
        }
    )
    for path in (
        f"/v1/rooms/{ROOM}/slots",
        f"/v1/rooms/{uid}/slots",
        f"/consent/{ALICE}",
        f"/admin/users/{uid}",
        f"/admin/rooms/{ROOM}",
        f"/{ALICE}/{uid}/{ROOM}",
    ):
        client.get(path, query_string={"email": ALICE, "user": uid})
    client.post(f"/rooms/{ROOM}/bind", data={"grant": uid})
    # a careless caller in a service cannot put personal data in a label either
    metrics.provider_call(ALICE, f"user:{uid}", ALICE)
    metrics.refresh(uid)
    metrics.revocation(ALICE)
    metrics.redis_error(ALICE)

    samples = scrape(client)

    label_values = {v for rows in samples.values() for labels, _ in rows for v in labels.values()}
    for secret in (uid, ALICE, ROOM, "alice"):
        assert not [v for v in label_values if secret in v], secret
    assert any(v.startswith("api_v1.") for v in label_values)


def test_metrics_refuses_what_came_through_a_proxy(client: FlaskClient) -> None:
    for header in ("X-Forwarded-For", "Forwarded", "X-Real-IP"):
        refused = client.get("/metrics", headers={header: "203.0.113.9"})
        assert refused.status_code == 404, header
        assert b"gateway_" not in refused.data
    assert client.post("/metrics").status_code == 405
    assert client.get("/metrics").headers["Cache-Control"] == "no-store"


def test_multiprocess_mode_adds_up_the_workers(tmp_path: Path) -> None:
    """With PROMETHEUS_MULTIPROC_DIR each process writes files there; /metrics sums them."""
    program = (
        "import sys; from gateway import metrics; from flask import Flask\n"
        "metrics.refresh('ok')\n"
        "if sys.argv[1] == 'scrape':\n"
        "    app = Flask('probe'); metrics.init_metrics(app)\n"
        "    print(app.test_client().get('/metrics').get_data(as_text=True))\n"
    )
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    root = Path(__file__).resolve().parents[2]
    for role in ("worker", "worker", "scrape"):
        done = subprocess.run(
            [sys.executable, "-c", program, role],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
    assert list(tmp_path.glob("counter_*.db"))
    samples = [
        s
        for family in text_string_to_metric_families(done.stdout)
        for s in family.samples
        if s.name == "gateway_token_refreshes_total"
    ]
    assert [s.value for s in samples if s.labels == {"outcome": "ok"}] == [3.0]


def test_each_process_says_which_key_version_it_wraps_with(client: FlaskClient) -> None:
    newest = client.application.extensions["gateway"].settings.keyring.newest
    assert value(scrape(client), "gateway_keyring_newest", version=newest) == 1


def test_every_family_shows_at_zero_before_its_first_event(
    app: Flask, gateway_env: dict[str, str]
) -> None:
    """A fresh process: the alerts' series exist already (a 5xx ratio, a refresh failure
    rate, a breaker opening), at 0, instead of appearing only with the first event."""
    program = (
        "import os\n"
        "from gateway import create_app\n"
        "client = create_app(dict(os.environ)).test_client()\n"
        "print(client.get('/metrics', base_url=os.environ['GATEWAY_PUBLIC_URL']).text)\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GATEWAY_", "PROMETHEUS"))}
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=Path(__file__).resolve().parents[2],
        env=env | gateway_env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(done.stdout):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))

    counters = [name for name in samples if name.endswith("_total") and name.startswith("gateway_")]
    assert all(v == 0 for name in counters for _, v in samples[name]), counters
    outcomes = {labels["outcome"] for labels, _ in samples["gateway_token_refreshes_total"]}
    assert outcomes == {"invalid_grant", "failed", "ok", "scope_lost"}
    providers = {p.name for p in app.extensions["gateway"].settings.providers}
    breakers = {
        (labels["provider"], labels["event"])
        for labels, _ in samples["gateway_provider_breaker_events_total"]
    }
    assert {(name, "opened") for name in providers} <= breakers
    calls = {
        (labels["provider"], labels["kind"])
        for labels, _ in samples["gateway_provider_calls_total"]
    }
    assert {(name, "signin") for name in providers} <= calls
    errors = {
        labels["endpoint"]
        for labels, _ in samples["gateway_http_requests_total"]
        if labels["status"] == "500"
    }
    assert {"api_v1.freebusy", "api.readyz"} <= errors
    [(build, one)] = samples["gateway_build_info"]
    assert one == 1 and build["version"] == "0.1.0" and build["python"].startswith("3.")
    assert samples["gateway_http_requests_in_flight"] == [({}, 0.0)]


def test_in_flight_counts_the_request_being_answered(app: Flask, client: FlaskClient) -> None:
    seen: list[float] = []

    @app.get("/_test/in-flight")
    def probe() -> str:
        seen.append(metrics.in_flight()._value.get())
        return "ok"

    assert client.get("/_test/in-flight").status_code == 200
    assert seen == [1.0]
    assert value(scrape(client), "gateway_http_requests_in_flight") == 0


def test_a_sign_in_counts_its_provider_call(client: FlaskClient, sign_in: Any) -> None:
    kind = {"provider": "google", "kind": "signin"}
    before = value(scrape(client), "gateway_provider_calls_total", **kind, outcome="ok")

    sign_in.complete("google", ALICE)

    after = value(scrape(client), "gateway_provider_calls_total", **kind, outcome="ok")
    assert after - before == 1
    timed = value(scrape(client), "gateway_provider_call_duration_seconds_count", **kind)
    assert timed >= 1


def test_the_retention_sweeps_last_success_is_shown_from_redis(
    app: Flask, client: FlaskClient, redis_client: Any
) -> None:
    """The sweep runs in its own process (a CronJob): `flask retention run` writes its
    time to Redis and every worker's /metrics reports it."""
    name = "gateway_job_last_success_timestamp_seconds"
    assert name not in scrape(client)
    before = time.time()

    result = app.test_cli_runner().invoke(args=["retention", "run"])

    assert result.exit_code == 0, result.output
    [(labels, at)] = scrape(client)[name]
    assert labels == {"task": "retention"}
    assert before - 1 <= at <= time.time() + 1


def test_an_empty_multiprocess_folder_variable_means_single_process(tmp_path: Path) -> None:
    """prometheus_client alone would write its files into the working directory."""
    program = (
        "from gateway import metrics; from flask import Flask\n"
        "app = Flask('probe'); metrics.init_metrics(app); metrics.refresh('ok')\n"
        "print(app.test_client().get('/metrics').get_data(as_text=True))\n"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", program],
        cwd=tmp_path,
        env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": "", "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert list(tmp_path.iterdir()) == []
    assert 'gateway_token_refreshes_total{outcome="ok"} 1.0' in done.stdout
