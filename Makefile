# nfs-sidecar: run `make help` for the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
PY     := $(VENV)/bin/python
# The Lambda Python runtimes the function supports (the Terraform module's var.runtime and
# build/pythons.py's LAMBDA_PYTHONS; a test keeps them equal). One discovery, build/pythons.py,
# finds an interpreter for each (python3.X on PATH, pyenv, uv-managed) for the build (the zip's
# bytecode) and `make test` (the function tests under each); `make deps` installs a missing one
# with uv where it can. EXTRA_PYTHONS='/path/python3.12 ...' names them instead.
LAMBDA_PYTHONS := 3.12 3.13
ifneq ($(strip $(EXTRA_PYTHONS)),)
export BUILD_PYTHONS := $(strip $(EXTRA_PYTHONS))
endif
# Evaluated where used, so that what `make deps` installed is found by the build it precedes.
FOUND_PYTHONS = $(shell $(PYTHON) build/pythons.py paths)
# checkov (Terraform static analysis) lives in its own venv: it pins many packages of its own.
CHECKOV_VENV    ?= .venv-checkov
CHECKOV_VERSION ?= 3.3.30

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(VENV)/.installed ## create the dev virtualenv (.venv)

# ganesha serves its exports only as root, and the Lambda user is switched to from root: say so
# before minutes of installing rather than as a failure later.
.PHONY: need-root
need-root:
	@[ "$$(id -u)" -eq 0 ] || { echo "error: make $(or $(MAKECMDGOALS),$@) needs root: the local NFS server" \
	  "(nfs-ganesha) serves its exports only as root, and the tests run the function as the" \
	  "unprivileged user nobody. Run it as root (e.g. sudo make $(MAKECMDGOALS))." >&2; exit 1; }

.PHONY: deps
deps: ## install system packages the tests and the host build need (nfs-ganesha, rpcbind, cmake, gcc + cross gcc; uses apt), and the Lambda Pythons (uv)
	scripts/install-system-deps.sh
	$(PYTHON) build/pythons.py install
	@$(PYTHON) build/pythons.py report

.PHONY: lint
lint: venv ## ruff check + format check, mypy --strict on function/
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

.PHONY: test
test: need-root deps lint checkov build localstack ## everything: lint, unit + NFS + Terraform + end-to-end tests, under every Python runtime present
	$(PY) -m pytest
	$(MAKE) test-pythons

# The tiers are pytest markers (tests/tiers.py, registered in pyproject.toml): the fast tier is
# every test that carries none of them.
FAST_TIER := not nfs and not build and not terraform and not e2e and not slow and not node

.PHONY: test-fast
test-fast: venv ## the fast tier in seconds: no root, no NFS server, no build; pure logic + the protocol on the in-memory NFS model
	time $(PY) -m pytest -q -m "$(FAST_TIER)"

.PHONY: test-distros
test-distros: need-root ## the README's commands on fresh Debian 12 and 13 chroots (debootstrap), as a newcomer: a table (not part of `make test`; ~1 h)
	scripts/test-distros $(SUITES)

.PHONY: test-pythons
test-pythons: ## run the function tests under each supported Lambda Python version found; say which were not (CI: fail)
	@set -e; tested=""; for py in $(FOUND_PYTHONS); do \
	  v=$$($$py -c 'import sys; print("%d.%d" % sys.version_info[:2])'); \
	  echo "== function tests under Python $$v ($$py)"; \
	  [ -x .venv-$$v/bin/pytest ] || { $$py -m venv .venv-$$v && .venv-$$v/bin/pip install -q 'pytest>=8,<10'; }; \
	  .venv-$$v/bin/python -m pytest -q tests/function; \
	  tested="$$tested $$v"; \
	done; \
	missing=""; for v in $(LAMBDA_PYTHONS); do \
	  case " $$tested " in *" $$v "*) ;; *) missing="$$missing $$v" ;; esac; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "!! NOT TESTED under the supported Lambda Python$$missing: no interpreter found." \
	    "Install it (make deps: uv python install 3.x; or pyenv install 3.x) or pass EXTRA_PYTHONS='/path/python3 ...'"; \
	  if [ "$(CI)" = true ]; then exit 1; fi; \
	else \
	  echo "== the function passed its tests under every supported Lambda Python:$$tested"; \
	fi

# The Lambda zip. BUILD_IN=auto builds in a container when docker/podman answers, on the host
# otherwise. The build itself needs python3 (3.11+), no venv, Python 3.12 and 3.13 for the zip's
# bytecode (build/pythons.py; a local build without one ships without its bytecode and says so,
# CI=true refuses) and a C toolchain on the host path (make deps). It takes libnfs's pinned source from LIBNFS_SOURCE_CACHE (a folder holding
# libnfs-<version>.tar.gz) when set, else downloads it from GitHub; our machines keep a copy in a
# sibling shared/vendor folder. The build verifies it either way.
ARCH        ?= x86_64
BUILD_IN    ?= auto
LIBNFS_SOURCE_CACHE ?= $(abspath $(dir $(firstword $(wildcard ../shared/vendor/libnfs-*.tar.gz))))
export LIBNFS_SOURCE_CACHE

.PHONY: build
build: ## build dist/nfs-sidecar-<version>-<arch>.zip + .sha256 + .cdx.json (ARCH=x86_64|arm64, BUILD_IN=auto|container|host)
	$(PYTHON) build/build.py --arch $(ARCH) --build-in $(BUILD_IN) --out dist

.PHONY: build-all
build-all: ## build the zips for both architectures (x86_64 and arm64)
	$(MAKE) build ARCH=x86_64
	$(MAKE) build ARCH=arm64

.PHONY: test-build
test-build: need-root deps venv ## the build tests alone: both zips, reproducibility, ELF checks, a real run over NFS
	$(PY) -m pytest tests/build

$(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION):
	rm -rf $(CHECKOV_VENV)
	$(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --upgrade pip
	$(CHECKOV_VENV)/bin/python -m pip install -q 'checkov==$(CHECKOV_VERSION)'
	touch $@

.PHONY: checkov
checkov: $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION) ## install checkov (pinned) in its own venv, for the Terraform tests

.PHONY: tf-test
tf-test: venv checkov ## Terraform only: fmt, init/validate, terraform test (mocked AWS), checkov, README tables
	$(PY) -m pytest tests/terraform

.PHONY: tf-docs
tf-docs: ## rewrite the Inputs/Outputs tables of the Terraform READMEs from variables.tf/outputs.tf
	$(PYTHON) scripts/tf_docs.py

.PHONY: errors-docs
errors-docs: ## rewrite docs/operations.md's troubleshooting table from function/nfs_sidecar/errors.py
	$(PYTHON) scripts/errors_docs.py

SCHEDULES ?= 100000
SEED      ?= 0
.PHONY: simulate
simulate: venv ## the write protocol under SCHEDULES seeded schedules from SEED (no root, no server); MUTANT='...' runs a mutant
	PYTHONPATH=function:. $(PY) -m tests.simulation --schedules $(SCHEDULES) --seed $(SEED) $(if $(MUTANT),--mutant "$(MUTANT)")

.PHONY: bench
bench: need-root deps venv ## benchmark: new sidecars, replacements, mixed batches (direct, SQS batches of 10), idle gaps and naive, on loopback and through a latency proxy, the handler under the Lambda runtime's Python; writes .tmp/bench.md
	PYTHONPATH=function:. BENCH_PYTHONS="$(FOUND_PYTHONS)" $(PY) -m tests.bench.run

.PHONY: bench-readme
bench-readme: ## put the last `make bench` report (.tmp/bench.md) into docs/design.md's Performance section
	$(PYTHON) scripts/bench_readme.py

# End to end: LocalStack (pinned, host mode) in its own venv, with the test Lambda executor that runs
# the zip in a local Python process (tests/e2e/executor; copied out first so no build files land here).
LOCALSTACK_VENV ?= .venv-localstack
E2E_EXECUTOR := tests/e2e/executor/pyproject.toml $(wildcard tests/e2e/executor/nfs_sidecar_local_executor/*.py)

$(LOCALSTACK_VENV)/.installed: tests/e2e/localstack-requirements.txt $(E2E_EXECUTOR)
	[ -x $(LOCALSTACK_VENV)/bin/python ] || $(PYTHON) -m venv $(LOCALSTACK_VENV)
	$(LOCALSTACK_VENV)/bin/python -m pip install -q --upgrade pip
	$(LOCALSTACK_VENV)/bin/python -m pip install -q -r tests/e2e/localstack-requirements.txt
	tmp=$$(mktemp -d) && cp -r tests/e2e/executor/. $$tmp/ \
	  && $(LOCALSTACK_VENV)/bin/python -m pip install -q --force-reinstall --no-deps $$tmp; \
	  rc=$$?; rm -rf $$tmp; exit $$rc
	touch $@

.PHONY: localstack
localstack: $(LOCALSTACK_VENV)/.installed ## install LocalStack for the e2e tests (own venv .venv-localstack, ~500 MB)

.PHONY: e2e
e2e: need-root deps venv build localstack ## end to end: the zip deployed by the Terraform example on LocalStack, on a real NFS server (no Docker)
	$(PY) -m pytest tests/e2e

.PHONY: demo
demo: need-root deps venv build localstack ## start NFS server + LocalStack, deploy, publish a sample; stays up until `make down`
	$(PY) -m tests.e2e.demo up

.PHONY: demo-publish
demo-publish: venv ## publish to the running demo: make demo-publish FILE=path/in/export [RESULTS='{"a": 1}']
	$(PY) -m tests.e2e.demo publish "$(FILE)" '$(or $(RESULTS),{})'

.PHONY: down
down: ## stop what `make demo` started and remove .tmp/demo
	$(PY) -m tests.e2e.demo down

# The post-deploy check: invokes the deployed function's probe (scripts/check_deployment.py). The
# function is named by FUNCTION, else by the function_name output of the Terraform folder TF_DIR.
TF_DIR ?= terraform/examples/complete

.PHONY: check-deployment
check-deployment: venv ## after terraform apply: probe the cluster from the function, step by step (FUNCTION=name or TF_DIR=folder; FOLDER=path in the export)
	$(PY) scripts/check_deployment.py $(if $(FUNCTION),--function '$(FUNCTION)',--terraform-dir '$(TF_DIR)') $(if $(FOLDER),--folder '$(FOLDER)')

.PHONY: clean
clean: ## remove build and test artefacts
	rm -rf dist .tmp .pytest_cache .ruff_cache .mypy_cache
