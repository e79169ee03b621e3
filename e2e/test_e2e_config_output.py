"""Config errors and the container's log: tagging, partial and long lines, JSON."""
import json
import re

from harness import sh


def test_bad_config_exits_non_zero_with_a_clear_message(zei):
    c = zei("""services:
  web:
    command: [probe]
    restart: sometimes
    restart_delay: 5 parsecs
  worker:
    comand: [sleep, "1"]
  job:
    command: [probe]
    interval: 1m
    depends_on: [nothing]
""")
    assert c.wait_exit(20) == 2
    log = c.logs()
    for expected in (r"/etc/zei/zei\.yaml:4: services\.web\.restart: .*\(got 'sometimes'\)",
                     r"/etc/zei/zei\.yaml:5: services\.web\.restart_delay: .*\(got '5 parsecs'\)",
                     r"/etc/zei/zei\.yaml:7: services\.worker\.comand: .*command",
                     r"/etc/zei/zei\.yaml:\d+: services\.job\.interval: .*oneshot",
                     r"/etc/zei/zei\.yaml:\d+: services\.job\.depends_on: .*nothing"):
        assert re.search(expected, log), (expected, log)
    assert re.search(r"/etc/zei/zei\.yaml:6: services\.worker\.command: missing", log), log
    assert "6 problem(s) in /etc/zei/zei.yaml; nothing started" in log
    assert "started (pid" not in log


def test_yaml_syntax_error_and_missing_config(zei):
    c = zei("services:\n  web:\n    command: [probe\n")
    assert c.wait_exit(20) == 2
    assert re.search(r"/etc/zei/zei\.yaml:\d+: ", c.logs()), c.logs()
    c = zei("services: {}\n", mount_config=False, args=["-c", "/etc/zei/absent.yaml"])
    assert c.wait_exit(20) == 2
    assert "/etc/zei/absent.yaml" in c.logs(), c.logs()


LONG_LINE = sh("head -c 40000 /dev/zero | tr '\\0' A; echo")
JSON_NOT_PARSED = sh("echo '{\"level\":\"warn\",\"msg\":\"not parsed\"}'")


def test_output_of_every_service_appears_in_the_container_log_tagged(zei):
    c = zei(f"""
services:
  one:
    command: {sh("echo out-one; echo err-one >&2; printf 'partial-one'")}
  two:
    command: {sh("echo out-two; echo err-two >&2")}
  long:
    command: {LONG_LINE}
  chatty:
    command: {sh("seq 1 20000; echo chatty-done")}
""")
    for pattern in (r"^one\[out\] out-one$", r"^one\[err\] err-one$", r"^one\[out\] partial-one$",
                    r"^two\[out\] out-two$", r"^two\[err\] err-two$", r"^chatty\[out\] chatty-done$",
                    r"^zei\[info\] one: started \(pid \d+\)$", r"long: exited"):
        c.wait_log(pattern)
    log = c.logs()
    pieces = re.findall(r"^long\[out\] (A+)$", log, re.M)
    assert "".join(pieces) == "A" * 40000 and len(pieces) == 3, [len(p) for p in pieces]
    numbers = [int(n) for n in re.findall(r"^chatty\[out\] (\d+)$", log, re.M)]
    assert numbers == list(range(1, 20001))
    untagged = [ln for ln in log.splitlines() if not re.match(r"^\w+\[\w+\] ", ln)]
    assert not untagged, untagged[:5]


def test_json_logs_lines_are_parsed(zei):
    lines = ['{"level":"warn","msg":"cache miss","key":"k1"}',
             '{"severity":"ERROR","message":"boom","code":500}',
             '{"level":30,"msg":"pino info"}',
             '{"lvl":"debug","msg":"detail"}',
             "plain text line"]
    c = zei(f"""
services:
  app:
    command: {sh("; ".join(f"echo '{ln}'" for ln in lines))}
    json_logs: true
  raw:
    command: {JSON_NOT_PARSED}
""")
    c.wait_log(r"^app\[warn\] cache miss key=k1$")
    c.wait_log(r"^app\[error\] boom code=500$")
    c.wait_log(r"^app\[info\] pino info$")
    c.wait_log(r"^app\[debug\] detail$")
    c.wait_log(r"^app\[out\] plain text line$")
    c.wait_log(r'^raw\[out\] \{"level":"warn","msg":"not parsed"\}$')


def test_zei_log_format_json_makes_every_line_json(zei):
    c = zei(f"""
services:
  app:
    command: {sh("echo hello; echo oops >&2")}
""", env={"ZEI_LOG_FORMAT": "json"})
    c.wait_log(r'"msg": ?"hello"')
    c.wait_log(r'"msg": ?"oops"')
    c.wait_log(r"exited")
    records = [json.loads(ln) for ln in c.logs().splitlines() if ln.strip()]
    hello = [r for r in records if r.get("msg") == "hello"][0]
    assert hello["source"] == "app" and hello["stream"] == "stdout" and "time" in hello
    oops = [r for r in records if r.get("msg") == "oops"][0]
    assert oops["stream"] == "stderr"
    assert any(r["source"] == "zei" for r in records)
