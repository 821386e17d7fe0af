"""Derivatives built from the two transformations: jvp, vjp, jacobian, hessian, hvp.

    adjoint.jvp(f)(x, v)          ->  (f(x), J v)         forward mode, one run
    adjoint.vjp(f)(x, u)          ->  u^T J               reverse mode, one run
    adjoint.jacobian(f)(x)        ->  J                   columns by jvp or rows by vjp
    adjoint.hvp(f)(x, v)          ->  H v                 forward over reverse
    adjoint.hessian(f)(x)         ->  H                   one hvp per input component

Forward over reverse works because the emitted gradient is itself plain Python in the
subset adjoint differentiates (closure): its source is transformed again in forward mode.
"""

from __future__ import annotations

import functools

import numpy as np

from ..errors import AdjointArgumentError, AdjointError
from ..pipeline import wrt_names
from .arguments import bind_call, data_values, parameters
from .gradient import GradientFunction
from .presented import Presented


def jvp(fn, wrt=0, *, target="cpu", jit_options=None, cache=None, debug=False):
    """Forward mode: `g = jvp(f, wrt)`, then `g(*args, *tangents) -> (value, tangent)`, f's value
    and its directional derivative J @ tangent, in one run of the emitted tangent code.

    wrt: the argument(s) the tangents are for (index, name or tuple), one tangent per wrt
    argument, shaped like it. target, jit_options, cache and debug as in `grad`. The arguments
    and tangents are left as they were (an argument f writes into is copied first).

        g = adjoint.jvp(f)
        value, slope = g(x, v)              # slope == J(x) @ v
    """
    return GradientFunction(fn, wrt, target=target, jit_options=jit_options, cache=cache, kind="jvp",
                            debug=debug)


def vjp(fn, wrt=0, *, target="cpu", jit_options=None, cache=None, debug=False):
    """Reverse mode for vector-valued functions: `g = vjp(f, wrt)`, then
    `g(*args, cotangent) -> cotangent @ J`, the gradient of the scalar product of f's value
    with `cotangent` (shaped like f's value), in one forward and one reverse sweep.

    wrt: the argument(s) differentiated (index, name or tuple; a tuple returns a tuple).
    target, jit_options, cache and debug as in `grad` (not on the cuda target).

        g = adjoint.vjp(f)
        row = g(x, u)                       # row == u @ J(x)
    """
    return GradientFunction(fn, wrt, target=target, jit_options=jit_options, cache=cache, kind="vjp",
                            debug=debug)


class _Derived(Presented):
    """What jacobian, hvp and hessian return: callable like the function, with the emitted
    code it runs as `.source`, a repr naming it, and pickling by the function's name."""

    transform = ""

    def __init__(self, fn, wrt, target, jit_options, debug, **extra):
        self.fn, self.target = fn, target
        self._construction = dict(wrt=wrt, target=target, jit_options=jit_options, debug=debug, **extra)
        self.wrt = wrt_names(list(parameters(fn)), wrt)
        functools.update_wrapper(self, fn)

    def _argument(self, args):
        """The argument differentiated, as a float array."""
        names = list(parameters(self.fn))
        return np.asarray(args[names.index(self.wrt[0])], dtype=float)

    def __reduce__(self):
        return _rebuild, (type(self), self.fn, self._construction)


class Jacobian(_Derived):
    """`J(*args)`: the Jacobian of f's value with respect to one argument, shaped
    value.shape + argument.shape. mode "auto" runs forward mode (one jvp per column) when the
    argument has fewer components than the value, reverse mode (one vjp per row) otherwise.

        J = adjoint.jacobian(f)
        J(x)                      # -> array shaped f(x).shape + x.shape
    """

    transform = "jacobian"

    def __init__(self, fn, wrt=0, *, mode="auto", target="cpu", jit_options=None, debug=False):
        _host_only("jacobian", target, "a Jacobian is an array per point, and a device function returns scalars only")
        if isinstance(wrt, (tuple, list)):
            raise AdjointArgumentError("jacobian takes one argument at a time",
                                       hint="call jacobian once per argument")
        if mode not in ("auto", "forward", "reverse"):
            raise AdjointArgumentError(f"mode={mode!r}: expected 'auto', 'forward' or 'reverse'")
        super().__init__(fn, wrt, target, jit_options, debug, mode=mode)
        self.mode = mode
        self.tangent = jvp(fn, wrt, target=target, jit_options=jit_options, debug=debug)
        self.cotangent = vjp(fn, wrt, target=target, jit_options=jit_options, debug=debug)

    @property
    def source(self) -> str:
        """The emitted code it runs: the jvp (columns), the vjp (rows) or, for mode "auto", both."""
        if self.mode != "auto":
            return (self.tangent if self.mode == "forward" else self.cotangent).source
        return ("# forward mode, one column per run (arguments with fewer components than the value)\n"
                + self.tangent.source + "\n# reverse mode, one row per run\n" + self.cotangent.source)

    def __call__(self, *args):
        x = self._argument(args)
        zero = np.zeros(x.shape) if x.ndim else 0.0
        value = np.asarray(self.tangent(*args, zero)[0], dtype=float)    # compiled: learns the shape
        forward = self.mode == "forward" or (self.mode == "auto" and x.size < value.size)
        result = np.zeros(value.shape + x.shape)
        if forward:
            for index in np.ndindex(x.shape):
                direction = np.zeros(x.shape)
                direction[index] = 1.0
                result[(Ellipsis,) + index] = self.tangent(*args, direction if x.ndim else 1.0)[1]
        else:
            for index in np.ndindex(value.shape):
                seed = np.zeros(value.shape)
                seed[index] = 1.0
                result[index] = self.cotangent(*args, seed if value.ndim else 1.0)
        return result


class HessianVectorProduct(_Derived):
    """`h(*args, v) -> H v`: the Hessian of scalar f with respect to argument `wrt` times v,
    by forward mode over the emitted gradient (about the cost of two gradients).

        h = adjoint.hvp(f)
        h(x, v)                   # -> H(x) @ v, shaped like x
    """

    transform = "hvp"

    def __init__(self, fn, wrt=0, *, target="cpu", jit_options=None, debug=False):
        _host_only("hvp", target, "the emitted gradient it differentiates allocates its gradient arrays")
        super().__init__(fn, wrt, target, jit_options, debug)
        self.gradient = GradientFunction(fn, wrt, target=target, jit_options=jit_options, debug=debug)
        self._wrt, self._jit_options, self._debug = wrt, jit_options, debug
        self._compiled = {}

    @property
    def source(self) -> str:
        """The emitted gradient that forward mode differentiates again (per argument shapes)."""
        return self.gradient.source

    def __call__(self, *args):
        *point, direction = args
        point = list(bind_call(self.gradient, tuple(point), {}, extra=0))     # defaults filled in
        key = tuple(np.shape(a) for a in point)
        if key not in self._compiled:
            self._compiled[key] = jvp(self.gradient.as_function(*point), self._wrt, target=self.target,
                                      jit_options=self._jit_options, debug=self._debug)
        # the emitted gradient takes the arrays f reads from module globals after its arguments
        return self._compiled[key](*point, *data_values(self.gradient), direction)[1]


class Hessian(_Derived):
    """`H(*args)`: the Hessian of scalar f with respect to one argument, one Hessian-vector
    product per component, shaped argument.shape + argument.shape (a float for a scalar).

        H = adjoint.hessian(f)
        H(x)                      # -> (n, n) array for x of shape (n,)
    """

    transform = "hessian"

    def __init__(self, fn, wrt=0, *, target="cpu", jit_options=None, debug=False):
        _host_only("hessian", target, "the emitted gradient it differentiates allocates its gradient arrays")
        super().__init__(fn, wrt, target, jit_options, debug)
        self.product = HessianVectorProduct(fn, wrt, target=target, jit_options=jit_options, debug=debug)

    @property
    def source(self) -> str:
        return self.product.source

    def __call__(self, *args):
        x = self._argument(args)
        if x.ndim == 0:
            return float(self.product(*args, 1.0))
        result = np.zeros(x.shape + x.shape)
        for index in np.ndindex(x.shape):
            direction = np.zeros(x.shape)
            direction[index] = 1.0
            result[(Ellipsis,) + index] = self.product(*args, direction)
        return result


def _rebuild(kind, fn, construction):
    return kind(fn, **construction)


jacobian = Jacobian
hvp = HessianVectorProduct
hessian = Hessian


def _host_only(what, target, why):
    """Transforms built on code that device functions cannot run (they cannot allocate)."""
    if target == "cuda":
        raise AdjointError(f"{what} is not available on the cuda target: {why}",
                           hint=f"use {what}(f, target='cpu'); on cuda, grad(f, target='cuda') and "
                                "jvp(f, target='cuda') run on scalar functions, with .batch(...) "
                                "for many points")
