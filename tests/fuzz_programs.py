"""The differential fuzzer's program generator: random programs in the supported subset.

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

Array programs (`ArrayGenerator`, ARRAY_SHARE of the seeds, chosen from a stream of their
own so that the other seeds name the scalar programs earlier campaigns checked): one to four
float arrays among x, y (n,), b (m,), A (m, n) and up to two scalars, the sizes drawn per
point (DIM_SIZES, a header comment names each argument's shape). They use the numpy subset
README documents: elementwise + - * / with broadcasting (a row against a matrix, a scalar
against an array), np.sum/mean/max/min whole or along axis 0/1, np.dot, @, .T @, np.outer,
np.prod whole or along axis 0/1 and np.cumprod along an axis, of factors in [-1, 1] (a
third of them with exact zeros: np.tanh(e - e[0])), slices (x[1:], x[:-1], x[::2], x[::-1],
A[k], A[:, k], A[:, 1:]), np.where on a condition on
values, np.clip (constant or scalar-variable bounds), np.maximum/np.minimum (against 0.0,
so they have kinks), np.abs, np.exp/tanh/sin/cos/log/sqrt on domain-safe forms, local
arrays from np.zeros/np.ones/np.copy written element by element in range loops
(`z[i] = ...`, `z[i] += ...`, `z[i] = 0.5 * z[i - 1] + ...`, `Z[i, j] = ...`), augmented
assignment of whole arrays, if/else on scalar conditions, and scalar accumulations over
elements (`s += ...`, `s = max(s, ...)`). Not generated: np.sum(..., axis=None), rejected
today (tests/fuzz_findings in the notes), and method calls (x.copy()), which the compiler
does not support.

tests/fuzzing.py runs the campaigns that check these programs against oracles, at random
points and at tie/kink points made from them.
"""

from __future__ import annotations

import dataclasses
import math
import random

LIMIT = 6.0                     # expressions whose bound passes this are squashed
MAX_TRIPS = 6                   # the most iterations any generated loop runs
MAX_DEPTH = 2                   # statement nesting (compile time grows fast with loop nesting)

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





# --- array programs ---------------------------------------------------------------------------
#
# About ARRAY_SHARE of the seeds name an array program instead (`ArrayGenerator`): float arrays
# of small random shapes as arguments, numpy expressions over them, element writes in loops.
# Whether a seed names one is drawn from a stream of its own, so the scalar programs of the
# other seeds are the ones earlier campaigns checked.

ARRAY_SHARE = 0.4
# The sizes a point may give each dimension; programs index only below the smallest.
DIM_SIZES = {"n": (3, 5), "m": (2, 4)}
# Array arguments and their shapes: vectors along n and m, a matrix (m, n).
ARRAY_ARGS = {"x": ("n",), "y": ("n",), "b": ("m",), "A": ("m", "n")}
ARRAY_LOCALS = ["z", "u", "v", "w", "Z", "U", "V", "W", "z2", "u2", "v2", "w2"]
SCALAR_LOCALS = ["s", "r", "c", "t", "acc", "tot", "s2", "r2", "c2"]
TRICKY_ARRAYS = ["s_x", "t_1", "tape_z", "x_1", "s_A"]
REDUCTIONS = ["np.sum", "np.mean", "np.max", "np.min"]
# Derived dimensions: n - 1 (x[1:], x[:-1]), ceil(n / 2) (x[::2]), m - 1 (b[1:]).
DERIVED = {"n1": "n - 1", "nh": "ceil(n / 2)", "m1": "m - 1"}


def _largest(dim):
    base = dim[0]
    return DIM_SIZES[base][1]


def _size(shape):
    out = 1
    for d in shape:
        out *= _largest(d)
    return out


@dataclasses.dataclass
class ArrayVar:
    shape: tuple                  # () for a scalar, else dimension names
    bound: float                  # bound on |every element|
    fresh: bool                   # a local array no other name sees: element writes allowed


class ArrayGenerator:
    """Random array programs: the numpy subset README "What it differentiates" documents.

    Every expression has a symbolic shape (dimension names n, m and the derived n1, nh, m1)
    and a bound on its elements' magnitude; operands are combined only where numpy's
    broadcasting makes the shapes agree (an array with one of its own shape, a row (n,)
    against a matrix (m, n), a scalar against anything). Arrays are written (`z[i] = ...`,
    `z[i] += ...`, `z += ...`) only where they are fresh locals (np.zeros, np.copy or a
    computed expression): no name is ever bound to a view of another array, so no write can
    reach an argument or an alias.
    """

    def __init__(self, rng: random.Random, avoid=tuple(KNOWN_BUGS)):
        self.rng = rng
        self.avoid = set(avoid)
        self.loop_names = iter(["i", "j", "k", "i2", "j2", "k2"] + [f"i{n}" for n in range(50)])

    def chance(self, p):
        return self.rng.random() < p

    # module ---------------------------------------------------------------------------------

    def module(self) -> str:
        r = self.rng
        arrays = r.sample(sorted(ARRAY_ARGS), r.choice([1, 2, 2, 3]))
        if "A" not in arrays and self.chance(0.35):
            arrays.append("A")
        scalars = r.sample(ARGS, r.choice([0, 1, 1, 2]))
        params = arrays + scalars
        r.shuffle(params)
        scope = {p: ArrayVar(ARRAY_ARGS[p], 1.2, False) for p in arrays}
        scope.update({p: ArrayVar((), 1.5, False) for p in scalars})
        self.params = params
        self.taken = set(params)
        body = []
        for _ in range(r.randint(2, 5)):
            body += self.statement(scope)
        ret = self.final(scope)
        shapes = ", ".join(f"{p} ({', '.join(scope[p].shape)}{',' if len(scope[p].shape) == 1 else ''})"
                           for p in params)
        out = [f"# argument shapes: {shapes}", "import math", "", "import numpy as np", "", "",
               f"def f({', '.join(params)}):"] + _indent(body + [f"return {ret}"])
        return "\n".join(out) + "\n"

    def fresh_name(self, pool, tricky=()):
        names = [n for n in pool if n not in self.taken]
        if tricky and self.chance(0.1):
            names = [n for n in tricky if n not in self.taken] or names
        name = self.rng.choice(names) if names else f"v{len(self.taken)}"
        self.taken.add(name)
        return name

    # statements -----------------------------------------------------------------------------

    def statement(self, scope):
        kinds = [("assign_array", 4), ("assign_scalar", 2), ("loop_write", 2.5),
                 ("loop_accumulate", 1.2), ("augassign", 1.2), ("branch", 1.2),
                 ("loop_write_2d", 0.6 if self.matrices(scope) else 0)]
        kind = self.rng.choices([k for k, _ in kinds], [w for _, w in kinds])[0]
        return getattr(self, "stmt_" + kind)(scope)

    def shapes(self, scope):
        """The array shapes variables in scope have."""
        return sorted({v.shape for v in scope.values() if v.shape})

    def matrices(self, scope):
        return [n for n, v in scope.items() if len(v.shape) == 2 and v.shape == ("m", "n")]

    def stmt_assign_array(self, scope):
        shape = self.rng.choice(self.shapes(scope) + [s for s in (("n",), ("m",))
                                                      if self.has_leaf(scope, s)])
        expr, bound = self.computed(scope, shape, self.rng.randint(1, 2))
        name = self.fresh_name(ARRAY_LOCALS, TRICKY_ARRAYS)
        scope[name] = ArrayVar(shape, bound, True)
        return [f"{name} = {expr}"]

    def stmt_assign_scalar(self, scope):
        expr, bound = self.scalar(scope, self.rng.randint(1, 3))
        name = self.fresh_name(SCALAR_LOCALS)
        scope[name] = ArrayVar((), bound, False)
        return [f"{name} = {expr}"]

    def stmt_augassign(self, scope):
        fresh = sorted(n for n, v in scope.items() if v.fresh)
        if not fresh:
            return self.stmt_assign_array(scope)
        name = self.rng.choice(fresh)
        var = scope[name]
        e, b = self.array(scope, var.shape, self.rng.randint(0, 2), self.broadcastable(var.shape))
        op = self.rng.choice(["+=", "-=", "*="])
        if op == "*=":
            e, b = f"(0.5 + 0.4 * np.tanh({e}))", 0.9
            var.bound *= 0.9
        else:
            e, b = self.squash(e, b, to=1.0)
            var.bound += b
        lines = [f"{name} {op} {e}"]
        if var.bound > LIMIT:
            lines.append(f"{name} = np.tanh({name})")
            var.bound = 1.0
        return lines

    def stmt_branch(self, scope):
        """if on a scalar condition; both branches (re)assign the same name."""
        cond_expr, _ = self.scalar(scope, self.rng.randint(1, 2))
        cond = f"{cond_expr} {self.rng.choice(['<', '>', '<=', '>='])} {_num(self.rng.uniform(-1, 1))}"
        shape = self.rng.choice(self.shapes(scope) + [()])
        existing = sorted(n for n, v in scope.items() if v.shape == shape and
                          (v.fresh or (not shape and n not in self.params)))
        if existing and self.chance(0.5):
            name = self.rng.choice(existing)
        else:
            name = self.fresh_name(ARRAY_LOCALS if shape else SCALAR_LOCALS)
        if shape:
            (a, ba), (b, bb) = (self.computed(scope, shape, self.rng.randint(1, 2)),
                                self.computed(scope, shape, self.rng.randint(1, 2)))
        else:
            (a, ba), (b, bb) = self.scalar(scope, 2), self.scalar(scope, 2)
        scope[name] = ArrayVar(shape, max(ba, bb), bool(shape))
        return [f"if {cond}:", f"    {name} = {a}", "else:", f"    {name} = {b}"]

    def vectors(self, scope):
        return sorted(n for n, v in scope.items() if len(v.shape) == 1 and v.shape[0] in ("n", "m"))

    def stmt_loop_write(self, scope):
        """z = np.zeros(len(v)) (or a copy), then z[i] = ... / z[i] += ... in a range loop."""
        r = self.rng
        vectors = self.vectors(scope)
        if not vectors:
            return self.stmt_assign_array(scope)
        source = r.choice(vectors)
        dim = scope[source].shape
        length = r.choice([f"len({source})", f"{source}.shape[0]"])
        name = self.fresh_name(ARRAY_LOCALS, TRICKY_ARRAYS)
        init = r.choice([f"np.zeros({length})", f"np.copy({source})", f"np.ones({length})",
                         f"np.tanh({source})"])
        bound = 1.0 if "zeros" in init or "ones" in init else scope[source].bound
        i = next(self.loop_names)
        header, offsets = r.choice([(f"range({length})", [0]),
                                    (f"range(1, {length})", [0, -1]),
                                    (f"range({length} - 1)", [0, 1]),
                                    (f"range({length} - 1, -1, -1)", [0]),
                                    (f"range(0, {length}, 2)", [0])])
        reads = self._element_reads(scope, dim, i, offsets)
        lines = [f"{name} = {init}", f"for {i} in {header}:"]
        body = []
        for _ in range(r.randint(1, 2)):
            e, b = self.scalar(scope, r.randint(1, 2), reads=reads)
            e, b = self.squash(e, b, to=1.0, scalar=True)
            form = r.randint(0, 3)
            if form == 0:
                body.append(f"{name}[{i}] = {e}")
            elif form == 1:
                body.append(f"{name}[{i}] += {e}")
                bound += 1.0
            elif form == 2 and -1 in offsets:
                body.append(f"{name}[{i}] = 0.5 * {name}[{i} - 1] + {e}")
                bound = max(bound, 2.0)
            else:
                body.append(f"{name}[{i}] = {name}[{i}] * 0.5 + {e}")
                bound = bound * 0.5 + 1.0
            reads = reads + [f"{name}[{i}]"]
        scope[name] = ArrayVar(dim, bound, True)
        return lines + _indent(body)

    def _element_reads(self, scope, dim, i, offsets):
        reads = []
        for n, v in sorted(scope.items()):
            if v.shape == dim:
                reads += [f"{n}[{i}]" if o == 0 else f"{n}[{i} {'+' if o > 0 else '-'} {abs(o)}]"
                          for o in offsets]
        return reads

    def stmt_loop_accumulate(self, scope):
        """s = 0.0, then s = s + ... (or s += ...) over the elements of a vector."""
        r = self.rng
        vectors = self.vectors(scope)
        if not vectors:
            return self.stmt_assign_scalar(scope)
        source = r.choice(vectors)
        dim = scope[source].shape
        i = next(self.loop_names)
        header, offsets = r.choice([(f"range(len({source}))", [0]),
                                    (f"range({source}.shape[0] - 1)", [0, 1]),
                                    (f"range(1, len({source}))", [0, -1])])
        name = self.fresh_name(SCALAR_LOCALS)
        reads = self._element_reads(scope, dim, i, offsets)
        e, b = self.scalar(scope, r.randint(1, 2), reads=reads)
        e, b = self.squash(e, b, to=1.0, scalar=True)
        update = r.choice([f"{name} = {name} + {e}", f"{name} += {e}",
                           f"{name} = 0.5 * {name} + {e}",
                           f"{name} = max({name}, {e})"])
        scope[name] = ArrayVar((), _largest(dim[0]) + 1.0, False)
        return [f"{name} = 0.0", f"for {i} in {header}:"] + _indent([update])

    def stmt_loop_write_2d(self, scope):
        r = self.rng
        matrix = r.choice(self.matrices(scope))
        name = self.fresh_name(["Z", "U", "V", "W", "M2"])
        init = r.choice([f"np.zeros(({matrix}.shape[0], {matrix}.shape[1]))", f"np.copy({matrix})"])
        i, j = next(self.loop_names), next(self.loop_names)
        reads = [f"{matrix}[{i}, {j}]"]
        for n, v in sorted(scope.items()):
            if v.shape == ("n",):
                reads.append(f"{n}[{j}]")
            elif v.shape == ("m",):
                reads.append(f"{n}[{i}]")
        e, b = self.scalar(scope, r.randint(1, 2), reads=reads)
        e, b = self.squash(e, b, to=1.0, scalar=True)
        write = r.choice([f"{name}[{i}, {j}] = {e}", f"{name}[{i}, {j}] += {e}"])
        scope[name] = ArrayVar(("m", "n"), 2.2, True)
        return [f"{name} = {init}", f"for {i} in range({matrix}.shape[0]):",
                f"    for {j} in range({matrix}.shape[1]):", f"        {write}"]

    # expressions ----------------------------------------------------------------------------

    def broadcastable(self, shape):
        """Shapes an operand may have to combine into `shape` by broadcasting."""
        if len(shape) == 2:
            return [shape, (shape[1],), ()]
        return [shape, ()]

    def views(self, scope, shape):
        """(text, bound) of slices and element rows of variables that have this shape."""
        out = []
        for n, v in sorted(scope.items()):
            if v.shape == ("n",) and shape == ("n1",):
                out += [(f"{n}[1:]", v.bound), (f"{n}[:-1]", v.bound)]
            elif v.shape == ("n",) and shape == ("nh",):
                out += [(f"{n}[::2]", v.bound)]
            elif v.shape == ("n",) and shape == ("n",):
                out += [(f"{n}[::-1]", v.bound)]
            elif v.shape == ("m",) and shape == ("m1",):
                out += [(f"{n}[1:]", v.bound), (f"{n}[:-1]", v.bound)]
            elif v.shape == ("m", "n"):
                if shape == ("n",):
                    out += [(f"{n}[{k}]", v.bound) for k in (0, 1, -1)]
                elif shape == ("m",):
                    out += [(f"{n}[:, {k}]", v.bound) for k in (0, 2, -1)]
                elif shape == ("m", "n1"):
                    out += [(f"{n}[:, 1:]", v.bound), (f"{n}[:, :-1]", v.bound)]
                elif shape == ("m1", "n"):
                    out += [(f"{n}[1:]", v.bound)]
        return out

    def has_leaf(self, scope, shape):
        return any(v.shape == shape for v in scope.values()) or bool(self.views(scope, shape))

    def leaf_array(self, scope, shape):
        """A variable of this shape or a view of one; None if there is none."""
        direct = [(n, v.bound) for n, v in sorted(scope.items()) if v.shape == shape]
        views = self.views(scope, shape)
        if direct and (not views or self.chance(0.65)):
            return self.rng.choice(direct)
        if views:
            return self.rng.choice(views)
        return None

    def computed(self, scope, shape, depth):
        """An expression of this shape that makes a new array (never a bare variable or view)."""
        e, b = self.array(scope, shape, max(depth, 1), [shape])
        if _is_leaf(e):
            e, b = f"np.tanh({e})", 1.0
        return e, b

    def array(self, scope, shape, depth, allowed):
        """(text, bound) of an expression whose shape is one of `allowed` (broadcastable into
        `shape`); `shape` itself is the first of them."""
        r = self.rng
        if () in allowed and (depth <= 0 and self.chance(0.15) or self.chance(0.05)):
            return self.scalar(scope, 0)
        if depth <= 0:
            options = [s for s in allowed if s and self.has_leaf(scope, s)]
            if options:
                return self.leaf_array(scope, r.choice(options))
            return self.made(scope, shape)
        kinds = [("arith", 4), ("div", 1), ("unary", 3), ("maxmin", 1.5), ("clip", 1),
                 ("where", 1), ("leaf", 1.5 if self.has_leaf(scope, shape) else 0)]
        if self.matmul_parts(scope, shape):
            kinds.append(("matmul", 1.5))
        if shape in (("n",), ("m",)) and self.matrices(scope):
            kinds.append(("reduce_axis", 1.5))
        if shape:
            kinds.append(("products", 0.8))
        kind = r.choices([k for k, _ in kinds], [w for _, w in kinds])[0]

        def sub(target=None):
            return self.array(scope, shape, depth - 1, self.broadcastable(shape)
                              if target is None else target)

        if kind == "leaf":
            return self.leaf_array(scope, shape)
        if kind == "arith":
            first_allowed = [shape]                    # one operand carries the full shape
            (a, ba), (b, bb) = sub(first_allowed), sub()
            if self.chance(0.5):
                a, b, ba, bb = b, a, bb, ba
            op = r.choice(["+", "-", "*", "+", "*"])
            return self.squash(f"({a} {op} {b})", ba * bb if op == "*" else ba + bb)
        if kind == "div":
            (a, ba), (b, bb) = sub([shape]), sub()
            if self.chance(0.5):
                square = f"{b} * {b}" if len(b) < 20 else f"{_paren(b)} ** 2"
                return self.squash(f"({a} / (1.0 + {square}))", ba)
            return self.squash(f"({a} / (2.0 + np.sin({b})))", ba)
        if kind == "unary":
            a, ba = sub([shape])
            form = r.randint(0, 9)
            square = f"{a} * {a}" if len(a) < 20 else f"{_paren(a)} ** 2"
            forms = [(f"np.tanh({a})", 1.0), (f"np.sin({a})", 1.0), (f"np.cos({a})", 1.0),
                     (f"np.exp(np.tanh({a}))", math.e), (f"np.exp(-({square}))", 1.0),
                     (f"np.sqrt({square} + 1.0)", math.sqrt(ba * ba + 1)),
                     (f"np.abs({a})", ba), (f"(-{a})", ba), (f"({a} ** 2)", ba * ba),
                     (f"np.log(1.0 + {square})", math.log(1 + ba * ba))]
            return self.squash(*forms[form])
        if kind == "maxmin":
            (a, ba) = sub([shape])
            fn = r.choice(["np.maximum", "np.minimum"])
            if self.chance(0.35):
                b, bb = _num(r.choice([0.0, 0.0, 0.2, -0.3])), 0.3
            else:
                b, bb = sub()
            if self.chance(0.5):
                return f"{fn}({a}, {b})", max(ba, bb)
            return f"{fn}({b}, {a})", max(ba, bb)
        if kind == "clip":
            a, ba = sub([shape])
            low = round(r.uniform(-1.0, 0.2), 1)
            high = round(r.uniform(0.3, 1.2), 1)
            scalars = [n for n, v in sorted(scope.items()) if not v.shape and v.bound <= 1.5]
            if scalars and self.chance(0.3):
                return f"np.clip({a}, {r.choice(scalars)}, 2.0)", 2.0
            return f"np.clip({a}, {_num(low)}, {_num(high)})", max(abs(low), abs(high))
        if kind == "where":
            c, _ = sub([shape])
            threshold = self.rng.choice([_num(round(r.uniform(-0.5, 0.5), 1))] +
                                        [n for n, v in sorted(scope.items()) if not v.shape][:1])
            (a, ba), (b, bb) = sub(), sub()
            if _is_leaf(a) and _is_leaf(b) and a == b:
                b, bb = f"np.tanh({b})", 1.0
            op = r.choice(["<", ">", "<=", ">="])
            return f"np.where({c} {op} {threshold}, {a}, {b})", max(ba, bb)
        if kind == "matmul":
            return self.matmul(scope, shape, depth)
        if kind == "products":               # running products of factors in [-1, 1]
            return f"np.cumprod({self.factors(scope, shape, depth)}, axis={r.randrange(len(shape))})", 1.0
        if kind == "reduce_axis":
            m, bm = self.array(scope, ("m", "n"), depth - 1, [("m", "n")])
            axis = 0 if shape == ("n",) else 1
            if self.chance(0.2):
                return f"np.prod({self.factors(scope, ('m', 'n'), depth)}, axis={axis})", 1.0
            fn = r.choice(REDUCTIONS)
            scale = _largest("m" if axis == 0 else "n") if fn == "np.sum" else 1
            return self.squash(f"{fn}({m}, axis={axis})", bm * scale)
        raise AssertionError(kind)

    def factors(self, scope, shape, depth):
        """Factors of a product, in [-1, 1]; a third of the time with exact zeros where the
        first element (vector) or row (matrix) is subtracted from itself, so that the partials
        of products through zero factors are checked too."""
        a, _ = self.array(scope, shape, depth - 1, [shape])
        if self.chance(0.35):
            return f"np.tanh({_paren(a)} - {_paren(a)}[0])"
        return f"np.tanh({a})"

    def made(self, scope, shape):
        """A shape no variable has: a matrix product or a reduction makes it."""
        parts = self.matmul_parts(scope, shape)
        if parts:
            return self.matmul(scope, shape, 1)
        matrix = self.matrices(scope)[0]
        fn = self.rng.choice(REDUCTIONS[1:])
        return f"{fn}({matrix}, axis={0 if shape == ('n',) else 1})", scope[matrix].bound

    def matmul_parts(self, scope, shape):
        """The operand shapes of a matrix product of this shape, if there are leaves for them."""
        parts = {("m", "n"): [("m",), ("n",)], ("m",): [("m", "n"), ("n",)],
                 ("n",): [("m",), ("m", "n")]}.get(shape)
        if parts and all(self.has_leaf(scope, s) for s in parts):
            return parts
        return None

    def matmul(self, scope, shape, depth):
        r = self.rng
        def part(s):
            return self.array(scope, s, depth - 1, [s])
        if shape == ("m", "n"):
            (a, ba), (b, bb) = part(("m",)), part(("n",))
            return self.squash(f"np.outer({a}, {b})", ba * bb)
        if shape == ("m",):
            (a, ba), (b, bb) = part(("m", "n")), part(("n",))
            text = r.choice([f"({a} @ {b})", f"np.dot({a}, {b})"])
            return self.squash(text, ba * bb * _largest("n"))
        (a, ba), (b, bb) = part(("m",)), part(("m", "n"))
        text = r.choice([f"({a} @ {b})", f"np.dot({a}, {b})", f"({_paren(b)}.T @ {a})"])
        return self.squash(text, ba * bb * _largest("m"))

    def scalar(self, scope, depth, reads=()):
        """(text, bound) of a scalar expression; `reads` are element reads valid here."""
        r = self.rng
        scalars = [(n, v.bound) for n, v in sorted(scope.items()) if not v.shape]
        if depth <= 0:
            options = [("const", 1)]
            if scalars:
                options.append(("var", 3))
            if reads:
                options.append(("read", 6))
            options.append(("element", 2))
            kind = r.choices([k for k, _ in options], [w for _, w in options])[0]
            if kind == "var":
                return r.choice(scalars)
            if kind == "read":
                return r.choice(list(reads)), 2.5
            if kind == "element":
                element = self.element(scope)
                if element:
                    return element
            value = round(r.uniform(-2, 2), r.choice([1, 2]))
            return _num(value), abs(value)
        kinds = [("arith", 3), ("reduce", 3), ("dot", 1.2), ("fn", 2), ("absmaxmin", 1),
                 ("leaf", 1)]
        kind = r.choices([k for k, _ in kinds], [w for _, w in kinds])[0]

        def sub():
            return self.scalar(scope, depth - 1, reads)

        if kind == "leaf":
            return self.scalar(scope, 0, reads)
        if kind == "arith":
            (a, ba), (b, bb) = sub(), sub()
            op = r.choice(["+", "-", "*"])
            return self.squash(f"({a} {op} {b})", ba * bb if op == "*" else ba + bb, scalar=True)
        if kind == "fn":
            a, ba = sub()
            forms = [(f"math.tanh({a})", 1.0), (f"math.sin({a})", 1.0),
                     (f"math.exp(math.tanh({a}))", math.e),
                     (f"math.sqrt({_paren(a)} ** 2 + 1.0)", math.sqrt(ba * ba + 1))]
            return self.squash(*r.choice(forms), scalar=True)
        if kind == "absmaxmin":
            (a, ba), (b, bb) = sub(), sub()
            form = r.choice(["abs", "max", "min"])
            if form == "abs":
                return f"abs({a})", ba
            return f"{form}({a}, {b})", max(ba, bb)
        if kind == "reduce":
            shape = r.choice(self.shapes(scope) + [("n1",), ("nh",)])
            if shape in (("n1",), ("nh",)) and not self.views(scope, shape):
                shape = self.shapes(scope)[0]
            a, ba = self.array(scope, shape, r.randint(0, 2), [shape])
            if self.chance(0.15):
                return f"np.prod({self.factors(scope, shape, r.randint(1, 2))})", 1.0
            fn = r.choice(REDUCTIONS)
            return self.squash(f"{fn}({a})", ba * (_size(shape) if fn == "np.sum" else 1),
                               scalar=True)
        vectors = [s for s in self.shapes(scope) if len(s) == 1]
        if not vectors:
            return sub()
        shape = r.choice(vectors)
        (a, ba) = self.array(scope, shape, r.randint(0, 2), [shape])
        (b, bb) = self.array(scope, shape, r.randint(0, 2), [shape])
        text = r.choice([f"({a} @ {b})", f"np.dot({a}, {b})"])
        return self.squash(text, ba * bb * _size(shape), scalar=True)

    def element(self, scope):
        """A constant-index element read of an array in scope, or None."""
        r = self.rng
        arrays = [(n, v) for n, v in sorted(scope.items()) if v.shape and
                  all(d in DIM_SIZES for d in v.shape)]
        if not arrays:
            return None
        n, v = r.choice(arrays)
        index = ", ".join(str(r.choice([0, 1, -1] + ([2] if d == "n" else []))) for d in v.shape)
        return f"{n}[{index}]", v.bound

    def final(self, scope):
        """The returned scalar: several variables in scope, reduced, so most of them matter."""
        r = self.rng
        names = sorted(n for n in scope if n not in self.params) or sorted(scope)
        picked = r.sample(names, min(len(names), r.randint(1, 3)))
        terms = []
        for name in picked:
            var = scope[name]
            if not var.shape:
                terms.append(r.choice([name, f"{name} * {name}", f"math.sin({name})"]))
            else:
                terms.append(r.choice([f"np.sum({name} * {name})", f"np.sum({name})",
                                       f"np.max({name})", f"np.min({name})",
                                       f"np.mean(np.abs({name}))"]))
        if self.chance(0.5):
            terms.append(self.scalar(scope, 1)[0])
        return " + ".join(terms)

    def squash(self, expr, bound, to=LIMIT, scalar=False):
        if bound <= to:
            return expr, bound
        fn = "math.tanh" if scalar else "np.tanh"
        if to >= 2.0:
            return f"({_num(to)} * {fn}({expr} / {_num(max(bound, 1.0))}))", to
        return f"{fn}({expr})" if to >= 1.0 else f"({_num(to)} * {fn}({expr}))", min(to, 1.0)


def _is_leaf(expr):
    """A bare name, or a subscript of one (a view or an element)."""
    import re
    return re.fullmatch(r"\w+(\[[^\[\]]*\])?", expr) is not None


def _paren(expr):
    return expr if _is_leaf(expr) else f"({expr})"


def is_array_program(seed: int) -> bool:
    return random.Random(f"array program {seed}").random() < ARRAY_SHARE


def generate(seed: int, avoid=tuple(KNOWN_BUGS)) -> str:
    """The source of one random module defining `f` (and helpers), from `seed` alone."""
    if is_array_program(seed):
        return ArrayGenerator(random.Random(seed), avoid).module()
    return Generator(random.Random(seed), avoid).module()
