"""Right sides to three-address form: each becomes one operation on atoms, its operands
computed first into temporaries (`2.0 * (x * y)` -> `t_1 = x * y`, `t_2 = 2.0 * t_1`).

A pure right side computed earlier in the block is reused while the names it reads keep
their values (common subexpressions); a chain of `+` and `-` stays whole (a linear chain);
`a < b < c` becomes `a < b and b < c`; `and`/`or` and `a if c else b` become if-statements,
so that what Python would not evaluate stays unevaluated (with an operand known at compile
time, only the branch taken). A call becomes one statement for the rule table (in the forms
call_forms.py writes) or, for a plain Python helper, its body inlined (inline.py).
"""

from __future__ import annotations

import types

import gast
import numpy as np

from ..errors import AdjointError
from ..ir import annotations, nodes, trees
from ..ir.grammar import COMPARE, LINEAR, is_atom
from ..primitives import rules, table
from . import parse as parse_stage
from .call_forms import keyword_forms, nested
from .indexing import index_components, is_new_axis
from .tuples import Aggregate
from .validate import is_library_function


class Expressions:
    """Mixin of the normalizer (normalize._Normalizer): the right sides. `self.available`
    holds the pure right sides the block has computed so far, for reuse."""

    def atom(self, expr, stmt):
        """(prelude statements, atom) computing `expr`."""
        pre, rhs = self.rhs(expr, stmt)
        if type(rhs) is gast.Name or type(rhs) is gast.Constant:
            return pre, rhs                  # an atom already (to_atom's first case)
        p, a = self.to_atom(rhs, stmt)
        return pre + p, a

    def to_atom(self, rhs, stmt):
        if isinstance(rhs, Aggregate):
            self.not_a_sequence(rhs, stmt)
        if is_atom(rhs):
            return [], rhs
        reads = _pure_reads(rhs)
        key = trees.structure_key(rhs) if reads is not None else None
        if key is not None and key in self.available:
            return [], nodes.name(self.available[key][0])
        temp = self.namer.temp()
        if key is not None:
            self.available[key] = (temp, reads)
        return [nodes.assign(temp, rhs, stmt)], nodes.name(temp)

    def branch_prelude(self, expr, stmt):
        """rhs() for one branch of a conditional: its temporaries stay in that branch."""
        outer = dict(self.available)
        try:
            return self.rhs(expr, stmt)
        finally:
            self.available = outer

    def rhs(self, expr, stmt, prenamed=False):
        """(prelude, a right-hand side of the output grammar) computing `expr`."""
        if isinstance(expr, gast.Name):
            if prenamed or annotations.get(expr, "renamed"):       # already an inlined name
                return [], expr
            identifier = self.rename_id(expr.id)
            if identifier in self.aggregates:
                return [], self.aggregate_named(identifier, expr)
            return [], nodes.name(identifier)
        if isinstance(expr, gast.Constant):
            return [], nodes.const(expr.value)
        if isinstance(expr, gast.Attribute):
            return self.rhs_attribute(expr, stmt)
        if isinstance(expr, gast.BinOp) and isinstance(expr.op, LINEAR):
            return self.rhs_linear(expr, stmt, prenamed)
        if isinstance(expr, gast.BinOp):
            pre_l, left = self.operand(expr.left, stmt, prenamed)
            pre_r, right = self.atom(expr.right, stmt)
            return pre_l + pre_r, nodes.make(gast.BinOp, left=left, op=nodes.make(type(expr.op)), right=right)
        if isinstance(expr, gast.UnaryOp):
            pre, operand = self.atom(expr.operand, stmt)
            if isinstance(expr.op, gast.UAdd):
                return pre, operand
            if isinstance(expr.op, gast.USub) and isinstance(operand, gast.Constant):
                return pre, nodes.const(-operand.value)
            return pre, nodes.make(gast.UnaryOp, op=nodes.make(type(expr.op)), operand=operand)
        if isinstance(expr, gast.Call):
            if (self.list_method(expr) or (None, None))[1] == "pop":     # stack.pop() (tuples.py)
                return self.popped(expr, stmt)
            return self.rhs_call(expr, stmt)
        if isinstance(expr, gast.Compare):
            return self.rhs_compare(expr, stmt)
        if isinstance(expr, gast.BoolOp):
            return self.rhs_boolop(expr, stmt)
        if isinstance(expr, gast.IfExp):
            return self.rhs_ifexp(expr, stmt)
        if isinstance(expr, gast.Subscript):
            pre, value = self.value(expr.value, stmt)
            pre_i, index = self.index(expr.slice, stmt)
            if any(is_new_axis(c) for c in index_components(index)):
                return self.new_axes(value, index, pre + pre_i, stmt)
            if isinstance(value, Aggregate):                        # v[1] of a sequence
                p, element = self.element(value, index, stmt, expr)
                return pre + pre_i + p, element
            return pre + pre_i, nodes.subscript(value, index)
        if isinstance(expr, (gast.Tuple, gast.List)):
            return self.literal(expr, stmt)
        raise AdjointError("this expression cannot be differentiated here", location=self.where(expr),
                           stage="normalize")

    def operand(self, expr, stmt, prenamed):
        if prenamed:
            return [], expr
        return self.atom(expr, stmt)

    def rhs_linear(self, expr, stmt, prenamed):
        if _concatenates_sequences(expr):
            return self.concatenated(expr, stmt)
        pre = []

        def leaves(node, first):
            if isinstance(node, gast.BinOp) and isinstance(node.op, LINEAR):
                left = leaves(node.left, first)
                right = leaves(node.right, False)
                return nodes.make(gast.BinOp, left=left, op=nodes.make(type(node.op)), right=right)
            p, a = self.operand(node, stmt, prenamed and first) if first else self.atom(node, stmt)
            pre.extend(p)
            return a
        return pre, leaves(expr, True)

    def concatenated(self, expr, stmt, shape=False):
        """`(a, b) + v + (c,)`: the sequences joined, an Aggregate; where a part is a shape
        known only at run time (`(n,) + x.shape`, `(n,) + np.shape(e)`), allowed only as a
        shape argument (`shape`: np.zeros(...), np.reshape(x, ...)), the concatenation itself,
        of literal tuples and the names holding the shapes."""
        pre, parts = [], []
        for leaf in _sum_leaves(expr):
            p, value = self.value(leaf, stmt)
            pre += p
            parts.append(value)
        if all(isinstance(p, Aggregate) for p in parts):
            if any(isinstance(e, Aggregate) for p in parts for e in p.elts):
                self.not_a_sequence(parts[0], stmt)
            kind = "list" if all(p.kind == "list" for p in parts) else "tuple"
            return pre, Aggregate(kind, [e for p in parts for e in p.elts], expr)
        if not shape:
            raise AdjointError("joining a sequence and an array's shape is supported only as the shape of "
                               "a new array or a reshape", location=self.where(expr),
                               hint="write it inside the call: np.zeros((n,) + x.shape), x.reshape(x.shape + (1,))")
        joined = None
        for part in parts:
            if isinstance(part, Aggregate):
                if any(isinstance(e, Aggregate) for e in part.elts):
                    self.not_a_sequence(part, stmt)
                part = nodes.tuple_of(part.elts)
            joined = part if joined is None else nodes.make(gast.BinOp, left=joined, op=nodes.make(gast.Add),
                                                            right=part)
        return pre, joined

    def rhs_attribute(self, expr, stmt):
        if is_atom(expr):
            return [], nodes.clone(expr)             # (the user's tree is only read)
        pre, value = self.atom(expr.value, stmt)
        return pre, nodes.make(gast.Attribute, value=value, attr=expr.attr, ctx=nodes.make(gast.Load))

    def rhs_call(self, expr, stmt):
        pre, args = [], []
        callee = annotations.get(expr, "callee")
        for position, arg in enumerate(expr.args):
            if isinstance(arg, gast.Starred):
                raise AdjointError("`*` arguments are not supported", location=self.where(arg),
                                   hint="pass each argument by position")
            if _concatenates_sequences(arg) and _takes_shape(callee, position):
                p, a = self.concatenated(arg, stmt, shape=True)     # np.zeros((n,) + x.shape)
            else:
                p, a = self.value(arg, stmt)
            pre += p
            args.append(a)
        keywords = []
        for keyword in expr.keywords:
            p, a = self.value(keyword.value, stmt)                   # axis=(0, 1): see call_argument
            pre += p
            keywords.append(nodes.keyword(keyword.arg, a))
        if (isinstance(callee, types.FunctionType) and not _has_rule(callee)) \
                or isinstance(callee, parse_stage.LocalFunction):
            return self.inline(expr, callee, args, pre, stmt, keywords)
        if callee is len and len(args) == 1 and isinstance(args[0], Aggregate):
            return pre, nodes.const(len(args[0].elts))
        if callee is np.array and len(args) == 1 and not keywords and isinstance(args[0], Aggregate) \
                and any(isinstance(e, Aggregate) for e in args[0].elts):
            p, array = self.materialized(args[0], stmt)         # np.array([[a, b], [c, d]])
            return pre + p, array
        if callee in (np.copy, np.asarray) and len(args) == 1 and not keywords \
                and isinstance(args[0], Aggregate):             # np.array(v) of a tuple's name
            p, array = self.materialized(args[0], stmt)
            return pre + p, array
        for k, a in enumerate(args):                  # sequences: literal, or arrays (tuples.py)
            p, args[k] = self.call_argument(callee, k, a, stmt)
            pre += p
        for keyword in keywords:
            p, keyword.value = self.call_argument(callee, keyword.arg, keyword.value, stmt)
            pre += p
        call = nodes.make(gast.Call, func=nodes.clone(expr.func), args=args, keywords=keywords)
        annotations.set(call, "callee", callee)
        p, call = keyword_forms(call, stmt, self)
        pre += p
        p, call = nested(call, stmt, self)
        return pre + p, call

    def rhs_compare(self, expr, stmt):
        pre, left = self.atom(expr.left, stmt)
        if len(expr.ops) == 1:
            p, right = self.atom(expr.comparators[0], stmt)
            compare = nodes.compare(left, nodes.make(type(expr.ops[0])), right)
            return pre + p, _folded(compare)
        # a < b < c  ->  (a < b) and (b < c), b evaluated once
        first = nodes.compare(left, expr.ops[0], expr.comparators[0])
        rest = nodes.make(gast.Compare, left=expr.comparators[0], ops=expr.ops[1:], comparators=expr.comparators[1:])
        p, a = self.atom(expr.comparators[0], stmt)
        first.comparators = [a]
        rest.left = a
        if isinstance(a, gast.Name):
            annotations.set(a, "renamed", True)      # b in a < b < c: normalized once, not renamed again
        return self.rhs_boolop(nodes.boolop("and", [first, rest]), stmt, pre + p)

    def rhs_boolop(self, expr, stmt, pre=()):
        pre = list(pre)
        result = self.namer.temp()
        p, first = self.rhs(expr.values[0], stmt)
        if isinstance(first, Aggregate):
            self.not_a_sequence(first, stmt)
        remaining = expr.values[1:]
        rest = remaining[0] if len(remaining) == 1 else nodes.boolop(expr.op, remaining)
        if isinstance(first, gast.Constant) and remaining:
            # known at compile time (`C <= 0.5 or ...` with a module constant C): emit only the
            # operand Python would evaluate; numba's pruning of a constant branch can leave a
            # variable undefined (fuzz program #4755)
            if bool(first.value) == isinstance(expr.op, gast.Or):
                return pre + p, first
            p_rest, value = self.rhs(rest, stmt)
            return pre + p + p_rest, value
        pre += p + [nodes.assign(result, first, stmt)]
        if not remaining:
            return pre, nodes.name(result)
        p, value = self.branch_prelude(rest, stmt)
        branch = p + [nodes.assign(result, value, stmt)]
        if isinstance(expr.op, gast.And):
            pre.append(nodes.if_(result, branch, origin=stmt))
        else:
            pre.append(nodes.if_(result, [nodes.pass_()], branch, origin=stmt))
        return pre, nodes.name(result)

    def rhs_ifexp(self, expr, stmt):
        pre, test = self.atom(expr.test, stmt)
        if isinstance(test, gast.Constant):          # as in rhs_boolop: only the branch taken
            p, value = self.rhs(expr.body if test.value else expr.orelse, stmt)
            return pre + p, value
        result = self.namer.temp()
        p_body, body = self.branch_prelude(expr.body, stmt)
        p_else, orelse = self.branch_prelude(expr.orelse, stmt)
        if isinstance(body, Aggregate) or isinstance(orelse, Aggregate):     # (a, b) if c else (b, a)
            if not (isinstance(body, Aggregate) and isinstance(orelse, Aggregate)):
                raise AdjointError("one branch of this conditional is a tuple or list and the other is not",
                                   location=self.where(expr), hint="make both branches tuples of the same length")
            self.depth += 1
            branch = nodes.if_(test, p_body + self.assign_aggregate(nodes.name(result, store=True), body, stmt),
                               p_else + self.assign_aggregate(nodes.name(result, store=True), orelse, stmt), stmt)
            self.depth -= 1
            return pre + [branch], self.aggregate_named(result, expr)
        branch = nodes.if_(test, p_body + [nodes.assign(result, body, stmt)],
                           p_else + [nodes.assign(result, orelse, stmt)], stmt)
        return pre + [branch], nodes.name(result)


def _sum_leaves(expr):
    """The operands of a chain of `+`, left to right."""
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, gast.Add):
        return _sum_leaves(expr.left) + _sum_leaves(expr.right)
    return [expr]


def _concatenates_sequences(expr) -> bool:
    """A chain of `+` one of whose operands is a literal tuple or list: Python joins sequences."""
    if not (isinstance(expr, gast.BinOp) and isinstance(expr.op, gast.Add)):
        return False
    def plain_sum(node):
        return not isinstance(node, gast.BinOp) or isinstance(node.op, gast.Add) and \
            plain_sum(node.left) and plain_sum(node.right)
    return plain_sum(expr) and any(isinstance(leaf, (gast.Tuple, gast.List)) for leaf in _sum_leaves(expr))


def _takes_shape(callee, position) -> bool:
    """Whether the argument at `position` of `callee` is a shape (np.zeros(shape), np.reshape(x, shape))."""
    record = table.record_of(callee)
    return (position == 0 and record is not None and record.allocates and record.result == "creator") \
        or (position == 1 and callee is np.reshape)


def _pure_reads(rhs):
    """The names a right side loads (nodes.loads_in) where its value depends only on them (no
    user calls, no fresh array), else None: both found in one walk."""
    reads = set()
    todo = [rhs]
    pop, push, extend, fields_of = todo.pop, todo.append, todo.extend, nodes.child_fields
    while todo:
        node = pop()
        kind = type(node)
        if kind is gast.Name:
            if type(node.ctx) is gast.Load:
                reads.add(node.id)
            if node.annotation is None:
                continue
        elif kind is gast.Call:
            callee = annotations.get(node, "callee")
            if not _has_rule(callee) or callee in _FRESH_ARRAYS:
                return None                       # fresh arrays must stay distinct
        for field in fields_of(kind):
            value = getattr(node, field, None)
            if type(value) is list:
                extend(value)
            elif value is not None:
                push(value)
    return reads


_FRESH_ARRAYS = (np.empty, np.empty_like, np.zeros, np.ones, np.full, np.zeros_like, np.ones_like, np.array)


def _has_rule(fn) -> bool:
    """Known to the rule table (differentiable or not): called, never inlined."""
    return rules.is_differentiable(fn) or rules.is_non_differentiable(fn) or is_library_function(fn)


def _folded(compare):
    """`compare` of two number constants as its constant value (True/False); else itself."""
    left, right = compare.left, compare.comparators[0]
    how = COMPARE.get(type(compare.ops[0]))
    numbers = (int, float)
    if (how and isinstance(left, gast.Constant) and isinstance(right, gast.Constant)
            and isinstance(left.value, numbers) and isinstance(right.value, numbers)):
        return nodes.const(bool(how(left.value, right.value)))
    return compare
