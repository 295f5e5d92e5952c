#!/usr/bin/env python3
"""Helpers of bench/soak.sh (standard library only; talks to 127.0.0.1 only).

  soak_client.py prepare POOL_DIR DATA_DIR
      request pools for bench/soak.lua: ML-100K members (and the share the events stream plays
      for), anonymous histories, Open Bandit contexts for /v1/decide, UCI rows for /v1/predict.
  soak_client.py malformed PORT SECONDS MAX_REQUESTS LOG POOL_DIR
      bad bytes, bounded in count and time: invalid UTF-8 in path, headers and body, truncated
      JSON, huge numbers, wrong methods and types, oversize bodies and headers, broken framing,
      slow partial requests, connection floods. Logs every case before sending it (so the last
      line names what a dead server was sent last); prints one JSON summary.
      MALFORMED_SKIP (soak.sh; a 7th argument here): comma-separated case-name prefixes to leave
      out, e.g. to run the rest of the soak while a known crash is being fixed.
  soak_client.py each PORT POOL_DIR
      every malformed case once, checking /healthz after each; stops at the first one after
      which the server is gone, names it and exits 3.
  soak_client.py ledger PORT SECONDS LEDGER POOL_DIR
      slow, exactly accounted writes: one event per unique user ledger-N, decisions and rewards;
      every acknowledged one is appended to LEDGER (E user / D id / R id reward).
  soak_client.py verify PORT LEDGER DECISIONS_JSONL
      after a kill -9 and a restart: every ledger event's user is known to /v1/recommend, every
      acknowledged decision is in the exported log, every acknowledged reward is joined there.
"""
import collections
import csv
import http.client
import json
import os
import random
import signal
import socket
import sys
import threading
import time

HOST = "127.0.0.1"  # loopback only, by construction
EASE = "ml100k-ease@production"
BANDIT = "artwork@production"
XGB = "payment@production"
STOP = threading.Event()  # set by SIGTERM: the loops end and print their summaries


# ----------------------------------------------------------------------------------------------
# prepare


def prepare(pool, data):
    os.makedirs(pool, exist_ok=True)
    rng = random.Random(42)
    rows = collections.defaultdict(list)
    for line in open(os.path.join(data, "movielens-100k/u.data")):
        u, i, _, _ = line.split("\t")
        rows[u].append(i)
    users = sorted(rows, key=int)
    fresh = set(rng.sample(users, len(users) // 5))  # the events stream plays for these
    with open(os.path.join(pool, "members.txt"), "w") as f:
        f.writelines(u + "\n" for u in users if u not in fresh)
    with open(os.path.join(pool, "fresh_members.txt"), "w") as f:
        f.writelines(u + "\n" for u in sorted(fresh, key=int))
    items = sorted({i for r in rows.values() for i in r}, key=int)
    with open(os.path.join(pool, "items.txt"), "w") as f:
        f.writelines(i + "\n" for i in items)
    with open(os.path.join(pool, "anon_bodies.jsonl"), "w") as f:
        for _ in range(500):
            r = rows[rng.choice(users)]
            hist = rng.sample(r, rng.randint(1, min(len(r), 50)))
            f.write(json.dumps({"model": EASE, "history": hist, "k": 10}) + "\n")

    obd = os.path.join(data, "open-bandit-dataset/random/men")
    actions = []
    with open(os.path.join(obd, "item_context.csv")) as f:
        for rec in csv.DictReader(f):
            actions.append({"id": rec["item_id"],
                            "features": {"item_feature_0": float(rec["item_feature_0"]),
                                         "item_feature_1": rec["item_feature_1"],
                                         "item_feature_2": rec["item_feature_2"],
                                         "item_feature_3": rec["item_feature_3"]}})
    with open(os.path.join(obd, "men.csv")) as f, \
            open(os.path.join(pool, "decide_bodies.jsonl"), "w") as out:
        for n, rec in enumerate(csv.DictReader(f)):
            if n >= 300:
                break
            ctx = {k: rec[k] for k in rec if k.startswith("user_feature_")}
            for k in rec:
                if k.startswith("user-item_affinity_") and float(rec[k]) != 0.0:
                    ctx[k] = float(rec[k])
            body = {"model": BANDIT, "user": f"obd-{n % 97}", "context": ctx,
                    "actions": actions}
            out.write(json.dumps(body) + "\n")

    uci = os.path.join(data, "uci-credit-card-default/UCI_Credit_Card.csv")
    feats = []
    with open(uci, newline="") as f:
        reader = csv.DictReader(f)
        for n, rec in enumerate(reader):
            if n >= 2000:
                break
            feats.append({k: float(v) for k, v in rec.items() if k not in ("ID", "Y")})
    with open(os.path.join(pool, "predict_bodies.jsonl"), "w") as f:
        for _ in range(300):
            k = rng.randint(1, 8)
            f.write(json.dumps({"model": XGB, "rows": rng.sample(feats, k)}) + "\n")


# ----------------------------------------------------------------------------------------------
# raw HTTP


def http_bytes(method, path, body=b"", headers=None, content_length=True):
    if isinstance(method, str):
        method = method.encode()
    if isinstance(path, str):
        path = path.encode()
    if isinstance(body, str):
        body = body.encode()
    h = [method + b" " + path + b" HTTP/1.1", b"Host: 127.0.0.1"]
    for k, v in (headers or {}).items():
        h.append((k.encode() if isinstance(k, str) else k) + b": " +
                 (v.encode() if isinstance(v, str) else v))
    if content_length is True:
        h.append(b"Content-Type: application/json")
        h.append(b"Content-Length: " + str(len(body)).encode())
    elif content_length is not None:
        h.append(b"Content-Length: " + content_length.encode())
    return b"\r\n".join(h) + b"\r\n\r\n" + body


def exchange(data, timeout=10.0, close_after_send=False):
    """Sends bytes on a fresh connection and reads the first response's status.

    Returns "refused" (nothing listens), "status:NNN", "closed" (the server closed without an
    answer), "reset", or "timeout"."""
    try:
        s = socket.create_connection((HOST, PORT), timeout=timeout)
    except ConnectionRefusedError:
        return "refused"
    except OSError as e:
        return "connect-error:" + type(e).__name__
    try:
        try:
            s.sendall(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (413, 431) and close before reading everything
        if close_after_send:
            s.shutdown(socket.SHUT_WR)
        buf = b""
        while b"\r\n" not in buf:
            try:
                chunk = s.recv(65536)
            except ConnectionResetError:
                return "reset" if not buf else parse_status(buf)
            except socket.timeout:
                return "timeout"
            if not chunk:
                return "closed" if not buf else parse_status(buf)
            buf += chunk
        return parse_status(buf)
    finally:
        s.close()


def parse_status(buf):
    line = buf.split(b"\r\n", 1)[0].split(b" ")
    if len(line) >= 2 and line[0].startswith(b"HTTP/") and line[1].isdigit():
        return "status:" + line[1].decode()
    return "garbage-response"


# ----------------------------------------------------------------------------------------------
# malformed


def truncated(body, rng):
    return body[: rng.randint(1, max(1, len(body) - 1))]


def malformed_cases(pool, rng, cycle):
    """(name, bytes) pairs of one cycle; the rare expensive ones only on some cycles."""
    rec = json.dumps({"model": EASE, "user": "196", "k": 10})
    ev = json.dumps({"events": [{"user": "196", "item": "242", "type": "play"}]})
    decide = open(os.path.join(pool, "decide_bodies.jsonl")).readline().strip()
    predict = open(os.path.join(pool, "predict_bodies.jsonl")).readline().strip()
    reward = json.dumps({"decision_id": "0" * 32, "reward": 1.0})
    P = http_bytes
    c = [
        ("utf8-path", P("GET", b"/v1/models\xff\xfe")),
        ("utf8-path-post", P("POST", b"/v1/recommend\xc3\x28", rec)),
        ("utf8-query", P("GET", b"/metrics?x=\xed\xa0\x80")),
        ("utf8-header", P("POST", "/v1/recommend", rec, {"X-Note": b"\xff\xfe\xfd"})),
        ("utf8-model", P("POST", "/v1/recommend", b'{"model": "\xff\xfe", "user": "1"}')),
        ("utf8-user", P("POST", "/v1/recommend",
                        b'{"model": "' + EASE.encode() + b'", "user": "\xed\xa0\x80"}')),
        ("utf8-history", P("POST", "/v1/recommend",
                           b'{"model": "' + EASE.encode() + b'", "history": ["\xc0\xaf"]}')),
        ("utf8-event", P("POST", "/v1/events",
                         b'{"events": [{"user": "u\xff", "item": "242", "type": "p\xfe"}]}')),
        ("utf8-decide-context", P("POST", "/v1/decide",
                                  b'{"model": "' + BANDIT.encode() +
                                  b'", "context": {"\xff": 1}, "actions": ["a", "b"]}')),
        ("utf8-predict-feature", P("POST", "/v1/predict",
                                   b'{"model": "' + XGB.encode() + b'", "rows": [{"\xff": 1}]}')),
        ("truncated-recommend", P("POST", "/v1/recommend", truncated(rec, rng))),
        ("truncated-events", P("POST", "/v1/events", truncated(ev, rng))),
        ("truncated-decide", P("POST", "/v1/decide", truncated(decide, rng))),
        ("truncated-predict", P("POST", "/v1/predict", truncated(predict, rng))),
        ("truncated-reward", P("POST", "/v1/reward", truncated(reward, rng))),
        ("huge-k-1e400", P("POST", "/v1/recommend", '{"model": "%s", "user": "196", "k": 1e400}'
                           % EASE)),
        ("huge-k-int", P("POST", "/v1/recommend",
                         '{"model": "%s", "user": "196", "k": 99999999999999999999999}' % EASE)),
        ("negative-k", P("POST", "/v1/recommend", '{"model": "%s", "user": "196", "k": -1}'
                         % EASE)),
        ("k-2^32+1", P("POST", "/v1/recommend", '{"model": "%s", "user": "196", "k": 4294967297}'
                       % EASE)),
        ("huge-event-value", P("POST", "/v1/events",
                               '{"events": [{"user": "196", "item": "242", "value": 1e309}]}')),
        ("huge-event-ts", P("POST", "/v1/events",
                            '{"events": [{"user": "196", "item": "242", "ts": 1e30}]}')),
        ("huge-event-ts-int", P("POST", "/v1/events",
                                '{"events": [{"user": "196", "item": "242", '
                                '"ts": 99999999999999999999}]}')),
        ("huge-reward", P("POST", "/v1/reward",
                          '{"decision_id": "%s", "reward": 1e400}' % ("0" * 32))),
        ("nan-reward", P("POST", "/v1/reward", '{"decision_id": "%s", "reward": NaN}' % ("0" * 32))),
        ("huge-predict-value", P("POST", "/v1/predict",
                                 '{"model": "%s", "rows": [{"X1": 1e400, "X6": -1e400}]}' % XGB)),
        ("huge-decide-feature", P("POST", "/v1/decide",
                                  '{"model": "%s", "context": {"a": 1e400}, "actions": ["x", "y"]}'
                                  % BANDIT)),
        ("long-user-id", P("POST", "/v1/recommend",
                           json.dumps({"model": EASE, "user": "u" * 200000}))),
        ("deep-array", P("POST", "/v1/recommend", "[" * 200000 + "]" * 200000)),
        ("deep-object", P("POST", "/v1/events", '{"a":' * 100000 + "1" + "}" * 100000)),
        ("deep-unclosed", P("POST", "/v1/decide", "[" * 500000)),
        ("wrong-method-get-recommend", P("GET", "/v1/recommend", content_length=None)),
        ("wrong-method-delete-events", P("DELETE", "/v1/events", content_length=None)),
        ("wrong-method-put-reload", P("PUT", "/admin/reload", "{}")),
        ("wrong-method-patch-decide", P("PATCH", "/v1/decide", decide)),
        ("unknown-method", P("BREW", "/", content_length=None)),
        ("nul-in-method", b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n"),
        ("wrong-type-user-array", P("POST", "/v1/recommend", '{"model": "%s", "user": []}' % EASE)),
        ("wrong-type-k-string", P("POST", "/v1/recommend",
                                  '{"model": "%s", "user": "196", "k": "ten"}' % EASE)),
        ("wrong-type-model-number", P("POST", "/v1/recommend", '{"model": 7, "user": "196"}')),
        ("wrong-type-history-string", P("POST", "/v1/recommend",
                                        '{"model": "%s", "history": "50"}' % EASE)),
        ("wrong-type-filter", P("POST", "/v1/recommend",
                                '{"model": "%s", "user": "196", "filter": []}' % EASE)),
        ("wrong-type-events-object", P("POST", "/v1/events", '{"events": {}}')),
        ("wrong-type-events-numbers", P("POST", "/v1/events", '{"events": [1, 2, 3]}')),
        ("wrong-type-value-string", P("POST", "/v1/events",
                                      '{"events": [{"user": "1", "item": "2", "value": "x"}]}')),
        ("wrong-type-rows", P("POST", "/v1/predict", '{"model": "%s", "rows": "x"}' % XGB)),
        ("wrong-type-predict-cell", P("POST", "/v1/predict",
                                      '{"model": "%s", "rows": [{"X1": "abc"}]}' % XGB)),
        ("wrong-type-actions", P("POST", "/v1/decide", '{"model": "%s", "actions": "a"}' % BANDIT)),
        ("wrong-type-action-id", P("POST", "/v1/decide",
                                   '{"model": "%s", "actions": [{"id": 5}]}' % BANDIT)),
        ("wrong-type-decision-id", P("POST", "/v1/reward", '{"decision_id": 7, "reward": 1}')),
        ("wrong-type-reward", P("POST", "/v1/reward",
                                '{"decision_id": "%s", "reward": "1"}' % ("0" * 32))),
        ("top-level-array", P("POST", "/v1/recommend", "[1, 2]")),
        ("top-level-string", P("POST", "/v1/predict", '"rows"')),
        ("not-json", P("POST", "/v1/events", "hello")),
        ("empty-body", P("POST", "/v1/recommend", "")),
        ("nul-in-body", P("POST", "/v1/recommend",
                          b'{"model": "' + EASE.encode() + b'", "user": "1\x00\x00"}')),
        ("unknown-model", P("POST", "/v1/recommend", '{"model": "nope@production", "user": "1"}')),
        ("unknown-policy", P("POST", "/v1/decide", '{"model": "nope@x", "actions": ["a"]}')),
        ("reward-unknown-id", P("POST", "/v1/reward", reward)),
        ("reward-bad-id", P("POST", "/v1/reward", '{"decision_id": "zz", "reward": 1}')),
        ("decide-no-actions", P("POST", "/v1/decide", '{"model": "%s", "actions": []}' % BANDIT)),
        ("decide-duplicate-actions", P("POST", "/v1/decide",
                                       '{"model": "%s", "actions": ["a", "a"]}' % BANDIT)),
        ("predict-unknown-feature", P("POST", "/v1/predict",
                                      '{"model": "%s", "rows": [{"nope": 1}]}' % XGB)),
        ("predict-extra-field", P("POST", "/v1/predict",
                                  '{"model": "%s", "rows": [], "x": 1}' % XGB)),
        ("unknown-route", P("POST", "/v1/nothing", "{}")),
        ("cl-negative", P("POST", "/v1/events", ev, content_length="-1")),
        ("cl-letters", P("POST", "/v1/events", ev, content_length="abc")),
        ("cl-overflow", P("POST", "/v1/events", ev, content_length="18446744073709551616")),
        ("cl-conflicting", P("POST", "/v1/events", ev,
                             {"Content-Length": "5"}, content_length=str(len(ev)))),
        ("cl-too-short", P("POST", "/v1/recommend", rec, content_length=str(len(rec) // 2))),
        ("chunked-bad-size", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                             b"chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"),
        ("chunked-huge-size", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
                              b"chunked\r\n\r\nffffffffffffffff\r\nabc\r\n0\r\n\r\n"),
        ("chunked-and-cl", b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
                           b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"),
        ("header-oversize", P("GET", "/healthz", headers={"X-Big": "a" * 200000},
                              content_length=None)),
        ("many-headers", b"GET /healthz HTTP/1.1\r\n" +
                         b"".join(b"X-H%d: v\r\n" % i for i in range(20000)) + b"\r\n"),
        ("oversize-claim", P("POST", "/v1/events", b"{" + b" " * 4096,
                             content_length="100000000")),
        ("http-0.9", b"GET /\r\n\r\n"),
        ("http-version-garbage", b"GET / HTTP/9.9\r\nHost: x\r\n\r\n"),
        ("no-host-http10", b"POST /v1/recommend HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}"),
        ("binary-garbage", bytes(rng.getrandbits(8) for _ in range(2048))),
        ("bare-newlines", b"\n" * 10000),
        ("pipelined-then-garbage", b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 200 +
                                   bytes(rng.getrandbits(8) for _ in range(512))),
        ("batch-wrong-types", P("POST", "/v1/recommend/batch", '{"requests": [1, "a", null]}')),
        ("similar-wrong-item", P("POST", "/v1/similar-items",
                                 '{"model": "%s", "item": {"a": 1}}' % EASE)),
    ]
    if cycle % 4 == 0:
        many = json.dumps({"model": BANDIT, "actions": [f"a{i}" for i in range(20000)]})
        c.append(("decide-20000-actions", P("POST", "/v1/decide", many)))
        c.append(("events-100000", P("POST", "/v1/events", json.dumps(
            {"events": [{"user": "x", "item": "1"}] * 100000}))))
    if cycle % 20 == 0:
        c.append(("oversize-real-9MiB", P("POST", "/v1/events", b"[" + b"0," * (9 << 19) + b"0]")))
    return c


def slow_partial(n, hold_s, stats, lock, stop):
    """n connections that send a request a few bytes at a time (one every second), then give up
    after hold_s. Records whether the server closed them first (its request timeout)."""
    socks = []
    for _ in range(n):
        try:
            s = socket.create_connection((HOST, PORT), timeout=2)
            s.setblocking(False)
            socks.append(s)
        except OSError:
            with lock:
                stats["slow_connect_failed"] += 1
    partial = b"POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"ev"
    start = time.time()
    pos = 0
    closed_by_server = set()
    while time.time() - start < hold_s and not stop.is_set() and not STOP.is_set():
        for s in socks:
            if s in closed_by_server:
                continue
            try:
                if pos < len(partial):
                    s.send(partial[pos: pos + 3])
                else:
                    s.send(b" ")
                try:
                    if s.recv(4096) == b"":
                        closed_by_server.add(s)
                except BlockingIOError:
                    pass
            except OSError:
                closed_by_server.add(s)
        pos += 3
        time.sleep(1.0)
    with lock:
        stats["slow_connections"] += len(socks)
        stats["slow_closed_by_server"] += len(closed_by_server)
    for s in socks:
        s.close()


def flood(n, stats, lock):
    """n connections opened at once that send nothing, closed after 3 s."""
    socks = []
    for _ in range(n):
        try:
            socks.append(socket.create_connection((HOST, PORT), timeout=2))
        except OSError:
            with lock:
                stats["flood_connect_failed"] += 1
    time.sleep(3)
    for s in socks:
        s.close()
    with lock:
        stats["flood_connections"] += len(socks)


def malformed(seconds, max_requests, log_path, pool, skip=()):
    rng = random.Random(1234)
    deadline = time.time() + seconds
    stats = collections.Counter()
    by_case = collections.defaultdict(collections.Counter)
    lock = threading.Lock()
    stop = threading.Event()
    background = []
    last = None
    sent = 0
    cycle = 0
    next_slow = time.time() + 5
    with open(log_path, "w", buffering=1) as log:
        while time.time() < deadline and sent < max_requests and not STOP.is_set():
            if time.time() >= next_slow:  # every 60 s: 16 slow partial requests and a flood of 64
                t = threading.Thread(target=slow_partial,
                                     args=(16, min(40, max(1, deadline - time.time())), stats,
                                           lock, stop))
                t.start()
                background.append(t)
                t = threading.Thread(target=flood, args=(64, stats, lock))
                t.start()
                background.append(t)
                next_slow += 60
            for name, data in malformed_cases(pool, rng, cycle):
                if time.time() >= deadline or sent >= max_requests or STOP.is_set():
                    break
                if any(name.startswith(p) for p in skip):
                    continue
                log.write(f"{time.time():.3f} {name} sending {len(data)} bytes\n")
                outcome = exchange(data)
                log.write(f"{time.time():.3f} {name} {outcome}\n")
                sent += 1
                by_case[name][outcome] += 1
                if outcome != "refused":
                    last = name  # the last case the server took in: the suspect when it dies
                if outcome == "refused":
                    stats["refused"] += 1
                    log.write("the server refuses connections: it is down\n")
                    deadline = 0
                    break
                if outcome.startswith("status:"):
                    stats["s" + outcome[7] + "xx"] += 1
                else:
                    stats[outcome.split(":")[0]] += 1
                time.sleep(0.02)
            cycle += 1
    stop.set()
    for t in background:
        t.join()
    five = {k: dict(v) for k, v in by_case.items() if any(o.startswith("status:5") for o in v)}
    ok2 = {k: dict(v) for k, v in by_case.items() if any(o.startswith("status:2") for o in v)}
    print(json.dumps({"sent": sent, "cycles": cycle, "last_case": last, "outcomes": dict(stats),
                      "cases_with_5xx": five, "cases_with_2xx": ok2,
                      "distinct_cases": len(by_case)}))


def each(pool):
    rng = random.Random(1234)
    seen = set()
    for cycle in (0, 20):  # cycle 20 adds the rare expensive cases
        for name, data in malformed_cases(pool, rng, cycle):
            if cycle == 20 and name in seen:
                continue
            seen.add(name)
            outcome = exchange(data)
            time.sleep(0.3)  # a crash may follow the answer (e.g. while logging): wait for it
            alive = exchange(http_bytes("GET", "/healthz", content_length=None), timeout=5)
            print(f"{name}\t{outcome}\t/healthz {alive}", flush=True)
            if alive == "refused":
                print(f"the server died after case {name}")
                sys.exit(3)


# ----------------------------------------------------------------------------------------------
# ledger / verify


class Client:
    def __init__(self):
        self.conn = None

    def post(self, path, body):
        for attempt in range(2):
            try:
                if self.conn is None:
                    self.conn = http.client.HTTPConnection(HOST, PORT, timeout=30)
                self.conn.request("POST", path, json.dumps(body),
                                  {"Content-Type": "application/json"})
                r = self.conn.getresponse()
                return r.status, r.read()
            except (ConnectionError, http.client.HTTPException, OSError):
                if self.conn is not None:
                    self.conn.close()
                self.conn = None
                if attempt == 1:
                    return 0, b""
        return 0, b""


def ledger(seconds, path, pool):
    rng = random.Random(77)
    decide = [json.loads(x) for x in open(os.path.join(pool, "decide_bodies.jsonl"))]
    items = [x.strip() for x in open(os.path.join(pool, "items.txt"))]
    c = Client()
    deadline = time.time() + seconds
    counts = collections.Counter()
    n = 0
    with open(path, "w", buffering=1) as out:
        while time.time() < deadline and not STOP.is_set():
            n += 1
            user = f"ledger-{n}"
            st, _ = c.post("/v1/events", {"events": [{"user": user, "item": rng.choice(items),
                                                      "type": "play", "value": 1.0}]})
            counts[f"events_{st}"] += 1
            if st == 200:
                out.write(f"E {user}\n")
            st, body = c.post("/v1/decide", rng.choice(decide))
            counts[f"decide_{st}"] += 1
            if st == 200:
                did = json.loads(body)["decision_id"]
                out.write(f"D {did}\n")
                if n % 2 == 0:
                    reward = float(n % 3 == 0)
                    st, body = c.post("/v1/reward", {"decision_id": did, "reward": reward})
                    counts[f"reward_{st}"] += 1
                    if st == 200 and json.loads(body).get("joined") is True:
                        out.write(f"R {did} {reward}\n")
            if st == 0:
                counts["connection_failures"] += 1
                time.sleep(1)
            time.sleep(0.1)
    print(json.dumps(dict(counts)))


def verify(ledger_path, decisions_path):
    users, decisions, rewards = [], [], {}
    for line in open(ledger_path):
        p = line.split()
        if p[0] == "E":
            users.append(p[1])
        elif p[0] == "D":
            decisions.append(p[1])
        elif p[0] == "R":
            rewards[p[1]] = float(p[2])
    logged = {}
    for line in open(decisions_path):
        d = json.loads(line)
        logged[d["id"]] = d.get("outcome", {})
    c = Client()
    missing_users = []
    other = collections.Counter()
    for u in users:
        st, body = c.post("/v1/recommend", {"model": EASE, "user": u, "k": 3})
        if st == 404:
            missing_users.append(u)
        elif st != 200:
            other[st] += 1
    missing_decisions = [d for d in decisions if d not in logged]
    bad_rewards = [d for d, r in rewards.items()
                   if logged.get(d, {}).get("kind") != "joined" or
                   logged.get(d, {}).get("reward") != r]
    print(json.dumps({"ledger_events": len(users), "events_missing": len(missing_users),
                      "events_missing_examples": missing_users[:5],
                      "events_check_other_status": dict(other),
                      "ledger_decisions": len(decisions),
                      "decisions_missing": len(missing_decisions),
                      "decisions_missing_examples": missing_decisions[:5],
                      "ledger_rewards": len(rewards), "rewards_missing": len(bad_rewards),
                      "rewards_missing_examples": bad_rewards[:5]}))


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: STOP.set())
    cmd = sys.argv[1]
    if cmd == "prepare":
        prepare(sys.argv[2], sys.argv[3])
    else:
        PORT = int(sys.argv[2])
        if cmd == "malformed":
            skip = [x for x in (sys.argv[7] if len(sys.argv) > 7 else "").split(",") if x]
            malformed(float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], sys.argv[6], skip)
        elif cmd == "each":  # every case once, checking /healthz after each: the ones that kill
            each(sys.argv[3])
        elif cmd == "ledger":
            ledger(float(sys.argv[3]), sys.argv[4], sys.argv[5])
        elif cmd == "verify":
            verify(sys.argv[3], sys.argv[4])
        else:
            sys.exit(f"unknown command {cmd}")
