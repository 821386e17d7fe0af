"""Tuples and small lists: normalize replaces each by its elements, so no later stage sees one.

    def rhs(x, y):                           k1x = a * x - b * x * y       (the helper inlined)
        return a * x - b * x * y, -c * y     k1y = -c * y
    k1x, k1y = rhs(x, y)              ->
    v = [1.0, a, 3.0]                        v_0 = 1.0; v_1 = a; v_2 = 3.0
    w = v[1] * v[2]                          w = v_1 * v_2

A name bound to a tuple or list gets one variable per element (`v_0`, `v_1`, ...: scalar
replacement), a helper's `return h, c` hands its elements to the caller, and `a, b = ...`
assigns them one by one (simultaneously: `a, b = b, a + b` and `x, y = y, x` read the old
values). Why not arrays: a tuple may mix an array with a number (`return hidden, cell`),
numba types a tuple by its elements anyway, and element variables keep the analysis, both
transformations and the emitted gradient (`s_v_1`) as they are for numbers and arrays.

Where the program needs the whole sequence as one value it becomes an array there
("materialized"): an index known only at run time (`v[i]`), a numpy function of it
(`np.sum([1.0, a, 2.0])`), a list index (`x[[0, 2]]`): `np.array((a, b, c))`, of a tuple,
which numba compiles about twice as fast as of a list. A nested literal in np.array becomes
its rows stacked (`np.stack((np.array((a, b)), np.array((c, d))))`), a constant one a nested
tuple. The sequences np.array/np.stack/np.concatenate take and shapes (`np.zeros((n, m))`)
stay literal, as written. What stays unsupported is rejected where it is written: a list that grows
(`append`, `insert`: validate.py), arithmetic on a sequence (`[a] * 3`, `v + w`), one name
holding sequences of different lengths or a sequence here and a number there.

The rules are flow-insensitive, as Python's own scoping is: a name is a sequence of one
length everywhere in its function, or never one.
"""

from __future__ import annotations

import dataclasses

import gast
import numpy as np

from ..errors import AdjointError
from ..ir import annotations, nodes


@dataclasses.dataclass
class Aggregate:
    """A tuple or list value during normalization: its elements, each an atom or an Aggregate."""
    kind: str                   # "tuple" or "list" (for messages)
    elts: list
    origin: object = None       # the expression it came from (for errors)

    def describe(self) -> str:
        return f"a {self.kind} of {len(self.elts)} values"


# calls whose argument at this position is a shape or a list of axes, never data
SHAPE_ARGUMENTS = {(np.reshape, 1), (np.broadcast_to, 1), (np.transpose, 1), (np.tile, 1),
                   (np.expand_dims, 1), (np.linalg.norm, 2)} | {
    (f, 1) for f in (np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.var, np.std,
                     np.all, np.any)}                     # np.sum(x, (0, 1))


class Aggregates:
    """Mixin of the normalizer (normalize._Normalizer): `self.aggregates` (emitted name ->
    its layout, an Aggregate of element names) and `self.plain` (names bound to a number or an
    array) are shared by the function and every helper inlined into it."""

    # values -------------------------------------------------------------------------------

    def value(self, expr, stmt):
        """(prelude, an atom or an Aggregate) computing `expr`."""
        pre, rhs = self.rhs(expr, stmt)
        if isinstance(rhs, Aggregate):
            return pre, rhs
        p, atom = self.to_atom(rhs, stmt)
        return pre + p, atom

    def literal(self, expr, stmt):
        """`(a, b)`, `[1.0, x * y]`: the elements' values, left to right."""
        pre, elts = [], []
        for elt in expr.elts:
            if isinstance(elt, gast.Starred):
                raise AdjointError(f"`*{nodes.dotted(elt.value) or '...'}` inside a tuple or list is not supported",
                                   location=self.where(elt), hint="write the elements out one by one")
            p, v = self.value(elt, stmt)
            pre += p
            elts.append(v)
        return pre, Aggregate("list" if isinstance(expr, gast.List) else "tuple", elts, expr)

    def aggregate_named(self, identifier, origin):
        """The value of a name bound to a sequence, or None."""
        layout = self.aggregates.get(identifier)
        return None if layout is None else _copied(layout, origin)

    def element(self, aggregate, index, stmt, origin):
        """`v[k]`, `v[a:b]` of a sequence: an element (atom or Aggregate) or a part, where the
        index is a constant; else the sequence made an array, indexed."""
        if isinstance(index, gast.Constant) and type(index.value) is int:
            n = len(aggregate.elts)
            if not -n <= index.value < n:
                raise AdjointError(f"index {index.value} is out of range for {aggregate.describe()}",
                                   location=self.where(origin))
            return [], aggregate.elts[index.value]
        if isinstance(index, gast.Slice) and all(
                b is None or isinstance(b, gast.Constant) and type(b.value) is int
                for b in (index.lower, index.upper, index.step)):
            bounds = [None if b is None else b.value for b in (index.lower, index.upper, index.step)]
            return [], Aggregate(aggregate.kind, aggregate.elts[slice(*bounds)], origin)
        pre, array = self.materialize(aggregate, stmt)
        return pre, nodes.subscript(array, index)

    def materialize(self, aggregate, stmt):
        """(prelude, a name of the array holding the sequence)."""
        pre, array = self.materialized(aggregate, stmt)
        p, atom = self.to_atom(array, stmt)
        return pre + p, atom

    def materialized(self, aggregate, stmt):
        """(prelude, the call making the sequence an array): np.array([...]) of atoms, a
        constant nested literal as written, other nested ones as their rows stacked."""
        # (tuples, not lists: numba compiles np.array of a tuple about twice as fast)
        if all(not isinstance(e, Aggregate) for e in aggregate.elts):
            return [], _numpy_call(np.array, [nodes.tuple_of(aggregate.elts)])
        if _constant(aggregate):
            return [], _numpy_call(np.array, [_literal(aggregate, "tuple")])
        pre, rows = [], []
        for elt in aggregate.elts:
            p, row = self.materialize(elt, stmt) if isinstance(elt, Aggregate) else ([], elt)
            pre += p
            rows.append(row)
        return pre, _numpy_call(np.stack, [nodes.tuple_of(rows)])

    def call_argument(self, callee, position, value, stmt):
        """A sequence passed to a function the rule table knows (`position`: the argument's
        index, or its keyword): literal where it takes a sequence or a shape, else made an
        array (np.sum([a, b]))."""
        if not isinstance(value, Aggregate):
            return [], value
        from ..primitives import rules, table
        record = table.record_of(callee)
        if callee is not np.array and rules.is_differentiable(callee) and rules.lookup_parts(callee) is None \
                and not (record is not None and record.allocates) and (callee, position) not in SHAPE_ARGUMENTS \
                and not isinstance(position, str):           # (a keyword: axis=(0, 1))
            return self.materialize(value, stmt)
        pre, elts = [], []
        for elt in value.elts:                    # np.concatenate(([a, b], x)): parts are arrays
            p, a = self.materialize(elt, stmt) if isinstance(elt, Aggregate) else ([], elt)
            pre += p
            elts.append(a)
        return pre, nodes.make(gast.List if value.kind == "list" else gast.Tuple, elts=elts,
                               ctx=nodes.make(gast.Load))

    def not_a_sequence(self, aggregate, stmt):
        """The error for a sequence used as a number or an array."""
        where = aggregate.origin if getattr(aggregate.origin, "lineno", None) is not None else stmt
        raise AdjointError(f"{aggregate.describe()} is used here as a number or an array",
                           location=self.where(where),
                           hint="index it (v[0]), unpack it (a, b = v), or make it an array with "
                                "np.array([...]) for arithmetic")

    # binding ------------------------------------------------------------------------------

    def bind_aggregate(self, name, aggregate, stmt):
        """`name = (a, b)`: one variable per element, assigned simultaneously."""
        origin = aggregate.origin
        if aggregate.kind == "list" and isinstance(origin, gast.Name) \
                and self.changed_in_place() & {name, self.rename_id(origin.id)}:
            user = self.parsed.user(name)
            raise AdjointError(f"`{user}` and `{origin.id}` are one list here, and the function changes "
                               f"it in place, which adjoint cannot follow through two names",
                               location=self.where(stmt),
                               hint=f"make `{user}` a new list of the same elements: "
                                    f"{user} = [{origin.id}[0], {origin.id}[1], ...], or use arrays")
        layout = self.aggregates.get(name)
        if layout is None:
            if name in self.plain and not self.straight():
                self.mixed(name, aggregate, stmt)
            self.plain.discard(name)
            layout = self.aggregates[name] = self.layout(name, aggregate)
        elif _lengths(layout) != _lengths(aggregate):
            if not self.straight():
                raise AdjointError(f"`{self.parsed.user(name)}` is {aggregate.describe()} here and "
                                   f"{layout.describe()} elsewhere", location=self.where(stmt),
                                   hint="give each sequence a name of its own")
            layout = self.aggregates[name] = self.layout(name, aggregate, layout)
        return self.simultaneous(list(zip(_leaves(layout), _leaves(aggregate))), stmt)

    def layout(self, name, aggregate, before=None):
        """Element variables for `name`; those of the layout `before` where they fit."""
        elts = []
        for k, elt in enumerate(aggregate.elts):
            old = before.elts[k] if before is not None and k < len(before.elts) else None
            if isinstance(elt, Aggregate):
                elts.append(self.layout(f"{name}_{k}", elt, old if isinstance(old, Aggregate) else None))
            elif isinstance(old, gast.Name):
                elts.append(nodes.name(old.id))
            else:
                elts.append(nodes.name(self.namer.fresh(f"{name}_{k}")))
        return Aggregate(aggregate.kind, elts)

    def changed_in_place(self) -> set:
        """The emitted names whose elements the function writes (`v[0] = e`, `v[0] += e`) or
        whose list methods it calls (`v.append(e)`)."""
        if self.in_place is None:
            self.in_place = set()
            for node in gast.walk(self.parsed.tree):
                target = node.value if isinstance(node, gast.Subscript) and isinstance(node.ctx, gast.Store) \
                    else node.func.value if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) \
                    and node.func.attr in ("append", "insert", "extend", "pop") else None
                if isinstance(target, gast.Name):
                    self.in_place.add(self.rename_id(target.id))
        return self.in_place

    def straight(self) -> bool:
        """In the function's own body, outside loops and branches: a name may change from a
        sequence to another length or to a number there, as each line runs once, in order."""
        return self.depth == 1

    def bind_plain(self, name, stmt):
        """`name = <a number or an array>`: not a name of a sequence."""
        if name in self.aggregates:
            if not self.straight():
                self.mixed(name, self.aggregates[name], stmt)
            del self.aggregates[name]
        self.plain.add(name)

    # a list as a stack, in straight-line code: stack.append(a), a = stack.pop()

    def list_method(self, call):
        """(the list's emitted name, the method) of `v.append(e)`, `v.pop()`, ..., else None."""
        func = call.func
        if isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name) \
                and func.attr in ("append", "insert", "pop", "extend") \
                and not annotations.has(call, "callee"):
            return self.rename_id(func.value.id), func.attr
        return None

    def listed(self, call, stmt):
        """The layout of the list a method changes, where it may change (else an error)."""
        name, method = self.list_method(call)
        layout = self.aggregates.get(name)
        owner = call.func.value.id
        if layout is None or not self.straight() or call.keywords:
            raise AdjointError(f"`{owner}.{method}(...)` is supported only on a list, outside loops "
                               f"and branches, or to grow a list in a loop",
                               location=self.where(call),
                               hint=f"preallocate an array and write its elements: {owner} = np.zeros(n), "
                                    f"then {owner}[k] = ...")
        return name, method, layout

    def changed_list(self, call, stmt):
        """`v.append(e)`, `v.insert(k, e)`, `v.extend(w)`, `v.pop()` as statements."""
        name, method, layout = self.listed(call, stmt)
        elts = list(_copied(layout, None).elts)
        pre = []
        if method == "pop":
            p, _dropped = self.popped(call, stmt)
            return p
        if method == "append" and len(call.args) == 1:
            pre, value = self.value(call.args[0], stmt)
            elts.append(value)
        elif method == "insert" and len(call.args) == 2:
            pre, at = self.value(call.args[0], stmt)
            p, value = self.value(call.args[1], stmt)
            pre += p
            if not (isinstance(at, gast.Constant) and type(at.value) is int):
                raise AdjointError(f"`{call.func.value.id}.insert(...)` needs a constant position here",
                                   location=self.where(call), hint="insert at a number written out: v.insert(0, e)")
            elts.insert(at.value, value)
        elif method == "extend" and len(call.args) == 1:
            pre, value = self.value(call.args[0], stmt)
            if not isinstance(value, Aggregate):
                self.not_a_sequence_error(call, stmt)
            elts += value.elts
        else:
            raise AdjointError(f"`{call.func.value.id}.{method}(...)` with these arguments is not supported",
                               location=self.where(call))
        return pre + self.bind_aggregate(name, Aggregate(layout.kind, elts, call), stmt)

    def not_a_sequence_error(self, call, stmt):
        raise AdjointError("`extend` takes a list or a tuple here", location=self.where(call),
                           hint="extend by a list written out: v.extend([a, b])")

    def popped(self, call, stmt):
        """`v.pop()`, `v.pop(k)`: (prelude, the element), the list one element shorter."""
        name, _method, layout = self.listed(call, stmt)
        pre, at = ([], nodes.const(-1)) if not call.args else self.value(call.args[0], stmt)
        n = len(layout.elts)
        if not (isinstance(at, gast.Constant) and type(at.value) is int and -n <= at.value < n):
            raise AdjointError(f"`{call.func.value.id}.pop(...)` needs a constant position within the list here",
                               location=self.where(call), hint="pop the last element: v.pop()")
        element = layout.elts[at.value]
        if isinstance(element, Aggregate):
            raise AdjointError("popping a list out of a list is not supported", location=self.where(call),
                               hint="keep the inner lists in names of their own")
        remaining = list(layout.elts)
        del remaining[at.value]
        self.aggregates[name] = Aggregate(layout.kind, remaining)   # the element keeps its variable
        return pre, nodes.name(element.id)

    def mixed(self, name, aggregate, stmt):
        raise AdjointError(f"`{self.parsed.user(name)}` is {aggregate.describe()} in one place and "
                           f"a number or an array in another", location=self.where(stmt),
                           hint="give the sequence a name of its own")

    def simultaneous(self, pairs, stmt):
        """name_k = atom_k for all k, as one assignment: a value another pair assigns first
        is copied before."""
        first = {}
        for k, (target, _atom) in enumerate(pairs):
            first.setdefault(target.id, k)
        copies, assigns = [], []
        for k, (target, atom) in enumerate(pairs):
            if isinstance(atom, gast.Name) and atom.id == target.id:
                continue
            if isinstance(atom, gast.Name) and first.get(atom.id, k) < k:
                temp = self.namer.temp()
                copies.append(nodes.assign(temp, atom, stmt))
                atom = nodes.name(temp)
            assigns.append(nodes.assign(target.id, atom, stmt))
        return copies + assigns

    def unpack(self, target, value, stmt):
        """`a, (b, c), x[i] = <value>`: each target assigned its element, left to right, after
        every element has been computed."""
        if not isinstance(value, Aggregate):
            return self.unpack_array(target, value, stmt)
        if len(target.elts) != len(value.elts):
            raise AdjointError(f"cannot unpack {value.describe()} into {len(target.elts)} targets",
                               location=self.where(stmt))
        pairs = list(zip(target.elts, value.elts))
        stored = [self.stored_by(t) for t in target.elts]
        copies, out = [], []
        for k, (t, v) in enumerate(pairs):
            frozen = []
            for leaf in ([v] if not isinstance(v, Aggregate) else _leaves(v)):
                if isinstance(leaf, gast.Name) and any(leaf.id in s for s in stored[:k]):
                    temp = self.namer.temp()
                    copies.append(nodes.assign(temp, leaf, stmt))
                    leaf = nodes.name(temp)
                frozen.append(leaf)
            pairs[k] = (t, _rebuilt(v, iter(frozen)) if isinstance(v, Aggregate) else frozen[0])
        for t, v in pairs:
            out += self.assign_value(t, v, stmt)
        return copies + out

    def unpack_array(self, target, atom, stmt):
        """`a, b = x` of an array (or a number: numba's error): the normalized unpacking, into
        temporaries first where a target is no plain name."""
        if all(isinstance(e, gast.Name) and self.rename_id(e.id) not in self.aggregates for e in target.elts):
            names = [self.rename_id(e.id) for e in target.elts]
            for name in names:
                self.plain.add(name)
            return [nodes.located(nodes.assign_to(nodes.tuple_(names, store=True), atom), stmt)]
        temps = [self.namer.temp() for _ in target.elts]
        out = [nodes.located(nodes.assign_to(nodes.tuple_(temps, store=True), atom), stmt)]
        for t, temp in zip(target.elts, temps):
            out += self.assign_value(t, nodes.name(temp), stmt)
        return out

    def assign_value(self, target, value, stmt):
        """`target = value` of a value already computed (an atom or an Aggregate)."""
        if isinstance(target, gast.Tuple):
            return self.unpack(target, value, stmt)
        if isinstance(target, gast.Starred):
            raise AdjointError("a starred target (`*rest`) is not supported", location=self.where(target),
                               hint="unpack each element into a name of its own")
        at, stored = self.target(target, stmt)
        if isinstance(value, Aggregate):
            return at + self.assign_aggregate(stored, value, stmt)
        if isinstance(stored, gast.Name):
            self.bind_plain(stored.id, stmt)
            if isinstance(value, gast.Name) and value.id == stored.id:
                return at
        return at + [nodes.assign(stored, value, stmt)]

    def assign_aggregate(self, stored, value, stmt):
        """`v = (a, b)` (element variables), `x[i] = (a, b)` (a row: made an array)."""
        if isinstance(stored, gast.Name):
            return self.bind_aggregate(stored.id, value, stmt)
        pre, row = self.materialize(value, stmt)
        return pre + [nodes.assign(stored, row, stmt)]

    def stored_by(self, target) -> set:
        """The emitted names an assignment to `target` rebinds (element variables included)."""
        if isinstance(target, gast.Tuple):
            return set().union(*(self.stored_by(e) for e in target.elts))
        if isinstance(target, gast.Name):
            name = self.rename_id(target.id)
            layout = self.aggregates.get(name)
            return {name} if layout is None else {leaf.id for leaf in _leaves(layout)
                                                  if isinstance(leaf, gast.Name)}
        if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
            return {self.rename_id(target.value.id)}
        return set()

    def element_target(self, target):
        """`v[k] = ...` into a list bound to a name: the element's variable; None if `v` is no
        sequence."""
        layout = self.aggregates.get(self.rename_id(target.value.id))
        if layout is None:
            return None
        index = target.slice
        if isinstance(index, gast.UnaryOp) and isinstance(index.op, gast.USub) \
                and isinstance(index.operand, gast.Constant):
            index = nodes.const(-index.operand.value)
        n = len(layout.elts)
        if not (isinstance(index, gast.Constant) and type(index.value) is int and -n <= index.value < n):
            raise AdjointError(f"`{target.value.id}` is {layout.describe()}: an element written must "
                               f"have a constant index in range", location=self.where(target),
                               hint=f"make it an array to write at any index: "
                                    f"{target.value.id} = np.array([...])")
        elt = layout.elts[index.value]
        if isinstance(elt, Aggregate):
            raise AdjointError("writing a row of a nested list is not supported",
                               location=self.where(target), hint="make it an array: np.array([[...], ...])")
        return nodes.name(elt.id, store=True)

    def returned(self, value, stmt):
        """`return (a, b)` of a helper: a Return of the literal tuple, which inline() takes
        apart (a function differentiated itself must return one value)."""
        if len(self.inlining) == 1:
            raise AdjointError(f"the function returns {value.describe()}; a gradient needs one number",
                               location=self.where(stmt),
                               hint="return the value to differentiate, or unpack the pair in the caller; "
                                    "for several outputs return an array, np.array([a, b]), which "
                                    "adjoint.jacobian differentiates")
        return nodes.return_(_literal(value), stmt)


def from_returned(node):
    """The Aggregate of a Return's literal tuple (see Aggregates.returned), or None."""
    if not isinstance(node, gast.Tuple):
        return None
    return Aggregate("tuple", [from_returned(e) if isinstance(e, gast.Tuple) else e for e in node.elts])


def _numpy_call(callee, args):
    call = nodes.call({np.array: "np.array", np.stack: "np.stack"}[callee], args)
    annotations.set(call, "callee", callee)
    return call


def _literal(aggregate, kind=None):
    return nodes.make(gast.Tuple if (kind or aggregate.kind) == "tuple" else gast.List,
                      elts=[_literal(e, kind) if isinstance(e, Aggregate) else e for e in aggregate.elts],
                      ctx=nodes.make(gast.Load))


def _constant(aggregate) -> bool:
    return all(_constant(e) if isinstance(e, Aggregate) else isinstance(e, gast.Constant)
               for e in aggregate.elts)


def _copied(layout, origin):
    return Aggregate(layout.kind, [_copied(e, None) if isinstance(e, Aggregate) else nodes.clone(e)
                                   for e in layout.elts], origin)


def _leaves(aggregate):
    out = []
    for elt in aggregate.elts:
        out += _leaves(elt) if isinstance(elt, Aggregate) else [elt]
    return out


def _lengths(aggregate):
    return tuple(_lengths(e) if isinstance(e, Aggregate) else None for e in aggregate.elts)


def _rebuilt(aggregate, leaves):
    return Aggregate(aggregate.kind, [_rebuilt(e, leaves) if isinstance(e, Aggregate) else next(leaves)
                                      for e in aggregate.elts], aggregate.origin)



# lists grown in a loop ------------------------------------------------------------------------
#
#     returns = []                              returns_size = max(0, 0 - (T - 1))
#     for t in range(T - 1, -1, -1):     ->     returns = np.zeros(returns_size)
#         G = rewards[t] + gamma * G            returns_count = 0
#         returns.insert(0, G)                  for t in range(T - 1, -1, -1):
#     np.array(returns)                             G = rewards[t] + gamma * G
#                                                   returns_at = returns_size - 1 - returns_count
#                                                   returns[returns_at] = G
#                                                   returns_count = returns_count + 1
#                                               np.copy(returns)
#
# A list that starts empty and grows by `append(e)` or `insert(0, e)` in one `for ... in
# range(...)` loop (in its body or a branch of it, not in a loop inside it), and is not read
# inside that loop, is an array of the loop's trip count, written at a counter. A branch that
# may skip the growth leaves a shorter list: the array is cut to the counter after the loop.
# Elements are numbers (a list of arrays needs the shapes, which normalize does not know).


def _growth(stmt, name):
    """The value `name.append(e)` or `name.insert(0, e)` adds, and the method, else None."""
    if not (isinstance(stmt, gast.Expr) and isinstance(stmt.value, gast.Call)):
        return None
    call, func = stmt.value, stmt.value.func
    if not (isinstance(func, gast.Attribute) and isinstance(func.value, gast.Name)
            and func.value.id == name and not call.keywords):
        return None
    if func.attr == "append" and len(call.args) == 1:
        return "append", call.args[0]
    if func.attr == "insert" and len(call.args) == 2 and isinstance(call.args[0], gast.Constant) \
            and call.args[0].value == 0 and type(call.args[0].value) is int:
        return "insert", call.args[1]
    return None


def _grows_only(body, name, conditional=False):
    """(how: {"append"} or {"insert"}, whether some growth is conditional) where the loop body
    mentions `name` only to grow it, else None."""
    methods, skipped = set(), False
    for stmt in body:
        growth = _growth(stmt, name)
        if growth is not None:
            if name in _names_read(growth[1]):
                return None
            methods.add(growth[0])
            skipped = skipped or conditional
            continue
        if isinstance(stmt, gast.If):
            if name in _names_read(stmt.test):
                return None
            for branch in (stmt.body, stmt.orelse):
                inner = _grows_only(branch, name, True)
                if inner is None:
                    return None
                methods |= inner[0]
                skipped = skipped or inner[1]
            continue
        if name in _names_read(stmt):
            return None
    return methods, skipped


def _names_read(node) -> set:
    return {n.id for n in gast.walk(node) if isinstance(n, gast.Name)}


def _read_as_array(stmts, name) -> bool:
    """Whether every read of `name` in these statements means the same of an array as of a
    list: an argument of a numpy function or len, an element `v[k]` (not `v + w`, `v * 2`)."""
    read, allowed = [], set()
    for k, stmt in enumerate(stmts):    # up to a statement that rebinds it: `v = np.array(v)`
        rebinds = isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
            and stmt.targets[0].id == name
        aliased = isinstance(stmt, gast.Assign) and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name) \
            and isinstance(stmt.value, gast.Name) and stmt.value.id == name and not rebinds
        if aliased:                     # `logprobs = output`: the other name read likewise
            if stmt.targets[0].id in _names_read(nodes.module(stmts[:k])) or not _read_as_array(stmts[k + 1:],
                                                                                                stmt.targets[0].id):
                return False
            allowed.add(id(stmt.value))
        read.append(stmt.value if rebinds else stmt)
        if rebinds:
            break
    reads = []
    for node in (n for r in read for n in gast.walk(r)):
        if isinstance(node, gast.Call):
            callee = annotations.get(node, "callee")
            if callee in (len, sum) or (getattr(callee, "__module__", "") or "").startswith("numpy") \
                    and callee not in (np.vstack, np.hstack, np.concatenate):
                allowed.update(id(a) for a in node.args)
        elif isinstance(node, gast.Subscript):
            allowed.add(id(node.value))
        elif isinstance(node, gast.Name) and node.id == name and isinstance(node.ctx, gast.Load):
            reads.append(node)
    return all(id(n) in allowed for n in reads)


def _range_step(loop):
    """The constant step of a `for ... in range(...)` loop, else None."""
    it = loop.iter
    if not (isinstance(it, gast.Call) and annotations.get(it, "callee") is range and not it.keywords
            and 1 <= len(it.args) <= 3 and isinstance(loop.target, gast.Name)):
        return None
    if len(it.args) < 3:
        return 1
    step = it.args[2]
    if isinstance(step, gast.UnaryOp) and isinstance(step.op, gast.USub) and isinstance(step.operand, gast.Constant):
        step = nodes.const(-step.operand.value)
    if isinstance(step, gast.Constant) and type(step.value) is int and step.value != 0:
        return step.value
    return None


def grown_lists(body, any_loop=False) -> dict:
    """In one block: the index of each `v = []` rewritten -> (v, index of its loop, methods,
    conditional). `any_loop`: a `for` over anything may grow it (validate runs before the
    loops over arrays become loops over ranges)."""
    found = {}
    for k, stmt in enumerate(body):
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)
                and isinstance(stmt.value, gast.List)
                and not any(isinstance(e, gast.Starred) for e in stmt.value.elts)):
            continue
        name = stmt.targets[0].id
        if name in _names_read(stmt.value):
            continue
        for j in range(k + 1, len(body)):
            later = body[j]
            if isinstance(later, gast.For) and (any_loop or _range_step(later) is not None) \
                    and name not in _names_read(later.iter) and name not in _names_read(later.target):
                grows = _grows_only(later.body, name)
                if grows is not None and grows[0] and len(grows[0]) == 1 \
                        and (not stmt.value.elts or grows[0] == {"append"}) \
                        and _read_as_array(body[j + 1:], name):
                    found[k] = (name, j) + grows
                    break
            if name in _names_read(later):
                break
    return found


def growth_statements(body) -> set:
    """The ids of the `v.append(e)` / `v.insert(0, e)` statements grown_lists rewrites, in
    every block of `body` (for validate)."""
    ids = set()
    for k, (name, j, _methods, _skipped) in grown_lists(body, any_loop=True).items():
        stack = [body[j]]
        while stack:
            node = stack.pop()
            if _growth(node, name) is not None:
                ids.add(id(node))
            stack.extend(s for field in ("body", "orelse") for s in getattr(node, field, ()) or ()
                         if isinstance(s, gast.stmt))
    for stmt in body:
        for field in ("body", "orelse"):
            block = getattr(stmt, field, None)
            if isinstance(block, list) and block and isinstance(block[0], gast.stmt):
                ids |= growth_statements(block)
    return ids


class GrownLists:
    """Mixin of the normalizer: the rewrite above, of one block before it is normalized."""

    def with_grown_lists(self, body):
        found = grown_lists(body)
        if not found:
            return body
        body = list(body)
        starts, loops = {}, {}
        for k, (name, j, methods, skipped) in found.items():
            # the elements a list starts with (`ys = [y0]`), kept where it is made
            firsts = [self.namer.fresh(f"{name}_first") for _ in body[k].value.elts]
            starts[k] = [nodes.assign(f, e, body[k]) for f, e in zip(firsts, body[k].value.elts)]
            loops[j] = self.grown_loop(body[j], name, next(iter(methods)), skipped, body[k], firsts)
        out = []
        for k, stmt in enumerate(body):
            if k in loops:
                out += loops[k]
            elif k in starts:
                out += starts[k]
            else:
                out.append(_copy_not_array(stmt, {name for name, j, *_rest in found.values() if j < k}))
        return out

    def grown_loop(self, loop, name, method, skipped, origin, firsts=()):
        """The loop growing `name` (which starts with the elements held by `firsts`, each a
        number or an array of one shape) writing into an array of its final length."""
        size, count = self.namer.fresh(f"{name}_size"), self.namer.fresh(f"{name}_count")
        args = loop.iter.args
        lower, upper = (nodes.const(0), args[0]) if len(args) == 1 else (args[0], args[1])
        step = _range_step(loop)
        span = _difference(upper, lower) if step > 0 else _difference(lower, upper)
        if abs(step) != 1:
            span = nodes.binop(nodes.binop(span, "+", nodes.const(abs(step) - 1)), "//", nodes.const(abs(step)))
        trips = nodes.call("max", [nodes.const(0), span])
        annotations.set(trips, "callee", max)
        if firsts:                       # (n,) + np.shape(first): rows of the first's shape
            trips = nodes.binop(trips, "+", nodes.const(len(firsts)))
            shape = nodes.call("np.shape", [nodes.name(firsts[0])])
            annotations.set(shape, "callee", np.shape)
            zeros = nodes.call("np.zeros", [nodes.binop(nodes.tuple_of([nodes.name(size)]), "+", shape)])
        else:
            zeros = nodes.call("np.zeros", [nodes.name(size)])
        annotations.set(zeros, "callee", np.zeros)
        before = [nodes.assign(size, trips, origin), nodes.assign(name, zeros, origin)]
        before += [nodes.assign(nodes.subscript(name, nodes.const(k), store=True), nodes.name(f), origin)
                   for k, f in enumerate(firsts)]
        before.append(nodes.assign(count, len(firsts), origin))
        grown = nodes.clone(loop)
        grown.body = self.grown_body(grown.body, name, method, size, count)
        after = []
        if skipped:                 # cut to the elements written
            cut = nodes.slice_(upper=nodes.name(count)) if method == "append" else \
                nodes.slice_(lower=nodes.binop(nodes.name(size), "-", nodes.name(count)))
            after = [nodes.assign(name, nodes.subscript(name, cut), origin)]
        return before + [grown] + after

    def grown_body(self, body, name, method, size, count):
        out = []
        for stmt in body:
            growth = _growth(stmt, name)
            if growth is None:
                if isinstance(stmt, gast.If):
                    stmt.body = self.grown_body(stmt.body, name, method, size, count)
                    stmt.orelse = self.grown_body(stmt.orelse, name, method, size, count)
                out.append(stmt)
                continue
            if method == "append":
                at, index = [], nodes.name(count)
            else:
                position = self.namer.fresh(f"{name}_at")
                at = [nodes.assign(position, nodes.binop(nodes.binop(
                    nodes.name(size), "-", nodes.const(1)), "-", nodes.name(count)), stmt)]
                index = nodes.name(position)
            store = nodes.assign(nodes.subscript(name, index, store=True), growth[1], stmt)
            annotations.set(store, "grown_list", self.parsed.user(name))
            out += at + [store, nodes.assign(count, nodes.binop(nodes.name(count), "+", nodes.const(1)), stmt)]
        return out


def _copy_not_array(stmt, names):
    """`np.array(v)` (np.stack(v)) of a grown list, already an array, as `np.copy(v)`."""
    def converts(node):
        return isinstance(node, gast.Call) and annotations.get(node, "callee") in (np.array, np.asarray, np.stack) \
            and len(node.args) == 1 and not node.keywords and isinstance(node.args[0], gast.Name) \
            and node.args[0].id in names
    if not names or not any(converts(n) for n in gast.walk(stmt)):
        return stmt
    stmt = nodes.clone(stmt)
    for node in gast.walk(stmt):
        if converts(node):
            node.func = nodes.attribute("np.copy")
            annotations.set(node, "callee", np.copy)
    return stmt


def _difference(a, b):
    """`a - b`, written `a + 1` for b = -1 and `a` for b = 0."""
    if isinstance(b, gast.UnaryOp) and isinstance(b.op, gast.USub) and isinstance(b.operand, gast.Constant):
        return nodes.binop(nodes.clone(a), "+", nodes.clone(b.operand))
    if isinstance(b, gast.Constant) and b.value == 0:
        return nodes.clone(a)
    return nodes.binop(nodes.clone(a), "-", nodes.clone(b))
