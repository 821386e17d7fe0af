"""Functions for forward mode and higher derivatives."""

import math

import numpy as np

from examples.rosenbrock import rosenbrock  # noqa: F401  (differentiated by the tests)


def lorenz_map(state, params, steps):
    """RK4 integration of Lorenz-63 from `state` (3,) with `params` (sigma, rho, beta)."""
    x = state[0]
    y = state[1]
    z = state[2]
    sigma = params[0]
    rho = params[1]
    beta = params[2]
    dt = 0.01
    for k in range(steps):
        k1x, k1y, k1z = sigma * (y - x), x * (rho - z) - y, x * y - beta * z
        x2, y2, z2 = x + 0.5 * dt * k1x, y + 0.5 * dt * k1y, z + 0.5 * dt * k1z
        k2x, k2y, k2z = sigma * (y2 - x2), x2 * (rho - z2) - y2, x2 * y2 - beta * z2
        x3, y3, z3 = x + 0.5 * dt * k2x, y + 0.5 * dt * k2y, z + 0.5 * dt * k2z
        k3x, k3y, k3z = sigma * (y3 - x3), x3 * (rho - z3) - y3, x3 * y3 - beta * z3
        x4, y4, z4 = x + dt * k3x, y + dt * k3y, z + dt * k3z
        k4x, k4y, k4z = sigma * (y4 - x4), x4 * (rho - z4) - y4, x4 * y4 - beta * z4
        x = x + dt / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x)
        y = y + dt / 6.0 * (k1y + 2.0 * k2y + 2.0 * k3y + k4y)
        z = z + dt / 6.0 * (k1z + 2.0 * k2z + 2.0 * k3z + k4z)
    return np.array([x, y, z])


def lorenz_full(p, steps):
    """The same map as a function of all six inputs (state, then parameters)."""
    return lorenz_map(p[:3], p[3:], steps)


def loop_and_branch(x):
    s = x
    for i in range(6):
        if s > 1.0:
            s = math.sin(s) * x + 0.5
        else:
            s = s * s * x + math.exp(-s)
    return s


def mlp_loss(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d = out - y
    return np.mean(d * d)
