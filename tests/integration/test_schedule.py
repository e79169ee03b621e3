"""A cron-scheduled oneshot with zei as PID 1: not run at boot, `status` shows the next run
(the next whole minute, in TZ's local time), and it runs once at that minute."""
import json
import time
from datetime import datetime
from zoneinfo import ZoneInfo

from conftest import q

CONFIG = f"""
services:
  job:
    command: {q("sh", "-c", "echo tick")}
    oneshot: true
    schedule: "* * * * *"
"""


def test_a_cron_job_waits_for_its_minute_then_runs_once(zei_run):
    if time.time() % 60 > 55:                 # not across a minute boundary: boot and status agree
        time.sleep(61 - time.time() % 60)
    start = time.time()
    z = zei_run(CONFIG, env={"TZ": "Europe/Berlin"})
    z.wait_log(r"job: next run at ")
    r = json.loads(z.cli("status", "job", "--json").stdout)["services"][0]
    assert r["state"] == "scheduled" and r["schedule"] == "* * * * *"
    due = datetime.fromisoformat(r["next_run"])
    assert due.second == 0 and due.utcoffset() == datetime.now(ZoneInfo("Europe/Berlin")).utcoffset()
    assert due.timestamp() == (start // 60 + 1) * 60          # the next whole minute
    assert 0 < r["next_in"] <= 60
    assert "job: started" not in z.log()
    assert f"next run:   {r['next_run']}" in z.cli("status", "job").stdout
    z.wait_log(r"job\[out\] tick", timeout=r["next_in"] + 5)
    assert time.time() >= due.timestamp()
    z.wait_log(r"job: next run at ")
    r = json.loads(z.cli("status", "job", "--json").stdout)["services"][0]
    assert r["state"] == "scheduled" and r["runs"] == 1
    assert datetime.fromisoformat(r["next_run"]).timestamp() == due.timestamp() + 60
    assert z.log().count("job[out] tick") == 1
