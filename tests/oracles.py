"""Independent oracles: central finite differences, and autograd running the same source.

`autograd_twin(f)` rebinds f (and the plain functions of its module that it may call) to a
copy of its module globals in which `np` is autograd.numpy and `math` is a shim over it, so
autograd differentiates exactly the code adjoint compiles.
"""

from __future__ import annotations

import types

import numpy as np


def finite_difference(f, args, wrt, h=1e-6):
    """Central differences of scalar f with respect to argument index `wrt` (scalar or array)."""
    args = list(args)
    x = args[wrt]
    if np.ndim(x) == 0:
        step = h * max(1.0, abs(float(x)))
        up, down = list(args), list(args)
        up[wrt], down[wrt] = float(x) + step, float(x) - step
        return (f(*up) - f(*down)) / (2 * step)
    x = np.asarray(x, dtype=float)
    grad = np.zeros_like(x)
    for k in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[k]))
        up, down = x.copy(), x.copy()
        up[k] += step
        down[k] -= step
        a, b = list(args), list(args)
        a[wrt], b[wrt] = up, down
        grad[k] = (f(*a) - f(*b)) / (2 * step)
    return grad


def hvp_by_differences(f, args, wrt, v, h=1e-4):
    """H v of scalar f with respect to array argument `wrt`, from f alone: for each component
    k, the mixed second difference along e_k and v (four values of f), scaled by each
    component's size as finite_difference is."""
    args = list(args)
    x = np.asarray(args[wrt], dtype=float)
    v = np.asarray(v, dtype=float)
    out = np.zeros_like(x)

    def at(point):
        moved = list(args)
        moved[wrt] = point
        return f(*moved)
    for k in np.ndindex(x.shape):
        step = h * max(1.0, abs(x[k]))
        e = np.zeros_like(x)
        e[k] = step
        out[k] = (at(x + e + h * v) - at(x + e - h * v) - at(x - e + h * v) + at(x - e - h * v)) / (4 * step * h)
    return out


class _MathShim(types.SimpleNamespace):
    pass


def autograd_twin(f):
    """f, with np -> autograd.numpy and math -> autograd.numpy, helpers rebound likewise."""
    import autograd.numpy as anp
    shim = _MathShim(pi=np.pi, e=np.e, tau=2 * np.pi, inf=np.inf,
                     **{name: getattr(anp, name) for name in
                        ("sin", "cos", "tan", "sinh", "cosh", "tanh", "exp", "log", "log1p",
                         "expm1", "sqrt", "hypot", "log10", "log2", "fabs", "floor", "ceil")},
                     asin=anp.arcsin, acos=anp.arccos, atan=anp.arctan, atan2=anp.arctan2,
                     pow=anp.power)
    module_globals = dict(f.__globals__)
    module_globals["np"] = anp
    module_globals["math"] = shim
    for name, value in list(module_globals.items()):   # scipy's functions: autograd's twins
        twin = _scipy_twin(value)
        if twin is not None:
            module_globals[name] = twin
    for name, value in list(module_globals.items()):
        if isinstance(value, types.FunctionType) and value.__globals__ is f.__globals__ \
                and value.__closure__ is None:         # (a factory's closure keeps its own)
            module_globals[name] = _rebound(value, module_globals)
    return _rebound(f, module_globals)


def _scipy_twin(value):
    """autograd's version of scipy.special.logsumexp / gammaln, scipy.stats.norm and
    multivariate_normal, or None."""
    import autograd.scipy.special as special
    import autograd.scipy.stats as stats
    import scipy.special
    import scipy.stats
    for ours, theirs in ((scipy.special.logsumexp, special.logsumexp), (scipy.special.gammaln, special.gammaln),
                         (scipy.stats.norm, stats.norm), (scipy.stats.multivariate_normal, stats.multivariate_normal)):
        if value is ours:
            return theirs
    return None


def _rebound(fn, module_globals):
    """fn reading `module_globals`, its default parameter values kept."""
    twin = types.FunctionType(fn.__code__, module_globals, fn.__name__, fn.__defaults__)
    twin.__kwdefaults__ = fn.__kwdefaults__
    return twin


def autograd_gradient(f, args, wrt):
    import autograd
    args = [np.asarray(a, dtype=float) if isinstance(a, (list, tuple)) else a for a in args]
    args = [float(a) if isinstance(a, (float, int)) and i == wrt else a for i, a in enumerate(args)]
    return autograd.grad(autograd_twin(f), wrt)(*args)
