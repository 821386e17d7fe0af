"""Emitted gradients against golden files, and the seed's f4 exactly (its 17 updates).

tests/golden/ holds the emitted gradient of the seed's f4, of a loop (the extended Rosenbrock,
a Lorenz-63 RK4 integration, a nonlinear accumulator), of a loop with a branch (a bouncing
ball) and of two array objectives (the MLP loss and the GMM objective, for their arguments'
ranks), so that any change to the emitted text is a reviewed diff. README.md's listings are
checked against these files: a `<!-- golden: tests/golden/NAME.py -->` comment before a code
block means the block is the whole file; `<!-- golden-excerpt: ... -->` means each run of lines
between `...` lines appears in the file, in order and contiguous.

Regenerate the golden files (and the README's whole-file listings) after an intended change of
the emitted code:
    ADJOINT_REGEN_GOLDEN=1 .venv/bin/python -m pytest tests/test_golden.py
and review the diff (git diff tests/golden README.md) before committing it.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys

import numpy as np
import pytest

import adjoint
from tests.conftest import compiled, fd_tolerance, finite_difference

ROOT = pathlib.Path(__file__).resolve().parent.parent
GOLDEN_DIR = pathlib.Path(__file__).resolve().parent / "golden"
GOLDEN = GOLDEN_DIR / "f4_grad.py"
README = ROOT / "README.md"
REGENERATE = os.environ.get("ADJOINT_REGEN_GOLDEN") == "1"


def _show(target, wrt, types):
    """`adjoint show FILE:FUNCTION --wrt ... --types ...`: the commented gradient for the
    arguments' ranks (adjoint.source guesses them from the source, and an MLP's `X @ W1`
    does not tell)."""
    command = [sys.executable, "-m", "adjoint", "show", target, "--wrt", wrt, "--types", types,
               "--color", "never"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _rosenbrock():
    from examples.rosenbrock import rosenbrock
    return adjoint.source(rosenbrock)


def _lorenz():
    from examples.lorenz import lorenz
    return adjoint.source(lorenz)


def _accumulator():
    from tests.control_flow_corpus import nonlinear_accumulator
    return adjoint.source(nonlinear_accumulator)


def _bouncing_ball():
    from examples.bouncing_ball import height_after
    return adjoint.source(height_after, wrt=(0, 1, 2))


def _mlp():
    return _show("examples/mlp.py:mlp_loss", "W1,b1,W2,b2",
                 "W1=float64[:,:], b1=float64[:], W2=float64[:], b2=float64, X=float64[:,:], y=float64[:]")


def _gmm():
    return _show("examples/gmm.py:gmm_objective", "alphas,means,icf",
                 "alphas=float64[:], means=float64[:,:], icf=float64[:,:], x=float64[:,:], "
                 "wishart_gamma=float64, wishart_m=int64")


# golden file -> how its text is produced
PRODUCERS = {
    "rosenbrock_grad.py": _rosenbrock,
    "lorenz_grad.py": _lorenz,
    "accumulator_grad.py": _accumulator,
    "bouncing_ball_grad.py": _bouncing_ball,
    "mlp_grad.py": _mlp,
    "gmm_grad.py": _gmm,
}


def _load(name):
    namespace: dict = {}
    path = GOLDEN_DIR / name
    exec(compile(path.read_text(), str(path), "exec"), namespace)
    return namespace


def _check_golden(name, emitted):
    path = GOLDEN_DIR / name
    if REGENERATE:
        GOLDEN_DIR.mkdir(exist_ok=True)
        path.write_text(emitted)
        pytest.skip(f"regenerated {path.relative_to(ROOT)}; review `git diff` before committing")
    assert path.exists(), f"no golden file {name}: run with ADJOINT_REGEN_GOLDEN=1 to create it"
    assert emitted == path.read_text(), \
        f"the emitted text of {name} changed; if intended, regenerate with ADJOINT_REGEN_GOLDEN=1"


@pytest.mark.parametrize("name", list(PRODUCERS))
def test_golden_files(name):
    _check_golden(name, PRODUCERS[name]())


def _golden_args():
    """(golden file, function name, the function, its arguments, wrt indices)."""
    from examples.bouncing_ball import height_after
    from examples.gmm import gmm_data, gmm_objective
    from examples.lorenz import P0, lorenz
    from examples.mlp import mlp_loss, random_problem
    from examples.rosenbrock import rosenbrock
    from tests.control_flow_corpus import nonlinear_accumulator
    return [
        ("rosenbrock_grad.py", "grad_rosenbrock", rosenbrock, (np.array([0.5, -1.0, 2.0, 0.3]),), (0,)),
        ("lorenz_grad.py", "grad_lorenz", lorenz, (P0, 50, 0.01), (0,)),
        ("accumulator_grad.py", "grad_nonlinear_accumulator", nonlinear_accumulator, (0.7, 6), (0,)),
        ("bouncing_ball_grad.py", "grad_height_after", height_after, (1.0, 3.0, 0.8, 1500, 0.001), (0, 1, 2)),
        ("mlp_grad.py", "grad_mlp_loss", mlp_loss, random_problem(6, 3, 4), (0, 1, 2, 3)),
        ("gmm_grad.py", "grad_gmm_objective", gmm_objective, gmm_data(3, 4, 20), (0, 1, 2)),
    ]


@pytest.mark.parametrize("case", _golden_args(), ids=lambda case: case[0])
def test_golden_file_runs_standalone(case):
    """Each golden file, exec'd on its own as plain Python, gives the gradient that central
    finite differences give."""
    name, function, fn, args, wrt = case
    got = _load(name)[function](*args)
    got = got if isinstance(got, tuple) else (got,)
    assert len(got) == len(wrt)
    tolerance = fd_tolerance(fn(*args), rtol=1e-5)
    for g, i in zip(got, wrt):
        np.testing.assert_allclose(g, finite_difference(fn, args, i), **tolerance)


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
    _check_golden(GOLDEN.name, emitted)


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


# --- README.md's listings -----------------------------------------------------------------

MARKER = re.compile(r"^<!-- golden(-excerpt)?: (\S+) -->\n(?:\n)?```[a-z]*\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def readme_listings(text):
    """[(kind, golden path, block text, span of the block text)] for every marked listing."""
    return [("excerpt" if m.group(1) else "whole", m.group(2), m.group(3), m.span(3))
            for m in MARKER.finditer(text)]


def excerpt_problem(block, golden):
    """None if each run of the block's lines between `...` lines appears in `golden`, in order,
    as contiguous lines; otherwise the first run that does not."""
    lines = golden.splitlines()
    chunks, current = [], []
    for line in block.splitlines():
        if line.strip() == "...":
            chunks.append(current)
            current = []
        else:
            current.append(line)
    chunks.append(current)
    start = 0
    for chunk in filter(None, chunks):
        found = next((k for k in range(start, len(lines) - len(chunk) + 1)
                      if lines[k:k + len(chunk)] == chunk), None)
        if found is None:
            return "\n".join(chunk)
        start = found + len(chunk)
    return None


def test_excerpt_checker():
    golden = "a\nb\nc\nd\n"
    assert excerpt_problem("a\nb\n...\nd\n", golden) is None
    assert excerpt_problem("b\nc\n", golden) is None
    assert excerpt_problem("a\nc\n", golden) == "a\nc"                  # not contiguous
    assert excerpt_problem("c\n...\nb\n", golden) == "b"                 # out of order
    assert [kind for kind, *_ in readme_listings(
        "<!-- golden: x.py -->\n```python\nA\n```\n<!-- golden-excerpt: y.py -->\n```\nB\n```\n")] \
        == ["whole", "excerpt"]


def test_readme_listings():
    """Every listing of emitted code in README.md is marked, and equals its golden file (or
    an excerpt of it). ADJOINT_REGEN_GOLDEN=1 rewrites the whole-file listings."""
    text = README.read_text()
    listings = readme_listings(text)
    assert {path for _, path, _, _ in listings} >= {
        "tests/golden/f4_grad.py", "tests/golden/rosenbrock_grad.py", "tests/golden/accumulator_grad.py"}
    if REGENERATE:
        for kind, path, _, (start, end) in reversed(listings):
            if kind == "whole":
                text = text[:start] + (ROOT / path).read_text() + text[end:]
        README.write_text(text)
        listings = readme_listings(text)
    for kind, path, block, _ in listings:
        golden = (ROOT / path).read_text()
        if kind == "whole":
            assert block == golden, f"README's listing of {path} differs from the file: " \
                "regenerate with ADJOINT_REGEN_GOLDEN=1"
        else:
            problem = excerpt_problem(block, golden)
            assert problem is None, f"README's excerpt of {path} has lines not in the file:\n{problem}"
    # every listing of a generated gradient is marked
    generated = re.findall(r"^```python\n(?:\"\"\"Gradient of|def grad_|    tape_)", text, re.MULTILINE)
    assert len(generated) == len(listings)
