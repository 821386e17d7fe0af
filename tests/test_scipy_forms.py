"""scipy functions written as numpy's (frontend/call_forms.py). scipy.linalg's solvers: Gaussian-process
code in the form Rasmussen and Williams give it (Algorithm 2.1: a Cholesky factor, two
triangular solves, the log determinant from the factor's diagonal), against central finite
differences and autograd's scipy wrappers; the triangle each solver reads (scipy ignores the
other, and so must the gradient); the options refused with a hint that works; and a scipy
function without a rule refused at the user's line, never looked into as if it were a helper.
scipy.special's softmax and log_softmax (through logsumexp): a classifier's loss along an axis.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.linalg import cholesky, solve_triangular
from scipy.special import log_softmax, softmax

import adjoint
from tests.conftest import make_rng
from tests.oracles import finite_difference

INPUTS = make_rng("scipy linalg", "inputs").normal(size=(7, 2))
TARGETS = np.sin(INPUTS[:, 0]) + 0.1 * INPUTS[:, 1]


def gp_negative_log_likelihood(log_params):
    """The marginal likelihood of a squared-exponential GP, Rasmussen & Williams Alg. 2.1."""
    length, signal, noise = np.exp(log_params)
    d = INPUTS[:, None, :] - INPUTS[None, :, :]
    K = signal ** 2 * np.exp(-0.5 * np.sum(d ** 2, axis=-1) / length ** 2)
    L = scipy.linalg.cholesky(K + noise ** 2 * np.eye(len(INPUTS)), lower=True)
    alpha = solve_triangular(L.T, solve_triangular(L, TARGETS, lower=True), lower=False)
    n = len(TARGETS)
    return 0.5 * TARGETS @ alpha + np.sum(np.log(np.diag(L))) + 0.5 * n * np.log(2 * np.pi)


def upper_factor(log_params):
    """scipy's default: the upper factor R (K = R.T @ R), solved through with trans='T'."""
    length, signal, noise = np.exp(log_params)
    sq = np.sum((INPUTS[:, None, :] - INPUTS[None, :, :]) ** 2, axis=-1)
    K = signal ** 2 * np.exp(-0.5 * sq / length ** 2) + noise ** 2 * np.eye(INPUTS.shape[0])
    R = cholesky(K)
    a = solve_triangular(R, TARGETS, trans="T")
    b = solve_triangular(R, a, check_finite=False)
    return TARGETS @ b + 2.0 * np.sum(np.log(np.diag(R)))


def general_solvers(A):
    b = np.array([1.0, -2.0, 0.5])
    return np.sum(scipy.linalg.solve(A, b) ** 2) + scipy.linalg.det(A) + np.sum(scipy.linalg.inv(A) @ A @ A)


def triangles_read(A):
    """Solvers given a full matrix: each reads one triangle of it, as scipy does."""
    b = np.array([1.0, 2.0, 3.0])
    lower = solve_triangular(A, b, lower=True, trans=1)
    upper = solve_triangular(A, b)
    return np.sum(lower ** 3) + np.sum(upper ** 2) + np.sum(cholesky(A @ A.T + 3.0 * np.eye(3)) * np.arange(9.0).reshape(3, 3))


def _autograd_gp(log_params):
    """The same likelihood through autograd's own scipy wrappers (an independent oracle)."""
    import autograd.numpy as anp
    from autograd.scipy.linalg import solve_triangular as ag_solve_triangular
    length, signal, noise = anp.exp(log_params)
    d = INPUTS[:, None, :] - INPUTS[None, :, :]
    K = signal ** 2 * anp.exp(-0.5 * anp.sum(d ** 2, axis=-1) / length ** 2)
    L = anp.linalg.cholesky(K + noise ** 2 * anp.eye(len(INPUTS)))
    alpha = ag_solve_triangular(L.T, ag_solve_triangular(L, TARGETS, lower=True), lower=False)
    return 0.5 * anp.dot(TARGETS, alpha) + anp.sum(anp.log(anp.diag(L))) + 0.5 * len(TARGETS) * anp.log(2 * anp.pi)


def softmax_classifier(W, X, labels):
    """Mean cross-entropy of a linear classifier, with scipy's log_softmax along the classes."""
    logp = log_softmax(X @ W, axis=1)
    return -np.mean(logp[np.arange(len(labels)), labels]) + 0.01 * np.sum(softmax(W, axis=0) ** 2)


def whole_softmax(x):
    return np.sum(softmax(x) * np.arange(4.0)) + np.sum(log_softmax(x, axis=-1) ** 2)


def _autograd_classifier(W, X, labels):
    import autograd.numpy as anp
    from autograd.scipy.special import logsumexp
    Z = anp.dot(X, W)
    logp = Z - logsumexp(Z, axis=1, keepdims=True)
    S = anp.exp(W - logsumexp(W, axis=0, keepdims=True))
    return -anp.mean(logp[anp.arange(len(labels)), labels]) + 0.01 * anp.sum(S ** 2)


PARAMS = np.array([0.2, -0.1, -1.2])


def _full_matrix():
    return make_rng("scipy linalg", "matrix").normal(size=(3, 3)) + 3.0 * np.eye(3)


@pytest.mark.parametrize("fn, args", [(gp_negative_log_likelihood, (PARAMS,)), (upper_factor, (PARAMS,)),
                                      (general_solvers, (_full_matrix(),)), (triangles_read, (_full_matrix(),))],
                         ids=lambda v: getattr(v, "__name__", ""))
def test_gradient_matches_finite_differences(fn, args):
    got = adjoint.grad(fn, target="python")(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, 0), rtol=1e-5, atol=1e-7)


def test_gp_likelihood_matches_autograd():
    """(python target: what reaches numba is np.linalg's calls, compiled in tests/test_linalg.py)"""
    from autograd import grad as autograd_grad
    want = autograd_grad(_autograd_gp)(PARAMS)
    np.testing.assert_allclose(adjoint.grad(gp_negative_log_likelihood, target="python")(PARAMS), want, rtol=1e-9)


def test_softmax_forms_match_autograd_and_finite_differences():
    rng = make_rng("scipy forms", "softmax")
    W, X, labels = rng.normal(size=(3, 4)), rng.normal(size=(5, 3)), np.array([0, 3, 1, 2, 3])
    from autograd import grad as autograd_grad
    np.testing.assert_allclose(adjoint.grad(softmax_classifier, target="python")(W, X, labels),
                               autograd_grad(_autograd_classifier)(W, X, labels), rtol=1e-9, atol=1e-12)
    x = rng.normal(size=4)
    np.testing.assert_allclose(adjoint.grad(whole_softmax, target="cpu")(x), finite_difference(whole_softmax, (x,), 0),
                               rtol=1e-6)


def test_forward_mode_matches_finite_differences():
    direction = np.array([0.3, -0.5, 0.2])
    _, tangent = adjoint.jvp(upper_factor, target="python")(PARAMS, direction)
    np.testing.assert_allclose(tangent, finite_difference(upper_factor, (PARAMS,), 0) @ direction, rtol=1e-5)


def test_the_emitted_code_reads_numpy():
    source = adjoint.source(gp_negative_log_likelihood, types="log_params=float64[:]")
    code = [line.split("#")[0] for line in source.splitlines()[1:]]      # (comments quote the user's lines)
    assert any("np.linalg.cholesky(" in line for line in code) and any("np.linalg.solve(" in line for line in code)
    assert not any("scipy" in line or "solve_triangular" in line for line in code)


def unit_diagonal(A):
    return np.sum(solve_triangular(A, np.array([1.0, 2.0, 3.0]), unit_diagonal=True))


def unit_diagonal_rewritten(A):
    return np.sum(solve_triangular(np.triu(A, 1) + np.eye(3), np.array([1.0, 2.0, 3.0])))


def positional_options(A):
    return np.sum(solve_triangular(A, np.array([1.0, 2.0, 3.0]), 0, True))


def symmetric_solver(A):
    return np.sum(scipy.linalg.solve(A, np.array([1.0, 2.0, 3.0]), assume_a="sym"))


def softmax_axis_by_name(A):
    axis = 1
    return np.sum(softmax(A, axis=axis) * A)


def no_rule(A):
    return np.sum(scipy.linalg.expm(A))


@pytest.mark.parametrize("fn, message, hint", [
    (unit_diagonal, "the option `unit_diagonal=` of `solve_triangular` is not supported", "np.triu(a, 1) + np.eye(n)"),
    (positional_options, "`solve_triangular` with 4 positional arguments", "options by name"),
    (symmetric_solver, "the option `assume_a=` of `scipy.linalg.solve` is not supported", "general solver"),
    (softmax_axis_by_name, "`axis=` of `softmax` must be written in the call as an integer or None", "axis=1"),
    (no_rule, "no derivative rule for `scipy.linalg", "@adjoint.vjp_rule"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_refused_at_the_users_line(fn, message, hint):
    with pytest.raises(adjoint.AdjointError) as error:
        adjoint.grad(fn, target="python")(_full_matrix())
    text = str(error.value)
    assert message in text and hint in text
    assert text.startswith(f"{__file__}:")                    # the user's line, not scipy's source


def test_the_unit_diagonal_hint_works():
    A = _full_matrix()
    np.testing.assert_allclose(unit_diagonal_rewritten(A), np.sum(scipy.linalg.solve_triangular(
        A, np.array([1.0, 2.0, 3.0]), unit_diagonal=True)))
    np.testing.assert_allclose(adjoint.grad(unit_diagonal_rewritten, target="python")(A),
                               finite_difference(unit_diagonal_rewritten, (A,), 0), rtol=1e-5, atol=1e-8)
