"""Loops: extended Rosenbrock (a plain Python loop) and Lorenz-63 RK4 integration.

For each workload, side by side in one process (interleaved repeats, medians):
  numba primal, adjoint's gradient (default and fastmath), a hand-written numba adjoint
  (checked against adjoint's gradient before timing), and the peers that are installed:
  jax.jit(jax.grad(f)), autograd.grad(f), PyTorch (CPU) backward. Every gradient is called
  from Python once per timed call, so each row includes one Python -> compiled call.

Run: python benchmarks/bench_loops.py [--quick]     (or: make bench)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numba
import numpy as np
from common import (
    compare,
    first_call,
    fmt_cores,
    fmt_ratio,
    fmt_time,
    load_peers,
    load_warp,
    machine_info,
    markdown_table,
    paired_ratio,
    run_script,
    warm_up_numba,
    write_json,
)

import adjoint
from examples.rosenbrock import rosenbrock

NAME = "bench_loops"


# ---------------------------------------------------------------------------------------------
# extended Rosenbrock

def rosenbrock_grad_hand(x):
    """Hand-written adjoint: d/dx_i of 100 (x_{i+1} - x_i^2)^2 + (1 - x_i)^2."""
    n = x.shape[0]
    g = np.zeros(n)
    for i in range(n - 1):
        xi = x[i]
        d = x[i + 1] - xi * xi
        g[i] += -400.0 * xi * d - 2.0 * (1.0 - xi)
        g[i + 1] += 200.0 * d
    return g


def rosenbrock_vectorized(np_):
    """The natural array form, for autograd (np_ = autograd.numpy) and jax (np_ = jax.numpy)."""
    def f(x):
        return np_.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    return f


def rosenbrock_jax_loop(jax):
    def f(x):
        def body(i, s):
            return s + 100.0 * (x[i + 1] - x[i] * x[i]) ** 2 + (1.0 - x[i]) ** 2
        return jax.lax.fori_loop(0, x.shape[0] - 1, body, 0.0)
    return f


def rosenbrock_torch(torch):
    def grad(x_np):
        x = torch.from_numpy(x_np).requires_grad_(True)
        s = torch.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
        s.backward()
        return x.grad
    return grad


# ---------------------------------------------------------------------------------------------
# Lorenz-63, explicit RK4: p[0:3] initial state (x, y, z), p[3:6] parameters (sigma, rho, beta)

STEPS = 1000
DT = 0.01
P0 = np.array([1.0, 1.0, 1.0, 10.0, 28.0, 8.0 / 3.0])


def lorenz(p):
    x = p[0]
    y = p[1]
    z = p[2]
    sigma = p[3]
    rho = p[4]
    beta = p[5]
    dt = 0.01
    for step in range(1000):
        k1x = sigma * (y - x)
        k1y = x * (rho - z) - y
        k1z = x * y - beta * z
        x2 = x + 0.5 * dt * k1x
        y2 = y + 0.5 * dt * k1y
        z2 = z + 0.5 * dt * k1z
        k2x = sigma * (y2 - x2)
        k2y = x2 * (rho - z2) - y2
        k2z = x2 * y2 - beta * z2
        x3 = x + 0.5 * dt * k2x
        y3 = y + 0.5 * dt * k2y
        z3 = z + 0.5 * dt * k2z
        k3x = sigma * (y3 - x3)
        k3y = x3 * (rho - z3) - y3
        k3z = x3 * y3 - beta * z3
        x4 = x + dt * k3x
        y4 = y + dt * k3y
        z4 = z + dt * k3z
        k4x = sigma * (y4 - x4)
        k4y = x4 * (rho - z4) - y4
        k4z = x4 * y4 - beta * z4
        x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        z = z + dt / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
    return x + y + z


def lorenz_grad_hand(p):
    """Hand-written adjoint of `lorenz`: store the state at the start of every step, then sweep
    the steps backwards, recomputing each step's stages from its stored state.

    With F(u) = (sigma (y - x), x (rho - z) - y, x y - beta z), the transposed Jacobian applied to
    w = (wx, wy, wz) at u = (x, y, z) is
        u_bar = (-sigma wx + (rho - z) wy + y wz,  sigma wx - wy + x wz,  -x wy - beta wz)
    and the parameter adjoints gain sigma += (y - x) wx, rho += x wy, beta += -z wz.
    """
    sigma = p[3]
    rho = p[4]
    beta = p[5]
    dt = 0.01
    n = 1000
    tx = np.empty(n)
    ty = np.empty(n)
    tz = np.empty(n)
    x = p[0]
    y = p[1]
    z = p[2]
    h2 = 0.5 * dt
    h6 = dt / 6.0
    for step in range(n):
        tx[step] = x
        ty[step] = y
        tz[step] = z
        k1x = sigma * (y - x)
        k1y = x * (rho - z) - y
        k1z = x * y - beta * z
        x2 = x + h2 * k1x
        y2 = y + h2 * k1y
        z2 = z + h2 * k1z
        k2x = sigma * (y2 - x2)
        k2y = x2 * (rho - z2) - y2
        k2z = x2 * y2 - beta * z2
        x3 = x + h2 * k2x
        y3 = y + h2 * k2y
        z3 = z + h2 * k2z
        k3x = sigma * (y3 - x3)
        k3y = x3 * (rho - z3) - y3
        k3z = x3 * y3 - beta * z3
        x4 = x + dt * k3x
        y4 = y + dt * k3y
        z4 = z + dt * k3z
        k4x = sigma * (y4 - x4)
        k4y = x4 * (rho - z4) - y4
        k4z = x4 * y4 - beta * z4
        x = x + h6 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + h6 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        z = z + h6 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
    # adjoint of the loss x + y + z
    ax = 1.0
    ay = 1.0
    az = 1.0
    a_sigma = 0.0
    a_rho = 0.0
    a_beta = 0.0
    for step in range(n - 1, -1, -1):
        x = tx[step]
        y = ty[step]
        z = tz[step]
        # recompute the stages
        k1x = sigma * (y - x)
        k1y = x * (rho - z) - y
        k1z = x * y - beta * z
        x2 = x + h2 * k1x
        y2 = y + h2 * k1y
        z2 = z + h2 * k1z
        k2x = sigma * (y2 - x2)
        k2y = x2 * (rho - z2) - y2
        k2z = x2 * y2 - beta * z2
        x3 = x + h2 * k2x
        y3 = y + h2 * k2y
        z3 = z + h2 * k2z
        k3x = sigma * (y3 - x3)
        k3y = x3 * (rho - z3) - y3
        k3z = x3 * y3 - beta * z3
        x4 = x + dt * k3x
        y4 = y + dt * k3y
        z4 = z + dt * k3z
        # u_new = u + h6 (k1 + 2 k2 + 2 k3 + k4)
        bx = ax
        by = ay
        bz = az
        # k4 = F(u4), its adjoint h6 * a
        wx = h6 * ax
        wy = h6 * ay
        wz = h6 * az
        a_sigma += (y4 - x4) * wx
        a_rho += x4 * wy
        a_beta -= z4 * wz
        u4x = -sigma * wx + (rho - z4) * wy + y4 * wz
        u4y = sigma * wx - wy + x4 * wz
        u4z = -x4 * wy - beta * wz
        # u4 = u + dt k3
        bx += u4x
        by += u4y
        bz += u4z
        # k3 = F(u3), its adjoint 2 h6 a + dt u4_bar
        wx = 2.0 * h6 * ax + dt * u4x
        wy = 2.0 * h6 * ay + dt * u4y
        wz = 2.0 * h6 * az + dt * u4z
        a_sigma += (y3 - x3) * wx
        a_rho += x3 * wy
        a_beta -= z3 * wz
        u3x = -sigma * wx + (rho - z3) * wy + y3 * wz
        u3y = sigma * wx - wy + x3 * wz
        u3z = -x3 * wy - beta * wz
        # u3 = u + h2 k2
        bx += u3x
        by += u3y
        bz += u3z
        # k2 = F(u2), its adjoint 2 h6 a + h2 u3_bar
        wx = 2.0 * h6 * ax + h2 * u3x
        wy = 2.0 * h6 * ay + h2 * u3y
        wz = 2.0 * h6 * az + h2 * u3z
        a_sigma += (y2 - x2) * wx
        a_rho += x2 * wy
        a_beta -= z2 * wz
        u2x = -sigma * wx + (rho - z2) * wy + y2 * wz
        u2y = sigma * wx - wy + x2 * wz
        u2z = -x2 * wy - beta * wz
        # u2 = u + h2 k1
        bx += u2x
        by += u2y
        bz += u2z
        # k1 = F(u), its adjoint h6 a + h2 u2_bar
        wx = h6 * ax + h2 * u2x
        wy = h6 * ay + h2 * u2y
        wz = h6 * az + h2 * u2z
        a_sigma += (y - x) * wx
        a_rho += x * wy
        a_beta -= z * wz
        bx += -sigma * wx + (rho - z) * wy + y * wz
        by += sigma * wx - wy + x * wz
        bz += -x * wy - beta * wz
        ax = bx
        ay = by
        az = bz
    g = np.empty(6)
    g[0] = ax
    g[1] = ay
    g[2] = az
    g[3] = a_sigma
    g[4] = a_rho
    g[5] = a_beta
    return g


def lorenz_jax(jax):
    """The same RK4 loop through jax.lax.fori_loop (scalar carry (x, y, z))."""
    def f(p):
        sigma = p[3]
        rho = p[4]
        beta = p[5]
        dt = 0.01

        def body(i, u):
            x, y, z = u
            k1x = sigma * (y - x)
            k1y = x * (rho - z) - y
            k1z = x * y - beta * z
            x2 = x + 0.5 * dt * k1x
            y2 = y + 0.5 * dt * k1y
            z2 = z + 0.5 * dt * k1z
            k2x = sigma * (y2 - x2)
            k2y = x2 * (rho - z2) - y2
            k2z = x2 * y2 - beta * z2
            x3 = x + 0.5 * dt * k2x
            y3 = y + 0.5 * dt * k2y
            z3 = z + 0.5 * dt * k2z
            k3x = sigma * (y3 - x3)
            k3y = x3 * (rho - z3) - y3
            k3z = x3 * y3 - beta * z3
            x4 = x + dt * k3x
            y4 = y + dt * k3y
            z4 = z + dt * k3z
            k4x = sigma * (y4 - x4)
            k4y = x4 * (rho - z4) - y4
            k4z = x4 * y4 - beta * z4
            return (x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
                    y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y),
                    z + dt / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z))

        x, y, z = jax.lax.fori_loop(0, 1000, body, (p[0], p[1], p[2]))
        return x + y + z
    return f


def lorenz_torch(torch):
    def grad(p_np):
        p = torch.from_numpy(p_np).requires_grad_(True)
        loss = lorenz(p)                      # the same scalar loop, on 0-d tensors
        loss.backward()
        return p.grad
    return grad


# ---------------------------------------------------------------------------------------------
# driver


class Workload:
    """The rows of one table: name -> (form, callable returning a gradient as numpy-able)."""

    def __init__(self, title, arg):
        self.title = title
        self.arg = arg
        self.cases = {}          # name -> (form, fn, kind) ; kind in primal/gradient
        self.first_call_s = {}
        self.notes = []

    def add(self, name, form, fn, kind="gradient", block=None, arg=None):
        """arg: the argument in the peer's own array type (default: the numpy array)."""
        arg = self.arg if arg is None else arg
        call = (lambda: block(fn(arg))) if block else (lambda: fn(arg))
        self.first_call_s[name] = first_call(call)
        self.cases[name] = (form, call, kind, lambda: fn(arg))


def build_rosenbrock(n, peers, rtol, parallel=True, warp=(None, None)):
    """parallel: also the gradient with jit_options={"parallel": True} (not on one core).
    warp: load_warp()'s (module, why it is missing)."""
    jax, autograd, torch, missing = peers
    missing = dict(missing)
    rng = np.random.default_rng(1)
    x = rng.uniform(-1.5, 1.5, size=n)
    w = Workload(f"Extended Rosenbrock, n = {n:,}", x)
    t0 = time.perf_counter()
    g = adjoint.grad(rosenbrock)
    transform_s = time.perf_counter() - t0
    g_fast = adjoint.grad(rosenbrock, jit_options={"fastmath": True})
    hand = numba.njit(rosenbrock_grad_hand)
    hand_fast = numba.njit(fastmath=True)(rosenbrock_grad_hand)

    w.add("primal: numba.njit(f)", "Python loop, numba", numba.njit(rosenbrock), kind="primal")
    w.add("primal: adjoint .primal", "Python loop, numba", g.primal, kind="primal")
    w.add("adjoint .adjoint", "Python loop, numba", g.adjoint)
    w.add("adjoint .adjoint, fastmath", "Python loop, numba fastmath", g_fast.adjoint)
    if parallel:
        g_parallel = adjoint.grad(rosenbrock, jit_options={"parallel": True})
        w.add(ADJOINT_PARALLEL, "Python loop, numba parallel: prange over chunks (all cores)",
              g_parallel.adjoint)
    w.add("hand-written adjoint", "loop, numba", hand)
    w.add("hand-written adjoint, fastmath", "loop, numba fastmath", hand_fast)
    if jax is not None:
        xj = jax.numpy.asarray(x)
        block = jax.block_until_ready
        w.add("jax.jit(jax.grad(f)), lax.fori_loop", "loop (lax.fori_loop), XLA",
              jax.jit(jax.grad(rosenbrock_jax_loop(jax))), block=block, arg=xj)
        w.add("jax.jit(jax.grad(f)), vectorized", "vectorized jnp, XLA",
              jax.jit(jax.grad(rosenbrock_vectorized(jax.numpy))), block=block, arg=xj)
    if autograd is not None:
        w.add("autograd.grad(f), vectorized", "vectorized autograd.numpy",
              autograd.grad(rosenbrock_vectorized(autograd.numpy)))
    if torch is not None:
        w.add("torch backward, vectorized", "vectorized torch, float64", rosenbrock_torch(torch))
    add_warp(w, warp, missing, [
        ("warp, wp.Tape, one thread per term", "one Warp thread per term, wp.atomic_add into "
         "the sum, cpu device", "rosenbrock_terms_grad", (x,)),
        ("warp, wp.Tape, one thread with the loop", "one Warp thread running the loop (dynamic "
         "range, running sum in a local), cpu device", "rosenbrock_loop_grad", (x,))])
    w.primal_fn = numba.njit(rosenbrock)
    w.transform_s = transform_s
    w.missing = missing
    w.rtol = rtol
    return w


def build_lorenz(peers, rtol, quick=False, warp=(None, None)):
    jax, autograd, torch, missing = peers
    missing = dict(missing)
    if quick and autograd is not None:
        # seconds per call (a Python loop of 1000 steps on boxed scalars): the full run times it
        autograd = None
        missing["autograd"] = "not run in --quick mode (about 5 s per call; see the full run)"
    if quick and torch is not None:
        torch = None
        missing["torch"] = "not run in --quick mode (about 1 s per call; see the full run)"
    w = Workload(f"Lorenz-63, explicit RK4, {STEPS} steps, dt = {DT}: "
                 "gradient of x + y + z at the end w.r.t. (x0, y0, z0, sigma, rho, beta)", P0.copy())
    t0 = time.perf_counter()
    g = adjoint.grad(lorenz)
    transform_s = time.perf_counter() - t0
    g_fast = adjoint.grad(lorenz, jit_options={"fastmath": True})
    hand = numba.njit(lorenz_grad_hand)
    hand_fast = numba.njit(fastmath=True)(lorenz_grad_hand)
    w.add("primal: numba.njit(f)", "scalar loop, numba", numba.njit(lorenz), kind="primal")
    w.add("primal: adjoint .primal", "scalar loop, numba", g.primal, kind="primal")
    w.add("adjoint .adjoint", "scalar loop, numba", g.adjoint)
    w.add("adjoint .adjoint, fastmath", "scalar loop, numba fastmath", g_fast.adjoint)
    w.add("hand-written adjoint", "scalar loop, numba", hand)
    w.add("hand-written adjoint, fastmath", "scalar loop, numba fastmath", hand_fast)
    if jax is not None:
        w.add("jax.jit(jax.grad(f)), lax.fori_loop", "scalar loop (lax.fori_loop), XLA",
              jax.jit(jax.grad(lorenz_jax(jax))), block=jax.block_until_ready,
              arg=jax.numpy.asarray(w.arg))
    if autograd is not None:
        w.add("autograd.grad(f)", "the same scalar Python loop", autograd.grad(lorenz))
    if torch is not None:
        w.add("torch backward", "the same scalar Python loop on 0-d tensors",
              lorenz_torch(torch))
    add_warp(w, warp, missing, [
        ("warp, wp.Tape, one thread with the loop", "one Warp thread running the RK4 loop, "
         "the state (x, y, z) in locals updated each step, cpu device", "lorenz_loop_grad",
         (w.arg, STEPS)),
        ("warp, wp.Tape, one thread with the loop, state stored per step", "one Warp thread "
         "running the RK4 loop, each step's state written to a row of a (steps + 1, 3) array, "
         "cpu device", "lorenz_loop_stored_grad", (w.arg, STEPS))])
    w.primal_fn = numba.njit(lorenz)
    w.transform_s = transform_s
    w.missing = missing
    w.rtol = rtol
    return w


PRIMAL, ADJOINT, HAND = "primal: numba.njit(f)", "adjoint .adjoint", "hand-written adjoint"
ADJOINT_PARALLEL = "adjoint .adjoint, parallel"


def _is_peer(name):
    return name.startswith(("jax", "autograd", "torch", "warp"))


def add_warp(w, warp, missing, rows):
    """Warp's rows: (name, form, driver in warp_kernels, its arguments); each driver returns
    the zero-argument callable that computes the gradient (the kernel compiles at its first
    call, the first call's time)."""
    module, why = warp
    if module is None:
        if why:
            missing["warp"] = why
        return
    import warp_kernels
    for name, form, driver, args in rows:
        run = getattr(warp_kernels, driver)(*args)
        w.add(name, form, lambda _arg, run=run: run())


FD_TOLERANCE = 1e-5
FD_MAX_SIZE = 10**5          # larger arguments: the finite differences of a long sum are noise


def finite_differences(w, coordinates):
    """d primal / d arg[k] at the given coordinates: the five-point central stencil (exact for
    polynomials of degree 4, Rosenbrock's terms), step 1e-3 relative."""
    x = np.array(w.arg, dtype=float)
    out = {}
    for k in coordinates:
        h = 1e-3 * max(1.0, abs(x[k]))
        values = []
        for step in (-2, -1, 1, 2):
            y = x.copy()
            y[k] += step * h
            values.append(w.primal_fn(y))
        out[k] = (values[0] - 8 * values[1] + 8 * values[2] - values[3]) / (12 * h)
    return out


def fd_error(value, fd):
    """The largest |value[k] - fd[k]| / max(|fd[k]|, 1) over the coordinates."""
    return max(abs(value[k] - d) / max(abs(d), 1.0) for k, d in fd.items())


def run_workload(w, repeats, target, peer_repeats):
    # correctness first: every gradient against adjoint's; the hand-written ones must agree
    reference = np.asarray(w.cases[ADJOINT][3]())
    size = reference.shape[0]
    coordinates = sorted({0, 1, size // 3, size // 2, size - 2, size - 1} & set(range(size)))
    fd = finite_differences(w, coordinates) if size <= FD_MAX_SIZE else None
    adjoint_fd = fd_error(reference, fd) if fd else None
    check = {}
    for name, (form, call, kind, fn) in w.cases.items():
        value = fn()
        value = value.detach().numpy() if hasattr(value, "detach") else np.asarray(value)
        if kind == "primal":
            continue
        ok = bool(np.allclose(value, reference, rtol=w.rtol, atol=0.0))
        error = fd_error(value, fd) if fd else None
        check[name] = {"allclose_to_adjoint": ok,
                       "max_rel_diff": float(np.max(np.abs(value - reference) /
                                                    np.maximum(np.abs(reference), 1e-300))),
                       "fd_error": error, "fd_coordinates": coordinates,
                       # wrong: far from the finite differences, which adjoint's gradient meets
                       "wrong": bool(fd and not ok and error > FD_TOLERANCE and
                                     adjoint_fd <= FD_TOLERANCE)}
        if name.startswith("hand-written") and not ok:
            raise AssertionError(f"{w.title}: {name} differs from adjoint's gradient "
                                 f"(max rel diff {check[name]['max_rel_diff']:.3g})")
    primal_values = [float(fn()) for (_, _, kind, fn) in w.cases.values() if kind == "primal"]
    assert np.allclose(primal_values, primal_values[0], rtol=1e-12)

    # group A: the numba rows, many short interleaved rounds
    numba_cases = {name: c[1] for name, c in w.cases.items() if not _is_peer(name)}
    results = compare(numba_cases, repeats=repeats, target_s=target)
    ratios = {name: {"over_primal": paired_ratio(results, name, PRIMAL),
                     "over_hand_written": paired_ratio(results, name, HAND),
                     "over_adjoint": paired_ratio(results, name, ADJOINT)} for name in results}
    # group B: the peers, with the primal, adjoint and hand-written rows as anchors in each round
    peer_cases = {name: c[1] for name, c in w.cases.items() if _is_peer(name)}
    if peer_cases:
        anchors = {f"anchor {n}": w.cases[n][1] for n in (PRIMAL, ADJOINT, HAND)}
        peers = compare({**peer_cases, **anchors}, repeats=peer_repeats, target_s=target)
        for name in peer_cases:
            results[name] = peers[name]
            ratios[name] = {"over_primal": paired_ratio(peers, name, f"anchor {PRIMAL}"),
                            "over_hand_written": paired_ratio(peers, name, f"anchor {HAND}"),
                            "over_adjoint": paired_ratio(peers, name, f"anchor {ADJOINT}")}
    rows = []
    for name in w.cases:
        s = results[name]
        s.update(ratios[name])
        s["form"] = w.cases[name][0]
        s["first_call_s"] = w.first_call_s[name]
        if name in check:
            s.update(check[name])
        ok = "" if name not in check or check[name]["allclose_to_adjoint"] else \
            f" (differs: {check[name]['max_rel_diff']:.1e})"
        if check.get(name, {}).get("wrong"):
            ok = f" (WRONG gradient: differs from adjoint's by {check[name]['max_rel_diff']:.1e})"
        fd = check.get(name, {}).get("fd_error")
        fd = "-" if fd is None else f"{fd:.1e}"
        rows.append([name + ok, s["form"], fmt_time(s["median_s"]), fmt_time(s["iqr_s"]),
                     fmt_time(s["min_s"]), fmt_cores(s), s["repeats"], fmt_ratio(s["over_primal"]),
                     fmt_ratio(s["over_hand_written"]), fmt_ratio(s["over_adjoint"]),
                     fmt_time(s["first_call_s"]), fd])
    for peer, why in w.missing.items():
        rows.append([peer, why] + ["-"] * 10)
    table = markdown_table(["variant", "form", "time per call (median)", "IQR", "min", "cores busy", "repeats",
                            "/ primal", "/ hand-written", "/ adjoint", "first call (compile)",
                            "vs finite differences"], rows)
    fast_over_hand_fast = paired_ratio(results, "adjoint .adjoint, fastmath",
                                       "hand-written adjoint, fastmath")
    summary = (f"adjoint: gradient/primal = {ratios[ADJOINT]['over_primal']:.2f}x, "
               f"adjoint/hand-written = {ratios[ADJOINT]['over_hand_written']:.2f}x; "
               f"with fastmath on both: adjoint/hand-written = {fast_over_hand_fast:.2f}x. "
               f"adjoint.grad source transformation: {fmt_time(w.transform_s)}.")
    if ADJOINT_PARALLEL in ratios:
        summary += (f" With jit_options parallel (numba threads {numba.get_num_threads()}): "
                    f"gradient/primal = {ratios[ADJOINT_PARALLEL]['over_primal']:.2f}x, "
                    f"parallel/serial adjoint = {ratios[ADJOINT_PARALLEL]['over_adjoint']:.2f}x.")
    text = "\n".join([f"### {w.title}", "", table, "", summary])
    return text, {"title": w.title, "rows": results, "transform_s": w.transform_s,
                  "adjoint_fastmath_over_hand_written_fastmath": fast_over_hand_fast,
                  "missing": w.missing}


def tape_bytes(fn, args):
    """(bytes, arrays) the gradient's tapes take at these arguments: the generated module run
    by the interpreter with numpy's `empty` counted (it allocates only the tapes here)."""
    import types
    source = adjoint.grad(fn, target="python").source_for(*args)
    sizes = []

    def counting_empty(shape, dtype=float):
        array = np.empty(shape, dtype)
        sizes.append(array.nbytes)
        return array
    fake_np = types.SimpleNamespace(**{k: getattr(np, k) for k in dir(np) if not k.startswith("__")})
    fake_np.empty = counting_empty
    module = {}
    exec(compile(source, "<tape bytes>", "exec"), module)
    module["np"] = fake_np                       # after the module's own `import numpy as np`
    module[f"grad_{fn.__name__}"](*args)
    return sum(sizes), len(sizes)


def tape_report():
    """The Lorenz tape against the least any adjoint must keep: the state (x, y, z) that each
    of the 1000 steps overwrites and its reverse reads."""
    used, arrays = tape_bytes(lorenz, (P0,))
    least = 3 * STEPS * 8
    return (f"Tape of adjoint's Lorenz RK4 gradient (1000 steps): {used:,} bytes in {arrays} arrays; "
            f"the least any adjoint keeps, the state (x, y, z) before each step, is {least:,} bytes "
            f"({used / least:.2f}x). The hand-written adjoint stores the same state.")


ONE_CORE_N = 10**6


def one_core(n, repeats, target, peer_repeats):
    """Extended Rosenbrock measured again in a child process pinned to one CPU, so that every
    tool has the one core adjoint's serial loop uses (jax's CPU client otherwise keeps a
    second thread busy). Returns (markdown, data)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "one_core.json"
        proc = subprocess.run([sys.executable, __file__, "--one-core", str(n), str(repeats),
                               str(target), str(peer_repeats), str(out)], check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"bench_loops: the one-core process failed (exit {proc.returncode})")
        result = json.loads(out.read_text())
    return result["text"], result["data"]


def _one_core_child(n, repeats, target, peer_repeats, out):
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    warm_up_numba()
    w = build_rosenbrock(n, load_peers(), rtol=1e-10, parallel=False, warp=load_warp())
    w.title += ", every tool pinned to one core"
    text, data = run_workload(w, repeats, target, peer_repeats)
    Path(out).write_text(json.dumps({"text": text, "data": data}, default=float))


def main(quick=False):
    repeats, target, peer_repeats = (7, 0.01, 3) if quick else (41, 0.02, 7)
    sizes = (10**4,) if quick else (10**4, 10**6)
    warm_up_numba()
    peers = load_peers()
    warp = load_warp()
    texts, data = [], []
    for n in sizes:
        text, d = run_workload(build_rosenbrock(n, peers, rtol=1e-10, warp=warp), repeats,
                               target, peer_repeats)
        texts.append(text)
        data.append(d)
    if not quick:
        text, d = one_core(ONE_CORE_N, repeats, target, peer_repeats)
        texts.append(text)
        data.append(d)
    text, d = run_workload(build_lorenz(peers, rtol=1e-8, quick=quick, warp=warp), repeats,
                           target, peer_repeats)
    texts.append(text + "\n\n" + tape_report())
    data.append(d)
    info = machine_info()
    header = "\n".join([
        "## Loops: extended Rosenbrock and Lorenz-63 RK4",
        "",
        ("Time per gradient call from Python (numba dispatchers, jitted jax functions and the "
        "autograd/torch functions alike): median of the repeats (numba rows interleaved in "
        "one group; peers in a second group with the primal, hand-written and adjoint rows "
        "timed again in each round as anchors), IQR and min over the repeats. Ratios are "
        "medians of per-round ratios against the anchor of the same round; '/ primal' divides by `numba.njit(f)`, '/ hand-written' by the hand-written "
        "numba adjoint (without fastmath), '/ adjoint' by adjoint's gradient. Every gradient is "
        "checked against adjoint's with np.allclose before timing, and against central finite "
        "differences of the numba primal (five-point stencil, step 1e-3 relative) at six "
        "coordinates where the argument has at most 10^5 elements ('vs finite differences': the "
        "largest |gradient - FD| / max(|FD|, 1); a row that differs from adjoint's and is "
        f"further than {FD_TOLERANCE:g} from the finite differences, which adjoint's gradient "
        "meets, is marked WRONG). 'first call' is the first "
        "call's time (numba/XLA/Warp compilation, Warp's into an empty kernel cache; for "
        "autograd/torch a plain first run). NVIDIA Warp runs float64 kernels "
        "(benchmarks/warp_kernels.py) on its cpu device, which runs a launch's threads one "
        "after the other on the calling thread (one core); each call records the launch on a "
        "wp.Tape, runs the backward pass and returns the input's adjoint as a numpy view. "
        "Peers run "
        "float64 (jax with jax_enable_x64) on arrays already converted (jnp.asarray / "
        "torch.from_numpy, which does not copy); jax and torch may use several threads "
        f"(cpu_count {info['cpu_count']}), numba runs on one: 'cores busy' is the process's CPU "
        "time over the wall time of the timed calls. The table marked 'every tool pinned to one "
        "core' repeats extended Rosenbrock at n = 10^6 in a child process pinned to one CPU "
        "(sched_setaffinity), so that jax has the one core numba's serial loop uses."),
    ])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "repeats": repeats,
                      "workloads": data}, quick=quick)
    return "\n\n".join([header] + texts)


if __name__ == "__main__":
    if len(sys.argv) > 6 and sys.argv[1] == "--one-core":
        _one_core_child(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]),
                        sys.argv[6])
        raise SystemExit(0)
    run_script(main)
