"""Server-side sessions in Redis, stored as JSON only.

Flask-Session unpickles what it reads back, so anyone able to write to Redis could run code
in the workers; this small interface stores JSON and nothing else. The cookie holds only a
random id; Redis holds the data under the id's hash with an idle TTL (renewed on each
request) and the creation time, checked against an absolute lifetime. `rotate()` gives the
session a new id (at sign-in) so an id planted before sign-in is worthless after it.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

import redis
from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

from gateway.storage import keys


class RedisSession(CallbackDict[str, Any], SessionMixin):
    def __init__(
        self, data: dict[str, Any] | None = None, sid: str | None = None, created: float = 0.0
    ) -> None:
        def on_update(_: Any) -> None:
            self.modified = True

        super().__init__(data or {}, on_update)
        self.sid = sid
        self.created = created or time.time()
        self.modified = False
        self.rotate_requested = False
        self.keep_created = False
        # Storage did not answer: the request is refused (503), never served as signed out.
        self.unavailable = False
        self.failure: BaseException | None = None  # what Redis raised, for the error log
        self.loaded_uid: str | None = (data or {}).get("uid")

    def rotate(self, *, keep_created: bool = False) -> None:
        """Give this session a new id when the response is saved; the old id dies. With
        `keep_created`, the new id keeps the old one's creation time (absolute limit)."""
        self.rotate_requested = True
        self.keep_created = keep_created
        self.modified = True


class RedisSessionInterface(SessionInterface):
    def __init__(
        self,
        client: redis.Redis,
        *,
        cookie_name: str,
        idle_seconds: int,
        absolute_seconds: int,
    ) -> None:
        self.client = client
        self.cookie_name = cookie_name
        self.idle_seconds = idle_seconds
        self.absolute_seconds = absolute_seconds

    def get_cookie_name(self, app: Flask) -> str:
        return self.cookie_name

    def open_session(self, app: Flask, request: Request) -> RedisSession:
        if "HTTP_COOKIE" not in request.environ:  # an API client's call: nothing to parse
            return RedisSession()
        sid = request.cookies.get(self.cookie_name)
        if not sid or len(sid) > 128:
            return RedisSession()
        try:
            raw = self.client.getex(keys.session(sid), ex=self.idle_seconds)
        except UnicodeDecodeError:  # not ours: whatever it is, it is never deserialised
            return RedisSession()
        except redis.RedisError as error:
            broken = RedisSession()
            broken.unavailable = True
            broken.failure = error
            return broken
        record = _parse(None if raw is None else str(raw))
        if record is None:
            return RedisSession()
        created = float(record.get("created", 0))
        if time.time() - created > self.absolute_seconds:
            self.client.delete(keys.session(sid))
            return RedisSession()
        return RedisSession(record.get("data"), sid=sid, created=created)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, RedisSession) or session.unavailable:
            return
        if not session and not session.sid:  # nothing kept, nothing to end
            return
        name, domain, path = (
            self.cookie_name,
            self.get_cookie_domain(app),
            self.get_cookie_path(app),
        )
        if not session:
            if session.sid:
                self._forget(session)
                # The same attributes it was set with: browsers ignore a Secure (__Host-)
                # cookie's deletion sent without Secure.
                response.delete_cookie(
                    name,
                    domain=domain,
                    path=path,
                    secure=self.get_cookie_secure(app),
                    httponly=True,
                    samesite="Lax",
                )
            return
        if not session.modified and session.sid:
            return
        if session.rotate_requested and session.sid:
            self._forget(session)
            session.sid = None
            if not session.keep_created:
                session.created = time.time()
        if not session.sid:
            session.sid = secrets.token_urlsafe(32)
        record = json.dumps({"created": session.created, "data": dict(session)})
        pipe = self.client.pipeline(transaction=False)  # one round trip (issue 17: sign-in)
        pipe.set(keys.session(session.sid), record, ex=self.idle_seconds)
        uid = session.get("uid")
        if uid:
            pipe.sadd(keys.user_index(uid), keys.session(session.sid))
        pipe.execute()
        response.set_cookie(
            name,
            session.sid,
            domain=domain,
            path=path,
            secure=self.get_cookie_secure(app),
            httponly=True,
            samesite="Lax",
        )

    def _forget(self, session: RedisSession) -> None:
        assert session.sid
        key = keys.session(session.sid)
        pipe = self.client.pipeline(transaction=False)
        pipe.delete(key)
        if session.loaded_uid:
            pipe.srem(keys.user_index(session.loaded_uid), key)
        pipe.execute()


def _parse(raw: str | None) -> dict[str, Any] | None:
    if raw is None:
        return None
    try:
        record = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(record, dict) or not isinstance(record.get("data"), dict):
        return None
    return record


class UserSessions:
    """Every session of one user, found through their index (signing out everywhere)."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def end_all(self, uid: str) -> int:
        """Delete every session of `uid`; how many there were."""
        return end_user_sessions(self.client, uid)


def end_user_sessions(client: redis.Redis, uid: str) -> int:
    """Sign a user out everywhere: delete every session listed in their index."""
    index = keys.user_index(uid)
    members = [str(k) for k in client.smembers(index)]
    session_keys = [k for k in members if k.startswith(f"{keys.PREFIX}:session:")]
    if not session_keys:
        return 0
    pipe = client.pipeline(transaction=False)
    for key in session_keys:
        pipe.delete(key)
    pipe.srem(index, *session_keys)
    results = pipe.execute()
    return sum(results[:-1])
