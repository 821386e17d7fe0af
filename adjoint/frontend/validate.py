"""The one place unsupported user syntax is rejected.

    def f(x):                              f.py:2:11: unsupported syntax: lambda
        g = lambda t: t * x      ->            g = lambda t: t * x
        ...                                        ^
                                           hint: define a named function instead

Returns nothing; raises AdjointError at the first construct outside the supported subset.
"""

from __future__ import annotations

import gast

from ..errors import AdjointError, locate
from ..ir import annotations, nodes, trees
from ..primitives import rules, table

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
KEYWORDS = {"axis", "dtype"}
LIST_METHODS = {"append", "insert", "extend", "pop", "remove", "reverse", "sort", "clear"}
STACK_METHODS = {"append", "insert", "extend", "pop"}     # of a list, in straight-line code

HINTS = {
    gast.Lambda: "bind it to a name at the top of the function (sq = lambda v: v * v) and call that",
    gast.ListComp: "write an explicit for loop over range(...)",
    gast.GeneratorExp: "write an explicit for loop over range(...)",
    gast.SetComp: "write an explicit for loop",
    gast.DictComp: "write an explicit for loop",
    gast.Dict: "pass numbers or arrays; dictionaries are not differentiable values",
    gast.Set: "pass numbers or arrays; sets are not differentiable values",
    gast.With: "move the with-block outside the differentiated function",
    gast.Try: "move error handling outside the differentiated function",
    gast.Raise: "check inputs before calling the differentiated function",
    gast.Assert: "check inputs before calling the differentiated function",
    gast.Global: "pass the value as an argument instead",
    gast.Nonlocal: "pass the value as an argument instead",
    gast.Yield: "generators cannot be differentiated; return a value",
    gast.YieldFrom: "generators cannot be differentiated; return a value",
    gast.Await: "async code cannot be differentiated",
    gast.FunctionDef: "define it at the top level of the function's body (not in a loop or branch), "
                      "or at module level; adjoint inlines calls to it",
    gast.ClassDef: "define classes outside the differentiated function",
    gast.Delete: "drop the del statement; variables go out of scope on return",
    gast.Import: "import at module level",
    gast.ImportFrom: "import at module level",
    gast.NamedExpr: "assign in a separate statement",
    gast.JoinedStr: "strings are not differentiable values",
    gast.Starred: "unpack explicitly",
    gast.AnnAssign: "drop the annotation",
}


def validate(parsed) -> None:
    """The syntax checks; `views.check_views` runs once the arguments' types are known (pipeline)."""
    _Validator(parsed).check(parsed.tree)


class _Validator:
    def __init__(self, parsed):
        self.parsed = parsed

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
            call = stmt.value
            if id(stmt) in self.growing:
                return
            if id(stmt) in self.straight and _list_method(call) in STACK_METHODS:
                for arg in call.args:                     # stack.append(a): normalize's (tuples.py)
                    self.check_expression(arg)
                return
            if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) \
                    and call.func.attr in LIST_METHODS and not _is_module_attribute(call.func):
                owner = _spelled(call.func.value)
                self.fail(stmt, f"changing a list in place (`{owner}.{call.func.attr}(...)`) is not supported",
                          f"preallocate an array and write its elements: {owner} = np.zeros(n), "
                          f"then {owner}[k] = ...")
            if isinstance(stmt.value, gast.Call) and annotations.get(stmt.value, "callee") is print:
                return self.check_print(stmt.value)               # the primal prints; the gradient not
            self.fail(stmt, "an expression statement has no effect on the result",
                      "assign its value to a variable, or delete the line")
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
        self.fail(target, f"cannot assign to {_describe(target)}",
                  "assign to a name, a tuple of names or an array element")

    def check_expression(self, expr):
        popped = set()                      # stack.pop(): normalize's (tuples.py)
        for node in trees.walk(expr):       # (lists and tuples: normalize takes them apart, tuples.py)
            if isinstance(node, CONTEXTS + OPERATORS) or id(node) in popped:
                continue
            if isinstance(node, gast.Call) and _list_method(node) == "pop":
                popped |= {id(node.func), id(node.func.value)}
                continue
            if not isinstance(node, EXPRESSIONS):
                self.fail(node, f"unsupported syntax: {_describe(node)}")
            if isinstance(node, gast.Constant) and not isinstance(node.value, (int, float, bool)) \
                    and node.value is not None:
                self.fail(node, f"unsupported constant {node.value!r}", "only numbers are differentiable values")
            if isinstance(node, gast.Call):
                self.check_call(node)

            if isinstance(node, gast.Attribute) and not _is_module_attribute(node) \
                    and node.attr not in ARRAY_ATTRIBUTES:
                self.fail(node, f"unsupported attribute `.{node.attr}`",
                          "use a module function (np.sum(x)) or x.shape / x.size / x.ndim")

    def check_call(self, call):
        callee = annotations.get(call, "callee")
        helper = _is_python_function(callee) and not rules.is_differentiable(callee) \
            and not rules.is_non_differentiable(callee)
        for keyword in call.keywords:
            if keyword.arg not in KEYWORDS and not helper:      # a helper's: bound when inlined
                self.fail(call, f"keyword argument `{keyword.arg}=` is not supported",
                          f"supported keywords: {', '.join(sorted(KEYWORDS))}")
        if not annotations.has(call, "callee"):
            self.fail(call, f"cannot resolve the function `{_spelled(call.func)}`",
                      "call module-level functions or math/numpy functions")
        callee = annotations.get(call, "callee")
        rule = rules.lookup(callee)
        if rule is not None and not rules.ARRAY_RULES.get(callee) and callee not in table.variadic() \
                and len(call.args) + len(call.keywords) != len(rule.params):
            self.fail(call, f"`{_spelled(call.func)}` with {len(call.args)} arguments: its derivative "
                            f"rule takes {len(rule.params)}",
                      f"call it with {len(rule.params)} arguments")
        # the allocating calls (np.zeros, np.array) are here too: constant, or a rule over parts
        if rules.is_differentiable(callee) or rules.is_non_differentiable(callee):
            return
        if _is_python_function(callee):
            return                                                # a helper: inlined by normalize
        self.fail(call, f"no derivative rule for `{_spelled(call.func)}`",
                  f"register one: @adjoint.rule({_spelled(call.func)})\n"
                  f"      def d_{getattr(callee, '__name__', 'f')}(x): return <partial derivative>")


def _is_python_function(obj) -> bool:
    """A plain Python function normalize will inline: not numpy's own (np.triu_indices is
    Python code, but a call of numpy, never a user helper to look into)."""
    import types

    from .parse import LocalFunction
    return isinstance(obj, LocalFunction) or isinstance(obj, types.FunctionType) \
        and not (getattr(obj, "__module__", "") or "").startswith("numpy")


def _list_method(call) -> str | None:
    """`append` of `v.append(e)` (a method of a name the resolver did not resolve), else None."""
    if isinstance(call, gast.Call) and isinstance(call.func, gast.Attribute) \
            and isinstance(call.func.value, gast.Name) and not annotations.has(call, "callee") \
            and call.func.attr in LIST_METHODS and not _is_module_attribute(call.func):
        return call.func.attr
    return None


def _is_module_attribute(node) -> bool:
    return isinstance(node.value, gast.Name) and node.value.id in ("math", "np")


def _spelled(node) -> str:
    return nodes.dotted(node) or _describe(node)


def _describe(node) -> str:
    names = {gast.ListComp: "list comprehension", gast.GeneratorExp: "generator expression",
             gast.Lambda: "lambda", gast.Break: "break", gast.Continue: "continue",
             gast.For: "for", gast.While: "while", gast.With: "with", gast.Try: "try",
             gast.Tuple: "a tuple", gast.List: "a list", gast.Starred: "a starred expression",
             gast.FunctionDef: "a function definition here", gast.Dict: "a dictionary",
             gast.Set: "a set", gast.JoinedStr: "an f-string"}
    return names.get(type(node), type(node).__name__)
