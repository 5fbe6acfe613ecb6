"""`idp.verifier.starlette`: re-exports `idp_verifier.starlette`."""

from idp_verifier.starlette import *  # noqa: F403
