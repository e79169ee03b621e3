"""User and group lookup: names (or numeric ids) to uid, gid, supplementary groups and home.

The only module that reads the passwd/group databases. Numeric ids that have no entry are
accepted, like docker's `--user 1234`: they run with that uid, gid = uid unless a group is
given, no supplementary groups and HOME=/.
"""
from __future__ import annotations

import grp
import os
import pwd
from zei.records import record


Identity = record("Identity", "user uid gid groups home", doc="Who a service runs as.")


class UnknownUser(LookupError):
    pass


NumericUser = record("NumericUser", "uid", doc="A numeric uid with no passwd entry.")


def lookup_user(name):
    """pwd entry for a name or numeric uid, or None."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    if name.isdigit():
        try:
            return pwd.getpwuid(int(name))
        except KeyError:
            return NumericUser(int(name))
    return None


def lookup_group(name):
    """gid for a group name or numeric gid, or None."""
    try:
        return grp.getgrnam(name).gr_gid
    except KeyError:
        pass
    if name.isdigit():
        return int(name)
    return None


def resolve(user, group=None):
    """The identity a service runs as. Raises UnknownUser with a one-line reason."""
    entry = lookup_user(user)
    if entry is None:
        raise UnknownUser(f"no such user {user!r}")
    if isinstance(entry, NumericUser):
        uid, name, gid, home = entry.uid, user, entry.uid, "/"
        groups = ()
    else:
        uid, name, gid, home = entry.pw_uid, entry.pw_name, entry.pw_gid, entry.pw_dir or "/"
        groups = None
    if group is not None:
        g = lookup_group(group)
        if g is None:
            raise UnknownUser(f"no such group {group!r}")
        gid = g
    if groups is None:
        # The user's own supplementary groups (as `id USER` shows), plus the chosen gid.
        groups = tuple(sorted(set(os.getgrouplist(name, gid))))
    return Identity(user=name, uid=uid, gid=gid, groups=groups, home=home)


def primary_gid(uid):
    """The passwd primary group of `uid` if it has one and it is not root's, else gid = uid."""
    try:
        gid = pwd.getpwuid(uid).pw_gid
    except KeyError:
        return uid
    return gid if gid != 0 else uid
