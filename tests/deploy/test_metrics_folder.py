"""The Prometheus multiprocess folder stays bounded however often gunicorn replaces workers,
and no count is lost or doubled by the compaction (gateway.metrics.forget_process)."""

from __future__ import annotations

from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest, multiprocess
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy.gunicorn_process import Gunicorn

REQUESTS = 60
RECYCLE_AFTER = 3  # --max-requests: about 20 worker generations in this test
WORKERS = 2
FILES_PER_WORKER = 5  # counter, histogram, gauge_livesum, gauge_livemax, gauge_liveall


def healthz_count(text: str) -> float:
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "gateway_http_requests_total"
        and sample.labels.get("endpoint") == "api.healthz"
        and sample.labels.get("status") == "200"
    )


def test_restarted_workers_leave_two_archives_and_every_count(
    gateway_env: dict[str, str], tmp_path: Path
) -> None:
    folder = tmp_path / "prometheus"
    env = gateway_env | {"PROMETHEUS_MULTIPROC_DIR": str(folder)}
    server = Gunicorn(
        env,
        tmp_path / "gunicorn.log",
        *("--workers", str(WORKERS), "--max-requests", str(RECYCLE_AFTER)),
        *("--max-requests-jitter", "0"),
    )
    sizes = []
    try:
        server.wait_until_ready()
        for _ in range(REQUESTS):
            assert server.get("/healthz").status_code == 200
            sizes.append(len(list(folder.glob("*.db"))))
        scraped = server.get("/metrics").text
    finally:
        server.stop()

    # while running: the live workers' files, one exiting worker's and the two archives
    assert max(sizes) <= (WORKERS + 1) * FILES_PER_WORKER + 2, sizes
    assert healthz_count(scraped) == REQUESTS
    assert "gateway_build_info{" in scraped
    assert "gateway_http_requests_in_flight" in scraped
    # once every worker is gone, only the archives are left, and they hold every request
    assert sorted(p.name for p in folder.glob("*.db")) == [
        "counter_archive.db",
        "histogram_archive.db",
    ]
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry, path=str(folder))
    assert healthz_count(generate_latest(registry).decode()) == REQUESTS
