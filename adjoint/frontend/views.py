"""A write through one name into memory another name sees, rejected at the user's line.

    def f(y):                              f.py:4:4: `z` and `y` share memory (`z = y[1:]`, line 3),
        z = y[1:]                ->        and this line writes into `z` in place, ...
        z[0] = 2.0 * z[0]                      z[0] = 2.0 * z[0]
        ...                                    ^^^^
                                           hint: write into `y` directly (y[1] = ...), or make `z`
                                           a copy: z = np.copy(y[1:])

`check_views` runs once the arguments' types are known (pipeline); it returns nothing and raises
AdjointError at the first such write.
"""

from __future__ import annotations

import dataclasses
import math

import gast
import numpy as np

from ..analysis import shapes
from ..errors import AdjointError, AdjointTypeError, locate
from ..ir import annotations, trees
from ..primitives import runtime, table
from .validate import _is_module_attribute, _is_python_function


def check_views(parsed, argument_types=None, guessed=False) -> None:
    """AdjointError at an in-place write into memory another name of the function sees.
    `argument_types` (user argument name -> shapes.Type), where known, settles whether `z = y`
    or `r = A[i]` makes a view; without them an argument's rank is open and counts as an array.
    `guessed`: the types are the source's guesses, so a view that only some ranks make is an
    AdjointTypeError, which a call's own types may settle (the api generates the code then)."""
    if _may_write_in_place(parsed.tree):         # else there is nothing to check (most scalar code)
        _SharedMemory(parsed, argument_types=argument_types, guessed=guessed).check()


def _may_write_in_place(tree) -> bool:
    """Whether `tree` holds a statement _SharedMemory.in_place_writes may find: an augmented
    assignment, a store into an element or slice, or a call of a helper."""
    for stmt in _statements(tree.body):
        if isinstance(stmt, gast.AugAssign) or (
                isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Subscript)):
            return True
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Tuple) \
                and _subscripts_in(stmt.targets[0]):
            return True
    return any(isinstance(node, gast.Call) and _is_python_function(annotations.get(node, "callee"))
               for node in trees.walk_branches(tree))


# views: a write through one name into memory another name sees ------------------------------
#
# adjoint differentiates every name as an array of its own. Where the function binds a name
# to a view of another array and writes in place through either, the other name changes too
# and the gradient would silently be wrong, so such a write is rejected. The rule is
# syntactic, flow-insensitive and conservative: a name bound (anywhere) to a view of another,
# or sharing memory through a third, must not be written in place anywhere in the function.
# Whether `z = y` or `z = A[i]` makes a view depends on ranks, which are estimated from the
# source: an argument indexed with k subscripts is taken for a rank-k array, as the code
# generated before a call is (check_views with the call's argument types settles it); one
# never indexed is an array unless the code shows it is a number (math.sin(y), `if y > 0`).
# Helpers are read for the parameters they write into and the ones their result may view.

# supported calls whose result may be (a view of) their first argument
VIEW_CALLS = {np.transpose, np.reshape, np.ravel, np.ascontiguousarray, np.asarray,
              np.broadcast_to, np.diagonal, np.squeeze, np.expand_dims, np.atleast_1d,
              np.atleast_2d, np.atleast_3d, np.swapaxes, np.moveaxis, np.flip}
_SCALAR_CALLS = {len, int, float, round, bool, range, math.floor, math.ceil, math.trunc}
# numpy reductions to a scalar that no record declares: adjoint.rule may make them callable
_REDUCTIONS_WITHOUT_RECORDS = frozenset()
_SAME_RANK = {np.zeros_like, np.ones_like, np.empty_like, np.full_like, np.copy,
              np.ascontiguousarray, np.transpose, np.asarray, np.cumsum, np.cumprod, np.sort,
              np.roll, np.flip, np.tril, np.triu, np.diff, np.pad}
_MATMUL_RANKS = {(1, 1): 0, (2, 1): 1, (1, 2): 1, (2, 2): 2}
_OPERATOR_TEXT = {gast.Add: "+", gast.Sub: "-", gast.Mult: "*", gast.Div: "/", gast.Pow: "**",
                  gast.Mod: "%", gast.FloorDiv: "//", gast.MatMult: "@"}
_BOTTOM, _UNKNOWN = "bottom", "unknown"      # no binding seen yet; rank not known from the source


class _SharedMemory:
    """Which names of one function may share memory, and the in-place writes into them."""

    def __init__(self, parsed, summaries=None, inlining=(), argument_types=None, guessed=False):
        self.parsed, self.tree, self.filename = parsed, parsed.tree, parsed.filename
        self.params = [a.id for a in self.tree.args.args]
        self.argument_types = {parsed.emitted(name): kind for name, kind in (argument_types or {}).items()}
        self.summaries = {} if summaries is None else summaries    # helper -> (writes, returns)
        self.inlining = inlining
        self.guessed = guessed          # (check_views: the argument types are guesses)
        self.binds = []                 # (target, value, statement), in source order
        self.loop_variables = set()
        for stmt in _statements(self.tree.body):
            if isinstance(stmt, gast.Assign):
                self.binds.append((stmt.targets[0], stmt.value, stmt))
            elif isinstance(stmt, gast.For):
                self.loop_variables.add(stmt.target.id)
        self.locals = {name for target, _value, _stmt in self.binds for name in _names(target)}
        self.subscripted = set()            # arrays, whatever else
        self.calls_helpers = False          # whether any call is to a helper (in_place_writes)
        self.scalars = self._scalars_by_use()
        self.ranks = self._infer_ranks()
        self.rotations = set()              # the statements `a, b = b, a` followed (_follow_rotations)
        self.roots, self.origin = self._infer_roots()
        self._follow_rotations()
        self.order, self.loops = {}, {}         # statement -> its place in the source, its loops
        _number(self.tree.body, (), self.order, self.loops)
        self.statement_of = {id(stmt): stmt for stmt in _statements(self.tree.body)}
        self.live_after = None              # statement -> the names read after it (_live_after)
        self.memory_after = None            # ... and the memory each name may hold then

    # ranks ----------------------------------------------------------------------------------

    def _scalars_by_use(self):
        """Names the code itself shows are numbers: a range bound, what a math function,
        float(), int() or a two-argument min/max takes, a branch or loop condition (an array
        there raises, in numba and in numpy), each through arithmetic (x * y is an array if
        either is); and whatever a number is computed from by arithmetic alone.
        The same walk fills `subscripted` and `calls_helpers`."""
        scalars = set()
        for node in trees.walk(self.tree):
            if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name):
                self.subscripted.add(node.value.id)
            callee = annotations.get(node, "callee") if isinstance(node, gast.Call) else None
            if callee is not None and not self.calls_helpers:
                self.calls_helpers = _is_python_function(callee)
            if callee in (range, float, int) or getattr(callee, "__module__", None) == "math" \
                    or (callee in (min, max) and len(node.args) > 1):
                for argument in node.args:
                    scalars |= _arithmetic_names(argument)
            elif isinstance(node, (gast.If, gast.While, gast.IfExp)):
                scalars |= _arithmetic_names(node.test, tests=True)
        for _ in range(100):
            known = len(scalars)
            for target, value, _stmt in self.binds:
                pairs = list(zip(target.elts, value.elts)) if isinstance(target, gast.Tuple) and \
                    isinstance(value, gast.Tuple) and len(target.elts) == len(value.elts) else [(target, value)]
                for t, v in pairs:
                    if isinstance(t, gast.Name) and t.id in scalars:
                        scalars |= _arithmetic_names(v)
            if len(scalars) == known:
                break
        return scalars

    def _infer_ranks(self):
        ranks = {name: _UNKNOWN for name in self.params}
        if not self.argument_types:
            # as adjoint guesses before a call: an argument indexed with k subscripts is taken
            # for a rank-k array (check_views with the call's types settles it); one never
            # indexed stays open: `z = y; z += x` may be a whole array written in place
            guessed = shapes.default_signature(self.tree, ())
            ranks.update({name: kind.ndim for name, kind in guessed.items()
                          if name in ranks and (kind.ndim > 0 or kind.kind == "int")})
        ranks.update({name: "shape" if kind.kind == "shape" else kind.ndim
                      for name, kind in self.argument_types.items() if name in ranks})
        ranks.update({name: 0 for name in self.scalars | self.loop_variables})
        self.ranks = ranks
        for _ in range(100):
            changed = False
            for target, value, _stmt in self.binds:
                for name, rank in self._target_ranks(target, value):
                    if name in self.scalars or name in self.loop_variables:
                        continue
                    old = ranks.get(name, _BOTTOM)
                    new = _join(old, rank)
                    if new != old:
                        ranks[name], changed = new, True
            if not changed:
                break
        return {name: _UNKNOWN if rank == _BOTTOM else rank for name, rank in ranks.items()}

    def _target_ranks(self, target, value):
        if isinstance(target, gast.Name):
            return [(target.id, self.rank(value))]
        if isinstance(target, gast.Tuple):
            if isinstance(value, gast.Tuple) and len(value.elts) == len(target.elts):
                return [pair for t, v in zip(target.elts, value.elts) for pair in self._target_ranks(t, v)]
            whole = self.rank(value)
            element = whole - 1 if isinstance(whole, int) and whole > 0 else \
                (0 if whole in (0, "shape") else whole)
            return [(e.id, element) for e in target.elts if isinstance(e, gast.Name)]
        return []

    def rank(self, expr):
        """An int, "shape" (a tuple of ints), _BOTTOM or _UNKNOWN."""
        if isinstance(expr, gast.Constant):
            return 0
        if isinstance(expr, gast.Name):       # a local not bound yet: no information so far
            return self.ranks.get(expr.id, _BOTTOM if expr.id in self.locals else _UNKNOWN)
        if isinstance(expr, gast.Attribute):
            if expr.attr == "shape":
                return "shape"
            if expr.attr in ("size", "ndim") or _is_module_attribute(expr):
                return 0
            return _UNKNOWN
        if isinstance(expr, (gast.Tuple, gast.List)):
            return "shape"
        if isinstance(expr, gast.Subscript):
            base = self.rank(expr.value)
            if base == "shape":
                return 0
            if not isinstance(base, int):
                return base
            index = expr.slice.elts if isinstance(expr.slice, gast.Tuple) else [expr.slice]
            if any(not isinstance(i, gast.Slice) and self.rank(i) != 0 for i in index):
                return _UNKNOWN                                   # an index array: a copy
            return max(base - sum(not isinstance(i, gast.Slice) for i in index), 0)
        if isinstance(expr, (gast.BinOp, gast.Compare, gast.BoolOp, gast.IfExp, gast.UnaryOp)):
            parts = {gast.BinOp: lambda e: [e.left, e.right],
                     gast.Compare: lambda e: [e.left] + e.comparators,
                     gast.BoolOp: lambda e: e.values, gast.IfExp: lambda e: [e.body, e.orelse],
                     gast.UnaryOp: lambda e: [e.operand]}[type(expr)](expr)
            ranks = [self.rank(p) for p in parts]
            if isinstance(expr, (gast.BoolOp, gast.IfExp)):       # one of them is the value
                result = _BOTTOM
                for r in ranks:
                    result = _join(result, r)
                return result
            return _broadcast(ranks)
        if isinstance(expr, gast.Call):
            return self._call_rank(expr)
        return _UNKNOWN

    def _call_rank(self, call):
        callee = annotations.get(call, "callee")
        args = [self.rank(a) for a in call.args]
        axis = any(k.arg == "axis" for k in call.keywords)
        if callee in _SCALAR_CALLS or getattr(callee, "__module__", None) == "math":
            return 0
        if callee in table.with_result("reduction", "scalar", "norm") or callee in _REDUCTIONS_WITHOUT_RECORDS:
            if not axis and not (callee is not np.trace and len(call.args) > 1):
                return 0
            return args[0] - 1 if isinstance(args[0], int) and args[0] > 0 else _UNKNOWN
        if callee in table.with_result("creator") and call.args:
            return self._shape_length(call.args[0])
        if callee in _SAME_RANK and args:
            return args[0] if args[0] != "shape" else _UNKNOWN
        if callee in (np.arange, np.ravel):
            return 1
        if callee is np.concatenate and call.args and isinstance(call.args[0], (gast.Tuple, gast.List)):
            result = _BOTTOM              # (a tape grown: np.concatenate((tape, np.empty_like(tape))))
            for part in call.args[0].elts:
                result = _join(result, self.rank(part))
            return result
        if callee is np.reshape and len(call.args) > 1:
            return self._shape_length(call.args[1])
        if callee is np.eye or callee is np.outer:
            return 2
        if callee in (np.dot, np.matmul) and len(args) == 2:
            if _BOTTOM in args:
                return _BOTTOM
            return _MATMUL_RANKS.get(tuple(args), _UNKNOWN)
        if isinstance(callee, np.ufunc) or callee in (abs, min, max, np.where, np.clip):
            return _broadcast(args)
        if _is_python_function(callee) and runtime.is_helper(callee):
            return self.returned_rank(callee)
        return _UNKNOWN

    def returned_rank(self, callee):
        """The rank of what a runtime helper returns (`_row_1`, in a gradient differentiated
        again: a reshape to one axis). Only runtime's: a user's helper's ranks would rest on
        the guessed ranks of its parameters, and a wrong guess could hide a view."""
        key = ("rank", callee)
        if key not in self.summaries:
            self.summaries[key] = _UNKNOWN
            from .desugar import desugar
            from .parse import parse
            try:
                helper = desugar(parse(callee, helper=True))
            except AdjointError:
                return _UNKNOWN
            memory = _SharedMemory(helper, self.summaries, self.inlining + (callee,))
            rank = _BOTTOM
            for stmt in _statements(helper.tree.body):
                if isinstance(stmt, gast.Return) and stmt.value is not None:
                    rank = _join(rank, memory.rank(stmt.value))
            self.summaries[key] = _UNKNOWN if rank == _BOTTOM else rank
        return self.summaries[key]

    def _shape_length(self, shape, seen=()):
        """How many lengths the shape `shape` has: a tuple's, `x.shape`'s and np.shape(x)'s
        (x's rank), two shapes joined (`(n,) + np.shape(first)`: a list comprehension's
        array), a name bound once to one; a number is one length."""
        if isinstance(shape, (gast.Tuple, gast.List)):
            return len(shape.elts)
        if isinstance(shape, gast.Attribute) and shape.attr == "shape":
            return self.rank(shape.value)
        if isinstance(shape, gast.Call) and annotations.get(shape, "callee") is np.shape and len(shape.args) == 1:
            rank = self.rank(shape.args[0])
            return rank if isinstance(rank, int) else _UNKNOWN
        if isinstance(shape, gast.BinOp) and isinstance(shape.op, gast.Add):
            left, right = self._shape_length(shape.left, seen), self._shape_length(shape.right, seen)
            return left + right if isinstance(left, int) and isinstance(right, int) else _UNKNOWN
        rank = self.rank(shape)
        if rank != 0 and isinstance(shape, gast.Name) and shape.id not in seen:
            values = [value for target, value, _ in self.binds
                      if isinstance(target, gast.Name) and target.id == shape.id]
            if len(values) == 1:
                return self._shape_length(values[0], seen + (shape.id,))
        return 1 if rank == 0 else _UNKNOWN

    def may_be_array(self, expr) -> bool:
        return self.rank(expr) not in (0, "shape")

    # memory -----------------------------------------------------------------------------------

    def _infer_roots(self):
        """name -> the names whose memory it may share (itself included); and, per pair,
        the statement that made the name share it."""
        names = set(self.params) | set(self.ranks)
        self.roots = {name: {name} for name in names}
        origin = {}
        for _ in range(100):
            changed = False
            for target, value, stmt in self.binds:
                if id(stmt) in self.rotations:
                    continue
                for name, sources in self._target_sources(target, value):
                    new = sources - self.roots.setdefault(name, {name})
                    if new:
                        self.roots[name] |= new
                        origin.update({(name, root): stmt for root in new})
                        changed = True
            if not changed:
                break
        return self.roots, origin

    def _follow_rotations(self):
        """The ids of the statements `a, b, c = b, c, a` whose names only trade arrays: where
        no other binding makes any of those names share memory with another name (each holds
        an array of its own: a new one, not an argument, a view or a view's base), a
        permutation of the names leaves each array with one name, so writing through one changes
        no other. Such a statement then makes no name share memory. Where any of them may
        share memory otherwise (`v = u[1:]`, `u_n = u0`), the rotation is kept as the binding
        of each to all the others, so a write through any of them is rejected (an array would
        change under another of its names a few iterations later)."""
        trades = [stmt for _target, _value, stmt in self.binds if _trades_names(stmt)
                  and len({n.id for n in stmt.targets[0].elts}) == len(stmt.targets[0].elts)]
        if not trades:
            return
        self.rotations = {id(stmt) for stmt in trades}
        self.roots, self.origin = self._infer_roots()
        group = {n.id for stmt in trades for n in stmt.targets[0].elts}
        separate = all(self.roots.get(name, {name}) == {name} and name not in self.params for name in group) \
            and not any(roots & group for other, roots in self.roots.items() if other not in group)
        if not separate:
            self.rotations = set()
            self.roots, self.origin = self._infer_roots()

    def _target_sources(self, target, value):
        if isinstance(target, gast.Name):
            # a name the code indexes is an array: so is the value bound to it (`r = A[i]`
            # then `r[0] = ...`: A has a rank more than the code's `A[i]` shows)
            return [(target.id, self.sources(value, array=target.id in self.subscripted))]
        if isinstance(target, gast.Tuple):
            if isinstance(value, gast.Tuple) and len(value.elts) == len(target.elts):
                return [pair for t, v in zip(target.elts, value.elts) for pair in self._target_sources(t, v)]
            return [(e.id, self.sources(value)) for e in target.elts
                    if isinstance(e, gast.Name) and self.ranks.get(e.id, _UNKNOWN) not in (0, "shape")]
        return []

    def sources(self, expr, array=False) -> set:
        """The names whose memory the value of the expression may share; `array`: the value
        is known to be an array."""
        return set().union(*(self.roots.get(name, {name}) for name in self.direct_sources(expr, array)))

    def direct_sources(self, expr, array=False) -> set:
        """The names the value of the expression may be (a view of), themselves: `y` of
        `y[1:]`, `np.transpose(y)`, `y`; none for a new array."""
        if isinstance(expr, gast.Name):
            return {expr.id} if array or self.may_be_array(expr) else set()
        if isinstance(expr, gast.Subscript):
            index = expr.slice.elts if isinstance(expr.slice, gast.Tuple) else [expr.slice]
            if any(not isinstance(i, gast.Slice) and self.rank(i) not in (0, _UNKNOWN) for i in index):
                return set()                                      # an index array: a copy
            return self.direct_sources(expr.value, array=True) if array or self.may_be_array(expr) else set()
        if isinstance(expr, gast.IfExp):
            return self.direct_sources(expr.body) | self.direct_sources(expr.orelse)
        if isinstance(expr, (gast.BoolOp, gast.Tuple, gast.List)):
            return set().union(*(self.direct_sources(e) for e in (expr.values if isinstance(expr, gast.BoolOp)
                                                                   else expr.elts)))
        if isinstance(expr, gast.Call):
            callee = annotations.get(expr, "callee")
            if callee in VIEW_CALLS and expr.args:
                return self.direct_sources(expr.args[0])
            if _is_python_function(callee):
                _written, _rebound, returns = self.summary(callee)
                return set().union(*(self.direct_sources(expr.args[k]) for k in returns if k < len(expr.args)))
        return set()                        # arithmetic and numpy's array-making calls: new arrays

    # helpers -------------------------------------------------------------------------------------

    def summary(self, callee):
        """By position: (the parameters the helper may write into, those it adds into as a
        whole, `v += e`, which inlining makes `v = v + e`, and those its result may share
        memory with); unknowable (recursion) counts as all of them."""
        if callee in self.summaries:
            return self.summaries[callee]
        from .parse import parse
        if callee in self.inlining:
            every = set(range(len(parse(callee).args)))
            return every, set(), every
        from .desugar import desugar
        try:
            helper = desugar(parse(callee, helper=True))
        except AdjointError:
            return set(), set(), set()      # normalize reports why it cannot inline the helper
        memory = _SharedMemory(helper, self.summaries, self.inlining + (callee,))
        params = memory.params
        writes = list(memory.in_place_writes())
        written = {k for k, p in enumerate(params) if any(p in w.memory for w in writes)}
        rebound = {k: w.node for w in writes for k, p in enumerate(params)
                   if isinstance(w.node, gast.AugAssign) and w.name == p}
        returned = set().union(*(memory.sources(stmt.value) for stmt in _statements(helper.tree.body)
                                 if isinstance(stmt, gast.Return) and stmt.value is not None))
        self.summaries[callee] = written, rebound, {k for k, p in enumerate(params) if p in returned}
        return self.summaries[callee]

    # writes --------------------------------------------------------------------------------------

    def in_place_writes(self):
        """Each in-place write: a store into an element or slice, an augmented assignment to
        an array, a helper that writes into an argument."""
        for stmt in _statements(self.tree.body):
            target = stmt.targets[0] if isinstance(stmt, gast.Assign) else \
                stmt.target if isinstance(stmt, gast.AugAssign) else None
            if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
                name = target.value.id
                yield _Write(target, set(self.roots.get(name, {name})), name, stmt)
            elif isinstance(stmt, gast.AugAssign) and isinstance(target, gast.Name) \
                    and self.may_be_array(target):
                yield _Write(stmt, set(self.roots.get(target.id, {target.id})), target.id, stmt)
            elif isinstance(target, gast.Tuple):                # s[i], s[i + 1] = ...
                for element in _subscripts_in(target):
                    name = element.value.id
                    yield _Write(element, set(self.roots.get(name, {name})), name, stmt)
            calls = trees.walk(stmt) if self.calls_helpers else ()
            for call in (n for n in calls if isinstance(n, gast.Call)
                         and _is_python_function(annotations.get(n, "callee"))):
                if isinstance(stmt, (gast.If, gast.For, gast.While)) and not _in_header(call, stmt):
                    continue                # visited with the statement of the body it is in
                written, rebound, _returns = self.summary(annotations.get(call, "callee"))
                for k in sorted(written):
                    if k < len(call.args) and self.may_be_array(call.args[k]):
                        argument = call.args[k]
                        yield _Write(call, self.sources(argument),
                                     argument.id if isinstance(argument, gast.Name) else None, stmt,
                                     argument, [a for j, a in enumerate(call.args) if j != k],
                                     rebound.get(k))

    def check(self):
        for write in self.in_place_writes():
            if write.rebinding is not None and write.memory:     # a new array passed: nobody sees it
                self.fail_rebinding(write)
            sharing = sorted(o for o, roots in self.roots.items() if o != write.name and roots & write.memory)
            if write.name is not None and (not self._viewed_before(write, sharing)
                                           or self._views_dead_after(write, sharing)):
                sharing = []                # no view of this memory reads the written values
            sharing += [self.text(a) for a in write.others if self.sources(a) & write.memory
                        and not (isinstance(a, gast.Name) and a.id == write.name)]
            if sharing:
                self.fail(write, sharing)

    def _views_dead_after(self, write, sharing) -> bool:
        """Does the write go into memory the written name holds as its own (made by its own
        binding, or its parameter's), and is every other name that may hold that memory then
        (`_memory_after`, which follows bindings in order) dead after the write, read again,
        if ever, only once bound anew? Then no name reads the written values but the array's
        own (`t = f[1:]`, `f[1:] = t - force`, as a gradient's forward sweep has it), and the
        gradient is right as for separate arrays: the reverse sweep copies a view it reads
        of an array written later (transforms.reverse_facts.views_written_later), so the views
        must be the plain ones it knows (`z = y[1:]`, `z = y.T`, `z = y`)."""
        if not sharing:
            return False
        if self.live_after is None:
            self.live_after = _live_after(self.tree.body)
            self.memory_after = self._memory_after()
        memory, live = self.memory_after[id(write.statement)], self.live_after[id(write.statement)]
        mine = memory.get(write.name, self._held_before_binding(write.name))
        if any(token[1] != write.name for token in mine):
            return False                        # a view of another name's memory
        if any(name != write.name and name in live and not held.isdisjoint(mine)
               for name, held in memory.items()):
            return False
        return all(_plain_view(stmt) for (name, _root), stmt in self.origin.items() if name in sharing)

    def _held_before_binding(self, name) -> frozenset:
        return frozenset({("argument", name) if name in self.params else ("unbound", name)})

    def _memory_after(self) -> dict:
        """id(statement) -> {name: the memory the name may hold just after it}, each memory a
        token: (id(binding), name) for the newest array bound to the name there, (id(binding),
        name, "earlier") for those earlier runs of that binding made, ("argument", name) for a
        parameter's; a view or an alias holds its base's. A may-analysis in the order the
        statements run (a loop's body to its fixpoint; its exit keeps what any pass held)."""
        after = {}

        def block(stmts, state):
            for stmt in stmts:
                state = transfer(stmt, state)
                after[id(stmt)] = state
            return state

        def merged(*states):
            out = dict(states[0])
            for state in states[1:]:
                for name, held in state.items():
                    out[name] = out[name] | held if name in out else held
            return out

        def transfer(stmt, state):
            if isinstance(stmt, gast.If):
                return merged(block(stmt.body, state), block(stmt.orelse, state))
            if isinstance(stmt, (gast.For, gast.While)):
                if isinstance(stmt, gast.For):
                    state = dict(state, **{n: frozenset({(id(stmt), n)}) for n in _names(stmt.target)})
                head = state
                while True:
                    new = merged(head, block(stmt.body, head))
                    if new == head:
                        break
                    head = new
                inside = [after[id(s)] for s in _statements(stmt.body)]
                return block(stmt.orelse, merged(head, *inside))
            if isinstance(stmt, gast.Assign):
                state = dict(state)
                for name, value, array in _bound_values(stmt.targets[0], stmt.value, self):
                    bases = self.direct_sources(value, array=array)
                    if bases:
                        state[name] = frozenset().union(*(state.get(b, self._held_before_binding(b)) for b in bases))
                        continue
                    # a new array: no other name holds it yet, so one that holds this binding's
                    # token holds an array an earlier run of it made (a loop's `s2 = np.copy(s)`
                    # after `s = s2`), told apart from the new one
                    new, earlier = (id(stmt), name), (id(stmt), name, "earlier")
                    for other, held in state.items():
                        if new in held:
                            state[other] = held - {new} | {earlier}
                    state[name] = frozenset({new})
            return state

        block(self.tree.body, {})
        return after

    def _viewed_before(self, write, sharing) -> bool:
        """Can a binding that makes these names share memory run before the write? Not if
        each comes later in the source and shares no loop with it (the emitted gradient's
        `tape[k] = a` in the forward loop, `a = tape[k]` in the reverse loop): a view taken
        after the write sees the written values, as adjoint assumes."""
        group = set(write.memory) | set(sharing) | {write.name}
        at, loops = self.order[id(write.statement)], self.loops[id(write.statement)]
        for target, value, stmt in self.binds:
            for name, sources in self._target_sources(target, value):
                if name in group and (sources - {name}) & group and \
                        (self.order[id(stmt)] < at or self.loops[id(stmt)] & loops) \
                        and not self._made_anew_between(stmt, write):
                    return True
        return False

    def _made_anew_between(self, bind, write) -> bool:
        """Does every path from `bind` back to the write pass a statement that binds the written
        name to a new array? So where the binding comes later in the source, inside a loop
        around the write, and that loop's body makes the array anew before the write or after
        the binding (`new = np.zeros(n)`, `new[j] = ...`, then `alpha = new`): the next
        iteration writes into the new array."""
        if write.name is None or self.order[id(bind)] < self.order[id(write.statement)]:
            return False
        shared = self.loops[id(bind)] & self.loops[id(write.statement)]
        if not shared:
            return False
        loop = self.statement_of[max(shared, key=lambda k: self.order[k])]     # the innermost
        place = {}                          # the body's statement holding the write, the binding
        for k, stmt in enumerate(loop.body):
            for inner in _statements([stmt]):
                if inner is write.statement or inner is bind:
                    place[id(inner)] = k
        return any(isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)
                   and stmt.targets[0].id == write.name and not self.sources(stmt.value, array=True)
                   and (k < place[id(write.statement)] or k > place[id(bind)])
                   for k, stmt in enumerate(loop.body))

    def fail_rebinding(self, write):
        """A helper adds into its array parameter in place (`v += e`): the caller's array
        changes, but the inlined helper computes v = v + e, which the caller does not see."""
        helper, argument = self.text(write.node.func), self.text(write.argument)
        line = write.rebinding
        raise AdjointError(
            f"`{helper}` changes its argument `{argument}` in place (`{annotations.get(line, 'source_text')}`, "
            f"line {line.lineno}), so `{argument}` here changes too and the two share memory: adjoint inlines "
            f"the helper with a new value instead, so the gradient would be wrong",
            location=locate(write.node, self.filename),
            hint=f"pass a copy, {helper}(np.copy({argument}), ...), or make the helper return the new "
                 f"value and rebind it here")

    def fail(self, write, sharing):
        node, name = write.node, write.name
        other = next((o for o in sharing if self._link(name, o) is not None), sharing[0])
        link = self._link(name, other)
        made = f" (`{annotations.get(link, 'source_text')}`, line {link.lineno})" if link is not None \
            and annotations.get(link, "source_text") else ""
        if name is None:                    # a helper writes into a view passed to it
            argument = self.text(write.argument)
            raise AdjointError(
                f"`{self.text(node.func)}` writes into its argument `{argument}`, and `{argument}` and "
                f"`{other}` share memory, so the write changes `{other}` too: adjoint differentiates "
                f"them as separate arrays, so the gradient would be wrong", location=locate(node, self.filename),
                hint=f"pass a copy, np.copy({argument}), or write into `{other}` directly")
        view_of_other = link is not None and _bound_name(link) == name
        view, array = (name, other) if view_of_other or link is None else (other, name)
        bound = link.value if link is not None and _bound_name(link) == view else None
        error = AdjointError
        if bound is not None and view not in self.subscripted and self._rank_dependent(bound):
            error = AdjointTypeError if self.guessed else AdjointError
            # `z = y` or `r = A[i]`: a view only if y (A) is an array (a matrix), which the
            # source does not show; a new value is right for every rank
            message = (f"`{view}` and `{array}` may share memory{made}: if `{self.text(bound.value if isinstance(bound, gast.Subscript) else bound)}` "
                       f"is {'a matrix' if isinstance(bound, gast.Subscript) else 'an array'}, `{view}` is a view of it, "
                       f"and this line writes into `{name}` in place, which changes `{other}` too: adjoint "
                       f"differentiates them as separate arrays, so the gradient would be wrong")
            hint = (f"make `{view}` a new value, a number or a copy whatever the rank: "
                    f"{view} = {self.text(bound)} * 1.0 (or {view} = np.copy({self.text(bound)}) for an array)")
        else:
            message = (f"`{view}` and `{array}` share memory{made}, and this line writes into "
                       f"`{name}` in place, which changes `{other}` too: adjoint differentiates them as "
                       f"separate arrays, so the gradient would be wrong")
            copy_of = f"{view} = np.copy({self.text(bound)})" if bound is not None else f"bind `{view}` with np.copy(...)"
            if view == name:
                hint = f"write into `{array}` directly{_matching_element(link, node, self.text)}, or make `{view}` a copy: {copy_of}"
            else:
                hint = (f"make `{view}` a copy taken after the write ({copy_of} below this line), or read "
                        f"`{array}` directly instead of `{view}`")
        if _trades_names(link):
            # `a, b, c = b, c, a`: the arrays change names, which the check does not follow
            values = ", ".join(f"{self.text(v)}.copy()" for v in link.value.elts)
            hint = f"copy while the names trade arrays: {self.text(link.targets[0])} = {values}"
        if isinstance(node, gast.AugAssign):
            hint += (f"; or rebind instead of writing in place: {name} = {name} "
                     f"{_OPERATOR_TEXT.get(type(node.op), '+')} ...")
        raise error(message, location=locate(node, self.filename), hint=hint)

    def text(self, node) -> str:
        """The expression as the user wrote it (`A.T`, not the parsed np.transpose(A)) where it
        sits on one line, else unparsed."""
        import ast
        import linecache
        line, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if line is not None and line == end and getattr(node, "end_col_offset", None) is not None:
            text = linecache.getline(self.filename, line)[node.col_offset:node.end_col_offset]
            try:
                ast.parse(text, mode="eval")
                return text
            except SyntaxError:
                pass
        return ast.unparse(gast.gast_to_ast(node))

    def _rank_dependent(self, value) -> bool:
        """Is the value a view only for some ranks the source leaves open (`y`, `A[i]`)?"""
        if isinstance(value, gast.Name):
            return not isinstance(self.ranks.get(value.id, _UNKNOWN), int)
        if isinstance(value, gast.Subscript):
            index = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
            return not any(isinstance(i, gast.Slice) for i in index) and \
                not isinstance(self.rank(value.value), int)
        return False

    def _link(self, name, other):
        """The statement that made `name` share memory with `other`, or the reverse."""
        if name is None:
            return None
        for a, b in ((name, other), (other, name)):
            if (a, b) in self.origin:
                return self.origin[(a, b)]
        common = self.roots.get(name, set()) & self.roots.get(other, set())
        return next((self.origin[(a, r)] for r in sorted(common) for a in (name, other)
                     if (a, r) in self.origin), None)


@dataclasses.dataclass
class _Write:
    node: gast.AST              # where the error points: the store's target, the statement, the call
    memory: set                 # the names whose memory it writes
    name: str | None            # the name written through (None: a view expression passed to a helper)
    statement: gast.stmt        # the statement it is in
    argument: gast.AST = None   # a helper's: the argument it writes into ...
    others: list = dataclasses.field(default_factory=list)     # ... and the call's other arguments
    rebinding: gast.AST = None  # ... and its `v += e` on that parameter, if it adds into it whole


def _trades_names(link) -> bool:
    """`a, b, c = b, c, a`: a tuple of names bound to the same names in another order."""
    if not (isinstance(link, gast.Assign) and isinstance(link.targets[0], gast.Tuple)
            and isinstance(link.value, gast.Tuple)):
        return False
    targets, values = link.targets[0].elts, link.value.elts
    return all(isinstance(n, gast.Name) for n in targets + values) \
        and sorted(n.id for n in targets) == sorted(n.id for n in values)


def _number(body, loops, order, enclosing):
    """Each statement's place in the source (pre-order) and the loops around it, by id."""
    for stmt in body:
        order[id(stmt)], enclosing[id(stmt)] = len(order), set(loops)
        inner = loops + (id(stmt),) if isinstance(stmt, (gast.For, gast.While)) else loops
        for field in ("body", "orelse"):
            block = getattr(stmt, field, None)
            if isinstance(block, list) and block and isinstance(block[0], gast.stmt):
                _number(block, inner, order, enclosing)


def _plain_view(stmt) -> bool:
    """`z = y`, `z = y[...]`, `z = y.T` or a view call of y: the forms the reverse
    transformation recognises as views (view_base), and copies where it reads one of an array
    written later. (sources() left index arrays out already.)"""
    return isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
        and view_base(stmt.value) is not None


def view_base(value, index_array=lambda index: False):
    """The name `value` is a plain view of (`y` of `y`, `y[1:3]`, `y[i]`, `y.T`, a view call
    `np.transpose(y)`), else None; `index_array(index)` tells an index component that makes
    a copy. The views check and the reverse sweep's copies (transforms.reverse) both read
    views by this one definition."""
    if isinstance(value, gast.Name):
        return value.id
    if isinstance(value, gast.Subscript) and isinstance(value.value, gast.Name):
        index = value.slice.elts if isinstance(value.slice, gast.Tuple) else [value.slice]
        return None if any(index_array(i) for i in index) else value.value.id
    if isinstance(value, gast.Attribute) and value.attr == "T" and isinstance(value.value, gast.Name):
        return value.value.id
    if isinstance(value, gast.Call) and annotations.get(value, "callee") in VIEW_CALLS \
            and value.args and isinstance(value.args[0], gast.Name):
        return value.args[0].id
    return None


def _live_after(body) -> dict:
    """id(statement) -> the names that some path from just after it reads before binding them
    anew: liveness by name, each loop's body solved to its fixpoint; `break` goes on with what
    follows its loop, `continue` with the loop's head."""
    after = {}

    def block(stmts, live, loop):
        for stmt in reversed(stmts):
            after[id(stmt)] = frozenset(live)
            live = transfer(stmt, live, loop)
        return live

    def transfer(stmt, live, loop):
        if isinstance(stmt, gast.If):
            return block(stmt.body, live, loop) | block(stmt.orelse, live, loop) | _loads(stmt.test)
        if isinstance(stmt, (gast.For, gast.While)):
            ended = block(stmt.orelse, live, loop)
            header = _loads(stmt.test) if isinstance(stmt, gast.While) else set()
            bound = _names(stmt.target) if isinstance(stmt, gast.For) else set()
            head = ended | header
            while True:
                entered = block(stmt.body, head, (live, head)) - bound
                new = head | entered
                if new == head:
                    break
                head = new
            return head | (_loads(stmt.iter) if isinstance(stmt, gast.For) else set())
        if isinstance(stmt, gast.Break):
            return set(loop[0]) if loop else set()
        if isinstance(stmt, gast.Continue):
            return set(loop[1]) if loop else set()
        if isinstance(stmt, (gast.Return, gast.Raise)):
            return _loads(stmt)
        if isinstance(stmt, gast.Assign):
            return (live - _names(stmt.targets[0])) | _loads(stmt)
        if isinstance(stmt, gast.AugAssign):
            return live | _loads(stmt) | _names(stmt.target)
        return live | _loads(stmt)

    block(body, set(), None)
    return after


def _bound_values(target, value, memory) -> list:
    """(name, the value bound to it, whether that is known to be an array) for each name an
    assignment binds, as _SharedMemory._target_sources pairs them."""
    if isinstance(target, gast.Name):
        return [(target.id, value, target.id in memory.subscripted)]
    if isinstance(target, gast.Tuple):
        if isinstance(value, gast.Tuple) and len(value.elts) == len(target.elts):
            return [bound for t, v in zip(target.elts, value.elts) for bound in _bound_values(t, v, memory)]
        return [(e.id, value, False) if memory.ranks.get(e.id, _UNKNOWN) not in (0, "shape") else (e.id, None, False)
                for e in target.elts if isinstance(e, gast.Name)]
    return []


def _loads(node) -> set:
    return {n.id for n in trees.walk(node) if isinstance(n, gast.Name) and not isinstance(n.ctx, gast.Store)}


def _statements(body):
    for stmt in body:
        yield stmt
        for field in ("body", "orelse"):
            inner = getattr(stmt, field, None)
            if isinstance(inner, list) and inner and isinstance(inner[0], gast.stmt):
                yield from _statements(inner)


def _subscripts_in(target) -> list:
    """The element and slice stores of a tuple target (`s[i], s[i + 1] = ...`)."""
    found = []
    for element in target.elts:
        if isinstance(element, gast.Tuple):
            found += _subscripts_in(element)
        elif isinstance(element, gast.Subscript) and isinstance(element.value, gast.Name):
            found.append(element)
    return found


def _names(target) -> set:
    return {n.id for n in trees.walk(target) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}


def _arithmetic_names(expr, tests=False) -> set:
    """The names an expression's value is computed from by arithmetic alone (`a * b + c`,
    `-a`, either branch of `a if t else b`); with `tests`, also through comparisons, `and`,
    `or` and `not` (a condition)."""
    if isinstance(expr, gast.Name):
        return {expr.id}
    if isinstance(expr, gast.BinOp):
        return _arithmetic_names(expr.left, tests) | _arithmetic_names(expr.right, tests)
    if isinstance(expr, gast.UnaryOp) and (tests or not isinstance(expr.op, gast.Not)):
        return _arithmetic_names(expr.operand, tests)
    if isinstance(expr, gast.IfExp):
        return _arithmetic_names(expr.body, tests) | _arithmetic_names(expr.orelse, tests)
    if tests and isinstance(expr, gast.BoolOp):
        return set().union(*(_arithmetic_names(v, tests) for v in expr.values))
    if tests and isinstance(expr, gast.Compare):
        return set().union(*(_arithmetic_names(v, False) for v in [expr.left] + expr.comparators))
    return set()


def _in_header(call, stmt):
    header = stmt.test if isinstance(stmt, (gast.If, gast.While)) else stmt.iter
    return any(n is call for n in trees.walk(header))


def _join(a, b):
    if a == _BOTTOM:
        return b
    if b == _BOTTOM or a == b:
        return a
    return _UNKNOWN


def _broadcast(ranks):
    known = [r for r in ranks if r != _BOTTOM]
    if not known:
        return _BOTTOM
    if _UNKNOWN in known:
        return _UNKNOWN
    return max(0 if r == "shape" else r for r in known)


def _bound_name(stmt):
    target = stmt.targets[0] if isinstance(stmt, gast.Assign) else None
    return target.id if isinstance(target, gast.Name) else None


def _matching_element(link, node, text):
    """` (y[1] = ...)` for a write z[0] = ... through z = y[1:], where both are constants."""
    if not (isinstance(link, gast.Assign) and isinstance(link.value, gast.Subscript)
            and isinstance(link.value.slice, gast.Slice) and isinstance(node, gast.Subscript)):
        return ""
    view, index = link.value.slice, node.slice
    lower = view.lower.value if isinstance(view.lower, gast.Constant) else 0 if view.lower is None else None
    if view.step is None and isinstance(lower, int) and isinstance(index, gast.Constant) \
            and type(index.value) is int and index.value >= 0 and lower >= 0:
        return f" ({text(link.value.value)}[{lower + index.value}] = ...)"
    return " at the matching index"
