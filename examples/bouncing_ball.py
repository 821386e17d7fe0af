"""A ball thrown upwards, bouncing on the floor: where is it after a given time?

Explicit Euler steps of size dt; a step that ends below the floor reflects the ball (its height
mirrored, its speed reversed and damped by the coefficient of restitution). The result is
piecewise smooth in the launch height, the launch speed and the restitution: between two bounce
events the gradient is exact, and the branch taken by each step is replayed by the reverse sweep.

Run: python examples/bouncing_ball.py
"""

import adjoint

GRAVITY = 9.81


def height_after(h0, v0, restitution, steps, dt):
    h = h0
    v = v0
    for k in range(steps):
        v = v - GRAVITY * dt
        h = h + v * dt
        if h < 0.0:
            h = -restitution * h
            v = -restitution * v
    return h


if __name__ == "__main__":
    print(adjoint.source(height_after, wrt=(0, 1, 2)))
    grad = adjoint.grad(height_after, wrt=(0, 1, 2))
    print("d height / d (h0, v0, restitution) after 2 s:", grad(1.0, 3.0, 0.8, 2000, 0.001))
