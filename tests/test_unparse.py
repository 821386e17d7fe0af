"""adjoint/unparse.py prints exactly what astor printed (emit's text and line map depend on it).

Each check prints the same gast with unparse and with emit's astor path (`_astor_source`, the
fallback for what unparse does not know): tricky precedence, every kind of constant emit can
meet, lines long enough for astor's wrapper, a sum too deep to recurse over, and every module
the corpus and some fuzz programs make, emitted whole with and without unparse.
"""

from __future__ import annotations

import inspect
import random
import sys
import tempfile
import time

import gast
import pytest

from adjoint import pipeline
from adjoint.lower import emit, unparse
from adjoint.pipeline import differentiate
from tests import array_corpus, control_flow_corpus, corpus, fuzzing, higher_corpus


def astor_statement(stmt) -> str:
    return emit._astor_source(stmt)


def astor_expression(node) -> str:
    assign = gast.Assign(targets=[gast.Name(id="_", ctx=gast.Store(), annotation=None, type_comment=None)],
                         value=node, type_comment=None)
    return astor_statement(assign)[len("_ = "):]


def statements(source: str) -> list:
    return gast.parse(source).body


def assert_same_statement(stmt):
    assert unparse.Unparser().statement(stmt) == astor_statement(stmt), gast.dump(stmt)


PRECEDENCE = [
    "y = -x ** 2", "y = (-x) ** 2", "y = (-2.0) ** x", "y = 2.0 ** -x", "y = x ** y ** z",
    "y = (x ** y) ** z", "y = a ** -b ** c", "y = -(-x)", "y = +x", "y = ~x", "y = -x.y", "y = (-x).y",
    "y = -f(x)", "y = a - (b - c)", "y = (a - b) - c", "y = a - b + c", "y = a / (b * c)",
    "y = a * (b / c)", "y = a // b % c", "y = a @ b", "y = (a + b) * (c - d)", "y = a | b & c ^ d",
    "y = a << b >> c",
    "y = not a and b or c", "y = not (a and b)", "y = (a or b) and c", "y = a or b and c",
    "y = not a == b", "y = (not a) == b", "y = a and (b or c) and d",
    "y = a < b <= c != d", "y = (a < b) == c", "y = a in b", "y = a not in b", "y = a is not None",
    "y = a is b", "y = a > b >= -c",
    "y = a if b else c", "y = (a if b else c) + 1", "y = a if b else c if d else e",
    "y = (a if b else c) if d else e", "y = a if (b if c else d) else e", "y = -(a if b else c)",
]
SUBSCRIPTS_CALLS_AND_TUPLES = [
    "y = x[1:2, ::3]", "y = x[:, 0]", "y = x[::-1]", "y = x[a:b:c]", "y = x[i + 1]", "y = x[(1, 2)]",
    "y = x[()]", "y = x[..., None]", "y = x[:]", "y = x[::None]", "y = x[a:]", "y = x[:b]",
    "y = x[i][j]", "y = (a + b)[0]", "y = (a + b).T", "y = f(a)(b)", "y = (1).real", "y = x.shape[0] - 1",
    "y = f(a, *b, k=1, **d)", "y = f(*args)", "y = f(a=1)", "y = f(a + b)", "y = f((a, b))",
    "y = f(a, (b, c))", "y = np.zeros((n,), dtype=np.float64)", "y = (a,)", "y = a, b", "y = ()",
    "y = [a, (b, c)]", "y = []", "y = [a]", "a, b = b, a", "(a, b), c = d", "x = y = z",
]
STATEMENTS = [
    "x[i] += 1.0", "x[i, j] -= y * z", "y **= 2", "y //= a + b", "f(x)", "return", "return a, b",
    "return -1", "return (a, b)", "pass", "break", "continue", "y = 'abc'", "y = f('a\\'b', \"x\")",
    "y = True", "y = None", "y = 10 ** 400", "y = ...", "f('a long string that is still one line')",
]


@pytest.mark.parametrize("source", PRECEDENCE + SUBSCRIPTS_CALLS_AND_TUPLES + STATEMENTS)
def test_statement_as_astor_prints_it(source):
    for stmt in statements(source):
        assert_same_statement(stmt)


@pytest.mark.parametrize("source", PRECEDENCE + SUBSCRIPTS_CALLS_AND_TUPLES)
def test_expression_as_emit_printed_headers(source):
    value = statements(source)[0].value
    assert unparse.Unparser().expression(value) == astor_expression(value)


class _WithConstant(gast.NodeTransformer):
    def __init__(self, value):
        self.value = value

    def visit_Name(self, node):
        return gast.Constant(value=self.value, kind=None) if node.id == "c" else node


CONSTANTS = [-2.0, -1, 0, 1e-300, -1e-300, 1e300, 2.5e-07, 0.1, -0.0, float("inf"), -float("inf"),
             float("nan"), True, False, 10 ** 30, -(10 ** 30), None]
CONTEXTS = ["y = c", "y = c ** x", "y = x ** c", "y = c.real", "y = -c", "y = c - x", "y = x - c",
            "f(c)", "f(c, c)", "x[c]", "x[c:c:c]", "y = c * c", "y = (c, x)", "y = c if c else c",
            "x[i] += c", "return c"]


@pytest.mark.parametrize("value", CONSTANTS, ids=repr)
def test_constants_in_every_context(value):
    for context in CONTEXTS:
        assert_same_statement(_WithConstant(value).visit(statements(context)[0]))


def long_sum(terms, template="a{k} * b{k}"):
    return " + ".join(template.format(k=k) for k in range(terms))


LONG_LINES = [
    "y = " + long_sum(30),
    "s_x[i] += " + long_sum(25, "t_{k} * s_u{k}"),
    "return " + long_sum(20, "math.sin(a{k})"),
    "y = f(" + ", ".join(f"argument_{k}" for k in range(30)) + ")",
    "y = np.zeros((" + ", ".join(f"dimension_{k}" for k in range(20)) + "), dtype=np.float64)",
    ", ".join(f"a{k}" for k in range(40)) + " = f(x)",
    "x_0 = x_1 = " + long_sum(25),
    "y = x[" + long_sum(15) + ":" + long_sum(5) + ", 0]",
    "y = (" + long_sum(15) + ") ** (" + long_sum(15) + ")",
    "y = " + " and ".join(f"a{k} < b{k}" for k in range(20)),
    "y = f('" + "a string of many words " * 6 + "')",
    "s_some_very_long_sensitivity_name_of_a_variable[index_one, index_two, index_three] += t",
]


@pytest.mark.parametrize("source", LONG_LINES)
def test_long_lines_wrapped_as_astor_wraps_them(source):
    stmt = statements(source)[0]
    assert len(astor_statement(stmt).splitlines()) > 1          # the wrapper did run
    assert_same_statement(stmt)


def name(identifier, ctx=gast.Load):
    return gast.Name(id=identifier, ctx=ctx(), annotation=None, type_comment=None)


def random_expression(rng, depth):
    """A random expression of every kind unparse prints, `depth` levels at most."""
    if depth == 0 or rng.random() < 0.2:
        if rng.random() < 0.5:
            return name(rng.choice(["a", "b", "x_1", "s_some_long_variable_name", "np"]))
        return gast.Constant(value=rng.choice(CONSTANTS + [0.5, 3, -7]), kind=None)
    sub = lambda: random_expression(rng, depth - 1)           # noqa: E731
    kind = rng.randrange(10)
    if kind == 0:
        return gast.BinOp(left=sub(), op=rng.choice(BINARY)(), right=sub())
    if kind == 1:
        return gast.UnaryOp(op=rng.choice([gast.USub, gast.UAdd, gast.Not, gast.Invert])(), operand=sub())
    if kind == 2:
        return gast.BoolOp(op=rng.choice([gast.And, gast.Or])(), values=[sub() for _ in range(rng.randint(2, 3))])
    if kind == 3:
        count = rng.randint(1, 3)
        return gast.Compare(left=sub(), ops=[rng.choice(COMPARISONS)() for _ in range(count)],
                            comparators=[sub() for _ in range(count)])
    if kind == 4:
        return gast.IfExp(test=sub(), body=sub(), orelse=sub())
    if kind == 5:
        args = [sub() for _ in range(rng.randint(0, 3))]
        if rng.random() < 0.2:
            args.append(gast.Starred(value=sub(), ctx=gast.Load()))
        keywords = [gast.keyword(arg=rng.choice(["axis", "dtype", None]), value=sub())
                    for _ in range(rng.randint(0, 2))]
        return gast.Call(func=rng.choice([name("f"), gast.Attribute(value=sub(), attr="sum", ctx=gast.Load())]),
                         args=args, keywords=keywords)
    if kind == 6:
        return gast.Attribute(value=sub(), attr="T", ctx=gast.Load())
    if kind == 7:
        index = rng.choice([sub, lambda: gast.Slice(lower=rng.choice([None, sub()]), upper=rng.choice([None, sub()]),
                                                    step=rng.choice([None, sub(), name("None")]))])
        parts = [index() for _ in range(rng.randint(1, 3))]
        slice_ = parts[0] if len(parts) == 1 and rng.random() < 0.7 else gast.Tuple(elts=parts, ctx=gast.Load())
        return gast.Subscript(value=sub(), slice=slice_, ctx=gast.Load())
    return (gast.Tuple if kind == 8 else gast.List)(elts=[sub() for _ in range(rng.randint(0, 3))], ctx=gast.Load())


BINARY = [gast.Add, gast.Sub, gast.Mult, gast.Div, gast.FloorDiv, gast.Mod, gast.Pow, gast.MatMult,
          gast.BitOr, gast.BitAnd, gast.BitXor, gast.LShift, gast.RShift]
COMPARISONS = [gast.Eq, gast.NotEq, gast.Lt, gast.LtE, gast.Gt, gast.GtE, gast.In, gast.NotIn, gast.Is, gast.IsNot]


def random_statement(rng):
    value = random_expression(rng, rng.randint(1, 6))
    kind = rng.randrange(4)
    if kind == 0:
        targets = [rng.choice([name("y", gast.Store), gast.Tuple(elts=[name("p", gast.Store), name("q", gast.Store)],
                                                                 ctx=gast.Store())])]
        return gast.Assign(targets=targets, value=value, type_comment=None)
    if kind == 1:
        target = gast.Subscript(value=name("s_x"), slice=random_expression(rng, 2), ctx=gast.Store())
        return gast.AugAssign(target=target, op=rng.choice(BINARY)(), value=value)
    return gast.Expr(value=value) if kind == 2 else gast.Return(value=value)


def printed(printer, stmt):
    """What `printer` makes of `stmt`, or the kind of error it raises (astor's line wrapper
    fails on some long lines, whoever calls it)."""
    try:
        return printer(stmt)
    except Exception as error:               # noqa: BLE001
        return type(error).__name__


@pytest.mark.parametrize("seed", range(4))
def test_random_statements_as_astor_prints_them(seed):
    rng = random.Random(seed)
    for _ in range(500):
        stmt = random_statement(rng)
        assert printed(unparse.Unparser().statement, stmt) == printed(astor_statement, stmt), gast.dump(stmt)
        if not isinstance(stmt, gast.Return):
            assert printed(unparse.Unparser().expression, stmt.value) == printed(astor_expression, stmt.value)


def test_a_sum_deeper_than_the_recursion_limit():
    """A left-deep 5,000-term BinOp tree prints under Python's default recursion limit;
    astor needs the limit raised (the pipeline's deep_recursion)."""
    total = gast.Name(id="a0", ctx=gast.Load(), annotation=None, type_comment=None)
    for k in range(1, 5000):             # built here: parsing it would need the limit raised
        term = gast.Name(id=f"a{k}", ctx=gast.Load(), annotation=None, type_comment=None)
        total = gast.BinOp(left=total, op=gast.Add(), right=term)
    stmt = gast.Assign(targets=[gast.Name(id="y", ctx=gast.Store(), annotation=None, type_comment=None)],
                       value=total, type_comment=None)
    assert sys.getrecursionlimit() < 5000
    printed = unparse.Unparser().statement(stmt)
    with pipeline.deep_recursion(limit=60_000):
        assert printed == astor_statement(stmt)


@pytest.mark.parametrize("source", ["y = lambda: 1", "with a:\n    pass", "def g():\n    pass",
                                    "'''a docstring'''", "y = 'two\\nlines'", "y = {a: b}", "y = 1j",
                                    "raise ValueError"])
def test_unknown_nodes_are_left_to_astor(source):
    with pytest.raises(unparse.Unsupported):
        unparse.Unparser().statement(statements(source)[0])


def test_numba_names_noticed():
    for source, uses in [("y = numba.prange(n)", True), ("y = f(numba)", False),
                         ("y = numba.objmode.x", True), ("y = x.numba", False)]:
        unparser = unparse.Unparser()
        unparser.statement(statements(source)[0])
        assert unparser.uses_numba == uses, source


def test_faster_than_astor():
    """The reason it exists: on a reverse sweep's kind of statements, several times astor's
    CPU time (about ten times on an idle machine)."""
    forms = ["s_t += t_{k} * s_u * 0.5", "s_u = s_u + math.exp(-t_{k} * t_{k}) * (-0.01) * s_t",
             "t_{k} = t * 0.5 + math.sin(u) * 0.1", "s_x[i, j + 1] += np.sum(t_{k}[:, 0] ** 2.0)"]
    body = statements("\n".join(forms[k % len(forms)].format(k=k) for k in range(2000)))

    def cpu(printer):
        start = time.process_time()
        for stmt in body:
            printer(stmt)
        return time.process_time() - start

    assert cpu(unparse.Unparser().statement) * 4 < cpu(astor_statement)


# whole modules: every program of the corpus and some fuzz programs, emitted with and without
# unparse (forced onto the astor path), must be the same text with the same line map.

CORPUS_OPTIONS = [{}, {"device": True}, {"parallel": True, "comments": False}, {"mode": "forward"}]
FUZZ_PROGRAMS = 40


def corpus_functions():
    for module in (corpus, array_corpus, control_flow_corpus, higher_corpus):
        for name, fn in inspect.getmembers(module, inspect.isfunction):
            if fn.__module__ == module.__name__ and inspect.signature(fn).parameters:
                yield fn


def fuzz_functions(folder):
    for index in range(FUZZ_PROGRAMS):
        loaded = fuzzing._Loaded(fuzzing.case(777, index).source, folder, f"unparse_fuzz_{index}")
        yield loaded.module.f
        loaded.close()


def emitted_inputs(monkeypatch, functions, options):
    """The arguments of every emit() call differentiate makes for `functions`."""
    calls = []
    real_emit = emit.emit

    def recording(*args, **kwargs):
        calls.append((args, kwargs))
        return real_emit(*args, **kwargs)
    monkeypatch.setattr(emit, "emit", recording)
    for fn in functions:
        for option in options:
            try:
                differentiate(fn, **option)
            except Exception:                   # a case the corpus expects to be rejected
                continue
    monkeypatch.setattr(emit, "emit", real_emit)
    return calls


def astor_only(*args):
    raise unparse.Unsupported("astor's turn")


def assert_modules_as_astor_printed(monkeypatch, calls):
    with pipeline.deep_recursion():
        printed = [emit.emit(*args, **kwargs) for args, kwargs in calls]
        monkeypatch.setattr(unparse.Unparser, "statement", astor_only)
        monkeypatch.setattr(unparse.Unparser, "expression", astor_only)
        by_astor = [emit.emit(*args, **kwargs) for args, kwargs in calls]
    for ours, theirs in zip(printed, by_astor):
        assert ours.source == theirs.source
        assert ours.origins == theirs.origins
    return [module.source for module in printed]


def test_corpus_modules_as_astor_printed(monkeypatch):
    calls = emitted_inputs(monkeypatch, list(corpus_functions()), CORPUS_OPTIONS)
    assert len(calls) > 300
    sources = assert_modules_as_astor_printed(monkeypatch, calls)
    assert any("import numba" in source for source in sources)
    assert not all("import numba" in source for source in sources)


@pytest.mark.filterwarnings("ignore")
def test_fuzz_modules_as_astor_printed(monkeypatch):
    with tempfile.TemporaryDirectory() as folder:
        calls = emitted_inputs(monkeypatch, fuzz_functions(folder), [{}, {"device": True}])
    assert len(calls) > FUZZ_PROGRAMS
    assert_modules_as_astor_printed(monkeypatch, calls)
