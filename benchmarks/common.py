"""Shared helpers for the benchmark scripts: timing, machine info, tables, optional peers.

Timing protocol (every benchmark uses it):
  * each case is called once before timing (JIT compilation is excluded; first-call times are
    reported separately where they are interesting);
  * an inner loop count is calibrated per case so that one repeat lasts at least `target_s`;
  * the repeats of all cases of one comparison are interleaved (case A, B, C, A, B, C, ...), so a
    slow phase of the machine hits every case alike and the ratios stay side by side;
  * the reported figure is the median time per call over the repeats, with its IQR (q75 - q25);
  * a ratio A/B is the median over the rounds of (A's time in that round) / (B's time in that
    round): paired rounds cancel most of the drift of a shared, noisy machine. `paired_ratio`.
"""

from __future__ import annotations

import importlib
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS_DIR = HERE / "results"

# The prologue every bench_*.py shares: a script imports `common` before adjoint (its own
# folder, benchmarks/, is first on sys.path when it runs as `python benchmarks/bench_x.py` or
# is imported by run.py), and this puts the repository first, for `examples.*` and `tests.*`.
if str(ROOT) in sys.path:
    sys.path.remove(str(ROOT))
sys.path.insert(0, str(ROOT))

# The on-disk cache (on by default for the cpu target) is off for the benchmarks: their first
# calls measure transformation and compilation, never a load from an earlier run's entries.
# bench_cache.py turns it back on in the processes it starts (ADJOINT_CACHE=1 here keeps it on).
os.environ.setdefault("ADJOINT_CACHE", "0")

# ADJOINT_BENCH_PATH=/some/checkout benchmarks that checkout's adjoint package instead of the
# installed one (run.py --adjoint PATH sets it); machine_info records which one ran.
if os.environ.get("ADJOINT_BENCH_PATH"):
    sys.path.insert(0, os.path.abspath(os.environ["ADJOINT_BENCH_PATH"]))


# ---------------------------------------------------------------------------------------------
# timing

def _run(fn, number):
    t0 = time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - t0


def _run_with_cpu(fn, number):
    """(wall seconds, CPU seconds of the whole process: every thread's) for `number` calls."""
    c0, t0 = time.process_time(), time.perf_counter()
    for _ in range(number):
        fn()
    return time.perf_counter() - t0, time.process_time() - c0


def calibrate(fn, target_s=0.05, max_number=10**7):
    """The inner loop count for which one repeat of `fn()` lasts at least `target_s`."""
    number = 1
    while True:
        elapsed = _run(fn, number)
        if elapsed >= target_s or number >= max_number:
            return number
        if elapsed <= 0:
            number *= 10
        else:
            number = min(max_number, max(number * 2, int(number * target_s / elapsed * 1.2) + 1))


def warm_up_numba():
    """Compile one trivial function, so that numba's one-off start-up is not charged to the
    first compile time that a benchmark reports."""
    import numba
    import numpy as np

    def kernel(x):
        a, b = x
        r = np.zeros_like(x)
        r[0] += a * b
        return np.array([r[0], b])

    @numba.njit
    def loop(X, out):
        for i in range(X.shape[0]):
            out[i, :] = kernel(X[i])

    kernel = numba.njit(kernel)
    loop(np.ones((2, 2)), np.empty((2, 2)))


def first_call(fn):
    """Seconds taken by the first call (JIT compilation included)."""
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def _summary(per_call, number, cpu=None):
    ordered = sorted(per_call)
    if len(ordered) >= 2:
        q1, _, q3 = statistics.quantiles(ordered, n=4, method="inclusive")
    else:
        q1 = q3 = ordered[0]
    return {"median_s": statistics.median(ordered), "q1_s": q1, "q3_s": q3, "iqr_s": q3 - q1,
            "min_s": ordered[0], "repeats": len(ordered), "number": number,
            # CPU time over wall time of the timed calls: how many cores the tool kept busy
            "cores": sum(cpu) / sum(per_call) if cpu and sum(per_call) > 0 else None,
            "samples_s": list(per_call),                  # in round order, for paired ratios
            "cpu_samples_s": list(cpu) if cpu else None}  # the process's CPU time per call, likewise


def paired_ratio(results, a, b, samples="samples_s"):
    """Median over the interleaved rounds of results[a] / results[b] (same `compare` call);
    samples="cpu_samples_s": of their CPU times (steadier than wall time on a loaded machine)."""
    sa, sb = results[a][samples], results[b][samples]
    return statistics.median(x / y for x, y in zip(sa, sb))


def measure(fn, repeats=15, target_s=0.05, warmup=1):
    """Median and IQR of the time per call of `fn()` over `repeats` repeats (seconds)."""
    return compare({"_": fn}, repeats=repeats, target_s=target_s, warmup=warmup)["_"]


def compare(cases, repeats=15, target_s=0.05, warmup=1, number=None):
    """Time several zero-argument callables side by side, with interleaved repeats.

    cases: {name: callable}. Returns {name: summary dict} (see `_summary`; times per call;
    samples_s[r] of every case comes from round r). number: calls per repeat for every case
    instead of calibrating (number=1 for calls of seconds, which calibration would only repeat).
    """
    numbers = {}
    for name, fn in cases.items():
        for _ in range(warmup):
            fn()
        numbers[name] = number or calibrate(fn, target_s)
    samples = {name: [] for name in cases}
    cpu = {name: [] for name in cases}
    for _ in range(repeats):
        for name, fn in cases.items():
            wall, busy = _run_with_cpu(fn, numbers[name])
            samples[name].append(wall / numbers[name])
            cpu[name].append(busy / numbers[name])
    return {name: _summary(samples[name], numbers[name], cpu[name]) for name in cases}


def fmt_cores(summary):
    """'1.0', '1.9': the cores a tool kept busy while timed (CPU time / wall time)."""
    cores = summary.get("cores")
    return "-" if cores is None else f"{cores:.1f}"


# ---------------------------------------------------------------------------------------------
# formatting

def fmt_time(seconds):
    """A time with a unit chosen for it: 12.3 ns, 4.56 us, 7.89 ms, 1.23 s."""
    if seconds is None:
        return "-"
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6), ("ns", 1e-9)):
        if abs(seconds) >= scale or unit == "ns":
            value = seconds / scale
            return f"{value:.3g} {unit}" if value < 100 else f"{value:.0f} {unit}"
    return str(seconds)


def fmt_ratio(value):
    if value is None:
        return "-"
    return f"{value:.2f}x" if value < 100 else f"{value:.0f}x"


def markdown_table(headers, rows):
    """A GitHub markdown table; cells are converted with str()."""
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(str(h)), *(len(r[i]) for r in rows)) if rows else len(str(h))
              for i, h in enumerate(headers)]
    def line(cells):
        return "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    out = [line([str(h) for h in headers]), "| " + " | ".join("-" * w for w in widths) + " |"]
    out += [line(r) for r in rows]
    return "\n".join(out)


# ---------------------------------------------------------------------------------------------
# peers and machine

def optional_import(name):
    """(module, None) when `name` imports, else (None, 'missing: <reason>')."""
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # noqa: BLE001 -- ImportError, or a broken install
        return None, f"missing: {type(exc).__name__}: {exc}".splitlines()[0]


def load_peers():
    """(jax, autograd, torch, {name: why it is missing}); jax in float64, like numpy."""
    jax, missing_jax = optional_import("jax")
    if jax is not None:
        jax.config.update("jax_enable_x64", True)
        import jax.numpy  # noqa: F401
    autograd, missing_autograd = optional_import("autograd")
    if autograd is not None:
        import autograd.numpy  # noqa: F401
    torch, missing_torch = optional_import("torch")
    missing = {k: v for k, v in (("jax", missing_jax), ("autograd", missing_autograd),
                                  ("torch", missing_torch)) if v}
    return jax, autograd, torch, missing


def load_warp():
    """(warp, None) when NVIDIA Warp imports and its CPU device works, else (None, 'missing: ...').

    Its kernel cache goes to a fresh temporary folder for this process (removed at exit), as
    adjoint's on-disk cache is off here: a first launch measures Warp's compilation, never a
    load from an earlier run. The kernels (benchmarks/warp_kernels.py) are float64 and run on
    the "cpu" device, whose launches run the kernel's threads one after the other on the calling
    thread: one core."""
    warp, missing = optional_import("warp")
    if warp is None:
        return None, missing
    try:
        if not getattr(warp.config, "_adjoint_bench_cache", None):
            import atexit
            import shutil
            import tempfile
            folder = tempfile.mkdtemp(prefix="adjoint-bench-warp-")
            atexit.register(shutil.rmtree, folder, True)
            warp.config.kernel_cache_dir = folder
            warp.config._adjoint_bench_cache = folder
        warp.config.log_level = warp.LOG_WARNING     # no greeting, no "Module ... load" lines
        warp.init()
        warp.get_device("cpu")
    except Exception as exc:  # noqa: BLE001 -- a warp that cannot run on this machine
        return None, f"missing: {type(exc).__name__}: {exc}".splitlines()[0]
    return warp, None


# the distribution that installs an importable name, where they differ
_DISTRIBUTIONS = {"warp": "warp-lang"}


def _version(name):
    from importlib import metadata
    try:
        return metadata.version(_DISTRIBUTIONS.get(name, name))
    except metadata.PackageNotFoundError:
        pass
    try:
        module = sys.modules.get(name) or importlib.import_module(name)
        return getattr(module, "__version__", "?")
    except Exception as exc:  # noqa: BLE001 -- a peer that fails to import is reported
        return f"missing ({type(exc).__name__})"


def _cpu_model():
    try:
        with open("/proc/cpuinfo") as fh:
            for ln in fh:
                if ln.startswith("model name"):
                    return ln.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def machine_info(peers=("autograd", "jax", "torch", "warp")):
    info = {
        "platform": platform.platform(),
        "loadavg_1_5_15_min": [round(v, 2) for v in os.getloadavg()],
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "numba": _version("numba"),
        "llvmlite": _version("llvmlite"),
        "adjoint": _version("adjoint"),
    }
    info.update(adjoint_provenance())
    for peer in peers:
        info[peer] = _version(peer)
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch_threads"] = torch.get_num_threads()
    return info


def adjoint_provenance():
    """Where the benchmarked adjoint package lives, its git commit and a hash of its sources."""
    import hashlib
    import subprocess

    import adjoint
    package = Path(adjoint.__file__).resolve().parent
    digest = hashlib.sha1()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode())
        digest.update(path.read_bytes())
    def git(*args):
        return subprocess.run(["git", "-C", str(package), *args], capture_output=True,
                              text=True, timeout=10, check=False).stdout.strip()
    try:
        commit = git("log", "-1", "--format=%h %s")
        dirty = git("status", "--porcelain", "--", ".")
    except (OSError, subprocess.SubprocessError):
        commit, dirty = "", ""
    return {"adjoint_path": str(package),
            "adjoint_commit": (commit or "not a git checkout") +
                              (" (with uncommitted changes)" if dirty else ""),
            "adjoint_sources_sha1": digest.hexdigest()[:12]}


def machine_markdown(info):
    keys = ["cpu", "cpu_count", "platform", "python", "numpy", "numba", "llvmlite",
            "autograd", "jax", "torch", "torch_threads", "warp", "loadavg_1_5_15_min", "adjoint_commit"]
    return ", ".join(f"{k} {info[k]}" for k in keys if k in info)


def write_json(name, data, quick=False):
    """benchmarks/results/<name>.json (or <name>.quick.json); returns the path."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / (f"{name}.quick.json" if quick else f"{name}.json")
    with open(path, "w") as fh:
        json.dump(data, fh, indent=2, sort_keys=False, default=str)
        fh.write("\n")
    return path


def parse_quick(argv=None):
    import argparse
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer repeats and smaller sizes")
    return parser.parse_args(argv).quick


def run_script(main, argv=None):
    """The tail every bench_*.py ends with: `python benchmarks/bench_x.py [--quick]` prints the
    benchmark's markdown (`main(quick)`, the function run.py calls) and the machine it ran on."""
    quick = parse_quick(argv)
    print(main(quick=quick))
    print()
    print(machine_markdown(machine_info()))
