"""The normalized form's grammar (normalize.py's docstring), checked: `violations(fn)` lists
every statement of a normalized function that does not obey it. The tests run it on every
function they normalize (tests/test_grammar.py); `ADJOINT_CHECK_GRAMMAR=1` makes the pipeline
run it on each function and fail on a violation, for debugging a new construct in normalize.

    atom  := Name | number | bool | math.pi-style constant
    index := atom | slice of atoms | (index, ...)
    stmt  := v = rhs | x[index] = atom | v1, v2, ... = atom
           | if atom: stmt* else: stmt* | for v in range(atom, ...): stmt* | while True: stmt*
           | break | continue | pass | # comment
           | return atom                    exactly one, the last statement of the function
    rhs   := atom | atom op atom | linear | unaryop atom
           | f(arg, ..., keyword=atom) with arg := atom | (atom, ...) | [atom, ...]
           | atom cmp atom | x[index] | x.attribute
    linear := atom | linear (+|-) linear    kept whole, parenthesized as written (the seed's t_s)
"""

from __future__ import annotations

import gast

from .nodes import is_comment
from .normalize import is_atom

_LINEAR = (gast.Add, gast.Sub)


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
        if isinstance(value.op, _LINEAR):
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
        return (hasattr(value, "callee") or isinstance(value.func, (gast.Name, gast.Attribute))) \
            and all(_is_argument(a) for a in value.args) \
            and all(is_atom(k.value) for k in value.keywords)
    return False


def _is_linear(node):
    """atom, or a sum/difference of linear terms, parenthesized as the user wrote them."""
    if isinstance(node, gast.BinOp) and isinstance(node.op, _LINEAR):
        return _is_linear(node.left) and _is_linear(node.right)
    return is_atom(node)


def _is_argument(arg):
    if isinstance(arg, (gast.Tuple, gast.List)):
        return all(is_atom(e) for e in arg.elts)
    return is_atom(arg)
