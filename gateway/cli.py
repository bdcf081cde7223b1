"""Admin commands: `flask --app gateway keys status|rotate|retire VERSION|generate VERSION`,
`retention run`, and `worker` (the background jobs' process)."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import with_appcontext

from gateway.cli_errors import CliGroup
from gateway.context import services
from gateway.crypto.keyring import VERSION, new_key_entry
from gateway.services.key_rotation import KeyInUse, RotationRefused

keys_cli = CliGroup("keys", help="The key ring that wraps every data key.")
ACTOR = "cli"


@keys_cli.command("status")
def keys_status() -> None:
    """Which key versions wrap how many data keys."""
    found = services()
    usage = found.key_rotation.usage()
    retired = found.key_rotation.retired()
    ring = found.settings.keyring
    for version in dict.fromkeys([*ring.versions, *usage]):
        notes = []
        if version == ring.newest:
            notes.append("newest")
        if version not in ring.versions:
            notes.append("NOT IN CONFIGURATION")
        if version in retired:
            notes.append("retired")
        suffix = f" ({', '.join(notes)})" if notes else ""
        click.echo(f"{version}: {usage.get(version, 0)} data keys{suffix}")


@keys_cli.command("rotate")
def keys_rotate() -> None:
    """Re-wrap every data key under the newest key version (safe while serving)."""
    found = services()
    try:
        report = found.key_rotation.rotate(ACTOR)
    except RotationRefused as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"re-wrapped {report.rewrapped}, already newest {report.already_newest}, "
        f"changed meanwhile {report.changed_meanwhile} (run again to pick those up)"
    )


@keys_cli.command("retire")
@click.argument("version")
def keys_retire(version: str) -> None:
    """Mark VERSION retired, only when no data key uses it; then drop it from configuration."""
    found = services()
    try:
        found.key_rotation.retire(version, ACTOR)
    except (KeyInUse, RotationRefused) as error:
        raise click.ClickException(f"{error}; not retired") from None
    click.echo(f"{version} is unused and retired: remove it from GATEWAY_ENCRYPTION_KEYS")


@keys_cli.command("generate", with_appcontext=False)
@click.argument("version")
def keys_generate(version: str) -> None:
    """Print a new key entry; put it first in GATEWAY_ENCRYPTION_KEYS, then rotate."""
    if not VERSION.match(version):
        raise click.BadParameter(
            "1 to 32 letters, digits, '.', '_' or '-' (e.g. 2027-01)", param_hint="VERSION"
        )
    click.echo(new_key_entry(version))


retention_cli = CliGroup("retention", help="Deletes what has outlived its retention.")


@retention_cli.command("run")
def retention_run() -> None:
    """Revoke long-unused grants, trim the audit trail, drop expired consent records and
    tombstones."""
    found = services()
    report = found.retention.run()
    tombstones = found.privacy.prune_tombstones()
    found.retention.record_success()  # for /metrics and its alert
    click.echo(
        f"idle grants revoked {report.idle_grants_revoked}, audit entries trimmed "
        f"{report.audit_entries_trimmed}, consent logs deleted {report.consent_logs_deleted}, "
        f"tombstones deleted {tombstones}"
    )


@click.command("worker")
@with_appcontext
@click.option(
    "--parent-pid",
    type=int,
    default=None,
    help="Stop when this process (the one that started this worker) ends; python -m gateway "
    "passes its own pid.",
)
def worker_command(parent_pid: int | None) -> None:
    """Run the background jobs (retention, idle-grant refresh) until SIGTERM; any number of
    workers may run on one Redis, each job's period runs once (gateway/worker.py)."""
    from flask import current_app

    from gateway.worker import Worker

    heartbeat = services().settings.data_dir / "worker-heartbeat"
    heartbeat.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    # the pid is given, not read with getppid() here: loading the app takes a while, and a
    # gateway killed meanwhile would leave us the child of init, waiting for ever
    Worker(app, heartbeat=heartbeat, parent=parent_pid).run()


def register_cli(app: Flask) -> None:
    from gateway.cli_admin import admin_cli
    from gateway.cli_clients import clients_cli
    from gateway.cli_rooms import rooms_cli

    app.cli.add_command(keys_cli)
    app.cli.add_command(retention_cli)
    app.cli.add_command(worker_command)
    app.cli.add_command(rooms_cli)
    app.cli.add_command(clients_cli)
    app.cli.add_command(admin_cli)
