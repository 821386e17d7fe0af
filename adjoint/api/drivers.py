"""The batch drivers' source: the small modules that run a gradient, tangent or forward-mode
gradient at every point of a batch (a prange loop on the cpu, one thread per point on cuda,
chunks of rows for the allocation-free cpu gradient), written as text like every other piece
of emitted code. Separate from batch.py, which checks a batch's arguments and runs them.
"""

from __future__ import annotations

import gast

from ..frontend.namespace import is_reserved


def driver_source(target, kind, callee, args, batched, ranks, stacked=(), copied=(), rows=False,
                  whole=(), value=False, lengths=None, guarded=False) -> str:
    """The driver that runs `callee` at every point: `batch_<callee>(...)` looping over the
    points (prange on the cpu), or `batch_kernel(...)`, one cuda thread per point.

    kind "grad": callee is the reverse-mode gradient; G_<w>[i] = its gradient at point i.
    kind "jvp": callee is jvp_<f>; D_<w> are the tangents (per point when w is in `stacked`);
        G_value[i], G_tangent[i] = the value and the directional derivative at point i.
    kind "forward": the gradient by forward mode, one jvp per component of each wrt argument,
        seeded through D_<w>, a zeroed direction row per point (array wrt arguments only).
    ranks: wrt argument -> rank of one point's value (0 for a scalar), in wrt order.
    copied: the arguments (and, for kinds jvp and forward, their tangents D_<w>) each call gets
        a copy of: those the function writes into, which the points would otherwise share.
    rows: (cpu) callee is the allocation-free device gradient (lower/device.py), as on cuda:
        array gradients are written into the point's output rows, and each of the prange's
        chunks of points uses one row of the workspaces; nothing is allocated per point.
    whole: (kind "grad", device code) the wrt arguments whose output row the callee assigns in
        full before reading it (lower/device.py's whole_rows): not zeroed first.
    value: (kind "grad") value_and_grad: G_value[i] = the function's value at point i, the
        first output; the callee returns it first (the gradient: `value, gradients`; device
        code: `value, scalar gradients...`).
    lengths: (rows) argument -> the one length the callee accepts for it (fixed_lengths), for
        a callee small enough to inline; None keeps the points' loop in the prange (below).
    guarded: (cpu) the callee raises (the user's `raise`, `assert`), and numba drops an
        exception raised in a prange: the rows driver with lengths catches it in each chunk
        and returns how many chunks failed; the other drivers loop over a plain range.
    Parameters: args, then D_<w>, then the outputs, then (cuda, rows) the workspaces work_f/i/b.

    With rows and lengths, each chunk of points runs `rows_<callee>(..., n_start, n_stop, work rows)`, a
    serial function (`serial_jit`: the callee's jit options; the callee is inlined into it)
    whose loop LLVM can vectorize across points: unsigned point indices (no negative-index
    wraparound), and the row lengths the callee accepts checked before the loop, so that
    each point's rows lie a constant stride apart. The prange loop itself only calls it.
    """
    safe = driver_names(args, callee)
    args, batched = [safe[a] for a in args], safe[batched]
    ranks = {safe[w]: rank for w, rank in ranks.items()}
    stacked, copied = [safe[w] for w in stacked], [safe[a] for a in copied]
    on_device = target == "cuda"
    point = [f"{a}[i]" if a == batched else a for a in args]
    point = [f"{p}.copy()" if a in copied else p for a, p in zip(args, point)]
    work = ["work_f", "work_i", "work_b"] if on_device or rows else []

    def call(extra):
        chunked = rows and lengths is not None          # the chunk function gets its workspace rows
        return f"{callee}({', '.join(point + extra + (work if chunked else _at(work, 'work_row' if rows else 'i')))})"
    build = {"grad": _gradient_body, "jvp": _jvp_body, "forward": _forward_body}[kind]
    inputs, outputs, body = build(call, ranks, on_device=on_device or rows, stacked=stacked, copied=copied,
                                  whole=[safe[w] for w in whole], **({"value": True} if value else {}))
    params = ", ".join(args + inputs + outputs + work)
    if on_device:
        head = [f"def batch_kernel({params}):", "    i = cuda.grid(1)", f"    if i < {batched}.shape[0]:"]
    elif rows and lengths is not None:     # chunk work_row of the points uses workspace row work_row
        return _rows_source(callee, args + inputs + outputs, batched, body, ranks, lengths, safe, guarded)
    elif rows:
        head = [f"def batch_{callee}({params}):", f"    n_points = {batched}.shape[0]",
                "    n_rows = work_f.shape[0]", f"    for work_row in {_loop(guarded)}(n_rows):",
                "        for i in range(work_row * n_points // n_rows, (work_row + 1) * n_points // n_rows):"]
        return "\n".join(head + ["            " + line for line in body]) + "\n"
    else:
        loop = _loop(guarded) if target == "cpu" else "range"
        head = [f"def batch_{callee}({params}):", f"    for i in {loop}({batched}.shape[0]):"]
    return "\n".join(head + ["        " + line for line in body]) + "\n"


def _loop(guarded):
    return "range" if guarded else "numba.prange"


def _rows_source(callee, params, batched, body, ranks, lengths, safe, guarded):
    """driver_source's cpu rows driver: the prange over chunks of points, and the serial
    function it calls on each chunk. numba drops an exception raised in a prange: where the
    callee raises one (`guarded`), each chunk catches it and the driver returns how many
    chunks stopped at a failing point (batch.py then finds the point and raises its error)."""
    checks = [(batched, lengths.get(b)) for b in safe if safe[b] == batched]
    checks += [(f"G_{w}", lengths.get(a)) for a, w in safe.items() if w in ranks and ranks[w] == 1]
    checks = [(array, n) for array, n in checks if n is not None and array in params]
    chunk = ["@serial_jit", f"def rows_{callee}({', '.join(params + ['n_start', 'n_stop', 'work_f', 'work_i', 'work_b'])}):"]
    if checks:                             # the lengths the callee accepts: a constant stride between rows
        test = " or ".join(f"{array}.shape[1] != {n}" for array, n in checks)
        chunk += [f"    if {test}:", "        raise ValueError('a point has the wrong length')"]
    chunk += ["    for i in range(np.uintp(n_start), np.uintp(n_stop)):"]
    call = (f"rows_{callee}({', '.join(params)}, work_row * n_points // n_rows, "
            "(work_row + 1) * n_points // n_rows, work_f[work_row], work_i[work_row], work_b[work_row])")
    driver = [f"def batch_{callee}({', '.join(params + ['work_f', 'work_i', 'work_b'])}):",
              f"    n_points = {batched}.shape[0]", "    n_rows = work_f.shape[0]"]
    if not guarded:
        chunk += ["        " + line for line in body]
        driver += ["    for work_row in numba.prange(n_rows):", f"        {call}"]
    else:                                  # the callee raises: each chunk says whether a point did
        chunk += ["        try:"] + ["            " + line for line in body] + \
                 ["        except Exception:", "            return 1", "    return 0"]
        driver += ["    failures = 0", "    for work_row in numba.prange(n_rows):", f"        failures += {call}",
                   "    return failures"]
    return "\n".join(chunk + ["", ""] + driver) + "\n"


def fixed_lengths(function) -> dict:
    """The parameters of the (device) function `function` whose length it checks on entry,
    before anything else (`if x.shape[0] != 4: raise ...`, from unpacking `a, b, c, d = x`):
    parameter -> that length."""
    params, lengths = {a.id for a in function.args.args}, {}
    for stmt in function.body:
        if not (isinstance(stmt, gast.If) and len(stmt.body) == 1 and isinstance(stmt.body[0], gast.Raise)
                and not stmt.orelse):
            break
        test = stmt.test
        if isinstance(test, gast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], gast.NotEq) \
                and isinstance(test.left, gast.Subscript) and isinstance(test.left.value, gast.Attribute) \
                and test.left.value.attr == "shape" and isinstance(test.left.value.value, gast.Name) \
                and test.left.value.value.id in params and isinstance(test.left.slice, gast.Constant) \
                and test.left.slice.value == 0 and isinstance(test.comparators[0], gast.Constant) \
                and type(test.comparators[0].value) is int:
            lengths.setdefault(test.left.value.value.id, test.comparators[0].value)
    return lengths


def _gradient_body(call, ranks, on_device, stacked, copied, whole, value=False):
    # device code writes array gradients into its output rows, which must start at zero
    # unless the code assigns every element before reading any
    passed = [w for w in ranks if ranks[w]] if on_device else []
    body = [line for w in passed if w not in whole
            for line in _each_element(f"G_{w}", ranks[w], [f"G_{w}[{{k}}] = 0.0"])]
    returned = [f"G_{w}" for w in ranks if w not in passed]
    values = ["G_value"] if value else []
    if value and not on_device:            # the gradient returns (value, gradients)
        gradients = ["result[1]"] if len(returned) == 1 else [f"result[1][{k}]" for k in range(len(returned))]
        body += [f"result = {call([])}", "G_value[i] = result[0]"]
        body += [f"{g}[i] = {r}" for g, r in zip(returned, gradients)]
    else:
        body += _store(call(_at(f"G_{w}" for w in passed)), _at(values + returned))
    return [], values + [f"G_{w}" for w in ranks], body


def _jvp_body(call, ranks, on_device, stacked, copied, whole):
    tangents = [f"D_{w}[i]" if w in stacked else f"D_{w}" for w in ranks]
    tangents = [f"{t}.copy()" if w in copied and ranks[w] else t for w, t in zip(ranks, tangents)]
    outputs = ["G_value", "G_tangent"]
    return [f"D_{w}" for w in ranks], outputs, _store(call(tangents), _at(outputs))


def _forward_body(call, ranks, on_device, stacked, copied, whole):
    body = []
    for w in ranks:
        seeds = [(f"D_{v}[i].copy()" if v in copied else f"D_{v}[i]") if ranks[v] else
                 "1.0" if v == w else "0.0" for v in ranks]
        tangent = call(seeds) + "[1]"
        if not ranks[w]:
            body.append(f"G_{w}[i] = {tangent}")
            continue                       # an array: seed each component in turn, then unseed
        body += _each_element(f"D_{w}", ranks[w], [f"D_{w}[{{k}}] = 1.0", f"G_{w}[{{k}}] = {tangent}",
                                                  f"D_{w}[{{k}}] = 0.0"])
    return [f"D_{w}" for w in ranks if ranks[w]], [f"G_{w}" for w in ranks], body


def _at(names, index="i"):
    return [f"{n}[{index}]" for n in names]


def _store(call, targets):
    if not targets:
        return [call]
    if len(targets) == 1:
        return [f"{targets[0]} = {call}"]
    return [f"result = {call}"] + [f"{t} = result[{k}]" for k, t in enumerate(targets)]


def _each_element(array, rank, statements):
    """`statements` for every element of row i of `array`, `{k}` standing for its index."""
    index = ", ".join(["i"] + [f"k{d}" for d in range(rank)])
    loops = [" " * 4 * d + f"for k{d} in range({array}.shape[{d + 1}]):" for d in range(rank)]
    return loops + [" " * 4 * rank + s.format(k=index) for s in statements]


def driver_names(args, callee) -> dict:
    """The name each argument has in a driver: its own, unless it would hide a name the driver
    uses (`i`, `np`, `numba`, `cuda`, the callee, a runtime helper, a G_/D_/work_ buffer); the
    drivers are called positionally, so a renamed parameter changes nothing for the caller."""
    def clashes(a):
        return (is_reserved(a) or a in ("i", "result", "value", callee, "batch_kernel", "batch_sizes", "serial_jit")
                or a.startswith(("G_", "D_", "work_", "most_", "n_", "batch_", "rows_")))
    taken, safe = set(args), {}
    for a in args:
        name = a
        if clashes(a):
            name = f"arg_{a}"
            while name in taken:
                name += "_"
        safe[a] = name
        taken.add(name)
    return safe


def sizes_driver_source(sizes_name, args, batched) -> str:
    """`batch_sizes(args...)`: the largest tape sizes (floats, ints, bools) over the points."""
    safe = driver_names(args, sizes_name)
    args, batched = [safe[a] for a in args], safe[batched]
    call_args = ", ".join(f"{a}[i]" if a == batched else a for a in args)
    return "\n".join([
        f"def batch_sizes({', '.join(args)}):",
        "    most_f, most_i, most_b = 0, 0, 0",
        f"    for i in range({batched}.shape[0]):",
        f"        n_f, n_i, n_b = {sizes_name}({call_args})",
        "        most_f, most_i, most_b = max(most_f, n_f), max(most_i, n_i), max(most_b, n_b)",
        "    return most_f, most_i, most_b"]) + "\n"
