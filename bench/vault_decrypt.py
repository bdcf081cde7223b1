"""Token vault read cost: unwrap + decrypt of a grant's tokens vs a plain Redis GET.

Both sides read from the same real redis-server (unix socket) in the same run, in
alternating rounds, and the ratio of medians is printed: machines here are noisy. The
baseline is the floor of any token read (one round trip for the same bytes); the ratio says
what the envelope encryption costs on top. PERFORMANCE.md sets no target for it.

    python -m bench.vault_decrypt [--grants 200] [--rounds 7] [--seconds 1.0]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from bench.report import Row, over_rounds, table
from connectors.values import TokenSet
from gateway.crypto.keyring import KeyRing, new_key_entry
from gateway.crypto.vault import Vault, grant_context
from gateway.storage import keys
from gateway.storage.embedded import EmbeddedRedis, find_redis_server
from gateway.storage.redis_client import connect


def rate(operation: Callable[[int], object], count: int, seconds: float) -> float:
    done = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        operation(done % count)
        done += 1
    return done / elapsed


def measure(grants: int = 200, rounds: int = 7, seconds: float = 1.0) -> list[Row]:
    """Median ops/s of the vault read and of a plain GET of the same size, alternating."""
    vault = Vault(KeyRing.parse(new_key_entry("bench")))
    tokens = TokenSet(
        granted_scopes=frozenset({"https://www.googleapis.com/auth/calendar.freebusy"}),
        access_token="ya29." + "a" * 160,
        expires_at=time.time() + 3600,
        refresh_token="1//" + "r" * 100,
    )
    binary = shutil.which("redis-server") or find_redis_server()
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder), binary) as server:
        client = connect(server.url)
        contexts = []
        size = 0
        for n in range(grants):
            uid, gid = f"user{n}", f"grant{n}"
            context = grant_context(uid, "google", gid)
            data_key, wrapped = vault.new_owner_key(context)
            sealed = vault.seal_json(data_key, tokens.to_dict(), context, "tokens")
            client.hset(keys.grant(uid, gid), mapping={"dk": wrapped, "tokens": sealed})
            client.set(f"plain:{n}", "x" * (len(wrapped) + len(sealed)))
            size = len(wrapped) + len(sealed)
            contexts.append((keys.grant(uid, gid), context))

        def plain_get(n: int) -> object:
            return client.get(f"plain:{n}")

        def vault_read(n: int) -> object:
            key, context = contexts[n]
            wrapped, sealed = client.hmget(key, ["dk", "tokens"])
            data_key = vault.owner_key(str(wrapped), context)
            return vault.open_json(data_key, str(sealed), context, "tokens")["access_token"]

        plain, sealed_reads = [], []
        for _ in range(rounds):
            plain.append(rate(plain_get, grants, seconds))
            sealed_reads.append(rate(vault_read, grants, seconds))
        client.close()

    baseline, measured = statistics.median(plain), statistics.median(sealed_reads)
    print(f"vault: value size {size} bytes, {grants} grants, {rounds} rounds", flush=True)
    print(f"vault: plain GET {baseline:.0f} ops/s, HMGET+unwrap+decrypt {measured:.0f} ops/s")
    return [
        over_rounds(
            "token decrypt (HMGET+unwrap+decrypt)",
            sealed_reads,
            "ops/s",
            plain,
            "plain GET, same size",
        )
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grants", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--seconds", type=float, default=1.0)
    options = parser.parse_args()
    print(table(measure(options.grants, options.rounds, options.seconds)))


if __name__ == "__main__":
    main()
