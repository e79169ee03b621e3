"""What dist/zei is: one ELF file that needs only glibc, whose Python code is PID 1 itself,
and that runs with any (or no) environment in a bare, read-only root without locale files."""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from binhelpers import Pid1, require_namespaces, require_root, require_tool, run, wait_for

GLIBC = {"linux-vdso.so.1", "libc.so.6", "libm.so.6", "libpthread.so.0", "libdl.so.2",
         "/lib64/ld-linux-x86-64.so.2"}


def minimal_config(path: Path, services: str) -> Path:
    path.write_text('version: "1.0"\nservices:\n' + services)
    return path


def test_is_one_elf_executable(zei_bin):
    assert zei_bin.read_bytes()[:4] == b"\x7fELF"
    assert os.access(zei_bin, os.X_OK)


def test_needs_only_glibc(zei_bin):
    out = run([require_tool("ldd"), zei_bin]).stdout
    libs = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert libs and libs <= GLIBC, out


def test_has_no_rpath_and_only_glibc_needed(zei_bin):
    dynamic = run([require_tool("readelf"), "-d", zei_bin]).stdout
    assert "RPATH" not in dynamic and "RUNPATH" not in dynamic, dynamic
    needed = set(re.findall(r"\(NEEDED\)\s+Shared library: \[(.+?)\]", dynamic))
    assert needed and needed <= GLIBC, needed


def test_version_with_empty_environment(zei_bin, version):
    result = run([zei_bin, "--version"], env={})
    assert (result.returncode, result.stdout, result.stderr) == (0, f"zei {version}\n", "")


@pytest.mark.parametrize("env", [
    {"LANG": "C.UTF-8"},
    {"LC_ALL": "C.UTF-8"},
    {"LANG": "xx_YY.UTF-8"},                         # a locale that exists nowhere
    {"LANG": "de_DE.ISO-8859-1", "LC_CTYPE": "ja_JP.SJIS"},
    {"LC_ALL": "POSIX", "LANG": "C.UTF-8"},
], ids=lambda env: ",".join(f"{k}={v}" for k, v in env.items()))
def test_any_locale(zei_bin, version, env):
    result = run([zei_bin, "--version"], env=env)
    assert (result.returncode, result.stdout, result.stderr) == (0, f"zei {version}\n", "")


def test_dash_c_is_zeis_own_option(zei_bin, tmp_path):
    """Nuitka's self-execution guard would exit 2 on a `-c X` pair; it is built out."""
    config = minimal_config(tmp_path / "zei.yaml", '  a:\n    command: ["/bin/true"]\n')
    result = run([zei_bin, "-c", config, "check"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "ok" in result.stdout


def _status(pid: int) -> dict:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()
    return fields


def test_python_is_pid1_and_services_are_its_children(zei_bin, tmp_path):
    """No bootstrap process: the exec'd zei is PID 1, its services are its direct children."""
    require_root()
    config = minimal_config(tmp_path / "zei.yaml", (
        '  probe:\n    command: ["/bin/sh", "-c", "echo ppid=$PPID; exec sleep 60"]\n'))
    daemon = Pid1([zei_bin, "-c", config, "--socket", tmp_path / "zei.sock"], tmp_path / "log",
                  env={"PATH": "/usr/bin:/bin"})
    try:
        daemon.wait_log(r"ppid=1$")
        assert os.readlink(f"/proc/{daemon.pid}/exe") == str(zei_bin)
        assert _status(daemon.pid)["NSpid"][-1] == "1"
        kids = wait_for(lambda: Path(f"/proc/{daemon.pid}/task/{daemon.pid}/children")
                        .read_text().split(), what="a service")
        assert [os.readlink(f"/proc/{kid}/exe") for kid in kids] == ["/usr/bin/sleep"]
    finally:
        code = daemon.stop()
    assert code == 0, daemon.output()


def test_services_keep_the_variables_the_interpreter_never_saw(zei_bin, tmp_path):
    """PYTHON*/LANG/LC_* are hidden from the interpreter only; services still get them."""
    require_root()
    config = minimal_config(tmp_path / "zei.yaml", (
        '  env:\n    command: ["/usr/bin/env"]\n    oneshot: true\n'))
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", "LC_MESSAGES": "xx_YY.UTF-8",
           "PYTHONUNBUFFERED": "1", "PYTHONPATH": "/nowhere", "FOO": "bar"}
    daemon = Pid1([zei_bin, "-c", config, "--socket", tmp_path / "zei.sock"], tmp_path / "log",
                  env=env)
    try:
        daemon.wait_log(r"FOO=bar$")
        daemon.wait_log(r"exited")
    finally:
        code = daemon.stop()
    log = daemon.output()
    assert code == 0, log
    for name, value in env.items():
        assert re.search(rf"{name}={re.escape(value)}$", log, re.M), (name, log)
    assert "__ZEI_HIDDEN_" not in log


def _copy_with_parents(src: str, root: Path):
    dst = root / src.lstrip("/")
    dst.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(os.path.realpath(src), dst)


@pytest.fixture
def bare_root(zei_bin, tmp_path):
    """The binary, glibc's libraries, /etc/passwd + /etc/group and a config; no /tmp, no
    locale files, no shell. /proc, /run (tmpfs) and /dev/null (which every container
    runtime provides; the daemon opens it) get mounted by the test."""
    root = tmp_path / "root"
    root.mkdir()
    shutil.copy2(zei_bin, root / "zei")
    for line in run([require_tool("ldd"), zei_bin]).stdout.splitlines():
        path = re.search(r"(/\S+)", line)
        if path:
            _copy_with_parents(path.group(1), root)
    (root / "etc" / "zei").mkdir(parents=True)
    (root / "etc" / "passwd").write_text(
        "root:x:0:0:root:/root:/zei\nnobody:x:65534:65534:nobody:/nonexistent:/zei\n")
    (root / "etc" / "group").write_text("root:x:0:\nnogroup:x:65534:\n")
    minimal_config(root / "etc" / "zei" / "zei.yaml", (
        '  self:\n    command: ["/zei", "--version"]\n    user: nobody\n'
        '    oneshot: true\n    interval: 1h\n'))
    for mountpoint in ("proc", "run", "dev"):
        (root / mountpoint).mkdir()
    (root / "dev" / "null").touch()
    return root


def _in_readonly_root(root: Path, *argv) -> list:
    """sh -c: bind the root read-only, mount /proc, a tmpfs /run and /dev/null, then exec
    chroot ROOT ARGV (run inside `unshare --mount --pid --fork`, so ARGV becomes PID 1)."""
    script = ('set -e; R="$1"; shift; mount --bind "$R" "$R"; mount -o remount,bind,ro "$R"; '
              'mount -t proc proc "$R/proc"; mount -t tmpfs -o mode=0755 tmpfs "$R/run"; '
              'mount --bind /dev/null "$R/dev/null"; exec chroot "$R" "$@"')
    return [require_tool("sh"), "-c", script, "sh", root, *argv]


@pytest.mark.parametrize("env", [{}, {"LANG": "C.UTF-8"}, {"LC_ALL": "de_DE.UTF-8"}],
                         ids=["empty-env", "LANG=C.UTF-8", "LC_ALL=de_DE.UTF-8"])
def test_daemon_in_bare_readonly_root(bare_root, tmp_path, version, env):
    require_root()
    require_tool("chroot")
    assert not (bare_root / "tmp").exists()
    before = sorted(str(p) for p in bare_root.rglob("*"))
    daemon = Pid1(_in_readonly_root(bare_root, "/zei"), tmp_path / "log", env=env,
                  options=("--mount",))
    try:
        daemon.wait_log(rf"zei {re.escape(version)}$")     # the service's output
        assert os.readlink(f"/proc/{daemon.pid}/exe").endswith("/zei")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.output()
    assert sorted(str(p) for p in bare_root.rglob("*")) == before


@pytest.mark.parametrize("argv", [["--version"], ["check"]], ids=["version", "check"])
def test_cli_in_bare_readonly_root(bare_root, tmp_path, argv):
    require_namespaces()
    require_tool("chroot")
    unshare = require_tool("unshare")
    result = run([unshare, "--mount", "--pid", "--fork",
                  *_in_readonly_root(bare_root, "/zei", *argv)], env={"LANG": "C.UTF-8"})
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""


def test_services_get_reserved_signals_at_default(zei_bin, tmp_path):
    """glibc's posix_spawn (make, runc, ...) hands signals 32/33 over as SIG_IGN and no
    Python code can reset them; the binary does, so services do not inherit that."""
    require_namespaces()
    config = minimal_config(tmp_path / "zei.yaml", (
        '  raw:\n    command: ["/usr/bin/grep", "^SigIgn", "/proc/self/status"]\n'
        '    oneshot: true\n'))
    log = tmp_path / "log"
    fd = os.open(log, os.O_WRONLY | os.O_CREAT, 0o644)
    argv = [require_tool("unshare"), "--pid", "--fork", "--mount-proc", str(zei_bin),
            "-c", str(config), "--socket", str(tmp_path / "zei.sock")]
    pid = os.posix_spawn(argv[0], argv, {"PATH": "/usr/bin:/bin"},
                         file_actions=[(os.POSIX_SPAWN_DUP2, fd, 1), (os.POSIX_SPAWN_DUP2, fd, 2)])
    os.close(fd)
    try:
        line = wait_for(lambda: re.search(r"^raw\[out\] SigIgn:\s+([0-9a-f]+)$", log.read_text(), re.M),
                        what=f"the service's SigIgn line in {log}")
    finally:
        kids = wait_for(lambda: Path(f"/proc/{pid}/task/{pid}/children").read_text().split(),
                        what="unshare's child")
        os.kill(int(kids[0]), 15)
        os.waitpid(pid, 0)
    assert int(line.group(1), 16) & (3 << 31) == 0, line.group(0)


def _binary_rss_kb(pid, exe):
    """kB resident of the binary's own read-only mappings (code, constants) in pid."""
    total, ours = 0, False
    for line in Path(f"/proc/{pid}/smaps").read_text().splitlines():
        head = line.split()
        if re.match(r"^[0-9a-f]+-[0-9a-f]+$", head[0]):
            ours = len(head) > 5 and head[5] == str(exe) and "w" not in head[1]
        elif ours and head[0] == "Rss:" and "Anonymous:" not in line:
            total += int(head[1])
    return total


def test_the_daemon_gives_back_its_start_up_pages_and_still_works(zei_bin, tmp_path):
    """Once its services run and it is idle, PID 1 drops the binary's read-only pages
    (zei.shell.residency, build/zei_release.c); code faults back in on use: a request
    after that is answered, and a restart still works."""
    require_root()
    config = minimal_config(tmp_path / "zei.yaml", (
        '  a:\n    command: ["sleep", "60"]\n    restart: always\n'
        '  b:\n    command: ["sleep", "60"]\n'))
    sock = tmp_path / "zei.sock"
    daemon = Pid1([zei_bin, "-c", config, "--socket", sock], tmp_path / "log",
                  env={"PATH": "/usr/bin:/bin"})
    try:
        daemon.wait_log(r"b: started")
        # started, the binary's code and constants are several MB resident: wait for the drop
        low = wait_for(lambda: (lambda kb: kb if kb < 2048 else None)(_binary_rss_kb(daemon.pid, zei_bin)),
                       what="the binary's read-only pages given back")
        assert low < 2048
        out = run([zei_bin, "--socket", sock, "list"])
        assert out.returncode == 0 and "a " in out.stdout and "running" in out.stdout, out
        assert run([zei_bin, "--socket", sock, "restart", "a"]).returncode == 0
        wait_for(lambda: len(re.findall(r"a: started \(pid \d+\)", daemon.output())) >= 2,
                 what=f"a restarted:\n{daemon.output()}")
    finally:
        code = daemon.stop()
    assert code == 0, daemon.output()
