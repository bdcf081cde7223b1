"""Flask's per-request coroutine check is answered from a function's code flags for plain
functions and methods, and left to Flask for everything else (gateway/wiring_flask.py)."""

from __future__ import annotations

import functools

from flask import Flask

from gateway.wiring_flask import sync_calls_directly


def _app() -> Flask:
    app = Flask(__name__)
    sync_calls_directly(app)
    return app


class Hooks:
    def plain(self) -> str:
        return "plain"

    async def later(self) -> str:
        return "later"


def test_plain_functions_and_methods_are_called_as_they_are() -> None:
    app, hooks = _app(), Hooks()

    def view() -> str:
        return "view"

    assert app.ensure_sync(view) is view
    method = hooks.plain
    assert app.ensure_sync(method) is method


def test_coroutines_and_other_callables_get_what_flask_gives_them() -> None:
    app, plain, hooks = _app(), Flask(__name__), Hooks()
    for func in (hooks.later, functools.partial(hooks.plain)):
        try:
            expected: object = Flask.ensure_sync(plain, func)
        except RuntimeError as error:  # async views without Flask's 'async' extra
            expected = str(error)
        try:
            found: object = app.ensure_sync(func)
        except RuntimeError as error:
            found = str(error)
        if func is hooks.later:
            assert found is not func  # never handed back to be called unawaited
        assert type(found) is type(expected) and (found == expected or callable(found))
