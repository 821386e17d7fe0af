"""Shared test helpers: the two targets, central finite differences, a seeded RNG.

Test modules import the plain helpers as `from tests.conftest import finite_difference`
(tests/ is a package; pytest registers this file under that very module name, so the
compiled-gradient cache below is shared by every test module).
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

# CI has no GPU: the cuda target runs on numba's CUDA simulator unless told otherwise
# (NUMBA_ENABLE_CUDASIM=0 on a machine with a GPU). Set before numba is first imported.
os.environ.setdefault("NUMBA_ENABLE_CUDASIM", "1")

# The cpu target caches gradients on disk by default (api/cache.py): each test session (each
# worker of a parallel run) keeps them in a temporary folder of its own, removed at exit, never
# in the developer's ~/.cache/adjoint; the suite runs with the default on, whatever the shell says.
_CACHE_FOLDER = tempfile.mkdtemp(prefix="adjoint-test-cache-")
atexit.register(shutil.rmtree, _CACHE_FOLDER, True)
os.environ["ADJOINT_CACHE_DIR"] = _CACHE_FOLDER
os.environ.pop("ADJOINT_CACHE", None)

import numpy as np  # noqa: E402
import pytest  # noqa: E402

TARGETS = ("python", "cpu")
SEED = 20240611
STEP = 1e-6                   # relative finite-difference step


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "slow: among the slowest tests (numba compilations, subprocesses, fuzzing campaigns); "
        "`make test-quick` (pytest -m \"not slow\") leaves them out, `make test` runs all")


# Single slow cases of otherwise quick tests, and the slowest of tests/test_compiler_scaling.py
# (measured: 0.8 to 3 s of CPU each).
SLOW_CASES = {
    "tests/test_control_flow.py::test_against_autograd[lorenz_rk4-1000-wrt0-python]",
    "tests/test_compiler_scaling.py::test_straight_line_gradient_matches_finite_differences",
    "tests/test_compiler_scaling.py::test_two_thousand_straight_lines_transform_in_linear_time",
    "tests/test_compiler_scaling.py::test_cached_gradient_of_a_deep_sum_loads_without_recursion_error",
    "tests/test_compiler_scaling.py::test_sum_of_a_thousand_terms[python]",
    "tests/test_compiler_scaling.py::test_190_nested_calls[python]",
}


def pytest_collection_modifyitems(config, items):
    """Numba's compilation is most of the suite's time (0.5 to 5 s of CPU per gradient), so a
    test's run on the cpu target (its `target` parameter is "cpu") is marked slow: the quick
    suite checks the same emitted code on the python target. Other tests that took 0.5 s of
    CPU or more in a run of the quick suite (compiling for numba or the CUDA simulator, or
    starting a process) carry @pytest.mark.slow themselves, or are listed in SLOW_CASES."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        if (callspec is not None and callspec.params.get("target") == "cpu") or item.nodeid in SLOW_CASES:
            item.add_marker(pytest.mark.slow)


def cuda_available() -> bool:
    from numba import cuda
    return cuda.is_available()


needs_cuda = pytest.mark.skipif(not cuda_available(), reason="no GPU and no CUDA simulator")


@pytest.fixture(params=TARGETS)
def target(request):
    """Each test that takes `target` runs once on the python target and once on numba (cpu)."""
    return request.param


@pytest.fixture
def rng():
    """A numpy Generator with a fixed seed: failures reproduce."""
    return np.random.default_rng(SEED)


def make_rng(*salt):
    """A seeded Generator per (test, function): independent of test order and selection."""
    return np.random.default_rng([SEED, *(_stable_hash(s) for s in salt)])


def _stable_hash(value) -> int:
    import zlib
    return zlib.crc32(repr(value).encode())


def _step(x, h):
    return h * max(1.0, abs(float(x)))


def finite_difference(f, args, wrt_index, h=STEP):
    """Central differences of f(*args) in argument `wrt_index`.

    A scalar argument gives a float; a sequence/array argument gives an array of the same
    shape, one central difference per component. Other arguments are passed unchanged.
    """
    args = list(args)
    x = args[wrt_index]
    if np.ndim(x) == 0 and not isinstance(x, (list, tuple)):
        x = float(x)
        dx = _step(x, h)

        def at(v):
            shifted = list(args)
            shifted[wrt_index] = v
            return float(f(*shifted))
        plus, minus = x + dx, x - dx
        return (at(plus) - at(minus)) / (plus - minus)
    base = np.array(x, dtype=np.float64)
    out = np.empty_like(base)
    for k in np.ndindex(base.shape):
        dx = _step(base[k], h)
        plus, minus = base.copy(), base.copy()
        plus[k] += dx
        minus[k] -= dx
        shifted_p, shifted_m = list(args), list(args)
        shifted_p[wrt_index], shifted_m[wrt_index] = plus, minus
        out[k] = (float(f(*shifted_p)) - float(f(*shifted_m))) / (plus[k] - minus[k])
    return out


def fd_tolerance(value, rtol=1e-6):
    """(rtol, atol) for comparing a gradient with central differences of a function whose
    value is `value`: the round-off of a difference quotient scales with |f| / h."""
    return dict(rtol=rtol, atol=rtol * max(1.0, abs(float(value))))


def assert_gradient(got, expected, **tolerance):
    """Compare gradients: floats, arrays, or tuples of them (one per wrt argument)."""
    if isinstance(expected, tuple):
        assert isinstance(got, tuple) and len(got) == len(expected), (got, expected)
        for g, e in zip(got, expected):
            assert_gradient(g, e, **tolerance)
        return
    if np.ndim(expected) == 0:
        assert isinstance(got, float), f"expected a float gradient, got {type(got).__name__}: {got!r}"
    else:
        assert isinstance(got, np.ndarray), f"expected an ndarray gradient, got {type(got).__name__}"
        assert got.shape == np.shape(expected), (got.shape, np.shape(expected))
    np.testing.assert_allclose(got, expected, **tolerance)


_COMPILED: dict = {}


def compiled(fn, wrt=0, target="cpu", *, value=False):
    """adjoint.grad (or value_and_grad) of fn, built once per (fn, wrt, target) for the whole
    session: numba compiles each gradient only once however many tests call it."""
    key = (fn, wrt, target, value)
    if key not in _COMPILED:
        import adjoint
        make = adjoint.value_and_grad if value else adjoint.grad
        _COMPILED[key] = make(fn, wrt=wrt, target=target)
    return _COMPILED[key]


def import_source(directory, name, source):
    """Write `source` to directory/name.py and import it as module `name` (a real file, as
    adjoint reads functions' source with inspect)."""
    import importlib.util
    import sys
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module
