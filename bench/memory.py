"""Redis memory per user, session, grant, room and cached free/busy day, from MEMORY USAGE.

    python -m bench.memory [--users 20] [--days 7]

Everything is written by the real gateway (gunicorn, deploy config, one worker) over HTTP:
people sign in, consent to room availability and bind their room's calendar; an admin
creates the rooms (in-process service, as the CLI does); an API client asks free/busy for
every room over `days` days, which fills the cache. Half the people use Google, half
Microsoft.

After each stage every key is measured with `MEMORY USAGE key SAMPLES 0` (exact, with
Redis's per-key overhead); a stage's cost is the growth of the total, shared keys
included (the rooms set, the audit stream), divided by what the stage made. INFO's
used_memory growth is printed beside it: it adds allocator slack and is noisier.
"Redis per grant" is the consent stage's growth without what expires on its own (the
session's growth, the spent sign-in state: their own row); `--keys` prints each stage's
growth by key family.
"""

from __future__ import annotations

import argparse
import re
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import redis

from bench.browser import Browser, new_account
from bench.report import Row, at_most
from bench.stack import Stack, gunicorn
from gateway.storage.redis_client import connect

PURPOSE = "room-availability"
ALL_DAY = {
    day: [["00:00", "24:00"]]
    for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
}


def sizes(client: redis.Redis) -> dict[str, int]:
    """Every key and its MEMORY USAGE (SAMPLES 0: every element of a hash or stream)."""
    found = {}
    for key in client.scan_iter(count=1000):
        usage = client.memory_usage(key, samples=0)
        if usage is not None:
            found[str(key)] = int(usage)
    return found


def detail(client: redis.Redis, before: dict[str, int], title: str) -> None:
    """Every key one step added or grew: MEMORY USAGE growth, encoding, and for a hash
    each field's value length (a value over hash-max-listpack-value, 64 B by default,
    turns the whole hash from a listpack into a hashtable)."""
    after = sizes(client)
    print(f"{title}: keys added or grown (MEMORY USAGE growth, encoding, field lengths)")
    for key in sorted(after):
        grown = after[key] - before.get(key, 0)
        if not grown:
            continue
        encoding = client.object("encoding", key)
        fields = ""
        if client.type(key) == "hash":
            raw = client.hgetall(key)
            fields = " ".join(f"{name}={len(value)}" for name, value in raw.items())
        shown = re.sub(r"\{u:[^}]+\}", "{u:UID}", key)
        print(f"  {grown:6d} B {encoding!s:9s} {shown[:60]:60s} {fields}")


# What a consent's sign-in flow leaves that expires on its own: the session's growth (a
# flash message until the next page, the account marks: the session's idle TTL) and the
# spent-state marker (10 minutes). Not kept for the grant: "Redis per grant" leaves them out
# and its own row shows them (issue 17).
EXPIRING = ("gw:session:", "gw:flow-spent:")
GRANT_BUDGET = 2048  # issue 17: at most 2 KB of Redis per grant, for every provider


def transient(stage: Stage) -> float:
    """Bytes per item of a stage's keys that expire with the sign-in flow or session."""
    grown = sum(v for name, v in stage.families.items() if name.startswith(EXPIRING))
    return grown / stage.made if stage.made else 0.0


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


def family(key: str, ids: dict[str, str]) -> str:
    """A key with its ids replaced by what they are (UID, GID, ROOM, H, DAY...)."""
    key = re.sub(r"\{u:[^}]+\}", "{u:UID}", key)
    for value, name in ids.items():
        key = key.replace(value, name)
    key = re.sub(r"[0-9a-f]{64}", "H", key)
    key = re.sub(r"\d{4}-\d{2}-\d{2}", "DAY", key)
    return re.sub(r"(:fb:GID:ROOM:)[^:]+(:)", r"\1VERSION\2", key)


@dataclass
class Stage:
    """What one stage added: bytes by MEMORY USAGE and by INFO, and how many it made."""

    name: str
    made: int
    bytes: int = 0
    info_bytes: int = 0
    # growth by key family (ids replaced by what they are), for `--keys`
    families: dict[str, int] = field(default_factory=dict)

    @property
    def per_item(self) -> float:
        return self.bytes / self.made if self.made else 0.0


class Meter:
    """Measures the growth of the whole keyspace across a stage."""

    def __init__(self, client: redis.Redis, ids: dict[str, str]) -> None:
        self.client = client
        self.ids = ids  # filled in as the bench makes them
        self.stages: list[Stage] = []
        self.last = sizes(client)
        self.last_info = used_memory(client)

    def stage(self, name: str, made: int) -> Stage:
        now, info = sizes(self.client), used_memory(self.client)
        done = Stage(name, made, sum(now.values()) - sum(self.last.values()), info - self.last_info)
        for key in now.keys() | self.last.keys():
            grown = now.get(key, 0) - self.last.get(key, 0)
            if grown:
                name = family(key, self.ids)
                done.families[name] = done.families.get(name, 0) + grown
        self.stages.append(done)
        self.last, self.last_info = now, info
        return done


def _query(url: str, secret: str, rooms: list[str], days: int) -> None:
    import requests

    start = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + 86400))
    end = time.strftime("%Y-%m-%dT00:00:00Z", time.gmtime(time.time() + (1 + days) * 86400))
    with requests.Session() as http:
        http.trust_env = False
        answer = http.post(
            f"{url}/v1/freebusy",
            json={"rooms": rooms, "timeMin": start, "timeMax": end},
            headers={"Authorization": f"Bearer {secret}"},
            timeout=60,
        )
    statuses = {r["status"] for r in answer.json().get("rooms", {}).values()}
    if answer.status_code != 200 or statuses != {"ok"}:
        raise SystemExit(f"free/busy failed: {answer.status_code} {answer.text[:300]}")


def measure(
    users: int = 20, days: int = 7, flush_wait: float = 2.2, show_keys: bool = False
) -> list[Row]:
    """Bytes per signed-in user, session, grant, room, binding and cached room-day.
    `flush_wait` lets the worker's batched access counts reach Redis (0: leave them out);
    `show_keys` prints every key one grant and one binding of each provider add."""
    from gateway import create_app
    from gateway.services.api_clients import ApiClientService

    with Stack(GATEWAY_FREEBUSY_TTL_SECONDS="3600") as stack:
        app = create_app(stack.env)
        services: Any = app.extensions["gateway"]
        client = connect(stack.redis.url)
        env = stack.process_env()
        log = stack.work / "gunicorn.log"
        with gunicorn("gateway:create_app()", stack.port, env, log, workers=1, settle=0) as url:
            people = []
            for n in range(users):
                provider = "google" if n % 2 == 0 else "microsoft"
                people.append((provider, new_account(stack.emulator, provider, f"Person {n}")))
            ids: dict[str, str] = {}
            meter = Meter(client, ids)
            browsers = []
            for provider, account in people:
                browser = Browser(url, stack.emulator)
                stack.emulator.client.authorize_next(account)
                uid = browser.sign_in(provider, account)
                ids[uid] = "UID"
                browsers.append((browser, uid, provider, account))
            signed_in = meter.stage("signed-in user (profile, identity, session)", users)
            # The booking frontend's client comes first, as in a deployment: its audit
            # record makes the audit stream, whose creation (~1 KB, once) is no grant's.
            api_client, secret = ApiClientService(services.api_clients, services.audit).create(
                "bench", audiences=["bench"], rate_limit="1000000/hour"
            )
            ids[api_client.id] = "CLIENT"
            meter.stage("API client (and the audit stream)", 1)
            grants: dict[str, Stage] = {}
            gids = {}
            for kind in ("google", "microsoft"):
                theirs = [b for b in browsers if b[2] == kind]
                for n, (browser, uid, provider, account) in enumerate(theirs):
                    before = sizes(client) if n == 0 and show_keys else {}
                    browser.consent(PURPOSE, provider, account)
                    if before:
                        detail(client, before, f"one {kind} grant")
                    (grant,) = [g for g in services.grants.list(uid) if g.purpose == PURPOSE]
                    gids[uid] = grant.id
                    ids[grant.id] = "GID"
                grants[kind] = meter.stage(f"grant with its consent records, {kind}", len(theirs))
            rooms = []
            for n, (_, uid, _, _) in enumerate(browsers):
                room_id = f"memroom-{n:04d}"
                ids[room_id] = "ROOM"
                services.rooms.create(
                    {
                        "id": room_id,
                        "name": f"Room {n}",
                        "time_zone": "Europe/Brussels",
                        "hours": ALL_DAY,
                        "host": uid,
                        "visibility": ["bench"],
                    }
                )
                rooms.append(room_id)
            room_stage = meter.stage("room (admin-created, unbound)", users)
            for n, ((browser, uid, _, _), room_id) in enumerate(zip(browsers, rooms, strict=True)):
                before = sizes(client) if n < 2 and show_keys else {}
                browser.bind(room_id, gids[uid])
                if before:
                    detail(client, before, f"one binding ({browsers[n][2]})")
                browser.close()
            bind_stage = meter.stage("binding (room <- host's calendar)", users)
            _query(url, secret, rooms, days)
            if flush_wait:
                time.sleep(flush_wait)  # access counts go out with a request after 2 s
                _query(url, secret, rooms[:1], 1)
            cache_stage = meter.stage(f"cached free/busy room-day ({days} days)", users * days)
            final = sizes(client)
        client.close()

    sessions = [v for k, v in final.items() if k.startswith("gw:session:")]
    families: dict[str, list[int]] = defaultdict(list)
    for key, size in final.items():
        families[family(key, ids)].append(size)
    print(f"Redis keys after {users} people ({days} days cached), MEMORY USAGE SAMPLES 0:")
    print(f"  {'key family':52s} {'keys':>5s} {'avg B':>7s} {'total B':>9s}")
    for name, found in sorted(families.items(), key=lambda item: -sum(item[1])):
        print(f"  {name:52s} {len(found):5d} {sum(found) / len(found):7.0f} {sum(found):9d}")
    print("per item made, by stage (MEMORY USAGE growth; INFO used_memory growth):")
    for stage in meter.stages:
        info = stage.info_bytes / stage.made
        print(f"  {stage.name:46s} {stage.per_item:7.0f} B   (INFO {info:7.0f} B)")
        if show_keys:
            for name, grown in sorted(stage.families.items(), key=lambda item: -item[1]):
                print(f"      {grown / stage.made:7.0f} B  {name}")

    session = sum(sessions) / len(sessions) if sessions else 0.0
    rows = [
        Row("Redis per signed-in user (no grant)", signed_in.per_item - session, "B"),
        Row("Redis per session", session, "B"),
    ]
    for provider, stage in grants.items():
        kept = stage.per_item - transient(stage)
        name = f"Redis per grant, {provider.capitalize()}"
        rows.append(Row(name, kept, "B", GRANT_BUDGET, "2 KB", at_most(1.0)))
    flows = list(grants.values())
    spent = sum(transient(s) * s.made for s in flows) / max(1, sum(s.made for s in flows))
    rows.append(Row("Redis per consent flow, expiring (session, spent state)", spent, "B"))
    rows += [
        Row("Redis per room (definition)", room_stage.per_item, "B"),
        Row("Redis per room binding", bind_stage.per_item, "B"),
        Row("Redis per cached free/busy room-day", cache_stage.per_item, "B"),
    ]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--keys", action="store_true", help="print one grant's keys")
    options = parser.parse_args()
    from bench.report import table

    print(table(measure(options.users, options.days, show_keys=options.keys)))


if __name__ == "__main__":
    main()
