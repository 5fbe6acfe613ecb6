"""`idp serve --production` settings: IDP_* variables, command-line values win, bad values
are one clear line."""

from __future__ import annotations

import pytest

from idp.config import ConfigError
from idp.serving import ServerSettings, settings_from_env


def test_defaults_listen_on_8000_with_one_worker_per_core(monkeypatch):
    monkeypatch.setattr("idp.serving.multiprocessing.cpu_count", lambda: 4)
    settings = settings_from_env({})
    assert (settings.host, settings.port, settings.workers) == ("0.0.0.0", 8000, 4)  # noqa: S104
    assert settings.keepalive and settings.graceful_timeout == 30


def test_environment_then_command_line():
    env = {"IDP_BIND": "127.0.0.1:9000", "IDP_WORKERS": "3", "IDP_KEEPALIVE": "0"}
    assert settings_from_env(env) == ServerSettings(
        host="127.0.0.1", port=9000, workers=3, keepalive=False
    )
    settings = settings_from_env(env, host="::1", port=9100, workers=1)
    assert (settings.host, settings.port, settings.workers) == ("::1", 9100, 1)
    assert settings_from_env({"IDP_BIND": "[::]:8080"}).host == "::"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"IDP_BIND": "8000"}, "IDP_BIND must be HOST:PORT, got '8000'"),
        ({"IDP_WORKERS": "0"}, "IDP_WORKERS must be at least 1, got 0"),
        ({"IDP_THREADS": "two"}, "IDP_THREADS must be a whole number, got 'two'"),
        ({"IDP_WORKER_LIFETIME": "30"}, "IDP_WORKER_LIFETIME must be 0 (never) or at least 60"),
        ({"IDP_HEADER_TIMEOUT": "120"}, "IDP_HEADER_TIMEOUT must be at most 60 seconds"),
        ({"IDP_MAX_REQUESTS": "1000"}, "IDP_MAX_REQUESTS is a gunicorn setting"),
        ({"IDP_LOG_LEVEL": "loud"}, "IDP_LOG_LEVEL must be one of"),
    ],
)
def test_bad_values_are_refused_with_their_name(env, message):
    with pytest.raises(ConfigError) as caught:
        settings_from_env(env)
    assert str(caught.value).startswith(message)
