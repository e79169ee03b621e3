"""Credentials of the daemon: the only setres[ug]id/setgroups calls in the zei process.

Started through the suid bit by a non-root container USER, zei has real uid = that user,
effective uid = root. The *app identity* is that real uid/gid (or ZEI_APP_USER /
ZEI_APP_GROUP; never root). After start-up zei *parks* root: real and effective ids become
the app identity, only the saved ids stay root, so `/proc/1/status` shows the app uid while
idle, and an init above zei that runs as the app user may signal it. `elevated()` takes root back only around fork and kill, then parks again.

Started as plain root with no app identity asked for, there is nothing to park: every call
here is a no-op and zei simply runs as root.

Without privileges — no-new-privileges set (the suid bit is ignored), the capabilities
CAP_SETUID/CAP_SETGID/CAP_KILL dropped, or not root and not suid root — zei cannot change
credentials: situation() says so (from geteuid and /proc/self/status: NoNewPrivs, CapEff),
every call here is a no-op, services run as zei's own uid and gid with its own groups
(identity()), and the config check gets a zei.core.confinement.Confinement (confinement()).
A suid-root start whose capabilities are gone (euid 0 and nothing root could do) drops to
the real ids for good: that is the user the container was started as.

The CLI never uses this class: it calls drop_to_caller() first thing (see zei.cli), which
remembers the situation it started in so that `zei check` judges as the daemon would.
"""
from __future__ import annotations

import os
import stat

CAPABILITIES = ((7, "CAP_SETUID"), (6, "CAP_SETGID"), (5, "CAP_KILL"))   # what switching needs



class Situation(tuple):
    """(uid, gid, why): the uid/gid zei runs with, and why it has no privileges (None: it has
    them). A plain tuple class, not a zei.core.records record: every CLI call comes through
    here, and records' namedtuple would import collections for it."""
    __slots__ = ()

    def __new__(cls, uid, gid, why):
        return tuple.__new__(cls, (uid, gid, why))

    uid = property(lambda self: self[0])
    gid = property(lambda self: self[1])
    why = property(lambda self: self[2])

    def __repr__(self):
        return f"Situation(uid={self[0]!r}, gid={self[1]!r}, why={self[2]!r})"


class PrivilegeError(Exception):
    pass


class Privileges:
    def __init__(self, environ=None, status=None):
        environ = os.environ if environ is None else environ
        found = situation(status)
        ruid, euid, _ = os.getresuid()
        rgid, egid, _ = os.getresgid()
        if found.why is not None and euid == 0 and ruid != 0:
            # suid root without the capabilities: be the user who started it, for good
            global _started
            _started = _started or found        # `zei check` then judges by this, not by the drop
            os.setresgid(rgid, rgid, rgid)
            os.setresuid(ruid, ruid, ruid)
            euid, egid = ruid, rgid
        self.why = found.why                    # None, or why zei cannot switch credentials
        self.root = euid == 0 and self.why is None
        self.own = (euid, egid)                 # without root: the only identity for services
        self.app_uid = None
        self.app_gid = None
        want_user = environ.get("ZEI_APP_USER")
        want_group = environ.get("ZEI_APP_GROUP")
        if want_user:
            entry = _users().lookup_user(want_user)
            if entry is None:
                raise PrivilegeError(f"ZEI_APP_USER: no such user {want_user!r}")
            if not self.root and getattr(entry, "pw_uid", None) != euid and getattr(entry, "uid", None) != euid:
                raise PrivilegeError(f"ZEI_APP_USER: zei runs as uid {euid} without privileges "
                                     f"({self.why}); it cannot take on {want_user!r}")
            _check_group(want_group)
            try:
                ident = _users().resolve(want_user, want_group or None)
            except _users().UnknownUser as e:
                raise PrivilegeError(f"ZEI_APP_USER: {e}") from None
            self.app_uid, self.app_gid = ident.uid, ident.gid
            if self.app_gid == 0:
                if want_group:
                    raise PrivilegeError("ZEI_APP_GROUP: the app group must not be root's (gid 0)")
                self.app_gid = _users().primary_gid(ident.uid)   # a user whose primary group is 0
        elif ruid != 0:
            self.app_uid = ruid
            self.app_gid = _check_group(want_group) if want_group else rgid
            if self.app_gid == 0:
                # `USER 65532` with no group in an image that has no such user starts zei
                # with gid 0: never adopt root's group. Use the uid's own primary group,
                # or a group numbered like the uid.
                self.app_gid = _users().primary_gid(ruid)
        if self.app_uid == 0:
            raise PrivilegeError("the app identity must not be root (ZEI_APP_USER)")
        self.cycling = self.root and self.app_uid is not None
        self.parked = False

    @property
    def description(self):
        if self.cycling:
            return f"app identity uid {self.app_uid} gid {self.app_gid}; root only around spawn and kill"
        if self.root:
            return "running as root"
        return f"running as uid {self.own[0]} without privileges ({self.why}): services run as uid " \
               f"{self.own[0]} gid {self.own[1]} only"

    @property
    def confinement(self):
        """For the config check: None with privileges, else what zei is limited to."""
        return confinement(Situation(self.own[0], self.own[1], self.why))

    @property
    def own_user(self):
        """The user a service without `user` runs as, as `zei status` shows it."""
        return "root" if self.root else _name(self.own[0])

    def identity(self, user, group=None):
        """The users.Identity a service with this user/group (None: zei's own) runs as.
        Raises users.UnknownUser. Without privileges, zei's own uid and gid keep zei's own
        supplementary groups: setgroups is not allowed, and the spawned child skips it."""
        if self.root:
            return _users().resolve("root" if user is None else user, group)
        uid, gid = self.own
        if user is None:
            if group is not None:
                gid = _users().lookup_group(group)
                if gid is None:
                    raise _users().UnknownUser(f"no such group {group!r}")
            entry = _users().lookup_user(str(uid))
            home = getattr(entry, "pw_dir", None) or "/"
            return _users().Identity(_name(uid), uid, gid, tuple(os.getgroups()), home)
        ident = _users().resolve(user, group)
        if (ident.uid, ident.gid) == (uid, gid):
            ident = ident._replace(groups=tuple(os.getgroups()))
        return ident

    def prepare_root(self):
        """Before parking: real and saved ids root, so root can be taken back later."""
        if self.cycling:
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)

    def park(self):
        if self.cycling and not self.parked:
            # Real and effective ids the app's, only the saved ones root (so root can be taken
            # back): the kernel lets a process signal one whose real or saved uid is its own,
            # so an init above zei running as the container's USER (catatonit, tini) can pass
            # on `docker stop`'s SIGTERM — with real uid 0 it would get EPERM.
            os.setgroups([self.app_gid])
            os.setresgid(self.app_gid, self.app_gid, 0)
            os.setresuid(self.app_uid, self.app_uid, 0)
            self.parked = True

    def unpark(self):
        if self.cycling and self.parked:
            os.setresuid(0, 0, 0)
            os.setresgid(0, 0, 0)
            os.setgroups([])
            self.parked = False

    def elevated(self):
        """Root for the duration of the block (fork, kill, open as another user)."""
        return _Elevated(self)

    def acting_as(self, ident):
        """Effective ids of `ident` for the block (used to open a service's log file as it)."""
        return _ActingAs(self, ident) if self.root else _NOTHING

    def as_app(self):
        """Read what the app identity may read, as it (the config file): nothing is read as
        root on the say-so of whoever started the suid binary."""
        if not self.cycling:
            return _NOTHING
        return self.acting_as(_users().Identity("app", self.app_uid, self.app_gid, (self.app_gid,), "/"))


# The blocks above as plain classes, not contextlib generators: contextlib imports
# collections and functools, a good part of a CLI call, which passes through this module.
class _Elevated:
    __slots__ = ("priv", "was")

    def __init__(self, priv):
        self.priv, self.was = priv, False

    def __enter__(self):
        self.was = self.priv.parked
        self.priv.unpark()

    def __exit__(self, *exc):
        if self.was:
            self.priv.park()
        return False


class _ActingAs:
    __slots__ = ("elevated", "ident", "saved_groups")

    def __init__(self, priv, ident):
        self.elevated, self.ident, self.saved_groups = _Elevated(priv), ident, None

    def __enter__(self):
        self.elevated.__enter__()
        try:
            self.saved_groups = os.getgroups()
            os.setgroups(list(self.ident.groups))
            os.setresgid(-1, self.ident.gid, -1)
            os.setresuid(-1, self.ident.uid, -1)
        except BaseException:
            self._restore()
            raise

    def __exit__(self, *exc):
        self._restore()
        return False

    def _restore(self):
        try:
            os.setresuid(-1, 0, -1)
            os.setresgid(-1, 0, -1)
            if self.saved_groups is not None:
                os.setgroups(self.saved_groups)
        finally:
            self.elevated.__exit__(None, None, None)


class _Nothing:
    __slots__ = ()

    def __enter__(self):
        return None

    def __exit__(self, *exc):
        return False


_NOTHING = _Nothing()


def _check_group(name):
    """The gid of ZEI_APP_GROUP, or a PrivilegeError naming it (never None: park() needs a gid)."""
    if not name:
        return None
    gid = _users().lookup_group(name)
    if gid is None:
        raise PrivilegeError(f"ZEI_APP_GROUP: no such group {name!r}")
    return gid


# ---- without privileges ------------------------------------------------------------------

def read_status(path="/proc/self/status"):
    """(NoNewPrivs, CapEff) of this process; (0, None) where /proc cannot tell."""
    nnp, caps = 0, None
    try:
        with open(path, "rb") as f:
            for line in f:
                key, _, value = line.partition(b":")
                if key == b"NoNewPrivs":
                    nnp = int(value)
                elif key == b"CapEff":
                    caps = int(value, 16)
    except (OSError, ValueError):
        return 0, None
    return nnp, caps


def binary_suid_root(path="/proc/self/exe"):
    """(installed suid root, on a file system mounted nosuid) of the running binary."""
    try:
        st = os.stat(path)
    except OSError:
        return False, False
    if st.st_uid != 0 or not st.st_mode & stat.S_ISUID:
        return False, False
    try:
        return True, bool(os.statvfs(path).f_flag & os.ST_NOSUID)
    except OSError:
        return True, False


def why_unprivileged(euid, nnp, caps, suid_root=False, nosuid=False):
    """Why zei cannot switch credentials, or None when it can (pure: the facts are given).

    euid 0 needs CAP_SETUID, CAP_SETGID and CAP_KILL (caps None: unknown, assumed there);
    any other euid cannot switch at all, and the reason is what kept the suid bit from
    acting, or that there is none."""
    if euid == 0:
        missing = [name for bit, name in CAPABILITIES if caps is not None and not caps >> bit & 1]
        return f"capabilities dropped: no {', '.join(missing)}" if missing else None
    if suid_root:
        if nnp:
            return "no-new-privileges is set"
        return "its file system is mounted nosuid" if nosuid else "its suid bit did not take effect"
    return "its binary is not suid root" + (", and no-new-privileges is set" if nnp else "")


def situation(status=None):
    """Who zei runs as and whether it can run services as anyone else, from this process."""
    ruid, euid, _ = os.getresuid()
    rgid, egid, _ = os.getresgid()
    nnp, caps = read_status() if status is None else status
    suid_root, nosuid = binary_suid_root() if euid != 0 else (False, False)
    why = why_unprivileged(euid, nnp, caps, suid_root, nosuid)
    if why is not None and euid != 0 and _started is not None and _started.why is None:
        why = "it gave up root at start-up"        # drop_to_caller() before a daemon (not PID 1)
    if why is not None and euid == 0 and ruid != 0:
        return Situation(ruid, rgid, why)           # Privileges() drops to the real ids
    return Situation(euid, egid, why)


def confinement(found):
    """The zei.core.confinement.Confinement of a Situation, or None when it has privileges."""
    if found.why is None:
        return None
    own_uid, own_gid = found.uid, found.gid

    def ids(user, group):
        if user is None:
            gid = own_gid if group is None else _users().lookup_group(group)
            return None if gid is None else (own_uid, gid)
        try:
            ident = _users().resolve(user, group)
        except _users().UnknownUser:
            return None
        return ident.uid, ident.gid
    from zei.core.confinement import Confinement
    return Confinement(own_uid, own_gid, found.why, ids)


_started = None          # the Situation the CLI started in, before drop_to_caller()


def check_confinement():
    """For `zei check`: what a daemon started as this CLI was would be limited to. The
    situation is the one before drop_to_caller(): a suid-root binary without
    no-new-privileges (euid 0, capabilities there) can run services as anyone."""
    return confinement(_started or situation())


def _name(uid):
    entry = _users().lookup_user(str(uid))
    return getattr(entry, "pw_name", None) or str(uid)


def drop_to_caller():
    """For every CLI path of the suid binary: become the real caller, for good."""
    global _started
    _started = _started or situation()      # Privileges() may have dropped already: its view
    ruid, gid = os.getuid(), os.getgid()
    if os.geteuid() == 0 or os.getegid() != gid:
        if os.geteuid() == 0 and _started.why is None:   # without CAP_SETGID: the caller's groups
            os.setgroups([])
        os.setresgid(gid, gid, gid)
        os.setresuid(ruid, ruid, ruid)
    if os.geteuid() != ruid:
        raise PrivilegeError("could not drop privileges")


def _users():
    """zei.shell.users, imported on first use: the CLI's drop_to_caller() needs none of it
    (and its config model), and every CLI call passes through here."""
    from zei.shell import users
    return users
