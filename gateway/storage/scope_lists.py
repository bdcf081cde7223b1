"""Lists of OAuth scopes as Redis keeps them: front-coded (issue 17: Redis bytes per grant).

A grant's scopes and a consent event's are mostly long URLs sharing a prefix (one provider's
`https://.../auth/calendar...`, `https://.../auth/userinfo.email`, `...userinfo.profile`).
Each scope after the first is written as "<n>\\<rest>" when it shares n >= MIN_SHARED
characters with the one before it: `https://www.googleapis.com/auth/userinfo.profile` after
`...userinfo.email` is `41\\profile`. A scope token never holds a backslash (RFC 6749 §3.3:
%x21 / %x23-5B / %x5D-7E), so a list written before (plain, space-separated) reads as it is
(and one a provider sent anyway is written "0\\<it>", which reads back as it was).
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_SHARED = 4  # fewer shared characters than this save nothing over "<n>\"
MARK = "\\"


def packed(scopes: Iterable[str]) -> str:
    """The scopes in their order, space-separated, each front-coded against the one before."""
    written, previous = [], ""
    for scope in scopes:
        written.append(front_coded(previous, scope))
        previous = scope
    return " ".join(written)


def unpacked(text: str) -> list[str]:
    """The scopes of `packed` (or of a plain space-separated list), in order."""
    scopes: list[str] = []
    for token in text.split():
        count, mark, rest = token.partition(MARK)
        if mark and count.isdigit() and int(count) <= len(before := scopes[-1] if scopes else ""):
            token = before[: int(count)] + rest
        scopes.append(token)
    return scopes


def front_coded(previous: str, scope: str) -> str:
    """`scope` as written after `previous`: "<n>\\<rest>" when they share n >= MIN_SHARED
    characters; one that holds a backslash (no valid scope does) is written "0\\<it>"."""
    shared = _shared(previous, scope)
    if shared >= MIN_SHARED:
        return f"{shared}{MARK}{scope[shared:]}"
    return f"0{MARK}{scope}" if MARK in scope else scope


def _shared(first: str, second: str) -> int:
    n = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        n += 1
    return n
