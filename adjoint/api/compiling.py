"""How a gradient object turns its generated code into callables: the compiled gradient and
primal (.adjoint, .primal, serial_adjoint), a variant per call's argument types
(_specialized), the allocation-free row and device modules a batch calls, and their place in
the on-disk cache (api/cache.py). A mixin of GradientFunction, kept apart so that gradient.py
reads as what a gradient object is and what a call does."""

from __future__ import annotations

from .. import backends
from ..errors import AdjointError
from ..pipeline import Options, differentiate
from .arguments import parameters, precision_of, reads_data, same_types, written_arguments


class Compilation:
    """GradientFunction's compiled code, each piece compiled on first use and kept (in
    `_drivers`, `_variants`); it reads the object's fn, target, options, jit_options, generated
    and cache fields."""

    def _filename(self, kind):
        return f"<adjoint {kind} {self.fn.__name__} from {self.fn.__code__.co_filename}>"

    def _compile(self, source, kind, name, primal=False):
        g = self.generated
        if self.cache_key is not None:
            return self._compile_cached(self.cache_key, g, name, self.jit_options, primal=primal)
        module = backends.python.load(source, self._filename(kind), g.namespace)
        self._files.add(module["__file__"])
        return backends.get(self.target).compile_module(module, name, self.jit_options)

    # the on-disk cache (api/cache.py) -------------------------------------------------------

    def _cache_variant(self, options):
        """(generated, key) of a variant of this gradient (a call's argument types, a batch's
        allocation-free code; `options` says which) from the cache, generated and stored
        there on a miss; key None where this gradient is not cached."""
        if not self._cached:
            return differentiate(self.fn, options), None
        from . import cache as disk
        jit = {k: v for k, v in self.jit_options.items() if k != "cache"}
        key = disk.key(self.fn, options, explicit=self._cache_explicit, target=self.target, jit=jit)
        generated = disk.load(key, self.fn)
        if generated is None:
            generated = differentiate(self.fn, options)
            disk.store(key, generated, _facts(generated, self.fn))
            if options.device:             # run what a later process will read back: the same
                generated = disk.load(key, self.fn) or generated        # batch driver source
        return generated, key

    def _compile_cached(self, key, generated, name, jit_options, primal=False, device=False, module=None):
        """`name` of the cached module's file, compiled with numba's cache on (cpu): a later
        process reads the machine code back. The user's functions the module calls by name
        are compiled without it: numba would write its cache next to their files."""
        from . import cache as disk
        if module is None:
            module = disk.import_module(disk.module_path(key, primal, device), generated.namespace)
        self._files.add(module["__file__"])
        if self.target != "cpu":
            return backends.get(self.target).compile_module(module, name, jit_options)
        import types

        import numba
        options = {k: v for k, v in jit_options.items() if k != "cache"}
        for k, value in list(module.items()):
            if isinstance(value, types.FunctionType) and value.__module__ != module["__name__"]:
                module[k] = numba.njit(**options)(value)
        compiled = backends.cpu.compile_module(module, name, {**options, "cache": True})
        for value in module.values():
            if getattr(getattr(value, "py_func", None), "__module__", None) == module["__name__"]:
                disk.read_quickly(value)
        return compiled

    def _compile_driver(self, source, namespace, name, rows=False, **jit_options):
        """numba.njit(**jit_options) of function `name` of a batch driver's emitted `source`
        (drivers.py), run with `namespace`; where the gradient it calls is cached, the driver's
        module is a file beside it and numba caches the driver's machine code too."""
        import numba
        key = self._drivers.get("rows key") if rows else self.cache_key
        if key is None or self.target != "cpu":
            module = backends.python.load(source, self._filename("batch"), namespace)
            return numba.njit(**jit_options)(module[name])
        from . import cache as disk
        module = disk.import_module(disk.driver_path(key, source), namespace)
        return disk.read_quickly(numba.njit(cache=True, **jit_options)(module[name]))

    @property
    def adjoint(self):
        """The compiled gradient: a numba dispatcher (cpu), a function (python) or a cuda
        device function taking output and workspace rows (cuda; see lower/device.py)."""
        with self._lock:
            if self._adjoint is None:
                g = self.generated
                if self.target == "cuda":
                    self._adjoint = self._device_module()[g.device.function.name]
                else:
                    self._adjoint = self._compile(g.source, g.name, g.name)
            return self._adjoint

    def serial_adjoint(self):
        """The compiled gradient without chunked loops (jit_options "parallel"), for batches:
        their points already share the threads, and a prange inside a prange is a nested
        parallel launch, which numba's workqueue threading layer aborts on."""
        if not self.parallel:
            return self.adjoint
        with self._lock:
            if "serial" not in self._drivers:
                serial = self._serial(self.generated.signature, comments=False)
                module = backends.python.load(serial.source, self._filename("serial"), serial.namespace)
                self._files.add(module["__file__"])
                options = {k: v for k, v in self.jit_options.items() if k not in ("cache", "parallel")}
                self._drivers["serial"] = backends.get(self.target).compile_module(module, serial.name, options)
            return self._drivers["serial"]

    def _serial(self, signature, comments=True):
        """The same gradient generated without chunked loops (jit_options "parallel")."""
        return differentiate(self.fn, self.options, comments=comments, signature=signature,
                             parallel=False)

    def _row_module(self):
        """(generated, compiled module) of the gradient lowered without allocations
        (lower/device.py), compiled for the cpu: what a cpu batch calls at each point, writing
        into the point's output row; None where the lowering does not take the function
        (array code that allocates), whose batches call the gradient itself. value_and_grad's
        returns the value, and writes the gradient rows."""
        with self._lock:
            if "rows" not in self._drivers:
                self._drivers["rows"] = None
                if self.generated is not None:
                    try:
                        g, key = self._cache_variant(Options.of(
                            self.options, device=True, recompute=False, parallel=False, comments=False,
                            signature=self.generated.signature))
                    except AdjointError:
                        return None
                    # np.divide became `/`: numpy's error model keeps its inf and nan
                    options = {k: v for k, v in self.jit_options.items() if k not in ("cache", "parallel")}
                    options = {"error_model": "numpy", **options}
                    if key is not None:
                        from . import cache as disk
                        module = disk.import_module(disk.module_path(key, device=True), g.namespace)
                        self._compile_cached(key, g, g.device.function.name, options, module=module)
                        self._drivers["rows key"] = key
                    else:
                        module = backends.python.load(g.device_source, self._filename("rows"), g.namespace)
                        self._files.add(module["__file__"])
                        backends.cpu.compile_module(module, g.device.function.name, options)
                    self._drivers["rows"] = (g, module)
            return self._drivers["rows"]

    def _device_module(self):
        if "device" not in self._drivers:
            g = self.generated
            module = backends.python.load(g.device_source, self._filename("device"), g.namespace)
            self._files.add(module["__file__"])
            host = dict(module)
            backends.cpu.compile_module(host, g.device.sizes.name)       # sizes run on the host
            backends.get("cuda").compile_module(module, g.device.function.name, self.jit_options)
            module["__host_sizes__"] = host[g.device.sizes.name]
            self._drivers["device"] = module
        return self._drivers["device"]

    @property
    def primal(self):
        """The function itself, compiled for the target. Where it reads arrays from module
        globals or closure cells, they are its last parameters (`data_names`), as in the
        adjoint: numba would freeze a global array at its first compile; called from Python,
        `primal_with_data` passes their current values."""
        with self._lock:
            if self._primal is None:
                g = self.generated
                self._primal = self._compile(g.primal_source, "primal", g.primal_name, primal=True)
            return self._primal

    def _specialized(self, args):
        """The adjoint compiled for these arguments' types (rank, element kind): the code
        generated at decoration assumed the types the source suggests; an array where it
        assumed a float (an elementwise function) gets code of its own, generated once."""
        from ..analysis import shapes
        signature = {n: shapes.describe(v) for n, v in zip(self._arg_names, args)}
        precision = precision_of(args)
        if self._generated is not None and precision == self.options.precision \
                and same_types(signature, self._generated.signature, self.wrt):
            return self._generated, self.adjoint
        key = tuple((n, str(t)) for n, t in signature.items()) + ((precision,) if precision != "float64" else ())
        with self._lock:
            if key not in self._variants:
                generated, cache_key = self._cache_variant(Options.of(
                    self.options, comments=False, signature=signature, precision=precision))
                options = {k: v for k, v in self.jit_options.items() if k != "cache"}
                if cache_key is not None:
                    compiled = self._compile_cached(cache_key, generated, generated.name, options)
                else:
                    module = backends.python.load(generated.source, self._filename(f"{key}"),
                                                  generated.namespace)
                    self._files.add(module["__file__"])
                    compiled = backends.get(self.target).compile_module(module, generated.name, options)
                self._variants[key] = (generated, compiled)
            return self._variants[key]


def _facts(generated, fn) -> dict:
    """What a gradient object reads from fn's normalized form besides the code, for the
    cache's record (a later process then need not run the front end again): the arguments
    fn writes into, and whether it reads arrays or numbers from globals or closures."""
    tree = generated.stages.get("normalize")
    if tree is None:
        return {}
    return {"written": sorted(written_arguments(tree, list(parameters(fn)))),
            "reads_data": reads_data(tree)}
