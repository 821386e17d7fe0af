"""Reverse loops read costly array intermediates back from a tape instead of replaying them.

A loop iteration whose reverse reads an array made by a matrix product or a transcendental
function (np.exp, np.tanh, ...) stores that array, one row per iteration, in a tape
allocated in the first iteration; arrays whose shape changes from one iteration to the next
are replayed as before. Every case is checked against autograd and finite differences.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import adjoint
from tests.array_corpus import gmm_data, gmm_objective, gmm_objective_vectorized
from tests.conftest import compiled, make_rng
from tests.oracles import autograd_gradient, finite_difference


def layers(W, x):
    """A product and a tanh per iteration: the tanh the reverse reads is stored."""
    total = 0.0
    for k in range(W.shape[0]):
        z = W[k] @ x
        a = np.tanh(z)
        total = total + np.sum(a * a)
    return total


def chain(W, x):
    """The same through a state the loop carries: its checkpoint is on a tape already, and
    the replay recomputes the product from it."""
    h = x
    total = 0.0
    for k in range(W.shape[0]):
        z = W[k] @ h
        h = np.tanh(z)
        total = total + np.sum(h * h)
    return total


def growing(x):
    """exp of a slice whose length grows with k: no row has one shape, so it is replayed."""
    total = 0.0
    for k in range(1, x.shape[0] + 1):
        e = np.exp(x[:k])
        total = total + np.sum(e * e) / k
    return total


def shrinking_bound(x, m):
    """A slice bound the loop itself changes: replayed."""
    total = 0.0
    stop = m
    for k in range(3):
        stop = stop - 1
        e = np.exp(x[:stop])
        total = total + np.sum(e * x[:stop])
    return total


def overwritten(x):
    """An element of the costly array is overwritten after it is made: replayed."""
    total = 0.0
    for k in range(3):
        e = np.exp(x * (k + 1.0))
        e[0] = 2.0 * e[1]
        total = total + np.sum(e * e)
    return total


def overwritten_twin(x):
    """`overwritten` without the element write, for autograd (which has no item assignment)."""
    import autograd.numpy as anp
    total = 0.0
    for k in range(3):
        e = anp.exp(x * (k + 1.0))
        e = anp.concatenate([2.0 * e[1:2], e[1:]])
        total = total + anp.sum(e * e)
    return total


def nested(A, x):
    """An inner loop's stored rows, inside an outer loop whose iterations are replayed too."""
    total = 0.0
    for i in range(2):
        v = x * (i + 1.0)
        for k in range(A.shape[0]):
            e = np.sin(A[k] @ v)
            total = total + np.sum(e * v)
    return total


def nested_chain(A, x):
    """An array an inner loop rebinds, inside an outer loop that made it."""
    total = 0.0
    for i in range(2):
        v = x * (i + 1.0)
        for k in range(A.shape[0]):
            v = np.sin(A[k] @ v)
        total = total + np.sum(v)
    return total


def with_exit(x):
    """A loop with a `break` counts its trips: its intermediates are replayed."""
    total = 0.0
    for k in range(5):
        e = np.exp(x * k)
        total = total + np.sum(e)
        if total > 50.0:
            break
    return total


def _cases():
    """The weights, the input and the cases' arguments, drawn once, at import, from a
    generator of their own."""
    rng = np.random.default_rng(7)
    w3 = rng.normal(size=(3, 4, 4)) * 0.5
    x4 = rng.normal(size=4) * 0.5
    return w3, x4, [
        (layers, (w3, x4), 0, True),
        (layers, (w3, x4), 1, True),
        (layers, (w3[:0], x4), 1, True),                        # zero trips
        (chain, (w3, x4), 0, False),
        (chain, (w3, x4), 1, False),
        (growing, (np.linspace(-0.5, 0.4, 5),), 0, False),
        (shrinking_bound, (np.linspace(-0.5, 0.4, 6), 6), 0, False),
        (overwritten, (np.linspace(-0.3, 0.2, 4),), 0, False),
        (nested, (rng.normal(size=(2, 3, 3)) * 0.6, np.linspace(0.1, 0.5, 3)), 0, True),
        (nested, (rng.normal(size=(2, 3, 3)) * 0.6, np.linspace(0.1, 0.5, 3)), 1, True),
        (with_exit, (np.linspace(0.1, 0.5, 3),), 0, False),
        (nested_chain, (rng.normal(size=(2, 3, 3)) * 0.6, np.linspace(0.1, 0.5, 3)), 0, False),
        (nested_chain, (rng.normal(size=(2, 3, 3)) * 0.6, np.linspace(0.1, 0.5, 3)), 1, False),
    ]


W3, X4, CASES = _cases()


@pytest.mark.filterwarnings("ignore:Output seems independent of input")      # zero trips
@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("fn, args, wrt, stores", CASES,
                         ids=lambda c: getattr(c, "__name__", "") if callable(c) else "")
def test_gradients_match_oracles(fn, args, wrt, stores, target):
    got = compiled(fn, wrt, target)(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, wrt), rtol=1e-6, atol=1e-7)
    twin = overwritten_twin if fn is overwritten else fn
    np.testing.assert_allclose(got, autograd_gradient(twin, args, wrt), rtol=1e-11, atol=1e-12)


@pytest.mark.parametrize("fn, args, wrt, stores", CASES[:2] + CASES[3:],
                         ids=lambda c: getattr(c, "__name__", "") if callable(c) else "")
def test_which_loops_store(fn, args, wrt, stores):
    source = adjoint.grad(fn, wrt=wrt, target="python").source_for(*args)
    sized_at_first_row = re.findall(r"if [^\n]* == 0:\n\s+(tape_\w+) = np.empty", source)
    assert bool(sized_at_first_row) == stores, source


def test_layers_store_the_tanh_and_replay_no_product():
    source = adjoint.grad(layers, wrt=0, target="python").source_for(W3, X4)
    reverse = source.split("for k in range(")[2]           # the forward loop, then the reverse
    assert "a = tape_a[k]" in reverse
    assert "@ x" not in reverse and "tanh" not in reverse
    assert "if k == 0:" in source                          # the tape is sized at the first row


@pytest.mark.slow
def test_gmm_reverse_loops_read_the_products_back():
    """ADBench GMM: the reverse loops no longer recompute x_c L^T, nor the exp terms."""
    data = gmm_data(3, 4, 20)
    source = adjoint.grad(gmm_objective, wrt=(0, 1, 2), target="python").source_for(*data)
    reverse = source[source.index("s_alphas = np.zeros"):]
    assert not re.search(r"= gmm_main_term_xc(_1)? @", reverse)
    assert "np.exp(t_33)" not in reverse
    got = compiled(gmm_objective, (0, 1, 2), "cpu")(*data)
    want = autograd_gradient(gmm_objective_vectorized, data, (0, 1, 2))
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_float32_rows_keep_their_dtype():
    W, x = W3.astype(np.float32), X4.astype(np.float32)
    got = adjoint.grad(layers, wrt=0)(W, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, autograd_gradient(layers, (W3, X4), 0), rtol=2e-4, atol=1e-5)


def test_hessian_vector_product_through_stored_rows():
    """hvp differentiates the emitted gradient again, tape rows included."""
    v = np.linspace(-0.5, 0.5, X4.size)
    g = adjoint.grad(layers, wrt=1, target="python")
    h = 1e-6
    want = (g(W3, X4 + h * v) - g(W3, X4 - h * v)) / (2 * h)
    np.testing.assert_allclose(adjoint.hvp(layers, wrt=1, target="python")(W3, X4, v), want,
                               rtol=1e-6, atol=1e-7)


@pytest.mark.slow
def test_recompute_replays_everything_and_agrees():
    """grad(f, recompute=True): no stored rows (least memory), the same gradient."""
    stored = adjoint.grad(layers, wrt=0)
    replayed = adjoint.grad(layers, wrt=0, recompute=True)
    assert "tape_a" in stored.source_for(W3, X4)
    assert "tape_a" not in replayed.source_for(W3, X4)
    assert "tanh(z)" in replayed.source_for(W3, X4).split("for k in range(t_2 - 1, -1, -1)")[1]
    np.testing.assert_allclose(replayed(W3, X4), stored(W3, X4), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(adjoint.value_and_grad(layers, wrt=0, recompute=True)(W3, X4)[1],
                               autograd_gradient(layers, (W3, X4), 0), rtol=1e-11, atol=1e-12)


def mixture(A, B, x):
    """Two stored rows per iteration (a product, an exp of a broadcast sum), a carried total."""
    total = 0.0
    for k in range(A.shape[0]):
        y = A[k] @ x + B[k]
        e = np.exp(-0.5 * y * y)
        total = total + np.log(np.sum(e) + 1.0) * (k + 1.0)
    return total


@pytest.mark.filterwarnings("ignore:Output seems independent of input")      # K = 0
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 4), st.integers(1, 4), st.integers(1, 5), st.integers(0, 10_000))
def test_stored_rows_any_shapes(K, m, n, seed):
    """Any trip count (zero included) and row shape: every argument's gradient matches
    autograd, and the product and the exp are read back from their tapes."""
    rng = np.random.default_rng(seed)
    A, B, x = rng.normal(size=(K, m, n)), rng.normal(size=(K, m)), rng.normal(size=n)
    g = compiled(mixture, (0, 1, 2), "python")
    assert "y = tape_y[k]" in g.source_for(A, B, x) and "e = tape_e[k]" in g.source_for(A, B, x)
    for k, got in enumerate(g(A, B, x)):
        np.testing.assert_allclose(got, autograd_gradient(mixture, (A, B, x), k), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_stored_rows_compiled():
    rng = make_rng("test_stored", "test_stored_rows_compiled")
    A, B, x = rng.normal(size=(3, 4, 5)), rng.normal(size=(3, 4)), rng.normal(size=5)
    for k, got in enumerate(compiled(mixture, (0, 1, 2), "cpu")(A, B, x)):
        np.testing.assert_allclose(got, autograd_gradient(mixture, (A, B, x), k), rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_loop_local_sensitivities_are_allocated_once():
    """A reverse loop's zero sensitivity of a loop-local array is allocated at the forward
    loop's first iteration (when its shape is known) and reset in each reverse iteration."""
    source = adjoint.grad(layers, wrt=0, target="python").source_for(W3, X4)
    forward, reverse = source.split("for k in range(")[1:3]
    assert "if k == 0:" in forward and "s_4 = np.zeros(t_4_shape, t_4_dtype)" in forward
    assert "s_4[:] = 0.0" in reverse and "np.zeros" not in reverse
    data = gmm_data(3, 4, 20)
    gmm = adjoint.grad(gmm_objective, wrt=(0, 1, 2), target="python").source_for(*data)
    reverse_loops = [part.split("\n    return")[0] for part in gmm.split("for k in range(K - 1, -1, -1):")[1:]]
    assert len(reverse_loops) == 3
    assert not any(re.search(r"s_\w+ = np\.zeros\(\w+_shape", loop) for loop in reverse_loops)


def two_uses(W, x):
    """A zero sensitivity two statements add into, reset in each reverse iteration."""
    total = 0.0
    for k in range(W.shape[0]):
        a = np.tanh(W[k] @ x)
        b = a * a
        total = total + np.sum(b) + np.sum(b * x[0])
    return total


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_allocated_once_gradients_match_oracles(target):
    for fn in (layers, two_uses):
        got = compiled(fn, 0, target)(W3, X4)
        np.testing.assert_allclose(got, autograd_gradient(fn, (W3, X4), 0), rtol=1e-11, atol=1e-12)
        np.testing.assert_allclose(got, finite_difference(fn, (W3, X4), 0), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("use, copies", [("t = s_1 * 2.0", True), ("s_1 += t", True),
                                         ("t = np.sum(s_1)", True), ("t = s_1[0]", True),
                                         ("t = s_1", False), ("t = _sum_to_1_1(s_1, x.shape)", False),
                                         ("t = np.expand_dims(s_1, 1)", False)])
def test_reset_only_where_no_alias_can_keep_the_array(use, copies):
    """The reset `s[:] = 0.0` would reach an alias kept from an earlier iteration: a
    sensitivity passed on as it is (a copy, a helper that may return it, a view) keeps its
    per-iteration allocation."""
    import gast

    from adjoint.optimize.allocate import _copied_only
    loop = gast.parse(f"for k in range(3):\n    {use}\n").body[0]
    assert _copied_only(loop, "s_1") is copies
