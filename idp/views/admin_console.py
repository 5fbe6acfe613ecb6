"""The admin console (/admin): server-rendered pages for users, clients, sessions and audit.

For signed-in users with the admin role; with IDP_ADMIN_REQUIRE_MFA the session must also
have passed a second factor. Every change is a CSRF-protected POST.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, g, redirect, render_template, request, url_for

from ..schemas import clients as client_schema
from ..schemas import users as user_schema
from ..services import admin, audit, clients, roles, signin, users
from . import context
from .serializers import audit_event_json

bp = Blueprint("admin_console", __name__, url_prefix="/admin")
PER_PAGE = 50


@bp.before_request
def require_admin():
    user = context.current_user()
    if user is None:
        return redirect(url_for("auth.login", next="admin"), 303)
    if "admin" not in user.roles:
        abort(403)
    session = context.current_session()
    if current_app.config["IDP"].admin_require_mfa and "mfa" not in (session.amr or []):
        if user.mfa_enabled:
            return redirect(url_for("mfa.verify", next="admin"), 303)
        return redirect(url_for("mfa.settings"), 303)
    g.admin_actor = str(user.id)
    return None


def _page(template: str, status: int = 200, **values):
    return render_template(f"admin/{template}", **values), status, {"Cache-Control": "no-store"}


@bp.get("/")
def dashboard():
    _, total_users = admin.list_users(1, 1)
    recent = [audit_event_json(e) for e in audit.query(limit=20)]
    return _page(
        "dashboard.html",
        total_users=total_users,
        total_clients=len(clients.list_clients()),
        events=recent,
    )


@bp.get("/users")
def user_list():
    page = max(1, request.args.get("page", 1, type=int) or 1)
    email = request.args.get("email", "")[:320]
    items, total = admin.list_users(page, PER_PAGE, email or None)
    return _page(
        "users.html",
        users=items,
        total=total,
        page=page,
        email=email,
        pages=max(1, -(-total // PER_PAGE)),
        roles=roles.all_roles(),
    )


@bp.post("/users")
def user_create():
    try:
        form = request.form
        fields = {
            "email": form.get("email", ""),
            "name": form.get("name", ""),
            "roles": form.getlist("roles") or ["user"],
            "email_verified": form.get("email_verified") == "on",
        }
        if form.get("password"):
            fields["password"] = form["password"]
        new = user_schema.validate(user_schema.NewUser, fields)
        user = users.create_user(
            new.email,
            new.password,
            name=new.name,
            roles=roles.check_known(new.roles),
            email_verified=new.email_verified,
        )
    except users.AccountError as exc:
        items, total = admin.list_users(1, PER_PAGE)
        return _page(
            "users.html",
            400,
            users=items,
            total=total,
            page=1,
            email="",
            pages=1,
            roles=roles.all_roles(),
            error=str(exc),
        )
    return redirect(url_for("admin_console.user_show", user_id=str(user.id)), 303)


def _user(user_id: str):
    user = admin.find_user(user_id)
    if user is None:
        abort(404)
    return user


@bp.get("/users/<user_id>")
def user_show(user_id: str, error: str | None = None, status: int = 200):
    user = _user(user_id)
    return _page(
        "user.html",
        status,
        user=user,
        sessions=signin.live_sessions(user.id),
        roles=roles.all_roles(),
        error=error,
        events=[audit_event_json(e) for e in audit.query(user_id=user.id, limit=20)],
    )


@bp.post("/users/<user_id>/roles")
def user_roles(user_id: str):
    user = _user(user_id)
    try:
        chosen = user_schema.validate(
            user_schema.RoleList, {"roles": request.form.getlist("roles")}
        )
        admin.set_roles(user, chosen.roles, actor=g.admin_actor)
    except users.AccountError as exc:
        return user_show(user_id, error=str(exc), status=400)
    return redirect(url_for("admin_console.user_show", user_id=user_id), 303)


@bp.post("/users/<user_id>/<action>")
def user_action(user_id: str, action: str):
    user = _user(user_id)
    try:
        return _user_action(user, user_id, action)
    except users.AccountError as exc:  # a guard rail (services/admin.py keep_an_admin)
        return user_show(user_id, error=str(exc), status=400)


def _user_action(user, user_id: str, action: str):
    if action == "disable":
        admin.disable(user, actor=g.admin_actor)
    elif action == "enable":
        admin.enable(user, actor=g.admin_actor)
    elif action == "password-reset":
        admin.force_password_reset(user, actor=g.admin_actor)
    elif action == "end-sessions":
        signin.end_sessions(user.id, reason="admin")
    elif action == "end-session":
        target = signin.find_live_session(request.form.get("session_id"), user.id)
        if target is not None:
            signin.end_session(target, reason="admin")
    elif action == "delete":
        admin.delete_user(user, actor=g.admin_actor)
        return redirect(url_for("admin_console.user_list"), 303)
    else:
        abort(404)
    return redirect(url_for("admin_console.user_show", user_id=user_id), 303)


@bp.get("/clients")
def client_list(error: str | None = None, status: int = 200, created: dict | None = None):
    return _page(
        "clients.html", status, clients=clients.list_clients(), error=error, created=created
    )


# The client fields the console's form has; its "name" input is client_name.
CLIENT_FORM_FIELDS = (
    "client_name",
    "redirect_uris",
    "post_logout_redirect_uris",
    "grant_types",
    "scope",
    "first_party",
    "require_mfa",
    "refresh_retry_window",
)
CLIENT_FORM_NAMES = {"client_name": "name"}


@bp.post("/clients")
def client_create():
    try:
        data = client_schema.from_form(request.form, CLIENT_FORM_NAMES, CLIENT_FORM_FIELDS)
        if request.form.get("public") == "on":
            data = clients.model_input({**data, "public": True})
        client, secret = clients.register(data, actor=g.admin_actor)
    except clients.ClientError as exc:
        return client_list(error=str(exc), status=400)
    return client_list(created=clients.describe(client, secret), status=201)


@bp.get("/clients/<client_id>")
def client_show(client_id: str, error: str | None = None, status: int = 200):
    client = clients.find_client(client_id)
    if client is None:
        abort(404)
    return _page(
        "client.html",
        status,
        client=client,
        metadata=clients.describe(client),
        retry_window=client.client_metadata.get("refresh_retry_window"),
        default_retry_window=current_app.config["IDP"].refresh_retry_window,
        error=error,
    )


@bp.post("/clients/<client_id>/refresh-retry-window")
def client_retry_window(client_id: str):
    client = clients.find_client(client_id)
    if client is None:
        abort(404)
    try:
        data = client_schema.from_form(request.form, {}, ["refresh_retry_window"])
        if not data:
            raise clients.ClientError("give a number of seconds (0 keeps rotation strict)")
        clients.change(client, data, actor=g.admin_actor)
    except clients.ClientError as exc:
        return client_show(client_id, error=str(exc), status=400)
    return redirect(url_for("admin_console.client_show", client_id=client_id), 303)


@bp.post("/clients/<client_id>/delete")
def client_delete(client_id: str):
    if not clients.delete_client(client_id, actor=g.admin_actor):
        abort(404)
    return redirect(url_for("admin_console.client_list"), 303)


@bp.get("/audit")
def audit_log():
    event_type = request.args.get("type") or None
    if event_type not in (None, *audit.EVENT_TYPES):
        event_type = None
    events = [audit_event_json(e) for e in audit.query(event_type=event_type, limit=200)]
    return _page("audit.html", events=events, event_type=event_type, types=audit.EVENT_TYPES)
