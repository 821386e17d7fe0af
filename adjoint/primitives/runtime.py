"""What emitted code may call beyond math and numpy: small helpers, written into the module.

Each helper is plain numpy that numba compiles, specialized by rank so that every variable
keeps one type (numba's rule). The reverse transform asks for a helper by name; lower/emit.py
writes the source of each one used at the top of the module, which stays standalone.

    _sum_to_2_1(g, shape)                a broadcast sensitivity summed back to a rank-1 shape
    _record_1(tape, top, tag, y, i)      remember y[i] before a loop overwrites it
    _undo_1(tape, top, tag, y)           put back the elements iteration `tag` overwrote
    _record_sn_2(tape, tag, y, i0, i1)   remember the region y[i0, i1] (i0 a slice, i1 an integer)
    _undo_region_2(tape, tag, y)         put back the regions iteration `tag` overwrote
    _record_rows_1(tape, rows, k, v)     keep iteration k's v, whose shape changes from one to the next
    _row_1(tape, rows, k)                ... and read it back
    _max_axis_2(x, axis)                 np.max(x, axis=...), which numba lacks (also min, prod, mean;
                                         any rank, negative axes too)
    _scatter_add_sa_1_2(s, i1, g)        s[:, i1] += g, unbuffered: a repeated index adds once per
                                         occurrence (np.add.at, which numba lacks)
    _numpy_tanh(x)                       np.tanh of a large float array by numpy's own vectorized
                                         loop (numba calls libm once per element, ~10x slower)
    _diff_axis(x, axis)                  np.diff(x, axis=axis), np.roll(x, shift, axis) (_roll_axis),
                                         which numba lacks (any rank)
    _flip_axis(x, axis)                  np.flip(x, axis); of a matrix np.sort, np.argsort, np.cumprod
                                         along an axis (_sort_axis, ...), np.linalg.norm(x, ord, axis)
                                         (_norm_ord_axis) and np.tile(x, reps) (_tile_1, _tile_2), which numba lacks
    _polyval(p, x)                       np.polyval(p, x) by Horner's rule (numba has no np.polyval)
    _each_erf(x)                         math.erf of each element of an array (scipy.special.erf,
                                         which numba cannot call; also erfc, lgamma, gamma)
    _revolve(steps, free)                checkpoints=K: iterations to run from a snapshot before
                                         taking the next one, on the binomial (revolve) schedule
    _add_at_mask(s, m, g)                s[m] += g for a boolean mask of rank 2 or more, which numba
                                         cannot compile (also _subtract_at_mask, _assign_at_mask)
    _matvec(a, v)                        a @ v of a matrix and a vector as a product of matrices (v a
                                         column; _vecmat: v @ a, v a row), which numba compiles once
                                         for all the products of a function
"""

from __future__ import annotations

from .rule_helpers import RULE_HELPERS
from .table import numpy_loops


def source(name: str) -> str:
    if name.startswith("_numpy_"):
        return _numpy_ufunc(name[len("_numpy_"):])
    if name.startswith("_einsum_"):                   # np.einsum's loops (primitives/rules/linalg.py)
        from .rules.linalg import einsum_source
        return einsum_source(name)
    kind, *ranks = name.lstrip("_").split("_")
    if kind == "sum" and ranks[0] == "to":
        return _sum_to(int(ranks[1]), int(ranks[2]))
    if kind == "record" and ranks[0] == "rows":
        return _record_rows(int(ranks[1]))
    if kind == "row":
        return _row(int(ranks[0]))
    if kind == "record" and len(ranks) == 2 and set(ranks[0]) <= set("nsm"):
        return _record_region(ranks[0], int(ranks[1]))
    if kind == "record":
        return _record(int(ranks[0]))
    if kind == "undo" and ranks[0] == "region":
        return _undo_region(int(ranks[1]))
    if kind == "undo":
        return _undo(int(ranks[0]))
    if kind == "scatter" and ranks[0] == "add" and len(ranks) == 4 and set(ranks[1]) <= set("san"):
        return _scatter_add(ranks[1], int(ranks[2]), int(ranks[3]))
    if name in AXIS_FORMS:
        return AXIS_FORMS[name]
    if name in RULE_HELPERS:
        return RULE_HELPERS[name]
    if kind == "sum" and ranks[:1] == ["axis"]:
        return _sum_axis(int(ranks[1]), int(ranks[2]))
    if ranks[:1] == ["axis"]:
        return _axis_reduction(kind, int(ranks[1]))
    if name in WHOLE_EXTREMA.values():
        return _whole_extremum(name)
    if kind == "polyval" and not ranks:
        return _POLYVAL
    if kind == "each" and ranks and ranks[0] in EACH:
        return _each(ranks[0])
    if name == REVOLVE:
        return _REVOLVE
    if name in UPDATES:
        return UPDATES[name][1]
    if name in MASKED_UPDATES:
        return MASKED_UPDATES[name][1]
    if name in MATRIX_PRODUCTS:
        return MATRIX_PRODUCTS[name]
    if kind == "where" and len(ranks) == 2 and len(ranks[1]) == 2 and set(ranks[1]) <= {"a", "s"}:
        return _where(int(ranks[0]), ranks[1])
    raise KeyError(name)


def is_helper(fn) -> bool:
    """Whether `fn` is one of these helpers, as written into an emitted module (its name
    and docstring)."""
    name = getattr(fn, "__name__", "")
    if not name.startswith("_") or getattr(fn, "__module__", "") == __name__:
        return False
    try:
        text = source(name)
    except Exception:                    # noqa: BLE001  (a user's own _name: not a helper)
        return False
    doc = getattr(fn, "__doc__", None)
    return doc is not None and f'"""{doc}"""' in text


def sum_to(value_rank: int, target_rank: int) -> str:
    return f"_sum_to_{value_rank}_{target_rank}"


def record(rank: int) -> str:
    return f"_record_{rank}"


def undo(rank: int) -> str:
    return f"_undo_{rank}"


def _sum_to(rv: int, rx: int) -> str:
    """Sum g (rank rv) down to `shape` (rank rx): leading axes away, then size-1 axes. Written
    as one loop nest adding each element into its place in a new array (g itself where
    nothing is summed), not np.sum along an axis nor in-place adds of rows: numba compiles
    those (their shape checks and message formatting) in tenths of a second per rank in a
    fresh process, a loop nest of numbers in a few hundredths; np.zeros(shape, dtype) is the
    allocation the adjoint's own sensitivities already compile."""
    lead = rv - rx
    lines = [f"def _sum_to_{rv}_{rx}(g, shape):",
             f'    """Sum a broadcast rank-{rv} sensitivity back to a rank-{rx} shape."""']
    # n<d>: the result's size along axis d (1 where it is summed), k<d>: 1 where it is kept
    for d in range(rx):
        lines.append(f"    n{d} = 1 if shape[{d}] == 1 else g.shape[{lead + d}]")
    if rv == rx:                                 # nothing summed: g itself, as numpy's would be
        same = " and ".join(f"n{d} == g.shape[{d}]" for d in range(rx))
        lines += [f"    if {same}:", "        return g"]
    for d in range(rx):
        lines.append(f"    k{d} = 1 if n{d} == g.shape[{lead + d}] else 0")
    shape = ", ".join(f"n{d}" for d in range(rx)) + ("," if rx == 1 else "")
    lines.append(f"    out = np.zeros(({shape}), g.dtype)")
    pad = "    "
    for a in range(rv):
        lines.append(f"{pad}for i{a} in range(g.shape[{a}]):")
        pad += "    "
    at = ", ".join(f"i{lead + d} * k{d}" for d in range(rx))
    every = ", ".join(f"i{a}" for a in range(rv))
    lines += [f"{pad}out[{at}] += g[{every}]", "    return out"]
    return "\n".join(lines) + "\n"


def _record(rank: int) -> str:
    index = ", ".join(f"i{k}" for k in range(rank))
    lines = [f"def _record_{rank}(tape, top, tag, y, {index}):",
             '    """Push (tag, old value, index) before a loop overwrites an element."""',
             "    if top == tape.shape[0]:",
             "        tape = np.concatenate((tape, np.empty_like(tape)))",
             "    tape[top, 0] = tag",
             f"    tape[top, 1] = y[{index}]"]
    lines += [f"    tape[top, {2 + k}] = i{k}" for k in range(rank)]
    lines.append("    return tape")
    return "\n".join(lines) + "\n"


def _undo(rank: int) -> str:
    index = ", ".join(f"int(tape[top, {2 + k}])" for k in range(rank))
    lines = [f"def _undo_{rank}(tape, top, tag, y):",
             '    """Restore, newest first, the elements that iteration `tag` overwrote."""',
             "    while top > 0 and tape[top - 1, 0] == tag:",
             "        top -= 1",
             f"        y[{index}] = tape[top, 1]",
             "    return top"]
    return "\n".join(lines) + "\n"


def record_region(pattern: str, rank: int) -> str:
    """The helper remembering the region y[index] before a loop overwrites it; `pattern` spells
    the index, one letter a component: `n` an integer, `s` a slice, `m` a mask or an integer
    array (the whole array is remembered then); components left out are whole axes."""
    return f"_record_{pattern}_{rank}"


def undo_region(rank: int) -> str:
    return f"_undo_region_{rank}"


def record_rows(rank: int) -> str:
    return f"_record_rows_{rank}"


def row(rank: int) -> str:
    return f"_row_{rank}"


# A region record tape is flat: tape[0] holds the first free slot; each record is the region's
# old values, then (start, count, step) for each axis of y, then the value count and the tag,
# so that the undo reads it from its end.

def _record_region(pattern: str, rank: int) -> str:
    # a slice comes as its three bounds, numbers (tapes.slice_bounds), not a slice object:
    # the gradient differentiated again reads this helper as code, and numbers are its kind
    params = ", ".join(f"lo{k}, hi{k}, st{k}" if c == "s" else f"i{k}" for k, c in enumerate(pattern))
    shown = ", ".join(f"lo{k}:hi{k}:st{k}" if c == "s" else f"i{k}" for k, c in enumerate(pattern))
    lines = [f"def {record_region(pattern, rank)}(tape, tag, y, {params}):",
             f'    """Push y[{shown}]\'s old values, its place and the tag before a loop overwrites it."""',
             "    top = int(tape[0])"]
    whole = "m" in pattern
    for k in range(rank):
        letter = "w" if whole or k >= len(pattern) else pattern[k]
        if letter == "n":
            lines += [f"    a{k} = i{k} % y.shape[{k}]", f"    n{k} = 1", f"    c{k} = 1"]
        elif letter == "s":             # slice.indices and the length of its range
            size = f"y.shape[{k}]"
            lines += [f"    c{k} = st{k}",
                      f"    a{k} = lo{k} + {size} if lo{k} < 0 else lo{k}",
                      f"    b{k} = hi{k} + {size} if hi{k} < 0 else hi{k}",
                      f"    if c{k} > 0:",
                      f"        a{k} = min(max(a{k}, 0), {size})",
                      f"        b{k} = min(max(b{k}, 0), {size})",
                      f"        n{k} = max((b{k} - a{k} + c{k} - 1) // c{k}, 0)",
                      "    else:",
                      f"        a{k} = min(max(a{k}, -1), {size} - 1)",
                      f"        b{k} = min(max(b{k}, -1), {size} - 1)",
                      f"        n{k} = max((a{k} - b{k} - c{k} - 1) // -c{k}, 0)"]
        else:
            lines += [f"    a{k} = 0", f"    n{k} = y.shape[{k}]", f"    c{k} = 1"]
    lines += ["    n = " + " * ".join(f"n{k}" for k in range(rank)),
              f"    while top + n + {3 * rank + 2} > tape.shape[0]:",
              "        tape = np.concatenate((tape, np.empty_like(tape)))"]
    pad = "    "
    for k in range(rank):
        lines.append(f"{pad}for j{k} in range(n{k}):")
        pad += "    "
    element = ", ".join(f"a{k} + j{k} * c{k}" for k in range(rank))
    lines += [f"{pad}tape[top] = y[{element}]", f"{pad}top += 1"]
    for k in range(rank):
        lines += [f"    tape[top + {3 * k}] = a{k}", f"    tape[top + {3 * k + 1}] = n{k}",
                  f"    tape[top + {3 * k + 2}] = c{k}"]
    lines += [f"    tape[top + {3 * rank}] = n", f"    tape[top + {3 * rank + 1}] = tag",
              f"    tape[0] = top + {3 * rank + 2}", "    return tape"]
    return "\n".join(lines) + "\n"


def _undo_region(rank: int) -> str:
    lines = [f"def {undo_region(rank)}(tape, tag, y):",
             '    """Restore, newest first, the regions that iteration `tag` overwrote."""',
             "    top = int(tape[0])",
             "    while top > 1 and tape[top - 1] == tag:",
             "        n = int(tape[top - 2])",
             f"        top -= {3 * rank + 2}"]
    for k in range(rank):
        lines += [f"        a{k} = int(tape[top + {3 * k}])", f"        n{k} = int(tape[top + {3 * k + 1}])",
                  f"        c{k} = int(tape[top + {3 * k + 2}])"]
    lines.append("        top -= n")
    lines.append("        at = top")
    pad = "        "
    for k in range(rank):
        lines.append(f"{pad}for j{k} in range(n{k}):")
        pad += "    "
    element = ", ".join(f"a{k} + j{k} * c{k}" for k in range(rank))
    lines += [f"{pad}y[{element}] = tape[at]", f"{pad}at += 1"]
    lines += ["    tape[0] = top", "    return tape"]
    return "\n".join(lines) + "\n"


def _record_rows(rank: int) -> str:
    """A checkpoint tape for an array whose shape changes from one iteration to the next: the
    values flat in `tape`, iteration k's offset and shape in rows[k] (k = 0, 1, ... in order)."""
    size = " * ".join(f"rows[k - 1, {1 + a}]" for a in range(rank))
    lines = [f"def {record_rows(rank)}(tape, rows, k, v):",
             '    """Push iteration k\'s v (its shape changes from one iteration to the next)."""',
             "    top = 0",
             "    if k > 0:",
             f"        top = rows[k - 1, 0] + {size}",
             "    while top + v.size > tape.shape[0]:",
             "        tape = np.concatenate((tape, np.empty_like(tape)))",
             "    rows[k, 0] = top"]
    lines += [f"    rows[k, {1 + a}] = v.shape[{a}]" for a in range(rank)]
    # element by element: numba compiles an array assigned into a slice with its error message
    # (two shapes formatted into a string) in about 1.5 s of a fresh process
    lines += ["    flat = np.ascontiguousarray(v).ravel()", "    for i in range(flat.shape[0]):",
              "        tape[top + i] = flat[i]", "    return tape"]
    return "\n".join(lines) + "\n"


def _row(rank: int) -> str:
    shape = ", ".join(f"rows[k, {1 + a}]" for a in range(rank))
    size = " * ".join(f"rows[k, {1 + a}]" for a in range(rank))
    return "\n".join([
        f"def {row(rank)}(tape, rows, k):",
        '    """Iteration k\'s array from a tape of _record_rows."""',
        "    start = rows[k, 0]",
        f"    return tape[start:start + {size}].copy().reshape(({shape},))"]) + "\n"


def scatter_add(pattern: str, index_rank: int, rank: int) -> str:
    """The helper adding g into s[index] once per occurrence of each index. `pattern` spells
    the index, one letter a component: `s` a whole axis (`:`), `a` an integer array, `n` an
    integer; the `a`/`n` components are adjacent (numpy then keeps the gathered axes in place),
    every array among them of rank `index_rank`; `rank` is s's."""
    return f"_scatter_add_{pattern}_{index_rank}_{rank}"


def _scatter_add(pattern: str, index_rank: int, rank: int) -> str:
    """`s[index] += g` as a loop over the index arrays' elements: numpy's buffered `+=` would
    count a repeated index once, and numba has no np.add.at."""
    arrays = [k for k, c in enumerate(pattern) if c == "a"]
    advanced = [k for k, c in enumerate(pattern) if c in "an"]
    lead, first = advanced[0], arrays[0]             # whole axes before the gathered ones
    trailing = rank - lead - len(advanced)           # g's axes after them (sliced or implicit)
    params = ", ".join(f"i{k}" for k, c in enumerate(pattern) if c != "s")
    lines = [f"def {scatter_add(pattern, index_rank, rank)}(s, {params}, g):",
             f'    """s[index] += g with each occurrence of a repeated index counted (pattern {pattern})."""']
    lines += [f"    f{k} = np.ascontiguousarray(i{k}).ravel()" for k in arrays]
    lines.append(f"    count = f{first}.size")
    for k in arrays[1:]:
        lines += [f"    if f{k}.size != count:",
                  '        raise ValueError("index arrays of different shapes: broadcast them first")']
    dims = [f"g.shape[{d}]" for d in range(lead)] + ["count"]         + [f"g.shape[{lead + index_rank + d}]" for d in range(trailing)]
    lines.append(f"    rows = np.ascontiguousarray(g).reshape(({', '.join(dims)},))")
    # element by element, whole axes too: `s[at] += rows[j]` of a row would assign an array
    # into s[at], which numba compiles with its error message (two shapes formatted into a
    # string) in about 1.5 s of a fresh process
    whole = [k for k, c in enumerate(pattern) if c == "s"] + list(range(len(pattern), rank))
    spans = [f"rows.shape[{d}]" for d in range(lead)] + [f"rows.shape[{lead + 1 + d}]" for d in range(trailing)]
    for axis, span in zip(whole, spans):
        lines += [f"    if {span} != s.shape[{axis}]:",
                  '        raise ValueError("the sensitivity and the gathered part differ in shape")']
    at = [f"w{axis}" if axis in whole else f"f{axis}[j]" if pattern[axis] == "a" else f"i{axis}"
          for axis in range(rank)]
    taken = [f"w{axis}" for axis in whole[:lead]] + ["j"] + [f"w{axis}" for axis in whole[lead:]]
    lines.append("    for j in range(count):")
    pad = "        "
    for axis, span in zip(whole, spans):
        lines.append(f"{pad}for w{axis} in range({span}):")
        pad += "    "
    lines += [f"{pad}s[{', '.join(at)}] += rows[{', '.join(taken)}]", "    return s"]
    return "\n".join(lines) + "\n"


# numpy forms numba lacks ------------------------------------------------------------------

AXIS_REDUCTIONS = {"max": "np.max", "amax": "np.max", "min": "np.min", "amin": "np.min",
                   "prod": "np.prod", "mean": "np.mean", "var": "np.var", "std": "np.std",
                   "norm": "np.linalg.norm"}


def axis_reduction(kind: str, rank: int) -> str:
    return f"_{kind}_axis_{rank}"


def reduction_of(fn):
    """np.<f> for an emitted `_<f>_axis_<rank>` helper (np.var(x, axis=1) as numba runs it),
    else None: emitted code read again (hvp, grad of grad) calls the numpy function with the
    axis by keyword, whose derivative rules the table has (the helper's bounds check, a
    `raise`, is outside the subset adjoint reads)."""
    name = getattr(fn, "__name__", "")
    kind, _, rank = name[1:].partition("_axis_")
    whole = AXIS_REDUCTIONS.get(kind)
    if not name.startswith("_") or whole is None or rank not in ("1", "2") \
            or not (getattr(fn, "__doc__", None) or "").startswith(f"{whole}(x, axis=axis) for a rank-{rank} array"):
        return None
    import numpy as np
    return np.linalg.norm if whole == "np.linalg.norm" else getattr(np, whole[len("np."):])


# np.max(x) and np.min(x) of a float vector: one loop, which numba compiles in hundredths of a
# second (its generic reduction, in tenths)
WHOLE_EXTREMA = {"max": "_max_all_1", "amax": "_max_all_1", "min": "_min_all_1", "amin": "_min_all_1"}


def _whole_extremum_doc(name: str) -> str:
    return f"np.{name[1:4]}(x) for a float vector: nan if an element is."


def whole_extremum_of(fn):
    """np.max (np.min) for an emitted `_max_all_1` (`_min_all_1`), else None: emitted code read
    again (grad(grad(f))) calls the numpy function, whose rule splits ties (the helper's
    empty-array check, a `raise`, is outside the subset adjoint reads)."""
    name = getattr(fn, "__name__", "")
    if name not in WHOLE_EXTREMA.values() or getattr(fn, "__doc__", None) != _whole_extremum_doc(name):
        return None
    import numpy as np
    return getattr(np, name[1:4])


def _whole_extremum(name: str) -> str:
    kind = name[1:4]
    better = ">" if kind == "max" else "<"
    return "\n".join([
        f"def {name}(x):",
        f'    """{_whole_extremum_doc(name)}"""',
        "    if x.shape[0] == 0:",
        f"        raise ValueError('zero-size array to reduction operation {kind}imum which has no identity')",
        "    m = x[0]",
        "    for i in range(1, x.shape[0]):",
        f"        if x[i] {better} m or x[i] != x[i]:",
        "            m = x[i]",
        "    return m"]) + "\n"


def _axis_reduction(kind: str, rank: int) -> str:
    """`np.max(x, axis)` and friends for a rank-1 or rank-2 array, which numba does not
    provide; the axis may be negative, as numpy's, and one out of range raises as numpy does."""
    whole = AXIS_REDUCTIONS[kind]
    if rank == 1:
        return "\n".join([
            f"def _{kind}_axis_1(x, axis):",
            f'    """{whole}(x, axis=axis) for a rank-1 array: the whole reduction."""',
            "    if axis != 0 and axis != -1:",
            '        raise ValueError("axis is out of bounds for an array of dimension 1")',
            f"    return {whole}(x)"]) + "\n"
    if rank > 2:
        return _axis_reduction_of_rank(kind, rank)
    return "\n".join([
        f"def _{kind}_axis_{rank}(x, axis):",
        f'    """{whole}(x, axis=axis) for a rank-2 array."""',
        "    if axis != 0 and axis != 1 and axis != -1 and axis != -2:",
        '        raise ValueError("axis is out of bounds for an array of dimension 2")',
        "    if axis == 0 or axis == -2:",
        "        out = np.empty((x.shape[1],), x.dtype)",
        "        for j in range(x.shape[1]):",
        f"            out[j] = {whole}(x[:, j])",
        "    else:",
        "        out = np.empty((x.shape[0],), x.dtype)",
        "        for i in range(x.shape[0]):",
        f"            out[i] = {whole}(x[i])",
        "    return out"]) + "\n"


def sum_axis(rank: int, axis: int) -> str:
    return f"_sum_axis_{rank}_{axis}"


def _sum_axis(rank: int, axis: int) -> str:
    """np.sum(x, axis=0 or 1) of a float matrix, a row at a time: numba's own sum along an axis
    takes about 1.5 s to compile (its axis check formats its message), these 0.1 s. Their
    result is made as the gradient's own vectors are, np.zeros of a shape tuple and a dtype:
    numba compiles np.zeros once per kind of arguments (about 0.04 s each)."""
    if (rank, axis) == (2, 0):
        return "\n".join([
            "def _sum_axis_2_0(x):",
            '    """np.sum(x, axis=0) for a rank-2 array: its rows added up."""',
            "    out = np.zeros((x.shape[1],), x.dtype)",
            "    for i in range(x.shape[0]):",
            "        out += x[i]",
            "    return out"]) + "\n"
    if (rank, axis) == (2, 1):
        return "\n".join([
            "def _sum_axis_2_1(x):",
            '    """np.sum(x, axis=1) for a rank-2 array: each row\'s sum."""',
            "    out = np.zeros((x.shape[0],), x.dtype)",
            "    for i in range(x.shape[0]):",
            "        out[i] = np.sum(x[i])",
            "    return out"]) + "\n"
    raise KeyError(sum_axis(rank, axis))


def _axis_reduction_of_rank(kind: str, rank: int) -> str:
    """The same for a rank-3 (or higher) array: a loop nest over the other axes per axis."""
    whole = AXIS_REDUCTIONS[kind]
    lines = [f"def _{kind}_axis_{rank}(x, axis):",
             f'    """{whole}(x, axis=axis) for a rank-{rank} array."""',
             f"    if axis < -{rank} or axis >= {rank}:",
             f'        raise ValueError("axis is out of bounds for an array of dimension {rank}")',
             "    if axis < 0:",
             f"        axis += {rank}"]
    for axis in range(rank):
        kept = [d for d in range(rank) if d != axis]
        shape = ", ".join(f"x.shape[{d}]" for d in kept)
        lines += [f"    {'if' if axis == 0 else 'elif' if axis < rank - 1 else 'else'}"
                  + (f" axis == {axis}:" if axis < rank - 1 else ":"),
                  f"        out = np.empty(({shape}), x.dtype)"]
        for depth, d in enumerate(kept):
            lines.append("        " + "    " * depth + f"for i{d} in range(x.shape[{d}]):")
        at = ", ".join(":" if d == axis else f"i{d}" for d in range(rank))
        lines.append("        " + "    " * len(kept) + f"out[{', '.join(f'i{d}' for d in kept)}] = {whole}(x[{at}])")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


# numpy's loops for these are vectorized (SIMD); numba's call the C library per element
# (the records flagged numpy_loop in the rules package)
NUMPY_LOOPS = numpy_loops()
NUMPY_LOOP_MIN_SIZE = 1024         # below this, leaving for object mode costs more (~6 us) than it saves


def _numpy_loop_doc(name: str) -> str:
    return f"np.{name}(x) for a float array: numpy's vectorized loop once x is large."


def numpy_loop_of(fn):
    """np.<f> for an emitted `_numpy_<f>` helper, np.where for a `_where_<rank>_<pattern>`
    (so that emitted code can be differentiated again, grad(grad(f)): the helper's broadcast
    check, a `raise`, is outside the subset adjoint reads), else None."""
    name = getattr(fn, "__name__", "")
    if name.startswith("_where_") and (getattr(fn, "__doc__", None) or "").startswith("np.where(c, a, b) of floats"):
        import numpy as np
        return np.where
    f = name[len("_numpy_"):]
    if name.startswith("_numpy_") and f in NUMPY_LOOPS and getattr(fn, "__doc__", None) == _numpy_loop_doc(f):
        import numpy as np
        return getattr(np, f)
    return None


def _numpy_ufunc(name: str) -> str:
    if name not in NUMPY_LOOPS:
        raise KeyError(name)
    # a small array element by element, np.<f> of each number: numba compiles that loop in
    # a few hundredths of a second, its np.<f> of an array (a ufunc loop over any layout) in
    # tenths, once per rank in a fresh process
    return "\n".join([
        f"def _numpy_{name}(x):",
        f'    """{_numpy_loop_doc(name)}"""',
        "    out = np.empty_like(x)",
        f"    if x.size < {NUMPY_LOOP_MIN_SIZE}:",
        "        for i, v in enumerate(x.flat):",
        f"            out.flat[i] = np.{name}(v)",
        "        return out",
        "    with numba.objmode():",
        f"        np.{name}(x, out=out)",
        "    return out"]) + "\n"


LOWERED_MODULE = "np"          # lower_for_numba rewrites only calls of np.<function>


# np.diff and np.roll along an axis, np.polyval: numba has them without the axis, or not at all.
# Any rank: the axis is swapped to the end, where numba's own forms work.

_DIFF_AXIS = "\n".join([
    "def _diff_axis(x, axis):",
    '    """np.diff(x, axis=axis): the difference along the last axis, with `axis` swapped there."""',
    "    return np.swapaxes(np.diff(np.ascontiguousarray(np.swapaxes(x, axis, -1))), axis, -1)"]) + "\n"

_ROLL_AXIS = "\n".join([
    "def _roll_axis(x, shift, axis):",
    '    """np.roll(x, shift, axis): the last axis rotated, with `axis` swapped there."""',
    "    y = np.swapaxes(x, axis, -1)",
    "    n = y.shape[-1]",
    "    k = shift % n if n > 0 else 0",
    "    return np.swapaxes(np.concatenate((y[..., n - k:], y[..., :n - k]), axis=-1), axis, -1)"]) + "\n"

AXIS_FORMS = {"_diff_axis": _DIFF_AXIS, "_roll_axis": _ROLL_AXIS}
DIFF_AXIS, ROLL_AXIS = "_diff_axis", "_roll_axis"


# np.flip along an axis (any rank), and of a matrix along an axis np.sort, np.argsort,
# np.cumprod, np.linalg.norm with an ord, and np.tile: numba has them of vectors only, or
# without the axis, or not at all
AXIS_FORMS["_flip_axis"] = "\n".join([
    "def _flip_axis(x, axis):",
    '    """np.flip(x, axis): the last axis reversed, with `axis` swapped there."""',
    "    return np.swapaxes(np.swapaxes(x, axis, -1)[..., ::-1], axis, -1)"]) + "\n"


def _lines_of_matrix(name, call, dtype, doc):
    """A helper applying a vector function `call` (of `y[i]`) to each line of a matrix along
    `axis`, the lines made the rows of a contiguous copy first."""
    return "\n".join([
        f"def {name}(x, axis):",
        f'    """{doc}"""',
        "    y = np.ascontiguousarray(np.swapaxes(x, axis, -1))",
        f"    out = np.empty(y.shape, {dtype})",
        "    for i in range(y.shape[0]):",
        f"        line = {call}",
        "        for j in range(line.shape[0]):     # (an array assigned into out[i]: ~1.5 s of compilation)",
        "            out[i, j] = line[j]",
        "    return np.swapaxes(out, axis, -1)"]) + "\n"


AXIS_FORMS["_sort_axis"] = _lines_of_matrix("_sort_axis", "np.sort(y[i])", "y.dtype",
                                            "np.sort(x, axis) of a matrix: each line along `axis` sorted.")
AXIS_FORMS["_argsort_axis"] = _lines_of_matrix("_argsort_axis", "np.argsort(y[i])", "np.int64",
                                               "np.argsort(x, axis) of a matrix, line by line along `axis`.")
AXIS_FORMS["_cumprod_axis"] = _lines_of_matrix("_cumprod_axis", "np.cumprod(y[i])", "y.dtype",
                                               "np.cumprod(x, axis) of a matrix, line by line along `axis`.")
AXIS_FORMS["_norm_ord_axis"] = "\n".join([
    "def _norm_ord_axis(x, ord, axis):",
    '    """np.linalg.norm(x, ord, axis) of a matrix: the ord-norm of each line along `axis`."""',
    "    y = np.ascontiguousarray(np.swapaxes(x, axis, -1))",
    "    out = np.empty(y.shape[0], y.dtype)",
    "    for i in range(y.shape[0]):",
    "        out[i] = np.linalg.norm(y[i], ord)",
    "    return out"]) + "\n"
for _rank, _shape, _copy in (
        (1, "reps * n", ["        for j in range(n):", "            out[k * n + j] = x[j]"]),
        (2, "(x.shape[0], reps * n)", ["        for i in range(x.shape[0]):", "            for j in range(n):",
                                       "                out[i, k * n + j] = x[i, j]"])):
    AXIS_FORMS[f"_tile_{_rank}"] = "\n".join([
        f"def _tile_{_rank}(x, reps):",
        f'    """np.tile(x, reps) of a rank-{_rank} array, reps a number: copies side by side along the last axis."""',
        "    n = x.shape[-1]",
        f"    out = np.empty({_shape}, x.dtype)",
        "    for k in range(reps):"] + _copy + ["    return out"]) + "\n"
POLYVAL = "_polyval"
_POLYVAL = "\n".join([
    "def _polyval(p, x):",
    '    """np.polyval(p, x) by Horner\'s rule, of a number or an array x."""',
    "    out = x * 0.0",
    "    for k in range(p.shape[0]):",
    "        out = out * x + p[k]",
    "    return out"]) + "\n"


# Writes into a part of an array (integers and slices: a view) of a whole array value, as the
# emitted code's statements: numba compiles a slice assignment of an array through its error
# message (the two shapes formatted into a string), about two seconds of a fresh process per
# rank; a ufunc writing into the part, or an in-place operator on it, compiles in a few
# milliseconds. Each stands for the statement in its first field (frontend/parse.py reads it
# back so, when emitted code is differentiated again).
UPDATES = {
    "_store": ("=", "\n".join([
        "def _store(part, value):",
        '    """part[...] = value (a tape keeping an iteration\'s array): numpy\'s copy through a ufunc."""',
        "    for d in range(value.ndim):          # (numba's ufunc writes into a smaller part unchecked)",
        "        if value.shape[d] != part.shape[d] and value.shape[d] != 1:",
        "            raise ValueError('could not broadcast the array into a row of its tape: its shape changed')",
        "    np.multiply(value, 1, part)"]) + "\n"),
    "_assign_into": ("=", "\n".join([
        "def _assign_into(part, value):",
        '    """part[...] = value for a part of an array: a copy through a ufunc (value copied first where it may share memory with part)."""',
        "    for d in range(1, value.ndim + 1):   # (numba's ufunc writes into a smaller part unchecked)",
        "        if value.shape[value.ndim - d] != part.shape[part.ndim - d] and value.shape[value.ndim - d] != 1:",
        "            raise ValueError('could not broadcast the assigned array into the part of the array it replaces')",
        "    low = high = part.ctypes.data",
        "    for d in range(part.ndim):",
        "        step = (part.shape[d] - 1) * part.strides[d]",
        "        low, high = (low + step, high) if step < 0 else (low, high + step)",
        "    value_low = value_high = value.ctypes.data",
        "    for d in range(value.ndim):",
        "        step = (value.shape[d] - 1) * value.strides[d]",
        "        value_low, value_high = (value_low + step, value_high) if step < 0 else (value_low, value_high + step)",
        "    if part.size > 0 and value.size > 0 and value_low <= high + part.itemsize - 1 and low <= value_high + value.itemsize - 1:",
        "        value = value.copy()",
        "    np.multiply(value, 1, part)"]) + "\n"),
    "_add_into": ("+", "\n".join([
        "def _add_into(part, value):",
        '    """part += value, in place, for a part of an array."""',
        "    part += value"]) + "\n"),
    "_subtract_from": ("-", "\n".join([
        "def _subtract_from(part, value):",
        '    """part -= value, in place, for a part of an array."""',
        "    part -= value"]) + "\n"),
}


def _masked_update(name: str, op: str) -> str:
    statement = {"=": "array[mask] = value", "+": "array[mask] += value", "-": "array[mask] -= value"}[op]
    write = {"=": "flat[i] = values[k * step]", "+": "flat[i] += values[k * step]",
             "-": "flat[i] -= values[k * step]"}[op]
    return "\n".join([
        f"def {name}(array, mask, value):",
        f'    """{statement} for a boolean mask of rank 2 or more (value: a number, or one per marked element)."""',
        "    values = np.asarray(value).ravel()",
        "    marks = mask.flat",
        "    count = 0",
        "    for i in range(mask.size):",
        "        if marks[i]:",
        "            count += 1",
        "    if values.size != count and values.size != 1:",
        "        raise ValueError('the value has not one element per marked element of the mask')",
        "    step = 1 if values.size == count else 0",
        "    flat = array.flat",
        "    k = 0",
        "    for i in range(mask.size):",
        "        if marks[i]:",
        f"            {write}",
        "            k += 1"]) + "\n"


# Writes through a boolean mask of rank 2 or more (`s[m] += g`), which numba cannot compile:
# element by element through the arrays' flat iterators, in the mask's (C) order, the order
# in which x[m] reads. Each stands for the statement in its first field (frontend/parse.py
# reads it back so: `_add_at_mask(s, m, g)` is `s[m] += g`).
MASKED_UPDATES = {name: (op, _masked_update(name, op)) for name, op in
                  (("_assign_at_mask", "="), ("_add_at_mask", "+"), ("_subtract_at_mask", "-"))}
MASKED_UPDATE_OF = {op: name for name, (op, _) in MASKED_UPDATES.items()}

UPDATE_OF = {"=": "_store", "+": "_add_into", "-": "_subtract_from"}
ASSIGN_INTO = "_assign_into"        # `=` of a whole array into a part of one (UPDATE_OF's: a tape's row)


def update_of(fn, masked=False):
    """The statement an emitted `_store`, `_add_into` or `_subtract_from` stands for ("=",
    "+", "-": `part[...] = value`, `part += value`, ...), else None; `masked`: of an emitted
    `_assign_at_mask`, `_add_at_mask` or `_subtract_at_mask` (`array[mask] += value`, ...)."""
    name, table = getattr(fn, "__name__", ""), MASKED_UPDATES if masked else UPDATES
    if name in table and getattr(fn, "__doc__", None) == table[name][1].splitlines()[1].strip()[3:-3]:
        return table[name][0]
    return None


# A matrix-vector product as a product of matrices with one column (or row): numba compiles
# np.dot once per pair of operand kinds, and a matrix-vector pair (gemv) costs about as much
# as a matrix pair (gemm) again, ~0.15-0.3 s of a fresh process each; a gradient meets
# several (h @ w forward; h.T @ s back). BLAS runs a one-column gemm as fast as gemv. The
# cpu backend inlines them at every call, so that the product compiles in the caller, once.
MATRIX_PRODUCTS = {
    "_matvec": "\n".join([
        "def _matvec(a, v):",
        '    """a @ v for a matrix a and a vector v, as a product of matrices (v a column)."""',
        "    return (a @ np.ascontiguousarray(v).reshape(v.shape[0], 1)).reshape(a.shape[0])"]) + "\n",
    "_vecmat": "\n".join([
        "def _vecmat(v, a):",
        '    """v @ a for a vector v and a matrix a, as a product of matrices (v a row)."""',
        "    return (np.ascontiguousarray(v).reshape(1, v.shape[0]) @ a).reshape(a.shape[1])"]) + "\n",
}


def matrix_product_of(fn):
    """np.matmul for an emitted `_matvec` or `_vecmat`, else None (emitted code read again:
    _vecmat's arguments keep the product's order, v then a)."""
    name = getattr(fn, "__name__", "")
    if name not in MATRIX_PRODUCTS or f'"""{getattr(fn, "__doc__", None)}"""' not in MATRIX_PRODUCTS[name]:
        return None
    import numpy as np
    return np.matmul


def where(rank: int, pattern: str) -> str:
    """np.where(c, a, b) of float values, c an array of rank `rank`; `pattern`: for a and b,
    "a" an array of that rank, "s" a number."""
    return f"_where_{rank}_{pattern}"


def _where(rank: int, pattern: str) -> str:
    """np.where(c, a, b) element by element, broadcasting size-1 axes: numba's np.where goes
    through np.broadcast_shapes and np.broadcast_to, whose error messages (shapes formatted
    into strings) take numba about two seconds to compile in a fresh process."""
    arrays = ["c"] + [x for x, p in zip("ab", pattern) if p == "a"]
    what = {"aa": "a and b arrays", "as": "a an array, b a number", "sa": "a a number, b an array",
            "ss": "a and b numbers"}[pattern]
    lines = [f"def _where_{rank}_{pattern}(c, a, b):",
             f'    """np.where(c, a, b) of floats, {what}: each element chosen in a loop."""']
    for d in range(rank):
        lines.append(f"    n{d} = c.shape[{d}]")
        for x in arrays[1:]:
            lines += [f"    if n{d} == 1:", f"        n{d} = {x}.shape[{d}]"]
        for x in arrays:
            lines += [f"    if {x}.shape[{d}] != n{d} and {x}.shape[{d}] != 1:",
                      "        raise ValueError('operands could not be broadcast together')"]
    for x in arrays:                          # 1 along an axis it has, 0 along one it broadcasts
        lines += [f"    {x}{d} = 1 if {x}.shape[{d}] == n{d} else 0" for d in range(rank)]
    shape = ", ".join(f"n{d}" for d in range(rank)) + ("," if rank == 1 else "")
    lines.append(f"    out = np.empty(({shape}), np.float64)")
    for d in range(rank):
        lines.append("    " + "    " * d + f"for i{d} in range(n{d}):")

    def at(x):
        return f"{x}[{', '.join(f'i{d} * {x}{d}' for d in range(rank))}]"
    a, b = (at(x) if p == "a" else x for x, p in zip("ab", pattern))
    index = ", ".join(f"i{d}" for d in range(rank))
    lines.append("    " + "    " * rank + f"out[{index}] = {a} if {at('c')} else {b}")
    lines.append("    return out")
    return "\n".join(lines) + "\n"


# math functions numba has only for numbers: scipy.special's ufuncs of arrays, element by element
EACH = ("erf", "erfc", "lgamma", "gamma")


def each(name: str) -> str:
    return f"_each_{name}"


# scipy's values at the poles (0, -1, -2, ..., -inf), where Python's math raises
_POLES = {"lgamma": "math.inf", "gamma": "np.divide(1.0, flat[k]) if flat[k] == 0.0 else math.nan"}


def _each(name: str) -> str:
    each_element = [f"        out[k] = math.{name}(flat[k])"]
    if name in _POLES:
        each_element = ["        if flat[k] <= 0.0 and flat[k] == np.floor(flat[k]):",
                        f"            out[k] = {_POLES[name]}",
                        "        else:",
                        f"    {each_element[0]}"]
    return "\n".join([
        f"def _each_{name}(x):",
        f'    """math.{name} of each element of an array."""',
        "    flat = np.ascontiguousarray(x).ravel()",
        "    out = np.empty(flat.size)",
        "    for k in range(flat.size):",
        *each_element,
        "    return out.reshape(x.shape)"]) + "\n"


# scipy.special.logsumexp, which numba cannot call: the largest element shifted out (not an
# infinite or nan one, where m - m is no 0: then the sum of exps gives scipy's value)
LOGSUMEXP, LOGSUMEXP_AXIS = "_logsumexp", "_logsumexp_axis"
_LOGSUMEXP = "\n".join([
    "def _logsumexp(x):",
    '    """scipy.special.logsumexp(x): log(sum(exp(x))), the largest element shifted out."""',
    "    m = np.max(x)",
    "    if m - m != 0.0:",
    "        m = 0.0",
    "    return m + np.log(np.sum(np.exp(x - m)))"]) + "\n"
_LOGSUMEXP_AXIS = "\n".join([
    "def _logsumexp_axis(x, axis):",
    '    """scipy.special.logsumexp(x, axis=axis) of a matrix: one value per row (axis 1) or column."""',
    "    y = np.ascontiguousarray(np.swapaxes(x, axis, -1))",
    "    out = np.empty(y.shape[0])",
    "    for i in range(y.shape[0]):",
    "        m = np.max(y[i])",
    "        if m - m != 0.0:",
    "            m = 0.0",
    "        out[i] = m + np.log(np.sum(np.exp(y[i] - m)))",
    "    return out"]) + "\n"
AXIS_FORMS.update({LOGSUMEXP: _LOGSUMEXP, LOGSUMEXP_AXIS: _LOGSUMEXP_AXIS})


# checkpoints=K (transforms/checkpoints.py: checkpointed): Griewank's binomial schedule. With s
# snapshots (the one held included) and l iterations to reverse, the fewest iterations run
# forward again is r*l - C(s+r, s+1), r the least with C(s+r, s) >= l; the first snapshot
# after the held one goes where that cost, split in two, is least (the cost is convex in it).
REVOLVE = "_revolve"
_REVOLVE = "\n".join([
    "def _revolve(steps, free):",
    '    """Iterations to run from the held snapshot before the next one (`steps`: none)."""',
    "    if free <= 0 or steps <= 1:",
    "        return steps",
    "    lo = 1",
    "    hi = steps - 1",
    "    while lo < hi:                      # the least m where the cost stops falling",
    "        m = (lo + hi) // 2",
    "        change = 1                      # cost(m + 1) - cost(m): one more iteration run, and",
    "        for k in range(4):              # the two parts' recomputations, after minus before",
    "            length = (m + 1, m, steps - m - 1, steps - m)[k]",
    "            snaps = free + 1 if k < 2 else free",
    "            r = 0",
    "            b = 1",
    "            while b < length:",
    "                r += 1",
    "                b = b * (snaps + r) // r",
    "            cost = r * length - b * r // (snaps + 1)",
    "            change += cost if k % 2 == 0 else -cost",
    "        if change >= 0:",
    "            hi = m",
    "        else:",
    "            lo = m + 1",
    "    return lo",
]) + "\n"
