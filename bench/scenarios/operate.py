"""Operating it (B12, zei only): `zei logs` against `zei list`, what full log rings cost
PID 1 in memory, and `zei reload` of 200 services with one changed.

The rings are filled by bench.rings' writers; memory is read once every writer reported
`done` and PID 1 went quiet, and some rings are read back in full to check they are full and
within their budget. A reload rewrites the config with one service's command changed and
checks, from `status --json` before and after, that exactly that service got a new pid.
"""
from __future__ import annotations

import shlex
import statistics

from bench import BenchError
from bench import rings
from bench.launch import Svc, sleeper
from bench.proc import poll_until, settle, smaps_rollup


def phase_ops(b):
    """B12 operating it: logs, full rings, reload (zei only)"""
    if "zei" not in b.inits:
        b.say("   zei is not among --inits: nothing to measure")
        return
    last = b.last
    b.anon = {}                              # Anonymous: of the round's two readings

    def warm_then(count, fn):                # one unrecorded trial, then count of them
        b.warm_up("B12", "zei", fn)
        for _ in range(count):
            b.trial("B12", "zei", fn)
    warm_then(b.p["ops_cli_rounds"], lambda lc, init: ops_cli_trial(b, lc, init))
    b.say(f"   logs -n 100 {last('B12.logs')} ms, list {last('B12.list')} ms, "
          f"ratio {last('B12.ratio')} (last trial)")
    for rnd in range(b.p["ops_mem_rounds"]):
        b.trial("B12", "zei", lambda lc, init: ops_mem_trial(b, lc, True))
        b.trial("B12", "zei", lambda lc, init: ops_mem_trial(b, lc, False))
        full, idle = b.samples["B12.rss_full"].get("zei"), b.samples["B12.rss_idle"].get("zei")
        if full and idle and len(full) == len(idle) == rnd + 1:
            b.add("B12.buffers", "zei", b.anon.pop("full") - b.anon.pop("idle"))
        b.say(f"   K={b.p['ops_k']} round {rnd + 1}: RSS full {last('B12.rss_full')} MiB "
              f"(PSS {last('B12.pss_full')}), idle {last('B12.rss_idle')} MiB "
              f"(PSS {last('B12.pss_idle')}), ring held {last('B12.held')} KiB")
    warm_then(b.p["reload_rounds"], lambda lc, init: ops_reload_trial(b, lc, init))
    b.say(f"   reload of {b.p['ops_k']} with one changed: {last('B12.reload')} ms (last)")


def ops_cli_trial(b, lc, init):
    fill, _ = rings.fill_file(lc, "fill", 300 * 100)
    names = [f"s{i}" for i in range(6)]
    lc.start([rings.writer(lc.events.path, nm, fill) for nm in names])
    lc.events.take("done ", len(names), timeout=30)   # take() drops the `up` lines before
    for nm in names:                          # every service's output is in its ring
        poll_until(lambda nm=nm: (rings.ring(lc, nm, 1) or [{}])[-1].get("msg") == f"END {nm}",
                   10, f"{nm}'s END line in zei logs", interval=0.01)
    settle(lc.pid1)
    logs, lists = [], []
    for _ in range(b.p["ops_cli_per_round"]):
        t, rc, out, err = lc.zei("logs", "-n", "100")
        got = len(out.splitlines())
        if rc != 0 or got != 100:
            raise BenchError(f"zei logs -n 100 -> {rc}, {got} lines: {err[:300]!r}")
        logs.append(t * 1000)
        lists.append(lc.cli() * 1000)
    for x, y in zip(logs, lists):
        b.add("B12.logs", "zei", x)
        b.add("B12.list", "zei", y)
    b.add("B12.ratio", "zei", statistics.median(logs) / statistics.median(lists))


def ops_mem_trial(b, lc, full):
    k = b.p["ops_k"]
    names = [f"s{i}" for i in range(k)]
    if full:
        lc.start(rings.overfull_writers(lc, names))
        got = lc.events.take("done ", k, timeout=120)   # take() drops the `up` lines before
        last_done = got[-1][0].split()[1]
        if not settle(lc.pid1, timeout=30):
            raise BenchError("PID 1 never went quiet for 100 ms after every service's output")
        for nm in sorted(set(names[::20] + [last_done])):
            b.add("B12.held", "zei", rings.check_full(lc, nm, k) / 1024)
        settle(lc.pid1)
    else:
        lc.start([sleeper(lc.events.path, nm) for nm in names])
        lc.wait_up(timeout=60)
        settle(lc.pid1)
    rss, pss = smaps_rollup(lc.pid1)
    tag = "full" if full else "idle"
    b.anon[tag] = smaps_rollup(lc.pid1, "Anonymous")
    b.add(f"B12.rss_{tag}", "zei", rss)
    b.add(f"B12.pss_{tag}", "zei", pss)


def ops_reload_trial(b, lc, init):
    k = b.p["ops_k"]
    q = shlex.quote
    fifo = lc.events.path

    def svc(i, gen=0):
        pre = f": gen {gen}; " if gen else ""
        return Svc(f"s{i}", ["/bin/sh", "-c", f"{pre}echo up s{i} >{q(fifo)}; exec sleep infinity"])
    svcs = [svc(i) for i in range(k)]
    lc.start(svcs)
    lc.wait_up(timeout=60)
    settle(lc.pid1)
    for n in range(b.p["reload_per_round"]):
        j = (n * 37 + 11) % k
        before = {r["name"]: r for r in lc.status()}
        svcs[j] = svc(j, n + 1)
        lc.write_zei_config(svcs)
        t, rc, out, err = lc.zei("reload")
        if rc != 0 or "1 change(s)" not in out or f"s{j}: restarted" not in out:
            raise BenchError(f"zei reload -> {rc}: {out[:300]!r} {err[:300]!r}")
        lc.events.take(f"up s{j}", timeout=10)
        after = {r["name"]: r for r in lc.status()}
        changed = sorted(nm for nm in before if before[nm].get("pid") != (after.get(nm) or {}).get("pid"))
        bad = [nm for nm, r in after.items() if nm != f"s{j}" and
               (r.get("state") != "running" or r.get("runs") != 1)]
        b.add("B12.reload_changed", "zei", len(changed))
        if set(after) != set(before) or bad or changed != [f"s{j}"]:
            raise BenchError(f"reload changing s{j}: pids changed for {changed[:5]} "
                             f"({len(changed)}), not running or restarted: {bad[:5]}")
        b.add("B12.reload", "zei", t * 1000)
        settle(lc.pid1)


PHASES = [({"B12"}, phase_ops)]
