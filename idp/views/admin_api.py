"""The admin API (JSON, /admin/api/): users, roles, sessions and the audit log.

Callers present an idp access token with the `idp:admin` scope: one obtained by an admin user
through the code flow, or by a client_credentials client granted that scope.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

from authlib.oauth2.rfc6749 import OAuth2Error
from flask import Blueprint, Response, current_app, g, jsonify, request, url_for

from ..errors import IdpError
from ..extensions import csrf
from ..schemas import users as user_schema
from ..services import admin, audit, clients, roles, signin, users
from .serializers import audit_event_json, session_json, user_json

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api")
csrf.exempt(bp)  # bearer tokens, not cookies: CSRF does not apply
ADMIN_SCOPE = "idp:admin"
MAX_PER_PAGE = 200


class ApiError(IdpError):
    """An error answered as {"error", "error_description"} with its HTTP status (by
    views/errors.py, like every IdpError: AccountError, ClientError and the rest)."""

    def __init__(self, status: int, error: str, description: str) -> None:
        super().__init__(description, status=status, error=error)


# The query parameters each operation documents; any other is refused (a typo such as
# ?emial= would otherwise silently list everything).
QUERY_PARAMETERS = {
    "admin_api.list_users": {"page", "per_page", "email"},
    "admin_api.query_audit": {"user", "client", "type", "since", "until", "limit"},
}


@bp.before_request
def require_admin_token():
    """A valid `idp:admin` access token; a user's token also needs the admin role now."""
    if request.endpoint == "admin_api.openapi":
        return None
    unknown = sorted(set(request.args) - QUERY_PARAMETERS.get(request.endpoint or "", set()))
    if unknown:
        raise ApiError(400, "invalid_request", f"Unknown query parameter '{unknown[0]}'.")
    protector = current_app.extensions["idp.resource_protector"]
    token = protector.acquire_token(ADMIN_SCOPE)  # 401/403 with WWW-Authenticate
    subject = token.get("sub")
    # The token outlives nothing: a deleted client (or one no longer granted idp:admin)
    # loses the API at once, not when its token expires. Read uncached.
    client = clients.find_client(token.get("client_id"))
    if client is None or (
        subject == client.client_id and ADMIN_SCOPE not in (client.scope or "").split()
    ):
        raise ApiError(401, "invalid_token", "The client of this token no longer exists.")
    if subject != token.get("client_id"):
        user = users.get_user_by_subject(subject)
        if user is None or user.disabled or "admin" not in user.roles:
            raise ApiError(403, "insufficient_role", "The admin role is required.")
    g.admin_actor = subject
    return None


def _json_body() -> dict:
    """The JSON object sent; its fields are checked by a schema (idp/schemas), which refuses
    unknown ones rather than ignoring them."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ApiError(400, "invalid_request", "The body must be a JSON object.")
    return body


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise ApiError(400, "invalid_request", f"'{name}' must be a number from {low} to {high}.")
    return int(raw)


def _user_or_404(user_id: str):
    user = admin.find_user(user_id)
    if user is None:
        raise ApiError(404, "not_found", "No such user.")
    return user


@bp.get("/users")
def list_users():
    page = _int_arg("page", 1, 1, 1_000_000)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE)
    items, total = admin.list_users(page, per_page, request.args.get("email"))
    return jsonify(users=[user_json(u) for u in items], page=page, per_page=per_page, total=total)


@bp.post("/users")
def create_user():
    new = user_schema.validate(user_schema.NewUser, _json_body())
    user = users.create_user(
        new.email,
        new.password,
        name=new.name,
        roles=roles.check_known(new.roles or ["user"]),
        email_verified=new.email_verified,
    )
    response = jsonify(user_json(user))
    response.status_code = 201
    response.headers["Location"] = url_for("admin_api.show_user", user_id=str(user.id))
    return response


@bp.get("/users/<user_id>")
def show_user(user_id: str):
    return jsonify(user_json(_user_or_404(user_id)))


@bp.patch("/users/<user_id>")
def update_user(user_id: str):
    user = _user_or_404(user_id)
    update = user_schema.validate(user_schema.UserUpdate, _json_body())
    admin.update_user(
        user,
        name=update.name,
        email_verified=update.email_verified,
        roles=update.roles,
        disabled=update.disabled,
        actor=g.admin_actor,
    )
    return jsonify(user_json(user))


@bp.put("/users/<user_id>/roles")
def set_user_roles(user_id: str):
    user = _user_or_404(user_id)
    body = user_schema.validate(user_schema.RoleList, _json_body())
    admin.set_roles(user, body.roles, g.admin_actor)
    return jsonify(user_json(user))


@bp.post("/users/<user_id>/disable")
def disable_user(user_id: str):
    user = _user_or_404(user_id)
    admin.disable(user, actor=g.admin_actor)
    return jsonify(user_json(user))


@bp.post("/users/<user_id>/enable")
def enable_user(user_id: str):
    user = _user_or_404(user_id)
    admin.enable(user, actor=g.admin_actor)
    return jsonify(user_json(user))


@bp.post("/users/<user_id>/password-reset")
def force_password_reset(user_id: str):
    admin.force_password_reset(_user_or_404(user_id), actor=g.admin_actor)
    return "", 204


@bp.delete("/users/<user_id>")
def delete_user(user_id: str):
    admin.delete_user(_user_or_404(user_id), actor=g.admin_actor)
    return "", 204


@bp.get("/users/<user_id>/sessions")
def list_sessions(user_id: str):
    user = _user_or_404(user_id)
    return jsonify(sessions=[session_json(s) for s in signin.live_sessions(user.id)])


@bp.delete("/users/<user_id>/sessions")
def end_all_sessions(user_id: str):
    user = _user_or_404(user_id)
    ended = signin.end_sessions(user.id, reason="admin")
    return jsonify(ended=ended)


@bp.delete("/users/<user_id>/sessions/<session_id>")
def end_one_session(user_id: str, session_id: str):
    user = _user_or_404(user_id)
    target = signin.find_live_session(session_id, user.id)
    if target is None:
        raise ApiError(404, "not_found", "No such live session.")
    signin.end_session(target, reason="admin")
    return "", 204


@bp.get("/roles")
def list_roles():
    return jsonify(roles=roles.all_roles())


@bp.post("/roles")
def define_role():
    body = user_schema.validate(user_schema.Role, _json_body())
    role = roles.define(body.name, body.description)
    return jsonify(name=role.name, description=role.description), 201


def _client_or_404(client_id: str):
    client = clients.find_client(client_id)
    if client is None:
        raise ApiError(404, "not_found", "No such client.")
    return client


@bp.get("/clients")
def list_clients():
    return jsonify(clients=[clients.describe(c) for c in clients.list_clients()])


@bp.post("/clients")
def create_client():
    # validated by schemas.ClientMetadata; the audit row is in the service's transaction
    client, secret = clients.register(_json_body(), actor=g.admin_actor)
    response = jsonify(clients.describe(client, secret))
    response.status_code = 201
    response.headers["Location"] = url_for("admin_api.show_client", client_id=client.client_id)
    return response


@bp.get("/clients/<client_id>")
def show_client(client_id: str):
    return jsonify(clients.describe(_client_or_404(client_id)))


@bp.patch("/clients/<client_id>")
def update_client(client_id: str):
    client = _client_or_404(client_id)
    clients.change(client, _json_body(), actor=g.admin_actor)
    return jsonify(clients.describe(client))


@bp.post("/clients/<client_id>/secret")
def rotate_client_secret(client_id: str):
    client = _client_or_404(client_id)
    secret = clients.rotate_secret(client, actor=g.admin_actor)
    return jsonify(clients.describe(client, secret))


@bp.delete("/clients/<client_id>")
def delete_client(client_id: str):
    _client_or_404(client_id)
    clients.delete_client(client_id, actor=g.admin_actor)
    return "", 204


@bp.get("/audit")
def query_audit():
    user_id = request.args.get("user")
    if user_id is not None and users.get_user_by_subject(user_id) is None and not _is_uuid(user_id):
        raise ApiError(400, "invalid_request", "'user' must be a user id.")
    event_type = request.args.get("type")
    if event_type and event_type not in audit.EVENT_TYPES:
        raise ApiError(400, "invalid_request", f"Unknown event type '{event_type}'.")
    events = audit.query(
        user_id=_uuid_or_none(user_id),
        client_id=request.args.get("client"),
        event_type=event_type,
        since=_time_arg("since"),
        until=_time_arg("until"),
        limit=_int_arg("limit", 100, 1, 1000),
    )
    return jsonify(events=[audit_event_json(e) for e in events])


def _time_arg(name: str) -> datetime | None:
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise ApiError(400, "invalid_request", f"'{name}' must be an ISO 8601 time.") from None
    if value.tzinfo is None:
        raise ApiError(400, "invalid_request", f"'{name}' must include a time zone (e.g. Z).")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 pushed past datetime's range by the offset
        return (
            datetime.min.replace(tzinfo=UTC)
            if value.year == 1
            else datetime.max.replace(tzinfo=UTC)
        )


def _is_uuid(value: str) -> bool:
    return _uuid_or_none(value) is not None


def _uuid_or_none(value: str | None):
    import uuid

    try:
        return uuid.UUID(value) if value else None
    except ValueError:
        return None


@bp.get("/openapi.json")
def openapi():
    from .admin_openapi import admin_openapi

    return jsonify(admin_openapi(current_app.config["IDP"].issuer))


@bp.errorhandler(OAuth2Error)
def token_refused(exc: OAuth2Error):
    """RFC 6750 answers from the token check, with WWW-Authenticate on 401 and 403 alike."""
    status, body, headers = exc()
    response = Response(json.dumps(dict(body)), status, headers)
    if status == 403 and "WWW-Authenticate" not in response.headers:
        description = (exc.get_error_description() or "").replace('"', "'")
        response.headers["WWW-Authenticate"] = (
            f'Bearer error="{exc.error}", error_description="{description}"'
        )
    return response
