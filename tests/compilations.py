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
