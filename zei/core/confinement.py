"""What zei can do without privileges, and how a config that asks for more is refused.

Without privileges (no-new-privileges set, capabilities dropped, or simply not root and not
suid root) zei cannot change its credentials: every service runs as zei's own uid and gid.
The shell finds that out (zei.shell.privileges) and hands the config check a Confinement:
zei's uid and gid, why it has no privileges, and `ids(user, group)`, the (uid, gid) a
service with that `user`/`group` would run as (None when one of them is unknown: that is
reported as its own problem). Pure: the lookups arrive as that function.
"""
from __future__ import annotations

from zei.core.records import record

Confinement = record("Confinement", "uid gid why ids", doc=(
    "zei runs as uid/gid without privileges, because of `why`; ids(user, group) -> (uid, gid) "
    "or None, with user None meaning zei's own user."))


def problem(conf, user, group):
    """(field, message) when a service's user/group needs privileges zei lacks, else None.

    A service may run only as zei's own uid and gid: `user` must name zei's uid (or be
    absent), and the group it runs with (`group`, else the user's primary group) must be
    zei's gid. Supplementary groups are not compared: without privileges a service keeps
    zei's own, whatever the user's entry in /etc/group says."""
    if conf is None or (user is None and group is None):
        return None
    got = conf.ids(user, group)
    if got is None:
        return None
    uid, gid = got
    if uid != conf.uid:
        return "user", (f"zei runs as uid {conf.uid} without privileges ({conf.why}): it can run "
                        f"services only as uid {conf.uid}, not as {user!r} (uid {uid})")
    if gid == conf.gid:
        return None
    head = f"zei runs as uid {conf.uid} gid {conf.gid} without privileges ({conf.why}): it can run " \
           f"services only with gid {conf.gid}"
    if group is not None:
        return "group", f"{head}, not with {group!r} (gid {gid})"
    return "user", f"{head}, not with the primary group of {user!r} (gid {gid}); set group: \"{conf.gid}\""
