"""zei without privileges: the config problem and its wording, why zei has no privileges,
who a service without `user` runs as, and where the control socket goes (pure parts)."""
from __future__ import annotations

import io
import os
import stat
import textwrap

import pytest

from zei import cli
from zei.core import control
from zei.core.confinement import Confinement, problem
from zei.core.config import ConfigError, parse
from zei.shell import privileges, sockpath

from fakes import FakeShell, spec, supervisor

PATH = "/etc/zei/zei.yaml"
USERS = {"app": (1000, 1000), "worker": (1001, 1001), "1000": (1000, 1000), "65532": (65532, 65532),
         "staffer": (1000, 50)}
GROUPS = {"app": 1000, "staff": 50, "0": 0, "1000": 1000}


def ids(user, group):
    """The fake passwd/group: (uid, gid) a service with this user/group runs as."""
    uid, gid = USERS[user] if user is not None else (1000, 1000)
    if group is not None:
        gid = GROUPS.get(group)
    return None if gid is None else (uid, gid)


NNP = Confinement(1000, 1000, "no-new-privileges is set", ids)


def problems(options, conf=NNP):
    text = "services:\n  web:\n    command: [echo]\n" + textwrap.indent(textwrap.dedent(options), "    ")
    with pytest.raises(ConfigError) as e:
        parse(text, PATH, lambda u: u in USERS or None, lambda g: GROUPS.get(g), conf)
    return [str(p) for p in e.value.problems]


def ok(options, conf=NNP):
    text = "services:\n  web:\n    command: [echo]\n" + textwrap.indent(textwrap.dedent(options), "    ")
    return parse(text, PATH, lambda u: u in USERS or None, lambda g: GROUPS.get(g), conf).services[0]


# ---- the config problem -------------------------------------------------------------------

def test_another_user_is_a_problem_at_its_line():
    assert problems("restart: always\nuser: worker\n") == [
        f"{PATH}:5: services.web.user: zei runs as uid 1000 without privileges (no-new-privileges "
        f"is set): it can run services only as uid 1000, not as 'worker' (uid 1001)"]


def test_each_confinement_reason_is_named():
    for why in ("capabilities dropped: no CAP_SETUID, CAP_SETGID, CAP_KILL", "its binary is not suid root"):
        conf = Confinement(0, 0, why, lambda u, g: (1001, 1001))
        assert problems("user: worker\n", conf) == [
            f"{PATH}:4: services.web.user: zei runs as uid 0 without privileges ({why}): it can run "
            f"services only as uid 0, not as 'worker' (uid 1001)"]


def test_another_group_is_a_problem_at_the_group_line():
    assert problems("user: app\ngroup: staff\n") == [
        f"{PATH}:5: services.web.group: zei runs as uid 1000 gid 1000 without privileges "
        f"(no-new-privileges is set): it can run services only with gid 1000, not with 'staff' (gid 50)"]
    assert problems("group: staff\n") == [                       # zei's own user, another group
        f"{PATH}:4: services.web.group: zei runs as uid 1000 gid 1000 without privileges "
        f"(no-new-privileges is set): it can run services only with gid 1000, not with 'staff' (gid 50)"]


def test_a_user_whose_primary_group_is_not_zeis():
    assert problems("user: staffer\n") == [
        f"{PATH}:4: services.web.user: zei runs as uid 1000 gid 1000 without privileges "
        f"(no-new-privileges is set): it can run services only with gid 1000, not with the primary "
        f"group of 'staffer' (gid 50); set group: \"1000\""]
    assert ok("user: staffer\ngroup: app\n").user == "staffer"


def test_zeis_own_identity_is_fine_by_name_number_or_absence():
    assert ok("").user is None
    assert ok("user: app\n").user == "app"
    assert ok("user: '1000'\ngroup: '1000'\n").group == "1000"
    assert ok("user: worker\n", conf=None).user == "worker"          # with privileges: anyone


def test_an_unknown_user_is_only_unknown_and_problems_add_up():
    assert problems("user: ghost\n") == [f"{PATH}:4: services.web.user: no such user (got 'ghost')"]
    text = ("services:\n  a:\n    command: [x]\n    user: worker\n"
            "  b:\n    command: [x]\n    group: staff\n")
    with pytest.raises(ConfigError) as e:
        parse(text, PATH, lambda u: u in USERS or None, lambda g: GROUPS.get(g), NNP)
    assert [(p.line, p.where) for p in e.value.problems] == [(4, "services.a.user"), (7, "services.b.group")]


def test_problem_is_none_without_a_confinement_or_without_user_and_group():
    assert problem(None, "worker", None) is None
    assert problem(NNP, None, None) is None


# ---- why zei has no privileges -----------------------------------------------------------

FULL = (1 << 41) - 1


@pytest.mark.parametrize("facts,why", [
    ((0, 0, FULL), None),
    ((0, 1, FULL), None),                                   # root: no-new-privs changes nothing
    ((0, 0, None), None),                                   # no /proc: assumed there
    ((0, 0, 0), "capabilities dropped: no CAP_SETUID, CAP_SETGID, CAP_KILL"),
    ((0, 0, FULL & ~(1 << 5)), "capabilities dropped: no CAP_KILL"),
    ((1000, 1, 0, True), "no-new-privileges is set"),
    ((1000, 0, 0, True, True), "its file system is mounted nosuid"),
    ((1000, 0, 0, True), "its suid bit did not take effect"),
    ((1000, 0, 0), "its binary is not suid root"),
    ((1000, 1, 0), "its binary is not suid root, and no-new-privileges is set"),
])
def test_why_unprivileged(facts, why):
    assert privileges.why_unprivileged(*facts) == why


def test_read_status(tmp_path):
    f = tmp_path / "status"
    f.write_text("Name:\tzei\nCapEff:\t00000000000000c0\nNoNewPrivs:\t1\n")
    assert privileges.read_status(str(f)) == (1, 0xc0)
    assert privileges.read_status(str(tmp_path / "none")) == (0, None)


def test_privileges_without_root(started_as):
    started_as(1000, 1000, euid=1000)
    p = privileges.Privileges(environ={}, status=(1, 0))
    assert (p.root, p.cycling, p.own) == (False, False, (1000, 1000))
    assert p.why.endswith("no-new-privileges is set")
    conf = p.confinement
    assert (conf.uid, conf.gid, conf.why) == (1000, 1000, p.why)
    ident = p.identity(None)
    assert (ident.uid, ident.gid, ident.groups) == (1000, 1000, tuple(os.getgroups()))
    assert "without privileges" in p.description
    with pytest.raises(privileges.PrivilegeError) as e:
        privileges.Privileges(environ={"ZEI_APP_USER": "root"}, status=(1, 0))
    assert "cannot take on 'root'" in str(e.value)


def test_root_without_capabilities_runs_services_as_itself(started_as):
    started_as(0, 0)
    p = privileges.Privileges(environ={}, status=(0, 0))
    assert (p.root, p.own, p.own_user) == (False, (0, 0), "root")
    assert p.confinement.why.startswith("capabilities dropped")
    assert p.identity(None).groups == tuple(os.getgroups())


def test_with_root_a_service_without_user_is_root(started_as):
    started_as(0, 0)
    p = privileges.Privileges(environ={}, status=(0, FULL))
    assert p.root and p.confinement is None and p.own_user == "root"
    assert p.identity(None).uid == 0


def test_check_judges_by_the_situation_before_the_drop(monkeypatch, tmp_path):
    cfg = tmp_path / "zei.yaml"
    cfg.write_text("services:\n  web:\n    command: [x]\n    user: '4242'\n")
    monkeypatch.setattr(privileges, "_started", privileges.Situation(1000, 1000, "no-new-privileges is set"))
    out, err = io.StringIO(), io.StringIO()
    assert cli.cmd_check(str(cfg), out, err) == cli.EXIT_ERROR
    assert err.getvalue().splitlines()[0] == (
        f"{cfg}:4: services.web.user: zei runs as uid 1000 without privileges (no-new-privileges is "
        f"set): it can run services only as uid 1000, not as '4242' (uid 4242)")
    monkeypatch.setattr(privileges, "_started", privileges.Situation(0, 0, None))   # suid root, no nnp
    assert cli.cmd_check(str(cfg), io.StringIO(), io.StringIO()) == cli.EXIT_OK


# ---- status shows who a service without user runs as -------------------------------------

def test_status_rows_name_zeis_own_user():
    sup = supervisor(spec("web"), spec("db", user="app"))
    shell = FakeShell(sup)
    shell.boot()
    reply, = control.dispatch(sup, {"cmd": "status"}, "t", 1.0, own_user="1000")
    web, db = reply.payload["services"]
    assert (web["user"], web["own_user"]) == ("1000", True)
    assert db["user"] == "app" and "own_user" not in db
    text = cli.render_status([web, db])
    assert "  user:       1000 (zei's own)\n" in text and "  user:       app\n" in text
    assert "  user:       zei's own user\n" in cli.render_status(sup.status(1.0)[:1])   # no daemon


# ---- the socket path ----------------------------------------------------------------------

def st(uid, mode, kind=stat.S_IFDIR):
    return os.stat_result((kind | mode, 0, 0, 0, uid, 0, 0, 0, 0, 0))


@pytest.mark.parametrize("xdg,stat_,expected", [
    ("/run/user/1000", st(1000, 0o700), "/run/user/1000/zei"),
    ("/run/user/1000/", st(1000, 0o700), "/run/user/1000/zei"),
    ("/run/user/1000", st(1001, 0o700), "/tmp/zei-1000"),           # someone else's
    ("/run/user/1000", st(1000, 0o755), "/tmp/zei-1000"),           # not 0700
    ("/run/user/1000", st(1000, 0o700, stat.S_IFLNK), "/tmp/zei-1000"),
    ("run/user", st(1000, 0o700), "/tmp/zei-1000"),                 # relative
    (None, None, "/tmp/zei-1000"),
    ("/run/user/1000", None, "/tmp/zei-1000"),                      # does not exist
])
def test_fallback_dir(xdg, stat_, expected):
    assert sockpath.fallback_dir(1000, xdg, stat_) == expected


def test_daemon_paths():
    env = {}
    assert sockpath.for_daemon(None, True, 0, env) == ["/run/zei/zei.sock"]
    assert sockpath.for_daemon(None, False, 1000, env) == ["/run/zei/zei.sock", "/tmp/zei-1000/zei.sock"]
    assert sockpath.for_daemon("/x/s.sock", False, 1000, env) == ["/x/s.sock"]
    assert sockpath.for_daemon(None, False, 1000, {"ZEI_SOCKET": "/e.sock"}) == ["/e.sock"]


def test_cli_path():
    def exists(*there):
        return lambda p: p in there
    yes = lambda d, uid: True                                        # noqa: E731
    assert sockpath.for_cli("/s", 1000, {}) == "/s"
    assert sockpath.for_cli(None, 1000, {"ZEI_SOCKET": "/e"}) == "/e"
    both = exists("/run/zei/zei.sock", "/tmp/zei-1000/zei.sock")
    assert sockpath.for_cli(None, 1000, {}, both, yes) == "/run/zei/zei.sock"
    assert sockpath.for_cli(None, 1000, {}, exists("/tmp/zei-1000/zei.sock"), yes) == "/tmp/zei-1000/zei.sock"
    assert sockpath.for_cli(None, 1000, {}, exists("/tmp/zei-1000/zei.sock"),
                            lambda d, uid: False) == "/run/zei/zei.sock"   # not its own directory
    assert sockpath.for_cli(None, 1000, {}, exists()) == "/run/zei/zei.sock"
    # root (docker exec -u root) also finds the fallback of PID 1's user
    pid1 = lambda: (1000, {})                                        # noqa: E731
    assert sockpath.for_cli(None, 0, {}, exists("/tmp/zei-1000/zei.sock"), yes, pid1) == "/tmp/zei-1000/zei.sock"
    assert sockpath.for_cli(None, 1001, {}, exists("/tmp/zei-1000/zei.sock"), yes, pid1) == "/run/zei/zei.sock"


def test_cli_checks_the_fallback_directory(tmp_path):
    d = tmp_path / "d"
    d.mkdir(mode=0o700)
    assert sockpath._owned_dir(str(d), os.getuid())
    assert not sockpath._owned_dir(str(d), os.getuid() + 1)
    d.chmod(0o755)
    assert not sockpath._owned_dir(str(d), os.getuid())
    (tmp_path / "link").symlink_to(d)
    d.chmod(0o700)
    assert not sockpath._owned_dir(str(tmp_path / "link"), os.getuid())


def test_a_daemon_that_dropped_root_itself_says_so(started_as, monkeypatch):
    """Not PID 1 with a config that is not root's alone, zei drops to its caller first."""
    monkeypatch.setattr(privileges, "_started", privileges.Situation(0, 0, None))
    started_as(1000, 1000, euid=1000)
    assert privileges.situation(status=(0, 0)).why == "it gave up root at start-up"
