# syntax=docker/dockerfile:1
# Dependencies in one layer (rebuilt only when requirements.lock changes), the code in the
# next: no compiler, no wheels left behind, idp's code present once, non-root.
# Every command of the image runs as `docker run IMAGE <command>` (no ENTRYPOINT), e.g.
# `docker compose run --rm idp idp db upgrade`.

# requirements.lock (`make lock`) is resolved for CPython 3.11.3+ on Linux, as this base is.
FROM python:3.11-slim AS deps
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
# Binary wheels only, each checked against its hash in the lock: reproducible, no compiler.
COPY requirements.lock /tmp/requirements.lock
RUN python -m venv /opt/idp \
    && /opt/idp/bin/pip install --require-hashes --no-deps --only-binary=:all: \
        -r /tmp/requirements.lock \
    && /opt/idp/bin/pip uninstall --yes pip setuptools

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    PATH=/opt/idp/bin:$PATH \
    IDP_ENV=production \
    IDP_KEYS_DIR=/keys \
    IDP_BIND=0.0.0.0:8000
RUN useradd --system --uid 10001 --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin idp \
    && mkdir -p /keys /app/instance && chown idp:idp /keys /app/instance
COPY --from=deps /opt/idp /opt/idp
# The `idp` command, as pip's console script would write it; the code itself is /app only
# (templates/ and migrations/ live beside the package; idp/templates and idp/migrations are
# relative symlinks to them, copied as links).
RUN printf '#!/opt/idp/bin/python\nfrom idp.cli import main\nmain()\n' > /opt/idp/bin/idp \
    && chmod 755 /opt/idp/bin/idp
WORKDIR /app
COPY --chown=root:root templates ./templates
COPY --chown=root:root migrations ./migrations
COPY --chown=root:root wsgi.py gunicorn.conf.py ./
COPY --chown=root:root idp ./idp
# idp-verifier (verifier/): the server never imports it; `idp.verifier` re-exports it.
COPY --chown=root:root verifier/src/idp_verifier ./idp_verifier
# Bytecode at build time (the image is read-only to idp): each worker starts without
# compiling, as the dependencies' bytecode written by pip also spares it.
RUN python -m compileall -q idp idp_verifier migrations wsgi.py
USER idp
EXPOSE 8000
VOLUME ["/keys"]
# Probes the address the server binds (IDP_BIND), so another bind stays healthy.
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-m", "idp.healthcheck"]
# The production server (granian; README "The production server"); IDP_* variables tune it.
CMD ["idp", "serve", "--production"]
