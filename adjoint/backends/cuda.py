"""The cuda target: device functions and a one-thread-per-point kernel, through numba.cuda.

numba.cuda comes from NVIDIA's numba-cuda package when installed (`pip install adjoint[cuda]`),
else from numba's built-in (deprecated) copy; NUMBA_ENABLE_CUDASIM=1 runs either on the CPU.
"""

from __future__ import annotations

import types

from . import python


def compile_module(module: dict, name: str, options=None):
    """Jit every function of a loaded module as a cuda device function."""
    from numba import cuda
    for key, value in list(module.items()):
        if isinstance(value, types.FunctionType):
            module[key] = cuda.jit(device=True, **(options or {}))(value)
    return module[name]


def compile_kernel(kernel_source: str, filename: str, device_module: dict):
    """The batch kernel, calling the device functions of `device_module`."""
    from numba import cuda
    module = python.load(kernel_source, filename, {**device_module, "cuda": cuda})
    return cuda.jit(module["batch_kernel"])


def to_device(value):
    from numba import cuda
    return value if is_device_array(value) else cuda.to_device(value)


def device_zeros(shape, dtype):
    from numba import cuda
    return cuda.device_array(shape, dtype)


def is_device_array(value) -> bool:
    # duck-typed: the simulator's arrays have no __cuda_array_interface__ check function
    return hasattr(value, "copy_to_host") or hasattr(value, "__cuda_array_interface__")


def launch(kernel, points: int, args):
    threads = 128
    blocks = max(1, (points + threads - 1) // threads)
    kernel[blocks, threads](*args)
