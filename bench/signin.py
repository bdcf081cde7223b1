"""Sign-in round trip through the real gateway over HTTP, against the bare provider part.

    python -m bench.signin [--sign-ins 20] [--warmup 8] [--keepalive] [--steps]

The gateway runs under gunicorn with deploy/gunicorn.conf.py, on a real redis-server, and
talks to the emulator over HTTPS. One round trip is what a person waits for: GET
/auth/login/<provider> (flow sealed into a cookie, 302), the emulator's authorize (302, or
Microsoft's form_post page posted back and sealed into a 303), the callback (code
exchanged, ID token verified, user found or made, session rotated, 303), then GET /v1/me on
the new session. Each sign-in is a new account (user, identity and profile are written).

The baseline, measured in the same run and interleaved with it, is the emulator's bare
authorize + token exchange (PKCE, same client and redirect URI): the part of a sign-in no
gateway can avoid. PERFORMANCE.md names no target for sign-in; the ratio says how much
the gateway adds; issue 17 asks that the gateway's own time be <= 0.5x of it. Not a test.

By default the emulator is its own server, which closes every connection: each of the
baseline's two requests and the gateway's code exchange pays a TCP connect and TLS
handshake that no real provider asks for. `--keepalive` runs it in its own process keeping
connections alive as Google's and Microsoft's token endpoints do (bench/emulator_keepalive.py):
a smaller baseline, and the gateway's exchange over its pooled connection.

`--steps` also prints the median time of each request of the round trip, as the browser
waits for it (the gateway's, the provider's; the callback's includes the code exchange):
where a sign-in's time goes, request by request.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from typing import Any
from urllib.parse import urlsplit

import requests

from bench.browser import Browser, bare_provider_round_trip, new_account
from bench.report import Row, at_most, over_rounds
from bench.stack import Stack, gunicorn

PROVIDERS = ("google", "microsoft")
Steps = dict[str, list[float]]  # "n METHOD path" -> seconds, one per sign-in


def _record_steps(steps: Steps, prefix: str, *sessions: requests.Session) -> None:
    """Each response's wait (requests' `elapsed`: sent to headers read), in order."""
    seen: list[str] = []

    def hook(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        step = f"{prefix}{len(seen)} {response.request.method} {urlsplit(response.url).path}"
        seen.append(step)
        steps[step].append(response.elapsed.total_seconds())

    for http in sessions:
        http.hooks["response"].append(hook)


def _gateway_sign_in(stack: Stack, url: str, provider: str, steps: Steps | None = None) -> float:
    account = new_account(stack.emulator, provider, "Bench User")
    stack.emulator.client.authorize_next(account)
    browser = Browser(url, stack.emulator)
    if steps is not None:
        _record_steps(steps, "", browser.gateway, browser.provider)
    try:
        started = time.perf_counter()
        browser.sign_in(provider, account)
        return time.perf_counter() - started
    finally:
        browser.close()


def _bare(stack: Stack, provider: str, steps: Steps | None = None) -> float:
    account = new_account(stack.emulator, provider, "Bench Bare")
    stack.emulator.client.authorize_next(account)
    http = Browser("", stack.emulator).provider
    if steps is not None:
        _record_steps(steps, "bare ", http)
    try:
        started = time.perf_counter()
        bare_provider_round_trip(http, stack.emulator, provider)
        return time.perf_counter() - started
    finally:
        http.close()


def measure(
    sign_ins: int = 20,
    warmup: int = 8,
    providers: tuple[str, ...] = PROVIDERS,
    workers: int | None = None,
    settle: float = 1.0,
    keepalive: bool = False,
    steps: bool = False,
) -> list[Row]:
    """Median sign-in round trip per provider, and the bare provider round trip. The
    gateway runs with the production config's worker count unless `workers` is given."""
    rows = []
    with Stack(own_process=keepalive) as stack:
        env, log = stack.process_env(), stack.work / "gunicorn.log"
        with gunicorn(
            "gateway:create_app()", stack.port, env, log, workers=workers, settle=settle
        ) as url:
            for provider in providers:
                for _ in range(warmup):  # every worker: imports, discovery, JWKS, MSAL
                    _gateway_sign_in(stack, url, provider)
                    _bare(stack, provider)
                gateway, bare, each = [], [], defaultdict(list)
                for _ in range(sign_ins):
                    gateway.append(_gateway_sign_in(stack, url, provider, each))
                    bare.append(_bare(stack, provider, each))
                for step, seconds in each.items() if steps else ():
                    print(f"  {provider} {step:45s} {1000 * statistics.median(seconds):6.1f} ms")
                value, baseline = 1000 * statistics.median(gateway), 1000 * statistics.median(bare)
                print(
                    f"sign-in {provider:9s}: gateway {value:7.1f} ms, bare provider "
                    f"{baseline:7.1f} ms (medians of {sign_ins})",
                    flush=True,
                )
                name = provider.capitalize()
                own = [1000 * (g - b) for g, b in zip(gateway, bare, strict=True)]
                rows += [
                    over_rounds(
                        f"sign-in round trip, {name}",
                        [1000 * g for g in gateway],
                        "ms",
                        [1000 * b for b in bare],
                        "emulator authorize+token",
                    ),
                    # the gateway's own time: its round trip less the provider's (issue 17)
                    over_rounds(
                        f"sign-in, the gateway's own time, {name}",
                        own,
                        "ms",
                        [1000 * b for b in bare],
                        "emulator authorize+token",
                        at_most(0.5),
                    ),
                ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sign-ins", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=8)
    parser.add_argument("--keepalive", action="store_true", help="a keep-alive emulator")
    parser.add_argument("--steps", action="store_true", help="each request's median too")
    options = parser.parse_args()
    from bench.report import table

    rows = measure(
        options.sign_ins, options.warmup, keepalive=options.keepalive, steps=options.steps
    )
    print(table(rows))


if __name__ == "__main__":
    main()
