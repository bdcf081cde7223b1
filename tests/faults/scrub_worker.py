"""A gateway process that erases a user or revokes a grant, prints the receipt and waits
to be SIGKILLed, for tests/gateway/services/test_disk_scrub.py (not collected by pytest).

argv: erase|revoke uid gid. WORKER_ENV holds the gateway's GATEWAY_* settings as JSON.
Its own disk-scrub thread is stopped first, so the rewrite it asked for can only be done
by another process: as if it had been killed the moment it answered.
"""

from __future__ import annotations

import json
import os
import sys
import time

from gateway import create_app

BLOCK_SECONDS = 60.0


def main() -> None:
    action, uid, gid = sys.argv[1:4]
    app = create_app(json.loads(os.environ["WORKER_ENV"]))
    found = app.extensions["gateway"]
    if getattr(found, "disk_scrub", None) is not None:
        found.disk_scrub.stop()
    if action == "erase":
        receipt = found.privacy.erase(uid, actor=uid)
    else:
        receipt = found.revocation.revoke_grant(uid, gid, reason="killed after", actor=uid)
    print("DONE " + json.dumps(receipt), flush=True)
    time.sleep(BLOCK_SECONDS)
    sys.exit(3)


if __name__ == "__main__":
    main()
