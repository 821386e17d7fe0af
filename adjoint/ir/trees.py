"""Fast equivalents of gast's generic tree utilities, for the front stages (parse, normalize).

    parse(source)         gast.parse(source), the same tree, about a third faster
    walk(node)            gast.walk(node) without contexts and operators (Load, Add, ...)
    Transformer           gast.NodeTransformer with the same results, faster dispatch and traversal
    replace_bottom_up     a NodeTransformer with one visit_<kind> method, without visiting the rest
    structure_key(node)   a hashable key, equal for two nodes exactly when gast.dump's are
    replaced(node, map)   node with some of its nodes replaced, copying only the way to them

gast's own converter and dump visit every node through generic, keyword-argument code; on a
function of 2,000 lines they cost more than the stage that calls them.
"""

from __future__ import annotations

import ast
import copy

import gast
from gast.ast3 import Ast3ToGAst

from . import nodes


def parse(source: str, stored: set | None = None) -> gast.Module:
    """gast.parse(source): ast.parse, then the ast tree converted to gast nodes. `stored`: a
    set that receives the identifiers of the names stored or deleted (what
    nodes.names_by_context(tree)[1] finds, without a walk for it)."""
    return _convert(ast.parse(source), stored)


def _convert(node, stored):
    """The gast node of the ast node `node` (a value that is no node, itself). Most node types
    have the same fields in both: the ast node's attributes (fields, then positions, in the
    order gast's converter sets them) are copied in one go and its children converted."""
    plan = _PLANS.get(type(node))
    if plan is None:
        plan = _plan_of(type(node))
    if type(plan) is not tuple:
        return plan(node, stored)            # a leaf, or a node type converted specially
    kind, children = plan
    new = _new(kind)
    attributes = new.__dict__ = node.__dict__.copy()
    for field in children:
        value = attributes[field]
        if type(value) is list:
            attributes[field] = [_convert(item, stored) for item in value]
        elif value is not None:
            attributes[field] = _convert(value, stored)
    return new


def _plan_of(kind):
    """How to convert an ast node type: (gast type, the fields that may hold nodes), or a
    function of the node and `stored` (a leaf: a fresh node of its gast type, as gast's
    converter makes; a type gast converts specially: its own method)."""
    if not issubclass(kind, ast.AST):
        plan = _unchanged                    # a value that is no node (MatchSingleton's True)
        _PLANS[kind] = plan
        return plan
    target = getattr(gast, kind.__name__, None)
    if target is None or kind in _SPECIAL or (target._fields, target._attributes) != (kind._fields,
                                                                                      kind._attributes):
        method = getattr(_Converter, "visit_" + kind.__name__, None) or _Converter.generic_visit
        plan = lambda node, stored: method(_Converter(stored), node)      # noqa: E731
    elif not kind._fields and not kind._attributes:
        plan = lambda node, stored: _new(target)       # noqa: E731 (Load, Add, ...: nothing to copy)
    else:
        plan = target, tuple(f for f in kind._fields if f not in _NO_NODES)
    _PLANS[kind] = plan
    return plan


def _convert_name(node, stored):
    """As gast's visit_Name, built directly: a third of the nodes are names."""
    known = node.__dict__
    if known.get("lineno") is None or known.get("col_offset") is None:
        new = _Converter(stored).visit_Name(node)      # (copy_location would leave them out)
    else:
        new = _new(gast.Name)
        new.__dict__ = {"id": known["id"], "ctx": _convert(known["ctx"], stored), "annotation": None,
                        "type_comment": None, "lineno": known["lineno"], "col_offset": known["col_offset"],
                        "end_lineno": known.get("end_lineno"), "end_col_offset": known.get("end_col_offset")}
    if stored is not None and type(new.ctx) in _WRITES:
        stored.add(new.id)
    return new


def _convert_handler(node, stored):
    """As gast's visit_ExceptHandler, which makes a stored Name of `except E as e`'s e."""
    if stored is not None and node.name:
        stored.add(node.name)
    return _Converter(stored).visit_ExceptHandler(node)


def _unchanged(value, stored):
    return value


_new = gast.AST.__new__
_WRITES = (gast.Store, gast.Del)
# fields holding a string or a number, never a node (a constant's value is one too)
_NO_NODES = frozenset(("id", "attr", "arg", "name", "kind", "type_comment", "module", "level",
                       "conversion", "is_async", "tag"))
_SPECIAL = frozenset((ast.Name, ast.arg, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                      ast.ExceptHandler))
# values that are no node (the strings of Global, a None in kw_defaults), and the types
# converted here specially: a name; a constant, whose value is never a node
_PLANS: dict = {str: _unchanged, type(None): _unchanged, int: _unchanged, ast.Name: _convert_name,
                ast.ExceptHandler: _convert_handler, ast.Constant: (gast.Constant, ())}


class _Converter(Ast3ToGAst):
    """gast's converter, for the node types it converts specially (FunctionDef, arg, ...) and
    those whose fields differ in gast; the nodes under them go back to _convert."""

    def __init__(self, stored=None):
        self.stored = stored

    def visit(self, node):
        return _convert(node, self.stored)

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
    and children that hold no node (contexts, operators, constants) and that no visit_ method
    handles are not visited (the generic visit would return them unchanged). Contexts and
    operators are never visited: a subclass has no visit_Load or visit_Add."""

    _plans: dict = {}            # node type -> its visit_ function, None (generic) or _LEAF

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        cls._plans = {}
        leaves = (gast.expr_context, gast.operator, gast.unaryop, gast.cmpop, gast.boolop)
        for name in dir(cls):
            kind = getattr(gast, name[len("visit_"):], None) if name.startswith("visit_") else None
            if isinstance(kind, type) and issubclass(kind, leaves):
                raise TypeError(f"{cls.__name__}.{name}: trees.Transformer does not visit contexts "
                                "and operators")

    def visit(self, node):
        method = self._plans.get(type(node), _UNKNOWN)
        if method is _UNKNOWN:
            method = self._plan_of(type(node))
        if method is None or method is _LEAF:
            return self.generic_visit(node)
        return method(self, node)

    @classmethod
    def _plan_of(cls, kind):
        method = getattr(cls, "visit_" + kind.__name__, None)
        if method is ast.NodeVisitor.visit_Constant:
            method = None            # (ast's, for the visit_Num of old visitors: none here)
        if method is None and not nodes.child_fields(kind):
            method = _LEAF
        cls._plans[kind] = method
        return method

    def generic_visit(self, node):
        """As ast.NodeTransformer.generic_visit (a None result removes the child, a list
        result is spliced into a list field); a list field is rewritten (in place) only
        where a child changed."""
        plans, known = self._plans, node.__dict__
        for field in nodes.child_fields(type(node)):
            old = known.get(field)
            if type(old) is list:
                new_values = None
                for index, value in enumerate(old):
                    if not isinstance(value, ast.AST):
                        new = value
                    else:
                        method = plans.get(type(value), _UNKNOWN)
                        if method is _UNKNOWN:
                            method = self._plan_of(type(value))
                        if method is _LEAF:
                            new = value
                        elif method is None:
                            new = self.generic_visit(value)
                        else:
                            new = method(self, value)
                    if new is value and new_values is None:
                        continue
                    if new_values is None:
                        new_values = old[:index]
                    if new is None:
                        continue
                    if not isinstance(new, ast.AST):
                        new_values.extend(new)
                    else:
                        new_values.append(new)
                if new_values is not None:
                    old[:] = new_values
            elif isinstance(old, ast.AST):
                method = plans.get(type(old), _UNKNOWN)
                if method is _UNKNOWN:
                    method = self._plan_of(type(old))
                if method is _LEAF:
                    continue
                new = self.generic_visit(old) if method is None else method(self, old)
                if new is None:
                    delattr(node, field)
                elif new is not old:
                    setattr(node, field, new)
        return node


_UNKNOWN, _LEAF = object(), object()


def walk(node):
    """The nodes gast.walk(node) yields, in the same (breadth-first) order, less expression
    contexts and operators: nodes without children, which most walks only pass over."""
    todo = [node]                 # a queue read in place as it grows (breadth-first), no pops
    push, node_type, fields_of = todo.append, ast.AST, nodes.child_fields
    for node in todo:
        for field in fields_of(type(node)):      # (the fields that may hold nodes)
            value = getattr(node, field, None)
            if type(value) is list:
                for child in value:
                    if isinstance(child, node_type):
                        push(child)
            elif isinstance(value, node_type):
                push(value)
        yield node


def walk_branches(node):
    """The nodes walk(node) yields less constants and names without an annotation, in the same
    order (those hold no node, so leaving them out moves nothing else): for the walks that only
    look at larger nodes, half as many to pass over."""
    todo = [node]
    push, fields_of = todo.append, nodes.child_fields
    constant, name, node_type = gast.Constant, gast.Name, ast.AST
    for node in todo:
        for field in fields_of(type(node)):
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


def replaced(node, mapping):
    """`node` with each node whose id is in `mapping` replaced by its value, the nodes on the
    way to one copied (copy on write: `node` and what it shares stay as they are)."""
    if id(node) in mapping:
        return mapping[id(node)]
    new = None
    for field in _child_fields(type(node)):
        value = getattr(node, field, None)
        if isinstance(value, list):
            items = [replaced(v, mapping) if isinstance(v, ast.AST) else v for v in value]
            if any(a is not b for a, b in zip(items, value)):
                new = new or copy.copy(node)
                setattr(new, field, items)
        elif isinstance(value, ast.AST):
            item = replaced(value, mapping)
            if item is not value:
                new = new or copy.copy(node)
                setattr(new, field, item)
    return new or node


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
    elif kind is gast.BinOp:                             # (the commonest right side) the same,
        known = node.__dict__                            # written out
        op = known.get("op")
        if "left" in known and "right" in known and type(op) in _OPERATORS:
            return "BinOp", (("left", structure_key(known["left"])), ("op", (type(op).__name__, ())),
                             ("right", structure_key(known["right"])))
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
_OPERATORS = frozenset(kind for kind in vars(gast).values() if isinstance(kind, type)
                       and issubclass(kind, gast.operator) and not kind._fields)
