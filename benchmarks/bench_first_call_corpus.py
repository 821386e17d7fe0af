"""First-call latency over the realistic corpus: for each vectorized program of
tests/realistic_corpus.py (whole-array numpy code others wrote), a fresh process builds
`adjoint.grad(f, cache=False)` and calls it once on the cpu target; the CPU time of that call
(the pipeline for the arguments' types and numba's compilation) is the figure. Reported:
median, quartiles and total over the programs, and the numba compilations the calls spent
most on (the outermost ones inside the gradient's, summed over the programs).

Run: python benchmarks/bench_first_call_corpus.py [--quick] [--against PATH] [--jobs N]
(--against PATH: that checkout's adjoint too, an export of an earlier commit, each program
run by both in turn; --quick: every fourth program; --jobs: processes at a time, default 1:
two at once on a 2-core machine share its memory bandwidth)
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter

from common import ROOT, fmt_time, machine_info, markdown_table, write_json

NAME = "bench_first_call_corpus"

CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[2])
sys.path.insert(0, sys.argv[1])                # the checkout measured first: its adjoint
import numpy as np
from numba.core import event
import adjoint
from tests import realistic_corpus
program = [p for p in realistic_corpus.PROGRAMS if p.name == sys.argv[3]][0]
args = program.arguments()
stack, compiled = [], []

class Compiles(event.Listener):
    def on_start(self, ev):
        stack.append(time.perf_counter())
    def on_end(self, ev):
        start = stack.pop()
        if len(stack) == 1:                   # inside the gradient's own compilation
            name = getattr(ev.data["dispatcher"], "__qualname__", "?")
            compiled.append((name, time.perf_counter() - start))

g = adjoint.grad(program.fn, wrt=program.wrt, cache=False)
cpu = time.process_time()
try:
    with event.install_listener("numba:compile", Compiles()):
        g(*args)
except Exception as error:                    # a program the checkout cannot differentiate
    print(json.dumps({"error": type(error).__name__}))
    sys.exit()
print(json.dumps({"cpu_s": time.process_time() - cpu, "compiled": compiled,
                  "adjoint": os.path.dirname(os.path.dirname(os.path.abspath(adjoint.__file__)))}))
"""


def vectorized_programs(quick=False):
    sys.path.insert(0, ROOT)
    from tests import realistic_corpus
    names = [p.name for p in realistic_corpus.PROGRAMS if p.style == "vectorized"]
    return names[::4] if quick else names


def run_one(adjoint_path, name):
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ADJOINT_CACHE": "0", "ADJOINT_CACHE_DIR": cache}
        done = subprocess.run([sys.executable, "-c", CHILD, adjoint_path, ROOT, name], env=env,
                              capture_output=True, text=True, timeout=600)
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {"error": "crashed"}
    if "adjoint" in result and os.path.realpath(result["adjoint"]) != os.path.realpath(adjoint_path):
        raise RuntimeError(f"{name}: ran {result['adjoint']}'s adjoint, not {adjoint_path}'s")
    return result


def summary(times):
    q = statistics.quantiles(times, n=4) if len(times) > 1 else [times[0]] * 3
    return {"median_s": statistics.median(times), "q1_s": q[0], "q3_s": q[2], "total_s": sum(times)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--against", metavar="PATH")
    parser.add_argument("--jobs", type=int, default=1)
    options = parser.parse_args(argv)
    checkouts = {"this checkout": ROOT} | ({"before": os.path.abspath(options.against)} if options.against else {})
    names = vectorized_programs(options.quick)
    started = time.perf_counter()
    results = {label: {} for label in checkouts}
    with concurrent.futures.ThreadPoolExecutor(options.jobs) as pool:
        jobs = {pool.submit(run_one, path, name): (label, name)
                for name in names for label, path in checkouts.items()}
        for job in concurrent.futures.as_completed(jobs):
            label, name = jobs[job]
            results[label][name] = job.result()
    ran = [n for n in names if all("cpu_s" in results[label].get(n, {}) for label in checkouts)]
    rows, data = [], {"programs": len(names), "compared": len(ran), "machine": machine_info(peers=())}
    for label in checkouts:
        figures = summary([results[label][n]["cpu_s"] for n in ran])
        data[label] = {"summary": figures, "per_program_s": {n: results[label][n]["cpu_s"] for n in ran}}
        rows.append([label, str(len(ran)), fmt_time(figures["median_s"]),
                     f"{fmt_time(figures['q1_s'])} - {fmt_time(figures['q3_s'])}", fmt_time(figures["total_s"])])
    print("## First call of the cpu gradient over the realistic corpus's vectorized programs\n")
    print(markdown_table(["adjoint", "programs", "median first call (CPU)", "quartiles", "total"], rows))
    spent, count = Counter(), Counter()
    for n in ran:
        for name, seconds in results["this checkout"][n]["compiled"]:
            key = re.sub(r"0x[0-9a-f]+", "", name)
            spent[key] += seconds
            count[key] += 1
    print("\nnumba compilations inside the gradients' (this checkout), most time first:\n")
    print(markdown_table(["compiled", "programs x times", "total wall"],
                         [[k, str(count[k]), fmt_time(v)] for k, v in spent.most_common(12)]))
    failed = sorted(set(names) - set(ran))
    if failed:
        print(f"\nnot compared (an error in a checkout): {', '.join(failed)}")
    print(f"\n(ran in {time.perf_counter() - started:.0f} s; load average {os.getloadavg()[0]:.2f})")
    data["top_compilations"] = [[k, count[k], v] for k, v in spent.most_common(30)]
    write_json(NAME, data, quick=options.quick)


if __name__ == "__main__":
    main()
