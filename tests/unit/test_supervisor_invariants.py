"""Invariants of the core over random event histories (hypothesis).

A fake world answers the supervisor: Spawn becomes spawned() with a fresh pid (or
spawn_failed() when the history says so); Kill with SIGTERM ends a process unless it is
stubborn, SIGKILL always does, and the death is delivered later as exited(). Random
histories mix natural exits, timers, control requests and signals, and every history ends
in a shutdown that must reach Exit after finitely many events.

Checked after every event (see fakes.FakeShell.check and below): a service never has two
live pids; no Spawn for a service whose process is alive; state, pid and the pid index
agree with the world; a deadline only exists in a state that uses it; after tick(now) no
deadline is left at or before `now` (the loop would spin); no Spawn once shutdown began;
during shutdown a service gets SIGTERM only when none of its dependents is alive; every
control request is answered by the time zei exits; the exit code is 1 exactly when
SIGKILL was needed.
"""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fakes import FakeShell, spec, supervisor
from zei.core.actions import Kill, KillAll, Spawn
from zei.core.supervisor import SIGHUP, SIGINT, SIGKILL, SIGTERM, SIGUSR1

MAX_SHUTDOWN_STEPS = 200


@st.composite
def configs(draw):
    n = draw(st.integers(1, 5))
    specs = []
    for i in range(n):
        oneshot = draw(st.booleans())
        earlier = [s.name for s in specs]
        specs.append(spec(
            f"s{i}",
            restart=draw(st.sampled_from(["always", "on-failure", "never"])),
            max_restarts=draw(st.integers(0, 3)),
            restart_delay=draw(st.sampled_from([0.1, 1.0, 4.0])),
            oneshot=oneshot,
            interval=draw(st.sampled_from([None, 3.0])) if oneshot else None,
            depends_on=tuple(draw(st.lists(st.sampled_from(earlier), unique=True, max_size=2)))
            if earlier else (),
        ))
    specs = draw(st.permutations(specs))            # file order need not be dependency order
    timeout = draw(st.sampled_from([0.5, 5.0, 30.0]))
    stubborn = draw(st.sets(st.sampled_from([s.name for s in specs])))
    return specs, timeout, stubborn


class World(FakeShell):
    """FakeShell plus processes that die of the signals they are sent."""

    def __init__(self, sup, stubborn):
        super().__init__(sup)
        self.stubborn = stubborn           # services whose processes ignore SIGTERM
        self.stubborn_orphans = set()
        self.doomed = {}                   # pid -> signal that will end it
        self.tokens = set()
        self.sigkill_in_shutdown = False

    def run(self, actions):
        was_shutting_down = self.sup.shutting_down
        done = super().run(actions)
        for a in done:
            if isinstance(a, Spawn):
                assert not was_shutting_down and not self.sup.shutting_down, "Spawn during shutdown"
            elif isinstance(a, Kill):
                assert self.live.get(a.pid) == a.name, f"{a} targets a pid that is not {a.name}'s"
                if a.sig == SIGKILL or (a.sig == SIGTERM and a.name not in self.stubborn):
                    self.doomed.setdefault(a.pid, a.sig)
                if a.sig == SIGKILL and self.sup.shutting_down:   # a grace ran out during shutdown
                    self.sigkill_in_shutdown = True
            elif isinstance(a, KillAll):
                if self.sup.shutting_down and a.sig == SIGKILL:
                    self.sigkill_in_shutdown = True
                for pid in self.orphans:
                    if a.sig == SIGKILL or pid not in self.stubborn_orphans:
                        self.doomed.setdefault(pid, a.sig)
        return done

    def die(self, pid):
        sig = self.doomed.pop(pid)
        if pid in self.orphans:
            return self.orphan_exit(pid)
        return self.exit(self.live[pid], None, sig)

    def tick_to(self, t):
        out = self.advance(t)
        deadline = self.sup.next_deadline()
        assert deadline is None or deadline > self.now, \
            f"after tick({self.now}) a deadline is still due: {deadline}"
        return out

    def check_shutdown_order(self, out):
        for a in out:
            if isinstance(a, Kill) and a.sig == SIGTERM and self.sup.shutting_down:
                for dependent in self.sup.dependents[a.name]:
                    assert dependent not in self.live.values(), \
                        f"{a.name} got SIGTERM while its dependent {dependent} is alive"


events = st.one_of(
    st.tuples(st.just("exit"), st.integers(0, 50), st.sampled_from([(0, None), (1, None), (None, 9)])),
    st.tuples(st.just("die"), st.integers(0, 50)),
    st.tuples(st.just("wait"), st.sampled_from([0.05, 0.5, 2.0, 10.0, "deadline"])),
    st.tuples(st.just("control"), st.sampled_from(["start", "stop", "restart", "send"]),
              st.integers(0, 4)),
    st.tuples(st.just("signal"), st.sampled_from([SIGHUP, SIGUSR1, SIGTERM, SIGINT])),
    st.tuples(st.just("fail_next_spawn"), st.integers(0, 4)),
    st.tuples(st.just("orphan"), st.booleans()),
)


def apply(world, event, n):
    kind = event[0]
    names = list(world.sup.services)
    if kind == "exit" and world.live:
        pids = sorted(world.live)
        pid = pids[event[1] % len(pids)]
        world.doomed.pop(pid, None)
        world.exit(world.live[pid], *event[2])
    elif kind == "die" and world.doomed:
        pids = sorted(world.doomed)
        world.die(pids[event[1] % len(pids)])
    elif kind == "wait":
        deadline = world.sup.next_deadline()
        if event[1] == "deadline":
            if deadline is not None:
                world.tick_to(max(world.now, deadline))
        else:
            world.tick_to(world.now + event[1])
    elif kind == "control":
        verb, name = event[1], names[event[2] % len(names)]
        token = f"t{n}"
        world.tokens.add(token)
        if verb == "send":
            world.control("send", name, token, SIGUSR1)
        else:
            world.control(verb, name, token)
    elif kind == "signal":
        out = world.signal(event[1])
        world.check_shutdown_order(out)
    elif kind == "fail_next_spawn":
        world.fail_next_spawn[names[event[1] % len(names)]] = "exec: No such file or directory"
    elif kind == "orphan":
        pid = world.next_pid
        world.next_pid += 1
        world.orphans.add(pid)
        if event[1]:
            world.stubborn_orphans.add(pid)


def shut_down(world):
    """SIGTERM (if no shutdown yet), then let the world run until zei exits."""
    if not world.sup.shutting_down:
        world.check_shutdown_order(world.signal(SIGTERM))
    for _ in range(MAX_SHUTDOWN_STEPS):
        if world.exit_code is not None:
            break
        if world.doomed:
            world.check_shutdown_order(world.die(min(world.doomed)))
            continue
        deadline = world.sup.next_deadline()
        assert deadline is not None, \
            f"shutdown stuck: nothing will die and no deadline (live {world.live}, orphans {world.orphans})"
        world.check_shutdown_order(world.tick_to(max(world.now, deadline)))
    assert world.exit_code is not None, "shutdown did not end in Exit"
    assert world.exit_code == (1 if world.sigkill_in_shutdown else 0)
    assert world.tokens <= set(world.replies), f"unanswered requests: {world.tokens - set(world.replies)}"
    assert world.sup.next_deadline() is None


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(configs(), st.lists(events, max_size=60))
def test_invariants_hold_and_shutdown_terminates(setup, history):
    specs, timeout, stubborn = setup
    world = World(supervisor(*specs, shutdown_timeout=timeout), stubborn)
    world.boot()
    for n, event in enumerate(history):
        apply(world, event, n)
        if world.exit_code is not None:
            break
    shut_down(world)


@settings(max_examples=200, deadline=None)
@given(configs())
def test_shutdown_right_after_boot_terminates(setup):
    specs, timeout, stubborn = setup
    world = World(supervisor(*specs, shutdown_timeout=timeout), stubborn)
    world.boot()
    shut_down(world)
    if not stubborn:
        assert world.exit_code == 0
