"""Check a gradient against central finite differences, one component at a time.

    from adjoint.testing import check_grad, assert_grad
    print(check_grad(f4, [1.0, 2.0, 3.0, 4.0]).table())
    assert_grad(f, 1.0, 2.0, wrt=(0, 1), target="python")

Each component x_i of each argument named by `wrt` is moved by a step h scaled to its value
(h = 1e-6 * max(1, |x_i|) unless `eps` is given) and compared with adjoint's gradient:

    finite difference = (f(.., x_i + h, ..) - f(.., x_i - h, ..)) / (2 h)

A component agrees when |adjoint - fd| <= atol + rtol * max(|adjoint|, |fd|) (and both are
finite). The function is evaluated as plain Python for the differences, whatever the target.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

__all__ = ["check_grad", "assert_grad", "GradCheck", "GradCheckRow"]


@dataclasses.dataclass(frozen=True)
class GradCheckRow:
    """One gradient component: its label (`x`, `x[2]`), both values and how far apart."""

    label: str
    adjoint: float
    finite_difference: float
    rel_error: float
    ok: bool


@dataclasses.dataclass
class GradCheck:
    """The outcome of `check_grad`: `.rows`, `.ok`, and `.table()` for people."""

    name: str
    rows: list
    rtol: float
    atol: float
    target: str

    @property
    def ok(self) -> bool:
        return all(row.ok for row in self.rows)

    @property
    def mismatches(self) -> list:
        return [row for row in self.rows if not row.ok]

    def table(self) -> str:
        header = ("component", "adjoint", "finite difference", "rel. error", "")
        body = [(r.label, _number(r.adjoint), _number(r.finite_difference), f"{r.rel_error:.1e}",
                 "ok" if r.ok else "MISMATCH") for r in self.rows]
        widths = [max(len(line[i]) for line in [header] + body) for i in range(len(header))]
        lines = []
        for line in [header] + body:
            cells = [line[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(line[1:4], widths[1:4])]
            lines.append("  ".join(cells + [line[4]]).rstrip())
        bad = len(self.mismatches)
        tolerance = f"rtol={self.rtol:g}, atol={self.atol:g}, target {self.target}"
        if bad:
            differ = "its component differs" if len(self.rows) == 1 else \
                f"{bad} of {len(self.rows)} components differ"
            lines.append(f"gradient of {self.name}: {differ} from finite differences ({tolerance})")
        else:
            agree = "its component agrees" if len(self.rows) == 1 else \
                f"all {len(self.rows)} components agree"
            lines.append(f"gradient of {self.name}: {agree} with finite differences ({tolerance})")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.table()


def check_grad(fn, *args, wrt=0, target="cpu", rtol=1e-5, atol=1e-7, eps=None,
               debug=True) -> GradCheck:
    """Compare adjoint's gradient of `fn` at `args` with central finite differences.

    `wrt` is an argument index or name, or a tuple of them, as in `adjoint.grad`. Array
    arguments are checked element by element. `eps` fixes the step; by default it is
    1e-6 * max(1, |x_i|) for each component. `debug` (on by default: a check is a debugging
    run) compiles the gradient with bounds checks, so that an index outside an array is an
    IndexError at the user's line instead of a read or write outside it (see `adjoint.grad`;
    the cuda target has no bounds checks).
    """
    from .api.gradient import GradientFunction

    primal = getattr(fn, "__adjoint_function__", fn)
    gradient = GradientFunction(primal, wrt, target=target, debug=debug and target != "cuda")
    names = list(gradient._arg_names)
    values = [_copy_argument(name, value, name in gradient.wrt) for name, value in zip(names, args)]
    result = gradient(*args)
    grads = result if len(gradient.wrt) > 1 else (result,)

    def evaluate(arguments):
        return float(primal(*arguments))

    rows = []
    for name, computed in zip(gradient.wrt, grads):
        index = names.index(name)
        point = values[index]
        computed = np.asarray(computed, dtype=np.float64)
        if np.ndim(point) == 0:
            components = [((), name)]
        else:
            components = [(i, f"{name}[{', '.join(map(str, i))}]") for i in np.ndindex(np.shape(point))]
        for position, label in components:
            base = float(point[position]) if position != () else float(point)
            step = eps if eps is not None else 1e-6 * max(1.0, abs(base))
            shifted = []
            for sign in (1.0, -1.0):
                arguments = [v.copy() if isinstance(v, np.ndarray) else v for v in values]
                if position == ():
                    arguments[index] = base + sign * step
                else:
                    arguments[index][position] = base + sign * step
                shifted.append(evaluate(arguments))
            fd = (shifted[0] - shifted[1]) / (2.0 * step)
            value = float(computed[position]) if position != () else float(computed)
            rows.append(_row(label, value, fd, rtol, atol))
    return GradCheck(name=getattr(primal, "__name__", repr(primal)), rows=rows, rtol=rtol,
                     atol=atol, target=target)


def assert_grad(fn, *args, wrt=0, target="cpu", rtol=1e-5, atol=1e-7, eps=None,
                debug=True) -> GradCheck:
    """`check_grad`, raising AssertionError with the table when a component disagrees."""
    result = check_grad(fn, *args, wrt=wrt, target=target, rtol=rtol, atol=atol, eps=eps, debug=debug)
    if not result.ok:
        raise AssertionError("adjoint gradient differs from finite differences\n" + result.table())
    return result


def _copy_argument(name, value, differentiated):
    if isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) > 0:
        array = np.array(value)
        return array.astype(np.float64) if differentiated else array
    if differentiated:
        return float(value)
    return value


def _row(label, value, fd, rtol, atol) -> GradCheckRow:
    diff = abs(value - fd)
    scale = max(abs(value), abs(fd))
    finite = math.isfinite(value) and math.isfinite(fd)
    rel = diff / scale if scale > 0 else (0.0 if diff == 0 else math.inf)
    if not finite:
        rel = 0.0 if value == fd else math.nan
    ok = finite and diff <= atol + rtol * scale
    return GradCheckRow(label=label, adjoint=value, finite_difference=fd, rel_error=rel, ok=ok)


def _number(x: float) -> str:
    return f"{x:.10g}"
