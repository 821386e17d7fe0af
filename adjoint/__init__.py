"""adjoint: source-to-source reverse-mode automatic differentiation for numeric Python.

    import adjoint

    @adjoint.grad
    def f(x, y):
        return x * math.sin(y)

    f(1.0, 2.0)                    # d f / d x at (1, 2)
"""

import gc as _gc

# Importing adjoint imports numba and assembles the rule table: hundreds of thousands of
# objects, over which Python ran four full collections that found nothing (a third of the
# import). Full collections are made rare until it is done, as the pipeline makes them
# while it runs (pipeline.rare_collections).
_thresholds = _gc.get_threshold()
_gc.set_threshold(_thresholds[0], _thresholds[1], max(_thresholds[2], 1000))
try:
    from .api.compose import hessian, hvp, jacobian, jvp, vjp
    from .api.gradient import GradientFunction, grad, source, value_and_grad
    from .errors import AdjointArgumentError, AdjointError
    from .frontend.markers import checkpointed
    from .primitives.rules import jvp as tangent_rule
    from .primitives.rules import rule
    from .primitives.rules import vjp as vjp_rule
finally:
    _gc.set_threshold(*_thresholds)

__version__ = "0.1.0"
__all__ = ["grad", "value_and_grad", "source", "jvp", "vjp", "jacobian", "hessian", "hvp",
           "rule", "vjp_rule", "tangent_rule", "AdjointError", "AdjointArgumentError",
           "GradientFunction", "checkpointed", "__version__"]
