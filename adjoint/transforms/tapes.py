"""The forward loop's checkpoint and record tapes, and the head of
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

from .. import primitives
from ..analysis.activity import exposed_reads
from ..errors import AdjointError, locate
from ..ir import annotations, nodes
from ..primitives import runtime

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
        self.flat = {}                  # carried array -> the rows of its flat tape (its shape changes)
        if isinstance(stmt, gast.For):
            self.start, self.stop, self.step = _range_parts(stmt.iter.args)
            trips = self.trip_count(stmt.iter.args)
        forward = copy.deepcopy(stmt)
        self.flat = {v: self.namer.fresh("rows_" + v) for v in carried
                     if v in self.a.arrays and _shape_may_change(stmt, v, self.a.types)}
        if not counted:
            at = index if _is_zero(self.start) else nodes.binop(index, "-", self.start)
            if not _is_one(self.step):
                at = nodes.binop(at, "//", copy.deepcopy(self.step))
            self.at_forward = self.at_reverse = at
            self.setup = [a for v in carried for a in _listed(self.alloc(v, copy.deepcopy(trips)))]
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
        self.setup = [nodes.assign(count, 0, stmt)] + [a for v in carried
                                                       for a in _listed(self.alloc(v, copy.deepcopy(capacity)))]
        grow = []
        if isinstance(stmt, gast.While) and carried:
            full = self.namer.fresh("t_full")
            rows = self.flat.get(carried[0], self.tapes[carried[0]])       # (a flat tape grows itself)
            capacity_now = nodes.subscript(nodes.attribute(f"{rows}.shape"), 0)
            grow = [nodes.assign(full, nodes.compare(nodes.name(count), "==", capacity_now), stmt),
                    nodes.if_(full, [self.grown(v) for v in carried], origin=stmt)]
        forward.body = grow + self.pushes(count) + [nodes.accumulate(count, 1, stmt)] + forward.body
        head = []
        if index is not None:
            head = [nodes.assign(index, nodes.binop(self.start, "+", nodes.binop(k, "*", self.step)), stmt)]
        reverse_range = [nodes.binop(count, "-", 1), -1, -1]
        self.forward, self.iteration = forward, k
        self.at_forward, self.at_reverse = nodes.name(count), nodes.binop(k, "+", 1)
        self.reverse = lambda body: nodes.for_range(k, reverse_range, head + body, stmt)

    def trip_count(self, args):
        """The number of iterations of range(*args), spelled as a hand-written adjoint would:
        `n` where n is provably not negative (a dimension, len(x), a constant), else
        `max(n, 0)`; `max(b - a, 0)` for range(a, b); len(range(...)) for other steps."""
        start, stop, step = _range_parts(args)
        if not _is_one(step):
            return nodes.call("len", [nodes.call("range", copy.deepcopy(args))])
        span = stop if _is_zero(start) else nodes.binop(stop, "-", start)
        if _is_zero(start) and _not_negative(stop, self.owner.single_definitions()):
            return span
        if isinstance(span, gast.Constant):
            return nodes.const(max(span.value, 0))
        return nodes.call("max", [span, nodes.const(0)])

    def alloc(self, var, size):
        if var in self.flat:          # the values flat, an iteration's offset and shape in its row
            rows = nodes.tuple_([size, 1 + self.owner.type(nodes.name(var)).ndim])
            return [nodes.assign(self.tapes[var], nodes.call("np.empty", [16, nodes.attribute(f"{var}.dtype")]),
                                 self.stmt),
                    nodes.assign(self.flat[var], nodes.call("np.empty", [rows, nodes.attribute("np.int64")]),
                                 self.stmt)]
        if var in self.a.arrays:                          # one row per iteration
            value = nodes.call("np.empty", [self.rows(size, var), nodes.attribute(f"{var}.dtype")])
        else:
            kind = self.a.kinds.get(var, "float")
            value = nodes.call("np.empty", [size, nodes.attribute(TAPE_DTYPE[kind])])
        return nodes.assign(self.tapes[var], value, self.stmt)

    def rows(self, size, var):
        """(size, var.shape[0], ...): a tape of `size` rows shaped like var, spelled without
        tuple arithmetic so that the emitted code can be differentiated again (hvp)."""
        rank = self.owner.type(nodes.name(var)).ndim
        return nodes.tuple_([size] + [nodes.subscript(nodes.attribute(f"{var}.shape"), k) for k in range(rank)])

    def grown(self, var):
        """Double a tape's capacity (amortized growth for while loops)."""
        tape = self.flat.get(var, self.tapes[var])       # a flat tape's rows (its values grow themselves)
        doubled = nodes.call("np.concatenate", [nodes.tuple_([tape, nodes.call("np.empty_like", [tape])])])
        return nodes.assign(tape, doubled, self.stmt)

    def pushes(self, at):
        pushes = [nodes.assign(nodes.subscript(self.tapes[v], copy.deepcopy(at), store=True), v, self.stmt)
                  if v not in self.flat else self.pushed_flat(v, at) for v in self.carried]
        for push in pushes:
            annotations.set(push, "checkpoint", True)
        return pushes

    def pushed_flat(self, var, at):
        rank = self.owner.type(nodes.name(var)).ndim
        helper = self.owner.helper(runtime.record_rows(rank))
        return nodes.assign(self.tapes[var], nodes.call(nodes.name(helper), [
            self.tapes[var], self.flat[var], copy.deepcopy(at), var]), self.stmt)

    def popped(self, var):
        if var in self.flat:
            helper = self.owner.helper(runtime.row(self.owner.type(nodes.name(var)).ndim))
            return nodes.call(nodes.name(helper), [self.tapes[var], self.flat[var], copy.deepcopy(self.iteration)])
        row = nodes.subscript(self.tapes[var], copy.deepcopy(self.iteration))
        return nodes.call(nodes.attribute_of(row, "copy"), []) if var in self.a.arrays else row

    def store(self, names, replay):
        """Keep each array of `names` on a tape, a row per iteration, allocated in the first
        iteration (when the row's shape is known); returns the replay, which reads the row
        back where it computed the array."""
        for v in names:
            tape = self.namer.fresh("tape_" + v)
            trips = self.trip_count(self.stmt.iter.args)
            rows = self.rows(trips, v)
            first = nodes.compare(copy.deepcopy(self.at_forward), "==", nodes.const(0))
            alloc = nodes.if_(first, [nodes.assign(tape, nodes.call("np.empty", [rows, nodes.attribute(f"{v}.dtype")]),
                                                   self.stmt)], origin=self.stmt)
            annotations.set(alloc, "first_iteration", True)      # optimize/tidy merges these blocks
            push = nodes.assign(nodes.subscript(tape, copy.deepcopy(self.at_forward), store=True), v, self.stmt)
            body = self.forward.body
            k = next(i for i, s in enumerate(body) if _defines(s, v))
            body[k + 1:k + 1] = [alloc, push]
            row = nodes.assign(v, nodes.subscript(tape, copy.deepcopy(self.iteration)), self.stmt)
            replay = [row if _defines(s, v) else s for s in replay]
        return replay

    def describe(self, names, code):
        """Serve `v.shape` and `v.dtype` in `code` from variables the forward loop sets in
        its first iteration (v has one shape in every iteration); returns the new code."""
        served = {}
        for v in names:
            first = nodes.compare(copy.deepcopy(self.at_forward), "==", nodes.const(0))
            keep = []
            for attr in ("shape", "dtype"):
                served[(v, attr)] = self.namer.fresh(f"{v}_{attr}")
                keep.append(nodes.assign(served[(v, attr)], nodes.attribute(f"{v}.{attr}"), self.stmt))
            body = self.forward.body
            k = next(i for i, s in enumerate(body) if _defines(s, v))
            capture = nodes.if_(first, keep, origin=self.stmt)
            annotations.set(capture, "first_iteration", True)          # optimize.allocate_once may add to it
            body[k + 1:k + 1] = [capture]

        class Serve(gast.NodeTransformer):
            def visit_Attribute(self, node):
                if isinstance(node.value, gast.Name) and (node.value.id, node.attr) in served:
                    return nodes.name(served[(node.value.id, node.attr)])
                return self.generic_visit(node)
        return [Serve().visit(copy.deepcopy(stmt)) for stmt in code] if served else code

    def record_writes(self):
        """Record tapes for the arrays the forward loop writes; returns the reverse undo."""
        writes = [s for s in statements(self.forward.body) if isinstance(s, gast.Assign)
                  and isinstance(s.targets[0], gast.Subscript) and not annotations.get(s, "checkpoint")]
        # an array each iteration makes anew before writing into it (`Lx = np.zeros(d)`) is made
        # again by the replay: what the previous iteration left in it is never read
        fresh = {s.targets[0].value.id for s in writes} - exposed_reads(self.stmt.body)
        writes = [s for s in writes if s.targets[0].value.id not in fresh]
        arrays = sorted({s.targets[0].value.id for s in writes})
        if not arrays:
            return []
        records = {y: self.namer.fresh("records_" + y) for y in arrays}
        ranks = {y: self.owner.type(nodes.name(y)).ndim for y in arrays}
        patterns = {id(s): self.index_pattern(s.targets[0], ranks[s.targets[0].value.id]) for s in writes}
        # an array with a write of more than one element (a row, a slice, a mask) records
        # regions, every write of it; the others one element per write
        regions = {s.targets[0].value.id for s in writes if patterns[id(s)] is not None}
        tops = {y: self.namer.fresh("top_" + y) for y in arrays if y not in regions}
        for y in arrays:
            if y in regions:            # flat: records[0] holds the first free slot
                self.setup.append(nodes.assign(records[y], nodes.call("np.ones", [64]), self.stmt))
                continue
            self.setup += [nodes.assign(records[y], nodes.call("np.empty", [nodes.tuple_([16, 2 + ranks[y]])]),
                                        self.stmt),
                           nodes.assign(tops[y], 0, self.stmt)]
        for write in writes:
            target = write.targets[0]
            y = target.value.id
            index = target.slice.elts if isinstance(target.slice, gast.Tuple) else [target.slice]
            if y in regions:
                pattern = patterns[id(write)] or "n" * len(index)
                helper = self.owner.helper(runtime.record_region(pattern, ranks[y]))
                record = nodes.assign(records[y], nodes.call(nodes.name(helper), [
                    records[y], copy.deepcopy(self.at_forward), y] + [_component(i) for i in index]), write)
                _insert_before(self.forward, write, [record])
                continue
            helper = self.owner.helper(runtime.record(ranks[y]))
            record = nodes.assign(records[y], nodes.call(nodes.name(helper), [
                records[y], tops[y], copy.deepcopy(self.at_forward), y] + [copy.deepcopy(i) for i in index]),
                write)
            _insert_before(self.forward, write, [record, nodes.accumulate(tops[y], 1, write)])
        undo = []
        for y in arrays:
            if y in regions:
                helper = self.owner.helper(runtime.undo_region(ranks[y]))
                restore = nodes.assign(records[y], nodes.call(nodes.name(helper), [
                    records[y], copy.deepcopy(self.at_reverse), y]), self.stmt)
            else:
                helper = self.owner.helper(runtime.undo(ranks[y]))
                restore = nodes.assign(tops[y], nodes.call(nodes.name(helper), [
                    records[y], tops[y], copy.deepcopy(self.at_reverse), y]), self.stmt)
            annotations.set(restore, "also_writes", {y})                  # it puts elements of y back
            undo.append(restore)
        return undo

    def index_pattern(self, target, rank):
        """runtime.record_region's spelling of a write's index (`s` a slice, `n` an integer, `m` a
        mask or an integer array), or None for a single element (an integer per axis)."""
        index = target.slice.elts if isinstance(target.slice, gast.Tuple) else [target.slice]
        letters = ""
        for component in index:
            if isinstance(component, gast.Slice):
                letters += "s"
            elif isinstance(component, gast.Constant) and (component.value is None or component.value is Ellipsis):
                raise AdjointError("a write into an array through `None` or `...` inside a loop is not supported",
                                   location=locate(target, self.owner.filename),
                                   hint="index the axes themselves: y[i, :] = ... instead of y[i, ...] = ...")
            else:
                letters += "m" if self.owner.type(component).is_array else "n"
        return None if letters == "n" * rank else letters


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


# intermediates the reverse loop reads back instead of replaying ---------------------------------

COSTLY_CALLS = primitives.spelled("costly")      # np.dot, np.tanh, ...: the records flagged costly or numpy_loop
SHAPE_CHANGING = {"np.nonzero", "np.flatnonzero", "np.argwhere", "np.unique", "np.extract",
                  "np.compress", "np.trim_zeros"}
# calls whose result may have another shape than their first argument's (a carried array
# made by one keeps a flat checkpoint tape: _shape_may_change)
RESHAPING = SHAPE_CHANGING | {"np.concatenate", "np.append", "np.hstack", "np.vstack", "np.stack",
                              "np.delete", "np.insert", "np.resize", "np.reshape", "np.pad", "np.diff",
                              "np.outer", "np.kron", "np.convolve", "np.repeat", "np.tile"}


def stored_intermediates(loop, replay, backward, types):
    """The arrays a reverse loop reads that are costly to replay (a matrix product or a
    transcendental function of an array lies on the way to them) and that keep one shape
    in every iteration: the forward loop stores them, a row per iteration, and the replay
    reads the row instead (then drops what only led to them). Scalars are always replayed:
    recomputing one costs about what storing it would.

    Returns (stored, shaped): `shaped` are the loop's fixed-shape arrays whose shape or
    dtype the reverse reads; those reads are served from the first iteration's, so that
    the replay need not recompute an array to learn its shape."""
    own = nodes.written_by(loop) - {loop.target.id}
    if nodes.loads_in(loop.iter) & own:
        return [], []
    definitions = {}
    for stmt in replay:
        if isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name):
            definitions.setdefault(stmt.targets[0].id, []).append(stmt)
    bindings = {}
    for node in nodes.statements([loop]):            # (only statements bind names)
        for name in nodes.written_names(node):
            bindings[name] = bindings.get(name, 0) + 1
    element_written = {n.targets[0].value.id for n in nodes.statements([loop]) if isinstance(n, gast.Assign)
                       and isinstance(n.targets[0], gast.Subscript)}
    single = {v for v, ds in definitions.items() if len(ds) == 1 and bindings.get(v) == 1}
    read_back = set().union(*map(nodes.loads_in, backward)) if backward else set()

    def costly(v, seen):
        if v in seen or v not in single:
            return False
        seen.add(v)
        value = definitions[v][0].value
        if any(isinstance(n, gast.BinOp) and isinstance(n.op, gast.MatMult)
               or isinstance(n, gast.Call) and nodes.dotted(n.func) in COSTLY_CALLS
               for n in nodes.walk(value)):
            return True
        return any(costly(u, seen) for u in nodes.loads_in(value) & own)

    # k varies; a name the loop carries holds at the first iteration what it had before it
    carried = exposed_reads(loop.body) & own
    invariant = _Invariance(definitions, single, own | {loop.target.id}, types, carried=carried)
    stored = sorted(v for v in (read_back & single) - element_written
                    if types.get(v) is not None and types[v].is_array and types[v].kind == "float"
                    and costly(v, set()) and invariant.shape_of_name(v))
    if not stored:
        return [], []
    described = {n.value.id for n in nodes.walk(nodes.module(replay + backward))
                 if isinstance(n, gast.Attribute) and n.attr in ("shape", "dtype")
                 and isinstance(n.value, gast.Name)}
    shaped = sorted(v for v in (described & single) - carried if invariant.shape_of_name(v)
                    and types.get(v) is not None and types[v].is_array)
    return stored, shaped


class _Invariance:
    """Which names a loop iteration computes with the same shape (arrays) or the same value
    (the integers that size, slice or reshape them) in every iteration."""

    def __init__(self, definitions, single, own, types, assumed=frozenset(), carried=frozenset()):
        self.definitions, self.single, self.own, self.types = definitions, single, own, types
        self.visiting = set()
        self.assumed = assumed                           # names taken to keep their shape
        self.carried = carried                           # names read before the iteration binds them

    def _defined(self, name, check):
        if name not in self.own or name in self.assumed:
            return True                                  # the loop does not change it
        if name in self.carried:
            # the first iteration reads the value from before the loop: one shape throughout
            # only where every binding keeps the shape it found; a value may change
            if check != self.shape:
                return False
            keeps = _KeepsShape(name, self.definitions, self.single, self.types)
            return name in self.definitions and all(keeps(d.value) for d in self.definitions[name])
        if name not in self.single or name in self.visiting:
            return False
        self.visiting.add(name)
        try:
            return check(self.definitions[name][0].value)
        finally:
            self.visiting.discard(name)

    def shape_of_name(self, name):
        return self._defined(name, self.shape)

    def value_of_name(self, name):
        return self._defined(name, self.value)

    def _is_array(self, name):
        kind = self.types.get(name)
        return kind is not None and kind.is_array

    def shape(self, expr) -> bool:
        """expr's shape is the same in every iteration."""
        if expr is None or isinstance(expr, gast.Constant):
            return True
        if isinstance(expr, gast.Name):
            if self._is_array(expr.id):
                return self.shape_of_name(expr.id)
            kind = self.types.get(expr.id)
            sized = kind is None or kind.kind != "float"   # an int may size the result
            return self.value_of_name(expr.id) if sized else True
        if isinstance(expr, gast.Subscript):
            index = expr.slice.elts if isinstance(expr.slice, gast.Tuple) else [expr.slice]
            for part in index:
                if isinstance(part, gast.Slice):
                    if not all(self.value(b) for b in (part.lower, part.upper, part.step)):
                        return False
                elif any(isinstance(n, gast.Name) and self._is_array(n.id) for n in nodes.walk(part)):
                    return False                         # a mask or an index array
            return self.shape(expr.value)
        if isinstance(expr, gast.Call):
            callee = nodes.dotted(expr.func)
            if callee in SHAPE_CHANGING or not callee.startswith(("np.", "math.")):
                return False
            return all(self.shape(a) for a in expr.args + [k.value for k in expr.keywords])
        if isinstance(expr, gast.BinOp):
            return self.shape(expr.left) and self.shape(expr.right)
        if isinstance(expr, gast.UnaryOp):
            return self.shape(expr.operand)
        if isinstance(expr, gast.Attribute):
            return self.shape(expr.value)
        if isinstance(expr, (gast.Tuple, gast.List)):
            return all(self.shape(e) for e in expr.elts)
        return False

    def value(self, expr) -> bool:
        """expr (an integer, a shape) has the same value in every iteration."""
        if expr is None or isinstance(expr, gast.Constant):
            return True
        if isinstance(expr, gast.Name):
            return not self._is_array(expr.id) and self.value_of_name(expr.id)
        if isinstance(expr, gast.Attribute) and expr.attr in ("shape", "ndim", "size"):
            return self.shape(expr.value)
        if isinstance(expr, gast.Subscript) and isinstance(expr.value, gast.Name) \
                and not self._is_array(expr.value.id):          # an entry of a shape tuple
            return self.value(expr.value) and self.value(expr.slice)
        if isinstance(expr, gast.BinOp):
            return self.value(expr.left) and self.value(expr.right)
        if isinstance(expr, gast.UnaryOp):
            return self.value(expr.operand)
        if isinstance(expr, gast.Tuple):
            return all(self.value(e) for e in expr.elts)
        return False


def _index(parts):
    """An index of these parts: the part itself where there is one."""
    return parts[0] if len(parts) == 1 else nodes.tuple_(parts)


def _component(index):
    """One component of an index as a value a helper can take: `slice(a, b, c)` for `a:b:c`."""
    if isinstance(index, gast.Slice):
        return nodes.call(nodes.name("slice"), [copy.deepcopy(b) if b is not None else nodes.const(None)
                                                for b in (index.lower, index.upper, index.step)])
    return copy.deepcopy(index)


def _listed(value):
    return value if isinstance(value, list) else [value]


def _shape_may_change(loop, name, types) -> bool:
    """Whether an iteration may leave the array `name` with another shape than it found
    (crr's `values = disc * (p * values[1:i + 1] + ...)`): what a binding of it in the loop is
    made from is not of one shape in every iteration, or the loop takes part (a slice other
    than `:`) of it or of an array computed from it, or passes one to a function that changes
    shapes (np.concatenate, ...)."""
    definitions, bindings = {}, {}
    for node in nodes.statements([loop]):            # (walk's order of the statements)
        for written in nodes.written_names(node):
            bindings[written] = bindings.get(written, 0) + 1
        if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
            definitions.setdefault(node.targets[0].id, []).append(node)
    single = {v for v, ds in definitions.items() if len(ds) == 1 and bindings.get(v) == 1}
    own = nodes.written_by(loop)
    invariance = _Invariance(definitions, single, own, types, assumed={name})
    values = [d.value for d in definitions.get(name, [])]
    if not values:
        return False                    # written in place only: its shape stays
    if not all(invariance.shape(v) for v in values):
        return True
    # one shape in every iteration is not yet the shape it found: `b = b2` in the loop after
    # `b = b1` before it. A row of the first iteration's shape would take a (1,)-shaped b by
    # broadcasting, silently; one that only grows it (`y = y * 0.5 + x`) fails loudly there
    keeps = _KeepsShape(name, definitions, single, types)
    if not all(keeps(v, grows=True) for v in values):
        return True
    derived, grew = {name}, True        # the loop's names computed from `name`
    while grew:
        grew = False
        for v, ds in definitions.items():
            if v not in derived and any(nodes.loads_in(d.value) & derived for d in ds):
                derived.add(v)
                grew = True
    for value in (d.value for v in derived for d in definitions.get(v, [])):
        for node in nodes.walk(value):
            if isinstance(node, gast.Subscript) and isinstance(node.value, gast.Name) \
                    and node.value.id in derived and any(
                        isinstance(part, gast.Slice) and (part.lower, part.upper, part.step) != (None, None, None)
                        for part in (node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice])):
                return True
            if isinstance(node, gast.Call) and nodes.dotted(node.func) in RESHAPING \
                    and any(nodes.loads_in(a) & derived for a in node.args):
                return True
    return False


class _KeepsShape:
    """Whether an expression in a loop body provably has the shape the carried array `name`
    had when the iteration began (each of its bindings in the loop keeping it, inductively):
    `name` itself, a whole-array view of it, elementwise functions of such arrays and
    numbers. With `grows`, also a broadcast of such an array with any other, whose shape
    can only be larger (never one a row of the found shape would silently take)."""

    ELEMENTWISE_RESULTS = ("elementwise", "broadcast")

    def __init__(self, name, definitions, single, types):
        self.name, self.definitions, self.single, self.types = name, definitions, single, types
        self.visiting = set()

    def is_array(self, atom):
        if isinstance(atom, gast.Attribute) and nodes.dotted(atom).startswith(("math.", "np.")):
            return False                                  # math.pi, np.e
        if not isinstance(atom, gast.Name):
            return not isinstance(atom, gast.Constant)
        kind = self.types.get(atom.id)
        return kind is None or kind.is_array

    def __call__(self, expr, grows=False) -> bool:
        if isinstance(expr, gast.Name):
            if expr.id == self.name:
                return True
            if expr.id not in self.single or expr.id in self.visiting:
                return False
            self.visiting.add(expr.id)
            try:
                return self(self.definitions[expr.id][0].value, grows)
            finally:
                self.visiting.discard(expr.id)
        if isinstance(expr, gast.Subscript):
            parts = expr.slice.elts if isinstance(expr.slice, gast.Tuple) else [expr.slice]
            whole = all(isinstance(p, gast.Slice) and (p.lower, p.upper, p.step) == (None, None, None)
                        for p in parts)
            return whole and self(expr.value, grows)
        if isinstance(expr, gast.UnaryOp):
            return self(expr.operand, grows)
        if isinstance(expr, gast.BinOp) and not isinstance(expr.op, gast.MatMult):
            return self.elementwise([expr.left, expr.right], grows)
        if isinstance(expr, gast.Call):
            callee = annotations.get(expr, "callee")
            if callee is None or primitives.result_of(callee) not in self.ELEMENTWISE_RESULTS:
                return False
            return self.elementwise(list(expr.args) + [k.value for k in expr.keywords if k.arg != "dtype"],
                                    grows)
        return False

    def elementwise(self, operands, grows):
        arrays = [o for o in operands if self.is_array(o)]
        kept = [self(o, grows) for o in arrays]
        return any(kept) if grows else bool(kept) and all(kept)


def _defines(stmt, name):
    return isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name) \
        and stmt.targets[0].id == name


def _insert_before(tree, target, new):
    for node in nodes.walk(tree):
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
            block = getattr(stmt, field, None)
            if block:                               # (no generator for an empty block)
                yield from statements(block)


def _range_parts(args):
    args = [copy.deepcopy(a) for a in args]
    if len(args) == 1:
        return nodes.const(0), args[0], nodes.const(1)
    if len(args) == 2:
        return args[0], args[1], nodes.const(1)
    return args[0], args[1], args[2]


def single_definitions(tree) -> dict:
    """name -> its value, for the names the function assigns once, by a plain `name = value`
    (not a loop's index, not an augmented assignment)."""
    counts, values = {}, {}
    for node in nodes.statements([tree]):            # (only statements bind names)
        if isinstance(node, (gast.Assign, gast.AugAssign, gast.For)):
            for name in nodes.written_names(node):
                counts[name] = counts.get(name, 0) + 1
            if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                values[node.targets[0].id] = node.value
    return {name: value for name, value in values.items() if counts.get(name) == 1}


def _not_negative(expr, definitions) -> bool:
    """Whether `expr` is provably an int >= 0: a constant, len(x), a dimension x.shape[k]
    (directly or through names assigned once)."""
    if isinstance(expr, gast.Constant):
        return type(expr.value) is int and expr.value >= 0
    if isinstance(expr, gast.Name):
        value = definitions.get(expr.id)
        return value is not None and _not_negative(value, definitions)
    if isinstance(expr, gast.Call):
        return nodes.dotted(expr.func) == "len" and len(expr.args) == 1 and not expr.keywords
    if isinstance(expr, gast.Subscript) and isinstance(expr.slice, gast.Constant):
        shape = expr.value
        if isinstance(shape, gast.Name):
            shape = definitions.get(shape.id)
        return isinstance(shape, gast.Attribute) and shape.attr == "shape"
    return False


def _is_zero(node):
    return isinstance(node, gast.Constant) and node.value == 0


def _reversed_range(start, stop, step):
    """range(...) backwards, when it has a simple spelling: unit steps only."""
    if isinstance(step, gast.Constant) and step.value == 1:
        last = nodes.binop(copy.deepcopy(stop), "-", 1)
        before = nodes.const(-1) if _is_zero(start) else nodes.binop(copy.deepcopy(start), "-", 1)
        return [last, before, nodes.const(-1)]
    return None
