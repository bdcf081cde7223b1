"""Settings read from files: `GATEWAY_<NAME>_FILE` and `GATEWAY_SECRETS_DIR`.

Why: a Kubernetes Secret (or a Docker/compose secret) is best mounted as files, not copied
into environment variables, which every child process inherits and `/proc/PID/environ`,
crash reporters and `docker inspect` show. So any `GATEWAY_<NAME>` may instead be given as

- `GATEWAY_<NAME>_FILE=/path`: the file's content is the value, or
- `GATEWAY_SECRETS_DIR=/path`: every file in that folder named `GATEWAY_<NAME>` is a value
  (a Secret mounted as a volume, its keys named like the variables; the kubelet's own
  `..data` entries are skipped).

One trailing newline (LF or CRLF) is dropped, as `echo` and most editors add one. Setting
one value twice (the variable and its `_FILE`, or either and a file in the folder) is a
mistake, not an override, and so is a file that cannot be read or is empty: each stops
start-up with one line naming the variable and the path, never the content.

`resolve` maps the environment to the plain `GATEWAY_*` variables that gateway/config.py
parses; everything after it never sees a `_FILE`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path

SUFFIX = "_FILE"
DIRECTORY_VARIABLE = "GATEWAY_SECRETS_DIR"
# A setting's name, as a file in GATEWAY_SECRETS_DIR must be called to be read.
VARIABLE_NAME = re.compile(r"GATEWAY_[A-Z0-9_]+")
# Far above any key ring or URL; bounds what a wrong path (a device, a log file) can cost.
MAX_BYTES = 64 * 1024


class SecretFileError(ValueError):
    """A setting's file cannot be used; the message is one line naming variable and path."""


def resolve(environ: Mapping[str, str]) -> dict[str, str]:
    """The `GATEWAY_*` variables of `environ` with every file-given value read in.

    Variables of other names are left out (nothing else here reads them)."""
    env = {k: v for k, v in environ.items() if k.startswith("GATEWAY_")}
    sources: dict[str, str] = {name: name for name, value in env.items() if value.strip()}
    directory = env.pop(DIRECTORY_VARIABLE, "").strip()
    sources.pop(DIRECTORY_VARIABLE, None)
    found: dict[str, str] = {}
    for name in sorted(env):
        if not name.endswith(SUFFIX):
            continue
        path = env.pop(name).strip()
        sources.pop(name, None)
        if not path:
            continue
        target = name[: -len(SUFFIX)]
        _claim(sources, target, name)
        found[target] = _read(path, name)
    if directory:
        for target, path in _directory_entries(directory):
            _claim(sources, target, f"{DIRECTORY_VARIABLE} ({path})")
            found[target] = _read(path, f"{DIRECTORY_VARIABLE} file {target}")
    env.update(found)
    return env


def _claim(sources: dict[str, str], target: str, source: str) -> None:
    if target in sources:
        raise SecretFileError(
            f"{target} is given twice: by {sources[target]} and {source}; keep one"
        )
    sources[target] = source


def _directory_entries(directory: str) -> list[tuple[str, str]]:
    folder = Path(directory)
    try:
        names = sorted(os.listdir(folder))
    except OSError as error:
        raise SecretFileError(
            f"{DIRECTORY_VARIABLE} names a folder that cannot be read: {directory} "
            f"({error.strerror or type(error).__name__})"
        ) from None
    return [
        (name, str(folder / name))
        for name in names
        if VARIABLE_NAME.fullmatch(name) and not (folder / name).is_dir()
    ]


def _read(path: str, variable: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_BYTES + 1)
    except OSError as error:
        reason = error.strerror or type(error).__name__
        raise SecretFileError(
            f"{variable} names a file that cannot be read: {path} ({reason})"
        ) from None
    if len(data) > MAX_BYTES:
        raise SecretFileError(f"{variable} names a file over {MAX_BYTES // 1024} KiB: {path}")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretFileError(f"{variable} names a file that is not UTF-8 text: {path}") from None
    if text.endswith("\n"):
        text = text[:-2] if text.endswith("\r\n") else text[:-1]
    if not text.strip():
        raise SecretFileError(f"{variable} names an empty file: {path}")
    return text
