"""What reaches the emitted module from the user's side, and under which name (issue #15,
items 2, 7 and 11).

- Callees and the other user objects the module refers to are told apart by identity: two
  functions one factory made (same __name__) get two names, `scaled` and `scaled_2`.
- File names, paths and source lines are escaped where they land in emitted text (the
  module's docstring, `# Analyzing the line` comments), on every path: grad, show, export.
- A user name equal to one the emitted code needs (`np`, `math`, `numba`, `range`, a runtime
  helper `_sum_to_2_1`, a generated `t_1` / `s_x`, a callee's name) is renamed, not shadowing.

Values are checked against hand-derived gradients and central differences, on the python and
cpu targets.
"""

import ast
import importlib.util
import math
import math as _math
import os
import sys

import numpy
import numpy as _np
import pytest

import adjoint
from adjoint import pipeline
from adjoint.cli.command import main
from adjoint.optimize import chunks
from tests.conftest import finite_difference

TARGETS = ("python", "cpu")


# item 2: two objects with one __name__ ------------------------------------------------------

def make_scaled(k):
    def scaled(x):
        return k * math.sin(x)
    return scaled


f2 = make_scaled(2.0)
f3 = make_scaled(3.0)


@adjoint.rule(f2)
def d_f2(x):
    return 2.0 * math.cos(x)


@adjoint.rule(f3)
def d_f3(x):
    return 3.0 * math.cos(x)


def two_scaled(x):
    return f2(x) + f3(x) * f3(x)


f4 = make_scaled(4.0)
f4.__name__ = 'x); import os; os.environ.__setitem__("ADJOINT_PWNED", "1"); (x'


@adjoint.rule(f4)
def d_f4(x):
    return 4.0 * math.cos(x)


def oddly_named_callee(x):
    return f4(x) * x


def make_weighted(w):
    def weighted(x):
        return _np.sum(w * x)          # w: a closure array, the same name in both helpers
    return weighted


weighted_a = make_weighted(_np.array([1.0, 2.0]))
weighted_b = make_weighted(_np.array([10.0, 20.0]))


def two_weighted(x):
    return weighted_a(x) + weighted_b(x) * weighted_b(x)


OFFSETS = _np.array([1.0, -2.0])


def offsets_dot(x):
    return _np.sum(OFFSETS * x)


def local_named_like_helper_global(x):
    OFFSETS = x * 3.0                   # noqa: N806 (not the module's OFFSETS the helper reads)
    return offsets_dot(x) + _np.sum(OFFSETS * x)


def make_square(k):
    def square(a):
        return k * a * a
    return square


square_2 = make_square(2.0)
square_3 = make_square(3.0)


@adjoint.vjp_rule(square_2)
def vjp_square_2(a, g):
    return 4.0 * a * g


@adjoint.vjp_rule(square_3)
def vjp_square_3(a, g):
    return 6.0 * a * g


@adjoint.tangent_rule(square_2)
def jvp_square_2(a, da):
    return 4.0 * a * da


@adjoint.tangent_rule(square_3)
def jvp_square_3(a, da):
    return 6.0 * a * da


def two_squares(x):
    return _np.sum(square_2(x) + square_3(x))


def check(fn, args, wrt, value, gradient, target):
    got_value, got_gradient = adjoint.value_and_grad(fn, wrt=wrt, target=target)(*args)
    assert got_value == pytest.approx(value, rel=1e-12)
    numpy.testing.assert_allclose(got_gradient, gradient, rtol=1e-10, atol=1e-12)
    numpy.testing.assert_allclose(got_gradient, finite_difference(fn, args, wrt), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("target", TARGETS)
def test_rules_of_two_functions_from_one_factory_stay_apart(target):
    x = 0.7
    value = 2.0 * math.sin(x) + 9.0 * math.sin(x) ** 2                # 5.024, not 5.668
    gradient = 2.0 * math.cos(x) + 18.0 * math.sin(x) * math.cos(x)   # 10.399, not 7.442
    check(two_scaled, (x,), 0, value, gradient, target)


def test_two_objects_with_one_name_get_two_deterministic_names():
    source = pipeline.differentiate(two_scaled).source
    assert "scaled(x)" in source and "scaled_2(x)" in source
    assert pipeline.differentiate(two_scaled).source == source          # run to run
    assert set(pipeline.differentiate(two_scaled).namespace) == {"scaled", "scaled_2"}
    namespace = pipeline.differentiate(two_scaled).namespace
    assert namespace["scaled"] is f2 and namespace["scaled_2"] is f3


@pytest.mark.parametrize("target", TARGETS)
def test_a_callee_name_that_is_no_identifier_is_made_one(target, no_injection):
    x = 0.7
    check(oddly_named_callee, (x,), 0, 4.0 * math.sin(x) * x, 4.0 * math.cos(x) * x + 4.0 * math.sin(x), target)
    source = pipeline.differentiate(oddly_named_callee).source
    assert "import os" not in source and "x_import_os_os_environ" in source


@pytest.mark.parametrize("target", TARGETS)
def test_inlined_helpers_reading_closure_arrays_of_one_name(target):
    x = _np.array([0.5, -1.5])
    a, b = _np.array([1.0, 2.0]), _np.array([10.0, 20.0])
    value = a @ x + (b @ x) ** 2
    check(two_weighted, (x,), 0, value, a + 2.0 * (b @ x) * b, target)


@pytest.mark.parametrize("target", TARGETS)
def test_helper_global_is_not_the_callers_local_of_that_name(target):
    x = _np.array([0.5, -1.5])
    value = OFFSETS @ x + 3.0 * x @ x
    check(local_named_like_helper_global, (x,), 0, value, OFFSETS + 6.0 * x, target)


@pytest.mark.parametrize("target", TARGETS)
def test_vjp_rules_of_two_functions_from_one_factory_stay_apart(target):
    x = _np.array([0.5, -1.5])
    check(two_squares, (x,), 0, 5.0 * x @ x, 10.0 * x, target)


@pytest.mark.parametrize("target", TARGETS)
def test_tangent_rules_of_two_functions_from_one_factory_stay_apart(target):
    x, v = _np.array([0.5, -1.5]), _np.array([1.0, 0.25])
    value, tangent = adjoint.jvp(two_squares, target=target)(x, v)
    assert value == pytest.approx(5.0 * x @ x, rel=1e-12)
    assert tangent == pytest.approx(10.0 * x @ v, rel=1e-12)


# item 11: user names that would hide the emitted code's own --------------------------------

def argument_named_np(np):
    return numpy.sum(np * np)


def local_named_math(x):
    math = x * 2.0
    return math * _math.sin(x)


def local_named_like_callee(x):
    scaled = f2(x)                       # f2.__name__ is "scaled"
    return scaled * x


def sum_of_squares(x):
    total = 0.0
    for i in range(x.shape[0]):
        total = total + x[i] * x[i]
    return total


def local_named_range(x):
    range = 2.0                          # noqa: A001 (the inlined helper's loop needs the builtin)
    return range * sum_of_squares(x)


def local_named_like_runtime_helper(A, b):
    _sum_to_2_1 = A + b                  # the reverse sweep sums b's sensitivity back with _sum_to_2_1
    return _np.sum(_sum_to_2_1 * _sum_to_2_1)


def locals_named_like_generated(x):
    t_1 = x * x
    s_x = t_1 * x
    t_2 = _math.sin(s_x)
    return t_2 + t_1


def local_named_numba(x):
    numba = 0.0
    for i in range(x.shape[0] - 2):
        numba = numba + _math.sin(x[i]) * x[i + 2] + x[i] ** 2
    return numba


@pytest.mark.parametrize("target", TARGETS)
def test_argument_named_np(target):
    x = _np.array([1.0, -2.0, 0.5])
    check(argument_named_np, (x,), 0, x @ x, 2.0 * x, target)


@pytest.mark.parametrize("target", TARGETS)
def test_local_named_math(target):
    x = 0.7
    check(local_named_math, (x,), 0, 2.0 * x * math.sin(x), 2.0 * math.sin(x) + 2.0 * x * math.cos(x), target)


@pytest.mark.parametrize("target", TARGETS)
def test_local_named_like_a_rule_callee(target):
    x = 0.7
    check(local_named_like_callee, (x,), 0, 2.0 * math.sin(x) * x,
          2.0 * math.cos(x) * x + 2.0 * math.sin(x), target)


@pytest.mark.parametrize("target", TARGETS)
def test_local_named_range_around_an_inlined_loop(target):
    x = _np.array([1.0, -2.0, 0.5])
    check(local_named_range, (x,), 0, 2.0 * x @ x, 4.0 * x, target)


@pytest.mark.parametrize("target", TARGETS)
def test_local_named_like_a_runtime_helper(target):
    A = _np.array([[1.0, 2.0, -1.0], [0.5, -0.25, 3.0]])
    b = _np.array([0.3, -0.7, 1.1])
    check(local_named_like_runtime_helper, (A, b), 1, _np.sum((A + b) ** 2),
          2.0 * _np.sum(A + b, axis=0), target)


@pytest.mark.parametrize("target", TARGETS)
def test_locals_named_like_generated_names(target):
    x = 0.7
    value = math.sin(x ** 3) + x * x
    check(locals_named_like_generated, (x,), 0, value, 3.0 * x * x * math.cos(x ** 3) + 2.0 * x, target)


@pytest.mark.parametrize("target", TARGETS)
def test_local_named_numba_with_parallel_chunks(target, monkeypatch):
    x = _np.linspace(-1.0, 1.0, 9)
    gradient = _np.zeros_like(x)
    gradient[:-2] += _np.cos(x[:-2]) * x[2:] + 2.0 * x[:-2]
    gradient[2:] += _np.sin(x[:-2])
    monkeypatch.setattr(chunks, "MIN_CHUNK", 1)           # short chunks: every edge is crossed
    g = adjoint.grad(local_named_numba, target=target, jit_options={"parallel": True})
    assert "prange" in g.source                # the chunked loop, which names the numba module
    numpy.testing.assert_allclose(g(x), gradient, rtol=1e-12, atol=1e-12)
    numpy.testing.assert_allclose(g(x), finite_difference(local_named_numba, (x,), 0), rtol=1e-6, atol=1e-6)


# item 7: file names and source lines in emitted text -------------------------------------------

INJECTED = 'a"""; import os; os.environ.__setitem__("ADJOINT_PWNED", "1"); """.py'
BACKSLASH = "back\\slash\\x_\\N.py"
NEWLINE = "two\nlines\u2028.py"

FUNCTION = '''\
import math


def f(x):
    y = x * math.sin(x)
    return y * y
'''


def load(path):
    name = f"adjoint_test_names_{abs(hash(str(path))):x}"
    spec = importlib.util.spec_from_file_location(name, str(path))
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def expected_f(x):
    y = x * math.sin(x)
    return y * y, 2.0 * y * (math.sin(x) + x * math.cos(x))


def assert_safe_module(source, filename):
    """The module compiles, its docstring names the file as it is, and it has as many lines
    for linecache (str.splitlines) as for the compiler (\\n)."""
    tree = ast.parse(source)
    assert os.path.basename(filename) in ast.get_docstring(tree, clean=False)
    assert len(source.splitlines()) == source.count("\n")
    assert "ADJOINT_PWNED" not in os.environ


@pytest.fixture
def no_injection(monkeypatch):
    monkeypatch.delenv("ADJOINT_PWNED", raising=False)
    yield
    assert "ADJOINT_PWNED" not in os.environ


@pytest.mark.parametrize("filename", [INJECTED, BACKSLASH, NEWLINE], ids=["quotes", "backslash", "newline"])
@pytest.mark.parametrize("target", TARGETS)
def test_file_names_are_escaped_in_the_emitted_module(tmp_path, filename, target, no_injection):
    path = tmp_path / filename
    path.write_text(FUNCTION)
    module = load(path)
    x = 0.7
    value, gradient = adjoint.value_and_grad(module.f, target=target)(x)
    assert (value, gradient) == pytest.approx(expected_f(x), rel=1e-12)
    generated = pipeline.differentiate(module.f)
    assert_safe_module(generated.source, filename)
    assert_safe_module(generated.primal_source, filename)


@pytest.mark.parametrize("filename", [INJECTED, BACKSLASH], ids=["quotes", "backslash"])
def test_export_and_show_escape_the_file_name(tmp_path, capsys, filename, no_injection):
    path = tmp_path / filename
    path.write_text(FUNCTION)
    output = tmp_path / "exported.py"
    assert main(["export", f"{path}:f", "-o", str(output)]) == 0
    exported = output.read_text()
    assert_safe_module(exported, filename)
    namespace = {}
    exec(compile(exported, str(output), "exec"), namespace)
    assert namespace["grad_f"](0.7) == pytest.approx(expected_f(0.7)[1], rel=1e-12)
    capsys.readouterr()
    assert main(["show", f"{path}:f", "--color", "never"]) == 0
    shown = capsys.readouterr().out
    assert_safe_module(shown, filename)


COMMENT_TRICKS = '''\
import math


def f(x):
    y = x * math.sin(x)  # one\u2028two\x0cthree\x85four\u2029"""
    return y * y
'''


@pytest.mark.parametrize("target", TARGETS)
def test_a_source_line_cannot_break_out_of_its_comment(tmp_path, target, no_injection):
    path = tmp_path / "tricks.py"
    path.write_text(COMMENT_TRICKS, encoding="utf-8")
    module = load(path)
    value, gradient = adjoint.value_and_grad(module.f, target=target)(0.7)
    assert (value, gradient) == pytest.approx(expected_f(0.7), rel=1e-12)
    source = pipeline.differentiate(module.f).source
    assert_safe_module(source, "tricks.py")
    assert "# Analyzing the line" in source
