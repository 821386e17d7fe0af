"""gast -> Python source, the single place code becomes text.

    Assign(t_ab, BinOp(t_a, *, t_b))   ->   t_ab = t_a * t_b
    Expr(Constant(kind="comment"))      ->   # Analyzing the line: "..."

Statements are printed one at a time (each simple statement by unparse.py, token for token as
astor prints it, or by astor itself where unparse does not know a node), so that comments
land where the reverse sweep put them and every generated line maps back to the user line
it came from: `Emitted.origins[k]` is the (file, line) behind generated line k (1-based).
Text from the user's side (a file name in the docstring, a source line quoted in a comment)
is escaped where it lands: it can neither end its string or comment nor add a line.
"""

from __future__ import annotations

import copy
import dataclasses
import re

import astor
import gast

from ..ir import annotations, nodes
from . import unparse

INDENT = "    "


@dataclasses.dataclass
class Emitted:
    source: str
    origins: dict            # generated line -> (file, line, col) of the user statement
    numbered: frozenset = frozenset()   # the numbered names it printed, before renumbering


def emit(functions, *, header: str = "", comments: bool = True, filename: str = "",
         temporaries=frozenset(), keep=frozenset(), also=frozenset()) -> Emitted:
    """A standalone module: imports, then each FunctionDef in order. With `temporaries` (the
    compiler's t_1, t_2, ...), those the code still names are renumbered densely, their
    sensitivities, tangents, tapes and shapes with them (`renumber`); `keep`: the user's
    names, never renamed nor taken; `also`: numbered names another module of the same
    function printed (the host's, for the device module), so that both number alike."""
    printer = _Printer(comments, filename)
    emitted = _emit(printer, functions, header)
    if temporaries:
        # the printer noted every name it printed: where the temporaries left are already
        # t_1 ... t_n (and so are those of the module numbered alike), nothing is renamed
        present = {int(n[2:]) for n in printer.unparser.names if n in temporaries}
        present.update(int(n[2:]) for n in also if n in temporaries)
        if present == set(range(1, len(present) + 1)):
            emitted.numbered = frozenset(n for n in printer.unparser.names if n in temporaries)
        else:
            emitted.source, emitted.numbered = renumber(emitted.source, temporaries, keep, also)
    return emitted


def _emit(printer, functions, header) -> Emitted:
    for fn in functions:
        printer.lines += ["", ""]
        printer.function(fn)
    head = [docstring(header), ""] if header else []
    if _uses_math(functions):                    # imported only where the code calls it
        head += ["import math", ""]
    head += ["import numpy as np"]
    if printer.uses_numba:
        head += ["import numba"]                 # _numpy_ helpers' objmode, chunks' prange
    origins = {line + len(head): origin for line, origin in printer.origins.items()}
    return Emitted(source="\n".join(head + printer.lines) + "\n", origins=origins)


# a generated name numbered after a temporary: t_5, its sensitivity s_5 or tangent d_5, and
# what is named after it (t_5_shape, t_5_taken, tape_t_5)
_NUMBERED = re.compile(r"(?<![\w.])((?:tape_)?[tsd])_([1-9][0-9]*)((?:_[a-z]+)*)(?!\w)")
# comment lines and the module's docstring (a file may be named t_5.py): left as they are
_COMMENT_LINE = re.compile(r'((?:^|\n)[ ]*(?:#|""")[^\n]*)')


def renumber(source, temporaries, keep=frozenset(), also=frozenset()):
    """(`source` with the temporaries it names renumbered t_1, t_2, ... in their order, the
    numbered names made from them (`_NUMBERED`) renamed alike, and the numbered names found).

    The optimizer drops most temporaries, leaving t_3, t_17, t_18, ...: read after it, the
    adjoint numbers them densely, as a hand-written one would. Done on the printed text, the
    last step, since device lowering and type tables key on the names; stable (the same code
    gives the same names). A number whose new names another name already has (one of
    `keep`, the user's, or a numbered name not made from a temporary) is skipped."""
    pieces = _COMMENT_LINE.split(source)          # code, a comment line (kept by split), code, ...
    code = pieces[::2]
    found = set()                                  # (prefix, number, suffix), deduplicated in C
    for piece in code:
        found.update(_NUMBERED.findall(piece))
    numbered = frozenset(f"{prefix}_{number}{suffix}" for prefix, number, suffix in found)
    families: dict = {}                 # old number -> {(prefix, suffix)} of the names made from it
    for prefix, number, suffix in found | {_NUMBERED.fullmatch(n).groups() for n in also - numbered}:
        if f"t_{number}" in temporaries and f"{prefix}_{number}{suffix}" not in keep:
            families.setdefault(int(number), set()).add((prefix, suffix))
    occupied = {n for n in numbered | also if n not in keep} - {
        f"{prefix}_{number}{suffix}" for number, family in families.items() for prefix, suffix in family}
    occupied |= keep
    renames, k = {}, 1
    for number in sorted(families):
        family = sorted(families[number])
        while any(f"{prefix}_{k}{suffix}" in occupied for prefix, suffix in family):
            k += 1
        for prefix, suffix in family:
            new = f"{prefix}_{k}{suffix}"
            occupied.add(new)
            if k != number:
                renames[f"{prefix}_{number}{suffix}"] = new
        k += 1
    if not renames:
        return source, numbered

    def rename(match):
        name = match.group()
        return renames.get(name, name)
    pieces[::2] = [_NUMBERED.sub(rename, piece) for piece in code]
    return "".join(pieces), numbered


def _uses_math(functions) -> bool:
    """Whether any function names `math` (as `math.exp(...)` or a dotted name `math.exp`)."""
    return any(nodes.loads_any(fn, lambda name: name == "math" or name.startswith("math."))
               for fn in functions)


def emit_function(fn, comments=True) -> str:
    """One function's source (for `adjoint show --stage`)."""
    printer = _Printer(comments, "")
    printer.function(fn)
    return "\n".join(printer.lines) + "\n"


class _Printer:
    """Prints functions into `lines`; `origins` maps a line (1-based, counted within `lines`)
    to its user statement, and `uses_numba` says whether anything names `numba.`."""

    def __init__(self, comments, filename):
        self.lines = []
        self.origins = {}
        self.comments = comments
        self.filename = filename
        self.unparser = unparse.Unparser()
        self.unprinted_numba = False

    @property
    def uses_numba(self):
        return self.unparser.uses_numba or self.unprinted_numba

    def put(self, text, depth, node=None):
        self.lines.append(INDENT * depth + text)
        if node is not None and getattr(node, "lineno", None) is not None:
            origin_file = annotations.get(node, "source_file") or self.filename
            self.origins[len(self.lines)] = (origin_file, node.lineno, getattr(node, "col_offset", 0) or 0)

    def function(self, fn):
        self.unprinted(*(getattr(fn, field) for field in fn._fields if field != "body"))
        names = [a.id for a in fn.args.args]
        self.unparser.names.update(names)
        defaults = fn.args.defaults or []
        for k, default in enumerate(defaults, start=len(names) - len(defaults)):
            names[k] += "=" + self.expression(default)                  # grad_f(x, lam=0.1)
        self.put(f"def {fn.name}({', '.join(names)}):", 0, fn)
        self.block(fn.body, 1)

    def block(self, stmts, depth):
        printed = 0
        indent, lines, origins, filename = INDENT * depth, self.lines, self.origins, self.filename
        for stmt in stmts:
            kind = type(stmt)
            if kind is gast.Expr and nodes.is_comment(stmt):
                if self.comments:
                    self.put("# " + one_line(stmt.value.value), depth)
                continue
            printed += 1
            if kind in _COMPOUND:
                self.statement(stmt, depth)
                continue
            # a simple statement: put() written out, since nearly every line is one
            text = self.simple(stmt)
            lineno = stmt.__dict__.get("lineno")          # (no node class gives a default)
            origin = None if lineno is None else (annotations.get(stmt, "source_file") or filename, lineno,
                                                  stmt.__dict__.get("col_offset") or 0)
            for line in (text,) if text.isprintable() and text else text.splitlines():
                lines.append(indent + line)
                if origin is not None:
                    origins[len(lines)] = origin
        if not printed:
            self.put("pass", depth)

    def statement(self, stmt, depth):
        if isinstance(stmt, gast.If):
            self.branch(stmt, depth, "if")
        elif isinstance(stmt, gast.For):
            self.put(f"for {self.expression(stmt.target)} in {self.expression(stmt.iter)}:", depth, stmt)
            self.block(stmt.body, depth + 1)
            self.unprinted(stmt.orelse)
        elif isinstance(stmt, gast.While):
            self.put(f"while {self.expression(stmt.test)}:", depth, stmt)
            self.block(stmt.body, depth + 1)
            self.unprinted(stmt.orelse)
        else:
            for text in self.simple(stmt).splitlines():
                self.put(text, depth, stmt)

    def branch(self, stmt, depth, keyword):
        self.put(f"{keyword} {self.expression(stmt.test)}:", depth, stmt)
        self.block(stmt.body, depth + 1)
        orelse = [s for s in stmt.orelse if not isinstance(s, gast.Pass)]
        if len(orelse) == 1 and isinstance(orelse[0], gast.If):
            self.branch(orelse[0], depth, "elif")
        elif orelse:
            self.put("else:", depth)
            self.block(orelse, depth + 1)

    def simple(self, stmt) -> str:
        try:
            return self.unparser.statement(stmt)
        except unparse.Unsupported:
            self.unprinted(stmt)
            return _astor_source(stmt)

    def expression(self, node) -> str:
        """An expression without the outer parentheses astor adds."""
        try:
            return self.unparser.expression(node)
        except unparse.Unsupported:
            self.unprinted(node)
            text = _astor_source(nodes.assign("_", node))
            return text[len("_ = "):]

    def unprinted(self, *parts):
        """Note whether what the unparser did not see (what astor prints, fields emit drops such
        as a loop's else) names `numba.`: the module must then import it."""
        for part in parts:
            for node in part if isinstance(part, list) else [part]:
                if isinstance(node, gast.AST):
                    found = [n for n in nodes.walk(node) if type(n) is gast.Name]
                    self.unparser.names.update(n.id for n in found)
                    if not self.unprinted_numba:
                        self.unprinted_numba = any(nodes.dotted(n).startswith("numba.") for n in nodes.walk(node))


_COMPOUND = (gast.If, gast.For, gast.While)


def docstring(text: str) -> str:
    """A triple-quoted literal whose value is `text`, whatever it holds (a file may be named
    `a\"\"\"; import os; \"\"\".py`, or hold a backslash or a line break)."""
    escaped = one_line(text.replace("\\", "\\\\").replace('"', '\\"'))
    return f'"""{escaped}"""'


def one_line(text: str) -> str:
    """`text` with every character that is not printable (line breaks of any kind, which
    the compiler or str.splitlines would end a line at, controls, NUL) written as its escape."""
    if text.isprintable():                       # nearly every comment: no per-character pass
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def _astor_source(stmt) -> str:
    return astor.to_source(gast.gast_to_ast(_negatives_as_operators(stmt))).rstrip("\n")


def _negatives_as_operators(node):
    """Constant(-0.5) as -(0.5), so that astor parenthesizes (-0.5) ** 2 as Python needs."""
    if not any(isinstance(n, gast.Constant) and type(n.value) in (int, float) and n.value < 0
               for n in nodes.walk(node)):
        return node                      # most statements: no copy (half of emit's time)

    class Negate(gast.NodeTransformer):
        def visit_Constant(self, constant):
            value = constant.value
            if type(value) in (int, float) and value < 0:
                return nodes.neg(nodes.const(-value))
            return constant
    return Negate().visit(copy.deepcopy(node))
