"""`idp.verifier.core`: re-exports `idp_verifier.core`."""

from idp_verifier.core import *  # noqa: F403
