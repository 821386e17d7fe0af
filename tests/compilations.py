"""What numba compiles during a call: the names of the functions each `numba:compile` event
is for, nested ones included (numpy's overloads, runtime helpers), for the tests of what a
first call compiles (issue 18)."""

from __future__ import annotations

from numba.core import event


def compiled_during(call, *args):
    """(call(*args), the qualified names of the functions numba compiled meanwhile)."""
    names = []

    class Compiles(event.Listener):
        def on_start(self, ev):
            dispatcher = ev.data["dispatcher"]
            names.append(getattr(getattr(dispatcher, "py_func", dispatcher), "__qualname__", "?"))

        def on_end(self, ev):
            pass

    with event.install_listener("numba:compile", Compiles()):
        result = call(*args)
    return result, names


def compiled_in_a_fresh_process(setup: str, call: str) -> list:
    """The qualified names numba compiles while a fresh Python process (this checkout on its
    path) evaluates `call` after running `setup`: numba compiles each overload once per
    process, so what a first call compiles shows only in a process that compiled nothing yet."""
    import json
    import os
    import subprocess
    import sys
    script = "\n".join(["import json", "from tests.compilations import compiled_during", setup,
                         f"_, names = compiled_during(lambda: {call})", "print(json.dumps(names))"])
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run([sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])
