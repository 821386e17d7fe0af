"""ADBench's Gaussian mixture model objective: the negative log-likelihood of n points under K
Gaussians in d dimensions, with a Wishart prior on the inverse covariances, and its gradient in
the log-weights, the means and the inverse-covariance factors (the array workload of `make
bench`; tests/array_corpus.py keeps the same functions).

Run: python examples/gmm.py
The gradient code with its comments (tests/golden/gmm_grad.py): adjoint show
examples/gmm.py:gmm_objective --wrt alphas,means,icf --types "alphas=float64[:],
means=float64[:,:], icf=float64[:,:], x=float64[:,:], wishart_gamma=float64, wishart_m=int64"
"""

import math

import numpy as np

import adjoint


def gmm_main_term(alphas, means, icf, x, k, d):
    """log alpha_k + log det Q_k - |Q_k (x_i - mu_k)|^2 / 2 for every point x_i, with Q_k
    lower triangular: exp(icf[k, :d]) on its diagonal, icf[k, d:] below, column by column."""
    Q = np.zeros((d, d))
    idx = d
    for j in range(d):
        Q[j, j] = math.exp(icf[k, j])
        for i in range(j + 1, d):
            Q[i, j] = icf[k, idx]
            idx += 1
    Qx = (x - means[k]) @ Q.T
    return alphas[k] + np.sum(icf[k, :d]) - 0.5 * np.sum(Qx * Qx, axis=1)


def gmm_objective(alphas, means, icf, x, wishart_gamma, wishart_m):
    """ADBench's GMM negative log-likelihood (up to its constant terms), Wishart prior included:
    means (K, d), log-weights alphas (K,), icf (K, d + d(d-1)/2): the log-diagonal and the
    strictly lower triangle of each inverse-covariance factor Q_k."""
    n = x.shape[0]
    d = x.shape[1]
    K = alphas.shape[0]
    best = np.full(n, -1e300)
    for k in range(K):
        best = np.maximum(best, gmm_main_term(alphas, means, icf, x, k, d))
    total = np.zeros(n)
    for k in range(K):
        total = total + np.exp(gmm_main_term(alphas, means, icf, x, k, d) - best)
    top = np.max(alphas)
    lse_alphas = top + np.log(np.sum(np.exp(alphas - top)))
    prior = 0.0
    for k in range(K):
        q = np.exp(icf[k, :d])
        frobenius = np.sum(q * q) + np.sum(icf[k, d:] ** 2)
        prior += 0.5 * wishart_gamma * wishart_gamma * frobenius - wishart_m * np.sum(icf[k, :d])
    return np.sum(best + np.log(total)) - n * lse_alphas + prior


def gmm_data(d, K, n, seed=0):
    """(alphas, means, icf, x, wishart_gamma, wishart_m): random parameters and points."""
    rng = np.random.default_rng(seed)
    alphas = rng.normal(size=K)
    means = rng.normal(size=(K, d))
    icf = rng.normal(size=(K, d + d * (d - 1) // 2)) * 0.3
    x = rng.normal(size=(n, d))
    return alphas, means, icf, x, 1.0, 0


if __name__ == "__main__":
    data = gmm_data(d=3, K=4, n=50)
    grad = adjoint.grad(gmm_objective, wrt=(0, 1, 2))
    print(grad.source_for(*data))             # generated for these arguments' ranks
    grads = grad(*data)
    for name, g in zip(("alphas", "means", "icf"), grads):
        print(f"d objective / d {name}: shape {g.shape}, norm {np.linalg.norm(g):.6f}")
