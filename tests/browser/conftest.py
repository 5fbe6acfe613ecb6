"""Shared settings for the real-browser tests."""

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Chromium cancels requests it no longer needs (a stylesheet fetched twice during a
    redirect): Werkzeug's test server then leaves that static file for the garbage collector,
    whose ResourceWarning the suite's filterwarnings=error would turn into a failure of a page
    that rendered fine. Only that warning, only from a static file, only here."""
    ignore = pytest.mark.filterwarnings(
        r"ignore:Exception ignored in. <_io\.FileIO name='[^']*/static/:"
        "pytest.PytestUnraisableExceptionWarning"
    )
    for item in items:
        if "tests/browser/" in str(item.path).replace("\\", "/"):
            item.add_marker(ignore)
