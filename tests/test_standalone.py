"""The emitted module stands alone: exec it in an empty namespace and call grad_<name>.

It imports math and numpy itself; module constants are inlined and plain helpers are
inlined, so nothing else is needed. Functions with user-registered rules are the exception:
the forward sweep calls the user's function by name, so their namespace must provide it.
"""

from __future__ import annotations

import ast

import numpy as np
import pytest

import adjoint
from tests.conftest import compiled, fd_tolerance, finite_difference, make_rng
from tests.corpus import CORPUS, USER_FUNCTIONS, case_id


def uses_user_rule(case) -> bool:
    source = adjoint.source(case.fn, wrt=case.wrt)
    called = {n.func.id for n in ast.walk(ast.parse(source))
              if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    return bool(called & set(USER_FUNCTIONS))


def load(case, namespace=None):
    source = adjoint.source(case.fn, wrt=case.wrt)
    namespace = {} if namespace is None else dict(namespace)
    exec(compile(source, f"<standalone {case.name}>", "exec"), namespace)
    return namespace[f"grad_{case.name}"], source


def as_tuple(result, case):
    return result if isinstance(case.wrt, tuple) else (result,)


cases = pytest.mark.parametrize("case", CORPUS, ids=[case_id(c) for c in CORPUS])


@cases
def test_imports_only_math_and_numpy(case):
    source = adjoint.source(case.fn, wrt=case.wrt)
    tree = ast.parse(source)
    imports = [ast.unparse(n) for n in ast.walk(tree) if isinstance(n, (ast.Import, ast.ImportFrom))]
    uses_math = any(isinstance(n, ast.Name) and n.id == "math" for n in ast.walk(tree))
    assert imports == ["import math"] * uses_math + ["import numpy as np"]   # math only if used
    functions = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert functions == [f"grad_{case.name}"]


@cases
def test_exec_in_empty_namespace(case):
    needs = uses_user_rule(case)
    namespace = {name: fn for name, fn in USER_FUNCTIONS.items()} if needs else {}
    grad, _ = load(case, namespace)
    reference = compiled(case.fn, case.wrt, "python")
    rng = make_rng("standalone", case_id(case))
    for _ in range(2):
        args = case.sample(rng)
        args = [np.asarray(a, dtype=np.float64) if isinstance(a, np.ndarray) else a for a in args]
        got = as_tuple(grad(*[a.copy() if isinstance(a, np.ndarray) else a for a in args]), case)
        expected = [finite_difference(case.fn, args, i) for i in case.wrt_indices()]
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(np.asarray(g, dtype=np.float64), e, **fd_tolerance(case.fn(*args)))
        for g, r in zip(got, as_tuple(reference(*args), case)):
            np.testing.assert_allclose(np.asarray(g, dtype=np.float64), r, rtol=1e-15, atol=0.0)


def test_only_user_rules_need_a_namespace():
    """Exactly the corpus functions that call user-registered rules need more than `{}`."""
    needing = sorted(c.name for c in CORPUS if uses_user_rule(c))
    assert needing == ["uses_softplus", "uses_user_rules"]
    case = next(c for c in CORPUS if c.name == "uses_softplus")
    with pytest.raises(NameError, match="softplus"):
        load(case)[0](0.3, 0.4)


def test_module_constants_and_helpers_are_inlined():
    from tests.corpus import BY_NAME
    def names(fn, wrt):
        tree = ast.parse(adjoint.source(fn, wrt=wrt, comments=False))
        return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}, ast.unparse(tree)

    used, text = names(BY_NAME["constants"].fn, (0, 1))
    assert not {"G", "HALF"} & used
    assert "9.81" in text and "math.pi" in text and "math.tau" in text
    used, _ = names(BY_NAME["uses_helper"].fn, (0, 1))
    assert "squared_plus" not in used
