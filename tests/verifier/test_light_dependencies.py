"""idp-verifier runs with only the standard library and joserfc: it imports nothing of the
server (not even `idp`) nor any web framework unless an adapter is imported.
(test_standalone.py installs its wheel into a venv that has none of them.)"""

from __future__ import annotations

import subprocess
import sys
import textwrap

HEAVY = (
    "idp", "flask", "werkzeug", "sqlalchemy", "authlib", "redis", "requests", "starlette",
    "fastapi", "psycopg2", "gunicorn",
)  # fmt: skip

PROBE = textwrap.dedent(
    """
    import importlib.abc, sys

    HEAVY = set(sys.argv[1].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in HEAVY:
                raise ImportError(f"{name} is not installed here")

    sys.meta_path.insert(0, Refuse())

    from idp_verifier import Introspection, Verifier, VerifierMiddleware

    Verifier("https://id.example.com", audience="notes-app",
             revocation=Introspection("notes-app", "secret"))
    loaded = sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
    assert not loaded, loaded
    try:
        import idp_verifier.flask
    except ImportError as exc:
        print("adapter needs its framework:", exc)
    """
)


def test_core_imports_only_the_standard_library_and_joserfc():
    result = subprocess.run(
        [sys.executable, "-c", PROBE, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "adapter needs its framework: flask is not installed here" in result.stdout


def test_idp_verifier_is_the_same_verifier_under_its_old_name():
    """`idp.verifier` and its submodules stay importable for code written against the
    server package: they are idp-verifier's objects, not copies."""
    import idp_verifier
    import idp_verifier.errors
    import idp_verifier.flask
    import idp_verifier.revocation
    import idp_verifier.starlette
    import idp_verifier.wsgi

    import idp.verifier
    from idp.verifier import core, errors, flask, revocation, starlette, wsgi

    for name in idp_verifier.__all__:
        assert getattr(idp.verifier, name) is getattr(idp_verifier, name), name
    assert core.Verifier is idp_verifier.Verifier
    assert errors.VerifierUnavailable is idp_verifier.errors.VerifierUnavailable
    assert revocation.RedisBlocklist is idp_verifier.revocation.RedisBlocklist
    assert flask.require_token is idp_verifier.flask.require_token
    assert flask.current_token is idp_verifier.flask.current_token
    assert starlette.RequireToken is idp_verifier.starlette.RequireToken
    assert wsgi.VerifierMiddleware is idp_verifier.wsgi.VerifierMiddleware
