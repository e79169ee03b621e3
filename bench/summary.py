"""Statistics of a run's samples, the targets zei is held to, and smoke's correctness checks.

summarize() gives each (metric, init) its n, median, p90, p99, min and max (percentiles by
linear interpolation between order statistics). evaluate_targets() turns the summary into
rows (metric, target, verdict, what was measured): 'met', 'missed', or 'n/a' when the run has
no sample for it (never a pass). smoke_defects() lists what makes `--smoke` fail: a failed
trial, a metric of a group that ran with no sample, a wrong exit code, lost or torn lines.
"""
from __future__ import annotations

import math
import statistics

from bench import FLOOR
from bench.metrics import METRICS


def pct(xs, p):
    s = sorted(xs)
    if not s:
        return None
    k = (len(s) - 1) * p / 100
    lo = math.floor(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def summarize(samples):
    out = {}
    for key, per in samples.items():
        out[key] = {}
        for init, xs in per.items():
            if not xs:
                continue
            out[key][init] = dict(n=len(xs), median=statistics.median(xs), p90=pct(xs, 90),
                                  p99=pct(xs, 99), min=min(xs), max=max(xs))
    return out


def med(summary, key, init):
    s = summary.get(key, {}).get(init)
    return None if s is None else s["median"]


def ratio(summary, key, peer):
    z, p = med(summary, key, "zei"), med(summary, key, peer)
    if z is None or p is None:
        return None
    if p == 0:
        return 1.0 if z == 0 else math.inf
    return z / p


def evaluate_targets(summary, params):
    """[(metric, target text, verdict 'met'|'missed'|'n/a', measured text)]"""
    out = []

    def add(metric, text, ok, measured):
        out.append((metric, text, "n/a" if ok is None else ("met" if ok else "missed"), measured))

    def fmt(v, unit=""):
        return "—" if v is None else (f"{v:,.0f}" if abs(v) >= 1000 else f"{v:.3g}") + unit
    z = lambda key, stat="median": (summary.get(key, {}).get("zei") or {}).get(stat)  # noqa: E731
    f = lambda key, stat="median": (summary.get(key, {}).get(FLOOR) or {}).get(stat)  # noqa: E731
    v = z("B1")
    add("B1", f"0 context switches in {params['idle_window']:g} s idle", None if v is None else v == 0, fmt(v))
    v, hi = z("B1.full"), z("B1.full", "max")
    add("B1", "0 context switches idle with every log ring full (K=6)", None if v is None else hi == 0,
        f"{fmt(v)} (worst window {fmt(hi)})")
    v, p = z("B2.rss"), z("B2.pss")
    add("B2", "RSS ≤ 12 MiB and PSS ≤ 10 MiB (K=6)", None if v is None or p is None else v <= 12 and p <= 10,
        f"RSS {fmt(v, ' MiB')}, PSS {fmt(p, ' MiB')}; after 3 CLI calls RSS "
        f"{fmt(z('B2.rss_used'), ' MiB')}, PSS {fmt(z('B2.pss_used'), ' MiB')}")
    v, fl = z("B3"), f("B3.floor")
    add("B3", "startup (K=6) ≤ the no-init floor + 25 ms", None if v is None or fl is None else v <= fl + 25,
        f"{fmt(v, ' ms')} vs floor {fmt(fl, ' ms')} (+{fmt(None if v is None or fl is None else v - fl, ' ms')})")
    r = ratio(summary, "B4", "tini")
    left = z("B4.left", "max")
    add("B4", "reap storm ≤ 1.5× tini, none left", None if r is None else (r <= 1.5 and not left),
        f"{fmt(r, '×')} tini ({fmt(z('B4'), ' ms')} vs {fmt(med(summary, 'B4', 'tini'), ' ms')}), left {fmt(left)}")
    v = z("B5", "p99")
    add("B5", "signal forwarding p99 ≤ 2 ms", None if v is None else v <= 2.0,
        f"p99 {fmt(v, ' ms')}, median {fmt(z('B5'), ' ms')}")
    v, c = z("B7.coop"), z("B7.coop_exit", "max")
    add("B7", "cooperative shutdown ≤ 100 ms, exit 0", None if v is None else (v <= 100 and c == 0),
        f"{fmt(v, ' ms')}, exit {fmt(c)}")
    d = params["ignore_deadline"] * 1000
    lo, hi = z("B7.ignore", "min"), z("B7.ignore", "max")
    add("B7", f"TERM-ignoring service: deadline ({d:.0f} ms) respected",
        None if lo is None else (d <= lo and hi <= d + 500),
        f"{fmt(lo, ' ms')} … {fmt(hi, ' ms')}, exit {fmt(z('B7.ignore_exit', 'max'))}")
    r = ratio(summary, "B8", "supervisord")
    add("B8", "CLI round trip ≤ 0.10× supervisorctl", None if r is None else r <= 0.10,
        f"{fmt(r, '×')} ({fmt(z('B8'), ' ms')} vs {fmt(med(summary, 'B8', 'supervisord'), ' ms')})")
    v, fl = z("B8"), f("B8.floor")
    r = None if v is None or not fl else v / fl
    add("B8", "CLI round trip ≤ 2× the python floor (`python3 -I -S -c pass`, same trials)",
        None if r is None else r <= 2, f"{fmt(r, '×')} ({fmt(v, ' ms')} vs {fmt(fl, ' ms')})")
    v = z("B9.start")
    add("B9", f"K={params['scale_k']} startup ≤ 1 s", None if v is None else v <= 1000, fmt(v, " ms"))
    v = z("B9.rss")
    add("B9", f"K={params['scale_k']} RSS ≤ 14 MiB", None if v is None else v <= 14, fmt(v, " MiB"))
    best = max((med(summary, "B10.rate", p) or 0 for p in ("tini", "dumb-init")), default=0)
    v = z("B10.rate")
    lost = z("B10.lost", "max")
    torn = z("B10.torn", "max")
    ok = None if v is None or not best else (v >= 0.5 * best and lost == 0 and torn == 0)
    add("B10", "log throughput ≥ 0.5× direct (the faster of tini/dumb-init), 0 lost, 0 torn", ok,
        f"{fmt(v / best if v and best else None, '×')} of the faster of tini/dumb-init; "
        f"lost {fmt(lost)}, torn {fmt(torn)}")
    # B11, from the health-check issue: zei only
    v, hi = z("B11.exec"), z("B11.exec", "max")
    add("B11", "PID 1 CPU ≤ 3 ms per exec check", None if v is None else v <= 3,
        f"{fmt(v, ' ms')} (worst trial {fmt(hi, ' ms')}; the check process itself "
        f"{fmt(z('B11.exec_child'), ' ms')})")
    for kind in ("tcp", "http"):
        v, hi = z(f"B11.{kind}"), z(f"B11.{kind}", "max")
        add("B11", f"PID 1 CPU ≤ 0.5 ms per {kind} check", None if v is None else v <= 0.5,
            f"{fmt(v, ' ms')} (worst trial {fmt(hi, ' ms')})")
    v, hi = z("B11.cpu50"), z("B11.cpu50", "max")
    add("B11", f"{params.get('health50_k', 50)} services, exec check every 1 s: PID 1 < 10 % of one core",
        None if v is None else v < 10,
        f"{fmt(v, ' %')} (worst trial {fmt(hi, ' %')}; {fmt(z('B11.rate50'), ' checks/s')})")
    # B12, from issue 13: zei only; its bound is the README's 16 MiB of lines
    k = params.get("ops_k", 200)
    v, hi = z("B12.buffers"), z("B12.buffers", "max")
    add("B12", f"{k} full log rings cost PID 1 ≤ 16 MiB of memory (the rings' bound)", None if v is None else hi <= 16,
        f"{fmt(v, ' MiB')} (worst round {fmt(hi, ' MiB')}; RSS {fmt(z('B12.rss_full'), ' MiB')} full vs "
        f"{fmt(z('B12.rss_idle'), ' MiB')} idle)")
    lo, hi = z("B12.reload_changed", "min"), z("B12.reload_changed", "max")
    add("B12", f"reload of {k} services with one changed restarts exactly that one",
        None if lo is None else lo == hi == 1,
        f"{fmt(z('B12.reload'), ' ms')}; pids changed per reload: {fmt(lo)} … {fmt(hi)}")
    # B13, from issue 14: command mode passes on its command's status (no timing target)
    c, c7 = z("B13.exit"), z("B13.exit7")
    add("B13", "command mode: `zei -- true` exits 0, `zei -- sh -c 'exit 7'` exits 7",
        None if c is None or c7 is None else z("B13.exit", "max") == z("B13.exit", "min") == 0
        and z("B13.exit7", "max") == z("B13.exit7", "min") == 7,
        f"{fmt(z('B13'), ' ms')} (floor {fmt(f('B13.floor'), ' ms')}, tini "
        f"{fmt(med(summary, 'B13', 'tini'), ' ms')}); exit {fmt(c)}, exit 7 → {fmt(c7)}")
    return out


def smoke_defects(res, inits, params):
    bad = []
    s = res["summary"]
    judged = (*inits, FLOOR) if "zei" in inits else inits     # floors run with zei
    for group, per in res.get("failures", {}).items():
        for init, msgs in per.items():
            if init in judged:
                bad.append(f"{group} {init}: {msgs[0]}")

    def zs(key):
        return (s.get(key) or {}).get("zei")
    if "zei" in inits:
        for key, (_, _, among, _) in METRICS.items():
            who = FLOOR if among == (FLOOR,) else "zei"
            if res["ran"].get(key.split(".")[0]) and not (s.get(key) or {}).get(who):
                bad.append(f"{key}: no sample for {who}")
        if zs("B7.coop_exit") and zs("B7.coop_exit")["max"] != 0:
            bad.append("B7: zei's cooperative shutdown did not exit 0")
        if zs("B7.ignore_exit") and zs("B7.ignore_exit")["max"] != 1:
            bad.append("B7: zei did not exit 1 after SIGKILLing the TERM-ignoring service")
        if zs("B7.ignore") and zs("B7.ignore")["min"] < params["ignore_deadline"] * 1000:
            bad.append("B7: zei exited before its shutdown deadline")
        for key in ("B10.lost", "B10.torn", "B4.left"):
            if zs(key) and zs(key)["max"] != 0:
                bad.append(f"{key}: zei {zs(key)['max']}")
        for key, want in (("B13.exit", 0), ("B13.exit7", 7)):
            x = zs(key)
            if x and not x["min"] == x["max"] == want:
                bad.append(f"{key}: zei's command mode exited {x['min']:g} … {x['max']:g}, not {want}")
        x = zs("B12.reload_changed")
        if x and not x["min"] == x["max"] == 1:
            bad.append(f"B12: a reload with one service changed changed {x['min']:g} … {x['max']:g} pids")
    for init in inits:
        for key in ("B10.lost", "B10.torn"):
            x = (s.get(key) or {}).get(init)
            if init in ("tini", "dumb-init", "catatonit") and x and x["max"]:
                bad.append(f"{key}: {init} {x['max']} (the harness's reader is broken)")
    return bad
