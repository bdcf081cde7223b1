"""The receipt of a revocation or an erasure lists the provider channels it stopped: how
many, per provider kind, and never a channel's or a resource's id."""

from __future__ import annotations

import json
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask import Flask

from tests.gateway.services.test_watches import app, bind_room, hosts, watched
from tests.gateway.services.watch_support import live_channels, watching_host
from tests.hosts import FREEBUSY, Hosts

__all__ = ["app", "hosts"]  # the fixtures: a live gateway the emulator delivers to


def end(app: Flask, ending: str, uid: str, gid: str) -> dict[str, Any]:
    services = app.extensions["gateway"]
    if ending == "revocation":
        receipt = services.revocation.revoke_grant(uid, gid, reason="user", actor=uid)
        assert receipt is not None
        return dict(receipt)
    return dict(services.privacy.erase(uid, actor=uid))


@pytest.mark.parametrize("ending", ["revocation", "erasure"])
def test_the_receipt_counts_the_channels_stopped_per_provider_kind(
    app: Flask, hosts: Hosts, emulator: Any, ending: str
) -> None:
    uid, gid, channel = watched(app, emulator, hosts)
    receipt = end(app, ending, uid, gid)

    assert not live_channels(emulator)
    assert receipt["deleted"]["channels"] == 1
    assert receipt["channels_stopped"] == {"google": 1}
    app.extensions["gateway"].receipts.verify(receipt)  # signed with them
    text = json.dumps(receipt)
    for secret in (channel["id"], channel["resource_id"]):
        assert secret not in text
    readable = app.extensions["gateway"].receipts.readable(receipt, ZoneInfo("UTC"))
    assert "1 calendar change-notification channel stopped" in readable.deleted


@pytest.mark.parametrize("ending", ["revocation", "erasure"])
def test_a_polled_calendar_s_receipt_stops_no_channel(
    app: Flask, hosts: Hosts, emulator: Any, ending: str
) -> None:
    uid, gid = watching_host(hosts, scope=FREEBUSY)  # consented before watching: polled
    bind_room(app, uid, gid)
    receipt = end(app, ending, uid, gid)

    assert receipt["deleted"]["channels"] == 0
    assert "channels_stopped" not in receipt
    assert emulator.client.calls().get("google.channels_stop", 0) == 0
