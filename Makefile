# KISA platform. `make help` lists the targets; every target sets itself up.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON := $(shell tools/find-python.sh)
VENV := .venv
BIN := $(VENV)/bin
UV := $(shell command -v uv 2>/dev/null || echo .cache/uv-bootstrap/bin/uv)
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: help setup up down status demo test lint typecheck clean

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

.cache/uv-bootstrap/bin/uv:
	@test -n "$(PYTHON)" || { echo "no Python 3.12 (see tools/find-python.sh)"; exit 1; }
	$(PYTHON) -m venv .cache/uv-bootstrap
	.cache/uv-bootstrap/bin/pip install --quiet uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	@test -n "$(PYTHON)" || { echo "no Python 3.12 (see tools/find-python.sh)"; exit 1; }
	# Bytecode compiled once here: where PYTHONDONTWRITEBYTECODE is set (as on
	# the CI machines) every process would otherwise compile what it imports
	# from source, e.g. 3.8 s instead of 1.4 s for airflow.sdk in each task.
	$(UV) sync --locked --compile-bytecode --python $(PYTHON)
	@touch $@

# Neo4j's Cypher linter for the tests (Node >= 20); skipped where npm is absent.
tools/cypher-lint/node_modules/.installed: tools/cypher-lint/package-lock.json
	@if command -v npm > /dev/null; then \
	  npm ci --prefix tools/cypher-lint --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the Cypher lint test will be skipped"; fi

setup: $(VENV)/.installed tools/cypher-lint/node_modules/.installed ## Build .venv on Python 3.12 from the lock file (uv), and the Cypher linter (npm)

up: setup ## Start the services and a real Airflow 3 (UI + scheduler) on loopback
	$(BIN)/kisa services up airflow ray

down: setup ## Stop every service this project started
	$(BIN)/kisa services down

status: setup ## Show every service and its endpoints
	$(BIN)/kisa services status

demo: setup ## Main job on the embedded default: services up, pipeline, training, evaluation, summary
	$(BIN)/python -m compileall -q kisa_tasks dags plugins training_jobs > /dev/null
	$(BIN)/kisa demo $(if $(LLM),--llm $(LLM),)

test: setup ## Run the test suite (real services, headless Chromium, ruff, mypy)
	tools/ensure-chromium.sh
	$(BIN)/python -m compileall -q kisa_tasks dags plugins training_jobs tests > /dev/null
	$(BIN)/pytest -n 2

lint: setup ## ruff check + format check
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

typecheck: setup ## mypy on kisa_tasks
	$(BIN)/mypy kisa_tasks

clean: ## Remove the venv and all local service state (.kisa)
	-$(BIN)/kisa services down
	rm -rf $(VENV) .kisa .cache/uv-bootstrap
