"""Stage 6b, lower for devices: an adjoint that allocates nothing, for GPU threads.

    def grad_f(p, steps):                       def grad_f_device(p, steps, s_p, work_f, work_i, work_b):
        s_p = np.zeros_like(p)          ->          (s_p arrives zeroed: one row of the output)
        tape_x = np.empty(len(range(steps)))        tape_x = work_f[0:len(range(steps))]
        ...                                         ...
        return s_p                                  return

    def tape_sizes_f(p, steps):                 (run on the host before launch: the workspace
        return len(range(steps)), 0, 0           each thread needs, per dtype)

Device code cannot allocate, so gradient arrays become output parameters and tapes become
slices of per-thread workspaces that the host sizes with `tape_sizes_<f>` first. Tapes whose
size is only known inside the reverse sweep (a nested loop's) or that grow (a while loop's)
cannot be sized before launch: those raise AdjointError. Calls to numpy's scalar functions
are spelled with math, which device code supports.

Forward mode (`jvp_<f>(args..., d_<wrt>..., work_f, work_i, work_b) -> (value, tangent)`)
goes through the same lowering: it keeps no tape, so its workspaces are empty unless the
function itself allocates, and the tangents arrive as parameters. Its value must be a
scalar, since a device function cannot return an array.
"""

from __future__ import annotations

import copy
import dataclasses

import gast

from . import nodes
from .errors import AdjointError, locate
from .optimize import eliminate_dead_code

DTYPES = {"np.float64": "work_f", "np.int64": "work_i", "np.bool_": "work_b"}
ALLOCATING = ("np.empty", "np.zeros", "np.ones", "np.full", "np.empty_like", "np.zeros_like",
              "np.ones_like", "np.full_like", "np.array", "np.arange", "np.concatenate", "np.stack")
MATH_SPELLING = {"np.sin": "math.sin", "np.cos": "math.cos", "np.tan": "math.tan",
                 "np.arcsin": "math.asin", "np.arccos": "math.acos", "np.arctan": "math.atan",
                 "np.arctan2": "math.atan2", "np.sinh": "math.sinh", "np.cosh": "math.cosh",
                 "np.tanh": "math.tanh", "np.exp": "math.exp", "np.expm1": "math.expm1",
                 "np.log": "math.log", "np.log1p": "math.log1p", "np.log10": "math.log10",
                 "np.log2": "math.log2", "np.sqrt": "math.sqrt", "np.hypot": "math.hypot",
                 "np.power": "math.pow", "np.abs": "abs", "np.fabs": "math.fabs",
                 "np.maximum": "max", "np.minimum": "min", "np.floor": "math.floor",
                 "np.ceil": "math.ceil"}


@dataclasses.dataclass
class DeviceCode:
    function: gast.FunctionDef      # grad_<f>_device(args..., s_<array wrt>..., work_f, work_i, work_b)
                                    # or jvp_<f>_device(args..., d_<wrt>..., work...) -> (value, tangent)
    sizes: gast.FunctionDef         # tape_sizes_<f>(args...) -> (floats, ints, bools)
    array_outputs: tuple            # wrt arguments whose gradient is written into a parameter
    scalar_outputs: tuple           # wrt arguments whose gradient is returned


def lower_for_device(code: gast.FunctionDef, wrt, arrays, filename, mode="reverse") -> DeviceCode:
    """`code` is the optimized adjoint (mode "reverse") or tangent function ("forward")."""
    fn = copy.deepcopy(code)
    params = [a.id for a in fn.args.args]         # forward mode: the primal's, then d_<wrt>
    args = params[:len(params) - len(wrt)] if mode == "forward" else params   # the primal's
    if mode == "forward":
        _check_scalar_value(fn.body[-1], arrays, filename)
        array_outputs = scalar_outputs = ()            # the tangents are parameters, not outputs
    else:
        array_outputs = tuple(w for w in wrt if w in arrays)
        scalar_outputs = tuple(w for w in wrt if w not in arrays)
    output_names = {_returned_name(fn.body[-1], wrt, w) for w in array_outputs}
    body, sizes = [], {name: [] for name in DTYPES.values()}
    for stmt in fn.body:
        allocation = _allocation(stmt)
        if allocation == "zeros" and stmt.targets[0].id in output_names:
            continue                                   # the output row arrives zeroed
        if allocation == "empty":
            size, dtype = stmt.value.args
            work = DTYPES.get(nodes.dotted(dtype))
            if work is None:                           # np.empty((n,) + x.shape, x.dtype)
                raise AdjointError("a loop that carries an array from one iteration to the next "
                                   "needs a tape of arrays, which the cuda target does not provide",
                                   location=locate(stmt, filename),
                                   hint="carry its elements as scalars, or use target='cpu'")
            start = nodes.summed(sizes[work])
            stop = nodes.binop(copy.deepcopy(start), "+", copy.deepcopy(size))
            stmt.value = gast.Subscript(value=nodes.name(work), ctx=gast.Load(),
                                        slice=gast.Slice(lower=start, upper=stop, step=None))
            sizes[work].append(copy.deepcopy(size))
        body.append(stmt)
    body = _scatter_gathers(body, output_names)
    _reject_array_arithmetic(body, arrays, filename)      # the clearer reason, when both apply
    _reject_allocations(body, filename, mode)
    body = [_math_spelling(s) for s in _unpack_to_indexing(body)]
    final = body[-1]
    if mode == "reverse":                  # array gradients are written, scalar ones returned
        sensitivity_names = {w: _returned_name(final, wrt, w) for w in wrt}
        values = [nodes.name(sensitivity_names[w]) for w in scalar_outputs]
        ret = values[0] if len(values) == 1 else (nodes.tuple_(values) if values else None)
        body[-1] = nodes.return_(ret, final)
        params = args + [sensitivity_names[w] for w in array_outputs]
    device = nodes.function(fn.name + "_device", params + list(DTYPES.values()), body, fn)
    totals = nodes.tuple_([nodes.summed(sizes[w]) for w in DTYPES.values()])
    primal_name = fn.name.split("_", 1)[1]                 # grad_<f> or jvp_<f>
    sizing = nodes.function("tape_sizes_" + primal_name, args,
                            [copy.deepcopy(s) for s in body[:-1]] + [nodes.return_(totals, final)], fn)
    for stmt in gast.walk(sizing):
        if hasattr(stmt, "primal"):
            stmt.primal = False
    eliminate_dead_code(sizing, roots=())
    sizing.body = [s for s in sizing.body if not nodes.is_comment(s)]
    return DeviceCode(function=device, sizes=sizing, array_outputs=array_outputs,
                      scalar_outputs=scalar_outputs)


def _reject_allocations(body, filename, mode):
    """What still allocates after the tapes became workspace slices: a tape that cannot be
    sized before launch, or an array of the function's own."""
    for stmt, node in _expressions(body):
        if isinstance(node, gast.Call) and nodes.dotted(node.func) in ALLOCATING:
            if mode == "forward" or getattr(stmt, "primal", False):      # not a tape: the user's array
                raise AdjointError("device code cannot allocate arrays, and this function "
                                   "(or its derivative) needs one here",
                                   location=locate(stmt, filename),
                                   hint="on the cuda target, compute with scalars and the "
                                        "argument arrays' elements; or use target='cpu'")
            raise AdjointError("this function needs memory whose size is only known while it runs "
                               "(a while loop's tape, or a loop nested in another loop)",
                               location=locate(stmt, filename),
                               hint="on the cuda target, loop over range(bound) with a break "
                                    "instead of a while loop, and keep loops that carry "
                                    "values across iterations at the top level")


def _reject_array_arithmetic(body, arrays, filename):
    """`y = x * x` on arrays needs a new array: a device function cannot make one."""
    for stmt, _ in _expressions(body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
                and stmt.targets[0].id in arrays \
                and not isinstance(stmt.value, (gast.Name, gast.Subscript, gast.Attribute)) \
                and not (isinstance(stmt.value, gast.Call) and nodes.dotted(stmt.value.func) in ALLOCATING):
            raise AdjointError("whole-array arithmetic is not available on the cuda target: "
                               "device code computes element by element and cannot make new arrays",
                               location=locate(stmt, filename),
                               hint="loop over the elements (for i in range(len(x)): ... x[i] ...), "
                                    "or use target='cpu'")


def _expressions(body):
    """(simple statement, each node within it), for every statement nested in `body`."""
    for stmt in gast.walk(gast.Module(body=body, type_ignores=[])):
        if isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Expr, gast.Return)):
            for node in gast.walk(stmt):
                yield stmt, node


def _check_scalar_value(final, arrays, filename):
    value = final.value.elts[0]                        # return value, tangent
    if isinstance(value, gast.Name) and value.id in arrays:
        raise AdjointError("forward mode on the cuda target needs a function whose value is a "
                           "scalar: a device function cannot return an array",
                           location=locate(final, filename),
                           hint="use target='cpu' for the jvp or Jacobian of a vector-valued "
                                "function, or differentiate one scalar component on cuda")


def _scatter_gathers(body, outputs):
    """`s_x = np.array([s_a, s_b], dtype)` into an output row: `s_x[0] = s_a; s_x[1] = s_b`."""
    out = []
    for stmt in body:
        value = getattr(stmt, "value", None)
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
                and stmt.targets[0].id in outputs and isinstance(value, gast.Call) \
                and nodes.dotted(value.func) == "np.array" and isinstance(value.args[0], gast.List):
            name = stmt.targets[0].id
            out += [nodes.assign(nodes.subscript(name, k, store=True), e, stmt)
                    for k, e in enumerate(value.args[0].elts)]
        else:
            out.append(stmt)
    return out


def _allocation(stmt):
    if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Call) \
            and isinstance(stmt.targets[0], gast.Name):
        name = nodes.dotted(stmt.value.func)
        if name in ("np.zeros_like", "np.zeros"):
            return "zeros"
        if name == "np.empty" and len(stmt.value.args) == 2:
            return "empty"
    return None


def _returned_name(final, wrt, name):
    value = final.value
    items = value.elts if isinstance(value, gast.Tuple) else [value]
    return items[list(wrt).index(name)].id


def _unpack_to_indexing(body):
    """`a, b = x` -> `a = x[0]; b = x[1]` everywhere (device code does not unpack arrays)."""
    class Unpack(gast.NodeTransformer):
        def generic_visit(self, node):
            super().generic_visit(node)
            for field in ("body", "orelse"):
                block = getattr(node, field, None)
                if isinstance(block, list):
                    setattr(node, field, [s for item in block for s in _expand(item)])
            return node
    wrapper = gast.Module(body=list(body), type_ignores=[])
    Unpack().visit(wrapper)
    return wrapper.body


def _expand(stmt):
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple) \
            and isinstance(stmt.value, gast.Name):
        return [nodes.assign(e.id, nodes.subscript(stmt.value.id, k), stmt)
                for k, e in enumerate(stmt.targets[0].elts)]
    return [stmt]


def _math_spelling(stmt):
    class Respell(gast.NodeTransformer):
        def visit_Call(self, node):
            self.generic_visit(node)
            if nodes.dotted(node.func) == "np.divide" and len(node.args) == 2:
                # CUDA has no np.divide; its `/` already gives inf or nan (NumPy's error model)
                return gast.copy_location(nodes.binop(node.args[0], "/", node.args[1]), node)
            name = MATH_SPELLING.get(nodes.dotted(node.func))
            if name is not None:
                node.func = nodes.attribute(name)
            return node
    return Respell().visit(stmt)
