"""`idp.verifier.flask`: re-exports `idp_verifier.flask`."""

from idp_verifier.flask import *  # noqa: F403
