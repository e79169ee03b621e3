"""The images under test, built the way a user builds them.

1. Base images the Dockerfile names, made locally when they cannot be pulled (bases.py).
2. The project's image: `build --target runtime -t localhost/zei-e2e/zei .` from the
   repository's own Dockerfile (E2E_ZEI_IMAGE=ref uses an existing image instead).
   Build traffic may need an extra CA (a proxy that re-signs TLS): when E2E_EXTRA_CA is a
   file (default: the host's CA bundle, when present), it is passed to the Dockerfile's
   documented extra-CA secret.
3. The services image: e2e/image/Dockerfile, the project's image plus test tools.

The engine's layer cache (under .cache/e2e for podman) makes a rebuild with no change take
seconds. Build output goes to .cache/e2e/build.log.
"""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import bases
from engine import CACHE, ROOT

ZEI_TAG = "localhost/zei-e2e/zei:latest"
SERVICES_TAG = "localhost/zei-e2e/services:latest"
SERVICES_DIR = ROOT / "e2e" / "image"
BUILD_LOG = CACHE / "build.log"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


def say(msg):
    print(f"e2e: {msg}", flush=True)


def extra_ca_options(dockerfile):
    """Build options that hand the Dockerfile an extra CA bundle, if it documents a way
    (a build secret with id `extra_ca`)."""
    ca = os.environ.get("E2E_EXTRA_CA", HOST_CA if os.path.exists(HOST_CA) else "")
    if not ca:
        return []
    text = Path(dockerfile).read_text()
    if re.search(r"type=secret,[^\s]*id=extra_ca\b", text):
        return [f"id=extra_ca,src={ca}"]
    return []


def ensure_images(engine):
    """Build (or reuse) every image; returns the services image's tag."""
    CACHE.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    dockerfile = ROOT / "Dockerfile"
    zei_image = os.environ.get("E2E_ZEI_IMAGE")
    refs = []
    if not zei_image:
        if not dockerfile.exists():
            raise RuntimeError(f"{dockerfile} does not exist (set E2E_ZEI_IMAGE to test an existing image)")
        refs = bases.dockerfile_bases(dockerfile)
    tools_base = next((r for r in refs if bases.kind_of(r) == "debian"), "debian:bookworm-slim")
    if tools_base not in refs:
        refs.append(tools_base)
    bases.ensure_bases(engine, refs)
    if not zei_image:
        t1 = time.monotonic()
        say(f"building {ZEI_TAG} from {dockerfile.name} (target runtime; log {BUILD_LOG})")
        engine.build(ROOT, ZEI_TAG, dockerfile=dockerfile, target="runtime",
                     secrets=extra_ca_options(dockerfile), log=BUILD_LOG)
        say(f"{ZEI_TAG} ready in {time.monotonic() - t1:.0f}s")
        zei_image = ZEI_TAG
    t1 = time.monotonic()
    engine.build(SERVICES_DIR, SERVICES_TAG, dockerfile=SERVICES_DIR / "Dockerfile",
                 build_args={"ZEI_IMAGE": zei_image, "TOOLS_BASE": tools_base}, log=BUILD_LOG)
    say(f"{SERVICES_TAG} ready in {time.monotonic() - t1:.0f}s; images took {time.monotonic() - t0:.0f}s")
    return {"zei": zei_image, "services": SERVICES_TAG, "debian": tools_base}
