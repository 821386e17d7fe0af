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


# --- trip counts spelled as numbers ---------------------------------------------------------------

def damped_steps(x, steps):
    s = x
    for k in range(steps):
        s = math.sin(s) * x + 0.5 * s
    return s


def window_sum(x, lo, hi):
    s = 0.0
    for i in range(lo, hi):
        s = s * 0.5 + math.cos(x[i] * s)
    return s


def row_recurrence(x):
    n = x.shape[0]
    s = 1.0
    for i in range(n):
        s = math.tanh(s * x[i])
    return s


def test_trip_counts_without_len_of_range():
    by_argument = adjoint.source(damped_steps)
    by_dimension = adjoint.source(row_recurrence)
    by_window = adjoint.source(window_sum)
    for source in (by_argument, by_dimension, by_window):
        assert "len(range(" not in source
    # an argument may be negative (no iterations): the tape is then empty, as range's
    assert "tape_s = np.empty(max(steps, 0), np.float64)" in by_argument
    assert "tape_s = np.empty(n, np.float64)" in by_dimension          # n = x.shape[0]
    assert "tape_s = np.empty(max(hi - lo, 0), np.float64)" in by_window
    rng = np.random.default_rng(2)
    check_gradient(damped_steps, (0.3, 7))
    check_gradient(damped_steps, (0.3, -2))
    check_gradient(row_recurrence, (rng.normal(size=5),))
    check_gradient(window_sum, (rng.normal(size=8), 2, 6))
    check_gradient(window_sum, (rng.normal(size=8), 6, 2))


@pytest.mark.slow
def test_trip_counts_compile_with_numba():
    check_gradient(damped_steps, (0.3, 7), target="cpu")
    check_gradient(damped_steps, (0.3, -2), target="cpu")


# --- no save and restore around nothing ------------------------------------------------------------

def bounce(h, v, restitution, steps, dt):
    for k in range(steps):
        v = v - 9.81 * dt
        h = h + v * dt
        if h < 0.0:
            h = -restitution * h
            v = -restitution * v
    return h


def swap_rounds(x, y, n):
    for i in range(n):
        x, y = y, x * 0.9 + math.sin(y)
    return x * y


def _idle_restores(source):
    """Names v with `c = v` and a later `v = c` in the text (what a save/restore pair looks like)."""
    lines = code_lines(source)
    saves = {m.group(1): m.group(2) for ln in lines if (m := re.fullmatch(r"(\w+_old\w*) = (\w+)", ln))}
    return [v for c, v in saves.items() if f"{v} = {c}" in lines]


def test_no_idle_save_and_restore():
    for fn, wrt in ((smooth_total, 0), (bounce, (0, 1, 2)), (swap_rounds, (0, 1))):
        source = adjoint.source(fn, wrt=wrt)
        assert _idle_restores(source) == [], source
    assert "_old" not in adjoint.source(smooth_total)
    assert "_old" not in adjoint.source(bounce, wrt=(0, 1, 2))
    check_gradient(bounce, (1.0, 3.0, 0.8, 700, 0.001), wrt=(0, 1, 2))
    check_gradient(swap_rounds, (0.4, 0.7, 5), wrt=(0, 1))


# --- a seeded array written directly -------------------------------------------------------------

def mean_squared_error(W, X, y):
    d = X @ W - y
    return np.mean(d * d)


def soft_total(x, w):
    return np.sum(np.exp(x * w))


def test_seeded_arrays_written_directly():
    rng = np.random.default_rng(5)
    mse_args = (rng.normal(size=3), rng.normal(size=(6, 3)), rng.normal(size=6))
    total_args = (rng.normal(size=4), rng.normal(size=4))
    mse = adjoint.grad(mean_squared_error, wrt=0).source_for(*mse_args)
    total = adjoint.grad(soft_total, wrt=(0, 1)).source_for(*total_args)
    for source in (mse, total):
        lines = code_lines(source)
        zeroed = {m.group(1) for ln in lines if (m := re.fullmatch(r"(s_\w+) = np\.zeros\(.*\)", ln))}
        seeded = [ln for ln in lines if re.fullmatch(r"(s_\w+) \+= [^*]*", ln) and ln.split()[0] in zeroed
                  and "s_" not in ln.split("+=")[1]]
        assert seeded == [], source
    # the mean's seed, np.full(t.shape, 1.0 / t.size), is the number its one reader multiplies by
    assert "np.full(" not in mse and re.search(r"\(d \+ d\) \* \(1\.0 / t_\w+\.size\)", mse), mse
    # the sum's seed of ones is multiplied away (optimize/fuse.py): neither an array of ones nor zeros + 1.0
    assert "np.ones(" not in total and "+= 1.0" not in total, total
    check_gradient(mean_squared_error, mse_args)
    check_gradient(soft_total, total_args, wrt=(0, 1))


@pytest.mark.slow
def test_seeded_arrays_compile_with_numba():
    rng = np.random.default_rng(6)
    check_gradient(mean_squared_error, (rng.normal(size=3), rng.normal(size=(6, 3)), rng.normal(size=6)),
                   target="cpu")
    check_gradient(soft_total, (rng.normal(size=4), rng.normal(size=4)), wrt=(0, 1), target="cpu")


# --- one first-iteration block per loop ----------------------------------------------------------

def mixture_log_likelihood(means, x):
    K = means.shape[0]
    total = np.zeros(x.shape[0])
    for k in range(K):
        diff = x - means[k]
        q = np.exp(-np.sum(diff * diff, axis=1))
        total = total + q
    return np.sum(np.log(total))


def _first_iteration_blocks(source):
    """For each loop header in the text, how many `if <index> == 0:` blocks its body holds."""
    lines = source.splitlines()
    counts = []
    for k, line in enumerate(lines):
        m = re.fullmatch(r"( *)for (\w+) in range\(.*\):", line)
        if not m:
            continue
        indent, index = len(m.group(1)) + 4, m.group(2)
        count = 0
        for inner in lines[k + 1:]:
            if inner.strip() and len(inner) - len(inner.lstrip()) < indent:
                break
            count += inner == " " * indent + f"if {index} == 0:"
        counts.append(count)
    return counts


def test_one_first_iteration_block_per_loop():
    rng = np.random.default_rng(7)
    args = (rng.normal(size=(3, 2)), rng.normal(size=(5, 2)))
    source = adjoint.grad(mixture_log_likelihood, wrt=0).source_for(*args)
    counts = _first_iteration_blocks(source)
    assert max(counts) == 1, (counts, source)
    check_gradient(mixture_log_likelihood, args)


# --- no user line kept for a loop the optimizer dropped -----------------------------------------

def rosenbrock_sum(x):
    n = x.shape[0]
    s = 0.0
    for i in range(n - 1):
        s = s + 100.0 * (x[i + 1] - x[i] * x[i]) ** 2 + (1.0 - x[i]) ** 2
    return s


def unused_line(x):
    y = x * x
    z = 3.0 * x  # noqa: F841 (the unused line this test is about)
    return y


def test_no_primal_line_kept_for_a_dropped_loop():
    rng = np.random.default_rng(8)
    args = (rng.normal(size=5),)
    source = adjoint.grad(rosenbrock_sum).source_for(*args)
    assert "for i in range(t_" not in source.split("# Reverse sweep")[0], "the forward loop is gone"
    assert "s = 0.0" not in code_lines(source), source
    check_gradient(rosenbrock_sum, args)
    # a line nothing ever read stays, as the user wrote it
    assert "z = 3.0 * x" in code_lines(adjoint.source(unused_line))
    check_gradient(unused_line, (0.3,))


# --- no sum back where the shapes are provably equal ----------------------------------------------

def exp_weighted(x):
    y = np.exp(x)
    z = 2.0 * y - x
    return np.sum(y * z + x)


def shifted_product(x, w):
    return np.sum((x - 1.0) * w)


def test_no_sum_back_between_equal_shapes():
    rng = np.random.default_rng(9)
    args = (rng.normal(size=4),)
    source = adjoint.grad(exp_weighted).source_for(*args)
    assert "_sum_to_" not in source, source
    check_gradient(exp_weighted, args)
    # two arguments may broadcast against each other (a length-1 axis): summed back
    pair = (rng.normal(size=4), rng.normal(size=4))
    assert "_sum_to_1_1(" in adjoint.grad(shifted_product, wrt=(0, 1)).source_for(*pair)
    check_gradient(shifted_product, pair, wrt=(0, 1))
    check_gradient(shifted_product, (rng.normal(size=4), rng.normal(size=1)), wrt=(0, 1))


# --- a temporary used once: its sensitivity assigned in the reverse sweep itself -----------------

def one_use_chain(x, y):
    """Each temporary is read by one line (the seed's f4 shape), one twice by a single line."""
    return math.sin(x * y) * (x * x) + y


def reused_subexpression(x, y):
    """`x * y` is computed once and read by two lines: its sensitivity sums two contributions."""
    a = math.sin(x * y)
    b = math.cos(x * y)
    return a * b + x


def temporary_read_in_a_loop(x, n=3):
    """`x * 0.5` is read on every iteration: contributions from each must add up."""
    t = x * 0.5
    total = 0.0
    for _ in range(n):
        total = total + t * t
    return total


def temporary_behind_a_kink(x, y):
    """`x * y` feeds np.floor too, whose derivative is zero."""
    return np.floor(x * y) + math.sin(x * y)


@pytest.mark.parametrize("fn, args", [(one_use_chain, (0.7, 1.3)), (reused_subexpression, (0.7, 1.3)),
                                      (temporary_read_in_a_loop, (0.7,)), (temporary_behind_a_kink, (0.7, 1.3))],
                         ids=lambda case: getattr(case, "__name__", ""))
def test_single_use_temporaries_differentiate_right(fn, args):
    check_gradient(fn, args, wrt=tuple(range(len(args))))


def test_a_single_use_temporary_is_assigned_in_the_reverse_stage():
    """The reverse transform writes `s_1 = x * s_2`, not `s_1 = 0.0` then `s_1 += x * s_2`:
    the stage `adjoint show --stage reverse` prints reads like the seed's grad_f4."""
    from adjoint import pipeline
    reverse = pipeline.dump(pipeline.differentiate(one_use_chain), "reverse")
    temporaries = {m for m in re.findall(r"\b(s_\d+) \+?= ", reverse)}
    assert temporaries, reverse
    for name in temporaries:
        assert f"{name} = 0.0" not in reverse and f"{name} += " not in reverse, reverse
    # x * y, read by two lines, starts at zero and sums both contributions
    reused = pipeline.dump(pipeline.differentiate(reused_subexpression), "reverse")
    assert re.search(r"\bs_\d+ = 0\.0", reused), reused


# --- names that trade values: the user's line, not its temporaries --------------------------------

def swapping_pair(a, b, steps=3):
    for _ in range(steps):
        a = a * 0.9 + math.tanh(b)
        a, b = b, a
    return a * b


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_names_that_trade_values_read_as_written(target):
    """`a, b = b, a` reaches the emitted code as the user wrote it (the normalizer's
    `t_1 = b; t_2 = a; a = t_1; b = t_2` regrouped), and the gradient is right."""
    check_gradient(swapping_pair, (0.4, -0.7), wrt=(0, 1), target=target)
    lines = code_lines(adjoint.source(swapping_pair, wrt=(0, 1)))
    assert "a, b = b, a" in lines


def test_three_arrays_trading_names_read_as_written():
    """wave1D's leapfrog (tests/realistic_corpus.py): `u_nm1, u_n, u = u_n, u, u_nm1` in the
    forward loop, as written."""
    from tests.realistic_corpus import BY_NAME
    program = BY_NAME["wave_leapfrog_swap_vec"]
    source = adjoint.grad(program.fn, wrt=program.wrt[0], target="python").source_for(*program.arguments())
    assert "u_nm1, u_n, u = u_n, u, u_nm1" in code_lines(source)
    check_gradient(program.fn, program.arguments(), wrt=program.wrt, target="python")
