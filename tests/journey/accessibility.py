"""axe-core in the browser tests: a page may have no serious or critical violation.

axe-core 4.12 comes bundled in the pinned `axe-playwright-python` (requirements-dev.txt);
Playwright's evaluate runs it outside the page's CSP, so the gateway's policy stays strict.
"""

from __future__ import annotations

from typing import Any

from axe_playwright_python.sync_playwright import Axe

BLOCKING = frozenset({"serious", "critical"})
_AXE = Axe()


def blocking_violations(page: Any) -> list[str]:
    """`rule (impact): first offending element` of each serious or critical violation."""
    results = _AXE.run(page)
    return [
        f"{v['id']} ({v['impact']}): {v['nodes'][0]['target'] if v['nodes'] else ''}"
        for v in results.response["violations"]
        if v.get("impact") in BLOCKING
    ]


def assert_accessible(page: Any) -> None:
    found = blocking_violations(page)
    assert not found, found
