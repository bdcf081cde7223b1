"""The admin console's lists: rooms, people, API clients and grants by state.

GET pages with a search box and previous/next links (no script: the CSP allows none). The
lists come from services/admin_directory.py, which audits every person whose name a page
shows. This blueprint also tells every page whether to show the "Admin" link.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, render_template, request

from gateway.blueprints.guards import admin_required, is_admin, signed_in_uid
from gateway.context import services
from gateway.services.admin_directory import GRANT_STATE_WORDS, GRANT_STATES, QUERY_MAX
from gateway.services.room_status import WORDS

admin_lists = Blueprint("admin_lists", __name__, url_prefix="/admin")
PAGE_MAX = 100_000


@admin_lists.app_context_processor
def admin_link() -> dict[str, Any]:
    """`show_admin_link` for base.html: the nav offers the console to admins only."""

    def show_admin_link() -> bool:
        return is_admin()

    return {"show_admin_link": show_admin_link}


def search() -> tuple[str, int]:
    """The search (`q`) and the page number (`page`, from 1) of a list's query string."""
    query = request.args.get("q", "")
    if len(query) > QUERY_MAX:
        abort(400, f"Keep the search under {QUERY_MAX} characters.")
    raw = request.args.get("page", "1").strip() or "1"
    if not raw.isdigit() or not 1 <= int(raw) <= PAGE_MAX:
        abort(400, "The page is a whole number from 1.")
    return query.strip(), int(raw)


@admin_lists.get("/rooms")
@admin_required
def rooms() -> str:
    query, number = search()
    page = services().directory.room_list(query, number, actor=signed_in_uid())
    return render_template("admin_rooms.html", page=page, words=WORDS)


@admin_lists.get("/people")
@admin_required
def people() -> str:
    query, number = search()
    page = services().directory.people(query, number, actor=signed_in_uid())
    titles = {name: c.title for name, c in services().signin.connectors.items()}
    return render_template("admin_people.html", page=page, titles=titles)


@admin_lists.get("/clients")
@admin_required
def clients() -> str:
    query, number = search()
    page = services().directory.client_list(query, number)
    return render_template("admin_clients.html", page=page)


@admin_lists.get("/grants")
@admin_required
def grants() -> str:
    state = request.args.get("state", "active")
    if state not in GRANT_STATES:
        abort(400, f"The state is one of: {', '.join(GRANT_STATES)}.")
    query, number = search()
    page = services().directory.grant_list(state, query, number)
    titles = {name: c.title for name, c in services().signin.connectors.items()}
    return render_template(
        "admin_grants.html", page=page, state=state, states=GRANT_STATE_WORDS, titles=titles
    )
