#!/usr/bin/python3
"""The documentation is tested: every shell walkthrough runs as written and prints what it says.

Every ```bash and ```sh block of README.md and of the user docs (docs/*.md and docs/formats/*.md;
docs/BENCHMARKS.md is left out: its commands are the benchmark scripts, minutes each, with wrk
and nginx; so is docs/ARCHITECTURE.md, which describes code and has no walkthrough) runs, in
document order, in ONE bash process per document (so `export`, variables and background jobs
carry from block to block, as when a reader pastes them):

  - a scratch home: MARQUEE_HOME and TMPDIR in a temporary folder, `marquee` (MARQUEE_BIN) first
    on PATH; the working directory is a scratch copy of the repository's examples/ with
    ../shared/data pointing at MARQUEE_SHARED_DATA, so `examples/...` and `../shared/data/...`
    resolve as they do from a checkout;
  - the port 8080 of the docs is replaced by a free port, so the test runs beside other servers;
  - a command that fails (non-zero status outside `||`, `if`, `until`; bash's ERR trap also
    cannot see the left side of `a && b` failing, so walkthroughs put one command per line) fails
    the test, naming the document, the block, the line, the command and the tail of the block's
    output. The
    walkthrough goes on after a failure (as a reader would), so one run reports every failing
    command; the expectations of a block in which a command failed are not checked;
  - expectations, checked against the block's output (stdout and stderr; runs of whitespace
    compare as one space, `...` matches anything):
      * a line `#> TEXT` inside a block: TEXT is printed by that block;
      * in the "What to expect:" list after a block, every `backticked` span that contains a
        digit is printed by that block (spans without digits name commands or flags);
  - a block whose first line starts with `# doc-test: skip` is not run (the marker is visible in
    the rendered doc, and says why);
  - afterwards every process the walkthrough left running (its process group: servers started
    with `&`) is killed by pid; a walkthrough that finished but left a process running fails,
    since a reader would be left with a server on their port.

Before the docs, the harness checks itself on a small synthetic document (a failing command, a
missing expectation and a leftover process must each be reported). Exits 77 (skip) when
../shared/data is absent.
"""
import glob
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

BIN = os.environ["MARQUEE_BIN"]
SRC = os.environ["MARQUEE_SOURCE_DIR"]
SHARED = os.environ.get("MARQUEE_SHARED_DATA", os.path.join(SRC, "..", "shared", "data"))
DOC_TIMEOUT_S = 780  # per document; ctest's limit for the whole script is 900 s
SKIP_MARKER = "# doc-test: skip"


class Block:
    def __init__(self, doc, index, line, lines):
        self.doc = doc
        self.index = index  # 1-based among the document's shell blocks
        self.line = line    # 1-based line in the document of the block's first code line
        self.lines = lines
        self.expect = [l.strip()[2:].strip() for l in lines if l.strip().startswith("#> ")]
        self.skip = bool(lines) and lines[0].strip().startswith(SKIP_MARKER)
        self.expect_prose = []  # (doc line, text) from the "What to expect:" list after it


def parse(doc, text):
    """The shell blocks of a markdown text, with their expectations."""
    blocks = []
    lines = text.split("\n")
    i = 0
    in_expect_list = False
    while i < len(lines):
        fence = re.match(r"^(\s*)```+\s*(\S*)", lines[i])
        if fence:
            lang = fence.group(2)
            body, start = [], i + 1
            i += 1
            while i < len(lines) and not lines[i].strip().startswith("```"):
                body.append(lines[i])
                i += 1
            if lang in ("bash", "sh", "shell"):
                blocks.append(Block(doc, len(blocks) + 1, start + 1, body))
            in_expect_list = False
            i += 1
            continue
        line = lines[i]
        if re.match(r"^\s*What to expect", line):
            in_expect_list = True
        elif line.startswith("#"):
            in_expect_list = False
        elif in_expect_list and blocks:
            for span in re.findall(r"`([^`]+)`", line):
                if re.search(r"\d", span):
                    blocks[-1].expect_prose.append((i + 1, span))
        i += 1
    return blocks


def normalise(s):
    return re.sub(r"\s+", " ", s).strip()


def printed(expected, output):
    """Whether `expected` (whitespace-normalised, `...` a wildcard) occurs in `output`."""
    parts = [re.escape(p.strip()) for p in normalise(expected).split("...")]
    pattern = r"\s*.*?\s*".join(parts)
    return re.search(pattern, normalise(output), re.S) is not None


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def group_pids(pgid):
    """Live processes of a process group (read from /proc), as {pid: command line}."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                stat = f.read()
            fields = stat[stat.rindex(")") + 2:].split()
            if int(fields[2]) != pgid or fields[0] == "Z":
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                out[int(d)] = f.read().replace(b"\0", b" ").decode(errors="replace").strip()
        except (OSError, ValueError, IndexError):
            continue
    return out


def run_doc(doc, blocks, workdir, env, port, timeout_s=DOC_TIMEOUT_S, verbose=True):
    """Runs a document's blocks in one bash; returns a list of failure messages."""
    failures = []
    outdir = os.path.join(workdir, ".doctest")
    os.makedirs(outdir, exist_ok=True)
    status = os.path.join(outdir, "status")
    script = ["set -E",
              f"exec 3>>{status}",
              # The failing command, its line in this script and its status.
              'trap \'printf "FAILED %s %s %s\\n" "$LINENO" "$?" "$BASH_COMMAND" >&3\' ERR']
    line_map = {}  # script line -> (block, document line)
    for b in blocks:
        if b.skip:
            continue
        script.append(f'printf "BLOCK {b.index}\\n" >&3')
        script.append(f'exec >{outdir}/out.{b.index} 2>&1')
        for k, l in enumerate(b.lines):
            line_map[len(script) + 1] = (b, b.line + k)
            script.append(re.sub(r"\b8080\b", str(port), l))
    script.append('printf "DONE\\n" >&3')
    path = os.path.join(outdir, "walkthrough.sh")
    with open(path, "w") as f:
        f.write("\n".join(script) + "\n")
    open(status, "w").close()

    started = time.monotonic()
    proc = subprocess.Popen(["/bin/bash", path], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
    elapsed = time.monotonic() - started
    # Leftovers: whatever still runs in the walkthrough's process group, killed by pid.
    leftovers = group_pids(proc.pid)
    for pid in leftovers:
        try:
            os.kill(pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while group_pids(proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in group_pids(proc.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if timed_out:
        proc.wait()

    with open(status) as f:
        events = f.read().split("\n")
    done = "DONE" in events
    ran = [int(e.split()[1]) for e in events if e.startswith("BLOCK ")]
    failed_blocks = set()

    def tail(b, n=15):
        p = os.path.join(outdir, f"out.{b.index}")
        if not os.path.exists(p):
            return "(no output)"
        with open(p, errors="replace") as f:
            lines = f.read().rstrip("\n").split("\n")
        return "\n".join("      | " + (l if len(l) <= 300 else l[:300] + " ...")
                         for l in lines[-n:])

    by_index = {b.index: b for b in blocks}
    if timed_out:
        b = by_index[ran[-1]] if ran else blocks[0]
        failures.append(f"{doc} block {b.index} (line {b.line}): still running after "
                        f"{timeout_s} s; output tail:\n{tail(b)}")
    for e in events:
        if not e.startswith("FAILED "):
            continue
        _, lineno, rc, command = e.split(" ", 3)
        b, doc_line = line_map.get(int(lineno), (by_index[ran[-1]] if ran else blocks[0], 0))
        failed_blocks.add(b.index)
        failures.append(f"{doc}:{doc_line} (block {b.index}): exit status {rc}: {command}\n"
                        f"    output tail:\n{tail(b)}")
    if not done and not timed_out and not any(e.startswith("FAILED ") for e in events):
        b = by_index[ran[-1]] if ran else blocks[0]
        failures.append(f"{doc} block {b.index} (line {b.line}): bash exited with status "
                        f"{proc.returncode} before the end; output tail:\n{tail(b)}")
    for idx in ran:
        b = by_index[idx]
        if idx in failed_blocks or (idx == ran[-1] and not done):
            continue  # a command of the block failed (or it never finished): reported above
        p = os.path.join(outdir, f"out.{b.index}")
        out = open(p, errors="replace").read() if os.path.exists(p) else ""
        for text in b.expect:
            if not printed(re.sub(r"\b8080\b", str(port), text), out):
                failures.append(f"{doc} block {b.index} (line {b.line}): expected output not "
                                f"printed: {text!r}; output tail:\n{tail(b)}")
        for doc_line, text in b.expect_prose:
            if not printed(re.sub(r"\b8080\b", str(port), text), out):
                failures.append(f"{doc}:{doc_line}: 'What to expect' quotes {text!r}, which "
                                f"block {b.index} (line {b.line}) did not print; output tail:\n"
                                f"{tail(b)}")
    if done and leftovers:
        failures.append(f"{doc}: the walkthrough left processes running (killed): " +
                        "; ".join(f"pid {p}: {c}" for p, c in leftovers.items()))
    if verbose:
        print(f"{'ok  ' if not failures else 'FAIL'}  {doc}: {len(ran)} of {len(blocks)} blocks "
              f"run ({sum(b.skip for b in blocks)} marked skip), {elapsed:.1f} s")
    return failures


def scratch(root):
    """A scratch checkout: examples/ and python/marquee copied, ../shared/data -> MARQUEE_SHARED_DATA, a home."""
    work = os.path.join(root, "repo")
    os.makedirs(os.path.join(root, "shared"))
    os.symlink(os.path.abspath(SHARED), os.path.join(root, "shared", "data"))
    shutil.copytree(os.path.join(SRC, "examples"), os.path.join(work, "examples"))
    # The Python SDK, which examples/python imports from the checkout (no .venv needed).
    shutil.copytree(os.path.join(SRC, "python", "marquee"), os.path.join(work, "python", "marquee"))
    # With its in-process bindings when the build made them (BIN is <build>/tools/marquee/marquee;
    # the module is <build>/python/marquee/_native.*.so), as scripts/setup puts them in .venv.
    build = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(BIN))))
    for native in glob.glob(os.path.join(build, "python", "marquee", "_native.*.so")):
        shutil.copy(native, os.path.join(work, "python", "marquee"))
    os.makedirs(os.path.join(root, "tmp"))
    env = dict(os.environ)
    env["MARQUEE_HOME"] = os.path.join(root, "home")
    env["TMPDIR"] = os.path.join(root, "tmp")
    # marquee first, then Debian's tools (python3 with python3-xgboost, as scripts/setup installs).
    env["PATH"] = os.pathsep.join([os.path.dirname(os.path.abspath(BIN)), "/usr/bin",
                                   env.get("PATH", "")])
    env.pop("MARQUEE_BIN", None)
    # README's "Train on many machines" runs mpirun; OpenMPI refuses root (CI containers) unless
    # told, and ranks waiting in a collective yield the core (more ranks than cores here).
    env.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
                "OMPI_MCA_mpi_yield_when_idle": "1"})
    return work, env


SELF_TEST_DOC = """# t

```bash
echo "hello 42"
#> hello 42
sleep 300 &
```

What to expect:

- It prints `hello 42` and `bye 7`.

```bash
# doc-test: skip (never runs)
exit 1
```

```sh
echo ready
false
echo never
```
"""


def self_test():
    """The harness reports a failing command, a missing expectation and a leftover process."""
    with tempfile.TemporaryDirectory() as tmp:
        blocks = parse("self-test.md", SELF_TEST_DOC)
        ok = [len(blocks) == 3, blocks[1].skip, blocks[0].expect == ["hello 42"],
              [t for _, t in blocks[0].expect_prose] == ["hello 42", "bye 7"]]
        failures = run_doc("self-test.md", blocks, tmp, dict(os.environ), free_port(), 60,
                           verbose=False)
        text = "\n".join(failures)
        ok += ["self-test.md:20 (block 3): exit status 1: false" in text,
               "'bye 7'" in text and "'hello 42'" not in text,
               len(failures) == 3 and "left processes running" in text]
        # A walkthrough that completes but leaves `sleep` running.
        blocks = parse("self-test.md", "```bash\nsleep 300 &\n```\n")
        failures = run_doc("self-test.md", blocks, tmp, dict(os.environ), free_port(), 60,
                           verbose=False)
        ok.append(len(failures) == 1 and "left processes running" in failures[0])
        if not all(ok):
            print(f"FAIL  the harness's self-test: {ok}\n" + "\n".join(failures))
            return False
        print("ok    the harness reports failing commands, missing output and leftovers")
        return True


def documents():
    docs = ["README.md"]
    for sub in ["docs", os.path.join("docs", "formats")]:
        for name in sorted(os.listdir(os.path.join(SRC, sub))):
            if name.endswith(".md") and name not in ("BENCHMARKS.md", "ARCHITECTURE.md"):
                docs.append(os.path.join(sub, name))
    return docs


def main():
    if not self_test():
        return 1
    if not os.path.isdir(SHARED):
        print(f"skip: {SHARED} is absent (set MARQUEE_SHARED_DATA); the walkthroughs use it")
        return 77
    failures = []
    for doc in documents():
        with open(os.path.join(SRC, doc), encoding="utf-8") as f:
            blocks = parse(doc, f.read())
        if not blocks:
            continue
        with tempfile.TemporaryDirectory() as tmp:
            work, env = scratch(tmp)
            failures += run_doc(doc, blocks, work, env, free_port())
    for f in failures:
        print("FAIL  " + f)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
