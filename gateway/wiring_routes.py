"""The blueprints the gateway serves and the checks around every request, in the order
they wrap it."""

from __future__ import annotations

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from gateway.config import Settings
from gateway.errors import register_error_handlers
from gateway.limits import init_limits
from gateway.metrics import init_metrics
from gateway.request_log import init_request_log
from gateway.security import install_body_limit, install_host_check, install_security_headers


def register_blueprints(app: Flask, csrf: CSRFProtect) -> None:
    from gateway.blueprints.admin import admin
    from gateway.blueprints.admin_clients import admin_clients
    from gateway.blueprints.admin_lists import admin_lists
    from gateway.blueprints.admin_room_form import admin_room_form
    from gateway.blueprints.admin_rooms import admin_rooms
    from gateway.blueprints.admin_webhooks import admin_webhooks
    from gateway.blueprints.api import api
    from gateway.blueprints.api_v1 import api_v1
    from gateway.blueprints.auth import auth
    from gateway.blueprints.availability import availability
    from gateway.blueprints.consent import consent
    from gateway.blueprints.pages import pages
    from gateway.blueprints.privacy import privacy
    from gateway.blueprints.register import register
    from gateway.blueprints.rooms import rooms
    from gateway.blueprints.webhooks import webhooks
    from gateway.blueprints.well_known import well_known

    app.register_blueprint(pages)
    app.register_blueprint(auth)
    app.register_blueprint(api)
    app.register_blueprint(register)
    app.register_blueprint(consent)
    app.register_blueprint(rooms)
    app.register_blueprint(admin_rooms)
    app.register_blueprint(admin)
    app.register_blueprint(admin_lists)
    app.register_blueprint(admin_room_form)
    app.register_blueprint(admin_clients)
    app.register_blueprint(admin_webhooks)
    app.register_blueprint(availability)
    app.register_blueprint(privacy)
    app.register_blueprint(api_v1)
    app.register_blueprint(well_known)
    app.register_blueprint(webhooks)
    csrf.exempt(webhooks)  # providers post notifications; each is checked by its secret
    csrf.exempt(api_v1)  # it checks CSRF itself for session callers, not for Bearer ones
    csrf.exempt("gateway.blueprints.auth.form_post_callback")
    # sends back a receipt only if this gateway signed it, changes nothing, reads no session
    # (the erased page's, whose session is gone): nothing a forged request could abuse
    csrf.exempt("gateway.blueprints.privacy.download_shown_receipt")


def install_request_guards(app: Flask, settings: Settings, redis_url: str) -> None:
    """The checks around every request, in the order they wrap it."""
    from gateway.blueprints.api_v1 import PUBLIC_ENDPOINTS, api_v1, request_caller

    # before the limiter: a request whose session store failed is refused at once, without
    # the limiter first waiting for the same Redis
    register_error_handlers(app, interval_seconds=settings.error_log_interval_seconds)
    install_host_check(app)
    init_limits(
        app, redis_url, limited=api_v1, public_endpoints=PUBLIC_ENDPOINTS, caller=request_caller
    )
    install_security_headers(app, https=settings.secure_cookies)
    install_body_limit(app, settings.max_content_length)  # innermost WSGI wrapper
    init_request_log(app)
    init_metrics(app)  # last: outermost, so a scrape is neither logged nor counted
