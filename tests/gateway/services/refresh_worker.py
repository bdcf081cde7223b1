"""One gateway process hammering one grant (used by test_grants.py, not collected by pytest).

argv: uid gid threads start_at. Prints {"ok": n, "errors": [...], "token_hashes": [...]}.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import time

from gateway import create_app


def main() -> None:
    uid, gid, count, start_at = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    app = create_app(json.loads(os.environ["WORKER_ENV"]))
    grants = app.extensions["gateway"].grants
    hashes: set[str] = set()
    errors: list[str] = []
    ok = 0
    lock = threading.Lock()

    def use() -> None:
        nonlocal ok
        time.sleep(max(0.0, start_at - time.time()))
        try:
            token = grants.access_token(uid, gid)
        except Exception as error:
            with lock:
                errors.append(type(error).__name__)
            return
        with lock:
            ok += 1
            hashes.add(hashlib.sha256(token.encode()).hexdigest())

    threads = [threading.Thread(target=use) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(json.dumps({"ok": ok, "errors": errors, "token_hashes": sorted(hashes)}))


if __name__ == "__main__":
    main()
