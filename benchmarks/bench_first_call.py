"""First-call latency: `adjoint.grad(f)` and its first gradient in a fresh process, cold cache,
against the first call of `numba.njit(f)` (the primal) in another fresh process.

Each sample is two child processes per case, run one after the other:

* *adjoint*: imports adjoint, builds `adjoint.grad(f, cache=False)` (ADJOINT_CACHE=0 and an
  empty ADJOINT_CACHE_DIR as well) and calls it once. Inside the first call it times what the
  call generates again for the arguments' actual types (the pipeline) and numba's compilation
  (the outermost `numba:compile` events: each dispatcher the call compiles, with the library
  implementations compiled inside it, e.g. numpy functions' overloads);
* *njit*: imports numba and the example, then calls `numba.njit(f)` once (a helper the function
  calls, GMM's `gmm_main_term`, is jitted in its module first, as numba needs).

Both sides pay numba's one-off start-up in the process (its first compilation initializes LLVM
and the typing tables). Times are wall (perf_counter) and CPU (process_time: the machine may be
shared, and CPU time is what the process itself spent); the ratio is adjoint's grad(f) + first
call over njit's first call, per sample, then the median over the samples.

Run: python benchmarks/bench_first_call.py [--quick] [--case f4,lorenz,mlp,gmm] [--against PATH]
(--against PATH: that checkout's adjoint, an export of an earlier commit say, before this one's,
`git archive <commit> | tar -x -C PATH`; minimum CPU over the samples)
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

from common import ROOT, fmt_ratio, fmt_time, machine_info, markdown_table, parse_quick, write_json

NAME = "bench_first_call"

# The cases: (module, function, what makes the arguments, grad's keyword arguments).
CASES = {
    "f4": ("examples.seed_f4", "f4", "(np.array([1.0, 2.0, 3.0, 4.0]),)", "{}"),
    "lorenz": ("examples.lorenz", "lorenz", "(m.P0, 100, 0.01)", "{}"),
    "mlp": ("examples.mlp", "mlp_loss", "m.random_problem()", "dict(wrt=(0, 1, 2, 3))"),
    "gmm": ("examples.gmm", "gmm_objective", "m.gmm_data(d=3, K=4, n=50)", "dict(wrt=(0, 1, 2))"),
}
LABELS = {"f4": "f4 (seed hyper-box surface)", "lorenz": "Lorenz-63 RK4 (100 steps)",
          "mlp": "tanh MLP (32x8, hidden 16)", "gmm": "ADBench GMM (d=3, K=4, n=50)"}
# helpers the primal calls, jitted in their module before numba.njit(f) compiles f
NJIT_HELPERS = {"gmm": ("gmm_main_term",)}
# NVIDIA Warp's form of a case (benchmarks/warp_kernels.py): the driver that builds the
# gradient call and what makes its arguments. f4: one point through the wp.Tape (forward and
# adjoint kernels); Lorenz: the 100-step RK4 loop with the state stored per step (the form Warp
# differentiates correctly, see bench_loops), on a tape. The MLP and GMM have no Warp form here.
WARP_CASES = {"f4": ("f4_tape", "(np.array([[1.0, 2.0, 3.0, 4.0]]),)"),
              "lorenz": ("lorenz_loop_stored_grad", "(m.P0.copy(), 100)")}

# The adjoint child: one line of JSON. `compiled` lists the outermost numba compilations of
# the first call (name, seconds), the library implementations they compiled counted inside.
ADJOINT_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
if os.environ.get("ADJOINT_BENCH_PATH"):          # run.py --adjoint PATH: that checkout's adjoint
    sys.path.insert(0, os.environ["ADJOINT_BENCH_PATH"])
w0, c0 = time.perf_counter(), time.process_time()
import numpy as np
import adjoint
w1, c1 = time.perf_counter(), time.process_time()
import importlib
from numba.core import event
import adjoint.api.gradient as gradient_module
try:
    import adjoint.api.compiling as compiling_module     # the variants' differentiate
except ImportError:                                       # (a checkout from before api/compiling.py)
    compiling_module = gradient_module
m = importlib.import_module(sys.argv[2])
f = getattr(m, sys.argv[3])
args = eval(sys.argv[4])
kwargs = eval(sys.argv[5])

class Compiles(event.Listener):
    def __init__(self):
        self.depth, self.start, self.outer = 0, 0.0, []
    def on_start(self, ev):
        if self.depth == 0:
            self.start = time.perf_counter()
        self.depth += 1
    def on_end(self, ev):
        self.depth -= 1
        if self.depth == 0:
            name = getattr(ev.data["dispatcher"].py_func, "__name__", "?")
            self.outer.append((name, time.perf_counter() - self.start))

pipeline = []
differentiate = gradient_module.differentiate
def timed_differentiate(*a, **k):
    t = time.perf_counter()
    try:
        return differentiate(*a, **k)
    finally:
        pipeline.append(time.perf_counter() - t)
gradient_module.differentiate = compiling_module.differentiate = timed_differentiate

w2, c2 = time.perf_counter(), time.process_time()
g = adjoint.grad(f, cache=False, **kwargs)
w3, c3 = time.perf_counter(), time.process_time()
transform_pipeline = sum(pipeline)
del pipeline[:]
listener = Compiles()
event.register("numba:compile", listener)
value = g(*args)
w4, c4 = time.perf_counter(), time.process_time()
event.unregister("numba:compile", listener)
value = value if isinstance(value, tuple) else (value,)
print(json.dumps({
    "import_wall_s": w1 - w0, "import_cpu_s": c1 - c0,
    "grad_wall_s": w3 - w2, "grad_cpu_s": c3 - c2, "grad_pipeline_s": transform_pipeline,
    "call_wall_s": w4 - w3, "call_cpu_s": c4 - c3,
    "call_pipeline_s": sum(pipeline),
    "call_numba_s": sum(t for _, t in listener.outer),
    "compiled": listener.outer,
    "total_wall_s": w4 - w2, "total_cpu_s": c4 - c2,
    "adjoint_path": os.path.dirname(os.path.dirname(adjoint.__file__)),
    "gradient_norm": float(sum(np.sum(np.asarray(v, dtype=float) ** 2) for v in value)) ** 0.5,
}))
"""

NJIT_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
import importlib
import numpy as np
import numba
m = importlib.import_module(sys.argv[2])
args = eval(sys.argv[4])
w0, c0 = time.perf_counter(), time.process_time()
for helper in sys.argv[5].split(",") if sys.argv[5] else ():
    setattr(m, helper, numba.njit(getattr(m, helper)))
numba.njit(getattr(m, sys.argv[3]))(*args)
w1, c1 = time.perf_counter(), time.process_time()
print(json.dumps({"total_wall_s": w1 - w0, "total_cpu_s": c1 - c0}))
"""


# The Warp child: imports warp (its init not counted, like `import adjoint`), launches a trivial
# kernel (the one-off start-up of Warp's compiler, about 2 s of CPU, that numba's start-up
# matches on the other side), then builds the gradient call and runs it once: Warp compiles the
# kernel's module (forward and adjoint) into the empty kernel cache that WARP_CACHE_PATH names.
# Prints one line of JSON.
WARP_CHILD = r"""
import json, os, sys, time
sys.path.insert(0, sys.argv[1])
sys.path.insert(0, os.path.join(sys.argv[1], "benchmarks"))
import importlib
import numpy as np
w0, c0 = time.perf_counter(), time.process_time()
import warp as wp
wp.config.log_level = wp.LOG_WARNING
wp.init()
w1, c1 = time.perf_counter(), time.process_time()
import warp_kernels
m = importlib.import_module(sys.argv[2])
args = eval(sys.argv[4])
w2, c2 = time.perf_counter(), time.process_time()
warp_kernels.warm_up()
w3, c3 = time.perf_counter(), time.process_time()
run = getattr(warp_kernels, sys.argv[3])(*args)
value = run()
w4, c4 = time.perf_counter(), time.process_time()
print(json.dumps({"import_wall_s": w1 - w0, "import_cpu_s": c1 - c0,
                  "startup_wall_s": w3 - w2, "startup_cpu_s": c3 - c2,
                  "kernel_wall_s": w4 - w3, "kernel_cpu_s": c4 - c3,
                  "total_wall_s": w4 - w2, "total_cpu_s": c4 - c2,
                  "cache": wp.config.kernel_cache_dir,
                  "gradient_norm": float(np.sqrt(np.sum(np.asarray(value) ** 2)))}))
"""


def warp_available():
    try:
        from importlib import metadata
        return metadata.version("warp-lang")
    except Exception:  # noqa: BLE001 -- not installed
        return None


def run_child(code, argv, env):
    proc = subprocess.run([sys.executable, "-c", code, str(ROOT), *argv], env=env,
                          capture_output=True, text=True, timeout=900, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"the child process failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def sample(case, against=None):
    """(adjoint's child, njit's child, Warp's or None[, the child of the adjoint at `against`])."""
    module, function, make_args, kwargs = CASES[case]
    with tempfile.TemporaryDirectory(prefix="adjoint-bench-first-call-") as folder:
        env = dict(os.environ, ADJOINT_CACHE="0", ADJOINT_CACHE_DIR=folder, NUMBA_CACHE_DIR=folder)
        env.pop("ADJOINT_DUMP", None)
        ours = run_child(ADJOINT_CHILD, [module, function, make_args, kwargs], env)
        theirs = run_child(NJIT_CHILD, [module, function, make_args, ",".join(NJIT_HELPERS.get(case, ()))],
                           env)
        if against is not None:
            with tempfile.TemporaryDirectory(prefix="adjoint-bench-first-call-") as other:
                env = dict(env, ADJOINT_BENCH_PATH=os.path.abspath(against), ADJOINT_CACHE_DIR=other,
                           NUMBA_CACHE_DIR=other)
                before = run_child(ADJOINT_CHILD, [module, function, make_args, kwargs], env)
            return ours, theirs, None, before
        warp = None
        if case in WARP_CASES and warp_available():
            driver, warp_args = WARP_CASES[case]
            warp_env = dict(env, WARP_CACHE_PATH=os.path.join(folder, "warp"))
            warp = run_child(WARP_CHILD, [module, driver, warp_args], warp_env)
    return ours, theirs, warp


def compare(against, cases, rounds):
    """The adjoint of this checkout against the one at `against` (e.g. an export of the commit
    before a change), each sample running both and njit in turn: the minimum CPU time over
    the samples of each, and the ratios of those minimums to njit's."""
    samples = {case: [] for case in cases}
    for _ in range(rounds):
        for case in cases:
            samples[case].append(sample(case, against))
    rows = []
    for case in cases:
        best = [min(s[k]["total_cpu_s"] for s in samples[case]) for k in (3, 0, 1)]
        rows.append([LABELS[case], fmt_time(best[2]), fmt_time(best[0]), fmt_time(best[1]),
                     fmt_ratio(best[0] / best[2]), fmt_ratio(best[1] / best[2])])
    return "\n".join([
        f"## First-call latency, {against} (before) against this checkout (after)",
        "",
        f"CPU time (process_time) of grad(f) and its first call in a fresh process, cold cache; "
        f"minimum over {rounds} samples, each running both adjoints and numba.njit(f) in turn.",
        "",
        markdown_table(["case", "njit(f) first call", "adjoint before", "adjoint after",
                        "ratio before", "ratio after"], rows)])


def main(quick=False, cases=None):
    cases = cases or list(CASES)
    rounds = 1 if quick else 3
    samples = {case: [] for case in cases}
    for _ in range(rounds):                    # interleaved: a slow phase hits every case alike
        for case in cases:
            samples[case].append(sample(case))

    def med(case, side, key):
        return statistics.median(s[side][key] for s in samples[case])

    def ratio(case, key):
        return statistics.median(s[0][key] / s[1][key] for s in samples[case])

    def warp_cell(case):
        got = [s[2] for s in samples[case] if s[2]]
        if not got:
            return "-" if case not in WARP_CASES else "missing (warp-lang not installed)"
        def med(key):
            return fmt_time(statistics.median(g[key] for g in got))
        ratio_cpu = statistics.median(s[0]["total_cpu_s"] / s[2]["total_cpu_s"]
                                      for s in samples[case] if s[2])
        return (f"{med('total_cpu_s')} / {med('total_wall_s')} = start-up {med('startup_cpu_s')} + "
                f"kernel {med('kernel_cpu_s')} of CPU (adjoint total / Warp total "
                f"{fmt_ratio(ratio_cpu)}, CPU)")

    rows = []
    for case in cases:
        rows.append([LABELS[case],
                     f"{fmt_time(med(case, 0, 'grad_cpu_s'))}",
                     f"{fmt_time(med(case, 0, 'call_cpu_s'))} ({fmt_time(med(case, 0, 'call_pipeline_s'))} + "
                     f"{fmt_time(med(case, 0, 'call_numba_s'))})",
                     f"{fmt_time(med(case, 0, 'total_cpu_s'))} / {fmt_time(med(case, 0, 'total_wall_s'))}",
                     f"{fmt_time(med(case, 1, 'total_cpu_s'))} / {fmt_time(med(case, 1, 'total_wall_s'))}",
                     f"{fmt_ratio(ratio(case, 'total_cpu_s'))} / {fmt_ratio(ratio(case, 'total_wall_s'))}",
                     warp_cell(case)])
    imports = [s[0]["import_cpu_s"] for case in cases for s in samples[case]]
    warp_imports = [s[2]["import_cpu_s"] for case in cases for s in samples[case] if s[2]]
    info = machine_info(peers=())
    text = "\n".join([
        "## First-call latency: `grad(f)` and the first gradient in a fresh process",
        "",
        (f"Each sample is two fresh processes per case: one builds `adjoint.grad(f, cache=False)` "
         f"and calls it once, the other calls `numba.njit(f)` once (the primal's compilation). "
         f"Median over {rounds} sample(s); CPU time (process_time) / wall time. The first call's "
         f"own time splits into the pipeline run again for the arguments' types and numba's "
         f"compilation (wall). `import adjoint` (numpy and numba included) is not counted: "
         f"{fmt_time(statistics.median(imports))} of CPU. NVIDIA Warp, where the case has a "
         f"Warp form (benchmarks/warp_kernels.py, float64; f4: one point through a wp.Tape; "
         f"Lorenz: the RK4 loop with the state stored per step), in a third fresh process: "
         f"the one-off start-up of Warp's compiler (measured as the first launch of a trivial "
         f"kernel), then building the call and its first gradient, which compiles the kernel's "
         f"module (forward and adjoint, Warp's bundled clang) into an empty kernel cache "
         f"(WARP_CACHE_PATH); `import warp` and `wp.init()` are not counted"
         + (f": {fmt_time(statistics.median(warp_imports))} of CPU." if warp_imports else ".")),
        "",
        markdown_table(["case", "grad(f), CPU", "first call, CPU (pipeline + numba, wall)",
                        "adjoint total, CPU / wall", "njit(f) first call, CPU / wall",
                        "ratio, CPU / wall", "Warp first gradient, CPU / wall (cold kernel cache)"],
                       rows),
        "",
        "What each first call compiled (outermost numba compilations, wall seconds, first sample):",
        "",
    ] + [f"- {case}: " + ", ".join(f"{name} {t:.2f}" for name, t in samples[case][0][0]["compiled"])
         for case in cases])
    write_json(NAME, {"benchmark": NAME, "quick": quick, "machine": info, "rounds": rounds,
                      "samples": samples}, quick=quick)
    return text


if __name__ == "__main__":
    argv = sys.argv[1:]
    chosen = None
    if "--case" in argv:
        k = argv.index("--case")
        chosen = argv[k + 1].split(",")
        del argv[k:k + 2]
    against = None
    if "--against" in argv:          # --against PATH: a checkout (or `git archive` export) to compare
        k = argv.index("--against")
        against = argv[k + 1]
        del argv[k:k + 2]
    quick = parse_quick(argv)
    t0 = time.perf_counter()
    if against is not None:
        print(compare(against, chosen or list(CASES), 1 if quick else 3))
    else:
        print(main(quick=quick, cases=chosen))
    print(f"\n(ran in {time.perf_counter() - t0:.0f} s; load average {os.getloadavg()[0]:.2f})")
