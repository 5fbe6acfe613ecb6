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
    done = browser.submit(page, f"/admin/users/{other.id}/roles", {"roles": ["user"]})
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
    assert browser.submit(page, f"/admin/users/{other.id}/disable", {}).status_code == 303
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
