"""Posting notifications to receivers: in order, in one background thread, with faults.

Real Google and Graph deliver only to public https addresses; the emulator also delivers
to plain http on loopback, so a gateway under `make run` or in a test gets push without a
tunnel. Each POST has a short timeout (`Settings.delivery_timeout_ms`) and its result is
recorded (`EmulatorState.deliveries`, GET /_emulator/deliveries) and counted as
`delivery.<kind>` in the call counters. Graph's validation handshake is the one delivery
made in the request's own thread: the subscription is created only if it succeeds.
"""

from __future__ import annotations

import ipaddress
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from urllib.parse import quote, urlsplit

import requests
from flask import current_app

from emulator.push_state import Delivery, DeliveryFault
from emulator.state import EmulatorState

MAX_KEPT_DELIVERIES = 2000
LOOPBACK_NAMES = ("localhost",)
# What the notification's headers and body are, given whether a fault forges it.
Build = Callable[[bool], tuple[dict[str, str], bytes | None]]


def deliverable(url: str) -> bool:
    """https anywhere, or http to a loopback address (the emulator's one liberty)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    if not host or parts.fragment or parts.username or parts.password:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and is_loopback(host)


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Deliverer:
    """Sends queued notifications one after the other, so message numbers arrive in order."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.http = requests.Session()
        self.http.trust_env = False
        self._queue: queue.Queue[tuple[Delivery, Build] | None] = queue.Queue()
        # a delivery a `reorder` fault holds back until the next one was sent
        self._held: tuple[Delivery, dict[str, str], bytes | None] | None = None
        self._thread = threading.Thread(target=self._run, name="emulator-push", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._queue.put(None)

    def enqueue(self, delivery: Delivery, build: Build) -> None:
        with self.state.lock:
            self._record(delivery)
        self._queue.put((delivery, build))

    def idle(self, timeout: float = 10.0) -> bool:
        """Wait until every queued delivery was attempted (tests and the control API)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._queue.unfinished_tasks == 0:
                return True
            time.sleep(0.01)
        return False

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is None:
                    return
                self._deliver(*item)
            except Exception:  # a receiver, whatever it does, never stops the thread
                if item is not None:
                    with self.state.lock:
                        item[0].outcome = "error"
            finally:
                self._queue.task_done()

    def _deliver(self, delivery: Delivery, build: Build) -> None:
        if not self._current(delivery):
            return  # queued before a reset: that world is gone
        fault = self.take_fault(delivery.kind)
        if fault is not None and fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)
        if fault is not None and fault.drop:
            with self.state.lock:
                delivery.outcome = "dropped"
            return
        forged = bool(fault and fault.forge)
        headers, body = build(forged)
        delivery.forged = forged
        if fault is not None and fault.reorder and self._held is None:
            with self.state.lock:
                delivery.outcome = "held"
            self._held = (delivery, headers, body)
            return
        self._post(delivery, headers, body)
        if self._held is not None:
            held, self._held = self._held, None
            if self._current(held[0]):
                self._post(*held)
        if fault is not None and fault.duplicate:
            again = replace(delivery, status=None, outcome="pending", at=time.time())
            with self.state.lock:
                self._record(again)
            self._post(again, headers, body)
        self.state.save()

    def _current(self, delivery: Delivery) -> bool:
        with self.state.lock:
            return any(d is delivery for d in self.state.deliveries)

    def _post(self, delivery: Delivery, headers: dict[str, str], body: bytes | None) -> None:
        timeout = self.state.settings.delivery_timeout_ms / 1000
        with self.state.lock:
            self.state.calls[f"delivery.{delivery.kind}"] += 1
        try:
            answer = self.http.post(
                delivery.url, data=body, headers=headers, timeout=timeout, allow_redirects=False
            )
        except requests.Timeout:
            outcome, status = "timeout", None
        except requests.RequestException:
            outcome, status = "failed", None
        else:
            status = answer.status_code
            outcome = "delivered" if 200 <= status < 300 else "failed"
            answer.close()
        with self.state.lock:
            delivery.status, delivery.outcome = status, outcome

    def validate(self, url: str, target: str) -> bool:
        """Graph's handshake: POST `url?validationToken=...`, want a 200 text/plain echo of
        the decoded token within `Settings.validation_timeout_ms` (10 s at Graph)."""
        token = (
            "Validation: Testing client application reachability for subscription "
            f"Request-Id: {uuid.uuid4()}"
        )
        delivery = Delivery(kind="validation", target=target, url=url)
        with self.state.lock:
            self._record(delivery)
            self.state.calls["delivery.validation"] += 1
        fault = self.take_fault("validation")
        if fault is not None and fault.delay_ms:
            time.sleep(fault.delay_ms / 1000)
        if fault is not None and fault.drop:
            delivery.outcome = "dropped"
            return False
        joiner = "&" if urlsplit(url).query else "?"
        timeout = self.state.settings.validation_timeout_ms / 1000
        try:
            answer = self.http.post(
                f"{url}{joiner}validationToken={quote(token, safe='')}",
                headers={"Content-Type": "text/plain; charset=utf-8"},
                timeout=timeout,
                allow_redirects=False,
            )
        except requests.Timeout:
            delivery.outcome = "timeout"
            return False
        except requests.RequestException:
            delivery.outcome = "failed"
            return False
        delivery.status = answer.status_code
        plain = answer.headers.get("Content-Type", "").split(";")[0].strip() == "text/plain"
        echoed = answer.status_code == 200 and plain and answer.text == token
        delivery.outcome = "delivered" if echoed else "failed"
        return echoed

    def take_fault(self, kind: str) -> DeliveryFault | None:
        with self.state.lock:
            for fault in list(self.state.delivery_faults):
                if not fault.matches(kind):
                    continue
                if fault.times > 0:
                    fault.times -= 1
                    if fault.times == 0:
                        self.state.delivery_faults.remove(fault)
                return replace(fault)
        return None

    def _record(self, delivery: Delivery) -> None:
        kept = self.state.deliveries
        kept.append(delivery)
        if len(kept) > MAX_KEPT_DELIVERIES:
            del kept[: len(kept) - MAX_KEPT_DELIVERIES]


def current_deliverer() -> Deliverer:
    deliverer: Deliverer = current_app.extensions["emulator_push"]
    return deliverer
