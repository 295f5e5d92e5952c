#!/usr/bin/env python3
"""In-process scoring against the server's batch route, measured in one run on one model:

  inprocess     Home(HOME).model(MODEL).score(histories, k=K): marquee._native, the batch cut
                into chunks ranked on every core (GIL released)
  inprocess_1t  the same with threads=1 (the server ranks one batch request on one thread)
  sdk_batch     client.recommend_batch(requests): POST /v1/recommend/batch through the SDK
  raw_batch     the same body sent with a raw persistent http.client connection
                (json.dumps / json.loads only)

for the same N histories (seeded random sets of 5-30 items of the model's catalogue). Before
timing, the in-process items are checked equal to the server's, row by row. Then ROUNDS rounds,
each timing every method once, in an order that rotates from round to round; medians, min, max
and the ratio of each server path to the in-process one.

    PYTHONPATH=build/release/python python3 python/bench/inprocess_score.py \\
        HOME URL MODEL [N=1000] [ROUNDS=30] [K=10]

(or .venv/bin/python after scripts/setup). URL must serve MODEL from HOME. Prints one JSON object.
"""
import http.client
import json
import os
import random
import statistics
import sys
import time
import urllib.parse

import marquee


def summary(ms):
    return {"median_ms": round(statistics.median(ms), 3), "min_ms": round(min(ms), 3),
            "max_ms": round(max(ms), 3)}


def main():
    home, url, model_ref = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1000
    rounds = int(sys.argv[5]) if len(sys.argv) > 5 else 30
    k = int(sys.argv[6]) if len(sys.argv) > 6 else 10
    model = marquee.Home(home).model(model_ref)
    items = [str(i) for i in model.items]
    rng = random.Random(7)
    histories = [rng.sample(items, rng.randint(5, min(30, len(items)))) for _ in range(n)]
    requests = [{"model": model_ref, "history": h, "k": k} for h in histories]
    client = marquee.Client(url)
    parts = urllib.parse.urlsplit(url)
    raw = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
    body = json.dumps({"requests": requests}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def raw_batch():
        raw.request("POST", "/v1/recommend/batch", body=body, headers=headers)
        with raw.getresponse() as r:
            if r.status != 200:
                raise AssertionError(f"HTTP {r.status}: {r.read()[:300]!r}")
            return json.loads(r.read())["responses"]

    methods = {
        "inprocess": lambda: model.score(histories, k=k),
        "inprocess_1t": lambda: model.score(histories, k=k, threads=1),
        "sdk_batch": lambda: client.recommend_batch(requests),
        "raw_batch": raw_batch,
    }
    # The same answers both ways (the version the server serves must be the one loaded here).
    served = raw_batch()
    scored = model.score(histories, k=k)
    for q, answer in enumerate(served):
        assert "error" not in answer, answer
        assert answer["version"] == model.info["version"], "the server serves another version"
        want = [it["id"] for it in answer["items"]]
        assert [i for i in scored.items[q] if i is not None] == want, f"row {q} differs"
    for call in methods.values():  # warm every path
        for _ in range(3):
            call()
    times = {name: [] for name in methods}
    names = list(methods)
    for r in range(rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            t = time.perf_counter()
            methods[name]()
            times[name].append((time.perf_counter() - t) * 1e3)
    out = {"model": model_ref, "version": model.info["version"], "items": len(items),
           "histories": n, "k": k, "rounds": rounds, "cpus": os.cpu_count()}
    out.update({name: summary(ms) for name, ms in times.items()})
    base = statistics.median(times["inprocess"])
    out["median_ratio_to_inprocess"] = {
        name: round(statistics.median(times[name]) / base, 2) for name in names[1:]}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
