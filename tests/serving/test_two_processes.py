"""Any request may land on any worker: two gunicorn processes share nothing but Redis.

Each process runs the production config (deploy/gunicorn.conf.py) with one worker, on its
own port; the test plays the load balancer, sending every request with the public Host to
whichever process it likes.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.hosts import DAY, Hosts
from tests.redis_cluster import free_port

ROOT = Path(__file__).resolve().parents[2]
PUBLIC_HOST = "127.0.0.1:8000"  # conftest's GATEWAY_PUBLIC_URL: what the balancer forwards
STARTUP_SECONDS = 30.0


class Process:
    """One gateway process behind the imaginary balancer."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.log = log.open("wb")
        gunicorn = Path(sys.executable).with_name("gunicorn")
        self.process = subprocess.Popen(
            [
                str(gunicorn),
                *("-c", "deploy/gunicorn.conf.py", "--workers", "1"),
                *("--bind", f"127.0.0.1:{self.port}", "gateway:create_app()"),
            ],
            cwd=ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_until_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            assert self.process.poll() is None, "gunicorn exited:\n" + self.tail()
            try:
                if requests.get(self.url("/readyz"), headers=HOST, timeout=5).ok:
                    return
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or a first answer slowed by a loaded machine
            time.sleep(0.1)
        raise AssertionError("gunicorn did not start:\n" + self.tail())

    def tail(self) -> str:
        self.log.flush()
        return "\n".join(Path(self.log.name).read_text(errors="replace").splitlines()[-15:])

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


HOST = {"Host": PUBLIC_HOST}


@pytest.fixture
def two_processes(gateway_env: dict[str, str], tmp_path: Path) -> Iterator[list[Process]]:
    processes = [Process(gateway_env, tmp_path / f"gunicorn-{n}.log") for n in range(2)]
    try:
        for process in processes:
            process.wait_until_ready()
        yield processes
    finally:
        for process in processes:
            process.stop()


@pytest.fixture
def browser(emulator: Any) -> requests.Session:
    """A cookie jar that talks to both processes and to the emulator."""
    session = requests.Session()
    session.verify = str(emulator.ca_path)
    session.trust_env = False
    return session


def get(
    browser: requests.Session, process: Process, path: str, **options: Any
) -> requests.Response:
    headers = {**HOST, **options.pop("headers", {})}
    return browser.get(
        process.url(path), headers=headers, allow_redirects=False, timeout=10, **options
    )


def test_a_sign_in_begun_on_one_process_ends_on_the_other_and_both_know_the_user(
    two_processes: list[Process], browser: requests.Session, emulator: Any
) -> None:
    first, second = two_processes
    started = get(browser, first, "/auth/login/google")
    assert started.status_code == 302
    emulator.client.authorize_next("alice@example.com")
    at_provider = browser.get(started.headers["Location"], allow_redirects=False, timeout=10)
    callback = urlsplit(at_provider.headers["Location"])
    params = {k: v[0] for k, v in parse_qs(callback.query).items()}

    landed = get(browser, second, callback.path, params=params)  # the flow lives in Redis

    assert landed.status_code == 303, landed.text
    for process in (first, second, first):
        me = get(browser, process, "/v1/me")
        assert me.status_code == 200
        assert me.json()["name"] == "Alice Example"
    form = re.search(r'name="csrf_token" value="([^"]+)"', get(browser, first, "/account").text)
    assert form
    out = browser.post(
        second.url("/auth/logout"),
        data={"csrf_token": form.group(1)},
        headers=HOST,
        allow_redirects=False,
        timeout=10,
    )
    assert out.status_code == 303, out.text
    assert get(browser, first, "/v1/me").status_code == 401


def test_a_client_limit_holds_across_both_processes(
    two_processes: list[Process],
    browser: requests.Session,
    gateway_env: dict[str, str],
    build_gateway: Callable[[dict[str, str]], Any],
) -> None:
    """T29: 12 requests alternating between the processes against 6/minute: exactly 6 pass."""
    local = build_gateway(gateway_env)  # the admin's CLI, on the same Redis
    with local.app_context():
        _, secret = local.extensions["gateway"].api_clients.create(
            "frontend", {"members"}, set(), "6/minute"
        )
    bearer = {"Authorization": f"Bearer {secret}"}

    answers = [get(browser, two_processes[n % 2], "/v1/rooms", headers=bearer) for n in range(12)]

    assert Counter(a.status_code for a in answers) == {200: 6, 429: 6}
    assert all(a.status_code == 200 for a in answers[:6])
    limited = [a for a in answers if a.status_code == 429]
    assert all(1 <= int(a.headers["Retry-After"]) <= 60 for a in limited)
    assert {a.json()["error"] for a in limited} == {"rate_limited"}


def test_a_revocation_ends_a_remembered_answer_on_a_process_that_was_serving_it(
    two_processes: list[Process],
    app: Any,
    sign_in: Any,
    another_browser: Any,
) -> None:
    """A process rereads the answers' generation at most once per lease (storage/answers.py)
    and a change is acknowledged only after every older lease has run out: so the first
    request that starts after a revocation returns finds the room unknown, on a process
    that was answering for it from memory a moment before."""
    hosts = Hosts(app, sign_in, another_browser)
    uid, gid, room = hosts.hosted_room("google", "atlas")
    with app.app_context():
        _, secret = hosts.services.api_clients.create(
            "frontend", {"frontend"}, set(), "100000/minute"
        )
    serving = two_processes[0]
    body = {"rooms": [room], "timeMin": DAY[0].isoformat(), "timeMax": DAY[1].isoformat()}
    headers = {**HOST, "Authorization": f"Bearer {secret}"}

    def status(http: requests.Session) -> str:
        answer = http.post(serving.url("/v1/freebusy"), json=body, headers=headers, timeout=10)
        return str(answer.json()["rooms"][room]["status"])

    asking = requests.Session()
    assert status(asking) == "ok"  # fetched, cached and remembered by the serving process
    stop = threading.Event()

    def keep_asking() -> None:  # the serving process renews its lease all along
        with requests.Session() as http:
            while not stop.is_set():
                status(http)

    load = threading.Thread(target=keep_asking)
    load.start()
    try:
        time.sleep(0.3)
        with app.app_context():  # another worker: its context ends once the leases have
            hosts.services.revocation.revoke_grant(uid, gid, reason="test", actor="admin")
        assert status(asking) == "unbound"  # the revocation removed the binding
    finally:
        stop.set()
        load.join(timeout=10)
        asking.close()


@pytest.mark.parametrize("ending", ["disable", "delete"])
def test_a_client_disabled_or_deleted_is_refused_at_once_by_a_process_that_knew_its_secret(
    two_processes: list[Process],
    app: Any,
    ending: str,
) -> None:
    """A process remembers a verified secret only under the answers' generation, and
    disabling or deleting a client bumps it and waits out the leases before it answers
    (storage/api_clients.py): so the first request after that finds the secret refused,
    on a process that was accepting it from memory a moment before (it took 5 s)."""
    with app.app_context():
        clients = app.extensions["gateway"].api_clients
        client, secret = clients.create("frontend", {"frontend"}, set(), "100000/minute")
    serving = two_processes[0]
    headers = {**HOST, "Authorization": f"Bearer {secret}"}

    def answered(http: requests.Session) -> int:
        return http.get(serving.url("/v1/rooms"), headers=headers, timeout=10).status_code

    asking = requests.Session()
    assert answered(asking) == 200  # verified and remembered by the serving process
    stop = threading.Event()

    def keep_asking() -> None:  # the serving process renews its lease all along
        with requests.Session() as http:
            while not stop.is_set():
                answered(http)

    load = threading.Thread(target=keep_asking)
    load.start()
    try:
        time.sleep(0.3)
        with app.app_context():  # the admin's process: its context ends once the leases have
            if ending == "disable":
                clients.set_disabled(client.id, True)
            else:
                clients.delete(client.id)
        assert answered(asking) == 401
    finally:
        stop.set()
        load.join(timeout=10)
        asking.close()


def test_gunicorn_hands_on_a_chunked_body_that_the_body_limit_refuses(
    two_processes: list[Process],
) -> None:
    """T28 through the real server: gunicorn de-chunks the stream and keeps the
    Transfer-Encoding header, which is what BoundedBody goes by (gateway/security.py)."""

    def oversized() -> Iterator[bytes]:
        yield b"state="
        for _ in range(400):
            yield b"a" * 1024

    answer = requests.post(
        two_processes[0].url("/auth/callback/microsoft"),
        data=oversized(),  # a generator: requests sends it chunked
        headers={**HOST, "Content-Type": "application/x-www-form-urlencoded"},
        timeout=10,
    )
    assert answer.request.headers["Transfer-Encoding"] == "chunked"
    assert answer.status_code == 413
