"""Errors that help (issue #17): every rejected construct is a located AdjointError whose
message says what the user wrote in words ("dict literal", "f-string"), never the name of a
syntax-tree class (Dict, JoinedStr, Attribute, FunctionDef, Ellipsis, ...), and whose hint is
a rewrite; for the common ones, the rewrite the hint names is checked to differentiate."""

from __future__ import annotations

import re

import gast
import numpy as np
import pytest

import adjoint
from tests.conftest import import_source
from tests.oracles import finite_difference

# each function is rejected; its argument is a vector x of 3 (a matrix X of 3 x 2)
REJECTED = '''
import math
import numpy as np


def dict_literal(x):
    d = {"a": x[0]}
    return d["a"]


def set_literal(x):
    s = {x[0], 1.0}
    return x[0]


def dict_call(x):
    return dict(a=x[0])["a"]


def string_index(x):
    return x["a"]


def fstring(x):
    s = f"{x[0]}"
    return x[0]


def bytes_constant(x):
    y = b"abc"
    return x[0]


def complex_constant(x):
    return x[0] * 1j


def attribute_store(x):
    x.real = 1.0
    return x[0]


def unsupported_attribute(x):
    return x.T.foo


def starred_target(x):
    a, *rest = x[0], x[1], x[2]
    return a


def starred_call(x):
    return max(*x)


def nested_class(x):
    class A:
        pass
    return x[0]


def async_def(x):
    async def g(t):
        return t
    return x[0]


def with_block(x):
    with open("f") as f:
        pass
    return x[0]


def try_block(x):
    try:
        y = x[0] * 2
    except ValueError:
        y = x[0]
    return y


def walrus(x):
    return (y := x[0] * 2) + y


def yield_statement(x):
    yield x[0]


def global_statement(x):
    global G
    return x[0]


def del_statement(x):
    y = x[0]
    del y
    return x[0]


def import_statement(x):
    import os
    return x[0]


def raise_again(x):
    if x[0] < -10:
        raise
    return x[0]


def raise_from(x):
    if x[0] < -10:
        raise ValueError("no") from None
    return x[0]


def raise_a_string(x):
    if x[0] < -10:
        raise "no"
    return x[0]


def annotated(x):
    y: float = x[0] * 2
    return y


def chained(x):
    a = b = x[0]
    return a * b


def for_else(x):
    s = 0.0
    for i in range(3):
        s = s + x[i]
    else:
        s = s * 2
    return s


def keyword_out(x):
    y = np.zeros(3)
    return np.sum(np.exp(x, out=y))


def keyword_dtype_of_ufunc(x):
    return np.sum(np.exp(x, dtype=np.float64))


def keyword_axis_of_dot(x):
    return np.dot(x, x, axis=0)


def keyword_unpacking(x):
    options = 0
    return np.sum(x, **options)


def dropped_call(x):
    out = np.zeros(3)
    out.fill(x[0])
    return np.sum(out)


def expression_statement(x):
    x[0] * 2
    return x[0]


def set_comprehension(x):
    s = {v for v in x}
    return x[0]


def dict_comprehension(x):
    s = {i: x[i] for i in range(3)}
    return x[0]


def unresolved(x):
    return undefined_function(x[0])


def method_of_expression(x):
    return (x * 2).frobnicate()


def mask_or(x):
    return np.sum(np.where((x > 1) | (x < 0), x * x, 0.0))


def mask_not(x):
    return np.sum(np.where(~(x > 1), x * x, 0.0))


def bit_shift(x):
    return x[0] * (1 << 2)


def is_none(x):
    if x is None:
        return 0.0
    return x[0]


def in_tuple(x):
    k = 1
    if k in (1, 2):
        return x[0]
    return x[1]


def tuple_result(x):
    return x[0] * x[1], x[1]


INDEX = np.array([0, 2, 0])


def scatter_add_at(x):
    y = np.zeros(3)
    np.add.at(y, INDEX, x)
    return np.sum(y * y)


def fill_diagonal(X):
    G = X @ X.T
    np.fill_diagonal(G, 0.0)
    return np.sum(G * G)


def reshape_fortran(x):
    return np.sum(np.reshape(np.outer(x, x), (1, 9), order="F") * np.arange(9.0))


def ravel_fortran(X):
    return np.sum(X.flatten("F") * np.arange(6.0))


def std_of_axes_by_position(X):
    T = np.reshape(np.outer(X[:, 0], X[:, 1]), (3, 3, 1))
    return np.sum(np.std(T, (0, 2)) * np.arange(3.0))


def flip_of_axes(X):
    return np.sum(np.flip(X, (0, 1)) * np.arange(6.0).reshape(3, 2))


def roll_shift_by_name(x):
    return np.sum(np.roll(x, shift=1) * np.arange(3.0))


def diff_with_prepend(x):
    return np.sum(np.diff(x, prepend=0.0) ** 2)


def take_along_a_named_axis(X):
    k = 1
    return np.sum(np.take(X, np.array([0, 1]), axis=k))
'''

# the names of gast's (and so Python's) syntax-tree classes, which a message must not show
CLASS_NAMES = sorted(name for name in dir(gast) if isinstance(getattr(gast, name), type)
                     and issubclass(getattr(gast, name), gast.AST) and name[0].isupper() and name != "AST") + ["Ellipsis"]
CLASS_NAME = re.compile(r"\b(" + "|".join(CLASS_NAMES) + r")\b")
LOCATION = re.compile(r"^[^\n]+\.py:\d+:\d+: ")
NAMES = re.findall(r"^def (\w+)\(", REJECTED, flags=re.M)


@pytest.fixture(scope="module")
def rejected(tmp_path_factory):
    return import_source(tmp_path_factory.mktemp("rejected"), "rejected_constructs", REJECTED)


def argument(fn):
    return np.ones((3, 2)) if fn.__code__.co_varnames[0] == "X" else np.array([0.5, 1.5, 2.5])


def words_of(message) -> str:
    """The message's own words: its first line and its hint, not the quoted source or caret."""
    lines = message.splitlines()
    hint = message[message.index("\nhint: "):] if "\nhint: " in message else ""
    return lines[0] + hint


def test_the_walk_covers_many_constructs():
    assert len(NAMES) >= 40


@pytest.mark.parametrize("name", NAMES)
def test_rejection_names_the_construct_in_words_with_a_hint(name, rejected):
    fn = getattr(rejected, name)
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(fn, target="python")(argument(fn))
    message = str(caught.value)
    assert LOCATION.match(message), message
    assert "\nhint: " in message, message
    leaked = CLASS_NAME.findall(words_of(message))
    assert not leaked, (leaked, message)


@pytest.mark.parametrize("name, phrase", [
    ("dict_literal", "dict literal"), ("fstring", "f-string"), ("set_comprehension", "set comprehension"),
    ("walrus", "assignment expression"), ("nested_class", "class definition"),
    ("attribute_store", "attribute (x.a = ...)"),
    ("string_index", "string index 'a'"), ("dict_call", "dictionaries are not differentiable values"),
    ("dropped_call", "the result of `out.fill(x[0])` is dropped"),
    ("mask_or", "the operator `|`"), ("is_none", "the operator `is`"), ("bit_shift", "the operator `<<`"),
    ("scatter_add_at", "for k in range(len(INDEX)): y[INDEX[k]] += x[k]"),
    ("fill_diagonal", "for k in range(min(G.shape)): G[k, k] = 0.0"),
    ("reshape_fortran", "np.reshape(x.T, (4, 3)).T is np.reshape(x, (3, 4), order='F')"),
    ("ravel_fortran", "np.ravel(x.T) is np.ravel(x, order='F')"),
    ("std_of_axes_by_position", "a tuple of axes in `np.std` is not supported"),    # (was chained: wrong)
    ("flip_of_axes", "np.flip(np.flip(x, 2), 0)"),
    ("roll_shift_by_name", "pass `shift` by position"),
    ("take_along_a_named_axis", "np.take along an axis that is not a number"),     # (was without file:line)
    ("diff_with_prepend", "np.diff(np.concatenate((np.array([p]), x))) for prepend=p"),
])
def test_message_says_what_the_user_wrote(name, phrase, rejected):
    fn = getattr(rejected, name)
    with pytest.raises(adjoint.AdjointError, match=re.escape(phrase)):
        adjoint.grad(fn, target="python")(argument(fn))


# the rewrite each hint names, written out: it must differentiate (python target), and agree
# with central differences
REWRITES = '''
import numpy as np


def dropped_call(x):                   # hint: out[:] = v
    out = np.zeros(3)
    out[:] = x[0]
    return np.sum(out)


def ellipsis_index(X):                 # hint: one `:` per axis
    return np.sum(X[:, 0] ** 2)


def keepdims(X):                       # hint: reshape the result to keep the axis
    m = np.max(X, axis=1).reshape(-1, 1)
    return np.sum(np.exp(X - m))


def keyword_dtype_of_ufunc(x):         # hint: leave `dtype=` out
    return np.sum(np.exp(x))


def dict_literal(a, b):                # hint: pass the values as separate arguments
    return a * b


def mask_or(x):                        # hint: np.logical_or(a > 0, b > 0)
    return np.sum(np.where(np.logical_or(x > 1, x < 0), x * x, 0.0))


def mask_not(x):                       # hint: np.logical_not(a > 0)
    return np.sum(np.where(np.logical_not(x > 1), x * x, 0.0))


def in_tuple(x):                       # hint: compare with each value: k == 1 or k == 2
    k = 1
    if k == 1 or k == 2:
        return x[0]
    return x[1]


WEIGHTS = np.array([1.0, 2.0, 3.0])


def global_statement(x):               # hint: module-level names are read without `global`
    return np.sum(WEIGHTS * x * x)


def tuple_value(a, b):                 # hint: make it an array, np.array([a, b])
    p = np.array([a * b, b])
    return p[0]


INDEX = np.array([0, 2, 0])


def scatter_add_at(x):                 # hint: for k in range(len(INDEX)): y[INDEX[k]] += x[k]
    y = np.zeros(3)
    for k in range(len(INDEX)):
        y[INDEX[k]] += x[k]
    return np.sum(y * y)


def fill_diagonal(X):                  # hint: for k in range(min(G.shape)): G[k, k] = 0.0
    G = X @ X.T
    for k in range(min(G.shape)):
        G[k, k] = 0.0
    return np.sum(G * G)


def reshape_fortran(x):                # hint: np.reshape(x.T, (4, 3)).T
    return np.sum(np.reshape(np.outer(x, x).T, (9, 1)).T * np.arange(9.0))


def ravel_fortran(X):                  # hint: np.ravel(x.T)
    return np.sum(np.ravel(X.T) * np.arange(6.0))


def flip_of_axes(X):                   # hint: np.flip(np.flip(x, 2), 0)
    return np.sum(np.flip(np.flip(X, 1), 0) * np.arange(6.0).reshape(3, 2))


def diff_with_prepend(x):              # hint: np.diff(np.concatenate((np.array([p]), x)))
    return np.sum(np.diff(np.concatenate((np.array([0.0]), x))) ** 2)


def roll_shift_by_name(x):             # hint: pass `shift` by position
    return np.sum(np.roll(x, 1) * np.arange(3.0))
'''

@pytest.fixture(scope="module")
def rewrites(tmp_path_factory):
    return import_source(tmp_path_factory.mktemp("rewrites"), "hinted_rewrites", REWRITES)


def test_the_fortran_order_rewrites_keep_the_value(rejected, rewrites):
    x, X = argument(rejected.reshape_fortran), argument(rejected.ravel_fortran)
    np.testing.assert_allclose(rewrites.reshape_fortran(x), rejected.reshape_fortran(x))
    np.testing.assert_allclose(rewrites.ravel_fortran(X), rejected.ravel_fortran(X))
    np.testing.assert_allclose(rewrites.flip_of_axes(X), rejected.flip_of_axes(X))
    np.testing.assert_allclose(rewrites.diff_with_prepend(x), rejected.diff_with_prepend(x))


@pytest.mark.parametrize("name", re.findall(r"^def (\w+)\(", REWRITES, flags=re.M))
def test_the_rewrite_a_hint_names_differentiates(name, rewrites):
    fn = getattr(rewrites, name)
    args = (0.7, 1.3) if fn.__code__.co_argcount == 2 else (argument(fn),)
    got = adjoint.grad(fn, target="python")(*args)
    np.testing.assert_allclose(got, finite_difference(fn, args, 0), rtol=1e-6, atol=1e-6)


def test_a_tuple_result_hint_names_an_array_that_jacobian_differentiates(rejected, tmp_path):
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(rejected.tuple_result, target="python")(argument(rejected.tuple_result))
    assert "np.array([" in caught.value.hint and "jacobian" in caught.value.hint
    source = "import numpy as np\n\n\ndef f(x):\n    return np.array([x[0] * x[1], x[1]])\n"
    rewritten = import_source(tmp_path, "tuple_as_array", source).f
    np.testing.assert_allclose(adjoint.jacobian(rewritten, target="python")(np.array([2.0, 3.0])),
                               [[3.0, 2.0], [0.0, 1.0]])


def test_a_keyword_hint_lists_only_keywords_the_function_then_takes(tmp_path):
    rejected_ufunc = "`np.exp` takes no keyword argument here: leave `dtype=` out"
    source = "import numpy as np\n\n\ndef f(x):\n    return np.sum(np.exp(x, dtype=np.float64))\n"
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(import_source(tmp_path, "ufunc_dtype", source).f, target="python")(np.ones(3))
    assert rejected_ufunc in str(caught.value)
