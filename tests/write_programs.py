"""Random small programs of views, aliases and in-place writes (tests/test_write_programs.py).

Each program binds views (`z0 = y1[1:4]`; of matrices, rows, columns, transposes, reshapes),
copies (of parts, and of whole arrays, as a loop copies its state: `y0 = np.copy(w)`), aliases (`w = y0`) and arrays anew, reads them through nonlinear functions, and writes
into the arrays in place (slices, elements, whole arrays, through a view, an alias or a
helper), in loops (the index names shadowed now and then) and branches.
adjoint must either reject a program (views.py: a write another name would see) or
differentiate it right: every accepted gradient is checked against central differences of the
function itself, in both modes. Programs from this generator found silent wrong gradients in
the views check, the reverse sweep's view copies, the seed-of-ones fusion, loops whose index
the body binds again (the tapes' tags, and a replay that dropped the inner loop binding it),
and `B = A.T * 1.0` folded into a view of A written later.

    python -m tests.write_programs --start 0 --count 300 [--family matrices|loops]   # longer than the test
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import random
import sys
import tempfile

import numpy as np

import adjoint


def _statement(r, depth):
    y, z, s, k = f"y{r.randint(0, 1)}", f"z{r.randint(0, 2)}", r.randint(0, 2), r.randint(0, 4)
    kind = r.choice(["view", "view", "copy", "read", "read", "write", "write", "element", "anew", "alias",
                     "alias read", "loop", "branch", "alias write", "view write", "copy whole"])
    simple = {  # each a function: only the chosen one draws from r, as the program's seed fixes
        "view": lambda: f"{z} = {y}[{s}:{s + 3}]",
        "copy": lambda: f"{z} = np.copy({y}[{s}:{s + 3}])",
        "read": lambda: f"a = a + np.sum(np.sin({z}) * x[{s}:{s + 3}])",
        "write": lambda: f"{y}[{s}:{s + 3}] = np.tanh({z}) * x[{k}]",
        "element": lambda: f"{y}[{k}] = a * x[{k}]",
        "anew": lambda: f"{y} = x * {r.choice([0.5, 1.5, -0.7])}",
        "alias": lambda: f"w = {y}",
        "alias read": lambda: "a = a + np.sum(w * x)",
        "alias write": lambda: f"w[{k}] = a * 0.5",
        "view write": lambda: f"{z}[{r.randint(0, 2)}] = a * x[{k}]",
        "copy whole": lambda: f"{y} = np.copy({r.choice(['y0', 'y1', 'w'])})"}    # a loop's state copied
    if kind in simple:
        return [simple[kind]()]
    return _compound(r, depth, kind, _statement, f"a = a + np.sum({z})", ["i", "i", "j", "it"])


def _compound(r, depth, kind, statement, leaf, indices):
    """A loop of two iterations or a branch on flag, of statements made by `statement`; at
    depth 2, the line `leaf` instead."""
    if depth > 1:
        return [leaf]
    body = [line for _ in range(r.randint(1, 4)) for line in statement(r, depth + 1)]
    if kind == "loop":
        return [f"for {r.choice(indices)} in range(2):"] + ["    " + line for line in body]
    other = [line for _ in range(r.randint(0, 2)) for line in statement(r, depth + 1)] or ["a = a * 1.0"]
    return ["if flag > 0:"] + ["    " + line for line in body] + ["else:"] + ["    " + line for line in other]


_HELPER = """
def scale_into(v, c):
    v[0] = v[0] * c
    return c
"""


def _matrix_statement(r, depth):
    """Matrices this time: rows, columns, transposes and reshapes as views, whole-array `+=`,
    element reads, a helper writing into its parameter."""
    A, v, i, j = f"A{r.randint(0, 1)}", f"v{r.randint(0, 2)}", r.randint(0, 2), r.randint(0, 3)
    kind = r.choice(["row", "column", "transpose", "reshape", "copy", "read", "read", "row write", "element",
                     "in place", "anew", "alias", "alias read", "loop", "branch", "element read", "helper",
                     "view update", "view write"])
    simple = {
        "row": lambda: [f"{v} = {A}[{i}]"],
        "column": lambda: [f"{v} = {A}[:, {j}][:3]"],
        "transpose": lambda: [f"B = {A}.T"],
        "reshape": lambda: [f"{v} = np.reshape({A}, (12,))[{i}:{i + 4}]"],
        "copy": lambda: [f"{v} = np.copy({A}[{i}])"],
        "read": lambda: [f"a = a + np.sum(np.sin({v}[:3]) * x[{i}:{i + 3}])"],
        "row write": lambda: [f"{A}[{i}] = np.tanh({v}[:4]) * x[{j}]" if r.random() < 0.5
                              else f"{A}[{i}, :3] = np.tanh({v}[:3]) * x[{j}]"],
        "element": lambda: [f"{A}[{i}, {j}] = a * x[{j}]"],
        "in place": lambda: [f"{A} += np.cos(x[:4]) * {r.choice([0.5, -0.3])}"],
        "anew": lambda: [f"{A} = np.outer(x[:3], x[1:5]) * {r.choice([0.5, 1.5])}"],
        "alias": lambda: [f"W = {A}"],
        "alias read": lambda: ["a = a + np.sum(W * W) * 0.1"],
        "element read": lambda: [f"a = a + {A}[{i}, {j}] * x[{j}]"],
        "helper": lambda: [f"c = scale_into({v}, x[{j}])", "a = a + c"],
        "view update": lambda: [f"{v} += x[:4] * 0.5" if r.random() < 0.3 else f"{v} = {v} + x[:4] * 0.5"],
        "view write": lambda: [f"{v}[{r.randint(0, 2)}] = a * 0.3"]}
    if kind in simple:
        return simple[kind]()
    return _compound(r, depth, kind, _matrix_statement, f"a = a + np.sum({A}) * 0.1", ["i", "k"])


_N = 6                                # the loops family's vectors


def _index(r, var):
    return r.choice([var, f"{var} + 1", f"{var} - 1", f"{_N - 1} - {var}", f"({var} * 2) % {_N}", "0", f"{var} // 2"])


def _term(r, var):
    a, b = r.choice("xyz"), r.choice("xyz")
    return r.choice([f"{a}[{_index(r, var)}] * {b}[{_index(r, var)}]", f"np.sin({a}[{_index(r, var)}])",
                     f"s * {a}[{_index(r, var)}]", f"{a}[{_index(r, var)}] + 0.5 * s",
                     f"math.tanh({a}[{_index(r, var)}] - {b}[{_index(r, var)}])",
                     f"max({a}[{_index(r, var)}], 0.3)", f"{a}[{_index(r, var)}] ** 2"])


def _loop_statement(r, depth, var):
    """Loops this time: element writes and updates at index expressions (negative ones too),
    recurrences through a scalar, branches on data, `while` loops, `break`, and loop indices
    that inner loops bind again."""
    kind = r.choice(["write", "write", "update", "update", "scalar"] + (["for", "for", "if", "while"] if depth < 2 else []))
    if kind in ("write", "update"):
        return [f"{r.choice('yz')}[{_index(r, var)} % {_N}] {'=' if kind == 'write' else '+='} {_term(r, var)}"]
    if kind == "scalar":
        return [f"s = s * 0.9 + {_term(r, var)}"]
    if kind == "if":
        body = [line for _ in range(r.randint(1, 3)) for line in _loop_statement(r, depth + 1, var)]
        other = [line for _ in range(r.randint(0, 2)) for line in _loop_statement(r, depth + 1, var)]
        test = r.choice([f"x[{_index(r, var)} % {_N}] > 0.0", "s > 0.5", f"{var} % 2 == 0"])
        return [f"if {test}:"] + ["    " + line for line in body] + (["else:"] + ["    " + line for line in other] if other else [])
    if kind == "for":
        index = r.choice("ijk")
        body = [line for _ in range(r.randint(1, 3)) for line in _loop_statement(r, depth + 1, index)]
        if r.random() < 0.2:
            body += ["if s > 3.0:", "    break"]
        low, high = r.choice([(0, _N), (1, _N - 1), (0, 3)])
        return [f"for {index} in range({low}, {high}):"] + ["    " + line for line in body]
    body = [line for _ in range(r.randint(1, 3)) for line in _loop_statement(r, depth + 1, "w")]
    return ["w = 0", "while w < 3:"] + ["    " + line for line in body] + ["    w += 1"]


def source(seed: int, family: str = "vectors") -> str:
    """The program of `seed`: `f(x, flag)` of a vector x of 5 and a number, over vectors or
    matrices (`family`)."""
    r = random.Random(seed)
    if family == "vectors":
        lines = ["def f(x, flag):", "    a = 0.0", "    y0 = x * 1.0", "    y1 = np.cos(x)",
                 "    z0 = np.copy(y0[0:3])", "    z1 = np.copy(y1[1:4])", "    z2 = np.copy(y0[2:5])", "    w = y1"]
        statement, helper = _statement, ""
        result = "a + np.sum(y0 * y0) + np.sum(y1 * x) + np.sum(z0 * z1) + np.sum(w * z2[0])"
    elif family == "loops":
        lines = ["def f(x, flag):", "    s = 0.0", "    y = x * 0.5", f"    z = np.zeros({_N})", "    i = 0", "    w = 0"]
        statement, helper = (lambda r, depth: _loop_statement(r, depth, "i")), ""
        result = f"s + np.sum(y * y) + np.sum(np.sin(z)) + y[0] * z[{_N - 1}]"
    else:
        lines = ["def f(x, flag):", "    a = 0.0", "    A0 = np.outer(x[:3], x[1:5])", "    A1 = np.outer(np.cos(x[:3]), x[:4])",
                 "    v0 = np.copy(A0[0])", "    v1 = np.copy(A1[1])", "    v2 = np.copy(A0[2])", "    W = A1",
                 "    B = A0.T * 1.0", "    c = 0.0"]
        statement, helper = _matrix_statement, _HELPER
        result = ("a + np.sum(A0 * A0) + np.sum(A1 * 0.7) + np.sum(v0 * v1) + np.sum(W * v2[0]) "
                  "+ np.sum(B * B) * 0.1")
    for _ in range(r.randint(3, 9) if family != "loops" else r.randint(2, 5)):
        lines += ["    " + line for line in statement(r, 0)]
    lines.append("    return " + result)
    return "import math\n\nimport numpy as np\n" + helper + "\n\n" + "\n".join(lines) + "\n"


def _differences(f, x, flag, h=1e-6):
    g = np.zeros_like(x)
    for i in range(len(x)):
        up, down = x.copy(), x.copy()
        up[i] += h
        down[i] -= h
        g[i] = (f(up, flag) - f(down, flag)) / (2 * h)
    return g


def check(seed: int, folder: str, family: str = "vectors") -> dict:
    """Outcomes of program `seed` at both signs of flag, in both modes: counts of accepted,
    rejected and wrong gradients, and the wrong ones' descriptions. A program that numpy
    itself cannot run (shapes that do not broadcast, an index past the end) counts as
    neither, and so does a point where differences of two step sizes disagree (a kink) or
    where the value has grown past 1e6 (differences cannot resolve sin of it)."""
    name = f"write_program_{family}_{seed}"
    path = os.path.join(folder, name + ".py")
    with open(path, "w") as file:
        file.write(source(seed, family))
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = np.random.default_rng(seed).normal(size=_N if family == "loops" else 5)
    found = {"accepted": 0, "rejected": 0, "wrong": []}
    for flag in (1.0, -1.0):
        try:
            want = _differences(module.f, x, flag)
            coarser = _differences(module.f, x, flag, h=1e-5)
        except (ValueError, IndexError):
            break                                # numpy itself cannot run it
        if not np.allclose(want, coarser, rtol=1e-3, atol=1e-4 * max(1.0, np.max(np.abs(want)))) \
                or not abs(module.f(x.copy(), flag)) < 1e6:
            # at a kink (max(v, 0.3) at a tie), or grown so large (z[0] squared again and
            # again) that sin(z) turns faster than any step resolves: no oracle
            continue
        for mode in ("reverse", "forward"):
            try:
                got = adjoint.grad(module.f, mode=mode, target="python")(x.copy(), flag)
            except adjoint.AdjointError:
                found["rejected"] += 1
                continue
            found["accepted"] += 1
            if not np.allclose(got, want, rtol=1e-5, atol=1e-6 * max(1.0, np.max(np.abs(want)))):
                found["wrong"].append(f"{family} program {seed}, flag {flag}, {mode}: "
                                      f"off by {np.max(np.abs(got - want)):.3g}")
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=int, default=0)
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--family", choices=("vectors", "matrices", "loops"), default="vectors")
    args = parser.parse_args(argv)
    totals = {"accepted": 0, "rejected": 0, "wrong": []}
    with tempfile.TemporaryDirectory() as folder:
        for seed in range(args.start, args.start + args.count):
            found = check(seed, folder, args.family)
            totals["accepted"] += found["accepted"]
            totals["rejected"] += found["rejected"]
            totals["wrong"] += found["wrong"]
            for line in found["wrong"]:
                print("WRONG", line, flush=True)
    print(f"{args.count} programs: {totals['accepted']} gradients accepted, {totals['rejected']} rejected, "
          f"{len(totals['wrong'])} wrong")
    return 1 if totals["wrong"] else 0


if __name__ == "__main__":
    sys.exit(main())
