"""The extended Rosenbrock function as a plain loop, and its gradient.

Run: python examples/rosenbrock.py
"""

import numpy as np

import adjoint


def rosenbrock(x):
    n = x.shape[0]
    s = 0.0
    for i in range(n - 1):
        s = s + 100.0 * (x[i + 1] - x[i] * x[i]) ** 2 + (1.0 - x[i]) ** 2
    return s


if __name__ == "__main__":
    print(adjoint.source(rosenbrock))
    print(adjoint.grad(rosenbrock)(np.array([0.5, -1.0, 2.0])))
