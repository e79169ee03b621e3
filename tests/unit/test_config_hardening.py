"""Config hardening: ids that mean root, values that cannot reach execve, names that carry
newlines, inputs that used to raise something other than ConfigError."""
from __future__ import annotations

import os
import pwd

import pytest

from zei.core import model

from zei.shell import privileges, users
from zei.core.config import NAME_RE, ConfigError, find_cycle, parse, parse_duration

PATH = "/etc/zei/zei.yaml"
MAX_ID = 2**32 - 2


def real(text):
    """Parse with the real passwd/group lookups, as `zei check` does."""
    return parse(text, PATH, users.lookup_user, users.lookup_group)


def problems(text, **kw):
    with pytest.raises(ConfigError) as e:
        parse(text, PATH, **kw) if kw else real(text)
    return [str(p) for p in e.value.problems]


def web(option):
    return "services:\n  web:\n    command: [echo]\n    " + option + "\n"


# ---- A. ids that mean root ----------------------------------------------------------------

@pytest.mark.parametrize("field,kind", [("user", "uid"), ("group", "gid")])
@pytest.mark.parametrize("value", ["4294967295", "'4294967295'", "4294967296", "18446744073709551615",
                                   "99999999999999999999999999999999", "9" * 5000],
                         ids=lambda v: repr(v)[:24])
def test_ids_out_of_range_are_rejected(field, kind, value):
    shown = value.strip("'")
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    shown = repr(shown) if value.startswith("'") else shown
    # whatever the lookups say: the rule does not depend on the passwd database
    for kw in ({}, {"lookup_user": lambda n: True, "lookup_group": lambda n: True}):
        assert problems(web(f"{field}: {value}"), **kw) == [
            f"{PATH}:4: services.web.{field}: a numeric {kind} must be at most {MAX_ID} (got {shown})"]


@pytest.mark.parametrize("field", ["user", "group"])
def test_the_largest_id_is_accepted(field):
    cfg = real(web(f"{field}: {MAX_ID}"))
    assert getattr(cfg.service("web"), field) == str(MAX_ID)


@pytest.mark.parametrize("value", ["²", "¹²", "١٢٣", "߀", "𝟙𝟚"])
def test_non_ascii_digits_are_names_not_ids(value):
    assert problems(web(f"user: '{value}'")) == [f"{PATH}:4: services.web.user: no such user (got {value!r})"]
    assert problems(web(f"group: '{value}'")) == [f"{PATH}:4: services.web.group: no such group (got {value!r})"]
    assert users.lookup_user(value) is None
    assert users.lookup_group(value) is None


@pytest.mark.parametrize("name", ["4294967295", "4294967296", "-1", "²", "١٢٣", "a\0b", "\ud800", "\udc80",
                                  "9" * 5000, "0" * 5000 + "1x", "x" * 100_000, "", " 1", "1 ", "+1", "0x10"],
                         ids=lambda v: repr(v)[:24])
def test_lookups_never_raise_and_refuse_unusable_ids(name):
    assert users.lookup_user(name) is None
    assert users.lookup_group(name) is None
    with pytest.raises(users.UnknownUser):
        users.resolve(name)
    with pytest.raises(users.UnknownUser):
        users.resolve("root", name)


@pytest.mark.parametrize("value", [None, 5, 1.5, b"root", ["root"]])
def test_lookups_of_non_strings_give_none(value):
    assert users.lookup_user(value) is None
    assert users.lookup_group(value) is None


def test_numeric_ids_in_range_still_work():
    assert users.lookup_user("0").pw_uid == 0
    assert users.lookup_user(str(MAX_ID)) == users.NumericUser(MAX_ID)
    assert users.lookup_group(str(MAX_ID)) == MAX_ID
    assert users.lookup_group("0000") == 0
    ident = users.resolve(str(MAX_ID), "12345")
    assert (ident.uid, ident.gid, ident.groups, ident.home) == (MAX_ID, 12345, (), "/")


def test_resolve_refuses_a_passwd_entry_with_the_unchanged_uid(monkeypatch):
    entry = pwd.struct_passwd(("ghost", "x", 2**32 - 1, 100, "", "/home/ghost", "/bin/sh"))
    monkeypatch.setattr(users, "lookup_user", lambda name: entry)
    with pytest.raises(users.UnknownUser) as e:
        users.resolve("ghost")
    assert "4294967295" in str(e.value)



UNKNOWN_APP_IDENTITIES = [
    ({"ZEI_APP_GROUP": "nogroupx"}, "ZEI_APP_GROUP"),
    ({"ZEI_APP_GROUP": "4294967295"}, "ZEI_APP_GROUP"),
    ({"ZEI_APP_GROUP": "²"}, "ZEI_APP_GROUP"),
    ({"ZEI_APP_USER": "nobodyx"}, "ZEI_APP_USER"),
    ({"ZEI_APP_USER": "4294967295"}, "ZEI_APP_USER"),
    ({"ZEI_APP_USER": "a\0b"}, "ZEI_APP_USER"),
    ({"ZEI_APP_USER": "nobody", "ZEI_APP_GROUP": "nogroupx"}, "ZEI_APP_GROUP"),
    ({"ZEI_APP_USER": "nobody", "ZEI_APP_GROUP": "4294967295"}, "ZEI_APP_GROUP"),
]


# Started as plain root, ZEI_APP_GROUP alone is not used (nothing to park): only the suid start.
@pytest.mark.parametrize("ruid,environ,variable", [(ruid, env, var) for ruid in (0, 1000)
                                                   for env, var in UNKNOWN_APP_IDENTITIES
                                                   if ruid or "ZEI_APP_USER" in env])
def test_an_unknown_app_identity_is_a_clear_error(started_as, ruid, environ, variable):
    started_as(ruid, ruid)
    with pytest.raises(privileges.PrivilegeError) as e:
        privileges.Privileges(environ=environ)
    assert str(e.value).startswith(f"{variable}: ")
    assert repr(environ[variable]) in str(e.value)


def test_a_known_app_group_is_used(started_as):
    started_as(1000, 1000)
    p = privileges.Privileges(environ={"ZEI_APP_GROUP": "4242"})
    assert (p.app_uid, p.app_gid) == (1000, 4242)


# ---- A. long dependency chains --------------------------------------------------------------

N = 5000


def test_find_cycle_on_a_long_chain_is_iterative():
    chain = {f"s{i}": [f"s{i + 1}"] for i in range(N)}
    chain[f"s{N}"] = []
    assert find_cycle(chain) is None
    chain[f"s{N}"] = ["s0"]
    cycle = find_cycle(chain)
    assert cycle == [f"s{i}" for i in range(N + 1)]


def test_find_cycle_keeps_its_answers():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c"]
    assert find_cycle({"x": ["a"], "a": ["b", "c"], "b": [], "c": ["a"]}) == ["a", "c"]
    assert find_cycle({"a": ["zzz"], "b": ["a"]}) is None
    assert find_cycle({}) is None


def test_dependency_order_on_a_long_chain_is_iterative():
    specs = [model.ServiceSpec(name=f"s{i}", command=("x",), depends_on=(f"s{i + 1}",) if i < N else ())
             for i in range(N + 1)]
    assert model.dependency_order(specs) == [f"s{i}" for i in range(N, -1, -1)]


def test_dependency_order_keeps_its_answers():
    def s(name, *deps):
        return model.ServiceSpec(name=name, command=("x",), depends_on=deps)
    assert model.dependency_order([s("web", "api"), s("api", "db", "migrate"), s("migrate", "db"), s("db")]) \
        == ["db", "migrate", "api", "web"]
    assert model.dependency_order([s("a", "b"), s("b", "a")]) == ["b", "a"]     # never loops
    assert model.dependency_order([s("a", "gone"), s("b")]) == ["a", "b"]       # unknown names skipped


def chain_config(n, cycle=False):
    lines = ["services:"]
    for i in range(n):
        dep = i + 1 if i + 1 < n else (0 if cycle else None)
        lines.append(f"  s{i}: {{command: [x]" + (f", depends_on: [s{dep}]}}" if dep is not None else "}"))
    return "\n".join(lines) + "\n"


def test_a_config_with_a_long_chain_parses():
    cfg = parse(chain_config(2000), PATH)
    assert model.dependency_order(cfg.services) == [f"s{i}" for i in range(1999, -1, -1)]


def test_a_long_cycle_is_reported():
    got = problems(chain_config(2000, cycle=True), lookup_user=lambda n: True)
    assert len(got) == 1
    assert got[0].startswith(f"{PATH}:2: services.s0.depends_on: dependency cycle: s0 -> s1 -> ")
    assert got[0].endswith(" -> s1999 -> s0")


# ---- B. values that cannot reach execve -----------------------------------------------------

SURROGATE = "must be valid UTF-8 text (a lone surrogate such as \\udc80 is not)"
NUL = "must not contain a NUL character"


@pytest.mark.parametrize("option,where,got", [
    ('command: [echo, "a\\udc80"]', "command[1]", "'a\\udc80'"),
    ('command: ["\\ud800"]', "command[0]", "'\\ud800'"),
    ('user: "\\udc80"', "user", "'\\udc80'"),
    ('group: "g\\udfff"', "group", "'g\\udfff'"),
    ('working_dir: "/srv/\\udc80"', "working_dir", "'/srv/\\udc80'"),
    ('stdout: "/log/\\udc80"', "stdout", "'/log/\\udc80'"),
    ('stderr: "/log/\\udc80"', "stderr", "'/log/\\udc80'"),
    ('environment: {A: "\\udc80"}', "environment.A", "'\\udc80'"),
])
def test_lone_surrogates_are_rejected(option, where, got):
    text = web(option).replace("command: [echo]\n    command", "command")
    line = 3 if option.startswith("command") else 4
    assert problems(text, lookup_user=lambda n: True) == [
        f"{PATH}:{line}: services.web.{where}: {SURROGATE} (got {got})"]


@pytest.mark.parametrize("option,where,got", [
    ('command: [echo, "a\\0b"]', "command[1]", "'a\\x00b'"),
    ('command: ["\\x00"]', "command[0]", "'\\x00'"),
    ('user: "root\\0"', "user", "'root\\x00'"),
    ('group: "root\\0"', "group", "'root\\x00'"),
    ('working_dir: "/srv\\0"', "working_dir", "'/srv\\x00'"),
    ('stdout: "/log\\0"', "stdout", "'/log\\x00'"),
    ('stderr: "/log\\0"', "stderr", "'/log\\x00'"),
    ('environment: {A: "x\\0y"}', "environment.A", "'x\\x00y'"),
])
def test_nul_characters_are_rejected(option, where, got):
    text = web(option).replace("command: [echo]\n    command", "command")
    line = 3 if option.startswith("command") else 4
    assert problems(text, lookup_user=lambda n: True) == [f"{PATH}:{line}: services.web.{where}: {NUL} (got {got})"]


@pytest.mark.parametrize("key,shown", [
    ('"A\\udc80"', "'A\\udc80'"), ('"A\\0"', "'A\\x00'"), ('"A\\nB"', "'A\\nB'"), ('"A\\tB"', "'A\\tB'"),
    ('"\\x1b[31m"', "'\\x1b[31m'"), ('"A\\x85"', "'A\\x85'"), ("''", ""), ("'A=B'", "A=B"),
])
def test_bad_environment_names_are_rejected_and_shown_escaped(key, shown):
    got = problems(web(f"environment: {{{key}: 1}}"))
    assert got == [f"{PATH}:4: services.web.environment.{shown}: not a valid variable name"]
    assert all(p.isprintable() for p in got)


def test_odd_but_usable_values_are_kept():
    cfg = real(web('environment: {A: "line1\\nline2", "PATH_ÄÖ": "\\u00e9\\U0001F600", B: "\\t"}\n'
                   '    working_dir: "/srv/caf\\u00e9"'))
    s = cfg.service("web")
    assert s.environment == (("A", "line1\nline2"), ("PATH_ÄÖ", "é😀"), ("B", "\t"))
    assert s.working_dir == "/srv/café"
    assert real('services:\n  web:\n    command: [sh, -c, "echo a\\nb"]\n').service("web").command == \
        ("sh", "-c", "echo a\nb")


def test_every_value_of_an_accepted_config_reaches_execve():
    cfg = real(web('environment: {A: "\\u2028", B: "\\L\\P\\_\\N"}'))
    for k, v in cfg.service("web").environment:
        assert b"\0" not in os.fsencode(k) + os.fsencode(v)


# ---- C. names and patterns match whole ------------------------------------------------------

@pytest.mark.parametrize("key,shown", [
    ('"web\\n"', "'web\\n'"), ('"web\\r"', "'web\\r'"), ('"we\\nb"', "'we\\nb'"),
    ('"web\\x00"', "'web\\x00'"), ('"\\nweb"', "'\\nweb'"), ('"web\\u2028"', "'web\\u2028'"),
])
def test_service_names_with_line_breaks_are_rejected(key, shown):
    got = problems(f"services:\n  {key}:\n    command: [echo]\n")
    assert got == [f"{PATH}:2: services.{shown}: service names use letters, digits, '.', '_' and '-', "
                   "start with a letter or digit, at most 64 characters, not 'all'"]


def test_name_pattern_matches_whole():
    assert NAME_RE.fullmatch("web") and not NAME_RE.fullmatch("web\n")


@pytest.mark.parametrize("value", ["٥s", "5s\u2003x", "１s", "5\u2003s", "\u20035s"])
def test_durations_are_ascii(value):
    with pytest.raises(ValueError):
        parse_duration(value)


@pytest.mark.parametrize("value", ["5s\n", " 5s ", "\t5s"])
def test_durations_may_be_padded_with_ascii_space(value):
    assert parse_duration(value) == 5.0


# ---- durations that overflow ---------------------------------------------------------------

TOO_LONG = "must be at most 10 years (87600h)"


@pytest.mark.parametrize("value,shown", [
    ("1" + "0" * 400, "1" + "0" * 56 + "..."),            # an int too large for a float
    ("9" * 400 + "s", repr("9" * 400 + "s")[:57] + "..."),  # float('9'*400) is inf
    ("1.0e+308", "1.0e+308"), ("1.0e+300", "1.0e+300"),
    ("87601h", "'87601h'"), ("315360001", "315360001"),
], ids=lambda v: repr(v)[:24])
def test_durations_too_long_are_rejected(value, shown):
    assert problems(web(f"restart_delay: {value}"), lookup_user=lambda n: True) == [
        f"{PATH}:4: services.web.restart_delay: {TOO_LONG} (got {shown})"]
    assert problems(f"shutdown_timeout: {value}\n" + web("oneshot: true"), lookup_user=lambda n: True) == [
        f"{PATH}:1: shutdown_timeout: {TOO_LONG} (got {shown})"]


def test_the_longest_duration_is_accepted():
    assert parse_duration("87600h") == parse_duration(315360000) == 315360000.0


@pytest.mark.parametrize("value", [10**400, 1e308, float("9" * 400)], ids=lambda v: repr(v)[:24])
def test_parse_duration_only_raises_value_error(value):
    with pytest.raises(ValueError):
        parse_duration(value)


# ---- YAML that used to escape as something else ------------------------------------------

@pytest.mark.parametrize("text,line", [
    ("[" * 1000, 1), ("{a: " * 3000, 1), ("- " * 3000 + "x", 1), ("[\n" * 3000, None),
    ("services:\n  web:\n    command: " + "[" * 1000, 3),
], ids=lambda v: repr(v)[:24])
def test_deeply_nested_yaml_is_a_config_error(text, line):
    with pytest.raises(ConfigError) as e:
        parse(text, PATH)
    (p,) = e.value.problems
    assert p.message == "YAML error: nested too deeply"
    assert p.line == line if line else p.line > 1       # where the stack ran out


def test_problems_are_single_printable_lines():
    text = 'services:\n  web:\n    command: [echo]\n    "opt\\nion": 1\n  "x\\ty":\n    command: [x]\n' \
           '    depends_on: ["d\\nb"]\n'
    got = problems(text)
    assert got == [
        f"{PATH}:4: services.web.'opt\\nion': unknown option",
        f"{PATH}:5: services.'x\\ty': service names use letters, digits, '.', '_' and '-', "
        "start with a letter or digit, at most 64 characters, not 'all'",
    ]
    for line in got:
        assert line.isprintable()


def test_unknown_tags_are_shown_printable():
    got = problems(web('user: !<tag:x%0Ay> "a\\nb"'), lookup_user=lambda n: True)
    assert len(got) == 1 and got[0].isprintable()
