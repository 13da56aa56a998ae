# The command surface. `make run` and `make test` are all a newcomer needs (see README.md).
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test check lint format setup bench bench-quick chaos browser clean screenshots lighthouse

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

setup: $(STAMP)
	mkdir -p var
	DEBUG=$${DEBUG:-1} $(PY) manage.py migrate --noinput
	DEBUG=$${DEBUG:-1} $(PY) manage.py createcachetable
	DEBUG=$${DEBUG:-1} $(PY) manage.py collectstatic --noinput --verbosity 0

# Sandbox, Celery worker and beat, and the web server on http://127.0.0.1:8000; Ctrl-C stops all.
run: setup
	DEBUG=$${DEBUG:-1} bash scripts/run.sh

# The whole suite: PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set, embedded otherwise.
test: $(STAMP)
	mkdir -p var
	bash scripts/install-browser.sh
	$(PY) -m pytest $(PYTEST_ARGS)

lint:
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

format:
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

check: $(STAMP) lint
	$(PY) scripts/check_structure.py
	DEBUG=1 $(PY) manage.py makemigrations --check --dry-run
	bash scripts/check-deploy.sh

bench: $(STAMP)
	$(PY) -m bench

bench-quick: $(STAMP)
	$(PY) -m bench --quick

chaos: $(STAMP)
	$(PY) -m pytest tests/chaos --chaos-size=$${CHAOS_SIZE:-2000} -s -p no:cacheprovider

# Every guest screen, kiosk and online, each viewport and language, to var/screens/*.png.
screenshots: $(STAMP)
	bash scripts/install-browser.sh
	$(PY) scripts/screenshots.py

# Lighthouse's scores for every guest page, mobile and desktop, on gunicorn alone (production).
lighthouse: $(STAMP)
	bash scripts/install-browser.sh
	bash scripts/install-lighthouse.sh
	$(PY) scripts/lighthouse.py

clean:
	rm -rf var/test-celery var/celery
