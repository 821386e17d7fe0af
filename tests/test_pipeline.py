"""The pipeline around its stages: each stage timed (Generated.timings, ADJOINT_TIMING=1,
`adjoint show --timing`), and an unexpected exception inside a stage reported as an
AdjointError naming the stage and the user's function, never a traceback from deep inside."""

import pytest

import adjoint
from adjoint import pipeline
from adjoint.cli.command import main


def f4(a, b, c, d):
    return 2.0 * (a * b * c + a * b * d + a * c * d + b * c * d)


READ_IN_ORDER = ["parse", "desugar", "validate", "normalize", "analyze", "check views", "reverse", "optimize", "lower",
                 "emit"]


def test_every_stage_is_timed_in_the_order_it_ran():
    generated = pipeline.differentiate(f4, wrt=(0, 1, 2, 3), device=True)
    assert list(generated.timings) == READ_IN_ORDER + ["device"]
    assert all(seconds >= 0.0 for seconds in generated.timings.values())


def test_the_pipeline_table_is_what_runs():
    for options in (pipeline.Options(device=True), pipeline.Options(mode="forward"),
                    pipeline.Options(optimized=False)):
        generated = pipeline.differentiate(f4, options)
        assert list(generated.timings) == [s.name for s in pipeline.PIPELINE if s.runs(options)]
    assert "optimize" not in generated.timings and "forward" not in generated.timings


def test_adjoint_timing_prints_the_stages(monkeypatch, capsys):
    monkeypatch.setenv("ADJOINT_TIMING", "1")
    pipeline.differentiate(f4)
    err = capsys.readouterr().err
    assert err.startswith("adjoint: f4 (test_pipeline.py:") and "s of CPU (parse " in err
    assert all(f"{stage} " in err for stage in READ_IN_ORDER)


def test_show_timing(capsys):
    code = main(["show", f"{__file__}:f4", "--timing", "--color", "never"])
    out, err = capsys.readouterr()
    assert code == 0 and "def grad_f4(" in out
    assert err.startswith("f4: ") and "optimize " in err


@pytest.mark.parametrize("stage, attribute", [("normalize", "normalize"), ("optimize", "optimize"),
                                              ("emit", "emit_stage")])
def test_an_exception_inside_a_stage_names_the_stage_and_the_function(monkeypatch, stage, attribute):
    def broken(*args, **kwargs):
        raise KeyError("t_17")
    if attribute == "emit_stage":
        monkeypatch.setattr(pipeline.emit_stage, "emit", broken)
    else:
        monkeypatch.setattr(pipeline, attribute, broken)
    with pytest.raises(adjoint.AdjointError) as info:
        pipeline.differentiate(f4)
    error = info.value
    assert error.stage == stage and isinstance(error.__cause__, KeyError)
    assert str(error).startswith(f"{__file__}:{f4.__code__.co_firstlineno}:1: [{stage}] "
                                 "internal error: KeyError: 't_17'")
    assert "bug in adjoint" in error.hint


def test_a_users_mistake_stays_a_users_error():
    def uses_dict(x):
        g = {0: x * x}
        return g[0]
    with pytest.raises(adjoint.AdjointError) as info:
        pipeline.differentiate(uses_dict)
    assert info.value.stage is None and "dict literal" in info.value.message


def test_a_lambda_inside_another_statement_is_found_in_its_file():
    # inspect gives the lambda's lines: `for f in (lambda x: x * x,):`, no whole statement
    for f in (lambda x: x * x,):
        assert "def grad_lambda_" in pipeline.differentiate(f).source
        assert adjoint.grad(f, target="python")(3.0) == 6.0


def test_a_lambda_after_non_ascii_text_in_a_long_file_is_read_once(tmp_path):
    """Its file is parsed once per source, not on every differentiation, and its text is cut
    by byte columns (a non-ASCII string before it on its line)."""
    import importlib.util

    from adjoint.frontend import parse as parse_stage
    filler = "".join(f"def unused_{k}(x):\n    return x * {k}.0\n\n" for k in range(300))
    path = tmp_path / "long_lambda_module.py"
    path.write_text(filler + 'label = "\u03bb\u00e9"; scaled = lambda x: x * x * 3.0\n', encoding="utf-8")
    spec = importlib.util.spec_from_file_location("long_lambda_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    first = pipeline.differentiate(module.scaled)
    assert "def grad_scaled(x):" in first.source
    parsed_before = parse_stage._lambdas_by_line.cache_info().misses
    for _ in range(3):
        pipeline.differentiate(module.scaled)
    assert parse_stage._lambdas_by_line.cache_info().misses == parsed_before
    assert adjoint.grad(module.scaled, target="python")(2.0) == pytest.approx(12.0)


def test_a_lambda_without_a_source_file_is_a_users_error():
    with pytest.raises(adjoint.AdjointError) as info:
        pipeline.differentiate(eval("lambda x: x * x"))
    assert info.value.stage is None and "cannot read the source" in info.value.message


def test_recursion_limit_is_restored_after_interleaved_threads():
    """Thread A raises the limit, B enters (finding A's value), A leaves, B leaves: the limit
    must be the one found before A (eight threads compiling at once left it at 30,000)."""
    import sys
    import threading
    before = sys.getrecursionlimit()
    a_inside, b_inside, a_left = threading.Event(), threading.Event(), threading.Event()

    def a():
        with pipeline.deep_recursion():
            a_inside.set()
            b_inside.wait(5)
        a_left.set()

    def b():
        a_inside.wait(5)
        with pipeline.deep_recursion():
            b_inside.set()
            a_left.wait(5)
            assert sys.getrecursionlimit() >= pipeline.RECURSION_LIMIT     # still raised for b
    threads = [threading.Thread(target=a), threading.Thread(target=b)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sys.getrecursionlimit() == before


def test_a_lambda_whose_file_changed_since_import_is_a_users_error(tmp_path):
    import importlib.util
    path = tmp_path / "lambda_module.py"
    path.write_text("import numpy as np\nf = lambda x: np.sin(x) * x\n")
    spec = importlib.util.spec_from_file_location("lambda_module", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    path.write_text("import numpy as np\ng = 3.0\n")
    with pytest.raises(adjoint.AdjointError, match="not in the source") as info:
        pipeline.differentiate(module.f)
    assert "reload the module" in info.value.hint
