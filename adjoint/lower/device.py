"""An adjoint that allocates nothing, for GPU threads.

    def grad_f(p, steps):                       def grad_f_device(p, steps, s_p, work_f, work_i, work_b):
        s_p = np.zeros_like(p)          ->          (s_p arrives zeroed: one row of the output)
        tape_x = np.empty(len(range(steps)))        tape_x = work_f[0:len(range(steps))]
        ...                                         ...
        return s_p                                  return

    def tape_sizes_f(p, steps):                 (run on the host before launch: the workspace
        return len(range(steps)), 0, 0           each thread needs, per dtype)

Device code cannot allocate, so gradient arrays become output parameters and tapes become
slices of per-thread workspaces that the host sizes with `tape_sizes_<f>` first. A nested
loop's tape, allocated in each iteration of the outer loop, is one slice taken again each
time where its size is the same in all of them (it reads no name the function rebinds after
its own block's statement); tapes whose size changes from one outer iteration to the next
(`for j in range(i)`) or that grow (a while loop's without a snapshot budget) cannot be sized
before launch: those raise AdjointError. Calls to numpy's scalar functions
are spelled with math, which device code supports; `min` and `max` of two values as the
comparison Python makes (`0 if n < 0 else n`), since numba.cuda compiles them for two floats
only. Under a snapshot budget (checkpoints=K) the K snapshot slots are workspace rows too,
an array's reshaped (`work_f[a:b].reshape((t_slots, n))`, a view), sized from K, not from the
trip count, so a `while` loop's are known before launch; the runtime helpers the code calls
(revolve's schedule, `_revolve`) are device functions of the same module.

value_and_grad's device function returns the value first, then the scalar gradients (a
scalar function's value is a scalar), and writes the array gradients as grad's does.

Forward mode (`jvp_<f>(args..., d_<wrt>..., work_f, work_i, work_b) -> (value, tangent)`)
goes through the same lowering: it keeps no tape, so its workspaces are empty unless the
function itself allocates, and the tangents arrive as parameters. Its value must be a
scalar, since a device function cannot return an array.
"""

from __future__ import annotations

import dataclasses

import gast

from .. import primitives
from ..errors import AdjointError, locate
from ..ir import annotations, nodes
from ..optimize.dce import eliminate_dead_code

DTYPES = {"np.float64": "work_f", "np.int64": "work_i", "np.bool_": "work_b"}
ALLOCATING = primitives.spelled("allocates")           # np.zeros, np.stack, ... (the records in primitives/rules/)
MATH_SPELLING = primitives.device_spellings()          # np.tanh -> math.tanh, np.abs -> abs, ...
RESPELLED = (*MATH_SPELLING, "np.divide", "min", "max")


@dataclasses.dataclass
class DeviceCode:
    function: gast.FunctionDef      # grad_<f>_device(args..., s_<array wrt>..., work_f, work_i, work_b)
                                    # or jvp_<f>_device(args..., d_<wrt>..., work...) -> (value, tangent)
    sizes: gast.FunctionDef         # tape_sizes_<f>(args...) -> (floats, ints, bools)
    array_outputs: tuple            # wrt arguments whose gradient is written into a parameter
    scalar_outputs: tuple           # wrt arguments whose gradient is returned
    whole_rows: tuple = ()          # those array outputs whose every element the function
                                    # assigns before it reads any: their rows need no zeroing


def lower_for_device(code: gast.FunctionDef, wrt, arrays, filename, mode="reverse",
                     return_value=False) -> DeviceCode:
    """`code` is the optimized adjoint (mode "reverse") or tangent function ("forward").
    return_value (reverse mode): `code` returns `(value, gradients)` (value_and_grad); the
    device function then returns the value first, before the scalar gradients.

    `code` is left as it is: the statements the lowering changes are copied (about linear
    time, since the adjoint of a long function has tens of thousands of statements), and
    the device function shares the others with it."""
    params = [a.id for a in code.args.args]       # forward mode: the primal's, then d_<wrt>
    args = params[:len(params) - len(wrt)] if mode == "forward" else params   # the primal's
    if mode == "forward":
        _check_scalar_value(code.body[-1], arrays, filename)
        array_outputs = scalar_outputs = ()            # the tangents are parameters, not outputs
    else:
        array_outputs = tuple(w for w in wrt if w in arrays)
        scalar_outputs = tuple(w for w in wrt if w not in arrays)
    output_names = {_returned_name(_gradients(code.body[-1], return_value), wrt, w) for w in array_outputs}
    body, sizes = [], {name: [] for name in DTYPES.values()}
    sliced = set()                                     # the names bound to workspace slices
    holders = set()                    # ids of the compound statements with slices inside

    def slice_of(stmt):
        """`tape = np.empty(size, dtype)` as `tape = work_<dtype>[start:start + size]`."""
        size, dtype = stmt.value.args
        work = DTYPES.get(nodes.dotted(dtype))
        if work is None:                           # np.empty((n,) + x.shape, x.dtype)
            raise AdjointError("a loop that carries an array from one iteration to the next "
                               "needs a tape of arrays, which the cuda target does not provide",
                               location=locate(stmt, filename),
                               hint="carry its elements as scalars, or use target='cpu'")
        shape = size.elts if isinstance(size, gast.Tuple) else None     # checkpoints=K's array snapshots
        if shape is not None:
            size = shape[0]
            for extent in shape[1:]:
                size = nodes.binop(size, "*", extent)
        start = nodes.summed(sizes[work])
        stop = nodes.binop(nodes.clone(start), "+", nodes.clone(size))
        stmt = _shallow_copy(stmt)
        stmt.value = nodes.subscript(work, nodes.slice_(start, stop))
        if shape is not None:               # rows of a flat slice: reshape makes a view
            stmt.value = nodes.call(nodes.attribute_of(stmt.value, "reshape"),
                                    [nodes.tuple_([nodes.clone(e) for e in shape])])
        sizes[work].append(nodes.clone(size))
        sliced.add(stmt.targets[0].id)
        return stmt

    invariant = None
    for k, stmt in enumerate(code.body):
        allocation = _allocation(stmt)
        if allocation == "zeros" and stmt.targets[0].id in output_names:
            continue                                   # the output row arrives zeroed
        if allocation == "empty":
            stmt = slice_of(stmt)
        elif _blocks(stmt):
            stmt = nodes.clone(stmt)                   # its blocks are rewritten in place below
            # a tape of a loop nested in another is allocated anew in each iteration of the
            # outer one (an inner loop's, in each replay): where its size is the same in all
            # of them, one slice serves them all, taken where the tape was allocated
            for owner in nodes.statements([stmt]):
                for block in _blocks(owner):
                    items = getattr(owner, block)
                    for j, inner in enumerate(items):
                        if _allocation(inner) == "empty" and nodes.dotted(inner.value.args[1]) in DTYPES:
                            invariant = invariant or _Invariant(code)
                            if invariant(inner.value.args[0], k):
                                items[j] = slice_of(inner)
                                holders.add(id(stmt))
        body.append(stmt)
    body, whole = _scatter_gathers(body, output_names, code.body)
    simple = list(_simple_statements(body))
    callees = {id(s): _callees(s) for s in simple}        # one search per statement
    _reject_gathers(simple, callees, filename)            # the clearest reasons first
    _reject_array_arithmetic(simple, arrays, filename)    # the clearer reason, when both apply
    _reject_allocations(simple, callees, filename, mode)
    body = _unpack_to_indexing([_math_spelling(s, callees) for s in body])
    final = _gradients(body[-1], return_value)
    if mode == "reverse":                  # array gradients are written, scalar ones returned
        values = [_returned(final, wrt, w) for w in scalar_outputs]
        if return_value:                   # value_and_grad: the value first (a scalar)
            values.insert(0, body[-1].value.elts[0])
        ret = values[0] if len(values) == 1 else (nodes.tuple_(values) if values else None)
        body[-1] = nodes.return_(ret, final)
        params = args + [_output_row_name(final, wrt, w, body) for w in array_outputs]
    device = nodes.function(code.name + "_device", params + list(DTYPES.values()), body, code)
    totals = nodes.tuple_([nodes.summed(sizes[w]) for w in DTYPES.values()])
    primal_name = code.name.split("_", 1)[1]               # grad_<f> or jvp_<f>
    whole_rows = tuple(w for w in array_outputs if _returned_name(final, wrt, w) in whole)
    return DeviceCode(function=device, sizes=_sizing(primal_name, args, body, totals, code, sliced, holders),
                      array_outputs=array_outputs, scalar_outputs=scalar_outputs, whole_rows=whole_rows)


def _sizing(name, args, body, totals, origin, sliced=frozenset(), holders=frozenset()):
    """tape_sizes_<f>: the device function's statements that the workspace sizes need, picked
    by dead code elimination from the statements marked not primal (it keeps every primal
    line); only those it keeps are copied deeply. The slices are all taken in the function's
    own block, so nothing after the last one sizes them (the loops that write into an
    argument, which dead code elimination keeps, are left out there); an argument array that
    a statement before it still writes into is copied first: the sizes run on the caller's
    arrays, on the host."""
    last = max([k for k, s in enumerate(body) if isinstance(s, gast.Assign)
                and isinstance(s.targets[0], gast.Name) and s.targets[0].id in sliced]
               + [k - 1 for k, s in enumerate(body) if id(s) in holders], default=-1)
    statements = [_unflagged(s) for s in body[:last + 1] if not nodes.is_comment(s) and not _is_check(s)]
    sizing = nodes.function("tape_sizes_" + name, args,
                            statements + [nodes.return_(totals, body[-1])], origin)
    eliminate_dead_code(sizing, roots=())
    written = sorted({n.value.id for s in sizing.body for n in nodes.walk(s)
                      if isinstance(n, gast.Subscript) and isinstance(n.ctx, gast.Store)
                      and isinstance(n.value, gast.Name) and n.value.id in args})
    copies = [nodes.assign(a, nodes.call(nodes.attribute_of(nodes.name(a), "copy"), []), origin) for a in written]
    sizing.body = copies + [nodes.clone(s) for s in sizing.body]
    return sizing


class _Invariant:
    """Whether a size, in a compound statement of the function's own block (the k-th), is the
    same wherever in it the size is taken: it reads only names never rebound in the function
    (parameters, modules, builtins) and names bound once, by a statement of the function's
    own block before the k-th; no element of an array (a shape is fine: device code never
    rebinds an array, so no shape changes)."""

    def __init__(self, code):
        self.counts, self.defined = {}, {}
        for stmt in nodes.statements(code.body):
            for name in _rebound(stmt):
                self.counts[name] = self.counts.get(name, 0) + 1
        for k, stmt in enumerate(code.body):
            for name in _rebound(stmt):
                self.defined.setdefault(name, k)

    def __call__(self, size, k) -> bool:
        if any(isinstance(n, gast.Subscript) and isinstance(n.value, gast.Name) for n in nodes.walk(size)):
            return False
        return all(self.counts.get(name, 0) == 0
                   or self.counts[name] == 1 and self.defined.get(name, k) < k
                   for name in nodes.loads_in(size))


def _rebound(stmt):
    """The names a statement binds (not the arrays whose elements it writes)."""
    if isinstance(stmt, gast.Assign):
        return [n.id for n in nodes.walk(stmt.targets[0]) if isinstance(n, gast.Name)
                and isinstance(n.ctx, gast.Store)] if not isinstance(stmt.targets[0], gast.Subscript) else []
    if isinstance(stmt, gast.AugAssign):
        return [stmt.target.id] if isinstance(stmt.target, gast.Name) else []
    if isinstance(stmt, gast.For):
        return [stmt.target.id]
    return []


def _is_check(stmt):
    """The length check of an unpacking (see _expand): the sizes do not need it."""
    return isinstance(stmt, gast.If) and len(stmt.body) == 1 and isinstance(stmt.body[0], gast.Raise)


def _unflagged(stmt):
    """`stmt` itself if it is a simple statement not marked primal, else a copy marked not
    primal, its blocks' statements unflagged likewise; the expressions are shared."""
    blocks = _blocks(stmt)
    if not blocks and not annotations.get(stmt, "primal"):
        return stmt
    new = _shallow_copy(stmt)
    if annotations.has(new, "primal"):
        annotations.set(new, "primal", False)
    for block in blocks:
        setattr(new, block, [_unflagged(s) for s in getattr(stmt, block)])
    return new


def _shallow_copy(node):
    """copy.copy(node), without copy's generic (and slower) protocol."""
    new = type(node).__new__(type(node))
    new.__dict__.update(node.__dict__)
    return new


def _blocks(stmt):
    """The fields of `stmt` that hold statements (if, for and while: the only compound
    statements validate lets through)."""
    return ("body", "orelse") if isinstance(stmt, (gast.If, gast.For, gast.While)) else ()


def _reject_allocations(simple, callees, filename, mode):
    """What still allocates after the tapes became workspace slices: a tape that cannot be
    sized before launch, or an array of the function's own."""
    for stmt in simple:
        if not callees[id(stmt)].isdisjoint(ALLOCATING):
            if mode == "forward" or annotations.get(stmt, "primal"):      # not a tape: the user's array
                raise AdjointError("device code cannot allocate arrays, and this function "
                                   "(or its derivative) needs one here",
                                   location=locate(stmt, filename),
                                   hint="on the cuda target, compute with scalars and the "
                                        "argument arrays' elements; or use target='cpu'")
            raise AdjointError("this function needs memory whose size is only known while it runs "
                               "(a while loop's tape, or that of a loop nested in another loop "
                               "whose trip count changes with the outer iteration)",
                               location=locate(stmt, filename),
                               hint="on the cuda target, give a while loop a snapshot budget "
                                    "(grad(f, checkpoints=K), or a `# adjoint: checkpoints=K` "
                                    "comment on its line), which sizes its tape before launch, or "
                                    "loop over range(bound) with a break instead; keep loops "
                                    "that carry values across iterations at the top level")


def _reject_gathers(simple, callees, filename):
    """x[rows] with an integer array `rows`: its sensitivity is a scatter-add over the
    gathered block (runtime._scatter_add_*), an array the device function cannot hold."""
    for stmt in simple:
        if any(name.startswith("_scatter_add_") for name in callees[id(stmt)]):
            raise AdjointError("a gather (an array indexed by an integer array) is not available "
                               "on the cuda target: its sensitivity is a whole array",
                               location=locate(stmt, filename),
                               hint="loop over the indices (for k in range(len(rows)): ... x[rows[k]] ...), "
                                    "or use target='cpu'")


def _reject_array_arithmetic(simple, arrays, filename):
    """`y = x * x` on arrays needs a new array: a device function cannot make one."""
    for stmt in simple:
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
                and stmt.targets[0].id in arrays \
                and not isinstance(stmt.value, (gast.Name, gast.Subscript, gast.Attribute)) \
                and not (isinstance(stmt.value, gast.Call) and nodes.dotted(stmt.value.func) in ALLOCATING):
            raise AdjointError("whole-array arithmetic is not available on the cuda target: "
                               "device code computes element by element and cannot make new arrays",
                               location=locate(stmt, filename),
                               hint="loop over the elements (for i in range(len(x)): ... x[i] ...), "
                                    "or use target='cpu'")


def _simple_statements(body):
    """Every statement in `body` that holds no other, nested ones included, breadth-first."""
    return (s for s in nodes.statements(body) if isinstance(s, SIMPLE))


SIMPLE = (gast.Assign, gast.AugAssign, gast.Expr, gast.Return)


def _callees(node):
    """The dotted names of the calls under `node` (operators and contexts are not searched)."""
    names = _NONE
    todo = [node]
    pop, push = todo.pop, todo.append
    while todo:
        node = pop()
        kind = type(node)
        if kind is gast.Call:
            names = names | {nodes.dotted(node.func)}
        fields = _EXPRESSION_FIELDS.get(kind)
        if fields is None:
            fields = _EXPRESSION_FIELDS[kind] = () if kind in (gast.Name, gast.Constant) else \
                tuple(f for f in kind._fields if f not in ("ctx", "op", "ops"))
        nodes.push_children(node, fields, push)
    return names


_NONE = frozenset()                 # most statements call nothing: they share one empty set
_EXPRESSION_FIELDS: dict = {}       # node type -> its fields that may hold calls (none: names, constants)


def _check_scalar_value(final, arrays, filename):
    value = final.value.elts[0]                        # return value, tangent
    if isinstance(value, gast.Name) and value.id in arrays:
        raise AdjointError("forward mode on the cuda target needs a function whose value is a "
                           "scalar: a device function cannot return an array",
                           location=locate(final, filename),
                           hint="use target='cpu' for the jvp or Jacobian of a vector-valued "
                                "function, or differentiate one scalar component on cuda")


def _scatter_gathers(body, outputs, adjoint_body):
    """`s_x = np.array([s_a, s_b], dtype)` into an output row: `s_x[0] = s_a; s_x[1] = s_b`.
    Also the outputs so written in full: where that statement, in the function's own block,
    is the only one binding the name in the adjoint (`adjoint_body`), every element is
    assigned (the list has one item per element: it is the sensitivity of unpacking the
    argument) before anything reads the row."""
    out, whole = [], set()
    for stmt in body:
        value = getattr(stmt, "value", None)
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
                and stmt.targets[0].id in outputs and isinstance(value, gast.Call) \
                and nodes.dotted(value.func) == "np.array" and isinstance(value.args[0], gast.List):
            name = stmt.targets[0].id
            out += [nodes.assign(nodes.subscript(name, k, store=True), e, stmt)
                    for k, e in enumerate(value.args[0].elts)]
            whole.add(name)
        else:
            out.append(stmt)
    if whole:
        bound = [s.targets[0].id for s in nodes.statements(adjoint_body)
                 if isinstance(s, gast.Assign) and isinstance(s.targets[0], gast.Name)]
        whole = {name for name in whole if bound.count(name) == 1}
    return out, whole


def _allocation(stmt):
    if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Call) \
            and isinstance(stmt.targets[0], gast.Name):
        name = nodes.dotted(stmt.value.func)
        if name in ("np.zeros_like", "np.zeros"):
            return "zeros"
        if name == "np.empty" and len(stmt.value.args) == 2:
            return "empty"
    return None


def _gradients(final, return_value):
    """The adjoint's final return as if it returned the gradients only: value_and_grad's
    `return value, gradients` read without its value (the statement itself is not changed)."""
    if not return_value:
        return final
    return nodes.return_(final.value.elts[1], final)


def _returned(final, wrt, name):
    """What the adjoint returns as the gradient along `name`: a Name, or an expression when
    it does not depend on `name` (`0.0`, `np.zeros(x.shape)`)."""
    value = final.value
    items = value.elts if isinstance(value, gast.Tuple) else [value]
    return items[list(wrt).index(name)]


def _returned_name(final, wrt, name):
    """The name of the gradient along `name`; None where it is a constant expression."""
    item = _returned(final, wrt, name)
    return item.id if isinstance(item, gast.Name) else None


def _output_row_name(final, wrt, name, body):
    """The parameter the gradient row along array `name` is written into. A gradient that
    does not depend on `name` is never written: the row arrives zeroed, under a fresh name."""
    returned = _returned_name(final, wrt, name)
    if returned is not None:
        return returned
    used = {n.id for stmt in body for n in nodes.walk(stmt) if isinstance(n, gast.Name)}
    fresh = f"s_{name}"
    while fresh in used:
        fresh += "_"
    return fresh


def _unpack_to_indexing(body):
    """`a, b = x` -> `a = x[0]; b = x[1]` everywhere (device code does not unpack arrays).
    The compound statements of `body` are the lowering's own copies: rewritten in place."""
    for stmt in list(nodes.statements(body)):
        for block in _blocks(stmt):
            setattr(stmt, block, [s for item in getattr(stmt, block) for s in _expand(item)])
    return [s for item in body for s in _expand(item)]


def _expand(stmt):
    """`a, b = x` -> `a = x[0]; b = x[1]`, after a check of x's length that the unpacking did
    (a point of another length would otherwise give a gradient of the wrong function)."""
    if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple) \
            and isinstance(stmt.value, gast.Name):
        count, array = len(stmt.targets[0].elts), stmt.value.id
        error = nodes.call("ValueError", [nodes.const(f"{array} has the wrong length to unpack (expected {count})")])
        check = nodes.if_(nodes.compare(nodes.subscript(nodes.attribute(f"{array}.shape"), 0), "!=", nodes.const(count)),
                          [nodes.make(gast.Raise, exc=error, cause=None)], origin=stmt)
        nodes.located(check.body[0], stmt)
        return [check] + [nodes.assign(e.id, nodes.subscript(array, k), stmt)
                          for k, e in enumerate(stmt.targets[0].elts)]
    return [stmt]


def _math_spelling(stmt, callees):
    """`stmt` with numpy's scalar functions spelled as device code has them: a copy, unless
    it calls none (or is a compound statement: the lowering's own copy already)."""
    if _blocks(stmt):
        return _Respell().visit(stmt)
    if not callees[id(stmt)].isdisjoint(RESPELLED):
        return _Respell().visit(nodes.clone(stmt))
    return stmt


class _Respell(gast.NodeTransformer):
    def visit_Call(self, node):
        self.generic_visit(node)
        if nodes.dotted(node.func) == "np.divide" and len(node.args) == 2:
            # CUDA has no np.divide; its `/` already gives inf or nan (NumPy's error model)
            return gast.copy_location(nodes.binop(node.args[0], "/", node.args[1]), node)
        if nodes.dotted(node.func) in ("min", "max") and len(node.args) == 2 and not node.keywords:
            # numba.cuda lowers min and max of two floats only (of integers it fails to compile):
            # Python's own rule, the first unless the second is strictly beyond it
            a, b = node.args
            beyond = nodes.compare(nodes.clone(a), ">" if nodes.dotted(node.func) == "min" else "<", nodes.clone(b))
            return gast.copy_location(nodes.ifexp(beyond, b, a), node)
        name = MATH_SPELLING.get(nodes.dotted(node.func))
        if name is not None:
            node.func = nodes.attribute(name)
        return node
