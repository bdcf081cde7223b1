"""gunicorn settings for the gateway in production: `gunicorn -c deploy/gunicorn.conf.py
'gateway:create_app()'` (see deploy/README.md). Command-line flags override these.

Sized for 2 cores. Threads, not only processes: a free/busy cache miss waits on the
providers (up to GATEWAY_FREEBUSY_DEADLINE_SECONDS), and other requests must go on meanwhile.
Four workers of four threads rather than two of eight: with few long-lived keep-alive
connections, two gthread workers were measured to pile every connection onto one worker
(the README's benchmark section).
"""

import os
import sys

bind = ["0.0.0.0:8000"]
workers = int(os.environ.get("WEB_CONCURRENCY", "4"))
worker_class = "gthread"
threads = 4
# Not preloaded: each worker builds its own app, so Redis pools, the free/busy thread pool
# and provider sessions are never shared across a fork.
preload_app = False

# The worker timeout must stay above the longest a request may legitimately take: the
# free/busy provider deadline (default 8 s, at most 25 s) plus Redis and rendering.
timeout = 35
graceful_timeout = 30
keepalive = 5
# No recycling (max_requests): no leak has been shown that it would cure, and each worker
# generation cost a Prometheus file set and warm caches. Workers that die anyway (a timeout,
# a crash, `--max-requests` on the command line) have their metrics files compacted in
# child_exit below, so the folder stays bounded either way.
max_requests = 0
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None  # noqa: S108

# Request limits in front of Flask's own (MAX_CONTENT_LENGTH = 64 KiB).
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190

# Logs to stdout/stderr for the container runtime (see the JSON block below).
errorlog = "-"
loglevel = "info"

# Behind a reverse proxy that sets X-Forwarded-Proto, list its address here so that
# https is recognised (gunicorn's default trusts only 127.0.0.1).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# JSON logs (gateway/request_log.py): the app writes one JSON access line per request, with
# its request id, so gunicorn's own access log is off and its error log is JSON as well.
accesslog = None
logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "gateway.request_log.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stdout",
        }
    },
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": [], "propagate": False},
    },
}


def on_starting(server):
    """Configuration checked once, before any worker forks: a mistake is one line on stderr
    and exit status 2, not a traceback per worker and "Worker failed to boot". Then
    Prometheus multiprocess mode (gateway/metrics.py): start from an empty folder."""
    from gateway.config import ConfigError, Settings

    try:
        Settings.from_env(os.environ)
    except ConfigError as error:
        print(f"configuration error: {error}", file=sys.stderr, flush=True)
        sys.exit(2)
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        os.makedirs(path, exist_ok=True)
        for name in os.listdir(path):
            if name.endswith(".db"):
                os.remove(os.path.join(path, name))


def child_exit(server, worker):
    """Prometheus multiprocess mode: a worker that exited leaves its live gauges out and its
    counters and histograms in the archive files (gateway.metrics.forget_process), so the
    folder does not grow with every worker generation."""
    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if path:
        from gateway.metrics import forget_process

        forget_process(worker.pid, path)


def post_worker_init(worker):
    """The worker's app is built: collect what its start-up left as garbage, then move
    everything alive (modules, the app, its clients: some 140,000 objects) out of the
    garbage collector's reach with `gc.freeze()`. They live as long as the worker, yet a
    full collection walks them all: 120-160 ms measured in one process (bench/warm_cpu.py
    --gc), every thread of the worker stopped meanwhile, against 0.5 ms frozen. Full passes
    come once enough new objects survive (a worker's remembered answers churning, say);
    objects made after this are collected as before. The worker is not forked again, so
    freezing costs no copy-on-write."""
    import gc

    gc.collect()
    gc.freeze()
