# alb502: `make demo` runs the whole pipeline locally; `make test` runs every check.
# Every target sets up what it needs first (`make setup`): a .venv with the
# pinned dependencies, and the pinned CDK CLI under node_modules/.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed

.PHONY: setup test unit lint demo bench bench-handler bench-report chromium synth clean

setup: $(STAMP) $(NODE_STAMP)

$(STAMP): requirements/dev.lock pyproject.toml
	@echo "setup: creating $(VENV) and installing requirements/dev.lock (a minute or two)"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements/dev.lock
	$(BIN)/pip install --quiet --no-deps -e .
	touch $@

$(NODE_STAMP): package.json package-lock.json
	@echo "setup: installing the pinned CDK CLI into node_modules (npm ci)"
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	@echo "lint: mypy --strict (about a minute with a cold .mypy_cache, seconds after)"
	$(BIN)/mypy

unit: setup
	$(BIN)/pytest -q -m "not slow"

test: lint chromium
	@echo "test: pytest, all tests (the slow ones start moto and synthesize the CDK app: minutes)"
	$(BIN)/pytest -q

demo: setup
	$(BIN)/python -m alb502.dev.demo

# CPU-s per million lines on one core against the stack's floor, peak RSS,
# cold start; exits 1 when a target is missed. Minutes; prints its progress.
bench: setup
	$(BIN)/python benchmarks/bench_process.py

# The Lambda handler against `alb502 process` on one object, both over moto S3.
bench-handler: setup
	$(BIN)/python benchmarks/bench_handler.py

# `alb502 report` over a 10M-entry local lake (built once into benchmarks/.data).
bench-report: setup
	$(BIN)/python benchmarks/bench_report.py

# Chromium for the HTML report's browser test (tests/test_report_html.py, which
# skips without it): Debian's package, installed only when missing and only as
# root; otherwise says so and carries on.
chromium:
	@if command -v chromium >/dev/null 2>&1; then \
		echo "chromium: $$(command -v chromium)"; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
		echo "chromium: missing; installing Debian's package (apt-get install -y chromium)"; \
		apt-get install -y --no-install-recommends chromium >/dev/null \
			|| (apt-get update >/dev/null && apt-get install -y --no-install-recommends chromium >/dev/null) \
			|| echo "chromium: install failed; the HTML browser test will skip"; \
	else \
		echo "chromium: missing (install the chromium package as root); the HTML browser test will skip"; \
	fi

synth: setup
	CDK_DISABLE_CLI_TELEMETRY=true node_modules/.bin/cdk synth --no-notices --no-version-reporting --quiet

# Infrastructure helpers (the CDK app in infra/).
.PHONY: bundle cdk-diff lambda-smoke
# Build the Lambda bundle without Docker and print its unzipped size.
bundle: setup
	@echo "bundle: pip installs the runtime lock for aarch64/cp313 (cached under build/lambda-deps)"
	$(BIN)/python -m infra.bundling build/lambda-bundle
# The bundle's lambda_handler on arm64 CPython 3.13 (qemu user mode, a Debian 13
# root cached under build/) against moto; installs qemu-user-static and
# debootstrap with apt-get if missing. Slow: minutes.
lambda-smoke: bundle
	@echo "lambda-smoke: the bundle on aarch64 python3.13 under qemu (minutes)"
	$(BIN)/python -m infra.lambda_smoke
# What `cdk deploy` would change in the account the AWS credentials point at.
cdk-diff: setup
	CDK_DISABLE_CLI_TELEMETRY=true node_modules/.bin/cdk diff --no-notices --no-version-reporting

clean:
	rm -rf $(VENV) node_modules cdk.out build lake demo-lake .pytest_cache .mypy_cache .ruff_cache
