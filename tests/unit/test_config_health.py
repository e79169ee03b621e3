"""Config: healthcheck (compose's keys plus http and tcp probes), ready (notify, log_line,
timeout) and the long form of depends_on (condition, required) -- records and problems."""
from __future__ import annotations

import json
import socket
import textwrap

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from zei.core import model
from zei.core.config import SERVICE_KEYS, ConfigError, parse, warnings
from zei.core.health_config import is_ipv4, is_ipv6, parse_http, parse_tcp
from zei.core.model import COMPLETED, HEALTHY, STARTED, Healthcheck, Ready

PATH = "/etc/zei/zei.yaml"


def web(options, extra=""):
    """Service `web` (line 2) whose options follow its command (line 3): the first option
    is on line 4. `extra` is more services, after it."""
    return ("services:\n  web:\n    command: [echo]\n" + textwrap.indent(textwrap.dedent(options), "    ")
            + extra)


DB = "  db:\n    command: [db]\n"
JOB = "  job:\n    command: [job]\n    oneshot: true\n"


def spec(options, extra=""):
    return parse(web(options, extra), PATH).service("web")


def problems(text):
    with pytest.raises(ConfigError) as e:
        parse(text, PATH)
    assert str(e.value) == "\n".join(str(p) for p in e.value.problems)
    return [str(p) for p in e.value.problems]


def only(options, extra=""):
    """The one problem of a config, without the path."""
    got = problems(web(options, extra))
    assert len(got) == 1, got
    assert got[0].startswith(PATH + ":")
    return got[0][len(PATH) + 1:]


def test_the_new_keys_are_options():
    assert {"healthcheck", "ready", "depends_on"} <= set(SERVICE_KEYS)


def test_defaults_none_of_them():
    s = spec("")
    assert (s.healthcheck, s.ready, s.depends_on, s.conditions) == (None, None, (), ())


# ---- healthcheck: the probes ---------------------------------------------------------------

SH = ("/bin/sh", "-c")


@pytest.mark.parametrize("test,command", [
    ("[CMD, pg_isready, -U, app]", ("pg_isready", "-U", "app")),
    ('["CMD", "curl", "-fsS", "http://localhost/"]', ("curl", "-fsS", "http://localhost/")),
    ("[CMD, sleep, 1]", ("sleep", "1")),                  # numbers are arguments, as in command
    ("[CMD-SHELL, 'pg_isready || exit 1']", SH + ("pg_isready || exit 1",)),
    ("'curl -f http://localhost/ || exit 1'", SH + ("curl -f http://localhost/ || exit 1",)),
    ("pg_isready", SH + ("pg_isready",)),
])
def test_exec_checks(test, command):
    assert spec(f"healthcheck:\n  test: {test}\n").healthcheck == Healthcheck(kind="exec", command=command)


def test_every_key_set():
    h = spec("""\
        healthcheck:
          test: [CMD, check]
          interval: 1m
          timeout: 3s
          retries: 5
          start_period: 40s
          start_interval: 500ms
          on_unhealthy: none
          disable: false
        """).healthcheck
    assert h == Healthcheck(kind="exec", command=("check",), host=None, port=None, path="/", interval=60.0,
                            timeout=3.0, retries=5, start_period=40.0, start_interval=0.5, on_unhealthy="none")
    assert all(type(x) is float for x in (h.interval, h.timeout, h.start_period, h.start_interval))


def test_compose_defaults():
    h = spec("healthcheck: {test: [CMD, x]}\n").healthcheck
    assert (h.interval, h.timeout, h.retries, h.start_period, h.start_interval, h.on_unhealthy) == \
        (30.0, 30.0, 3, 0.0, 5.0, "restart")


@pytest.mark.parametrize("url,host,port,path", [
    ("http://127.0.0.1:8080/health", "127.0.0.1", 8080, "/health"),
    ("http://127.0.0.1", "127.0.0.1", 80, "/"),
    ("http://127.0.0.1/", "127.0.0.1", 80, "/"),
    ("http://10.0.0.255:65535/a/b?x=1&y=%20", "10.0.0.255", 65535, "/a/b?x=1&y=%20"),
    ("http://127.0.0.1:81?ready", "127.0.0.1", 81, "/?ready"),
    ("http://localhost:3000/healthz", "127.0.0.1", 3000, "/healthz"),
    ("http://LocalHost/", "127.0.0.1", 80, "/"),
    ("HTTP://0.0.0.0:1/", "0.0.0.0", 1, "/"),
    ("http://[::1]:8080/up", "::1", 8080, "/up"),
    ("http://[::1]", "::1", 80, "/"),
    ("http://[fe80::1:2]/", "fe80::1:2", 80, "/"),
    ("http://[::ffff:192.0.2.1]:9000/", "::ffff:192.0.2.1", 9000, "/"),
])
def test_http_checks(url, host, port, path):
    assert spec(f"healthcheck:\n  http: '{url}'\n").healthcheck == \
        Healthcheck(kind="http", host=host, port=port, path=path)


@pytest.mark.parametrize("address,host,port", [
    ("127.0.0.1:5432", "127.0.0.1", 5432),
    ("localhost:6379", "127.0.0.1", 6379),
    ("[::1]:5432", "::1", 5432),
    ("[2001:db8::8a2e:370:7334]:1", "2001:db8::8a2e:370:7334", 1),
    ("192.168.1.10:65535", "192.168.1.10", 65535),
])
def test_tcp_checks(address, host, port):
    assert spec(f"healthcheck:\n  tcp: '{address}'\n").healthcheck == Healthcheck(kind="tcp", host=host, port=port)


def test_tcp_unquoted():
    assert spec("healthcheck:\n  tcp: 127.0.0.1:5432\n").healthcheck.port == 5432


@pytest.mark.parametrize("options", [
    "healthcheck: {disable: true}\n",
    "healthcheck: {test: [NONE]}\n",
    "healthcheck: {test: ['NONE'], interval: 5s}\n",
    "healthcheck: {disable: true, test: [CMD, x], http: 'http://127.0.0.1/'}\n",   # ignored, as compose does
    "healthcheck: {disable: true, retries: 2, on_unhealthy: none}\n",
])
def test_disabled_checks_are_none(options):
    assert spec(options).healthcheck is None


def test_a_disabled_check_on_a_oneshot_is_fine():
    assert spec("oneshot: true\nhealthcheck: {disable: true}\n").healthcheck is None


# ---- healthcheck: the problems -------------------------------------------------------------

HC = "services.web.healthcheck"
NO_NAMES = ("zei does not resolve host names (it would block PID 1); use an IP address such as "
            "127.0.0.1 or [::1], or localhost")
HTTPS = "https is not supported; use an exec check (test: [CMD, curl, -fsS, URL])"


@pytest.mark.parametrize("options,want", [
    ("healthcheck: [CMD, x]\n",
     f"4: {HC}: expected a mapping with test, http or tcp and the timing options (got a list)"),
    ("healthcheck:\n", f"4: {HC}: expected a mapping with test, http or tcp and the timing options (got null)"),
    ("healthcheck: {}\n", f"4: {HC}: needs one of test, http or tcp (or disable: true)"),
    ("healthcheck:\n  interval: 5s\n", f"4: {HC}: needs one of test, http or tcp (or disable: true)"),
    ("healthcheck: {disable: false, retries: 2}\n", f"4: {HC}: needs one of test, http or tcp (or disable: true)"),
    ("healthcheck:\n  test: [CMD, x]\n  http: http://127.0.0.1/\n",
     f"6: {HC}: give only one of test, http and tcp (got test and http)"),
    ("healthcheck:\n  test: [CMD, x]\n  intervall: 5s\n", f"6: {HC}.intervall: unknown option; did you mean 'interval'?"),
    ("healthcheck:\n  test: [CMD, x]\n  startperiod: 5s\n", f"6: {HC}.startperiod: unknown option; did you mean 'start_period'?"),
    ("healthcheck:\n  test: [CMD, x]\n  period_start: 5s\n", f"6: {HC}.period_start: unknown option; did you mean 'start_period'?"),
    ("healthcheck:\n  test: [CMD, x]\n  test: [CMD, y]\n", f"6: {HC}.test: duplicate key (first defined on line 5)"),
    ("oneshot: true\nhealthcheck:\n  test: [CMD, x]\n",
     f"5: {HC}: health checks are for long-running services; a oneshot is ready once it exits with a success code"),
])
def test_healthcheck_shape(options, want):
    assert only(options) == want


def test_three_probes_name_all_three_in_file_order():
    assert only("healthcheck:\n  tcp: 127.0.0.1:1\n  test: [CMD, x]\n  http: http://127.0.0.1/\n") == \
        f"6: {HC}: give only one of test, http and tcp (got tcp, test and http)"


@pytest.mark.parametrize("test,want", [
    ("[]", "test: expected [CMD, program, args...], [CMD-SHELL, command], [NONE] or a shell command string (got [])"),
    ("{a: 1}", "test: expected [CMD, program, args...], [CMD-SHELL, command], [NONE] or a shell command string "
               "(got a mapping)"),
    ("5", "test: expected [CMD, program, args...], [CMD-SHELL, command], [NONE] or a shell command string (got 5)"),
    ("~", "test: expected [CMD, program, args...], [CMD-SHELL, command], [NONE] or a shell command string (got ~)"),
    ("''", "test: expected a non-empty string (got '')"),
    ("[pg_isready]", "test[0]: expected CMD, CMD-SHELL or NONE (got 'pg_isready')"),
    ("[cmd, x]", "test[0]: expected CMD, CMD-SHELL or NONE; did you mean 'CMD'? (got 'cmd')"),
    ("[CMD_SHELL, x]", "test[0]: expected CMD, CMD-SHELL or NONE; did you mean 'CMD-SHELL'? (got 'CMD_SHELL')"),
    ("[[CMD], x]", "test[0]: expected CMD, CMD-SHELL or NONE (got a list)"),
    ("[CMD]", "test: CMD needs the program after it: [CMD, program, args...] (got a list)"),
    ("[CMD, x, {a: 1}]", "test[2]: expected a string (got a mapping)"),
    ('[CMD, "a\\0b"]', "test[1]: must not contain a NUL character (got 'a\\x00b')"),
    ("[CMD-SHELL]", "test: CMD-SHELL takes exactly one string after it: the shell command (got a list)"),
    ("[CMD-SHELL, a, b]", "test: CMD-SHELL takes exactly one string after it: the shell command (got a list)"),
    ("[CMD-SHELL, '']", "test[1]: expected a non-empty string (got '')"),
    ("[CMD-SHELL, [a]]", "test[1]: expected a non-empty string (got a list)"),
    ("[NONE, x]", "test[1]: NONE takes nothing after it (got 'x')"),
])
def test_bad_tests(test, want):
    assert only(f"healthcheck:\n  test: {test}\n") == f"5: {HC}.{want}"


@pytest.mark.parametrize("url,why", [
    ("https://127.0.0.1/", HTTPS),
    ("HTTPS://[::1]:8443/", HTTPS),
    ("https://example.com/", HTTPS),
    ("http://example.com/health", NO_NAMES),
    ("http://db:5432/", NO_NAMES),
    ("http://localhost.localdomain/", NO_NAMES),
    ("127.0.0.1:8080/health", "expected a URL like http://127.0.0.1:8080/health"),
    ("ftp://127.0.0.1/", "expected a URL like http://127.0.0.1:8080/health"),
    ("http:/127.0.0.1/", "expected a URL like http://127.0.0.1:8080/health"),
    ("http://", "the host is missing"),
    ("http:///health", "the host is missing"),
    ("http://:8080/", "the host is missing"),
    ("http://127.0.0.1:0/", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:65536/", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:/", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:http/", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:-1/", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:٨٠/", "the port must be a number from 1 to 65535"),
    ("http://127.0.0.1:" + "0" * 20 + "80/", "the port must be a number from 1 to 65535"),
    ("http://256.0.0.1/", "not an IPv4 address: four numbers from 0 to 255, without leading zeros"),
    ("http://127.0.0.01/", "not an IPv4 address: four numbers from 0 to 255, without leading zeros"),
    ("http://127.1/", "not an IPv4 address: four numbers from 0 to 255, without leading zeros"),
    ("http://1.2.3.4.5/", "not an IPv4 address: four numbers from 0 to 255, without leading zeros"),
    ("http://::1/", "an IPv6 address goes in brackets, e.g. [::1]:8080"),
    ("http://[::1/", "an IPv6 address in brackets needs the closing ']'"),
    ("http://[::g]/", "not an IPv6 address inside the brackets"),
    ("http://[127.0.0.1]/", "not an IPv6 address inside the brackets"),
    ("http://[fe80::1%eth0]/", "not an IPv6 address inside the brackets"),
    ("http://[::1]8080/", "expected ':PORT' after the ']'"),
    ("http://user:pw@127.0.0.1/", "no user:password@ in the address: zei sends no credentials"),
    ("http://127.0.0.1/a b", "the path must be printable ASCII without spaces; percent-encode the rest"),
    ("http://127.0.0.1/é", "the path must be printable ASCII without spaces; percent-encode the rest"),
    ("http://127.0.0.1/#top", "no #fragment: it is never sent to the server"),
])
def test_bad_urls(url, why):
    assert only(f"healthcheck:\n  http: '{url}'\n") == f"5: {HC}.http: {why} (got '{url}')"


def test_a_newline_in_a_url_is_refused_on_one_line():
    got = only('healthcheck:\n  http: "http://127.0.0.1/\\r\\nHost: x"\n')
    assert got.startswith(f"5: {HC}.http: the path must be printable ASCII") and got.isprintable()


@pytest.mark.parametrize("address,why", [
    ("db:5432", NO_NAMES),
    ("127.0.0.1", "expected HOST:PORT like 127.0.0.1:5432 or [::1]:5432"),
    ("localhost", "expected HOST:PORT like 127.0.0.1:5432 or [::1]:5432"),
    ("[::1]", "the port is missing: HOST:PORT"),
    ("tcp://127.0.0.1:5432", "expected HOST:PORT like 127.0.0.1:5432 or [::1]:5432, without a scheme"),
    ("::1:5432", "an IPv6 address goes in brackets, e.g. [::1]:8080"),
    (":5432", "the host is missing"),
    ("127.0.0.1:99999", "the port must be a number from 1 to 65535"),
    ("127.0.0.1:", "the port must be a number from 1 to 65535"),
    ("300.1.1.1:80", "not an IPv4 address: four numbers from 0 to 255, without leading zeros"),
])
def test_bad_tcp_addresses(address, why):
    assert only(f"healthcheck:\n  tcp: '{address}'\n") == f"5: {HC}.tcp: {why} (got '{address}')"


def test_tcp_port_alone():
    assert only("healthcheck:\n  tcp: 5432\n") == \
        f"5: {HC}.tcp: expected HOST:PORT like 127.0.0.1:5432 or [::1]:5432 (got 5432)"


@pytest.mark.parametrize("line,want", [
    ("interval: 0", "interval: must be greater than zero (got 0)"),
    ("interval: 0s", "interval: must be greater than zero (got '0s')"),
    ("timeout: 0ms", "timeout: must be greater than zero (got '0ms')"),
    ("start_interval: 0", "start_interval: must be greater than zero (got 0)"),
    ("interval: -1s", "interval: must not be negative (got '-1s')"),
    ("interval: 1m30", "interval: expected a duration like 5s, 100ms, 2m or 1h (got '1m30')"),
    ("timeout: [1s]", "timeout: expected a duration like 5s, 100ms, 2m or 1h (got a list)"),
    ("start_period: -5s", "start_period: must not be negative (got '-5s')"),
    ("start_period: soon", "start_period: expected a duration like 5s, 100ms, 2m or 1h (got 'soon')"),
    ("retries: 0", "retries: must be at least 1 (got 0)"),
    ("retries: -2", "retries: must not be negative (got -2)"),
    ("retries: 1.5", "retries: expected a whole number (got 1.5)"),
    ("retries: true", "retries: expected a whole number (got true)"),
    ("on_unhealthy: restrat", "on_unhealthy: expected restart or none; did you mean 'restart'? (got 'restrat')"),
    ("on_unhealthy: no", "on_unhealthy: expected restart or none (got no)"),
    ("on_unhealthy: ~", "on_unhealthy: expected restart or none (got ~)"),
    ("on_unhealthy: stop", "on_unhealthy: expected restart or none (got 'stop')"),
    ("disable: 'yes'", "disable: expected true or false (got 'yes')"),
])
def test_bad_timing_values(line, want):
    assert only(f"healthcheck:\n  test: [CMD, x]\n  {line}\n") == f"6: {HC}.{want}"


def test_start_period_zero_is_fine_and_durations_take_every_form():
    h = spec("healthcheck: {test: [CMD, x], start_period: 0, interval: 1.5, timeout: 100ms, start_interval: 1h}\n"
             ).healthcheck
    assert (h.start_period, h.interval, h.timeout, h.start_interval) == (0.0, 1.5, 0.1, 3600.0)


def test_a_disabled_check_still_checks_its_values():
    assert only("healthcheck:\n  disable: true\n  retries: 0\n") == f"6: {HC}.retries: must be at least 1 (got 0)"


def test_every_healthcheck_problem_at_once():
    got = problems(web("""\
        oneshot: true
        healthcheck:
          http: https://127.0.0.1/
          tcp: db:1
          retries: 0
          intervall: 1s
        """))
    assert got == [
        f"{PATH}:5: {HC}: health checks are for long-running services; a oneshot is ready once it exits "
        "with a success code",
        f"{PATH}:6: {HC}.http: {HTTPS} (got 'https://127.0.0.1/')",
        f"{PATH}:7: {HC}: give only one of test, http and tcp (got http and tcp)",
        f"{PATH}:7: {HC}.tcp: {NO_NAMES} (got 'db:1')",
        f"{PATH}:8: {HC}.retries: must be at least 1 (got 0)",
        f"{PATH}:9: {HC}.intervall: unknown option; did you mean 'interval'?",
    ]


# ---- the address parsers ---------------------------------------------------------------------

@pytest.mark.parametrize("text,ok", [
    ("0.0.0.0", True), ("255.255.255.255", True), ("127.0.0.1", True), ("10.20.30.40", True),
    ("256.0.0.0", False), ("1.2.3", False), ("1.2.3.4.", False), (".1.2.3", False), ("01.2.3.4", False),
    ("1.2.3.04", False), ("1..3.4", False), ("1.2.3.4 ", False), ("+1.2.3.4", False), ("١.2.3.4", False),
    ("0x7f.0.0.1", False), ("1.2.3.1000", False), ("", False),
])
def test_ipv4(text, ok):
    assert is_ipv4(text) is ok


@pytest.mark.parametrize("text,ok", [
    ("::", True), ("::1", True), ("1::", True), ("1:2:3:4:5:6:7:8", True), ("1:2:3:4:5:6:7::", True),
    ("::2:3:4:5:6:7:8", True), ("fe80::1", True), ("FE80::ABCD:1", True), ("2001:db8:0:0:1:0:0:1", True),
    ("::ffff:192.0.2.1", True), ("::192.0.2.1", True), ("1:2:3:4:5:6:1.2.3.4", True), ("64:ff9b::1.2.3.4", True),
    ("", False), (":", False), (":::", False), ("1:2:3:4:5:6:7", False), ("1:2:3:4:5:6:7:8:9", False),
    ("1::2::3", False), (":1::", False), ("1::2:", False), ("12345::", False), ("g::", False),
    ("1:2:3:4:5:6:7:8::", False), ("::1.2.3", False), ("1.2.3.4::", False), ("::1.2.3.4:1", False),
    ("1:2:3:4:5:6:7:1.2.3.4", False), ("::01.2.3.4", False), ("fe80::1%eth0", False), ("[::1]", False),
    ("::１", False), ("1.2.3.4", False),
])
def test_ipv6(text, ok):
    assert is_ipv6(text) is ok


def _pton(family, text):
    try:
        socket.inet_pton(family, text)
        return True
    except (OSError, ValueError, UnicodeEncodeError):
        return False


IPV6_CHARS = st.text(st.sampled_from("0123456789abcdefABCDEFg:.%"), max_size=40)
IPV4_CHARS = st.text(st.sampled_from("0123456789.x "), max_size=18)


@settings(max_examples=3000, deadline=None)
@given(IPV6_CHARS | st.lists(st.sampled_from(["::", ":", "0", "1", "ffff", "12345", "1.2.3.4", "255.0.0.01",
                                              "a", "", "0000"]), max_size=12).map("".join))
def test_ipv6_agrees_with_inet_pton(text):
    assert is_ipv6(text) == _pton(socket.AF_INET6, text), text


@settings(max_examples=2000, deadline=None)
@given(IPV4_CHARS | st.lists(st.sampled_from(["0", "1", "255", "256", "01", "00", ".", "999"]),
                             max_size=8).map("".join))
def test_ipv4_agrees_with_inet_pton(text):
    assert is_ipv4(text) == _pton(socket.AF_INET, text), text


def test_the_parsers_alone():
    assert parse_http("http://[::1]:81/x?y") == ("::1", 81, "/x?y")
    assert parse_tcp("localhost:1") == ("127.0.0.1", 1)
    with pytest.raises(ValueError):
        parse_tcp("example.org:80")


# ---- ready -----------------------------------------------------------------------------------

RD = "services.web.ready"


@pytest.mark.parametrize("options,want", [
    ("ready: {notify: true}\n", Ready(notify=True, log_line=None, timeout=None)),
    ("ready: {notify: true, timeout: 1m}\n", Ready(notify=True, log_line=None, timeout=60.0)),
    ("ready: {log_line: listening on}\n", Ready(notify=False, log_line="listening on", timeout=None)),
    ("ready: {log_line: '^ready \\d+$', timeout: 500ms}\n", Ready(False, "^ready \\d+$", 0.5)),
    ("ready: {notify: false, log_line: started}\n", Ready(False, "started", None)),
    ("ready: {log_line: 8080}\n", Ready(False, "8080", None)),
    ("ready: {log_line: up}\nstdout: /var/log/web.log\n", Ready(False, "up", None)),
    ("ready: {log_line: up}\nstderr: /dev/stderr\n", Ready(False, "up", None)),
    ("ready: {notify: true}\nstdout: /dev/stdout\nstderr: /dev/stderr\n", Ready(True, None, None)),
])
def test_ready(options, want):
    s = spec(options)
    assert s.ready == want and s.healthcheck is None


@pytest.mark.parametrize("options,want", [
    ("ready: true\n", f"4: {RD}: expected a mapping with notify or log_line, and timeout (got true)"),
    ("ready:\n", f"4: {RD}: expected a mapping with notify or log_line, and timeout (got null)"),
    ("ready: {}\n", f"4: {RD}: ready needs notify: true or log_line"),
    ("ready: {notify: false}\n", f"4: {RD}: ready needs notify: true or log_line"),
    ("ready: {timeout: 5s}\n", f"4: {RD}: ready needs notify: true or log_line"),
    ("ready: {notify: true, log_line: x}\n", f"4: {RD}: give notify: true or log_line, not both"),
    ("ready: {notify: 1}\n", f"4: {RD}.notify: expected true or false (got 1)"),
    ("ready: {notify: true, timeout: 0}\n", f"4: {RD}.timeout: must be greater than zero (got 0)"),
    ("ready: {notify: true, timeout: forever}\n",
     f"4: {RD}.timeout: expected a duration like 5s, 100ms, 2m or 1h (got 'forever')"),
    ("ready: {notify: true, wait: 5s}\n", f"4: {RD}.wait: unknown option"),
    ("ready: {log_line: x, notfy: true}\n", f"4: {RD}.notfy: unknown option; did you mean 'notify'?"),
    ("ready:\n  log_line: x\n  log_line: y\n", f"6: {RD}.log_line: duplicate key (first defined on line 5)"),
    ("ready: {log_line: ''}\n", f"4: {RD}.log_line: expected a non-empty string (got '')"),
    ("ready: {log_line: [x]}\n", f"4: {RD}.log_line: expected a non-empty string (got a list)"),
    ("ready: {log_line: '('}\n",
     f"4: {RD}.log_line: not a valid regular expression: missing ), unterminated subpattern at position 0 (got '(')"),
    ("ready: {log_line: 'a**'}\n", f"4: {RD}.log_line: not a valid regular expression: multiple repeat at "
                                   "position 2 (got 'a**')"),
    ("ready: {log_line: 'a{99999999999}'}\n",
     f"4: {RD}.log_line: not a valid regular expression: the repetition number is too large (got 'a{{99999999999}}')"),
    ("oneshot: true\nready: {notify: true}\n",
     f"5: {RD}: ready is for long-running services; a oneshot is ready once it exits with a success code"),
    ("ready:\n  log_line: up\nstdout: /var/log/web.log\nstderr: /dev/stderr\n",
     f"5: {RD}.log_line: log_line needs a captured stream: stdout or stderr must not be redirected"),
    ("stdout: /dev/stdout\nstderr: /dev/stdout\nready:\n  log_line: up\n",
     f"7: {RD}.log_line: log_line needs a captured stream: stdout or stderr must not be redirected"),
])
def test_bad_ready(options, want):
    assert only(options) == want


def test_a_regex_too_deep_is_a_problem():
    got = only(f"ready: {{log_line: '{'(' * 5000 + ')' * 5000}'}}\n")
    assert got.startswith(f"4: {RD}.log_line: not a valid regular expression: ")


def test_a_regex_error_with_a_control_character_prints_on_one_line():
    got = only('ready: {log_line: "(?<\\x01"}\n')
    assert got.startswith(f"4: {RD}.log_line: not a valid regular expression: ") and got.isprintable()


def test_every_ready_problem_at_once():
    got = problems(web("oneshot: true\nready:\n  notify: maybe\n  log_line: '['\n  timeout: 0\n"))
    assert got == [
        f"{PATH}:5: {RD}: ready is for long-running services; a oneshot is ready once it exits with a success code",
        f"{PATH}:6: {RD}.notify: expected true or false (got 'maybe')",
        f"{PATH}:7: {RD}.log_line: not a valid regular expression: unterminated character set at position 0 "
        "(got '[')",
        f"{PATH}:8: {RD}.timeout: must be greater than zero (got 0)",
    ]


# ---- healthcheck and ready together: a warning --------------------------------------------

def test_ready_beside_a_healthcheck_is_valid_but_warned_about():
    cfg = parse(web("healthcheck: {test: [CMD, x]}\nready: {notify: true}\n", DB), PATH)
    s = cfg.service("web")
    assert s.healthcheck.kind == "exec" and s.ready == Ready(True, None, None)
    assert warnings(cfg) == [f"{PATH}:2: services.web.ready: not used for readiness: the healthcheck decides "
                             "(a service with a healthcheck is ready when healthy)"]


def test_no_warning_with_a_disabled_healthcheck():
    cfg = parse(web("healthcheck: {disable: true}\nready: {notify: true}\n"), PATH)
    assert cfg.service("web").ready is not None and warnings(cfg) == []


# ---- depends_on: the long form -------------------------------------------------------------

DEP = "services.web.depends_on"


@pytest.mark.parametrize("options,names,conditions", [
    ("depends_on: [db, job]\n", ("db", "job"), (("db", STARTED, True), ("job", STARTED, True))),
    ("depends_on: []\n", (), ()),
    ("depends_on: {}\n", (), ()),
    ("depends_on:\n  db:\n", ("db",), (("db", STARTED, True),)),
    ("depends_on:\n  db: ~\n  job: {}\n", ("db", "job"), (("db", STARTED, True), ("job", STARTED, True))),
    ("depends_on:\n  job:\n    condition: service_completed_successfully\n  db:\n    condition: service_healthy\n"
     "    required: false\n",
     ("job", "db"), (("job", COMPLETED, True), ("db", HEALTHY, False))),
    ("depends_on: {db: {required: true}}\n", ("db",), (("db", STARTED, True),)),
    ("depends_on: {db: {condition: service_started, required: no}}\n", ("db",), (("db", STARTED, False),)),
    # a long-running dependency can be waited for to exit successfully
    ("depends_on: {db: {condition: service_completed_successfully}}\n", ("db",), (("db", COMPLETED, True),)),
    ("depends_on: {job: {condition: service_healthy}}\n", ("job",), (("job", HEALTHY, True),)),
])
def test_depends_on(options, names, conditions):
    s = spec(options, DB + JOB)
    assert (s.depends_on, s.conditions) == (names, conditions)


def test_the_long_form_orders_the_start():
    cfg = parse(web("depends_on: {db: {condition: service_healthy}}\n", DB), PATH)
    assert model.dependency_order(cfg.services) == ["db", "web"]


@pytest.mark.parametrize("options,want", [
    ("depends_on: db\n", f"4: {DEP}: expected a list of strings (got 'db')"),
    ("depends_on: {db: {condition: service_healty}}\n",
     f"4: {DEP}.db.condition: expected service_started, service_healthy or service_completed_successfully; "
     "did you mean 'service_healthy'? (got 'service_healty')"),
    ("depends_on: {db: {condition: healthy}}\n",
     f"4: {DEP}.db.condition: expected service_started, service_healthy or service_completed_successfully"
     "; did you mean 'service_healthy'? (got 'healthy')"),
    ("depends_on: {db: {condition: ~}}\n", f"4: {DEP}.db.condition: expected a non-empty string (got ~)"),
    ("depends_on: {db: {required: maybe}}\n", f"4: {DEP}.db.required: expected true or false (got 'maybe')"),
    ("depends_on: {db: {restart: true}}\n",
     f"4: {DEP}.db.restart: restart: is not supported: zei does not restart dependents when a dependency restarts"),
    ("depends_on: {db: {requird: true}}\n", f"4: {DEP}.db.requird: unknown option; did you mean 'required'?"),
    ("depends_on: {db: service_healthy}\n",
     f"4: {DEP}.db: expected a mapping with condition and required, or nothing (got 'service_healthy')"),
    ("depends_on: {db: [service_healthy]}\n",
     f"4: {DEP}.db: expected a mapping with condition and required, or nothing (got a list)"),
    ("depends_on:\n  db:\n  db:\n", f"6: {DEP}.db: duplicate key (first defined on line 5)"),
    ("depends_on:\n  db: {condition: service_healthy, condition: service_started}\n",
     f"5: {DEP}.db.condition: duplicate key (first defined on line 5)"),
])
def test_bad_depends_on(options, want):
    assert only(options, DB) == want


@pytest.mark.parametrize("options,want", [
    ("depends_on: [dbb]\n", f"4: {DEP}: unknown service 'dbb'; did you mean 'db'?"),
    ("depends_on:\n  db: {}\n  dbb: {}\n", f"6: {DEP}: unknown service 'dbb'; did you mean 'db'?"),
    ("depends_on:\n  web:\n", f"5: {DEP}: a service cannot depend on itself"),
    ("depends_on: [web]\n", f"4: {DEP}: a service cannot depend on itself"),
])
def test_the_dependency_checks_in_both_forms(options, want):
    assert only(options, DB) == want


def test_a_cycle_through_the_long_form():
    text = ("services:\n  a:\n    command: [x]\n    depends_on: {b: {condition: service_healthy}}\n"
            "  b:\n    command: [x]\n    depends_on:\n      a:\n")
    assert problems(text) == [f"{PATH}:4: services.a.depends_on: dependency cycle: a -> b -> a"]


def test_every_depends_on_problem_at_once():
    got = problems(web("depends_on:\n  ghost: {condition: service_done, restart: false}\n  web:\n", DB))
    assert got == [
        f"{PATH}:5: {DEP}: unknown service 'ghost'",
        f"{PATH}:5: {DEP}.ghost.condition: expected service_started, service_healthy or "
        "service_completed_successfully; did you mean 'service_started'? (got 'service_done')",
        f"{PATH}:5: {DEP}.ghost.restart: restart: is not supported: zei does not restart dependents when a "
        "dependency restarts",
        f"{PATH}:6: {DEP}: a service cannot depend on itself",
    ]


# ---- JSON, as the prelude hands the config to PID 1 ---------------------------------------

FULL = """\
services:
  db:
    command: [postgres]
    healthcheck:
      test: [CMD-SHELL, pg_isready -U app]
      interval: 10s
      retries: 5
      start_period: 30s
      start_interval: 1s
  api:
    command: [api]
    healthcheck:
      http: http://[::1]:8080/health?deep=1
      on_unhealthy: none
    depends_on:
      db: {condition: service_healthy}
      migrate: {condition: service_completed_successfully, required: false}
  cache:
    command: [redis-server]
    healthcheck: {tcp: localhost:6379, timeout: 2s}
  search:
    command: [java, -jar, search.jar]
    ready: {log_line: 'Started \\w+ in [0-9.]+ seconds', timeout: 2m}
    depends_on: [cache]
  worker:
    command: [worker]
    ready: {notify: true}
    depends_on:
      api:
      search: {condition: service_healthy}
  migrate:
    command: [migrate]
    oneshot: true
"""


def test_json_round_trip():
    cfg = parse(FULL, PATH)
    data = model.to_json(cfg)
    back = model.from_json(json.loads(json.dumps(data)))
    assert back == cfg
    assert isinstance(back.service("db").healthcheck, Healthcheck) and isinstance(back.service("worker").ready, Ready)
    assert back.service("db").healthcheck.command == ("/bin/sh", "-c", "pg_isready -U app")
    assert back.service("api").conditions == (("db", HEALTHY, True), ("migrate", COMPLETED, False))
    assert back.service("search").conditions == (("cache", STARTED, True),)
    assert back.service("worker").conditions == (("api", STARTED, True), ("search", HEALTHY, True))
    assert all(type(c) is tuple for s in back.services for c in s.conditions)
    assert warnings(cfg) == []


def test_the_full_config_records():
    cfg = parse(FULL, PATH)
    assert cfg.service("api").healthcheck == Healthcheck(kind="http", host="::1", port=8080, path="/health?deep=1",
                                                         on_unhealthy="none")
    assert cfg.service("cache").healthcheck == Healthcheck(kind="tcp", host="127.0.0.1", port=6379, timeout=2.0)
    assert cfg.service("search").ready == Ready(False, "Started \\w+ in [0-9.]+ seconds", 120.0)
    assert cfg.service("api").depends_on == ("db", "migrate")


# ---- nothing gets through as a traceback ----------------------------------------------------

scalars = (st.none() | st.booleans() | st.integers(-3, 70000) | st.floats(allow_nan=False)
           | st.sampled_from(["CMD", "CMD-SHELL", "NONE", "", "x", "http://127.0.0.1/", "https://a/", "[::1]:1",
                              "127.0.0.1:80", "localhost", "5s", "0", "service_healthy", "(", "\0", "\udc80",
                              "restart", "none", "a\nb", "service_completed_successfully"]))
trees = st.recursive(scalars, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["test", "http", "tcp", "interval", "retries", "disable",
                                                        "notify", "log_line", "timeout", "condition", "required",
                                                        "restart", "db", "web", "x"]), inner, max_size=4),
                     max_leaves=8)


@settings(max_examples=400, deadline=None)
@given(st.dictionaries(st.sampled_from(["healthcheck", "ready", "depends_on", "oneshot", "stdout", "stderr"]),
                       trees, max_size=4), st.booleans())
def test_random_values_give_problems_or_a_usable_config(opts, flow):
    tree = {"services": {"db": {"command": ["db"]}, "web": dict({"command": ["x"]}, **opts)}}
    text = yaml.safe_dump(tree, default_flow_style=flow, allow_unicode=True, sort_keys=False)
    try:
        cfg = parse(text, PATH)
    except ConfigError as e:
        assert e.problems
        for p in e.problems:
            assert p.line >= 1 and str(p).isprintable(), p
        return
    assert model.from_json(json.loads(json.dumps(model.to_json(cfg)))) == cfg
    s = cfg.service("web")
    if s.healthcheck is not None:
        assert s.healthcheck.kind in ("exec", "http", "tcp") and not s.oneshot
        assert s.healthcheck.command if s.healthcheck.kind == "exec" else 1 <= s.healthcheck.port <= 65535
    if s.ready is not None:
        assert (s.ready.notify is True) != (s.ready.log_line is not None) and not s.oneshot
    assert len(s.conditions) == len(s.depends_on)
    for line in warnings(cfg):
        assert line.isprintable()
