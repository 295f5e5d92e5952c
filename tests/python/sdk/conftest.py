"""Fixtures of the SDK tests: a real `marquee serve` on a scratch home, started once per session.

The home holds a synthetic recommender dataset "shop" with two trained versions of "recs"
(recs@production = 1), a synthetic bandit log and a trained epsilon-greedy policy "artwork"
(artwork@production = 1). The server runs with --model recs@production and --bandit
artwork@production on a free port (--port 0 --port-file) and is stopped by its pid. A second
server with --api-keys (its own home) is started for the auth tests.

Nothing is built here: MARQUEE_BIN names the marquee binary (ctest sets it).
"""
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.environ.get("MARQUEE_SOURCE_DIR", os.path.abspath(os.path.join(HERE, "..", "..", "..")))
sys.path.insert(0, os.path.join(SRC, "python"))  # the SDK from the source tree, not an install

import marquee  # noqa: E402

BIN = os.environ.get("MARQUEE_BIN")
READER = "sdk-reader-key-0001"  # API keys of auth_server (16 characters at least)
WRITER = "sdk-writer-key-0002"
ADMIN = "sdk-admin-key-00003"

RECS_TOML = """
[data]
dataset = "shop"
[split]
protocol = "strong-generalization"
test_users = 30
fold_in = 0.8
seed = 1
[model]
family = "ease"
name = "recs"
lambda = {lam}
[eval]
metrics = ["recall@20", "ndcg@20"]
"""

BANDIT_TOML = """
[data]
dataset = "artlog"
[split]
protocol = "temporal"
test_fraction = 0.2
seed = 1
[model]
family = "epsilon-greedy"
name = "artwork"
seed = 42
[eval]
estimators = ["ips", "snips"]
bootstrap = 10
"""


def cli(home, *args):
    """Runs `marquee --home HOME -q ARGS --json`-style commands; returns stdout, fails loudly."""
    r = subprocess.run([BIN, "--home", home, "-q", *args], capture_output=True, text=True,
                       timeout=300)
    if r.returncode != 0:
        raise AssertionError(f"marquee {' '.join(args)} exited {r.returncode}: {r.stderr}{r.stdout}")
    return r.stdout


def write_bandit_log(path, rows=300, seed=3):
    rng = random.Random(seed)
    with open(path, "w") as f:
        for i in range(rows):
            ctx = {"device": rng.choice(["tv", "phone"]), "hour": rng.randint(0, 23)}
            acts = [{"id": f"img-{j}", "features": {"tone": rng.choice(["dark", "light"])}}
                    for j in range(3)]
            chosen = rng.randrange(3)
            f.write(json.dumps({"context": ctx, "actions": acts, "chosen": chosen,
                                "probability": 1 / 3,
                                "reward": float(rng.random() < 0.3 + 0.2 * chosen),
                                "user": str(i % 50), "ts": 1700000000 + i}) + "\n")


class Server:
    """`marquee serve` on a free port; stop() sends SIGTERM to its pid (SIGKILL after 10 s)."""

    def __init__(self, home, tmp, *flags):
        self.home = home
        port_file = os.path.join(tmp, f"port-{os.getpid()}-{time.monotonic_ns()}")
        self.log_path = port_file + ".log"
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen([BIN, "--home", home, "serve", "--port", "0", "--port-file",
                                      port_file, *flags], stdout=self._log,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"marquee serve exited {self.proc.returncode}: "
                                     + open(self.log_path).read())
            if time.monotonic() > deadline:
                self.stop()
                raise AssertionError("marquee serve did not become ready in 60 s")
            if os.path.exists(port_file) and open(port_file).read().strip():
                self.port = int(open(port_file).read())
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz",
                                                timeout=5):
                        break
                except OSError:
                    pass
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"

    def stop(self):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()


@pytest.fixture(scope="session")
def tmp_root():
    if not BIN or not os.access(BIN, os.X_OK):
        pytest.exit("MARQUEE_BIN must name the marquee binary (ctest sets it)", returncode=2)
    root = tempfile.mkdtemp(prefix="marquee-sdk-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def server(tmp_root):
    home = os.path.join(tmp_root, "home")
    cli(home, "dataset", "generate", "--name", "shop", "--users", "300", "--items", "120",
        "--interactions", "6000")
    for lam in (100, 400):
        cfg = os.path.join(tmp_root, f"recs-{lam}.toml")
        with open(cfg, "w") as f:
            f.write(RECS_TOML.format(lam=lam))
        cli(home, "train", cfg)
    cli(home, "models", "promote", "recs", "1", "--alias", "production")
    log = os.path.join(tmp_root, "artlog.jsonl")
    write_bandit_log(log)
    cli(home, "dataset", "import", log, "--format", "bandit-jsonl", "--name", "artlog")
    cfg = os.path.join(tmp_root, "artwork.toml")
    with open(cfg, "w") as f:
        f.write(BANDIT_TOML)
    cli(home, "train", cfg)
    cli(home, "models", "promote", "artwork", "1", "--alias", "production")
    srv = Server(home, tmp_root, "--model", "recs@production", "--bandit", "artwork@production",
                 "--poll-interval", "0.2")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def client(server):
    c = marquee.Client(server.url)
    yield c
    c.close()


@pytest.fixture(scope="session")
def auth_server(tmp_root):
    """A server with --api-keys (keys READER, WRITER, ADMIN with scopes read; read,write; all) and a
    short --request-timeout-ms (1 s), so idle keep-alive connections are closed by the server."""
    home = os.path.join(tmp_root, "auth-home")
    os.makedirs(home, exist_ok=True)
    keys = os.path.join(tmp_root, "keys.txt")
    with open(keys, "w") as f:
        f.write(f"{READER} read\n{WRITER} read,write\n{ADMIN} read,write,admin\n")
    srv = Server(home, tmp_root, "--api-keys", keys, "--request-timeout-ms", "1000")
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def recs_items(server):
    """Item ids ("iN") that recs v1 knows: the top 50 of training user "u1" (seen ones too)."""
    c = marquee.Client(server.url)
    r = c.recommend("recs@production", user="u1", k=50, exclude_seen=False)
    c.close()
    return [it["id"] for it in r["items"]]
