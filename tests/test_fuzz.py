"""A fixed-seed differential fuzzing campaign (tests/fuzzing.py) inside `make test`.

250 random programs in the supported subset, each checked at two random points against
autograd and central differences. Budget: about a minute on a 2-core machine. The python
target runs on all 250 (differentiation only, ~0.2 s a program); the cpu target adds a
numba compilation of ~0.3-2 s a program, so it runs on every 5th program (50 of them):
the two targets share every stage up to the emitted module, so numba-specific failures are
the typing and semantics of the emitted code, which 40 programs exercise well. A longer
campaign: `make fuzz N=1000 SEED=1` (python -m tests.fuzzing).

Constructs that hit a known, unfixed compiler bug are not generated (tests.fuzzing.
KNOWN_BUGS; each is a strict xfail in tests/test_fuzz_regressions.py).
"""

import random

import numpy as np
import pytest

from tests import fuzzing

SEED = 20240611
PROGRAMS = 250
CHUNK = 50                    # programs per test, so a failure names a range of programs
CPU_EVERY = 5


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("start", range(0, PROGRAMS, CHUNK))
def test_fuzz_campaign(start):
    failures = []
    report = fuzzing.run_campaign(SEED, CHUNK, start=start, cpu_every=CPU_EVERY,
                                  log=failures.append)
    assert report.ok, report.summary() + "\n\n" + "\n\n".join(failures[:3]) + \
        f"\n\nreproduce: python -m tests.fuzzing --seed {SEED} --start INDEX --count 1" \
        f"\nshrink:    python -m tests.fuzzing --seed {SEED} --reduce INDEX"
    assert report.tried == CHUNK
    assert report.compiled["python"] == CHUNK
    assert report.compiled.get("cpu", 0) == len(range(start, start + CHUNK, CPU_EVERY)) or \
        start % CPU_EVERY                                  # (chunks start on a multiple)
    assert report.points == 2 * CHUNK + 2 * report.compiled.get("cpu", 0)


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
