"""Elementwise array code without its temporaries: fuse, recompute, drop the seed of ones.

A vectorized objective's three-address form keeps one array per operation, and its reverse
sweep one more per sensitivity: on `np.sum(np.sin(x) * np.exp(-x * x) + np.log1p(x * x))` the
gradient held eight arrays of x's size at once where numba's primal, which fuses the whole
expression into one loop, holds one. Run once, after the other passes, on the function's
top-level straight-line code (loops keep their own tapes and replays), this pass writes the
reverse sweep as one would by hand; on the extended Rosenbrock
`np.sum(100 * (x[1:] - x[:-1] ** 2) ** 2 + (1 - x[:-1]) ** 2)`, where it kept ten arrays:

    s_x = np.zeros(x.shape, x.dtype)
    s_x[:-1] += -(2 * (1 - x[:-1])) + 2 * x[:-1] * -(2 * (x[1:] - x[:-1] ** 2) * 100)
    s_x[1:] += 2 * (x[1:] - x[:-1] ** 2) * 100

* an array temporary (a `t_` value or a sensitivity other than a returned gradient) assigned
  once from elementwise operations (arithmetic, numpy ufuncs, basic slices) of values that
  never change is written into the expressions that read it, and not kept: numba fuses each
  statement into one loop, so the values are recomputed element by element instead of being
  stored (a value read by several statements is recomputed by each where every one reads it
  through elementwise operations and it stays small; a value `y = np.tanh(t)` keeps as an
  array keeps its operand t a name too, for numpy's vectorized loop; the user's lines in the
  forward sweep stay);
* `s = e1` (or `s = np.zeros(...)`) followed by the only `s += e2` becomes one assignment,
  so that a sensitivity with two contributions is one value too;
* `_sum_to_*(g, shape)`, `np.ones(shape) * e`, `a.shape` are resolved where the shapes are
  provably the same: every array the expressions read is a whole argument or a basic slice of
  one (`x[1:]`, `x[:-1]`, `x[1:-1]`: the same length when as many elements are cut), so the
  seed of a sum (an array of ones) is never made.

Calls left inside a fused expression are marked `fused`: lower/for_numba then keeps numba's
own loop for them (its numpy-loop helpers would make an array each).
"""

from __future__ import annotations

import collections

import gast
import numpy as np

from ..ir import annotations, nodes, trees
from ..primitives.runtime import NUMPY_LOOPS

# an inlined value no larger than this (in nodes) may be recomputed by each of its readers
_RECOMPUTED_SIZE = 40
# and a value read once no larger than this (the readers' lines stay readable)
_INLINED_SIZE = 120

_ELEMENTWISE_OPS = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.FloorDiv, gast.Mod)
_NUMBER = frozenset()
_CONSTRUCTORS = ("np.ones", "np.zeros", "np.full", "np.empty", "np.sum", "np.ones_like", "np.zeros_like")


def fuse_elementwise(fn, names, arrays, scalars, protected=frozenset()) -> bool:
    """Rewrite fn's top level as the module describes; `names`: those the pass may inline
    away (temporaries and the sensitivities of non-arguments), `arrays`: the names known to
    hold arrays, `scalars`: those known to hold numbers, `protected`: names to keep.
    Returns whether anything changed."""
    body = fn.body
    if not any(_is_array_op(stmt, arrays) for stmt in body):
        return False
    state = _State(fn, names - set(protected), arrays, scalars)
    changed = False
    for _ in range(4):                # each merge may show shapes equal, and the reverse
        progress = state.resolve_shapes()
        progress |= state.merge_accumulations()
        changed |= progress
        if not progress:
            break
    changed |= state.drop_dead()
    for _ in range(3):
        if not state.inline():
            break
        changed = True
        state.resolve_shapes()            # what the inlined values multiply now shows
        state.drop_dead()
    return changed


def _binding_counts(fn):
    """(name -> how many statements bind it, name -> how many write into it in place: an
    augmented assignment, an assignment into a part of it, a tape helper's argument)."""
    writes, in_place = collections.Counter(), collections.Counter()
    for node in nodes.statements(fn.body):
        writes.update(nodes.written_names(node))
        in_place.update(_written_into(node))
    in_place.update(_tape_arguments(fn))
    return writes, in_place


def _changed_by(stmt) -> set:
    """The names whose values a statement changes: those it binds and those it writes into
    (`y[i] = e`, `y += e`, a tape helper's arrays), in its blocks too."""
    changed = set(nodes.written_by(stmt)).union(_tape_arguments(stmt))
    for node in nodes.statements([stmt]):
        changed.update(_written_into(node))
    return changed


def _written_into(stmt) -> list:
    """The name a simple statement writes into in place (`y[i] = e`, `y += e`, `s.a = e`), if any."""
    target = stmt.target if type(stmt) is gast.AugAssign else stmt.targets[0] \
        if type(stmt) is gast.Assign and type(stmt.targets[0]) is not gast.Name else None
    while type(target) in (gast.Subscript, gast.Attribute):
        target = target.value
    return [target.id] if type(target) is gast.Name else []


def _tape_arguments(root) -> list:
    """The names the tapes' helpers under `root` are passed (they write their arrays)."""
    return [a.id for node in nodes.every_node(root)
            if type(node) is gast.Call and nodes.dotted(node.func).startswith(("_record_", "_undo_"))
            for a in node.args if type(a) is gast.Name]


def _made_elementwise(node, name_ok, attribute_ok) -> bool:
    """Whether `node` is made only of elementwise operations (arithmetic, comparisons, numpy
    ufuncs, np.where) of numbers, basic slices, the names `name_ok` takes and the attributes
    `attribute_ok` takes."""
    kind = type(node)
    if kind is gast.Name:
        return type(node.ctx) is gast.Load and name_ok(node.id)
    if kind is gast.Constant:
        return type(node.value) in (int, float, bool)
    if kind is gast.BinOp:
        return type(node.op) in _ELEMENTWISE_OPS and _made_elementwise(node.left, name_ok, attribute_ok) \
            and _made_elementwise(node.right, name_ok, attribute_ok)
    if kind is gast.UnaryOp:
        return type(node.op) in (gast.USub, gast.UAdd, gast.Invert) \
            and _made_elementwise(node.operand, name_ok, attribute_ok)
    if kind is gast.Compare:
        return len(node.comparators) == 1 and _made_elementwise(node.left, name_ok, attribute_ok) \
            and _made_elementwise(node.comparators[0], name_ok, attribute_ok)
    if kind is gast.Call:
        return (nodes.is_ufunc_call(node) or _where(node)) \
            and all(_made_elementwise(a, name_ok, attribute_ok) for a in node.args)
    if kind is gast.Attribute:
        return attribute_ok(node)
    if kind is gast.Subscript:
        return _basic_slice(node) is not None and _made_elementwise(node.value, name_ok, attribute_ok)
    return False


def _is_array_op(stmt, arrays) -> bool:
    return type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name \
        and stmt.targets[0].id in arrays and type(stmt.value) in (gast.BinOp, gast.UnaryOp, gast.Call)


def _basic_slice(node):
    """(base name, elements cut) of `x[a:]`, `x[:-b]`, `x[a:-b]` (a >= 0, b > 0 constants), else None."""
    if type(node) is not gast.Subscript or type(node.value) is not gast.Name:
        return None
    s = node.slice
    if type(s) is not gast.Slice or s.step is not None:
        return None
    lower = 0 if s.lower is None else _int(s.lower)
    upper = 0 if s.upper is None else _int(s.upper)
    if lower is None or upper is None or lower < 0 or (s.upper is not None and upper >= 0):
        return None                   # (x[:0] and x[:2] are no cut from the end)
    return node.value.id, lower - upper


def _int(node):
    if type(node) is gast.Constant and type(node.value) is int:
        return node.value
    if type(node) is gast.UnaryOp and type(node.op) is gast.USub and type(node.operand) is gast.Constant \
            and type(node.operand.value) is int:
        return -node.operand.value
    return None


def _size(node) -> int:
    return sum(1 for _ in nodes.walk(node))


class _State:
    def __init__(self, fn, names, arrays, scalars):
        self.fn = fn
        self.names = names
        self.arrays = arrays
        self.scalars = scalars
        self.parameters = {a.id for a in fn.args.args}
        self.defs = {}           # name -> its single top-level elementwise value (resolve_shapes)
        self.fills = {}          # name -> c, for an array filled with the number c (resolve_shapes)
        self._loads = {}         # id(statement) -> (statement, nodes.load_counts(statement))
        self._refresh()

    def loads(self, stmt) -> dict:
        """nodes.load_counts(stmt), found once per statement (the pass rebuilds a statement it
        changes, and changes no block in place); not to be changed."""
        known = self._loads.get(id(stmt))
        if known is None:
            known = self._loads[id(stmt)] = (stmt, nodes.load_counts(stmt))    # (keeps it alive)
        return known[1]

    def _refresh(self):
        self._keys = {}                    # (name, depth) -> its shape_key (stable() may change)
        self.writes, self.in_place = _binding_counts(self.fn)
        self.nested_loads = set()          # names loaded inside a compound statement
        for stmt in self.fn.body:
            if type(stmt) in (gast.If, gast.For, gast.While, gast.With, gast.Try):
                self.nested_loads.update(self.loads(stmt))

    def stable(self, name) -> bool:
        """Whether `name` holds one value wherever it is read: written at most once (an
        argument never), never in place."""
        return self.writes[name] <= (0 if name in self.parameters else 1) and self.in_place[name] == 0

    # shapes ---------------------------------------------------------------------------------

    def shape_key(self, node, depth=0):
        """The arrays whose broadcast is `node`'s shape, as a frozenset of (name, k): the
        array `name` (one that holds one value) with k leading elements cut (`x[1:]` and
        `x[:-1]` are both (x, 1)); the empty set for a number, None where unknown. Two
        expressions with one key have one shape."""
        kind = type(node)
        if depth > 50:
            return None
        if kind is gast.Constant:
            return _NUMBER if type(node.value) in (int, float, bool) else None
        if kind is gast.Name:
            # found once per name and depth (_keys): `v = np.tanh(v_1 * w) + 0.5 * v_1` reads
            # v_1 twice, so a chain of such lines asked a power of its length, up to the cap
            memo = (node.id, depth)
            if memo not in self._keys:
                self._keys[memo] = self._name_key(node.id, depth)
            return self._keys[memo]
        if kind is gast.Attribute:
            if node.attr == "shape":                 # a shape: the key of its array
                return self.shape_key(node.value, depth + 1)
            return _NUMBER if _constant(node) or self.sized(node) else None
        if kind is gast.Subscript:
            cut = _basic_slice(node)
            if cut is None or self.shape_key(node.value, depth + 1) != frozenset([(cut[0], 0)]):
                return None
            return frozenset([cut])
        operands = None
        if kind is gast.BinOp and type(node.op) in _ELEMENTWISE_OPS:
            operands = [node.left, node.right]
        elif kind is gast.UnaryOp and type(node.op) in (gast.USub, gast.UAdd, gast.Invert):
            operands = [node.operand]
        elif kind is gast.Compare and len(node.comparators) == 1:
            operands = [node.left, node.comparators[0]]
        elif nodes.is_ufunc_call(node) or _where(node):
            operands = node.args
        elif _ones(node) or _zeros(node):
            return self.shape_key(node.args[0], depth + 1)
        if operands is None:
            return None
        keys = [self.shape_key(o, depth + 1) for o in operands]
        if None in keys:
            return None
        return frozenset().union(*keys)

    def _name_key(self, name, depth):
        if name in self.scalars:
            return _NUMBER
        if name in self.defs:
            return self.shape_key(self.defs[name], depth + 1)
        if name in self.arrays and self.stable(name):
            return frozenset([(name, 0)])
        return None

    def array_key(self, node):
        key = self.shape_key(node)
        return key or None

    # rewrites -------------------------------------------------------------------------------

    def merge_accumulations(self) -> bool:
        """`s = e1 ... s += e2` (nothing reading s between, nothing else writing it) ->
        `s = e1 + e2` where the += was; `s = np.zeros(shape)` first: `s = e2` when e2
        provably has that shape."""
        body = self.fn.body
        changed = False
        first = {}                                   # name -> index of its `s = e1`
        for k, stmt in enumerate(body):
            if stmt is None:                             # merged into a later statement
                continue
            kind = type(stmt)
            if kind is gast.AugAssign and type(stmt.target) is gast.Name and stmt.target.id in first \
                    and type(stmt.op) in (gast.Add, gast.Sub):
                name = stmt.target.id
                i = first.pop(name)
                if self.writes[name] != 2 or self.in_place[name] != 1:
                    continue
                e1 = body[i].value
                between = [s for s in body[i + 1:k] if s is not None]
                if any(name in self.loads(s) for s in between) or name in nodes.loads_in(stmt.value):
                    continue
                if any(not self.stable(n) and any(n in _changed_by(s) for s in between)
                       for n in nodes.loads_in(e1)):
                    continue                     # e1 would read what changed since (`z[1] = old`)
                if _zeros(e1):
                    if self.array_key(stmt.value) is None or self.array_key(stmt.value) != self.shape_key(e1):
                        continue
                    value = stmt.value if type(stmt.op) is gast.Add else nodes.neg(stmt.value)
                    if type(value) is gast.Name and not self.stable(value.id):
                        continue                     # a shared array that changes: it stays a copy
                else:
                    op = "+" if type(stmt.op) is gast.Add else "-"
                    value = nodes.binop(e1, op, stmt.value)
                body[k] = annotations.copy_to(nodes.assign_to(nodes.name(name, store=True), value, stmt), stmt)
                body[i] = None
                changed = True
                continue
            if kind is gast.Assign and type(stmt.targets[0]) is gast.Name:
                name = stmt.targets[0].id
                first.pop(name, None)
                if name in self.names and name in self.arrays:
                    first[name] = k
            else:
                for name in nodes.written_by(stmt):
                    first.pop(name, None)
        if changed:
            self.fn.body = [s for s in body if s is not None]
            self._refresh()
        return changed

    def record_defs(self):
        """name -> its value, for the names assigned once at the top level (never in place)
        an elementwise expression, another name or an array of zeros or ones: what shape_key
        reads through."""
        self.defs = {}
        self._keys = {}                    # (the keys read through the old defs)
        for stmt in self.fn.body:
            if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name \
                    and self.stable(stmt.targets[0].id) and (self.elementwise(stmt.value) or _ones(stmt.value)
                                                             or _zeros(stmt.value)):
                self.defs[stmt.targets[0].id] = stmt.value

    def resolve_shapes(self) -> bool:
        """Drop `_sum_to_*(g, shape)` and `ones * e` where the shapes are provably the same."""
        self.record_defs()
        ones = {}                       # name -> shape key, for the arrays of ones (and their copies)
        self.fills = {}                 # name -> c, for those filled with the number c instead
        for stmt in self.fn.body:
            if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name \
                    and stmt.targets[0].id in self.names and self.stable(stmt.targets[0].id):
                value, name = stmt.value, stmt.targets[0].id
                if _ones(value) or self.filled(value):
                    key = self.array_key(value.args[0])
                    if key is not None:
                        ones[name] = key
                        if not _ones(value):
                            self.fills[name] = value.args[1]
                elif type(value) is gast.Name and value.id in ones:
                    ones[name] = ones[value.id]
                    if value.id in self.fills:
                        self.fills[name] = self.fills[value.id]
        changed = False
        body = self.fn.body
        for k, stmt in enumerate(body):
            if type(stmt) in (gast.Assign, gast.AugAssign, gast.Return) and stmt.value is not None:
                new = self.simplify(stmt.value, ones)
                if new is not stmt.value and type(stmt) is gast.Assign and self.makes_alias(stmt.targets[0], new):
                    new = nodes.call("np.copy", [new])       # `s = x * ones` is not x itself
                if new is not stmt.value:
                    stmt = body[k] = annotations.copy_to(_with_value(stmt, new), stmt)
                    changed = True
        if changed:
            self._refresh()
        return changed

    def makes_alias(self, target, value) -> bool:
        """Would `target = value` bind the target to another name's array (or a view of it)
        that either changes in place afterwards?"""
        base = nodes.array_named(value)
        return base is not None and (type(target) is not gast.Name or self.in_place[target.id] > 0
                                     or self.in_place[base] > 0)

    def simplify(self, node, ones):
        kind = type(node)
        if kind in (gast.Name, gast.Constant):
            return node
        new = None
        for field in nodes.child_fields(kind):
            value = getattr(node, field, None)
            if isinstance(value, list):
                items = [self.simplify(v, ones) if isinstance(v, gast.AST) else v for v in value]
                if any(a is not b for a, b in zip(items, value)):
                    new = new or _shallow(node)
                    setattr(new, field, items)
            elif isinstance(value, gast.AST):
                item = self.simplify(value, ones)
                if item is not value:
                    new = new or _shallow(node)
                    setattr(new, field, item)
        node = new or node
        if type(node) is gast.Call and nodes.dotted(node.func).startswith("_sum_to_") and len(node.args) == 2:
            key = self.array_key(node.args[0])
            if key is not None and key == self.shape_key(node.args[1]):
                return node.args[0]
        if type(node) is gast.BinOp and type(node.op) is gast.Mult:
            for one, other in ((node.left, node.right), (node.right, node.left)):
                negated = type(one) is gast.UnaryOp and type(one.op) is gast.USub
                factor = self.ones_factor(one.operand if negated else one, ones)
                if factor is not None and self.array_key(other) == factor[1]:
                    product = other if factor[0] is None else nodes.binop(other, "*", nodes.clone(factor[0]))
                    return nodes.neg(product) if negated else product
        if nodes.is_ufunc_call(node) and nodes.dotted(node.func) == "np.logical_or" and len(node.args) == 2 \
                and type(node.args[1]) is gast.Constant and node.args[1].value is False \
                and self.array_key(node.args[0]) is not None:
            return node.args[0]                      # (an array: the result has its shape)
        if type(node) is gast.Compare and type(node.ops[0]) is gast.Eq and type(node.left) is gast.Name \
                and node.left.id in ones and node.left.id not in self.fills and _number(node.comparators[0]) and node.comparators[0].value == 0:
            return nodes.const(False)                # a guard `s == 0.0` of a seed of ones
        return node

    def ones_factor(self, node, ones):
        """(c, key) where `node` is an array of ones (key: its shape's) times the number c
        (None for 1): `s_1`, `100 * s_1`, `-s_1`; else None. The seed of a mean,
        `np.full(t.shape, 1.0 / t.size)`, is the number `1.0 / t.size` times ones."""
        if type(node) is gast.Name and node.id in ones:
            return self.fills.get(node.id), ones[node.id]
        if type(node) is gast.BinOp and type(node.op) is gast.Mult:
            for one, number in ((node.left, node.right), (node.right, node.left)):
                factor = self.ones_factor(one, ones)
                if factor is not None and factor[0] is None and self.shape_key(number) == _NUMBER:
                    return number, factor[1]
        return None

    def filled(self, value) -> bool:
        """`np.full(shape, c)` or `np.full(shape, c, dtype)`, c made of numbers and sizes."""
        return type(value) is gast.Call and nodes.dotted(value.func) == "np.full" and not value.keywords \
            and len(value.args) in (2, 3) and self.number(value.args[1])

    def number(self, node) -> bool:
        """Whether `node` is a number that stays the same: constants, scalars written once,
        sizes of arrays written once (`1.0 / t.size`), and arithmetic of them."""
        kind = type(node)
        if kind is gast.Constant:
            return type(node.value) in (int, float)
        if kind is gast.Name:
            return node.id in self.scalars and self.stable(node.id)
        if kind is gast.Attribute:
            return _constant(node) or self.sized(node)
        if kind is gast.BinOp:
            return type(node.op) in _ELEMENTWISE_OPS and self.number(node.left) and self.number(node.right)
        if kind is gast.UnaryOp:
            return type(node.op) in (gast.USub, gast.UAdd) and self.number(node.operand)
        return False

    def sized(self, node) -> bool:
        """`t.size` or `t.ndim` of a name that holds one value."""
        return type(node) is gast.Attribute and node.attr in ("size", "ndim") \
            and type(node.value) is gast.Name and self.stable(node.value.id)

    def elementwise(self, node) -> bool:
        """Whether `node` is made only of elementwise operations of names that hold one value."""
        return _made_elementwise(node, lambda name: self.stable(name) or name in self.scalars,
                                 lambda attribute: _constant(attribute) or self.sized(attribute))

    def drop_dead(self) -> bool:
        """Drop the top-level values of `names` nothing reads any more (made of elementwise
        operations, slices and array constructors: computing them has no other effect)."""
        changed = False
        while True:
            loads = collections.Counter()
            for stmt in self.fn.body:
                loads.update(self.loads(stmt))
            keep = []
            for stmt in self.fn.body:
                if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name \
                        and stmt.targets[0].id in self.names and loads[stmt.targets[0].id] == 0 \
                        and self.writes[stmt.targets[0].id] == 1 and self.pure(stmt.value) \
                        and not annotations.get(stmt, "primal"):
                    continue
                keep.append(stmt)
            if len(keep) == len(self.fn.body):
                break
            self.fn.body = keep or [nodes.pass_()]
            changed = True
        if changed:
            self._refresh()
        return changed

    def pure(self, node) -> bool:
        if type(node) is gast.Call and nodes.dotted(node.func) in _CONSTRUCTORS and not node.keywords:
            return all(self.pure(a) for a in node.args)
        if type(node) is gast.Attribute and node.attr in ("shape", "dtype", "size", "ndim"):
            return self.pure(node.value)
        if type(node) is gast.Tuple:
            return all(self.pure(e) for e in node.elts)
        return self.elementwise(node) or (type(node) is gast.Name)

    def inline(self) -> bool:
        body = self.fn.body
        loads = collections.Counter()
        for stmt in body:
            loads.update(self.loads(stmt))
        self.replace_shapes()
        held = set()                     # names read as `t.dtype` (or any attribute): kept
        recomputed = set()               # names every reader of which would fuse their value
        readers = collections.defaultdict(list)
        for stmt in self.fn.body:
            for node in nodes.every_node(stmt):
                if type(node) is gast.Attribute and type(node.value) is gast.Name:
                    held.add(node.value.id)
            for name in self.loads(stmt):
                readers[name].append(stmt)
        for name, stmts in readers.items():
            if all(type(r) in (gast.Assign, gast.AugAssign) and _fused_reads(r.value, name) for r in stmts):
                recomputed.add(name)
        inlined = {}                     # name -> its value, already inlined
        out = []
        changed = False
        for stmt in self.fn.body:
            original = stmt
            if type(stmt) in (gast.Assign, gast.AugAssign, gast.Return, gast.Expr) \
                    and not inlined.keys().isdisjoint(self.loads(stmt)):
                stmt = self.substitute(stmt, inlined)
                changed = True
            if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name:
                name = stmt.targets[0].id
                if self.may_inline(name, loads) and name not in held and self.elementwise(stmt.value) \
                        and (loads[name] == 1 or name in recomputed or _free(stmt.value)):
                    size = _size(stmt.value)
                    if size <= (_INLINED_SIZE if loads[name] == 1 else _RECOMPUTED_SIZE):
                        inlined[name] = stmt.value
                        changed = True
                        continue
                argument = _numpy_loop_argument(original)
                if argument in inlined:
                    # `y = np.tanh(t)` stays an array: t too, so that lower/for_numba gives
                    # the call numpy's vectorized loop (runtime._numpy_*)
                    out.append(nodes.assign_to(nodes.name(argument, store=True),
                                               nodes.clone(inlined[argument]), original))
                    stmt = original
            out.append(stmt)
        if changed:
            self.fn.body = out or [nodes.pass_()]
        return changed

    def may_inline(self, name, loads) -> bool:
        return name in self.names and name in self.arrays and self.stable(name) \
            and name not in self.nested_loads and loads[name] > 0

    def replace_shapes(self):
        """`t.shape` -> `x.shape` (or `x[1:].shape`) where t's key says they have one shape
        and t, a value the pass may inline, is read for nothing else but its value."""
        attributes = collections.defaultdict(set)
        body = self.fn.body
        parts = list(body)       # the statements, then what the function holds beside them
        for field in self.fn._fields:
            value = getattr(self.fn, field, None)
            if field != "body":
                parts += value if isinstance(value, list) else [value]
        shapes = []              # the `name.shape` nodes of each top-level statement
        for k, part in enumerate(parts):                 # (one walk of the function)
            found = []
            for node in nodes.every_node(part) if isinstance(part, gast.AST) else ():
                if type(node) is gast.Attribute and type(node.value) is gast.Name:
                    attributes[node.value.id].add(node.attr)
                    if node.attr == "shape" and k < len(body):
                        found.append(node)
            shapes.append(found)
        for k, stmt in enumerate(body):
            mapping = {}
            for node in shapes[k]:
                if node.value.id in self.defs and node.value.id in self.names \
                        and attributes[node.value.id] == {"shape"}:
                    key = self.array_key(node.value)
                    if key is not None and len(key) == 1:
                        mapping[id(node)] = _shape_of(next(iter(key)))
            if mapping:
                body[k] = trees.replaced(stmt, mapping)

    def substitute(self, stmt, inlined):
        mapping = {}
        for name in nodes.loads_in(stmt):
            if name in inlined:
                value = nodes.clone(inlined[name])
                mapping[name] = value
        new = nodes.with_loads_replaced(stmt, mapping)
        new = annotations.copy_to(new, stmt) if new is not stmt else new
        for node in nodes.every_node(new):
            if type(node) is gast.Call and nodes.is_ufunc_call(node):
                annotations.set(node, "fused", True)
        return new


def _where(call) -> bool:
    return type(call) is gast.Call and nodes.dotted(call.func) == "np.where" and len(call.args) == 3 \
        and not call.keywords


def _constant(node) -> bool:
    """math.nan, np.inf, math.pi: a number."""
    return type(node) is gast.Attribute and type(node.value) is gast.Name and node.value.id in ("math", "np") \
        and isinstance(getattr(np, node.attr, None), float)


def _free(value) -> bool:
    """A copy of a name or a basic slice: read again at no cost."""
    return type(value) is gast.Name or _basic_slice(value) is not None


def _numpy_loop_argument(stmt):
    """t in `y = np.tanh(t)` (a function lower/for_numba may run in numpy's loop), else None."""
    if type(stmt) is gast.Assign and nodes.is_ufunc_call(stmt.value) and len(stmt.value.args) == 1 \
            and type(stmt.value.args[0]) is gast.Name and stmt.value.func.attr in NUMPY_LOOPS:
        return stmt.value.args[0].id
    return None


def _fused_reads(node, name) -> bool:
    """Whether every read of `name` in `node` is reached through elementwise operations only
    (numba fuses it into the loop computing `node`)."""
    kind = type(node)
    if kind is gast.Name:
        return True
    if kind is gast.BinOp and type(node.op) in _ELEMENTWISE_OPS:
        children = [node.left, node.right]
    elif kind is gast.UnaryOp:
        children = [node.operand]
    elif kind is gast.Compare:
        children = [node.left, *node.comparators]
    elif nodes.is_ufunc_call(node) or _where(node):
        children = node.args
    else:
        return name not in nodes.loads_in(node)
    return all(_fused_reads(child, name) for child in children)


def _number(node) -> bool:
    return type(node) is gast.Constant and type(node.value) in (int, float)


def _zeros(value) -> bool:
    return type(value) is gast.Call and nodes.dotted(value.func) in ("np.zeros",) and not value.keywords


def _ones(value) -> bool:
    return type(value) is gast.Call and nodes.dotted(value.func) == "np.ones" and not value.keywords \
        and len(value.args) >= 1


def _shape_of(key):
    base, cut = key
    if cut == 0:
        return nodes.attribute_of(nodes.name(base), "shape")
    lower = nodes.const(cut) if cut > 0 else None
    view = nodes.subscript(nodes.name(base), nodes.slice_(lower, None))
    return nodes.attribute_of(view, "shape")


def _shallow(node):
    import copy
    return copy.copy(node)


def _with_value(stmt, value):
    new = _shallow(stmt)
    new.value = value
    return new
