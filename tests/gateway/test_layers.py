"""The layers, read from the source: blueprint -> service -> storage / connector.

Only `gateway/storage/` speaks Redis (imports `redis`, calls a client's commands, runs Lua);
blueprints and CLI commands reach storage through services; a service calls another
service's methods, never its store or vault; `connectors/` knows nothing of the gateway.
Each rule is checked by parsing every module (no import is run), so a breach names the
file and line.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = ROOT / "gateway"
STORAGE = GATEWAY / "storage"

# Redis commands (and redis-py's ways of running them) that no other Python object the
# gateway uses has a method for; any call of one outside storage/ is Redis spoken there.
REDIS_COMMANDS = frozenset(
    """
    pipeline register_script eval evalsha script_load transaction ping
    hget hset hmget hgetall hdel hlen hkeys hvals hincrby hexists hsetnx
    sadd srem smembers scard sismember smismember sscan_iter
    lpush rpush lpop rpop lrange ltrim llen lrem
    zadd zrem zrange zrangebyscore zrevrange zremrangebyscore zcard zscore
    xadd xrange xrevrange xtrim xlen
    scan scan_iter mget mset setnx setex psetex incr incrby decr expire pexpire ttl pttl
    getdel getex publish
    """.split()  # noqa: SIM905 (a word list reads better than 70 quoted lines)
)
# Commands other objects have too (a dict's get, a session's delete): Redis when called on a
# receiver the gateway names as a Redis client or pipeline.
AMBIGUOUS_COMMANDS = frozenset({"get", "set", "delete", "exists", "execute", "keys", "watch"})
REDIS_RECEIVERS = frozenset({"client", "redis", "pipe", "_client"})


def modules(under: Path) -> Iterator[Path]:
    yield from sorted(p for p in under.rglob("*.py") if ".venv" not in p.parts)


def outside_storage() -> list[Path]:
    return [p for p in modules(GATEWAY) if STORAGE not in p.parents]


def imported(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, dotted module name) of every import, relative ones resolved against nothing."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.lineno, node.module


def receiver_name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def redis_calls(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        method, receiver = node.func.attr, receiver_name(node.func.value)
        if method in REDIS_COMMANDS or (
            method in AMBIGUOUS_COMMANDS and receiver in REDIS_RECEIVERS
        ):
            yield node.lineno, f"{receiver}.{method}()"


def where(path: Path, line: int, what: str) -> str:
    return f"{path.relative_to(ROOT)}:{line}: {what}"


def parsed(path: Path) -> ast.AST:
    return ast.parse(path.read_text(), filename=str(path))


def test_only_storage_imports_redis() -> None:
    found = [
        where(path, line, f"imports {name}")
        for path in outside_storage()
        for line, name in imported(parsed(path))
        if name == "redis" or name.startswith("redis.")
    ]
    assert found == []


def test_only_storage_runs_redis_commands() -> None:
    found = [
        where(path, line, call)
        for path in outside_storage()
        for line, call in redis_calls(parsed(path))
    ]
    assert found == []


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [
        ("gateway/blueprints", "gateway.storage"),
        ("gateway/cli*.py", "gateway.storage"),
        ("gateway/limits.py", "gateway.blueprints"),
        ("gateway/services", "gateway.blueprints"),
        ("gateway/storage", "gateway.services"),
        ("gateway/storage", "gateway.blueprints"),
        ("connectors", "gateway"),
        ("connectors", "flask"),
    ],
)
def test_layer_imports_nothing_above_it(package: str, forbidden: str) -> None:
    paths = (
        list(modules(ROOT / package)) if (ROOT / package).is_dir() else sorted(ROOT.glob(package))
    )
    assert paths, f"{package} holds no module: the rule checks nothing"
    found = [
        where(path, line, f"imports {name}")
        for path in paths
        for line, name in imported(parsed(path))
        if name == forbidden or name.startswith(forbidden + ".")
    ]
    assert found == []


def test_blueprints_and_commands_hand_no_redis_client_around() -> None:
    """`services().redis` is for the factory and the tests: a blueprint or command that
    takes it passes Redis to code that should have been a service."""
    callers = [*modules(GATEWAY / "blueprints"), *sorted(GATEWAY.glob("cli*.py"))]
    found = [
        where(path, node.lineno, f"{receiver_name(node.value)}.redis")
        for path in callers
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Attribute) and node.attr == "redis"
    ]
    assert found == []


def test_nothing_reaches_into_another_objects_store_or_vault() -> None:
    """`self.store` is a service's own; `self.grants.store` or `found.consent.store` is
    someone else's insides: ask that service instead."""
    found = [
        where(path, node.lineno, f"{receiver_name(node.value)}.{node.attr}")
        for path in outside_storage()
        for node in ast.walk(parsed(path))
        if isinstance(node, ast.Attribute)
        and node.attr in {"store", "vault"}
        and isinstance(node.value, ast.Attribute)
    ]
    assert found == []


def test_services_are_wired_in_constructors() -> None:
    """No collaborator is attached after construction (`x.on_grant = f`,
    `x.unbind_hooks.append(f)`): the factory's calls show every dependency."""
    tree = parsed(GATEWAY / "app.py")
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            found += [
                where(GATEWAY / "app.py", node.lineno, f"assigns {t.attr}")
                for t in targets
                if isinstance(t, ast.Attribute)
                and isinstance(t.value, ast.Name)
                and t.value.id not in {"app"}
            ]
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in {"append", "extend", "insert"}
            and isinstance(node.func.value, ast.Attribute)
            and node.func.value.attr.endswith(("hooks", "tasks"))
        ):
            found.append(where(GATEWAY / "app.py", node.lineno, f"{node.func.value.attr}.append"))
    assert found == []


def test_the_rules_see_a_breach() -> None:
    """The scanner itself: each rule finds its breach in a planted module."""
    planted = ast.parse(
        "import redis\n"
        "from gateway.storage.grants import GrantStore\n"
        "self.client.hset('k', 'f', 'v')\n"
        "found.redis.ping()\n"
        "pipe.execute()\n"
        "emulator.client.accounts()\n"
        "x = self.grants.vault\n"
    )
    assert [n for _, n in imported(planted)] == ["redis", "gateway.storage.grants"]
    assert [c for _, c in redis_calls(planted)] == [
        "client.hset()",
        "redis.ping()",
        "pipe.execute()",
    ]
