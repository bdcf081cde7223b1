"""Lists of OAuth scopes as Redis keeps them: front-coded (issue 17: Redis bytes per grant).

A grant's scopes and a consent event's are mostly long URLs sharing a prefix (one provider's
`https://.../auth/calendar...`, `https://.../auth/userinfo.email`, `...userinfo.profile`).
Each scope after the first is written as "<n>\\<rest>" when it shares n >= MIN_SHARED
characters with the one before it: `https://www.googleapis.com/auth/userinfo.profile` after
`...userinfo.email` is `41\\profile`. A scope token never holds a backslash (RFC 6749 §3.3:
%x21 / %x23-5B / %x5D-7E), so a list written before (plain, space-separated) reads as it is.
"""

from __future__ import annotations

from collections.abc import Iterable

MIN_SHARED = 4  # fewer shared characters than this save nothing over "<n>\"
MARK = "\\"


def packed(scopes: Iterable[str]) -> str:
    """The scopes in their order, space-separated, each front-coded against the one before."""
    written, previous = [], ""
    for scope in scopes:
        shared = _shared(previous, scope)
        written.append(f"{shared}{MARK}{scope[shared:]}" if shared >= MIN_SHARED else scope)
        previous = scope
    return " ".join(written)


def unpacked(text: str) -> list[str]:
    """The scopes of `packed` (or of a plain space-separated list), in order."""
    scopes: list[str] = []
    for token in text.split():
        count, mark, rest = token.partition(MARK)
        if mark and count.isdigit() and scopes and int(count) <= len(scopes[-1]):
            token = scopes[-1][: int(count)] + rest
        scopes.append(token)
    return scopes


def _shared(first: str, second: str) -> int:
    n = 0
    for a, b in zip(first, second, strict=False):
        if a != b:
            break
        n += 1
    return n
