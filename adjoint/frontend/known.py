"""Branches on a condition known at compile time keep only the branch taken, after inlining.

    def h(a, b):                        h_b = 0.87
        if b > 0.5:                     h_result = math.sin(a)
            b = math.sin(a)       ->    ...
        return b
    ... h(q, C0) ...                    (C0 = 0.87, a module constant)

normalize folds a condition written with constants (`if SMOOTH > 0.0:`); this pass, run on its
output, folds those that read a variable holding a number at that point: a helper's parameter
bound to a module constant (`h_b = 0.87; t_3 = h_b > 0.5; if t_3:`), a flag copied from one.
numba prunes such a branch itself, but only where it sees that the condition is a comparison of
constants: the reverse sweep's test of the same condition, under another branch, reads it
through a merge and stays, and reads what numba removed with the forward branch (an undefined
variable: fuzz seed 20261212 #224). Folded here, both sweeps have the same straight code.

A name's value is known at a statement where every definition that reaches it assigns the
same number (a constant, a copy, a comparison, `not` or `-` of known atoms): a loop forgets
what its body rebinds, a branch keeps what both sides agree on. A name defined once in the
whole function, to a number so derived, is known everywhere (numba reads it so too: a read
that runs can only see that value). A branch that leaves a loop (`if t_stop: break`) is kept:
the loops' exit structure is the one structure.py made.
"""

from __future__ import annotations

import gast

from ..ir import nodes
from ..ir.grammar import COMPARE, UNARY

_UNKNOWN = object()
_PURE = (gast.Constant, gast.Name, gast.Compare, gast.UnaryOp)


def fold_known_conditions(body, parameters, temporaries):
    """`body` (a normalized function's, changed in place) with each branch on a known
    condition replaced by the branch taken; the temporaries that only computed a folded
    condition are dropped."""
    if not any(type(s) is gast.If for s in nodes.statements(body)):
        return body
    folder = _Folder(_defined_once(body, parameters), temporaries)
    out = folder.block(body, {})
    if not folder.folds:
        return body
    return _without_dead_tests(out, folder.folded & temporaries, temporaries)


def _defined_once(body, parameters) -> dict:
    """name -> its value, for the names defined once in `body` (a parameter is defined by the
    call) to a value known from such names alone."""
    definitions = dict.fromkeys(parameters, None)
    count = dict.fromkeys(parameters, 1)
    for stmt in nodes.statements(body):
        for name in nodes.written_names(stmt):
            count[name] = count.get(name, 0) + 1
            definitions[name] = stmt.value if type(stmt) is gast.Assign \
                and type(stmt.targets[0]) is gast.Name else None
    once = [(name, rhs) for name, rhs in definitions.items()
            if count[name] == 1 and rhs is not None and type(rhs) in _PURE]
    known = {}
    while once:                              # in program order: a chain resolves in one round
        left = []
        for name, rhs in once:
            value = _evaluate(rhs, known.get)
            if value is _UNKNOWN:
                left.append((name, rhs))
            else:
                known[name] = value
        if len(left) == len(once):
            break
        once = left
    return known


def _value(atom, lookup):
    kind = type(atom)
    if kind is gast.Constant:
        value = atom.value
        return value if type(value) in (bool, int, float) else _UNKNOWN
    if kind is gast.Name:
        value = lookup(atom.id)
        return _UNKNOWN if value is None else value
    return _UNKNOWN


def _evaluate(rhs, lookup):
    """The number a normalized right side computes from known atoms, else _UNKNOWN."""
    kind = type(rhs)
    if kind is gast.Compare:
        how = COMPARE.get(type(rhs.ops[0])) if len(rhs.ops) == 1 else None
        if how is None:
            return _UNKNOWN
        left, right = _value(rhs.left, lookup), _value(rhs.comparators[0], lookup)
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN
        return bool(how(left, right))
    if kind is gast.UnaryOp:
        if type(rhs.op) not in (gast.Not, gast.USub):
            return _UNKNOWN
        operand = _value(rhs.operand, lookup)
        return _UNKNOWN if operand is _UNKNOWN else UNARY[type(rhs.op)](operand)
    return _value(rhs, lookup)


class _Folder:
    def __init__(self, once, temporaries):
        self.once = once                     # names defined once: known everywhere
        self.temporaries = temporaries
        self.folded = set()                  # the names tested by the branches folded
        self.folds = 0

    def lookup(self, env):
        once = self.once
        return lambda name: env[name] if name in env else once.get(name)

    def block(self, stmts, env):
        """The statements, folded; `env` (name -> value known here) updated to their end."""
        out = []
        for stmt in stmts:
            kind = type(stmt)
            if kind is gast.If:
                known = _value(stmt.test, self.lookup(env))
                if known is not _UNKNOWN and not _leaves_loop(stmt):
                    self.folds += 1
                    if type(stmt.test) is gast.Name:
                        self.folded.add(stmt.test.id)
                    taken = [s for s in self.block(stmt.body if known else stmt.orelse, env)
                             if type(s) is not gast.Pass]
                    if out and taken and self.overwritten(out[-1], taken[0]):
                        out.pop()            # `t = flag; t = x > 0.0` of `flag and x > 0.0`
                    out += taken
                    continue
                other = dict(env)
                stmt.body = self.block(stmt.body, env) or [nodes.pass_()]
                stmt.orelse = self.block(stmt.orelse, other)
                agreed = {name: value for name, value in env.items()
                          if name in other and _same(other[name], value)}
                env.clear()
                env.update(agreed)
            elif kind is gast.For or kind is gast.While:
                for name in nodes.written_by(stmt):      # the values the loop's back edge brings
                    env.pop(name, None)
                stmt.body = self.block(stmt.body, dict(env)) or [nodes.pass_()]
            elif kind is gast.Assign and type(stmt.targets[0]) is gast.Name:
                value = _evaluate(stmt.value, self.lookup(env))
                if value is _UNKNOWN:
                    env.pop(stmt.targets[0].id, None)
                else:
                    env[stmt.targets[0].id] = value
            else:
                for name in nodes.written_by(stmt):
                    env.pop(name, None)
            out.append(stmt)
        return out

    def overwritten(self, first, then) -> bool:
        """Whether `then` assigns the temporary a pure `first` assigned, without reading it."""
        if type(first) is not gast.Assign or type(then) is not gast.Assign:
            return False
        target, other = first.targets[0], then.targets[0]
        return type(target) is gast.Name and type(other) is gast.Name and target.id == other.id \
            and target.id in self.temporaries and type(first.value) in _PURE \
            and target.id not in nodes.loads_in(then.value)


def _same(a, b) -> bool:
    return type(a) is type(b) and a == b


def _leaves_loop(branch) -> bool:
    """Whether a `break` or `continue` in the branch leaves the loop around it."""
    todo = list(branch.body) + list(branch.orelse)
    for stmt in todo:
        kind = type(stmt)
        if kind is gast.Break or kind is gast.Continue:
            return True
        if kind is gast.If:
            todo += stmt.body + stmt.orelse
    return False


def _without_dead_tests(body, candidates, temporaries):
    """`body` without the assignments of the candidate temporaries no statement reads any
    more (a folded condition, then the temporaries only it read), all of them pure."""
    while candidates:
        loads = set()
        for stmt in body:
            loads |= nodes.loads_in(stmt)
        dead = candidates - loads
        if not dead:
            break
        removed = []
        body = _kept(body, dead, removed)
        candidates = {n for rhs in removed for n in nodes.loads_in(rhs)} & temporaries
    return body


def _kept(stmts, dead, removed):
    """`stmts` without the pure assignments of the `dead` names (their right sides go to
    `removed`)."""
    out = []
    for stmt in stmts:
        kind = type(stmt)
        if kind is gast.Assign and type(stmt.targets[0]) is gast.Name \
                and stmt.targets[0].id in dead and type(stmt.value) in _PURE:
            removed.append(stmt.value)
            continue
        if kind is gast.If:
            stmt.body = _kept(stmt.body, dead, removed) or [nodes.pass_()]
            stmt.orelse = _kept(stmt.orelse, dead, removed)
        elif kind is gast.For or kind is gast.While:
            stmt.body = _kept(stmt.body, dead, removed) or [nodes.pass_()]
        out.append(stmt)
    return out
