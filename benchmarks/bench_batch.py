"""Batched gradients on the CPU: throughput (points per second) of adjoint's `g.batch`.

Workloads: the seed's f4 at 10^6 points (an (N, 4) array), and a European call's pathwise
delta and vega (examples/option_greeks.py: one GBM path of 252 steps per point, 10^5 paths)
with `adjoint.grad(discounted_payoff, wrt=("s0", "sigma")).batch(Z, 100.0, 0.2, 0.03, 1.0,
100.0)`. Compared with the same adjoint gradient in a serial @njit loop (one core), and with
jax.jit(jax.vmap(jax.grad(f))) where jax is installed. The cuda target (one GPU thread per
point) is not timed here: this benchmark runs on the CPU only.

Run: python benchmarks/bench_batch.py [--quick]     (or: make bench)
"""

from __future__ import annotations

import os
import statistics
import time

import numba
import numpy as np
from common import (
    compare,
    first_call,
    fmt_cores,
    fmt_ratio,
    fmt_time,
    load_warp,
    machine_info,
    markdown_table,
    optional_import,
    paired_ratio,
    run_script,
    warm_up_numba,
    write_json,
)

import adjoint
from examples.option_greeks import black_scholes_greeks, discounted_payoff
from examples.seed_f4 import f4

NAME = "bench_batch"
RTOL = 1e-8
MARKET = (100.0, 0.2, 0.03, 1.0, 100.0)          # s0, sigma, rate, maturity, strike


def f4_serial_loop(adjoint_fn):
    """The same gradient, one point after the other on one core."""
    @numba.njit
    def loop(X, out):
        for i in range(X.shape[0]):
            out[i, :] = adjoint_fn(X[i])
    return loop


def option_serial_loop(adjoint_fn):
    @numba.njit
    def loop(Z, s0, sigma, rate, maturity, strike, delta, vega):
        for i in range(Z.shape[0]):
            d, v = adjoint_fn(Z[i], s0, sigma, rate, maturity, strike)
            delta[i] = d
            vega[i] = v
    return loop


def payoff_jax_loop(jax):
    """discounted_payoff with its loop as lax.fori_loop."""
    jnp = jax.numpy

    def f(z, s0, sigma, rate, maturity, strike):
        steps = z.shape[0]
        dt = maturity / steps
        drift = (rate - 0.5 * sigma * sigma) * dt
        vol = sigma * jnp.sqrt(dt)
        s = jax.lax.fori_loop(0, steps, lambda k, s: s * jnp.exp(drift + vol * z[k]), s0)
        return jnp.exp(-rate * maturity) * jnp.maximum(s - strike, 0.0)
    return f


def payoff_jax_vectorized(jax):
    """The same path as one product of the step factors (the natural array form)."""
    jnp = jax.numpy

    def f(z, s0, sigma, rate, maturity, strike):
        steps = z.shape[0]
        dt = maturity / steps
        drift = (rate - 0.5 * sigma * sigma) * dt
        vol = sigma * jnp.sqrt(dt)
        s = s0 * jnp.prod(jnp.exp(drift + vol * z))
        return jnp.exp(-rate * maturity) * jnp.maximum(s - strike, 0.0)
    return f


@numba.njit(parallel=True)
def f4_by_hand(X, G):
    """The reference: f4's gradient written out by hand, one point per prange iteration,
    straight into G[i, k]; nothing allocated per point."""
    for i in numba.prange(X.shape[0]):
        a, b, c, d = X[i, 0], X[i, 1], X[i, 2], X[i, 3]
        G[i, 0] = 2.0 * (b * c + b * d + c * d)
        G[i, 1] = 2.0 * (a * c + a * d + c * d)
        G[i, 2] = 2.0 * (a * b + a * d + b * d)
        G[i, 3] = 2.0 * (a * b + a * c + b * c)


@numba.njit
def f4_by_hand_flat(x, g):
    """The hand-written loop on the flattened (4 N,) arrays with unsigned indices: LLVM can
    vectorize it across points (the 2-D X[i, k] form above stays scalar)."""
    for j in range(x.shape[0] // 4):
        i = np.uintp(4 * j)
        a, b = x[i], x[i + np.uintp(1)]
        c, d = x[i + np.uintp(2)], x[i + np.uintp(3)]
        g[i] = 2.0 * (b * c + b * d + c * d)
        g[i + np.uintp(1)] = 2.0 * (a * c + a * d + c * d)
        g[i + np.uintp(2)] = 2.0 * (a * b + a * d + b * d)
        g[i + np.uintp(3)] = 2.0 * (a * b + a * c + b * c)


HAND = "hand-written loop writing G[i, k] (numba prange)"
HAND_FLAT = "hand-written loop on the flat arrays, np.uintp indices (numba)"
ROWS = "adjoint g.batch(X, out=G) (allocation-free rows)"
ROWS_NEW = "adjoint g.batch(X) (allocation-free rows, new output)"
PER_POINT = "adjoint g.batch(X), driver calling the gradient (allocates per point)"


def f4_against_hand_loop(repeats, target):
    """adjoint's f4 batch against the hand-written allocation-free loop, at 10^5 and 10^6
    points, on one numba thread and on all of them, side by side in this process: the
    median per-round ratio to the hand loop. The per-point row forces the previous driver
    (which calls the gradient, allocating its result, at every point) for comparison."""
    g = adjoint.grad(f4)
    old = adjoint.grad(f4)
    old._drivers["rows"] = None                # the lowering declined: the previous driver
    threads = numba.get_num_threads()
    rows, data = [], []
    for n in (10**5, 10**6):
        X = np.random.default_rng(0).uniform(0.5, 2.0, size=(n, 4))
        G, H = np.empty((n, 4)), np.empty((n, 4))
        f4_by_hand(X, H)
        for check in (g.batch(X, out=G), g.batch(X), old.batch(X)):
            assert np.allclose(check, H, rtol=RTOL, atol=0.0)
        cases = {HAND: lambda X=X, H=H: f4_by_hand(X, H), ROWS: lambda X=X, G=G: g.batch(X, out=G),
                 ROWS_NEW: lambda X=X: g.batch(X), PER_POINT: lambda X=X: old.batch(X)}
        for used in (1, threads):
            numba.set_num_threads(used)
            try:
                results = compare(cases, repeats=repeats, target_s=target, warmup=1)
            finally:
                numba.set_num_threads(threads)
            for name, summary in results.items():
                ratio = paired_ratio(results, name, HAND)
                cpu_ratio = paired_ratio(results, name, HAND, samples="cpu_samples_s")
                cpu = statistics.median(summary["cpu_samples_s"])
                rows.append([f"{n:,}", used, name, fmt_time(summary["median_s"]),
                             fmt_time(summary["median_s"] / n), fmt_ratio(ratio),
                             fmt_time(cpu / n), fmt_ratio(cpu_ratio)])
                data.append({"points": n, "threads": used, "variant": name,
                             "median_s": summary["median_s"], "over_hand_loop": ratio,
                             "cpu_median_s": cpu, "over_hand_loop_cpu": cpu_ratio})
    table = markdown_table(["points", "numba threads", "variant", "time per batch (median)",
                            "time per point", "/ hand-written loop", "CPU time per point",
                            "/ hand-written loop (CPU time)"], rows)
    text = "\n".join([
        "## f4 batch against a hand-written allocation-free loop", "",
        "Ratios are medians over interleaved rounds in one process (`numba.set_num_threads` "
        "sets the threads of every prange loop here, adjoint's and the hand loop's); the CPU "
        "columns divide the process's CPU time (every thread's) instead of wall time, which "
        "other jobs on a loaded machine inflate.", "", table])
    return text, data


class Workload:
    def __init__(self, title, points, unit):
        self.title, self.points, self.unit = title, points, unit
        self.cases, self.first_call_s, self.form, self.values = {}, {}, {}, {}

    def add(self, name, form, fn, first=None):
        """fn(): computes every point's gradient, returning them as numpy-able arrays.
        first: the first call's step (compilation) if it differs from fn."""
        self.form[name] = form
        self.first_call_s[name] = first_call(first or fn)
        self.values[name] = [np.array(v) for v in _as_tuple(fn())]   # a copy
        self.cases[name] = fn


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


ADJOINT = "adjoint g.batch (numba prange, all cores)"
SERIAL = "adjoint .adjoint in a serial @njit loop (one core)"


def build_f4(n, jax, warp=None):
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, size=(n, 4))
    w = Workload(f"f4 gradient at {n:,} points (X of shape ({n:,}, 4))", n, "point")
    t0 = time.perf_counter()
    g = adjoint.grad(f4)
    w.transform_s = time.perf_counter() - t0
    w.add(ADJOINT, "prange over points, numba", lambda: g.batch(X))
    out = np.empty((n, 4))
    loop = f4_serial_loop(g.adjoint)
    w.add(SERIAL, "range over points, numba",
          lambda: (loop(X, out), out)[1], first=lambda: loop(X[:1], out[:1]))
    if jax is not None:
        Xj = jax.numpy.asarray(X)
        vg = jax.jit(jax.vmap(jax.grad(f4)))
        w.add("jax.jit(jax.vmap(jax.grad(f4)))", "vmap over points, XLA",
              lambda: jax.block_until_ready(vg(Xj)))
    if warp is not None:
        import warp_kernels
        # the first call of each compiles its kernel (module) into a fresh kernel cache
        w.add(WARP_TAPE, "one Warp thread per point, forward + adjoint kernel, cpu device",
              warp_kernels.f4_tape(X))
        w.add(WARP_INLINE, "one Warp thread per point, gradient inside the kernel, cpu device",
              warp_kernels.f4_inline(X))
        cores = os.cpu_count() or 1
        w.add(WARP_THREADS.format(cores=cores), "the inline kernel launched on one block of "
              "points from each thread of a Python pool", warp_kernels.f4_inline_threads(X, cores))
    return w


WARP_TAPE = "warp, wp.Tape backward (one thread per point)"
WARP_INLINE = "warp, inline wp.grad(f4) (one thread per point)"
WARP_THREADS = "warp, inline wp.grad(f4), {cores} launches in parallel (one per core)"


def build_option(paths, steps, jax):
    Z = np.random.default_rng(0).standard_normal((paths, steps))
    w = Workload(f"European call, pathwise delta and vega: {paths:,} paths x {steps} steps",
                 paths, "path")
    t0 = time.perf_counter()
    g = adjoint.grad(discounted_payoff, wrt=("s0", "sigma"))
    w.transform_s = time.perf_counter() - t0
    w.add(ADJOINT, "prange over paths, numba", lambda: g.batch(Z, *MARKET))
    delta, vega = np.empty(paths), np.empty(paths)
    loop = option_serial_loop(g.adjoint)
    w.add(SERIAL, "range over paths, numba",
          lambda: (loop(Z, *MARKET, delta, vega), (delta, vega))[1],
          first=lambda: loop(Z[:1], *MARKET, delta[:1], vega[:1]))
    if jax is not None:
        Zj = jax.numpy.asarray(Z)
        axes = (0, None, None, None, None, None)
        for label, make in (("lax.fori_loop", payoff_jax_loop),
                            ("vectorized (prod of exp)", payoff_jax_vectorized)):
            vg = jax.jit(jax.vmap(jax.grad(make(jax), argnums=(1, 2)), in_axes=axes))
            w.add(f"jax.jit(jax.vmap(jax.grad(f))), {label}", f"vmap over paths, {label}, XLA",
                  lambda vg=vg: jax.block_until_ready(vg(Zj, *MARKET)))
    # the Monte Carlo estimate against Black-Scholes, as a sanity check of the workload
    d_mc, v_mc = (float(np.mean(v)) for v in w.values[ADJOINT])
    d_bs, v_bs = black_scholes_greeks(*MARKET)
    w.sanity = (f"Monte Carlo means: delta {d_mc:.4f}, vega {v_mc:.3f}; Black-Scholes: "
                f"delta {d_bs:.4f}, vega {v_bs:.3f}")
    return w


def run_workload(w, repeats, target):
    reference = w.values[ADJOINT]
    check = {}
    for name, values in w.values.items():
        rel = max(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
                  for a, b in zip(values, reference))
        ok = all(np.allclose(a, b, rtol=RTOL, atol=0.0) for a, b in zip(values, reference))
        check[name] = {"allclose_to_adjoint": ok, "max_rel_diff": rel}
    results = compare(w.cases, repeats=repeats, target_s=target, warmup=0)
    rows = []
    for name, s in results.items():
        s["over_adjoint_batch"] = paired_ratio(results, name, ADJOINT)
        s["over_adjoint_batch_cpu"] = paired_ratio(results, name, ADJOINT, samples="cpu_samples_s")
        s["points_per_s"] = w.points / s["median_s"]
        s["first_call_s"] = w.first_call_s[name]
        s.update(check[name])
        mark = "" if check[name]["allclose_to_adjoint"] else \
            f" (differs: {check[name]['max_rel_diff']:.1e})"
        rows.append([name + mark, w.form[name], fmt_time(s["median_s"]), fmt_time(s["iqr_s"]),
                     fmt_cores(s), f"{s['points_per_s']:.3g}", fmt_time(s["median_s"] / w.points),
                     fmt_ratio(s["over_adjoint_batch"]), fmt_ratio(s["over_adjoint_batch_cpu"]),
                     fmt_time(s["first_call_s"]),
                     s["repeats"]])
    table = markdown_table(["variant", "form", "time per batch (median)", "IQR", "cores busy",
                            f"{w.unit}s per second", f"time per {w.unit}", "/ adjoint batch",
                            "/ adjoint batch (CPU time)",
                            "first call (compile)", "repeats"], rows)
    parallel = paired_ratio(results, SERIAL, ADJOINT)
    speed = (f"{parallel:.2f}x faster than" if parallel >= 1 else
             f"{1 / parallel:.2f}x slower than")
    lines = [f"### {w.title}", "", table, "",
             (f"adjoint's batch is {speed} its serial loop (serial / batch = {parallel:.2f}; "
              f"numba threads {numba.config.NUMBA_NUM_THREADS}). adjoint.grad source "
              f"transformation: {fmt_time(w.transform_s)}.")]
    if getattr(w, "sanity", None):
        lines[-1] += f" {w.sanity}."
    return "\n".join(lines), {"title": w.title, "points": w.points, "rows": results,
                              "transform_s": w.transform_s, "serial_over_batch": parallel}


# One core for every tool: numba's prange, XLA and OpenMP pools at one thread, the process pinned.
ONE_CORE_ENV = {"NUMBA_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


def f4_one_core(quick):
    """The f4 batch against the peers with every tool on one core, in a child process pinned to
    one CPU (a loaded shared machine gives no steady second core): (markdown, data)."""
    import json
    import subprocess
    import sys
    import tempfile
    from pathlib import Path
    env = dict(os.environ, **ONE_CORE_ENV)
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "one_core.json"
        proc = subprocess.run([sys.executable, __file__, "--one-core", str(out)] +
                              (["--quick"] if quick else []), env=env, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"bench_batch: the one-core process failed (exit {proc.returncode})")
        got = json.loads(out.read_text())
    return got["text"], got["data"]


ONE_THREAD = "adjoint g.batch(X) (numba prange on one thread)"


def _one_core_child(out, quick):
    import json
    from pathlib import Path
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    repeats, target = (5, 0.05) if quick else (15, 0.1)
    warm_up_numba()
    jax, missing_jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        import jax.numpy
    warp, missing_warp = load_warp()
    g = adjoint.grad(f4)
    rows, data = [], []
    for n in ((10**5,) if quick else (10**5, 10**6)):
        X = np.random.default_rng(0).uniform(0.5, 2.0, size=(n, 4))
        G, H = np.empty((n, 4)), np.empty((n, 4))
        f4_by_hand(X, H)
        F = np.empty((n, 4))
        cases = {HAND: lambda X=X, H=H: (f4_by_hand(X, H), H)[1],
                 HAND_FLAT: lambda X=X, F=F: (f4_by_hand_flat(X.reshape(-1), F.reshape(-1)), F)[1],
                 ONE_THREAD: lambda X=X: g.batch(X),
                 ROWS: lambda X=X, G=G: g.batch(X, out=G)}
        if jax is not None:
            Xj = jax.numpy.asarray(X)
            vg = jax.jit(jax.vmap(jax.grad(f4)))
            cases["jax.jit(jax.vmap(jax.grad(f4)))"] = \
                lambda Xj=Xj, vg=vg: jax.block_until_ready(vg(Xj))
        if warp is not None:
            import warp_kernels
            cases[WARP_TAPE] = warp_kernels.f4_tape(X)
            cases[WARP_INLINE] = warp_kernels.f4_inline(X)
        for name, fn in cases.items():
            assert np.allclose(np.asarray(fn()), H, rtol=RTOL, atol=0.0), name
        results = compare(cases, repeats=repeats, target_s=target)
        for name, s in results.items():
            over = paired_ratio(results, name, ONE_THREAD)
            over_cpu = paired_ratio(results, name, ONE_THREAD, samples="cpu_samples_s")
            rows.append([f"{n:,}", name, fmt_time(s["median_s"]), fmt_time(s["median_s"] / n),
                         fmt_cores(s), fmt_ratio(over), fmt_ratio(over_cpu),
                         fmt_ratio(paired_ratio(results, name, HAND))])
            data.append({"points": n, "variant": name, "median_s": s["median_s"],
                         "cores": s["cores"], "over_adjoint_batch": over,
                         "over_adjoint_batch_cpu": over_cpu})
    table = markdown_table(["points", "variant", "time per batch (median)", "time per point",
                            "cores busy", "/ adjoint batch", "/ adjoint batch (CPU time)",
                            "/ hand-written loop"], rows)
    missing = [f"{name}: {why}" for name, why in (("jax", missing_jax), ("warp", missing_warp))
               if why]
    text = "\n".join([
        "## f4 batch against the peers, every tool on one core", "",
        ("The same f4 batches in a child process pinned to one CPU, with NUMBA_NUM_THREADS=1 "
         "(adjoint's prange and the hand loop run serially), XLA on one thread "
         "(--xla_cpu_multi_thread_eigen=false) and Warp's single launch (its cpu device is serial "
         "anyway): the throughput per core, which a loaded machine does not blur as it does the "
         "all-core tables of the throughput section. Ratios are medians of per-round ratios; every batch is checked "
         f"against the hand-written loop (rtol {RTOL:g}) first."), "", table] +
        ([""] + missing if missing else []))
    Path(out).write_text(json.dumps({"text": text, "data": data}, default=float))


def gpu_note():
    if os.environ.get("NUMBA_ENABLE_CUDASIM") == "1":
        return "NUMBA_ENABLE_CUDASIM=1: the CUDA simulator, not a GPU"
    try:
        from numba import cuda
        if cuda.is_available():
            return f"a GPU is visible ({cuda.get_current_device().name!r}) but not benchmarked here"
    except Exception:  # noqa: BLE001, S110 -- no driver, no toolkit: no GPU
        pass
    return "no GPU on this machine"


def main(quick=False):
    repeats, target = (5, 0.05) if quick else (15, 0.2)
    paths = 10**4 if quick else 10**5
    warm_up_numba()
    jax, missing_jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        import jax.numpy
    warp, missing_warp = load_warp()
    hand_text, hand = f4_against_hand_loop(repeats, target)
    texts, data = [], [{"title": "f4 against a hand-written loop", "rows": hand}]
    f4_sizes = (10**5,) if quick else (10**5, 10**6)
    for w in [build_f4(n, jax, warp) for n in f4_sizes] + [build_option(paths, 252, jax)]:
        text, d = run_workload(w, repeats, target)
        if missing_jax:
            text += f"\n\njax: {missing_jax}"
        if missing_warp and w.title.startswith("f4"):
            text += f"\n\nwarp: {missing_warp}"
        texts.append(text)
        data.append(d)
    one_core_text, one_core = f4_one_core(quick)
    data.append({"title": "f4 against the peers, every tool on one core", "rows": one_core})
    info = machine_info()
    header = "\n".join([
        "## Batched gradients on the CPU: throughput",
        "",
        (f"GPU: {gpu_note()}; the cuda target (one thread per point, `target='cuda'`) exists "
         "and is tested under numba's CUDA simulator, but no GPU was available for this run, so "
         "every figure below is the CPU. Time per batch call from Python (all points), median "
         "of interleaved repeats and IQR; points per second = points / median; '/ adjoint "
         "batch' is the median per-round ratio to adjoint's g.batch, of wall time and of the process's "
         "CPU time (every thread's; steadier on a loaded machine, but it charges a tool for "
         "the cores it keeps busy). adjoint's batch is a "
         f"numba `prange` loop over the points (all {info['cpu_count']} cores); the serial row "
         "calls the same compiled gradient from an @njit `range` loop; jax runs "
         "jit(vmap(grad(f))) in float64 on arrays converted beforehand; NVIDIA Warp (f4 only, "
         "float64 kernels in benchmarks/warp_kernels.py, cpu device, arrays converted "
         "beforehand, the gradient returned as a numpy view of Warp's buffer) runs one Warp thread per "
         "point, and its cpu device runs a launch's threads one after the other on the "
         "calling thread: one core ('cores busy'); the row 'launches in parallel' splits the "
         "points into one block per core, each launched from a thread of a Python pool (Warp "
         "calls its compiled kernels through ctypes, which releases the GIL): Warp on all "
         "cores. Every batch is checked "
         f"against adjoint's with np.allclose(rtol={RTOL:g}, atol=0) before timing. 'first "
         "call' includes numba's compilation of the batch driver, XLA's compilation or Warp's "
         "kernel compilation (into an empty kernel cache; the first Warp kernel of the process "
         "also pays the start-up of Warp's compiler)."),
    ])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "repeats": repeats,
                      "gpu": gpu_note(), "workloads": data}, quick=quick)
    # a section of its own after the batch section's: the README's table reads that one's rows
    return "\n\n".join([header] + texts + [one_core_text, hand_text])


if __name__ == "__main__":
    import sys
    if len(sys.argv) > 2 and sys.argv[1] == "--one-core":
        _one_core_child(sys.argv[2], "--quick" in sys.argv[3:])
        raise SystemExit(0)
    run_script(main)
