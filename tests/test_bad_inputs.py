"""Bad input, each with a clear error and nothing half-done; concurrency; isolation."""

import math
import sys
import threading

import numpy as np
import pytest

import adjoint
from examples.seed_f4 import f4
from tests import array_corpus as ac
from tests import control_flow_corpus as cf
from tests import higher_corpus as hc

G = adjoint.grad(f4)
PIECEWISE = adjoint.grad(cf.piecewise)

# (what, the call, the exception, text the message must contain)
BAD_INPUTS = [
    ("no argument", lambda: G(), adjoint.AdjointArgumentError,
     "f4() takes 1 arguments (side_lengths), 0 given"),
    ("an extra argument", lambda: G([1.0, 2.0, 3.0, 4.0], 5), adjoint.AdjointArgumentError,
     "f4() takes 1 arguments (side_lengths), 2 given"),
    ("a string", lambda: G("abcd"), adjoint.AdjointArgumentError,
     "argument 'side_lengths' of f4: expected a sequence or array of floats, got str"),
    ("None", lambda: G(None), adjoint.AdjointArgumentError,
     "argument 'side_lengths' of f4: expected a sequence or array of floats, got NoneType"),
    ("an object array", lambda: G(np.array([1, "a", None, 2], dtype=object)),
     adjoint.AdjointArgumentError, "expected a sequence or array of floats, got ndarray"),
    ("a float where an array is indexed", lambda: G(3.0), adjoint.AdjointArgumentError,
     "expected a sequence or array of floats, got float"),
    ("a bool for a float", lambda: PIECEWISE(True), adjoint.AdjointArgumentError,
     "argument 'x' of piecewise: expected a float or an array of floats, got bool"),
    ("a sequence of the wrong length", lambda: G([1.0, 2.0, 3.0]), adjoint.AdjointError,
     "seed_f4.py:10:5: ValueError while computing the gradient: not enough values to unpack"),
    ("a vector result", lambda: adjoint.grad(hc.lorenz_map)(np.ones(3), np.ones(3), 5),
     adjoint.AdjointError, "lorenz_map returns an array: grad needs a scalar result"),
    ("recursion", lambda: adjoint.grad(cf.recursive), adjoint.AdjointError,
     "recursive call recursive -> recursive"),
    ("an unknown wrt name", lambda: adjoint.grad(f4, wrt="y"), adjoint.AdjointError,
     "wrt='y': no such argument; the arguments are side_lengths"),
    ("an out-of-range wrt index", lambda: adjoint.grad(f4, wrt=3), adjoint.AdjointError,
     "wrt=3: the function has 1 arguments (side_lengths)"),
    ("a lambda without source", lambda: adjoint.grad(eval("lambda x: x * 2"))(1.0), adjoint.AdjointError,
     "cannot read the source of <lambda>"),
    ("a builtin", lambda: adjoint.grad(math.sin), adjoint.AdjointError,
     "adjoint can only differentiate Python functions, not builtin_function_or_method"),
    ("an unknown target", lambda: adjoint.grad(f4, target="tpu"), adjoint.AdjointError,
     "unknown target 'tpu'"),
    ("a function without a rule", lambda: adjoint.grad(ac.no_rule), adjoint.AdjointError,
     "no derivative rule for `np.spacing`"),
]


@pytest.mark.parametrize("what, call, error, text", BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_gets_a_clear_error(what, call, error, text):
    with pytest.raises(error) as info:
        call()
    assert text in str(info.value)
    assert "Traceback" not in str(info.value)


def test_int_arrays_and_lists_are_promoted():
    for value in ([1, 2, 3, 4], (1, 2, 3, 4), np.array([1, 2, 3, 4])):
        np.testing.assert_array_equal(G(value), [52.0, 38.0, 28.0, 22.0])
    assert PIECEWISE(1) == PIECEWISE(1.0)


def test_nan_and_inf_propagate():
    g = G([np.nan, 2.0, 3.0, 4.0])
    assert np.isnan(g[1:]).all() and g[0] == 52.0
    assert np.isinf(G([np.inf, 2.0, 3.0, 4.0])[1:]).all()


@pytest.mark.slow
def test_empty_arrays():
    assert adjoint.grad(ac.elementwise)(np.array([])).shape == (0,)


@pytest.mark.slow
def test_new_shapes_and_dtypes_respecialize():
    g = adjoint.grad(ac.elementwise)
    first = g(np.ones(3))
    assert g(np.ones(3, np.float32)).dtype == np.float32
    assert g(np.ones((2, 2))).shape == (2, 2)
    np.testing.assert_array_equal(g(np.ones(3)), first)


@pytest.mark.slow
def test_very_long_loops():
    """A million iterations: the for loop's tape is preallocated, the while loop's doubles."""
    assert np.isfinite(adjoint.grad(cf.nonlinear_accumulator)(0.5, 1_000_000))
    source = adjoint.source(cf.integer_counter)
    assert "np.concatenate((tape_" in source            # amortized doubling
    g = adjoint.grad(cf.integer_counter)(0.999, 200_000)
    assert np.isfinite(g)


@pytest.mark.slow
def test_concurrent_calls_compile_once():
    g = adjoint.grad(ac.logsumexp)
    points = [np.random.default_rng(k).normal(size=5) for k in range(8)]
    results = [None] * len(points)

    def work(k):
        results[k] = g(points[k])
    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(points))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for k, x in enumerate(points):
        e = np.exp(x - x.max())
        np.testing.assert_allclose(results[k], e / e.sum(), rtol=1e-12)
    assert len(g._variants) <= 1
    compiled = [c for _, c in g._variants.values()] or [g.adjoint]
    assert all(len(c.signatures) == 1 for c in compiled)


SAME_NAME = """
def f(x):
    return x * {power}
"""


def test_same_name_in_two_modules_never_shares_code(tmp_path, monkeypatch):
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path / "cache"))
    for name, power in (("first_module", "x"), ("second_module", "x * x")):
        (tmp_path / f"{name}.py").write_text(SAME_NAME.format(power=power))
    sys.path.insert(0, str(tmp_path))
    try:
        import first_module
        import second_module
        for cache in (False, True):
            assert adjoint.grad(first_module.f, cache=cache)(2.0) == 4.0
            assert adjoint.grad(second_module.f, cache=cache)(2.0) == 12.0
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("first_module", None)
        sys.modules.pop("second_module", None)


MEMORY_RUN = """
import resource, sys
sys.path.insert(0, {root!r})
import adjoint
from tests import control_flow_corpus as cf
g = adjoint.grad(cf.integer_counter)
g(0.9999999, 10)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
g(0.9999999, {n})
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
"""


@pytest.mark.slow
def test_while_loop_tape_memory_grows_linearly():
    """The while loop's tapes double when full: memory is linear in the trip count. Reported
    here as the peak resident memory a run adds (kilobytes, Linux's ru_maxrss)."""
    import os
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    added = {}
    for n in (1_000_000, 4_000_000):
        run = subprocess.run([sys.executable, "-c", MEMORY_RUN.format(root=root, n=n)],
                             capture_output=True, text=True, check=True)
        added[n] = int(run.stdout.strip().splitlines()[-1])
    print(f"peak memory added: {added[1_000_000] / 1024:.1f} MiB for 10^6 trips, "
          f"{added[4_000_000] / 1024:.1f} MiB for 4x10^6")
    # two float64/int64 tapes, capacity at most twice the trips: <= 32 bytes a trip
    assert added[4_000_000] * 1024 <= 40 * 4_000_000
    assert added[4_000_000] >= 2 * added[1_000_000]


def _index_past_the_end(x, i):
    return x[i] * x[0]


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_a_failure_in_generated_code_quotes_the_statement_and_keeps_its_class(target):
    options = {"jit_options": {"boundscheck": True}} if target == "cpu" else {}
    g = adjoint.grad(_index_past_the_end, target=target, **options)
    with pytest.raises(IndexError) as caught:           # the built-in class, and an AdjointError
        g(np.ones(3), 5)
    error = caught.value
    assert isinstance(error, adjoint.AdjointError)
    assert error.location is not None and error.location.line == _index_past_the_end.__code__.co_firstlineno + 1
    assert "generated statement `" in error.hint and "x[i]" in error.hint
    # on the python target the hint does not send the user to the python target
    assert ("target='python'" in error.hint) == (target != "python")
