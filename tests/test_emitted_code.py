"""The emitted gradient reads like a hand-written adjoint (issue #16): what a user reads while
debugging has no step that does nothing. One test per rule, each on a small realistic
function, and each function's gradient checked against central finite differences."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import adjoint
from tests.conftest import fd_tolerance
from tests.oracles import finite_difference


def check_gradient(fn, args, wrt=(0,), target="python"):
    """adjoint's gradient of fn in each argument of `wrt` equals central differences."""
    grad = adjoint.grad(fn, wrt=wrt, target=target)
    got = grad(*args)
    got = got if isinstance(got, tuple) else (got,)
    tolerance = fd_tolerance(fn(*args), rtol=1e-5)
    for g, i in zip(got, wrt):
        np.testing.assert_allclose(g, finite_difference(fn, args, i), **tolerance)


def code_lines(source):
    """The emitted statements, stripped, without comments and blank lines."""
    return [ln.strip() for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#")]


# --- helpers and imports only where the final code uses them ------------------------------------

def weighted_energy(x, w):
    """No math call, and a loop whose element writes the optimized reverse no longer undoes."""
    b = np.zeros((2, 2))
    for i in range(2):
        for j in range(2):
            b[i, j] += x[i, j] * x[j, i]
    return np.sum(b * w)


def smooth_total(x, n):
    s = x
    for i in range(n):
        s = math.tanh(s * x + 0.1 * i) + s * 0.5
    return s


def test_imports_and_helpers_only_where_used():
    plain = adjoint.source(weighted_energy, wrt=(0, 1))
    assert "import math" not in plain and "math." not in plain
    assert "_record_" not in plain and "_undo_" not in plain, "helpers nothing calls"
    assert "import numba" not in plain
    with_math = adjoint.source(smooth_total)
    assert "import math" in with_math and "math.tanh(" in with_math
    # every helper the module defines is called
    for source in (plain, with_math):
        for helper in re.findall(r"^def (_\w+)\(", source, flags=re.MULTILINE):
            assert f"{helper}(" in source.split(f"def {helper}(", 1)[0] + \
                source.split(f"def {helper}(", 1)[1].split("\ndef ", 1)[1]
    rng = np.random.default_rng(16)
    check_gradient(weighted_energy, (rng.normal(size=(2, 2)), rng.normal(size=(2, 2))), wrt=(0, 1))
    check_gradient(smooth_total, (0.7, 6))
