"""The verifier core runs with only the standard library and joserfc installed."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import idp

IDP_DIR = str(Path(idp.__file__).resolve().parent)
HEAVY = ("flask", "werkzeug", "sqlalchemy", "authlib", "redis", "requests", "starlette", "fastapi")

PROBE = textwrap.dedent(
    """
    import importlib.abc, sys, types

    HEAVY = set(sys.argv[2].split(","))

    class Refuse(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in HEAVY:
                raise ImportError(f"{name} is not installed here")

    sys.meta_path.insert(0, Refuse())
    # Load idp.verifier without running idp/__init__.py (the provider's app factory).
    package = types.ModuleType("idp")
    package.__path__ = [sys.argv[1]]
    sys.modules["idp"] = package

    from idp.verifier import Introspection, Verifier, VerifierMiddleware

    Verifier("https://id.example.com", audience="notes-app",
             revocation=Introspection("notes-app", "secret"))
    loaded = sorted({m.split(".")[0] for m in sys.modules} & HEAVY)
    assert not loaded, loaded
    try:
        import idp.verifier.flask
    except ImportError as exc:
        print("adapter needs its framework:", exc)
    """
)


def test_core_imports_only_the_standard_library_and_joserfc():
    result = subprocess.run(
        [sys.executable, "-c", PROBE, IDP_DIR, ",".join(HEAVY)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "adapter needs its framework: flask is not installed here" in result.stdout
