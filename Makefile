# The two set-up commands: `make run` serves idp on the embedded default; `make test` tests it.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-scale lint install lock bench translations

$(STAMP): setup.cfg pyproject.toml verifier/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# idp depends on idp-verifier, built from verifier/ in this repository (verifier/README.md).
	$(BIN)/python -m pip install --quiet -e './verifier[flask,fastapi,redis]' -e '.[test]'
	touch $(STAMP)

install: $(STAMP)

## Apply migrations, make a key if there is none, seed the demo, serve on 127.0.0.1:5000.
run: $(STAMP)
	$(BIN)/idp db upgrade
	$(BIN)/idp keys generate --if-missing
	$(BIN)/idp demo
	$(BIN)/idp serve

## Install the test dependencies and run the whole suite (Postgres/Redis via IDP_TEST_* vars),
## one pytest-xdist worker per core (TEST_WORKERS=0: in this process only).
TEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -p xdist -n $(TEST_WORKERS) --dist loadgroup

## The opt-in deployment suite: PgBouncer, Redis Sentinel and Cluster, 3 instances behind
## nginx (installs those Debian packages if missing; 15-25 minutes on 2 busy cores).
test-scale: $(STAMP)
	.ci/test-scale

## Re-pin the image's dependencies (with hashes) after changing install_requires in setup.cfg.
## idp-verifier is built from verifier/ (the image copies it), so it is resolved from a local
## wheel and left out of the lock; its own dependencies are pinned.
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	rm -rf build/lock-wheels
	$(BIN)/python -m pip wheel --quiet --no-deps --wheel-dir build/lock-wheels ./verifier
	$(BIN)/pip-compile --quiet --generate-hashes --strip-extras \
		--find-links build/lock-wheels --no-emit-find-links --unsafe-package idp-verifier \
		--no-emit-index-url --output-file requirements.lock setup.cfg

## ruff, then the layering: import-linter's contracts (pyproject.toml) and .ci/check-layers.
lint: $(STAMP)
	$(BIN)/ruff check . .ci/check-layers
	$(BIN)/lint-imports --no-cache
	$(BIN)/python .ci/check-layers

## idp (idp serve --production) against node oidc-provider, same wrk scripts (docs/benchmarks.md).
## Needs PostgreSQL and Redis on loopback (bench/lib.sh: PGHOST, BENCH_REDIS_URL), wrk and node.
bench: $(STAMP)
	bench/compare.sh

## Page and mail strings: extract into idp/translations/messages.pot, merge into each
## language's .po (translate the new msgstr there), compile the .mo files (committed).
translations: $(STAMP)
	$(BIN)/pybabel extract -F babel.cfg -k _l -k N_ --no-location --sort-output --project=idp \
		--copyright-holder="idp contributors" --add-comments=Translators: \
		-o idp/translations/messages.pot .
	$(BIN)/pybabel update --ignore-obsolete --no-fuzzy-matching \
		-i idp/translations/messages.pot -d idp/translations
	$(BIN)/pybabel compile --statistics -d idp/translations
