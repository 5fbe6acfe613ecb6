"""gunicorn entry point: `gunicorn wsgi:app`."""

import sys

from idp import create_app
from idp.config import ConfigError

try:
    app = create_app()
except ConfigError as exc:
    # One line, not a traceback per worker; 4 is gunicorn's APP_LOAD_ERROR: the master halts
    # instead of starting the worker again. (gunicorn.conf.py checks before forking, too.)
    print(f"idp: {exc}", file=sys.stderr)
    raise SystemExit(4) from None
