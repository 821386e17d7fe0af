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

import numpy as np

from ..errors import AdjointArgumentError, AdjointError
from .arguments import bind_call, data_values, parameters
from .gradient import GradientFunction


def jvp(fn, wrt=0, *, target="cpu", jit_options=None, cache=False, debug=False):
    """`g(*args, *tangents) -> (value, tangent)`: f and its derivative along the tangents
    (one tangent per wrt argument, shaped like it). The arguments and tangents are left as
    they were (an argument f writes into is copied first). debug: bounds checks, as in grad."""
    return GradientFunction(fn, wrt, target=target, jit_options=jit_options, cache=cache, kind="jvp",
                            debug=debug)


def vjp(fn, wrt=0, *, target="cpu", jit_options=None, cache=False, debug=False):
    """`g(*args, cotangent) -> gradient(s)` of the scalar product of f's value with
    `cotangent` (shaped like f's value): reverse mode for vector-valued functions.
    debug: bounds checks, as in grad."""
    return GradientFunction(fn, wrt, target=target, jit_options=jit_options, cache=cache, kind="vjp",
                            debug=debug)


def jacobian(fn, wrt=0, *, mode="auto", target="cpu", jit_options=None, debug=False):
    """`J(*args)`: the Jacobian of f's value with respect to one argument, shaped
    value.shape + argument.shape. mode "auto" runs forward mode when the argument has fewer
    components than the value, reverse mode otherwise."""
    _host_only("jacobian", target, "a Jacobian is an array per point, and a device function returns scalars only")
    if isinstance(wrt, (tuple, list)):
        raise AdjointArgumentError("jacobian takes one argument at a time",
                                   hint="call jacobian once per argument")
    if mode not in ("auto", "forward", "reverse"):
        raise AdjointArgumentError(f"mode={mode!r}: expected 'auto', 'forward' or 'reverse'")
    tangent = jvp(fn, wrt, target=target, jit_options=jit_options, debug=debug)
    cotangent = vjp(fn, wrt, target=target, jit_options=jit_options, debug=debug)

    def jacobian_at(*args):
        names = list(parameters(fn))
        k = wrt if isinstance(wrt, int) else names.index(wrt)
        x = np.asarray(args[k], dtype=float)
        zero = np.zeros(x.shape) if x.ndim else 0.0
        value = np.asarray(tangent(*args, zero)[0], dtype=float)    # compiled: learns the shape
        forward = mode == "forward" or (mode == "auto" and x.size < value.size)
        result = np.zeros(value.shape + x.shape)
        if forward:
            for index in np.ndindex(x.shape):
                direction = np.zeros(x.shape)
                direction[index] = 1.0
                result[(Ellipsis,) + index] = tangent(*args, direction if x.ndim else 1.0)[1]
        else:
            for index in np.ndindex(value.shape):
                seed = np.zeros(value.shape)
                seed[index] = 1.0
                result[index] = cotangent(*args, seed if value.ndim else 1.0)
        return result
    return jacobian_at


def hvp(fn, wrt=0, *, target="cpu", jit_options=None, debug=False):
    """`h(*args, v) -> H v`: the Hessian of scalar f with respect to argument `wrt` times v,
    by forward mode over the emitted gradient (about the cost of two gradients)."""
    _host_only("hvp", target, "the emitted gradient it differentiates allocates its gradient arrays")
    gradient = GradientFunction(fn, wrt, target=target, jit_options=jit_options, debug=debug)
    compiled = {}

    def hessian_vector(*args):
        *point, direction = args
        point = list(bind_call(gradient, tuple(point), {}, extra=0))     # defaults filled in
        key = tuple(np.shape(a) for a in point)
        if key not in compiled:
            compiled[key] = jvp(gradient.as_function(*point), wrt, target=target, jit_options=jit_options,
                                debug=debug)
        # the emitted gradient takes the arrays f reads from module globals after its arguments
        return compiled[key](*point, *data_values(gradient), direction)[1]
    return hessian_vector


def hessian(fn, wrt=0, *, target="cpu", jit_options=None, debug=False):
    """`H(*args)`: the Hessian of scalar f with respect to one argument, one hvp per component."""
    _host_only("hessian", target, "the emitted gradient it differentiates allocates its gradient arrays")
    product = hvp(fn, wrt, target=target, jit_options=jit_options, debug=debug)

    def hessian_at(*args):
        names = list(parameters(fn))
        k = wrt if isinstance(wrt, int) else names.index(wrt)
        x = np.asarray(args[k], dtype=float)
        if x.ndim == 0:
            return float(product(*args, 1.0))
        result = np.zeros(x.shape + x.shape)
        for index in np.ndindex(x.shape):
            direction = np.zeros(x.shape)
            direction[index] = 1.0
            result[(Ellipsis,) + index] = product(*args, direction)
        return result
    return hessian_at


def _host_only(what, target, why):
    """Transforms built on code that device functions cannot run (they cannot allocate)."""
    if target == "cuda":
        raise AdjointError(f"{what} is not available on the cuda target: {why}",
                           hint=f"use {what}(f, target='cpu'); on cuda, grad(f, target='cuda') and "
                                "jvp(f, target='cuda') run on scalar functions, with .batch(...) "
                                "for many points")
