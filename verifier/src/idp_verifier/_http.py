"""The few HTTP calls the verifier makes (discovery, JWKS, introspection), on urllib."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

from .errors import VerifierUnavailable

MAX_BODY_BYTES = 1 << 20  # a JWKS or metadata document is a few KiB
USER_AGENT = "idp-verifier/1"


def _check_url(url: str) -> None:
    # urllib also opens file:// and ftp:// URLs; a metadata document must not steer it there.
    if not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise VerifierUnavailable(f"refusing a non-http(s) URL: {url!r}")


def request_json(
    url: str,
    timeout: float,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """GET (or POST `data` to) `url` and return its JSON object.

    Raises VerifierUnavailable on any network error, non-200 answer or non-object body.
    """
    _check_url(url)
    request = urllib.request.Request(  # noqa: S310 - scheme checked above
        url,
        data=data,
        headers={"Accept": "application/json", "User-Agent": USER_AGENT, **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status = response.status
            body = response.read(MAX_BODY_BYTES + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise VerifierUnavailable(f"{url} answered {exc.code}") from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise VerifierUnavailable(f"{url} is unreachable: {type(exc).__name__}") from None
    if status != 200:
        raise VerifierUnavailable(f"{url} answered {status}")
    if len(body) > MAX_BODY_BYTES:
        raise VerifierUnavailable(f"{url} answered more than {MAX_BODY_BYTES} bytes")
    try:
        document = json.loads(body)
    except ValueError:
        raise VerifierUnavailable(f"{url} did not answer JSON") from None
    if not isinstance(document, dict):
        raise VerifierUnavailable(f"{url} did not answer a JSON object")
    return document
