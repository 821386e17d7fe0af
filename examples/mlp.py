"""The mean squared error of a two-layer tanh network, and its gradient in all four
parameters (the array workload of `make bench`; tests/array_corpus.py keeps the same function).

Run: python examples/mlp.py
The gradient code with its comments (tests/golden/mlp_grad.py): adjoint show
examples/mlp.py:mlp_loss --wrt W1,b1,W2,b2 --types "W1=float64[:,:], b1=float64[:],
W2=float64[:], b2=float64, X=float64[:,:], y=float64[:]"
"""

import numpy as np

import adjoint


def mlp_loss(W1, b1, W2, b2, X, y):
    h = np.tanh(X @ W1 + b1)
    out = h @ W2 + b2
    d = out - y
    return np.mean(d * d)


def random_problem(n_rows=32, n_in=8, n_hidden=16, seed=0):
    """Weights, biases and a batch of data: (W1, b1, W2, b2, X, y)."""
    rng = np.random.default_rng(seed)
    W1 = rng.normal(size=(n_in, n_hidden)) / np.sqrt(n_in)
    b1 = rng.normal(size=n_hidden) * 0.1
    W2 = rng.normal(size=n_hidden) / np.sqrt(n_hidden)
    X = rng.normal(size=(n_rows, n_in))
    y = rng.normal(size=n_rows)
    return W1, b1, W2, 0.1, X, y


if __name__ == "__main__":
    problem = random_problem()
    grad = adjoint.grad(mlp_loss, wrt=(0, 1, 2, 3))
    print(grad.source_for(*problem))          # generated for these arguments' ranks
    grads = grad(*problem)
    for name, g in zip(("W1", "b1", "W2", "b2"), grads):
        print(f"|d loss / d {name}| = {np.linalg.norm(g):.6f}")
