"""What the optimizer's passes share: each statement's loads and writes, found once and kept
while a statement is unchanged (`_Summaries`), and the walks over a function's blocks."""

from __future__ import annotations

import collections
import copy

import gast

from ..ir import nodes
from ..primitives import runtime

_COMPOUND = (gast.If, gast.For, gast.While)        # the statements holding blocks (body, orelse)
_COMPOUND_TYPES = frozenset(_COMPOUND)


def _own_blocks(fn):
    """A copy of `fn` whose compound statements and blocks are copies, all else shared."""
    def own(stmts):
        if _COMPOUND_TYPES.isdisjoint(map(type, stmts)):
            return list(stmts)               # (a block of simple statements: copied at once)
        out = []
        for stmt in stmts:
            if isinstance(stmt, _COMPOUND):
                stmt = copy.copy(stmt)
                stmt.body, stmt.orelse = own(stmt.body), own(stmt.orelse)
            out.append(stmt)
        return out
    new = copy.copy(fn)
    new.body = own(fn.body)
    return new


def _headers(stmt):
    """The fields of a compound statement that hold expressions (test, target, iter)."""
    return [f for f in stmt._fields if f not in ("body", "orelse") and isinstance(getattr(stmt, f), gast.AST)]


def _fresh_calls(stmts, summaries):
    """lower.for_numba.lower_for_numba, run on the result, rewrites calls in place, and only calls of
    `np.<function>` (runtime.LOWERED_MODULE): every call in a statement that loads `np`, and
    what holds one, is made the result's own (nodes.with_fresh_calls), not the input's. The
    other statements stay shared (copying every call took a tenth of this stage's time)."""
    loads = summaries.load_counts
    for k, stmt in enumerate(stmts):
        if type(stmt) in _COMPOUND_TYPES:
            for field in _headers(stmt):
                if runtime.LOWERED_MODULE in loads(getattr(stmt, field)):
                    setattr(stmt, field, nodes.with_fresh_calls(getattr(stmt, field)))
            _fresh_calls(stmt.body, summaries)
            _fresh_calls(stmt.orelse, summaries)
        elif runtime.LOWERED_MODULE in loads(stmt):
            stmts[k] = nodes.with_fresh_calls(stmt)


def _blocks(fn) -> list:
    """nodes.blocks(fn), in its order (breadth first), in a list: found without walking a
    block that holds no compound statement one statement at a time."""
    blocks = [fn.body]
    for block in blocks:                 # grows as it is read: breadth first
        if not _COMPOUND_TYPES.isdisjoint(map(type, block)):
            for stmt in block:
                if type(stmt) in _COMPOUND_TYPES:
                    blocks += (stmt.body, stmt.orelse)
    return blocks


class _Summaries:
    """What the passes ask of each statement and expression (the names it loads, the names
    it writes, whether it is folded), found once per node: no pass changes a node in place
    but the compound statements (see optimize), so a node's facts hold while it lives, and
    `alive` keeps the nodes alive (their ids stay theirs). A compound statement's loads
    merge its parts' each time (its blocks change). The facts are dicts of str and tuples
    of str, which the garbage collector does not track: tracked ones made it scan the whole
    heap again and again (a third of this stage's time on long functions)."""

    def __init__(self):
        self.alive = {}              # id(node) -> node, for every node with facts below
        self._loads = {}             # id(node) -> {name: how many times it loads it}
        self._written = {}           # id(statement) -> nodes.written_names(statement), a tuple
        self.folded = {}             # id(statement) -> statement, for those fold_constants has folded
        self._facts = {}             # (kind, id(node)) -> what fact(kind, node, find) found

    def load_counts(self, node) -> dict:
        """name -> how many times `node` (and all nested in it) loads it; not to be changed."""
        counts = self._loads.get(id(node))          # first: most calls ask again
        if counts is not None:
            return counts
        if node is None:
            return {}
        if isinstance(node, _COMPOUND):
            counts = {}
            for part in [getattr(node, f) for f in _headers(node)] + node.body + node.orelse:
                for name, count in self.load_counts(part).items():
                    counts[name] = counts.get(name, 0) + count
            return counts
        return self._learn(node)

    def _learn(self, node) -> dict:
        """Find and keep `node`'s loads and, where it is `name = e` or `name += e`, the name it
        writes: every statement is asked both, and one reading of its target serves both."""
        key = id(node)
        target = _name_target(node)
        counts = None
        if target is not None:
            self._written[key] = (target.id,)
            if target.annotation is None:
                counts = _atom_loads(node.value)
        if counts is None:
            counts = nodes.load_counts(node)
        self._loads[key] = counts
        self.alive[key] = node
        return counts

    def fact(self, kind, node, find):
        """find(node), found once per node and `kind` of fact (a node no pass changes in place:
        a simple statement, an expression); not to be changed."""
        key = (kind, id(node))
        found = self._facts.get(key)
        if found is None:
            found = self._facts[key] = find(node)
            self.alive[id(node)] = node
        return found

    def same_loads(self, new, old):
        """`new` loads what `old` loads (a statement rebuilt around the same expressions)."""
        counts = self._loads.get(id(old))
        if counts is not None:
            self._loads[id(new)] = counts
            self.alive[id(new)] = new

    def written(self, stmt) -> tuple:
        names = self._written.get(id(stmt))
        if names is None:
            if id(stmt) not in self._loads and type(stmt) not in _COMPOUND_TYPES:
                self._learn(stmt)                # (its loads are asked next, most of the time)
                names = self._written.get(id(stmt))
            if names is None:
                names = self._written[id(stmt)] = _simple_written(stmt) or tuple(nodes.written_names(stmt))
                self.alive[id(stmt)] = stmt
        return names

    def written_by(self, stmt):
        """Names a statement, or any statement inside it, writes."""
        if not isinstance(stmt, _COMPOUND):
            return self.written(stmt)
        return {name for node in nodes.statements([stmt]) for name in self.written(node)}


_Name, _Constant, _Load = gast.Name, gast.Constant, gast.Load
_Assign, _AugAssign, _BinOp, _UnaryOp = gast.Assign, gast.AugAssign, gast.BinOp, gast.UnaryOp


def _atom_loads(value):
    """nodes.load_counts(stmt) for the statements most of an adjoint is made of, a name
    assigned or updated (stmt, an unannotated name target: _Summaries._learn) with an atom or
    an operation of atoms (`s_3 = t_2 * s_4`), `value` being what it assigns; counted in the
    same order; None for any other. (A quarter of the time of the generic walk, which every
    statement goes through once.)"""
    kind = type(value)
    if kind is _BinOp:
        operands = (value.right, value.left)            # the generic walk's order: a stack
    elif kind is _UnaryOp:
        operands = (value.operand,)
    else:
        operands = (value,)
    counts = {}
    for operand in operands:
        kind = type(operand)
        if kind is _Name and operand.annotation is None:
            if type(operand.ctx) is _Load:
                counts[operand.id] = counts.get(operand.id, 0) + 1
        elif kind is not _Constant:
            return None
    return counts


def _simple_written(stmt):
    """nodes.written_names(stmt) of `name = e` and `name += e`, the statements most of an
    adjoint is made of, as a tuple; None for any other."""
    target = _name_target(stmt)
    return None if target is None else (target.id,)


def _name_target(stmt):
    """The name `name = e` or `name += e` writes (one target); None for any other statement."""
    kind = type(stmt)
    if kind is _Assign:
        if len(stmt.targets) != 1:
            return None
        target = stmt.targets[0]
    elif kind is _AugAssign:
        target = stmt.target
    else:
        return None
    return target if type(target) is _Name and type(target.ctx) is not _Load else None


def _write_counts(fn, summaries) -> dict:
    """name -> how many statements write it."""
    known, written = summaries._written, summaries.written
    names = []
    extend = names.extend
    for stmt in _all_statements(fn.body):
        these = known.get(id(stmt))
        extend(written(stmt) if these is None else these)
    return collections.Counter(names)          # counted in C: this ran twice a round


def _all_statements(stmts) -> list:
    """The statements in `stmts` and in their blocks, in a list (a block without compound
    statements is returned as it is: nodes.statements yields one at a time)."""
    if _COMPOUND_TYPES.isdisjoint(map(type, stmts)):
        return stmts
    out = []
    for stmt in stmts:
        out.append(stmt)
        if type(stmt) in _COMPOUND_TYPES:
            out += _all_statements(stmt.body)
            out += _all_statements(stmt.orelse)
    return out


def _with_reads_replaced(stmt, mapping, summaries):
    """`stmt` reading mapping[name] wherever it loads a name of `mapping`: a new simple
    statement (or itself, when it reads none of them); a compound one changed in place."""
    if isinstance(stmt, _COMPOUND):
        for field in _headers(stmt):
            setattr(stmt, field, nodes.with_loads_replaced(getattr(stmt, field), mapping))
        for block in (stmt.body, stmt.orelse):
            block[:] = [_with_reads_replaced(s, mapping, summaries) for s in block]
        return stmt
    if mapping.keys().isdisjoint(summaries.load_counts(stmt)):
        return stmt
    return nodes.with_loads_replaced(stmt, mapping)
