"""A buffering front for gunicorn: `python -m gateway.front [options] -- gunicorn ...`.

gunicorn's threads read a request's headers and body themselves, and it bounds only the wait
for the first byte: fifty clients that send their headers a byte every half second hold
every thread, and the service stops (gunicorn's documentation asks for a buffering proxy in
front). This is that proxy, for `make serve` and compose, where no nginx is at hand: an
asyncio server that holds any number of slow connections at the cost of a coroutine each,
closes one whose headers are not complete within `--header-timeout` (whose body is not
within `--body-timeout`), and only then hands gunicorn the whole request, on a connection
of its own, and reads the whole answer before writing it to the client. In Kubernetes the
ingress controller does this job (deploy/k8s/README.md).

Parsing is h11's (strict HTTP/1.1: an ambiguous Content-Length / Transfer-Encoding is a
400, never smuggled); gunicorn gets each request re-framed with a Content-Length and
`Connection: close`. Forwarding headers (`X-Forwarded-*`, `Forwarded`) are passed on only
from the addresses in `FORWARDED_ALLOW_IPS`, as gunicorn itself would: gunicorn trusts
everything that arrives on its unix socket, which is only this front.

Given a command after `--`, the front starts it (gunicorn, bound to the upstream socket),
waits until it accepts connections, passes SIGTERM, SIGINT and SIGHUP on to it, and exits
with it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from gateway.front_proxy import Front, Limits

log = logging.getLogger("gateway.front")


# -- running it ---------------------------------------------------------------------------------
def _listen_address(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    if not host:
        raise SystemExit(f"front: --listen wants HOST:PORT, not {value!r}")
    return host.strip("[]"), int(port)


def _wait_for_upstream(upstream: str, child: subprocess.Popen[bytes], seconds: float) -> bool:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if child.poll() is not None:
            return False
        try:
            if upstream.startswith("unix:"):
                with socket.socket(socket.AF_UNIX) as probe:
                    probe.connect(upstream[len("unix:") :])
            else:
                host, _, port = upstream.rpartition(":")
                socket.create_connection((host.strip("[]"), int(port)), timeout=1).close()
            return True
        except OSError:
            time.sleep(0.1)
    return False


async def _run(front: Front, host: str, port: int, child: subprocess.Popen[bytes] | None) -> int:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for name in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):

        def forward(signum: int = name) -> None:
            if child is not None and child.poll() is None:
                child.send_signal(signum)
            stopping.set()

        loop.add_signal_handler(name, forward)
    server = await asyncio.start_server(front.serve_client, host, port, backlog=1024)
    log.info("front: listening on %s:%s, forwarding to %s", host, port, front.upstream)
    while not stopping.is_set():
        if child is not None and child.poll() is not None:
            break
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), 0.5)
    server.close()
    if child is None:
        return 0
    while child.poll() is None:
        await asyncio.sleep(0.1)
    return child.returncode if child.returncode >= 0 else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    command: list[str] = []
    if "--" in args:
        command = args[args.index("--") + 1 :]
        args = args[: args.index("--")]
    env = os.environ
    parser = argparse.ArgumentParser(prog="python -m gateway.front", description=__doc__)
    parser.add_argument("--listen", default=env.get("FRONT_BIND", "0.0.0.0:8000"))
    parser.add_argument("--upstream", required=True, help="unix:/path or host:port of gunicorn")
    defaults = Limits()
    for option, variable, default in (
        ("--header-timeout", "FRONT_HEADER_TIMEOUT", defaults.header_timeout),
        ("--body-timeout", "FRONT_BODY_TIMEOUT", defaults.body_timeout),
        ("--keepalive-timeout", "FRONT_KEEPALIVE_TIMEOUT", defaults.keepalive_timeout),
        ("--upstream-timeout", "FRONT_UPSTREAM_TIMEOUT", defaults.upstream_timeout),
    ):
        parser.add_argument(option, type=float, default=float(env.get(variable, default)))
    parser.add_argument("--max-connections", type=int, default=defaults.max_connections)
    options = parser.parse_args(args)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    limits = Limits(
        header_timeout=options.header_timeout,
        body_timeout=options.body_timeout,
        keepalive_timeout=options.keepalive_timeout,
        upstream_timeout=options.upstream_timeout,
        max_connections=options.max_connections,
    )
    allowed = env.get("FORWARDED_ALLOW_IPS", "127.0.0.1").split(",")
    front = Front(options.upstream, limits, allowed)
    child = None
    if command:
        if options.upstream.startswith("unix:"):
            socket_path = Path(options.upstream[len("unix:") :])
            socket_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            socket_path.unlink(missing_ok=True)
        child = subprocess.Popen(command, stdin=subprocess.DEVNULL)  # noqa: S603 - our argv
        if not _wait_for_upstream(options.upstream, child, 120.0):
            print(f"front: {command[0]} did not start listening on {options.upstream}")
            if child.poll() is None:
                child.terminate()
            return child.wait() or 1
    host, port = _listen_address(options.listen)
    return asyncio.run(_run(front, host, port, child))


if __name__ == "__main__":
    sys.exit(main())
