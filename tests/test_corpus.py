"""Every corpus function, on both targets, against central differences and against autograd."""

from __future__ import annotations

import re

import autograd
import numpy as np
import pytest

from tests.conftest import assert_gradient, compiled, fd_tolerance, finite_difference, make_rng
from tests.corpus import BY_NAME, CORPUS, case_id

POINTS = 3
AUTOGRAD_TOLERANCE = dict(rtol=1e-10, atol=1e-12)

cases = pytest.mark.parametrize("case", CORPUS, ids=[case_id(c) for c in CORPUS])


def points(case):
    rng = make_rng("corpus", case_id(case))
    return [case.sample(rng) for _ in range(POINTS)]


def as_expected(case, per_argument):
    """A tuple wrt gives a tuple of gradients; a single wrt, the gradient itself."""
    return tuple(per_argument) if isinstance(case.wrt, tuple) else per_argument[0]


@cases
def test_finite_differences(case, target):
    grad = compiled(case.fn, case.wrt, target)
    for args in points(case):
        value = case.fn(*args)
        expected = as_expected(case, [finite_difference(case.fn, args, i) for i in case.wrt_indices()])
        assert_gradient(grad(*args), expected, **fd_tolerance(value))


@cases
def test_autograd(case, target):
    grad = compiled(case.fn, case.wrt, target)
    twin = case.autograd_fn
    for args in points(case):
        np.testing.assert_allclose(twin(*args), case.fn(*args), rtol=1e-12)   # the twin is faithful
        expected = as_expected(case, [autograd.grad(twin, i)(*args) for i in case.wrt_indices()])
        assert_gradient(grad(*args), expected, **AUTOGRAD_TOLERANCE)


@cases
def test_inputs_unchanged(case, target):
    """The gradient reads its array arguments and leaves them as they were."""
    args = points(case)[0]
    copies = [np.array(a, copy=True) for a in args]
    compiled(case.fn, case.wrt, target)(*args)
    for before, after in zip(copies, args):
        np.testing.assert_array_equal(before, after)


@pytest.mark.parametrize("name", ["f4", "exp_log_math", "conditional_expression",
                                  "augmented", "horner", "overwritten_result"])
def test_value_and_grad(name, target):
    case = BY_NAME[name]
    value_and_grad = compiled(case.fn, case.wrt, target, value=True)
    grad = compiled(case.fn, case.wrt, target)
    for args in points(case):
        value, gradient = value_and_grad(*args)
        assert isinstance(value, float)
        assert value == pytest.approx(case.fn(*args), rel=1e-13, abs=1e-13)
        assert_gradient(gradient, grad(*args), rtol=1e-13, atol=0.0)


def test_sequence_arguments_as_lists(target):
    """A sequence argument may be a list or tuple of floats (or ints): it is promoted."""
    grad = compiled(BY_NAME["f4"].fn, 0, target)
    expected = np.array([52.0, 38.0, 28.0, 22.0])
    for args in ([1.0, 2.0, 3.0, 4.0], (1.0, 2.0, 3.0, 4.0), [1, 2, 3, 4], np.arange(1, 5)):
        assert_gradient(grad(args), expected, rtol=0, atol=0)


def test_corpus_is_broad():
    """The corpus keeps covering what the brief promises (guards against accidental pruning)."""
    names = {case.name for case in CORPUS}
    assert len(CORPUS) >= 30
    for required in ("f4", "f4_expression", "uses_helper", "uses_softplus", "three_args",
                     "integer_argument", "indexed", "reassigned", "conditional_expression",
                     "boolean_conditions", "constants"):
        assert required in names


def _bug_params():
    from tests.corpus import FIXED_BUGS, KNOWN_BUGS
    return ([pytest.param(case, marks=pytest.mark.xfail(strict=True, reason=reason), id=case_id(case))
             for case, reason in KNOWN_BUGS] + [pytest.param(case, id=case_id(case)) for case in FIXED_BUGS])


@pytest.mark.parametrize("case", _bug_params())
def test_reported_bugs(case, target):
    """Bugs found by these tests: the correct gradient, or, for the cases listed in REJECTED
    only, an AdjointError when the gradient is built whose message names the reason; anything
    else (a wrong number, a failure at call time, an unexpected rejection) is a bug."""
    import adjoint
    from tests.corpus import REJECTED
    if case.name in REJECTED:
        with pytest.raises(adjoint.AdjointError, match=re.escape(REJECTED[case.name])):
            adjoint.grad(case.fn, wrt=case.wrt, target=target)
        return
    args = [a.draw(None) for a in case.args]
    grad = adjoint.grad(case.fn, wrt=case.wrt, target=target)
    expected = as_expected(case, [finite_difference(case.fn, args, i) for i in case.wrt_indices()])
    assert_gradient(grad(*args), expected, **fd_tolerance(case.fn(*args)))


def test_rejected_cases_are_reported_cases():
    from tests.corpus import FIXED_BUGS, KNOWN_BUGS, REJECTED
    names = {case.name for case in FIXED_BUGS} | {case.name for case, _ in KNOWN_BUGS}
    assert set(REJECTED) <= names
    assert all(REJECTED.values()), "each rejection names a fragment of its message"


def test_one_element_tuple_wrt(target):
    case = BY_NAME["three_args"]
    grad = compiled(case.fn, ("y",), target)
    result = grad(0.5, 0.25, 1.5)
    assert isinstance(result, tuple) and len(result) == 1
    assert result[0] == pytest.approx(0.5 * 1.5 - 1.0 / 1.5)
