"""`idp.verifier.revocation`: re-exports `idp_verifier.revocation`."""

from idp_verifier.revocation import *  # noqa: F403
