#!/usr/bin/python3
"""Times numpy.linalg.inv on the Gram matrix written by bench_ease_inverse --npy.

Run with Debian's /usr/bin/python3 (python3-numpy). Prints one JSON object:
{"n": ..., "numpy_inv_f64_seconds": ..., "numpy_inv_f32_seconds": ..., "blas": "..."}
"""
import json
import sys
import time

import numpy as np


def main():
    if len(sys.argv) < 2:
        print("usage: numpy_inv.py GRAM.npy [--skip-f32]", file=sys.stderr)
        return 2
    g = np.load(sys.argv[1])
    out = {"n": int(g.shape[0]), "numpy": np.__version__}
    try:
        cfg = np.__config__.blas_opt_info  # numpy < 1.26 exposes the BLAS it was built against
        out["blas"] = ",".join(cfg.get("libraries", []))
    except AttributeError:
        out["blas"] = "unknown"
    t = time.perf_counter()
    np.linalg.inv(g)
    out["numpy_inv_f64_seconds"] = time.perf_counter() - t
    if "--skip-f32" not in sys.argv:
        g32 = g.astype(np.float32)
        del g
        t = time.perf_counter()
        np.linalg.inv(g32)
        out["numpy_inv_f32_seconds"] = time.perf_counter() - t
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
