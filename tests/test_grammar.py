"""normalize's output obeys the grammar its docstring states (adjoint/grammar.py), on every
corpus function and on fuzz programs; a statement outside it is reported, and with
ADJOINT_CHECK_GRAMMAR=1 the pipeline stops there, naming the stage."""

import inspect

import gast
import pytest

import adjoint
from adjoint import pipeline
from adjoint.ir import grammar
from tests import array_corpus, control_flow_corpus, corpus, fuzz_regressions, fuzzing, higher_corpus


def corpus_functions():
    for module in (corpus, array_corpus, control_flow_corpus, higher_corpus, fuzz_regressions):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and inspect.signature(fn).parameters:
                yield fn


def test_corpus_normalizes_into_the_grammar():
    """Every corpus function that differentiates for the types its source suggests (the
    others are array code rejected without a call's types, or autograd twins)."""
    checked = {}
    for fn in corpus_functions():
        try:
            tree = pipeline.differentiate(fn).stages["normalize"]
        except adjoint.AdjointError:
            continue
        checked[fn.__name__] = grammar.violations(tree)
    assert len(checked) >= 100
    assert {name: found for name, found in checked.items() if found} == {}


def test_fuzz_programs_normalize_into_the_grammar(tmp_path):
    checked = 0
    for index in range(60):
        case = fuzzing.case(4242, index)
        loaded = fuzzing._Loaded(case.source, str(tmp_path), f"grammar_fuzz_{index}")
        try:
            tree = pipeline.differentiate(loaded.module.f, wrt=case.wrt).stages["normalize"]
        except adjoint.AdjointError:
            continue
        finally:
            loaded.close()
        assert grammar.violations(tree) == [], case.source
        checked += 1
    assert checked >= 50


def sample(x, y):
    t = x * y
    return t + 1.0


def test_a_statement_outside_the_grammar_is_reported():
    tree = pipeline.differentiate(sample).stages["normalize"]
    nested = gast.parse("t_9 = x * (y + 1.0)").body[0]        # an operand that is no atom
    nested.lineno = 7
    tree.body.insert(0, nested)
    tree.body.append(gast.parse("y = 2.0").body[0])         # after the return
    found = grammar.violations(tree)
    assert [line for line, _ in found][0] == 7
    assert "right-hand side" in found[0][1]
    assert any("does not end in its one return" in what for _, what in found)


def test_the_pipeline_checks_the_grammar_when_asked(monkeypatch):
    real = pipeline.normalize

    def normalize_badly(parsed, namer):
        tree = real(parsed, namer)
        tree.body.insert(0, gast.parse("t_9 = x * (y + 1.0)").body[0])
        return tree
    monkeypatch.setattr(pipeline, "normalize", normalize_badly)
    pipeline.differentiate(sample)                       # unchecked by default
    monkeypatch.setenv("ADJOINT_CHECK_GRAMMAR", "1")
    with pytest.raises(adjoint.AdjointError) as info:
        pipeline.differentiate(sample)
    assert info.value.stage == "normalize" and "outside the grammar" in str(info.value)
