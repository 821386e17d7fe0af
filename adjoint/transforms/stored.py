"""Which intermediates the forward loop keeps for its reverse loop, beyond the checkpoints:
the costly array intermediates (stored_intermediates), read back instead of replayed, and the
shape facts that choice rests on (_Invariance, _KeepsShape), which also tell tapes.py whether a
carried array may change shape (_shape_may_change: then its tape is flat). Separate from
tapes.py because it only reads the loop and decides; tapes.py builds what it decides.
"""

from __future__ import annotations

import gast

from .. import primitives
from ..analysis.activity import exposed_reads
from ..ir import annotations, nodes

COSTLY_CALLS = primitives.spelled("costly")      # np.dot, np.tanh, ...: the records flagged costly or numpy_loop
SHAPE_CHANGING = {"np.nonzero", "np.flatnonzero", "np.argwhere", "np.unique", "np.extract",
                  "np.compress", "np.trim_zeros"}
# calls whose result may have another shape than their first argument's (a carried array
# made by one keeps a flat checkpoint tape: _shape_may_change)
RESHAPING = SHAPE_CHANGING | {"np.concatenate", "np.append", "np.hstack", "np.vstack", "np.stack",
                              "np.delete", "np.insert", "np.resize", "np.reshape", "np.pad", "np.diff",
                              "np.outer", "np.kron", "np.convolve", "np.repeat", "np.tile"}


def stored_intermediates(loop, replay, backward, types, exposed=None):
    """The arrays a reverse loop reads that are costly to replay (a matrix product or a
    transcendental function of an array lies on the way to them) and that keep one shape
    in every iteration: the forward loop stores them, a row per iteration, and the replay
    reads the row instead (then drops what only led to them). Scalars are always replayed:
    recomputing one costs about what storing it would.

    Returns (stored, shaped): `shaped` are the loop's fixed-shape arrays whose shape or
    dtype the reverse reads; those reads are served from the first iteration's, so that
    the replay need not recompute an array to learn its shape. `exposed`: exposed_reads of
    the loop's body, where the caller knows it."""
    own = nodes.written_by(loop) - {loop.target.id}
    if nodes.loads_in(loop.iter) & own:
        return [], []
    definitions = {}
    for stmt in replay:
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            definitions.setdefault(stmt.targets[0].id, []).append(stmt)
    bindings = {}
    for node in nodes.statements([loop]):            # (only statements bind names)
        for name in nodes.written_names(node):
            bindings[name] = bindings.get(name, 0) + 1
    element_written = {n.targets[0].value.id for n in nodes.statements([loop]) if isinstance(n, gast.Assign)
                       and isinstance(n.targets[0], gast.Subscript)}
    single = {v for v, ds in definitions.items() if len(ds) == 1 and bindings.get(v) == 1}
    read_back = set().union(*map(nodes.loads_in, backward)) if backward else set()

    def costly(v, seen):
        if v in seen or v not in single:
            return False
        seen.add(v)
        value = definitions[v][0].value
        if any(isinstance(n, gast.BinOp) and isinstance(n.op, gast.MatMult)
               or isinstance(n, gast.Call) and nodes.dotted(n.func) in COSTLY_CALLS
               for n in nodes.walk(value)):
            return True
        return any(costly(u, seen) for u in nodes.loads_in(value) & own)

    # k varies; a name the loop carries holds at the first iteration what it had before it
    carried = (exposed_reads(loop.body) if exposed is None else exposed) & own
    invariant = _Invariance(definitions, single, own | {loop.target.id}, types, carried=carried)
    stored = sorted(v for v in (read_back & single) - element_written
                    if types.get(v) is not None and types[v].is_array and types[v].kind == "float"
                    and costly(v, set()) and invariant.shape_of_name(v))
    if not stored:
        return [], []
    described = {n.value.id for n in nodes.walk(nodes.module(replay + backward))
                 if isinstance(n, gast.Attribute) and n.attr in ("shape", "dtype")
                 and isinstance(n.value, gast.Name)}
    shaped = sorted(v for v in (described & single) - carried if invariant.shape_of_name(v)
                    and types.get(v) is not None and types[v].is_array)
    return stored, shaped


class _Invariance:
    """Which names a loop iteration computes with the same shape (arrays) or the same value
    (the integers that size, slice or reshape them) in every iteration."""

    def __init__(self, definitions, single, own, types, assumed=frozenset(), carried=frozenset()):
        self.definitions, self.single, self.own, self.types = definitions, single, own, types
        self.visiting = set()
        self.assumed = assumed                           # names taken to keep their shape
        self.carried = carried                           # names read before the iteration binds them

    def _defined(self, name, check):
        if name not in self.own or name in self.assumed:
            return True                                  # the loop does not change it
        if name in self.carried:
            # the first iteration reads the value from before the loop: one shape throughout
            # only where every binding keeps the shape it found; a value may change
            if check != self.shape:
                return False
            keeps = _KeepsShape(name, self.definitions, self.single, self.types)
            return name in self.definitions and all(keeps(d.value) for d in self.definitions[name])
        if name not in self.single or name in self.visiting:
            return False
        self.visiting.add(name)
        try:
            return check(self.definitions[name][0].value)
        finally:
            self.visiting.discard(name)

    def shape_of_name(self, name):
        return self._defined(name, self.shape)

    def value_of_name(self, name):
        return self._defined(name, self.value)

    def _is_array(self, name):
        kind = self.types.get(name)
        return kind is not None and kind.is_array

    def shape(self, expr) -> bool:
        """expr's shape is the same in every iteration."""
        if expr is None or isinstance(expr, gast.Constant):
            return True
        if isinstance(expr, gast.Name):
            if self._is_array(expr.id):
                return self.shape_of_name(expr.id)
            kind = self.types.get(expr.id)
            sized = kind is None or kind.kind != "float"   # an int may size the result
            return self.value_of_name(expr.id) if sized else True
        if isinstance(expr, gast.Subscript):
            index = expr.slice.elts if isinstance(expr.slice, gast.Tuple) else [expr.slice]
            for part in index:
                if isinstance(part, gast.Slice):
                    if not all(self.value(b) for b in (part.lower, part.upper, part.step)):
                        return False
                elif any(isinstance(n, gast.Name) and self._is_array(n.id) for n in nodes.walk(part)):
                    return False                         # a mask or an index array
            return self.shape(expr.value)
        if isinstance(expr, gast.Call):
            callee = nodes.dotted(expr.func)
            if callee in SHAPE_CHANGING or not callee.startswith(("np.", "math.")):
                return False
            return all(self.shape(a) for a in expr.args + [k.value for k in expr.keywords])
        if isinstance(expr, gast.BinOp):
            return self.shape(expr.left) and self.shape(expr.right)
        if isinstance(expr, gast.UnaryOp):
            return self.shape(expr.operand)
        if isinstance(expr, gast.Attribute):
            return self.shape(expr.value)
        if isinstance(expr, (gast.Tuple, gast.List)):
            return all(self.shape(e) for e in expr.elts)
        return False

    def value(self, expr) -> bool:
        """expr (an integer, a shape) has the same value in every iteration."""
        if expr is None or isinstance(expr, gast.Constant):
            return True
        if isinstance(expr, gast.Name):
            return not self._is_array(expr.id) and self.value_of_name(expr.id)
        if isinstance(expr, gast.Attribute) and expr.attr in ("shape", "ndim", "size"):
            return self.shape(expr.value)
        if isinstance(expr, gast.Subscript) and isinstance(expr.value, gast.Name) \
                and not self._is_array(expr.value.id):          # an entry of a shape tuple
            return self.value(expr.value) and self.value(expr.slice)
        if isinstance(expr, gast.BinOp):
            return self.value(expr.left) and self.value(expr.right)
        if isinstance(expr, gast.UnaryOp):
            return self.value(expr.operand)
        if isinstance(expr, gast.Tuple):
            return all(self.value(e) for e in expr.elts)
        return False

def _shape_may_change(loop, name, types) -> bool:
    """Whether an iteration may leave the array `name` with another shape than it found
    (crr's `values = disc * (p * values[1:i + 1] + ...)`): what a binding of it in the loop is
    made from is not of one shape in every iteration, or the loop takes part (a slice other
    than `:`) of it or of an array computed from it, or passes one to a function that changes
    shapes (np.concatenate, ...)."""
    definitions, bindings = {}, {}
    for node in nodes.statements([loop]):            # (walk's order of the statements)
        for written in nodes.written_names(node):
            bindings[written] = bindings.get(written, 0) + 1
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            definitions.setdefault(node.targets[0].id, []).append(node)
    single = {v for v, ds in definitions.items() if len(ds) == 1 and bindings.get(v) == 1}
    own = nodes.written_by(loop)
    invariance = _Invariance(definitions, single, own, types, assumed={name})
    values = [d.value for d in definitions.get(name, [])]
    if not values:
        return False                    # written in place only: its shape stays
    if not all(invariance.shape(v) for v in values):
        return True
    # one shape in every iteration is not yet the shape it found: `b = b2` in the loop after
    # `b = b1` before it. A row of the first iteration's shape would take a (1,)-shaped b by
    # broadcasting, silently; one that only grows it (`y = y * 0.5 + x`) fails loudly there
    keeps = _KeepsShape(name, definitions, single, types)
    if not all(keeps(v, grows=True) for v in values):
        return True
    derived, grew = {name}, True        # the loop's names computed from `name`
    while grew:
        grew = False
        for v, ds in definitions.items():
            if v not in derived and any(nodes.loads_in(d.value) & derived for d in ds):
                derived.add(v)
                grew = True
    for value in (d.value for v in derived for d in definitions.get(v, [])):
        for node in nodes.walk(value):
            if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) \
                    and node.value.id in derived and any(
                        isinstance(part, gast.Slice) and (part.lower, part.upper, part.step) != (None, None, None)
                        for part in (node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice])):
                return True
            if isinstance(node, gast.Call) and nodes.dotted(node.func) in RESHAPING \
                    and any(nodes.loads_in(a) & derived for a in node.args):
                return True
    return False


class _KeepsShape:
    """Whether an expression in a loop body provably has the shape the carried array `name`
    had when the iteration began (each of its bindings in the loop keeping it, inductively):
    `name` itself, a whole-array view of it, elementwise functions of such arrays and
    numbers. With `grows`, also a broadcast of such an array with any other, whose shape
    can only be larger (never one a row of the found shape would silently take)."""

    ELEMENTWISE_RESULTS = ("elementwise", "broadcast")

    def __init__(self, name, definitions, single, types):
        self.name, self.definitions, self.single, self.types = name, definitions, single, types
        self.visiting = set()

    def is_array(self, atom):
        if isinstance(atom, gast.Attribute) and nodes.dotted(atom).startswith(("math.", "np.")):
            return False                                  # math.pi, np.e
        if not isinstance(atom, gast.Name):
            return not isinstance(atom, gast.Constant)
        kind = self.types.get(atom.id)
        return kind is None or kind.is_array

    def __call__(self, expr, grows=False) -> bool:
        if isinstance(expr, gast.Name):
            if expr.id == self.name:
                return True
            if expr.id not in self.single or expr.id in self.visiting:
                return False
            self.visiting.add(expr.id)
            try:
                return self(self.definitions[expr.id][0].value, grows)
            finally:
                self.visiting.discard(expr.id)
        if isinstance(expr, gast.Subscript):
            parts = expr.slice.elts if isinstance(expr.slice, gast.Tuple) else [expr.slice]
            whole = all(isinstance(p, gast.Slice) and (p.lower, p.upper, p.step) == (None, None, None)
                        for p in parts)
            return whole and self(expr.value, grows)
        if isinstance(expr, gast.UnaryOp):
            return self(expr.operand, grows)
        if isinstance(expr, gast.BinOp) and not isinstance(expr.op, gast.MatMult):
            return self.elementwise([expr.left, expr.right], grows)
        if isinstance(expr, gast.Call):
            callee = annotations.get(expr, "callee")
            if callee is None or primitives.result_of(callee) not in self.ELEMENTWISE_RESULTS:
                return False
            return self.elementwise(list(expr.args) + [k.value for k in expr.keywords if k.arg != "dtype"],
                                    grows)
        return False

    def elementwise(self, operands, grows):
        arrays = [o for o in operands if self.is_array(o)]
        kept = [self(o, grows) for o in arrays]
        return any(kept) if grows else bool(kept) and all(kept)
