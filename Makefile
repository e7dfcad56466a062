# Order fulfillment on AWS SAM. `make help` lists the targets.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

# Found before PATH is changed below: the interpreter the virtualenv is made from (Python >= 3.11).
BASE_PYTHON := $(shell command -v python3.11 || command -v python3)
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml package-lock.json layers/shop/requirements.txt | md5sum | cut -c1-12)
CHECK_TOOLS := $(VENV)/.check-tools-$(shell cat pyproject.toml package-lock.json | md5sum | cut -c1-12)
# Lambda runs Python 3.13; `sam build` needs a matching python3.13 on PATH. A pyenv shim named python3.13 may
# exist without running, so take the first candidate that really is 3.13 (pyenv keeps one in its versions).
PY313 := $(firstword $(foreach candidate,$(shell command -v python3.13 2>/dev/null) $(wildcard $(shell pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13),$(shell "$(candidate)" -c 'import sys; print("$(candidate)") if sys.version_info[:2] == (3, 13) else None' 2>/dev/null)))
PY313_DIR := $(if $(PY313),$(dir $(PY313)),/python3.13-not-found)

export PATH := $(CURDIR)/$(VENV)/bin:$(PY313_DIR):$(PATH)
export SAM_CLI_TELEMETRY := 0
# The shared layer's package (shop) is importable by the tools, as the layer is on the path in Lambda.
export PYTHONPATH := $(CURDIR)/layers/shop
export AWS_DEFAULT_REGION ?= us-east-1

# The browser tests use Debian's Chromium (make browser); installing it needs root (CI runs as root).
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)

STACK ?= order-fulfillment-dev
CONFIG_ENV ?= default
SRC := functions layers/shop/shop localcloud tools tests benchmarks

.PHONY: help install browser run token invoke demo chaos publish-console format lint types test check build deploy bench seed seed-images openapi clean redrive e2e restore-check

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "} {printf "  make %-10s %s\n", $$1, $$2}'

FUNCTION_REQUIREMENTS := $(wildcard functions/*/requirements.txt)

$(STAMP): pyproject.toml package-lock.json layers/shop/requirements.txt $(FUNCTION_REQUIREMENTS)
	test -x $(VENV)/bin/python || $(BASE_PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e ".[dev]"
	# The functions' own interpreter for the local cloud: Lambda's Python 3.13 with the layer's dependencies and those
	# a function packages itself (the image resizer's Pillow: Lambda@Edge takes no layer) (with no
	# python3.13 here, the local cloud runs them on this Python and says so when it starts).
	if [ -n "$(PY313)" ]; then "$(PY313)" -m venv --clear $(VENV)/lambda-python3.13 && $(VENV)/lambda-python3.13/bin/python -m pip install --quiet -r layers/shop/requirements.txt $(foreach file,$(FUNCTION_REQUIREMENTS),-r $(file)); fi
	rm -f $(VENV)/.installed-*
	touch $@

# What only the checks use: checkov (it pins boto3 exactly, so it gets a virtualenv of its own, from pyproject.toml's
# `checkov` extra) and the Node tools of package.json.
$(CHECK_TOOLS): pyproject.toml package-lock.json | $(STAMP)
	$(VENV)/bin/python -m venv --clear $(VENV)/checkov
	$(VENV)/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["checkov"], sep="\n")' > $(VENV)/checkov/requirement.txt
	$(VENV)/checkov/bin/python -m pip install --quiet -r $(VENV)/checkov/requirement.txt
	npm ci --no-audit --no-fund --loglevel=error
	rm -f $(VENV)/.check-tools-*
	touch $@

install: $(STAMP) ## Create .venv with what the stack, the tools and the checks run on (re-run when pyproject.toml changes)

# The browser tests' Chromium: only `make test` installs it (apt; sudo when not root). Running the stack needs none.
browser: ## Install Debian's Chromium for the browser tests, unless a chromium is on PATH
	command -v chromium >/dev/null || { $(SUDO) apt-get update -qq && DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium; }

ARGS ?=
run: install ## Run the whole stack here (no Docker, no AWS account): console on 127.0.0.1:3000, data kept in .localcloud/ (ARGS="--fresh --logs OrdersApiFunction --api-port 3001 ...")
	python -m localcloud $(ARGS)

ROLE ?= customer
token: install ## Print an ID token of the demo customer (ROLE=approver: the approver) from the running make run
	@python -m localcloud.id_token --role $(ROLE) $(ARGS)

invoke: install ## Invoke one function with an event file, as sam local invoke does: FUNCTION=CatalogApiFunction EVENT=events/catalog_api.json
	@[ -n "$(FUNCTION)" ] && [ -n "$(EVENT)" ] || { echo 'usage: make invoke FUNCTION=<logical id> EVENT=events/<file>.json [ARGS="--aws-endpoint URL | --fresh"]'; exit 2; }
	python -m localcloud.invoke $(FUNCTION) $(EVENT) $(ARGS)

demo: install ## Play the whole order story against a fresh local cloud, with a timeline (non-zero if a step fails)
	python -m localcloud.demo

ORDERS ?= 200
CLIENTS ?= 10
SEED ?= 7
chaos: install ## The order story with AWS's faults on (ORDERS=200 CLIENTS=10 SEED=7), then every invariant counted
	python -m localcloud.chaos --orders $(ORDERS) --clients $(CLIENTS) --seed $(SEED) --log test-output/chaos.log

format: install ## Format the code (ruff)
	ruff format $(SRC)
	ruff check --fix $(SRC)

lint: install ## Format check and lint (ruff)
	ruff format --check $(SRC)
	ruff check $(SRC)

types: install ## Type-check (mypy, strict): the packages, then each function's handler on its own
	mypy
	for handler in functions/*/app.py; do MYPYPATH=layers/shop mypy --strict "$$handler"; done

# The tests run by file on 3 workers, in xdist's order (the files with the most tests first), which spreads the
# few long files that each run a local cloud. Starting those together, the longest first, made each of them slower
# on 2 cores: pytest took 424 s against 397 s, measured in the same hour.
test: lint types browser $(CHECK_TOOLS) ## Everything CI runs: format check, lint, types, template checks, sam build and all tests
	@test -n "$(PY313)" || { echo "no working python3.13 found (sam build needs it: pyenv install 3.13)"; exit 1; }
	python -m pytest -n 3 --dist loadfile

check: test ## Same as test: format check, lint, types and tests, as CI runs them

build: install ## sam build (arm64, Python 3.13)
	sam build

deploy: build ## sam deploy with samconfig.toml's CONFIG_ENV (default|dev|prod); first time: sam deploy --guided
	sam deploy --config-env $(CONFIG_ENV)

publish-console: install ## Upload web/ and its config.json (from STACK's outputs) to the console bucket; invalidate CloudFront
	python -m tools.publish_console --stack $(STACK)

seed: install ## Fill the Catalog with the demo products, or FROM=s3://bucket/key (DynamoDB JSON or CSV, .gz ok; FORMAT=csv|dynamodb-json): STACK=<stack> (or TABLE=<name>; AWS_ENDPOINT_URL for local)
	python -m tools.seed $(if $(TABLE),--table $(TABLE),--stack $(STACK))$(if $(FROM), --from $(FROM))$(if $(FORMAT), --format $(FORMAT))

seed-images: install ## Upload the demo products' images to the images bucket: STACK=<stack> (or BUCKET=<name>; AWS_ENDPOINT_URL for local)
	python -m tools.seed_images $(if $(BUCKET),--bucket $(BUCKET),--stack $(STACK))

OLDER_THAN ?= 60
e2e: install ## The end-to-end story against a deployed stack (STACK=...; AWS credentials), as make test runs it locally
	E2E_STACK=$(STACK) python -m pytest tests/e2e -v

redrive: install ## List what is open past every retry; APPLY=1 redrives it (STACK=<stack> or LOCAL=<aws url>; OLDER_THAN=60 min)
	python -m tools.redrive $(if $(LOCAL),--local $(LOCAL),--stack $(STACK)) --older-than $(OLDER_THAN) $(if $(filter 1,$(APPLY)),--apply)

restore-check: install ## Compare a restored Orders table with the live one (docs/backups.md): TABLE=<live> RESTORED=<restored> [AS_OF=<its time>]
	@[ -n "$(TABLE)" ] && [ -n "$(RESTORED)" ] || { echo 'usage: make restore-check TABLE=<live Orders table> RESTORED=<restored table>'; exit 2; }
	python -m tools.restore_check --table $(TABLE) --restored $(RESTORED) $(if $(AS_OF),--as-of $(AS_OF))

openapi: install ## Regenerate docs/openapi.json from the code
	python -m tools.openapi --write

MINISTACK := $(VENV)/ministack/bin/ministack
# MiniStack, the emulator the local cloud's get_item rate is measured beside: a virtualenv of its own (its pins are
# its own), from pyproject.toml's `ministack` extra.
$(MINISTACK): pyproject.toml
	$(VENV)/bin/python -m venv --clear $(VENV)/ministack
	$(VENV)/bin/python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["ministack"], sep="\n")' > $(VENV)/ministack/requirement.txt
	$(VENV)/ministack/bin/python -m pip install --quiet -r $(VENV)/ministack/requirement.txt
	touch $@

bench: install $(MINISTACK) ## Print the figures: cold starts vs a bare boto3 baseline; local cloud throughput, latency, get_item beside MiniStack, start-up
	python -m benchmarks

clean: ## Remove build output and the virtualenv
	rm -rf .aws-sam $(VENV) node_modules .mypy_cache .ruff_cache .hypothesis
