"""One provider call for free/busy, the way SECURITY.md T19 allows it to be repeated.

A 429/5xx is retried at most twice, with jitter, never before its Retry-After, while the
deadline allows; a Retry-After beyond that holds the grant back for that long, in every
process. Every outcome is counted by the per-provider circuit breaker (services/breaker.py),
slow answers as well as failures.
A refused token or scope (AccessRefused) is the grant's state, not an outage: it gets one
fresh token (a 401) or ends the grant (a 403, or a 401 that survives the refresh).
"""

from __future__ import annotations

import logging
import random
import time
from datetime import UTC, date, datetime, timedelta

from connectors.base import Connector
from connectors.errors import AccessRefused, ConnectorError, ProviderUnavailable
from connectors.values import CalendarBusy
from gateway import metrics
from gateway.services.breaker import CircuitBreaker
from gateway.services.grants import GrantService, GrantUnavailable

log = logging.getLogger(__name__)

Asked = tuple[str, str, str]  # (provider, uid, gid) of one grant's calls

MAX_RETRIES = 2  # SECURITY.md T19: at most two retries of a provider call
RETRY_BACKOFF_SECONDS = 0.2  # without a Retry-After: 0.2 s, then 0.4 s, each jittered


class ProviderCalls:
    """Free/busy calls to providers, with retries, the breaker and the token's refusals."""

    def __init__(self, grants: GrantService, breaker: CircuitBreaker) -> None:
        self.grants = grants
        self.breaker = breaker

    def failed(self, provider: str, gid: str, error: ProviderUnavailable) -> None:
        """A provider call failed: count it, and keep its Retry-After for every process."""
        self.breaker.failure(provider)
        if error.retry_after:
            self.breaker.hold(provider, gid, error.retry_after)

    def after_refusal(
        self, provider: str, uid: str, gid: str, token: str, refused: AccessRefused
    ) -> str | None:
        """The API refused the token (401) or the grant's scopes (403). A 401 gets one new
        token (a refresh, which ends the grant on invalid_grant); a 403 ends it at once.
        None when the grant has ended."""
        log.info("free/busy refused: grant=%s (%s)", gid, refused.code)
        if refused.code == AccessRefused.code:
            try:
                return self.grants.access_token(uid, gid, refused=token)
            except GrantUnavailable:
                return None
            except ConnectorError as error:  # the token endpoint failed: try again later
                if isinstance(error, ProviderUnavailable):
                    self.failed(provider, gid, error)
                return None
        self.grants.refused(uid, gid, refused)
        return None

    def call_with_retries(
        self,
        api: Connector,
        provider: str,
        gid: str,
        token: str,
        calendars: list[str],
        start: datetime,
        end: datetime,
        deadline: float,
        prompt: set[str] | None = None,
    ) -> dict[str, CalendarBusy] | None:
        """The provider's answer, or None when it failed (its calendars stay unknown);
        AccessRefused is raised for the caller to settle the grant. `prompt`: where a
        prompt answer is noted for the cold round to tell the breaker (breaker.answered)."""
        backoff = RETRY_BACKOFF_SECONDS
        for attempt in range(MAX_RETRIES + 1):
            started = time.monotonic()
            try:
                answer = api.free_busy(token, calendars, start, end, gid)
            except ProviderUnavailable as error:
                seconds = time.monotonic() - started
                metrics.provider_call(provider, "freebusy", error.code, seconds)
                if error.code == "refused":  # an answer (a 4xx), not an outage
                    self.breaker.answered(provider, seconds, prompt)
                    return None
                wait_for = backoff * random.uniform(0.5, 1.5)  # noqa: S311 (jitter)
                if error.retry_after is not None:  # never sooner, a little later
                    wait_for = error.retry_after * random.uniform(1.0, 1.1)  # noqa: S311
                backoff *= 2
                last = attempt == MAX_RETRIES
                if last or time.monotonic() + wait_for >= deadline - 0.5:
                    self.failed(provider, gid, error)
                    return None
                self.breaker.failure(provider)
                time.sleep(wait_for)
                if self.breaker.is_open(provider):
                    return None
            except ConnectorError as error:
                seconds = time.monotonic() - started
                metrics.provider_call(provider, "freebusy", error.code, seconds)
                self.breaker.answered(
                    provider, seconds, prompt
                )  # it answered: it refused the token
                if isinstance(error, AccessRefused):
                    raise  # the grant's state, for the caller to settle
                return None
            else:
                seconds = time.monotonic() - started
                metrics.provider_call(provider, "freebusy", "ok", seconds)
                self.breaker.answered(
                    provider, seconds, prompt
                )  # a slow answer counts towards opening
                return answer
        return None  # pragma: no cover (the last attempt returns above)

    def busy_times(
        self,
        api: Connector,
        asked: Asked,
        token: str,
        ids: list[str],
        days: list[date],
        deadline: float,
        prompt: set[str] | None = None,
    ) -> tuple[dict[str, list[tuple[int, int]]], set[str]] | None:
        """Busy times per calendar id and the ids that failed, in windows and batches the
        provider allows; None when the grant ended on the way. `asked`: (provider, uid, gid)."""
        provider, uid, gid = asked
        start = datetime(days[0].year, days[0].month, days[0].day, tzinfo=UTC)
        end = datetime(days[-1].year, days[-1].month, days[-1].day, tzinfo=UTC) + timedelta(1)
        per_call = api.capabilities.batch_size
        results: dict[str, list[tuple[int, int]]] = {cid: [] for cid in ids}
        failed: set[str] = set()
        window_start = start
        while window_start < end:
            window_end = min(end, window_start + api.capabilities.window_limit)
            for chunk_at in range(0, len(ids), per_call):
                chunk = ids[chunk_at : chunk_at + per_call]
                span = (chunk, window_start, window_end, deadline, prompt)
                try:
                    answer = self.call_with_retries(api, provider, gid, token, *span)
                except AccessRefused as refused:
                    fresh = self.after_refusal(provider, uid, gid, token, refused)
                    if fresh is None:
                        return None  # the grant ended (its rooms answer needs_reconnect)
                    token = fresh
                    try:
                        answer = self.call_with_retries(api, provider, gid, token, *span)
                    except AccessRefused as again:  # even a fresh token: the grant ends
                        log.info("free/busy refused again: grant=%s (%s)", gid, again.code)
                        self.grants.refused(uid, gid, again)
                        return None
                for cid in chunk:
                    got = answer.get(cid) if answer is not None else None
                    if got is None or got.error is not None:
                        failed.add(cid)
                        continue
                    results[cid] += [(int(s.timestamp()), int(e.timestamp())) for s, e in got.busy]
            window_start = window_end
        return results, failed
