"""The kind and rank of every variable, from the arguments' types.

    def f(x, w):            signature {x: float[:], w: float}
        y = np.sin(x) * w    ->   y: float[:]   (rank 1)
        s = np.sum(y)             s: float
        return s

Rank decides the adjoint's shape: `np.dot` of a matrix and a vector reverses differently from
a dot of two vectors, and a broadcast operand's sensitivity is summed back to its own rank.
One type per name, valid everywhere (numba's rule too). Sizes are not tracked: only the rank
and the element kind (bool < int < float).
"""

from __future__ import annotations

import dataclasses

import gast
import numpy as np

from .. import primitives
from ..errors import AdjointTypeError, locate
from ..ir import annotations, nodes, trees


@dataclasses.dataclass(frozen=True)
class Type:
    kind: str          # "float" | "int" | "bool" | "shape" (a tuple of ints)
    ndim: int = 0      # 0 for scalars; an array's rank; a shape's length

    @property
    def is_array(self) -> bool:
        return self.kind != "shape" and self.ndim > 0

    def __str__(self):
        if self.kind == "shape":
            return f"shape[{self.ndim}]"
        return self.kind + ("[" + ", ".join(":" * self.ndim) + "]" if self.ndim else "")


FLOAT, INT, BOOL = Type("float"), Type("int"), Type("bool")
_KNOWN_TYPES = {(t.kind, t.ndim): t for t in (FLOAT, INT, BOOL)}


def _type(kind, ndim) -> Type:
    """Type(kind, ndim), one object per type (type_of makes one per operation it types)."""
    found = _KNOWN_TYPES.get((kind, ndim))
    if found is None:
        found = _KNOWN_TYPES[(kind, ndim)] = Type(kind, ndim)
    return found
_ORDER = {"bool": 0, "int": 1, "float": 2}


def describe(value) -> Type:
    """The Type of a runtime argument."""
    if isinstance(value, (bool, np.bool_)):
        return BOOL
    if isinstance(value, (int, np.integer)):
        return INT
    if isinstance(value, (float, np.floating)):
        return FLOAT
    array = np.asarray(value)
    kind = {"b": "bool", "i": "int", "u": "int"}.get(array.dtype.kind, "float")
    return Type(kind, array.ndim)


def default_signature(tree, wrt) -> dict:
    """Types guessed from the source alone, for `adjoint.source(f)` without arguments:
    an argument indexed with k subscripts (or unpacked) is a rank-k float array, one whose
    `.shape[k - 1]` is read at least rank k; an argument used as a loop bound or index is an
    int; every other argument is a float."""
    signature = {a.id: FLOAT for a in tree.args.args}
    shapes_of = {}                       # normalized code reads x.shape[1] as t = x.shape; t[1]
    for node in nodes.statements(tree.body):                 # (assignments are statements)
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name) \
                and isinstance(node.value, gast.Attribute) and node.value.attr == "shape" \
                and isinstance(node.value.value, gast.Name):
            shapes_of[node.targets[0].id] = node.value.value.id
    # Each node says "at least rank k" (these commute), "a vector" or "an int": where a name is
    # told only one of these, the order the nodes are read in does not matter, and they are
    # found statement by statement; else they are read in the order of a walk of the tree.
    guesses = []
    for node in _signature_nodes(tree, signature):
        _guess(node, signature, shapes_of, wrt, guesses)
    told = {}
    for name, how, rank in guesses:
        told.setdefault(name, set()).add(how)
    if any(len(hows) > 1 for hows in told.values()):
        guesses = []
        for node in _nodes_of_kinds(tree, _SIGNATURE_KINDS):     # names and constants tell nothing
            _guess(node, signature, shapes_of, wrt, guesses)
    for name, how, rank in guesses:
        signature[name] = INT if how == "int" else Type("float", 1) if how == "vector" else \
            Type("float", max(rank, signature[name].ndim))
    # arrays the function reads from module globals or closures: their types are known
    signature.update((source.name, source.type) for source in annotations.get(tree, "data_arguments"))
    return signature


def _guess(node, signature, shapes_of, wrt, guesses):
    """What `node` tells of the rank of the names in `signature`: (name, "rank", k) for at
    least rank k, (name, "vector", 1) for one unpacked, (name, "int", 0) for a loop bound."""
    shape_of = _shape_read(node, shapes_of)
    if shape_of is not None and shape_of[0] in signature:
        name, axis = shape_of
        guesses.append((name, "rank", axis + 1))
    elif isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) \
            and node.value.id in signature:
        index = node.slice
        guesses.append((node.value.id, "rank", len(index.elts) if isinstance(index, gast.Tuple) else 1))
    elif isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Tuple) \
            and isinstance(node.value, gast.Name) and node.value.id in signature:
        guesses.append((node.value.id, "vector", 1))
    elif isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name) \
            and node.value.id in signature and node.attr in ("shape", "size", "ndim"):
        guesses.append((node.value.id, "rank", 1))
    elif type(node) is gast.BinOp and type(node.op) is gast.MatMult or type(node) is gast.Call \
            and annotations.get(node, "callee") in (np.dot, np.matmul):
        # an operand of a matrix product is an array (X @ w over a module-level matrix X)
        for a in ([node.left, node.right] if type(node) is gast.BinOp else node.args):
            if isinstance(a, gast.Name) and a.id in signature:
                guesses.append((a.id, "rank", 1))
    elif isinstance(node, gast.Call) and annotations.get(node, "callee") is len:
        for a in node.args:
            if isinstance(a, gast.Name) and a.id in signature:
                guesses.append((a.id, "rank", 1))
    elif isinstance(node, gast.For):
        for a in node.iter.args:
            if isinstance(a, gast.Name) and a.id in signature and a.id not in wrt:
                guesses.append((a.id, "int", 0))


def _signature_nodes(tree, signature) -> list:
    """The nodes of _SIGNATURE_KINDS in `tree` that may tell _guess something (some perhaps
    twice), in no particular order: the normalized statements' commonest forms (an operation
    on atoms, a call of atoms) read directly, the rest searched (_nodes_of_kinds)."""
    found = []
    for field in tree._fields:                    # the head: arguments, decorators, defaults
        value = getattr(tree, field, None)
        if field != "body" and value:
            for item in value if type(value) is list else [value]:
                found += _nodes_of_kinds(item, _SIGNATURE_KINDS)
    _statement_signature_nodes(tree.body, signature, found)
    return found


def _statement_signature_nodes(body, signature, found):
    keep, kinds = found.append, _SIGNATURE_KINDS
    for stmt in body:
        kind = type(stmt)
        if kind is gast.Assign:
            for target in stmt.targets:
                if not _is_leaf(target):          # (an assignment to a name tells nothing)
                    keep(stmt)
                    found += _nodes_of_kinds(target, kinds)
            value = stmt.value
            value_kind = type(value)
            if _is_leaf(value):
                continue
            if value_kind is gast.BinOp and _is_leaf(value.left) and _is_leaf(value.right):
                if type(value.op) is gast.MatMult:
                    keep(value)
            elif value_kind is gast.UnaryOp and _is_leaf(value.operand):
                continue
            elif value_kind is gast.Call and not value.keywords and all(map(_is_leaf, value.args)) \
                    and type(value.func) is gast.Attribute and _is_leaf(value.func.value):
                keep(value)
                if type(value.func.value) is gast.Name and value.func.value.id in signature:
                    keep(value.func)
            else:
                found += _nodes_of_kinds(value, kinds)
        elif kind is gast.For:
            keep(stmt)
            found += _nodes_of_kinds(stmt.target, kinds) + _nodes_of_kinds(stmt.iter, kinds)
            _statement_signature_nodes(stmt.body, signature, found)
            _statement_signature_nodes(stmt.orelse, signature, found)
        elif kind is gast.If or kind is gast.While:
            found += _nodes_of_kinds(stmt.test, kinds)
            _statement_signature_nodes(stmt.body, signature, found)
            _statement_signature_nodes(stmt.orelse, signature, found)
        else:                                     # (one with other blocks: searched whole)
            found += _nodes_of_kinds(stmt, kinds)


def _is_leaf(node) -> bool:
    """A constant or a plain name: nothing under it (walk_branches does not enter it)."""
    kind = type(node)
    return kind is gast.Constant or kind is gast.Name and node.annotation is None


# numpy functions that reduce or scan an array: what they are given is one
_REDUCTIONS = frozenset((np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.std, np.var,
                         np.cumsum, np.cumprod, np.diff, np.linalg.norm, np.median))


def _creates_array(expr) -> bool:
    """A call that makes an array of what it is given (sizes, a fill value, elements)."""
    return isinstance(expr, gast.Call) and _is_creator(annotations.get(expr, "callee"))


def _is_creator(callee) -> bool:
    try:
        return callee in _CREATORS
    except TypeError:
        return False


_CREATORS = frozenset((np.full, np.zeros, np.ones, np.empty, np.full_like, np.zeros_like, np.ones_like,
                       np.empty_like, np.arange, np.linspace, np.eye, np.identity, np.array, np.asarray,
                       np.stack, np.hstack, np.vstack, np.concatenate, np.broadcast_to, np.tile, np.repeat))


def _is_reduction(callee) -> bool:
    try:
        return callee in _REDUCTIONS
    except TypeError:                     # an unhashable callee is none
        return False


def reduced_parameters(tree, signature) -> set:
    """The float parameters of `signature` (default_signature's guesses) that are the only
    parameter a reduction's argument derives from, where nothing there is known to be an
    array: `np.sum(np.sin(x) ** 2)` sums an array, so x is likely one (`np.sum(w * x)` tells
    not which; `np.sum(np.full(3, a))` sums what a fills). Names are followed through
    assignments, ignoring order. A guess for showing code without types (adjoint.source,
    `adjoint show`): grad's own first guess keeps to stronger evidence, because a call's
    arguments are checked against it."""
    reductions = [node for node in trees.walk_branches(tree) if type(node) is gast.Call and node.args
                  and _is_reduction(annotations.get(node, "callee"))]
    if not reductions:
        return set()
    parameters = {a.id for a in tree.args.args}
    derives = {}                                 # name -> the parameters its values derive from

    def sources(expr) -> set:
        found = set()
        for name in nodes.loads_in(expr):
            found |= derives.get(name, {name} if name in parameters else set())
        return found
    for stmt in nodes.statements(tree.body):
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
                and not _creates_array(stmt.value):            # np.full(3, a): a fills it
            target = stmt.targets[0].id
            derives[target] = derives.get(target, set()) | sources(stmt.value)
    guessed = set()
    for call in reductions:
        found = set() if _creates_array(call.args[0]) else sources(call.args[0])
        if any(signature.get(p, FLOAT).is_array for p in found):
            continue
        scalars = [p for p in found if signature.get(p) == FLOAT]
        if len(scalars) == 1:
            guessed.add(scalars[0])
    return guessed


# the node types default_signature reads something from
_SIGNATURE_KINDS = frozenset((gast.Subscript, gast.Assign, gast.Attribute, gast.Call, gast.For, gast.BinOp))


def _nodes_of_kinds(tree, kinds) -> list:
    """The nodes of `kinds` that trees.walk_branches(tree) yields, in its (breadth-first)
    order: one list grown as it is read, no generator (default_signature walks the whole
    function)."""
    queue, found = [tree], []
    push, keep = queue.append, found.append
    constant, name, node_type, fields_of = gast.Constant, gast.Name, gast.AST, nodes.child_fields
    for node in queue:
        kind = type(node)
        if kind in kinds:
            keep(node)
        for field in fields_of(kind):
            value = getattr(node, field, None)
            for child in value if type(value) is list else (value,):
                child_kind = type(child)
                if child_kind is constant or (child_kind is name and child.annotation is None) \
                        or not isinstance(child, node_type):
                    continue
                push(child)
    return found


def _shape_read(node, shapes_of):
    """(name, k) for `name.shape[k]`, or `t[k]` after `t = name.shape`, with a constant k >= 0."""
    if not (isinstance(node, gast.Subscript) and isinstance(node.slice, gast.Constant)
            and type(node.slice.value) is int and node.slice.value >= 0):
        return None
    shape = node.value
    if isinstance(shape, gast.Attribute) and shape.attr == "shape" and isinstance(shape.value, gast.Name):
        return shape.value.id, node.slice.value
    if isinstance(shape, gast.Name) and shape.id in shapes_of:
        return shapes_of[shape.id], node.slice.value
    return None


def infer(tree: gast.FunctionDef, signature: dict, filename="<adjoint>") -> dict:
    """name -> Type for every variable of a normalized function.

    Each round types the assignments in order; another runs while one changes a type, since
    an assignment read earlier may have given it. Not without loops when no type changed
    but names typed for the first time: there every read of a name follows its assignments
    (in a correct program), so no statement read a type that then changed."""
    types = dict(signature)
    try:
        return _infer(tree, types, filename)
    except AdjointTypeError:
        _check_grown_lists(tree, types, filename)
        raise


def _check_grown_lists(tree, types, filename):
    """The error for a list of arrays grown by `append` in a loop (normalize makes a grown list
    an array of numbers), where the type error it leads to would say less."""
    for stmt in _assignments(tree.body):
        name = annotations.get(stmt, "grown_list") if isinstance(stmt, gast.Assign) else None
        if name is None:
            continue
        try:
            value = type_of(stmt.value, types, filename)
        except AdjointTypeError:
            continue
        if value.is_array:
            raise AdjointTypeError(
                f"`{name}` grows by appending arrays: a list grown in a loop is supported for numbers only",
                location=locate(stmt, filename),
                hint=f"preallocate it and write its rows: {name} = np.zeros((steps, n)) before the loop, "
                     f"{name}[t] = ... inside it (np.stack of a list comprehension works too)")


def _infer(tree, types, filename):
    statements = list(_assignments(tree.body))          # (each round reads them all)
    loops = _has_loop(tree.body)
    for _ in range(50):
        changed = retyped = False
        for stmt in statements:
            try:
                if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name:   # the commonest
                    name, new = stmt.targets[0].id, type_of(stmt.value, types, filename)
                    if types.get(name) is new:              # (retyped as it was: nothing to do)
                        continue
                    assigned = ((name, new),)
                else:
                    assigned = _assigned_types(stmt, types, filename)
            except AdjointTypeError as error:
                if error.location is not None:
                    raise
                raise AdjointTypeError(error.message, location=locate(stmt, filename),
                                       hint=error.hint) from None
            for name, new in assigned:
                old = types.get(name)
                if old is new or old == new:
                    continue
                merged = new if old is None else _merge(old, new, name, stmt, filename)
                if merged != old:
                    types[name] = merged
                    changed = True
                    retyped = retyped or old is not None
        if not changed or not (loops or retyped):
            break
    _check_element_writes(statements, types, filename)
    return types


def _has_loop(body) -> bool:
    """Whether a for or while loop is among `body`'s statements or in their blocks."""
    for stmt in body:
        kind = type(stmt)
        if kind is gast.For or kind is gast.While:
            return True
        if kind is gast.If and (_has_loop(stmt.body) or _has_loop(stmt.orelse)):
            return True
    return False


def _check_element_writes(statements, types, filename):
    """`v[i, j] = e` needs v of rank 2 or more, as a read would (once every name is typed: a
    store's base may be typed later in the body than the store), and e of no more axes than
    the element or region written (numpy broadcasts e into it, never the reverse).
    `statements`: _assignments of the function's body."""
    for stmt in statements:
        target = stmt.targets[0] if type(stmt) is gast.Assign else None
        if type(target) is gast.Subscript and isinstance(target.value, gast.Name) \
                and target.value.id in types:
            try:
                region = _subscript_type(target, types, filename)
            except AdjointTypeError as error:
                if error.location is not None:
                    raise
                raise AdjointTypeError(error.message, location=locate(stmt, filename)) from None
            value = type_of(stmt.value, types, filename)
            if value.kind != "shape" and region.kind != "shape" and value.ndim > region.ndim:
                what = "an element" if region.ndim == 0 else f"a part of rank {region.ndim}"
                raise AdjointTypeError(
                    f"assigning an array of rank {value.ndim} to {what} of `{target.value.id}`",
                    location=locate(stmt, filename),
                    hint="index the value down to the part written, or write a slice of the "
                         "array (y[i, :] = row for a row of a matrix y)")


def _merge(old, new, name, stmt, filename):
    if old.kind == "shape" or new.kind == "shape" or old.ndim != new.ndim:
        raise AdjointTypeError(f"`{name}` is {old} in one place and {new} in another",
                           location=locate(stmt, filename),
                           hint="give values of different ranks different names")
    return old if _ORDER[old.kind] >= _ORDER[new.kind] else new


def _assignments(body):
    for stmt in body:
        if isinstance(stmt, gast.Assign):
            yield stmt
        elif isinstance(stmt, (gast.If, gast.For, gast.While)):
            if isinstance(stmt, gast.For):
                yield stmt
            yield from _assignments(stmt.body)
            yield from _assignments(getattr(stmt, "orelse", []) or [])


def _assigned_types(stmt, types, filename):
    if isinstance(stmt, gast.For):
        return [(stmt.target.id, INT)]
    target, value = stmt.targets[0], stmt.value
    if isinstance(target, gast.Subscript):
        return []
    if isinstance(target, gast.Tuple):
        source = type_of(value, types, filename)
        element = Type(source.kind, source.ndim - 1) if source.kind != "shape" else INT
        return [(e.id, element) for e in target.elts]
    return [(target.id, type_of(value, types, filename))]


def type_of(expr, types, filename="<adjoint>") -> Type:
    node_type = type(expr)               # names and constants first: most operands are one
    if node_type is gast.Name:
        return types.get(expr.id, FLOAT)
    if node_type is gast.Constant:
        return _CONSTANT_TYPES.get(type(expr.value), FLOAT)
    if node_type is gast.Attribute:
        if isinstance(expr.value, gast.Name) and expr.value.id in ("math", "np"):
            return FLOAT
        base = type_of(expr.value, types, filename)
        if expr.attr == "shape":
            return _type("shape", base.ndim)
        return INT
    if node_type is gast.Tuple or node_type is gast.List:
        return Type("shape", len(expr.elts))
    if node_type is gast.Subscript:
        return _subscript_type(expr, types, filename)
    if node_type is gast.Compare:
        return _type("bool", max(_rank(o, types) for o in [expr.left] + expr.comparators))
    if node_type is gast.UnaryOp:
        operand = type_of(expr.operand, types, filename)
        return _type("bool", operand.ndim) if type(expr.op) is gast.Not else operand
    if node_type is gast.BinOp:
        left, right = expr.left, expr.right         # (operands are mostly names: read directly)
        left = types.get(left.id, FLOAT) if type(left) is gast.Name else type_of(left, types, filename)
        right = types.get(right.id, FLOAT) if type(right) is gast.Name else type_of(right, types, filename)
        if type(expr.op) is gast.MatMult:
            return _type("float", _matmul_rank(left.ndim, right.ndim, expr, filename))
        if left is right and left.kind == "float":      # floats of one rank (the commonest)
            return left
        if type(expr.op) is gast.Add and left.kind == "shape" and right.kind == "shape":
            return _type("shape", left.ndim + right.ndim)
        kind = _join(left.kind, right.kind)
        if type(expr.op) is gast.Div or (type(expr.op) is gast.Pow and kind != "int"):
            kind = "float"
        if kind == "bool":
            kind = "int"
        return _type(kind, max(left.ndim, right.ndim))
    if node_type is gast.Call:
        return _call_type(expr, types, filename)
    return FLOAT


_CONSTANT_TYPES = {bool: BOOL, int: INT}


def _rank(expr, types):
    return type_of(expr, types).ndim if type_of(expr, types).kind != "shape" else 0


def _join(*kinds):
    kinds = [k if k in _ORDER else "float" for k in kinds]
    if len(kinds) == 2:                   # a binary operation's (max with a key costs more)
        a, b = kinds
        return a if _ORDER[a] >= _ORDER[b] else b
    return max(kinds, key=_ORDER.get)


def _subscript_type(expr, types, filename):
    base = type_of(expr.value, types, filename)
    if base.kind == "shape":
        return INT
    index = expr.slice.elts if isinstance(expr.slice, gast.Tuple) else [expr.slice]
    # `...` stands for the axes no other component names; `None` (np.newaxis) adds one
    # (normalize writes it as np.expand_dims: only a user's tree still holds it)
    added = sum(1 for i in index if _is_constant(i, None) or nodes.dotted(i) == "np.newaxis")
    index = [i for i in index if not (_is_constant(i, Ellipsis) or _is_constant(i, None)
                                      or nodes.dotted(i) == "np.newaxis")]
    dropped = sum(1 for i in index if not isinstance(i, gast.Slice)) - added
    if len(index) > base.ndim:
        raise AdjointTypeError(f"too many indices: {len(index)} for an array of rank {base.ndim}",
                           location=locate(expr, filename))
    # an integer-array index (a gather) adds its own axes: E[tokens] of a rank-2 tokens is
    # rank 3; a mask keeps one axis (numpy broadcasts the array indices together)
    arrays = [type_of(i, types, filename) for i in index if not isinstance(i, gast.Slice)]
    gathered = max((1 if a.kind == "bool" else a.ndim for a in arrays if a.is_array), default=0)
    consumed = sum(a.ndim if a.kind == "bool" and a.is_array else 1 for a in arrays)
    return Type(base.kind, base.ndim - consumed + gathered + added if gathered else base.ndim - dropped)


def _is_constant(node, value) -> bool:
    return type(node) is gast.Constant and node.value is value


def _matmul_rank(a, b, node, filename):
    ranks = {(1, 1): 0, (2, 1): 1, (1, 2): 1, (2, 2): 2}
    if (a, b) not in ranks:
        hint = "use rank-1 or rank-2 operands"
        if 0 in (a, b):         # an argument's rank guessed from the source: a number
            hint = ("an operand taken for a number may be an array whose rank the source does not show: "
                    "give the types, adjoint.source(f, types='W=float64[:,:]') or `adjoint show --types`, "
                    "or use grad(f)(...) / grad(f).source_for(*args), which read them from the arguments")
        raise AdjointTypeError(f"matrix product of ranks {a} and {b} is not supported",
                               location=locate(node, filename), hint=hint)
    return ranks[(a, b)]


def _keyword(call, name):
    for k in call.keywords:
        if k.arg == name:
            return k.value
    return None


def _axis(call, position):
    axis = _keyword(call, "axis")
    if axis is None and len(call.args) > position:
        axis = call.args[position]
    return axis


def _shape_length(node, types):
    t = type_of(node, types)
    if t.kind == "shape":
        return t.ndim
    return 1                                         # np.zeros(n): a single length


def _call_type(call, types, filename):
    """The result type of a call: the rule its primitive's record names (primitives/rules/), else
    (a user's function) a float of its arguments' largest rank."""
    callee = annotations.get(call, "callee")
    args = [type_of(a, types, filename) for a in call.args]
    rule = RESULT_RULES.get(primitives.result_of(callee), _elementwise)
    return rule(call, callee, args, types, filename)


def _elementwise(call, callee, args, types, filename):
    return _type("float", max((a.ndim for a in args if a.kind != "shape"), default=0))


def _reduction(call, callee, args, types, filename):
    axis = _axis(call, 1)
    if axis is not None and args[0].ndim == 0:
        raise AdjointTypeError("a reduction along an axis needs an array, not a scalar",
                               location=locate(call, filename))
    axes = len(axis.elts) if isinstance(axis, gast.Tuple) else 1      # axis=(0, 1)
    return Type("float", 0 if axis is None else args[0].ndim - axes)


def _array(call, callee, args, types, filename):
    return Type("float", _literal_rank(call.args[0], types, filename))


def _literal_rank(node, types, filename):
    """The rank of np.array of `node`: a list's (nested lists', arrays') depth."""
    if isinstance(node, (gast.List, gast.Tuple)):
        return 1 + max((_literal_rank(e, types, filename) for e in node.elts), default=0)
    return type_of(node, types, filename).ndim


def _broadcast(call, callee, args, types, filename):
    """np.where, np.clip, np.abs, np.maximum: floats of the largest rank; abs, min and max
    keep their operands' kind."""
    kind = _join(*(a.kind for a in args)) if callee in (abs, min, max) else "float"
    return Type(kind, max(a.ndim for a in args))


def _parts_rank(call, types, filename):
    return type_of(call.args[0].elts[0], types, filename).ndim


def _cumulative(call, callee, args, types, filename):
    """np.cumsum, np.cumprod: without an axis, of the flattened array."""
    if _axis(call, 1) is None:
        return Type("float", 1)
    _arrays_needed(call, args, [0], filename)
    return Type("float", args[0].ndim)


def _integer_reduction(call, callee, args, types, filename):
    """np.argmax, np.argmin: an index, or an array of them along an axis."""
    return Type("int", 0 if _axis(call, 1) is None else args[0].ndim - 1)


def _astype(call, callee, args, types, filename):
    """np.asarray(x, dtype=T) (x.astype(T)): x's rank, T's kind."""
    dtype = _keyword(call, "dtype")
    name = nodes.dotted(dtype) if dtype is not None else ""
    kind = args[0].kind if not name else "bool" if name in ("bool", "np.bool_") else \
        "int" if name == "int" or name.startswith(("np.int", "np.uint")) else "float"
    return Type(kind, args[0].ndim)


def _arrays_needed(call, args, positions, filename):
    """An AdjointTypeError where an argument that must be an array is a number (a type the
    source suggested: the call's own types may still fix it)."""
    for k in positions:
        if k < len(args) and not args[k].is_array:
            name = nodes.dotted(call.func) or "this function"
            raise AdjointTypeError(f"`{name}` needs an array as argument {k + 1}, not a number",
                                   location=locate(call, filename))


def _array_like(call, callee, args, types, filename):
    """np.roll, np.flip, np.sort, np.diff: an array of its argument's rank."""
    _arrays_needed(call, args, [0], filename)
    return Type("float", args[0].ndim)


def _diag(call, callee, args, types, filename):
    _arrays_needed(call, args, [0], filename)
    return Type("float", 2 if args[0].ndim == 1 else 1)


def _squeeze(call, callee, args, types, filename):
    """np.squeeze(x, axis): one axis fewer; without the axis the rank would depend on the sizes."""
    if _axis(call, 1) is None:
        raise AdjointTypeError("np.squeeze without an axis is not supported (which axes have length 1 "
                               "is known only when it runs)", location=locate(call, filename),
                               hint="name the axis: np.squeeze(x, axis=1)")
    _arrays_needed(call, args, [0], filename)
    return Type("float", args[0].ndim - 1)


def _tile(call, callee, args, types, filename):
    """np.tile(x, r) of a vector or a matrix, r a number: x's rank."""
    reps = call.args[1] if len(call.args) > 1 else _keyword(call, "reps")
    if isinstance(reps, (gast.Tuple, gast.List)) or (reps is not None and type_of(reps, types).kind == "shape"):
        raise AdjointTypeError("np.tile with a tuple of counts is not supported", location=locate(call, filename),
                               hint="tile one axis at a time: np.tile(np.tile(A, c).T, r).T is np.tile(A, (r, c))")
    _arrays_needed(call, args, [0], filename)
    return Type("float", args[0].ndim)


def _norm(call, callee, args, types, filename):
    """np.linalg.norm(x, ord, axis) (normalize gives an ord its axis): a number, or one axis fewer;
    a matrix's own norms (an ord and no axis) are not supported."""
    axis = _keyword(call, "axis") if _keyword(call, "axis") is not None else call.args[2] if len(call.args) > 2 else None
    ord_ = call.args[1] if len(call.args) > 1 else None
    no_axis = axis is None or isinstance(axis, gast.Constant) and axis.value is None
    if ord_ is not None and args[0].ndim >= 2 and no_axis:
        raise AdjointTypeError("np.linalg.norm of a matrix with an `ord` (a matrix norm) is not supported",
                               location=locate(call, filename),
                               hint="write the norm out: ord=1 is np.max(np.sum(np.abs(A), axis=0)), ord=np.inf "
                                    "np.max(np.sum(np.abs(A), axis=1)); the Frobenius norm is np.linalg.norm(A)")
    return Type("float", 0 if no_axis else args[0].ndim - 1)


def _stacked(least):
    """np.vstack, np.hstack, np.column_stack: the parts' largest rank, at least `least`."""
    def rule(call, callee, args, types, filename):
        return Type("float", max([least] + [type_of(e, types, filename).ndim for e in call.args[0].elts]))
    return rule


def _interp(call, callee, args, types, filename):
    """np.interp(xq, xp, fp): xq's rank."""
    _arrays_needed(call, args, [1, 2], filename)
    return Type("float", args[0].ndim)


def _polyval(call, callee, args, types, filename):
    """np.polyval(p, x): x's rank."""
    _arrays_needed(call, args, [0], filename)
    return Type("float", args[1].ndim)


def _trapezoid(call, callee, args, types, filename):
    _arrays_needed(call, args, range(len(args)), filename)
    return FLOAT


# result type rules by the name a primitive's record gives (table.Primitive.result)
RESULT_RULES = {
    "array like": _array_like,
    "interp": _interp,
    "trapezoid": _trapezoid,
    "cumulative": _cumulative,
    "integer reduction": _integer_reduction,
    "integer like": lambda call, callee, args, types, filename: Type("int", args[0].ndim),
    "diag": _diag,
    "atleast 1": lambda call, callee, args, types, filename: Type("float", max(args[0].ndim, 1)),
    "atleast 2": lambda call, callee, args, types, filename: Type("float", max(args[0].ndim, 2)),
    "atleast 3": lambda call, callee, args, types, filename: Type("float", max(args[0].ndim, 3)),
    "polyval": _polyval,
    "astype": _astype,
    "shape": lambda call, callee, args, types, filename: Type("shape", args[0].ndim if args[0].kind != "shape" else 1),
    "elementwise": _elementwise,
    "integer": lambda call, callee, args, types, filename: INT,
    "boolean": lambda call, callee, args, types, filename: BOOL,
    "scalar": lambda call, callee, args, types, filename: FLOAT,
    "reduction": _reduction,
    "creator": lambda call, callee, args, types, filename: Type("float", _shape_length(call.args[0], types)),
    "like": lambda call, callee, args, types, filename: Type("float", args[0].ndim),
    "vector": lambda call, callee, args, types, filename: Type("float", 1),
    "matrix": lambda call, callee, args, types, filename: Type("float", 2),
    "array": _array,
    "matmul": lambda call, callee, args, types, filename: Type(
        "float", _matmul_rank(args[0].ndim, args[1].ndim, call, filename)),
    "reshape": lambda call, callee, args, types, filename: Type("float", _shape_length(call.args[1], types)),
    "concatenate": lambda call, callee, args, types, filename: Type("float", _parts_rank(call, types, filename)),
    "stack": lambda call, callee, args, types, filename: Type("float", _parts_rank(call, types, filename) + 1),
    "broadcast": _broadcast,
    "expand": lambda call, callee, args, types, filename: Type(args[0].kind if args[0].kind != "shape" else "float",
                                                               args[0].ndim + 1),
    # np.triu_indices: a pair of integer arrays, typed as the rows of a matrix so that
    # unpacking it (`i, j = ...`, the one use validate allows) gives two int[:]
    "index_pair": lambda call, callee, args, types, filename: Type("int", 2),
    "squeeze": _squeeze,
    "tile": _tile,
    "norm": _norm,
    "vstack": _stacked(2),
    "hstack": _stacked(1),
    "column_stack": _stacked(2),
}


def _ranked(allowed, result, hint):
    """The result rule of a linear-algebra primitive (primitives/rules/linalg.py) that takes arguments
    of the ranks in `allowed` only: `result(ranks)` is its result's rank. Other ranks are a type
    error (which defers code generation to the call when the ranks were guessed)."""
    def rule(call, callee, args, types, filename):
        ranks = tuple(a.ndim for a in args)
        if ranks not in allowed:
            name = primitives.record_of(callee).spellings[0]
            raise AdjointTypeError(f"{name} of arguments of rank {', '.join(map(str, ranks))} is not supported",
                                   location=locate(call, filename), hint=hint)
        return Type("float", result(ranks))
    return rule


RESULT_RULES.update({
    "cross": _ranked({(1, 1), (1, 2), (2, 1), (2, 2)}, max, "cross 3-vectors, or the rows of (n, 3) matrices"),
    "kron": _ranked({(1, 1), (2, 2)}, max, "give both factors rank 1, or both rank 2"),
    "outer": _ranked({(1, 1)}, lambda ranks: 2, "np.outer of vectors: np.outer(np.ravel(a), b) for a matrix, s * b for a number"),
    "vander": _ranked({(1,), (1, 0)}, lambda ranks: 2, "np.vander of a vector: np.vander(np.ravel(x), n)"),
    "solve": _ranked({(2, 1), (2, 2)}, lambda ranks: ranks[1], "solve a square matrix against a vector or a matrix"),
    "square": _ranked({(2,)}, lambda ranks: 2, "pass a square matrix (stacks of matrices are not supported)"),
    "determinant": _ranked({(2,)}, lambda ranks: 0, "pass a square matrix (stacks of matrices are not supported)"),
    "slogdet": _ranked({(2,)}, lambda ranks: 1, "pass a square matrix (stacks of matrices are not supported)"),
})


def _einsum(call, callee, args, types, filename):
    """np.einsum('ij,jk->ik', a, b): of the rank of its output subscripts, each operand of
    the rank of its own (primitives/linalg.py reads them)."""
    first = call.args[0] if call.args else None
    if not (isinstance(first, gast.Constant) and isinstance(first.value, str)) or call.keywords:
        raise AdjointTypeError("np.einsum is supported with its subscripts as a string literal, and no keywords",
                               location=locate(call, filename),
                               hint="write them in the call: np.einsum('ij,j->i', A, x)")
    try:
        inputs, output = primitives.linalg.einsum_subscripts(first.value, len(args) - 1)
    except ValueError as error:
        raise AdjointTypeError(str(error), location=locate(call, filename),
                               hint="spell each operand's axes with letters: np.einsum('bij,bjk->bik', a, b)") from None
    for k, (subscripts, operand) in enumerate(zip(inputs, args[1:])):
        if len(subscripts) != operand.ndim:
            raise AdjointTypeError(f"np.einsum operand {k + 1} has rank {operand.ndim}, its subscripts "
                                   f"{subscripts!r} say {len(subscripts)}", location=locate(call, filename),
                                   hint="give each operand one letter per axis")
    if len(args) - 1 > len(primitives.linalg.OPERANDS):
        raise AdjointTypeError(f"np.einsum of more than {len(primitives.linalg.OPERANDS)} operands is not supported",
                               location=locate(call, filename), hint="split it into einsums of fewer operands")
    return Type("float", len(output))


RESULT_RULES["einsum"] = _einsum
