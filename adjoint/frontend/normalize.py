"""Three-address `t_` form, one primitive operation per statement.

    def f(x, y):                        def f(x, y):
        return 2.0 * (x * y + sin(x))  ->  t_1 = x * y
                                            t_2 = math.sin(x)
                                            t_3 = t_1 + t_2
                                            t_4 = 2.0 * t_3
                                            return t_4

Output grammar (atom := Name | number constant | math.pi-style constant):

    stmt := v = atom                        copy
          | v = atom op atom                op in + - * / ** % //
          | v = linear                      linear := atom | linear (+|-) linear: kept whole,
                                            parenthesized as written (the seed's t_s line)
          | v = -atom | v = not atom
          | v = f(atom, ...)                f resolved (node.callee): a rule or non-differentiable
          | v = atom cmp atom
          | v = x[index] | v = x.shape      index := atom | (atom, ...)
          | x[index] = atom
          | v1, v2, ... = x                 unpack a sequence
          | if atom: stmt* else: stmt*
          | for i in range(atom, atom, atom): stmt*
          | while True: stmt*               the condition is tested by an `if not t: break` in the body
          | break | continue
          | return atom                     exactly one, the last statement of the function

A target never appears among its own operands (`x = x * y` becomes `t_1 = x * y; x = t_1`),
except as the single +1 term of a linear chain, an accumulation (`s = s + t_1`),
`a if c else b` and `and`/`or` become if-statements (so unevaluated branches stay unevaluated),
`x += e` becomes `x = x + e`, and calls to plain Python helpers are inlined with their locals
renamed `<helper>_<name>`. Returns anywhere become one return at the end, and `break` and
`continue` become flags (structure.py).
Every statement keeps the user position and source line it came from.
"""

from __future__ import annotations

import types

import gast
import numpy as np

from ..errors import AdjointError, locate
from ..ir import annotations, nodes, trees
from ..ir.grammar import COMPARE, LINEAR, UNARY, is_accumulation, is_atom
from ..ir.names import Namer
from ..primitives import table
from . import parse as parse_stage
from .desugar import desugar
from .structure import flag_exits, structure_returns
from .tuples import Aggregate, Aggregates, GrownLists, from_returned


def normalize(parsed, namer: Namer):
    """A new FunctionDef in three-address form; `parsed.tree` is left untouched."""
    # the body is built anew from the user's statements, which are only read: copy the rest
    tree = nodes.clone(parsed.tree, memo={id(parsed.tree.body): []})
    normalizer = _Normalizer(parsed, namer, inlining=(parsed.fn,))
    normalizer.plain.update(parsed.args)
    normalizer.scopes.update(dict.fromkeys(parsed.local_functions.values(), {}))
    body = structure_returns(parsed.tree.body, namer)
    tree.body = normalizer.block(body)
    _add_data_parameters(tree, parsed)
    return tree


def signature_defaults(parsed, fn) -> list:
    """Constants for the defaults an emitted function `fn` (grad_f, the primal) can show in its
    signature, so that it reads and calls like the user's: those of its trailing parameters
    that are the user's with number defaults. None after a parameter without one (jvp's
    tangent, a module array, vjp's cotangent, a parameter without a default)."""
    shown = []
    for parameter in reversed(fn.args.args):
        user = parsed.user(parameter.id)
        value = parsed.defaults.get(user) if user in parsed.user_args else None
        if not isinstance(value, (bool, int, float, np.integer, np.floating)):
            break
        shown.append(nodes.const(value.item() if isinstance(value, np.generic) else value))
    return shown[::-1]


def _add_data_parameters(tree, parsed):
    """The arrays the function (or a helper it inlines) reads from module globals or closure
    cells become parameters after the user's: the caller passes their current values (see
    api.arguments.data_values). The `data_arguments` annotation lists their DataSources, in order."""
    read = {n.id for n in trees.walk(tree) if isinstance(n, gast.Name)
            and isinstance(n.ctx, gast.Load)} if parsed.data else set()     # (most read none)
    sources = [source for name, source in parsed.data.items() if name in read]
    for source in sources:
        tree.args.args.append(nodes.parameter(source.name))
    annotations.set(tree, "data_arguments", sources)
    annotations.set(tree, "constant_sources", list(parsed.constants.values()))


class _Normalizer(Aggregates, GrownLists):
    def __init__(self, parsed, namer, inlining, rename=None, outer=None):
        self.parsed = parsed
        self.namer = namer
        self.inlining = inlining            # the call chain being inlined, to catch recursion
        self.rename = rename or {}          # helper locals -> their inlined names
        self.available = {}                 # dump of a pure right side -> (temporary, names it reads)
        # shared with the helpers inlined (tuples.py): names of sequences -> their element
        # variables, names of numbers and arrays; a local function -> the renaming of the
        # function that defines it (its closure)
        self.aggregates = outer.aggregates if outer else {}
        self.plain = outer.plain if outer else set()
        self.scopes = outer.scopes if outer else {}
        # the indices of the range loops being normalized that their bodies do not rebind:
        # integers, so `M[i, :, None]` keeps no axis for `i` (new_axes)
        self.loop_indices = outer.loop_indices if outer else set()
        self.depth = 0
        self.in_place = None                # (tuples.py: changed_in_place)

    # statements ---------------------------------------------------------------------------

    def block(self, stmts):
        outer = self.available
        self.available = {}
        self.depth += 1                 # 1: the function's own body, straight-line (tuples.py)
        out = []
        for stmt in self.with_grown_lists(stmts):          # v = []; for ...: v.append(e) (tuples.py)
            out.extend(self.statement(stmt))
        self.depth -= 1
        self.available = outer
        return out or [nodes.pass_()]

    def statement(self, stmt):
        method = getattr(self, "stmt_" + type(stmt).__name__)
        produced = [nodes.located(s, stmt) if getattr(s, "lineno", None) is None else s
                    for s in method(stmt)]
        self.forget(produced)
        return produced

    # common subexpressions: a temporary computed earlier in the block, still valid, is reused

    def forget(self, produced):
        """Drop the remembered values that read a name these statements assign."""
        if any(isinstance(s, (gast.If, gast.For, gast.While)) for s in produced):
            self.available = {}
            return
        # simple statements store names only in their targets
        changed = {n.id for s in produced if isinstance(s, (gast.Assign, gast.AugAssign))
                   for target in (s.targets if isinstance(s, gast.Assign) else [s.target])
                   for n in ((target,) if type(target) is gast.Name else trees.walk(target))
                   if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        changed |= {s.targets[0].value.id for s in produced if isinstance(s, gast.Assign)
                    and isinstance(s.targets[0], gast.Subscript)}
        self.available = {k: (t, reads) for k, (t, reads) in self.available.items()
                          if not reads & changed and t not in changed}

    def stmt_Pass(self, stmt):
        return []

    def stmt_Expr(self, stmt):
        call = stmt.value
        if isinstance(call, gast.Call) and self.list_method(call) is not None:
            return self.changed_list(call, stmt)                     # stack.append(a) (tuples.py)
        if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) \
                and call.func.attr in ("append", "insert"):          # a list's growth not rewritten
            raise AdjointError("changing a list in place is not supported here", location=self.where(stmt),
                               hint="grow it in a `for ... in range(...)` loop that does not read it, "
                                    "or preallocate an array: v = np.zeros(n), then v[k] = ...")
        return []                                                  # a stray constant

    def stmt_Break(self, stmt):
        return [nodes.break_()]

    def stmt_Continue(self, stmt):
        return [nodes.continue_()]

    def stmt_Assign(self, stmt):
        return self.assign(stmt.targets[0], stmt.value, stmt)

    def stmt_AugAssign(self, stmt):
        at, target = self.target(stmt.target, stmt)
        if isinstance(target, gast.Name) and target.id in self.aggregates:
            raise AdjointError(f"`{stmt.target.id}` is {self.aggregates[target.id].describe()}: "
                               f"`{stmt.target.id} += ...` would extend it", location=self.where(stmt),
                               hint="make it an array for arithmetic: np.array([...])")
        load = nodes.clone(target)
        load.ctx = nodes.make(gast.Load)
        pre, left = self.to_atom(load, stmt) if isinstance(load, gast.Subscript) else ([], load)
        combined = nodes.binop(left, stmt.op, stmt.value)
        p, rhs = self.rhs(combined, stmt, prenamed=True)
        return at + pre + p + self.bind(target, rhs, stmt)

    def stmt_Return(self, stmt):
        if stmt.value is None:
            raise AdjointError("the function returns nothing", location=self.where(stmt),
                               hint="return the value to differentiate")
        pre, value = self.value(stmt.value, stmt)
        if isinstance(value, Aggregate):
            return pre + [self.returned(value, stmt)]
        return pre + [nodes.return_(value, stmt)]

    def stmt_If(self, stmt):
        known = _constant_truth(stmt.test)
        if known is not None:     # `if SMOOTH > 0.0:` on module constants: keep the branch taken
            return self.block(stmt.body if known else stmt.orelse)
        pre, test = self.atom(stmt.test, stmt)
        return pre + [nodes.if_(test, self.block(stmt.body), self.block(stmt.orelse), stmt)]

    def stmt_For(self, stmt):
        pre, bounds = [], []
        for arg in stmt.iter.args:
            p, a = self.atom(arg, stmt)
            pre += p
            bounds.append(a)
        index = self.rename_id(stmt.target.id)
        rebound = any(isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store) and n.id == stmt.target.id
                      for s in stmt.body for n in trees.walk(s))
        added = not rebound and index not in self.loop_indices
        if added:
            self.loop_indices.add(index)
        try:
            body = self.loop_body(stmt.body, stmt)
        finally:
            if added:
                self.loop_indices.discard(index)
        loop = nodes.for_range(index, bounds, body, stmt)
        return pre + [annotations.copy_to(loop, stmt)]            # (a snapshot budget: markers.py)

    def stmt_While(self, stmt):
        pre, test = self.atom(stmt.test, stmt)
        stop = self.namer.temp()
        check = pre + [nodes.assign(stop, nodes.not_(test), stmt),
                       nodes.if_(stop, [nodes.break_()], origin=stmt)]
        body = check + self.block(stmt.body)
        loop = nodes.while_(nodes.const(True), flag_exits(body, stmt, self.namer), stmt)
        return [annotations.copy_to(loop, stmt)]

    def loop_body(self, body, loop):
        return flag_exits(self.block(body), loop, self.namer)

    # assignment ---------------------------------------------------------------------------

    def assign(self, target, value, stmt):
        if isinstance(target, gast.Tuple):
            return self.assign_tuple(target, value, stmt)
        at, target = self.target(target, stmt)
        pre, rhs = self.rhs(value, stmt)
        if isinstance(rhs, Aggregate):
            return at + pre + self.assign_aggregate(target, rhs, stmt)
        if isinstance(target, gast.Name):
            self.bind_plain(target.id, stmt)
        return at + pre + self.bind(target, rhs, stmt)

    def bind(self, target, rhs, stmt):
        """`target = rhs`, through a temporary when the target is also an operand."""
        if isinstance(target, gast.Name) and isinstance(rhs, gast.Name) and rhs.id == target.id:
            return []                                              # x = x does nothing
        if isinstance(target, gast.Subscript):
            pre, value = self.to_atom(rhs, stmt)
            store = nodes.assign(target, value, stmt)
            if annotations.get(stmt, "grown_list") is not None:         # (tuples.py)
                annotations.set(store, "grown_list", annotations.get(stmt, "grown_list"))
            return pre + [store]
        if target.id in nodes.loads_in(rhs) and not is_atom(rhs) and not is_accumulation(target.id, rhs):
            temp = self.namer.temp()
            return [nodes.assign(temp, rhs, stmt), nodes.assign(target.id, temp, stmt)]
        return [nodes.assign(target.id, rhs, stmt)]

    def assign_tuple(self, target, value, stmt):
        if not self.names_from_atoms(target, value):          # tuples.py: sequences, a, x[i] = ...
            pre, value = self.value(value, stmt)
            return pre + self.unpack(target, value, stmt)
        names = [self.rename_id(e.id) for e in target.elts]
        self.plain.update(names)
        if isinstance(value, gast.Tuple):
            if len(value.elts) != len(names):
                raise AdjointError(f"cannot unpack {len(value.elts)} values into {len(names)} names",
                                   location=self.where(stmt))
            read = set().union(*(nodes.loads_in(e) for e in value.elts))
            read = {self.rename_id(n) for n in read}
            pre, atoms, direct = [], [], []
            for name, original, elt in zip(names, target.elts, value.elts):
                if name not in read:                 # nothing on the right reads it: assign now
                    direct += self.assign(original, elt, stmt)
                    atoms.append(None)
                    continue
                p, a = self.atom(elt, stmt)          # evaluate every other right side first (swaps)
                if isinstance(a, gast.Name) and a.id in names:
                    temp = self.namer.temp()
                    p.append(nodes.assign(temp, a, stmt))
                    a = nodes.name(temp)
                pre += p
                atoms.append(a)
            return pre + direct + [nodes.assign(n, a, stmt) for n, a in zip(names, atoms) if a is not None]
        pre, source = self.atom(value, stmt)
        unpack = nodes.assign_to(nodes.tuple_(names, store=True), source)
        return pre + [nodes.located(unpack, stmt)]

    def names_from_atoms(self, target, value) -> bool:
        """`a, b = b, a + b` of names and numbers or arrays (no sequence among them)."""
        def sequence(node):
            return isinstance(node, (gast.Tuple, gast.List, gast.Starred)) or (
                isinstance(node, gast.Name) and self.rename_id(node.id) in self.aggregates)
        return isinstance(value, gast.Tuple) and len(value.elts) == len(target.elts) \
            and all(isinstance(e, gast.Name) and not sequence(e) for e in target.elts) \
            and not any(sequence(e) for e in value.elts)

    def target(self, target, stmt):
        """(prelude, target): an element's index computed into atoms first (`y[i + 1] = e`)."""
        if isinstance(target, gast.Name):
            return [], nodes.name(self.rename_id(target.id), store=True)
        element = self.element_target(target)      # v[1] = ... of a list v (tuples.py)
        if element is not None:
            return [], element
        value = nodes.name(self.rename_id(target.value.id))
        pre, index = self.index(target.slice, stmt)
        return pre, nodes.subscript(value, index, store=True)

    # expressions --------------------------------------------------------------------------

    def atom(self, expr, stmt):
        """(prelude statements, atom) computing `expr`."""
        pre, rhs = self.rhs(expr, stmt)
        p, a = self.to_atom(rhs, stmt)
        return pre + p, a

    def to_atom(self, rhs, stmt):
        if isinstance(rhs, Aggregate):
            self.not_a_sequence(rhs, stmt)
        if is_atom(rhs):
            return [], rhs
        key = trees.structure_key(rhs) if _pure(rhs) else None
        if key is not None and key in self.available:
            return [], nodes.name(self.available[key][0])
        temp = self.namer.temp()
        if key is not None:
            self.available[key] = (temp, nodes.loads_in(rhs))
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
            if any(_is_new_axis(c) for c in _components(index)):
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
        p, call = _keyword_forms(call, stmt, self)
        pre += p
        p, call = _nested(call, stmt, self)
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

    def index(self, index, stmt):
        if isinstance(index, gast.Tuple):
            pre, atoms = [], []
            for elt in index.elts:
                p, a = self.index(elt, stmt)
                pre += p
                atoms.append(a)
            return pre, nodes.tuple_of(atoms)
        if isinstance(index, gast.Slice):
            pre, bounds = [], {}
            for field in ("lower", "upper", "step"):
                value = getattr(index, field)
                if value is not None:
                    p, value = self.atom(value, stmt)
                    pre += p
                bounds[field] = value
            return pre, nodes.slice_(**bounds)
        pre, value = self.value(index, stmt)
        if isinstance(value, Aggregate):                # x[[0, 2]]: an index array
            p, value = self.materialize(value, stmt)
            pre += p
        return pre, value

    def new_axes(self, value, index, pre, stmt):
        """`x[:, None]` (or np.newaxis): the read without the new axes, then one np.expand_dims
        per new axis, whose position is counted from the start (from the end after `...`)."""
        components = _components(index)
        ellipsis = next((k for k, c in enumerate(components) if _is_ellipsis(c)), None)
        axes = []
        for k, component in enumerate(components):
            if not _is_new_axis(component):
                continue
            from_end = ellipsis is not None and k > ellipsis
            widths = [_width(c, self.loop_indices) for c in (components[k + 1:] if from_end else components[:k])]
            if None in widths:
                raise AdjointError("a new axis (None) in an index with an integer or array index "
                                   f"{'after' if from_end else 'before'} it is not supported",
                                   location=self.where(stmt),
                                   hint="index in two steps: `y = x[i]`, then `y[:, None]`")
            axes.append(-1 - sum(widths) if from_end else sum(widths))
        kept = [c for c in components if not _is_new_axis(c)]
        result = value
        if not all(_is_ellipsis(c) or _is_whole(c) for c in kept):
            p, result = self.to_atom(nodes.subscript(value, kept[0] if len(kept) == 1 else nodes.tuple_of(kept)),
                                     stmt)
            pre = pre + p
        return _expanded(result, axes, stmt, self, pre)

    # helpers ------------------------------------------------------------------------------

    def bind_parameters(self, call, helper, args, keywords):
        """The helper's arguments in parameter order: positional ones, then keywords by name,
        then the defaults of the rest (numbers, or arrays read like module data)."""
        names = helper.user_args
        if len(args) > len(names):
            raise AdjointError(f"{helper.name}() takes {len(names)} arguments, {len(args)} given",
                               location=self.where(call))
        bound = dict(zip(names, args))
        for keyword in keywords:
            if keyword.arg is None:
                raise AdjointError(f"`**` arguments in a call to {helper.name}() are not supported",
                                   location=self.where(call), hint="pass each argument by name")
            if keyword.arg not in names:
                raise AdjointError(f"{helper.name}() has no parameter `{keyword.arg}`",
                                   location=self.where(call),
                                   hint=f"its parameters are {', '.join(names)}")
            if keyword.arg in bound:
                raise AdjointError(f"{helper.name}() got two values for `{keyword.arg}`",
                                   location=self.where(call))
            bound[keyword.arg] = keyword.value
        for name in names:
            if name not in bound:
                if name not in helper.defaults:
                    raise AdjointError(f"{helper.name}() is missing a value for its parameter `{name}`",
                                       location=self.where(call))
                bound[name] = self.default_value(call, helper, name)
        return [bound[name] for name in names]

    def default_value(self, call, helper, name):
        """An atom for a helper parameter's default: a number, or a numeric array, passed to
        the compiled code like the arrays the helper reads from its module."""
        from . import parse as parse_stage
        value = helper.defaults[name]
        if isinstance(value, (bool, int, float, np.integer, np.floating)):
            return nodes.const(value.item() if isinstance(value, np.generic) else value)
        if parse_stage.is_data(value):
            emitted = self.parsed.names.name(value, f"{helper.name}_{name}_default", self.namer.taken)
            self.namer.taken.add(emitted)
            defaults = helper.fn.__defaults__ or ()
            position = len(helper.user_args) - len(defaults)
            if name in helper.user_args[position:] and name not in (helper.fn.__kwdefaults__ or {}):
                index = helper.user_args.index(name) - position
                read = (lambda fn, k: lambda: fn.__defaults__[k])(helper.fn, index)
            else:
                read = (lambda fn, key: lambda: fn.__kwdefaults__[key])(helper.fn, name)
            self.parsed.data.setdefault(emitted, parse_stage.DataSource(
                emitted, f"{helper.name}({name}=...)", read, parse_stage.data_type(value)))
            return nodes.name(emitted)
        raise AdjointError(f"the default value {value!r} of `{name}` in {helper.name}() is not a "
                           f"number or an array of numbers", location=self.where(call),
                           hint=f"pass `{name}` in the call: {helper.name}(..., {name}=...)")

    def inline(self, call, callee, args, pre, stmt, keywords=()):
        """Inline a plain Python helper: bind its parameters, normalize its body, take its result."""
        from . import parse as parse_stage
        from . import validate as validate_stage
        if callee in self.inlining:
            chain = " -> ".join(f.__name__ for f in self.inlining + (callee,))
            raise AdjointError(f"recursive call {chain}", location=self.where(call),
                               hint="rewrite the recursion as a loop")
        helper = parse_stage.parse(callee, self.parsed.names, self.namer.taken)    # one naming of globals
        helper = desugar(helper)                                 # for v in x, comprehensions
        validate_stage.validate(helper)
        args = self.bind_parameters(call, helper, args, keywords)
        self.parsed.namespace.update(helper.namespace)
        self.parsed.data.update(helper.data)
        for label, source in helper.constants.items():
            self.parsed.constants.setdefault(f"{label} in {helper.name}", source)
        locals_ = parse_stage.local_names(helper.tree)          # its globals keep their module names
        # A parameter the helper never rebinds reads the caller's variable itself: no copy
        # (nor, for arrays, a sensitivity array of its own per call); a sequence passed to it,
        # the caller's elements.
        stored = {n.id for s in helper.tree.body for n in trees.walk(s)
                  if isinstance(n, gast.Name) and isinstance(n.ctx, (gast.Store, gast.Del))}
        shared = {p: a.id for p, a in zip(helper.args, args)
                  if isinstance(a, gast.Name) and p not in stored}
        rename = {v: shared.get(v) or self.namer.fresh(f"{helper.name}_{v}") for v in sorted(locals_)}
        if isinstance(callee, parse_stage.LocalFunction):       # a closure reads its definer's names
            rename = {**self.scopes.get(callee, {}), **rename}
        for local in helper.local_functions.values():
            self.scopes[local] = rename
        inner = _Normalizer(helper, self.namer, self.inlining + (callee,), rename, outer=self)
        binds = []
        for p, a in zip(helper.args, args):
            changed = _changes_list(helper.tree, p) if isinstance(a, Aggregate) else None
            if changed == "method":
                raise AdjointError(f"{helper.name}() changes the list passed as `{p}` (append, insert, pop)",
                                   location=self.where(call),
                                   hint=f"return the new list from {helper.name}() and bind it here")
            if isinstance(a, Aggregate) and p not in stored \
                    and (changed is None or isinstance(a.origin, gast.Name)):
                self.aggregates[rename[p]] = a      # (a named list: its elements, written there too)
            elif isinstance(a, Aggregate):
                binds += self.bind_aggregate(rename[p], a, stmt)
            elif p not in shared:
                self.plain.add(rename[p])
                binds.append(nodes.assign(rename[p], a, stmt))
        result = rename.get("__result__") or self.namer.fresh(f"{helper.name}_result")
        body = structure_returns(nodes.clone(helper.tree.body), self.namer)
        stmts = inner.block(body)
        for s in nodes.statements(stmts):
            if not annotations.has(s, "source_file"):
                annotations.set(s, "source_file", helper.filename)
        final = stmts.pop()                      # the single `return atom`
        returned = from_returned(final.value)
        if returned is not None:                 # `return h, c`: the caller takes the elements
            return pre + binds + stmts, returned
        last = stmts[-1] if stmts else None
        if isinstance(final.value, gast.Name) and final.value.id in self.namer.temporaries \
                and isinstance(last, gast.Assign) and isinstance(last.targets[0], gast.Name) \
                and last.targets[0].id == final.value.id:
            last.targets[0].id = result          # `return u * u` computes the result directly
            return pre + binds + stmts, nodes.name(result)
        return pre + binds + stmts + [nodes.assign(result, final.value, final)], nodes.name(result)

    def rename_id(self, identifier):
        return self.rename.get(identifier, identifier)

    def where(self, node):
        return locate(node, self.parsed.filename)


def _changes_list(tree, parameter):
    """How a helper changes a list parameter in place: "method" (`v.append(e)`), "element"
    (`v[0] = e`), or None."""
    found = None
    for node in trees.walk(tree):
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Attribute) \
                and isinstance(node.func.value, gast.Name) and node.func.value.id == parameter \
                and node.func.attr in ("append", "insert", "extend", "pop", "remove", "clear"):
            return "method"
        if isinstance(node, gast.Subscript) and isinstance(node.ctx, gast.Store) \
                and isinstance(node.value, gast.Name) and node.value.id == parameter:
            found = "element"
    return found


def _constant_truth(test):
    """The truth of a condition made of numeric constants only (parse inlines module constants),
    else None. Numba would prune such a branch in one place and not another."""
    def value(node):
        if isinstance(node, gast.Constant) and type(node.value) in (int, float, bool):
            return node.value
        if isinstance(node, gast.UnaryOp) and isinstance(node.op, (gast.USub, gast.Not)):
            return UNARY[type(node.op)](value(node.operand))
        if isinstance(node, gast.Compare) and all(type(op) in COMPARE for op in node.ops):
            operands = [value(node.left)] + [value(c) for c in node.comparators]
            return all(COMPARE[type(op)](a, b) for op, a, b in zip(node.ops, operands, operands[1:]))
        if isinstance(node, gast.BoolOp):
            values = [value(v) for v in node.values]
            return all(values) if isinstance(node.op, gast.And) else any(values)
        raise LookupError(type(node).__name__)
    try:
        return bool(value(test))
    except LookupError:
        return None


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


def _nested(call, stmt, normalizer):
    """Calls the rule table knows only in a simpler form:
    min(a, b, c) -> min(min(a, b), c) (also max, math.hypot); math.log(x, b) -> log(x) / log(b)."""
    import math
    callee = annotations.get(call, "callee")
    if callee in table.variadic() and callee is not math.log and len(call.args) > 2 and not call.keywords:
        pre = []
        inner = nodes.call(nodes.clone(call.func), call.args[:2])
        annotations.set(inner, "callee", callee)
        for arg in call.args[2:]:
            p, a = normalizer.to_atom(inner, stmt)
            pre += p
            inner = nodes.call(nodes.clone(call.func), [a, arg])
            annotations.set(inner, "callee", callee)
        return pre, inner
    if callee is math.log and len(call.args) == 2:
        logs, pre = [], []
        for arg in call.args:
            single = nodes.call(nodes.clone(call.func), [arg])
            annotations.set(single, "callee", callee)
            p, a = normalizer.to_atom(single, stmt)
            pre += p
            logs.append(a)
        return pre, nodes.binop(logs[0], "/", logs[1])
    return [], call


# indexing and keyword forms ----------------------------------------------------------------

def _components(index):
    return index.elts if isinstance(index, gast.Tuple) else [index]


def _is_new_axis(node) -> bool:
    return (type(node) is gast.Constant and node.value is None) or nodes.dotted(node) == "np.newaxis"


def _is_ellipsis(node) -> bool:
    return type(node) is gast.Constant and node.value is Ellipsis


def _is_whole(node) -> bool:
    return isinstance(node, gast.Slice) and node.lower is None and node.upper is None and node.step is None


def _width(component, integers=()):
    """How many axes an index component leaves in the result, where that is known without
    types: a slice or a new axis one, an integer constant or a loop index (`integers`) none;
    None for another name (a number or an index array) and `...`."""
    if isinstance(component, gast.Slice) or _is_new_axis(component):
        return 1
    if type(component) is gast.Constant and type(component.value) is int \
            or isinstance(component, gast.Name) and component.id in integers:
        return 0
    return None


def _expanded(array, axes, stmt, normalizer, pre=()):
    """(prelude, np.expand_dims(...)) inserting a length-1 axis at each of `axes`, positions
    in the result: those counted from the start in increasing order, then those counted from
    the end from -1 down, so that each insertion leaves the earlier ones in place."""
    order = sorted((a for a in axes if not _negative(a)), key=lambda a: _value(a) or 0) \
        + sorted((a for a in axes if _negative(a)), key=lambda a: -_value(a))
    pre, result = list(pre), array
    for k, axis in enumerate(order):
        call = nodes.call("np.expand_dims", [result, nodes.const(axis) if isinstance(axis, int) else axis])
        annotations.set(call, "callee", np.expand_dims)
        if k == len(order) - 1:
            return pre, call
        p, result = normalizer.to_atom(call, stmt)
        pre += p
    return pre, result


def _negative(axis) -> bool:
    value = _value(axis)
    return value is not None and value < 0


def _value(axis):
    """An axis' number: an int, or an integer constant node; None for a name."""
    if isinstance(axis, int):
        return axis
    return axis.value if type(axis) is gast.Constant and type(axis.value) is int else None


_REDUCTIONS = (np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.var, np.std, np.all, np.any,
               np.linalg.norm)


def _keyword_forms(call, stmt, normalizer):
    """Keyword options numba lacks (or that the rule table reads in a simpler form) as plain
    calls: axis=(0, 1) reduces one axis at a time, keepdims=True reduces then np.expand_dims,
    np.convolve's mode='valid'/'same' slices the full convolution (validate has checked the
    values)."""
    callee = annotations.get(call, "callee")
    if callee is np.convolve:
        return _convolve_mode(call, stmt, normalizer)
    if callee in (np.var, np.std) and any(k.arg == "ddof" for k in call.keywords):
        return _ddof_form(call, stmt, normalizer)
    if callee not in _REDUCTIONS:
        return [], call
    dtype = next((k.value for k in call.keywords if k.arg == "dtype"), None)
    if callee in (np.mean, np.prod) and dtype is not None and nodes.dotted(dtype) in ("np.float64", "float"):
        _pop_keyword(call, "dtype")          # numba has no dtype= there; float64 is what it computes in
    keepdims = _pop_keyword(call, "keepdims")
    position = 2 if callee is np.linalg.norm else 1          # np.linalg.norm(x, ord, axis)
    axis = next((k.value for k in call.keywords if k.arg == "axis"),
                call.args[position] if len(call.args) > position else None)
    keep = keepdims is not None and keepdims.value and axis is not None
    if not isinstance(axis, gast.Tuple) and not keep:
        return [], call
    if len(call.args) > position:            # np.sum(x, (0, 1)): the axis by name below
        call.args.pop(position)
    axes = list(axis.elts) if isinstance(axis, gast.Tuple) else [axis]
    others = [k for k in call.keywords if k.arg != "axis"]
    # one axis at a time, the later axes first so that the earlier keep their numbers
    order = sorted(axes, key=lambda a: -_value(a)) if all(_value(a) is not None and _value(a) >= 0 for a in axes) \
        else sorted(axes, key=lambda a: _value(a) if _value(a) is not None else 0)
    # a mean over several axes: their sums over the number of elements summed (numba has
    # np.mean along one axis of a matrix only)
    mean = callee is np.mean and len(axes) > 1
    func, reduce = (nodes.attribute("np.sum"), np.sum) if mean else (call.func, callee)
    pre, result = [], call.args[0]
    for k, one in enumerate(order):
        step = nodes.call(nodes.clone(func), [result] + [nodes.clone(r) for r in call.args[1:]],
                          [nodes.keyword("axis", nodes.clone(one))]
                          + [nodes.keyword(o.arg, nodes.clone(o.value)) for o in others])
        annotations.set(step, "callee", reduce)
        if k == len(order) - 1 and not keep and not mean:
            return pre, step
        p, result = normalizer.to_atom(step, stmt)
        pre += p
    if mean:
        shape = nodes.attribute_of(_renamed(call.args[0]), "shape")
        count = nodes.subscript(nodes.clone(shape), nodes.clone(axes[0]))
        for one in axes[1:]:
            count = nodes.binop(count, "*", nodes.subscript(nodes.clone(shape), nodes.clone(one)))
        p, result = normalizer.rhs(nodes.binop(_renamed(result), "/", count), stmt)
        pre += p
        if not keep:
            return pre, result
        p, result = normalizer.to_atom(result, stmt)
        pre += p
    return _expanded(result, [nodes.clone(a) for a in axes], stmt, normalizer, pre)


def _ddof_form(call, stmt, normalizer):
    """np.var(x, ddof=d) as np.var(x) * (n / max(n - d, 0)), n the number of elements each
    value reduces (np.std: times the square root of that), as numpy defines it: numba has no
    ddof, and the derivative rules stay the plain reductions'."""
    ddof = _pop_keyword(call, "ddof")
    axis = next((k.value for k in call.keywords if k.arg == "axis"), call.args[1] if len(call.args) > 1 else None)
    x = _renamed(call.args[0])
    count = nodes.attribute_of(x, "size") if axis is None or (isinstance(axis, gast.Constant) and axis.value is None) \
        else nodes.subscript(nodes.attribute_of(x, "shape"), _renamed(axis))

    def called(fn, args):
        found = nodes.call(f"np.{fn.__name__}", args)
        annotations.set(found, "callee", fn)
        return found
    left = called(np.maximum, [nodes.binop(nodes.clone(count), "-", _renamed(ddof)), nodes.const(0)])
    factor = called(np.divide, [count, left])
    if annotations.get(call, "callee") is np.std:
        factor = called(np.sqrt, [factor])
    pre, reduced = _keyword_forms(call, stmt, normalizer)          # keepdims=True
    p, reduced = normalizer.to_atom(reduced, stmt)
    pre += p
    p, value = normalizer.rhs(nodes.binop(_renamed(reduced), "*", factor), stmt)
    return pre + p, value


def _pop_keyword(call, name):
    found = next((k for k in call.keywords if k.arg == name), None)
    if found is not None:
        call.keywords = [k for k in call.keywords if k is not found]
        return found.value
    return None


def _convolve_mode(call, stmt, normalizer):
    """np.convolve(a, v, mode): numba has the full convolution only; 'valid' and 'same' are
    its middle part, as numpy slices it."""
    mode = _pop_keyword(call, "mode")
    if len(call.args) > 2:
        mode = call.args.pop(2)
    if mode is None or mode.value == "full":
        return [], call
    pre, full = normalizer.to_atom(call, stmt)

    def length(array):
        return nodes.subscript(nodes.attribute_of(_renamed(array), "shape"), nodes.const(0))

    def extreme(fn):
        found = nodes.call(fn.__name__, [length(call.args[0]), length(call.args[1])])
        annotations.set(found, "callee", fn)
        return found

    shorter, longer = extreme(min), extreme(max)
    if mode.value == "valid":                          # a[k:k + |a| - |v| + 1], k = |v| - 1
        part = nodes.slice_(nodes.binop(shorter, "-", nodes.const(1)), longer)
    else:                                              # 'same': |a| values, centred
        start = nodes.binop(nodes.binop(shorter, "-", nodes.const(1)), "//", nodes.const(2))
        part = nodes.slice_(start, nodes.binop(nodes.clone(start), "+", longer))
    p, value = normalizer.rhs(nodes.subscript(_renamed(full), part), stmt)
    return pre + p, value


def _renamed(atom):
    """An atom of normalized code read again by the normalizer: its names are final."""
    atom = nodes.clone(atom)
    if isinstance(atom, gast.Name):
        annotations.set(atom, "renamed", True)
    return atom


def _pure(rhs) -> bool:
    """A right side whose value depends only on the names it reads (no user calls)."""
    for node in trees.walk_branches(rhs):               # (a call is no leaf)
        if isinstance(node, gast.Call):
            callee = annotations.get(node, "callee")
            if not _has_rule(callee) or callee in (np.empty, np.empty_like, np.zeros, np.ones,
                                                    np.full, np.zeros_like, np.ones_like, np.array):
                return False                      # fresh arrays must stay distinct
    return True


def _has_rule(fn) -> bool:
    """Known to the rule table (differentiable or not): called, never inlined."""
    from ..primitives import rules
    return rules.is_differentiable(fn) or rules.is_non_differentiable(fn) \
        or (getattr(fn, "__module__", "") or "").startswith("numpy")


def _folded(compare):
    """`compare` of two number constants as its constant value (True/False); else itself."""
    left, right = compare.left, compare.comparators[0]
    how = COMPARE.get(type(compare.ops[0]))
    numbers = (int, float)
    if (how and isinstance(left, gast.Constant) and isinstance(right, gast.Constant)
            and isinstance(left.value, numbers) and isinstance(right.value, numbers)):
        return nodes.const(bool(how(left.value, right.value)))
    return compare
