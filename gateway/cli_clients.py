"""Admin commands for API clients: `flask --app gateway clients create|list|disable|enable|delete`.

The secret is printed once, by `create`; only its HMAC is stored, so a lost secret means a
new client (and `delete` of the old one).
"""

from __future__ import annotations

from datetime import UTC, datetime

import click

from gateway.cli_errors import CliGroup
from gateway.context import services
from gateway.services.api_clients import (
    DEFAULT_RATE_LIMIT,
    ApiClient,
    ApiClientError,
    ApiClientService,
)

clients_cli = CliGroup("clients", help="API clients: the programs that read free/busy.")
ACTOR = "cli"


def _service() -> ApiClientService:
    return services().clients


def _line(client: ApiClient) -> str:
    created = datetime.fromtimestamp(client.created, UTC).strftime("%Y-%m-%d")
    state = "disabled" if client.disabled else "enabled"
    audiences = ",".join(sorted(client.audiences)) or "-"
    rooms = ",".join(sorted(client.rooms)) or "-"
    return (
        f"{client.id}\t{state}\t{client.rate_limit}\t{created}\t"
        f"audiences={audiences}\trooms={rooms}\t{client.name}"
    )


@clients_cli.command("create")
@click.argument("name")
@click.option(
    "--audience",
    "audiences",
    multiple=True,
    help="A group a room's visibility may list (repeat for several).",
)
@click.option("--room", "rooms", multiple=True, help="A room id it may see (repeat for several).")
@click.option(
    "--rate-limit",
    default=DEFAULT_RATE_LIMIT,
    show_default=True,
    help="Requests allowed, e.g. '600/minute' or '10/second;500/hour'.",
)
def clients_create(
    name: str, audiences: tuple[str, ...], rooms: tuple[str, ...], rate_limit: str
) -> None:
    """Add a client called NAME and print its secret, once."""
    try:
        client, secret = _service().create(name, audiences, rooms, rate_limit, actor=ACTOR)
    except ApiClientError as error:
        raise click.ClickException(error.message) from None
    click.echo(_line(client))
    click.echo(f"secret: {secret}")
    click.echo(
        "Store this secret now: it is not kept by the gateway and cannot be shown again. "
        "Send it as 'Authorization: Bearer <secret>'.",
        err=True,
    )


@clients_cli.command("list")
def clients_list() -> None:
    """One line per client: id, state, rate limit, created, audiences, rooms, name."""
    for client in _service().all():
        click.echo(_line(client))


@clients_cli.command("disable")
@click.argument("client_id")
def clients_disable(client_id: str) -> None:
    """Refuse CLIENT_ID's secret from now on (reversible with `enable`)."""
    try:
        client = _service().disable(client_id, actor=ACTOR)
    except ApiClientError as error:
        raise click.ClickException(error.message) from None
    click.echo(_line(client))


@clients_cli.command("enable")
@click.argument("client_id")
def clients_enable(client_id: str) -> None:
    """Accept CLIENT_ID's secret again."""
    try:
        client = _service().enable(client_id, actor=ACTOR)
    except ApiClientError as error:
        raise click.ClickException(error.message) from None
    click.echo(_line(client))


@clients_cli.command("delete")
@click.argument("client_id")
@click.confirmation_option(prompt="Delete the client? Its secret stops working at once.")
def clients_delete(client_id: str) -> None:
    """Delete CLIENT_ID and its stored credential."""
    try:
        _service().delete(client_id, actor=ACTOR)
    except ApiClientError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"deleted {client_id}")


@clients_cli.command("webhook")
@click.argument("client_id")
@click.argument("url")
def clients_webhook(client_id: str, url: str) -> None:
    """Send CLIENT_ID's change feed to URL (https) and print its signing secret, once."""
    try:
        secret = services().change_feed.register(client_id, url, actor=ACTOR)
    except ApiClientError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"webhook: {url}")
    click.echo(f"signing secret: {secret}")
    click.echo(
        "Store this secret now: the receiver checks each event's signature with it "
        "(Standard Webhooks); it cannot be shown again.",
        err=True,
    )


@clients_cli.command("webhook-remove")
@click.argument("client_id")
def clients_webhook_remove(client_id: str) -> None:
    """Stop CLIENT_ID's change feed."""
    try:
        services().change_feed.remove(client_id, actor=ACTOR)
    except ApiClientError as error:
        raise click.ClickException(error.message) from None
    click.echo(f"no webhook for {client_id}")


@clients_cli.command("deliveries")
@click.argument("client_id")
def clients_deliveries(client_id: str) -> None:
    """CLIENT_ID's last webhook deliveries, newest first: time, event, room, status, attempts."""
    try:
        _service().require(client_id)
    except ApiClientError as error:
        raise click.ClickException(error.message) from None
    for entry in services().change_feed.deliveries(client_id):
        click.echo(
            f"{entry['at']}\t{entry['type']}\t{entry['room']}\t{entry['status']}\t"
            f"attempts={entry['attempts']}\t{entry['id']}"
        )
