"""User and group lookup: names (or numeric ids) to uid, gid, supplementary groups and home.

The only module that reads the passwd/group databases. Numeric ids (ASCII digits, at most
MAX_ID = 4294967294) that have no entry are accepted, like docker's `--user 1234`: they run
with that uid, gid = uid unless a group is given, no supplementary groups and HOME=/.
Lookups never raise: a name the C library cannot take (a NUL, a lone surrogate) or a number
out of range is simply unknown.
"""
from __future__ import annotations

import grp
import os
import pwd

from zei.core.model import MAX_ID, numeric_id
from zei.core.records import record


Identity = record("Identity", "user uid gid groups home", doc="Who a service runs as.")


class UnknownUser(LookupError):
    pass


NumericUser = record("NumericUser", "uid", doc="A numeric uid with no passwd entry.")


# What the C library calls can raise on a name or number it cannot take: a NUL or a lone
# surrogate in the name (ValueError, UnicodeEncodeError), a number out of uid_t (OverflowError).
_UNUSABLE = (KeyError, ValueError, OverflowError, TypeError)


def _usable(uid):
    """An id a service can really be switched to: 0..MAX_ID ((uid_t)-1 means 'unchanged')."""
    return isinstance(uid, int) and 0 <= uid <= MAX_ID


def lookup_user(name):
    """pwd entry for a name or numeric uid (ASCII digits, at most MAX_ID), or None. Never raises."""
    if not isinstance(name, str) or not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except _UNUSABLE:
        entry = None
    if entry is not None:
        return entry if _usable(entry.pw_uid) else None
    try:
        uid = numeric_id(name)
    except ValueError:
        return None
    if uid is None:
        return None
    try:
        return pwd.getpwuid(uid)
    except _UNUSABLE:
        return NumericUser(uid)


def lookup_group(name):
    """gid for a group name or numeric gid (ASCII digits, at most MAX_ID), or None. Never raises."""
    if not isinstance(name, str) or not name:
        return None
    try:
        gid = grp.getgrnam(name).gr_gid
    except _UNUSABLE:
        gid = None
    if gid is not None:
        return gid if _usable(gid) else None
    try:
        return numeric_id(name)
    except ValueError:
        return None


def resolve(user, group=None):
    """The identity a service runs as. Raises UnknownUser (only) with a one-line reason."""
    entry = lookup_user(user)
    if entry is None:
        raise UnknownUser(f"no such user {user!r}")
    if isinstance(entry, NumericUser):
        uid, name, gid, home = entry.uid, user, entry.uid, "/"
        groups = ()
    else:
        uid, name, gid, home = entry.pw_uid, entry.pw_name, entry.pw_gid, entry.pw_dir or "/"
        groups = None
    if not _usable(uid):
        raise UnknownUser(f"user {user!r} has uid {uid}, which cannot be switched to")
    if group is not None:
        g = lookup_group(group)
        if g is None:
            raise UnknownUser(f"no such group {group!r}")
        gid = g
    if not _usable(gid):
        raise UnknownUser(f"user {user!r} has gid {gid}, which cannot be switched to")
    if groups is None:
        # The user's own supplementary groups (as `id USER` shows), plus the chosen gid.
        try:
            groups = tuple(sorted(set(os.getgrouplist(name, gid))))
        except (OSError, ValueError, OverflowError) as e:
            raise UnknownUser(f"groups of user {user!r}: {e}") from None
    return Identity(user=name, uid=uid, gid=gid, groups=groups, home=home)


def primary_gid(uid):
    """The passwd primary group of `uid` if it has one and it is not root's, else gid = uid."""
    try:
        gid = pwd.getpwuid(uid).pw_gid
    except _UNUSABLE:
        return uid
    return gid if gid != 0 else uid
