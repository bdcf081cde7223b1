"""Public documents at well-known addresses: the receipt signing keys as a JWKS (RFC 7517),
so a person, not only the operator, can check a receipt with any JOSE library."""

from __future__ import annotations

from flask import Blueprint, jsonify
from werkzeug.wrappers import Response

from gateway.context import services
from gateway.crypto.receipt_keys import JWKS_PATH

well_known = Blueprint("well_known", __name__)

# Public keys: anyone may fetch them from anywhere. A new key signs only after it is
# published, but a cache may hold the list for this long: short, so a verifier soon finds it.
KEYS_CACHE = "public, max-age=300"


@well_known.get(JWKS_PATH)
def receipt_keys() -> Response:
    response = jsonify(services().receipts.published_keys())
    response.headers["Cache-Control"] = KEYS_CACHE
    response.headers["Access-Control-Allow-Origin"] = "*"
    response.content_type = "application/jwk-set+json"
    return response
