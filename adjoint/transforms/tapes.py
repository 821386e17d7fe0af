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

A loop under a snapshot budget keeps snapshots instead of a tape: checkpoints.py. Which costly
array intermediates the forward loop stores, and whether a carried array keeps its shape (else
its tape is flat), is decided in stored.py.
"""

from __future__ import annotations

import copy

import gast

from ..errors import AdjointError, locate
from ..ir import annotations, nodes
from ..primitives import runtime
from .stored import _shape_may_change

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
        forward = nodes.clone(stmt)
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

        def serves(node):
            return isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name) \
                and (node.value.id, node.attr) in served

        class Serve(gast.NodeTransformer):
            def visit_Attribute(self, node):
                if serves(node):
                    return nodes.name(served[(node.value.id, node.attr)])
                return self.generic_visit(node)
        # a copy of the code (the lowering for numba rewrites calls in place), visited where a
        # statement reads a served attribute (deepcopy and a visit of every statement took a
        # seventh of the time on array code)
        return [Serve().visit(stmt) if any(map(serves, nodes.every_node(stmt))) else stmt
                for stmt in map(nodes.clone, code)] if served else code

    def record_writes(self):
        """Record tapes for the arrays the forward loop writes; returns the reverse undo."""
        writes = [s for s in statements(self.forward.body) if isinstance(s, gast.Assign)
                  and isinstance(s.targets[0], gast.Subscript) and not annotations.get(s, "checkpoint")]
        # an array each iteration makes anew before writing into it (`Lx = np.zeros(d)`) is made
        # again by the replay: what the previous iteration left in it is never read
        fresh = {s.targets[0].value.id for s in writes} - self.owner.exposed(self.stmt)
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
                bounds = [b for k, i in enumerate(index) for b in _component(i, y, k)]
                record = nodes.assign(records[y], nodes.call(nodes.name(helper), [
                    records[y], copy.deepcopy(self.at_forward), y] + bounds), write)
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

def _component(index, y, axis) -> list:
    """One component of an index as numbers a helper can take: `a:b:c` as a, b, c, with the
    bounds left out as the ones that mean the same (0 and y.shape[axis] for a positive step,
    -1 and -y.shape[axis] - 1 for a negative one); an integer as itself."""
    if not isinstance(index, gast.Slice):
        return [copy.deepcopy(index)]
    step = copy.deepcopy(index.step) if index.step is not None else nodes.const(1)
    size = nodes.subscript(nodes.attribute(f"{y}.shape"), axis)
    known = step.value if isinstance(step, gast.Constant) and type(step.value) is int else None

    def by_sign(positive, negative):
        if known is not None:
            return positive if known > 0 else negative
        return nodes.ifexp(nodes.compare(copy.deepcopy(step), ">", 0), positive, negative)
    lower = copy.deepcopy(index.lower) if index.lower is not None else by_sign(nodes.const(0), nodes.const(-1))
    upper = copy.deepcopy(index.upper) if index.upper is not None else \
        by_sign(size, nodes.binop(nodes.neg(copy.deepcopy(size)), "-", 1))
    return [lower, upper, step]


def _listed(value):
    return value if isinstance(value, list) else [value]

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
