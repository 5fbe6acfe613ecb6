"""`idp.verifier`: idp-verifier under the name code written against the server package uses.

The verifier is a distribution of its own, idp-verifier (verifier/ in this repository,
imported as `idp_verifier`), so that a resource server installs joserfc and not the server.
idp depends on it, and this package and its submodules re-export it: a contract for code
that imports `idp.verifier`. Nothing in the server imports the verifier.
"""

from idp_verifier import *  # noqa: F403
from idp_verifier import __all__  # noqa: F401
