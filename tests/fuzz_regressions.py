"""Failures the differential fuzzer (tests/fuzzing.py) found, each minimized by hand.

One function per distinct failure, with the fuzz program it came from. The cases, their
arguments and expected outcome are listed in tests/test_fuzz_regressions.py; a failure that
is a compiler bug not fixed yet is a strict xfail there, and its construct is avoided by
the campaigns (tests.fuzzing.KNOWN_BUGS) so that they keep finding new ones.
"""

import math

import numpy as np


# An inner loop that overwrites a variable the outer loop carries: the gradient is wrong
# (from seed 1, program 79: a `while` loop inside `for i in range(len(x))` updating `alpha`).
# At a = 0.7: d(a**4)/da = 4 a**3 = 1.372; adjoint returns 0.9604 (= 4 a**4).
def nested_loop_overwrite(a):
    for i in range(2):
        for k in range(1):
            a = a * a
    return a


def while_in_for_overwrite(a):
    for i in range(2):
        n = 0
        while n < 1:
            n += 1
            a = a * a
    return a


def nested_loop_sin(a):
    for i in range(2):
        for k in range(2):
            a = math.sin(a)
    return a


# Two loops in a row that overwrite the same variable: both get the tape `tape_a`, the
# optimizer drops the first loop's recording, and the first loop's reverse sweep reads the
# second loop's tape (from seed 1, program 117). At a = 0.7 the gradient is 0.343; adjoint
# returns 0.0288.
def two_loops_same_variable(a):
    for i in range(2):
        a = a * a
    for k in range(2):
        a = a * 0.5
    return a


# The same, when the second loop runs no iteration: its empty tape replaces the first's and
# the gradient fails with "IndexError ... index 1 is out of bounds for axis 0 with size 0".
def second_loop_no_trips(a):
    for i in range(2):
        a = a * a
    for k in range(0):
        a = a * 0.5
    return a


# A `for` loop, then a `while` loop that does not run, both carrying `alpha`
# (seed 1, program 117 as the fuzzer reduced it).
def for_then_idle_while(alpha, p):
    for i in range(3):
        alpha = math.sin(alpha)
    while p < 0.29:
        alpha = alpha * 0.5
    return alpha


# A return inside a loop nested in another loop: grad() raises
# AttributeError: 'Assign' object has no attribute 'source_text' (reverse.py, assignment)
# (from seed 1, program 15: `while` inside `for ... range(len(x), 1, -2)` with a return).
def return_in_nested_loop(a):
    for i in range(2):
        for k in range(2):
            if a > 0.0:
                return a * a
    return a


def return_in_while_in_for(a):
    for i in range(2):
        n = 0
        while n < 2:
            n += 1
            if a > 0.0:
                return a * a
    return a


# An array argument the function never indexes is taken for a scalar: with it in `wrt`,
# calling the gradient with an array raises AdjointArgumentError "expected a float, got
# ndarray" (from seed 1, programs 13, 25, 46, 93). Expected: (2 p, zeros like x).
def unused_array_argument(p, x):
    return p * p


# A constant range from 0 with a step above 1: grad() fails in the emitter (astor) with
# "AssertionError: i" (from seed 2, program 218: `for i in range(0, 0, 2)`).
def range_from_zero_with_step(p):
    for i in range(0, 3, 2):
        p = math.sin(p)
    return p


# A helper that takes the array, called in a branch that does not run: the reverse sweep
# starts with `s_h0_x = np.zeros_like(h0_x)`, but `h0_x` (the inlined parameter) is bound only
# in that branch. The python target raises UnboundLocalError; numba happens to cope
# (from seed 2, program 162).
def take_second(x, a):
    return x[1] * a


def array_helper_in_branch(p, x):
    if p > 1.0:
        return take_second(x, p)
    return p * x[0]


# An array used only through a helper is taken for a scalar, like an unused one: with it in
# `wrt`, calling the gradient with an array raises "expected a float, got ndarray".
def array_only_in_helper(p, x):
    return take_second(x, p)


# A negative constant raised to a power: normalize folds `(-0.78)` into the constant -0.78
# and the emitter writes `t_1 = -0.78 ** 2`, which Python reads as -(0.78 ** 2). The
# gradient's sign flips (from seed 3, program 279: `b = b - (-0.78) ** 2` in a helper).
# At b = 0.5: expected 0.6084, adjoint returns -0.6084.
def negative_constant_squared(b):
    return b * (-0.78) ** 2


def negative_constant_in_update(b):
    b = b - (-0.78) ** 2
    return b * b


# A return inside a loop that does not happen: before the final `return q` overwrites the
# result variable, the adjoint saves its old value (`t_result_old = t_result`), which is
# unbound when no return ran. The python target raises UnboundLocalError; numba copes
# (from seed 3, program 188, and program 264 through a helper's loop).
def loop_return_not_taken(q):
    for j in range(3):
        if q > 10.0:
            return math.exp(q)
    return q


# The same through a tape: the loop after a returning `while` records `t_result` at the
# start of each iteration (`tape_t_result[t_count_1] = t_result`) before any return set it.
def loop_return_after_while_return(q, p):
    n0 = 0
    while p <= 0.65:
        return p
    for j in range(5):
        if n0:
            pass
        else:
            return 1.0 / q
    return q


# A variable the loop reads, overwritten after the loop: the reverse loop replays each
# iteration (`t_1 = math.tanh(b)`) with the new value of `b`, because `b` is saved and
# restored only for reads the reverse blocks make themselves, not for the replay's
# (from seed 20240611, programs 70 and 88). At (b, a) = (0.7, 0.3): expected
# 1 - tanh(0.7)**2 = 0.6347, adjoint returns 1 - tanh(0.7 / 1.5)**2 = 0.8103.
def loop_then_overwrite(b, a):
    for i in range(1):
        a = a + math.tanh(b)
    b = b / 1.5
    return a


def loop_then_reassign(p, alpha):
    for j in range(1, 4):
        alpha /= math.tanh(p)
    p = 0.5
    return alpha


# A variable bound only in a branch that did not run, then assigned: the adjoint saves the
# old value first (`z_old = z`), which is unbound. The python target raises UnboundLocalError;
# numba copes (found at 80afc36, seed 1, program 123).
def branch_then_overwrite(alpha, q):
    if alpha > 1.0:
        z = math.exp(q)
    z = alpha
    return z


# The same through a module-level constant, which parse inlines (found at 80afc36, seed
# 20240611, program 100: `w = C1 ** 2.0` with C1 = -0.93).
NEGATIVE = -0.93


def negative_global_squared(p):
    w = NEGATIVE ** 2.0
    return p * w


# A branch on constants inside a loop (here a feature switch, a module constant parse
# inlines): the reverse loop replays `if t_1: t_2 = math.tanh(alpha)` and later reads `t_2`
# under the same `if t_1:`; numba prunes the first branch (its condition `0.0 > 0.0` is
# constant) and cannot type `t_2`: "numba could not compile the gradient: Type of variable
# 't_2.2' cannot be determined". The python target is right (found at 80afc36, seed 1,
# program 510: `if 0.0 > -0.62:` in a helper called in a while loop). Fixed: normalize keeps
# only the branch that a condition on constants takes.
SMOOTH = 0.0


def constant_condition_in_loop(alpha):
    for i in range(2):
        if SMOOTH > 0.0:
            alpha = math.tanh(alpha)
        alpha = alpha * alpha
    return alpha


# A chained comparison on a helper's parameter, when the helper also has a local named like
# the parameter's inlined name (`chain_helper_a`): normalize renames the middle operand of
# the chain twice (a -> chain_helper_a -> chain_helper_chain_helper_a), so the second
# comparison reads the local instead of the parameter. Here it picks the wrong branch:
# expected 2.0 at q = 0.5, adjoint returns 5.0. Without the assignment before the chain it is
# a NameError (found at 3fbfdc4, seed 3, program 261; present since 4513aa8).
def chain_helper(a):
    chain_helper_a = 5.0
    if 0.0 < a < 1.0:
        return a * 2.0
    return a * chain_helper_a


def chained_comparison_in_helper(q):
    return chain_helper(q)


def chain_helper_unbound(a):
    if 0.13 < a < 1.23:
        pass
    else:
        chain_helper_unbound_a = a          # noqa: F841 (named like the inlined parameter)
    return a


def chained_comparison_name_error(q):
    c = q * q
    if chain_helper_unbound(q) > 0.0:
        c = c * 2.0
    return c


# --- array programs (the array grammar, issue #15) ----------------------------------------------

# A module constant made one operand of `or` known at compile time; the normalized code then
# branched on a constant (`t = True; if t: pass else: ...`) and numba's pruning of that branch,
# after an early return in a while loop, left a sensitivity undefined: "Unsupported assignment
# encountered: UndefinedType" on the cpu target only (seed 15015, program 4755).
LIMIT = -0.34


def constant_or_in_conditional(p, alpha):
    if p < 0.0:
        if p - alpha >= -0.23:
            alpha = alpha * 0.3
        n0 = 0
        while n0 < 3:
            if alpha < 1.39:
                return p
        p = p * 0.5
    return p + (alpha if (LIMIT <= 0.56 or alpha > 0.0) else p)


def constant_and_in_conditional(p, alpha):
    q = (alpha if (LIMIT > 0.56 and alpha > 0.0) else p * p)
    return q * alpha + (p if LIMIT < 0.0 else alpha)


# np.max at a tie gave every tied element the whole sensitivity: [1, 1, 0] for
# np.max([1., 1., 0.]), no subgradient (along (1, 1, 0) the maximum grows at rate 1, the
# gradient says 2). Found at tie points (seed 8, programs 12, 39, 79 at 2be1f05), e.g.
#     z[i] = z[i] * 0.5 + math.tanh(np.max(np.where(y[::2] >= (-0.2), y[::2], y[0])))
# with y = [0.661, 0.661, 0.661, 0.484]. Checked as subgradients (test_fuzz_regressions.TIES).
def max_of_vector(x):
    return np.max(x)


def max_along_rows(A):
    return np.sum(np.max(A, axis=1) * np.array([1.0, 2.0]))


def min_along_columns(A):
    return np.sum(np.min(A, axis=0))


# The same rule at a point where the function is smooth: the program itself makes the
# elements equal, so the tie holds near the point too and the gradient is unique (seed 8,
# program 68 at 2be1f05: U[i, j] = math.tanh(y @ y) for every element, then np.max(U);
# adjoint's gradient was m * n = 6 times too large; program 6 likewise with np.min).
def max_of_equal_elements(y):
    v = np.tanh(y @ y) + np.zeros(3)
    return np.max(v)


def min_of_equal_rows(y, A):
    rows = A * 0.0 + np.sin(y)
    return np.sum(np.min(rows, axis=0))



# The source alone suggests A is a number (np.clip and np.copy of it), so the code generated at
# grad() wrote V[j, k] into a number: its tape helper was printed as `y[]` and the compiler
# failed with a raw SyntaxError. An element write with more indices than the array's rank is a
# type error now, like a read, and the gradient is generated at the call for the matrix
# (seed 20261205, programs 235 and 578).
def element_write_into_a_copy(A, q):
    clipped = np.clip(A, -0.4, 1.0)
    V = np.copy(clipped)
    for j in range(clipped.shape[0]):
        for k in range(clipped.shape[1]):
            V[j, k] = math.tanh(q * j + k)
    return np.mean(np.abs(clipped)) + np.sum(V) * q


# optimize/fuse merged `V = np.clip(...)`, `V -= e` into one assignment and left a hole in the
# block, which its scan of the statements after it then read: an internal error
# (seed 20261207, program 1104; the realistic gmm_objective_vec met it too).
def clip_then_update_in_place(y, b):
    U = np.clip(b, -0.3, 0.7)
    V = np.clip(b, 0.1, 0.7)
    V -= np.tanh(y[0])
    return np.min(V) + np.max(U) + b @ np.sin(U)


EXIT_BOUND = 0.66


def constant_continue_in_while(p, alpha):
    # fuzz seed 20261208 #4624: the `or` folds to True, so the continue always runs; its
    # flag was set under `if True:`, numba pruned the guarded rest in the replay only, and
    # the reverse sweep read a save (alpha's) that numba never typed
    n0 = 0
    while n0 < 2 and p > -1.92:
        n0 += 1
        p = p * 0.9 + 0.1 * alpha * p
        if (-0.73 < EXIT_BOUND < 0.7) or n0 * 0.1 - n0 * 0.25 >= 0.24:
            continue
        alpha = max(alpha, EXIT_BOUND) * 0.75
    return alpha * alpha + p


HELPER_BOUND = 0.87


def _bounded_helper(a, b):
    if b <= -0.18:
        y = math.sin(b)
    elif b > b:
        b = a / (2.0 + math.sin(a + a))
    else:
        y = a
    return math.sin(a) + b + (-0.56) + 0.0 * y


def constant_argument_to_helper(q, alpha):
    # fuzz seed 20261212 #224: the helper's parameter is bound to a module constant, so its
    # tests `b <= -0.18` and `b > b` are constants; numba pruned the forward branch with the
    # divisor computed there, not the reverse sweep's test of it (read through the outer
    # branch), which read the divisor: "Undefined" typing error on cpu
    q = math.sin(q) * math.sin(_bounded_helper(q, HELPER_BOUND))
    if q > -0.5 and alpha < 2.0:
        return math.tanh(_bounded_helper(alpha, alpha) / 17.59)
    return -1.08 * q + alpha


# The same folding must follow the flow: a constant rebound in a loop, or in one branch only,
# is not known after it (each would give a wrong gradient if it were).
def constant_rebound_in_loop(x):
    b = HELPER_BOUND
    s = 0.0
    for i in range(3):
        if b > 0.5:                  # true in the first iteration only
            s = s + math.sin(x * b)
        else:
            s = s + x * x * b
        b = b - 0.5
    return s


def constant_rebound_in_branch(x):
    b = HELPER_BOUND
    if x > 0.0:
        b = -0.3
    if b > 0.5:
        return math.sin(x)
    return x * x * b


def constant_flag_from_helper(x):
    # a flag copied from a comparison of the constant, negated: known, folded
    wide = not (HELPER_BOUND < 0.5)
    flag = wide
    if flag and x > -5.0:
        return _bounded_helper(x, HELPER_BOUND) * x
    return x
