"""Admin commands: `flask --app gateway admin revoke-user|revoke-grant|revoke-room|
revoke-provider|audit|verify-receipt|rotate-receipt-key|move-subject-names|replay-erasures`.

Revocations need a reason (the affected user reads it on their account page) and print the
signed receipts, one JSON document per line, so they can be kept and verified later.
Ids are random and may start with "-": put options first and `--` before the ids
(`admin revoke-grant --reason "..." -- UID GID`).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from typing import IO, Any

import click
from flask.cli import ScriptInfo

from gateway.cli_errors import CliGroup
from gateway.context import services
from gateway.crypto.receipt_keys import ALGORITHM, JWKS_PATH, KeySetInvalid, parse_jwks
from gateway.crypto.receipts import ReceiptInvalid, verify_jws

admin_cli = CliGroup("admin", help="Revoke integrations, read the audit trail, check receipts.")
ACTOR = "cli"


def _non_empty(_ctx: click.Context, _param: click.Parameter, value: str) -> str:
    reason = " ".join(value.split())
    if not reason:
        raise click.BadParameter("give a reason: the user reads it on their account page")
    return reason


reason_option = click.option(
    "--reason",
    required=True,
    callback=_non_empty,
    help="Why: shown to the affected user on their account page.",
)


def _echo_receipts(receipts: list[dict[str, Any]]) -> None:
    for receipt in receipts:
        click.echo(json.dumps(receipt, sort_keys=True))


@admin_cli.command("revoke-user")
@click.argument("uid")
@reason_option
def revoke_user(uid: str, reason: str) -> None:
    """Revoke every grant of user UID."""
    found = services()
    if found.users.get(uid) is None:
        raise click.ClickException(f"no user has the id {uid!r}")
    _echo_receipts(found.revocation.revoke_user(uid, reason=reason, actor=ACTOR))


@admin_cli.command("revoke-grant")
@click.argument("uid")
@click.argument("gid")
@reason_option
def revoke_grant(uid: str, gid: str, reason: str) -> None:
    """Revoke grant GID of user UID."""
    receipt = services().revocation.revoke_grant(uid, gid, reason=reason, actor=ACTOR)
    if receipt is None:
        raise click.ClickException(f"user {uid!r} has no grant {gid!r}")
    _echo_receipts([receipt])


@admin_cli.command("revoke-room")
@click.argument("room_id")
@reason_option
def revoke_room(room_id: str, reason: str) -> None:
    """Revoke the host's grant behind room ROOM_ID."""
    found = services()
    if found.rooms.get(room_id) is None:
        raise click.ClickException(f"there is no room {room_id!r}")
    binding = found.rooms.binding(room_id)
    if binding is None:
        raise click.ClickException(f"room {room_id!r} is not connected to an active grant")
    receipt = found.revocation.revoke_grant(binding.uid, binding.gid, reason=reason, actor=ACTOR)
    _echo_receipts([receipt] if receipt else [])


@admin_cli.command("revoke-provider")
@click.argument("name")
@reason_option
@click.confirmation_option(prompt="Revoke every grant of this provider, for every user?")
def revoke_provider(name: str, reason: str) -> None:
    """Revoke every grant of provider NAME (e.g. after its client secret leaked)."""
    count = services().revocation.revoke_provider(name, reason=reason, actor=ACTOR)
    click.echo(f"revoked {count} grant(s) of {name}")


@admin_cli.command("audit")
@click.option("--user", "uid", help="Only entries about this user id (pseudonymised first).")
@click.option("--action", help="Only this action, e.g. grant.revoke.")
@click.option("--limit", type=click.IntRange(1, 100_000), default=200, show_default=True)
def audit(uid: str | None, action: str | None, limit: int) -> None:
    """The audit trail, newest first, one JSON object per line."""
    trail = services().audit
    entries = trail.entries(subject=uid, action=action, limit=limit)
    if uid:  # reading what was done to one person is itself recorded
        trail.record(actor=ACTOR, action="audit.read", subject=uid, detail={"shown": len(entries)})
    for entry in entries:
        click.echo(json.dumps(asdict(entry), sort_keys=True))


@admin_cli.command("verify-receipt", with_appcontext=False)
@click.argument("file", type=click.File("r"))
@click.option(
    "--jwks",
    "jwks_file",
    type=click.File("r"),
    help="Check an Ed25519 receipt against this saved JWKS (e.g. a copy of "
    f"{JWKS_PATH}) instead of the keys in Redis: offline, no gateway needed.",
)
def verify_receipt(file: IO[str], jwks_file: IO[str] | None) -> None:
    """Check FILE's signature: exit 0 when valid, 1 when altered or signed by another key.

    FILE is a receipt as printed or downloaded: Ed25519 (a JWS, checked with the published
    keys) or an older HMAC one (checked with the deployment's secret)."""
    try:
        receipt = json.loads(file.read())
    except ValueError:
        raise click.ClickException("not a receipt: the file is not JSON") from None
    if not isinstance(receipt, dict):
        raise click.ClickException("not a receipt: the file is not a JSON object")
    signature = receipt.get("signature")
    kind = signature.get("alg") if isinstance(signature, dict) else None
    try:
        if jwks_file is not None:
            if kind != ALGORITHM:
                raise click.ClickException(
                    "invalid: --jwks checks Ed25519 receipts; this one is not signed with "
                    "Ed25519 (an older HMAC receipt is checked without --jwks)"
                )
            verify_jws(receipt, parse_jwks(jwks_file.read()))
        else:  # the gateway's keys (and, for HMAC, its secret): load it only now
            app = click.get_current_context().ensure_object(ScriptInfo).load_app()
            with app.app_context():
                services().receipts.verify(receipt)
    except KeySetInvalid as error:
        raise click.ClickException(f"not a key set: {error}") from None
    except ReceiptInvalid as error:
        raise click.ClickException(f"invalid: {error}") from None
    click.echo("valid")


@admin_cli.command("rotate-receipt-key")
def rotate_receipt_key() -> None:
    """Sign receipts with a new Ed25519 key from now on; the old public keys stay published
    (so every receipt signed before still verifies)."""
    kid = services().receipts.rotate_key()
    click.echo(f"new receipt signing key {kid}; the older keys stay published at {JWKS_PATH}")


@admin_cli.command("move-subject-names")
def move_subject_names() -> None:
    """Rename every Redis name still holding a plain SHA-256 of a provider subject to its
    keyed name (sign-in does it on the way; this reaches people who do not sign in)."""
    moved = services().users.move_legacy_names()
    click.echo(f"moved {moved} sign-in lookup(s) to keyed names")


def _since(_ctx: click.Context, _param: click.Parameter, value: str) -> float:
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            "an ISO date or time, e.g. 2026-11-25 or 2026-11-25T03:00Z"
        ) from None
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).timestamp()


@admin_cli.command("replay-erasures")
@click.option(
    "--since",
    required=True,
    callback=_since,
    help="When the restored backup was taken (UTC unless an offset is given); replay from a "
    "little earlier to be safe: replaying is idempotent.",
)
def replay_erasures(since: float) -> None:
    """After restoring Redis from a backup: erase and revoke again everything the tombstone
    log says was erased or revoked since the backup (the provider is told again)."""
    done = services().privacy.replay_tombstones(since)
    click.echo(
        f"read {done.read} tombstone(s): {done.erasures} erasure(s) and "
        f"{done.revocations} revocation(s) replayed, {done.already_applied} already applied"
        + (f", {done.unreadable} unreadable line(s)" if done.unreadable else "")
    )
