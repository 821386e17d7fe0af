"""The primitive table: one record per primitive (table.Primitive), its derivative included,
declared family by family in the modules of this package. This file assembles the table:
importing a family's module declares its records, and the imports at the bottom list every
family, so importing `rules` loads the whole table. The names the transformations use are
re-exported from registry.py, so `rules.lookup(...)` always sees the full table.

A scalar primitive's record is declared on its rule, a plain, runnable function of the primitive's arguments (and, when it helps, of
`out`, the primitive's result) that returns the partial derivatives, one per argument:

    @primitive("math.sin", "np.sin", device=True, numpy_loop=True)
    def sin(x):
        return math.cos(x)

    @primitive("operator.truediv", "np.divide", domain=[DEFAULT_DOMAIN, POSITIVE])
    def truediv(x, y, out):
        return 1.0 / y, -out / y

The reverse transform inlines each returned expression, substituting the statement's operands
for the parameters:  `t_3 = a / b`  ->  `s_a += 1.0 / b * s_3;  s_b += -t_3 / b * s_3`.
Only math, numpy (as np) and the parameters may appear in a partial, so emitted code needs
no import but math and numpy. Partials of piecewise constant primitives (integer-valued,
comparisons, new arrays of zeros) are zero: their records say `constant`, and their results
carry no sensitivity. A part of a derivative several rules share is written once, as a
`@shared_expression` function the partials call (digamma, in lgamma's and gamma's:
special.py); it is inlined into each, so emitted code needs no helper for it. An array
primitive's record is declared with `declare`, from its vector-Jacobian products (reverse
mode; `variant`s where they take options: registry.vjp says what they mean) and
Jacobian-vector products (forward mode).

Besides its derivative, a record holds the spellings code uses for the primitive (math and
numpy twins: table.py derives from them how a partial is made elementwise and how device
code spells it), the name of its result type rule (analysis/shapes.py) and its flags
(`allocates`, `costly`, `value`, `numpy_loop`, `device`, `variadic`: table.Primitive). Of
the scalar functions, `device` ones are spelled as their math twins in device code, and
`numpy_loop` ones are computed of a large array by numpy's vectorized loop
(runtime._numpy_<f>), and stored by a reverse loop. Adding a primitive is one record in the
module of its family and one row in tests/test_primitive_table.py.

Domains. Outside its domain a function's value is nan and so is its partial; on the domain's
edge the partial is the one-sided derivative there (inf), as in JAX. A comparison picks the
case, no extra call; np.divide, not /, because a scalar division by zero raises (Python,
numba) where numpy's gives inf. Of arrays, `a if c else math.nan` is fused into a * (c / c)
(lower.for_numba.lower_for_numba), so `a` must stay finite outside the domain (abs in asin's
sqrt, fmax dropping sqrt's nan): where the sensitivity is 0 there, registry.times keeps `a`
(times 0). The condition `c` holds on the whole domain, edges included (abs: `x == x` where
neither x > 0 nor x < 0), so that c / c is 0 / 0 only outside it: numpy then warns only where
its own primal warned, never on valid input (the python target runs the same source).

numba. Where numba lacks a form of a numpy function (an `axis`, np.polyval, np.array of an
array), lower/for_numba.py rewrites the call, in the primal and in these rules alike, into a
runtime helper or a form numba has (issue #17).

The machinery (rule types, registries, lookups, parsing) lives in registry.py.
"""

from __future__ import annotations

from ..registry import (  # noqa: F401 (re-exported: the transformations import them from here)
    ALLOWED_GLOBALS,
    ARRAY_RULES,
    DEFAULT_DOMAIN,
    HELPERS_CALLED,
    NON_DIFFERENTIABLE,
    PARTS_RULES,
    POSITIVE,
    RULES,
    TANGENT_RULES,
    UNIT,
    ArrayRule,
    PartsRule,
    Rule,
    TangentRule,
    declare,
    is_differentiable,
    is_non_differentiable,
    jvp,
    lookup,
    lookup_array,
    lookup_jvp,
    lookup_parts,
    primitive,
    rule,
    shared_expression,
    subnodes,
    times,
    variant,
    vectorized,
    vjp,
)

# The families, each a module of records (importing one declares them): scalar functions
# first, then array functions. The order matters once: a scalar partial is made elementwise
# (registry.vectorized) when it is declared, from the records declared before it, so the
# selections and abs, which later partials call (max, abs), come first.
# isort: off
from . import piecewise      # noqa: F401  rounding, comparisons, tests, argmax (zero partials); min, max, where, clip
from . import arithmetic     # noqa: F401  + - * / ** %, float, abs, square, reciprocal, sqrt, cbrt, hypot
from . import exponential    # noqa: F401  exp, expm1, exp2, log, log1p, log10, log2, logaddexp(2)
from . import trigonometric  # noqa: F401  sin ... atanh, atan2, radians, degrees, sinc
from . import special        # noqa: F401  erf, erfc, lgamma, gamma; scipy.special and scipy.stats.norm
from . import creation       # noqa: F401  np.zeros, np.full, np.linspace, np.stack, np.array, np.copy, ...
from . import shape          # noqa: F401  np.reshape, np.transpose, np.expand_dims, np.roll, np.sort, np.diag, ...
from . import reductions     # noqa: F401  np.sum, np.mean, np.max, np.var, np.median, ...; np.cumsum, np.diff
from . import numerical      # noqa: F401  np.convolve, np.polyval, np.interp, np.trapezoid
from . import linalg         # noqa: F401  @, np.dot, np.outer, np.trace, np.einsum, np.linalg.*, ...
# isort: on
