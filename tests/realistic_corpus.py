"""Realistic numeric programs, held out: code that nobody on the project wrote for adjoint.

Each model is ported in the style its authors used (the source is cited above it), most in two
versions: explicit loops (`style="loop"`, scalar code included) and whole-array numpy
(`style="vectorized"`). The ports are written anew here, keeping the idioms of the original:
module-level helpers, default parameter values, global data, `for v in x`, tuple-returning
helpers, `keepdims=True`, integer-array indexing, ... whatever the authors reached for, since
the point of the corpus is to measure how much of such code adjoint differentiates (issue #17).

`PROGRAMS` lists them: each `Program` has its function, a builder returning seeded example
arguments (a tuple, positional; defaults of the function are left to it, as a user would),
the indices of the arguments to differentiate, its style and the model it belongs to.
tests/test_realistic.py checks them; benchmarks/reach.py reports what passes.
"""

from __future__ import annotations

import math
import zlib
from dataclasses import dataclass
from typing import Callable

import numpy as np
from scipy.special import gammaln, logsumexp
from scipy.stats import multivariate_normal, norm

from tests import realistic_go as _go


@dataclass(frozen=True)
class Program:
    name: str
    fn: Callable
    build: Callable[[np.random.Generator], tuple]
    wrt: tuple
    style: str          # "loop" or "vectorized"
    model: str

    def arguments(self):
        """The seeded example arguments (the same on every call)."""
        seed = zlib.crc32(self.name.encode())
        return self.build(np.random.default_rng(seed))


PROGRAMS: list[Program] = []


def program(build, wrt=(0,), style="loop", model=None):
    """Register the decorated function with its argument builder."""
    def register(fn):
        PROGRAMS.append(Program(fn.__name__, fn, build, tuple(wrt), style, model or fn.__name__))
        return fn
    return register


# =============================================================================================
# ADBench (github:microsoft/ADBench): GMM objective, bundle adjustment, LSTM.
# Ported from src/python/modules/PyTorch/ and the numpy reference objectives in
# src/python/shared/ (gmm_objective, ba_objective, lstm_objective); the loop versions follow
# the C++ reference (src/cpp/shared/*.h), which loops over points, components and cells.
# =============================================================================================

def _gmm_args(rng, n=6, d=3, k=2):
    alphas = rng.normal(size=k)
    means = rng.normal(size=(k, d))
    icf = rng.normal(scale=0.3, size=(k, d + d * (d - 1) // 2))
    x = rng.normal(size=(n, d))
    return alphas, means, icf, x, 1.3, 2


def _gmm_logsumexp(v):
    top = np.max(v)
    return np.log(np.sum(np.exp(v - top))) + top


def _gmm_lower_triangle(d, icf_row):
    # The strict lower triangle is stored column by column after the d log-diagonal entries.
    L = np.zeros((d, d))
    idx = d
    for i in range(d):
        for j in range(i + 1, d):
            L[j, i] = icf_row[idx]
            idx += 1
    return L


@program(_gmm_args, wrt=(0, 1, 2), style="vectorized", model="gmm")
def gmm_objective_vec(alphas, means, icf, x, wishart_gamma, wishart_m):
    n, d = x.shape
    k = alphas.shape[0]  # noqa: F841 (as ADBench writes it)
    q_diags = np.exp(icf[:, :d])
    sum_qs = np.sum(icf[:, :d], axis=1)
    Ls = np.stack([_gmm_lower_triangle(d, row) for row in icf])
    centered = x[:, None, :] - means[None, :, :]                      # (n, k, d)
    Lx = q_diags[None, :, :] * centered + np.einsum('kij,nkj->nki', Ls, centered)
    inner = alphas[None, :] + sum_qs[None, :] - 0.5 * np.sum(Lx ** 2, axis=2)
    top = np.max(inner, axis=1, keepdims=True)
    lse = np.log(np.sum(np.exp(inner - top), axis=1)) + top[:, 0]
    const = -n * d * 0.5 * math.log(2 * math.pi)
    frobenius = np.sum(q_diags ** 2) + np.sum(icf[:, d:] ** 2)
    prior = 0.5 * wishart_gamma ** 2 * frobenius - wishart_m * np.sum(sum_qs)
    return const + np.sum(lse) - n * _gmm_logsumexp(alphas) + prior


@program(_gmm_args, wrt=(0, 1, 2), style="loop", model="gmm")
def gmm_objective_loop(alphas, means, icf, x, wishart_gamma, wishart_m):
    n = x.shape[0]
    d = x.shape[1]
    k = alphas.shape[0]
    slse = 0.0
    main = np.zeros(k)
    for i in range(n):
        for ik in range(k):
            sum_q = 0.0
            for j in range(d):
                sum_q += icf[ik, j]
            # Q (x - mu): exp(q) on the diagonal, the strict lower triangle stored column by
            # column after the d diagonal entries (as ADBench's Qtimesx).
            Lx = np.zeros(d)
            for r in range(d):
                Lx[r] = math.exp(icf[ik, r]) * (x[i, r] - means[ik, r])
            idx = d
            for c in range(d):
                for r in range(c + 1, d):
                    Lx[r] += icf[ik, idx] * (x[i, c] - means[ik, c])
                    idx += 1
            sq = 0.0
            for r in range(d):
                sq += Lx[r] * Lx[r]
            main[ik] = alphas[ik] + sum_q - 0.5 * sq
        top = main[0]
        for ik in range(1, k):
            if main[ik] > top:
                top = main[ik]
        total = 0.0
        for ik in range(k):
            total += math.exp(main[ik] - top)
        slse += math.log(total) + top
    top = alphas[0]
    for ik in range(1, k):
        if alphas[ik] > top:
            top = alphas[ik]
    total = 0.0
    for ik in range(k):
        total += math.exp(alphas[ik] - top)
    lse_alphas = math.log(total) + top
    prior = 0.0
    for ik in range(k):
        frob = 0.0
        sum_q = 0.0
        for j in range(d):
            frob += math.exp(2.0 * icf[ik, j])
            sum_q += icf[ik, j]
        for j in range(d, icf.shape[1]):
            frob += icf[ik, j] * icf[ik, j]
        prior += 0.5 * wishart_gamma * wishart_gamma * frob - wishart_m * sum_q
    return -n * d * 0.5 * math.log(2 * math.pi) + slse - n * lse_alphas + prior


# Bundle adjustment: camera = [rotation (Rodrigues, 3), centre (3), focal (1), principal
# point (2), radial distortion (2)]; the objective is the sum of squared reprojection errors
# weighted as ADBench's (w * (projection - feature)) plus its Zach weight terms (1 - w^2).
ROT_IDX, C_IDX, F_IDX, X0_IDX, RAD_IDX = 0, 3, 6, 7, 9


def _ba_args(rng, n_cams=2, n_points=4, n_obs=6):
    cams = np.empty((n_cams, 11))
    cams[:, 0:3] = rng.normal(scale=0.2, size=(n_cams, 3))
    cams[:, 3:6] = rng.normal(scale=0.3, size=(n_cams, 3))
    cams[:, 6] = rng.uniform(0.8, 1.2, size=n_cams)
    cams[:, 7:9] = rng.normal(scale=0.1, size=(n_cams, 2))
    cams[:, 9:11] = rng.normal(scale=0.05, size=(n_cams, 2))
    X = rng.normal(scale=0.5, size=(n_points, 3))
    X[:, 2] += 5.0                        # in front of the cameras
    w = rng.uniform(0.5, 1.0, size=n_obs)
    obs = np.stack([np.arange(n_obs) % n_cams, np.arange(n_obs) % n_points], axis=1)
    feats = rng.normal(scale=0.1, size=(n_obs, 2))
    return cams, X, w, obs, feats


def _rodrigues_rotate_point(rot, X):
    sqtheta = np.sum(rot ** 2)
    if sqtheta != 0:
        theta = np.sqrt(sqtheta)
        costheta = np.cos(theta)
        sintheta = np.sin(theta)
        w = rot / theta
        w_cross_X = np.cross(w, X)
        tmp = np.dot(w, X) * (1.0 - costheta)
        return X * costheta + w_cross_X * sintheta + w * tmp
    return X + np.cross(rot, X)


def _radial_distort(rad_params, proj):
    rsq = np.sum(proj ** 2)
    L = 1.0 + rad_params[0] * rsq + rad_params[1] * rsq * rsq
    return proj * L


def _ba_project(cam, X):
    Xcam = _rodrigues_rotate_point(cam[ROT_IDX:ROT_IDX + 3], X - cam[C_IDX:C_IDX + 3])
    distorted = _radial_distort(cam[RAD_IDX:RAD_IDX + 2], Xcam[0:2] / Xcam[2])
    return distorted * cam[F_IDX] + cam[X0_IDX:X0_IDX + 2]


@program(_ba_args, wrt=(0, 1, 2), style="vectorized", model="bundle_adjustment")
def ba_objective_vec(cams, X, w, obs, feats):
    # ADBench's python module, per observation, with numpy vector helpers
    total = 0.0
    for i in range(obs.shape[0]):
        err = w[i] * (_ba_project(cams[obs[i, 0]], X[obs[i, 1]]) - feats[i])
        total += np.sum(err ** 2)
    return total + np.sum((1.0 - w ** 2) ** 2)


@program(_ba_args, wrt=(0, 1, 2), style="vectorized", model="bundle_adjustment")
def ba_objective_batched(cams, X, w, obs, feats):
    # the same, all observations at once: gather the cameras and points of each observation
    C = cams[obs[:, 0]]
    P = X[obs[:, 1]] - C[:, C_IDX:C_IDX + 3]
    rot = C[:, ROT_IDX:ROT_IDX + 3]
    theta = np.sqrt(np.sum(rot ** 2, axis=1, keepdims=True))
    axis = rot / theta
    cos_t, sin_t = np.cos(theta), np.sin(theta)
    Xcam = (P * cos_t + np.cross(axis, P) * sin_t
            + axis * np.sum(axis * P, axis=1, keepdims=True) * (1.0 - cos_t))
    proj = Xcam[:, :2] / Xcam[:, 2:3]
    rsq = np.sum(proj ** 2, axis=1, keepdims=True)
    distort = 1.0 + C[:, RAD_IDX:RAD_IDX + 1] * rsq + C[:, RAD_IDX + 1:RAD_IDX + 2] * rsq ** 2
    predicted = proj * distort * C[:, F_IDX:F_IDX + 1] + C[:, X0_IDX:X0_IDX + 2]
    err = w[:, None] * (predicted - feats)
    return np.sum(err ** 2) + np.sum((1.0 - w ** 2) ** 2)


@program(_ba_args, wrt=(0, 1, 2), style="loop", model="bundle_adjustment")
def ba_objective_loop(cams, X, w, obs, feats):
    # the C++ reference's scalar code: cross products and dot products written out
    total = 0.0
    for i in range(obs.shape[0]):
        c = obs[i, 0]
        p = obs[i, 1]
        x0 = X[p, 0] - cams[c, 3]
        x1 = X[p, 1] - cams[c, 4]
        x2 = X[p, 2] - cams[c, 5]
        r0 = cams[c, 0]
        r1 = cams[c, 1]
        r2 = cams[c, 2]
        sqtheta = r0 * r0 + r1 * r1 + r2 * r2
        theta = math.sqrt(sqtheta)
        costheta = math.cos(theta)
        sintheta = math.sin(theta)
        w0 = r0 / theta
        w1 = r1 / theta
        w2 = r2 / theta
        tmp = (w0 * x0 + w1 * x1 + w2 * x2) * (1.0 - costheta)
        y0 = x0 * costheta + (w1 * x2 - w2 * x1) * sintheta + w0 * tmp
        y1 = x1 * costheta + (w2 * x0 - w0 * x2) * sintheta + w1 * tmp
        y2 = x2 * costheta + (w0 * x1 - w1 * x0) * sintheta + w2 * tmp
        p0 = y0 / y2
        p1 = y1 / y2
        rsq = p0 * p0 + p1 * p1
        L = 1.0 + cams[c, 9] * rsq + cams[c, 10] * rsq * rsq
        e0 = w[i] * (p0 * L * cams[c, 6] + cams[c, 7] - feats[i, 0])
        e1 = w[i] * (p1 * L * cams[c, 6] + cams[c, 8] - feats[i, 1])
        total += e0 * e0 + e1 * e1
    for i in range(w.shape[0]):
        total += (1.0 - w[i] * w[i]) ** 2
    return total


# LSTM: ADBench's diagonal LSTM (elementwise weights), `layers` stacked cells, a log-softmax
# prediction of the next character; main_params (2 * layers, 4 * b), extra_params (3, b),
# state (2 * layers, b), sequence (c, b).

def _lstm_args(rng, layers=2, b=3, c=4):
    main = rng.normal(scale=0.5, size=(2 * layers, 4 * b))
    extra = rng.normal(scale=0.5, size=(3, b))
    state = rng.normal(scale=0.5, size=(2 * layers, b))
    sequence = rng.normal(scale=0.5, size=(c, b))
    return main, extra, state, sequence


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _lstm_model(weight, bias, hidden, cell, inp):
    gates = np.concatenate((inp, hidden, inp, hidden)) * weight + bias
    h = hidden.shape[0]
    forget = _sigmoid(gates[0:h])
    ingate = _sigmoid(gates[h:2 * h])
    outgate = _sigmoid(gates[2 * h:3 * h])
    change = np.tanh(gates[3 * h:])
    cell = cell * forget + ingate * change
    hidden = outgate * np.tanh(cell)
    return hidden, cell


def _lstm_predict(w, w2, s, x):
    s2 = s.copy()
    x = x * w2[0]
    for i in range(0, len(s), 2):
        s2[i], s2[i + 1] = _lstm_model(w[i], w[i + 1], s[i], s[i + 1], x)
        x = s2[i]
    return x * w2[1] + w2[2], s2


@program(_lstm_args, wrt=(0, 1), style="vectorized", model="lstm")
def lstm_objective_vec(main_params, extra_params, state, sequence):
    total = 0.0
    count = 0
    inp = sequence[0]
    for t in range(len(sequence) - 1):
        ypred, state = _lstm_predict(main_params, extra_params, state, inp)
        ynorm = ypred - np.log(np.sum(np.exp(ypred)) + 2.0)
        ygold = sequence[t + 1]
        total += np.sum(ygold * ynorm)
        count += ygold.shape[0]
        inp = ygold
    return -total / count


@program(_lstm_args, wrt=(0, 1), style="loop", model="lstm")
def lstm_objective_loop(main_params, extra_params, state, sequence):
    # the C++ reference: every gate element by element, state updated in place
    layers = state.shape[0] // 2
    b = state.shape[1]
    s = state.copy()
    x = np.zeros(b)
    total = 0.0
    count = 0
    for t in range(sequence.shape[0] - 1):
        for j in range(b):
            x[j] = sequence[t, j] * extra_params[0, j]
        for layer in range(layers):
            wi = 2 * layer
            for j in range(b):
                hid = s[wi, j]
                f = 1.0 / (1.0 + math.exp(-(x[j] * main_params[wi, j] + main_params[wi + 1, j])))
                ig = 1.0 / (1.0 + math.exp(-(hid * main_params[wi, b + j] + main_params[wi + 1, b + j])))
                og = 1.0 / (1.0 + math.exp(-(x[j] * main_params[wi, 2 * b + j] + main_params[wi + 1, 2 * b + j])))
                ch = math.tanh(hid * main_params[wi, 3 * b + j] + main_params[wi + 1, 3 * b + j])
                s[wi + 1, j] = s[wi + 1, j] * f + ig * ch
                s[wi, j] = og * math.tanh(s[wi + 1, j])
                x[j] = s[wi, j]
        lse = 0.0
        for j in range(b):
            lse += math.exp(x[j] * extra_params[1, j] + extra_params[2, j])
        lse = math.log(lse + 2.0)
        for j in range(b):
            total += sequence[t + 1, j] * (x[j] * extra_params[1, j] + extra_params[2, j] - lse)
        count += b
    return -total / count


# =============================================================================================
# Hidden Markov model: the forward algorithm's log-likelihood (Rabiner 1989, the scaled
# recursion of section V.A; the log-space form as in hmmlearn's _hmmc and pomegranate).
# Parameters are row-stochastic matrices built from unconstrained logits by a softmax.
# =============================================================================================

def _hmm_args(rng, states=3, symbols=4, steps=6):
    return (rng.normal(size=(states, states)), rng.normal(size=(states, symbols)),
            rng.normal(size=states), rng.integers(0, symbols, size=steps))


def _row_softmax(z):
    e = np.exp(z - np.max(z, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


@program(_hmm_args, wrt=(0, 1, 2), style="vectorized", model="hmm_forward")
def hmm_forward_scaled_vec(trans_logits, emit_logits, init_logits, obs):
    A = _row_softmax(trans_logits)
    B = _row_softmax(emit_logits)
    pi = _row_softmax(init_logits)
    alpha = pi * B[:, obs[0]]
    c = alpha.sum()
    loglik = np.log(c)
    alpha = alpha / c
    for t in range(1, len(obs)):
        alpha = (alpha @ A) * B[:, obs[t]]
        c = alpha.sum()
        loglik += np.log(c)
        alpha = alpha / c
    return loglik


def _logsumexp_axis0(a):
    top = np.max(a, axis=0)
    return top + np.log(np.sum(np.exp(a - top), axis=0))


@program(_hmm_args, wrt=(0, 1, 2), style="vectorized", model="hmm_forward")
def hmm_forward_log_vec(trans_logits, emit_logits, init_logits, obs):
    log_A = trans_logits - np.log(np.sum(np.exp(trans_logits), axis=1))[:, None]
    log_B = emit_logits - np.log(np.sum(np.exp(emit_logits), axis=1))[:, None]
    log_pi = init_logits - np.log(np.sum(np.exp(init_logits)))
    log_alpha = log_pi + log_B[:, obs[0]]
    for t in range(1, len(obs)):
        log_alpha = _logsumexp_axis0(log_alpha[:, None] + log_A) + log_B[:, obs[t]]
    top = np.max(log_alpha)
    return top + np.log(np.sum(np.exp(log_alpha - top)))


@program(_hmm_args, wrt=(0, 1, 2), style="loop", model="hmm_forward")
def hmm_forward_loop(trans_logits, emit_logits, init_logits, obs):
    S = trans_logits.shape[0]
    V = emit_logits.shape[1]
    A = np.zeros((S, S))
    B = np.zeros((S, V))
    for i in range(S):
        z = 0.0
        for j in range(S):
            z += math.exp(trans_logits[i, j])
        for j in range(S):
            A[i, j] = math.exp(trans_logits[i, j]) / z
        z = 0.0
        for v in range(V):
            z += math.exp(emit_logits[i, v])
        for v in range(V):
            B[i, v] = math.exp(emit_logits[i, v]) / z
    z = 0.0
    for i in range(S):
        z += math.exp(init_logits[i])
    alpha = np.zeros(S)
    for i in range(S):
        alpha[i] = math.exp(init_logits[i]) / z * B[i, obs[0]]
    loglik = 0.0
    for t in range(1, obs.shape[0]):
        c = 0.0
        for i in range(S):
            c += alpha[i]
        loglik += math.log(c)
        new = np.zeros(S)
        for j in range(S):
            acc = 0.0
            for i in range(S):
                acc += alpha[i] / c * A[i, j]
            new[j] = acc * B[j, obs[t]]
        alpha = new
    c = 0.0
    for i in range(S):
        c += alpha[i]
    return loglik + math.log(c)


# =============================================================================================
# Kalman filter log-likelihood (Durbin & Koopman, "Time Series Analysis by State Space
# Methods", the local level model of chapter 2; the matrix form as statsmodels' and
# filterpy's predict/update): the prediction-error decomposition of the likelihood.
# =============================================================================================

def _kalman_args(rng, steps=8):
    y = np.cumsum(rng.normal(scale=0.5, size=steps)) + rng.normal(scale=0.3, size=steps)
    return np.array([-0.5, -1.0]), y


@program(_kalman_args, wrt=(0,), style="loop", model="kalman")
def kalman_local_level_loop(log_vars, y):
    q = math.exp(log_vars[0])
    r = math.exp(log_vars[1])
    m = 0.0
    P = 10.0
    loglik = 0.0
    for t in range(len(y)):
        P = P + q
        S = P + r
        v = y[t] - m
        loglik += -0.5 * (math.log(2.0 * math.pi * S) + v * v / S)
        K = P / S
        m = m + K * v
        P = (1.0 - K) * P
    return loglik


@program(_kalman_args, wrt=(0,), style="vectorized", model="kalman")
def kalman_constant_velocity_vec(log_vars, y):
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    H = np.array([[1.0, 0.0]])
    Q = np.exp(log_vars[0]) * np.array([[0.25, 0.5], [0.5, 1.0]])
    R = np.exp(log_vars[1]) * np.eye(1)
    x = np.zeros((2, 1))
    P = 10.0 * np.eye(2)
    loglik = 0.0
    for t in range(len(y)):
        x = F @ x
        P = F @ P @ F.T + Q
        v = y[t] - H @ x
        S = H @ P @ H.T + R
        K = P @ H.T @ np.linalg.inv(S)
        loglik -= 0.5 * (np.log(2 * np.pi * np.linalg.det(S)) + (v.T @ np.linalg.solve(S, v))[0, 0])
        x = x + K @ v
        P = (np.eye(2) - K @ H) @ P
    return loglik


@program(_kalman_args, wrt=(0,), style="vectorized", model="kalman")
def kalman_constant_velocity_explicit(log_vars, y):
    # the same filter, the 2x2 algebra written with scalar observations (S is 1x1)
    q = np.exp(log_vars[0])
    r = np.exp(log_vars[1])
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    Q = q * np.array([[0.25, 0.5], [0.5, 1.0]])
    x = np.zeros(2)
    P = 10.0 * np.eye(2)
    loglik = 0.0
    for t in range(len(y)):
        x = F @ x
        P = F @ P @ F.T + Q
        S = P[0, 0] + r
        v = y[t] - x[0]
        K = P[:, 0] / S
        loglik -= 0.5 * (np.log(2 * np.pi * S) + v * v / S)
        x = x + K * v
        P = P - np.outer(K, P[0, :])
    return loglik


# =============================================================================================
# PDE stencils: the explicit (FTCS) heat equation, as in every numerical-methods course
# (e.g. Barba's "12 steps to Navier-Stokes", step 3, github:barbagroup/CFDPython), and a
# Dirichlet (smoothness) energy on an image grid as in total-variation denoising tutorials.
# =============================================================================================

def _heat_args(rng, n=12):
    x = np.linspace(0.0, 1.0, n)
    return np.sin(math.pi * x) + 0.1 * rng.normal(size=n), 0.8, 10


@program(_heat_args, wrt=(0, 1), style="vectorized", model="heat_equation")
def heat_ftcs_vec(u0, nu, nt):
    dx = 1.0 / (len(u0) - 1)
    dt = 0.2 * dx * dx
    u = u0.copy()
    for n in range(nt):
        un = u.copy()
        u[1:-1] = un[1:-1] + nu * dt / dx ** 2 * (un[2:] - 2 * un[1:-1] + un[:-2])
    return np.sum(u ** 2) * dx


@program(_heat_args, wrt=(0, 1), style="loop", model="heat_equation")
def heat_ftcs_loop(u0, nu, nt):
    nx = u0.shape[0]
    dx = 1.0 / (nx - 1)
    dt = 0.2 * dx * dx
    u = u0.copy()
    for n in range(nt):
        un = u.copy()
        for i in range(1, nx - 1):
            u[i] = un[i] + nu * dt / dx ** 2 * (un[i + 1] - 2 * un[i] + un[i - 1])
    total = 0.0
    for i in range(nx):
        total += u[i] * u[i]
    return total * dx


# Barba's "12 steps to Navier-Stokes" (github:barbagroup/CFDPython), steps 2, 4 and 7: nonlinear
# convection (the array-operations form `u[1:] = ...` and the loop), Burgers' equation with
# periodic boundaries, 2-D diffusion with its boundary rows and columns set every step.

def _convection_args(rng, nx=21):
    x = np.linspace(0.0, 2.0, nx)
    return 1.0 + np.exp(-((x - 0.6) / 0.25) ** 2) + 0.05 * rng.normal(size=nx), 12, 0.01


@program(_convection_args, wrt=(0, 2), style="vectorized", model="nonlinear_convection")
def convection_nonlinear_vec(u0, nt, dt):
    dx = 2 / (len(u0) - 1)
    u = u0.copy()
    for n in range(nt):
        un = u.copy()
        u[1:] = un[1:] - un[1:] * dt / dx * (un[1:] - un[:-1])
    return np.sum(u ** 2) * dx


@program(_convection_args, wrt=(0, 2), style="loop", model="nonlinear_convection")
def convection_nonlinear_loop(u0, nt, dt):
    nx = len(u0)
    dx = 2 / (nx - 1)
    u = u0.copy()
    for n in range(nt):
        un = u.copy()
        for i in range(1, nx):
            u[i] = un[i] - un[i] * dt / dx * (un[i] - un[i - 1])
    total = 0.0
    for i in range(nx):
        total += u[i] ** 2
    return total * dx


def _burgers_args(rng, nx=16):
    x = np.linspace(0.0, 2.0 * np.pi, nx)
    return 4.0 + np.sin(x) + 0.1 * rng.normal(size=nx), 0.07, 8


@program(_burgers_args, wrt=(0, 1), style="loop", model="burgers")
def burgers_periodic_loop(u0, nu, nt):
    nx = len(u0)
    dx = 2 * np.pi / (nx - 1)
    dt = dx * nu
    u = u0.copy()
    for n in range(nt):
        un = u.copy()
        for i in range(1, nx - 1):
            u[i] = un[i] - un[i] * dt / dx * (un[i] - un[i - 1]) + nu * dt / dx ** 2 * \
                (un[i + 1] - 2 * un[i] + un[i - 1])
        u[0] = un[0] - un[0] * dt / dx * (un[0] - un[-2]) + nu * dt / dx ** 2 * \
            (un[1] - 2 * un[0] + un[-2])
        u[-1] = u[0]
    return np.sum(u ** 2) * dx


def _diffusion_args(rng, nx=7, ny=6):
    u = np.ones((ny, nx))
    u[2:4, 2:5] = 2.0
    return u + 0.1 * rng.normal(size=(ny, nx)), 0.05, 5


@program(_diffusion_args, wrt=(0, 1), style="vectorized", model="diffusion_2d")
def diffusion_2d_vec(u0, nu, nt):
    dx = 2 / (u0.shape[1] - 1)
    dy = 2 / (u0.shape[0] - 1)
    sigma = 0.25
    dt = sigma * dx * dy / nu
    u = u0.copy()
    for n in range(nt + 1):
        un = u.copy()
        u[1:-1, 1:-1] = (un[1:-1, 1:-1] +
                         nu * dt / dx ** 2 * (un[1:-1, 2:] - 2 * un[1:-1, 1:-1] + un[1:-1, 0:-2]) +
                         nu * dt / dy ** 2 * (un[2:, 1:-1] - 2 * un[1:-1, 1:-1] + un[0:-2, 1:-1]))
        u[0, :] = 1
        u[-1, :] = 1
        u[:, 0] = 1
        u[:, -1] = 1
    return np.sum(u ** 3) * dx * dy


# Langtangen & Linge, "Finite Difference Computing with PDEs" (github:hplgit/fdm-book),
# wave1D_u0.py: the 1-D wave equation, leapfrog in time, the special first step, u = 0 at both
# ends, and the "safe" update of the time levels (u_nm1[:] = u_n; u_n[:] = u); the vectorized
# solver writes the inner points as one slice.

def _wave_args(rng, nx=11):
    x = np.linspace(0.0, 1.0, nx)
    return np.sin(np.pi * x) * (1.0 + 0.1 * rng.normal(size=nx)), 0.6, 9


@program(_wave_args, wrt=(0, 1), style="loop", model="wave_equation")
def wave_leapfrog_loop(I, C, Nt):  # noqa: E741 (the book's name for the initial condition)
    Nx = len(I) - 1
    C2 = C ** 2
    u = np.zeros(Nx + 1)
    u_n = np.zeros(Nx + 1)
    u_nm1 = np.zeros(Nx + 1)
    for i in range(0, Nx + 1):
        u_n[i] = I[i]
    for i in range(1, Nx):
        u[i] = u_n[i] + 0.5 * C2 * (u_n[i - 1] - 2 * u_n[i] + u_n[i + 1])
    u[0] = 0
    u[Nx] = 0
    u_nm1[:] = u_n
    u_n[:] = u
    for n in range(1, Nt):
        for i in range(1, Nx):
            u[i] = - u_nm1[i] + 2 * u_n[i] + C2 * (u_n[i - 1] - 2 * u_n[i] + u_n[i + 1])
        u[0] = 0
        u[Nx] = 0
        u_nm1[:] = u_n
        u_n[:] = u
    return np.sum(u ** 2)


@program(_wave_args, wrt=(0, 1), style="vectorized", model="wave_equation")
def wave_leapfrog_vec(I, C, Nt):  # noqa: E741
    Nx = len(I) - 1
    C2 = C ** 2
    u = np.zeros(Nx + 1)
    u_n = I.copy()
    u[1:-1] = u_n[1:-1] + 0.5 * C2 * (u_n[:-2] - 2 * u_n[1:-1] + u_n[2:])
    u[0] = 0
    u[Nx] = 0
    u_nm1 = u_n.copy()
    u_n = u.copy()
    for n in range(1, Nt):
        u[1:-1] = - u_nm1[1:-1] + 2 * u_n[1:-1] + C2 * (u_n[:-2] - 2 * u_n[1:-1] + u_n[2:])
        u[0] = 0
        u[Nx] = 0
        u_nm1[:] = u_n
        u_n[:] = u
    return np.sum(u ** 2)


@program(_wave_args, wrt=(0, 1), style="vectorized", model="wave_equation")
def wave_leapfrog_swap_vec(I, C, Nt):  # noqa: E741
    # wave1D_u0.py's fast update: the three time levels' arrays change names, none is copied
    Nx = len(I) - 1
    C2 = C ** 2
    u = np.zeros(Nx + 1)
    u_n = I.copy()
    u_nm1 = np.zeros(Nx + 1)
    u[1:-1] = u_n[1:-1] + 0.5 * C2 * (u_n[:-2] - 2 * u_n[1:-1] + u_n[2:])
    u[0] = 0
    u[Nx] = 0
    u_nm1, u_n, u = u_n, u, u_nm1
    for n in range(1, Nt):
        u[1:-1] = - u_nm1[1:-1] + 2 * u_n[1:-1] + C2 * (u_n[:-2] - 2 * u_n[1:-1] + u_n[2:])
        u[0] = 0
        u[Nx] = 0
        u_nm1, u_n, u = u_n, u, u_nm1
    return np.sum(u_n ** 2)


# Fisher-KPP reaction-diffusion, forward Euler with a new array per step (u_new[i] from u[i - 1],
# u[i], u[i + 1]) and zero-flux ends, as in course notes on explicit finite differences.

def _fisher_args(rng, nx=14):
    x = np.linspace(0.0, 1.0, nx)
    return 0.5 * np.exp(-((x - 0.3) / 0.1) ** 2) + 0.02 * rng.uniform(size=nx), 0.8, 0.01


@program(_fisher_args, wrt=(0, 1, 2), style="loop", model="fisher_kpp")
def fisher_kpp_loop(u0, r, D):
    nx = len(u0)
    dx = 1.0 / (nx - 1)
    dt = 0.2 * dx * dx / D
    u = u0.copy()
    for step in range(20):
        u_new = np.zeros(nx)
        for i in range(1, nx - 1):
            u_new[i] = u[i] + dt * (D * (u[i + 1] - 2 * u[i] + u[i - 1]) / dx ** 2 + r * u[i] * (1 - u[i]))
        u_new[0] = u_new[1]
        u_new[nx - 1] = u_new[nx - 2]
        u = u_new
    return np.sum(u) * dx


def _grid_args(rng):
    return rng.normal(size=(5, 6)), rng.normal(size=(5, 6)), 0.3


@program(_grid_args, wrt=(0,), style="vectorized", model="dirichlet_energy")
def smoothing_energy_vec(u, noisy, lam):
    fidelity = 0.5 * np.sum((u - noisy) ** 2)
    dx = np.diff(u, axis=1)
    dy = np.diff(u, axis=0)
    return fidelity + lam * (np.sum(dx ** 2) + np.sum(dy ** 2))


@program(_grid_args, wrt=(0,), style="loop", model="dirichlet_energy")
def smoothing_energy_loop(u, noisy, lam):
    rows, cols = u.shape
    energy = 0.0
    for i in range(rows):
        for j in range(cols):
            energy += 0.5 * (u[i, j] - noisy[i, j]) ** 2
            if j + 1 < cols:
                energy += lam * (u[i, j + 1] - u[i, j]) ** 2
            if i + 1 < rows:
                energy += lam * (u[i + 1, j] - u[i, j]) ** 2
    return energy


# =============================================================================================
# Physics: a hanging mass-spring chain (energy and a symplectic-Euler simulation, as in
# DiffTaichi's mass_spring example, github:yuanming-hu/difftaichi), and n-body gravity
# (potential + kinetic energy as in the Computer Language Benchmarks Game's nbody).
# =============================================================================================

def _chain_args(rng, n=6):
    pos = np.stack([np.arange(n, dtype=float), np.zeros(n)], axis=1) + 0.1 * rng.normal(size=(n, 2))
    return pos, 20.0, 0.9, 0.5


@program(_chain_args, wrt=(0, 1), style="loop", model="spring_energy")
def spring_energy_loop(pos, stiffness, rest_length, mass):
    n = pos.shape[0]
    energy = 0.0
    for i in range(n - 1):
        dx = pos[i + 1, 0] - pos[i, 0]
        dy = pos[i + 1, 1] - pos[i, 1]
        length = math.sqrt(dx * dx + dy * dy)
        energy += 0.5 * stiffness * (length - rest_length) ** 2
    for i in range(n):
        energy += mass * 9.81 * pos[i, 1]
    return energy


@program(_chain_args, wrt=(0, 1), style="vectorized", model="spring_energy")
def spring_energy_vec(pos, stiffness, rest_length, mass):
    lengths = np.linalg.norm(pos[1:] - pos[:-1], axis=1)
    return 0.5 * stiffness * np.sum((lengths - rest_length) ** 2) + mass * 9.81 * np.sum(pos[:, 1])


def _chain_sim_args(rng, n=4):
    pos = np.stack([np.arange(n, dtype=float), np.zeros(n)], axis=1)
    return pos, 0.1 * rng.normal(size=(n, 2)), 30.0, 12


@program(_chain_sim_args, wrt=(0, 1, 2), style="vectorized", model="spring_simulation")
def spring_simulation_vec(x0, v0, stiffness, steps):
    dt = 0.01
    x = x0.copy()
    v = v0.copy()
    for t in range(steps):
        d = x[1:] - x[:-1]
        length = np.sqrt(np.sum(d * d, axis=1))
        force = (stiffness * (length - 1.0) / length)[:, None] * d
        f = np.zeros_like(x)
        f[:-1] += force
        f[1:] -= force
        f[:, 1] -= 9.81
        v = v + dt * f
        x = x + dt * v
    return np.sum(x[-1] ** 2)


@program(_chain_sim_args, wrt=(0, 1, 2), style="loop", model="spring_simulation")
def spring_simulation_loop(x0, v0, stiffness, steps):
    dt = 0.01
    n = x0.shape[0]
    x = x0.copy()
    v = v0.copy()
    for t in range(steps):
        f = np.zeros((n, 2))
        for i in range(n):
            f[i, 1] = -9.81
        for i in range(n - 1):
            dx = x[i + 1, 0] - x[i, 0]
            dy = x[i + 1, 1] - x[i, 1]
            length = math.sqrt(dx * dx + dy * dy)
            scale = stiffness * (length - 1.0) / length
            f[i, 0] += scale * dx
            f[i, 1] += scale * dy
            f[i + 1, 0] -= scale * dx
            f[i + 1, 1] -= scale * dy
        for i in range(n):
            v[i, 0] = v[i, 0] + dt * f[i, 0]
            v[i, 1] = v[i, 1] + dt * f[i, 1]
            x[i, 0] = x[i, 0] + dt * v[i, 0]
            x[i, 1] = x[i, 1] + dt * v[i, 1]
    return x[n - 1, 0] ** 2 + x[n - 1, 1] ** 2


def _nbody_args(rng, n=5):
    return rng.normal(size=(n, 3)), rng.normal(scale=0.3, size=(n, 3)), rng.uniform(0.5, 2.0, size=n)


@program(_nbody_args, wrt=(0, 1, 2), style="loop", model="nbody_energy")
def nbody_energy_loop(pos, vel, mass):
    n = pos.shape[0]
    e = 0.0
    for i in range(n):
        e += 0.5 * mass[i] * (vel[i, 0] ** 2 + vel[i, 1] ** 2 + vel[i, 2] ** 2)
        for j in range(i + 1, n):
            dx = pos[i, 0] - pos[j, 0]
            dy = pos[i, 1] - pos[j, 1]
            dz = pos[i, 2] - pos[j, 2]
            e -= mass[i] * mass[j] / math.sqrt(dx * dx + dy * dy + dz * dz + 0.01)
    return e


@program(_nbody_args, wrt=(0, 1, 2), style="vectorized", model="nbody_energy")
def nbody_energy_vec(pos, vel, mass):
    kinetic = 0.5 * np.sum(mass[:, None] * vel ** 2)
    diff = pos[:, None, :] - pos[None, :, :]
    dist = np.sqrt(np.sum(diff ** 2, axis=-1) + 0.01)
    pair = np.outer(mass, mass) / dist
    potential = -0.5 * (np.sum(pair) - np.trace(pair))
    return kinetic + potential


@program(_nbody_args, wrt=(0, 1, 2), style="vectorized", model="nbody_leapfrog")
def nbody_leapfrog_vec(pos, vel, mass):
    dt = 0.01
    x = pos
    v = vel
    for step in range(5):
        diff = x[None, :, :] - x[:, None, :]
        inv_r3 = (np.sum(diff ** 2, axis=-1) + 0.01) ** -1.5
        acc = np.sum(diff * (inv_r3 * mass[None, :])[:, :, None], axis=1)
        v = v + dt * acc
        x = x + dt * v
    return np.sum(x[:, 0])


@program(_nbody_args, wrt=(0, 1, 2), style="loop", model="nbody_leapfrog")
def nbody_leapfrog_loop(pos, vel, mass):
    dt = 0.01
    n = pos.shape[0]
    x = pos.copy()
    v = vel.copy()
    for step in range(5):
        for i in range(n):
            for j in range(n):
                if i != j:
                    dx = x[j, 0] - x[i, 0]
                    dy = x[j, 1] - x[i, 1]
                    dz = x[j, 2] - x[i, 2]
                    inv_r3 = (dx * dx + dy * dy + dz * dz + 0.01) ** -1.5
                    v[i, 0] += dt * mass[j] * dx * inv_r3
                    v[i, 1] += dt * mass[j] * dy * inv_r3
                    v[i, 2] += dt * mass[j] * dz * inv_r3
        for i in range(n):
            for k in range(3):
                x[i, k] += dt * v[i, k]
    total = 0.0
    for i in range(n):
        total += x[i, 0]
    return total


# =============================================================================================
# Option pricing without Monte Carlo: Black-Scholes with the error function (as in
# textbook code, Hull ch. 15), Black-Scholes with the polynomial normal CDF of the PARSEC
# blackscholes benchmark (Abramowitz & Stegun 26.2.17, CNDF with its sign branch), and the
# Cox-Ross-Rubinstein binomial tree.
# =============================================================================================

def _bs_args(rng, n=5):
    return 100.0, rng.uniform(80.0, 120.0, size=n), 0.25, 0.03, 1.5


def _norm_cdf(x):
    return 0.5 * (1.0 + math.erf(x / math.sqrt(2.0)))


@program(_bs_args, wrt=(0, 2, 3), style="loop", model="black_scholes_erf")
def black_scholes_erf_loop(spot, strikes, vol, rate, maturity):
    total = 0.0
    for i in range(len(strikes)):
        d1 = (math.log(spot / strikes[i]) + (rate + 0.5 * vol * vol) * maturity) / (vol * math.sqrt(maturity))
        d2 = d1 - vol * math.sqrt(maturity)
        total += spot * _norm_cdf(d1) - strikes[i] * math.exp(-rate * maturity) * _norm_cdf(d2)
    return total


@program(_bs_args, wrt=(0, 2, 3), style="vectorized", model="black_scholes_erf")
def black_scholes_erf_vec(spot, strikes, vol, rate, maturity):
    d1 = (np.log(spot / strikes) + (rate + 0.5 * vol ** 2) * maturity) / (vol * np.sqrt(maturity))
    d2 = d1 - vol * np.sqrt(maturity)
    return np.sum(spot * norm.cdf(d1) - strikes * np.exp(-rate * maturity) * norm.cdf(d2))


def _cndf(x):
    # PARSEC's CNDF: A&S 26.2.17 on |x|, reflected for negative x
    sign = 0
    if x < 0.0:
        x = -x
        sign = 1
    k = 1.0 / (1.0 + 0.2316419 * x)
    poly = k * (0.319381530 + k * (-0.356563782 + k * (1.781477937 + k * (-1.821255978 + k * 1.330274429))))
    n = 1.0 - math.exp(-0.5 * x * x) / math.sqrt(2.0 * math.pi) * poly
    if sign == 1:
        n = 1.0 - n
    return n


@program(_bs_args, wrt=(0, 2, 3), style="loop", model="black_scholes_parsec")
def black_scholes_parsec_loop(spot, strikes, vol, rate, maturity):
    total = 0.0
    for i in range(strikes.shape[0]):
        sqrt_t = math.sqrt(maturity)
        d1 = (math.log(spot / strikes[i]) + (rate + 0.5 * vol * vol) * maturity) / (vol * sqrt_t)
        d2 = d1 - vol * sqrt_t
        total += spot * _cndf(d1) - strikes[i] * math.exp(-rate * maturity) * _cndf(d2)
    return total


def _cndf_vec(x):
    ax = np.abs(x)
    k = 1.0 / (1.0 + 0.2316419 * ax)
    poly = k * (0.319381530 + k * (-0.356563782 + k * (1.781477937 + k * (-1.821255978 + k * 1.330274429))))
    n = 1.0 - np.exp(-0.5 * ax * ax) / np.sqrt(2.0 * np.pi) * poly
    return np.where(x < 0.0, 1.0 - n, n)


@program(_bs_args, wrt=(0, 2, 3), style="vectorized", model="black_scholes_parsec")
def black_scholes_parsec_vec(spot, strikes, vol, rate, maturity):
    sqrt_t = np.sqrt(maturity)
    d1 = (np.log(spot / strikes) + (rate + 0.5 * vol * vol) * maturity) / (vol * sqrt_t)
    d2 = d1 - vol * sqrt_t
    return np.sum(spot * _cndf_vec(d1) - strikes * np.exp(-rate * maturity) * _cndf_vec(d2))


def _crr_args(rng):
    return 100.0, 97.3, 0.2, 0.05, 1.0, 25


@program(_crr_args, wrt=(0, 2, 3), style="loop", model="binomial_tree")
def crr_call_loop(spot, strike, vol, rate, maturity, steps):
    dt = maturity / steps
    u = math.exp(vol * math.sqrt(dt))
    d = 1.0 / u
    p = (math.exp(rate * dt) - d) / (u - d)
    disc = math.exp(-rate * dt)
    values = np.zeros(steps + 1)
    for j in range(steps + 1):
        values[j] = max(spot * u ** j * d ** (steps - j) - strike, 0.0)
    for i in range(steps - 1, -1, -1):
        for j in range(i + 1):
            values[j] = disc * (p * values[j + 1] + (1.0 - p) * values[j])
    return values[0]


@program(_crr_args, wrt=(0, 2, 3), style="vectorized", model="binomial_tree")
def crr_call_vec(spot, strike, vol, rate, maturity, steps):
    dt = maturity / steps
    u = np.exp(vol * np.sqrt(dt))
    d = 1.0 / u
    p = (np.exp(rate * dt) - d) / (u - d)
    disc = np.exp(-rate * dt)
    j = np.arange(steps + 1)
    values = np.maximum(spot * u ** j * d ** (steps - j) - strike, 0.0)
    for i in range(steps, 0, -1):
        values = disc * (p * values[1:i + 1] + (1.0 - p) * values[:i])
    return values[0]


def _bond_args(rng, n=10):
    return 0.04, rng.uniform(1.0, 5.0, size=n)


@program(_bond_args, wrt=(0, 1), style="loop", model="bond_price")
def bond_price_loop(rate, cash_flows):
    pv = 0.0
    for t in range(len(cash_flows)):
        pv += cash_flows[t] / (1.0 + rate) ** (t + 1)
    return pv


@program(_bond_args, wrt=(0, 1), style="vectorized", model="bond_price")
def bond_price_vec(rate, cash_flows):
    times = np.arange(1, len(cash_flows) + 1)
    return np.sum(cash_flows / (1.0 + rate) ** times)


# =============================================================================================
# Machine learning losses: softmax cross-entropy (cs231n's softmax_loss_vectorized and
# softmax_loss_naive, github:cs231n/cs231n.github.io assignment 1), scaled dot-product attention
# (Vaswani et al. 2017; the numpy form of "The Annotated Transformer"), a two-layer network
# (autograd's examples/neural_net.py), logistic regression (JAX's quickstart "Taking
# derivatives with grad", with its module-level data; Tangent's tests/functions.py), elastic
# net (scikit-learn's documented objective), least squares, Huber, a 1-D convolution fit.
# =============================================================================================

def _softmax_args(rng, n=5, d=4, c=3):
    return rng.normal(scale=0.5, size=(d, c)), rng.normal(size=(n, d)), rng.integers(0, c, size=n), 0.1


@program(_softmax_args, wrt=(0,), style="loop", model="softmax_cross_entropy")
def softmax_loss_naive(W, X, y, reg):
    loss = 0.0
    num_train = X.shape[0]
    num_classes = W.shape[1]
    for i in range(num_train):
        scores = X[i].dot(W)
        scores -= np.max(scores)
        total = 0.0
        for j in range(num_classes):
            total += math.exp(scores[j])
        loss += -scores[y[i]] + math.log(total)
    loss /= num_train
    loss += reg * np.sum(W * W)
    return loss


@program(_softmax_args, wrt=(0,), style="vectorized", model="softmax_cross_entropy")
def softmax_loss_vectorized(W, X, y, reg):
    num_train = X.shape[0]
    scores = X.dot(W)
    scores -= np.max(scores, axis=1, keepdims=True)
    probs = np.exp(scores) / np.sum(np.exp(scores), axis=1, keepdims=True)
    loss = -np.sum(np.log(probs[np.arange(num_train), y])) / num_train
    return loss + reg * np.sum(W * W)


@program(_softmax_args, wrt=(0,), style="vectorized", model="softmax_cross_entropy")
def softmax_loss_onehot(W, X, y, reg):
    # the one-hot form, no fancy indexing: a comparison with a row of class indices
    scores = X @ W
    scores = scores - scores.max(axis=1).reshape(-1, 1)
    log_probs = scores - np.log(np.exp(scores).sum(axis=1)).reshape(-1, 1)
    onehot = (y[:, None] == np.arange(W.shape[1])[None, :]) * 1.0
    return -np.sum(onehot * log_probs) / X.shape[0] + reg * np.sum(W ** 2)


def _attention_args(rng, n=4, m=5, d=3):
    return rng.normal(size=(n, d)), rng.normal(size=(m, d)), rng.normal(size=(m, d))


@program(_attention_args, wrt=(0, 1, 2), style="vectorized", model="attention")
def attention_vec(Q, K, V):
    d_k = Q.shape[-1]
    scores = Q @ K.T / np.sqrt(d_k)
    scores = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)
    out = weights @ V
    return np.sum(out ** 2)


@program(_attention_args, wrt=(0, 1, 2), style="loop", model="attention")
def attention_loop(Q, K, V):
    n, d = Q.shape
    m = K.shape[0]
    total = 0.0
    for i in range(n):
        s = np.zeros(m)
        for j in range(m):
            acc = 0.0
            for k in range(d):
                acc += Q[i, k] * K[j, k]
            s[j] = acc / math.sqrt(d)
        top = s[0]
        for j in range(1, m):
            top = max(top, s[j])
        z = 0.0
        for j in range(m):
            s[j] = math.exp(s[j] - top)
            z += s[j]
        for k in range(d):
            o = 0.0
            for j in range(m):
                o += s[j] / z * V[j, k]
            total += o * o
    return total


def _mlp_args(rng, n=4, d=3, h=5, c=2):
    return (rng.normal(scale=0.5, size=(d, h)), rng.normal(scale=0.1, size=h),
            rng.normal(scale=0.5, size=(h, c)), rng.normal(scale=0.1, size=c),
            rng.normal(size=(n, d)), np.eye(c)[rng.integers(0, c, size=n)])


def _logsumexp_rows(a):
    top = np.max(a, axis=1, keepdims=True)
    return top + np.log(np.sum(np.exp(a - top), axis=1, keepdims=True))


@program(_mlp_args, wrt=(0, 1, 2, 3), style="vectorized", model="mlp")
def mlp_log_likelihood_vec(W1, b1, W2, b2, inputs, targets):
    hidden = np.tanh(np.dot(inputs, W1) + b1)
    logits = np.dot(hidden, W2) + b2
    log_probs = logits - _logsumexp_rows(logits)
    return -np.sum(log_probs * targets)


@program(_mlp_args, wrt=(0, 1, 2, 3), style="loop", model="mlp")
def mlp_log_likelihood_loop(W1, b1, W2, b2, inputs, targets):
    n, d = inputs.shape
    h = W1.shape[1]
    c = W2.shape[1]
    total = 0.0
    for i in range(n):
        hidden = np.zeros(h)
        for k in range(h):
            a = b1[k]
            for j in range(d):
                a += inputs[i, j] * W1[j, k]
            hidden[k] = math.tanh(a)
        logits = np.zeros(c)
        for m in range(c):
            a = b2[m]
            for k in range(h):
                a += hidden[k] * W2[k, m]
            logits[m] = a
        z = 0.0
        for m in range(c):
            z += math.exp(logits[m])
        for m in range(c):
            total -= targets[i, m] * (logits[m] - math.log(z))
    return total


# JAX quickstart: module-level training data, a sigmoid through tanh, loss of (W, b).
JAX_INPUTS = np.array([[0.52, 1.12, 0.77],
                       [0.88, -1.08, 0.15],
                       [0.52, 0.06, -1.30],
                       [0.74, -2.49, 1.39]])
JAX_TARGETS = np.array([True, True, False, True])


def _jax_sigmoid(x):
    return 0.5 * (np.tanh(x / 2) + 1)


def _jax_predict(W, b, inputs):
    return _jax_sigmoid(np.dot(inputs, W) + b)


def _jax_logistic_args(rng):
    return rng.normal(size=3), 0.3


@program(_jax_logistic_args, wrt=(0, 1), style="vectorized", model="logistic_regression")
def jax_quickstart_loss(W, b):
    preds = _jax_predict(W, b, JAX_INPUTS)
    label_probs = preds * JAX_TARGETS + (1 - preds) * (1 - JAX_TARGETS)
    return -np.sum(np.log(label_probs))


def _logistic_args(rng, n=8, d=3):
    X = rng.normal(size=(n, d))
    y = np.where(rng.uniform(size=n) < 0.5, -1.0, 1.0)
    return rng.normal(size=d), 0.2, X, y


@program(_logistic_args, wrt=(0, 1), style="loop", model="logistic_regression")
def logistic_loss_loop(w, b, X, y):
    n, d = X.shape
    loss = 0.0
    for i in range(n):
        z = b
        for j in range(d):
            z += X[i, j] * w[j]
        loss += math.log(1.0 + math.exp(-y[i] * z))
    return loss / n


@program(_logistic_args, wrt=(0, 1), style="vectorized", model="logistic_regression")
def logistic_loss_vec(w, b, X, y):
    z = X @ w + b
    return np.mean(np.logaddexp(0.0, -y * z))


@program(_logistic_args, wrt=(0, 1), style="vectorized", model="logistic_regression")
def logistic_loss_l2_default(w, b, X, y, lam=0.01):
    z = X.dot(w) + b
    return np.mean(np.log1p(np.exp(-y * z))) + 0.5 * lam * np.dot(w, w)


def _regression_args(rng, n=10, d=4):
    X = rng.normal(size=(n, d))
    w_true = rng.normal(size=d)
    return rng.normal(size=d) + 0.5, X, X @ w_true + 0.1 * rng.normal(size=n)


@program(_regression_args, wrt=(0,), style="vectorized", model="elastic_net")
def elastic_net_vec(w, X, y, alpha=0.1, l1_ratio=0.5):
    n = X.shape[0]
    residual = y - X @ w
    return (0.5 / n * np.sum(residual ** 2) + alpha * l1_ratio * np.sum(np.abs(w))
            + 0.5 * alpha * (1 - l1_ratio) * np.sum(w ** 2))


@program(_regression_args, wrt=(0,), style="loop", model="elastic_net")
def elastic_net_loop(w, X, y):
    alpha = 0.1
    l1_ratio = 0.5
    n, d = X.shape
    loss = 0.0
    for i in range(n):
        pred = 0.0
        for j in range(d):
            pred += X[i, j] * w[j]
        loss += (y[i] - pred) ** 2
    loss = 0.5 * loss / n
    for j in range(d):
        loss += alpha * l1_ratio * abs(w[j]) + 0.5 * alpha * (1 - l1_ratio) * w[j] ** 2
    return loss


@program(_regression_args, wrt=(0,), style="vectorized", model="elastic_net")
def elastic_net_helpers(w, X, y):
    # sklearn-style penalty helpers with keyword arguments
    return _squared_error(w, X, y) + _l1(w, lam=0.05) + _l2(w, lam=0.025)


def _squared_error(w, X, y):
    return 0.5 * np.mean((X @ w - y) ** 2)


def _l1(w, lam):
    return lam * np.sum(np.abs(w))


def _l2(w, lam):
    return lam * np.sum(w * w)


@program(_regression_args, wrt=(0,), style="vectorized", model="least_squares")
def least_squares_vec(w, X, y):
    r = X @ w - y
    return r @ r / len(y)


@program(_regression_args, wrt=(0,), style="loop", model="least_squares")
def least_squares_loop(w, X, y):
    total = 0.0
    for i in range(len(y)):
        r = -y[i]
        for j in range(len(w)):
            r += X[i, j] * w[j]
        total += r * r
    return total / len(y)


@program(_regression_args, wrt=(0,), style="loop", model="least_squares")
def least_squares_rows(w, X, y):
    # iterating over the rows of the design matrix with zip
    total = 0.0
    for row, target in zip(X, y):
        r = np.dot(row, w) - target
        total += r * r
    return total / len(y)


@program(_regression_args, wrt=(0,), style="vectorized", model="huber")
def huber_loss_vec(w, X, y, delta=1.0):
    r = X @ w - y
    quad = 0.5 * r ** 2
    lin = delta * (np.abs(r) - 0.5 * delta)
    return np.sum(np.where(np.abs(r) <= delta, quad, lin))


@program(_regression_args, wrt=(0,), style="loop", model="huber")
def huber_loss_loop(w, X, y):
    delta = 1.0
    total = 0.0
    for i in range(X.shape[0]):
        r = -y[i]
        for j in range(X.shape[1]):
            r += X[i, j] * w[j]
        if abs(r) <= delta:
            total += 0.5 * r * r
        else:
            total += delta * (abs(r) - 0.5 * delta)
    return total


def _conv_args(rng, n=12, k=3):
    return rng.normal(size=k), rng.normal(size=n), rng.normal(size=n - k + 1)


@program(_conv_args, wrt=(0, 1), style="vectorized", model="convolution")
def conv1d_fit_vec(kernel, signal, target):
    out = np.convolve(signal, kernel, mode='valid')
    return np.sum((out - target) ** 2)


@program(_conv_args, wrt=(0, 1), style="loop", model="convolution")
def conv1d_fit_loop(kernel, signal, target):
    k = kernel.shape[0]
    total = 0.0
    for i in range(target.shape[0]):
        acc = 0.0
        for j in range(k):
            acc += signal[i + j] * kernel[k - 1 - j]
        total += (acc - target[i]) ** 2
    return total


def _gauss_args(rng, n=20):
    return 0.3, -0.2, rng.normal(loc=0.5, scale=1.3, size=n)


@program(_gauss_args, wrt=(0, 1), style="loop", model="gaussian_likelihood")
def gaussian_nll_loop(mu, log_sigma, data):
    sigma = math.exp(log_sigma)
    nll = 0.0
    for x in data:
        z = (x - mu) / sigma
        nll += 0.5 * z * z + log_sigma + 0.5 * math.log(2 * math.pi)
    return nll


@program(_gauss_args, wrt=(0, 1), style="vectorized", model="gaussian_likelihood")
def gaussian_nll_vec(mu, log_sigma, data):
    sigma = np.exp(log_sigma)
    return np.sum(0.5 * ((data - mu) / sigma) ** 2 + log_sigma + 0.5 * np.log(2 * np.pi))


def _portfolio_args(rng, n=5):
    A = rng.normal(size=(n, n))
    return rng.uniform(0.1, 0.3, size=n), rng.normal(scale=0.05, size=n) + 0.05, A @ A.T / n + 0.1 * np.eye(n), 3.0


@program(_portfolio_args, wrt=(0,), style="vectorized", model="portfolio")
def portfolio_utility_vec(weights, mu, cov, risk_aversion):
    w = weights / np.sum(weights)
    return w @ mu - 0.5 * risk_aversion * w @ cov @ w


@program(_portfolio_args, wrt=(0,), style="loop", model="portfolio")
def portfolio_utility_loop(weights, mu, cov, risk_aversion):
    n = weights.shape[0]
    total = 0.0
    for i in range(n):
        total += weights[i]
    ret = 0.0
    var = 0.0
    for i in range(n):
        ret += weights[i] / total * mu[i]
        for j in range(n):
            var += weights[i] * cov[i, j] * weights[j] / (total * total)
    return ret - 0.5 * risk_aversion * var


# =============================================================================================
# Polynomials and splines: Horner's rule (Numerical Recipes 5.1, and numpy.polyval's own
# loop), a polynomial fit, Catmull-Rom spline evaluation (the form in graphics texts), linear
# interpolation (np.interp and its hand-written bisection).
# =============================================================================================

def _poly_args(rng, degree=4, n=7):
    xs = rng.uniform(-1.0, 1.0, size=n)
    return rng.normal(size=degree + 1), xs, np.sin(2 * xs)


@program(_poly_args, wrt=(0,), style="loop", model="polynomial_fit")
def horner_fit_loop(coeffs, xs, ys):
    total = 0.0
    for k in range(len(xs)):
        p = 0.0
        for i in range(len(coeffs)):
            p = p * xs[k] + coeffs[i]
        total += (p - ys[k]) ** 2
    return total


@program(_poly_args, wrt=(0,), style="loop", model="polynomial_fit")
def horner_fit_iter(coeffs, xs, ys):
    # numpy.polyval's loop: for c in coeffs
    total = 0.0
    for x, y in zip(xs, ys):
        p = 0.0
        for c in coeffs:
            p = p * x + c
        total += (p - y) ** 2
    return total


@program(_poly_args, wrt=(0,), style="vectorized", model="polynomial_fit")
def horner_fit_vec(coeffs, xs, ys):
    p = np.zeros_like(xs)
    for i in range(coeffs.shape[0]):
        p = p * xs + coeffs[i]
    return np.sum((p - ys) ** 2)


@program(_poly_args, wrt=(0,), style="vectorized", model="polynomial_fit")
def polyval_fit(coeffs, xs, ys):
    return np.sum((np.polyval(coeffs, xs) - ys) ** 2)


@program(_poly_args, wrt=(0,), style="vectorized", model="polynomial_fit")
def vandermonde_fit(coeffs, xs, ys):
    powers = xs[:, None] ** np.arange(len(coeffs) - 1, -1, -1)[None, :]
    return np.sum((powers @ coeffs - ys) ** 2)


def _spline_args(rng, knots=8, n=6):
    return rng.normal(size=knots), rng.uniform(1.0, knots - 2.01, size=n)


@program(_spline_args, wrt=(0,), style="loop", model="catmull_rom")
def catmull_rom_loop(points, ts):
    total = 0.0
    for q in range(ts.shape[0]):
        i = int(math.floor(ts[q]))
        s = ts[q] - i
        p0 = points[i - 1]
        p1 = points[i]
        p2 = points[i + 1]
        p3 = points[i + 2]
        value = 0.5 * (2.0 * p1 + (-p0 + p2) * s + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * s * s
                       + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * s * s * s)
        total += value * value
    return total


@program(_spline_args, wrt=(0,), style="vectorized", model="catmull_rom")
def catmull_rom_vec(points, ts):
    i = np.floor(ts).astype(np.int64)
    s = ts - i
    p0, p1, p2, p3 = points[i - 1], points[i], points[i + 1], points[i + 2]
    value = 0.5 * (2.0 * p1 + (-p0 + p2) * s + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * s ** 2
                   + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * s ** 3)
    return np.sum(value ** 2)


def _interp_args(rng, knots=6, n=5):
    xk = np.linspace(0.0, 1.0, knots)
    return rng.normal(size=knots), xk, rng.uniform(0.05, 0.95, size=n)


@program(_interp_args, wrt=(0,), style="vectorized", model="linear_interpolation")
def interp_vec(yk, xk, xq):
    return np.sum(np.interp(xq, xk, yk) ** 2)


@program(_interp_args, wrt=(0,), style="loop", model="linear_interpolation")
def interp_loop(yk, xk, xq):
    total = 0.0
    for q in range(len(xq)):
        lo = 0
        hi = len(xk) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            if xk[mid] > xq[q]:
                hi = mid
            else:
                lo = mid
        t = (xq[q] - xk[lo]) / (xk[hi] - xk[lo])
        value = yk[lo] * (1.0 - t) + yk[hi] * t
        total += value * value
    return total


# =============================================================================================
# Newton iterations: the Babylonian square root to a tolerance (a while loop), Kepler's
# equation E - e sin E = M solved per element (orbital mechanics texts, e.g. Vallado alg. 2),
# and an implicit-function layer (a Newton solve inside a loss).
# =============================================================================================

@program(lambda rng: (2.7,), wrt=(0,), style="loop", model="newton_sqrt")
def newton_sqrt_while(a):
    x = a
    while abs(x * x - a) > 1e-12 * a:
        x = 0.5 * (x + a / x)
    return x


@program(lambda rng: (2.7, 8), wrt=(0,), style="loop", model="newton_sqrt")
def newton_cbrt_fixed(a, iters):
    x = 1.0
    for _ in range(iters):
        x = x - (x * x * x - a) / (3.0 * x * x)
    return x


def _kepler_args(rng, n=5):
    return rng.uniform(0.2, 3.0, size=n), 0.3


@program(_kepler_args, wrt=(0, 1), style="vectorized", model="kepler")
def kepler_newton_vec(M, e):
    E = M.copy()
    for _ in range(8):
        E = E - (E - e * np.sin(E) - M) / (1.0 - e * np.cos(E))
    return np.sum(np.sin(E))


@program(_kepler_args, wrt=(0, 1), style="loop", model="kepler")
def kepler_newton_loop(M, e):
    total = 0.0
    for k in range(M.shape[0]):
        E = M[k]
        for it in range(50):
            delta = (E - e * math.sin(E) - M[k]) / (1.0 - e * math.cos(E))
            E -= delta
            if abs(delta) < 1e-14:
                break
        total += math.sin(E)
    return total


# =============================================================================================
# Sinkhorn: entropic optimal transport (Cuturi 2013; POT's ot.sinkhorn, github:PythonOT/POT,
# whose defaults reg / numItermax the vectorized port keeps as default arguments).
# =============================================================================================

def _sinkhorn_args(rng, n=4, m=5):
    a = rng.uniform(0.5, 1.0, size=n)
    b = rng.uniform(0.5, 1.0, size=m)
    return rng.uniform(0.0, 1.0, size=(n, m)), a / a.sum(), b / b.sum()


@program(_sinkhorn_args, wrt=(0,), style="vectorized", model="sinkhorn")
def sinkhorn_vec(M, a, b, reg=0.5, num_iter=30):
    K = np.exp(-M / reg)
    u = np.ones(len(a)) / len(a)
    for _ in range(num_iter):
        v = b / (K.T @ u)
        u = a / (K @ v)
    P = u.reshape((-1, 1)) * K * v.reshape((1, -1))
    return np.sum(P * M)


@program(_sinkhorn_args, wrt=(0,), style="loop", model="sinkhorn")
def sinkhorn_loop(M, a, b):
    reg = 0.5
    n, m = M.shape
    K = np.zeros((n, m))
    for i in range(n):
        for j in range(m):
            K[i, j] = math.exp(-M[i, j] / reg)
    u = np.ones(n) / n
    v = np.ones(m)
    for it in range(30):
        for j in range(m):
            acc = 0.0
            for i in range(n):
                acc += K[i, j] * u[i]
            v[j] = b[j] / acc
        for i in range(n):
            acc = 0.0
            for j in range(m):
                acc += K[i, j] * v[j]
            u[i] = a[i] / acc
    cost = 0.0
    for i in range(n):
        for j in range(m):
            cost += u[i] * K[i, j] * v[j] * M[i, j]
    return cost


# =============================================================================================
# Rosenbrock variants: scipy.optimize.rosen (vectorized), the loop in every optimization
# course, the 2-D textbook form with its default constants, and a pairwise zip.
# =============================================================================================

def _rosen_args(rng, n=6):
    return (rng.uniform(-1.5, 1.5, size=n),)


@program(_rosen_args, style="vectorized", model="rosenbrock")
def rosen_scipy(x):
    return np.sum(100.0 * (x[1:] - x[:-1] ** 2.0) ** 2.0 + (1 - x[:-1]) ** 2.0)


@program(_rosen_args, style="loop", model="rosenbrock")
def rosen_loop(x):
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


@program(_rosen_args, style="loop", model="rosenbrock")
def rosen_zip(x):
    total = 0.0
    for a, b in zip(x[:-1], x[1:]):
        total += 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2
    return total


@program(lambda rng: (-1.2, 1.0), wrt=(0, 1), style="loop", model="rosenbrock")
def rosen_2d(x, y, a=1.0, b=100.0):
    return (a - x) ** 2 + b * (y - x ** 2) ** 2


# =============================================================================================
# ODEs: Lotka-Volterra integrated with classic RK4 (the SciPy cookbook's predator-prey model;
# the parameters are what a fit differentiates).
# =============================================================================================

def _lv_args(rng):
    return np.array([1.1, 0.4, 0.4, 0.1]), np.array([10.0, 5.0]), 20


def _lv_rhs(z, p):
    return np.array([p[0] * z[0] - p[1] * z[0] * z[1], -p[2] * z[1] + p[3] * z[0] * z[1]])


@program(_lv_args, wrt=(0, 1), style="vectorized", model="lotka_volterra")
def lotka_volterra_rk4_vec(params, z0, steps):
    h = 0.05
    z = z0
    for _ in range(steps):
        k1 = _lv_rhs(z, params)
        k2 = _lv_rhs(z + 0.5 * h * k1, params)
        k3 = _lv_rhs(z + 0.5 * h * k2, params)
        k4 = _lv_rhs(z + h * k3, params)
        z = z + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    return np.sum(z ** 2)


def _lv_scalar(x, y, a, b, c, d):
    return a * x - b * x * y, -c * y + d * x * y


@program(_lv_args, wrt=(0, 1), style="loop", model="lotka_volterra")
def lotka_volterra_rk4_loop(params, z0, steps):
    a, b, c, d = params[0], params[1], params[2], params[3]
    x = z0[0]
    y = z0[1]
    h = 0.05
    for _ in range(steps):
        k1x, k1y = _lv_scalar(x, y, a, b, c, d)
        k2x, k2y = _lv_scalar(x + 0.5 * h * k1x, y + 0.5 * h * k1y, a, b, c, d)
        k3x, k3y = _lv_scalar(x + 0.5 * h * k2x, y + 0.5 * h * k2y, a, b, c, d)
        k4x, k4y = _lv_scalar(x + h * k3x, y + h * k3y, a, b, c, d)
        x = x + h / 6.0 * (k1x + 2 * k2x + 2 * k3x + k4x)
        y = y + h / 6.0 * (k1y + 2 * k2y + 2 * k3y + k4y)
    return x * x + y * y


# =============================================================================================
# Documentation examples of autograd (github:HIPS/autograd, README and docs/tutorial.md) and
# JAX (its "Automatic differentiation" tutorial and README).
# =============================================================================================

def _vector(rng):
    return (rng.normal(size=5),)


@program(lambda rng: (1.0,), style="loop", model="autograd_docs")
def autograd_readme_tanh(x):
    y = np.exp(-2.0 * x)
    return (1.0 - y) / (1.0 + y)


@program(lambda rng: (0.8,), style="loop", model="autograd_docs")
def autograd_tutorial_taylor_sine(x):
    # the tutorial's Taylor series with a tolerance-driven while loop
    currterm = x
    ans = currterm
    for i in range(1000):
        currterm = -currterm * x ** 2 / ((2 * i + 3) * (2 * i + 2))
        ans = ans + currterm
        if np.abs(currterm) < 1e-12:
            break
    return ans


@program(_vector, style="vectorized", model="jax_docs")
def jax_sum_logistic(x):
    return np.sum(1.0 / (1.0 + np.exp(-x)))


@program(_vector, style="vectorized", model="jax_docs")
def jax_selu_sum(x, alpha=1.67, lmbda=1.05):
    return np.sum(lmbda * np.where(x > 0, x, alpha * np.exp(x) - alpha))


def _make_ridge_loss(X, y, lam):
    # data held in a closure, the way JAX's docs build losses for jax.grad
    def loss(w):
        r = X @ w - y
        return np.mean(r ** 2) + lam * np.sum(w ** 2)
    return loss


def _closure_args(rng):
    return (rng.normal(size=3),)


_CLOSURE_RNG = np.random.default_rng(12345)
# (not bound to a module global: tests/oracles.py's autograd twin rebinds module functions)
PROGRAMS.append(Program("ridge_closure", _make_ridge_loss(_CLOSURE_RNG.normal(size=(6, 3)),
                                                          _CLOSURE_RNG.normal(size=6), 0.1),
                        _closure_args, (0,), "vectorized", "jax_docs"))

# module-level time grid, as in curve-fitting scripts (issue #17 names this very expression)
TIME_GRID = np.linspace(0.0, 1.0, 7)


@program(lambda rng: (0.5, -0.3), wrt=(0, 1), style="vectorized", model="curve_fit")
def curve_fit_global_grid(a, b):
    return np.sum((a * TIME_GRID + b * TIME_GRID * TIME_GRID) ** 2)


@program(lambda rng: (0.5, -0.3), wrt=(0, 1), style="loop", model="curve_fit")
def curve_fit_global_loop(a, b):
    total = 0.0
    for i in range(TIME_GRID.shape[0]):
        t = TIME_GRID[i]
        total += (a * t + b * t * t) ** 2
    return total


# =============================================================================================
# More models in everyday styles: module-level physical constants, reinforcement learning's
# discounted returns, an unrolled optimizer, normalization layers, kernels, dynamic programming
# (soft-DTW), lattice energies with periodic boundaries, quadrature, recurrent nets, matrix
# factorization and skip-gram losses.
# =============================================================================================

GRAVITY = 9.81
DT = 0.05


def _pendulum_args(rng):
    return 1.2, 0.1, 0.8, 40


@program(_pendulum_args, wrt=(0, 1, 2), style="loop", model="pendulum")
def pendulum_loop(theta0, omega0, length, steps):
    # semi-implicit Euler with module-level constants
    theta = theta0
    omega = omega0
    for _ in range(steps):
        omega = omega - GRAVITY / length * math.sin(theta) * DT
        theta = theta + omega * DT
    return theta


@program(lambda rng: (rng.uniform(0.5, 1.5, size=4), rng.normal(scale=0.1, size=4), 0.8, 40),
         wrt=(0, 1, 2), style="vectorized", model="pendulum")
def pendulum_vec(theta0, omega0, length, steps):
    theta = theta0
    omega = omega0
    for _ in range(steps):
        omega = omega - GRAVITY / length * np.sin(theta) * DT
        theta = theta + omega * DT
    return np.sum(np.cos(theta))


def _returns_args(rng, T=8):
    return rng.normal(size=T), rng.normal(size=T), 0.9


@program(_returns_args, wrt=(0, 1), style="loop", model="discounted_returns")
def reinforce_loss_loop(log_probs, rewards, gamma):
    # REINFORCE: returns accumulated backwards, as in the PyTorch examples' finish_episode
    T = len(rewards)
    returns = np.zeros(T)
    G = 0.0
    for t in range(T - 1, -1, -1):
        G = rewards[t] + gamma * G
        returns[t] = G
    loss = 0.0
    for t in range(T):
        loss -= log_probs[t] * returns[t]
    return loss


@program(_returns_args, wrt=(0, 1), style="loop", model="discounted_returns")
def reinforce_loss_reversed(log_probs, rewards, gamma):
    returns = []
    G = 0.0
    for r in reversed(rewards):
        G = r + gamma * G
        returns.insert(0, G)
    return -np.sum(log_probs * np.array(returns))


@program(_returns_args, wrt=(0, 1), style="vectorized", model="discounted_returns")
def reinforce_loss_vec(log_probs, rewards, gamma):
    T = len(rewards)
    discounts = gamma ** np.arange(T)
    returns = np.cumsum((rewards * discounts)[::-1])[::-1] / discounts
    return -np.sum(log_probs * returns)


def _adam_args(rng, d=3):
    return rng.normal(size=d), 0.1, 5


def _quadratic_grad(w):
    return 2.0 * (w - 1.0) + 0.5 * w ** 3


@program(_adam_args, wrt=(0, 1), style="vectorized", model="unrolled_optimizer")
def adam_unrolled_vec(w0, lr, steps):
    # an unrolled Adam on a known gradient, differentiated for meta-learning the step size
    beta1 = 0.9
    beta2 = 0.999
    w = w0
    m = np.zeros_like(w0)
    v = np.zeros_like(w0)
    for t in range(1, steps + 1):
        g = _quadratic_grad(w)
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat = m / (1 - beta1 ** t)
        v_hat = v / (1 - beta2 ** t)
        w = w - lr * m_hat / (np.sqrt(v_hat) + 1e-8)
    return np.sum((w - 1.0) ** 2)


@program(_adam_args, wrt=(0, 1), style="loop", model="unrolled_optimizer")
def momentum_unrolled_loop(w0, lr, steps):
    d = w0.shape[0]
    w = w0.copy()
    vel = np.zeros(d)
    for t in range(steps):
        for i in range(d):
            g = 2.0 * (w[i] - 1.0) + 0.5 * w[i] ** 3
            vel[i] = 0.9 * vel[i] + g
            w[i] = w[i] - lr * vel[i]
    total = 0.0
    for i in range(d):
        total += (w[i] - 1.0) ** 2
    return total


def _norm_args(rng, n=5, d=4):
    return rng.normal(size=(n, d)), rng.uniform(0.5, 1.5, size=d), rng.normal(size=d)


@program(_norm_args, wrt=(0, 1, 2), style="vectorized", model="normalization")
def batch_norm_vec(x, gamma, beta):
    mu = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    x_hat = (x - mu) / np.sqrt(var + 1e-5)
    return np.sum(np.tanh(gamma * x_hat + beta))


@program(_norm_args, wrt=(0, 1, 2), style="vectorized", model="normalization")
def batch_norm_means(x, gamma, beta):
    # the same with means only (cs231n's batchnorm_forward)
    mu = x.mean(axis=0)
    xc = x - mu
    var = (xc ** 2).mean(axis=0)
    x_hat = xc / np.sqrt(var + 1e-5)
    return np.sum(np.tanh(gamma * x_hat + beta))


@program(_norm_args, wrt=(0, 1, 2), style="loop", model="normalization")
def batch_norm_loop(x, gamma, beta):
    n, d = x.shape
    total = 0.0
    for j in range(d):
        mu = 0.0
        for i in range(n):
            mu += x[i, j]
        mu /= n
        var = 0.0
        for i in range(n):
            var += (x[i, j] - mu) ** 2
        var /= n
        for i in range(n):
            total += math.tanh(gamma[j] * (x[i, j] - mu) / math.sqrt(var + 1e-5) + beta[j])
    return total


def _kernel_args(rng, n=5, d=2):
    return rng.normal(size=(n, d)), rng.normal(size=n), 0.7


@program(_kernel_args, wrt=(0, 1, 2), style="vectorized", model="rbf_kernel")
def rbf_kernel_quadratic_vec(X, alpha, lengthscale):
    sq = np.sum(X ** 2, axis=1)
    d2 = sq.reshape(-1, 1) + sq.reshape(1, -1) - 2.0 * X @ X.T
    K = np.exp(-0.5 * d2 / lengthscale ** 2)
    return alpha @ K @ alpha


@program(_kernel_args, wrt=(0, 1, 2), style="loop", model="rbf_kernel")
def rbf_kernel_quadratic_loop(X, alpha, lengthscale):
    n, d = X.shape
    total = 0.0
    for i in range(n):
        for j in range(n):
            d2 = 0.0
            for k in range(d):
                d2 += (X[i, k] - X[j, k]) ** 2
            total += alpha[i] * alpha[j] * math.exp(-0.5 * d2 / lengthscale ** 2)
    return total


def _dtw_args(rng):
    return rng.normal(size=5), rng.normal(size=6), 0.5


@program(_dtw_args, wrt=(0, 1), style="loop", model="soft_dtw")
def soft_dtw_loop(x, y, gamma):
    # Cuturi & Blondel's soft-DTW recursion (github:mblondel/soft-dtw, the Cython loop)
    n = x.shape[0]
    m = y.shape[0]
    R = np.full((n + 1, m + 1), 1e10)
    R[0, 0] = 0.0
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            cost = (x[i - 1] - y[j - 1]) ** 2
            r0 = -R[i - 1, j - 1] / gamma
            r1 = -R[i - 1, j] / gamma
            r2 = -R[i, j - 1] / gamma
            top = max(r0, r1, r2)
            softmin = -gamma * (math.log(math.exp(r0 - top) + math.exp(r1 - top) + math.exp(r2 - top)) + top)
            R[i, j] = cost + softmin
    return R[n, m]


def _lattice_args(rng, n=5):
    return rng.uniform(-math.pi, math.pi, size=(n, n)), 0.7


@program(_lattice_args, wrt=(0, 1), style="vectorized", model="xy_model")
def xy_energy_roll(theta, coupling):
    # periodic lattice neighbours with np.roll
    right = np.roll(theta, -1, axis=1)
    down = np.roll(theta, -1, axis=0)
    return -coupling * np.sum(np.cos(theta - right) + np.cos(theta - down))


@program(_lattice_args, wrt=(0, 1), style="loop", model="xy_model")
def xy_energy_loop(theta, coupling):
    n = theta.shape[0]
    energy = 0.0
    for i in range(n):
        for j in range(n):
            energy -= coupling * math.cos(theta[i, j] - theta[i, (j + 1) % n])
            energy -= coupling * math.cos(theta[i, j] - theta[(i + 1) % n, j])
    return energy


def _lj_args(rng, n=4):
    grid = np.array([[0.0, 0.0, 0.0], [1.1, 0.0, 0.0], [0.0, 1.2, 0.0], [0.0, 0.0, 1.15]])
    return grid[:n] + 0.05 * rng.normal(size=(n, 3)), 1.0, 1.0


@program(_lj_args, wrt=(0, 1, 2), style="loop", model="lennard_jones")
def lennard_jones_loop(pos, epsilon, sigma):
    n = len(pos)
    energy = 0.0
    for i in range(n):
        for j in range(i + 1, n):
            r2 = np.sum((pos[i] - pos[j]) ** 2)
            s6 = (sigma * sigma / r2) ** 3
            energy += 4.0 * epsilon * (s6 * s6 - s6)
    return energy


@program(_lj_args, wrt=(0, 1, 2), style="vectorized", model="lennard_jones")
def lennard_jones_vec(pos, epsilon, sigma):
    i, j = np.triu_indices(len(pos), k=1)
    r2 = np.sum((pos[i] - pos[j]) ** 2, axis=1)
    s6 = (sigma ** 2 / r2) ** 3
    return np.sum(4.0 * epsilon * (s6 ** 2 - s6))


def _quad_args(rng):
    return 1.3, 0.4, np.linspace(0.0, 2.0, 21)


@program(_quad_args, wrt=(0, 1), style="vectorized", model="quadrature")
def trapezoid_vec(a, b, t):
    return np.trapezoid(np.exp(-a * t) * np.sin(b * t + 1.0), t)


@program(_quad_args, wrt=(0, 1), style="loop", model="quadrature")
def trapezoid_loop(a, b, t):
    total = 0.0
    for k in range(len(t) - 1):
        f0 = math.exp(-a * t[k]) * math.sin(b * t[k] + 1.0)
        f1 = math.exp(-a * t[k + 1]) * math.sin(b * t[k + 1] + 1.0)
        total += 0.5 * (t[k + 1] - t[k]) * (f0 + f1)
    return total


def _rnn_args(rng, d=3, h=4, T=5):
    return (rng.normal(scale=0.4, size=(h, h)), rng.normal(scale=0.4, size=(h, d)),
            rng.normal(scale=0.1, size=h), rng.normal(size=(T, d)))


@program(_rnn_args, wrt=(0, 1, 2), style="vectorized", model="vanilla_rnn")
def vanilla_rnn_vec(W, U, b, xs):
    # Karpathy's min-char-rnn forward pass, the hidden state's squared norm as loss
    h = np.zeros(W.shape[0])
    for t in range(xs.shape[0]):
        h = np.tanh(W @ h + U @ xs[t] + b)
    return np.sum(h ** 2)


@program(_rnn_args, wrt=(0, 1, 2), style="loop", model="vanilla_rnn")
def vanilla_rnn_loop(W, U, b, xs):
    H = W.shape[0]
    D = U.shape[1]
    h = np.zeros(H)
    for t in range(xs.shape[0]):
        new = np.zeros(H)
        for i in range(H):
            a = b[i]
            for j in range(H):
                a += W[i, j] * h[j]
            for j in range(D):
                a += U[i, j] * xs[t, j]
            new[i] = math.tanh(a)
        h = new
    total = 0.0
    for i in range(H):
        total += h[i] * h[i]
    return total


def _mf_args(rng, users=4, items=5, k=2, n=8):
    return (rng.normal(scale=0.5, size=(users, k)), rng.normal(scale=0.5, size=(items, k)),
            rng.integers(0, users, size=n), rng.integers(0, items, size=n), rng.uniform(1.0, 5.0, size=n))


@program(_mf_args, wrt=(0, 1), style="loop", model="matrix_factorization")
def matrix_factorization_loop(P, Q, rows, cols, ratings):
    # Funk SVD's loss over the observed ratings, regularized
    loss = 0.0
    for n in range(len(ratings)):
        u = rows[n]
        i = cols[n]
        pred = 0.0
        for f in range(P.shape[1]):
            pred += P[u, f] * Q[i, f]
        loss += (ratings[n] - pred) ** 2
    return loss + 0.02 * (np.sum(P * P) + np.sum(Q * Q))


@program(_mf_args, wrt=(0, 1), style="vectorized", model="matrix_factorization")
def matrix_factorization_vec(P, Q, rows, cols, ratings):
    pred = np.sum(P[rows] * Q[cols], axis=1)
    return np.sum((ratings - pred) ** 2) + 0.02 * (np.sum(P ** 2) + np.sum(Q ** 2))


def _clenshaw_args(rng):
    return rng.normal(size=6), rng.uniform(-1.0, 1.0, size=5)


@program(_clenshaw_args, wrt=(0,), style="loop", model="chebyshev")
def chebyshev_clenshaw_loop(c, xs):
    # Clenshaw's recurrence for a Chebyshev series (Numerical Recipes 5.8, chebev)
    total = 0.0
    for k in range(len(xs)):
        x = xs[k]
        b1 = 0.0
        b2 = 0.0
        for j in range(len(c) - 1, 0, -1):
            b1, b2 = 2.0 * x * b1 - b2 + c[j], b1
        total += (x * b1 - b2 + c[0]) ** 2
    return total


@program(_clenshaw_args, wrt=(0,), style="vectorized", model="chebyshev")
def chebyshev_recurrence_vec(c, xs):
    T_prev = np.ones_like(xs)
    T_curr = xs
    value = c[0] * T_prev + c[1] * T_curr
    for j in range(2, len(c)):
        T_prev, T_curr = T_curr, 2.0 * xs * T_curr - T_prev
        value = value + c[j] * T_curr
    return np.sum(value ** 2)


def _binary_xent_args(rng, n=8):
    return rng.uniform(0.05, 0.95, size=n), (rng.uniform(size=n) < 0.5) * 1.0


@program(_binary_xent_args, wrt=(0,), style="vectorized", model="binary_cross_entropy")
def binary_cross_entropy_clip(p, y):
    p = np.clip(p, 1e-12, 1.0 - 1e-12)
    return -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))


@program(_binary_xent_args, wrt=(0,), style="loop", model="binary_cross_entropy")
def binary_cross_entropy_loop(p, y):
    total = 0.0
    for i in range(len(p)):
        q = min(max(p[i], 1e-12), 1.0 - 1e-12)
        if y[i] > 0.5:
            total -= math.log(q)
        else:
            total -= math.log(1.0 - q)
    return total / len(p)


def _embedding_args(rng, vocab=5, k=3, n=9):
    return rng.normal(scale=0.5, size=(vocab, k)), rng.integers(0, vocab, size=n), rng.normal(size=k)


@program(_embedding_args, wrt=(0, 2), style="vectorized", model="embedding")
def embedding_logistic_vec(E, tokens, w):
    # an embedding lookup (a gather: tokens repeat) feeding a logistic loss
    emb = E[tokens]
    scores = emb @ w
    return np.sum(np.log1p(np.exp(-scores)))


@program(_embedding_args, wrt=(0, 2), style="loop", model="embedding")
def embedding_logistic_loop(E, tokens, w):
    total = 0.0
    for n in range(tokens.shape[0]):
        score = 0.0
        for f in range(w.shape[0]):
            score += E[tokens[n], f] * w[f]
        total += math.log1p(math.exp(-score))
    return total


def _segment_args(rng, knots=8, n=7):
    ts = rng.uniform(1.0, knots - 2.01, size=n)
    idx = np.floor(ts).astype(np.int64)
    return rng.normal(size=knots), idx, ts - idx


@program(_segment_args, wrt=(0,), style="vectorized", model="catmull_rom")
def catmull_rom_segments_vec(points, idx, s):
    # segment indices computed by the caller (np.searchsorted / floor), a gather per control point
    p0, p1, p2, p3 = points[idx - 1], points[idx], points[idx + 1], points[idx + 2]
    value = 0.5 * (2.0 * p1 + (-p0 + p2) * s + (2.0 * p0 - 5.0 * p1 + 4.0 * p2 - p3) * s ** 2
                   + (-p0 + 3.0 * p1 - 3.0 * p2 + p3) * s ** 3)
    return np.sum(value ** 2)


def _diag_fit_args(rng, n=4):
    A = rng.normal(size=(n, n))
    return rng.normal(size=n), A + A.T


@program(_diag_fit_args, wrt=(0,), style="vectorized", model="diagonal_fit")
def diagonal_fit_eye(d, A):
    # the closest diagonal matrix in the Frobenius norm, the diagonal built as np.eye(n) * d
    D = np.eye(A.shape[0]) * d
    return np.sum((D - A) ** 2)


@program(_diag_fit_args, wrt=(0,), style="vectorized", model="diagonal_fit")
def diagonal_fit_identity(d, A):
    # the same with np.identity, the spelling of older tutorials
    D = np.identity(A.shape[0]) * d
    return np.sum((D - A) ** 2)


@program(_diag_fit_args, wrt=(0,), style="loop", model="diagonal_fit")
def diagonal_fit_loop(d, A):
    n = A.shape[0]
    total = 0.0
    for i in range(n):
        for j in range(n):
            if i == j:
                total += (d[i] - A[i, j]) ** 2
            else:
                total += A[i, j] ** 2
    return total


# =============================================================================================
# Python's iteration idioms in numeric code (issue #17 items 3, 4, 8): loops over an array's
# elements and rows, enumerate, zip, reversed, sums of generator expressions and arrays built
# from list comprehensions, as tutorials and textbook code write them.
# =============================================================================================

def _sgd_args(rng, n=8, d=3):
    X = rng.normal(size=(n, d))
    y = np.where(rng.normal(size=n) > 0, 1.0, -1.0)
    return rng.normal(size=d), 0.1, X, y


@program(_sgd_args, wrt=(0, 1), style="loop", model="logistic_margin")
def logistic_margin_zip(w, b, X, y):
    # the per-sample loss of an SGD tutorial, summed: for xi, yi in zip(X, y)
    loss = 0.0
    for xi, yi in zip(X, y):
        margin = yi * (np.dot(w, xi) + b)
        loss += math.log(1.0 + math.exp(-margin))
    return loss / len(y)


@program(_sgd_args, wrt=(0, 1), style="loop", model="logistic_margin")
def logistic_margin_genexp(w, b, X, y):
    # the same as one generator expression
    return sum(math.log(1.0 + math.exp(-yi * (np.dot(w, xi) + b))) for xi, yi in zip(X, y)) / len(y)


def _series_args(rng, n=12):
    return 0.4, 0.2, rng.normal(size=n)


@program(_series_args, wrt=(0, 1), style="loop", model="ar1_likelihood")
def ar1_nll_enumerate(phi, log_sigma, y):
    # conditional Gaussian likelihood of an AR(1) series, indexed with enumerate
    sigma2 = math.exp(2.0 * log_sigma)
    nll = 0.0
    for t, y_t in enumerate(y):
        if t == 0:
            continue
        e = y_t - phi * y[t - 1]
        nll += 0.5 * (e * e / sigma2 + math.log(2.0 * math.pi * sigma2))
    return nll


@program(_series_args, wrt=(0, 1), style="loop", model="ar1_likelihood")
def ar1_nll_pairs(phi, log_sigma, y):
    # the same over consecutive pairs: zip(y[:-1], y[1:])
    sigma2 = math.exp(2.0 * log_sigma)
    nll = 0.0
    for prev, cur in zip(y[:-1], y[1:]):
        e = cur - phi * prev
        nll += 0.5 * (e * e / sigma2 + math.log(2.0 * math.pi * sigma2))
    return nll


@program(_poly_args, wrt=(0,), style="loop", model="polynomial_fit")
def poly_fit_enumerate_powers(coeffs, xs, ys):
    # sum(c * x ** k for k, c in enumerate(coeffs)): the power-sum form of textbooks
    total = 0.0
    for x, y in zip(xs, ys):
        p = sum(c * x ** (len(coeffs) - 1 - k) for k, c in enumerate(coeffs))
        total += (p - y) ** 2
    return total


def _discount_args(rng, n=10):
    return 0.9, rng.normal(size=n)


@program(_discount_args, wrt=(0, 1), style="loop", model="discounted_return")
def discounted_return_reversed(gamma, rewards):
    # the returns-to-go recursion of policy-gradient code: for r in reversed(rewards)
    g = 0.0
    total = 0.0
    for r in reversed(rewards):
        g = r + gamma * g
        total += g * g
    return total


@program(_softmax_args, wrt=(0,), style="loop", model="softmax_cross_entropy")
def softmax_loss_rows(W, X, y, reg):
    # cs231n's naive loss over the rows, the scores shifted by rebinding: scores = scores - max
    loss = 0.0
    for i, row in enumerate(X):
        scores = np.dot(row, W)
        scores = scores - np.max(scores)
        loss += -scores[y[i]] + math.log(np.sum(np.exp(scores)))
    return loss / X.shape[0] + reg * np.sum(W * W)


@program(_softmax_args, wrt=(0,), style="vectorized", model="softmax_cross_entropy")
def softmax_loss_comprehension(W, X, y, reg):
    # the per-sample losses gathered with a list comprehension, then averaged
    S = np.dot(X, W)
    S = S - np.max(S, axis=1).reshape(-1, 1)
    losses = np.array([math.log(np.sum(np.exp(S[i]))) - S[i, y[i]] for i in range(X.shape[0])])
    return np.mean(losses) + reg * np.sum(W * W)


# =============================================================================================
# Statistics and imaging with scipy's special functions: statsmodels' Probit.loglike and
# NegativeBinomial (NB2) log-likelihood (statsmodels/discrete/discrete_model.py), and the
# smoothed total-variation energy of Rudin, Osher and Fatemi (as scikit-image's
# denoise_tv_chambolle minimizes it, with forward differences).
# =============================================================================================

FLOAT_EPS = np.finfo(float).eps


def _probit_args(rng, n=8, d=3):
    X = rng.normal(size=(n, d))
    return rng.normal(scale=0.5, size=d), X, (rng.uniform(size=n) < 0.5) * 1.0


@program(_probit_args, wrt=(0,), style="vectorized", model="probit")
def probit_nll_vec(params, exog, endog):
    q = 2 * endog - 1
    return -np.sum(np.log(np.clip(norm.cdf(q * np.dot(exog, params)), FLOAT_EPS, 1)))


@program(_probit_args, wrt=(0,), style="loop", model="probit")
def probit_nll_loop(params, exog, endog):
    total = 0.0
    for i in range(exog.shape[0]):
        z = 0.0
        for j in range(exog.shape[1]):
            z += exog[i, j] * params[j]
        q = 2.0 * endog[i] - 1.0
        total -= math.log(max(0.5 * math.erfc(-q * z / math.sqrt(2.0)), FLOAT_EPS))
    return total


def _negbin_args(rng, n=7, d=2):
    X = np.column_stack([np.ones(n), rng.normal(size=n)])
    return np.array([0.4, 0.3]), 0.6, X, rng.poisson(2.0, size=n).astype(float)


@program(_negbin_args, wrt=(0, 1), style="vectorized", model="negative_binomial")
def negbin_nll_vec(params, alpha, exog, endog):
    mu = np.exp(np.dot(exog, params))
    size = 1 / alpha
    prob = size / (size + mu)
    ll = (gammaln(size + endog) - gammaln(endog + 1) - gammaln(size)
          + size * np.log(prob) + endog * np.log1p(-prob))
    return -np.sum(ll)


@program(_negbin_args, wrt=(0, 1), style="loop", model="negative_binomial")
def negbin_nll_loop(params, alpha, exog, endog):
    size = 1.0 / alpha
    total = 0.0
    for i in range(len(endog)):
        mu = math.exp(exog[i, 0] * params[0] + exog[i, 1] * params[1])
        prob = size / (size + mu)
        total -= (math.lgamma(size + endog[i]) - math.lgamma(endog[i] + 1.0) - math.lgamma(size)
                  + size * math.log(prob) + endog[i] * math.log1p(-prob))
    return total


def _tv_args(rng):
    clean = np.outer(np.linspace(0.0, 1.0, 5), np.ones(6))
    noisy = clean + 0.1 * rng.normal(size=clean.shape)
    return noisy + 0.05 * rng.normal(size=clean.shape), noisy, 0.2


@program(_tv_args, wrt=(0, 2), style="vectorized", model="total_variation")
def tv_energy_vec(u, f, weight, eps=1e-4):
    gx = np.diff(u, axis=1)[:-1, :]
    gy = np.diff(u, axis=0)[:, :-1]
    return 0.5 * np.sum((u - f) ** 2) + weight * np.sum(np.sqrt(gx ** 2 + gy ** 2 + eps))


# =============================================================================================
# Integrators written with tuple-returning steppers and local functions: a Van der Pol
# oscillator fitted with RK4 (the stepper of Numerical Recipes' rk4 and scipy-cookbook ODE
# examples, state as separate scalars), Hamiltonian Monte Carlo's leapfrog (Neal, "MCMC using
# Hamiltonian dynamics", 2011: `return q, -p`), and logistic regression with the model and its
# loss as local functions, as in autograd's tutorial examples.
# =============================================================================================

def _vdp_args(rng, steps=12):
    return 1.3, 0.5, -0.2, np.sin(np.linspace(0.0, 1.2, steps)) + 0.1 * rng.normal(size=steps)


def _vdp_rhs(x, v, mu):
    return v, mu * (1.0 - x * x) * v - x


def _vdp_rk4_step(x, v, mu, h):
    k1x, k1v = _vdp_rhs(x, v, mu)
    k2x, k2v = _vdp_rhs(x + 0.5 * h * k1x, v + 0.5 * h * k1v, mu)
    k3x, k3v = _vdp_rhs(x + 0.5 * h * k2x, v + 0.5 * h * k2v, mu)
    k4x, k4v = _vdp_rhs(x + h * k3x, v + h * k3v, mu)
    return (x + h / 6.0 * (k1x + 2.0 * k2x + 2.0 * k3x + k4x),
            v + h / 6.0 * (k1v + 2.0 * k2v + 2.0 * k3v + k4v))


@program(_vdp_args, wrt=(0, 1, 2), style="loop", model="van_der_pol")
def van_der_pol_fit_loop(mu, x0, v0, observed):
    x, v = x0, v0
    loss = 0.0
    for k in range(len(observed)):
        x, v = _vdp_rk4_step(x, v, mu, 0.1)
        loss += (x - observed[k]) ** 2
    return loss


def _vdp_field(state, mu):
    x, v = state[0], state[1]
    return np.array([v, mu * (1.0 - x * x) * v - x])


@program(_vdp_args, wrt=(0, 1, 2), style="vectorized", model="van_der_pol")
def van_der_pol_fit_vec(mu, x0, v0, observed):
    state = np.array([x0, v0])
    h = 0.1
    trajectory = []
    for k in range(len(observed)):
        k1 = _vdp_field(state, mu)
        k2 = _vdp_field(state + 0.5 * h * k1, mu)
        k3 = _vdp_field(state + 0.5 * h * k2, mu)
        k4 = _vdp_field(state + h * k3, mu)
        state = state + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        trajectory.append(state[0])
    return np.sum((np.array(trajectory) - observed) ** 2)


def _hmc_args(rng, d=3):
    A = rng.normal(size=(d, d))
    return rng.normal(size=d), rng.normal(size=d), A @ A.T + d * np.eye(d)


def _hmc_grad_u(q, precision):
    return precision @ q


def _hmc_leapfrog(q, p, precision, epsilon, steps):
    p = p - 0.5 * epsilon * _hmc_grad_u(q, precision)
    for _ in range(steps - 1):
        q = q + epsilon * p
        p = p - epsilon * _hmc_grad_u(q, precision)
    q = q + epsilon * p
    p = p - 0.5 * epsilon * _hmc_grad_u(q, precision)
    return q, -p


@program(_hmc_args, wrt=(0, 1), style="vectorized", model="hmc")
def hmc_hamiltonian_vec(q0, p0, precision):
    q, p = _hmc_leapfrog(q0, p0, precision, 0.05, 8)
    return 0.5 * q @ precision @ q + 0.5 * p @ p


@program(_hmc_args, wrt=(0, 1), style="loop", model="hmc")
def hmc_hamiltonian_loop(q0, p0, precision):
    d = len(q0)

    def grad_u(q, i):
        g = 0.0
        for j in range(d):
            g += precision[i, j] * q[j]
        return g

    q = q0.copy()
    p = p0.copy()
    eps = 0.05
    for step in range(8):
        for i in range(d):
            p[i] = p[i] - 0.5 * eps * grad_u(q, i)
        for i in range(d):
            q[i] = q[i] + eps * p[i]
        for i in range(d):
            p[i] = p[i] - 0.5 * eps * grad_u(q, i)
    energy = 0.0
    for i in range(d):
        energy += 0.5 * p[i] * p[i] + 0.5 * q[i] * grad_u(q, i)
    return energy


def _logistic_nested_args(rng, n=8, d=3):
    X = rng.normal(size=(n, d))
    return rng.normal(size=d), X, (rng.uniform(size=n) < 0.5).astype(float)


@program(_logistic_nested_args, wrt=(0,), style="vectorized", model="logistic_nested")
def logistic_local_functions_vec(weights, inputs, targets):
    def sigmoid(z):
        return 0.5 * (np.tanh(z / 2.0) + 1.0)

    def predictions(w):
        return sigmoid(inputs @ w)

    label_probabilities = lambda p: p * targets + (1.0 - p) * (1.0 - targets)  # noqa: E731
    return -np.sum(np.log(label_probabilities(predictions(weights))))



# =============================================================================================
# Linear algebra (issue #17, "NumPy and math functions"): Gaussian process regression as
# Rasmussen & Williams, "Gaussian Processes for Machine Learning", Algorithm 2.1, writes it
# and scikit-learn's GaussianProcessRegressor.log_marginal_likelihood computes it (cholesky,
# triangular solves, the log-diagonal of L); ridge regression by the normal equations (the
# textbook np.linalg.solve of X^T X + lam I); the multivariate normal log-density in the form
# of scipy.stats.multivariate_normal (slogdet, solve) and in einsum form, as numpy mixture-model
# code writes the Mahalanobis term; a Kalman filter's innovation likelihood as statsmodels and
# filterpy write it (inv, slogdet, solve per step); the rigid-body Euler equations with
# np.cross, and a batched matrix product with np.einsum.
# =============================================================================================

def _gp_args(rng, n=7, d=2):
    X = rng.uniform(-2.0, 2.0, size=(n, d))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1] + 0.1 * rng.normal(size=n)
    return np.array([0.2, -0.1, -1.5]), X, y


def _rbf_kernel(X, log_ell, log_sf):
    sqdist = np.sum(X ** 2, 1).reshape(-1, 1) + np.sum(X ** 2, 1) - 2.0 * X @ X.T
    return np.exp(2.0 * log_sf) * np.exp(-0.5 * sqdist / np.exp(2.0 * log_ell))


@program(_gp_args, wrt=(0, 1), style="vectorized", model="gp_marginal_likelihood")
def gp_nll_cholesky(theta, X, y):
    # Algorithm 2.1: L = cholesky(K + sn^2 I), alpha = L^T \ (L \ y)
    n = X.shape[0]
    K = _rbf_kernel(X, theta[0], theta[1]) + np.exp(2.0 * theta[2]) * np.eye(n)
    L = np.linalg.cholesky(K)
    alpha = np.linalg.solve(L.T, np.linalg.solve(L, y))
    return 0.5 * y @ alpha + np.sum(np.log(np.diag(L))) + 0.5 * n * np.log(2.0 * np.pi)


@program(_gp_args, wrt=(0, 1), style="vectorized", model="gp_marginal_likelihood")
def gp_nll_slogdet(theta, X, y):
    # the same from one solve and slogdet, as tutorials without cholesky write it
    n = X.shape[0]
    K = _rbf_kernel(X, theta[0], theta[1]) + np.exp(2.0 * theta[2]) * np.eye(n)
    sign, logdet = np.linalg.slogdet(K)
    return 0.5 * y @ np.linalg.solve(K, y) + 0.5 * logdet + 0.5 * n * np.log(2.0 * np.pi)


def _ridge_args(rng, n=12, d=3):
    X = rng.normal(size=(n, d))
    y = X @ rng.normal(size=d) + 0.1 * rng.normal(size=n)
    Xv = rng.normal(size=(5, d))
    yv = Xv @ rng.normal(size=d)
    return -1.0, X, y, Xv, yv


@program(_ridge_args, wrt=(0, 1, 2), style="vectorized", model="ridge_normal_equations")
def ridge_validation_loss(log_lam, X, y, Xv, yv):
    # the ridge solution by the normal equations, scored on held-out data (hyperparameter
    # gradients of the bilevel problem)
    d = X.shape[1]
    w = np.linalg.solve(X.T @ X + np.exp(log_lam) * np.eye(d), X.T @ y)
    r = Xv @ w - yv
    return np.dot(r, r) / len(yv)


@program(_ridge_args, wrt=(0, 1, 2), style="vectorized", model="ridge_normal_equations")
def ridge_validation_loss_inv(log_lam, X, y, Xv, yv):
    # the same through the explicit inverse, as in many lecture notes: w = (X^T X + lam I)^-1 X^T y
    A = np.linalg.inv(np.dot(X.T, X) + np.exp(log_lam) * np.identity(X.shape[1]))
    w = np.dot(A, np.dot(X.T, y))
    return np.mean((np.dot(Xv, w) - yv) ** 2)


def _mvn_args(rng, n=6, d=3):
    B = rng.normal(scale=0.5, size=(d, d))
    return rng.normal(size=d), B, rng.normal(size=(n, d))


@program(_mvn_args, wrt=(0, 1), style="vectorized", model="mvn_log_density")
def mvn_logpdf_sum(mu, B, X):
    # scipy.stats.multivariate_normal.logpdf summed over the rows, S = B B^T + I
    d = X.shape[1]
    S = B @ B.T + np.eye(d)
    diff = X - mu
    sign, logdet = np.linalg.slogdet(S)
    maha = np.sum(diff * np.linalg.solve(S, diff.T).T, axis=1)
    return np.sum(-0.5 * (d * np.log(2.0 * np.pi) + logdet + maha))


@program(_mvn_args, wrt=(0, 1), style="vectorized", model="mvn_log_density")
def mvn_logpdf_einsum(mu, B, X):
    # the Mahalanobis term as mixture-model code writes it: einsum('ni,ij,nj->n', ...)
    d = X.shape[1]
    S = B @ B.T + np.eye(d)
    diff = X - mu
    maha = np.einsum('ni,ij,nj->n', diff, np.linalg.inv(S), diff)
    return np.sum(-0.5 * (d * np.log(2.0 * np.pi) + np.log(np.linalg.det(S)) + maha))


@program(_mvn_args, wrt=(0, 1), style="loop", model="mvn_log_density")
def mvn_logpdf_rows(mu, B, X):
    # one row at a time, the precision's Cholesky factor applied by a solve per row
    d = X.shape[1]
    L = np.linalg.cholesky(B @ B.T + np.eye(d))
    half_logdet = np.sum(np.log(np.diag(L)))
    total = 0.0
    for i in range(X.shape[0]):
        z = np.linalg.solve(L, X[i] - mu)
        total += -0.5 * np.dot(z, z) - half_logdet - 0.5 * d * np.log(2.0 * np.pi)
    return total


def _kalman2_args(rng, T=6):
    F = np.array([[1.0, 1.0], [0.0, 1.0]])
    H = np.array([[1.0, 0.0]])
    zs = np.cumsum(rng.normal(size=T)).reshape(T, 1)
    return np.array([-1.0, -0.5]), F, H, zs


@program(_kalman2_args, wrt=(0,), style="loop", model="kalman_matrix_likelihood")
def kalman_innovations_loglik(log_noise, F, H, zs):
    # filterpy's predict/update with matrices: S = H P H^T + R, K = P H^T S^-1, and the
    # innovation log-likelihood -0.5 (log|S| + y^T S^-1 y) of statsmodels
    Q = np.exp(log_noise[0]) * np.eye(2)
    R = np.exp(log_noise[1]) * np.eye(1)
    x = np.zeros(2)
    P = np.eye(2)
    ll = 0.0
    for t in range(zs.shape[0]):
        x = F @ x
        P = F @ P @ F.T + Q
        y = zs[t] - H @ x
        S = H @ P @ H.T + R
        K = P @ H.T @ np.linalg.inv(S)
        x = x + K @ y
        P = (np.eye(2) - K @ H) @ P
        sign, logdet = np.linalg.slogdet(S)
        ll += -0.5 * (logdet + y @ np.linalg.solve(S, y))
    return ll


def _rigid_args(rng, steps=20):
    inertia = np.array([1.0, 2.0, 3.0])
    return rng.normal(size=3), np.diag(inertia), 0.01, steps


@program(_rigid_args, wrt=(0, 1), style="loop", model="rigid_body_euler")
def rigid_body_spin(omega0, J, dt, steps):
    # torque-free Euler equations J dw/dt = -w x (J w) (J: the inertia tensor), explicit
    # steps; the kinetic energy and the final angular momentum's first component
    w = omega0
    for k in range(steps):
        dw = np.linalg.solve(J, -np.cross(w, J @ w))
        w = w + dt * dw
    L = J @ w
    return 0.5 * np.dot(w, L) + L[0] ** 2


def _bmm_args(rng, b=3, n=4, d=2):
    return rng.normal(size=(b, n, d)), rng.normal(size=(b, n, d)), rng.normal(size=(b, n, d))


@program(_bmm_args, wrt=(0, 1, 2), style="vectorized", model="batched_attention_einsum")
def attention_einsum(Q, K, V):
    # scaled dot-product attention over a batch, in einsum form
    scores = np.einsum('bqd,bkd->bqk', Q, K) / np.sqrt(Q.shape[2])
    weights = np.exp(scores - np.max(scores, axis=2, keepdims=True))
    weights = weights / np.sum(weights, axis=2, keepdims=True)
    out = np.einsum('bqk,bkd->bqd', weights, V)
    return np.sum(out ** 2)


def _ntn_args(rng, n=5, d=3, k=2):
    return (rng.normal(scale=0.5, size=(k, d, d)), rng.normal(scale=0.5, size=(k, 2 * d)),
            rng.normal(size=k), rng.normal(size=k), rng.normal(size=(n, d)), rng.normal(size=(n, d)))


@program(_ntn_args, wrt=(0, 1, 2, 3), style="vectorized", model="neural_tensor_network")
def ntn_logistic_loss(W, V, b, u, E1, E2):
    # Socher et al.'s neural tensor network score u^T tanh(e1^T W[1:k] e2 + V [e1; e2] + b) of
    # a batch of entity pairs, the bilinear slices in one einsum; a logistic loss on the scores
    bilinear = np.einsum('ni,kij,nj->nk', E1, W, E2)
    hidden = np.tanh(bilinear + np.concatenate((E1, E2), axis=1) @ V.T + b)
    scores = hidden @ u
    return np.sum(np.log1p(np.exp(-scores)))

# =============================================================================================
# Constructs of the last realistic rejections (issue #17): a 2-D boolean mask of observed
# entries, a per-sample outer product written with new axes after the loop index.
# Matrix completion as the numpy ports of Au Yeung's "Matrix Factorization: A Simple Tutorial
# and Implementation in Python" (quuxlabs, 2010) write its loss: the squared error over the
# observed ratings, selected by a mask `R > 0`, plus the L2 penalty of both factors.
# D-optimal design for logistic regression (Atkinson, Donev & Tobias, "Optimum Experimental
# Designs, with SAS", 2007, ch. 22): the weighted Fisher information summed sample by sample,
# F += w_i p_i (1 - p_i) x_i x_i^T, as per-sample code writes the outer product with new axes,
# and minus its log-determinant.
# =============================================================================================

def _completion_args(rng, n=6, m=5, k=2):
    R = rng.integers(1, 6, size=(n, m)).astype(float)
    R[rng.uniform(size=(n, m)) < 0.4] = 0.0                 # 0: not rated
    return rng.normal(scale=0.5, size=(n, k)), rng.normal(scale=0.5, size=(m, k)), R


@program(_completion_args, wrt=(0, 1), style="vectorized", model="matrix_completion")
def matrix_completion_masked_vec(P, Q, R, beta=0.02):
    observed = R > 0
    E = R - P @ Q.T
    return np.sum(E[observed] ** 2) + beta / 2 * (np.sum(P ** 2) + np.sum(Q ** 2))


def _design_args(rng, n=8, d=3):
    return rng.uniform(0.1, 1.0, size=n), rng.normal(size=(n, d)), rng.normal(scale=0.5, size=d)


@program(_design_args, wrt=(0,), style="loop", model="d_optimal_design")
def d_optimal_logistic_loop(weights, X, theta):
    d = X.shape[1]
    F = np.zeros((d, d))
    for i in range(X.shape[0]):
        p = 1.0 / (1.0 + np.exp(-X[i] @ theta))
        F += weights[i] * p * (1.0 - p) * (X[i, :, None] * X[i, None, :])
    sign, logdet = np.linalg.slogdet(F + 1e-3 * np.eye(d))
    return -logdet


# =============================================================================================
# autograd's own examples (github:HIPS/autograd, examples/), the numeric functions as written
# there: logistic_regression.py (module-level toy data with boolean targets), fluidsim.py (Jos
# Stam's stable fluids: np.roll projection, semi-Lagrangian advection with floor, mod and a 2-D
# gather), black_box_svi.py (a closure factory, norm.logpdf with array loc and scale, the
# sampler's noise drawn once outside), negative_binomial_maxlike.py (gammaln and lambdas),
# hmm_em.py (the log partition function: logsumexp along an axis over a loop on the symbols),
# neural_net.py (a list of (W, b) layers, logsumexp with keepdims) and gaussian_process.py (a
# factory taking the covariance function, np.expand_dims distances). What is not numeric
# (plotting, data loading, random initialisation, autograd's flatten) is left out or replaced.
# =============================================================================================

AG_INPUTS = np.array([[0.52, 1.12, 0.77], [0.88, -1.08, 0.15], [0.52, 0.06, -1.30], [0.74, -2.49, 1.39]])
AG_TARGETS = np.array([True, True, False, True])


def _ag_sigmoid(x):
    return 0.5 * (np.tanh(x) + 1)


def _ag_logistic_predictions(weights, inputs):
    # Outputs probability of a label being true according to logistic model.
    return _ag_sigmoid(np.dot(inputs, weights))


@program(lambda rng: (rng.normal(scale=0.5, size=3),), style="vectorized", model="autograd_examples")
def autograd_logistic_training_loss(weights):
    # Training loss is the negative log-likelihood of the training labels.
    preds = _ag_logistic_predictions(weights, AG_INPUTS)
    label_probabilities = preds * AG_TARGETS + (1 - preds) * (1 - AG_TARGETS)
    return -np.sum(np.log(label_probabilities))


FLUID_ROWS = 5
FLUID_INIT_SMOKE = np.linspace(0.0, 1.0, FLUID_ROWS * FLUID_ROWS).reshape(FLUID_ROWS, FLUID_ROWS) ** 2
FLUID_TARGET = np.cos(np.linspace(0.0, 3.0, FLUID_ROWS * FLUID_ROWS)).reshape(FLUID_ROWS, FLUID_ROWS)


def _fluid_project(vx, vy):
    """Project the velocity field to be approximately mass-conserving,
    using a few iterations of Gauss-Seidel."""
    p = np.zeros(vx.shape)
    h = 1.0 / vx.shape[0]
    div = -0.5 * h * (np.roll(vx, -1, axis=0) - np.roll(vx, 1, axis=0)
                      + np.roll(vy, -1, axis=1) - np.roll(vy, 1, axis=1))
    for k in range(10):
        p = (div + np.roll(p, 1, axis=0) + np.roll(p, -1, axis=0)
             + np.roll(p, 1, axis=1) + np.roll(p, -1, axis=1)) / 4.0
    vx -= 0.5 * (np.roll(p, -1, axis=0) - np.roll(p, 1, axis=0)) / h
    vy -= 0.5 * (np.roll(p, -1, axis=1) - np.roll(p, 1, axis=1)) / h
    return vx, vy


def _fluid_advect(f, vx, vy):
    """Move field f according to x and y velocities (u and v)
    using an implicit Euler integrator."""
    rows, cols = f.shape
    cell_ys, cell_xs = np.meshgrid(np.arange(rows), np.arange(cols))
    center_xs = (cell_xs - vx).ravel()
    center_ys = (cell_ys - vy).ravel()
    # Compute indices of source cells.
    left_ix = np.floor(center_xs).astype(int)
    top_ix = np.floor(center_ys).astype(int)
    rw = center_xs - left_ix  # Relative weight of right-hand cells.
    bw = center_ys - top_ix  # Relative weight of bottom cells.
    left_ix = np.mod(left_ix, rows)  # Wrap around edges of simulation.
    right_ix = np.mod(left_ix + 1, rows)
    top_ix = np.mod(top_ix, cols)
    bot_ix = np.mod(top_ix + 1, cols)
    # A linearly-weighted sum of the 4 surrounding cells.
    flat_f = (1 - rw) * ((1 - bw) * f[left_ix, top_ix] + bw * f[left_ix, bot_ix]) + rw * (
        (1 - bw) * f[right_ix, top_ix] + bw * f[right_ix, bot_ix])
    return np.reshape(flat_f, (rows, cols))


def _fluid_simulate(vx, vy, smoke, num_time_steps, ax=None, render=False):
    for t in range(num_time_steps):
        vx_updated = _fluid_advect(vx, vx, vy)
        vy_updated = _fluid_advect(vy, vx, vy)
        vx, vy = _fluid_project(vx_updated, vy_updated)
        smoke = _fluid_advect(smoke, vx, vy)
    return smoke


def _fluid_args(rng):
    return (rng.uniform(-0.3, 0.3, size=2 * FLUID_ROWS * FLUID_ROWS),)


@program(_fluid_args, style="vectorized", model="autograd_fluidsim")
def autograd_fluidsim_objective(params):
    rows, cols = FLUID_TARGET.shape
    init_vx = np.reshape(params[:(rows * cols)], (rows, cols))
    init_vy = np.reshape(params[(rows * cols):], (rows, cols))
    final_smoke = _fluid_simulate(init_vx, init_vy, FLUID_INIT_SMOKE, 2)
    return np.mean((FLUID_TARGET - final_smoke) ** 2)


def _fluid_simulate_quiet(vx, vy, smoke, num_time_steps):
    # simulate() without its plotting parameters (ax=None, render=False)
    for t in range(num_time_steps):
        vx_updated = _fluid_advect(vx, vx, vy)
        vy_updated = _fluid_advect(vy, vx, vy)
        vx, vy = _fluid_project(vx_updated, vy_updated)
        smoke = _fluid_advect(smoke, vx, vy)
    return smoke


@program(_fluid_args, style="vectorized", model="autograd_fluidsim")
def autograd_fluidsim_quiet(params):
    rows, cols = FLUID_TARGET.shape
    init_vx = np.reshape(params[:(rows * cols)], (rows, cols))
    init_vy = np.reshape(params[(rows * cols):], (rows, cols))
    final_smoke = _fluid_simulate_quiet(init_vx, init_vy, FLUID_INIT_SMOKE, 2)
    return np.mean((FLUID_TARGET - final_smoke) ** 2)


@program(_fluid_args, style="vectorized", model="autograd_fluidsim")
def autograd_fluidsim_project(params):
    # the projection alone (np.roll along both axes, a Gauss-Seidel loop, `vx -= ...`), given
    # copies as simulate gives it fresh arrays
    n = FLUID_ROWS
    vx, vy = _fluid_project(np.copy(np.reshape(params[:n * n], (n, n))), np.copy(np.reshape(params[n * n:], (n, n))))
    return np.sum(vx ** 2) + np.sum(vx * vy)


SVI_D = 2
SVI_NOISE = np.random.default_rng(7).normal(size=(8, SVI_D))     # rs.randn(num_samples, D), drawn once


def _svi_log_density(x, t):
    mu, log_sigma = x[:, 0], x[:, 1]
    sigma_density = norm.logpdf(log_sigma, 0, 1.35)
    mu_density = norm.logpdf(mu, 0, np.exp(log_sigma))
    return sigma_density + mu_density


def _black_box_variational_inference(logprob, D, num_samples):
    def unpack_params(params):
        # Variational dist is a diagonal Gaussian.
        mean, log_std = params[:D], params[D:]
        return mean, log_std

    def gaussian_entropy(log_std):
        return 0.5 * D * (1.0 + np.log(2 * np.pi)) + np.sum(log_std)

    def variational_objective(params, t):
        """Provides a stochastic estimate of the variational lower bound."""
        mean, log_std = unpack_params(params)
        samples = SVI_NOISE[:num_samples] * np.exp(log_std) + mean
        lower_bound = gaussian_entropy(log_std) + np.mean(logprob(samples, t))
        return -lower_bound

    return variational_objective


PROGRAMS.append(Program("autograd_black_box_svi", _black_box_variational_inference(_svi_log_density, SVI_D, 8),
                        lambda rng: (np.array([-0.5, 0.3, -0.8, -0.4]), 0), (0,), "vectorized",
                        "autograd_examples"))

NEGBIN_DATA = np.array([3.0, 7.0, 2.0, 9.0, 4.0, 5.0, 12.0, 1.0, 6.0, 4.0])


def _negbin_loglike(r, p, x):
    # the negative binomial log likelihood we want to maximize
    return gammaln(r + x) - gammaln(r) - gammaln(x + 1) + x * np.log(p) + r * np.log(1 - p)


@program(lambda rng: (3.5, 0.45), wrt=(0, 1), style="vectorized", model="autograd_examples")
def autograd_negbin_loglike(r, p):
    loglike = lambda r, p: np.sum(_negbin_loglike(r, p, NEGBIN_DATA))  # noqa: E731
    return loglike(r, p)


@program(lambda rng: (3.5,), style="vectorized", model="autograd_examples")
def autograd_negbin_profile(r):
    # fit_maxlike's lambdas: the profile likelihood in r, p at its optimum given r
    loglike = lambda r, p: np.sum(_negbin_loglike(r, p, NEGBIN_DATA))  # noqa: E731
    p = lambda r: np.sum(NEGBIN_DATA) / np.sum(r + NEGBIN_DATA)  # noqa: E731
    return loglike(r, p(r))


HMM_SYMBOLS = np.array([0, 2, 1, 1, 3, 0, 2, 2, 1])


def _hmm_log_partition_function(natural_params, data):
    log_pi, log_A, log_B = natural_params
    log_alpha = log_pi
    for y in data:
        log_alpha = logsumexp(log_alpha[:, None] + log_A, axis=0) + log_B[:, y]
    return logsumexp(log_alpha)


def _hmm_em_args(rng, k=3, m=4):
    pi = rng.uniform(0.2, 1.0, size=k)
    A = rng.uniform(0.2, 1.0, size=(k, k))
    B = rng.uniform(0.2, 1.0, size=(k, m))
    return pi / pi.sum(), A / A.sum(-1, keepdims=True), B / B.sum(-1, keepdims=True)


@program(_hmm_em_args, wrt=(0, 1, 2), style="vectorized", model="autograd_hmm_em")
def autograd_hmm_em_loglike(pi, A, B):
    # EM_update's E step: the gradient of the log partition function in the natural
    # parameters gives the expected statistics
    natural_params = list(map(np.log, (pi, A, B)))
    return _hmm_log_partition_function(natural_params, HMM_SYMBOLS)


def _ag_normalize(a):
    def replace_zeros(a):
        return np.where(a > 0.0, a, 1.0)
    return a / replace_zeros(a.sum(-1, keepdims=True))


@program(_hmm_em_args, wrt=(0, 1, 2), style="vectorized", model="autograd_hmm_em")
def autograd_hmm_em_normalized(pi, A, B):
    # the M step's normalize (a nested def, a method sum with keepdims) before the E step
    natural_params = [np.log(_ag_normalize(pi)), np.log(_ag_normalize(A)), np.log(_ag_normalize(B))]
    return _hmm_log_partition_function(natural_params, HMM_SYMBOLS)


AG_NET_INPUTS = np.random.default_rng(11).normal(size=(6, 4))
AG_NET_TARGETS = np.eye(3)[[0, 2, 1, 1, 0, 2]]


def _ag_neural_net_predict(params, inputs):
    """Implements a deep neural network for classification.
    params is a list of (weights, bias) tuples.
    inputs is an (N x D) matrix.
    returns normalized class log-probabilities."""
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs - logsumexp(outputs, axis=1, keepdims=True)


def _ag_net_args(rng):
    return (0.5 * rng.normal(size=(4, 5)), 0.5 * rng.normal(size=5), 0.5 * rng.normal(size=(5, 3)),
            0.5 * rng.normal(size=3))


@program(_ag_net_args, wrt=(0, 1, 2, 3), style="vectorized", model="autograd_neural_net")
def autograd_neural_net_log_posterior(W1, b1, W2, b2, L2_reg=1.0):
    params = [(W1, b1), (W2, b2)]
    # l2_norm flattens the parameters with autograd's flatten: the same sum of squares
    log_prior = -L2_reg * sum(np.sum(W ** 2) + np.sum(b ** 2) for W, b in params)
    log_lik = np.sum(_ag_neural_net_predict(params, AG_NET_INPUTS) * AG_NET_TARGETS)
    return log_prior + log_lik


def _make_gp_funs(cov_func, num_cov_params):
    def unpack_kernel_params(params):
        mean = params[0]
        cov_params = params[2:]
        noise_scale = np.exp(params[1]) + 0.0001
        return mean, cov_params, noise_scale

    def log_marginal_likelihood(params, x, y):
        mean, cov_params, noise_scale = unpack_kernel_params(params)
        cov_y_y = cov_func(cov_params, x, x) + noise_scale * np.eye(len(y))
        prior_mean = mean * np.ones(len(y))
        return multivariate_normal.logpdf(y, prior_mean, cov_y_y)

    return num_cov_params + 2, log_marginal_likelihood


def _gp_rbf_covariance(kernel_params, x, xp):
    output_scale = np.exp(kernel_params[0])
    lengthscales = np.exp(kernel_params[1:])
    diffs = np.expand_dims(x / lengthscales, 1) - np.expand_dims(xp / lengthscales, 0)
    return output_scale * np.exp(-0.5 * np.sum(diffs**2, axis=2))


GP_X = np.reshape((np.concatenate([np.linspace(0, 3, 4), np.linspace(6, 8, 4)]) - 4.0) / 2.0, (8, 1))
GP_Y = np.cos(GP_X[:, 0]) / 2.0
_GP_NUM_PARAMS, _gp_log_marginal_likelihood = _make_gp_funs(_gp_rbf_covariance, num_cov_params=2)
PROGRAMS.append(Program("autograd_gp_log_marginal", lambda params: -_gp_log_marginal_likelihood(params, GP_X, GP_Y),
                        lambda rng: (np.array([0.1, -1.0, 0.2, -0.3]),), (0,), "vectorized",
                        "autograd_gaussian_process"))


@program(lambda rng: (np.array([0.1, -1.0, 0.2, -0.3]),), style="vectorized", model="autograd_gaussian_process")
def autograd_gp_rbf_covariance_solve(params):
    # the same likelihood with the density written out (np.linalg.solve and slogdet), as the
    # predict function of the example uses solve
    mean, cov_params, noise_scale = params[0], params[2:], np.exp(params[1]) + 0.0001
    cov_y_y = _gp_rbf_covariance(cov_params, GP_X, GP_X) + noise_scale * np.eye(len(GP_Y))
    r = GP_Y - mean
    sign, logdet = np.linalg.slogdet(cov_y_y)
    return 0.5 * np.dot(r, np.linalg.solve(cov_y_y, r)) + 0.5 * logdet + 0.5 * len(GP_Y) * np.log(2 * np.pi)


# =============================================================================================
# Optimization test functions as benchmark suites write them (Ackley, Himmelblau, Beale,
# Styblinski-Tang: the formulas of Surjanovic & Bingham's Virtual Library of Simulation
# Experiments, the numpy spellings of the Python ports there: default constants, sqrt of a mean,
# an unpacked x), JAX's "Training a simple neural network" tutorial (relu, a list of (w, b)
# layers with the last one unpacked, logsumexp), and matplotlib's double pendulum gallery
# example (derivs writing a new state vector, an explicit Euler loop filling a trajectory).
# =============================================================================================

@program(lambda rng: (rng.uniform(-2.0, 2.0, size=4),), style="vectorized", model="test_functions")
def ackley(x, a=20, b=0.2, c=2 * np.pi):
    d = len(x)
    sum1 = np.sum(x ** 2)
    sum2 = np.sum(np.cos(c * x))
    term1 = -a * np.exp(-b * np.sqrt(sum1 / d))
    term2 = -np.exp(sum2 / d)
    return term1 + term2 + a + np.exp(1)


@program(lambda rng: (rng.uniform(-2.0, 2.0, size=4),), style="vectorized", model="test_functions")
def ackley_mean(x):
    return -20.0 * np.exp(-0.2 * np.sqrt(np.mean(x ** 2))) - np.exp(np.mean(np.cos(2 * np.pi * x))) + 20.0 + np.e


@program(lambda rng: (rng.uniform(-4.0, 4.0, size=2),), style="loop", model="test_functions")
def himmelblau(p):
    x, y = p
    return (x ** 2 + y - 11) ** 2 + (x + y ** 2 - 7) ** 2


@program(lambda rng: (rng.uniform(-2.0, 2.0, size=2),), style="loop", model="test_functions")
def beale(xy):
    x, y = xy[0], xy[1]
    return ((1.5 - x + x * y) ** 2 + (2.25 - x + x * y ** 2) ** 2
            + (2.625 - x + x * y ** 3) ** 2)


@program(lambda rng: (rng.uniform(-4.0, 4.0, size=5),), style="vectorized", model="test_functions")
def styblinski_tang(x):
    return np.sum(x ** 4 - 16 * x ** 2 + 5 * x) / 2


@program(lambda rng: (rng.uniform(-4.0, 4.0, size=5),), style="loop", model="test_functions")
def styblinski_tang_loop(x):
    total = 0
    for xi in x:
        total += xi ** 4 - 16 * xi ** 2 + 5 * xi
    return total / 2


@program(lambda rng: (rng.uniform(-3.0, 3.0, size=6),), style="vectorized", model="test_functions")
def rastrigin(x, A=10):
    n = x.size
    return A * n + np.sum(x ** 2 - A * np.cos(2 * np.pi * x))


JAX_NN_IMAGES = np.random.default_rng(3).normal(size=(5, 4))
JAX_NN_TARGETS = np.eye(3)[[1, 0, 2, 2, 1]]


def _jax_relu(x):
    return np.maximum(0, x)


def _jax_nn_predict(params, image):
    # per-example predictions
    activations = image
    for w, b in params[:-1]:
        outputs = np.dot(w, activations) + b
        activations = _jax_relu(outputs)
    final_w, final_b = params[-1]
    logits = np.dot(final_w, activations) + final_b
    return logits - logsumexp(logits)


def _jax_nn_args(rng):
    return (0.5 * rng.normal(size=(6, 4)), 0.1 * rng.normal(size=6), 0.5 * rng.normal(size=(3, 6)),
            0.1 * rng.normal(size=3))


@program(_jax_nn_args, wrt=(0, 1, 2, 3), style="loop", model="jax_simple_nn")
def jax_nn_loss_per_example(w1, b1, w2, b2):
    # the tutorial batches predict with vmap; here, one image at a time
    params = [(w1, b1), (w2, b2)]
    total = 0.0
    for i in range(JAX_NN_IMAGES.shape[0]):
        preds = _jax_nn_predict(params, JAX_NN_IMAGES[i])
        total += np.sum(preds * JAX_NN_TARGETS[i])
    return -total / JAX_NN_IMAGES.shape[0]


def _jax_batched_predict(params, images):
    activations = images
    for w, b in params[:-1]:
        outputs = np.dot(activations, w.T) + b
        activations = _jax_relu(outputs)
    final_w, final_b = params[-1]
    logits = np.dot(activations, final_w.T) + final_b
    return logits - logsumexp(logits, axis=1)[:, None]


@program(_jax_nn_args, wrt=(0, 1, 2, 3), style="vectorized", model="jax_simple_nn")
def jax_nn_loss(w1, b1, w2, b2):
    params = [(w1, b1), (w2, b2)]
    preds = _jax_batched_predict(params, JAX_NN_IMAGES)
    return -np.mean(preds * JAX_NN_TARGETS)


PENDULUM_G = 9.8  # acceleration due to gravity, in m/s^2
PENDULUM_L1 = 1.0  # length of pendulum 1 in m
PENDULUM_L2 = 1.0  # length of pendulum 2 in m
PENDULUM_L = PENDULUM_L1 + PENDULUM_L2  # maximal length of the combined pendulum
PENDULUM_M1 = 1.0  # mass of pendulum 1 in kg
PENDULUM_M2 = 1.0  # mass of pendulum 2 in kg


def _double_pendulum_derivs(t, state):
    G, L1, L2, M1, M2 = PENDULUM_G, PENDULUM_L1, PENDULUM_L2, PENDULUM_M1, PENDULUM_M2
    dydx = np.zeros_like(state)
    dydx[0] = state[1]
    delta = state[2] - state[0]
    den1 = (M1 + M2) * L1 - M2 * L1 * np.cos(delta) * np.cos(delta)
    dydx[1] = ((M2 * L1 * state[1] * state[1] * np.sin(delta) * np.cos(delta)
                + M2 * G * np.sin(state[2]) * np.cos(delta)
                + M2 * L2 * state[3] * state[3] * np.sin(delta)
                - (M1 + M2) * G * np.sin(state[0]))
               / den1)
    dydx[2] = state[3]
    den2 = (L2 / L1) * den1
    dydx[3] = ((- M2 * L2 * state[3] * state[3] * np.sin(delta) * np.cos(delta)
                + (M1 + M2) * G * np.sin(state[0]) * np.cos(delta)
                - (M1 + M2) * L1 * state[1] * state[1] * np.sin(delta)
                - (M1 + M2) * G * np.sin(state[2]))
               / den2)
    return dydx


@program(lambda rng: (np.radians(np.array([120.0, 0.0, -10.0, 0.0])),), style="loop", model="double_pendulum")
def double_pendulum_euler(state):
    # the gallery's explicit Euler integration, then the tip's final position
    dt = 0.01
    t = np.arange(0, 0.2, dt)
    y = np.empty((len(t), 4))
    y[0] = state
    for i in range(1, len(t)):
        y[i] = y[i - 1] + _double_pendulum_derivs(t[i - 1], y[i - 1]) * dt
    x1 = PENDULUM_L1 * np.sin(y[:, 0])
    y1 = -PENDULUM_L1 * np.cos(y[:, 0])
    x2 = PENDULUM_L2 * np.sin(y[:, 2]) + x1
    y2 = -PENDULUM_L2 * np.cos(y[:, 2]) + y1
    return x2[-1] + y2[-1]


# autograd's rnn.py: rnn_predict's closures, concat_and_multiply(weights, *args) stacking the
# inputs with a column of ones, np.repeat of the initial hidden row along axis 0, the outputs
# collected in a list; the parameter dictionary is three arrays here.
RNN_INPUTS = np.eye(4)[[[0, 1], [2, 3], [1, 1]]]           # (time steps, sequences, alphabet)


def _rnn_concat_and_multiply(weights, *args):
    cat_state = np.hstack(args + (np.ones((args[0].shape[0], 1)),))
    return np.dot(cat_state, weights)


def _rnn_args(rng, state=3, alphabet=4):
    return (0.5 * rng.normal(size=(1, state)), 0.5 * rng.normal(size=(alphabet + state + 1, state)),
            0.5 * rng.normal(size=(state + 1, alphabet)))


@program(_rnn_args, wrt=(0, 1, 2), style="vectorized", model="autograd_rnn")
def autograd_rnn_log_likelihood(init_hiddens, change, predict):
    def update_rnn(input, hiddens):
        return np.tanh(_rnn_concat_and_multiply(change, input, hiddens))

    def hiddens_to_output_probs(hiddens):
        output = _rnn_concat_and_multiply(predict, hiddens)
        return output - logsumexp(output, axis=1, keepdims=True)  # Normalize log-probs.

    num_sequences = RNN_INPUTS.shape[1]
    hiddens = np.repeat(init_hiddens, num_sequences, axis=0)
    output = [hiddens_to_output_probs(hiddens)]
    for input in RNN_INPUTS:  # Iterate over time steps.
        hiddens = update_rnn(input, hiddens)
        output.append(hiddens_to_output_probs(hiddens))
    logprobs = output
    loglik = 0.0
    num_time_steps, num_examples, _ = RNN_INPUTS.shape
    for t in range(num_time_steps):
        loglik += np.sum(logprobs[t] * RNN_INPUTS[t])
    return loglik / (num_time_steps * num_examples)


@program(lambda rng: (0.5 * rng.normal(size=(1, 3)),), style="vectorized", model="autograd_rnn")
def autograd_rnn_initial_hiddens(init_hiddens):
    # rnn_predict's first line alone: the initial row repeated for each sequence
    hiddens = np.repeat(init_hiddens, RNN_INPUTS.shape[1], axis=0)
    return np.sum(np.tanh(hiddens) * RNN_INPUTS[0, :, :3])


# =============================================================================================
# numpy's options as other authors write them (issue "Reach"): the Whittaker smoother (Eilers,
# "A perfect smoother", Anal. Chem. 2003) penalizes the second differences np.diff(z, n=2); the
# lasso objective (scikit-learn's Lasso documentation) adds alpha times np.linalg.norm(w, 1); a
# quadratic fit with errors in the abscissae builds its design matrix with np.column_stack; an
# ordered weighted average (Yager 1988) sorts each row's scores with np.sort(..., axis=1).
# =============================================================================================

def _whittaker_args(rng, n=12):
    y = np.sin(np.linspace(0.0, 3.0, n)) + rng.normal(scale=0.1, size=n)
    return y + rng.normal(scale=0.05, size=n), y, 10.0


@program(_whittaker_args, wrt=(0,), style="vectorized", model="whittaker_smoother")
def whittaker_smoother_vec(z, y, lam):
    return np.sum((y - z) ** 2) + lam * np.sum(np.diff(z, n=2) ** 2)


def _lasso_args(rng, n=10, d=4):
    X = rng.normal(size=(n, d))
    return rng.normal(size=d), X, X @ np.array([1.0, 0.0, -2.0, 0.5]) + rng.normal(scale=0.1, size=n)


@program(_lasso_args, wrt=(0,), style="vectorized", model="lasso_objective")
def lasso_objective_vec(w, X, y, alpha=0.1):
    n_samples = X.shape[0]
    return 0.5 / n_samples * np.linalg.norm(y - X @ w) ** 2 + alpha * np.linalg.norm(w, 1)


def _quadratic_fit_args(rng, n=9):
    t = np.linspace(-1.0, 1.0, n) + rng.normal(scale=0.05, size=n)
    return np.array([0.5, -1.0, 2.0]), t, 0.5 - t + 2.0 * t ** 2 + rng.normal(scale=0.1, size=n)


@program(_quadratic_fit_args, wrt=(0, 1), style="vectorized", model="quadratic_fit_errors_in_t")
def quadratic_fit_design_vec(coef, t, y):
    X = np.column_stack((np.ones_like(t), t, t ** 2))
    residual = X @ coef - y
    return residual @ residual


def _owa_args(rng, n=5, d=3, k=4):
    return rng.normal(size=(d, k)), rng.normal(size=(n, d)), np.array([0.1, 0.2, 0.3, 0.4])


@program(_owa_args, wrt=(0,), style="vectorized", model="ordered_weighted_average")
def ordered_weighted_average_vec(W, X, weights):
    scores = np.sort(np.tanh(X @ W), axis=1)
    return np.sum(scores @ weights)


# =============================================================================================
# More of autograd's examples (github:HIPS/autograd, examples/): ode_net.py (nn_predict's loop
# over a list of (W, b) layers, the ODE integrated here by explicit Euler steps where the
# example calls odeint, and L1_loss), gmm.py (gmm_log_likelihood: zip(*unpack(params)),
# mvn.logpdf per cluster appended to a list, np.vstack of it) and bayesian_neural_net.py
# (make_nn_funs' logprob: unpack_layers a generator yielding each layer's reshaped weights,
# np.einsum over weight samples). The parameter dictionaries become arrays.
# =============================================================================================

ODE_TRUE_Y0 = np.array([2.0, 0.0])
ODE_T = np.linspace(0.0, 1.5, 8)
ODE_TRUE_Y = np.stack([2.0 * np.exp(-0.1 * ODE_T) * np.cos(2.0 * ODE_T),
                       -2.0 * np.exp(-0.1 * ODE_T) * np.sin(2.0 * ODE_T)], axis=1)


def _ode_nn_predict(inputs, t, params):
    for W, b in params:
        outputs = np.dot(inputs, W) + b
        inputs = np.maximum(0, outputs)
    return outputs


def _ode_pred_euler(params, y0, t):
    # odeint(nn_predict, y0, t, tuple((params,))), as explicit Euler steps between the times
    ys = [y0]
    y = y0
    for k in range(len(t) - 1):
        y = y + (t[k + 1] - t[k]) * _ode_nn_predict(y, t[k], params)
        ys.append(y)
    return np.stack(ys)


def _ode_L1_loss(pred, targets):
    return np.mean(np.abs(pred - targets))


def _ode_net_args(rng, hidden=6):
    return (0.5 * rng.normal(size=(2, hidden)), 0.1 * rng.normal(size=hidden) + 0.3,
            0.5 * rng.normal(size=(hidden, 2)), 0.1 * rng.normal(size=2))


@program(_ode_net_args, wrt=(0, 1, 2, 3), style="vectorized", model="autograd_ode_net")
def autograd_ode_net_loss(W1, b1, W2, b2):
    params = [(W1, b1), (W2, b2)]
    pred = _ode_pred_euler(params, ODE_TRUE_Y0, ODE_T)
    return _ode_L1_loss(pred, ODE_TRUE_Y)


GMM_DATA = np.random.default_rng(5).normal(size=(7, 2))


def _gmm_log_normalize(x):
    return x - logsumexp(x)


def _unpack_gmm_params(log_proportions, means, lower_triangles):
    normalized_log_proportions = _gmm_log_normalize(log_proportions)
    return normalized_log_proportions, means, lower_triangles


def _autograd_gmm_args(rng, k=2, d=2):
    return (0.1 * rng.normal(size=k), rng.normal(size=(k, d)),
            np.eye(d) + 0.1 * rng.normal(size=(k, d, d)))


@program(_autograd_gmm_args, wrt=(0, 1, 2), style="vectorized", model="autograd_gmm")
def autograd_gmm_log_likelihood(log_proportions, means, lower_triangles):
    cluster_lls = []
    for log_proportion, mean, cov_sqrt in zip(*_unpack_gmm_params(log_proportions, means, lower_triangles)):
        cov = np.dot(cov_sqrt.T, cov_sqrt)
        cluster_lls.append(log_proportion + multivariate_normal.logpdf(GMM_DATA, mean, cov))
    return np.sum(logsumexp(np.vstack(cluster_lls), axis=0))


BNN_LAYER_SIZES = [1, 4, 1]
BNN_INPUTS = np.linspace(-1.0, 1.0, 5).reshape(5, 1)
BNN_TARGETS = np.cos(4.0 * BNN_INPUTS)


def _bnn_unpack_layers(weights):
    shapes = zip(BNN_LAYER_SIZES[:-1], BNN_LAYER_SIZES[1:])
    num_weight_sets = len(weights)
    for m, n in shapes:
        yield weights[:, :m * n].reshape((num_weight_sets, m, n)), \
            weights[:, m * n:m * n + n].reshape((num_weight_sets, 1, n))
        weights = weights[:, (m + 1) * n:]


def _bnn_predictions(weights, inputs):
    inputs = np.expand_dims(inputs, 0)
    for W, b in _bnn_unpack_layers(weights):
        outputs = np.einsum('mnd,mdo->mno', inputs, W) + b
        inputs = np.tanh(outputs)
    return outputs


@program(lambda rng: (rng.normal(size=(3, 13)),), style="vectorized", model="autograd_bayesian_nn")
def autograd_bnn_logprob(weights):
    # make_nn_funs' logprob with L2_reg=0.01, noise_variance=0.01, summed over the weight samples
    log_prior = -0.01 * np.sum(weights**2, axis=1)
    preds = _bnn_predictions(weights, BNN_INPUTS)
    log_lik = -np.sum((preds - BNN_TARGETS)**2, axis=1)[:, 0] / 0.01
    return np.sum(log_prior + log_lik)


# autograd's variational_autoencoder.py: vae_lower_bound with the recognition and generative
# networks as lists of (W, b) layers, batch_normalize (mean and std with keepdims), norm.logpdf
# with array and number parameters, np.logaddexp; sample_diag_gaussian's rs.randn(*mean.shape)
# becomes noise drawn once (passed where the example passes rs)
VAE_IMAGES = np.where(np.random.default_rng(8).uniform(size=(4, 6)) > 0.5, 1.0, -1.0)   # binarised
VAE_NOISE = np.random.default_rng(9).normal(size=(4, 2))


def _vae_diag_gaussian_log_density(x, mu, log_std):
    return np.sum(norm.logpdf(x, mu, np.exp(log_std)), axis=-1)


def _vae_unpack_gaussian_params(params):
    # Params of a diagonal Gaussian.
    D = np.shape(params)[-1] // 2
    mean, log_std = params[:, :D], params[:, D:]
    return mean, log_std


def _vae_sample_diag_gaussian(mean, log_std, noise):
    return noise * np.exp(log_std) + mean


def _vae_bernoulli_log_density(targets, unnormalized_logprobs):
    # unnormalized_logprobs are in R
    # Targets must be -1 or 1
    label_probabilities = -np.logaddexp(0, -unnormalized_logprobs * targets)
    return np.sum(label_probabilities, axis=-1)  # Sum across pixels.


def _vae_relu(x):
    return np.maximum(0, x)


def _vae_batch_normalize(activations):
    mbmean = np.mean(activations, axis=0, keepdims=True)
    return (activations - mbmean) / (np.std(activations, axis=0, keepdims=True) + 1)


def _vae_neural_net_predict(params, inputs):
    for W, b in params[:-1]:
        outputs = _vae_batch_normalize(np.dot(inputs, W) + b)  # linear transformation
        inputs = _vae_relu(outputs)  # nonlinear transformation
    outW, outb = params[-1]
    outputs = np.dot(inputs, outW) + outb
    return outputs


def _vae_nn_predict_gaussian(params, inputs):
    # Returns means and diagonal variances
    return _vae_unpack_gaussian_params(_vae_neural_net_predict(params, inputs))


def _vae_p_images_given_latents(gen_params, images, latents):
    preds = _vae_neural_net_predict(gen_params, latents)
    return _vae_bernoulli_log_density(images, preds)


def _vae_lower_bound(gen_params, rec_params, data, noise):
    q_means, q_log_stds = _vae_nn_predict_gaussian(rec_params, data)
    latents = _vae_sample_diag_gaussian(q_means, q_log_stds, noise)
    q_latents = _vae_diag_gaussian_log_density(latents, q_means, q_log_stds)
    p_latents = _vae_diag_gaussian_log_density(latents, 0, 0)
    likelihood = _vae_p_images_given_latents(gen_params, data, latents)
    return np.mean(p_latents + likelihood - q_latents)


def _vae_args(rng, data_dim=6, hidden=5, latent_dim=2):
    def layer(m, n):
        return 0.3 * rng.normal(size=(m, n)), 0.1 * rng.normal(size=n)
    return (*layer(latent_dim, hidden), *layer(hidden, data_dim), *layer(data_dim, hidden), *layer(hidden, 2 * latent_dim))


@program(_vae_args, wrt=(0, 1, 2, 3, 4, 5, 6, 7), style="vectorized", model="autograd_vae")
def autograd_vae_objective(gW1, gb1, gW2, gb2, rW1, rb1, rW2, rb2):
    # objective(combined_params, iter) for one batch: the parameter lists built from arrays
    gen_params, rec_params = [(gW1, gb1), (gW2, gb2)], [(rW1, rb1), (rW2, rb2)]
    return -_vae_lower_bound(gen_params, rec_params, VAE_IMAGES, VAE_NOISE) / 6


# The SciPy Cookbook's Lotka-Volterra tutorial (scipy-cookbook, LoktaVolterraTutorial): dX_dt
# returning np.array([...]) of the rabbits' and foxes' rates, a nested def reading the fit's
# parameters (as the tutorial's LV(a, b, c, d, t) defines it), or a module function called
# through `lambda x, _: dX_dt(x, a, b, c, d)`; integrate.odeint(f, X0, t) becomes classical RK4
# on the same time grid, a helper taking the rate function as its argument
LV_X0 = np.array([10.0, 5.0])
LV_T = np.linspace(0.0, 1.0, 9)
LV_OBSERVED = np.array([[10.0, 5.0], [10.2, 4.5], [10.6, 4.1], [11.1, 3.8], [11.7, 3.5], [12.4, 3.3],
                        [13.2, 3.1], [14.1, 3.0], [15.1, 2.9]])


def _lv_odeint_rk4(f, X0, t):
    X = np.zeros((len(t), len(X0)))
    X[0] = X0
    for i in range(len(t) - 1):
        h = t[i + 1] - t[i]
        k1 = f(X[i], t[i])
        k2 = f(X[i] + h / 2 * k1, t[i] + h / 2)
        k3 = f(X[i] + h / 2 * k2, t[i] + h / 2)
        k4 = f(X[i] + h * k3, t[i] + h)
        X[i + 1] = X[i] + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return X


def _lv_dX_dt(X, a, b, c, d):
    """ Return the growth rate of fox and rabbit populations. """
    return np.array([a * X[0] - b * X[0] * X[1],
                     -c * X[1] + d * b * X[0] * X[1]])


@program(lambda rng: (np.array([1.0, 0.1, 1.5, 0.75]),), style="loop", model="lotka_volterra")
def lotka_volterra_fit_nested(params):
    a, b, c, d = params

    def dX_dt(X, t=0):
        """ Return the growth rate of fox and rabbit populations. """
        return np.array([a * X[0] - b * X[0] * X[1],
                         -c * X[1] + d * b * X[0] * X[1]])

    X = _lv_odeint_rk4(dX_dt, LV_X0, LV_T)
    return np.sum((X - LV_OBSERVED) ** 2)


@program(lambda rng: (np.array([1.0, 0.1, 1.5, 0.75]),), style="loop", model="lotka_volterra")
def lotka_volterra_fit_lambda(params):
    a, b, c, d = params
    X = _lv_odeint_rk4(lambda x, _: _lv_dX_dt(x, a, b, c, d), LV_X0, LV_T)
    return np.sum((X - LV_OBSERVED) ** 2)


# scipy's global-optimization benchmarks (tests/realistic_go.py): bound methods
# `fun(self, x, *args)` that count their calls in self.nfev, and the same formula as a function
_GO_GRIEWANK, _GO_GULF = _go.Griewank(4), _go.Gulf(3)
PROGRAMS.append(Program("scipy_go_griewank", _GO_GRIEWANK.fun, lambda rng: (rng.uniform(-5.0, 5.0, size=4),),
                        (0,), "vectorized", "scipy_go_benchmarks"))
PROGRAMS.append(Program("scipy_go_gulf", _GO_GULF.fun, lambda rng: (np.array([40.0, 20.0, 1.2]),),
                        (0,), "vectorized", "scipy_go_benchmarks"))
PROGRAMS.append(Program("scipy_go_griewank_function", _go.griewank_fun,
                        lambda rng: (rng.uniform(-5.0, 5.0, size=4),), (0,), "vectorized", "scipy_go_benchmarks"))


BY_NAME = {p.name: p for p in PROGRAMS}
assert len(BY_NAME) == len(PROGRAMS), "program names must be unique"
