"""adjoint: source-to-source reverse-mode automatic differentiation for numeric Python.

    import adjoint

    @adjoint.grad
    def f(x, y):
        return x * math.sin(y)

    f(1.0, 2.0)                    # d f / d x at (1, 2)
"""

from .api.compose import hessian, hvp, jacobian, jvp, vjp
from .api.gradient import GradientFunction, grad, source, value_and_grad
from .errors import AdjointArgumentError, AdjointError
from .frontend.markers import checkpointed
from .primitives.rules import jvp as tangent_rule
from .primitives.rules import rule
from .primitives.rules import vjp as vjp_rule

__version__ = "0.1.0"
__all__ = ["grad", "value_and_grad", "source", "jvp", "vjp", "jacobian", "hessian", "hvp",
           "rule", "vjp_rule", "tangent_rule", "AdjointError", "AdjointArgumentError",
           "GradientFunction", "checkpointed", "__version__"]
