"""The seed's f4, exactly: the emitted text against a golden file, and the seed's 17 updates.

Regenerate the golden file after an intended change of the emitted code:
    ADJOINT_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
and review the diff (git diff tests/golden) before committing it.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import sys

import numpy as np
import pytest

import adjoint
from tests.conftest import compiled

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN = pathlib.Path(__file__).resolve().parent / "golden" / "f4_grad.py"
REGENERATE = os.environ.get("ADJOINT_REGEN_GOLDEN") == "1"

# The seed's grad_f4 reverse sweep, in its order: one update per partial derivative.
SEED_UPDATES = [
    "s_s += 2.0",
    "s_abc += s_s",
    "s_abd += s_s",
    "s_acd += s_s",
    "s_bcd += s_s",
    "s_b += t_cd * s_bcd",
    "s_cd += t_b * s_bcd",
    "s_a += t_cd * s_acd",
    "s_cd += t_a * s_acd",
    "s_ab += t_d * s_abd",
    "s_d += t_ab * s_abd",
    "s_ab += t_c * s_abc",
    "s_c += t_ab * s_abc",
    "s_c += t_d * s_cd",
    "s_d += t_c * s_cd",
    "s_a += t_b * s_ab",
    "s_b += t_a * s_ab",
]
SIDES = [1.0, 2.0, 3.0, 4.0]
EXPECTED = np.array([52.0, 38.0, 28.0, 22.0])


def load_seed():
    """examples/seed_f4.py, imported from its file (examples/ is not a package)."""
    if "seed_f4" not in sys.modules:
        spec = importlib.util.spec_from_file_location("seed_f4", ROOT / "examples" / "seed_f4.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules["seed_f4"] = module
        spec.loader.exec_module(module)
    return sys.modules["seed_f4"]


@pytest.fixture(scope="module")
def f4():
    return load_seed().f4


@pytest.fixture(scope="module")
def emitted(f4):
    return adjoint.source(f4)


def statements(text):
    return [line.strip() for line in text.splitlines() if line.strip()]


def test_golden_text(emitted):
    if REGENERATE:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(emitted)
        pytest.skip(f"regenerated {GOLDEN.relative_to(ROOT)}; review `git diff` before committing")
    assert GOLDEN.exists(), "no golden file: run with ADJOINT_REGEN_GOLDEN=1 to create it"
    expected = GOLDEN.read_text()
    assert emitted == expected, "the emitted grad_f4 changed; if intended, regenerate with ADJOINT_REGEN_GOLDEN=1"


def test_seed_updates_in_order(emitted):
    """All 17 updates of the seed's reverse sweep, each exactly once, in the seed's order."""
    lines = statements(emitted)
    positions = []
    for update in SEED_UPDATES:
        assert lines.count(update) == 1, f"{update!r} appears {lines.count(update)} times"
        positions.append(lines.index(update))
    assert positions == sorted(positions)
    accumulations = [ln for ln in lines if re.match(r"s_\w+ \+= ", ln) and not ln.startswith("s_side_lengths[")]
    assert accumulations == SEED_UPDATES, "no accumulations besides the seed's"


def test_array_sensitivity_gathered(emitted):
    """As the seed's `gradient = [s_a, s_b, s_c, s_d]`: the unpacked argument's sensitivity
    is assembled from its elements' at the end, with no zeroed array before."""
    lines = statements(emitted)
    assert [ln for ln in lines if ln.startswith("s_side_lengths")] == [
        "s_side_lengths = np.array([s_a, s_b, s_c, s_d], side_lengths.dtype)"]
    assert lines[-1] == "return s_side_lengths"


def test_comments_in_reverse_line_order(f4, emitted):
    """One `# Analyzing the line: "<statement>"` per assignment, last line first (the
    `return ret` line needs no block: its seed is folded into `s_s += 2.0`)."""
    import inspect
    body = [ln.strip() for ln in inspect.getsource(f4).splitlines()[1:] if ln.strip()][:-1]
    analyzed = re.findall(r'^\s*# Analyzing the line: "(.*)"$', emitted, flags=re.MULTILINE)
    assert analyzed == list(reversed(body))
    # each comment heads the updates of its own line
    lines = statements(emitted)
    head = lines.index('# Analyzing the line: "t_bcd = t_b * t_cd"')
    assert lines[head + 1:head + 3] == ["s_b += t_cd * s_bcd", "s_cd += t_b * s_bcd"]


def test_forward_sweep_is_the_primal(f4, emitted):
    import inspect
    body = [ln.strip() for ln in inspect.getsource(f4).splitlines()[1:] if ln.strip()][:-1]
    lines = statements(emitted)
    start = lines.index("def grad_f4(side_lengths):") + 1
    assert lines[start:start + len(body)] == body


def test_without_comments(f4):
    plain = adjoint.source(f4, comments=False)
    assert "# Analyzing the line" not in plain
    assert [ln for ln in statements(plain) if "+=" in ln and "[" not in ln] == SEED_UPDATES


def test_golden_file_is_standalone_and_correct():
    namespace: dict = {}
    exec(compile(GOLDEN.read_text(), str(GOLDEN), "exec"), namespace)
    np.testing.assert_array_equal(namespace["grad_f4"](np.array(SIDES)), EXPECTED)


def test_seed_gradient(f4, target):
    np.testing.assert_array_equal(compiled(f4, 0, target)(SIDES), EXPECTED)


def test_seed_module_gradient():
    """The seed example's own module-level grad_f4 (cpu target)."""
    np.testing.assert_array_equal(load_seed().grad_f4(SIDES), EXPECTED)


def test_expression_form_gradient(target):
    from tests.corpus import f4_expression
    result = compiled(f4_expression, 0, target)(SIDES)
    assert isinstance(result, np.ndarray) and result.dtype == np.float64
    np.testing.assert_array_equal(result, EXPECTED)
