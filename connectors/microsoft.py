"""Microsoft identity platform v2 through MSAL's ConfidentialClientApplication, and
free/busy through Graph's getSchedule (with requests: MSAL only provides the token).

MSAL checks `state` and the nonce hash but no longer validates ID tokens (1.38+), so the
signature, audience, expiry, issuer and tenant are checked here. The issuer is per tenant
(`{authority}/{tid}/v2.0`) and the tenant must be on the configured allow-list.

getSchedule returns subjects and locations of events: they are dropped here, at the
boundary, leaving start and end times. Whatever says "we don't know" is never read as free
(PROTOCOLS.md §2.6): a schedule missing from the answer or with an `error` is that
calendar's error; an item whose status is `unknown` (or any status but free and
workingElsewhere) is busy, and so is an availabilityView slot whose code is not 0 that no
busy item explains (codes other than 0-3 are not documented for Graph: busy).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import msal
import requests
from msal.exceptions import MsalError, MsalServiceError

from connectors.base import (
    AuthRequest,
    CalendarBusy,
    CalendarInfo,
    Capabilities,
    Connector,
    Identity,
    OAuthClientConfig,
    ProviderConfig,
    ProviderEnv,
    ProviderSpec,
    Setting,
    SettingError,
    TokenSet,
)
from connectors.errors import (
    AccessRefused,
    AuthorizationDenied,
    CallbackRejected,
    ConsentWithdrawn,
    GrantInvalid,
    ProviderUnavailable,
    ScopeRefused,
    TenantNotAllowed,
    TokenExchangeFailed,
)
from connectors.http import ProviderSession, get_json, retry_after
from connectors.id_token import JwksCache, validate_id_token
from connectors.oidc import _safe_code, expires_at

MICROSOFT_AUTHORITY_BASE = "https://login.microsoftonline.com"
GRAPH_API = "https://graph.microsoft.com"
# Graph freeBusyStatus values that mean free; every other one (busy, tentative, oof,
# unknown, a missing or a future value) is published as busy. scheduleItem.status: "free,
# tentative, busy, oof, workingElsewhere, unknown" (learn.microsoft.com/graph/api/
# resources/scheduleitem); availabilityView: "0= free or working elsewhere, 1= tentative,
# 2= busy, 3= out of office" (.../resources/scheduleinformation).
FREE_STATUSES = frozenset({"free", "workingelsewhere"})
# availabilityView codes (scheduleInformation): 0 free, 1 tentative, 2 busy, 3 out of office.
# Graph sends workingElsewhere as 0; 4 is EWS's "no data" in a merged view: not free.
VIEW_FREE = "0"
VIEW_BUSY = frozenset("123")
VIEW_INTERVAL_MINUTES = 30
# Authorities by name, and a tenant GUID.
TENANT_NAMES = ("common", "organizations", "consumers")
GUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# The tenant of the emulator's work accounts (emulator/accounts.json).
EMULATOR_TENANT = "11111111-1111-4111-8111-111111111111"
CONSUMER_TENANT = "9188040d-6c67-4c5b-b112-36a304b66dad"
# The flow keys MSAL needs back at the callback; `auth_uri` is not among them.
FLOW_KEYS = ("state", "redirect_uri", "scope", "code_verifier", "nonce", "claims_challenge")
# MSAL adds these itself and refuses them from callers (PROTOCOLS.md §2.4).
RESERVED_SCOPES = frozenset({"openid", "profile", "offline_access"})
# The serialized cache's ID-token section: a grant never keeps ID tokens.
ID_TOKEN_SECTION = "IdToken"  # noqa: S105 - a section name
# Token errors that say "try later" rather than "this grant is wrong".
TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
# Token errors that say the refresh token can no longer be used without the person:
# expired or revoked (AADSTS70008, 700082, 50173), consent withdrawn (65001), MFA or
# Conditional Access (interaction_required).
DEAD_GRANT_ERRORS = frozenset({"invalid_grant", "interaction_required", "consent_required"})
# Of those, consent withdrawn: `invalid_grant` with suberror `consent_required` and AADSTS65001.
CONSENT_REQUIRED = "consent_required"
CONSENT_ERROR_CODE = 65001


class _WithholdTokenBodies(logging.Filter):
    """MSAL logs a token answer that is not JSON verbatim: it may hold a token."""

    def filter(self, record: logging.LogRecord) -> bool:
        if str(record.msg).startswith("Token response is not in json format"):
            record.msg = "Token response is not in json format (body withheld)"
            record.args = ()
        return True


_MSAL_OAUTH2_LOG = logging.getLogger("msal.oauth2cli.oauth2")
if not any(isinstance(f, _WithholdTokenBodies) for f in _MSAL_OAUTH2_LOG.filters):
    _MSAL_OAUTH2_LOG.addFilter(_WithholdTokenBodies())


@dataclass(frozen=True, kw_only=True)
class MicrosoftConfig(OAuthClientConfig):
    """An Entra app registration; `authority_base` None: Microsoft's own login host."""

    tenant: str = "organizations"
    allowed_tenants: frozenset[str] = frozenset()
    authority_base: str | None = None


class MicrosoftConnector(Connector):
    """Work, school and (if allowed) personal Microsoft accounts; callback by form_post."""

    kind = "microsoft"
    default_title = "Microsoft"
    capabilities = Capabilities(
        sign_in=True,
        calendars=True,
        credential="oauth_token",
        can_revoke=False,  # no revocation endpoint (PROTOCOLS.md §2.8)
        batch_size=20,  # schedules per getSchedule call
        window_limit=timedelta(days=60),  # Graph: "less than 62 days"
        addressing="mailbox",  # getSchedule names calendars by mailbox address (§2.6)
    )
    response_method = "POST"
    SIGN_IN_SCOPES = ("email",)  # MSAL adds openid, profile and offline_access itself

    @classmethod
    def from_config(
        cls, config: ProviderConfig, ca_bundle: str | None = None
    ) -> MicrosoftConnector:
        if not isinstance(config, MicrosoftConfig):
            raise TypeError(f"{cls.__name__} needs a MicrosoftConfig, not {type(config).__name__}")
        return cls(
            config.name,
            client_id=config.client_id,
            client_secret=config.client_secret,
            tenant=config.tenant,
            allowed_tenants=config.allowed_tenants,
            authority_base=config.authority_base or MICROSOFT_AUTHORITY_BASE,
            ca_bundle=ca_bundle,
        )

    def __init__(
        self,
        name: str = "microsoft",
        *,
        client_id: str,
        client_secret: str,
        tenant: str,
        allowed_tenants: frozenset[str],
        authority_base: str = MICROSOFT_AUTHORITY_BASE,
        ca_bundle: str | None = None,
        graph_base: str | None = None,
    ) -> None:
        self.name = name
        self.title = "Microsoft"
        self.client_id = client_id
        self._client_secret = client_secret
        self.tenant = tenant
        self.allowed_tenants = allowed_tenants
        self.authority_base = authority_base.rstrip("/")
        self._session = ProviderSession(ca_bundle)
        # Discovery documents only (no tokens), shared so apps built per flow skip re-discovery.
        self._http_cache: dict[Any, Any] = {}
        self._jwks: JwksCache | None = None
        self._lock = threading.Lock()
        # Graph is Microsoft's for Microsoft's own authority, the emulator's otherwise.
        if graph_base is None:
            own = self.authority_base == MICROSOFT_AUTHORITY_BASE
            graph_base = GRAPH_API if own else self.authority_base
        self.graph_base = graph_base.rstrip("/")
        # free/busy fans out to many grants at once: a pool of its own, kept alive
        self._graph_session = ProviderSession(ca_bundle, pool_size=64)
        # grant id -> mailbox: "primary" costs one userinfo call per grant, not per fetch.
        # Never keyed by a token; `forget_grant` drops an entry when the grant ends.
        self._addresses: dict[str, str] = {}
        self._addresses_lock = threading.Lock()

    def begin(self, redirect_uri: str, state: str, scopes: tuple[str, ...] = ()) -> AuthRequest:
        # MSAL sends openid, profile and offline_access itself and refuses them as input.
        scopes = tuple(s for s in dict.fromkeys(scopes) if s not in RESERVED_SCOPES)
        requested = list(dict.fromkeys(self.SIGN_IN_SCOPES + scopes))
        try:
            flow = self._app().initiate_auth_code_flow(
                requested,
                redirect_uri=redirect_uri,
                state=state,
                prompt="select_account" if not scopes else "consent",
                response_mode="form_post",
            )
        except (requests.RequestException, ValueError) as error:
            raise ProviderUnavailable("Microsoft's sign-in service did not answer") from error
        kept = {k: flow.get(k) for k in FLOW_KEYS}
        # Scopes beyond sign-in: the flow is a grant, and `complete` keeps its tokens.
        kept["grant_scopes"] = list(dict.fromkeys(scopes))
        return AuthRequest(url=flow["auth_uri"], flow=kept)

    def complete(
        self, redirect_uri: str, flow: Mapping[str, Any], params: Mapping[str, str]
    ) -> Identity:
        # RFC 9207 §2.4 (mix-up): Entra sends no `iss` today, but one that arrives must be
        # a Microsoft issuer before the code is redeemed, and the token's tenant's after.
        response_iss = params.get("iss")
        if response_iss is not None and not self._is_own_issuer(response_iss):
            raise CallbackRejected("the callback comes from another issuer")
        if params.get("error"):
            raise AuthorizationDenied(
                "Microsoft did not grant access", code=_safe_code(params["error"])
            )
        if not params.get("code"):
            raise CallbackRejected("the callback carries no authorization code")
        grant = bool(flow.get("grant_scopes"))
        # A grant's tokens land in a cache of their own; sign-in alone keeps none.
        cache = msal.SerializableTokenCache() if grant else msal.TokenCache()
        msal_flow = {k: flow.get(k) for k in FLOW_KEYS}
        try:
            result = self._app(cache).acquire_token_by_auth_code_flow(msal_flow, dict(params))
        except json.JSONDecodeError:  # the token endpoint's answer is not JSON
            raise ProviderUnavailable("Microsoft's token endpoint answered unreadably") from None
        except ValueError as error:  # MSAL: state mismatch
            raise CallbackRejected("the callback does not match the sign-in request") from error
        except RuntimeError as error:  # MSAL: nonce mismatch (its message holds the nonces)
            raise TokenExchangeFailed("the ID token failed the 'nonce' check") from error
        except (requests.RequestException, MsalServiceError) as error:
            # Network failure, or a 5xx (MSAL raises MsalServiceError for those).
            raise ProviderUnavailable(
                f"Microsoft's token endpoint did not answer ({type(error).__name__})"
            ) from None
        if result.get("error") in TRANSIENT_ERRORS:  # 429 (MSAL raises only for 5xx)
            raise ProviderUnavailable("Microsoft's token endpoint is unavailable")
        if "error" in result:
            raise TokenExchangeFailed(
                "Microsoft refused the authorization code", code=_safe_code(result["error"])
            )
        claims = validate_id_token(
            result.get("id_token", ""),
            self.jwks(),
            audience=self.client_id,
            nonce=hashlib.sha256(str(flow["nonce"]).encode("ascii")).hexdigest(),
            issuer_ok=self._issuer_ok,
        )
        tid, oid = claims.get("tid"), claims.get("oid")
        if not tid or not oid:
            raise CallbackRejected("the ID token lacks the tenant or object id")
        if response_iss is not None and response_iss != self.issuer_for(str(tid)):
            raise CallbackRejected("the callback comes from another issuer")
        # Exactly what the token endpoint says was granted: never what was asked for.
        granted = frozenset(str(result.get("scope", "")).split())
        tokens = None
        if grant:
            access = result.get("access_token")
            if not isinstance(access, str) or not access:
                raise ProviderUnavailable("Microsoft's token answer holds no access token")
            assert isinstance(cache, msal.SerializableTokenCache)
            tokens = TokenSet(
                granted_scopes=granted,
                access_token=access,
                expires_at=expires_at(None, result.get("expires_in")),
                cache=without_id_tokens(cache.serialize()),
            )
        return Identity(
            provider=self.name,
            issuer=self.issuer_for(str(tid)),
            subject=f"{tid}:{oid}",  # (tid, oid): stable across apps, never the e-mail
            # Microsoft's `email` claim is mutable and unverified: display only, never a key.
            email=None,
            name=claims.get("name") or claims.get("preferred_username"),
            granted_scopes=granted,
            tokens=tokens,
        )

    # -- grants --------------------------------------------------------------------------------
    def refresh(self, tokens: TokenSet, scopes: tuple[str, ...]) -> TokenSet:
        """A new access token for `scopes` through MSAL, from the grant's token cache.

        Microsoft rotates the refresh token on every refresh, so the returned TokenSet holds
        the updated cache (again without ID tokens). `openid`, `profile` and
        `offline_access` are dropped from `scopes`: MSAL adds them itself.
        """
        if not tokens.cache:
            raise GrantInvalid("the grant holds no Microsoft token cache")
        cache = msal.SerializableTokenCache()
        try:
            cache.deserialize(tokens.cache)
        except (TypeError, ValueError):
            raise GrantInvalid("the grant's Microsoft token cache is unreadable") from None
        wanted = [s for s in dict.fromkeys(scopes) if s not in RESERVED_SCOPES]
        try:
            app = self._app(cache)
            accounts = app.get_accounts()
            if not accounts:
                raise GrantInvalid("the grant's token cache holds no Microsoft account")
            result = app.acquire_token_silent_with_error(
                wanted or list(self.SIGN_IN_SCOPES), accounts[0], force_refresh=True
            )
        except (requests.RequestException, MsalError, ValueError) as error:
            # Network failure or timeout, a 5xx (MsalServiceError), an answer that is not
            # JSON or a discovery failure (ValueError): never quote them, they may hold a body.
            raise ProviderUnavailable(
                f"Microsoft's token endpoint did not answer ({type(error).__name__})"
            ) from None
        if result is None:  # MSAL found no refresh token for the account
            raise GrantInvalid("the grant's token cache holds no refresh token")
        if "error" in result:
            raise _refresh_error(result)
        access = result.get("access_token")
        if not isinstance(access, str) or not access:
            raise ProviderUnavailable("Microsoft's token answer holds no access token")
        scope = result.get("scope")
        return TokenSet(
            # RFC 6749 §5.1: without `scope` in the answer, the scopes are those asked for.
            granted_scopes=frozenset(str(scope).split()) if scope else tokens.granted_scopes,
            access_token=access,
            expires_at=expires_at(None, result.get("expires_in")),
            cache=without_id_tokens(cache.serialize()) if cache.has_state_changed else tokens.cache,
        )

    def revoke(self, tokens: TokenSet) -> bool:
        """Microsoft has no revocation endpoint (PROTOCOLS.md §2.8): nothing is confirmed.

        The refresh token stays valid at Microsoft until it expires or the person removes
        the app; deleting the stored cache is all the gateway can do.
        """
        return False

    def list_calendars(self, access_token: str) -> list[CalendarInfo]:
        """The calendars a host can pick: their own mailbox, named "primary".

        Graph's getSchedule (PROTOCOLS.md §2.6) names calendars by mailbox address, not by
        calendar id, so `GET /me/calendars` would offer nothing it can use; a room mailbox
        is chosen by typing its address instead. No call to Microsoft is needed.
        """
        return [CalendarInfo(id="primary", name="Your mailbox", primary=True, access_role="owner")]

    # -- free/busy (Graph getSchedule) -------------------------------------------------------
    def _graph_call(self, method: str, path: str, access_token: str, body: Any = None) -> Any:
        try:
            response = self._graph_session.request(
                method,
                self.graph_base + path,
                headers={"Authorization": f"Bearer {access_token}"},
                json=body,
            )
        except requests.RequestException as error:
            raise ProviderUnavailable(
                f"Microsoft Graph did not answer ({type(error).__name__})"
            ) from None
        if response.status_code == 401:
            raise AccessRefused("Microsoft Graph refused the access token")
        if response.status_code == 403:  # Graph throttles with 429, never 403
            raise ScopeRefused("Microsoft Graph refused this grant access to calendars")
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(
                f"Microsoft Graph answered {response.status_code}",
                code="provider_busy",
                retry_after=retry_after(response.headers.get("Retry-After")),
            )
        if response.status_code != 200:
            raise ProviderUnavailable(
                f"Microsoft Graph refused the request ({response.status_code})", code="refused"
            )
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable("Microsoft Graph answered with a malformed body") from None

    def own_address(self, access_token: str, grant: str | None = None) -> str:
        """The signed-in mailbox, for the "primary" calendar (getSchedule wants addresses);
        remembered per `grant` when one is named."""
        known = self._addresses.get(grant) if grant else None
        if known:
            return known
        info = self._graph_call("GET", "/oidc/userinfo", access_token)
        address = info.get("email") if isinstance(info, dict) else None
        if not isinstance(address, str) or "@" not in address:
            raise ProviderUnavailable("Microsoft did not say which mailbox is yours")
        if grant:
            with self._addresses_lock:
                if len(self._addresses) > 10_000:  # a bound, whatever happens to grants
                    self._addresses.clear()
                self._addresses[grant] = address
        return address

    def forget_grant(self, grant: str) -> None:
        """The grant ended (revoked, erased, refused): keep nothing of it."""
        with self._addresses_lock:
            self._addresses.pop(grant, None)

    def free_busy(
        self,
        access_token: str,
        calendar_ids: Sequence[str],
        start: datetime,
        end: datetime,
        grant: str | None = None,
    ) -> dict[str, CalendarBusy]:
        addresses = {
            cid: (self.own_address(access_token, grant) if cid == "primary" else cid)
            for cid in calendar_ids
        }
        start, end = start.astimezone(UTC), end.astimezone(UTC)
        body = {
            "schedules": list(dict.fromkeys(addresses.values())),
            "startTime": {"dateTime": start.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "endTime": {"dateTime": end.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "availabilityViewInterval": VIEW_INTERVAL_MINUTES,
        }
        answer = self._graph_call("POST", "/v1.0/me/calendar/getSchedule", access_token, body)
        values = answer.get("value") if isinstance(answer, dict) else None
        if not isinstance(values, list):
            raise ProviderUnavailable("Microsoft Graph answered without schedules")
        by_address = {
            str(v.get("scheduleId", "")).lower(): v for v in values if isinstance(v, dict)
        }
        return {
            cid: _graph_schedule(by_address.get(address.lower()), start, end)
            for cid, address in addresses.items()
        }

    def issuer_for(self, tid: str) -> str:
        return f"{self.authority_base}/{tid}/v2.0"

    def _is_own_issuer(self, iss: str) -> bool:
        """`{authority}/{tenant}/v2.0` for some tenant: the only shape a Microsoft `iss` has."""
        tenant = iss.removeprefix(f"{self.authority_base}/").removesuffix("/v2.0")
        return iss == self.issuer_for(tenant) and tenant != "" and "/" not in tenant

    def _issuer_ok(self, iss: str, claims: Mapping[str, Any]) -> bool:
        tid = str(claims.get("tid", ""))
        if tid not in self.allowed_tenants:
            raise TenantNotAllowed("accounts of this Microsoft tenant may not sign in here")
        return iss == self.issuer_for(tid)

    def jwks(self) -> JwksCache:
        with self._lock:
            if self._jwks is None:
                discovery = (
                    f"{self.authority_base}/{self.tenant}/v2.0/.well-known/openid-configuration"
                )
                jwks_uri = get_json(self._session, discovery).get("jwks_uri")
                if not isinstance(jwks_uri, str):
                    raise ProviderUnavailable("Microsoft's discovery document lacks jwks_uri")
                self._jwks = JwksCache(self._session, jwks_uri)
            return self._jwks

    def _app(self, cache: msal.TokenCache | None = None) -> msal.ConfidentialClientApplication:
        """A new app per flow or refresh: its token cache must never outlive the request.

        `http_cache` is shared: it holds discovery documents and MSAL's throttling of
        error answers (429/5xx for their Retry-After, 400s for a minute), never a token.
        """
        return msal.ConfidentialClientApplication(
            self.client_id,
            client_credential=self._client_secret,
            authority=f"{self.authority_base}/{self.tenant}",
            instance_discovery=self.authority_base == MICROSOFT_AUTHORITY_BASE,
            http_client=self._session,
            http_cache=self._http_cache,
            token_cache=cache if cache is not None else msal.TokenCache(),
        )


def without_id_tokens(serialized: str) -> str:
    """A serialized MSAL cache with its ID-token section removed (we never keep ID tokens).

    MSAL finds the account and its refresh token without it.
    """
    data = json.loads(serialized)
    data.pop(ID_TOKEN_SECTION, None)
    return json.dumps(data)


def _refresh_error(result: dict[str, Any]) -> Exception:
    """Map an MSAL error result; its description is never quoted (it is the provider's text)."""
    error = str(result.get("error", ""))
    if CONSENT_REQUIRED in (error, result.get("suberror")) or CONSENT_ERROR_CODE in (
        result.get("error_codes") or ()
    ):
        return ConsentWithdrawn(
            "Microsoft needs consent again for this grant", code=CONSENT_REQUIRED
        )
    if error in DEAD_GRANT_ERRORS or result.get("suberror") in DEAD_GRANT_ERRORS:
        return GrantInvalid("Microsoft no longer accepts this grant", code="invalid_grant")
    if error in TRANSIENT_ERRORS:
        return ProviderUnavailable("Microsoft's token endpoint is unavailable")
    return TokenExchangeFailed("Microsoft refused to refresh the grant", code=_safe_code(error))


def _graph_schedule(entry: Any, start: datetime, end: datetime) -> CalendarBusy:
    """One scheduleInformation: its items' busy times plus every availabilityView slot that
    is not free and that no busy item explains (the view is the merged truth)."""
    if not isinstance(entry, dict):
        return CalendarBusy(error="missing")
    error = entry.get("error")
    if error is not None:
        code = error.get("responseCode") if isinstance(error, dict) else None
        return CalendarBusy(error=str(code or "error"))
    items = entry.get("scheduleItems")
    if not isinstance(items, list):
        return CalendarBusy(error="malformed")
    try:
        busy = [
            (_graph_time(item["start"]), _graph_time(item["end"]))
            for item in items
            if str(item.get("status", "")).lower() not in FREE_STATUSES
        ]
        busy += _view_busy(entry.get("availabilityView"), start, end, busy)
    except (KeyError, TypeError, ValueError, AttributeError):
        return CalendarBusy(error="malformed")
    return CalendarBusy(busy=tuple(sorted(busy)))


def _view_busy(
    view: Any, start: datetime, end: datetime, items: list[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """The availabilityView slots to publish as busy: a code other than 0 where no busy
    item overlaps the slot (a code outside 0-3 whatever the items say). An absent view
    adds nothing; one of the wrong length is malformed (ValueError)."""
    if view is None or view == "":
        return []
    if not isinstance(view, str):
        raise ValueError("availabilityView is not a string")
    step = timedelta(minutes=VIEW_INTERVAL_MINUTES)
    if len(view) != math.ceil((end - start) / step):
        raise ValueError("availabilityView does not cover the asked range")
    slots = []
    for n, code in enumerate(view):
        if code == VIEW_FREE:
            continue
        low, high = start + n * step, min(start + (n + 1) * step, end)
        explained = any(s < high and e > low for s, e in items)
        if code not in VIEW_BUSY or not explained:
            slots.append((low, high))
    return slots


def _graph_time(value: dict[str, str]) -> datetime:
    if str(value.get("timeZone", "UTC")).upper() not in ("UTC", "ETC/UTC"):
        raise ValueError("a schedule time outside UTC")  # we always ask for UTC
    text = value["dateTime"]
    head, _, fraction = text.partition(".")
    moment = datetime.fromisoformat(head).replace(tzinfo=UTC)
    return moment + timedelta(microseconds=int((fraction or "0")[:6].ljust(6, "0")))


# -- configuration ------------------------------------------------------------------------------
def _configure(env: ProviderEnv) -> list[ProviderConfig]:
    """`GATEWAY_MICROSOFT_CLIENT_ID`, `_SECRET`, `_TENANT`, `_ALLOWED_TENANTS`; with the
    emulator, its client by default and its authority."""
    prefix = PROVIDER.prefix
    pair = env.client(prefix) or env.emulator_client
    if not pair:
        return []
    tenant = (env.get(f"{prefix}_TENANT") or "organizations").lower()
    if tenant not in TENANT_NAMES and not GUID.match(tenant):
        raise SettingError(
            f"{prefix}_TENANT must be common, organizations, consumers "
            f"or a tenant GUID, got {tenant!r}"
        )
    return [
        MicrosoftConfig(
            name=PROVIDER.kind,
            kind=PROVIDER.kind,
            client_id=pair[0],
            client_secret=pair[1],
            tenant=tenant,
            allowed_tenants=_allowed_tenants(env, tenant),
            authority_base=env.emulator_url,
        )
    ]


def _allowed_tenants(env: ProviderEnv, tenant: str) -> frozenset[str]:
    name = f"{PROVIDER.prefix}_ALLOWED_TENANTS"
    tenants = {t.strip().lower() for t in (env.get(name) or "").split(",") if t.strip()}
    for value in tenants:
        if not GUID.match(value):
            raise SettingError(f"{name} must list tenant GUIDs, got {value!r}")
    if tenants:
        return frozenset(tenants)
    if GUID.match(tenant):
        return frozenset({tenant})
    if env.emulator_url:
        return frozenset({EMULATOR_TENANT})
    raise SettingError(
        f"{name} is missing: tenant {tenant!r} admits any organisation, "
        "so list the tenant GUIDs that may sign in"
    )


PROVIDER = ProviderSpec(
    kind=MicrosoftConnector.kind,
    connector=MicrosoftConnector,
    settings=(
        Setting("CLIENT_ID", "Entra app registration's client id", enables=True),
        Setting("CLIENT_SECRET", "Entra app registration's client secret", secret=True),
        Setting("TENANT", "common, organizations (default), consumers or a tenant GUID"),
        Setting("ALLOWED_TENANTS", "comma-separated tenant GUIDs whose accounts may sign in"),
    ),
    configure=_configure,
    how_to_enable="GATEWAY_MICROSOFT_CLIENT_ID and _SECRET",
    emulated_names=("microsoft",),
)
