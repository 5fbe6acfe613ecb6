"""Every error idp raises on purpose, in one hierarchy under IdpError.

Each class says how it is answered, and one place per interface turns it into an answer:

- HTTP (views/errors.py): `status`, `error` and `description` give the RFC 6749-style JSON
  at the APIs ({"error", "error_description"}, Cache-Control: no-store) and a plain page in
  the browser; 5xx ones are logged and answered with a generic message.
- The CLI (cli.py's with_app): the description on stderr, exit status `exit_code`.

A `description` is safe to show: it never holds a secret, a token or a password. The
modules that raise these re-export them under their historical names (config.ConfigError,
store.StoreUnavailable, ...). Input errors are InvalidInput subclasses: the schemas' own
(schemas.users.InvalidAccount, alias services.users.AccountError, and its AccountConflict;
schemas.clients.InvalidClientMetadata, alias services.clients.ClientError).

This module imports nothing from idp, so anything may import it (config and the store too).
"""

from __future__ import annotations


class IdpError(Exception):
    """Base of idp's own errors; subclasses set how the interfaces answer them."""

    status = 500
    error = "server_error"
    exit_code = 1

    def __init__(
        self, description: str = "", *, status: int | None = None, error: str | None = None
    ):
        super().__init__(description)
        self.description = description
        if status is not None:
            self.status = status
        if error is not None:
            self.error = error


class InvalidInput(IdpError, ValueError):
    """Input that cannot be used; the description says why, `field` names the top-level
    field at fault (None when the input as a whole is wrong)."""

    status = 400
    error = "invalid_request"

    def __init__(self, description: str = "", field: str | None = None, **answer) -> None:
        super().__init__(description, **answer)
        self.field = field


class ConfigError(IdpError):
    """The configuration cannot be used; the message says why in one line."""


class KeyFileError(IdpError):
    """A key file is missing, unreadable or of an unsupported kind."""


class SecretDecryptionError(IdpError, ValueError):
    """A stored TOTP secret cannot be opened: wrong key, altered or not ours."""


class Unavailable(IdpError):
    """A service idp depends on cannot answer now: worth a retry, not a bug."""

    status = 503
    error = "temporarily_unavailable"


class StoreUnavailable(Unavailable):
    """The short-lived store could not be reached; callers that guard security fail closed."""


class MailError(IdpError):
    """The message could not be delivered, or IDP_SMTP_URL is unusable; safe to log."""


class UpstreamError(IdpError):
    """An upstream identity provider answered something we cannot use.

    The message is the reason for the log and the audit; `hint`, when set, is safe to show.
    """

    status = 502

    def __init__(self, reason: str, hint: str = "") -> None:
        super().__init__(reason)
        self.description = hint or "The sign-in provider's answer could not be used."
        self.hint = hint


class LinkNeeded(IdpError):
    """The email belongs to an existing account: its owner must sign in to link.

    `account_id` names that account: the pending link may attach to it and to no other.
    The federation view answers it with the linking page; it is never an HTTP error.
    """

    status = 409
    error = "link_needed"

    def __init__(self, account_id) -> None:
        super().__init__("link needed")
        self.account_id = account_id
