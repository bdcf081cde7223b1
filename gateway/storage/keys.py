"""The Redis key schema: the one place that says where each datum lives.

Every key holding one user's personal data sits under the hash tag `{u:<uid>}`, so a user's
keys share one Redis Cluster slot and can be changed atomically. The few keys that must be
found by something other than the user id (a session id, a provider subject) are listed in
the user's index set, so "delete everything of this user" is exact.

    gw:{u:UID}:profile          hash   id, name, email, created            (no TTL: the account)
    gw:{u:UID}:identities       hash   "<provider>|<subject>" -> JSON identity
    gw:{u:UID}:index            set    keys outside the tag that belong to this user
    gw:ident:<provider>:<h>     string uid; h = sha256(subject), found at sign-in
    gw:session:<h>              string JSON session; h = sha256(session id); idle TTL
    gw:flow:<h>                 string JSON pending sign-in flow; h = sha256(state); TTL 600 s
    gw:flow:<h>:response        string JSON form_post callback parameters; TTL 600 s

Secrets that arrive from outside (session ids, states) are hashed before they become key
names, so a key listing (`SCAN`, `MONITOR`, a slow log) never shows a usable value.
"""

from __future__ import annotations

import hashlib

PREFIX = "gw"


def digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def user_tag(uid: str) -> str:
    return f"{PREFIX}:{{u:{uid}}}"


def profile(uid: str) -> str:
    return f"{user_tag(uid)}:profile"


def identities(uid: str) -> str:
    return f"{user_tag(uid)}:identities"


def user_index(uid: str) -> str:
    return f"{user_tag(uid)}:index"


def identity_lookup(provider: str, subject: str) -> str:
    return f"{PREFIX}:ident:{provider}:{digest(subject)}"


def session(session_id: str) -> str:
    return f"{PREFIX}:session:{digest(session_id)}"


def flow(state: str) -> str:
    return f"{PREFIX}:flow:{digest(state)}"


def flow_response(state: str) -> str:
    return f"{flow(state)}:response"
