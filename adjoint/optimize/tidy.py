"""Steps that compute nothing, removed so that the adjoint reads like
a hand-written one. Run once, after the passes (passes.optimize); each returns whether it
changed anything.

    s_old = s                            (nothing rebinds s in between: both go)
    ...
    s = s_old

    s_4 = np.zeros(t_4.shape, t_4.dtype)         s_4 = np.full(t_4.shape, 1.0 / t_4.size, t_4.dtype)
    s_4 += 1.0 / t_4.size               ->

    for k in range(K):                           for k in range(K):
        if k == 0:                                   ...
            t_8_shape = t_8.shape                    if k == 0:
        ...                             ->               t_8_shape = t_8.shape
        if k == 0:                                       tape_q = np.empty((K, q.shape[0]), q.dtype)
            tape_q = np.empty(...)                   tape_q[k] = q
        tape_q[k] = q

and a line of the user's own (kept for readability) whose every reader the optimizer removed,
such as `s = 0.0` before a sum loop that the reverse sweep no longer needs; and names that
trade arrays, written through temporaries by the normalizer, as the user wrote them:

    t_1 = u_n                                    u_nm1, u_n, u = u_n, u, u_nm1
    t_2 = u                             ->
    t_3 = u_nm1
    u_nm1 = t_1
    u_n = t_2
    u = t_3

Like the other passes, these change blocks in place and build new nodes for the statements
they change (passes.optimize: copy on write).
"""

from __future__ import annotations

import copy

import gast

from ..ir import annotations, nodes
from .summaries import _all_statements, _blocks, _write_counts

METADATA = ("shape", "dtype", "size", "ndim")


def tidy(fn, before, summaries, scalars=frozenset()) -> bool:
    """`before`: the function as the reverse transform left it (what read each primal value);
    `summaries`: passes._Summaries, each statement's loads and writes, found once."""
    reads, last_read = _read_counts(fn, summaries)
    changed = drop_idle_restores(fn, summaries, reads, last_read)
    changed |= fill_seeded_zeros(fn, summaries, scalars)
    changed |= merge_first_iterations(fn, summaries)
    changed |= drop_orphaned_primal(fn, before, summaries, reads)
    return changed


def _read_counts(fn, summaries):
    """(name -> how many times the function loads it, name -> the index in fn.body of the last
    statement there loading it)."""
    reads, last_read = {}, {}
    for k, stmt in enumerate(fn.body):
        for name, count in summaries.load_counts(stmt).items():
            reads[name] = reads.get(name, 0) + count
            last_read[name] = k
    return reads, last_read


def _forget(reads, stmt, summaries):
    """Take a removed statement's loads off `reads`."""
    for name, count in summaries.load_counts(stmt).items():
        reads[name] -= count


# 1. save and restore around nothing -------------------------------------------------------------

def drop_idle_restores(fn, summaries, reads, last_read) -> bool:
    """`c = v` ... `v = c` where c is bound and read only there and nothing rebinds v in
    between, or nothing reads v after: the restore gives v the value it has, or one nobody
    reads, so both go. Between means in one block, or from a branch to a later branch on the
    same unchanged condition (a loop's replay keeps `if t_3:` saves that the reverse `if t_3:`
    restores)."""
    copies = [stmt for stmt in _all_statements(fn.body)          # `c = v`, names both
              if type(stmt) is gast.Assign and type(stmt.value) is gast.Name
              and type(stmt.targets[0]) is gast.Name and not annotations.get(stmt, "primal")]
    # a restore copies back what a copy saved: without one, there is nothing to place or count
    saved = {stmt.targets[0].id for stmt in copies}
    restores = [stmt for stmt in copies if stmt.value.id in saved]
    if not restores:
        return False
    stores = _write_counts(fn, summaries)            # (an assignment's target, a loop's index)
    saves = {stmt.targets[0].id: stmt for stmt in copies
             if stores.get(stmt.targets[0].id) == 1 and reads.get(stmt.targets[0].id) == 1}
    pairs = [(saves[stmt.value.id], stmt) for stmt in restores
             if stmt.value.id in saves and stmt.targets[0].id == saves[stmt.value.id].value.id]
    if not pairs:
        return False
    places = _places(fn)
    binds = summaries.written_by
    dropped = set()
    for save, stmt in pairs:
        value = save.value.id
        if not _unchanged_between(save, stmt, value, places, binds):
            if places[id(stmt)][1] is not fn.body:
                continue
            if last_read.get(value, -1) > places[id(stmt)][2]:
                continue                 # (an argument restored before the return is unread)
        dropped |= {id(save), id(stmt)}
        _forget(reads, save, summaries)
        _forget(reads, stmt, summaries)
    if not dropped:
        return False
    _remove(fn.body, dropped)
    _drop_empty_branches(fn.body)
    return True


def _remove(block, dropped):
    block[:] = [s for s in block if id(s) not in dropped]
    for stmt in block:
        if isinstance(stmt, (gast.If, gast.For, gast.While)):
            _remove(stmt.body, dropped)
            _remove(stmt.orelse, dropped)


def _unchanged_between(first, last, name, places, binds) -> bool:
    """Whether no statement that runs after `first` and before `last` rebinds `name`."""
    _, block_a, i = places[id(first)]
    _, block_b, j = places[id(last)]
    if block_a is block_b:
        return i < j and not _binds_in(block_a, i + 1, j, name, binds)
    # first in a branch's block, last in the same block of a later branch on the same test
    branch_a, branch_b = places.get(("branch", id(block_a))), places.get(("branch", id(block_b)))
    if branch_a is None or branch_b is None:
        return False
    (if_a, outer_a, a), (if_b, outer_b, b) = branch_a, branch_b
    if outer_a is not outer_b or (block_a is if_a.body) != (block_b is if_b.body) \
            or type(if_a.test) is not gast.Name or type(if_b.test) is not gast.Name \
            or if_a.test.id != if_b.test.id or not a < b:
        return False
    test = if_a.test.id
    return not any(_binds_in(block, start, stop, v, binds)
                   for block, start, stop, names in ((block_a, i + 1, len(block_a), (name, test)),
                                                     (outer_a, a + 1, b, (name, test)),
                                                     (block_b, 0, j, (name,)))
                   for v in names)


def _binds_in(block, start, stop, name, binds) -> bool:
    for k in range(start, stop):                 # stops at the first: usually the next line
        if name in binds(block[k]):             # (an element write counts: conservative)
            return True
    return False


def _places(fn) -> dict:
    """id(statement) -> (statement, its block, its index there); and ("branch", id(block)) ->
    (the If holding the block, the If's block, the If's index) for each branch's block."""
    found = {}
    for block in _blocks(fn):
        found.update({id(stmt): (stmt, block, k) for k, stmt in enumerate(block)})
        if gast.If in map(type, block):
            for k, stmt in enumerate(block):
                if type(stmt) is gast.If:
                    for inner in (stmt.body, stmt.orelse):
                        found[("branch", id(inner))] = (stmt, block, k)
    return found


def _drop_empty_branches(block):
    """Remove each `if t:` left with nothing to run (its test is a name: reading it does nothing)."""
    for stmt in list(block):
        if isinstance(stmt, (gast.If, gast.For, gast.While)):
            _drop_empty_branches(stmt.body)
            _drop_empty_branches(stmt.orelse)
            if isinstance(stmt, gast.If) and type(stmt.test) is gast.Name \
                    and _idle(stmt.body) and _idle(stmt.orelse):
                block.remove(stmt)


def _idle(block) -> bool:
    return all(isinstance(s, gast.Pass) or nodes.is_comment(s) for s in block)


# 5. a zero array whose first update is a number ---------------------------------------------------

def fill_seeded_zeros(fn, summaries, scalars) -> bool:
    """`s = np.zeros(shape, dtype)` whose next use is `s += c`, c a number: `s = np.full(shape,
    c, dtype)` (np.ones for 1.0), as one would write it. Not for a returned gradient (device
    code receives those zeroed)."""
    final = fn.body[-1] if fn.body and isinstance(fn.body[-1], gast.Return) else None
    returned = set(summaries.load_counts(final)) if final is not None else set()
    changed = False
    for block in _blocks(fn):                 # (each on its own: their order does not matter)
        if not any(_zeros_target(s) for s in block if type(s) is gast.Assign and type(s.value) is gast.Call):
            continue                     # (most blocks: looked at once, not one index at a time)
        k = 0
        while k < len(block):
            stmt = block[k]
            name = _zeros_target(stmt) if type(stmt) is gast.Assign and type(stmt.value) is gast.Call else None
            if name is not None and name not in returned and _fill(block, k, name, summaries, scalars):
                changed = True
            k += 1
    return changed


def _zeros_target(stmt):
    if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name and type(stmt.value) is gast.Call \
            and nodes.dotted(stmt.value.func) == "np.zeros" and 1 <= len(stmt.value.args) <= 2 \
            and not stmt.value.keywords:
        return stmt.targets[0].id
    return None


def _fill(block, k, name, summaries, scalars) -> bool:
    """Fold the first update of block[k]'s zero array into it, if it adds a number."""
    for j in range(k + 1, len(block)):
        stmt = block[j]
        if nodes.is_comment(stmt):
            continue
        if type(stmt) is gast.AugAssign and type(stmt.target) is gast.Name and stmt.target.id == name \
                and type(stmt.op) in (gast.Add, gast.Sub) and _is_number(stmt.value, scalars) \
                and not any(set(summaries.load_counts(stmt.value)) & set(summaries.written_by(s))
                            for s in block[k + 1:j]):
            value = stmt.value if type(stmt.op) is gast.Add else nodes.neg(stmt.value)
            shape, *dtype = block[k].value.args
            if isinstance(value, gast.Constant) and value.value == 1.0:
                call = nodes.call("np.ones", [shape] + dtype)
            else:
                call = nodes.call("np.full", [shape, value] + dtype)
            filled = nodes.assign(name, call, block[k])
            annotations.copy_to(filled, block[k])
            block[k] = filled
            del block[j]
            return True
        if name in summaries.load_counts(stmt) or name in summaries.written_by(stmt):
            return False
    return False


def _is_number(expr, scalars) -> bool:
    """Whether `expr` is provably a number: constants, sizes and ranks, len(), known scalars,
    and arithmetic of them."""
    kind = type(expr)
    if kind is gast.Constant:
        return type(expr.value) in (int, float)
    if kind is gast.Name:
        return expr.id in scalars
    if kind is gast.Attribute:
        return expr.attr in ("size", "ndim") and type(expr.value) is gast.Name
    if kind is gast.BinOp:
        return _is_number(expr.left, scalars) and _is_number(expr.right, scalars)
    if kind is gast.UnaryOp:
        return type(expr.op) in (gast.USub, gast.UAdd) and _is_number(expr.operand, scalars)
    if kind is gast.Call:
        return nodes.dotted(expr.func) == "len" and len(expr.args) == 1 and not expr.keywords
    return False


# 7. one first-iteration block per loop -------------------------------------------------------------

def merge_first_iterations(fn, summaries) -> bool:
    """The `if k == 0:` blocks of a loop's body (shapes and allocations known at the first
    iteration: tapes.py, allocate.py) as one block at the end of the body, followed by the
    tape rows those allocations receive, where nothing after them in the body changes what
    they read or reads what they write; otherwise the loop is left as it is."""
    changed = False
    # (depth first, where nodes.statements goes breadth first: each loop still comes before
    # the loops inside it, and merging one changes no other loop's body)
    for loop in [s for s in _all_statements(fn.body) if type(s) is gast.For]:
        changed |= _merge_in(loop, summaries)
    return changed


def _first_iteration(stmt) -> bool:
    return type(stmt) is gast.If and annotations.get(stmt, "first_iteration") and not stmt.orelse


def _merge_in(loop, summaries) -> bool:
    body = loop.body
    firsts = [k for k, s in enumerate(body) if _first_iteration(s)]
    if len(firsts) < 2:
        return False
    test = gast.dump(body[firsts[0]].test)
    if any(gast.dump(body[k].test) != test for k in firsts):
        return False
    tested = nodes.loads_in(body[firsts[0]].test)
    if any(tested & set(summaries.written_by(s)) for s in body):
        return False
    defined = set().union(*(summaries.written_by(body[k]) for k in firsts))
    movers = set(firsts)
    for k in range(firsts[0] + 1, len(body)):
        stmt = body[k]
        if k in movers or nodes.is_comment(stmt):
            continue
        if defined & (set(summaries.load_counts(stmt)) | set(summaries.written_by(stmt))):
            if not _row_push(stmt, defined):
                return False
            movers.add(k)
    effects = {}
    for m in sorted(movers):
        full, shape_only = _reads(body[m])
        writes = set(summaries.written_by(body[m]))
        for k in range(m + 1, len(body)):
            if k in movers:
                if not _first_iteration(body[m]) and _first_iteration(body[k]) \
                        and set(summaries.written_by(body[k])) & (full | shape_only):
                    return False           # a row push moved after a block that changes what it reads
                continue
            if k not in effects:
                effects[k] = _writes(body[k])
            rebinds, mutates = effects[k]
            if rebinds & (full | shape_only | writes) or mutates & (full | writes) \
                    or writes & set(summaries.load_counts(body[k])):
                return False
    merged = copy.copy(body[firsts[0]])
    merged.body = [s for k in firsts for s in body[k].body]
    pushes = [body[k] for k in sorted(movers) if k not in firsts]
    loop.body[:] = [s for k, s in enumerate(body) if k not in movers] + [merged] + pushes
    return True


def _row_push(stmt, defined) -> bool:
    """`tape[k] = v`: a row of a tape allocated in a first-iteration block."""
    return (type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Subscript
            and type(stmt.targets[0].value) is gast.Name and stmt.targets[0].value.id in defined)


def _reads(stmt):
    """(names read as values, names read only for their shape, dtype, size or rank)."""
    described = set()
    for node in nodes.walk(stmt):
        if type(node) is gast.Attribute and node.attr in METADATA and type(node.value) is gast.Name:
            described.add(id(node.value))
    full, shape_only = set(), set()
    for node in nodes.walk(stmt):
        if type(node) is gast.Name and type(node.ctx) is gast.Load:
            (shape_only if id(node) in described else full).add(node.id)
    return full, shape_only - full


def _writes(stmt):
    """(names `stmt` binds anew, names of arrays it may change in place)."""
    rebinds, mutates = set(), set()
    for node in nodes.walk(stmt):
        kind = type(node)
        if kind is gast.Name and type(node.ctx) is gast.Store:
            rebinds.add(node.id)
        elif kind is gast.Assign or kind is gast.AugAssign:
            for target in (node.targets if kind is gast.Assign else [node.target]):
                for inner in nodes.walk(target):
                    if type(inner) is gast.Name:
                        mutates.add(inner.id)
            mutates.update(annotations.get(node, "also_writes") or ())
        elif kind is gast.Call and type(node.func) is gast.Name and node.func.id.startswith("_"):
            mutates.update(a.id for a in node.args if type(a) is gast.Name)     # runtime helpers
    return rebinds, mutates


# 4. the user's statements whose readers are gone ---------------------------------------------------

def drop_orphaned_primal(fn, before, summaries, reads) -> bool:
    """A statement of the user's (kept for readability, passes.eliminate_dead_code) whose value
    the reverse transform's code read but nothing reads since the optimizer removed its readers
    (`s = 0.0` before a loop that only summed into s): gone too. One nothing ever read (the
    primal's result, an unused line) stays."""
    changed = False
    loaded_before = None                 # every name the function `before` loads
    while True:
        unread = []                      # (statement, its names), nothing reading them now
        for stmt in fn.body:
            if type(stmt) is not gast.Assign:
                continue
            names = summaries.written(stmt)                      # (asked first: known already)
            own = summaries.load_counts(stmt)
            if names and reads.get(names[0], 0) != own.get(names[0], 0):
                continue                                         # (most: read elsewhere)
            if names and all(reads.get(n, 0) - own.get(n, 0) == 0 for n in names) \
                    and annotations.get(stmt, "primal") and type(stmt.targets[0]) in (gast.Name, gast.Tuple):
                unread.append((stmt, names))
        if not unread:
            return changed
        wanted = {n for _, names in unread for n in names}
        if loaded_before is None:        # (`before` does not change: found once, the union in C)
            loaded_before = set().union(*map(summaries.load_counts, before.body))
        read_before = wanted & loaded_before
        orphans = {id(stmt) for stmt, names in unread if read_before.intersection(names)}
        if not orphans:
            return changed
        for stmt, _ in unread:
            if id(stmt) in orphans:
                _forget(reads, stmt, summaries)
        fn.body[:] = [s for s in fn.body if id(s) not in orphans]
        changed = True


# 5. names that trade values, as one tuple assignment -------------------------------------------

def regroup_trades(fn, temporaries, summaries) -> bool:
    """`t_1 = a; t_2 = b; a = t_2; b = t_1` back into the line the user wrote, `a, b = b, a`,
    where nothing else reads those temporaries' values (a reverse loop's replay binds its
    own): it reads as written, and a second differentiation's check of shared memory follows
    names that trade arrays in that form (frontend/views.py)."""
    blocks = _blocks(fn)
    found = []                                   # (block, k, saves, puts)
    assign, name = gast.Assign, gast.Name
    for block in blocks:
        k = 0
        while k < len(block):
            first = block[k]
            k += 1
            if type(first) is not assign or type(first.value) is not name:
                continue                         # (most statements: asked no more)
            saves = _temporary_copies(block, k - 1, temporaries)
            m = len(saves)
            puts = [_name_copy(s) for s in block[k - 1 + m:k - 1 + 2 * m]] if m >= 2 else []
            if m >= 2 and len(puts) == m and all(puts) and {source for _, source in puts} == set(saves) \
                    and {target for target, _ in puts} == set(saves.values()):
                found.append((block, k - 1, saves, puts))
                k += 2 * m - 1                   # (no run starting inside this one)
    if not found:
        return False
    puts_at = {id(stmt) for block, k, saves, _ in found for stmt in block[k + len(saves):k + 2 * len(saves)]}
    unread = _read_only_after_binding({t for _, _, saves, _ in found for t in saves}, blocks, puts_at, summaries)
    changed = False
    for block, k, saves, puts in reversed(found):         # (later runs first: indices hold)
        if not unread.issuperset(saves):
            continue
        trade = nodes.assign_to(nodes.tuple_([target for target, _ in puts], store=True),
                                nodes.tuple_([saves[source] for _, source in puts]), block[k])
        annotations.copy_to(trade, block[k])
        block[k:k + 2 * len(saves)] = [trade]
        changed = True
    return changed


def _read_only_after_binding(names, blocks, allowed, summaries) -> set:
    """Those of `names` that every statement reading them (but those of ids `allowed`) reads
    after a statement of its own block has bound them anew."""
    unsafe = set()
    for block in blocks:
        bound = set()
        for stmt in block:
            if id(stmt) not in allowed:
                if type(stmt) in _COMPOUND_STATEMENTS:      # (its blocks are searched as blocks)
                    loads = set().union(*(nodes.loads_in(getattr(stmt, f)) for f in _HEADERS[type(stmt)]))
                else:
                    loads = summaries.load_counts(stmt).keys()
                unsafe |= (names & set(loads)) - bound
            if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name:
                bound.add(stmt.targets[0].id)
    return names - unsafe


_COMPOUND_STATEMENTS = (gast.If, gast.For, gast.While)
_HEADERS = {gast.If: ("test",), gast.While: ("test",), gast.For: ("target", "iter")}


def _name_copy(stmt):
    """(target, source) of `target = source`, two plain names; else None."""
    if type(stmt) is gast.Assign and type(stmt.targets[0]) is gast.Name and type(stmt.value) is gast.Name \
            and stmt.targets[0].annotation is None and stmt.value.annotation is None:
        return stmt.targets[0].id, stmt.value.id
    return None


def _temporary_copies(block, k, temporaries) -> dict:
    """temporary -> the name it copies, for the run of `t = name` from block[k] on."""
    saves = {}
    for j in range(k, len(block)):               # (no slice: a copy of the rest per statement)
        copied = _name_copy(block[j])
        if copied is None or copied[0] not in temporaries or copied[0] in saves or copied[1] in temporaries:
            break
        saves[copied[0]] = copied[1]
    return saves
