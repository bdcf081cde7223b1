"""A worker process with test jobs (used by test_worker.py, not collected by pytest).

argv: mode, one of
  count  a job every 2 s that counts its runs per period in Redis (gw:test:runs:<period>)
  slow   an hourly job that counts its starts (gw:test:starts) and then works for 60 s
The gateway's settings come as JSON in WORKER_ENV. Runs until SIGTERM, like the real one.
"""

from __future__ import annotations

import json
import os
import sys
import time

from gateway import create_app
from gateway.services.jobs import Job
from gateway.storage.jobs import job_key
from gateway.worker import Worker


def main() -> None:
    mode = sys.argv[1]
    app = create_app(json.loads(os.environ["WORKER_ENV"]))
    client = app.extensions["gateway"].redis

    def count() -> str:
        period = client.get(job_key("lease", "count")).split()[1]  # the period claimed
        client.incr(f"gw:test:runs:{period}")
        time.sleep(0.3)  # long enough for the other worker's tick to find it under way
        return "counted"

    def slow() -> str:
        client.incr("gw:test:starts")
        time.sleep(60)
        return "slept"

    jobs = {"count": Job("count", 2, 0, count), "slow": Job("slow", 3600, 0, slow)}
    Worker(app, jobs=[jobs[mode]], tick_seconds=0.2, lease_seconds=1.0).run()


if __name__ == "__main__":
    main()
