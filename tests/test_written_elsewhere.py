"""Numeric code written the way numpy users, tutorials and other AD tools' docs write it
(PyTorch's numpy warm-up, scipy's rosen, a Thomas tridiagonal solve, a Kalman filter, a GP with
cholesky and solve_triangular, stencils padded with np.pad, polyfit-style features with
np.vander, method spellings, masks, gathers, closures, while loops): written for no test of
adjoint's and first run against it in stop 38, where two were rejected (np.pad and np.vander,
added then). Each gradient against central differences, on the python target, and a spread of
them compiled for the cpu target.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.linalg import solve_triangular
from scipy.special import expit, logsumexp
from scipy.stats import norm

import adjoint
from tests.oracles import finite_difference

_rng1 = np.random.default_rng(0)
X_DATA = _rng1.normal(size=(20, 3))
Y_DATA = (_rng1.random(20) > 0.5).astype(float)
XS = np.linspace(-math.pi, math.pi, 50)
YS = np.sin(XS)


# PyTorch tutorial "Warm-up: numpy", as a loss of the coefficients
def poly_loss(a, b, c, d):
    y_pred = a + b * XS + c * XS ** 2 + d * XS ** 3
    loss = np.square(y_pred - YS).sum()
    return loss


# softmax cross-entropy, stabilized with max(axis=1, keepdims=True)
def softmax_xent(W):
    logits = X_DATA @ W
    logits = logits - logits.max(axis=1, keepdims=True)
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    labels = Y_DATA.astype(int)
    return -np.mean(log_probs[np.arange(len(labels)), labels])


# RBF kernel ridge objective with broadcasting
def kernel_ridge(alpha, lengthscale):
    d2 = np.sum((X_DATA[:, None, :] - X_DATA[None, :, :]) ** 2, axis=-1)
    K = np.exp(-0.5 * d2 / lengthscale ** 2)
    resid = K @ alpha - Y_DATA
    return 0.5 * resid @ resid + 0.1 * alpha @ K @ alpha


# heat equation with np.roll (periodic), explicit steps
def heat_roll(u0, kappa=0.1, steps=20):
    u = u0.copy()
    for _ in range(steps):
        u = u + kappa * (np.roll(u, 1) - 2 * u + np.roll(u, -1))
    return np.sum(u ** 2)


# GMM-ish log-likelihood with scipy's logsumexp along an axis
def mixture_loglik(means, log_weights):
    diffs = X_DATA[:, None, :] - means[None, :, :]
    log_probs = -0.5 * np.sum(diffs ** 2, axis=2) + log_weights[None, :]
    return np.sum(logsumexp(log_probs, axis=1))


# Black-Scholes call price with scipy.stats.norm.cdf
def bs_call(S, K, T, r, sigma):
    d1 = (np.log(S / K) + (r + 0.5 * sigma ** 2) * T) / (sigma * np.sqrt(T))
    d2 = d1 - sigma * np.sqrt(T)
    return S * norm.cdf(d1) - K * np.exp(-r * T) * norm.cdf(d2)


# logistic regression with np.clip of probabilities and weight decay (sklearn style)
def logreg(w, b, C=1.0):
    z = X_DATA.dot(w) + b
    p = 1.0 / (1.0 + np.exp(-z))
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return -np.mean(Y_DATA * np.log(p) + (1 - Y_DATA) * np.log(1 - p)) + 0.5 / C * np.dot(w, w)


# pendulum with an explicit loop, a tuple-returning helper and augmented assignments
def _deriv(theta, omega, g=9.81, L=1.0):
    return omega, -g / L * math.sin(theta)


def pendulum(theta0, omega0, dt=0.01, n=100):
    theta, omega = theta0, omega0
    for _ in range(n):
        dtheta, domega = _deriv(theta, omega)
        theta += dt * dtheta
        omega += dt * domega
    return theta ** 2 + omega ** 2


# total variation denoising objective (np.diff, np.abs smoothed)
def tv_denoise(u, f, lam=0.5, eps=1e-3):
    fidelity = 0.5 * np.sum((u - f) ** 2)
    tv = np.sum(np.sqrt(np.diff(u) ** 2 + eps))
    return fidelity + lam * tv


# Rosenbrock in scipy.optimize's vectorized form
def scipy_rosen(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


# a 2-D stencil with np.pad and element writes at expression indices
def laplace_energy(U):
    P = np.pad(U, 1, mode="edge")
    lap = P[:-2, 1:-1] + P[2:, 1:-1] + P[1:-1, :-2] + P[1:-1, 2:] - 4 * U
    return 0.5 * np.sum(lap ** 2)


# Lennard-Jones energy with a double loop and pairwise distances (MD textbook)
def lj_energy(pos):
    n = pos.shape[0]
    e = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            r2 = np.sum((pos[i] - pos[j]) ** 2)
            inv6 = 1.0 / r2 ** 3
            e += 4.0 * (inv6 * inv6 - inv6)
    return e

# attention with np.einsum and softmax over the last axis
def attention(Q, K, V):
    scores = np.einsum("id,jd->ij", Q, K) / np.sqrt(Q.shape[1])
    scores = scores - np.max(scores, axis=-1, keepdims=True)
    w = np.exp(scores)
    w = w / w.sum(axis=-1, keepdims=True)
    return np.sum(w @ V)

_rng2 = np.random.default_rng(7)
X = _rng2.normal(size=(15, 3))
Y = _rng2.normal(size=15)
LABELS = _rng2.integers(0, 3, size=15)
COUNTS = _rng2.poisson(2.0, size=15).astype(float)
SERIES = np.cumsum(_rng2.normal(size=30)) * 0.1


def ar1_nll(phi, log_sigma):
    resid = SERIES[1:] - phi * SERIES[:-1]
    sigma2 = np.exp(2 * log_sigma)
    n = resid.shape[0]
    return 0.5 * n * np.log(2 * np.pi * sigma2) + 0.5 * np.sum(resid ** 2) / sigma2


def gp_nll(log_ell, log_noise):
    d2 = np.sum((X[:, None, :] - X[None, :, :]) ** 2, axis=-1)
    K = np.exp(-0.5 * d2 / np.exp(2 * log_ell)) + np.exp(2 * log_noise) * np.eye(len(Y))
    L = np.linalg.cholesky(K)
    alpha = solve_triangular(L, Y, lower=True)
    return 0.5 * alpha @ alpha + np.sum(np.log(np.diag(L)))


def softplus_loss(w):
    z = X @ w
    return np.sum(np.logaddexp(0.0, -Y * z))


def kalman_loglik(q, r):
    x, P = 0.0, 1.0
    ll = 0.0
    for t in range(len(SERIES)):
        P = P + q
        S = P + r
        K = P / S
        innov = SERIES[t] - x
        ll += -0.5 * (np.log(2 * np.pi * S) + innov ** 2 / S)
        x = x + K * innov
        P = (1 - K) * P
    return -ll


def huber(w, delta=1.0):
    r = X @ w - Y
    return np.sum(np.where(np.abs(r) <= delta, 0.5 * r ** 2, delta * (np.abs(r) - 0.5 * delta)))


def poisson_regression(w, l2=0.01):
    eta = X.dot(w)
    return np.sum(np.exp(eta) - COUNTS * eta) + l2 * np.sum(w ** 2)


def ising_energy(S, J=1.0):
    return -J * np.sum(np.tanh(S) * (np.roll(np.tanh(S), 1, axis=0) + np.roll(np.tanh(S), 1, axis=1)))


def onehot_xent(W):
    logits = X @ W
    onehot = np.eye(3)[LABELS]
    return -np.sum(onehot * (logits - logsumexp(logits, axis=1, keepdims=True)))


def cosine_sim_loss(A):
    An = A / np.linalg.norm(A, axis=1, keepdims=True)
    S = An @ An.T
    return np.sum((S - np.eye(A.shape[0])) ** 2)


def bilinear(u, M, v):
    return np.einsum("i,ij,j->", u, M, v) ** 2


def vander_fit(c):
    V = np.vander(X[:, 0], 4)
    return np.sum((V @ c - Y) ** 2)


def hinge(w, C=0.5):
    margins = np.maximum(0.0, 1.0 - np.sign(Y) * (X @ w))
    return 0.5 * w @ w + C * np.sum(margins ** 2)


def logistic_expit(w):
    p = expit(X @ w)
    return -np.mean(np.where(Y > 0, np.log(p), np.log1p(-p)))


def rk4_decay(k, y0=1.0, h=0.1, n=20):
    y = y0
    t = 0.0
    while t < n * h - 1e-12:
        k1 = -k * y
        k2 = -k * (y + 0.5 * h * k1)
        k3 = -k * (y + 0.5 * h * k2)
        k4 = -k * (y + h * k3)
        y = y + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
        t += h
    return y

_rng3 = np.random.default_rng(3)
D = _rng3.normal(size=(6, 3))
IDX = np.array([2, 0, 1, 1, 2, 0])


def methods(x):
    return (x * x).sum() + x.mean(axis=0).sum() + (x.T @ x).trace() + np.abs(x).max()


def distances(x, y):
    return np.linalg.norm(x - y) + np.sqrt(np.sum(np.square(D - x), axis=1)).sum()


def smoothness(x):
    return np.sum(np.diff(x, n=2) ** 2) + np.cumsum(x)[-1] ** 2


def angles(x, y):
    return np.sum(np.arctan2(y, x) * np.hypot(x, y))


def traces(A, B):
    return np.trace(A @ B) + np.linalg.det(np.outer(A[0], B[:, 0]) + np.eye(3))


def masked_sum(x):
    return x[x > 0].sum() + np.sum(x[x < 0] ** 2)


def gather_rows(W):
    return np.sum(W[np.arange(6), IDX] ** 2)


def top_k(x):
    return np.sort(x)[-3:].sum()


def logdet(L):
    K = L @ L.T + np.eye(3)
    return np.linalg.slogdet(K)[1]


def reg_sum(W1, W2):
    return sum(np.sum(w ** 2) for w in (W1, W2))


def make_loss(data):
    def loss(w):
        return np.mean((data @ w) ** 2)
    return loss


closure_loss = make_loss(D)


def conversions(x, n=3):
    k = int(n)
    return float(k) * np.float64(0.5) * np.sum(x ** k)


def clipped_exp(x):
    return np.exp(x).clip(max=2.0).sum()


def argmax_pick(x):
    i = np.argmax(x)
    return x[i] * 2.0 + np.mean(x)

_rng4 = np.random.default_rng(5)
T = np.linspace(0.0, 1.0, 12)
OBS = np.sin(2 * np.pi * T) + 0.1 * _rng4.normal(size=12)


def _step(x, v, k, c, dt):
    a = -k * x - c * v
    return x + dt * v, v + dt * a


def oscillator_fit(k, c, x0=1.0, v0=0.0):
    x, v = x0, v0
    err = 0.0
    for i in range(len(T)):
        err += (x - OBS[i]) ** 2
        x, v = _step(x, v, k, c, 0.1)
    return err


def tridiagonal_solve_energy(d):
    n = d.shape[0]
    a = np.full(n, -1.0)
    b = d + 2.0
    c = np.full(n, -1.0)
    r = np.ones(n)
    cp = np.zeros(n)
    dp = np.zeros(n)
    cp[0] = c[0] / b[0]
    dp[0] = r[0] / b[0]
    for i in range(1, n):
        m = b[i] - a[i] * cp[i - 1]
        cp[i] = c[i] / m
        dp[i] = (r[i] - a[i] * dp[i - 1]) / m
    x = np.zeros(n)
    x[n - 1] = dp[n - 1]
    for i in range(n - 2, -1, -1):
        x[i] = dp[i] - cp[i] * x[i + 1]
    return np.sum(x ** 2)


def newton_sqrt(a, iters=6):
    x = a
    k = 0
    while k < iters:
        x = 0.5 * (x + a / x)
        k += 1
    return x


def cumulative_max_loss(x):
    best = x[0]
    total = 0.0
    for i in range(1, x.shape[0]):
        if x[i] > best:
            best = x[i]
        total += best * x[i]
    return total


def histogram_smooth(x, bins=5):
    h = np.zeros(bins)
    for v in x:
        j = min(int((v + 3.0) / 6.0 * bins), bins - 1)
        h[j] += math.exp(-v * v)
    return np.sum(h ** 2)


def matrix_power_iteration(A, iters=10):
    v = np.ones(A.shape[0])
    for _ in range(iters):
        w = A @ v
        v = w / np.linalg.norm(w)
    return v @ A @ v


def pairwise_loop(P):
    n = len(P)
    e = 0.0
    for i in range(n):
        for j in range(n):
            if i != j:
                d = P[i] - P[j]
                e += 1.0 / (1.0 + d @ d)
    return e


# the points: seeded, each program's arguments as its author would pass them ----------------------

_at = np.random.default_rng(2026)
CASES = [
    (poly_loss, (0.1, 0.2, -0.3, 0.05), (0, 1, 2, 3)),
    (softmax_xent, (_at.normal(size=(3, 2)),), (0,)),
    (kernel_ridge, (_at.normal(size=20), 1.3), (0, 1)),
    (heat_roll, (_at.normal(size=16),), (0,)),
    (mixture_loglik, (_at.normal(size=(4, 3)), _at.normal(size=4)), (0, 1)),
    (bs_call, (100.0, 95.0, 0.5, 0.02, 0.3), (0, 4)),
    (logreg, (_at.normal(size=3), 0.1), (0, 1)),
    (pendulum, (0.5, 0.1), (0, 1)),
    (tv_denoise, (_at.normal(size=12), _at.normal(size=12)), (0,)),
    (scipy_rosen, (_at.normal(size=6),), (0,)),
    (laplace_energy, (_at.normal(size=(5, 6)),), (0,)),
    (lj_energy, (_at.normal(size=(5, 3)) * 2.0,), (0,)),
    (attention, (_at.normal(size=(4, 3)), _at.normal(size=(5, 3)), _at.normal(size=(5, 2))), (0, 1, 2)),
    (ar1_nll, (0.5, -0.3), (0, 1)),
    (gp_nll, (0.2, -1.0), (0, 1)),
    (softplus_loss, (_at.normal(size=3),), (0,)),
    (kalman_loglik, (0.3, 0.5), (0, 1)),
    (huber, (_at.normal(size=3),), (0,)),
    (poisson_regression, (_at.normal(size=3) * 0.3,), (0,)),
    (ising_energy, (_at.normal(size=(4, 5)),), (0,)),
    (onehot_xent, (_at.normal(size=(3, 3)),), (0,)),
    (cosine_sim_loss, (_at.normal(size=(4, 3)),), (0,)),
    (bilinear, (_at.normal(size=3), _at.normal(size=(3, 4)), _at.normal(size=4)), (0, 1, 2)),
    (vander_fit, (_at.normal(size=4),), (0,)),
    (hinge, (_at.normal(size=3),), (0,)),
    (logistic_expit, (_at.normal(size=3),), (0,)),
    (rk4_decay, (0.7,), (0,)),
    (methods, (_at.normal(size=(4, 3)),), (0,)),
    (distances, (_at.normal(size=3), _at.normal(size=3)), (0, 1)),
    (smoothness, (_at.normal(size=7),), (0,)),
    (angles, (_at.normal(size=4), _at.normal(size=4)), (0, 1)),
    (traces, (_at.normal(size=(3, 3)), _at.normal(size=(3, 3))), (0, 1)),
    (masked_sum, (_at.normal(size=8),), (0,)),
    (gather_rows, (_at.normal(size=(6, 3)),), (0,)),
    (top_k, (_at.normal(size=7),), (0,)),
    (logdet, (_at.normal(size=(3, 3)),), (0,)),
    (reg_sum, (_at.normal(size=(2, 3)), _at.normal(size=3)), (0, 1)),
    (closure_loss, (_at.normal(size=3),), (0,)),
    (conversions, (_at.normal(size=4),), (0,)),
    (clipped_exp, (_at.normal(size=5),), (0,)),
    (argmax_pick, (_at.normal(size=5),), (0,)),
    (oscillator_fit, (3.0, 0.4), (0, 1)),
    (tridiagonal_solve_energy, (_at.random(6),), (0,)),
    (newton_sqrt, (2.0,), (0,)),
    (cumulative_max_loss, (_at.normal(size=8),), (0,)),
    (histogram_smooth, (_at.normal(size=9),), (0,)),
    (matrix_power_iteration, (_at.random((3, 3)) + np.eye(3),), (0,)),
    (pairwise_loop, (_at.normal(size=(4, 2)),), (0,)),
]
# compiled for the cpu target too: one of each kind (numba takes a second or more apiece)
ON_CPU = {laplace_energy, vander_fit, heat_roll, kalman_loglik, gp_nll, tridiagonal_solve_energy,
          masked_sum, oscillator_fit}


@pytest.mark.parametrize("fn, args, wrt", CASES, ids=[c[0].__name__ for c in CASES])
def test_a_program_written_elsewhere_differentiates_right(fn, args, wrt):
    targets = ["python", "cpu"] if fn in ON_CPU else ["python"]
    for target in targets:
        got = adjoint.grad(fn, wrt=wrt, target=target)(*args)
        got = got if isinstance(got, tuple) else (got,)
        for g, k in zip(got, wrt):
            want = finite_difference(fn, args, k)
            np.testing.assert_allclose(g, want, rtol=1e-6, atol=1e-7 * max(1.0, float(np.max(np.abs(want)))),
                                       err_msg=f"{fn.__name__} on {target}, argument {k}")
