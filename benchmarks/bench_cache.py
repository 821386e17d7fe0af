"""Cold vs warm start of `adjoint.grad(f, cache=True)`: what a second process saves.

Each sample is a fresh Python process (ADJOINT_CACHE_DIR pointing at a temporary folder) that
imports adjoint, builds the gradient of the Lorenz-63 RK4 integration
(tests/control_flow_corpus.lorenz_rk4, 1000 steps) with cache=True and calls it once. A *cold*
process finds the folder empty: it transforms the function, writes the generated module, and
numba compiles it and writes its machine code. A *warm* process, run next with the same folder,
reads both back. Each pair gets a fresh folder; the reported figures are medians over the pairs.

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
STEPS = 1000

# The child process: one line of JSON with its phases' times (perf_counter, seconds).
CHILD = r"""
import json, os, sys, time
if os.environ.get("ADJOINT_BENCH_PATH"):          # run.py --adjoint PATH
    sys.path.insert(0, os.environ["ADJOINT_BENCH_PATH"])
t0 = time.perf_counter()
import numpy as np
import adjoint
t1 = time.perf_counter()
sys.path.insert(0, sys.argv[1])
from tests.control_flow_corpus import lorenz_rk4
t2 = time.perf_counter()
g = adjoint.grad(lorenz_rk4, cache=True)
t3 = time.perf_counter()
p = np.array([1.0, 1.0, 1.0, 10.0, 28.0, 8.0 / 3.0])
value = g(p, int(sys.argv[2]))
t4 = time.perf_counter()
value = g(p, int(sys.argv[2]))
t5 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "transform_s": t3 - t2, "first_call_s": t4 - t3,
                  "second_call_s": t5 - t4, "to_first_gradient_s": t4 - t0,
                  "gradient": [float(v) for v in np.asarray(value)]}))
"""

# For scale: the first call of a trivial @njit function in a fresh process (numba sets up its
# typing and code generation on first use, which a warm start pays as well).
REFERENCE = r"""
import json, os, sys, time
if os.environ.get("ADJOINT_BENCH_PATH"):
    sys.path.insert(0, os.environ["ADJOINT_BENCH_PATH"])
import adjoint, numba
t0 = time.perf_counter()
numba.njit(lambda x: x + 1.0)(1.0)
print(json.dumps({"trivial_first_call_s": time.perf_counter() - t0}))
"""

PHASES = [("import_s", "import adjoint (numpy, numba)"),
          ("transform_s", "adjoint.grad(lorenz_rk4, cache=True)"),
          ("first_call_s", "first call (numba compile, or load from the cache)"),
          ("to_first_gradient_s", "import to first gradient, in the process"),
          ("process_s", "whole process (interpreter start to exit)"),
          ("second_call_s", "second call (compiled)")]


def run_child(cache_dir, code=CHILD):
    env = dict(os.environ, ADJOINT_CACHE_DIR=cache_dir)
    env.pop("ADJOINT_DUMP", None)
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT), str(STEPS)], env=env,
                          capture_output=True, text=True, timeout=600, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"the child process failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def main(quick=False):
    pairs = 1 if quick else 5
    samples = {"cold": [], "warm": []}
    files = []
    trivial = []
    for _ in range(pairs):
        with tempfile.TemporaryDirectory(prefix="adjoint-bench-cache-") as folder:
            samples["cold"].append(run_child(folder))
            files.append(sorted(p.name for p in Path(folder).rglob("*") if p.is_file()))
            samples["warm"].append(run_child(folder))
            trivial.append(run_child(folder, REFERENCE)["trivial_first_call_s"])
    gradients = [s["gradient"] for kind in samples for s in samples[kind]]
    same = all(np.allclose(g, gradients[0], rtol=1e-12, atol=0) for g in gradients)
    if not same:
        raise AssertionError("cold and warm processes computed different gradients")

    medians = {kind: {key: statistics.median(s[key] for s in runs) for key, _ in PHASES}
               for kind, runs in samples.items()}
    rows = []
    for key, label in PHASES:
        cold, warm = medians["cold"][key], medians["warm"][key]
        rows.append([label, fmt_time(cold), fmt_time(warm), fmt_ratio(cold / warm),
                     fmt_time(cold - warm)])
    info = machine_info()
    text = "\n".join([
        "## Cold vs warm start: `adjoint.grad(f, cache=True)`",
        "",
        ("Each sample is a fresh Python process with ADJOINT_CACHE_DIR set to a temporary "
         "folder: it imports adjoint, builds `adjoint.grad(lorenz_rk4, cache=True)` "
         f"(tests/control_flow_corpus.py, {STEPS} RK4 steps) and calls it twice. *Cold*: an "
         "empty folder (the function is transformed, the generated module written, numba "
         "compiles and writes its cache). *Warm*: the next process with the same folder. "
         f"Median over {pairs} cold/warm pairs, a fresh folder per pair; times measured inside "
         "the process with perf_counter, except the whole-process row (measured by the parent). "
         "Both processes' gradients are checked equal."),
        "",
        markdown_table(["phase", "cold (median)", "warm (median)", "cold / warm",
                        "saved"], rows),
        "",
        (f"For scale, numba's fixed start-up: compiling and calling a trivial "
         f"`numba.njit(lambda x: x + 1.0)` in a fresh process (adjoint imported) takes "
         f"{fmt_time(statistics.median(trivial))} (median of {pairs}). Files in the cache folder "
         f"after a cold run: {', '.join(files[0])}."),
    ])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "pairs": pairs,
                      "steps": STEPS, "samples": samples, "medians": medians,
                      "trivial_njit_first_call_s": trivial,
                      "cache_files": files[0]}, quick=quick)
    return text


if __name__ == "__main__":
    run_script(main)
