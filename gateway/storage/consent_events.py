"""One consent event as a person's consent history keeps it (issue 17: Redis bytes per grant).

    [at (ms), purpose, provider, action, text version, text digest or 0, scopes requested,
     scopes granted, grant id]

A compact JSON array. Scopes requested are front-coded (storage/scope_lists.py); a granted
scope that was requested is written "#<its place among them>", any other front-coded against
the granted scope before it (one starting with "#" gets one more in front). The consent
text's digest is the same for everyone who saw that version: it is kept once in
`gw:consent-texts` ("<purpose>|<version>" -> digest, no personal data) and an event writes
0 for "the digest kept there"; an event whose text differs from the one kept there (a text
changed without a new version) keeps its own digest.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.storage.keys import CONSENT_TEXTS
from gateway.storage.scope_lists import MARK, front_coded, packed, unpacked

TEXTS = CONSENT_TEXTS
KEPT_DIGEST = 0  # the event's digest is the one kept in TEXTS for its purpose and version


@dataclass(frozen=True)
class ConsentEvent:
    id: str
    purpose: str
    provider: str
    action: str
    version: str
    digest: str
    requested: tuple[str, ...]
    granted: tuple[str, ...]
    grant: str
    at: float


def text_field(purpose: str, version: str) -> str:
    return f"{purpose}|{version}"


def encoded(
    at: float,
    purpose: str,
    provider: str,
    action: str,
    version: str,
    digest: str | int,
    requested: tuple[str, ...],
    granted: tuple[str, ...],
    grant: str,
) -> str:
    event = [round(at * 1000), purpose, provider, action, version, digest]
    event += [packed(requested), _granted(requested, granted), grant]
    return json.dumps(event, separators=(",", ":"))


def decoded(n: int, raw: str, texts: dict[str, str]) -> ConsentEvent:
    """The event of one list element; ValueError or TypeError when it is not one of ours."""
    at, purpose, provider, action, version, digest, asked, got, grant = json.loads(raw)
    requested = unpacked(str(asked))
    if digest == KEPT_DIGEST:
        digest = texts.get(text_field(str(purpose), str(version)), "")
    return ConsentEvent(
        id=str(n),
        purpose=str(purpose),
        provider=str(provider),
        action=str(action),
        version=str(version),
        digest=str(digest),
        requested=tuple(requested),
        granted=_expanded(requested, str(got)),
        grant=str(grant),
        at=float(at) / 1000,
    )


def text_fields(raws: list[str]) -> set[str]:
    """The TEXTS fields the events of `raws` need."""
    needed = set()
    for raw in raws:
        try:
            event: Any = json.loads(raw)
            if isinstance(event, list) and len(event) > 5 and event[5] == KEPT_DIGEST:
                needed.add(text_field(str(event[1]), str(event[4])))
        except ValueError:
            continue
    return needed


def _granted(requested: tuple[str, ...], granted: tuple[str, ...]) -> str:
    places = {scope: n for n, scope in reversed(list(enumerate(requested)))}
    written, previous = [], ""
    for scope in granted:
        coded = front_coded(previous, scope)
        if scope in places:
            written.append(f"#{places[scope]}")
        elif coded == scope and scope.startswith("#"):
            written.append(f"#{scope}")
        else:
            written.append(coded)
        previous = scope
    return " ".join(written)


def _expanded(requested: list[str], text: str) -> tuple[str, ...]:
    found: list[str] = []
    for token in text.split():
        place = token[1:]
        count, mark, rest = token.partition(MARK)
        if token.startswith("##"):
            found.append(place)
        elif token.startswith("#") and place.isdigit() and int(place) < len(requested):
            found.append(requested[int(place)])
        elif mark and count.isdigit() and int(count) <= len(before := found[-1] if found else ""):
            found.append(before[: int(count)] + rest)
        else:  # a scope that was not requested, sharing little with the one before
            found.append(token)
    return tuple(found)
