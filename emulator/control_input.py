"""Reading the control API's JSON bodies: each reader raises `BadInput`, which every control
blueprint answers as a 400 `{"error", "message"}` (`bad_input`), never a stack trace."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response, request

from emulator.errors import control_error


class BadInput(ValueError):
    """Input the control API refuses; `error` is the answer's machine code."""

    def __init__(self, message: str, error: str = "invalid_request") -> None:
        super().__init__(message)
        self.error = error


def bad_input(error: BadInput) -> Response:
    """The error handler each control blueprint registers for `BadInput`."""
    return control_error(error.error, str(error))


def body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise BadInput("the body must be a JSON object", "invalid_json")
    return data


def text(data: dict[str, Any], name: str, *, required: bool = True) -> str | None:
    value = data.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise BadInput(f"{name!r} must be a non-empty string")
    return value.strip()


def whole(data: dict[str, Any], name: str, default: int | None, low: int, high: int) -> int | None:
    value = data.get(name, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise BadInput(f"{name!r} must be a whole number from {low} to {high}")
    return value


def moment(data: dict[str, Any], name: str) -> datetime:
    raw = text(data, name)
    try:
        value = datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        raise BadInput(f"{name!r} must be an RFC 3339 date-time") from None
    if value.tzinfo is None:
        raise BadInput(f"{name!r} needs a UTC offset or Z")
    return value
