"""A differential fuzzer: random programs in the supported subset, adjoint against oracles.

    report = run_campaign(seed=1, count=1000)          # or: python -m tests.fuzzing --seed 1
    report.ok, report.mismatches, report.failures[0].source

`generate(seed)` returns the source of one module: a few module-level helpers (a helper may
call an earlier one) and `f`, with two or three float arguments and optionally one float
array `x`. The program is built from a plain `random.Random(seed)`, so a seed names a program
for good. It uses the grammar the compiler documents (normalize.py): + - * / ** (constant
exponents, variable ones only on positive bases), unary minus, abs/min/max, math.sin/cos/
tanh, math.exp of bounded arguments, math.log/sqrt of positive ones, conditional
expressions, if/elif/else over comparisons with and/or/not, for loops over range(...) with
constant, len(x) or x.shape[0] bounds and any step, while loops with a bounded integer
counter, break/continue, augmented assignment, tuple assignment (swaps), early returns
(inside loops too), module-level numeric constants, helper calls (a helper may take the
array), and variable names the compiler itself generates (t_1, s_a, tape_s, ...).

Constructs that hit a known compiler bug not fixed yet are not generated unless asked
(`KNOWN_BUGS`, `avoid=()`, `--allow-known`): a campaign's failures are then new bugs.

Values stay bounded: every expression carries an upper bound on its magnitude, and one that
could grow past `LIMIT` is squashed (tanh, sin, a / (1 + |a|)); loop-carried variables are
overwritten only through contracting forms. So central differences are meaningful and no
program overflows. Divisions and logarithms only see denominators and arguments that are
positive by construction (1.0 + e * e, 2.0 + sin(e), ...).

Each program is imported from a temporary file (the compiler reads source with inspect) and,
at a few random points, its gradient from `adjoint.grad` on each target is compared with

  * autograd running the same source (`tests.oracles.autograd_twin`): exact derivatives of
    the path the program takes, so agreement must be to round-off;
  * central finite differences at two steps (1e-5 and 1e-6, relative). A kink or a branch
    condition crossed inside the stencil shows up as the two differences disagreeing; such a
    point is inconclusive, never a failure. A failure needs the two to agree with each other
    and disagree with adjoint;
  * the other target (python and numba must agree to 1e-9).

A gradient is wrong when it disagrees with autograd and finite differences do not vouch for
it (or autograd cannot run and consistent differences disagree). Any AdjointError on these
programs is a bug too: they use only supported syntax.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import importlib.util
import math
import os
import random
import sys
import tempfile
import time
import traceback
import warnings

import numpy as np

LIMIT = 6.0                     # expressions whose bound passes this are squashed
MAX_TRIPS = 6                   # the most iterations any generated loop runs
MAX_DEPTH = 2                   # statement nesting (compile time grows fast with loop nesting)
STEPS = (1e-5, 1e-6)            # the two finite-difference steps (relative)
FD_RTOL = 1e-4                  # differences vs each other and vs adjoint
EXACT_RTOL = 1e-7               # adjoint vs autograd, and python vs cpu: round-off only

LOCALS = ["a", "b", "c", "u", "v", "w", "s", "r", "z", "acc", "tmp", "y1", "y2", "y3"]
# Names the compiler itself generates (temporaries, sensitivities, flags, tapes, inlined
# helper locals): user variables may use them too, and the namer must step around them.
TRICKY = ["t_1", "t_2", "s_a", "s_p", "s_1", "t_result", "t_live", "t_stop", "tape_s",
          "h0_a", "x_1", "p_1", "s_x"]
ARGS = ["p", "q", "alpha"]

# Constructs that hit a compiler bug not fixed yet. Campaigns avoid them by default (so a
# failure is news), and tests/test_fuzz_regressions.py keeps each as a strict xfail: when one
# is fixed, its xfail fails; drop it here and from the regressions' xfail marks.
KNOWN_BUGS: dict = {       # name -> reason, for compiler bugs found and not fixed yet
}
# Fixed since the fuzzer found them (their regressions now pass), no longer avoided:
# "self_assignment" (v = v), "nested_loop_overwrite", "loop_tape_reuse", "return_in_loop"
# (t_result saved before any return set it), "unused_array" (an array never indexed),
# "return_in_nested_loop", "array_helper_maybe_unbound", "range_step_from_zero",
# "constant_condition" (a branch on constants in a loop; normalize now keeps the branch taken),
# "negative_constant_power", "maybe_unbound_overwrite", "overwrite_after_loop",
# "helper_local_like_inlined_name" (a chained comparison renamed twice).


# --- the generator ----------------------------------------------------------------------------

def _num(value: float) -> str:
    text = repr(round(value, 2))
    if "." not in text and "e" not in text:
        text += ".0"
    return f"({text})" if text.startswith("-") else text


@dataclasses.dataclass
class Scope:
    floats: dict                  # name -> bound on |value|
    ints: dict                    # name -> (low, high) of an integer variable
    safe_reads: list              # array reads valid here: "x[i]", "x[i + 1]", ...
    array: str | None             # the array argument, if any
    min_len: int                  # the array is at least this long
    in_loop: int = 0              # loop nesting depth
    frozen: frozenset = frozenset()     # names this block must not write (see KNOWN_BUGS)
    loop_entry: frozenset = frozenset()  # the names defined when the innermost loop began
    conditional: bool = False           # in a branch or a loop body

    def copy(self):
        return Scope(dict(self.floats), dict(self.ints), list(self.safe_reads), self.array,
                     self.min_len, self.in_loop, self.frozen, self.loop_entry, self.conditional)


@dataclasses.dataclass
class Helper:
    name: str
    params: list                  # parameter names; an array parameter is "x"
    bound: float                  # bound on the result, for arguments bounded by PARAM_BOUND


PARAM_BOUND = 2.0


class Generator:
    """Random programs from one `random.Random`; `avoid` switches constructs off by name."""

    def __init__(self, rng: random.Random, avoid=tuple(KNOWN_BUGS)):
        self.rng = rng
        self.avoid = set(avoid)
        self.helpers: list[Helper] = []
        self.constants: dict = {}            # module-level numeric constants
        self.loop_names = iter(["i", "j", "m", "i2", "j2", "m2", "i3", "j3", "m3"] +
                               [f"k{n}" for n in range(100)])
        self.counters = iter([f"n{n}" for n in range(100)])

    def chance(self, p):
        return self.rng.random() < p

    # module ---------------------------------------------------------------------------------

    def module(self) -> str:
        out = ["import math", "", "import numpy as np", ""]
        has_array = self.chance(0.45)
        self.min_len = self.rng.randint(3, 5)
        if has_array:
            out.insert(0, f"# x has at least {self.min_len} elements")
        for n in range(self.rng.choice([0, 0, 1, 2])):
            name = f"C{n}"
            self.constants[name] = round(self.rng.uniform(-1.5, 1.5), 2)
            out.append(f"{name} = {_num(self.constants[name])}")
        out.append("")
        for n in range(self.rng.choice([0, 0, 1, 1, 2])):
            out += ["", ""] + self.helper(f"h{n}", has_array)
        out += ["", ""] + self.main(has_array)
        return "\n".join(out) + "\n"

    def helper(self, name, has_array):
        self.helper_name = name
        self.writes, self.loop_written, self.read_in_loops = [], frozenset(), frozenset()
        self.in_helper, self.returned, self.cond_depth = True, False, 0
        params = ["a", "b"][:self.rng.choice([1, 2, 2])]
        if has_array and self.chance(0.3):
            params = ["x"] + params
        scope = Scope({p: PARAM_BOUND for p in params if p != "x"}, {}, [],
                      "x" if "x" in params else None, self.min_len)
        self._add_constant_reads(scope)
        body, scope, _ = self.block(scope, self.rng.randint(1, 3), depth=1, allow_return=True)
        # (depth 1: a helper's body nests one level less, it is inlined into loops)
        ret, bound = self.final_expression(scope)
        self.helpers.append(Helper(name, params, bound))
        return [f"def {name}({', '.join(params)}):"] + _indent(body + [f"return {ret}"])

    def main(self, has_array):
        self.writes, self.loop_written, self.read_in_loops = [], frozenset(), frozenset()
        self.in_helper, self.returned, self.cond_depth = False, False, 0
        scalars = self.rng.sample(ARGS, self.rng.choice([2, 2, 3]))
        params = list(scalars)
        if has_array:
            params.insert(self.rng.choice([0, len(params)]), "x")
        self.params = params
        scope = Scope({p: 1.5 for p in scalars}, {}, [], "x" if has_array else None, self.min_len)
        self._add_constant_reads(scope)
        body, scope, _ = self.block(scope, self.rng.randint(2, 4), depth=0, allow_return=True)
        ret, _ = self.final_expression(scope)
        if has_array and "unused_array" in self.avoid and "x[" not in "\n".join(body + [ret]):
            ret += " + 0.5 * x[0]"
        return [f"def f({', '.join(params)}):"] + _indent(body + [f"return {ret}"])

    def _add_constant_reads(self, scope):
        if scope.array:
            scope.safe_reads += [f"x[{k}]" for k in range(self.min_len)]
            scope.safe_reads += ["x[len(x) - 1]", "x[x.shape[0] - 2]", "x[-1]"]

    # statements -----------------------------------------------------------------------------

    def block(self, scope, count, depth, allow_return):
        """(lines, scope after, whether the block always leaves: return/break/continue)."""
        lines = []
        scope = scope.copy()
        for _ in range(count):
            stmt, scope, leaves = self.statement(scope, depth, allow_return)
            lines += stmt
            if leaves:
                return lines, scope, True
        return lines, scope, False

    def statement(self, scope, depth, allow_return):
        r = self.rng
        kinds = [("assign", 5), ("overwrite", 3), ("augassign", 2), ("tuple", 1)]
        if depth < MAX_DEPTH:
            kinds += [("if", 2), ("for", 1.5), ("while", 0.7)]
        if scope.in_loop:
            kinds += [("break", 0.6), ("continue", 0.5)]
        if allow_return and not (scope.in_loop >= 2 and "return_in_nested_loop" in self.avoid) \
                and not (scope.in_loop and "return_in_loop" in self.avoid):
            kinds += [("return", 0.5)]
        kinds = [(k, w) for k, w in kinds if k not in self.avoid]
        kind = r.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        return getattr(self, "stmt_" + kind)(scope, depth, allow_return)

    def fresh_local(self, scope):
        taken = set(scope.floats) | self.params_and_helpers()
        if "maybe_unbound_overwrite" in self.avoid:     # not even one a branch or loop bound
            taken |= set(self.writes)
        pool = [n for n in LOCALS if n not in taken]
        if "tricky_names" not in self.avoid and self.chance(0.12):
            tricky = TRICKY
            if self.in_helper and "helper_local_like_inlined_name" in self.avoid:
                tricky = [n for n in TRICKY if not n.startswith(self.helper_name + "_")]
            pool = [n for n in tricky if n not in taken] or pool
        if pool:
            return self.rng.choice(pool)
        return next(n for n in (f"v{k}" for k in range(1000)) if n not in taken)

    def params_and_helpers(self):
        return set(getattr(self, "params", [])) | {h.name for h in self.helpers} | {"x"}

    def stmt_assign(self, scope, depth, allow_return):
        expr, bound = self.expression(scope, self.rng.randint(1, 3))
        if self.writable(scope) and self.chance(0.25) and not scope.in_loop:
            name = self.rng.choice(self.writable(scope))           # plain reassignment
        else:
            name = self.fresh_local(scope)
        if scope.in_loop and name in scope.floats:
            expr, bound = self.squash(expr, bound, to=1.0)
        scope = scope.copy()
        scope.floats[name] = bound
        self.wrote(name)
        return [f"{name} = {expr}"], scope, False

    def stmt_overwrite(self, scope, depth, allow_return):
        """v = g(v, ...): a nonlinear update of a variable, contracting inside loops."""
        if not self.writable(scope):
            return self.stmt_assign(scope, depth, allow_return)
        name = self.rng.choice(self.writable(scope))
        old = scope.floats[name]
        other, ob = self.expression(scope, self.rng.randint(0, 2))
        other, ob = self.squash(other, ob, to=2.0)
        forms = [
            (f"math.tanh({name} * {other} + {_num(self.rng.uniform(-1, 1))})", 1.0),
            (f"0.5 * {name} + 0.5 * math.sin({other} * {name})", max(old, 1.0)),
            (f"{name} * (0.5 + 0.4 * math.tanh({other}))", old),
            (f"math.sin({name}) * {other}", ob),
            (f"{name} / (1.0 + {name} * {name}) + {other} * 0.25", 0.5 + ob * 0.25),
            (f"math.sqrt(1.0 + {name} * {name}) - {other}", math.sqrt(1 + old * old) + ob),
            (f"math.exp(math.tanh({name})) * 0.5", 1.4),
            (f"max({name}, {other}) * 0.75", max(old, ob) * 0.75),
        ]
        expr, bound = self.rng.choice(forms)
        if scope.in_loop and bound > max(old, 1.0):
            expr, bound = self.squash(expr, bound, to=1.0, force=True)
        elif bound > LIMIT:
            expr, bound = self.squash(expr, bound, force=True)
        scope = scope.copy()
        scope.floats[name] = bound if not scope.in_loop else max(old, 1.0)
        self.wrote(name)
        return [f"{name} = {expr}"], scope, False

    def stmt_augassign(self, scope, depth, allow_return):
        if not self.writable(scope):
            return self.stmt_assign(scope, depth, allow_return)
        name = self.rng.choice(self.writable(scope))
        old = scope.floats[name]
        e, b = self.expression(scope, self.rng.randint(0, 2))
        op = self.rng.choice(["+=", "-=", "*=", "/="])
        self.wrote(name)
        if op in ("+=", "-="):
            if scope.in_loop:
                e, b = self.squash(e, b, to=0.3, force=True)
                new = old + b * MAX_TRIPS
            else:
                e, b = self.squash(e, b)
                new = old + b
        elif op == "*=":
            e, b = f"(0.5 + 0.4 * math.tanh({e}))", 0.9
            if not scope.in_loop and self.chance(0.5):
                e, b = self.squash(*self.expression(scope, 1), to=1.5)
            new = old * max(b, 1.0) if not scope.in_loop else old
        else:
            e, b = f"(1.5 + math.tanh({e}))", 2.5
            new = old * 2.0 if not scope.in_loop else old
        scope = scope.copy()
        if new > LIMIT and not scope.in_loop:
            return [f"{name} {op} {e}", f"{name} = math.tanh({name})"], self._set(scope, name, 1.0), False
        scope.floats[name] = max(new, old)
        if scope.in_loop and new > LIMIT:
            # keep it bounded across iterations
            return [f"{name} {op} {e}", f"{name} = {name} / (1.0 + abs({name}))"], \
                self._set(scope, name, max(old, 1.0)), False
        return [f"{name} {op} {e}"], scope, False

    def _set(self, scope, name, bound):
        scope.floats[name] = bound
        return scope

    def wrote(self, *names):
        self.writes.extend(names)

    def writable(self, scope):
        return sorted(n for n in scope.floats
                      if n not in scope.frozen and n not in self.read_in_loops)

    def stmt_tuple(self, scope, depth, allow_return):
        names = self.writable(scope)
        if len(names) < 2:
            return self.stmt_assign(scope, depth, allow_return)
        a, b = self.rng.sample(names, 2)
        ba, bb = scope.floats[a], scope.floats[b]
        forms = [
            (f"{a}, {b} = {b}, {a}", bb, ba),
            (f"{a}, {b} = {b}, math.tanh({a} * {b} + 0.5)", bb, 1.0),
            (f"{a}, {b} = math.sin({b}) + 0.5 * {a}, {a}", 1 + 0.5 * ba, ba),
            (f"{a}, {b} = {b} * 0.5, {a} - {b}", bb * 0.5, ba + bb),
        ]
        text, na, nb = self.rng.choice(forms)
        scope = scope.copy()
        if scope.in_loop:             # carried through iterations: stay within the entry bounds
            if na > ba or nb > bb:
                text = f"{a}, {b} = {b}, {a}"
                na, nb = bb, ba
            # a swap exchanges the bounds: both take the larger
            na = nb = max(ba, bb)
        if max(na, nb) > LIMIT:
            text = f"{a}, {b} = {b}, {a}"
            na, nb = bb, ba
        scope.floats[a], scope.floats[b] = na, nb
        self.wrote(a, b)
        return [text], scope, False

    def stmt_if(self, scope, depth, allow_return):
        branches = [self.condition(scope)]
        while len(branches) < 3 and self.chance(0.35):
            branches.append(self.condition(scope))
        has_else = self.chance(0.6)
        lines, outcomes = [], []
        before, scope = scope, scope.copy()
        scope.conditional = True
        for n, cond in enumerate(branches):
            body, after, leaves = self.block(scope, self.rng.randint(1, 2), depth + 1, allow_return)
            lines += [f"{'if' if n == 0 else 'elif'} {cond}:"] + _indent(body)
            outcomes.append((after, leaves))
        if has_else:
            body, after, leaves = self.block(scope, self.rng.randint(1, 2), depth + 1, allow_return)
            lines += ["else:"] + _indent(body)
            outcomes.append((after, leaves))
        else:
            outcomes.append((before, False))
        merged = _merge(before, outcomes)
        merged.conditional = before.conditional
        return lines, merged, all(leaves for _, leaves in outcomes)

    def stmt_return(self, scope, depth, allow_return):
        self.returned = True            # what follows runs only if this did not return
        expr, _ = self.expression(scope, self.rng.randint(1, 3))
        if depth == 0 and not scope.in_loop:
            cond = self.condition(scope)
            return [f"if {cond}:", f"    return {expr}"], scope, False
        if self.chance(0.5):
            return [f"return {expr}"], scope, True
        return [f"if {self.condition(scope)}:", f"    return {expr}"], scope, False

    def stmt_break(self, scope, depth, allow_return):
        return self._exit(scope, "break")

    def stmt_continue(self, scope, depth, allow_return):
        return self._exit(scope, "continue")

    def _exit(self, scope, word):
        if self.chance(0.2):
            return [word], scope, True
        return [f"if {self.condition(scope)}:", f"    {word}"], scope, False

    def stmt_for(self, scope, depth, allow_return):
        r = self.rng
        index = next(self.loop_names)
        inner = scope.copy()
        reads = []
        n = scope.min_len
        choice = r.randint(4, 7) if scope.array and self.chance(0.6) else r.randint(0, 3)
        if choice == 0:
            stop = r.randint(0, MAX_TRIPS)
            header, lo, hi = f"range({stop})", 0, stop - 1
        elif choice == 1:
            start = r.randint(-2, 3)
            step = r.choice([1, 2, 3])
            if start == 0 and step > 1 and "range_step_from_zero" in self.avoid:
                start = r.choice([-1, 1])
            stop = start + r.randint(0, MAX_TRIPS) * step
            header, lo, hi = f"range({start}, {stop}, {step})", start, stop - 1
        elif choice == 2:
            start = r.randint(2, MAX_TRIPS)
            step = r.choice([-1, -2])
            stop = start + step * r.randint(0, MAX_TRIPS)
            header, lo, hi = f"range({start}, {stop}, {step})", stop + 1, start
        elif choice == 3:
            ints = [k for k, (lo_, hi_) in scope.ints.items() if 0 <= lo_ and hi_ <= MAX_TRIPS]
            if ints:
                k = r.choice(ints)
                header, lo, hi = f"range({k})", 0, scope.ints[k][1] - 1
            else:
                header, lo, hi = f"range({r.randint(1, 4)})", 0, 3
        elif choice == 4:
            header, lo, hi = r.choice(["range(len(x))", "range(x.shape[0])"]), 0, n - 1
            reads = [f"x[{index}]", f"x[len(x) - 1 - {index}]"]
        elif choice == 5:
            header, lo, hi = "range(len(x) - 1)", 0, n - 2
            reads = [f"x[{index}]", f"x[{index} + 1]"]
        elif choice == 6:
            header, lo, hi = "range(1, x.shape[0])", 1, n - 1
            reads = [f"x[{index}]", f"x[{index} - 1]"]
        else:
            header, lo, hi = "range(len(x) - 1, -1, -2)", 0, n - 1
            reads = [f"x[{index}]"]
        if scope.array and not reads and lo >= -n and hi < n:
            reads = [f"x[{index}]"]
        inner.ints[index] = (min(lo, hi), max(lo, hi, 0) + 2)   # the array may be longer
        inner.safe_reads += reads
        inner.in_loop += 1
        inner.floats = {k: max(v, 1.0) for k, v in scope.floats.items()}
        body, after = self.loop_body(scope, inner, depth, allow_return)
        lines = [f"for {index} in {header}:"] + _indent(body)
        self.after_loop(scope, lines)
        return lines, _after_loop(scope, after), False

    def stmt_while(self, scope, depth, allow_return):
        r = self.rng
        counter = next(self.counters)
        trips = r.randint(1, 5)
        init = [f"{counter} = 0"]
        if scope.floats and self.chance(0.7):
            var = r.choice(sorted(scope.floats))
            threshold = _num(r.uniform(-0.5, 3.0))
            op = r.choice(["<", ">", "<="])
            if op == ">":
                threshold = _num(-abs(r.uniform(-0.5, 3.0)))
            cond = f"{counter} < {trips} and {var} {op} {threshold}"
        else:
            cond = f"{counter} < {trips}"
        inner = scope.copy()
        inner.ints[counter] = (1, trips)
        inner.in_loop += 1
        inner.floats = {k: max(v, 1.0) for k, v in scope.floats.items()}
        body, after = self.loop_body(scope, inner, depth, allow_return)
        after_scope = _after_loop(scope, after)
        after_scope.ints[counter] = (0, trips)
        lines = init + [f"while {cond}:"] + _indent([f"{counter} += 1"] + body)
        self.after_loop(scope, lines)
        return lines, after_scope, False

    def after_loop(self, scope, lines):
        """What a loop reads may not be overwritten later, while that bug stands."""
        if "overwrite_after_loop" in self.avoid:
            import re
            names = set(re.findall(r"[A-Za-z_]\w*", "\n".join(lines)))
            self.read_in_loops = self.read_in_loops | (names & set(scope.floats))

    def loop_body(self, scope, inner, depth, allow_return):
        """(lines, scope after one pass) of a loop body, minding KNOWN_BUGS: a nested loop may
        not write what an enclosing loop carries, and a loop may not write what an earlier
        loop of the function wrote."""
        if scope.in_loop and "nested_loop_overwrite" in self.avoid:
            inner.frozen = scope.frozen | scope.loop_entry
        if "loop_tape_reuse" in self.avoid:
            inner.frozen = inner.frozen | self.loop_written
        inner.loop_entry = frozenset(scope.floats)
        inner.conditional = True        # (a loop may run no iteration)
        first = len(self.writes)
        body, after, _ = self.block(inner, self.rng.randint(1, 3), depth + 1, allow_return)
        self.loop_written |= set(self.writes[first:])
        return body, after

    # expressions ----------------------------------------------------------------------------

    def leaf(self, scope):
        r = self.rng
        options = []
        if scope.floats:
            options += [("var", 6)]
        options += [("const", 1 if scope.floats else 3)]
        if scope.safe_reads:
            options += [("read", 5 if scope.in_loop else 3)]
        if scope.ints:
            options += [("int", 1)]
        if self.constants:
            options += [("global", 0.7)]
        kind = r.choices([k for k, _ in options], [w for _, w in options])[0]
        if kind == "var":
            name = r.choice(sorted(scope.floats))
            return name, scope.floats[name]
        if kind == "read":
            import re
            indexed = [e for e in scope.safe_reads
                       if set(re.findall(r"[a-z]\w*", e[2:])) & set(scope.ints)]
            if indexed and self.chance(0.6):            # prefer reads that move with a loop
                return r.choice(indexed), 1.2
            return r.choice(scope.safe_reads), 1.2
        if kind == "int":
            name = r.choice(sorted(scope.ints))
            lo, hi = scope.ints[name]
            scale = r.choice([0.1, 0.25, 0.5])
            form = r.choice([f"({scale} * {name})", f"({name} * {scale})", f"(float({name}) * {scale})"])
            return form, scale * max(abs(lo), abs(hi), 1)
        if kind == "global":
            name = r.choice(sorted(self.constants))
            return name, abs(self.constants[name])
        value = round(r.uniform(-2, 2), r.choice([1, 2]))
        return _num(value), abs(value)

    def expression(self, scope, depth):
        """(text, bound on its magnitude) of a random expression."""
        if depth <= 0:
            return self.leaf(scope)
        r = self.rng
        kinds = [("arith", 4), ("div", 1.5), ("pow", 1.2), ("neg", 0.6), ("absminmax", 1.2),
                 ("trig", 2), ("exp", 1), ("logsqrt", 1), ("ifexp", 0.8), ("leaf", 1.5)]
        if self.helpers:
            kinds.append(("call", 1.5))
        kinds = [(k, w) for k, w in kinds if k not in self.avoid]
        kind = r.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        def sub():
            return self.expression(scope, depth - 1)
        if kind == "leaf":
            return self.leaf(scope)
        if kind == "arith":
            (a, ba), (b, bb) = sub(), sub()
            op = r.choice(["+", "-", "*", "+", "*"])
            bound = ba * bb if op == "*" else ba + bb
            return self.squash(f"({a} {op} {b})", bound)
        if kind == "div":
            (a, ba), (b, bb) = sub(), sub()
            form = r.randint(0, 3)
            if form == 0:
                c = r.choice([1.0, 1.5, 2.0])
                return self.squash(f"({a} / ({c} + {self.square(b)}))", ba / c)
            if form == 1:
                return self.squash(f"({a} / (2.0 + math.sin({b})))", ba)
            if form == 2:
                return self.squash(f"({a} / (1.5 + math.tanh({b})))", 2 * ba)
            return self.squash(f"(1.0 / (1.0 + abs({a})))", 1.0)
        if kind == "pow":
            (a, ba) = sub()
            form = r.randint(0, 4)
            if form == 0 and ba <= 2.5:
                k = r.choice(["2", "3", "2.0"])
                if "negative_constant_power" in self.avoid:
                    if a.startswith("(-") and a[2:-1].replace(".", "").isdigit():
                        a = a[2:-1]
                    elif self.constants.get(a, 0.0) < 0.0:          # inlined as a constant
                        a = _num(-self.constants[a])
                return self.squash(f"({a} ** {k})", ba ** float(k))
            if form == 1:
                (b, bb) = sub()
                b, bb = self.squash(b, bb, to=1.0, force=bb > 1.5)
                base = 1.0 + ba * ba
                if base > LIMIT:
                    a, ba = self.squash(a, ba, to=1.0, force=True)
                    base = 2.0
                return self.squash(f"((1.0 + {self.square(a)}) ** {b})", base ** bb)
            if form == 2:
                k = r.choice(["0.5", "1.5", "(-0.5)", "(-1.5)"])
                base = 1.0 + ba
                return self.squash(f"((1.0 + abs({a})) ** {k})", base ** max(float(k.strip("()")), 0))
            if form == 3:
                a, ba = self.squash(a, ba, to=1.0, force=ba > 1.0)
                return f"((2.0 + {a}) ** 0.5)", math.sqrt(3.0)
            return self.squash(f"({self.square(a)})", ba * ba)
        if kind == "neg":
            a, ba = sub()
            return f"(-{a})", ba
        if kind == "absminmax":
            (a, ba), (b, bb) = sub(), sub()
            form = r.choice(["abs", "min", "max"])
            if form == "abs":
                return f"abs({a})", ba
            return f"{form}({a}, {b})", max(ba, bb)
        if kind == "trig":
            a, ba = sub()
            fn = r.choice(["sin", "cos", "tanh"])
            return f"math.{fn}({a})", 1.0
        if kind == "exp":
            a, ba = sub()
            form = r.randint(0, 3)
            if form == 0:
                return f"math.exp(math.tanh({a}))", math.e
            if form == 1:
                return f"math.exp(math.sin({a}))", math.e
            if form == 2:
                return f"math.exp(-({self.square(a)}))", 1.0
            if ba <= 2.0:
                return f"math.exp(0.5 * {a})", math.exp(0.5 * ba)
            return f"math.exp(math.cos({a}))", math.e
        if kind == "logsqrt":
            a, ba = sub()
            form = r.randint(0, 3)
            if form == 0:
                return f"math.log(1.0 + {self.square(a)})", math.log(1 + ba * ba)
            if form == 1:
                return f"math.sqrt(1.0 + {self.square(a)})", math.sqrt(1 + ba * ba)
            if form == 2:
                return f"math.log(2.0 + math.tanh({a}))", math.log(3.0)
            return f"math.sqrt(abs({a}) + 0.5)", math.sqrt(ba + 0.5)
        if kind == "ifexp":
            self.cond_depth += 1
            (a, ba), (b, bb) = sub(), sub()
            self.cond_depth -= 1
            return f"({a} if {self.condition(scope)} else {b})", max(ba, bb)
        if kind == "call":
            helper = r.choice(self.helpers)
            args = []
            for p in helper.params:
                if p == "x":
                    if scope.array is None or ("array_helper_maybe_unbound" in self.avoid and (
                            scope.conditional or self.returned or self.cond_depth or
                            self.in_helper)):
                        return self.leaf(scope)
                    args.append("x")
                    continue
                e, b = sub()
                e, b = self.squash(e, b, to=PARAM_BOUND)
                if "constant_condition" in self.avoid and self.constant(e) and scope.floats:
                    e = r.choice(sorted(scope.floats))      # (its branches could fold)
                    e, b = self.squash(e, scope.floats[e], to=PARAM_BOUND)
                args.append(e)
            return self.squash(f"{helper.name}({', '.join(args)})", helper.bound)
        raise AssertionError(kind)

    def squash(self, expr, bound, to=LIMIT, force=False):
        """expr itself when |expr| <= to, else a bounded smooth function of it."""
        if bound <= to and not force:
            return expr, bound
        r = self.rng
        if to >= 2.0 and self.chance(0.5):
            return f"({_num(to)} * math.tanh(({expr}) / {_num(max(bound, 1.0))}))", to
        form = r.randint(0, 2)
        if form == 0:
            return (f"math.tanh({expr})", 1.0) if to >= 1.0 else self._scale(expr, to)
        if form == 1:
            return (f"math.sin({expr})", 1.0) if to >= 1.0 else self._scale(expr, to)
        if len(expr) > 30 or _calls(expr):  # the expression would appear twice: keep it small
            return (f"math.tanh({expr})", 1.0) if to >= 1.0 else self._scale(expr, to)
        return (f"(({expr}) / (1.0 + abs({expr})))", 1.0) if to >= 1.0 else self._scale(expr, to)

    def constant(self, expr):
        """Whether `expr` reads no variable (module constants are inlined as numbers)."""
        import re
        names = set(re.findall(r"[A-Za-z_]\w*", expr)) - set(self.constants)
        return not names - {"math", "sin", "cos", "tanh", "exp", "log", "sqrt", "abs", "min",
                            "max", "float"}

    def square(self, a):
        """a * a, or (a) ** 2 when `a` is long or calls a helper (no exponential growth)."""
        if len(a) <= 20 and not _calls(a):
            return f"{a} * {a}"
        return f"({a}) ** 2"

    def _scale(self, expr, to):
        return f"({_num(to)} * math.tanh({expr}))", to

    def condition(self, scope, depth=0):
        r = self.rng
        form = r.choices(["cmp", "and", "or", "not", "chain", "int"], [6, 1.5, 1.5, 0.7, 0.5,
                                                                       1 if scope.ints else 0])[0]
        if depth >= 2:
            form = "cmp"
        if form in ("and", "or"):
            self.cond_depth += 1                  # (the right operand runs conditionally)
            text = f"({self.condition(scope, depth + 1)} {form} {self.condition(scope, depth + 1)})"
            self.cond_depth -= 1
            return text
        if form == "not":
            return f"(not {self.condition(scope, depth + 1)})"
        if form == "int":
            name = r.choice(sorted(scope.ints))
            return r.choice([f"{name} == {r.randint(0, 3)}", f"{name} % 2 == 0",
                             f"{name} > {r.randint(0, 3)}", f"{name} != {r.randint(0, 3)}"])
        a, _ = self.expression(scope, r.randint(0, 1 if depth else 2))
        if "constant_condition" in self.avoid and self.constant(a) and scope.floats:
            a = r.choice(sorted(scope.floats))                  # a comparison of constants
        op = r.choice(["<", ">", "<=", ">="])
        if form == "chain":
            return f"({_num(r.uniform(-2, 0))} < {a} < {_num(r.uniform(0, 2))})"
        if self.chance(0.5):
            b = _num(r.uniform(-1, 1))
        else:
            b, _ = self.expression(scope, r.randint(0, 1))
        return f"({a} {op} {b})"

    def final_expression(self, scope):
        """The returned value: several live variables combined, so most of them matter."""
        names = sorted(scope.floats)
        picked = self.rng.sample(names, min(len(names), self.rng.randint(1, 4)))
        terms = []
        for name in picked:
            coeff = _num(self.rng.uniform(-1.5, 1.5))
            terms.append(self.rng.choice([name, f"{coeff} * {name}", f"math.sin({name})",
                                          f"{name} * {name}"]))
        expr, bound = self.expression(scope, self.rng.randint(0, 2))
        terms.append(expr)
        bound = sum(max(scope.floats[n], 1.0) ** 2 for n in picked) + bound
        return " + ".join(terms), bound


def _calls(expr):
    import re
    return re.search(r"\bh\d+\(", expr) is not None


def _indent(lines):
    return ["    " + line for line in lines] or ["    pass"]


def _merge(before, outcomes):
    """The scope after an if: variables every continuing branch defines, the widest bounds."""
    going = [s for s, leaves in outcomes if not leaves]
    if not going:
        return before.copy()
    merged = before.copy()
    common = set.intersection(*(set(s.floats) for s in going))
    merged.floats = {n: max(s.floats[n] for s in going) for n in common}
    ints = set.intersection(*(set(s.ints) for s in going))
    merged.ints = {n: (min(s.ints[n][0] for s in going), max(s.ints[n][1] for s in going))
                   for n in ints}
    return merged


def _after_loop(before, after):
    """After a loop (it may run no iteration): the variables from before, widened bounds."""
    out = before.copy()
    for name in before.floats:
        out.floats[name] = max(before.floats[name], after.floats.get(name, 0.0))
    return out


def generate(seed: int, avoid=tuple(KNOWN_BUGS)) -> str:
    """The source of one random module defining `f` (and helpers), from `seed` alone."""
    return Generator(random.Random(seed), avoid).module()


# --- checking one program -----------------------------------------------------------------------

@dataclasses.dataclass
class Failure:
    index: int
    seed: int                     # the program's own seed: generate(seed) rebuilds it
    kind: str                     # mismatch | adjoint_error | crash | targets_disagree
    target: str
    message: str
    source: str
    args: tuple = ()
    wrt: object = None
    expected: object = None
    got: object = None

    def describe(self) -> str:
        lines = [(f"[{self.kind}] program #{self.index} (seed {self.seed}) target={self.target} "
                  f"wrt={self.wrt!r}"), f"  {self.message}"]
        if self.args:
            lines.append(f"  args: {_show(self.args)}")
        if self.expected is not None:
            lines.append(f"  expected: {_show(self.expected)}")
            lines.append(f"  got:      {_show(self.got)}")
        lines.append(self.source)
        return "\n".join(lines)


@dataclasses.dataclass
class Report:
    seed: int
    tried: int = 0
    compiled: dict = dataclasses.field(default_factory=dict)   # target -> programs compiled
    points: int = 0               # (program, point, target) gradients compared
    inconclusive: int = 0         # components where the two differences disagreed (kinks)
    autograd_unavailable: int = 0
    invalid: int = 0              # programs whose own evaluation failed (a generator defect)
    mismatches: int = 0
    adjoint_errors: int = 0
    crashes: int = 0
    failures: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    slowest: list = dataclasses.field(default_factory=list)   # (seconds in grad(), index, target)

    @property
    def ok(self) -> bool:
        return not (self.mismatches or self.adjoint_errors or self.crashes or self.invalid)

    def summary(self) -> str:
        compiled = ", ".join(f"{t} {n}" for t, n in self.compiled.items())
        return (f"seed {self.seed}: {self.tried} programs, compiled ({compiled}), "
                f"{self.points} gradients compared, {self.inconclusive} inconclusive FD "
                f"components, autograd unavailable {self.autograd_unavailable}, "
                f"invalid {self.invalid}; mismatches {self.mismatches}, adjoint errors "
                f"{self.adjoint_errors}, crashes {self.crashes} ({self.seconds:.1f} s)")


def _show(value):
    if isinstance(value, (tuple, list)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    if isinstance(value, np.ndarray):
        return "np.array([" + ", ".join(repr(float(v)) for v in value.ravel()) + "])"
    if isinstance(value, (float, np.floating)):
        return repr(float(value))
    return repr(value)


def program_seed(seed: int, index: int) -> int:
    return seed * 1_000_003 + index


class _Loaded:
    """A generated module imported from a real file (adjoint reads source with inspect)."""

    def __init__(self, source, directory, name):
        self.path = os.path.join(directory, name + ".py")
        with open(self.path, "w", encoding="utf-8") as handle:
            handle.write(source)
        spec = importlib.util.spec_from_file_location(name, self.path)
        self.module = importlib.util.module_from_spec(spec)
        sys.modules[name] = self.module
        self.name = name
        spec.loader.exec_module(self.module)

    def close(self):
        sys.modules.pop(self.name, None)
        with contextlib.suppress(OSError):
            os.remove(self.path)


def _points(rng, params, min_len, count):
    points = []
    for _ in range(count):
        args = []
        for p in params:
            if p == "x":
                n = int(rng.integers(min_len, min_len + 3))
                args.append(np.round(rng.uniform(-1.2, 1.2, n), 3))
            else:
                args.append(float(np.round(rng.uniform(-1.5, 1.5), 3)))
        points.append(tuple(args))
    return points


def _wrt(rng, params):
    n = len(params)
    roll = rng.random()
    if roll < 0.55:
        return tuple(range(n))
    if roll < 0.8:
        k = int(rng.integers(n))
        return params[k] if rng.random() < 0.3 else k
    k = sorted(rng.choice(n, size=2, replace=False).tolist())
    return tuple(k)


def _close(a, b, rtol, scale):
    return abs(a - b) <= rtol * max(abs(a), abs(b)) + rtol * 1e-2 * scale


def case(seed, index, avoid=tuple(KNOWN_BUGS), points=2):
    """Program `index` of campaign `seed`: (source, wrt, wrt indices, argument points)."""
    import re
    source = generate(program_seed(seed, index), avoid)
    header = re.search(r"^def f\((.*)\):", source, re.MULTILINE).group(1)
    params = [p.strip() for p in header.split(",")]
    rng = np.random.default_rng([seed, index])
    wrt = _wrt(rng, params)
    indices = [params.index(w) if isinstance(w, str) else w
               for w in (wrt if isinstance(wrt, tuple) else (wrt,))]
    return source, wrt, indices, _points(rng, params, _min_len(source), points)


def check_program(report, index, seed, targets, log, points=2, avoid=tuple(KNOWN_BUGS),
                  directory=None):
    """Generate, load and check program `index` of a campaign; updates `report`."""
    import adjoint
    from tests.oracles import autograd_gradient, finite_difference

    pseed = program_seed(seed, index)
    source = generate(pseed, avoid)
    report.tried += 1
    name = f"adjoint_fuzz_{seed}_{index}"
    loaded = None

    def fail(kind, target, message, **extra):
        failure = Failure(index, pseed, kind, target, message, source, **extra)
        report.failures.append(failure)
        if kind == "mismatch" or kind == "targets_disagree":
            report.mismatches += 1
        elif kind == "adjoint_error":
            report.adjoint_errors += 1
        elif kind == "invalid":
            report.invalid += 1
        else:
            report.crashes += 1
        log(failure.describe())

    try:
        loaded = _Loaded(source, directory, name)
        f = loaded.module.f
        _, wrt, wrt_indices, points_ = case(seed, index, avoid, points)
        args_list = []
        for args in points_:
            try:
                value = f(*args)
            except Exception as exc:  # noqa: BLE001 (the generator made a bad program)
                fail("invalid", "-", f"the program itself raised {type(exc).__name__}: {exc}",
                     args=args)
                return
            if not (isinstance(value, float) and math.isfinite(value) and abs(value) < 1e8):
                fail("invalid", "-", f"the program returned {value!r}", args=args)
                return
            args_list.append((args, value))

        oracles = []
        for args, value in args_list:
            oracles.append(_oracles(f, args, wrt_indices, value, report,
                                    autograd_gradient, finite_difference))

        results = {}
        for target in targets:
            began = time.perf_counter()
            try:
                g = adjoint.grad(f, wrt=wrt, target=target)
            except adjoint.AdjointError as exc:
                fail("adjoint_error", target, f"grad() raised AdjointError: {exc}", wrt=wrt)
                continue
            except Exception:  # noqa: BLE001
                fail("crash", target, f"grad() crashed:\n{traceback.format_exc()}", wrt=wrt)
                continue
            report.compiled[target] = report.compiled.get(target, 0) + 1
            report.slowest.append((time.perf_counter() - began, index, target))
            report.slowest = sorted(report.slowest, reverse=True)[:5]
            for point, ((args, value), oracle) in enumerate(zip(args_list, oracles)):
                try:
                    got = g(*args)
                except adjoint.AdjointError as exc:
                    fail("adjoint_error", target, f"the gradient raised AdjointError: {exc}",
                         args=args, wrt=wrt)
                    break
                except Exception:  # noqa: BLE001
                    fail("crash", target, f"the gradient crashed:\n{traceback.format_exc()}",
                         args=args, wrt=wrt)
                    break
                report.points += 1
                parts = got if isinstance(wrt, tuple) else (got,)
                if not isinstance(parts, tuple) or len(parts) != len(wrt_indices):
                    problem = (f"a tuple wrt of {len(wrt_indices)} gave {got!r}", None)
                else:
                    problem = _compare(parts, oracle, args, wrt_indices, value, report)
                if problem:
                    message, expected = problem
                    fail("mismatch", target, message, args=args, wrt=wrt, expected=expected,
                         got=got)
                    break
                results.setdefault(point, {})[target] = parts
        for point, by_target in results.items():
            if len(by_target) == 2:
                (ta, ga), (tb, gb) = by_target.items()
                for pa, pb in zip(ga, gb):
                    pa, pb = np.ravel(pa), np.ravel(pb)
                    scale = max(1.0, float(np.max(np.abs(pa))) if pa.size else 1.0)
                    if not all(_close(u, v, 1e-9, scale) for u, v in zip(pa, pb)):
                        fail("targets_disagree", f"{ta}/{tb}", "the two targets disagree",
                             args=args_list[point][0], wrt=wrt, expected=ga, got=gb)
                        break
    except Exception:  # noqa: BLE001
        fail("crash", "-", f"the harness crashed:\n{traceback.format_exc()}")
    finally:
        if loaded is not None:
            loaded.close()


def _min_len(source):
    """The shortest array the program accepts: the generator writes it in a first comment."""
    import re
    found = re.match(r"# x has at least (\d+) elements", source)
    return int(found.group(1)) if found else 0


def _oracles(f, args, wrt_indices, value, report, autograd_gradient, finite_difference):
    out = []
    for w in wrt_indices:
        fds = [np.ravel(np.asarray(finite_difference(f, args, w, h=h), dtype=float)) for h in STEPS]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ag = np.ravel(np.asarray(autograd_gradient(f, args, w), dtype=float))
        except Exception:  # noqa: BLE001
            ag = None
            report.autograd_unavailable += 1
        out.append((fds, ag))
    return out


def _compare(parts, oracle, args, wrt_indices, value, report):
    """None when the gradient passes, else (message, expected)."""
    for w, part, (fds, ag) in zip(wrt_indices, parts, oracle):
        scalar = np.ndim(args[w]) == 0
        if scalar and not isinstance(part, float):
            return f"gradient wrt argument {w} is a {type(part).__name__}, not a float", None
        if not scalar and (not isinstance(part, np.ndarray) or part.shape != np.shape(args[w])):
            return f"gradient wrt argument {w} has the wrong type/shape: {part!r}", None
        got = np.ravel(np.asarray(part, dtype=float))
        if not np.all(np.isfinite(got)):
            return f"gradient wrt argument {w} is not finite", ag
        reference = [abs(value), float(np.max(np.abs(got)))]
        if ag is not None:
            reference.append(float(np.max(np.abs(ag))) if ag.size else 0.0)
        scale = max([1.0] + reference)
        for k in range(got.size):
            fd1, fd2 = fds[0][k], fds[1][k]
            consistent = _close(fd1, fd2, FD_RTOL, scale)
            fd_agrees = _close(got[k], fd2, FD_RTOL, scale) or _close(got[k], fd1, FD_RTOL, scale)
            if not consistent:
                report.inconclusive += 1
            if ag is not None:
                if _close(got[k], ag[k], EXACT_RTOL, scale):
                    continue
                if consistent and fd_agrees:
                    continue                   # autograd's twin differs; differences vouch
                expected = ag if scalar else ag.reshape(np.shape(args[w]))
                return (f"gradient wrt argument {w}, component {k}: adjoint {got[k]!r}, autograd "
                        f"{ag[k]!r}, finite differences {fd1!r} / {fd2!r}"), \
                    (float(ag[0]) if scalar else expected)
            elif consistent and not fd_agrees:
                return (f"gradient wrt argument {w}, component {k}: adjoint {got[k]!r}, finite "
                        f"differences {fd1!r} / {fd2!r} (autograd unavailable)"), \
                    (float(fd2) if scalar else fds[1].reshape(np.shape(args[w])))
    return None


# --- reducing a failure ---------------------------------------------------------------------

class _Timeout(Exception):
    pass


def _alarm(signum, frame):
    raise _Timeout()


def signature(source, args, wrt, target="python", directory=None, seconds=20):
    """What goes wrong with `source` at `args`: None when nothing does, else a short string
    (the error's type and first line, or "mismatch") that a reduced program must keep.
    None too when checking takes over `seconds` (a reduction can make a loop endless)."""
    import signal
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        return _signature(source, args, wrt, target, directory)
    except _Timeout:
        return None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _signature(source, args, wrt, target, directory):
    import adjoint
    from tests.oracles import autograd_gradient, finite_difference
    directory = directory or tempfile.gettempdir()
    signature.count = getattr(signature, "count", 0) + 1
    name = f"adjoint_fuzz_reduce_{os.getpid()}_{signature.count}"
    try:
        loaded = _Loaded(source, directory, name)
    except Exception:  # noqa: BLE001
        return None
    try:
        f = getattr(loaded.module, "f", None)
        if f is None:
            return None
        try:
            value = f(*args)
        except Exception:  # noqa: BLE001
            return None
        if not (isinstance(value, float) and math.isfinite(value)):
            return None
        try:
            g = adjoint.grad(f, wrt=wrt, target=target)
            got = g(*args)
        except Exception as exc:  # noqa: BLE001
            import re
            first = str(exc).splitlines()[0] if str(exc) else ""
            first = re.sub(r"^.*?:[0-9]+:[0-9]+: ", "", first)      # the user's file:line:col
            first = first.split(", location:")[0]                    # numba's: our file
            first = re.sub(r"\d+", "N", re.sub(r"'[^']*'", "'_'", first))   # names, numbers
            return f"{type(exc).__name__}: {first}"
        params = list(f.__code__.co_varnames[:f.__code__.co_argcount])
        indices = [params.index(w) if isinstance(w, str) else w
                   for w in (wrt if isinstance(wrt, tuple) else (wrt,))]
        parts = got if isinstance(wrt, tuple) else (got,)
        report = Report(seed=0)
        oracle = _oracles(f, args, indices, value, report, autograd_gradient, finite_difference)
        return "mismatch" if _compare(parts, oracle, args, indices, value, report) else None
    finally:
        loaded.close()


def reduce_program(source, keep, log=lambda text: None):
    """Delete statements and replace expressions by their parts while `keep(source)` holds.

    A greedy pass over the AST, repeated until nothing more can go: a statement is deleted
    (or an if/for/while replaced by its body), an expression replaced by one of its operands
    or by 0.5. The result usually needs a last polish by hand."""
    import ast

    def candidates(tree):
        for node in ast.walk(tree):
            for field in ("body", "orelse"):
                stmts = getattr(node, field, None)
                if not isinstance(stmts, list) or not stmts or not isinstance(stmts[0], ast.stmt):
                    continue
                for k, stmt in enumerate(stmts):
                    yield ("delete", node, field, k, None)
                    if isinstance(stmt, (ast.If, ast.For, ast.While)):
                        yield ("unwrap", node, field, k, "body")
                        if isinstance(stmt, ast.If) and stmt.orelse:
                            yield ("unwrap", node, field, k, "orelse")
        for node in ast.walk(tree):
            for field, value in ast.iter_fields(node):
                items = value if isinstance(value, list) else [value]
                for k, child in enumerate(items):
                    if isinstance(child, (ast.BinOp, ast.UnaryOp, ast.Call, ast.IfExp,
                                          ast.BoolOp, ast.Compare, ast.Subscript)):
                        parts = [c for c in ast.iter_child_nodes(child) if isinstance(c, ast.expr)
                                 and not (isinstance(child, ast.Call) and c is child.func)]
                        for part in parts + [ast.Constant(0.5)]:
                            yield ("replace", node, field, k if isinstance(value, list) else None,
                                   part)

    def apply(tree, change):
        action, node, field, k, extra = change
        if action == "delete":
            stmts = getattr(node, field)
            del stmts[k]
            if not stmts and field == "body":
                stmts.append(ast.Pass())
        elif action == "unwrap":
            stmts = getattr(node, field)
            stmts[k:k + 1] = getattr(stmts[k], extra) or [ast.Pass()]
        else:
            if k is None:
                setattr(node, field, extra)
            else:
                getattr(node, field)[k] = extra

    best, i, progress = source, 0, False
    while True:
        tree = ast.parse(best)
        changes = list(candidates(tree))
        if i >= len(changes):
            if not progress:
                return best
            i, progress = 0, False
            continue
        try:
            apply(tree, changes[i])
            text = ast.unparse(tree) + "\n"
        except Exception:  # noqa: BLE001
            text = best
        if len(text) < len(best) and keep(text):
            best, progress = text, True
            log(f"reduced to {len(best)} characters")
        else:
            i += 1


def run_campaign(seed, count, targets=("python", "cpu"), log=print, *, cpu_every=1, start=0,
                 points=2, avoid=tuple(KNOWN_BUGS), fail_fast=False) -> Report:
    """Check programs start .. start+count-1 of campaign `seed`.

    cpu_every: the cpu target (a numba compilation, ~0.3 s each) runs on every cpu_every-th
    program only; the python target runs on all of them.
    """
    report = Report(seed=seed)
    began = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="adjoint-fuzz-") as directory:
        sys.path.insert(0, directory)
        try:
            for index in range(start, start + count):
                chosen = tuple(t for t in targets if t != "cpu" or index % cpu_every == 0)
                before = len(report.failures)
                check_program(report, index, seed, chosen, log, points=points, avoid=avoid,
                              directory=directory)
                if fail_fast and len(report.failures) > before:
                    break
        finally:
            sys.path.remove(directory)
    report.seconds = time.perf_counter() - began
    return report


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m tests.fuzzing",
                                     description="Differential fuzzing of adjoint.grad")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--start", type=int, default=0, help="first program index")
    parser.add_argument("--targets", default="python,cpu")
    parser.add_argument("--cpu-every", type=int, default=3,
                        help="run the cpu (numba) target on every K-th program (default 3)")
    parser.add_argument("--points", type=int, default=2, help="argument points per program")
    parser.add_argument("--show", type=int, metavar="INDEX",
                        help="print program INDEX of the campaign and exit")
    parser.add_argument("--reduce", type=int, metavar="INDEX",
                        help="shrink failing program INDEX of the campaign and print it")
    parser.add_argument("--allow-known", action="store_true",
                        help="also generate the constructs of KNOWN_BUGS (avoided by default)")
    parser.add_argument("--fail-fast", action="store_true")
    parser.add_argument("--quiet", action="store_true", help="print failures only")
    options = parser.parse_args(argv)
    avoid = () if options.allow_known else tuple(KNOWN_BUGS)
    options.avoid = avoid
    if options.show is not None:
        print(generate(program_seed(options.seed, options.show), avoid), end="")
        return 0
    warnings.simplefilter("ignore")
    if options.reduce is not None:
        return _reduce_main(options)
    progress = [0]

    def log(text):
        print(text, flush=True)

    targets = tuple(t for t in options.targets.split(",") if t)
    report = Report(seed=options.seed)
    began = time.perf_counter()
    chunk = 50
    for first in range(options.start, options.start + options.count, chunk):
        n = min(chunk, options.start + options.count - first)
        part = run_campaign(options.seed, n, targets, log, cpu_every=options.cpu_every,
                            start=first, points=options.points, avoid=avoid,
                            fail_fast=options.fail_fast)
        _add(report, part)
        progress[0] += n
        if not options.quiet:
            print(f"... {progress[0]} programs, {len(report.failures)} failures, "
                  f"{time.perf_counter() - began:.0f} s", flush=True)
        if options.fail_fast and part.failures:
            break
    report.seconds = time.perf_counter() - began
    print(report.summary())
    return 0 if report.ok else 1


def _reduce_main(options):
    source, wrt, _, points = case(options.seed, options.reduce, options.avoid, options.points)
    with tempfile.TemporaryDirectory(prefix="adjoint-reduce-") as directory:
        for target in options.targets.split(","):
            for args in points:
                found = signature(source, args, wrt, target, directory)
                if found is None:
                    continue
                print(f"# {target}, wrt={wrt!r}, args={_show(args)}: {found}", flush=True)
                def keep(text, args=args, target=target, found=found):
                    return _well_formed(text) and \
                        signature(text, args, wrt, target, directory) == found
                small = reduce_program(source, keep, log=lambda text: print(text, flush=True))
                print(small)
                return 1
    print("program", options.reduce, "passes")
    return 0


def _well_formed(text):
    """A reduction keeps every function ending in a return (falling off the end returns None,
    which the compiler rightly does not model)."""
    import ast
    return all(isinstance(n.body[-1], ast.Return) for n in ast.parse(text).body
               if isinstance(n, ast.FunctionDef))


def _add(total, part):
    for field in ("tried", "points", "inconclusive", "autograd_unavailable", "invalid",
                  "mismatches", "adjoint_errors", "crashes"):
        setattr(total, field, getattr(total, field) + getattr(part, field))
    for t, n in part.compiled.items():
        total.compiled[t] = total.compiled.get(t, 0) + n
    total.failures += part.failures


if __name__ == "__main__":
    sys.exit(main())
