# syntax=docker/dockerfile:1
# Build wheels in one stage, run them in a slim one: no compilers, no secrets, non-root.

FROM python:3.11-slim AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml setup.cfg MANIFEST.in README.md ./
COPY idp ./idp
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

FROM python:3.11-slim AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PYTHONPATH=/app \
    IDP_ENV=production \
    IDP_KEYS_DIR=/keys
RUN useradd --system --uid 10001 --home-dir /app --shell /usr/sbin/nologin idp \
    && mkdir -p /keys /app/instance && chown idp:idp /keys /app/instance
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
WORKDIR /app
# The source tree: templates/ and migrations/ live beside the package (PYTHONPATH=/app).
COPY --chown=root:root idp ./idp
COPY --chown=root:root templates ./templates
COPY --chown=root:root migrations ./migrations
COPY --chown=root:root wsgi.py gunicorn.conf.py ./
USER idp
EXPOSE 8000
VOLUME ["/keys"]
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"
# Migrations are an explicit step: `docker compose run --rm idp idp db upgrade`.
ENTRYPOINT ["gunicorn", "-c", "gunicorn.conf.py", "wsgi:app"]
