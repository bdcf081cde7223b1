"""Settings from files (GATEWAY_<NAME>_FILE, GATEWAY_SECRETS_DIR): real files, one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gateway import __main__ as cli_main
from gateway import secret_files
from gateway.config import ConfigError, Settings
from gateway.crypto.keyring import new_key_entry

SECRET = "f" * 40
KEYS = new_key_entry("v7")
REDIS = "rediss://gateway:pw-from-file@redis.internal:6380/0"  # pragma: allowlist secret


def write(folder: Path, name: str, text: str) -> str:
    path = folder / name
    path.write_text(text)
    return str(path)


def file_env(tmp_path: Path) -> dict[str, str]:
    return {
        "GATEWAY_SECRET_KEY_FILE": write(tmp_path, "secret-key", SECRET + "\n"),
        "GATEWAY_ENCRYPTION_KEYS_FILE": write(tmp_path, "keys", KEYS + "\r\n"),
        "GATEWAY_REDIS_URL_FILE": write(tmp_path, "redis-url", REDIS + "\n"),
        "GATEWAY_GOOGLE_CLIENT_ID": "id.apps",
        "GATEWAY_GOOGLE_CLIENT_SECRET_FILE": write(tmp_path, "google", "g-secret\n"),
        "GATEWAY_OIDC_ACME_DISCOVERY_URL": "https://id.acme.test/.well-known/openid-configuration",
        "GATEWAY_OIDC_ACME_CLIENT_ID": "acme-client",
        "GATEWAY_OIDC_ACME_CLIENT_SECRET_FILE": write(tmp_path, "acme", "a-secret"),
    }


def test_every_secret_setting_can_come_from_a_file(tmp_path: Path) -> None:
    settings = Settings.from_env(file_env(tmp_path))

    assert settings.secret_key == SECRET
    assert settings.keyring.newest == "v7"
    assert settings.redis_url == REDIS
    secrets = {p.name: p.client_secret for p in settings.providers}
    assert secrets == {"google": "g-secret", "acme": "a-secret"}


def test_exactly_one_trailing_newline_is_dropped(tmp_path: Path) -> None:
    env = {
        "GATEWAY_A_FILE": write(tmp_path, "a", "value\n\n"),
        "GATEWAY_B_FILE": write(tmp_path, "b", "  value \r\n"),
        "GATEWAY_C_FILE": write(tmp_path, "c", "no newline"),
        "OTHER": "left out",
    }

    assert secret_files.resolve(env) == {
        "GATEWAY_A": "value\n",
        "GATEWAY_B": "  value ",
        "GATEWAY_C": "no newline",
    }


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            {"GATEWAY_SECRET_KEY": "s" * 40},
            "GATEWAY_SECRET_KEY is given twice: by GATEWAY_SECRET_KEY and "
            "GATEWAY_SECRET_KEY_FILE; keep one",
        ),
        (
            {"GATEWAY_REDIS_URL_FILE": "/nonexistent/redis-url"},
            "GATEWAY_REDIS_URL_FILE names a file that cannot be read: /nonexistent/redis-url "
            "(No such file or directory)",
        ),
        ({"GATEWAY_SECRET_KEY_FILE": "."}, "GATEWAY_SECRET_KEY_FILE names a file that cannot"),
        ({"GATEWAY_SECRETS_DIR": "/nonexistent"}, "GATEWAY_SECRETS_DIR names a folder that"),
        ({"GATEWAY_SECRET_KEY_FIEL": "x"}, "GATEWAY_SECRET_KEY_FIEL is not a known setting"),
    ],
)
def test_a_file_mistake_stops_start_up_with_one_line(
    tmp_path: Path, change: dict[str, str], expected: str
) -> None:
    env = file_env(tmp_path) | change

    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)

    message = str(raised.value)
    assert expected in message
    assert "\n" not in message


def test_empty_oversized_and_binary_files_are_refused_without_showing_them(
    tmp_path: Path,
) -> None:
    for text, expected in ((b"\n", "an empty file"), (b"k" * 70_000, "over 64 KiB")):
        path = tmp_path / "value"
        path.write_bytes(text)
        with pytest.raises(ConfigError, match=expected):
            Settings.from_env(file_env(tmp_path) | {"GATEWAY_SECRET_KEY_FILE": str(path)})
    path.write_bytes(b"\xff\xfe" + SECRET.encode())
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(file_env(tmp_path) | {"GATEWAY_SECRET_KEY_FILE": str(path)})
    assert "not UTF-8" in str(raised.value) and SECRET not in str(raised.value)


def test_a_mounted_secret_folder_gives_every_file_named_like_a_setting(tmp_path: Path) -> None:
    """The layout the kubelet makes of a Secret volume: a timestamped folder, `..data`
    pointing at it, and one symlink per key."""
    stamped = tmp_path / "..2026_12_02_16_00_00.1"
    stamped.mkdir()
    (tmp_path / "..data").symlink_to(stamped.name)
    values = {
        "GATEWAY_SECRET_KEY": SECRET + "\n",
        "GATEWAY_ENCRYPTION_KEYS": KEYS,
        "GATEWAY_GOOGLE_CLIENT_ID": "id.apps",
        "GATEWAY_GOOGLE_CLIENT_SECRET": "g-secret\n",  # pragma: allowlist secret
    }
    for name, text in values.items():
        (stamped / name).write_text(text)
        (tmp_path / name).symlink_to(f"..data/{name}")
    (stamped / "README").write_text("not a setting")
    (tmp_path / "README").symlink_to("..data/README")

    settings = Settings.from_env({"GATEWAY_SECRETS_DIR": str(tmp_path)})

    assert settings.secret_key == SECRET
    assert [(p.name, p.client_secret) for p in settings.providers] == [("google", "g-secret")]
    with pytest.raises(ConfigError, match="GATEWAY_SECRET_KEY is given twice"):
        Settings.from_env({"GATEWAY_SECRETS_DIR": str(tmp_path), "GATEWAY_SECRET_KEY": SECRET})


def test_python_m_gateway_reads_the_files_before_generating_a_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`python -m gateway` generates a development key only when none is configured: a
    GATEWAY_SECRET_KEY_FILE is a configured one."""
    for name in [n for n in os.environ if n.startswith("GATEWAY_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("GATEWAY_SECRET_KEY_FILE", write(tmp_path, "key", SECRET + "\n"))
    data_dir = tmp_path / "var"

    env = cli_main.gateway_environment()
    assert env is not None
    cli_main.ensure_secret_key(env, data_dir)

    assert env["GATEWAY_SECRET_KEY"] == SECRET
    assert not (data_dir / "secret_key").exists()
    monkeypatch.setenv("GATEWAY_SECRET_KEY_FILE", str(tmp_path / "missing"))
    assert cli_main.gateway_environment() is None


def test_cli_commands_read_the_files_before_the_data_folders_defaults(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`flask --app gateway ...` (gateway/local.py): a key given as a file is a configured
    key, not one to look up in var/; a file mistake is one line and exit status 2."""
    from gateway import local

    data = tmp_path / "var"
    data.mkdir()
    (data / "secret_key").write_text("d" * 40)  # what `make run` left behind: not used
    env = {
        "GATEWAY_DATA_DIR": str(data),
        "GATEWAY_SECRET_KEY_FILE": write(tmp_path, "key", SECRET + "\n"),
    }

    assert local.cli_environment(env)["GATEWAY_SECRET_KEY"] == SECRET
    with pytest.raises(SystemExit) as stopped:
        local.cli_settings(env | {"GATEWAY_SECRET_KEY_FILE": str(tmp_path / "missing")})
    assert stopped.value.code == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("configuration error: GATEWAY_SECRET_KEY_FILE names a file")
