"""zei.shell.reloader without a fork: refusals, and the child's outcomes as actions (issue 13)."""
from __future__ import annotations

from types import SimpleNamespace

from fakes import spec, supervisor
from zei.core import model
from zei.core.actions import Reply
from zei.shell.reloader import Reloader


def reloader(path="/etc/zei/zei.yaml", reader=lambda *a: {}):
    sup = supervisor(spec("web"))
    return Reloader(SimpleNamespace(sup=sup, config=sup.config), path, reader), sup


def test_problems_are_every_problem_and_nothing_changes():
    r, sup = reloader()
    out = r.answer({"problems": ["z.yaml:3: services.web: unknown key 'bogus'",
                                 "z.yaml:7: services.x: restart: 'sometimes'"]}, "t", 0.0)
    reply = [a for a in out if isinstance(a, Reply)][0]
    assert reply.payload["ok"] is False and reply.payload["code"] == "invalid-config"
    assert len(reply.payload["problems"]) == 2 and "nothing changed" in reply.payload["error"]
    assert sup.reload_job is None and sup.config.services[0].name == "web"


def test_unreadable_changes_nothing():
    r, sup = reloader()
    out = r.answer({"unreadable": "Permission denied"}, "t", 0.0)
    assert out[-1].payload["code"] == "unreadable" and "Permission denied" in out[-1].payload["error"]


def test_a_valid_config_goes_to_the_supervisor():
    r, sup = reloader()
    cfg = model.Config(path="/etc/zei/zei.yaml", services=(spec("web"),), shutdown_timeout=10.0)
    out = r.answer({"config": model.to_json(cfg)}, "t", 0.0)
    assert out[-1] == Reply("t", {"ok": True, "message": "reloaded: no changes", "changes": [],
                                  "changed": [], "added": [], "removed": []})


def test_refused_without_a_config_file_or_during_shutdown():
    r, sup = reloader(path="(no config)")
    assert "without a config file" in r.request("t")[0].payload["error"]
    r, sup = reloader()
    sup.shutdown(0.0, "test")
    assert "shutting down" in r.request("t")[0].payload["error"]
    assert r.pid is None and not r.busy
