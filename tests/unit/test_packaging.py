"""What the package carries: an installed wheel needs no source tree (.ci/wheel-check builds
and serves one)."""

from __future__ import annotations

from pathlib import Path

import idp
from idp import config

REPOSITORY = Path(__file__).resolve().parents[2]


def test_templates_and_migrations_are_inside_the_package_and_the_top_level_folders():
    package = Path(idp.__file__).resolve().parent
    for name, probe in (("templates", "auth/login.html"), ("migrations", "env.py")):
        # The same files: the package's entries link to the folders contributors edit.
        assert (package / name / probe).resolve() == (REPOSITORY / name / probe).resolve()
    assert Path(idp.MIGRATIONS_DIR).parent == package


def test_keys_and_database_live_in_the_working_directory_without_a_checkout(monkeypatch, tmp_path):
    installed = tmp_path / "site-packages" / "idp"
    installed.mkdir(parents=True)
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.chdir(site)
    monkeypatch.setattr(config, "PACKAGE_DIR", installed)
    assert config._project_root() == site  # never the venv's site-packages

    monkeypatch.setattr(config, "PACKAGE_DIR", REPOSITORY / "idp")
    assert config._project_root() == REPOSITORY
