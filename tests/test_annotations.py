"""Node annotations (adjoint/ir/annotations.py): declared once, read and written only through
the module, a misspelt name failing loudly, and kept by the passes that rebuild nodes."""

from __future__ import annotations

import pathlib
import re
import sys

import gast
import numpy as np
import pytest

import adjoint
import adjoint.pipeline
from adjoint.ir import annotations, nodes

PACKAGE = pathlib.Path(__file__).resolve().parent.parent / "adjoint"
SOURCES = sorted(p for p in PACKAGE.rglob("*.py") if p.name != "annotations.py")
NAMES = "|".join(annotations.ANNOTATIONS)


def _source_lines():
    for path in SOURCES:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            yield f"{path.relative_to(PACKAGE.parent)}:{number}", line


# --- the accessors ------------------------------------------------------------------------------

def test_a_declared_annotation_reads_its_default_until_set():
    call = nodes.call("np.sum", ["x"])
    assert annotations.get(call, "callee") is None
    assert not annotations.has(call, "callee")
    annotations.set(call, "callee", sum)
    assert annotations.get(call, "callee") is sum and annotations.has(call, "callee")
    annotations.drop(call, "callee")
    assert not annotations.has(call, "callee")
    annotations.drop(call, "callee")                 # dropping an absent one is no error


@pytest.mark.parametrize("use", [
    lambda node: annotations.get(node, "calee"),
    lambda node: annotations.set(node, "primall", True),
    lambda node: annotations.has(node, "source_line"),
    lambda node: annotations.drop(node, "carry"),
])
def test_a_misspelt_annotation_fails_loudly(use):
    with pytest.raises(annotations.UnknownAnnotation, match="adjoint/ir/annotations.py"):
        use(nodes.name("x"))


def test_the_error_suggests_the_declared_name():
    with pytest.raises(annotations.UnknownAnnotation, match="did you mean 'callee'"):
        annotations.get(nodes.name("x"), "calee")


def test_every_declaration_says_what_it_is():
    assert len(annotations.ANNOTATIONS) >= 17
    for name, a in annotations.ANNOTATIONS.items():
        assert a.name == name
        assert a.on and a.meaning and a.set_by and a.read_by, name
        assert isinstance(a.survives_rebuild, bool)
        hash(a.default)                              # a shared default must be immutable
    assert set(annotations.LOCATION) <= set(annotations.ANNOTATIONS)


def test_copy_to_keeps_what_still_holds_of_a_rebuilt_node():
    old = nodes.accumulate("s_x", "t_1")
    for name, value in [("source_text", "y = x * x"), ("source_file", "helper.py"), ("primal", True),
                        ("full_shape", True), ("alias_of", "t_1"), ("broadcast_view", True)]:
        annotations.set(old, name, value)
    new = annotations.copy_to(nodes.assign("s_x", "t_1"), old)
    assert annotations.on(new) == {"source_text": "y = x * x", "source_file": "helper.py", "primal": True}


def test_located_passes_on_the_user_line_and_file():
    origin = nodes.assign("y", "x")
    origin.lineno, origin.col_offset = 7, 4
    annotations.set(origin, "source_text", "y = x")
    annotations.set(origin, "source_file", "helper.py")
    annotations.set(origin, "primal", True)
    derived = nodes.located(nodes.assign("s_x", "s_y"), origin)
    assert (derived.lineno, derived.col_offset) == (7, 4)
    assert annotations.on(derived) == {"source_text": "y = x", "source_file": "helper.py"}


# --- the package uses them only through the module ---------------------------------------------

def test_no_annotation_is_read_or_written_ad_hoc():
    ad_hoc = re.compile(
        rf"""(getattr|hasattr|setattr|delattr)\([^,()]+, *["']({NAMES})["']"""
        rf"""|(?<![\w.`])(?!self\.|args\.)[a-z_][\w]*(\[[^\]]*\])?\.({NAMES})\s*(=[^=]|\[)"""
        rf"""|\bdel [a-z_]\w*\.({NAMES})\b"""
        rf"""|["']({NAMES})["'] in [a-z_]\w*\.__dict__"""
        rf"""|__dict__(\.get\(|\[)["']({NAMES})["']""")
    # errors.locate reads source_file itself: errors sits below ir, so it cannot import annotations
    allowed = {'filename = node.__dict__.get("source_file") or filename'}
    found = [f"{where}: {line.strip()}" for where, line in _source_lines()
             if ad_hoc.search(line) and line.strip() not in allowed]
    assert not found, "\n".join(found)


def test_every_annotation_used_is_declared():
    used = re.compile(r"""annotations\.(?:get|set|has|drop)\([^,()]+, *["'](\w+)["']""")
    names = {m.group(1) for _, line in _source_lines() for m in used.finditer(line)}
    assert names, "no use of the accessors found: the pattern is stale"
    assert names <= set(annotations.ANNOTATIONS), names - set(annotations.ANNOTATIONS)
    unused = set(annotations.ANNOTATIONS) - names - set(annotations.LOCATION)
    assert not unused, f"declared but never used: {unused}"


def test_the_regex_sees_an_ad_hoc_use():
    """The scan above would find the uses it forbids (so that its passing means something)."""
    pattern = re.compile(rf"""(getattr|hasattr)\([^,()]+, *["']({NAMES})["']""")
    assert pattern.search('x = getattr(stmt, "primal", False)')
    assert re.search(rf"""(?<![\w.])(?!self\.)[a-z_]\w*\.({NAMES})\s*(=[^=]|\[)""", "    push.checkpoint = True")


# --- a pass that rebuilds a node keeps what still holds of it ---------------------------------

def reduced_sine(x):
    return np.sum(np.max(np.sin(x), axis=0)) + x[0]


def reduced_twice(X):
    return np.sum(np.max(np.max(X, axis=0), axis=0)) + X[0, 0]


@pytest.mark.parametrize("fn, x", [
    (reduced_sine, np.linspace(0.1, 1.0, 5)),                  # rank 1 under the reduction, not 2
    (reduced_twice, np.arange(6.0).reshape(2, 3)),             # its inner reduction rewritten first
])
def test_the_compiled_primal_types_a_lowered_call_by_its_callee(fn, x):
    """lower_for_numba rewrites np.max(e, axis=0) into the runtime helper for e's rank, inner
    calls first. It used to guess rank 2 for any e not a name, and a call it had already
    rewritten lost its callee (so its type): `.primal` then failed to compile."""
    grad = adjoint.grad(fn)
    assert grad.primal(x) == pytest.approx(fn(x), rel=1e-12)
    source = adjoint.pipeline.differentiate(fn).primal_source
    assert "_max_axis_1(" in source


def test_lowering_keeps_the_callee_of_the_calls_it_rewrites():
    from adjoint.analysis import shapes
    from adjoint.frontend.parse import parse
    from adjoint.lower.for_numba import lower_for_numba

    tree = parse(reduced_twice).tree
    types = {"X": shapes.Type("float", 2)}
    lower_for_numba(tree, lambda node: shapes.type_of(node, types))
    lowered = [n for n in nodes.walk(tree) if isinstance(n, gast.Call) and nodes.dotted(n.func).startswith("_")]
    assert sorted(nodes.dotted(n.func) for n in lowered) == ["_max_axis_1", "_max_axis_2"]
    assert all(annotations.get(n, "callee") is np.max for n in lowered)


# --- nodes are built in ir/nodes ------------------------------------------------------------------

def test_nodes_are_built_only_in_ir_nodes():
    """ir/nodes holds the builders (its docstring says so): any other module calling a gast
    node class (gast.Assign(...), gast.Load(), gast.keyword(...)) should use one of them."""
    construction = re.compile(r"\bgast\.([A-Z]\w*|keyword|arguments|alias|comprehension|withitem)\(")
    found = [f"{where}: {line.strip()}" for where, line in _source_lines()
             if construction.search(line) and not where.startswith("adjoint/ir/nodes.py")]
    assert not found, "\n".join(found)
    assert construction.search("x = gast.Pass()") and construction.search("gast.keyword(arg='a', value=v)")


def _same(built, direct):
    assert gast.dump(built) == gast.dump(direct)
    assert type(built) is type(direct)


def test_the_builders_make_what_gast_would():
    x, y = nodes.name("x"), nodes.name("y")
    load = gast.Load()
    _same(nodes.compare(x, "==", 0), gast.Compare(left=x, ops=[gast.Eq()], comparators=[gast.Constant(0, None)]))
    _same(nodes.compare(x, gast.Gt(), y), gast.Compare(left=x, ops=[gast.Gt()], comparators=[y]))
    _same(nodes.binop(x, "@", y), gast.BinOp(left=x, op=gast.MatMult(), right=y))
    _same(nodes.binop(x, gast.Sub(), y), gast.BinOp(left=x, op=gast.Sub(), right=y))
    _same(nodes.boolop("and", [x, y]), gast.BoolOp(op=gast.And(), values=[x, y]))
    _same(nodes.not_(x), gast.UnaryOp(op=gast.Not(), operand=x))
    _same(nodes.ifexp(x, y, 0.0), gast.IfExp(test=x, body=y, orelse=gast.Constant(0.0, None)))
    _same(nodes.slice_(), gast.Slice(lower=None, upper=None, step=None))
    _same(nodes.tuple_of([x, y]), gast.Tuple(elts=[x, y], ctx=load))
    _same(nodes.list_of([x]), gast.List(elts=[x], ctx=load))
    _same(nodes.keyword("axis", y), gast.keyword(arg="axis", value=y))
    _same(nodes.pass_(), gast.Pass())
    _same(nodes.break_(), gast.Break())
    _same(nodes.continue_(), gast.Continue())
    _same(nodes.module([nodes.pass_()]), gast.Module(body=[gast.Pass()], type_ignores=[]))
    target = nodes.name("s", store=True)
    assign = nodes.assign_to(target, x)
    assert assign.targets[0] is target and assign.value is x           # the nodes themselves
    loop = nodes.for_("k", nodes.call("range", [3]), [nodes.pass_()])
    _same(loop, gast.For(target=nodes.name("k", store=True), iter=nodes.call("range", [3]),
                         body=[gast.Pass()], orelse=[], type_comment=None))


# --- an error inside an inlined helper points into the helper's file ----------------------------

HELPERS = """import numpy as np

# the helpers' lines lie below the caller's last line


def scaled_norm(X, v):
    t = X @ v
    return np.sum(t)


def squared_sum(v):
    t = v * v
    return np.sum(t)
"""

CALLERS = """import numpy as np
from annotated_helpers import scaled_norm, squared_sum
def through_matmul(X, v):
    return scaled_norm(X, v) + v[0]
def through_product(v):
    return squared_sum(v) + v[0]
"""


@pytest.fixture
def callers(tmp_path, monkeypatch):
    (tmp_path / "annotated_helpers.py").write_text(HELPERS)
    (tmp_path / "annotated_callers.py").write_text(CALLERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    for name in ("annotated_helpers", "annotated_callers"):
        sys.modules.pop(name, None)
    yield importlib.import_module("annotated_callers"), str(tmp_path / "annotated_helpers.py")
    for name in ("annotated_helpers", "annotated_callers"):
        sys.modules.pop(name, None)


def test_a_type_error_in_an_inlined_helper_shows_the_helpers_line(callers):
    module, helpers_file = callers
    with pytest.raises(adjoint.AdjointError) as raised:
        adjoint.grad(module.through_matmul)(np.ones((2, 2, 2)), np.ones(2))
    message = str(raised.value)
    assert f"{helpers_file}:7:5: matrix product of ranks 3 and 1" in message
    assert "t = X @ v" in message                          # the caret's line: the helper's


def test_a_device_error_in_an_inlined_helper_shows_the_helpers_line(callers):
    module, helpers_file = callers
    with pytest.raises(adjoint.AdjointError) as raised:
        adjoint.pipeline.differentiate(module.through_product, device=True)
    message = str(raised.value)
    assert f"{helpers_file}:12:5: whole-array arithmetic is not available on the cuda target" in message
    assert "t = v * v" in message
