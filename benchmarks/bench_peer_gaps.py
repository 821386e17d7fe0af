"""Where the peers are ahead, and what bounds adjoint there (issue: the tanh MLP against
PyTorch, extended Rosenbrock n = 10^6 against JAX's vectorized gradient).

1. The tanh MLP of bench_arrays (X 1000x100, hidden 256, 10 outputs; gradient w.r.t. W1, b1,
   W2, b2), every tool on one core as in bench_arrays (a child process pinned to one CPU, the
   thread pools at one thread): the whole gradient of adjoint, torch and jax, and its parts
   timed alone in the same rounds: the five matrix products of the gradient (the same shapes
   and transposes as adjoint's generated code: X @ W1, h @ W2, s3 @ W2.T, h.T @ s3, X.T @ s1)
   through numba (adjoint's path: numba calls scipy's OpenBLAS), numpy (its own OpenBLAS)
   and torch (MKL), and np.tanh against torch.tanh on the (1000, 256) hidden layer.
2. Extended Rosenbrock: time per element of adjoint's serial and parallel gradients and of
   jax.jit(jax.grad(f)) on the vectorized form, against a copy of x into a new array (the
   least any gradient that reads x and writes a new gradient must move: 16 bytes an element)
   on one core (np.copyto) and on all cores (a numba prange copy), at n = 10^4 (in cache) and
   n = 10^6 (beyond L2). jax's temporaries come from XLA's buffer assignment.

Run: python benchmarks/bench_peer_gaps.py [--quick]     (or: make bench)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numba
import numpy as np
from common import (
    compare,
    fmt_cores,
    fmt_ratio,
    fmt_time,
    load_peers,
    machine_info,
    markdown_table,
    paired_ratio,
    run_script,
    warm_up_numba,
    write_json,
)

import adjoint
from examples.rosenbrock import rosenbrock
from tests import array_corpus as ac

NAME = "bench_peer_gaps"


# ---------------------------------------------------------------------------------------------
# 1. the MLP, one core

@numba.njit
def numba_products(X, W1, h, W2, s3, s1):
    """The gradient's five products, as adjoint's generated code writes them (numba -> BLAS)."""
    a = X @ W1
    b = h @ W2
    c = s3 @ W2.T
    d = h.T @ s3
    e = X.T @ s1
    return a, b, c, d, e


def numpy_products(X, W1, h, W2, s3, s1):
    return X @ W1, h @ W2, s3 @ W2.T, h.T @ s3, X.T @ s1


def mlp_breakdown(repeats, target):
    from bench_arrays import _torch_calls, mlp_data, mlp_generic, mlp_torch

    jax, _autograd, torch, missing = load_peers()
    n, inputs, hidden, outputs = 1000, 100, 256, 10
    args = mlp_data(n, inputs, hidden, outputs)
    W1, b1, W2, b2, X, y = args
    g = adjoint.grad(ac.mlp_loss, wrt=(0, 1, 2, 3))
    reference = g(*args)
    # the intermediates the reverse sweep multiplies (their values do not change the time)
    h = np.tanh(X @ W1 + b1)
    s3 = np.random.default_rng(1).normal(size=(n, outputs))
    s1 = np.random.default_rng(2).normal(size=(n, hidden))
    pre = X @ W1 + b1
    numba_products(X, W1, h, W2, s3, s1)
    cases = {"adjoint gradient": lambda: g(*args),
             "adjoint's 5 products (numba -> scipy's OpenBLAS)":
                 lambda: numba_products(X, W1, h, W2, s3, s1),
             "the 5 products in numpy (numpy's OpenBLAS)":
                 lambda: numpy_products(X, W1, h, W2, s3, s1),
             "np.tanh, (1000, 256)": lambda: np.tanh(pre)}
    if torch is not None:
        grad_fn, _ = _torch_calls(torch, {"torch": mlp_torch, "args": args, "wrt": (0, 1, 2, 3)})
        for mine, theirs in zip(reference, grad_fn()):
            assert np.allclose(mine, theirs.detach().numpy(), rtol=1e-8, atol=0.0)
        T = [torch.from_numpy(a) for a in (X, W1, h, W2, s3, s1, pre)]
        tX, tW1, th, tW2, ts3, ts1, tpre = T
        cases["torch gradient"] = grad_fn
        cases["the 5 products in torch (MKL)"] = lambda: (tX @ tW1, th @ tW2, ts3 @ tW2.T,
                                                         th.T @ ts3, tX.T @ ts1)
        cases["torch.tanh, (1000, 256)"] = lambda: torch.tanh(tpre)
    if jax is not None:
        jargs = [jax.numpy.asarray(a) for a in args]
        jg = jax.jit(jax.grad(mlp_generic(jax.numpy), argnums=(0, 1, 2, 3)))
        cases["jax gradient"] = lambda: jax.block_until_ready(jg(*jargs))
    results = compare(cases, repeats=repeats, target_s=target)
    flops = 2 * n * inputs * hidden * 2 + 2 * n * hidden * outputs * 3
    rows = []
    for name, s in results.items():
        rate = f"{flops / s['median_s'] / 1e9:.1f}" if "products" in name else "-"
        rows.append([name, fmt_time(s["median_s"]), fmt_time(s["iqr_s"]), fmt_cores(s),
                     fmt_ratio(paired_ratio(results, name, "adjoint gradient")),
                     fmt_ratio(paired_ratio(results, name, "adjoint gradient",
                                            samples="cpu_samples_s")), rate])
    table = markdown_table(["what", "time (median)", "IQR", "cores busy", "/ adjoint gradient",
                            "/ adjoint gradient (CPU time)", "GFLOP/s (products)"], rows)
    parts = {}
    if torch is not None:
        adj_products = paired_ratio(results, "adjoint's 5 products (numba -> scipy's OpenBLAS)",
                                    "adjoint gradient")
        torch_products = paired_ratio(results, "the 5 products in torch (MKL)", "torch gradient")
        gap = paired_ratio(results, "adjoint gradient", "torch gradient")
        med = {k: v["median_s"] for k, v in results.items()}
        adj_rest = (med["adjoint gradient"] - med["adjoint's 5 products (numba -> scipy's OpenBLAS)"]
                    - med["np.tanh, (1000, 256)"])
        torch_rest = (med["torch gradient"] - med["the 5 products in torch (MKL)"]
                      - med["torch.tanh, (1000, 256)"])
        parts = {"adjoint_gradient_over_torch": gap,
                 "adjoint_products_share": adj_products, "torch_products_share": torch_products,
                 "adjoint_rest_s": adj_rest, "torch_rest_s": torch_rest,
                 "products_numba_over_torch": paired_ratio(
                     results, "adjoint's 5 products (numba -> scipy's OpenBLAS)",
                     "the 5 products in torch (MKL)"),
                 "tanh_numpy_over_torch": paired_ratio(results, "np.tanh, (1000, 256)",
                                                       "torch.tanh, (1000, 256)")}
        summary = (f"adjoint / torch, whole gradient: {gap:.2f}x. The five products are "
                   f"{adj_products:.0%} of adjoint's gradient and {torch_products:.0%} of "
                   f"torch's; numba's products (scipy's OpenBLAS) / torch's (MKL): "
                   f"{parts['products_numba_over_torch']:.2f}x; np.tanh / torch.tanh: "
                   f"{parts['tanh_numpy_over_torch']:.2f}x. What is left once the products and "
                   f"the tanh are taken out (medians subtracted): adjoint "
                   f"{fmt_time(adj_rest)}, torch {fmt_time(torch_rest)}.")
    else:
        summary = f"torch: {missing.get('torch')}"
    return table, summary, {"rows": results, "flops": flops, **parts}


def mlp_child(out, quick):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    warm_up_numba()
    repeats, target = (5, 0.05) if quick else (21, 0.1)
    table, summary, data = mlp_breakdown(repeats, target)
    import json
    Path(out).write_text(json.dumps({"table": table, "summary": summary, "data": data},
                                    default=float))


def run_mlp(quick):
    import json

    from bench_arrays import ONE_THREAD
    env = dict(os.environ, **ONE_THREAD)
    if os.environ.get("XLA_FLAGS"):
        env["XLA_FLAGS"] = os.environ["XLA_FLAGS"] + " " + ONE_THREAD["XLA_FLAGS"]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "mlp.json"
        proc = subprocess.run([sys.executable, __file__, "--mlp-child", str(out)] +
                              (["--quick"] if quick else []), env=env, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"bench_peer_gaps: the MLP process failed (exit {proc.returncode})")
        return json.loads(out.read_text())


# ---------------------------------------------------------------------------------------------
# 2. extended Rosenbrock against a copy

@numba.njit(parallel=True)
def parallel_copy(x):
    y = np.empty_like(x)
    for i in numba.prange(x.shape[0]):
        y[i] = x[i]
    return y


def serial_copy(x):
    y = np.empty_like(x)
    np.copyto(y, x)
    return y


def rosenbrock_rows(sizes, repeats, target):
    jax, _autograd, _torch, missing = load_peers()
    from bench_loops import rosenbrock_vectorized
    g = adjoint.grad(rosenbrock)
    gp = adjoint.grad(rosenbrock, jit_options={"parallel": True})
    rows, data = [], []
    for n in sizes:
        x = np.random.default_rng(1).uniform(-1.5, 1.5, size=n)
        cases = {"adjoint .adjoint (serial)": lambda x=x: g.adjoint(x),
                 "adjoint .adjoint, parallel (all cores)": lambda x=x: gp.adjoint(x),
                 "copy x into a new array, one core (np.copyto)": lambda x=x: serial_copy(x),
                 "copy x into a new array, all cores (numba prange)":
                     lambda x=x: parallel_copy(x)}
        temp = None
        if jax is not None:
            xj = jax.numpy.asarray(x)
            jg = jax.jit(jax.grad(rosenbrock_vectorized(jax.numpy)))
            compiled = jg.lower(xj).compile()
            stats = compiled.memory_analysis()
            temp = stats.temp_size_in_bytes
            assert np.allclose(np.asarray(compiled(xj)), g.adjoint(x), rtol=1e-10, atol=1e-9)
            cases["jax.jit(jax.grad(f)), vectorized"] = \
                lambda xj=xj, c=compiled: jax.block_until_ready(c(xj))
        for fn in cases.values():
            fn()
        results = compare(cases, repeats=repeats, target_s=target)
        for name, s in results.items():
            per = s["median_s"] / n
            rows.append([f"{n:,}", name, fmt_time(s["median_s"]), fmt_time(per), fmt_cores(s),
                         f"{16 / per / 1e9:.1f}",
                         fmt_ratio(paired_ratio(results, name, "adjoint .adjoint (serial)")),
                         fmt_ratio(paired_ratio(results, name, "adjoint .adjoint (serial)",
                                                samples="cpu_samples_s"))])
        data.append({"n": n, "rows": results, "jax_temp_bytes": temp})
    table = markdown_table(["n", "what", "time (median)", "per element", "cores busy",
                            "GB/s at 16 B/element", "/ adjoint serial",
                            "/ adjoint serial (CPU time)"], rows)
    return table, data, missing.get("jax")


# ---------------------------------------------------------------------------------------------
# 3. a fresh output of 80 MB: glibc maps it afresh (and page-faults it) on every call

@numba.njit
def numba_copy_new(x):
    y = np.empty_like(x)
    for i in range(x.shape[0]):
        y[i] = x[i]
    return y


@numba.njit
def numba_copy_into(x, y):
    for i in range(x.shape[0]):
        y[i] = x[i]
    return y


KEEP_HEAP = {"MALLOC_MMAP_THRESHOLD_": "1000000000", "MALLOC_TRIM_THRESHOLD_": "2000000000"}


def allocation_child(n, repeats, target):
    """In a process pinned to one CPU: a numba loop copying x into a new array, into a reused
    one, and numpy's empty_like + copyto; JSON of the medians per element on stdout."""
    import json
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    x = np.random.default_rng(0).random(n)
    y = np.empty(n)
    g = adjoint.grad(rosenbrock)

    def numpy_copy_new():
        out = np.empty_like(x)
        np.copyto(out, x)
        return out
    cases = {"numba loop, new output": lambda: numba_copy_new(x),
             "numba loop, into a reused array": lambda: numba_copy_into(x, y),
             "numpy empty_like + copyto": numpy_copy_new,
             "adjoint .adjoint (Rosenbrock, serial)": lambda: g.adjoint(x)}
    for fn in cases.values():
        fn()
    results = compare(cases, repeats=repeats, target_s=target)
    print(json.dumps({name: r["median_s"] / n for name, r in results.items()}))


def allocation_rows(n, repeats, target):
    import json
    rows = []
    for label, extra in (("default", {}), ("MALLOC_MMAP_THRESHOLD_=10^9, MALLOC_TRIM_THRESHOLD_="
                                          "2*10^9", KEEP_HEAP)):
        proc = subprocess.run([sys.executable, __file__, "--alloc-child", str(n), str(repeats),
                               str(target)], env=dict(os.environ, **extra), capture_output=True,
                              text=True, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"bench_peer_gaps: the allocation child failed:\n{proc.stderr[-2000:]}")
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        rows += [[label, name, fmt_time(per)] for name, per in got.items()]
    return markdown_table(["glibc malloc", "what (one core, n = %s)" % f"{n:,}",
                           "time per element (median)"], rows)


def main(quick=False):
    warm_up_numba()
    repeats, target = (5, 0.02) if quick else (21, 0.05)
    mlp = run_mlp(quick)
    sizes = (10**4, 10**6) if quick else (10**4, 10**6, 10**7)
    rosen_table, rosen, missing_jax = rosenbrock_rows(sizes, repeats, target)
    alloc_table = allocation_rows(10**6 if quick else 10**7, repeats, target)
    temps = ", ".join(f"n = {d['n']:,}: {d['jax_temp_bytes'] / d['n']:.0f} B/element"
                      for d in rosen if d["jax_temp_bytes"] is not None)
    info = machine_info()
    load = os.getloadavg()
    text = "\n".join([
        "## Where the peers are ahead: what bounds adjoint there",
        "",
        ("Two workloads where a peer was faster (bench_arrays, bench_loops). Medians of "
         "interleaved repeats in one process; ratios are medians of per-round ratios. "
         f"Load average at the end: {load[0]:.2f} (1 min) on {info['cpu_count']} CPUs."),
        "",
        "### The tanh MLP, every tool on one core: the gradient and its parts",
        "",
        ("X 1000x100, hidden 256, 10 outputs, float64; the process pinned to one CPU with one-"
         "thread BLAS/OpenMP/XLA pools, as in bench_arrays. The parts are timed alone, on the "
         "gradient's shapes: the five matrix products (118 MFLOP), and the tanh of the hidden "
         "layer."),
        "",
        mlp["table"],
        "",
        mlp["summary"],
        "",
        "### Extended Rosenbrock: time per element against a copy",
        "",
        ("Each gradient reads x and writes a new gradient array: at least 16 bytes an "
         "element. 'GB/s at 16 B/element' is that traffic over the time. The copies allocate "
         "their output like the gradients do. XLA's temporaries for jax's gradient: "
         f"{temps or 'jax ' + str(missing_jax)}."),
        "",
        rosen_table,
        "",
        ("A fresh output of n float64 in a process pinned to one CPU, with glibc's default "
         "malloc (blocks above 32 MB mapped afresh and unmapped at free, so every call "
         "page-faults them) and with thresholds that keep such blocks in the heap:"),
        "",
        alloc_table,
    ])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "mlp": mlp["data"],
                      "rosenbrock": rosen}, quick=quick)
    return text


if __name__ == "__main__":
    if len(sys.argv) > 4 and sys.argv[1] == "--alloc-child":
        allocation_child(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]))
        raise SystemExit(0)
    if len(sys.argv) > 2 and sys.argv[1] == "--mlp-child":
        mlp_child(sys.argv[2], "--quick" in sys.argv[3:])
        raise SystemExit(0)
    run_script(main)
