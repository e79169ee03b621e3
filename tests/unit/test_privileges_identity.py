"""The app identity chosen at start-up (credentials are faked; nothing changes for real)."""

import pytest

from zei.shell import privileges



def test_suid_start_uses_the_real_ids(started_as):
    started_as(1000, 1000)
    p = privileges.Privileges(environ={})
    assert (p.app_uid, p.app_gid, p.cycling) == (1000, 1000, True)


def test_gid_0_from_a_bare_numeric_user_is_never_adopted(started_as):
    started_as(54321, 0)                       # no passwd entry: group numbered like the uid
    p = privileges.Privileges(environ={})
    assert (p.app_uid, p.app_gid) == (54321, 54321)


def test_gid_0_falls_back_to_the_passwd_primary_group(started_as):
    import pwd
    entry = next(e for e in pwd.getpwall() if e.pw_uid != 0 and e.pw_gid != 0)
    started_as(entry.pw_uid, 0)
    assert privileges.Privileges(environ={}).app_gid == entry.pw_gid


def test_plain_root_does_not_cycle(started_as):
    started_as(0, 0)
    p = privileges.Privileges(environ={})
    assert p.app_uid is None and not p.cycling


def test_app_user_root_is_refused(started_as):
    started_as(0, 0)
    with pytest.raises(privileges.PrivilegeError):
        privileges.Privileges(environ={"ZEI_APP_USER": "root"})


def test_app_group_root_is_refused_and_a_primary_gid_0_is_not_adopted(started_as, monkeypatch):
    started_as(0, 0)
    with pytest.raises(privileges.PrivilegeError) as e:
        privileges.Privileges(environ={"ZEI_APP_USER": "54321", "ZEI_APP_GROUP": "0"})
    assert "gid 0" in str(e.value)
    from zei.shell import users
    monkeypatch.setattr(users, "lookup_user", lambda u: users.NumericUser(54321))
    monkeypatch.setattr(users, "resolve", lambda u, g=None: users.Identity("app", 54321, 0, (0,), "/"))
    p = privileges.Privileges(environ={"ZEI_APP_USER": "app"})    # a user whose primary group is 0
    assert (p.app_uid, p.app_gid) == (54321, 54321)
