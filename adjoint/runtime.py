"""What emitted code may call beyond math and numpy: small helpers, written into the module.

Each helper is plain numpy that numba compiles, specialized by rank so that every variable
keeps one type (numba's rule). The reverse transform asks for a helper by name; emit.py
writes the source of each one used at the top of the module, which stays standalone.

    _sum_to_2_1(g, shape)                a broadcast sensitivity summed back to a rank-1 shape
    _record_1(tape, top, tag, y, i)      remember y[i] before a loop overwrites it
    _undo_1(tape, top, tag, y)           put back the elements iteration `tag` overwrote
"""

from __future__ import annotations


def source(name: str) -> str:
    kind, *ranks = name.lstrip("_").split("_")
    if kind == "sum" and ranks[0] == "to":
        return _sum_to(int(ranks[1]), int(ranks[2]))
    if kind == "record":
        return _record(int(ranks[0]))
    if kind == "undo":
        return _undo(int(ranks[0]))
    raise KeyError(name)


def sum_to(value_rank: int, target_rank: int) -> str:
    return f"_sum_to_{value_rank}_{target_rank}"


def record(rank: int) -> str:
    return f"_record_{rank}"


def undo(rank: int) -> str:
    return f"_undo_{rank}"


def _sum_to(rv: int, rx: int) -> str:
    """Sum g (rank rv) down to `shape` (rank rx): leading axes away, then size-1 axes."""
    lines = [f"def _sum_to_{rv}_{rx}(g, shape):",
             f'    """Sum a broadcast rank-{rv} sensitivity back to a rank-{rx} shape."""',
             "    g0 = g"]
    current = 0
    for _ in range(rv - rx):
        lines.append(f"    g{current + 1} = np.sum(g{current}, axis=0)")
        current += 1
    for axis in range(rx):
        if rx == 1:                              # np.sum of a rank-1 array is a scalar
            summed = f"np.full(1, np.sum(g{current}))"
        else:
            kept = ", ".join("1" if k == axis else f"g{current}.shape[{k}]" for k in range(rx))
            summed = f"np.sum(g{current}, axis={axis}).reshape(({kept}))"
        lines += [f"    g{current + 1} = g{current}",
                  f"    if shape[{axis}] == 1 and g{current}.shape[{axis}] != 1:",
                  f"        g{current + 1} = {summed}"]
        current += 1
    lines.append(f"    return g{current}")
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
