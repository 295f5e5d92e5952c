#!/usr/bin/python3
"""Issue #17's flows against a cluster (ctest label `cluster`): scripts/cluster's PostgreSQL,
Redis, two `marquee serve` replicas and nginx. Skips (exit 77) with the reason where
PostgreSQL, Redis or nginx is absent, or where this build has no Redis online state.

The same story as tests/python/test_pipeline_scheduled.py (tests/python/live_flows.py): the
trainer's home (the PostgreSQL registry, the shared artifacts, Redis as online state) trains and
promotes recs v1, which both replicas serve; even members play a new item through replica 0;
`marquee pipeline run` on the trainer's home runs snapshot -> train -> evaluate -> gate ->
shadow -> promote with the flow's server URL on nginx, while simulated members send traffic
through nginx. Checks:
  - the snapshot step read the events from Redis (the trainer's home has no event log of its
    own, yet the snapshot holds every event posted to the replicas);
  - the pipeline's records are in the PostgreSQL registry: a replica's home (another home on the
    same registry) shows the same run with `marquee pipeline status`;
  - both replicas shadowed the candidate (each scored requests with it), and the shadow step's
    online recall, which reads the members' plays from Redis, favours the candidate;
  - v2 is promoted and both replicas, asked directly, serve it: u50 gets `new`, u0 does not.
"""
import json
import os
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_cluster import cluster, prepare  # noqa: E402  (scripts/cluster, loaded once)
from checks import check, finish, get_json, post, write  # noqa: E402  (tests/python/checks.py)
from live_flows import (EASE_TOML, Members, check_completed_run,  # noqa: E402
                        check_serves_new_version, flow_toml, new_item_events, write_base)


def cli(state, *args, home=None, timeout=300):
    return subprocess.run([state["marquee"], "--home", home or state["trainer_home"], "-q",
                           *args], capture_output=True, text=True, timeout=timeout)


def all_serve(state, version, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        served = []
        for r in state["replicas"]:
            status, body = post(r["url"] + "/v1/recommend",
                                {"model": "recs@production", "user": "u1", "k": 5})
            served.append(body.get("version") if status == 200 else None)
        if served == [version] * len(served):
            return True
        time.sleep(0.1)
    return False


def run_flow(state, tmp):
    trainer = state["trainer_home"]
    data, rows = write_base(tmp)
    r = cli(state, "dataset", "import", data, "--user-col", "member", "--item-col", "item",
            "--header", "--name", "base")
    check(r.returncode == 0, f"dataset import on the trainer's home ({r.stderr.strip()[-300:]})")
    config = write(os.path.join(tmp, "ease.toml"), EASE_TOML)
    r = cli(state, "train", config)
    check(r.returncode == 0, f"train recs v1 into PostgreSQL ({r.stderr.strip()[-300:]})")
    r = cli(state, "models", "promote", "recs", "1", "--alias", "production")
    check(r.returncode == 0, f"promote v1 ({r.stderr.strip()[-300:]})")
    check(all_serve(state, 1, 30), "both replicas serve v1")

    a = state["replicas"][0]["url"]
    events = new_item_events()
    status, body = post(a + "/v1/events", {"events": events})
    check(status == 200, f"{len(events)} plays of `new` posted through replica 0 ({status} {body})")

    nginx = state["nginx"]["url"]
    flow = write(os.path.join(tmp, "fresh.toml"), flow_toml(nginx, min_requests=60,
                                                           min_with_plays=20))
    members = Members(nginx)
    members.start()
    try:
        r = cli(state, "pipeline", "run", flow, "--json", timeout=400)
    finally:
        members.stop()
    check(members.errors == 0 and members.requests > 0, f"members through nginx: "
                                                        f"{members.summary()}")
    try:
        run = json.loads(r.stdout)
    except ValueError:
        run = {}
    check(r.returncode == 0, f"pipeline run on the trainer's home (exit {r.returncode}: "
                             f"{r.stderr.strip()[-500:]})")
    check_completed_run(check, run, len(rows), len(events))
    check(not os.path.exists(os.path.join(trainer, "events")),
          "the trainer's home has no event log: the snapshot read the events from Redis")

    # The records are registry runs in PostgreSQL: another home on it sees the same run.
    other = cli(state, "pipeline", "status", str(run.get("pipeline_run", 0)), "--json",
                home=state["replicas"][1]["home"])
    try:
        seen = json.loads(other.stdout)
    except ValueError:
        seen = {}
    check(other.returncode == 0 and seen.get("state") == "completed"
          and [s["name"] for s in seen.get("steps", [])] == [s["name"] for s in run["steps"]],
          f"replica 1's home shows pipeline run {run.get('pipeline_run')} from PostgreSQL "
          f"(exit {other.returncode}: {seen.get('state')} {other.stderr.strip()[-200:]})")

    # Each replica scored requests with the candidate and logged them in its own home (its
    # counters, and the metrics of its log); the step stopped the shadow.
    for i, rep in enumerate(state["replicas"]):
        status, body = get_json(rep["url"] + "/api/v1/models/recs/shadow?window=1")
        body = body if isinstance(body, dict) else {"error": body}
        scored = body.get("replica", {}).get("scored", 0)
        m = body.get("metrics") or {}
        check(status == 200 and scored > 0 and m.get("requests", 0) > 0
              and m.get("recall", {}).get("requests_with_plays", 0) > 0
              and body.get("active") is False,
              f"replica {i} shadowed v{body.get('candidate')}: {scored} requests scored, "
              f"{m.get('requests')} in its log, {m.get('recall', {}).get('requests_with_plays')} "
              f"followed by plays read from Redis (shadow active now: {body.get('active')})")

    check(all_serve(state, 2, 30), "both replicas serve v2 after the promotion")
    for i, rep in enumerate(state["replicas"]):
        check_serves_new_version(check, rep["url"], f"replica {i}")


def main():
    ready = prepare("marquee-cluster-pipeline-")
    if ready is None:
        return 77
    marquee, tmp, d = ready
    skipped = False
    try:
        state = cluster.up(d, replicas=2, models=["recs@production?"], marquee=marquee,
                           poll_interval=0.5)
        if state.get("state_backend") != "redis":
            print("SKIP: this build has no Redis online state (state = \"redis://\"): the flow "
                  "must read the replicas' events from Redis")
            skipped = True
        else:
            run_flow(state, tmp)
    except cluster.ClusterError as e:
        check(False, f"cluster: {e}")
    finally:
        cluster.down(d)
        if os.environ.get("MARQUEE_KEEP_CLUSTER"):
            print(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 77 if skipped else finish()


if __name__ == "__main__":
    sys.exit(main())
