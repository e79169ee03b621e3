"""Base images made locally, for machines that cannot pull (no registry here).

The project's Dockerfile starts FROM a Debian bookworm image (builder) and FROM distroless
(runtime). `ensure_bases()` reads those names from the Dockerfile (ARG defaults resolved)
and, when an image of that name with the current recipe is not in the engine's store,
makes it from Debian packages and tags it with exactly that name:

- a Debian base (`debian:bookworm*`): `debootstrap --variant=minbase bookworm`, shaped
  like the official slim image (deb822 sources incl. security, docs excluded from dpkg,
  empty apt lists). The rootfs tarball is cached under .cache/e2e/bases (~36 s once).
- a distroless base (`*distroless/base*`): a root unpacked with `dpkg-deb -x` from the
  packages distroless base-debian12 holds (base-files, netbase, tzdata, libc6, libgcc-s1,
  libssl3, CA certificates), /etc/passwd and /etc/group with root, nobody and
  nonroot (65532), /home/nonroot, /tmp 1777; no shell, no package manager.

Each image carries a label with a hash of its recipe, so changing this file remakes it.
With a real docker (E2E_ENGINE=docker) images that already exist are used as they are.
"""
from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from engine import CACHE

RECIPE_LABEL = "org.zei.e2e.recipe"
MIRROR = os.environ.get("E2E_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITE = "bookworm"

DEBIAN_SOURCES = f"""\
Types: deb
URIs: {MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
"""
# As in the official slim images: no docs, man pages or translations; no .deb cache.
DPKG_SLIM = """\
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
"""
APT_CLEAN = """\
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache ""; Dir::Cache::srcpkgcache "";
APT::Install-Recommends "false";
"""

DISTROLESS_PACKAGES = ["base-files", "netbase", "tzdata", "libc6", "libgcc-s1", "gcc-12-base",
                       "libssl3", "ca-certificates"]
PASSWD = """\
root:x:0:0:root:/root:/sbin/nologin
nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
"""
GROUP = """\
root:x:0:
tty:x:5:
staff:x:50:
nobody:x:65534:
nonroot:x:65532:
"""
NSSWITCH = "passwd: files\ngroup: files\nshadow: files\nhosts: files dns\nnetworks: files\nprotocols: files\nservices: files\n"
DISTROLESS_ENV = ["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                  "ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"]


def say(msg):
    print(f"e2e: {msg}", flush=True)


RECIPE_VERSION = 1   # bump when the code that makes the bases changes what they contain


def recipe_hash(*parts):
    h = hashlib.sha256()
    for p in (RECIPE_VERSION, DEBIAN_SOURCES, DPKG_SLIM, APT_CLEAN, PASSWD, GROUP, NSSWITCH,
              DISTROLESS_ENV, *parts):
        h.update(str(p).encode())
    return h.hexdigest()[:16]


# ---- which bases does the Dockerfile want? ------------------------------------------------
def dockerfile_bases(dockerfile):
    """External images named by FROM lines, with ARG defaults substituted (stage names and
    `scratch` excluded)."""
    args, stages, bases = {}, set(), []
    text = re.sub(r"\\\n", " ", Path(dockerfile).read_text())
    for line in text.splitlines():
        line = line.strip()
        m = re.match(r"(?i)ARG\s+([A-Za-z_][A-Za-z0-9_]*)(?:=(\S*))?", line)
        if m and m.group(2) is not None and m.group(1) not in args:
            args[m.group(1)] = m.group(2).strip("\"'")
            continue
        m = re.match(r"(?i)FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?", line)
        if m:
            ref = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}?",
                         lambda v: args.get(v.group(1), v.group(2) or ""), m.group(1))
            if ref.lower() not in stages and ref != "scratch" and ref not in bases:
                bases.append(ref)
            if m.group(2):
                stages.add(m.group(2).lower())
    return bases


def qualified(ref):
    """docker.io/library/debian:bookworm-slim for debian:bookworm-slim (how docker names it)."""
    first = ref.split("/")[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return ("docker.io/library/" if "/" not in ref else "docker.io/") + ref


def kind_of(ref):
    name = ref.split("@")[0]
    if "distroless" in name:
        return "distroless"
    if re.search(r"(^|/)debian:bookworm", name):
        return "debian"
    return None


def ensure_bases(engine, refs):
    """Make each image in `refs` that the engine does not hold with the current recipe."""
    for ref in refs:
        kind = kind_of(ref)
        if kind is None:
            labels = engine.image_labels(ref)
            if labels is None:
                raise RuntimeError(f"{ref}: cannot be pulled here and e2e/bases.py has no recipe for it")
            continue
        want = recipe_hash(kind, MIRROR, *(DISTROLESS_PACKAGES if kind == "distroless" else ()))
        labels = engine.image_labels(ref)
        if labels is not None and (engine.name == "docker" or labels.get(RECIPE_LABEL) == want):
            continue
        if engine.name == "docker" and engine.run("pull", ref, check=False, timeout=600).returncode == 0:
            continue                            # a docker with a registry: the real thing
        t0 = time.monotonic()
        make = make_debian if kind == "debian" else make_distroless
        make(engine, want, qualified(ref))
        if qualified(ref) != ref:
            engine.tag(qualified(ref), ref)
        say(f"base image {ref} made in {time.monotonic() - t0:.0f}s")


# ---- Debian (builder) base ----------------------------------------------------------------
def make_debian(engine, recipe, tag):
    bases = CACHE / "bases"
    bases.mkdir(parents=True, exist_ok=True)
    tarball = bases / f"debian-{SUITE}-minbase-{recipe}.tar"
    if not tarball.exists():
        if shutil.which("debootstrap") is None:
            raise RuntimeError("debootstrap is missing (make e2e installs it)")
        for old in bases.glob(f"debian-{SUITE}-minbase-*.tar"):
            old.unlink()
        say(f"debootstrap --variant=minbase {SUITE} (once; cached in {bases})")
        with tempfile.TemporaryDirectory(dir=bases) as tmp:
            root = Path(tmp) / "root"
            r = subprocess.run(["debootstrap", "--variant=minbase", SUITE, str(root), MIRROR],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            if r.returncode != 0:
                raise RuntimeError("debootstrap failed:\n" + r.stdout[-3000:])
            (root / "etc/apt/sources.list").unlink(missing_ok=True)
            (root / "etc/apt/sources.list.d").mkdir(parents=True, exist_ok=True)
            (root / "etc/apt/sources.list.d/debian.sources").write_text(DEBIAN_SOURCES)
            (root / "etc/dpkg/dpkg.cfg.d").mkdir(parents=True, exist_ok=True)
            (root / "etc/dpkg/dpkg.cfg.d/docker").write_text(DPKG_SLIM)
            (root / "etc/apt/apt.conf.d/docker-clean").write_text(APT_CLEAN)
            for junk in ("var/lib/apt/lists", "var/cache/apt/archives", "var/log"):
                for p in (root / junk).glob("*"):
                    if p.is_file():
                        p.unlink()
            for f in ("etc/hostname", "etc/resolv.conf"):
                (root / f).unlink(missing_ok=True)
            pack(root, tarball)
    engine.import_rootfs(tarball, tag, changes=["ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                                                'CMD ["bash"]'],
                         labels={RECIPE_LABEL: recipe})


# ---- distroless-like runtime base ---------------------------------------------------------
def make_distroless(engine, recipe, tag):
    debs = CACHE / "bases" / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    say("distroless-like base from Debian packages: " + " ".join(DISTROLESS_PACKAGES))
    for f in debs.glob("*.deb"):
        f.unlink()
    r = subprocess.run(["apt-get", "download", "-o", "APT::Sandbox::User=root", *DISTROLESS_PACKAGES],
                       cwd=debs, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise RuntimeError("apt-get download failed (try apt-get update):\n" + r.stdout[-3000:])
    with tempfile.TemporaryDirectory(dir=CACHE / "bases") as tmp:
        root = Path(tmp) / "root"
        root.mkdir()
        for deb in sorted(debs.glob("*.deb")):
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        # ca-certificates ships the certificates; its maintainer script builds the bundle.
        certs = sorted((root / "usr/share/ca-certificates").rglob("*.crt"))
        (root / "etc/ssl/certs").mkdir(parents=True, exist_ok=True)
        (root / "etc/ssl/certs/ca-certificates.crt").write_text(
            "".join(c.read_text() for c in certs))
        for d in ("usr/share/doc", "usr/share/man", "usr/share/info", "usr/share/lintian",
                  "usr/share/locale", "usr/sbin"):
            shutil.rmtree(root / d, ignore_errors=True)
        # libc6's maintainer tools and anything that is a shell or interpreter: gone.
        for pattern in ("usr/bin/*", "bin/*", "sbin/*"):
            for p in root.glob(pattern):
                if p.is_file() or p.is_symlink():
                    p.unlink()
        (root / "etc/passwd").write_text(PASSWD)
        (root / "etc/group").write_text(GROUP)
        (root / "etc/nsswitch.conf").write_text(NSSWITCH)
        for d, mode, owner in (("tmp", 0o1777, 0), ("root", 0o700, 0), ("home/nonroot", 0o700, 65532),
                               ("proc", 0o555, 0), ("sys", 0o555, 0), ("dev", 0o755, 0)):
            (root / d).mkdir(parents=True, exist_ok=True)
            os.chown(root / d, owner, owner)
            os.chmod(root / d, mode)
        assert not any((root / p).exists() for p in ("bin/sh", "usr/bin/sh", "bin/bash")), "a shell slipped in"
        tarball = Path(tmp) / "rootfs.tar"
        pack(root, tarball)
        engine.import_rootfs(tarball, tag, changes=DISTROLESS_ENV, labels={RECIPE_LABEL: recipe})


def pack(root, tarball):
    """tar of a root directory with numeric owners, as the engines import it."""
    tmp = Path(str(tarball) + ".part")
    subprocess.run(["tar", "--numeric-owner", "--xattrs", "-C", str(root), "-cf", str(tmp), "."], check=True)
    tmp.rename(tarball)
