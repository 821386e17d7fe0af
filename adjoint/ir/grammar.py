"""The normalized form's grammar (the normalize stage's output), checked: `violations(fn)` lists
every statement of a normalized function that does not obey it. The tests run it on every
function they normalize (tests/test_grammar.py); `ADJOINT_CHECK_GRAMMAR=1` makes the pipeline
run it on each function and fail on a violation, for debugging a new construct in normalize.
The stages after normalize read the form through the predicates defined here (`primitive_of`,
`is_linear_chain`, `linear_terms`, `is_accumulation`, `is_atom`).

    atom  := Name | number | bool | math.pi-style constant
    index := atom | slice of atoms | (index, ...)
    stmt  := v = rhs | x[index] = atom | v1, v2, ... = atom
           | if atom: stmt* else: stmt* | for v in range(atom, ...): stmt* | while True: stmt*
           | break | continue | pass | # comment
           | return atom                    exactly one, the last statement of the function
    rhs   := atom | atom op atom | linear | unaryop atom
           | f(arg, ..., keyword=atom) with arg := atom | (atom, ...) | [atom, ...] | arg + arg (a shape)
           | atom cmp atom | x[index] | x.attribute
    linear := atom | linear (+|-) linear    kept whole, parenthesized as written (the seed's t_s)
"""

from __future__ import annotations

import operator

import gast

from . import annotations
from .nodes import is_comment

# The primitive each operator applies: rules are registered per Python callable.
BINARY = {gast.Add: operator.add, gast.Sub: operator.sub, gast.Mult: operator.mul,
          gast.Div: operator.truediv, gast.Pow: operator.pow, gast.Mod: operator.mod,
          gast.FloorDiv: operator.floordiv, gast.MatMult: operator.matmul}
UNARY = {gast.USub: operator.neg, gast.UAdd: operator.pos, gast.Not: operator.not_}
COMPARE = {gast.Lt: operator.lt, gast.LtE: operator.le, gast.Gt: operator.gt,
           gast.GtE: operator.ge, gast.Eq: operator.eq, gast.NotEq: operator.ne}
LINEAR = (gast.Add, gast.Sub)


def primitive_of(rhs):
    """The Python callable a normalized right-hand side applies (None for copies and reads)."""
    if isinstance(rhs, gast.BinOp):
        return BINARY[type(rhs.op)]
    if isinstance(rhs, gast.UnaryOp):
        return UNARY[type(rhs.op)]
    if isinstance(rhs, gast.Compare):
        return COMPARE[type(rhs.ops[0])]
    if isinstance(rhs, gast.Call):
        return annotations.get(rhs, "callee")
    return None


def is_linear_chain(rhs) -> bool:
    """`a + b - c ...` over atoms: its partials are constants (+1 or -1)."""
    return isinstance(rhs, gast.BinOp) and isinstance(rhs.op, LINEAR)


def linear_terms(rhs, sign=1.0):
    """[(sign, atom), ...] of a linear chain, left to right (iterative: a sum of 1,000 terms
    is a tree 1,000 deep)."""
    terms, todo = [], [(rhs, sign)]
    while todo:
        node, node_sign = todo.pop()
        if is_linear_chain(node):
            todo.append((node.right, node_sign if isinstance(node.op, gast.Add) else -node_sign))
            todo.append((node.left, node_sign))
        else:
            terms.append((node_sign, node))
    return terms


def is_accumulation(target: str, rhs) -> bool:
    """`s = s + a - b`: the target is the single +1 term of a linear chain."""
    if not is_linear_chain(rhs):
        return False
    own = [sign for sign, atom in linear_terms(rhs) if isinstance(atom, gast.Name) and atom.id == target]
    return own == [1.0]


def is_atom(node) -> bool:
    if isinstance(node, (gast.Name, gast.Constant)):
        return True
    return isinstance(node, gast.Attribute) and isinstance(node.value, gast.Name) \
        and node.value.id in ("math", "np") and not annotations.has(node, "callee")




def violations(fn: gast.FunctionDef) -> list:
    """(line, what is wrong) for each statement of the normalized `fn` outside the grammar."""
    found = []
    _block(fn.body, found, top=True)
    last = fn.body[-1] if fn.body else None
    if not isinstance(last, gast.Return):
        found.append((getattr(fn, "lineno", 0), "the function does not end in its one return"))
    return found


def _block(body, found, top=False):
    for k, stmt in enumerate(body):
        problem = _statement(stmt, found, last=top and k == len(body) - 1)
        if problem:
            found.append((getattr(stmt, "lineno", 0), f"{problem}: {gast.dump(stmt)[:200]}"))


def _statement(stmt, found, last):
    if isinstance(stmt, (gast.Break, gast.Continue, gast.Pass)) or is_comment(stmt):
        return None
    if isinstance(stmt, gast.Return):
        return None if last and stmt.value is not None and is_atom(stmt.value) else "a return that is not the last statement or returns no atom"
    if isinstance(stmt, gast.If):
        _block(stmt.body, found)
        _block(stmt.orelse, found)
        return None if is_atom(stmt.test) else "a condition that is no atom"
    if isinstance(stmt, gast.For):
        _block(stmt.body, found)
        call = stmt.iter
        ranged = (isinstance(call, gast.Call) and isinstance(call.func, gast.Name)
                  and call.func.id == "range" and all(is_atom(a) for a in call.args))
        return None if ranged and isinstance(stmt.target, gast.Name) and not stmt.orelse else "a loop not over range(atoms)"
    if isinstance(stmt, gast.While):
        _block(stmt.body, found)
        constant_true = isinstance(stmt.test, gast.Constant) and stmt.test.value is True
        return None if constant_true and not stmt.orelse else "a while loop that is not `while True`"
    if isinstance(stmt, gast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if isinstance(target, gast.Name):
            return None if _is_rhs(stmt.value) else "a right-hand side outside the grammar"
        if isinstance(target, gast.Subscript):
            ok = isinstance(target.value, gast.Name) and _is_index(target.slice) and is_atom(stmt.value)
            return None if ok else "an element write that is not x[index] = atom"
        if isinstance(target, gast.Tuple):
            ok = all(isinstance(e, gast.Name) for e in target.elts) and is_atom(stmt.value)
            return None if ok else "an unpacking that is not v1, v2 = atom"
    return "a statement outside the grammar"


def _is_index(index):
    if isinstance(index, gast.Tuple):
        return all(_is_index(e) for e in index.elts)
    if isinstance(index, gast.Slice):
        return all(part is None or is_atom(part) for part in (index.lower, index.upper, index.step))
    return is_atom(index)


def _is_rhs(value):
    if is_atom(value):
        return True
    if isinstance(value, gast.BinOp):
        if isinstance(value.op, LINEAR):
            return _is_linear(value.left) and _is_linear(value.right)
        return is_atom(value.left) and is_atom(value.right)
    if isinstance(value, gast.UnaryOp):
        return is_atom(value.operand)
    if isinstance(value, gast.Compare):
        return len(value.ops) == 1 and is_atom(value.left) and is_atom(value.comparators[0])
    if isinstance(value, gast.Subscript):
        return isinstance(value.value, gast.Name) and _is_index(value.slice)
    if isinstance(value, gast.Attribute):
        return isinstance(value.value, gast.Name)
    if isinstance(value, gast.Call):
        return (annotations.has(value, "callee") or isinstance(value.func, (gast.Name, gast.Attribute))) \
            and all(_is_argument(a) for a in value.args) \
            and all(is_atom(k.value) for k in value.keywords)
    return False


def _is_linear(node):
    """atom, or a sum/difference of linear terms, parenthesized as the user wrote them."""
    if isinstance(node, gast.BinOp) and isinstance(node.op, LINEAR):
        return _is_linear(node.left) and _is_linear(node.right)
    return is_atom(node)


def _is_argument(arg):
    if isinstance(arg, gast.BinOp) and isinstance(arg.op, gast.Add):     # a shape: (n,) + t
        return _is_argument(arg.left) and _is_argument(arg.right)
    if isinstance(arg, (gast.Tuple, gast.List)):
        return all(is_atom(e) for e in arg.elts)
    return is_atom(arg)
