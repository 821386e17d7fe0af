"""gast statement -> source text, exactly as astor 0.8 prints it, about ten times faster.

emit used to print each simple statement with astor.to_source(gast.gast_to_ast(stmt)): every
node converted to `ast`, visited through getattr dispatch, a context manager per parenthesis,
which was most of emit's time on a 2,000-line function. This printer reads the gast nodes
directly and appends the very tokens astor appends, in the same order:

    x = -(a - b) ** 2   ->   "", "", "x", " = ", "", "-", "", "(", "a", " - ", "b", ")", " ** ", "", "2"

Parentheses follow astor's rule: a node is bracketed unless its precedence (astor's table) is
at least the one its parent asks of it; a dropped "(" stays behind as an empty token. The
token boundaries matter only for a line over 79 characters, which goes through astor's own
line wrapper (`split_lines`), so wrapped lines come out the same too.

A node or form this printer does not know raises `Unsupported`; the caller then prints that
statement with astor. Expressions recurse, two frames a level where astor takes three or more,
except down a chain of left operands, walked in a loop: a 1,000-term sum, a tree 1,000 deep on
its left, prints as flat as a short one.
"""

from __future__ import annotations

import math

import gast
from astor.op_util import Precedence, op_data
from astor.source_repr import split_lines

from ..ir import nodes


class Unsupported(Exception):
    """A node (or a form of one) this printer does not reproduce; print it with astor."""


MAX_LINE = 79                    # astor wraps a longer line

# (precedence, token) per operator class, from astor's own table.
_BINARY = {getattr(gast, name): (precedence, f" {symbol} ") for name, symbol, precedence in op_data if symbol}
_UNARY = {getattr(gast, name): (precedence, symbol) for name, symbol, precedence in op_data
          if name in ("Not", "Invert", "UAdd", "USub")}
_AUGMENTED = {op: f" {token.strip()}= " for op, (_, token) in _BINARY.items() if issubclass(op, gast.operator)}
_USUB = _UNARY[gast.USub]
_NAME = gast.Name


class Unparser:
    """Prints statements and expressions; `uses_numba` turns true once it has printed a name
    under `numba.` (emit then imports numba)."""

    def __init__(self):
        self.uses_numba = False
        self.names = set()           # every name printed (emit renumbers the temporaries among them)

    def statement(self, stmt) -> str:
        """astor.to_source(gast_to_ast(stmt)) without its final line break."""
        handler = _STATEMENTS.get(type(stmt))
        if handler is None:
            raise Unsupported(type(stmt).__name__)
        out = ["", ""]           # astor's first line break (which to_source blanks) and indentation
        handler(self, stmt, out)
        return _text(out)

    def expression(self, node) -> str:
        """`node` printed as the value of `_ = node`, then `_ = ` cut off (how emit has always
        printed a loop's or branch's header, so the parentheses are an assignment's)."""
        out = ["", "", "_", " = "]
        self.tokens(node, Precedence.Assign, out)
        return _text(out)[len("_ = "):]

    def tokens(self, node, context: int, out: list):
        """Append the tokens of expression `node` to `out`; `context` is the precedence its
        parent asks of it."""
        kind = type(node)
        if kind is _NAME and node.annotation is None:      # a third of the tokens: _name inline
            identifier = node.id
            if identifier.startswith("numba."):
                self.uses_numba = True
            self.names.add(identifier)
            out.append(identifier)
            return
        handler = _EXPRESSIONS.get(kind)
        if handler is None:
            raise Unsupported(kind.__name__)
        handler(self, node, context, out)

    # Statements: each appends its tokens to `out`.

    def _assign(self, stmt, out):
        for target in stmt.targets:
            self.tokens(target, Precedence.Assign, out)
            out.append(" = ")
        self.tokens(stmt.value, Precedence.Assign, out)

    def _aug_assign(self, stmt, out):
        self.tokens(stmt.target, Precedence.AugAssign, out)
        out.append(_AUGMENTED[type(stmt.op)])
        self.tokens(stmt.value, Precedence.AugAssign, out)

    def _expr(self, stmt, out):
        self.tokens(stmt.value, Precedence.Expr, out)

    def _return(self, stmt, out):
        out.append("return")
        if stmt.value is not None:
            out.append(" ")
            self.tokens(stmt.value, Precedence.Return, out)

    # Expressions: each appends its tokens to `out`.

    def _name(self, node, context, out):
        if node.annotation is not None:
            raise Unsupported("annotated Name")
        if node.id.startswith("numba."):
            self.uses_numba = True
        self.names.add(node.id)
        out.append(node.id)

    def _attribute(self, node, context, out):
        value = node.value
        if type(value) is gast.Name and value.id == "numba":
            self.uses_numba = True
        self.tokens(value, Precedence.highest, out)
        out += (".", node.attr)

    def _call(self, node, context, out):
        args, keywords = node.args, node.keywords
        arg_context = Precedence.Comma if len(args) + len(keywords) > 1 else Precedence.call_one_arg
        self.tokens(node.func, Precedence.highest, out)
        out.append("(")
        for index, arg in enumerate(args):
            if index:
                out.append(", ")
            self.tokens(arg, arg_context, out)
        for index, keyword in enumerate(keywords, len(args)):
            if index:
                out.append(", ")
            out += (keyword.arg, "=") if keyword.arg else ("**",)
            self.tokens(keyword.value, Precedence.Comma, out)
        out.append(")")

    def _starred(self, node, context, out):
        out.append("*")
        self.tokens(node.value, Precedence.highest, out)

    def _subscript(self, node, context, out):
        self.tokens(node.value, Precedence.highest, out)
        out.append("[")
        self.tokens(node.slice, Precedence.Subscript, out)
        out.append("]")

    def _slice(self, node, context, out):
        if node.lower is not None:
            self.tokens(node.lower, Precedence.Slice, out)
        out.append(":")
        if node.upper is not None:
            self.tokens(node.upper, Precedence.Slice, out)
        if node.step is not None:
            out.append(":")
            if not (type(node.step) is gast.Name and node.step.id == "None"):
                self.tokens(node.step, Precedence.Slice, out)

    def _tuple(self, node, context, out):
        elements = node.elts
        bare = _open(Precedence.Tuple >= context and elements, out)
        self._comma_list(elements, out)
        if len(elements) == 1:
            out.append(",")
        _close(bare, out)

    def _list(self, node, context, out):
        out.append("[")
        self._comma_list(node.elts, out)
        out.append("]")

    def _comma_list(self, elements, out):
        for index, element in enumerate(elements):
            if index:
                out.append(", ")
            self.tokens(element, Precedence.Comma, out)

    def _binop(self, node, context, out):
        """Down the chain of left operands in a loop, not by recursion: a 1,000-term sum is
        a tree 1,000 deep on its left side."""
        chain = []                               # (token, right operand, its context, bare)
        while type(node) is gast.BinOp:
            precedence, token = _BINARY[type(node.op)]
            if type(node.op) is gast.Pow:
                left_context, right_context = Precedence.Pow + 1, Precedence.PowRHS
            else:
                left_context, right_context = precedence, precedence + 1
            chain.append((token, node.right, right_context, _open(precedence >= context, out)))
            node, context = node.left, left_context
        self.tokens(node, context, out)
        for token, right, right_context, bare in reversed(chain):
            out.append(token)
            self.tokens(right, right_context, out)
            _close(bare, out)

    def _unaryop(self, node, context, out):
        self._unary(_UNARY[type(node.op)], node.operand, context, out)

    def _unary(self, operator, operand, context, out):
        precedence, symbol = operator
        bare = _open(precedence >= context, out)
        out.append(symbol)
        if symbol.isalpha():
            out.append(" ")
        self.tokens(operand, precedence, out)
        _close(bare, out)

    def _boolop(self, node, context, out):
        precedence, token = _BINARY[type(node.op)]
        bare = _open(precedence >= context, out)
        for index, value in enumerate(node.values):
            if index:
                out.append(token)
            self.tokens(value, precedence + 1, out)
        _close(bare, out)

    def _compare(self, node, context, out):
        precedence = _BINARY[type(node.ops[0])][0]
        bare = _open(precedence >= context, out)
        self.tokens(node.left, precedence + 1, out)
        for op, right in zip(node.ops, node.comparators):
            out.append(_BINARY[type(op)][1])
            self.tokens(right, precedence + 1, out)
        _close(bare, out)

    def _ifexp(self, node, context, out):
        precedence = Precedence.IfExp
        bare = _open(precedence >= context, out)
        self.tokens(node.body, precedence + 1, out)
        out.append(" if ")
        self.tokens(node.test, precedence + 1, out)
        out.append(" else ")
        self.tokens(node.orelse, precedence, out)
        _close(bare, out)

    def _constant(self, node, context, out):
        value = node.value
        if type(value) in (int, float) and value < 0:
            # emit hands astor -(0.5) for -0.5, so that (-0.5) ** 2 keeps its parentheses
            self._unary(_USUB, nodes.const(-value), context, out)
        elif isinstance(value, (int, float)):    # bool too, as astor does
            bare = _open(Precedence.Constant >= context, out)
            out.append(_number(value))
            _close(bare, out)
        elif isinstance(value, str):
            out.append(_string(node, out))
        elif value is None:
            out.append("None")
        elif value is Ellipsis:
            out.append("...")
        else:                                    # complex, bytes, numpy scalars: astor's turn
            raise Unsupported(f"Constant {type(value).__name__}")


def _text(out) -> str:
    """The printed line, or astor's wrapping of it when it is too long."""
    text = "".join(out)
    if len(text) <= MAX_LINE:
        return text
    return "".join(split_lines(out + ["\n"])).rstrip("\n")


def _open(bare, out):
    """astor's Delimit: "(", or where the node binds at least as tightly as its context asks,
    an empty token in its place (which astor's line wrapper sees)."""
    out.append("" if bare else "(")
    return bare


def _close(bare, out):
    if not bare:
        out.append(")")


def _number(value) -> str:
    """astor's spelling: infinities as 1e1000, NaN as (1e1000-1e1000), anything else its repr."""
    if isinstance(value, float):
        if math.isinf(value):
            return "-1e1000" if value < 0 else "1e1000"
        if math.isnan(value):
            return "(1e1000-1e1000)"
    return repr(value)


def _string(node, out) -> str:
    """A string's repr, where astor surely writes that too: a string of one line, after
    something else on its line (a docstring astor may triple-quote), with no u prefix."""
    value = node.value
    if "\n" in value or node.kind or not "".join(out).strip():
        raise Unsupported("string astor may triple-quote")
    return repr(value)


_STATEMENTS = {
    gast.Assign: Unparser._assign,
    gast.AugAssign: Unparser._aug_assign,
    gast.Expr: Unparser._expr,
    gast.Return: Unparser._return,
    gast.Pass: lambda self, stmt, out: out.append("pass"),
    gast.Break: lambda self, stmt, out: out.append("break"),
    gast.Continue: lambda self, stmt, out: out.append("continue"),
}

_EXPRESSIONS = {
    gast.Name: Unparser._name,
    gast.Attribute: Unparser._attribute,
    gast.Call: Unparser._call,
    gast.Starred: Unparser._starred,
    gast.Subscript: Unparser._subscript,
    gast.Slice: Unparser._slice,
    gast.Tuple: Unparser._tuple,
    gast.List: Unparser._list,
    gast.BinOp: Unparser._binop,
    gast.UnaryOp: Unparser._unaryop,
    gast.BoolOp: Unparser._boolop,
    gast.Compare: Unparser._compare,
    gast.IfExp: Unparser._ifexp,
    gast.Constant: Unparser._constant,
}
