"""Cold vs warm start with the on-disk cache (on by default): what a second process saves.

Each sample is a fresh Python process (ADJOINT_CACHE_DIR pointing at a temporary folder) that
imports adjoint, then builds `adjoint.grad(f)` (no cache argument: the default) and calls it
once and its batch once, for two functions: the seed's f4 (examples/seed_f4.py, a batch of
10,000 points) and the Lorenz-63 RK4 integration (examples/lorenz.py, 1000 steps, a batch of
64 initial states). A *cold* process finds the folder empty: it transforms the function,
writes the generated modules, and numba compiles them (gradient, the allocation-free batch
gradient, the batch driver) and writes its machine code. A *warm* process, run next with the
same folder, reads all of it back; it counts numba's compilations (its "numba:compile" event,
which a cache hit does not raise) to show that it compiled nothing. A third process on the
same folder lets numba read its cache itself (api/cache.read_quickly off), for comparison. Each
pair gets a fresh folder; the figures are medians over the pairs.

Run: python benchmarks/bench_cache.py [--quick]     (or: make bench)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from common import (
    ROOT,
    fmt_ratio,
    fmt_time,
    machine_info,
    markdown_table,
    run_script,
    write_json,
)

NAME = "bench_cache"
FUNCTIONS = ("f4", "lorenz")

# The child process: one line of JSON with its phases' times (perf_counter, seconds).
CHILD = r"""
import json, os, sys, time
if os.environ.get("ADJOINT_BENCH_PATH"):          # run.py --adjoint PATH
    sys.path.insert(0, os.environ["ADJOINT_BENCH_PATH"])
t0 = time.perf_counter()
import numpy as np
import adjoint
if sys.argv[3:] == ["numba-reads"]:               # numba reads its cache itself, for comparison
    import adjoint.api.cache
    adjoint.api.cache.read_quickly = lambda dispatcher: dispatcher
t1 = time.perf_counter()
c1 = time.process_time()
from numba.core import event
compilations = event.RecordingListener()
event.register("numba:compile", compilations)
sys.path.insert(0, os.path.join(sys.argv[1], "examples"))
if sys.argv[2] == "f4":
    from seed_f4 import f4 as f
    point = (np.array([1.0, 2.0, 3.0, 4.0]),)
    points = (np.random.default_rng(0).uniform(0.5, 2.0, (10_000, 4)),)
else:
    from lorenz import lorenz as f, P0
    point = (P0, 1000, 0.01)
    points = (P0 + np.random.default_rng(0).uniform(-0.01, 0.01, (64, 6)), 1000, 0.01)
g = adjoint.grad(f)
t2 = time.perf_counter()
gradient = g(*point)
t3 = time.perf_counter()
rows = g.batch(*points)
t4 = time.perf_counter()
c4 = time.process_time()
g(*point)
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "grad_s": t2 - t1, "first_gradient_s": t3 - t2,
                  "first_batch_s": t4 - t3, "after_import_s": t4 - t1, "second_call_s": t5 - t4,
                  "after_import_cpu_s": c4 - c1,
                  "compilations": len([e for e in compilations.buffer if e[1].is_start]),
                  "status": g.cache_status,
                  "gradient": [float(v) for v in np.asarray(gradient)],
                  "rows": [float(v) for v in np.asarray(rows)[:3].ravel()]}))
"""

# For scale: the first call of a trivial @njit function in a fresh process (numba sets up its
# typing and code generation on first use, which a cold start pays as well).
REFERENCE = r"""
import json, os, sys, time
if os.environ.get("ADJOINT_BENCH_PATH"):
    sys.path.insert(0, os.environ["ADJOINT_BENCH_PATH"])
import adjoint, numba
t0, c0 = time.perf_counter(), time.process_time()
numba.njit(lambda x: x + 1.0)(1.0)
print(json.dumps({"trivial_first_call_s": time.perf_counter() - t0,
                  "trivial_first_call_cpu_s": time.process_time() - c0}))
"""

PHASES = [("import_s", "import adjoint (numpy, numba)"),
          ("grad_s", "import the example, adjoint.grad(f)"),
          ("first_gradient_s", "first gradient g(x) (numba compiles, or loads)"),
          ("first_batch_s", "first batch g.batch(X) (compiles, or loads)"),
          ("after_import_s", "after import: grad + first gradient + first batch"),
          ("after_import_cpu_s", "the same, CPU time of the process (all threads)"),
          ("process_s", "whole process (interpreter start to exit)"),
          ("second_call_s", "second call g(x) (compiled)")]


def run_child(cache_dir, *args, code=CHILD):
    env = dict(os.environ, ADJOINT_CACHE_DIR=cache_dir)
    env.pop("ADJOINT_DUMP", None)
    env.pop("ADJOINT_CACHE", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT), *args], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the child process failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def main(quick=False):
    pairs = 1 if quick else 5
    samples = {name: {"cold": [], "warm": [], "warm, numba reading": []} for name in FUNCTIONS}
    files = {}
    trivial, trivial_cpu = [], []
    for _ in range(pairs):
        for name in FUNCTIONS:
            with tempfile.TemporaryDirectory(prefix="adjoint-bench-cache-") as folder:
                samples[name]["cold"].append(run_child(folder, name))
                files[name] = sorted(p.name for p in Path(folder).rglob("*") if p.is_file())
                samples[name]["warm"].append(run_child(folder, name))
                samples[name]["warm, numba reading"].append(run_child(folder, name, "numba-reads"))
        with tempfile.TemporaryDirectory(prefix="adjoint-bench-cache-") as folder:
            reference = run_child(folder, code=REFERENCE)
            trivial.append(reference["trivial_first_call_s"])
            trivial_cpu.append(reference["trivial_first_call_cpu_s"])
    for name in FUNCTIONS:
        runs = [run for kind in samples[name].values() for run in kind]
        for key in ("gradient", "rows"):
            if not all(np.allclose(r[key], runs[0][key], rtol=1e-12, atol=0) for r in runs):
                raise AssertionError(f"{name}: cold and warm processes computed different {key}")
        if any(r["compilations"] or r["status"] != "loaded" for r in samples[name]["warm"]
               + samples[name]["warm, numba reading"]):
            raise AssertionError(f"{name}: a warm process compiled: {samples[name]['warm']}")

    medians = {name: {kind: {key: statistics.median(s[key] for s in runs) for key, _ in PHASES}
                      for kind, runs in samples[name].items()} for name in FUNCTIONS}
    rows = []
    for name in FUNCTIONS:
        for key, label in PHASES:
            cold, warm = medians[name]["cold"][key], medians[name]["warm"][key]
            plain = medians[name]["warm, numba reading"][key]
            rows.append([name, label, fmt_time(cold), fmt_time(warm), fmt_ratio(cold / warm), fmt_time(plain)])
    compiled = {name: statistics.median(s["compilations"] for s in samples[name]["cold"]) for name in FUNCTIONS}
    goal = {name: medians[name]["warm"]["after_import_s"] for name in FUNCTIONS}
    goal_cpu = {name: medians[name]["warm"]["after_import_cpu_s"] for name in FUNCTIONS}
    info = machine_info()
    text = "\n".join([
        "## Cold vs warm start: the on-disk cache (on by default)",
        "",
        ("Each sample is a fresh Python process with ADJOINT_CACHE_DIR set to a temporary "
         "folder: it imports adjoint, builds `adjoint.grad(f)` (no cache argument: the default), "
         "calls it, then runs its first batch: f4 (examples/seed_f4.py) at one point and a batch "
         "of 10,000 points, the Lorenz-63 RK4 integration (examples/lorenz.py, 1000 steps) at one "
         "initial state and a batch of 64. *Cold*: an empty folder (the function is transformed, "
         "the generated modules written; numba compiles the gradient, the allocation-free batch "
         f"gradient and the batch driver: {compiled['f4']:.0f} and {compiled['lorenz']:.0f} "
         "compilations, and writes its cache). *Warm*: the next process with the same folder, "
         "which compiles nothing (numba's compile event never fires; each warm process is checked). "
         f"Median over {pairs} cold/warm pairs, a fresh folder per pair; times measured inside the "
         "process with perf_counter, except the whole-process row (measured by the parent). "
         "The gradients and batch rows of every process are checked equal."),
        "",
        markdown_table(["function", "phase", "cold (median)", "warm (median)", "cold / warm",
                        "warm, numba reading its cache (median)"], rows),
        "",
        (f"Goal: warm, once `import adjoint` has returned, under 0.3 s to the first gradient and "
         f"the first batch together: f4 {fmt_time(goal['f4'])}, Lorenz RK4 "
         f"{fmt_time(goal['lorenz'])} (CPU time {fmt_time(goal_cpu['f4'])} and "
         f"{fmt_time(goal_cpu['lorenz'])}; load average {info.get('loadavg_1_5_15_min')}). A warm process links numba's cached machine code after "
         "starting numba's runtime only (api/cache.py `read_quickly`): numba's own cache "
         "reading first imports and registers every implementation numba has (about 0.5 s on "
         "this machine), which linking code compiled before does not need; the last column is "
         "a third process on the same folder with numba reading its cache itself."),
        "",
        (f"For scale, numba's fixed start-up: compiling and calling a trivial "
         f"`numba.njit(lambda x: x + 1.0)` in a fresh process (adjoint imported) takes "
         f"{fmt_time(statistics.median(trivial))} (CPU time {fmt_time(statistics.median(trivial_cpu))}; "
         f"median of {pairs}). Files in the cache folder "
         f"after a cold run of f4: {', '.join(files['f4'])}."),
    ])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "pairs": pairs,
                      "samples": samples, "medians": medians,
                      "trivial_njit_first_call_s": trivial, "trivial_njit_first_call_cpu_s": trivial_cpu,
                      "cache_files": files}, quick=quick)
    return text


if __name__ == "__main__":
    run_script(main)
