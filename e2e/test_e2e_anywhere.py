"""zei anywhere, judged from outside: under another init (`run --init`: catatonit is PID 1),
in a Pod's shared PID namespace (`podman kube play`, `shareProcessNamespace: true`: pause is
PID 1), without root (`--security-opt no-new-privileges`, `--cap-drop ALL`, the image's
nonroot USER), in command mode (an image with `ENTRYPOINT ["/zei", "--"]`, a drop-in for
tini) and on a terminal (`run -it` under a pty, Ctrl-C).

Processes are read from /proc through `exec`; signals come from the engine (`stop`,
`kill --signal`) or from the terminal.
"""
import json
import os
import re
import tempfile
from pathlib import Path

import pytest
import yaml

import images as images_mod
from engine import LABEL
from harness import Container, Terminal, fields, poll_until, sh

APP = 65532                      # the image's USER (nonroot)
ALICE = 1001
podman_only = pytest.mark.skipif(os.environ.get("E2E_ENGINE", "podman") != "podman",
                                 reason="podman kube play is podman's")


@pytest.fixture(scope="module")
def derived(engine, images):
    return images_mod.ensure_anywhere_images(engine, images["services"])


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
SUBREAPER = (r"^zei\[info\] not PID 1: a child subreaper \(orphans of the services are reaped here; "
             r"shutdown signals only zei's own descendants\)$")

# `orphans` leaves a probe behind (a long-lived orphan: its parent subshell exits at once)
# and then, every 50 ms, a child that exits at once: short-lived orphans, zombies until
# someone reaps them.
ORPHANS = sh("(probe &); i=0; while :; do (sleep 0.01 &); i=$((i+1)); "
             "[ $((i % 10)) = 0 ] && echo made $i; sleep 0.05; done")
ORPHANS_CONFIG = f"""
shutdown_timeout: 5s
services:
  orphans:
    command: {ORPHANS}
"""


def zei_pid(c):
    """The pid of the one zei process in the container's PID namespace."""
    (pid,) = [p for p, s in c.proc_stats().items() if s["comm"] == "zei"]
    return pid


def wait_orphans_reaped(c, zpid):
    """zei (pid `zpid`, not 1) adopted and reaps the orphans: the orphaned probe is its
    child, short-lived orphans were reaped by it (its debug log), and /proc shows no
    zombie. Returns the orphaned probe's pid."""
    c.wait_log(r"^orphans\[out\] made 30$")
    c.wait_log(r"reaped orphan pid \d+", count=15)

    group = c.status_json("orphans")["orphans"]["pid"]       # the service's process group

    def adopted():
        procs = c.proc_stats()
        probes = [p for p, s in procs.items() if s["comm"] == "probe" and s["pgrp"] == group]
        return probes[0] if len(probes) == 1 and procs[probes[0]]["ppid"] == zpid else None
    orphan = poll_until(adopted, 10, 0.1, "the orphaned probe reparented to zei")

    def clean():
        procs = c.proc_stats()
        return not [p for p, s in procs.items() if s["state"] == "Z"]
    poll_until(clean, 10, 0.1, "a /proc snapshot without zombies")
    assert c.status_json("orphans")["orphans"]["state"] == "running"
    return orphan


def assert_graceful(c, took, limit, timeout="5s"):
    assert c.exit_code() == 0 and took < limit, (c.exit_code(), took)
    log = c.logs()
    assert re.search(rf"^zei\[info\] received SIGTERM; stopping services \(timeout {timeout}\)$", log, re.M), log
    assert re.search(r"^zei\[info\] all processes stopped; exiting with code 0$", log, re.M), log
    assert "SIGKILL" not in log, log


def run_fg(engine, image, *args, opts=(), config=None, timeout=60):
    """`run --rm IMAGE ARGS` in the foreground, as a user types it: CompletedProcess."""
    argv = ["run", "--rm", "--label", LABEL, "--network", "none", *opts]
    if config is not None:
        argv += ["-v", f"{config}:/etc/zei/zei.yaml:ro"]
    return engine.run(*argv, image, *args, check=False, timeout=timeout)


# ---- under another init: `run --init` --------------------------------------------------
@pytest.mark.parametrize("user", [None, 0], ids=["image-user", "root"])
def test_under_run_init_zei_is_a_subreaper_reaps_orphans_and_stops_gracefully(zei, user):
    """`run --init` (podman's catatonit, docker's tini) is PID 1 and zei its child: zei
    says it is a child subreaper, orphans of its service become zei's children and are
    reaped (no zombies), and `stop` (SIGTERM to the init, which passes it on to zei) ends
    everything gracefully, the orphan too. As the image's USER and as root."""
    c = zei(ORPHANS_CONFIG, run_opts=["--init"], user=user, env={"ZEI_LOG_LEVEL": "debug"})
    c.wait_log(SUBREAPER)
    procs = c.proc_stats()
    zpid = zei_pid(c)
    assert zpid != 1 and procs[1]["comm"] != "zei" and procs[zpid]["ppid"] == 1, procs   # the init's child
    orphan = wait_orphans_reaped(c, zpid)
    ids = {p: c.proc_status(p)["Uid"].split() for p in (1, zpid)}        # for the message below
    took = c.stop(5)
    assert c.exit_code() == 0 and took < 3, (
        f"stop took {took:.1f}s, exit code {c.exit_code()}; Uid (real, effective, saved, fs) of "
        f"the init (PID 1): {ids[1]}, of zei (pid {zpid}): {ids[zpid]}")
    assert_graceful(c, took, 3)
    c.wait_log(rf"^orphans\[out\] got SIGTERM from={zpid}$")           # zei's own descendant
    assert orphan


# ---- a shared PID namespace: podman kube play, shareProcessNamespace ---------------------
@podman_only
def test_kube_play_with_share_process_namespace_zei_supervises_under_pause(engine, images, own):
    """A Pod with `shareProcessNamespace: true`: the infra container's pause (catatonit -P)
    is PID 1 of the pod's namespace, zei a child subreaper beside it. zei supervises and
    reaps the orphans of its services, and the container stops gracefully, as the kubelet
    stops a pod: its containers first (SIGTERM, terminationGracePeriodSeconds), the sandbox
    last. (podman 4.3's `pod stop` signals the infra container in parallel with the others:
    pause exits at once, and the kernel SIGKILLs every process of the namespace when its
    PID 1 dies; `kube down` SIGKILLs at once. Hence `stop` of the container first.)"""
    pod_name = f"zei-e2e-shared-{os.getpid()}"
    volume = f"{pod_name}-config"
    grace = 10
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": volume},
          "data": {"zei.yaml": ORPHANS_CONFIG.lstrip() + "  web:\n    command: [probe]\n"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": pod_name},
           "spec": {"shareProcessNamespace": True,
                    "terminationGracePeriodSeconds": grace,
                    "containers": [{"name": "app", "image": images["services"],
                                    "env": [{"name": "ZEI_LOG_LEVEL", "value": "debug"}],
                                    "volumeMounts": [{"name": "config", "mountPath": "/etc/zei"}]}],
                    "volumes": [{"name": "config", "configMap": {"name": volume}}]}}
    work = Path(tempfile.mkdtemp(prefix="zei-e2e-shared-"))
    manifest = work / "pod.yaml"
    manifest.write_text(yaml.safe_dump_all([cm, pod], sort_keys=False))

    def clean():
        engine.run("pod", "rm", "-f", "-t", "0", pod_name, check=False, timeout=60)
        engine.run("volume", "rm", "-f", volume, check=False, timeout=60)
    clean()
    try:
        engine.run("kube", "play", "--network", "none", manifest, timeout=120)
        info = json.loads(engine.run("pod", "inspect", pod_name).stdout)
        assert "pid" in info["SharedNamespaces"], info["SharedNamespaces"]
        (member,) = [x for x in info["Containers"] if x["Id"] != info["InfraContainerID"]]
        c = Container(engine, member["Id"], member["Name"], work)
        own.append(c)

        c.wait_log(SUBREAPER)
        c.wait_log(r"^web\[out\] waiting$")
        procs = c.proc_stats()
        zpid = zei_pid(c)
        assert zpid != 1 and procs[1]["comm"] == "catatonit", procs        # pause is PID 1
        assert procs[zpid]["ppid"] == 0, procs[zpid]      # started from outside the namespace
        orphan = wait_orphans_reaped(c, zpid)
        web = c.status_json("web")["web"]
        assert web["state"] == "running" and procs[web["pid"]]["ppid"] == zpid, (web, procs)
        assert re.search(r"^web\s+running\s", c.zei("list").stdout, re.M)

        took = c.stop(grace)                              # the kubelet: containers first
        assert_graceful(c, took, 3)
        c.wait_log(rf"^orphans\[out\] got SIGTERM from={zpid}$")
        c.wait_log(rf"^web\[out\] got SIGTERM from={zpid}$")
        assert orphan
        engine.run("pod", "stop", "-t", grace, pod_name, timeout=grace + 60)   # then the sandbox
        engine.run("kube", "down", manifest, timeout=120)
        assert engine.run("pod", "exists", pod_name, check=False).returncode == 1
    except BaseException:
        if own:
            print(f"\n---- log of {own[0].name} ----\n{own[0].logs()}")
        raise
    finally:
        clean()


# ---- without root: no-new-privileges, every capability dropped ---------------------------
NO_ROOT = [
    pytest.param(["--security-opt", "no-new-privileges"], "no-new-privileges is set", id="no-new-privileges"),
    pytest.param(["--cap-drop", "ALL"], "capabilities dropped: no CAP_SETUID, CAP_SETGID, CAP_KILL",
                 id="cap-drop-all"),
    pytest.param(["--security-opt", "no-new-privileges", "--cap-drop", "ALL"], "no-new-privileges is set",
                 id="both"),
]
REFUSED = """\
services:
  web:
    command: [probe]
  other:
    command: [probe]
    user: alice
"""


@pytest.mark.parametrize("opts,why", NO_ROOT)
def test_without_root_services_run_as_the_images_user_and_another_user_is_a_config_error(zei, engine, images,
                                                                                         opts, why):
    """The image's USER (65532) where the suid bit cannot act: a service without `user`
    runs as 65532, the control socket falls back to /tmp/zei-65532 and `exec /zei list`
    finds it; a config with `user: alice` is refused with file:line before anything starts
    (exit 2), and `zei check` says the same."""
    c = zei("shutdown_timeout: 5s\nservices:\n  web:\n    command: [probe]\n", run_opts=opts)
    f = fields(c.wait_log(r"^web\[out\] (ready .*)$")[0])
    assert f["uid"] == f"{APP}/{APP}/{APP}/{APP}" and f["gid"] == f"{APP}/{APP}/{APP}/{APP}", f
    assert f["groups"] == str(APP) and f["user"] == "nonroot", f
    c.wait_log(rf"^zei\[info\] control socket /tmp/zei-{APP}/zei\.sock \(the fallback: cannot set up the "
               rf"control socket /run/zei/zei\.sock: Permission denied\)$")
    c.wait_log(rf"running as uid {APP} without privileges \({re.escape(why)}\): services run as uid {APP} "
               rf"gid {APP} only$")
    st = c.proc_status(1)
    assert st["Uid"].split() == [str(APP)] * 4 and int(st["CapEff"], 16) == 0, st
    if "no-new-privileges" in opts:
        assert st["NoNewPrivs"].strip() == "1", st
    assert c.exec("stat", "-c", "%u %a", f"/tmp/zei-{APP}").stdout.split() == [str(APP), "700"]
    r = c.zei("list")
    assert r.returncode == 0 and re.search(r"^web\s+running\s", r.stdout, re.M), r.stdout + r.stderr
    r = c.zei("status", "web")
    assert r.returncode == 0 and "  user:       nonroot (zei's own)\n" in r.stdout, r.stdout + r.stderr
    took = c.stop(10)
    assert_graceful(c, took, 3)

    bad = zei(REFUSED, run_opts=opts)
    assert bad.wait_exit(20) == 2
    line = (f"/etc/zei/zei.yaml:6: services.other.user: zei runs as uid {APP} without privileges ({why}): "
            f"it can run services only as uid {APP}, not as 'alice' (uid {ALICE})")
    log = bad.logs()
    assert f"zei[error] {line}\n" in log, log
    assert "zei[error] 1 problem(s) in /etc/zei/zei.yaml; nothing started" in log, log
    assert "[out]" not in log and "started (pid" not in log, log
    r = run_fg(engine, images["services"], "check", opts=opts, config=bad.config_dir / "zei.yaml")
    assert r.returncode == 1 and r.stderr.splitlines()[0] == line, (r.returncode, r.stdout, r.stderr)


# ---- command mode: ENTRYPOINT ["/zei", "--"] ----------------------------------------------
def test_command_mode_passes_on_the_commands_exit_code(engine, derived):
    """`run IMAGE sh -c 'exit 7'` exits 7, a signal death 128+N, a command that cannot
    start 127, as with tini."""
    image = derived["cmd"]
    r = run_fg(engine, image, "sh", "-c", "exit 7")
    assert r.returncode == 7, (r.returncode, r.stdout, r.stderr)
    r = run_fg(engine, image, "sh", "-c", "kill -SEGV $$")
    assert r.returncode == 128 + 11, (r.returncode, r.stdout, r.stderr)
    r = run_fg(engine, image, "no-such-command-zei")
    assert r.returncode == 127 and 'exec "no-such-command-zei"' in r.stdout + r.stderr, (r.stdout, r.stderr)
    r = engine.run("run", "--rm", "-i", "--label", LABEL, "--network", "none", image, "cat",
                   input="typed\n", check=False, timeout=60)
    assert r.returncode == 0 and "typed\n" in r.stdout.splitlines(True), (r.stdout, r.stderr)   # stdin


def test_command_mode_stdout_is_the_commands_alone(engine, derived):
    """As with tini, `run IMAGE CMD > file` gets CMD's output and nothing else: zei's own
    lines must not land in the command's stdout (`run IMAGE pg_dump > dump.sql`)."""
    r = run_fg(engine, derived["cmd"], "sh", "-c", "echo out; echo err >&2")
    assert r.returncode == 0
    assert "err\n" in r.stderr.splitlines(True), r.stderr
    assert r.stdout == "out\n", f"stdout of `run IMAGE sh -c 'echo out'` is not just 'out':\n{r.stdout}"


def test_command_mode_stop_ends_sleep_at_once_with_143(zei, derived):
    """`run -d IMAGE sleep 1000`: zei is PID 1, `sleep` its service `main` (`zei list`
    shows it); `stop` passes SIGTERM on to sleep, which dies of it: the container exits
    143 (128+15, as with tini) at once, not after the stop timeout."""
    c = zei(image=derived["cmd"], args=["sleep", "1000"], env={"ZEI_LOG_LEVEL": "info"})
    c.wait_log(r"^zei\[info\] main: started \(pid \d+\)$")
    procs = c.proc_stats()
    assert procs[1]["comm"] == "zei", procs
    (sleep,) = [p for p, s in procs.items() if s["comm"] == "sleep"]
    assert procs[sleep]["ppid"] == 1 and c.proc_status(sleep)["Uid"].split() == [str(APP)] * 4
    r = c.zei("list")
    assert r.returncode == 0 and re.search(rf"^main\s+running\s+-\s+{sleep}\s", r.stdout, re.M), r.stdout
    took = c.stop(10)
    assert c.exit_code() == 143 and took < 3, (c.exit_code(), took)
    log = c.logs()
    assert re.search(r"^zei\[info\] main: stopped \(killed by SIGTERM\)$", log, re.M), log
    assert "SIGKILL" not in log, log


def test_command_mode_forwards_signals_to_main_and_term_is_its_stop(zei, derived):
    """`kill --signal USR1|HUP|WINCH` (to PID 1, zei) reaches `main` (a busybox sh trap
    echoes them, untagged); `stop` passes SIGTERM on as main's stop: its trap exits 0,
    and so does the container."""
    c = zei(image=derived["cmd"], args=["sh", "-c",
            "for s in USR1 HUP WINCH; do trap \"echo got $s\" $s; done; "
            "trap 'echo got TERM; exit 0' TERM; echo main-ready; while :; do sleep 0.05; done"])
    c.wait_log(r"^main-ready$")
    for sig in ("USR1", "HUP", "WINCH"):
        c.kill(sig)
        c.wait_log(rf"^got {sig}$")
    took = c.stop(10)
    assert c.exit_code() == 0 and took < 3, (c.exit_code(), took)
    log = c.logs()
    assert re.findall(r"^got (\w+)$", log, re.M) == ["USR1", "HUP", "WINCH", "TERM"], log
    assert "main[" not in log, log                                     # untagged


# ---- on a terminal: run -it, Ctrl-C ----------------------------------------------------
def test_run_it_under_a_pty_the_shell_gets_the_terminal_and_ctrl_c(engine, derived, own):
    """`run -it --rm IMAGE sh` at a terminal: typed input reaches the shell, `sleep 100`
    runs as the terminal's foreground process group (zei is not), Ctrl-C ends it with 130
    and zei is not disturbed, and `exit 5` makes the engine exit 5."""
    name = f"zei-e2e-tty-{os.getpid()}"
    own.append(Container(engine, name, name, Path(tempfile.mkdtemp(prefix="zei-e2e-tty-"))))
    t = Terminal(engine, "run", "-it", "--rm", "--name", name, "--label", LABEL, "--network", "none",
                 derived["cmd"], "sh")
    c = own[0]
    try:
        t.read_until(r"\$ ")                                       # the prompt
        t.write(b"echo typed-$((20+1))\n")
        t.read_until(r"typed-21")

        def foreground_sleep():
            procs = c.proc_stats()
            for p, s in procs.items():
                if s["comm"] == "sleep" and s["pgrp"] == s["tpgid"]:
                    return p, procs
            return None
        t.write(b"sleep 100\n")
        sleep, procs = poll_until(foreground_sleep, 15, 0.1, "sleep 100 in the terminal's foreground")
        assert procs[1]["comm"] == "zei" and procs[1]["pgrp"] != procs[sleep]["tpgid"], procs
        t.write(b"\x03")                                          # Ctrl-C: for sleep, not zei
        poll_until(lambda: sleep not in c.proc_stats(), 10, 0.1, "sleep to end")
        t.write(b"echo after=$?\n")
        t.read_until(r"after=130")
        assert "received SIGINT" not in t.text(), t.text()
        t.write(b"exit 5\n")
        assert t.wait(20) == 5, t.text()
    finally:
        t.close()
