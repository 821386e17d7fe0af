"""Run a carried reverse loop in chunks, one per thread.

With `grad(f, jit_options={"parallel": True})`, a reverse loop that carry.py rewrote is split
into contiguous chunks of its iterations, run by `numba.prange` (plain `range` outside numba):

    s_x_carry = 0.0                              chunks = max(1, min(numba.config.NUMBA_NUM_THREADS, trips // 1024))
    for i in range(a, b, -1):                    s_x_edge = np.empty(chunks)
        ...                                      for chunk in numba.prange(chunks):
        s_x[t_3] = s_x_carry + s_7                   s_x_carry = 0.0
        s_x_carry = s_5                 ->           for i in range(<chunk's top>, <chunk's bottom>, -1):
    if a > b:                                            ... (the same body)
        s_x[b + 1] = s_x_carry                       s_x_edge[chunk] = s_x_carry
                                                 for chunk in range(1, chunks):
                                                     s_x[<chunk's bottom> + 1] += s_x_edge[chunk]
                                                 if a > b:
                                                     s_x[b + 1] = s_x_edge[0]

Each chunk starts its carries at zero; what they owe at its end (its edge) belongs to the
lowest elements of its range, which the chunk below stores in its top iterations (no chunk
is shorter than the offsets' span), so a serial loop adds the edges after the parallel one;
the lowest chunk's edge goes through the loop's own flush. Each iteration writes only the
element i + high, so the chunks write disjoint elements.

The chunk's body indexes with `np.uintp(i + c)`, where i + c >= 0 is proven: the serial loop's
constant bound (down to -1) tells LLVM that no index is negative, a chunk's variable bounds
do not, and numba's negative-index wraparound then turns the loads into gathers (2x slower
per element); an unsigned index has no wraparound.

Applies only where that is provably race-free: the loop is not inside another loop; its body
is scalar assignments (names known to be scalars), `if`s and the carried element writes;
every name it assigns is set before it is read in the same iteration, and read nowhere after
the loop, except the carries; no runtime helper is called (record/undo tapes, object mode);
b is a constant and no carried index can be negative (a wrapping index could reach an element
another chunk writes). Anything else stays serial.
"""

from __future__ import annotations

import copy

import gast

from ..analysis.activity import exposed_reads
from ..ir import annotations, nodes
from .carry import _index_offsets

# One chunk per thread (numba.config.NUMBA_NUM_THREADS, the size of numba's pool, a constant
# to the compiled code: numba.get_num_threads() would keep numba from caching the gradient,
# grad(f, cache=True)): the iterations cost alike, so equal chunks balance, and fewer chunks
# mean fewer edges. A chunk shorter than this takes less time than
# waking its thread (a few microseconds), so short loops run on fewer threads, or one.
MIN_CHUNK = 1024


def run_in_chunks(fn: gast.FunctionDef, namer, scalars) -> bool:
    """Rewrite every eligible carried reverse loop of `fn` (see the module docstring);
    `scalars`: the names known to hold scalars. True when one changed."""
    if "numba" in nodes.names_in(fn):                 # the module's `import numba` must be seen
        return False
    changed = False
    for block, loop in _outer_loops(fn.body):
        if annotations.get(loop, "carried") and _race_free(fn, loop, scalars):
            _split(block, loop, namer)
            changed = True
    return changed


def _outer_loops(stmts):
    """(block, loop) for each for-loop not nested in another loop."""
    found = []
    for stmt in stmts:
        if isinstance(stmt, gast.For):
            found.append((stmts, stmt))
        elif isinstance(stmt, gast.If):
            found += _outer_loops(stmt.body) + _outer_loops(stmt.orelse)
    return found


# when it is safe --------------------------------------------------------------------------

def _race_free(fn, loop, scalars) -> bool:
    index, carried = loop.target.id, annotations.get(loop, "carried")
    stop = nodes.integer_value(loop.iter.args[1])
    if stop is None or any(stop + 1 + c.low < 0 for c in carried.values()):
        return False                       # a negative index wraps to an element another chunk owns
    carries = {name for c in carried.values() for name in c.carries}
    if not _plain(loop.body, set(carried)):
        return False
    assigned = nodes.written_by(nodes.module(loop.body)) - set(carried)
    if not assigned <= scalars | carries:
        return False
    if (exposed_reads(loop.body, {index}) & assigned) - carries:
        return False                       # a value would pass from one iteration to the next
    flushes = [c.flush for c in carried.values()]
    return not _loads_after(fn.body, loop, skip=flushes) & (assigned | {index})


def _plain(stmts, arrays) -> bool:
    """Only scalar assignments, `if`s, comments and writes to elements of `arrays`; no call
    to a runtime helper (`_record_1`, `_numpy_exp`, ...), which may write arrays or leave
    compiled code."""
    for stmt in stmts:
        if nodes.is_comment(stmt) or isinstance(stmt, gast.Pass):
            continue
        if isinstance(stmt, gast.If):
            if not (_plain(stmt.body, arrays) and _plain(stmt.orelse, arrays)):
                return False
            continue
        if not isinstance(stmt, (gast.Assign, gast.AugAssign)) or annotations.get(stmt, "also_writes"):
            return False
        target = stmt.targets[0] if isinstance(stmt, gast.Assign) else stmt.target
        if isinstance(target, gast.Subscript):
            if not (isinstance(target.value, gast.Name) and target.value.id in arrays):
                return False
        elif not isinstance(target, gast.Name):
            return False
        if any(isinstance(n, gast.Call) and nodes.dotted(n.func).startswith("_") for n in gast.walk(stmt)):
            return False
    return True


def _loads_after(stmts, loop, skip=()) -> set:
    """Names read by statements that run after `loop` (which is in no other loop), except
    inside the statements `skip`."""
    names, seen = set(), False

    def visit(block):
        nonlocal seen
        for stmt in block:
            if stmt is loop:
                seen = True
            elif any(stmt is s for s in skip):
                continue
            elif isinstance(stmt, gast.If):
                if seen:
                    names.update(nodes.loads_in(stmt.test))
                visit(stmt.body)
                visit(stmt.orelse)
            elif seen:
                names.update(nodes.loads_in(stmt))
    visit(stmts)
    return names


# the rewrite ------------------------------------------------------------------------------

def _split(block, loop, namer):
    index, (start, stop) = loop.target.id, loop.iter.args[:2]
    carried = annotations.get(loop, "carried")
    b = nodes.integer_value(stop)
    span = max(c.high - c.low for c in carried.values())
    trips, chunks, chunk = namer.fresh("trips"), namer.fresh("chunks"), namer.fresh("chunk")
    edges = {array: namer.fresh(f"{array}_edge") for array in carried}

    def first(row, k):                     # chunk `row`'s lowest iteration is first(row, 1)
        return _shifted(nodes.binop(nodes.binop(row, "*", trips), "//", chunks), b + k)

    def edge(array, c, j, row):            # carries[j] of chunk `row` in its edge array
        key = nodes.name(row) if isinstance(row, str) else nodes.const(row)
        slot = key if len(c.carries) == 1 else nodes.tuple_([key, nodes.const(j)])
        return nodes.subscript(nodes.name(edges[array]), slot)

    minimum = max(MIN_CHUNK, span)         # every chunk covers the edges of the one above it
    count = nodes.call("max", [nodes.const(1), nodes.call("min", [
        nodes.attribute("numba.config.NUMBA_NUM_THREADS"), nodes.binop(nodes.name(trips), "//", minimum)])])
    setup = [nodes.assign(trips, _shifted(start, -b)), nodes.assign(chunks, count)]
    starts, saves, adds = [], [], []
    for array, c in carried.items():
        shape = nodes.name(chunks) if len(c.carries) == 1 else nodes.tuple_([chunks, len(c.carries)])
        setup.append(nodes.assign(edges[array], nodes.call("np.empty", [shape])))
        starts += c.start
        for s in c.start:
            block.remove(s)
        for j, carry in enumerate(c.carries):
            saves.append(nodes.assign(nodes.store(edge(array, c, j, chunk)), nodes.name(carry)))
            element = nodes.subscript(nodes.name(array), first(nodes.name(chunk), c.low + j + 1), store=True)
            adds.append(nodes.accumulate(element, edge(array, c, j, chunk)))
        _read_edges(c.flush, {carry: edge(array, c, j, 0) for j, carry in enumerate(c.carries)})

    inner = copy.copy(loop)                # the same loop over this chunk's iterations
    annotations.drop(inner, "carried")
    inner.iter = nodes.call("range", [first(nodes.binop(chunk, "+", 1), 0), first(nodes.name(chunk), 0),
                                      nodes.const(-1)])
    inner.body = _unsigned_indices(loop.body, index, b)
    at = next(k for k, s in enumerate(block) if s is loop)
    head = at
    while head > 0 and nodes.is_comment(block[head - 1]):      # the loop's own comment
        head -= 1
    parallel = nodes.for_(chunk, nodes.call("numba.prange", [nodes.name(chunks)]),
                          starts + block[head:at] + [inner] + saves, loop)
    edges_added = nodes.for_range(chunk, [nodes.const(1), nodes.name(chunks)], adds)
    note = [nodes.comment(line) for line in (
        "The reverse loop below runs in chunks of consecutive iterations, one per thread, each",
        f"at least {minimum} long (a shorter one would not pay for waking its thread). A chunk starts",
        "its carries at zero; what they owe at its end (its edge) belongs to elements the chunk",
        "below stores, so the edges are added after the parallel loop. Indices are np.uintp (never",
        "negative here): numba then skips the negative-index wraparound, which would keep LLVM",
        "from vectorizing the loop.")]
    for line in note:
        annotations.set(line, "keep", True)
    block[head:at + 1] = note + setup + [parallel, edges_added]


def _unsigned_indices(body, index, b):
    """The body, its subscripts `a[i + c]` indexed by np.uintp where i + c >= b + 1 + c >= 0."""
    offsets = _index_offsets(body, index)
    safe = {name for name, (c, _) in offsets.items() if b + 1 + c >= 0}

    class Cast(gast.NodeTransformer):
        def visit_Subscript(self, node):
            self.generic_visit(node)
            if isinstance(node.slice, gast.Name) and node.slice.id in safe:
                node.slice = nodes.call("np.uintp", [nodes.name(node.slice.id)])
            return node
    return [Cast().visit(nodes.clone(s)) for s in body]      # the statements may be the input's


def _read_edges(flush, reads):
    """The flush reads the lowest chunk's edge instead of the carries."""
    class Replace(gast.NodeTransformer):
        def visit_Name(self, node):
            if isinstance(node.ctx, gast.Load) and node.id in reads:
                return copy.deepcopy(reads[node.id])
            return node
    Replace().visit(flush)


def _shifted(expr, k):
    """expr + k, folding k into a trailing constant (`t_2 - 1` + 1 -> `t_2`)."""
    if k == 0:
        return copy.deepcopy(expr)
    if isinstance(expr, gast.BinOp) and isinstance(expr.op, (gast.Add, gast.Sub)) \
            and nodes.integer_value(expr.right) is not None:
        sign = 1 if isinstance(expr.op, gast.Add) else -1
        return _shifted(expr.left, sign * nodes.integer_value(expr.right) + k)
    if nodes.integer_value(expr) is not None:
        return nodes.const(nodes.integer_value(expr) + k)
    return nodes.binop(copy.deepcopy(expr), "+" if k > 0 else "-", nodes.const(abs(k)))

