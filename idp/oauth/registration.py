"""Dynamic Client Registration (RFC 7591, OIDC Registration 1.0) and its management
(RFC 7592), on Authlib's endpoints. Off by default; gated by an initial access token.

Registered metadata goes through the same validation as the CLI and admin API. Clients
registered this way are never first-party and may only ask for the standard OIDC scopes.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from urllib.parse import urlsplit

from authlib.oauth2.claims import BaseClaims
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6750 import InvalidTokenError
from authlib.oauth2.rfc7591 import ClientMetadataClaims as OAuthClientMetadata
from authlib.oauth2.rfc7591 import ClientRegistrationEndpoint as _RegistrationEndpoint
from authlib.oauth2.rfc7591.errors import InvalidClientMetadataError, InvalidRedirectURIError
from authlib.oauth2.rfc7592 import ClientConfigurationEndpoint as _ConfigurationEndpoint
from authlib.oidc.registration import ClientMetadataClaims as OIDCClientMetadata
from flask import current_app
from flask import request as flask_request
from joserfc.errors import InvalidClaimError

from ..schemas import clients as client_schema
from ..schemas import scopes
from ..services import clients


@dataclass
class RegistrationCredential:
    """The bearer token that authorized a registration call."""

    client_id: str | None = None

    def check_client(self, client) -> bool:
        return self.client_id == client.client_id


def _bearer() -> str | None:
    header = flask_request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


# RFC 7591 and OIDC Registration fields accepted and checked but not stored.
INFORMATIONAL = {"client_uri", "logo_uri", "contacts", "application_type", "response_types"}
REGISTRATION_GRANT_TYPES = ("authorization_code", "refresh_token")


def _registration_input(metadata: dict) -> dict:
    """RFC 7591 metadata as schemas.ClientMetadata input, within what dynamically registered
    clients may have: the REGISTRABLE fields, the code flow, the standard OIDC scopes."""
    # OIDC Registration fills these defaults in; only their default values work here.
    for name, default in (("require_auth_time", False), ("subject_type", "public")):
        if metadata.get(name, default) == default:
            metadata.pop(name, None)
    registrable = client_schema.field_names(registrable_only=True)
    unsupported = sorted(set(metadata) - set(registrable) - INFORMATIONAL)
    if unsupported:
        raise InvalidClientMetadataError(f"'{unsupported[0]}' is not supported here.")
    if metadata.get("response_types", ["code"]) != ["code"]:
        raise InvalidClientMetadataError("Only the 'code' response type is supported.")
    grant_types = metadata.get("grant_types") or ["authorization_code"]
    if not set(grant_types) <= set(REGISTRATION_GRANT_TYPES):
        raise InvalidClientMetadataError(
            "Dynamically registered clients may use authorization_code and refresh_token."
        )
    scope = metadata.get("scope") or clients.DEFAULT_SCOPE
    allowed_scopes = scopes.registrable()
    if not set(scope.split()) <= set(allowed_scopes):
        raise InvalidClientMetadataError(f"'scope' may only hold: {' '.join(allowed_scopes)}.")
    _check_redirect_uris(
        metadata.get("redirect_uris") or [], metadata.get("application_type", "web")
    )
    data = {name: metadata[name] for name in registrable if metadata.get(name) is not None}
    data.update(
        client_name=metadata.get("client_name") or "Unnamed client",
        grant_types=grant_types,
        scope=scope,
    )
    return data


def _refused(exc: clients.ClientError) -> Exception:
    """RFC 7591 §3.2.2: a bad redirect URI has its own error code."""
    if exc.field == "redirect_uris":
        return InvalidRedirectURIError(str(exc))
    return InvalidClientMetadataError(str(exc))


def _check_redirect_uris(uris: list[str], application_type: str) -> None:
    """OIDC Registration §2 with RFC 8252: web clients use https (not localhost); native
    apps use loopback http, a private-use (reverse-domain) scheme, or https."""
    for uri in uris:
        try:
            clients.validate_redirect_uri(uri)
        except clients.ClientError as exc:
            raise InvalidRedirectURIError(str(exc)) from exc
        parts = urlsplit(uri)
        if application_type == "web" and (
            parts.scheme != "https" or parts.hostname in clients.LOOPBACK_HOSTS
        ):
            raise InvalidRedirectURIError(
                f"web clients register https redirect URIs (not localhost): {uri!r}; "
                "native apps set application_type to native"
            )


class RedirectURIClaims(OAuthClientMetadata):
    """Authlib's RFC 7591 claims, but redirect URIs are ours to check: its URL test wants a
    host, which RFC 8252 private-use scheme URIs (com.example.app:/cb) do not have."""

    def validate_redirect_uris(self) -> None:
        uris = self.get("redirect_uris")
        if uris is not None and not (
            isinstance(uris, list) and all(isinstance(u, str) for u in uris)
        ):
            raise InvalidClaimError("redirect_uris")


class SchemaClaims(BaseClaims):
    """The REGISTRABLE fields of schemas.ClientMetadata. Authlib keeps only the fields a claims
    class names and silently drops the rest, so registration would "succeed" without them;
    their values are checked by the model (clients.register)."""

    REGISTERED_CLAIMS = client_schema.field_names(registrable_only=True)


CLAIMS_CLASSES = [RedirectURIClaims, OIDCClientMetadata, SchemaClaims]


def _server_metadata() -> dict:
    from .metadata import metadata as server_metadata  # metadata imports the server module

    return server_metadata(current_app.config["IDP"], current_app.extensions["idp.keys"])


def _registration_uri(client_id: str) -> str:
    return f"{current_app.config['IDP'].issuer}/connect/register/{client_id}"


def _refuse_non_object(request) -> None:
    """A JSON body that is not an object (an array, a string, a number) is malformed
    (RFC 7591 §3.2.2): Authlib would call dict methods on it and answer 500."""
    data = request.payload.data
    if data and not isinstance(data, dict):
        raise InvalidRequestError("The body must be a JSON object of client metadata.")


class RegistrationEndpoint(_RegistrationEndpoint):
    def __init__(self, server=None) -> None:
        super().__init__(server, claims_classes=CLAIMS_CLASSES)

    def extract_client_metadata(self, request):
        _refuse_non_object(request)
        return super().extract_client_metadata(request)

    def authenticate_token(self, request):
        # RFC 7591 §3 / RFC 6750: a missing or wrong initial access token is a 401.
        expected = current_app.config["IDP"].registration_initial_token
        presented = _bearer()
        if not expected or not presented:
            raise InvalidTokenError(description="An initial access token is required.")
        if not hmac.compare_digest(presented.encode(), expected.encode()):
            raise InvalidTokenError(description="The initial access token is not valid.")
        return RegistrationCredential()

    def get_server_metadata(self) -> dict:
        return _server_metadata()

    def generate_client_info(self, request) -> dict:
        return {}  # client_id and secret come from clients.create_client in save_client

    def save_client(self, client_info, client_metadata, request):
        try:
            client, secret, token = clients.register_dynamically(
                _registration_input(client_metadata)
            )
        except clients.ClientError as exc:
            raise _refused(exc) from exc
        request.issued = {"client_secret": secret, "registration_access_token": token}
        return client

    def generate_client_registration_info(self, client, request) -> dict:
        info = clients.describe(client)
        info.pop("first_party", None)
        info.update(
            client_id_issued_at=client.client_id_issued_at,
            client_secret_expires_at=0,
            registration_client_uri=_registration_uri(client.client_id),
            registration_access_token=request.issued["registration_access_token"],
        )
        if request.issued["client_secret"]:
            info["client_secret"] = request.issued["client_secret"]
        return info


class ConfigurationEndpoint(_ConfigurationEndpoint):
    def __init__(self, server=None) -> None:
        super().__init__(server, claims_classes=CLAIMS_CLASSES)

    def create_update_client_response(self, client, request):
        _refuse_non_object(request)
        return super().create_update_client_response(client, request)

    def authenticate_token(self, request):
        # RFC 7592 §2: an invalid registration access token is answered per RFC 6750.
        client = clients.find_by_registration_token(_bearer())
        if client is None:
            raise InvalidTokenError(description="The registration access token is not valid.")
        return RegistrationCredential(client.client_id)

    def authenticate_client(self, request):
        return clients.find_client((flask_request.view_args or {}).get("client_id"))

    def revoke_access_token(self, token, request) -> None:
        return None  # the token only ever named its own client

    def check_permission(self, client, request) -> bool:
        return True

    def introspect_client(self, client) -> dict:
        info = clients.describe(client)
        info.pop("first_party", None)
        info.update(client_id_issued_at=client.client_id_issued_at, client_secret_expires_at=0)
        return info

    def generate_client_registration_info(self, client, request) -> dict:
        return {"registration_client_uri": _registration_uri(client.client_id)}

    def update_client(self, client, client_metadata, request):
        # RFC 7592 §2.2: the request replaces the registration; fields it leaves out go back
        # to their defaults (those that only an operator sets keep their value).
        registrable = client_schema.field_names(registrable_only=True)
        try:
            return clients.change(
                client,
                _registration_input(client_metadata),
                reset=registrable,
                actor=client.client_id,
            )
        except clients.ClientError as exc:
            raise _refused(exc) from exc

    def delete_client(self, client, request) -> None:
        clients.delete_client(client.client_id, actor=client.client_id)

    def get_server_metadata(self) -> dict:
        return _server_metadata()
