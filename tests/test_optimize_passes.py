"""The optimize stage's speed and its copy on write (issue #15, item 9).

optimize no longer copies the adjoint whole: it shares every statement and expression it does
not change with its input, which the pipeline keeps as the "reverse" stage (and whose forward
sweep is the "normalize" stage's). These tests check that no stage dump changes after the fact,
that the passes stay about linear on a long straight-line function, and the node helpers
the copy on write is built from.
"""

from __future__ import annotations

import copy
import gc
import time

import gast
import pytest

import examples.rosenbrock
from adjoint import pipeline
from adjoint.analysis import shapes
from adjoint.ir import nodes
from adjoint.lower.emit import emit_function
from adjoint.optimize import passes as optimize_module
from tests import array_corpus, control_flow_corpus
from tests.test_compiler_scaling import load_program, straight_line_source

# speed ---------------------------------------------------------------------------------------


def test_optimize_of_2000_straight_lines_is_fast(monkeypatch):
    """About 1.2 s of CPU without the garbage collector (2.8 s when each round rescanned
    everything, the zero state was copied per statement and the adjoint was copied whole)."""
    spent = []
    real = pipeline.optimize

    def timed(*args, **kwargs):
        # without the garbage collector, whose passes cost what the whole process holds (in a
        # full test run, as much again as the stage itself)
        gc.collect()
        gc.disable()
        start = time.process_time()
        try:
            return real(*args, **kwargs)
        finally:
            spent.append(time.process_time() - start)
            gc.enable()
    pipeline.differentiate(load_program(straight_line_source(3), "straight"))    # imports, rules
    monkeypatch.setattr(pipeline, "optimize", timed)
    pipeline.differentiate(load_program(straight_line_source(2000), "straight"))
    assert spent[0] < 2.0, f"optimize took {spent[0]:.2f} s of CPU on 2,000 lines"


# the input is left as it was -----------------------------------------------------------------

MATRIX, VECTOR = shapes.Type("float", 2), shapes.Type("float", 1)
CASES = [
    (load_program(straight_line_source(40), "straight"), {}),
    (array_corpus.reductions, {"signature": {"x": MATRIX}}),     # numba's lowering rewrites axis
    (array_corpus.mean_axis, {"signature": {"x": MATRIX}}),      # reductions, np.matmul, exp ...
    (array_corpus.matmul_function, {"signature": {"a": MATRIX, "b": MATRIX}}),
    (array_corpus.where_clip, {"signature": {"x": VECTOR}}),
    (array_corpus.gmm_objective, {}),               # stored intermediates, zero arrays allocated once
    (array_corpus.gmm_objective_matrix, {}),
    (array_corpus.recurrence, {}),
    (examples.rosenbrock.rosenbrock, {}),           # carried scatter-adds, stored once
    (examples.rosenbrock.rosenbrock, {"parallel": True}),   # ... run in chunks
    (examples.rosenbrock.rosenbrock, {"device": True}),
    (control_flow_corpus.nonlinear_accumulator, {}),
    (control_flow_corpus.piecewise, {}),
    (control_flow_corpus.swaps, {}),
]


@pytest.mark.parametrize("fn, options", CASES, ids=[f"{fn.__name__}-{'-'.join(o) or 'plain'}" for fn, o in CASES])
def test_stage_dumps_are_what_each_stage_made(monkeypatch, fn, options):
    """The reverse and normalize dumps read as the stages left them, after optimize and the
    lowering for numba (which rewrites calls in place) have run on what they share."""
    made = {}
    real_reverse, real_optimize = pipeline.reverse, pipeline.optimize

    def reverse(normalized, *args, **kwargs):
        made["normalize"] = emit_function(normalized)
        return real_reverse(normalized, *args, **kwargs)

    def optimize(adjoint, *args, **kwargs):
        made["reverse"] = emit_function(adjoint)
        return real_optimize(adjoint, *args, **kwargs)
    monkeypatch.setattr(pipeline, "reverse", reverse)
    monkeypatch.setattr(pipeline, "optimize", optimize)
    generated = pipeline.differentiate(fn, **options)
    assert pipeline.dump(generated, "reverse") == made["reverse"]
    assert pipeline.dump(generated, "normalize") == made["normalize"]


def test_passes_change_no_statement_in_place():
    fn = _function("""
def grad_f(x, y):
    t_1 = 1.0 * x + 0.0
    s_1 = 0.0
    s_1 += -(y * 2.0)
    s_2 = s_1
    s_x = s_2 * 1.0
    return s_x
""")
    before = emit_function(fn)
    kept = copy.copy(fn)
    kept.body = list(fn.body)
    optimize_module.fold_constants(fn)
    assert emit_function(kept) == before
    assert "t_1 = x\n" in emit_function(fn) and "s_1 -= y * 2.0\n" in emit_function(fn)


def test_an_update_by_minus_one_times_a_value_subtracts_it():
    """`s += -1.0 * e` (a negation's partial times its sensitivity) reads as `s -= e`, the
    same numbers (s - e is s + (-e) in floating point); an assignment `s = -1.0 * e` stays,
    since -e of an integer e would change s's dtype."""
    fn = _function("""
def grad_f(x, n):
    s_x = 0.0
    s_x += -1.0 * x
    s_n = -1.0 * n
    s_x -= -1.0 * s_n
    return s_x
""")
    optimize_module.fold_constants(fn)
    text = emit_function(fn)
    assert "s_x -= x\n" in text and "s_n = -1.0 * n\n" in text and "s_x += s_n\n" in text, text
    namespace = {}
    exec(text, namespace)
    assert namespace["grad_f"](2.5, 3) == -2.5 - 3


def _function(source):
    return gast.parse(source.strip() + "\n").body[0]


# node helpers ----------------------------------------------------------------------------------


def _expression(source):
    return gast.parse(source).body[0].value


def test_load_counts_counts_loads_only():
    stmt = gast.parse("a[i] += b * b + f(b, c=i)").body[0]
    assert nodes.load_counts(stmt) == {"a": 1, "i": 2, "b": 3, "f": 1}
    assert nodes.load_counts(gast.parse("x = 2.0").body[0]) == {}


def test_with_loads_replaced_copies_only_the_changed_paths():
    expr = _expression("f(x) + g(y) * x")
    before = gast.dump(expr)
    new = nodes.with_loads_replaced(expr, {"x": nodes.name("z")})
    assert nodes.load_counts(new) == {"f": 1, "z": 2, "g": 1, "y": 1}
    assert gast.dump(expr) == before                   # the input is unchanged
    assert new.right.left is expr.right.left           # g(y) is shared, not copied
    assert new is not expr and new.left is not expr.left


def test_with_loads_replaced_returns_the_node_itself_when_nothing_is_read():
    expr = _expression("f(x) + 1.0")
    assert nodes.with_loads_replaced(expr, {"y": nodes.name("z")}) is expr
    store = gast.parse("x = y").body[0]
    assert nodes.with_loads_replaced(store, {"x": nodes.name("z")}) is store     # a store is kept


def test_with_fresh_calls_copies_calls_and_what_holds_them():
    stmt = gast.parse("s = a * b + np.sum(c, axis=1)").body[0]
    fresh = nodes.with_fresh_calls(stmt)
    call, old_call = fresh.value.right, stmt.value.right
    assert call is not old_call and call.args is not old_call.args and call.keywords is not old_call.keywords
    assert fresh is not stmt and fresh.value is not stmt.value
    assert fresh.value.left is stmt.value.left         # no call under a * b: shared
    assert gast.dump(fresh) == gast.dump(stmt)
    plain = gast.parse("s = a * b").body[0]
    assert nodes.with_fresh_calls(plain) is plain


def test_child_fields_skip_contexts_operators_and_strings():
    assert nodes.child_fields(gast.BinOp) == ("left", "right")
    assert nodes.child_fields(gast.Attribute) == ("value",)
    assert nodes.child_fields(gast.Constant) == ()
    assert nodes.child_fields(str) == ()


# the passes' fixpoint --------------------------------------------------------------------------

def _recording_passes(changes, woken_by):
    """Passes named 0, 1, ...; pass k reports a change on its first changes[k] runs."""
    runs = []

    def make(k):
        def run():
            runs.append(k)
            return runs.count(k) <= changes[k]
        return run
    return [(k, make(k), woken_by[k]) for k in range(len(changes))], runs


def test_fixpoint_runs_only_the_passes_a_change_may_give_work():
    passes, runs = _recording_passes([1, 0, 1], [{1, 2}, {0, 2}, {0, 1}])
    optimize_module._run_to_fixpoint(passes, rounds=20)
    assert runs == [0, 1, 2, 0, 1]                 # 2 is not run again after its own change
    passes, runs = _recording_passes([0, 1, 0], [{1}, {1}, set()])
    optimize_module._run_to_fixpoint(passes, rounds=20)
    assert runs == [0, 1, 2, 0, 1]                 # 1 may give itself work, 2 gets none from it


def test_fixpoint_stops_after_a_round_without_change_and_after_its_rounds():
    passes, runs = _recording_passes([0, 0], [{0, 1}, {0, 1}])
    optimize_module._run_to_fixpoint(passes, rounds=20)
    assert runs == [0, 1]
    passes, runs = _recording_passes([99, 0], [{0}, {0}])
    optimize_module._run_to_fixpoint(passes, rounds=3)
    assert runs == [0, 1] * 3


def _full_rounds(passes, rounds):
    """The loop before: whole rounds until one changes nothing."""
    for _ in range(rounds):
        if not any([run() for _, run, _ in passes]):
            return


@pytest.mark.parametrize("fn, options", CASES, ids=[f"{fn.__name__}-{'-'.join(o) or 'plain'}" for fn, o in CASES])
def test_fixpoint_without_the_confirming_run_emits_the_same_code(monkeypatch, fn, options):
    """What the passes declare of each other holds: running all of them again until none
    changes anything gives the same code."""
    quick = pipeline.differentiate(fn, **options).source
    monkeypatch.setattr(optimize_module, "_run_to_fixpoint", _full_rounds)
    assert pipeline.differentiate(fn, **options).source == quick


def test_copies_run_once_on_straight_lines(monkeypatch):
    """Before, a second round ran every pass again to confirm that none changed anything,
    forward_copies the longest of them (a third of that round on 2,000 lines)."""
    runs = []
    real = optimize_module.forward_copies

    def counted(*args, **kwargs):
        runs.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(optimize_module, "forward_copies", counted)
    pipeline.differentiate(load_program(straight_line_source(40), "straight"))
    assert len(runs) == 1


def test_fresh_calls_copy_only_statements_that_load_np():
    fn = _function("""
def grad_f(x, y):
    a = math.sin(x)
    b = np.max(y, axis=0)
    if np.sum(y) > 0.0:
        c = math.cos(x)
""")
    plain, lowered, branch = fn.body
    test, inner = branch.test, branch.body[0]
    optimize_module._fresh_calls(fn.body, optimize_module._Summaries())
    assert fn.body[0] is plain and branch.body[0] is inner
    assert fn.body[1] is not lowered and fn.body[1].value is not lowered.value
    assert branch.test is not test and branch.test.left is not test.left


def test_all_statements_lists_nested_blocks_in_order():
    fn = _function("""
def f(x):
    a = x
    for i in range(3):
        b = a
        if b:
            c = b
        else:
            d = b
    e = a
""")
    names = [type(s).__name__ + (s.targets[0].id if isinstance(s, gast.Assign) else "")
             for s in optimize_module._all_statements(fn.body)]
    assert names == ["Assigna", "For", "Assignb", "If", "Assignc", "Assignd", "Assigne"]
    straight = fn.body[:1]
    assert optimize_module._all_statements(straight) is straight


def test_blocks_are_those_of_nodes_blocks_in_the_same_order():
    fn = _function("""
def f(x):
    for i in range(3):
        if x:
            while x:
                a = x
        else:
            b = x
    if x:
        for j in range(2):
            c = x
    d = x
""")
    assert [id(b) for b in optimize_module._blocks(fn)] == [id(b) for b in nodes.blocks(fn)]


@pytest.mark.parametrize("program", ["straight", "gmm_objective", "piecewise", "rosenbrock"])
def test_summaries_are_the_generic_walks_whichever_is_asked_first(program):
    """A simple statement's loads and written names are found together the first time either
    is asked (_Summaries._learn): both are nodes.load_counts' (in its order) and
    nodes.written_names', whether the loads or the names are asked first."""
    fn = {"straight": lambda: load_program(straight_line_source(12), "straight"),
          "gmm_objective": lambda: array_corpus.gmm_objective,
          "piecewise": lambda: control_flow_corpus.piecewise,
          "rosenbrock": lambda: examples.rosenbrock.rosenbrock}[program]()
    adjoint = pipeline.differentiate(fn).stages["reverse"]
    simple = [s for s in optimize_module._all_statements(adjoint.body)
              if type(s) not in (gast.If, gast.For, gast.While)]
    loads_first, names_first = optimize_module._Summaries(), optimize_module._Summaries()
    for stmt in simple:
        loads, names = list(nodes.load_counts(stmt).items()), tuple(nodes.written_names(stmt))
        assert list(loads_first.load_counts(stmt).items()) == loads and loads_first.written(stmt) == names
        assert names_first.written(stmt) == names and list(names_first.load_counts(stmt).items()) == loads


def test_regrouped_trades_keep_every_other_statement():
    """Runs of copies through temporaries become one tuple assignment each, and a run that
    also matches from inside another (`t_2 = b; t_3 = c; b = t_2; c = t_3` within a three-way
    run) is not regrouped twice: the statements after them stay."""
    from adjoint.optimize.summaries import _Summaries
    from adjoint.optimize.tidy import regroup_trades
    source = ("def f(a, b, c):\n"
              "    t_1 = a\n    t_2 = b\n    t_3 = c\n    b = t_2\n    c = t_3\n    a = t_1\n"
              "    d = a + b\n    e = d * c\n"
              "    t_4 = d\n    t_5 = e\n    d = t_5\n    e = t_4\n"
              "    return d - e\n")
    fn = gast.parse(source).body[0]
    assert regroup_trades(fn, {"t_1", "t_2", "t_3", "t_4", "t_5"}, _Summaries())
    assert emit_function(fn, comments=False).strip().splitlines()[1:] == [
        "    b, c, a = b, c, a", "    d = a + b", "    e = d * c", "    d, e = e, d", "    return d - e"]
