"""Batched gradients: one gradient per input point, the points stacked along axis 0.

    g = adjoint.grad(f, target="cpu")      # or "cuda"
    G = g.batch(X, n)                      # X[i] is one point; n is shared by all points

On the cpu target the batch runs a `prange` loop over points (numba parallel=True); on the
cuda target one GPU thread per point calls the allocation-free device gradient
(see device.py), with tapes in per-thread rows of a workspace the host sized beforehand.
This module writes those small drivers as source, like every other piece of emitted code.
"""

from __future__ import annotations

import numpy as np

from .errors import AdjointArgumentError


def cpu_driver_source(name, args, batched, wrt, parallel=True) -> str:
    """`batch_<name>(args..., G_w...)`: G_w[i] = gradient at point i."""
    loop = "numba.prange" if parallel else "range"
    call_args = ", ".join(f"{a}[i]" if a == batched else a for a in args)
    outputs = [f"G_{w}" for w in wrt]
    lines = [f"def batch_{name}({', '.join(args + outputs)}):",
             f"    for i in {loop}({batched}.shape[0]):",
             f"        result = {name}({call_args})"]
    if len(wrt) == 1:
        lines.append(f"        G_{wrt[0]}[i] = result")
    else:
        lines += [f"        G_{w}[i] = result[{k}]" for k, w in enumerate(wrt)]
    return "\n".join(lines) + "\n"


def cuda_kernel_source(device_name, args, batched, array_outputs, scalar_outputs) -> str:
    """`batch_kernel(args..., G_w..., work_f, work_i, work_b)`: one thread per point."""
    outputs = [f"G_{w}" for w in array_outputs + scalar_outputs]
    call_args = [f"{a}[i]" if a == batched else a for a in args]
    call_args += [f"G_{w}[i]" for w in array_outputs] + ["work_f[i]", "work_i[i]", "work_b[i]"]
    lines = [f"def batch_kernel({', '.join(args + outputs + ['work_f', 'work_i', 'work_b'])}):",
             "    i = cuda.grid(1)",
             f"    if i < {batched}.shape[0]:"]
    for w in array_outputs:                                  # gradients accumulate: start at 0
        lines += [f"        for k in range(G_{w}.shape[1]):", f"            G_{w}[i, k] = 0.0"]
    call = f"{device_name}({', '.join(call_args)})"
    if not scalar_outputs:
        lines.append(f"        {call}")
    elif len(scalar_outputs) == 1:
        lines.append(f"        G_{scalar_outputs[0]}[i] = {call}")
    else:
        lines.append(f"        result = {call}")
        lines += [f"        G_{w}[i] = result[{k}]" for k, w in enumerate(scalar_outputs)]
    return "\n".join(lines) + "\n"


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
