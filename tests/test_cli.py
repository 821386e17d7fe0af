"""The `adjoint` command line: main([...]) in-process, plus one real subprocess per command."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import adjoint
from adjoint.cli.command import main
from adjoint.pipeline import STAGES
from adjoint.testing import assert_grad, check_grad

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

MODEL = '''\
import math

import adjoint


def f(x, y):
    z = x * math.sin(y)
    return z + y * y


def total(a, n):
    s = 0.0
    for i in range(n):
        s = s + a[i] * a[i]
    return s


def surface(side_lengths):
    a, b, c = side_lengths
    return 2.0 * (a * b + b * c + a * c)


grad_f_y = adjoint.grad(f, wrt=1, target="python")
NOT_A_FUNCTION = 3.5
'''

# a registered rule with a wrong derivative: d sin = 2 cos, so the check must fail
WRONG_RULE = '''\
import math

import adjoint


def myfn(x):
    return math.sin(x)


@adjoint.rule(myfn)
def myfn_partial(x):
    return 2.0 * math.cos(x)


def uses_myfn(x):
    return myfn(x) * 3.0
'''

UNSUPPORTED = '''\
def f(x):
    y = x * x
    g = {t: t * y for t in (1.0, 2.0)}
    return g[1.0]
'''

SYNTAX_ERROR = '''\
import math

def f(x):
    y = x +* 2
    return y
'''

IMPORT_ERROR = '''\
X = undefined_name + 1


def f(x):
    return x
'''


@pytest.fixture(autouse=True)
def _restore_import_state(monkeypatch):
    """The command makes each loaded file's directory importable; undo that after each test."""
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith("_adjoint_cli_") or name == "adjoint_cli_test_module":
            del sys.modules[name]


def write(directory, name, text):
    path = directory / name
    path.write_text(text)
    return str(path)


@pytest.fixture
def model(tmp_path):
    return write(tmp_path, "model.py", MODEL)


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# show -----------------------------------------------------------------------------------------

def test_show_prints_the_emitted_gradient(model, capsys):
    code, out, err = run(capsys, "show", f"{model}:f")
    assert code == 0 and err == ""
    assert "def grad_f(x, y):" in out
    assert "# Reverse sweep" in out and "# Analyzing the line" in out
    assert out == adjoint.source(_load(model).f)
    compile(out, "emitted", "exec")


def test_show_wrt_by_name_and_index(model, capsys):
    code, out, _ = run(capsys, "show", f"{model}:f", "--wrt", "y")
    assert code == 0 and out.rstrip().endswith("return s_y")
    code, out, _ = run(capsys, "show", f"{model}:f", "--wrt", "0,1")
    assert code == 0 and out.rstrip().splitlines()[-1].replace("(", "").replace(")", "").split() == \
        ["return", "s_x,", "s_y"]


def test_show_no_comments(model, capsys):
    code, out, _ = run(capsys, "show", f"{model}:f", "--no-comments")
    assert code == 0
    assert "#" not in out
    assert "def grad_f(x, y):" in out


@pytest.mark.parametrize("stage", STAGES)
def test_show_each_stage(model, capsys, stage):
    code, out, err = run(capsys, "show", f"{model}:f", "--stage", stage)
    assert code == 0, err
    expected = {"parse": "def f(x, y):", "normalize": "def f(x, y):", "analyze": "wrt:            x",
                "reverse": "def grad_f(x, y):", "optimize": "def grad_f(x, y):",
                "emit": "import numpy as np", "device": "def grad_f_device(x, y"}[stage]
    assert expected in out
    if stage == "normalize":
        assert "t_" in out                       # three-address temporaries
    if stage == "analyze":
        assert "active:" in out


def test_show_unknown_stage_is_a_usage_error(model, capsys):
    code, _, err = run(capsys, "show", f"{model}:f", "--stage", "bogus")
    assert code == 2 and "invalid choice" in err


def test_show_color(model, capsys):
    import importlib.util
    code, colored, _ = run(capsys, "show", f"{model}:f", "--color", "always")
    code_plain, plain, _ = run(capsys, "show", f"{model}:f", "--color", "never")
    assert code == 0 and code_plain == 0 and "\x1b[" not in plain
    if importlib.util.find_spec("pygments") is not None:        # the [color] extra
        assert "\x1b[" in colored
    else:                                                       # without it, the plain text
        assert colored == plain
    code, out, _ = run(capsys, "show", f"{model}:f")       # auto: captured stdout is no tty
    assert "\x1b[" not in out


def test_show_unwraps_a_gradient_function(model, capsys):
    code, out, _ = run(capsys, "show", f"{model}:grad_f_y")
    assert code == 0
    assert "def grad_f(x, y):" in out and out.rstrip().endswith("return s_y")   # its wrt=1


LAYERS = """\
import numpy as np


def layers(W, x, scale):
    total = 0.0
    for k in range(W.shape[0]):
        total = total + np.sum(np.tanh(W[k] @ x)) * scale
    return total
"""


def test_show_types_tell_what_the_source_does_not(tmp_path, capsys):
    """W[k] @ x reads like a number times a vector (an operand of @ is guessed to be an array);
    --types says W is a stack of matrices and x a vector."""
    path = write(tmp_path, "layers.py", LAYERS)
    code, out, err = run(capsys, "show", f"{path}:layers")
    assert code != 0 and "matrix product of ranks 0 and 1" in err
    code, out, err = run(capsys, "show", f"{path}:layers", "--types", "W=float64[:,:,:], x=float64[:]")
    assert code == 0, err
    # W[k] @ x's sensitivity for W[k] is the outer product of s and x, written as a column
    # times a row (numba compiles np.outer far more slowly: lower/for_numba.py)
    assert "def grad_layers(W, x, scale):" in out and "np.expand_dims(s_4, 1) * x" in out
    code, out, err = run(capsys, "export", f"{path}:layers", "--types", "W=float64[:,:,:],x=float64[:]",
                         "-o", tmp_path / "grad_layers.py")
    assert code == 0, err


def test_show_says_which_types_it_guessed(tmp_path, capsys):
    """W @ x with W's rank unknown is shown as a dot of two vectors: show says that it guessed
    so, spelled as --types takes it, and the spelling it prints is accepted back."""
    path = write(tmp_path, "mv.py", "import numpy as np\n\ndef f(x, W):\n    return np.sum(np.tanh(W @ x))\n")
    code, out, err = run(capsys, "show", f"{path}:f")
    assert code == 0, err
    assert "types guessed from the source: x=float64[:], W=float64[:]" in err and "--types" in err
    code, out, err = run(capsys, "show", f"{path}:f", "--types", "x=float64[:], W=float64[:, :]")
    assert code == 0 and "guessed" not in err


@pytest.mark.parametrize("spelled", ["W=float64[:,:", "W", "w=float64[:]", "W=complex128[:]"])
def test_show_unreadable_types_are_a_usage_error(tmp_path, capsys, spelled):
    path = write(tmp_path, "layers.py", LAYERS)
    code, out, err = run(capsys, "show", f"{path}:layers", "--types", spelled)
    assert code == 2 and "cannot read the type" in err and "NAME=TYPE" in err


def test_show_by_module_name(tmp_path, capsys, monkeypatch):
    write(tmp_path, "adjoint_cli_test_module.py", MODEL)
    monkeypatch.syspath_prepend(str(tmp_path))
    code, out, err = run(capsys, "show", "adjoint_cli_test_module:surface")
    assert code == 0, err
    assert "def grad_surface(side_lengths):" in out


# check ----------------------------------------------------------------------------------------

def test_check_scalar_arguments(model, capsys):
    code, out, err = run(capsys, "check", f"{model}:f", "--at", "1.5,0.5", "--wrt", "x,y",
                         "--target", "python")
    assert code == 0, err
    assert "x " in out and "y " in out and "MISMATCH" not in out
    assert "all 2 components agree" in out


def test_check_array_argument(model, capsys):
    code, out, err = run(capsys, "check", f"{model}:surface", "--at", "1,2,3", "--target", "python")
    assert code == 0, err
    for label in ("side_lengths[0]", "side_lengths[1]", "side_lengths[2]"):
        assert label in out


def test_check_arguments_separated_by_semicolons(model, capsys):
    code, out, err = run(capsys, "check", f"{model}:total", "--at", "1,2,3;3", "--target", "python")
    assert code == 0, err
    labels = [line.split()[0] for line in out.splitlines()[2:-1]]
    assert labels == ["a[0]", "a[1]", "a[2]"]                 # n is not differentiated


def test_check_negative_number(model, capsys):
    code, out, err = run(capsys, "check", f"{model}:f", "--at", "-1.5,2", "--target", "python")
    assert code == 0, err


def test_check_cpu_target(model, capsys):
    code, out, err = run(capsys, "check", f"{model}:surface", "--at", "1,2,3")
    assert code == 0, err
    assert "target cpu" in out


def test_check_mismatch_exits_1(tmp_path, capsys):
    path = write(tmp_path, "wrong.py", WRONG_RULE)
    code, out, err = run(capsys, "check", f"{path}:uses_myfn", "--at", "0.7", "--target", "python")
    assert code == 1, err
    assert "MISMATCH" in out and "differs from finite differences" in out


def test_check_non_numeric_at(model, capsys):
    code, out, err = run(capsys, "check", f"{model}:f", "--at", "1,abc", "--target", "python")
    assert code == 2
    assert "'abc' is not a number" in err and "hint:" in err
    assert out == ""


def test_check_wrong_number_of_values(model, capsys):
    code, _, err = run(capsys, "check", f"{model}:f", "--at", "1,2,3", "--target", "python")
    assert code == 2 and "f takes 2 arguments" in err
    code, _, err = run(capsys, "check", f"{model}:total", "--at", "1;2;3", "--target", "python")
    assert code == 2 and "';'" in err


def test_check_needs_at(model, capsys):
    code, _, err = run(capsys, "check", f"{model}:f")
    assert code == 2 and "--at" in err


# export ---------------------------------------------------------------------------------------

def test_export_writes_a_standalone_module(model, tmp_path, capsys):
    target = tmp_path / "out" / "grad_surface.py"
    target.parent.mkdir()
    code, out, err = run(capsys, "export", f"{model}:surface", "-o", target)
    assert code == 0, err
    assert out.strip() == str(target)
    namespace = {}
    exec(compile(target.read_text(), str(target), "exec"), namespace)
    gradient = namespace["grad_surface"](np.array([1.0, 2.0, 3.0]))
    assert np.allclose(gradient, [10.0, 8.0, 6.0])


def test_exported_module_takes_what_grad_takes(tmp_path, capsys):
    # issue #19: the seed document's f4 (examples/seed_f4.py), exported, called with a list of
    # floats, a list of ints and an int array, as adjoint.grad accepts them; checked against
    # central differences of f4, and compiled as it is by numba
    from examples.seed_f4 import f4
    from tests.oracles import finite_difference
    target = tmp_path / "grad_f4.py"
    code, _, err = run(capsys, "export", "examples/seed_f4.py:f4", "-o", target)
    assert code == 0, err
    namespace = {}
    exec(compile(target.read_text(), str(target), "exec"), namespace)
    grad_f4 = namespace["grad_f4"]
    expected = finite_difference(f4, (np.array([1.0, 2.0, 3.0, 4.0]),), 0)
    for point in ([1.0, 2.0, 3.0, 4.0], [1, 2, 3, 4], np.arange(1, 5), (1.0, 2.0, 3.0, 4.0)):
        gradient = grad_f4(point)
        assert gradient.dtype == np.float64
        np.testing.assert_allclose(gradient, expected, rtol=1e-6)
    assert np.array_equal(grad_f4([1.0, 2.0, 3.0, 4.0]), [52.0, 38.0, 28.0, 22.0])
    import numba
    assert np.array_equal(numba.njit(grad_f4)(np.arange(1.0, 5.0)), [52.0, 38.0, 28.0, 22.0])


def test_export_without_comments_converts_silently(tmp_path, capsys):
    target = tmp_path / "grad_f4.py"
    code, _, err = run(capsys, "export", "examples/seed_f4.py:f4", "-o", target, "--no-comments")
    assert code == 0, err
    text = target.read_text()
    assert "#" not in text and "np.asarray(side_lengths, np.float64)" in text


def test_export_refuses_to_overwrite_its_input(model, capsys):
    code, _, err = run(capsys, "export", f"{model}:surface", "-o", model)
    assert code == 2 and "refusing to overwrite" in err


def test_export_to_a_missing_directory(model, tmp_path, capsys):
    code, _, err = run(capsys, "export", f"{model}:surface", "-o", tmp_path / "nope" / "g.py")
    assert code == 2 and "cannot write" in err


# failures -------------------------------------------------------------------------------------

def test_missing_file(tmp_path, capsys):
    code, out, err = run(capsys, "show", f"{tmp_path / 'absent.py'}:f")
    assert code == 2 and out == ""
    assert "no such file" in err and "Traceback" not in err


def test_missing_function(model, capsys):
    code, _, err = run(capsys, "show", f"{model}:surfce")
    assert code == 2
    assert "has no function 'surfce'" in err
    assert "did you mean 'surface'?" in err


def test_not_a_function(model, capsys):
    code, _, err = run(capsys, "show", f"{model}:NOT_A_FUNCTION")
    assert code == 2 and "not a function" in err


def test_missing_colon_and_missing_module(model, capsys):
    code, _, err = run(capsys, "show", model)
    assert code == 2 and "FILE.py:FUNC" in err
    code, _, err = run(capsys, "show", "no_such_module_for_adjoint:f")
    assert code == 2 and "no module named" in err


def test_bad_wrt(model, capsys):
    code, _, err = run(capsys, "show", f"{model}:f", "--wrt", "z")
    assert code == 2 and "no such argument" in err and "x, y" in err
    code, _, err = run(capsys, "show", f"{model}:f", "--wrt", "5")
    assert code == 2 and "2 arguments" in err


def test_syntax_error_in_the_file(tmp_path, capsys):
    path = write(tmp_path, "broken.py", SYNTAX_ERROR)
    code, out, err = run(capsys, "show", f"{path}:f")
    assert code == 4 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"{path}:4:") and "SyntaxError" in lines[0]
    col = int(lines[0].split(":")[2])
    assert lines[1] == "    " + "    y = x +* 2"
    assert lines[2] == "    " + " " * (col - 1) + "^"           # columns are 1-based
    assert "Traceback" not in err


def test_error_while_executing_the_file(tmp_path, capsys):
    path = write(tmp_path, "raises.py", IMPORT_ERROR)
    code, _, err = run(capsys, "show", f"{path}:f")
    assert code == 4
    lines = err.splitlines()
    assert lines[0] == f"{path}:1:5: NameError: name 'undefined_name' is not defined"
    assert lines[1] == "    X = undefined_name + 1"
    assert lines[2] == "        " + "^" * len("undefined_name")     # the whole name


def test_unsupported_construct(tmp_path, capsys):
    path = write(tmp_path, "lam.py", UNSUPPORTED)
    code, out, err = run(capsys, "show", f"{path}:f")
    assert code == 3 and out == ""
    lines = err.splitlines()
    assert lines[0].startswith(f"{path}:3:9: ")                             # 1-based column
    assert lines[1] == "        g = {t: t * y for t in (1.0, 2.0)}"
    assert lines[2] == "    " + " " * 8 + "^" * len("{t: t * y for t in (1.0, 2.0)}")   # the whole construct
    assert lines[3].startswith("hint: ")
    assert "Traceback" not in err


def test_traceback_flag(tmp_path, capsys):
    path = write(tmp_path, "lam.py", UNSUPPORTED)
    for argv in (["--traceback", "show", f"{path}:f"], ["show", f"{path}:f", "--traceback"]):
        code, _, err = run(capsys, *argv)
        assert code == 3
        assert "Traceback (most recent call last)" in err and "AdjointError" in err


# global options -------------------------------------------------------------------------------

def test_version(capsys):
    code, out, _ = run(capsys, "--version")
    assert code == 0 and out.strip() == f"adjoint {adjoint.__version__}"


def test_help_lists_examples_and_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0
    assert "examples:" in out and "exit codes:" in out and "adjoint check" in out


def test_no_command_is_a_usage_error(capsys):
    code, _, err = run(capsys)
    assert code == 2 and "usage:" in err


# adjoint.testing ------------------------------------------------------------------------------

def test_check_grad_rows_and_assert_grad(tmp_path):
    module = _load(write(tmp_path, "wrong.py", WRONG_RULE))
    result = check_grad(module.uses_myfn, 0.3, target="python")
    assert not result.ok and [row.label for row in result.rows] == ["x"]
    assert result.rows[0].adjoint == pytest.approx(2 * result.rows[0].finite_difference, rel=1e-6)
    with pytest.raises(AssertionError, match="MISMATCH"):
        assert_grad(module.uses_myfn, 0.3, target="python")
    model = _load(write(tmp_path, "model.py", MODEL))
    assert assert_grad(model.total, [1.0, -2.0], 2, target="python").ok


# real subprocesses ----------------------------------------------------------------------------

def _subprocess(*argv, cwd):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")])))
    return subprocess.run([sys.executable, "-m", "adjoint", *map(str, argv)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_subprocess_show(model, tmp_path):
    done = _subprocess("show", "model.py:f", "--color", "never", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "def grad_f(x, y):" in done.stdout


@pytest.mark.slow
def test_subprocess_check(model, tmp_path):
    done = _subprocess("check", "model.py:surface", "--at", "1,2,3", "--target", "python", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "side_lengths[2]" in done.stdout
    wrong = write(tmp_path, "wrong.py", WRONG_RULE)
    done = _subprocess("check", f"{wrong}:uses_myfn", "--at", "0.5", "--target", "python", cwd=tmp_path)
    assert done.returncode == 1 and "MISMATCH" in done.stdout


@pytest.mark.slow
def test_subprocess_export(model, tmp_path):
    done = _subprocess("export", "model.py:f", "-o", "grad_f.py", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "grad_f.py"
    assert "def grad_f(x, y):" in (tmp_path / "grad_f.py").read_text()


def _load(path):
    from adjoint.cli.command import load_file
    return load_file(path)


def test_module_docstring_documents_exit_codes():
    from adjoint.cli import command
    doc = textwrap.dedent(command.__doc__)
    for code in range(5):
        assert f"    {code}  " in doc


# cache ----------------------------------------------------------------------------------------

def test_cache_info_lists_the_gradients_and_clear_removes_only_them(tmp_path, capsys, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("ADJOINT_CACHE_DIR", str(folder))
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and "0 gradients" in out
    import adjoint
    from tests.corpus import nested
    adjoint.grad(nested, target="python", cache=True)(1.5, 0.5)
    (folder / "notes.txt").write_text("mine")
    code, out, _ = run(capsys, "cache", "info")
    assert code == 0 and "1 gradient," in out and "nested_" in out
    code, out, _ = run(capsys, "cache", "clear")
    assert code == 0 and out.startswith("removed 1 gradient")
    assert sorted(p.name for p in folder.iterdir() if p.is_file()) == ["notes.txt"]
    code, out, _ = run(capsys, "cache", "info")
    assert "0 gradients" in out
