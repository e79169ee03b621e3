"""Users, groups and the suid binary, seen from outside the container.

The services image adds alice (1001; groups alice 1001, extra 2001, more 2002) and bob
(1002) to the runtime image's passwd/group, and /etc/zei/secret.yaml owned by root, 0600.
"""
import re

from harness import fields, sh

ALICE, BOB, APP = 1001, 1002, 65532


def ids(f, key):
    return [int(x) for x in f[key].split("/")]


def test_services_run_as_their_users_with_their_own_groups_never_gid_0(zei):
    c = zei("""
services:
  as_alice:
    command: [probe]
    user: alice
  as_bob_in_more:
    command: [probe]
    user: bob
    group: more
  numeric:
    command: [probe]
    user: "1001"
  unlisted:
    command: [probe]
    user: "4242"
""")
    f = fields(c.wait_log(r"^as_alice\[out\] (ready .*)$")[0])
    assert ids(f, "uid") == [ALICE] * 4 and ids(f, "gid") == [ALICE] * 4, f
    assert sorted(int(g) for g in f["groups"].split(",")) == [1001, 2001, 2002], f
    assert f["home"] == "/home/alice" and f["user"] == "alice"
    f = fields(c.wait_log(r"^as_bob_in_more\[out\] (ready .*)$")[0])
    assert ids(f, "uid") == [BOB] * 4 and ids(f, "gid") == [2002] * 4, f
    assert 0 not in [int(g) for g in f["groups"].split(",")], f
    f = fields(c.wait_log(r"^numeric\[out\] (ready .*)$")[0])
    assert ids(f, "uid") == [ALICE] * 4 and ids(f, "gid") == [ALICE] * 4, f
    assert sorted(int(g) for g in f["groups"].split(",")) == [1001, 2001, 2002], f
    f = fields(c.wait_log(r"^unlisted\[out\] (ready .*)$")[0])
    assert ids(f, "uid") == [4242] * 4 and ids(f, "gid") == [4242] * 4, f
    assert f["groups"] in ("-", "4242"), f
    # The same, read from outside through /proc of each service process.
    for name, uid in (("as_alice", ALICE), ("as_bob_in_more", BOB), ("unlisted", 4242)):
        pid = c.status_json(name)[name]["pid"]
        st = c.proc_status(pid)
        assert [int(x) for x in st["Uid"].split()] == [uid] * 4
        assert 0 not in [int(x) for x in st["Gid"].split()]
        assert "0" not in st["Groups"].split(), st["Groups"]


def test_another_user_is_denied_by_the_socket(zei):
    c = zei("services:\n  web:\n    command: [probe]\n")
    c.wait_log(r"^web\[out\] waiting$")
    # Default socket: its directory is 0700 and the app user's, so bob cannot reach it.
    st = c.exec("stat", "-c", "%u %a", "/run/zei").stdout.split()
    assert st == [str(APP), "700"], st
    r = c.zei("restart", "web", user=BOB)
    assert r.returncode == 1 and "permission denied" in r.stderr.lower(), r.stdout + r.stderr
    r = c.zei("list", user=BOB)
    assert "cannot reach the daemon (permission denied" in r.stderr, r.stdout + r.stderr
    assert "running" not in r.stdout, r.stdout
    # The app user (the image's USER, exec's default) and root may.
    assert c.zei("status", "web").returncode == 0
    assert c.zei("status", "web", user=0).returncode == 0
    assert len(re.findall(r"^web\[out\] ready", c.logs(), re.M)) == 1     # never restarted


def test_socket_in_a_shared_directory_checks_peer_credentials(zei):
    c = zei("services:\n  web:\n    command: [probe]\n", env={"ZEI_SOCKET": "/tmp/zei.sock"})
    c.wait_log(r"^web\[out\] waiting$")
    r = c.zei("--socket", "/tmp/zei.sock", "signal", "web:HUP", user=BOB)
    assert r.returncode == 1, r.stdout + r.stderr
    assert f"permission denied: uid {BOB} may not control zei" in r.stderr
    c.wait_log(rf"control socket: permission denied for uid {BOB}")
    r = c.exec("/zei", "signal", "web:HUP", env={"ZEI_SOCKET": "/tmp/zei.sock"})   # the app user may
    assert r.returncode == 0, r.stderr
    c.wait_log(r"^web\[out\] got SIGHUP")
    assert len(re.findall(r"got SIGHUP", c.logs())) == 1


def test_the_suid_cli_does_not_read_root_only_files_for_other_users(zei):
    c = zei("services:\n  web:\n    command: [probe]\n")
    c.wait_log(r"^web\[out\] waiting$")
    st = c.exec("stat", "-c", "%u %a", "/etc/zei/secret.yaml").stdout.split()
    assert st == ["0", "600"], st
    assert c.exec("stat", "-c", "%u %a", "/zei").stdout.split() == ["0", "4755"]
    # list/status read the config only when no daemon answers: point them at no socket.
    for user in (BOB, APP):
        for args in (("check",), ("list",), ("status",), ("status", "s")):
            r = c.zei("-c", "/etc/zei/secret.yaml", "--socket", "/tmp/no-daemon.sock", *args, user=user)
            out = r.stdout + r.stderr
            assert r.returncode != 0, (user, args, out)
            assert "TOPSECRET" not in out and "probe" not in r.stdout, (user, args, out)
            if args == ("check",):
                assert "Permission denied" in out, out
    r = c.zei("-c", "/etc/zei/secret.yaml", "check", user=0)        # root can
    assert r.returncode == 0 and "1 service(s): s" in r.stdout, r.stdout + r.stderr


def test_daemon_parks_root_and_plain_root_runs_as_root(zei):
    c = zei("services:\n  web:\n    command: [probe]\n")
    c.wait_log(r"app identity uid 65532")
    assert [int(x) for x in c.proc_status(1)["Uid"].split()] == [APP, APP, 0, APP]
    c2 = zei("services:\n  web:\n    command: [probe]\n    user: alice\n", user=0)
    c2.wait_log(r"^web\[out\] waiting$")
    assert [int(x) for x in c2.proc_status(1)["Uid"].split()] == [0, 0, 0, 0]
    f = fields(c2.wait_log(r"^web\[out\] (ready .*)$")[0])
    assert ids(f, "uid") == [ALICE] * 4


def test_zei_app_user_chooses_the_app_identity(zei):
    c = zei("services:\n  web:\n    command: [probe]\n", user=0,
            env={"ZEI_APP_USER": "alice", "ZEI_APP_GROUP": "extra"})
    c.wait_log(r"app identity uid 1001 gid 2001")
    c.wait_log(r"^web\[out\] waiting$")
    st = c.proc_status(1)
    assert [int(x) for x in st["Uid"].split()] == [ALICE, ALICE, 0, ALICE], st["Uid"]
    assert int(st["Gid"].split()[1]) == 2001, st["Gid"]
    assert c.exec("stat", "-c", "%u %g %a", "/run/zei").stdout.split() == ["1001", "2001", "700"]
    assert c.zei("status", "web", user=ALICE).returncode == 0
    r = c.zei("status", "web", user=APP)
    assert r.returncode != 0 and "permission denied" in r.stderr, r.stdout + r.stderr


def test_suid_start_scrubs_the_environment(zei):
    env = {"PYTHONPATH": "/tmp/evil", "PYTHONWARNINGS": "error::evil.W", "LD_PRELOAD": "/tmp/evil.so",
           "NUITKA_ONEFILE_PARENT": "1", "MALLOC_CHECK_": "3", "GCONV_PATH": "/tmp", "KEEP_ME": "kept"}
    c = zei(f"""
services:
  env:
    command: {sh("env; echo umask=$(umask) cwd=$(pwd)")}
    working_dir: /
""", env=env)
    c.wait_log(r"^env\[out\] umask=")
    out = "\n".join(re.findall(r"^env\[out\] (.*)$", c.logs(), re.M))
    assert "KEEP_ME=kept" in out
    for k in env:
        if k != "KEEP_ME":
            assert f"{k}=" not in out, (k, out)
    assert "umask=0022" in out and "cwd=/" in out
