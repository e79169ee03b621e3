"""Attacks on dist/zei as the suid-root binary it is installed as.

The attacker controls the environment, the working directory and, where hard links to
root's files are allowed (fs.protected_hardlinks=0), the directory the suid binary runs
from: the tests plant Python modules, packages, a .pth file, pyvenv.cfg, a ._pth file and a
libm.so.6 there, each of which would create a marker file if it ever ran. Every attack must
leave zei's output unchanged, its stderr empty and the marker directory empty.

Positive controls show that each planted payload, each detector (stderr noise from
PYTHONVERBOSE and friends) and the suid bit itself do work, so a passing attack test means
"zei ignored it", not "the trap was broken".
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from binhelpers import NOBODY, require_root, require_tool, run, unavailable

PY_PLANTS = (
    "evilmod.py", "sitecustomize.py", "usercustomize.py", "_json.py", "_typing.py",
    "_codecs_jp.py", "_multibytecodec.py", "_yaml/__init__.py", "yaml/__init__.py",
    "yaml/cyaml.py", "yaml/_yaml.py", "docopt/__init__.py", "zei/__init__.py",
    "zei/daemon.py", "encodings/__init__.py", "encodings/shift_jis.py",
    "encodings/cp1252.py", "encodings/evilcodec.py", "json/__init__.py",
    "lib/python3.11/site-packages/evilpth.py", "lib/python3.11/os.py",
    "lib/python3.11/site.py", "lib/python3.11/encodings/__init__.py",
)

# name -> value; "{d}" is the attacker's directory. Every variable CPython 3.11 or Nuitka's
# runtime reads, plus a few that only look dangerous.
ATTACK_VARS = {
    "PYTHONPATH": "{d}",
    "PYTHONHOME": "{d}",
    "PYTHONSTARTUP": "{d}/evilmod.py",
    "PYTHONINSPECT": "1",
    "PYTHONWARNINGS": "error::evilmod.W",
    "PYTHONBREAKPOINT": "evilmod.hook",
    "PYTHONIOENCODING": "shift_jis",
    "PYTHONMALLOC": "debug",
    "PYTHONMALLOCSTATS": "1",
    "PYTHONDEVMODE": "1",
    "PYTHONVERBOSE": "1",
    "PYTHONPROFILEIMPORTTIME": "1",
    "PYTHONTRACEMALLOC": "5",
    "PYTHONFAULTHANDLER": "1",
    "PYTHONASYNCIODEBUG": "1",
    "PYTHONDEBUG": "1",
    "PYTHONOPTIMIZE": "2",
    "PYTHONDONTWRITEBYTECODE": "1",
    "PYTHONPYCACHEPREFIX": "{d}/pycache",
    "PYTHONUSERBASE": "{d}",
    "PYTHONPLATLIBDIR": "{d}",
    "PYTHONEXECUTABLE": "{d}/evil",
    "PYTHONCASEOK": "1",
    "PYTHONUTF8": "0",
    "PYTHONCOERCECLOCALE": "warn",
    "PYTHONHASHSEED": "1",
    "PYTHONINTMAXSTRDIGITS": "1",
    "PYTHONNODEBUGRANGES": "1",
    "PYTHONSAFEPATH": "0",
    "PYTHONUNBUFFERED": "1",
    "PYTHON_FROZEN_MODULES": "off",
    "_PYTHON_SYSCONFIGDATA_NAME": "evilmod",
    "_PYTHON_HOST_PLATFORM": "evil",
    "NUITKA_PYTHONPATH": "{d}",
    "NUITKA_ONEFILE_PARENT": "1",
    "NUITKA_TICKER": "1",
    "LANG": "ja_JP.SJIS",
    "LC_ALL": "xx_YY.EVILCODEC",
    "LC_CTYPE": "C.UTF-8",
    "HOME": "{d}",
    "TMPDIR": "{d}",
}
# Only glibc's secure mode stops these, so they are tried against the suid binary only.
LOADER_VARS = {"LD_PRELOAD": "{d}/libm.so.6", "LD_LIBRARY_PATH": "{d}"}

EVIL_LIB_C = r"""
#include <fcntl.h>
#include <unistd.h>
__attribute__((constructor)) static void pwned(void) {
    int fd = open(MARKERS "/PWNED-libm.so.6", O_CREAT | O_WRONLY, 0666);
    if (fd >= 0) close(fd);
}
"""


def payload(markers: Path, name: str) -> str:
    marker = markers / ("PWNED-" + name.replace("/", "_"))
    # os.open, not open(): a module imported during interpreter start-up has no open() yet.
    return ("import os\n"
            f"os.close(os.open({str(marker)!r}, os.O_CREAT | os.O_WRONLY, 0o666))\n"
            "class W(Warning):\n    pass\n"
            "def hook(*args, **kwargs):\n    pass\n")


class Scene:
    """base/installed/zei  root-owned 4755 copy of the binary
    base/attacker/         owned by nobody: a hard link of installed/zei (zei-link), a copy
                           (zei-copy), a config, and every plant
    base/markers/          1777: where a payload that runs leaves PWNED-<name>"""

    def __init__(self, base: Path, zei_bin: Path):
        self.base = base
        self.installed = base / "installed" / "zei"
        self.attacker = base / "attacker"
        self.markers = base / "markers"
        self.installed.parent.mkdir(mode=0o755)
        self.attacker.mkdir(mode=0o755)
        self.markers.mkdir()
        self.markers.chmod(0o1777)
        shutil.copy2(zei_bin, self.installed)
        os.chown(self.installed, 0, 0)
        self.installed.chmod(0o4755)
        self.hardlink = self.attacker / "zei-link"
        os.link(self.installed, self.hardlink)
        self.copy = self.attacker / "zei-copy"
        shutil.copy2(zei_bin, self.copy)
        self.copy.chmod(0o755)
        self.config = self.attacker / "zei.yaml"
        self.config.write_text('version: "1.0"\nservices:\n  a:\n    command: ["/bin/true"]\n')
        for rel in PY_PLANTS:
            path = self.attacker / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(payload(self.markers, rel))
        site = self.attacker / "lib" / "python3.11" / "site-packages"
        (site / "evil.pth").write_text("import evilpth\n")
        (self.attacker / "pyvenv.cfg").write_text(
            f"home = {self.attacker}\ninclude-system-site-packages = true\n")
        for name in ("zei-link._pth", "zei-copy._pth", "python311._pth"):
            (self.attacker / name).write_text(f"{self.attacker}\nimport site\n")
        self.evil_lib = self.attacker / "libm.so.6"
        source = base / "evil.c"
        source.write_text(EVIL_LIB_C)
        subprocess.run([require_tool("gcc"), "-shared", "-fPIC", f'-DMARKERS="{self.markers}"',
                        "-o", self.evil_lib, source], check=True)
        for path in [self.attacker, *self.attacker.rglob("*")]:
            if path != self.hardlink:
                os.lchown(path, NOBODY, NOBODY)
        self.planted = self.listing()

    def listing(self):
        return sorted(str(p.relative_to(self.attacker)) for p in self.attacker.rglob("*"))

    def env(self, names=None, extra=()) -> dict:
        chosen = dict(ATTACK_VARS) if names is None else {n: ATTACK_VARS[n] for n in names}
        chosen.update(extra)
        env = {"PATH": "/usr/bin:/bin"}
        env.update({k: v.format(d=self.attacker) for k, v in chosen.items()})
        return env

    def pwned(self):
        return sorted(os.listdir(self.markers))

    def assert_unharmed(self, result, expected_stdout):
        assert self.pwned() == [], f"attacker code ran: {self.pwned()}"
        assert result.stderr == "", result.stderr
        assert (result.returncode, result.stdout) == (0, expected_stdout), result
        assert self.listing() == self.planted, "zei wrote into the attacker's directory"


@pytest.fixture
def scene(zei_bin, world_dir):
    require_root()
    return Scene(world_dir, zei_bin)


@pytest.fixture
def suid_works(scene):
    """The suid bit takes effect here (no nosuid mount, no no_new_privs)."""
    probe = scene.base / "installed" / "id"
    shutil.copy2(require_tool("id"), probe)
    probe.chmod(0o4755)
    out = run([probe], user=NOBODY).stdout
    if "euid=0" not in out:
        unavailable(f"suid has no effect in this environment: {out!r}")


# --- positive controls -----------------------------------------------------------------


def test_control_every_python_plant_runs_when_executed(scene):
    for rel in PY_PLANTS:
        run(["/usr/bin/python3.11", "-I", "-S", scene.attacker / rel], env={})
    assert len(scene.pwned()) == len(PY_PLANTS)


def test_control_plain_python_falls_for_the_environment(scene):
    env = scene.env(["PYTHONPATH", "PYTHONWARNINGS"])
    run(["/usr/bin/python3.11", "-c", "pass"], env=env, cwd=scene.base)
    assert scene.pwned(), "python3.11 with PYTHONPATH into the plants ran none of them"
    noisy = run(["/usr/bin/python3.11", "-c", "pass"],
                env=scene.env(["PYTHONVERBOSE", "PYTHONPROFILEIMPORTTIME"]))
    assert "import" in noisy.stderr


def test_control_planted_libm_runs_when_loaded(scene):
    run(["/bin/true"], env={"LD_PRELOAD": str(scene.evil_lib)})
    assert scene.pwned() == ["PWNED-libm.so.6"]


def test_control_rpath_origin_would_load_the_planted_libm(scene):
    """What Nuitka's default RPATH=$ORIGIN did, and why the build removes it."""
    with_rpath = scene.attacker / "zei-with-rpath"
    shutil.copy2(scene.copy, with_rpath)
    subprocess.run([require_tool("patchelf"), "--set-rpath", "$ORIGIN", with_rpath], check=True)
    run([with_rpath, "--version"], env={})
    assert "PWNED-libm.so.6" in scene.pwned()


def test_control_suid_copy_runs_as_root(scene, suid_works):
    stat = scene.hardlink.stat()
    assert stat.st_uid == 0 and stat.st_mode & 0o4000 and stat.st_nlink == 2


# --- attacks -----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ATTACK_VARS))
def test_variable_ignored_by_copy_in_attacker_dir(scene, version, name):
    result = run([scene.copy, "--version"], env=scene.env([name]), cwd=scene.attacker)
    scene.assert_unharmed(result, f"zei {version}\n")


@pytest.mark.parametrize("name", sorted(ATTACK_VARS) + sorted(LOADER_VARS))
def test_variable_ignored_by_suid_hardlink_run_by_nobody(scene, suid_works, version, name):
    env = scene.env([name] if name in ATTACK_VARS else [], {k: v for k, v in LOADER_VARS.items()
                                                           if k == name})
    result = run([scene.hardlink, "--version"], env=env, user=NOBODY, cwd=scene.attacker)
    scene.assert_unharmed(result, f"zei {version}\n")


@pytest.mark.parametrize("how", ["copy-as-root", "suid-hardlink-as-nobody", "suid-as-nobody"])
@pytest.mark.parametrize("command", ["version", "check"])
def test_everything_at_once(scene, suid_works, version, how, command):
    binary, user, extra = {
        "copy-as-root": (scene.copy, None, {}),
        "suid-hardlink-as-nobody": (scene.hardlink, NOBODY, LOADER_VARS),
        "suid-as-nobody": (scene.installed, NOBODY, LOADER_VARS),
    }[how]
    argv = ["--version"] if command == "version" else ["-c", scene.config, "check"]
    expected = f"zei {version}\n" if command == "version" else f"{scene.config}: ok, 1 service(s): a\n"
    result = run([binary, *argv], env=scene.env(extra=extra), user=user, cwd=scene.attacker)
    scene.assert_unharmed(result, expected)


def test_suid_cli_reads_files_as_the_caller(scene, suid_works):
    """The CLI drops to the caller before it reads a config: a root-only file stays closed."""
    secret = scene.base / "installed" / "secret.yaml"
    secret.write_text('version: "1.0"\nservices:\n  topsecret:\n    command: ["/bin/true"]\n')
    secret.chmod(0o600)
    result = run([scene.installed, "-c", secret, "check"], user=NOBODY, env={})
    assert result.returncode != 0
    assert "topsecret" not in result.stdout + result.stderr
