#!/usr/bin/python3
"""`marquee --server URL CMD` prints exactly what `marquee CMD` prints on the server's home.

A home with a generated dataset, three runs of two models (one promoted), and a started A/B
experiment whose members got recommendations and played; `marquee serve` on it. For runs list
(plain, --json, filtered, paged), runs show, runs compare, models list/show/versions/diff,
experiments list/show/analyze and dataset list/show (of each kind), the local and the remote
output (stdout and exit status) must be equal, and errors must carry the same exit status.
Commands that write (models tag/promote/rollback, experiments create/start/stop, dataset
import/delete of each kind, train as a job) run once locally and once remotely on names that
differ only in a suffix: the outputs must be equal once the names (and the ids and times that
necessarily differ) are mapped. Needs only the built `marquee`.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from checks import check, experiment_toml, finish, write  # tests/python/checks.py

BIN = os.environ["MARQUEE_BIN"]


def run(home, *args, server=None):
    cmd = [BIN, "-q"] + (["--server", server] if server else ["--home", home]) + list(args)
    return subprocess.run(cmd, capture_output=True, text=True)


def ok(home, *args):
    r = run(home, *args)
    if r.returncode != 0:
        raise SystemExit(f"FAIL  marquee {' '.join(args)}: {r.stderr}")
    return r.stdout


def masked(text, subst=()):
    """`text` with each (a, b) of `subst` replaced, and the ISO times and seconds masked."""
    for a, b in subst:
        text = text.replace(a, b)
    text = re.sub(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", "TIME", text)
    return re.sub(r"\b\d+\.\d+s\b", "SECONDS", text)


def same_write(home, url, local_cmd, remote_cmd, subst, stderr=False):
    """Runs `local_cmd` locally and `remote_cmd` with --server; checks the outputs are equal
    once `subst` maps the local names to the remote ones. Returns the remote result."""
    local, remote = run(home, *local_cmd), run(home, *remote_cmd, server=url)
    a, b = masked(local.stdout, subst), masked(remote.stdout, ())
    ok_ = a == b and local.returncode == remote.returncode
    if stderr:
        ok_ = ok_ and masked(local.stderr, subst) == masked(remote.stderr, ())
    check(ok_, f"marquee {' '.join(remote_cmd)}: the same as locally (exit "
               f"{local.returncode}/{remote.returncode})"
          + ("" if ok_ else f"\n--- local\n{a[:1500]}{local.stderr[:400]}\n--- remote\n"
             f"{b[:1500]}{remote.stderr[:400]}"))
    return remote


def write_files(tmp):
    """A tabular CSV, a bandit log and an interaction CSV to import."""
    tab = write(os.path.join(tmp, "pay.csv"), "id,amount,country,noise,label\n" + "".join(
        f"{k},{k * 1.5},{'se' if k % 2 else 'no'},{k % 7},{k % 2}\n" for k in range(40)))
    lines = []
    for k in range(50):
        lines.append(json.dumps({"context": {"device": "tv" if k % 2 else "phone"},
                                 "actions": [{"id": "a"}, {"id": "b"}, {"id": "c"}],
                                 "chosen": k % 3, "probability": 1 / 3,
                                 "reward": float(k % 4 == 0), "ts": 1796000000 + k}))
    blog = write(os.path.join(tmp, "art.jsonl"), "\n".join(lines) + "\n")
    plays = write(os.path.join(tmp, "plays.csv"), "member,title,rating,when\n" + "".join(
        f"m{u},t{(u * 7 + j) % 30},{1 + (u + j) % 5},{1796000000 + u * 60 + j}\n"
        for u in range(50) for j in range(5)) + "m1,broken\n")
    return tab, blog, plays


def write_commands(home, url, tmp):
    """Every write command with a remote form, once locally and once remotely."""
    ren = lambda *pairs: list(pairs)  # noqa: E731
    # models tag, promote (a passing and a failing gate), rollback
    same_write(home, url, ["models", "tag", "recs/2", "reviewed=yes", "ticket=R-1"],
               ["models", "tag", "recs/2", "reviewed=yes", "ticket=R-1"], ())
    same_write(home, url, ["models", "tag", "recs", "team=ml", "--json"],
               ["models", "tag", "recs", "team=ml", "--json"], ())
    same_write(home, url, ["models", "promote", "recs", "2", "--alias", "s1", "--note", "n"],
               ["models", "promote", "recs", "2", "--alias", "s2", "--note", "n"],
               ren(("s1", "s2")))
    same_write(home, url, ["models", "promote", "recs@s1", "--alias", "t1", "--json"],
               ["models", "promote", "recs@s2", "--alias", "t2", "--json"],
               ren(("s1", "s2"), ("t1", "t2")))
    r = same_write(home, url, ["models", "promote", "recs", "2", "--alias", "production",
                               "--require", "recall@20>=9"],
                   ["models", "promote", "recs", "2", "--alias", "production",
                    "--require", "recall@20>=9"], (), stderr=True)
    check(r.returncode != 0 and "recall@20" in r.stderr,
          f"a failing gate refuses the promotion remotely too (exit {r.returncode})")
    same_write(home, url, ["models", "promote", "recs/1", "--alias", "s1"],
               ["models", "promote", "recs/1", "--alias", "s2"], ren(("s1", "s2")))
    same_write(home, url, ["models", "rollback", "recs", "--alias", "s1"],
               ["models", "rollback", "recs", "--alias", "s2"], ren(("s1", "s2")))
    same_write(home, url, ["models", "rollback", "recs", "--alias", "nope1"],
               ["models", "rollback", "recs", "--alias", "nope2"], ren(("nope1", "nope2")),
               stderr=True)
    # experiments create, start, stop (and list/show after)
    for n in ("1", "2"):
        write(os.path.join(tmp, f"ex{n}.toml"), experiment_toml(f"ex{n}", f"s{n}", description="remote test"))
    ex = ren(("ex1", "ex2"), ("s1", "s2"))
    same_write(home, url, ["experiments", "create", os.path.join(tmp, "ex1.toml")],
               ["experiments", "create", os.path.join(tmp, "ex2.toml")], ex)
    same_write(home, url, ["experiments", "start", "ex1"], ["experiments", "start", "ex2"], ex)
    same_write(home, url, ["experiments", "stop", "ex1", "--json"],
               ["experiments", "stop", "ex2", "--json"], ex)
    same_write(home, url, ["experiments", "start", "nope1"], ["experiments", "start", "nope2"],
               ren(("nope1", "nope2")), stderr=True)
    # dataset import of each kind, then delete
    tab, blog, plays = write_files(tmp)
    same_write(home, url, ["dataset", "import", tab, "--format", "tabular", "--label", "label",
                           "--id-col", "id", "--type", "amount=categorical", "--drop", "noise",
                           "--name", "tab1"],
               ["dataset", "import", tab, "--format", "tabular", "--label", "label",
                "--id-col", "id", "--type", "amount=categorical", "--drop", "noise",
                "--name", "tab2"], ren(("tab1", "tab2")))
    same_write(home, url, ["dataset", "import", blog, "--format", "bandit-jsonl", "--name", "bl1"],
               ["dataset", "import", blog, "--format", "bandit-jsonl", "--name", "bl2"],
               ren(("bl1", "bl2")))
    same_write(home, url, ["dataset", "import", plays, "--user-col", "member", "--item-col",
                           "title", "--value-col", "rating", "--time-col", "when", "--header",
                           "--skip-bad-lines", "--name", "pl1"],
               ["dataset", "import", plays, "--user-col", "member", "--item-col", "title",
                "--value-col", "rating", "--time-col", "when", "--header", "--skip-bad-lines",
                "--name", "pl2"], ren(("pl1", "pl2")))
    same_write(home, url, ["dataset", "import", plays, "--user-col", "nope", "--name", "pl3"],
               ["dataset", "import", plays, "--user-col", "nope", "--name", "pl4"],
               ren(("pl3", "pl4")), stderr=True)
    same_write(home, url, ["dataset", "import", tab, "--format", "tabular", "--name", "tab3"],
               ["dataset", "import", tab, "--format", "tabular", "--name", "tab4"],
               ren(("tab3", "tab4")))
    for kind in ("tab", "bl", "pl"):
        same_write(home, url, ["dataset", "show", kind + "1"], ["dataset", "show", kind + "2"],
                   ren((kind + "1", kind + "2")))
    same_write(home, url, ["dataset", "delete", "pl1"], ["dataset", "delete", "pl2"],
               ren(("pl1", "pl2")))
    same_write(home, url, ["dataset", "delete", "pl1"], ["dataset", "delete", "pl2"],
               ren(("pl1", "pl2")))
    # train as a job: the same run/version text and JSON, the same failure
    for n in ("1", "2"):
        write(os.path.join(tmp, f"tr{n}.toml"), """
[data]
dataset = "shop"
[split]
test_users = 30
[model]
family = "popularity"
[eval]
metrics = ["recall@20", "ndcg@20"]
""")
    local = run(home, "train", os.path.join(tmp, "tr1.toml"))
    remote = run(home, "train", os.path.join(tmp, "tr2.toml"), server=url)
    run_ids = [re.search(r"Recorded run (\d+)", r.stdout) for r in (local, remote)]
    check(all(run_ids) and local.returncode == remote.returncode == 0,
          f"train locally and as a job (exit {local.returncode}/{remote.returncode}) "
          f"{remote.stderr[-400:]}")
    if all(run_ids):
        a, b = run_ids[0].group(1), run_ids[1].group(1)
        # The artifacts differ by the model name in them: their digests are masked.
        digest = lambda t: re.sub(r"[0-9a-f]{64}", "DIGEST", t)  # noqa: E731
        check(digest(masked(local.stdout, [("tr1", "tr2"), (f"run {a}", f"run {b}"),
                                           (f"compare {a}", f"compare {b}")]))
              == digest(masked(remote.stdout)),
              f"train as a job ends in the same run/version text\n--- local\n{local.stdout}"
              f"\n--- remote\n{remote.stdout}")
    lj = run(home, "train", os.path.join(tmp, "tr1.toml"), "--json")
    rj = run(home, "train", os.path.join(tmp, "tr2.toml"), "--json", server=url)
    if lj.returncode == 0 and rj.returncode == 0:
        a, b = json.loads(lj.stdout), json.loads(rj.stdout)
        check(a["model"] == "tr1" and b["model"] == "tr2" and a["version"] == b["version"] == 2
              and set(a) == set(b)
              and a.get("metrics") == b.get("metrics"),
              f"train --json: the same object as a job\n{lj.stdout[:600]}\n{rj.stdout[:600]}")
    else:
        check(False, f"train --json (exit {lj.returncode}/{rj.returncode}) {rj.stderr[-300:]}")
    same_write(home, url, ["train", os.path.join(tmp, "tr1.toml"), "--set", "data.dataset=nope"],
               ["train", os.path.join(tmp, "tr2.toml"), "--set", "data.dataset=nope"],
               ren(("tr1", "tr2")))
    d = run(home, "train", os.path.join(tmp, "tr2.toml"), "--detach", server=url)
    check(d.returncode == 0 and d.stdout.strip().isdigit(),
          f"train --detach prints the job id ({d.stdout!r})")
    if d.stdout.strip().isdigit():
        for _ in range(600):
            with urllib.request.urlopen(f"{url}/api/v1/jobs/{d.stdout.strip()}",
                                        timeout=30) as r:
                job = json.loads(r.read())
            if job["state"] not in ("queued", "running"):
                break
            time.sleep(0.1)
        check(job["state"] == "succeeded" and job["outcome"]["model"] == "tr2",
              f"the detached job trains ({job['state']})")
    # decisions export, streamed: the same lines, to stdout or to --out
    for k in range(12):
        d = post(url + "/v1/decide", {"model": "arm/1", "user": f"u{k}",
                                      "context": {"device": "tv" if k % 2 else "phone"},
                                      "actions": [{"id": "a"}, {"id": "b"}, {"id": "c"}]})
        if k % 3 == 0:
            post(url + "/v1/reward", {"decision_id": d["decision_id"], "reward": 1.0})
    time.sleep(1.5)  # every reward window (0.5 s) has closed
    for fmt in ("jsonl", "dsjson", "bandit-jsonl"):
        r = same_write(home, url, ["decisions", "export", "--format", fmt],
                       ["decisions", "export", "--format", fmt], ())
        check(r.stdout.count("\n") == 12, f"decisions export --format {fmt}: 12 decisions "
                                           f"({r.stdout.count(chr(10))})")
    outs = [os.path.join(tmp, f"dec{n}.jsonl") for n in (1, 2)]
    local = run(home, "decisions", "export", "--out", outs[0])
    remote = run(home, "decisions", "export", "--out", outs[1], server=url)
    check(local.returncode == remote.returncode == 0
          and open(outs[0]).read() == open(outs[1]).read(),
          f"decisions export --out writes the same file (exit {local.returncode}/"
          f"{remote.returncode}) {remote.stderr[-300:]}")


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
    ok(home, "experiments", "create", write(os.path.join(tmp, "ab.toml"),
                                            experiment_toml("ab", "s", description="")))
    ok(home, "experiments", "start", "ab")
    # A contextual bandit policy served beside the recommenders, so there are decisions to export.
    _, blog, _ = write_files(tmp)
    ok(home, "train", write(os.path.join(tmp, "arm.toml"), f"""
[data]
train = "{blog}"
[split]
protocol = "temporal"
test_fraction = 0.3
[model]
family = "linucb"
name = "arm"
[eval]
estimators = ["ips"]
bootstrap = 10
"""))
    port_file = os.path.join(tmp, "port")
    server = subprocess.Popen([BIN, "--home", home, "-q", "serve", "--port", "0", "--port-file",
                               port_file, "--exposure-flush-ms", "10", "--bandit", "arm/1",
                               "--reward-window", "0.5"],
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
            ["experiments", "list"], ["experiments", "list", "--json"],
            ["experiments", "show", "ab"], ["experiments", "show", "ab", "--json"],
            ["dataset", "list"], ["dataset", "list", "--json"], ["dataset", "show", "shop"],
            ["dataset", "show", "shop", "--json"], ["dataset", "show", "nope"],
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
        write_commands(home, url, tmp)
        for cmd in (["dataset", "list"], ["dataset", "show", "tab2"], ["dataset", "show", "bl2"],
                    ["experiments", "list"], ["experiments", "show", "ex2"],
                    ["models", "show", "recs"]):
            local, remote = run(home, *cmd), run(home, *cmd, server=url)
            check(local.stdout == remote.stdout and local.returncode == remote.returncode == 0,
                  f"marquee {' '.join(cmd)} after the writes: local and --server agree")
        check("recs" in run(home, "models", "show", "recs", server=url).stdout,
              "the remote output is not empty")
        check(run(home, "experiments", "analyze", "ab").stdout.count("treatment") >= 1,
              "the analysis names the cells")
        for cmd in (["gc"], ["models", "describe", "recs", "x"], ["dataset", "generate"],
                    ["dataset", "import", "--from-events"]):
            r = run(home, *cmd, server=url)
            check(r.returncode == 2 and "no --server form" in r.stderr,
                  f"marquee {' '.join(cmd)} has no remote form and refuses --server "
                  f"(exit {r.returncode}: {r.stderr.strip()})")
        r = run(home, "runs", "list", server="http://127.0.0.1:1")
        check(r.returncode == 12 and "127.0.0.1:1" in r.stderr,
              f"an unreachable server is 'unavailable' naming it (exit {r.returncode})")
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    return finish()


if __name__ == "__main__":
    sys.exit(main())
