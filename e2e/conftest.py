"""e2e: the project's own image, built from its Dockerfile, run by a real container engine.

Session set-up (once): the engine (podman with the suite's own config, or E2E_ENGINE=docker),
the base images, the project image and the services image (images.py). Each test then
starts containers with the `zei` fixture and looks at them only from outside:

    def test_x(zei):
        c = zei(CONFIG_YAML)            # run -d, config mounted at /etc/zei/zei.yaml
        c.wait_log(r"^web\\[out\\] waiting$")
        assert c.zei("status", "web").returncode == 0

Containers are removed after each test; when a test fails its containers' logs are printed.
"""
from __future__ import annotations

import os
import sys
import time

import pytest

from engine import Engine
from harness import Container
import images as images_mod


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, "rep_" + rep.when, rep)


def pytest_terminal_summary(terminalreporter):
    """The suite's result as one line: `e2e (podman): N passed, M failed`."""
    stats = terminalreporter.stats
    passed = len(stats.get("passed", []))
    failed = len(stats.get("failed", [])) + len(stats.get("error", []))
    name = os.environ.get("E2E_ENGINE", "podman")
    terminalreporter.write_line(f"e2e ({name}): {passed} passed, {failed} failed")


@pytest.fixture(scope="session")
def engine():
    e = Engine()
    e.remove_all_test_containers()
    yield e
    e.remove_all_test_containers()


@pytest.fixture(scope="session")
def images(engine, pytestconfig):
    t0 = time.monotonic()
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():     # show build progress as it happens
        print()
        try:
            built = images_mod.ensure_images(engine)
        except Exception as e:                  # one clear failure instead of N cryptic ones
            pytest.exit(f"e2e: could not build the images: {e}", returncode=1)
        print(f"e2e: images ready in {time.monotonic() - t0:.0f}s", flush=True)
    return built


@pytest.fixture
def zei(engine, images, request):
    """Start a container of the services image: zei(config_text, user=..., env=..., args=...)."""
    started = []

    def start(config_text=None, image=None, **kw):
        c = Container.run(engine, image or images["services"], config_text,
                          name_hint=request.node.name, **kw)
        started.append(c)
        return c
    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for c in started:
        if failed:
            sys.stderr.write(f"\n---- log of {c.name} ----\n{c.logs()}\n")
        c.remove()
