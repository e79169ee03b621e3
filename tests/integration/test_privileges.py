"""Users, groups and the privilege cycle of the daemon; the CLI drops to its caller."""
import grp
import os
import pwd
import shutil
import subprocess

import pytest

from conftest import probe, zei_command, zei_env


def expected_groups(user):
    entry = pwd.getpwnam(user)
    return sorted(set(os.getgrouplist(user, entry.pw_gid)))


def proc_ids(z, pid):
    status = z.inside("cat", f"/proc/{pid}/status")
    uid = gid = None
    for line in status.splitlines():
        if line.startswith("Uid:"):
            uid = [int(x) for x in line.split()[1:]]
        if line.startswith("Gid:"):
            gid = [int(x) for x in line.split()[1:]]
    return uid, gid


def test_services_run_as_their_users_with_their_groups(zei_run, test_users):
    a, b = test_users["zeitest-a"], test_users["zeitest-b"]
    z = zei_run(f"""
services:
  as_a:
    command: {probe()}
    user: zeitest-a
  as_b_group_more:
    command: {probe()}
    user: zeitest-b
    group: zeitest-more
  numeric:
    command: {probe()}
    user: "{a.pw_uid}"
""")
    line = z.wait_log(r"^as_a\[out\] (ready .*)$")[0]
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    assert (int(f["uid"]), int(f["euid"]), int(f["gid"])) == (a.pw_uid, a.pw_uid, a.pw_gid)
    assert [int(g) for g in f["groups"].split(",")] == expected_groups("zeitest-a")
    assert 0 not in [int(g) for g in f["groups"].split(",")]
    assert f["home"] == a.pw_dir and f["user"] == "zeitest-a"
    line = z.wait_log(r"^as_b_group_more\[out\] (ready .*)$")[0]
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    more = grp.getgrnam("zeitest-more").gr_gid
    assert int(f["uid"]) == b.pw_uid and int(f["gid"]) == more
    assert 0 not in [int(g) for g in f["groups"].split(",")]
    line = z.wait_log(r"^numeric\[out\] (ready .*)$")[0]
    f = dict(kv.split("=", 1) for kv in line.split()[1:])
    assert int(f["uid"]) == a.pw_uid and int(f["gid"]) == a.pw_gid


def test_unknown_user_is_a_config_error(zei_run):
    z = zei_run("""
services:
  a:
    command: ["true"]
    user: no-such-user-zei
    group: no-such-group-zei
""")
    assert z.wait_exit() == 2
    assert "services.a.user: no such user (got 'no-such-user-zei')" in z.log()
    assert "services.a.group: no such group (got 'no-such-group-zei')" in z.log()


def test_daemon_parks_root_and_cycles_for_spawn_and_kill(zei_run, test_users, open_tmp):
    a, b = test_users["zeitest-a"], test_users["zeitest-b"]
    z = zei_run(f"""
shutdown_timeout: 3s
services:
  rootsvc:
    command: {probe()}
  usersvc:
    command: {probe()}
    user: zeitest-b
""", env={"ZEI_APP_USER": "zeitest-a"}, tmp=open_tmp)
    z.wait_log(r"^rootsvc\[out\] ready")
    z.wait_log(r"^usersvc\[out\] ready")
    z.wait_log(r"app identity uid %d" % a.pw_uid)
    uid, gid = proc_ids(z, 1)
    assert uid == [a.pw_uid, a.pw_uid, 0, a.pw_uid], uid  # real, effective, saved, fs
    assert gid[1] == a.pw_gid
    # The socket directory belongs to the app identity, and the app user may use it.
    st = os.stat(os.path.dirname(z.sock))
    assert (st.st_uid, st.st_mode & 0o777) == (a.pw_uid, 0o700)
    r = z.cli("restart", "rootsvc", user=a.pw_uid)
    assert r.returncode == 0, r.stderr
    z.wait_log(r"^rootsvc\[out\] ready", count=2)
    line = z.log().split("rootsvc[out] ready")[-1].splitlines()[0]
    assert " uid=0 " in line                               # spawned as root again after parking
    r = z.cli("signal", "usersvc:USR1", user=a.pw_uid)
    assert r.returncode == 0, r.stderr
    z.wait_log(r"^usersvc\[out\] got SIGUSR1")
    assert proc_ids(z, 1)[0] == [a.pw_uid, a.pw_uid, 0, a.pw_uid]   # parked again
    # An init above zei runs as the app user too: it must be able to pass on a SIGTERM.
    r = subprocess.run(["nsenter", "--target", str(z.host_pid), "--pid", "--mount", "setpriv",
                        f"--reuid={a.pw_uid}", f"--regid={a.pw_gid}", "--clear-groups",
                        "kill", "-TERM", "1"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    assert z.wait_exit(15) == 0 and "received SIGTERM" in z.log()


def test_cli_cannot_read_root_only_files(tmp_path, test_users):
    """The CLI reads configs as its caller: an unprivileged user cannot read /etc/shadow."""
    uid = test_users["zeitest-b"].pw_uid
    secret = tmp_path / "secret.yaml"
    secret.write_text("services:\n  s:\n    command: [echo, TOPSECRET]\n")
    secret.chmod(0o600)
    os.chmod(tmp_path, 0o755)
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    for path in ("/etc/shadow", str(secret)):
        for args in (("check",), ("list",), ("status",)):
            r = subprocess.run([*prefix, *zei_command(), "-c", path, "--socket", str(tmp_path / "x.sock"), *args],
                               capture_output=True, text=True, env=zei_env())
            assert r.returncode != 0
            assert "Permission denied" in r.stderr, r.stderr
            assert "TOPSECRET" not in r.stdout + r.stderr and "root:" not in r.stdout + r.stderr


@pytest.fixture
def suid_copy(tmp_path):
    """The frozen binary installed suid root, in a directory every user can reach."""
    binary = os.environ.get("ZEI_BIN")
    if not binary:
        pytest.skip("needs the frozen binary (ZEI_BIN); `make test` runs this against dist/zei")
    d = tmp_path / "bin"
    d.mkdir()
    target = d / "zei"
    shutil.copy(binary, target)
    os.chown(target, 0, 0)
    os.chmod(target, 0o4755)
    os.chmod(tmp_path, 0o755)
    return str(target)


def test_suid_cli_drops_to_caller(suid_copy, tmp_path, test_users):
    uid = test_users["zeitest-b"].pw_uid
    prefix = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups"]
    r = subprocess.run([*prefix, suid_copy, "-c", "/etc/shadow", "check"], capture_output=True, text=True)
    assert r.returncode == 1 and "Permission denied" in r.stderr and "root:" not in r.stdout + r.stderr
    r = subprocess.run([*prefix, suid_copy, "--version"], capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.startswith("zei ")


def test_config_is_read_as_the_app_identity(zei_run, test_users, tmp_path):
    """A config the app user cannot read is refused, not read with root's rights."""
    z = zei_run("services:\n  a:\n    command: [sleep, '100']\n", env={"ZEI_APP_USER": "zeitest-a"})
    assert z.wait_exit() == 2
    assert "Permission denied" in z.log() and "uid %d" % test_users["zeitest-a"].pw_uid in z.log()
