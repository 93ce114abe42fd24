# Everyday commands. `make run` and `make test` do all set-up themselves on a machine with Python 3.11+.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
WORKERS ?= 2
# The test suite's services (override to point elsewhere).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/fulfil
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
# Processes the suite runs in (pytest-xdist); each has its own test database and Redis database.
TEST_PROCESSES ?= 2
# gunicorn's processes add up their request metrics here (prometheus-client's multiprocess mode);
# emptied at each start, so no numbers of an earlier run are counted.
METRICS_DIR := $(CURDIR)/var/prometheus
# gunicorn.conf.py: threaded workers, so a slow upload holds a thread, not a process.
GUNICORN := PROMETHEUS_MULTIPROC_DIR=$(METRICS_DIR) $(BIN)/gunicorn -c gunicorn.conf.py fulfil.wsgi --bind $(HOST):$(PORT) --workers $(WORKERS)

.PHONY: run install install-dev migrate worker beat web test test-quickstart test-browser test-smoke lint format bench-api bench-import bench-webhooks bench-delete bench-export bench-concurrency bench-scale clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

$(VENV)/.runtime: requirements.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt
	touch $@

$(VENV)/.dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@ $(VENV)/.runtime

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# The quick start's own settings: production-like (DEBUG off) on plain HTTP at localhost.
.env:
	@printf '%s\n' "DEBUG=false" "SECRET_KEY=$$($(PYTHON) -c 'import secrets; print(secrets.token_urlsafe(50))')" \
		"ALLOWED_HOSTS=localhost,127.0.0.1,[::1]" "SESSION_COOKIE_SECURE=false" "CSRF_COOKIE_SECURE=false" \
		"LOG_FORMAT=text" \
		"# The quick start is a local tool: let webhooks reach receivers on this machine and your network" \
		"# (scripts/receiver.py, a local ERP). Leave it out, or false, on a server others can reach." \
		"WEBHOOK_ALLOW_PRIVATE_NETWORKS=true" > $@
	@echo "Wrote .env for the quick start (see .env.example for every setting)."

migrate: install .env
	$(BIN)/python manage.py migrate --noinput

# Web (gunicorn) and a Celery worker on all queues; Ctrl-C stops both, and make, cleanly (fulfil/foreground.py).
run: migrate
	@$(BIN)/python manage.py collectstatic --noinput -v0
	@$(BIN)/python manage.py ensure_admin --url http://$(HOST):$(PORT)/admin/
	@echo "API: http://$(HOST):$(PORT)/api/v1/  docs: http://$(HOST):$(PORT)/api/docs  (Ctrl-C stops it)"
	@rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	@$(BIN)/python -m fulfil.foreground \
		"$(BIN)/celery -A fulfil worker -Q default,imports,webhooks -c 2 -B -s var/celerybeat-schedule --loglevel INFO" \
		"$(GUNICORN)"

web: install
	@rm -rf $(METRICS_DIR) && mkdir -p $(METRICS_DIR)
	$(GUNICORN)

worker: install
	$(BIN)/celery -A fulfil worker -Q default,imports,webhooks --loglevel INFO

beat: install
	$(BIN)/celery -A fulfil beat -s var/celerybeat-schedule --loglevel INFO

# The whole suite against PostgreSQL and Redis, then the quick-start subset on SQLite.
test: install-dev
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(BIN)/pytest -n $(TEST_PROCESSES) $(PYTEST_ARGS)
	$(MAKE) --no-print-directory test-quickstart

test-quickstart: install-dev
	@mkdir -p var
	DATABASE_URL=sqlite:///$(CURDIR)/var/test-quickstart.sqlite3 CELERY_BROKER_URL=filesystem:// \
		$(BIN)/pytest -m quickstart $(PYTEST_ARGS)

# Only the admin driven in headless Chromium (/usr/bin/chromium: apt-get install chromium); also part of `make test`.
test-browser: install-dev
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(BIN)/pytest -m browser $(PYTEST_ARGS)

# Only scripts/test_*.sh run against a live server (needs curl and jq); also part of `make test`.
test-smoke: install-dev
	DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(BIN)/pytest -m smoke $(PYTEST_ARGS)

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	DEBUG=true $(BIN)/mypy
	DEBUG=true $(BIN)/python manage.py makemigrations --check --dry-run
	@if command -v shellcheck >/dev/null; then shellcheck scripts/*.sh; else echo "shellcheck not installed: scripts/*.sh not checked"; fi

format: install-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# Benchmarks use their own databases on the local PostgreSQL (and Redis); see each script's --help.
bench-api: install-dev
	$(BIN)/python benchmarks/api_bench.py

bench-import: install-dev
	$(BIN)/python benchmarks/import_bench.py

bench-webhooks: install-dev
	$(BIN)/python benchmarks/webhook_bench.py

bench-delete: install-dev
	$(BIN)/python benchmarks/delete_bench.py

bench-export: install-dev
	$(BIN)/python benchmarks/export_bench.py

bench-concurrency: install-dev
	$(BIN)/python benchmarks/import_concurrency.py

# Ten million products beside a million: tens of minutes, not part of CI (BENCH_ARGS=--quick for a smoke run).
bench-scale: install-dev
	$(BIN)/python benchmarks/scale_bench.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles
