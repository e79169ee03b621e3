"""zei as PID 1 without privileges: under `setpriv --no-new-privs` as a non-root user, and as
root with every capability dropped. Services without `user` run as zei's own user, a
service as anyone else is a config problem (file:line, nothing starts, exit 2; `zei check`
says the same), and the CLI works — without root through the fallback socket /tmp/zei-UID."""
import os
import random
import re
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import ROOT, probe, zei_command, zei_env

NNP = "no-new-privileges is set"
NOT_SUID = "its binary is not suid root, and no-new-privileges is set"
NO_CAPS = "capabilities dropped: no CAP_SETUID, CAP_SETGID, CAP_KILL"


@pytest.fixture
def uid():
    """A uid with no passwd entry and no /tmp/zei-UID yet (removed afterwards)."""
    while True:
        n = random.randrange(300000, 400000)
        if not os.path.lexists(f"/tmp/zei-{n}"):
            break
    yield n
    shutil.rmtree(f"/tmp/zei-{n}", ignore_errors=True)


def as_user(n, nnp=True):
    return ["setpriv", f"--reuid={n}", f"--regid={n}", "--clear-groups"] + (["--no-new-privs"] if nnp else [])


NO_CAPS_ROOT = ["setpriv", "--inh-caps=-all", "--bounding-set=-all"]


def _subdir(base):
    d = base / "again"
    d.mkdir(mode=0o755)
    return d


def ready_fields(z, name):
    line = z.wait_log(rf"^{name}\[out\] (ready .*)$")[0]
    return dict(kv.split("=", 1) for kv in line.split()[1:])


def test_no_new_privs_services_run_as_zei_and_the_cli_finds_the_fallback_socket(zei_run, open_tmp, uid):
    z = zei_run(f"""
shutdown_timeout: 5s
services:
  web:
    command: {probe()}
""", tmp=open_tmp, inner=as_user(uid), sock=False)
    f = ready_fields(z, "web")
    assert (f["uid"], f["euid"], f["gid"], f["groups"], f["user"]) == (str(uid), str(uid), str(uid), "", str(uid))
    sock = f"/tmp/zei-{uid}/zei.sock"
    z.wait_log(rf"zei\[info\] control socket {re.escape(sock)} \(the fallback: cannot set up the control "
               rf"socket /run/zei/zei.sock: Permission denied\)")
    z.wait_log(rf"running as uid {uid} without privileges \({NOT_SUID}\): services run as uid {uid} gid {uid} only")
    st = os.lstat(os.path.dirname(sock))
    assert (st.st_uid, st.st_mode & 0o777) == (uid, 0o700)
    r = z.cli("list", user=uid, check=True)
    assert re.search(r"^web +running ", r.stdout, re.M), r.stdout
    r = z.cli("status", "web", user=uid, check=True)
    assert f"  user:       {uid} (zei's own)\n" in r.stdout
    r = z.cli("signal", "web:USR1", user=uid, check=True)
    z.wait_log(r"^web\[out\] got SIGUSR1")
    r = z.cli("stop", "web", user=uid, check=True)
    assert "web stopped" in r.stdout
    r = z.cli("start", "web", user=uid, check=True)
    z.wait_log(r"^web\[out\] ready", count=2)
    r = z.cli("ready", user=uid, check=True)
    # root inside the container (`docker exec -u root`) finds it too, through PID 1's uid
    out = z.inside("env", f"PYTHONPATH={ROOT}", sys.executable, "-m", "zei", "-c", str(z.config), "list")
    assert re.search(r"^web +running ", out, re.M), out
    z.signal(signal.SIGTERM)
    assert z.wait_exit() == 0
    assert not os.path.exists(sock)


def test_no_new_privs_another_user_is_a_config_error(zei_run, open_tmp, uid, test_users):
    b = test_users["zeitest-b"]
    text = f"""
services:
  web:
    command: {probe()}
  other:
    command: {probe()}
    user: zeitest-b
"""
    z = zei_run(text, tmp=open_tmp, inner=as_user(uid), sock=False)
    assert z.wait_exit() == 2
    line = (f"{z.config}:7: services.other.user: zei runs as uid {uid} without privileges ({NOT_SUID}): "
            f"it can run services only as uid {uid}, not as 'zeitest-b' (uid {b.pw_uid})")
    assert f"zei[error] {line}\n" in z.log()
    assert "nothing started" in z.log() and "[out]" not in z.log() and "started (pid" not in z.log()
    r = subprocess.run([*as_user(uid), *zei_command(), "-c", str(z.config), "check"],
                       capture_output=True, text=True, env=zei_env(), cwd=str(ROOT))
    assert r.returncode == 1 and r.stderr.splitlines()[0] == line, r.stderr


def test_no_capabilities_as_root(zei_run, test_users, tmp_path):
    z = zei_run(f"""
services:
  web:
    command: {probe()}
  other:
    command: {probe()}
    user: zeitest-a
""", inner=NO_CAPS_ROOT)
    assert z.wait_exit() == 2
    a = test_users["zeitest-a"]
    assert (f"{z.config}:7: services.other.user: zei runs as uid 0 without privileges ({NO_CAPS}): it can run "
            f"services only as uid 0, not as 'zeitest-a' (uid {a.pw_uid})") in z.log()
    assert "[out]" not in z.log()
    z = zei_run(f"""
shutdown_timeout: 5s
services:
  web:
    command: {probe()}
  asroot:
    command: {probe()}
    user: root
""", tmp=_subdir(tmp_path), inner=NO_CAPS_ROOT)
    for name in ("web", "asroot"):
        f = ready_fields(z, name)
        assert (f["uid"], f["gid"]) == ("0", "0")
        assert f["groups"] == ",".join(str(g) for g in sorted(os.getgroups()))   # zei's own, kept
    z.wait_log(rf"running as uid 0 without privileges \({NO_CAPS}\)")
    status = z.inside("cat", "/proc/1/status")
    assert re.search(r"^CapEff:\s+0+$", status, re.M)
    r = z.cli("status", "web", check=True)
    assert "  user:       root (zei's own)\n" in r.stdout
    assert "  user:       root\n" in z.cli("status", "asroot", check=True).stdout
    assert "web stopped" in z.cli("stop", "web", check=True).stdout
    z.signal(signal.SIGTERM)
    assert z.wait_exit() == 0


def test_no_capabilities_zei_check(tmp_path, test_users):
    cfg = tmp_path / "zei.yaml"
    cfg.write_text("services:\n  web:\n    command: [x]\n  other:\n    command: [x]\n    user: zeitest-a\n")
    r = subprocess.run([*NO_CAPS_ROOT, *zei_command(), "-c", str(cfg), "check"],
                       capture_output=True, text=True, env=zei_env(), cwd=str(ROOT))
    assert r.returncode == 1 and f"services.other.user: zei runs as uid 0 without privileges ({NO_CAPS})" in r.stderr
    r = subprocess.run([*zei_command(), "-c", str(cfg), "check"], capture_output=True, text=True,
                       env=zei_env(), cwd=str(ROOT))
    assert r.returncode == 0, r.stderr                             # root with its capabilities


# ---- the suid binary (ZEI_BIN) ----------------------------------------------------------------

@pytest.fixture
def suid_bin(open_tmp, monkeypatch):
    """The frozen binary installed suid root where every user can run it, as ZEI_BIN."""
    binary = os.environ.get("ZEI_BIN")
    if not binary:
        pytest.skip("needs the frozen binary (ZEI_BIN)")
    target = open_tmp / "zei"
    shutil.copy(binary, target)
    os.chown(target, 0, 0)
    os.chmod(target, 0o4755)
    monkeypatch.setenv("ZEI_BIN", str(target))
    return str(target)


def test_suid_binary_under_no_new_privs(zei_run, open_tmp, uid, test_users, suid_bin):
    b = test_users["zeitest-b"]
    text = f"services:\n  web:\n    command: {probe()}\n  other:\n    command: {probe()}\n    user: zeitest-b\n"
    z = zei_run(text, tmp=open_tmp, inner=as_user(uid), sock=False)
    assert z.wait_exit() == 2
    line = (f"{z.config}:6: services.other.user: zei runs as uid {uid} without privileges ({NNP}): "
            f"it can run services only as uid {uid}, not as 'zeitest-b' (uid {b.pw_uid})")
    assert line in z.log()
    check = [suid_bin, "-c", str(z.config), "check"]
    r = subprocess.run([*as_user(uid), *check], capture_output=True, text=True)
    assert r.returncode == 1 and r.stderr.splitlines()[0] == line, r.stderr
    r = subprocess.run([*as_user(uid, nnp=False), *check], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr            # the suid bit acts: the daemon could switch
    z = zei_run(f"services:\n  web:\n    command: {probe()}\n", tmp=_subdir(open_tmp), inner=as_user(uid),
                sock=False)
    f = ready_fields(z, "web")
    assert (f["uid"], f["gid"]) == (str(uid), str(uid))
    assert re.search(r"^web +running ", z.cli("list", user=uid, check=True).stdout, re.M)
    z.signal(signal.SIGTERM)
    assert z.wait_exit() == 0
