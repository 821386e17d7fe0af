"""The compiler pipeline: the table of contents of the package.

    differentiate(f4, wrt=("side_lengths",))  ->  Generated(source of grad_f4, ...)

`PIPELINE` lists the stages in the order they run, each a small function calling one stage's
entry point (frontend/, analysis/, transforms/, optimize/, lower/); read them top to bottom.
The same table drives the per-stage timing (`Generated.timings`, `ADJOINT_TIMING=1`,
`adjoint show --timing`), the "internal error in stage X" wrapper (StageClock) and, for the
stages in STAGES, `adjoint show --stage`. Options (options.py) say which stages run and how.
Backends (backends/) then exec or jit-compile the emitted source.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import functools
import gc
import os
import sys
import threading
import time

import gast

from .analysis import shapes
from .analysis.activity import analyze
from .errors import AdjointError, AdjointTypeError, locate
from .frontend.desugar import desugar, version_retyped
from .frontend.normalize import normalize, signature_defaults
from .frontend.parse import parse
from .frontend.validate import validate
from .frontend.views import check_views
from .ir import annotations, grammar, nodes, trees
from .ir.names import Namer
from .lower import emit as emit_stage
from .lower.device import lower_for_device
from .lower.for_numba import lower_for_numba, needs_lowering
from .lower.host_rewrites import assignments_into_views, matrix_vector_products
from .optimize.passes import optimize
from .options import Options
from .primitives import runtime
from .transforms.forward import forward
from .transforms.reverse import reverse


@dataclasses.dataclass
class Generated:
    name: str                  # the adjoint function's name, grad_<f>
    source: str                # standalone module defining it
    origins: dict              # generated line -> (user file, line, col)
    primal_name: str
    primal_source: str
    namespace: dict            # user objects the module refers to (registered functions)
    filename: str              # the user's file
    wrt: tuple
    array_args: set            # arguments used as arrays
    stages: dict               # stage name -> its output, for `adjoint show --stage`
    signature: dict = None     # argument name -> shapes.Type the code was generated for
    device: object = None      # device.DeviceCode: the allocation-free variant (cuda, batches)
    device_source: str = ""    # its emitted module: grad_<f>_device and tape_sizes_<f>
    timings: dict = dataclasses.field(default_factory=dict)   # stage -> CPU seconds (StageClock)


def wrt_names(fn_args, wrt) -> tuple:
    """`wrt` (index, name, or a tuple of them) as a tuple of argument names."""
    items = wrt if isinstance(wrt, (tuple, list)) else (wrt,)
    names = []
    for item in items:
        if isinstance(item, bool) or not isinstance(item, (int, str)):
            raise AdjointError(f"wrt={item!r}: expected an argument index or name")
        if isinstance(item, int):
            if not -len(fn_args) <= item < len(fn_args):
                raise AdjointError(f"wrt={item}: the function has {len(fn_args)} arguments "
                                   f"({', '.join(fn_args)})")
            item = fn_args[item]
        elif item not in fn_args:
            raise AdjointError(f"wrt={item!r}: no such argument; the arguments are {', '.join(fn_args)}")
        names.append(item)
    if not names:
        raise AdjointError("wrt is empty: name at least one argument to differentiate against")
    if len(set(names)) != len(names):
        raise AdjointError(f"wrt={wrt!r} names an argument twice")
    return tuple(names)


class _ProcessSetting:
    """A process-wide interpreter setting raised while any block, in any thread, is inside
    `raised(...)`, and restored when the last one ends. (A block that restored the value it
    found would, with two threads interleaved, leave the other's raised value behind.)"""

    def __init__(self, read, write):
        self.read, self.write = read, write
        self.lock = threading.Lock()
        self.users = 0                  # blocks inside now, in any thread
        self.found = None               # the value before the first of them began

    @contextlib.contextmanager
    def raised(self, value_from):
        """Inside: `value_from(current value)`."""
        with self.lock:
            if self.users == 0:
                self.found = self.read()
            self.users += 1
            self.write(value_from(self.read()))
        try:
            yield
        finally:
            with self.lock:
                self.users -= 1
                if self.users == 0:
                    self.write(self.found)


# Parsing, normalizing and printing recurse once or more per level of an expression: a sum of
# 250 terms is a tree 250 deep, beyond Python's default limit of 1000 frames. Python compiles
# at most about 3,000 levels with its default limit (a 2,500-term sum; 199 nested calls), which
# takes about 12,000 frames here. Since Python 3.11 these frames barely use the C stack (that
# sum runs in a thread with a 1 MiB stack), so the limit is raised around the pipeline.
RECURSION_LIMIT = 30_000


_recursion_limit = _ProcessSetting(sys.getrecursionlimit, sys.setrecursionlimit)


@contextlib.contextmanager
def deep_recursion(limit=None):
    """Python's recursion limit raised to `limit` (RECURSION_LIMIT) inside the block, restored
    after the last such block; a RecursionError inside becomes an AdjointError that says what
    to do."""
    with _recursion_limit.raised(lambda now: max(now, limit or RECURSION_LIMIT)):
        try:
            yield
        except RecursionError:
            raise AdjointError("the function's expressions nest too deeply for the compiler "
                               f"(Python's recursion limit of {sys.getrecursionlimit()} frames ran out)",
                               hint="split the longest expression into several statements "
                                    "(partial sums in variables)") from None


# The pipeline allocates millions of AST nodes that all stay alive until it returns. Each
# full (generation 2) collection walks every one of them, and Python runs one after every ten
# generation-1 collections, so the collector's time grows faster than linearly with the
# function's length (about a quarter of the pipeline on 2,000 lines). Inside the pipeline a
# full collection runs a hundred times less often, and a young one after 100,000 new objects
# rather than 700: a 100-line function makes about 35,000 net, whose 49 young collections
# took 5% of its time to free a thousand cycles, which wait a little longer now.
RARE_FULL_COLLECTIONS = 1000        # generation-1 collections per full one (Python's default: 10)
YOUNG_COLLECTION_AFTER = 100_000    # new objects per young collection (Python's default: 700)
_collector_thresholds = _ProcessSetting(gc.get_threshold, lambda values: gc.set_threshold(*values))


def rare_collections():
    """gc's first threshold raised to YOUNG_COLLECTION_AFTER and its third to
    RARE_FULL_COLLECTIONS inside the block; the thresholds found before are restored when the
    last block running (in any thread) ends."""
    return _collector_thresholds.raised(
        lambda now: (max(now[0], YOUNG_COLLECTION_AFTER), now[1], max(now[2], RARE_FULL_COLLECTIONS)))


def differentiate(fn, options: Options | None = None, /, **fields) -> Generated:
    """Run the pipeline on `fn` with `options` (options.Options: wrt, mode, signature, ...;
    its defaults where None), each of `fields` replacing one of them:
    `differentiate(f, wrt=(0, 1), mode="forward")`. An unknown option, or a value of the
    wrong type, is an AdjointArgumentError naming it."""
    options = Options.of(options, **fields)
    with deep_recursion(), rare_collections():
        return _differentiate(fn, options)


def guessed_signature(fn, wrt=0) -> dict | None:
    """Types to show `fn`'s gradient for when none are given (adjoint.source, `adjoint show`):
    the source's guesses, and an array for a float parameter that alone feeds a reduction
    (shapes.reduced_parameters); None where that changes nothing. The stages up to normalize
    run for it."""
    options = Options.of(None, wrt=wrt)
    with deep_recursion():
        run = Compilation(fn, options)
        for stage in PIPELINE:
            if stage.name == "analyze":
                break
            if stage.runs(options):
                stage.run(run)
    parsed = run.parsed
    guessed = shapes.default_signature(run.normalized, tuple(map(parsed.emitted, run.wrt)))
    arrays = shapes.reduced_parameters(run.normalized, guessed)
    if not arrays:
        return None
    return {parsed.user(a): shapes.Type("float", 1) if a in arrays else guessed[a]
            for a in parsed.args if a in guessed}


def _differentiate(fn, options: Options) -> Generated:
    run = Compilation(fn, options)
    clock = StageClock()
    for stage in PIPELINE:
        if stage.runs(options):
            with clock(stage.name):
                stage.run(run)
            if clock.location is None:          # parsed: errors can name the user's function
                clock.location = locate(run.parsed.tree, run.parsed.filename)
    generated = run.generated(clock.timings)
    if os.environ.get("ADJOINT_TIMING") == "1":
        print(f"adjoint: {run.parsed.name} ({run.where}): {timing_summary(clock.timings)}", file=sys.stderr)
    return generated


@dataclasses.dataclass
class Compilation:
    """What the stages have made so far: each stage reads the fields of the stages before it
    and sets its own."""
    fn: object
    options: Options
    parsed: object = None              # parse: frontend.parse.ParsedFunction
    wrt: tuple = ()                    # validate: the user's names of the arguments differentiated
    signature: dict = None             # validate: emitted argument name -> shapes.Type, or None
    namer: Namer = None                # normalize
    user_names: set = None             # normalize: the names the user's code has (emit keeps them)
    normalized: gast.FunctionDef = None
    analysis: object = None            # analyze: analysis.activity.Analysis
    transformed: gast.FunctionDef = None   # reverse or forward
    final: gast.FunctionDef = None     # optimize (the transformed tree where it does not run)
    helpers: list = None               # lower: the runtime helpers each module needs, as gast
    primal_helpers: list = None
    primal_tree: gast.FunctionDef = None
    emitted: object = None             # emit: lower.emit.Emitted
    emitted_primal: object = None
    device_code: object = None         # device: lower.device.DeviceCode
    device_emitted: object = None

    @property
    def where(self) -> str:
        return f"{os.path.basename(self.parsed.filename)}:{self.parsed.tree.lineno}"

    @property
    def what(self) -> str:
        return {"reverse": "Gradient", "forward": "Tangent"}[self.options.mode]

    def generated(self, timings) -> Generated:
        parsed, analysis = self.parsed, self.analysis
        stages = {"parse": parsed.tree, "normalize": self.normalized, "analyze": analysis,
                  "reverse": self.transformed, "optimize": self.final, "emit": self.emitted.source}
        generated = Generated(name=self.final.name, source=self.emitted.source, origins=self.emitted.origins,
                              primal_name=parsed.name, primal_source=self.emitted_primal.source,
                              namespace=dict(parsed.namespace), filename=parsed.filename, wrt=self.wrt,
                              array_args={parsed.user(a) for a in analysis.arrays & set(parsed.args)},
                              stages=stages, signature={parsed.user(a): analysis.types[a] for a in parsed.args},
                              timings=timings)
        if self.device_code is not None:
            generated.device, generated.device_source = self.device_code, self.device_emitted.source
            generated.origins.update({-k: v for k, v in self.device_emitted.origins.items()})
            stages["device"] = self.device_emitted.source
        return generated


def _parse(run):
    run.parsed = parse(run.fn)


def _desugar(run):
    run.parsed = desugar(run.parsed)


def _validate(run):
    validate(run.parsed)
    run.wrt = wrt_names(run.parsed.user_args, run.options.wrt)
    signature = run.options.signature_dict()
    if signature is not None:           # keyed by the user's names; a parameter `np` is emitted np_1
        run.signature = {run.parsed.emitted(name): kind for name, kind in signature.items()}


def _normalize(run):
    run.user_names = _user_names(run.parsed.tree)
    run.namer = Namer(run.user_names)
    run.normalized = normalize(run.parsed, run.namer)
    if os.environ.get("ADJOINT_CHECK_GRAMMAR") == "1":
        _check_grammar(run.normalized)


def _analyze(run):
    parsed, wrt = run.parsed, tuple(map(run.parsed.emitted, run.wrt))
    try:
        run.analysis = analyze(run.normalized, wrt, run.signature, parsed.filename)
    except AdjointTypeError:
        # `x = np.sum(x)`: a name rebound to another rank becomes versions x, x_2 (desugar.py)
        versioned = version_retyped(run.normalized, run.signature, wrt, run.namer, parsed.filename)
        if versioned is not run.normalized:
            run.normalized = versioned
            run.analysis = analyze(run.normalized, wrt, run.signature, parsed.filename)
            return
        # types the call may still fix; a write through a view is wrong whatever they are
        # (one that only some ranks make: the call's types decide, an AdjointTypeError too)
        guessed = {**shapes.default_signature(run.normalized, wrt), **(run.signature or {})}
        check_views(parsed, {parsed.user(a): guessed[a] for a in parsed.args if a in guessed},
                    guessed=any(a not in (run.signature or {}) for a in parsed.args))
        raise


def _check_views(run):
    # with the arguments' ranks known, `z = y` of a number is no view: only arrays can alias
    parsed = run.parsed
    check_views(parsed, {parsed.user(a): run.analysis.types[a] for a in parsed.args}, guessed=run.signature is None)


def _reverse(run):
    run.final = run.transformed = reverse(run.normalized, run.analysis, run.namer,
                                          filename=run.parsed.filename,
                                          return_value=run.options.return_value,
                                          cotangent=run.options.cotangent,
                                          store=not run.options.recompute,
                                          checkpoints=run.options.checkpoints,
                                          memory_limit=run.options.memory_limit, device=run.options.device)


def _forward(run):
    run.final = run.transformed = forward(run.normalized, run.analysis, run.namer,
                                          filename=run.parsed.filename)


def _optimize(run):
    analysis, namer, options = run.analysis, run.namer, run.options
    vectors = {namer.sensitivity(v) for v in analysis.active
               if options.mode == "reverse" and analysis.types.get(v, shapes.FLOAT).ndim == 1}
    scalars = {v for v, t in analysis.types.items() if t.ndim == 0 and t.kind != "shape"}
    scalars |= namer.named_sensitivities(scalars)
    # the arrays whose top-level elementwise code is fused (optimize/fuse.py): reverse, host code
    arrays = {v for v, t in analysis.types.items() if t.ndim >= 1}
    arrays |= namer.named_sensitivities(arrays)
    run.final = optimize(run.transformed, namer, vectors=vectors, store_once=not options.device,
                         parallel=options.parallel and not options.device, scalars=scalars,
                         arrays=arrays if options.mode == "reverse" and not options.device else frozenset())


def _lower(run):
    analysis = run.analysis
    lowered = lower_for_numba(run.final, lambda node: shapes.type_of(node, analysis.types),
                              run.options.precision, analysis.types.__contains__)
    if not run.options.device:           # (the device lowering reads the tapes' stores)
        lowered |= assignments_into_views(run.final, lambda node: shapes.type_of(node, analysis.types),
                                          analysis.types.__contains__)
        if any(t.ndim == 2 for t in analysis.types.values()):        # (a matrix to multiply)
            lowered |= matrix_vector_products(run.final, lambda node: shapes.type_of(node, analysis.types),
                                              analysis.types.__contains__)
    # the helpers the final code still calls: optimizing may drop every call of one
    wanted = set(annotations.get(run.transformed, "runtime_helpers")) | lowered
    run.helpers = _helper_trees(wanted & nodes.loads_in(run.final) if wanted else ())
    primal = run.parsed.tree
    if needs_lowering(primal):           # it rewrites np calls (and scipy's) in place
        run.primal_tree = nodes.clone(primal)
        run.primal_helpers = _helper_trees(lower_for_numba(run.primal_tree,
                                                           lambda node: _rank_in_primal(node, analysis)))
    else:                                # nothing to lower: a copy of the head, for emit's defaults
        run.primal_tree, run.primal_helpers = copy.copy(primal), []
        run.primal_tree.args = copy.copy(primal.args)
    # the module arrays it reads are parameters, as in the adjoint: numba would freeze a global
    data = annotations.get(run.normalized, "data_arguments")
    if data:
        run.primal_tree.args.args = list(run.primal_tree.args.args) + [nodes.parameter(s.name) for s in data]


def _emit(run):
    parsed, comments = run.parsed, run.options.comments
    if run.options.converts_arguments:
        run.final.body[:0] = _array_conversions(run)
    run.final.args.defaults = signature_defaults(parsed, run.final)          # grad_f(x, lam=0.1)
    run.primal_tree.args.defaults = signature_defaults(parsed, run.primal_tree)
    run.emitted = emit_stage.emit(run.helpers + [run.final], comments=comments, filename=parsed.filename,
                                  temporaries=run.namer.temporaries, keep=run.user_names,
                                  header=f"{run.what} of {parsed.name} ({run.where}), generated by adjoint.")
    run.emitted_primal = emit_stage.emit(run.primal_helpers + [run.primal_tree], comments=False, filename=parsed.filename,
                                 header=f"{parsed.name} ({run.where}), as compiled by adjoint.")


def _array_conversions(run) -> list:
    """`x = np.asarray(x, np.float64)` for each float array parameter: a module written out
    (adjoint export) takes lists and integer arrays, as adjoint.grad does."""
    types, dtype = run.analysis.types, f"np.{run.options.precision}"
    arrays = [a.id for a in run.final.args.args if a.id in types and types[a.id].is_array
              and types[a.id].kind == "float"]
    if not arrays:
        return []
    converted = [nodes.assign(a, nodes.call("np.asarray", [a, nodes.attribute(dtype)])) for a in arrays]
    if not run.options.comments:
        return converted
    return [nodes.comment("Lists and integer arrays become float arrays, as adjoint.grad takes them.")
            ] + converted


def _device(run):
    analysis, parsed = run.analysis, run.parsed
    run.device_code = lower_for_device(run.final, analysis.wrt, analysis.arrays, parsed.filename,
                                       mode=run.options.mode, return_value=run.options.return_value)
    # the runtime helpers device code may call (checkpoints=K's _revolve) go into its module
    called = nodes.loads_in(run.device_code.function)
    helpers = [h for h in run.helpers if h.name in called]
    run.device_emitted = emit_stage.emit(
        helpers + [run.device_code.function, run.device_code.sizes], comments=run.options.comments,
        filename=parsed.filename, temporaries=run.namer.temporaries, keep=run.user_names,
        also=run.emitted.numbered,
        header=f"Device {run.what.lower()} of {parsed.name} ({run.where}), generated by adjoint.")


def _helper_trees(names) -> list:
    return [nodes.clone(_helper_tree(name)) for name in sorted(names)]


@functools.lru_cache(maxsize=256)
def _helper_tree(name):
    """A runtime helper's tree, parsed once per process (each compilation gets a copy)."""
    helper = trees.parse(runtime.source(name)).body[0]
    # no user line behind a helper's: a failure is located at its call
    for node in trees.walk(helper):         # (gast.walk's nodes less contexts and operators: no lineno)
        if getattr(node, "lineno", None) is not None:
            node.lineno = None
    return helper


@dataclasses.dataclass(frozen=True)
class Stage:
    name: str                 # in Generated.timings, ADJOINT_TIMING and internal errors
    run: object               # run(compilation): reads earlier stages' fields, sets its own
    runs: object = lambda options: True     # whether it runs for these options

    def __repr__(self):
        return f"Stage({self.name})"


# The compiler, in the order it runs. `adjoint show --stage` prints the output of those in STAGES.
PIPELINE = (
    Stage("parse", _parse),                 # source -> gast, callees resolved       frontend/parse
    Stage("desugar", _desugar),             # for v in x, zip, comprehensions -> range loops  frontend/desugar
    Stage("validate", _validate),           # reject unsupported syntax, with a caret  frontend/validate
    Stage("normalize", _normalize),         # three-address form, helpers inlined    frontend/normalize
    Stage("analyze", _analyze),             # types, activity, what the reverse reads  analysis/
    Stage("check views", _check_views),     # no write into memory another name sees   frontend/views
    Stage("reverse", _reverse, lambda o: o.mode == "reverse"),   # Speelpenning       transforms/reverse
    Stage("forward", _forward, lambda o: o.mode == "forward"),   # tangent code       transforms/forward
    Stage("optimize", _optimize, lambda o: o.optimized),        # lean adjoint       optimize/
    Stage("lower", _lower),                 # numpy calls numba compiles poorly      lower/for_numba
    Stage("emit", _emit),                   # gast -> source, comments, line map     lower/emit
    Stage("device", _device, lambda o: o.device),                # no allocations     lower/device
)
STAGES = ("parse", "normalize", "analyze", "reverse", "optimize", "emit", "device")


class StageClock:
    """`with stage("normalize"): ...` around each stage: its time goes to `timings` (CPU seconds,
    summed where a stage runs twice; `Generated.timings`, printed with ADJOINT_TIMING=1 and by
    `adjoint show --timing`), and an unexpected exception inside it becomes an AdjointError
    naming the stage and the user's function instead of a traceback from deep inside."""

    def __init__(self):
        self.timings = {}
        self.location = None            # the user's function, once parsed

    @contextlib.contextmanager
    def __call__(self, name):
        start = time.process_time()
        try:
            yield
        except (AdjointError, RecursionError):     # deep_recursion() explains the latter
            raise
        except Exception as exc:
            raise AdjointError(f"internal error: {type(exc).__name__}: {exc}", stage=name,
                               location=self.location,
                               hint="this is a bug in adjoint, not in your code: please report it "
                                    "with this function") from exc
        finally:
            self.timings[name] = self.timings.get(name, 0.0) + time.process_time() - start



def timing_summary(timings) -> str:
    """`0.412 s of CPU (parse 0.021, validate 0.004, ...)`, the stages in the order they ran."""
    parts = ", ".join(f"{name} {seconds:.3f}" for name, seconds in timings.items())
    return f"{sum(timings.values()):.3f} s of CPU ({parts})"


def _check_grammar(normalized):
    """ADJOINT_CHECK_GRAMMAR=1: normalize's output must obey its grammar (grammar.py)."""
    found = grammar.violations(normalized)
    if found:
        line, what = found[0]
        raise RuntimeError(f"normalized code outside the grammar at line {line} "
                           f"({len(found)} statement{'s' if len(found) > 1 else ''}): {what}")


def dump(generated: Generated, stage: str, comments=True) -> str:
    """The text of one stage's output."""
    if stage not in STAGES:
        raise AdjointError(f"unknown stage {stage!r}", hint=f"choose one of {', '.join(STAGES)}")
    if stage not in generated.stages:
        raise AdjointError(f"stage {stage!r} was not run", hint="the device stage runs for target='cuda'")
    value = generated.stages[stage]
    if isinstance(value, str):
        return value
    if isinstance(value, gast.FunctionDef):
        return emit_stage.emit_function(value, comments=comments)
    return _describe_analysis(value)


def _describe_analysis(a) -> str:
    lines = [f"wrt:            {', '.join(a.wrt)}",
             f"active:         {', '.join(sorted(a.active)) or '-'}",
             f"arrays:         {', '.join(sorted(a.arrays)) or '-'}",
             f"reverse reads:  {', '.join(sorted(a.reverse_reads)) or '-'}",
             f"assigned once:  {', '.join(sorted(a.assigned_once)) or '-'}"]
    return "\n".join(lines) + "\n"


def _rank_in_primal(node, analysis):
    """The type of an expression of the user's own code: a name's from the analysis, a call's
    from its callee (which lower_for_numba keeps on the calls it rewrites)."""
    return shapes.type_of(node, analysis.types)     # a call's from its callee (parse sets it)


def _user_names(tree) -> set:
    return nodes.names_in(tree) | {"math", "np", "numpy"}
