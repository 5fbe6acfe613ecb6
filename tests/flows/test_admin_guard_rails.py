"""The admin console cannot lock the admins out: no self-demotion, self-disable, self-delete,
and never zero active admins."""

from __future__ import annotations

import re

from idp.services import admin as admin_service
from idp.services import users

from ..conftest import USER_PASSWORD, make_user
from ..helpers import Browser
from .test_admin_console import ADMIN_EMAIL, admin_browser


def _alert(response) -> str:
    return re.search(r'role="alert">([^<]*)<', response.get_data(as_text=True)).group(1)


def _admin_id(app) -> str:
    with app.app_context():
        return str(users.find_by_email(ADMIN_EMAIL).id)


def test_an_admin_cannot_remove_their_own_admin_role(app):
    browser = admin_browser(app)
    admin_id = _admin_id(app)
    page = browser.get(f"/admin/users/{admin_id}")
    refused = browser.submit(page, f"/admin/users/{admin_id}/roles", {"roles": ["user"]})
    assert refused.status_code == 400
    assert "You cannot remove your own admin role" in _alert(refused)
    assert browser.get("/admin/").status_code == 200  # still an admin, not a stock 403


def test_an_admin_cannot_disable_or_delete_themselves(app):
    browser = admin_browser(app)
    admin_id = _admin_id(app)
    page = browser.get(f"/admin/users/{admin_id}")
    for action, words in (("disable", "disable your own"), ("delete", "delete your own")):
        refused = browser.submit(page, f"/admin/users/{admin_id}/{action}", {})
        assert refused.status_code == 400, action
        assert words in _alert(refused)
    assert browser.get("/admin/").status_code == 200


def test_another_admin_may_be_demoted_while_one_stays(app):
    browser = admin_browser(app)
    other = make_user(app, "second@example.com", USER_PASSWORD, roles=["admin"])
    page = browser.get(f"/admin/users/{other.id}")
    confirm = browser.submit(page, f"/admin/users/{other.id}/roles", {"roles": ["user"]})
    done = browser.submit(confirm, f"/admin/users/{other.id}/roles", {})
    assert done.status_code == 303


def test_the_last_active_admin_is_kept_whoever_asks(app):
    only = make_user(app, "only@example.com", USER_PASSWORD, roles=["admin"])
    with app.app_context():
        user = users.get_user_by_subject(str(only.id))
        for change in (
            lambda: admin_service.set_roles(user, ["user"], actor="a-client-id"),
            lambda: admin_service.disable(user, actor="a-client-id"),
            lambda: admin_service.delete_user(user, actor=None),
        ):
            try:
                change()
            except admin_service.AdminGuardError as exc:
                assert "last active admin" in str(exc)
            else:
                raise AssertionError("the last admin was taken away")
        assert "admin" in users.get_user_by_subject(str(only.id)).roles


def test_a_disabled_admin_does_not_count_as_the_one_that_stays(app):
    browser = admin_browser(app)
    other = make_user(app, "second@example.com", USER_PASSWORD, roles=["admin"])
    page = browser.get(f"/admin/users/{other.id}")
    confirm = browser.submit(page, f"/admin/users/{other.id}/disable", {})
    assert browser.submit(confirm, f"/admin/users/{other.id}/disable", {}).status_code == 303
    with app.app_context():
        root = users.find_by_email(ADMIN_EMAIL)
        try:
            admin_service.set_roles(root, ["user"], actor=None)
        except admin_service.AdminGuardError:
            pass
        else:
            raise AssertionError("the only enabled admin lost the role")


def test_the_guard_rails_speak_the_admins_language(app):
    browser = admin_browser(app)
    admin_id = _admin_id(app)
    browser.client.set_cookie("idp_lang", "de")
    page = browser.get(f"/admin/users/{admin_id}")
    refused = browser.submit(page, f"/admin/users/{admin_id}/disable", {})
    assert "Sie können Ihr eigenes Konto nicht deaktivieren." in _alert(refused)


def test_a_plain_user_gets_a_page_with_a_way_forward_at_the_console(app, user):
    browser = Browser(app.test_client())
    browser.sign_in(user.email, USER_PASSWORD)
    refused = browser.get("/admin/")
    assert refused.status_code == 403
    assert "<h1>You cannot open this page</h1>" in refused.get_data(as_text=True)
    assert 'href="/">Go to the start page</a>' in refused.get_data(as_text=True)


def test_destructive_actions_ask_first_in_a_danger_style_and_say_what_they_did(app, user):
    browser = admin_browser(app)
    page = browser.get(f"/admin/users/{user.id}")
    for action in ("end-sessions", "password-reset", "delete"):
        confirm = browser.submit(page, f"/admin/users/{user.id}/{action}", {})
        html = confirm.get_data(as_text=True)
        assert confirm.status_code == 200
        assert user.email in html
        assert '<button type="submit" class="danger">' in html
        assert f'href="/admin/users/{user.id}">Cancel</a>' in html
    done = browser.submit(confirm, f"/admin/users/{user.id}/delete", {})
    assert done.status_code == 303
    assert f"{user.email} was deleted." in browser.follow(done).get_data(as_text=True)


def test_removing_a_role_asks_first(app, user):
    browser = admin_browser(app)
    page = browser.get(f"/admin/users/{user.id}")
    browser.submit(page, f"/admin/users/{user.id}/roles", {"roles": ["user", "moderator"]})
    confirm = browser.submit(page, f"/admin/users/{user.id}/roles", {"roles": ["user"]})
    assert f"Remove moderator from {user.email}?" in confirm.get_data(as_text=True)
    assert 'moderator" checked' in browser.get(f"/admin/users/{user.id}").get_data(as_text=True)
    browser.submit(confirm, f"/admin/users/{user.id}/roles", {})
    assert 'moderator" checked' not in browser.get(f"/admin/users/{user.id}").get_data(
        as_text=True
    )


def test_events_name_people_by_email(app, user):
    browser = admin_browser(app)
    Browser(app.test_client()).sign_in(user.email, USER_PASSWORD)
    html = browser.get("/admin/audit?type=login_success").get_data(as_text=True)
    assert f">{user.email}</a>" in html
    assert f">{str(user.id)[:8]}</a>" not in html
    filtered = browser.get(f"/admin/audit?email={ADMIN_EMAIL}").get_data(as_text=True)
    assert f">{user.email}</a>" not in filtered


def test_a_new_clients_secret_is_shown_once_in_a_copyable_box(app):
    browser = admin_browser(app)
    created = browser.submit(
        browser.get("/admin/clients"),
        "/admin/clients",
        {"name": "Wiki", "redirect_uris": "https://wiki.example.org/cb"},
    )
    html = created.get_data(as_text=True)
    assert re.search(r'<input id="created-secret" type="text" readonly value="[^"]{20,}"', html)
    assert "it is shown only once" in html
    assert 'id="created-secret"' not in browser.get("/admin/clients").get_data(as_text=True)


def test_clients_can_be_searched_and_paged(app):
    from ..conftest import make_client

    make_client(app, "Wiki", ["https://wiki.example.org/cb"])
    make_client(app, "Mail", ["https://mail.example.org/cb"])
    browser = admin_browser(app)
    html = browser.get("/admin/clients?q=wik").get_data(as_text=True)
    assert ">Wiki</a>" in html and ">Mail</a>" not in html
    assert "Page 1 of 1" in html
    assert "No clients match." in browser.get("/admin/clients?q=zzz").get_data(as_text=True)
