"""Batched gradients over a dask array: one task per chunk of the points, each running the
in-process batch (batch.py: the prange driver on the cpu) on its chunk.

    import dask.array as da
    g = adjoint.grad(f, target="cpu")
    X = da.from_array(points, chunks=(100_000, -1))
    G = g.batch(X, n)                        # a dask array chunked like X along axis 0
    mean = g.batch(X, n, reduce="mean")      # per-chunk sums, then dask's tree reduction

The graph holds the gradient once, as a small pickle (its function by module and name, and
its options: never machine code), and each shared argument once, as a key of its own that
every chunk's task depends on (so a distributed scheduler sends it to a worker once, not
with every task). A worker unpickles the gradient once per process and keeps it
(`_resident`), so its compiled drivers serve every chunk that worker runs.

dask is imported here only, and this module only when an argument is a dask array
(batch.run dispatches on the argument's type), so `import adjoint` does not import dask.
"""

from __future__ import annotations

import pickle

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


def _chunk(payload, k, reduce, shared, *stacked):
    """One chunk's task: the in-process batch of the chunk's points (`stacked`: the batched
    argument's rows, then jvp's per-point tangents) with the shared arguments; with `reduce`,
    the sum of its rows (kept as a leading axis of length 1, for dask's reduction)."""
    global compiled
    gradient = _resident(payload)
    args, positions = list(shared["args"]), shared["stacked"]
    for position, rows in zip(positions, stacked):
        args[position] = rows
    before = len(gradient._drivers)
    results = gradient.batch(*args, batched=k)
    compiled += len(gradient._drivers) > before         # a batch compiles its driver (and callee) once
    results = results if isinstance(results, tuple) else (results,)
    if reduce:
        return tuple(np.asarray(r).sum(axis=0)[None, ...] for r in results)
    return results


def run(gradient, args, k, reduce=None):
    """g.batch(*args, batched=k) with args[k] a dask array: the gradients (or jvp's values and
    tangents) as dask arrays chunked like args[k] along axis 0, or with reduce "sum"/"mean",
    their sums or means over the points (dask arrays, one row's shape)."""
    import dask
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
    point[k] = np.asarray(X[0].compute())
    shapes, dtypes = _output_shapes(gradient, point, names)

    payload = pickle.dumps(fn)
    token = tokenize(payload, [s for s in shared_args if s is not None], k, reduce,
                     *[s.name for s in stacked.values()])
    shared = dask.delayed({"args": shared_args, "stacked": tuple(stacked)}, pure=True,
                          name=f"adjoint-shared-{token}")
    name = f"adjoint-batch-{token}"
    layer = {(name, i): (_chunk, payload, k, reduce, shared.key,
                         *[(s.name, i) + (0,) * (s.ndim - 1) for s in stacked.values()])
             for i in range(len(X.chunks[0]))}
    graph = HighLevelGraph.from_collections(name, layer, dependencies=[shared, *stacked.values()])
    outputs = []
    for j, (shape, dtype) in enumerate(zip(shapes, dtypes)):
        out = f"adjoint-output-{j}-{token}"
        rows = X.chunks[0] if not reduce else (1,) * len(X.chunks[0])
        pick = {(out, i) + (0,) * len(shape): (_pick, (name, i), j) for i in range(len(rows))}
        array = da.Array(_merged(out, pick, graph, name), out, chunks=(rows,) + tuple((n,) for n in shape), dtype=dtype)
        if reduce:
            array = array.sum(axis=0)
            if reduce == "mean":
                array = array / points
        outputs.append(array)
    if gradient.kind == "jvp":
        return outputs[0], outputs[1]
    return outputs[0] if len(outputs) == 1 else tuple(outputs)


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
    shapes, dtypes = [], []
    for w in gradient.wrt:
        value = by_name[w]
        shapes.append(np.shape(value))
        dtypes.append(value.dtype if isinstance(value, np.ndarray) and value.dtype.kind == "f" else np.float64)
    return shapes, dtypes
