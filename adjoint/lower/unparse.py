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

Most lines are short, where the tokens only add up to the text: a statement is first printed
as a string built directly (`text`, the same rules without the token list), and only a line
that comes out longer than 79 characters, or holds a string, is printed again as tokens.

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
_NAME, _BINOP, _CONSTANT_NODE = gast.Name, gast.BinOp, gast.Constant


class _Direct:
    """The statements and expressions as strings built directly: what "".join of their tokens
    gives, by the same rules (a dropped parenthesis is an empty token, nothing in the text).
    Methods of Unparser, collected in _STATEMENT_TEXT and _EXPRESSION_TEXT."""

    def text(self, node, context: int) -> str:
        kind = type(node)
        if kind is _NAME and node.annotation is None:
            self.names.add(node.id)
            return node.id
        # the commonest nodes printed here, not through a second call (one frame per node)
        if kind is _BINOP:
            return self.binop(node, context)
        if kind is _CONSTANT_NODE and type(node.value) is float and node.value >= 0:
            text = repr(node.value)
            text = _NOT_FINITE.get(text, text)
            return text if _CONSTANT >= context else "(" + text + ")"
        handler = _EXPRESSION_TEXT.get(kind)
        if handler is None:
            raise Unsupported(kind.__name__)
        return handler(self, node, context)

    def assign(self, stmt):
        value = self.text(stmt.value, _ASSIGN)
        targets = stmt.targets
        if len(targets) == 1:
            return self.text(targets[0], _ASSIGN) + " = " + value
        return "".join([self.text(t, _ASSIGN) + " = " for t in targets]) + value

    def aug_assign(self, stmt):
        return self.text(stmt.target, _AUG_ASSIGN) + _AUGMENTED[type(stmt.op)] + \
            self.text(stmt.value, _AUG_ASSIGN)

    def expr(self, stmt):
        return self.text(stmt.value, Precedence.Expr)

    def return_(self, stmt):
        if stmt.value is None:
            return "return"
        return "return " + self.text(stmt.value, Precedence.Return)

    def attribute(self, node, context):
        value = node.value
        if type(value) is gast.Name and value.id == "numba":
            self.numba_attribute = True
        return self.text(value, _HIGHEST) + "." + node.attr

    def call(self, node, context):
        args, keywords = node.args, node.keywords
        text = self.text
        arg_context = _COMMA if len(args) + len(keywords) > 1 else _ONE_ARG
        parts = [text(arg, arg_context) for arg in args]
        for keyword in keywords:
            value = text(keyword.value, _COMMA)
            parts.append(keyword.arg + "=" + value if keyword.arg else "**" + value)
        joined = text(node.func, _HIGHEST) + "(" + ", ".join(parts) + ")"
        if len(joined) > MAX_LINE:
            raise _Tokens()
        return joined

    def starred(self, node, context):
        return "*" + self.text(node.value, _HIGHEST)

    def subscript(self, node, context):
        return self.text(node.value, _HIGHEST) + "[" + self.text(node.slice, Precedence.Subscript) + "]"

    def slice(self, node, context):
        text = self.text(node.lower, _SLICE) if node.lower is not None else ""
        text += ":"
        if node.upper is not None:
            text += self.text(node.upper, _SLICE)
        step = node.step
        if step is not None:
            text += ":"
            if not (type(step) is gast.Name and step.id == "None"):
                text += self.text(step, _SLICE)
        return text

    def tuple(self, node, context):
        elements = node.elts
        text = ", ".join([self.text(e, _COMMA) for e in elements])
        if len(elements) == 1:
            text += ","
        return text if Precedence.Tuple >= context and elements else "(" + text + ")"

    def list(self, node, context):
        return "[" + ", ".join([self.text(e, _COMMA) for e in node.elts]) + "]"

    def binop(self, node, context):
        """As Unparser._binop: down the chain of left operands in a loop."""
        chain = []                               # (token, right operand, its context, bare)
        while type(node) is _BINOP:
            op = type(node.op)
            precedence, token = _BINARY[op]
            if op is gast.Pow:
                left_context, right_context = _POW_LEFT, _POW_RIGHT
            else:
                left_context, right_context = precedence, precedence + 1
            chain.append((token, node.right, right_context, precedence >= context))
            node, context = node.left, left_context
        if type(node) is _NAME and node.annotation is None:      # (text() written out: most are)
            self.names.add(node.id)
            text = node.id
        else:
            text = self.text(node, context)
        for token, right, right_context, bare in reversed(chain):
            if type(right) is _NAME and right.annotation is None:
                self.names.add(right.id)
                text = text + token + right.id
            else:
                text = text + token + self.text(right, right_context)
            if not bare:
                text = "(" + text + ")"
            if len(text) > MAX_LINE:             # (a long sum: no quadratic string building)
                raise _Tokens()
        return text

    def unaryop(self, node, context):
        precedence, symbol = _UNARY[type(node.op)]
        if symbol.isalpha():
            symbol += " "
        text = symbol + self.text(node.operand, precedence)
        return text if precedence >= context else "(" + text + ")"

    def boolop(self, node, context):
        precedence, token = _BINARY[type(node.op)]
        text = token.join([self.text(v, precedence + 1) for v in node.values])
        return text if precedence >= context else "(" + text + ")"

    def compare(self, node, context):
        precedence = _BINARY[type(node.ops[0])][0]
        parts = [self.text(node.left, precedence + 1)]
        for op, right in zip(node.ops, node.comparators):
            parts.append(_BINARY[type(op)][1])
            parts.append(self.text(right, precedence + 1))
        text = "".join(parts)
        return text if precedence >= context else "(" + text + ")"

    def ifexp(self, node, context):
        precedence = Precedence.IfExp
        text = self.text(node.body, precedence + 1) + " if " + self.text(node.test, precedence + 1) + \
            " else " + self.text(node.orelse, precedence)
        return text if precedence >= context else "(" + text + ")"

    def constant(self, node, context):
        value = node.value
        kind = type(value)
        if kind is float or kind is int:
            if value < 0:                      # -(0.5), as Unparser._constant prints it
                text = "-" + _number(-value)   # (a constant binds tighter than a minus)
                return text if _USUB[0] >= context else "(" + text + ")"
            text = _number(value)
        elif isinstance(value, (int, float)):  # bool, numpy scalars (a negative one too, as astor)
            text = _number(value)
        elif value is None:
            return "None"
        elif value is Ellipsis:
            return "..."
        else:
            raise _Tokens()                    # strings; what astor prints
        return text if _CONSTANT >= context else "(" + text + ")"


_ASSIGN, _AUG_ASSIGN, _COMMA, _ONE_ARG = Precedence.Assign, Precedence.AugAssign, Precedence.Comma, \
    Precedence.call_one_arg
_HIGHEST, _SLICE, _CONSTANT = Precedence.highest, Precedence.Slice, Precedence.Constant
_POW_LEFT, _POW_RIGHT = Precedence.Pow + 1, Precedence.PowRHS


class _Tokens(Exception):
    """The direct text gives up: the line is too long (astor may wrap it) or holds a string
    (whose quoting depends on what precedes it); print the statement as tokens."""


class Unparser(_Direct):
    """Prints statements and expressions; `uses_numba` is true once it has printed a name
    under `numba.` (emit then imports numba)."""

    def __init__(self):
        self.numba_attribute = False  # printed `numba.<attr>` (a dotted Name is found in `names`)
        self.names = set()           # every name printed (emit renumbers the temporaries among them)

    @property
    def uses_numba(self) -> bool:
        return self.numba_attribute or any(n.startswith("numba.") for n in self.names)

    def statement(self, stmt) -> str:
        """astor.to_source(gast_to_ast(stmt)) without its final line break."""
        kind = type(stmt)
        direct = _STATEMENT_TEXT.get(kind)
        if direct is not None:
            try:
                text = direct(self, stmt)
                if len(text) <= MAX_LINE:
                    return text
            except (_Tokens, Unsupported):     # (the tokens say which node is unsupported)
                pass
        handler = _STATEMENTS.get(kind)
        if handler is None:
            raise Unsupported(kind.__name__)
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
        self.names.add(node.id)
        out.append(node.id)

    def _attribute(self, node, context, out):
        value = node.value
        if type(value) is gast.Name and value.id == "numba":
            self.numba_attribute = True
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
    if type(value) is float:
        text = repr(value)
        return _NOT_FINITE.get(text, text)
    if isinstance(value, float):
        if math.isinf(value):
            return "-1e1000" if value < 0 else "1e1000"
        if math.isnan(value):
            return "(1e1000-1e1000)"
    return repr(value)


_NOT_FINITE = {"inf": "1e1000", "-inf": "-1e1000", "nan": "(1e1000-1e1000)"}


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

_STATEMENT_TEXT = {
    gast.Assign: _Direct.assign,
    gast.AugAssign: _Direct.aug_assign,
    gast.Expr: _Direct.expr,
    gast.Return: _Direct.return_,
    gast.Pass: lambda self, stmt: "pass",
    gast.Break: lambda self, stmt: "break",
    gast.Continue: lambda self, stmt: "continue",
}

_EXPRESSION_TEXT = {
    gast.Attribute: _Direct.attribute,
    gast.Call: _Direct.call,
    gast.Starred: _Direct.starred,
    gast.Subscript: _Direct.subscript,
    gast.Slice: _Direct.slice,
    gast.Tuple: _Direct.tuple,
    gast.List: _Direct.list,
    gast.BinOp: _Direct.binop,
    gast.UnaryOp: _Direct.unaryop,
    gast.BoolOp: _Direct.boolop,
    gast.Compare: _Direct.compare,
    gast.IfExp: _Direct.ifexp,
    gast.Constant: _Direct.constant,
}
