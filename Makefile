# Troupe: `make run` serves the demo, `make test` runs every check. See README.md.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8000
MAX_MESSAGE_BYTES ?= $(or $(TROUPE_MAX_MESSAGE_BYTES),8388608)
# daphne's limit sits 1 MiB above Troupe's so an oversize message gets a clean 1009 + reason.
DAPHNE_MAX_BYTES := $(shell echo $$(( $(MAX_MESSAGE_BYTES) + 1048576 )))
# Local development runs with DEBUG on unless told otherwise; production sets DEBUG=0.
export DEBUG ?= 1

.PHONY: run test setup frontend lint typecheck pytest bench clean

# Installs the exact versions of requirements.lock (scripts/lock rewrites it).
$(VENV)/.installed: pyproject.toml requirements.lock
	@test -x $(PY) || "$$(scripts/find-python)" -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c requirements.lock -e '.[test]'
	@touch $@

frontend:
	@if [ -f frontend/package.json ]; then \
	  (cd frontend && { [ -d node_modules ] && [ node_modules/.package-lock.json -nt package-lock.json ] || npm ci --no-audit --no-fund; } && npm run build); \
	fi

tests/node/node_modules/.package-lock.json: tests/node/package-lock.json
	cd tests/node && npm ci --no-audit --no-fund

setup: $(VENV)/.installed frontend

run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(VENV)/bin/daphne -b 127.0.0.1 -p $(PORT) \
	  --websocket-max-message-size $(DAPHNE_MAX_BYTES) --websocket-max-frame-size $(DAPHNE_MAX_BYTES) \
	  --ping-interval 20 --ping-timeout 30 config.asgi:application

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

typecheck: setup
	$(VENV)/bin/mypy

pytest: setup tests/node/node_modules/.package-lock.json
	scripts/test-suite

test: lint typecheck pytest

bench: setup
	$(PY) bench/run.py

clean:
	rm -rf $(VENV) frontend/dist frontend/node_modules tests/node/node_modules .test-db.sqlite3*
