# zei — every entry point a developer or CI needs. Each target installs what it uses.
SHELL := /bin/bash
PY    ?= /usr/bin/python3.11
VENV  := .venv
VPY   := $(VENV)/bin/python
APT_BASE := python3.11 python3.11-venv python3.11-dev util-linux procps passwd

.PHONY: all deps demo test unit integration check-example clean e2e

all: test

$(VENV)/.stamp: requirements.txt requirements-dev.txt
	./scripts/ensure-apt $(APT_BASE)
	$(PY) -m venv $(VENV)
	$(VPY) -m pip install -q -r requirements-dev.txt
	touch $@

deps: $(VENV)/.stamp

# Run zei as PID 1 of a fresh PID namespace on the bundled example; Ctrl-C stops it.
demo: deps
	unshare --pid --mount --fork --mount-proc $(VPY) -m zei -c example/zei.yaml

unit: deps
	$(VPY) -m pytest -q tests/unit

integration: deps
	$(VPY) -m pytest -q tests/integration

test: deps
	$(VPY) -m pytest -q tests
	$(MAKE) --no-print-directory bench-smoke

# Benchmarks (issue 6): zei against tini, dumb-init, catatonit and supervisord, each as PID 1
# of a fresh namespace. `bench` (~10 min) rewrites bench/results/latest.json and
# docs/benchmarks.md; `bench-smoke` (<1 min) runs every scenario once, tiny, and checks
# correctness only. The zei measured: ZEI_BIN, else dist/zei if built, else the source tree.
.PHONY: bench bench-smoke
bench: deps
	./scripts/bench

bench-smoke: deps
	./scripts/bench --smoke

# The project's image, built from its Dockerfile and run by a real container engine:
# podman with the suite's own config (E2E_ENGINE=docker: a docker that exists). See e2e/.
E2E_APT := $(if $(filter docker,$(E2E_ENGINE)),,podman runc) debootstrap
e2e: deps
	./scripts/ensure-apt $(E2E_APT)
	$(VPY) -m pytest -q e2e

clean:
	rm -rf $(VENV) dist .pytest_cache
