"""Higher order: Hessian-vector products and Jacobians, against JAX.

1. HVP cost in units of a gradient: adjoint.hvp(f)(x, v) (forward mode over the emitted
   gradient) vs adjoint.grad(f)(x), for an MLP loss (w.r.t. W1) and for the extended Rosenbrock
   loop; the same ratio for jax: jax.jit of forward over reverse (jax.jvp(jax.grad(f), (x,), (v,)))
   vs jax.jit(jax.grad(f)). Every gradient and HVP is checked against jax's before timing.
2. Jacobians of the Lorenz-63 RK4 map: 3x3 w.r.t. the state, and 3x6 w.r.t. state and
   parameters, by adjoint.jacobian in forward, reverse and auto modes vs jax.jit(jax.jacfwd(f))
   and jax.jit(jax.jacrev(f)) (the same loop written with jax.lax.fori_loop). Breakdown rows time
   the pieces that one adjoint.jacobian call runs: one call of f in the interpreter (for the
   value's shape) and one adjoint.jvp / adjoint.vjp call.

The functions are those of tests/higher_corpus.py, copied here so that the benchmark does not
move when the tests' corpus does. adjoint's first call per argument types generates and
compiles code; it is excluded from the timings and reported in its own column.

Run: python benchmarks/bench_higher.py [--quick]     (or: make bench)
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
from common import (
    compare,
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

NAME = "bench_higher"


# the functions differentiated: the test corpus's own (tests/higher_corpus.py)
# ---------------------------------------------------------------------------------------------
# the jax twins (same math; loops through jax.lax.fori_loop): Rosenbrock's and the MLP's are
# bench_loops' and bench_arrays' own
from bench_arrays import mlp_generic  # noqa: E402
from bench_loops import rosenbrock_jax_loop, rosenbrock_vectorized  # noqa: E402

from tests.higher_corpus import lorenz_full, lorenz_map, mlp_loss, rosenbrock  # noqa: E402,F401


def lorenz_map_jax(jax, steps):
    jnp = jax.numpy

    def f(state, params):
        sigma, rho, beta = params[0], params[1], params[2]
        dt = 0.01

        def body(k, u):
            x, y, z = u
            k1x, k1y, k1z = sigma * (y - x), x * (rho - z) - y, x * y - beta * z
            x2, y2, z2 = x + 0.5 * dt * k1x, y + 0.5 * dt * k1y, z + 0.5 * dt * k1z
            k2x, k2y, k2z = sigma * (y2 - x2), x2 * (rho - z2) - y2, x2 * y2 - beta * z2
            x3, y3, z3 = x + 0.5 * dt * k2x, y + 0.5 * dt * k2y, z + 0.5 * dt * k2z
            k3x, k3y, k3z = sigma * (y3 - x3), x3 * (rho - z3) - y3, x3 * y3 - beta * z3
            x4, y4, z4 = x + dt * k3x, y + dt * k3y, z + dt * k3z
            k4x, k4y, k4z = sigma * (y4 - x4), x4 * (rho - z4) - y4, x4 * y4 - beta * z4
            return (x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
                    y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y),
                    z + dt / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z))

        x, y, z = jax.lax.fori_loop(0, steps, body, (state[0], state[1], state[2]))
        return jnp.stack([x, y, z])
    return f


# ---------------------------------------------------------------------------------------------
# helpers

def _jax():
    jax, missing = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        import jax.numpy
    return jax, missing


def _timed(fn):
    """(value, seconds) of one call."""
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


def _numpy(value):
    return np.asarray(value, dtype=float)


def _check(got, want, rtol):
    got, want = _numpy(got), _numpy(want)
    scale = max(float(np.max(np.abs(want))), 1e-300)
    ok = bool(got.shape == want.shape and np.allclose(got, want, rtol=rtol, atol=rtol * scale))
    diff = float(np.max(np.abs(got - want)) / scale) if got.shape == want.shape else float("inf")
    return {"allclose": ok, "max_diff_over_max_abs": diff}


def _check_text(c):
    if c is None:
        return "-"
    return f"ok ({c['max_diff_over_max_abs']:.0e})" if c["allclose"] else \
        f"DIFFERS ({c['max_diff_over_max_abs']:.1e})"


class Case:
    """One timed callable with its first-call time and check."""

    def __init__(self, call, first_s=None, build_s=None, check=None):
        self.call = call
        self.first_s = first_s
        self.build_s = build_s
        self.check = check


# ---------------------------------------------------------------------------------------------
# 1. HVP / gradient

def _hvp_jax(jax, f, argnum):
    """jax.jit of forward over reverse: (*args, v) -> H v w.r.t. args[argnum]."""
    gradient = jax.grad(f, argnums=argnum)

    def hvp(*args):
        *point, v = args
        def g(w):
            return gradient(*point[:argnum], w, *point[argnum + 1:])
        return jax.jvp(g, (point[argnum],), (v,))[1]
    return jax.jit(hvp), jax.jit(gradient)


def _adjoint_dispatchers(f, wrt, point):
    """The compiled code behind adjoint.grad and adjoint.hvp, called without the Python wrapper
    (argument checks, type dispatch): (grad_dispatcher, jvp_dispatcher of the gradient)."""
    gradient = adjoint.grad(f, wrt=wrt)
    converted = gradient._check_arguments(list(point))
    _, grad_dispatcher = gradient._specialized(converted)
    tangent = adjoint.jvp(gradient.as_function(*point), wrt)
    _, jvp_dispatcher = tangent._specialized(tangent._check_arguments(list(point)))
    return grad_dispatcher, jvp_dispatcher


def hvp_workload(title, f, wrt, point, v, jax_forms, rtol, missing):
    """jax_forms: [(label, jax function of the same arguments)] (empty when jax is missing)."""
    point = list(point)
    pairs = {}          # tool -> (gradient Case, hvp Case)
    reference_grad = reference_hvp = None
    jax = sys.modules.get("jax")
    block = jax.block_until_ready if jax is not None else None
    for label, fj in jax_forms:
        hvp_j, grad_j = _hvp_jax(jax, fj, wrt)
        pj = [jax.numpy.asarray(a) for a in point]
        vj = jax.numpy.asarray(v)
        g_value, g_first = _timed(lambda g=grad_j, pj=pj: block(g(*pj)))
        h_value, h_first = _timed(lambda h=hvp_j, pj=pj, vj=vj: block(h(*pj, vj)))
        if reference_grad is None:
            reference_grad, reference_hvp = _numpy(g_value), _numpy(h_value)
        pairs[f"jax: {label}"] = (
            Case(lambda g=grad_j, pj=pj: block(g(*pj)), first_s=g_first,
                 check=_check(g_value, reference_grad, rtol)),
            Case(lambda h=hvp_j, pj=pj, vj=vj: block(h(*pj, vj)), first_s=h_first,
                 check=_check(h_value, reference_hvp, rtol)))

    grad_a, grad_build = _timed(lambda: adjoint.grad(f, wrt=wrt))
    hvp_a, hvp_build = _timed(lambda: adjoint.hvp(f, wrt=wrt))
    g_value, g_first = _timed(lambda: grad_a(*point))
    h_value, h_first = _timed(lambda: hvp_a(*point, v))
    if reference_grad is None:             # no jax: the adjoint rows are the reference
        reference_grad, reference_hvp = _numpy(g_value), _numpy(h_value)
    adjoint_pairs = {"adjoint: grad(f)(x), hvp(f)(x, v)": (
        Case(lambda: grad_a(*point), first_s=g_first, build_s=grad_build,
             check=_check(g_value, reference_grad, rtol)),
        Case(lambda: hvp_a(*point, v), first_s=h_first, build_s=hvp_build,
             check=_check(h_value, reference_hvp, rtol)))}
    notes = []
    try:
        grad_d, jvp_d = _adjoint_dispatchers(f, wrt, point)
        dg = grad_d(*point)
        dh = jvp_d(*point, v)[1]
        adjoint_pairs["adjoint: the compiled dispatchers, no wrapper"] = (
            Case(lambda: grad_d(*point), check=_check(dg, reference_grad, rtol)),
            Case(lambda: jvp_d(*point, v), check=_check(dh, reference_hvp, rtol)))
    except Exception as exc:  # noqa: BLE001 -- a diagnostic row; private API may move
        notes.append(f"dispatcher rows left out: {type(exc).__name__}: {exc}".splitlines()[0])
    pairs = {**adjoint_pairs, **pairs}
    return {"title": title, "pairs": pairs, "missing": missing, "notes": notes}


def run_hvp(workloads, repeats, target):
    rows, data, summaries = [], [], []
    for w in workloads:
        for tool, (g, h) in w["pairs"].items():
            for which, case in (("gradient", g), ("hvp", h)):
                if case.check is not None and not case.check["allclose"]:
                    print(f"WARNING {w['title']}: {tool} {which} differs from the reference "
                          f"({case.check['max_diff_over_max_abs']:.2e})", file=sys.stderr)
        cases = {}
        for tool, (g, h) in w["pairs"].items():
            cases[f"{tool} | gradient"] = g.call
            cases[f"{tool} | hvp"] = h.call
        results = compare(cases, repeats=repeats, target_s=target)
        entry = {"title": w["title"], "missing": w["missing"], "notes": w["notes"], "tools": {}}
        for tool, (g, h) in w["pairs"].items():
            rg, rh = results[f"{tool} | gradient"], results[f"{tool} | hvp"]
            ratio = paired_ratio(results, f"{tool} | hvp", f"{tool} | gradient")
            entry["tools"][tool] = {
                "gradient": {**rg, "first_call_s": g.first_s, "build_s": g.build_s,
                             "check": g.check},
                "hvp": {**rh, "first_call_s": h.first_s, "build_s": h.build_s, "check": h.check},
                "hvp_over_gradient": ratio}
            first = "-" if g.first_s is None else \
                f"{fmt_time(g.first_s)} / {fmt_time(h.first_s)}"
            build = "-" if g.build_s is None else \
                f"{fmt_time(g.build_s)} / {fmt_time(h.build_s)}"
            rows.append([w["title"], tool, fmt_time(rg["median_s"]), fmt_time(rh["median_s"]),
                         f"{fmt_time(rg['iqr_s'])} / {fmt_time(rh['iqr_s'])}",
                         fmt_ratio(ratio), f"{_check_text(g.check)} / {_check_text(h.check)}",
                         build, first])
        for peer, why in w["missing"].items():
            rows.append([w["title"], peer, why] + ["-"] * 6)
        jax_rows = [t for t in entry["tools"] if t.startswith("jax: ")]
        main = "adjoint: grad(f)(x), hvp(f)(x, v)"
        if jax_rows:
            j = jax_rows[0]
            g_over = paired_ratio(results, f"{main} | gradient", f"{j} | gradient")
            h_over = paired_ratio(results, f"{main} | hvp", f"{j} | hvp")
            entry["adjoint_over_jax"] = {"jax_form": j, "gradient": g_over, "hvp": h_over}
            summaries.append(f"{w['title']}: adjoint/{j[5:]}: gradient {g_over:.2f}x, "
                             f"hvp {h_over:.2f}x (paired).")
        summaries += [f"{w['title']}: {n}" for n in w["notes"]]
        data.append(entry)
    table = markdown_table(
        ["workload", "tool", "gradient (median)", "hvp (median)", "IQR grad / hvp",
         "hvp / gradient", "check grad / hvp", "transform grad / hvp", "first call grad / hvp"],
        rows)
    return table, summaries, data


# ---------------------------------------------------------------------------------------------
# 2. Jacobians

JAC_MODES = ("forward", "reverse", "auto")


def jacobian_workload(title, f, args, jax_f, jax_args, rtol):
    """f(*args): adjoint's function (array result); jax_f(*jax_args) its jax twin, differentiated
    w.r.t. argument 0 (args[0] and jax_args[0] are the same point)."""
    cases, checks, first, build = {}, {}, {}, {}
    values = {}
    jax = sys.modules.get("jax")
    if jax is not None:
        block = jax.block_until_ready
        ja = [jax.numpy.asarray(a) for a in jax_args]
        for name, transform in (("jax.jit(jax.jacfwd(f))", jax.jacfwd),
                                ("jax.jit(jax.jacrev(f))", jax.jacrev)):
            fn = jax.jit(transform(jax_f))
            values[name], first[name] = _timed(lambda fn=fn: block(fn(*ja)))
            cases[name] = lambda fn=fn: block(fn(*ja))
    for mode in JAC_MODES:
        name = f"adjoint.jacobian(f, mode={mode!r})"
        J, build[name] = _timed(lambda mode=mode: adjoint.jacobian(f, wrt=0, mode=mode))
        values[name], first[name] = _timed(lambda J=J: J(*args))
        cases[name] = lambda J=J: J(*args)
    reference_name = "jax.jit(jax.jacfwd(f))" if jax is not None else \
        "adjoint.jacobian(f, mode='reverse')"
    reference = _numpy(values[reference_name])
    for name, value in values.items():
        checks[name] = _check(value, reference, rtol)
        if not checks[name]["allclose"]:
            print(f"WARNING {title}: {name} differs from {reference_name} "
                  f"({checks[name]['max_diff_over_max_abs']:.2e})", file=sys.stderr)

    # breakdown: what one adjoint.jacobian call runs
    x = np.asarray(args[0], dtype=float)
    value = np.asarray(f(*args), dtype=float)
    tangent, cotangent = adjoint.jvp(f, wrt=0), adjoint.vjp(f, wrt=0)
    e0, u0 = np.zeros(x.shape), np.zeros(value.shape)
    e0[0], u0[0] = 1.0, 1.0
    first["one adjoint.jvp call"] = _timed(lambda: tangent(*args, e0))[1]
    first["one adjoint.vjp call"] = _timed(lambda: cotangent(*args, u0))[1]
    checks["one adjoint.jvp call"] = _check(tangent(*args, e0)[1], reference[:, 0], rtol)
    checks["one adjoint.vjp call"] = _check(cotangent(*args, u0), reference[0], rtol)
    cases["f(*args) in the interpreter"] = lambda: f(*args)
    cases["one adjoint.jvp call"] = lambda: tangent(*args, e0)
    cases["one adjoint.vjp call"] = lambda: cotangent(*args, u0)
    return {"title": title, "cases": cases, "checks": checks, "first": first, "build": build,
            "reference": reference_name, "shape": value.shape + x.shape}


def run_jacobians(workloads, repeats, target, missing):
    rows, data, summaries = [], [], []
    for w in workloads:
        results = compare(w["cases"], repeats=repeats, target_s=target)
        have_jax = "jax.jit(jax.jacfwd(f))" in results
        entry = {"title": w["title"], "shape": list(w["shape"]), "reference": w["reference"],
                 "rows": {}}
        for name in w["cases"]:
            r = dict(results[name])
            r["first_call_s"] = w["first"].get(name)
            r["build_s"] = w["build"].get(name)
            r["check"] = w["checks"].get(name)
            if have_jax:
                r["over_jax_jacfwd"] = paired_ratio(results, name, "jax.jit(jax.jacfwd(f))")
                r["over_jax_jacrev"] = paired_ratio(results, name, "jax.jit(jax.jacrev(f))")
            entry["rows"][name] = r
            rows.append([w["title"], name, fmt_time(r["median_s"]), fmt_time(r["iqr_s"]),
                         fmt_time(r["min_s"]), fmt_ratio(r.get("over_jax_jacfwd")),
                         fmt_ratio(r.get("over_jax_jacrev")), _check_text(r["check"]),
                         fmt_time(r["build_s"]), fmt_time(r["first_call_s"])])
        for peer, why in missing.items():
            rows.append([w["title"], peer, why] + ["-"] * 7)
        rows_ = entry["rows"]
        best = min((n for n in rows_ if n.startswith("adjoint.jacobian")),
                   key=lambda n: rows_[n]["median_s"])
        line = f"{w['title']}: fastest adjoint.jacobian: {best[len('adjoint.jacobian(f, '):-1]}"
        if have_jax:
            line += (f", {rows_[best]['over_jax_jacfwd']:.2f}x jax jacfwd, "
                     f"{rows_[best]['over_jax_jacrev']:.2f}x jax jacrev")
        interp = rows_["f(*args) in the interpreter"]["median_s"]
        line += (f"; the interpreted f(*args) that every adjoint.jacobian call runs for the "
                 f"value's shape is {interp / rows_[best]['median_s']:.0%} of its time.")
        summaries.append(line)
        data.append(entry)
    table = markdown_table(["Jacobian", "variant", "time per call (median)", "IQR", "min",
                            "/ jax jacfwd", "/ jax jacrev", "check", "transform",
                            "first call"], rows)
    return table, summaries, data


# ---------------------------------------------------------------------------------------------
# driver

def main(quick=False):
    repeats, target = (7, 0.01) if quick else (21, 0.02)
    n_rosen = 10**3 if quick else 10**4
    n_rows, n_in, n_hidden = (128, 16, 32) if quick else (512, 64, 128)
    steps = 100 if quick else 1000
    warm_up_numba()
    jax, missing_jax = _jax()
    missing = {"jax": missing_jax} if missing_jax else {}
    rng = np.random.default_rng(7)

    # 1. HVP / gradient
    x = rng.uniform(-1.5, 1.5, size=n_rosen)
    vx = rng.normal(size=n_rosen)
    rosen_forms = [] if jax is None else [
        ("lax.fori_loop", rosenbrock_jax_loop(jax)),
        ("vectorized", rosenbrock_vectorized(jax.numpy))]
    W1 = rng.normal(size=(n_in, n_hidden)) / np.sqrt(n_in)
    b1 = 0.1 * rng.normal(size=n_hidden)
    W2 = rng.normal(size=n_hidden) / np.sqrt(n_hidden)
    b2 = 0.2
    X = rng.normal(size=(n_rows, n_in))
    y = rng.normal(size=n_rows)
    V = rng.normal(size=W1.shape)
    mlp_forms = [] if jax is None else [("jnp", mlp_generic(jax.numpy))]
    hvp_workloads = [] if quick else [   # --quick: the MLP's gradient and hvp compile 15 s
        hvp_workload(f"MLP loss w.r.t. W1 ({n_in}x{n_hidden}); X {n_rows}x{n_in}",
                     mlp_loss, 0, (W1, b1, W2, b2, X, y), V, mlp_forms, 1e-9, missing)]
    hvp_workloads.append(hvp_workload(f"extended Rosenbrock, n = {n_rosen:,}", rosenbrock, 0,
                                      (x,), vx, rosen_forms, 1e-9, missing))
    hvp_table, hvp_notes, hvp_data = run_hvp(hvp_workloads, repeats, target)

    # 2. Jacobians
    state = np.array([1.0, 1.0, 1.05])
    params = np.array([10.0, 28.0, 8.0 / 3.0])
    p = np.concatenate((state, params))
    jac_workloads = []
    jmap = None if jax is None else lorenz_map_jax(jax, steps)
    jac_workloads.append(jacobian_workload(
        f"Lorenz RK4 {steps} steps, 3x3 w.r.t. state", lorenz_map, (state, params, steps),
        jmap, (state, params), 1e-8))
    jfull = None if jax is None else (lambda q: jmap(q[:3], q[3:]))
    if not quick:   # --quick: one Jacobian; each one compiles five adjoint functions
        jac_workloads.append(jacobian_workload(
            f"Lorenz RK4 {steps} steps, 3x6 w.r.t. (state, params)", lorenz_full, (p, steps),
            jfull, (p,), 1e-8))
    jac_table, jac_notes, jac_data = run_jacobians(jac_workloads, repeats, target, missing)

    info = machine_info()
    blas_threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    text = "\n".join([
        "## Higher order: Hessian-vector products and Jacobians",
        "",
        ("Time per call from Python: median over interleaved repeats of all the rows of one "
         "workload (IQR beside it); ratios are medians of per-round ratios. adjoint's rows call "
         "the public functions (argument checks and type dispatch in Python included); the "
         "'compiled dispatchers' rows call the numba code behind them directly. 'transform' is "
         "the construction of adjoint.grad/hvp/jacobian (source transformation), 'first call' "
         "the first call's time (code generation for the argument types and numba compilation; "
         "for jax, tracing and XLA compilation); neither is in the medians. Every result is "
         "checked against jax's with np.allclose (rtol 1e-9 for gradients and HVPs, 1e-8 for "
         "the chaotic Lorenz Jacobians; the figure is max |diff| / max |reference|). jax runs "
         "float64 (jax_enable_x64) on arrays converted beforehand and may use several threads "
         f"(cpu_count {info['cpu_count']}); numba's code runs on one, but its matrix products "
         f"call OpenBLAS (OPENBLAS_NUM_THREADS={blas_threads}; on a loaded machine threaded "
         "BLAS can inflate the MLP rows several times, run with OPENBLAS_NUM_THREADS=1 to "
         f"compare). Load average (1, 5, 15 min) at the end: {info['loadavg_1_5_15_min']}."
         + (" In --quick mode: the Rosenbrock HVP and the 3x3 Jacobian only (the full run "
            "has the MLP HVP and the 3x6 Jacobian)." if quick else "")),
        "",
        "### HVP time / gradient time",
        "",
        ("adjoint.hvp is forward mode over the emitted gradient; jax's is jax.jit of "
         "jax.jvp(jax.grad(f), (x,), (v,)) vs jax.jit(jax.grad(f))."),
        "",
        hvp_table,
        "",
        *[f"- {n}" for n in hvp_notes],
        "",
        "### Jacobians: Lorenz-63 RK4 map",
        "",
        ("adjoint.jacobian runs one jvp per input component (forward) or one vjp per output "
         "component (reverse; 'auto' picks forward only when the input has fewer components "
         "than the output, so reverse here), after one call of f in the interpreter for the "
         "value's shape. The last three rows of each Jacobian time those pieces alone. jax: "
         "the same RK4 loop with jax.lax.fori_loop, jax.jit(jax.jacfwd(f)) and "
         "jax.jit(jax.jacrev(f))."),
        "",
        jac_table,
        "",
        *[f"- {n}" for n in jac_notes],
    ])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "repeats": repeats,
                      "openblas_num_threads": blas_threads,
                      "sizes": {"rosenbrock_n": n_rosen, "mlp": [n_rows, n_in, n_hidden],
                                "lorenz_steps": steps},
                      "hvp": hvp_data, "jacobians": jac_data}, quick=quick)
    return text


if __name__ == "__main__":
    run_script(main)
