"""Every CLI error is one line that says what to change, never a traceback.

The admin command groups are `CliGroup`s: a refused input already raises a
`click.ClickException` (one line); what else can go wrong from the command line, a
configuration mistake, Redis down or refusing, or a bug, is turned into one too. Loading
the app for `flask --app gateway ...` goes through `for_cli`, so a configuration mistake
or an unreachable Redis at start is one line as well (click prints `Error: ...`, status 1).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask.cli import AppGroup

from gateway.config import ConfigError
from gateway.errors import StorageCredentialsRefused, StorageError, StorageUnreachable

log = logging.getLogger(__name__)
T = TypeVar("T")


def one_line(error: BaseException) -> click.ClickException:
    """The error as the single line the person reads (no secret: redis-py's messages name
    the host and port, never the URL's password)."""
    first = (str(error).strip().splitlines() or [""])[0]
    if isinstance(error, ConfigError):
        return click.ClickException(f"configuration: {first}")
    if isinstance(error, StorageCredentialsRefused):
        return click.ClickException(
            f"Redis refused the credentials: {first} (check GATEWAY_REDIS_URL)"
        )
    if isinstance(error, StorageUnreachable):
        return click.ClickException(
            f"Redis is not reachable: {first} (start it, or check GATEWAY_REDIS_URL)"
        )
    if isinstance(error, StorageError):
        return click.ClickException(f"Redis refused the command: {first}")
    log.debug("CLI command failed", exc_info=error)  # the traceback only at DEBUG
    return click.ClickException(f"unexpected error ({type(error).__name__}): {first}")


def for_cli(build: Callable[[], T]) -> T:
    try:
        return build()
    except (ConfigError, StorageError) as error:
        raise one_line(error) from None


class OneLineUsage(click.ClickException):
    exit_code = 2  # as click's own usage errors


class CliGroup(AppGroup):
    """An AppGroup whose commands fail with one line, whatever fails."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as error:  # one line too, not usage + hint + error
            where = f"{error.ctx.command_path}: " if error.ctx else ""
            raise OneLineUsage(f"{where}{error.format_message()} (see --help)") from None
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit):
            raise
        except Exception as error:
            raise one_line(error) from None
