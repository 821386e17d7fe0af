"""Batched gradients: one gradient per input point, the points stacked along axis 0.

    g = adjoint.grad(f, target="cpu")      # or "cuda"; mode="forward" too
    G = g.batch(X, n)                      # X[i] is one point; n is shared by all points
    F, T = adjoint.jvp(f).batch(X, n, V)   # values and tangents; V[i] or one V for all points
    F, G = adjoint.value_and_grad(f).batch(X, n)     # f(X[i], n) and the gradient rows

On the cpu target the batch runs a `prange` loop over points (numba parallel=True); on the
cuda target one GPU thread per point calls the allocation-free device gradient or tangent
(see lower/device.py), with tapes in per-thread rows of a workspace the host sized beforehand.
The forward-mode gradient runs one tangent per input component, seeding a per-point
direction row. drivers.py writes those small drivers as source, like every other piece
of emitted code; this module runs them for `GradientFunction.batch` (`run`: argument checks,
per-point tangents, output and workspace buffers, and each gradient's cache of compiled drivers).
A batch sees its gradient object only through a BatchableGradient record.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import gast
import numpy as np

from .. import backends
from ..errors import AdjointArgumentError, AdjointError
from ..pipeline import Generated
from .arguments import as_float_value, fresh_copies, reject_aliasing
from .drivers import driver_source, fixed_lengths, sizes_driver_source
from .failures import is_numba_error


@dataclasses.dataclass(frozen=True)
class BatchableGradient:
    """All a batch reads of the gradient object it runs (GradientFunction.batch fills it in):
    what the function is, how the gradient was asked for, and the gradient's own services
    (argument checks, compiled code, failure location) as callables."""

    name: str                        # the user's function, for messages
    arg_names: tuple                 # its parameters, in order
    data_names: tuple                # the compiled code's after them: arrays the function reads
                                     # from module globals or closures (check_arguments appends them)
    wrt: tuple                       # the differentiated ones, by name
    kind: str                        # "grad" (reverse mode), "forward" (the gradient by one
                                     # tangent per component), "jvp" (value, tangent) or "vjp"
    target: str                      # "cpu", "python" or "cuda"
    written: frozenset               # the arguments the function writes into
    code: Callable[[], Generated]    # the code generated for the types the source suggests
                                     # (raises the error that deferred it, where they do not fit)
    drivers: dict                    # compiled drivers by key, kept by the gradient object across
                                     # batches (the record is frozen, this cache is not)
    check_arguments: Callable        # one point's arguments -> checked and converted (a list)
    call: Callable                   # the gradient itself: (*args[, *extra]) -> its result
    serial_adjoint: Callable         # () -> the compiled callee, without chunked loops
    device_module: Callable          # () -> the compiled device module (cuda; see device.py)
    row_module: Callable             # () -> (generated, module): the allocation-free gradient
                                     # compiled for the cpu, or None where it cannot be lowered
    filename: Callable[[str], str]   # kind -> the file name a generated module gets
    rerun_in_python: Callable        # (generated, args, failure) -> the interpreter's exception
    locate_failure: Callable         # exception -> an AdjointError at the user's line
    compile_driver: Callable = None  # (source, namespace, name, rows=False, **jit options) -> the
                                     # njit driver; its machine code cached where the gradient is
    value: bool = False              # kind "grad": value_and_grad, the values before the gradients


def batched_index(arg_names, batched) -> int:
    if isinstance(batched, str):
        if batched not in arg_names:
            raise AdjointArgumentError(f"batched={batched!r}: no such argument; "
                                       f"the arguments are {', '.join(arg_names)}")
        return arg_names.index(batched)
    if not isinstance(batched, int) or not 0 <= batched < len(arg_names):
        raise AdjointArgumentError(f"batched={batched!r}: expected an argument index or name")
    return batched


# The device gradients (counted in syntax nodes) the cpu rows driver inlines into its chunk
# function (driver_source's lengths): f4's has about 400, Rosenbrock's 200 (both run 2-3x faster
# inlined); a Lorenz integration's 2,200 gains nothing and its batch would compile about 30%
# longer, so larger ones keep the loop over the points in the prange, calling the gradient.
INLINED_NODES = 1000

VALUES = "(values)"    # value_and_grad's values among a batch's outputs (which are keyed by wrt name)


def flat(results) -> tuple:
    """A batch's results as one tuple of arrays: value_and_grad's `(values, (G_x, G_y))`
    becomes `(values, G_x, G_y)` (as are its `out=` arrays)."""
    if not isinstance(results, tuple):
        return (results,)
    return tuple(a for r in results for a in flat(r))


def structured(gradient, arrays):
    """The outputs of a batch (in the driver's order) as it returns them: one array per wrt
    argument (a tuple of them where there are several), after value_and_grad's values
    (`(values, G)`), or jvp's `(values, tangents)`. The inverse of `flat`."""
    arrays = tuple(arrays)
    if gradient.kind == "jvp":
        return arrays[0], arrays[1]
    values, gradients = (arrays[:1], arrays[1:]) if gradient.value else ((), arrays)
    gradients = gradients[0] if len(gradients) == 1 else gradients
    return (values[0], gradients) if values else gradients


def _each(results, over):
    """`over` applied to every array of a batch's (nested) results, keeping their structure."""
    return tuple(_each(r, over) for r in results) if isinstance(results, tuple) else over(results)


def output_arrays(points, wrt, array_args, args_by_name, allocate=np.empty):
    """One output per wrt argument: (points,) for scalars, (points, *shape) for arrays."""
    outputs = {}
    for w in wrt:
        value = args_by_name[w]
        shape = (points,) + (np.shape(value) if w in array_args or np.ndim(value) else ())
        dtype = value.dtype if isinstance(value, np.ndarray) and value.dtype.kind == "f" else np.float64
        outputs[w] = allocate(shape, dtype)
    return outputs


# running a batch ---------------------------------------------------------------------------

def run(gradient, args, batched, out=None, reduce=None, fast_key=None):
    """GradientFunction.batch(*args, batched=..., out=..., reduce=...): check the arguments on
    one point, run the driver on the target, return the outputs per wrt argument (or jvp's
    values and tangents), written into `out` where given; reduce "sum" or "mean": their sums or
    means over the points instead. A dask array argument runs the batch chunk by chunk on dask
    (distributed.py). fast_key: where the caller has one (arguments of these types need no
    check but their memory layout, see fast_path), the key to file the batch's fast path under."""
    if reduce not in (None, "sum", "mean"):
        raise AdjointArgumentError(f"reduce={reduce!r}: expected None, 'sum' or 'mean'")
    if out is not None and reduce is not None:
        raise AdjointArgumentError("out= and reduce= together: out= holds every point's rows",
                                   hint="drop out= when reducing over the points")
    if any(type(a).__module__.split(".")[0] == "dask" for a in args):
        if out is not None:
            raise AdjointArgumentError("out= with a dask array: the result is a dask array",
                                       hint="drop out=, and call .compute() (or store it) on the result")
        from . import distributed
        return distributed.run(gradient, args, batched_index(gradient.arg_names, batched), reduce,
                               structured=structured)
    results = _run(gradient, args, batched, out, fast_key)
    if reduce is None:
        return results
    over = (lambda r: r.sum(axis=0)) if reduce == "sum" else (lambda r: r.mean(axis=0))
    return _each(results, over)


def _run(gradient, args, batched, out=None, fast_key=None):
    names = gradient.arg_names
    if gradient.kind == "vjp":
        raise AdjointError("vjp has no batch", hint="call it once per point")
    extra = len(gradient.wrt) if gradient.kind == "jvp" else 0
    if len(args) != len(names) + extra:
        tangents = " and one tangent per wrt argument" if extra else ""
        raise AdjointArgumentError(f"{gradient.code().primal_name}.batch() takes {len(names)} "
                                   f"arguments ({', '.join(names)}){tangents}, {len(args)} given")
    args, tangents = list(args[:len(names)]), args[len(names):]
    k = batched_index(names, batched)
    written = gradient.written
    if written:                            # the whole stacked array, not only its first point
        reject_aliasing(names, args, written, gradient.name)
    stacked = args[k]
    on_device = gradient.target == "cuda" and backends.get("cuda").is_device_array(stacked)
    if not on_device:
        stacked = np.asarray(stacked)
        if stacked.ndim == 0 or stacked.dtype.kind not in "fiu":
            raise AdjointArgumentError(f"batch argument {names[k]!r}: expected an array of "
                                       f"points stacked along axis 0, got {type(args[k]).__name__}")
        stacked = np.ascontiguousarray(stacked, dtype=stacked.dtype if stacked.dtype.kind == "f" else float)
    if stacked.shape[0] == 0:
        raise AdjointArgumentError(f"batch argument {names[k]!r} holds no points")
    point = list(args)
    point[k] = stacked[0] if not on_device else stacked[0:1].copy_to_host()[0]
    converted = gradient.check_arguments(point)          # one point checks every argument
    if gradient.target == "cuda":
        _check_device_ranks(gradient, converted)
    by_name = dict(zip(names, converted))
    converted[k] = stacked
    tangents = _tangents(gradient, tangents, stacked.shape[0], by_name)
    try:
        if gradient.target == "cuda":
            outputs = _cuda(gradient, converted, names[k], by_name, tangents, on_device)
            if out is not None:
                if on_device:
                    raise AdjointArgumentError("out= takes host arrays: a batch of points on the "
                                               "device returns device arrays of its own")
                given = _output_arrays(gradient, out, list(outputs.values()))
                for array, result in zip(given, outputs.values()):
                    array[...] = result
                outputs = dict(zip(outputs, given))
        else:
            outputs, runner = _host(gradient, converted, names[k], by_name, tangents, out)
            if fast_key is not None and runner is not None and gradient.kind == "grad" \
                    and stacked is args[k] and stacked.dtype.kind == "f" and len(converted) == len(args) \
                    and all(a is b for j, (a, b) in enumerate(zip(args, converted)) if j != k):
                gradient.drivers[fast_key] = fast_path(gradient, k, runner, outputs)
    except AdjointError:
        raise
    except Exception as exc:
        if gradient.target == "cpu" and not is_numba_error(exc):
            exc = _failing_point(gradient, converted, k, tangents, exc)
        raise gradient.locate_failure(exc) from None
    return structured(gradient, outputs.values())


def _check_device_ranks(gradient, point):
    """Device code is generated once, for the ranks the source suggests (the cpu target
    generates code for other types at the call; the cuda target does not)."""
    from ..analysis import shapes
    for name, value in zip(gradient.arg_names, point):
        got, want = shapes.describe(value).ndim, gradient.code().signature[name].ndim
        if got != want:
            raise AdjointArgumentError(
                f"argument {name!r} of {gradient.name}: the cuda code was generated for "
                f"{_rank_words(want)} (the type the source suggests), this call passes "
                f"{_rank_words(got)}",
                hint="index an array argument (x[i]) in the function so that its source "
                     "reads as one, or use target='cpu', which specializes on each call's types")


def _tangents(gradient, tangents, points, by_name):
    """jvp.batch's tangents: wrt name -> (tangent, whether it holds one per point)."""
    checked = {}
    for w, t in zip(gradient.wrt, tangents):
        t = as_float_value(t)
        shape = np.shape(by_name[w])
        given = tuple(getattr(t, "shape", np.shape(t)))
        if given not in (shape, (points,) + shape):
            raise AdjointArgumentError(f"the tangent of {w!r} has shape {given}: expected {shape} "
                                       f"(one direction for all points) or {(points,) + shape} "
                                       f"(one per point)")
        if isinstance(t, np.ndarray):
            t = np.ascontiguousarray(t)
        checked[w] = (t, given != shape)
    return checked


def _copied(gradient, batched):
    """The arguments each point's call gets a copy of: those the function writes into, which
    the points would share (and race on, in parallel). The reverse sweep undoes its writes,
    so there the batched argument's rows, one per point, need none; forward-mode code does
    not undo them, and writes the tangents of those arguments too."""
    written = gradient.written
    copied = written - {batched} if gradient.kind == "grad" else written
    if copied and gradient.target == "cuda":
        shared = ", ".join(repr(n) for n in sorted(copied))
        raise AdjointError(f"{gradient.name} writes into {shared}, which the points of a cuda "
                           "batch would share: device code cannot give each thread a copy",
                           hint="batch on target='cpu', where each point gets its own copy")
    return tuple(sorted(copied))


def _failing_point(gradient, args, k, tangents, exc):
    """A compiled batch has no line numbers, and its parallel loop reports the error as a
    SystemError: find the first point whose compiled call fails, and rerun it in Python,
    whose traceback has the line."""
    compiled = gradient.serial_adjoint()
    for i in range(args[k].shape[0]):
        try:
            compiled(*_point_arguments(gradient, args, k, tangents, i))
        except Exception as failure:
            return gradient.rerun_in_python(gradient.code(),
                                             _point_arguments(gradient, args, k, tangents, i), failure)
    return exc


def _point_arguments(gradient, args, k, tangents, i):
    """The arguments the driver passes the callee at point i (fresh copies of what f writes
    into; forward mode's directions are zero: a failure to locate is in f itself)."""
    point = fresh_copies(gradient.arg_names, [a[i] if j == k else a for j, a in enumerate(args)],
                         gradient.written)
    if gradient.kind == "jvp":
        extra = [t[i] if per_point else t for t, per_point in tangents.values()]
    elif gradient.kind == "forward":
        values = dict(zip(gradient.arg_names, point))
        extra = [np.zeros(np.shape(values[w])) if np.ndim(values[w]) else 0.0 for w in gradient.wrt]
    else:
        extra = []
    return point + [np.array(e) if isinstance(e, np.ndarray) else e for e in extra]


def _driver(gradient, batched, by_name, tangents, callee, compile_source, rows=False, whole=(), lengths=None):
    """The driver (see driver_source) for this batched argument, ranks and stacked tangents."""
    ranks = {w: np.ndim(by_name[w]) for w in gradient.wrt}
    stacked = tuple(w for w, (_, per_point) in tangents.items() if per_point)
    key = (gradient.target, batched, tuple(ranks.values()), stacked, rows)
    if key not in gradient.drivers:
        guarded = _guarded(gradient.code())
        if guarded and gradient.target == "cuda":
            raise AdjointError(f"{gradient.code().filename}: a function with `raise` or `assert` cannot run in a "
                               "cuda batch: a GPU thread's exception is not reported, its point would be wrong",
                               hint="check the points before the batch and drop the guard, or run the batch "
                                    "with target='cpu'")
        source = driver_source(gradient.target, gradient.kind, callee, gradient.arg_names + gradient.data_names,
                               batched, ranks, stacked, copied=_copied(gradient, batched), rows=rows,
                               whole=whole, value=gradient.value, lengths=lengths, guarded=guarded)
        gradient.drivers[key] = compile_source(source)
    return gradient.drivers[key]


def _guarded(generated) -> bool:
    """Whether the emitted function itself (not a runtime helper) has a `raise`, the user's
    guard: numba drops an exception raised inside a prange, which would leave the point's
    rows as they were; such a batch catches it in each chunk of points (the rows driver with
    lengths), or runs its points in a serial loop (drivers.driver_source). Read off the text:
    the batch runs in dask's threads, where parsing with `ast` concurrently fails in Python
    3.11 (a SystemError)."""
    lines = generated.source.splitlines()
    head = f"def {generated.name}("
    start = next((k for k, line in enumerate(lines) if line.startswith(head)), len(lines))
    for line in lines[start + 1:]:
        if line.startswith(("def ", "class ", "@")):
            break                                      # the next top-level definition
        stripped = line.lstrip()
        if stripped == "raise" or stripped.startswith("raise "):
            return True
    return False


def _buffers(gradient, points, by_name, tangents, value_shape, zeros, empty):
    """The driver's arguments after the function's: D_<w> (the tangents, or forward mode's
    zeroed direction rows), then the outputs, as a dict in the driver's order."""
    if gradient.kind == "jvp":
        outputs = {name: empty((points,) + value_shape, np.float64) for name in ("value", "tangent")}
        return [t for t, _ in tangents.values()], outputs
    outputs = {VALUES: empty((points,), np.float64)} if gradient.value else {}
    outputs.update(output_arrays(points, gradient.wrt, gradient.code().array_args, by_name, allocate=empty))
    directions = [zeros((points,) + np.shape(by_name[w]), by_name[w].dtype)
                  for w in gradient.wrt if gradient.kind == "forward" and np.ndim(by_name[w])]
    return directions, outputs


def _host(gradient, args, batched, by_name, tangents, out=None):
    g = gradient.code()
    value_shape = ()
    if gradient.kind == "jvp":             # the value's shape: from the first point
        first = [t[0] if per_point else t for t, per_point in tangents.values()]
        value_shape = np.shape(gradient.call(*[by_name[n] for n in gradient.arg_names], *first)[0])
    points = args[gradient.arg_names.index(batched)].shape[0]
    empty = np.empty
    if out is not None:                    # the caller's arrays, checked against what empty would make
        def shaped(shape, dtype):
            return np.broadcast_to(np.zeros((), dtype), shape)
        wanted = _buffers(gradient, points, by_name, tangents, value_shape, shaped, shaped)[1]
        given = iter(_output_arrays(gradient, out, list(wanted.values())))
        empty = lambda shape, dtype: next(given)      # noqa: E731
    inputs, outputs = _buffers(gradient, points, by_name, tangents, value_shape, np.zeros, empty)
    rows = _rows(gradient, batched, by_name, tangents, value_shape)
    if rows is not None:
        try:
            rows(*args, *inputs, *outputs.values())
            return outputs, rows
        except Exception as exc:
            if not is_numba_error(exc):
                raise
            # numba does not take the allocation-free code: the gradient itself, as before
            gradient.drivers[("rows off", batched)] = True
            for array in inputs:
                array[...] = 0.0

    def compile_source(source):
        import numba
        namespace = {g.name: gradient.serial_adjoint(), "numba": numba}
        if gradient.target == "cpu" and gradient.compile_driver is not None:
            return gradient.compile_driver(source, namespace, "batch_" + g.name, parallel="numba.prange" in source)
        module = backends.python.load(source, gradient.filename("batch"), namespace)
        driver = module["batch_" + g.name]
        return numba.njit(parallel="numba.prange" in source)(driver) if gradient.target == "cpu" else driver
    driver = _driver(gradient, batched, by_name, tangents, g.name, compile_source)
    driver(*args, *inputs, *outputs.values())
    return outputs, None


def fast_path(gradient, k, runner, outputs):
    """A reverse-mode batch on the cpu for arguments of the types of the batch just run, where
    the checks on its one point changed nothing (no argument converted, none written, no
    module data): `fast(args, out)` allocates the outputs (or checks `out`'s) and runs the
    allocation-free driver (`runner`, from _rows), or returns None where the batch needs the
    full path (a layout or `out=` the checks would convert or reject, no points, a failure
    to locate). GradientFunction.batch keeps it per argument types: a batch then costs about
    what numba's dispatch of the driver does."""
    slots = [(None if w == VALUES else gradient.arg_names.index(w), array.dtype) for w, array in outputs.items()]
    single = len(slots) == 1
    empty, ndarray = np.empty, np.ndarray
    nested = gradient.value and len(slots) > 2         # value_and_grad's (values, (G_x, G_y))

    def fast(args, out):
        stacked = args[k]
        points = stacked.shape[0]
        if not points or not stacked.flags.c_contiguous:
            return None
        shapes = [stacked.shape if j == k else (points,) + args[j].shape if j is not None and type(args[j]) is ndarray
                  else (points,) for j, _ in slots]
        if out is None:
            arrays = [empty(shape, dtype) for shape, (_, dtype) in zip(shapes, slots)]
        else:
            arrays = list(out) if type(out) is tuple else [out]
            if nested and len(arrays) == 2 and type(arrays[1]) is tuple:
                arrays = [arrays[0], *arrays[1]]
            if len(arrays) != len(slots) or not all(
                    type(a) is ndarray and a.shape == shape and a.dtype == dtype and a.flags.c_contiguous
                    and a.flags.writeable for a, shape, (_, dtype) in zip(arrays, shapes, slots)):
                return None
        try:
            runner(*args, *arrays)
        except Exception:                      # noqa: BLE001 -- the full path locates it
            return None
        if nested:
            return arrays[0], tuple(arrays[1:])
        return arrays[0] if single else tuple(arrays)
    return fast


def _rows(gradient, batched, by_name, tangents, value_shape):
    """The cpu batch calling the allocation-free gradient (driver_source's rows), with its
    workspaces bound: a callable taking the driver's other arguments; None where the function
    keeps today's driver (the lowering does not take it, the points get copies of written
    arguments, a jvp's value is an array, or numba did not take the lowered code)."""
    if gradient.target != "cpu" or ("rows off", batched) in gradient.drivers \
            or _copied(gradient, batched) or value_shape != ():
        return None
    lowered = gradient.row_module()
    if lowered is None:
        return None
    g, module = lowered
    device = g.device
    ranks = {w: np.ndim(by_name[w]) for w in gradient.wrt}
    if gradient.kind == "grad" and tuple(w for w in ranks if ranks[w]) != tuple(device.array_outputs):
        return None
    import numba
    callee = device.function.name

    small = sum(1 for _ in gast.walk(device.function)) <= INLINED_NODES

    def compile_source(source):
        # the chunk function inlines a small callee (numba's inline="always", with the callee's
        # own jit options), so that LLVM sees one loop over the points it can vectorize
        compiled = module[callee]
        options = {k: v for k, v in getattr(compiled, "targetoptions", {"error_model": "numpy"}).items()
                   if k not in ("inline", "parallel", "nopython")}
        # (a large one: the loop in the prange; one that raises is called, not inlined: numba's
        # try does not catch a `raise` written inside it, which the chunk's would then be)
        inlined = numba.njit(inline="always", **options)(compiled.py_func) \
            if small and hasattr(compiled, "py_func") and not _guarded(gradient.code()) else compiled
        namespace = {callee: inlined, "serial_jit": numba.njit(**options), "numba": numba, "np": np}
        if gradient.compile_driver is not None:
            return gradient.compile_driver(source, namespace, "batch_" + callee, rows=True, parallel="numba.prange" in source)
        loaded = backends.python.load(source, gradient.filename("batch"), namespace)
        return numba.njit(parallel="numba.prange" in source)(loaded["batch_" + callee])
    driver = _driver(gradient, batched, by_name, tangents, callee, compile_source, rows=True,
                     whole=device.whole_rows, lengths=fixed_lengths(device.function) if small else None)
    sizes_key = ("rows constant sizes", batched)
    if sizes_key not in gradient.drivers:
        gradient.drivers[sizes_key] = _constant_sizes(device.sizes)
    sizes = gradient.drivers[sizes_key]
    if sizes is None:                      # the tapes' sizes depend on the arguments: the largest
        key = ("rows sizes", batched)
        if key not in gradient.drivers:
            source = sizes_driver_source(device.sizes.name, gradient.arg_names + gradient.data_names, batched)
            namespace = {device.sizes.name: module[device.sizes.name]}
            if gradient.compile_driver is not None:
                gradient.drivers[key] = gradient.compile_driver(source, namespace, "batch_sizes", rows=True)
            else:
                host = backends.python.load(source, gradient.filename("sizes"), namespace)
                gradient.drivers[key] = numba.njit(host["batch_sizes"])

    k = gradient.arg_names.index(batched)
    unused = {} if sizes == (0, 0, 0) else None     # no tapes: workspaces nothing writes, kept

    def run_rows(*args):
        points = args[k].shape[0]
        chunks = max(1, min(points, 4 * numba.get_num_threads()))
        work = unused.get(chunks) if unused is not None else None
        if work is None:
            most = sizes or gradient.drivers[("rows sizes", batched)](*args[:len(gradient.arg_names)
                                                                            + len(gradient.data_names)])
            work = [np.empty((chunks, max(n, 1)), dtype) for n, dtype in zip(most, (np.float64, np.int64, np.bool_))]
            if unused is not None:
                unused[chunks] = work
        if driver(*args, *work):           # chunks that stopped at a point failing a guard
            raise RuntimeError("a point of the batch fails the function's own check")   # (located by _host's caller)
    return run_rows


def _constant_sizes(sizes):
    """The workspace sizes where tape_sizes_<f> returns constants (no tapes: `return 0, 0, 0`)."""
    final = sizes.body[-1]
    if len(sizes.body) == 1 and isinstance(final.value, gast.Tuple) \
            and all(isinstance(e, gast.Constant) for e in final.value.elts):
        return tuple(int(e.value) for e in final.value.elts)
    return None


def _output_arrays(gradient, out, wanted):
    """`out` (an array, or a tuple of them where a batch returns a tuple) checked against the
    outputs the batch would make (`wanted`: arrays with their shapes and dtypes)."""
    names = ["values", "tangents"] if gradient.kind == "jvp" else \
        ["values"] * gradient.value + [f"the gradient along {w!r}" for w in gradient.wrt]
    given = list(flat(out))
    if len(given) != len(wanted):
        raise AdjointArgumentError(f"out= holds {len(given)} array(s): this batch returns {len(wanted)} "
                                   f"({', '.join(names)})")
    for name, array, want in zip(names, given, wanted):
        if not isinstance(array, np.ndarray):
            raise AdjointArgumentError(f"out= for {name}: expected a numpy array, got {type(array).__name__}")
        if array.shape != want.shape or array.dtype != want.dtype:
            raise AdjointArgumentError(f"out= for {name} has shape {array.shape} and dtype {array.dtype}: "
                                       f"expected shape {want.shape} and dtype {want.dtype}")
        if not array.flags.c_contiguous or not array.flags.writeable:
            raise AdjointArgumentError(f"out= for {name}: expected a writeable C-contiguous array",
                                       hint="pass np.empty(shape, dtype) once and reuse it")
    return given


def _cuda(gradient, args, batched, by_name, tangents, on_device):
    cuda = backends.get("cuda")
    code = gradient.code().device
    module = gradient.device_module()
    kernel = _driver(gradient, batched, by_name, tangents, code.function.name,
                     lambda source: cuda.compile_kernel(source, gradient.filename("kernel"), module),
                     whole=code.whole_rows)
    k = gradient.arg_names.index(batched)
    points = args[k].shape[0]
    sizes_key = ("sizes", batched)
    if sizes_key not in gradient.drivers:                       # the workspace each thread needs
        import numba
        source = sizes_driver_source(code.sizes.name, gradient.arg_names + gradient.data_names, batched)
        host = backends.python.load(source, gradient.filename("sizes"),
                                    {code.sizes.name: module["__host_sizes__"]})
        gradient.drivers[sizes_key] = numba.njit(host["batch_sizes"])
    host_args = list(args)
    if on_device:
        host_args[k] = args[k].copy_to_host()
    sizes = gradient.drivers[sizes_key](*host_args)
    # a device function returns scalars only: the value of a jvp on cuda is a scalar
    inputs, outputs = _buffers(gradient, points, by_name, tangents, (), np.zeros, cuda.device_zeros)
    on_gpu = [cuda.to_device(a) if isinstance(a, np.ndarray) else a for a in list(args) + inputs]
    work = [cuda.device_zeros((points, max(n, 1)), dtype)
            for n, dtype in zip(sizes, (np.float64, np.int64, np.bool_))]
    cuda.launch(kernel, points, on_gpu + list(outputs.values()) + work)
    if on_device:
        return outputs
    return {w: out.copy_to_host() for w, out in outputs.items()}


def _rank_words(ndim):
    return f"an array of rank {ndim}" if ndim else "a scalar"
