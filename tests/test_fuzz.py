"""A fixed-seed differential fuzzing campaign (tests/fuzzing.py) inside `make test`.

200 random programs in the supported subset (about 80 of them array programs), each checked
at two random points against autograd and central differences, and at a tie/kink point
against one-sided difference quotients (a subgradient test). Budget: a couple of minutes on
a 2-core machine. The python target runs on all 200 (differentiation only, ~0.2 s a scalar
program, ~0.7 s an array one); the cpu target adds a numba compilation of ~0.3-2 s a scalar
program, ~10 s an array one, so it runs on every 5th scalar program and on the array
programs among 0, 50, 100, 150: the two targets share every stage up to the emitted module,
so numba-specific failures are the typing and semantics of the emitted code. A longer
campaign: `make fuzz N=1000 SEED=1` (python -m tests.fuzzing).

Constructs that hit a known, unfixed compiler bug are not generated (tests.fuzzing.
KNOWN_BUGS; each is a strict xfail in tests/test_fuzz_regressions.py).
"""

import random

import numpy as np
import pytest

from tests import fuzzing

SEED = 20240611
PROGRAMS = 200
CHUNK = 50                    # programs per test, so a failure names a range of programs
CPU_EVERY = 5
ARRAY_CPU_EVERY = 50          # numba takes ~10 s on an array program: programs 0, 50, 100


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("start", range(0, PROGRAMS, CHUNK))
def test_fuzz_campaign(start):
    failures = []
    report = fuzzing.run_campaign(SEED, CHUNK, start=start, cpu_every=CPU_EVERY,
                                  array_cpu_every=ARRAY_CPU_EVERY, log=failures.append)
    assert report.ok, report.summary() + "\n\n" + "\n\n".join(failures[:3]) + \
        f"\n\nreproduce: python -m tests.fuzzing --seed {SEED} --start INDEX --count 1" \
        f"\nshrink:    python -m tests.fuzzing --seed {SEED} --reduce INDEX"
    assert report.tried == CHUNK
    assert report.compiled["python"] == CHUNK
    cases = {i: fuzzing.case(SEED, i) for i in range(start, start + CHUNK)}
    on_cpu = [i for i, c in cases.items()
              if i % (ARRAY_CPU_EVERY if c.is_array else CPU_EVERY) == 0]
    assert report.compiled.get("cpu", 0) == len(on_cpu)
    points = {i: len(c.points) + (c.tie is not None) for i, c in cases.items()}
    assert report.points == sum(points.values()) + sum(points[i] for i in on_cpu)
    # the made tie point, and the random points whose coordinates happen to tie
    ties = {i: (c.tie is not None) + sum(fuzzing.accidental_ties(p) is not None for p in c.points)
            for i, c in cases.items()}
    assert report.tie_points == sum(ties.values()) + sum(ties[i] for i in on_cpu)
    assert report.array_programs == sum(c.is_array for c in cases.values()) > 0


def test_programs_are_deterministic_and_valid():
    for index in range(200):
        seed = fuzzing.program_seed(SEED, index)
        source = fuzzing.generate(seed)
        assert source == fuzzing.generate(seed)
        compile(source, f"<fuzz {index}>", "exec")
    assert fuzzing.generate(1) != fuzzing.generate(2)


def test_programs_cover_the_grammar():
    """Over the campaign's programs, every construct the generator knows appears."""
    import re
    text = "\n".join(fuzzing.generate(fuzzing.program_seed(SEED, i)) for i in range(PROGRAMS))
    for construct in ["if ", "elif ", "else:", "for ", "while ", "break", "continue", "return",
                      " and ", " or ", "not ", " if ", "+=", "-=", "*=", "/=", "**", "abs(",
                      "min(", "max(", "math.sin(", "math.cos(", "math.tanh(", "math.exp(",
                      "math.log(", "math.sqrt(", "len(x)", "x.shape[0]", "x[-1]",
                      "range(len(x) - 1, -1, -2)", "h0(", "h1(", "C0", "float(", "% 2"]:
        assert construct in text, construct
    for pattern in [r"x\[[a-z]\w*\]", r"x\[[a-z]\w* \+ 1\]", r"x\[len\(x\) - 1 - \w+\]",
                    r"range\(-?\d+, -?\d+, -\d\)", r"^\s+(\w+), (\w+) = \2, \1$",
                    r"while n\d+ < \d and ", r"\) \*\* \(?-?\d\.\d\)?", r"^def h\d\(x, "]:
        assert re.search(pattern, text, re.MULTILINE), pattern


@pytest.mark.slow
def test_the_harness_catches_a_wrong_gradient(monkeypatch):
    """A gradient off by 0.1 % must be reported as a mismatch: the oracles are not vacuous."""
    import adjoint
    real = adjoint.grad

    def skewed(fn, wrt=0, **options):
        g = real(fn, wrt, **options)

        def call(*args):
            out = g(*args)
            if isinstance(out, tuple):
                return tuple(o * 1.001 if isinstance(o, np.ndarray) else float(o) * 1.001
                             for o in out)
            return out * 1.001 if isinstance(out, np.ndarray) else float(out) * 1.001
        return call

    monkeypatch.setattr(adjoint, "grad", skewed)
    report = fuzzing.run_campaign(SEED, 10, targets=("python",), log=lambda text: None)
    assert report.mismatches >= 8, report.summary()


def test_the_harness_reports_compiler_errors(monkeypatch):
    import adjoint

    def broken(fn, wrt=0, **options):
        raise adjoint.AdjointError("unsupported syntax: pretend")

    monkeypatch.setattr(adjoint, "grad", broken)
    report = fuzzing.run_campaign(SEED, 3, targets=("python",), log=lambda text: None)
    assert report.adjoint_errors == 3 and not report.ok


def test_a_branch_switch_inside_the_stencil_is_not_a_mismatch():
    """Finite differences across a jump disagree between the two steps: inconclusive."""
    def f(p):
        return p * p if p < 0.5 + 3e-6 else p * p + 1.0

    report = fuzzing.Report(seed=0)
    fds = [np.array([(f(0.5 + h) - f(0.5 - h)) / (2 * h)]) for h in fuzzing.STEPS]
    oracle = [(fds, None)]                                             # autograd unavailable
    assert fuzzing._compare((1.0,), oracle, (0.5,), [0], f(0.5), report) is None
    assert report.inconclusive == 1
    wrong = [([np.array([1.0]), np.array([1.0])], None)]
    assert fuzzing._compare((1.1,), wrong, (0.5,), [0], f(0.5), report) is not None


def test_generator_uses_only_its_own_random_stream():
    state = random.getstate()
    fuzzing.generate(7)
    assert random.getstate() == state


def test_array_programs_cover_the_grammar():
    """The array grammar (fuzz_programs.ArrayGenerator) over the campaign's programs."""
    import re
    sources = [fuzzing.generate(fuzzing.program_seed(SEED, i)) for i in range(PROGRAMS)]
    arrays = [s for s in sources if s.startswith("# argument shapes:")]
    assert 0.25 * PROGRAMS < len(arrays) < 0.55 * PROGRAMS
    text = "\n".join(arrays)
    for construct in ["np.sum(", "np.mean(", "np.max(", "np.min(", "axis=0)", "axis=1)", " @ ",
                      "np.dot(", ".T @ ", "np.outer(", "[1:]", "[:-1]", "[::2]", "[::-1]", "[:, ",
                      "np.where(", "np.clip(", "np.maximum(", "np.minimum(", "np.abs(", "np.exp(",
                      "np.tanh(", "np.sin(", "np.sqrt(", "np.zeros(", "np.copy(", "np.ones(",
                      " += ", " -= ", " *= ", "if ", "else:", "len(", ".shape[0]", "A (m, n)",
                      "x (n,)", "b (m,)"]:
        assert construct in text, construct
    for pattern in [r"^\s+\w+\[\w+\] = ", r"^\s+\w+\[\w+\] \+= ", r"\w+\[\w+ - 1\]",
                    r"^\s+\w+\[\w+, \w+\] \+?= ", r"np\.clip\([^\n]*, [a-z]\w*, 2\.0\)",
                    r"np\.maximum\([^\n]*, 0\.0\)|np\.maximum\(0\.0, "]:
        assert re.search(pattern, text, re.MULTILINE), pattern


def test_cases_and_tie_points_are_deterministic():
    for index in range(60):
        first, again = fuzzing.case(SEED, index), fuzzing.case(SEED, index)
        assert first.source == again.source and first.wrt == again.wrt
        for a, b in zip(first.points + [first.tie[0] if first.tie else ()],
                        again.points + [again.tie[0] if again.tie else ()]):
            assert all(np.array_equal(u, v) for u, v in zip(a, b))
        if first.tie:
            assert first.tie[1] == again.tie[1]
            args = first.tie[0]
            for group in first.tie[1]:          # the tied coordinates are equal indeed
                values = {float(np.ravel(args[k])[flat]) for k, flat in group}
                assert len(values) == 1, (index, group)


def max_of(x):
    return np.max(x)


def test_subgradients_at_a_tie_of_np_max():
    """x = [1, 1, 0]: [1, 1, 0] (each tied element gets the whole sensitivity) is no
    subgradient (along (1, 1, 0) max grows at rate 1, the gradient says 2); any convex
    combination of [1, 0, 0] and [0, 1, 0] is one."""
    x = np.array([1.0, 1.0, 0.0])
    rng = np.random.default_rng(0)
    ties = [[(0, 0), (0, 1)]]
    problem = fuzzing.check_subgradient(max_of, (x,), [0], (np.array([1.0, 1.0, 0.0]),), ties, rng)
    assert problem is not None and "tied coordinates" in problem[0]
    for valid in ([1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.5, 0.5, 0.0], [0.3, 0.7, 0.0]):
        assert fuzzing.check_subgradient(max_of, (x,), [0], (np.array(valid),), ties, rng) is None
    # without the tie's direction, the random directions alone catch it
    assert fuzzing.check_subgradient(max_of, (x,), [0], (np.array([1.0, 1.0, 0.0]),), [],
                                     np.random.default_rng(1)) is not None


def kinks(p, x):
    return abs(p) + np.sum(np.maximum(x, 0.0)) + np.clip(p, 0.0, 1.0)


def test_subgradients_at_kinks_and_jumps():
    x = np.array([0.0, 0.5, 0.0])
    rng = np.random.default_rng(0)
    # abs at 0 (any slope in [-1, 1]) + clip at its low bound (in [0, 1]); relu at 0: [0, 1]
    for dp in (-1.0, 0.0, 1.0, 2.0):
        assert fuzzing.check_subgradient(kinks, (0.0, x), [0, 1],
                                         (dp, np.array([0.0, 1.0, 1.0])), [], rng) is None
    for wrong in [(2.5, np.array([0.0, 1.0, 1.0])), (0.0, np.array([0.0, 1.5, 0.0])),
                  (0.0, np.array([-0.2, 1.0, 0.0]))]:
        assert fuzzing.check_subgradient(kinks, (0.0, x), [0, 1], wrong, [], rng) is not None

    def jump(p):
        return np.where(p > 0.0, 1.0, 0.0) + p

    report = fuzzing.Report(seed=0)          # a jump: the two steps disagree, no verdict
    assert fuzzing.check_subgradient(jump, (0.0,), [0], (1.0,), [], rng, report=report) is None
    assert report.tie_inconclusive > 0


def test_a_campaign_flags_a_wrong_subgradient_at_a_tie(monkeypatch):
    """End to end: a gradient that gives every tied maximum the whole sensitivity (adjoint's
    np.max rule before the fix) is reported as a subgradient failure at the tie point."""
    import adjoint
    source = "# argument shapes: x (n,)\nimport numpy as np\n\n\ndef f(x):\n    return np.max(x)\n"
    tie = ((np.array([1.0, 1.0, 0.0]),), [[(0, 0), (0, 1)]])
    regular = [(np.array([0.3, -0.2, 0.1]),)]
    monkeypatch.setattr(fuzzing, "case", lambda seed, index, avoid=(), points=2: fuzzing.Case(
        source, 0, [0], regular, tie, True))

    def every_tie(fn, wrt=0, **options):
        return lambda x: np.where(x == np.max(x), 1.0, 0.0)

    monkeypatch.setattr(adjoint, "grad", every_tie)
    messages = []
    report = fuzzing.run_campaign(SEED, 1, targets=("python",), log=messages.append)
    assert report.subgradients == 1 and report.mismatches == 0 and not report.ok, messages
    assert report.tie_points == 1 and "[subgradient]" in messages[0]


def test_a_random_point_with_equal_coordinates_is_checked_as_a_tie():
    # seed 20261221's programs #334 (p equal to an element of y, under np.minimum and np.min)
    # and #587 (three equal entries of A under np.max) were reported as mismatches against
    # central differences, which halve a one-sided slope at a tie; as tie points, their
    # gradients (1/3-shares of a tie, JAX's and autograd's convention) pass the subgradient test
    from tests.fuzzing import accidental_ties
    y, p = np.array([1.093, 1.181, -0.727]), -0.727
    assert accidental_ties((y, p)) == [[(0, 2), (1, 0)]]
    A = np.array([[0.612, 0.499, 0.627], [0.386, 0.925, 0.627], [0.601, 0.627, -0.013]])
    assert accidental_ties((0.744, A)) == [[(1, 2), (1, 5), (1, 7)]]
    assert accidental_ties((np.array([0.1, 0.2]), 0.3)) is None
