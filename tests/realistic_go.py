"""scipy's global-optimization benchmark functions (github:scipy/scipy,
benchmarks/benchmarks/go_benchmark_functions/go_funcs_G.py), in their authors' style: a
Benchmark class counting evaluations, `fun(self, x, *args)` a bound method, numpy's functions
imported by bare name (`sum`, `prod` and `abs` shadowing the builtins). Ported for
tests/realistic_corpus.py, which registers the bound methods (a module of its own, since the
bare names would shadow the builtins the rest of the corpus uses).
"""

from __future__ import annotations

import numpy as np
from numpy import abs, arange, cos, exp, log, prod, sin, sqrt, sum  # noqa: A004 (as the original)


class Benchmark:
    # go_benchmark.Benchmark's state that fun() touches: the dimension and a call counter
    def __init__(self, dimensions):
        self.N = dimensions
        self.nfev = 0


class Griewank(Benchmark):
    def fun(self, x, *args):
        self.nfev += 1

        i = arange(1., np.size(x) + 1.)
        return sum(x ** 2 / 4000) - prod(cos(x / sqrt(i))) + 1


class Giunta(Benchmark):
    def fun(self, x, *args):
        self.nfev += 1

        arg = 16 * x / 15.0 - 1
        return 0.6 + sum(sin(arg) + sin(arg) ** 2 + sin(4 * arg) / 50.)


class Gulf(Benchmark):
    def fun(self, x, *args):
        self.nfev += 1

        m = 99.
        i = arange(1., m + 1)
        u = 25 + (-50 * log(i / 100.)) ** (2 / 3.)
        vec = (exp(-((abs(u - x[1])) ** x[2] / x[0])) - i / 100.)
        return sum(vec ** 2)


def griewank_fun(x):
    # the same, as a plain function of the module (bare `sum`, `prod`)
    i = arange(1., np.size(x) + 1.)
    return sum(x ** 2 / 4000) - prod(cos(x / sqrt(i))) + 1
