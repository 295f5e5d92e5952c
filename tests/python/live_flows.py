"""What the end-to-end pipeline tests share (issue #17: tests/python/test_pipeline_scheduled.py
on one server, tests/cluster/test_cluster_pipeline.py on a cluster): the base data, the flow
they run, simulated members, and small HTTP helpers. Not a test itself (ctest runs test_*.py).

The data: members u0..u59, even ones like items i0..i9 and odd ones i10..i19 (five plays each),
and long-tail items t0..t19 played once each. The story: even members start playing an item the
served model has never seen, `new`; a retrained candidate knows it, is shadowed on live traffic
(members who go on to play `new`), and is promoted.
"""
import random
import threading
import time

from checks import post, write  # tests/python/checks.py

# The steps of the flow below, in order.
STEPS = ("data", "train", "evaluate", "gate", "shadow", "promote")
# Members the live traffic comes from (never u0..u24, who played `new` before, nor u50).
TRAFFIC_MEMBERS = list(range(26, 50, 2))


def item_ids(body):
    return [x["id"] for x in body.get("items", [])] if isinstance(body, dict) else []


def base_rows():
    """(member, item) pairs of the base dataset, sorted, without repeats."""
    rows = []
    for u in range(60):
        for k in range(5):
            rows.append((f"u{u}", f"i{(u % 2) * 10 + (u * 3 + k * 7) % 10}"))
    for t in range(20):
        rows.append((f"u{t * 3 % 60}", f"t{t}"))
    return sorted(set(rows))


def write_base(tmp, path_name="base.csv"):
    """The base rows as a CSV with a header (member,item); returns (path, rows)."""
    rows = base_rows()
    return write(f"{tmp}/{path_name}",
                 "member,item\n" + "".join(f"{u},{i}\n" for u, i in rows)), rows


# EASE with a small ridge for 60 members: its lists follow the co-occurrences closely.
EASE_TOML = """
[data]
dataset = "base"
[split]
test_users = 12
[model]
family = "ease"
name = "recs"
lambda = 10.0
[eval]
metrics = ["recall@10"]
"""


def flow_toml(url, min_requests=120, min_with_plays=40):
    """snapshot (base + the logged events) -> train -> evaluate -> gate -> shadow -> promote,
    the live step through `url` (a server, or nginx in front of replicas)."""
    return f"""
[pipeline]
name = "fresh"
model = "recs"

[server]
url = "{url}"

[[step]]
name = "data"
kind = "snapshot"
base = "base"

[[step]]
name = "train"
kind = "train"
config = "ease.toml"

[[step]]
name = "evaluate"
kind = "evaluate"

[[step]]
name = "gate"
kind = "gate"
metric = "recall@10"
min_ratio = 1.0

[[step]]
name = "shadow"
kind = "shadow"
sample = 1.0
min_requests = {min_requests}
min_requests_with_plays = {min_with_plays}
max_recall_drop = 0.02
window = "1s"
timeout = "120s"
poll = 0.5

[[step]]
name = "promote"
kind = "promote"
"""


def new_item_events(first=0, last=24):
    """Plays of `new` by the even members first..last, now."""
    return [{"user": f"u{m}", "item": "new", "type": "play", "ts": int(time.time())}
            for m in range(first, last + 1, 2)]


class Members(threading.Thread):
    """TRAFFIC_MEMBERS asking recs@production for ten items through `url` (seen ones kept:
    members replay what they like), then playing, one second later, `new` with probability 0.7
    and one item of their taste group: plays follow the trend whatever the list showed, so the
    recall of a list measures how well it predicts them."""

    def __init__(self, url, seed=7):
        super().__init__()
        self.url, self.seed, self.stop_flag = url, seed, threading.Event()
        self.requests = self.plays = self.errors = 0
        self.versions = {}
        self.first_error = None

    def note_error(self, what):
        self.errors += 1
        self.first_error = self.first_error or what

    def run(self):
        rng = random.Random(self.seed)
        n = 0
        while not self.stop_flag.is_set():
            m = TRAFFIC_MEMBERS[n % len(TRAFFIC_MEMBERS)]
            n += 1
            status, body = post(self.url + "/v1/recommend",
                                {"model": "recs@production", "user": f"u{m}", "k": 10,
                                 "exclude_seen": False})
            self.requests += 1
            if status != 200:
                self.note_error(f"recommend {status}: {body}")
                continue
            self.versions[body.get("version")] = self.versions.get(body.get("version"), 0) + 1
            ts = int(time.time()) + 1
            events = [{"user": f"u{m}", "item": f"i{(m % 2) * 10 + rng.randrange(10)}",
                       "type": "play", "ts": ts}]
            if rng.random() < 0.7:
                events.append({"user": f"u{m}", "item": "new", "type": "play", "ts": ts})
            status, body = post(self.url + "/v1/events", {"events": events})
            if status != 200:
                self.note_error(f"events {status}: {body}")
            self.plays += len(events)
            time.sleep(0.01)

    def stop(self):
        self.stop_flag.set()
        self.join()

    def summary(self):
        return (f"{self.requests} requests, {self.plays} plays, {self.errors} errors "
                f"{self.first_error or ''}; versions served {self.versions}")


def check_completed_run(check, run, base_row_count, events_logged):
    """The checks both tests make of a completed pipeline run record (`pipeline status RUN
    --json`): every step completed, the snapshot holds the base rows and every logged event,
    the candidate is v2 and beat production online, and v1 -> v2 was promoted."""
    steps = {s["name"]: s for s in run.get("steps", [])}
    states = [(s["name"], s["state"]) for s in run.get("steps", [])]
    check(run.get("state") == "completed" and states == [(n, "completed") for n in STEPS],
          f"pipeline run {run.get('pipeline_run')}: every step completed {states} "
          f"({run.get('reason')})")
    for s in run.get("steps", []):
        print(f"      {s['name']}: {s['reason']}")
    out = lambda name: steps.get(name, {}).get("outputs", {})  # noqa: E731
    data = out("data")
    check(data.get("base_rows") == base_row_count and data.get("events", 0) >= events_logged
          and data.get("rows") == data.get("base_rows", 0) + data.get("events", 0),
          f"the snapshot holds the {base_row_count} base rows and every logged event "
          f"({data.get('rows')} rows = {data.get('base_rows')} + {data.get('events')} events)")
    cand = out("train").get("candidate", {})
    check(cand == {"model": "recs", "version": 2}, f"the candidate is recs/2 ({cand})")
    m = out("shadow").get("shadow", {}).get("metrics") or {}
    recall = m.get("recall", {})
    check(m.get("requests", 0) > 0 and recall.get("requests_with_plays", 0) > 0
          and (recall.get("candidate") or 0) > (recall.get("production") or 1),
          f"shadow on live requests: the candidate's online recall {recall.get('candidate')} > "
          f"production's {recall.get('production')} on {recall.get('requests_with_plays')} of "
          f"{m.get('requests')} shadowed requests followed by plays")
    promoted = out("promote")
    check(promoted.get("from_version") == 1 and promoted.get("to_version") == 2,
          f"promote: v{promoted.get('from_version')} -> v{promoted.get('to_version')}")


def check_serves_new_version(check, url, where, limit=20.0):
    """The next answers through `url` come from v2: u50 (who never played `new`) gets `new`,
    which only the events introduced; u0 (who played it) does not get it back."""
    after, deadline = {}, time.monotonic() + limit
    while time.monotonic() < deadline:
        status, after = post(url + "/v1/recommend",
                             {"model": "recs@production", "user": "u50", "k": 10})
        if status == 200 and after.get("version") == 2:
            break
        time.sleep(0.2)
    check(isinstance(after, dict) and after.get("version") == 2 and "new" in item_ids(after),
          f"{where}: u50's next recommendation comes from v2 and holds `new` ({after})")
    status, u0 = post(url + "/v1/recommend", {"model": "recs@production", "user": "u0", "k": 10})
    check(status == 200 and u0.get("version") == 2 and item_ids(u0) and "new" not in item_ids(u0),
          f"{where}: u0, who played `new`, gets v2 without it (the play is excluded): {u0}")
