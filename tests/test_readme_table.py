"""README.md's benchmark table is generated from benchmarks/RESULTS.md (benchmarks/readme_table.py):
the committed pair must agree, and the parser must read RESULTS.md's tables and sentences."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load():
    # benchmarks/ is not a package: load the script by path, registered so dataclasses work
    spec = importlib.util.spec_from_file_location("readme_table",
                                                  ROOT / "benchmarks" / "readme_table.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("readme_table", module)
    spec.loader.exec_module(module)
    return module


rt = _load()

SNIPPET = """\
# Benchmarks

Reproduce with `make bench`.

Run 2026-01-02 03:04:05 UTC. Load average (1 min) at the start: 0.10. The machine was otherwise quiet.

Machine:

|                |                         |
| -------------- | ----------------------- |
| cpu            | Test CPU                |
| cpu_count      | 4                       |
| adjoint_commit | abc1234 Some commit     |

## Loops: extended Rosenbrock

Ratios are medians of per-round ratios.

### Extended Rosenbrock, n = 10

| variant                              | form  | / primal | / hand-written | / adjoint |
| ------------------------------------ | ----- | -------- | -------------- | --------- |
| primal: numba.njit(f)                | loop  | 1.00x    | 0.90x          | 0.80x     |
| adjoint .adjoint                     | loop  | 1.25x    | 1.10x          | 1.00x     |
| jax.jit(jax.grad(f)), vectorized     | jnp   | 0.50x    | 0.45x          | 0.40x     |
| torch backward, vectorized (float64) | torch | 300x     | 280x           | 250x      |
| autograd                             | not installed | - | -              | -         |

adjoint: gradient/primal = 1.25x, adjoint/hand-written = 1.10x; with fastmath on both: adjoint/hand-written = 1.02x.
"""


def test_readme_table_is_generated_from_the_committed_results():
    readme = (ROOT / "README.md").read_text()
    results = (ROOT / "benchmarks" / "RESULTS.md").read_text()
    expected = rt.replace_region(readme, rt.render(results))
    assert readme == expected, ("README.md's results table differs from benchmarks/RESULTS.md: "
                                "run python benchmarks/readme_table.py")
    assert rt.main(["--check"]) == 0


def test_committed_results_fill_every_row():
    region = rt.render((ROOT / "benchmarks" / "RESULTS.md").read_text())
    assert "not in RESULTS.md" not in region
    assert "does not say which run" not in region


def test_parser_reads_headings_tables_and_prose():
    sections = rt.parse(SNIPPET)
    assert [s.title for s in sections] == ["", "Benchmarks", "Loops: extended Rosenbrock",
                                           "Extended Rosenbrock, n = 10"]
    loops = sections[-1]
    assert loops.parent == "Loops: extended Rosenbrock"
    assert loops.table.headers[:3] == ["variant", "form", "/ primal"]
    assert len(loops.table.rows) == 5
    assert loops.table.get("adjoint .adjoint", "/ hand-written") == "1.10x"
    assert loops.find(r"fastmath on both: adjoint/hand-written = ([0-9.]+x)") == "1.02x"
    with pytest.raises(rt.Missing):
        loops.table.get("no such row", "/ primal")
    with pytest.raises(rt.Missing):
        loops.find(r"absent (\d+)")


def test_summary_rows_from_a_snippet():
    assert rt.loops_rows(rt.parse(SNIPPET)) == [[
        "Extended Rosenbrock, n = 10", "1.25x", "1.10x (1.02x both with fastmath)",
        "jax 2.5x faster (vectorized), torch 250x slower (vectorized), autograd not timed"]]
    region = rt.render(SNIPPET)
    assert region.startswith(rt.BEGIN) and region.rstrip().endswith(rt.END)
    words = " ".join(region.split())   # the sentence above the table is wrapped
    assert "run of 2026-01-02 03:04:05 UTC on 4 CPUs (Test CPU), adjoint at abc1234;" in words
    assert "the machine was otherwise quiet" in words
    # benchmarks left out of a run give a row that says so, not a crash
    assert "| f4: not in RESULTS.md" in region


def test_values_and_factors():
    assert rt.ratio("1.07x") == 1.07 and rt.ratio("206654x") == 206654 and rt.ratio("-") is None
    assert rt.seconds("81.6 ns") == pytest.approx(8.16e-8)
    assert rt.seconds("1.13 s") == pytest.approx(1.13)
    assert rt.versus(1.83) == "1.83x slower"
    assert rt.versus(0.35) == "2.9x faster"
    assert rt.versus(64415.0) == "64,000x slower"
    assert rt.versus(None) == "not timed"


def test_only_the_marked_region_is_replaced():
    text = f"intro\n{rt.BEGIN} -->\nold table\n{rt.END}\noutro\n"
    assert rt.replace_region(text, "NEW\n") == "intro\nNEW\noutro\n"
    with pytest.raises(ValueError):
        rt.replace_region("no markers\n", "NEW\n")
