"""What the script tests share: check() records a failed expectation with its message and goes
on, so one run reports every failure; finish() prints how many failed and returns the exit
status for sys.exit (ctest reads it).

    from checks import check, finish
    check(value == 3, f"value is {value} (3)")
    return finish()

It also holds the fixtures more than one script writes (write, experiment_toml) and the JSON
HTTP calls and server handling more than one script needs (post, get_json, server_url,
stop_server).
"""
import json
import subprocess
import time
import urllib.error
import urllib.request

failures = []
passes = 0
# Whether passing checks are printed too ("ok    ..."); scripts with thousands of checks turn
# it off and print only failures.
show_passes = True


def check(cond, msg):
    """Records `msg` as a failure when `cond` is false; prints it (and passes when shown)."""
    global passes
    if cond:
        passes += 1
        if show_passes:
            print("ok    " + msg)
        return
    print("FAIL  " + msg)
    failures.append(msg)


def finish():
    """Prints how many checks passed and, when some failed, each failure again (a log cut to its
    head or its tail still shows them); returns 1 if any failed, else 0."""
    print(f"{passes} checks passed, {len(failures)} failed")
    for msg in failures:
        print("FAIL  " + msg)
    return 1 if failures else 0


def write(path, text):
    """Writes `text` to the file `path`; returns the path."""
    with open(path, "w") as f:
        f.write(text)
    return path


def experiment_toml(name, salt="s", mode="ab", description=None):
    """An experiment definition: pop/1 (cell "control") against recs/1 (cell "treatment")."""
    desc = "" if description is None else f'description = "{description}"\n'
    return f"""
[experiment]
name = "{name}"
salt = "{salt}"
mode = "{mode}"
{desc}[[cell]]
name = "control"
model = "pop/1"
[[cell]]
name = "treatment"
model = "recs/1"
"""


def _call(req, timeout):
    """(status, parsed JSON body); the error's text for an HTTP error, None and the reason on a
    connection error."""
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")
    except OSError as e:  # URLError too
        return None, str(e)


def post(url, body, timeout=5.0):
    """POSTs `body` as JSON: (status, parsed body), see _call."""
    return _call(urllib.request.Request(url, data=json.dumps(body).encode(),
                                        headers={"Content-Type": "application/json"},
                                        method="POST"), timeout)


def get_json(url, timeout=5.0):
    """GETs `url`: (status, parsed body), see _call."""
    return _call(urllib.request.Request(url), timeout)


def server_url(port_file, proc, limit=60.0):
    """The URL of `marquee serve ... --port 0 --port-file PORT_FILE` (process `proc`) once it
    answers /readyz 200, or None when it exits or `limit` seconds pass first."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with open(port_file) as f:
                port = f.read().strip()
        except OSError:
            port = ""
        if port:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                    if r.status == 200:
                        return f"http://127.0.0.1:{port}"
            except OSError:
                pass
        time.sleep(0.05)
    return None


def stop_server(proc, timeout=60):
    """SIGTERM, then SIGKILL after `timeout` seconds; returns the exit status."""
    proc.terminate()
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        return proc.wait()
