"""Batched gradients on Dask: the dask batch (api/distributed.py) against the in-process prange
batch, on LocalClusters of 1 and 2 worker processes, with the scaling model it implies.

Workloads: the seed's f4 (points of 4 numbers) and a European call's pathwise delta and vega
(examples/option_greeks.py, 4 time steps per path), at 10^6 and 10^7 points. The points are
made on the workers beforehand (dask.array.random, persisted in chunks of CHUNK points), as
they are where the data lives on the cluster; the in-process batch gets the same points as
one numpy array. Two results: the rows (g.batch(X) persisted on the workers, never gathered)
and the mean over the points (reduce="mean", a tree reduction).

Clusters: LocalCluster(processes=True), one dask thread per worker, and the numba threads of
each chunk's prange set by OMP_NUM_THREADS in the workers (distributed.nanny.pre-spawn-environ:
1 is dask's default and adjoint's choice; 2 oversubscribes two workers on two cores).
Per chunk: the compute time of each task (the task stream); overhead per task: the worker
time not spent in chunks, (wall x workers - chunk time) / tasks; latency: the wall time of a
one-chunk batch of 10 points. Model: time(N workers) = latency + (chunk time + tasks x
overhead) / N, while tasks >= N; `scheduler` is the wall time per task of 1,000 tasks of 10
points (the rate the scheduler and the workers together clear near-empty tasks).
Memory: each worker's peak RSS after means over 10^6 and then 10^7 points drawn on the fly
(no persisted data): a chunk's points and rows, not the batch's.

Run: python benchmarks/bench_dask.py [--quick]        (needs dask: pip install "adjoint[dask]")
"""

from __future__ import annotations

import os
import pickle
import resource
import statistics
import sys
import time

import numba
import numpy as np
from common import fmt_ratio, fmt_time, machine_info, markdown_table, run_script, write_json

import adjoint
from examples.option_greeks import discounted_payoff
from examples.seed_f4 import f4

NAME = "bench_dask"
CHUNK = 250_000
STEPS = 4
MARKET = (100.0, 0.2, 0.03, 1.0, 100.0)          # s0, sigma, rate, maturity, strike
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _add_root(root):
    if root not in sys.path:
        sys.path.insert(0, root)


def _cpu_seconds():
    return time.process_time()


def _peak_rss_bytes():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _warm_up(payload, width, shared):
    from adjoint.api import distributed
    distributed._resident(payload).batch(np.full((4, width), 0.5), *shared)


def workloads():
    """name -> (gradient on the cpu, point width, shared arguments, a point generator on dask)."""
    return {
        "f4": (adjoint.grad(f4, target="cpu"), 4, (), lambda rng, n: rng.uniform(0.5, 2.0, (n, 4), chunks=(CHUNK, 4))),
        "option delta and vega": (adjoint.grad(discounted_payoff, wrt=("s0", "sigma"), target="cpu"), STEPS,
                                  MARKET, lambda rng, n: rng.standard_normal((n, STEPS), chunks=(CHUNK, STEPS))),
    }


def _first(results):
    return results[0] if isinstance(results, tuple) else results


def in_process_sample(gradient, X, shared, kind):
    """(wall, CPU seconds, first output) of one in-process prange batch: rows, or the mean."""
    c0, t0 = time.process_time(), time.perf_counter()
    result = gradient.batch(X, *shared, reduce="mean" if kind == "mean" else None)
    return time.perf_counter() - t0, time.process_time() - c0, _first(result)


def dask_sample(client, gradient, X, shared, kind):
    """(wall, CPU seconds of this process, where the scheduler runs, and of the workers, chunk
    compute times from the task stream, the mean where kind is "mean") of one dask batch of
    the persisted points X: its rows persisted on the workers, or its mean."""
    from distributed import get_task_stream, wait
    workers0, c0 = client.run(_cpu_seconds), time.process_time()
    t0 = time.perf_counter()
    with get_task_stream(client) as stream:
        if kind == "rows":
            result = client.persist(_first(gradient.batch(X, *shared)))
            wait(result)
        else:
            result = client.compute(_first(gradient.batch(X, *shared, reduce="mean")), sync=True)
    wall = time.perf_counter() - t0
    workers1 = client.run(_cpu_seconds)
    cpu = time.process_time() - c0 + sum(workers1[w] - workers0[w] for w in workers1)
    chunks = [s["stop"] - s["start"] for task in stream.data if "adjoint-batch" in str(task["key"])
              for s in task["startstops"] if s["action"] == "compute"]
    return wall, cpu, chunks, (result if kind == "mean" else None)


def compare(client, gradient, draw, n, shared, repeats):
    """Interleaved repeats of the in-process batch and the dask batch, rows and mean: medians,
    the median of the per-round ratios in-process / dask (throughput ratio), chunk times."""
    import dask.array as da
    from distributed import wait
    X = draw(da.random.default_rng(0), n).persist()
    wait(X)
    local = np.asarray(draw(da.random.default_rng(0), n).compute(scheduler="threads"))
    gradient.batch(local[:1000], *shared)
    client.run(_warm_up, pickle.dumps(gradient), X.shape[1], shared)       # each worker compiles
    out = {}
    for kind in ("rows", "mean"):
        samples = {"in-process": [], "dask": []}
        for _ in range(repeats):
            wall, cpu, want = in_process_sample(gradient, local, shared, kind)
            samples["in-process"].append((wall, cpu))
            wall_d, cpu_d, chunks, got = dask_sample(client, gradient, X, shared, kind)
            samples["dask"].append((wall_d, cpu_d))
            if kind == "mean":
                assert np.allclose(got, want, rtol=1e-9), "the dask mean differs from the in-process mean"
        out[kind] = {
            "in-process": {"wall": statistics.median(w for w, _ in samples["in-process"]),
                           "cpu": statistics.median(c for _, c in samples["in-process"])},
            "dask": {"wall": statistics.median(w for w, _ in samples["dask"]),
                     "cpu": statistics.median(c for _, c in samples["dask"]),
                     "chunk median": statistics.median(chunks), "chunk total": sum(chunks), "tasks": len(chunks)},
            "ratio": statistics.median(a[0] / b[0] for a, b in zip(samples["in-process"], samples["dask"])),
            "samples": samples,
        }
    del X, local
    return out


def latency_and_scheduler(client, gradient):
    """(wall of a one-chunk batch of 10 points; wall and CPU seconds, this process's and the
    workers', per chunk task of a mean over 1,000 chunks of 10 points)."""
    import dask.array as da
    one = da.from_array(np.full((10, 4), 1.5), chunks=(10, 4))
    many = da.from_array(np.full((10_000, 4), 1.5), chunks=(10, 4))
    client.compute(gradient.batch(one, reduce="mean"), sync=True)
    walls = []
    for _ in range(5):
        t0 = time.perf_counter()
        client.compute(gradient.batch(one, reduce="mean"), sync=True)
        walls.append(time.perf_counter() - t0)
    workers0, c0, t0 = client.run(_cpu_seconds), time.process_time(), time.perf_counter()
    client.compute(gradient.batch(many, reduce="mean"), sync=True)
    wall = time.perf_counter() - t0
    workers1 = client.run(_cpu_seconds)
    cpu = time.process_time() - c0 + sum(workers1[w] - workers0[w] for w in workers1)
    return statistics.median(walls), wall / 1000, cpu / 1000


def memory(client, gradient, sizes):
    """Each worker's peak RSS after a mean over each size of points drawn on the fly."""
    import dask.array as da
    peaks = []
    for n in sizes:
        X = da.random.default_rng(1).uniform(0.5, 2.0, (n, 4), chunks=(CHUNK, 4))
        client.compute(gradient.batch(X, reduce="mean"), sync=True)
        peaks.append(sorted(client.run(_peak_rss_bytes).values()))
    return peaks


def cluster(workers, omp):
    import dask
    from distributed import Client, LocalCluster
    environ = dict(dask.config.get("distributed.nanny.pre-spawn-environ"), OMP_NUM_THREADS=omp)
    with dask.config.set({"distributed.nanny.pre-spawn-environ": environ}):
        made = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0")
    client = Client(made)
    client.run(_add_root, ROOT)
    return made, client


CONFIGS = [  # (workers, numba threads per chunk task)
    (2, 1), (2, 2), (1, 1), (1, 2),
]


def main(quick=False):
    sizes = (10**6,) if quick else (10**6, 10**7)
    repeats = 1 if quick else 3
    loads = [os.getloadavg()[0]]
    work = workloads()
    data = {"chunk": CHUNK, "sizes": sizes, "numba_threads_in_process": numba.get_num_threads(), "runs": {},
            "overheads": {}, "memory_peaks": None}
    for workers, threads in (CONFIGS[:1] if quick else CONFIGS):
        made, client = cluster(workers, threads)
        try:
            if (workers, threads) == (2, 1):
                data["memory_peaks"] = memory(client, work["f4"][0], sizes)
            if threads == 1:
                data["overheads"][workers] = latency_and_scheduler(client, work["f4"][0])
            for n in sizes:
                for name, (gradient, width, shared, draw) in work.items():
                    data["runs"][f"{name} {n} {workers}w {threads}t"] = compare(client, gradient, draw, n,
                                                                                 shared, repeats)
        finally:
            client.close()
            made.close()
        loads.append(os.getloadavg()[0])
    data["loads"] = loads
    write_json(NAME, {"machine": machine_info(), **data}, quick=quick)
    return report(data, quick)


def report(data, quick):
    runs, sizes = data["runs"], data["sizes"]
    rows = []
    configs = CONFIGS[:1] if quick else CONFIGS
    for n in sizes:
        for name in workloads():
            for kind in ("rows", "mean"):
                for workers, threads in configs:
                    run = runs[f"{name} {n} {workers}w {threads}t"][kind]
                    b, r = run["in-process"], run["dask"]
                    rows.append([f"{n:,}", name, kind, f"{workers} x {threads}",
                                 f"{fmt_time(b['wall'])} / {fmt_time(b['cpu'])}",
                                 f"{fmt_time(r['wall'])} / {fmt_time(r['cpu'])}",
                                 fmt_ratio(run["ratio"]), fmt_ratio(b["cpu"] / r["cpu"]),
                                 f"{r['tasks']} x {fmt_time(r['chunk median'])}",
                                 fmt_time(max(0.0, r["wall"] * workers - r["chunk total"]) / r["tasks"])])
    table = markdown_table(["points", "workload", "result", "workers x numba threads per task",
                            f"in-process prange ({data['numba_threads_in_process']} threads): wall / CPU",
                            "dask: wall / CPU (all processes)", "throughput / in-process (wall)",
                            "in-process CPU / dask CPU", "tasks x chunk time (median)",
                            "overhead per task"], rows)
    text = ["## Batched gradients on Dask: scaling", "",
            ("`g.batch(X)` with X a dask array (api/distributed.py) on a `LocalCluster(processes=True)` of 1 or "
             "2 workers, one dask thread each, against the in-process prange batch of the same points (numpy). "
             f"Points: made on the workers and persisted before timing, chunks of {CHUNK:,} points; f4 at points "
             f"of 4 numbers, the option's pathwise delta and vega at paths of {STEPS} normals. Result 'rows': "
             "the gradients persisted on the workers (never gathered); 'mean': reduce='mean', a tree of sums. "
             "Numba threads per chunk task: OMP_NUM_THREADS in the workers (1 is dask's default and adjoint's "
             "choice). Wall: median of the repeats; CPU: this process (client and scheduler) plus every "
             "worker's; throughput ratio: median over interleaved rounds of in-process wall / dask wall. Chunk "
             "time: the task stream's compute time of each chunk task; overhead per task: "
             "(wall x workers - chunk time) / tasks."), "", table, ""]
    overheads = {int(w): v for w, v in data["overheads"].items()}
    for workers, (latency, per_task, cpu_per_task) in sorted(overheads.items()):
        text.append(f"- {workers} worker(s): latency of a one-chunk batch {fmt_time(latency)}; a mean over 1,000 "
                    f"chunks of 10 points: {fmt_time(per_task)} of wall and {fmt_time(cpu_per_task)} of CPU "
                    "(all processes) per chunk task.")
    if data["memory_peaks"]:
        peaks = ", ".join(f"{n:,} points: " + " / ".join(f"{p / 2**20:.0f} MiB" for p in peak)
                          for n, peak in zip(sizes, data["memory_peaks"]))
        text.append(f"- Peak RSS per worker (2 workers) after a mean over points drawn on the fly, chunks of "
                    f"{CHUNK:,}: {peaks}.")
    text.append(f"- Load average (1 min) at the start and after each cluster: "
                f"{', '.join(f'{load:.1f}' for load in data['loads'])}.")
    if 1 in overheads and not quick:
        text += ["", projection(runs, max(sizes), overheads)]
    return "\n".join(text)


def projection(runs, n, overheads):
    """time(N) = latency + (chunk time + tasks x overhead) / N from the 1-worker run, beside
    the 2-worker measurement."""
    latency = overheads[1][0]
    floor = overheads[max(overheads)][1]
    rows = []
    for name in workloads():
        for kind in ("rows", "mean"):
            one = runs[f"{name} {n} 1w 1t"][kind]["dask"]
            work, tasks = one["chunk total"], one["tasks"]
            overhead = max(0.0, one["wall"] - work) / tasks
            model = [latency + (work + tasks * overhead) / workers for workers in (1, 2, 4, 8, 16, 32)]
            two = runs.get(f"{name} {n} 2w 1t", {}).get(kind, {}).get("dask")
            rows.append([name, kind, fmt_time(work), str(tasks), fmt_time(overhead),
                         *[fmt_time(t) for t in model], fmt_time(two["wall"]) if two else "-",
                         fmt_time(tasks * floor)])
    head = ("Model: time(N) = L + (W + T x o) / N for N <= T workers, from the 1-worker run: L the latency "
            "of a one-chunk batch, W the chunks' compute time, T the tasks, o the overhead per task; the "
            "scheduler dispatches tasks one after the other, so time(N) stays above T x (its time per task), "
            "bounded here by the wall time per task of 1,000 near-empty tasks.")
    return head + "\n\n" + markdown_table(["workload (10^7 points)", "result", "W: chunk time, 1 worker", "T: tasks",
                           "o: overhead per task", "model N=1", "N=2", "N=4", "N=8", "N=16", "N=32",
                           "measured N=2", "T x scheduler time per task"], rows)


if __name__ == "__main__":
    run_script(main)
