"""The Bench: trials, rounds and phases; it holds every sample and failure of a run.

A trial is one Launch (one init as PID 1 of a fresh namespace) given to a scenario's
function; any error it raises is recorded as that trial's failure (no sample) and the
namespace is always killed. rounds() runs one unrecorded warm-up trial, then every init once
per round with the order rotating, so no init always goes first. The pseudo-init FLOOR (the
same work with no init) takes a turn in a phase's rotation when the phase names it in
`among` and zei is among the inits. The phases are the scenario modules' PHASES, in order;
--only skips those whose groups it does not name.
"""
from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from bench import FLOOR, INITS, BenchError
from bench.launch import Launch, file_id, resolve_zei
from bench.metrics import METRICS
from bench.proc import loadavg, now
from bench.scenarios import PHASES


class Bench:
    def __init__(self, params, inits, only, verbose=True):
        self.p, self.inits, self.only, self.verbose = params, inits, only, verbose
        self.zei = resolve_zei()
        self.work = Path(tempfile.mkdtemp(prefix="zei-bench-"))
        self.work.chmod(0o755)
        if self.zei["binary"]:
            # Measure a private copy: other people rebuild dist/zei while a run goes on.
            exe = shutil.which(self.zei["argv"][0])
            copy = self.work / "zei"
            shutil.copy2(exe, copy)
            copy.chmod(0o755)
            self.zei["argv"] = [str(copy), *self.zei["argv"][1:]]
            self.zei["binary"] = file_id(str(copy)).replace(str(copy), f"copy of {exe}", 1)
        self.live = []
        self.samples = {k: {} for k in METRICS}
        self.failures = {}       # metric group -> init -> [messages]
        self.warming = False
        self.loads = {}          # phase -> 1-minute load average at its end

    def say(self, msg):
        if self.verbose:
            print(msg, flush=True)

    def add(self, key, init, value):
        if not self.warming:
            self.samples[key].setdefault(init, []).append(value)

    def fail(self, group, init, msg):
        if self.warming:
            msg = "(warm-up trial, not counted) " + msg
        else:
            self.failures.setdefault(group, {}).setdefault(init, []).append(msg)
        self.say(f"  ! {group} {init}: {msg}")

    def order(self, rnd, among=INITS):
        floor = (FLOOR,) if "zei" in self.inits else ()
        inits = [i for i in (*self.inits, *floor) if i in among]
        k = rnd % len(inits) if inits else 0
        return inits[k:] + inits[:k]

    def rounds(self, count, group, fn, among=INITS, show=None):
        """One unrecorded warm-up trial (whoever goes first would otherwise pay for cold
        caches), then `count` rounds of fn(launch, init), every init once per round, the
        order rotating from round to round."""
        first = self.order(0, among)
        if not first:
            return
        self.warm_up(group, first[0], fn)
        for rnd in range(count):
            for init in self.order(rnd, among):
                self.trial(group, init, fn)
            if show:
                self.say(f"   round {rnd + 1}: " + ", ".join(
                    f"{i} {v[-1]:.0f}ms" for i, v in self.samples[show].items() if v))

    def warm_up(self, group, init, fn):
        """One trial whose samples are not recorded (cold caches; failures are only shown)."""
        self.warming = True
        try:
            self.trial(group, init, fn)
        finally:
            self.warming = False

    def last(self, key, init="zei", f="{:.3g}"):
        """The last sample of key for init, formatted, for the progress lines."""
        xs = self.samples[key].get(init)
        return f.format(xs[-1]) if xs else "failed"

    def trial(self, group, init, fn):
        """Run fn(launch) on a new Launch; any error is recorded, the namespace always killed."""
        launch = Launch(self, init)
        try:
            fn(launch, init)
        except (BenchError, OSError, subprocess.SubprocessError) as e:
            tail = launch.log().strip().splitlines()[-5:]
            self.fail(group, init, f"{e}" + (f" | init output: {' / '.join(tail)}" if tail else ""))
        finally:
            launch.stop()

    def run(self):
        try:
            for groups, fn in PHASES:
                if self.only and not groups & self.only:
                    continue
                t0 = now()
                self.say(f"== {fn.__doc__.strip()}")
                fn(self)
                self.loads[fn.__doc__.split()[0]] = loadavg()[0]
                self.say(f"   ({now() - t0:.1f}s, load average {self.loads[fn.__doc__.split()[0]]:.2f})")
        finally:
            for launch in list(self.live):
                launch.stop()
            shutil.rmtree(self.work, ignore_errors=True)
