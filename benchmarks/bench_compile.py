"""The compiler's own time: `adjoint.pipeline.differentiate(f)` on growing programs (no numba).

Four families, generated as source files and imported (the compiler reads source), the same
programs tests/test_compiler_scaling.py checks:
  * nested loops: `for i_k in range(2):` nested d deep, each level updating a scalar;
  * straight-line code: N lines rebinding two scalars, each reading the lines before (the
    100-line row is issue 18's goal of under 50 ms; 9 repeats there, 3 elsewhere);
  * one long sum: `return sin(a_0 x) + c_1 x y + ...` of N terms (a tree N deep);
  * nested calls: cos(sin(cos(... x * y))) d deep.
Then every program of tests/realistic_corpus.py the compiler takes (code written by others:
ADBench, autograd's and JAX's examples, textbook models), each the median of 3 calls after
one that reads its helpers: the spread over the corpus and the slowest programs.
Each row is the median over the repeats of one differentiate call, wall time and the CPU time
of this process (on a shared machine CPU time moves much less than wall time). `growth` is the
local exponent log(t2 / t1) / log(n2 / n1) against the row before (1 = linear, 2 = quadratic);
for nested loops, the factor per level.

Run: python benchmarks/bench_compile.py [--quick]     (or: make bench)
"""

from __future__ import annotations

import math
import statistics
import tempfile
import time

from common import (
    fmt_time,
    machine_info,
    markdown_table,
    run_script,
    write_json,
)

NAME = "bench_compile"


def _families(quick):
    from tests.test_compiler_scaling import (
        long_sum_source,
        nested_calls_source,
        nested_loops_source,
        straight_line_source,
    )
    return [
        ("nested loops", "depth", nested_loops_source, "nested",
         range(1, 7) if quick else range(1, 9)),
        ("straight-line code", "lines", straight_line_source, "straight",
         (100, 250, 500, 1000) if quick else (100, 250, 500, 1000, 2000)),
        ("one long sum", "terms", long_sum_source, "long_sum",
         (250, 500) if quick else (250, 500, 1000)),
        ("nested calls", "depth", nested_calls_source, "nested_calls",
         (50, 100) if quick else (50, 100, 190)),
    ]


def time_differentiate(fn, repeats):
    from adjoint.pipeline import differentiate
    walls, cpus = [], []
    for _ in range(repeats):
        c0, t0 = time.process_time(), time.perf_counter()
        generated = differentiate(fn)
        walls.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus),
            "wall_samples_s": walls, "cpu_samples_s": cpus,
            "emitted_lines": generated.source.count("\n")}


def realistic_corpus_times(repeats=3):
    """[{name, style, cpu_s, emitted_lines}] for each realistic-corpus program the compiler
    takes, slowest last."""
    from adjoint.errors import AdjointError
    from adjoint.pipeline import differentiate
    from tests.realistic_corpus import PROGRAMS
    rows = []
    for program in PROGRAMS:
        try:
            differentiate(program.fn, wrt=program.wrt)
        except AdjointError:
            continue                      # (the reach benchmark counts the programs rejected)
        cpus = []
        for _ in range(repeats):
            start = time.process_time()
            generated = differentiate(program.fn, wrt=program.wrt)
            cpus.append(time.process_time() - start)
        measured = {"name": program.name, "style": program.style, "cpu_s": statistics.median(cpus),
                    "emitted_lines": generated.source.count("\n")}
        rows.append(measured)
    return sorted(rows, key=lambda row: row["cpu_s"])


def _corpus_section(rows) -> list:
    times = [row["cpu_s"] for row in rows]
    quartiles = statistics.quantiles(times, n=4)
    spread = markdown_table(["programs", "median", "upper quartile", "slowest", "total"],
                            [[len(rows), fmt_time(quartiles[1]), fmt_time(quartiles[2]), fmt_time(times[-1]),
                              fmt_time(sum(times))]])
    slowest = markdown_table(["program", "style", "CPU time", "emitted lines"],
                             [[row["name"], row["style"], fmt_time(row["cpu_s"]), row["emitted_lines"]]
                              for row in reversed(rows[-6:])])
    return ["### realistic corpus (tests/realistic_corpus.py)", "", spread, "", slowest, ""]


def main(quick=False):
    from adjoint.pipeline import differentiate
    from tests.test_compiler_scaling import load_program, straight_line_source
    repeats = 1 if quick else 3
    folder = tempfile.mkdtemp(prefix="adjoint-bench-compile-")
    differentiate(load_program(straight_line_source(3), "straight", folder))    # imports, rules
    sections, results = [], {}
    for title, size_name, source, fname, sizes in _families(quick):
        rows, curve = [], []
        for size in sizes:
            fn = load_program(source(size), fname, folder)
            # (a function of 100 lines takes tens of milliseconds: more repeats steady its median)
            measured = time_differentiate(fn, repeats * 3 if fname == "straight" and size <= 100 else repeats)
            measured["size"] = size
            growth = "-"
            if curve:
                before = curve[-1]
                if size_name == "depth" and fname == "nested":
                    growth = f"x{measured['cpu_s'] / before['cpu_s']:.2f} per level"
                else:
                    exponent = math.log(measured["cpu_s"] / before["cpu_s"]) / math.log(size / before["size"])
                    growth = f"{exponent:.2f}"
            curve.append(measured)
            rows.append([size, fmt_time(measured["cpu_s"]), fmt_time(measured["wall_s"]),
                         measured["emitted_lines"], growth])
            print(f"  {title}: {size_name} {size}: cpu {fmt_time(measured['cpu_s'])}", flush=True)
        results[title] = curve
        sections += [f"### {title}", "",
                     markdown_table([size_name, "CPU time", "wall time", "emitted lines", "growth"], rows),
                     ""]
    corpus = realistic_corpus_times()
    results["realistic corpus"] = corpus
    sections += _corpus_section(corpus)
    info = machine_info()
    text = "\n".join([
        "## Compiler time: `differentiate(f)` on growing programs",
        "",
        ("Transformation only (parse to emitted source, no numba compilation), median of "
         f"{repeats} call{'s' if repeats > 1 else ''} per row ({repeats * 3} for 100 straight lines, "
         "issue 18's goal: under 50 ms). The programs come from "
         "tests/test_compiler_scaling.py: nested `for` loops (two trips each, a scalar update "
         "per level), straight-line code rebinding two scalars, one `return` of a long sum, "
         "and nested calls. `growth`: the local exponent against the row before (1 linear, 2 "
         "quadratic); for nested loops the factor per level. Then the realistic corpus's "
         "programs, median of 3 calls each: their spread and the six slowest."),
        "",
        *sections,
    ])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "repeats": repeats,
                      "curves": results}, quick=quick)
    return text


if __name__ == "__main__":
    run_script(main)
