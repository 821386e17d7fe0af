"""Tangent's own test corpus (tests/tangent_corpus.py, issue #17): every scalar-output function of
Tangent's tests/functions.py, at the arguments Tangent's tests feed it. What adjoint
differentiates is checked against central finite differences and autograd at every point;
what it rejects must be a located AdjointError, at the user's file:line, with a hint, never a
wrong number or a raw traceback. `python benchmarks/reach.py --corpus tangent` prints the same
outcomes as a table.

When a construct becomes supported, its programs' rejection tests fail: delete them from
EXPECTED_REJECTIONS, and the gradient tests take them up.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import adjoint
from tests.conftest import compiled
from tests.oracles import autograd_gradient, finite_difference
from tests.tangent_corpus import BY_NAME, PROGRAMS

# program -> a substring of the first line of the AdjointError it raises today (python target),
# grouped by the construct (issue #17's items)
EXPECTED_REJECTIONS = {
    # (tuples, nested defs, literal lists and lists used as stacks, items 7 and 8: supported
    # since; their programs pass)
    # dictionaries: not differentiable values
    "dict_saxpy": "the string index 'c': dictionaries are not differentiable values",
    "nested_dict": "the string index 'j': dictionaries are not differentiable values",
    "dict_wrapper": "`dict(...)`: dictionaries are not differentiable values",
}

# Rejections that lack part of a helpful error today (bugs of the message, reported to #17)
WITHOUT_LOCATION = set()
WITHOUT_HINT = set()

# Passing programs autograd cannot run: it cannot write array elements of its boxes
AUTOGRAD_CANNOT = {"test_subscript2", "test_subscript3", "active_subscript", "rnn", "init_array_grad_maybe_active"}

PASSING = [p for p in PROGRAMS if p.name not in EXPECTED_REJECTIONS]
LOCATION = re.compile(r"^(?P<file>[^\n]+\.py):(?P<line>\d+):(?P<col>\d+): ")
RTOL = 1e-5


def fresh(args):
    """The arguments again, arrays copied: some functions write into theirs (x[0] = ...)."""
    return tuple(a.copy() if isinstance(a, np.ndarray) else a for a in args)


def on_copies(fn):
    return lambda *args: fn(*fresh(args))


def scale_of(program, args, want):
    value = float(program.fn(*fresh(args)))
    return max(1.0, abs(value), float(np.max(np.abs(want))))


def as_tuple(gradients):
    return gradients if isinstance(gradients, tuple) else (gradients,)


def check_against_differences(program, target):
    gradient = compiled(program.fn, program.wrt, target)
    for args in program.points():
        got = as_tuple(gradient(*fresh(args)))
        assert len(got) == len(program.wrt)
        for index, g in zip(program.wrt, got):
            want = finite_difference(on_copies(program.fn), fresh(args), index)
            assert np.shape(g) == np.shape(want), (args, g, want)
            np.testing.assert_allclose(g, want, rtol=RTOL, atol=RTOL * scale_of(program, args, want),
                                       err_msg=f"at {args}")


def test_every_listed_program_exists_and_the_lists_do_not_overlap():
    listed = set(EXPECTED_REJECTIONS) | AUTOGRAD_CANNOT
    assert listed <= set(BY_NAME), listed - set(BY_NAME)
    assert (WITHOUT_LOCATION | WITHOUT_HINT) <= set(EXPECTED_REJECTIONS)
    assert not AUTOGRAD_CANNOT & set(EXPECTED_REJECTIONS)


def test_every_scalar_output_function_of_tangent_is_ported():
    # functions.py holds 105 functions that return a number (its TensorFlow, tuple-returning
    # and insert_grad_of ones aside); one, inlining_contextmanager, changes its own gradient
    assert len(PROGRAMS) == 104
    for program in PROGRAMS:
        assert np.ndim(program.fn(*fresh(program.arguments()))) == 0, program.name


@pytest.mark.parametrize("program", PASSING, ids=[p.name for p in PASSING])
def test_gradient_matches_finite_differences(program):
    check_against_differences(program, "python")


AUTOGRAD_CASES = [p for p in PASSING if p.name not in AUTOGRAD_CANNOT]


@pytest.mark.parametrize("program", AUTOGRAD_CASES, ids=[p.name for p in AUTOGRAD_CASES])
def test_gradient_matches_autograd(program):
    gradient = compiled(program.fn, program.wrt, "python")
    for args in program.points():
        got = as_tuple(gradient(*fresh(args)))
        for index, g in zip(program.wrt, got):
            want = autograd_gradient(program.fn, fresh(args), index)
            np.testing.assert_allclose(g, want, rtol=1e-9, atol=1e-9 * scale_of(program, args, want),
                                       err_msg=f"at {args}")


# Every passing program on the cpu target too: the functions are small, numba compiles all of
# them in about 15 s
@pytest.mark.parametrize("target", ["cpu"])
@pytest.mark.parametrize("program", PASSING, ids=[p.name for p in PASSING])
def test_cpu_gradient_matches_finite_differences(program, target):
    check_against_differences(program, target)


REJECTED = sorted(EXPECTED_REJECTIONS)


@pytest.mark.parametrize("name", REJECTED)
def test_rejection_is_a_located_adjoint_error(name):
    program = BY_NAME[name]
    with pytest.raises(adjoint.AdjointError) as caught:
        adjoint.grad(program.fn, wrt=program.wrt, target="python")(*fresh(program.arguments()))
    message = str(caught.value)
    assert EXPECTED_REJECTIONS[name] in message.splitlines()[0], message
    if name not in WITHOUT_LOCATION:
        where = LOCATION.match(message)
        assert where is not None, message
        assert where["file"].endswith("tangent_corpus.py"), message
        with open(where["file"]) as source:
            lines = source.read().splitlines()
        # the caret display quotes the user's line
        assert lines[int(where["line"]) - 1].strip() in message, message
    if name not in WITHOUT_HINT:
        assert "\nhint: " in message, message
