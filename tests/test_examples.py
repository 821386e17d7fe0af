"""The programs in examples/: each gradient against central finite differences, on both
targets, and each script runs as its docstring says."""

from __future__ import annotations

import inspect
import pathlib
import subprocess
import sys

import pytest

from tests.conftest import TARGETS, assert_gradient, compiled, fd_tolerance, finite_difference, make_rng

ROOT = pathlib.Path(__file__).resolve().parent.parent


def _cases():
    """(id, function, arguments, wrt indices); arguments drawn from a generator seeded per case."""
    from examples.bouncing_ball import height_after
    from examples.gmm import gmm_data, gmm_objective
    from examples.lorenz import P0, lorenz
    from examples.mlp import mlp_loss, random_problem
    from examples.option_greeks import discounted_payoff
    from examples.rosenbrock import rosenbrock
    from examples.seed_f4 import f4
    rng = make_rng("examples")
    return [
        ("f4", f4, (rng.uniform(0.5, 2.0, 4),), (0,)),
        ("rosenbrock", rosenbrock, (rng.uniform(-1.5, 1.5, 7),), (0,)),
        ("lorenz", lorenz, (P0 + rng.uniform(0.0, 0.1, 6), 60, 0.01), (0,)),
        ("bouncing_ball", height_after, (1.0 + rng.uniform(0.0, 0.1), 3.0, 0.8, 1500, 0.001), (0, 1, 2)),
        ("mlp", mlp_loss, random_problem(10, 3, 5, seed=1), (0, 1, 2, 3)),
        ("gmm", gmm_objective, gmm_data(3, 4, 25, seed=1), (0, 1, 2)),
        ("option_greeks", discounted_payoff, (rng.standard_normal(20), 100.0, 0.2, 0.03, 1.0, 90.0), (1, 2)),
    ]


CASES = _cases()
SLOW_ON_PYTHON = {"gmm"}          # the cpu runs are marked slow by tests/conftest.py


@pytest.mark.parametrize("case, target", [
    pytest.param(case, target, id=f"{target}-{case[0]}",
                 marks=[pytest.mark.slow] if case[0] in SLOW_ON_PYTHON else [])
    for target in TARGETS for case in CASES])
def test_example_gradient(case, target):
    name, fn, args, wrt = case
    grad = compiled(fn, wrt if len(wrt) > 1 else wrt[0], target)
    expected = tuple(finite_difference(fn, args, i) for i in wrt)
    assert_gradient(grad(*args), expected if len(wrt) > 1 else expected[0],
                    **fd_tolerance(fn(*args), rtol=1e-5))


def test_bouncing_ball_bounces():
    """The example's point is a branch: at its arguments the ball does bounce, and the bounce
    shows in the gradient (the restitution matters)."""
    from examples.bouncing_ball import height_after
    grad = compiled(height_after, (0, 1, 2), "python")
    _, _, d_restitution = grad(1.0, 3.0, 0.8, 2000, 0.001)
    assert abs(d_restitution) > 0.1


@pytest.mark.parametrize("name", ["mlp_loss", "gmm_main_term", "gmm_objective"])
def test_examples_match_the_array_corpus(name):
    """examples/mlp.py and examples/gmm.py keep the array corpus's (and the benchmarks') code."""
    import examples.gmm
    import examples.mlp
    import tests.array_corpus
    example = getattr(examples.mlp, name, None) or getattr(examples.gmm, name)
    assert inspect.getsource(example) == inspect.getsource(getattr(tests.array_corpus, name))


@pytest.mark.slow
@pytest.mark.parametrize("script", ["seed_f4", "rosenbrock", "lorenz", "bouncing_ball"])
def test_example_script_runs(script):
    """(mlp.py and gmm.py take minutes of numba compilation: their gradients are tested above.)"""
    done = subprocess.run([sys.executable, f"examples/{script}.py"], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "def grad_" in done.stdout
