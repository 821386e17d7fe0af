"""Device lowering (device.py) in about linear time, without touching its input (issue #18:
the first call of a batch on the cuda target lowers the whole adjoint).

The lowering copies only the statements it changes and shares the others with the optimized
adjoint it is given, so these tests check that the adjoint comes out unchanged, that lowering
it again gives the same device code, and the helpers that make the sharing safe.
"""

from __future__ import annotations

import time

import gast

from adjoint.ir import nodes
from adjoint.lower import device
from adjoint.lower.emit import emit_function
from adjoint.pipeline import differentiate
from tests.test_compiler_scaling import load_program, straight_line_source

# a tape (the loop carries t), numpy spellings in a loop and a branch, an unpacked array
# argument and its gathered gradient: every statement kind the lowering rewrites
PROGRAM = '''import numpy as np


def program(x, p, steps):
    a, b = p
    t = 0.0
    for i in range(steps):
        t = np.sin(t + x[i]) * a
    if t > 0.0:
        t = t + np.abs(b) / np.cosh(t)
    return t * b
'''


def _lowering_input(fn, **options):
    """The optimized adjoint that differentiate(fn, device=True) lowers, and the rest of
    lower_for_device's arguments."""
    g = differentiate(fn, device=True, **options)
    analysis = g.stages["analyze"]
    return g, (g.stages["optimize"], analysis.wrt, analysis.arrays, g.filename)


def _texts(code: device.DeviceCode):
    return emit_function(code.function), emit_function(code.sizes)


def test_lowering_2000_lines_takes_well_under_two_seconds():
    fn = load_program(straight_line_source(2000), "straight")
    _, arguments = _lowering_input(fn)
    times = []
    for _ in range(2):                     # the best of two: the machine may be shared
        start = time.process_time()
        device.lower_for_device(*arguments)
        times.append(time.process_time() - start)
    assert min(times) < 2.0, f"device lowering of 2,000 lines took {min(times):.2f} s of CPU (was 7.8 s)"


def test_lowering_leaves_the_adjoint_unchanged_and_repeats_itself():
    g, arguments = _lowering_input(load_program(PROGRAM, "program"), wrt=(0, 1))
    adjoint = arguments[0]
    before = emit_function(adjoint)
    first = _texts(device.lower_for_device(*arguments))
    assert emit_function(adjoint) == before
    assert _texts(device.lower_for_device(*arguments)) == first
    function, sizes = first
    assert "math.sin(" in function and "np.sin(" in before          # respelled in the copy only
    assert "a = p[0]" in function and "a, b = p" in before          # unpacked in the copy only
    # (max and min of two integers do not compile for cuda: spelled as comparisons there)
    assert "tape_t = work_f[0:0 + (0 if steps < 0 else steps)]" in function
    assert "return max(steps, 0), 0, 0" in sizes                    # (run on the host)
    assert function in g.device_source and sizes in g.device_source


def test_lowering_in_forward_mode_leaves_the_tangent_code_unchanged():
    g = differentiate(load_program(PROGRAM, "program"), wrt=(1,), mode="forward", device=True)
    analysis = g.stages["analyze"]
    tangent = g.stages["optimize"]
    before = emit_function(tangent)
    code = device.lower_for_device(tangent, analysis.wrt, analysis.arrays, g.filename, mode="forward")
    assert emit_function(tangent) == before
    assert all(text in g.device_source for text in _texts(code))


def _statement(source):
    return gast.parse(source).body[0]


def test_callees_names_every_call_and_shares_one_empty_set():
    stmt = _statement("y = np.sin(f(x)[i] + g.h(z, k=np.cos(w))) * -v")
    assert device._callees(stmt) == {"np.sin", "f", "g.h", "np.cos"}
    assert device._callees(_statement("y = x * 2.0")) is device._callees(_statement("z = -w"))
    assert device._callees(_statement("y = x[0](z)")) == {""}      # not a dotted name


def test_unflagged_copies_only_primal_statements():
    plain, primal = _statement("s_y = 2.0 * s_x"), _statement("y = 2.0 * x")
    primal.primal = True
    assert device._unflagged(plain) is plain
    copy = device._unflagged(primal)
    assert copy is not primal and copy.primal is False and primal.primal is True
    assert copy.value is primal.value                               # expressions are shared
    loop = nodes.for_range("i", [3], [plain, primal])
    loop_copy = device._unflagged(loop)
    assert loop_copy is not loop and loop.body == [plain, primal]
    assert loop_copy.body[0] is plain and loop_copy.body[1].primal is False
