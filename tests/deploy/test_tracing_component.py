"""The optional tracing component (deploy/k8s/components/tracing): added to an overlay, it
turns tracing on in the web and worker pods with the collector named through the standard
OTEL_* variables, and lets exactly those pods reach the collector's OTLP/HTTP port; the
result is still valid Kubernetes. No overlay includes it by default."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import kubernetes_validate
import yaml

from tests.deploy.test_manifests import (
    CUSTOM_KINDS,
    K8S,
    KUBERNETES_VERSION,
    OVERLAYS,
    k8s_documents,
    kubectl,
    pod_spec,
    selects,
)

COMPONENT = K8S / "components" / "tracing"


def with_tracing(overlay: str, folder: Path) -> list[dict[str, Any]]:
    """`overlay` plus the component, as an operator's own overlay would add it."""
    (folder / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "resources": [os.path.relpath(K8S / "overlays" / overlay, folder)],
                "components": [os.path.relpath(COMPONENT, folder)],
            }
        )
    )
    done = subprocess.run(
        [kubectl(), "kustomize", str(folder)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


def test_tracing_reaches_the_collector_from_web_and_worker_pods(tmp_path: Path) -> None:
    docs = with_tracing("prod", tmp_path)
    for doc in docs:
        if doc["kind"] not in CUSTOM_KINDS:
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
    deployments = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Deployment"}
    [policy] = [
        d
        for d in docs
        if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "consent-gateway-tracing"
    ]
    for name in ("consent-gateway", "consent-gateway-worker"):
        spec = pod_spec(deployments[name])
        assert spec is not None
        [container] = spec["containers"]
        env = {item["name"]: item.get("value") for item in container["env"]}
        assert env["GATEWAY_OTEL_ENABLED"] == "1"
        collector = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        # in the cluster, so never through prod's egress proxy
        assert collector.hostname and collector.hostname.endswith(".svc")
        assert any(collector.hostname.endswith(n) for n in env["NO_PROXY"].split(","))
        labels = deployments[name]["spec"]["template"]["metadata"]["labels"]
        assert selects(policy["spec"]["podSelector"], labels)
        [rule] = policy["spec"]["egress"]
        assert [p["port"] for p in rule["ports"]] == [collector.port]
        [peer] = rule["to"]
        namespace = peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
        assert collector.hostname.split(".")[1] == namespace
    assert policy["spec"]["policyTypes"] == ["Egress"]  # only allows more


def test_no_overlay_traces_unless_it_adds_the_component() -> None:
    for overlay in OVERLAYS:
        for doc in k8s_documents(overlay):
            spec = pod_spec(doc)
            for container in (spec or {}).get("containers", []):
                names = {item["name"] for item in container.get("env", [])}
                assert "GATEWAY_OTEL_ENABLED" not in names, (overlay, doc["metadata"]["name"])
