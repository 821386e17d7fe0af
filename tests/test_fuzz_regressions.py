"""Every failure the differential fuzzer found, minimized, on both targets.

A case with a reason is a compiler bug not fixed yet: a strict xfail, so fixing it turns the
test red until the mark goes (and its entry in tests.fuzzing.KNOWN_BUGS, so that campaigns
generate the construct again). Expected gradients come from autograd running the same
source, cross-checked here with central differences.
"""

import numpy as np
import pytest

import adjoint
from tests import fuzz_regressions as fr
from tests.oracles import autograd_gradient, finite_difference

ARRAY = np.array([1.0, 2.0, 3.0])

# (function, arguments, wrt, reason if it is an unfixed bug [, the targets it fails on])
CASES = [
    # found by the fuzzer, each fixed since
    (fr.nested_loop_overwrite, (0.7,), 0, None),
    (fr.while_in_for_overwrite, (0.7,), 0, None),
    (fr.nested_loop_sin, (0.7,), 0, None),
    (fr.two_loops_same_variable, (0.7,), 0, None),
    (fr.second_loop_no_trips, (0.7,), 0, None),
    (fr.for_then_idle_while, (-0.881, 0.725), 0, None),
    (fr.unused_array_argument, (0.7, ARRAY), (0, 1), None),
    (fr.array_only_in_helper, (0.7, ARRAY), (0, 1), None),
    (fr.loop_return_not_taken, (0.5,), 0, None),
    (fr.loop_return_after_while_return, (0.5, 1.4), 0, None),
    (fr.array_helper_in_branch, (1.5, ARRAY), (0, 1), None),            # the branch taken
    (fr.return_in_nested_loop, (0.7,), 0, None),
    (fr.return_in_while_in_for, (0.7,), 0, None),
    (fr.range_from_zero_with_step, (0.7,), 0, None),
    (fr.array_helper_in_branch, (0.5, ARRAY), (0, 1), None),
    (fr.negative_constant_squared, (0.5,), 0, None),
    (fr.negative_constant_in_update, (0.5,), 0, None),
    (fr.negative_global_squared, (0.5,), 0, None),
    (fr.branch_then_overwrite, (0.5, 0.3), (0, 1), None),
    (fr.loop_then_overwrite, (0.7, 0.3), (0, 1), None),
    (fr.loop_then_reassign, (-0.471, -1.448), (0, 1), None),
    (fr.constant_condition_in_loop, (0.6,), 0, None),
    (fr.chained_comparison_in_helper, (0.5,), 0, None),
    (fr.chained_comparison_name_error, (0.7,), 0, None),
    (fr.constant_or_in_conditional, (1.139, 0.399), (0, 1), None),
    (fr.constant_or_in_conditional, (-0.5, 0.5), (0, 1), None),
    (fr.constant_and_in_conditional, (1.139, 0.399), (0, 1), None),
    (fr.constant_continue_in_while, (0.3, 0.8), (0, 1), None),
    (fr.constant_argument_to_helper, (0.4, 2.3), (0, 1), None),
    # array programs
    (fr.max_of_equal_elements, (np.array([0.3, -0.5, 0.2]),), 0, None),
    (fr.min_of_equal_rows, (np.array([0.3, -0.5, 0.2]), np.ones((2, 3))), (0, 1), None),
]

# Points where the function has a kink: finite differences are no oracle there, the gradient
# must be a subgradient (tests.fuzzing.check_subgradient: its slope along each coordinate,
# along the tied coordinates together and along random directions lies between the one-sided
# derivatives). (function, arguments, wrt, the tied (argument, flat index) groups)
TIES = [
    (fr.max_of_vector, (np.array([1.0, 1.0, 0.0]),), 0, [[(0, 0), (0, 1)]]),
    (fr.max_of_vector, (np.array([0.5, -1.0, 0.5, 0.5]),), 0, [[(0, 0), (0, 2), (0, 3)]]),
    (fr.max_along_rows, (np.array([[0.2, 0.7, 0.7], [1.0, -1.0, 1.0]]),), 0,
     [[(0, 1), (0, 2)], [(0, 3), (0, 5)]]),
    (fr.min_along_columns, (np.array([[0.2, -0.4, 0.1], [0.2, 0.3, 0.1]]),), 0,
     [[(0, 0), (0, 3)], [(0, 2), (0, 5)]]),
]


def expected_gradient(fn, args, wrt):
    indices = wrt if isinstance(wrt, tuple) else (wrt,)
    out = []
    for w in indices:
        exact = np.asarray(autograd_gradient(fn, args, w), dtype=float)
        if np.ndim(args[w]) and not exact.shape:        # autograd: an unused array gives 0.0
            exact = np.zeros(np.shape(args[w]))
        np.testing.assert_allclose(exact, finite_difference(fn, args, w), rtol=1e-6, atol=1e-9)
        out.append(exact)
    return tuple(out) if isinstance(wrt, tuple) else out[0]


def params():
    out, seen = [], set()
    for fn, args, wrt, reason, *targets in CASES:
        name = fn.__name__
        while name in seen:
            name += "+"
        seen.add(name)
        out.append(pytest.param(fn, args, wrt, reason, targets[0] if targets else ("python", "cpu"),
                                id=name))
    return out


@pytest.mark.filterwarnings("ignore:Output seems independent of input")
@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("fn, args, wrt, reason, failing", params())
def test_fuzz_regression(fn, args, wrt, reason, failing, target, request):
    if reason and target in failing:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))
    want = expected_gradient(fn, args, wrt)
    got = adjoint.grad(fn, wrt=wrt, target=target)(*args)
    if isinstance(wrt, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("target", ["python", "cpu"])
@pytest.mark.parametrize("fn, args, wrt, ties", [pytest.param(*case, id=f"{case[0].__name__}-{n}")
                                                 for n, case in enumerate(TIES)])
def test_fuzz_tie(fn, args, wrt, ties, target):
    from tests.fuzzing import check_subgradient
    got = adjoint.grad(fn, wrt=wrt, target=target)(*args)
    parts = got if isinstance(wrt, tuple) else (got,)
    indices = list(wrt) if isinstance(wrt, tuple) else [wrt]
    problem = check_subgradient(fn, args, indices, parts, ties, np.random.default_rng(0))
    assert problem is None, problem[0]



@pytest.mark.parametrize("target", ["python", "cpu"])
def test_element_write_the_source_types_as_a_number(target):
    A = np.array([[0.1, 0.5, -0.3], [0.7, 0.2, 0.9]])
    args = (A, 0.4)
    got = adjoint.grad(fr.element_write_into_a_copy, wrt=(0, 1), target=target)(*args)
    for k in (0, 1):
        np.testing.assert_allclose(got[k], finite_difference(fr.element_write_into_a_copy, args, k),
                                   rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_a_merged_update_in_place_leaves_no_hole(target):
    args = (np.array([0.1, 0.4, -0.3]), np.array([0.2, -0.5, 0.6, 0.05]))    # off every kink
    got = adjoint.grad(fr.clip_then_update_in_place, wrt=(0, 1), target=target)(*args)
    for k in (0, 1):
        np.testing.assert_allclose(got[k], finite_difference(fr.clip_then_update_in_place, args, k),
                                   rtol=1e-6, atol=1e-9)


# Branches on a variable holding a constant are folded before the reverse sweep
# (frontend/known.py); where the variable is rebound in a loop or in one branch only, the
# branch must stay (python target: the folding is the same on every target)
@pytest.mark.parametrize("fn, args", [
    (fr.constant_argument_to_helper, (0.4, 0.3)),
    (fr.constant_rebound_in_loop, (0.7,)),
    (fr.constant_rebound_in_branch, (0.7,)),
    (fr.constant_rebound_in_branch, (-0.7,)),
    (fr.constant_flag_from_helper, (0.7,)),
])
def test_known_conditions(fn, args):
    wrt = tuple(range(len(args)))
    want = expected_gradient(fn, args, wrt)
    got = adjoint.grad(fn, wrt=wrt, target="python")(*args)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_known_conditions_leave_no_branch():
    source = adjoint.source(fr.constant_argument_to_helper, wrt=(0, 1))
    assert "0.87 <= -0.18" not in source and "_bounded_helper_b <= -0.18" not in source
    assert "_bounded_helper_b > _bounded_helper_b" not in source     # the first call's tests
    assert "_bounded_helper_b_1 > _bounded_helper_b_1" in source     # the second's stay
    source = adjoint.source(fr.constant_rebound_in_loop)
    assert "b > 0.5" in source
