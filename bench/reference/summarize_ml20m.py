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
           "sgemm_gflops": run("gemm_peak/sgemm_4096", "max")["GFLOP/s"],
           "dgemm_gflops": run("gemm_peak/dgemm_4096", "max")["GFLOP/s"],
           "gram_seconds": once("sparse_gram/float32")["real_time"]}
    for bits, peak in (("32", "sgemm"), ("64", "dgemm")):
        inv = once(f"cholesky_inverse/float{bits}")
        if inv:
            out[f"inverse_f{bits}_seconds"] = inv["real_time"]
            out[f"inverse_f{bits}_gflops"] = inv["GFLOP/s"]
            out[f"inverse_f{bits}_fraction_of_{peak}_peak"] = inv["fraction_of_gemm_peak"]
    return out


def main():
    d = sys.argv[1] if len(sys.argv) > 1 else "bench/out/ml20m"
    gen = load(d, "generate.json")
    if gen:
        print(f"Dataset: {gen['users']} users, {gen['items']} items, {gen['interactions']} "
              f"interactions, generated in {gen.get('seconds', 0):.1f} s\n")
    print("| job | train s | per iteration / epoch s | peak RSS GiB | recall@20 | ndcg@100 |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, per_key in [("ease", None), ("ials64", "iterations"), ("ials128", "iterations"),
                          ("bpr", "epochs")]:
        r = load(d, name + ".json")
        t = load(d, name + ".time")
        if not r:
            continue
        train = r["timings"]["train"]
        per = train / r["params"][per_key] if per_key else float("nan")
        rss = t["max_rss_kb"] / 1024 / 1024 if t else float("nan")
        per_s = f"{per:.1f}" if per_key else "—"
        print(f"| {name} ({r['params'].get('factors', '')}) | {train:.1f} | {per_s} | {rss:.1f} | "
              f"{r['metrics']['recall@20']:.4f} | {r['metrics']['ndcg@100']:.4f} |")
    lin = linalg(load(d, "linalg.json"))
    if lin:
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
