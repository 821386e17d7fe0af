"""Functions with branches, loops, overwrites and helper calls (issue: control flow)."""

import math


def piecewise(x):
    if x < -1.0:
        y = -x * x
    elif x < 0.5:
        y = math.sin(x) * 2.0
    elif x < 2.0:
        y = math.exp(x) - 1.0
    else:
        y = x ** 3
    return y * x


def nonlinear_accumulator(x, n):
    s = x
    for i in range(n):
        s = math.tanh(s * x + 0.1 * i) + s * 0.5
    return s


def newton_sqrt(a):
    x = a
    while abs(x * x - a) > 1e-12 * a:
        x = 0.5 * (x + a / x)
    return x


def break_continue(x, n):
    s = 1.0
    for i in range(1, n, 2):
        if i == 7:
            continue
        s = s * x + math.cos(s)
        if s > 50.0:
            break
    return s


def triangular(x):
    n = len(x)
    total = 0.0
    for i in range(n):
        row = 0.0
        for j in range(i + 1):
            row += x[i] * x[j] / (1.0 + i + j)
        total += math.sin(row)
    return total


def square(u):
    return u * u


def smooth_norm(u, v):
    return math.sqrt(square(u) + square(v) + 1e-3)


def two_helpers(x, y):
    r = smooth_norm(x, y)
    return r * math.exp(-square(x - y))


def early_returns(x):
    if x > 1.0:
        return x * x
    y = math.exp(x)
    for i in range(10):
        y = y * 0.9 + x
        if y > 3.0:
            return y * 2.0
    return y


def runtime_range(x, start, stop, step):
    s = 0.0
    for i in range(start, stop, step):
        s = s * math.cos(x) + i * x
    return s


def augmented(x, y):
    z = x
    z += y * 2.0
    z -= math.sin(x)
    z *= y
    z /= 1.0 + x * x
    return z


def swaps(x, y):
    for k in range(5):
        x, y = y, x * y + 0.5
    return x - y


def integer_counter(x, n):
    count = 0
    s = 0.0
    while count < n:
        count += 1
        s = s + x ** count / count
    return s


def bool_logic(x, y):
    if (x > 0.0 and y > 0.0) or not (x < -1.0):
        return x * y
    return x + y


def indexing(x):
    n = x.shape[0]
    s = 0.0
    for i in range(n - 1):
        s += (x[i + 1] - x[i]) ** 2 * x[len(x) - 1 - i]
    return s


def lorenz_rk4(p, steps):
    x = p[0]
    y = p[1]
    z = p[2]
    sigma = p[3]
    rho = p[4]
    beta = p[5]
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
    return x + y + z


def recursive(x):
    if x < 1.0:
        return x
    return recursive(x / 2.0) + 1.0


MODE = 2
DAMPING = 0.0


def feature_switches(x, n):
    """Branches on module constants (parse inlines them), in and out of a loop: only the
    branch taken is differentiated, and numba sees no branch it would prune."""
    for i in range(n):
        if MODE == 1 or DAMPING > 0.0:
            x = x * 0.5
        elif not MODE < 2 and -1.0 < DAMPING <= 0.0:
            x = math.sin(x) + 0.1 * x * x
        else:
            x = math.cos(x)
    if DAMPING != 0.0:
        return x
    return x * x
