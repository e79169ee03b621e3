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

# The project's image, built from its Dockerfile and run by a real container engine:
# podman with the suite's own config (E2E_ENGINE=docker: a docker that exists). See e2e/.
E2E_APT := $(if $(filter docker,$(E2E_ENGINE)),,podman runc) debootstrap
e2e: deps
	./scripts/ensure-apt $(E2E_APT)
	$(VPY) -m pytest -q e2e

clean:
	rm -rf $(VENV) dist .pytest_cache
