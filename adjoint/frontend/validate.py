"""The one place unsupported user syntax is rejected.

    def f(x):                              f.py:2:9: unsupported syntax: dict comprehension
        g = {k: k * x for k in ks}  ->         g = {k: k * x for k in ks}
        ...                                        ^^^^^^^^^^^^^^^^^^^^^^
                                           hint: write an explicit for loop

Returns nothing; raises AdjointError at the first construct outside the supported subset.
"""

from __future__ import annotations

import builtins

import gast
import numpy as np

from ..errors import AdjointError, locate
from ..ir import annotations, nodes, trees
from ..primitives import rules, table
from .call_forms import (
    MVN_OPTIONS,
    NORM_OPTIONS,
    SCIPY_FORMS,
    SCIPY_IGNORED,
    mvn_logpdf,
    norm_method,
    scipy_form_of,
)

STATEMENTS = (gast.Assign, gast.AugAssign, gast.Return, gast.If, gast.For, gast.While,
              gast.Break, gast.Continue, gast.Pass)
EXPRESSIONS = (gast.BinOp, gast.UnaryOp, gast.Call, gast.Name, gast.Constant, gast.Attribute,
               gast.Subscript, gast.IfExp, gast.Compare, gast.BoolOp, gast.Tuple, gast.Slice,
               gast.List)
OPERATORS = (gast.Add, gast.Sub, gast.Mult, gast.Div, gast.Pow, gast.Mod, gast.FloorDiv, gast.MatMult,
             gast.USub, gast.UAdd, gast.Not, gast.And, gast.Or, gast.Eq, gast.NotEq, gast.Lt,
             gast.LtE, gast.Gt, gast.GtE)
CONTEXTS = (gast.Load, gast.Store, gast.Param, gast.keyword, gast.arguments)
ARRAY_ATTRIBUTES = {"shape", "size", "ndim", "dtype"}
KEYWORDS = {"axis", "dtype", "keepdims", "mode", "constant_values", "k", "ddof", "n", "ord", "endpoint", "axes", "offset", "weights",
            "where", "initial", "a_min", "a_max", "min", "max", "indexing"}
# which calls take which of them (axis and dtype: any call numpy gives them to)
REDUCTIONS = {np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.var, np.std,
              np.linalg.norm, np.all, np.any}
CHAINED = {np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin, np.all, np.any}  # axis=(0, 1): one axis at a time
KEYWORD_CALLS = {"keepdims": REDUCTIONS, "mode": {np.convolve, np.correlate, np.pad}, "constant_values": {np.pad},
                 "k": {np.triu_indices, np.tril_indices, np.diag, np.tril, np.triu},
                 "ddof": {np.var, np.std}, "n": {np.diff, np.linalg.matrix_power}, "ord": {np.linalg.norm}, "endpoint": {np.linspace},
                 "axes": {np.transpose}, "offset": {np.trace}, "weights": {np.average}, "where": {np.sum},
                 "initial": {np.max, np.min, np.amax, np.amin},
                 "a_min": {np.clip}, "a_max": {np.clip}, "min": {np.clip}, "max": {np.clip},
                 "indexing": {np.meshgrid}}
CONVOLVE_MODES = ("full", "valid", "same")
PAD_MODES = ("constant", "edge", "wrap", "reflect", "symmetric")         # np.pad's that copy elements
LIST_METHODS = {"append", "insert", "extend", "pop", "remove", "reverse", "sort", "clear"}
STACK_METHODS = {"append", "insert", "extend", "pop"}     # of a list, in straight-line code

HINTS = {
    gast.Lambda: "bind it to a name at the top of the function (sq = lambda v: v * v) and call that",
    gast.ListComp: "write an explicit for loop over range(...)",
    gast.GeneratorExp: "write an explicit for loop over range(...)",
    gast.SetComp: "write an explicit for loop",
    gast.DictComp: "write an explicit for loop",
    gast.Dict: "pass the values as separate arguments, f(a, b), or as one array",
    gast.Set: "pass the values as separate arguments, or as one array",
    gast.With: "move the with-block outside the differentiated function",
    gast.Try: "move error handling outside the differentiated function",
    gast.Global: "drop it: module-level names are read without `global`; to change one, return "
                 "the new value and assign it outside the differentiated function",
    gast.Nonlocal: "drop it: enclosing names are read without `nonlocal`; to change one, return "
                   "the new value instead",
    gast.Yield: "generators cannot be differentiated; return a value",
    gast.YieldFrom: "generators cannot be differentiated; return a value",
    gast.Await: "async code cannot be differentiated",
    gast.FunctionDef: "define it at the top level of the function's body (not in a loop or branch), "
                      "or at module level; adjoint inlines calls to it",
    gast.AsyncFunctionDef: "async code cannot be differentiated",
    gast.AsyncFor: "async code cannot be differentiated",
    gast.AsyncWith: "async code cannot be differentiated",
    gast.ClassDef: "define classes outside the differentiated function",
    gast.Delete: "drop the del statement; variables go out of scope on return",
    gast.Import: "import at module level",
    gast.ImportFrom: "import at module level",
    gast.NamedExpr: "assign in a separate statement",
    gast.JoinedStr: "compute with numbers only; format the result outside the differentiated function",
    gast.FormattedValue: "compute with numbers only; format the result outside the differentiated function",
    gast.Starred: "pass each argument by position: f(x[0], x[1]), or pass the array itself",
    gast.AnnAssign: "drop the annotation",
}


def validate(parsed) -> None:
    """The syntax checks; `views.check_views` runs once the arguments' types are known (pipeline)."""
    _Validator(parsed).check(parsed.tree)


class _Validator:
    def __init__(self, parsed):
        self.parsed = parsed
        self.assigned = None        # the assignment being checked (np.triu_indices' is unpacked)

    def unpacked(self, call) -> bool:
        """Is `call` the value of a tuple unpacking, or of a name only ever unpacked?"""
        stmt = self.assigned
        return stmt is not None and stmt.value is call and (
            isinstance(stmt.targets[0], gast.Tuple) or self.only_unpacked(stmt.targets[0]))

    def only_unpacked(self, target) -> bool:
        """Is `target` a name read only as the whole value of tuple unpackings (`t = ...`,
        then `i, j = t`: a gradient's three-address form of `i, j = np.triu_indices(n)`)?"""
        if not isinstance(target, gast.Name):
            return False
        if not hasattr(self, "_unpacked_names"):
            unpacked, read = set(), set()
            for node in trees.walk(self.parsed.tree):
                if isinstance(node, gast.Assign) and isinstance(node.targets[0], gast.Tuple) \
                        and isinstance(node.value, gast.Name):
                    unpacked.add(id(node.value))
                elif isinstance(node, gast.Name) and isinstance(node.ctx, gast.Load):
                    read.add((node.id, id(node)))
            self._unpacked_names = {name for name, _ in read} - {name for name, at in read if at not in unpacked}
        return target.id in self._unpacked_names

    def fail(self, node, message, hint=None):
        raise AdjointError(message, location=locate(node, self.parsed.filename),
                           hint=hint or HINTS.get(type(node)))

    def check(self, tree):
        from .tuples import growth_statements
        self.growing = growth_statements(tree.body)     # v.append(e) normalize rewrites
        self.straight = {id(stmt) for stmt in tree.body}  # where a list may serve as a stack
        self.check_body(tree.body, in_loop=False)

    def check_body(self, body, in_loop):
        for stmt in body:
            self.check_statement(stmt, in_loop)

    def check_statement(self, stmt, in_loop):
        if isinstance(stmt, gast.Expr):
            if isinstance(stmt.value, gast.Constant):
                return                                            # a stray string or number
            if isinstance(stmt.value, gast.Call) and any(k.arg == "out" for k in stmt.value.keywords):
                self.check_call(stmt.value)                       # np.exp(x, out=y): says why
            call = stmt.value
            if id(stmt) in self.growing:
                return
            if id(stmt) in self.straight and _list_method(call) in STACK_METHODS:
                for arg in call.args:                     # stack.append(a): normalize's (tuples.py)
                    self.check_expression(arg)
                return
            if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) \
                    and call.func.attr in LIST_METHODS and not _is_module_attribute(call.func):
                owner = self.text(call.func.value)
                self.fail(stmt, f"changing a list in place (`{owner}.{call.func.attr}(...)`) is not supported",
                          f"preallocate an array and write its elements: {owner} = np.zeros(n), "
                          f"then {owner}[k] = ...")
            if isinstance(stmt.value, gast.Call) and annotations.get(stmt.value, "callee") is print:
                return self.check_print(stmt.value)               # the primal prints; the gradient not
            if isinstance(stmt.value, (gast.Yield, gast.YieldFrom, gast.Await)):
                self.fail(stmt.value, f"unsupported syntax: {_describe(stmt.value)}")
            if isinstance(stmt.value, gast.Call):
                self.fail(stmt, f"the result of `{self.text(stmt.value)}` is dropped: adjoint differentiates "
                                f"values, not calls that change an object in place", self.in_place_hint(stmt.value))
            self.fail(stmt, "an expression statement has no effect on the result",
                      "assign its value to a variable, or delete the line")
        if isinstance(stmt, gast.Raise):
            return self.check_raise(stmt)
        if isinstance(stmt, gast.Assert):
            return self.check_assert(stmt)
        if not isinstance(stmt, STATEMENTS):
            self.fail(stmt, f"unsupported statement: {_describe(stmt)}")
        if isinstance(stmt, (gast.Break, gast.Continue)) and not in_loop:
            self.fail(stmt, f"`{_describe(stmt)}` outside a loop")
        if isinstance(stmt, gast.Assign):
            if len(stmt.targets) != 1:
                self.fail(stmt, "chained assignment (a = b = ...)", "assign one target per statement")
            self.check_target(stmt.targets[0])
        if isinstance(stmt, gast.AugAssign):
            self.check_target(stmt.target)
        self.assigned = stmt if isinstance(stmt, gast.Assign) else None
        if isinstance(stmt, (gast.For, gast.While)) and stmt.orelse:
            self.fail(stmt, f"`else` on a {_describe(stmt)} loop", "set a flag inside the loop instead")
        if isinstance(stmt, gast.For):
            self.check_for(stmt)
        for child in gast.iter_child_nodes(stmt):
            if isinstance(child, gast.expr):
                self.check_expression(child)
        if isinstance(stmt, gast.If):
            self.check_body(stmt.body, in_loop)
            self.check_body(stmt.orelse, in_loop)
        if isinstance(stmt, (gast.For, gast.While)):
            self.check_body(stmt.body, in_loop=True)

    def check_for(self, stmt):
        it = stmt.iter
        if not (isinstance(it, gast.Call) and annotations.get(it, "callee") is range):
            self.fail(it, "for loops must iterate over range(...)",
                      "loop over indices: `for i in range(len(x)):` and read x[i]")
        if it.keywords or not 1 <= len(it.args) <= 3:
            self.fail(it, "range(...) takes one to three positional arguments")
        if not isinstance(stmt.target, gast.Name):
            self.fail(stmt.target, "a for loop needs a single loop variable")

    def check_raise(self, stmt):
        """`raise ValueError(message)`: a guard, kept in the function and its derivatives alike;
        its exception a class (Python's or the user's). A message that formats values becomes
        its text (normalize: numba raises constant messages), so it is not checked here."""
        exc = stmt.exc
        if exc is None:
            self.fail(stmt, "a bare `raise` (re-raising) is not supported",
                      'raise a new exception: raise ValueError("what went wrong")')
        if stmt.cause is not None:
            self.fail(stmt.cause, "`raise ... from ...` is not supported", "drop the `from ...` part")
        kind = annotations.get(exc, "callee") if isinstance(exc, gast.Call) else _builtin(exc)
        if isinstance(exc, gast.Name) and kind is None:
            self.fail(exc, f"`raise {exc.id}` without a call is supported for Python's own exceptions only",
                      f'call it with a message: raise {exc.id}("what went wrong")')
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            self.fail(exc, f"`raise {self.text(exc)}` raises no exception class",
                      'raise an exception with a constant message: raise ValueError("what went wrong")')
        if isinstance(exc, gast.Call) and exc.keywords:
            self.fail(exc.keywords[0].value, "an exception's arguments by name are not supported here",
                      'pass its message by position: raise ValueError("x must be positive")')

    def check_assert(self, stmt):
        """`assert test, message`: a guard, as `if not test: raise AssertionError(message)`."""
        self.check_expression(stmt.test)

    def check_print(self, call):
        """`print(a, "text", b)`: kept in the compiled function itself, left out of the gradient."""
        if call.keywords:
            self.fail(call, f"`print(..., {call.keywords[0].arg}=...)` is not supported",
                      "print the values with print(a, b) (numba compiles no keyword of print)")
        for arg in call.args:
            if isinstance(arg, gast.JoinedStr):
                self.fail(arg, "an f-string in print(...) is not supported",
                          "print the text and the values separately: print(\"loss\", loss)")
            if not (isinstance(arg, gast.Constant) and isinstance(arg.value, str)):
                self.check_expression(arg)

    def check_target(self, target):
        if isinstance(target, gast.Name):
            return
        if isinstance(target, gast.Tuple):          # a, (b, c), x[i] = ...: normalize unpacks
            for elt in target.elts:
                self.check_target(elt)
            return
        if isinstance(target, gast.Subscript) and isinstance(target.value, gast.Name):
            return
        self.fail(target, f"cannot assign to {_TARGETS.get(type(target), 'this target')}",
                  "assign to a name, a tuple of names or an array element (y[i] = ...)")

    def check_expression(self, expr):
        allowed_constants = set()    # `...` in an index, np.convolve's mode, np.einsum's subscripts
        popped = set()               # stack.pop(): normalize's (tuples.py)
        for node in trees.walk(expr):       # (lists and tuples: normalize takes them apart, tuples.py)
            # the commonest nodes first: a name passes every check below, and so do a number
            # and arithmetic with a supported operator (neither is ever a popped list's)
            kind = type(node)
            if kind is gast.Name or (kind is gast.BinOp and type(node.op) in _OPERATOR_TYPES) or (
                    kind is gast.Constant and type(node.value) in _NUMBERS):
                continue
            if isinstance(node, gast.Subscript):
                index = node.slice.elts if isinstance(node.slice, gast.Tuple) else [node.slice]
                allowed_constants.update(id(i) for i in index if isinstance(i, gast.Constant)
                                         and i.value is Ellipsis)
            if isinstance(node, gast.Call) and annotations.get(node, "callee") in (np.convolve, np.correlate, np.pad):
                allowed_constants.update(id(a) for a in node.args[2:] + [k.value for k in node.keywords])
            if isinstance(node, gast.Call) and annotations.get(node, "callee") is np.einsum and node.args \
                    and isinstance(node.args[0], gast.Constant) and isinstance(node.args[0].value, str):
                allowed_constants.add(id(node.args[0]))          # its subscripts (primitives/rules/linalg.py)
            if isinstance(node, gast.Call) and annotations.get(node, "callee") is np.meshgrid:
                allowed_constants.update(id(k.value) for k in node.keywords if k.arg == "indexing")
            if isinstance(node, gast.Call) and annotations.get(node, "callee") in (np.reshape, np.ravel):
                allowed_constants.update(id(a) for a in node.args[1:])      # order="F": said in check_call
            if isinstance(node, gast.Call) and scipy_form_of(annotations.get(node, "callee")):
                allowed_constants.update(id(k.value) for k in node.keywords)      # trans="T"
            if isinstance(node, gast.Call) and annotations.get(node, "callee") is np.linalg.norm:
                allowed_constants.update(id(a) for a in node.args[1:2] + [k.value for k in node.keywords
                                                                          if k.arg == "ord"])   # 'fro'
            if isinstance(node, CONTEXTS + OPERATORS) or id(node) in popped:
                continue
            if isinstance(node, gast.Call) and _list_method(node) == "pop":
                popped |= {id(node.func), id(node.func.value)}
                continue
            if not isinstance(node, EXPRESSIONS):
                self.fail(node, f"unsupported syntax: {_describe(node)}")
            if isinstance(node, gast.Constant) and not isinstance(node.value, (int, float, bool)) \
                    and node.value is not None and id(node) not in allowed_constants:
                self.fail_constant(node, expr)
            if isinstance(node, gast.Call):
                self.check_call(node)
            for op in _operators_of(node):
                if not isinstance(op, OPERATORS):
                    symbol, hint = _OPERATOR_HINTS.get(type(op), ("this operator", None))
                    self.fail(node, f"the operator `{symbol}` is not supported",
                              hint or "compute with arithmetic, comparisons, and, or, not")

            if isinstance(node, gast.Attribute) and not _is_module_attribute(node) \
                    and node.attr not in ARRAY_ATTRIBUTES:
                self.fail(node, f"unsupported attribute `.{node.attr}`",
                          "use a module function (np.sum(x)) or x.shape / x.size / x.ndim")

    def fail_constant(self, node, expr):
        value = node.value
        if value is Ellipsis:                                   # (in an index it is allowed)
            self.fail(node, "`...` is not a value outside an index",
                      "use it only inside an index, X[..., 0], or write the value itself")
        if isinstance(value, str) and any(isinstance(n, gast.Subscript) and n.slice is node
                                          for n in trees.walk(expr)):
            self.fail(node, f"the string index {value!r}: dictionaries are not differentiable values",
                      "pass the values as separate arguments, f(a, b), or as one array")
        if isinstance(value, complex):
            self.fail(node, f"the complex number {value!r} is not supported",
                      "compute with the real and imaginary parts as two real numbers")
        self.fail(node, f"unsupported constant {value!r}",
                  "compute with numbers and arrays only; strings and bytes stay outside the "
                  "differentiated function")

    def text(self, node) -> str:
        """The expression as the user wrote it, where it sits on one line; else unparsed."""
        import ast
        import linecache
        line, end = getattr(node, "lineno", None), getattr(node, "end_lineno", None)
        if line is not None and line == end and getattr(node, "end_col_offset", None) is not None:
            text = linecache.getline(self.parsed.filename, line)[node.col_offset:node.end_col_offset]
            try:
                ast.parse(text, mode="eval")
                return text
            except SyntaxError:
                pass
        try:
            return ast.unparse(gast.gast_to_ast(node))
        except Exception:                       # noqa: BLE001 (a node only gast knows)
            return nodes.dotted(node) or _describe(node)

    def in_place_hint(self, call) -> str:
        """The loop or write that does what an in-place numpy call does, in the call's names."""
        callee, args = annotations.get(call, "callee"), [self.text(a) for a in call.args]
        path = (nodes.dotted(call.func) or "").split(".")             # np.add.at(y, index, x)
        if path[-1] == "at" and len(path) > 2 and path[-2] in _UFUNC_OPERATORS and len(args) == 3:
            y, index, x = args
            return (f"write the updates in a loop (repeated indices accumulate, as in {self.text(call.func)}): "
                    f"for k in range(len({index})): {y}[{index}[k]] {_UFUNC_OPERATORS[path[-2]]}= {x}[k]"
                    f"  ({x} instead of {x}[k] for a number)")
        if callee is np.fill_diagonal and len(args) == 2:
            return f"write the diagonal in a loop: for k in range(min({args[0]}.shape)): {args[0]}[k, k] = {args[1]}"
        if callee is np.copyto and len(args) == 2:
            return f"write into it: {args[0]}[:] = {args[1]}"
        return "keep values in arrays and write into them: out = np.zeros(n), then out[i] = v (or out[:] = v)"

    def fail_keyword(self, call, keyword, callee):
        name, word = self.text(call.func), keyword.arg
        if word is None:
            self.fail(call, f"`**` keyword unpacking in a call of `{name}` is not supported",
                      "pass each argument by name or position")
        allowed = sorted(_keywords_of(callee)) if annotations.has(call, "callee") else []
        takes = f"`{name}` takes {', '.join(f'`{k}=`' for k in allowed)} here" if allowed \
            else f"`{name}` takes no keyword argument here"
        default = _default_of(callee, word)
        if word == "order":
            self.fail_order(call, keyword.value)
        if callee is np.diff and word in ("prepend", "append"):
            hint = ("join the values first: np.diff(np.concatenate((np.array([p]), x))) for prepend=p, "
                    "np.diff(np.concatenate((x, np.array([a])))) for append=a")
        elif default is _REQUIRED:           # np.roll(x, shift=1): the value is needed, by position
            hint = f"{takes}: pass `{word}` by position"
        elif default is _NO_VALUE:           # an option numpy leaves unset (np.diff's prepend=)
            hint = f"{takes}; `{word}=` cannot be left out without changing the value: write the computation without it"
        elif default is _UNKNOWN or isinstance(keyword.value, gast.Constant) and keyword.value.value == default \
                or word in _VALUE_KEEPING or word == "dtype" and nodes.dotted(keyword.value) in _FLOAT64:
            hint = f"{takes}: leave `{word}=` out"
        else:                                # np.reshape(x, s, order="F"): leaving it out changes the value
            hint = f"{takes}; leaving `{word}=` out means {word}={default!r}, so write the computation without it"
        self.fail(call, f"keyword argument `{word}=` is not supported", hint)

    def fail_order(self, call, value):
        """np.reshape(x, s, order="F"), np.ravel(x, "F"): the layout option, with the rewrite
        that keeps its value (Fortran order is C order of the axes reversed)."""
        name, order = self.text(call.func), getattr(value, "value", None)
        if order == "C":
            hint = f"leave `order=` out: C order is what `{name}` does by default"
        elif order == "F" and annotations.get(call, "callee") is np.ravel:
            hint = "ravel the transpose: np.ravel(x.T) is np.ravel(x, order='F')"
        elif order == "F":
            hint = "reshape the transposes: np.reshape(x.T, (4, 3)).T is np.reshape(x, (3, 4), order='F')"
        else:
            hint = "write the layout out with transposes (np.ravel(x.T) is Fortran order) or leave it out"
        self.fail(value, f"the layout option order={order!r} of `{name}` is not supported", hint)

    def check_call(self, call):
        callee = annotations.get(call, "callee")
        helper = _is_python_function(callee) and not rules.is_differentiable(callee) \
            and not rules.is_non_differentiable(callee)
        if callee in (dict, set):
            self.fail(call, f"`{self.text(call.func)}(...)`: {'dictionaries' if callee is dict else 'sets'} "
                            f"are not differentiable values", HINTS[gast.Dict])
        located = norm_method(callee) is not None            # norm.logpdf(x, loc, scale)
        # a helper's keywords are bound when it is inlined; a function without a rule is
        # refused below for that, not for an option it would have taken
        ruled = rules.is_differentiable(callee) or rules.is_non_differentiable(callee) \
            or callee in _WRITTEN_AS_OTHERS or not annotations.has(call, "callee")
        for keyword in call.keywords:
            if located and keyword.arg in NORM_OPTIONS or mvn_logpdf(callee) and keyword.arg in MVN_OPTIONS:
                continue
            if not helper and ruled:
                self.check_keyword(call, callee, keyword)
        if callee in (np.convolve, np.correlate):
            self.check_convolve_mode(call, callee.__name__)
        if callee is np.pad:
            self.check_pad(call)
        if callee is np.average and (len(call.args) > 2 or _keyword_value(call, "weights") is not None) \
                and (len(call.args) > 1 or _keyword_value(call, "axis") is not None):
            self.fail(call, "np.average with weights along an axis is not supported",
                      "write the weighted mean out: np.sum(x * w, axis=0) / np.sum(w) (w shaped to broadcast "
                      "against x)")
        if callee in (np.triu_indices, np.tril_indices) and not self.unpacked(call):
            self.fail(call, f"`{self.text(call.func)}` gives a pair of index arrays, which adjoint "
                            "follows only unpacked", f"unpack it: `i, j = {self.text(call.func)}(n, k=1)`, "
                            "then index with x[i, j]")
        if not annotations.has(call, "callee") and isinstance(call.func, gast.Lambda):
            self.fail(call, "a lambda called where it is written is not supported",
                      "name it first, `f = lambda v: ...`, then call f(...) (or map(f, (a, b)))")
        if not annotations.has(call, "callee"):
            self.fail(call, f"cannot resolve the function `{self.text(call.func)}`",
                      "call module-level functions or math/numpy functions")
        if annotations.get(call, "callee") in (zip, enumerate):       # (a for loop's iterable is desugared)
            self.fail(call, f"`{self.text(call.func)}(...)` is supported only as the iterable of a for loop",
                      f"loop over it where it is made: for a, b in {self.text(call.func)}(...):")
        if annotations.get(call, "callee") in (map, list, tuple):
            self.fail(call, f"`{self.text(call.func)}(...)` is supported here only as list(map(f, (a, b))) "
                            "over tuples or lists written in the call",
                      "write the sequence in the call, list(map(f, (a, b, c))), or the calls out: [f(a), f(b), f(c)]")
        callee = annotations.get(call, "callee")
        if scipy_form_of(callee) is not None:
            return self.check_scipy_form(call, scipy_form_of(callee))
        if callee in _OPTIONS_AS_WRITTEN:
            self.check_options(call, callee)
        if callee in (np.reshape, np.ravel) and len(call.args) == (3 if callee is np.reshape else 2):
            self.fail_order(call, call.args[-1])                 # np.ravel(x, "F"), x.flatten("F")
        positional_axes = _positional_axis(call, callee)
        if positional_axes is not None:                   # np.std(x, (0, 2)): as axis=(0, 2)
            self.check_axes(call, callee, positional_axes)
        if callee in _WHOLE_ARRAY_FORMS:
            axis = _keyword_value(call, "axis") if _keyword_value(call, "axis") is not None else \
                call.args[1] if len(call.args) > 1 else None
            if isinstance(axis, gast.Constant) and axis.value is None:
                self.fail(call, f"`{self.text(call.func)}` with axis=None is not supported",
                          f"leave the axis out, or flatten first: {_WHOLE_ARRAY_FORMS[callee]}")
        rule = rules.lookup(callee)
        if located and len(call.args) + len(call.keywords) > 1 + len(NORM_OPTIONS):
            self.fail(call, f"`{self.text(call.func)}` takes x, loc and scale here",
                      f"call it as {self.text(call.func)}(x, loc, scale)")
        # (array rules may take optional arguments; np.maximum's of arrays takes the partials')
        if rule is not None and callee not in table.variadic() and not located \
                and all(len(v.params) == len(rule.params) for v in rules.ARRAY_RULES.get(callee, ())) \
                and len(call.args) + len(call.keywords) != len(rule.params):
            self.fail(call, f"`{self.text(call.func)}` with {len(call.args) + len(call.keywords)} arguments: its "
                            f"derivative rule takes {len(rule.params)}",
                      f"call it with {len(rule.params)} arguments")
        # the allocating calls (np.zeros, np.array) are here too: constant, or a rule over parts
        if rules.is_differentiable(callee) or rules.is_non_differentiable(callee) or callee in _WRITTEN_AS_OTHERS \
                or mvn_logpdf(callee):
            return
        if _is_python_function(callee):
            return                                                # a helper: inlined by normalize
        name = _qualified(callee) or self.text(call.func)
        self.fail(call, f"no derivative rule for `{name}`", _rule_hint(callee, name, call))


    def check_keyword(self, call, callee, keyword):
        """A numpy call's keyword option: one adjoint follows, with a value it can use."""
        name, value, spelled = keyword.arg, keyword.value, self.text(call.func)
        if name == "out":
            self.fail(call, f"`out=` in `{spelled}(...)` writes into an existing array, which "
                            "adjoint cannot follow",
                      f"assign the result to a name instead: `y = {spelled}(...)` without `out=`")
        if name not in _keywords_of(callee):
            self.fail_keyword(call, keyword, callee)
        if name == "keepdims":
            if not (isinstance(value, gast.Constant) and isinstance(value.value, bool)):
                self.fail(value, "`keepdims=` must be True or False as written")
            if value.value and _keyword_value(call, "axis") is None and len(call.args) < 2:
                self.fail(call, "`keepdims=True` without an axis is not supported",
                          f"drop keepdims: `{spelled}(x)` is a number, which broadcasts as the "
                          "kept array would, or give the axis")
        if name == "axis" and isinstance(value, gast.Tuple):
            self.check_axes(call, callee, value)

    def check_axes(self, call, callee, value):
        """axis=(0, 1): reduced one axis at a time (normalize), so numbers of one sign."""
        axes = [e.value if isinstance(e, gast.Constant) and type(e.value) is int
                else -e.operand.value if isinstance(e, gast.UnaryOp) and isinstance(e.op, gast.USub)
                and isinstance(e.operand, gast.Constant) and type(e.operand.value) is int else None
                for e in value.elts]
        spelled = self.text(call.func)
        if callee is np.expand_dims:
            self.fail(value, f"a tuple of axes in `{spelled}` is not supported",
                      f"one axis at a time, the lower first: {spelled}({spelled}(x, 0), 2)")
        if callee in (np.flip, np.squeeze, np.roll):
            self.fail(value, f"a tuple of axes in `{spelled}` is not supported",
                      f"one axis at a time: {spelled}({spelled}(x, 2), 0)" if callee is not np.roll else
                      f"one axis at a time: {spelled}({spelled}(x, 1, 2), -1, 0)")
        if callee not in CHAINED:
            self.fail(value, f"a tuple of axes in `{spelled}` is not supported",
                      f"reshape the array so that one axis holds the reduced ones: "
                      f"{spelled}(np.reshape(x, (-1, x.shape[-1])), axis=0) reduces all but the last")
        if None in axes or not axes:
            self.fail(value, "the axes in a tuple must be integers as written",
                      f"write them out: {spelled}(x, axis=(0, 1))")
        if len(set(axes)) != len(axes) or (min(axes) < 0 <= max(axes)):
            self.fail(value, "a tuple of axes mixing negative and non-negative numbers (or repeating one) "
                             "is not supported", "count every axis from the same end: axis=(0, 1) or axis=(-2, -1)")

    def check_scipy_form(self, call, spelling):
        """The scipy functions normalize writes as numpy's: the arrays by position, the options
        that change the value (lower, trans, axis) by name as constants."""
        spelled, (arrays, taken) = self.text(call.func), SCIPY_FORMS[spelling]
        if len(call.args) != arrays:
            example = f"{spelled}({'a, b' if arrays == 2 else 'a'}{''.join(f', {o}=...' for o in taken)})"
            self.fail(call, f"`{spelled}` with {len(call.args)} positional arguments",
                      f"pass the {'matrix and the right-hand side' if arrays == 2 else 'array'} by position "
                      f"and the options by name: {example}")
        for keyword in call.keywords:
            word, value = keyword.arg, keyword.value
            if word in SCIPY_IGNORED:
                continue
            if word not in taken:
                lower = getattr(_keyword_value(call, "lower"), "value", False) is True
                hint = {"assume_a": "leave it out: the general solver gives the same solution",
                        "unit_diagonal": "leave it out and write the unit diagonal into the matrix: "
                                         f"{'np.tril(a, -1)' if lower else 'np.triu(a, 1)'} + np.eye(n)"}
                self.fail(call, f"the option `{word}=` of `{spelled}` is not supported",
                          hint.get(word, f"leave `{word}=` out"))
            allowed = {"lower": (True, False), "trans": (0, 1, 2, "N", "T", "C")}.get(word)
            written = value.value if isinstance(value, gast.Constant) else -value.operand.value \
                if isinstance(value, gast.UnaryOp) and isinstance(value.op, gast.USub) \
                and isinstance(value.operand, gast.Constant) else value
            if allowed is None and not (type(written) is int or written is None) \
                    or allowed is not None and (isinstance(written, gast.AST) or written not in allowed
                                                or type(written) is not type(allowed[0]) and type(written) is not str):
                choices = "an integer or None" if allowed is None else ", ".join(map(repr, allowed))
                self.fail(value, f"`{word}=` of `{spelled}` must be written in the call as {choices}",
                          f"write the value in the call: {word}={1 if allowed is None else allowed[0]!r}")

    def check_options(self, call, callee):
        """Options normalize turns into other calls (frontend/call_forms.py), so they must be
        known as written: np.diff's `n`, np.linspace's `endpoint`, np.linalg.norm's `ord`,
        np.linalg.matrix_power's exponent."""
        spelled = self.text(call.func)
        position, word = _OPTIONS_AS_WRITTEN[callee]
        value = _keyword_value(call, word)
        if value is None and len(call.args) > position:
            value = call.args[position]
        if value is None:
            return
        if callee is np.linalg.norm:
            axis = _keyword_value(call, "axis") if _keyword_value(call, "axis") is not None else \
                call.args[2] if len(call.args) > 2 else None
            if isinstance(axis, gast.Tuple) and not (isinstance(value, gast.Constant) and value.value in (None, "fro")):
                self.fail(call, "np.linalg.norm with an `ord` over a tuple of axes (a matrix norm) is not supported",
                          "write the norm out: ord=1 is np.max(np.sum(np.abs(A), axis=0)), ord=np.inf "
                          "np.max(np.sum(np.abs(A), axis=1)); the Frobenius norm is np.linalg.norm(A)")
            keepdims = _keyword_value(call, "keepdims")
            keepdims = call.args[3] if keepdims is None and len(call.args) > 3 else keepdims
            if keepdims is not None and not (isinstance(keepdims, gast.Constant) and keepdims.value is False):
                self.fail(call, "np.linalg.norm with an `ord` and keepdims is not supported",
                          "put the axis back: np.expand_dims(np.linalg.norm(x, ord, axis=1), 1)")
            if isinstance(value, gast.Constant) and isinstance(value.value, str) and value.value != "fro":
                self.fail(value, f"np.linalg.norm with ord={value.value!r} is not supported",
                          "the Frobenius norm is np.linalg.norm(A) (ord='fro'); vector norms take ord=1, 2, "
                          "np.inf, -np.inf or another number")
            if isinstance(value, gast.Constant) and value.value == 0:
                self.fail(value, "np.linalg.norm with ord=0 counts the nonzero elements, which has no derivative",
                          "count them outside the differentiated function: np.count_nonzero(x)")
            return
        literal = _literal(value)
        if callee is np.linspace:
            if type(literal) is not bool:
                self.fail(value, "np.linspace's `endpoint=` must be True or False as written")
            return
        if type(literal) is not int or (callee is np.diff and literal < 0):
            example = {np.diff: "np.diff(x, n=2)", np.linalg.matrix_power: "np.linalg.matrix_power(A, 3)"}[callee]
            self.fail(value, f"`{spelled}`'s `{word}` must be an integer written in the call"
                             + (", 0 or more" if callee is np.diff else ""),
                      f"write the number: {example}, or loop: P = A, then P = P @ A in a for loop"
                      if callee is np.linalg.matrix_power else f"write the number: {example}")

    def check_pad(self, call):
        """np.pad(x, pad_width, mode): a mode that copies elements, written as a string, and
        only zeros as constant_values."""
        modes = call.args[2:3] + [k.value for k in call.keywords if k.arg == "mode"]
        for mode in modes:
            if not (isinstance(mode, gast.Constant) and mode.value in PAD_MODES):
                self.fail(mode, "np.pad's mode must be one of " + ", ".join(repr(m) for m in PAD_MODES)
                          + ", written as a string", "np.pad(x, 1, mode='edge')")
        values = call.args[3:] + [k.value for k in call.keywords if k.arg == "constant_values"]
        for value in values:
            if _literal(value) != 0:
                self.fail(value, "np.pad's constant_values other than 0 is not supported",
                          "pad with zeros, then add the constant's border: np.pad(x - c, w) + c")

    def check_convolve_mode(self, call, name):
        modes = call.args[2:] + [k.value for k in call.keywords if k.arg == "mode"]
        for mode in modes:
            if not (isinstance(mode, gast.Constant) and mode.value in CONVOLVE_MODES):
                self.fail(mode, f"np.{name}'s mode must be 'full', 'valid' or 'same', written as a string",
                          "write the mode as written in numpy's documentation: mode='valid'")


def _literal(node):
    """The value of a number or a negated number written in the source, else None."""
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) and isinstance(node.operand, gast.Constant) \
            and type(node.operand.value) in (int, float):
        return -node.operand.value
    return node.value if isinstance(node, gast.Constant) else None


_OPERATOR_TYPES = frozenset(OPERATORS)
_NUMBERS = frozenset((int, float, bool, type(None)))


_REQUIRED, _UNKNOWN, _NO_VALUE = object(), object(), object()
# options a call's value does not depend on (for float64 data), which can be left out as they are
_VALUE_KEEPING = {"casting", "subok", "copy", "like", "check_finite", "overwrite_a", "overwrite_b"}
_FLOAT64 = {"np.float64", "numpy.float64", "np.double", "float"}


def _parameters_of(callee):
    """The parameters of a callee's signature (name -> inspect.Parameter), None where Python
    cannot tell them (a builtin without a signature, an object that is not a function)."""
    import inspect
    try:
        return inspect.signature(callee).parameters
    except (TypeError, ValueError):
        return None


def _default_of(callee, parameter):
    """The default of a callee's parameter; _REQUIRED where it has none, _NO_VALUE where numpy
    marks it unset (np._NoValue: an option that changes the value when given), _UNKNOWN where
    its signature cannot be read or does not name it."""
    parameters = _parameters_of(callee)
    found = None if parameters is None else parameters.get(parameter)
    if found is None or found.kind in (found.VAR_POSITIONAL, found.VAR_KEYWORD):
        return _UNKNOWN
    return _REQUIRED if found.default is found.empty else _NO_VALUE if found.default is np._NoValue else found.default


def _positional_axis(call, callee):
    """The tuple written as a call's axis by position (np.std(x, (0, 2)), np.roll(x, 1, (0, 1))),
    else None; `shift` of np.roll too, which pairs with its axes."""
    if not any(isinstance(a, gast.Tuple) for a in call.args[1:]):
        return None
    parameters = _parameters_of(callee)
    if parameters is None:
        return None
    names = list(parameters)[:len(call.args)]
    return next((a for name, a in zip(names, call.args) if name in ("axis", "shift") and isinstance(a, gast.Tuple)),
                None)


def _keyword_value(call, name):
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_python_function(obj) -> bool:
    """A plain Python function normalize will inline: not a numerical library's own
    (np.triu_indices and scipy.linalg.solve_triangular are Python code, but calls of a
    library, never user helpers to look into: their checks and branches are not the user's)."""
    import types

    from .parse import LocalFunction
    return isinstance(obj, LocalFunction) or isinstance(obj, types.FunctionType) and not is_library_function(obj) \
        and not rules.is_differentiable(obj) and not rules.is_non_differentiable(obj)    # (scipy's logsumexp)


def is_library_function(obj) -> bool:
    """A function of numpy or scipy: called as the library's (by its rule, or refused)."""
    return (getattr(obj, "__module__", "") or "").split(".", 1)[0] in ("numpy", "scipy")


def _list_method(call) -> str | None:
    """`append` of `v.append(e)` (a method of a name the resolver did not resolve), else None."""
    if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) \
            and isinstance(call.func.value, gast.Name) and not annotations.has(call, "callee") \
            and call.func.attr in LIST_METHODS and not _is_module_attribute(call.func):
        return call.func.attr
    return None


def _builtin(node):
    """The built-in object a bare name stands for (`raise ValueError`), else None."""
    return getattr(builtins, node.id, None) if isinstance(node, gast.Name) else None


def _is_module_attribute(node) -> bool:
    return nodes.dotted(node.value) in ("math", "np", "np.linalg")     # np.linalg.norm


def _operators_of(node) -> list:
    if isinstance(node, (gast.BinOp, gast.UnaryOp, gast.BoolOp)):
        return [node.op]
    return list(node.ops) if isinstance(node, gast.Compare) else []


def _mask_hint(word, function):
    return f"for numbers write `{word}`; for arrays {function}"


_BITS = "bit operations on integers are not supported: compute with arithmetic (2 ** k for 1 << k)"
_OPERATOR_HINTS = {
    gast.BitAnd: ("&", _mask_hint("a > 0 and b > 0", "np.logical_and(a > 0, b > 0)")),
    gast.BitOr: ("|", _mask_hint("a > 0 or b > 0", "np.logical_or(a > 0, b > 0)")),
    gast.Invert: ("~", _mask_hint("not a > 0", "np.logical_not(a > 0)")),
    gast.BitXor: ("^", _BITS + "; for a power write x ** 2"), gast.LShift: ("<<", _BITS),
    gast.RShift: (">>", _BITS),
    gast.Is: ("is", "adjoint passes numbers and arrays, never None: compare values with ==, or "
                    "decide outside the differentiated function"),
    gast.IsNot: ("is not", "adjoint passes numbers and arrays, never None: compare values with !=, "
                           "or decide outside the differentiated function"),
    gast.In: ("in", "compare with each value: k == 1 or k == 2"),
    gast.NotIn: ("not in", "compare with each value: k != 1 and k != 2"),
}


def _keywords_of(callee) -> set:
    """The supported keywords (KEYWORDS) this callee takes: none for a function with a scalar
    derivative rule (np.exp: its rule has no `dtype`), else those its signature names."""
    rule = rules.lookup(callee)
    if rule is not None and not rules.ARRAY_RULES.get(callee) and callee not in table.variadic():
        return set()
    parameters = _parameters_of(callee)
    named = set(KEYWORDS) if parameters is None else KEYWORDS & set(parameters)
    named |= {k for k, calls in KEYWORD_CALLS.items() if callee in calls}    # np.pad's **kwargs
    return {k for k in named if callee in KEYWORD_CALLS.get(k, (callee,))
            or (k == "keepdims" and table.spelled_as(callee, "scipy.special.logsumexp"))}


def _describe(node) -> str:
    """The construct as the user wrote it, in words ("dict literal", "f-string"): never the
    name of a syntax-tree class."""
    return _WORDS.get(type(node), "this construct")


_TARGETS = {gast.Attribute: "an attribute (x.a = ...)", gast.Starred: "a starred name (*rest)",
            gast.List: "a list of names", gast.Subscript: "an element of an expression"}

_WORDS = {
    gast.ListComp: "list comprehension", gast.GeneratorExp: "generator expression",
    gast.Lambda: "lambda", gast.Break: "break", gast.Continue: "continue",
    gast.For: "for", gast.While: "while", gast.With: "with", gast.Try: "try",
    gast.SetComp: "set comprehension", gast.DictComp: "dict comprehension",
    gast.Dict: "dict literal", gast.Set: "set literal", gast.JoinedStr: "f-string",
    gast.FormattedValue: "f-string", gast.NamedExpr: "assignment expression (:=)",
    gast.Starred: "starred expression (*x)", gast.Await: "await", gast.Yield: "yield",
    gast.YieldFrom: "yield from", gast.FunctionDef: "nested function definition (def)",
    gast.AsyncFunctionDef: "async def", gast.ClassDef: "class definition", gast.Delete: "del",
    gast.AnnAssign: "annotated assignment (y: float = ...)", gast.AsyncFor: "async for",
    gast.AsyncWith: "async with", gast.Raise: "raise", gast.Assert: "assert",
    gast.Import: "import", gast.ImportFrom: "import", gast.Global: "global",
    gast.Nonlocal: "nonlocal", gast.Attribute: "attribute (x.a)", gast.Tuple: "nested tuple",
    gast.List: "list", gast.Subscript: "element of an expression", gast.Call: "call",
    gast.Name: "name", gast.Constant: "constant", gast.Slice: "slice", gast.Expr: "expression",
    gast.BinOp: "arithmetic", gast.UnaryOp: "arithmetic", gast.BoolOp: "and/or",
    gast.Compare: "comparison", gast.IfExp: "conditional expression (a if c else b)",
    **({gast.Match: "match statement"} if hasattr(gast, "Match") else {}),
    **({gast.TryStar: "try"} if hasattr(gast, "TryStar") else {}),
}


# where a function without a rule may live, as emitted code and hints spell the module
_HOMES = (("np", "numpy"), ("np.linalg", "numpy.linalg"), ("np.fft", "numpy.fft"), ("math", "math"),
          ("scipy.special", "scipy.special"), ("scipy.linalg", "scipy.linalg"), ("scipy.stats", "scipy.stats"))
# numpy functions that apply elementwise but are no ufuncs: a scalar rule serves them
_ELEMENTWISE_FUNCTIONS = {np.sinc, np.i0}


def _qualified(callee) -> str | None:
    """`np.linalg.cholesky` for numpy.linalg.cholesky: the function with its module."""
    import sys
    name = getattr(callee, "__name__", None)
    for alias, module_name in _HOMES:
        module = sys.modules.get(module_name)
        if name and module is not None and getattr(module, name, None) is callee:
            return f"{alias}.{name}"
    return None


def _rule_hint(callee, name, call) -> str:
    """How to register the missing rule: a scalar one (math, ufuncs: applied elementwise) or a
    vector-Jacobian product of an array function, with as many parameters as the call has
    arguments (named as the function names them, where it says)."""
    count = len(call.args) + len(call.keywords)
    parameters = _parameters_of(callee)
    params = [] if parameters is None else \
        [p for p in parameters if p not in ("args", "kwargs")][:len(call.args)] + [k.arg for k in call.keywords]
    if len(params) < count or None in params:
        params = [f"x{k + 1}" for k in range(count)] if count > 1 else ["x"]
    short = name.rsplit(".", 1)[-1]
    if _qualified(callee) is None and not isinstance(callee, np.ufunc) or callee in _ELEMENTWISE_FUNCTIONS \
            or name.startswith("math.") or isinstance(callee, np.ufunc):
        partials = ", ".join(f"<d {short}/d {p}>" for p in params)
        return (f"register its partial derivatives (applied elementwise to arrays): @adjoint.rule({name})\n"
                f"      def d_{short}({', '.join(params)}): return {partials}")
    contributions = ", ".join(f"<{p}'s sensitivity>" for p in params)
    return (f"register its vector-Jacobian product: @adjoint.vjp_rule({name})\n"
            f"      def {short}_vjp({', '.join(params + ['g'])}): return {contributions}   "
            f"(g: the result's sensitivity; @adjoint.tangent_rule for forward mode)")


# ufuncs whose .at(y, index, x) is an augmented assignment, by the ufunc's name
_UFUNC_OPERATORS = {"add": "+", "subtract": "-", "multiply": "*", "divide": "/", "true_divide": "/"}
# calls along an axis whose axis=None (the whole array) the rule table does not take, and the form that does
_WHOLE_ARRAY_FORMS = {np.sort: "np.sort(np.ravel(x))", np.flip: "np.flip(x)", np.cumprod: "np.cumprod(x)"}
# calls normalize writes as others (call_forms.py): an element read, products
_WRITTEN_AS_OTHERS = (np.take, np.linalg.matrix_power, np.average, np.meshgrid, np.correlate)
# options normalize writes as other calls (call_forms.py): their position, their keyword
_OPTIONS_AS_WRITTEN = {np.diff: (1, "n"), np.linalg.norm: (1, "ord"), np.linspace: (3, "endpoint"),
                       np.linalg.matrix_power: (1, "n")}
