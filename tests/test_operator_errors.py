"""What an operator sees when idp cannot start or reach its services: one line, no trace.

Run as processes, the way operators and deployment scripts run them.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
IDP = str(Path(sys.executable).with_name("idp"))
GUNICORN = str(Path(sys.executable).with_name("gunicorn"))


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]  # closed again when the probe goes


def run(command: list[str], tmp_path, timeout=60, **env) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    clean.pop("DATABASE_URL", None)
    clean.pop("REDIS_URL", None)
    clean.update(IDP_KEYS_DIR=str(tmp_path / "keys"), **env)
    (tmp_path / "keys").mkdir(exist_ok=True)
    return subprocess.run(
        command, cwd=ROOT, env=clean, capture_output=True, text=True, timeout=timeout
    )


GUNICORN_INFO = re.compile(r"^\[[^]]+\] \[\d+\] \[INFO\] ")


def assert_one_line(result, *expected: str) -> str:
    """A non-zero exit and one line of output (gunicorn's own INFO lines aside)."""
    assert result.returncode != 0
    output = (result.stdout + result.stderr).strip()
    assert "Traceback" not in output, output
    lines = [line for line in output.splitlines() if not GUNICORN_INFO.match(line)]
    assert len(lines) == 1, output
    for text in expected:
        assert text in output, output
    return output


@pytest.mark.parametrize(
    ("database_url", "expected"),
    [
        ("nonsense", ["DATABASE_URL", "postgresql://"]),
        ("mysql://idp@127.0.0.1/idp", ["DATABASE_URL", "MySQLdb"]),
    ],
)
def test_a_bad_database_url_is_one_line(tmp_path, database_url, expected):
    result = run([IDP, "clients", "list"], tmp_path, DATABASE_URL=database_url)
    assert_one_line(result, *expected)


def test_an_unreachable_database_names_host_port_and_reason(tmp_path):
    port = _closed_port()
    url = f"postgresql://idp:s3cret@127.0.0.1:{port}/idp"
    for command in (["clients", "list"], ["db", "upgrade"]):
        output = assert_one_line(
            run([IDP, *command], tmp_path, DATABASE_URL=url),
            f"127.0.0.1:{port}",
            "DATABASE_URL",
            "Connection refused",
        )
        assert "s3cret" not in output


def test_a_missing_postgres_database_says_so(tmp_path):
    server = os.environ.get("IDP_TEST_DATABASE_URL")
    if not server:
        pytest.skip("needs IDP_TEST_DATABASE_URL (the services leg runs it)")
    url = server.rsplit("/", 1)[0] + "/idp_no_such_database"
    result = run([IDP, "clients", "list"], tmp_path, DATABASE_URL=url)
    assert_one_line(result, "idp_no_such_database", "does not exist", "DATABASE_URL")


def test_before_db_upgrade_the_cli_says_to_run_it(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = run([IDP, "clients", "list"], tmp_path, DATABASE_URL=url)
    assert_one_line(result, "run `idp db upgrade` first")


def test_a_bad_redis_url_is_one_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
    result = run([IDP, "clients", "list"], tmp_path, DATABASE_URL=url, REDIS_URL="nonsense://x")
    assert_one_line(result, "REDIS_URL", "redis://")


def test_gunicorn_without_a_signing_key_refuses_once_in_one_line(tmp_path):
    result = run(
        [GUNICORN, "-c", "gunicorn.conf.py", "wsgi:app"],
        tmp_path,
        timeout=60,
        IDP_ENV="production",
        IDP_ISSUER="https://idp.example.org",
        IDP_SECRET_KEY="k" * 40,
        IDP_SMTP_URL="smtp://127.0.0.1:25",
        REDIS_URL="redis://127.0.0.1:6379/0",  # production needs one; parsed, not contacted
        IDP_BIND=f"127.0.0.1:{_closed_port()}",
        IDP_WORKERS="2",
        DATABASE_URL=f"sqlite:///{tmp_path / 'idp.sqlite3'}",
    )
    assert_one_line(result, "IDP_KEYS_DIR", "idp keys generate")


def test_wsgi_without_a_signing_key_exits_with_gunicorns_app_load_error(tmp_path):
    """Without gunicorn.conf.py the worker refuses: one line and exit 4, so gunicorn halts."""
    result = run(
        [sys.executable, "-c", "import wsgi"],
        tmp_path,
        IDP_ENV="production",
        IDP_ISSUER="https://idp.example.org",
        IDP_SECRET_KEY="k" * 40,
        IDP_SMTP_URL="smtp://127.0.0.1:25",
        REDIS_URL="redis://127.0.0.1:6379/0",  # production needs one; parsed, not contacted
        DATABASE_URL=f"sqlite:///{tmp_path / 'idp.sqlite3'}",
    )
    assert result.returncode == 4
    assert_one_line(result, "IDP_KEYS_DIR", "idp keys generate")


def test_production_without_redis_refuses_in_one_line(tmp_path):
    """Each worker would have its own in-process store: parked sign-ins and limits split."""
    result = run(
        [GUNICORN, "-c", "gunicorn.conf.py", "wsgi:app"],
        tmp_path,
        timeout=60,
        IDP_ENV="production",
        IDP_ISSUER="https://idp.example.org",
        IDP_SECRET_KEY="k" * 40,
        IDP_SMTP_URL="smtp://127.0.0.1:25",
        IDP_BIND=f"127.0.0.1:{_closed_port()}",
        DATABASE_URL=f"sqlite:///{tmp_path / 'idp.sqlite3'}",
    )
    assert_one_line(result, "REDIS_URL must be set in production")
