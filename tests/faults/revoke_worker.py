"""A gateway process that revokes one grant and stops dead at a chosen point, for
test_revocation_crash.py to SIGKILL there (not collected by pytest: no `test_` prefix).

argv: uid gid actor point. WORKER_ENV holds the gateway's GATEWAY_* settings as JSON.

    provider        nothing patched: the test queued a slow answer on the provider's revoke
                    endpoint, so this process hangs inside the provider call
    after-provider  the provider has answered and the outcome is noted on the grant, but the
                    local destroy (GrantStore.shred) never starts
    after-destroy   every secret here is destroyed and the grant marked revoked (shred and
                    mark_ended returned), the room bindings are not removed yet

Prints "READY" once the app is built and "AT <point>" on reaching a patched point, then
blocks until killed (or exits 3 after a minute, so a broken test leaves nothing behind).
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

from gateway import create_app

BLOCK_SECONDS = 60.0


def stop_here(point: str) -> None:
    print(f"AT {point}", flush=True)
    time.sleep(BLOCK_SECONDS)
    sys.exit(3)


def main() -> None:
    uid, gid, actor, point = sys.argv[1:5]
    app = create_app(json.loads(os.environ["WORKER_ENV"]))
    revocation = app.extensions["gateway"].revocation
    store = revocation.store
    if point == "after-provider":

        def shred_never(*args: Any, **kwargs: Any) -> int:
            stop_here(point)
            return 0

        store.shred = shred_never
    elif point == "after-destroy":
        real_mark = store.mark_ended

        def mark_then_stop(*args: Any, **kwargs: Any) -> None:
            real_mark(*args, **kwargs)
            stop_here(point)

        store.mark_ended = mark_then_stop
    elif point != "provider":
        raise SystemExit(f"unknown point {point!r}")

    print("READY", flush=True)
    revocation.revoke_grant(uid, gid, reason="killed mid-revocation", actor=actor)
    print("FINISHED", flush=True)  # the test fails if it ever reads this


if __name__ == "__main__":
    main()
