#!/usr/bin/python3
"""Times POST /v1/predict on a running `marquee serve` over one keep-alive connection.

usage: xgb_http_predict.py PORT MODEL_REF ROWS.csv
Bodies are encoded once up front, so each timed call is: send the request, the server parses
it, predicts and answers, and the client reads and parses the JSON reply. Prints one JSON
object with p50/p99 microseconds for 1-row and 1,000-row requests.
"""
import csv
import http.client
import json
import sys
import time


def main():
    port, ref, rows_csv = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    with open(rows_csv) as f:
        reader = csv.DictReader(f)
        rows = [{k: float(v) for k, v in r.items()} for r in reader]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = {"transport": "http, keep-alive, 1 connection"}
    for n, iters in ((1, 2000), (1000, 200)):
        body = json.dumps({"model": ref, "rows": rows[:n]}).encode()
        times = []
        for i in range(iters + 20):
            t = time.perf_counter()
            conn.request("POST", "/v1/predict", body, {"Content-Type": "application/json"})
            resp = conn.getresponse()
            reply = json.loads(resp.read())
            dt = (time.perf_counter() - t) * 1e6
            if resp.status != 200 or len(reply["predictions"]) != n:
                raise SystemExit(f"bad reply {resp.status}: {reply}")
            if i >= 20:  # warm-up
                times.append(dt)
        times.sort()
        out[f"http_{n}_rows_p50_us"] = times[len(times) // 2]
        out[f"http_{n}_rows_p99_us"] = times[int(len(times) * 0.99)]
    print(json.dumps(out))


if __name__ == "__main__":
    main()
