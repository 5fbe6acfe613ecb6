"""Shared steps for the token-lifecycle tests."""

from __future__ import annotations

from ..conftest import REDIRECT_URI, USER_EMAIL, USER_PASSWORD
from ..helpers import AuthorizationRequest, query


def login_tokens(browser, client, registered, scope="openid profile email", redirect_uri=None):
    """Sign in through the pages and redeem the code; return the token response JSON."""
    redirect_uri = redirect_uri or REDIRECT_URI
    request = AuthorizationRequest(registered.client_id, redirect_uri, scope=scope)
    answer = query(browser.authorize(request, USER_EMAIL, USER_PASSWORD).headers["Location"])
    response = client.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": answer["code"],
            "redirect_uri": redirect_uri,
            "code_verifier": request.verifier,
        },
        auth=(registered.client_id, registered.plain_secret),
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def refresh(client, registered, refresh_token, **extra):
    return client.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": refresh_token, **extra},
        auth=(registered.client_id, registered.plain_secret),
    )


def introspect(client, registered, token, **extra):
    response = client.post(
        "/introspect",
        data={"token": token, **extra},
        auth=(registered.client_id, registered.plain_secret),
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def revoke(client, registered, token, **extra):
    return client.post(
        "/revoke",
        data={"token": token, **extra},
        auth=(registered.client_id, registered.plain_secret),
    )
