"""f4 (the seed's hyper-box surface): adjoint's gradient vs the seed's hand-written adjoint.

Goal (issue): adjoint's gradient within 1.2x of the hand-written adjoint, both compiled by numba
and called from a numba @njit loop over 10^5 points (an (N, 4) float64 array, one gradient per
row stored into an (N, 4) output array). The numba primal is timed the same way; autograd and
Python-level calls are timed on fewer points and reported per point.

Run: python benchmarks/bench_f4.py [--quick]     (or: make bench, which runs every benchmark)
"""

from __future__ import annotations

import time

import numba
import numpy as np
from common import (
    compare,
    first_call,
    fmt_ratio,
    fmt_time,
    machine_info,
    markdown_table,
    optional_import,
    paired_ratio,
    run_script,
    warm_up_numba,
    write_json,
)

import adjoint

NAME = "bench_f4"


# The seed's f4, in its three-address form: the example's own.
from examples.seed_f4 import f4  # noqa: E402


# The seed's hand-written grad_f4, verbatim except that it returns a numpy array
# (the seed's own comment: "May want to return a numpy.array here instead").
def grad_f4(side_lengths):
    (s_a, s_b, s_c, s_d, s_ab, s_cd,
     s_abc, s_abd, s_acd, s_bcd, s_s) = [0.0] * 11
    t_a, t_b, t_c, t_d = side_lengths
    t_ab = t_a * t_b
    t_cd = t_c * t_d
    t_abc = t_ab * t_c
    t_abd = t_ab * t_d
    t_acd = t_a * t_cd
    t_bcd = t_b * t_cd
    t_s = t_abc + t_abd + t_acd + t_bcd
    ret = 2.0 * t_s  # noqa: F841
    # return ret # Do not return this.
    # Fill in sensitivities.
    # Analyzing the line: "ret = 2.0 * t_s"
    s_s += 2.0
    # Analyzing the line: "t_s = t_abc + t_abd + t_acd + t_bcd"
    s_abc += s_s
    s_abd += s_s
    s_acd += s_s
    s_bcd += s_s
    # Analyzing the line: "t_bcd = t_b * t_cd"
    s_b += t_cd * s_bcd
    s_cd += t_b * s_bcd
    # Analyzing the line: "t_acd = t_a * t_cd"
    s_a += t_cd * s_acd
    s_cd += t_a * s_acd
    # Analyzing the line: "t_abd = t_ab * t_d"
    s_ab += t_d * s_abd
    s_d += t_ab * s_abd
    # Analyzing the line: "t_abc = t_ab * t_c"
    s_ab += t_c * s_abc
    s_c += t_ab * s_abc
    # Analyzing the line: "t_cd = t_c * t_d"
    s_c += t_d * s_cd
    s_d += t_c * s_cd
    # Analyzing the line: "t_ab = t_a * t_b"
    s_a += t_b * s_ab
    s_b += t_a * s_ab
    return np.array([s_a, s_b, s_c, s_d])


# The same hand-written adjoint with the one line numba handles badly rewritten: the seed's
# `(s_a, ...) = [0.0] * 11` builds and unpacks a list on every call, so here each sensitivity
# starts as a scalar 0.0. Every other line is the seed's.
def grad_f4_scalar_init(side_lengths):
    s_a = 0.0
    s_b = 0.0
    s_c = 0.0
    s_d = 0.0
    s_ab = 0.0
    s_cd = 0.0
    s_abc = 0.0
    s_abd = 0.0
    s_acd = 0.0
    s_bcd = 0.0
    s_s = 0.0
    t_a, t_b, t_c, t_d = side_lengths
    t_ab = t_a * t_b
    t_cd = t_c * t_d
    t_abc = t_ab * t_c
    t_abd = t_ab * t_d
    t_acd = t_a * t_cd
    t_bcd = t_b * t_cd
    t_s = t_abc + t_abd + t_acd + t_bcd
    ret = 2.0 * t_s  # noqa: F841
    s_s += 2.0
    s_abc += s_s
    s_abd += s_s
    s_acd += s_s
    s_bcd += s_s
    s_b += t_cd * s_bcd
    s_cd += t_b * s_bcd
    s_a += t_cd * s_acd
    s_cd += t_a * s_acd
    s_ab += t_d * s_abd
    s_d += t_ab * s_abd
    s_ab += t_c * s_abc
    s_c += t_ab * s_abc
    s_c += t_d * s_cd
    s_d += t_c * s_cd
    s_a += t_b * s_ab
    s_b += t_a * s_ab
    return np.array([s_a, s_b, s_c, s_d])


# Reference only (not the goal's baseline): the same hand-written adjoint writing into a caller's
# row instead of allocating a result, to show what the per-point allocation costs.
def grad_f4_into(side_lengths, out):
    t_a, t_b, t_c, t_d = side_lengths
    t_ab = t_a * t_b
    t_cd = t_c * t_d
    s_abc = s_abd = s_acd = s_bcd = 2.0
    s_cd = t_b * s_bcd + t_a * s_acd
    s_ab = t_d * s_abd + t_c * s_abc
    out[0] = t_cd * s_acd + t_b * s_ab
    out[1] = t_cd * s_bcd + t_a * s_ab
    out[2] = t_ab * s_abc + t_d * s_cd
    out[3] = t_ab * s_abd + t_c * s_cd


def gradient_loop(kernel):
    """An @njit loop storing kernel(X[i]) (a length-4 array) into out[i, :]."""
    @numba.njit
    def loop(X, out):
        for i in range(X.shape[0]):
            out[i, :] = kernel(X[i])
    return loop


def primal_loop(kernel):
    @numba.njit
    def loop(X, out):
        for i in range(X.shape[0]):
            out[i] = kernel(X[i])
    return loop


def into_loop(kernel):
    @numba.njit
    def loop(X, out):
        for i in range(X.shape[0]):
            kernel(X[i], out[i])
    return loop


ADJOINT = "adjoint .adjoint (numba)"
ADJOINT_FAST = "adjoint .adjoint, fastmath"
SEED = "hand-written grad_f4, seed verbatim"
SCALAR = "hand-written grad_f4, seed with scalar init"
INTO = "hand-written, no allocation (reference)"
PRIMAL_ADJ = "primal f4: adjoint .primal (numba)"
PRIMAL = "primal f4: numba.njit(f4)"


def main(quick=False):
    n_points = 10**5
    n_slow = 10**3                       # autograd and Python-level calls
    repeats, target = (7, 0.01) if quick else (41, 0.02)
    rng = np.random.default_rng(0)
    X = rng.uniform(0.5, 2.0, size=(n_points, 4))
    out = np.empty((n_points, 4))
    out_primal = np.empty(n_points)
    warm_up_numba()

    # --- compile (timed separately) ----------------------------------------------------------
    compile_s = {}
    t0 = time.perf_counter()
    g = adjoint.grad(f4)
    compile_s["adjoint.grad(f4): source transformation"] = time.perf_counter() - t0
    g_fast = adjoint.grad(f4, jit_options={"fastmath": True})

    loops = {
        ADJOINT: gradient_loop(g.adjoint),
        ADJOINT_FAST: gradient_loop(g_fast.adjoint),
        SEED: gradient_loop(numba.njit(grad_f4)),
        SCALAR: gradient_loop(numba.njit(grad_f4_scalar_init)),
        INTO: into_loop(numba.njit(grad_f4_into)),
        PRIMAL_ADJ: primal_loop(g.primal),
        PRIMAL: primal_loop(numba.njit(f4)),
    }
    outputs = {}
    for name, loop in loops.items():
        dest = out_primal if name.startswith("primal") else out
        compile_s[f"first call of the njit loop: {name}"] = first_call(
            lambda loop=loop, dest=dest: loop(X[:1], dest[:1]))
        loop(X, dest)
        outputs[name] = dest.copy()

    # --- correctness, before any timing ------------------------------------------------------
    reference = outputs[SEED]
    for name in (ADJOINT, ADJOINT_FAST, SCALAR, INTO):
        if not np.allclose(outputs[name], reference, rtol=1e-12, atol=0):
            raise AssertionError(f"{name}: gradient differs from the hand-written adjoint")
    assert np.allclose(outputs[PRIMAL_ADJ], outputs[PRIMAL], rtol=1e-12, atol=0)
    assert np.allclose(g([1.0, 2.0, 3.0, 4.0]), [52.0, 38.0, 28.0, 22.0])

    # --- timing: the njit loops over 10^5 points, side by side -------------------------------
    cases = {}
    for name, loop in loops.items():
        dest = out_primal if name.startswith("primal") else out
        cases[name] = lambda loop=loop, dest=dest: loop(X, dest)
    fast = compare(cases, repeats=repeats, target_s=target)
    per_point = _per_point(fast, n_points)

    # --- adjoint's own batch driver, where this version has one (numba prange: all cores) ---
    if hasattr(g, "batch"):
        compile_s["first call of adjoint g.batch (driver compile)"] = first_call(
            lambda: g.batch(X[:1]))
        got = g.batch(X)
        if not np.allclose(got, reference, rtol=1e-12, atol=0):
            raise AssertionError("g.batch(X) differs from the hand-written adjoint")
        batch = compare({"adjoint g.batch(X) (prange, all cores)": lambda: g.batch(X),
                         "anchor": cases[ADJOINT]}, repeats=max(5, repeats // 2), target_s=target)
        batch_ratio = paired_ratio(batch, "adjoint g.batch(X) (prange, all cores)", "anchor")
        per_point.update(_per_point({k: v for k, v in batch.items() if k != "anchor"}, n_points))
    else:
        batch = None

    # --- Python-level calls and autograd, on fewer points ------------------------------------
    slow_cases = {}
    Xs = X[:n_slow]
    slow_cases["adjoint g(x) from Python (API call, checks args)"] = \
        lambda: [g(x) for x in Xs]
    slow_cases["adjoint g.adjoint(x) from Python (dispatcher)"] = \
        lambda: [g.adjoint(x) for x in Xs]
    autograd, missing_autograd = optional_import("autograd")
    if autograd is not None:
        ag = autograd.grad(f4)
        got = np.array([ag(x) for x in Xs])
        if not np.allclose(got, reference[:n_slow], rtol=1e-12, atol=0):
            raise AssertionError("autograd's gradient differs from the hand-written adjoint")
        slow_cases["autograd.grad(f4) (Python loop)"] = lambda: [ag(x) for x in Xs]
    # the same adjoint loop again as an anchor, so the Python-level rows get paired ratios too
    slow_cases["anchor"] = cases[ADJOINT]
    slow_cases["anchor primal"] = cases[PRIMAL]
    slow = compare(slow_cases, repeats=max(5, repeats // 4), target_s=target)
    slow_scale = {"anchor": n_points, "anchor primal": n_points}

    def ratio_to(name, base):
        if name in fast:
            return paired_ratio(fast, name, base)
        if batch is not None and name in batch:
            return batch_ratio * paired_ratio(fast, ADJOINT, base)
        # name / base = (name / anchor) in the slow group * (adjoint / base) in the fast group
        return (paired_ratio(slow, name, "anchor") * n_points / n_slow *
                paired_ratio(fast, ADJOINT, base))
    per_point.update(_per_point({k: v for k, v in slow.items() if k not in slow_scale}, n_slow))

    rows = []
    for name, s in per_point.items():
        s["ratio_vs_seed_verbatim"] = ratio_to(name, SEED)
        s["ratio_vs_seed_scalar_init"] = ratio_to(name, SCALAR)
        s["ratio_vs_primal"] = ratio_to(name, PRIMAL)
        rows.append([name, s["points"], fmt_time(s["median_s"]), fmt_time(s["iqr_s"]),
                     fmt_time(s["min_s"]), fmt_ratio(s["ratio_vs_seed_verbatim"]),
                     fmt_ratio(s["ratio_vs_seed_scalar_init"]), fmt_ratio(s["ratio_vs_primal"])])
    if autograd is None:
        rows.append(["autograd.grad(f4)", "-", missing_autograd, "-", "-", "-", "-", "-"])

    ratio_seed = per_point[ADJOINT]["ratio_vs_seed_verbatim"]
    ratio_scalar = per_point[ADJOINT]["ratio_vs_seed_scalar_init"]
    ratio_primal = per_point[ADJOINT]["ratio_vs_primal"]
    table = markdown_table(
        ["variant", "points", "time per point (median)", "IQR", "min", "vs seed verbatim",
         "vs seed, scalar init", "vs primal (njit f4)"], rows)
    compile_rows = [[k, fmt_time(v)] for k, v in compile_s.items()]

    def verdict(r):
        return "met" if r <= 1.2 else "NOT met"
    text = "\n".join([
        "## f4 (seed hyper-box surface): gradient per point",
        "",
        (f"Each numba row is an @njit loop over {n_points:,} points of an (N, 4) float64 array, "
        "storing each result into an output array (gradients: `out[i, :] = grad(X[i])`; primal: "
        f"`out[i] = f(X[i])`); median of {repeats} interleaved repeats, IQR and min over the "
        "repeats; ratios are medians of per-round ratios (see benchmarks/common.py). "
        f"Python-level rows loop over {n_slow:,} points in Python (their ratios go through "
        "adjoint's njit loop timed in the same rounds). "
        "Hand-written baselines: *seed verbatim* is the seed's grad_f4 as written (its "
        "`(s_a, ...) = [0.0] * 11` line builds a list on every call), returning "
        "`np.array([s_a, s_b, s_c, s_d])`; *seed, scalar init* is the same code with each "
        "`s_* = 0.0` on its own line; *no allocation* writes into the output row (reference "
        "for what the per-point result allocation costs)."),
        "",
        table,
        "",
        (f"**Goal (adjoint within 1.2x of the hand-written adjoint):** vs the seed verbatim "
        f"{ratio_seed:.2f}x ({verdict(ratio_seed)}); vs the seed with scalar init "
        f"{ratio_scalar:.2f}x ({verdict(ratio_scalar)}). adjoint/primal = {ratio_primal:.1f}x."),
        "",
        "Compile times (first call; numba compiles the loop and its callee):",
        "",
        markdown_table(["step", "time"], compile_rows),
    ])
    info = machine_info()
    write_json(NAME, {
        "benchmark": NAME, "quick": quick, "machine": info,
        "points": n_points, "python_level_points": n_slow, "repeats": repeats,
        "goal": {"threshold": 1.2,
                 "adjoint_over_seed_verbatim": ratio_seed, "met_vs_seed_verbatim": ratio_seed <= 1.2,
                 "adjoint_over_seed_scalar_init": ratio_scalar,
                 "met_vs_seed_scalar_init": ratio_scalar <= 1.2},
        "adjoint_over_primal": ratio_primal,
        "per_point": per_point, "compile_s": compile_s,
        "missing": {"autograd": missing_autograd} if missing_autograd else {},
    }, quick=quick)
    return text


def _per_point(summaries, points):
    result = {}
    for name, s in summaries.items():
        d = {k: (v / points if k.endswith("_s") and not isinstance(v, list) and v is not None else v)
             for k, v in s.items()}
        d["samples_s"] = [v / points for v in s["samples_s"]]
        if s.get("cpu_samples_s"):
            d["cpu_samples_s"] = [v / points for v in s["cpu_samples_s"]]
        d["points"] = points
        result[name] = d
    return result


if __name__ == "__main__":
    run_script(main)
