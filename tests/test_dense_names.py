"""The emitted code numbers its temporaries densely (issue #16): after optimization, the
temporaries left are renumbered t_1, t_2, ... in their order, and what is named after one
(its sensitivity s_k, tangent d_k, tape tape_t_k, shape t_k_shape) with it, the same way in
the host and the device module, and the same on every run (lower/emit.py `renumber`)."""

from __future__ import annotations

import re

import pytest

from adjoint.lower.emit import renumber
from adjoint.pipeline import differentiate
from examples import gmm, lorenz, rosenbrock
from tests import array_corpus, control_flow_corpus, corpus

FUNCTIONS = [
    (rosenbrock.rosenbrock, {}),
    (lorenz.lorenz, {}),
    (gmm.gmm_objective, {"wrt": (0, 1, 2)}),
    (corpus.f4, {}),
    (corpus.nested, {"wrt": (0, 1)}),
    (array_corpus.products, {"wrt": (0, 1, 2)}),
    (control_flow_corpus.nonlinear_accumulator, {}),
    (control_flow_corpus.break_continue, {}),
    (control_flow_corpus.early_returns, {}),
]


def _numbers(source, letter="t"):
    return {int(n) for n in re.findall(rf"(?<![\w.]){letter}_([0-9]+)(?![0-9])", source)}


@pytest.mark.parametrize("fn, options", FUNCTIONS, ids=lambda v: getattr(v, "__name__", ""))
@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_emitted_temporaries_are_dense(fn, options, mode):
    generated = differentiate(fn, mode=mode, **options)
    numbers = _numbers(generated.source)
    assert numbers == set(range(1, len(numbers) + 1)), sorted(numbers)
    # a sensitivity or tangent numbered after a temporary names one that is there
    assert _numbers(generated.source, "s" if mode == "reverse" else "d") <= numbers
    assert differentiate(fn, mode=mode, **options).source == generated.source        # stable


def test_device_module_numbers_like_the_host():
    generated = differentiate(rosenbrock.rosenbrock, device=True)
    assert _numbers(generated.device_source) <= _numbers(generated.source)
    host = set(re.findall(r"t_\d+ = [^\n]*", generated.source))
    device = set(re.findall(r"t_\d+ = [^\n]*", generated.device_source))
    assert len(host & device) >= len(device) // 2          # the same statements, the same names


def test_renumber_keeps_user_names_and_skips_their_numbers():
    header = '"""Gradient of g (t_7.py:1)."""\n\n\n'         # a file named like a temporary
    source = header + ("def g(t_2, s_5):\n    t_3 = t_2 * s_5\n    t_7 = t_3 + 1.0\n    # t_7 in a comment\n"
                       "    s_7 = t_7_shape\n    tape_t_7[0] = s_7\n    return t_7\n")
    renamed, _ = renumber(source, {"t_1", "t_3", "t_7"}, keep={"t_2", "s_5", "g"})
    assert renamed == header + ("def g(t_2, s_5):\n    t_1 = t_2 * s_5\n    t_3 = t_1 + 1.0\n    # t_7 in a comment\n"
                                "    s_3 = t_3_shape\n    tape_t_3[0] = s_3\n    return t_3\n")
