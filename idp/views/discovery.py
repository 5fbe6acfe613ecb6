"""Discovery and JWKS: built once per key/config change, served as cached bytes."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable

from flask import Blueprint, Response, current_app, request

from ..oauth.metadata import metadata

bp = Blueprint("discovery", __name__)


def _cached_json(name: str, build: Callable[[], dict]) -> Response:
    keys = current_app.extensions["idp.keys"]
    keys.refresh()
    cache = current_app.extensions["idp.json_cache"]
    entry = cache.get(name)
    if entry is None or entry[0] != keys.version:
        body = json.dumps(build(), separators=(",", ":")).encode()
        entry = (keys.version, body, hashlib.sha256(body).hexdigest()[:32])
        cache[name] = entry
    _, body, etag = entry
    max_age = current_app.config["IDP"].metadata_max_age
    if etag in request.if_none_match:
        response = Response(status=304)
    else:
        response = Response(body, mimetype="application/json")
    response.set_etag(etag)
    response.headers["Cache-Control"] = f"public, max-age={max_age}"
    # Browser apps read these cross-origin; they hold nothing secret.
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


def _metadata() -> dict:
    return metadata(current_app.config["IDP"], current_app.extensions["idp.keys"])


@bp.get("/.well-known/openid-configuration")
def openid_configuration():
    return _cached_json("openid-configuration", _metadata)


@bp.get("/.well-known/oauth-authorization-server")
def oauth_authorization_server():
    return _cached_json("oauth-authorization-server", _metadata)


@bp.get("/jwks.json")
def jwks():
    return _cached_json("jwks", lambda: current_app.extensions["idp.keys"].public_jwks())
