"""The admin console (/admin): server-rendered pages for users, clients, sessions and audit.

For signed-in users with the admin role; with IDP_ADMIN_REQUIRE_MFA the session must also
have passed a second factor. Every change is a CSRF-protected POST.
"""

from __future__ import annotations

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _

from ..schemas import clients as client_schema
from ..schemas import users as user_schema
from ..services import admin, audit, clients, roles, signin, users
from . import context
from .serializers import audit_event_json

bp = Blueprint("admin_console", __name__, url_prefix="/admin")
PER_PAGE = 50
AUDIT_PER_PAGE = 100
# Actions that cannot be undone from the console ask first (a page, no script needed).
CONFIRMED_FIELD = "confirmed"


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


def _confirmed() -> bool:
    return request.form.get(CONFIRMED_FIELD) == "1"


def _confirm(question: str, consequence: str, button: str, cancel_url: str):
    """Ask before a destructive POST: the same form again, with confirmed=1, styled danger."""
    fields = [(k, v) for k, v in request.form.items(multi=True) if k != "csrf_token"]
    return _page(
        "confirm.html",
        question=question,
        consequence=consequence,
        button=button,
        action=request.path,
        fields=fields,
        cancel_url=cancel_url,
    )


def _events(events):
    """Audit rows as JSON plus the email of each user that still exists."""
    rows = [audit_event_json(e) for e in events]
    emails = admin.emails_by_id({r["user_id"] for r in rows if r["user_id"]})
    for row in rows:
        row["user_email"] = emails.get(row["user_id"] or "")
    return rows


@bp.get("/")
def dashboard():
    _, total_users = admin.list_users(1, 1)
    recent = _events(audit.query(limit=20))
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
        events=_events(audit.query(user_id=user.id, limit=20)),
    )


@bp.post("/users/<user_id>/roles")
def user_roles(user_id: str):
    user = _user(user_id)
    new_roles = request.form.getlist("roles")
    removed = [r for r in user.roles if r not in new_roles]
    back = url_for("admin_console.user_show", user_id=user_id)
    if admin.ADMIN_ROLE in removed:
        try:
            admin.keep_an_admin(user, "remove_admin", g.admin_actor)  # refuse before asking
        except users.AccountError as exc:
            return user_show(user_id, error=str(exc), status=400)
    if removed and not _confirmed():
        return _confirm(
            _("Remove %(roles)s from %(email)s?", roles=", ".join(removed), email=user.email),
            _("Access tokens issued before keep the role until they are refreshed."),
            _("Remove the role"),
            back,
        )
    try:
        chosen = user_schema.validate(user_schema.RoleList, {"roles": new_roles})
        admin.set_roles(user, chosen.roles, actor=g.admin_actor)
    except users.AccountError as exc:
        return user_show(user_id, error=str(exc), status=400)
    flash(_("Roles of %(email)s saved.", email=user.email))
    return redirect(back, 303)


@bp.post("/users/<user_id>/<action>")
def user_action(user_id: str, action: str):
    user = _user(user_id)
    try:
        return _user_action(user, user_id, action)
    except users.AccountError as exc:  # a guard rail (services/admin.py keep_an_admin)
        return user_show(user_id, error=str(exc), status=400)


def N_(message: str) -> str:  # noqa: N802 - the gettext convention: mark, translate later
    """Mark a string for extraction (make translations); _() translates it when shown."""
    return message


# action: (question, consequence, button, what the console says afterwards)
DANGEROUS_USER_ACTIONS = {
    "disable": (
        N_("Disable %(email)s?"),
        N_("They are signed out everywhere and cannot sign in until enabled again."),
        N_("Disable"),
        N_("%(email)s was disabled and signed out everywhere."),
    ),
    "password-reset": (
        N_("Force a password reset for %(email)s?"),
        N_("Their password stops working at once and they are mailed a reset link."),
        N_("Force a reset"),
        N_("The password of %(email)s no longer works; a reset link was mailed."),
    ),
    "end-sessions": (
        N_("End every session of %(email)s?"),
        N_("They are signed out in every browser."),
        N_("End all sessions"),
        N_("Every session of %(email)s was ended."),
    ),
    "end-session": (
        N_("End this session of %(email)s?"),
        N_("That browser is signed out."),
        N_("End the session"),
        N_("The session was ended."),
    ),
    "delete": (
        N_("Delete %(email)s?"),
        N_(
            "Their account and personal data are erased; audit records stay, without them. "
            "This cannot be undone."
        ),
        N_("Delete the user"),
        N_("%(email)s was deleted."),
    ),
}


def _user_action(user, user_id: str, action: str):
    back = url_for("admin_console.user_show", user_id=user_id)
    texts = DANGEROUS_USER_ACTIONS.get(action)
    if action in ("disable", "delete"):
        admin.keep_an_admin(user, action, g.admin_actor)  # refuse before asking
    if texts is not None and not _confirmed():
        question, consequence, button, _done = texts
        return _confirm(_(question, email=user.email), _(consequence), _(button), back)
    email = user.email
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
        flash(_(texts[3], email=email))
        return redirect(url_for("admin_console.user_list"), 303)
    else:
        abort(404)
    flash(_(texts[3], email=email) if texts else _("%(email)s was enabled.", email=email))
    return redirect(back, 303)


@bp.get("/clients")
def client_list(error: str | None = None, status: int = 200, created: dict | None = None):
    search = request.args.get("q", "")[:200].strip()
    found = clients.list_clients()
    if search:
        needle = search.lower()
        found = [
            c for c in found if needle in c.client_id.lower() or needle in c.client_name.lower()
        ]
    page = max(1, request.args.get("page", 1, type=int) or 1)
    pages = max(1, -(-len(found) // PER_PAGE))
    return _page(
        "clients.html",
        status,
        clients=found[(page - 1) * PER_PAGE : page * PER_PAGE],
        total=len(found),
        q=search,
        page=page,
        pages=pages,
        error=error,
        created=created,
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
    client = clients.find_client(client_id)
    if client is None:
        abort(404)
    if not _confirmed():
        return _confirm(
            _("Delete the client %(name)s?", name=client.client_name),
            _(
                "Every token it holds is revoked and its users are signed out of it. "
                "This cannot be undone."
            ),
            _("Delete the client"),
            url_for("admin_console.client_show", client_id=client_id),
        )
    name = client.client_name
    if not clients.delete_client(client_id, actor=g.admin_actor):
        abort(404)
    flash(_("The client %(name)s was deleted and its tokens revoked.", name=name))
    return redirect(url_for("admin_console.client_list"), 303)


@bp.get("/audit")
def audit_log():
    event_type = request.args.get("type") or None
    if event_type not in (None, *audit.EVENT_TYPES):
        event_type = None
    email = request.args.get("email", "")[:320].strip()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    user = users.find_by_email(email) if email else None
    if email and user is None:
        events = []
    else:
        # One row more than a page tells whether there is a next page.
        events = _events(
            audit.query(
                user_id=user.id if user else None,
                event_type=event_type,
                limit=AUDIT_PER_PAGE + 1,
                offset=(page - 1) * AUDIT_PER_PAGE,
            )
        )
    return _page(
        "audit.html",
        events=events[:AUDIT_PER_PAGE],
        more=len(events) > AUDIT_PER_PAGE,
        page=page,
        email=email,
        event_type=event_type,
        types=audit.EVENT_TYPES,
    )
