"""Linear algebra (adjoint/primitives/rules/linalg.py): np.cross, np.kron, np.outer, np.einsum and
np.linalg.solve / inv / det / slogdet / cholesky inside whole programs, against central finite
differences and autograd (tests/oracles.py), in reverse and forward mode; a few compiled by
numba; and the located errors of the forms that are not supported.

The rules themselves, one call each, are checked row by row in tests/test_primitive_table.py.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import adjoint
from tests.conftest import compiled, make_rng
from tests.oracles import autograd_gradient, finite_difference

RTOL = 1e-6


def _spd(rng, n):
    b = rng.normal(size=(n, n))
    return b @ b.T + n * np.eye(n)


# programs -----------------------------------------------------------------------------------

def cross_vectors(a, b):
    c = np.cross(a, b)
    return np.sum(c * c) + np.dot(np.cross(c, a), b)


def cross_rows(P, axis):
    # rows of P crossed with one axis (broadcast), then with each other
    Q = np.cross(axis, P)
    return np.sum(np.cross(Q, P) ** 2) + np.sum(Q)


def kron_program(A, B, u, v):
    return np.sum(np.kron(A, B) ** 2) + np.sum(np.kron(u, v) * np.kron(v, u))


def outer_program(u, v):
    return np.sum(np.tanh(np.outer(u, v)))


def solve_vector(A, b):
    x = np.linalg.solve(A, b)
    return np.sum(x * x) + np.dot(b, x)


def solve_matrix(A, B):
    X = np.linalg.solve(A, B)
    return np.sum(np.sin(X))


def inverse_program(A):
    Ainv = np.linalg.inv(A)
    return np.sum(Ainv @ A @ Ainv) + np.linalg.det(A)


def slogdet_unpacked(A, w):
    sign, logdet = np.linalg.slogdet(A)
    return sign * logdet * w + np.linalg.slogdet(A)[1]


def cholesky_of_product(B):
    # the symmetric matrix is built in the program: both gradient conventions agree
    L = np.linalg.cholesky(B @ B.T + 3.0 * np.eye(B.shape[0]))
    return np.sum(L ** 3) + 2.0 * np.sum(np.log(np.sum(L * np.eye(B.shape[0]), axis=0)))


def cholesky_direct(A):
    L = np.linalg.cholesky(A)
    return np.sum(L * L * np.arange(A.shape[0] * A.shape[0]).reshape(A.shape))


def gaussian_nll(X, mu, B):
    # the negative log-likelihood of rows of X under N(mu, S), S = B B^T + I
    n, d = X.shape
    S = B @ B.T + np.eye(d)
    L = np.linalg.cholesky(S)
    Z = np.linalg.solve(L, (X - mu).T)
    sign, logdet = np.linalg.slogdet(S)
    return 0.5 * np.sum(Z * Z) + 0.5 * n * logdet + 0.5 * n * d * np.log(2.0 * np.pi)


def einsum_matvec(A, x):
    return np.sum(np.einsum('ij,j->i', A, x) ** 2)


def einsum_matmat(A, B):
    return np.sum(np.sin(np.einsum('ij,jk->ik', A, B)))


def einsum_inner(x, y):
    return np.einsum('i,i->', x, y) ** 2


def einsum_frobenius(A, B):
    return np.einsum('ij,ij->', A, B * A)


def einsum_transpose(A):
    return np.sum(np.einsum('ij->ji', A) @ A)


def einsum_trace(A):
    return np.einsum('ii->', A @ A) + np.einsum('ii', A)


def einsum_diagonal(A, x):
    return np.sum(np.einsum('ii->i', A) * x) + np.sum(np.einsum('ij,j', A, x) ** 2)


def einsum_batched(X, Y):
    return np.sum(np.einsum('bij,bjk->bik', X, Y) ** 2)


def einsum_three(x, A, y):
    return np.einsum('i,ij,j->', x, A, y) + np.sum(np.einsum('ij->i', A) ** 2)


def _args(rng, *shapes):
    return tuple(rng.normal(size=s) for s in shapes)


CASES = {
    "cross_vectors": (cross_vectors, lambda rng: _args(rng, 3, 3), (0, 1)),
    "cross_rows": (cross_rows, lambda rng: _args(rng, (5, 3), 3), (0, 1)),
    "kron_program": (kron_program, lambda rng: _args(rng, (2, 3), (3, 2), 3, 2), (0, 1, 2, 3)),
    "outer_program": (outer_program, lambda rng: _args(rng, 3, 4), (0, 1)),
    "solve_vector": (solve_vector, lambda rng: (_spd(rng, 4), rng.normal(size=4)), (0, 1)),
    "solve_matrix": (solve_matrix, lambda rng: (_spd(rng, 4) + rng.normal(size=(4, 4)), rng.normal(size=(4, 2))),
                     (0, 1)),
    "inverse_program": (inverse_program, lambda rng: (rng.normal(size=(3, 3)) + 3.0 * np.eye(3),), (0,)),
    "slogdet_unpacked": (slogdet_unpacked, lambda rng: (rng.normal(size=(3, 3)) - 3.0 * np.eye(3), 0.7), (0, 1)),
    "cholesky_of_product": (cholesky_of_product, lambda rng: _args(rng, (3, 3)), (0,)),
    "gaussian_nll": (gaussian_nll, lambda rng: _args(rng, (6, 3), 3, (3, 3)), (0, 1, 2)),
    "einsum_matvec": (einsum_matvec, lambda rng: _args(rng, (3, 4), 4), (0, 1)),
    "einsum_matmat": (einsum_matmat, lambda rng: _args(rng, (3, 4), (4, 2)), (0, 1)),
    "einsum_inner": (einsum_inner, lambda rng: _args(rng, 5, 5), (0, 1)),
    "einsum_frobenius": (einsum_frobenius, lambda rng: _args(rng, (3, 4), (3, 4)), (0, 1)),
    "einsum_transpose": (einsum_transpose, lambda rng: _args(rng, (3, 3)), (0,)),
    "einsum_trace": (einsum_trace, lambda rng: _args(rng, (4, 4)), (0,)),
    "einsum_diagonal": (einsum_diagonal, lambda rng: _args(rng, (3, 3), 3), (0, 1)),
    "einsum_batched": (einsum_batched, lambda rng: _args(rng, (2, 3, 4), (2, 4, 3)), (0, 1)),
    "einsum_three": (einsum_three, lambda rng: _args(rng, 3, (3, 4), 4), (0, 1, 2)),
}


# autograd's own limits: it returns a broadcast np.cross operand's gradient unsummed (shape
# (5, 3) for the (3,) axis), and its einsum vjp fails on a repeated index ('ii->': "output
# subscript 'i' multiple times"); finite differences check these
AUTOGRAD_CANNOT = {"cross_rows", "einsum_trace", "einsum_diagonal"}


def _arguments(name):
    return CASES[name][1](make_rng("linalg", name))


def _as_tuple(value):
    return value if isinstance(value, tuple) else (value,)


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradient_matches_differences_and_autograd(name):
    fn, _, wrt = CASES[name]
    args = _arguments(name)
    got = _as_tuple(compiled(fn, wrt, "python")(*args))
    scale = max(1.0, abs(float(fn(*args))))
    for index, g in zip(wrt, got):
        want = finite_difference(fn, args, index)
        assert np.shape(g) == np.shape(want)
        np.testing.assert_allclose(g, want, rtol=RTOL, atol=RTOL * scale)
        if name not in AUTOGRAD_CANNOT:
            np.testing.assert_allclose(g, autograd_gradient(fn, args, index), rtol=1e-9, atol=1e-9 * scale)


@pytest.mark.parametrize("name", ["solve_vector", "solve_matrix", "inverse_program", "slogdet_unpacked",
                                  "cholesky_of_product", "gaussian_nll", "einsum_matvec"])
def test_emitted_module_stands_alone(name):
    # np.linalg's functions were emitted as bare names (`norm(x)`) that only adjoint's own
    # namespace bound: exec'd alone, the module raised NameError. Now spelled np.linalg.<f>.
    fn, _, wrt = CASES[name]
    args = _arguments(name)
    types = {p: np.asarray(a) for p, a in zip(inspect.signature(fn).parameters, args)}
    source = adjoint.source(fn, wrt=wrt, types=types)
    namespace = {}
    exec(compile(source, f"<standalone {name}>", "exec"), namespace)
    got = _as_tuple(namespace[f"grad_{name}"](*args))
    scale = max(1.0, abs(float(fn(*args))))
    for index, g in zip(wrt, got):
        np.testing.assert_allclose(g, finite_difference(fn, args, index), rtol=RTOL, atol=RTOL * scale)


@pytest.mark.parametrize("name", ["solve_vector", "solve_matrix"])
def test_reverse_sweep_solves_once_with_the_forward_solves_compiled_code(name):
    """The gradient with respect to A and b solves against A's transpose once, for both
    (reverse.shared_calls), against a vector or B's columns, not against the matrix
    g @ x.T; A.T is copied into rows, so numba compiles np.linalg.solve for the forward
    solve's argument types only (a transposed matrix was a second compilation, seconds in a
    fresh process). Checked against central differences and autograd."""
    from tests.compilations import compiled_in_a_fresh_process
    fn, _, wrt = CASES[name]
    args = _arguments(name)
    source = adjoint.source(fn, wrt=wrt, comments=False,
                            types={p: np.asarray(a) for p, a in zip(inspect.signature(fn).parameters, args)})
    assert source.count("np.linalg.solve(") == 2, source             # the forward's and one more
    assert "np.outer(" not in source          # (a rule's outer of a solve: a product numba fuses)
    names = compiled_in_a_fresh_process(
        f"import adjoint\nfrom tests.test_linalg import CASES, _arguments\nfn, _, wrt = CASES[{name!r}]\n"
        f"g = adjoint.grad(fn, wrt=wrt, cache=False)", f"g(*_arguments({name!r}))")
    solves = [n for n in names if n.startswith("solve_impl")]
    assert len(solves) == 1, names
    got = adjoint.grad(fn, wrt=wrt, cache=False)(*args)
    scale = max(1.0, abs(float(fn(*args))))
    for index, value in zip(wrt, _as_tuple(got)):
        np.testing.assert_allclose(value, finite_difference(fn, args, index), rtol=RTOL, atol=RTOL * scale)
        np.testing.assert_allclose(value, autograd_gradient(fn, args, index), rtol=1e-9, atol=1e-9 * scale)


def test_a_norm_is_spelled_through_numpy():
    def norm_program(x, y):
        return np.dot(x, y) + np.linalg.norm(x)
    source = adjoint.source(norm_program, types="x=float64[:], y=float64[:]")
    assert "np.linalg.norm(x)" in source
    namespace = {}
    exec(source, namespace)
    x, y = np.array([1.0, 2.0, 3.0]), np.array([3.0, 1.0, 2.0])
    np.testing.assert_allclose(namespace["grad_norm_program"](x, y),
                               finite_difference(norm_program, (x, y), 0), rtol=1e-6)


@pytest.mark.parametrize("name", ["solve_matrix", "gaussian_nll", "slogdet_unpacked", "kron_program",
                                  "einsum_three", "einsum_trace", "cross_rows"])
def test_forward_mode_matches_reverse(name):
    """jvp along a random direction == <gradient, direction> (python target)."""
    fn, _, wrt = CASES[name]
    args = _arguments(name)
    rng = make_rng("linalg forward", name)
    directions = [rng.normal(size=np.shape(args[k])) if np.ndim(args[k]) else float(rng.normal()) for k in wrt]
    _, tangent = adjoint.jvp(fn, wrt=wrt, target="python")(*args, *directions)
    got = _as_tuple(compiled(fn, wrt, "python")(*args))
    along = sum(float(np.sum(g * d)) for g, d in zip(got, directions))
    np.testing.assert_allclose(tangent, along, rtol=1e-9, atol=1e-9 * max(1.0, abs(along)))


def test_cholesky_reads_the_lower_triangle():
    """numpy's cholesky reads only A's lower triangle: the strict upper triangle has no
    gradient, an entry below the diagonal carries its mirror's share too (finite differences
    say so; autograd's symmetrized gradient is the average of the two, the same along
    symmetric directions)."""
    A = _spd(make_rng("linalg", "cholesky_direct"), 4)
    got = compiled(cholesky_direct, 0, "python")(A)
    want = finite_difference(cholesky_direct, (A,), 0)
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=RTOL * abs(cholesky_direct(A)))
    assert np.all(got[np.triu_indices(4, 1)] == 0.0)
    symmetrized = autograd_gradient(cholesky_direct, (A,), 0)
    np.testing.assert_allclose(np.tril(got + got.T) / (1.0 + np.eye(4)), np.tril(symmetrized + symmetrized.T)
                               / (1.0 + np.eye(4)), rtol=1e-9, atol=1e-9)


def test_emitted_einsum_gradient_reads_as_einsums():
    """The vjp of an einsum is an einsum of g and the other operands, each called (numba has
    no einsum) as a helper named after its subscripts: a matrix product where it is one,
    loops otherwise."""
    A, B = _arguments("einsum_matmat")
    text = adjoint.grad(einsum_matmat, wrt=(0, 1), target="python").source_for(A, B)
    assert "_einsum_ij_jk_2_ik(A, B)" in text
    assert "_einsum_ik_jk_2_ij(" in text and "_einsum_ik_ij_2_jk(" in text
    assert "np.einsum('ik,jk->ij', ...) as a matrix product" in text and "return np.dot(x0, x1.T)" in text
    X, Y = _arguments("einsum_batched")
    text = adjoint.grad(einsum_batched, wrt=(0, 1), target="python").source_for(X, Y)
    assert "np.einsum('bik,bjk->bij', ...) as loops" in text


def hessian_program(A):
    sign, logdet = np.linalg.slogdet(A)
    L = np.linalg.cholesky(A @ A.T + np.eye(2))
    x = np.linalg.solve(A, np.einsum('ij,j->i', L, A[0]))
    return logdet + np.sum(L ** 2) + np.einsum('i,i->', x, x)


def test_hessian_through_linear_algebra():
    """Forward over reverse: the emitted gradient (its einsum helpers, slogdet's pair) is
    differentiated again (the helpers' names are no runtime helper's, which once looped)."""
    A = np.array([[2.0, 0.3], [-0.4, 1.5]])
    H = adjoint.hessian(hessian_program, target="python")(A)
    grad = compiled(hessian_program, 0, "python")
    want = np.array([finite_difference(lambda y, k=k: grad(y).ravel()[k], (A,), 0).ravel() for k in range(4)])
    np.testing.assert_allclose(np.reshape(H, (4, 4)), want, rtol=1e-5, atol=1e-6)


# numba ----------------------------------------------------------------------------------------

def everything(A, b, P, axis, B):
    # one program, one numba compile: solve, slogdet, cholesky, inv, det, cross, kron, einsum
    x = np.linalg.solve(A, b)
    sign, logdet = np.linalg.slogdet(A)
    L = np.linalg.cholesky(A @ A.T + np.eye(A.shape[0]))
    Q = np.cross(axis, P)
    K = np.kron(B, L)
    t = np.einsum('ij,jk->ik', L, np.linalg.inv(A))
    return (np.sum(x * x) + logdet * sign + np.sum(L ** 2) + np.sum(Q ** 2) + np.sum(K ** 2)
            + np.einsum('ii->', t) + np.einsum('bi,bi->', P, Q) + np.linalg.det(B))


def _everything_args():
    rng = make_rng("linalg", "everything")
    return (rng.normal(size=(3, 3)) + 3.0 * np.eye(3), rng.normal(size=3), rng.normal(size=(4, 3)),
            rng.normal(size=3), rng.normal(size=(2, 2)))


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_everything_compiled(target):
    args = _everything_args()
    wrt = (0, 1, 2, 3, 4)
    got = compiled(everything, wrt, target)(*args)
    scale = max(1.0, abs(float(everything(*args))))
    for index, g in zip(wrt, got):
        np.testing.assert_allclose(g, finite_difference(everything, args, index), rtol=RTOL, atol=RTOL * scale)


# errors ------------------------------------------------------------------------------------------

def einsum_ellipsis(A):
    return np.sum(np.einsum('...ij->...ji', A))


def einsum_variable(A):
    spec = 'ij->ji'
    return np.sum(np.einsum(spec, A))


def einsum_wrong_rank(A, x):
    return np.sum(np.einsum('ij,jk->ik', A, x))


def inverse_of_vector(x):
    return np.sum(np.linalg.inv(x))


def outer_of_matrix(A, v):
    return np.sum(np.outer(A, v))


@pytest.mark.parametrize("fn, args, message, hint", [
    (einsum_ellipsis, (np.ones((2, 2)),), "np.einsum with `...` is not supported", "np.einsum('bij,bjk->bik'"),
    (einsum_variable, (np.ones((2, 2)),), "unsupported constant 'ij->ji'", "hint: "),
    (einsum_wrong_rank, (np.ones((2, 2)), np.ones(2)), "operand 2 has rank 1, its subscripts 'jk' say 2",
     "one letter per axis"),
    (inverse_of_vector, (np.ones(3),), "np.linalg.inv of arguments of rank 1 is not supported", "square matrix"),
    (outer_of_matrix, (np.ones((2, 2)), np.ones(2)), "np.outer of arguments of rank 2, 1 is not supported",
     "np.outer(np.ravel(a), b)"),
])
def test_unsupported_forms_are_located_errors(fn, args, message, hint):
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(fn, target="python")(*args)
    text = str(caught.value)
    assert message in text.splitlines()[0] and "test_linalg.py:" in text.splitlines()[0], text
    assert "\nhint: " in text and hint in text, text
