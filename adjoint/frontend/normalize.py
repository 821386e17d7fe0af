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

The normalizer is assembled from one mixin per job, in the order a statement meets them:
this module holds the entry point and the statements (assignments, loops, branches);
expressions.py turns each right side into one operation on atoms, call_forms.py rewrites the
calls the rule table knows in a simpler form, indexing.py computes indices into atoms,
inline.py inlines the user's helpers, and tuples.py (sequences) and structure.py (returns,
break and continue) do what their names say.
"""

from __future__ import annotations

import ast

import gast
import numpy as np

from ..errors import AdjointError, locate
from ..ir import annotations, nodes, trees
from ..ir.grammar import COMPARE, UNARY, is_accumulation, is_atom
from ..ir.names import Namer
from .expressions import Expressions
from .indexing import Indexing
from .inline import Inlining
from .known import fold_known_conditions
from .structure import flag_exits, structure_returns
from .tuples import Aggregate, Aggregates, GrownLists


def normalize(parsed, namer: Namer):
    """A new FunctionDef in three-address form; `parsed.tree` is left untouched."""
    # the body is built anew from the user's statements, which are only read: copy the rest
    tree = nodes.clone(parsed.tree, memo={id(parsed.tree.body): []})
    normalizer = _Normalizer(parsed, namer, inlining=(parsed.fn,))
    normalizer.plain.update(parsed.args)
    normalizer.scopes.update(dict.fromkeys(parsed.local_functions.values(), {}))
    body = structure_returns(parsed.tree.body, namer)
    # a branch on a variable holding a constant (a helper's parameter bound to one): only the
    # branch taken, as numba would prune it in one sweep and not the other (known.py)
    tree.body = fold_known_conditions(normalizer.block(body), parsed.args, namer.temporaries)
    _add_data_parameters(tree, parsed)
    return tree


def signature_defaults(parsed, fn) -> list:
    """Constants for the defaults an emitted function `fn` (grad_f, the primal) can show in its
    signature, so that it reads and calls like the user's: those of its trailing parameters
    that are the user's with number defaults. None after a parameter without one (jvp's
    tangent, a module array, vjp's cotangent, a parameter without a default)."""
    shown, read = [], None
    for parameter in reversed(fn.args.args):
        user = parsed.user(parameter.id)
        value = parsed.defaults.get(user) if user in parsed.user_args else None
        if value is None and user in parsed.defaults:       # `ax=None`, shown where never read
            if read is None:
                read = {n.id for n in trees.walk(parsed.tree) if isinstance(n, gast.Name)
                        and isinstance(n.ctx, gast.Load)}
            if parameter.id in read:
                break
            shown.append(nodes.const(None))
            continue
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


class _Normalizer(Expressions, Indexing, Inlining, Aggregates, GrownLists):
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
        earlier = {t for t, _ in self.available.values()}
        produced = [nodes.located(s, stmt) if getattr(s, "lineno", None) is None else s
                    for s in method(stmt)]
        self.forget(produced, earlier)
        return produced

    # common subexpressions: a temporary computed earlier in the block, still valid, is reused

    def forget(self, produced, earlier=frozenset()):
        """Drop the remembered values that read a name these statements assign, and those held
        in a temporary of `earlier` (made before them) that they assign again; a temporary
        these statements made keeps its value (its own assignment is among them)."""
        changed = set()
        for s in produced:
            kind = type(s)
            if kind is gast.If or kind is gast.For or kind is gast.While:
                self.available = {}
                return
            if kind is not gast.Assign and kind is not gast.AugAssign:
                continue
            # simple statements store names only in their targets; `y[i] = e` changes y
            for target in s.targets if kind is gast.Assign else [s.target]:
                if type(target) is gast.Name:
                    if isinstance(target.ctx, gast.Store):
                        changed.add(target.id)
                    continue
                changed.update(n.id for n in trees.walk(target)
                               if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store))
            if kind is gast.Assign and isinstance(s.targets[0], gast.Subscript):
                changed.add(s.targets[0].value.id)
        if any(reads & changed or (t in changed and t in earlier) for t, reads in self.available.values()):
            self.available = {k: (t, reads) for k, (t, reads) in self.available.items()
                              if not reads & changed and not (t in changed and t in earlier)}

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

    def stmt_Raise(self, stmt):
        # a guard: each sweep keeps it where the primal has it. Its message is a constant
        # (numba raises no other): one that formats values becomes its text, the values
        # written as the user wrote them (`f"n = {n}"` -> "n = {n}")
        exc = stmt.exc
        if type(exc) is gast.Call and not all(type(a) is gast.Constant for a in exc.args):
            text = " ".join(_message_text(a) for a in exc.args)
            exc = nodes.call(nodes.clone(exc.func), [nodes.const(text)])
            stmt = nodes.located(nodes.make(gast.Raise, exc=exc, cause=None), stmt)
        return [stmt]

    def stmt_Assert(self, stmt):
        pre, failed = self.atom(nodes.not_(stmt.test), stmt)
        error = nodes.call(nodes.name("AssertionError"), [] if stmt.msg is None else [stmt.msg])
        return pre + [nodes.if_(failed, self.stmt_Raise(nodes.located(nodes.make(gast.Raise, exc=error, cause=None),
                                                                      stmt)), origin=stmt)]

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
        user_body = stmt.body
        if rebound:
            # the body binds the index again (`for i ...: for i ...` too): the loop counts with
            # a name of its own, which the tapes tag each iteration with, and binds the user's
            # name to it first; after the loop the user's name holds what Python's would
            first = nodes.assign_to(nodes.name(stmt.target.id, store=True), nodes.name(index), stmt)
            index = self.namer.fresh(index)
            first.value = nodes.name(index)
            user_body = [nodes.located(first, stmt)] + stmt.body
        added = index not in self.loop_indices
        if added:
            self.loop_indices.add(index)
        try:
            body = self.loop_body(user_body, stmt)
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
        if not is_atom(rhs) and nodes.loads_any(rhs, target.id.__eq__) and not is_accumulation(target.id, rhs):
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

    def rename_id(self, identifier):
        return self.rename.get(identifier, identifier)

    def where(self, node):
        return locate(node, self.parsed.filename)


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


def _message_text(node) -> str:
    """The text of an exception's message that formats values: its constant parts, each value
    as the user wrote it, in braces (a template formatted by % or .format: the template)."""
    kind = type(node)
    if kind is gast.Constant:
        return str(node.value)
    if kind is gast.JoinedStr:
        return "".join(_message_text(v) for v in node.values)
    if kind is gast.FormattedValue:
        return "{" + _message_text(node.value).strip("{}") + "}"
    if kind is gast.BinOp and type(node.op) is gast.Mod and type(node.left) is gast.Constant:
        return str(node.left.value)
    if kind is gast.BinOp and type(node.op) is gast.Add:
        return _message_text(node.left) + _message_text(node.right)
    if kind is gast.Call and type(node.func) is gast.Attribute and node.func.attr == "format" \
            and type(node.func.value) is gast.Constant:
        return str(node.func.value.value)
    return "{" + ast.unparse(gast.gast_to_ast(node)) + "}"
