"""The emulator's HTML: the account and consent page, the form_post answer, error pages.

Plain, accessible HTML with no external assets: a person (or Playwright) picks an account
with `input[name=account]`, unticks scopes with `input[name=scope]`, and presses `#allow`
or `#deny`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from html import escape

from flask import Response

from emulator.records import Account

STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem}"
    "fieldset{margin:1rem 0}label{display:block;margin:.4rem 0}"
    "button{margin-right:.5rem;padding:.4rem 1rem}.note{color:#555}"
)


def _page(title: str, body: str, status: int = 200) -> Response:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLE}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )
    response = Response(html, status=status, mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def consent_page(
    *,
    provider_title: str,
    action: str,
    request_id: str,
    client_id: str,
    accounts: Iterable[Account],
    scopes: Iterable[str],
    granular: bool,
    login_hint: str | None = None,
    message: str | None = None,
) -> Response:
    """Choose an account and, for Google, which of the requested extra scopes to grant."""
    hint = (login_hint or "").lower()
    account_rows = "".join(
        f'<label><input type="radio" name="account" value="{escape(a.email)}" required'
        f"{' checked' if a.email == hint else ''}> {escape(a.name)} "
        f'<span class="note">&lt;{escape(a.email)}&gt;</span></label>'
        for a in accounts
    )
    scopes = list(scopes)
    if not scopes:
        scope_part = '<p class="note">Only your name and e-mail address are shared.</p>'
    elif granular:
        scope_part = (
            "<fieldset><legend>Also allow the app to use</legend>"
            + "".join(
                f'<label><input type="checkbox" name="scope" value="{escape(s)}" checked> '
                f"{escape(s)}</label>"
                for s in scopes
            )
            + "</fieldset>"
        )
    else:
        scope_part = (
            "<p>The app also asks for:</p><ul>"
            + "".join(f"<li>{escape(s)}</li>" for s in scopes)
            + "</ul>"
        )
    notice = f'<p role="alert"><strong>{escape(message)}</strong></p>' if message else ""
    body = (
        f"<h1>Sign in with {escape(provider_title)}</h1>"
        f"<p>The application <code>{escape(client_id)}</code> wants to sign you in.</p>{notice}"
        f'<form method="post" action="{escape(action)}">'
        f'<input type="hidden" name="request_id" value="{escape(request_id)}">'
        f"<fieldset><legend>Choose an account</legend>{account_rows}</fieldset>"
        f"{scope_part}"
        '<button type="submit" id="allow" name="decision" value="allow">Allow</button>'
        '<button type="submit" id="deny" name="decision" value="deny" formnovalidate>'
        "Cancel</button></form>"
        '<p class="note">This is the local provider emulator: no password is needed.</p>'
    )
    return _page(f"Sign in with {provider_title}", body, 400 if message else 200)


def form_post_page(action: str, fields: Mapping[str, str]) -> Response:
    """OAuth 2.0 Form Post Response Mode: a form that submits itself to the redirect URI."""
    inputs = "".join(
        f'<input type="hidden" name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )
    body = (
        f'<form method="post" action="{escape(action)}">{inputs}'
        '<noscript><button type="submit">Continue</button></noscript></form>'
        "<script>document.forms[0].submit()</script>"
    )
    return _page("Working...", body)


def error_page(status: int, error: str, description: str) -> Response:
    """What a provider shows when it must not redirect (unknown client, wrong redirect URI)."""
    body = (
        f"<h1>Error {status}: <code>{escape(error)}</code></h1>"
        f"<p>{escape(description)}</p>"
        '<p class="note">The request was not sent back to the application.</p>'
    )
    return _page(f"Error {status}: {error}", body, status)
