"""A plain (not editable) install of the repository works from another directory: the
quickstart and the command line run from the installed copy, not from the checkout."""

import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

QUICKSTART = """
import adjoint, os
assert os.path.dirname(adjoint.__file__).startswith(os.environ["INSTALLED"]), adjoint.__file__

def f4(side_lengths):
    a, b, c, d = side_lengths
    return 2.0 * (a * b * c + a * b * d + a * c * d + b * c * d)

print(adjoint.grad(f4)([1.0, 2.0, 3.0, 4.0]).tolist())
"""


@pytest.mark.slow
def test_a_plain_install_runs_the_quickstart_and_the_cli_from_elsewhere(tmp_path):
    installed = tmp_path / "site"
    # the test environment's numpy, numba, gast and astor serve as the dependencies
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(installed), ROOT], check=True, cwd=tmp_path)
    assert not (installed / "adjoint" / "__editable__").exists()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = dict(os.environ, PYTHONPATH=str(installed), INSTALLED=str(installed))
    (elsewhere / "quickstart.py").write_text(QUICKSTART)
    run = subprocess.run([sys.executable, "quickstart.py"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "[52.0, 38.0, 28.0, 22.0]"
    model = elsewhere / "model.py"
    model.write_text("def f(x, y):\n    return x * x * y\n")
    cli = subprocess.run([sys.executable, "-m", "adjoint", "check", "model.py:f", "--at", "1.5;2",
                          "--target", "python"], cwd=elsewhere, env=env, capture_output=True, text=True)
    assert cli.returncode == 0, cli.stderr
    assert "agrees with finite differences" in cli.stdout
