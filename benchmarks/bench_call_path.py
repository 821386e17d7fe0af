"""The call path: what a gradient call from Python costs beyond the compiled code.

For f4 (4 floats) and the extended Rosenbrock function at n = 10, side by side in one
process: `g(x)` (the public call: argument checks, type dispatch, result conversion),
`g.adjoint(x)` (numba's dispatcher of the same compiled gradient, called directly), and the
same two for `value_and_grad`. Goal (issue #18): g(x) at most 1.5x g.adjoint(x).

Run: python benchmarks/bench_call_path.py [--quick]     (or: make bench)
"""

from __future__ import annotations

import numpy as np
from common import (
    compare,
    fmt_ratio,
    fmt_time,
    machine_info,
    markdown_table,
    paired_ratio,
    run_script,
    warm_up_numba,
    write_json,
)

import adjoint
from examples.rosenbrock import rosenbrock
from examples.seed_f4 import f4

NAME = "bench_call_path"
GOAL = 1.5

CALL = "g(x)"
ADJOINT = "g.adjoint(x) (numba dispatcher)"
VALUE = "value_and_grad(f)(x)"
VALUE_ADJOINT = "value_and_grad(f).adjoint(x) (numba dispatcher)"


def workload(fn, x):
    """The four calls for `fn` at `x`, each checked against the others first."""
    g, v = adjoint.grad(fn), adjoint.value_and_grad(fn)
    expected = g.adjoint(x)
    value, gradient = v(x)
    assert np.array_equal(g(x), expected) and np.array_equal(gradient, expected)
    assert value == v.adjoint(x)[0]
    return {CALL: lambda: g(x), ADJOINT: lambda: g.adjoint(x),
            VALUE: lambda: v(x), VALUE_ADJOINT: lambda: v.adjoint(x)}


def main(quick=False):
    repeats, target = (7, 0.02) if quick else (31, 0.05)
    warm_up_numba()
    workloads = {"f4 (4 floats)": workload(f4, np.array([1.0, 2.0, 3.0, 4.0])),
                 "Rosenbrock, n = 10": workload(rosenbrock, np.linspace(-1.0, 1.5, 10))}
    rows, data = [], []
    for title, cases in workloads.items():
        results = compare(cases, repeats=repeats, target_s=target)
        for name, summary in results.items():
            base = VALUE_ADJOINT if name.startswith("value_and_grad") else ADJOINT
            ratio = paired_ratio(results, name, base)
            cpu_ratio = paired_ratio(results, name, base, samples="cpu_samples_s")
            rows.append([title, name, fmt_time(summary["median_s"]), fmt_time(summary["iqr_s"]),
                         fmt_time(summary["min_s"]), f"{summary['cores']:.1f}", fmt_ratio(ratio),
                         fmt_ratio(cpu_ratio)])
            data.append({"workload": title, "variant": name, "median_s": summary["median_s"],
                         "iqr_s": summary["iqr_s"], "min_s": summary["min_s"],
                         "over_dispatcher": ratio, "over_dispatcher_cpu": cpu_ratio})
    ratios = [d["over_dispatcher"] for d in data if d["variant"] in (CALL, VALUE)]
    table = markdown_table(["workload", "call", "time per call (median)", "IQR", "min",
                            "cores busy", "/ its dispatcher", "/ its dispatcher (CPU time)"], rows)
    text = "\n".join([
        "## The call path: g(x) against the compiled gradient's dispatcher", "",
        (f"Time per call from Python, median of {repeats} interleaved repeats; '/ its dispatcher' "
         "is the median per-round ratio to the numba dispatcher of the same compiled code "
         "(g.adjoint for g(x), the value_and_grad object's .adjoint for its call), of wall time "
         "and of the process's CPU time ('cores busy' below 1: other jobs had the CPU). Goal: at most "
         f"{GOAL}x; worst here {max(ratios):.2f}x."), "", table])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": machine_info(),
                      "repeats": repeats, "goal": GOAL, "rows": data}, quick=quick)
    return text


if __name__ == "__main__":
    run_script(main)
