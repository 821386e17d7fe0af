"""A differential fuzzer: random programs in the supported subset, adjoint against oracles.

    report = run_campaign(seed=1, count=1000)          # or: python -m tests.fuzzing --seed 1
    report.ok, report.mismatches, report.failures[0].source

The programs come from `generate(seed)` (tests/fuzz_programs.py, which describes their
grammar); a seed names a program for good. Constructs that hit a known compiler bug
(`KNOWN_BUGS`) are not generated unless asked (`--allow-known`), so a campaign's failures
are new bugs.

Each program is imported from a temporary file (the compiler reads source with inspect) and,
at a few random points, its gradient from `adjoint.grad` on each target is compared with

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

from tests.fuzz_programs import KNOWN_BUGS, generate

STEPS = (1e-5, 1e-6)            # the two finite-difference steps (relative)
FD_RTOL = 1e-4                  # differences vs each other and vs adjoint
EXACT_RTOL = 1e-7               # adjoint vs autograd, and python vs cpu: round-off only


# --- checking one program -----------------------------------------------------------------------

@dataclasses.dataclass
class Failure:
    index: int
    seed: int                     # the program's own seed: generate(seed) rebuilds it
    kind: str                     # mismatch | adjoint_error | crash | targets_disagree
    target: str
    message: str
    source: str
    args: tuple = ()
    wrt: object = None
    expected: object = None
    got: object = None

    def describe(self) -> str:
        lines = [(f"[{self.kind}] program #{self.index} (seed {self.seed}) target={self.target} "
                  f"wrt={self.wrt!r}"), f"  {self.message}"]
        if self.args:
            lines.append(f"  args: {_show(self.args)}")
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
    points: int = 0               # (program, point, target) gradients compared
    inconclusive: int = 0         # components where the two differences disagreed (kinks)
    autograd_unavailable: int = 0
    invalid: int = 0              # programs whose own evaluation failed (a generator defect)
    mismatches: int = 0
    adjoint_errors: int = 0
    crashes: int = 0
    failures: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    slowest: list = dataclasses.field(default_factory=list)   # (seconds in grad(), index, target)

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.adjoint_errors or self.crashes or self.invalid)

    def summary(self) -> str:
        compiled = ", ".join(f"{t} {n}" for t, n in self.compiled.items())
        return (f"seed {self.seed}: {self.tried} programs, compiled ({compiled}), "
                f"{self.points} gradients compared, {self.inconclusive} inconclusive FD "
                f"components, autograd unavailable {self.autograd_unavailable}, "
                f"invalid {self.invalid}; mismatches {self.mismatches}, adjoint errors "
                f"{self.adjoint_errors}, crashes {self.crashes} ({self.seconds:.1f} s)")


def _show(value):
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, np.ndarray):
        return "np.array([" + ", ".join(repr(float(v)) for v in value.ravel()) + "])"
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


def _points(rng, params, min_len, count):
    points = []
    for _ in range(count):
        args = []
        for p in params:
            if p == "x":
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
    if roll < 0.8:
        k = int(rng.integers(n))
        return params[k] if rng.random() < 0.3 else k
    k = sorted(rng.choice(n, size=2, replace=False).tolist())
    return tuple(k)


def _close(a, b, rtol, scale):
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + rtol * 1e-2 * scale


def case(seed, index, avoid=tuple(KNOWN_BUGS), points=2):
    """Program `index` of campaign `seed`: (source, wrt, wrt indices, argument points)."""
    import re
    source = generate(program_seed(seed, index), avoid)
    header = re.search(r"^def f\((.*)\):", source, re.MULTILINE).group(1)
    params = [p.strip() for p in header.split(",")]
    rng = np.random.default_rng([seed, index])
    wrt = _wrt(rng, params)
    indices = [params.index(w) if isinstance(w, str) else w
               for w in (wrt if isinstance(wrt, tuple) else (wrt,))]
    return source, wrt, indices, _points(rng, params, _min_len(source), points)


def check_program(report, index, seed, targets, log, points=2, avoid=tuple(KNOWN_BUGS),
                  directory=None):
    """Generate, load and check program `index` of a campaign; updates `report`."""
    import adjoint
    from tests.oracles import autograd_gradient, finite_difference

    pseed = program_seed(seed, index)
    source = generate(pseed, avoid)
    report.tried += 1
    name = f"adjoint_fuzz_{seed}_{index}"
    loaded = None

    def fail(kind, target, message, **extra):
        failure = Failure(index, pseed, kind, target, message, source, **extra)
        report.failures.append(failure)
        if kind == "mismatch" or kind == "targets_disagree":
            report.mismatches += 1
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
        _, wrt, wrt_indices, points_ = case(seed, index, avoid, points)
        args_list = []
        for args in points_:
            try:
                value = f(*args)
            except Exception as exc:  # noqa: BLE001 (the generator made a bad program)
                fail("invalid", "-", f"the program itself raised {type(exc).__name__}: {exc}",
                     args=args)
                return
            if not (isinstance(value, float) and math.isfinite(value) and abs(value) < 1e8):
                fail("invalid", "-", f"the program returned {value!r}", args=args)
                return
            args_list.append((args, value))

        oracles = []
        for args, value in args_list:
            oracles.append(_oracles(f, args, wrt_indices, value, report,
                                    autograd_gradient, finite_difference))

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
            for point, ((args, value), oracle) in enumerate(zip(args_list, oracles)):
                try:
                    got = g(*args)
                except adjoint.AdjointError as exc:
                    fail("adjoint_error", target, f"the gradient raised AdjointError: {exc}",
                         args=args, wrt=wrt)
                    break
                except Exception:  # noqa: BLE001
                    fail("crash", target, f"the gradient crashed:\n{traceback.format_exc()}",
                         args=args, wrt=wrt)
                    break
                report.points += 1
                parts = got if isinstance(wrt, tuple) else (got,)
                if not isinstance(parts, tuple) or len(parts) != len(wrt_indices):
                    problem = (f"a tuple wrt of {len(wrt_indices)} gave {got!r}", None)
                else:
                    problem = _compare(parts, oracle, args, wrt_indices, value, report)
                if problem:
                    message, expected = problem
                    fail("mismatch", target, message, args=args, wrt=wrt, expected=expected,
                         got=got)
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
                             args=args_list[point][0], wrt=wrt, expected=ga, got=gb)
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
    for w, part, (fds, ag) in zip(wrt_indices, parts, oracle):
        scalar = np.ndim(args[w]) == 0
        if scalar and not isinstance(part, float):
            return f"gradient wrt argument {w} is a {type(part).__name__}, not a float", None
        if not scalar and (not isinstance(part, np.ndarray) or part.shape != np.shape(args[w])):
            return f"gradient wrt argument {w} has the wrong type/shape: {part!r}", None
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


# --- reducing a failure ---------------------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def signature(source, args, wrt, target="python", directory=None, seconds=20):
    """What goes wrong with `source` at `args`: None when nothing does, else a short string
    (the error's type and first line, or "mismatch") that a reduced program must keep.
    None too when checking takes over `seconds` (a reduction can make a loop endless)."""
    import signal
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return _signature(source, args, wrt, target, directory)
    except _Timeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _signature(source, args, wrt, target, directory):
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
                 points=2, avoid=tuple(KNOWN_BUGS), fail_fast=False) -> Report:
    """Check programs start .. start+count-1 of campaign `seed`.

    cpu_every: the cpu target (a numba compilation, ~0.3 s each) runs on every cpu_every-th
    program only; the python target runs on all of them.
    """
    report = Report(seed=seed)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="adjoint-fuzz-") as directory:
        sys.path.insert(0, directory)
        try:
            for index in range(start, start + count):
                chosen = tuple(t for t in targets if t != "cpu" or index % cpu_every == 0)
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
                            fail_fast=options.fail_fast)
        _add(report, part)
        progress[0] += n
        if not options.quiet:
            print(f"... {progress[0]} programs, {len(report.failures)} failures, "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
        if options.fail_fast and part.failures:
            break
    report.seconds = time.perf_counter() - began
    print(report.summary())
    return 0 if report.ok else 1


def _reduce_main(options):
    source, wrt, _, points = case(options.seed, options.reduce, options.avoid, options.points)
    with tempfile.TemporaryDirectory(prefix="adjoint-reduce-") as directory:
        for target in options.targets.split(","):
            for args in points:
                found = signature(source, args, wrt, target, directory)
                if found is None:
                    continue
                print(f"# {target}, wrt={wrt!r}, args={_show(args)}: {found}", flush=True)
                def keep(text, args=args, target=target, found=found):
                    return _well_formed(text) and \
                        signature(text, args, wrt, target, directory) == found
                small = reduce_program(source, keep, log=lambda text: print(text, flush=True))
                print(small)
                return 1
    print("program", options.reduce, "passes")
    return 0


def _well_formed(text):
    """A reduction keeps every function ending in a return (falling off the end returns None,
    which the compiler rightly does not model)."""
    import ast
    return all(isinstance(n.body[-1], ast.Return) for n in ast.parse(text).body
               if isinstance(n, ast.FunctionDef))


def _add(total, part):
    for field in ("tried", "points", "inconclusive", "autograd_unavailable", "invalid",
                  "mismatches", "adjoint_errors", "crashes"):
        setattr(total, field, getattr(total, field) + getattr(part, field))
    for t, n in part.compiled.items():
        total.compiled[t] = total.compiled.get(t, 0) + n
    total.failures += part.failures


if __name__ == "__main__":
    sys.exit(main())
