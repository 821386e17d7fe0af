"""Every Python block of README.md runs as written, in order, in one process (as a reader
pasting them into one session would); blocks that show emitted code (marked golden or
golden-excerpt, checked by test_golden.py) are output, not input. Where a block's line
ends with `# <value>` comment after a call, the call's result is checked against it."""

import contextlib
import io
import os
import re

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BLOCK = re.compile(r"(?P<marker><!-- golden[^\n]*-->\n)?```python\n(?P<code>.*?)```", re.S)
SHOWN = re.compile(r"^(?P<call>[^#\n=]+?)\s+#\s+(?P<value>array\(.*\)|-?[\d.]+)\s*$", re.M)


def python_blocks():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as handle:
        text = handle.read()
    return [m.group("code") for m in BLOCK.finditer(text) if not m.group("marker")]


def _dedented(code):
    lines = code.splitlines()
    indent = min((len(line) - len(line.lstrip()) for line in lines if line.strip()), default=0)
    return "\n".join(line[indent:] for line in lines) + "\n"


def test_every_python_block_of_the_readme_runs_in_order_and_shows_what_it_says(tmp_path, monkeypatch):
    blocks = python_blocks()
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "readme"}
    checked = 0
    for k, code in enumerate(blocks):
        code = _dedented(code)
        path = tmp_path / f"readme_block_{k}.py"       # a real file: adjoint reads the source
        path.write_text(code, encoding="utf-8")
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(code, str(path), "exec"), namespace)
        for shown in SHOWN.finditer(code):
            got = eval(shown.group("call"), namespace)
            want = eval(shown.group("value"), {"array": np.array})
            np.testing.assert_allclose(got, want, rtol=1e-12, err_msg=shown.group(0))
            checked += 1
    assert checked >= 1                     # the quickstart's gradient [52, 38, 28, 22] at least
