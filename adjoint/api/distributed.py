"""Batched gradients over a dask array: one task per chunk of the points, each running the
in-process batch (batch.py: the prange driver on the cpu) on its chunk.

    import dask.array as da
    g = adjoint.grad(f, target="cpu")
    X = da.from_array(points, chunks=(100_000, -1))
    G = g.batch(X, n)                        # a dask array chunked like X along axis 0
    mean = g.batch(X, n, reduce="mean")      # per-chunk sums, then a tree of sums (8 a node)
    F, G = adjoint.value_and_grad(f).batch(X, n)     # two dask arrays: values, gradient rows

The graph holds the gradient (a small pickle: its function by module and name, and its
options, never machine code) and the shared arguments once, in one key that every chunk's
task depends on, so a worker receives them once, not with every task. With a
dask.distributed Client current when the batch is built, that key is scattered to the
cluster (`client.scatter`, where its arrays hold SCATTER_BYTES or more) and the graph holds
only its name: a large shared array goes to the workers directly, never through the
scheduler (the graph then needs that client to compute). A worker unpickles the gradient once per process and keeps it (`_resident`), so
its compiled drivers serve every chunk that worker runs.

Threads: each chunk runs the cpu batch's prange with as many numba threads as that task's
share of the cores (`task_threads`), so that dask's parallelism (workers x threads) and
numba's do not oversubscribe the machine. In a dask.distributed worker process that is
OMP_NUM_THREADS, which dask's nanny sets to 1 (the distributed.nanny.pre-spawn-environ
setting; raise it there to give each task more cores), else the cores divided by the
worker's threads; in dask's local thread pool, one; in the calling thread (dask's
synchronous scheduler), numba's own setting. benchmarks/bench_dask.py measures the choice
(benchmarks/RESULTS.md): two workers of one numba thread each spent less CPU than two of
two threads, and a prange over two threads on a busy machine waits for both at every launch.

GPU workers: a gradient made with target="cuda" runs its cuda batch (one GPU thread per
point, batch.py) as each chunk's kernel: the worker copies its chunk to its GPU, runs the
kernel and returns host arrays, so the chunks' results are numpy arrays as on the cpu. Every
worker that runs such a chunk needs a GPU (or numba's CUDA simulator); give each GPU worker
one thread (dask-cuda's LocalCUDACluster starts one worker per GPU).

dask is imported here only, and this module only when an argument is a dask array
(batch.run dispatches on the argument's type), so `import adjoint` does not import dask.
"""

from __future__ import annotations

import os
import pickle
import threading

import numpy as np

from ..errors import AdjointArgumentError

compiled = 0            # chunk tasks of this process that had to compile (the tests read it on workers)
_RESIDENT = {}          # pickled gradient -> the gradient object this process unpickled from it


def is_dask_array(value) -> bool:
    """Whether `value` is a dask array, by its type's module: no dask import needed."""
    module = type(value).__module__ or ""
    return module.split(".")[0] == "dask" and hasattr(value, "chunks") and hasattr(value, "dask")


def _resident(payload):
    """The gradient object for this pickle, unpickled once per process."""
    gradient = _RESIDENT.get(payload)
    if gradient is None:
        gradient = _RESIDENT[payload] = pickle.loads(payload)
    return gradient


def task_threads() -> int:
    """The numba threads one chunk's task may use without oversubscribing the cores (see the
    module's docstring): 0 where numba's own setting stands (the calling thread)."""
    worker = _worker()
    if worker is not None:
        omp = os.environ.get("OMP_NUM_THREADS", "")
        if omp.isdigit() and int(omp) > 0:
            return int(omp)
        return max(1, (os.cpu_count() or 1) // max(1, worker.state.nthreads))
    return 0 if threading.current_thread() is threading.main_thread() else 1


def _worker():
    """The dask.distributed worker running this task, or None."""
    import sys
    if "distributed" not in sys.modules:
        return None
    from distributed import get_worker
    try:
        return get_worker()
    except ValueError:                     # not in a worker's task
        return None


def _batch_with_threads(gradient, args, k):
    threads = task_threads() if gradient.target == "cpu" else 0
    if not threads:
        return gradient.batch(*args, batched=k)
    import numba
    before = numba.get_num_threads()       # numba's count is per calling thread: restored after
    numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))
    try:
        return gradient.batch(*args, batched=k)
    finally:
        numba.set_num_threads(before)


def _chunk(k, reduce, single, shared, *stacked):
    """One chunk's task: the in-process batch of the chunk's points (`stacked`: the batched
    argument's rows, then jvp's per-point tangents) with the shared arguments: its outputs
    (a tuple; the one output's rows where `single`), or with `reduce`, their sums over the rows."""
    global compiled
    gradient = _resident(shared["gradient"])
    args, positions = list(shared["args"]), shared["stacked"]
    for position, rows in zip(positions, stacked):
        args[position] = rows
    before = len(gradient._drivers)
    results = _batch_with_threads(gradient, args, k)
    compiled += len(gradient._drivers) > before         # a batch compiles its driver (and callee) once
    results = _flat(results)                             # value_and_grad's (values, (G_x, G_y)) too
    if reduce:
        return tuple(np.asarray(r).sum(axis=0) for r in results)
    return results[0] if single else results


def run(gradient, args, k, reduce, structured):
    """g.batch(*args, batched=k) with args[k] a dask array: the gradients (or jvp's values and
    tangents, or value_and_grad's values and gradients) as dask arrays chunked like args[k]
    along axis 0, or with reduce "sum"/"mean", their sums or means over the points (dask
    arrays, one row's shape). structured: (gradient, outputs) -> the outputs as the batch
    returns them (batch.structured; passed in, since batch.py imports this module)."""
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    fn = gradient.call
    names = gradient.arg_names
    X = args[k]
    if not is_dask_array(X):
        raise AdjointArgumentError(f"batch argument {names[k]!r}: a dask array is batched only "
                                   f"when it is the batched argument (batched={k!r} is "
                                   f"{type(X).__name__})",
                                   hint=f"pass batched={names[[is_dask_array(a) for a in args].index(True)]!r}"
                                   if any(is_dask_array(a) for a in args[:len(names)]) else None)
    if X.ndim == 0:
        raise AdjointArgumentError(f"batch argument {names[k]!r}: expected an array of points "
                                   "stacked along axis 0, got a 0-d dask array")
    X = X.rechunk({axis: -1 for axis in range(1, X.ndim)})       # whole points in every chunk
    points = X.shape[0]
    stacked, shared_args = {k: X}, list(args)
    for position, value in enumerate(args):
        if position == k or not is_dask_array(value):
            continue
        if position >= len(names) and _per_point(gradient, args, k, position, value):
            stacked[position] = value.rechunk((X.chunks[0],) + (-1,) * (value.ndim - 1))
        else:                              # a shared dask argument: computed once, then shared
            shared_args[position] = value.compute()
    for position in stacked:
        shared_args[position] = None
    point = list(shared_args)
    point[k] = np.zeros(X.shape[1:], X.dtype)          # the shapes and dtypes only, no compute
    if gradient.kind == "jvp":                          # the value's shape: from the first point
        point[k] = np.asarray(X[0].compute())
    shapes, dtypes = _output_shapes(gradient, point, names)

    payload = pickle.dumps(fn)
    token = tokenize(payload, [s for s in shared_args if s is not None], k, reduce,
                     *[s.name for s in stacked.values()])
    shared = _shared({"gradient": payload, "args": shared_args, "stacked": tuple(stacked)}, token)
    name = f"adjoint-batch-{token}"
    chunks = range(len(X.chunks[0]))
    single = len(shapes) == 1 and not reduce           # the chunk's rows are the output's chunk
    index = (0,) * len(shapes[0]) if single else ()
    layer = {(name, i) + index: (_chunk, k, reduce, single, shared.key,
                                 *[(s.name, i) + (0,) * (s.ndim - 1) for s in stacked.values()])
             for i in chunks}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[shared, *stacked.values()])
    if single:
        return da.Array(graph, name, chunks=(X.chunks[0],) + tuple((n,) for n in shapes[0]), dtype=dtypes[0])
    if reduce:                                          # a tree of sums, SPLIT_EVERY children a node
        level, keys = 0, [(name, i) for i in chunks]
        while len(keys) > 1:
            level += 1
            combine = f"adjoint-sum-{level}-{token}"
            layer = {(combine, j): (_sum, *keys[start:start + SPLIT_EVERY])
                     for j, start in enumerate(range(0, len(keys), SPLIT_EVERY))}
            graph, keys = _merged(combine, layer, graph, keys[0][0]), list(layer)
        root, divide = keys[0], points if reduce == "mean" else None
    outputs = []
    for j, (shape, dtype) in enumerate(zip(shapes, dtypes)):
        out = f"adjoint-output-{j}-{token}"
        index = (0,) * len(shape)
        if reduce:
            layer = {(out,) + index: (_total, root, j, divide)}
            chunks_out = tuple((n,) for n in shape)
        else:
            layer = {(out, i) + index: (_pick, (name, i), j) for i in chunks}
            chunks_out = (X.chunks[0],) + tuple((n,) for n in shape)
        outputs.append(da.Array(_merged(out, layer, graph, root[0] if reduce else name), out,
                                chunks=chunks_out, dtype=dtype))
    return structured(gradient, outputs)


def _flat(results) -> tuple:
    """A batch's results as one tuple of arrays (value_and_grad's `(values, (G_x, G_y))` too)."""
    if not isinstance(results, tuple):
        return (results,)
    return tuple(a for r in results for a in _flat(r))


SPLIT_EVERY = 8


def _sum(*parts):
    """A node of the reduction tree: the outputs' sums of its children, output by output."""
    return tuple(sum(p[j] for p in parts) for j in range(len(parts[0])))


def _total(root, j, divide):
    """Output `j` of the tree's root, divided by the points for a mean."""
    return root[j] / divide if divide else root[j]


SCATTER_BYTES = 64 * 1024      # shared arrays from this size on go to a Client's cluster by scatter


def _shared(value, token):
    """The one graph key every chunk reads: `value` scattered to the cluster where a
    dask.distributed Client is current and its arrays hold SCATTER_BYTES or more, else held
    in the graph under that key (small values ride with the graph: no round trip)."""
    import dask
    client = _client()
    held = sum(a.nbytes for a in value["args"] if isinstance(a, np.ndarray))
    if client is not None and held >= SCATTER_BYTES:
        return dask.delayed(client.scatter([value], hash=True)[0])
    return dask.delayed(value, pure=True, name=f"adjoint-shared-{token}")


def _client():
    """The current dask.distributed Client, or None (none made, or distributed not imported)."""
    import sys
    if "distributed" not in sys.modules:
        return None
    from distributed import default_client
    try:
        return default_client()
    except ValueError:
        return None


def _merged(out, layer, graph, dependency):
    from dask.highlevelgraph import HighLevelGraph
    layers = dict(graph.layers)
    layers[out] = layer
    dependencies = dict(graph.dependencies)
    dependencies[out] = {dependency}
    return HighLevelGraph(layers, dependencies)


def _pick(results, j):
    return results[j]


def _per_point(gradient, args, k, position, tangent):
    """Whether jvp's tangent at `position` holds one direction per point (stacked along axis 0
    like the batched argument) rather than one for all points."""
    w = gradient.arg_names.index(gradient.wrt[position - len(gradient.arg_names)])
    point_rank = args[k].ndim - 1 if w == k else np.ndim(args[w])
    return tangent.ndim == point_rank + 1 and tangent.shape[0] == args[k].shape[0]


def _output_shapes(gradient, point, names):
    """Each output's shape at one point and dtype (float64, or float32 for a float32 wrt argument)."""
    by_name = dict(zip(names, point))
    if gradient.kind == "jvp":
        primal = [np.copy(v) if isinstance(v, np.ndarray) else v for v in point[:len(names)]]
        value = np.shape(gradient.call.fn(*primal))
        return [value, value], [np.float64, np.float64]
    shapes, dtypes = ([()], [np.float64]) if gradient.value else ([], [])    # value_and_grad's values
    for w in gradient.wrt:
        value = by_name[w]
        shapes.append(np.shape(value))
        dtypes.append(value.dtype if isinstance(value, np.ndarray) and value.dtype.kind == "f" else np.float64)
    return shapes, dtypes
