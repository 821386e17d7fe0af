"""Python's iteration idioms (frontend/desugar.py, issue #17 items 3, 4, the comprehensions of 8
and print of 7): `for v in x`, enumerate, zip, reversed, sum/np.sum/np.mean/np.array of a
comprehension, a name rebound to another rank, print. Gradients against central finite
differences and autograd; rejections are located AdjointErrors whose hint is a rewrite that works."""

from __future__ import annotations

import math

import numpy as np
import pytest

import adjoint
from adjoint.analysis.shapes import Type
from adjoint.pipeline import differentiate
from tests.conftest import compiled, needs_cuda
from tests.oracles import autograd_gradient, finite_difference

RNG = np.random.default_rng(17)
X5 = RNG.normal(size=5)
W5 = RNG.normal(size=5)
W4 = RNG.normal(size=4)
M34 = RNG.normal(size=(3, 4))


# --- loops over arrays -------------------------------------------------------------------------

def squares(x):
    total = 0.0
    for v in x:
        total += v * v
    return total


def row_norms(X, w):
    total = 0.0
    for row in X:
        total += np.dot(row, w) ** 2
    return total


def nested_rows(X):
    total = 0.0
    for row in X:
        for v in row:
            total += math.sin(v) * v
    return total


def weighted(x):
    total = 0.0
    for i, v in enumerate(x):
        total += (i + 1) * v ** 2
    return total


def weighted_from_one(x):
    total = 0.0
    for i, v in enumerate(x, 1):
        total += i * math.exp(0.1 * v)
    return total


def dot_zip(x, w):
    total = 0.0
    for a, b in zip(x, w):          # stops at the shorter one, as Python's zip does
        total += a * b * b
    return total


def zip_three(x, w, u):
    total = 0.0
    for a, b, c in zip(x, w, u):
        total += a * b + c * a
    return total


def enumerate_zip(x, w):
    total = 0.0
    for k, (a, b) in enumerate(zip(x, w)):
        total += k * (a - b) ** 2
    return total


def rosen_pairs(x):
    total = 0.0
    for a, b in zip(x[:-1], x[1:]):
        total += 100.0 * (b - a * a) ** 2 + (1.0 - a) ** 2
    return total


def horner_backwards(x):
    p = 0.0
    for k in range(len(x) - 1, -1, -1):
        p = p * 0.7 + x[k]
    return p


def horner_reversed_range(x):
    p = 0.0
    for k in reversed(range(len(x))):
        p = p * 0.7 + x[k]
    return p


def reversed_stepped(x):
    total = 0.0
    for k in reversed(range(1, len(x), 2)):
        total = total * 0.5 + x[k] ** 2
    return total


def horner_reversed_array(x):
    p = 0.0
    for c in reversed(x):
        p = p * 0.7 + c
    return p


def every_other(x):
    total = 0.0
    for v in x[::2]:
        total += v ** 3
    return total


def rebinds_iterable(x):
    total = 0.0
    for v in x:                      # Python iterates the x it had when the loop began
        total += v * v
        x = x * 2.0
    return total + np.sum(x)


def zip_with_range(x):
    total = 0.0
    for k, v in zip(range(1, 10), x):
        total += k * v * v
    return total


def _inner(row, w):
    acc = 0.0
    for a, b in zip(row, w):
        acc += a * b
    return acc


def helper_with_zip(X, w):
    total = 0.0
    for row in X:
        total += math.tanh(_inner(row, w))
    return total


def _scaled_pair(x, w):
    return x * 2.0, w


def zip_of_a_helpers_pair(x, w):
    """`zip(*helper(...))`, as autograd's GMM example loops over its unpacked parameters."""
    total = 0.0
    for a, b in zip(*_scaled_pair(x, w)):
        total += a * b
    return total


def zip_of_rows(M, w):
    """`zip(*(rows, weights))` of a literal pair: a row of M and a number of w each step."""
    total = 0.0
    for row, b in zip(*(M, w[:3])):
        total += b * np.sum(row ** 2)
    return total


def early_exit(x):
    total = 0.0
    for v in x:
        if total > 2.0:
            break
        total += v * v
    return total


def l2_over_parameters(W, b):
    # the regularizer of ML code, over parameters of different ranks
    reg = 0.0
    for p in (W, b):
        reg += np.sum(p ** 2)
    return reg + math.tanh(np.sum(np.dot(W, b)))


def literal_list_of_scalars(a, b):
    total = 0.0
    for v in [a, 2.0 * b, a * b]:
        total += math.sin(v) * v
    return total + sum(v * v for v in (a, b))


def mlp_literal_layers(W1, b1, W2, b2, X):
    # layers of different shapes in a literal list: each copy of the body its own W, b
    h = X
    for W, b in [(W1, b1), (W2, b2)]:
        h = np.tanh(np.dot(h, W) + b)
    return np.sum(h ** 2)


MLP = (RNG.normal(size=(3, 4)), RNG.normal(size=4), RNG.normal(size=(4, 2)), RNG.normal(size=2),
       RNG.normal(size=(5, 3)))

LOOPS = [
    (mlp_literal_layers, MLP, 1), (mlp_literal_layers, MLP, 2),
    (l2_over_parameters, (M34, W4), 0), (l2_over_parameters, (M34, W4), 1),
    (literal_list_of_scalars, (0.3, -0.7), 0), (literal_list_of_scalars, (0.3, -0.7), 1),
    (squares, (X5,), 0), (row_norms, (M34, W4), 0), (row_norms, (M34, W4), 1), (nested_rows, (M34,), 0),
    (weighted, (X5,), 0), (weighted_from_one, (X5,), 0), (dot_zip, (X5, W4), 0), (dot_zip, (X5, W4), 1),
    (zip_three, (X5, W5, X5 * 0.5), 1), (enumerate_zip, (X5, W5), 0), (rosen_pairs, (X5,), 0),
    (horner_backwards, (X5,), 0), (horner_reversed_range, (X5,), 0), (reversed_stepped, (X5,), 0),
    (horner_reversed_array, (X5,), 0), (every_other, (X5,), 0), (rebinds_iterable, (X5,), 0),
    (zip_with_range, (X5,), 0), (helper_with_zip, (M34, W4), 1), (early_exit, (np.abs(X5) + 0.5,), 0),
    (zip_of_a_helpers_pair, (X5, W5), 0), (zip_of_a_helpers_pair, (X5, W5), 1),
    (zip_of_rows, (M34, W4), 0), (zip_of_rows, (M34, W4), 1),
]


def _ids(cases):
    return [f"{f.__name__}-{wrt}" for f, _, wrt in cases]


@pytest.mark.parametrize("fn, args, wrt", LOOPS, ids=_ids(LOOPS))
def test_loop_gradient_matches_finite_differences(fn, args, wrt):
    got = compiled(fn, wrt, "python")(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, wrt), rtol=1e-6, atol=1e-7)


AUTOGRAD = [case for case in LOOPS if case[0] not in (rebinds_iterable,)]


@pytest.mark.parametrize("fn, args, wrt", AUTOGRAD, ids=_ids(AUTOGRAD))
def test_loop_gradient_matches_autograd(fn, args, wrt):
    got = compiled(fn, wrt, "python")(*args)
    np.testing.assert_allclose(got, autograd_gradient(fn, args, wrt), rtol=1e-10, atol=1e-10)


def test_the_emitted_loop_reads_like_a_hand_written_one():
    primal = differentiate(dot_zip).primal_source
    assert "for i in range(min(len(x), len(w))):" in primal
    assert "a = x[i]" in primal and "b = w[i]" in primal
    assert "a_values = x[:-1]" in differentiate(rosen_pairs).primal_source     # (`as` is a keyword)
    assert "for i in range(len(x)):" in differentiate(squares).primal_source


# --- comprehensions --------------------------------------------------------------------------------

def sum_of_generator(x):
    return sum(x[i] ** 2 for i in range(len(x)))


def sum_into_name(x):
    s = sum(math.sin(v) * v for v in x)
    return s * s


def np_sum_of_list(x):
    return np.sum([math.exp(0.3 * v) for v in x])


def filtered(x):
    return sum(v * v for v in x if v > 0.0)


def pairs_sum(x):
    n = len(x)
    return sum(x[i] * x[j] for i in range(n) for j in range(i))


def nested_comprehension(X):
    return sum(sum(v ** 2 for v in row) for row in X)


def mean_of_list(x, w):
    return np.mean([a * b for a, b in zip(x, w)])


def array_of_list(x):
    y = np.array([x[i] * x[i + 1] for i in range(len(x) - 1)])
    return np.sum(y ** 2)


def array_from_rows(X, w):
    z = np.array([np.dot(row, w) for row in X])
    return np.sum(np.tanh(z))


def comprehension_variable_clash(x):
    i = 2
    total = sum(x[i] * 2.0 for i in range(len(x)))      # its own i: the outer i stays 2
    return total * x[i]


def comprehension_in_loop(X):
    total = 0.0
    for k in range(X.shape[0]):
        total += sum(X[k, j] * X[k, j] for j in range(X.shape[1])) * (k + 1)
    return total


def nested_list(x):
    return np.sum(np.array([[x[i] * x[j] for j in range(3)] for i in range(3)]))


def stack_of_matrices(x, A):
    # a batch of scaled copies, one matrix per element (np.stack of a list comprehension)
    Ms = np.stack([A * x[k] + np.outer(A[:, 0], A[0, :]) for k in range(3)])
    return np.sum(np.sin(Ms) * np.arange(1.0, 5.0))


def array_of_matrices(X):
    # np.array of matrices, over the rows of X, then read along the new axis
    outers = np.array([np.outer(row, row) for row in X])
    return np.sum(outers[:, :, 0] ** 2) + np.sum(outers[1] * outers[2])


def array_of_rows_in_range(X, w):
    # rows from a range with a start, in a 3-D reshape through a joined shape
    rows = np.array([X[k] * w + k for k in range(1, X.shape[0])])
    cube = np.reshape(rows, rows.shape + (1,))
    return np.sum(np.tanh(cube[:, :, 0]) * w)


def largest_magnitude(x):
    return max(abs(v) * v for v in x) + min(math.sin(v) for v in x)


def product_of_terms(x):
    return np.prod([1.0 + 0.5 * v * v for v in x])


COMPREHENSIONS = [
    (largest_magnitude, (X5,), 0), (product_of_terms, (X5,), 0),
    (sum_of_generator, (X5,), 0), (sum_into_name, (X5,), 0), (np_sum_of_list, (X5,), 0),
    (filtered, (X5,), 0), (pairs_sum, (X5,), 0), (nested_comprehension, (M34,), 0),
    (mean_of_list, (X5, W5), 1), (array_of_list, (X5,), 0), (array_from_rows, (M34, W4), 1),
    (comprehension_variable_clash, (X5,), 0), (comprehension_in_loop, (M34,), 0),
    (nested_list, (X5,), 0), (stack_of_matrices, (X5, M34), 1), (array_of_matrices, (M34,), 0),
    (array_of_rows_in_range, (M34, W4), 0),
]


@pytest.mark.parametrize("fn, args, wrt", COMPREHENSIONS, ids=_ids(COMPREHENSIONS))
def test_comprehension_gradient_matches_finite_differences_and_autograd(fn, args, wrt):
    got = compiled(fn, wrt, "python")(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, wrt), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got, autograd_gradient(fn, args, wrt), rtol=1e-10, atol=1e-10)


def test_a_sum_into_a_name_accumulates_into_it():
    primal = differentiate(sum_into_name).primal_source
    assert "s = 0.0" in primal and "s = s + math.sin(v) * v" in primal
    assert "total" not in primal


# --- a name rebound to another rank --------------------------------------------------------------

def overwrite_rank(x):
    x = np.sum(x)
    x = x * x
    return x


def stable_softmax_logsumexp(S):
    S = S - np.max(S, axis=1).reshape(-1, 1)
    return np.sum(np.log(np.sum(np.exp(S), axis=1)))


def rank_back_and_forth(x):
    y = x * 2.0
    y = np.sum(y * y)
    y = x * y
    return np.sum(np.sin(y))


def rank_changes_in_a_loop(X):
    # a name local to the loop's body rebound to a number, each iteration
    total = 0.0
    for k in range(X.shape[0]):
        y = X[k] * (k + 1.0)
        y = np.sum(y * y)
        total += np.sqrt(y)
    return total


def rank_changes_in_a_carried_name(x):
    # y is read by the next iteration, an array in the first and a number after: no versions
    y = x * 1.0
    total = 0.0
    for k in range(3):
        total += np.sum(y)
        y = x * k
        y = np.sum(y)
    return total


def test_a_carried_name_that_changes_rank_in_a_loop_is_a_located_error():
    with pytest.raises(adjoint.AdjointError, match="`y` is float.:. in one place and float in another") as caught:
        adjoint.grad(rank_changes_in_a_carried_name, target="python")(X5)
    assert "y = np.sum(y)" in str(caught.value) and "hint: give values of different ranks different names" \
        in str(caught.value)


REBOUND = [(overwrite_rank, (X5,), 0), (stable_softmax_logsumexp, (M34,), 0), (rank_back_and_forth, (X5,), 0),
           (rank_changes_in_a_loop, (M34,), 0)]


@pytest.mark.parametrize("fn, args, wrt", REBOUND, ids=_ids(REBOUND))
def test_rebound_name_gradient_matches_finite_differences_and_autograd(fn, args, wrt):
    got = compiled(fn, wrt, "python")(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, wrt), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got, autograd_gradient(fn, args, wrt), rtol=1e-10, atol=1e-10)


def test_versions_keep_the_users_name_and_only_split_where_the_rank_changes():
    assert "y_2" not in differentiate(rank_back_and_forth).source     # guessed: x a number, y too
    text = differentiate(rank_back_and_forth, signature={"x": Type("float", 1)}).source
    assert "y_2 = " in text and "y_3 = " in text and "x_2" not in text      # rank 1, 0, 1
    text = differentiate(overwrite_rank, signature={"x": Type("float", 1)}).source
    assert "x_2 = " in text and "x_3" not in text     # x * x keeps the rank of np.sum(x)


# --- print ----------------------------------------------------------------------------------------

def printing(x):
    loss = np.sum(x ** 2)
    print("loss", loss)
    return loss


def test_print_runs_in_the_function_and_not_in_the_gradient(capsys):
    g = compiled(printing, 0, "python")
    np.testing.assert_allclose(g(X5), 2 * X5)
    assert capsys.readouterr().out == ""
    assert "print(" not in adjoint.source(printing)
    f = adjoint.grad(printing, target="python")
    f(X5)
    f.primal(X5)
    assert capsys.readouterr().out.startswith("loss ")


def f_string_print(x):
    print(f"x = {x}")
    return x * x


def print_with_keyword(x):
    print(x, end="")
    return x * x


# --- rejections -------------------------------------------------------------------------------------

def list_bound_to_name(x):
    ys = [v * v for v in x]
    return np.sum(ys)


def generator_in_while(x):
    t = 1.0
    while sum(v * t for v in x) > 1.0:
        t = t * 0.5
    return t


def std_of_list(x):
    return np.std([v * v for v in x])


def filtered_array(x):
    return np.sum(np.array([v for v in x if v > 0.0]))


def conditional_comprehension(x, c):
    return sum(v for v in x) if c > 0.0 else 0.0


def break_in_literal_loop(a, b):
    total = 0.0
    for v in (a, b):
        if v > 1.0:
            break
        total += v * v
    return total


def loop_over_pairs_one_name(x, w):
    total = 0.0
    for pair in zip(x, w):
        total += pair[0]
    return total


def loop_with_else(x):
    total = 0.0
    for v in x:
        total += v
    else:
        total = total * 2.0
    return total


def writes_into_a_row(X):
    total = 0.0
    for row in X:                   # row is a view of X: the write changes X
        row[0] = 0.0
        total += np.sum(row * row)
    return total + np.sum(X)


def matrix_in_two_loops(x):
    # nested_list written as two loops
    y = np.zeros((3, 3))
    for i in range(3):
        for j in range(3):
            y[i, j] = x[i] * x[j]
    return np.sum(y)


REJECTED = [
    (loop_with_else, "`else` on a for loop", "set a flag inside the loop instead"),
    (writes_into_a_row, "`row` and `X` share memory", "np.copy"),
    (list_bound_to_name, "a list comprehension is supported only as the argument of", "y = np.zeros(n)"),
    (generator_in_while, "a generator expression in a while condition is not supported", "before the loop"),
    (std_of_list, "a list comprehension is supported only as the argument of", "y = np.zeros(n)"),
    (filtered_array, "np.array of a comprehension with several `for`s or an `if`", "y = np.zeros(n)"),
    (conditional_comprehension, "inside `and`, `or` or `a if c else b`", "on the line before"),
    (break_in_literal_loop, "`break` in a loop over a literal tuple or list", "v = np.array([a, b])"),
    (loop_over_pairs_one_name, "the loop yields 2 values at a time", "for a, b in"),
    (f_string_print, "an f-string in print(...) is not supported", 'print("loss", loss)'),
    (print_with_keyword, "`print(..., end=...)` is not supported", "print(a, b)"),
]


@pytest.mark.parametrize("fn, message, hint", REJECTED, ids=[c[0].__name__ for c in REJECTED])
def test_unsupported_forms_are_located_errors_with_a_working_hint(fn, message, hint):
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.source(fn)
    text = str(caught.value)
    first = text.splitlines()[0]
    assert first.startswith(f"{__file__}:") and message in first, text
    assert "\nhint: " in text and hint in text.split("\nhint: ")[1], text
    assert "ListComp" not in text and "GeneratorExp" not in text


def ys_in_a_loop(x):
    # list_bound_to_name as its hint says
    ys = np.zeros(len(x))
    for i in range(len(x)):
        ys[i] = x[i] * x[i]
    return np.sum(ys)


def max_in_a_loop(x):
    # a maximum as LOOP_HINT's loop
    total = 0.0
    for v in x:
        total = max(total, v * v)
    return total


@pytest.mark.parametrize("fn", [ys_in_a_loop, max_in_a_loop, matrix_in_two_loops])
def test_the_hints_rewrites_work(fn):
    got = compiled(fn, 0, "python")(X5)
    np.testing.assert_allclose(got, finite_difference(fn, (X5,), 0), rtol=1e-6, atol=1e-7)


@needs_cuda
def test_a_zip_loop_and_a_generator_sum_run_on_the_cuda_target():
    for fn, args in ((dot_zip, (X5, W4)), (sum_of_generator, (X5,))):
        got = adjoint.grad(fn, target="cuda")(*args)
        np.testing.assert_allclose(got, finite_difference(fn, args, 0), rtol=1e-6, atol=1e-7)


# --- cpu ----------------------------------------------------------------------------------------------

CPU = [(dot_zip, (X5, W4), 0), (row_norms, (M34, W4), 0), (sum_of_generator, (X5,), 0),
       (array_of_list, (X5,), 0), (overwrite_rank, (X5,), 0)]


@pytest.mark.parametrize("fn, args, wrt", CPU, ids=_ids(CPU))
def test_cpu_gradient_matches_finite_differences(fn, args, wrt):
    got = compiled(fn, wrt, "cpu")(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, wrt), rtol=1e-6, atol=1e-7)


# --- builtins.sum of an array ----------------------------------------------------------------

def sum_of_vector(x):
    return sum(x * x)


def sum_of_matrix_rows(a):                   # Python adds the rows: the column sums
    return np.sum(sum(a) ** 2)


@pytest.mark.parametrize("fn, args", [(sum_of_vector, (X5,)), (sum_of_matrix_rows, (M34,))],
                         ids=["vector", "matrix"])
def test_builtin_sum_of_an_array_is_its_first_axis_sum(fn, args):
    got = compiled(fn, 0, "python")(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, 0), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(got, autograd_gradient(fn, args, 0), rtol=1e-10, atol=1e-10)


# a name bound once to a literal list of tuples (JAX's "Training a simple neural network":
# params = [(W, b), ...]; for w, b in params[:-1]), unrolled as the literal itself -----------

LAYER_INPUT = np.array([[0.3, -0.2, 0.5], [0.1, 0.4, -0.6]])


def two_layers(W1, b1, W2, b2):
    params = [(W1, b1), (W2, b2)]
    x = LAYER_INPUT
    for W, b in params[:-1]:
        x = np.tanh(x @ W + b)
    W, b = params[-1]
    return np.sum((x @ W + b) ** 2)


def two_layers_whole(W1, b1, W2, b2):
    params = [(W1, b1), (W2, b2)]
    x = LAYER_INPUT
    for W, b in params:
        x = np.tanh(x @ W + b)
    return np.sum(x)


def element_rebound_after_the_list(W1, b1, W2, b2):
    params = [(W1, b1), (W2, b2)]
    W1 = W1 * 2.0                        # the list holds the old W1: not unrolled
    x = LAYER_INPUT
    for W, b in params:
        x = np.tanh(x @ W + b)
    return np.sum(x) + np.sum(W1)


def _layers():
    rng = np.random.default_rng(7)
    return [rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=(4, 4)), rng.normal(size=4)]


@pytest.mark.parametrize("fn", [two_layers, two_layers_whole], ids=lambda f: f.__name__)
def test_loop_over_a_name_bound_to_a_literal_list_of_tuples(fn):
    args = _layers()
    got = adjoint.grad(fn, wrt=(0, 1, 2, 3), target="python")(*args)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(fn, args, k), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(g, autograd_gradient(fn, args, k), rtol=1e-10, atol=1e-12)


def test_a_list_whose_element_is_rebound_is_not_unrolled():
    """Unrolling would read the new W1 where the list holds the old one: never a wrong number."""
    with pytest.raises(adjoint.AdjointError):
        adjoint.grad(element_rebound_after_the_list, wrt=(0, 1, 2, 3), target="python")(*_layers())


def horner_over_a_list_of_numbers(x):
    coeffs = [1.0, -2.0, 0.5, 3.0, -1.0]
    y = 0.0
    for c in coeffs:
        y = y * x + c
    return y


def test_a_list_of_numbers_bound_to_a_name_stays_a_loop():
    """Numbers fit one array: the loop is not unrolled (a long list would bloat the code)."""
    got = adjoint.grad(horner_over_a_list_of_numbers, target="python")(0.7)
    np.testing.assert_allclose(got, finite_difference(horner_over_a_list_of_numbers, (0.7,), 0), rtol=1e-7)
    assert "for " in adjoint.source(horner_over_a_list_of_numbers)


# the same list passed to a helper, whose loop runs over its parameter (autograd's
# neural_net.py: `for W, b in params` in neural_net_predict(params, inputs)) -----------------

def _predict(params, x):
    for W, b in params[:-1]:
        x = np.tanh(x @ W + b)
    W, b = params[-1]
    return x @ W + b


def _through(params, x):
    return np.sum(_predict(params, x) ** 2)


def _rebinding(params, x):
    params = params[:1]                  # rebound: not the caller's literal any more
    for W, b in params:
        x = np.tanh(x @ W + b)
    return np.sum(x)


def layers_in_a_helper(W1, b1, W2, b2):
    params = [(W1, b1), (W2, b2)]
    return np.sum(_predict(params, LAYER_INPUT) ** 2)


def literal_passed_to_a_helper(W1, b1, W2, b2):
    return np.sum(_predict([(W1, b1), (W2, b2)], LAYER_INPUT) ** 2)


def list_passed_on_by_a_helper(W1, b1, W2, b2):
    W1 = W1 * 2.0                        # before the list: the list holds the new W1
    params = [(W1, b1), (W2, b2)]
    return _through(params, LAYER_INPUT)


def element_rebound_after_the_call(W1, b1, W2, b2):
    params = [(W1, b1), (W2, b2)]
    y = np.sum(_predict(params, LAYER_INPUT) ** 2)
    W1 = W1 * 2.0                        # after the call: the helper saw the old W1
    return y + np.sum(_predict(params, LAYER_INPUT)) + np.sum(W1)


@pytest.mark.parametrize("fn", [layers_in_a_helper, literal_passed_to_a_helper, list_passed_on_by_a_helper,
                                element_rebound_after_the_call], ids=lambda f: f.__name__)
def test_loop_over_a_helper_parameter_bound_to_a_literal_list_of_tuples(fn):
    args = _layers()
    got = adjoint.grad(fn, wrt=(0, 1, 2, 3), target="python")(*args)
    for k, g in enumerate(got):
        np.testing.assert_allclose(g, finite_difference(fn, args, k), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(g, autograd_gradient(fn, args, k), rtol=1e-10, atol=1e-12)


def helper_rebinding_its_list(W1, b1, W2, b2):
    return _rebinding([(W1, b1), (W2, b2)], LAYER_INPUT)


def test_a_helper_that_rebinds_its_list_parameter_is_not_unrolled():
    """The loop no longer runs over the caller's literal: never a wrong number."""
    with pytest.raises(adjoint.AdjointError):
        adjoint.grad(helper_rebinding_its_list, wrt=(0, 1, 2, 3), target="python")(*_layers())


def zip_of_three_into_two(x, w):
    total = 0.0
    for a, b in zip(*(x, w, x)):
        total += a * b
    return total


def zip_of_matrix_rows(M):
    total = 0.0
    for a, b in zip(*M):                     # M's two rows, element by element
        total += a * b
    return total


def test_zip_of_a_starred_sequence_of_the_wrong_length_fails_as_python_does():
    with pytest.raises(adjoint.AdjointError, match="cannot unpack a tuple of 3 values into 2 targets") as info:
        adjoint.grad(zip_of_three_into_two, target="python")(X5, W5)
    assert info.value.location.line == zip_of_three_into_two.__code__.co_firstlineno + 2
    M = RNG.normal(size=(2, 3))
    np.testing.assert_allclose(compiled(zip_of_matrix_rows, 0, "python")(M),
                               finite_difference(zip_of_matrix_rows, (M,), 0), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="too many values to unpack"):      # three rows
        adjoint.grad(zip_of_matrix_rows, target="python")(RNG.normal(size=(3, 3)))
