"""The public entry points: grad, value_and_grad, source, and GradientFunction, the object they
return: what it is made of and what a call, a batch and a pickle of it do. How it compiles
its code is in compiling.py, how a failure reaches the user's line in failures.py, how it shows
itself in presented.py (mixins of GradientFunction, each a concern of its own).

    @adjoint.grad
    def f4(side_lengths): ...
    f4([1.0, 2.0, 3.0, 4.0])      ->  array([52., 38., 28., 22.])
"""

from __future__ import annotations

import functools
import os
import sys
import threading

import numpy as np

from ..errors import AdjointArgumentError, AdjointError, AdjointTypeError
from ..pipeline import Options, differentiate, guessed_signature, wrt_names
from .arguments import (
    as_differentiable,
    as_float_value,
    as_result,
    bind_call,
    data_constants,
    data_sources,
    data_values,
    fresh_copies,
    in_precision,
    normalized_function,
    parameters,
    precision_of,
    reads_no_data,
    reject_aliasing,
    same_types,
    signature_of_types,
    written_arguments,
)
from .compiling import Compilation, _facts
from .failures import LocatedFailures
from .presented import Presented

TARGETS = ("cpu", "python", "cuda")


class GradientFunction(Presented, Compilation, LocatedFailures):
    """A function's compiled gradient. Call it like the function; it returns the gradient.

    .source   the emitted gradient module (standalone: imports math and numpy only)
    .primal   the function itself, compiled for the target
    .options  what the pipeline generates (pipeline.Options): each variant, for a call's
              argument types or without chunked loops, replaces some of its fields
    .adjoint  the compiled gradient function: same arguments, returns the gradient
              (on the cpu target a numba dispatcher, callable from your own @numba.njit code),
              generated for the argument types the source suggests (see .source);
              .adjoint_for(*args) is the one generated for these arguments' types
    .cache_status  whether it is kept in the on-disk cache (api/cache.py): "loaded" (read
              from it), "stored" (generated and written to it), or "off: <why>"
    """

    def __init__(self, fn, wrt=0, *, target="cpu", comments=True, return_value=False,
                 jit_options=None, cache=None, mode="reverse", kind="grad", recompute=False,
                 debug=False, checkpoints=None, memory_limit=None):
        if target not in TARGETS:
            raise AdjointError(f"unknown target {target!r}", hint=f"choose one of {', '.join(TARGETS)}")
        # what rebuilds this object in another process (pickle): never machine code
        self._construction = dict(wrt=wrt, target=target, comments=comments, return_value=return_value,
                                  jit_options=jit_options, cache=cache, mode=mode, kind=kind,
                                  recompute=recompute, debug=debug, checkpoints=checkpoints,
                                  memory_limit=memory_limit)
        if isinstance(fn, GradientFunction):     # grad(grad(f)): differentiate the emitted gradient
            fn = fn.as_function()
        self.kind = kind                          # "grad", "jvp" (value, tangent) or "vjp"
        self.mode = "forward" if kind == "jvp" else mode
        if kind == "vjp" and target == "cuda":
            raise AdjointError("vjp is not available on the cuda target: its cotangent and "
                               "gradient would be arrays that device code cannot allocate",
                               hint="use target='cpu'; on cuda, grad(f, target='cuda').batch(...) "
                                    "differentiates a scalar function at many points")
        if cache and target == "cuda":
            raise AdjointError("cache=True is not available on the cuda target: the device code "
                               "is generated and compiled in each process",
                               hint="leave cache off with target='cuda'")
        self.fn = fn
        self.target = target
        self.jit_options = dict(jit_options or {})
        if debug:
            _check_debug_target(target)
            self.jit_options.setdefault("boundscheck", True)      # an IndexError, not a stray write
        # numba runs prange loops in parallel; the python target runs the same source serially
        self.parallel = bool(self.jit_options.get("parallel")) and target in ("cpu", "python")
        # what the pipeline generates; each variant (a call's types, a serial copy) replaces
        # fields of this one
        self.options = Options(wrt=wrt, comments=comments, return_value=return_value, mode=self.mode,
                               cotangent=kind == "vjp", recompute=recompute, parallel=self.parallel,
                               checkpoints=checkpoints, memory_limit=memory_limit)
        self.cache_key = None
        self._deferred = None
        self._generated = None
        from . import cache as disk
        self._cached = disk.wanted(cache, target) and target != "cuda"     # each variant too
        self._cache_explicit = bool(cache)
        self.cache_status = _cache_off(cache, target)
        written = None
        if self._cached:
            self.cache_key, why = disk.keyed(fn, self.options, explicit=self._cache_explicit,
                                             target=target, jit=self.jit_options)
            self.generated = disk.load(self.cache_key, fn)
            self.cache_status = "loaded" if self.generated is not None else f"off: {why}" if why else "stored"
            if self.generated is not None:
                known = disk.facts(self.cache_key)
                written = frozenset(known["written"]) if isinstance(known.get("written"), list) else None
            else:
                try:
                    self.generated = differentiate(fn, self.options)
                    lost = disk.store(self.cache_key, self.generated, _facts(self.generated, fn))
                    if lost and self.cache_key is not None:
                        self.cache_status = f"off: {lost}"
                except AdjointTypeError as error:
                    # types only the call can tell (x @ y on arrays): generated then, each
                    # call's types cached as a variant of their own
                    self._deferred, self.cache_key = error, None
                    self.cache_status = "off: generated at the call (each call's types are cached)"
            if target == "cpu" and self.cache_key is not None:
                self.jit_options["cache"] = True
        elif target == "cuda":
            # the device code is generated storing its tapes: recompute is not passed to it
            self.generated = differentiate(fn, self.options, device=True, recompute=False)
        else:
            try:
                self.generated = differentiate(fn, self.options)
            except AdjointTypeError as error:
                # the types guessed from the source do not fit (x @ y needs arrays): the
                # code is generated at the first call, for the arguments' actual types
                self._deferred = error
        if self._deferred is None:
            _dump(self.generated)
        self.wrt = wrt_names(list(parameters(fn)), wrt)
        self._wrt_is_tuple = isinstance(wrt, (tuple, list))     # a tuple wrt returns a tuple
        self._arg_names = list(parameters(fn))
        self._lock = threading.Lock()
        self._adjoint = None
        self._primal = None
        self._files = set()                # generated modules' file names, to locate failures
        self._drivers = {}                 # the device module and batch drivers (batch.py)
        self._variants = {}                # argument types -> (generated, compiled adjoint)
        self._written = written            # names of the arguments the function writes into
        self._unconverted = {}             # argument types -> (generated, compiled): __call__
        functools.update_wrapper(self, fn)
        self.__adjoint_function__ = fn
        if self.cache_status == "loaded" and disk.facts(self.cache_key).get("reads_data") is False:
            reads_no_data(self)

    def as_function(self, *args):
        """The emitted code as a plain Python function read from a real file, so that adjoint
        can transform it again (forward-over-reverse Hessians, grad(grad(f)))."""
        from . import cache as disk
        generated = self._specialized(self._check_arguments(args))[0] if args else self.generated
        if self.parallel:                  # numba.prange is outside the subset adjoint reads
            generated = self._serial(generated.signature)
        folder = _materialized_folder()
        digest = abs(hash((generated.source, self.fn.__module__, self.fn.__qualname__)))
        path = os.path.join(folder, f"{generated.name}_{digest:x}.py")
        if not os.path.exists(path):
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(generated.source)
        return disk.import_module(path, generated.namespace)[generated.name]

    @property
    def generated(self):
        """The code generated for the argument types the source suggests."""
        if self._generated is None and self._deferred is not None:
            raise self._deferred
        return self._generated

    @generated.setter
    def generated(self, value):
        self._generated = value

    @property
    def source(self) -> str:
        return self.generated.source

    def adjoint_for(self, *args, **kwargs):
        """The compiled gradient generated for these arguments' types (rank, element kind):
        what a call uses, for your own @numba.njit code where the guess behind .adjoint (an
        argument read as `a[k]` taken for a vector, say) is not your arguments' types."""
        return self._specialized(self._check_arguments(bind_call(self, args, kwargs, extra=0)))[1]

    def source_for(self, *args, **kwargs) -> str:
        """The gradient source generated for these arguments' types."""
        return self._specialized(self._check_arguments(bind_call(self, args, kwargs, extra=0)))[0].source

    @property
    def data_names(self) -> tuple:
        """The names of the module or closure arrays the compiled code takes after the user's
        arguments, in order (empty for most functions)."""
        return tuple(source.name for source in data_sources(self))

    def primal_with_data(self, *args, **kwargs):
        """The compiled function called like the user's: keywords, defaults and the current
        values of the module arrays it reads filled in."""
        args = bind_call(self, args, kwargs)
        return self.primal(*args, *data_values(self))

    def __call__(self, *args, **kwargs):
        if not kwargs:
            known = self._unconverted.get(_types_key(args))
            if known is not None:                           # the thin path: see _remember
                generated, adjoint, reads_data, as_returned = known
                if self._written:
                    reject_aliasing(self._arg_names, args, self._written, self.fn.__name__)
                if reads_data:
                    args = args + tuple(data_values(self))
                try:
                    result = adjoint(*args)
                except Exception as exc:
                    raise self._failure(exc, generated, list(args)) from None
                return result if as_returned else self._shape_result(as_result(result))
        given = args
        args = bind_call(self, args, kwargs)          # keywords and defaults, by position
        if self.target == "cuda":
            return self._call_as_batch_of_one(args)
        if self.kind == "jvp" or self.kind == "vjp":
            return self._call_with_extra(args)
        if self.mode == "forward":
            return self._gradient_by_tangents(args)
        args = self._check_arguments(args)
        generated, adjoint = self._specialized(args)
        try:
            result = adjoint(*args)
        except Exception as exc:                           # numba typing, or a runtime error
            raise self._failure(exc, generated, args) from None
        self._remember(given, kwargs, args, generated, adjoint, result)
        return self._shape_result(as_result(result))

    def _remember(self, given, kwargs, args, generated, adjoint, result):
        """Arguments of these types (class; an array's dtype and rank) that the checks passed
        through unchanged go straight to the compiled gradient next time: a call then costs a
        dictionary lookup more than numba's own dispatch (the aliasing check and the module
        arrays' values still run on every call). Where the compiled code's result needs no
        conversion (an array, a float, a tuple of them: one type per numba specialization)
        it is returned as it is."""
        if not kwargs and len(given) == len(self._arg_names) \
                and all(a is b for a, b in zip(given, args)):
            reads_data = len(args) > len(given) or bool(data_constants(self))    # checked every call
            as_returned = _returned_as_is(result) and not (self._wrt_is_tuple and len(self.wrt) == 1)
            self._unconverted[_types_key(given)] = (generated, adjoint, reads_data, as_returned)

    def _call_as_batch_of_one(self, args):
        """On the cuda target a call is a batch of one point, stacked along the first wrt
        argument (the others, and jvp's tangents, are shared)."""
        primal, extra = self._split_extra(args) if self.kind == "jvp" else (self._check_arguments(args), [])
        k = self._arg_names.index(self.wrt[0])
        primal[k] = np.asarray(primal[k])[None, ...]
        results = self.batch(*primal, *extra, batched=k)
        if self.kind == "jvp":
            return as_result(tuple(r[0] for r in results))
        if self.options.return_value:               # (values, gradients): the first of each
            values, gradients = results
            rows = tuple(r[0] for r in gradients) if isinstance(gradients, tuple) else gradients[0]
            return self._shape_result(as_result((values[0], rows)))
        rows = tuple(r[0] for r in results) if isinstance(results, tuple) else results[0]
        return self._shape_result(as_result(rows))

    def _split_extra(self, args):
        """jvp's (*args, *tangents), vjp's (*args, cotangent): both parts, converted."""
        count = len(self._arg_names)
        extra_count = len(self.wrt) if self.kind == "jvp" else 1
        if len(args) != count + extra_count:
            what = "one tangent per wrt argument" if self.kind == "jvp" else "the output's cotangent"
            raise AdjointArgumentError(f"{self.kind} of {self.fn.__name__}() takes {count} arguments "
                                       f"and {what}, {len(args)} given")
        primal = self._fresh_written(self._check_arguments(args[:count]))
        extra = [as_float_value(v) for v in args[count:]]
        if self.kind == "jvp":            # the tangent code writes d_y[...] where f writes y[...]
            written = self.written_arguments()
            extra = [np.array(t) if w in written and isinstance(t, np.ndarray) else t
                     for w, t in zip(self.wrt, extra)]
        return primal, extra

    def _fresh_written(self, args):
        """Copies of the arguments the function writes into, for code that does not undo its
        writes (forward mode): each run reads the values the caller passed, and the caller's
        arrays stay as they were, as with the reverse-mode gradient."""
        return fresh_copies(self._arg_names, args, self.written_arguments())

    def _call_with_extra(self, args):
        """jvp: (*args, *tangents) -> (value, tangent); vjp: (*args, cotangent) -> gradients."""
        primal, extra = self._split_extra(args)
        generated, compiled = self._specialized(primal)
        try:
            result = as_result(compiled(*primal, *extra))
        except Exception as exc:
            raise self._failure(exc, generated, primal + extra) from None
        return result if self.kind == "jvp" else self._shape_result(result)

    def _gradient_by_tangents(self, args):
        """The gradient in forward mode: one tangent run per input component."""
        primal = self._check_arguments(args)
        generated, compiled = self._specialized(primal)
        values = dict(zip(self._arg_names, primal))

        def tangent(unit):                 # each run on fresh copies of what f writes into
            point = self._fresh_written(primal)
            try:
                return compiled(*point, *unit)[1]
            except Exception as exc:
                raise self._failure(exc, generated, self._fresh_written(primal) + list(unit)) from None
        gradients = []
        for w in self.wrt:
            base = [np.zeros_like(values[v]) if np.ndim(values[v]) else 0.0 for v in self.wrt]
            k = self.wrt.index(w)
            x = values[w]
            if np.ndim(x) == 0:
                base[k] = 1.0
                gradients.append(float(tangent(base)))
                continue
            column = np.zeros(np.shape(x), dtype=np.asarray(x).dtype)
            for index in np.ndindex(np.shape(x)):
                unit = [b.copy() if np.ndim(b) else b for b in base]
                unit[k][index] = 1.0
                column[index] = tangent(unit)
            gradients.append(column)
        result = gradients[0] if len(gradients) == 1 else tuple(gradients)
        return self._shape_result(result)

    def _shape_result(self, result):
        if not (self._wrt_is_tuple and len(self.wrt) == 1):
            return result
        if self.options.return_value:
            return result[0], (result[1],)
        return (result,)

    def batch(self, *args, batched=0, out=None, reduce=None, **kwargs):
        """Gradients at many points: argument `batched` (index or name) stacks the points
        along axis 0; the other arguments are shared. Returns, per wrt argument, an array
        whose axis 0 runs over the points (a tuple of them for a tuple wrt).
        value_and_grad: `(values, G)`, the values one per point (shape (N,), float64) before
        those gradient arrays (G a tuple for a tuple wrt); out=(values, G) likewise.
        jvp: `batch(*args, *tangents, batched=0) -> (values, tangents)`; each tangent is one
        direction for all points (shaped like its argument) or one per point (stacked).
        out: the arrays to write the results into, shaped and typed like those a batch returns
        (a tuple where it returns a tuple), so that repeated batches reuse them.
        reduce "sum" or "mean": the sum or mean over the points instead (of each output).
        A dask array as the batched argument gives dask arrays (api/distributed.py)."""
        if not kwargs and reduce is None:
            fast = self._drivers.get(("fast", batched, _types_key(args)))
            if fast is not None:                   # arguments of known types: see batch.fast_path
                result = fast(args, out)
                if result is not None:
                    return result
        from . import batch as batching
        typed = self._for_batch_points(bind_call(self, args, kwargs, extra=len(self.wrt) if self.kind == "jvp" else 0),
                                       batched)
        if typed is not self:
            return typed.batch(*args, batched=batched, out=out, reduce=reduce, **kwargs)
        fast_key = None
        if not kwargs and self.target == "cpu" and not self.written_arguments() \
                and not data_sources(self) and not data_constants(self):
            fast_key = ("fast", batched, _types_key(args))
        args = bind_call(self, args, kwargs, extra=len(self.wrt) if self.kind == "jvp" else 0)
        return batching.run(self._batchable(batching.BatchableGradient), args, batched, out=out, reduce=reduce,
                            fast_key=fast_key)

    def _for_batch_points(self, args, batched):
        """The gradient a batch of these points runs: this one where the code generated for
        the types the source suggests fits a point, else (a vector the source does not show
        is one, `a, b, c = np.exp(p)`; code only the call's types could generate) a copy whose
        code is generated for a point's types, made once per types. The cuda target generates
        its code once (batch.py checks the ranks)."""
        from ..analysis import shapes
        from .batch import batched_index
        names = self._arg_names
        if self.target == "cuda" or len(args) < len(names):
            return self
        k = batched_index(names, batched)
        if np.ndim(args[k]) == 0 or len(args[k]) == 0 or not isinstance(args[k], (np.ndarray, list, tuple)):
            return self                                 # batch.py says what was expected
        point = list(args[:len(names)])
        point[k] = np.asarray(args[k])[0]
        point = self._check_arguments(point)
        signature = {n: shapes.describe(v) for n, v in zip(names, point)}
        precision = precision_of(point)
        if self._generated is not None and precision == self.options.precision \
                and same_types(signature, self._generated.signature, self.wrt):
            return self
        key = ("typed", tuple((n, str(t)) for n, t in signature.items()), precision)
        with self._lock:
            if key not in self._drivers:
                import copy
                generated, cache_key = self._cache_variant(Options.of(
                    self.options, comments=False, signature=signature, precision=precision))
                typed = copy.copy(self)
                typed._generated, typed.cache_key, typed._deferred = generated, cache_key, None
                typed._adjoint = typed._primal = None
                typed._drivers, typed._unconverted, typed._lock = {}, {}, threading.Lock()
                self._drivers[key] = typed
            return self._drivers[key]

    def _batchable(self, record):
        """This gradient as batch.py sees it: `record` (batch.BatchableGradient) filled in."""
        kind = "forward" if self.kind == "grad" and self.mode == "forward" else self.kind
        return record(name=self.fn.__name__, arg_names=tuple(self._arg_names), wrt=self.wrt,
                      data_names=tuple(source.name for source in data_sources(self)),
                      kind=kind, target=self.target, written=self.written_arguments(),
                      code=lambda: self.generated, drivers=self._drivers,
                      check_arguments=self._check_arguments, call=self,
                      serial_adjoint=self.serial_adjoint, device_module=self._device_module,
                      row_module=self._row_module, compile_driver=self._compile_driver,
                      filename=self._filename, rerun_in_python=self._rerun_in_python,
                      locate_failure=self._locate_failure, value=self.options.return_value)

    def _check_arguments(self, args):
        names = self._arg_names
        if len(args) != len(names):
            raise AdjointArgumentError(
                f"{self.fn.__name__}() takes {len(names)} arguments "
                f"({', '.join(names)}), {len(args)} given")
        written = self.written_arguments()
        if written:
            reject_aliasing(names, args, written, self.fn.__name__)
        converted = []
        arrays = self._generated.array_args if self._generated is not None else set()
        for name, value in zip(names, args):
            if name in self.wrt:
                value = as_differentiable(name, value, name in arrays, self.fn.__name__)
            elif isinstance(value, list):
                value = np.asarray(value)
            converted.append(value)
        converted += data_values(self)            # then the arrays it reads from globals
        return in_precision(converted, precision_of(converted))

    def written_arguments(self) -> frozenset:
        """The names of the arguments whose elements the function may write (`y[0] = ...`,
        directly, through a view or in an inlined helper): a call that passes such an argument
        sharing memory with another is rejected, and forward mode passes copies of them."""
        if self._written is None:
            generated = self._generated or next((g for g, _ in self._variants.values()), None)
            tree = generated.stages.get("normalize") if generated is not None else None
            if tree is None:                   # loaded from the cache, or not generated yet
                tree = normalized_function(self.fn)
            self._written = written_arguments(tree, self._arg_names)
        return self._written

    @property
    def transform(self) -> str:
        """The public name of what this object computes: grad, value_and_grad, jvp or vjp."""
        if self.kind != "grad":
            return self.kind
        return "value_and_grad" if self.options.return_value else "grad"

    def __reduce__(self):
        """Pickled as the function (by module and qualified name) and the options, never as
        machine code: the other process regenerates it, or loads it from the cache."""
        module = sys.modules.get(self.fn.__module__)
        if module is not None and _attribute_path(module, self.fn.__qualname__) is self:
            return _import_attribute, (self.fn.__module__, self.fn.__qualname__)    # @adjoint.grad
        if module is None or _attribute_path(module, self.fn.__qualname__) is not self.fn:
            import pickle
            raise pickle.PicklingError(
                f"cannot pickle {self!r}: {self.fn.__qualname__} is not importable from module "
                f"{self.fn.__module__} (a closure, a lambda or a function defined in a function); "
                "define the function at module level so that other processes can import it")
        return _rebuild, (self.fn, self._construction)


def _attribute_path(module, qualname):
    obj = module
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    return obj


def _import_attribute(module_name, qualname):
    import importlib
    return _attribute_path(importlib.import_module(module_name), qualname)


def _rebuild(fn, construction):
    return GradientFunction(fn, **construction)


def _types_key(args):
    """What the checks of a call depend on, per argument, read cheaply: an array's dtype and
    rank (numba's dispatch sees to its layout), another value's class."""
    if len(args) == 1:
        a = args[0]
        return (a.dtype, a.ndim) if type(a) is _ARRAY else type(a)
    return tuple([(a.dtype, a.ndim) if type(a) is _ARRAY else type(a) for a in args])


_ARRAY = np.ndarray


def _returned_as_is(result):
    """Whether as_result leaves `result` as it is (up to rebuilding a tuple of the same items)."""
    if type(result) is tuple:                   # value_and_grad's (value, (g_x, g_y)) too
        return all(_returned_as_is(r) for r in result)
    return type(result) is _ARRAY or type(result) is float


def _dump(generated):
    """ADJOINT_DUMP=dir: write every generated module there, for reading and diffing."""
    import os
    folder = os.environ.get("ADJOINT_DUMP")
    if not folder:
        return
    os.makedirs(folder, exist_ok=True)
    for name, text in ((generated.name, generated.source),
                       (generated.primal_name, generated.primal_source)):
        with open(os.path.join(folder, f"{name}.py"), "w", encoding="utf-8") as handle:
            handle.write(text)


def _check_debug_target(target):
    if target == "cuda":
        raise AdjointError("debug=True is not available on the cuda target: device code does "
                           "not check array bounds",
                           hint="check the function with target='cpu', debug=True (the same "
                                "generated code, bounds checked), or under NUMBA_ENABLE_CUDASIM=1")


_FOLDER = []


def _cache_off(cache, target) -> str:
    """cache_status where the gradient is not cached, by what was asked."""
    if target == "cuda":
        return "off: the cuda target's device code is compiled in each process"
    if cache is not None:
        return "off: cache=False"
    if target == "cpu":
        return "off: ADJOINT_CACHE=0"
    return f"off: the {target} target is cached only with cache=True"


def _materialized_folder():
    """A per-process folder for emitted code that must live in a file (see as_function)."""
    if not _FOLDER:
        import atexit
        import shutil
        import tempfile
        _FOLDER.append(tempfile.mkdtemp(prefix="adjoint-"))
        atexit.register(shutil.rmtree, _FOLDER[0], True)
    return _FOLDER[0]


def grad(fn=None, wrt=0, *, target="cpu", comments=True, jit_options=None, cache=None,
         mode="reverse", recompute=False, debug=False, checkpoints=None, memory_limit=None):
    """The gradient of `fn` with respect to argument(s) `wrt` (index, name or tuple).

    Usable as `@grad` or `@grad(wrt=...)`. A tuple `wrt` returns a tuple of gradients.
    target: "cpu" (numba.njit), "python" (no compilation, for debugging) or "cuda".
    jit_options: passed to numba, e.g. {"fastmath": True} (an explicit opt-in).
    cache: keep the generated module and numba's machine code on disk, so that a later
    process loads them instead of transforming and compiling again (api/cache.py). Not given,
    the cpu target caches (its gradient, each specialization to a call's argument types, the
    batch drivers) unless the environment sets ADJOINT_CACHE=0; a function whose gradient
    cannot be cached (it reads an object with no value a later process could compare) is
    compiled without it, silently (`g.cache_status` says why). cache=False: never; True:
    also the python target's generated code, with a warning where it cannot be kept. The
    folder is ADJOINT_CACHE_DIR, by default ~/.cache/adjoint (`adjoint cache info`,
    `adjoint cache clear`).
    mode: "reverse" (one sweep for all inputs) or "forward" (one tangent run per input).
    recompute: reverse loops replay every intermediate instead of storing the arrays that a
    matrix product or a transcendental function made (least memory, more time).
    debug: check every index against its array's bounds, as the python target does. The cpu
    target, like numba, does not check bounds by default: an index past the end (`x[i]` for
    i in range(n) with n > len(x)) reads and writes outside the arrays, the gradient's too,
    which returns garbage or crashes the process. With debug=True (numba's boundscheck) it
    raises an IndexError (an AdjointError too) at the user's line. Slower; not for cuda.
    checkpoints: K, a whole number: each outermost `for ... in range(...)` loop keeps at most
    K snapshots of the state it carries instead of one per iteration, and runs the iterations
    between them again, on revolve's binomial schedule (the fewest recomputed iterations for
    K snapshots); the same arithmetic, so the same gradient. `while` loops and loops with
    `break` (no trip count in advance) keep at most ceil(K / 2) snapshots while they run,
    thinned by half as they fill, and reverse with all K. A loop may have its own budget:
    `for i in adjoint.checkpointed(range(n), K):` or a `# adjoint: checkpoints=K` comment on
    its line (K a whole number or a parameter). On the cuda target the K snapshots are rows
    of each thread's workspace, sized before launch (K bounds a `while` loop's too; a
    memory_limit is each thread's).
    checkpoints="auto" with memory_limit (bytes, or "1GB", "512MiB"; memory_limit alone means
    it too): each such loop keeps as many snapshots as the limit holds, its state measured
    when the loop starts (the arrays' nbytes, 8 bytes per number and per snapshot's iteration),
    at least one and at most the trip count. The limit is for the snapshots only: the
    gradient's own arrays and an inner loop's tapes come on top.

    Arguments that share memory (the same array twice, overlapping slices) are rejected with
    an AdjointError when the function writes into one of them; where it only reads them,
    each gets its own gradient, as if they were separate arrays.
    """
    options = dict(wrt=wrt, target=target, comments=comments, jit_options=jit_options, cache=cache,
                   mode=mode, recompute=recompute, debug=debug, checkpoints=checkpoints,
                   memory_limit=memory_limit)
    if fn is None:
        return lambda f: GradientFunction(f, **options)
    return GradientFunction(fn, **options)


def value_and_grad(fn=None, wrt=0, *, target="cpu", comments=True, jit_options=None, cache=None,
                   recompute=False, debug=False):
    """Like `grad`, returning `(value, gradient)` (a tuple of gradients for a tuple wrt) in
    one compiled call. `.batch(X, ...)` returns `(values, G)`: f's value at every point (an
    array of shape (N,)) and the gradient rows as `grad(f).batch` gives them, on every target
    (on the cpu the lowered gradient writes each point's value and row, allocating nothing
    per point; cuda included) and over dask arrays (a tuple of dask arrays)."""
    options = dict(wrt=wrt, target=target, comments=comments, jit_options=jit_options,
                   cache=cache, return_value=True, recompute=recompute, debug=debug)
    if fn is None:
        return lambda f: GradientFunction(f, **options)
    return GradientFunction(fn, **options)


def source(fn, wrt=0, *, comments=True, types=None) -> str:
    """The emitted gradient module of `fn`, as text.

    types: the argument types to generate it for, where the source does not tell them (an
    argument only ever passed on is taken for a float): "W=float64[:,:], n=int64" as the
    CLI's --types, a dict {"W": "float64[:,:]"}, or example values {"W": np.ones((3, 2))}.
    Without types, a float parameter that is all a reduction sums (np.sum(np.sin(x) ** 2))
    is taken for an array. (`grad(f).source_for(*args)` gives the code generated for a call's
    arguments.)"""
    fn = getattr(fn, "__adjoint_function__", fn)
    signature = signature_of_types(types, fn) if types is not None else guessed_signature(fn, wrt)
    return differentiate(fn, wrt=wrt, comments=comments, signature=signature).source
