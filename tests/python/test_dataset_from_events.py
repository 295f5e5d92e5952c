#!/usr/bin/python3
"""`marquee dataset import --from-events --base NAME`: the snapshot NAME's rows plus every event
logged by `marquee serve`, so a retrained version knows users who exist only in the events.

A synthetic dataset is served; events (one for a known user, two for a user only the events
know) are logged over HTTP; the server is stopped; the combined snapshot must hold every base row
and every event, its users must include the new one, and a model trained on it must know that
user. Misuse is refused with the right exit code. No shared data needed.
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



def marquee(home, *args, ok=True):
    r = subprocess.run([BIN, "--home", home, "-q", *args], capture_output=True, text=True)
    if ok and r.returncode != 0:
        raise SystemExit(f"FAIL  marquee {' '.join(args)}: exit {r.returncode}\n{r.stderr}")
    return r


def post(port, path, body):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", json.dumps(body).encode(),
                                 method="POST")
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


class Server:
    """`marquee serve --model REF` on a free port, stopped with SIGTERM on exit."""

    def __init__(self, home, tmp, ref):
        self.port_file = os.path.join(tmp, f"port-{ref.replace('/', '-')}")
        self.proc = subprocess.Popen([BIN, "--home", home, "serve", "--port", "0", "--port-file",
                                      self.port_file, "--model", ref],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def __enter__(self):
        deadline = time.monotonic() + 60
        while True:
            if os.path.exists(self.port_file) and open(self.port_file).read().strip():
                port = int(open(self.port_file).read())
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                        return port
                except OSError:
                    pass
            if time.monotonic() > deadline or self.proc.poll() is not None:
                self.proc.kill()
                raise SystemExit("FAIL  marquee serve did not become ready")
            time.sleep(0.1)

    def __exit__(self, *exc):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)


def main():
    with tempfile.TemporaryDirectory() as tmp:
        home = os.path.join(tmp, "home")
        marquee(home, "dataset", "generate", "--name", "shop", "--users", "200", "--items", "80",
                "--interactions", "3000")
        config = os.path.join(tmp, "recs.toml")
        with open(config, "w") as f:
            f.write('[data]\ndataset = "shop"\n[model]\nfamily = "ease"\nname = "recs"\n'
                    '[split]\ntest_users = 20\n')
        marquee(home, "train", config)
        r = marquee(home, "dataset", "import", "--from-events", "--base", "shop", ok=False)
        check(r.returncode == 3, f"no event log yet: exit {r.returncode} (3, not_found)")

        with Server(home, tmp, "recs/1") as port:
            got = post(port, "/v1/events", {"events": [
                {"user": "u1", "item": "i5", "type": "play", "ts": 1700000000},
                {"user": "newcomer", "item": "i1", "value": 2.0, "ts": 1700000001},
                {"user": "newcomer", "item": "i2", "ts": 1700000002}]})
            check(got == {"accepted": 3}, f"3 events logged: {got}")

        base = json.loads(marquee(home, "dataset", "show", "shop", "--json").stdout)
        r = marquee(home, "dataset", "import", "--from-events", "--base", "shop", "--name",
                    "shop-plus-events", "--json")
        j = json.loads(r.stdout)
        check(j["interactions"] == base["interactions"] + 3,
              f"rows {j['interactions']} = base {base['interactions']} + 3 events")
        check(j["users"] == base["users"] + 1, f"users {j['users']} = base {base['users']} + 1")
        check(j["items"] == base["items"], f"items {j['items']} = base {base['items']}")
        check(j["events"] == 3 and j["base"] == "shop",
              f"events {j['events']} from base {j['base']}")

        trained = json.loads(marquee(home, "train", config, "--set",
                                     "data.dataset=shop-plus-events", "--json").stdout)
        check(trained["version"] == 2,
              f"version {trained['version']} trained on {trained['dataset']['name']}")
        # Version 2's training data has the new user: the server counts it among known users.
        with Server(home, tmp, "recs/2") as port:
            req = urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/models", timeout=30)
            models = json.loads(req.read())["models"]
        check(models[0]["version"] == 2 and models[0]["known_users"] == base["users"] + 1,
              f"recs v2 knows {models[0]['known_users']} users = base {base['users']} + 1")

        r = marquee(home, "dataset", "import", "--from-events", "--base", "nope", ok=False)
        check(r.returncode == 3, f"unknown base: exit {r.returncode} (3, not_found)")
        r = marquee(home, "dataset", "import", "--base", "shop", "x.csv", ok=False)
        check(r.returncode == 2 and "--base needs --from-events" in r.stderr,
              f"--base without --from-events: exit {r.returncode} (2): {r.stderr.strip()}")
    return finish()


if __name__ == "__main__":
    sys.exit(main())
