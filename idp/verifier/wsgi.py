"""`idp.verifier.wsgi`: re-exports `idp_verifier.wsgi`."""

from idp_verifier.wsgi import *  # noqa: F403
