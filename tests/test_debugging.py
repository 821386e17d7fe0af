"""Debugging the generated code: errors at the user's line, linecache, dumps, the cache."""

import linecache
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import adjoint
from tests import debugging_corpus as dc
from tests.oracles import finite_difference

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.mark.parametrize("target", ["python", "cpu"])
def test_exception_inside_generated_code_points_at_the_users_line(target):
    """Dividing by zero fails inside grad_fails_inside's forward sweep (compiled or not); the
    report names the user's `z = 1.0 / (y - 2.0)` line, not the generated one."""
    g = adjoint.grad(dc.fails_inside, target=target)
    with pytest.raises(adjoint.AdjointError) as info:
        g(1.0)
    error = info.value
    assert error.location is not None
    assert error.location.filename.endswith("debugging_corpus.py")
    assert error.location.line == 8                          # z = 1.0 / (y - 2.0)
    assert "z = 1.0 / (y - 2.0)" in str(error) and "ZeroDivisionError" in str(error)
    assert "^" in str(error)


def test_numba_typing_failure_points_at_the_users_line():
    """A string where numba needs a number: reported at `y = x * factor`, without numba's
    traceback over generated code."""
    with pytest.raises(adjoint.AdjointError) as info:
        adjoint.grad(dc.scaled)(2.0, "three")
    text = str(info.value)
    assert "numba could not compile the gradient" in text and "unicode_type" in text
    assert info.value.location.line == 21 and "y = x * factor" in text
    assert "Traceback" not in text


def test_generated_module_is_in_linecache():
    g = adjoint.grad(dc.fails_inside, target="python")
    g(6.0)
    names = [name for name in linecache.cache if name.startswith("<adjoint") and "fails_inside" in name]
    assert names
    lines = linecache.getlines(names[0])
    assert any("def grad_fails_inside(x):" in line for line in lines)


def test_adjoint_dump_writes_each_module(tmp_path, monkeypatch):
    monkeypatch.setenv("ADJOINT_DUMP", str(tmp_path))
    adjoint.grad(dc.lorenz_like)
    written = sorted(p.name for p in tmp_path.iterdir())
    assert written == ["grad_lorenz_like.py", "lorenz_like.py"]
    assert "# Reverse of the loop" in (tmp_path / "grad_lorenz_like.py").read_text()


def test_jupyter_repr_shows_the_source():
    html = adjoint.grad(dc.lorenz_like)._repr_html_()
    assert "grad_lorenz_like" in html and "<" in html


CACHED_RUN = textwrap.dedent("""
    import json, sys, time
    sys.path.insert(0, {root!r})
    import numpy as np
    import adjoint
    import adjoint.api.compiling
    import adjoint.api.gradient
    from adjoint import pipeline
    from tests import debugging_corpus as dc
    calls = []
    original = pipeline.differentiate
    adjoint.api.gradient.differentiate = adjoint.api.compiling.differentiate = \
        lambda *a, **k: calls.append(1) or original(*a, **k)
    g = adjoint.grad(dc.lorenz_like, cache=True)
    value = g(np.array([0.3, 0.7]), 50)
    print(json.dumps({{"transformed": len(calls), "hits": sum(g.adjoint.stats.cache_hits.values()),
                      "gradient": list(value)}}))
""")


@pytest.mark.slow
def test_cache_second_process_neither_transforms_nor_compiles(tmp_path):
    import json
    script = tmp_path / "run.py"
    script.write_text(CACHED_RUN.format(root=os.path.dirname(HERE)))
    env = dict(os.environ, ADJOINT_CACHE_DIR=str(tmp_path / "cache"))
    runs = [json.loads(subprocess.run([sys.executable, str(script)], env=env, check=True,
                                      capture_output=True, text=True).stdout) for _ in range(2)]
    assert runs[0]["transformed"] == 1 and runs[0]["hits"] == 0
    assert runs[1]["transformed"] == 0 and runs[1]["hits"] == 1
    np.testing.assert_array_equal(runs[0]["gradient"], runs[1]["gradient"])


def test_cache_is_invalidated_when_the_source_changes(tmp_path, monkeypatch):
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path / "cache"))
    module = tmp_path / "model_for_cache.py"
    module.write_text("def f(x):\n    return x * x\n")
    sys.path.insert(0, str(tmp_path))
    try:
        import importlib

        import model_for_cache
        assert adjoint.grad(model_for_cache.f, cache=True)(3.0) == 6.0
        module.write_text("def f(x):\n    return x * x * x\n")
        importlib.reload(model_for_cache)
        assert adjoint.grad(model_for_cache.f, cache=True)(3.0) == 27.0
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("model_for_cache", None)


def test_cache_keeps_modes_apart(tmp_path, monkeypatch):
    """Reverse and forward code of one function are two cache entries (forward-mode grad and
    jvp share the tangent code), each read back right."""
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(tmp_path / "cache"))
    x = np.array([0.3, 0.7])
    want = finite_difference(dc.lorenz_like, (x, 20), 0)
    for _ in range(2):                                     # the second round reads the cache
        np.testing.assert_allclose(adjoint.grad(dc.lorenz_like, cache=True)(x, 20), want, rtol=1e-6)
        forward = adjoint.grad(dc.lorenz_like, cache=True, mode="forward")
        np.testing.assert_allclose(forward(x, 20), want, rtol=1e-6)
        value, tangent = adjoint.jvp(dc.lorenz_like, cache=True)(x, 20, np.array([1.0, 0.0]))
        assert value == pytest.approx(dc.lorenz_like(x, 20))
        assert tangent == pytest.approx(want[0], rel=1e-6)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 2
