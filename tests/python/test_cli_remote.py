#!/usr/bin/python3
"""`marquee --server URL CMD` prints exactly what `marquee CMD` prints on the server's home.

A home with a generated dataset, three runs of two models (one promoted), and a started A/B
experiment whose members got recommendations and played; `marquee serve` on it. For runs list
(plain, --json, filtered, paged), runs show, runs compare, models list/show/versions/diff and
experiments analyze, the local and the remote output (stdout and exit status) must be equal, and
errors must carry the same exit status. Needs only the built `marquee`.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from checks import check, finish  # tests/python/checks.py

BIN = os.environ["MARQUEE_BIN"]


def run(home, *args, server=None):
    cmd = [BIN, "-q"] + (["--server", server] if server else ["--home", home]) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True)


def ok(home, *args):
    r = run(home, *args)
    if r.returncode != 0:
        raise SystemExit(f"FAIL  marquee {' '.join(args)}: {r.stderr}")
    return r.stdout


def write(path, text):
    with open(path, "w") as f:
        f.write(text)
    return path


def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def main():
    tmp = tempfile.mkdtemp(prefix="marquee-remote-")
    home = os.path.join(tmp, "home")
    ok(home, "dataset", "generate", "--name", "shop", "--users", "300", "--items", "80",
       "--interactions", "5000")
    for name, family in [("recs", "ease"), ("recs", "itemknn"), ("pop", "popularity")]:
        ok(home, "train", write(os.path.join(tmp, f"{name}-{family}.toml"), f"""
[data]
dataset = "shop"
[split]
test_users = 30
[model]
family = "{family}"
name = "{name}"
[eval]
metrics = ["recall@20", "ndcg@20"]
"""))
    ok(home, "models", "promote", "recs", "1", "--alias", "production")
    ok(home, "experiments", "create", write(os.path.join(tmp, "ab.toml"), """
[experiment]
name = "ab"
salt = "s"
mode = "ab"
[[cell]]
name = "control"
model = "pop/1"
[[cell]]
name = "treatment"
model = "recs/1"
"""))
    ok(home, "experiments", "start", "ab")
    port_file = os.path.join(tmp, "port")
    server = subprocess.Popen([BIN, "--home", home, "-q", "serve", "--port", "0", "--port-file",
                               port_file, "--exposure-flush-ms", "10"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            if os.path.exists(port_file):
                break
            time.sleep(0.05)
        url = f"http://127.0.0.1:{open(port_file).read().strip()}"
        for _ in range(600):  # the experiment's cells load in the background: /readyz says when
            try:
                with urllib.request.urlopen(url + "/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            time.sleep(0.05)
        # Exposures and plays, so the analysis has numbers in it.
        for u in range(40):
            post(url + "/v1/recommend", {"experiment": "ab", "user": f"u{u + 1}", "k": 5})
        events = [{"user": f"u{u + 1}", "item": f"i{(u * 3) % 80 + 1}", "type": "play", "value": 1}
                  for u in range(0, 40, 2)]
        post(url + "/v1/events", {"events": events})
        time.sleep(0.5)
        commands = [
            ["runs", "list"], ["runs", "list", "--json"], ["runs", "list", "--limit", "2"],
            ["runs", "list", "--model", "recs", "--metric", "recall@20>=0"],
            ["runs", "list", "--sort=-metric:recall@20", "--limit", "2"],
            ["runs", "list", "--sort", "metric:recall@20", "--offset", "1", "--json"],
            ["runs", "list", "--sort", "started_at", "--param", "lambda=100", "--json"],
            ["runs", "list", "--sort", "recall"],  # an error either way
            ["runs", "show", "2"], ["runs", "show", "recs@production"],
            ["runs", "compare", "1", "2", "3"],
            ["models", "list"], ["models", "show", "recs"], ["models", "show", "recs@production"],
            ["models", "show", "recs", "--json"], ["models", "versions", "recs"],
            ["models", "diff", "recs", "1", "2"],
            ["experiments", "analyze", "ab"], ["experiments", "analyze", "ab", "--json"],
            # Errors: the same exit status (and the same message) either way.
            ["models", "show", "nope"], ["runs", "show", "99"],
        ]
        for cmd in commands:
            local, remote = run(home, *cmd), run(home, *cmd, server=url)
            same = local.stdout == remote.stdout and local.returncode == remote.returncode
            check(same, f"marquee {' '.join(cmd)}: local and --server agree (exit "
                        f"{local.returncode}/{remote.returncode}, {len(local.stdout)} bytes)"
                  + ("" if same else f"\n--- local\n{local.stdout[:800]}\n--- remote\n"
                     f"{remote.stdout[:800]}{remote.stderr[:400]}"))
        check("recs" in run(home, "models", "show", "recs", server=url).stdout,
              "the remote output is not empty")
        check(run(home, "experiments", "analyze", "ab").stdout.count("treatment") >= 1,
              "the analysis names the cells")
        r = run(home, "gc", server=url)
        check(r.returncode == 2 and "no --server form" in r.stderr,
              f"a command without a remote form refuses --server (exit {r.returncode})")
        r = run(home, "runs", "list", server="http://127.0.0.1:1")
        check(r.returncode == 12 and "127.0.0.1:1" in r.stderr,
              f"an unreachable server is 'unavailable' naming it (exit {r.returncode})")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
