"""The command line of scripts/bench (and `python3 -m bench`): parse, run, write, judge.

A run: ensure the peers are installed (Debian packages), run the Bench, summarize, merge into
the previous results when --only/--inits restricted it, evaluate the targets, write the JSON,
the plot and the document, print the targets; with --smoke also list the defects and exit 1
if there is any. --report only rewrites the document (and plot) from an existing JSON.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

from bench import __doc__ as USAGE
from bench import DOC, INITS, RESULTS, ROOT, SMOKE_DIR
from bench.launch import resolve_zei
from bench.metrics import FULL, GROUPS, SMOKE
from bench.proc import loadavg, now
from bench.report import git_head, machine, merge_results, plot_svg, provenance, render_doc, versions
from bench.runner import Bench
from bench.summary import evaluate_targets, smoke_defects, summarize


def main():
    ap = argparse.ArgumentParser(description=USAGE.split("\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny sizes, correctness only")
    ap.add_argument("--report", action="store_true", help="only regenerate the doc from --out")
    ap.add_argument("--only", help="comma-separated metric groups, e.g. B4,B10 or B11 (" + ",".join(GROUPS)
                    + "); a full run merges them into the existing results (see --no-merge)")
    ap.add_argument("--inits", help="comma-separated subset of " + ",".join(INITS))
    ap.add_argument("--rounds", type=int, help="override every *_rounds count")
    ap.add_argument("--out", help=f"results JSON (default {RESULTS.relative_to(ROOT)}; smoke: .cache/bench/)")
    ap.add_argument("--doc", help=f"markdown to write (default {DOC.relative_to(ROOT)}; smoke: .cache/bench/)")
    ap.add_argument("--no-merge", action="store_true",
                    help="with --only/--inits: write this run alone instead of merging it into --out")
    args = ap.parse_args()
    out = Path(args.out) if args.out else (SMOKE_DIR / "smoke.json" if args.smoke else RESULTS)
    doc = Path(args.doc) if args.doc else (SMOKE_DIR / "smoke.md" if args.smoke else DOC)
    if args.report:
        res = json.loads(out.read_text())
        res["summary"] = summarize(res["samples"])
        res["targets"] = evaluate_targets(res["summary"], res["params"])
        plot = out.with_suffix(".svg") if res["meta"]["mode"] == "full" else None
        if plot is not None:
            plot_svg(res, plot)
        doc.write_text(render_doc(res, doc, plot))
        print(f"wrote {doc}")
        return 0
    if os.geteuid() != 0:
        print("bench: needs root (unshare --pid, reading other processes' /proc)", file=sys.stderr)
        return 2
    subprocess.run([str(ROOT / "scripts" / "ensure-apt"), "tini", "dumb-init", "catatonit",
                    "supervisor", "util-linux"], check=True)
    params = dict(SMOKE if args.smoke else FULL)
    if args.rounds:
        params.update({k: args.rounds for k in params if k.endswith("_rounds")})
    inits = tuple(i for i in INITS if not args.inits or i in args.inits.split(","))
    only = set(args.only.split(",")) if args.only else None
    if only and only - set(GROUPS):
        print(f"bench: unknown group(s) {', '.join(sorted(only - set(GROUPS)))}; groups: {', '.join(GROUPS)}",
              file=sys.stderr)
        return 2
    bench = Bench(params, inits, only)
    z = dict(bench.zei)
    if z["binary"]:
        z["argv"] = [shutil.which(resolve_zei()["argv"][0]), *z["argv"][1:]]   # report the real path
    print(f"bench: zei under test: {z['form']}: {' '.join(z['argv'])} ({z['origin']})")
    print(f"bench: {'smoke' if args.smoke else 'full'} run; inits {', '.join(inits)}; "
          f"load average {loadavg()[0]:.2f} on {os.cpu_count()} cores", flush=True)
    t0, load0 = now(), loadavg()
    start = datetime.datetime.now(datetime.timezone.utc)
    vers = versions(bench.zei)                  # before the run: the copy goes with the work dir
    bench.run()
    load1 = loadavg()
    samples = {k: v for k, v in bench.samples.items() if v}
    ran = {g: True for g in GROUPS if not only or g in only}
    res = dict(meta=dict(date=start.strftime("%Y-%m-%d %H:%M UTC"), duration_s=round(now() - t0, 1),
                         mode="smoke" if args.smoke else "full", machine=machine(),
                         versions=vers, zei={k: z[k] for k in ("argv", "origin", "form", "binary")},
                         git=git_head(), load_before=load0, load_after=load1, load_phases=bench.loads,
                         shared_machine=max([load0[0], load1[0], *bench.loads.values()]) > 0.5),
               params=params, ran=ran, samples=samples, summary=summarize(samples),
               failures=bench.failures)
    res["provenance"] = {"this run": provenance(res["meta"]), **{g: provenance(res["meta"]) for g in ran}}
    partial = only or set(inits) != set(INITS)
    if partial and not args.smoke and not args.no_merge and out.exists():
        try:
            prev = json.loads(out.read_text())
        except ValueError:
            prev = None
        if prev and prev.get("meta", {}).get("mode") == "full":
            res = merge_results(prev, res, inits)
            print(f"bench: merged into {out}: kept " + (", ".join(
                g for g in GROUPS if res["provenance"].get(g) != res["provenance"]["this run"]) or "nothing")
                + " from the previous results")
    res["targets"] = evaluate_targets(res["summary"], res["params"])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(res, indent=1) + "\n")
    plot = None if args.smoke else out.with_suffix(".svg")
    if plot is not None and plot_svg(res, plot):
        print(f"bench: wrote {plot}")
    doc.parent.mkdir(parents=True, exist_ok=True)
    doc.write_text(render_doc(res, doc, plot))
    print(f"bench: wrote {out} and {doc} in {now() - t0:.0f}s")
    for metric, text, verdict, measured in res["targets"]:
        print(f"  {metric:4} {verdict:7} {text}: {measured}")
    if args.smoke:
        bad = smoke_defects(res, inits, params)
        for b in bad:
            print(f"bench-smoke: DEFECT {b}", file=sys.stderr)
        print(f"bench-smoke: {'FAILED' if bad else 'ok'} ({len(bad)} defect(s)); correctness only, "
              "timings are not judged")
        return 1 if bad else 0
    return 0
