"""Python's iteration idioms, written as the range loops and element reads the later stages know.

    for a, b in zip(x, w):              for i in range(min(len(x), len(w))):
        total += a * b          ->          a = x[i]
                                            b = w[i]
                                            total += a * b

    s = sum(x[i] ** 2 for i in range(n))    ->    s = 0.0
                                                  for i in range(n):
                                                      s = s + x[i] ** 2

Why a stage of its own, before validate: every later stage (types, activity, the reverse
sweep's tapes and replays, the cuda lowering) is built on one loop form, `for i in range(...)`
with explicit element reads, and differentiating `for v in x` is exactly differentiating the
element read `v = x[i]` (its reverse adds `s_v` into `s_x[i]`). Rewriting the idioms here, in
the user's own syntax, gives them every feature of that one form at once (checkpoints, carried
scatter-adds, the cuda target) and keeps the emitted code readable: the loop reads as a
hand-written one. What it rewrites:

- `for v in x` (rows of a matrix included), `for i, v in enumerate(x[, start])`, `for a, b in
  zip(x, w, ...)` (nested: `enumerate(zip(...))`), `reversed(x)`, `reversed(range(...))`:
  a range loop whose body first binds the targets to element reads. An iterable other than a
  name (or a name the body rebinds) is bound once before the loop, as Python evaluates it once.
  `for p in (W1, b1, W2)` over a literal tuple or list: the body once per element (they may
  be arrays of different shapes).
- `sum(<generator>)`, `np.sum([...])`, `math.fsum`, `np.prod`, `max`, `min`, `np.mean([...])`:
  a loop accumulating into a scalar (a max from -inf); `np.array([e for ...])`,
  `np.stack([e for ...])`: the first element computed before a loop filling the rest of a new
  float array, `np.zeros((n,) + np.shape(first))` (so the elements may be numbers, rows or
  matrices; nested `np.array([[...] for ...])` stacks its rows). Comprehension variables
  are renamed where the function uses the name elsewhere (they are local to the comprehension).
  Other comprehensions are an AdjointError with a loop to write instead.

`version_retyped` (run by the pipeline when the analysis finds a name with two types, on the
normalized tree, whose types are then known) renames a name rebound to another rank at the
function's top level (`x = np.sum(x)`) into versions `x`, `x_2`, ..., since the later stages
give each name one type; a function without such a conflict pays nothing for it.
"""

from __future__ import annotations

import builtins
import copy
import dataclasses
import keyword
import math

import gast
import numpy as np

from ..analysis import shapes
from ..errors import AdjointError, AdjointTypeError, locate
from ..ir import annotations, nodes, trees
from . import markers
from .namespace import is_reserved

COMPREHENSIONS = (gast.ListComp, gast.GeneratorExp)
# reductions of a comprehension, as a loop: callee -> (the accumulator's name, its start, the step)
REDUCTIONS = {
    **dict.fromkeys((builtins.sum, np.sum, math.fsum), ("total", lambda: nodes.const(0.0), "+")),
    **dict.fromkeys((np.prod, math.prod), ("product", lambda: nodes.const(1.0), "*")),
    **dict.fromkeys((builtins.max, np.max, np.amax), ("largest", lambda: nodes.neg(nodes.attribute("math.inf")), max)),
    **dict.fromkeys((builtins.min, np.min, np.amin), ("smallest", lambda: nodes.attribute("math.inf"), min)),
}
SUMS = tuple(REDUCTIONS)
ARRAY_OF = (np.array, np.asarray, np.stack)     # of a list comprehension: a loop filling an array
INDEX_NAMES = ("i", "j", "k", "m")
LOOP_HINT = "write the loop out: total = 0.0, then `for v in x: total += ...`"
ARRAY_HINT = "fill an array in a loop: y = np.zeros(n), then `for i in range(n): y[i] = ...`"


def desugar(parsed, sequences=None):
    """`parsed` (a frontend.parse.ParsedFunction) with its tree rewritten, or `parsed` itself
    where there is nothing to rewrite; the given tree is not changed. `sequences`: for an
    inlined helper, its parameters bound to the caller's literal tuple or list -> its length
    (a loop over one is unrolled as over the literal)."""
    parsed = markers.mark(parsed)                 # a loop's own snapshot budget, noted on it
    if not _needed(parsed.tree):
        return parsed
    tree = nodes.clone(parsed.tree)
    tree.body = _Desugarer(parsed, tree, sequences).block(tree.body)
    return dataclasses.replace(parsed, tree=tree)


def _needed(tree) -> bool:
    for node in trees.walk_branches(tree):          # (no name or constant tells)
        if isinstance(node, COMPREHENSIONS):
            return True
        if isinstance(node, gast.For) and annotations.get(node.iter, "callee") is not range:
            return True
        if isinstance(node, gast.Call) and _is_sum_of_array(node):
            return True
    return False


def _is_sum_of_array(call) -> bool:
    """`sum(x)` of one argument that is no comprehension or literal: Python adds x's items,
    the rows of a matrix, which is np.sum(x, axis=0)."""
    return annotations.get(call, "callee") is builtins.sum and len(call.args) == 1 and not call.keywords \
        and not isinstance(call.args[0], COMPREHENSIONS + (gast.List, gast.Tuple, gast.Starred)) \
        and not (isinstance(call.args[0], gast.Call) and annotations.get(call.args[0], "callee") is range)


@dataclasses.dataclass
class _Plan:
    """What one iteration of an iterable binds: `lengths` (the loop runs min of them times),
    and `item`: a function of the index's name giving the element of that iteration, or a
    list of such items (zip and enumerate yield tuples)."""
    lengths: list
    item: object


class _Desugarer:
    def __init__(self, parsed, tree, sequences=None):
        self.parsed, self.filename = parsed, parsed.filename
        self.tree = tree
        self.sequences = sequences or {}
        self.taken = {n.id for n in trees.walk(tree) if isinstance(n, gast.Name)}
        self.indices = []                   # the index names of the desugared loops around
        self.own_indices = set()            # the index names this stage chose

    def fail(self, node, message, hint):
        raise AdjointError(message, location=locate(node, self.filename), hint=hint)

    def fresh(self, base) -> str:
        k, name = 1, base
        while name in self.taken or is_reserved(name) or keyword.iskeyword(name):
            k += 1
            name = f"{base}_{k}"
        self.taken.add(name)
        return name

    def index_name(self) -> str:
        """A loop index no user name and no enclosing desugared loop uses (i, j, k, ...)."""
        for name in INDEX_NAMES:
            if name not in self.taken or (name in self.own_indices and name not in self.indices):
                self.taken.add(name)
                self.own_indices.add(name)
                return name
        name = self.fresh("i")
        self.own_indices.add(name)
        return name

    # statements ----------------------------------------------------------------------------

    def block(self, stmts):
        out = []
        for stmt in stmts:
            out.extend(self.statement(stmt))
        return out

    def statement(self, stmt):
        pre = []
        if isinstance(stmt, gast.While):
            self.no_comprehension(stmt.test, "in a while condition",
                                  "compute it into a variable before the loop and again at the end of its body")
        elif isinstance(stmt, gast.If):
            stmt.test = self.expression(stmt.test, pre, stmt)
        elif isinstance(stmt, gast.For):
            stmt.iter = self.expression(stmt.iter, pre, stmt)
        elif isinstance(stmt, (gast.Assign, gast.AugAssign, gast.Return, gast.Expr)) and stmt.value is not None:
            if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1:
                direct = self.direct_comprehension(stmt)
                if direct is not None:
                    return direct
            stmt.value = self.expression(stmt.value, pre, stmt)
        if isinstance(stmt, gast.For):
            return pre + self.loop(stmt)
        if isinstance(stmt, (gast.If, gast.While)):
            stmt.body = self.block(stmt.body) or [nodes.pass_(stmt)]
            stmt.orelse = self.block(stmt.orelse)
        return pre + [stmt]

    # loops ---------------------------------------------------------------------------------

    def loop(self, stmt):
        """A `for` over anything but range(...) as a range loop with element reads first."""
        iterable, target = stmt.iter, stmt.target
        if stmt.orelse:
            return [stmt]                         # validate rejects the `else`, with its hint
        callee = annotations.get(iterable, "callee")
        if callee is reversed and len(iterable.args) == 1 and not iterable.keywords \
                and annotations.get(iterable.args[0], "callee") is range and isinstance(target, gast.Name):
            stmt.iter = _located(_call("range", range, self.reversed_range(iterable.args[0])), iterable)
            callee = range
        if callee is range:
            return [self.in_loop(stmt, target.id if isinstance(target, gast.Name) else None)]
        if isinstance(iterable, (gast.Tuple, gast.List)):
            return self.unrolled(stmt)
        elements = self.literal_elements(iterable)
        if elements is not None:                  # params = [(W1, b1), (W2, b2)]; for W, b in params:
            stmt.iter = _located(nodes.tuple_of([nodes.clone(e) for e in elements]), iterable)
            return self.unrolled(stmt)
        pre = []
        rebound = {n.id for s in stmt.body for n in trees.walk(s)
                   if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        plan = self.plan(iterable, stmt, pre, rebound, target)
        index = None
        if isinstance(target, gast.Tuple) and len(target.elts) == 2 and isinstance(target.elts[0], gast.Name) \
                and isinstance(plan.item, list) and plan.item[0] is _INDEX:
            index = target.elts[0].id           # enumerate(x): the user's own counter
        index = index or self.index_name()
        binds = self.bind(target, _instantiate(plan.item, index), stmt)
        loop = nodes.for_(index, _call("range", range, [self.count(plan, iterable)]), binds + stmt.body, stmt)
        return pre + [self.in_loop(loop, index)]

    def literal_elements(self, iterable):
        """The elements of a literal tuple or list that `iterable` names: a name the function
        binds once, to the literal, and never changes (`params = [(W1, b1), (W2, b2)]`), or a
        slice of it by numbers (`params[:-1]`); else None. A loop over it is unrolled as over
        the literal itself: its elements may be tuples of arrays of several shapes, which no
        one array holds. A helper's parameter the caller binds to such a literal (and the
        helper never rebinds) counts too: its elements are `params[0]`, `params[1]`, ..."""
        base, part = iterable, None
        if isinstance(iterable, gast.Subscript) and isinstance(iterable.slice, gast.Slice):
            base, part = iterable.value, iterable.slice
        if not isinstance(base, gast.Name):
            return None
        binding, uses, stores = None, 0, {}
        for node in trees.walk(self.tree):
            if isinstance(node, gast.Name) and not isinstance(node.ctx, gast.Load):
                stores[node.id] = stores.get(node.id, 0) + 1
            if isinstance(node, gast.Assign) and isinstance(node.value, gast.Name) and node.value.id == base.id:
                return None                                      # an alias (ps = params) may change it
            if isinstance(node, gast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], gast.Name) \
                    and node.targets[0].id == base.id and isinstance(node.value, (gast.List, gast.Tuple)):
                binding = node
            elif isinstance(node, gast.Name) and node.id == base.id and not isinstance(node.ctx, gast.Load):
                uses += 1                                        # bound again, or a parameter
            elif isinstance(node, (gast.Attribute, gast.Subscript)) and isinstance(node.value, gast.Name) \
                    and node.value.id == base.id and (isinstance(node, gast.Attribute)
                                                      or not isinstance(node.ctx, gast.Load)):
                return None                                      # params.append(...), params[0] = ...
        if binding is None and uses == 1 and base.id in self.sequences \
                and base.id in self.parsed.args:
            elements = [_located(nodes.subscript(nodes.name(base.id), nodes.const(k)), base)
                        for k in range(self.sequences[base.id])]
            return _part(elements, part)
        if binding is None or uses != 1 or any(isinstance(e, gast.Starred) for e in binding.value.elts):
            return None
        if all(_is_number(e) for e in binding.value.elts):
            return None                  # numbers: one array holds them, and a loop stays a loop
        if any(stores.get(n.id, 0) > 1 for n in trees.walk(binding.value) if isinstance(n, gast.Name)):
            return None                  # an element's name bound again may hold another value by the loop
        return _part(binding.value.elts, part)

    def unrolled(self, stmt):
        """`for p in (W1, W2):` over a literal tuple or list: the body once per element, after
        `p = W1` (the elements may be arrays of different shapes, which one loop cannot hold)."""
        elements = stmt.iter.elts
        if any(isinstance(e, gast.Starred) for e in elements):
            self.fail(stmt.iter, "a for loop over a literal with a starred element is not supported",
                      "list the elements: for v in (a, b, c)")
        exits = [n for s in stmt.body for n in _outside_loops(s) if isinstance(n, (gast.Break, gast.Continue))]
        if exits:
            self.fail(exits[0], f"`{'break' if isinstance(exits[0], gast.Break) else 'continue'}` in a loop over "
                                "a literal tuple or list is not supported",
                      "loop over indices: put the values in an array, v = np.array([a, b]), and "
                      "`for i in range(len(v)):`")
        # each copy binds its own version of the target (W, W_2): the elements' shapes differ,
        # and one name taking several shapes is what the later stages handle least well
        inside = {id(n) for n in trees.walk(stmt)}
        elsewhere = {n.id for n in trees.walk(self.tree) if isinstance(n, gast.Name) and id(n) not in inside}
        own = sorted({n.id for n in trees.walk(stmt.target) if isinstance(n, gast.Name)} - elsewhere)
        out = []
        for k, element in enumerate(elements):
            copy = [nodes.assign_to(nodes.store(stmt.target), element, stmt)] + nodes.clone(stmt.body)
            if k:
                versions = {name: self.fresh(f"{name}_{k + 1}") for name in own}
                for node in (n for s in copy for n in trees.walk(s)):
                    if isinstance(node, gast.Name) and node.id in versions:
                        node.id = versions[node.id]
            out.extend(self.block(copy))
        return out

    def count(self, plan, origin):
        if len(plan.lengths) == 1:
            return nodes.clone(plan.lengths[0])
        return _located(_call("min", min, [nodes.clone(n) for n in plan.lengths]), origin)

    def in_loop(self, loop, index):
        self.indices.append(index)
        try:
            loop.body = self.block(loop.body) or [nodes.pass_(loop)]
        finally:
            self.indices.pop()
        return loop

    def plan(self, iterable, stmt, pre, rebound, target):
        callee = annotations.get(iterable, "callee") if isinstance(iterable, gast.Call) else None
        if callee in (zip, enumerate, reversed, range) and iterable.keywords and not (
                callee is enumerate and [k.arg for k in iterable.keywords] == ["start"]):
            self.fail(iterable, f"keyword arguments of {callee.__name__}(...) are not supported",
                      "enumerate(x, start) takes its start by position" if callee is enumerate
                      else f"call {callee.__name__}(...) without them")
        if callee is zip:
            if not iterable.args:
                self.fail(iterable, "zip() of nothing", "zip one or more arrays")
            starred = next((a for a in iterable.args if isinstance(a, gast.Starred)), None)
            if starred is not None and len(iterable.args) == 1 and isinstance(target, gast.Tuple) \
                    and all(isinstance(e, gast.Name) for e in target.elts):
                # `for a, b in zip(*pair)`: pair unpacked into one name per target first
                # (`zip_part, zip_part_2 = pair`; a sequence of another length fails to unpack, as in Python)
                parts = [self.fresh("zip_part") for _ in target.elts]
                pre.append(nodes.assign_to(nodes.tuple_(parts, store=True), starred.value, stmt))
                iterable = annotations.copy_to(copy.copy(iterable), iterable)
                iterable.args = [_located(nodes.name(p), starred) for p in parts]
                starred = None
            if starred is not None:
                self.fail(starred, "zip(*...) of a starred argument is not supported",
                          "unpack the sequences into names first, `a, b, c = ...`, then zip(a, b, c)")
            targets = target.elts if isinstance(target, gast.Tuple) and len(target.elts) == len(iterable.args) \
                else [None] * len(iterable.args)
            parts = [self.plan(a, stmt, pre, rebound, t) for a, t in zip(iterable.args, targets)]
            return _Plan([n for p in parts for n in p.lengths], [p.item for p in parts])
        if callee is enumerate:
            args = list(iterable.args) + [k.value for k in iterable.keywords]
            if not 1 <= len(args) <= 2:
                self.fail(iterable, "enumerate(...) takes an iterable and a start", "enumerate(x) or enumerate(x, 1)")
            inner_target = target.elts[1] if isinstance(target, gast.Tuple) and len(target.elts) == 2 else None
            inner = self.plan(args[0], stmt, pre, rebound, inner_target)
            if len(args) == 2:
                start = args[1]
                counter = lambda i: _located(nodes.binop(_ref(i), "+", nodes.clone(start)), iterable)  # noqa: E731
            else:
                counter = _INDEX
            return _Plan(inner.lengths, [counter, inner.item])
        if callee is range:
            return self.range_plan(iterable)
        if callee is reversed:
            if len(iterable.args) != 1:
                self.fail(iterable, "reversed(...) takes one argument", "reversed(x) or reversed(range(n))")
            inner_call = iterable.args[0]
            if annotations.get(inner_call, "callee") is range:
                bounds = self.reversed_range(inner_call)
                return self.range_plan(_located(_call("range", range, bounds), iterable))
            inner = self.plan(inner_call, stmt, pre, rebound, target)
            if len(inner.lengths) != 1 or isinstance(inner.item, list):
                self.fail(iterable, "reversed(...) of zip or enumerate is not supported",
                          "loop over indices backwards: for i in range(len(x) - 1, -1, -1)")
            n = inner.lengths[0]
            return _Plan([n], lambda i: inner.item(_located(nodes.binop(
                nodes.binop(nodes.clone(n), "-", nodes.const(1)), "-", _ref(i)), iterable)))
        if isinstance(iterable, COMPREHENSIONS) or isinstance(iterable, (gast.List, gast.Tuple, gast.Set, gast.Dict)):
            self.fail(iterable, "a loop over a literal list, tuple or comprehension is supported only as the "
                                "whole iterable of a for loop",
                      "loop over indices: `for i in range(n):` and compute each value from i")
        if isinstance(iterable, gast.Call) and callee in (dict, list, tuple, set, map, filter):
            self.fail(iterable, f"a for loop over {callee.__name__}(...) is not supported",
                      "loop over an array's indices: for i in range(len(x))")
        # an array: its first axis
        if isinstance(iterable, gast.Name) and iterable.id not in rebound:
            sequence = iterable.id
        else:
            base = target.id + "s" if isinstance(target, gast.Name) else "items"
            sequence = self.fresh(base if not keyword.iskeyword(base) else target.id + "_values")
            pre.append(nodes.assign(sequence, iterable, stmt))
        length = _located(_call("len", len, [nodes.name(sequence)]), iterable)
        return _Plan([length], lambda i: _located(nodes.subscript(sequence, _ref(i)), iterable))

    def range_plan(self, call):
        """range(...) inside zip or enumerate: its length and its i-th value."""
        args = list(call.args)
        if not 1 <= len(args) <= 3:
            self.fail(call, "range(...) takes one to three positional arguments", "range(n), range(a, b) or range(a, b, step)")
        if len(args) == 1:
            return _Plan([nodes.clone(args[0])], _INDEX)
        start, stop = args[0], args[1]
        step = _constant_int(args[2]) if len(args) == 3 else 1
        if step is None or step == 0:
            self.fail(call, "a range with a step that is not a nonzero integer constant is not supported here",
                      "loop over indices: for i in range(...), and compute the value from i")
        span = nodes.binop(nodes.clone(stop), "-", nodes.clone(start)) if step > 0 \
            else nodes.binop(nodes.clone(start), "-", nodes.clone(stop))
        if abs(step) != 1:
            span = nodes.binop(nodes.binop(span, "+", nodes.const(abs(step) - 1)), "//",
                               nodes.const(abs(step)))
        offset = _ref if step == 1 else (lambda i: nodes.binop(_ref(i), "*", nodes.const(step)))
        return _Plan([_located(span, call)], lambda i: _located(
            nodes.binop(nodes.clone(start), "+", offset(i)), call))

    def reversed_range(self, call):
        """reversed(range(a, b, s)) as range bounds (s a positive constant)."""
        args = list(call.args)
        if call.keywords or not 1 <= len(args) <= 3:
            self.fail(call, "range(...) takes one to three positional arguments", "range(n), range(a, b) or range(a, b, step)")
        if len(args) == 1:
            args = [nodes.const(0)] + args
        step = _constant_int(args[2]) if len(args) == 3 else 1
        if step is None or step <= 0:
            self.fail(call, "reversed(range(...)) with a step that is not a positive integer constant is not supported",
                      "write the reversed range: range(last, first - 1, -1)")
        start, stop = args[0], args[1]
        if step == 1:
            last = _minus(stop, 1)
        else:           # start + ((stop - start - 1) // step) * step
            span = nodes.binop(nodes.binop(nodes.clone(stop), "-", nodes.clone(start)), "-", nodes.const(1))
            last = nodes.binop(nodes.clone(start), "+", nodes.binop(
                nodes.binop(span, "//", nodes.const(step)), "*", nodes.const(step)))
        return [_located(last, call), _located(_minus(start, step), call), nodes.const(-step)]

    def bind(self, target, item, stmt):
        """Statements binding the loop's target(s) to this iteration's element(s)."""
        if isinstance(item, list):
            if isinstance(target, gast.Tuple) and len(target.elts) == len(item):
                return [s for t, i in zip(target.elts, item) for s in self.bind(t, i, stmt)]
            self.fail(target, f"the loop yields {len(item)} values at a time: unpack them into "
                              f"{len(item)} names", f"for {', '.join('abcdefgh'[:len(item)])} in ...")
        if isinstance(target, gast.Name) and isinstance(item, gast.Name) and item.id == target.id:
            return []
        if isinstance(target, gast.Tuple) and not all(isinstance(e, gast.Name) for e in target.elts):
            self.fail(target, "nested unpacking in a for loop is not supported here", "unpack in the loop's body")
        return [nodes.assign_to(nodes.store(target), item, stmt)]

    # comprehensions --------------------------------------------------------------------------

    def no_comprehension(self, expr, where, hint):
        for node in trees.walk(expr):
            if isinstance(node, COMPREHENSIONS):
                self.fail(node, f"a {_described(node)} {where} is not supported", hint)

    def expression(self, expr, pre, stmt):
        """`expr` with each supported comprehension call replaced by the variable a loop added
        to `pre` computes."""
        return self.rewrite(expr, pre, stmt, conditional=False)

    def rewrite(self, node, pre, stmt, conditional):
        if isinstance(node, gast.Call) and len(node.args) == 1 and isinstance(node.args[0], COMPREHENSIONS):
            if conditional:
                self.fail(node.args[0], f"a {_described(node.args[0])} inside `and`, `or` or `a if c else b` "
                          "is not supported", "compute it into a variable on the line before")
            replaced = self.comprehension_call(node, pre, stmt, None)
            if replaced is not None:
                return replaced
        if isinstance(node, COMPREHENSIONS):
            self.unsupported(node)
        if isinstance(node, gast.Call) and _is_sum_of_array(node):
            summed = _call("np.sum", np.sum, node.args)
            summed.keywords = [nodes.keyword("axis", nodes.const(0))]
            node = _located(summed, node)
        for field in nodes.child_fields(type(node)):
            value = getattr(node, field, None)
            if isinstance(value, gast.AST):
                inner = conditional or (isinstance(node, gast.IfExp) and field in ("body", "orelse"))
                setattr(node, field, self.rewrite(value, pre, stmt, inner))
            elif isinstance(value, list):
                setattr(node, field, [self.rewrite(v, pre, stmt, conditional or (
                    isinstance(node, gast.BoolOp) and k > 0)) if isinstance(v, gast.AST) else v
                    for k, v in enumerate(value)])
        return node

    def unsupported(self, comp):
        hint = ARRAY_HINT if isinstance(comp, gast.ListComp) else LOOP_HINT
        if isinstance(comp.elt, COMPREHENSIONS):
            hint = ("fill a matrix in two loops: y = np.zeros((n, m)), then `for i in range(n):` "
                    "and inside it `for j in range(m): y[i, j] = ...`")
        self.fail(comp, f"a {_described(comp)} is supported only as the argument of sum, max, min, "
                        f"np.sum, np.prod, np.mean or np.array (of numbers)", hint)

    def direct_comprehension(self, stmt):
        """`s = sum(<comprehension>)`: the loop accumulates into `s` itself (when the
        comprehension does not read `s`)."""
        target, value = stmt.targets[0], stmt.value
        if not (isinstance(target, gast.Name) and isinstance(value, gast.Call) and len(value.args) == 1
                and isinstance(value.args[0], COMPREHENSIONS)) \
                or target.id in {n.id for n in trees.walk(value) if isinstance(n, gast.Name)}:
            return None
        if annotations.get(value, "callee") not in SUMS + ARRAY_OF:
            return None
        pre = []
        if self.comprehension_call(value, pre, stmt, target.id) is None:
            return None
        return pre

    def comprehension_call(self, call, pre, stmt, into):
        """Loops computing `sum(<comprehension>)` (or np.sum, np.mean, np.array of one) into
        `into` (a fresh name where None), added to `pre`; the name, or None for another call."""
        callee, comp = annotations.get(call, "callee"), call.args[0]
        if call.keywords:
            return None if callee not in SUMS + ARRAY_OF + (np.mean,) else self.fail(
                call, f"keyword arguments with a {_described(comp)} are not supported",
                LOOP_HINT if callee not in ARRAY_OF else ARRAY_HINT)
        if callee not in SUMS + ARRAY_OF + (np.mean,):
            return None
        if callee in ARRAY_OF and isinstance(comp, gast.GeneratorExp):
            self.unsupported(comp)
        if callee in ARRAY_OF and isinstance(comp.elt, COMPREHENSIONS):
            if not isinstance(comp.elt, gast.ListComp) or callee is np.stack:
                self.unsupported(comp)
            comp.elt = _located(_call("np.array", np.array, [comp.elt]), comp.elt)    # its rows: arrays
        comp = self.renamed_targets(comp)
        generators = comp.generators
        if any(g.is_async for g in generators):
            self.fail(comp, "an async comprehension cannot be differentiated", LOOP_HINT)
        if callee in REDUCTIONS:
            base, start, step = REDUCTIONS[callee]
            name = into or self.fresh(base)
            combined = nodes.binop(nodes.name(name), step, comp.elt) if isinstance(step, str) else \
                _call(step.__name__, step, [nodes.name(name), comp.elt])
            body = [nodes.assign(name, _located(combined, comp.elt), stmt)]
            for generator in reversed(generators):
                for condition in reversed(generator.ifs):
                    body = [nodes.if_(condition, body, origin=stmt)]
                body = [nodes.for_(generator.target, generator.iter, body, stmt)]
                body[0].target = nodes.store(generator.target)
            pre.append(nodes.assign(name, _located(start(), comp), stmt))
            pre.extend(self.statement(body[0]))
            return nodes.name(name)
        # np.mean and np.array: one generator without conditions, whose length is known
        if len(generators) != 1 or generators[0].ifs:
            spelled = "np.mean" if callee is np.mean else "np.stack" if callee is np.stack else "np.array"
            self.fail(comp, f"{spelled} of a comprehension with "
                            "several `for`s or an `if` is not supported",
                      LOOP_HINT if callee is np.mean else ARRAY_HINT)
        generator = generators[0]
        loop_pre = []
        plan = self.plan(generator.iter, stmt, loop_pre, set(), generator.target)
        pre.extend(loop_pre)
        count = self.count(plan, comp)
        start = []
        if callee is np.mean:
            total = self.fresh("total")
            pre.append(nodes.assign(total, nodes.const(0.0), stmt))
            step = nodes.assign(total, _located(nodes.binop(nodes.name(total), "+", comp.elt), comp.elt), stmt)
        else:
            # the first element before the loop: the array's shape is the count and its shape
            # (the elements may be numbers, rows or matrices); np.stack of none is an error anyway
            total, first = into or self.fresh("values"), self.fresh("first")
            binds = self.bind(generator.target, _instantiate(plan.item, nodes.const(0)), stmt)
            pre.extend(self.block(binds + [nodes.assign(first, nodes.clone(comp.elt), stmt)]))
            size = _located(nodes.binop(nodes.tuple_of([nodes.clone(count)]), "+",
                                        _call("np.shape", np.shape, [nodes.name(first)])), comp)
            pre.append(nodes.assign(total, _located(_call("np.zeros", np.zeros, [size]), comp), stmt))
            pre.append(nodes.assign_to(nodes.subscript(total, nodes.const(0), store=True), nodes.name(first), stmt))
            start = [nodes.const(1)]
        plain = plan.item is _INDEX and isinstance(generator.target, gast.Name)
        index = generator.target.id if plain else self.index_name()
        if callee is not np.mean:
            step = nodes.assign_to(nodes.subscript(total, nodes.name(index), store=True), comp.elt, stmt)
        binds = self.bind(generator.target, _instantiate(plan.item, index), stmt)
        loop = nodes.for_(index, _call("range", range, start + [nodes.clone(count)]), binds + [step], stmt)
        pre.append(self.in_loop(loop, index))
        if callee is np.mean:
            return _located(nodes.binop(nodes.name(total), "/", nodes.clone(count)), call)
        return nodes.name(total)

    def renamed_targets(self, comp):
        """The comprehension with each of its variables that the function uses elsewhere
        renamed (a comprehension's variables are its own)."""
        inside = {id(n) for n in trees.walk(comp)}
        outside = {n.id for n in trees.walk(self.tree) if isinstance(n, gast.Name) and id(n) not in inside}
        own = {n.id for g in comp.generators for n in trees.walk(g.target) if isinstance(n, gast.Name)}
        clashes = sorted(own & (outside | set(self.indices)))
        if not clashes:
            return comp
        renamed = {name: self.fresh(name) for name in clashes}
        for node in trees.walk(comp):
            if isinstance(node, gast.Name) and node.id in renamed:
                node.id = renamed[node.id]
        return comp


def _outside_loops(stmt):
    """The nodes of `stmt` outside any loop nested in it (a break there ends that loop)."""
    yield stmt
    if isinstance(stmt, (gast.For, gast.While)):
        return
    for field in ("body", "orelse"):
        for inner in getattr(stmt, field, None) or []:
            if isinstance(inner, gast.stmt):
                yield from _outside_loops(inner)


def _INDEX(i):
    """The item of range(n) and of enumerate's counter: the index itself."""
    return _ref(i)


def _ref(i):
    """An item's index: the loop's index (a name) or an expression of it (reversed)."""
    return nodes.name(i) if isinstance(i, str) else nodes.clone(i)


def _instantiate(item, index):
    if isinstance(item, list):
        return [_instantiate(part, index) for part in item]
    return item(index)


def _call(spelled, callee, args):
    call = nodes.call(spelled if "." in spelled else nodes.name(spelled), args)
    annotations.set(call, "callee", callee)
    return call


def _minus(node, k):
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return nodes.const(node.value - k)
    return nodes.binop(nodes.clone(node), "-", nodes.const(k))


def _constant_int(node):
    if isinstance(node, gast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub):
        inner = _constant_int(node.operand)
        return None if inner is None else -inner
    return None


def _part(elements, part):
    """The elements a slice by numbers (`params[:-1]`) takes, all of them for None; None for
    a slice by anything else."""
    if part is None:
        return elements
    bounds = (part.lower, part.upper, part.step)
    if any(b is not None and nodes.integer_value(b) is None for b in bounds):
        return None
    return elements[slice(*(b if b is None else nodes.integer_value(b) for b in bounds))]


def _is_number(node) -> bool:
    """Whether a node writes a number (`2.0`, `-1`)."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.UAdd)):
        return _is_number(node.operand)
    return isinstance(node, gast.Constant) and type(node.value) in (int, float)


def _located(node, origin):
    """Expression nodes made here get the position where the user's expression they stand for
    starts (not its end: messages quoting the text of a node would quote the user's instead)."""
    for expr in trees.walk(node):
        if getattr(expr, "lineno", None) is None and hasattr(origin, "lineno"):
            expr.lineno, expr.col_offset = origin.lineno, origin.col_offset
            expr.end_lineno = expr.end_col_offset = None
    return node


def _described(node) -> str:
    return "list comprehension" if isinstance(node, gast.ListComp) else "generator expression"


# a name rebound to another rank ------------------------------------------------------------

def version_retyped(tree, signature, wrt, namer, filename="<adjoint>"):
    """The normalized `tree` with each name that a top-level statement rebinds to a value of
    another rank (or a shape) renamed from there on: `x`, then `x_2`, ... (the later stages
    give each name one type). Only where the types show such a change; else `tree` itself.
    `signature`: the arguments' types where known (None: guessed from the source, as analyze
    does)."""
    candidates = _rebound_at_top(tree)
    if not candidates and not any(_loop_local(loop, tree) for loop in nodes.statements(tree.body)
                                  if isinstance(loop, (gast.For, gast.While))):
        return tree
    split, versions = _split(tree, candidates, namer)
    guessed = shapes.default_signature(tree, wrt)
    try:
        types = shapes.infer(split, {**guessed, **(signature or {})}, filename)
    except AdjointTypeError:
        return tree                 # another problem: analyze reports it on the user's names
    final, changed = {}, False
    for name, chain in versions.items():
        previous, current = chain[0], name
        for version in chain[1:]:
            if _same_rank(types.get(previous), types.get(version)):
                final[version] = current
            else:
                current = final[version] = _next_version(name, namer)
                changed = True
            previous = version
    if not changed:
        return tree
    for node in trees.walk(split):
        if isinstance(node, gast.Name) and node.id in final:
            node.id = final[node.id]
    return split


def _same_rank(a, b) -> bool:
    if a is None or b is None:
        return True
    return a.ndim == b.ndim and (a.kind == "shape") == (b.kind == "shape")


def _next_version(name, namer) -> str:
    k = 2
    while f"{name}_{k}" in namer.taken:
        k += 1
    namer.taken.add(f"{name}_{k}")
    return f"{name}_{k}"


def _top_targets(stmt) -> list:
    if isinstance(stmt, gast.Assign):
        target = stmt.targets[0]
        if isinstance(target, gast.Name):
            return [target]
        if isinstance(target, gast.Tuple):
            return [e for e in target.elts if isinstance(e, gast.Name)]
    return []


def _rebound_at_top(tree) -> set:
    """Names a top-level assignment binds after an earlier binding (a parameter included)."""
    bound = {a.id for a in tree.args.args}
    rebound = set()
    for stmt in tree.body:
        targets = {t.id for t in _top_targets(stmt)}
        rebound |= targets & bound
        bound |= targets | {n.id for n in trees.walk(stmt) if isinstance(n, gast.Name)
                            and isinstance(n.ctx, gast.Store)}
    return rebound


def _loop_local(loop, tree) -> set:
    """The names a loop's body rebinds at its top level that live only in it: every use is
    inside the body, after its first top-level binding (`y = x * k`, `y = np.sum(y)`, `total +=
    y * y`): no iteration reads another's, and nothing reads them after the loop, so each
    binding may be a version of its own as at the function's top level."""
    inside = {id(n) for s in loop.body for n in trees.walk(s)}
    counts = {}
    for stmt in loop.body:
        for target in _top_targets(stmt):
            counts[target.id] = counts.get(target.id, 0) + 1
    rebound = {name for name, k in counts.items() if k > 1}
    if isinstance(loop, gast.For) and isinstance(loop.target, gast.Name):
        rebound.discard(loop.target.id)
    if not rebound:
        return set()
    for node in trees.walk(tree):                 # used outside the body
        if isinstance(node, gast.Name) and node.id in rebound and id(node) not in inside:
            rebound.discard(node.id)
    local = set()
    for name in rebound:
        for stmt in loop.body:
            used = {n.id for n in trees.walk(stmt) if isinstance(n, gast.Name)}
            if name not in used:
                continue
            bound_first = name in {t.id for t in _top_targets(stmt)} and len(stmt.targets[0].elts
                if isinstance(stmt.targets[0], gast.Tuple) else [stmt.targets[0]]) == 1 \
                and name not in {n.id for n in trees.walk(stmt.value) if isinstance(n, gast.Name)}
            if bound_first:
                local.add(name)
            break
    return local


def _split(tree, candidates, namer):
    """A copy of `tree` where each top-level rebinding of a candidate binds a new temporary
    version, read from there on, and so does each rebinding of a name local to a loop's body
    (_loop_local) in that body; and each candidate's chain of versions."""
    split = nodes.clone(tree)
    versions = {}
    _version_block(split.body, candidates, namer, versions)
    for loop in list(nodes.statements(split.body)):
        if isinstance(loop, (gast.For, gast.While)):
            _version_block(loop.body, _loop_local(loop, split), namer, versions)
    return split, versions


def _version_block(block, candidates, namer, versions):
    current = {name: name for name in candidates}
    for name in candidates:
        versions.setdefault(name, [name])
    for stmt in block:
        for node in trees.walk(stmt):             # reads (and writes inside blocks) of the current version
            if isinstance(node, gast.Name) and node.id in current:
                node.id = current[node.id]
        for target in _top_targets(stmt):
            name = next((n for n, v in current.items() if v == target.id), None)
            if name is None:
                continue
            version = namer.fresh(f"{name}_version")
            versions[name].append(version)
            target.id = current[name] = version
