"""A client's registration (RFC 7591 names): the one model every entry point validates with.

The admin API takes these fields as JSON, the `idp clients create` options are derived from
them (schemas.cli), the admin console's form fills them in, dynamic registration (RFC 7591/
7592) may set the fields marked `REGISTRABLE`, and the admin API's OpenAPI document shows the
model's JSON schema. To add a piece of client metadata, add a field here (with its rules in a
validator) and, if idp stores it, nothing else: `to_metadata` stores every field that is set.

Checks that need the running app (is a URL one idp may fetch, which algorithms can sign now)
come in through `Rules`, passed as pydantic's validation context by `validate_client`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic.json_schema import (
    models_json_schema,
)

from .errors import InvalidInput, from_validation_error
from .openapi import cached, tidy
from .surfaces import REGISTRABLE, Cli

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SECRET_AUTH_METHODS = ("client_secret_basic", "client_secret_post")
TOKEN_EXCHANGE_GRANT_TYPE = "urn:ietf:params:oauth:grant-type:token-exchange"  # RFC 8693
GRANT_TYPES = (
    "authorization_code",
    "refresh_token",
    "client_credentials",
    TOKEN_EXCHANGE_GRANT_TYPE,
)
DEFAULT_GRANT_TYPES = ("authorization_code", "refresh_token")
SIGNING_ALGORITHMS = ("RS256", "ES256")  # what oauth/keys.py can generate and sign with
MAX_RETRY_WINDOW_SECONDS = 60
MAX_NAME_LENGTH = 200
DEFAULT_SCOPE = "openid profile email"
LOOPBACK_HOSTS = ("127.0.0.1", "::1", "localhost")
MAX_AUDIENCE_LENGTH = 255


class InvalidClientMetadata(InvalidInput):
    """Client metadata that cannot be registered; the message says which field."""

    error = "invalid_client_metadata"


@dataclass(frozen=True)
class Rules:
    """What validation needs from the running app.

    `check_fetchable(url, field)` raises ValueError (with the reason) for a URL the outbound
    rules would refuse to fetch; `signing_algorithms` are those of the active signing keys.
    """

    check_fetchable: Callable[[str, str], None]
    signing_algorithms: Sequence[str]


def validate_redirect_uri(uri: str, field: str = "redirect_uri") -> str:
    """Absolute, no fragment; https, http on loopback, or a private-use scheme (RFC 8252)."""
    parts = urlsplit(uri)
    if not parts.scheme or parts.fragment or uri != uri.strip():
        raise InvalidClientMetadata(
            f"{field} must be an absolute URI without a fragment: {uri!r}", field
        )
    if parts.scheme == "https" and parts.netloc:
        return uri
    if parts.scheme == "http":
        if parts.hostname in LOOPBACK_HOSTS:
            return uri
        raise InvalidClientMetadata(
            f"{field} must use https unless it is a loopback address: {uri!r}", field
        )
    if parts.scheme in ("javascript", "data", "file", "vbscript"):
        raise InvalidClientMetadata(f"{field} uses a forbidden scheme: {uri!r}", field)
    if "." not in parts.scheme:
        # RFC 8252 §7.1: private-use schemes are reverse domain names.
        raise InvalidClientMetadata(
            f"{field} private-use schemes must be reverse domain names: {uri!r}", field
        )
    return uri


def _one_of(values: Sequence[str], message: str) -> Any:
    """A string that must be one of `values` (an enum in the JSON schema)."""

    def check(value: str) -> str:
        if value not in values:
            raise ValueError(message.format(value=value, values=", ".join(values)))
        return value

    return Annotated[
        str, AfterValidator(check), WithJsonSchema({"type": "string", "enum": list(values)})
    ]


def _uri(field: str) -> Any:
    return Annotated[
        str,
        AfterValidator(lambda uri: validate_redirect_uri(uri, field)),
        WithJsonSchema({"type": "string", "format": "uri"}),
    ]


def _scopes(value: str) -> list[str]:
    return list(dict.fromkeys(value.split()))


GrantType = _one_of(GRANT_TYPES, "unsupported grant type {value!r}")
AuthMethod = _one_of(AUTH_METHODS, "token_endpoint_auth_method must be one of {values}")
SigningAlgorithm = _one_of(
    SIGNING_ALGORITHMS, "id_token_signed_response_alg must be one of {values}"
)


class TokenExchange(BaseModel):
    """What a token-exchange client (RFC 8693) may ask for."""

    model_config = ConfigDict(extra="forbid", strict=True)

    audiences: Annotated[
        list[str],
        Field(description="Audiences (other clients or resource identifiers) it may ask for."),
        Cli(
            option="--exchange-audience",
            help="Token exchange: an audience the client may ask tokens for (repeatable).",
        ),
    ] = []
    scopes: Annotated[
        list[str],
        Field(description="Scopes it may ask for, within its scope (default: all of it)."),
        Cli(
            option="--exchange-scope",
            help="Token exchange: a scope the client may ask for (repeatable).",
        ),
    ] = []


# Fields whose default is "not set": None is never valid input (an explicit JSON null is a
# wrong type, as the OpenAPI document says), but it is the value when the field is absent.
class ClientMetadata(BaseModel):
    """A client's registration: validated input, the stored metadata, the OpenAPI schema."""

    model_config = ConfigDict(extra="forbid", strict=True)

    client_name: Annotated[
        str,
        Field(description="Shown on the consent page and in the admin console."),
        REGISTRABLE,
        Cli(option="--name", required=True),
    ]
    redirect_uris: Annotated[
        list[_uri("redirect_uri")],
        Field(description="https, http on loopback, or a private-use scheme (RFC 8252)."),
        REGISTRABLE,
    ] = []
    post_logout_redirect_uris: Annotated[
        list[_uri("post_logout_redirect_uri")],
        Field(description="Where RP-initiated logout may return (same rules)."),
        REGISTRABLE,
    ] = []
    grant_types: Annotated[list[GrantType], REGISTRABLE] = list(DEFAULT_GRANT_TYPES)
    scope: Annotated[
        str,
        Field(description="The scopes the client may ask for, space separated."),
        REGISTRABLE,
        Cli(default=DEFAULT_SCOPE),
    ] = DEFAULT_SCOPE
    token_endpoint_auth_method: Annotated[
        AuthMethod,
        Field(description="'none' makes a public client (no secret; PKCE)."),
        REGISTRABLE,
        Cli(option="--auth-method"),
    ] = "client_secret_basic"
    first_party: Annotated[
        bool,
        Field(description="Trusted app: skip the consent page."),
    ] = False
    require_mfa: Annotated[
        bool,
        Field(description="Every sign-in to this app needs TOTP."),
    ] = False
    backchannel_logout_uri: Annotated[
        str,
        Field(description="Where idp POSTs logout tokens when sessions end."),
        WithJsonSchema({"type": "string", "format": "uri"}),
        REGISTRABLE,
    ] = None
    backchannel_logout_session_required: Annotated[
        bool,
        Field(description="The app needs `sid` in logout tokens (idp always sends it)."),
        REGISTRABLE,
    ] = False
    jwks_uri: Annotated[
        str,
        Field(description="private_key_jwt: where the client publishes its keys."),
        WithJsonSchema({"type": "string", "format": "uri"}),
        REGISTRABLE,
    ] = None
    jwks: Annotated[
        dict[str, Any],
        Field(description="private_key_jwt: a JSON Web Key Set of public keys."),
        REGISTRABLE,
        Cli(
            option="--jwks-file",
            help="private_key_jwt: a JWKS file of public keys.",
            json_file=True,
        ),
    ] = None
    refresh_retry_window: Annotated[
        int,
        Field(
            description="Seconds a lost refresh response may be fetched again "
            "(default IDP_REFRESH_RETRY_WINDOW)."
        ),
        WithJsonSchema({"type": "integer", "minimum": 0, "maximum": MAX_RETRY_WINDOW_SECONDS}),
    ] = None
    id_token_signed_response_alg: Annotated[
        SigningAlgorithm,
        Field(
            description="Sign this client's ID tokens with ALG (an active key of ALG must exist)."
        ),
        REGISTRABLE,
    ] = None
    token_exchange: Annotated[
        TokenExchange,
        Field(description="RFC 8693: what the client may ask for (needs the grant type)."),
    ] = None

    @field_validator("client_name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("a client name is required")
        return value.strip()[:MAX_NAME_LENGTH]

    @field_validator("grant_types")
    @classmethod
    def _grant_types(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value or DEFAULT_GRANT_TYPES))

    @field_validator("scope")
    @classmethod
    def _scope(cls, value: str) -> str:
        return " ".join(_scopes(value))

    @field_validator("refresh_retry_window")
    @classmethod
    def _retry_window(cls, value: int) -> int:
        if not 0 <= value <= MAX_RETRY_WINDOW_SECONDS:
            raise ValueError(
                f"refresh_retry_window must be 0 to {MAX_RETRY_WINDOW_SECONDS} seconds"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self, info: ValidationInfo) -> ClientMetadata:
        """The rules between fields, in the order a reader would check them."""
        rules: Rules = (info.context or {})["rules"]
        public = self.is_public
        if public and "client_credentials" in self.grant_types:
            raise ValueError("public clients cannot use the client_credentials grant")
        if public and TOKEN_EXCHANGE_GRANT_TYPE in self.grant_types:
            raise ValueError("public clients cannot use the token-exchange grant")
        if "authorization_code" in self.grant_types and not self.redirect_uris:
            raise ValueError("at least one redirect URI is required")
        self._check_keys(rules)
        if self.backchannel_logout_uri:
            uri = validate_redirect_uri(self.backchannel_logout_uri, "backchannel_logout_uri")
            if urlsplit(uri).scheme not in ("http", "https"):
                raise ValueError("backchannel_logout_uri must be an http(s) URL")
            rules.check_fetchable(uri, "backchannel_logout_uri")
        alg = self.id_token_signed_response_alg
        if alg and alg not in rules.signing_algorithms:
            raise ValueError(
                f"id_token_signed_response_alg must be one of "
                f"{', '.join(rules.signing_algorithms)} (the algorithms of active signing"
                f" keys); for {alg!r} run 'idp keys generate --alg {alg}' first"
            )
        self._check_exchange()
        return self

    def _check_keys(self, rules: Rules) -> None:
        """private_key_jwt clients register public keys, inline or by https URI."""
        if self.token_endpoint_auth_method != "private_key_jwt":
            if self.jwks or self.jwks_uri:
                raise ValueError("jwks and jwks_uri are only for private_key_jwt clients")
            return
        if bool(self.jwks) == bool(self.jwks_uri):
            raise ValueError("private_key_jwt clients register exactly one of jwks or jwks_uri")
        if self.jwks_uri:
            parts = urlsplit(self.jwks_uri)
            loopback = parts.scheme == "http" and parts.hostname in LOOPBACK_HOSTS
            if not (parts.scheme == "https" or loopback) or not parts.netloc:
                raise ValueError(f"jwks_uri must be an https URL: {self.jwks_uri!r}")
            rules.check_fetchable(self.jwks_uri, "jwks_uri")
            return
        try:
            keys = KeySet.import_key_set(self.jwks)
        except (ValueError, KeyError, TypeError, JoseError) as exc:
            # JoseError: a set with no key joserfc knows (MissingKeyError) was a 500 before.
            raise ValueError("jwks is not a valid JSON Web Key Set") from exc
        if not keys.keys or any(key.is_private for key in keys.keys):
            raise ValueError("jwks must hold public keys only")
        self.jwks = {"keys": [key.as_dict(private=False) for key in keys.keys]}

    def _check_exchange(self) -> None:
        """Scopes within the client's scope (all of it by default); audiences are words."""
        requested = self.token_exchange or TokenExchange()
        if TOKEN_EXCHANGE_GRANT_TYPE not in self.grant_types:
            if requested.audiences or requested.scopes:
                raise ValueError("exchange audiences and scopes need the token-exchange grant type")
            self.token_exchange = None
            return
        client_scopes = _scopes(self.scope)
        scopes = list(dict.fromkeys(s for value in requested.scopes for s in value.split()))
        scopes = scopes or client_scopes
        if not scopes:
            raise ValueError("token-exchange clients need at least one scope")
        outside = [s for s in scopes if s not in client_scopes]
        if outside:
            raise ValueError(f"exchange scope {outside[0]!r} is not in the client's scope")
        audiences = list(dict.fromkeys(requested.audiences))
        for audience in audiences:
            too_long = len(audience) > MAX_AUDIENCE_LENGTH
            if not audience or too_long or any(map(str.isspace, audience)):
                raise ValueError(f"exchange audience must be a non-empty word: {audience!r}")
        self.token_exchange = TokenExchange(audiences=audiences, scopes=scopes)

    @property
    def is_public(self) -> bool:
        return self.token_endpoint_auth_method == "none"

    @property
    def has_secret(self) -> bool:
        return self.token_endpoint_auth_method in SECRET_AUTH_METHODS

    def to_metadata(self) -> dict[str, Any]:
        """The metadata idp stores (and shows): RFC 7591 names, fields that are set only."""
        metadata: dict[str, Any] = {
            "client_name": self.client_name,
            "redirect_uris": list(self.redirect_uris),
            "post_logout_redirect_uris": list(self.post_logout_redirect_uris),
            "grant_types": list(self.grant_types),
            "response_types": ["code"] if "authorization_code" in self.grant_types else [],
            "scope": self.scope,
            "token_endpoint_auth_method": self.token_endpoint_auth_method,
        }
        for name in type(self).model_fields:
            value = getattr(self, name)
            unset = value is None or value is False or value == ""
            if name in metadata or name in NOT_METADATA or unset:
                continue
            metadata[name] = value.model_dump() if isinstance(value, BaseModel) else value
        if self.backchannel_logout_uri:
            # Stored with the URI, false too: RP metadata readers expect the pair.
            metadata["backchannel_logout_session_required"] = (
                self.backchannel_logout_session_required
            )
        return metadata


NOT_METADATA = {
    "first_party",  # a column of its own, not registration metadata
    "backchannel_logout_session_required",  # stored with backchannel_logout_uri only
}
OUTPUT_ONLY = {"response_types"}  # derived from grant_types


def validate_client(data: Mapping[str, Any], rules: Rules) -> ClientMetadata:
    """The client's validated registration; raise InvalidClientMetadata naming the field."""
    try:
        return ClientMetadata.model_validate(dict(data), context={"rules": rules})
    except ValidationError as exc:
        raise from_validation_error(exc, InvalidClientMetadata) from None


def stored_fields(metadata: Mapping[str, Any], first_party: bool) -> dict[str, Any]:
    """A client's stored metadata as model input again (for updates that change a part)."""
    fields = {k: v for k, v in metadata.items() if k in ClientMetadata.model_fields}
    fields["first_party"] = bool(first_party)
    return fields


def field_names(registrable_only: bool = False) -> list[str]:
    """The model's top-level fields; with `registrable_only`, those RFC 7591 clients set."""
    return [
        name
        for name, info in ClientMetadata.model_fields.items()
        if not registrable_only or REGISTRABLE in info.metadata
    ]


def from_form(form, aliases: Mapping[str, str], fields: Iterable[str]) -> dict[str, Any]:
    """Model input from an HTML form (a werkzeug MultiDict), by each field's type.

    Lists come from repeated inputs or a text area (split on white space), booleans from
    checkboxes, integers from number inputs; an empty value is "not set".
    """
    data: dict[str, Any] = {}
    for name in fields:
        form_name = aliases.get(name, name)
        annotation = ClientMetadata.model_fields[name].annotation
        raw = [value for value in form.getlist(form_name)]
        if annotation is bool:
            data[name] = form.get(form_name) == "on"
        elif getattr(annotation, "__origin__", None) is list:
            items = [item for value in raw for item in value.split()]
            if items:
                data[name] = items
        elif raw and raw[0].strip():
            if annotation is int:
                try:
                    data[name] = int(raw[0])
                except ValueError:
                    raise InvalidClientMetadata(
                        f"{name.replace('_', ' ')} must be a whole number", name
                    ) from None
            else:
                data[name] = raw[0]
    return data


@cached
def openapi_components() -> dict[str, Any]:
    """The client schemas of the admin API's OpenAPI document, generated from the model:
    ClientMetadata (a new client), ClientMetadataUpdate (any part of it), Client (as shown)."""
    _, document = models_json_schema(
        [(ClientMetadata, "validation")], ref_template="#/components/schemas/{model}"
    )
    components = {name: tidy(schema) for name, schema in document["$defs"].items()}
    new = components["ClientMetadata"]
    update = {k: v for k, v in new.items() if k != "required"}
    shown = {
        "type": "object",
        "description": "The registered metadata as stored (RFC 7591 names), plus the id.",
        "required": ["client_id"],
        "properties": {
            "client_id": {"type": "string"},
            "client_secret": {"type": "string", "description": "Only when created or rotated"},
            **new["properties"],
            "response_types": {"type": "array", "items": {"type": "string", "enum": ["code"]}},
        },
    }
    return {**components, "ClientMetadataUpdate": update, "Client": shown}
