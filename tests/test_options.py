"""pipeline.Options, the one record of what differentiate generates, and
batch.BatchableGradient, the one record a batch reads of its gradient object.

Options: its defaults, its checks (a wrong name or type is an AdjointArgumentError naming the
option and what it expects), and the disk cache key, which must change with every field.
BatchableGradient: its fields, that batch.py reads nothing else of the gradient, that a batch
runs from the record alone (checked against central differences), and that batch.py
imports nothing of gradient.py.
"""

import ast
import dataclasses
import math
import os

import numpy as np
import pytest

import adjoint
from adjoint import pipeline
from adjoint.analysis import shapes
from adjoint.api import batch, cache
from adjoint.api.batch import BatchableGradient
from adjoint.errors import AdjointArgumentError
from adjoint.options import Options
from tests.conftest import make_rng
from tests.oracles import finite_difference

PACKAGE = os.path.dirname(adjoint.__file__)


def weighted(x, c):
    return c * x[0] ** 2 + math.sin(x[1]) * x[0]


def writes_scratch(x, scratch):
    scratch[0] = x[0] * x[1]
    return scratch[0] + x[0]


# Options: defaults and checks ---------------------------------------------------------------

BOOLEAN_FIELDS = ("comments", "optimized", "return_value", "device", "cotangent", "recompute", "parallel")


def test_the_defaults_are_those_documented():
    assert dataclasses.asdict(Options()) == {
        "wrt": 0, "comments": True, "optimized": True, "return_value": False, "device": False,
        "signature": None, "mode": "reverse", "cotangent": False, "recompute": False,
        "parallel": False, "precision": "float64", "checkpoints": None, "memory_limit": None,
        "converts_arguments": False}


def test_fields_given_by_name_replace_those_of_the_record():
    plain = pipeline.differentiate(weighted)
    assert pipeline.differentiate(weighted, Options()).source == plain.source
    forward = pipeline.differentiate(weighted, Options(mode="forward"), wrt="c", comments=False)
    assert forward.wrt == ("c",)
    assert forward.name.startswith("jvp_") and "#" not in forward.source
    assert forward.source == pipeline.differentiate(weighted, wrt=1, mode="forward", comments=False).source


def test_the_record_is_frozen_and_hashable():
    options = Options(wrt=["x", "c"], signature={"x": shapes.Type("float", 1), "c": shapes.FLOAT})
    with pytest.raises(dataclasses.FrozenInstanceError):
        options.mode = "forward"
    assert options.wrt == ("x", "c")                             # a list is kept as a tuple
    assert options.signature == (("x", shapes.Type("float", 1)), ("c", shapes.FLOAT))   # in order
    assert options.signature_dict() == {"x": shapes.Type("float", 1), "c": shapes.FLOAT}
    assert hash(options) == hash(dataclasses.replace(options))
    assert Options(recompute=np.bool_(True)).recompute is True     # numpy's bools are bools


def test_an_unknown_option_is_named_with_the_options_there_are():
    with pytest.raises(AdjointArgumentError) as error:
        pipeline.differentiate(weighted, comment=False)
    assert "unknown option 'comment'" in str(error.value)
    assert all(f.name in str(error.value) for f in dataclasses.fields(Options))


@pytest.mark.parametrize("field", BOOLEAN_FIELDS)
def test_a_flag_that_is_no_bool_is_named(field):
    with pytest.raises(AdjointArgumentError, match=f"option {field}='yes': expected True or False"):
        pipeline.differentiate(weighted, **{field: "yes"})


@pytest.mark.parametrize("fields, expected", [
    ({"mode": "sideways"}, r"option mode='sideways': unknown mode, expected 'reverse' or 'forward'"),
    ({"signature": {"x": "float64[:]"}}, r"option signature=.*: expected a dict from argument names to shapes.Type"),
    ({"signature": 3}, r"option signature=3: expected a dict from argument names to shapes.Type"),
    ({"wrt": 1.5}, r"wrt=1.5: expected an argument index or name"),
    ({"precision": "float16"}, r"option precision='float16': expected 'float64' or 'float32'"),
    ({"wrt": ("x", True)}, r"wrt=True: expected an argument index or name"),
])
def test_a_value_of_the_wrong_kind_is_named_with_what_is_expected(fields, expected):
    with pytest.raises(AdjointArgumentError, match=expected):
        Options(**fields)


def test_a_second_positional_argument_must_be_an_options_record():
    with pytest.raises(AdjointArgumentError, match="expected an adjoint Options record") as error:
        pipeline.differentiate(weighted, 1)
    assert "wrt=" in error.value.hint


def test_grad_checks_its_options_through_the_record():
    with pytest.raises(AdjointArgumentError, match="option recompute='yes'"):
        adjoint.grad(weighted, recompute="yes")
    with pytest.raises(AdjointArgumentError, match="option mode='sideways'"):
        adjoint.grad(weighted, mode="sideways")


def test_the_gradient_objects_keep_the_options_they_generate_with():
    assert adjoint.grad(weighted, target="python", recompute=True).options.recompute
    assert adjoint.value_and_grad(weighted, target="python").options.return_value
    assert adjoint.vjp(weighted, target="python").options.cotangent
    assert adjoint.jvp(weighted, target="python").options.mode == "forward"
    assert adjoint.grad(weighted, target="python", jit_options={"parallel": True}).options.parallel
    assert adjoint.grad(weighted, "c", target="python").options == Options(wrt="c")


# the cache key --------------------------------------------------------------------------------

# a value other than the default for every field: a field added to Options without one here
# fails test_every_option_field_has_an_alternative, and then the key test below checks it
ALTERNATIVES = {"wrt": "c", "comments": False, "optimized": False, "return_value": True,
                "device": True, "signature": {"x": shapes.Type("float", 1)}, "mode": "forward",
                "cotangent": True, "recompute": True, "parallel": True, "precision": "float32",
                "checkpoints": 2, "memory_limit": "1GB", "converts_arguments": True}


def test_every_option_field_has_an_alternative():
    assert set(ALTERNATIVES) == {f.name for f in dataclasses.fields(Options)}


@pytest.fixture
def cache_folder(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    folder.mkdir(mode=0o700)
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(folder))
    return folder


def test_the_cache_key_changes_with_every_option(cache_folder):
    base = cache.key(weighted, Options(), target="cpu", jit={})
    assert base is not None and base == cache.key(weighted, Options(), target="cpu", jit={})
    keys = {}
    for field, value in ALTERNATIVES.items():
        keys[field] = cache.key(weighted, Options(**{field: value}), target="cpu", jit={})
        assert keys[field] != base, f"the cache key ignores the option {field!r}"
    assert len(set(keys.values())) == len(keys)
    assert cache.key(weighted, Options(), target="python", jit={}) != base
    assert cache.key(weighted, Options(), target="cpu", jit={"fastmath": True}) != base
    with pytest.raises(ValueError, match="'mode'"):            # a setting may not hide an option
        cache.key(weighted, Options(), mode="forward")


# batch's record of the gradient ---------------------------------------------------------------

def test_the_record_batch_reads_has_these_fields_and_is_frozen():
    assert [f.name for f in dataclasses.fields(BatchableGradient)] == [
        "name", "arg_names", "data_names", "wrt", "kind", "target", "written", "code", "drivers",
        "check_arguments", "call", "serial_adjoint", "device_module", "row_module", "filename",
        "rerun_in_python", "locate_failure", "compile_driver", "value"]
    record = adjoint.grad(weighted, target="python")._batchable(BatchableGradient)
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.kind = "jvp"


@pytest.mark.parametrize("make, kind", [
    (lambda f: adjoint.grad(f, target="python"), "grad"),
    (lambda f: adjoint.grad(f, target="python", mode="forward"), "forward"),
    (lambda f: adjoint.jvp(f, target="python"), "jvp"),
    (lambda f: adjoint.vjp(f, target="python"), "vjp"),
    (lambda f: adjoint.value_and_grad(f, target="python"), "grad"),
])
def test_the_record_describes_its_gradient(make, kind):
    gradient = make(writes_scratch)
    record = gradient._batchable(BatchableGradient)
    assert record.kind == kind and record.name == "writes_scratch" and record.target == "python"
    assert record.value == (gradient.transform == "value_and_grad")
    assert record.arg_names == ("x", "scratch") and record.wrt == ("x",)
    assert record.written == frozenset({"scratch"})
    assert record.code() is gradient.generated
    assert record.filename("batch") != record.filename("kernel")


def test_batch_reads_only_the_records_fields():
    """Every `gradient.X` in batch.py names a field of the record, and the record reaches no
    getattr, vars or hasattr there, which could read around it."""
    tree = ast.parse(open(os.path.join(PACKAGE, "api", "batch.py"), encoding="utf-8").read())
    fields = {f.name for f in dataclasses.fields(BatchableGradient)}
    read = {node.attr for node in ast.walk(tree)
            if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "gradient"}
    assert read and read <= fields, sorted(read - fields)
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                and node.func.id in ("getattr", "vars", "hasattr", "setattr"):
            assert not any(isinstance(a, ast.Name) and a.id == "gradient" for a in node.args)


def test_a_batch_runs_from_the_record_alone():
    """batch.run on the record (no gradient object in sight): each point's gradient and tangent
    agree with central differences; the record's drivers cache is the gradient's, kept across
    records."""
    rng = make_rng("options", "batch")
    points, c = rng.uniform(-1.0, 1.0, (5, 2)), 0.7
    gradient = adjoint.grad(weighted, target="python")
    record = gradient._batchable(BatchableGradient)
    rows = batch.run(record, (points, c), 0)
    for point, row in zip(points, rows):
        np.testing.assert_allclose(row, finite_difference(weighted, (point, c), 0), rtol=1e-6, atol=1e-8)
    assert record.drivers and gradient._batchable(BatchableGradient).drivers is record.drivers

    tangent = adjoint.jvp(weighted, target="python")._batchable(BatchableGradient)
    direction = np.array([0.3, -1.1])
    values, tangents = batch.run(tangent, (points, c, direction), 0)
    for point, value, derivative in zip(points, values, tangents):
        assert value == pytest.approx(weighted(point, c))
        along = finite_difference(lambda t, at=point: weighted(at + t * direction, c), (0.0,), 0)
        assert derivative == pytest.approx(along, rel=1e-6, abs=1e-8)


def test_the_record_renames_the_function_in_batch_messages():
    record = adjoint.grad(writes_scratch, target="python")._batchable(BatchableGradient)
    shared = np.zeros((3, 2))
    with pytest.raises(AdjointArgumentError, match=r"of renamed\(\) share memory"):
        batch.run(dataclasses.replace(record, name="renamed"), (shared, shared[0]), 0)


# the import graph -----------------------------------------------------------------------------

def import_graph() -> dict:
    """module -> the package modules it imports (`from .x import y`, `from .. import z`), at
    module level or inside functions."""
    modules = {}
    for folder, _, files in os.walk(PACKAGE):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(folder, name)
                parts = ["adjoint", *os.path.relpath(path[:-3], PACKAGE).split(os.sep)]
                modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for module, path in modules.items():
        package = module if path.endswith("__init__.py") else module.rpartition(".")[0]
        tree = ast.parse(open(path, encoding="utf-8").read())
        targets = set()
        for node in ast.walk(tree):
            if not (isinstance(node, ast.ImportFrom) and node.level):
                continue
            base = package.split(".")[:len(package.split(".")) - node.level + 1]
            target = ".".join(base + ([node.module] if node.module else []))
            if node.module:
                targets.add(target)
            for alias in node.names:                    # `from . import cache`: a module
                sub = f"{target}.{alias.name}"
                targets.add(sub if sub in modules else target)
        graph[module] = {t for t in targets if t in modules and t != module}
    return graph


def reached(graph, start) -> set:
    """The modules `start` imports, directly or through others."""
    seen, todo = set(), [start]
    while todo:
        for target in graph[todo.pop()] - seen:
            seen.add(target)
            todo.append(target)
    return seen


def test_batch_imports_nothing_of_the_gradient_module():
    """Not directly, not through another module, not inside a function (tests/test_layout.py
    checks the package for cycles)."""
    graph = import_graph()
    assert "adjoint.pipeline" in graph["adjoint.api.batch"]          # the graph sees its imports
    assert "adjoint.api.batch" in graph["adjoint.api.gradient"]       # lazy ones too
    assert "adjoint.api.gradient" not in reached(graph, "adjoint.api.batch")


def test_the_reach_follows_imports_through_other_modules():
    assert reached({"a": {"b"}, "b": {"c"}, "c": set(), "d": {"a"}}, "a") == {"b", "c"}
