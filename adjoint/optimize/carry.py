"""Carry a reverse loop's neighbouring scatter-adds in registers.

The reverse of `s = s + f(x[i], x[i + 1])` adds into two neighbouring elements per iteration:

    for i in range(n - 2, -1, -1):              for i in range(n - 2, -1, -1):
        ...                                         ...
        s_x[i] += s_5                    ->         s_x[t_3] += s_x_carry + s_7
        s_x[t_3] += s_7        # t_3 = i + 1        s_x_carry = s_5
                                                if n - 2 > -1:
                                                    s_x[0] += s_x_carry

Iteration i reads back the element iteration i + 1 has just stored, a store-to-load chain
through memory that serializes the loop (and keeps LLVM from vectorizing it). Element k gets
its contributions from consecutive iterations, so the ones from all but its last iteration can
wait in scalars (`s_x_carry`) and the element is written once. Every write stays a `+=`, so the
rewrite is exact whatever the array held before, and negative (wrapping) indices stay right;
except where the loop provably writes the whole freshly zeroed array (_store_once): there the
zero fill goes and the writes become stores.

Applies to a descending `range(a, b, -1)` loop and a rank-1 sensitivity array that the loop
body touches only through top-level `s_x[i + c] += e` statements with constant offsets c.
"""

from __future__ import annotations

import copy
import dataclasses

import gast

from ..ir import annotations, nodes

MAX_SPAN = 4                # offsets further apart than this keep their memory round trips


@dataclasses.dataclass
class Carried:
    """What the rewrite made of one array's scatter-adds in a loop (`loop.carried[array]`),
    for chunks.py: offsets low..high, the carry scalars, the statements before the loop that
    start them at zero, and the `if` after it that flushes what they still owe."""
    low: int
    high: int
    carries: list
    start: list
    flush: gast.If


def carry_scatter_adds(fn: gast.FunctionDef, namer, vectors, store_once=True) -> bool:
    """Rewrite every eligible reverse loop in `fn` for the rank-1 sensitivity arrays `vectors`
    (an element of a matrix is a row: no scalar can carry it); True when one changed.
    `store_once`: a carried array the loop covers whole is stored, not zero-filled and added
    into (_store_once)."""
    arrays = None                    # found at the first loop that may carry (most have none)
    changed = False
    for block in nodes.blocks(fn):
        if gast.For not in map(type, block):
            continue                     # (straight code: looked at once, not statement by statement)
        i = 0
        while i < len(block):
            stmt = block[i]
            before, after, carried = [], [], []
            if isinstance(stmt, gast.For) and _descending_unit_range(stmt):
                if arrays is None:       # (no loop before this one changed: fn is as given)
                    candidates = vectors & namer.sensitivities
                    arrays = candidates - _aliased(fn, candidates)
                names = [nodes.names_in(s) for s in stmt.body]        # each statement's
                mentioned = set().union(*names)
                for array in sorted(arrays):
                    if array not in mentioned:
                        continue                 # (_carry finds nothing to carry)
                    starts, flush = _carry(stmt, array, namer, names)
                    before, after = before + starts, after + flush
                    if flush:
                        carried.append((array, flush[0]))
                        names = [nodes.names_in(s) for s in stmt.body]    # the body changed
                        mentioned = set().union(*names)
            if before:
                head = i
                while head > 0 and nodes.is_comment(block[head - 1]):    # the loop's own comment
                    head -= 1
                block[head:i + 1] = before + block[head:i] + [stmt] + after
                changed = True
                for array, flush in carried if store_once else []:
                    _store_once(fn, block, stmt, array, flush)
            i += 1 + len(before) + len(after)
    return changed


def _carry(loop, array, namer, names):
    """Rewrite `loop` for one array; return the statements to put before it (the carries
    start at zero) and after it (what they still owe), or two empty lists. `names`: the
    names each statement of the loop's body mentions (nodes.names_in)."""
    index = loop.target.id
    body = loop.body
    offsets = _index_offsets(body, index)
    scatters = []                                    # (position, offset, added value)
    for position, stmt in enumerate(body):
        if array not in names[position]:
            continue
        offset, defined_at = _scatter_offset(stmt, array, offsets)
        if offset is None or defined_at >= position or array in nodes.names_in(stmt.value):
            return [], []
        if any(isinstance(n, (gast.Break, gast.Continue, gast.Return)) for n in nodes.walk(loop)):
            return [], []
        scatters.append((position, offset, stmt.value))
    by_offset = {}
    for _, offset, value in scatters:
        by_offset.setdefault(offset, []).append(value)
    if not 2 <= len(by_offset) <= max(by_offset) - min(by_offset) + 1 <= MAX_SPAN + 1:
        return [], []
    # The added values move to the end of the body: nothing after them may change what they read.
    for position, _, value in scatters:
        if nodes.loads_in(value) & set().union(*map(nodes.written_by, body[position + 1:])):
            return [], []
    # the bounds are read again after the loop, and i + c must mean one element per iteration
    written = set().union(*map(nodes.written_by, body))
    if any(nodes.loads_in(b) & written for b in loop.iter.args[:2]) or index in written:
        return [], []

    low, high = min(by_offset), max(by_offset)
    span = high - low
    base = f"{array}_carry"
    carries = [namer.fresh(base)] if span == 1 else [namer.fresh(f"{base}_{j}") for j in range(1, span + 1)]
    # carries[j - 1] holds what the elements i + low + j (j = 1..span) are still owed at the
    # start of iteration i; the element i + high is owed nothing more after this iteration.
    kept = [s for position, s in enumerate(body) if position not in {p for p, _, _ in scatters}]
    final_index = next(s.target.slice for s in body if _scatter_offset(s, array, offsets)[0] == high)
    tail = [nodes.located(nodes.accumulate(nodes.subscript(nodes.name(array), final_index, store=True),
                                           nodes.summed([nodes.name(carries[-1])] + by_offset[high])),
                          loop)]
    for j in range(span, 0, -1):                     # the highest first: each reads the one below
        owed = by_offset.get(low + j - 1, [])
        before = [nodes.name(carries[j - 2])] if j > 1 else []
        tail.append(nodes.assign(nodes.name(carries[j - 1], store=True), nodes.summed(before + owed) if before + owed
                                 else nodes.const(0.0)))
    loop.body = kept + tail

    stop = loop.iter.args[1]
    flush = [nodes.accumulate(nodes.subscript(nodes.name(array), _plus(stop, low + j), store=True),
                              nodes.name(carries[j - 1])) for j in range(1, span + 1)]
    start = [nodes.comment(f"{', '.join(carries)}: sensitivities owed to {array}[...], stored at their last iteration"),
             *(nodes.assign(nodes.name(c, store=True), nodes.const(0.0)) for c in carries)]
    ran = nodes.compare(_copy(loop.iter.args[0]), ">", _copy(stop))
    after = nodes.if_(ran, flush)
    carried = annotations.get(loop, "carried") or {}
    carried[array] = Carried(low, high, carries, start, after)
    annotations.set(loop, "carried", carried)
    return start, [after]


# stored once -------------------------------------------------------------------------------

def _store_once(fn, block, loop, array, flush):
    """The carried loop writes each element of [b + 1 + low, a + high] exactly once (the loop
    the top one of each iteration, the flush the rest). When that range is the whole array,
    provably from the source (`s_x = np.zeros(x.shape, ...)`, `range(len(x) - 2, -1, -1)`), the
    zero fill is not needed and every `+=` can be a store:

        s_x = np.empty(x.shape, x.dtype)    (was np.zeros)
        for i in range(n - 2, -1, -1):
            ...
            s_x[t_3] = s_x_carry + s_7      (was +=)
        if n - 2 > -1:
            s_x[0] = s_x_carry              (was +=)
        else:
            s_x[:] = 0.0                    (no iteration: nothing was written)

    That halves the loop's memory traffic on a large array (no fill pass, no read back)."""
    position = next(k for k, s in enumerate(block) if s is loop)
    allocation = next((k for k in range(position - 1, -1, -1) if array in nodes.names_in(block[k])), None)
    if allocation is None:
        return
    alloc = block[allocation]
    if not (isinstance(alloc, gast.Assign) and isinstance(alloc.targets[0], gast.Name)
            and isinstance(alloc.value, gast.Call) and nodes.dotted(alloc.value.func) == "np.zeros"
            and alloc.value.args and isinstance(alloc.value.args[0], gast.Attribute)
            and alloc.value.args[0].attr == "shape" and isinstance(alloc.value.args[0].value, gast.Name)):
        return
    length = ("dim", alloc.value.args[0].value.id, 0)
    carried = annotations.get(loop, "carried")[array]
    low, high = carried.low, carried.high
    start, stop = loop.iter.args[0], loop.iter.args[1]
    definitions = _single_definitions(fn)
    first = _affine(stop, definitions)
    last = _affine(start, definitions)
    if first is None or last is None or length[1] not in definitions.get("", set()):
        return
    if _shifted(first, 1 + low) != ({}, 0) or _shifted(last, high) != ({length: 1}, -1):
        return
    empty = copy.copy(alloc)                # the allocation may be the input's (optimize/passes.py)
    empty.value = copy.copy(alloc.value)
    empty.value.func = nodes.attribute("np.empty")
    block[allocation] = empty
    adds = [s for s in loop.body if isinstance(s, gast.AugAssign) and isinstance(s.target, gast.Subscript)
            and _is_name(s.target.value, array)] + [s for s in flush.body if isinstance(s, gast.AugAssign)]
    for add in adds:
        store = annotations.copy_to(nodes.located(nodes.assign(add.target, add.value), add), add)
        for holder in (loop.body, flush.body):
            holder[:] = [store if s is add else s for s in holder]
    everything = nodes.slice_()
    flush.orelse = [nodes.assign(nodes.subscript(nodes.name(array), everything, store=True), 0.0)]


def _single_definitions(fn) -> dict:
    """name -> value for the names bound once, by a plain assignment; under "" the arguments
    and single-bound names (whose shapes do not change)."""
    counts, values = {}, {}
    for node in nodes.statements(fn.body):           # (only statements bind names)
        if isinstance(node, (gast.Assign, gast.AugAssign, gast.For)):
            for name in nodes.written_names(node):
                counts[name] = counts.get(name, 0) + 1
                if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Name):
                    values[name] = node.value
    single = {n: v for n, v in values.items() if counts[n] == 1}
    single[""] = {a.id for a in fn.args.args if counts.get(a.id, 0) == 0} | set(single)
    return single


def _affine(expr, definitions, depth=0):
    """expr as ({("dim", array, axis): coefficient}, constant), from integer constants, + and -,
    `x.shape[k]`, `len(x)` and names bound once to such expressions; None otherwise."""
    if depth > 20:
        return None
    if _integer(expr):
        return {}, expr.value
    if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub):
        inner = _affine(expr.operand, definitions, depth + 1)
        return None if inner is None else ({k: -v for k, v in inner[0].items()}, -inner[1])
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, (gast.Add, gast.Sub)):
        left = _affine(expr.left, definitions, depth + 1)
        right = _affine(expr.right, definitions, depth + 1)
        if left is None or right is None:
            return None
        sign = 1 if isinstance(expr.op, gast.Add) else -1
        terms = dict(left[0])
        for k, v in right[0].items():
            terms[k] = terms.get(k, 0) + sign * v
        return {k: v for k, v in terms.items() if v}, left[1] + sign * right[1]
    if isinstance(expr, gast.Subscript) and _integer(expr.slice):
        shape = expr.value
        if isinstance(shape, gast.Name) and shape.id in definitions:
            shape = definitions[shape.id]
        if isinstance(shape, gast.Attribute) and shape.attr == "shape" and isinstance(shape.value, gast.Name):
            return {("dim", shape.value.id, expr.slice.value): 1}, 0
        return None
    if isinstance(expr, gast.Call) and nodes.dotted(expr.func) == "len" and len(expr.args) == 1 \
            and isinstance(expr.args[0], gast.Name):
        return {("dim", expr.args[0].id, 0): 1}, 0
    if isinstance(expr, gast.Name) and expr.id in definitions and expr.id != "":
        return _affine(definitions[expr.id], definitions, depth + 1)
    return None


def _shifted(affine, k):
    return affine[0], affine[1] + k


def _index_offsets(body, index) -> dict:
    """Temporaries the body sets once to `index + c` (or c + index, index - c):
    name -> (c, position of that assignment)."""
    offsets = {index: (0, -1)}
    counts = {}
    for stmt in body:
        for name in nodes.written_by(stmt):
            counts[name] = counts.get(name, 0) + 1
    for position, stmt in enumerate(body):
        if not (isinstance(stmt, gast.Assign) and isinstance(stmt.targets[0], gast.Name)
                and isinstance(stmt.value, gast.BinOp)):
            continue
        left, op, right = stmt.value.left, stmt.value.op, stmt.value.right
        offset = None
        if _is_name(left, index) and _integer(right) and isinstance(op, (gast.Add, gast.Sub)):
            offset = right.value if isinstance(op, gast.Add) else -right.value
        elif _is_name(right, index) and _integer(left) and isinstance(op, gast.Add):
            offset = left.value
        if offset is not None and counts.get(stmt.targets[0].id) == 1:
            offsets[stmt.targets[0].id] = (offset, position)
    return offsets


def _scatter_offset(stmt, array, offsets):
    """(c, where the index was set) for `array[i + c] += e`, else (None, None)."""
    if not (isinstance(stmt, gast.AugAssign) and isinstance(stmt.op, gast.Add)
            and isinstance(stmt.target, gast.Subscript) and _is_name(stmt.target.value, array)
            and isinstance(stmt.target.slice, gast.Name)):
        return None, None
    return offsets.get(stmt.target.slice.id, (None, None))


def _descending_unit_range(loop) -> bool:
    it = loop.iter
    return (isinstance(loop.target, gast.Name) and not loop.orelse and isinstance(it, gast.Call)
            and nodes.dotted(it.func) == "range" and len(it.args) == 3 and not it.keywords
            and _minus_one(it.args[2]))


def _aliased(fn, arrays) -> set:
    """The arrays another name could see the elements of (a view, a call's result): those an
    assignment reads other than as one element (`x[i]`, no slice in the index), np.zeros
    aside. One search of each assignment for all the arrays (one per array searched the
    whole function again: most of the optimizer's time on a long vectorized function)."""
    found = set()
    if not arrays:
        return found
    for stmt in nodes.statements(fn.body):
        if type(stmt) is not gast.Assign:
            continue
        value = stmt.value
        if isinstance(value, gast.Call) and nodes.dotted(value.func) in ("np.zeros", "np.zeros_like"):
            continue
        if arrays.isdisjoint(nodes.names_in(value)):
            continue
        parts = list(nodes.walk(value))
        for sub in parts:
            if isinstance(sub, gast.Name) and sub.id in arrays and sub.id not in found \
                    and not _element_read(parts, sub):
                found.add(sub.id)
    return found


def _element_read(parts, name_node) -> bool:
    """Whether `name_node` is read as one element: the array of a subscript among `parts`
    (an expression's nodes) whose index holds no slice."""
    for sub in parts:
        if isinstance(sub, gast.Subscript) and sub.value is name_node:
            return not any(isinstance(n, gast.Slice) for n in nodes.walk(sub.slice))
    return False


def _plus(expr, k):
    if _integer(expr):
        return nodes.const(expr.value + k)
    if isinstance(expr, gast.UnaryOp) and isinstance(expr.op, gast.USub) and _integer(expr.operand):
        return nodes.const(k - expr.operand.value)
    if k == 0:
        return _copy(expr)
    return nodes.binop(_copy(expr), "+" if k > 0 else "-", nodes.const(abs(k)))


def _copy(node):
    return copy.deepcopy(node)


def _is_name(node, identifier) -> bool:
    return isinstance(node, gast.Name) and node.id == identifier


def _integer(node) -> bool:
    return isinstance(node, gast.Constant) and type(node.value) is int


def _minus_one(node) -> bool:
    if _integer(node):
        return node.value == -1
    return isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) \
        and _integer(node.operand) and node.operand.value == 1
