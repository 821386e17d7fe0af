"""How much realistic code adjoint differentiates: tests/realistic_corpus.py (or Tangent's own
test functions, tests/tangent_corpus.py, with --corpus tangent), program by program.

For each program and target: the CPU time from `grad(...)` to its first gradient (the
transformation, and on cpu numba's compilation), and `pass` (the gradient matches central finite differences),
`WRONG` (a gradient that does not: the worst outcome), `rejected` (an adjoint.AdjointError; its
first line, with the location stripped, is the reason), `BROKEN` (accepted, but the emitted
gradient code failed: an AdjointError saying so, i.e. a compiler bug rather than a limit) or
`CRASH` (any other exception: a raw traceback). Then the pass rates of loop versus vectorized code, and the rejection reasons
ranked by how many programs each blocks (the order issue #17's work should follow).

    python benchmarks/reach.py                 # python target (a minute or two)
    python benchmarks/reach.py --target cpu    # numba: slower, one compilation per program
    python benchmarks/reach.py --target python --target cpu --only gmm,lstm
    python benchmarks/reach.py --corpus tangent --target python --target cpu
    python benchmarks/reach.py --hvp           # Hessian-vector products instead of gradients

With --hvp, each program whose first differentiated argument is an array gets
`adjoint.hvp(f)(*args, v)` (forward mode over the emitted gradient, v seeded), checked against
mixed second differences of f itself (tests/oracles.py: hvp_by_differences); the others are
left out.
"""

from __future__ import annotations

import argparse
import collections
import re
import sys
import time
import traceback
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

import adjoint  # noqa: E402
from tests import realistic_corpus, tangent_corpus  # noqa: E402
from tests.oracles import finite_difference, hvp_by_differences  # noqa: E402

CORPORA = {"realistic": realistic_corpus.PROGRAMS, "tangent": tangent_corpus.PROGRAMS}

# A gradient within these of central differences passes; the difference quotient's own error
# (h = 1e-6 relative) is near 1e-8 relative for these programs, so a miss is a real one.
RTOL = 1e-5

# AdjointError messages for a compiler bug rather than a limit: a gradient emitted and then
# failing to compile or to run, or an internal error of a stage
BROKEN_MARKERS = ("while computing the gradient", "numba could not compile the gradient", "internal error")

LOCATION = re.compile(r"^(?P<file>[^:\n]+\.py):(?P<line>\d+)(:\d+)?: ")


# Rejection reasons grouped by the construct that causes them, named after issue #17's items.
CATEGORIES = [
    (r"only plain positional parameters|keyword argument `\w+=` is not supported \(helper",
     "default parameter values / keyword arguments (item 1)"),
    (r"keyword argument `(lam|alpha|delta)=`", "default parameter values / keyword arguments (item 1)"),
    (r"keyword argument `\w+=`", "keyword options of numpy calls: keepdims=, mode= (item 10)"),
    (r"matrix product of ranks 0|for an array of rank 0", "module-level or closure arrays taken for rank 0 (item 2)"),
    (r"in one place and float in another", "a name rebound to another rank (item 3)"),
    (r"must iterate over range", "for over an array, zip, enumerate (item 4)"),
    (r"assigned array index must be|assigning to a slice|cannot assign to a tuple of array elements",
     "element, row and slice writes (item 5)"),
    (r"too many indices: \d+ for an array of rank [1-9]", "None / np.newaxis indexing (item 6)"),
    (r"tuple value here|unsupported statement: nested function definition", "tuples and nested defs (item 7)"),
    (r"a list is not a differentiable|list comprehension", "literal lists and comprehensions (item 8)"),
    (r"no derivative rule|cannot resolve the function", "numpy / math / scipy functions without a rule"),
    (r"carried from one iteration|share memory", "false alarms on arrays rebuilt in each iteration"),
    (r"dictionaries are not differentiable", "dictionaries (arguments and literals)"),
]


def category_of(reason: str) -> str:
    for pattern, name in CATEGORIES:
        if re.search(pattern, reason):
            return name
    return "other"


def reason_of(error: BaseException) -> str:
    """The first line of an error, without its file:line:col prefix."""
    first = str(error).splitlines()[0] if str(error) else type(error).__name__
    return LOCATION.sub("", first)


def is_located(error: BaseException) -> bool:
    return bool(LOCATION.match(str(error)))


def compare(got, program, args):
    """None when the gradient matches finite differences, else a short description."""
    grads = got if isinstance(got, tuple) else (got,)
    if len(grads) != len(program.wrt):
        return f"{len(grads)} gradients for {len(program.wrt)} arguments"
    value = float(program.fn(*program.arguments()))
    for index, g in zip(program.wrt, grads):
        want = finite_difference(program.fn, program.arguments(), index)
        if np.shape(g) != np.shape(want):
            return f"argument {index}: gradient of shape {np.shape(g)}, expected {np.shape(want)}"
        scale = max(1.0, abs(value), float(np.max(np.abs(want))) if np.size(want) else 1.0)
        error = float(np.max(np.abs(np.asarray(g, dtype=float) - want))) if np.size(want) else 0.0
        if not error <= RTOL * scale:
            return f"argument {index}: max |adjoint - finite differences| = {error:.3g} (scale {scale:.3g})"
    return None


def failure_outcome(error):
    """classify's outcome for an exception: rejected or BROKEN (an AdjointError), or CRASH."""
    if isinstance(error, adjoint.AdjointError):
        reason = reason_of(error)
        broken = any(marker in reason for marker in BROKEN_MARKERS)
        return ("BROKEN" if broken else "rejected"), reason, is_located(error), None
    tb = traceback.format_exception(type(error), error, error.__traceback__)
    return "CRASH", f"{type(error).__name__}: {reason_of(error)} ({tb[-2].strip()[:120]})", False, None


def classify(program, target):
    """(outcome, detail, located, seconds): outcome is pass, WRONG, rejected, BROKEN or CRASH;
    seconds: CPU time from grad(...) to the first gradient (transformation, and on cpu
    numba's compilation, which dominates there)."""
    started = time.process_time()
    try:
        gradient = adjoint.grad(program.fn, wrt=program.wrt, target=target)
        got = gradient(*program.arguments())
    except Exception as error:  # noqa: BLE001 - a raw exception is exactly what we report
        return failure_outcome(error)
    seconds = time.process_time() - started
    mismatch = compare(got, program, program.arguments())
    return ("pass", "", True, seconds) if mismatch is None else ("WRONG", mismatch, True, seconds)


def classify_hvp(program, target):
    """classify's outcomes for the Hessian-vector product along a seeded direction, against
    mixed second differences of f (relative to the largest component, 1e-4: the differences'
    own error is near 1e-7 of it here)."""
    args = program.arguments()
    wrt = program.wrt[0]
    v = np.random.default_rng(1).normal(size=np.shape(args[wrt]))
    started = time.process_time()
    try:
        got = adjoint.hvp(program.fn, wrt=wrt, target=target)(*args, v)
    except Exception as error:  # noqa: BLE001 - a raw exception is exactly what we report
        return failure_outcome(error)
    seconds = time.process_time() - started
    want = hvp_by_differences(program.fn, args, wrt, v)
    error = float(np.max(np.abs(np.asarray(got, dtype=float) - want)))
    scale = max(1.0, float(np.max(np.abs(want))))
    if not error <= 1e-4 * scale:
        return "WRONG", f"max |hvp - second differences| = {error:.3g} (scale {scale:.3g})", True, seconds
    return "pass", "", True, seconds


def run(targets, only=None, out=sys.stdout, corpus="realistic", hvp=False):
    programs = [p for p in CORPORA[corpus] if not only or p.name in only or p.model in only]
    if hvp:
        programs = [p for p in programs if np.ndim(p.arguments()[p.wrt[0]]) > 0]
    results = {}
    started = time.perf_counter()
    for program in programs:
        for target in targets:
            results[program.name, target] = (classify_hvp if hvp else classify)(program, target)
    elapsed = time.perf_counter() - started

    def say(line=""):
        print(line, file=out)

    width = max(len(p.name) for p in programs)
    say(f"{'program':<{width}}  {'style':<10}  " + "  ".join(f"{t:<8} {'s':>6}" for t in targets) + "  detail")
    for program in programs:
        outcomes = [results[program.name, t] for t in targets]
        details = [(t, o, d) for t, (o, d, _, _) in zip(targets, outcomes) if o != "pass"]
        if len({d for _, _, d in details}) > 1:   # the targets fail differently: show each
            detail = "; ".join(f"{t}: {o} {d}" for t, o, d in details)
        else:
            detail = details[0][2] if details else ""
        unlocated = any(o == "rejected" and not located for o, _, located, _ in outcomes)
        say(f"{program.name:<{width}}  {program.style:<10}  "
            + "  ".join(f"{o:<8} {'' if t is None else f'{t:.2f}':>6}" for o, _, _, t in outcomes)
            + f"  {detail}" + ("  [error without file:line]" if unlocated else ""))
    say()
    say(f"{len(programs)} programs, {elapsed:.0f} s")
    for target in targets:
        say(f"\ntarget {target}:")
        say(f"  {'style':<11} {'programs':>8} {'pass':>6} {'wrong':>6} {'rejected':>9} {'broken':>7} {'crash':>6} {'pass %':>7}")
        for style in ("loop", "vectorized", "all"):
            chosen = [p for p in programs if style == "all" or p.style == style]
            counts = collections.Counter(results[p.name, target][0] for p in chosen)
            share = 100.0 * counts["pass"] / len(chosen) if chosen else 0.0
            say(f"  {style:<11} {len(chosen):>8} {counts['pass']:>6} {counts['WRONG']:>6} "
                f"{counts['rejected']:>9} {counts['BROKEN']:>7} {counts['CRASH']:>6} {share:>6.0f}%")
        seconds = sorted(results[p.name, target][3] for p in programs if results[p.name, target][3] is not None)
        if seconds:
            what = "hvp(...) to the first product" if hvp else "grad(...) to the first gradient"
            say(f"  CPU time from {what}: median {seconds[len(seconds) // 2]:.2f} s, "
                f"90th percentile {seconds[int(0.9 * (len(seconds) - 1))]:.2f} s, most {seconds[-1]:.2f} s")
        reasons = collections.Counter(results[p.name, target][1] for p in programs
                                      if results[p.name, target][0] == "rejected")
        say(f"  rejection reasons on {target}, by programs blocked:")
        for reason, count in reasons.most_common():
            say(f"    {count:>3}  {reason}")
        categories = collections.Counter()
        for p in programs:
            if results[p.name, target][0] == "rejected":
                categories[category_of(results[p.name, target][1])] += 1
        say("  the same, grouped by construct:")
        for name, count in categories.most_common():
            say(f"    {count:>3}  {name}")
        for kind in ("WRONG", "BROKEN", "CRASH"):
            for p in programs:
                if results[p.name, target][0] == kind:
                    say(f"  {kind}: {p.name}: {results[p.name, target][1]}")
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", action="append", choices=("python", "cpu"),
                        help="python (default) and/or cpu; repeat for both")
    parser.add_argument("--only", help="comma-separated program or model names")
    parser.add_argument("--corpus", choices=sorted(CORPORA), default="realistic",
                        help="tests/realistic_corpus.py (default) or tests/tangent_corpus.py")
    parser.add_argument("--hvp", action="store_true",
                        help="Hessian-vector products (hvp) instead of gradients, of array arguments")
    options = parser.parse_args(argv)
    only = set(options.only.split(",")) if options.only else None
    run(options.target or ["python"], only, corpus=options.corpus, hvp=options.hvp)


if __name__ == "__main__":
    main()
