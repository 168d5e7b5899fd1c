# PipeCRM developer entry points (README: "make run", "make test").
#
# Installation is idempotent: pip runs only when pyproject.toml is newer than the stamp file
# in .venv, so repeated `make run` / `make test` start in seconds.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PORT ?= 8000
# Extra arguments for pytest, e.g. `make test PYTEST_ARGS="-m 'not browser' -x"`.
PYTEST_ARGS ?=
# Test processes (pytest-xdist): `auto` is one per CPU core, at most 4 (each worker builds its
# own test database first); a number sets it, `0` runs everything in this one process (as
# plain `pytest` does; needed for --pdb).
TEST_WORKERS ?= auto

STAMP := $(VENV)/.installed
STAMP_DEV := $(VENV)/.installed-dev

.DEFAULT_GOAL := help
.PHONY: help run test schemathesis loadtest chaos install install-dev lint format clean

help:
	@echo "make run          set up, migrate, seed demo data and serve on http://127.0.0.1:$(PORT)/"
	@echo "make test         set up with the dev extra and run the whole test suite"
	@echo "make schemathesis check the running API against its OpenAPI schema (all checks)"
	@echo "make loadtest     load test of the production-mode stack: 100k leads, 25-200 users"
	@echo "make chaos        fault suite: kill/stop the worker, Redis, PostgreSQL, an ASGI process"
	@echo "make lint         ruff check + ruff format --check"
	@echo "make format       ruff format + ruff check --fix"
	@echo "make install      install the project into $(VENV) (make install-dev: with dev extra)"
	@echo "make clean        remove install stamps, collected static files and caches"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	@touch $@

# The dev install is a superset of the plain one, so it refreshes both stamps.
$(STAMP_DEV): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $@ $(STAMP)

install: $(STAMP)

install-dev: $(STAMP_DEV)

# Embedded mode (SPEC §3): SQLite, in-memory channel layer, eager Celery. In DEBUG WhiteNoise
# serves /static/ straight from the finders, so no collectstatic is needed under daphne.
# The demo may call webhooks on this machine (a receiver on 127.0.0.1); production refuses
# loopback and private addresses unless WEBHOOK_ALLOW_PRIVATE is set.
run: export WEBHOOK_ALLOW_PRIVATE ?= 1
run: $(STAMP)
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo ""
	@echo "  PipeCRM is starting at  http://127.0.0.1:$(PORT)/"
	@echo "  Demo logins are listed above (password pipecrm-demo). Stop with Ctrl-C."
	@echo ""
	$(BIN)/daphne -b 127.0.0.1 -p $(PORT) config.asgi:application

# Workers take the tests a few at a time, in collection order (--dist loadgroup without
# its reordering), so each keeps pytest-django's order: tests in a rolled-back transaction
# first, transactional ones after them (their flush empties every table, the data migrations'
# rows too; handing out whole files would run one file's transactional tests before another's
# `db` tests), and no worker is left with a queue of slow browser tests while the other idles.
# A module in SHARED_FIXTURE_MODULES (tests/conftest.py) goes to one worker whole, so its
# module-scoped fixture (the seeded demo data) is built once.
XDIST_ARGS := -n $(TEST_WORKERS) $(if $(filter auto,$(TEST_WORKERS)),--maxprocesses=4) \
	--dist loadgroup --no-loadscope-reorder

# pytest exits 5 when it collected nothing: that is a broken suite, not a pass.
test: $(STAMP_DEV)
	@status=0; $(BIN)/pytest $(XDIST_ARGS) $(PYTEST_ARGS) || status=$$?; \
	if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests; failing." >&2; exit 1; fi; \
	exit $$status

# The API against its own OpenAPI schema: a server with the demo data on a fresh SQLite file,
# `schemathesis run /api/schema/ --checks all` as the demo manager (.ci/schemathesis.sh; knobs
# SCHEMATHESIS_MAX_EXAMPLES, SCHEMATHESIS_TIME_LIMIT, SCHEMATHESIS_SEED, SCHEMATHESIS_PORT).
schemathesis: $(STAMP_DEV)
	.ci/schemathesis.sh

# Load and fault tests (README "Load and fault tests"; loadtest/): each starts its own
# PostgreSQL cluster and Redis, and exits non-zero when a target or a check is missed.
LOADTEST_ARGS ?= --users 100 --duration 60 --leads 100000 --curve 25,50,100,200
CHAOS_ARGS ?=

loadtest: $(STAMP_DEV)
	$(BIN)/python -m loadtest run $(LOADTEST_ARGS)

chaos: $(STAMP_DEV)
	$(BIN)/python -m loadtest chaos $(CHAOS_ARGS)

lint: $(STAMP_DEV)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP_DEV)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -f $(STAMP) $(STAMP_DEV)
	rm -rf staticfiles .pytest_cache .ruff_cache test-artifacts
