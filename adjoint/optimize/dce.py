"""Dead-code elimination by strong liveness: every statement whose result nothing live reads
goes (unused sensitivities, dead stores, replayed statements and checkpoints nothing reads).
Each loop keeps the liveness heads it has solved, and a larger live-out starts from them, so
nested loops cost about linear time, not a power of the depth."""

from __future__ import annotations

import copy

import gast

from ..ir import annotations, nodes
from .summaries import _COMPOUND, _COMPOUND_TYPES, _Summaries


def _reads_before_write(stmt):
    """A simple statement reads all it reads before it writes (`s_x += e(s_2)`); a compound
    one may write first."""
    return isinstance(stmt, (gast.Assign, gast.AugAssign))


# dead code ----------------------------------------------------------------------------------

def eliminate_dead_code(fn, roots, summaries=None) -> bool:
    """Drop every statement whose result nothing live reads (strong liveness)."""
    before = _count(fn)
    args = {a.id for a in fn.args.args}
    fn.body, _ = _Liveness(summaries or _Summaries()).block(fn.body, frozenset(set(roots) | args))
    return _count(fn) != before


def _count(fn):
    return _count_block(fn.body)


def _count_block(stmts):
    """How many statements, nested ones included (statements nest only in blocks)."""
    count = len(stmts)
    if _COMPOUND_TYPES.isdisjoint(map(type, stmts)):        # (straight code: no statement nests)
        return count
    for stmt in stmts:
        if isinstance(stmt, _COMPOUND):
            count += _count_block(stmt.body) + _count_block(stmt.orelse)
    return count


def _real(stmts):
    return any(not (nodes.is_comment(s) or isinstance(s, gast.Pass)) for s in stmts)


class _Liveness:
    """Strong liveness, backwards through a block; returns (the statements kept, live-in).

    A loop's head is the least fixpoint of head = live_out | (live-in of its body at head).
    Solved afresh inside every enclosing loop's fixpoint, nested loops cost a power of the
    depth (depth 8: minutes), so each loop keeps what it has solved: the same live-out is
    answered from memory, and a larger one starts its iteration from the heads of the smaller
    live-outs already solved (liveness is monotone, so those lie below the new least fixpoint
    and the iteration still ends on it: the result is the same, found in a step or two)."""

    def __init__(self, summaries):
        self.reads = summaries.load_counts        # node -> the names it loads (in a dict)
        self.written = summaries.written
        self.loops = {}               # (id(loop), live_out) -> (kept, live_in)
        self.solved = {}              # (id(loop), exits included) -> [(live_out, head)]

    def block(self, stmts, live_out):
        live = set(live_out)                      # updated in place: linear in straight code
        out = []
        for stmt in reversed(stmts):
            out += self.transfer(stmt, live)          # (none or one statement)
        out.reverse()
        return out, live

    def transfer(self, stmt, live):
        """The statements kept for `stmt` (none, itself, or a pruned copy); `live` becomes
        what is live before it."""
        kind = type(stmt)                  # assignments first: nearly every statement is one
        if kind is gast.Assign:
            target = stmt.targets[0]
            if type(target) is gast.Subscript:
                if target.value.id not in live:
                    return []
                live.update(self.reads(stmt))                    # the value, the index and the array
                return [stmt]
            written = self.written(stmt)
            touched = annotations.get(stmt, "also_writes")      # a runtime helper writing into arrays
            if live.isdisjoint(written) and live.isdisjoint(touched) and not annotations.get(stmt, "primal"):
                return []
            live.difference_update(written)
            live.update(self.reads(stmt if type(target) is gast.Name else stmt.value))
            live.update(touched)
            return [stmt]
        if kind is gast.AugAssign:
            target = stmt.target
            base = target.id if type(target) is gast.Name else target.value.id
            if base not in live:
                return []
            live.update(self.reads(stmt))                        # the value (and an element's index)
            live.add(base)
            return [stmt]
        if nodes.is_comment(stmt):
            return [stmt]
        if kind is gast.Pass:
            return []
        if kind is gast.Return:
            live.update(self.reads(stmt.value))
            return [stmt]
        if kind is gast.Break or kind is gast.Continue:
            return [stmt]
        if isinstance(stmt, gast.If):
            body, live_body = self.block(stmt.body, live)
            orelse, live_else = self.block(stmt.orelse, live)
            if not _real(body) and not _real(orelse):
                return []
            new = copy.copy(stmt)
            new.body = body if _real(body) else [nodes.pass_()]
            new.orelse = orelse if _real(orelse) else []
            live.clear()
            live |= live_body
            live |= live_else
            live.update(self.reads(stmt.test))
            return [new]
        if isinstance(stmt, (gast.For, gast.While)):
            key = (id(stmt), frozenset(live))
            if key not in self.loops:
                self.loops[key] = (stmt, self.transfer_loop(stmt, key[1]))
            kept, live_in = self.loops[key][1]
            live.clear()
            live |= live_in
            return kept
        live.update(self.reads(stmt))
        return [stmt]

    def transfer_loop(self, loop, live_out):
        index = {loop.target.id} if isinstance(loop, gast.For) else set()
        head_reads = self.reads(loop.iter) if isinstance(loop, gast.For) else ()
        without_exits = [s for s in loop.body if not annotations.get(s, "loop_exit")]
        head, trial = self.head(loop, False, without_exits, live_out, index)
        if not _real([s for s in trial if not isinstance(s, (gast.Break, gast.Continue))]) \
                and index.isdisjoint(live_out):
            return [], live_out                                   # nothing in it is used
        # (a loop whose index is read after it stays, if only for the index's last value)
        if len(without_exits) == len(loop.body):
            body = trial                 # no exits: the same body at the same (least) head
        else:
            head, body = self.head(loop, True, loop.body, live_out, index)
        new = copy.copy(loop)
        new.body = body if _real(body) else [nodes.pass_()]
        return [new], head.union(head_reads)

    def head(self, loop, with_exits, body, live_out, index):
        """(the loop's head, the body's statements kept at it): the last round, which finds
        the head unchanged, ran the body at it already."""
        solved = self.solved.setdefault((id(loop), with_exits), [])
        head = live_out
        for smaller_out, its_head in solved:
            if smaller_out <= live_out:
                head = head | its_head
        while True:
            kept, body_in = self.block(body, head)
            new_head = head | live_out | (body_in - index)
            if new_head == head:
                break
            head = frozenset(new_head)
        solved.append((live_out, head))
        return head, kept


def drop_orphan_comments(fn):
    def clean(stmts):
        out = list(stmts)
        if not _COMPOUND_TYPES.isdisjoint(map(type, out)):      # (straight code: none)
            for stmt in out:
                if isinstance(stmt, gast.If):
                    stmt.body, stmt.orelse = clean(stmt.body), clean(stmt.orelse)
                elif isinstance(stmt, (gast.For, gast.While)):
                    stmt.body = clean(stmt.body)
        result = []
        for i, stmt in enumerate(out):
            if type(stmt) is gast.Expr and nodes.is_comment(stmt) and not annotations.get(stmt, "keep"):
                following = out[i + 1] if i + 1 < len(out) else None
                if following is None or nodes.is_comment(following) or isinstance(following, gast.Return):
                    continue
            result.append(stmt)
        return result or [nodes.pass_()]
    fn.body = clean(fn.body)
