#!/usr/bin/python3
"""Turns bench/out/ml20m/*.json (from bench/ml20m_shape.sh) into the markdown table in
docs/BENCHMARKS.md."""
import json
import os
import sys


def load(d, name):
    p = os.path.join(d, name)
    if not os.path.exists(p) or os.path.getsize(p) == 0:
        return None
    with open(p) as f:
        return json.load(f)


def linalg(gb):
    """The figures of bench_ease_inverse's Google Benchmark JSON (--benchmark_format=json)."""
    if not gb:
        return None

    def run(name, stat=None):
        for b in gb["benchmarks"]:
            # run_name carries Google Benchmark's suffixes ("/iterations:1/real_time")
            if b["run_name"].split("/iterations:")[0] == name and b.get("aggregate_name") == stat:
                return b
        return None

    def once(name):  # the median when --benchmark_repetitions repeated it
        return run(name, "median") or run(name)

    ctx = gb["context"]
    out = {"threads": int(ctx["threads"]), "items": int(ctx["items"]),
           "interactions": int(ctx["interactions"]),
           # best of the repetitions, as the peak always was
           "sgemm_gflops": run("gemm_peak/sgemm_4096", "max")["GFLOP/s"]}
    if run("gemm_peak/dgemm_4096", "max"):  # absent when only the sgemm peak was run
        out["dgemm_gflops"] = run("gemm_peak/dgemm_4096", "max")["GFLOP/s"]
    if once("sparse_gram/float32"):
        out["gram_seconds"] = once("sparse_gram/float32")["real_time"]
    for bits, peak in (("32", "sgemm"), ("64", "dgemm")):
        inv = once(f"cholesky_inverse/float{bits}")
        if inv:
            out[f"inverse_f{bits}_seconds"] = inv["real_time"]
            out[f"inverse_f{bits}_gflops"] = inv["GFLOP/s"]
            out[f"inverse_f{bits}_fraction_of_{peak}_peak"] = inv["fraction_of_gemm_peak"]
    return out


def triad_gbs(gb):
    """The best STREAM triad of bench_serve_scoring (GB/s, any thread count: on a shared
    machine one thread can beat two), or None."""
    if not gb:
        return None
    best = None
    for b in gb["benchmarks"]:
        if b["run_name"].startswith("triad_64MiB/threads:") and b.get("aggregate_name") == "max":
            best = max(best or 0, b["GB/s"])
    return best


def work_per_step(r):
    """A model of one iteration's (iALS) or epoch's (BPR) arithmetic and memory traffic:
    (GFLOP, GB). iALS CG, per half-step with R rows solved against F fixed rows over N training
    positives: the Gramian F·k² (symmetric half, double), then the residual and each of s CG
    steps as α0·G·v (2k² per row) plus two passes over the gathered history (t = F_u·v and
    F_uᵀ(c∘t), 4k per positive); memory: each positive's factor row gathered once (4k bytes)
    plus its CSR entry (8 bytes), and the solved rows read and written. Cholesky: n·k² per row
    (the rank update) and k³/3 per row (the factorisation), same memory. BPR: per triple two
    k-dot products and three k-vector updates (about 16k flops), three rows read and written
    (24k bytes); triples = N·negatives."""
    p, split, ds = r["params"], r["split"], r["dataset"]
    n, users, items = split["train_interactions"], ds["users"], ds["items"]
    k = p["factors"]
    if r["family"] == "ials":
        flops = bytes_ = 0.0
        for rows, fixed in ((items, users), (users, items)):
            flops += fixed * k * k
            if p.get("solver", "cg") == "cg":
                flops += (1 + p["cg_steps"]) * (2 * rows * k * k + 4 * n * k)
            else:
                flops += n * k * k + rows * k ** 3 / 3
            bytes_ += n * (4 * k + 8) + 8 * rows * k
        return flops / 1e9, bytes_ / 1e9
    if r["family"] == "bpr":
        triples = n * p.get("negatives_per_positive", 1)
        return triples * 16 * k / 1e9, triples * 24 * k / 1e9
    return None


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "bench/out/ml20m"
    gen = load(d, "generate.json")
    if gen:
        print(f"Dataset: {gen['users']} users, {gen['items']} items, {gen['interactions']} "
              f"interactions, generated in {gen.get('seconds', 0):.1f} s\n")
    lin = linalg(load(d, "linalg.json"))
    peak = lin["sgemm_gflops"] if lin else None
    bw = triad_gbs(load(d, "machine.json"))
    if peak or bw:
        print(f"Ceilings measured in this run: sgemm {peak or float('nan'):.1f} GFLOP/s, "
              f"STREAM triad {bw or float('nan'):.1f} GB/s\n")
    print("| job | train s | per iteration / epoch s | peak RSS GiB, snapshot | "
          "peak RSS GiB, TSV | recall@20 | ndcg@100 | GFLOP/s (% sgemm peak) | "
          "GB/s (% triad) |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")

    def rss(name):
        t = load(d, name + ".time")
        return f"{t['max_rss_kb'] / 1024 / 1024:.2f}" if t else "—"

    for name, per_key in [("ease", None), ("ials64", "iterations"), ("ials128", "iterations"),
                          ("bpr", "epochs")]:
        r = load(d, name + ".json")
        if not r:
            continue
        train = r["timings"]["train"]
        per = train / r["params"][per_key] if per_key else float("nan")
        per_s = f"{per:.2f}" if per_key else "—"
        rates = "— | —"
        work = work_per_step(r) if per_key else None
        if work:
            gflops, gbs = work[0] / per, work[1] / per
            rates = (f"{gflops:.1f} ({100 * gflops / peak:.0f}%)" if peak else f"{gflops:.1f}") + \
                " | " + (f"{gbs:.1f} ({100 * gbs / bw:.0f}%)" if bw else f"{gbs:.1f}")
        print(f"| {name} ({r['params'].get('factors', '')}) | {train:.1f} | {per_s} | "
              f"{rss(name)} | {rss(name + '-tsv')} | "
              f"{r['metrics']['recall@20']:.4f} | {r['metrics']['ndcg@100']:.4f} | {rates} |")
    if lin and "gram_seconds" in lin:
        print()
        print(f"GEMM peak (OpenBLAS, 4096³, {lin['threads']} threads): sgemm "
              f"{lin['sgemm_gflops']:.1f} GFLOP/s, dgemm {lin['dgemm_gflops']:.1f} GFLOP/s")
        print(f"Gram XᵀX ({lin['items']} items, {lin['interactions']} nnz): "
              f"{lin['gram_seconds']:.1f} s")
        print(f"Cholesky inverse float32: {lin['inverse_f32_seconds']:.1f} s = "
              f"{lin['inverse_f32_gflops']:.1f} GFLOP/s = "
              f"{100 * lin['inverse_f32_fraction_of_sgemm_peak']:.0f}% of sgemm peak")
        if "inverse_f64_seconds" in lin:
            print(f"Cholesky inverse float64: {lin['inverse_f64_seconds']:.1f} s = "
                  f"{lin['inverse_f64_gflops']:.1f} GFLOP/s = "
                  f"{100 * lin['inverse_f64_fraction_of_dgemm_peak']:.0f}% of dgemm peak")
        npy = load(d, "numpy.json")
        if npy:
            print(f"numpy {npy['numpy']} linalg.inv float64: {npy['numpy_inv_f64_seconds']:.1f} s "
                  f"-> Marquee float64 is "
                  f"{npy['numpy_inv_f64_seconds'] / lin['inverse_f64_seconds']:.2f}x faster")
            if "numpy_inv_f32_seconds" in npy:
                print(f"numpy linalg.inv float32: {npy['numpy_inv_f32_seconds']:.1f} s -> "
                      f"Marquee float32 is "
                      f"{npy['numpy_inv_f32_seconds'] / lin['inverse_f32_seconds']:.2f}x faster")
                print(f"Marquee float32 (EASE default) vs numpy float64: "
                      f"{npy['numpy_inv_f64_seconds'] / lin['inverse_f32_seconds']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
