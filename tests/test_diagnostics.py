"""One renderer for every place adjoint points at (errors.diagnostic): the carets underline the
whole construct, keep the line's tabs so that they stay under it, and count characters where
ast counts UTF-8 bytes."""

import importlib.util

import pytest

import adjoint
from adjoint.errors import Location, diagnostic


def load(tmp_path, name, source):
    path = tmp_path / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.f


def rejection(fn):
    with pytest.raises(adjoint.AdjointError) as info:
        adjoint.grad(fn)
    return str(info.value).splitlines()


def test_the_carets_underline_the_whole_construct(tmp_path):
    f = load(tmp_path, "comp", "def f(x):\n    g = {t: t * x for t in (1.0,)}\n    return g[1.0]\n")
    lines = rejection(f)
    assert lines[0].endswith(":2:9: " + lines[0].split(":2:9: ")[-1])       # 1-based, as gcc prints
    assert lines[1] == "        g = {t: t * x for t in (1.0,)}"
    assert lines[2] == "            " + "^" * len("{t: t * x for t in (1.0,)}")


def test_tabs_before_the_construct_are_kept(tmp_path):
    f = load(tmp_path, "tabs", "def f(x):\n\tg = {t: t * x for t in (1.0,)}\n\treturn g[1.0]\n")
    lines = rejection(f)
    assert ":2:6: " in lines[0]                     # the tab counts as one column
    assert lines[1] == "    \tg = {t: t * x for t in (1.0,)}"
    assert lines[2] == "    \t    " + "^" * len("{t: t * x for t in (1.0,)}")


def test_columns_after_non_ascii_names_count_characters(tmp_path):
    f = load(tmp_path, "accent", "def f(x):\n    é = x * 2.0\n    return é * sorted([é])[0]\n")
    lines = rejection(f)
    assert lines[1] == "        return é * sorted([é])[0]"
    assert lines[2] == "    " + " " * len("    return é * ") + "^" * len("sorted([é])")


def test_one_caret_where_the_end_is_unknown_and_none_past_the_line():
    assert diagnostic("f.py", 1, 2, "m", text="ab + cd").splitlines()[2] == "      ^"
    assert diagnostic("f.py", 1, 0, "m", text="x", end_col=9).splitlines()[2] == "    ^"
    assert diagnostic("f.py", 1, 0, "m", text="", hint="h").splitlines() == ["f.py:1:1: m", "hint: h"]


def test_an_error_keeps_its_span():
    error = adjoint.AdjointError("no", location=Location("nowhere.py", 3, 4, 9))
    assert error.location.end_col == 9 and str(error) == "nowhere.py:3:5: no"
