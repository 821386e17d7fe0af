"""Fast equivalents of gast's generic tree utilities, for the front stages (parse, normalize).

    parse(source)         gast.parse(source), the same tree, about a third faster
    walk(node)            gast.walk(node) without contexts and operators (Load, Add, ...)
    Transformer           gast.NodeTransformer with the same results, faster dispatch and traversal
    replace_bottom_up     a NodeTransformer with one visit_<kind> method, without visiting the rest
    structure_key(node)   a hashable key, equal for two nodes exactly when gast.dump's are

gast's own converter and dump visit every node through generic, keyword-argument code; on a
function of 2,000 lines they cost more than the stage that calls them.
"""

from __future__ import annotations

import ast
import collections

import gast
from gast.ast3 import Ast3ToGAst

from . import nodes


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
            method = self._methods[kind] = self._method_for(kind)
        return method(node)

    def _method_for(self, kind):
        method = getattr(self, "visit_" + kind.__name__, None)
        if method is not None:
            return method
        target = getattr(gast, kind.__name__, False)
        if target and not kind._fields and not kind._attributes:
            return lambda node: target.__new__(target)        # Load, Add, ...: nothing to copy
        return self.generic_visit

    def visit_Name(self, node):
        """As gast's (the fields, then ast.copy_location's positions), built directly: a third
        of the nodes are names."""
        lineno, col_offset = node.lineno, node.col_offset
        if lineno is None or col_offset is None:
            return super().visit_Name(node)           # copy_location would leave them out
        new = gast.Name.__new__(gast.Name)
        new.__dict__ = {"id": node.id, "ctx": self.visit(node.ctx), "annotation": None,
                        "type_comment": None, "lineno": lineno, "col_offset": col_offset,
                        "end_lineno": node.end_lineno, "end_col_offset": node.end_col_offset}
        return new

    def visit_Constant(self, node):
        return self.generic_visit(node)      # as gast's (ast.NodeVisitor's, on Python >= 3.8)

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


class Transformer(gast.NodeTransformer):
    """gast.NodeTransformer, faster: the visit_ method of each node type is looked up once,
    and children without fields (contexts, operators) that no visit_ method handles are not
    visited (the generic visit would return them unchanged)."""

    def visit(self, node):
        method = self._dispatch_of(type(node))
        return method(self, node) if method is not None else self.generic_visit(node)

    @classmethod
    def _dispatch_of(cls, kind):
        table = cls.__dict__.get("_dispatch")
        if table is None:
            table = {}
            cls._dispatch = table
        if kind not in table:
            table[kind] = getattr(cls, "visit_" + kind.__name__, None)
        return table[kind]

    def _skipped(self, kind) -> bool:
        return not kind._fields and self._dispatch_of(kind) is None

    def generic_visit(self, node):
        """As ast.NodeTransformer.generic_visit (a None result removes the child, a list
        result is spliced into a list field)."""
        for field in node._fields:
            old = getattr(node, field, _MISSING)
            if isinstance(old, list):
                new_values = []
                for value in old:
                    if isinstance(value, ast.AST) and not self._skipped(type(value)):
                        value = self.visit(value)
                        if value is None:
                            continue
                        if not isinstance(value, ast.AST):
                            new_values.extend(value)
                            continue
                    new_values.append(value)
                old[:] = new_values
            elif isinstance(old, ast.AST) and not self._skipped(type(old)):
                new = self.visit(old)
                if new is None:
                    delattr(node, field)
                else:
                    setattr(node, field, new)
        return node


def walk(node):
    """The nodes gast.walk(node) yields, in the same (breadth-first) order, less expression
    contexts and operators: nodes without children, which most walks only pass over."""
    todo = collections.deque([node])
    pop, push = todo.popleft, todo.append
    while todo:
        node = pop()
        nodes.push_children(node, _child_fields(type(node)), push)
        yield node


def walk_branches(node):
    """The nodes walk(node) yields less constants and names without an annotation, in the same
    order (those hold no node, so leaving them out moves nothing else): for the walks that only
    look at larger nodes, half as many to pass over."""
    todo = collections.deque([node])
    pop, push = todo.popleft, todo.append
    constant, name, node_type = gast.Constant, gast.Name, ast.AST
    while todo:
        node = pop()
        for field in _child_fields(type(node)):
            value = getattr(node, field, None)
            for child in value if type(value) is list else (value,):
                kind = type(child)
                if kind is constant or (kind is name and child.annotation is None) \
                        or not isinstance(child, node_type):
                    continue
                push(child)
        yield node


def replace_bottom_up(root, kind, replace, fields=None):
    """Replace each node of type `kind` under `root` by replace(node) (a node), the ones inside
    it first: what a NodeTransformer whose only method, visit_<kind>, visits the node's
    children and then returns replace(node) does, without its call for every other node.
    `fields`: only those of root's fields (a loop's header, not its body)."""
    found = []                    # (parent, field, index in a list field or None, node), pre-order
    todo = [root]
    constant, name = gast.Constant, gast.Name
    while todo:
        node = todo.pop()
        if fields is None:
            node_fields = _child_fields(type(node))
        else:
            node_fields, fields = fields, None
        for field in node_fields:
            value = getattr(node, field, None)
            if isinstance(value, ast.AST):
                if type(value) is kind:
                    found.append((node, field, None, value))
                if type(value) is not constant and not (type(value) is name and value.annotation is None):
                    todo.append(value)      # (nothing is under a constant or a plain name)
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    if isinstance(item, ast.AST):
                        if type(item) is kind:
                            found.append((node, field, index, item))
                        if type(item) is not constant and not (type(item) is name and item.annotation is None):
                            todo.append(item)
    for parent, field, index, node in reversed(found):      # a node's descendants come after it
        if index is None:
            setattr(parent, field, replace(node))
        else:
            getattr(parent, field)[index] = replace(node)


def _child_fields(kind) -> tuple:
    """The fields of a node type that may hold nodes other than contexts and operators."""
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        fields = _CHILD_FIELDS[kind] = tuple(f for f in kind._fields if f not in ("ctx", "op", "ops"))
    return fields


_CHILD_FIELDS: dict = {}


def structure_key(node):
    """A key for `node` such that structure_key(a) == structure_key(b) exactly when
    gast.dump(a) == gast.dump(b): the fields dump shows, with values compared by repr."""
    kind = type(node)
    if kind is gast.Name or kind is gast.Constant:       # most nodes: built directly
        leaf = _leaf_key(node, kind)
        if leaf is not None:
            return leaf
    if isinstance(node, gast.AST):
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


def _leaf_key(node, kind):
    """structure_key of a name or a constant whose fields are all there and plain (a name's
    context one of gast's, its annotation and type comment None; a constant's value and kind
    neither a node nor a list), else None (the generic key is needed)."""
    known = node.__dict__
    if kind is gast.Name:
        ctx = known.get("ctx")
        if (type(known.get("id")) is str and type(ctx) in _CONTEXTS and "annotation" in known
                and known["annotation"] is None and "type_comment" in known and known["type_comment"] is None):
            return "Name", (("id", repr(known["id"])), ("ctx", (type(ctx).__name__, ())),
                            ("annotation", "None"), ("type_comment", "None"))
        return None
    if "value" in known and "kind" in known:
        value, constant_kind = known["value"], known["kind"]
        if not isinstance(value, (gast.AST, list)) and not isinstance(constant_kind, (gast.AST, list)):
            return "Constant", (("value", repr(value)), ("kind", repr(constant_kind)))
    return None


_CONTEXTS = frozenset((gast.Load, gast.Store, gast.Del, gast.Param))
