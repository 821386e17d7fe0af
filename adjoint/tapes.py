"""Stage 5, reverse (loops): the forward loop's checkpoint and record tapes, and the head of
its reverse loop.

    for i in range(n):                      tape_s = np.empty(len(range(n)), np.float64)
        s = f(s, x[i])          ->          for i in range(n):
                                                tape_s[i] = s           (the checkpoint)
                                                s = f(s, x[i])
                                            ...
                                            for i in range(n - 1, -1, -1):
                                                s = tape_s[i]           (restored, then replayed
                                                ...                      and reversed: reverse.py)

reverse.py decides what a loop carries; LoopFrame allocates the tapes (preallocated to the trip
count for `range` loops, doubling for `while` loops and loops with exits), pushes the
checkpoints, records the elements the loop overwrites and spells the reverse loop.
"""

from __future__ import annotations

import copy

import gast

from . import nodes, runtime
from .errors import AdjointError, locate

TAPE_DTYPE = {"float": "np.float64", "int": "np.int64", "bool": "np.bool_"}


class LoopFrame:
    """The forward loop with its checkpoints and the head of its reverse loop.

    For a `range` loop without exits the checkpoint tapes are preallocated to the trip count
    and indexed by the iteration number; `while` loops and loops with `break` count their
    trips, and a `while` loop's tapes double when full. Arrays that the loop writes element
    by element get a record tape: each overwritten element's old value, tagged with the
    iteration, which the reverse loop puts back before replaying that iteration."""

    def __init__(self, owner, stmt, counted, index, carried):
        self.owner, self.stmt, self.index, self.carried = owner, stmt, index, carried
        self.namer, self.a = owner.namer, owner.a
        self.tapes = {v: self.namer.fresh("tape_" + v) for v in carried}
        self.setup = []
        if isinstance(stmt, gast.For):
            self.start, self.stop, self.step = _range_parts(stmt.iter.args)
            trips = nodes.call("len", [nodes.call("range", copy.deepcopy(stmt.iter.args))])
        forward = copy.deepcopy(stmt)
        if not counted:
            at = index if _is_zero(self.start) else nodes.binop(index, "-", self.start)
            if not _is_one(self.step):
                at = gast.BinOp(left=nodes.atom(at), op=gast.FloorDiv(), right=copy.deepcopy(self.step))
            self.at_forward = self.at_reverse = at
            self.setup = [self.alloc(v, copy.deepcopy(trips)) for v in carried]
            forward.body = self.pushes(at) + forward.body
            bounds = _reversed_range(self.start, self.stop, self.step)
            if bounds is not None:
                self.head, self.iteration = None, at
                self.reverse = lambda body: nodes.for_range(index, bounds, body, stmt)
            else:
                k = self.namer.fresh("t_iter")
                self.iteration = self.at_reverse = k
                head = [nodes.assign(index, nodes.binop(self.start, "+", nodes.binop(k, "*", self.step)), stmt)]
                reverse_range = [nodes.binop(copy.deepcopy(trips), "-", 1), -1, -1]
                self.reverse = lambda body: nodes.for_range(k, reverse_range, head + body, stmt)
            self.forward = forward
            return
        count, k = self.namer.fresh("t_count"), self.namer.fresh("t_iter")
        capacity = copy.deepcopy(trips) if isinstance(stmt, gast.For) else nodes.const(16)
        self.setup = [nodes.assign(count, 0, stmt)] + [self.alloc(v, capacity) for v in carried]
        grow = []
        if isinstance(stmt, gast.While) and carried:
            full = self.namer.fresh("t_full")
            capacity_now = nodes.subscript(nodes.attribute(f"{self.tapes[carried[0]]}.shape"), 0)
            grow = [nodes.assign(full, gast.Compare(left=nodes.name(count), ops=[gast.Eq()],
                                                    comparators=[capacity_now]), stmt),
                    nodes.if_(full, [self.grown(v) for v in carried], origin=stmt)]
        forward.body = grow + self.pushes(count) + [nodes.accumulate(count, 1, stmt)] + forward.body
        head = []
        if index is not None:
            head = [nodes.assign(index, nodes.binop(self.start, "+", nodes.binop(k, "*", self.step)), stmt)]
        reverse_range = [nodes.binop(count, "-", 1), -1, -1]
        self.forward, self.iteration = forward, k
        self.at_forward, self.at_reverse = nodes.name(count), nodes.binop(k, "+", 1)
        self.reverse = lambda body: nodes.for_range(k, reverse_range, head + body, stmt)

    def alloc(self, var, size):
        if var in self.a.arrays:                          # one row per iteration
            rows = gast.BinOp(left=nodes.tuple_([size]), op=gast.Add(),
                              right=nodes.attribute(f"{var}.shape"))
            value = nodes.call("np.empty", [rows, nodes.attribute(f"{var}.dtype")])
        else:
            kind = self.a.kinds.get(var, "float")
            value = nodes.call("np.empty", [size, nodes.attribute(TAPE_DTYPE[kind])])
        return nodes.assign(self.tapes[var], value, self.stmt)

    def grown(self, var):
        """Double a tape's capacity (amortized growth for while loops)."""
        tape = self.tapes[var]
        doubled = nodes.call("np.concatenate", [nodes.tuple_([tape, nodes.call("np.empty_like", [tape])])])
        return nodes.assign(tape, doubled, self.stmt)

    def pushes(self, at):
        pushes = [nodes.assign(nodes.subscript(self.tapes[v], copy.deepcopy(at), store=True), v, self.stmt)
                  for v in self.carried]
        for push in pushes:
            push.checkpoint = True
        return pushes

    def popped(self, var):
        row = nodes.subscript(self.tapes[var], copy.deepcopy(self.iteration))
        return nodes.call(nodes.attribute_of(row, "copy"), []) if var in self.a.arrays else row

    def record_writes(self):
        """Record tapes for the arrays the forward loop writes; returns the reverse undo."""
        writes = [s for s in statements(self.forward.body) if isinstance(s, gast.Assign)
                  and isinstance(s.targets[0], gast.Subscript) and not getattr(s, "checkpoint", False)]
        arrays = sorted({s.targets[0].value.id for s in writes})
        if not arrays:
            return []
        records = {y: self.namer.fresh("records_" + y) for y in arrays}
        tops = {y: self.namer.fresh("top_" + y) for y in arrays}
        ranks = {y: self.owner.type(nodes.name(y)).ndim for y in arrays}
        for y in arrays:
            self.setup += [nodes.assign(records[y], nodes.call("np.empty", [nodes.tuple_([16, 2 + ranks[y]])]),
                                        self.stmt),
                           nodes.assign(tops[y], 0, self.stmt)]
        for write in writes:
            target = write.targets[0]
            y = target.value.id
            index = target.slice.elts if isinstance(target.slice, gast.Tuple) else [target.slice]
            if has_slice(target.slice):
                raise AdjointError("assigning to a slice inside a loop is not supported",
                                   location=locate(write, self.owner.filename),
                                   hint="assign the elements one by one in an inner loop")
            helper = self.owner.helper(runtime.record(ranks[y]))
            record = nodes.assign(records[y], nodes.call(nodes.name(helper), [
                records[y], tops[y], copy.deepcopy(self.at_forward), y] + [copy.deepcopy(i) for i in index]),
                write)
            _insert_before(self.forward, write, [record, nodes.accumulate(tops[y], 1, write)])
        undo = []
        for y in arrays:
            helper = self.owner.helper(runtime.undo(ranks[y]))
            restore = nodes.assign(tops[y], nodes.call(nodes.name(helper), [
                records[y], tops[y], copy.deepcopy(self.at_reverse), y]), self.stmt)
            restore.also_writes = {y}                  # it puts elements of y back
            undo.append(restore)
        return undo


def _insert_before(tree, target, new):
    for node in gast.walk(tree):
        for field in ("body", "orelse"):
            block = getattr(node, field, None)
            if isinstance(block, list) and any(s is target for s in block):
                k = next(i for i, s in enumerate(block) if s is target)
                block[k:k] = new
                return


def _is_one(node):
    return isinstance(node, gast.Constant) and node.value == 1


def statements(body):
    """Every statement, in source order (compound statements before their bodies)."""
    for stmt in body:
        yield stmt
        for field in ("body", "orelse"):
            yield from statements(getattr(stmt, field, []) or [])


def _range_parts(args):
    args = [copy.deepcopy(a) for a in args]
    if len(args) == 1:
        return nodes.const(0), args[0], nodes.const(1)
    if len(args) == 2:
        return args[0], args[1], nodes.const(1)
    return args[0], args[1], args[2]


def _is_zero(node):
    return isinstance(node, gast.Constant) and node.value == 0


def _reversed_range(start, stop, step):
    """range(...) backwards, when it has a simple spelling: unit steps only."""
    if isinstance(step, gast.Constant) and step.value == 1:
        last = nodes.binop(copy.deepcopy(stop), "-", 1)
        before = nodes.const(-1) if _is_zero(start) else nodes.binop(copy.deepcopy(start), "-", 1)
        return [last, before, nodes.const(-1)]
    return None


def has_slice(index):
    return any(isinstance(n, gast.Slice) for n in gast.walk(index))
