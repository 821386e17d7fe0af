"""The Lorenz-63 system integrated by explicit fourth-order Runge-Kutta, and the sensitivity of
its final state to the initial state and the three parameters.

p = [x0, y0, z0, sigma, rho, beta]; `steps` steps of size dt. The gradient's loop replays each
step from a checkpoint of (x, y, z) taken at its start.

Run: python examples/lorenz.py
"""

import numpy as np

import adjoint


def lorenz(p, steps, dt):
    x = p[0]
    y = p[1]
    z = p[2]
    sigma = p[3]
    rho = p[4]
    beta = p[5]
    for k in range(steps):
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


P0 = np.array([1.0, 1.0, 1.05, 10.0, 28.0, 8.0 / 3.0])

if __name__ == "__main__":
    print(adjoint.source(lorenz))
    print("d(x + y + z)/dp after 100 steps:", adjoint.grad(lorenz)(P0, 100, 0.01))
