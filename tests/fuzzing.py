"""A differential fuzzer: random programs in the supported subset, adjoint against oracles.

    report = run_campaign(seed=1, count=1000)          # or: python -m tests.fuzzing --seed 1
    report.ok, report.mismatches, report.failures[0].source

The programs come from `generate(seed)` (tests/fuzz_programs.py, which describes their
grammar: scalar programs, and array programs with numpy expressions); a seed names a program
for good. Constructs that hit a known compiler bug (`KNOWN_BUGS`) are not generated unless
asked (`--allow-known`), so a campaign's failures are new bugs.

Each program is imported from a temporary file (the compiler reads source with inspect) and
checked on each target (python on all programs, cpu on a fraction: `cpu_every`,
`array_cpu_every`) at two random points and, where it has kinks to find, one tie point. A
random point whose coordinates happen to be equal (three decimals: it happens) is checked
as a tie point too (`accidental_ties`).

At a random point its gradient from `adjoint.grad` is compared with

  * autograd running the same source (`tests.oracles.autograd_twin`): exact derivatives of
    the path the program takes, so agreement must be to round-off;
  * central finite differences at two steps (1e-5 and 1e-6, relative). A kink or a branch
    condition crossed inside the stencil shows up as the two differences disagreeing; such a
    point is inconclusive, never a failure. A failure needs the two to agree with each other
    and disagree with adjoint;
  * the other target (python and numba must agree to 1e-9).

A gradient is wrong when it disagrees with autograd and finite differences do not vouch for
it (or autograd cannot run and consistent differences disagree). Any AdjointError on these
programs is a bug too: they use only supported syntax.

Tie and kink points. Random points almost never sit on a kink, yet that is where rules go
wrong (np.max([1., 1., 0.]) once returned [1, 1, 0]). `tie_point` builds one from a random
point: it copies an array's largest or smallest element onto others (within a row or a
column of a matrix, the axes of a reduction), copies an element of one argument onto
another's (np.maximum(x, y), a scalar against an element), or sets a value to 0.0 or to a
constant of the program (abs, np.maximum(v, 0.0), clip bounds, where thresholds), and
records which coordinates it made equal. There central differences are no oracle: they
return the mean of the two one-sided slopes, which a valid answer such as [1, 0, 0] for the
max need not match; and autograd's own choices at kinks are just other valid ones. The test
is instead the one that characterizes a subgradient of a piecewise-smooth function along a
line: for a direction v, with the one-sided derivatives

    D+_v = lim (f(x + h v) - f(x)) / h,   D-_v = lim (f(x) - f(x - h v)) / h,   h -> 0+,

the gradient g must satisfy  min(D-_v, D+_v) <= <g, v> <= max(D-_v, D+_v)  (with tolerance).
`check_subgradient` applies it along every coordinate (g_i between the left and right
partial derivatives), along each tied group moved together (1 on the tied coordinates: at
x = [1, 1, 0] max grows at rate 1 both ways, and [1, 1, 0] says 2, which no coordinate
check sees), along a random mix of each group, and along RANDOM_DIRECTIONS random
directions. Each D is a second-order one-sided quotient (-3 f(x) + 4 f(x + h v) -
f(x + 2h v)) / 2h, exact on quadratics, so on the smooth piece on either side the error is
O(h^2); it is taken at the two ONE_SIDED_STEPS, and a direction where they disagree (a jump:
np.where's branches differ at its threshold; another kink within 2h) gets no verdict
(`tie_inconclusive`). On a smooth direction the interval shrinks to a point, so the test is
then an ordinary derivative check.
The chain rule cannot promise a subgradient when kinks compose (max(x, y) + min(x, y) = x + y
at x = y: any local rule that picks a side for both gives (2, 0)). So autograd's gradient at
the same point, where it can run, is a witness: a direction along which it fails too is
counted inconclusive; a failure is a direction along which adjoint's gradient leaves
[D-, D+] and autograd's (when there is one) does not. Kind `subgradient` in the report.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import math
import os
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np

from tests.fuzz_programs import DIM_SIZES, KNOWN_BUGS, generate, is_array_program

STEPS = (1e-5, 1e-6)            # the two finite-difference steps (relative)
FD_RTOL = 1e-4                  # differences vs each other and vs adjoint
EXACT_RTOL = 1e-7               # adjoint vs autograd, and python vs cpu: round-off only
ONE_SIDED_STEPS = (1e-5, 1e-6)  # steps of the one-sided quotients at tie points (relative)
RANDOM_DIRECTIONS = 3           # random directions checked at each tie point


# --- checking one program -----------------------------------------------------------------------

@dataclasses.dataclass
class Failure:
    index: int
    seed: int                     # the program's own seed: generate(seed) rebuilds it
    kind: str                     # mismatch | subgradient | adjoint_error | crash |
    #                               targets_disagree | invalid
    target: str
    message: str
    source: str
    args: tuple = ()
    wrt: object = None
    expected: object = None
    got: object = None
    ties: object = None           # at a tie point: the groups of coordinates made equal

    def describe(self) -> str:
        lines = [(f"[{self.kind}] program #{self.index} (seed {self.seed}) target={self.target} "
                  f"wrt={self.wrt!r}"), f"  {self.message}"]
        if self.args:
            lines.append(f"  args: {_show(self.args)}")
        if self.ties:
            lines.append(f"  tie point; tied coordinates (argument, flat index): {self.ties}")
        if self.expected is not None:
            lines.append(f"  expected: {_show(self.expected)}")
            lines.append(f"  got:      {_show(self.got)}")
        lines.append(self.source)
        return "\n".join(lines)


@dataclasses.dataclass
class Report:
    seed: int
    tried: int = 0
    compiled: dict = dataclasses.field(default_factory=dict)   # target -> programs compiled
    array_programs: int = 0       # programs with array arguments (ArrayGenerator's)
    points: int = 0               # (program, point, target) gradients compared, ties included
    tie_points: int = 0           # of them at a tie/kink point (checked as subgradients)
    inconclusive: int = 0         # components where the two differences disagreed (kinks)
    tie_inconclusive: int = 0     # tie-point directions no verdict was possible on (see above)
    autograd_unavailable: int = 0
    invalid: int = 0              # programs whose own evaluation failed (a generator defect)
    mismatches: int = 0
    subgradients: int = 0         # tie points where the gradient is no valid subgradient
    adjoint_errors: int = 0
    crashes: int = 0
    failures: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    slowest: list = dataclasses.field(default_factory=list)   # (seconds in grad(), index, target)

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.subgradients or self.adjoint_errors or
                    self.crashes or self.invalid)

    def summary(self) -> str:
        compiled = ", ".join(f"{t} {n}" for t, n in self.compiled.items())
        return (f"seed {self.seed}: {self.tried} programs ({self.array_programs} with arrays), "
                f"compiled ({compiled}), {self.points} gradients compared ({self.tie_points} at "
                f"tie/kink points), {self.inconclusive} inconclusive FD components, "
                f"{self.tie_inconclusive} inconclusive tie directions, autograd unavailable "
                f"{self.autograd_unavailable}, invalid {self.invalid}; mismatches "
                f"{self.mismatches}, subgradient failures {self.subgradients}, adjoint errors "
                f"{self.adjoint_errors}, crashes {self.crashes} ({self.seconds:.1f} s)")


def _show(value):
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, np.ndarray):
        return f"np.array({np.asarray(value, dtype=float).tolist()!r})"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return repr(value)


def program_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


class _Loaded:
    """A generated module imported from a real file (adjoint reads source with inspect)."""

    def __init__(self, source, directory, name):
        self.path = os.path.join(directory, name + ".py")
        with open(self.path, "w", encoding="utf-8") as handle:
            handle.write(source)
        spec = importlib.util.spec_from_file_location(name, self.path)
        self.module = importlib.util.module_from_spec(spec)
        sys.modules[name] = self.module
        self.name = name
        spec.loader.exec_module(self.module)

    def close(self):
        sys.modules.pop(self.name, None)
        with contextlib.suppress(OSError):
            os.remove(self.path)


def _points(rng, params, min_len, count, shapes=None):
    """`count` random argument points. An array program's arrays (`shapes`, from its header)
    get one size per dimension name per point, drawn from DIM_SIZES."""
    points = []
    for _ in range(count):
        args = []
        sizes = {d: int(rng.integers(lo, hi + 1)) for d, (lo, hi) in DIM_SIZES.items()}
        for p in params:
            if shapes is not None and shapes[p]:
                shape = tuple(sizes[d] for d in shapes[p])
                args.append(np.round(rng.uniform(-1.2, 1.2, shape), 3))
            elif shapes is None and p == "x":
                n = int(rng.integers(min_len, min_len + 3))
                args.append(np.round(rng.uniform(-1.2, 1.2, n), 3))
            else:
                args.append(float(np.round(rng.uniform(-1.5, 1.5), 3)))
        points.append(tuple(args))
    return points


def _wrt(rng, params):
    n = len(params)
    roll = rng.random()
    if roll < 0.55:
        return tuple(range(n))
    if roll < 0.8 or n < 2:
        k = int(rng.integers(n))
        return params[k] if rng.random() < 0.3 else k
    k = sorted(rng.choice(n, size=2, replace=False).tolist())
    return tuple(k)


def _close(a, b, rtol, scale):
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + rtol * 1e-2 * scale


@dataclasses.dataclass
class Case:
    """Program `index` of campaign `seed`, with where to check it."""
    source: str
    wrt: object
    indices: list                 # the wrt argument indices
    points: list                  # argument tuples: random points
    tie: tuple | None             # (arguments, tied groups) of the tie/kink point, or None
    is_array: bool


def case(seed, index, avoid=tuple(KNOWN_BUGS), points=2):
    """Program `index` of campaign `seed`: its source, wrt, and the points to check it at."""
    import re
    source = generate(program_seed(seed, index), avoid)
    header = re.search(r"^def f\((.*)\):", source, re.MULTILINE).group(1)
    params = [p.strip() for p in header.split(",")]
    rng = np.random.default_rng([seed, index])
    wrt = _wrt(rng, params)
    indices = [params.index(w) if isinstance(w, str) else w
               for w in (wrt if isinstance(wrt, tuple) else (wrt,))]
    shapes = argument_shapes(source)
    regular = _points(rng, params, _min_len(source), points, shapes)
    tie = None
    if shapes is not None or re.search(r"\b(abs|min|max)\(", source):
        # a stream of its own: the regular points stay those of earlier campaigns
        tie = tie_point(np.random.default_rng([seed, index, 1]), source, regular[0])
    return Case(source, wrt, indices, regular, tie, shapes is not None)


def argument_shapes(source):
    """An array program's `# argument shapes: x (n,), A (m, n), p ()` header as a dict, or
    None for a scalar program."""
    import re
    found = re.match(r"# argument shapes: (.*)", source)
    if not found:
        return None
    return {name: tuple(d.strip() for d in dims.split(",") if d.strip())
            for name, dims in re.findall(r"(\w+) \(([^)]*)\)", found.group(1))}


def accidental_ties(args):
    """The groups of coordinates of a random point that happen to be equal (values are drawn
    to three decimals, so two of thousands of coordinates sometimes are): such a point sits
    on a tie as much as a made one does (np.minimum(y[::-1], p) with p equal to an element of
    y), and is checked as one, for a subgradient; None where no two are equal."""
    seen = {}
    for k, a in enumerate(args):
        for flat, v in enumerate(np.ravel(a)) if np.ndim(a) else [(0, a)]:
            seen.setdefault(float(v), []).append((k, flat))
    groups = [g for g in seen.values() if len(g) > 1]
    return groups or None


def tie_point(rng, source, base):
    """A point made from `base` where the program likely sits on a tie or a kink, and the
    groups of coordinates that were made equal: ((args), [[(argument, flat index), ...]]).

    One to three edits: an array element copied onto another of the same array (its largest
    or smallest element more often than not, so that max/min reductions tie; for a matrix,
    within a row or a column, the two axes of a reduction), an element of one argument
    copied onto another argument (np.maximum(x, y), a scalar against an element), an element
    or scalar set to 0.0 (abs, np.maximum(v, 0.0)) or to a constant the program's source
    contains (clip bounds, where thresholds)."""
    import re
    args = [np.array(a, dtype=float) if np.ndim(a) else float(a) for a in base]
    literals = sorted({abs(float(t)) for t in re.findall(r"\d+\.\d+", source.split("\n", 1)[1])})
    used, groups = set(), []

    def value(k, flat):
        return args[k].flat[flat] if np.ndim(args[k]) else args[k]

    def set_value(k, flat, v):
        if np.ndim(args[k]):
            args[k].flat[flat] = v
        else:
            args[k] = float(v)

    def coordinates(k):
        return [(k, flat) for flat in range(int(np.size(args[k])))]

    everything = [c for k in range(len(args)) for c in coordinates(k)]
    arrays = [k for k in range(len(args)) if np.ndim(args[k])]
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(["repeat", "repeat", "repeat", "across", "zero", "literal"])
        free = [c for c in everything if c not in used]
        if len(free) < 2:
            break
        if kind == "repeat" and arrays:
            k = int(rng.choice(arrays))
            a = args[k]
            extreme = rng.random()
            source_flat = int(np.argmax(a)) if extreme < 0.4 else \
                int(np.argmin(a)) if extreme < 0.7 else int(rng.integers(a.size))
            if a.ndim == 2 and rng.random() < 0.7:
                row, col = np.unravel_index(source_flat, a.shape)
                if rng.random() < 0.5:           # same row: a tie along axis 1
                    targets = [np.ravel_multi_index((row, c), a.shape) for c in range(a.shape[1])]
                else:                            # same column: along axis 0
                    targets = [np.ravel_multi_index((r, col), a.shape) for r in range(a.shape[0])]
            else:
                targets = list(range(a.size))
            targets = [int(t) for t in targets if t != source_flat and (k, int(t)) not in used]
            if not targets or (k, source_flat) in used:
                continue
            chosen = rng.choice(targets, size=min(len(targets), int(rng.integers(1, 3))),
                                replace=False)
            group = [(k, source_flat)] + [(k, int(t)) for t in chosen]
            for _, t in group[1:]:
                set_value(k, t, value(k, source_flat))
        elif kind == "across" and len(args) > 1:
            first, second = rng.choice(len(free), size=2, replace=False)
            (ka, fa), (kb, fb) = free[int(first)], free[int(second)]
            if ka == kb:
                continue
            set_value(kb, fb, value(ka, fa))
            group = [(ka, fa), (kb, fb)]
        else:
            k, flat = free[int(rng.integers(len(free)))]
            target = 0.0
            if kind == "literal" and literals:
                target = float(rng.choice(literals)) * float(rng.choice([1.0, -1.0]))
            set_value(k, flat, target)
            group = [(k, flat)]
        used.update(group)
        groups.append(group)
    return tuple(args), groups


def check_program(report, index, seed, targets, log, points=2, avoid=tuple(KNOWN_BUGS),
                  directory=None):
    """Generate, load and check program `index` of a campaign; updates `report`."""
    import adjoint
    from tests.oracles import autograd_gradient, finite_difference

    pseed = program_seed(seed, index)
    the_case = case(seed, index, avoid, points)
    source, wrt, wrt_indices = the_case.source, the_case.wrt, the_case.indices
    report.tried += 1
    report.array_programs += the_case.is_array
    name = f"adjoint_fuzz_{seed}_{index}"
    loaded = None

    def fail(kind, target, message, **extra):
        failure = Failure(index, pseed, kind, target, message, source, **extra)
        report.failures.append(failure)
        if kind == "mismatch" or kind == "targets_disagree":
            report.mismatches += 1
        elif kind == "subgradient":
            report.subgradients += 1
        elif kind == "adjoint_error":
            report.adjoint_errors += 1
        elif kind == "invalid":
            report.invalid += 1
        else:
            report.crashes += 1
        log(failure.describe())

    try:
        loaded = _Loaded(source, directory, name)
        f = loaded.module.f
        checked = [(args, accidental_ties(args)) for args in the_case.points]
        if the_case.tie is not None:
            checked.append(the_case.tie)
        args_list = []
        for args, ties in checked:
            try:
                value = f(*args)
            except Exception as exc:  # noqa: BLE001 (the generator made a bad program)
                fail("invalid", "-", f"the program itself raised {type(exc).__name__}: {exc}",
                     args=args, ties=ties)
                return
            if not (isinstance(value, float) and math.isfinite(value) and abs(value) < 1e8):
                fail("invalid", "-", f"the program returned {value!r}", args=args, ties=ties)
                return
            args_list.append((args, value, ties))

        oracles = []
        for args, value, ties in args_list:
            if ties is None:
                oracles.append(_oracles(f, args, wrt_indices, value, report,
                                        autograd_gradient, finite_difference))
            else:
                oracles.append(_autograd_parts(f, args, wrt_indices, report, autograd_gradient))

        results = {}
        for target in targets:
            began = time.perf_counter()
            try:
                g = adjoint.grad(f, wrt=wrt, target=target)
            except adjoint.AdjointError as exc:
                fail("adjoint_error", target, f"grad() raised AdjointError: {exc}", wrt=wrt)
                continue
            except Exception:  # noqa: BLE001
                fail("crash", target, f"grad() crashed:\n{traceback.format_exc()}", wrt=wrt)
                continue
            report.compiled[target] = report.compiled.get(target, 0) + 1
            report.slowest.append((time.perf_counter() - began, index, target))
            report.slowest = sorted(report.slowest, reverse=True)[:5]
            for point, ((args, value, ties), oracle) in enumerate(zip(args_list, oracles)):
                try:
                    got = g(*args)
                except adjoint.AdjointError as exc:
                    fail("adjoint_error", target, f"the gradient raised AdjointError: {exc}",
                         args=args, wrt=wrt, ties=ties)
                    break
                except Exception:  # noqa: BLE001
                    fail("crash", target, f"the gradient crashed:\n{traceback.format_exc()}",
                         args=args, wrt=wrt, ties=ties)
                    break
                report.points += 1
                parts = got if isinstance(wrt, tuple) else (got,)
                kind = "mismatch"
                if not isinstance(parts, tuple) or len(parts) != len(wrt_indices):
                    problem = (f"a tuple wrt of {len(wrt_indices)} gave {got!r}", None)
                else:
                    problem = _check_types(parts, args, wrt_indices)
                    if problem is None and ties is None:
                        problem = _compare(parts, oracle, args, wrt_indices, value, report)
                    elif problem is None:
                        report.tie_points += 1
                        kind = "subgradient"
                        problem = check_subgradient(f, args, wrt_indices, parts, ties,
                                                    np.random.default_rng([seed, index, 2]),
                                                    witness=oracle, report=report)
                if problem:
                    message, expected = problem
                    fail(kind, target, message, args=args, wrt=wrt, expected=expected,
                         got=got, ties=ties)
                    break
                results.setdefault(point, {})[target] = parts
        for point, by_target in results.items():
            if len(by_target) == 2:
                (ta, ga), (tb, gb) = by_target.items()
                for pa, pb in zip(ga, gb):
                    pa, pb = np.ravel(pa), np.ravel(pb)
                    scale = max(1.0, float(np.max(np.abs(pa))) if pa.size else 1.0)
                    if not all(_close(u, v, 1e-9, scale) for u, v in zip(pa, pb)):
                        fail("targets_disagree", f"{ta}/{tb}", "the two targets disagree",
                             args=args_list[point][0], wrt=wrt, expected=ga, got=gb,
                             ties=args_list[point][2])
                        break
    except Exception:  # noqa: BLE001
        fail("crash", "-", f"the harness crashed:\n{traceback.format_exc()}")
    finally:
        if loaded is not None:
            loaded.close()


def _min_len(source):
    """The shortest array the program accepts: the generator writes it in a first comment."""
    import re
    found = re.match(r"# x has at least (\d+) elements", source)
    return int(found.group(1)) if found else 0


def _oracles(f, args, wrt_indices, value, report, autograd_gradient, finite_difference):
    out = []
    for w in wrt_indices:
        fds = [np.ravel(np.asarray(finite_difference(f, args, w, h=h), dtype=float)) for h in STEPS]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ag = np.ravel(np.asarray(autograd_gradient(f, args, w), dtype=float))
        except Exception:  # noqa: BLE001
            ag = None
            report.autograd_unavailable += 1
        out.append((fds, ag))
    return out


def _compare(parts, oracle, args, wrt_indices, value, report):
    """None when the gradient passes, else (message, expected)."""
    problem = _check_types(parts, args, wrt_indices)
    if problem:
        return problem
    for w, part, (fds, ag) in zip(wrt_indices, parts, oracle):
        scalar = np.ndim(args[w]) == 0
        got = np.ravel(np.asarray(part, dtype=float))
        if not np.all(np.isfinite(got)):
            return f"gradient wrt argument {w} is not finite", ag
        reference = [abs(value), float(np.max(np.abs(got)))]
        if ag is not None:
            reference.append(float(np.max(np.abs(ag))) if ag.size else 0.0)
        scale = max([1.0] + reference)
        for k in range(got.size):
            fd1, fd2 = fds[0][k], fds[1][k]
            consistent = _close(fd1, fd2, FD_RTOL, scale)
            fd_agrees = _close(got[k], fd2, FD_RTOL, scale) or _close(got[k], fd1, FD_RTOL, scale)
            if not consistent:
                report.inconclusive += 1
            if ag is not None:
                if _close(got[k], ag[k], EXACT_RTOL, scale):
                    continue
                if consistent and fd_agrees:
                    continue                   # autograd's twin differs; differences vouch
                expected = ag if scalar else ag.reshape(np.shape(args[w]))
                return (f"gradient wrt argument {w}, component {k}: adjoint {got[k]!r}, autograd "
                        f"{ag[k]!r}, finite differences {fd1!r} / {fd2!r}"), \
                    (float(ag[0]) if scalar else expected)
            elif consistent and not fd_agrees:
                return (f"gradient wrt argument {w}, component {k}: adjoint {got[k]!r}, finite "
                        f"differences {fd1!r} / {fd2!r} (autograd unavailable)"), \
                    (float(fd2) if scalar else fds[1].reshape(np.shape(args[w])))
    return None


def _check_types(parts, args, wrt_indices):
    """None when each part has its argument's type and shape and is finite, else (message,
    None)."""
    for w, part in zip(wrt_indices, parts):
        scalar = np.ndim(args[w]) == 0
        if scalar and not isinstance(part, float):
            return f"gradient wrt argument {w} is a {type(part).__name__}, not a float", None
        if not scalar and (not isinstance(part, np.ndarray) or part.shape != np.shape(args[w])):
            return f"gradient wrt argument {w} has the wrong type/shape: {part!r}", None
        if not np.all(np.isfinite(np.asarray(part, dtype=float))):
            return f"gradient wrt argument {w} is not finite", None
    return None


def _autograd_parts(f, args, wrt_indices, report, autograd_gradient):
    """autograd's gradient at a tie point, one flat array per wrt argument, or None."""
    parts = []
    for w in wrt_indices:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                g = np.asarray(autograd_gradient(f, args, w), dtype=float)
        except Exception:  # noqa: BLE001
            report.autograd_unavailable += 1
            return None
        parts.append(np.ravel(g) if g.shape else np.zeros(np.size(args[w])) + float(g))
    return parts


# --- tie and kink points: subgradients ---------------------------------------------------------

def one_sided(F, z, direction, step):
    """The left and right derivatives of F at z along `direction`, each a second-order
    one-sided difference quotient (exact on quadratics, so O(h^2) on smooth pieces):
    D+ = (-3 F(z) + 4 F(z + h v) - F(z + 2h v)) / 2h, D- the mirror image."""
    h = step * max(1.0, float(np.max(np.abs(z[direction != 0]))) if np.any(direction) else 1.0)
    f0 = F(z)
    right = (-3.0 * f0 + 4.0 * F(z + h * direction) - F(z + 2 * h * direction)) / (2 * h)
    left = (3.0 * f0 - 4.0 * F(z - h * direction) + F(z - 2 * h * direction)) / (2 * h)
    return left, right


def check_subgradient(f, args, wrt_indices, parts, ties, rng, witness=None, report=None):
    """None when `parts` (the gradient wrt the arguments `wrt_indices` at `args`) passes the
    subgradient test, else (message, None). See the module docstring for the test.

    witness: another rule set's gradient at the same point (autograd's, one flat array per
    wrt argument) or None; a direction it fails too is inconclusive, not a failure."""
    sizes = [int(np.size(args[w])) for w in wrt_indices]
    offsets = np.cumsum([0] + sizes)
    z0 = np.concatenate([np.ravel(np.asarray(args[w], dtype=float)) for w in wrt_indices])
    g = np.concatenate([np.ravel(np.asarray(p, dtype=float)) for p in parts])
    other = None if witness is None else np.concatenate(witness)

    def F(z):
        full = list(args)
        for w, lo, hi in zip(wrt_indices, offsets[:-1], offsets[1:]):
            full[w] = float(z[lo]) if np.ndim(args[w]) == 0 else \
                z[lo:hi].reshape(np.shape(args[w])).copy()
        return float(f(*full))

    def coordinate(arg, flat):
        if arg not in wrt_indices:
            return None
        return int(offsets[wrt_indices.index(arg)] + flat)

    directions = []
    for k in range(z0.size):
        w = int(np.searchsorted(offsets, k, side="right") - 1)
        unit = np.zeros(z0.size)
        unit[k] = 1.0
        directions.append((f"coordinate {k - offsets[w]} of argument {wrt_indices[w]}", unit))
    for group in ties:
        members = [c for c in (coordinate(a, flat) for a, flat in group) if c is not None]
        if len(members) > 1:
            together = np.zeros(z0.size)
            together[members] = 1.0
            directions.append((f"the tied coordinates {group} together", together))
            mixed = np.zeros(z0.size)
            mixed[members] = rng.normal(size=len(members))
            directions.append((f"a random mix of the tied coordinates {group}", mixed))
    for _ in range(RANDOM_DIRECTIONS):
        directions.append(("a random direction", rng.normal(size=z0.size)))

    f0 = F(z0)
    scale = max(1.0, abs(f0), float(np.max(np.abs(g))) if g.size else 0.0)
    for label, v in directions:
        quotients = [one_sided(F, z0, v, step) for step in ONE_SIDED_STEPS]
        (left1, right1), (left2, right2) = quotients
        if not (_close(left1, left2, FD_RTOL, scale) and _close(right1, right2, FD_RTOL, scale)):
            if report is not None:
                report.tie_inconclusive += 1      # a jump, or another kink within the steps
            continue
        low, high = min(left2, right2), max(left2, right2)
        tolerance = FD_RTOL * (max(abs(low), abs(high)) + 1e-2 * scale)

        slope = float(g @ v)
        if low - tolerance <= slope <= high + tolerance:
            continue
        if other is not None and not low - tolerance <= float(other @ v) <= high + tolerance:
            if report is not None:
                report.tie_inconclusive += 1      # no rule set here gives a subgradient
            continue
        shown = np.round(v, 3).tolist() if label == "a random direction" or "mix" in label else ""
        return (f"along {label} {shown}: the gradient's slope {slope!r} lies outside "
                f"[D-, D+] = [{left2!r}, {right2!r}] (one-sided derivatives"
                + (f"; autograd's slope {float(other @ v)!r})" if other is not None else ")")), None
    return None


# --- reducing a failure ---------------------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def signature(source, args, wrt, target="python", directory=None, seconds=20, ties=None):
    """What goes wrong with `source` at `args`: None when nothing does, else a short string
    (the error's type and first line, "mismatch", or "subgradient" at a tie point: `ties`,
    its tied groups) that a reduced program must keep.
    None too when checking takes over `seconds` (a reduction can make a loop endless)."""
    import signal
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return _signature(source, args, wrt, target, directory, ties)
    except _Timeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _signature(source, args, wrt, target, directory, ties=None):
    import adjoint
    from tests.oracles import autograd_gradient, finite_difference
    directory = directory or tempfile.gettempdir()
    signature.count = getattr(signature, "count", 0) + 1
    name = f"adjoint_fuzz_reduce_{os.getpid()}_{signature.count}"
    try:
        loaded = _Loaded(source, directory, name)
    except Exception:  # noqa: BLE001
        return None
    try:
        f = getattr(loaded.module, "f", None)
        if f is None:
            return None
        try:
            value = f(*args)
        except Exception:  # noqa: BLE001
            return None
        if not (isinstance(value, float) and math.isfinite(value)):
            return None
        try:
            g = adjoint.grad(f, wrt=wrt, target=target)
            got = g(*args)
        except Exception as exc:  # noqa: BLE001
            import re
            first = str(exc).splitlines()[0] if str(exc) else ""
            first = re.sub(r"^.*?:[0-9]+:[0-9]+: ", "", first)      # the user's file:line:col
            first = first.split(", location:")[0]                    # numba's: our file
            first = re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'_'", first))   # names, numbers
            return f"{type(exc).__name__}: {first}"
        params = list(f.__code__.co_varnames[:f.__code__.co_argcount])
        indices = [params.index(w) if isinstance(w, str) else w
                   for w in (wrt if isinstance(wrt, tuple) else (wrt,))]
        parts = got if isinstance(wrt, tuple) else (got,)
        report = Report(seed=0)
        if ties is not None:
            if _check_types(parts, args, indices):
                return "mismatch"
            witness = _autograd_parts(f, args, indices, report, autograd_gradient)
            problem = check_subgradient(f, args, indices, parts, ties,
                                        np.random.default_rng(0), witness)
            return "subgradient" if problem else None
        oracle = _oracles(f, args, indices, value, report, autograd_gradient, finite_difference)
        return "mismatch" if _compare(parts, oracle, args, indices, value, report) else None
    finally:
        loaded.close()


def reduce_program(source, keep, log=lambda text: None):
    """Delete statements and replace expressions by their parts while `keep(source)` holds.

    A greedy pass over the AST, repeated until nothing more can go: a statement is deleted
    (or an if/for/while replaced by its body), an expression replaced by one of its operands
    or by 0.5. The result usually needs a last polish by hand."""
    import ast

    def candidates(tree):
        for node in ast.walk(tree):
            for field in ("body", "orelse"):
                stmts = getattr(node, field, None)
                if not isinstance(stmts, list) or not stmts or not isinstance(stmts[0], ast.stmt):
                    continue
                for k, stmt in enumerate(stmts):
                    yield ("delete", node, field, k, None)
                    if isinstance(stmt, (ast.If, ast.For, ast.While)):
                        yield ("unwrap", node, field, k, "body")
                        if isinstance(stmt, ast.If) and stmt.orelse:
                            yield ("unwrap", node, field, k, "orelse")
        for node in ast.walk(tree):
            for field, value in ast.iter_fields(node):
                items = value if isinstance(value, list) else [value]
                for k, child in enumerate(items):
                    if isinstance(getattr(child, "ctx", None), ast.Store):
                        continue                  # an assignment's target (z[i] = ...)
                    if isinstance(child, (ast.BinOp, ast.UnaryOp, ast.Call, ast.IfExp,
                                          ast.BoolOp, ast.Compare, ast.Subscript)):
                        parts = [c for c in ast.iter_child_nodes(child) if isinstance(c, ast.expr)
                                 and not (isinstance(child, ast.Call) and c is child.func)]
                        for part in parts + [ast.Constant(0.5)]:
                            yield ("replace", node, field, k if isinstance(value, list) else None,
                                   part)

    def apply(tree, change):
        action, node, field, k, extra = change
        if action == "delete":
            stmts = getattr(node, field)
            del stmts[k]
            if not stmts and field == "body":
                stmts.append(ast.Pass())
        elif action == "unwrap":
            stmts = getattr(node, field)
            stmts[k:k + 1] = getattr(stmts[k], extra) or [ast.Pass()]
        else:
            if k is None:
                setattr(node, field, extra)
            else:
                getattr(node, field)[k] = extra

    best, i, progress = source, 0, False
    while True:
        tree = ast.parse(best)
        changes = list(candidates(tree))
        if i >= len(changes):
            if not progress:
                return best
            i, progress = 0, False
            continue
        try:
            apply(tree, changes[i])
            text = ast.unparse(tree) + "\n"
        except Exception:  # noqa: BLE001
            text = best
        if len(text) < len(best) and keep(text):
            best, progress = text, True
            log(f"reduced to {len(best)} characters")
        else:
            i += 1


def run_campaign(seed, count, targets=("python", "cpu"), log=print, *, cpu_every=1, start=0,
                 points=2, avoid=tuple(KNOWN_BUGS), fail_fast=False,
                 array_cpu_every=None) -> Report:
    """Check programs start .. start+count-1 of campaign `seed`.

    cpu_every: the cpu target (a numba compilation, ~0.3-3 s each for a scalar program) runs
    on the programs whose index is a multiple of cpu_every only; the python target runs on
    all of them. array_cpu_every: the same for array programs (numba takes ~10-30 s on one),
    cpu_every unless given.
    """
    report = Report(seed=seed)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="adjoint-fuzz-") as directory:
        sys.path.insert(0, directory)
        try:
            for index in range(start, start + count):
                every = cpu_every
                if array_cpu_every is not None and is_array_program(program_seed(seed, index)):
                    every = array_cpu_every
                chosen = tuple(t for t in targets if t != "cpu" or index % every == 0)
                before = len(report.failures)
                check_program(report, index, seed, chosen, log, points=points, avoid=avoid,
                              directory=directory)
                if fail_fast and len(report.failures) > before:
                    break
        finally:
            sys.path.remove(directory)
    report.seconds = time.perf_counter() - began
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fuzzing",
                                     description="Differential fuzzing of adjoint.grad")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0, help="first program index")
    parser.add_argument("--targets", default="python,cpu")
    parser.add_argument("--cpu-every", type=int, default=3,
                        help="run the cpu (numba) target on every K-th program (default 3)")
    parser.add_argument("--array-cpu-every", type=int, default=None,
                        help="the same for array programs (default: --cpu-every)")
    parser.add_argument("--points", type=int, default=2, help="argument points per program")
    parser.add_argument("--show", type=int, metavar="INDEX",
                        help="print program INDEX of the campaign and exit")
    parser.add_argument("--reduce", type=int, metavar="INDEX",
                        help="shrink failing program INDEX of the campaign and print it")
    parser.add_argument("--allow-known", action="store_true",
                        help="also generate the constructs of KNOWN_BUGS (avoided by default)")
    parser.add_argument("--fail-fast", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="print failures only")
    options = parser.parse_args(argv)
    avoid = () if options.allow_known else tuple(KNOWN_BUGS)
    options.avoid = avoid
    if options.show is not None:
        print(generate(program_seed(options.seed, options.show), avoid), end="")
        return 0
    warnings.simplefilter("ignore")
    if options.reduce is not None:
        return _reduce_main(options)
    progress = [0]

    def log(text):
        print(text, flush=True)

    targets = tuple(t for t in options.targets.split(",") if t)
    report = Report(seed=options.seed)
    began = time.perf_counter()
    chunk = 50
    for first in range(options.start, options.start + options.count, chunk):
        n = min(chunk, options.start + options.count - first)
        part = run_campaign(options.seed, n, targets, log, cpu_every=options.cpu_every,
                            start=first, points=options.points, avoid=avoid,
                            fail_fast=options.fail_fast,
                            array_cpu_every=options.array_cpu_every)
        _add(report, part)
        progress[0] += n
        if not options.quiet:
            report.seconds = time.perf_counter() - began
            print(f"... {progress[0]} programs so far: {report.summary()}", flush=True)
        if options.fail_fast and part.failures:
            break
    report.seconds = time.perf_counter() - began
    print(report.summary())
    return 0 if report.ok else 1


def _reduce_main(options):
    the_case = case(options.seed, options.reduce, options.avoid, options.points)
    source, wrt = the_case.source, the_case.wrt
    checked = [(args, None) for args in the_case.points] + \
        ([the_case.tie] if the_case.tie is not None else [])
    with tempfile.TemporaryDirectory(prefix="adjoint-reduce-") as directory:
        for target in options.targets.split(","):
            for args, ties in checked:
                found = signature(source, args, wrt, target, directory, ties=ties)
                if found is None:
                    continue
                print(f"# {target}, wrt={wrt!r}, args={_show(args)}"
                      + (f", tied {ties}" if ties else "") + f": {found}", flush=True)
                def keep(text, args=args, target=target, found=found, ties=ties):
                    return _well_formed(text) and \
                        signature(text, args, wrt, target, directory, ties=ties) == found
                small = reduce_program(source, keep, log=lambda text: print(text, flush=True))
                print(small)
                return 1
    print("program", options.reduce, "passes")
    return 0


def _well_formed(text):
    """A reduction keeps every function ending in a return (falling off the end returns None,
    which the compiler rightly does not model)."""
    import ast
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return False
    return all(isinstance(n.body[-1], ast.Return) for n in tree.body
               if isinstance(n, ast.FunctionDef))


def _add(total, part):
    for field in ("tried", "array_programs", "points", "tie_points", "inconclusive",
                  "tie_inconclusive", "autograd_unavailable", "invalid", "mismatches",
                  "subgradients", "adjoint_errors", "crashes"):
        setattr(total, field, getattr(total, field) + getattr(part, field))
    for t, n in part.compiled.items():
        total.compiled[t] = total.compiled.get(t, 0) + n
    total.failures += part.failures


if __name__ == "__main__":
    sys.exit(main())
