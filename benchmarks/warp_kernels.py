"""NVIDIA Warp versions of the benchmark workloads (imported only where warp is installed).

Warp compiles kernels from their source file (not from exec'd code), so they live here. Every
kernel is float64 (wp.float64, literals wrapped in f64(...)) to match the other tools, and has
a module of its own (module="unique"), so a first launch compiles that kernel alone.

Workloads and their Warp forms:
  * f4 at N points: one Warp thread per point. `f4_value` (the value, differentiated by a
    wp.Tape: forward launch, then the generated adjoint kernel) and `f4_inline_grad` (the
    gradient computed inside the kernel with wp.grad of the @wp.func f4, a forward-only kernel).
  * extended Rosenbrock: `rosenbrock_terms` (one thread per term, wp.atomic_add into the sum: the
    natural Warp form) and `rosenbrock_loop` (one thread, the function's own loop with the
    running sum `s = s + ...` in a local).
  * Lorenz-63 RK4, 1000 steps: `lorenz_loop` (one thread, the function's own loop updating the
    locals x, y, z) and `lorenz_loop_stored` (one thread, the loop writing each step's state to
    a row of an array instead of overwriting locals, the pattern that Warp's dynamic loops
    differentiate).

Warp's documented limit on dynamic loops (a `range` whose trip count is not a compile-time
constant at most `max_unroll`, 16 by default): the backward pass replays the loop in reverse
without storing the values that a loop body overwrites, so a loop-carried local that is
reassigned makes the gradient wrong; Warp logs that ("detected mutated variable ... this may not
be a differentiable operation") only at wp.config.log_level = wp.LOG_DEBUG. The benchmarks check every Warp gradient
against five-point finite differences of the numba primal and mark the wrong ones.
"""

from __future__ import annotations

import warp as wp

f64 = wp.float64
CPU = "cpu"


# ---------------------------------------------------------------------------------------------
# a trivial kernel: its first launch in a process pays the one-off start-up of Warp's compiler
# (bench_first_call reports that apart from the compilation of a workload's kernel)

@wp.kernel(module="unique")
def scale(x: wp.array(dtype=f64), y: wp.array(dtype=f64)):
    i = wp.tid()
    y[i] = f64(2.0) * x[i]


def warm_up():
    x = wp.zeros(1, dtype=f64, device=CPU)
    y = wp.zeros(1, dtype=f64, device=CPU)
    wp.launch(scale, dim=1, inputs=[x], outputs=[y], device=CPU)
    wp.synchronize_device(CPU)


# ---------------------------------------------------------------------------------------------
# f4

@wp.func
def f4_func(a: f64, b: f64, c: f64, d: f64) -> f64:
    ab = a * b
    cd = c * d
    return f64(2.0) * (ab * c + ab * d + a * cd + b * cd)


@wp.kernel(module="unique")
def f4_value(X: wp.array2d(dtype=f64), out: wp.array(dtype=f64)):
    i = wp.tid()
    out[i] = f4_func(X[i, 0], X[i, 1], X[i, 2], X[i, 3])


@wp.kernel(module="unique", enable_backward=False)
def f4_inline_grad(X: wp.array2d(dtype=f64), G: wp.array2d(dtype=f64)):
    i = wp.tid()
    ga, gb, gc, gd = wp.grad(f4_func)(X[i, 0], X[i, 1], X[i, 2], X[i, 3])
    G[i, 0] = ga
    G[i, 1] = gb
    G[i, 2] = gc
    G[i, 3] = gd


# ---------------------------------------------------------------------------------------------
# extended Rosenbrock

@wp.kernel(module="unique")
def rosenbrock_terms(x: wp.array(dtype=f64), loss: wp.array(dtype=f64)):
    i = wp.tid()
    d = x[i + 1] - x[i] * x[i]
    e = f64(1.0) - x[i]
    wp.atomic_add(loss, 0, f64(100.0) * d * d + e * e)


@wp.kernel(module="unique")
def rosenbrock_loop(x: wp.array(dtype=f64), loss: wp.array(dtype=f64)):
    n = x.shape[0]
    s = f64(0.0)
    for i in range(n - 1):
        d = x[i + 1] - x[i] * x[i]
        e = f64(1.0) - x[i]
        s = s + f64(100.0) * d * d + e * e
    loss[0] = s


# ---------------------------------------------------------------------------------------------
# Lorenz-63, explicit RK4: p[0:3] the initial state, p[3:6] (sigma, rho, beta); loss x + y + z

@wp.func
def lorenz_rhs(x: f64, y: f64, z: f64, sigma: f64, rho: f64, beta: f64):
    return sigma * (y - x), x * (rho - z) - y, x * y - beta * z


@wp.kernel(module="unique")
def lorenz_loop(p: wp.array(dtype=f64), steps: int, loss: wp.array(dtype=f64)):
    x = p[0]
    y = p[1]
    z = p[2]
    sigma = p[3]
    rho = p[4]
    beta = p[5]
    dt = f64(0.01)
    h = f64(0.5) * dt
    for step in range(steps):
        k1x, k1y, k1z = lorenz_rhs(x, y, z, sigma, rho, beta)
        k2x, k2y, k2z = lorenz_rhs(x + h * k1x, y + h * k1y, z + h * k1z, sigma, rho, beta)
        k3x, k3y, k3z = lorenz_rhs(x + h * k2x, y + h * k2y, z + h * k2z, sigma, rho, beta)
        k4x, k4y, k4z = lorenz_rhs(x + dt * k3x, y + dt * k3y, z + dt * k3z, sigma, rho, beta)
        x = x + dt / f64(6.0) * (k1x + f64(2.0) * k2x + f64(2.0) * k3x + k4x)
        y = y + dt / f64(6.0) * (k1y + f64(2.0) * k2y + f64(2.0) * k3y + k4y)
        z = z + dt / f64(6.0) * (k1z + f64(2.0) * k2z + f64(2.0) * k3z + k4z)
    loss[0] = x + y + z


@wp.kernel(module="unique")
def lorenz_loop_stored(p: wp.array(dtype=f64), steps: int, state: wp.array2d(dtype=f64),
                       loss: wp.array(dtype=f64)):
    sigma = p[3]
    rho = p[4]
    beta = p[5]
    dt = f64(0.01)
    h = f64(0.5) * dt
    state[0, 0] = p[0]
    state[0, 1] = p[1]
    state[0, 2] = p[2]
    for step in range(steps):
        x = state[step, 0]
        y = state[step, 1]
        z = state[step, 2]
        k1x, k1y, k1z = lorenz_rhs(x, y, z, sigma, rho, beta)
        k2x, k2y, k2z = lorenz_rhs(x + h * k1x, y + h * k1y, z + h * k1z, sigma, rho, beta)
        k3x, k3y, k3z = lorenz_rhs(x + h * k2x, y + h * k2y, z + h * k2z, sigma, rho, beta)
        k4x, k4y, k4z = lorenz_rhs(x + dt * k3x, y + dt * k3y, z + dt * k3z, sigma, rho, beta)
        state[step + 1, 0] = x + dt / f64(6.0) * (k1x + f64(2.0) * k2x + f64(2.0) * k3x + k4x)
        state[step + 1, 1] = y + dt / f64(6.0) * (k1y + f64(2.0) * k2y + f64(2.0) * k3y + k4y)
        state[step + 1, 2] = z + dt / f64(6.0) * (k1z + f64(2.0) * k2z + f64(2.0) * k3z + k4z)
    loss[0] = state[steps, 0] + state[steps, 1] + state[steps, 2]


# ---------------------------------------------------------------------------------------------
# Python-side drivers: each returns a zero-argument callable computing the gradient as numpy


def f4_tape(X):
    """Gradient of f4 at every row of X: forward launch recorded on a wp.Tape, backward from a
    seed of ones, the input's adjoint returned (a view of Warp's buffer) and zeroed next call."""
    n = X.shape[0]
    Xw = wp.array(X, dtype=f64, requires_grad=True, device=CPU)
    out = wp.zeros(n, dtype=f64, requires_grad=True, device=CPU)
    seed = wp.ones(n, dtype=f64, device=CPU)
    tape = wp.Tape()

    def run():
        tape.reset()                       # clears the recorded launches
        Xw.grad.zero_()                    # the adjoints accumulate
        with tape:
            wp.launch(f4_value, dim=n, inputs=[Xw], outputs=[out], device=CPU)
        tape.backward(grads={out: seed})
        return Xw.grad.numpy()
    return run


def f4_inline(X):
    """Gradient of f4 at every row of X from one forward-only launch of f4_inline_grad."""
    n = X.shape[0]
    Xw = wp.array(X, dtype=f64, device=CPU)
    G = wp.empty((n, 4), dtype=f64, device=CPU)

    def run():
        wp.launch(f4_inline_grad, dim=n, inputs=[Xw], outputs=[G], device=CPU)
        return G.numpy()
    return run


def f4_inline_threads(X, threads):
    """f4_inline on all cores: the rows split into `threads` blocks, each launched from a thread
    of a pool (a cpu launch runs its Warp threads one after the other on the calling thread,
    and Warp calls the compiled kernel through ctypes, which releases the GIL)."""
    from concurrent.futures import ThreadPoolExecutor
    n = X.shape[0]
    Xw = wp.array(X, dtype=f64, device=CPU)
    G = wp.empty((n, 4), dtype=f64, device=CPU)
    edges = [k * n // threads for k in range(threads + 1)]
    blocks = [(Xw[a:b], G[a:b]) for a, b in zip(edges, edges[1:]) if b > a]
    pool = ThreadPoolExecutor(threads)

    def launch(block):
        wp.launch(f4_inline_grad, dim=block[0].shape[0], inputs=[block[0]], outputs=[block[1]],
                  device=CPU)

    def run():
        for future in [pool.submit(launch, block) for block in blocks]:
            future.result()
        return G.numpy()
    return run


def scalar_tape(kernel, dim, x, extra=(), scratch=None):
    """Gradient of loss[0] w.r.t. the float64 array x for `kernel(x, *extra, [scratch,] loss)`
    launched with `dim` threads under a wp.Tape. scratch: the shape of a float64 work array
    that the kernel writes (it needs an adjoint too)."""
    xw = wp.array(x, dtype=f64, requires_grad=True, device=CPU)
    loss = wp.zeros(1, dtype=f64, requires_grad=True, device=CPU)
    work = [] if scratch is None else [wp.zeros(scratch, dtype=f64, requires_grad=True,
                                                device=CPU)]
    tape = wp.Tape()

    def run():
        tape.reset()                       # clears the recorded launches
        for a in (xw, *work):              # the adjoints accumulate
            a.grad.zero_()
        loss.zero_()                       # rosenbrock_terms accumulates into it
        with tape:
            wp.launch(kernel, dim=dim, inputs=[xw, *extra, *work], outputs=[loss], device=CPU)
        tape.backward(loss=loss)
        return xw.grad.numpy()
    return run


def rosenbrock_terms_grad(x):
    return scalar_tape(rosenbrock_terms, x.shape[0] - 1, x)


def rosenbrock_loop_grad(x):
    return scalar_tape(rosenbrock_loop, 1, x)


def lorenz_loop_grad(p, steps):
    return scalar_tape(lorenz_loop, 1, p, extra=(steps,))


def lorenz_loop_stored_grad(p, steps):
    return scalar_tape(lorenz_loop_stored, 1, p, extra=(steps,), scratch=(steps + 1, 3))
