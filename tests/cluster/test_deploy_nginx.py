#!/usr/bin/python3
"""`marquee deploy nginx` (issue #16): its output passes `nginx -t`, and nginx run with it
behaves as docs/deploy.md says, against two stand-in replicas (one answering 503 to everything,
one answering 200): scoring POSTs and GETs move on to the healthy replica, writes (/v1/events)
are never sent twice, so the 503 reaches the client; the body limit is the server's. Bad flags
are refused naming the flag. Skips (77) where nginx is not installed.
"""
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SOURCE = os.environ.get("MARQUEE_SOURCE_DIR",
                        os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.join(SOURCE, "tests", "python"))
from checks import check, finish  # noqa: E402

MARQUEE = os.environ.get("MARQUEE_BIN", os.path.join(SOURCE, "build/release/tools/marquee/marquee"))


class Replica:
    """A stand-in replica on a free port answering every request with `status`; counts them."""

    def __init__(self, status):
        outer = self
        self.status, self.hits = status, {}
        self.lock = threading.Lock()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self):
                n = int(self.headers.get("Content-Length") or 0)
                if n:
                    self.rfile.read(n)
                with outer.lock:
                    key = f"{self.command} {self.path}"
                    outer.hits[key] = outer.hits.get(key, 0) + 1
                body = json.dumps({"replica": outer.status}).encode()
                self.send_response(outer.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def request(url, method="GET", body=None):
    req = urllib.request.Request(url, data=body, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def main():
    nginx = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                      else None)
    if nginx is None:
        print("SKIP: nginx is not installed (apt-get install nginx-light; scripts/setup)")
        return 77
    tmp = tempfile.mkdtemp(prefix="marquee-nginx-")
    run_dir = os.path.join(tmp, "run")
    os.makedirs(run_dir)
    conf = os.path.join(tmp, "nginx.conf")
    bad, good = Replica(503), Replica(200)
    port = free_port()
    r = subprocess.run([MARQUEE, "deploy", "nginx", "--replicas",
                        f"127.0.0.1:{bad.port},127.0.0.1:{good.port}", "--listen",
                        f"127.0.0.1:{port}", "--run-dir", run_dir, "--out", conf,
                        "--max-fails", "1000", "--workers", "1"], capture_output=True, text=True)
    check(r.returncode == 0 and os.path.exists(conf), f"deploy nginx --out ({r.stderr.strip()})")
    text = open(conf).read()
    check(f"server 127.0.0.1:{good.port} max_fails=1000 fail_timeout=5s;" in text
          and "keepalive 64;" in text and "client_max_body_size 8388608;" in text,
          "the upstream lists both replicas with passive health, keep-alive and the server's "
          "8 MiB body limit")
    t = subprocess.run([nginx, "-t", "-c", conf, "-p", run_dir, "-e", f"{run_dir}/error.log"],
                       capture_output=True, text=True)
    check(t.returncode == 0, f"nginx -t accepts it ({t.stderr.strip()[-400:]})")
    # The same to stdout.
    r2 = subprocess.run([MARQUEE, "deploy", "nginx", "--replicas",
                         f"127.0.0.1:{bad.port},127.0.0.1:{good.port}", "--listen",
                         f"127.0.0.1:{port}", "--run-dir", run_dir, "--max-fails", "1000",
                         "--workers", "1"], capture_output=True, text=True)
    check(r2.returncode == 0 and r2.stdout == text, "without --out it prints the same")

    proc = subprocess.Popen([nginx, "-c", conf, "-p", run_dir, "-e", f"{run_dir}/error.log",
                             "-g", "daemon off;"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        body = json.dumps({"model": "m", "user": "u1"}).encode()
        scoring = [request(base + "/v1/recommend", "POST", body) for _ in range(20)]
        check(scoring == [200] * 20, f"scoring POSTs move on from the 503 replica ({scoring})")
        gets = [request(base + "/v1/models") for _ in range(20)]
        check(gets == [200] * 20, f"GETs move on ({gets})")
        events = [request(base + "/v1/events", "POST", b'{"events": []}') for _ in range(20)]
        sent_bad = bad.hits.get("POST /v1/events", 0)
        sent_good = good.hits.get("POST /v1/events", 0)
        check(events.count(503) == sent_bad and sent_bad > 0 and sent_bad + sent_good == 20,
              f"writes are never resent: {sent_bad} reached the 503 replica and got 503, "
              f"{sent_good} the other; each sent once ({events})")
        check(bad.hits.get("POST /v1/recommend", 0) > 0,
              "the 503 replica was tried for scoring too (the retry was nginx's, not luck)")
        big = request(base + "/v1/recommend", "POST", b"x" * (8 * 1024 * 1024 + 1))
        check(big == 413, f"a body over the server's limit is refused by nginx ({big})")
    finally:
        proc.terminate()
        proc.wait(timeout=10)

    for args, needle in [(["--replicas", "127.0.0.1"], "--replicas"),
                         (["--replicas", "127.0.0.1:99999"], "port"),
                         (["--replicas", "h;evil:80"], "--replicas"),
                         (["--replicas", "127.0.0.1:80", "--listen", "x:y"], "--listen"),
                         (["--replicas", "127.0.0.1:80", "--run-dir", "rel/dir"], "--run-dir")]:
        r = subprocess.run([MARQUEE, "deploy", "nginx", *args], capture_output=True, text=True)
        check(r.returncode != 0 and needle in r.stderr,
              f"deploy nginx {' '.join(args)}: refused naming {needle} ({r.stderr.strip()})")
    shutil.rmtree(tmp, ignore_errors=True)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
