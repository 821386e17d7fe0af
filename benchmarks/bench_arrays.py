"""Array objectives: the ADBench GMM objective and a two-layer tanh MLP loss.

For each workload, side by side in one process (interleaved repeats, medians): adjoint's
gradient (numba, cpu) and its primal `numba.njit(f)`, and the peers that are installed, each
with its own primal timed the same way: jax.jit(jax.grad(f)) / jax.jit(f) on a vectorized jnp
version, autograd.grad(f) / f on the vectorized autograd.numpy version (the tests' oracle),
PyTorch (CPU, float64) autograd.grad / a no_grad forward pass. Every gradient is checked against
adjoint's with np.allclose(rtol=1e-8) before timing.

Run: python benchmarks/bench_arrays.py [--quick]     (or: make bench)
"""

from __future__ import annotations

import gc
import json
import os
import subprocess
import sys
import tempfile
import time
import tracemalloc
import types
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
from tests import array_corpus as ac

NAME = "bench_arrays"
RTOL = 1e-8
TOO_SLOW_S = 60.0            # a tool whose one gradient call would take longer is not timed


# ---------------------------------------------------------------------------------------------
# GMM: the ADBench objective. adjoint differentiates tests/array_corpus.gmm_objective_matrix
# (a loop over K writing each component's terms into a row of a (K, n) matrix, element
# assignment into L) and, in a second row, gmm_objective (the terms computed twice, in two
# loops over K); the peers run the same math vectorized over K.

def gmm_primal_numba(objective):
    """numba.njit(objective). numba cannot call the plain Python helper gmm_main_term, so the
    helper is njit-ed too (the objective's code object is rebound to see the compiled one)."""
    def build(_gradient):
        namespace = dict(objective.__globals__)
        namespace["gmm_main_term"] = numba.njit(ac.gmm_main_term)
        return numba.njit(types.FunctionType(objective.__code__, namespace, objective.__name__))
    return build


def adjoint_primal(gradient):
    """The emitted primal, compiled by numba: the function where numba.njit(f) cannot be."""
    return gradient.primal


def _tril_columnwise(d):
    """Row and column indices of the strict lower triangle in icf's order (column by column)."""
    rows, cols = np.tril_indices(d, -1)
    order = np.argsort(cols * d + rows, kind="stable")
    return rows[order], cols[order]


def gmm_jax(jnp):
    def f(alphas, means, icf, x, wishart_gamma, wishart_m):
        n, d = x.shape
        K = alphas.shape[0]
        rows, cols = _tril_columnwise(d)
        Ls = jnp.zeros((K, d, d), dtype=icf.dtype).at[:, rows, cols].set(icf[:, d:])
        logdiag = icf[:, :d]
        q = jnp.exp(logdiag)                                          # (K, d)
        Qs = Ls + q[:, :, None] * jnp.eye(d, dtype=icf.dtype)          # exp diagonal, as adjoint's
        xc = x[:, None, :] - means[None, :, :]                        # (n, K, d)
        Qx = jnp.einsum("kij,nkj->nki", Qs, xc)                       # Q_k (x_i - mu_k)
        main = alphas[None] + jnp.sum(logdiag, axis=1)[None] - 0.5 * jnp.sum(Qx * Qx, axis=2)
        best = jnp.max(main, axis=1)
        lse = best + jnp.log(jnp.sum(jnp.exp(main - best[:, None]), axis=1))
        top = jnp.max(alphas)
        lse_alphas = top + jnp.log(jnp.sum(jnp.exp(alphas - top)))
        prior = jnp.sum(0.5 * wishart_gamma ** 2 * (jnp.sum(q * q, axis=1) +
                                                    jnp.sum(icf[:, d:] ** 2, axis=1))
                        - wishart_m * jnp.sum(logdiag, axis=1))
        return jnp.sum(lse) - n * lse_alphas + prior
    return f


def gmm_torch(torch):
    def f(alphas, means, icf, x, wishart_gamma, wishart_m):
        n, d = x.shape
        K = alphas.shape[0]
        rows, cols = _tril_columnwise(d)
        Ls = torch.zeros((K, d, d), dtype=icf.dtype)
        Ls[:, torch.from_numpy(rows), torch.from_numpy(cols)] = icf[:, d:]
        logdiag = icf[:, :d]
        q = torch.exp(logdiag)
        Qs = Ls + q[:, :, None] * torch.eye(d, dtype=icf.dtype)
        xc = x[:, None, :] - means[None, :, :]
        Qx = torch.einsum("kij,nkj->nki", Qs, xc)
        main = alphas[None] + torch.sum(logdiag, dim=1)[None] - 0.5 * torch.sum(Qx * Qx, dim=2)
        best = torch.max(main, dim=1).values
        lse = best + torch.log(torch.sum(torch.exp(main - best[:, None]), dim=1))
        top = torch.max(alphas)
        lse_alphas = top + torch.log(torch.sum(torch.exp(alphas - top)))
        prior = torch.sum(0.5 * wishart_gamma ** 2 * (torch.sum(q * q, dim=1) +
                                                      torch.sum(icf[:, d:] ** 2, dim=1))
                          - wishart_m * torch.sum(logdiag, dim=1))
        return torch.sum(lse) - n * lse_alphas + prior
    return f


# ---------------------------------------------------------------------------------------------
# MLP: tests/array_corpus.mlp_loss; the peers' versions are the same expression.

def mlp_generic(np_):
    def f(W1, b1, W2, b2, X, y):
        h = np_.tanh(X @ W1 + b1)
        out = h @ W2 + b2
        d = out - y
        return np_.mean(d * d)
    return f


def mlp_torch(torch):
    def f(W1, b1, W2, b2, X, y):
        h = torch.tanh(X @ W1 + b1)
        d = h @ W2 + b2 - y
        return torch.mean(d * d)
    return f


def mlp_data(n, inputs, hidden, outputs, seed=0):
    rng = np.random.default_rng(seed)
    W1 = rng.normal(size=(inputs, hidden)) / np.sqrt(inputs)
    b1 = rng.normal(size=hidden) * 0.1
    W2 = rng.normal(size=(hidden, outputs)) / np.sqrt(hidden)
    b2 = rng.normal(size=outputs) * 0.1
    X = rng.normal(size=(n, inputs))
    y = rng.normal(size=(n, outputs))
    return W1, b1, W2, b2, X, y


# ---------------------------------------------------------------------------------------------
# the workloads: name -> (title, args, wrt, adjoint's function, numba primal, peers' functions)

def workloads(quick):
    # --quick leaves the GMM out: compiling adjoint's GMM gradient alone takes 30-40 s
    gmm_sizes = [] if quick else [(10, 25, 1000), (64, 100, 10**4)]
    out = []
    for d, K, n in gmm_sizes:
        out.append({
            "key": f"gmm_d{d}_K{K}_n{n}",
            "title": f"ADBench GMM objective, d = {d}, K = {K}, n = {n:,}: gradient w.r.t. "
                     "(alphas, means, icf)",
            "args": ac.gmm_data(d, K, n), "wrt": (0, 1, 2), "work": n * K * d * d,
            "fn": ac.gmm_objective_matrix, "numba_primal": adjoint_primal,
            "variants": [(ADJOINT_TWO_PASSES, ac.gmm_objective, gmm_primal_numba(ac.gmm_objective),
                          "two loops over K, each computing every term (array_corpus.gmm_objective)")],
            "jax": gmm_jax, "torch": gmm_torch,
            "autograd": lambda anp: ac.gmm_objective_vectorized,
            "notes": [("`numba.njit(f)` compiles neither GMM form as written: numba cannot "
                       "call the plain Python helper `gmm_main_term` ('Untyped global name'), "
                       "nor take np.max's `axis`. The two-pass row's primal njit-s the helper as "
                       "well; the first row's primal is adjoint's emitted primal (`g.primal`: "
                       "the function's own statements, np.max(main, axis=0) through a loop "
                       "helper), compiled by numba")],
            "forms": {"adjoint": "loop over K writing rows of a (K, n) matrix, element writes "
                                 "into L (array_corpus.gmm_objective_matrix)",
                      "jax": "vectorized over K (n, K, d) jnp, XLA",
                      "autograd": "Python loop over K, autograd.numpy (gmm_objective_vectorized)",
                      "torch": "vectorized over K (n, K, d) torch, float64"},
        })
    n, inputs, hidden, outputs = 1000, 100, 256, 10
    out.append({
        "key": f"mlp_{n}x{inputs}_h{hidden}_o{outputs}",
        "title": f"Two-layer tanh MLP, mean squared error: X {n}x{inputs}, hidden {hidden}, "
                 f"{outputs} outputs; gradient w.r.t. (W1, b1, W2, b2)",
        "args": mlp_data(n, inputs, hidden, outputs), "wrt": (0, 1, 2, 3),
        "work": None, "fn": ac.mlp_loss, "numba_primal": lambda _gradient: numba.njit(ac.mlp_loss),
        "jax": mlp_generic, "torch": mlp_torch, "autograd": mlp_generic,
        "forms": {"adjoint": "array_corpus.mlp_loss: np.tanh, @, np.mean",
                  "jax": "the same expression in jnp, XLA",
                  "autograd": "the same expression in autograd.numpy",
                  "torch": "the same expression in torch, float64"},
    })
    return out


def _to_numpy(value):
    if hasattr(value, "detach"):
        return value.detach().numpy()
    return np.asarray(value)


# ---------------------------------------------------------------------------------------------
# peak memory of one warm call

def _proc_status(key):
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise KeyError(key)


def rss_growth(fn, calls=2):
    """The smallest, over `calls` warm calls, of (peak RSS during the call) - (RSS before it):
    Linux resets the high-water mark VmHWM when 5 is written to /proc/self/clear_refs."""
    best = None
    for _ in range(calls):
        gc.collect()
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
        before = _proc_status("VmRSS")
        fn()
        grown = _proc_status("VmHWM") - before
        best = grown if best is None else min(best, grown)
    return best


def torch_memory_child(key):
    """In a fresh process (run by torch_memory): RSS growth of torch's warm gradient and primal
    calls (the first call at the big size: its tensors dwarf what a first call sets up), as JSON
    on stdout. glibc is told (MALLOC_MMAP_THRESHOLD_) to map every block of
    64 KiB or more on its own, so that freed tensors go back to the system between calls."""
    import torch
    w = next(w for w in workloads(False) if w["key"] == key)
    grad_fn, primal_fn = _torch_calls(torch, w)
    calls = 1
    if not (w["work"] and w["work"] > 10**8):     # the big GMM: its first call, for time
        grad_fn()
        primal_fn()
        calls = 3
    print(json.dumps({"gradient": rss_growth(grad_fn, calls), "primal": rss_growth(primal_fn, calls)}))


def torch_memory(key, timeout=300):
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    try:
        proc = subprocess.run([sys.executable, __file__, "--torch-memory", key], env=env,
                              capture_output=True, text=True, timeout=timeout, check=False)
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except Exception:  # noqa: BLE001 -- memory is a side figure; a failure leaves it out
        return None


def _torch_calls(torch, w):
    f = w["torch"](torch)
    wrt = w["wrt"]
    tensors = [torch.from_numpy(a) if isinstance(a, np.ndarray) else a for a in w["args"]]

    def grad_fn():
        args = [t.detach().requires_grad_(True) if i in wrt else t
                for i, t in enumerate(tensors)]
        loss = f(*args)
        return torch.autograd.grad(loss, [args[i] for i in wrt])

    def primal_fn():
        with torch.no_grad():
            return f(*tensors)
    return grad_fn, primal_fn


# ---------------------------------------------------------------------------------------------
# one workload

ADJOINT = "adjoint"
ADJOINT_TWO_PASSES = "adjoint, two passes"


def traced_call(fn):
    """(fn()'s value, seconds, tracemalloc peak bytes) of one call."""
    gc.collect()
    tracemalloc.start()
    try:
        t0 = time.perf_counter()
        value = fn()
        seconds = time.perf_counter() - t0
        return value, seconds, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def timed_call(fn):
    t0 = time.perf_counter()
    value = fn()
    return value, time.perf_counter() - t0


class Tool:
    """One row: a gradient and a primal callable (no arguments), how to measure memory, and
    whether its first call compiles (then memory is traced on a second, warm call)."""

    def __init__(self, form, grad, primal, memory="tracemalloc", compiles=False):
        self.form, self.grad, self.primal = form, grad, primal
        self.memory_method, self.compiles = memory, compiles
        self.memory = {}
        self.first = {}
        self.value = None


def build_tools(w, peers, compiled):
    """The rows of one workload. compiled: {function: (adjoint.grad object, numba primal)}
    shared by the sizes of one function, so a second size of the same types reuses the code."""
    jax, autograd, torch, missing = peers
    args, wrt = w["args"], w["wrt"]
    tools, notes = {}, []
    fresh = w["fn"] not in compiled
    notes += w.get("notes", [])
    forms = [(ADJOINT, w["fn"], w["numba_primal"], w["forms"]["adjoint"])] + w.get("variants", [])
    for label, fn, build_primal, form in forms:
        if fn not in compiled:
            t0 = time.perf_counter()
            g = adjoint.grad(fn, wrt=wrt)
            seconds = time.perf_counter() - t0
            compiled[fn] = (g, build_primal(g), seconds)  # lazy: compiled at the first call
        g, primal, seconds = compiled[fn]
        tools[label] = Tool(form, lambda g=g: g(*args),
                            (lambda p=primal: p(*args)) if primal else None, compiles=fresh)
        if label == ADJOINT:
            transform_s = seconds
    if not fresh:
        notes.append("adjoint and the numba primal were compiled at the smaller size above "
                     "(same argument types): their first call here runs compiled code")
    if jax is not None:
        jnp = jax.numpy
        f = w["jax"](jnp)
        jargs = [jnp.asarray(a) if isinstance(a, np.ndarray) else a for a in args]
        jitted = {"grad": jax.jit(jax.grad(f, argnums=wrt)), "primal": jax.jit(f)}
        box = {}

        def jax_first(kind):
            # lower and compile explicitly, so that XLA's memory analysis needs no second compile
            def run():
                box[kind] = jitted[kind].lower(*jargs).compile()
                return jax.block_until_ready(box[kind](*jargs))
            return run
        tool = Tool(w["forms"]["jax"], lambda: jax.block_until_ready(box["grad"](*jargs)),
                    lambda: jax.block_until_ready(box["primal"](*jargs)), memory="XLA")
        tool.first_calls = {"grad": jax_first("grad"), "primal": jax_first("primal")}
        tool.box = box
        tools["jax"] = tool
    if autograd is not None:
        f = w["autograd"](autograd.numpy)
        agrad = autograd.grad(f, argnum=wrt)
        tools["autograd"] = Tool(w["forms"]["autograd"], lambda: agrad(*args),
                                 lambda: f(*args))
    if torch is not None:
        grad_fn, primal_fn = _torch_calls(torch, w)
        tools["torch"] = Tool(w["forms"]["torch"], grad_fn, primal_fn, memory="RSS")
    return tools, notes, transform_s, missing


def first_calls(w, tools, notes):
    """Each tool's first gradient and primal call, timed; their values are the ones checked.
    tracemalloc runs on the first call where it compiles nothing, else on a second call."""
    for name, t in tools.items():
        for kind in ("grad", "primal"):
            fn = getattr(t, "first_calls", {}).get(kind) or getattr(t, kind)
            if fn is None:
                t.first[kind] = None
                continue
            try:
                if t.memory_method == "tracemalloc" and not t.compiles:
                    value, seconds, peak = traced_call(fn)
                    t.memory[kind] = peak
                else:
                    value, seconds = timed_call(fn)
                    if t.memory_method == "tracemalloc":
                        t.memory[kind] = traced_call(fn)[2]
            except Exception as exc:
                if not (name == ADJOINT and kind == "primal"):
                    raise
                # numba.njit(f) does not compile: the row goes on without a primal
                notes.append("numba could not compile the primal `numba.njit(f)`: "
                             f"{type(exc).__name__}: {str(exc).strip().splitlines()[0]}")
                t.primal, t.first[kind] = None, None
                continue
            t.first[kind] = seconds
            if kind == "grad":
                t.value = [_to_numpy(v) for v in value]
            else:
                t.primal_value = float(_to_numpy(value))
        if t.memory_method == "XLA":
            t.memory = {kind: _xla_bytes(t.box[kind]) for kind in ("grad", "primal")}
        elif t.memory_method == "RSS":
            got = torch_memory(w["key"])
            t.memory = {"grad": got["gradient"], "primal": got["primal"]} if got else {}


def _xla_bytes(compiled):
    """What XLA allocates for one call of a compiled function: temporaries and outputs."""
    stats = compiled.memory_analysis()
    return stats.temp_size_in_bytes + stats.output_size_in_bytes


def run_workload(w, peers, compiled, repeats, target, number):
    tools, notes, transform_s, missing = build_tools(w, peers, compiled)
    first_calls(w, tools, notes)

    # correctness: every gradient against adjoint's (from the first calls, before any timing)
    reference = tools[ADJOINT].value
    value = tools[ADJOINT].primal_value if tools[ADJOINT].primal else float(w["fn"](*w["args"]))
    check = {}
    for name, t in tools.items():
        if name == ADJOINT:
            continue
        rel = max(float(np.max(np.abs(a - b) / np.maximum(np.abs(b), 1e-300)))
                  for a, b in zip(t.value, reference))
        ok = all(np.allclose(a, b, rtol=RTOL, atol=0.0) for a, b in zip(t.value, reference))
        check[name] = {"allclose_to_adjoint": ok, "max_rel_diff": rel,
                       "primal_rel_diff": abs(t.primal_value - value) / abs(value)}
        if not ok:
            notes.append(f"{name}: gradient differs from adjoint's (max rel diff {rel:.2e})")

    # a tool whose gradient takes more than TOO_SLOW_S is not timed
    skipped = {name for name, t in tools.items()
               if t.first["grad"] > TOO_SLOW_S and not (name in ("jax", ADJOINT) or t.compiles)}
    for name in skipped:
        notes.append(f"{name}: one gradient call takes {fmt_time(tools[name].first['grad'])} "
                     f"(> {TOO_SLOW_S:.0f} s): not timed")

    # timing: gradients and primals of every tool, interleaved rounds
    cases = {}
    for name, t in tools.items():
        if name in skipped:
            continue
        cases[f"{name} gradient"] = t.grad
        if t.primal is not None:
            cases[f"{name} primal"] = t.primal
    results = compare(cases, repeats=repeats, target_s=target, warmup=0, number=number)

    rows, data = [], {}
    for name, t in tools.items():
        mem = t.memory
        if name in skipped:
            rows.append([name, t.form] + ["-"] * 6 + [fmt_time(t.first["grad"]),
                        fmt_time(t.first["primal"]), fmt_bytes(mem.get("grad")),
                        fmt_bytes(mem.get("primal")), "-"])
            data[name] = {"skipped": True, "first_gradient_s": t.first["grad"],
                          "first_primal_s": t.first["primal"], **check.get(name, {})}
            continue
        gs = results[f"{name} gradient"]
        ps = results.get(f"{name} primal")
        over_primal = paired_ratio(results, f"{name} gradient", f"{name} primal") if ps else None
        over_adjoint = paired_ratio(results, f"{name} gradient", f"{ADJOINT} gradient")
        mark = "" if name not in check or check[name]["allclose_to_adjoint"] else " (differs)"
        rows.append([name + mark, t.form, fmt_time(gs["median_s"]),
                     fmt_time(gs["iqr_s"]) if gs["repeats"] >= 3 else "-", fmt_cores(gs),
                     fmt_time(ps["median_s"]) if ps else "-", fmt_ratio(over_primal),
                     fmt_ratio(over_adjoint), fmt_time(t.first["grad"]),
                     fmt_time(t.first["primal"]), fmt_bytes(mem.get("grad")),
                     fmt_bytes(mem.get("primal")), f"{gs['repeats']} x {gs['number']}"])
        data[name] = {"gradient": gs, "primal": ps, "gradient_over_primal": over_primal,
                      "gradient_over_adjoint": over_adjoint, "first_gradient_s": t.first["grad"],
                      "first_primal_s": t.first["primal"], "form": t.form,
                      "memory_bytes": mem, "memory_method": t.memory_method,
                      **check.get(name, {})}
    for peer, why in missing.items():
        rows.append([peer, why] + ["-"] * 11)
    table = markdown_table(["tool", "form", "gradient (median)", "IQR", "cores busy", "primal (median)",
                            "gradient / primal", "gradient / adjoint's", "first call gradient",
                            "first call primal", "peak memory gradient", "peak memory primal",
                            "repeats x calls"], rows)
    checks = ", ".join(f"{name} {c['max_rel_diff']:.1e}" for name, c in check.items())
    summary = (f"adjoint.grad(f) itself: {fmt_time(transform_s)} (the code is generated for the "
               "arguments' types at the first call, whose time includes it and numba's "
               "compilation). Largest relative difference of the peers' gradients from "
               f"adjoint's: {checks}.")
    text = "\n".join([f"### {w['title']}", "", table, "", summary] +
                     ([""] + [f"Note: {n}." for n in notes] if notes else []))
    return text, {"title": w["title"], "key": w["key"], "tools": data, "notes": notes,
                  "transform_s": transform_s}


def fmt_bytes(n):
    if n is None:
        return "-"
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n} B"


# Every tool on one thread: the matrix products of numba's code and of numpy call OpenBLAS, XLA
# and torch have their own pools; on a small shared machine those pools cost more than they
# give (torch's MLP gradient measured 13x slower with 2 threads than with 1 on a loaded 2-core
# machine), and adjoint's generated code is serial. ADJOINT_BENCH_THREADS=default keeps them.
ONE_THREAD = {"OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
              "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}


QUICK_NOTE = (" In --quick mode the ADBench GMM workloads are left out (compiling adjoint's "
              "GMM gradient takes 30-40 s); the full run has them.")


def main(quick=False):
    """Runs the measurement in a child process whose thread pools are set to one thread
    (environment variables read when numpy, jax and torch load), and returns its text."""
    if os.environ.get("ADJOINT_BENCH_THREADS") == "default":
        return measure(quick)
    env = dict(os.environ, **ONE_THREAD, ADJOINT_BENCH_THREADS="one")
    if os.environ.get("XLA_FLAGS"):
        env["XLA_FLAGS"] = os.environ["XLA_FLAGS"] + " " + ONE_THREAD["XLA_FLAGS"]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "text.md"
        proc = subprocess.run([sys.executable, __file__, "--child", str(out)] +
                              (["--quick"] if quick else []), env=env, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"bench_arrays: the measuring process failed (exit {proc.returncode})")
        return out.read_text()


def measure(quick=False):
    repeats, target = (5, 0.05) if quick else (11, 0.1)
    warm_up_numba()
    peers = load_peers()
    texts, data = [], []
    compiled = {}
    for w in workloads(quick):
        big = w["work"] is not None and w["work"] > 10**8
        # calls of seconds (the big GMM): two timed calls per tool, after the first call
        text, d = run_workload(w, peers, compiled, repeats=2 if big else repeats,
                               target=target, number=1 if big else None)
        texts.append(text)
        data.append(d)
    info = machine_info()
    if os.environ.get("ADJOINT_BENCH_THREADS") == "one":
        threads = ("every tool runs on one core, as adjoint's serial code does: the measuring "
                   "process is pinned to one CPU (sched_setaffinity), and the thread pools are "
                   "set to one thread (OPENBLAS_NUM_THREADS=1 for the matrix products of numpy "
                   "and of numba's code, OMP_NUM_THREADS=1 for torch, "
                   "XLA_FLAGS=--xla_cpu_multi_thread_eigen=false for jax, whose CPU client "
                   "still ran a second thread without the pinning); 'cores busy' is the "
                   "process's CPU time over the wall time of the timed gradient calls. On this "
                   "small shared machine the libraries' thread pools cost more than they gave; "
                   "ADJOINT_BENCH_THREADS=default runs them unpinned with their default pools "
                   f"(cpu_count {info['cpu_count']})")
    else:
        threads = ("each library with its default thread pool (numba's code is serial but calls "
                   f"BLAS for matrix products; cpu_count {info['cpu_count']}, torch threads "
                   f"{info.get('torch_threads', '-')})")
    header = "\n".join([
        "## Arrays: ADBench GMM objective and a tanh MLP",
        "",
        ("Time per gradient call from Python and time per primal call, each tool's own primal "
         "timed the same way (adjoint: `numba.njit(f)`; jax: `jax.jit(f)`; autograd: the "
         "vectorized function on numpy arrays; torch: the forward pass under `torch.no_grad()`): "
         "medians of interleaved repeats (all rows of a table in the same rounds), IQR over the "
         "repeats; 'gradient / primal' and 'gradient / adjoint's' are medians of per-round "
         "ratios. 'first call' is the first call's time (adjoint: code generation for the "
         "arguments' types and numba compilation; jax: tracing and XLA compilation; autograd and "
         "torch: a plain first run). Gradients checked against adjoint's with "
         f"np.allclose(rtol={RTOL:g}, atol=0) before timing. All float64 (jax with "
         "jax_enable_x64), arrays converted beforehand (jnp.asarray, torch.from_numpy). "
         f"Threads: {threads}. Peak memory of one warm call: *tracemalloc* peak for adjoint, the numba primal and "
         "autograd (numpy's and numba's NRT arrays report to it); for jax, XLA's buffer "
         "assignment of the compiled call (temporaries + outputs); for torch, the growth of the "
         "resident set during the call, in a fresh process where glibc maps every block of "
         "64 KiB or more on its own (minimum over warm calls). A tool whose gradient call takes more than "
         f"{TOO_SLOW_S:.0f} s is not timed at that size."
         + (QUICK_NOTE if quick else "")),
    ])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "repeats": repeats,
                      "workloads": data}, quick=quick)
    return "\n\n".join([header] + texts)


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--torch-memory":
        torch_memory_child(sys.argv[2])
        raise SystemExit(0)
    if len(sys.argv) > 2 and sys.argv[1] == "--child":
        # one core for every thread of the process: XLA's CPU client keeps a second thread
        # busy even with its flags above (measured: 1.9 cores for jax's Rosenbrock gradient)
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        Path(sys.argv[2]).write_text(measure(quick="--quick" in sys.argv[3:]))
        raise SystemExit(0)
    run_script(main)
