"""The multiprocess metrics folder (PROMETHEUS_MULTIPROC_DIR): what a dead worker leaves in it.

Under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR (an empty, writable folder)
before start: prometheus_client then keeps each worker's values in files there and /metrics
adds them up; without it the values of the answering process are shown. prometheus_client
leaves a dead worker's counter and histogram files behind (about 28 KiB per worker
generation, without end); `forget_process`, called by gunicorn's `child_exit`
(deploy/gunicorn.conf.py), adds them into one archive file per type and removes them, so the
folder holds the live workers' files and two archives, and totals never go back. The folder
lock (`.lock`, exclusive while compacting, shared while scraping) keeps a scrape from seeing
a worker's values twice or not at all.

Imported through gateway.metrics, which settles the variable before prometheus_client reads it.
"""

from __future__ import annotations

import fcntl
import glob
import os
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import multiprocess
from prometheus_client.mmap_dict import MmapedDict

LOCK_FILE = ".lock"
ARCHIVE = "archive"  # counter_archive.db, histogram_archive.db: what dead workers counted
COMPACTED_TYPES = ("counter", "histogram")


@contextmanager
def folder_lock(path: str, *, exclusive: bool) -> Iterator[None]:
    """The metrics folder's lock: compaction holds it alone, scrapes share it."""
    with open(os.path.join(path, LOCK_FILE), "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def forget_process(pid: int, path: str) -> None:
    """A worker exited: drop its live gauges and add its counters and histograms to the
    archive files, then delete its files, so the folder does not grow with every worker
    generation. Runs in the gunicorn master (child_exit), one worker at a time."""
    multiprocess.mark_process_dead(pid, path)
    with folder_lock(path, exclusive=True):
        for kind in COMPACTED_TYPES:
            dead = os.path.join(path, f"{kind}_{pid}.db")
            if not os.path.exists(dead):
                continue
            archive = MmapedDict(os.path.join(path, f"{kind}_{ARCHIVE}.db"))
            try:
                for key, value, timestamp, _ in MmapedDict.read_all_values_from_file(dead):
                    current, _ = archive.read_value(key)
                    archive.write_value(key, current + value, timestamp)
            finally:
                archive.close()
            os.remove(dead)
        # gauges of a dead worker mean nothing any more (ours are all live* anyway)
        for dead in glob.glob(os.path.join(path, f"gauge_*_{pid}.db")):
            os.remove(dead)
