"""Peak memory of vectorized gradients: elementwise objectives over long vectors.

For each objective and size n, one warm call of each, measured by tracemalloc's peak: numba's
NRT allocations (the arrays compiled code makes) report to tracemalloc as numpy's do, so the
figures of the njit-ed primal and of adjoint's cpu gradient count the same bytes. The input
arrays are made before tracing starts; the gradient's result counts (it is allocated by the
call), the primal's scalar does not.

    cpu:    adjoint.grad(f, target="cpu")(x)     against numba.njit(f)(x)
    python: adjoint.grad(f, target="python")(x)  against f(x) (plain numpy)

The figure that matters is the ratio gradient peak / primal peak (issue 18: at most 2.5 at
n = 10^7 on the cpu target); "/ input" is the gradient's peak over the bytes of the long
vector (x, or the labels y of the logistic loss, whose gradient is in the 4 weights).

Run: python benchmarks/bench_memory.py [--quick]      (--quick: n = 10^5 and 10^6)
"""

from __future__ import annotations

import gc
import sys
import tracemalloc

import numba
import numpy as np
from common import machine_info, markdown_table, run_script, write_json

import adjoint

NAME = "bench_memory"
FEATURES = 4          # columns of the logistic-loss design matrix


# ---------------------------------------------------------------------------------------------
# the objectives: vectorized numpy, as a user writes them

def sin_exp_log(x):
    return np.sum(np.sin(x) * np.exp(-x * x) + np.log1p(x * x))


def rosenbrock(x):
    return np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)


def logistic_loss(w, X, y):
    return np.sum(np.log1p(np.exp(-y * (X @ w))))


def stencil(u):
    return np.sum((u[2:] - 2 * u[1:-1] + u[:-2]) ** 2)


def tanh_square(x):
    return np.sum(np.tanh(x) ** 2 * x - 0.5 * x * x)


def objectives(n):
    """(name, function, arguments, wrt, the long vector) for size n."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, n)
    X = rng.standard_normal((n, FEATURES))
    y = np.sign(rng.standard_normal(n))
    w = rng.standard_normal(FEATURES) * 0.1
    return [
        ("sin·exp + log1p", sin_exp_log, (x,), 0, x),
        ("extended Rosenbrock", rosenbrock, (x,), 0, x),
        ("logistic loss (n × 4 data)", logistic_loss, (w, X, y), 0, y),
        ("second-difference stencil", stencil, (x,), 0, x),
        ("tanh² · x", tanh_square, (x,), 0, x),
    ]


# ---------------------------------------------------------------------------------------------
# measuring

def traced_peak(fn, args):
    """tracemalloc's peak, in bytes, over one call of fn(*args)."""
    gc.collect()
    tracemalloc.start()
    try:
        fn(*args)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def measure(sizes, targets=("cpu", "python")):
    """One record per (target, objective, size)."""
    records = []
    small = objectives(64)
    for target in targets:
        for k, (name, f, _, wrt, _) in enumerate(small):
            g = adjoint.grad(f, wrt=wrt, target=target)
            primal = numba.njit(f) if target == "cpu" else f
            g(*small[k][2])                  # compile (cpu) and specialize on the types
            primal(*small[k][2])
            for n in sizes:
                case = objectives(n)[k]
                args, long_vector = case[2], case[4]
                del case
                g(*args)                     # a warm call at this size first
                primal_peak = traced_peak(primal, args)
                grad_peak = traced_peak(g, args)
                records.append({"target": target, "objective": name, "n": n,
                                "input_bytes": long_vector.nbytes,
                                "primal_peak": primal_peak, "gradient_peak": grad_peak})
                gc.collect()
    return records


def fmt_mb(nbytes):
    return f"{nbytes / 2**20:,.1f} MiB"


def table(records):
    rows = []
    for r in records:
        rows.append([r["target"], r["objective"], f"10^{int(round(np.log10(r['n'])))}",
                     fmt_mb(r["primal_peak"]), fmt_mb(r["gradient_peak"]),
                     f"{r['gradient_peak'] / r['primal_peak']:.2f}x",
                     f"{r['gradient_peak'] / r['input_bytes']:.2f}x"])
    return markdown_table(["target", "objective", "n", "primal peak", "gradient peak",
                           "gradient / primal", "gradient / input"], rows)


def main(quick=False):
    sizes = (10**5, 10**6) if quick else (10**6, 10**7)
    records = measure(sizes)
    write_json(NAME, {"machine": machine_info(), "records": records}, quick=quick)
    return "\n".join([
        "## Memory: peak of vectorized gradients",
        "",
        "One warm call each, tracemalloc peak (numba's NRT allocations included); cpu: "
        "adjoint.grad(f) against numba.njit(f), python: adjoint.grad(f, target=\"python\") "
        "against f itself. / input: the gradient's peak over the bytes of the long vector (n "
        "float64; the logistic loss differentiates its 4 weights, its data is n × 4).",
        "",
        table(records),
        "",
        f"`python benchmarks/bench_memory.py{' --quick' if quick else ''}`",
    ])


if __name__ == "__main__":
    run_script(main, sys.argv[1:])
