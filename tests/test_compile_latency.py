"""The forms lower/for_numba.py and primitives/runtime.py write so that numba compiles a gradient
quickly (issue 18, first-call latency; benchmarks/bench_first_call.py measures it): the helpers
against numpy itself, on both targets, and the emitted code free of the numba implementations
that take seconds to compile (np.sum along an axis, np.outer, an array assigned into a slice)."""

from __future__ import annotations

import re

import numpy as np
import pytest

import adjoint
from adjoint.primitives import runtime
from examples.gmm import gmm_data, gmm_objective
from examples.mlp import mlp_loss, random_problem
from tests.compilations import compiled_in_a_fresh_process
from tests.oracles import finite_difference


def _helper(name, jit=False):
    namespace = {"np": np}
    exec(runtime.source(name), namespace)
    fn = namespace[name]
    if jit:
        import numba
        fn = numba.njit(fn)
    return fn


def _summed_back(g, shape):
    """numpy's own: leading axes summed away, then the size-1 axes of `shape`."""
    while g.ndim > len(shape):
        g = g.sum(axis=0)
    for axis, size in enumerate(shape):
        if size == 1 and g.shape[axis] != 1:
            g = g.sum(axis=axis, keepdims=True)
    return g


@pytest.mark.parametrize("ranks", [(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)])
def test_sum_to_matches_numpy(ranks):
    rv, rx = ranks
    fn = _helper(runtime.sum_to(rv, rx))
    rng = np.random.default_rng(rv * 10 + rx)
    for trial in range(12):
        g_shape = tuple(int(n) for n in rng.integers(0, 4, rv))
        shape = tuple(1 if rng.random() < 0.5 else g_shape[rv - rx + k] for k in range(rx))
        g = rng.normal(size=g_shape)
        if trial % 2:
            g = np.asfortranarray(g)
        out, want = fn(g, shape), _summed_back(g, shape)
        assert out.shape == want.shape
        np.testing.assert_allclose(out, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("jit", [False, True])
def test_sum_axis_matches_numpy(jit):
    x = np.arange(12.0).reshape(3, 4) ** 1.5
    for axis in (0, 1):
        fn = _helper(runtime.sum_axis(2, axis), jit)
        np.testing.assert_allclose(fn(x), np.sum(x, axis=axis), rtol=1e-14)
        np.testing.assert_allclose(fn(np.asfortranarray(x)), np.sum(x, axis=axis), rtol=1e-14)
        assert fn(np.ones((0, 3))).shape == np.sum(np.ones((0, 3)), axis=axis).shape


def test_emitted_gradients_avoid_slow_compiling_forms():
    """np.outer (the MLP's matrix product) and np.sum along an axis (GMM's own and the
    broadcast sums) are written in the forms numba compiles in a tenth of the time; the
    gradients stay right, and so do their Hessian-vector products (the emitted code
    differentiated again)."""
    for fn, args, wrt in ((mlp_loss, random_problem(n_rows=5, n_in=3, n_hidden=4), (0, 1, 2, 3)),
                          (gmm_objective, gmm_data(d=2, K=3, n=6), (0, 1, 2))):
        g = adjoint.grad(fn, wrt=wrt, target="python")
        source = g.source_for(*args)
        assert "np.outer(" not in source and re.search(r"= np\.sum\([^)]*axis", source) is None, source
        assert ("_sum_axis_2_1(" in source) == (fn is gmm_objective), source
        grads = g(*args)
        for k, gradient in zip(wrt, grads):
            want = finite_difference(fn, args, k)
            np.testing.assert_allclose(gradient, want, rtol=1e-5, atol=1e-6)
        v = np.linspace(-0.5, 0.5, np.size(args[0])).reshape(np.shape(args[0]))
        h = 1e-6
        up, down = list(args), list(args)
        up[0], down[0] = args[0] + h * v, args[0] - h * v
        first = adjoint.grad(fn, wrt=0, target="python")
        np.testing.assert_allclose(adjoint.hvp(fn, wrt=0, target="python")(*args, v),
                                   (first(*up) - first(*down)) / (2 * h), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_where_helpers_match_numpy(rank):
    """runtime._where_<rank>_<pattern>, which lower/for_numba.py writes for np.where of floats
    (numba's broadcasts through np.broadcast_to, seconds to compile): numpy's result,
    size-1 axes broadcast, mismatched shapes refused; one compiled by numba as well."""
    rng = np.random.default_rng(rank)
    for pattern in ("aa", "as", "sa", "ss"):
        fns = [_helper(runtime.where(rank, pattern))]
        if rank == 1 and pattern == "aa":
            fns.append(_helper(runtime.where(rank, pattern), jit=True))
        for trial in range(16):
            shape = tuple(int(n) for n in rng.integers(0, 4, rank))

            def part(shape=shape):
                return tuple(1 if rng.random() < 0.4 else n for n in shape)
            c = rng.random(part()) < 0.5
            a = rng.normal(size=part()) if pattern[0] == "a" else 0.5
            b = rng.normal(size=part()) if pattern[1] == "a" else -np.inf
            try:
                want = np.where(c, a, b)
            except ValueError:
                for fn in fns:
                    with pytest.raises(ValueError):
                        fn(c, a, b)
                continue
            for fn in fns:
                got = fn(c, a, b)
                assert got.shape == want.shape and got.dtype == np.float64
                np.testing.assert_array_equal(got, want)


def test_gmm_gradient_has_no_numpy_where():
    """GMM's gradient: the max rule chooses through the runtime helper, np.maximum's reverse is
    one fused product (no choice at all), and np.max of a vector is a loop."""
    source = adjoint.grad(gmm_objective, wrt=(0, 1, 2), target="python").source_for(*gmm_data(d=2, K=3, n=6))
    code = [line for line in source.splitlines() if '"""' not in line]
    assert not any("np.where(" in line for line in code) and "_where_1_ss(" in source, source
    assert "_where_1_aa(" not in source and "top = _max_all_1(alphas)" in source, source


def test_writes_into_parts_of_arrays_avoid_slice_assignment():
    """An array written into a part of another (a tape's row, `s[k, :d] += g`) goes through
    runtime._store / _add_into (numba compiles a slice assignment of an array, its error
    message, in seconds); read back as the statements they stand for when the emitted code
    is differentiated again (the hvp of test_emitted_gradients_avoid_slow_compiling_forms)."""
    source = adjoint.grad(gmm_objective, wrt=(0, 1, 2), target="python").source_for(*gmm_data(d=2, K=3, n=6))
    assert "_store(tape_best[k], best)" in source and "_add_into(s_icf[k, :d], " in source, source
    assert re.search(r"^\s*tape_\w+\[k\] = ", source, re.M) is None and "s_means[k] +=" not in source
    assert re.search(r"\[[^\]\n]*:[^\]\n]*\] [+-]= ", source) is None, source     # (an element's += stays)
    for jit in (False, True):
        store = _helper("_store", jit)
        rows = np.zeros((2, 3))
        store(rows[1], np.array([1.0, -0.0, np.inf]))
        store(rows[0], np.array([2.0]))                   # a size-1 axis broadcast, as numpy does
        assert np.array_equal(rows, [[2.0, 2.0, 2.0], [1.0, -0.0, np.inf]])
        assert np.signbit(rows[1, 1])
        with pytest.raises(ValueError):
            store(rows[0], np.ones(4))                    # numba's ufunc would write 3 of the 4
        add = _helper("_add_into", jit)
        add(rows[:, 1:], np.ones(2))
        assert np.array_equal(rows, [[2.0, 3.0, 3.0], [1.0, 1.0, np.inf]])


def test_mlp_gradient_compiles_helpers_called_once_inline():
    """The cpu target's first MLP gradient (issue 18): `_sum_to_*`, each called at one place,
    are inlined by numba into the gradient (backends/cpu.py) rather than compiled on their
    own, and `_numpy_tanh` (object mode, never inlined) stays one function; the gradient
    matches central differences."""
    args = random_problem(n_rows=6, n_in=3, n_hidden=4)
    g = adjoint.grad(mlp_loss, wrt=(0, 1, 2, 3), cache=False)
    assert "_sum_to_2_2(" in g.source_for(*args) and "_numpy_tanh(" in g.source_for(*args)
    names = compiled_in_a_fresh_process(
        "import adjoint\nfrom examples.mlp import mlp_loss, random_problem\n"
        "g = adjoint.grad(mlp_loss, wrt=(0, 1, 2, 3), cache=False)",
        "g(*random_problem(n_rows=6, n_in=3, n_hidden=4))")
    grads = g(*args)
    assert "grad_mlp_loss" in names and "_numpy_tanh" in names, names
    assert not any(name.startswith("_sum_to_") for name in names), names
    for k, gradient in zip((0, 1, 2, 3), grads):
        np.testing.assert_allclose(gradient, finite_difference(mlp_loss, args, k), rtol=1e-5, atol=1e-6)


def test_helpers_compile_no_numpy_reductions_of_rows():
    """`_sum_to_*` add each element into its place and `_numpy_<f>` maps a small array one
    number at a time: no np.sum, in-place add of rows or ufunc of an array, which numba
    compiles per rank in tenths of a second (numpy's own result is checked above)."""
    for name in (runtime.sum_to(2, 1), runtime.sum_to(2, 2), runtime.sum_to(3, 1)):
        text = runtime.source(name)
        assert "np.sum(" not in text and "+= g[" in text and "[...]" not in text, text
    text = runtime.source("_numpy_tanh")
    assert "return np.tanh(x)" not in text and "np.tanh(v)" in text, text
    fn = _helper("_numpy_tanh", jit=False)        # (the python target: numba.objmode is a no-op there)
    fn.__globals__["numba"] = __import__("numba")
    x = np.linspace(-2.0, 2.0, 12).reshape(3, 4)
    for case in (x, np.asfortranarray(x), x[:, ::2], np.linspace(-3, 3, 2000)):
        np.testing.assert_allclose(fn(case), np.tanh(case), rtol=1e-15, atol=0)


def _fused_in_loops(source):
    """The loop bodies of `source` after fuse_loop_bodies, unparsed."""
    import astor
    import gast

    from adjoint.optimize.fuse_loops import fuse_loop_bodies
    fn = gast.parse(source).body[0]
    arrays = {"a", "b", "t_1", "s_1", "s_2"}
    changed = fuse_loop_bodies(fn, {"t_1", "s_1", "s_2"}, arrays)
    return changed, astor.to_source(gast.gast_to_ast(fn))


def test_loop_bodies_fuse_a_temporary_into_its_one_elementwise_reader():
    """optimize/fuse_loops.fuse_loop_bodies: a loop's array temporary read once, through elementwise
    operations, by a later statement of the body is written into it (numba fuses the two
    loops into one); not where an operand changes between, nor into a call numba does not
    fuse."""
    changed, text = _fused_in_loops(
        "def f(a, b):\n    for k in range(3):\n        t_1 = -a\n        s_1 = 0.5 * t_1\n        b += s_1\n")
    assert changed and "t_1" not in text and "b += 0.5 * -a" in text, text     # (s_1 too)
    changed, text = _fused_in_loops(     # a written between: the value would change
        "def f(a, b):\n    for k in range(3):\n        t_1 = a * 2.0\n        a = b + 1.0\n        s_1 = t_1 + a\n")
    assert not changed and "t_1 = a * 2.0" in text, text
    changed, text = _fused_in_loops(     # an array written between: v may be a view of it
        "def f(a, b):\n    for k in range(3):\n        v = a[1:]\n        t_1 = v * 2.0\n"
        "        a[:2] += 1.0\n        s_1 = t_1 + b\n")
    assert not changed and "t_1 = v * 2.0" in text, text
    changed, text = _fused_in_loops(     # read by a call numba does not fuse: kept
        "def f(a, b):\n    for k in range(3):\n        t_1 = a * 2.0\n        s_1 = np.expand_dims(t_1, 1)\n")
    assert not changed, text
    changed, text = _fused_in_loops(     # read again in the next iteration: kept
        "def f(a, b):\n    t_1 = a\n    for k in range(3):\n        s_1 = t_1 * 2.0\n        t_1 = a * b\n")
    assert not changed, text


def recurrent_objective(x, W, c):
    """A loop whose temporaries each feed one elementwise line (the form fuse_loop_bodies
    joins), and whose state changes between iterations."""
    h = np.tanh(x)
    total = 0.0
    for k in range(4):
        z = W @ h
        h = np.tanh(0.5 * z + c * h)
        total += np.sum(-h * h + 0.25 * np.sin(z))
    return total


def test_fused_loop_bodies_keep_the_gradient():
    # against autograd, on the cpu: the reverse loop's `s = -g; s2 = 0.5 * s` lines fused
    import autograd
    import autograd.numpy as anp

    def same(x, W, c):
        h = anp.tanh(x)
        total = 0.0
        for k in range(4):
            z = W @ h
            h = anp.tanh(0.5 * z + c * h)
            total = total + anp.sum(-h * h + 0.25 * anp.sin(z))
        return total
    rng = np.random.default_rng(7)
    x, W, c = rng.normal(size=5), rng.normal(size=(5, 5)) / 2, 0.3
    got = adjoint.grad(recurrent_objective, wrt=(0, 1, 2))(x, W, c)
    want = autograd.grad(same, argnum=(0, 1, 2))(x, W, c)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_gmm_reverse_loops_fuse_their_elementwise_temporaries():
    """The GMM gradient's loops: `0.5 * np.sum(Qx * Qx, axis=1)` is one line forward, and its
    sensitivity `0.5 * -s` one line back (a loop less for numba to compile at each)."""
    source = adjoint.grad(gmm_objective, wrt=(0, 1, 2)).source_for(*gmm_data(d=3, K=4, n=50))
    assert re.search(r"gmm_main_term_result = t_\d+ \+ t_\d+ - 0\.5 \* t_\d+\n", source), source
    assert len(re.findall(r"0\.5 \* -s_gmm_main_term_result", source)) == 2, source
    assert not re.search(r"s_\d+ = -s_gmm_main_term_result", source), source


@pytest.mark.parametrize("jit", [False, True])
def test_assign_into_matches_numpys_assignment(jit):
    """runtime._assign_into(part, value) is `part[...] = value`: broadcasting, integers and
    booleans into floats, and a value sharing memory with the part (a shifted view, either
    way), which numpy copies first and numba's ufunc would not."""
    assign_into = _helper(runtime.ASSIGN_INTO, jit)
    cases = [
        (lambda a: a[1:], lambda a: a[:-1]), (lambda a: a[:-1], lambda a: a[1:]),
        (lambda a: a[::-1], lambda a: a), (lambda a: a[1:4], lambda a: np.arange(3.0)),
        (lambda a: a[2:], lambda a: np.array([7.5])), (lambda a: a[:3], lambda a: np.arange(3)),
        (lambda a: a[:2], lambda a: np.array([True, False])), (lambda a: a[3:], lambda a: a[3:]),
    ]
    for part, value in cases:
        want, got = np.arange(6.0) ** 2, np.arange(6.0) ** 2
        part(want)[...] = value(want)
        assign_into(part(got), value(got))
        assert np.array_equal(got, want)
    rows = np.arange(12.0).reshape(3, 4)
    want, got = rows.copy(), rows.copy()
    want[1:, 1:] = want[:-1, :-1]
    assign_into(got[1:, 1:], got[:-1, :-1])
    assert np.array_equal(got, want)
    want[:, 2:] = np.array([[-1.0, -2.0]])
    assign_into(got[:, 2:], np.array([[-1.0, -2.0]]))
    assert np.array_equal(got, want)
    with pytest.raises(ValueError, match="could not broadcast"):
        assign_into(got[:, 1:], np.ones(2))


@pytest.mark.parametrize("jit", [False, True])
def test_masked_updates_match_numpys_writes_through_a_mask(jit):
    """runtime's _assign_at_mask, _add_at_mask and _subtract_at_mask(array, mask, value) are
    `array[mask] = value`, `+=`, `-=` for a mask of rank 2 or 3: a number or one value per
    marked element, in the order array[mask] reads them, into a C, a Fortran-ordered and a
    strided array; a value of another length is a ValueError, as numpy's."""
    rng = np.random.default_rng(37)
    for shape in [(3, 4), (2, 3, 2)]:
        base = rng.normal(size=shape)
        mask = base > 0.1
        for layout in (np.ascontiguousarray, np.asfortranarray, lambda a: np.repeat(a, 2, axis=0)[::2]):
            for name, op in runtime.MASKED_UPDATES.items():
                update = _helper(name, jit)
                for value in (2.5, np.arange(float(mask.sum())) + 0.5):
                    want, got = layout(base.copy()), layout(base.copy())
                    if op[0] == "=":
                        want[mask] = value
                    elif op[0] == "+":
                        want[mask] += value
                    else:
                        want[mask] -= value
                    update(got, mask, value)
                    assert np.array_equal(got, want), (name, shape)
    with pytest.raises(ValueError, match="one element per marked element"):
        _helper("_add_at_mask", jit)(np.zeros((2, 2)), np.eye(2, dtype=bool), np.ones(3))


def test_stencil_assignments_compile_no_slice_assignment():
    """`u[1:-1] = ...` in a loop (a heat equation's explicit step) becomes `_assign_into` on
    every target: numba compiles a slice assignment of an array with its error message, two
    shapes formatted into a string, about 1.5 s of a fresh process; the gradient matches
    central differences on both targets."""
    heat = heat_steps
    u0 = np.sin(np.linspace(0.0, 3.0, 9))
    g = adjoint.grad(heat, wrt=(0, 1), cache=False)
    text = g.source_for(u0, 0.2)
    assert "_assign_into(u[1:-1], " in text and not re.search(r"(?<![\w.])u\[1:-1\] = ", text), text
    names = compiled_in_a_fresh_process(
        "import numpy as np\nimport adjoint\nfrom tests.test_compile_latency import heat_steps\n"
        "g = adjoint.grad(heat_steps, wrt=(0, 1), cache=False)", "g(np.sin(np.linspace(0.0, 3.0, 9)), 0.2)")
    assert names and not any("raise_with_shape_context" in name for name in names), names
    grads = g(u0, 0.2)
    python = adjoint.grad(heat, wrt=(0, 1), target="python", cache=False)(u0, 0.2)
    for k, gradient in enumerate(grads):
        want = finite_difference(heat, (u0, 0.2), k)
        np.testing.assert_allclose(gradient, want, rtol=1e-6, atol=1e-9)
        np.testing.assert_allclose(python[k], want, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ["_record_rows_2", "_scatter_add_sa_1_2", "_scatter_add_as_2_3",
                                  "_sort_axis", "_cumprod_axis", "_tile_2"])
def test_helpers_assign_no_array_into_a_slice(name):
    """The runtime helpers copy arrays element by element: an array assigned into a slice is
    compiled by numba with its error message, two shapes formatted into a string (about
    1.5 s of a fresh process). Each helper is compiled here as the cpu target compiles it
    (its `np` backends/numpy_for_numba.py), with a numba:compile listener."""
    names = compiled_in_a_fresh_process(
        f"from tests.test_compile_latency import helper_as_the_cpu_compiles_it, helper_arguments\n"
        f"helper = helper_as_the_cpu_compiles_it({name!r})", f"helper(*helper_arguments({name!r}))")
    assert names and not any("raise_with_shape_context" in n for n in names), names
    got = helper_as_the_cpu_compiles_it(name)(*helper_arguments(name))
    np.testing.assert_array_equal(got, _helper(name)(*helper_arguments(name)))


def helper_as_the_cpu_compiles_it(name):
    """A runtime helper jitted with backends/numpy_for_numba.py as its `np`."""
    import numba

    from adjoint.backends import numpy_for_numba
    namespace = {"np": numpy_for_numba}
    exec(runtime.source(name), namespace)
    return numba.njit(namespace[name])


def helper_arguments(name):
    """Arguments for the helper `name`, new at each call (the helpers write into theirs)."""
    x = np.arange(12.0).reshape(3, 4)
    return {"_record_rows_2": (np.zeros(16), np.zeros((3, 3), np.int64), 0, x),
            "_scatter_add_sa_1_2": (np.zeros((3, 5)), np.array([1, 1, 4]), np.ones((3, 3))),
            "_scatter_add_as_2_3": (np.zeros((4, 2, 3)), np.array([[0, 3], [3, 3]]), np.ones((2, 2, 2, 3))),
            "_sort_axis": (x[:, ::-1], 1), "_cumprod_axis": (x, 0), "_tile_2": (x, 2)}[name]


def heat_steps(u0, alpha):
    u = u0 * 1.0
    for _ in range(5):
        lap = u[2:] - 2.0 * u[1:-1] + u[:-2]
        u[1:-1] = u[1:-1] + alpha * lap
    return np.sum(u * u)
