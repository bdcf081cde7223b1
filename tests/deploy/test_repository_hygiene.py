"""The files a platform team looks for first: licence, security policy, contributing guide,
changelog, pre-commit hooks, and a .dockerignore that keeps local secrets out of images."""

from __future__ import annotations

import fnmatch
import os
import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]


def words(text: str) -> str:
    return " ".join(text.split())


def test_the_licence_is_mit_and_the_security_policy_is_the_readmes_paragraph() -> None:
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")
    readme = (ROOT / "README.md").read_text()
    found = re.search(r"\*\*Reporting a vulnerability\.\*\* (.+?)\n\n", readme, re.S)
    assert found
    assert words(found.group(1)) in words((ROOT / "SECURITY.md").read_text())


def test_contributing_says_how_to_run_one_test_the_suite_and_the_benchmarks() -> None:
    text = (ROOT / "CONTRIBUTING.md").read_text()
    assert re.search(r"pytest -q tests/\S+\.py::test_\w+", text)
    assert "make test" in text and "make bench" in text and "python -m bench" in text
    changelog = (ROOT / "CHANGELOG.md").read_text()
    assert "## Unreleased" in changelog


def test_pre_commit_runs_ruff_and_mypy_from_the_pinned_environment() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: hook for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "mypy"} <= hooks.keys()
    for hook in hooks.values():
        tool = hook["entry"].split()[0]
        assert tool.startswith(".venv/bin/") and (ROOT / tool).exists(), tool
    pinned = (ROOT / "requirements-dev.txt").read_text()
    assert re.search(r"^ruff==", pinned, re.M) and re.search(r"^mypy==", pinned, re.M)


def ignored(patterns: list[str], path: str) -> bool:
    """Docker's rule, enough for these patterns: a match on the path or a parent of it."""
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(candidate, pattern.rstrip("/").removeprefix("**/"))
        or fnmatch.fnmatch(parts[-1], pattern.removeprefix("**/"))
        for pattern in patterns
        for candidate in candidates
    )


def test_the_docker_context_leaves_out_local_environments_data_and_history() -> None:
    patterns = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in (".venv/bin/python", "var/secret_key", "var/encryption_keys", ".git/HEAD"):
        assert ignored(patterns, path), path
    assert ignored(patterns, "test-artifacts/secrets.json")
    assert ignored(patterns, "deploy/gateway.env")
    for path in compose_secret_files():
        assert ignored(patterns, path), path
    # what the Dockerfile copies is still there
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    copied = re.findall(r"^COPY (?!--)(\S+)", dockerfile, re.M)  # not --from=stage
    assert copied
    for source in copied:
        assert not ignored(patterns, source.rstrip("/")), source


def compose_secret_files() -> list[str]:
    """What compose reads from the host as secrets: its secrets folder (a file in it) and
    the Redis ACL file, as paths from the repository root."""
    compose = yaml.safe_load((ROOT / "deploy" / "compose.yaml").read_text())
    found = {"deploy/" + file["file"].removeprefix("./") for file in compose["secrets"].values()}
    for service in compose["services"].values():
        for volume in service.get("volumes", []):
            source, target = volume.split(":")[:2]
            if source.startswith("./") and "secret" in target:
                found.add("deploy/" + source.removeprefix("./") + "/GATEWAY_SECRET_KEY")
    return sorted(found)


def test_composes_secret_files_are_never_committed() -> None:
    paths = compose_secret_files()
    assert "deploy/redis-users.acl" in paths and "deploy/secrets/GATEWAY_SECRET_KEY" in paths
    for path in paths:
        checked = subprocess.run(
            ["git", "check-ignore", "--no-index", "-q", path], cwd=ROOT, check=False
        )
        assert checked.returncode == 0, f"{path} is not in .gitignore"


def repository_texts() -> list[Path]:
    """Documents, code and configuration of the checkout, not of its environments or data."""
    skipped = {".venv", ".git", "var", "test-artifacts", "node_modules", "__pycache__"}
    found = []
    for folder, subfolders, names in os.walk(ROOT):
        subfolders[:] = [name for name in subfolders if name not in skipped]
        found += [Path(folder, n) for n in names if n.endswith((".md", ".py", ".yaml", ".toml"))]
    return found


def test_the_documents_point_at_nothing_outside_the_repository() -> None:
    """A clone is all a reader has: links to design documents next to the checkout are dead."""
    this_test = Path(__file__).resolve()
    outside = [
        str(p.relative_to(ROOT))
        for p in repository_texts()
        if p != this_test and "../shared" in p.read_text()
    ]
    assert outside == []
    readme = (ROOT / "README.md").read_text()
    for linked in re.findall(r"\]\((docs/[^)]+)\)", readme):
        assert (ROOT / linked).is_file(), linked
    assert "docs/ARCHITECTURE.md" in readme and "docs/PROVIDERS.md" in readme
