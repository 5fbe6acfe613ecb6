"""The OpenAPI 3.1 description of the admin API, served at /admin/api/openapi.json."""

from __future__ import annotations

from typing import Any

from ..schemas import clients as client_schema
from ..schemas import users as user_schema


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, description: str = "OK") -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> dict:
    text = {
        400: "Invalid input",
        401: "Missing or invalid token",
        403: "Token lacks idp:admin, or the user lacks the admin role",
        404: "Not found",
        409: "The email or role name is taken",
    }
    # Any request may be refused as invalid (control characters, a malformed value).
    return {str(s): _json(_ref("Error"), text[s]) for s in sorted({400, *statuses})}


def _op(
    summary: str,
    ok: dict,
    *,
    body: str | None = None,
    params: list | None = None,
    errors=(401, 403),
) -> dict:
    operation: dict[str, Any] = {"summary": summary, "responses": {**ok, **_errors(*errors)}}
    if body:
        operation["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    if params:
        operation["parameters"] = params
    return operation


def _query(name: str, schema: dict, description: str) -> dict:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _path(name: str) -> dict:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "schema": {"type": "string", "minLength": 1},
    }


# What views/edge.py refuses in every string: C0 controls but tab, LF and CR; DEL; C1.
PRINTABLE = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"


def _printable_strings(node: Any) -> Any:
    """Add PRINTABLE to every free-form string schema (no format, enum or pattern)."""
    if isinstance(node, dict):
        if node.get("type") == "string" and not {"format", "enum", "pattern"} & set(node):
            node["pattern"] = PRINTABLE
        for value in node.values():
            _printable_strings(value)
    elif isinstance(node, list):
        for value in node:
            _printable_strings(value)
    return node


NO_CONTENT = {"204": {"description": "Done"}}
STRINGS = {"type": "array", "items": {"type": "string"}}


def admin_openapi(issuer: str) -> dict[str, Any]:
    """The document, with every free-form string limited to what the server accepts."""
    return _printable_strings(_document(issuer))


def _document(issuer: str) -> dict[str, Any]:
    from ..services.audit import EVENT_TYPES

    user_ok = {"200": _json(_ref("User"))}
    client_ok = {"200": _json(_ref("Client"))}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "idp admin API",
            "version": "1.0.0",
            "description": "Manage users, roles, clients, sessions and read the audit "
            "log. Authenticate with an idp access token carrying the "
            "idp:admin scope.",
        },
        "servers": [{"url": f"{issuer}/admin/api"}],
        "security": [{"bearer": []}],
        "paths": {
            "/users": {
                "get": _op(
                    "List users",
                    {"200": _json(_ref("UserPage"))},
                    params=[
                        _query(
                            "page",
                            {"type": "integer", "minimum": 1, "maximum": 1_000_000},
                            "Page number",
                        ),
                        _query(
                            "per_page",
                            {"type": "integer", "minimum": 1, "maximum": 200},
                            "Page size",
                        ),
                        _query("email", {"type": "string"}, "Part of the email to search"),
                    ],
                    errors=(400, 401, 403),
                ),
                "post": _op(
                    "Create a user",
                    {"201": _json(_ref("User"), "Created")},
                    body="NewUser",
                    errors=(400, 401, 403, 409),
                ),
            },
            "/users/{user_id}": {
                "parameters": [_path("user_id")],
                "get": _op("Show a user", user_ok, errors=(401, 403, 404)),
                "patch": _op(
                    "Update name, email_verified, roles or disabled",
                    user_ok,
                    body="UserUpdate",
                    errors=(400, 401, 403, 404),
                ),
                "delete": _op(
                    "Erase a user (audit records stay, pseudonymous)",
                    NO_CONTENT,
                    errors=(401, 403, 404),
                ),
            },
            "/users/{user_id}/roles": {
                "parameters": [_path("user_id")],
                "put": _op(
                    "Set a user's roles", user_ok, body="RoleList", errors=(400, 401, 403, 404)
                ),
            },
            "/users/{user_id}/disable": {
                "parameters": [_path("user_id")],
                "post": _op(
                    "Disable (ends sessions and refresh families)", user_ok, errors=(401, 403, 404)
                ),
            },
            "/users/{user_id}/enable": {
                "parameters": [_path("user_id")],
                "post": _op("Enable", user_ok, errors=(401, 403, 404)),
            },
            "/users/{user_id}/password-reset": {
                "parameters": [_path("user_id")],
                "post": _op("Force a password reset", NO_CONTENT, errors=(401, 403, 404)),
            },
            "/users/{user_id}/sessions": {
                "parameters": [_path("user_id")],
                "get": _op(
                    "List live sessions",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "sessions": {"type": "array", "items": _ref("Session")}
                                },
                            }
                        )
                    },
                    errors=(401, 403, 404),
                ),
                "delete": _op(
                    "End every session",
                    {
                        "200": _json(
                            {"type": "object", "properties": {"ended": {"type": "integer"}}}
                        )
                    },
                    errors=(401, 403, 404),
                ),
            },
            "/users/{user_id}/sessions/{session_id}": {
                "parameters": [_path("user_id"), _path("session_id")],
                "delete": _op("End one session", NO_CONTENT, errors=(401, 403, 404)),
            },
            "/roles": {
                "get": _op(
                    "List roles",
                    {"200": _json({"type": "object", "properties": {"roles": STRINGS}})},
                ),
                "post": _op(
                    "Define a role",
                    {"201": _json(_ref("Role"), "Created")},
                    body="Role",
                    errors=(400, 401, 403, 409),
                ),
            },
            "/clients": {
                "get": _op(
                    "List clients",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "clients": {"type": "array", "items": _ref("Client")}
                                },
                            }
                        )
                    },
                ),
                "post": _op(
                    "Register a client (the secret is returned once)",
                    {"201": _json(_ref("Client"), "Created")},
                    body="ClientMetadata",
                    errors=(400, 401, 403),
                ),
            },
            "/clients/{client_id}": {
                "parameters": [_path("client_id")],
                "get": _op("Show a client", client_ok, errors=(401, 403, 404)),
                "patch": _op(
                    "Update client metadata",
                    client_ok,
                    body="ClientMetadataUpdate",
                    errors=(400, 401, 403, 404),
                ),
                "delete": _op(
                    "Delete a client and revoke its tokens", NO_CONTENT, errors=(401, 403, 404)
                ),
            },
            "/clients/{client_id}/secret": {
                "parameters": [_path("client_id")],
                "post": _op(
                    "Rotate the client secret (returned once)",
                    client_ok,
                    errors=(400, 401, 403, 404),
                ),
            },
            "/audit": {
                "get": _op(
                    "Query the audit log, newest first",
                    {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "events": {"type": "array", "items": _ref("AuditEvent")}
                                },
                            }
                        )
                    },
                    params=[
                        _query("user", {"type": "string", "format": "uuid"}, "User id"),
                        _query("client", {"type": "string"}, "client_id"),
                        _query(
                            "type", {"type": "string", "enum": sorted(EVENT_TYPES)}, "Event type"
                        ),
                        _query("since", {"type": "string", "format": "date-time"}, "From (incl.)"),
                        _query("until", {"type": "string", "format": "date-time"}, "Until (excl.)"),
                        _query("limit", {"type": "integer", "minimum": 1, "maximum": 1000}, "Max"),
                    ],
                    errors=(400, 401, 403),
                ),
            },
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string"},
                        "error_description": {"type": "string"},
                    },
                },
                **user_schema.openapi_components(),
                "Session": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "string"},
                        "ip": {"type": "string"},
                        "user_agent": {"type": "string"},
                        "amr": STRINGS,
                        "auth_time": {"type": "string", "format": "date-time"},
                        "created_at": {"type": "string", "format": "date-time"},
                        "last_seen_at": {"type": "string", "format": "date-time"},
                    },
                },
                **client_schema.openapi_components(),
                "AuditEvent": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "occurred_at": {"type": "string", "format": "date-time"},
                        "event_type": {"type": "string"},
                        "user_id": {"type": ["string", "null"]},
                        "client_id": {"type": ["string", "null"]},
                        "ip": {"type": "string"},
                        "user_agent": {"type": "string"},
                        "details": {"type": "object"},
                    },
                },
            },
        },
    }
