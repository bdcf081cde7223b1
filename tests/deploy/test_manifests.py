"""The deployment files hold the line: probes, limits, no root, no privilege escalation, and
no secret written into a manifest; the retention sweep runs from a CronJob whose command
really sweeps. The checks are run on a bad example too, so they bite."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S_FILES = sorted((DEPLOY / "k8s").glob("*.yaml"))
COMPOSE = DEPLOY / "compose.yaml"
DOCKERFILE = DEPLOY / "Dockerfile"

SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|CREDENTIAL|PRIVATE|ENCRYPTION_KEYS|API_KEY")
CREDENTIAL_IN_URL = re.compile(r"://[^/\s:@]*:[^/\s@]+@")
LONG_RANDOM = re.compile(r"[A-Za-z0-9+/_=.-]{32,}")
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job", "Pod"}
BATCH = {"Job", "CronJob"}  # run to completion: bounded in time instead of probed
REPOSITORY = DEPLOY.parent


def load_all(path: Path) -> list[dict[str, Any]]:
    with path.open() as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def k8s_documents() -> list[dict[str, Any]]:
    return [doc for path in K8S_FILES for doc in load_all(path)]


def of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for doc in k8s_documents() if doc.get("kind") == kind]


def pod_spec(doc: dict[str, Any]) -> dict[str, Any] | None:
    kind = doc.get("kind")
    if kind == "Pod":
        return doc["spec"]
    if kind == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    if kind in WORKLOADS:
        return doc["spec"]["template"]["spec"]
    return None


def containers(doc: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any], bool]]:
    """(pod spec, container, is_init) of every container of a workload document."""
    spec = pod_spec(doc)
    if spec is None:
        return
    for container in spec.get("initContainers", []):
        yield spec, container, True
    for container in spec.get("containers", []):
        yield spec, container, False


def looks_secret(name: str, value: Any) -> bool:
    text = str(value)
    if text.startswith("${") or not text:
        return False  # interpolated from the environment, or empty
    return bool(
        SECRET_NAME.search(name.upper())
        or CREDENTIAL_IN_URL.search(text)
        or (LONG_RANDOM.fullmatch(text) and not text.startswith(("http", "/")))
    )


def container_problems(
    spec: dict[str, Any], container: dict[str, Any], init: bool, batch: bool = False
) -> list[str]:
    name = container.get("name", "?")
    problems = []
    if not init and not batch:
        for probe in ("readinessProbe", "livenessProbe"):
            if probe not in container:
                problems.append(f"{name}: no {probe}")
    limits = container.get("resources", {}).get("limits", {})
    requests = container.get("resources", {}).get("requests", {})
    if not {"cpu", "memory"} <= limits.keys() or not {"cpu", "memory"} <= requests.keys():
        problems.append(f"{name}: cpu and memory requests and limits are not all set")
    pod_security = spec.get("securityContext", {})
    security = container.get("securityContext", {})
    if not security.get("runAsNonRoot", pod_security.get("runAsNonRoot")):
        problems.append(f"{name}: runAsNonRoot is not true")
    if security.get("runAsUser", pod_security.get("runAsUser")) == 0:
        problems.append(f"{name}: runs as uid 0")
    if security.get("allowPrivilegeEscalation") is not False:
        problems.append(f"{name}: allowPrivilegeEscalation is not false")
    if security.get("privileged"):
        problems.append(f"{name}: privileged")
    if security.get("readOnlyRootFilesystem") is not True:
        problems.append(f"{name}: root filesystem is writable")
    for env in container.get("env", []):
        if "value" in env and looks_secret(env["name"], env["value"]):
            problems.append(f"{name}: env {env['name']} is inlined; use a secretKeyRef")
    return problems


def batch_problems(doc: dict[str, Any]) -> list[str]:
    """A CronJob never overlaps itself, and each run is bounded and retried a few times."""
    name = doc.get("metadata", {}).get("name", "?")
    problems = []
    if doc.get("spec", {}).get("concurrencyPolicy") != "Forbid":
        problems.append(f"{name}: concurrencyPolicy is not Forbid")
    job = doc.get("spec", {}).get("jobTemplate", {}).get("spec", {})
    if not job.get("activeDeadlineSeconds"):
        problems.append(f"{name}: no activeDeadlineSeconds")
    if job.get("backoffLimit") is None:
        problems.append(f"{name}: no backoffLimit")
    if job.get("template", {}).get("spec", {}).get("restartPolicy") not in ("Never", "OnFailure"):
        problems.append(f"{name}: restartPolicy must be Never or OnFailure")
    return problems


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    """A label selector (matchLabels, matchExpressions with In/NotIn) applied to labels."""
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions", []):
        inside = labels.get(expression["key"]) in expression.get("values", [])
        if inside != (expression["operator"] == "In"):
            return False
    return True


def secret_problems(doc: dict[str, Any]) -> list[str]:
    if doc.get("kind") == "Secret" and (doc.get("data") or doc.get("stringData")):
        return [f"Secret {doc['metadata']['name']} has its values in the manifest"]
    if doc.get("kind") == "ConfigMap":
        return [
            f"ConfigMap {doc['metadata']['name']}: {key} looks like a secret"
            for key, value in (doc.get("data") or {}).items()
            if looks_secret(key, value)
        ]
    return []


# -- Kubernetes ----------------------------------------------------------------------------------
def test_every_manifest_parses_and_names_its_kind() -> None:
    assert K8S_FILES
    kinds = {doc["kind"] for doc in k8s_documents()}
    expected = {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"}
    assert expected | {"NetworkPolicy"} <= kinds
    for doc in k8s_documents():
        assert doc.get("apiVersion"), doc


def test_every_container_is_probed_limited_and_unprivileged() -> None:
    found = [(c, doc["kind"] in BATCH) for doc in k8s_documents() for c in containers(doc)]
    assert found
    problems = [
        p for (spec, c, init), batch in found for p in container_problems(spec, c, init, batch)
    ]
    assert problems == []


def test_the_gateway_is_probed_on_its_health_routes_and_writes_only_to_tmp() -> None:
    [deployment] = of_kind("Deployment")
    spec = pod_spec(deployment)
    assert spec is not None
    [gateway] = spec["containers"]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    tmp = [m for m in gateway["volumeMounts"] if m["mountPath"] == "/tmp"]  # noqa: S108
    assert tmp and any("emptyDir" in v for v in spec["volumes"] if v["name"] == tmp[0]["name"])
    assert spec["automountServiceAccountToken"] is False


def test_secrets_come_from_a_secret_reference_never_from_the_manifest() -> None:
    [deployment] = of_kind("Deployment")
    spec = pod_spec(deployment)
    assert spec is not None
    [gateway] = spec["containers"]
    assert any("secretRef" in source for source in gateway.get("envFrom", []))
    assert [p for doc in k8s_documents() for p in secret_problems(doc)] == []


def test_the_checks_catch_a_bad_manifest() -> None:
    bad = {
        "kind": "Deployment",
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {
                            "name": "app",
                            "env": [
                                {"name": "GATEWAY_SECRET_KEY", "value": "hunter2hunter2"},
                                {"name": "GATEWAY_REDIS_URL", "value": "redis://gw:pw@r:6379/0"},
                                {"name": "SOMETHING", "value": "Zm9vYmFyYmF6cXV4" * 3},
                                {"name": "GATEWAY_PUBLIC_URL", "value": "https://gw.example"},
                            ],
                            "securityContext": {"allowPrivilegeEscalation": True},
                        }
                    ]
                }
            }
        },
    }
    [(spec, container, init)] = list(containers(bad))

    problems = container_problems(spec, container, init)

    for expected in (
        "no readinessProbe",
        "no livenessProbe",
        "requests and limits",
        "runAsNonRoot",
        "allowPrivilegeEscalation",
        "writable",
        "env GATEWAY_SECRET_KEY",
        "env GATEWAY_REDIS_URL",
        "env SOMETHING",
    ):
        assert any(expected in p for p in problems), expected
    assert not any("GATEWAY_PUBLIC_URL" in p for p in problems)
    assert secret_problems({"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}})
    unbounded = {"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {}}}
    assert len(batch_problems(unbounded)) == 4
    assert not selects({"matchLabels": {"a": "1"}}, {"a": "2"})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {})


def test_network_policy_admits_only_the_ingress_and_monitoring_and_limits_egress() -> None:
    [policy] = of_kind("NetworkPolicy")
    spec = policy["spec"]
    assert set(spec["policyTypes"]) == {"Ingress", "Egress"}
    sources = {
        peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        for rule in spec["ingress"]
        for peer in rule["from"]
    }
    assert sources == {"ingress-nginx", "monitoring"}
    ports = {port["port"] for rule in spec["egress"] for port in rule["ports"]}
    assert ports == {53, 443, 6379, 26379}
    internet = [rule for rule in spec["egress"] if any("ipBlock" in p for p in rule["to"])]
    assert [p["port"] for rule in internet for p in rule["ports"]] == [443]
    assert "10.0.0.0/8" in internet[0]["to"][0]["ipBlock"]["except"]


def test_autoscaling_and_disruption_budget_point_at_the_gateway() -> None:
    [deployment] = of_kind("Deployment")
    name = deployment["metadata"]["name"]
    labels = deployment["spec"]["selector"]["matchLabels"]
    [hpa] = of_kind("HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["name"] == name
    assert hpa["spec"]["minReplicas"] >= 2
    [pdb] = of_kind("PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"] == labels
    [service] = of_kind("Service")
    assert service["spec"]["selector"] == labels


def test_the_retention_sweep_runs_daily_from_a_cronjob_beside_the_gateway() -> None:
    [cron] = of_kind("CronJob")
    [deployment] = of_kind("Deployment")
    assert batch_problems(cron) == []
    assert len(cron["spec"]["schedule"].split()) == 5
    assert cron["spec"]["schedule"].split()[2:] == ["*", "*", "*"]  # every day
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    assert "retention-cronjob.yaml" in kustomization["resources"]

    pod = cron["spec"]["jobTemplate"]["spec"]["template"]
    [sweeper] = pod["spec"]["containers"]
    [gateway] = pod_spec(deployment)["containers"]  # type: ignore[index]
    assert sweeper["command"] == ["flask", "--app", "gateway", "retention", "run"]
    assert sweeper["image"] == gateway["image"]
    assert sweeper["envFrom"] == gateway["envFrom"]  # the same Secret: Redis, keys, providers
    # the network policy lets it reach Redis and the providers; no Service or PDB selects it
    labels = pod["metadata"]["labels"]
    [policy] = of_kind("NetworkPolicy")
    assert selects(policy["spec"]["podSelector"], labels)
    assert selects(
        policy["spec"]["podSelector"], deployment["spec"]["template"]["metadata"]["labels"]
    )
    [service] = of_kind("Service")
    [pdb] = of_kind("PodDisruptionBudget")
    assert not selects({"matchLabels": service["spec"]["selector"]}, labels)
    assert not selects(pdb["spec"]["selector"], labels)


def test_the_cronjobs_command_sweeps_with_its_manifest_environment(
    gateway_env: dict[str, str], redis_client: Any
) -> None:
    """The container's command and env, run here against the test Redis and emulator with
    the Secret's values filled in: it exits 0 and reports a sweep."""
    [cron] = of_kind("CronJob")
    [sweeper] = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}  # noqa: S108
    env |= {item["name"]: item["value"] for item in sweeper["env"]}
    env["GATEWAY_DATA_DIR"] = gateway_env["GATEWAY_DATA_DIR"]  # /tmp/gateway in the pod
    secret = ("SECRET_KEY", "ENCRYPTION_KEYS", "REDIS_URL", "EMULATOR_URL", "CA_BUNDLE")
    env |= {f"GATEWAY_{name}": gateway_env[f"GATEWAY_{name}"] for name in secret}
    [program, *arguments] = sweeper["command"]
    binary = Path(sys.executable).with_name(program)
    done = subprocess.run(
        [str(binary), *arguments],
        cwd=REPOSITORY,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "idle grants revoked 0" in done.stdout


def test_the_ingress_buffers_whole_requests_and_documents_the_client_timeouts() -> None:
    """gunicorn bounds only the first byte of a request: the ingress must buffer requests
    and bound slow headers and bodies (tests/serving/test_slow_clients.py shows why)."""
    [ingress] = of_kind("Ingress")
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-request-buffering"] == "on"
    worker_timeout = re.search(
        r"^timeout = (\d+)$", (DEPLOY / "gunicorn.conf.py").read_text(), re.M
    )
    assert worker_timeout
    read_timeout = int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"])
    assert read_timeout > int(worker_timeout.group(1))
    [service] = of_kind("Service")
    backends = [
        path["backend"]["service"]
        for rule in ingress["spec"]["rules"]
        for path in rule["http"]["paths"]
    ]
    port_names = {port["name"] for port in service["spec"]["ports"]}
    assert backends and all(b["name"] == service["metadata"]["name"] for b in backends)
    assert all(b["port"]["name"] in port_names for b in backends)
    required = (DEPLOY / "k8s" / "ingress.yaml").read_text()
    for setting in ("client-header-timeout", "client-body-timeout", "REQUIRED"):
        assert setting in required
    kustomized = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())["resources"]
    assert sorted(kustomized) == sorted(p.name for p in K8S_FILES if p.name != "kustomization.yaml")


# -- compose -------------------------------------------------------------------------------------
def compose_services() -> dict[str, dict[str, Any]]:
    [compose] = load_all(COMPOSE)
    return compose["services"]


def test_compose_services_are_checked_unprivileged_and_get_secrets_from_files() -> None:
    services = compose_services()
    assert {"gateway", "redis"} <= services.keys()
    for name, service in services.items():
        assert "healthcheck" in service, name
        assert str(service.get("user", "root")).split(":")[0] not in ("root", "0"), name
        assert "no-new-privileges:true" in service.get("security_opt", []), name
        assert service.get("read_only") is True, name
        environment = service.get("environment", {})
        if isinstance(environment, list):
            environment = dict(item.split("=", 1) for item in environment)
        inlined = [k for k, v in environment.items() if looks_secret(k, v)]
        assert inlined == [], name
    assert services["gateway"]["env_file"]


def test_compose_redis_runs_the_deploy_config_with_a_persistent_aof_volume() -> None:
    redis = compose_services()["redis"]
    assert "/usr/local/etc/redis/redis.conf" in redis["command"]
    assert any(v.startswith("./redis.conf:") for v in redis["volumes"])
    data = [v for v in redis["volumes"] if v.split(":")[1] == "/data"]
    assert data and not data[0].startswith(("/", "."))  # a named volume
    conf = (DEPLOY / "redis.conf").read_text()
    assert re.search(r"^appendonly yes$", conf, re.M)
    assert re.search(r"^appendfsync everysec$", conf, re.M)
    assert re.search(r"^maxmemory-policy noeviction$", conf, re.M)


# -- Dockerfile ----------------------------------------------------------------------------------
def dockerfile_instructions() -> list[tuple[str, str]]:
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            keyword, _, rest = line.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def test_dockerfile_runs_gunicorn_as_a_non_root_user_with_a_healthcheck() -> None:
    instructions = dockerfile_instructions()
    bases = [rest for keyword, rest in instructions if keyword == "FROM"]
    assert len(bases) == 2  # a build stage, then the image
    assert all(re.match(r"python:3\.11(\.\d+)?-slim", base) for base in bases)
    users = [rest for keyword, rest in instructions if keyword == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    [healthcheck] = [rest for keyword, rest in instructions if keyword == "HEALTHCHECK"]
    assert "/healthz" in healthcheck
    [command] = [rest for keyword, rest in instructions if keyword == "CMD"]
    assert re.search(r"gunicorn -c deploy/gunicorn\.conf\.py .*'gateway:create_app\(\)'", command)
    assert any(k == "RUN" and "-r /tmp/requirements.lock" in rest for k, rest in instructions)


@pytest.mark.parametrize("path", [COMPOSE, DOCKERFILE, *K8S_FILES], ids=lambda p: p.name)
def test_no_secret_value_is_written_in_a_deploy_file(path: Path) -> None:
    text = path.read_text()
    assert not CREDENTIAL_IN_URL.search(text.replace("PASSWORD@", "")), path.name
    assert "BEGIN PRIVATE KEY" not in text


def test_compose_puts_the_buffering_front_before_gunicorn() -> None:
    """As `make serve` does: gateway.front on the published port, gunicorn on the unix
    socket the front forwards to, nothing else listening."""
    gateway = compose_services()["gateway"]
    command = " ".join(gateway["command"])
    front = re.search(
        r"exec python -m gateway\.front --listen 0\.0\.0\.0:8000 --upstream (\S+) --", command
    )
    assert front, command
    bind = re.search(
        r"gunicorn -c deploy/gunicorn\.conf\.py .*--bind (\S+) 'gateway:create_app\(\)'", command
    )
    assert bind and bind.group(1) == front.group(1) and bind.group(1).startswith("unix:/tmp/")
    assert [p.split(":")[-1] for p in gateway["ports"]] == ["8000"]
