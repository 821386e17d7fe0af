"""The reverse and analyze stages' own cost (issue #15, item 9), and the helpers that keep it
low: rule templates (rule_registry.Template) build the same trees the substitution they
replace built, for every registered rule."""

from __future__ import annotations

import ast
import gc
import math
import time

import gast
import numpy as np
import pytest

from adjoint.analysis import shapes
from adjoint.analysis.activity import analyze
from adjoint.frontend.normalize import normalize
from adjoint.frontend.parse import parse
from adjoint.ir import nodes
from adjoint.ir.names import Namer
from adjoint.pipeline import _user_names, deep_recursion
from adjoint.primitives import rules
from adjoint.transforms.forward import forward
from adjoint.transforms.reverse import reverse
from tests import array_corpus
from tests.test_compiler_scaling import load_program, straight_line_source

# rule templates ------------------------------------------------------------------------------


def substituted(expression, mapping):
    """What instantiating a rule did before templates: clone, then replace each mapped Name
    by a copy of its node, placed at the Name's position."""
    class Substitute(gast.NodeTransformer):
        def visit_Name(self, node):
            if node.id in mapping:
                return gast.copy_location(nodes.clone(mapping[node.id]), node)
            return node
    return Substitute().visit(nodes.clone(expression))


def assert_same_tree(built, expected, originals=()):
    """Equal node types and attributes all the way down (positions and flags included), and
    no node shared with `originals` (a built tree is a fresh copy)."""
    shared = {id(n) for original in originals for n in gast.walk(original)}
    todo = [(built, expected)]
    while todo:
        a, b = todo.pop()
        assert type(a) is type(b)
        if isinstance(a, list):
            assert len(a) == len(b)
            todo += zip(a, b)
        elif isinstance(a, gast.AST):
            assert id(a) not in shared
            assert list(a.__dict__) == list(b.__dict__)
            todo += [(a.__dict__[k], b.__dict__[k]) for k in a.__dict__]
        else:
            assert a == b


def located_name(identifier, line):
    node = nodes.name(identifier)
    node.lineno, node.col_offset, node.end_lineno, node.end_col_offset = line, 4, line, 9
    node.source_text = f"t = {identifier}"
    return node


def operands_for(params):
    """Located names for all parameters but the second, which gets a constant."""
    return [nodes.const(2.5) if k == 1 else located_name(f"v_{p}", k + 1) for k, p in enumerate(params)]


def scalar_rules():
    return sorted({id(r): r for r in rules.RULES.values()}.values(), key=lambda r: r.partials.__qualname__)


@pytest.mark.parametrize("rule", scalar_rules(), ids=lambda r: r.partials.__qualname__)
def test_scalar_rule_templates_build_the_substituted_trees(rule):
    args = operands_for(rule.params)
    mapping = dict(zip(rule.params, args))
    if rule.uses_out:
        mapping["out"] = nodes.name("t_out")
    expected = [substituted(e, mapping) for e in rule.expressions]
    for built, wanted in zip(rule.instantiate(args, "t_out"), expected):
        assert_same_tree(built, wanted, [*rule.expressions, *args])
    # elementwise: vectorizing the instantiated partial (the fallback) or the template agree
    for built, wanted in zip(rule.instantiate(args, "t_out", elementwise=True), expected):
        assert_same_tree(built, rules.vectorized(wanted), [*rule.expressions, *args])
    # an operand no sensitivity reaches is not built
    skipped = rule.instantiate(args, "t_out", wanted=[k != 0 for k in range(len(args))])
    assert skipped[0] is None
    for built, wanted in zip(skipped[1:], expected[1:]):
        assert_same_tree(built, wanted)
    # the names the partials load, read off the templates
    for elementwise in (False, True):
        partials = rule.instantiate(args, "t_out", elementwise)
        assert rule.loads(args, "t_out", elementwise) == [nodes.loads_in(p) for p in partials]
    assert rule.loads(args, "t_out", wanted=[False] * len(args)) == [None] * len(args)
    # ... and their union, read off a plan kept per number of operands (the analysis's)
    for elementwise in (False, True):
        for wanted in (None, [k != 0 for k in range(len(args))], [False] * len(args)):
            loads = rule.loads(args, "t_out", elementwise, wanted)
            assert rule.loaded(args, "t_out", elementwise, wanted) == set().union(*(p for p in loads if p))


def test_elementwise_partials_of_expression_operands_are_vectorized_after_substitution():
    sin = rules.lookup(math.sin)
    operand = gast.parse("np.exp(x)").body[0].value        # not an atom
    built = sin.instantiate([operand], "t", elementwise=True)[0]
    assert_same_tree(built, rules.vectorized(substituted(sin.expressions[0], {"x": operand})))
    assert sin.loads([operand], "t", elementwise=True) == [nodes.loads_in(built)] == [{"np", "x"}]
    assert sin.loaded([operand], "t", elementwise=True) == {"np", "x"}


def array_rules():
    # np.einsum's rules are made per call from its subscripts (primitives/rules/linalg.py, test_linalg)
    return [r for variants in rules.ARRAY_RULES.values() for r in variants if r.primitive is not np.einsum]


@pytest.mark.parametrize("rule", array_rules(), ids=lambda r: r.vjp.__qualname__)
def test_array_rule_templates_build_the_substituted_trees(rule):
    args, g = operands_for(rule.params), located_name("s_9", 9)
    mapping = {**dict(zip(rule.params, args)), "g": g}
    if rule.uses_out:
        mapping["out"] = nodes.name("t_out")
    for built, e in zip(rule.instantiate(args, "t_out", g), rule.expressions):
        if e is None:
            assert built is None
        else:
            assert_same_tree(built, substituted(e, mapping), [e, *args, g])


@pytest.mark.parametrize("rule", [r for variants in rules.TANGENT_RULES.values() for r in variants
                                  if r.primitive is not np.einsum],
                         ids=lambda r: r.jvp.__qualname__)
def test_tangent_rule_templates_build_the_substituted_trees(rule):
    args = operands_for(rule.params)
    tangents = [located_name(f"d_{p}", 20 + k) for k, p in enumerate(rule.params)]
    mapping = {**dict(zip(rule.params, args)), **{"d" + p: t for p, t in zip(rule.params, tangents)}}
    if rule.uses_out:
        mapping["out"] = nodes.name("t_out")
    for built, e in zip(rule.instantiate(args, tangents, "t_out"), rule.expressions):
        if e is None:
            assert built is None
        else:
            assert_same_tree(built, substituted(e, mapping), [e, *args, *tangents])


@pytest.mark.parametrize("rule", list(rules.PARTS_RULES.values()), ids=lambda r: r.vjp.__qualname__)
def test_parts_rule_templates_build_the_substituted_trees(rule):
    part, k, g = located_name("a", 3), nodes.const(1), nodes.name("s_1")
    size = nodes.subscript(nodes.attribute("a.shape"), 0)
    offset = nodes.binop(nodes.const(0), "+", nodes.subscript(nodes.attribute("a.shape"), 0))
    mapping = {"part": part, "k": k, "offset": offset, "size": size, "g": g}
    assert_same_tree(rule.instantiate(part, k, offset, size, g), substituted(rule.expression, mapping),
                     [rule.expression, part, k, offset, size, g])


# a complete signature -------------------------------------------------------------------------


VECTOR, MATRIX = shapes.Type("float", 1), shapes.Type("float", 2)


@pytest.mark.parametrize("fn, given", [(array_corpus.least_squares, {"y": VECTOR, "x": VECTOR, "A": MATRIX}),
                                       (array_corpus.array_state, {"steps": shapes.INT, "x": VECTOR})],
                         ids=["least_squares", "array_state"])
def test_a_complete_signature_gives_the_types_the_guessed_one_completed_did(fn, given):
    """analyze skips guessing types from the source when the call's types cover every
    argument; the types (and their order) are those the guess overridden by them gave."""
    parsed = parse(fn)
    normalized = normalize(parsed, Namer(_user_names(parsed.tree)))
    wrt = (parsed.args[0],)
    expected = shapes.infer(normalized, {**shapes.default_signature(normalized, wrt), **given})
    assert list(analyze(normalized, wrt, given).types.items()) == list(expected.items())


# the stages' cost ----------------------------------------------------------------------------


def normalized_straight_line(lines, folder):
    fn = load_program(straight_line_source(lines), "straight", folder)
    parsed = parse(fn)
    normalized = normalize(parsed, Namer(_user_names(parsed.tree)))
    return parsed, normalized


def cpu_seconds(run):
    """CPU time of run(), the cyclic garbage collector paused: its full passes cost in
    proportion to every object the process holds (pytest's own included), not the stage's."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        start = time.process_time()
        run()
        return time.process_time() - start
    finally:
        if enabled:
            gc.enable()


def test_analyze_and_reverse_of_2000_straight_lines_take_little_time(tmp_path):
    """Both took about 1.9 s together (analyze 1.0 s, reverse 0.9 s, without the collector),
    forward mode 0.55 s: rules instantiated by clone-and-transform, fixpoints rescanning every
    statement per round, whole-function walks per statement. Now about 0.9 s and 0.26 s."""
    with deep_recursion():
        parsed, normalized = normalized_straight_line(2000, str(tmp_path))
        wrt = (parsed.args[0],)
        names = _user_names(parsed.tree)
        analyzed = []
        used = min(cpu_seconds(lambda: analyzed.append(analyze(normalized, wrt, None, parsed.filename)))
                   + cpu_seconds(lambda: reverse(normalized, analyzed[-1], Namer(names)))
                   for _ in range(2))
        used_forward = min(cpu_seconds(lambda: forward(normalized, analyzed[-1], Namer(names)))
                           for _ in range(2))
    assert used < 1.2, f"analyze + reverse of 2,000 lines took {used:.2f} s of CPU"
    assert used_forward < 0.4, f"forward of 2,000 lines took {used_forward:.2f} s of CPU"


def test_reverse_builds_only_the_comments_it_keeps(tmp_path, monkeypatch):
    """A user line normalized into several statements has a reverse block per statement, and
    only the first block keeps the line's `# Analyzing the line` comment: the others' are never
    built (line_comments.LineHead; they were a fifth of the nodes the reverse sweep made)."""
    made = []

    def counted(text, origin=None):
        made.append(built(text, origin))
        return made[-1]
    built = nodes.comment
    with deep_recursion():
        parsed, normalized = normalized_straight_line(30, str(tmp_path))
        analyzed = analyze(normalized, (parsed.args[0],), None, parsed.filename)
        monkeypatch.setattr(nodes, "comment", counted)
        fn = reverse(normalized, analyzed, Namer(_user_names(parsed.tree)))
    kept = {id(s) for s in nodes.statements(fn.body) if nodes.is_comment(s)}
    # (the return line's comment may take the place of the first block's, made already)
    assert len(kept) > 30 and kept <= {id(c) for c in made} and len(made) <= len(kept) + 1


# node builders (nodes.make) -----------------------------------------------------------------------

def _located(node, origin):
    """What nodes.located did with getattr and hasattr."""
    node.lineno = getattr(origin, "lineno", None)
    node.col_offset = getattr(origin, "col_offset", 0)
    for attr in ("source_text", "source_file"):
        if hasattr(origin, attr):
            setattr(node, attr, getattr(origin, attr))
    return node


def _load(identifier):
    return gast.Name(id=identifier, ctx=gast.Load(), annotation=None, type_comment=None)


def test_node_builders_build_what_gasts_constructors_build():
    origin = located_name("x", 7)
    origin.source_file = "f.py"
    bare = nodes.name("y")                              # an origin without positions
    cases = [
        (nodes.name("x"), _load("x")),
        (nodes.name("x", store=True), gast.Name(id="x", ctx=gast.Store(), annotation=None, type_comment=None)),
        (nodes.const(1.5), gast.Constant(value=1.5, kind=None)),
        (nodes.binop("a", "*", 2), gast.BinOp(left=_load("a"), op=gast.Mult(), right=gast.Constant(value=2, kind=None))),
        (nodes.neg("a"), gast.UnaryOp(op=gast.USub(), operand=_load("a"))),
        (nodes.call("np.sum", ["a"]),
         gast.Call(func=gast.Attribute(value=_load("np"), attr="sum", ctx=gast.Load()), args=[_load("a")], keywords=[])),
        (nodes.subscript("a", 0, store=True),
         gast.Subscript(value=_load("a"), slice=gast.Constant(value=0, kind=None), ctx=gast.Store())),
        (nodes.assign("t", "a", origin),
         _located(gast.Assign(targets=[gast.Name(id="t", ctx=gast.Store(), annotation=None, type_comment=None)],
                              value=_load("a"), type_comment=None), origin)),
        (nodes.accumulate("s", "a", bare),
         _located(gast.AugAssign(target=gast.Name(id="s", ctx=gast.Store(), annotation=None, type_comment=None),
                                 op=gast.Add(), value=_load("a")), bare)),
        (nodes.comment("note", origin), _located(gast.Expr(value=gast.Constant(value="note", kind="comment")), origin)),
        (nodes.if_("c", [gast.Pass()], origin=origin),
         _located(gast.If(test=_load("c"), body=[gast.Pass()], orelse=[]), origin)),
    ]
    for built, expected in cases:
        assert_same_tree(built, expected)


def test_node_builders_share_the_load_context_as_pythons_parser_does():
    # a context holds nothing and no pass changes one (a target gets a new one), so names built
    # for reading share one Load, as ast.parse's names share theirs
    a, b = nodes.name("x"), nodes.name("x")
    assert a.ctx is b.ctx and type(a.ctx) is gast.Load
    assert ast.parse("x + x").body[0].value.left.ctx is ast.parse("y").body[0].value.ctx
    target = nodes.name("x", store=True)
    assert type(target.ctx) is gast.Store and target.ctx is not nodes.name("x", store=True).ctx
    stored = nodes.store(a)                                # a copy stored, the read left as it was
    assert type(stored.ctx) is gast.Store and type(a.ctx) is gast.Load and type(b.ctx) is gast.Load


def test_node_builders_cost_well_under_gasts_constructor():
    """nodes.name took what gast.Name(...) takes (its generic __init__ loops over the
    arguments); it now takes about a third."""
    def gast_names():
        for _ in range(20000):
            _load("x")

    def built_names():
        for _ in range(20000):
            nodes.name("x")
    fast = min(cpu_seconds(built_names) for _ in range(5))
    slow = min(cpu_seconds(gast_names) for _ in range(5))
    assert fast < 0.7 * slow, f"nodes.name: {fast:.4f} s, gast.Name: {slow:.4f} s"


def test_assigned_finds_the_stores_a_search_of_every_node_finds():
    from adjoint.analysis.activity import assigned
    source = ("def f(x, n):\n    y = x * 2.0\n    a, b = x\n    z = np.zeros(n)\n"
              "    for i in range(n):\n        z[i] = y\n        if y > 0:\n            w = y\n"
              "    return [q for q in z]\n")
    tree = gast.parse(source).body[0]
    for stmts in [tree.body, *([s] for s in nodes.statements(tree.body))]:
        expected = {n.id for s in stmts for n in gast.walk(s)
                    if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Store)}
        assert assigned(stmts) == expected
