"""A changed Secret rolls the pods: `deploy/k8s/secrets_checksum.py` (run by `make k8s-apply`)
writes the live Secret's checksum into an overlay, kustomize copies it onto the web and the
worker pod templates, and the result is still valid Kubernetes. Run here on a Secret as
`kubectl get secret -o json` prints it (no cluster), in a copy of deploy/k8s."""

from __future__ import annotations

import base64
import json
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from tests.deploy.test_manifests import K8S, KUBERNETES_VERSION, REPOSITORY, kubectl

SCRIPT = K8S / "secrets_checksum.py"
ANNOTATION = "consent-gateway/secrets-checksum"
# made at each run: no secret-looking literal in the repository (detect-secrets)
VALUES = {
    "GATEWAY_SECRET_KEY": secrets.token_urlsafe(32),
    "GATEWAY_ENCRYPTION_KEYS": "v1:" + secrets.token_urlsafe(32),
}


def secret(values: dict[str, str], *, reverse: bool = False) -> str:
    data = {k: base64.b64encode(v.encode()).decode() for k, v in values.items()}
    if reverse:
        data = dict(reversed(data.items()))
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "consent-gateway-secrets", "namespace": "consent-gateway"},
            "type": "Opaque",
            "data": data,
        }
    )


def run(overlay: Path, stdin: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), str(overlay)],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def annotations(overlay: Path) -> dict[str, str]:
    """Deployment name -> its pod template's checksum annotation, as kustomize renders it."""
    done = subprocess.run(
        [kubectl(), "kustomize", str(overlay)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    found = {}
    for doc in yaml.safe_load_all(done.stdout):
        if not doc:
            continue
        if doc["kind"] not in ("ServiceMonitor", "PrometheusRule"):
            kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)
        if doc["kind"] == "Deployment":
            found[doc["metadata"]["name"]] = doc["spec"]["template"]["metadata"]["annotations"][
                ANNOTATION
            ]
    return found


@pytest.fixture
def k8s(tmp_path: Path) -> Path:
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    return copy


def test_the_checksum_reaches_both_pod_templates_and_changes_with_the_secret(k8s: Path) -> None:
    overlay = k8s / "overlays" / "prod"
    assert set(annotations(overlay).values()) == {"sha256:unset"}

    done = run(overlay, secret(VALUES))

    assert done.returncode == 0, done.stderr
    first = annotations(overlay)
    assert set(first) == {"consent-gateway", "consent-gateway-worker"}
    [value] = set(first.values())
    assert re.fullmatch(r"sha256:[0-9a-f]{64}", value)
    assert value in done.stdout
    for shown in VALUES.values():  # only the checksum is said, never a value
        assert shown not in done.stdout + done.stderr
        assert base64.b64encode(shown.encode()).decode() not in done.stdout + done.stderr
    # the same Secret in another key order: the same value, the file left as it was
    text = (overlay / "kustomization.yaml").read_text()
    again = run(overlay, secret(VALUES, reverse=True))
    assert again.returncode == 0 and "already in" in again.stdout
    assert (overlay / "kustomization.yaml").read_text() == text
    # one value changed: a new checksum, so a new pod template and a rolling update
    assert (
        run(overlay, secret({**VALUES, "GATEWAY_SECRET_KEY": secrets.token_urlsafe(32)})).returncode
        == 0
    )
    changed = set(annotations(overlay).values())
    assert len(changed) == 1 and changed != {value}
    # only this overlay's literal moved
    assert set(annotations(k8s / "overlays" / "staging").values()) == {"sha256:unset"}


@pytest.mark.parametrize(
    "stdin",
    [
        "",  # kubectl failed: nothing on the pipe
        "not json",
        json.dumps({"kind": "ConfigMap", "data": {"a": "b"}}),
        json.dumps({"kind": "Secret", "metadata": {"name": "consent-gateway-secrets"}}),
    ],
    ids=["empty", "not-json", "not-a-secret", "no-data"],
)
def test_anything_but_a_secret_with_data_writes_nothing_and_fails(k8s: Path, stdin: str) -> None:
    overlay = k8s / "overlays" / "dev"
    before = (overlay / "kustomization.yaml").read_text()

    done = run(overlay, stdin)

    assert done.returncode == 2
    assert done.stderr.startswith("secrets checksum not written: ")
    assert "Traceback" not in done.stderr
    assert (overlay / "kustomization.yaml").read_text() == before


def test_make_k8s_apply_writes_the_checksum_before_applying() -> None:
    """The Makefile's step takes the live Secret from kubectl and applies only after the
    checksum was written (a failed kubectl or a refused Secret stops it)."""
    makefile = (REPOSITORY / "Makefile").read_text()
    apply = re.search(r"^k8s-apply: (.*)\n((?:\t.*\n)+)", makefile, re.M)
    checksum = re.search(r"^k8s-checksum:.*\n((?:\t.*\n)+)", makefile, re.M)
    assert apply and checksum
    assert apply.group(1).split() == ["k8s-checksum"]
    assert "kubectl apply -k deploy/k8s/overlays/$(ENV)" in apply.group(2)
    recipe = checksum.group(1).replace("\\\n", " ")
    assert re.search(
        r"get secret consent-gateway-secrets -o json\s+\|\s+\$\(PYTHON\) "
        r"deploy/k8s/secrets_checksum\.py deploy/k8s/overlays/\$\(ENV\)",
        recipe,
    ), recipe
