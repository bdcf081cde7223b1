"""The Redis key schema: the one place that says where each datum lives.

Every key holding one user's personal data sits under the hash tag `{u:<uid>}`, so a user's
keys share one Redis Cluster slot and can be changed atomically. The few keys that must be
found by something other than the user id (a session id, a provider subject) are listed in
the user's index set, so "delete everything of this user" is exact.

    gw:{u:UID}:profile          hash   id, created, dk (wrapped user data key), sealed (name,
                                       e-mail)                              (no TTL: the account)
    gw:{u:UID}:identities       hash   "<provider>|<k>" -> sealed identity; k = subject_digest
    gw:{u:UID}:index            set    keys outside the tag that belong to this user
    gw:{u:UID}:grants           set    grant ids of this user
    gw:{u:UID}:grant:GID        hash   one grant: provider, purpose, status, reason, scopes,
                                       timestamps, version (fencing), epoch, dk (wrapped grant
                                       data key), tokens (sealed), subject (sealed), account
                                       (keyed hash of the provider account: which grant a
                                       new consent of the same account replaces)
    gw:{u:UID}:grant:GID:lock   string refresh lock holder; PX 15 s
    gw:{u:UID}:grant:GID:cached set    keys of data cached for this grant (purged with it)
    gw:{u:UID}:consent-events   list   consent history, append-only, newest first: one compact
                                       JSON array per event (storage/consent_events.py)
    gw:{u:UID}:consent-log      stream the consent history as written before issue 17: read,
                                       never written again
    gw:consent-texts            hash   "<purpose>|<version>" -> digest of that consent text, kept
                                       once for every event of it (no personal data)
    gw:{u:UID}:consent          hash   consents in force: "<purpose>|<provider>" -> JSON
    gw:{u:UID}:receipts         list   signed revocation receipts, newest first (receipts.py)
    gw:{u:UID}:restricted       string since when processing is restricted (restrictions.py)
    gw:{u:UID}:hosted           set    ids of the rooms this user hosts (erasure finds them)
    gw:{u:UID}:bindings         set    ids of the rooms this user has bound
    gw:{u:UID}:binding:ROOM     hash   room, gen, and per calendar (up to 5) "cal:<version>":
                                       JSON grant, provider, since, calendar (sealed under
                                       the grant's data key), account (primary calendars:
                                       keyed hash of the provider account); an older hash
                                       holds one calendar's fields at the top level
    gw:{u:UID}:notice:GID:E     string "1": the owner was e-mailed about ending E of grant
                                       GID (storage/notices.py); expires after 30 d
    gw:room:ROOM                string JSON room; not personal but for the host's opaque uid
    gw:rooms                    set    every room id
    gw:room:ROOM:bound          string "UID GID VERSION [GID VERSION]... ~GEN": the room's
                                       calendars for free/busy; in the host's index
    gw:room:ROOM:history        stream actor, action, grant, at (opaque ids); ~1000 entries,
                                       expires 365 d after the last entry
    gw:{clients}:ID             hash   an API client; its secret only as an HMAC (api_clients.py)
    gw:{clients}                set    API client ids
    gw:keyring:retired          set    key-encryption key versions retired (no personal data)
    gw:{breaker:P}:failures     string consecutive provider failures of provider P; expires
    gw:{breaker:P}:open|probe   string the circuit is open / one probe is out; expire
    gw:{breaker:P}:hold:<h>     string a grant waits out a long Retry-After; h = sha256(grant
                                       id); expires (storage/breaker.py)
    gw:ident:<provider>:<k>     string uid; k = subject_digest(subject), found at sign-in
    gw:session:<h>              string JSON session; h = sha256(session id); idle TTL
    gw:flow-spent:<h>           string "1": a sign-in state whose callback came; h =
                                       sha256(state); expires with the flow (storage/flows.py)
    gw:job:<job>:last-success   string UNIX time a scheduled job last ended well
                                       (storage/job_runs.py)
    gw:job:<job>:last-failure   string UNIX time a scheduled job last failed or died
    gw:{jobs}:...               the job queue and its once-per-period ledger (storage/jobs.py)
    gw:watch:{WID}              hash   a provider push channel: uid, gid, provider, keyed hash
                                       of the calendar, resource id, expiry, last message
                                       number; in the owner's index (storage/watches.py)
    gw:{u:UID}:watches          set    the user's channel ids
    gw:watches:expiry           zset   channel id -> expiry (the renewal job's list)
    gw:{u:UID}:changes:GID      hash   keyed hash of a CalDAV / ICS calendar -> JSON [its last
                                       version, checked at] (storage/change_checks.py)
    gw:receipt-keys             hash   "current" -> kid of the Ed25519 key signing receipts;
                                       "kid:<kid>" -> when it was made; the private keys
                                       sealed in gw:stable-secrets (storage/receipt_keys.py)

Secrets that arrive from outside (session ids, states) are hashed before they become key
names, so a key listing (`SCAN`, `MONITOR`, a slow log) never shows a usable value. Provider
subjects are not secret and can be known (a Google subject is in every ID token the person
ever sent anyone), so a plain hash of one could be confirmed by hashing it: they are named
by `subject_digest`, an HMAC under a key derived from GATEWAY_SECRET_KEY (its own label), so
a Redis reader without that key can neither compute nor test a name. Names written before
that (plain SHA-256) are moved on first lookup (storage/users.py).
"""

from __future__ import annotations

import hashlib
import hmac

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


def grants(uid: str) -> str:
    return f"{user_tag(uid)}:grants"


def grant(uid: str, gid: str) -> str:
    return f"{user_tag(uid)}:grant:{gid}"


def grant_lock(uid: str, gid: str) -> str:
    return f"{grant(uid, gid)}:lock"


def grant_cached(uid: str, gid: str) -> str:
    return f"{grant(uid, gid)}:cached"


def consent_log(uid: str) -> str:
    """The consent history (a list; before issue 17 a stream, `consent_log_stream`)."""
    return f"{user_tag(uid)}:consent-events"


def consent_log_stream(uid: str) -> str:
    return f"{user_tag(uid)}:consent-log"


def consents(uid: str) -> str:
    return f"{user_tag(uid)}:consent"


def receipts(uid: str) -> str:
    return f"{user_tag(uid)}:receipts"


def restricted(uid: str) -> str:
    return f"{user_tag(uid)}:restricted"


# Patterns for admin sweeps (key rotation): every hash that holds a wrapped data key.
WRAPPED_KEY_PATTERNS = (f"{PREFIX}:{{u:*}}:profile", f"{PREFIX}:{{u:*}}:grant:*")
RETIRED_KEY_VERSIONS = f"{PREFIX}:keyring:retired"
# secrets that outlive a GATEWAY_SECRET_KEY rotation (storage/stable_secrets.py)
STABLE_SECRETS = f"{PREFIX}:stable-secrets"
CONSENT_TEXTS = f"{PREFIX}:consent-texts"  # storage/consent_events.py
# the receipt signing keys' ids; their private halves are stable secrets (receipt_keys.py)
RECEIPT_KEYS = f"{PREFIX}:receipt-keys"


def owner_of_key(key: str) -> str:
    """The user id inside a key's hash tag."""
    start = key.index("{u:") + 3
    return key[start : key.index("}", start)]


def holds_wrapped_key(key: str) -> bool:
    """Profiles and grant records; not a grant's lock or cache index."""
    if key.endswith(":profile"):
        return True
    head, _, gid = key.rpartition(":grant:")
    return bool(head) and ":" not in gid


def subject_key(secret_key: str) -> bytes:
    """The HMAC key of subject names, derived from GATEWAY_SECRET_KEY under its own label
    (as the audit pseudonyms and receipts keys are), so no other use of it can collide."""
    return hashlib.sha256(b"gateway subject key names|" + secret_key.encode("utf-8")).digest()


def subject_digest(key: bytes, subject: str) -> str:
    return hmac.new(key, subject.encode("utf-8"), hashlib.sha256).hexdigest()


def identity_lookup(provider: str, subject_hash: str) -> str:
    """`subject_hash` is subject_digest(...); digest(subject) names a legacy lookup."""
    return f"{PREFIX}:ident:{provider}:{subject_hash}"


def session(session_id: str) -> str:
    return f"{PREFIX}:session:{digest(session_id)}"


def flow_spent(state: str) -> str:
    return f"{PREFIX}:flow-spent:{digest(state)}"


def job_last_success(job: str) -> str:
    """gw:job:<job>:last-success (storage/job_runs.py)."""
    return f"{PREFIX}:job:{job}:last-success"


def job_last_failure(job: str) -> str:
    """gw:job:<job>:last-failure (storage/job_runs.py)."""
    return f"{PREFIX}:job:{job}:last-failure"
