"""FastAPI / Starlette adapter: a dependency that returns the verified token.

    from fastapi import Depends, FastAPI
    from idp_verifier.starlette import RequireToken

    read_notes = RequireToken(verifier, scopes=["notes:read"])

    @app.get("/notes")
    def notes(token: VerifiedToken = Depends(read_notes)):
        return {"owner": token.sub}

A request without a valid token gets an HTTPException carrying the RFC 6750 status and
`WWW-Authenticate` header (FastAPI answers it as `{"detail": "..."}`).
"""

# No `from __future__ import annotations`: FastAPI reads the annotation of __call__ at
# runtime to know that it wants the Request.

import logging
from collections.abc import Iterable

from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request

from .core import VerifiedToken, Verifier, _names
from .errors import TokenError, VerifierUnavailable

log = logging.getLogger("idp.verifier")


class RequireToken:
    """A dependency: `Depends(RequireToken(verifier, scopes=..., roles=...))`.

    The token is also left on `request.state.idp_token`. Verification runs inline when it
    is pure computation (keys cached, no revocation check) and in the thread pool when it
    may wait on the network, so the event loop never blocks on idp or Redis.
    """

    def __init__(
        self,
        verifier: Verifier,
        scopes: str | Iterable[str] = (),
        roles: str | Iterable[str] = (),
    ) -> None:
        self.verifier = verifier
        self.scopes = _names(scopes)
        self.roles = _names(roles)

    async def __call__(self, request: Request) -> VerifiedToken:
        authorization = request.headers.get("authorization")
        try:
            if self.verifier.may_block:
                token = await run_in_threadpool(
                    self.verifier.verify_header, authorization, self.scopes, self.roles
                )
            else:
                token = self.verifier.verify_header(authorization, self.scopes, self.roles)
        except TokenError as error:
            if isinstance(error, VerifierUnavailable):
                log.error("cannot check access tokens: %s", error)
            detail = error.as_dict()["error_description"]
            raise HTTPException(error.status, detail=detail, headers=error.headers) from None
        request.state.idp_token = token
        return token
