# The two commands a newcomer needs: `make run` and `make test`. Everything else is a step of those.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python

.PHONY: run test lint typecheck pytest install install-dev catalogs messages migrate demo bench bench-labeling clean

$(PY):
	$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Python 3.11 is required, found " + sys.version'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Stamps: reinstall only when pyproject.toml changes.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[ml]"
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e ".[dev,ml]"
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

catalogs: install
	$(PY) manage.py compile_catalogs

migrate: install
	$(PY) manage.py migrate --noinput

demo: migrate
	$(PY) manage.py load_demo

## Run the app: venv, install, migrate, demo data, web server on 127.0.0.1:8000 and a Celery worker.
run: catalogs demo
	DEBUG=$${DEBUG:-1} $(PY) scripts/run.py

## Run the tests: ruff, mypy, pytest (PostgreSQL/Redis when DATABASE_URL/CELERY_BROKER_URL say so).
test: install-dev catalogs lint typecheck pytest

lint: install-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-dev
	$(BIN)/mypy .

# Tests keep their SQLite file, filesystem broker and artifacts under var/test, apart from `make run`'s.
pytest: install-dev catalogs
	MEDES_VAR_DIR=$${MEDES_VAR_DIR:-$(CURDIR)/var/test} $(BIN)/pytest $(PYTEST_ARGS)

## Refresh the translation catalogs from the code and templates (needs GNU gettext).
messages: install-dev
	$(PY) manage.py makemessages --locale zh_Hans --locale en --no-obsolete --no-location --ignore '.venv/*' --ignore 'var/*'
	$(PY) manage.py compile_catalogs

bench: install-dev catalogs
	$(PY) bench/foundation.py

## The labeling loop, the workbench against Label Studio 1.23.2 on this machine (PostgreSQL and Redis on
## 127.0.0.1; builds its data and Label Studio's virtualenv on first use; BENCH_ARGS="--seconds 10" for a quick look).
bench-labeling: install-dev catalogs
	$(PY) bench/compare_labeling.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var staticfiles
