"""Flask's signed-cookie session, without its per-request cost when there is no cookie.

Flask's interface builds an itsdangerous serializer (key derivation set-up included) at the
start of every request, before it looks for the cookie, and computes every cookie attribute
at the end, before it sees the session is empty. The protocol endpoints (/token, /userinfo,
/introspect...) never carry the state cookie, so that was a few percent of their work for
nothing. Same cookie, same signing, same answers: requests without the cookie skip straight
to an empty session, and an empty, untouched session skips the save.
"""

from __future__ import annotations

from flask import Flask, Request, Response
from flask.sessions import SecureCookieSession, SecureCookieSessionInterface, SessionMixin


class StateCookieSessionInterface(SecureCookieSessionInterface):
    def open_session(self, app: Flask, request: Request) -> SecureCookieSession | None:
        if app.secret_key and not request.cookies.get(self.get_cookie_name(app)):
            return self.session_class()
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        # Flask's own early exit, taken before the cookie attributes are worked out: nothing
        # to set, nothing to delete, no Vary: Cookie (the session was never read).
        if not session and not session.modified and not session.accessed:
            return
        super().save_session(app, session, response)
