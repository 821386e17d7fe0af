"""The objects grad, value_and_grad, jvp, vjp, jacobian, hvp and hessian return explain
themselves (repr, HTML and Markdown with the emitted source) and pickle by the function's
name, so that multiprocessing and concurrent.futures can ship them to other processes."""

import concurrent.futures
import multiprocessing
import pickle

import numpy as np
import pytest

import adjoint
from examples.seed_f4 import f4
from tests.oracles import finite_difference


def cubic_map(x):
    return x * x * x


def rosen(x):
    total = 0.0
    for i in range(len(x) - 1):
        total += 100.0 * (x[i + 1] - x[i] ** 2) ** 2 + (1.0 - x[i]) ** 2
    return total


@adjoint.grad(target="python")
def decorated_square_sum(x):
    return np.sum(x * x)


@pytest.mark.parametrize("make, name", [
    (lambda: adjoint.grad(f4, target="python"), "grad"),
    (lambda: adjoint.value_and_grad(f4, target="python"), "value_and_grad"),
    (lambda: adjoint.jvp(f4, target="python"), "jvp"),
    (lambda: adjoint.vjp(cubic_map, target="python"), "vjp"),
    (lambda: adjoint.jacobian(cubic_map, target="python"), "jacobian"),
    (lambda: adjoint.hvp(rosen, target="python"), "hvp"),
    (lambda: adjoint.hessian(rosen, target="python"), "hessian"),
])
def test_each_object_names_what_it_computes_and_shows_its_source(make, name):
    obj = make()
    function = obj.fn.__name__
    assert repr(obj).startswith(f"<adjoint.{name} of {function} wrt ")
    assert "def " in obj.source
    assert obj._repr_html_().strip()
    markdown = obj._repr_markdown_()
    assert markdown.startswith(f"`<adjoint.{name} of") and "```python\n" in markdown


def test_a_gradient_pickles_by_name_and_computes_the_same_in_the_copy():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    for obj in (adjoint.grad(f4, target="python"), adjoint.value_and_grad(rosen, target="python"),
                decorated_square_sum, adjoint.hessian(rosen, target="python")):
        data = pickle.dumps(obj)
        assert len(data) < 1000                  # a reference and options, never machine code
        copy = pickle.loads(data)
        assert repr(copy) == repr(obj)
        np.testing.assert_allclose(_flat(copy(x)), _flat(obj(x)))
    np.testing.assert_allclose(pickle.loads(pickle.dumps(adjoint.grad(f4, target="python")))(x),
                               finite_difference(f4, (x,), 0), rtol=1e-6)


def _flat(result):
    parts = result if isinstance(result, tuple) else (result,)
    return np.concatenate([np.ravel(p) for p in parts])


def test_a_closure_says_why_it_cannot_be_pickled():
    scale = 3.0

    def local(x):
        return scale * x * x
    with pytest.raises(pickle.PicklingError, match="define the function at module level"):
        pickle.dumps(adjoint.grad(local, target="python"))


def _gradient_at(args):
    g, x = args
    return g(x)


@pytest.mark.slow
def test_a_process_pool_computes_gradients_in_other_processes():
    g = adjoint.grad(rosen)                       # cpu: each worker compiles its own
    points = [np.linspace(0.5, 1.5, 5) + k for k in range(4)]
    context = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(2, mp_context=context) as pool:
        got = list(pool.map(_gradient_at, [(g, x) for x in points]))
    for x, row in zip(points, got):
        np.testing.assert_allclose(row, finite_difference(rosen, (x,), 0), rtol=1e-6)


def passes_on(W, b):
    return np.sum(np.tanh(_layer(W, b)))


def _layer(W, b):
    return W @ b


@pytest.mark.parametrize("types", ["W=float64[:,:], b=float64[:]",
                                   {"W": "float64[:,:]", "b": "float64[:]"},
                                   {"W": np.ones((2, 3)), "b": np.ones(3)}])
def test_source_takes_the_argument_types_as_the_cli_does(types):
    text = adjoint.source(passes_on, types=types)
    assert "def grad_passes_on(W, b):" in text
    namespace = {}
    exec(compile(text, "<generated>", "exec"), namespace)
    W, b = np.arange(6.0).reshape(2, 3) / 7.0, np.array([0.3, -0.2, 0.5])
    np.testing.assert_allclose(namespace["grad_passes_on"](W, b), finite_difference(passes_on, (W, b), 0),
                               rtol=1e-6)


def test_source_says_which_types_it_cannot_read():
    with pytest.raises(adjoint.AdjointArgumentError, match="not a parameter"):
        adjoint.source(passes_on, types={"V": "float64"})
    with pytest.raises(adjoint.AdjointArgumentError, match="cannot read the type"):
        adjoint.source(passes_on, types="W=matrix")
