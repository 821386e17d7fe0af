"""The call tables validate.py and views.py read come from the primitive records (primitives/table.py):
the creators, the reductions, the variadic calls, and the allocating calls it accepts. Each
is pinned to the set validate.py listed by hand before, and checked by what validation does."""

from __future__ import annotations

import math

import numpy as np
import pytest

import adjoint
from adjoint.primitives import registry, table


def test_creators_are_the_records_with_the_creator_result():
    assert table.with_result("creator") == {np.zeros, np.ones, np.empty, np.full}


def test_reductions_are_the_records_that_reduce_to_a_scalar():
    from adjoint.frontend.views import _REDUCTIONS_WITHOUT_RECORDS
    numpy_side = {f for f in table.with_result("reduction", "scalar", "norm")   # (scipy's are filed once imported)
                  if not (getattr(f, "__module__", None) or "").startswith("scipy")}
    assert numpy_side | _REDUCTIONS_WITHOUT_RECORDS == {
        np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.trace, np.vdot,
        np.linalg.norm, np.std, np.var, np.ptp, np.median, np.nansum, np.nanmean}
    assert not any(table.record_of(f) for f in _REDUCTIONS_WITHOUT_RECORDS)


def test_variadic_calls_are_the_spellings_records_name():
    assert table.variadic() == {min, max, math.hypot, math.log}


def test_every_allocating_call_is_accepted_by_the_registries():
    allocating = {f for record in table.RECORDS if record.allocates for f in record.functions}
    assert allocating >= {np.zeros, np.ones, np.empty, np.full, np.zeros_like, np.ones_like,
                          np.empty_like, np.full_like, np.arange, np.array, np.eye}
    for function in allocating:
        assert registry.is_differentiable(function) or registry.is_non_differentiable(function), function


def test_a_variadic_spelling_must_be_a_spelling_of_its_record():
    with pytest.raises(ValueError, match="variadic"):
        table.define(table.Primitive(("np.negative",), variadic=("np.positive",)))


def three_way_min(a, b, c):
    return min(a, b, c) + math.hypot(a, b, c) + math.log(a, 2.0)


def three_way_minimum(a, b, c):
    return np.minimum(a, b, c)


def zeros_then_sum_over_axis(x):
    y = np.zeros(x.shape)
    y[0] = x[0]
    z = np.sum(y, axis=0)
    z[0] = 2.0 * x[1, 0]
    return np.sum(z) + np.sum(y)


def test_variadic_calls_pass_validation_and_their_numpy_twins_do_not():
    gradient = adjoint.grad(three_way_min, wrt=(0, 1, 2), target="python")(1.5, 2.0, 3.0)
    assert np.allclose(gradient, (1.0 + 1.5 / math.sqrt(1.5 ** 2 + 4 + 9) + 1.0 / (1.5 * math.log(2.0)),
                                  2.0 / math.sqrt(1.5 ** 2 + 4 + 9), 3.0 / math.sqrt(1.5 ** 2 + 4 + 9)))
    with pytest.raises(adjoint.AdjointError, match="with 3 arguments"):
        adjoint.grad(three_way_minimum, target="python")(1.0, 2.0, 3.0)


def test_a_reduction_over_an_axis_of_a_new_array_is_no_view():
    x = np.arange(6.0).reshape(2, 3) + 1.0
    gradient = adjoint.grad(zeros_then_sum_over_axis, target="python")(x)
    expected = np.zeros((2, 3))
    expected[0] = 2.0
    expected[0, 0] = 1.0
    expected[1, 0] = 2.0
    assert np.allclose(gradient, expected)
