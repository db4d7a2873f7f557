# Two entry points: `make run` (the pipeline on the embedded defaults) and `make test`.
# `make install` creates .venv when missing and installs the exact lock; a stamp named after the hash of the
# lock files means an unchanged lock installs nothing.
PYTHON     ?= $(shell command -v python3.11 || command -v python3)
VENV       ?= .venv
UV_VERSION := 0.5.29
LOCKS      := requirements.lock requirements-nodeps.txt setup.py
LOCK_HASH  := $(shell cat $(LOCKS) | sha256sum | cut -c1-16)
STAMP      := $(VENV)/.installed-$(LOCK_HASH)
BIN        := $(VENV)/bin
# TF_USE_LEGACY_KERAS: tf.keras is Keras 2 (tf-keras) in every process, whatever is imported first.
export TF_USE_LEGACY_KERAS := 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: services install browser run test clean
install: $(STAMP)

$(STAMP): $(LOCKS)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@# uv installs the 300+ pinned wheels in about 30 s; plain pip (about 4.5 min) when uv cannot be had.
	@# --compile-bytecode: with PYTHONDONTWRITEBYTECODE set (as on CI machines) every process would recompile
	@# TensorFlow's and TFX's sources on import: 34 s instead of 14 s for `mlops report`.
	@# The 300+ lines of the installers go to $(VENV)/install.log; a failure prints its end.
	@echo "==> installing $(VENV) from requirements.lock (log: $(VENV)/install.log)"
	@start=$$(date +%s); \
	if $(BIN)/python -m pip install -q "uv==$(UV_VERSION)" > $(VENV)/install.log 2>&1; then \
	  $(BIN)/uv pip install --compile-bytecode --python $(BIN)/python -r requirements.lock >> $(VENV)/install.log 2>&1 && \
	  $(BIN)/uv pip install --compile-bytecode --python $(BIN)/python --no-deps -r requirements-nodeps.txt -e . \
	    >> $(VENV)/install.log 2>&1; \
	else \
	  echo "    uv unavailable: installing with pip (about 5 minutes)"; \
	  $(BIN)/python -m pip install --ignore-requires-python -r requirements.lock >> $(VENV)/install.log 2>&1 && \
	  $(BIN)/python -m pip install --no-deps -r requirements-nodeps.txt -e . >> $(VENV)/install.log 2>&1; \
	fi || { tail -n 30 $(VENV)/install.log; echo "install failed: see $(VENV)/install.log"; exit 1; }; \
	echo "    $$($(BIN)/python -m pip list --format=freeze 2>/dev/null | wc -l) packages installed in $$(( $$(date +%s) - start )) s"
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

# The pipeline, then the pushed model served (TF Serving's binary if installed, else the embedded server)
# and asked over gRPC; the server stops when the predictions are printed.
run: install
	@echo "==> mlops run (the pipeline on LocalDagRunner; TensorFlow's output goes to the run's log file)"
	@$(BIN)/mlops run
	@mkdir -p work
	@echo "==> mlops serve in the background (its console: work/serve.log), then mlops predict over gRPC"
	@$(BIN)/mlops serve --port=8500 --rest_api_port=8501 > work/serve.log 2>&1 & pid=$$!; \
	  trap 'kill $$pid 2>/dev/null' EXIT; \
	  $(BIN)/mlops predict --wait 120 "Thank you for the quick help, the crew was wonderful!" \
	    "Two hours on the tarmac and no information. Worst airline ever." \
	  || { echo "server log:"; tail -20 work/serve.log; exit 1; }

# The HTML report's test opens it in a headless Chromium (Debian's package).
browser:
	@command -v chromium >/dev/null || { echo "installing Debian's chromium for the HTML report's test"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# Two pytest-xdist workers: much of the suite waits on subprocesses, schedulers and servers (one process kept the
# load average near 1), so two take 19 min where one took 35 on 2 cores (2026-12-02).
# A test file (tests/operations/ as a whole) stays on one worker: its module fixtures are built once
# (tests/conftest.py). TEST_WORKERS=0 runs it in this process.
TEST_WORKERS ?= 2
test: install browser services
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup tests

# Debian's server packages of the production shape: PostgreSQL (airflow.database: postgres), MariaDB (metadata:
# {kind: mysql, local_server: ...}) and Redis (airflow.executor: celery); docs/orchestration.md.
# Installs what is missing (apt-get, as root or through sudo) and says what it did.
SERVICE_PACKAGES := postgresql mariadb-server redis-server
services:
	@missing=""; for p in $(SERVICE_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "services: already installed: $(SERVICE_PACKAGES)"; exit 0; fi; \
	sudo=""; [ "$$(id -u)" = 0 ] || sudo=sudo; \
	echo "services: installing$$missing with apt-get (log: work/services-install.log)"; mkdir -p work; \
	{ $$sudo apt-get update && DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y --no-install-recommends \
	  $$missing; } > work/services-install.log 2>&1 || { tail -n 20 work/services-install.log; exit 1; }; \
	echo "services: installed$$missing"

clean:
	rm -rf work

# Known vulnerabilities in the exact pins (requirements.lock + requirements-nodeps.txt), with pip-audit from a venv
# of its own (never .venv, never the lock). --strict: a pin that could not be checked fails the audit; without it,
# an unreachable advisory source reads as "No known vulnerabilities found". AUDIT_SERVICE=pypi asks PyPI's JSON
# API instead of OSV. Findings and what was done about them: SECURITY.md.
AUDIT_VENV        ?= work/audit-venv
AUDIT_SERVICE     ?= osv
PIP_AUDIT_VERSION := 2.10.1
.PHONY: audit
audit:
	@test -x $(AUDIT_VENV)/bin/pip-audit || { $(PYTHON) -m venv $(AUDIT_VENV) && \
	  $(AUDIT_VENV)/bin/python -m pip install -q "pip-audit==$(PIP_AUDIT_VERSION)"; }
	$(AUDIT_VENV)/bin/pip-audit --strict --no-deps --disable-pip --progress-spinner off \
	  --vulnerability-service $(AUDIT_SERVICE) -r requirements.lock -r requirements-nodeps.txt
