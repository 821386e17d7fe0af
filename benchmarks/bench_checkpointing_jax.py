"""The Lorenz-63 RK4 loop of bench_checkpointing.py in JAX, for the same table: memory and time of
its gradient with JAX's own ways of trading memory for recomputation.

    python3 -m venv /work/jaxvenv && /work/jaxvenv/bin/pip install jax numpy
    /work/jaxvenv/bin/python benchmarks/bench_checkpointing_jax.py [--steps 100000]

Run with JAX's interpreter (adjoint's environment has no JAX; this file imports nothing of
adjoint). Float64, cpu. Variants of the same step function, gradient w.r.t. p by jax.grad:
  * scan: `lax.scan` over the steps, JAX's default: every step's residuals kept;
  * checkpoint(step): the step under `jax.checkpoint`: only its carry kept per step, the step
    recomputed in the reverse sweep (what adjoint does without a budget);
  * nested sqrt: the steps as an outer scan of B blocks of n / B steps, each block under
    `jax.checkpoint` (B the divisor of n nearest below sqrt(n)): about 2 sqrt(n) states kept, each step run forward twice.
JAX has no binomial (revolve) schedule of its own. Memory: XLA's temporary buffers of the
compiled gradient (`memory_analysis().temp_size_in_bytes`), a static figure; time: median of a
few calls after compiling.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np

jax.config.update("jax_enable_x64", True)


def step(p, dt):
    sigma, rho, beta = p[3], p[4], p[5]

    def rk4(state, _):
        x, y, z = state
        k1x = sigma * (y - x)
        k1y = x * (rho - z) - y
        k1z = x * y - beta * z
        x2, y2, z2 = x + 0.5 * dt * k1x, y + 0.5 * dt * k1y, z + 0.5 * dt * k1z
        k2x = sigma * (y2 - x2)
        k2y = x2 * (rho - z2) - y2
        k2z = x2 * y2 - beta * z2
        x3, y3, z3 = x + 0.5 * dt * k2x, y + 0.5 * dt * k2y, z + 0.5 * dt * k2z
        k3x = sigma * (y3 - x3)
        k3y = x3 * (rho - z3) - y3
        k3z = x3 * y3 - beta * z3
        x4, y4, z4 = x + dt * k3x, y + dt * k3y, z + dt * k3z
        k4x = sigma * (y4 - x4)
        k4y = x4 * (rho - z4) - y4
        k4z = x4 * y4 - beta * z4
        return (x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
                y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y),
                z + dt / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)), None
    return rk4


def plain(steps, dt):
    def f(p):
        (x, y, z), _ = jax.lax.scan(step(p, dt), (p[0], p[1], p[2]), None, length=steps)
        return x + y + z
    return f


def per_step(steps, dt):
    def f(p):
        (x, y, z), _ = jax.lax.scan(jax.checkpoint(step(p, dt)), (p[0], p[1], p[2]), None, length=steps)
        return x + y + z
    return f


def nested(steps, dt):
    blocks = max(b for b in range(1, math.isqrt(steps) + 1) if steps % b == 0)    # a divisor near sqrt(n)

    def f(p):
        inner = step(p, dt)

        @jax.checkpoint
        def block(state, _):
            return jax.lax.scan(inner, state, None, length=steps // blocks)[0], None
        (x, y, z), _ = jax.lax.scan(block, (p[0], p[1], p[2]), None, length=blocks)
        return x + y + z
    return f


def measure(make, steps, dt, p):
    g = jax.jit(jax.grad(make(steps, dt)))
    compiled = g.lower(p).compile()
    analysis = compiled.memory_analysis()
    temp = getattr(analysis, "temp_size_in_bytes", None) if analysis is not None else None
    value = np.asarray(g(p))
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        g(p).block_until_ready()
        times.append(time.perf_counter() - t0)
    return value, statistics.median(times), temp


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=100_000)
    options = parser.parse_args()
    steps, dt = options.steps, 0.001
    p = jnp.array([1.0, 1.0, 1.0, 10.0, 28.0, 8.0 / 3.0])
    rows, reference, base = [], None, None
    for name, make in (("scan (all residuals kept)", plain), ("jax.checkpoint(step)", per_step),
                       ("nested scan, sqrt(n) blocks under jax.checkpoint", nested)):
        value, seconds, temp = measure(make, steps, dt, p)
        if reference is None:
            reference, base = value, seconds
        assert np.allclose(value, reference, rtol=1e-9, atol=0), (name, value, reference)
        rows.append((name, f"{seconds * 1e3:.2f}", f"{seconds / base:.2f}",
                     "-" if temp is None else f"{temp / 1e3:.1f}"))
    print(f"JAX {jax.__version__}, Lorenz-63 RK4, {steps} steps, float64, cpu; gradient {reference}\n")
    header = ("variant", "time (ms)", "time / scan", "XLA temporary memory (kB)")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
