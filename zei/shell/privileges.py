"""Credentials of the daemon: the only setres[ug]id/setgroups calls in the zei process.

Started through the suid bit by a non-root container USER, zei has real uid = that user,
effective uid = root. The *app identity* is that real uid/gid (or ZEI_APP_USER /
ZEI_APP_GROUP; never root). After start-up zei *parks* root: effective ids become the app
identity, real and saved ids stay root, so `/proc/1/status` shows the app uid as effective
uid while idle. `elevated()` takes root back only around fork and kill, then parks again.

Started as plain root with no app identity asked for, there is nothing to park: every call
here is a no-op and zei simply runs as root.

The CLI never uses this class: it calls drop_to_caller() first thing (see zei.cli).
"""
from __future__ import annotations

import contextlib
import os

from zei.shell import users


class PrivilegeError(Exception):
    pass


class Privileges:
    def __init__(self, environ=None):
        environ = os.environ if environ is None else environ
        ruid, euid, _ = os.getresuid()
        rgid, egid, _ = os.getresgid()
        self.root = euid == 0
        self.app_uid = None
        self.app_gid = None
        want_user = environ.get("ZEI_APP_USER")
        want_group = environ.get("ZEI_APP_GROUP")
        if want_user:
            if users.lookup_user(want_user) is None:
                raise PrivilegeError(f"ZEI_APP_USER: no such user {want_user!r}")
            _check_group(want_group)
            try:
                ident = users.resolve(want_user, want_group or None)
            except users.UnknownUser as e:
                raise PrivilegeError(f"ZEI_APP_USER: {e}") from None
            self.app_uid, self.app_gid = ident.uid, ident.gid
            if self.app_gid == 0:
                if want_group:
                    raise PrivilegeError("ZEI_APP_GROUP: the app group must not be root's (gid 0)")
                self.app_gid = users.primary_gid(ident.uid)   # a user whose primary group is 0
        elif ruid != 0:
            self.app_uid = ruid
            self.app_gid = _check_group(want_group) if want_group else rgid
            if self.app_gid == 0:
                # `USER 65532` with no group in an image that has no such user starts zei
                # with gid 0: never adopt root's group. Use the uid's own primary group,
                # or a group numbered like the uid.
                self.app_gid = users.primary_gid(ruid)
        if self.app_uid == 0:
            raise PrivilegeError("the app identity must not be root (ZEI_APP_USER)")
        self.cycling = self.root and self.app_uid is not None
        self.parked = False

    @property
    def description(self):
        if self.cycling:
            return f"app identity uid {self.app_uid} gid {self.app_gid}; root only around spawn and kill"
        return "running as root" if self.root else f"running as uid {os.geteuid()} without root"

    def prepare_root(self):
        """Before parking: real and saved ids root, so root can be taken back later."""
        if self.cycling:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)

    def park(self):
        if self.cycling and not self.parked:
            os.setgroups([self.app_gid])
            os.setresgid(0, self.app_gid, 0)
            os.setresuid(0, self.app_uid, 0)
            self.parked = True

    def unpark(self):
        if self.cycling and self.parked:
            os.setresuid(0, 0, 0)
            os.setresgid(0, 0, 0)
            os.setgroups([])
            self.parked = False

    @contextlib.contextmanager
    def elevated(self):
        """Root for the duration of the block (fork, kill, open as another user)."""
        was = self.parked
        self.unpark()
        try:
            yield
        finally:
            if was:
                self.park()

    @contextlib.contextmanager
    def acting_as(self, ident):
        """Effective ids of `ident` for the block (used to open a service's log file as it)."""
        if not self.root:
            yield
            return
        with self.elevated():
            saved_groups = os.getgroups()
            os.setgroups(list(ident.groups))
            os.setresgid(-1, ident.gid, -1)
            os.setresuid(-1, ident.uid, -1)
            try:
                yield
            finally:
                os.setresuid(-1, 0, -1)
                os.setresgid(-1, 0, -1)
                os.setgroups(saved_groups)


    def as_app(self):
        """Read what the app identity may read, as it (the config file): nothing is read as
        root on the say-so of whoever started the suid binary."""
        if not self.cycling:
            return contextlib.nullcontext()
        return self.acting_as(users.Identity("app", self.app_uid, self.app_gid, (self.app_gid,), "/"))


def _check_group(name):
    """The gid of ZEI_APP_GROUP, or a PrivilegeError naming it (never None: park() needs a gid)."""
    if not name:
        return None
    gid = users.lookup_group(name)
    if gid is None:
        raise PrivilegeError(f"ZEI_APP_GROUP: no such group {name!r}")
    return gid


def drop_to_caller():
    """For every CLI path of the suid binary: become the real caller, for good."""
    ruid, gid = os.getuid(), os.getgid()
    if os.geteuid() == 0 or os.getegid() != gid:
        if os.geteuid() == 0:
            os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(ruid, ruid, ruid)
    if os.geteuid() != ruid:
        raise PrivilegeError("could not drop privileges")
