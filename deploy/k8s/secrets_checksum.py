"""Write the live Secret's checksum into an overlay, so that a changed Secret rolls the pods.

The pods read the Secret `consent-gateway-secrets` (mounted as files) only at start. Each
overlay's `consent-gateway-site` names `secrets-checksum=sha256:...` once, and
../components/site copies it onto both pod templates (web and worker) as the annotation
`consent-gateway/secrets-checksum`: a new value is a new pod template, so the next apply
is a rolling update. Run before every apply (`make k8s-apply ENV=prod` does both):

    kubectl -n consent-gateway get secret consent-gateway-secrets -o json \\
      | python deploy/k8s/secrets_checksum.py deploy/k8s/overlays/prod

Why a step and not kustomize's secretGenerator (whose hash-suffixed names roll the pods by
themselves): that needs every secret value as a file beside the overlay at build time, so
it cannot work with a Secret made out of band (sealed-secrets, External Secrets, `kubectl
create secret`), and it would put the values into the rendered manifests.

The checksum is SHA-256 of the Secret's `data` as canonical JSON (keys sorted): the same
Secret gives the same value however kubectl orders it, and any changed, added or removed key
gives another. Only the checksum is printed, never a key's value. Standard library only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import sys
from pathlib import Path
from typing import Any

LITERAL = re.compile(r"(secrets-checksum=)sha256:[0-9a-z]+")


class Refused(Exception):
    """The input or the overlay is not what this step expects; nothing was written."""


def checksum(secret: dict[str, Any]) -> str:
    """`sha256:<hex>` of a Secret as `kubectl get secret -o json` prints it."""
    if secret.get("kind") != "Secret":
        raise Refused("the input is not a Secret (kubectl get secret ... -o json)")
    data = secret.get("data")
    if not isinstance(data, dict) or not data:
        raise Refused("the Secret has no data: create it first (deploy/k8s/README.md)")
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()


def write(overlay: Path, value: str) -> bool:
    """Put `value` into the overlay's one `secrets-checksum=` literal; True if it changed."""
    kustomization = overlay / "kustomization.yaml"
    text = kustomization.read_text()
    found = LITERAL.findall(text)
    if len(found) != 1:
        raise Refused(f"{kustomization} must name secrets-checksum=sha256:... exactly once")
    updated = LITERAL.sub(lambda m: m.group(1) + value, text)
    if updated != text:
        kustomization.write_text(updated)
    return updated != text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("overlay", type=Path, help="e.g. deploy/k8s/overlays/prod")
    arguments = parser.parse_args(argv)
    try:
        try:
            secret = json.load(sys.stdin)
        except json.JSONDecodeError:
            raise Refused("the input is not JSON (kubectl get secret ... -o json)") from None
        value = checksum(secret if isinstance(secret, dict) else {})
        changed = write(arguments.overlay, value)
    except (Refused, OSError) as error:
        print(f"secrets checksum not written: {error}", file=sys.stderr)
        return 2
    print(
        f"secrets-checksum={value} {'written to' if changed else 'already in'} {arguments.overlay}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
