#!/usr/bin/env python3
"""`runs list` of the newest 100 of 10,000 runs: over the API (GET /api/v1/runs?limit=100 on a
kept-alive connection, as the SDK and `marquee --server` send it) against the local CLI
(`marquee runs list --limit 100 --json`, a process each, as a user runs it), in the same run,
alternating in blocks.

    python3 bench/runs_list_api.py [MARQUEE_BIN] [RUNS=10000] [ROUNDS=10] [--sort]

A scratch home gets RUNS external runs (three metrics each, logged over the API); then each round
times 20 API calls and 3 CLI calls. Prints one JSON object: p50/p99/mean in ms for each path.
With --sort each round also times 20 API calls of the best 100 by a metric
(?sort=-metric:auc&limit=100, checked against the order of the values logged), one page deep in
(&offset=100), and filtered by a param (&param=i=...), reported as "api_sorted",
"api_sorted_offset" and "api_param".
"""
import http.client
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time

SORT = "--sort" in sys.argv[1:]
ARGS = [a for a in sys.argv[1:] if a != "--sort"]
BIN = ARGS[0] if len(ARGS) > 0 else "build/release/tools/marquee/marquee"
RUNS = int(ARGS[1]) if len(ARGS) > 1 else 10000
ROUNDS = int(ARGS[2]) if len(ARGS) > 2 else 10


def pct(xs, q):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(q * len(xs)))]


def main():
    tmp = tempfile.mkdtemp(prefix="marquee-runs-bench-")
    home = os.path.join(tmp, "home")
    port_file = os.path.join(tmp, "port")
    server = subprocess.Popen([BIN, "--home", home, "-q", "serve", "--port", "0", "--port-file",
                               port_file], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not os.path.exists(port_file):
            time.sleep(0.05)
        port = int(open(port_file).read())
        conn = http.client.HTTPConnection("127.0.0.1", port)

        def call(method, path, body=None):
            conn.request(method, path, body=json.dumps(body) if body is not None else None,
                         headers={"Content-Type": "application/json"})
            r = conn.getresponse()
            data = r.read()
            if r.status >= 300:
                raise SystemExit(f"{method} {path}: {r.status} {data[:200]!r}")
            return json.loads(data)

        t0 = time.perf_counter()
        for i in range(RUNS):
            run = call("POST", "/api/v1/runs", {"model": f"m{i % 20}", "params": {"i": i}})
            call("POST", f"/api/v1/runs/{run['id']}/metrics", {"metrics": [
                {"key": "auc", "value": 0.5 + (i % 500) / 1000}, {"key": "loss", "value": 1 / (i + 1)},
                {"key": "acc", "value": (i % 97) / 97}]})
        setup_s = time.perf_counter() - t0
        api, cli = [], []
        sorted_, sorted_offset, param = [], [], []
        for _ in range(ROUNDS):
            if SORT:
                for _ in range(20):
                    t = time.perf_counter()
                    page = call("GET", "/api/v1/runs?sort=-metric:auc&limit=100")
                    sorted_.append((time.perf_counter() - t) * 1000)
                    aucs = [r["metrics"]["auc"] for r in page["runs"]]
                    assert len(aucs) == 100 and aucs == sorted(aucs, reverse=True)
                    assert aucs[0] == 0.5 + 499 / 1000 and page["next_offset"] == 100
                    t = time.perf_counter()
                    page = call("GET", "/api/v1/runs?sort=-metric:auc&limit=100&offset=100")
                    sorted_offset.append((time.perf_counter() - t) * 1000)
                    assert [r["metrics"]["auc"] for r in page["runs"]][0] <= aucs[-1]
                    t = time.perf_counter()
                    page = call("GET", f"/api/v1/runs?param=i%3D{RUNS // 2}&limit=100")
                    param.append((time.perf_counter() - t) * 1000)
                    assert [r["params"]["i"] for r in page["runs"]] == [RUNS // 2]
            for _ in range(20):
                t = time.perf_counter()
                page = call("GET", "/api/v1/runs?limit=100")
                api.append((time.perf_counter() - t) * 1000)
                assert len(page["runs"]) == 100 and page["total"] == RUNS
            for _ in range(3):
                t = time.perf_counter()
                out = subprocess.run([BIN, "--home", home, "-q", "runs", "list", "--limit", "100",
                                      "--json"], capture_output=True, text=True, check=True).stdout
                cli.append((time.perf_counter() - t) * 1000)
                assert len(json.loads(out)["runs"]) == 100
        summary = lambda xs: {"n": len(xs), "p50_ms": round(statistics.median(xs), 3),
                              "p99_ms": round(pct(xs, 0.99), 3),
                              "mean_ms": round(statistics.mean(xs), 3)}
        out = {"runs": RUNS, "setup_seconds": round(setup_s, 1), "api": summary(api),
               "cli": summary(cli),
               "cli_over_api_p50": round(statistics.median(cli) / statistics.median(api), 2)}
        if SORT:
            out.update({"api_sorted": summary(sorted_), "api_sorted_offset": summary(sorted_offset),
                        "api_param": summary(param)})
        print(json.dumps(out, indent=1))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)


if __name__ == "__main__":
    main()
