"""The compiler pipeline, one stage per module, in the order a newcomer should read them.

    differentiate(f4, wrt=("side_lengths",))  ->  Generated(source of grad_f4, ...)

parse      source -> gast, absolute positions, callees resolved           (frontend/parse.py)
validate   reject what is outside the supported subset, with a caret      (frontend/validate.py)
normalize  three-address `t_` form, helpers inlined                       (frontend/normalize.py)
           one final return, break/continue as flags                      (frontend/structure.py)
analyze    types; activity, arrays, what the reverse sweep reads          (analysis/)
reverse    forward sweep + reverse sweep (Speelpenning)                   (transforms/reverse.py)
optimize   fold the seed, drop unused sensitivities and dead stores       (optimize/)
lower      numpy calls numba compiles poorly; the device variant          (lower/)
emit       gast -> standalone Python source with comments                 (lower/emit.py)
Backends (backends/) then exec or jit-compile the emitted source.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import os
import sys
import threading
import time

import gast

from .analysis import shapes
from .analysis.activity import analyze
from .errors import AdjointError, AdjointTypeError, locate
from .frontend.normalize import normalize
from .frontend.parse import parse
from .frontend.validate import check_views, validate
from .ir import grammar, nodes, trees
from .ir.names import Namer
from .lower import emit as emit_stage
from .lower.device import lower_for_device
from .lower.for_numba import lower_for_numba
from .optimize.passes import optimize
from .primitives import runtime
from .transforms.forward import forward
from .transforms.reverse import reverse

STAGES = ("parse", "normalize", "analyze", "reverse", "optimize", "emit", "device")


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
# full collection runs a hundred times less often; young objects are collected as usual.
RARE_FULL_COLLECTIONS = 1000        # generation-1 collections per full one (Python's default: 10)
_collector_thresholds = _ProcessSetting(gc.get_threshold, lambda values: gc.set_threshold(*values))


def rare_full_collections():
    """gc's third threshold raised to RARE_FULL_COLLECTIONS inside the block; the thresholds
    found before are restored when the last block running (in any thread) ends."""
    return _collector_thresholds.raised(
        lambda now: (now[0], now[1], max(now[2], RARE_FULL_COLLECTIONS)))


def differentiate(fn, wrt=0, *, comments=True, optimized=True, return_value=False,
                  device=False, signature=None, mode="reverse", cotangent=False,
                  recompute=False, parallel=False) -> Generated:
    """Run the pipeline. `signature` maps argument names to shapes.Type (from the call's
    arguments); without it the types are guessed from the source (shapes.default_signature).
    mode: "reverse" (grad_<f>: the gradient; with `cotangent`, vjp_<f> takes the output's
    sensitivity as a last argument) or "forward" (jvp_<f>: value and directional derivative).
    recompute: reverse loops replay every intermediate (no stored arrays: least memory).
    parallel: carried reverse loops that are provably race-free run in chunks, one per thread
    (numba.prange; chunks.py)."""
    with deep_recursion(), rare_full_collections():
        return _differentiate(fn, wrt, comments=comments, optimized=optimized,
                              return_value=return_value, device=device, signature=signature,
                              mode=mode, cotangent=cotangent, recompute=recompute,
                              parallel=parallel)


def _differentiate(fn, wrt, *, comments, optimized, return_value, device, signature, mode,
                   cotangent, recompute, parallel) -> Generated:
    if mode not in ("reverse", "forward"):
        raise AdjointError(f"unknown mode {mode!r}", hint="use mode='reverse' or mode='forward'")
    stage = StageClock()
    with stage("parse"):
        parsed = parse(fn)
    stage.location = locate(parsed.tree, parsed.filename)
    with stage("validate"):
        validate(parsed)
    wrt = wrt_names(parsed.user_args, wrt)
    if signature is not None:           # keyed by the user's names; a parameter `np` is emitted np_1
        signature = {parsed.emitted(name): kind for name, kind in signature.items()}
    with stage("normalize"):
        namer = Namer(_user_names(parsed.tree))
        normalized = normalize(parsed, namer)
        if os.environ.get("ADJOINT_CHECK_GRAMMAR") == "1":
            _check_grammar(normalized)
    with stage("analyze"):
        try:
            analysis = analyze(normalized, tuple(map(parsed.emitted, wrt)), signature, parsed.filename)
        except AdjointTypeError:
            # types the call may still fix; a write through a view is wrong whatever they are
            guessed = {**shapes.default_signature(normalized, tuple(map(parsed.emitted, wrt))),
                       **(signature or {})}
            check_views(parsed, {parsed.user(a): guessed[a] for a in parsed.args if a in guessed})
            raise
    with stage("validate"):
        # with the arguments' ranks known, `z = y` of a number is no view: only arrays can alias
        check_views(parsed, {parsed.user(a): analysis.types[a] for a in parsed.args})
    with stage(mode):
        if mode == "forward":
            adjoint = forward(normalized, analysis, namer, filename=parsed.filename)
        else:
            adjoint = reverse(normalized, analysis, namer, filename=parsed.filename,
                              return_value=return_value, cotangent=cotangent, store=not recompute)
    with stage("optimize"):
        vectors = {namer.sensitivity(v) for v in analysis.active
                   if mode == "reverse" and analysis.types.get(v, shapes.FLOAT).ndim == 1}
        scalars = {v for v, t in analysis.types.items() if t.ndim == 0 and t.kind != "shape"}
        scalars |= namer.named_sensitivities(scalars)
        final = optimize(adjoint, namer, vectors=vectors, store_once=not device,
                         parallel=parallel and not device, scalars=scalars) if optimized else adjoint
    where = f"{os.path.basename(parsed.filename)}:{parsed.tree.lineno}"
    what = {"reverse": "Gradient", "forward": "Tangent"}[mode]
    with stage("emit"):
        types_of = lambda node: shapes.type_of(node, analysis.types)        # noqa: E731
        lowered = lower_for_numba(final, types_of)
        helpers = [gast.parse(runtime.source(name)).body[0]
                   for name in sorted(set(adjoint.runtime_helpers) | lowered)]
        emitted = emit_stage.emit(helpers + [final], header=f"{what} of {parsed.name} ({where}), generated by adjoint.",
                                  comments=comments, filename=parsed.filename)
        primal_tree = nodes.clone(parsed.tree)
        primal_helpers = lower_for_numba(primal_tree, lambda node: _rank_in_primal(node, analysis))
        primal = emit_stage.emit([gast.parse(runtime.source(n)).body[0] for n in sorted(primal_helpers)]
                                 + [primal_tree], header=f"{parsed.name} ({where}), as compiled by adjoint.",
                                 comments=False, filename=parsed.filename)
    stages = {"parse": parsed.tree, "normalize": normalized, "analyze": analysis,
              "reverse": adjoint, "optimize": final, "emit": emitted.source}
    generated = Generated(name=final.name, source=emitted.source, origins=emitted.origins,
                          primal_name=parsed.name, primal_source=primal.source,
                          namespace=dict(parsed.namespace), filename=parsed.filename, wrt=wrt,
                          array_args={parsed.user(a) for a in analysis.arrays & set(parsed.args)},
                          stages=stages, signature={parsed.user(a): analysis.types[a] for a in parsed.args},
                          timings=stage.timings)
    if device:
        with stage("device"):
            code = lower_for_device(final, analysis.wrt, analysis.arrays, parsed.filename, mode=mode)
            lowered = emit_stage.emit([code.function, code.sizes], comments=comments,
                                      header=f"Device {what.lower()} of {parsed.name} ({where}), generated by adjoint.",
                                      filename=parsed.filename)
        generated.device, generated.device_source = code, lowered.source
        generated.origins.update({-k: v for k, v in lowered.origins.items()})
        stages["device"] = lowered.source
    if os.environ.get("ADJOINT_TIMING") == "1":
        print(f"adjoint: {parsed.name} ({where}): {timing_summary(stage.timings)}", file=sys.stderr)
    return generated


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
    """The type of an expression of the user's own code (only names are typed there)."""
    if isinstance(node, gast.Name):
        return analysis.types.get(node.id, shapes.FLOAT)
    return shapes.Type("float", 2)           # axis reductions are provided for rank 2


def _user_names(tree) -> set:
    names = {n.id for n in trees.walk(tree) if isinstance(n, gast.Name)}
    return names | {"math", "np", "numpy"}
