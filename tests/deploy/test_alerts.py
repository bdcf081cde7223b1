"""The PrometheusRule watches what the gateway really exports: every series an alert selects,
and every label value it matches, appears on a fresh gateway's /metrics (the families start
at 0), and every background job has a "late" and a "never ran" alert on its own task label,
with a threshold longer than its period. An alert on a misspelt series or label value never
fires; these checks catch that."""

from __future__ import annotations

import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from gateway.services.jobs import registry
from tests.deploy.test_manifests import of_kind

SELECTOR = re.compile(r"\b(gateway_[a-z_]+)\{([^}]*)\}")
MATCHER = re.compile(r'(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"')
ADDED_BY_PROMETHEUS = {"namespace", "pod", "instance", "job"}  # target labels, not the app's
# an alert's threshold: `time() - max(...) > N * 3600` or `> N`
LATE = re.compile(r"time\(\) - max\(.*\)\s*>\s*(\d+)(?:\s*\*\s*(\d+))?")


def alert_rules() -> dict[str, dict[str, Any]]:
    [rule] = of_kind("PrometheusRule")
    return {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}


def exported_labels(client: Any) -> dict[str, dict[str, set[str]]]:
    """series name -> label -> the values a fresh gateway shows."""
    found: dict[str, dict[str, set[str]]] = {}
    text = client.get("/metrics").get_data(as_text=True)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = found.setdefault(sample.name, {})
            for key, value in sample.labels.items():
                labels.setdefault(key, set()).add(value)
        found.setdefault(family.name, {})
    return found


def selectors(expr: str) -> list[tuple[str, str, str, str]]:
    """(series, label, operator, value) of every matcher on a gateway_* series."""
    return [
        (series, *matcher)
        for series, inside in SELECTOR.findall(expr)
        for matcher in MATCHER.findall(inside)
    ]


def test_every_selected_label_value_is_one_the_gateway_exports(client: Any) -> None:
    exported = exported_labels(client)
    jobs = {
        job.name
        for job in registry(
            sweep_retention=str,
            refresh_idle_grants=str,
            count_reconnects=str,
            renew_watches=str,
            check_changes=str,
        )
    }
    checked = 0
    for name, rule in alert_rules().items():
        for series, label, operator, value in selectors(rule["expr"]):
            assert series in exported, (name, series)
            if label in ADDED_BY_PROMETHEUS:
                continue
            if label == "task":  # written by the jobs when they run: the registry's names
                shown = jobs
            else:
                shown = exported[series].get(label, set())
                assert shown, (name, series, label, "no such label")
            if operator == "=":
                assert value in shown, (name, series, label, value, shown)
            elif operator == "=~":
                for alternative in value.split("|"):
                    assert any(re.fullmatch(alternative, v) for v in shown), (
                        name,
                        series,
                        label,
                        alternative,
                        shown,
                    )
            checked += 1
    assert checked >= 5


def test_every_job_has_a_late_and_a_never_ran_alert_longer_than_its_period() -> None:
    rules = alert_rules()
    for job in registry(
        sweep_retention=str,
        refresh_idle_grants=str,
        count_reconnects=str,
        renew_watches=str,
        check_changes=str,
    ):
        on_task = [
            rule
            for rule in rules.values()
            if ("task", "=", job.name) in {m[1:] for m in selectors(rule["expr"])}
        ]
        late = [rule for rule in on_task if LATE.search(rule["expr"])]
        never = [rule for rule in on_task if rule["expr"].strip().startswith("absent(")]
        assert late and never, job.name
        for rule in late:
            found = LATE.search(rule["expr"])
            assert found
            seconds = int(found.group(1)) * int(found.group(2) or 1)
            assert job.every_seconds < seconds <= 3 * job.every_seconds, (job.name, seconds)
        for rule in never:
            hours = re.fullmatch(r"(\d+)h", rule["for"])
            assert hours and int(hours.group(1)) * 3600 > job.every_seconds, job.name


def test_the_alerts_say_how_bad_and_what_happened() -> None:
    for name, rule in alert_rules().items():
        assert rule["labels"]["severity"] in {"warning", "critical"}, name
        assert rule["annotations"]["summary"], name
