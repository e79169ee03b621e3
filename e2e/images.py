"""The images under test, built the way a user builds them.

1. Base images the Dockerfile names, made locally when they cannot be pulled (bases.py).
2. The project's image: `build --target runtime -t localhost/zei-e2e/zei .` from the
   repository's own Dockerfile (E2E_ZEI_IMAGE=ref uses an existing image instead).
   Build traffic may need an extra CA (a proxy that re-signs TLS): E2E_EXTRA_CA (default:
   the host's CA bundle, when present) goes where the Dockerfile documents it,
   build/certs/*.crt (git-ignored; trusted by the builder stage only).
3. The services image: e2e/image/Dockerfile, the project's image plus test tools.

The engine's layer cache (under .cache/e2e for podman) makes a rebuild with no change take
seconds. Stage images that later builds reuse (builder, tools) are tagged, so with podman
the untagged images left by superseded builds are pruned after each build and the store
does not grow. Build output goes to .cache/e2e/build.log.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import bases
from engine import CACHE, ROOT

ZEI_TAG = "localhost/zei-e2e/zei:latest"
SERVICES_TAG = "localhost/zei-e2e/services:latest"
BUILDER_TAG = "localhost/zei-e2e/builder:latest"
TOOLS_TAG = "localhost/zei-e2e/tools:latest"
SERVICES_DIR = ROOT / "e2e" / "image"
BUILD_LOG = CACHE / "build.log"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


def say(msg):
    print(f"e2e: {msg}", flush=True)


def provide_extra_ca(dockerfile):
    """Hand the builder an extra CA bundle the way the Dockerfile documents it: PEM files
    in build/certs/ (git-ignored there) are trusted by apt and pip in the builder. The file
    is written only when its content changes, so the build cache stays valid."""
    ca = os.environ.get("E2E_EXTRA_CA", HOST_CA if os.path.exists(HOST_CA) else "")
    certs = ROOT / "build" / "certs"
    if not ca or "COPY build/certs/" not in Path(dockerfile).read_text():
        return
    data = Path(ca).read_bytes()
    target = certs / "zei-e2e-extra-ca.crt"
    if not target.exists() or target.read_bytes() != data:
        target.write_bytes(data)
        say(f"extra CA {ca} -> {target.relative_to(ROOT)} (trusted by the builder stage only)")


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
        provide_extra_ca(dockerfile)
        # The builder is tagged too: an untagged stage image would count as dangling.
        engine.build(ROOT, BUILDER_TAG, dockerfile=dockerfile, target="builder", log=BUILD_LOG)
        engine.build(ROOT, ZEI_TAG, dockerfile=dockerfile, target="runtime", log=BUILD_LOG)
        say(f"{ZEI_TAG} ready in {time.monotonic() - t1:.0f}s")
        zei_image = ZEI_TAG
    t1 = time.monotonic()
    services_args = {"ZEI_IMAGE": zei_image, "TOOLS_BASE": tools_base}
    for target, tag in (("tools", TOOLS_TAG), (None, SERVICES_TAG)):
        engine.build(SERVICES_DIR, tag, dockerfile=SERVICES_DIR / "Dockerfile", target=target,
                     build_args=services_args, log=BUILD_LOG)
    if engine.name == "podman":
        # Every image still in use has a tag now; untagged ones are superseded builds.
        engine.run("image", "prune", "-f", timeout=600)
    say(f"{SERVICES_TAG} ready in {time.monotonic() - t1:.0f}s; images took {time.monotonic() - t0:.0f}s")
    return {"zei": zei_image, "services": SERVICES_TAG, "debian": tools_base}
