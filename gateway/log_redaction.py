"""What a log line may say of a text, a URL or an exception: nothing that is a credential.

The request log's last line of defence: messages are scrubbed of anything that looks like a
credential parameter, a URL's user:password, a bearer token, a JWT or an e-mail address, and
an exception is named by its type only. `redact_url` is the same rule for a URL printed
anywhere else (configuration, the CLI, the mailer). Kept apart from `request_log` so code
that only prints a URL or names an error need not import Flask's request machinery.
"""

from __future__ import annotations

import re

# The userinfo (user:password@) of a URL: everything from `scheme://` to the last @ before
# the path, so a password with an unescaped @ is covered too.
USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s?#]*@")
REDACTIONS = (
    (USERINFO, r"\1[redacted]@"),
    (
        re.compile(
            r"(?i)\b(code|state|nonce|code_verifier|client_secret|password|assertion|"
            r"(?:access_|refresh_|id_)?token)=[^&\s\"']+"
        ),
        r"\1=[redacted]",
    ),
    (re.compile(r"(?i)\bbearer\s+[\w.~+/=-]+"), "Bearer [redacted]"),
    (re.compile(r"\beyJ[\w-]+\.[\w-]+\.[\w-]*"), "[jwt]"),
    (re.compile(r"[\w.%+-]+@[\w-]+(?:\.[\w-]+)+"), "[email]"),
)


def kind_of(error: BaseException) -> str:
    """The exception's type, qualified unless built in: all a log line says of it."""
    cls = type(error)
    name = cls.__qualname__
    return name if cls.__module__ == "builtins" else f"{cls.__module__}.{name}"


def redact_url(url: str) -> str:
    """A URL (Redis, Sentinel, a provider's) as it may be printed or logged: no credential."""
    return USERINFO.sub(r"\1[redacted]@", url)


def scrub(text: str) -> str:
    for pattern, replacement in REDACTIONS:
        text = pattern.sub(replacement, text)
    return text
