#!/usr/bin/env python3
"""The SDK's cost over raw HTTP, measured in one run against one server (loopback):

  recommend   N calls of client.recommend(MODEL, user=U, k=10) against the same request sent
              with a raw persistent http.client connection (json.dumps/json.loads only),
              interleaved in blocks of 100 (alternating which goes first) so both see the same
              server state; p50/p99/mean us.
  tracking    logging P metric points through a Run (batched, 1,000 per request) and finishing
              it: points per second, end to end (needs the /api/v1/runs routes).

    python3 python/bench/sdk_overhead.py URL MODEL USER [N=2000] [P=10000]

Prints one JSON object. Standard library plus the SDK (imported from the source tree).
"""
import http.client
import json
import os
import statistics
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import marquee  # noqa: E402


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def summary(us):
    return {"p50_us": round(pct(us, 0.50), 1), "p99_us": round(pct(us, 0.99), 1),
            "mean_us": round(statistics.fmean(us), 1)}


def main():
    url, model, user = sys.argv[1:4]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 2000
    points = int(sys.argv[5]) if len(sys.argv) > 5 else 10000
    client = marquee.Client(url)
    parts = urllib.parse.urlsplit(url)
    raw = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    body = json.dumps({"k": 10, "model": model, "user": user}).encode()
    headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def raw_call():
        raw.request("POST", "/v1/recommend", body=body, headers=headers)
        r = raw.getresponse()
        data = json.loads(r.read())
        assert r.status == 200, data
        return data

    assert raw_call() == client.recommend(model, user=user, k=10), "same answer both ways"
    for _ in range(200):  # warm both connections and the server
        raw_call()
        client.recommend(model, user=user, k=10)
    sdk_us, raw_us = [], []

    def sdk_call():
        return client.recommend(model, user=user, k=10)

    for block in range(n // 100):
        # Alternate which goes first, so neither always follows the other's last request.
        order = [(sdk_call, sdk_us), (raw_call, raw_us)]
        for call, times in (order if block % 2 == 0 else order[::-1]):
            for _ in range(100):
                t = time.perf_counter()
                call()
                times.append((time.perf_counter() - t) * 1e6)
    out = {"requests_each": len(sdk_us), "sdk_recommend": summary(sdk_us),
           "raw_http_client": summary(raw_us)}
    out["overhead_p50_us"] = round(out["sdk_recommend"]["p50_us"] -
                                   out["raw_http_client"]["p50_us"], 1)
    try:
        t = time.perf_counter()
        with client.start_run(model="bench-sdk-tracking") as run:
            for s in range(points):
                run.log_metric("loss", 1.0 / (s + 1), step=s)
        secs = time.perf_counter() - t
        out["tracking"] = {"points": points, "seconds": round(secs, 3),
                           "points_per_s": round(points / secs)}
    except marquee.Error as e:
        out["tracking"] = {"error": str(e)}
    print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
