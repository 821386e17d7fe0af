"""A Python function -> a gast FunctionDef the later stages can trust.

    def f(x):                      def f(x):
        return sin(x) * G    ->        return math.sin(x) * 9.81
    (from math import sin; G = 9.81 at module level)

Line and column numbers are absolute in the user's file. Every call whose callee resolves
through the function's globals carries `node.callee` (the Python object) and is spelled
canonically (`math.sin`, `np.exp`, `abs`); numeric globals are inlined as constants.
Any other object the code refers to (a registered function, an array, a helper) is named
by identity (namespace.GlobalNames: two functions sharing a __name__ get two names), and a
local that would hide a name emitted code needs (`np`, `math`, `range`, `_sum_to_2_1`) is
renamed `np_1`. Each statement carries `source_text`, the user's line it came from.
The input is not changed.
"""

from __future__ import annotations

import builtins
import dataclasses
import functools
import inspect
import math
import textwrap
import types

import gast
import numpy as np

from ..errors import AdjointError, Location
from ..ir import annotations, nodes, trees
from ..primitives import runtime, table
from ..primitives.rule_helpers import emitted_helper
from .call_forms import mvn_logpdf
from .namespace import GlobalNames, is_reserved

CANONICAL_MODULES = {"math": math, "np": np}


@dataclasses.dataclass
class ParsedFunction:
    fn: object
    name: str
    filename: str
    tree: gast.FunctionDef
    args: list[str]           # the parameters as emitted (a parameter `np` becomes `np_1`)
    namespace: dict           # user objects the emitted code must see (registered functions, arrays)
    helpers: dict             # name -> ParsedFunction of plain Python functions it calls
    names: GlobalNames = None  # how the emitted module names those objects (shared with helpers)
    user_args: list = None    # the parameters as the user wrote them
    defaults: dict = dataclasses.field(default_factory=dict)   # user parameter -> its default value
    data: dict = dataclasses.field(default_factory=dict)       # emitted name -> DataSource
    constants: dict = dataclasses.field(default_factory=dict)  # user spelling -> ConstantSource
    local_functions: dict = dataclasses.field(default_factory=dict)  # name -> LocalFunction
    starred: tuple = None     # a helper's `*args`: (its name, how many parameters come before it)

    def emitted(self, name: str) -> str:
        """A parameter's emitted name, from the user's."""
        return self.args[self.user_args.index(name)] if name in self.user_args else name

    def user(self, name: str) -> str:
        """A parameter's user name, from the emitted one."""
        return self.user_args[self.args.index(name)] if name in self.args else name


def parse(fn, names: GlobalNames | None = None, taken: set | None = None, helper: bool = False) -> ParsedFunction:
    """`names`: the module's names for user objects, shared by the function being
    differentiated and the helpers it inlines; `taken`: the names already in use where a
    helper is inlined (the caller's Namer.taken), which new object names avoid and join;
    `helper`: a helper inlined, which may take `*args` (the call's extra arguments, a tuple)."""
    if isinstance(fn, LocalFunction):
        return fn.parsed(names)
    fn = inspect.unwrap(getattr(fn, "__adjoint_function__", fn))
    filename = _filename(fn)
    stored = set()
    tree = _function_tree(fn, filename, stored)
    starred = None
    if helper and tree.args.vararg is not None:       # def concat(weights, *args): the last parameter
        starred = (tree.args.vararg.id, len(tree.args.posonlyargs) + len(tree.args.args))
        tree.args.kwonlyargs.append(nodes.parameter(tree.args.vararg.id))
        tree.args.kw_defaults.append(None)
        tree.args.vararg = None
    defaults = _plain_signature(tree, fn, filename)
    user_args = [a.id for a in tree.args.args]
    if _defines_lambda(getattr(fn, "__code__", None)):
        tree.body = _hoisted_lambdas(tree.body, stored)
    locals_ = _rename_reserved_locals(tree, _local_names_from(stored, tree))
    locals_ |= _local_function_names(tree)  # neither a local function nor its parameters are globals
    names = names if names is not None else GlobalNames(tree.name)
    resolver = _Resolver(fn, filename, locals_, names, taken)
    tree = resolver.visit(tree)             # (replaces expressions only: statements stay annotated)
    tree.decorator_list = []
    tree.body = _strip_docstring(tree.body)
    local_functions = _local_functions(tree, filename)
    if local_functions:
        tree.body = _with_local_calls(tree.body, local_functions)
    return ParsedFunction(fn=fn, name=tree.name, filename=filename, tree=tree,
                          args=[a.id for a in tree.args.args], namespace=names.namespace, helpers={},
                          names=names, user_args=user_args, defaults=defaults, data=resolver.data,
                          constants=resolver.constants, local_functions=local_functions, starred=starred)


@dataclasses.dataclass(eq=False)
class LocalFunction:
    """A function defined in the body of the one differentiated (`def g(v): ...`, or a
    lambda bound to a name, `sq = lambda v: v * v`). No Python object of it exists before the
    function runs, so normalize inlines its tree, resolved with the enclosing function's
    globals; a name it reads and does not assign is the enclosing function's variable (its
    closure), read when the call runs, as Python does."""
    name: str
    tree: gast.FunctionDef
    filename: str
    defaults: dict          # parameter -> its default's value (numbers only)
    statement: gast.stmt    # where the function body defines it

    def __post_init__(self):
        self.__name__ = self.name

    def __deepcopy__(self, memo):        # a copied call still names this function (its closure)
        return self

    def parsed(self, names) -> ParsedFunction:
        tree = nodes.clone(self.tree)
        inner = {s.name: s for s in tree.body if isinstance(s, gast.FunctionDef)}
        if inner:
            raise AdjointError(f"a function defined inside `{self.name}`, itself defined inside the "
                               f"function, is not supported", location=Location(
                                   self.filename, next(iter(inner.values())).lineno,
                                   next(iter(inner.values())).col_offset),
                               hint=f"define it next to `{self.name}`")
        args = [a.id for a in tree.args.args]
        names = names if names is not None else GlobalNames(self.name)
        return ParsedFunction(fn=self, name=self.name, filename=self.filename, tree=tree, args=args,
                              namespace=names.namespace, helpers={}, names=names, user_args=args,
                              defaults=dict(self.defaults))


class _SourceDefault:
    """A default value of a local function that is no number, shown as written."""

    def __init__(self, text):
        self.text = text

    def __repr__(self):
        return self.text


def _defined_locally(stmt):
    """(name, FunctionDef or Lambda) of a statement defining a local function, else None."""
    if isinstance(stmt, gast.FunctionDef):
        return stmt.name, stmt
    if isinstance(stmt, gast.Assign) and isinstance(stmt.value, gast.Lambda) \
            and len(stmt.targets) == 1 and isinstance(stmt.targets[0], gast.Name):
        return stmt.targets[0].id, stmt.value
    return None


def _defines_lambda(code) -> bool:
    """Whether the compiled function makes a lambda, itself or in a function it defines: a
    look at its constants, where walking the tree for one costs a tenth of parsing a long
    function that has none."""
    return code is None or any(isinstance(c, types.CodeType) and (c.co_name == "<lambda>" or _defines_lambda(c))
                               for c in code.co_consts)


def _hoisted_lambdas(body, stored):
    """A lambda passed to a call (`rk4(lambda x, _: dX_dt(x, a, b), y0, t)`,
    `map(lambda v: v * v, (a, b))`) bound to a name of its own before the top-level statement
    holding it, `lambda_3 = lambda x, _: ...`, so that it is a local function like a named
    lambda (which reads the enclosing variables when it is called, as Python's does)."""
    out, count = [], 0
    for stmt in body:
        if isinstance(stmt, gast.FunctionDef):
            out.append(stmt)               # (a local def's lambdas may read its parameters)
            continue
        inside = {id(n) for lam in trees.walk(stmt) if isinstance(lam, gast.Lambda)
                  for n in trees.walk(lam.body)}
        for node in trees.walk(stmt):
            if not isinstance(node, gast.Call) or id(node) in inside:
                continue
            for k, arg in enumerate(node.args):
                if isinstance(arg, gast.Lambda):
                    count += 1
                    while f"lambda_{count}" in stored:
                        count += 1
                    name = f"lambda_{count}"
                    stored.add(name)
                    out.append(gast.copy_location(nodes.assign_to(nodes.name(name, store=True), arg), stmt))
                    node.args[k] = gast.copy_location(nodes.name(name), arg)
        out.append(stmt)
    return out


def _local_function_names(tree) -> set:
    names = set()
    for stmt in tree.body:
        found = _defined_locally(stmt)
        if found is not None:
            names |= {found[0]} | {n.id for n in trees.walk(found[1].args) if isinstance(n, gast.Name)}
    return names


def _local_functions(tree, filename) -> dict:
    """The functions the body defines at its top level: `def g(...)` and `g = lambda ...`."""
    found = {}
    for stmt in tree.body:
        defined = _defined_locally(stmt)
        if defined is None:
            continue
        name, node = defined
        if isinstance(node, gast.Lambda):
            lam = node
            node = nodes.function(name, [], [nodes.return_(lam.body, stmt)], stmt)
            node.args = lam.args
        if name in found:
            raise AdjointError(f"`{name}` is defined twice in the function", location=Location(
                filename, stmt.lineno, stmt.col_offset), hint="give each local function its own name")
        if node.decorator_list:
            raise AdjointError(f"a decorated local function (`{name}`) is not supported",
                               location=Location(filename, stmt.lineno, stmt.col_offset),
                               hint="define it without the decorator, or at module level")
        given = list(node.args.defaults)
        positional = [a.id for a in list(node.args.posonlyargs) + list(node.args.args)]
        defaults = {p: _number(d) for p, d in zip(positional[len(positional) - len(given):], given)}
        defaults.update({a.id: _number(d) for a, d in zip(node.args.kwonlyargs, node.args.kw_defaults)
                         if d is not None})
        _plain_signature(node, types.SimpleNamespace(__defaults__=None, __kwdefaults__=None,
                                                     __name__=name), filename)
        found[name] = LocalFunction(name, node, filename, defaults, stmt)
    return found


def _number(node):
    """The number a default expression spells (`2.0`, `-1`), else a _SourceDefault."""
    if isinstance(node, gast.Constant) and type(node.value) in (int, float, bool):
        return node.value
    if isinstance(node, gast.UnaryOp) and isinstance(node.op, gast.USub) \
            and isinstance(node.operand, gast.Constant) and type(node.operand.value) in (int, float):
        return -node.operand.value
    import ast
    return _SourceDefault(ast.unparse(gast.gast_to_ast(node)))


def _with_local_calls(body, local_functions):
    """The body without the local functions' definitions, each call of one annotated with it."""
    definitions = {id(local.statement) for local in local_functions.values()}
    kept = [s for s in body if id(s) not in definitions]
    for node in trees.walk(nodes.module(kept)):
        if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) \
                and node.func.id in local_functions:
            annotations.set(node, "callee", local_functions[node.func.id])
    for local in local_functions.values():
        for node in trees.walk(local.tree):
            if isinstance(node, gast.Call) and isinstance(node.func, gast.Name) \
                    and node.func.id in local_functions:
                annotations.set(node, "callee", local_functions[node.func.id])
    return kept or [nodes.pass_()]


def _filename(fn) -> str:
    code = getattr(fn, "__code__", None)
    if code is None:
        raise AdjointError(f"adjoint can only differentiate Python functions, not {type(fn).__name__}",
                           hint="pass a function defined with `def`")
    return inspect.getsourcefile(fn) or code.co_filename


def _pad_of(fn, where):
    """np.pad for an emitted `_pad` (lower/for_numba.py's, numba having no np.pad), else None;
    its reverse, `_pad_vjp`, read again is an error: np.pad has no second-order rules yet."""
    helper = emitted_helper(fn)
    if helper == "_pad":
        return np.pad
    if helper == "_pad_vjp":
        raise AdjointError("differentiating np.pad's gradient again (hvp, hessian, grad of grad) is not "
                           "supported", location=where,
                           hint="differentiate np.pad once (grad, jvp, vjp); for second derivatives, pad with "
                                "np.concatenate of slices, one axis at a time (mode='edge', width 1: "
                                "P = np.concatenate((x[:1], x, x[-1:]), axis=0), then "
                                "np.concatenate((P[:, :1], P, P[:, -1:]), axis=1))")
    return None


def _function_tree(fn, filename, stored=None):
    """The function's gast tree, with absolute positions and each statement's `source_text`;
    `stored`: a set that receives the names the function stores (trees.parse)."""
    if fn.__name__ == "<lambda>":
        tree = _lambda_tree(fn, filename, stored)
        if tree is not None:
            return tree
    try:
        lines, start = _indented_block(fn)
    except (OSError, TypeError) as exc:
        raise AdjointError(f"cannot read the source of {fn.__qualname__}: {exc}",
                           hint="define the function in a file (not in an interactive prompt)") from None
    try:
        tree = _parse_at(lines, start, stored)
    except SyntaxError:
        tree = None
    if tree is None:                           # cut inside a string or brackets: inspect's block
        lines, start = inspect.getsourcelines(fn)
        if stored is not None:
            stored.clear()
    indent = len(lines[0]) - len(lines[0].lstrip()) if "".join(lines).strip() else 0
    try:
        tree = tree or _parse_at(lines, start, stored)
    except SyntaxError as exc:
        # inspect gives a lambda's lines, which may be a fragment of a statement
        if fn.__name__ != "<lambda>":
            raise AdjointError(f"cannot parse the source of {fn.__qualname__}: {exc.msg}",
                               location=Location(filename, start, indent),
                               hint="reload the module if its file changed since it was imported") from None
        tree = None
    if isinstance(tree, gast.FunctionDef) and tree.name != fn.__name__ and fn.__name__ != "<lambda>":
        raise AdjointError(f"the source of {fn.__qualname__} changed since it was imported: "
                           f"line {start} now defines `{tree.name}`",
                           location=Location(filename, start, indent),
                           hint="reload the module (importlib.reload) or restart the interpreter")
    if not isinstance(tree, gast.FunctionDef):
        raise AdjointError(f"{fn.__qualname__} is not defined with `def`",
                           location=Location(filename, start, indent),
                           hint="lambdas cannot be differentiated; define a named function")
    if indent:                             # a method or nested function: columns shifted
        for node in trees.walk(tree):
            known = node.__dict__          # no node class gives a default lineno
            if "lineno" in known:
                known["col_offset"] = (node.col_offset or 0) + indent
                if known.get("end_lineno") is not None:
                    known["end_col_offset"] = (node.end_col_offset or 0) + indent
    for stmt in [tree, *nodes.statements(tree.body)]:
        if isinstance(stmt, gast.stmt):     # (not an except clause)
            _annotate_source(stmt, start, lines)
    return tree


@functools.lru_cache(maxsize=8)
def _lambdas_by_line(source: str) -> dict:
    """line -> the lambdas that start on it, in a module's source, each with `bound_to`, the
    name `name = lambda ...` binds it to (where one does): the module is parsed and walked
    once per source (a lambda in a 3,000-line file took 80 ms on every grad)."""
    import ast
    by_line = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Lambda):
            by_line.setdefault(node.lineno, []).append(node)
        elif isinstance(node, ast.Assign) and isinstance(node.value, ast.Lambda) \
                and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            node.value.bound_to = node.targets[0].id
    return by_line


def _segment(lines, node) -> str:
    """The source text of `node` (ast.get_source_segment's, read from its own lines: that
    splits the whole file); columns are UTF-8 byte offsets."""
    chunk = [line.encode() for line in lines[node.lineno - 1:node.end_lineno]]
    chunk[-1] = chunk[-1][:node.end_col_offset]
    chunk[0] = chunk[0][node.col_offset:]
    return b"".join(chunk).decode()


def _lambda_tree(fn, filename, stored):
    """A lambda (`objective = lambda params: -loglik(params, x, y)`, passed to grad) as the
    function `def objective(params): return -loglik(params, x, y)`, named after the name it is
    bound to (else `lambda_<line>`); None where its source is not found. Several lambdas may
    start on its line: its own is the one whose text spans the positions of its code."""
    try:
        lines, _ = inspect.findsource(fn)
        lambdas = _lambdas_by_line("".join(lines))
    except (OSError, TypeError, SyntaxError):
        return None
    code = fn.__code__
    spots = [(line, col, end_line, end_col) for line, end_line, col, end_col in code.co_positions()
             if None not in (line, col, end_line, end_col) and (line, col) != (end_line, end_col)]

    def spans(node, spot):
        return (node.lineno, node.col_offset) <= spot[:2] and spot[2:] <= (node.end_lineno, node.end_col_offset)

    found = [n for n in lambdas.get(code.co_firstlineno, ())
             if [a.arg for a in n.args.args] == list(code.co_varnames[:code.co_argcount])
             and all(spans(n, spot) for spot in spots)]
    if not found:
        raise AdjointError(f"the lambda of line {code.co_firstlineno} is not in the source of {filename} as "
                           f"it was imported", location=Location(filename, code.co_firstlineno, 0),
                           hint="reload the module (importlib.reload) or restart the interpreter")
    lam = min(found, key=lambda n: (n.end_lineno - n.lineno, n.end_col_offset - n.col_offset))
    name = getattr(lam, "bound_to", None) or f"lambda_{lam.lineno}"
    text = _segment(lines, lam)
    parsed = trees.parse("\n" * (lam.lineno - 1) + "(" + text + ")", stored).body[0].value
    shift = lam.col_offset - 1                  # its first line parsed after "(" at column 0
    for node in trees.walk(parsed):
        known = node.__dict__
        if known.get("lineno") == lam.lineno:
            known["col_offset"] += shift
        if known.get("end_lineno") == lam.lineno:
            known["end_col_offset"] += shift
    body = nodes.return_(parsed.body, parsed.body)
    tree = nodes.function(name, [], [body], parsed)
    tree.args = parsed.args
    _annotate_source(body, 1, lines)
    _annotate_source(tree, 1, lines)
    return tree


def _indented_block(fn):
    """inspect.getsourcelines(fn) for a `def`, found from indentation instead of by tokenizing
    the rest of the file (a tenth of the compiler's time on a 2,000-line function): the lines
    from the decorators or `def` on while they are blank, comments or indented deeper than
    it. A line indented no deeper inside the function continues a string, brackets or a `\\`
    line, so cutting there leaves a syntax error, and the caller falls back to inspect.
    A lambda's lines come from inspect."""
    lines, first = inspect.findsource(fn)
    if fn.__name__ == "<lambda>":
        return inspect.getsourcelines(fn)
    def depth(line):
        return len(line) - len(line.lstrip())
    indent = depth(lines[first])
    end = first + 1
    while end < len(lines) and lines[end].lstrip().startswith("@"):     # more decorators
        end += 1
    end += 1                                                           # the `def` line
    last = end
    while end < len(lines):
        text = lines[end].strip()
        if text and not text.startswith("#"):
            if depth(lines[end]) <= indent:
                break
            last = end + 1
        end += 1
    return lines[first:last], first + 1


def _parse_at(lines, start, stored=None):
    """The first statement of `lines`, dedented and parsed at its line in the file (the lines
    of positions need no shifting afterwards)."""
    return trees.parse("\n" * (start - 1) + textwrap.dedent("".join(lines)), stored).body[0]


def _plain_signature(tree, fn, filename) -> dict:
    """Flatten the signature to plain positional parameters (positional-only and keyword-only
    ones join them, in order: the call binds keywords and defaults before the compiled code
    runs) and return the defaults' values, by parameter (Python evaluated them at `def`)."""
    a = tree.args
    read = () if a.vararg is None and a.kwarg is None else \
        {n.id for n in trees.walk(tree) if isinstance(n, gast.Name) and isinstance(n.ctx, gast.Load)}
    if a.vararg is not None and a.vararg.id not in read:
        a.vararg = None            # `fun(self, x, *args)` that never reads args: nothing to pass
    if a.kwarg is not None and a.kwarg.id not in read:
        a.kwarg = None
    variadic = a.vararg or a.kwarg
    if variadic:
        star = "*" if variadic is a.vararg else "**"
        raise AdjointError(f"a `{star}{variadic.id}` parameter is not supported",
                           location=Location(filename, getattr(variadic, "lineno", tree.lineno),
                                             getattr(variadic, "col_offset", tree.col_offset)),
                           hint=f"name each parameter instead ({fn.__name__}(x, a, b), or pass "
                                f"several values as one array)")
    positional = list(a.posonlyargs) + list(a.args)
    defaults = dict(zip([p.id for p in positional][len(positional) - len(fn.__defaults__ or ()):],
                        fn.__defaults__ or ()))
    defaults.update(fn.__kwdefaults__ or {})
    a.args = positional + list(a.kwonlyargs)
    a.posonlyargs, a.kwonlyargs, a.kw_defaults, a.defaults = [], [], [], []
    return defaults


def local_names(tree) -> set[str]:
    """The function's parameters and the names it assigns: in Python every other name it
    reads is a global (or a closure's) throughout the function."""
    return {a.id for a in tree.args.args} | nodes.names_by_context(tree)[1]


def _local_names_from(stored, tree) -> set[str]:
    """local_names(tree), from the names parsing found stored in the function's source."""
    return {a.id for a in tree.args.args} | stored


def _rename_reserved_locals(tree, locals_) -> set[str]:
    """A parameter or local named like something emitted code needs (`np`, `math`, `range`,
    a runtime helper) is renamed `np_1`, wherever the function reads or writes it; emitted
    code keeps its own names, so the module reads as usual. `locals_`: local_names(tree).
    Returns the local names after."""
    clashes = sorted(n for n in locals_ if is_reserved(n))
    if not clashes:
        return locals_
    used = nodes.names_in(tree)
    renamed = {}
    for name in clashes:
        k = 1
        while f"{name}_{k}" in used or is_reserved(f"{name}_{k}"):
            k += 1
        renamed[name] = f"{name}_{k}"
        used.add(renamed[name])
    for node in trees.walk(tree):
        if isinstance(node, gast.Name) and node.id in renamed:
            node.id = renamed[node.id]
    return local_names(tree)


def _strip_docstring(body):
    if body and isinstance(body[0], gast.Expr) and isinstance(body[0].value, gast.Constant) \
            and isinstance(body[0].value.value, str):
        return body[1:] or [nodes.pass_()]
    return body


def _annotate_source(stmt, start, lines):
    """`stmt.source_text`: the user's line it starts on (without a compound statement's colon)."""
    text = lines[stmt.lineno - start].strip() if 0 <= stmt.lineno - start < len(lines) else ""
    annotations.set(stmt, "source_text", text.rstrip(":") if isinstance(stmt, (gast.If, gast.For, gast.While)) else text)


def spelling(obj) -> str | None:
    """How emitted code names a callable: `math.sin`, `np.exp`, `abs`; None if it has no such name."""
    name = getattr(obj, "__name__", None)
    if name is None:
        return None
    if getattr(builtins, name, None) is obj:
        return name
    for alias, module in CANONICAL_MODULES.items():
        if getattr(module, name, None) is obj:
            return f"{alias}.{name}"
    # a primitive of a numpy submodule (np.linalg.norm): its spelling in the primitive table,
    # which the emitted module's own `import numpy as np` reaches (a bare name would not)
    record = table.record_of(obj)
    for spelled in record.spellings if record is not None else ():
        if spelled.split(".")[0] in CANONICAL_MODULES and table.resolve(spelled) is obj:
            return spelled
    return None


class _Resolver(trees.Transformer):
    """Rewrites global references into canonical calls and inlined constants."""

    def __init__(self, fn, filename, local_names, names, taken):
        self.fn = fn
        self.filename = filename
        self.local_names = local_names
        closure = inspect.getclosurevars(fn)
        self.closure = closure.nonlocals
        self.scope = {**vars(builtins), **fn.__globals__, **closure.nonlocals}
        self.names = names
        self.taken = taken
        self.data = {}                   # emitted name -> DataSource of the arrays it reads
        self.constants = {}              # user spelling -> ConstantSource of the numbers inlined

    def global_name(self, obj, base) -> str:
        """The emitted module's name for a user object: never one of this function's locals,
        nor a name already in use where it is inlined."""
        avoid = self.local_names | (self.taken or set())
        name = self.names.name(obj, base, avoid)
        if self.taken is not None:
            self.taken.add(name)
        return name

    def lookup(self, node):
        """The object a global Name or dotted Attribute refers to, or raise LookupError."""
        if isinstance(node, gast.Name):
            if node.id in self.local_names or node.id not in self.scope:
                raise LookupError(node.id)
            return self.scope[node.id]
        if isinstance(node, gast.Attribute):
            base = self.lookup(node.value)
            if not isinstance(base, types.ModuleType):
                method = getattr(base, node.attr, None)         # scipy.stats' norm.cdf: a primitive
                if method is not None and (table.record_of(method) is not None or mvn_logpdf(method)):
                    return method
                raise LookupError(node.attr)
            try:
                return getattr(base, node.attr)
            except AttributeError:
                raise AdjointError(f"module {base.__name__!r} has no attribute {node.attr!r}",
                                   location=Location(self.filename, node.lineno, node.col_offset)) from None
        raise LookupError(type(node).__name__)

    def names_module(self, node) -> bool:
        """`node` is a global Name of a module (np in np.sum(x)), not a local or global array
        (X in X.T, X.sum())."""
        return isinstance(node, gast.Name) and node.id not in self.local_names \
            and isinstance(self.scope.get(node.id), types.ModuleType)

    def reader(self, node):
        """A function that reads what `node` (a global or closure Name, or module.attr) refers
        to now: the compiled code gets the current array at every call."""
        if isinstance(node, gast.Attribute):
            module, attribute = self.lookup(node.value), node.attr
            return lambda: getattr(module, attribute)
        if node.id in self.closure:
            cell = self.fn.__closure__[self.fn.__code__.co_freevars.index(node.id)]
            return lambda: cell.cell_contents
        scope, name = self.fn.__globals__, node.id
        return lambda: scope[name]

    def visit_Expr(self, node):
        call = node.value
        if isinstance(call, gast.Call) and isinstance(call.func, gast.Name) and len(call.args) == 2:
            try:
                op = runtime.update_of(self.lookup(call.func))
            except LookupError:
                op = None
            if op is not None:     # emitted code, differentiated again: `_add_into(s[k], g)` is s[k] += g
                target, value = call.args
                node = nodes.assign_to(nodes.store(target), value, node) if op == "=" else \
                    nodes.accumulate(target, value, node, op)
        elif isinstance(call, gast.Call) and isinstance(call.func, gast.Name) and len(call.args) == 3:
            try:
                op = runtime.update_of(self.lookup(call.func), masked=True)
            except LookupError:
                op = None
            if op is not None:     # `_add_at_mask(s, m, g)` is s[m] += g
                array, mask, value = call.args
                target = nodes.subscript(array, mask, store=True)
                node = nodes.assign_to(target, value, node) if op == "=" else \
                    nodes.accumulate(target, value, node, op)
        return self.generic_visit(node)

    def builtin_dtype(self, node):
        """`float` passed as a dtype (x.astype(float), np.array(v, dtype=float)) as numpy spells
        it, np.float64: numba takes only those, and the emitted module needs no name for it."""
        if isinstance(node, gast.Name) and node.id in _BUILTIN_DTYPES and node.id not in self.local_names \
                and self.scope.get(node.id) is getattr(builtins, node.id):
            return gast.copy_location(nodes.attribute(_BUILTIN_DTYPES[node.id]), node)
        return node

    def mapped(self, node):
        """`list(map(f, (a, b)))`, `tuple(map(...))`, `map(...)` over literal tuples or lists
        of one length: the calls written out, `[f(a), f(b)]` (a tuple for tuple and map); else
        None."""
        kind = gast.List
        try:
            outer = self.lookup(node.func)
        except LookupError:
            return None
        if outer in (list, tuple) and len(node.args) == 1 and not node.keywords \
                and isinstance(node.args[0], gast.Call):
            kind, node = (gast.List if outer is list else gast.Tuple), node.args[0]
            try:
                outer = self.lookup(node.func)
            except LookupError:
                return None
        elif outer is map:
            kind = gast.Tuple
        if outer is not map or len(node.args) < 2 or node.keywords:
            return None
        sequences = node.args[1:]
        if not all(isinstance(q, (gast.List, gast.Tuple)) and not any(isinstance(e, gast.Starred) for e in q.elts)
                   for q in sequences) or len({len(q.elts) for q in sequences}) != 1:
            return None
        calls = [gast.copy_location(nodes.make(gast.Call, func=nodes.clone(node.args[0]), args=list(elements),
                                               keywords=[]), node)
                 for elements in zip(*(q.elts for q in sequences))]
        return gast.copy_location(nodes.make(kind, elts=calls, ctx=nodes.make(gast.Load)), node)

    def visit_Call(self, node):
        mapped = self.mapped(node)
        if mapped is not None:
            return self.visit(mapped)
        if not (isinstance(node.func, gast.Name) and node.func.id in ("isinstance", "issubclass")):
            node.args = [self.builtin_dtype(a) for a in node.args]
            for k in node.keywords:
                k.value = self.builtin_dtype(k.value)
        node.args = [self.visit(a) for a in node.args]
        node.keywords = [self.visit(k) for k in node.keywords]
        if isinstance(node.func, gast.Attribute) and node.func.attr in METHODS \
                and not self.names_module(node.func.value):
            node.func.value = self.visit(node.func.value)      # (x * x).mean(), x.T.sum()
        method = _method_call(node, self.names_module)
        if method is not None:
            return _without_default_axis(method)
        try:
            callee = self.lookup(node.func)
        except LookupError:
            node.func = self.visit(node.func)
            return node
        callee = runtime.numpy_loop_of(callee) or runtime.whole_extremum_of(callee) \
            or runtime.matrix_product_of(callee) or _pad_of(callee, Location(self.filename, node.lineno, node.col_offset)) or callee   # emitted code, read again
        if runtime.reduction_of(callee) is not None and len(node.args) == 2:     # _var_axis_2(x, 1)
            callee, node.keywords = runtime.reduction_of(callee), [nodes.keyword("axis", node.args.pop())]
        callee = _python_function_of(callee)
        if callee in (np.size, np.ndim) and len(node.args) == 1 and not node.keywords:
            return gast.copy_location(nodes.attribute_of(node.args[0], callee.__name__), node)  # x.size
        if callee is builtins.sum and 1 <= len(node.args) <= 2 and not node.keywords \
                and isinstance(node.args[0], (gast.List, gast.Tuple)) \
                and not any(isinstance(e, gast.Starred) for e in node.args[0].elts):
            return _added(node.args[0].elts, node.args[1] if len(node.args) == 2 else None, node)
        table.record_of(callee)                  # files the records of scipy's, once it is imported
        if callee is np.array and len(node.args) == 1 and not node.keywords \
                and not isinstance(node.args[0], (gast.List, gast.Tuple, gast.ListComp, gast.GeneratorExp)):
            callee = np.copy                                  # np.array(x) of an array: a copy
        annotations.set(node, "callee", callee)
        spelled = spelling(callee)
        if spelled is None:
            spelled = self.global_name(callee, str(getattr(callee, "__name__", None) or "f"))
        func = nodes.attribute(spelled)
        node.func = gast.copy_location(func, node.func)
        return _without_default_axis(node)

    def visit_Name(self, node):
        if node.id in self.local_names and node.annotation is None:
            return node                  # a local: nothing to resolve, nothing under it
        return self._inline(node)

    def visit_Attribute(self, node):
        if isinstance(node.ctx, gast.Load) and node.attr == "T" and not self.names_module(node.value):
            call = nodes.call("np.transpose", [self.visit(node.value)])      # x.T
            annotations.set(call, "callee", np.transpose)
            return gast.copy_location(call, node)
        return self._inline(node)

    def _inline(self, node):
        if not isinstance(node.ctx, gast.Load):
            return self.generic_visit(node)
        try:
            value = self.lookup(node)
        except LookupError:
            return self.generic_visit(node)
        if isinstance(value, (bool, int, float, np.floating, np.integer)):
            if isinstance(node, gast.Attribute) and spelling_of_constant(node) is not None:
                return node                               # math.pi stays readable
            if not isinstance(node, gast.Attribute) or not _in_numpy_or_math(self.lookup(node.value)):
                label = spelling_of_path(node)
                self.constants.setdefault(label, ConstantSource(label, self.reader(node), value))
            return gast.copy_location(nodes.const(value.item() if isinstance(value, np.generic) else value), node)
        if isinstance(value, types.ModuleType):
            return node
        if isinstance(value, np.ndarray) and value.dtype.kind in "biuf" and value.ndim == 0:
            return gast.copy_location(nodes.const(value.item()), node)
        if is_data(value):
            label = spelling_of_path(node)
            name = self.global_name(value, node.id if isinstance(node, gast.Name) else node.attr)
            self.data.setdefault(name, DataSource(name, label, self.reader(node), data_type(value)))
            return gast.copy_location(nodes.name(name), node)
        if isinstance(node, gast.Attribute):
            spelled = spelling(value)
            if spelled is not None:                   # numpy.float64 -> np.float64
                return gast.copy_location(nodes.attribute(spelled), node)
            if _in_numpy_or_math(self.lookup(node.value)):
                return node                           # np.newaxis and the like stay as written
        base = node.id if isinstance(node, gast.Name) else node.attr       # W, or mylib.W
        return gast.copy_location(nodes.name(self.global_name(value, base)), node)


def _added(terms, start, origin):
    """`sum([a, b, c])` (of a literal) as `a + b + c`; `sum([a, b], s)` as `s + a + b`."""
    terms = ([start] if start is not None else []) + list(terms)
    if not terms:
        return gast.copy_location(nodes.const(0), origin)
    total = terms[0]
    for term in terms[1:]:
        total = gast.copy_location(nodes.binop(total, "+", term), origin)
    return total


def _python_function_of(callee):
    """A numba-compiled helper (`@numba.njit`, `@numba.jit`) as the Python function it
    compiles (its `py_func`), which normalize inlines; one with a rule of its own stays."""
    module = type(callee).__module__ or ""
    if not module.startswith("numba") or not isinstance(getattr(callee, "py_func", None), types.FunctionType):
        return callee
    from ..primitives import rules
    if rules.is_differentiable(callee) or rules.is_non_differentiable(callee):
        return callee
    return callee.py_func


@dataclasses.dataclass
class DataSource:
    """A numeric array the function reads from a module global or a closure cell. The compiled
    code takes it as a hidden parameter after the user's (numba would freeze a global array
    into the machine code), and each call passes what `read()` returns then."""
    name: str               # the hidden parameter's name in emitted code
    label: str              # as the user wrote it: `X`, `mylib.W`
    read: object            # () -> the object the name refers to now
    type: object            # shapes.Type of the array when the code was generated


@dataclasses.dataclass
class ConstantSource:
    """A number read from a module global or closure cell, inlined into the emitted code
    (it may bound a loop or decide a branch): a call checks it still has this value."""
    label: str              # as the user wrote it: `LAM`, `config.STEPS`
    read: object            # () -> the object the name refers to now
    value: object           # the value inlined

    def changed(self) -> bool:
        try:
            now = self.read()
        except (KeyError, AttributeError, ValueError):     # deleted, or an empty cell
            return True
        same = now == self.value or (now != now and self.value != self.value)   # NaN is NaN
        return not (same and type(now) is type(self.value))


def data_type(value):
    """The shapes.Type data read from a global or closure has in emitted code, or None where
    it is no such data: a numeric array; a list of numbers (or of such lists), or a tuple
    holding a float, as an array; a tuple of ints as a shape (np.zeros(SHAPE), SHAPE[0])."""
    from ..analysis.shapes import Type, describe
    if isinstance(value, np.ndarray):
        return describe(value) if value.dtype.kind in "biuf" and value.ndim > 0 else None
    if not isinstance(value, (list, tuple)) or not value:
        return None
    if isinstance(value, tuple) and all(type(v) is int for v in value):
        return Type("shape", len(value))
    try:
        array = np.asarray(value)
    except ValueError:                                  # ragged
        return None
    return describe(array) if array.dtype.kind in "biuf" else None


def is_data(value) -> bool:
    return data_type(value) is not None


def as_passed(value):
    """Data as the compiled code takes it: a list (or a tuple holding floats) as an array."""
    if isinstance(value, list) or isinstance(value, tuple) and not all(type(v) is int for v in value):
        return np.asarray(value)
    return value


def spelling_of_path(node) -> str:
    if isinstance(node, gast.Attribute):
        return f"{spelling_of_path(node.value)}.{node.attr}"
    return node.id if isinstance(node, gast.Name) else "?"


def _in_numpy_or_math(module) -> bool:
    return module.__name__.split(".")[0] in ("numpy", "math")


# x.sum(axis=0) -> np.sum(x, axis=0): array methods become the numpy functions they mirror
METHODS = {"sum": np.sum, "mean": np.mean, "prod": np.prod, "max": np.max, "min": np.min,
           "reshape": np.reshape, "transpose": np.transpose, "dot": np.dot, "copy": np.copy,
           "ravel": np.ravel, "flatten": np.ravel, "astype": np.asarray, "var": np.var, "std": np.std,
           "cumsum": np.cumsum, "cumprod": np.cumprod, "squeeze": np.squeeze, "take": np.take, "trace": np.trace,
           "clip": np.clip}


# x.astype(float): numpy's own spelling of the dtype (numba takes only those)
_BUILTIN_DTYPES = {"float": "np.float64", "int": "np.int64", "bool": "np.bool_"}


def _method_call(node, names_module):
    func = node.func
    if not (isinstance(func, gast.Attribute) and func.attr in METHODS):
        return None
    receiver = func.value
    if names_module(receiver):
        return None                                   # np.sum(...) and the like: a module
    args = list(node.args)
    if func.attr == "reshape" and len(args) > 1:                 # x.reshape(n, m)
        args = [nodes.tuple_of(args)]
    callee = METHODS[func.attr]
    keywords = node.keywords
    if func.attr == "astype" and len(args) == 1:                 # x.astype(T): np.asarray(x, dtype=T)
        args, keywords = [], [nodes.keyword("dtype", args[0])] + list(keywords)
    call = nodes.call(spelling(callee), [receiver] + args, keywords)
    annotations.set(call, "callee", callee)
    return gast.copy_location(call, node)


# reductions whose `axis=None` is numpy's default, the whole array (np.concatenate's is not)
WHOLE_BY_DEFAULT = (np.sum, np.mean, np.prod, np.max, np.min, np.amax, np.amin)


def _without_default_axis(call):
    """np.sum(x, axis=None) as np.sum(x): the later stages read any `axis` as one axis."""
    if annotations.get(call, "callee") in WHOLE_BY_DEFAULT:
        call.keywords = [k for k in call.keywords if not (
            k.arg == "axis" and isinstance(k.value, gast.Constant) and k.value.value is None)]
    return call


def spelling_of_constant(node) -> str | None:
    if isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name) \
            and node.value.id in CANONICAL_MODULES and node.attr in ("pi", "e", "tau", "inf"):
        return f"{node.value.id}.{node.attr}"
    return None
