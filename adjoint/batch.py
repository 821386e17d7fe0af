"""Batched gradients: one gradient per input point, the points stacked along axis 0.

    g = adjoint.grad(f, target="cpu")      # or "cuda"; mode="forward" too
    G = g.batch(X, n)                      # X[i] is one point; n is shared by all points
    F, T = adjoint.jvp(f).batch(X, n, V)   # values and tangents; V[i] or one V for all points

On the cpu target the batch runs a `prange` loop over points (numba parallel=True); on the
cuda target one GPU thread per point calls the allocation-free device gradient or tangent
(see device.py), with tapes in per-thread rows of a workspace the host sized beforehand.
The forward-mode gradient runs one tangent per input component, seeding a per-point
direction row. This module writes those small drivers as source, like every other piece
of emitted code.
"""

from __future__ import annotations

import numpy as np

from .errors import AdjointArgumentError


def driver_source(target, kind, callee, args, batched, ranks, stacked=()) -> str:
    """The driver that runs `callee` at every point: `batch_<callee>(...)` looping over the
    points (prange on the cpu), or `batch_kernel(...)`, one cuda thread per point.

    kind "grad": callee is the reverse-mode gradient; G_<w>[i] = its gradient at point i.
    kind "jvp": callee is jvp_<f>; D_<w> are the tangents (per point when w is in `stacked`);
        G_value[i], G_tangent[i] = the value and the directional derivative at point i.
    kind "forward": the gradient by forward mode, one jvp per component of each wrt argument,
        seeded through D_<w>, a zeroed direction row per point (array wrt arguments only).
    ranks: wrt argument -> rank of one point's value (0 for a scalar), in wrt order.
    Parameters: args, then D_<w>, then the outputs, then (cuda) the workspaces work_f/i/b.
    """
    on_device = target == "cuda"
    point = [f"{a}[i]" if a == batched else a for a in args]
    work = ["work_f", "work_i", "work_b"] if on_device else []

    def call(extra):
        return f"{callee}({', '.join(point + extra + _at(work))})"
    build = {"grad": _gradient_body, "jvp": _jvp_body, "forward": _forward_body}[kind]
    inputs, outputs, body = build(call, ranks, on_device=on_device, stacked=stacked)
    params = ", ".join(args + inputs + outputs + work)
    if on_device:
        head = [f"def batch_kernel({params}):", "    i = cuda.grid(1)", f"    if i < {batched}.shape[0]:"]
    else:
        loop = "numba.prange" if target == "cpu" else "range"
        head = [f"def batch_{callee}({params}):", f"    for i in {loop}({batched}.shape[0]):"]
    return "\n".join(head + ["        " + line for line in body]) + "\n"


def _gradient_body(call, ranks, on_device, stacked):
    # device code writes array gradients into its output rows, which must start at zero
    passed = [w for w in ranks if ranks[w]] if on_device else []
    body = [line for w in passed for line in _each_element(f"G_{w}", ranks[w], [f"G_{w}[{{k}}] = 0.0"])]
    body += _store(call(_at(f"G_{w}" for w in passed)), _at(f"G_{w}" for w in ranks if w not in passed))
    return [], [f"G_{w}" for w in ranks], body


def _jvp_body(call, ranks, on_device, stacked):
    tangents = [f"D_{w}[i]" if w in stacked else f"D_{w}" for w in ranks]
    outputs = ["G_value", "G_tangent"]
    return [f"D_{w}" for w in ranks], outputs, _store(call(tangents), _at(outputs))


def _forward_body(call, ranks, on_device, stacked):
    body = []
    for w in ranks:
        seeds = [f"D_{v}[i]" if ranks[v] else "1.0" if v == w else "0.0" for v in ranks]
        tangent = call(seeds) + "[1]"
        if not ranks[w]:
            body.append(f"G_{w}[i] = {tangent}")
            continue                       # an array: seed each component in turn, then unseed
        body += _each_element(f"D_{w}", ranks[w], [f"D_{w}[{{k}}] = 1.0", f"G_{w}[{{k}}] = {tangent}",
                                                  f"D_{w}[{{k}}] = 0.0"])
    return [f"D_{w}" for w in ranks if ranks[w]], [f"G_{w}" for w in ranks], body


def _at(names):
    return [f"{n}[i]" for n in names]


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


def sizes_driver_source(sizes_name, args, batched) -> str:
    """`batch_sizes(args...)`: the largest tape sizes (floats, ints, bools) over the points."""
    call_args = ", ".join(f"{a}[i]" if a == batched else a for a in args)
    return "\n".join([
        f"def batch_sizes({', '.join(args)}):",
        "    most_f, most_i, most_b = 0, 0, 0",
        f"    for i in range({batched}.shape[0]):",
        f"        n_f, n_i, n_b = {sizes_name}({call_args})",
        "        most_f, most_i, most_b = max(most_f, n_f), max(most_i, n_i), max(most_b, n_b)",
        "    return most_f, most_i, most_b"]) + "\n"


def batched_index(arg_names, batched) -> int:
    if isinstance(batched, str):
        if batched not in arg_names:
            raise AdjointArgumentError(f"batched={batched!r}: no such argument; "
                                       f"the arguments are {', '.join(arg_names)}")
        return arg_names.index(batched)
    if not isinstance(batched, int) or not 0 <= batched < len(arg_names):
        raise AdjointArgumentError(f"batched={batched!r}: expected an argument index or name")
    return batched


def output_arrays(points, wrt, array_args, args_by_name, allocate=np.empty):
    """One output per wrt argument: (points,) for scalars, (points, *shape) for arrays."""
    outputs = {}
    for w in wrt:
        value = args_by_name[w]
        shape = (points,) + (np.shape(value) if w in array_args else ())
        dtype = value.dtype if isinstance(value, np.ndarray) and value.dtype.kind == "f" else np.float64
        outputs[w] = allocate(shape, dtype)
    return outputs
