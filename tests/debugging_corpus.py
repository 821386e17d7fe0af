"""Functions for the debugging tests: one that fails inside its generated code."""

import math  # noqa: F401  (kept: the tests assert line numbers in this file)


def fails_inside(x):
    y = x * 2.0
    z = 1.0 / (y - 2.0)
    return z * y


def lorenz_like(p, steps):
    x = p[0]
    y = p[1]
    for k in range(steps):
        x, y = x + 0.01 * (y - x), y + 0.01 * x * (2.0 - y)
    return x * y


def scaled(x, factor):
    y = x * factor
    return y * y
