"""The Flask side of the app factory: logging, Flask's own settings, Redis and the
server-side session, and what every page template gets."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from types import FunctionType, MethodType
from typing import Any

from flask import Flask, session

from gateway.config import Settings
from gateway.context import services
from gateway.storage import answers
from gateway.storage.embedded import EmbeddedRedis
from gateway.storage.errors import StorageError
from gateway.storage.redis_client import RedisClient
from gateway.storage.sessions import RedisSessionInterface

# Libraries that log request or token details at DEBUG; never let them reach a log.
QUIET_LOGGERS = ("msal", "authlib", "urllib3", "requests_oauthlib")


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("gateway").setLevel(level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_flask(app: Flask, settings: Settings) -> None:
    app.config.update(
        SECRET_KEY=settings.secret_key,
        SECRET_KEY_FALLBACKS=list(settings.secret_key_fallbacks),
        MAX_CONTENT_LENGTH=settings.max_content_length,
        MAX_FORM_MEMORY_SIZE=settings.max_content_length,
        TRUSTED_HOSTS=list(settings.trusted_hosts),
        SESSION_COOKIE_SECURE=settings.secure_cookies,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PREFERRED_URL_SCHEME="https" if settings.secure_cookies else "http",
        JSON_SORT_KEYS=False,
        WTF_CSRF_TIME_LIMIT=None,  # the token lives and dies with the server-side session
        # Flask-WTF's https Referer check cannot pass: every page says `Referrer-Policy:
        # no-referrer` (RFC 9700 §4.2), so browsers send no Referer. The session-bound CSRF
        # token and the SameSite=Lax cookie are the defence (tests/security/test_cookies.py).
        WTF_CSRF_SSL_STRICT=False,
    )
    sync_calls_directly(app)


def sync_calls_directly(app: Flask) -> None:
    """Flask asks `inspect.iscoroutinefunction` of every hook and view on every request
    (ten a warm API request, 4% of its CPU, README "Benchmarks"); a plain function or a
    method of one is never a coroutine function, which its code's flags tell at once.
    Anything else (a partial, a callable object, an `async def`) goes to Flask as before."""
    flask_ensure_sync = app.ensure_sync

    def ensure_sync(func: Callable[..., Any]) -> Callable[..., Any]:
        plain = func.__func__ if type(func) is MethodType else func
        if type(plain) is FunctionType and not plain.__code__.co_flags & COROUTINE_FLAGS:
            return func
        return flask_ensure_sync(func)

    app.ensure_sync = ensure_sync  # type: ignore[method-assign]


COROUTINE_FLAGS = inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR


def start_redis(settings: Settings) -> tuple[EmbeddedRedis | None, str]:
    """The configured Redis, or an embedded one started for this app."""
    if settings.redis_url is not None:
        return None, settings.redis_url
    embedded = EmbeddedRedis(settings.data_dir / "redis").start()
    return embedded, embedded.url


def session_interface(client: RedisClient, settings: Settings) -> RedisSessionInterface:
    return RedisSessionInterface(
        client,
        cookie_name="__Host-gw_session" if settings.secure_cookies else "gw_session",
        idle_seconds=settings.session_idle_seconds,
        absolute_seconds=settings.session_absolute_seconds,
    )


def install_page_helpers(app: Flask) -> None:
    """The reconnect banner's data and the date filters every template may use."""
    app.context_processor(_connection_health)
    app.add_template_filter(_datetime, "datetime")
    app.add_template_filter(_datetime_seconds, "datetime_seconds")


def settle_answers(_error: BaseException | None) -> None:
    """A request or CLI command that changed free/busy answers ends only once no worker can
    still serve the old ones (storage/answers.py)."""
    answers.settle()


def _connection_health() -> dict[str, object]:
    """What the banner on every page needs (templates/_connection_health.html)."""
    uid = session.get("uid")
    if not uid:
        return {"reconnect_needed": []}
    try:
        return {"reconnect_needed": services().health.needing_reconnect(str(uid))}
    except StorageError:  # an error page while Redis is down must still render
        return {"reconnect_needed": []}


def _datetime(timestamp: float) -> str:
    if not timestamp:
        return "never"
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _datetime_seconds(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
