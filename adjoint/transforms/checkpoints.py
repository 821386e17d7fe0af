"""Snapshot budgets: a loop that keeps at most K snapshots of its carried state instead of a
checkpoint tape, and runs the iterations between them again in the reverse loop. Separate from
tapes.py because it replaces the tape rather than filling it; it builds on the loop's LoopFrame.

Under a snapshot budget (`grad(f, checkpoints=K)`, `checkpoints="auto"` with a memory limit, or
a loop's own marker: frontend/markers.py) `checkpointed` replaces the tape by at most K
snapshots: revolve's binomial schedule where the trip count is known before the loop runs,
snapshots thinned by half as they fill where it is not (`while`, `break`), and one reverse loop
for both that runs forward again from the nearest snapshot. Device code (the cuda target, cpu
batches) gets the same schedule: its slots become workspace rows (lower/device.py), and an
array's snapshot is taken and restored element by element, in place, since a device thread
cannot allocate the copy a row assignment makes.
"""

from __future__ import annotations

import copy
import dataclasses

import gast

from ..ir import nodes
from ..primitives import runtime
from .tapes import TAPE_DTYPE, _is_one, _is_zero


@dataclasses.dataclass(frozen=True)
class MemoryBudget:
    """checkpoints="auto": as many snapshots as `limit` bytes hold, the state measured when the
    loop starts (its arrays' bytes, 8 per number, 8 for the iteration each snapshot notes)."""
    limit: int


def budget_of(value, memory_limit=None):
    """The gast expression or MemoryBudget for a budget: a whole number, a parameter's name
    (a str), "auto" (`memory_limit` bytes) or one of those already."""
    if isinstance(value, (MemoryBudget, gast.AST)):
        return value
    if value == "auto":
        return MemoryBudget(memory_limit)
    if isinstance(value, str):
        return nodes.name(value)
    return nodes.const(int(value))


def checkpointed(frame, budget, state, primal, reverse_body, online=False):
    """A loop under a snapshot budget: it keeps at most `budget` snapshots of its carried state
    (a constant, a parameter's name or a MemoryBudget: budget_of), instead of one per
    iteration, and runs the iterations between them again. `state`: the names a snapshot holds
    (what the loop carries, and the arrays it writes element by element). Returns (setup,
    forward loop, reverse loop); `primal` is the loop's body, run again from the nearest
    snapshot up to the iteration being reversed, and `reverse_body` (the replay and the
    reverse blocks) follows as without a budget.

    A `for` over a range (the trip count n known before it runs) places its snapshots on
    revolve's binomial schedule (runtime._revolve), the fewest iterations run again for that
    many snapshots; with a budget >= n every iteration gets its snapshot and nothing is run
    again. A loop with an unknown trip count (`while`, `break`: `online`) keeps, while it runs,
    at most H = ceil(K / 2) snapshots, evenly `t_gap` iterations apart: when all H are taken it
    drops every other one and doubles the gap (so the gap d ends below 2N/H for N trips, or 1).
    Once it has ended, N is known and the reverse loop (the same for both) reverses each of the
    m <= H stretches between snapshots with revolve, the newest first, using the slots the
    stretches after it have freed: stretch j (0-based, <= d iterations) has K - j >= K - H + 1
    snapshots. So the iterations run again are at most the sum over j of revolve's count for
    (d, K - j), at most N * r with r the least such that C(K - H + 1 + r, r) >= d. Measured on
    Lorenz RK4 (benchmarks/RESULTS.md), K = 32, N = 10^5: 3.45 iterations run again per
    iteration (bound 5), where revolve with the trip count known runs 3.34 again after its
    forward sweep.

        for i in range(n):                      for i in range(n):
            if i == t_next:                         if i == t_next:   (a snapshot)
                ...push                                 t_next = i + _revolve(n - i, slots left)
            body                                    body
        for t_iter in range(n - 1, -1, -1):     (reverse)
            if snap_at[t_top] > t_iter: t_top -= 1     (the snapshots past it are done)
            state = snapshot t_top
            for i in range(snap_at[t_top], t_iter): body, snapshots on the way
            i = t_iter; replay; reverse blocks
    """
    owner, stmt, namer = frame.owner, frame.stmt, frame.namer
    helper = owner.helper(runtime.REVOLVE)
    slots, top, at, nxt = (namer.fresh(n) for n in ("t_slots", "t_top", "snap_at", "t_next"))
    snaps = {v: namer.fresh("snap_" + v) for v in state}
    setup = []
    if isinstance(budget, MemoryBudget):
        limit = nodes.name(namer.fresh("t_budget"))
        arrays = [v for v in state if v in frame.a.arrays]
        per_snapshot = nodes.const(8 * (1 + len(state) - len(arrays)))
        for v in arrays:
            per_snapshot = nodes.binop(nodes.attribute(f"{v}.nbytes"), "+", per_snapshot)
        setup += [nodes.comment(f"checkpoints='auto': as many snapshots as {budget.limit} bytes hold, "
                                "the state measured as the loop starts.", stmt),
                  nodes.assign(limit.id, nodes.call("max", [nodes.binop(nodes.const(budget.limit), "//",
                                                                         per_snapshot), nodes.const(1)]), stmt)]
        described = "the memory budget's"
    elif isinstance(budget, gast.Name):
        limit = nodes.call("max", [budget, nodes.const(1)])      # (a call's budget below 1: one)
        described = budget.id
    else:
        limit = budget
        described = str(budget.value)
    device = owner.device             # device threads: the slots are workspace rows (lower/device.py)
    if online:
        count, keep, gap = (namer.fresh(n) for n in ("t_count", "t_keep", "t_gap"))
        trips = nodes.name(count)
        setup += [nodes.assign(slots, nodes.clone(limit), stmt),
                  nodes.assign(keep, nodes.binop(nodes.binop(nodes.name(slots), "+", 1), "//", 2), stmt)]
    elif device:                      # device code spells min and max as comparisons: one a line
        trips = frame.trip_count(stmt.iter.args)
        if not isinstance(trips, (gast.Name, gast.Constant)):
            setup.append(nodes.assign(namer.fresh("t_trips"), trips, stmt))
            trips = nodes.name(setup[-1].targets[0].id)
        setup.append(nodes.assign(slots, nodes.call("min", [nodes.clone(limit), nodes.clone(trips)]), stmt))
    else:
        trips = frame.trip_count(stmt.iter.args)
        setup.append(nodes.assign(slots, nodes.call("min", [nodes.clone(limit), trips]), stmt))
    setup.append(nodes.assign(at, nodes.call("np.empty", [nodes.name(slots), nodes.attribute("np.int64")]), stmt))
    for v in state:
        if v in frame.flat:           # its shape may change: the values flat, a row per snapshot
            rows = nodes.tuple_([nodes.name(slots), 1 + owner.type(nodes.name(v)).ndim])
            setup += [nodes.assign(snaps[v], nodes.call("np.empty", [16, nodes.attribute(f"{v}.dtype")]), stmt),
                      nodes.assign(frame.flat[v], nodes.call("np.empty", [rows, nodes.attribute("np.int64")]),
                                   stmt)]
            continue
        if v in frame.a.arrays:
            dtype = nodes.attribute(TAPE_DTYPE[frame.a.kinds.get(v, "float")] if device else f"{v}.dtype")
            value = nodes.call("np.empty", [frame.rows(nodes.name(slots), v), dtype])
        else:
            value = nodes.call("np.empty", [nodes.name(slots),
                                            nodes.attribute(TAPE_DTYPE[frame.a.kinds.get(v, "float")])])
        setup.append(nodes.assign(snaps[v], value, stmt))
    setup += [nodes.assign(top, -1, stmt), nodes.assign(nxt, 0, stmt)]
    if online:
        setup += [nodes.assign(gap, 1, stmt), nodes.assign(count, 0, stmt)]

    def elementwise(v, into, at, source, source_at):
        """`into[at..., e] = source[source_at..., e]` for each index e of the array v, as loops:
        on device threads a row assignment would copy through a temporary array, which they
        cannot allocate."""
        rank = owner.type(nodes.name(v)).ndim
        axes = [namer.fresh("t_e") for _ in range(rank)]
        target = nodes.subscript(into, _index(at + [nodes.name(a) for a in axes]), store=True)
        value = nodes.subscript(source, _index([nodes.clone(n) for n in source_at] + [nodes.name(a) for a in axes]))
        copied = nodes.assign(target, value, stmt)
        for axis in reversed(range(rank)):
            copied = nodes.for_range(axes[axis], [nodes.subscript(nodes.attribute(f"{v}.shape"), axis)],
                                     [copied], stmt)
        return copied

    def kept(v, into, source):
        """Snapshot slot `into` := `source`, for the state variable v."""
        if v in frame.flat:
            rank = owner.type(nodes.name(v)).ndim
            value = nodes.call(nodes.name(owner.helper(runtime.row(rank))), [snaps[v], frame.flat[v], source])
            return nodes.assign(snaps[v], nodes.call(nodes.name(owner.helper(runtime.record_rows(rank))),
                                                     [snaps[v], frame.flat[v], into, value]), stmt)
        if device and v in frame.a.arrays:
            return elementwise(v, snaps[v], [into], snaps[v], [source])
        return nodes.assign(nodes.subscript(snaps[v], into, store=True), nodes.subscript(snaps[v], source), stmt)

    def pushed(k, schedule, how="revolve's schedule"):
        """Take a snapshot at iteration `k`; `schedule` says where the next one goes."""
        push = [nodes.comment(f"A snapshot of the loop's state ({described} at most, {how}).", stmt),
                nodes.accumulate(top, 1, stmt), nodes.assign(nodes.subscript(at, nodes.name(top), store=True),
                                                             nodes.clone(k), stmt)]
        push += [elementwise(v, snaps[v], [nodes.name(top)], v, [])
                 if device and v in frame.a.arrays and v not in frame.flat
                 else nodes.assign(nodes.subscript(snaps[v], nodes.name(top), store=True), v, stmt)
                 if v not in frame.flat else nodes.assign(snaps[v], nodes.call(nodes.name(
                     owner.helper(runtime.record_rows(owner.type(nodes.name(v)).ndim))),
                     [snaps[v], frame.flat[v], nodes.name(top), v]), stmt) for v in state]
        return push + [nodes.assign(nxt, schedule, stmt)]

    def snapshot(k, steps):
        """revolve's: `steps` iterations from k on are left to reverse."""
        free = nodes.binop(nodes.binop(nodes.name(slots), "-", 1), "-", nodes.name(top))
        return pushed(k, nodes.binop(nodes.clone(k), "+", nodes.call(nodes.name(helper), [steps, free])))

    index = frame.index
    trivial = not online and _is_zero(frame.start) and _is_one(frame.step)

    def index_at(k):
        if trivial:
            return nodes.name(k)
        return nodes.binop(nodes.clone(frame.start), "+", nodes.binop(k, "*", nodes.clone(frame.step)))

    forward = copy.deepcopy(stmt)
    if online:
        j = namer.fresh("t_j")
        half = nodes.binop(nodes.binop(nodes.name(top), "+", 2), "//", 2)
        thin = nodes.if_(nodes.compare(nodes.binop(nodes.name(top), "+", 1), "==", nodes.name(keep)), [
            nodes.comment("All kept: keep every other snapshot, twice as far apart.", stmt),
            nodes.for_range(j, [1, half], [nodes.assign(nodes.subscript(at, nodes.name(j), store=True),
                                                        nodes.subscript(at, nodes.binop(2, "*", nodes.name(j))), stmt)]
                            + [kept(v, nodes.name(j), nodes.binop(2, "*", nodes.name(j))) for v in state], stmt),
            nodes.assign(top, nodes.binop(nodes.clone(half), "-", 1), stmt),
            nodes.assign(gap, nodes.binop(2, "*", nodes.name(gap)), stmt),
            nodes.assign(nxt, nodes.binop(nodes.binop(nodes.name(top), "+", 1), "*", nodes.name(gap)), stmt)],
            origin=stmt)
        taking = nodes.compare(nodes.name(count), "==", nodes.name(nxt))
        forward.body = [nodes.if_(nodes.clone(taking), [thin], origin=stmt),
                        nodes.if_(taking, pushed(nodes.name(count), nodes.binop(nxt, "+", nodes.name(gap)),
                                                          "thinned as it runs"),
                                  origin=stmt),
                        nodes.accumulate(count, 1, stmt)] + forward.body
    else:
        iteration = nodes.name(index) if trivial else nodes.binop(
            nodes.binop(index, "-", nodes.clone(frame.start)), "//", nodes.clone(frame.step))
        left = nodes.binop(copy.deepcopy(trips), "-", nodes.clone(iteration))
        forward.body = [nodes.if_(nodes.compare(iteration, "==", nodes.name(nxt)), snapshot(iteration, left),
                                  origin=stmt)] + forward.body

    k = namer.fresh("t_iter")
    step = index if trivial else namer.fresh("t_step")
    held = nodes.subscript(at, nodes.name(top))
    pop = nodes.if_(nodes.compare(nodes.clone(held), ">", nodes.name(k)),
                    [nodes.comment("Its iterations are reversed: drop the newest snapshot.", stmt),
                     nodes.accumulate(top, 1, stmt, op="-")], origin=stmt)
    restore = [elementwise(v, v, [], snaps[v], [nodes.name(top)])
               if device and v in frame.a.arrays and v not in frame.flat else
               nodes.assign(v, nodes.call(nodes.name(owner.helper(runtime.row(owner.type(nodes.name(v)).ndim))),
                                          [snaps[v], frame.flat[v], nodes.name(top)]) if v in frame.flat
                            else nodes.call(nodes.attribute_of(nodes.subscript(snaps[v], nodes.name(top)), "copy"), [])
                            if v in frame.a.arrays else nodes.subscript(snaps[v], nodes.name(top)), stmt)
               for v in state]
    following = nodes.binop(nodes.name(step), "+", 1)
    rerun = ([] if trivial or index is None else [nodes.assign(index, index_at(step), stmt)]) \
        + copy.deepcopy(primal) + [
        nodes.if_(nodes.compare(following, "==", nodes.name(nxt)),
                  snapshot(nodes.clone(following), nodes.binop(k, "-", nodes.name(step))), origin=stmt)]
    first = nodes.binop(nodes.clone(held), "+", nodes.call(nodes.name(helper), [
        nodes.binop(nodes.binop(k, "+", 1), "-", nodes.clone(held)),
        nodes.binop(nodes.binop(nodes.name(slots), "-", 1), "-", nodes.name(top))]))
    body = [pop] + restore + [
        nodes.assign(nxt, first, stmt),
        nodes.comment("Run forward again from the snapshot to this iteration (revolve's schedule).", stmt),
        nodes.for_range(step, [nodes.clone(held), nodes.name(k)], rerun, stmt)]
    if index is not None:
        # after the replay's heading comment: where nothing is run again (the state needs no
        # restoring), the comment on running forward again then heads nothing and goes
        head = 1 if reverse_body and nodes.is_comment(reverse_body[0]) else 0
        reverse_body = reverse_body[:head] + [nodes.assign(index, index_at(k), stmt)] + reverse_body[head:]
    reverse = nodes.for_range(k, [nodes.binop(copy.deepcopy(trips), "-", 1), -1, -1], body + reverse_body, stmt)
    return setup, forward, reverse


def _index(parts):
    """An index of these parts: the part itself where there is one."""
    return parts[0] if len(parts) == 1 else nodes.tuple_(parts)
