"""What a grant seals of its tokens, and how both forms of it open (issue 17: Redis bytes
per grant).

Short names, and nothing the grant's record keeps in the clear beside them: the granted
scopes and the access token's expiry are written with every new token set, so sealing them
again only made each grant's hash bigger. A typed credential (a CalDAV password, an ICS
address) is checked and kept as both tokens: sealed once. Tokens sealed before issue 17
(TokenSet.to_dict's long names, their own expiry, some their own granted scopes) still open
as they were.
"""

from __future__ import annotations

import dataclasses

from connectors.values import TokenSet
from gateway.storage.grants import GrantRecord

REFRESH, ACCESS, CACHE = "r", "a", "c"
SAME = 1  # the access token is the refresh token
_LONG_NAMES = frozenset({"granted_scopes", "access_token", "expires_at", "refresh_token", "cache"})


def sealable(tokens: TokenSet) -> dict[str, object]:
    """The tokens to seal: the refresh token, and the access token (or SAME)."""
    sealed: dict[str, object] = {}
    if tokens.refresh_token:
        sealed[REFRESH] = tokens.refresh_token
    if tokens.access_token:
        same = tokens.access_token == tokens.refresh_token
        sealed[ACCESS] = SAME if same else tokens.access_token
    if tokens.cache:  # only ever read from Microsoft grants stored before issue 17
        sealed[CACHE] = tokens.cache
    return sealed


def opened(sealed: dict[str, object], record: GrantRecord) -> TokenSet:
    """The tokens as sealed, with the record's scopes and expiry (or, sealed before issue
    17, their own expiry and, when they carry them, their own scopes)."""
    if _LONG_NAMES & set(sealed):
        tokens = TokenSet.from_dict(sealed)
        if tokens.granted_scopes:
            return tokens
        return dataclasses.replace(tokens, granted_scopes=record.scopes)
    refresh = _text(sealed.get(REFRESH))
    access = sealed.get(ACCESS)
    return TokenSet(
        granted_scopes=record.scopes,
        access_token=refresh if access == SAME else _text(access),
        expires_at=record.expires_at or None,
        refresh_token=refresh,
        cache=_text(sealed.get(CACHE)),
    )


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None
