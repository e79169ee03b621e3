"""env_file: docker compose's env file lines (zei.core.envfile), the config option (path, list,
long form with required), precedence, problems at both lines, the size bound, JSON, status."""
from __future__ import annotations

import errno
import json
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zei import cli
from zei.core import envfile, model
from zei.core.config import SERVICE_KEYS, ConfigError, parse
from zei.core.service import Service, describe
from zei.shell import envread

PATH = "/etc/zei/zei.yaml"


# ---- one line ------------------------------------------------------------------------------

@pytest.mark.parametrize("line,want", [
    ("", None),
    ("   \t ", None),
    ("# a comment", None),
    ("   # indented comment", None),
    ("A=1", ("A", "1")),
    ("A=", ("A", "")),
    ("  A = spaced  ", ("A", "spaced")),
    ("A=a b  c", ("A", "a b  c")),
    ("A=x # comment", ("A", "x")),
    ("A=x#not-a-comment", ("A", "x#not-a-comment")),
    ("A=a=b=c", ("A", "a=b=c")),
    ("export A=1", ("A", "1")),
    ("export\tA=1", ("A", "1")),
    ("exportA=1", ("exportA", "1")),
    ("export=1", ("export", "1")),
    ("_A.b-c=1", ("_A.b-c", "1")),
    ("A='single $HOME \\n'", ("A", "single $HOME \\n")),
    ("A='with # hash'  # comment", ("A", "with # hash")),
    ("A=''", ("A", "")),
    ('A="double"', ("A", "double")),
    ('A=""', ("A", "")),
    ('A="x\\ny\\tz"', ("A", "x\ny\tz")),
    ('A="back\\\\slash \\"quoted\\""', ("A", 'back\\slash "quoted"')),
    ('A="\\$literal \\q"', ("A", "$literal \\q")),
    ('A="it\'s"', ("A", "it's")),
    ("A='say \"hi\"'", ("A", 'say "hi"')),
    ('A="x"   ', ("A", "x")),
    ("A=$B ${C}", ("A", "$B ${C}")),                 # no interpolation
    ("A=héllo wörld", ("A", "héllo wörld")),
    ("A=1\r", ("A", "1")),                           # a CRLF file
])
def test_lines(line, want):
    assert envfile.parse_line(line) == want


@pytest.mark.parametrize("line,why", [
    ("JUSTANAME", "expected KEY=VALUE: the line has no '='"),
    ("export A", "expected KEY=VALUE: the line has no '='"),
    ("=1", "not a valid variable name (got )"),
    ("1A=x", "not a valid variable name (got 1A)"),
    ("A B=x", "not a valid variable name (got A B)"),
    ("A$=x", "not a valid variable name (got A$)"),
    ("A='open", "A: the value has no closing ' on its line"),
    ('A="open', 'A: the value has no closing " on its line'),
    ('A="a\\"', 'A: the value has no closing " on its line'),
    ("A='a' b", "A: unexpected text after the closing '"),
    ('A="a\\0"', None),                               # \0 is not an escape: kept as is
    ("A=nul\0here", "A: the value must not contain a NUL character"),
    ('A="\udc80"', "A: the value must be valid UTF-8 text"),
])
def test_bad_lines(line, why):
    if why is None:
        assert envfile.parse_line(line) == ("A", "a\\0")
        return
    with pytest.raises(ValueError) as e:
        envfile.parse_line(line)
    assert str(e.value).startswith(why)


def test_a_name_error_says_what_names_are():
    with pytest.raises(ValueError, match="names are a letter or '_', then letters, digits"):
        envfile.parse_line("1A=x")


def test_a_whole_file_every_problem_and_the_last_value_wins():
    text = "# settings\nA=1\n\nB='two'\nbad line\nA=3\n9=x\n"
    pairs, problems = envfile.parse(text)
    assert pairs == (("A", "3"), ("B", "two"))
    assert [n for n, _ in problems] == [5, 7]


def test_the_size_bound():
    assert not envfile.too_big("A=" + "x" * (envfile.MAX_SIZE - 2))
    assert envfile.too_big("A=" + "x" * (envfile.MAX_SIZE - 1))
    assert envfile.too_big("A=" + "é" * (envfile.MAX_SIZE // 2))    # bytes, not characters


# ---- the option ----------------------------------------------------------------------------

def web(options):
    """Service web (line 2), command on 3: the first option is on line 4."""
    return "services:\n  web:\n    command: [echo]\n" + textwrap.indent(textwrap.dedent(options), "    ")


class Files:
    """A read_file over a dict; records what was read."""

    def __init__(self, **files):
        self.files = {f"/etc/zei/{k.replace('__', '.')}": v for k, v in files.items()}
        self.read = []

    def __call__(self, path):
        self.read.append(path)
        if path not in self.files:
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        got = self.files[path]
        if isinstance(got, OSError):
            raise got
        return got


def spec(options, files):
    return parse(web(options), PATH, read_file=files).service("web")


def problems(options, files):
    with pytest.raises(ConfigError) as e:
        parse(web(options), PATH, read_file=files)
    return [str(p) for p in e.value.problems]


def test_env_file_is_an_option():
    assert "env_file" in SERVICE_KEYS


def test_one_path_relative_to_the_config_file():
    files = Files(app__env="DB_URL=postgres://db\nSECRET='s3cr3t'\n")
    s = spec("env_file: app.env\n", files)
    assert files.read == ["/etc/zei/app.env"]
    assert s.environment == (("DB_URL", "postgres://db"), ("SECRET", "s3cr3t"))
    assert s.env_files == (("/etc/zei/app.env", ("DB_URL", "SECRET")),)


def test_absolute_and_dotted_paths():
    files = Files(app__env="A=1\n")
    assert spec("env_file: /etc/zei/app.env\n", files).environment == (("A", "1"),)
    assert spec("env_file: ./sub/../app.env\n", files).env_files[0][0] == "/etc/zei/app.env"


def test_later_files_win_and_environment_wins_over_every_file():
    files = Files(a__env="A=a\nB=a\nC=a\n", b__env="B=b\nC=b\nD=b\n")
    s = spec("""\
        env_file: [a.env, b.env]
        environment:
          C: env
          E: env
        """, files)
    assert s.environment == (("A", "a"), ("B", "b"), ("D", "b"), ("C", "env"), ("E", "env"))
    assert s.env_files == (("/etc/zei/a.env", ("A", "B", "C")), ("/etc/zei/b.env", ("B", "C", "D")))


def test_environment_before_env_file_in_the_config_changes_nothing():
    files = Files(a__env="A=file\n")
    s = spec("environment: {A: env}\nenv_file: a.env\n", files)
    assert s.environment == (("A", "env"),)


def test_no_env_file():
    s = spec("environment: {A: '1'}\n", Files())
    assert (s.environment, s.env_files) == ((("A", "1"),), ())


def test_the_long_form_and_required_false():
    files = Files(a__env="A=1\n")
    s = spec("""\
        env_file:
          - path: a.env
          - path: missing.env
            required: false
          - path: a.env
            required: true
        """, files)
    assert s.env_files == (("/etc/zei/a.env", ("A",)), ("/etc/zei/a.env", ("A",)))
    assert files.read == ["/etc/zei/a.env", "/etc/zei/missing.env", "/etc/zei/a.env"]


def test_an_optional_file_that_cannot_be_read_for_another_reason_is_a_problem():
    files = Files(a__env=PermissionError(errno.EACCES, "Permission denied"))
    assert problems("env_file:\n  - path: a.env\n    required: false\n", files) == [
        f"{PATH}:5: services.web.env_file: cannot read /etc/zei/a.env: Permission denied"]


def test_a_missing_file_is_a_problem_at_its_line():
    assert problems("env_file: nope.env\n", Files()) == [
        f"{PATH}:4: services.web.env_file: cannot read /etc/zei/nope.env: No such file or directory"]
    assert problems("env_file:\n  - nope.env\n  - /x/.env\n", Files()) == [
        f"{PATH}:5: services.web.env_file: cannot read /etc/zei/nope.env: No such file or directory",
        f"{PATH}:6: services.web.env_file: cannot read /x/.env: No such file or directory"]


def test_bad_lines_name_both_files_and_lines():
    files = Files(app__env="A=1\nnot a pair\n# ok\n2B=x\nC='open\n")
    assert problems("env_file: app.env\n", files) == [
        f"{PATH}:4: services.web.env_file: /etc/zei/app.env:2: expected KEY=VALUE: the line has no '='",
        f"{PATH}:4: services.web.env_file: /etc/zei/app.env:4: not a valid variable name (got 2B); "
        "names are a letter or '_', then letters, digits, '_', '.' or '-'",
        f"{PATH}:4: services.web.env_file: /etc/zei/app.env:5: C: the value has no closing ' on its line"]


def test_undecodable_bytes_are_a_problem_on_their_line(tmp_path):
    (tmp_path / "app.env").write_bytes(b"A=1\nB=\xff\xfe\n")
    got = problems_at(tmp_path, "env_file: app.env\n")
    assert got == [f"{tmp_path}/zei.yaml:4: services.web.env_file: {tmp_path}/app.env:2: "
                   "B: the value must be valid UTF-8 text"]


def problems_at(tmp_path, options):
    (tmp_path / "zei.yaml").write_text(web(options))
    with pytest.raises(ConfigError) as e:
        cli.load_config(str(tmp_path / "zei.yaml"))
    return [str(p) for p in e.value.problems]


def test_a_file_over_1_mib_is_refused(tmp_path):
    (tmp_path / "big.env").write_bytes(b"A=" + b"x" * envfile.MAX_SIZE + b"\n")
    assert problems_at(tmp_path, "env_file: big.env\n") == [
        f"{tmp_path}/zei.yaml:4: services.web.env_file: {tmp_path}/big.env is larger than 1 MiB"]
    assert len(envread.read_file(str(tmp_path / "big.env"))) == envfile.MAX_SIZE + 1   # read no further


def test_a_directory_is_a_problem(tmp_path):
    (tmp_path / "d.env").mkdir()
    assert problems_at(tmp_path, "env_file: d.env\n") == [
        f"{tmp_path}/zei.yaml:4: services.web.env_file: cannot read {tmp_path}/d.env: Is a directory"]


@pytest.mark.parametrize("options,problem", [
    ("env_file: []\n", "4: services.web.env_file: must not be empty (got [])"),
    ("env_file: ''\n", "4: services.web.env_file: expected a non-empty string (got '')"),
    ("env_file: {path: a.env}\n", None),
    ("env_file: [[a.env]]\n", "4: services.web.env_file[0]: expected a path, or a mapping with path "
                              "and required (got a list)"),
    ("env_file: [{required: false}]\n", "4: services.web.env_file[0].path: missing: the env file's path"),
    ("env_file: [{path: a.env, requred: false}]\n",
     "4: services.web.env_file[0].requred: unknown key; did you mean 'required'?"),
    ("env_file: [{path: a.env, required: maybe}]\n",
     "4: services.web.env_file[0].required: expected true or false (got 'maybe')"),
    ("env_file: [\"a\\0.env\"]\n", "4: services.web.env_file[0]: must not contain a NUL character"),
])
def test_option_problems(options, problem):
    files = Files(a__env="A=1\n")
    if problem is None:                             # a single long-form mapping is taken too
        assert spec(options, files).env_files == (("/etc/zei/a.env", ("A",)),)
        return
    got = problems(options, files)
    assert got[0][len(PATH) + 1:].startswith(problem), got
    assert len(got) == 1, got
    assert files.read == []                          # nothing read when the option is wrong


def test_without_a_reader_every_file_reads_as_empty():
    s = parse(web("env_file: app.env\nenvironment: {A: '1'}\n"), PATH).service("web")
    assert (s.environment, s.env_files) == ((("A", "1"),), (("/etc/zei/app.env", ()),))


def test_the_problems_of_other_services_still_come():
    files = Files()
    text = web("env_file: gone.env\n") + "  db:\n    command: [db]\n    restart: sometimes\n"
    with pytest.raises(ConfigError) as e:
        parse(text, PATH, read_file=files)
    assert [p.line for p in e.value.problems] == [4, 7]


# ---- through JSON (PID 1's prelude) and out to status ---------------------------------------

def test_json_round_trip():
    files = Files(app__env="DB_URL=x\nSECRET=y\n")
    cfg = parse(web("env_file: app.env\n"), PATH, read_file=files)
    data = json.loads(json.dumps(model.to_json(cfg)))
    assert model.from_json(data) == cfg
    del data["services"][0]["env_files"]             # a config from before env_file
    assert model.from_json(data).service("web").env_files == ()


def test_status_shows_the_names_never_the_values():
    files = Files(app__env="DB_URL=postgres://user:pw@db\nSECRET=hunter2\n")
    s = spec("env_file: app.env\nenvironment: {MODE: prod}\n", files)
    row = describe(Service(s), 0.0, 5.0)
    assert row["env_files"] == [{"path": "/etc/zei/app.env", "names": ["DB_URL", "SECRET"]}]
    shown = json.dumps(row) + cli.render_status([dict(row, state="running")])
    for value in ("postgres://user:pw@db", "hunter2", "prod"):
        assert value not in shown
    assert "  env file:   /etc/zei/app.env (DB_URL, SECRET)\n" in cli.render_status([row])


def test_status_of_an_empty_file():
    row = describe(Service(spec("env_file: e.env\n", Files(e__env="# nothing\n"))), 0.0, 5.0)
    assert "  env file:   /etc/zei/e.env (no variables)\n" in cli.render_status([row])


def test_status_without_a_daemon_shows_the_names(tmp_path, capsys):
    (tmp_path / "app.env").write_text("SECRET=hunter2\n")
    (tmp_path / "zei.yaml").write_text(web("env_file: app.env\n"))
    import io
    out, err = io.StringIO(), io.StringIO()
    cli.show_from_config(str(tmp_path / "zei.yaml"), None, True, True, "no socket", out, err)
    assert json.loads(out.getvalue())["services"][0]["env_files"] == [
        {"path": f"{tmp_path}/app.env", "names": ["SECRET"]}]
    assert "hunter2" not in out.getvalue()


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("AB_=#'\"\\ \t\nx$.-1é\0\udc80\r")), max_size=80))
def test_any_text_gives_usable_pairs_or_problems(text):
    pairs, problems = envfile.parse(text)
    lines = text.count("\n") + 1
    for name, value in pairs:
        assert envfile.parse_line(f"{name}=ok") == (name, "ok")
        assert "\0" not in value
        value.encode("utf-8")
    for number, reason in problems:
        assert 1 <= number <= lines and reason.isprintable()
