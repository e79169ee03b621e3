"""Health checks and readiness in the real image, judged from outside: the engine's own
health status on `/zei ready` (a Dockerfile HEALTHCHECK), zei restarting a service that
turned unhealthy, docs/kubernetes.md's Pod manifest played by `podman kube play`, and
READY=1 reaching the engine's NOTIFY_SOCKET (`--sdnotify=container`).

No timer runs the engine's health checks here (podman runs them from systemd timers, and
there is no systemd): the tests run them with `podman healthcheck run CONTAINER`, one
check per call, and read the verdict with `inspect`.
"""
import copy
import json
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

import pytest
import yaml

import images as images_mod
from engine import ROOT
from harness import Container, poll_until, q, sh

DOC = ROOT / "docs" / "kubernetes.md"
# What docs/kubernetes.md gives a Dockerfile, with the suite's own short timing.
HEALTHCHECK = 'HEALTHCHECK --interval=1s --timeout=5s --retries=2 CMD ["/zei", "ready"]'
podman_only = pytest.mark.skipif(os.environ.get("E2E_ENGINE", "podman") != "podman",
                                 reason="podman kube play / --sdnotify are podman's")


@pytest.fixture(scope="module")
def derived(engine, images):
    return images_mod.ensure_health_images(engine, HEALTHCHECK, images["services"])


@pytest.fixture
def own(request):
    """Containers a test starts itself (not through the `zei` fixture): logs printed when
    the test fails, removed afterwards."""
    started = []
    yield started
    rep = getattr(request.node, "rep_call", None)
    for c in started:
        if rep is not None and rep.failed:
            print(f"\n---- log of {c.name} ----\n{c.logs()}")
        c.remove()


# ---- helpers -----------------------------------------------------------------------------
def ready(c, *names):
    """`zei ready [NAME...]` inside the container: (exit code, stdout + stderr)."""
    r = c.zei("ready", *names)
    return r.returncode, (r.stdout + r.stderr).strip()


def wait_ready(c, *names, timeout=20):
    return poll_until(lambda: ready(c, *names)[0] == 0 or None, timeout, 0.2,
                      what=f"zei ready {' '.join(names)}".strip())


def wait_not_ready(c, pattern, *names, timeout=20):
    """Poll `zei ready` until it fails with a line matching `pattern`; that line."""
    seen = {}

    def hit():
        code, text = seen["last"] = ready(c, *names)
        return text if code == 1 and re.search(pattern, text) else None
    try:
        return poll_until(hit, timeout, 0.2, what=pattern)
    except AssertionError:
        raise AssertionError(f"zei ready never said {pattern!r}; last: {seen.get('last')}") from None


def engine_health(c):
    """One engine health check (podman: `podman healthcheck run`; docker runs its own on
    the interval), then the engine's view: (exit code of the run or None, .State.Health)."""
    code = None
    if c.engine.name == "podman":
        code = c.engine.run("healthcheck", "run", c.id, check=False, timeout=60).returncode
    return code, json.loads(c.inspect("{{json .State.Health}}"))


def wait_engine_health(c, status, timeout=20):
    seen = {}

    def hit():
        code, h = seen["last"] = engine_health(c)
        return (code, h) if h.get("Status") == status else None
    try:
        return poll_until(hit, timeout, 0.2, what=f"engine health {status}")
    except AssertionError:
        raise AssertionError(f"the engine never said {status}; last: {seen.get('last')}") from None


def wait_restarted(c, name, old_pid, timeout=20):
    """Poll `zei status NAME --json` until the service runs again, as another process,
    and is healthy; its row."""
    def again():
        row = c.status_json(name)[name]
        return row if row["pid"] not in (None, old_pid) and row["health"]["status"] == "healthy" else None
    return poll_until(again, timeout, 0.2, what=f"{name} restarted and healthy again")


def list_rows(c):
    """`zei list` as {name: (state, health)}."""
    out = c.zei("list").stdout
    return {m.group(1): (m.group(2), m.group(3))
            for m in re.finditer(r"^(\S+)\s+(\S+)\s+(not ready|\S+)\s", out, re.M)
            if m.group(1) != "NAME"}


# ---- a Dockerfile HEALTHCHECK on /zei ready ---------------------------------------------
READY_CONFIG = f"""
shutdown_timeout: 5s
services:
  db:
    command: [probe]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/db-ok"]
      interval: 1s
      start_period: 120s
      start_interval: 300ms
  api:
    command: {sh("until [ -f /tmp/api-go ]; do sleep 0.1; done; echo listening on 127.0.0.1:8080; exec probe")}
    ready:
      log_line: "^listening on "
  app:
    command: [probe]
    depends_on:
      db: {{condition: service_healthy}}
"""


def test_the_engines_healthcheck_on_zei_ready_turns_healthy_once_every_service_is_ready(zei, derived):
    """The image's HEALTHCHECK CMD ["/zei", "ready"] (exec form, no shell in the image):
    unhealthy while db's check fails and while api has not logged its ready line, healthy
    once both are; zei's one-line reason is what the engine records."""
    c = zei(READY_CONFIG, image=derived["health"])
    assert json.loads(c.inspect("{{json .Config.Healthcheck}}"))["Test"] == ["CMD", "/zei", "ready"]
    line = wait_not_ready(c, r"last health check failed")
    assert line == "not ready: db is starting: last health check failed: exit code 1", line
    assert re.match(r"not ready: app is waiting", ready(c, "app")[1]), ready(c, "app")
    rows = list_rows(c)
    assert rows["db"] == ("running", "starting") and rows["api"] == ("running", "not ready"), rows
    assert rows["app"] == ("waiting", "-"), rows
    db = c.status_json("db")["db"]
    h = db["health"]
    assert (h["status"], h["kind"], h["target"]) == ("starting", "exec", "test -f /tmp/db-ok"), h
    assert h["failing_streak"] == 0 and h["in_start_period"] and h["checks"] >= 1, h   # not counted
    assert h["last"]["ok"] is False and h["last"]["exit_code"] == 1, h
    assert db["ready"] is False and db["not_ready"].startswith("db is starting"), db

    # The engine: its check fails (exit 1) and after `retries` of them it says unhealthy.
    code, health = wait_engine_health(c, "unhealthy")
    assert code in (1, None), code
    assert health["Log"][-1]["ExitCode"] == 1, health
    assert "not ready: db is starting: last health check failed" in health["Log"][-1]["Output"], health

    c.exec("touch", "/tmp/db-ok", user=0)
    c.wait_log(r"^zei\[info\] app: started \(pid \d+\)$")
    log = c.logs()
    assert log.index("db: healthy") < log.index("app: started"), log   # service_healthy
    line = wait_not_ready(c, r"api has not logged")
    assert re.fullmatch(r"not ready: api has not logged a line matching '\^listening on ' yet "
                        r"\(running for [\d.]+m?s\)", line), line
    wait_ready(c, "db", "app")
    assert ready(c, "db", "app") == (0, "ready: 2 service(s) ready")
    code, health = engine_health(c)
    assert code in (1, None) and health["Status"] == "unhealthy", (code, health)

    c.exec("touch", "/tmp/api-go", user=0)
    c.wait_log(r"^zei\[info\] api: ready \(log line\)$")
    c.wait_log(r"^zei\[info\] ready: 3 long-running service\(s\) ready$")
    assert ready(c) == (0, "ready: 3 service(s) ready")
    code, health = wait_engine_health(c, "healthy")
    assert code in (0, None) and health["FailingStreak"] == 0, (code, health)
    assert health["Log"][-1]["ExitCode"] == 0 and "ready: 3 service(s) ready" in health["Log"][-1]["Output"]
    rows = list_rows(c)
    assert rows == {"db": ("running", "healthy"), "api": ("running", "ready"), "app": ("running", "-")}, rows
    s = c.status_json()
    assert s["db"]["health"]["status"] == "healthy" and s["db"]["ready"] is True
    assert s["api"]["ready"] is True and s["api"]["not_ready"] is None and s["api"].get("health") is None


def test_docs_give_the_same_healthcheck_to_a_dockerfile_and_to_compose():
    text = DOC.read_text()
    line = re.search(r"^HEALTHCHECK .*$", text, re.M).group(0)
    assert line.endswith(' CMD ["/zei", "ready"]') and HEALTHCHECK.endswith(' CMD ["/zei", "ready"]'), line
    assert re.search(r'^\s+test: \["CMD", "/zei", "ready"\]$', text, re.M), "compose healthcheck"


# ---- zei restarts a service that turned unhealthy ---------------------------------------
WEB = sh("mkdir -p /tmp/www && echo ok > /tmp/www/health && exec httpd -f -p 127.0.0.1:8080 -h /tmp/www")


def test_a_service_that_turns_unhealthy_is_restarted_by_zei_and_the_log_says_why(zei):
    """busybox httpd with an http check on /health: the file removed (404), two failed
    checks make it unhealthy, zei stops it (SIGTERM) and starts it again (the new run
    writes the file again and is healthy). A tcp check on the same port stays healthy."""
    c = zei(f"""
services:
  web:
    command: {WEB}
    healthcheck:
      http: http://127.0.0.1:8080/health
      interval: 1s
      retries: 2
  side:
    command: [probe]
    depends_on:
      web: {{condition: service_healthy}}
    healthcheck:
      tcp: 127.0.0.1:8080
      interval: 1s
      on_unhealthy: none
""")
    c.wait_log(r"^zei\[info\] web: healthy$")
    c.wait_log(r"^zei\[info\] side: healthy$")
    wait_ready(c)
    web = c.status_json("web")["web"]
    old_pid, h = web["pid"], web["health"]
    assert web["restarts"] == 0 and web["runs"] == 1, web
    assert (h["status"], h["kind"], h["target"]) == ("healthy", "http", "http://127.0.0.1:8080/health"), h
    assert h["last"]["ok"] is True and h["last"]["output"] == "HTTP/1.1 200 OK", h
    assert c.status_json("side")["side"]["health"]["target"] == "127.0.0.1:8080"

    c.exec("rm", "/tmp/www/health", user=0)
    c.wait_log(r"^zei\[info\] web: health check failed \(1 of 2\): HTTP 404 Not Found$")
    c.wait_log(r"^zei\[warn\] web: unhealthy: 2 check\(s\) failed in a row; last: HTTP 404 Not Found; "
               r"restarting it$")
    c.wait_log(r"^zei\[info\] web: unhealthy: restarting in 1s \(restart 1\)$")

    web = wait_restarted(c, "web", old_pid)
    assert web["restarts"] == 1 and web["runs"] == 2 and web["state"] == "running", web
    assert web["last_exit"] is not None, web
    log = c.logs()
    assert re.search(rf"^zei\[info\] web: sending SIGTERM \(pid {old_pid}\)$", log, re.M), log
    assert re.search(rf"^zei\[info\] web: started \(pid {web['pid']}\)$", log, re.M), log
    assert log.index("restarting it") < log.index(f"started (pid {web['pid']})") \
        < log.rindex("web: healthy"), log
    assert re.search(r"^web\s+running\s+healthy\s+\d+\s+\S+\s+1\s", c.zei("list").stdout, re.M)
    wait_ready(c)
    assert c.status_json("side")["side"]["restarts"] == 0       # its own check, untouched


# ---- podman kube play: the manifest of docs/kubernetes.md -------------------------------
def doc_manifest():
    """The manifest docs/kubernetes.md gives (the yaml block after its `e2e:` marker)."""
    m = re.search(r"<!-- e2e: .*?-->\n```yaml\n(.*?)```", DOC.read_text(), re.S)
    assert m, "docs/kubernetes.md has no manifest after its <!-- e2e: ... --> marker"
    return m.group(1)


def seconds(text):
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s|m|h)?", str(text))
    return float(m.group(1)) * {"ms": 0.001, "s": 1, None: 1, "m": 60, "h": 3600}[m.group(2)]


def kube_manifest(image, services):
    """The doc's manifest with only its image and its config's services replaced."""
    docs = list(yaml.safe_load_all(doc_manifest()))
    kinds = [d["kind"] for d in docs]
    assert kinds == ["ConfigMap", "Pod"], kinds
    cm, pod = docs
    doc_config = yaml.safe_load(cm["data"]["zei.yaml"])
    cm["data"]["zei.yaml"] = f"shutdown_timeout: {doc_config['shutdown_timeout']}\n{services}"
    (ctr,) = pod["spec"]["containers"]
    ctr["image"] = image
    return cm, pod, doc_config, yaml.safe_dump_all(docs, sort_keys=False)


def test_the_docs_manifest_probes_zei_ready_and_outlasts_zeis_shutdown():
    cm, pod, config, _ = kube_manifest("x", "services: {}\n")
    (ctr,) = pod["spec"]["containers"]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert ctr[probe]["exec"]["command"][:2] == ["/zei", "ready"], (probe, ctr[probe])
    assert ctr["readinessProbe"]["exec"]["command"] == ["/zei", "ready"]      # no names: all
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    assert grace >= seconds(config["shutdown_timeout"]) + 3, (grace, config["shutdown_timeout"])
    # zei restarts an unhealthy web before the liveness probe gives up on the pod:
    web, live = config["services"]["web"], ctr["livenessProbe"]
    hc = web["healthcheck"]
    outage = seconds(web["stop_grace_period"]) + 1 + seconds(hc["start_period"]) + seconds(hc["interval"])
    assert (live["failureThreshold"] - 1) * live["periodSeconds"] > outage, (live, outage)
    assert live["failureThreshold"] * live["periodSeconds"] > outage + seconds(hc["interval"]) * hc["retries"]
    mount, volume = ctr["volumeMounts"][0], pod["spec"]["volumes"][0]
    assert mount["mountPath"] == "/etc/zei" and mount["name"] == volume["name"], (mount, volume)
    assert volume["configMap"]["name"] == cm["metadata"]["name"], volume


def test_the_docs_config_passes_zei_check(zei):
    """The ConfigMap's zei.yaml as the doc gives it, checked by the image's own zei."""
    text = next(yaml.safe_load_all(doc_manifest()))["data"]["zei.yaml"]
    c = zei(text, args=["check"])
    assert c.wait_exit(20) == 0, c.logs()
    assert "ok, 2 service(s): web, worker" in c.logs(), c.logs()


KUBE_SERVICES = f"""\
services:
  web:
    command: {WEB}
    healthcheck:
      http: http://127.0.0.1:8080/health
      interval: 1s
      retries: 2
  worker:
    command: {sh("echo worker started; exec probe")}
    ready:
      log_line: "worker started"
    depends_on:
      web: {{condition: service_healthy}}
"""


@podman_only
def test_podman_kube_play_of_the_docs_manifest(engine, derived, own):
    """The doc's Pod (with the `kube` image: podman runs the livenessProbe through /bin/sh)
    and a ConfigMap config: ready through `zei ready`, healthy as podman's liveness check
    sees it, an unhealthy service restarted by zei inside the pod, and a graceful stop with
    the manifest's terminationGracePeriodSeconds, as the kubelet gives it. (`podman kube
    down` alone would SIGKILL it: podman 4.3 stops the pod with a timeout of 0.)"""
    cm, pod, config, text = kube_manifest(derived["kube"], KUBE_SERVICES)
    pod_name, volume = pod["metadata"]["name"], cm["metadata"]["name"]
    grace = pod["spec"]["terminationGracePeriodSeconds"]
    work = Path(tempfile.mkdtemp(prefix="zei-e2e-kube-"))
    manifest = work / "pod.yaml"
    manifest.write_text(text)

    def clean():
        engine.run("pod", "rm", "-f", "-t", "0", pod_name, check=False, timeout=60)
        engine.run("volume", "rm", "-f", volume, check=False, timeout=60)
    clean()                                           # what an interrupted run left
    try:
        engine.run("kube", "play", "--network", "none", manifest, timeout=120)
        info = json.loads(engine.run("pod", "inspect", pod_name).stdout)
        (member,) = [x for x in info["Containers"] if x["Id"] != info["InfraContainerID"]]
        c = Container(engine, member["Id"], member["Name"], work)
        own.append(c)
        assert c.running()

        live = pod["spec"]["containers"][0]["livenessProbe"]
        hc = json.loads(c.inspect("{{json .Config.Healthcheck}}"))
        assert "/zei ready" in " ".join(hc["Test"]), hc                  # the livenessProbe
        assert hc["Interval"] == live["periodSeconds"] * 10**9 and hc["Retries"] == live["failureThreshold"], hc

        wait_ready(c)
        c.wait_log(r"^zei\[info\] ready: 2 long-running service\(s\) ready$")
        assert ready(c) == (0, "ready: 2 service(s) ready")
        code, health = engine_health(c)
        assert code == 0 and health["Status"] == "healthy", (code, health)

        old_pid = c.status_json("web")["web"]["pid"]
        c.exec("rm", "/tmp/www/health", user=0)
        c.wait_log(r"^zei\[warn\] web: unhealthy: 2 check\(s\) failed in a row; last: HTTP 404 Not Found; "
                   r"restarting it$")
        web = wait_restarted(c, "web", old_pid)
        assert web["restarts"] == 1, web
        wait_ready(c)
        code, health = engine_health(c)
        assert code == 0 and health["Status"] == "healthy", (code, health)
        assert c.inspect("{{.RestartCount}}") == "0"                       # zei did it, not podman

        r = engine.run("pod", "stop", "-t", grace, pod_name, timeout=grace + 60)
        assert r.returncode == 0
        assert c.exit_code() == 0
        log = c.logs()
        timeout = config["shutdown_timeout"]
        assert re.search(rf"^zei\[info\] received SIGTERM; stopping services \(timeout {timeout}\)$", log, re.M), log
        assert re.search(r"^worker\[out\] got SIGTERM from=1$", log, re.M), log
        assert re.search(r"^zei\[info\] all processes stopped; exiting with code 0$", log, re.M), log
        assert log.index("worker: stopped") < log.rindex("web: stopped"), log   # dependents first

        engine.run("kube", "down", manifest, timeout=120)
        assert engine.run("pod", "exists", pod_name, check=False).returncode == 1
    finally:
        clean()


# ---- READY=1 upward -----------------------------------------------------------------------
@podman_only
def test_ready_1_reaches_the_engines_notify_socket_once_every_service_is_ready(engine, images, own):
    """podman run --sdnotify=container with NOTIFY_SOCKET in podman's environment: podman
    passes a socket in, zei sends READY=1 when every long-running service is ready (not
    before) and keeps the socket from its services."""
    d = tempfile.mkdtemp(prefix="zei-e2e-notify-")
    path = os.path.join(d, "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        listener.bind(path)
        listener.setblocking(False)
        got = []

        def drain():
            while True:
                try:
                    got.append(listener.recv(4096))
                except BlockingIOError:
                    return any(b"READY=1" in m.split(b"\n") for m in got)
        notifying = copy.copy(engine)
        notifying.env = dict(engine.env, NOTIFY_SOCKET=path)
        c = Container.run(notifying, images["services"], f"""
services:
  db:
    command: [probe]
    healthcheck:
      test: ["CMD", "test", "-f", "/tmp/ok"]
      interval: 1s
      start_period: 120s
      start_interval: 300ms
  env:
    command: {q("sh", "-c", 'echo "NOTIFY_SOCKET=${NOTIFY_SOCKET-unset}"; exec probe')}
""", run_opts=["--sdnotify=container"], name_hint="sdnotify")
        c.engine = engine                   # later commands without NOTIFY_SOCKET
        own.append(c)
        assert any(e.startswith("NOTIFY_SOCKET=") for e in json.loads(c.inspect("{{json .Config.Env}}")))
        c.wait_log(r"^env\[out\] NOTIFY_SOCKET=unset$")
        wait_not_ready(c, r"db is starting: last health check failed")
        assert not drain(), got             # not ready: nothing said yet
        c.exec("touch", "/tmp/ok", user=0)
        poll_until(drain, 20, 0.1, what="READY=1 on the notify socket")
        assert "zei[info] ready: 2 long-running service(s) ready" in c.logs()
        assert ready(c) == (0, "ready: 2 service(s) ready")
    finally:
        listener.close()
        shutil.rmtree(d, ignore_errors=True)
