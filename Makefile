# Concord: `make demo` sets up a fresh machine and runs the demo; `make test` runs every test.
SHELL := /bin/bash
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# A CPU build of torch; on a GPU machine run `make install TORCH_SPEC=torch` (or a CUDA index URL) instead.
TORCH_SPEC ?= torch==2.13.0
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/postgres
TEST_BROKER_URL ?= redis://127.0.0.1:6379/15
HOST ?= 127.0.0.1
PORT ?= 8000
# Two test processes (one a core here), each file whole in one of them; `make test PYTEST_ARGS=` runs one.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: install demo test lint typecheck bench

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip wheel setuptools

install: $(BIN)/python
	$(BIN)/pip install -q "$(TORCH_SPEC)"
	$(BIN)/pip install -q -e ".[dev]"

demo: install
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py load_demo
	$(BIN)/python manage.py run_demo --host $(HOST) --port $(PORT)

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy .

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy .
	# PYTHONHASHSEED fixed: schemathesis's derandomised examples also depend on set order, so a
	# failing example in CI reproduces here with the same command.
	PYTHONHASHSEED=0 DATABASE_URL=$(TEST_DATABASE_URL) CELERY_BROKER_URL=$(TEST_BROKER_URL) $(BIN)/python -m pytest $(PYTEST_ARGS)
	env -u DATABASE_URL -u CELERY_BROKER_URL CONCORD_VAR_DIR=$$(mktemp -d) $(BIN)/python -m pytest -p no:cacheprovider tests/test_sqlite_smoke.py tests/annotate/test_assignment.py
