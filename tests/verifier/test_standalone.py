"""idp-verifier installs and works alone: its wheel, in a fresh venv with no idp server (nor
Flask, nor redis), verifies a token idp issued and refuses one idp revoked."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from .conftest import revoke

VERIFIER_DIR = Path(__file__).resolve().parents[2] / "verifier"
# What the wheel declares (joserfc, cryptography) and what they import in turn.
DEPENDENCIES = ("joserfc", "cryptography", "cffi", "_cffi_backend", "pycparser")

PROBE = textwrap.dedent(
    """
    import importlib.metadata, json, sys
    from idp_verifier import Introspection, TokenError, Verifier

    issuer, client_id, secret, good, revoked = sys.argv[1:6]
    verifier = Verifier(issuer, audience=client_id,
                        revocation=Introspection(client_id, secret, cache_seconds=0))
    result = {"sub": verifier.verify(good).sub}
    try:
        verifier.verify(revoked)
    except TokenError as error:
        result["revoked"] = [error.status, error.error, error.description]
    missing = []
    for name in ("idp", "flask", "redis", "sqlalchemy", "psycopg2", "gunicorn"):
        try:
            __import__(name)
        except ImportError:
            missing.append(name)
    result["missing"] = missing
    try:
        import idp_verifier.flask  # noqa: F401
    except ImportError as error:
        result["flask_adapter"] = str(error)
    result["version"] = importlib.metadata.version("idp-verifier")
    result["requires"] = importlib.metadata.requires("idp-verifier")
    print(json.dumps(result))
    """
)


def _run(*args: str | Path, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    result = subprocess.run(
        [str(arg) for arg in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=180
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def _link_dependencies(target: Path) -> None:
    """The wheel's own dependencies, taken from this environment (no index needed): a folder
    with only those packages, put on the fresh venv's path by a .pth file."""
    target.mkdir()
    for name in DEPENDENCIES:
        spec = importlib.util.find_spec(name)
        if spec is None:
            continue
        location = Path(
            spec.submodule_search_locations[0] if spec.submodule_search_locations else spec.origin
        )
        (target / location.name).symlink_to(location)


def test_the_verifier_wheel_works_in_a_venv_without_the_server(idp, service, tmp_path):
    dist = tmp_path / "dist"
    _run(
        sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
        "--wheel-dir", dist, VERIFIER_DIR, cwd=tmp_path,
    )  # fmt: skip
    (wheel,) = dist.glob("idp_verifier-*.whl")

    venv = tmp_path / "venv"
    _run(sys.executable, "-m", "venv", "--without-pip", venv, cwd=tmp_path)
    python = venv / "bin" / "python"
    _run(
        sys.executable, "-m", "pip", "--python", python, "install", "--quiet", "--no-index",
        "--no-deps", wheel, cwd=tmp_path,
    )  # fmt: skip
    site = Path(_run(python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))",
                     cwd=tmp_path).strip())  # fmt: skip
    _link_dependencies(tmp_path / "deps")
    (site / "verifier-deps.pth").write_text(str(tmp_path / "deps") + "\n")

    good, revoked = service.mint(), service.mint()
    revoke(idp.issuer, service, revoked)
    # -I: no current directory, PYTHONPATH or user site: only the venv and its .pth.
    output = _run(
        python, "-I", "-c", PROBE, idp.issuer, service.client_id, service.plain_secret, good,
        revoked, cwd=tmp_path,
    )  # fmt: skip
    result = json.loads(output)

    assert result["sub"] == service.client_id
    assert result["revoked"][:2] == [401, "invalid_token"]
    assert "revoked" in result["revoked"][2]
    assert result["missing"] == ["idp", "flask", "redis", "sqlalchemy", "psycopg2", "gunicorn"]
    assert "flask" in result["flask_adapter"].lower()
    assert result["version"] == "0.1.0"
    core = sorted(r.split(">")[0].split("<")[0] for r in result["requires"] if "extra" not in r)
    assert core == ["cryptography", "joserfc"]
