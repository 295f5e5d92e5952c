#!/usr/bin/python3
"""Distributed training under OpenMPI (issue #18): `mpirun -np N marquee train CONFIG`.

On a small synthetic data set (1,200 users, 500 items, about 40,000 interactions) each family
that trains across ranks is trained in one process and under `mpirun --oversubscribe -np 2` and
`-np 4`, and the artifacts rank 0 registered are read back (docs/formats/model-artifact.md):

  - iALS (cg and cholesky): the factors of N ranks equal one process's to IALS_TOL (the ranks
    sum the Gram matrices in another order; the measured maximum difference is printed), and
    the metrics agree;
  - EASE: B and the metrics equal one process's exactly (the Gram matrix is integer counts);
  - BPR: two runs with the same rank count give identical factors; recall@20 close to one
    process's (within BPR_RECALL_GAP);
  - --json: rank 0's stdout is one JSON object and the other ranks' stdout is empty
    (mpirun --output-filename keeps each rank's stdout apart), and a rank given another --home
    (an MPMD launch) leaves that home untouched;
  - a failed rank (MARQUEE_TEST_FAIL_RANK, test-only) fails the job: non-zero exit, a readable
    message naming the rank on stderr, and no registered version;
  - a family that cannot train across ranks is refused.

Exits 77 (skip) when mpirun is not installed. ctest label `mpi`.
"""
import glob
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "python"))
from checks import check, finish  # noqa: E402  tests/python/checks.py

BIN = os.environ["MARQUEE_BIN"]
MPIRUN = shutil.which("mpirun")
IALS_TOL = 1e-4        # max |factor difference| allowed between N ranks and one process
BPR_RECALL_GAP = 0.03  # recall@20 of N ranks within this of one process's


def env():
    e = dict(os.environ)
    # Tests run as root in CI containers; OpenMPI refuses root without these.
    e.update({"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
              # Ranks waiting in a collective yield the core (4 ranks share 2 cores here).
              "OMPI_MCA_mpi_yield_when_idle": "1"})
    e.pop("MARQUEE_TEST_FAIL_RANK", None)
    return e


def run(args, extra_env=None, timeout=300):
    e = env()
    e.update(extra_env or {})
    return subprocess.run(args, capture_output=True, text=True, env=e, timeout=timeout)


def mpirun(n, args, **kw):
    return run([MPIRUN, "--oversubscribe", "-np", str(n)] + args, **kw)


def read_tensors(path):
    """{name: numpy array} of a .mqm artifact."""
    with open(path, "rb") as f:
        raw = f.read()
    assert raw[:8] == b"MQMODEL\0", path
    hlen = struct.unpack("<I", raw[12:16])[0]
    header = json.loads(raw[16:16 + hlen])
    base = (16 + hlen + 63) // 64 * 64
    types = {1: np.float32, 2: np.float64, 3: np.uint32, 4: np.uint64, 5: np.int64, 6: np.uint8}
    out = {}
    for t in header["tensors"]:
        a = np.frombuffer(raw, dtype=types[t["dtype"]], count=t["nbytes"] // np.dtype(
            types[t["dtype"]]).itemsize, offset=base + t["offset"])
        out[t["name"]] = a.reshape(t["shape"]) if t["shape"] else a
    return out


def write_data(path):
    rng = np.random.default_rng(7)
    users, items = 1200, 500
    pop = 1.0 / np.arange(1, items + 1) ** 0.8
    pop /= pop.sum()
    with open(path, "w") as f:
        f.write("user\titem\n")
        for u in range(users):
            n = int(rng.integers(8, 60))
            for i in rng.choice(items, size=n, replace=False, p=pop):
                f.write(f"u{u}\ti{i}\n")


def write_config(folder, family, params):
    lines = "\n".join(f"{k} = {json.dumps(v)}" for k, v in params.items())
    path = os.path.join(folder, f"{family}.toml")
    with open(path, "w") as f:
        f.write(f"""[data]
train = "data.tsv"

[split]
protocol = "strong-generalization"
test_users = 200
seed = 11

[model]
family = "{family}"
{lines}

[eval]
metrics = ["recall@20", "ndcg@100"]

[run]
threads = 1
""")
    return path


def train(folder, home, config, ranks, extra_env=None, extra_args=()):
    """Trains CONFIG in HOME on `ranks` ranks (0: plain marquee, no mpirun); returns
    (completed process, parsed JSON or None)."""
    args = [BIN, "--home", home, "train", config, "--json"] + list(extra_args)
    p = mpirun(ranks, args, extra_env=extra_env) if ranks else run(args, extra_env=extra_env)
    try:
        return p, json.loads(p.stdout)
    except json.JSONDecodeError:
        return p, None


def main():
    if MPIRUN is None:
        print("SKIP: mpirun is not installed (scripts/setup installs openmpi-bin)")
        return 77
    work = tempfile.mkdtemp(prefix="marquee-mpi-")
    try:
        return suite(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def suite(work):
    write_data(os.path.join(work, "data.tsv"))
    cases = [("ials", {"factors": 16, "iterations": 6}),
             ("ials", {"factors": 16, "iterations": 6, "solver": "cholesky"}),
             ("ease", {"lambda": 200.0}),
             ("bpr", {"factors": 16, "epochs": 20})]
    for n, (family, params) in enumerate(cases):
        folder = os.path.join(work, f"case{n}")
        os.makedirs(folder)
        os.symlink(os.path.join(work, "data.tsv"), os.path.join(folder, "data.tsv"))
        config = write_config(folder, family, params)
        label = f"{family} {params.get('solver', '')}".strip()
        one_p, one = train(folder, os.path.join(folder, "home1"), config, 0)
        check(one is not None and one_p.returncode == 0,
              f"{label}: one process trains (rc {one_p.returncode}) {one_p.stderr[-300:]}")
        if one is None:
            continue
        one_t = read_tensors(one["artifact"])
        for ranks in (2, 4):
            p, res = train(folder, os.path.join(folder, f"home{ranks}"), config, ranks)
            check(p.returncode == 0 and res is not None,
                  f"{label}: -np {ranks} trains and prints one JSON object (rc {p.returncode}) "
                  f"{p.stderr[-400:]}")
            if res is None:
                continue
            check(res.get("ranks") == ranks, f"{label}: the result records ranks={ranks}")
            # Rank 0 held only its share of the training matrix: its users' rows (and, for
            # iALS, its items' rows of the transpose), not all of it.
            held, total = res.get("held_interactions") or {}, res["split"]["train_interactions"]
            item_rows = held.get("item_rows", -1)
            check(held.get("of") == total and 0 < held.get("user_rows", 0) < total and
                  (0 < item_rows < total if family == "ials" else item_rows == 0),
                  f"{label} -np {ranks}: rank 0 holds a share of the {total} training entries "
                  f"({held})")
            t = read_tensors(res["artifact"])
            if family == "ials":
                d = max(float(np.abs(t[k] - one_t[k]).max())
                        for k in ("item_factors", "user_factors"))
                print(f"      {label} -np {ranks}: max |factor difference| vs one process {d:.3g}")
                check(d <= IALS_TOL, f"{label} -np {ranks}: factors equal one process's to "
                                     f"{IALS_TOL} (max difference {d:.3g})")
                for m, v in one["metrics"].items():
                    check(abs(res["metrics"][m] - v) <= 1e-3,
                          f"{label} -np {ranks}: {m} {res['metrics'][m]:.5f} vs {v:.5f}")
            elif family == "ease":
                check(np.array_equal(t["B"], one_t["B"]), f"ease -np {ranks}: B equals one "
                                                          "process's bit for bit")
                check(res["metrics"] == one["metrics"],
                      f"ease -np {ranks}: metrics {res['metrics']} equal {one['metrics']}")
            else:
                p2, res2 = train(folder, os.path.join(folder, f"again{ranks}"), config, ranks)
                check(res2 is not None and all(
                    np.array_equal(read_tensors(res2["artifact"])[k], t[k])
                    for k in ("item_factors", "user_factors", "item_bias")),
                    f"bpr -np {ranks}: two runs give identical factors")
                gap = abs(res["metrics"]["recall@20"] - one["metrics"]["recall@20"])
                print(f"      bpr -np {ranks}: recall@20 {res['metrics']['recall@20']:.4f}, "
                      f"one process {one['metrics']['recall@20']:.4f}")
                check(gap <= BPR_RECALL_GAP, f"bpr -np {ranks}: recall@20 within "
                                             f"{BPR_RECALL_GAP} of one process's ({gap:.4f})")
    outputs(work)
    failures(work)
    return finish()


def outputs(work):
    """Only rank 0 prints and writes: per-rank stdout files, and a rank with its own --home."""
    folder = os.path.join(work, "case0")
    config = os.path.join(folder, "ials.toml")
    outdir = os.path.join(work, "ranks-out")
    home = os.path.join(work, "home-out")
    p = run([MPIRUN, "--oversubscribe", "-np", "2", "--output-filename", outdir, BIN, "--home",
             home, "train", config, "--json"])
    check(p.returncode == 0, f"--output-filename run succeeds (rc {p.returncode})")
    stdouts = {os.path.basename(os.path.dirname(f)): open(f).read()
               for f in glob.glob(os.path.join(outdir, "*", "rank.*", "stdout"))}
    r0 = stdouts.get("rank.0", "")
    check(r0.count("\n") == 1 and isinstance(json.loads(r0 or "null"), dict),
          f"rank 0's stdout is one JSON object ({len(r0)} bytes)")
    check(stdouts.get("rank.1", None) == "", f"rank 1's stdout is empty ({stdouts.get('rank.1')!r})")
    # MPMD: rank 1 gets another home, which must stay absent (it writes nothing anywhere).
    other = os.path.join(work, "home-rank1")
    p = run([MPIRUN, "--oversubscribe", "-np", "1", BIN, "--home", os.path.join(work, "home-r0"),
             "train", config, "--json", ":", "-np", "1", BIN, "--home", other, "train", config,
             "--json"])
    check(p.returncode == 0, f"MPMD run with two homes succeeds (rc {p.returncode}) "
                             f"{p.stderr[-300:]}")
    check(not os.path.exists(other), "rank 1 wrote nothing to its home (it does not exist)")


def failures(work):
    folder = os.path.join(work, "case0")
    config = os.path.join(folder, "ials.toml")
    home = os.path.join(work, "home-fail")
    p, res = train(folder, home, config, 2, extra_env={"MARQUEE_TEST_FAIL_RANK": "1"})
    check(p.returncode != 0, f"a failed rank fails the job (rc {p.returncode})")
    check("marquee: error: rank 1 of 2: injected failure on rank 1" in p.stderr,
          f"stderr names the rank and the reason: {p.stderr.strip()[:300]!r}")
    versions = run([BIN, "--home", home, "models", "list", "--json"])
    listed = json.loads(versions.stdout) if versions.returncode == 0 else None
    print(f"      models list after the failure: {versions.stdout.strip()[:200]}")
    check(versions.returncode != 0 or not listed or not listed.get("models"),
          "no version was registered")
    # Rank 0 failing ends the others as well.
    p, _ = train(folder, os.path.join(work, "home-fail0"), config, 2,
                 extra_env={"MARQUEE_TEST_FAIL_RANK": "0"})
    check(p.returncode != 0 and "rank 0 of 2: injected failure" in p.stderr,
          f"a failed rank 0 fails the job too (rc {p.returncode})")
    pop = write_config(folder, "popularity", {})
    p, _ = train(folder, os.path.join(work, "home-pop"), pop, 2)
    check(p.returncode != 0 and "cannot train across ranks" in p.stderr,
          f"popularity under -np 2 is refused: {p.stderr.strip()[:200]!r}")


if __name__ == "__main__":
    sys.exit(main())
