#!/usr/bin/python3
"""Parity of Marquee's experiment statistics (`marquee experiments stats`, src/experiments/
stats.h) with Debian's python3-scipy on the same inputs, to 1e-9 (skipped, exit 77, without
scipy).

1. Welch: t and p-value equal scipy.stats.ttest_ind(b, a, equal_var=False); df equals the
   Welch-Satterthwaite formula; the difference's CI ends equal diff -+ q se, where q is the
   0.975 quantile of scipy's t distribution (scipy 1.10's t.ppf is accurate only to ~1e-10, so q
   is refined by Newton steps on scipy's own t.cdf).
2. Sample-ratio mismatch: statistic and p-value equal scipy.stats.chisquare.
3. Binomial: p-value equals scipy.stats.binomtest(k, n, p).pvalue (two-sided), the interval
   equals proportion_ci(method="exact").
4. CUPED: theta, the adjusted Welch t / p and the variance reduction equal a numpy + scipy
   reimplementation.
5. Bad input gives a non-zero exit and one readable line on stderr.
"""
import json
import os
import subprocess
import sys

import checks  # tests/python/checks.py
from checks import check, finish

checks.show_passes = False  # thousands of checks: print only failures

try:
    import numpy as np
    import scipy
    import scipy.stats as st
    import warnings
    warnings.simplefilter("ignore", RuntimeWarning)  # scipy warns on a constant cell
except ImportError:
    print("skip: numpy/scipy not installed (apt install python3-scipy)")
    sys.exit(77)

BIN = os.environ["MARQUEE_BIN"]
TOL = 1e-9



def close(name, ours, ref, ctx):
    check(abs(ours - ref) <= TOL, f"{ctx}: {name} {ours!r} vs scipy {ref!r} (|diff| "
          f"{abs(ours - ref):.3g} > {TOL})")


def stats(kind, payload):
    r = subprocess.run([BIN, "experiments", "stats", kind], input=json.dumps(payload),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"experiments stats {kind} failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)


def t_quantile(p, df):
    q = st.t.ppf(p, df)
    for _ in range(6):
        q -= (st.t.cdf(q, df) - p) / st.t.pdf(q, df)
    return q


rng = np.random.default_rng(20261123)
cases = [
    (np.array([1, 2, 3, 4, 5.0]), np.array([2, 4, 6, 8, 10, 12.0])),
    (rng.normal(10, 3, 50), rng.normal(10.5, 5, 80)),
    (rng.poisson(1.2, 500).astype(float), rng.poisson(1.3, 450).astype(float)),
    (rng.exponential(2.0, 7), rng.exponential(2.0, 3)),
    (rng.binomial(1, 0.1, 2000).astype(float), rng.binomial(1, 0.12, 2100).astype(float)),
    (rng.normal(0, 1, 2), rng.normal(5, 1, 2)),
    (np.array([3.0, 3.0, 3.0]), np.array([1.0, 2.0, 3.0])),  # one cell constant
]
for i, (a, b) in enumerate(cases):
    ours = stats("welch", {"a": a.tolist(), "b": b.tolist()})
    ref = st.ttest_ind(b, a, equal_var=False)
    ctx = f"welch case {i} (n={len(a)},{len(b)})"
    close("t", ours["t"], ref.statistic, ctx)
    close("p", ours["p_value"], ref.pvalue, ctx)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    close("df", ours["df"], df, ctx)
    q = t_quantile(0.975, df)
    d = b.mean() - a.mean()
    se = np.sqrt(va + vb)
    close("diff", ours["diff"], d, ctx)
    close("ci_lo", ours["diff_ci_lo"], d - q * se, ctx)
    close("ci_hi", ours["diff_ci_hi"], d + q * se, ctx)

chi_cases = [
    ([480, 520], [0.5, 0.5]),
    ([50, 30, 20], [1, 1, 1]),
    ([10123, 9877], [0.5, 0.5]),
    ([5012, 2440, 2548], [0.5, 0.25, 0.25]),
    ([7, 1], [0.9, 0.1]),
]
for i, (obs, w) in enumerate(chi_cases):
    ours = stats("chisq", {"observed": obs, "weights": w})
    wn = np.array(w, float) / sum(w)
    ref = st.chisquare(obs, wn * sum(obs))
    close("statistic", ours["statistic"], ref.statistic, f"chisq case {i}")
    close("p", ours["p_value"], ref.pvalue, f"chisq case {i}")

binom_cases = [(7, 20, 0.5), (60, 100, 0.5), (3, 10, 0.3), (0, 10, 0.3), (10, 10, 0.3),
               (530, 1000, 0.5), (1, 1, 0.5), (123, 400, 0.25), (40, 41, 0.7)]
for k, n, p in binom_cases:
    ours = stats("binom", {"successes": k, "n": n, "p": p})
    ref = st.binomtest(k, n, p)
    ctx = f"binom {k}/{n} p={p}"
    close("p", ours["p_value"], ref.pvalue, ctx)
    if p == 0.5:
        ci = ref.proportion_ci(confidence_level=0.95, method="exact")
        close("ci_lo", ours["ci_lo"], ci.low, ctx)
        close("ci_hi", ours["ci_hi"], ci.high, ctx)

# CUPED: theta pooled over the within-cell deviations, x centred on the pooled mean, then Welch
# on the adjusted metric (numpy + scipy.stats.ttest_ind as the reference).
xa, xb = rng.normal(5, 2, 300), rng.normal(5, 2, 320)
ya, yb = xa + rng.normal(0, 0.5, 300), xb + 0.2 + rng.normal(0, 0.5, 320)
ours = stats("cuped", {"y_a": ya.tolist(), "x_a": xa.tolist(), "y_b": yb.tolist(),
                       "x_b": xb.tolist()})
sxy = ((xa - xa.mean()) * (ya - ya.mean())).sum() + ((xb - xb.mean()) * (yb - yb.mean())).sum()
sxx = ((xa - xa.mean()) ** 2).sum() + ((xb - xb.mean()) ** 2).sum()
theta = sxy / sxx
xm = np.concatenate([xa, xb]).mean()
adj_a, adj_b = ya - theta * (xa - xm), yb - theta * (xb - xm)
ref = st.ttest_ind(adj_b, adj_a, equal_var=False)
close("theta", ours["theta"], theta, "cuped")
close("t", ours["adjusted"]["t"], ref.statistic, "cuped")
close("p", ours["adjusted"]["p_value"], ref.pvalue, "cuped")
before = ya.var(ddof=1) / 300 + yb.var(ddof=1) / 320
after = adj_a.var(ddof=1) / 300 + adj_b.var(ddof=1) / 320
close("variance_reduction", ours["variance_reduction"], 1 - after / before, "cuped")

# Bad input: readable one-line errors and non-zero exits.
for kind, payload in [("welch", {"a": [1.0], "b": [1.0, 2.0]}), ("welch", {"a": [1, 1], "b": [2, 2]}),
                      ("chisq", {"observed": [1, 2], "weights": [1]}),
                      ("binom", {"successes": 5, "n": 3})]:
    r = subprocess.run([BIN, "experiments", "stats", kind], input=json.dumps(payload),
                       capture_output=True, text=True)
    check(r.returncode != 0 and r.stderr.count("\n") == 1 and "error" in r.stderr,
          f"bad {kind} input {payload}: exit {r.returncode}, stderr {r.stderr!r}")

total = len(cases) + len(chi_cases) + len(binom_cases) + 1 + 4
if finish() != 0:
    sys.exit(1)
print(f"ok: {total} cases match scipy {scipy.__version__} to {TOL}")
