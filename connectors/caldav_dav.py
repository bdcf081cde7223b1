"""What the CalDAV connector says and reads on the wire: the typed account, the WebDAV /
CalDAV request bodies (RFC 4918, RFC 4791) and the few parts of a multistatus answer it
needs. No network here: connectors/caldav.py sends these through the outbound guard.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import caldav
from lxml import etree

from connectors.errors import AccessRefused, AuthorizationDenied, GrantInvalid, ProviderUnavailable
from connectors.ical_busy import BUSY_PROPERTIES

MAX_FIELD = 512
DAV, CAL = "DAV:", "urn:ietf:params:xml:ns:caldav"
# The free-busy-query REPORT is missing (or refused) on servers that answer these.
NO_FREE_BUSY = frozenset({400, 403, 404, 405, 415, 422, 500, 501})
PRINCIPAL_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    '<d:propfind xmlns:d="DAV:"><d:prop><d:current-user-principal/></d:prop>'
    "</d:propfind>"
)
TIMEZONE_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<D:propfind xmlns:D="DAV:" xmlns:C="{CAL}"><D:prop><C:calendar-timezone/>'
    "</D:prop></D:propfind>"
)
CS = "http://calendarserver.org/ns/"
# RFC 6578 §4: a collection's DAV:sync-token changes with every change in it; CalendarServer's
# getctag likewise (iCloud, Nextcloud, Fastmail, Radicale answer one or both)
CHANGE_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?>'
    f'<D:propfind xmlns:D="DAV:" xmlns:CS="{CS}"><D:prop><D:sync-token/><CS:getctag/>'
    "</D:prop></D:propfind>"
)
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


@dataclass(frozen=True)
class Account:
    """What the host typed: the password is a secret and never shown or logged."""

    server_url: str
    username: str
    password: str = field(repr=False)
    principal: str | None = None
    primary: str | None = None  # the first calendar at connect time: the "primary" one

    def to_secret(self) -> str:
        return json.dumps(
            {
                "server_url": self.server_url,
                "username": self.username,
                "password": self.password,
                "principal": self.principal,
                "primary": self.primary,
            }
        )

    @classmethod
    def from_secret(cls, text: str | None) -> Account:
        try:
            data = json.loads(text or "")
            return cls(
                server_url=str(data["server_url"]),
                username=str(data["username"]),
                password=str(data["password"]),
                principal=data.get("principal"),
                primary=data.get("primary"),
            )
        except (TypeError, ValueError, KeyError):
            raise GrantInvalid("the grant holds no readable CalDAV account") from None


def typed_account(fields: Mapping[str, str]) -> Account:
    """The consent form's fields as an account; `AuthorizationDenied` for the person."""
    url = (fields.get("server_url") or "").strip()
    username = (fields.get("username") or "").strip()
    password = fields.get("password") or ""
    if not url or not username or not password:
        raise AuthorizationDenied(
            "Fill in the server address, the user name and the app password.",
            code="missing_field",
        )
    if max(len(url), len(username), len(password)) > MAX_FIELD:
        raise AuthorizationDenied("One of the fields is too long.", code="field_too_long")
    if "://" not in url:
        url = "https://" + url
    if not url.endswith("/") and not urlsplit(url).path.rsplit("/", 1)[-1].count("."):
        url += "/"
    return Account(url, username, password)


@dataclass(frozen=True)
class Answer:
    """A server's answer as the connector reads it (the body already size-capped)."""

    status: int
    raw: bytes
    url: str


def raise_for_refusal(answer: Answer) -> None:
    if answer.status == 401:
        raise AccessRefused("The CalDAV server refused the password")
    if answer.status == 429 or answer.status in (502, 503, 504):
        raise ProviderUnavailable(f"the CalDAV server answered {answer.status}")


def free_busy_query(start: datetime, end: datetime) -> str:
    """RFC 4791 §7.10: the server's own busy periods for the range."""
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<C:free-busy-query xmlns:C="{CAL}">'
        f'<C:time-range start="{stamp(start)}" end="{stamp(end)}"/>'
        "</C:free-busy-query>"
    )


def events_query(start: datetime, end: datetime) -> str:
    """RFC 4791 §7.8 with partial retrieval (§9.6): the events in range, only the
    properties busy time needs (servers may send more; ical_busy reads only times)."""
    props = "".join(f'<C:prop name="{p}"/>' for p in BUSY_PROPERTIES)
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        f'<C:calendar-query xmlns:D="DAV:" xmlns:C="{CAL}">'
        '<D:prop><C:calendar-data><C:comp name="VCALENDAR"><C:prop name="VERSION"/>'
        f'<C:comp name="VEVENT">{props}</C:comp><C:comp name="VTIMEZONE"/>'
        "</C:comp></C:calendar-data></D:prop>"
        '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
        f'<C:time-range start="{stamp(start)}" end="{stamp(end)}"/>'
        "</C:comp-filter></C:comp-filter></C:filter></C:calendar-query>"
    )


def find_href(raw: bytes, tag: str) -> str | None:
    """The first DAV:href inside `tag` in a multistatus answer."""
    try:
        tree = etree.fromstring(raw, parser=_PARSER)
    except (etree.LxmlError, ValueError):
        return None
    for prop in tree.iter(tag):
        href = prop.find(f"{{{DAV}}}href")
        if href is not None and (href.text or "").strip():
            return (href.text or "").strip()
    return None


def calendar_data(raw: bytes) -> list[str]:
    tree = etree.fromstring(raw, parser=_PARSER)
    return [e.text for e in tree.iter(f"{{{CAL}}}calendar-data") if e.text and e.text.strip()]


def calendar_timezone(raw: bytes) -> str | None:
    """The text of CALDAV:calendar-timezone in a PROPFIND answer, if any."""
    tree = etree.fromstring(raw, parser=_PARSER)
    found = tree.find(f".//{{{CAL}}}calendar-timezone")
    if found is None or not (found.text or "").strip():
        return None
    return found.text


def change_token(raw: bytes) -> str | None:
    """The collection's sync-token, else its CTag, from a PROPFIND answer (None: neither)."""
    tree = etree.fromstring(raw, parser=_PARSER)
    for tag, kind in ((f"{{{DAV}}}sync-token", "sync"), (f"{{{CS}}}getctag", "ctag")):
        found = tree.find(f".//{tag}")
        if found is not None and (found.text or "").strip():
            return f"{kind}:{(found.text or '').strip()[:MAX_FIELD]}"
    return None


def display_name(calendar: caldav.Calendar) -> str:
    try:
        name = calendar.get_display_name()
    except Exception:  # a name is a nicety: the URL will do
        name = None
    return str(name or str(calendar.url).rstrip("/").rsplit("/", 1)[-1])


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
