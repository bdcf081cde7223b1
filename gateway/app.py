"""The app factory: configuration in, a wired Flask app out.

`create_app` is the table of contents; each step is a named builder: wiring_flask.py (logging,
Flask's settings, Redis and the session, page helpers), wiring_services.py (every service and
its collaborators), wiring_routes.py (the blueprints and the checks around every request).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from flask import Flask
from flask_wtf.csrf import CSRFProtect

from gateway import local
from gateway.cli import register_cli
from gateway.cli_errors import for_cli
from gateway.config import Settings
from gateway.storage.redis_client import connect
from gateway.tracing_otel import install_tracing
from gateway.wiring_flask import (
    configure_flask,
    configure_logging,
    install_page_helpers,
    session_interface,
    settle_answers,
    start_redis,
)
from gateway.wiring_routes import install_request_guards, register_blueprints
from gateway.wiring_services import build_services

csrf = CSRFProtect()


def create_app(config: Settings | Mapping[str, str] | None = None) -> Flask:
    """Build the app from `GATEWAY_*` variables (the environment when `config` is None)."""
    if config is None and local.under_flask_cli():  # `flask --app gateway ...`
        # var/ defaults (local.py); Redis down at start is one line too (cli_errors.py)
        return for_cli(lambda: create_app(local.cli_settings(os.environ)))
    settings = config if isinstance(config, Settings) else Settings.from_env(config or os.environ)
    configure_logging(settings.log_level)
    app = Flask(__name__)
    configure_flask(app, settings)

    embedded, redis_url = start_redis(settings)
    client = connect(redis_url)
    app.session_interface = session_interface(client, settings)
    csrf.init_app(app)
    app.extensions["gateway"] = build_services(settings, client, embedded)

    register_cli(app)
    install_page_helpers(app)
    # A request or CLI command that changed free/busy answers ends only once no worker can
    # still serve the old ones (storage/answers.py).
    app.teardown_appcontext(settle_answers)
    register_blueprints(app, csrf)
    install_request_guards(app, settings, redis_url)
    install_tracing(app, settings.otel_enabled)  # after the request log: it agrees with it
    return app
