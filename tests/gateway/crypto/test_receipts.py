"""Receipts signed with Ed25519 as a JWS anyone can check with the published keys; the
older HMAC receipts still verify; a change to any field, another key, an unknown key id or
a forged header is refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from joserfc import jws
from joserfc.jwk import KeySet, OKPKey

from gateway.crypto.receipt_keys import (
    ALGORITHM,
    KeySetInvalid,
    KeysInMemory,
    PublishedKeys,
    parse_jwks,
)
from gateway.crypto.receipts import ReceiptInvalid, ReceiptSigner, verify_jws

SECRET = "the deployment's lasting secret, long enough"
BODY: dict[str, Any] = {
    "receipt": "r-1",
    "kind": "grant-revocation",
    "at": 1796601600.123,
    "deleted": {"data_keys": 1, "token_sets": 1, "cached_entries": 3, "bindings": 1},
    "reason": "left the company",
}


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.fixture
def keys() -> KeysInMemory:
    return KeysInMemory("k1")


@pytest.fixture
def signer(keys: KeysInMemory) -> ReceiptSigner:
    return ReceiptSigner(SECRET, keys, jwks_url="https://gw.example/.well-known/receipt-keys.json")


def test_a_signed_receipt_is_its_fields_and_a_jws_of_exactly_them(signer: ReceiptSigner) -> None:
    receipt = signer.sign(BODY)
    signature = receipt["signature"]
    assert signature["alg"] == ALGORITHM and signature["kid"] == "k1"
    assert signature["keys"] == "https://gw.example/.well-known/receipt-keys.json"
    assert {k: v for k, v in receipt.items() if k != "signature"} == BODY
    assert signer.verify(receipt) == BODY
    # any JOSE library with the JWKS: here joserfc alone, nothing of the gateway
    published = KeySet.import_key_set({"keys": signer.keys.public_keys()})  # type: ignore[typeddict-item]
    checked = jws.deserialize_compact(signature["jws"], published, algorithms=["Ed25519"])
    assert json.loads(checked.payload) == BODY
    assert checked.headers() == {"alg": "Ed25519", "kid": "k1", "typ": "receipt+jws"}


def test_the_published_keys_hold_no_private_half(keys: KeysInMemory) -> None:
    (public,) = keys.public_keys()
    assert set(public) == {"kty", "crv", "x", "kid", "use", "alg"}
    assert public["crv"] == "Ed25519" and public["alg"] == "Ed25519"
    assert b64(keys.signing_key().private) not in json.dumps(public)


@pytest.mark.parametrize(
    "change",
    [
        lambda r: {**r, "reason": "something else"},
        lambda r: {**r, "deleted": {**r["deleted"], "cached_entries": 0}},
        lambda r: {**r, "extra": "added later"},
        lambda r: {k: v for k, v in r.items() if k != "reason"},
    ],
    ids=["field changed", "count changed", "field added", "field removed"],
)
def test_a_tampered_receipt_is_refused(signer: ReceiptSigner, change: Any) -> None:
    receipt = signer.sign(BODY)
    with pytest.raises(ReceiptInvalid, match="does not match its signature"):
        signer.verify(change(receipt))


def test_a_tampered_jws_payload_is_refused(signer: ReceiptSigner) -> None:
    receipt = signer.sign(BODY)
    header, _payload, signature = receipt["signature"]["jws"].split(".")
    forged_fields = {**BODY, "reason": "forged"}
    forged = f"{header}.{b64(json.dumps(forged_fields).encode())}.{signature}"
    forged_receipt = {**forged_fields, "signature": {**receipt["signature"], "jws": forged}}
    with pytest.raises(ReceiptInvalid, match="does not match its signature"):
        signer.verify(forged_receipt)


def test_a_receipt_signed_by_another_key_with_the_same_kid_is_refused(
    signer: ReceiptSigner,
) -> None:
    impostor = ReceiptSigner(SECRET, KeysInMemory("k1"))  # same kid, another key
    with pytest.raises(ReceiptInvalid, match="does not match its signature"):
        signer.verify(impostor.sign(BODY))


def test_an_unknown_kid_is_refused(signer: ReceiptSigner) -> None:
    stranger = ReceiptSigner(SECRET, KeysInMemory("someone-else"))
    with pytest.raises(ReceiptInvalid, match=r"does not publish.*someone-else"):
        signer.verify(stranger.sign(BODY))


def test_a_header_that_names_another_algorithm_is_refused(signer: ReceiptSigner) -> None:
    receipt = signer.sign(BODY)
    payload = b64(json.dumps(BODY, sort_keys=True, separators=(",", ":")).encode())
    for header in ({"alg": "none", "kid": "k1"}, {"alg": "HS256", "kid": "k1"}):
        token = f"{b64(json.dumps(header).encode())}.{payload}."
        with pytest.raises(ReceiptInvalid):
            signer.verify({**BODY, "signature": {**receipt["signature"], "jws": token}})
    with pytest.raises(ReceiptInvalid, match="not a JWS"):
        signer.verify({**BODY, "signature": {"alg": ALGORITHM, "jws": "not.a-jws"}})


def test_a_rotation_keeps_old_receipts_verifiable(
    signer: ReceiptSigner, keys: KeysInMemory
) -> None:
    old = signer.sign(BODY)
    new_kid = keys.rotate()
    new = signer.sign({**BODY, "receipt": "r-2"})
    assert new["signature"]["kid"] == new_kid != old["signature"]["kid"]
    assert signer.verify(old) == BODY
    assert signer.verify(new)["receipt"] == "r-2"
    assert [k["kid"] for k in keys.public_keys()] == ["k1", new_kid]


def test_old_hmac_receipts_still_verify_and_their_tampering_is_refused(
    signer: ReceiptSigner,
) -> None:
    old = signer.sign_hmac(BODY)
    assert old["signature"] == {"alg": "HS256", "value": old["signature"]["value"]}
    assert signer.verify(old) == BODY
    with pytest.raises(ReceiptInvalid, match="does not match its signature"):
        signer.verify({**old, "reason": "changed"})
    other_deployment = ReceiptSigner("another deployment's secret, long enough", KeysInMemory())
    with pytest.raises(ReceiptInvalid):
        other_deployment.verify(old)


def test_an_unsigned_receipt_is_refused(signer: ReceiptSigner) -> None:
    with pytest.raises(ReceiptInvalid, match="no signature"):
        signer.verify(BODY)
    with pytest.raises(ReceiptInvalid, match="no signature"):
        signer.verify({**BODY, "signature": {"alg": ALGORITHM}})


def test_a_published_key_set_verifies_offline_and_cannot_sign(signer: ReceiptSigner) -> None:
    receipt = signer.sign(BODY)
    document = json.dumps({"keys": signer.keys.public_keys()})
    published = parse_jwks(document)
    assert verify_jws(receipt, published) == BODY
    offline = ReceiptSigner(SECRET, PublishedKeys(published))
    assert offline.verify(receipt) == BODY
    assert offline.sign(BODY)["signature"]["alg"] == "HS256"  # no private key: never Ed25519


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("not json", "not JSON"),
        ("[]", '"keys"'),
        ('{"keys": []}', '"keys"'),
        ('{"keys": [{"kty": "RSA", "kid": "a", "n": "x", "e": "AQAB"}]}', "no Ed25519"),
    ],
)
def test_a_key_set_that_is_not_one_is_refused(document: str, message: str) -> None:
    with pytest.raises(KeySetInvalid, match=message):
        parse_jwks(document)


def test_a_private_key_in_a_key_set_is_never_used() -> None:
    private = OKPKey.generate_key("Ed25519").as_dict(private=True)
    with pytest.raises(KeySetInvalid):
        parse_jwks(json.dumps({"keys": [{**private, "kid": "p"}]}))
