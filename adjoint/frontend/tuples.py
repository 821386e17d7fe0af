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
SHAPE_ARGUMENTS = {(np.reshape, 1), (np.broadcast_to, 1), (np.transpose, 1), (np.tile, 1)}


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
        from ..primitives import rules, table
        if not isinstance(value, Aggregate):
            return [], value
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
        layout = self.aggregates.get(name)
        if layout is None:
            if name in self.plain:
                self.mixed(name, aggregate, stmt)
            layout = self.aggregates[name] = self.layout(name, aggregate)
        elif _lengths(layout) != _lengths(aggregate):
            raise AdjointError(f"`{self.parsed.user(name)}` is {aggregate.describe()} here and "
                               f"{layout.describe()} elsewhere", location=self.where(stmt),
                               hint="give each sequence a name of its own")
        return self.simultaneous(list(zip(_leaves(layout), _leaves(aggregate))), stmt)

    def layout(self, name, aggregate):
        elts = []
        for k, elt in enumerate(aggregate.elts):
            if isinstance(elt, Aggregate):
                elts.append(self.layout(f"{name}_{k}", elt))
            else:
                elts.append(nodes.name(self.namer.fresh(f"{name}_{k}")))
        return Aggregate(aggregate.kind, elts)

    def bind_plain(self, name, stmt):
        """`name = <a number or an array>`: not a name of a sequence."""
        if name in self.aggregates:
            self.mixed(name, self.aggregates[name], stmt)
        self.plain.add(name)

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
        stored = self.target(target)
        if isinstance(value, Aggregate):
            return self.assign_aggregate(stored, value, stmt)
        if isinstance(stored, gast.Name):
            self.bind_plain(stored.id, stmt)
            if isinstance(value, gast.Name) and value.id == stored.id:
                return []
        return [nodes.assign(stored, value, stmt)]

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
                               hint="return the value to differentiate; for several outputs return "
                                    "np.array([...]) and use adjoint.jacobian")
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

