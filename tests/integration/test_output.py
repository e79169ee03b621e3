"""Output capture: tagging, bursts, partial and long lines, redirects, JSON logs."""
import json
import re

from conftest import q


def test_burst_of_4mb_arrives_whole_and_untorn(zei_run):
    # 40,000 lines of 100 bytes from each of two services at once.
    script = "i=0; while [ $i -lt 40000 ]; do printf '%s-%05d-%s\\n' $0 $i " \
             "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; i=$((i+1)); done"
    z = zei_run(f"""
services:
  one:
    command: {q("sh", "-c", script, "one")}
  two:
    command: {q("sh", "-c", script, "two")}
""")
    z.wait_log(r"one: exited")
    z.wait_log(r"two: exited")
    log = z.log()
    for name in ("one", "two"):
        lines = re.findall(rf"^{name}\[out\] {name}-(\d{{5}})-x{{83}}$", log, re.M)
        assert len(lines) == 40000, (name, len(lines))
        assert [int(n) for n in lines] == list(range(40000))
    bad = [ln for ln in log.splitlines() if not re.match(r"^(one|two)\[out\] |^zei\[", ln)]
    assert not bad, bad[:5]


def test_partial_last_line_and_long_lines(zei_run):
    z = zei_run(f"""
services:
  partial:
    command: {q("sh", "-c", "printf 'no newline at end'")}
  long:
    command: {q("python3", "-c", "print('A' * 40000)")}
""")
    z.wait_log(r"^partial\[out\] no newline at end$")
    z.wait_log(r"long: exited")
    pieces = re.findall(r"^long\[out\] (A+)$", z.log(), re.M)
    assert "".join(pieces) == "A" * 40000 and len(pieces) == 3


def test_stderr_is_tagged_separately(zei_run):
    z = zei_run(f"""
services:
  s:
    command: {q("sh", "-c", "echo to-out; echo to-err >&2")}
""")
    z.wait_log(r"^s\[out\] to-out$")
    z.wait_log(r"^s\[err\] to-err$")


def test_dev_stdout_passthrough_and_file_redirect(zei_run, tmp_path):
    target = tmp_path / "svc.log"
    z = zei_run(f"""
services:
  direct:
    command: {q("sh", "-c", "echo untagged-line; readlink /proc/self/fd/1")}
    stdout: /dev/stdout
  tofile:
    command: {q("sh", "-c", "echo into-file; echo err-into-file >&2")}
    stdout: {target}
    stderr: {target}
""")
    z.wait_log(r"^untagged-line$")
    z.wait_log(r"tofile: exited")
    assert target.read_text() == "into-file\nerr-into-file\n"
    assert "tofile[out]" not in z.log()


def test_file_redirect_is_opened_as_the_service_user(zei_run, test_users, open_tmp):
    import os
    import pwd
    tmp_path = open_tmp
    protected = tmp_path / "root-only"
    protected.mkdir(mode=0o700)
    user = "zeitest-b"
    uid = pwd.getpwnam(user).pw_uid
    writable = tmp_path / "open"
    writable.mkdir(mode=0o777)
    os.chmod(writable, 0o777)
    z = zei_run(f"""
services:
  denied:
    command: ["true"]
    user: {user}
    stdout: {protected}/x.log
  allowed:
    command: ["id", "-u"]
    user: {user}
    stdout: {writable}/y.log
""")
    z.wait_log(rf"denied: could not start: stdout {protected}/x.log: Permission denied \(EACCES\)")
    z.wait_log(r"allowed: exited")
    assert (writable / "y.log").read_text().strip() == str(uid)
    assert (writable / "y.log").stat().st_uid == uid
    assert not (protected / "x.log").exists()


def test_json_logs_are_parsed(zei_run):
    lines = [
        '{"level":"warn","msg":"cache miss","key":"k1"}',
        '{"severity":"ERROR","message":"boom","code":500}',
        '{"lvl":"debug","msg":"detail"}',
        '{"level":30,"msg":"pino info"}',
        "plain text line",
    ]
    script = "; ".join(f"echo '{ln}'" for ln in lines)
    z = zei_run(f"""
services:
  app:
    command: {q("sh", "-c", script)}
    json_logs: true
""")
    z.wait_log(r"^app\[warn\] cache miss key=k1$")
    z.wait_log(r"^app\[error\] boom code=500$")
    z.wait_log(r"^app\[debug\] detail$")
    z.wait_log(r"^app\[info\] pino info$")
    z.wait_log(r"^app\[out\] plain text line$")


def test_zei_log_format_json(zei_run):
    cmd = q("sh", "-c", "echo hello; echo '{\"level\":\"warn\",\"msg\":\"w\",\"k\":1}'")
    z = zei_run(f"""
services:
  app:
    command: {cmd}
    json_logs: true
""", env={"ZEI_LOG_FORMAT": "json"})
    z.wait_log(r"app: exited|\"msg\": \"exited")
    z.wait_log(r'"msg": "hello"')
    records = [json.loads(line) for line in z.log().splitlines() if line.strip()]
    hello = [r for r in records if r.get("msg") == "hello"][0]
    assert hello["source"] == "app" and hello["stream"] == "stdout" and hello["level"] == "info"
    warn = [r for r in records if r.get("msg") == "w"][0]
    assert warn["level"] == "warn" and warn["k"] == 1
    started = [r for r in records if r.get("service") == "app" and "started" in r["msg"]]
    assert started and started[0]["source"] == "zei"
