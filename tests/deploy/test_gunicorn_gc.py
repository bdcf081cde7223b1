"""A gunicorn worker (deploy/gunicorn.conf.py) freezes what its start-up made once its app
is built, so a full garbage collection never walks the long-lived heap again (the warm
path's tail: README, "Benchmarks")."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The hook run as gunicorn runs it, in a fresh interpreter (freezing this one would keep
# every test's garbage): what is frozen, and whether a cycle made before it was collected.
PROBE = """
import gc, runpy, weakref
class Node: pass
cycle = Node(); cycle.me = cycle
gone = weakref.ref(cycle)
del cycle
gc.disable()  # only the hook may collect
import gateway  # what a worker has loaded once its app is built
hooks = runpy.run_path("deploy/gunicorn.conf.py")
tracked = len(gc.get_objects())
hooks["post_worker_init"](None)
print(tracked, gc.get_freeze_count(), len(gc.get_objects()), gone() is None)
"""


def test_a_worker_freezes_its_start_up_heap_after_collecting_its_garbage() -> None:
    found = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, capture_output=True, text=True, check=True
    )
    tracked, frozen, left, collected = found.stdout.split()
    assert int(frozen) > 50_000  # the modules, classes and functions the gateway loaded
    assert int(frozen) < int(tracked)  # less the start-up garbage, collected first
    assert int(left) < 100  # nothing left for a full collection to walk
    assert collected == "True"  # garbage is collected, not frozen for the worker's life
