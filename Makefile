# Everything needs only Python 3.11+: the first target run makes .venv and installs into it.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Where `make run` serves the portal (`make run PORT=8100`); the simulator and the demo provider
# follow at PORT+765 and PORT+766 (8865, 8866), and the portal's settings and the provider are
# told of each other. `make simulator` and `make idp` listen there too (or at SIMULATOR_PORT,
# IDP_PORT); a portal started otherwise is told by PRIVATELINK_ENDPOINT and OIDC_ISSUER (README,
# "Starting the simulator and the identity provider by hand").
PORT ?= 8000
SIMULATOR_PORT ?= $(shell echo $$(( $(PORT) + 765 )))
IDP_PORT ?= $(shell echo $$(( $(PORT) + 766 )))
PORTS_ENV := PORTAL_PORT=$(PORT) SIMULATOR_PORT=$(SIMULATOR_PORT) IDP_PORT=$(IDP_PORT)
# `make run` calls each region at its own endpoint, as production does, through the simulator
# acting as the HTTP proxy: its log shows the endpoint (host=privatelink.cn-shanghai...).
CLOUD_ENV := PRIVATELINK_ENDPOINT= PRIVATELINK_PROXY=http://127.0.0.1:$(SIMULATOR_PORT)
SERVICES_ENV := DATABASE_URL=$${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test} \
	CELERY_BROKER_URL=$${TEST_CELERY_BROKER_URL:-redis://127.0.0.1:6379/15}

.PHONY: install run simulator idp test test-services test-browser lint format bench bench-check load clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo "Open http://127.0.0.1:$(PORT)/ once the processes below are up; Ctrl-C stops them all."
	$(PORTS_ENV) $(CLOUD_ENV) PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

simulator: install
	$(BIN)/python -m simulator --port $(SIMULATOR_PORT) --state var/simulator.sqlite3 --create-delay 3

idp: install
	$(BIN)/python -m idp --port $(IDP_PORT) --portal-url http://127.0.0.1:$(PORT) \
		--portal-url http://localhost:$(PORT) --scim-url http://127.0.0.1:$(PORT)/scim/v2

# On every core (pytest-xdist): each worker process has its own SQLite database, broker folder,
# simulator and identity provider. One worker more than the cores, since part of the suite
# waits on real Celery workers and servers (on 2 cores, stop 27: 3 workers 145 s, 2 162 s,
# 4 157 s; 3 workers on a fresh clone, 2026-12-07: 137-153 s).
# `make test PYTEST_WORKERS=0` runs in one process.
PYTEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
# Every worker, and every Celery worker, simulator and provider a test starts, imports Django and
# the portal, and each worker rewrites the tests' asserts: with PYTHONDONTWRITEBYTECODE set (as
# it is on boxes like ours) that is all compiled again in each process, about 5 s of CPU per
# xdist worker. The compiled files go to the virtualenv, not the checkout.
test: install
	PYTHONDONTWRITEBYTECODE= PYTHONPYCACHEPREFIX=$(CURDIR)/$(VENV)/pycache \
		$(BIN)/pytest -n $(PYTEST_WORKERS) --dist worksteal -m "not services and not browser"

test-services: install
	$(SERVICES_ENV) $(BIN)/pytest -m services

test-browser: install
	# Playwright runs an event loop in the test thread; the tests themselves are synchronous.
	DJANGO_ALLOW_ASYNC_UNSAFE=true $(BIN)/pytest -m browser

# ruff, and the import contracts in pyproject.toml (layers, independence, no cycles).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# The quick ones; bench/history.py (generates 100k requests once) and bench/soak.py take minutes.
bench: install
	$(BIN)/python bench/simulator.py
	$(BIN)/python bench/poll.py
	$(BIN)/python bench/pipeline.py

# Rerun every figure the README and docs/performance.md publish and compare it with what they
# publish (bench/published.json); exits non-zero when one is not reproduced. Needs PostgreSQL
# and Redis on 127.0.0.1; makes the 100k-request history once (about 20 minutes), then takes
# about an hour and a half on a 2-core box. `BENCH=pipeline make bench-check` runs the matching runs only.
bench-check: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/check.py $(if $(BENCH),--only $(BENCH))

# Locust against gunicorn + PostgreSQL + Redis with 100k requests (about 20 minutes; makes the
# database once, which takes longer). Installs Locust (the `bench` extra) first.
load: install
	$(BIN)/python -m pip install --quiet -e '.[bench]'
	$(BIN)/python bench/load.py

clean:
	rm -rf $(VENV) var staticfiles
