#!/usr/bin/python3
"""Issue #17's test (1) as one scheduled run through the CLI against a real server.

`marquee serve --scheduler` (a real process, its home in a temporary folder) serves recs v1, an
EASE model of the base data (tests/python/live_flows.py: even members like i0..i9, odd ones
i10..i19). Even members u0..u24 then play a new item, `new`, through /v1/events: v1 cannot show
it (it is not in v1's catalogue). A flow whose steps are snapshot -> train -> evaluate -> gate ->
shadow -> promote is scheduled with `marquee pipeline schedule --every 3s`; the server's
scheduler runs it on its own while simulated members ask for recommendations and go on to play
`new` (so the shadow step has live traffic followed by plays). The test then checks, through the
CLI and the server only:
  - `marquee pipeline status RUN --json`: every step of the scheduled run completed, the
    snapshot holds the base rows plus the logged events, the shadow step compared the two
    versions on at least 120 live requests and the candidate's online recall was higher;
  - a new version was promoted (the promote step's outputs, the registry's alias);
  - the next /v1/recommend for u50 (an even member who never played `new`) comes from v2 and
    holds `new`, which only the events introduced, while u0 (who played it) does not get it
    back: the posted play is excluded from their list.
Needs only the built `marquee`.
"""
import json
import os
import subprocess
import sys
import tempfile
import time

from checks import (check, failures, finish, post, server_url, stop_server,  # tests/python/
                    write)
from live_flows import (EASE_TOML, Members, check_completed_run, check_serves_new_version,
                        flow_toml, item_ids, new_item_events, write_base)

BIN = os.environ["MARQUEE_BIN"]


def marquee(home, *args, ok=True):
    r = subprocess.run([BIN, "--home", home, "-q", *args], capture_output=True, text=True,
                       timeout=300)
    if ok and r.returncode != 0:
        raise SystemExit(f"FAIL  marquee {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
    return r


def main():
    tmp = tempfile.mkdtemp(prefix="marquee-scheduled-")
    home = os.path.join(tmp, "home")
    data, rows = write_base(tmp)
    marquee(home, "dataset", "import", data, "--user-col", "member", "--item-col", "item",
            "--header", "--name", "base")
    marquee(home, "train", write(os.path.join(tmp, "ease.toml"), EASE_TOML))
    marquee(home, "models", "promote", "recs", "1", "--alias", "production")

    port_file = os.path.join(tmp, "port")
    log = open(os.path.join(tmp, "serve.log"), "w")
    server = subprocess.Popen([BIN, "--home", home, "serve", "--port", "0", "--port-file",
                               port_file, "--model", "recs@production", "--poll-interval", "0.5",
                               "--scheduler", "--scheduler-poll", "1s"],
                              stdout=log, stderr=subprocess.STDOUT)
    members = None
    try:
        url = server_url(port_file, server)
        check(url is not None, f"marquee serve --scheduler is ready at {url}")
        if url is None:
            return finish()

        # Even members u0..u24 start playing a new item: v1 cannot show it.
        events = new_item_events()
        status, body = post(url + "/v1/events", {"events": events})
        check(status == 200 and body == {"accepted": len(events)},
              f"{len(events)} plays of `new` logged ({status} {body})")
        status, before = post(url + "/v1/recommend",
                              {"model": "recs@production", "user": "u50", "k": 10})
        check(status == 200 and before.get("version") == 1 and "new" not in item_ids(before),
              f"before the pipeline: u50 gets v1 without `new` ({before})")

        flow = write(os.path.join(tmp, "fresh.toml"), flow_toml(url))
        r = marquee(home, "pipeline", "schedule", flow, "--every", "3s", "--json")
        sched = json.loads(r.stdout)
        check(sched["every_s"] == 3 and sched["pipeline"] == "fresh",
              f"schedule {sched['id']}: every 3 s ({r.stdout.strip()})")
        members = Members(url)
        members.start()

        # The scheduler starts the run on its own; the schedule is then removed so that it runs
        # once (the next run would be due 3 s after this one started).
        run_id, deadline = 0, time.monotonic() + 60
        while time.monotonic() < deadline and not run_id:
            runs = json.loads(marquee(home, "pipeline", "status", "--json").stdout)
            run_id = runs[0]["pipeline_run"] if runs else 0
            time.sleep(0.3)
        check(run_id > 0, f"the scheduler started pipeline run {run_id} by itself")
        if not run_id:
            return finish()
        marquee(home, "pipeline", "schedule", "--remove", str(sched["id"]))

        run, deadline = {}, time.monotonic() + 300
        while time.monotonic() < deadline:
            run = json.loads(marquee(home, "pipeline", "status", str(run_id), "--json").stdout)
            if run["state"] != "running":
                break
            time.sleep(0.5)
        members.stop()
        check(members.errors == 0 and members.requests > 0, f"members: {members.summary()}")
        check_completed_run(check, run, len(rows), len(events))
        shadow = next((s for s in run.get("steps", []) if s["name"] == "shadow"), {})
        requests = (shadow.get("outputs", {}).get("shadow", {}).get("metrics") or {}).get(
            "requests", 0)
        check(requests >= 120, f"the shadow step waited for 120 shadowed requests ({requests})")
        runs = json.loads(marquee(home, "pipeline", "status", "--json").stdout)
        check(len(runs) == 1, f"the schedule ran once: {len(runs)} pipeline runs")
        show = json.loads(marquee(home, "models", "show", "recs", "--json").stdout)
        check(show.get("aliases", {}).get("production") == 2,
              f"the registry's production alias names v2 ({show.get('aliases')})")
        # The server follows the alias at its next poll; the next answers come from v2.
        check_serves_new_version(check, url, "the server")
    finally:
        if members is not None and members.is_alive():
            members.stop()
        stop_server(server)
        log.close()
        if failures:  # the server's log (the scheduler's lines among them) says why
            print(open(os.path.join(tmp, "serve.log")).read()[-4000:])
    return finish()


if __name__ == "__main__":
    sys.exit(main())
