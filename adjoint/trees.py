"""Fast equivalents of gast's generic tree utilities, for the front stages (parse, normalize).

    parse(source)         gast.parse(source), the same tree, about twice as fast
    structure_key(node)   a hashable key, equal for two nodes exactly when gast.dump's are

gast's own converter and dump visit every node through generic, keyword-argument code; on a
function of 2,000 lines they cost more than the stage that calls them.
"""

from __future__ import annotations

import ast

import gast
from gast.ast3 import Ast3ToGAst


def parse(source: str) -> gast.Module:
    """gast.parse(source): ast.parse, then the ast tree converted to gast nodes."""
    return _Converter().visit(ast.parse(source))


class _Converter(Ast3ToGAst):
    """gast's converter with faster dispatch and generic conversion; the node types gast
    converts specially (Name, arg, FunctionDef, ...) keep gast's own methods."""

    def __init__(self):
        self._methods = {}                   # ast node type -> the bound method converting it

    def visit(self, node):
        kind = type(node)
        method = self._methods.get(kind)
        if method is None:
            method = self._methods[kind] = getattr(self, "visit_" + kind.__name__, self.generic_visit)
        return method(node)

    def _visit(self, node):
        if isinstance(node, ast.AST):
            return self.visit(node)
        if isinstance(node, list):
            return [self._visit(n) for n in node]
        return node

    def generic_visit(self, node):
        """As gast's: the gast node of the same name, with the fields the ast node has
        (converted) and then its position attributes, in the same order; built without
        gast's keyword-argument constructor."""
        kind = _GAST_TYPES.get(type(node))
        if kind is None:
            kind = _GAST_TYPES[type(node)] = getattr(gast, type(node).__name__, False)
        if kind is False:
            return None                      # not part of gast's AST (as gast does)
        new = kind.__new__(kind)
        attributes = new.__dict__
        for field in node._fields:
            value = getattr(node, field, _MISSING)
            if value is _MISSING:
                continue
            if isinstance(value, ast.AST):
                value = self.visit(value)
            elif isinstance(value, list):
                value = [self._visit(item) for item in value]
            attributes[field] = value
        for attribute in node._attributes:
            value = getattr(node, attribute, _MISSING)
            if value is not _MISSING:
                attributes[attribute] = value
        return new


_GAST_TYPES: dict = {}                       # ast node type -> gast node type (False: none)
_MISSING = object()


def structure_key(node):
    """A key for `node` such that structure_key(a) == structure_key(b) exactly when
    gast.dump(a) == gast.dump(b): the fields dump shows, with values compared by repr."""
    if isinstance(node, gast.AST):
        kind = type(node)
        fields = []
        for name in node._fields:
            try:
                value = getattr(node, name)
            except AttributeError:
                continue                                   # dump leaves out a missing field,
            if value is None and getattr(kind, name, 42) is None:
                continue                                   # a None the class defaults to,
            if type(value) is list and not value:
                continue                                   # and an empty list
            fields.append((name, structure_key(value)))
        return kind.__name__, tuple(fields)
    if isinstance(node, list):
        return "list", tuple(structure_key(item) for item in node)
    return repr(node)
