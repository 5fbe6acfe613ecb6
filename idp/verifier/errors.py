"""`idp.verifier.errors`: re-exports `idp_verifier.errors`."""

from idp_verifier.errors import *  # noqa: F403
