"""What the reverse transform reads off the normalized function before its sweep: the names
each statement binds (`Assigned`) and each loop's body reads before binding them
(`Exposed`), both found once per statement or loop; the names that live within one
iteration of a loop or one branch, whose sensitivities start at zero where they are bound
(`loop_locals`, `branch_arrays`); the array arguments only unpacked (`unpacked_only`); and
the views the reverse sweep reads of arrays written after them, which it copies
(`views_written_later`).
"""

from __future__ import annotations

import collections

import gast

from ..analysis import shapes
from ..analysis.activity import assigned, exposed_reads
from ..frontend.views import view_base
from ..ir import nodes
from .tapes import statements

_COMPOUND = frozenset((gast.If, gast.For, gast.While))


def views_written_later(tree, analysis) -> set:
    """ids of the assignments `t = <view of y>` (a basic slice or row `y[1:3]`, `y[i]`, a
    transpose, a reshape, ...) whose name the reverse sweep reads, where `y` (or another view
    of its memory) is written in place after them (in the same iteration where they sit in
    a loop, which the reverse replays): the reverse would read the written values through
    the view. Names bound by a view share their base's memory: `root` joins them in groups
    (union-find), each name in the group of every array it is ever bound to a view of; the
    front end (views.py) accepts such a write only where the view is dead after it."""
    if not analysis.arrays:
        return set()                                 # no array: no view (no statement searched)
    root, order, defs, writes = {}, {}, [], []

    def base(value):
        if isinstance(value, gast.Name) and value.id not in analysis.arrays:
            return None                              # a number: a copy
        return view_base(value, lambda i: isinstance(i, gast.List) or isinstance(i, gast.Name)
                         and shapes.type_of(i, analysis.types).is_array)     # an index array or a mask: a copy

    def visit(body, loops):
        for stmt in body:
            order[id(stmt)] = len(order)
            if isinstance(stmt, (gast.For, gast.While)):
                visit(stmt.body, loops + (id(stmt),))
            elif isinstance(stmt, gast.If):
                visit(stmt.body, loops)
                visit(stmt.orelse, loops)
            elif isinstance(stmt, gast.Assign):
                target = stmt.targets[0]
                if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
                    writes.append((target.value.id, order[id(stmt)], loops))
                elif isinstance(target, gast.Name) and target.id in analysis.arrays:
                    viewed = base(stmt.value)
                    if viewed is not None:
                        # a name bound to views of several arrays (`w = y1`, later `w = y0`)
                        # may share the memory of each: one group holds them all
                        joined, into = find(target.id), find(viewed)
                        if joined != into:
                            root[joined] = into
                        defs.append((stmt, target.id, loops))

    def find(name):
        seen = set()
        while name in root and name not in seen:
            seen.add(name)
            name = root[name]
        return name

    visit(tree.body, ())
    if not writes or not defs:
        return set()
    copies = set()
    for stmt, name, loops in defs:
        if name not in analysis.reverse_reads:
            continue
        here = order[id(stmt)]
        # the reverse reads it in its loop's replay of one iteration (or after the whole
        # forward sweep): a write earlier in that iteration's body is already in the view
        if any(find(w) == find(name) and at > here and (not loops or loops[-1] in loops_w)
               for w, at, loops_w in writes):
            copies.add(id(stmt))
    return copies


def unpacked_only(tree, analysis) -> set:
    """Array arguments read only by one unpacking at the top level (`a, b = x`): their
    sensitivity is assembled from the elements' in one step, as the seed's grad_f4 does."""
    found, uses = set(), None
    for stmt in tree.body:
        if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Tuple \
                and isinstance(stmt.value, gast.Name) and stmt.value.id in analysis.wrt:
            name = stmt.value.id
            if uses is None:                      # how often each name is mentioned, counted once
                uses = collections.Counter(n.id for n in nodes.walk(tree) if isinstance(n, gast.Name))
            if uses[name] == 2 and analysis.types.get(name) is not None and analysis.types[name].ndim == 1:
                found.add(name)                   # the parameter itself and this one read
    return found


def branch_arrays(tree, analysis, assigned) -> set:
    """Arrays that only an if-branch assigns: their sensitivity is zeroed where they are
    assigned, since at the top of the reverse sweep they may not exist."""
    if not any(isinstance(stmt, gast.If) for stmt in tree.body):
        return set()                      # straight code: no statement need be searched
    outside = {n for stmt in tree.body if not isinstance(stmt, gast.If) for n in assigned([stmt])}
    inside = {n for stmt in tree.body if isinstance(stmt, gast.If) for n in assigned([stmt])}
    return (inside - outside - {a.id for a in tree.args.args}) & analysis.arrays


def loop_locals(tree, assigned, exposed) -> set:
    """Names that live within one iteration of a loop: assigned in its body before any read
    there, never mentioned outside it, nor rebound by an inner loop. Their sensitivities
    start at zero in each replay."""
    local, mentions = set(), None
    if not any(type(stmt) in _COMPOUND for stmt in tree.body):
        return local                              # straight code: no loop (no statement searched)
    for loop in statements(tree.body):
        if not isinstance(loop, (gast.For, gast.While)):
            continue
        if mentions is None:                      # the function's names, found once
            mentions = [n for n in nodes.every_node(tree) if isinstance(n, gast.Name)]
        inside = {id(n) for s in loop.body for n in nodes.every_node(s)}
        outside = {n.id for n in mentions if id(n) not in inside}
        # one also rebound by an inner loop is not: zeroing it there, in the inner reverse
        # loop's replay, would drop what the later statements sent it
        inner = set().union(*(assigned(s.body) for s in statements(loop.body)
                              if isinstance(s, (gast.For, gast.While))))
        local |= assigned(loop.body) - exposed(loop) - outside - inner
    return local


class Exposed:
    """exposed_reads of a loop's body, found once per loop: the sweep, the loop's tapes and
    stored.py each asked about the same body, and every enclosing loop again."""

    def __init__(self):
        self.known = {}                      # id(loop) -> (loop, its body's exposed reads)

    def __call__(self, loop) -> set:
        """(not to be changed)"""
        found = self.known.get(id(loop))
        if found is None:
            found = self.known[id(loop)] = (loop, exposed_reads(loop.body))
        return found[1]


class Assigned:
    """analyze.assigned of statements of the function being reversed, each statement searched
    once: the sweep, the branches and the loops ask again about the same statements."""

    def __init__(self):
        self.known = {}

    def __call__(self, stmts):
        names = set()
        for stmt in stmts:
            names |= self.of(stmt)
        return names

    def of(self, stmt) -> set:
        """The names one statement assigns (the set kept: not to be changed)."""
        found = self.known.get(id(stmt))
        if found is None:
            if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name:
                found = {stmt.targets[0].id}       # (a normalized right side stores no name)
            else:
                found = assigned([stmt])
            self.known[id(stmt)] = found
        return found
