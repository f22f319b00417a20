# Relay Novel: `make run` serves the site, `make test` runs the whole suite.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
SCALED_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
SCALED_REDIS_URL ?= redis://127.0.0.1:6379/0
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: run test lint format install system-packages node-packages test-embedded test-scaled test-stock-frames run-scaled bench clean

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	mkdir -p var
	$(BIN)/python manage.py migrate --noinput -v0
	$(BIN)/python manage.py collectstatic --noinput -v0
	$(BIN)/python manage.py bootstrap_demo
	$(BIN)/daphne -b $(HOST) -p $(PORT) relay.asgi:application

# Debian's chromium drives the browser tests; a Korean font renders the screenshots; poppler-utils renders
# a finished book's PDF to images (pdftoppm) and reads its text (pdftotext) for the book's tests; nginx and
# iproute2 (ip netns) put several hosts on this machine for the several-hosts test and bench/hosts.py.
system-packages:
	@if ! command -v chromium >/dev/null || ! fc-list 2>/dev/null | grep -qi nanum || ! command -v pdftoppm >/dev/null \
			|| ! [ -x /usr/sbin/nginx ] || ! command -v ip >/dev/null; then \
		echo "installing chromium, fonts-nanum, poppler-utils, nginx and iproute2"; \
		$(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium fonts-nanum fontconfig poppler-utils \
			nginx iproute2 >/dev/null; \
	fi

# npm packages of the browser tests (axe-core, which checks every page's accessibility), as the lock file says.
NODE_STAMP := node_modules/.package-lock.json
$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

node-packages: $(NODE_STAMP)

lint: $(STAMP)
	$(BIN)/ruff check --no-cache .
	$(BIN)/ruff format --no-cache --check .
	$(BIN)/lint-imports --no-cache

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: $(STAMP) system-packages node-packages lint test-embedded test-scaled test-stock-frames

# Each profile prints its 15 slowest tests and how long it took.
PYTEST_TIMED := $(BIN)/python -m pytest --durations=15

test-embedded: $(STAMP)
	@echo "== embedded profile: SQLite, in-memory channel layer =="
	@start=$$(date +%s); env -u DATABASE_URL -u REDIS_URL $(PYTEST_TIMED); rc=$$?; \
		echo "== embedded profile: $$(( $$(date +%s) - start )) s, exit $$rc =="; exit $$rc

# DB_CONN_MAX_AGE=0: the tests that cut the database off need each thread to connect anew;
# persistent connections (the default) are exercised by bench/load.py and bench/faults.py.
test-scaled: $(STAMP)
	@echo "== scaled profile: PostgreSQL, Redis =="
	@if DATABASE_URL=$(SCALED_DATABASE_URL) REDIS_URL=$(SCALED_REDIS_URL) $(BIN)/python scripts/check_services.py; then \
		start=$$(date +%s); DATABASE_URL=$(SCALED_DATABASE_URL) REDIS_URL=$(SCALED_REDIS_URL) DB_CONN_MAX_AGE=0 \
			$(PYTEST_TIMED); rc=$$?; echo "== scaled profile: $$(( $$(date +%s) - start )) s, exit $$rc =="; exit $$rc; \
	elif [ "$$CI" = true ]; then \
		echo "scaled profile: the servers above must answer under CI=true"; exit 1; \
	else \
		echo "SKIPPED the scaled profile: PostgreSQL or Redis does not answer (see above)"; \
	fi

# The live tests again with RELAY_DIRECT_FRAMES=0, in the scaled profile (two daphne processes behind Redis, as
# production runs): every broadcast goes through Channels, daphne and autobahn as their public APIs send it, so
# the day the direct frames (relay/transport/wire.py) must be turned off, that path is known to work.
STOCK_FRAMES_TESTS := tests/relay/test_consumers.py tests/relay/test_site_socket.py tests/relay/test_notices.py \
	tests/relay/test_presence.py tests/relay/test_socket_limits.py tests/voting/test_events.py \
	tests/browser/test_live_relay.py tests/browser/test_presence.py tests/browser/test_notices.py \
	tests/browser/test_live_lists.py

test-stock-frames: $(STAMP)
	@echo "== the live tests through the stock socket path: RELAY_DIRECT_FRAMES=0, scaled profile =="
	@if DATABASE_URL=$(SCALED_DATABASE_URL) REDIS_URL=$(SCALED_REDIS_URL) $(BIN)/python scripts/check_services.py; then \
		start=$$(date +%s); RELAY_DIRECT_FRAMES=0 DATABASE_URL=$(SCALED_DATABASE_URL) REDIS_URL=$(SCALED_REDIS_URL) \
			DB_CONN_MAX_AGE=0 $(PYTEST_TIMED) $(STOCK_FRAMES_TESTS); rc=$$?; \
		echo "== stock socket path: $$(( $$(date +%s) - start )) s, exit $$rc =="; exit $$rc; \
	elif [ "$$CI" = true ]; then \
		echo "stock socket path: the servers above must answer under CI=true"; exit 1; \
	else \
		echo "SKIPPED the stock socket path run: PostgreSQL or Redis does not answer (see above)"; \
	fi

# The scaled profile on this machine (docs/scaled.md): WEB_PROCESSES daphne processes from BASE_PORT, WORKERS
# relayworkers, against DATABASE_URL (default postgres://postgres@127.0.0.1:5432/relay, created if missing) and REDIS_URL.
run-scaled: $(STAMP)
	$(BIN)/python scripts/run_scaled.py

# Load benchmark and faults of both profiles (docs/scaled.md); ~20 minutes, PostgreSQL and Redis for the scaled parts.
bench: $(STAMP)
	$(BIN)/python bench/load.py
	$(BIN)/python bench/faults.py

clean:
	rm -rf var/test.sqlite3 .pytest_cache test-artifacts
