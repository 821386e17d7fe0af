"""The IR's builders, and the walks and copies every stage shares.

Every node the compiler makes is built here, by a named builder where one fits, else by
`make(gast.X, **fields)`: no other module calls a gast node class (tests/test_annotations.py
checks it). The nodes made elsewhere are conversions and copies: ir/trees converts the
user's source (parse), and the passes copy nodes to change a field of the copy (copy.copy,
clone here, primitives/registry's rule templates).

    name("x")               ->  x           (a load)
    assign("t_1", mul)      ->  t_1 = x * y
    accumulate("s_x", e)    ->  s_x += e
    compare("k", "==", 0)   ->  k == 0
    if_(test, body)         ->  if test: body

A builder given a node uses it as it is, not a copy, unless it says otherwise (assign and
store copy their target). A node derived from another takes its position and the user's
line and file from it with `located` (the annotations in annotations.LOCATION); a pass that
rebuilds a node keeps its other annotations with annotations.copy_to.
"""

from __future__ import annotations

import copy
import types

import gast

from . import annotations

BINOPS = {"+": gast.Add, "-": gast.Sub, "*": gast.Mult, "/": gast.Div, "//": gast.FloorDiv, "**": gast.Pow,
          "@": gast.MatMult}
COMPARES = {"==": gast.Eq, "!=": gast.NotEq, "<": gast.Lt, "<=": gast.LtE, ">": gast.Gt, ">=": gast.GtE}
BOOLOPS = {"and": gast.And, "or": gast.Or}

def make(node_type, /, **fields):
    """`node_type(**fields)` without gast's generic constructor (a Python call looping over the
    arguments, which cost three times the node itself; the reverse sweep builds ~200,000 nodes
    on 2,000 lines): the same node, `fields` its attributes in the same order. `make(gast.Load)`
    is a fresh context, as `gast.Load()` is. (Positional-only: a constant has a field `kind`.)"""
    node = _new(node_type)
    node.__dict__ = fields
    return node


_new = gast.AST.__new__


def name(identifier: str, store: bool = False) -> gast.Name:
    return make(gast.Name, id=identifier, ctx=make(gast.Store) if store else _LOAD,
                annotation=None, type_comment=None)


# contexts hold nothing and no pass changes one (a target gets a new one: store()), so the
# names built for reading share one, as Python's own parser shares its contexts
_LOAD = make(gast.Load)


def const(value) -> gast.Constant:
    return make(gast.Constant, value=value, kind=None)


def atom(value):
    """A Name for a str, a Constant for a number; nodes pass through."""
    if isinstance(value, str):
        return name(value)
    if isinstance(value, gast.AST):
        return value
    return const(value)


def binop(left, op, right) -> gast.BinOp:
    """`left op right`; `op` a spelling ("+", ...) or an operator node (used as it is)."""
    return make(gast.BinOp, left=atom(left), op=_operator(op, BINOPS), right=atom(right))


def compare(left, op, right) -> gast.Compare:
    """`left op right` with one comparison; `op` a spelling ("==", ...) or an operator node."""
    return make(gast.Compare, left=atom(left), ops=[_operator(op, COMPARES)], comparators=[atom(right)])


def boolop(op, values) -> gast.BoolOp:
    """`a and b and ...` (op "and", "or" or an operator node)."""
    return make(gast.BoolOp, op=_operator(op, BOOLOPS), values=list(values))


def _operator(op, table):
    return make(table[op]) if isinstance(op, str) else op


def neg(operand) -> gast.UnaryOp:
    return make(gast.UnaryOp, op=make(gast.USub), operand=atom(operand))


def not_(operand) -> gast.UnaryOp:
    return make(gast.UnaryOp, op=make(gast.Not), operand=atom(operand))


def ifexp(test, body, orelse) -> gast.IfExp:
    """`body if test else orelse`."""
    return make(gast.IfExp, test=atom(test), body=atom(body), orelse=atom(orelse))


def attribute(dotted: str) -> gast.AST:
    """`math.sin` -> Attribute(Name(math), sin)."""
    head, *rest = dotted.split(".")
    node = name(head)
    for part in rest:
        node = make(gast.Attribute, value=node, attr=part, ctx=make(gast.Load))
    return node


def attribute_of(value, attr: str) -> gast.Attribute:
    """`value.attr` for any expression (attribute() takes a dotted name)."""
    return make(gast.Attribute, value=copy.deepcopy(value), attr=attr, ctx=make(gast.Load))


def keyword(arg: str, value) -> gast.keyword:
    return make(gast.keyword, arg=arg, value=value)


def call(func, args, keywords=()) -> gast.Call:
    func = attribute(func) if isinstance(func, str) else func
    return make(gast.Call, func=func, args=[atom(a) for a in args], keywords=list(keywords))


def subscript(value, index, store: bool = False) -> gast.Subscript:
    return make(gast.Subscript, value=atom(value), slice=atom(index),
                ctx=make(gast.Store if store else gast.Load))


def slice_(lower=None, upper=None, step=None) -> gast.Slice:
    """`lower:upper:step` (each a node or None); slice_() is `:`."""
    return make(gast.Slice, lower=lower, upper=upper, step=step)


def tuple_(elts, store: bool = False) -> gast.Tuple:
    """A tuple of names (strs) or nodes; a Name among them is a new one, in the tuple's context."""
    ctx = make(gast.Store if store else gast.Load)
    return make(gast.Tuple, elts=[_with_ctx(atom(e), ctx) for e in elts], ctx=ctx)


def tuple_of(elts) -> gast.Tuple:
    """The loaded tuple (a, b, ...) of the nodes `elts` themselves (positions and all)."""
    return make(gast.Tuple, elts=elts, ctx=make(gast.Load))


def list_of(elts) -> gast.List:
    """The loaded list [a, b, ...] of the nodes `elts` themselves."""
    return make(gast.List, elts=elts, ctx=make(gast.Load))


def _with_ctx(node, ctx):
    if isinstance(node, gast.Name):
        return make(gast.Name, id=node.id, ctx=ctx, annotation=None, type_comment=None)
    return node


def store(target):
    """A target node from a name or a (load) node."""
    if isinstance(target, str):
        return name(target, store=True)
    node = clone(target)
    node.ctx = make(gast.Store)
    return node


def assign(target, value, origin=None) -> gast.Assign:
    # (store and atom written out for a name: the stages build hundreds of thousands of these)
    target = make(gast.Name, id=target, ctx=make(gast.Store), annotation=None, type_comment=None) \
        if type(target) is str else store(target)
    value = value if isinstance(value, gast.AST) else atom(value)
    node = make(gast.Assign, targets=[target], value=value, type_comment=None)
    return node if origin is None else located(node, origin)


def assign_to(target, value, origin=None) -> gast.Assign:
    """`target = value` with the nodes themselves (the target already in Store context),
    where assign would copy the target."""
    return located(make(gast.Assign, targets=[target], value=value, type_comment=None), origin)


def accumulate(target, value, origin=None, op: str = "+") -> gast.AugAssign:
    node = make(gast.AugAssign, target=store(target), op=make(BINOPS[op]), value=atom(value))
    return located(node, origin)


def if_(test, body, orelse=(), origin=None) -> gast.If:
    return located(make(gast.If, test=atom(test), body=list(body), orelse=list(orelse)), origin)


def for_range(index: str, range_args, body, origin=None) -> gast.For:
    return for_(index, call(name("range"), range_args), body, origin)


def for_(index: str, iterable, body, origin=None) -> gast.For:
    node = make(gast.For, target=name(index, store=True), iter=iterable, body=list(body), orelse=[],
                type_comment=None)
    return located(node, origin)


def while_(test, body, origin=None) -> gast.While:
    return located(make(gast.While, test=atom(test), body=list(body), orelse=[]), origin)


def return_(value, origin=None) -> gast.Return:
    return located(make(gast.Return, value=atom(value) if value is not None else None), origin)


def pass_(origin=None) -> gast.Pass:
    return located(make(gast.Pass), origin)


def break_(origin=None) -> gast.Break:
    return located(make(gast.Break), origin)


def continue_(origin=None) -> gast.Continue:
    return located(make(gast.Continue), origin)


def module(body) -> gast.Module:
    """A module of the statements `body` (themselves): what a walk over a block may start from."""
    return make(gast.Module, body=body, type_ignores=[])


def comment(text: str, origin=None) -> gast.Expr:
    """A comment line, carried as a marked string until lower/emit.py renders it."""
    node = make(gast.Expr, value=make(gast.Constant, value=text, kind="comment"))
    return located(node, origin)


def is_comment(node) -> bool:
    return (isinstance(node, gast.Expr) and isinstance(node.value, gast.Constant)
            and node.value.kind == "comment")


def parameter(identifier: str) -> gast.Name:
    """A function parameter's name node (gast's Param context)."""
    node = name(identifier)
    node.ctx = make(gast.Param)
    return node


def function(fname: str, args, body, origin=None) -> gast.FunctionDef:
    arguments = make(gast.arguments, args=[parameter(a) for a in args], posonlyargs=[],
                     vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None, defaults=[])
    node = make(gast.FunctionDef, name=fname, args=arguments, body=list(body), decorator_list=[],
                returns=None, type_comment=None, type_params=[])
    return located(node, origin)


# calls whose result may be (a view of) their first argument's array
_VIEWING_CALLS = frozenset({"np.transpose", "np.reshape", "np.ravel", "np.expand_dims", "np.squeeze",
                            "np.swapaxes", "np.moveaxis", "np.asarray", "np.ascontiguousarray", "np.atleast_1d",
                            "np.atleast_2d", "np.atleast_3d", "np.diagonal", "np.flip"})


def array_named(value):
    """The name whose array `value` may be, or view (`x`, `x[1:3]`, `x.T`, np.reshape(x, ...)),
    where that is all it is; None for a new array. Binding it makes an alias: an in-place
    write through either name would change both."""
    while True:
        kind = type(value)
        if kind is gast.Name:
            return value.id
        if kind is gast.Subscript or kind is gast.Attribute and value.attr == "T":
            value = value.value
        elif kind is gast.Call and value.args and dotted(value.func) in _VIEWING_CALLS:
            value = value.args[0]
        else:
            return None


def memory_groups(stmts) -> dict:
    """name -> the names that may share its array (itself included): every assignment of a
    view or an alias (array_named) joins its target with what it views, anywhere under
    `stmts`, in any order (flow-insensitive). Names in no such assignment are left out."""
    parent = {}

    def find(name):
        while parent.get(name, name) != name:
            name = parent[name]
        return name
    for stmt in statements(stmts):
        if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name:
            base = array_named(stmt.value)
            if base is not None:
                a, b = find(stmt.targets[0].id), find(base)
                parent.setdefault(a, a)
                parent.setdefault(b, b)
                if a != b:
                    parent[a] = b
    groups = {}
    for name in parent:
        groups.setdefault(find(name), set()).add(name)
    return {name: group for group in groups.values() for name in group}


def is_ufunc_call(call) -> bool:
    """`np.<ufunc>(a, b)` with positional operands only (an elementwise call)."""
    if type(call) is not gast.Call or call.keywords:
        return False
    name = dotted(call.func)
    if not name.startswith("np.") or name.count(".") != 1:
        return False
    import numpy as np
    return isinstance(getattr(np, name[3:], None), np.ufunc)


def located(node, origin):
    """Give a generated node the user position (`lineno`, `col_offset`) it derives from."""
    if origin is not None:
        known = origin.__dict__            # where getattr would look: no node class sets these
        into = node.__dict__
        into["lineno"] = known.get("lineno")
        into["col_offset"] = known.get("col_offset", 0)
        for annotation in annotations.LOCATION:      # source_text, source_file
            if annotation in known:
                into[annotation] = known[annotation]
    return node


def dotted(node) -> str:
    """`math.sin` for Attribute(Name(math), sin); "" for anything else."""
    if isinstance(node, gast.Name):
        return node.id
    if isinstance(node, gast.Attribute):
        inner = dotted(node.value)
        return f"{inner}.{node.attr}" if inner else ""
    return ""


def scaled(factor, value):
    """factor * value, skipping the multiplication by +-1 (a partial times a sensitivity)."""
    if isinstance(factor, gast.Constant) and factor.value == 1.0:
        return value
    if isinstance(factor, gast.Constant) and factor.value == -1.0:
        return neg(value)
    return binop(factor, "*", value)


def summed(terms):
    """terms[0] + terms[1] + ... (copies), 0 for none."""
    if not terms:
        return const(0)
    total = copy.deepcopy(terms[0])
    for term in terms[1:]:
        total = binop(total, "+", copy.deepcopy(term))
    return total


def walk(node):
    """Every node under `node`, itself first, in gast.walk's (breadth-first) order; a third
    faster, which counts since every optimizer pass walks the whole adjoint."""
    todo = [node]                     # a queue read in place as it grows: no deque, no pops
    push, node_type = todo.append, gast.AST
    for node in todo:
        for field in node._fields:        # (push_children, written out: a call per node cost)
            value = getattr(node, field, None)
            if isinstance(value, node_type):
                push(value)
            elif isinstance(value, list):
                for item in value:
                    if isinstance(item, node_type):
                        push(item)
        yield node


def every_node(root) -> list:
    """The nodes under `root`, itself included, less contexts, operators and what holds no
    node: what walk(root) yields of them, in no promised order (for the searches that only
    count or collect; walk's breadth-first queue also visits every context and operator)."""
    found = [root]
    append, node_type, known = found.append, gast.AST, _CHILD_FIELDS
    for node in found:                       # (the list grows as it is read)
        kind = type(node)
        fields = known.get(kind)
        for field in child_fields(kind) if fields is None else fields:
            value = getattr(node, field, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, node_type):
                        append(item)
            elif isinstance(value, node_type):
                append(value)
    return found


def push_children(node, fields, push):
    """push(child) for each node held in `fields` of `node`, directly or in a list."""
    for field in fields:
        value = getattr(node, field, None)
        if isinstance(value, gast.AST):
            push(value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, gast.AST):
                    push(item)


def clone(node, memo=None):
    """copy.deepcopy(node), about six times faster on gast trees: nodes and lists are copied
    here (a node met twice is copied once, as deepcopy does), every other attribute value
    (positions, flags, a set of names) by copy.deepcopy. The original must stay alive
    meanwhile (it does: the caller holds it), since the memo is keyed by id."""
    return _clone(node, {} if memo is None else memo)


def _clone(node, memo):
    done = memo.get(id(node))
    if done is not None:
        return done
    kind = type(node)
    if kind is list:
        new = memo[id(node)] = []
        append = new.append
        for item in node:
            append(item if type(item) in _IMMUTABLE else _clone(item, memo))
    elif isinstance(node, gast.AST):
        new = memo[id(node)] = kind.__new__(kind)
        attributes = new.__dict__
        for key, value in node.__dict__.items():
            attributes[key] = value if type(value) in _IMMUTABLE else _clone(value, memo)
    elif kind is types.MethodType:       # a callee such as scipy.stats.norm.logpdf: deepcopy
        return node                      # would copy its object, and the rule table keys on it
    else:
        return copy.deepcopy(node, memo)
    return new


_IMMUTABLE = frozenset((str, int, float, bool, type(None)))


def statements(stmts):
    """Every statement in `stmts` and in their blocks, breadth-first as gast.walk meets them
    (statements nest only in blocks, so no expression is visited)."""
    todo = list(stmts)            # a queue read in place as it grows, no pops
    extend, known = todo.extend, _BLOCK_FIELDS
    for stmt in todo:
        fields = known.get(type(stmt))
        for block in _blocks_of(type(stmt)) if fields is None else fields:
            extend(getattr(stmt, block, ()))
        yield stmt


def _blocks_of(kind):
    fields = _BLOCK_FIELDS.get(kind)
    if fields is None:
        fields = _BLOCK_FIELDS[kind] = tuple(f for f in ("body", "orelse", "handlers", "finalbody")
                                             if f in kind._fields)
    return fields


_BLOCK_FIELDS: dict = {}                     # statement type -> its fields holding statements


def blocks(fn):
    """Every statement list of a function: its body and each compound statement's blocks."""
    yield fn.body
    todo = [fn.body]              # the blocks, breadth-first: statements(fn.body)'s order
    compound = (gast.If, gast.For, gast.While)
    for block in todo:
        for node in block:
            if type(node) in compound:
                yield node.body
                yield node.orelse
                todo += (node.body, node.orelse)


def written_names(node) -> list[str]:
    """Names one assignment (or a for loop's target) writes; `y[i] = e` writes y."""
    if isinstance(node, gast.Assign):
        target = node.targets[0]
        if isinstance(target, gast.Name):
            return [target.id] if isinstance(target.ctx, gast.Store) else []
        return [n.id for n in walk(target) if isinstance(n, gast.Name)
                and isinstance(n.ctx, gast.Store)]
    if isinstance(node, gast.AugAssign):
        target = node.target
        return [target.id if isinstance(target, gast.Name) else target.value.id]
    if isinstance(node, gast.For):
        return [node.target.id]
    return []


def written_by(stmt) -> set[str]:
    """Names a statement, or any statement inside it, writes."""
    if not _blocks_of(type(stmt)):
        return set(written_names(stmt))
    return {name for node in statements([stmt]) for name in written_names(node)}


def names_in(node) -> set[str]:
    """Every identifier read or written under `node` (names_by_context(node)[0], the
    identifiers collected as _names_under's walk meets them)."""
    every = set()
    todo = [node]
    pop, push, extend, add = todo.pop, todo.append, todo.extend, every.add
    name_kind, fields_of = gast.Name, _CHILD_FIELDS
    while todo:
        node = pop()
        kind = type(node)
        if kind is name_kind:
            add(node.id)
            if node.annotation is None:
                continue
        fields = fields_of.get(kind)
        for field in child_fields(kind) if fields is None else fields:
            value = getattr(node, field, None)
            if type(value) is list:
                extend(value)
            elif value is not None:
                push(value)
    return every


def names_by_context(node) -> tuple[set[str], set[str]]:
    """(every identifier under `node`, those stored or deleted there, parameters not)."""
    every, stored, writes = set(), set(), (gast.Store, gast.Del)
    for name_node in _names_under(node):
        every.add(name_node.id)
        if type(name_node.ctx) in writes:
            stored.add(name_node.id)
    return every, stored


def loads_in(node) -> set[str]:
    """The names loaded under `node` (the optimizer asks this of every statement, every
    round: a search that skips contexts and operators, not a full walk)."""
    return set(load_counts(node))


def load_counts(node) -> dict[str, int]:
    """name -> how many times it is loaded under `node`."""
    counts: dict = {}
    load = gast.Load
    for name_node in _names_under(node):
        if type(name_node.ctx) is load:
            counts[name_node.id] = counts.get(name_node.id, 0) + 1
    return counts


def _names_under(node) -> list:
    """The Name nodes under `node`, in the order of a search that skips contexts, operators
    and strings (the front end asks it of whole functions, the optimizer of each statement)."""
    found = []
    todo = [node]
    pop, push, extend, add = todo.pop, todo.append, todo.extend, found.append
    name_kind, fields_of = gast.Name, _CHILD_FIELDS
    while todo:
        node = pop()
        kind = type(node)
        if kind is name_kind:
            add(node)
            if node.annotation is None:
                continue
        fields = fields_of.get(kind)
        for field in child_fields(kind) if fields is None else fields:
            value = getattr(node, field, None)
            if type(value) is list:
                extend(value)
            elif value is not None:
                push(value)
    return found


def loads_any(node, wanted) -> bool:
    """Whether `node` loads a name for which wanted(name) is true: load_counts(node)'s walk,
    stopped at the first such name (printing a module asks whether it uses `math`)."""
    todo = [node]
    pop, push, extend = todo.pop, todo.append, todo.extend
    name_kind, load = gast.Name, gast.Load
    while todo:
        node = pop()
        kind = type(node)
        if kind is name_kind:
            if type(node.ctx) is load and wanted(node.id):
                return True
            if node.annotation is None:
                continue
        for field in child_fields(kind):
            value = getattr(node, field, None)
            if type(value) is list:
                extend(value)
            elif value is not None:
                push(value)
    return False


def with_loads_replaced(node, mapping):
    """`node` with every loaded Name whose id is in `mapping` replaced by mapping[id] (the
    same node, shared: the optimizer changes no node in place); only the nodes and lists on
    the way to a replaced Name are copied, the rest is shared with `node`, which is
    unchanged (returned itself when nothing is replaced)."""
    kind = type(node)
    if kind is gast.Name:
        return mapping.get(node.id, node) if type(node.ctx) is gast.Load else node
    new = None
    for field in child_fields(kind):
        value = getattr(node, field, None)
        if isinstance(value, gast.AST):
            replaced = with_loads_replaced(value, mapping)
        elif isinstance(value, list):
            replaced = [with_loads_replaced(item, mapping) if isinstance(item, gast.AST) else item
                        for item in value]
            if all(a is b for a, b in zip(replaced, value)):
                replaced = value
        else:
            continue
        if replaced is not value:
            new = new or copy.copy(node)
            setattr(new, field, replaced)
    return node if new is None else new


def with_fresh_calls(node):
    """`node` with every Call under it, and every node and list on the way to one, a shallow
    copy (the rest shared): what a pass that rewrites calls in place may then change without
    reaching a tree that shares the rest."""
    return _fresh_calls(node) or node


def _fresh_calls(node):
    """with_fresh_calls(node), or None where no Call is under it."""
    kind = type(node)
    new = None
    for field in child_fields(kind):
        value = getattr(node, field, None)
        if type(value) is list:
            fresh = [_fresh_calls(item) if isinstance(item, gast.AST) else None for item in value]
            if kind is gast.Call or any(item is not None for item in fresh):
                new = new or copy.copy(node)
                setattr(new, field, [item if copied is None else copied for copied, item in zip(fresh, value)])
        elif isinstance(value, gast.AST):
            fresh = _fresh_calls(value)
            if fresh is not None:
                new = new or copy.copy(node)
                setattr(new, field, fresh)
    return new


def child_fields(kind):
    """The fields of a node type that may hold nodes: not contexts, operators or strings, and
    none of a constant's or of anything not a node (a str met in a list)."""
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        leaf = kind is gast.Constant or not issubclass(kind, gast.AST)
        fields = _CHILD_FIELDS[kind] = () if leaf else tuple(f for f in kind._fields if f not in _LEAF_FIELDS)
    return fields


# expression contexts, operators and the fields holding strings hold no nodes
_LEAF_FIELDS = ("ctx", "op", "ops", "id", "attr", "arg", "kind", "type_comment")
_CHILD_FIELDS: dict = {}                     # node type -> its fields that may hold nodes (child_fields)


def integer_value(node):
    """The integer a node writes (`2`, `-1`), else None."""
    if type(node) is gast.Constant and type(node.value) is int:
        return node.value
    if type(node) is gast.UnaryOp and type(node.op) is gast.USub:
        inner = integer_value(node.operand)
        return None if inner is None else -inner
    return None
